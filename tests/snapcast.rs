//! The Snapcast source against Debian's real snapserver and snapclient (0.26), each on free
//! loopback ports with its own configuration and data folder: the ring's audio reaches a
//! snapclient that writes to a file, frame for frame (a counter signal stays contiguous); the
//! now-playing of the events file is the stream's metadata in the server's JSON-RPC; a snapserver
//! that stops reading or dies costs the capture and a recording nothing; vinyl-up starts and
//! stops the tap with VINYL_SNAPCAST=yes.

mod common;

use common::proc::{Proc, Ring};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const RATE: u64 = 48_000;

fn bin(name: &str) -> PathBuf {
    common::bin_dir().join(name)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `seconds` of s24_3le stereo where both samples of frame `n` hold `n` (a counter).
fn counter_input(path: &Path, seconds: u64) {
    let mut data = Vec::with_capacity((seconds * RATE * 6) as usize);
    for n in 0..seconds * RATE {
        let b = (n as u32 & 0x7f_ffff).to_le_bytes();
        data.extend_from_slice(&[b[0], b[1], b[2], b[0], b[1], b[2]]);
    }
    std::fs::write(path, data).unwrap();
}

/// One test's vinyl side: the ring written by a real-time capture of the counter, the keys the
/// tools read, and the folder.
struct Side {
    dir: tempfile::TempDir,
    _ring: Ring,
    run: PathBuf,
    events: PathBuf,
    env: Vec<(String, PathBuf)>,
    capture: Proc,
}

impl Side {
    /// Starts the capture of `seconds` of the counter into a ring of `capacity`.
    fn start(tag: &str, seconds: u64, capacity: &str) -> Side {
        let dir = tempfile::tempdir().unwrap();
        let ring = Ring::new(tag);
        let (run, events) = (dir.path().join("run"), dir.path().join("events"));
        std::fs::create_dir(&run).unwrap();
        std::fs::write(&events, "").unwrap();
        let conf = dir.path().join("vinyl.conf");
        std::fs::write(&conf, "").unwrap();
        let input = dir.path().join("in.raw");
        counter_input(&input, seconds);
        let env: Vec<(String, PathBuf)> = [
            ("VINYL_CONFIG", conf),
            ("VINYL_RING", ring.0.clone()),
            ("VINYL_RUN_DIR", run.clone()),
            ("VINYL_EVENTS", events.clone()),
            ("VINYL_RECORDINGS", dir.path().join("rec")),
            ("VINYL_LIBRARY", dir.path().join("library.db")),
            ("VINYL_WEB_URL", PathBuf::from("http://vinyl.test:8080/")),
            ("VINYL_FORMAT", PathBuf::from("s24_3le")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut cap = Command::new(bin("vinyl-capture"));
        cap.arg("--device").arg(common::file_device(&input));
        cap.args(["--realtime", "--buffer", "96000", "--duration", &format!("{seconds}s")]);
        cap.args(["--ring-capacity", capacity]).env("ALSA_CONFIG_PATH", common::alsa_config_path());
        let capture = Proc::spawn_io(Side::with(cap, &env), Stdio::null(), Stdio::null(), false);
        let mut info = Command::new(bin("vinyl-preroll"));
        info.args(["info", "--wait-advancing", "20s"]);
        common::run_ok(&mut Side::with(info, &env), T);
        Side { dir, _ring: ring, run, events, env, capture }
    }

    /// `cmd` with this side's keys and none of the caller's.
    fn with(mut cmd: Command, env: &[(String, PathBuf)]) -> Command {
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v))).env_remove("NOTIFY_SOCKET");
        cmd
    }

    fn cmd(&self, program: &str) -> Command {
        Side::with(Command::new(bin(program)), &self.env)
    }

    /// The Snapcast tap, as vinyl-up runs it.
    fn tap(&self) -> Proc {
        let mut tap = self.cmd("vinyl-preroll");
        tap.args(["tap", "--live", "--batch=0s", "--s24-in-32"])
            .arg(format!("--fifo={}", self.fifo().display()));
        Proc::spawn_io(tap, Stdio::null(), Stdio::null(), false)
    }

    fn fifo(&self) -> PathBuf {
        self.run.join("snapcast.fifo")
    }

    /// `vinyl-preroll info --json`.
    fn info(&self) -> Value {
        let mut cmd = self.cmd("vinyl-preroll");
        cmd.args(["info", "--json"]);
        serde_json::from_slice(&common::run_ok(&mut cmd, T).stdout).unwrap()
    }

    fn append_event(&self, e: Value) {
        let mut f = std::fs::OpenOptions::new().append(true).open(&self.events).unwrap();
        writeln!(f, "{e}").unwrap();
    }
}

/// A snapserver of the test's own: its configuration, ports and data folder in `dir`, its one
/// source the line `vinyl-snapcast-meta --source-line` prints.
struct Server {
    proc: Proc,
    stream_port: u16,
    tcp_port: u16,
    source: String,
}

impl Server {
    fn start(side: &Side, buffer_ms: u32) -> Server {
        let mut line = side.cmd("vinyl-snapcast-meta");
        line.arg("--source-line");
        let source = String::from_utf8(common::run_ok(&mut line, T).stdout).unwrap().trim().to_string();
        let (stream_port, tcp_port, http_port) = (free_port(), free_port(), free_port());
        let data = side.dir.path().join("snapserver");
        std::fs::create_dir_all(&data).unwrap();
        let conf = side.dir.path().join("snapserver.conf");
        std::fs::write(
            &conf,
            format!(
                "[server]\ndatadir = {}\n[http]\nenabled = true\nbind_to_address = 127.0.0.1\nport = {http_port}\n\
                 [tcp]\nenabled = true\nbind_to_address = 127.0.0.1\nport = {tcp_port}\n\
                 [stream]\nbind_to_address = 127.0.0.1\nport = {stream_port}\nbuffer = {buffer_ms}\n{source}\n\
                 [logging]\nsink = stderr\n",
                data.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("snapserver");
        cmd.arg("-c").arg(&conf).env("HOME", &data);
        let cmd = Side::with(cmd, &side.env);
        let proc = Proc::spawn_io(cmd, Stdio::null(), Stdio::null(), false);
        let server = Server { proc, stream_port, tcp_port, source };
        common::wait_until("snapserver answers on its TCP port", T, || server.status().is_some());
        server
    }

    /// `Server.GetStatus` through the TCP JSON-RPC, or None while it does not answer.
    fn status(&self) -> Option<Value> {
        let mut s = TcpStream::connect(("127.0.0.1", self.tcp_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"{\"id\":7,\"jsonrpc\":\"2.0\",\"method\":\"Server.GetStatus\"}\r\n").ok()?;
        let mut lines = BufReader::new(s).lines();
        while let Some(Ok(l)) = lines.next() {
            let v: Value = serde_json::from_str(&l).ok()?;
            if v["id"] == json!(7) {
                return Some(v);
            }
        }
        None
    }

    /// The stream's properties as the server shows them.
    fn properties(&self) -> Value {
        let status = self.status().unwrap_or(Value::Null);
        status["result"]["server"]["streams"][0]["properties"].clone()
    }

    /// A snapclient whose player writes the stream to `out` (raw, the stream's sample format).
    fn client(&self, out: &Path, latency_ms: u32) -> Proc {
        let mut c = Command::new("snapclient");
        c.args(["-h", "127.0.0.1", "-p", &self.stream_port.to_string(), "--hostID", "vinyl-test"]);
        c.args(["--latency", &latency_ms.to_string(), "--logsink", "stderr"]);
        c.arg("--player").arg(format!("file:filename={}", out.display()));
        Proc::spawn_io(c, Stdio::null(), Stdio::null(), false)
    }
}

/// The frames of a 24-in-32 stereo file: (left, right).
fn frames_24_in_32(bytes: &[u8]) -> Vec<(i32, i32)> {
    bytes
        .chunks_exact(8)
        .map(|f| {
            (i32::from_le_bytes(f[..4].try_into().unwrap()), i32::from_le_bytes(f[4..].try_into().unwrap()))
        })
        .collect()
}

/// The longest run where frame i+1 holds frame i's counter plus one, both channels alike:
/// (first counter, frames).
fn longest_run(frames: &[(i32, i32)]) -> (i32, usize) {
    let (mut best, mut start, mut len) = ((0, 0), 0, 0usize);
    for (i, &(l, r)) in frames.iter().enumerate() {
        let continues = i > 0 && l == frames[i - 1].0 + 1 && l == r;
        if continues {
            len += 1;
        } else {
            (start, len) = (i, usize::from(l == r && l != 0));
        }
        if len > best.1 {
            best = (frames[start].0, len);
        }
    }
    best
}

/// Ring → live tap → FIFO → snapserver → snapclient's file player: the client writes the ring's
/// own frames, its counter contiguous for 5 s; the source line carries the ring's format
/// (24 bits, so the tap widens to 24-in-32, which the client writes back). And the events file's
/// now-playing is the stream's metadata (with the cover's URL from the collection), cleared
/// by a lift.
#[test]
fn the_client_plays_the_ring_and_the_server_shows_now_playing() {
    if !common::tier(&["snapserver", "snapclient"]) {
        return;
    }
    let side = Side::start("snapcast-play", 25, "30s");
    name_an_album(&side);
    let tap = side.tap();
    let server = Server::start(&side, 400);
    assert!(
        server.source.contains("sampleformat=48000:24:2") && server.source.contains("name=vinyl"),
        "{}",
        server.source
    );
    tap.wait_line_within("a reader takes frames", T);
    let out = side.dir.path().join("client.raw");
    let client = server.client(&out, 0);
    let want = 5 * RATE as usize;
    let mut run = (0, 0);
    let end = Instant::now() + T;
    while run.1 < want && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(500));
        run = longest_run(&frames_24_in_32(&std::fs::read(&out).unwrap_or_default()));
    }
    let report = || {
        format!(
            "snapserver:\n{}\nsnapclient:\n{}\ntap:\n{}",
            server.proc.stderr(),
            client.stderr(),
            tap.stderr()
        )
    };
    assert!(run.1 >= want, "the client's counter ran {} frames from {} only\n{}", run.1, run.0, report());
    let head = side.info()["head"].as_u64().unwrap();
    assert!((run.0 as u64) < head, "frame {} is not the ring's (head {head})", run.0);

    side.append_event(json!({"event": "side_start", "frame": 100, "at": 100, "side": 1}));
    side.append_event(json!({"event": "recognized", "frame": 100, "at": 200, "artist": "Miles Davis",
        "album": "Kind of Blue", "side": "A", "track": 1, "title": "So What", "confidence": 0.9,
        "speed_ratio": 1.0, "offset_s": 0.0}));
    let mut props = Value::Null;
    common::wait_until("the stream's metadata shows the recognised side", T, || {
        props = server.properties();
        props["metadata"]["title"] == json!("So What")
    });
    let m = &props["metadata"];
    assert_eq!(m["artist"], json!(["Miles Davis"]), "{props}");
    assert_eq!(m["album"], json!("Kind of Blue"), "{props}");
    assert_eq!(m["artUrl"], json!("http://vinyl.test:8080/cover/1"), "{props}");
    assert_eq!(props["playbackStatus"], json!("playing"), "{props}");
    side.append_event(json!({"event": "lift", "frame": 5000, "at": 5000}));
    common::wait_until("a lift clears the metadata", T, || server.properties()["metadata"] == json!({}));
    assert!(
        server.proc.stderr().contains("now playing Miles Davis – Kind of Blue: So What, with its cover"),
        "{}",
        report()
    );
}

/// The album the recognition names, with a cover, in the collection the script reads.
fn name_an_album(side: &Side) {
    let db = side.dir.path().join("library.db");
    let mut lib = vinyl::library::db::Library::open(&db).unwrap();
    lib.name(&vinyl::library::db::Naming {
        artist: "Miles Davis".into(),
        album: "Kind of Blue".into(),
        year: Some(1959),
        side: "A".into(),
        titles: vec!["So What".into()],
        cover: Some((b"\x89PNG\r\n\x1a\n".to_vec(), "image/png")),
        file: side.dir.path().join("side.flac"),
        start_frame: None,
    })
    .unwrap();
}

/// A snapserver that stops reading (SIGSTOP, until the tap says so) and then dies (SIGKILL) costs the capture
/// and a recording nothing: the ring's journal has no gap, the recording's counter is contiguous,
/// and the tap logs each time it drops frames and each time a reader takes them again.
#[test]
fn a_stalled_or_dead_snapserver_costs_the_capture_and_a_recording_nothing() {
    if !common::tier(&["snapserver", "flac"]) {
        return;
    }
    let mut side = Side::start("snapcast-stall", 16, "30s");
    let tap = side.tap();
    let server = Server::start(&side, 400);
    tap.wait_line_within("a reader takes frames", T);
    let first = side.info()["head"].as_u64().unwrap();
    let flac = side.dir.path().join("rec.flac");
    let rec = Recording::start(&side, first, &flac);
    server.proc.signal(Signal::SIGSTOP);
    tap.wait_line_within("no reader took frames for 2500 ms: dropping frames until one does", T);
    server.proc.signal(Signal::SIGCONT);
    tap.wait_lines("a reader takes frames (", 2);
    server.proc.signal(Signal::SIGKILL);
    tap.wait_lines("no reader took frames for 2500 ms", 2);
    let status = side.capture.wait_exit(T);
    assert!(status.success(), "vinyl-capture: {status}\n{}", side.capture.stderr());
    let info = side.info();
    assert_eq!(info["gap_count"], json!(0), "the ring's journal: {info}");
    let (tap_err, rec_err) = rec.stop();
    let raw = common::flac_raw(&flac);
    let frames: Vec<i32> = raw.chunks_exact(6).map(|f| i32::from_le_bytes([f[0], f[1], f[2], 0])).collect();
    let head = info["head"].as_u64().unwrap();
    assert_eq!(frames.len() as u64, head - first, "the recording: {tap_err}\n{rec_err}");
    let broken = frames.windows(2).position(|w| w[1] != w[0] + 1);
    assert_eq!(broken, None, "the recording's counter breaks");
    assert_eq!(frames[0] as u64, first, "the recording starts at its frame");
    let mut tap = tap;
    tap.signal(Signal::SIGTERM);
    assert!(tap.wait_exit(T).success(), "{}", tap.stderr());
}

/// `vinyl-preroll tap --from-frame FIRST | vinyl-flac-rec`, as vinyl-rec runs a recording.
struct Recording {
    tap: Option<std::process::Child>,
    rec: Option<std::process::Child>,
}

impl Drop for Recording {
    /// A failed test leaves no process behind.
    fn drop(&mut self) {
        for c in [self.tap.as_mut(), self.rec.as_mut()].into_iter().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Recording {
    fn start(side: &Side, first: u64, out: &Path) -> Recording {
        let mut tap = side.cmd("vinyl-preroll");
        tap.args(["tap", "--from-frame", &first.to_string()]).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut tap = tap.spawn().unwrap();
        let mut rec = side.cmd("vinyl-flac-rec");
        rec.arg("-o").arg(out).args(["--start-frame", &first.to_string()]);
        let rec = rec.stdin(tap.stdout.take().unwrap()).stderr(Stdio::piped()).spawn().unwrap();
        Recording { tap: Some(tap), rec: Some(rec) }
    }

    /// Ends the tap at the head (SIGTERM) and waits for both, which must exit 0.
    fn stop(mut self) -> (String, String) {
        common::signal(self.tap.as_ref().unwrap(), Signal::SIGTERM);
        let (tap, rec) = (self.tap.take().unwrap(), self.rec.take().unwrap());
        let tap = common::wait_output(tap, T, "tap");
        let rec = common::wait_output(rec, T, "vinyl-flac-rec");
        common::assert_success("tap", &tap);
        common::assert_success("vinyl-flac-rec", &rec);
        (common::stderr(&tap), common::stderr(&rec))
    }
}

/// `vinyl-up` with VINYL_SNAPCAST=yes starts the Snapcast tap (shown by --status, its FIFO fed
/// live, the snapserver.conf line printed for the ring's format), and `vinyl-down` stops it and
/// removes the FIFO. (tests/scripts.rs proves its command line is vinyl-snapcast.service's.)
#[test]
fn vinyl_up_starts_the_snapcast_tap_and_vinyl_down_stops_it() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let up = common::up::Up::start("snapcast-up", 60);
    let mut conf = std::fs::read_to_string(&up.conf).unwrap();
    conf += "VINYL_SNAPCAST=yes\n";
    std::fs::write(&up.conf, conf).unwrap();
    let said = up.sh_ok(&["vinyl-up"]);
    let fifo = up.run_file("snapcast.fifo");
    let line = format!(
        "source = pipe://{}?name=vinyl&sampleformat=48000:16:2&mode=read&controlscript=",
        fifo.display()
    );
    assert!(said.contains(&line), "vinyl-up said:\n{said}");
    let status = String::from_utf8_lossy(&up.sh(&["vinyl-up", "--status"]).stdout).into_owned();
    assert!(
        status.lines().any(|l| l.starts_with("vinyl-preroll tap (snapcast)") && l.contains("running (pid")),
        "{status}"
    );
    // A reader gets live frames at once.
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let mut buf = vec![0u8; 4 * 48_000];
    let got = common::with_deadline(T, move || std::io::Read::read_exact(&mut reader, &mut buf).map(|_| buf));
    assert!(got.is_ok(), "no audio from {}: {}", fifo.display(), up.log("snapcast-tap"));
    let down = up.sh_ok(&["vinyl-down"]);
    assert!(down.contains("stopped vinyl-preroll tap (snapcast)"), "{down}");
    assert!(!fifo.exists(), "vinyl-down left {}", fifo.display());
}
