//! One side recorded by `vinyl-rec auto`: started through the same state folder and runner as
//! `vinyl-rec start`, ended exactly by telling the tap its end frame, finalised with its track
//! markers, its tags and the reason it ended.
//!
//! Owns the side's life: [`begin`] (refused while a manual recording runs or the recordings'
//! file system is short of space; the start frame is the needle drop minus the margin, exact
//! while the ring holds it), the end frame written to the state folder's `end` file, which the
//! tap reads (`--end-file`, so the recording outlives auto; `--hold` keeps the tap behind the head
//! until the end is known; the maximum length is told at the start, the side's end and a short
//! disk lower it), [`adopt`] (a restarted auto takes over the recording a killed one left, or
//! finishes what its runner left), [`Side::continuation`] (after the tap lost frames, the rest of
//! the side in a new file from the oldest frame the ring still holds), and [`Side::finalise`]:
//! a side whose end came from the record itself (runout, lift, silence), with no fault in it,
//! and shorter than the minimum is removed; one that ended by a lift, removed or kept, is
//! returned as a [`Lifted`] (kept in the run folder for a restarted auto): a side dropped before
//! that lift or within [`REJOIN_S`] after it is the same side, which records a removed one again
//! from its needle drop or continues a kept one from its last frame (and a side whose next drop
//! came before its lift keeps that lift, [`Side::end_for_next`]); every other file is kept, with
//! `VINYL_END_REASON`
//! (see [`reason`]), `VINYL_PART`/`VINYL_CONTINUES` and `VINYL_LOST` when it was cut, its
//! CUESHEET and CHAPTER comments (track 1 at the file's first sample, track K at its
//! `track_start` frame), `VINYL_RPM`, and the loudness tags: the side_report's noise floor,
//! clicks and clipped samples, the integrated loudness and true peak measured on the file
//! ([`super::measure`]); a side the listener recognised gets its tracklist's markers
//! ([`super::fit`]) and is named, linked and moved (`VINYL_AUTO_NAME`) through the collection
//! (each part of a side in parts is named where it is, so `VINYL_CONTINUES` stays true); every
//! side it finalises is noted in the history ([`super::history`], queued: finalising never
//! waits for the database), kept or not. The
//! state folder says `auto` (auto's pid), so `vinyl-rec start` refuses
//! a second recording and `vinyl-rec stop` may still end this one. How it fails: a side that
//! cannot be started or finalised is logged with its cause; the caller goes on with the next side.

use super::super::plan::{self, Recording};
use super::super::start::{spawn_runner, write_state};
use super::super::state::{self, Lock, State, wait_for};
use super::super::{TOOL, recording_path};
use super::lifted::{Lifted, REJOIN_S};
use super::settings::AutoSettings;
use crate::flac::{cuesheet, loudness, meta, probe};
use crate::library::history::Historian;
use crate::library::name::Recognised;
use crate::pcm::format_frames;
use crate::rec::stamp::Stamp;
use crate::vlog;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// How long a finished side waits for its side_report before it is finalised without loudness.
const REPORT_WAIT: Duration = Duration::from_secs(20);

/// The values of `VINYL_END_REASON`, a closed set: why a side's file ends where it does.
pub mod reason {
    /// The listener heard the run-out groove (the file ends the end margin after it).
    pub const RUNOUT: &str = "runout";
    /// The listener heard the needle lifted (the file ends the end margin after it).
    pub const LIFT: &str = "lift";
    /// The listener heard 30 s of silence after the music.
    pub const SILENCE: &str = "silence";
    /// The listener ended the side at a journaled gap too long to bridge.
    pub const GAP: &str = "gap";
    /// A new side's `side_start` came while this one recorded.
    pub const NEXT_SIDE: &str = "next-side";
    /// `VINYL_AUTO_MAX_SIDE` was reached.
    pub const MAX_SIDE: &str = "max-side";
    /// The recordings' file system fell under `VINYL_AUTO_MIN_FREE`.
    pub const DISK: &str = "disk";
    /// `vinyl-rec auto` was stopped (SIGTERM): the file ends at the ring's head then.
    pub const STOP: &str = "stop";
    /// `vinyl-rec stop` ended it.
    pub const USER_STOP: &str = "user-stop";
    /// The tap was overtaken (the recorder or the machine stalled longer than the ring holds):
    /// `VINYL_LOST` lists the frames lost, the rest of the side is in the next part.
    pub const LOST: &str = "lost";
    /// The tap failed otherwise (the ring replaced, truncated or damaged; the tap killed).
    pub const TAP_FAILED: &str = "tap-failed";
    /// The recorder failed (a full disk, an I/O error, killed): the file holds what it wrote.
    pub const RECORDER_FAILED: &str = "recorder-failed";
    /// The recordings folder was deleted while the side recorded.
    pub const FOLDER_DELETED: &str = "folder-deleted";

    /// Every value, for the documentation and its test.
    pub const ALL: [&str; 13] = [
        RUNOUT,
        LIFT,
        SILENCE,
        GAP,
        NEXT_SIDE,
        MAX_SIDE,
        DISK,
        STOP,
        USER_STOP,
        LOST,
        TAP_FAILED,
        RECORDER_FAILED,
        FOLDER_DELETED,
    ];

    /// True for the ends the record itself makes, the only ones after which a short side may be
    /// removed.
    pub fn by_the_record(r: &str) -> bool {
        [RUNOUT, LIFT, SILENCE].contains(&r)
    }
}

/// What [`Side::finalise`] did with a finished file.
enum Kept {
    /// Kept: the line that says so.
    File(String),
    /// Removed as too short; what a side dropped soon after joins, when it ended by a lift.
    Removed(Option<Lifted>),
}

/// Why a side was not started.
#[derive(Debug)]
pub enum Refused {
    /// A manual recording runs: its path.
    Manual(PathBuf),
    /// The recordings' file system has this many bytes free, under the minimum.
    NoSpace(u64),
}

/// The runner of a side: auto's child, or one a killed auto left (known by its pid).
#[derive(Debug)]
enum Runner {
    Child(Child),
    Adopted(i32),
}

impl Runner {
    fn exited(&mut self) -> bool {
        match self {
            Runner::Child(c) => !matches!(c.try_wait(), Ok(None)),
            Runner::Adopted(pid) => state::gone(*pid),
        }
    }
}

/// How the runner ended: when, and the tap's and the recorder's statuses.
#[derive(Debug)]
struct Done {
    at: Instant,
    tap: String,
    flac: String,
    /// The tap's log says it was overtaken (lost frames).
    lost: bool,
}

/// Where a side's file starts and what it continues.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Part {
    /// The first frame wanted (the needle drop less the margin, or where the last part ended).
    pub want: u64,
    /// Its number: 1, then 2… after a loss.
    pub number: u32,
    /// The file it continues.
    pub continues: Option<PathBuf>,
    /// The side's earlier parts, first to last (a restarted auto reads them from the state
    /// folder's `auto.earlier`).
    pub earlier: Vec<PathBuf>,
    /// When the needle dropped, by the ring's clock as the side's first part began (its play's
    /// time in the history, [`crate::library::history::Played::at`]; kept in the state folder's
    /// `auto.side_time` for an auto that takes the side over).
    pub at: Option<String>,
    /// The needle drop of the lifted side this file records again ([`Lifted`]; kept in the
    /// state folder's `auto.since`): its file starts and its length counts from there.
    pub since: Option<u64>,
}

/// A side being recorded, or finished and waiting to be finalised.
#[derive(Debug)]
pub struct Side {
    /// The listener's side number.
    pub side: u64,
    /// The file.
    pub path: PathBuf,
    /// The file's first frame (its VINYL_START_FRAME).
    pub first: u64,
    /// The needle drop.
    pub side_frame: u64,
    /// The ring's rate, Hz.
    pub rate: u32,
    /// The frames of its `track_start` events.
    pub tracks: Vec<u64>,
    /// The title each `track_start` carried (the listener's alignment with a learned side).
    pub titles: Vec<Option<String>>,
    /// The learned side the listener recognised this one as.
    pub recognised: Option<Recognised>,
    /// Its learned tracks on this play's timeline (the recognition's), for the markers.
    pub learned: Vec<crate::events::LearnedTrack>,
    /// The side's track the file opens with, once its markers were fitted to the tracklist.
    pub opening: Option<usize>,
    /// The end told to the tap (exclusive), and why (a [`reason`]).
    pub end: Option<(u64, String)>,
    /// The listener's lift that ended it (its `side_end` frame: the file goes on for the end
    /// margin), which a side dropped soon after is measured from ([`Lifted`]).
    pub lift: Option<u64>,
    /// The end of the maximum length.
    pub cap: u64,
    /// The run-out's speed, when the side ended in one.
    pub rpm: Option<f64>,
    /// The side_report event.
    pub report: Option<crate::events::SideReport>,
    /// The ring (for the head).
    pub ring: PathBuf,
    /// The recordings folder (a recognised side's file may move inside it).
    pub recordings: PathBuf,
    /// Which part of the side this file is.
    pub part: Part,
    /// Frames lost after this file's last one (`first+frames`), set when a continuation starts.
    pub lost: Option<(u64, u64)>,
    st: State,
    runner: Runner,
    done: Option<Done>,
}

/// Bytes free for an unprivileged user on the file system of `dir`.
pub fn free_bytes(dir: &Path) -> anyhow::Result<u64> {
    let v = nix::sys::statvfs::statvfs(dir).with_context(|| format!("{}: statvfs", dir.display()))?;
    Ok((v.blocks_available() as u64).saturating_mul(v.fragment_size() as u64))
}

/// Starts recording the side whose needle dropped at `frame`: checks that it may (no manual
/// recording, enough space), picks its first frame and name, then starts the runner.
pub fn begin(
    s: &super::super::Settings,
    a: &AutoSettings,
    side: u64,
    frame: u64,
    join: Option<Lifted>,
) -> anyhow::Result<Result<Side, Refused>> {
    // The first part's first frame is the needle drop less the margin, at the ring's rate (the
    // lifted side's it joins). The drop's time is read now: the side is noted in the history
    // only at its end, when a capture restarted on a new ring would give the frame another time.
    let Some(j) = join else {
        let at = crate::library::history::drop_time(&s.ring, frame);
        return begin_part(s, a, side, frame, Part { want: 0, number: 1, at, ..Part::default() });
    };
    let part = j.kept.unwrap_or(Part { number: 1, at: j.at, since: Some(j.since), ..Part::default() });
    let mut begun = begin_part(s, a, side, frame, part)?;
    if let Ok(new) = begun.as_mut() {
        (new.tracks, new.titles) = (j.tracks, j.titles);
    }
    Ok(begun)
}

/// Starts one part of a side: the first from the needle drop, or a continuation.
fn begin_part(
    s: &super::super::Settings,
    a: &AutoSettings,
    side: u64,
    frame: u64,
    mut part: Part,
) -> anyhow::Result<Result<Side, Refused>> {
    let st = State::new(&s.run_dir);
    let lock = Lock::take(&s.run_dir)?;
    if let Some(refused) = refusal(s, a, &st)? {
        return Ok(Err(refused));
    }
    let ring = plan::read_ring(&s.ring)?;
    let rate = ring.spec.rate;
    if part.number == 1 {
        part.want = part.since.unwrap_or(frame).saturating_sub(a.start_margin.frames(rate));
    }
    let (path, first, cap) = prepare(s, a, &st, &ring, side, frame, &part)?;
    let mut runner = spawn_runner(&st, Stdio::null())?;
    let started = wait_for(Duration::from_secs(10), || {
        st.pid("tap.pid").is_some() || runner.try_wait().ok().flatten().is_some()
    });
    drop(lock);
    if !started || st.pid("tap.pid").is_none() {
        anyhow::bail!("{}: the recorder did not start; see {}", path.display(), st.last_log().display());
    }
    let ring = s.ring.clone();
    let runner = Runner::Child(runner);
    Ok(Ok(Side {
        side,
        path,
        first,
        side_frame: frame,
        rate,
        tracks: Vec::new(),
        titles: Vec::new(),
        recognised: None,
        learned: Vec::new(),
        opening: None,
        end: None,
        lift: None,
        cap,
        rpm: None,
        report: None,
        ring,
        recordings: s.recordings.clone(),
        part,
        lost: None,
        st,
        runner,
        done: None,
    }))
}

/// `side-STAMP.flac` in its month folder, or `side-STAMP-2.flac`, `-3`… when a recording of that
/// second exists already (a continuation started within the second of its first part, two sides
/// within one second): a side is never refused for its name.
fn free_path(recordings: &std::path::Path, when: &Stamp) -> anyhow::Result<PathBuf> {
    use super::super::Conflict;
    let base = format!("side-{}", when.compact());
    let taken = |e: &anyhow::Error| matches!(e.downcast_ref::<Conflict>(), Some(Conflict::NameTaken(_)));
    let mut last = None;
    for name in std::iter::once(base.clone()).chain((2..=99).map(|n| format!("{base}-{n}"))) {
        match recording_path(recordings, &name, when) {
            Err(e) if taken(&e) => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("{base}: no free name")))
}

/// Chooses the part's first frame and file, and writes the state folder its runner reads (the
/// tap's end file holding the maximum length); returns the file, its first frame and that end.
fn prepare(
    s: &super::super::Settings,
    a: &AutoSettings,
    st: &State,
    ring: &plan::RingView,
    side: u64,
    frame: u64,
    part: &Part,
) -> anyhow::Result<(PathBuf, u64, u64)> {
    let rate = ring.spec.rate;
    let first = first_frame(ring, side, part.want);
    let back = Duration::from_secs_f64(ring.head.saturating_sub(first) as f64 / f64::from(rate));
    let when = Stamp::of(SystemTime::now().checked_sub(back).unwrap_or_else(SystemTime::now));
    let path = free_path(&s.recordings, &when)?;
    let drop = part.since.unwrap_or(frame);
    let mut tags = vec!["VINYL_AUTO=1".to_string(), format!("VINYL_SIDE_START_FRAME={drop}")];
    if let Some(c) = &part.continues {
        tags.push(format!("VINYL_PART={}", part.number));
        tags.push(format!("VINYL_CONTINUES={}", c.file_name().unwrap_or_default().to_string_lossy()));
    }
    let rec = Recording {
        path: &path,
        start: first,
        preroll_frames: drop.saturating_sub(first),
        compression: s.compression.as_deref(),
        tags: &tags,
    };
    let cap = frame + a.max_side.frames(rate);
    let hold = format!("{}f", hold_frames(ring, a, side));
    let end_file = st.file("end");
    let end_arg = end_file.to_str().context("the run folder's path is not UTF-8")?;
    write_state(st, ring, &rec, &when, &["--end-file", end_arg, "--hold", &hold])?;
    write_end(st, cap)?;
    for (k, v) in [("auto", std::process::id().to_string()), ("auto.side", side.to_string())] {
        st.write(k, &v)?;
    }
    st.write("auto.side_frame", &frame.to_string())?;
    st.write("auto.side_time", part.at.as_deref().unwrap_or_default())?;
    st.write("auto.since", &drop.to_string())?;
    st.write("auto.part", &part.number.to_string())?;
    // An auto that takes this part over after this one is killed names the earlier parts too.
    let earlier: Vec<std::ffi::OsString> = part.earlier.iter().map(|p| p.clone().into_os_string()).collect();
    st.write_args("auto.earlier", &earlier)?;
    Ok((path, first, cap))
}

/// The tap's hold in frames: `VINYL_AUTO_HOLD`, or less when the ring would not hold it with the
/// start margin (said once a side; the settings check refuses this when the capacity is known).
fn hold_frames(ring: &plan::RingView, a: &AutoSettings, side: u64) -> u64 {
    let rate = ring.spec.rate;
    let (hold, margin) = (a.hold.frames(rate), a.start_margin.frames(rate));
    let room = ring.capacity.saturating_sub(margin) / 2;
    if hold + margin < ring.capacity {
        return hold;
    }
    vlog!(
        TOOL,
        "side {side}: the ring holds only {}: the tap stays {} behind the head instead of VINYL_AUTO_HOLD ({})",
        format_frames(ring.capacity, rate),
        format_frames(room, rate),
        format_frames(hold, rate)
    );
    room
}

/// Writes the tap's end file, whole (a new file renamed over the old one).
fn write_end(st: &State, frame: u64) -> anyhow::Result<()> {
    st.write("end.new", &frame.to_string())?;
    std::fs::rename(st.file("end.new"), st.file("end"))
        .with_context(|| format!("{}: rename", st.file("end").display()))
}

/// Why a side may not be recorded now: a manual recording runs, or the space is short.
fn refusal(s: &super::super::Settings, a: &AutoSettings, st: &State) -> anyhow::Result<Option<Refused>> {
    if st.runner_alive() {
        return Ok(Some(Refused::Manual(st.read_path("path").unwrap_or_default())));
    }
    st.clean_stale();
    std::fs::create_dir_all(&s.recordings)
        .with_context(|| format!("{}: mkdir failed", s.recordings.display()))?;
    let free = free_bytes(&s.recordings)?;
    Ok((free < a.min_free).then_some(Refused::NoSpace(free)))
}

/// The part's first frame: `want`, or the oldest frame the ring still holds (said once).
fn first_frame(ring: &plan::RingView, side: u64, want: u64) -> u64 {
    let rate = ring.spec.rate;
    let first = want.max(ring.oldest);
    if first > want {
        vlog!(
            TOOL,
            "side {side}: the ring no longer holds frame {want}: the file starts at frame {first}, {} late (a larger VINYL_RING_CAPACITY helps)",
            format_frames(first - want, rate)
        );
    }
    first
}

/// The recording a killed `vinyl-rec auto` left in the state folder: taken over when its runner
/// still runs (logged), finished as it is when the runner is gone too. `None` when there is none
/// (no state, a manual recording, or this process's own).
pub fn adopt(s: &super::super::Settings, a: &AutoSettings) -> Option<Side> {
    let st = State::new(&s.run_dir);
    let pid: i32 = st.read("auto")?.parse().ok()?;
    if pid == std::process::id() as i32 || !state::gone(pid) {
        return None;
    }
    let num = |k: &str| st.read(k).and_then(|v| v.parse::<u64>().ok());
    let (side, side_frame, first) = (num("auto.side")?, num("auto.side_frame")?, num("start_frame")?);
    let rate = num("rate").unwrap_or(48_000) as u32;
    let told = num("end").unwrap_or(u64::MAX);
    let end = st.read("auto.reason").map(|why| (told, why));
    let cap = side_frame + a.max_side.frames(rate);
    let path = st.read_path("path")?;
    let runner = Runner::Adopted(st.pid("runner.pid").unwrap_or(0));
    let earlier: Vec<PathBuf> =
        st.read_args("auto.earlier").unwrap_or_default().into_iter().map(PathBuf::from).collect();
    let number = num("auto.part").unwrap_or(1) as u32;
    let at = st.read("auto.side_time").filter(|t| !t.is_empty());
    let at = at.or_else(|| crate::library::history::drop_time(&s.ring, side_frame));
    let since = num("auto.since").filter(|&f| f != side_frame);
    let part = Part { want: first, number, continues: earlier.last().cloned(), earlier, at, since };
    let _ = st.write("auto", &std::process::id().to_string());
    vlog!(
        TOOL,
        "side {side}: taking over {} from a vinyl-rec auto that ended (pid {pid}){}",
        path.display(),
        if st.runner_alive() { "; it is still recording" } else { "; its recorder ended too" }
    );
    Some(Side {
        side,
        path,
        first,
        side_frame,
        rate,
        tracks: Vec::new(),
        titles: Vec::new(),
        recognised: None,
        learned: Vec::new(),
        opening: None,
        end,
        lift: None,
        cap,
        rpm: None,
        report: None,
        ring: s.ring.clone(),
        recordings: s.recordings.clone(),
        part,
        lost: None,
        st,
        runner,
        done: None,
    })
}

impl Side {
    /// The listener recognised this side as `who`, with `track` (titled `title`) playing, and its
    /// learned tracks placed on this play (the first recognition is kept).
    pub fn recognised(
        &mut self,
        who: Recognised,
        track: usize,
        title: Option<String>,
        learned: Vec<crate::events::LearnedTrack>,
    ) {
        if self.recognised.is_some() {
            return;
        }
        // The track playing at the recognition was announced before it: its title is known now.
        if let (Some(t), Some(slot)) = (title, self.titles.get_mut(track.saturating_sub(1))) {
            slot.get_or_insert(t);
        }
        self.recognised = Some(who);
        self.learned = learned;
    }

    /// A recognised side's markers become its tracklist's ([`super::fit`]): returns the numbers
    /// of the file's tracks placed at their learned time (no gap heard there).
    fn fit_markers(&mut self, total: u64) -> Vec<usize> {
        let (first, end) = (self.first, self.first + total);
        let fitted = super::fit::fit(&self.tracks, &self.learned, self.side_frame, first, end, self.rate);
        if fitted.is_empty() || self.recognised.is_none() {
            return Vec::new();
        }
        self.opening = fitted.first().map(|m| m.track);
        self.tracks = fitted.iter().map(|m| m.frame).collect();
        self.titles = fitted.iter().map(|m| m.title.clone()).collect();
        fitted.iter().enumerate().filter(|(_, m)| m.estimated).map(|(i, _)| i + 1).collect()
    }

    /// Tells the tap to end before `frame` (it only ever lowers its end).
    fn tell(&mut self, frame: u64) {
        if let Err(e) = write_end(&self.st, frame) {
            // The runner is gone already, with its state: nothing to tell.
            if self.st.dir.is_dir() {
                vlog!(TOOL, "side {}: {e:#}", self.side);
            }
        }
    }

    /// Ends the side at the needle drop `frame` of the next side, unless it ends by a lift the
    /// listener placed after that drop: then it keeps that end, and the next side joins it
    /// ([`Lifted`]), so the frames between the two are in a file, once.
    pub fn end_for_next(&mut self, frame: u64) {
        match &self.end {
            Some((end, why)) if why == reason::LIFT && *end >= frame && frame > self.side_frame => {}
            _ => self.end_at(frame, reason::NEXT_SIDE),
        }
    }

    /// Ends the side before `frame`, for `why` (a [`reason`], logged by the caller); the first
    /// end told wins unless a later one is earlier.
    pub fn end_at(&mut self, frame: u64, why: &str) {
        if self.end.as_ref().is_some_and(|(e, _)| *e <= frame) {
            return;
        }
        self.end = Some((frame, why.to_string()));
        self.tell(frame);
        // For an auto that takes this side over after this one is killed.
        let _ = self.st.write("auto.reason", why);
    }

    /// Ends the side at the ring's head now (a stop, or a fault that leaves no later end).
    pub fn end_now(&mut self, why: &str) {
        let head = plan::ring_head(&self.ring).unwrap_or(u64::MAX);
        if self.end.is_none() {
            self.end = Some((head, why.to_string()));
        }
        self.tell(head);
    }

    /// True while the folder the file is written in still exists (`rm -rf RECORDINGS` leaves
    /// the recorder writing into a deleted file).
    pub fn folder_exists(&self) -> bool {
        self.path.parent().is_none_or(Path::is_dir)
    }

    /// The ring's head now.
    pub fn head(&self) -> Option<u64> {
        plan::ring_head(&self.ring)
    }

    /// True once the runner exited; both statuses are read then (its state is retired unless
    /// the user's `vinyl-rec stop` is doing it).
    pub fn finished(&mut self) -> bool {
        if self.done.is_some() {
            return true;
        }
        if !self.runner.exited() {
            return false;
        }
        let tap = self.st.read("tap.status").unwrap_or_else(|| "unknown: killed".into());
        let flac = self.st.recorder_status();
        let log = std::fs::read_to_string(self.st.file("log")).unwrap_or_default();
        let lost = log.contains("reader overtaken by the writer");
        let ours = self.st.read("auto") == Some(std::process::id().to_string());
        let stopped = self.st.file("stopped").exists();
        if stopped && self.end.is_none() {
            self.end = Some((u64::MAX, reason::USER_STOP.into()));
        }
        if ours && !stopped {
            self.st.retire();
        }
        self.done = Some(Done { at: Instant::now(), tap, flac, lost });
        true
    }

    /// True when it can be finalised: finished, and its report came (or will not come).
    pub fn ready(&mut self) -> bool {
        if !self.finished() {
            return false;
        }
        let waited = self.done.as_ref().is_some_and(|d| d.at.elapsed() >= REPORT_WAIT);
        let by_listener = self.end.as_ref().is_some_and(|(_, why)| reason::by_the_record(why));
        self.report.is_some() || !by_listener || waited
    }

    /// Waits for the runner to exit (at most `timeout`), calling `tick` meanwhile.
    pub fn wait(&mut self, timeout: Duration, tick: &mut dyn FnMut()) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.finished() {
            if Instant::now() >= deadline {
                return false;
            }
            tick();
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Why the file ends: a failed recorder or tap first (the file ends where it failed), then
    /// the end that was told, then the maximum length.
    pub fn end_reason(&self) -> &str {
        let Some(d) = self.done.as_ref() else { return reason::STOP };
        let told = self.end.as_ref().map(|(_, w)| w.as_str());
        match (d.flac.as_str(), d.tap.as_str(), told) {
            (_, _, Some(reason::FOLDER_DELETED)) => reason::FOLDER_DELETED,
            (f, _, _) if f != "0" => reason::RECORDER_FAILED,
            (_, t, _) if t != "0" && d.lost => reason::LOST,
            // A tap ended by its stop signal exits 0; anything else is a failure.
            (_, t, _) if t != "0" => reason::TAP_FAILED,
            (_, _, Some(w)) => reason::ALL.iter().find(|&&r| r == w).copied().unwrap_or(reason::STOP),
            _ => reason::MAX_SIDE,
        }
    }

    /// What follows this file while the side still plays: after the tap lost frames or failed,
    /// the rest of the side in a new part from this file's end, or the oldest frame the ring
    /// holds (this file's lost stretch is set then); after its folder was deleted, the whole side again from the ring, in the folder
    /// made anew.
    pub fn continuation(&mut self, s: &super::super::Settings, a: &AutoSettings) -> Option<Side> {
        let told = self.end.as_ref().map(|(_, w)| w.as_str());
        let part = match (self.end_reason(), told) {
            // A killed or failed tap leaves the frames after its last one in the ring.
            (reason::LOST | reason::TAP_FAILED, None) => {
                let last = self.first + probe::probe(&self.path).ok()?.info.total_samples;
                // A tap that wrote nothing would fail again at once; a ring whose head is before
                // the file's end holds another timeline: no next part then.
                let head = plan::read_ring(&self.ring).ok()?.head;
                if last == self.first || head < last {
                    vlog!(TOOL, "side {}: the rest of the side cannot be recorded from this ring", self.side);
                    return None;
                }
                self.next_part(last)
            }
            (reason::FOLDER_DELETED, _) => Part { want: self.first, ..self.part.clone() },
            _ => return None,
        };
        let want = part.want;
        match begin_part(s, a, self.side, self.side_frame, part) {
            Ok(Ok(mut next)) => {
                next.cap = self.cap;
                next.tracks.clone_from(&self.tracks);
                next.titles.clone_from(&self.titles);
                next.recognised.clone_from(&self.recognised);
                next.learned.clone_from(&self.learned);
                if next.part.number > self.part.number && next.first > want {
                    self.lost = Some((want, next.first - want));
                }
                vlog!(
                    TOOL,
                    "side {}: {}: the side from frame {} goes to {}",
                    self.side,
                    self.end_reason(),
                    next.first,
                    next.path.display()
                );
                Some(next)
            }
            Ok(Err(_)) => None,
            Err(e) => {
                vlog!(TOOL, "side {}: the rest of the side cannot be recorded: {e:#}", self.side);
                None
            }
        }
    }

    /// Keeps or removes the file, and writes its markers and tags. Logs what it did.
    pub fn finalise(mut self, a: &AutoSettings, history: &Historian) -> Option<Lifted> {
        let _ = self.finished();
        let status = self.done.as_ref().map_or_else(|| "unknown".into(), |d| d.flac.clone());
        let shown = self.path.display().to_string();
        if self.end_reason() == reason::FOLDER_DELETED {
            return None;
        }
        let told = self.end.as_ref().map(|(e, _)| *e).filter(|&e| e != u64::MAX);
        if !self.path.is_file() && !self.recover_part() {
            vlog!(
                TOOL,
                "side {}: {shown}: no file: the recorder failed (status {status}); see {}",
                self.side,
                self.st.last_log().display()
            );
            self.note_play(history, told);
            return None;
        }
        match self.keep(a, history) {
            Ok(Kept::File(line)) => {
                vlog!(TOOL, "side {}: {shown}: {line}", self.side);
                return told.and_then(|end| self.lifted(end, Some(self.next_part(end))));
            }
            Ok(Kept::Removed(lifted)) => return lifted,
            Err(e) => {
                vlog!(TOOL, "side {}: {e:#}", self.side);
                self.note_play(history, told);
            }
        }
        None
    }

    /// Queues the note of the side's play in `history` ([`super::history`]), ended before `end`
    /// when known, with its file when one is kept.
    fn note_play(&self, history: &Historian, end: Option<u64>) {
        let file = self.path.is_file().then_some(self.path.as_path());
        let drop = (self.since(), self.part.at.as_deref());
        history.note(super::history::played(drop, end, file, self.recognised.as_ref()));
    }

    /// Repairs the `.part` a killed recorder left (`vinyl-flac-rec --recover`): true when the
    /// file is there after it.
    fn recover_part(&self) -> bool {
        let part = crate::flac::part_path(&self.path);
        if !part.is_file() {
            return false;
        }
        let ok = std::process::Command::new(super::super::runner::tool("vinyl-flac-rec"))
            .arg("--recover")
            .arg(&part)
            .status()
            .is_ok_and(|s| s.success());
        vlog!(TOOL, "side {}: {}: recovered: {ok}", self.side, part.display());
        self.path.is_file()
    }

    /// The work of [`Side::finalise`] on a finished file: `None` when it was removed.
    fn keep(&mut self, a: &AutoSettings, history: &Historian) -> anyhow::Result<Kept> {
        if let Err(e) = self.cut_to_end() {
            vlog!(TOOL, "side {}: the file cannot be cut back to its end: {e:#}", self.side);
        }
        let p = probe::probe(&self.path)?;
        let total = p.info.total_samples;
        let last = self.first + total;
        let played = last.saturating_sub(self.since());
        let min = a.min_side.frames(self.rate);
        let why = self.end_reason().to_string();
        let clean = reason::by_the_record(&why) && self.part.number == 1 && p.tag("VINYL_GAPS").is_none();
        if played < min && clean {
            return self.remove(played, min, last, history);
        }
        self.log_end(&why);
        self.name_earlier();
        let estimated = self.fit_markers(total);
        let offsets = offsets(&self.tracks, self.first, total);
        let set = cuesheet::set_tracks(&self.path, &offsets)?;
        let f = std::fs::File::options()
            .read(true)
            .write(true)
            .open(&self.path)
            .with_context(|| format!("{}: open to set tags", self.path.display()))?;
        let mut tags = self.tags(&why, last);
        if !estimated.is_empty() {
            let list: Vec<String> = estimated.iter().map(usize::to_string).collect();
            tags.push(("VINYL_MARKERS_ESTIMATED".to_string(), list.join(",")));
        }
        meta::set_tags(&f, &tags)
            .with_context(|| format!("{}: write VINYL_END_REASON", self.path.display()))?;
        let mut line = format!(
            "{} ({} frames), {} tracks, ended by {why}",
            format_frames(total, self.rate),
            total,
            set.len()
        );
        if let Some(l) = self.write_loudness()? {
            line += &format!(", {l:.1} LUFS");
        }
        self.name(a, &why);
        self.note_play(history, Some(last));
        if a.health {
            super::health::report(self.side, &self.path);
        }
        Ok(Kept::File(line))
    }

    /// Removes the file of a side too short to keep (`played` frames, under `min`), ended at
    /// `last`; the history still notes its play. One that ended by a lift is returned, for a
    /// side dropped soon after to record it again ([`Lifted`]).
    fn remove(&self, played: u64, min: u64, last: u64, history: &Historian) -> anyhow::Result<Kept> {
        std::fs::remove_file(&self.path).with_context(|| format!("{}: remove", self.path.display()))?;
        let lifted = self.lifted(last, None);
        let again = if lifted.is_some() {
            format!("; a side dropped within {REJOIN_S}s of its lift records it again, in one file")
        } else {
            String::new()
        };
        vlog!(
            TOOL,
            "side {}: lasted {}, under VINYL_AUTO_MIN_SIDE ({}): not kept ({} removed; lower VINYL_AUTO_MIN_SIDE to keep such sides){again}",
            self.side,
            format_frames(played, self.rate),
            format_frames(min, self.rate),
            self.path.display()
        );
        // Not kept, but it was played: the history has it, without a recording.
        self.note_play(history, Some(last));
        Ok(Kept::Removed(lifted))
    }

    /// What a side dropped soon after this one joins, when it ended by a lift (its file ending at
    /// `end`): its file removed (`kept` none), or kept and continued by the part `kept`.
    fn lifted(&self, end: u64, kept: Option<Part>) -> Option<Lifted> {
        (self.end_reason() == reason::LIFT).then(|| Lifted {
            side: self.side,
            since: self.since(),
            end: self.lift.unwrap_or(end),
            rate: self.rate,
            at: self.part.at.clone(),
            tracks: self.tracks.clone(),
            titles: self.titles.clone(),
            kept,
        })
    }

    /// The part that continues this file from `end`, its last frame (after a lift that kept it,
    /// or a tap that lost frames).
    fn next_part(&self, end: u64) -> Part {
        let mut earlier = self.part.earlier.clone();
        earlier.push(self.path.clone());
        Part {
            want: end,
            number: self.part.number + 1,
            continues: Some(self.path.clone()),
            earlier,
            at: self.part.at.clone(),
            since: Some(self.since()),
        }
    }

    /// The needle drop this file's side counts from: its own, or the lifted side's it joins.
    fn since(&self) -> u64 {
        self.part.since.unwrap_or(self.side_frame)
    }

    /// Writes the file's loudness tags: the gain and peak of the file a player plays, margins
    /// included (see measure), else the side_report's; returns the integrated loudness.
    fn write_loudness(&self) -> anyhow::Result<Option<f64>> {
        let mut m = self.report.as_ref().map(measurements).unwrap_or_default();
        match super::measure::file(&self.path) {
            Ok((lufs, peak)) => (m.integrated_lufs, m.true_peak_dbtp) = (lufs, peak),
            Err(e) => vlog!(TOOL, "side {}: {e:#}; the side_report's loudness is used", self.side),
        }
        loudness::write(&self.path, &m)?;
        Ok(m.integrated_lufs)
    }

    /// Names a recognised side's file as `vinyl-library name` would, and moves it to
    /// VINYL_AUTO_NAME when the side is whole in this file. Every part of a side in parts is
    /// named (the titles of the tracks it holds) where it is, not moved: `VINYL_CONTINUES` names
    /// the part before by its file name, and a part is finalised while the next one records, so
    /// moving them would mean rewriting a finished part's tags later (a link that a failure half
    /// way would break). A failure costs the side nothing: it stays as it was, logged.
    fn name(&mut self, a: &AutoSettings, why: &str) {
        let Some(mut who) = self.recognised.clone() else { return };
        let whole = reason::by_the_record(why) && self.part.number == 1;
        // Without the fitted tracklist, only a first part is known to open with track 1.
        who.first_track = self.opening.or((self.part.number == 1).then_some(1));
        if who.first_track.is_some() {
            who.titles.clone_from(&self.titles);
        }
        let template = a.name.as_deref().filter(|_| whole);
        let named = crate::library::default_db().and_then(|db| {
            crate::library::name::recognised(&db, &self.path, &who, &self.recordings, template)
        });
        match named {
            Ok(path) => {
                vlog!(
                    TOOL,
                    "side {}: named {} – {}, side {}{}",
                    self.side,
                    who.artist,
                    who.album,
                    who.side,
                    if path == self.path { String::new() } else { format!(": {}", path.display()) }
                );
                if path != self.path {
                    self.note_move(&path);
                }
                self.path = path;
            }
            Err(e) => {
                vlog!(
                    TOOL,
                    "side {}: recognised as {} – {}, but not named: {e:#}",
                    self.side,
                    who.artist,
                    who.album
                );
            }
        }
    }

    /// Tells `RUN/last-rec.log` where the file went. That log is what `vinyl-rec` keeps of the
    /// recording that ended: the runner's state folder, which names the file as it was recorded,
    /// is retired into it as soon as the runner exits, before the side is finalised and moved, so
    /// without this line its last word would be a path that no longer exists. Only when the log
    /// is this file's (a manual recording may have ended since); a log that cannot be written
    /// costs the side nothing.
    fn note_move(&self, to: &Path) {
        use std::io::Write as _;
        use std::os::unix::ffi::OsStrExt as _;
        let log = self.st.last_log();
        let name = self.path.file_name().unwrap_or_default().as_bytes();
        let ours = std::fs::read(&log).is_ok_and(|t| t.windows(name.len()).any(|w| w == name));
        if !ours || name.is_empty() {
            return;
        }
        let line = format!("{TOOL}: {}: named and moved to {}\n", self.path.display(), to.display());
        let written = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            vlog!(TOOL, "side {}: {}: cannot note the move: {e}", self.side, log.display());
        }
    }

    /// The tags a kept file gets besides its markers and loudness; `last` is the frame after its
    /// last one. A file the tap lost frames after lists them up to where the next part starts or,
    /// without one, up to the end told.
    fn tags(&self, why: &str, last: u64) -> Vec<(String, String)> {
        let mut tags = vec![("VINYL_END_REASON".to_string(), why.to_string())];
        if let Some(rpm) = self.rpm {
            tags.push(("VINYL_RPM".to_string(), format!("{rpm:.2}")));
        }
        let told = self.end.as_ref().map(|(e, _)| *e).filter(|&e| e != u64::MAX && e > last);
        let lost = self.lost.or_else(|| told.filter(|_| why == reason::LOST).map(|e| (last, e - last)));
        if let Some((first, frames)) = lost {
            tags.push(("VINYL_LOST".to_string(), format!("{first}+{frames}")));
        }
        tags
    }

    /// Says when the file ends at the maximum length.
    fn log_end(&self, why: &str) {
        if why == reason::MAX_SIDE {
            vlog!(
                TOOL,
                "side {}: reached VINYL_AUTO_MAX_SIDE ({}): the file ends there (raise it for longer sides)",
                self.side,
                format_frames(self.cap.saturating_sub(self.side_frame), self.rate)
            );
        }
    }

    /// Cuts the file back to the end told when the tap had written past it (an end that came
    /// later than the hold), so the file ends on that frame all the same.
    fn cut_to_end(&self) -> anyhow::Result<()> {
        let Some((end, _)) = self.end.as_ref().filter(|(e, _)| *e > self.first) else { return Ok(()) };
        let last = self.first + probe::probe(&self.path)?.info.total_samples;
        if *end >= last {
            return Ok(());
        }
        super::trim::trim(&self.path, end - self.first)?;
        vlog!(
            TOOL,
            "side {}: the end, frame {end}, came after the tap had written {} more (later than VINYL_AUTO_HOLD): the file is cut back to it",
            self.side,
            format_frames(last - end, self.rate)
        );
        Ok(())
    }
}

/// The markers of a file that starts at timeline frame `first` and holds `total` frames: track 1
/// at its first sample (the lead-in belongs to it), track K at its `track_start` frame; markers
/// outside the file are left out.
pub fn offsets(tracks: &[u64], first: u64, total: u64) -> Vec<u64> {
    let mut v = vec![0];
    for &t in tracks.iter().skip(1) {
        let o = t.saturating_sub(first);
        if o > *v.last().unwrap_or(&0) && o < total {
            v.push(o);
        }
    }
    v
}

/// The loudness of a side_report event.
pub fn measurements(r: &crate::events::SideReport) -> loudness::Measurements {
    loudness::Measurements {
        integrated_lufs: r.integrated_lufs,
        true_peak_dbtp: r.true_peak_dbtp,
        noise_floor_dbfs: r.noise_floor_dbfs,
        clicks_per_min: r.clicks_per_min,
        clipped: r.clipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_one_starts_the_file_and_later_tracks_sit_at_their_frames() {
        assert_eq!(offsets(&[1_048_000, 1_600_000], 1_000_000, 2_000_000), [0, 600_000]);
        assert_eq!(offsets(&[], 5, 100), [0]);
        assert_eq!(offsets(&[10, 50, 5000], 0, 100), [0, 50], "past the end: left out");
    }

    #[test]
    fn the_report_gives_the_loudness_and_nulls_stay_missing() {
        let line = r#"{"event":"side_report","frame":9,"at":9,"side":1,"start_frame":0,"tracks":2,
            "integrated_lufs":-14.8,"loudness_range_lu":null,"true_peak_dbtp":null,"peak_dbfs":-1.0,
            "clipped":3,"noise_floor_dbfs":-60.0,"clicks_per_min":1.5,"headroom_db":1.0}"#;
        let Ok(crate::events::Line::Event(crate::events::Event::SideReport(r))) = crate::events::parse(line)
        else {
            panic!("not a side_report")
        };
        let m = measurements(&r);
        assert_eq!(m.integrated_lufs, Some(-14.8));
        assert_eq!(m.true_peak_dbtp, None);
        assert_eq!(m.clipped, 3);
    }

    #[test]
    fn a_second_recording_of_the_same_second_gets_a_suffix_not_a_refusal() {
        let d = tempfile::tempdir().unwrap();
        let when = Stamp::of(SystemTime::now());
        let first = free_path(d.path(), &when).unwrap();
        std::fs::write(&first, b"x").unwrap();
        let second = free_path(d.path(), &when).unwrap();
        assert_eq!(second.file_name().unwrap().to_string_lossy(), format!("side-{}-2.flac", when.compact()));
        std::fs::write(crate::flac::part_path(&second), b"x").unwrap();
        let third = free_path(d.path(), &when).unwrap();
        assert!(third.to_string_lossy().ends_with("-3.flac"), "{}", third.display());
    }
}
