//! Contracts every tool keeps as a process, whatever it does: SIGHUP (a closed terminal, a
//! dropped SSH session) ends a long-running tool cleanly as SIGTERM does, and an error that cannot
//! even be written to stderr still ends with the documented status, never a panic.

mod common;

use nix::sys::signal::Signal;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vinyl::pcm::{PcmSpec, unique_frames};

const DEADLINE: Duration = Duration::from_secs(60);

/// A running tool with its stdin held open by the test, its stdout drained and counted, and its
/// stderr collected.
struct Proc {
    child: Child,
    what: String,
    stdin: Option<ChildStdin>,
    out_bytes: Arc<Mutex<usize>>,
    stderr: Arc<Mutex<String>>,
    stderr_thread: Option<std::thread::JoinHandle<()>>,
}

impl Proc {
    fn start(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let what = common::describe(&cmd);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        let stderr_thread = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let out_bytes = Arc::new(Mutex::new(0));
        let count = out_bytes.clone();
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                *count.lock().unwrap() += n;
            }
        });
        let stdin = child.stdin.take();
        Proc { child, what, stdin, out_bytes, stderr, stderr_thread: Some(stderr_thread) }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_log(&self, needle: &str) {
        common::wait_until(
            &format!("{}: '{needle}' in stderr: {}", self.what, self.stderr()),
            DEADLINE,
            || self.stderr().contains(needle),
        );
    }

    fn feed(&mut self, data: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(data).unwrap();
    }

    /// Sends SIGHUP with stdin still open (only the signal can end the tool), and waits for the
    /// exit; returns the status and stderr.
    fn hang_up(mut self) -> (ExitStatus, String) {
        // `self` is dropped (killed, if still running) at the end.
        common::signal(&self.child, Signal::SIGHUP);
        let status = common::wait_deadline(&mut self.child, DEADLINE);
        drop(self.stdin.take());
        if status.is_some() {
            // The tool is gone, so its stderr ends: the thread has every line once it returns.
            let _ = self.stderr_thread.take().map(|t| t.join());
        }
        let stderr = self.stderr();
        let Some(status) = status else {
            panic!("{}: still running {DEADLINE:?} after SIGHUP\nstderr:\n{stderr}", self.what);
        };
        (status, stderr)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_clean_hangup(what: &str, status: ExitStatus, stderr: &str) {
    assert_eq!(
        status.code(),
        Some(0),
        "{what}: SIGHUP should end it with exit 0, got {status}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("SIGHUP"), "{what}: the stop on SIGHUP is not logged:\n{stderr}");
}

fn bin(name: &str) -> Command {
    let mut cmd = Command::new(common::bin_dir().join(name));
    cmd.env_remove("NOTIFY_SOCKET").env_remove("WATCHDOG_USEC");
    cmd
}

#[test]
fn sighup_ends_capture_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.raw");
    std::fs::write(&input, unique_frames(&PcmSpec::default(), 0, 48_000 * 20)).unwrap();
    let mut cmd = bin("vinyl-capture");
    cmd.env("ALSA_CONFIG_PATH", common::alsa_config_path())
        .arg("--device")
        .arg(common::file_device(&input))
        .args(["--realtime", "--duration", "1h"]);
    let p = Proc::start(cmd);
    common::wait_until("capture output", DEADLINE, || *p.out_bytes.lock().unwrap() > 20_000);
    let (status, stderr) = p.hang_up();
    assert_clean_hangup("vinyl-capture", status, &stderr);
    assert!(stderr.contains("stopped by SIGHUP"), "{stderr}");
}

#[test]
fn sighup_ends_tee_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.fifo");
    let mut cmd = bin("vinyl-tee");
    cmd.arg(&fifo);
    let p = Proc::start(cmd);
    p.wait_log("x.fifo: no reader yet");
    let (status, stderr) = p.hang_up();
    assert_clean_hangup("vinyl-tee", status, &stderr);
    assert!(stderr.contains("SIGHUP: stopping"), "{stderr}");
}

#[test]
fn sighup_ends_preroll_fill_and_tap_cleanly() {
    let ring = common::proc::Ring::new("sighup");
    let ring = ring.arg();
    let mut cmd = bin("vinyl-preroll");
    cmd.args(["fill", "--ring", ring]);
    let mut fill = Proc::start(cmd);
    fill.wait_log("created ring");
    fill.feed(&unique_frames(&PcmSpec::default(), 0, 48_000));
    let mut cmd = bin("vinyl-preroll");
    cmd.args(["tap", "--ring", ring]);
    let tap = Proc::start(cmd);
    tap.wait_log("tap from frame");
    let (status, stderr) = tap.hang_up();
    assert_clean_hangup("vinyl-preroll tap", status, &stderr);
    assert!(stderr.contains("on SIGHUP"), "{stderr}");
    let (status, stderr) = fill.hang_up();
    assert_clean_hangup("vinyl-preroll fill", status, &stderr);
    assert!(stderr.contains("stopping on SIGHUP at frame 48000"), "{stderr}");
}

#[test]
fn sighup_ends_flac_rec_with_a_finished_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hup.flac");
    let mut cmd = bin("vinyl-flac-rec");
    cmd.arg("-o").arg(&path);
    let mut p = Proc::start(cmd);
    p.wait_log("recording");
    let input = unique_frames(&PcmSpec::default(), 0, 3 * 48_000);
    p.feed(&input);
    let part = vinyl::flacrec::part_path(&path);
    common::wait_until("the recorder encoded its input", DEADLINE, || {
        std::fs::File::open(&part)
            .ok()
            .and_then(|f| vinyl::flac::recover::scan(f).ok())
            .is_some_and(|r| r.frames >= 3 * 48_000 / 4096)
    });
    let (status, stderr) = p.hang_up();
    assert_clean_hangup("vinyl-flac-rec", status, &stderr);
    assert!(stderr.contains("finished (SIGHUP)"), "{stderr}");
    assert!(!part.exists(), "{} left behind:\n{stderr}", part.display());
    let frames = common::decoded_frames(&path);
    assert!(frames.len() >= 3 * 48_000 / 4096 * 4096, "only {} frames in the file", frames.len());
    assert!(frames.iter().enumerate().all(|(i, &n)| n == i as u64), "frames out of order");
}

#[test]
fn sighup_ends_mp3_icecast_after_flushing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hup.mp3");
    let mut cmd = bin("vinyl-mp3-icecast");
    cmd.arg("--output").arg(&path);
    let mut p = Proc::start(cmd);
    // 5 s: more MP3 than the tool's 64 KiB output buffer holds, so some reaches the file.
    p.feed(&unique_frames(&PcmSpec::default(), 0, 5 * 48_000));
    common::wait_until("MP3 written", DEADLINE, || std::fs::metadata(&path).is_ok_and(|m| m.len() > 0));
    let (status, stderr) = p.hang_up();
    assert_clean_hangup("vinyl-mp3-icecast", status, &stderr);
    assert!(stderr.contains("SIGHUP: stopped after flushing"), "{stderr}");
}

#[test]
fn an_error_that_cannot_be_written_to_stderr_keeps_its_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-folder/x");
    let missing = missing.to_str().unwrap();
    let here = dir.path().to_str().unwrap();
    let cases: [(&str, Vec<&str>, i32); 6] = [
        ("vinyl-flac-rec", vec!["-o", missing], 1),
        ("vinyl-mp3-icecast", vec!["--output", missing], 1),
        ("vinyl-preroll", vec!["tap", "--ring", missing], 1),
        ("vinyl-capture", vec!["--device", "vinyl_no_such_device", "--duration", "1s"], 1),
        ("vinyl-tee", vec![here], 2),
        ("vinyl-tee", vec!["--no-such-flag"], 2),
    ];
    for (tool, args, code) in cases {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let mut cmd = bin(tool);
        cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(full);
        let what = format!("{} 2>/dev/full", common::describe(&cmd));
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
        let status = common::wait_deadline(&mut child, DEADLINE)
            .unwrap_or_else(|| panic!("{what}: still running after {DEADLINE:?}"));
        assert_eq!(status.code(), Some(code), "{what}: expected exit {code}, got {status}");
    }
}
