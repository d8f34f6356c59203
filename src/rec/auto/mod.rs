//! `vinyl-rec auto`: hands-free sides. Follows the listener's events and records every side as
//! one FLAC file, with its track markers and loudness tags, and sets the stream's title at each
//! track.
//!
//! Parts: [`mod@settings`] (the keys and their checks), [`event`] (the events checked field by
//! field), [`side`] (one side's recording, from the needle drop minus a margin to the end plus a
//! margin, exactly, its takeover after a killed auto, its continuation after a fault, and its
//! finalisation), [`trim`] (a file cut back to an end told too late), [`measure`] (the file's own
//! loudness, for its ReplayGain tags), [`fit`] (a recognised side's markers fitted to its
//! tracklist; the naming itself is [`crate::library::name::recognised`]), [`parts`] (the earlier
//! parts of a side recognised after they were finalised, named then), [`history`] (every
//! side seen is a play in the collection's history, kept, removed or not recorded at all,
//! queued to a [`Historian`] thread, which waits out a locked database and gets 15 s from
//! auto's stop to drain, then names each play it lost, with its frame),
//! [`titles`] (the metadata FIFO and the `VINYL_ON_EVENT` hook, off the audio path). This file
//! is the loop: take over a side a killed auto left, tail `RUN/events`
//! ([`crate::listen::tail::Tail`]; its history only for that side), check each event against the
//! side being recorded or playing unrecorded ([`new_side`]: a repeated or out-of-order
//! `side_start` never ends it; a side dropped just after one that ended by a lift is the same
//! side, [`lifted::Lifted`]: it records a removed one again or continues a kept one, also after a
//! restart, from the copy in the run folder or, when auto was down at the lift, from the events),
//! check the guards once a second (free space, the recordings folder), feed systemd's watchdog.
//! SIGTERM, SIGINT or SIGHUP ends a side in progress at the ring's head and finalises it, then lets
//! the history note what is queued, before exiting 0. How it fails: usage errors (the
//! configuration) exit 2 at the start (`--check` stops there); after that nothing ends the loop but
//! a stop signal: a bad event is counted and logged once per kind, a side that cannot be recorded
//! or finalised is logged, noted in the history without a recording, and the next one is waited
//! for.

pub mod event;
pub mod fit;
pub mod health;
pub mod history;
pub mod lifted;
pub mod measure;
pub mod parts;
pub mod settings;
pub mod side;
pub mod titles;
pub mod trim;

use super::cli::AutoOpts;
use super::state::ensure_run_dir;
use super::{Settings, TOOL};
use crate::cli::UsageError;
use crate::config::Config;
use crate::library::history::{Historian, Rules};
use crate::library::name::Recognised;
use crate::listen::tail::Tail;
use crate::pcm::format_frames;
use crate::{signals, vlog};
use event::Event;
use history::Unrecorded;
use lifted::Lifted;
use settings::AutoSettings;
use side::{Refused, Side, reason};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use titles::Titles;

/// How often the events file is read.
const POLL: Duration = Duration::from_millis(100);
/// How often the free space and the recordings folder are checked while a side records.
const GUARD_EVERY: Duration = Duration::from_secs(1);
/// How long a stop waits for the side in progress to be finished.
const STOP_WAIT: Duration = Duration::from_secs(60);
/// Seconds within which the listener's last event before auto started must reach the ring's head
/// for the side it left open to be recorded (it writes a state line every 5 s).
const FRESH_S: u64 = 30;

/// The loop's state.
struct Auto {
    s: Settings,
    a: AutoSettings,
    titles: Titles,
    /// The side being recorded, or finished and waiting for its report.
    side: Option<Side>,
    /// The side playing that auto did not record, noted in the history at its end.
    unrecorded: Option<Unrecorded>,
    /// The last side that ended by a lift, which a side dropped soon after joins (kept in the
    /// run folder too, [`Lifted::save`]).
    lifted: Option<Lifted>,
    /// The newest `at` of the events written before this auto started.
    heard: Option<u64>,
    /// The thread that notes the plays in the collection, so the loop never waits for SQLite.
    history: Historian,
    /// Sides heard since the start (the `{side}` of the titles).
    sides: u32,
    /// The tracks of the lifted side the one recording joined, before the listener's track 1.
    track_offset: u32,
    /// The artist of the side playing, once the listener recognised it (for the stream title).
    artist: Option<String>,
    /// The listener's number of the side not recorded (logged once).
    skipped: Option<u64>,
    /// Events not acted on, by kind: how many (each kind is logged once).
    bad: BTreeMap<String, u64>,
    /// A `side_start` that cannot be a new side was logged.
    repeated: bool,
    last_guard: Instant,
}

/// Loads and checks the settings, against the ring's capacity too when the ring exists (exit 2).
fn settings(s: &Settings) -> anyhow::Result<AutoSettings> {
    let a = AutoSettings::load(&Config::discover()?)?;
    if let Ok(ring) = super::plan::read_ring(&s.ring) {
        a.check(Some(ring.capacity), ring.spec.rate).map_err(|e| {
            UsageError::new(format!(
                "{e} (the ring {} holds {})",
                s.ring.display(),
                format_frames(ring.capacity, ring.spec.rate)
            ))
        })?;
    }
    Ok(a)
}

/// Runs `vinyl-rec auto` until a stop signal (with `--check`: checks the settings and returns):
/// validate, open, follow the events, finish.
pub fn auto(s: &Settings, o: &AutoOpts) -> anyhow::Result<()> {
    let a = settings(s)?;
    if o.check {
        return Ok(());
    }
    signals::install()?;
    ensure_run_dir(&s.run_dir)?;
    let events = o.events.clone().unwrap_or_else(|| s.run_dir.join("events"));
    let fifos = if o.title_fifo.is_empty() { vec![s.run_dir.join("title")] } else { o.title_fifo.clone() };
    let mut notifier = crate::notify::Notifier::from_env();
    let following = format!(
        "auto: following {} (sides from {} before the needle drop to {} after the end, the tap {} behind the head; recordings in {})",
        events.display(),
        a.start_margin,
        a.end_margin,
        a.hold,
        s.recordings.display()
    );
    let mut auto = Auto::open(s, a, fifos)?;
    follow(&mut auto, Tail::new(&events), &following, &mut notifier);
    notifier.stopping();
    auto.stop(&mut notifier);
    auto.titles.shutdown();
    auto.history.finish();
    Ok(())
}

/// Acts on every line of the events file until a stop signal.
fn follow(auto: &mut Auto, mut tail: Tail, following: &str, notifier: &mut crate::notify::Notifier) {
    let (mut lines, mut history) = (Vec::new(), Vec::new());
    // What the events file holds already is the past: read before auto says it follows (and tells
    // systemd it is ready), so that every line written after that is acted on as new.
    tail.poll(&mut |l| lines.push(l.to_string()), &mut |l| history.push(l.to_string()));
    vlog!(TOOL, "{following}");
    notifier.ready();
    notifier.status("waiting for a side");
    while !signals::stop_requested() {
        notifier.watchdog();
        // An adopted side learns what the listener said while no auto ran: its events since
        // its needle drop, without titles (they are past).
        if !history.is_empty() {
            for l in &history {
                auto.replay(l);
            }
            if auto.check_open_side() {
                // Recorded after all: what the listener said of the side so far is acted on.
                for l in &history {
                    auto.replay(l);
                }
            }
            history.clear();
        }
        for l in lines.drain(..) {
            auto.line(&l);
        }
        auto.step();
        auto.titles.repeat();
        std::thread::sleep(POLL);
        tail.poll(&mut |l| lines.push(l.to_string()), &mut |l| history.push(l.to_string()));
    }
}

impl Auto {
    /// Auto's state at start: the side a killed auto left open adopted, the history's writer
    /// started.
    fn open(s: &Settings, a: AutoSettings, fifos: Vec<std::path::PathBuf>) -> anyhow::Result<Auto> {
        // The collection is made when missing: auto's plays are the history's first notes.
        let rules = Rules { tool: TOOL, create: true, untimed: true };
        let history = Historian::start(rules, crate::library::default_db()?, s.ring.clone())?;
        Ok(Auto {
            s: s.clone(),
            titles: Titles::new(fifos, a.hook.clone(), a.hook_timeout),
            side: side::adopt(s, &a),
            unrecorded: None,
            // What a killed auto kept of a lift it saw, on this ring's timeline.
            lifted: super::plan::read_ring(&s.ring)
                .ok()
                .and_then(|r| Lifted::load(&s.run_dir, r.timeline, &s.recordings)),
            heard: None,
            history,
            a,
            sides: 0,
            track_offset: 0,
            artist: None,
            skipped: None,
            bad: BTreeMap::new(),
            repeated: false,
            last_guard: Instant::now(),
        })
    }

    /// One line of the events file.
    fn line(&mut self, line: &str) {
        let ev = match event::parse(line) {
            Ok(ev) => ev,
            Err(bad) => return self.bad_event(bad),
        };
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && !matches!(v["event"].as_str(), Some("level" | "state") | None)
        {
            self.titles.event(line);
        }
        match &ev {
            Event::SideStart { .. } => self.artist = None,
            Event::Recognized { frame, artist, title, .. }
                if self.side.as_ref().is_none_or(|s| s.side_frame == *frame) =>
            {
                self.artist = Some(artist.clone());
                if let Some(t) = title {
                    self.titles.set(&titles::stream_title("", 0, 0, Some(artist), Some(t)));
                }
            }
            Event::TrackStart { track, title, .. } => {
                let track = u32::try_from(*track).unwrap_or(u32::MAX).saturating_add(self.track_offset);
                let (artist, title) = (self.artist.as_deref(), title.as_deref());
                self.titles.set(&titles::stream_title(
                    &self.a.template,
                    self.sides.max(1),
                    track,
                    artist,
                    title,
                ));
            }
            _ => {}
        }
        self.act(ev);
    }

    /// A line of the events file written before this auto started: acted on only for the side
    /// it adopted, and only from that side's needle drop.
    fn replay(&mut self, line: &str) {
        let Some(side) = self.side.as_ref() else { return self.replay_unrecorded(line) };
        let (n, from) = (side.side, side.side_frame);
        match event::parse(line) {
            Ok(Event::SideStart { side, frame }) if side == n && frame == from => {}
            Ok(ev @ (Event::TrackStart { .. } | Event::SideEnd { .. } | Event::SideStart { .. }))
                if frame_of(&ev).is_some_and(|f| f >= from) =>
            {
                self.act(ev)
            }
            Ok(ev @ Event::Recognized { frame, .. }) if frame == from => self.act(ev),
            Ok(ev @ Event::SideReport { .. }) => self.act(ev),
            _ => {}
        }
    }

    /// A line written before this auto started, when it took no side over: the side still
    /// playing then (its `side_start` without a `side_end` yet, and its recognition) was not
    /// recorded, and is noted in the history at its end ([`Auto::check_open_side`] checks it).
    fn replay_unrecorded(&mut self, line: &str) {
        if let Ok(crate::events::Line::Event(e)) = crate::events::parse(line) {
            self.heard = Some(e.at());
        }
        match event::parse(line) {
            Ok(Event::SideStart { side, frame }) => {
                self.unrecorded = Some(Unrecorded::new(side, frame, &self.s.ring));
            }
            Ok(Event::SideEnd { side, frame, reason: why, .. }) => {
                if let Some(u) = self.unrecorded.take_if(|u| u.side == side)
                    && why == reason::LIFT
                    && self.lifted.as_ref().is_none_or(|l| l.end < frame)
                {
                    let lifted = self.lifted_before(u, frame);
                    self.set_lifted(lifted);
                }
            }
            Ok(ev @ Event::Recognized { .. }) => self.act(ev),
            _ => {}
        }
    }

    /// A side that ended by a lift at `end` before this auto started, as the auto before it left
    /// it: removed when shorter than the minimum, so a side dropped soon after joins it (auto
    /// killed between the lift and that drop would otherwise lose it).
    fn lifted_before(&self, u: Unrecorded, end: u64) -> Option<Lifted> {
        let rate = super::plan::read_ring(&self.s.ring).ok()?.spec.rate;
        (end.saturating_sub(u.side_frame) < self.a.min_side.frames(rate)).then(|| Lifted {
            side: u.side,
            since: u.side_frame,
            end,
            rate,
            at: u.at,
            tracks: Vec::new(),
            titles: Vec::new(),
            kept: None,
        })
    }

    /// The side the events say was playing when this auto started: kept only when it is on the
    /// ring's timeline and within the longest side of its head, so a side whose end was never
    /// written (a listener killed before a reboot) is not taken for the one playing. It is
    /// recorded after all, whole, when the ring still holds it from its start margin and the
    /// listener wrote within [`FRESH_S`] of the head (its events are of this timeline, now): an
    /// auto restarted just as a side began (a crash, an upgrade) would otherwise lose the side.
    /// Otherwise it goes in the history at its end. Returns whether it is being recorded.
    fn check_open_side(&mut self) -> bool {
        let Some(u) = self.unrecorded.as_ref() else { return false };
        let (side, frame) = (u.side, u.side_frame);
        let Ok(ring) = super::plan::read_ring(&self.s.ring) else {
            self.unrecorded = None;
            return false;
        };
        let rate = ring.spec.rate;
        if frame > ring.head || ring.head - frame > self.a.max_side.frames(rate) {
            self.unrecorded = None;
            return false;
        }
        let start = frame.saturating_sub(self.a.start_margin.frames(rate));
        let fresh = |at: u64| at >= frame && ring.head.saturating_sub(at) <= FRESH_S * u64::from(rate);
        if ring.oldest <= start && self.heard.is_some_and(fresh) {
            let u = self.unrecorded.take();
            self.side_start(side, frame);
            if self.side.is_some() {
                vlog!(
                    TOOL,
                    "side {side}: playing since its needle drop at frame {frame}, before this auto started; the ring still holds it: recorded whole"
                );
                return true;
            }
            self.unrecorded = u;
        }
        vlog!(
            TOOL,
            "side {side}: playing since its needle drop at frame {frame}, before this auto started: not recorded; it goes in the listening history at its end"
        );
        false
    }

    /// What a checked event does to the side being recorded.
    fn act(&mut self, ev: Event) {
        match ev {
            Event::SideStart { frame, side } => self.side_start(side, frame),
            Event::TrackStart { frame, side, title, .. } => {
                if let Some(s) = self.current(side)
                    && !s.tracks.contains(&frame)
                {
                    s.tracks.push(frame);
                    s.titles.push(title);
                }
            }
            Event::SideEnd { frame, side, reason: why, rpm } => {
                // A lift too: a quiet fade under the noise can read as one, and after a real
                // lift the margin holds only the converter's floor.
                let margin = self.a.end_margin.frames(self.rate());
                if let Some(s) = self.current(side) {
                    s.rpm = rpm;
                    s.lift = (why == reason::LIFT).then_some(frame);
                    s.end_at(frame + margin, why);
                }
                if let Some(u) = self.unrecorded.take_if(|u| u.side == side) {
                    u.note(&self.history, Some(frame));
                }
            }
            Event::SideReport { side, report } => {
                if let Some(s) = self.side.as_mut().filter(|s| s.side == side) {
                    s.report = Some(report);
                }
            }
            Event::Recognized { frame, artist, album, side, track, title, tracks } => {
                let who = Recognised { artist, album, side, titles: Vec::new(), first_track: None };
                if let Some(s) = self.side.as_mut().filter(|s| s.side_frame == frame) {
                    s.recognised(who, track, title, tracks);
                } else if let Some(u) = self.unrecorded.as_mut().filter(|u| u.side_frame == frame) {
                    u.recognised.get_or_insert(who);
                }
            }
            Event::Other => {}
        }
    }

    /// An event with a bad field: counted, and logged the first time of its kind.
    fn bad_event(&mut self, bad: event::Bad) {
        let n = self.bad.entry(bad.kind.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            vlog!(
                TOOL,
                "events: a {} event is not acted on: {} (such events are counted and logged once)",
                bad.kind,
                bad.why
            );
        }
    }

    fn rate(&self) -> u32 {
        self.side.as_ref().map_or(48_000, |s| s.rate)
    }

    /// The side being recorded, when it is the listener's side `n` and not yet ended.
    fn current(&mut self, n: u64) -> Option<&mut Side> {
        self.side.as_mut().filter(|s| s.side == n)
    }

    /// A `side_start` while a side records or plays unrecorded: a fact to check (see
    /// [`new_side`]); one that is not a new side is logged once.
    fn plausible(&mut self, n: u64, frame: u64) -> bool {
        let (playing, ended, how) = match (self.side.as_mut(), self.unrecorded.as_ref()) {
            (Some(cur), _) => {
                let ended = cur.end.as_ref().is_some_and(|(e, _)| *e <= frame) || cur.finished();
                ((cur.side, cur.side_frame), ended, "is being recorded")
            }
            (None, Some(u)) => ((u.side, u.side_frame), false, "plays, not recorded,"),
            (None, None) => return true,
        };
        if new_side(playing, ended, n, frame) {
            return true;
        }
        if !self.repeated {
            self.repeated = true;
            vlog!(
                TOOL,
                "events: side_start of side {n} at frame {frame} ignored: side {} {how} from its needle drop at {} (a repeated or out-of-order event; logged once)",
                playing.0,
                playing.1
            );
        }
        false
    }

    fn side_start(&mut self, n: u64, frame: u64) {
        if !self.plausible(n, frame) {
            return;
        }
        if let Some(u) = self.unrecorded.take() {
            u.note(&self.history, Some(frame));
        }
        if let Some(mut old) = self.side.take() {
            // A new side while the last one records or waits for its report: the old one ends
            // at the new needle drop at the latest, or at a lift the listener placed after it.
            if !old.finished() {
                old.end_for_next(frame);
                old.wait(STOP_WAIT, &mut || {});
            }
            let lifted = old.finalise(&self.a, &self.history);
            self.set_lifted(lifted);
        }
        let join = self.lifted.take().filter(|l| l.joins(frame));
        Lifted::forget(&self.s.run_dir);
        let joined = join.as_ref().map(|l| l.joined(frame));
        // A side that joins a lifted one is the same side of the record: its titles go on.
        self.sides += u32::from(join.is_none());
        self.track_offset = join.as_ref().map_or(0, |l| u32::try_from(l.tracks.len()).unwrap_or(0));
        match side::begin(&self.s, &self.a, n, frame, join) {
            Ok(Ok(side)) => {
                vlog!(
                    TOOL,
                    "side {n}: recording {} from frame {} (needle drop at {frame}{})",
                    side.path.display(),
                    side.first,
                    joined.unwrap_or_default()
                );
                self.skipped = None;
                self.side = Some(side);
            }
            Ok(Err(Refused::Manual(path))) if self.skipped != Some(n) => {
                self.skipped = Some(n);
                vlog!(
                    TOOL,
                    "side {n}: not recorded: a manual recording is running ({}); auto leaves it alone",
                    path.display()
                );
            }
            Ok(Err(Refused::Manual(_))) => {}
            Ok(Err(Refused::NoSpace(free))) => vlog!(
                TOOL,
                "side {n}: not recorded: {} has only {} MiB free, under VINYL_AUTO_MIN_FREE ({} MiB); free some space or lower it",
                self.s.recordings.display(),
                free >> 20,
                self.a.min_free >> 20
            ),
            Err(e) => vlog!(TOOL, "side {n}: not recorded: {e:#}"),
        }
        if self.side.is_none() {
            self.unrecorded = Some(Unrecorded::new(n, frame, &self.s.ring));
        }
    }

    /// The side that ended by a lift, for the next needle drop; kept in the run folder too, so
    /// that an auto restarted before that drop joins the side as this one would.
    fn set_lifted(&mut self, lifted: Option<Lifted>) {
        match (&lifted, super::plan::read_ring(&self.s.ring)) {
            (Some(l), Ok(ring)) => l.save(&self.s.run_dir, ring.timeline),
            _ => Lifted::forget(&self.s.run_dir),
        }
        self.lifted = lifted;
    }

    /// The guards and the finalisation, between events.
    fn step(&mut self) {
        let Some(side) = self.side.as_mut() else { return };
        if side.ready() {
            if let Some(mut s) = self.side.take() {
                self.side = s.continuation(&self.s, &self.a);
                let lifted = s.finalise(&self.a, &self.history);
                self.set_lifted(lifted);
            }
            return;
        }
        // Until the runner is done: a held tap writes the hold's audio after the end is told.
        if self.last_guard.elapsed() < GUARD_EVERY {
            return;
        }
        self.last_guard = Instant::now();
        if !side.folder_exists() {
            vlog!(
                TOOL,
                "side {}: the folder of {} was deleted: the side is recorded again from the ring into a new one",
                side.side,
                side.path.display()
            );
            side.end_now(reason::FOLDER_DELETED);
            return;
        }
        let free = side::free_bytes(&self.s.recordings).unwrap_or(u64::MAX);
        if free < self.a.min_free
            && let Some(now) = side.head()
        {
            // Where the held tap is, not the head: the hold's audio would not fit either.
            let head = now.saturating_sub(self.a.hold.frames(side.rate)).max(side.first);
            side.end_at(head, reason::DISK);
            vlog!(
                TOOL,
                "side {}: stopped at frame {head} ({} in): {} has only {} MiB free, under VINYL_AUTO_MIN_FREE ({} MiB); the file is kept; free some space",
                side.side,
                format_frames(head.saturating_sub(side.side_frame), side.rate),
                self.s.recordings.display(),
                free >> 20,
                self.a.min_free >> 20
            );
        }
    }

    /// A stop signal: the side in progress ends at the head and is finalised; one playing
    /// unrecorded is noted without an end.
    fn stop(&mut self, notifier: &mut crate::notify::Notifier) {
        if let Some(u) = self.unrecorded.take() {
            u.note(&self.history, None);
        }
        let Some(mut side) = self.side.take() else { return };
        if !side.finished() {
            vlog!(TOOL, "side {}: stopping: the file ends at the ring's head", side.side);
            side.end_now(reason::STOP);
            if !side.wait(STOP_WAIT, &mut || notifier.watchdog()) {
                vlog!(TOOL, "side {}: the recorder is still finishing; its file is left as it is", side.side);
                return;
            }
        }
        side.finalise(&self.a, &self.history);
    }
}

/// Whether a `side_start` of side `n` at `frame` is a new side, the side `(number, needle drop)`
/// being recorded (`ended` once its end is at or before `frame`): the same side again, or a needle
/// drop not after the recorded one's, is not, unless the recorded side has ended and the drop is
/// later (a restarted listener counting from 1 again).
pub fn new_side(recorded: (u64, u64), ended: bool, n: u64, frame: u64) -> bool {
    let repeated = n == recorded.0 || frame <= recorded.1;
    !repeated || ended && frame > recorded.1
}

/// The frame an event is about.
fn frame_of(ev: &Event) -> Option<u64> {
    match *ev {
        Event::SideStart { frame, .. } | Event::TrackStart { frame, .. } | Event::SideEnd { frame, .. } => {
            Some(frame)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_later_side_start_of_another_side_is_a_new_side() {
        let recorded = (3, 1_000_000);
        assert!(new_side(recorded, false, 4, 2_000_000), "the next side");
        assert!(!new_side(recorded, false, 3, 2_000_000), "the same side again");
        assert!(!new_side(recorded, false, 3, 1_000_000), "the same event again");
        assert!(!new_side(recorded, false, 7, 10), "out of order: before the recorded drop");
        assert!(!new_side(recorded, true, 4, 999_999), "before the drop, even once ended");
        assert!(new_side(recorded, true, 1, 3_000_000), "a restarted listener's first side after the end");
    }
}
