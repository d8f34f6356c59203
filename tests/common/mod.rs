//! Helpers shared by the integration tests: running the built binaries with a readable failure
//! report, deadlines for tests that could hang, the ALSA `file` test device, FIFOs, and waiting
//! on conditions (never on bare sleeps).
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Root of the repository (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `ALSA_CONFIG_PATH` value that defines the `vinylfile:INFILE` capture device.
pub fn alsa_config_path() -> String {
    format!("/usr/share/alsa/alsa.conf:{}", repo_root().join("tests/alsa/test.conf").display())
}

/// The ALSA device name that captures `file` byte for byte.
pub fn file_device(file: &Path) -> String {
    format!("vinylfile:{}", file.display())
}

/// A command line as a shell would show it, for failure reports.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion (stdin closed unless set), within `deadline`.
pub fn run(cmd: &mut Command, deadline: Duration) -> Output {
    let what = describe(cmd);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
    wait_output(child, deadline, &what)
}

/// `data` as a file in `dir`, opened to be a child's stdin.
pub fn stdin_file(dir: &Path, data: &[u8]) -> std::fs::File {
    let p = dir.join("input.raw");
    std::fs::write(&p, data).unwrap();
    std::fs::File::open(&p).unwrap()
}

/// [`run`] that must succeed: panics with the command line, status and stderr otherwise.
pub fn run_ok(cmd: &mut Command, deadline: Duration) -> Output {
    let out = run(cmd, deadline);
    assert_success(&describe(cmd), &out);
    out
}

/// Waits for `child` to finish within `deadline` and collects its output; kills it and panics
/// with the command line and whatever it printed when the deadline passes.
pub fn wait_output(mut child: Child, deadline: Duration, what: &str) -> Output {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut v);
        }
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut v);
        }
        v
    });
    let Some(status) = wait_deadline(&mut child, deadline) else {
        let stderr = t_err.join().unwrap_or_default();
        panic!("{what}: still running after {deadline:?}\nstderr:\n{}", String::from_utf8_lossy(&stderr));
    };
    Output { status, stdout: t_out.join().unwrap_or_default(), stderr: t_err.join().unwrap_or_default() }
}

/// Waits for `child` to exit within `deadline`; after it, kills the child and returns `None` so
/// the caller can panic with what the child printed.
pub fn wait_deadline(child: &mut Child, deadline: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What the command wrote to stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Panics with the command, status and stderr unless `out` is a success.
pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}\nstatus: {}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Panics with the command, status and stderr unless `out` exited with `code`.
pub fn assert_status(what: &str, out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\nexpected exit {code}, got {}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until `cond` is true, checking every 10 ms, or panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A systemd notify socket for a tool under test (its `NOTIFY_SOCKET` is [`Notify::path`]): a
/// thread reads every message as it comes, as systemd does (the kernel queues only a few
/// datagrams, and a tool's send to a full socket would stall it).
pub struct Notify {
    /// The socket.
    pub path: PathBuf,
    got: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Notify {
    /// A new socket in a folder of its own, read until the `Notify` is dropped.
    pub fn bind() -> Notify {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let weak = Arc::downgrade(&got);
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Some(got) = weak.upgrade() {
                if let Ok(n) = sock.recv(&mut buf) {
                    got.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        });
        Notify { path, got, _dir: dir }
    }

    /// Waits up to `timeout` until the messages so far, in order, satisfy `cond`, and returns
    /// them; panics with them after it.
    pub fn wait_for(&self, what: &str, timeout: Duration, cond: impl Fn(&[String]) -> bool) -> Vec<String> {
        let start = Instant::now();
        loop {
            let got = self.got.lock().unwrap().clone();
            if cond(&got) {
                return got;
            }
            assert!(start.elapsed() < timeout, "no {what} within {timeout:?}; got {got:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Runs `f` in a thread and panics if it has not finished within `deadline` (for tests that could
/// hang on a pipe).
pub fn with_deadline<T: Send + 'static>(deadline: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(deadline) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test did not finish within {deadline:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("test thread panicked"),
    }
}

/// A small file system that really fills (a tmpfs), unmounted when dropped.
pub struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`3m`, `1200k`) on a new folder; `None`, with a visible line,
    /// where this process may not mount (it needs root; scripts/test runs as root).
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let opt = format!("size={size}");
        let m = Command::new("mount").args(["-t", "tmpfs", "-o", &opt, "tmpfs"]).arg(dir.path()).output();
        if !m.is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs(dir))
    }

    /// Its folder.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// Creates a FIFO at `path` with mode 0600.
pub fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .unwrap_or_else(|e| panic!("{}: mkfifo: {e}", path.display()));
}

/// Sends `sig` to `child`.
pub fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).expect("kill");
}

/// True when `program` is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
/// The tier of a test that needs `programs` (icecast2, liquidsoap, chromium): true when they are
/// all installed. A missing one skips the test with one visible line, unless `VINYL_TEST_ALL=1`
/// (which `scripts/test` sets, after installing them all), where it fails the test.
pub fn tier(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !have(p)).collect();
    missing.is_empty() || skip(&missing.join(", "))
}

/// The tier of a test that needs files of a Debian package (the music of frozen-bubble-data):
/// like [`tier`], for files.
pub fn tier_files(files: &[&Path]) -> bool {
    let missing: Vec<String> =
        files.iter().filter(|f| !f.exists()).map(|f| f.display().to_string()).collect();
    missing.is_empty() || skip(&missing.join(", "))
}

/// Skips the test for want of `missing` with one line (false), or fails it under `VINYL_TEST_ALL=1`.
fn skip(missing: &str) -> bool {
    let test = std::thread::current().name().unwrap_or("this test").to_string();
    let why = format!("{missing} not installed (scripts/test installs everything)");
    assert!(std::env::var_os("VINYL_TEST_ALL").is_none_or(|v| v != "1"), "{test}: {why}");
    // Straight to stderr: the test harness hides what eprintln! says in a test that passes.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("SKIPPED {test}: {why}\n").as_bytes());
    false
}

pub mod audio;
pub mod cdp;
pub mod http;
pub mod icecast;
pub mod liquidsoap;
pub mod mosquitto;
pub mod proc;
pub mod score;
pub mod up;
pub mod web;

/// The deadline of one step of a long-running tool in a test: generous, for a busy 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// What the reference decoder makes of `flac`: `flac -d` to raw little-endian signed PCM.
pub fn flac_raw(flac: &Path) -> Vec<u8> {
    let mut cmd = Command::new("flac");
    cmd.args(["-d", "-s", "-c", "--force-raw-format", "--endian=little", "--sign=signed"]).arg(flac);
    let out = run_ok(&mut cmd, 2 * DEADLINE);
    out.stdout
}

/// Decodes MP3 bytes with mpg123 (by way of `dir/NAME.mp3` and `.wav`): (rate, channels, frames).
pub fn decode_mp3(mp3: &[u8], dir: &Path, name: &str) -> (u32, u16, u64) {
    let src = dir.join(format!("{name}.mp3"));
    std::fs::write(&src, mp3).unwrap();
    decode_mp3_file(&src, &dir.join(format!("{name}.wav")))
}

/// Decodes the MP3 file `src` with mpg123 to the WAV file `wav`: (rate, channels, frames).
pub fn decode_mp3_file(src: &Path, wav: &Path) -> (u32, u16, u64) {
    let mut cmd = Command::new("mpg123");
    cmd.arg("-q").arg("-w").arg(wav).arg(src);
    let what = describe(&cmd);
    assert_success(&what, &run(&mut cmd, DEADLINE));
    let r = hound::WavReader::open(wav).unwrap_or_else(|e| panic!("{what}: {}: {e}", wav.display()));
    (r.spec().sample_rate, r.spec().channels, r.duration() as u64)
}

/// `flac -t`, then `flac -d` to raw: the frame numbers (see `vinyl::pcm::unique_frames`) that the
/// FLAC file of 4-byte frames holds.
pub fn decoded_frames(flac: &Path) -> Vec<u64> {
    let out = run(Command::new("flac").args(["-t", "-s"]).arg(flac), DEADLINE);
    assert_success(&format!("flac -t {}", flac.display()), &out);
    let bytes = flac_raw(flac);
    assert_eq!(bytes.len() % 4, 0, "flac -d {}: not whole frames", flac.display());
    bytes.chunks_exact(4).map(vinyl::pcm::unique_frame_number).collect()
}

/// Checks that the decoded frames of a recording starting at timeline frame `first` are one
/// timeline: each frame carries its own number, or is silence inside a gap that `VINYL_GAPS`
/// lists. Returns the gaps (offset, frames, cause).
pub fn assert_one_timeline(flac: &Path, first: u64) -> Vec<(u64, u64, String)> {
    assert_timeline_across_restarts(flac, first, &[]).0
}

/// [`assert_one_timeline`] for a capture whose input started again from its frame 0 at each
/// timeline frame of `restarts` (a restarted `vinyl-capture` reads its test file from the start,
/// after the journaled downtime): a frame at timeline `t` carries `t - r` for the last restart
/// `r <= t` (`t` before any), or is silence inside a listed gap. Returns the gaps (offset in the
/// file, frames, cause) and the number of frames the file holds.
pub fn assert_timeline_across_restarts(
    flac: &Path,
    first: u64,
    restarts: &[u64],
) -> (Vec<(u64, u64, String)>, u64) {
    let frames = decoded_frames(flac);
    let tag = flac_tag(flac, "VINYL_GAPS");
    let gaps: Vec<(u64, u64, String)> = vinyl::ring::gaps::parse_tag(&tag)
        .unwrap_or_else(|e| panic!("{}: VINYL_GAPS={tag}: {e}", flac.display()))
        .into_iter()
        .map(|g| (g.offset, g.frames, g.cause.name().to_string()))
        .collect();
    let in_gap = |i: u64| gaps.iter().any(|(o, n, _)| (*o..o + n).contains(&i));
    for (i, &n) in frames.iter().enumerate() {
        let i = i as u64;
        let t = first + i;
        if in_gap(i) {
            assert_eq!(
                n,
                0,
                "{}: frame {i} (timeline {t}) lies in a listed gap but is not silence",
                flac.display()
            );
            continue;
        }
        let base = restarts.iter().copied().filter(|&r| r <= t).max().unwrap_or(0);
        assert_eq!(
            n,
            (t - base) & 0xffff_ffff,
            "{}: frame {i} (timeline {t}, input frame {} since the input began at timeline {base}) is an \
             unmarked discontinuity; VINYL_GAPS={tag}",
            flac.display(),
            t - base
        );
    }
    (gaps, frames.len() as u64)
}

/// What `metaflac args flac` prints (it must succeed).
pub fn metaflac(flac: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("metaflac");
    cmd.args(args).arg(flac);
    let out = run_ok(&mut cmd, Duration::from_secs(60));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Vorbis comment of `flac` (the value of its first `NAME=` line), by `metaflac --show-tag`.
pub fn flac_tag(flac: &Path, name: &str) -> String {
    metaflac(flac, &[&format!("--show-tag={name}")])
        .lines()
        .next()
        .and_then(|l| l.split_once('='))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// A Vorbis comment of `flac` that must be a number.
pub fn tag_number(flac: &Path, name: &str) -> u64 {
    let v = flac_tag(flac, name);
    v.parse().unwrap_or_else(|_| panic!("{}: {name}={v} is not a number", flac.display()))
}

/// Integrated loudness of `file` by ffmpeg's ebur128 filter (an independent BS.1770 meter), LUFS.
pub fn ffmpeg_lufs(file: &Path) -> f64 {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostats", "-i"]).arg(file).args(["-af", "ebur128", "-f", "null", "-"]);
    let out = run_ok(&mut cmd, DEADLINE);
    let err = String::from_utf8_lossy(&out.stderr);
    let summary = err.rsplit("Integrated loudness:").next().unwrap_or_default();
    let i = summary.lines().find_map(|l| l.trim().strip_prefix("I:")).unwrap_or_else(|| panic!("{err}"));
    i.trim().trim_end_matches("LUFS").trim().parse().unwrap()
}

/// The folder of the built binaries (for a script that finds them on PATH).
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_vinyl-preroll")).parent().unwrap().to_path_buf()
}

/// Runs the built `vinyl-rec ARGS` on `ring` with its run folder and recordings folder, the built
/// tools first on PATH, and no `VINYL_*` setting of the caller's environment or of a config file.
pub fn vinyl_rec(args: &[&str], run_dir: &Path, recordings: &Path, ring: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vinyl-rec"));
    cmd.args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
        cmd.env_remove(k);
    }
    cmd.env("PATH", format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default()))
        .env("VINYL_CONFIG", "/dev/null")
        .env("VINYL_RUN_DIR", run_dir)
        .env("VINYL_RECORDINGS", recordings)
        .env("VINYL_RING", ring)
        .stdin(Stdio::null());
    run(&mut cmd, Duration::from_secs(60))
}

/// [`vinyl_rec`] that must succeed; returns its stdout.
pub fn vinyl_rec_ok(args: &[&str], run_dir: &Path, recordings: &Path, ring: &Path) -> String {
    let out = vinyl_rec(args, run_dir, recordings, ring);
    assert_success(&format!("vinyl-rec {}", args.join(" ")), &out);
    String::from_utf8(out.stdout).unwrap()
}

/// The binary of example `name`, built first (plain `cargo test` builds examples; `cargo test
/// --test X` does not); one build at a time.
pub fn example(name: &str) -> PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--example", name]).current_dir(repo_root());
    let out = run(&mut cmd, Duration::from_secs(900));
    assert_success(&format!("cargo build --example {name}"), &out);
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(repo_root().join("target"), PathBuf::from);
    repo_root().join(target).join("debug/examples").join(name)
}

/// The synthesiser's music: frozen-bubble-data's introzik.
pub const SYNTH_MUSIC: &str = "/usr/share/games/frozen-bubble/snd/introzik.ogg";

/// The music a synthetic side is cut from: ffmpeg's input (and filter) flags.
pub type Music<'a> = &'a [&'a str];

/// The corpus's introzik, as it is.
pub const INTROZIK: Music = &["-i", SYNTH_MUSIC];

/// Introzik low-passed at 700 Hz: dull music, whose treble at a low gain stays under the
/// converter's noise.
pub const DULL: Music =
    &["-i", SYNTH_MUSIC, "-af", "lowpass=f=700,lowpass=f=700,lowpass=f=700,lowpass=f=700"];

/// Music for the synthesiser, decoded from `music` into `dir` (once per name).
fn synth_music(dir: &Path, music: Music) -> PathBuf {
    let raw = dir.join(format!(
        "music-{:x}.raw",
        music.join(" ").bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
    ));
    if raw.exists() {
        return raw;
    }
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]).args(music);
    cmd.args(["-ar", "48000", "-ac", "2", "-f", "s16le", "-acodec", "pcm_s16le"]).arg(&raw);
    assert_success("ffmpeg (the music)", &run(&mut cmd, DEADLINE));
    raw
}

/// A synthetic side by examples/synth-side (`args`, with the corpus's introzik as its music
/// unless `--idle`): its PCM and its truth. `None` when the music or ffmpeg is missing: the
/// test skips ([`tier`], [`tier_files`]; under `VINYL_TEST_ALL=1` it fails), so a caller
/// returns at once.
pub fn synth_side(dir: &Path, name: &str, args: &[&str]) -> Option<(Vec<u8>, serde_json::Value)> {
    synth_side_of(dir, name, INTROZIK, args)
}

/// [`synth_side`] with its music decoded by ffmpeg from `music` (introzik filtered, or a
/// generated source).
pub fn synth_side_of(
    dir: &Path,
    name: &str,
    music: Music,
    args: &[&str],
) -> Option<(Vec<u8>, serde_json::Value)> {
    let with_music = !args.contains(&"--idle");
    // Before the synthesiser is built: a skipped test costs nothing.
    if with_music && !(tier(&["ffmpeg"]) && tier_files(&[Path::new(SYNTH_MUSIC)])) {
        return None;
    }
    let truth = dir.join(format!("{name}.json"));
    let mut cmd = Command::new(example("synth-side"));
    if with_music {
        cmd.arg("--music").arg(synth_music(dir, music));
    }
    cmd.arg("--truth").arg(&truth).args(args);
    let out = run(&mut cmd, Duration::from_secs(240));
    assert_success(&format!("synth-side {name}"), &out);
    Some((out.stdout, serde_json::from_slice(&std::fs::read(truth).unwrap()).unwrap()))
}

/// The flags of the short synthetic side the listener's and auto's real-time tests play: two
/// 10 s tracks with a 2 s gap, no quiet passage, a 45 rpm run-out (its length and the idle around
/// it are the caller's).
pub const SHORT_SIDE: [&str; 10] =
    ["--tracks", "2", "--track-len", "10", "--gap", "2", "--no-quiet", "--rpm", "45", "--runout"];

/// A quiet pressing at a low gain (hiss −80 dBFS, −20 dB; examples/synth-side's flags, without
/// the music): 2 tracks of 10 s with a 2 s gap that the listener reads as a lift, its groove under
/// the converter's own noise (about 52 s).
pub const QUIET_SIDE: &str = concat!(
    "--seed 1 --tracks 2 --track-len 10 --gap 2 --no-quiet --rpm 45 --runout 12 --idle-before 4 ",
    "--idle-after 6 --gain-db -20 --noise-dbfs -80"
);

/// The listening history in the collection `db` (`vinyl-library plays --json`), oldest first.
pub fn plays(db: &Path) -> Vec<serde_json::Value> {
    let mut plays = Command::new(bin_dir().join("vinyl-library"));
    plays.arg("--db").arg(db).args(["plays", "--json"]);
    let out = run(&mut plays, DEADLINE);
    assert_success("vinyl-library plays --json", &out);
    out.stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}
