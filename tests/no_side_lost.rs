//! "No side lost" (issue 18): the fault matrix of the hands-free path, at real time under
//! `vinyl-up` (`VINYL_REALTIME=yes`, a real icecast2, `VINYL_AUTO_RECORD=yes`), on a synthetic
//! side with ground truth (examples/synth-side): three tracks, gaps between them, a 45 rpm
//! run-out, then the lift.
//!
//! Each test plays one side and, in the middle of its music, does one fault: the listener, auto
//! or the capture killed and restarted as systemd would, the capture stopped for 2 s or 30 s,
//! the recorder stopped for longer than the ring, the events file deleted under a listener that
//! rotates it every few seconds, the disk filled. A witness (a strict `vinyl-preroll tap
//! --from-frame 0`, the ring's own frames) records the whole timeline beside it. Then:
//! - the side's audio is in exactly one file (or, when the ring itself lost frames, in a file and
//!   its continuation), bit-exact to the witness from its first frame to its last;
//! - every journaled gap inside it is listed in `VINYL_GAPS`;
//! - `VINYL_END_REASON` says why it ended, and nothing was deleted;
//! - the listener announced the side once, and ended it once.
//!
//! The fault's own duration (a kill's downtime, a SIGSTOP) is the only fixed sleep; everything
//! else waits on conditions.

mod common;

use common::up::{Saved, Up, gone, head, journal, read_lossy, signal_pid};
use common::{DEADLINE, Music, QUIET_SIDE, tag_number, wait_until};
use nix::sys::signal::Signal;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const RATE: u64 = 48_000;
const PREROLL: &str = env!("CARGO_BIN_EXE_vinyl-preroll");
/// Room for a whole side at real time on a loaded 2-core machine.
const LONG: Duration = Duration::from_secs(300);
/// `RestartSec=` of the units: how long a killed component stays down.
const RESTART_SEC: Duration = Duration::from_secs(1);

/// One side played at real time through the whole topology, and the witness of its ring.
struct Play {
    up: Up,
    /// The programme the capture reads (raw s16le stereo), and the side's ground truth.
    programme: Vec<u8>,
    truth: Value,
    witness: Child,
    witness_path: PathBuf,
    /// Where the sides go (`VINYL_RECORDINGS`).
    recordings: PathBuf,
}

/// The side: 3 tracks of 16 s with 2 s gaps and a 12 s run-out at 45 rpm, 4 s of idle before and
/// 6 s after (about 75 s).
const SIDE: &str = concat!(
    "--seed 1818 --tracks 3 --track-len 16 --gap 2 --no-quiet ",
    "--rpm 45 --runout 12 --idle-before 4 --idle-after 6"
);

impl Play {
    /// Configures and starts vinyl-up on the side with these extra configuration lines, and the
    /// witness; `None`: the test skips (no side to play).
    fn start(tag: &str, conf: &str) -> Option<Play> {
        Play::start_in(tag, conf, None, SIDE)
    }

    /// [`Play::start`] with the recordings in `recordings` instead of the rig's folder, playing
    /// the side examples/synth-side makes with the flags `side` (`None`: the test skips,
    /// [`common::synth_side`]). Flags `A + B` play two sides one after the other: the truth is
    /// the first's, its music's end and lift the second's.
    fn start_in(tag: &str, conf: &str, recordings: Option<&Path>, side: &str) -> Option<Play> {
        Play::start_on(tag, conf, recordings, side, common::INTROZIK)
    }

    /// [`Play::start_in`] with the side's music decoded from `music`.
    fn start_on(tag: &str, conf: &str, recordings: Option<&Path>, side: &str, music: Music) -> Option<Play> {
        let up = Up::start(tag, 1);
        let mut sides = side.split(" + ");
        let flags: Vec<&str> = sides.next().unwrap_or_default().split_whitespace().collect();
        let (mut programme, mut truth) = common::synth_side_of(up.dir.path(), "truth", music, &flags)?;
        if let Some(next) = sides.next() {
            let flags: Vec<&str> = next.split_whitespace().collect();
            let (more, then) = common::synth_side_of(up.dir.path(), "truth2", music, &flags)?;
            let offset = (programme.len() / 4) as u64;
            for key in ["music_end", "lift", "lock"] {
                truth[key] = then[key].as_u64().map(|f| f + offset).into();
            }
            programme.extend_from_slice(&more);
        }
        std::fs::write(&up.input, &programme).unwrap();
        let mut text = std::fs::read_to_string(&up.conf).unwrap();
        text = text.replace("VINYL_RING_CAPACITY=30s\n", "");
        text += "VINYL_AUTO_RECORD=yes\nVINYL_AUTO_MIN_SIDE=20s\nVINYL_AUTO_MIN_FREE=1MiB\n";
        if !conf.contains("VINYL_RING_CAPACITY") {
            text += "VINYL_RING_CAPACITY=3m\n";
        }
        text += conf;
        if let Some(r) = recordings {
            text += &format!("VINYL_RECORDINGS={}\n", r.display());
        }
        std::fs::write(&up.conf, text).unwrap();
        let recordings = recordings.map_or_else(|| up.recordings.clone(), Path::to_path_buf);
        up.sh_ok(&["vinyl-up"]);
        let witness_path = up.dir.path().join("witness.raw");
        let witness = Command::new(PREROLL)
            .args(["tap", "--ring", up.ring_arg(), "--from-frame", "0"])
            .stdout(std::fs::File::create(&witness_path).unwrap())
            .stderr(std::fs::File::create(up.dir.path().join("witness.log")).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Some(Play { up, programme, truth, witness, witness_path, recordings })
    }

    /// A timeline frame of the truth (`key`).
    fn at(&self, key: &str) -> u64 {
        self.truth[key].as_u64().unwrap_or_else(|| panic!("truth has no {key}"))
    }

    /// The middle of the side's music.
    fn middle(&self) -> u64 {
        (self.at("music_start") + self.at("music_end")) / 2
    }

    /// Waits until the ring holds frame `frame`.
    fn wait_frame(&self, frame: u64) {
        wait_until(&format!("the ring's head past frame {frame}"), LONG, || head(&self.up) > frame);
    }

    /// Waits until auto finished `n` sides (its "… tracks" lines), then stops everything and
    /// returns auto's log, the recordings, and the witness's frames.
    fn finish(mut self, n: usize) -> Finished {
        let up = &self.up;
        wait_until_or_dump(up, &format!("{n} finished side(s) in auto.log"), || {
            up.log("auto").matches(" tracks").count() >= n
        });
        let journal = journal(up);
        up.sh_ok(&["vinyl-down"]);
        common::signal(&self.witness, Signal::SIGTERM);
        common::wait_deadline(&mut self.witness, DEADLINE);
        let witness = std::fs::read(&self.witness_path).unwrap();
        let events = events(up);
        let files = flacs(&self.recordings);
        Finished { play: self, events, files, witness, journal }
    }
}

/// Waits for `cond`; on a timeout, prints every component's log first.
fn wait_until_or_dump(up: &Up, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + LONG;
    while !cond() {
        if std::time::Instant::now() >= deadline {
            for c in ["capture", "listen", "auto"] {
                eprintln!("---- {c}.log ----\n{}", up.log(c));
            }
            eprintln!("---- events ----\n{}", events(up).join("\n"));
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every event line the listener wrote (rotated generations first).
fn events(up: &Up) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["events.2", "events.1", "events"] {
        out.extend(read_lossy(&up.run_file(name)).lines().map(str::to_string));
    }
    out
}

/// The FLAC files under `dir`, by their first frame; `.part` files too.
fn flacs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for month in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(month.path()).into_iter().flatten().flatten() {
            let p = f.path();
            if p.to_string_lossy().ends_with(".flac") || p.to_string_lossy().ends_with(".part") {
                out.push(p);
            }
        }
    }
    out.sort_by_key(|p| tag_number(p, "VINYL_START_FRAME"));
    out
}

/// What a played side left.
struct Finished {
    play: Play,
    events: Vec<String>,
    files: Vec<PathBuf>,
    witness: Vec<u8>,
    journal: Vec<(u64, u64, String, bool)>,
}

impl Finished {
    /// The events of kind `kind`.
    fn of(&self, kind: &str) -> Vec<Value> {
        self.events
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == kind)
            .collect()
    }

    fn context(&self) -> String {
        let logs: String = ["capture", "listen", "auto"]
            .iter()
            .map(|c| format!("---- {c}.log ----\n{}\n", self.play.up.log(c)))
            .collect();
        let events: Vec<&String> = self.events.iter().filter(|l| !l.contains("\"level\"")).collect();
        format!("{logs}---- events (no levels) ----\n{events:#?}\nfiles: {:?}", self.files)
    }

    /// The side was announced once and ended once, and its one file holds it whole: from at or
    /// before the needle drop to at or after the music's end, bit-exact to the ring, its gaps
    /// listed, its end reason `reason`. Returns the file.
    fn assert_whole(&self, reason: &str) -> PathBuf {
        let ctx = self.context();
        self.assert_announced_once(&ctx);
        self.assert_one_file(reason, &ctx)
    }

    /// One side_start and one side_end (of what the rotation kept).
    fn assert_announced_once(&self, ctx: &str) {
        let starts = self.of("side_start");
        assert_eq!(starts.len(), 1, "side_start events: {starts:?}\n{ctx}");
        let ends = self.of("side_end");
        assert_eq!(ends.len(), 1, "side_end events: {ends:?}\n{ctx}");
    }

    /// The side is in one file, whole and exact, ended for `reason`.
    fn assert_one_file(&self, reason: &str, ctx: &str) -> PathBuf {
        assert_eq!(self.files.len(), 1, "{ctx}");
        let f = &self.files[0];
        let (first, end) = self.assert_exact(f, ctx);
        let p = &self.play;
        assert!(
            first <= p.at("needle_drop"),
            "{}: starts at {first}, after the needle drop\n{ctx}",
            f.display()
        );
        assert!(end >= p.at("music_end"), "{}: ends at {end}, before the music's end\n{ctx}", f.display());
        assert_eq!(common::flac_tag(f, "VINYL_END_REASON"), reason, "{}\n{ctx}", f.display());
        f.clone()
    }

    /// The file decodes to exactly the witness's frames from its start frame, and lists every
    /// journaled gap it spans. Returns its timeline range.
    fn assert_exact(&self, f: &Path, ctx: &str) -> (u64, u64) {
        assert!(f.to_string_lossy().ends_with(".flac"), "{}: not finished\n{ctx}", f.display());
        let first = tag_number(f, "VINYL_START_FRAME");
        let decoded = common::flac_raw(f);
        let end = first + (decoded.len() / 4) as u64;
        let want = self.witness.get(first as usize * 4..end as usize * 4);
        assert!(
            want == Some(&decoded[..]),
            "{}: frames {first}..{end} are not the ring's (the witness holds {} frames)\n{ctx}",
            f.display(),
            self.witness.len() / 4
        );
        let listed = vinyl::ring::gaps::parse_tag(&common::flac_tag(f, "VINYL_GAPS")).unwrap();
        for (g_first, frames, cause, _) in &self.journal {
            let (a, b) = ((*g_first).max(first), (g_first + frames).min(end));
            if a < b {
                assert!(
                    listed
                        .iter()
                        .any(|t| t.offset == a - first && t.frames == b - a && t.cause.name() == cause),
                    "{}: the journaled gap {g_first}+{frames} ({cause}) is not in VINYL_GAPS {listed:?}\n{ctx}",
                    f.display()
                );
            }
        }
        (first, end)
    }
}

#[test]
fn a_listener_killed_mid_side_and_restarted_leaves_the_side_whole() {
    let Some(done) = killed_at("nsl-listen", "listen", When::Middle) else { return };
    done.assert_whole("runout");
}

#[test]
fn auto_killed_mid_side_and_restarted_leaves_the_side_whole() {
    let Some(done) = killed_at("nsl-auto", "auto", When::Middle) else { return };
    done.assert_whole("runout");
}

#[test]
fn a_capture_killed_mid_side_and_restarted_leaves_the_side_whole_with_its_gap() {
    let Some(done) = capture_killed_at("nsl-capture", When::Middle) else { return };
    let gaps: Vec<_> = done.journal.iter().filter(|g| g.2 == "writer-restart").collect();
    assert_eq!(gaps.len(), 1, "{:?}\n{}", done.journal, done.context());
    done.assert_whole("runout");
}

/// The capture stopped (SIGSTOP) for `secs` in the middle of the side: the lost time is a
/// journaled gap of silence inside the one file.
#[test]
fn a_capture_stopped_for_2_s_mid_side_leaves_the_side_whole() {
    let Some(done) = capture_stopped_at("nsl-stop2", When::Middle, 2) else { return };
    done.assert_whole("runout");
}

#[test]
fn a_capture_stopped_for_30_s_mid_side_leaves_the_side_whole_with_its_gap() {
    let Some(done) = capture_stopped_at("nsl-stop30", When::Middle, 30) else { return };
    done.assert_whole("runout");
}

#[test]
fn events_rotated_every_few_seconds_and_deleted_mid_side_leave_the_side_whole() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let Some(p) = Play::start("nsl-events", "VINYL_EVENTS_MAX=16KiB\n") else { return };
    p.wait_frame(p.middle());
    std::fs::remove_file(p.up.run_file("events")).unwrap();
    let done = p.finish(1);
    // The rotations keep only the last two generations: the side's start is long gone.
    done.assert_one_file("runout", &done.context());
}

#[test]
fn a_recorder_stopped_longer_than_the_ring_keeps_what_it_has_and_records_the_rest() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let conf = "VINYL_RING_CAPACITY=20s\nVINYL_AUTO_HOLD=5s\nVINYL_PREROLL=5s\n";
    let Some(p) = Play::start("nsl-recorder", conf) else { return };
    p.wait_frame(p.middle() - 8 * RATE);
    let runner: i32 = read_lossy(&p.up.run.join("rec").join("runner.pid")).trim().parse().unwrap();
    let recorder = common::up::children(runner)
        .into_iter()
        .find(|&c| common::up::cmdline(c).first().is_some_and(|a| a.ends_with("vinyl-flac-rec")))
        .expect("the side's vinyl-flac-rec");
    signal_pid(recorder, Signal::SIGSTOP);
    let stopped = head(&p.up);
    p.wait_frame(stopped + 25 * RATE);
    signal_pid(recorder, Signal::SIGCONT);
    let done = p.finish(2);
    let ctx = done.context();
    assert_eq!(done.files.len(), 2, "the cut file and its continuation\n{ctx}");
    let (a_first, a_end) = done.assert_exact(&done.files[0], &ctx);
    let (b_first, b_end) = done.assert_exact(&done.files[1], &ctx);
    assert!(a_first <= done.play.at("needle_drop"), "{ctx}");
    assert!(b_end >= done.play.at("music_end"), "{ctx}");
    let lost = common::flac_tag(&done.files[0], "VINYL_LOST");
    let (at, n) = lost.split_once('+').unwrap_or_else(|| panic!("VINYL_LOST={lost:?}\n{ctx}"));
    let (at, n): (u64, u64) = (at.parse().unwrap(), n.parse().unwrap());
    assert_eq!(at, a_end, "the loss (timeline frames) begins where the file ends\n{ctx}");
    assert_eq!(a_end + n, b_first, "the continuation begins where the loss ends\n{ctx}");
    assert_eq!(common::flac_tag(&done.files[0], "VINYL_END_REASON"), "lost", "{ctx}");
    assert_eq!(common::flac_tag(&done.files[1], "VINYL_END_REASON"), "runout", "{ctx}");
}

/// A disk that really fills (ENOSPC; the free-space guard set to 1 byte, so it never steps in
/// first): the recorder fails, its `.part` is recovered, and the file is kept, exact, and says so.
#[test]
fn a_full_disk_mid_side_keeps_the_file_it_cut() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    // About 35 s of the side's FLAC fit.
    let mnt = common::Tmpfs::mount("4m").expect("mount a tmpfs for the recordings (the tests run as root)");
    let Some(p) = Play::start_in("nsl-disk", "VINYL_AUTO_MIN_FREE=1\n", Some(mnt.path()), SIDE) else {
        return;
    };
    let done = p.finish(1);
    let ctx = done.context();
    assert_eq!(done.files.len(), 1, "{ctx}");
    let (first, end) = done.assert_exact(&done.files[0], &ctx);
    assert!(first <= done.play.at("needle_drop"), "{ctx}");
    assert!(end < done.play.at("music_end"), "the full disk cut the side: {end}\n{ctx}");
    assert_eq!(common::flac_tag(&done.files[0], "VINYL_END_REASON"), "recorder-failed", "{ctx}");
}

/// Where in the side a fault strikes: the middle of the music; the lead-in just after the needle
/// drop (before the listener has said `side_start`); the first gap between tracks; the run-out
/// before the groove locks and after; and (for a kill) just after the listener said `side_end`,
/// or just after auto's log said a line containing the text.
#[derive(Clone, Copy)]
enum When {
    Middle,
    Drop,
    Gap,
    Runout,
    Locked,
    Ended,
    Logged(&'static str),
}

impl Play {
    /// Waits until the side reaches `when`: for a kill its point, for a stop (`early`) a little
    /// before it, so that the stop covers it.
    fn wait_for(&self, when: When, early: bool) {
        let gap = || self.truth["gaps"][0][0].as_u64().expect("truth: gaps");
        // (where, then seconds after it for a kill, for a stop)
        let (at, kill, stop) = match when {
            When::Middle => (self.middle(), 0.0, -5.0),
            When::Drop => (self.at("needle_drop"), 1.5, -0.5),
            When::Gap => (gap(), 0.5, -0.5),
            When::Runout => (self.at("music_end"), 4.0, 2.0),
            When::Locked => (self.at("lock"), 3.0, 2.0),
            When::Ended => {
                return wait_until_or_dump(&self.up, "side_end", || {
                    events(&self.up).iter().any(|l| l.contains("\"side_end\""))
                });
            }
            When::Logged(text) => {
                return wait_until_or_dump(&self.up, &format!("auto's log saying {text:?}"), || {
                    self.up.log("auto").contains(text)
                });
            }
        };
        let secs: f64 = if early { stop } else { kill };
        self.wait_frame(at.saturating_add_signed((secs * RATE as f64) as i64));
    }
}

/// Plays the side, kills `component` (SIGKILL) at `when` and starts it again after `RestartSec=`
/// as systemd would. `None`: the test skips.
fn killed_at(tag: &str, component: &'static str, when: When) -> Option<Finished> {
    killed_in(tag, component, when, SIDE)
}

/// [`killed_at`] on the side examples/synth-side makes with `side`.
fn killed_in(tag: &str, component: &'static str, when: When, side: &str) -> Option<Finished> {
    killed_with(tag, component, when, side, "", 1)
}

/// [`killed_in`] with the extra configuration lines `conf`, waiting for `n` finished sides.
fn killed_with(
    tag: &str,
    component: &'static str,
    when: When,
    side: &str,
    conf: &str,
    n: usize,
) -> Option<Finished> {
    if !common::tier(&["icecast2"]) {
        return None;
    }
    let p = Play::start_in(tag, conf, None, side)?;
    Some(kill_and_restart(p, component, when, n))
}

/// Kills `component` (SIGKILL) at `when` of the side `p` plays, starts it again after
/// `RestartSec=` as systemd would, and waits for `n` finished sides.
fn kill_and_restart(p: Play, component: &'static str, when: When, n: usize) -> Finished {
    p.wait_for(when, false);
    let saved = Saved::of(&p.up, component);
    signal_pid(saved.pid, Signal::SIGKILL);
    wait_until(&format!("{component} is gone"), DEADLINE, || gone(saved.pid));
    std::thread::sleep(RESTART_SEC);
    saved.restart(&p.up);
    p.finish(n)
}

/// Plays the side, kills the capture at `when` and starts it again after `RestartSec=`. The
/// record plays on while the capture is down: the restarted capture's input (a file it reads from
/// its start) continues the programme where the turntable is then.
fn capture_killed_at(tag: &str, when: When) -> Option<Finished> {
    if !common::tier(&["icecast2"]) {
        return None;
    }
    let p = Play::start(tag, "")?;
    p.wait_for(when, false);
    let saved = Saved::of(&p.up, "capture");
    signal_pid(saved.pid, Signal::SIGKILL);
    wait_until("the capture is gone", DEADLINE, || gone(saved.pid));
    let resume = head(&p.up) + (RESTART_SEC.as_secs() + 1) * RATE;
    std::fs::write(&p.up.input, &p.programme[resume as usize * 4..]).unwrap();
    std::thread::sleep(RESTART_SEC);
    saved.restart(&p.up);
    Some(p.finish(1))
}

/// Plays the side and stops the capture (SIGSTOP) for `secs` from just before `when`.
fn capture_stopped_at(tag: &str, when: When, secs: u64) -> Option<Finished> {
    capture_stopped_in(tag, when, secs, SIDE, "", 1)
}

/// [`capture_stopped_at`] on the side examples/synth-side makes with `side`, with the extra
/// configuration lines `conf`, waiting for `n` finished sides.
fn capture_stopped_in(
    tag: &str,
    when: When,
    secs: u64,
    side: &str,
    conf: &str,
    n: usize,
) -> Option<Finished> {
    if !common::tier(&["icecast2"]) {
        return None;
    }
    let p = Play::start_in(tag, conf, None, side)?;
    p.wait_for(when, true);
    let pid = p.up.pid("capture");
    signal_pid(pid, Signal::SIGSTOP);
    std::thread::sleep(Duration::from_secs(secs));
    signal_pid(pid, Signal::SIGCONT);
    Some(p.finish(n))
}

/// An auto that is down as the listener says `side_start` (a crash, an upgrade) and comes back a
/// second later finds the side in the events it did not see and in the ring: it records it whole
/// (it used to note the play in the history and record nothing).
#[test]
fn auto_down_as_the_side_begins_and_restarted_records_the_side_whole() {
    let Some(done) = killed_at("nsl-auto-drop", "auto", When::Drop) else { return };
    // The new auto recorded it from the ring, not took over a recording begun before the kill.
    let log = done.play.up.log("auto");
    assert!(log.contains("the ring still holds it: recorded whole"), "{}", done.context());
    done.assert_whole("runout");
}

/// The fault timings beyond the middle of the music, each a side at real time (about 90 s; 12 of
/// them), so not in `scripts/test`: `cargo test --test no_side_lost -- --ignored` runs them.
macro_rules! timing {
    ($name:ident, kill $c:literal at $w:ident) => {
        #[test]
        #[ignore = "a fault-timing sweep at real time: cargo test --test no_side_lost -- --ignored"]
        fn $name() {
            let Some(done) = killed_at(stringify!($name), $c, When::$w) else { return };
            done.assert_whole("runout");
        }
    };
    ($name:ident, kill capture at $w:ident) => {
        #[test]
        #[ignore = "a fault-timing sweep at real time: cargo test --test no_side_lost -- --ignored"]
        fn $name() {
            let Some(done) = capture_killed_at(stringify!($name), When::$w) else { return };
            done.assert_whole("runout");
        }
    };
    ($name:ident, stop at $w:ident) => {
        #[test]
        #[ignore = "a fault-timing sweep at real time: cargo test --test no_side_lost -- --ignored"]
        fn $name() {
            let Some(done) = capture_stopped_at(stringify!($name), When::$w, 2) else { return };
            done.assert_whole("runout");
        }
    };
}
timing!(timing_listen_killed_after_the_drop, kill "listen" at Drop);
timing!(timing_listen_killed_in_a_gap, kill "listen" at Gap);
timing!(timing_listen_killed_in_the_runout, kill "listen" at Runout);
timing!(timing_listen_killed_in_the_locked_groove, kill "listen" at Locked);
timing!(timing_listen_killed_after_side_end, kill "listen" at Ended);
timing!(timing_auto_killed_in_a_gap, kill "auto" at Gap);
timing!(timing_auto_killed_in_the_runout, kill "auto" at Runout);
timing!(timing_auto_killed_after_side_end, kill "auto" at Ended);
timing!(timing_capture_stopped_at_the_drop, stop at Drop);
timing!(timing_capture_stopped_in_a_gap, stop at Gap);
timing!(timing_capture_stopped_in_the_runout, stop at Runout);
timing!(timing_capture_stopped_in_the_locked_groove, stop at Locked);
timing!(timing_capture_killed_after_the_drop, kill capture at Drop);
timing!(timing_capture_killed_in_a_gap, kill capture at Gap);
timing!(timing_capture_killed_in_the_runout, kill capture at Runout);
timing!(timing_capture_killed_in_the_locked_groove, kill capture at Locked);

/// The same sweep on the quiet pressing whose gap reads as a lift (pieces removed as short, or
/// kept with `VINYL_AUTO_MIN_SIDE=5s`): whatever the fault, every frame from the first piece's
/// margin to the music's end is in exactly one file.
macro_rules! quiet_timing {
    ($name:ident, kill $c:literal at $w:expr, $conf:literal, $n:literal) => {
        #[test]
        #[ignore = "a fault-timing sweep at real time: cargo test --test no_side_lost -- --ignored"]
        fn $name() {
            let Some(done) = killed_with(stringify!($name), $c, $w, QUIET_SIDE, $conf, $n) else { return };
            assert_covered(&done);
        }
    };
    ($name:ident, stop at $w:expr, $conf:literal, $n:literal) => {
        #[test]
        #[ignore = "a fault-timing sweep at real time: cargo test --test no_side_lost -- --ignored"]
        fn $name() {
            let Some(done) = capture_stopped_in(stringify!($name), $w, 2, QUIET_SIDE, $conf, $n) else {
                return;
            };
            assert_covered(&done);
        }
    };
}
quiet_timing!(quiet_listen_killed_after_the_lift, kill "listen" at When::Ended, "", 1);
quiet_timing!(quiet_capture_stopped_in_the_gap, stop at When::Gap, "", 1);
quiet_timing!(quiet_kept_auto_killed_while_it_continues, kill "auto" at When::Logged("this file continues"), "VINYL_AUTO_MIN_SIDE=5s\n", 2);
quiet_timing!(quiet_kept_listen_killed_after_the_lift, kill "listen" at When::Ended, "VINYL_AUTO_MIN_SIDE=5s\n", 2);
quiet_timing!(quiet_kept_capture_stopped_in_the_gap, stop at When::Gap, "VINYL_AUTO_MIN_SIDE=5s\n", 2);

/// The quiet side with the listener killed just after the second piece's needle drop: the new
/// listener replays the ring from the first piece's lift, not from 30 s before the drop, where it
/// found the first piece again and numbered the open side's events 3 (auto's side 2 never ended);
/// 2 s after the lift is too little idle to find the drop again, so it resumes the side as
/// playing from its drop. The side is in one file to the lift's margin, the fade's tail in it.
#[test]
fn a_listener_killed_after_a_quiet_sides_second_drop_resumes_it_and_the_side_is_one_file() {
    let when = When::Logged("recorded again with it");
    let Some(done) = killed_in("nsl-quiet-listen", "listen", when, QUIET_SIDE) else { return };
    assert!(done.play.up.log("listen").contains("too soon after the side before it"), "{}", done.context());
    assert_joined(&done);
    assert_covered(&done);
}

/// Dull music at −28 dB (introzik low-passed at 700 Hz) on a groove under the converter's noise:
/// the needle drop, the groove and the music's treble are never heard, so the side starts when the
/// full band has stood over the idle floor for seconds, placed where the sound began. The listener
/// is killed just after auto starts recording it: the restarted one replays the ring from before
/// that start, finds the same side, and ends it at its run-out. The music is in one exact file.
#[test]
fn a_listener_killed_just_after_an_unheard_drop_leaves_the_dull_side_whole() {
    let side = concat!(
        "--seed 3 --tracks 2 --track-len 12 --gap 2 --no-quiet --rpm 45 --runout 12 --idle-before 4 ",
        "--idle-after 6 --gain-db -28 --noise-dbfs -80"
    );
    if !common::tier(&["icecast2"]) {
        return;
    }
    let Some(p) = Play::start_on("nsl-dull", "", None, side, common::DULL) else { return };
    let done = kill_and_restart(p, "listen", When::Logged("side 1: recording"), 1);
    let ctx = done.context();
    done.assert_announced_once(&ctx);
    assert_covered(&done);
    assert_eq!(done.files.len(), 1, "{ctx}");
    assert_eq!(common::flac_tag(&done.files[0], "VINYL_END_REASON"), "runout", "{ctx}");
}

/// The quiet side with both pieces kept, auto killed just after it kept the first and restarted
/// before the second needle drop: the new auto reads the lifted side from the copy the killed one
/// left in the run folder and continues its file from its last frame (it used to start the next
/// file 1 s before the drop, leaving 0.94 s of the side in no file).
#[test]
fn auto_killed_after_keeping_a_quiet_sides_first_piece_continues_it_from_its_last_frame() {
    let (when, conf) = (When::Logged("ended by lift"), "VINYL_AUTO_MIN_SIDE=5s\n");
    let Some(done) = killed_with("nsl-quiet-kept-killed", "auto", when, QUIET_SIDE, conf, 2) else { return };
    assert_covered(&done);
    assert_eq!(done.files.len(), 2, "{}", done.context());
    assert_eq!(common::flac_tag(&done.files[1], "VINYL_PART"), "2", "{}", done.context());
}

/// A side lifted after 8 s (the wrong one) and another dropped 4 s after the lift, with the
/// listener killed just after the second `side_start` and restarted: its replay (from 30 s before
/// the open side's drop) used to start before the first side and find it again, so the open
/// side's events carried the next number and auto's side never ended (the test timed out). The
/// two are one side (dropped within 10 s of the lift) in one exact file, ended by the run-out.
#[test]
fn wrong_side_lifted_then_the_next_dropped_with_the_listener_killed_after_its_drop() {
    let side = concat!(
        "--seed 5 --tracks 1 --track-len 8 --lift-early --no-quiet --idle-before 4 --idle-after 2 + ",
        "--seed 1818 --tracks 3 --track-len 16 --gap 2 --no-quiet --rpm 45 --runout 12 ",
        "--idle-before 2 --idle-after 6"
    );
    let when = When::Logged("side 2: recording");
    let Some(done) = killed_in("nsl-wrong-side", "listen", when, side) else { return };
    assert_covered(&done);
    let ends = done.of("side_end");
    assert!(
        ends.last().is_some_and(|e| e["reason"] == "runout"),
        "the second side's run-out\n{}",
        done.context()
    );
}

/// Every frame from the first needle drop's margin to the music's end is in exactly one file: the
/// files, by their first frame, each exact to the ring, each begin where the one before ended.
fn assert_covered(done: &Finished) {
    let ctx = done.context();
    let starts = done.of("side_start");
    assert!(!starts.is_empty() && !done.files.is_empty(), "no side, or no file\n{ctx}");
    let mut at = starts[0]["frame"].as_u64().unwrap() - RATE;
    assert!(at <= done.play.at("music_start"), "the side starts after its music\n{ctx}");
    for f in &done.files {
        let (first, end) = done.assert_exact(f, &ctx);
        assert_eq!(
            first,
            at,
            "{}: not where the file before ended (a hole or an overlap)\n{ctx}",
            f.display()
        );
        at = end;
    }
    let end = done.play.at("music_end");
    assert!(at >= end, "the files end at {at}, before the music's end {end}\n{ctx}");
}

/// The quiet pressing at real time: the listener reads its gap as a lift and its second track as
/// a new side; the first piece, under the minimum, is removed and the second side records it
/// again. The side is in one file, exact to the ring, from the first piece's margin to the
/// second's lift.
#[test]
fn a_quiet_gap_read_as_a_lift_at_real_time_leaves_the_side_in_one_file() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let Some(p) = Play::start_in("nsl-quiet", "VINYL_AUTO_MIN_SIDE=15s\n", None, QUIET_SIDE) else {
        return;
    };
    assert_joined(&p.finish(1));
}

/// The same with auto killed as the listener says the lift, and restarted a second later: the new
/// auto takes the lifted piece over and removes it, and the side dropped after it records it again.
#[test]
fn auto_killed_at_a_quiet_gap_read_as_a_lift_and_restarted_leaves_the_side_in_one_file() {
    let Some(done) = killed_in("nsl-quiet-lift", "auto", When::Ended, QUIET_SIDE) else { return };
    assert_joined(&done);
}

/// The same with auto killed just after it removed the lifted piece: the new auto learns it from
/// the events, and the side dropped after it records it again.
#[test]
fn auto_killed_after_removing_a_piece_of_a_quiet_side_and_restarted_leaves_the_side_in_one_file() {
    let Some(done) = killed_in("nsl-quiet-removed", "auto", When::Logged("not kept"), QUIET_SIDE) else {
        return;
    };
    assert_joined(&done);
}

/// The same with auto killed while it records the joined side: the new auto takes it over and
/// counts its length from the first piece's needle drop (the state folder's `auto.since`), so it
/// does not remove it as short either.
#[test]
fn auto_killed_while_it_records_a_joined_side_and_restarted_leaves_the_side_in_one_file() {
    let when = When::Logged("recorded again with it");
    let Some(done) = killed_in("nsl-quiet-joined", "auto", when, QUIET_SIDE) else { return };
    assert_joined(&done);
}

/// The quiet side split at its gap is in one file: exact to the ring, from the first piece's
/// margin (its groove unheard, the listener starts it at its music) to the second piece's lift and
/// its end margin, so the first track is whole.
fn assert_joined(done: &Finished) {
    let ctx = done.context();
    let (starts, ends) = (done.of("side_start"), done.of("side_end"));
    let split = starts.len() == 2 && ends.first().is_some_and(|e| e["reason"] == "lift");
    assert!(split, "the listener no longer splits this side: pick one it splits\n{ctx}");
    assert_eq!(done.files.len(), 1, "{ctx}");
    let (first, end) = done.assert_exact(&done.files[0], &ctx);
    assert_eq!(first, starts[0]["frame"].as_u64().unwrap() - RATE, "from the first piece's margin\n{ctx}");
    assert_eq!(
        end,
        ends[1]["frame"].as_u64().unwrap() + 2 * RATE,
        "to the second piece's lift's margin\n{ctx}"
    );
    assert!(end > done.play.truth["tracks"][0]["end"].as_u64().unwrap(), "the first track whole\n{ctx}");
    assert!(done.play.up.log("auto").contains("recorded again with it"), "{ctx}");
}

/// The quiet side with both pieces long enough to keep (VINYL_AUTO_MIN_SIDE 5 s), at real time:
/// the second file continues the first from its last frame, so together they hold the side from
/// the first piece's margin to the second's lift exactly once.
#[test]
fn a_quiet_side_whose_pieces_are_kept_is_in_a_file_and_its_continuation_at_real_time() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let Some(p) = Play::start_in("nsl-quiet-kept", "VINYL_AUTO_MIN_SIDE=5s\n", None, QUIET_SIDE) else {
        return;
    };
    let done = p.finish(2);
    let ctx = done.context();
    let (starts, ends) = (done.of("side_start"), done.of("side_end"));
    assert_eq!((starts.len(), done.files.len()), (2, 2), "{ctx}");
    let (first, mid) = done.assert_exact(&done.files[0], &ctx);
    let (next, end) = done.assert_exact(&done.files[1], &ctx);
    assert_eq!(first, starts[0]["frame"].as_u64().unwrap() - RATE, "from the first piece's margin\n{ctx}");
    assert_eq!(next, mid, "the second continues the first from its last frame\n{ctx}");
    assert_eq!(
        end,
        ends[1]["frame"].as_u64().unwrap() + 2 * RATE,
        "to the second piece's lift's margin\n{ctx}"
    );
    assert_eq!(common::flac_tag(&done.files[1], "VINYL_PART"), "2", "{ctx}");
}
