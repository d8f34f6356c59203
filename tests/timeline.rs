//! One timeline, on frame-numbered audio: `vinyl-capture --ring` owns the ring's timeline, every
//! loss is silence at its place (journaled, logged, tagged `VINYL_GAPS`), a restarted writer
//! continues the timeline, and the ring survives hostile files (truncation, corrupt headers).
//!
//! The capture device is ALSA's `file` plugin paced with `--realtime`, which behaves like a card:
//! stopped (SIGSTOP) for longer than its buffer, it overruns and skips exactly the frames of that
//! time. So a frame that is not silence must carry its own timeline number.

mod common;

use common::proc::{Proc, Recording, Ring};
use common::*;
use nix::sys::signal::Signal;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vinyl::pcm::{PcmSpec, unique_frames};

const RATE: u64 = 48_000;
const CAPTURE: &str = env!("CARGO_BIN_EXE_vinyl-capture");
const PREROLL: &str = env!("CARGO_BIN_EXE_vinyl-preroll");

/// `frames` frame-numbered frames in `dir/in.raw`.
fn input(dir: &Path, frames: u64) -> std::path::PathBuf {
    let path = dir.join("in.raw");
    std::fs::write(&path, unique_frames(&PcmSpec::default(), 0, frames)).unwrap();
    path
}

/// `vinyl-capture --realtime --ring RING` on the file device for `file`.
fn capture(file: &Path, ring: &Ring, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(CAPTURE);
    cmd.env("ALSA_CONFIG_PATH", alsa_config_path())
        .env_remove("NOTIFY_SOCKET")
        .arg("--device")
        .arg(file_device(file))
        // A 1 s buffer (the stops below last 2 s): a busy machine's stalls are no overruns.
        .args(["--realtime", "--buffer", "48000", "--ring", ring.arg()])
        .args(extra);
    Proc::spawn(cmd, false)
}

/// `vinyl-preroll fill ARGS` on `ring` with frames `first..first + frames` on stdin; must exit 0.
fn fill(ring: &Ring, extra: &[&str], first: u64, frames: u64) {
    let mut c = Command::new(PREROLL);
    c.args(["fill", "--ring", ring.arg()]).args(extra);
    let mut p = Proc::spawn(c, false);
    p.feed(&unique_frames(&PcmSpec::default(), first, frames));
    p.close_stdin();
    let (code, _, err) = p.finish();
    assert_eq!(code, Some(0), "{err}");
}

fn info(ring: &Ring) -> serde_json::Value {
    let out = run(Command::new(PREROLL).args(["info", "--json", "--ring", ring.arg()]), DEADLINE);
    assert_success("vinyl-preroll info --json", &out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn head(ring: &Ring) -> u64 {
    info(ring)["head"].as_u64().unwrap()
}

#[test]
fn the_capture_writes_the_ring_and_every_frame_is_its_timeline_number() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Ring::new("tl-exact");
    let file = input(dir.path(), 10 * RATE);
    let mut cmd = Command::new(CAPTURE);
    cmd.env("ALSA_CONFIG_PATH", alsa_config_path()).arg("--device").arg(file_device(&file)).args([
        "--ring",
        ring.arg(),
        "--duration",
        "5s",
    ]);
    let out = run_ok(&mut cmd, DEADLINE);
    assert!(String::from_utf8_lossy(&out.stderr).contains("created ring"));
    assert_eq!(head(&ring), 5 * RATE);
    let tap = run(
        Command::new(PREROLL).args(["tap", "--ring", ring.arg(), "--from-frame", "0", "--no-follow"]),
        DEADLINE,
    );
    assert_success("tap --no-follow", &tap);
    assert!(
        tap.stdout == unique_frames(&PcmSpec::default(), 0, 5 * RATE),
        "ring frames differ from the capture"
    );
}

/// What a capture stopped (SIGSTOP) in the middle of a recording left: the journaled gap, the
/// logs of the tap, the recorder and the capture, and the recording's gaps.
struct Stopped {
    gap: serde_json::Value,
    tap_err: String,
    rec_err: String,
    cap_err: String,
    gaps: Vec<(u64, u64, String)>,
    first: u64,
}

/// Records from a capture on a ring of `capacity` and stops the capture for `stop` in the middle;
/// the recording must be one timeline with the gap listed, and every tool must end cleanly.
fn stopped_capture(tag: &str, capacity: &str, stop: Duration) -> Stopped {
    let dir = tempfile::tempdir().unwrap();
    let ring = Ring::new(tag);
    let file = input(dir.path(), 60 * RATE);
    let cap = capture(&file, &ring, &["--ring-capacity", capacity]);
    cap.wait_line("created ring");
    wait_until("the ring fills", DEADLINE, || head(&ring) >= RATE / 2);
    let first = RATE / 4;
    let rec = Recording::start(&ring, first, &dir.path().join("rec.flac"));
    wait_until("a second of audio", DEADLINE, || head(&ring) >= 3 * RATE / 2);
    // The fault: far more than the capture's 341 ms buffer.
    signal(&cap.child, Signal::SIGSTOP);
    std::thread::sleep(stop);
    signal(&cap.child, Signal::SIGCONT);
    cap.wait_line("overrun at frame");
    let gap = info(&ring)["gaps"][0].clone();
    let (gap_first, gap_frames) = (gap["first"].as_u64().unwrap(), gap["frames"].as_u64().unwrap());
    wait_until("a second after the gap", DEADLINE, || head(&ring) >= gap_first + gap_frames + RATE);
    let (tap_err, rec_err) = rec.stop();
    cap.signal(Signal::SIGTERM);
    let (code, _, cap_err) = cap.finish();
    assert_eq!(code, Some(0), "{cap_err}");
    let gaps = assert_one_timeline(&dir.path().join("rec.flac"), first);
    Stopped { gap, tap_err, rec_err, cap_err, gaps, first }
}

#[test]
fn a_stopped_capture_is_silence_at_its_place_journaled_logged_and_tagged() {
    let s = stopped_capture("tl-stop", "30s", Duration::from_secs(2));
    let gap = &s.gap;
    let (gap_first, gap_frames) = (gap["first"].as_u64().unwrap(), gap["frames"].as_u64().unwrap());
    assert_eq!((gap["cause"].as_str(), gap["exact"].as_bool()), (Some("overrun"), Some(true)), "{gap}");
    assert!(gap_frames >= 2 * RATE - 16_384, "{gap_frames} frames for a 2 s stop");
    let line = format!("overrun at frame {gap_first} (");
    assert!(
        s.cap_err.contains(&line) && s.cap_err.contains(&format!("{gap_frames} frames")),
        "{}",
        s.cap_err
    );
    assert!(s.tap_err.contains(&format!("gap in the tapped frames: {line}")), "{}", s.tap_err);
    assert!(s.rec_err.contains("gap in the recording: overrun"), "{}", s.rec_err);
    assert_eq!(s.gaps, [(gap_first - s.first, gap_frames, "overrun".to_string())]);
}

#[test]
fn a_capture_stopped_longer_than_its_ring_is_one_gap_of_silence_in_the_recording() {
    // A 1 s ring: 3 s of slots. The stop lasts 4 s, so the overrun's silence is longer than the
    // ring and most of it is never in the slots at all.
    let s = stopped_capture("tl-long-stop", "1s", Duration::from_secs(4));
    let (gap_first, gap_frames) = (s.gap["first"].as_u64().unwrap(), s.gap["frames"].as_u64().unwrap());
    assert!(gap_frames > 3 * RATE, "{gap_frames} frames for a 4 s stop: longer than the 3 s of slots");
    assert!(
        s.tap_err.contains(&format!("gap in the tapped frames: overrun at frame {gap_first} (")),
        "{}",
        s.tap_err
    );
    assert!(s.rec_err.contains("gap in the recording: overrun"), "{}", s.rec_err);
    assert_eq!(s.gaps, [(gap_first - s.first, gap_frames, "overrun".to_string())]);
}

#[test]
fn a_restarted_capture_continues_the_timeline_after_its_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Ring::new("tl-restart");
    let file = input(dir.path(), 60 * RATE);
    let cap = capture(&file, &ring, &[]);
    cap.wait_line("created ring");
    wait_until("a second of audio", DEADLINE, || head(&ring) >= RATE);
    let timeline = info(&ring)["timeline"].as_str().unwrap().parse::<u64>().unwrap();
    let rec = Recording::start(&ring, RATE / 2, &dir.path().join("rec.flac"));
    cap.signal(Signal::SIGTERM);
    let (code, _, err) = cap.finish();
    assert_eq!(code, Some(0), "{err}");
    let stopped_at = head(&ring);
    // Restarted by its supervisor a moment later, on the same ring.
    let cap = capture(&file, &ring, &[]);
    cap.wait_line("continuing timeline");
    cap.wait_line("the ring's timeline continues after its writer's downtime");
    let j = info(&ring);
    assert_eq!(
        (j["timeline"].as_str().and_then(|t| t.parse::<u64>().ok()), j["writers"].as_u64()),
        (Some(timeline), Some(2))
    );
    let gap = &j["gaps"][0];
    assert_eq!((gap["first"].as_u64(), gap["cause"].as_str()), (Some(stopped_at), Some("writer-restart")));
    let gap_frames = gap["frames"].as_u64().unwrap();
    wait_until("half a second after the restart", DEADLINE, || {
        head(&ring) >= stopped_at + gap_frames + RATE / 2
    });
    let (tap_err, _) = rec.stop();
    assert!(tap_err.contains("gap in the tapped frames: writer-restart"), "{tap_err}");
    cap.signal(Signal::SIGTERM);
    let (code, _, err) = cap.finish();
    assert_eq!(code, Some(0), "{err}");
    // The recording went on through the restart: frames, the downtime as a tagged gap, then
    // the new capture's frames (its input starts again at 0) at their timeline places.
    let flac = dir.path().join("rec.flac");
    let frames = decoded_frames(&flac);
    let tag = flac_tag(&flac, "VINYL_GAPS");
    let g = vinyl::ring::gaps::parse_tag(&tag).unwrap();
    assert_eq!(g.len(), 1, "{tag}");
    let (o, n) = (g[0].offset as usize, g[0].frames as usize);
    assert_eq!(o as u64, stopped_at - RATE / 2);
    assert!((0..o).all(|i| frames[i] == RATE / 2 + i as u64), "frames before the restart");
    assert!(frames[o..o + n].iter().all(|&x| x == 0), "the downtime is silence");
    assert!(frames[o + n..].iter().enumerate().all(|(i, &x)| x == i as u64), "frames after the restart");
}

#[test]
fn a_live_tap_skips_forward_when_overtaken_and_never_stops() {
    let ring = Ring::new("tl-live");
    let fill = |frames: u64, first: u64| fill(&ring, &["--capacity", "2s"], first, frames);
    fill(RATE, 0);
    let mut tap = Proc::spawn(
        {
            let mut c = Command::new(PREROLL);
            c.args(["tap", "--live", "--ring", ring.arg()]);
            c
        },
        false,
    );
    tap.wait_line(&format!("tap from frame {RATE} ("));
    // Nobody reads the tap's stdout while 20 s pass through a 2 s ring: it is overtaken.
    fill(20 * RATE, RATE);
    let mut out = tap.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut all).unwrap();
        all
    });
    tap.wait_line("overtaken by the writer: skipped frames");
    fill(RATE, 21 * RATE);
    tap.signal(Signal::SIGTERM);
    let (code, _, err) = tap.finish();
    assert_eq!(code, Some(0), "a live tap ends cleanly: {err}");
    assert!(err.contains("skipped forward"), "{err}");
    let all = reader.join().unwrap();
    assert_eq!(all.len() % 4, 0, "whole frames");
}

#[test]
fn a_pinned_tap_refuses_another_timeline() {
    let ring = Ring::new("tl-pin");
    fill(&ring, &[], 0, RATE);
    let timeline = info(&ring)["timeline"].as_str().unwrap().parse::<u64>().unwrap();
    let tap = |t: u64| {
        run(
            Command::new(PREROLL).args([
                "tap",
                "--ring",
                ring.arg(),
                "--from-frame",
                "0",
                "--no-follow",
                "--timeline",
                &t.to_string(),
            ]),
            DEADLINE,
        )
    };
    assert_success("tap on its timeline", &tap(timeline));
    let other = tap(timeline + 1);
    assert_status("tap pinned to another timeline", &other, 1);
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(err.contains(&format!("not the pinned timeline {}", timeline + 1)), "{err}");
    assert!(other.stdout.is_empty(), "it wrote nothing");
}

#[test]
fn a_ring_truncated_under_a_tap_and_its_writer_ends_both_with_one_line_not_sigbus() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Ring::new("tl-truncate");
    let file = input(dir.path(), 60 * RATE);
    let cap = capture(&file, &ring, &[]);
    cap.wait_line("created ring");
    wait_until("a second of audio", DEADLINE, || head(&ring) >= RATE);
    let rec = Recording::start(&ring, 0, &dir.path().join("rec.flac"));
    wait_until("the recording runs", DEADLINE, || head(&ring) >= 2 * RATE);
    std::fs::OpenOptions::new().write(true).open(&ring.0).unwrap().set_len(4096).unwrap();
    let (tap, rec) = rec.wait();
    let out = dir.path().join("rec.flac");
    assert_status("tap of a truncated ring", &tap, 1);
    let err = String::from_utf8_lossy(&tap.stderr);
    assert!(err.contains(ring.arg()) && err.contains("truncated while mapped"), "{err}");
    assert_success("the recorder behind it finalises what it has", &rec);
    assert!(!decoded_frames(&out).is_empty());
    let (code, _, err) = cap.finish();
    assert_eq!(code, Some(1), "the capture: {err}");
    assert!(err.contains("truncated while mapped"), "{err}");
}

#[test]
fn a_corrupt_header_is_named_and_never_obeyed() {
    let ring = Ring::new("tl-corrupt");
    fill(&ring, &[], 0, 10 * RATE);
    let mut bytes = std::fs::read(&ring.0).unwrap();
    bytes[64..72].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&ring.0, &bytes).unwrap();
    let tap = run(
        Command::new(PREROLL).args(["tap", "--ring", ring.arg(), "--from", "-4s", "--no-follow"]),
        DEADLINE,
    );
    assert_status("tap on a corrupt head", &tap, 1);
    assert!(tap.stdout.is_empty(), "{} bytes written", tap.stdout.len());
    let err = String::from_utf8_lossy(&tap.stderr);
    assert!(err.contains("damaged ring header") && err.contains("head"), "{err}");
    let out = run(Command::new(PREROLL).args(["info", "--ring", ring.arg()]), DEADLINE);
    assert_status("info on a corrupt head", &out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt ring"));
}

#[test]
fn a_live_tap_follows_a_replaced_ring_to_its_new_timeline() {
    let ring = Ring::new("tl-follow");
    fill(&ring, &["--capacity", "2s"], 0, RATE);
    let old = info(&ring)["timeline"].as_str().unwrap().parse::<u64>().unwrap();
    let mut c = Command::new(PREROLL);
    c.args(["tap", "--live", "--ring", ring.arg()]);
    let tap = Proc::spawn(c, true);
    tap.wait_line(&format!("tap from frame {RATE} ("));
    // Another capacity: the ring is replaced by a new file, a new timeline.
    fill(&ring, &["--capacity", "3s"], 0, RATE);
    let new = info(&ring)["timeline"].as_str().unwrap().parse::<u64>().unwrap();
    assert_ne!(new, old);
    tap.wait_line(&format!("the ring was replaced: following its new timeline {new}"));
    let before = tap.out_len();
    fill(&ring, &["--capacity", "3s"], 7 * RATE, RATE / 2);
    wait_until("the tap copies the new timeline's frames", DEADLINE, || tap.out_len() > before);
    tap.signal(Signal::SIGTERM);
    let (code, out, err) = tap.finish();
    assert_eq!(code, Some(0), "{err}");
    // The last frames written are the last fill's, at their places after its downtime gap.
    let last = &out[out.len() - 4..];
    assert_eq!(vinyl::pcm::unique_frame_number(last), 7 * RATE + RATE / 2 - 1);
}
