//! The whole topology, end to end, against the real parts: `vinyl-capture --realtime` on the ALSA
//! `file` device playing a signal in which every frame carries its own number, `vinyl-tee` fanning
//! it out to `vinyl-mp3-icecast` (streaming to a private icecast2, heard by a real listener and
//! decoded by `mpg123`) and to `vinyl-preroll fill` (the shared-memory ring), and recordings made
//! by `vinyl-rec` (`vinyl-preroll tap | vinyl-flac-rec`), decoded by the real `flac` and
//! checked frame by frame. Faults are real too: SIGKILL of the encoder, of the recorder. Last,
//! `scripts/demo` runs unattended and must leave no process behind.
//!
//! The topology is built by hand, readers before writers: the ring's writer and the encoder
//! first, then the tee (once it has both readers attached), then the capture. The ring's frame
//! numbers are then the capture's frame numbers, which every decoded frame can be checked
//! against. Every wait is on a condition (the ring's head, a log line, the mount's status) under
//! a deadline; every process is killed when a test ends, even on a panic, and the logs of all of
//! them are printed when it fails.

mod common;

use common::icecast::Icecast;
use common::proc::Proc;
use common::tag_number;
use common::up::gone;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use vinyl::pcm::{PcmSpec, unique_frame_number, unique_frames};

const RATE: u64 = 48_000;
/// Bound on every single wait and command.
const T: Duration = Duration::from_secs(60);
/// Seconds of input the capture plays (at real-time pace): room for a recording that starts at
/// 6 s and a stop a few seconds later, on a loaded machine too.
const SECONDS: u64 = 20;
const MOUNT: &str = "/e2e.mp3";
/// Bitrate of the stream in kbit/s, and the bytes of one second of it.
const KBPS: u64 = 128;
const MP3_BYTES_PER_SECOND: usize = (KBPS * 1000 / 8) as usize;
/// What icecast2 sends a new listener at once from its buffer (the harness's default), before
/// the live stream.
const BURST: usize = 65_536;

fn bin(name: &str) -> PathBuf {
    common::bin_dir().join(name)
}

/// The topology of one test: a private icecast2, the ring, the FIFOs, the processes, a run
/// folder and a recordings folder for `vinyl-rec`. Dropping it kills everything (the recorder's
/// whole session too), removes the ring, and prints every log when the test is failing.
struct Topology {
    dir: tempfile::TempDir,
    ring: PathBuf,
    stream_fifo: PathBuf,
    ring_fifo: PathBuf,
    procs: Vec<(&'static str, Proc)>,
    ice: Icecast,
}

impl Topology {
    /// Builds the topology by hand, readers before writers, on `SECONDS` of numbered frames.
    fn start(test: &str) -> Topology {
        for tool in ["flac", "metaflac", "mpg123", "icecast2"] {
            assert!(common::have(tool), "{tool} is not installed (scripts/test installs it)");
        }
        let dir = tempfile::Builder::new().prefix("vinyl-e2e-").tempdir().unwrap();
        let ring = PathBuf::from(format!("/dev/shm/vinyl-e2e-{}-{test}", std::process::id()));
        let _ = std::fs::remove_file(&ring);
        let input = dir.path().join("input.raw");
        std::fs::write(&input, unique_frames(&PcmSpec::default(), 0, SECONDS * RATE)).unwrap();
        std::fs::create_dir(dir.path().join("rec")).unwrap();
        let stream_fifo = dir.path().join("stream.fifo");
        let ring_fifo = dir.path().join("ring.fifo");
        common::mkfifo(&stream_fifo);
        common::mkfifo(&ring_fifo);
        let ice = Icecast::start();
        let mut topo = Topology { dir, ring, stream_fifo, ring_fifo, procs: Vec::new(), ice };

        // 1. The ring's writer, reading ring.fifo.
        let mut fill = Command::new(bin("vinyl-preroll"));
        fill.args(["fill", "--capacity", "30s", "--ring"])
            .arg(&topo.ring)
            .arg("--input")
            .arg(&topo.ring_fifo);
        topo.spawn("preroll-fill", fill, Stdio::null(), Stdio::null());
        common::wait_until("the ring has its writer", T, || topo.info()["writer_alive"] == true);

        // 2. The encoder, reading stream.fifo opened read-write (as vinyl-up does): it never
        //    sees an end of input, and opening it does not wait for a writer. Its descriptor is
        //    the FIFO's only reader: the test keeps none.
        let stream_in = File::options().read(true).write(true).open(&topo.stream_fifo).unwrap();
        let mut enc = Command::new(bin("vinyl-mp3-icecast"));
        enc.arg("--url")
            .arg(topo.ice.url(MOUNT))
            .arg("--password-file")
            .arg(topo.ice.password_file())
            .args(["--bitrate", &KBPS.to_string(), "--name", "vinyl e2e"]);
        topo.spawn("mp3-icecast", enc, Stdio::from(stream_in), Stdio::null());

        // 3. The tee, reading a pipe whose write end goes to the capture once both its readers
        //    are attached.
        // Close-on-exec, so no process spawned meanwhile by another test holds the write end.
        let (pipe_r, pipe_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
        let mut tee = Command::new(bin("vinyl-tee"));
        tee.arg(&topo.stream_fifo).arg(&topo.ring_fifo);
        topo.spawn("tee", tee, Stdio::from(pipe_r), Stdio::null());
        let (stream_name, ring_name) =
            (topo.stream_fifo.display().to_string(), topo.ring_fifo.display().to_string());
        common::wait_until("the tee has both readers attached", T, || {
            let log = topo.proc("tee").stderr();
            log.contains(&format!("{stream_name}: reader attached"))
                && log.contains(&format!("{ring_name}: reader attached"))
        });

        // 4. The capture, at real-time pace.
        let mut cap = Command::new(bin("vinyl-capture"));
        cap.arg("--device")
            .arg(common::file_device(&input))
            // A 2 s buffer: a stall of a busy test machine must not become an overrun here.
            .args(["--realtime", "--buffer", "96000", "--duration", &format!("{SECONDS}s")])
            .env("ALSA_CONFIG_PATH", common::alsa_config_path());
        topo.spawn("capture", cap, Stdio::null(), Stdio::from(pipe_w));
        topo.ice.wait_for_mount(MOUNT, T);
        topo
    }

    /// Starts one process of the topology; its stderr is collected for the failure report.
    fn spawn(&mut self, name: &'static str, cmd: Command, stdin: Stdio, stdout: Stdio) {
        self.procs.push((name, Proc::spawn_io(cmd, stdin, stdout, false)));
    }

    fn proc(&mut self, name: &str) -> &mut Proc {
        let found = self.procs.iter_mut().find(|(n, _)| *n == name);
        &mut found.unwrap_or_else(|| panic!("no process {name}")).1
    }

    /// `vinyl-preroll info --json`, or null while the ring cannot be read.
    fn info(&self) -> serde_json::Value {
        let out = common::run(
            Command::new(bin("vinyl-preroll")).args(["info", "--json", "--ring"]).arg(&self.ring),
            T,
        );
        if !out.status.success() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// The ring's head: frames written so far by its writer.
    fn head(&self) -> u64 {
        let info = self.info();
        info["head"].as_u64().unwrap_or_else(|| panic!("ring info without a head: {info}"))
    }

    /// Waits until the ring's head is at least `frames`, and returns it. The head moves in steps
    /// of the writer's batch (200 ms): it is read every 50 ms, not in a tight loop of processes.
    fn wait_head(&self, frames: u64, what: &str) -> u64 {
        let mut head = 0;
        let mut last_read: Option<Instant> = None;
        common::wait_until(&format!("ring head >= {frames} ({what})"), T, || {
            if last_read.is_some_and(|t| t.elapsed() < Duration::from_millis(50)) {
                return false;
            }
            last_read = Some(Instant::now());
            head = self.info()["head"].as_u64().unwrap_or(0);
            head >= frames
        });
        head
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    fn recordings(&self) -> PathBuf {
        self.dir.path().join("rec")
    }

    /// Runs `vinyl-rec ARGS` on this topology's ring and folders.
    fn rec(&self, args: &[&str]) -> Output {
        common::vinyl_rec(args, &self.run_dir(), &self.recordings(), &self.ring)
    }

    fn rec_ok(&self, args: &[&str]) -> String {
        common::vinyl_rec_ok(args, &self.run_dir(), &self.recordings(), &self.ring)
    }

    /// Starts a recording with `--preroll 5s` and returns its path and the ring's head read just
    /// before and just after the start (vinyl-rec reads the head in between).
    fn start_recording(&self, name: &str) -> (PathBuf, u64, u64) {
        let before = self.head();
        let out = self.rec_ok(&["start", "--preroll", "5s", "--name", name]);
        let after = self.head();
        (PathBuf::from(out.trim()), before, after)
    }

    /// The pid of the recording's runner (the leader of its own session), from vinyl-rec's state.
    fn runner_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.run_dir().join("rec/runner.pid")).ok()?.trim().parse().ok()
    }

    /// Every log of the topology, for a failure report.
    fn report(&self) -> String {
        let mut s = String::new();
        for (name, p) in &self.procs {
            s.push_str(&format!("--- {name} ---\n$ {}\n{}", p.what, p.stderr()));
        }
        for f in ["run/rec/log", "run/last-rec.log"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.path().join(f)) {
                s.push_str(&format!("--- vinyl-rec: {f} ---\n{text}"));
            }
        }
        s.push_str(&self.ice.logs());
        s
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let ice = if self.ice.is_running() { "running" } else { "NOT RUNNING" };
            eprintln!("=== logs of the topology (icecast2 {ice}) ===\n{}", self.report());
        }
        // A recording still running: its runner leads its own session and process group (the
        // pid of a runner long gone may belong to another process by now: checked).
        if let Some(runner) = self.runner_pid()
            && !gone(runner)
            && std::fs::read(format!("/proc/{runner}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("vinyl-rec"))
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(-runner),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        for (_, p) in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        let _ = std::fs::remove_file(&self.ring);
    }
}

/// Asserts `frames` is exactly `first, first+1, …` (no gap, no repeat, no misalignment).
fn assert_contiguous_from(frames: &[u64], first: u64) {
    assert!(!frames.is_empty(), "no frames");
    if let Some(i) = frames.iter().enumerate().position(|(i, &f)| f != first + i as u64) {
        panic!(
            "decoded frame {i} is input frame {} but should be {} (a gap or a misalignment; {} frames decoded)",
            frames[i],
            first + i as u64,
            frames.len()
        );
    }
}

/// Checks a finished recording started by [`Topology::start_recording`]: it starts exactly 5 s
/// (240000 frames) before the head vinyl-rec read, says so in its tags, and holds the contiguous
/// input frames from there to the stop (between `stop_before` and `stop_after`, the heads read
/// around `vinyl-rec stop`). Returns the frames decoded.
fn check_recording(
    path: &Path,
    start_bounds: (u64, u64),
    stop_bounds: (u64, u64),
    stop_output: &str,
) -> Vec<u64> {
    let preroll = tag_number(path, "VINYL_PREROLL");
    assert_eq!(preroll, 5 * RATE, "VINYL_PREROLL: the pre-roll was cut short");
    let start = tag_number(path, "VINYL_START_FRAME");
    // vinyl-rec read the head between the two reads around `start`; VINYL_START_FRAME +
    // VINYL_PREROLL is that head, exactly.
    assert!(
        start_bounds.0 - preroll <= start && start <= start_bounds.1 - preroll,
        "VINYL_START_FRAME {start} is not 5 s before the head at the start (between {} and {})",
        start_bounds.0,
        start_bounds.1
    );
    let frames = common::decoded_frames(path);
    assert_contiguous_from(&frames, start);
    let n = frames.len() as u64;
    assert!(
        stop_bounds.0 - start <= n && n <= stop_bounds.1 - start,
        "{n} frames recorded from {start}, but the head was between {} and {} at the stop",
        stop_bounds.0,
        stop_bounds.1
    );
    let mut lines = stop_output.lines();
    assert_eq!(lines.next(), Some(&*path.to_string_lossy()), "vinyl-rec stop said:\n{stop_output}");
    let said = lines.next().unwrap_or_default();
    assert!(
        said.ends_with(&format!("({n} frames)")),
        "vinyl-rec stop says {said:?}, the file holds {n} frames"
    );
    frames
}

/// A listener connected now receives MP3 that decodes to 48 kHz stereo: the burst, then at least
/// `live_seconds` of stream sent after it connected.
fn assert_listener_decodes(topo: &Topology, name: &str, live_seconds: usize) {
    let want = BURST + live_seconds * MP3_BYTES_PER_SECOND;
    let mp3 = topo.ice.listen(MOUNT, want, T);
    assert_eq!(mp3.len(), want, "the listener got only {} bytes of MP3", mp3.len());
    let (rate, channels, frames) = common::decode_mp3(&mp3, topo.dir.path(), name);
    assert_eq!((rate, channels), (48_000, 2), "the listener's MP3 is not 48 kHz stereo");
    // 128 kbit/s of 48 kHz: the bytes received hold about one second per 16000 bytes.
    let seconds = (want / MP3_BYTES_PER_SECOND) as u64;
    assert!(frames >= (seconds - 1) * RATE, "{want} bytes of MP3 decoded to only {frames} frames");
}

/// After the capture's end: it exits 0, the ring holds every frame it captured (the ring's
/// frame n is input frame n: checked on the first and the last seconds), and the tee exits 0.
fn assert_clean_end(topo: &mut Topology) {
    let status = topo.proc("capture").wait_exit(Duration::from_secs(SECONDS + 60));
    assert!(status.success(), "vinyl-capture: {status}");
    let total = SECONDS * RATE;
    topo.wait_head(total, "every captured frame reaches the ring");
    assert_eq!(topo.head(), total, "the ring holds more frames than were captured");
    let status = topo.proc("tee").wait_exit(T);
    assert!(status.success(), "vinyl-tee: {status}");
    for (from, n) in [(0, RATE), (total - RATE, RATE)] {
        let mut cmd = Command::new(bin("vinyl-preroll"));
        cmd.args(["tap", "--ring"]).arg(&topo.ring).args([
            "--from-frame",
            &from.to_string(),
            "--duration",
            &format!("{n}f"),
        ]);
        let what = common::describe(&cmd);
        let out = common::run(&mut cmd, T);
        common::assert_success(&what, &out);
        let got: Vec<u64> = out.stdout.chunks_exact(4).map(unique_frame_number).collect();
        assert_eq!(got.len() as u64, n, "{what}");
        assert_contiguous_from(&got, from);
    }
}

/// The done-means of "Compose it": a listener hears the stream, and a recording started with a
/// 5 s pre-roll holds exactly the captured frames from 240000 before the head at its start to
/// its stop.
#[test]
fn the_whole_topology_streams_and_records_sample_exact() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let mut topo = Topology::start("whole");
    let mount = topo.ice.wait_for_mount(MOUNT, T);
    assert_eq!(mount["server_name"], "vinyl e2e", "{mount}");
    assert_listener_decodes(&topo, "listener", 2);

    topo.wait_head(6 * RATE, "6 s of pre-roll history");
    let (path, before, after) = topo.start_recording("whole");
    assert!(path.starts_with(topo.recordings()), "{}", path.display());
    let state_start: u64 = std::fs::read_to_string(topo.run_dir().join("rec/start_frame"))
        .expect("vinyl-rec state: start_frame")
        .trim()
        .parse()
        .unwrap();
    topo.wait_head(after + 3 * RATE, "3 s recorded after the start");
    let stop_before = topo.head();
    let stopped = topo.rec_ok(&["stop"]);
    let stop_after = topo.head();
    let frames = check_recording(&path, (before, after), (stop_before, stop_after), &stopped);
    assert_eq!(frames[0], state_start, "the recording does not start where vinyl-rec said it would");
    assert!(
        frames.len() as u64 >= 8 * RATE,
        "5 s of pre-roll and 3 s recorded, yet only {} frames",
        frames.len()
    );
    assert!(!path.with_extension("flac.part").exists());
    assert_eq!(topo.rec_ok(&["status"]).trim(), "not recording");

    // Capture → tee → fill lost nothing; everything ends cleanly.
    assert_clean_end(&mut topo);
    for name in ["mp3-icecast", "preroll-fill"] {
        let p = topo.proc(name);
        p.signal(nix::sys::signal::Signal::SIGTERM);
        let status = p.wait_exit(T);
        assert!(status.success(), "{name} after SIGTERM: {status}\n{}", p.stderr());
    }
}

/// The stream's encoder dies mid-recording: the tee notices its reader left and goes on, and the
/// recording (fed from the ring) loses nothing.
#[test]
fn killing_the_encoder_loses_no_recorded_frame() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let mut topo = Topology::start("killenc");
    topo.wait_head(6 * RATE, "6 s of pre-roll history");
    let (path, before, after) = topo.start_recording("killenc");
    topo.wait_head(after + RATE, "1 s recorded");

    let enc = topo.proc("mp3-icecast");
    enc.signal(nix::sys::signal::Signal::SIGKILL);
    let status = enc.wait_exit(T);
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status}");
    let killed_at = topo.head();
    let stream = topo.stream_fifo.display().to_string();
    common::wait_until("the tee logs that the stream's reader left", T, || {
        topo.proc("tee").stderr().contains(&format!("{stream}: reader gone"))
    });
    topo.wait_head(killed_at + 2 * RATE, "2 s past the kill");
    assert!(topo.proc("tee").running(), "vinyl-tee stopped when the encoder died");

    let stop_before = topo.head();
    let stopped = topo.rec_ok(&["stop"]);
    let stop_after = topo.head();
    let frames = check_recording(&path, (before, after), (stop_before, stop_after), &stopped);
    assert!(
        frames.last().copied().unwrap() >= killed_at + 2 * RATE - 1,
        "the recording ends at frame {:?}, before 2 s past the kill at {killed_at}",
        frames.last()
    );
    assert!(topo.proc("tee").running(), "vinyl-tee stopped");
    assert_clean_end(&mut topo);
}

/// The recorder (tap and flac-rec) dies mid-recording: the stream goes on for listeners, the
/// killed recording's `.part` can be recovered, and vinyl-rec cleans its stale state and records
/// again.
#[test]
fn killing_the_recorder_leaves_the_stream_running() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let mut topo = Topology::start("killrec");
    topo.wait_head(6 * RATE, "6 s of pre-roll history");
    let (path, _, after) = topo.start_recording("killed");
    let part = path.with_extension("flac.part");
    // More than the 8 KiB of padding and the header: the pre-roll is being encoded.
    common::wait_until("the recorder writes audio into its .part", T, || {
        std::fs::metadata(&part).is_ok_and(|m| m.len() > 32 * 1024)
    });
    topo.wait_head(after + RATE, "1 s recorded");
    let runner = topo.runner_pid().expect("vinyl-rec state: runner.pid");
    let tap: i32 = std::fs::read_to_string(topo.run_dir().join("rec/tap.pid"))
        .expect("vinyl-rec state: tap.pid")
        .trim()
        .parse()
        .unwrap();
    let flac = process_in_session(runner, "vinyl-flac-rec")
        .unwrap_or_else(|| panic!("no vinyl-flac-rec in the recorder's session {runner}"));
    assert_eq!(process_in_session(runner, "vinyl-preroll"), Some(tap), "tap.pid is not the session's tap");
    // The recorder first, so the tap's end cannot let it finish the file.
    for pid in [flac, tap] {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    }
    for pid in [flac, tap, runner] {
        common::wait_until(&format!("pid {pid} is gone"), T, || gone(pid));
    }
    let killed_at = topo.head();

    // The stream carries on: the head advances, the mount stays, a new listener hears it.
    topo.wait_head(killed_at + 2 * RATE, "2 s past the kill");
    assert!(topo.ice.mount(MOUNT).is_some(), "the mount is gone after the recorder was killed");
    for name in ["capture", "tee", "mp3-icecast", "preroll-fill"] {
        assert!(topo.proc(name).running(), "{name} stopped when the recorder was killed");
    }
    assert_listener_decodes(&topo, "after-kill", 2);
    assert!(topo.ice.mount(MOUNT).is_some(), "the mount is gone");

    // vinyl-rec sees the recording ended on its own, names the unfinished file, records again.
    let status = topo.rec_ok(&["status"]);
    assert!(status.starts_with("not recording") && status.contains("ended on its own"), "{status}");
    assert!(part.exists() && !path.exists(), "the killed recording must stay a .part");
    let (second, before2, after2) = {
        let before = topo.head();
        let out = topo.rec(&["start", "--preroll", "5s", "--name", "after"]);
        let after = topo.head();
        common::assert_success("vinyl-rec start after a killed recorder", &out);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ended on its own") && err.contains("--recover"), "{err}");
        (PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()), before, after)
    };
    topo.wait_head(after2 + RATE, "1 s recorded");
    let stop_before = topo.head();
    let stopped = topo.rec_ok(&["stop"]);
    let stop_after = topo.head();
    check_recording(&second, (before2, after2), (stop_before, stop_after), &stopped);

    // What the killed recorder wrote plays after --recover: contiguous from its start frame.
    let mut cmd = Command::new(bin("vinyl-flac-rec"));
    cmd.arg("--recover").arg(&part);
    let what = common::describe(&cmd);
    common::assert_success(&what, &common::run(&mut cmd, T));
    let start = tag_number(&path, "VINYL_START_FRAME");
    let frames = common::decoded_frames(&path);
    assert_contiguous_from(&frames, start);
    assert!(
        frames.len() as u64 >= RATE && start + frames.len() as u64 <= killed_at,
        "the recovered recording holds {} frames from {start} (killed at head {killed_at})",
        frames.len()
    );
    assert_clean_end(&mut topo);
}

/// The pid of a process in session `sid` whose command name is `comm`.
fn process_in_session(sid: i32, comm: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // pid (comm) state ppid pgrp session …
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = &stat[open + 1..close];
        let session = stat[close + 1..].split_whitespace().nth(3).and_then(|s| s.parse::<i32>().ok());
        if name == comm && session == Some(sid) {
            return Some(pid);
        }
    }
    None
}

/// Processes (pid, command line) whose command line mentions any of `words`.
fn processes_mentioning(words: &[&str]) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if words.iter().any(|w| cmdline.contains(w)) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// What a demo run may have left when the test fails: stopped through the demo's own run
/// folder (vinyl-down, icecast2's pid file), then any process naming the demo's private folder
/// or ring is killed by pid.
struct DemoGuard {
    dir: tempfile::TempDir,
    ring: String,
}

impl Drop for DemoGuard {
    fn drop(&mut self) {
        let demo = self.dir.path().join("demo");
        let conf = demo.join("vinyl.conf");
        if conf.exists() {
            let mut cmd = Command::new(common::repo_root().join("scripts/vinyl-down"));
            cmd.env("VINYL_CONFIG", &conf).env(
                "PATH",
                format!("{}:{}", common::bin_dir().display(), std::env::var("PATH").unwrap_or_default()),
            );
            let _ = common::run(&mut cmd, T);
        }
        let words = [demo.to_str().unwrap(), self.ring.as_str()];
        for (pid, _) in processes_mentioning(&words) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = std::fs::remove_file(&self.ring);
    }
}

/// `scripts/demo` runs unattended on the built binaries (VINYL_BIN), in a private folder, twice:
/// each run exits 0, names the listen URL and a recording that passes `flac -t`, lists the
/// recordings, and leaves no process and no ring behind.
#[test]
fn the_demo_runs_to_completion_and_leaves_nothing_behind() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    for tool in ["flac", "metaflac", "mpg123", "icecast2", "sox", "curl", "ss"] {
        assert!(common::have(tool), "{tool} is not installed (scripts/test installs it)");
    }
    let guard = DemoGuard {
        dir: tempfile::Builder::new().prefix("vinyl-e2e-demo-").tempdir().unwrap(),
        ring: format!("/dev/shm/vinyl-e2e-{}-demo", std::process::id()),
    };
    let demo = guard.dir.path().join("demo");
    let mut recordings = Vec::new();
    for run in 1..=2 {
        let mut cmd = Command::new(common::repo_root().join("scripts/demo"));
        cmd.args(["--seconds", "2"]);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
            cmd.env_remove(k);
        }
        cmd.env("VINYL_BIN", common::bin_dir())
            .env("VINYL_DEMO_DIR", &demo)
            .env("VINYL_DEMO_RING", &guard.ring)
            .stdin(Stdio::null());
        let what = format!("run {run}: {}", common::describe(&cmd));
        let start = Instant::now();
        let out = common::run(&mut cmd, Duration::from_secs(180));
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        let report = format!(
            "{what}\nstatus: {}\nstdout:\n{said}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{report}");
        eprintln!("demo run {run}: {:.1} s", start.elapsed().as_secs_f64());

        let after = |key: &str| -> String {
            said.lines()
                .find_map(|l| l.split_once(key).map(|(_, v)| v.trim().to_string()))
                .unwrap_or_else(|| panic!("the demo does not say '{key}'\n{report}"))
        };
        let url = after("listen:     ");
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/vinyl.mp3"),
            "listen URL {url:?}\n{report}"
        );
        let path = PathBuf::from(after("recording:  "));
        assert!(path.starts_with(demo.join("recordings")), "{}\n{report}", path.display());
        let t = common::run(Command::new("flac").args(["-t", "-s"]).arg(&path), T);
        common::assert_success(&format!("flac -t {}", path.display()), &t);
        assert!(said.contains("a listener decoded"), "{report}");
        recordings.push(path);
        // `vinyl-rec list`: a header and a row for every recording made so far.
        let table: Vec<&str> = said.lines().skip_while(|l| !l.starts_with("PATH\tDURATION")).collect();
        assert!(!table.is_empty(), "no vinyl-rec list output\n{report}");
        for rec in &recordings {
            let row = table
                .iter()
                .find(|l| l.starts_with(&*rec.to_string_lossy()))
                .unwrap_or_else(|| panic!("vinyl-rec list has no row for {}\n{report}", rec.display()));
            let cols: Vec<&str> = row.split('\t').collect();
            assert_eq!(cols.len(), 7, "{row}");
            assert!(cols[1].ends_with(" frames)"), "{row}");
            assert_eq!(cols[4], "vinyl demo", "{row}");
        }

        // Nothing left running, no ring left in shared memory.
        let left = processes_mentioning(&[demo.to_str().unwrap(), guard.ring.as_str()]);
        assert!(left.is_empty(), "run {run} left processes behind: {left:#?}\n{report}");
        assert!(!Path::new(&guard.ring).exists(), "run {run} left its ring {}", guard.ring);
    }
    drop(guard);
}
