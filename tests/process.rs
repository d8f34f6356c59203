//! Contracts every tool keeps as a process, whatever it does: SIGHUP (a closed terminal, a
//! dropped SSH session) ends a long-running tool cleanly as SIGTERM does, and an error that cannot
//! even be written to stderr still ends with the documented status, never a panic.

mod common;

use common::proc::Proc;
use nix::sys::signal::Signal;
use std::process::{Command, Stdio};
use std::time::Duration;
use vinyl::pcm::{PcmSpec, unique_frames};

const DEADLINE: Duration = Duration::from_secs(60);

/// Sends SIGHUP with stdin still open (only the signal can end the tool) and waits for the exit;
/// returns the exit code and stderr.
fn hang_up(p: Proc) -> (Option<i32>, String) {
    p.signal(Signal::SIGHUP);
    let (code, _, stderr) = p.finish();
    (code, stderr)
}

fn assert_clean_hangup(what: &str, code: Option<i32>, stderr: &str) {
    assert_eq!(code, Some(0), "{what}: SIGHUP should end it with exit 0, got {code:?}\nstderr:\n{stderr}");
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
    let p = Proc::spawn(cmd, true);
    common::wait_until("capture output", DEADLINE, || p.out_len() > 20_000);
    let (status, stderr) = hang_up(p);
    assert_clean_hangup("vinyl-capture", status, &stderr);
    assert!(stderr.contains("stopped by SIGHUP"), "{stderr}");
}

#[test]
fn sighup_ends_tee_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.fifo");
    let mut cmd = bin("vinyl-tee");
    cmd.arg(&fifo);
    let p = Proc::spawn(cmd, true);
    p.wait_line("x.fifo: no reader yet");
    let (status, stderr) = hang_up(p);
    assert_clean_hangup("vinyl-tee", status, &stderr);
    assert!(stderr.contains("SIGHUP: stopping"), "{stderr}");
}

#[test]
fn sighup_ends_preroll_fill_and_tap_cleanly() {
    let ring = common::proc::Ring::new("sighup");
    let ring = ring.arg();
    let mut cmd = bin("vinyl-preroll");
    cmd.args(["fill", "--ring", ring]);
    let mut fill = Proc::spawn(cmd, true);
    fill.wait_line("created ring");
    fill.feed(&unique_frames(&PcmSpec::default(), 0, 48_000));
    let mut cmd = bin("vinyl-preroll");
    cmd.args(["tap", "--ring", ring]);
    let tap = Proc::spawn(cmd, true);
    tap.wait_line("tap from frame");
    let (status, stderr) = hang_up(tap);
    assert_clean_hangup("vinyl-preroll tap", status, &stderr);
    assert!(stderr.contains("on SIGHUP"), "{stderr}");
    let (status, stderr) = hang_up(fill);
    assert_clean_hangup("vinyl-preroll fill", status, &stderr);
    assert!(stderr.contains("stopping on SIGHUP at frame 48000"), "{stderr}");
}

#[test]
fn sighup_ends_flac_rec_with_a_finished_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hup.flac");
    let mut cmd = bin("vinyl-flac-rec");
    cmd.arg("-o").arg(&path);
    let mut p = Proc::spawn(cmd, true);
    p.wait_line("recording");
    let input = unique_frames(&PcmSpec::default(), 0, 3 * 48_000);
    p.feed(&input);
    let part = vinyl::flacrec::part_path(&path);
    common::wait_until("the recorder encoded its input", DEADLINE, || {
        std::fs::File::open(&part)
            .ok()
            .and_then(|f| vinyl::flac::recover::scan(f).ok())
            .is_some_and(|r| r.frames >= 3 * 48_000 / 4096)
    });
    let (status, stderr) = hang_up(p);
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
    let mut p = Proc::spawn(cmd, true);
    // 5 s: more MP3 than the tool's 64 KiB output buffer holds, so some reaches the file.
    p.feed(&unique_frames(&PcmSpec::default(), 0, 5 * 48_000));
    common::wait_until("MP3 written", DEADLINE, || std::fs::metadata(&path).is_ok_and(|m| m.len() > 0));
    let (status, stderr) = hang_up(p);
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
