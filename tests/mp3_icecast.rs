//! End-to-end tests of `vinyl-mp3-icecast`: the built binary against a real icecast2 started by
//! each test on 127.0.0.1 (see `common::icecast`), real `mpg123` decoding, real pipes and FIFOs;
//! plus scripted fake servers for the faults icecast2 cannot produce on demand (dropping a
//! connection, refusing PUT, taking no data).

mod common;

use common::icecast::Icecast;
use common::proc::Proc;
use common::{decode_mp3, decode_mp3_file};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vinyl::mp3::FrameHeader;

const BIN: &str = env!("CARGO_BIN_EXE_vinyl-mp3-icecast");
const RATE: u32 = 48_000;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Music-like s16le PCM: a few detuned partials, slow amplitude movement and a little noise,
/// `channels` interleaved, starting at absolute frame `start` (so consecutive calls join up).
fn music(rate: u32, channels: u16, start: u64, frames: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity((frames * channels as u64 * 2) as usize);
    let mut seed = 0x1234_5678u32.wrapping_add(start as u32);
    for i in start..start + frames {
        let t = i as f64 / rate as f64;
        let env = 0.6 + 0.4 * (t * 0.7).sin();
        let base = (t * 220.0 * std::f64::consts::TAU).sin() * 0.30
            + (t * 331.0 * std::f64::consts::TAU).sin() * 0.15
            + (t * 443.5 * std::f64::consts::TAU).sin() * 0.10
            + (t * 1870.0 * std::f64::consts::TAU).sin() * 0.03;
        for c in 0..channels {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = ((seed >> 16) as f64 / 65536.0 - 0.5) * 0.02;
            let v = (base * env * (1.0 - 0.2 * c as f64) + noise) * 32767.0 * 0.8;
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
    }
    out
}

/// A running `vinyl-mp3-icecast` (the common harness, its stderr collected as it arrives).
struct Tool(Proc);

impl Tool {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Tool {
        Tool::spawn_with(args, env, Stdio::null())
    }

    fn spawn_with(args: &[&str], env: &[(&str, &str)], stdout: Stdio) -> Tool {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env_remove("VINYL_ICECAST_PASSWORD").env_remove("NOTIFY_SOCKET");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Tool(Proc::spawn_to(cmd, stdout, false))
    }

    fn stdin(&mut self) -> ChildStdin {
        self.0.take_stdin()
    }

    /// Waits until stderr contains `needle`; panics with the command and stderr otherwise.
    fn wait_log(&self, needle: &str, timeout: Duration) {
        self.0.wait_line_within(needle, timeout);
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        self.0.signal(sig);
    }

    /// Waits for the exit within `deadline` (panics after it); returns status and a report.
    fn finish(self, deadline: Duration) -> (ExitStatus, String) {
        self.0.exit_report(deadline)
    }
}

/// A thread writing music to a tool's stdin in 50 ms blocks at about real time (a capture's
/// pace), from its start until [`Paced::stop`] or a write fails.
struct Paced {
    stop: Arc<AtomicBool>,
    writer: JoinHandle<(ChildStdin, u64)>,
}

impl Paced {
    /// Starts writing the music from frame `start` to `stdin`.
    fn start(mut stdin: ChildStdin, start: u64) -> Paced {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let writer = std::thread::spawn(move || {
            let block = RATE as u64 / 20;
            let t0 = Instant::now();
            let mut n = 0u64;
            while !stopped.load(Ordering::SeqCst) {
                if stdin.write_all(&music(RATE, 2, start + n, block)).is_err() {
                    break;
                }
                n += block;
                let due = Duration::from_millis(n * 1000 / RATE as u64);
                if let Some(wait) = due.checked_sub(t0.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            (stdin, n)
        });
        Paced { stop, writer }
    }

    /// Stops the writer; returns the pipe and the frames written, so the test can go on writing.
    fn stop(self) -> (ChildStdin, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.writer.join().unwrap()
    }
}

/// Writes `seconds` of music as fast as the pipe takes it, under a deadline: the proof that
/// the reader never stops reading. Returns the pipe and the frames written.
fn burst(mut stdin: ChildStdin, start: u64, seconds: u64) -> (ChildStdin, u64) {
    let frames = seconds * RATE as u64;
    common::with_deadline(Duration::from_secs(60), move || {
        let data = music(RATE, 2, start, frames);
        for block in data.chunks(65536) {
            stdin.write_all(block).expect("write to the tool's stdin");
        }
        (stdin, frames)
    })
}

/// Every frame of `data` from the first byte is a valid MP3 frame header followed by its body
/// (the last one may be cut short by the reader): the stream started on a frame boundary.
fn assert_whole_frames(data: &[u8], what: &str) -> usize {
    let mut pos = 0;
    let mut frames = 0;
    while pos + 4 <= data.len() {
        let h = FrameHeader::parse(&data[pos..])
            .unwrap_or_else(|| panic!("{what}: no MP3 frame header at byte {pos} (frame {frames})"));
        pos += h.len;
        frames += 1;
    }
    assert!(frames > 0, "{what}: no MP3 frames");
    frames
}

fn assert_no_password(text: &str, password: &str) {
    assert!(!text.contains(password), "the password appears in the output:\n{text}");
}

/// The number after `key` in `text` (`"discarded 12345 frames"` → `discarded `).
fn number_after(text: &str, key: &str) -> u64 {
    let at = text.rfind(key).unwrap_or_else(|| panic!("no {key:?} in:\n{text}")) + key.len();
    text[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

fn pw_arg(ice: &Icecast) -> String {
    ice.password_file().display().to_string()
}

// ---------------------------------------------------------------------------------------------
// Real icecast2

#[test]
fn listener_decodes_stream_and_status_shows_ice_headers() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let ice = Icecast::start();
    let url = ice.url("/live.mp3");
    let pw = pw_arg(&ice);
    let mut tool = Tool::spawn(
        &[
            "--url",
            &url,
            "--password-file",
            &pw,
            "--name",
            "Living room turntable",
            "--description",
            "Records, live",
            "--genre",
            "Jazz",
            "--homepage",
            "http://example.org/vinyl",
        ],
        &[],
    );
    let writer = Paced::start(tool.stdin(), 0);
    let src = ice.wait_for_mount("/live.mp3", Duration::from_secs(20));
    assert_eq!(src["server_name"], "Living room turntable", "{src}");
    assert_eq!(src["server_description"], "Records, live");
    assert_eq!(src["genre"], "Jazz");
    assert_eq!(src["server_url"], "http://example.org/vinyl");
    assert_eq!(src["server_type"], "audio/mpeg");
    assert_eq!(src["bitrate"], 320);
    let info = src["audio_info"].as_str().unwrap();
    for want in ["ice-samplerate=48000", "ice-channels=2", "ice-bitrate=320"] {
        assert!(info.contains(want), "{info}");
    }
    let mp3 = ice.listen("/live.mp3", 48 * 1024, Duration::from_secs(20));
    assert_eq!(mp3.len(), 48 * 1024);
    let (rate, channels, samples) = decode_mp3(&mp3, ice.dir(), "listener");
    assert_eq!((rate, channels), (48_000, 2));
    assert!(samples > 48_000, "only {samples} samples decoded from 48 KiB at 320 kbit/s");
    writer.stop();
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
    assert!(report.contains("streaming (PUT)"), "{report}");
    assert_no_password(&report, ice.source_password());
}

#[test]
fn a_relay_of_the_mount_serves_listeners_our_stream() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    // Scale-out is Icecast's job: a second icecast2 pulls the mount as a relay, and listeners
    // connect to it instead.
    let master = Icecast::start();
    let url = master.url("/live");
    let pw = pw_arg(&master);
    let fifo = master.dir().join("title.fifo");
    let fifo_arg = fifo.to_str().unwrap();
    let args =
        ["--url", &url, "--password-file", &pw, "--name", "Relayed turntable", "--metadata-fifo", fifo_arg];
    let mut tool = Tool::spawn(&args, &[]);
    let writer = Paced::start(tool.stdin(), 0);
    master.wait_for_mount("/live", Duration::from_secs(20));
    let relay = Icecast::start_with(common::icecast::Options {
        relay: Some(common::icecast::Relay {
            port: master.port(),
            mount: "/live".into(),
            local_mount: "/live".into(),
        }),
        ..Default::default()
    });
    let relayed = relay.wait_for_mount("/live", Duration::from_secs(30));
    assert_eq!(relayed["server_name"], "Relayed turntable", "{relayed}");
    // The relay is one listener of the master, however many it serves.
    master.wait_for_mount_where("/live", "the relay as a listener", Duration::from_secs(20), |m| {
        m["listeners"].as_u64() >= Some(1)
    });
    // Titles reach the relay's listeners too (the relay asks for ICY metadata).
    std::fs::OpenOptions::new().write(true).open(&fifo).unwrap().write_all(b"Side A - Track 1\n").unwrap();
    relay.wait_for_mount_where("/live", "the title", Duration::from_secs(30), |m| {
        m["title"] == "Side A - Track 1"
    });
    let mp3 = relay.listen("/live", 64 * 1024, Duration::from_secs(30));
    assert_eq!(mp3.len(), 64 * 1024, "{}", relay.logs());
    let (rate, channels, samples) = decode_mp3(&mp3, relay.dir(), "relayed");
    assert_eq!((rate, channels), (48_000, 2));
    assert!(samples > 48_000, "only {samples} samples decoded from 64 KiB at 320 kbit/s");
    writer.stop();
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
}

#[test]
fn mono_44k1_stream_decodes_at_its_rate_and_channels() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let ice = Icecast::start();
    let url = ice.url("/mono");
    let pw = pw_arg(&ice);
    let mut tool = Tool::spawn(
        &["--url", &url, "--password-file", &pw, "--rate", "44100", "--channels", "1", "--bitrate", "128"],
        &[],
    );
    let mut stdin = tool.stdin();
    let feeder = std::thread::spawn(move || {
        // 44.1 kHz mono at about real time.
        for i in 0..400u64 {
            if stdin.write_all(&music(44_100, 1, i * 4410, 4410)).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let src = ice.wait_for_mount("/mono", Duration::from_secs(20));
    assert!(src["audio_info"].as_str().unwrap().contains("ice-samplerate=44100;ice-channels=1"), "{src}");
    let mp3 = ice.listen("/mono", 24 * 1024, Duration::from_secs(20));
    let (rate, channels, samples) = decode_mp3(&mp3, ice.dir(), "mono");
    assert_eq!((rate, channels), (44_100, 1));
    assert!(samples > 44_100, "{samples}");
    tool.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
    drop(feeder);
}

#[test]
fn server_restart_reconnects_within_3s_and_the_writer_is_never_blocked() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let mut ice = Icecast::start();
    let url = ice.url("/live");
    let pw = pw_arg(&ice);
    let mut tool = Tool::spawn(&["--url", &url, "--password-file", &pw, "--name", "restart"], &[]);
    let writer = Paced::start(tool.stdin(), 0);
    ice.wait_for_mount("/live", Duration::from_secs(20));
    tool.wait_log("streaming (PUT)", Duration::from_secs(10));
    let before = ice.listen("/live", 32 * 1024, Duration::from_secs(20));
    assert_eq!(decode_mp3(&before, ice.dir(), "before").0, 48_000);

    // Server down: the tool notices, and its input keeps flowing.
    ice.kill();
    tool.wait_log("connection lost", Duration::from_secs(20));
    let (stdin, paced1) = writer.stop();
    // 20 s of audio as fast as possible: 3.84 MB, sixty times a pipe buffer. If the tool stopped
    // reading while disconnected, this would block and miss the deadline.
    let (stdin, burst_frames) = burst(stdin, paced1, 20);
    // A retry has found the server down (the first comes 0.5 s after the loss: a restart quicker
    // than that would leave nothing to log).
    tool.wait_log("connection refused", Duration::from_secs(20));

    // Back up: the source returns within 3 s of the server accepting connections (retry
    // delays are capped at 2 s), and a new listener gets decodable audio.
    let writer = Paced::start(stdin, paced1 + burst_frames);
    ice.restart();
    let up = Instant::now();
    ice.wait_for_mount("/live", Duration::from_secs(3));
    eprintln!("source back on the mount {:?} after the server accepted connections", up.elapsed());
    let after = ice.listen("/live", 32 * 1024, Duration::from_secs(20));
    let (rate, channels, samples) = decode_mp3(&after, ice.dir(), "after");
    assert_eq!((rate, channels), (48_000, 2));
    assert!(samples > 0);

    let (stdin, paced2) = writer.stop();
    drop(stdin);
    let (status, report) = tool.finish(Duration::from_secs(20));
    eprintln!("{report}");
    assert!(status.success(), "{report}");
    // Every byte written was read, and what came while disconnected was discarded and counted.
    let written = paced1 + burst_frames + paced2;
    assert_eq!(number_after(&report, "done: "), written, "{report}");
    let discarded = number_after(&report, "discarded ");
    assert!(discarded >= burst_frames, "{report}");
    // The counters are input frames: what was sent, discarded and dropped adds up to the input.
    let (sent, dropped) = (number_after(&report, "sent "), number_after(&report, "dropped "));
    assert_eq!(sent + discarded + dropped, written, "{report}");
    assert!(report.contains("of audio discarded while disconnected"), "{report}");
    // Each state change is logged once, not once per retry.
    assert_eq!(report.matches("connection refused").count(), 1, "{report}");
    assert_no_password(&report, ice.source_password());
}

#[test]
fn wrong_password_exits_1_naming_401_and_the_mount_not_the_password() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let ice = Icecast::start();
    let bad = ice.dir().join("bad-password");
    let wrong = format!("{}-wrong", ice.source_password());
    std::fs::write(&bad, &wrong).unwrap();
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let url = ice.url("/secret");
    let mut tool = Tool::spawn(&["--url", &url, "--password-file", bad.to_str().unwrap()], &[]);
    // stdin stays open and silent: the tool must end by itself.
    let stdin = tool.stdin();
    let (status, report) = tool.finish(Duration::from_secs(15));
    drop(stdin);
    assert_eq!(status.code(), Some(1), "{report}");
    assert!(report.contains("401") && report.contains("/secret"), "{report}");
    assert_no_password(&report, &wrong);
    assert_no_password(&report, ice.source_password());
}

#[test]
fn password_from_environment_is_neither_in_cmdline_nor_output() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let ice = Icecast::start();
    let url = ice.url("/env");
    let password = ice.source_password().to_string();
    let mut tool = Tool::spawn(&["--url", &url], &[("VINYL_ICECAST_PASSWORD", &password)]);
    let writer = Paced::start(tool.stdin(), 0);
    ice.wait_for_mount("/env", Duration::from_secs(20));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", tool.0.child.id())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("/env"), "{cmdline}");
    assert_no_password(&cmdline, &password);
    tool.signal(nix::sys::signal::Signal::SIGUSR1);
    tool.wait_log("so far:", Duration::from_secs(10));
    writer.stop();
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
    assert_no_password(&report, &password);
}

#[test]
fn metadata_lines_become_the_title() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let ice = Icecast::start();
    let url = ice.url("/titled");
    let pw = pw_arg(&ice);
    let fifo = ice.dir().join("title.fifo");
    let mut tool =
        Tool::spawn(&["--url", &url, "--password-file", &pw, "--metadata-fifo", fifo.to_str().unwrap()], &[]);
    let writer = Paced::start(tool.stdin(), 0);
    ice.wait_for_mount("/titled", Duration::from_secs(20));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&fifo).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The tool holds the FIFO open, so opening it for writing does not block.
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all("Side 1 · Ørsted: Café Olé €\n".as_bytes()).unwrap();
    drop(w);
    ice.wait_for_mount_where("/titled", "the first title", Duration::from_secs(20), |m| {
        m["title"] == "Side 1 · Ørsted: Café Olé €"
    });
    // What players get (ICY metadata, in the mount's charset): the same UTF-8 bytes, not `?` or
    // Latin-1 (the configuration sets <charset>UTF-8</charset>, as the README asks).
    let heard = ice.icy_title("/titled", Duration::from_secs(20));
    assert_eq!(String::from_utf8_lossy(&heard), "Side 1 · Ørsted: Café Olé €");
    // And as ffmpeg (ffprobe, the library behind mpv's and many players' network input) shows it.
    let mut probe = Command::new("ffprobe");
    probe.args([
        "-v",
        "error",
        "-icy",
        "1",
        "-show_entries",
        "format_tags=StreamTitle",
        "-of",
        "default=nw=1:nk=1",
    ]);
    probe.arg(&url);
    let out = common::run(&mut probe, Duration::from_secs(60));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Side 1 · Ørsted: Café Olé €", "{out:?}");
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(b"Side B - Track 2\n").unwrap();
    drop(w);
    ice.wait_for_mount_where("/titled", "the second title", Duration::from_secs(20), |m| {
        m["title"] == "Side B - Track 2"
    });
    writer.stop();
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
    assert_no_password(&report, ice.source_password());
}

/// The stream's titles as vinyl-up wires them: the listener's events (written by the test as
/// vinyl-listen writes them, O_APPEND) → `vinyl-rec auto --events RUN/events --title-fifo
/// RUN/title` → `vinyl-mp3-icecast --metadata-fifo RUN/title`, fed music at real time → a real
/// icecast2. Auto has no ring: it records nothing here (its recordings are tests/auto.rs's).
struct Titled {
    ice: Icecast,
    run: tempfile::TempDir,
    tool: Tool,
    writer: Paced,
    auto: Proc,
    /// The titles set so far, in order.
    said: Vec<&'static str>,
}

const TITLED: &str = "/vinyl.mp3";

impl Titled {
    fn start() -> Titled {
        let ice = Icecast::start();
        let run = tempfile::tempdir().unwrap();
        let (tool, writer) = Titled::encoder(&ice, run.path());
        let mut a = Command::new(common::bin_dir().join("vinyl-rec"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
            a.env_remove(k);
        }
        let r = run.path();
        a.arg("auto").arg("--events").arg(r.join("events")).arg("--title-fifo").arg(r.join("title"));
        a.env("VINYL_CONFIG", "/dev/null").env("VINYL_RUN_DIR", r).env("VINYL_RING", r.join("no-ring"));
        a.env("VINYL_RECORDINGS", r.join("rec")).env("VINYL_LIBRARY", r.join("library.db"));
        a.env_remove("NOTIFY_SOCKET");
        let auto = Proc::spawn(a, false);
        auto.wait_line("auto: following");
        Titled { ice, run, tool, writer, auto, said: Vec::new() }
    }

    /// A vinyl-mp3-icecast on RUN/title, streaming; returns once Icecast lists the mount.
    fn encoder(ice: &Icecast, run: &Path) -> (Tool, Paced) {
        let (url, pw, fifo) = (ice.url(TITLED), pw_arg(ice), run.join("title"));
        let mut tool = Tool::spawn(
            &["--url", &url, "--password-file", &pw, "--metadata-fifo", fifo.to_str().unwrap()],
            &[],
        );
        let writer = Paced::start(tool.stdin(), 0);
        ice.wait_for_mount(TITLED, Duration::from_secs(20));
        (tool, writer)
    }

    /// The listener writes `events`; auto should then set `title`.
    fn says(&mut self, events: &[serde_json::Value], title: &'static str) {
        let events_file = self.run.path().join("events");
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(events_file).unwrap();
        for e in events {
            writeln!(f, "{e}").unwrap();
        }
        self.said.push(title);
    }

    /// Waits until Icecast's status shows the last title set, then checks what a new ICY listener
    /// (`Icy-MetaData: 1`) reads: it joins at the start of Icecast's burst, whose titles are
    /// those of its audio, so titles set, in order and byte for byte, up to this one. A title
    /// replaced within one metadata interval (16,000 bytes of audio) never reaches a listener, as
    /// ICY sends the title current at each interval: in order, not every one.
    fn heard(&self) {
        let want = self.said[self.said.len() - 1];
        // Icecast's status first, with auto's and the encoder's logs when it never comes.
        let start = Instant::now();
        let status = loop {
            if let Some(m) = self.ice.mount(TITLED).filter(|m| m["title"] == want) {
                break m;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{TITLED}: the title {want:?} not in Icecast's status after 30 s; last: {:?}\n{}\nauto:\n{}\nvinyl-mp3-icecast:\n{}",
                self.ice.mount(TITLED),
                self.ice.logs(),
                self.auto.stderr(),
                self.tool.0.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let icy = self.ice.icy_titles_until(TITLED, Duration::from_secs(30), |t| t == want.as_bytes());
        let icy: Vec<String> = icy.iter().map(|t| String::from_utf8_lossy(t).into_owned()).collect();
        let mut said = self.said.iter();
        let in_order = icy.iter().all(|t| said.any(|s| s == t));
        assert!(
            in_order && icy.last().is_some_and(|t| t == want),
            "an ICY listener's StreamTitles: {icy:?}, not in the order of {:?}, up to the last; status: {status}\n\
             auto:\n{}\nvinyl-mp3-icecast:\n{}",
            self.said,
            self.auto.stderr(),
            self.tool.0.stderr()
        );
    }

    /// Kills the encoder (SIGKILL, a crash) and starts another on the same FIFO, as systemd's
    /// `Restart=` would; returns once it streams, its mount listed again without a title.
    fn restart_encoder(&mut self) {
        self.tool.signal(nix::sys::signal::Signal::SIGKILL);
        self.ice.wait_until_mount_gone(TITLED, Duration::from_secs(30));
        let (tool, writer) = Titled::encoder(&self.ice, self.run.path());
        let old = std::mem::replace(&mut self.tool, tool);
        std::mem::replace(&mut self.writer, writer).stop();
        let _ = old.finish(Duration::from_secs(20));
    }

    /// Stops auto and the encoder: both exit 0, no password in the encoder's log.
    fn finish(self) {
        self.auto.signal(nix::sys::signal::Signal::SIGTERM);
        let (code, _, log) = self.auto.finish();
        assert_eq!(code, Some(0), "vinyl-rec auto:\n{log}");
        self.writer.stop();
        let (status, report) = self.tool.finish(Duration::from_secs(20));
        assert!(status.success(), "{report}");
        assert_no_password(&report, self.ice.source_password());
    }
}

/// A frame `seconds` after the start of the timeline.
fn at(seconds: u64) -> u64 {
    seconds * u64::from(RATE)
}

/// The title a recognised side gives the stream, end to end ([`Titled`]): Icecast's status and
/// an ICY listener get the template at the needle drop, `Artist – Title` at the recognition and
/// at the next track (the en dash, the accent and the apostrophe intact), and the template again
/// at the next side.
#[test]
fn a_recognised_side_titles_the_stream_artist_and_title_at_icecast_through_auto() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let mut t = Titled::start();
    let drop_at = at(10);
    t.says(
        &[
            json!({"event":"side_start","frame":drop_at,"at":drop_at,"side":1}),
            json!({"event":"track_start","frame":drop_at,"at":drop_at,"side":1,"track":1}),
        ],
        "Side 1 · Track 1",
    );
    t.heard();
    t.says(
        &[json!({"event":"recognized","frame":drop_at,"at":at(22),"artist":"Björk","album":"Début","side":"A",
            "track":1,"title":"Human Behaviour","confidence":0.91,"speed_ratio":1.004,"offset_s":-0.5})],
        "Björk – Human Behaviour",
    );
    t.heard();
    t.says(
        &[json!({"event":"track_start","frame":at(250),"at":at(250),"side":1,"track":2,
            "title":"There's More to Life Than This"})],
        "Björk – There's More to Life Than This",
    );
    t.heard();
    t.says(
        &[
            json!({"event":"side_end","frame":at(600),"at":at(600),"side":1,"reason":"lift"}),
            json!({"event":"side_start","frame":at(640),"at":at(640),"side":2}),
            json!({"event":"track_start","frame":at(640),"at":at(640),"side":2,"track":1}),
        ],
        "Side 2 · Track 1",
    );
    t.heard();
    t.finish();
}

/// An encoder that crashes mid-track and is started again ([`Titled`]) gets the title back from
/// auto within its repeat (5 s), not at the next track: a FIFO keeps nothing for a reader that
/// was not there.
#[test]
fn a_restarted_encoder_gets_the_recognised_title_back_without_a_new_track() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let mut t = Titled::start();
    t.says(
        &[
            json!({"event":"side_start","frame":at(10),"at":at(10),"side":1}),
            json!({"event":"track_start","frame":at(10),"at":at(10),"side":1,"track":1}),
            json!({"event":"recognized","frame":at(10),"at":at(22),"artist":"Ørsted Café","album":"Olé",
                "side":"B","track":1,"title":"Jóga","confidence":0.9,"speed_ratio":1.0,"offset_s":0.0}),
        ],
        "Ørsted Café – Jóga",
    );
    t.heard();
    t.restart_encoder();
    let started = Instant::now();
    t.heard();
    eprintln!("the restarted encoder had the title again after {:?}", started.elapsed());
    t.finish();
}

#[test]
fn a_taken_mount_is_retried_and_taken_over_when_free() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let ice = Icecast::start();
    let url = ice.url("/shared");
    let pw = pw_arg(&ice);
    let mut first = Tool::spawn(&["--url", &url, "--password-file", &pw, "--name", "first"], &[]);
    let w1 = Paced::start(first.stdin(), 0);
    ice.wait_for_mount_where("/shared", "the first source", Duration::from_secs(20), |m| {
        m["server_name"] == "first"
    });

    let mut second = Tool::spawn(&["--url", &url, "--password-file", &pw, "--name", "second"], &[]);
    let w2 = Paced::start(second.stdin(), 0);
    second.wait_log("403", Duration::from_secs(20));
    assert_eq!(ice.mount("/shared").unwrap()["server_name"], "first");

    first.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, report1) = first.finish(Duration::from_secs(20));
    assert!(status.success(), "{report1}");
    w1.stop();
    ice.wait_for_mount_where("/shared", "the second source", Duration::from_secs(30), |m| {
        m["server_name"] == "second"
    });
    second.wait_log("streaming (PUT)", Duration::from_secs(10));

    w2.stop();
    let (status, report2) = second.finish(Duration::from_secs(20));
    assert!(status.success(), "{report2}");
    // Logged once per change of state: a 403 again after another failure (a retry that timed
    // out on a loaded machine) is a new state, a 403 right after a 403 is not.
    let states: Vec<&str> = report2.lines().filter(|l| l.contains(&url)).collect();
    assert!(states.iter().any(|l| l.contains("403")), "the busy mount is logged:\n{report2}");
    assert!(
        !states.windows(2).any(|w| w[0].contains("403") && w[1].contains("403")),
        "the busy mount is logged once, not once a retry:\n{report2}"
    );
    assert_no_password(&report2, ice.source_password());
}

#[test]
fn sigterm_while_streaming_flushes_closes_and_exits_0() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let ice = Icecast::start();
    let url = ice.url("/term");
    let pw = pw_arg(&ice);
    let mut tool = Tool::spawn(&["--url", &url, "--password-file", &pw], &[]);
    let writer = Paced::start(tool.stdin(), 0);
    ice.wait_for_mount("/term", Duration::from_secs(20));
    tool.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, report) = tool.finish(Duration::from_secs(20));
    writer.stop();
    assert!(status.success(), "{report}");
    assert!(report.contains("SIGTERM: stopped after flushing"), "{report}");
    // Everything encoded was sent: nothing discarded, nothing dropped.
    assert_eq!(number_after(&report, "discarded "), 0, "{report}");
    assert_eq!(number_after(&report, "dropped "), 0, "{report}");
    ice.wait_until_mount_gone("/term", Duration::from_secs(20));
}

// ---------------------------------------------------------------------------------------------
// --output

/// Runs the tool over `pcm` to a file and returns (report, decoded rate, channels, samples).
fn encode_to_file(args: &[&str], pcm: Vec<u8>, dir: &Path) -> (String, u32, u16, u64) {
    let out = dir.join("out.mp3");
    let mut all = vec!["--output", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut tool = Tool::spawn(&all, &[]);
    let mut stdin = tool.stdin();
    common::with_deadline(Duration::from_secs(60), move || stdin.write_all(&pcm).unwrap());
    let (status, report) = tool.finish(Duration::from_secs(60));
    assert!(status.success(), "{report}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&out).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let bytes = std::fs::read(&out).unwrap();
    assert_whole_frames(&bytes, "output file");
    let (rate, ch, samples) = decode_mp3_file(&out, &dir.join("out.wav"));
    (report, rate, ch, samples)
}

/// The stated timing, checked against mpg123's decode. A file gets a LAME tag, and a gapless
/// decoder returns exactly the input. Output without the tag (a pipe) decodes to what the last
/// line says: `before` = 576 encoder delay + 529 decoder delay, the input, then `after` = LAME's
/// padding - 529, where LAME pads to whole 1152-sample frames and adds one more frame when that
/// padding would be under 576 samples (lame.c, lame_encode_flush), so 576 <= padding < 576 + 1152.
fn assert_documented_length(report: &str, input: u64, decoded: u64, tagged: bool) {
    assert_eq!(number_after(report, "done: "), input, "{report}");
    assert_eq!(number_after(report, "the input's "), input, "{report}");
    if tagged {
        assert!(report.contains("after a LAME tag frame; a gapless decoder"), "{report}");
        assert_eq!(decoded, input, "{report}");
    } else {
        let (before, after) = stated_before_after(report);
        assert_eq!(before, 576 + 529, "{report}");
        assert!((576..576 + 1152).contains(&(after + 529)), "after {after}: {report}");
        assert_eq!(decoded, before + input + after, "{report}");
    }
}

/// The samples the last line says a decoder returns before and after the input (no LAME tag).
fn stated_before_after(report: &str) -> (u64, u64) {
    (number_after(report, "a decoder returns "), number_after(report, " samples, then "))
}

#[test]
fn output_file_decodes_to_exactly_the_input_length() {
    let dir = tempfile::tempdir().unwrap();
    let frames = 3 * RATE as u64 + 1234;
    let (report, rate, ch, decoded) = encode_to_file(&[], music(RATE, 2, 0, frames), dir.path());
    assert_eq!((rate, ch), (48_000, 2));
    assert_documented_length(&report, frames, decoded, true);
}

#[test]
fn output_mono_44k1_and_24_bit_keep_their_shape() {
    let dir = tempfile::tempdir().unwrap();
    let frames = 2 * 44_100 + 17;
    // 24-bit packed: widen the 16-bit music.
    let pcm16 = music(44_100, 1, 0, frames);
    let pcm24: Vec<u8> = pcm16.chunks(2).flat_map(|s| [0, s[0], s[1]]).collect();
    let (report, rate, ch, decoded) = encode_to_file(
        &["--rate", "44100", "--channels", "1", "--format", "s24_3le", "--vbr", "2"],
        pcm24,
        dir.path(),
    );
    assert_eq!((rate, ch), (44_100, 1));
    assert_documented_length(&report, frames, decoded, true);
}

#[test]
fn output_to_stdout_is_a_decodable_stream() {
    let dir = tempfile::tempdir().unwrap();
    let frames = RATE as u64 + 100;
    let mut tool = Tool::spawn_with(&["--output", "-"], &[], Stdio::piped());
    let mut out = tool.0.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    let mut stdin = tool.stdin();
    let pcm = music(RATE, 2, 0, frames);
    common::with_deadline(Duration::from_secs(60), move || stdin.write_all(&pcm).unwrap());
    let (status, report) = tool.finish(Duration::from_secs(60));
    assert!(status.success(), "{report}");
    let mp3 = reader.join().unwrap();
    assert_whole_frames(&mp3, "stdout");
    let (_, _, decoded) = decode_mp3(&mp3, dir.path(), "stdout");
    assert_documented_length(&report, frames, decoded, false);
}

#[test]
fn sigint_on_output_flushes_everything_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("term.mp3");
    let mut tool = Tool::spawn(&["--output", out.to_str().unwrap()], &[]);
    let mut stdin = tool.stdin();
    let written = 2 * RATE as u64;
    let pcm = music(RATE, 2, 0, written);
    let stdin = common::with_deadline(Duration::from_secs(60), move || {
        stdin.write_all(&pcm).unwrap();
        stdin
    });
    tool.signal(nix::sys::signal::Signal::SIGINT);
    let (status, report) = tool.finish(Duration::from_secs(20));
    drop(stdin);
    assert!(report.contains("SIGINT: stopped after flushing"), "{report}");
    assert!(status.success(), "{report}");
    // It read what the pipe gave it before the signal (at most a pipe buffer short of all)…
    let read = number_after(&report, "done: ");
    assert!(read <= written && read + 65536 / 4 >= written, "read {read} of {written}: {report}");
    // …and the file holds all of that, flushed.
    let (_, _, decoded) = decode_mp3_file(&out, &dir.path().join("term.wav"));
    assert_documented_length(&report, read, decoded, true);
}

/// Runs the tool with `args` over `pcm`, its stdout into `stdout` (a file or a pipe that is
/// read to the end); returns the report and, for a pipe, the MP3.
fn encode_with(args: &[&str], pcm: Vec<u8>, stdout: Option<&Path>) -> (String, Vec<u8>) {
    let out = match stdout {
        Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
        None => Stdio::piped(),
    };
    let mut tool = Tool::spawn_with(args, &[], out);
    let reader = tool.0.child.stdout.take().map(|mut o| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            o.read_to_end(&mut v).unwrap();
            v
        })
    });
    let mut stdin = tool.stdin();
    common::with_deadline(Duration::from_secs(60), move || stdin.write_all(&pcm).unwrap());
    let (status, report) = tool.finish(Duration::from_secs(60));
    assert!(status.success(), "{report}");
    (report, reader.map(|r| r.join().unwrap()).unwrap_or_default())
}

/// Decodes `mp3` to interleaved s16 with `decoder` ("mpg123" or "ffmpeg"), both in their
/// default (gapless-aware) mode.
fn decode_pcm(decoder: &str, mp3: &Path) -> Vec<i16> {
    let mut cmd = Command::new(decoder);
    match decoder {
        "mpg123" => cmd.args(["-q", "-s"]).arg(mp3),
        _ => cmd.args(["-v", "error", "-i"]).arg(mp3).args(["-f", "s16le", "-"]),
    };
    let out = common::run_ok(&mut cmd, Duration::from_secs(60));
    out.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

fn ffprobe_duration(mp3: &Path) -> f64 {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]).arg(mp3);
    let out = common::run_ok(&mut cmd, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().unwrap_or_else(|_| panic!("{}: {text:?}", common::describe(&cmd)))
}

/// Where `marker` (mono) sits in channel 0 of the stereo `pcm`, searched from `from` over
/// `span` positions by cross-correlation; panics unless the best match is a clear one.
fn locate(pcm: &[i16], marker: &[i16], from: usize, span: usize) -> usize {
    let energy: f64 = marker.iter().map(|&m| (m as f64).powi(2)).sum();
    let (mut best, mut at) = (f64::MIN, 0);
    for pos in from..from + span {
        let c: i64 = marker.iter().enumerate().map(|(i, &m)| m as i64 * pcm[2 * (pos + i)] as i64).sum();
        if c as f64 > best {
            (best, at) = (c as f64, pos);
        }
    }
    assert!(best > 0.5 * energy, "no clear marker: best correlation {:.2}", best / energy);
    at
}

/// Silence with a burst of white noise (the marker) at `at`, stereo s16le; each marker sample
/// held for `hold` frames (2 for input at twice the MP3's rate, so the resampled MP3 carries the
/// marker itself).
fn marked_silence(frames: u64, at: u64, marker: &[i16], hold: usize) -> Vec<u8> {
    let mut pcm = vec![0u8; frames as usize * 4];
    for (i, &m) in marker.iter().flat_map(|m| std::iter::repeat_n(m, hold)).enumerate() {
        let o = (at as usize + i) * 4;
        pcm[o..o + 2].copy_from_slice(&m.to_le_bytes());
        pcm[o + 2..o + 4].copy_from_slice(&m.to_le_bytes());
    }
    pcm
}

#[test]
fn decoders_return_the_input_where_the_last_line_says() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x9e37_79b9u32;
    let marker: Vec<i16> = (0..4800)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((seed >> 16) as i16) / 4
        })
        .collect();
    struct Case {
        rate: u32,
        flags: &'static [&'static str],
        frames: u64,
        at: u64,
        out_rate: u32,
        /// Before and after the input, as the issue measured them with mpg123 1.31 and ffmpeg 5.1.
        measured: Option<(u64, u64)>,
    }
    let cases = [
        Case {
            rate: 48_000,
            flags: &[],
            frames: 480_123,
            at: 200_000,
            out_rate: 48_000,
            measured: Some((1105, 308)),
        },
        Case {
            rate: 24_000,
            flags: &["--bitrate", "128"],
            frames: 72_077,
            at: 24_000,
            out_rate: 24_000,
            measured: None,
        },
        Case { rate: 96_000, flags: &[], frames: 288_077, at: 96_000, out_rate: 48_000, measured: None },
    ];
    for Case { rate, flags, frames, at, out_rate, measured } in cases {
        let case = format!("{rate} Hz {flags:?}");
        let hold = (rate / out_rate) as usize;
        let pcm = marked_silence(frames, at, &marker, hold);
        let at_out = at / hold as u64;
        let rate_arg = rate.to_string();
        let mut args = vec!["--rate", &rate_arg];
        args.extend_from_slice(flags);
        // Through a pipe: no LAME tag, so decoders return the encoder's and their own delay.
        let (report, mp3) = encode_with(&[&args[..], &["--output", "-"]].concat(), pcm.clone(), None);
        let piped = dir.path().join("piped.mp3");
        std::fs::write(&piped, &mp3).unwrap();
        let (before, after) = stated_before_after(&report);
        let input = number_after(&report, "the input's ");
        assert!(input.abs_diff(frames / hold as u64) <= 1, "{case}: {report}");
        if let Some(m) = measured {
            assert_eq!((before, after), m, "{case}: {report}");
        }
        // Into a file: the LAME tag lets them return exactly the input.
        let file = dir.path().join("file.mp3");
        let (tagged, _) =
            encode_with(&[&args[..], &["--output", file.to_str().unwrap()]].concat(), pcm, None);
        assert_eq!(number_after(&tagged, "the input's "), input, "{case}: {tagged}");
        for decoder in ["mpg123", "ffmpeg"] {
            let pcm = decode_pcm(decoder, &piped);
            let found = locate(&pcm, &marker, at_out as usize, 3000) as u64;
            eprintln!(
                "{case}: {decoder}, no tag: marker at {found} (input {at_out}), {} samples",
                pcm.len() / 2
            );
            assert_eq!(found, at_out + before, "{case}: {decoder}: {report}");
            assert_eq!((pcm.len() / 2) as u64, before + input + after, "{case}: {decoder}: {report}");
            let pcm = decode_pcm(decoder, &file);
            let found = locate(&pcm, &marker, at_out as usize - 1000, 3000) as u64;
            assert_eq!(found, at_out, "{case}: {decoder}, tagged");
            assert_eq!((pcm.len() / 2) as u64, input, "{case}: {decoder}, tagged: {tagged}");
        }
    }
}

#[test]
fn a_file_has_a_lame_tag_so_decoders_return_exactly_the_input_and_a_pipe_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let frames = 10 * RATE as u64 + 25_441; // 10.53 s
    let pcm = music(RATE, 2, 0, frames);
    for (name, args) in [("vbr", &["--vbr", "2"][..]), ("cbr", &["--bitrate", "320"][..])] {
        let file = dir.path().join(format!("{name}.mp3"));
        let mut all = vec!["--output", file.to_str().unwrap()];
        all.extend_from_slice(args);
        let (report, _) = encode_with(&all, pcm.clone(), None);
        let bytes = std::fs::read(&file).unwrap();
        let first = FrameHeader::parse(&bytes).unwrap();
        let word: &[u8] = if name == "vbr" { b"Xing" } else { b"Info" };
        assert!(bytes[..first.len].windows(4).any(|w| w == word), "{name}: no {word:?} frame first");
        for decoder in ["mpg123", "ffmpeg"] {
            let decoded = (decode_pcm(decoder, &file).len() / 2) as u64;
            assert_eq!(decoded, frames, "{name}: {decoder}: {report}");
        }
        // ffprobe's duration is the tag's frame count: the input plus delay and padding, less
        // than two frames more.
        let (got, want) = (ffprobe_duration(&file), frames as f64 / RATE as f64);
        eprintln!("{name}: ffprobe {got:.6} s for {want:.6} s of input");
        assert!(
            got >= want && got - want < 2.0 * 1152.0 / RATE as f64,
            "{name}: ffprobe {got} s for {want} s"
        );
        if common::have("mp3val") {
            let mut cmd = Command::new("mp3val");
            cmd.arg(&file);
            let out = common::run(&mut cmd, Duration::from_secs(60));
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(!said.contains("no VBR header") && !said.contains("ERROR"), "{name}: mp3val: {said}");
        }
    }
    // Stdout redirected to a file (`> file`) is a file too; a pipe gets no tag frame.
    let redirected = dir.path().join("redirected.mp3");
    let (report, _) = encode_with(&["--output", "-", "--vbr", "2"], pcm.clone(), Some(&redirected));
    assert_eq!((decode_pcm("mpg123", &redirected).len() / 2) as u64, frames, "{report}");
    let (report, mp3) = encode_with(&["--output", "-", "--vbr", "2"], pcm, None);
    let first = FrameHeader::parse(&mp3).unwrap();
    assert!(!mp3[..first.len].windows(4).any(|w| w == b"Xing" || w == b"Info"), "a tag in a pipe");
    assert!(!report.contains("LAME tag"), "{report}");
}

#[test]
fn a_resampled_file_is_counted_in_the_mp3s_samples() {
    let dir = tempfile::tempdir().unwrap();
    let frames = 3 * 96_000 + 1; // 96 kHz in, 48 kHz out
    let pcm = music(96_000, 2, 0, frames);
    let file = dir.path().join("r96.mp3");
    let (report, _) =
        encode_with(&["--rate", "96000", "--output", file.to_str().unwrap()], pcm.clone(), None);
    assert!(report.contains(&format!("done: {frames} frames in at 96000 Hz")), "{report}");
    assert!(report.contains("samples at 48000 Hz"), "{report}");
    let stated = number_after(&report, "the input's ");
    assert!(
        stated.abs_diff(frames / 2) <= 1,
        "{frames} frames at 96 kHz stated as {stated} at 48 kHz: {report}"
    );
    let decoded = decode_pcm("mpg123", &file);
    assert_eq!((decoded.len() / 2) as u64, stated, "{report}");
    // Through a pipe (no tag), the stated before, input and after add up to what decodes.
    let (report, mp3) = encode_with(&["--rate", "96000", "--output", "-"], pcm, None);
    let (rate, _, decoded) = decode_mp3(&mp3, dir.path(), "r96-piped");
    assert_eq!(rate, 48_000);
    let (before, after) = stated_before_after(&report);
    assert_eq!(decoded, before + number_after(&report, "the input's ") + after, "{report}");
}

// ---------------------------------------------------------------------------------------------
// Liquidsoap's harbor: a second server implementation

#[test]
fn a_mistyped_mount_on_liquidsoap_is_named_as_not_found_and_the_right_one_streams() {
    if !common::tier(&["liquidsoap"]) {
        return;
    }
    let harbor = common::liquidsoap::Harbor::start("live", "harbor-secret");
    let env = [("VINYL_ICECAST_PASSWORD", "harbor-secret")];
    let mut typo = Tool::spawn(&["--url", &harbor.url("/lvie")], &env);
    let writer = Paced::start(typo.stdin(), 0);
    typo.wait_log("404", Duration::from_secs(30));
    writer.stop();
    let (status, report) = typo.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}\n{}", harbor.log());
    let line = report.lines().find(|l| l.contains("404")).unwrap();
    assert!(
        line.contains("PUT /lvie: 404 Not found: the server has no mount /lvie: check the mount point in the URL; retrying"),
        "{line}"
    );
    assert!(!report.contains("does not accept") && !report.contains("SOURCE"), "{report}");
    assert_eq!(report.matches("404").count(), 1, "{report}");
    // The same tool and server with the right mount stream.
    let mut right = Tool::spawn(&["--url", &harbor.url("/live")], &env);
    let writer = Paced::start(right.stdin(), 0);
    right.wait_log("streaming (PUT)", Duration::from_secs(30));
    writer.stop();
    let (status, report) = right.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}\n{}", harbor.log());
    assert_no_password(&report, "harbor-secret");
}

// ---------------------------------------------------------------------------------------------
// Usage errors

#[test]
fn usage_errors_exit_2_and_never_echo_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let pwf = dir.path().join("pw");
    std::fs::write(&pwf, "pw-file-secret\n").unwrap();
    let pwf = pwf.to_str().unwrap();
    for (args, env, want) in [
        (
            vec!["--url", "http://source:hunter2@127.0.0.1:8000/live", "--password-file", pwf],
            vec![],
            "credentials",
        ),
        (vec!["--url", "http://127.0.0.1:8000/live"], vec![], "no password"),
        (vec!["--url", "http://127.0.0.1:8000/live"], vec![("VINYL_ICECAST_PASSWORD", "")], "empty"),
        (
            vec!["--url", "http://127.0.0.1:8000/live", "--password-file", pwf, "--channels", "3"],
            vec![],
            "1 or 2 channels",
        ),
        (vec!["--url", "http://127.0.0.1:8000/", "--password-file", pwf], vec![], "no mount"),
        (vec!["--output", "-", "--bitrate", "333"], vec![], "not an MP3 bitrate"),
        (vec!["--output", "-", "--rate", "22050"], vec![], "at 22050 Hz"),
        (vec!["--url", "http://h/l", "--password-file", pwf, "--name", "a\nb"], vec![], "--name"),
        (vec!["--output", "-", "--metadata-fifo", "/nonexistent/t"], vec![], "--url"),
    ] {
        let mut cmd = Command::new(BIN);
        cmd.args(&args).env_remove("VINYL_ICECAST_PASSWORD").stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let what = common::describe(&cmd);
        let out = common::run(&mut cmd, Duration::from_secs(20));
        common::assert_status(&what, &out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{what}: {err}");
        assert_no_password(&err, "hunter2");
        assert_no_password(&err, "pw-file-secret");
    }
}

// ---------------------------------------------------------------------------------------------
// Scripted fake servers (faults icecast2 cannot produce on demand)

/// One source connection as the fake server saw it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

/// Reads a request head; returns it and whatever body bytes came with it.
fn read_request(s: &mut TcpStream) -> (String, Vec<u8>) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = all.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&all[..end]).into_owned();
            return (head, all[end + 4..].to_vec());
        }
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            return (String::from_utf8_lossy(&all).into_owned(), Vec::new());
        }
        all.extend_from_slice(&buf[..n]);
    }
}

/// Reads until `want` body bytes have arrived (or the peer stops).
fn read_body(s: &mut TcpStream, mut body: Vec<u8>, want: usize) -> Vec<u8> {
    let mut buf = [0u8; 8192];
    while body.len() < want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    body
}

/// A server on port 0 that runs `script` for each connection and records what it saw.
fn fake_server(
    script: impl Fn(usize, TcpStream, &Mutex<Vec<Seen>>) + Send + 'static,
) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(conn) = conn else { break };
            script(i, conn, &s2);
        }
    });
    (port, seen)
}

#[test]
fn fake_server_dropping_connections_gets_reconnects_that_start_on_frame_boundaries() {
    // Each connection: answer (100 Continue + 200, or a direct 200, alternately), take 20 KB,
    // hang up.
    let (port, seen) = fake_server(|i, mut s, seen| {
        let (head, body) = read_request(&mut s);
        let answer: &[u8] = if i % 2 == 0 {
            b"HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\n\r\n"
        } else {
            b"HTTP/1.0 200 OK\r\n\r\n"
        };
        let _ = s.write_all(answer);
        let body = read_body(&mut s, body, 20_000);
        seen.lock().unwrap().push(Seen { head, body });
    });
    let url = format!("http://127.0.0.1:{port}/live");
    let mut tool = Tool::spawn(
        &["--url", &url, "--name", "fake", "--genre", "Test"],
        &[("VINYL_ICECAST_PASSWORD", "fake-secret")],
    );
    let writer = Paced::start(tool.stdin(), 0);
    common::wait_until("four source connections", Duration::from_secs(60), || {
        seen.lock().unwrap().len() >= 4
    });
    writer.stop();
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
    let auth = format!("Authorization: Basic {}", vinyl::icecast::http::base64(b"source:fake-secret"));
    for (i, c) in seen.lock().unwrap().iter().take(4).enumerate() {
        assert!(c.head.starts_with("PUT /live HTTP/1.1\r\n"), "connection {i}: {}", c.head);
        for h in [
            &auth as &str,
            "Content-Type: audio/mpeg",
            "Expect: 100-continue",
            "ice-name: fake",
            "ice-genre: Test",
        ] {
            assert!(c.head.contains(h), "connection {i}: no {h:?} in\n{}", c.head);
        }
        assert!(!c.head.to_ascii_lowercase().contains("transfer-encoding"), "{}", c.head);
        assert!(c.body.len() >= 20_000, "connection {i}: only {} bytes", c.body.len());
        assert_whole_frames(&c.body, &format!("connection {i}"));
    }
    assert!(report.matches("connection lost").count() >= 3, "{report}");
    assert_no_password(&report, "fake-secret");
}

#[test]
fn fake_server_refusing_put_gets_the_legacy_source_method() {
    let (port, seen) = fake_server(|_, mut s, seen| {
        let (head, body) = read_request(&mut s);
        if head.starts_with("PUT ") {
            let _ = s.write_all(b"HTTP/1.0 405 Method Not Allowed\r\n\r\n");
            seen.lock().unwrap().push(Seen { head, body: Vec::new() });
            return;
        }
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
        let body = read_body(&mut s, body, 10_000);
        seen.lock().unwrap().push(Seen { head, body });
    });
    let url = format!("http://127.0.0.1:{port}/old");
    let mut tool = Tool::spawn(&["--url", &url], &[("VINYL_ICECAST_PASSWORD", "old-secret")]);
    let writer = Paced::start(tool.stdin(), 0);
    common::wait_until("a SOURCE stream", Duration::from_secs(30), || {
        seen.lock().unwrap().iter().any(|c| c.head.starts_with("SOURCE ") && c.body.len() >= 10_000)
    });
    writer.stop();
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
    let seen = seen.lock().unwrap();
    assert!(seen[0].head.starts_with("PUT /old HTTP/1.1"), "{}", seen[0].head);
    assert!(seen[1].head.starts_with("SOURCE /old HTTP/1.0\r\n"), "{}", seen[1].head);
    assert!(!seen[1].head.contains("Expect:"), "{}", seen[1].head);
    assert!(seen[1].head.contains(&vinyl::icecast::http::base64(b"source:old-secret")));
    assert_whole_frames(&seen[1].body, "SOURCE body");
    assert!(report.contains("405") && report.contains("legacy SOURCE"), "{report}");
    assert_no_password(&report, "old-secret");
}

#[test]
fn a_server_that_takes_no_data_never_blocks_the_writer() {
    // Accepts the source, then never reads: the socket buffers fill and writes time out.
    let held = Arc::new(Mutex::new(Vec::new()));
    let h2 = held.clone();
    let (port, seen) = fake_server(move |_, mut s, seen| {
        let (head, _) = read_request(&mut s);
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
        seen.lock().unwrap().push(Seen { head, body: Vec::new() });
        h2.lock().unwrap().push(s);
    });
    let url = format!("http://127.0.0.1:{port}/stall");
    let mut tool =
        Tool::spawn(&["--url", &url, "--timeout", "1s", "--queue", "1s"], &[("VINYL_ICECAST_PASSWORD", "x")]);
    common::wait_until("a connection", Duration::from_secs(20), || !seen.lock().unwrap().is_empty());
    tool.wait_log("streaming (PUT)", Duration::from_secs(10));
    // 20 s of audio, 3.84 MB, as fast as possible, while nothing is read on the other side.
    let (stdin, frames) = burst(tool.stdin(), 0, 20);
    drop(stdin);
    let (status, report) = tool.finish(Duration::from_secs(30));
    assert!(status.success(), "{report}");
    assert_eq!(number_after(&report, "done: "), frames, "{report}");
    let lost = number_after(&report, "discarded ") + number_after(&report, "dropped ");
    assert!(lost > 10 * RATE as u64, "most of the burst cannot have been sent: {report}");
    assert!(report.contains("dropping whole MP3 frames") || report.contains("took no data"), "{report}");
    drop(held);
}

#[test]
fn systemd_ready_comes_with_the_first_connection() {
    let notify = common::Notify::bind();
    // A port where nothing listens yet.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/sd");
    let mut tool = Tool::spawn(
        &["--url", &url],
        &[
            ("VINYL_ICECAST_PASSWORD", "x"),
            ("NOTIFY_SOCKET", notify.path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let writer = Paced::start(tool.stdin(), 0);
    let wait = Duration::from_secs(30);
    let got = notify
        .wait_for("a disconnected STATUS", wait, |g| g.iter().any(|m| m.starts_with("STATUS=disconnected")));
    assert!(!got.iter().any(|m| m == "READY=1"), "READY before any connection: {got:?}");
    // Now a server appears on that port.
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in listener.incoming().flatten() {
            let _ = read_request(&mut s);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
            let mut sink = s.try_clone().unwrap();
            std::thread::spawn(move || std::io::copy(&mut sink, &mut std::io::sink()));
            held.push(s);
        }
    });
    notify.wait_for("READY and a streaming STATUS", wait, |g| {
        g.iter().any(|m| m == "READY=1") && g.iter().any(|m| m.starts_with("STATUS=streaming to"))
    });
    notify.wait_for("WATCHDOG", wait, |g| g.iter().any(|m| m == "WATCHDOG=1"));
    writer.stop();
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
}

#[test]
fn a_failing_server_is_logged_once_in_plain_words_and_the_discards_count_input_frames() {
    let (port, seen) = fake_server(|_, mut s, seen| {
        let (head, _) = read_request(&mut s);
        let _ = s.write_all(b"HTTP/1.0 503 Service Unavailable\r\n\r\n");
        seen.lock().unwrap().push(Seen { head, body: Vec::new() });
    });
    let url = format!("http://127.0.0.1:{port}/busy");
    let mut tool = Tool::spawn(&["--url", &url], &[("VINYL_ICECAST_PASSWORD", "x")]);
    tool.wait_log("503", Duration::from_secs(20));
    // 30 s of audio, all of it discarded: the issue saw "discarded 1441152" for 1440000 in,
    // because MP3 samples (whole frames, with the encoder's delay and padding) were counted.
    let (stdin, frames) = burst(tool.stdin(), 0, 30);
    drop(stdin);
    let (status, report) = tool.finish(Duration::from_secs(30));
    assert!(status.success(), "{report}");
    assert!(!seen.lock().unwrap().is_empty());
    assert_eq!(number_after(&report, "done: "), frames, "{report}");
    assert_eq!(number_after(&report, "discarded "), frames, "{report}");
    assert_eq!(number_after(&report, "sent "), 0, "{report}");
    assert_eq!(number_after(&report, "dropped "), 0, "{report}");
    let line = report.lines().find(|l| l.contains("503")).unwrap();
    assert_eq!(line.matches("retrying").count(), 1, "{line}");
    assert!(
        line.ends_with("503 Service Unavailable: the server failed; retrying every 2s at most"),
        "{line}"
    );
    assert_eq!(report.matches("503").count(), 1, "{report}");
}

#[test]
fn a_server_refusing_both_methods_is_retried_and_logged_once() {
    let (port, seen) = fake_server(|_, mut s, seen| {
        let (head, _) = read_request(&mut s);
        let _ =
            s.write_all(b"HTTP/1.0 405 Method Not Allowed\r\nContent-Type: text/html\r\n\r\n<html>x</html>");
        seen.lock().unwrap().push(Seen { head, body: Vec::new() });
    });
    let url = format!("http://127.0.0.1:{port}/nowhere");
    let mut tool = Tool::spawn(&["--url", &url], &[("VINYL_ICECAST_PASSWORD", "x")]);
    let writer = Paced::start(tool.stdin(), 0);
    common::wait_until("three rounds of PUT and SOURCE", Duration::from_secs(60), || {
        seen.lock().unwrap().len() >= 6
    });
    writer.stop();
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
    let seen = seen.lock().unwrap();
    let methods: Vec<&str> = seen.iter().take(6).map(|c| c.head.split(' ').next().unwrap()).collect();
    assert_eq!(methods, ["PUT", "SOURCE", "PUT", "SOURCE", "PUT", "SOURCE"]);
    assert_eq!(report.matches("trying the legacy SOURCE method").count(), 1, "{report}");
    assert_eq!(report.matches("does not accept SOURCE").count(), 1, "{report}");
}

// ---------------------------------------------------------------------------------------------
// The page in chromium

/// The page's Listen menu plays the MP3 mount (320 kbit/s, burst 64 KiB) through Media Source
/// Extensions from its first whole frame: it stays within about 2 s of the newest audio it
/// received (as an <audio> src it would play 6.5 s behind: Icecast starts a listener at a
/// 1400-byte block, mid-frame in 23 joins of 24, and chromium's FFmpeg reads 256 KiB before it
/// takes that for MP3, then plays from the first byte). A stall (the element paused) makes it
/// jump forward to the live edge again, and the page says how much it skipped.
#[test]
fn the_page_plays_the_mp3_mount_at_once_and_near_the_live_edge() {
    if !common::tier(&["icecast2", "chromium"]) {
        return;
    }
    let ice = Icecast::start();
    let url = ice.url("/page.mp3");
    let mut tool = Tool::spawn(&["--url", &url, "--password-file", &pw_arg(&ice)], &[]);
    let writer = Paced::start(tool.stdin(), 0);
    ice.wait_for_mount("/page.mp3", Duration::from_secs(20));
    // A whole burst waits for the listener, as on a mount that has streamed for a while: a
    // listener gets 62.5 KiB within 250 ms (at 320 kbit/s, 10 KiB of it could be real time).
    let burst =
        || ice.try_listen("/page.mp3", 64_000, Duration::from_millis(250)).is_ok_and(|d| d.len() >= 64_000);
    common::wait_until("Icecast holds a whole burst for a listener", Duration::from_secs(20), burst);
    let (_rig, _profile, mut b) = page_listing("mp3-web", &url);
    let t = common::web::T;
    let audio = "document.getElementById('mountAudio')";
    b.eval(&format!(
        "document.getElementById('mountSel').value = '{url}'; window.clicked = performance.now(); \
         {audio}.addEventListener('playing', () => {{ window.playing = window.playing || performance.now(); }}); true"
    ))
    .unwrap();
    b.click("listenBtn").unwrap();
    let state = format!(
        "JSON.stringify({{ t: {audio}.currentTime, how: window.vinylStats.mountPlayer.how, \
         jumps: window.vinylStats.mountPlayer.jumps, e: window.vinylStats.errors, \
         start: window.playing - window.clicked, \
         behind: {audio}.buffered.length ? {audio}.buffered.end({audio}.buffered.length - 1) - {audio}.currentTime : null }})"
    );
    b.wait_for(&format!("{audio}.currentTime > 4"), t)
        .unwrap_or_else(|e| panic!("{url}: {e}: {:?}", b.eval(&state)));
    let s: serde_json::Value = serde_json::from_str(b.eval(&state).unwrap().as_str().unwrap()).unwrap();
    // How long it took from the click ("start") is in the message, not asserted: a loaded machine
    // delays chromium's start, not the place it plays from, which is what a src gets wrong.
    assert!(s["behind"].as_f64().is_some_and(|b| b < 2.2), "it plays too far behind: {s}");
    assert_eq!(s["how"], "mse", "{s}");
    assert_eq!(s["e"], json!([]), "{s}");
    // A stall: the audio waits while the stream comes in, then the player jumps back to 1 s behind
    // the newest audio, counts it and says it.
    b.eval(&format!("{audio}.pause(); true")).unwrap();
    b.wait_for("window.vinylStats.mountPlayer.jumps >= 1", t)
        .unwrap_or_else(|e| panic!("{url}: no jump after a stall: {e}: {:?}", b.eval(&state)));
    let said = b.eval("document.getElementById('listenSub').textContent").unwrap();
    assert!(said.as_str().is_some_and(|t| t.contains("skipped") && t.contains("to stay live")), "{said:?}");
    let skipped = b.eval("window.vinylStats.mountPlayer.skipped").unwrap();
    assert!(skipped.as_f64().is_some_and(|x| x > 0.9), "a jump passes over at least the slack: {skipped:?}");
    b.eval(&format!("{audio}.play(); true")).unwrap();
    // The source leaves (the encoder stops): the page says the stream ended and that it joins it
    // again, not silence; it tries while the mount has no source (404s), and plays again once an
    // encoder is back, by itself.
    let (stdin, at) = writer.stop();
    drop(stdin);
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
    let sub = "document.getElementById('listenSub').textContent";
    b.wait_for(&format!("{sub}.includes('the stream ended') && {sub}.includes('joining it again')"), t)
        .unwrap_or_else(|e| panic!("{url}: the end is not said: {e}: {:?}", b.eval(&state)));
    // The last audio the source sent (the cushion, a second) played before the end was said.
    let unplayed = b.eval("window.vinylStats.mountPlayer.unplayed").unwrap();
    assert!(
        unplayed.as_f64().is_some_and(|u| u < 0.3),
        "{url}: seconds received but not played: {unplayed:?}"
    );
    b.wait_for("window.vinylStats.mountPlayer.ends >= 2", t).unwrap_or_else(|e| {
        panic!("{url}: no second try while the mount is gone: {e}: {:?}", b.eval(&state))
    });
    let said = b.eval(sub).unwrap();
    assert!(
        said.as_str().is_some_and(|s| s.contains("HTTP 404")),
        "a try without a source says so: {said:?}"
    );
    let mut tool = Tool::spawn(&["--url", &url, "--password-file", &pw_arg(&ice)], &[]);
    let writer = Paced::start(tool.stdin(), at);
    b.wait_for(
        &format!("window.vinylStats.mountPlayer.rejoins === 1 && {audio}.currentTime > 2 && !{audio}.paused"),
        t,
    )
    .unwrap_or_else(|e| panic!("{url}: it did not join again: {e}: {:?}", b.eval(&state)));
    let said = b.eval(sub).unwrap();
    assert!(said.as_str().is_some_and(|s| s.contains("joined again after the stream ended")), "{said:?}");
    // The server freezes with the connection open (SIGSTOP): nothing comes, and after 10 s the
    // page says so and tries again; once the server runs again it plays on.
    ice.freeze(true);
    let stalled =
        b.wait_for(&format!("window.vinylStats.mountPlayer.ends >= 3 && {sub}.includes('nothing came')"), t);
    ice.freeze(false);
    stalled.unwrap_or_else(|e| panic!("{url}: a frozen server is not noticed: {e}: {:?}", b.eval(&state)));
    b.wait_for(
        &format!("window.vinylStats.mountPlayer.rejoins === 2 && {audio}.currentTime > 2 && !{audio}.paused"),
        t,
    )
    .unwrap_or_else(|e| panic!("{url}: it did not join again after the freeze: {e}: {:?}", b.eval(&state)));
    assert_eq!(b.eval("JSON.stringify(window.vinylStats.errors)").unwrap(), "[]");
    b.click("listenBtn").unwrap();
    b.wait_for(&format!("{audio}.paused && !{audio}.src"), t).unwrap();
    writer.stop();
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
}

/// vinyl-web (its ring named after `test`, unique among the tests running at once) with `url` as
/// its MP3 mount, and its page open in a headless chromium with the mount in the Listen menu; the
/// rig and the browser's profile folder last as long as they are held.
fn page_listing(test: &str, url: &str) -> (common::web::Rig, tempfile::TempDir, common::cdp::Browser) {
    let rig = common::web::Rig::start_with(test, &[], &[("VINYL_ICECAST_URL", url)]);
    let profile = tempfile::tempdir().unwrap();
    let mut b = common::cdp::Browser::start(&profile.path().join("chromium")).expect("headless chromium");
    b.open(&format!("http://127.0.0.1:{}/", rig.port)).unwrap();
    b.wait_for("document.getElementById('mountSel').options.length === 2", common::web::T).unwrap();
    (rig, profile, b)
}

/// A stream that says it is MP3 but holds no frames (here zeros, from a server of the test's own)
/// is an error the page shows once it has read a MiB, not a buffer that grows for ever.
#[test]
fn the_page_says_an_mp3_mount_without_frames_is_not_mp3_after_a_mib() {
    if !common::tier(&["chromium"]) {
        return;
    }
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/junk.mp3", server.local_addr().unwrap().port());
    let done = Arc::new(AtomicBool::new(false));
    let serving = {
        let done = done.clone();
        std::thread::spawn(move || {
            server.set_nonblocking(true).unwrap();
            let mut clients = Vec::new();
            while !done.load(Ordering::SeqCst) {
                match server.accept() {
                    Ok((mut c, _)) => {
                        let head = "HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\
                                    Access-Control-Allow-Origin: *\r\nCache-Control: no-cache\r\n\r\n";
                        // 2 MiB of zeros, then the connection stays open like a live stream. A
                        // browser that stops reading leaves the rest unsent, not this thread stuck.
                        c.set_nonblocking(false).unwrap();
                        c.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
                        let _ = c.write_all(head.as_bytes()).and_then(|_| c.write_all(&vec![0u8; 2 << 20]));
                        clients.push(c);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };
    let (_rig, _profile, mut b) = page_listing("mp3-junk", &url);
    let t = common::web::T;
    b.eval(&format!("document.getElementById('mountSel').value = '{url}'; true")).unwrap();
    b.click("listenBtn").unwrap();
    let said = "no two MP3 frames in a row in the first MiB";
    b.wait_for(&format!("window.vinylStats.errors.some((e) => e.includes('{said}'))"), t).unwrap_or_else(
        |e| {
            panic!(
                "{url}: {e}: {:?}",
                b.eval("JSON.stringify([window.vinylStats.errors, window.vinylStats.mountPlayer])")
            )
        },
    );
    let sub = b.eval("document.getElementById('listenSub').textContent").unwrap();
    assert!(sub.as_str().is_some_and(|s| s.contains(said)), "{sub:?}");
    let how = b.eval("window.vinylStats.mountPlayer.how").unwrap();
    assert_eq!(how, json!("mse"), "the fetch itself was allowed");
    done.store(true, Ordering::SeqCst);
    serving.join().unwrap();
}

/// Where the page cannot fetch the MP3 into Media Source Extensions (a server that does not let
/// other origins read it; a browser without MediaSource for audio/mpeg), it plays the mount as an
/// `<audio>` src, as the README says, says why in its stats, and shows no error.
#[test]
fn the_page_plays_the_mp3_mount_as_a_src_where_it_cannot_fetch_it() {
    if !common::tier(&["icecast2", "chromium"]) {
        return;
    }
    let ice = Icecast::start_with(common::icecast::Options { cors: false, ..Default::default() });
    let url = ice.url("/nocors.mp3");
    let mut tool = Tool::spawn(&["--url", &url, "--password-file", &pw_arg(&ice)], &[]);
    let writer = Paced::start(tool.stdin(), 0);
    ice.wait_for_mount("/nocors.mp3", Duration::from_secs(20));
    let (_rig, _profile, mut b) = page_listing("mp3-nocors", &url);
    let t = common::web::T;
    let audio = "document.getElementById('mountAudio')";
    let state = format!(
        "JSON.stringify({{ t: {audio}.currentTime, how: window.vinylStats.mountPlayer && \
         window.vinylStats.mountPlayer.how, e: window.vinylStats.errors, src: {audio}.src }})"
    );
    let play = |b: &mut common::cdp::Browser, hide_mse: bool| -> serde_json::Value {
        let hide = if hide_mse {
            "window.hiddenMse = window.MediaSource; window.MediaSource = undefined;"
        } else {
            ""
        };
        b.eval(&format!("{hide} document.getElementById('mountSel').value = '{url}'; true")).unwrap();
        b.click("listenBtn").unwrap();
        // It plays: the src reaches the mount itself and the audio's clock moves.
        b.wait_for(&format!("{audio}.src === '{url}' && {audio}.currentTime > 1"), t)
            .unwrap_or_else(|e| panic!("{url}: {e}: {:?}", b.eval(&state)));
        let s: serde_json::Value = serde_json::from_str(b.eval(&state).unwrap().as_str().unwrap()).unwrap();
        b.click("listenBtn").unwrap();
        b.wait_for(&format!("{audio}.paused && !{audio}.src"), t).unwrap();
        if hide_mse {
            b.eval("window.MediaSource = window.hiddenMse; true").unwrap();
        }
        s
    };
    let s = play(&mut b, true);
    assert_eq!(s["how"], "src (no MediaSource for audio/mpeg)", "{s}");
    assert_eq!(s["e"], json!([]), "{s}");
    let s = play(&mut b, false);
    assert!(s["how"].as_str().is_some_and(|h| h.starts_with("src (fetch refused: ")), "{s}");
    assert_eq!(s["e"], json!([]), "{s}");
    writer.stop();
    let (status, report) = tool.finish(Duration::from_secs(20));
    assert!(status.success(), "{report}");
}
