//! `vinyl-listen` and what is not audio (issue 18): digital silence (how the ring writes every
//! lost stretch), frames a live tap skipped (a journaled gap), and its own restart.
//!
//! Synthetic sides with ground truth (examples/synth-side) are spliced with exact zeros and fed on
//! stdin, or written into a ring by the ring's own writer in this process (the code vinyl-capture
//! runs) while a real `vinyl-listen --ring` follows it. Zeros and gaps must be bridged: no side
//! starts where zeros end, none ends inside a short gap, the run-out and the lift after them are
//! still found, and a gap past `--gap-limit` ends the side as `gap`. A listener killed in the
//! middle of a side and started again carries on: the side is announced once and ended once.

mod common;

use common::proc::Ring;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use vinyl::pcm::PcmSpec;
use vinyl::ring::{Config, GapCause, RingWriter};

const LISTEN: &str = env!("CARGO_BIN_EXE_vinyl-listen");
const RATE: u64 = 48_000;
/// Half a second: how close a decision must land to the truth after a splice.
const NEAR: u64 = RATE / 2;

/// A side (2 tracks of 10 s, a 2 s gap, a 45 rpm run-out of 12 s) with `idle` s before it;
/// `None`: the test skips ([`common::synth_side`]).
fn side(seed: &str, idle: &str) -> Option<(Vec<u8>, Value)> {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--seed", seed];
    args.extend(common::SHORT_SIDE);
    args.extend(["12", "--idle-before", idle, "--idle-after", "6"]);
    common::synth_side(dir.path(), "truth", &args)
}

fn at(truth: &Value, key: &str) -> u64 {
    truth[key].as_u64().unwrap()
}

/// `pcm` with `seconds` of exact zeros inserted at frame `frame`.
fn with_zeros(pcm: &[u8], frame: u64, seconds: f64) -> Vec<u8> {
    let mut out = pcm[..frame as usize * 4].to_vec();
    out.resize(out.len() + (seconds * RATE as f64) as usize * 4, 0);
    out.extend_from_slice(&pcm[frame as usize * 4..]);
    out
}

/// The decisions (no levels or states) vinyl-listen makes on `pcm` fed on stdin.
fn listen(pcm: &[u8], args: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("in.raw");
    std::fs::write(&raw, pcm).unwrap();
    let mut cmd = Command::new(LISTEN);
    cmd.args(["--level-every", "0s"]).args(args).stdin(std::fs::File::open(&raw).unwrap());
    let out = common::run(&mut cmd, Duration::from_secs(300));
    common::assert_success("vinyl-listen < side with zeros", &out);
    decisions(&String::from_utf8_lossy(&out.stdout))
}

fn decisions(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| !matches!(v["event"].as_str(), Some("level" | "state" | "side_report")))
        .collect()
}

fn kinds<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|v| v["event"] == kind).collect()
}

fn frame(v: &Value) -> u64 {
    v["frame"].as_u64().unwrap()
}

fn near(got: u64, want: u64) -> bool {
    got.abs_diff(want) <= NEAR
}

#[test]
fn digital_silence_in_idle_starts_no_side_and_the_needle_drop_is_found() {
    let Some((pcm, truth)) = side("181", "8") else { return };
    for secs in [1.0, 2.0, 10.0, 49.5] {
        let shift = (secs * RATE as f64) as u64;
        let events = listen(&with_zeros(&pcm, 3 * RATE, secs), &[]);
        let starts = kinds(&events, "side_start");
        assert_eq!(starts.len(), 1, "{secs} s of zeros in idle: {events:#?}");
        assert!(near(frame(starts[0]), at(&truth, "needle_drop") + shift), "{secs} s: {events:#?}");
        let tracks = kinds(&events, "track_start");
        assert_eq!(tracks.len(), 2, "{secs} s: {events:#?}");
        assert!(near(frame(tracks[0]), at(&truth, "music_start") + shift), "{secs} s: {events:#?}");
        let ends = kinds(&events, "side_end");
        assert_eq!(ends.len(), 1, "{secs} s: {events:#?}");
        assert_eq!(ends[0]["reason"], "runout", "{secs} s: {events:#?}");
    }
}

#[test]
fn digital_silence_inside_a_side_is_bridged_and_the_next_side_starts_on_time() {
    let Some((a, ta)) = side("182", "6") else { return };
    let Some((b, tb)) = side("183", "6") else { return };
    let middle = at(&ta, "music_start") + 5 * RATE;
    for secs in [0.6, 2.0, 30.0] {
        let shift = (secs * RATE as f64) as u64;
        let mut pcm = with_zeros(&a, middle, secs);
        let b_at = (pcm.len() / 4) as u64;
        pcm.extend_from_slice(&b);
        let events = listen(&pcm, &[]);
        let starts = kinds(&events, "side_start");
        assert_eq!(starts.len(), 2, "{secs} s of zeros in a side: {events:#?}");
        let ends = kinds(&events, "side_end");
        assert_eq!(ends.len(), 2, "{secs} s: {events:#?}");
        assert_eq!(ends[0]["reason"], "runout", "{secs} s: {events:#?}");
        assert!(frame(ends[0]) + 3 * RATE >= at(&ta, "lock") + shift, "{secs} s: {events:#?}");
        assert_eq!(kinds(&events, "lift").len(), 2, "both lifts are heard, {secs} s: {events:#?}");
        assert!(near(frame(starts[1]), b_at + at(&tb, "needle_drop")), "{secs} s: {events:#?}");
        let b_tracks: Vec<_> = kinds(&events, "track_start").into_iter().filter(|t| t["side"] == 2).collect();
        assert_eq!(b_tracks.len(), 2, "{secs} s: {events:#?}");
        assert!(near(frame(b_tracks[0]), b_at + at(&tb, "music_start")), "{secs} s: {events:#?}");
    }
}

#[test]
fn a_gap_longer_than_the_limit_ends_the_side_as_gap() {
    let Some((a, ta)) = side("184", "6") else { return };
    let middle = at(&ta, "music_start") + 5 * RATE;
    let events = listen(&with_zeros(&a, middle, 12.0), &["--gap-limit", "10s"]);
    let ends = kinds(&events, "side_end");
    assert!(!ends.is_empty(), "{events:#?}");
    assert_eq!(ends[0]["reason"], "gap", "{events:#?}");
    assert!(near(frame(ends[0]), middle), "the gap's first frame: {events:#?}");
    let events = listen(&with_zeros(&a, middle, 12.0), &[]);
    assert_eq!(
        kinds(&events, "side_end")[0]["reason"],
        "runout",
        "bridged under the 60 s default: {events:#?}"
    );
}

/// A listener following a ring that this process writes, into an events file.
struct Follower {
    child: Child,
    events: PathBuf,
    args: Vec<String>,
}

impl Follower {
    fn start(ring: &Ring, events: &Path) -> Follower {
        let args: Vec<String> = ["--ring", ring.arg(), "--output", events.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut f = Follower { child: spawn(&args), events: events.to_path_buf(), args };
        f.wait_for("following live", Duration::from_secs(60));
        f
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.events.with_extension("log")).unwrap_or_default()
    }

    fn wait_for(&mut self, line: &str, timeout: Duration) {
        let log = self.events.with_extension("log");
        common::wait_until(&format!("vinyl-listen says {line:?}"), timeout, || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.contains(line))
        });
    }

    /// Waits until the events say the analysis reached frame `n`.
    fn wait_analysed(&self, n: u64) {
        common::wait_until(&format!("vinyl-listen analysed frame {n}"), Duration::from_secs(120), || {
            std::fs::read_to_string(&self.events)
                .unwrap_or_default()
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str::<Value>(l).ok()?["at"].as_u64())
                .is_some_and(|a| a >= n)
        });
    }

    fn kill_and_restart(&mut self) {
        common::signal(&self.child, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
        self.child = spawn(&self.args);
    }

    fn stop(mut self) -> Vec<Value> {
        common::signal(&self.child, nix::sys::signal::Signal::SIGTERM);
        common::wait_deadline(&mut self.child, common::DEADLINE);
        decisions(&std::fs::read_to_string(&self.events).unwrap())
    }
}

fn spawn(args: &[String]) -> Child {
    let events = PathBuf::from(&args[3]);
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(events.with_extension("log")).unwrap();
    Command::new(LISTEN).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().unwrap()
}

/// Writes `pcm` into the ring a second at a time, each second once the listener analysed the
/// one before (so a small ring never overtakes it).
fn write_paced(w: &mut RingWriter, f: &Follower, pcm: &[u8]) {
    for chunk in pcm.chunks(RATE as usize * 4) {
        w.write(chunk).unwrap();
        f.wait_analysed(w.head().saturating_sub(RATE));
    }
}

#[test]
fn a_journaled_gap_that_the_live_tap_skips_is_bridged() {
    let Some((a, ta)) = side("185", "6") else { return };
    let ring = Ring::new("listen-gap-jump");
    let mut w =
        RingWriter::open(Path::new(ring.arg()), Config::new(PcmSpec::default(), 600 * RATE)).unwrap().0;
    let dir = tempfile::tempdir().unwrap();
    let f = Follower::start(&ring, &dir.path().join("events"));
    let middle = (at(&ta, "music_start") + 5 * RATE) as usize * 4;
    write_paced(&mut w, &f, &a[..middle]);
    w.gap(10 * RATE, GapCause::Overrun, true).unwrap();
    // At once: the tap may skip to live past the gap, and would wait for frames to come.
    w.write(&a[middle..]).unwrap();
    f.wait_analysed(w.head() - RATE);
    let log = f.log();
    let events = f.stop();
    assert!(log.contains("bridged"), "{log}");
    assert_eq!(kinds(&events, "side_start").len(), 1, "{events:#?}\n{log}");
    let ends = kinds(&events, "side_end");
    assert_eq!(ends.len(), 1, "{events:#?}\n{log}");
    assert_eq!(ends[0]["reason"], "runout", "{events:#?}\n{log}");
}

/// Kills the listener once the analysis reached `kill_at` of side `a`, restarts it, and returns
/// the decisions of the whole run.
fn restarted_mid_side(tag: &str, capacity_s: u64, a: &[u8], kill_at: u64) -> (Vec<Value>, String) {
    let ring = Ring::new(tag);
    let mut w = RingWriter::open(Path::new(ring.arg()), Config::new(PcmSpec::default(), capacity_s * RATE))
        .unwrap()
        .0;
    let dir = tempfile::tempdir().unwrap();
    let mut f = Follower::start(&ring, &dir.path().join("events"));
    write_paced(&mut w, &f, &a[..kill_at as usize * 4]);
    f.wait_analysed(kill_at - RATE);
    f.kill_and_restart();
    f.wait_for("carrying on", Duration::from_secs(60));
    write_paced(&mut w, &f, &a[kill_at as usize * 4..]);
    let log = f.log();
    (f.stop(), log)
}

#[test]
fn a_listener_restarted_mid_side_carries_on_and_announces_the_side_once() {
    let Some((a, ta)) = side("186", "6") else { return };
    let kill_at = at(&ta, "music_start") + 8 * RATE;
    let (events, log) = restarted_mid_side("listen-restart", 600, &a, kill_at);
    assert_eq!(kinds(&events, "side_start").len(), 1, "{events:#?}\n{log}");
    let tracks = kinds(&events, "track_start");
    assert_eq!(tracks.len(), 2, "{events:#?}\n{log}");
    let ends = kinds(&events, "side_end");
    assert_eq!(ends.len(), 1, "{events:#?}\n{log}");
    assert_eq!(ends[0]["reason"], "runout", "{events:#?}\n{log}");
    assert!(near(frame(ends[0]), at(&ta, "lock")) || frame(ends[0]) > at(&ta, "lock"), "{events:#?}");
}

#[test]
fn a_listener_restarted_after_the_ring_lost_the_side_start_resumes_it_as_playing() {
    let Some((a, ta)) = side("187", "6") else { return };
    // A 5 s ring: the needle drop is long gone when the listener comes back.
    let kill_at = at(&ta, "music_start") + 8 * RATE;
    let (events, log) = restarted_mid_side("listen-resume", 5, &a, kill_at);
    assert!(log.contains("resumed as playing"), "{log}");
    assert_eq!(kinds(&events, "side_start").len(), 1, "{events:#?}\n{log}");
    let ends = kinds(&events, "side_end");
    assert_eq!(ends.len(), 1, "{events:#?}\n{log}");
    assert_eq!(ends[0]["side"], 1, "{events:#?}\n{log}");
    assert!(
        frame(ends[0]) >= at(&ta, "music_end") - 2 * RATE,
        "not before the music's end: {events:#?}\n{log}"
    );
}
