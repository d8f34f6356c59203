//! Journaled gaps through the taps and into recordings, on frame-numbered audio: a strict tap
//! passes a gap of any length as silence of exactly its length (only overwritten real audio is a
//! loss), a live tap skips a long gap instead of bursting its silence, and a recording's gap tags
//! stay exact and bounded however many gaps there were.
//!
//! The writer is the ring's own [`RingWriter`] in this process (the code `vinyl-capture` and
//! `vinyl-preroll fill` write with), so a gap is exactly as long as asked and a test takes
//! seconds, not the minutes a real-time overrun would; the taps and recorders are the built tools.

mod common;

use common::proc::{Proc, Recording, Ring};
use common::*;
use nix::sys::signal::Signal;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use vinyl::pcm::{PcmSpec, unique_frame_number, unique_frames};
use vinyl::ring::{Config, GapCause, RingWriter};
use vinyl_ring::tap::{Note, Observer};

const RATE: u64 = 48_000;
const PREROLL: &str = env!("CARGO_BIN_EXE_vinyl-preroll");
const FLAC_REC: &str = env!("CARGO_BIN_EXE_vinyl-flac-rec");

/// A new ring of `capacity` frames at `ring`, its writer in this process.
fn writer(ring: &Ring, capacity: u64) -> RingWriter {
    RingWriter::open(&ring.0, Config::new(PcmSpec::default(), capacity)).unwrap().0
}

/// Appends the frames numbered `head..head + frames` (each frame carries its timeline number).
fn audio(w: &mut RingWriter, frames: u64) {
    let head = w.head();
    w.write(&unique_frames(&PcmSpec::default(), head, frames)).unwrap();
}

/// Readers sleeping on the ring's futex (the header's `waiters`, offset 100): a tap counts there
/// exactly while it is caught up with the head.
fn waiters(ring: &Ring) -> u32 {
    let mut b = [0u8; 4];
    std::fs::File::open(&ring.0).unwrap().read_exact_at(&mut b, 100).unwrap();
    u32::from_le_bytes(b)
}

/// The decoded recording is frames `first..gap`, then `gap_frames` zeros, then the frames after
/// the gap up to `end`, each carrying its timeline number.
fn assert_exact_around_gap(flac: &Path, first: u64, gap: u64, gap_frames: u64, end: u64) {
    let frames = decoded_frames(flac);
    assert_eq!(frames.len() as u64, end - first, "{}: length", flac.display());
    for (i, &n) in frames.iter().enumerate() {
        let t = first + i as u64;
        let want = if (gap..gap + gap_frames).contains(&t) { 0 } else { t & 0xffff_ffff };
        assert_eq!(n, want, "{}: frame {i} (timeline {t})", flac.display());
    }
}

#[test]
fn a_gap_longer_than_the_ring_passes_a_strict_tap_as_silence_of_its_exact_length() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Ring::new("gaps-long");
    let mut w = writer(&ring, 20 * RATE);
    audio(&mut w, 3 * RATE);
    let first = RATE;
    let rec = Recording::start(&ring, first, &dir.path().join("rec.flac"));
    wait_until("the tap is caught up", DEADLINE, || waiters(&ring) == 1);
    // The fault: an exact 30 s overrun on a 20 s ring (22 s of slots), while the tap is caught
    // up; it reads the gap's first frames as they come and finds the rest overwritten.
    let gap = w.gap(30 * RATE, GapCause::Overrun, true).unwrap();
    audio(&mut w, 2 * RATE);
    let end = w.head();
    wait_until("the tap is caught up again", DEADLINE, || waiters(&ring) == 1);
    let (tap_err, rec_err) = rec.stop();
    assert!(tap_err.contains("gap in the tapped frames: overrun at frame 144000"), "{tap_err}");
    assert!(tap_err.contains(&format!("tap wrote frames {first}..{end}")), "{tap_err}");
    assert!(rec_err.contains("gap in the recording: overrun"), "{rec_err}");
    let flac = dir.path().join("rec.flac");
    assert_eq!(flac_tag(&flac, "VINYL_GAPS"), format!("{}+{}:overrun:exact", gap.first - first, 30 * RATE));
    assert_exact_around_gap(&flac, first, gap.first, gap.frames, end);
}

#[test]
fn a_strict_tap_stopped_across_a_long_gap_writes_it_as_silence_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Ring::new("gaps-behind");
    let mut w = writer(&ring, 20 * RATE);
    audio(&mut w, 3 * RATE);
    let rec = Recording::start(&ring, RATE, &dir.path().join("rec.flac"));
    wait_until("the tap is caught up", DEADLINE, || waiters(&ring) == 1);
    // The tap is behind while the whole gap and the audio after it are written: every frame
    // of the gap it comes back to is overwritten, the last ones by the audio after it.
    signal(&rec.tap, Signal::SIGSTOP);
    let gap = w.gap(25 * RATE, GapCause::WriterRestart, false).unwrap();
    audio(&mut w, 5 * RATE);
    signal(&rec.tap, Signal::SIGCONT);
    let end = w.head();
    wait_until("the tap is caught up again", DEADLINE, || waiters(&ring) == 1);
    let (tap_err, _) = rec.stop();
    assert!(tap_err.contains("gap in the tapped frames: writer-restart"), "{tap_err}");
    let flac = dir.path().join("rec.flac");
    assert_eq!(flac_tag(&flac, "VINYL_GAPS"), format!("{}+{}:writer-restart:estimated", 2 * RATE, 25 * RATE));
    assert_exact_around_gap(&flac, RATE, gap.first, gap.frames, end);
}

#[test]
fn vinyl_rec_stop_succeeds_through_a_gap_longer_than_the_ring() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, recordings) = (dir.path().join("run"), dir.path().join("rec"));
    let ring = Ring::new("gaps-rec");
    let mut w = writer(&ring, 20 * RATE);
    audio(&mut w, 3 * RATE);
    vinyl_rec_ok(&["start", "--preroll", "2s", "--name", "side"], &run_dir, &recordings, &ring.0);
    wait_until("the tap is caught up", DEADLINE, || waiters(&ring) == 1);
    let gap = w.gap(30 * RATE, GapCause::Overrun, true).unwrap();
    audio(&mut w, 2 * RATE);
    let end = w.head();
    wait_until("the tap is caught up again", DEADLINE, || waiters(&ring) == 1);
    let stop = vinyl_rec(&["stop"], &run_dir, &recordings, &ring.0);
    assert_success("vinyl-rec stop after a 30 s gap on a 20 s ring", &stop);
    let month = std::fs::read_dir(&recordings).unwrap().next().unwrap().unwrap().path();
    let flac = month.join("side.flac");
    let first: u64 = flac_tag(&flac, "VINYL_START_FRAME").parse().unwrap();
    assert_eq!(flac_tag(&flac, "VINYL_GAPS"), format!("{}+{}:overrun:exact", gap.first - first, 30 * RATE));
    assert_exact_around_gap(&flac, first, gap.first, gap.frames, end);
}

#[test]
fn a_strict_tap_overtaken_on_real_audio_names_only_the_audio_it_lost() {
    let ring = Ring::new("gaps-lost");
    let mut w = writer(&ring, 2 * RATE);
    audio(&mut w, RATE);
    let mut c = Command::new(PREROLL);
    c.args(["tap", "--ring", ring.arg(), "--from-frame", "0"]);
    let tap = Proc::spawn(c, true);
    wait_until("the tap is caught up", DEADLINE, || waiters(&ring) == 1);
    tap.signal(Signal::SIGSTOP);
    // Half a second of audio, then a 5 s gap through 4 s of slots: frames 48000..120000 are
    // overwritten, but only 48000..72000 were audio; the error names those and no more.
    audio(&mut w, RATE / 2);
    w.gap(5 * RATE, GapCause::Suspend, true).unwrap();
    tap.signal(Signal::SIGCONT);
    let (code, out, err) = tap.finish();
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(out.len() as u64, RATE * 4, "the frames it could vouch for");
    assert!(err.contains(&format!("lost frames {RATE}..{} (", RATE * 3 / 2)), "{err}");
}

/// The frame numbers of raw 4-byte frames.
fn numbers(pcm: &[u8]) -> Vec<u64> {
    pcm.chunks_exact(4).map(unique_frame_number).collect()
}

#[test]
fn a_live_tap_skips_a_long_gap_and_passes_a_short_one_as_silence() {
    let ring = Ring::new("gaps-live");
    let mut w = writer(&ring, 20 * RATE);
    audio(&mut w, RATE);
    let mut c = Command::new(PREROLL);
    c.args(["tap", "--live", "--ring", ring.arg()]);
    let tap = Proc::spawn(c, true);
    tap.wait_line(&format!("tap from frame {RATE} ("));
    audio(&mut w, RATE);
    let short = w.gap(RATE / 2, GapCause::Overrun, true).unwrap();
    audio(&mut w, RATE);
    let long = w.gap(3 * RATE, GapCause::WriterRestart, false).unwrap();
    tap.wait_line("instead of passing its silence");
    audio(&mut w, RATE);
    let end = w.head();
    wait_until("the tap has the last frame", DEADLINE, || {
        tap.out_len() as u64 == (end - RATE - long.frames) * 4
    });
    tap.signal(Signal::SIGTERM);
    let (code, out, err) = tap.finish();
    assert_eq!(code, Some(0), "{err}");
    let line =
        format!("skipped frames {}..{} ({} frames) to the gap's end", long.first, long.end(), long.frames);
    assert!(err.contains(&line), "{err}");
    assert!(err.contains("skipped forward 1 times"), "{err}");
    assert!(err.contains("gap in the tapped frames: overrun"), "the short gap is written: {err}");
    let want: Vec<u64> = (RATE..long.first)
        .map(|t| if (short.first..short.end()).contains(&t) { 0 } else { t })
        .chain(long.end()..end)
        .collect();
    assert!(
        numbers(&out) == want,
        "the live output is not frames, 0.5 s of silence, frames, frames after the skip"
    );
}

#[test]
fn follow_live_sees_a_long_gap_as_a_forward_jump_in_frame_numbers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let ring = Ring::new("gaps-follow");
    let mut w = writer(&ring, 20 * RATE);
    audio(&mut w, RATE);
    let stop = Arc::new(AtomicBool::new(false));
    // (first frame, frames, frames that do not carry their own timeline number)
    let got = Arc::new(Mutex::new(Vec::<(u64, u64, usize)>::new()));
    let (s, g, path) = (stop.clone(), got.clone(), ring.0.clone());
    let follower = std::thread::spawn(move || {
        let stop = move || s.load(Ordering::Relaxed);
        let f = vinyl_ring::tap::Follow {
            ring: &path,
            spec: PcmSpec::default(),
            from: Some(0),
            batch: std::time::Duration::ZERO,
            stop: &stop,
        };
        let mut notes = Notes::default();
        vinyl_ring::tap::follow_live(f, &mut notes, &mut |first, bytes| {
            let wrong = numbers(bytes).iter().zip(first..).filter(|(n, t)| **n != *t).count();
            g.lock().unwrap().push((first, bytes.len() as u64 / 4, wrong));
            Ok(())
        })
        .map(|()| notes.0)
    });
    let reached = || got.lock().unwrap().last().map_or(0, |&(first, n, _)| first + n);
    wait_until("the first second", DEADLINE, || reached() == RATE);
    let long = w.gap(2 * RATE, GapCause::Overrun, true).unwrap();
    audio(&mut w, RATE);
    // The follower skips to the gap's end, or to live when the second after it is written
    // already: either way it then gets the frames that come after.
    let mut polls = 0u64;
    wait_until("the frames after the gap", DEADLINE, || {
        polls += 1;
        if polls % 2 == 0 {
            audio(&mut w, RATE / 10);
        }
        reached() == w.head()
    });
    stop.store(true, Ordering::Relaxed);
    let notes = follower.join().unwrap().unwrap();
    let calls = got.lock().unwrap().clone();
    let mut next = 0;
    let mut jumps = Vec::new();
    for (first, n, wrong) in calls {
        assert_eq!(wrong, 0, "frames {first}..{} handed on as something else than themselves", first + n);
        if first != next {
            jumps.push((next, first));
        }
        next = first + n;
    }
    assert!(
        jumps.len() == 1 && jumps[0].0 == long.first && jumps[0].1 >= long.end(),
        "one forward jump over the gap {long:?}, no silence handed on: {jumps:?}"
    );
    // The caller was told, once, where it started and what it skipped and why.
    let skipped: Vec<&Note> = notes.iter().filter(|n| matches!(n, Note::Skipped { .. })).collect();
    assert!(
        matches!(notes.first(), Some(Note::Following { from: 0, .. }))
            && matches!(skipped[..], [Note::Skipped { from, gap: Some(g), skips: 1, .. }] if *from == long.first && *g == long),
        "the notes: {notes:?}"
    );
}

/// The notes a tap tells its caller, kept.
#[derive(Default)]
struct Notes(Vec<Note>);

impl Observer for Notes {
    fn note(&mut self, note: Note) {
        self.0.push(note);
    }
}

/// Waits until the recorder has written audio into `part` (so it has looked at the journal).
fn wait_recording(part: &Path) {
    wait_until(&format!("audio in {}", part.display()), DEADLINE, || {
        std::fs::File::open(part)
            .ok()
            .and_then(|f| vinyl::flac::recover::scan(f).ok())
            .is_some_and(|r| r.frames > 0)
    });
}

/// Records `count` gaps written at once between two looks of the tap and the recorder (each gap
/// `100 + i` frames, 1000 frames of audio after each), and returns the recording, its first frame,
/// the gaps, and the tap's and the recorder's logs.
fn record_many_gaps(
    dir: &Path,
    ring: &Ring,
    count: u64,
) -> (std::path::PathBuf, u64, Vec<vinyl::ring::Gap>, String, String) {
    let mut w = writer(ring, 20 * RATE);
    audio(&mut w, 3 * RATE);
    let (first, flac) = (RATE, dir.join("rec.flac"));
    let rec = Recording::start(ring, first, &flac);
    wait_until("the tap is caught up", DEADLINE, || waiters(ring) == 1);
    wait_recording(&vinyl::flacrec::part_path(&flac));
    // Both stopped while the gaps are written, so that each sees all of them at its next look.
    signal(&rec.tap, Signal::SIGSTOP);
    signal(&rec.rec, Signal::SIGSTOP);
    let gaps: Vec<_> = (0..count)
        .map(|i| {
            let g = w.gap(100 + i, GapCause::Overrun, true).unwrap();
            audio(&mut w, 1000);
            g
        })
        .collect();
    audio(&mut w, RATE);
    signal(&rec.tap, Signal::SIGCONT);
    signal(&rec.rec, Signal::SIGCONT);
    wait_until("the tap is caught up again", DEADLINE, || waiters(ring) == 1);
    let (tap_err, rec_err) = rec.stop();
    let frames = decoded_frames(&flac);
    for (i, &n) in frames.iter().enumerate() {
        let t = first + i as u64;
        let silent = gaps.iter().any(|g| (g.first..g.end()).contains(&t));
        assert_eq!(n, if silent { 0 } else { t & 0xffff_ffff }, "frame {i} (timeline {t})");
    }
    (flac, first, gaps, tap_err, rec_err)
}

/// The gaps of `VINYL_GAPS`, as (offset, frames).
fn tagged(flac: &Path) -> Vec<(u64, u64)> {
    let tag = flac_tag(flac, "VINYL_GAPS");
    vinyl::ring::gaps::parse_tag(&tag).unwrap().iter().map(|g| (g.offset, g.frames)).collect()
}

#[test]
fn seventy_gaps_between_two_looks_are_counted_exactly_and_the_tag_lists_the_largest() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Ring::new("gaps-70");
    let (flac, first, gaps, tap_err, rec_err) = record_many_gaps(dir.path(), &ring, 70);
    // The journal held the last 64; the first 6 are accounted for from the header's totals.
    let six: u64 = gaps[..6].iter().map(|g| g.frames).sum();
    let line = format!("6 gaps ({} of silence) between frames", vinyl::pcm::format_frames(six, RATE as u32));
    assert!(tap_err.contains(&line) && tap_err.contains("left the ring's journal"), "{tap_err}");
    assert!(rec_err.contains(&line), "{rec_err}");
    let total: u64 = gaps.iter().map(|g| g.frames).sum();
    assert!(
        tap_err.contains(&format!("with 70 gaps ({}", vinyl::pcm::format_frames(total, RATE as u32))),
        "{tap_err}"
    );
    assert_eq!(flac_tag(&flac, "VINYL_GAPS_TOTAL"), format!("70+{total}:exact"));
    let largest: Vec<(u64, u64)> = gaps[38..].iter().map(|g| (g.first - first, g.frames)).collect();
    assert_eq!(tagged(&flac), largest, "the 32 largest, in timeline order");
    // What `vinyl-rec stop` prints and `list` shows count them all.
    let unlisted: u64 = gaps[..38].iter().map(|g| g.frames).sum();
    let said = vinyl::rec::stop::duration_line(&flac).unwrap();
    let line = format!(
        "38 more gaps ({} of silence) that VINYL_GAPS does not list",
        vinyl::pcm::format_frames(unlisted, RATE as u32)
    );
    assert!(said.lines().count() == 34 && said.ends_with(&format!("{line} (VINYL_GAPS_TOTAL)")), "{said}");
    let p = vinyl::flac::probe::probe(&flac).unwrap();
    assert!(
        vinyl::rec::stop::duration_cell(&p)
            .contains(&format!(", 70 gaps ({} of silence)", vinyl::pcm::format_frames(total, RATE as u32)))
    );
}

#[test]
fn four_hundred_gaps_keep_the_tags_bounded_and_leave_room_for_markers_and_loudness() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Ring::new("gaps-400");
    let (flac, _, gaps, _, rec_err) = record_many_gaps(dir.path(), &ring, 400);
    let total: u64 = gaps.iter().map(|g| g.frames).sum();
    assert_eq!(flac_tag(&flac, "VINYL_GAPS_TOTAL"), format!("400+{total}:exact"), "{rec_err}");
    assert!(rec_err.contains("VINYL_GAPS lists 32 gaps (the largest); VINYL_GAPS_TOTAL=400+"), "{rec_err}");
    let listed = tagged(&flac);
    assert_eq!(listed.len(), vinyl::ring::gaps::TAG_MAX_ITEMS);
    assert!(listed.iter().all(|&(_, f)| f >= 100 + 400 - 32), "the largest: {listed:?}");
    assert!(flac_tag(&flac, "VINYL_GAPS").len() <= vinyl::ring::gaps::TAG_MAX_BYTES);
    // What vinyl-rec auto adds afterwards still fits: 50 track markers and the loudness tags.
    let samples = decoded_frames(&flac).len() as u64;
    let offsets: Vec<u64> = (0..50).map(|i| i * samples / 50).collect();
    vinyl::flac::cuesheet::set_tracks(&flac, &offsets).unwrap();
    let m = vinyl::flac::loudness::Measurements {
        integrated_lufs: Some(-14.8),
        true_peak_dbtp: Some(-0.8),
        noise_floor_dbfs: Some(-62.5),
        clicks_per_min: Some(3.4),
        clipped: 0,
    };
    vinyl::flac::loudness::write(&flac, &m).unwrap();
    assert_eq!(vinyl::flac::cuesheet::tracks(&flac).unwrap(), offsets);
    assert_eq!(flac_tag(&flac, "VINYL_GAPS_TOTAL"), format!("400+{total}:exact"));
}

#[test]
fn a_snapshot_spanning_seventy_gaps_says_how_many_it_could_not_list() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Ring::new("gaps-snap");
    let mut w = writer(&ring, 20 * RATE);
    audio(&mut w, RATE);
    let gaps: Vec<_> = (0..70u64)
        .map(|i| {
            let g = w.gap(100 + i, GapCause::Overrun, true).unwrap();
            audio(&mut w, 1000);
            g
        })
        .collect();
    audio(&mut w, RATE);
    // After the fact, as `vinyl-rec snapshot` does: the journal holds the last 64 gaps only.
    let (first, flac) = (RATE / 2, dir.path().join("snap.flac"));
    let mut tap = Command::new(PREROLL)
        .args(["tap", "--ring", ring.arg(), "--from-frame", &first.to_string(), "--no-follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rec = Command::new(FLAC_REC)
        .args(["-o", flac.to_str().unwrap(), "--start-frame", &first.to_string(), "--ring", ring.arg()])
        .stdin(tap.stdout.take().unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let tap = wait_output(tap, DEADLINE, "tap");
    let rec = wait_output(rec, DEADLINE, "vinyl-flac-rec");
    assert_success("tap", &tap);
    assert_success("vinyl-flac-rec", &rec);
    let (tap_err, rec_err) = (String::from_utf8_lossy(&tap.stderr), String::from_utf8_lossy(&rec.stderr));
    let six: u64 = gaps[..6].iter().map(|g| g.frames).sum();
    let line = format!(
        "up to 6 gaps (up to {} of silence) between frames {first} and {}",
        vinyl::pcm::format_frames(six, RATE as u32),
        gaps[5].end()
    );
    assert!(tap_err.contains(&line) && tap_err.contains("left the ring's journal"), "{line}\n{tap_err}");
    assert!(rec_err.contains(&line), "{rec_err}");
    let total: u64 = gaps.iter().map(|g| g.frames).sum();
    assert_eq!(flac_tag(&flac, "VINYL_GAPS_TOTAL"), format!("70+{total}:at-most"));
    assert_eq!(tagged(&flac).len(), vinyl::ring::gaps::TAG_MAX_ITEMS);
}

/// The ring crate on its own (crates/ring/examples/follow.rs, what an outside program writes):
/// it follows a ring live and gets every frame in order, with the timeline's numbers, and is told
/// where it started.
#[test]
fn the_ring_crates_example_follows_a_ring_live() {
    use std::io::{BufRead as _, Read as _};
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", "vinyl-ring", "--example", "follow"]).current_dir(repo_root());
    assert_success("cargo build -p vinyl-ring --example follow", &run(&mut build, DEADLINE * 10));
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(repo_root().join("target"), Into::into);
    let ring = Ring::new("gaps-example");
    let mut w = writer(&ring, 20 * RATE);
    audio(&mut w, RATE);
    let mut child = Command::new(repo_root().join(target).join("debug/examples/follow"))
        .arg(&ring.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    err.read_line(&mut said).unwrap();
    assert!(said.starts_with("Following { from: 48000"), "the example said: {said:?}");
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut got = vec![0u8; 2 * RATE as usize * 4];
        let _ = tx.send(out.read_exact(&mut got).map(|()| got));
    });
    for _ in 0..20 {
        audio(&mut w, RATE / 10);
    }
    // Killing the example ends a read that waits for frames it never gives.
    let got = rx.recv_timeout(DEADLINE);
    let _ = child.kill();
    let _ = child.wait();
    let got = got.expect("two seconds of frames from the example in time").expect("its stdout");
    assert!(numbers(&got).iter().copied().eq(RATE..3 * RATE), "not frames 48000.. in order");
}
