//! `vinyl-preroll tap`: frames from the ring to stdout (or a WAV file), from a point in the past,
//! then live.
//!
//! Owns the choice of the start and end frames ([`window`], pure), the follow loop (sleeping on
//! the ring's futex between writes) and the output: raw PCM written in whole frames, or a WAV
//! file through hound. Two modes:
//! - **strict** (recordings): exact frames of one timeline, pinned at start (or by `--timeline`).
//!   On SIGTERM/SIGINT/SIGHUP the end becomes the head as it is then, so frames already in the
//!   ring but not yet written out are drained. A journaled gap is silence by definition: frames
//!   of it that the writer overwrote (a gap longer than the ring) are written out as zeros, so
//!   the output holds the gap at its exact length. It stops with exit 1, after writing every frame
//!   it could vouch for, when the writer overtakes it on real audio (the lost frames are named; the
//!   output never has a hidden splice), when the ring is replaced or truncated, or when its header
//!   is corrupt.
//! - **live** (`--live`, streams and monitors): starts at the newest frame, skips forward to live
//!   when overtaken (logged and counted), skips a journaled gap longer than 1 s
//!   ([`LIVE_GAP_LIMIT_MS`]) instead of handing its silence on at once (counted as a skip),
//!   follows a replaced ring's new timeline, never stops for any of these.
//!
//! A strict tap may also be told its end after it started (`--end-file`, for `vinyl-rec auto`,
//! which learns where a side ends only when the listener says so, seconds later): a frame number
//! in the file sets the end, later numbers only lower it. With `--hold D` it stays D behind the
//! head while its end is still ahead of the head, so an end told up to D late is exact; once the
//! head reaches the end (or on a stop signal) it writes straight on ([`writable`], pure). An end
//! told after the tap passed it anyway is logged with how many frames too many were written.
//!
//! Either way it never writes more than the range it resolved, logs every journaled gap inside
//! what it wrote (one line each), and ends quietly on a closed stdout.
//!
//! [`follow_live`] is the same live tap inside another tool's process (`vinyl-listen`,
//! `vinyl-web`): one loop, one set of ring rules, frames handed to a callback with their numbers.

use super::TOOL;
use super::cli::TapOpts;
use crate::cli::UsageError;
use crate::input::Batch;
use crate::pcm::{PcmSpec, SampleFormat};
use crate::ring::{GapWatch, ReadError, RingReader, layout};
use crate::{signals, vlog};
use anyhow::{Context as _, anyhow, bail};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use std::time::{Duration, Instant};

/// The longest journaled gap a live tap passes through as silence (1 s); a longer one is skipped
/// (see [`Tap::live_gaps`]).
pub const LIVE_GAP_LIMIT_MS: u64 = 1000;

/// How long one futex sleep lasts at most: the period at which a tap with nothing to do checks
/// whether a writer still holds the ring.
const WAIT: Duration = Duration::from_millis(500);

/// Where a tap starts, as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// An absolute timeline frame (`--from-frame`).
    Frame(u64),
    /// This many frames before the head (`--from`).
    Back(u64),
    /// The head: live (`--live`, or no start flag).
    Head,
}

/// Where a tap ends, as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Before this absolute frame (`--until-frame`).
    Frame(u64),
    /// This many frames after the requested start (`--duration`).
    Length(u64),
    /// At the head as it was at the start (`--no-follow`).
    AtHead,
    /// Never: follow live.
    Never,
}

/// The ring's state a window is resolved against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The head (next frame to be written).
    pub head: u64,
    /// The oldest frame the ring guarantees.
    pub oldest: u64,
    /// The oldest frame a request is honoured from exactly: up to half the slack before
    /// `oldest`, while those frames are intact.
    pub floor: u64,
}

/// A resolved tap: frames `start..end` (`end` may be `u64::MAX`: follow forever).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The frame asked for; may lie before frame 0 (more pre-roll than the timeline has).
    pub requested: i128,
    /// The first frame that will be written.
    pub start: u64,
    /// The frame to stop before.
    pub end: u64,
}

/// Resolves what the flags ask for against the ring. Leans towards giving what the ring still
/// has: a start older than `floor` becomes `oldest` (the caller says so); a start in the future
/// is waited for. The end is taken from the request, never from the start, so `--from-frame N
/// --duration D` is exactly `N..N+D` or fails.
pub fn window(from: Start, end: End, b: Bounds) -> Window {
    let requested: i128 = match from {
        Start::Frame(n) => n as i128,
        Start::Back(back) => b.head as i128 - back as i128,
        Start::Head => b.head as i128,
    };
    let start = if requested > b.head as i128 {
        requested as u64
    } else if requested >= b.floor as i128 {
        requested.max(0) as u64
    } else {
        b.oldest
    };
    let end = match end {
        End::Frame(u) => u,
        End::Length(d) => (requested + d as i128).clamp(0, u64::MAX as i128) as u64,
        End::AtHead => b.head,
        End::Never => u64::MAX,
    };
    Window { requested, start, end }
}

/// Runs `tap` until its end point, a stop signal, a closed stdout or an error.
pub fn run(o: TapOpts) -> anyhow::Result<()> {
    validate(&o)?;
    signals::install()?;
    let ring = open_ring(&o)?;
    let shown = o.ring.display().to_string();
    let spec = ring.config().spec;
    let snap = ring.snapshot().map_err(|e| anyhow!("{shown}: {e}"))?;
    if snap.retired {
        return Err(anyhow!("{shown}: {}", ReadError::Retired));
    }
    let (from, end) = request(&o, spec.rate);
    let bounds = bounds(&ring, snap.head);
    let win = window(from, end, bounds);
    log_start(&shown, &spec, &snap, bounds, win, &describe_end(&o, win.end), &o);
    check_window(&o, &shown, &spec, bounds, win)?;

    let mut sink = Sink::open(o.wav.as_deref(), &spec)?;
    let batch = Batch::new(&o.batch, spec.rate).unwrap_or(Batch { interval: Duration::ZERO });
    let stop = signals::stop_requested;
    let ring_capacity = ring.config().capacity_frames;
    let how = How { tool: TOOL, path: &o.ring, live: o.live, batch, stop: &stop };
    let mut tap = Tap::new(ring, &shown, how, snap.timeline, win);
    tap.told = o.end_file.as_deref().map(EndFile::new);
    tap.hold = o.hold.map_or(0, |h| h.frames(spec.rate));
    if tap.hold > 0 && tap.hold >= ring_capacity {
        return Err(UsageError::new(format!(
            "--hold {}: the ring {shown} holds only {}: the held frames would be overwritten; give less",
            o.hold.map(|h| h.to_string()).unwrap_or_default(),
            spec.describe_frames(ring_capacity)
        ))
        .into());
    }
    tap.notifier.ready();
    tap.notifier.status(&format!("tapping {shown} from frame {}", win.start));
    let result = tap.pump(&mut sink, o.measure_latency);
    tap.notifier.stopping();
    let finished = sink.finish();
    if o.measure_latency {
        report_latency(&shown, &mut tap.latency);
    }
    let wrote = tap.summary(&spec, win.start);
    match result {
        Ok(why) => {
            finished?;
            vlog!(TOOL, "{shown}: {wrote}{why}");
            Ok(())
        }
        Err(Stop::Ring(e)) => bail!("{shown}: {e}; {wrote} and stops"),
        Err(Stop::Other(e)) => Err(e),
    }
}

/// One reading of `--end-file`: a decimal frame number, blanks around it allowed.
pub fn parse_end(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The end after a reading: a later number may only lower it (an end already passed stays passed).
pub fn lowered(current: u64, text: &str) -> Option<u64> {
    parse_end(text).map(|n| n.min(current))
}

/// The first frame a strict tap may not write yet, the head being `head`: while its end is
/// still ahead of the head and no stop was asked, frames younger than `hold` stay in the ring (the
/// end may yet be told before them); otherwise everything up to the head.
pub fn writable(head: u64, end: u64, hold: u64, stopping: bool) -> u64 {
    if stopping || end <= head { head } else { head.saturating_sub(hold) }
}

/// `--end-file`: read again when its size or modification time changes, at most every
/// [`END_POLL`]; a missing file is no end yet; a malformed one is logged once and ignored.
struct EndFile {
    path: std::path::PathBuf,
    seen: Option<(u64, i64, i64, u64)>,
    checked: Option<Instant>,
}

/// How often the end file is looked at.
const END_POLL: Duration = Duration::from_millis(100);

impl EndFile {
    fn new(path: &Path) -> EndFile {
        EndFile { path: path.to_path_buf(), seen: None, checked: None }
    }

    /// The end after looking at the file (`current` when nothing new).
    fn poll(&mut self, current: u64) -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        if self.checked.is_some_and(|t| t.elapsed() < END_POLL) {
            return current;
        }
        self.checked = Some(Instant::now());
        let Ok(m) = std::fs::metadata(&self.path) else { return current };
        let key = (m.len(), m.mtime(), m.mtime_nsec(), m.ino());
        if self.seen == Some(key) {
            return current;
        }
        self.seen = Some(key);
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        match lowered(current, &text) {
            Some(end) => {
                if end < current {
                    vlog!(TOOL, "{}: the tap ends before frame {end}", self.path.display());
                }
                end
            }
            None => {
                vlog!(TOOL, "{}: {:?} is not a frame number; ignored", self.path.display(), text.trim());
                current
            }
        }
    }
}

/// What [`follow_live`] follows, and how.
pub struct Follow<'a> {
    /// The tool named in log lines.
    pub tool: &'a str,
    /// The ring's path; waited for while there is none.
    pub ring: &'a Path,
    /// The format the caller expects; a ring of another is an error.
    pub spec: PcmSpec,
    /// The first frame wanted, when it is still held; the newest frame otherwise.
    pub from: Option<u64>,
    /// How long to let frames gather once caught up (zero for the lowest latency).
    pub batch: Duration,
    /// Asked between reads and while waiting: true ends the follow.
    pub stop: &'a dyn Fn() -> bool,
    /// Tells the service manager (READY, WATCHDOG) as it goes: only where this follow is the
    /// tool's main loop (vinyl-listen), never from a server's client threads (vinyl-web).
    pub notify: bool,
}

/// A live tap inside this process, for tools that analyse or serve the capture themselves
/// (`vinyl-listen`, `vinyl-web`): `put` gets the timeline number of the first frame and whole
/// frames. Overtaken, it skips forward to live (the numbers jump ahead, and the skip is logged); a
/// replaced ring is followed on its new timeline (the numbers may go back). Returns when `stop`
/// says so, or with `put`'s error, or with the ring's when it is truncated or damaged.
pub fn follow_live(
    f: Follow<'_>,
    put: &mut dyn FnMut(u64, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let shown = f.ring.display().to_string();
    let Some(ring) = wait_for_ring(&f, &shown)? else { return Ok(()) };
    if ring.config().spec != f.spec {
        bail!("{shown}: the ring holds {}, not the {} asked for", ring.config().spec, f.spec);
    }
    let snap = ring.snapshot().map_err(|e| anyhow!("{shown}: {e}"))?;
    let from = f.from.map_or(Start::Head, Start::Frame);
    let win = window(from, End::Never, bounds(&ring, snap.head));
    vlog!(f.tool, "{shown}: following live from frame {} (timeline {})", win.start, snap.timeline);
    let how =
        How { tool: f.tool, path: f.ring, live: true, batch: Batch { interval: f.batch }, stop: f.stop };
    let mut tap = Tap::new(ring, &shown, how, snap.timeline, win);
    if !f.notify {
        tap.notifier = crate::notify::Notifier::silent();
    }
    tap.notifier.ready();
    match tap.pump(&mut Sink::Call(put), false) {
        Ok(_) => Ok(()),
        Err(Stop::Ring(e)) => bail!("{shown}: {e}"),
        Err(Stop::Other(e)) => Err(e),
    }
}

/// Opens the ring, waiting (and saying so once) while there is none; `None` when told to stop.
fn wait_for_ring(f: &Follow<'_>, shown: &str) -> anyhow::Result<Option<RingReader>> {
    let mut said = false;
    loop {
        if (f.stop)() {
            return Ok(None);
        }
        match RingReader::open(f.ring, true) {
            Ok(r) => return Ok(Some(r)),
            Err(_) if !f.ring.exists() => {
                if !said {
                    vlog!(f.tool, "{shown}: no ring yet; waiting for vinyl-capture --ring to make it");
                    said = true;
                }
                std::thread::sleep(WAIT);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Checks the flags against each other (exit 2).
fn validate(o: &TapOpts) -> Result<(), UsageError> {
    if o.wav.is_some() && o.until_frame.is_none() && o.duration.is_none() && !o.no_follow {
        return Err(UsageError::new(
            "--wav needs a known length: add --until-frame N, --duration D or --no-follow",
        ));
    }
    Ok(())
}

/// Opens the ring and checks its format against the flags, and its timeline against `--timeline`.
fn open_ring(o: &TapOpts) -> anyhow::Result<RingReader> {
    let ring = RingReader::open(&o.ring, true)?;
    let shown = o.ring.display();
    let (spec, asked) = (ring.config().spec, o.pcm.spec());
    if asked != spec {
        bail!(
            "{shown}: the ring holds {spec}, but the tap was asked for {asked} \
             (--format/--rate/--channels must match the ring)"
        );
    }
    if let Some(t) = o.timeline {
        ring.check_timeline(t).map_err(|e| anyhow!("{shown}: {e}"))?;
    }
    Ok(ring)
}

/// The flags as a start and an end.
fn request(o: &TapOpts, rate: u32) -> (Start, End) {
    let from = match (o.from_frame, o.from) {
        (Some(n), _) => Start::Frame(n),
        (None, Some(back)) => Start::Back(back.0.frames(rate)),
        (None, None) => Start::Head,
    };
    let end = match (o.until_frame, o.duration, o.no_follow) {
        (Some(u), _, _) => End::Frame(u),
        (_, Some(d), _) => End::Length(d.frames(rate)),
        (_, _, true) => End::AtHead,
        _ => End::Never,
    };
    (from, end)
}

fn bounds(ring: &RingReader, head: u64) -> Bounds {
    let cfg = ring.config();
    let oldest = ring.oldest(head);
    // A request a little older than the guaranteed history (a vinyl-rec that read the head a
    // moment before starting this tap) is honoured while those frames are still intact in the
    // slack, up to half the slack; anything older starts at the guaranteed oldest frame.
    let half_slack = (cfg.slot_frames - cfg.capacity_frames) / 2;
    Bounds { head, oldest, floor: oldest.saturating_sub(half_slack).max(ring.first_intact()).min(head) }
}

fn describe_end(o: &TapOpts, end: u64) -> String {
    match (o.until_frame, o.duration, o.no_follow) {
        (Some(_), _, _) => format!("until frame {end} (exclusive)"),
        (_, Some(d), _) => format!("until frame {end} ({d} after the requested start)"),
        (_, _, true) => format!("until frame {end} (the head at start)"),
        _ if o.live => "following live, skipping forward when overtaken".to_string(),
        _ => "then following live".to_string(),
    }
}

/// Refuses a window whose frames are gone, or too long for a WAV file.
fn check_window(o: &TapOpts, shown: &str, spec: &PcmSpec, b: Bounds, w: Window) -> anyhow::Result<()> {
    if w.requested < w.end as i128 && w.end <= w.start {
        bail!(
            "{shown}: frames {}..{} are no longer in the ring (it holds frames {}..{})",
            w.requested.max(0),
            w.end,
            b.oldest,
            b.head
        );
    }
    if let Some(wav) = &o.wav
        && w.end > w.start
        && (w.end - w.start) * spec.frame_bytes() as u64 > u32::MAX as u64 - 44
    {
        return Err(UsageError::new(format!(
            "{}: {} do not fit a WAV file (4 GiB): tap raw PCM instead",
            wav.display(),
            spec.describe_frames(w.end - w.start)
        ))
        .into());
    }
    Ok(())
}

/// Why a tap stopped before its end.
enum Stop {
    /// The ring said no: lost frames, a replaced, truncated or corrupt ring.
    Ring(ReadError),
    /// Output or system errors (a closed stdout among them).
    Other(anyhow::Error),
}

impl core::convert::From<ReadError> for Stop {
    fn from(e: ReadError) -> Self {
        Stop::Ring(e)
    }
}

impl core::convert::From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Other(e)
    }
}

fn log_start(
    shown: &str,
    spec: &PcmSpec,
    snap: &crate::ring::Snapshot,
    b: Bounds,
    w: Window,
    describe_end: &str,
    o: &TapOpts,
) {
    let (head, start) = (b.head, w.start);
    let ctx = format!("timeline {}, head {head}, {describe_end}", snap.timeline);
    if start > head {
        vlog!(TOOL, "{shown}: tap from frame {start} ({ctx}): waiting for it to be written");
    } else if w.requested < start as i128 {
        let asked = match (o.from_frame, o.from) {
            (Some(n), _) => format!("frame {n}"),
            (_, Some(back)) => format!("{} of pre-roll", spec.describe_frames(back.0.frames(spec.rate))),
            _ => "the head".to_string(),
        };
        vlog!(
            TOOL,
            "{shown}: tap from frame {start}, the oldest held ({ctx}): asked for {asked}, but the ring \
             holds only {}, so the pre-roll is {}",
            spec.describe_frames(head - b.oldest),
            spec.describe_frames(head - start)
        );
    } else {
        vlog!(
            TOOL,
            "{shown}: tap from frame {start} ({ctx}; pre-roll {})",
            spec.describe_frames(head - start)
        );
    }
}

/// How a tap runs: whose it is (for its log lines), where the ring is, its mode and when to stop.
struct How<'a> {
    tool: &'a str,
    path: &'a Path,
    live: bool,
    batch: Batch,
    /// Asked between reads: true ends the tap (signals for the tool; the caller's own test for
    /// [`follow_live`]).
    stop: &'a dyn Fn() -> bool,
}

/// The state of a running tap.
struct Tap<'a> {
    ring: RingReader,
    shown: &'a str,
    tool: &'a str,
    path: &'a Path,
    live: bool,
    stop: &'a dyn Fn() -> bool,
    generation: u64,
    timeline: u64,
    /// The next frame to write out.
    pos: u64,
    /// The frame to stop before.
    end: u64,
    /// Journaled gaps not yet reached.
    gaps: GapWatch,
    /// Gaps and silent frames written out.
    gaps_written: (u64, u64),
    /// Live skips and frames skipped.
    skips: (u64, u64),
    /// Publication-to-output delays in microseconds (with `--measure-latency`).
    latency: Vec<u32>,
    /// systemd's notify socket: READY at the start, WATCHDOG while the loop turns (at least
    /// every 500 ms, writer or not).
    notifier: crate::notify::Notifier,
    /// `--batch`: how long to let frames gather once caught up with the head.
    batch: Batch,
    /// `--end-file`: where a later end is told.
    told: Option<EndFile>,
    /// `--hold`, frames: how far behind the head to stay while the end is ahead.
    hold: u64,
}

impl<'a> Tap<'a> {
    fn new(ring: RingReader, shown: &'a str, how: How<'a>, timeline: u64, w: Window) -> Self {
        let generation = ring.snapshot().map(|s| s.generation).unwrap_or(0);
        Tap {
            ring,
            shown,
            tool: how.tool,
            path: how.path,
            live: how.live,
            stop: how.stop,
            generation,
            timeline,
            pos: w.start,
            end: w.end,
            gaps: GapWatch::default(),
            gaps_written: (0, 0),
            skips: (0, 0),
            latency: Vec::new(),
            notifier: crate::notify::Notifier::from_env(),
            batch: how.batch,
            told: None,
            hold: 0,
        }
    }

    /// The closing words: what was written, with its gaps and skips.
    fn summary(&self, spec: &PcmSpec, start: u64) -> String {
        let mut s = format!(
            "tap wrote frames {start}..{} ({})",
            self.pos,
            spec.describe_frames(self.pos.saturating_sub(start))
        );
        if self.gaps_written.0 > 0 {
            s += &format!(
                ", with {} gap{} ({} of silence for lost audio)",
                self.gaps_written.0,
                if self.gaps_written.0 == 1 { "" } else { "s" },
                spec.describe_frames(self.gaps_written.1)
            );
        }
        if self.skips.0 > 0 {
            s +=
                &format!(", skipped forward {} times ({})", self.skips.0, spec.describe_frames(self.skips.1));
        }
        s
    }

    /// The head now, after checking the ring is still the one being tapped.
    fn head(&self) -> Result<u64, ReadError> {
        let snap = self.ring.snapshot()?;
        self.ring.check_generation(self.generation)?;
        if snap.timeline != self.timeline {
            return Err(ReadError::OtherTimeline { wanted: self.timeline, found: snap.timeline });
        }
        Ok(snap.head)
    }

    /// Copies frames until the end; returns a note on why it ended (empty for the end point).
    fn pump(&mut self, sink: &mut Sink, measure: bool) -> Result<String, Stop> {
        let fb = self.ring.config().spec.frame_bytes();
        let chunk = (65_536 / fb).max(1) as u64;
        let mut buf = vec![0u8; chunk as usize * fb];
        let mut idle = Idle::default();
        let mut stopping = false;
        loop {
            self.notifier.watchdog();
            self.learn_end();
            if !stopping && (self.stop)() {
                stopping = true;
                let head = self.head().or_else(|e| self.recover(e).map(|()| self.pos))?;
                self.end = self.end.min(head.max(self.pos));
            }
            if self.pos >= self.end {
                return Ok(match (stopping, signals::stop_signal_name()) {
                    (true, Some(sig)) => format!(" on {sig}"),
                    _ => String::new(),
                });
            }
            let head = match self.head() {
                Ok(h) => h,
                Err(e) => {
                    self.recover(e)?;
                    continue;
                }
            };
            let limit = writable(head, self.end, self.hold, stopping);
            if limit <= self.pos {
                let wait = if self.told.is_some() { END_POLL } else { WAIT };
                self.ring.wait_beyond(self.pos + (head - limit), self.generation, wait);
                idle.check(self)?;
                self.ring.check_size()?;
                continue;
            }
            let n = self.live_gaps(limit.min(self.end).min(self.pos + chunk) - self.pos);
            if n == 0 {
                continue;
            }
            let n = match self.read(n, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    self.recover(e)?;
                    continue;
                }
            };
            let bytes = n as usize * fb;
            self.log_gaps(self.pos + n);
            sink.write_frames(self.pos, &buf[..bytes])?;
            if measure {
                self.measure(head, self.pos + n);
            }
            self.pos += n;
            // Caught up with the head and not at the end: let the next frames gather.
            if let Some(pause) = self.batch.after_read(bytes, chunk as usize * fb)
                && self.pos < self.end
                && !stopping
            {
                std::thread::sleep(pause);
            }
        }
    }

    /// Copies up to `n` frames from the tap's position into `buf`; returns how many. Frames of a
    /// journaled gap that the writer has overwritten are silence by definition: a strict tap gets
    /// them as zeros (up to the gap's end) instead of a loss. Only overwritten real audio is
    /// [`ReadError::Lost`], and the error names exactly those frames (up to the next gap).
    fn read(&mut self, n: u64, buf: &mut [u8]) -> Result<u64, ReadError> {
        let fb = self.ring.config().spec.frame_bytes();
        let lost_end = match self.ring.read(self.generation, self.pos, n, &mut buf[..n as usize * fb]) {
            Ok(()) => return Ok(n),
            Err(ReadError::Lost { end, .. }) if !self.live => end,
            Err(e) => return Err(e),
        };
        self.gaps.poll(&self.ring, self.pos);
        let known: Vec<_> = self.gaps.gaps().iter().copied().chain(self.ring.gaps()).collect();
        if let Some(g) = known.iter().find(|g| g.first <= self.pos && self.pos < g.end()) {
            let m = n.min(g.end() - self.pos);
            buf[..m as usize * fb].fill(0);
            return Ok(m);
        }
        let next_gap = known.iter().map(|g| g.first).filter(|&f| f > self.pos).min();
        Err(ReadError::Lost { first: self.pos, end: lost_end.min(next_gap.unwrap_or(u64::MAX)) })
    }

    /// For a live tap, the frames it may read from its position (at most `n`): up to the next
    /// journaled gap longer than [`LIVE_GAP_LIMIT_MS`]. At such a gap it skips to the gap's end,
    /// counted and logged like an overtake, and returns 0: an encoder
    /// is never handed a long silence at once, and the numbers a [`follow_live`] caller sees
    /// jump forward. Shorter gaps pass as silence, so a stream keeps its timing. A strict tap gets
    /// `n` unchanged.
    fn live_gaps(&mut self, n: u64) -> u64 {
        if !self.live {
            return n;
        }
        self.gaps.poll(&self.ring, self.pos);
        let limit = self.ring.config().spec.rate as u64 * LIVE_GAP_LIMIT_MS / 1000;
        let Some(g) = self.gaps.gaps().iter().find(|g| g.frames > limit && g.end() > self.pos).copied()
        else {
            return n;
        };
        if g.first > self.pos {
            return n.min(g.first - self.pos);
        }
        // To the gap's end, not to live: a follower that is behind (a listener replaying the
        // ring's past) keeps the audio after the gap; at real time the gap's end is live.
        let to = g.end().min(self.end);
        // The skipped stretch may hold shorter gaps too: they are skipped, not written.
        self.gaps.take_reached(to);
        let skipped = to - self.pos;
        self.skips = (self.skips.0 + 1, self.skips.1 + skipped);
        let rate = self.ring.config().spec.rate;
        vlog!(
            self.tool,
            "{}: {}; skipped frames {}..{to} ({skipped} frames) to the gap's end instead of passing its \
             silence; {} skips so far",
            self.shown,
            crate::ring::describe_gap(&g, rate),
            self.pos,
            self.skips.0
        );
        self.pos = to;
        0
    }

    /// Lowers the end to what `--end-file` says; an end below what was already written is logged
    /// with its lateness (the file holds that many frames too many).
    fn learn_end(&mut self) {
        let Some(told) = self.told.as_mut() else { return };
        let end = told.poll(self.end);
        if end < self.end && end < self.pos {
            vlog!(
                self.tool,
                "{}: the end, frame {end}, came after frames up to {} were written: {} frames too many \
                 (a longer --hold keeps such ends exact)",
                self.shown,
                self.pos,
                self.pos - end
            );
        }
        self.end = end;
    }

    /// What a ring error means: the end of a strict tap; for a live tap, a skip to live (when
    /// overtaken) or a move to the ring's new timeline (when replaced).
    fn recover(&mut self, e: ReadError) -> Result<(), Stop> {
        if !self.live {
            return Err(Stop::Ring(e));
        }
        match e {
            ReadError::Lost { .. } => {
                let head = self.ring.snapshot()?.head;
                let skipped = head.saturating_sub(self.pos);
                self.skips = (self.skips.0 + 1, self.skips.1 + skipped);
                vlog!(
                    self.tool,
                    "{}: overtaken by the writer: skipped frames {}..{head} ({skipped} frames) to live; \
                     {} skips so far",
                    self.shown,
                    self.pos,
                    self.skips.0
                );
                self.pos = head;
                Ok(())
            }
            ReadError::Retired | ReadError::GenerationChanged { .. } | ReadError::OtherTimeline { .. } => {
                self.follow_new_ring()
            }
            ReadError::Truncated | ReadError::Damaged(_) => Err(Stop::Ring(e)),
        }
    }

    /// Opens the ring now at the path (waiting while there is none) and continues live on it.
    fn follow_new_ring(&mut self) -> Result<(), Stop> {
        loop {
            if (self.stop)() {
                self.end = self.pos;
                return Ok(());
            }
            match RingReader::open(self.path, true) {
                Ok(r) if r.config().spec == self.ring.config().spec => {
                    let snap = r.snapshot()?;
                    if snap.retired {
                        std::thread::sleep(WAIT);
                        continue;
                    }
                    vlog!(
                        self.tool,
                        "{}: the ring was replaced: following its new timeline {} from frame {}",
                        self.shown,
                        snap.timeline,
                        snap.head
                    );
                    (self.ring, self.timeline, self.generation, self.pos) =
                        (r, snap.timeline, snap.generation, snap.head);
                    self.end = u64::MAX;
                    self.gaps.reset();
                    return Ok(());
                }
                Ok(r) => {
                    return Err(Stop::Other(anyhow!(
                        "{}: the ring was replaced by one of {}, not {}: a live tap cannot change format",
                        self.shown,
                        r.config().spec,
                        self.ring.config().spec
                    )));
                }
                Err(_) => std::thread::sleep(WAIT),
            }
        }
    }

    /// Logs, one line each, the journaled gaps that the frames up to `upto` reach into, and the
    /// runs of gaps that left the journal before the tap could list them (with their exact count
    /// and length, counted with the gaps written).
    fn log_gaps(&mut self, upto: u64) {
        self.gaps.poll(&self.ring, self.pos);
        let rate = self.ring.config().spec.rate;
        for u in self.gaps.take_unlisted(upto) {
            self.gaps_written = (self.gaps_written.0 + u.count, self.gaps_written.1 + u.frames);
            vlog!(
                self.tool,
                "{}: {} left the ring's journal before this tap could list them (it keeps the last \
                 64); those in the tapped frames are silence",
                self.shown,
                u.describe(rate)
            );
        }
        for g in self.gaps.take_reached(upto) {
            self.gaps_written = (self.gaps_written.0 + 1, self.gaps_written.1 + g.frames);
            vlog!(
                self.tool,
                "{}: gap in the tapped frames: {}",
                self.shown,
                crate::ring::describe_gap(&g, rate)
            );
        }
    }

    fn measure(&mut self, head: u64, written_to: u64) {
        if written_to == head
            && let Some(t) = self.ring.publish_time_of(head)
        {
            let us = layout::monotonic_ns().saturating_sub(t) / 1000;
            if self.latency.len() < 1_000_000 {
                self.latency.push(us.min(u32::MAX as u64) as u32);
            }
        }
    }
}

/// A tap waiting for frames notes, once per change, whether a writer holds the ring.
#[derive(Default)]
struct Idle {
    writer_gone: bool,
    last_check: Option<Instant>,
}

impl Idle {
    fn check(&mut self, tap: &Tap) -> anyhow::Result<()> {
        if self.last_check.is_some_and(|t| t.elapsed() < WAIT) {
            return Ok(());
        }
        self.last_check = Some(Instant::now());
        let gone = !tap.ring.writer_alive()?;
        if gone != self.writer_gone {
            self.writer_gone = gone;
            let state = if gone {
                format!("no writer holds the ring; waiting for frame {}", tap.pos)
            } else {
                "a writer holds the ring again".to_string()
            };
            vlog!(tap.tool, "{}: {state}", tap.shown);
        }
        Ok(())
    }
}

fn report_latency(shown: &str, samples: &mut [u32]) {
    if samples.is_empty() {
        vlog!(TOOL, "{shown}: latency: no samples");
        return;
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    vlog!(
        TOOL,
        "{shown}: latency: samples {} min {}us median {}us p99 {}us max {}us",
        samples.len(),
        samples[0],
        at(0.5),
        at(0.99),
        samples[samples.len() - 1]
    );
}

/// Where the frames go.
enum Sink<'a> {
    /// A caller in this process ([`follow_live`]): the timeline number of the first frame, then
    /// whole frames.
    Call(&'a mut dyn FnMut(u64, &[u8]) -> anyhow::Result<()>),
    /// Raw PCM to stdout (a duplicate of fd 1, written without buffering).
    Raw(File),
    /// A WAV file.
    Wav { writer: hound::WavWriter<BufWriter<File>>, format: SampleFormat, path: String },
}

impl Sink<'_> {
    fn open(wav: Option<&Path>, spec: &PcmSpec) -> anyhow::Result<Sink<'static>> {
        let Some(path) = wav else {
            let fd = std::os::fd::AsFd::as_fd(&io::stdout()).try_clone_to_owned().context("stdout: dup")?;
            return Ok(Sink::Raw(File::from(fd)));
        };
        let shown = path.display().to_string();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("{shown}: create"))?;
        let hspec = hound::WavSpec {
            channels: spec.channels,
            sample_rate: spec.rate,
            bits_per_sample: spec.format.bits() as u16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::new(BufWriter::with_capacity(65_536, file), hspec)
            .map_err(|e| anyhow!("{shown}: write WAV header: {e}"))?;
        Ok(Sink::Wav { writer, format: spec.format, path: shown })
    }

    /// Writes whole frames. Raw output retries interrupted writes, so a signal never splits a
    /// frame.
    fn write_frames(&mut self, first: u64, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Sink::Call(put) => put(first, bytes),
            Sink::Raw(out) => std::io::Write::write_all(out, bytes).context("stdout: write"),
            Sink::Wav { writer, format, path } => {
                let step = format.bytes();
                for sample in bytes.chunks_exact(step) {
                    let v = format.decode(sample);
                    let r = match format {
                        SampleFormat::S16Le => writer.write_sample(v as i16),
                        SampleFormat::S24_3Le => writer.write_sample(v),
                    };
                    r.map_err(|e| anyhow!("{path}: write: {e}"))?;
                }
                Ok(())
            }
        }
    }

    /// Finishes the output: a WAV file gets its final lengths.
    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Raw(_) | Sink::Call(_) => Ok(()),
            Sink::Wav { writer, path, .. } => writer.finalize().map_err(|e| anyhow!("{path}: finalize: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(head: u64, oldest: u64, floor: u64) -> Bounds {
        Bounds { head, oldest, floor }
    }

    #[test]
    fn the_window_is_exact_where_the_ring_holds_the_frames() {
        let w = window(Start::Frame(1000), End::Length(500), b(5000, 0, 0));
        assert_eq!(w, Window { requested: 1000, start: 1000, end: 1500 });
        let w = window(Start::Back(2000), End::AtHead, b(5000, 0, 0));
        assert_eq!(w, Window { requested: 3000, start: 3000, end: 5000 });
        let w = window(Start::Head, End::Never, b(5000, 0, 0));
        assert_eq!(w, Window { requested: 5000, start: 5000, end: u64::MAX });
    }

    #[test]
    fn a_held_tap_stays_behind_the_head_until_its_end_is_reached_or_it_stops() {
        let hold = 45 * 48_000;
        assert_eq!(writable(10_000_000, u64::MAX, hold, false), 10_000_000 - hold, "no end yet: held");
        assert_eq!(writable(10_000_000, 12_000_000, hold, false), 10_000_000 - hold, "end ahead: held");
        assert_eq!(writable(10_000_000, 9_000_000, hold, false), 10_000_000, "end reached: straight on");
        assert_eq!(writable(10_000_000, u64::MAX, hold, true), 10_000_000, "a stop: straight on");
        assert_eq!(writable(1000, u64::MAX, hold, false), 0, "young ring: nothing yet");
        assert_eq!(writable(1000, u64::MAX, 0, false), 1000, "no hold: live");
    }

    #[test]
    fn an_end_file_holds_a_frame_number_that_only_ever_lowers() {
        assert_eq!(parse_end(" 480000\n"), Some(480_000));
        assert_eq!(parse_end("48000f"), None);
        assert_eq!(parse_end("-1"), None);
        assert_eq!(lowered(u64::MAX, "1000"), Some(1000));
        assert_eq!(lowered(1000, "2000"), Some(1000), "a later, larger end is ignored");
        assert_eq!(lowered(1000, "500"), Some(500));
        assert_eq!(lowered(1000, "x"), None);
    }

    #[test]
    fn a_start_older_than_the_floor_becomes_the_oldest_frame() {
        // Within the floor: honoured exactly.
        assert_eq!(window(Start::Frame(900), End::Never, b(10_000, 1000, 800)).start, 900);
        // Older: the oldest guaranteed frame; the requested end stays where it was asked.
        let w = window(Start::Frame(100), End::Length(5000), b(10_000, 1000, 800));
        assert_eq!(w, Window { requested: 100, start: 1000, end: 5100 });
        // More pre-roll than the timeline has: from frame 0.
        let w = window(Start::Back(9000), End::AtHead, b(5000, 0, 0));
        assert_eq!(w, Window { requested: -4000, start: 0, end: 5000 });
    }

    #[test]
    fn a_future_start_is_waited_for_and_ends_never_overflow() {
        let w = window(Start::Frame(9000), End::Length(u64::MAX), b(5000, 0, 0));
        assert_eq!(w, Window { requested: 9000, start: 9000, end: u64::MAX });
        let w = window(Start::Back(u64::MAX), End::Length(10), b(5000, 0, 0));
        assert_eq!((w.start, w.end), (0, 0));
    }

    #[test]
    fn wav_sink_writes_readable_24_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let spec = PcmSpec { format: SampleFormat::S24_3Le, ..PcmSpec::default() };
        let data = crate::pcm::unique_frames(&spec, 1000, 10);
        let mut sink = Sink::open(Some(&path), &spec).unwrap();
        sink.write_frames(0, &data).unwrap();
        sink.finish().unwrap();
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec().bits_per_sample, 24);
        let got: Vec<i32> = r.samples::<i32>().map(Result::unwrap).collect();
        let want: Vec<i32> = data.chunks(3).map(|s| SampleFormat::S24_3Le.decode(s)).collect();
        assert_eq!(got, want);
        assert!(Sink::open(Some(&path), &spec).is_err(), "an existing file is never overwritten");
    }
}
