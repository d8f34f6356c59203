//! Taps: a ring's frames in order, each with its timeline number, strict or live.
//!
//! Owns the ring rules of every reader that copies frames out: the choice of the start and end
//! frames ([`window`], [`writable`], pure), and the follow loop ([`Tap::pump`], sleeping on the
//! ring's futex between writes). A strict tap gives exactly its range or an error; the frames of
//! a journaled gap that the writer has since overwritten are silence by definition and come as
//! zeros. A live tap starts at the head, skips forward to live when overtaken, skips to the end of
//! a journaled gap longer than [`LIVE_GAP_LIMIT_MS`] (shorter ones pass as silence, so a stream
//! keeps its timing), and follows a replaced ring onto its new timeline. [`follow_live`] is the
//! whole live tap for a program that analyses or serves the capture itself.
//!
//! It does not write, log or notify anyone: frames go to the caller's `put`, and each state change
//! worth a log line reaches the caller's [`Observer`] as a [`Note`], once. How it fails: with the
//! ring's [`ReadError`] (lost frames of a strict tap, a replaced, truncated or damaged ring) or the
//! caller's own error from `put`, as a [`Stop`].

use crate::gaps::Unlisted;
use crate::spec::PcmSpec;
use crate::{Gap, GapWatch, ReadError, RingReader, layout};
use anyhow::{anyhow, bail};
use std::path::Path;
use std::time::{Duration, Instant};

/// The longest journaled gap a live tap passes through as silence (1 s); a longer one is skipped.
pub const LIVE_GAP_LIMIT_MS: u64 = 1000;

/// How long one futex sleep lasts at most: the period at which a tap with nothing to do checks
/// whether a writer still holds the ring, and at which its observer is told the loop turns.
pub const WAIT: Duration = Duration::from_millis(500);

/// How long a tap whose end may still be lowered ([`Observer::end`]) sleeps at most.
const END_POLL: Duration = Duration::from_millis(100);

/// Where a tap starts, as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// An absolute timeline frame.
    Frame(u64),
    /// This many frames before the head.
    Back(u64),
    /// The head: live.
    Head,
}

/// Where a tap ends, as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Before this absolute frame.
    Frame(u64),
    /// This many frames after the requested start.
    Length(u64),
    /// At the head as it was at the start.
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

impl Bounds {
    /// The bounds of `ring` when its head is `head`. A request a little older than the guaranteed
    /// history (a recorder that read the head a moment before starting its tap) is honoured while
    /// those frames are still intact in the slack, up to half the slack.
    pub fn of(ring: &RingReader, head: u64) -> Bounds {
        let cfg = ring.config();
        let oldest = ring.oldest(head);
        let half_slack = (cfg.slot_frames - cfg.capacity_frames) / 2;
        Bounds { head, oldest, floor: oldest.saturating_sub(half_slack).max(ring.first_intact()).min(head) }
    }
}

/// A resolved tap: frames `start..end` (`end` may be `u64::MAX`: follow forever).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The frame asked for; may lie before frame 0 (more pre-roll than the timeline has).
    pub requested: i128,
    /// The first frame that will be given.
    pub start: u64,
    /// The frame to stop before.
    pub end: u64,
}

/// Resolves a request against the ring. Leans towards giving what the ring still has: a start
/// older than `floor` becomes `oldest` (the caller says so); a start in the future is waited for.
/// The end is taken from the request, never from the start, so `Frame(N)` with `Length(D)` is
/// exactly `N..N+D` or fails.
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

/// The first frame a strict tap may not give yet, the head being `head`: while its end is still
/// ahead of the head and no stop was asked, frames younger than `hold` stay in the ring (the end
/// may yet be lowered before them); otherwise everything up to the head.
pub fn writable(head: u64, end: u64, hold: u64, stopping: bool) -> u64 {
    if stopping || end <= head { head } else { head.saturating_sub(hold) }
}

/// A state change a tap saw, for its caller to log (each is told once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A live tap skipped frames `from..to`: overtaken by the writer (`gap` is `None`), or to the
    /// end of a journaled gap longer than [`LIVE_GAP_LIMIT_MS`]. `skips` counts them so far.
    Skipped { from: u64, to: u64, gap: Option<Gap>, skips: u64 },
    /// The ring was replaced: a live tap follows its new timeline from frame `from`.
    NewTimeline { timeline: u64, from: u64 },
    /// The given frames reach into this journaled gap (its frames are silence).
    GapReached(Gap),
    /// Gaps that left the ring's journal before the tap could list them.
    Unlisted(Unlisted),
    /// No writer holds the ring (`alive` false, the tap waiting for frame `waiting_for`), or one
    /// holds it again.
    Writer { alive: bool, waiting_for: u64 },
    /// The end was lowered to `end` after frames up to `given` were given.
    LateEnd { end: u64, given: u64 },
    /// [`follow_live`]: there is no ring at the path yet; it waits.
    NoRingYet,
    /// [`follow_live`]: following live from frame `from` of `timeline`.
    Following { from: u64, timeline: u64 },
}

/// What a tap tells its caller as it goes.
pub trait Observer {
    /// A state change (log it once).
    fn note(&mut self, note: Note);
    /// The loop turns (at least every [`WAIT`], frames or not): a watchdog's heartbeat.
    fn turn(&mut self) {}
    /// The end the caller wants now, `current` unless lowered (an end told after the start).
    fn end(&mut self, current: u64) -> u64 {
        current
    }
    /// Whether [`Observer::end`] may still lower the end (the tap then looks every 100 ms).
    fn end_may_change(&self) -> bool {
        false
    }
}

/// Why a tap stopped before its end.
#[derive(Debug)]
pub enum Stop {
    /// The ring said no: lost frames, a replaced, truncated or corrupt ring.
    Ring(ReadError),
    /// The caller's error (from `put`), or a system error.
    Other(anyhow::Error),
}

impl From<ReadError> for Stop {
    fn from(e: ReadError) -> Self {
        Stop::Ring(e)
    }
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Other(e)
    }
}

/// How a tap runs.
pub struct How<'a> {
    /// The ring's path (a live tap reopens it when the ring is replaced).
    pub path: &'a Path,
    /// Live (skips, follows a replaced ring) or strict (its range exactly, or an error).
    pub live: bool,
    /// How long to let frames gather after a read that caught up with the head (zero: none).
    pub batch: Duration,
    /// Frames to stay behind the head while the end is ahead of it (see [`writable`]).
    pub hold: u64,
    /// Asked between reads and while waiting: true ends the tap at the head.
    pub stop: &'a dyn Fn() -> bool,
}

/// A running tap: its ring, its position and what it gave.
pub struct Tap<'a> {
    ring: RingReader,
    how: How<'a>,
    generation: u64,
    timeline: u64,
    /// The next frame to give.
    pub pos: u64,
    /// The frame to stop before.
    pub end: u64,
    gaps: GapWatch,
    /// Gaps and silent frames given.
    pub gaps_given: (u64, u64),
    /// Live skips and frames skipped.
    pub skips: (u64, u64),
    /// Publication-to-give delays in microseconds, when measured.
    pub latency: Vec<u32>,
    writer_gone: bool,
    writer_checked: Option<Instant>,
}

impl<'a> Tap<'a> {
    /// A tap of `ring` (on `timeline`) over `w`.
    pub fn new(ring: RingReader, how: How<'a>, timeline: u64, w: Window) -> Self {
        let generation = ring.snapshot().map(|s| s.generation).unwrap_or(0);
        Tap {
            ring,
            how,
            generation,
            timeline,
            pos: w.start,
            end: w.end,
            gaps: GapWatch::default(),
            gaps_given: (0, 0),
            skips: (0, 0),
            latency: Vec::new(),
            writer_gone: false,
            writer_checked: None,
        }
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

    /// Gives frames to `put` (the timeline number of the first, then whole frames) until the end;
    /// returns whether a stop ended it early. `measure` records publication-to-give delays.
    pub fn pump(
        &mut self,
        obs: &mut dyn Observer,
        put: &mut dyn FnMut(u64, &[u8]) -> anyhow::Result<()>,
        measure: bool,
    ) -> Result<bool, Stop> {
        let fb = self.ring.config().spec.frame_bytes();
        let chunk = (65_536 / fb).max(1) as u64;
        let mut buf = vec![0u8; chunk as usize * fb];
        let mut stopping = false;
        loop {
            obs.turn();
            self.learn_end(obs);
            if !stopping && (self.how.stop)() {
                stopping = true;
                let head = self.head().or_else(|e| self.recover(e, obs).map(|()| self.pos))?;
                self.end = self.end.min(head.max(self.pos));
            }
            if self.pos >= self.end {
                return Ok(stopping);
            }
            let head = match self.head() {
                Ok(h) => h,
                Err(e) => {
                    self.recover(e, obs)?;
                    continue;
                }
            };
            let limit = writable(head, self.end, self.how.hold, stopping);
            if limit <= self.pos {
                let wait = if obs.end_may_change() { END_POLL } else { WAIT };
                self.ring.wait_beyond(self.pos + (head - limit), self.generation, wait);
                self.check_writer(obs)?;
                self.ring.check_size()?;
                continue;
            }
            let n = self.live_gaps(limit.min(self.end).min(self.pos + chunk) - self.pos, obs);
            if n == 0 {
                continue;
            }
            let n = match self.read(n, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    self.recover(e, obs)?;
                    continue;
                }
            };
            let bytes = n as usize * fb;
            self.note_gaps(self.pos + n, obs);
            put(self.pos, &buf[..bytes])?;
            if measure {
                self.measure(head, self.pos + n);
            }
            self.pos += n;
            // Caught up with the head and not at the end: let the next frames gather.
            if bytes < buf.len() && !self.how.batch.is_zero() && self.pos < self.end && !stopping {
                std::thread::sleep(self.how.batch);
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
            Err(ReadError::Lost { end, .. }) if !self.how.live => end,
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
    /// journaled gap longer than [`LIVE_GAP_LIMIT_MS`]. At such a gap it skips to the gap's end
    /// and returns 0: an encoder is never handed a long silence at once, and the numbers the
    /// caller sees jump forward. A strict tap gets `n` unchanged.
    fn live_gaps(&mut self, n: u64, obs: &mut dyn Observer) -> u64 {
        if !self.how.live {
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
        // The skipped stretch may hold shorter gaps too: they are skipped, not given.
        self.gaps.take_reached(to);
        self.skips = (self.skips.0 + 1, self.skips.1 + (to - self.pos));
        obs.note(Note::Skipped { from: self.pos, to, gap: Some(g), skips: self.skips.0 });
        self.pos = to;
        0
    }

    /// Lowers the end to what the observer says; an end below what was already given is noted.
    fn learn_end(&mut self, obs: &mut dyn Observer) {
        let end = obs.end(self.end);
        if end < self.end && end < self.pos {
            obs.note(Note::LateEnd { end, given: self.pos });
        }
        self.end = end;
    }

    /// What a ring error means: the end of a strict tap; for a live tap, a skip to live (when
    /// overtaken) or a move to the ring's new timeline (when replaced).
    fn recover(&mut self, e: ReadError, obs: &mut dyn Observer) -> Result<(), Stop> {
        if !self.how.live {
            return Err(Stop::Ring(e));
        }
        match e {
            ReadError::Lost { .. } => {
                let head = self.ring.snapshot()?.head;
                self.skips = (self.skips.0 + 1, self.skips.1 + head.saturating_sub(self.pos));
                obs.note(Note::Skipped { from: self.pos, to: head, gap: None, skips: self.skips.0 });
                self.pos = head;
                Ok(())
            }
            ReadError::Retired | ReadError::GenerationChanged { .. } | ReadError::OtherTimeline { .. } => {
                self.follow_new_ring(obs)
            }
            ReadError::Truncated | ReadError::Damaged(_) => Err(Stop::Ring(e)),
        }
    }

    /// Opens the ring now at the path (waiting while there is none) and continues live on it.
    fn follow_new_ring(&mut self, obs: &mut dyn Observer) -> Result<(), Stop> {
        loop {
            if (self.how.stop)() {
                self.end = self.pos;
                return Ok(());
            }
            match RingReader::open(self.how.path, true) {
                Ok(r) if r.config().spec == self.ring.config().spec => {
                    let snap = r.snapshot()?;
                    if snap.retired {
                        std::thread::sleep(WAIT);
                        continue;
                    }
                    obs.note(Note::NewTimeline { timeline: snap.timeline, from: snap.head });
                    (self.ring, self.timeline, self.generation, self.pos) =
                        (r, snap.timeline, snap.generation, snap.head);
                    self.end = u64::MAX;
                    self.gaps.reset();
                    return Ok(());
                }
                Ok(r) => {
                    return Err(Stop::Other(anyhow!(
                        "{}: the ring was replaced by one of {}, not {}: a live tap cannot change format",
                        self.how.path.display(),
                        r.config().spec,
                        self.ring.config().spec
                    )));
                }
                Err(_) => std::thread::sleep(WAIT),
            }
        }
    }

    /// Notes, once each, the journaled gaps that the frames up to `upto` reach into, and the runs
    /// of gaps that left the journal before the tap could list them (counted with the gaps given).
    fn note_gaps(&mut self, upto: u64, obs: &mut dyn Observer) {
        self.gaps.poll(&self.ring, self.pos);
        for u in self.gaps.take_unlisted(upto) {
            self.gaps_given = (self.gaps_given.0 + u.count, self.gaps_given.1 + u.frames);
            obs.note(Note::Unlisted(u));
        }
        for g in self.gaps.take_reached(upto) {
            self.gaps_given = (self.gaps_given.0 + 1, self.gaps_given.1 + g.frames);
            obs.note(Note::GapReached(g));
        }
    }

    /// Notes, once per change and at most every [`WAIT`], whether a writer holds the ring.
    fn check_writer(&mut self, obs: &mut dyn Observer) -> anyhow::Result<()> {
        if self.writer_checked.is_some_and(|t| t.elapsed() < WAIT) {
            return Ok(());
        }
        self.writer_checked = Some(Instant::now());
        let gone = !self.ring.writer_alive()?;
        if gone != self.writer_gone {
            self.writer_gone = gone;
            obs.note(Note::Writer { alive: !gone, waiting_for: self.pos });
        }
        Ok(())
    }

    fn measure(&mut self, head: u64, given_to: u64) {
        if given_to == head
            && let Some(t) = self.ring.publish_time_of(head)
        {
            let us = layout::monotonic_ns().saturating_sub(t) / 1000;
            if self.latency.len() < 1_000_000 {
                self.latency.push(us.min(u32::MAX as u64) as u32);
            }
        }
    }
}

/// What [`follow_live`] follows, and how.
pub struct Follow<'a> {
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
}

/// A live tap inside the caller's process: `put` gets the timeline number of the first frame and
/// whole frames. Overtaken, it skips forward to live (the numbers jump ahead); a replaced ring is
/// followed on its new timeline (the numbers may go back); both are noted. Returns when `stop`
/// says so, or with `put`'s error, or with the ring's when it is truncated or damaged.
pub fn follow_live(
    f: Follow<'_>,
    obs: &mut dyn Observer,
    put: &mut dyn FnMut(u64, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let shown = f.ring.display();
    let Some(ring) = wait_for_ring(&f, obs)? else { return Ok(()) };
    if ring.config().spec != f.spec {
        bail!("{shown}: the ring holds {}, not the {} asked for", ring.config().spec, f.spec);
    }
    let snap = ring.snapshot().map_err(|e| anyhow!("{shown}: {e}"))?;
    let from = f.from.map_or(Start::Head, Start::Frame);
    let win = window(from, End::Never, Bounds::of(&ring, snap.head));
    obs.note(Note::Following { from: win.start, timeline: snap.timeline });
    let how = How { path: f.ring, live: true, batch: f.batch, hold: 0, stop: f.stop };
    let mut tap = Tap::new(ring, how, snap.timeline, win);
    match tap.pump(obs, put, false) {
        Ok(_) => Ok(()),
        Err(Stop::Ring(e)) => bail!("{shown}: {e}"),
        Err(Stop::Other(e)) => Err(e),
    }
}

/// Opens the ring, waiting (and noting so once) while there is none; `None` when told to stop.
fn wait_for_ring(f: &Follow<'_>, obs: &mut dyn Observer) -> anyhow::Result<Option<RingReader>> {
    let mut said = false;
    loop {
        if (f.stop)() {
            return Ok(None);
        }
        match RingReader::open(f.ring, true) {
            Ok(r) => return Ok(Some(r)),
            Err(_) if !f.ring.exists() => {
                if !said {
                    obs.note(Note::NoRingYet);
                    said = true;
                }
                std::thread::sleep(WAIT);
            }
            Err(e) => return Err(e),
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
}
