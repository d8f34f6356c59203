//! `vinyl-preroll` against real shared memory: the built binary fills rings under /dev/shm from
//! real pipes and FIFOs, taps them, and is checked frame by frame with a signal in which every
//! frame carries its own number.

mod common;

use common::proc::{Proc, Ring};
use common::*;
use nix::sys::signal::Signal;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use vinyl::pcm::{PcmSpec, unique_frame_number, unique_frames};

const BIN: &str = env!("CARGO_BIN_EXE_vinyl-preroll");
const RATE: u64 = 48_000;
const FB: usize = 4;

fn spec() -> PcmSpec {
    PcmSpec::default()
}

/// `vinyl-preroll args`, in a zone 5 h 30 ahead of UTC (a POSIX rule, no zone database needed):
/// a time that should be UTC but is local cannot pass for UTC on a machine set to UTC.
fn preroll(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env("TZ", "IST-5:30");
    c
}

/// Starts `vinyl-preroll args` with stdin, stdout and stderr piped; returns it and its command
/// line for failure reports.
fn spawn_piped(args: &[&str]) -> (Child, String) {
    let mut cmd = preroll(args);
    let what = describe(&cmd);
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
    (child, what)
}

/// Runs `vinyl-preroll args` with `input` on stdin, within the deadline.
fn run_with_input(args: &[&str], input: Vec<u8>) -> Output {
    let (mut child, what) = spawn_piped(args);
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = wait_output(child, DEADLINE, &what);
    feeder.join().unwrap();
    out
}

fn run_preroll(args: &[&str]) -> Output {
    run(&mut preroll(args), DEADLINE)
}

/// Fills `ring` with frames `0..frames` of the unique signal from stdin; the writer then exits.
fn fill_frames(ring: &Ring, extra: &[&str], frames: u64) -> Output {
    let mut args = vec!["fill", "--ring", ring.arg()];
    args.extend_from_slice(extra);
    let out = run_with_input(&args, unique_frames(&spec(), 0, frames));
    assert_success(&format!("fill {}", ring.arg()), &out);
    out
}

/// Panics unless `pcm` is exactly the frames `first..first + count` of the unique signal.
fn assert_frames(what: &str, pcm: &[u8], first: u64, count: u64) {
    assert_eq!(pcm.len() % FB, 0, "{what}: {} bytes is not whole frames", pcm.len());
    let got = (pcm.len() / FB) as u64;
    if let Some(pos) =
        pcm.chunks(FB).enumerate().position(|(i, f)| unique_frame_number(f) != first + i as u64)
    {
        panic!(
            "{what}: frame {pos} of the output is frame {}, expected {}",
            unique_frame_number(&pcm[pos * FB..pos * FB + FB]),
            first + pos as u64
        );
    }
    assert_eq!(got, count, "{what}: {got} frames from {first}, expected {count}");
    assert_eq!(pcm, unique_frames(&spec(), first, count), "{what}: not sample-exact");
}

fn info_json(ring: &Ring) -> serde_json::Value {
    let out = run_preroll(&["info", "--ring", ring.arg(), "--json"]);
    assert_success("info --json", &out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "info --json is one line: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("info --json: {e}: {text}"))
}

fn head(ring: &Ring) -> u64 {
    info_json(ring)["head"].as_u64().unwrap()
}

/// Starts `vinyl-preroll args` (see [`Proc::spawn`]).
fn start_preroll(args: &[&str], collect_stdout: bool) -> Proc {
    Proc::spawn(preroll(args), collect_stdout)
}

#[test]
fn round_trip_is_sample_exact() {
    let ring = Ring::new("round-trip");
    let total = 45 * RATE;
    let out = fill_frames(&ring, &[], total);
    assert!(stderr(&out).contains("created ring"), "{}", stderr(&out));

    let mode = std::fs::metadata(&ring.0).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "ring mode");

    let j = info_json(&ring);
    assert_eq!(j["ring"], ring.arg());
    assert_eq!(j["version"], 2);
    assert_eq!(j["format"], "s16le");
    assert_eq!(j["rate"], 48000);
    assert_eq!(j["channels"], 2);
    assert_eq!(j["capacity_frames"], 30 * RATE);
    assert_eq!(j["slot_frames"], 33 * RATE);
    assert_eq!(j["head"], total);
    assert_eq!(j["oldest_frame"], total - 30 * RATE);
    assert_eq!(j["newest_frame"], total - 1);
    assert_eq!(j["writer_alive"], false);
    assert_eq!(j["writer_pid"], 0);
    assert_eq!(j["generation"], 1);
    let f0 = j["frame0_unix_ns"].as_u64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    assert!(f0 > now - 3600 * 1_000_000_000 && f0 <= now, "frame0_unix_ns {f0} is not recent (now {now})");
    let t = j["frame0_time"].as_str().unwrap();
    assert_eq!(t, vinyl::time::rfc3339_utc(f0), "frame0_time is frame0_unix_ns in UTC");

    let text = run_preroll(&["info", "--ring", ring.arg()]);
    assert_success("info", &text);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("oldest frame: 720000") && text.contains("writer:       none"), "{text}");

    let out = run_preroll(&["tap", "--ring", ring.arg(), "--from", "-30s", "--no-follow"]);
    assert_success("tap --from -30s --no-follow", &out);
    assert_frames("tap --from -30s --no-follow", &out.stdout, total - 30 * RATE, 30 * RATE);
    assert!(stderr(&out).contains(&format!("tap from frame {} (", total - 30 * RATE)), "{}", stderr(&out));

    let out = run_preroll(&["tap", "--ring", ring.arg(), "--from-frame", "1000000", "--duration", "5s"]);
    assert_success("tap --from-frame --duration", &out);
    assert_frames("tap --from-frame 1000000 --duration 5s", &out.stdout, 1_000_000, 5 * RATE);

    let out =
        run_preroll(&["tap", "--ring", ring.arg(), "--from-frame", "1000000", "--until-frame", "1000123"]);
    assert_success("tap --until-frame", &out);
    assert_frames("tap --from-frame 1000000 --until-frame 1000123", &out.stdout, 1_000_000, 123);

    let out = run_preroll(&["tap", "--ring", ring.arg(), "--from=-48000f", "--duration", "1000f"]);
    assert_success("tap --from=-48000f --duration 1000f", &out);
    assert_frames("tap --from=-48000f --duration 1000f", &out.stdout, total - RATE, 1000);

    // Frames gone from the ring are refused, not invented.
    let out = run_preroll(&["tap", "--ring", ring.arg(), "--from-frame", "10", "--until-frame", "20"]);
    assert_status("tap of overwritten frames", &out, 1);
    assert!(stderr(&out).contains("frames 10..20 are no longer in the ring"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn wav_output_holds_exactly_the_frames() {
    let ring = Ring::new("wav");
    fill_frames(&ring, &[], 3 * RATE);
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("last.wav");
    let w = wav.to_str().unwrap();
    let out = run_preroll(&["tap", "--ring", ring.arg(), "--from", "-1s", "--no-follow", "--wav", w]);
    assert_success("tap --wav", &out);
    assert!(out.stdout.is_empty(), "--wav writes nothing to stdout");
    assert_eq!(std::fs::metadata(&wav).unwrap().permissions().mode() & 0o777, 0o600);
    let mut r = hound::WavReader::open(&wav).unwrap();
    assert_eq!(r.spec().channels, 2);
    assert_eq!(r.spec().sample_rate, 48_000);
    assert_eq!(r.duration() as u64, RATE);
    let mut pcm = Vec::new();
    for s in r.samples::<i16>() {
        pcm.extend_from_slice(&s.unwrap().to_le_bytes());
    }
    assert_frames("WAV", &pcm, 2 * RATE, RATE);

    let again = run_preroll(&["tap", "--ring", ring.arg(), "--no-follow", "--wav", w]);
    assert_status("tap --wav onto an existing file", &again, 1);
    let follow = run_preroll(&["tap", "--ring", ring.arg(), "--wav", "/dev/null/x.wav"]);
    assert_status("tap --wav without an end", &follow, 2);
}

#[test]
fn tap_follows_live_and_ends_on_whole_frames_at_sigterm() {
    let ring = Ring::new("live");
    let mut fill = start_preroll(&["fill", "--ring", ring.arg()], false);
    fill.wait_line("created ring");
    fill.feed(&unique_frames(&spec(), 0, RATE));
    wait_until("head at 1 s", DEADLINE, || head(&ring) == RATE);

    let tap = start_preroll(&["tap", "--ring", ring.arg()], true);
    tap.wait_line(&format!("tap from frame {RATE} ("));
    // A tap of frames not written yet waits for them.
    let from = (3 * RATE + 777).to_string();
    let future =
        start_preroll(&["tap", "--ring", ring.arg(), "--from-frame", &from, "--duration", "1000f"], true);
    future.wait_line("waiting for it to be written");

    // Feed 4 s in pieces that split frames, as a pipe may.
    let more = unique_frames(&spec(), RATE, 4 * RATE);
    for piece in more.chunks(1003) {
        fill.feed(piece);
    }
    wait_until("the tap caught up", DEADLINE, || tap.out_len() >= 4 * RATE as usize * FB);
    tap.signal(Signal::SIGTERM);
    let (code, out, err) = tap.finish();
    assert_eq!(code, Some(0), "tap on SIGTERM: {err}");
    assert_frames("live tap", &out, RATE, 4 * RATE);
    assert!(err.contains("on SIGTERM"), "{err}");

    let (code, out, err) = future.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_frames("tap of a future frame", &out, 3 * RATE + 777, 1000);

    fill.signal(Signal::SIGTERM);
    let (code, _, err) = fill.finish();
    assert_eq!(code, Some(0), "fill on SIGTERM: {err}");
    assert!(err.contains("stopping on SIGTERM at frame 240000"), "{err}");
}

#[test]
fn fill_keeps_the_frames_waiting_in_its_pipe_at_sigterm() {
    let ring = Ring::new("drain");
    let mut fill = start_preroll(&["fill", "--ring", ring.arg()], false);
    fill.wait_line("created ring");
    fill.feed(&unique_frames(&spec(), 0, 1000));
    wait_until("head 1000", DEADLINE, || head(&ring) == 1000);
    // Now fill lets input gather (--batch); these frames are in the pipe when the signal comes.
    fill.feed(&unique_frames(&spec(), 1000, 2000));
    fill.signal(Signal::SIGTERM);
    let (code, _, err) = fill.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopping on SIGTERM at frame 3000"), "{err}");
    let out = run_preroll(&["tap", "--ring", ring.arg(), "--from-frame", "0", "--no-follow"]);
    assert_frames("frames after a stop", &out.stdout, 0, 3000);
}

#[test]
fn more_preroll_than_held_starts_at_the_oldest_frame_and_says_so() {
    let ring = Ring::new("short");
    fill_frames(&ring, &[], 5 * RATE);
    let out = run_preroll(&["tap", "--ring", ring.arg(), "--from", "-30s", "--no-follow"]);
    assert_success("tap --from -30s on a 5 s ring", &out);
    assert_frames("tap --from -30s on a 5 s ring", &out.stdout, 0, 5 * RATE);
    let err = stderr(&out);
    assert!(err.contains("tap from frame 0, the oldest held"), "{err}");
    assert!(err.contains("asked for 30.000s (1440000 frames) of pre-roll"), "{err}");
    assert!(err.contains("so the pre-roll is 5.000s (240000 frames)"), "{err}");
}

#[test]
fn a_start_just_before_the_guaranteed_history_is_kept_while_the_slack_holds_it() {
    // 30 s guaranteed, 3 s of slack: a start 1 s before the oldest guaranteed frame (a vinyl-rec
    // that read the head a moment before its tap started) is exact; 2.5 s before is clamped.
    let ring = Ring::new("slack");
    let total = 40 * RATE;
    fill_frames(&ring, &[], total);
    let oldest = total - 30 * RATE;
    let from = (oldest - RATE).to_string();
    let out = run_preroll(&["tap", "--ring", ring.arg(), "--from-frame", &from, "--no-follow"]);
    assert_success("tap 1 s before the oldest", &out);
    assert_frames("tap 1 s before the oldest", &out.stdout, oldest - RATE, 31 * RATE);
    let from = (oldest - 5 * RATE / 2).to_string();
    let out = run_preroll(&["tap", "--ring", ring.arg(), "--from-frame", &from, "--no-follow"]);
    assert_success("tap 2.5 s before the oldest", &out);
    assert_frames("tap 2.5 s before the oldest", &out.stdout, oldest, 30 * RATE);
    assert!(stderr(&out).contains(&format!("tap from frame {oldest}, the oldest held")), "{}", stderr(&out));
}

#[test]
fn a_second_writer_is_refused_and_a_later_one_takes_over() {
    let ring = Ring::new("two-writers");
    let mut first = start_preroll(&["fill", "--ring", ring.arg()], false);
    first.wait_line("created ring");
    first.feed(&unique_frames(&spec(), 0, 1000));
    wait_until("head 1000", DEADLINE, || head(&ring) == 1000);
    let j = info_json(&ring);
    assert_eq!(j["writer_alive"], true);
    assert_eq!(j["writer_pid"], first.child.id());

    let second = run_with_input(&["fill", "--ring", ring.arg()], unique_frames(&spec(), 0, 10));
    assert_status("second fill", &second, 1);
    let err = stderr(&second);
    assert!(
        err.contains(&format!("another writer (pid {}) is writing this ring", first.child.id())),
        "{err}"
    );
    assert_eq!(head(&ring), 1000, "the refused writer wrote nothing");

    first.close_stdin();
    let (code, _, err) = first.finish();
    assert_eq!(code, Some(0), "{err}");
    let timeline = info_json(&ring)["timeline"].as_str().unwrap().parse::<u64>().unwrap();
    let out = fill_frames(&ring, &[], 500);
    assert!(stderr(&out).contains("continuing timeline"), "{}", stderr(&out));
    // One timeline: the later writer continues it, its downtime a journaled gap before its
    // frames.
    let j = info_json(&ring);
    assert_eq!(
        (j["generation"].as_u64(), j["timeline"].as_str().and_then(|t| t.parse::<u64>().ok())),
        (Some(1), Some(timeline))
    );
    assert_eq!(j["writers"], 2);
    let gap = j["gaps"][0]["frames"].as_u64().unwrap_or(0);
    assert_eq!(j["head"].as_u64(), Some(1000 + gap + 500));
    if gap > 0 {
        assert_eq!(
            (j["gaps"][0]["first"].as_u64(), j["gaps"][0]["cause"].as_str()),
            (Some(1000), Some("writer-restart"))
        );
    }
}

#[test]
fn a_file_that_is_not_a_ring_is_refused_and_left_unchanged() {
    let ring = Ring::new("not-a-ring");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let junk: Vec<u8> = (0..10_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&ring.0, &junk).unwrap();
    std::fs::set_permissions(&ring.0, std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = run_with_input(&["fill", "--ring", ring.arg()], unique_frames(&spec(), 0, 100));
    assert_status("fill onto junk", &out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(ring.arg()) && err.contains("not a vinyl ring") && err.contains("left unchanged"),
        "{err}"
    );
    assert_eq!(std::fs::read(&ring.0).unwrap(), junk, "the file was changed");

    for args in [vec!["tap", "--no-follow"], vec!["info"]] {
        let mut a = args.clone();
        a.extend_from_slice(&["--ring", ring.arg()]);
        let out = run_preroll(&a);
        assert_status(&format!("{args:?} on junk"), &out, 1);
        assert!(stderr(&out).contains("not a vinyl ring"), "{}", stderr(&out));
    }

    std::fs::write(&ring.0, b"tiny").unwrap();
    let out = run_preroll(&["info", "--ring", ring.arg()]);
    assert_status("info on a 4-byte file", &out, 1);
    assert!(stderr(&out).contains("4 bytes, smaller than the 4096-byte ring header"), "{}", stderr(&out));
}

#[test]
fn a_ring_of_another_version_or_format_is_refused() {
    let ring = Ring::new("version");
    fill_frames(&ring, &[], 1000);

    let out = run_preroll(&["tap", "--ring", ring.arg(), "--no-follow", "--format", "s24_3le"]);
    assert_status("tap with another format", &out, 1);
    assert!(
        stderr(&out)
            .contains("the ring holds s16le 48000 Hz 2 ch, but the tap was asked for s24_3le 48000 Hz 2 ch"),
        "{}",
        stderr(&out)
    );

    let mut bytes = std::fs::read(&ring.0).unwrap();
    bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
    std::fs::write(&ring.0, &bytes).unwrap();
    for args in [vec!["info"], vec!["tap", "--no-follow"]] {
        let mut a = args.clone();
        a.extend_from_slice(&["--ring", ring.arg()]);
        let out = run_preroll(&a);
        assert_status(&format!("{args:?} on a version-3 ring"), &out, 1);
        let err = stderr(&out);
        assert!(err.contains(ring.arg()) && err.contains("ring layout version 3"), "{err}");
    }
    let out = run_with_input(&["fill", "--ring", ring.arg()], Vec::new());
    assert_status("fill on a version-3 ring", &out, 1);
    assert_eq!(std::fs::read(&ring.0).unwrap(), bytes, "fill changed a ring of another version");
}

#[test]
fn an_overtaken_reader_reports_exactly_the_frames_lost() {
    let ring = Ring::new("overtaken");
    // 1 s guaranteed + 2 s slack = 144000 slots.
    let mut fill = start_preroll(&["fill", "--ring", ring.arg(), "--capacity", "1s"], false);
    fill.wait_line("created ring");
    let slots = info_json(&ring)["slot_frames"].as_u64().unwrap();
    assert_eq!(slots, 3 * RATE);

    // A tap whose stdout nobody reads yet: it fills the pipe and blocks.
    let mut tap = start_preroll(&["tap", "--ring", ring.arg(), "--from-frame", "0"], false);
    tap.wait_line("tap from frame 0 (");
    let total = 20 * RATE;
    fill.feed(&unique_frames(&spec(), 0, total));
    fill.close_stdin();
    wait_until("fill wrote everything", DEADLINE, || head(&ring) == total);
    let mut stdout = tap.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let (code, _, err) = tap.finish();
    let out = reader.join().unwrap();
    assert_eq!(code, Some(1), "overtaken tap: {err}");
    let got = (out.len() / FB) as u64;
    assert_frames("overtaken tap's output", &out, 0, got);
    let at = err.find("lost frames ").unwrap_or_else(|| panic!("no 'lost frames' in: {err}"));
    let rest = &err[at + "lost frames ".len()..];
    let (range, rest) = rest.split_once(' ').unwrap();
    let (a, b) = range.split_once("..").unwrap();
    let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
    assert_eq!(a, got, "the loss starts where the output stops: {err}");
    assert!(b > a && b <= total - slots, "lost range {a}..{b} (total {total}, slots {slots}): {err}");
    assert!(rest.starts_with(&format!("({} frames): reader overtaken by the writer", b - a)), "{err}");
    assert!(err.contains(&format!("tap wrote frames 0..{got} (")), "{err}");
    let (code, _, err) = fill.finish();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_tap_that_outlived_its_writer_goes_on_with_the_continued_timeline() {
    let ring = Ring::new("generation");
    let mut first = start_preroll(&["fill", "--ring", ring.arg()], false);
    first.wait_line("created ring");
    first.feed(&unique_frames(&spec(), 0, RATE));
    wait_until("head at 1 s", DEADLINE, || head(&ring) == RATE);
    let mut tap = start_preroll(&["tap", "--ring", ring.arg()], true);
    tap.wait_line(&format!("tap from frame {RATE} ("));
    first.feed(&unique_frames(&spec(), RATE, RATE));
    wait_until("tap has the 2nd second", DEADLINE, || tap.out_len() == RATE as usize * FB);
    first.close_stdin();
    let (code, _, err) = first.finish();
    assert_eq!(code, Some(0), "{err}");
    // The writer is gone; the tap waits for frames (it says so once) instead of ending.
    tap.wait_line(&format!("no writer holds the ring; waiting for frame {}", 2 * RATE));
    assert!(tap.child.try_wait().unwrap().is_none(), "tap ended when its writer left: {}", tap.stderr());

    // At least 100 ms of downtime, so the gap is never empty.
    std::thread::sleep(Duration::from_millis(100));
    let out = fill_frames(&ring, &[], 100);
    assert!(stderr(&out).contains("continuing timeline"), "{}", stderr(&out));
    let j = info_json(&ring);
    let gap = j["gaps"][0]["frames"].as_u64().unwrap();
    assert!(gap >= RATE / 10, "downtime gap {gap}");
    let head = j["head"].as_u64().unwrap();
    assert_eq!(head, 2 * RATE + gap + 100);
    wait_until("tap has the new writer's frames", DEADLINE, || tap.out_len() == (head - RATE) as usize * FB);
    tap.signal(nix::sys::signal::Signal::SIGTERM);
    let (code, out, err) = tap.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!("gap in the tapped frames: writer-restart at frame {}", 2 * RATE)),
        "{err}"
    );
    // Frames, the downtime as silence, then the new writer's frames: each at its number.
    assert_frames("tap before the restart", &out[..RATE as usize * FB], RATE, RATE);
    let silence = &out[RATE as usize * FB..(RATE + gap) as usize * FB];
    assert!(silence.iter().all(|&b| b == 0), "the downtime is silence");
    assert_frames("tap after the restart", &out[(RATE + gap) as usize * FB..], 0, 100);
}

#[test]
fn a_replaced_ring_ends_its_taps() {
    let ring = Ring::new("replaced");
    fill_frames(&ring, &[], 100);
    let tap = start_preroll(&["tap", "--ring", ring.arg()], true);
    tap.wait_line("tap from frame 100 (");
    let out = fill_frames(&ring, &["--capacity", "5s"], 50);
    assert!(
        stderr(&out).contains("replaced a ring of s16le 48000 Hz 2 ch, capacity 30.000s"),
        "{}",
        stderr(&out)
    );
    let (code, _, err) = tap.finish();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the ring was replaced by a new one"), "{err}");
    let j = info_json(&ring);
    assert_eq!(
        (j["capacity_frames"].as_u64(), j["head"].as_u64(), j["generation"].as_u64()),
        (Some(5 * RATE), Some(50), Some(2))
    );
    let mode = std::fs::metadata(&ring.0).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "replaced ring mode");
    let leftovers: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!(".vinyl-test-{}-replaced", std::process::id()))
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

fn write_fifo(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn fill_reopens_its_fifo_and_numbering_continues() {
    let ring = Ring::new("fifo");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("ring.fifo");
    let f = fifo.to_str().unwrap().to_string();
    let fill = start_preroll(&["fill", "--ring", ring.arg(), "--input", &f], false);
    fill.wait_line("created FIFO (mode 0600)");
    assert_eq!(std::fs::metadata(&fifo).unwrap().permissions().mode() & 0o777, 0o600);

    let mut first = unique_frames(&spec(), 0, RATE);
    first.extend_from_slice(&[0xAA, 0xBB]); // a partial frame at the writer's end
    let p = fifo.clone();
    with_deadline(DEADLINE, move || write_fifo(&p, &first));
    fill.wait_line("input ended mid-frame at the writer's end: discarded 2 bytes of a partial 4-byte frame");
    fill.wait_line(&format!("writer left at frame {RATE}; waiting for a new one"));
    assert_eq!(head(&ring), RATE);

    // The second writer's second of audio arrives at once, faster than real time: it was not
    // away longer than its own frames last, so the timeline has no gap (a live source that came
    // back later would leave one, journaled).
    let p = fifo.clone();
    with_deadline(DEADLINE, move || write_fifo(&p, &unique_frames(&spec(), RATE, RATE)));
    wait_until("head at 2 s", DEADLINE, || head(&ring) >= 2 * RATE);
    wait_until("the second writer left", DEADLINE, || fill.stderr().matches("writer left").count() == 2);
    let j = info_json(&ring);
    let gap = j["gap_frames"].as_u64().unwrap();
    assert_eq!(j["head"].as_u64(), Some(2 * RATE + gap));
    assert_eq!(j["generation"], 1, "one timeline across FIFO writers");

    let out = run_preroll(&["tap", "--ring", ring.arg(), "--from-frame", "0", "--no-follow"]);
    assert_success("tap after two FIFO writers", &out);
    let (a, b) = out.stdout.split_at(RATE as usize * FB);
    assert_frames("frames of the first FIFO writer", a, 0, RATE);
    let (silence, b) = b.split_at(gap as usize * FB);
    assert!(silence.iter().all(|&x| x == 0), "a gap is silence");
    assert_frames("frames of the second FIFO writer", b, RATE, RATE);

    fill.signal(Signal::SIGTERM);
    let (code, _, err) = fill.finish();
    assert_eq!(code, Some(0), "fill --input on SIGTERM: {err}");
    assert_eq!(err.matches("writer left").count(), 2, "{err}");
}

#[test]
fn fill_speaks_systemd_notify_even_without_input() {
    let ring = Ring::new("notify");
    let notify = Notify::bind();
    let mut cmd = preroll(&["fill", "--ring", ring.arg()]);
    cmd.env("NOTIFY_SOCKET", &notify.path).env("WATCHDOG_USEC", "200000");
    let what = describe(&cmd);
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let got = notify.wait_for("WATCHDOG=1", DEADLINE, |g| g.iter().any(|m| m == "WATCHDOG=1"));
    assert_eq!(got[0], "READY=1", "{got:?}");
    assert!(ring.0.exists(), "READY before the ring exists");
    drop(child.stdin.take());
    let out = wait_output(child, DEADLINE, &what);
    assert_success(&what, &out);
}

#[test]
fn info_and_tap_on_a_missing_ring_name_the_path() {
    let ring = Ring::new("missing");
    for args in [vec!["info", "--json"], vec!["tap"]] {
        let mut a = args.clone();
        a.extend_from_slice(&["--ring", ring.arg()]);
        let out = run_preroll(&a);
        assert_status(&format!("{args:?} on a missing ring"), &out, 1);
        let err = stderr(&out);
        assert!(err.contains(&format!("vinyl-preroll: {}: open: no such ring", ring.arg())), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_closed_stdout_ends_a_tap_quietly() {
    let ring = Ring::new("closed-stdout");
    fill_frames(&ring, &[], 2 * RATE);
    let mut cmd = preroll(&["tap", "--ring", ring.arg(), "--from", "-2s"]);
    let what = describe(&cmd);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = wait_output(child, DEADLINE, &what);
    assert_success(&what, &out);
    let err = stderr(&out);
    assert!(!err.contains("Broken pipe") && !err.contains("error"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["fill", "--capacity", "0s"],
        vec!["fill", "--capacity", "99999999999h"],
        vec!["fill", "--capacity", "30"],
        vec!["tap", "--from", "-5s", "--from-frame", "3"],
        vec!["tap", "--no-follow", "--until-frame", "3"],
        vec!["info", "--bogus"],
    ] {
        let out = run_preroll(&args);
        assert_status(&format!("{args:?}"), &out, 2);
    }
}
