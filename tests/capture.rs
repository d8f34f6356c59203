//! `vinyl-capture` against real ALSA: the `file` plugin device of tests/alsa/test.conf captures a
//! raw file byte for byte (unpaced; past the file's end it returns stale data, so every capture
//! here is bounded by --duration or a signal), and a `file` device whose output is /dev/full
//! fails mid-capture with a real EIO.

mod common;

use common::stderr;
use nix::sys::signal::Signal;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use vinyl::pcm::{PcmSpec, SampleFormat, unique_frames};

const BIN: &str = env!("CARGO_BIN_EXE_vinyl-capture");
const DEADLINE: Duration = Duration::from_secs(60);

/// A temp dir holding `in.raw`: `frames` unique frames of `spec`.
fn input(spec: &PcmSpec, frames: u64) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.raw");
    let data = unique_frames(spec, 0, frames);
    std::fs::write(&path, &data).unwrap();
    (dir, path, data)
}

/// `vinyl-capture` on the file device for `file`, with the test ALSA configuration.
fn capture_cmd(file: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("ALSA_CONFIG_PATH", common::alsa_config_path())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .arg("--device")
        .arg(common::file_device(file))
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Captures `expect_frames` frames of `spec` with `args` and checks they are exactly the file's
/// first frames.
fn assert_exact_capture(spec: PcmSpec, args: &[&str], expect_frames: u64) {
    let (_dir, path, data) = input(&spec, expect_frames + 10_000);
    let mut cmd = capture_cmd(&path, args);
    let what = common::describe(&cmd);
    let out = common::run(&mut cmd, DEADLINE);
    common::assert_success(&what, &out);
    let want = &data[..spec.frames_to_bytes(expect_frames) as usize];
    assert_eq!(out.stdout.len(), want.len(), "{what}: byte count\nstderr:\n{}", stderr(&out));
    assert!(out.stdout == want, "{what}: output differs from the input's first {expect_frames} frames");
    let err = stderr(&out);
    assert!(err.contains(&format!("capturing {spec}")), "{what}: granted parameters not logged:\n{err}");
    assert!(err.contains(&format!("({expect_frames} frames) captured, 0 overruns")), "{what}:\n{err}");
}

#[test]
fn captures_exactly_the_duration_s16le_48k_stereo() {
    assert_exact_capture(PcmSpec::default(), &["--duration", "96000f"], 96_000);
    assert_exact_capture(PcmSpec::default(), &["--duration", "1s"], 48_000);
}

#[test]
fn captures_exactly_s24_3le() {
    let spec = PcmSpec { format: SampleFormat::S24_3Le, ..PcmSpec::default() };
    assert_exact_capture(spec, &["--format", "s24_3le", "--duration", "50000f"], 50_000);
}

#[test]
fn captures_exactly_at_44100_and_96000() {
    let spec = PcmSpec { rate: 44_100, ..PcmSpec::default() };
    assert_exact_capture(spec, &["--rate", "44100", "--duration", "1s250ms"], 55_125);
    let spec = PcmSpec { rate: 96_000, channels: 1, format: SampleFormat::S24_3Le };
    assert_exact_capture(
        spec,
        &["--rate", "96000", "--channels", "1", "--format", "s24_3le", "--duration", "500ms"],
        48_000,
    );
}

#[test]
fn a_duration_off_the_period_shortens_the_last_read() {
    assert_exact_capture(PcmSpec::default(), &["--period", "1000", "--duration", "100003f"], 100_003);
    assert_exact_capture(
        PcmSpec::default(),
        &["--period", "4096", "--buffer", "8192", "--duration", "7f"],
        7,
    );
}

#[test]
fn realtime_gives_the_same_bytes() {
    let spec = PcmSpec { rate: 44_100, ..PcmSpec::default() };
    assert_exact_capture(spec, &["--rate", "44100", "--realtime", "--duration", "300ms"], 13_230);
}

#[test]
fn an_unknown_device_exits_1_naming_it() {
    let mut cmd = Command::new(BIN);
    cmd.env("ALSA_CONFIG_PATH", common::alsa_config_path()).args([
        "--device",
        "nosuchpcm_xyz",
        "--duration",
        "1s",
    ]);
    let what = common::describe(&cmd);
    let out = common::run(&mut cmd, DEADLINE);
    common::assert_status(&what, &out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("vinyl-capture: nosuchpcm_xyz: open for capture: no such device"),
        "{what}: stderr does not name the device:\n{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_flag_values_exit_2_saying_what_is_accepted() {
    let (_dir, path, _) = input(&PcmSpec::default(), 10);
    for (args, accepted) in [
        (&["--rate", "0"][..], "8000..768000"),
        (&["--duration", "abc"], "30s, 1m30s"),
        (&["--channels", "0"], "1..8"),
        (&["--format", "f32le"], "s16le"),
        (&["--period", "x"], "16..1048576"),
        (&["--period", "1024", "--buffer", "1024"], "--buffer 2048"),
        (&["--duration", "0s"], "positive duration"),
        (
            &["--ring", "/dev/shm/vinyl-test-never", "--ring-capacity", "0s"],
            "--ring-capacity 0s holds no frame",
        ),
        (&["--ring", "/dev/shm/vinyl-test-never", "--ring-capacity", "99999999999h"], "give at most 24h"),
    ] {
        let mut cmd = capture_cmd(&path, args);
        let what = common::describe(&cmd);
        let out = common::run(&mut cmd, DEADLINE);
        common::assert_status(&what, &out, 2);
        let err = stderr(&out);
        assert!(err.contains(accepted), "{what}: message does not say '{accepted}':\n{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn sigterm_finishes_the_period_and_exits_0() {
    let spec = PcmSpec::default();
    let (_dir, path, data) = input(&spec, 48_000 * 20);
    let mut cmd = capture_cmd(&path, &["--realtime", "--duration", "1h"]);
    let what = common::describe(&cmd);
    let (status, got, err) = common::with_deadline(DEADLINE, move || {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // Wait for audio to flow (a few periods) before the signal.
        while got.len() < 20_000 {
            let n = stdout.read(&mut buf).unwrap();
            assert!(n > 0, "vinyl-capture ended before SIGTERM");
            got.extend_from_slice(&buf[..n]);
        }
        common::signal(&child, Signal::SIGTERM);
        stdout.read_to_end(&mut got).unwrap();
        let status = child.wait().unwrap();
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (status, got, err)
    });
    assert_eq!(status.code(), Some(0), "{what}: status {status}\nstderr:\n{err}");
    assert_eq!(got.len() % spec.frame_bytes(), 0, "{what}: a partial frame was written");
    assert!(got.len() < data.len(), "{what}: ran past the input; the signal was not obeyed");
    assert!(got == data[..got.len()], "{what}: output is not a prefix of the input");
    let frames = got.len() / spec.frame_bytes();
    assert!(
        err.contains("stopped by SIGTERM: ") && err.contains(&format!("({frames} frames) captured")),
        "{what}: stop not logged with the frame count {frames}:\n{err}"
    );
}

#[test]
fn a_closed_stdout_ends_quietly_with_exit_0() {
    let (_dir, path, _) = input(&PcmSpec::default(), 48_000 * 5);
    let mut cmd = capture_cmd(&path, &["--duration", "1h"]);
    let what = common::describe(&cmd);
    let out = common::with_deadline(DEADLINE, move || {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut buf = [0u8; 1000];
        stdout.read_exact(&mut buf).unwrap();
        drop(stdout);
        common::wait_output(child, DEADLINE, "vinyl-capture with a closed stdout")
    });
    common::assert_success(&what, &out);
    let err = stderr(&out);
    for line in err.lines() {
        assert!(
            line.contains(": capturing s16le"),
            "{what}: unexpected line on a closed stdout: {line}\n{err}"
        );
    }
}

#[test]
fn a_failing_device_exits_1_naming_it_after_whole_frames() {
    // The file plugin writes what it captures to its output file; /dev/full makes that fail,
    // and alsa-lib reports EIO from snd_pcm_readi: a real device failure on demand.
    let spec = PcmSpec::default();
    let (dir, path, data) = input(&spec, 48_000 * 5);
    let conf = dir.path().join("full.conf");
    std::fs::write(
        &conf,
        "pcm.vinylfull {\n  @args [ INFILE ]\n  @args.INFILE { type string }\n  type file\n  \
         slave.pcm { type null }\n  file \"/dev/full\"\n  infile $INFILE\n  format \"raw\"\n}\n",
    )
    .unwrap();
    let device = format!("vinylfull:{}", path.display());
    let mut cmd = Command::new(BIN);
    cmd.env("ALSA_CONFIG_PATH", format!("/usr/share/alsa/alsa.conf:{}", conf.display())).args([
        "--device",
        &device,
        "--period",
        "1000",
        "--duration",
        "4s",
    ]);
    let what = common::describe(&cmd);
    let out = common::run(&mut cmd, DEADLINE);
    common::assert_status(&what, &out, 1);
    let err = stderr(&out);
    let frames = out.stdout.len() / spec.frame_bytes();
    assert!(
        err.contains(&format!("vinyl-capture: {device}: read: I/O error (EIO) after {frames} frames")),
        "{what}: error line does not name the device, errno and frame count {frames}:\n{err}"
    );
    assert_eq!(out.stdout.len() % spec.frame_bytes(), 0);
    assert!(out.stdout == data[..out.stdout.len()], "{what}: delivered audio is not the input's prefix");
}

#[test]
fn systemd_hears_ready_status_watchdog_and_stopping() {
    let notify = common::Notify::bind();
    let (_in_dir, path, _) = input(&PcmSpec::default(), 48_000);
    let mut cmd = capture_cmd(&path, &["--realtime", "--duration", "200ms"]);
    cmd.env("NOTIFY_SOCKET", &notify.path).env("WATCHDOG_USEC", "20000");
    let what = common::describe(&cmd);
    let out = common::run(&mut cmd, DEADLINE);
    common::assert_success(&what, &out);
    let got = notify.wait_for("STOPPING=1", DEADLINE, |g| g.iter().any(|m| m == "STOPPING=1"));
    let device = common::file_device(&path);
    let pos = |m: &str| got.iter().position(|g| g == m);
    let ready = pos("READY=1").unwrap_or_else(|| panic!("{what}: no READY=1 in {got:?}"));
    let status = pos(&format!("STATUS=capturing {device} s16le 48000 Hz 2 ch, 0 overruns"))
        .unwrap_or_else(|| panic!("{what}: no capturing STATUS in {got:?}"));
    assert!(ready < status, "{got:?}");
    assert!(got[ready..].iter().any(|g| g == "WATCHDOG=1"), "{what}: no WATCHDOG=1 in {got:?}");
    assert_eq!(got.last().map(String::as_str), Some("STOPPING=1"));
}

#[test]
fn list_devices_exits_0_and_lists_capture_pcms() {
    let mut cmd = Command::new(BIN);
    cmd.env("ALSA_CONFIG_PATH", common::alsa_config_path()).arg("--list-devices");
    let what = common::describe(&cmd);
    let out = common::run(&mut cmd, DEADLINE);
    common::assert_success(&what, &out);
    let text = String::from_utf8_lossy(&out.stdout);
    // ALSA's own configuration always defines `null`, which can capture.
    assert!(text.lines().any(|l| l == "null"), "{what}: `null` not listed:\n{text}");
}

/// The ring's head, or 0 while the ring cannot be read.
fn ring_head(ring: &Path) -> u64 {
    vinyl::ring::RingReader::open(ring, false).ok().and_then(|r| r.head().ok()).unwrap_or(0)
}

/// A `--realtime` capture restarted on its ring after a downtime continues the timeline with one
/// journaled gap and then moves the head at real time at once; it used to sleep for as long as it
/// had been down (the gap counted toward its pace), and Icecast dropped the stream meanwhile.
#[test]
fn a_restarted_realtime_capture_moves_the_head_at_real_time_at_once() {
    use common::proc::{Proc, Ring};
    let spec = PcmSpec::default();
    let (_dir, path, _) = input(&spec, 48_000 * 60);
    let ring = Ring::new("restart-pace");
    let args = ["--realtime", "--buffer", "96000", "--ring", ring.arg(), "--ring-capacity", "30s"];
    let first = Proc::spawn(capture_cmd(&path, &args), false);
    common::wait_until("the first capture writes 1 s", DEADLINE, || ring_head(&ring.0) >= 48_000);
    first.signal(Signal::SIGTERM);
    let (code, _, err) = first.finish();
    assert_eq!(code, Some(0), "{err}");
    // The fault under test: 4 s without a writer.
    std::thread::sleep(Duration::from_secs(4));
    let stopped_at = ring_head(&ring.0);
    let second = Proc::spawn(capture_cmd(&path, &args), false);
    common::wait_until("the restarted capture writes", DEADLINE, || ring_head(&ring.0) > stopped_at);
    let (t0, h0) = (std::time::Instant::now(), ring_head(&ring.0));
    assert!(h0 >= stopped_at + 3 * 48_000, "the downtime is not in the timeline: {stopped_at} -> {h0}");
    std::thread::sleep(Duration::from_secs(2));
    let (elapsed, h1) = (t0.elapsed(), ring_head(&ring.0));
    let due = (elapsed.as_secs_f64() * 48_000.0) as u64;
    // At real time, give or take a busy machine's stalls; the old pace stood still for 4 s.
    assert!(h1 - h0 >= due / 2, "the head moved {} frames in {elapsed:?} (due: {due})", h1 - h0);
    assert!(h1 - h0 <= due + 96_000, "the head ran ahead of real time: {} frames in {elapsed:?}", h1 - h0);
    let restarts: Vec<_> = vinyl::ring::RingReader::open(&ring.0, false)
        .unwrap()
        .gaps()
        .into_iter()
        .filter(|g| g.cause == vinyl::ring::GapCause::WriterRestart)
        .collect();
    assert_eq!(restarts.len(), 1, "the downtime is journaled once: {restarts:?}");
    assert_eq!(restarts[0].first, stopped_at, "{restarts:?}");
    second.signal(Signal::SIGTERM);
    let (code, _, err) = second.finish();
    assert_eq!(code, Some(0), "{err}");
}
