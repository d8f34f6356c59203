//! Live recognition of replays (`vinyl-listen --library DB`): from each needle drop, the side is
//! matched against the collection's learned sides ([`crate::library::recognize`]), and a
//! `recognized` event follows; the side's later `track_start` events carry the learned titles.
//!
//! Owns a worker thread and the hand-over to it. The listener sends every decoded stretch and each
//! side's start and end. Following the ring (live), the hand-over never blocks: a bounded queue,
//! where a stretch that does not fit is dropped and counted, and the worker hears it as silence, so
//! its frames keep their places; a side's start or end that does not fit waits in order, and
//! nothing overtakes it. From stdin (which can wait, and runs faster than real time), each message
//! waits for the worker, so the result does not depend on the machine's load. The worker keeps the
//! last [`HISTORY_S`] seconds, because a needle drop is decided a few seconds after it happened;
//! at a side start it fingerprints from the drop, tries a match every quarter second ([`TRY_S`]) and gives up after
//! [`GIVE_UP_S`] seconds. A recognition is told at once, and again at [`REFINE_S`] with the speed
//! and place fitted over more music (no second event: the titles of later tracks use it). At a
//! side's end on a ring, the worker hands its play, recognised or not, to the listening history
//! ([`crate::library::history`], a thread of its own, so a locked database delays no recognition). The
//! collection is opened by the worker, once per side (so a side learned a minute ago is known),
//! and never by the listener's thread, so SQLite never delays the analysis; a side before the
//! collection exists is not looked up. How it fails: a collection that cannot be opened or read is
//! logged once per side and costs nothing else; the listener goes on without titles.

use crate::library::db::Library;
use crate::library::history::{Historian, Notes, Played, Rules};
use crate::library::recognize::{Match, Recognizer, TRY_S, next_try_after};
use crate::vlog;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// Seconds of audio the worker keeps for a needle drop decided late.
pub const HISTORY_S: u64 = 20;
/// Seconds after the drop without a recognition before the worker stops trying.
pub const GIVE_UP_S: f64 = 60.0;
/// Seconds after the drop at which a recognised side's speed and place are fitted again, over
/// more music, for the titles of its later tracks.
pub const REFINE_S: f64 = 40.0;
/// How often the listener looks (a stat) for a collection that did not exist: until one does, no
/// audio is handed over, so a listener without a collection pays nothing for recognition (the
/// copies, the worker's 20 s of history; on stdin, a wait per stretch).
const LOOK_EVERY: Duration = Duration::from_secs(5);

enum Msg {
    Audio(u64, Vec<f32>),
    /// A side dropped at the first frame, heard from the second, on a deck whose last run-out
    /// gave the speed (over the nominal).
    Side(u64, u64, Option<f64>),
    /// The side dropped at the first frame ended at the second; its play is noted when true.
    End(u64, u64, bool),
}

impl Msg {
    /// A side's start or end: never dropped, whatever the queue holds (a stretch can be).
    fn is_control(&self) -> bool {
        !matches!(self, Msg::Audio(..))
    }
}

/// A recognised side: the match, and what titles the later tracks need.
#[derive(Clone, Debug)]
pub struct Heard {
    /// The side's needle drop.
    pub drop: u64,
    /// The frame the query began at: the drop, or later for a side resumed after a restart.
    pub start: u64,
    /// What was recognised.
    pub found: Match,
    /// Where the learned side's tracks start, in its seconds.
    pub track_starts: Vec<f64>,
    /// The side's titles.
    pub titles: Vec<String>,
}

impl Heard {
    /// The learned title playing at timeline frame `frame` (2 s of grace: a track the listener
    /// finds a little before the learned boundary is the next one).
    pub fn title_at(&self, frame: u64, rate: u32) -> Option<String> {
        let heard_s = frame.saturating_sub(self.start) as f64 / f64::from(rate);
        let learned_s = self.found.offset_s + heard_s * self.found.speed_ratio + 2.0;
        let track = self.track_starts.iter().filter(|&&s| s <= learned_s).count().max(1);
        self.titles.get(track - 1).cloned()
    }
}

impl Heard {
    /// The learned tracks on this play's timeline at `rate` Hz: the one playing at the needle
    /// drop (placed at the drop), then each that starts after it.
    pub fn tracks(&self, rate: u32) -> Vec<crate::events::LearnedTrack> {
        let starts = if self.track_starts.is_empty() { vec![0.0] } else { self.track_starts.clone() };
        let speed = if self.found.speed_ratio > 0.0 { self.found.speed_ratio } else { 1.0 };
        let at = |s: f64| (s - self.found.offset_s) / speed * f64::from(rate);
        let playing = starts.iter().filter(|&&s| at(s) <= 0.0).count().max(1);
        // The track playing when the query began started there, or (a query begun after the
        // drop) where it maps to, but not before the drop.
        let frame = |s: f64| (self.start as f64 + at(s).round()).max(self.drop as f64) as u64;
        (playing..=starts.len())
            .map(|k| crate::events::LearnedTrack {
                track: k,
                frame: if k == playing && self.start == self.drop { self.drop } else { frame(starts[k - 1]) },
                title: self.titles.get(k - 1).cloned(),
            })
            .collect()
    }
}

/// The listener's end of the worker.
pub struct Live {
    tx: SyncSender<Msg>,
    rx: Receiver<Option<Heard>>,
    /// In step: each message waits for the worker's answer (stdin, which can wait).
    in_step: bool,
    told: Option<Heard>,
    dropped: u64,
    /// Sides' starts and ends that found the queue full, in order: sent before anything else.
    pending: VecDeque<Msg>,
    /// The collection, whether it was there when last looked for, and when that was.
    db: PathBuf,
    exists: bool,
    looked: Option<Instant>,
    /// Stretches handed over.
    handed: u64,
    /// The notes of plays (on a ring), and the worker's end, told when it is gone.
    historian: Option<Historian>,
    worker_done: Receiver<()>,
}

impl Live {
    /// Starts the worker for audio of `rate` Hz and `channels` channels, against `db`. `in_step`
    /// (for stdin, which can wait, and runs faster than real time): each stretch waits for the
    /// worker, so what is recognised, and when, does not depend on the machine's load. Otherwise
    /// (the ring, live) the listener never waits. Following `ring`, each side's play is noted in
    /// the listening history ([`crate::library::history`]).
    pub fn start(
        db: PathBuf,
        rate: u32,
        channels: u16,
        in_step: bool,
        ring: Option<PathBuf>,
    ) -> anyhow::Result<Live> {
        // About 10 s of 100 ms stretches: the worker keeps up by far; the bound is for a stall.
        let (tx, worker_rx) = sync_channel(if in_step { 0 } else { 100 });
        // Answers are few (two a side at most): unbounded, so the worker never waits for them.
        let (worker_tx, rx) = std::sync::mpsc::channel();
        let rules = Rules { tool: super::TOOL, create: false, untimed: false };
        let historian = ring.map(|ring| Historian::start(rules, db.clone(), ring)).transpose()?;
        let worker = Worker::new(db.clone(), rate, channels, historian.as_ref().map(Historian::sender));
        let (done_tx, worker_done) = sync_channel(1);
        std::thread::Builder::new()
            .name("recognize".into())
            .spawn(move || {
                worker.run(&worker_rx, &worker_tx, in_step);
                let _ = done_tx.send(());
            })
            .map_err(|e| anyhow::anyhow!("recognition: start its thread: {e}"))?;
        Ok(Live::over(tx, rx, worker_done, in_step, db, historian))
    }

    /// The listener's end of a worker reached through `tx`, answering on `rx`, telling its end
    /// on `worker_done`.
    fn over(
        tx: SyncSender<Msg>,
        rx: Receiver<Option<Heard>>,
        worker_done: Receiver<()>,
        in_step: bool,
        db: PathBuf,
        historian: Option<Historian>,
    ) -> Live {
        let (told, dropped, pending, exists, looked, handed) = (None, 0, VecDeque::new(), false, None, 0);
        Live { tx, rx, in_step, told, dropped, pending, db, exists, looked, handed, historian, worker_done }
    }

    /// Whether the collection exists: once it did, it is taken to stay (the worker opens it at
    /// each side and says when it cannot); until then it is looked for every [`LOOK_EVERY`].
    fn collection(&mut self) -> bool {
        if !self.exists && self.looked.is_none_or(|t| t.elapsed() >= LOOK_EVERY) {
            self.looked = Some(Instant::now());
            self.exists = self.db.exists();
        }
        self.exists
    }

    /// Hands a decoded stretch (interleaved ±1.0) over, when there is a collection.
    pub fn audio(&mut self, first: u64, samples: &[f32]) {
        if self.collection() {
            self.handed += 1;
            self.send(Msg::Audio(first, samples.to_vec()), first);
        }
    }

    /// A side began at the needle drop `frame`, on a deck whose last run-out gave the speed
    /// `deck` (over the nominal), when one was measured.
    pub fn side(&mut self, frame: u64, deck: Option<f64>) {
        if self.collection() {
            self.send(Msg::Side(frame, frame, deck), frame);
        }
    }

    /// A side dropped at `drop` is heard from `from` on (a restarted listener whose ring no
    /// longer holds the drop): it is matched from there.
    pub fn side_from(&mut self, drop: u64, from: u64, deck: Option<f64>) {
        if self.collection() {
            self.send(Msg::Side(drop, from.max(drop), deck), from);
        }
    }

    /// The side dropped at `drop` ended at `frame`: its play is noted when `note` (on a ring,
    /// when the collection exists), and stretches skipped during it are said, with their count.
    pub fn end(&mut self, drop: u64, frame: u64, note: bool) {
        if self.dropped > 0 {
            vlog!(
                super::TOOL,
                "recognition: {} stretches were skipped before frame {frame} (heard as silence by the recogniser only)",
                self.dropped
            );
            self.dropped = 0;
        }
        self.send(Msg::End(drop, frame, note), frame);
    }

    /// Notes a play the worker did not follow (a restarted listener's predecessor's last side,
    /// which it may have been killed before noting: a second note of a play joins the first).
    pub fn noted_before(&self, p: Played) {
        if let Some(h) = &self.historian {
            h.note(p);
        }
    }

    fn send(&mut self, msg: Msg, frame: u64) {
        if self.in_step {
            if self.tx.send(msg).is_ok() {
                self.told = self.rx.recv().ok().flatten().or(self.told.take());
            }
            return;
        }
        self.flush();
        if !self.pending.is_empty() {
            // Nothing overtakes a side's start or end still waiting.
            match msg.is_control() {
                true => self.pending.push_back(msg),
                false => self.skip(frame),
            }
            return;
        }
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(msg)) if msg.is_control() => self.pending.push_back(msg),
            Err(TrySendError::Full(_)) => self.skip(frame),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Sends what waits, in order, as far as the queue takes it.
    fn flush(&mut self) {
        while let Some(msg) = self.pending.pop_front() {
            match self.tx.try_send(msg) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(msg)) => {
                    self.pending.push_front(msg);
                    return;
                }
            }
        }
    }

    /// A stretch that did not fit: heard as silence by the recogniser, said once a stall.
    fn skip(&mut self, frame: u64) {
        if self.dropped == 0 {
            vlog!(
                super::TOOL,
                "recognition: fell behind at frame {frame}: stretches are skipped (heard as silence)"
            );
        }
        self.dropped += 1;
    }

    /// A recognition made since the last call.
    pub fn poll(&mut self) -> Option<Heard> {
        self.flush();
        if self.in_step { self.told.take() } else { self.rx.try_recv().ok().flatten() }
    }

    /// At the listener's end: the sides' ends still waiting reach the worker, which ends, and the
    /// history is given its time to note them ([`Historian::finish`]).
    pub fn finish(mut self) {
        while let Some(msg) = self.pending.pop_front() {
            if self.tx.send(msg).is_err() {
                break;
            }
        }
        // The answers' end stays open until the worker is gone: it may still tell one.
        let Live { tx, worker_done, historian, .. } = self;
        drop(tx);
        if worker_done.recv_timeout(Duration::from_secs(10)).is_err() {
            vlog!(super::TOOL, "recognition: its thread did not end in 10 s");
        }
        if let Some(h) = historian {
            h.finish();
        }
    }
}

/// The worker: the history and, during a side, the query.
struct Worker {
    db: PathBuf,
    rate: u32,
    channels: u16,
    history: VecDeque<(u64, Vec<f32>)>,
    query: Option<Query>,
    /// What the side playing was recognised as (its last, refined match).
    found: Option<Match>,
    /// Where the plays of the sides followed are noted (on a ring).
    notes: Option<Notes>,
    /// Whether the collection's older prints were said.
    hinted: bool,
}

/// One side's query: the side's drop, where the query began, the next frame it expects, and
/// when to try next.
struct Query {
    drop: u64,
    start: u64,
    next: u64,
    next_try: f64,
    recognizer: Recognizer,
    told: bool,
}

impl Worker {
    fn new(db: PathBuf, rate: u32, channels: u16, notes: Option<Notes>) -> Worker {
        Worker {
            db,
            rate,
            channels,
            history: VecDeque::new(),
            query: None,
            found: None,
            notes,
            hinted: false,
        }
    }

    fn run(mut self, rx: &Receiver<Msg>, tx: &Sender<Option<Heard>>, in_step: bool) {
        while let Ok(msg) = rx.recv() {
            let heard = match msg {
                Msg::Audio(first, samples) => {
                    let heard = self.hear(first, &samples);
                    self.keep(first, samples);
                    heard
                }
                Msg::Side(drop, from, deck) => self.begin(drop, from, deck),
                Msg::End(drop, end, note) => {
                    self.query = None;
                    let side = self.found.take().map(|m| (m.artist, m.album, m.side));
                    if let Some(notes) = self.notes.as_ref().filter(|_| note) {
                        // Timed by the ring's clock now, as it is queued: the worker is no more
                        // than its queue (about 10 s) behind the listener, which decided the end
                        // on frames of the timeline the drop is on.
                        notes.note(Played { drop, end: Some(end), recording: None, side, at: None });
                    }
                    None
                }
            };
            if (heard.is_some() || in_step) && tx.send(heard).is_err() {
                return;
            }
        }
    }

    fn keep(&mut self, first: u64, samples: Vec<f32>) {
        let span = HISTORY_S * u64::from(self.rate);
        self.history.push_back((first, samples));
        while self.history.front().is_some_and(|(f, _)| f + span < first) {
            self.history.pop_front();
        }
    }

    /// Starts a query for the side dropped at `drop`, from frame `frame` (the drop, or where a
    /// resumed side is heard from), searched first around the speed of the deck's last run-out,
    /// fed from the history.
    fn begin(&mut self, drop: u64, frame: u64, deck: Option<f64>) -> Option<Heard> {
        self.query = None;
        self.found = None;
        // A listener never makes the collection: vinyl-library (or auto's history) does.
        if !self.db.exists() {
            return None;
        }
        let (rate, channels) = (self.rate, self.channels);
        let recognizer = Library::open(&self.db).and_then(|lib| {
            // Said once a listener: a collection from before an upgrade of the prints.
            if let Some(hint) = lib.old_prints_hint()?.filter(|_| !self.hinted) {
                vlog!(super::TOOL, "recognition: {hint}");
                self.hinted = true;
            }
            Recognizer::new(lib, rate, channels)
        });
        let mut recognizer = match recognizer {
            Ok(r) if r.has_prints() => r,
            Ok(_) => return None,
            Err(e) => {
                vlog!(super::TOOL, "recognition: side at frame {frame}: {e:#}");
                return None;
            }
        };
        if let Some(deck) = deck {
            let narrowed = recognizer.expect_deck_speed(deck);
            if narrowed > 0 {
                vlog!(
                    super::TOOL,
                    "recognition: side at frame {drop}: {narrowed} learned sides searched first around the last run-out's speed ({deck:.4} of the nominal)"
                );
            }
        }
        self.query =
            Some(Query { drop, start: frame, next: frame, next_try: TRY_S, recognizer, told: false });
        // All of the history is heard, also after a recognition in it: the query goes on.
        let past: Vec<(u64, Vec<f32>)> = self.history.iter().cloned().collect();
        past.iter().fold(None, |told, (first, samples)| self.hear(*first, samples).or(told))
    }

    /// Feeds the query what of `samples` (from timeline frame `first`) it has not heard, and tries
    /// a match at each whole [`TRY_S`] of it: exactly there, whatever the stretches' lengths, so
    /// that what is recognised, and when, does not depend on how the input was read.
    fn hear(&mut self, first: u64, samples: &[f32]) -> Option<Heard> {
        let ch = usize::from(self.channels.max(1));
        let rate = f64::from(self.rate);
        let q = self.query.as_mut()?;
        let end = first + (samples.len() / ch) as u64;
        if end <= q.next {
            return None;
        }
        if first > q.next {
            // Stretches the listener could not hand over: silence in their place.
            let silence = vec![0.0; (first - q.next) as usize * ch];
            if let Err(e) = q.recognizer.feed(&silence, ch) {
                return self.give_up(&e);
            }
            q.next = first;
        }
        let mut rest = &samples[(q.next - first) as usize * ch..];
        let mut heard = None;
        while !rest.is_empty() {
            // A recognition that ended the query (told again at REFINE_S) is still told.
            let Some(q) = self.query.as_mut() else { break };
            let due = ((q.next_try - q.recognizer.heard_s()) * rate).ceil().max(1.0) as usize;
            let n = (rest.len() / ch).min(due);
            if let Err(e) = q.recognizer.feed(&rest[..n * ch], ch) {
                return self.give_up(&e);
            }
            q.next += n as u64;
            rest = &rest[n * ch..];
            if q.recognizer.heard_s() >= q.next_try {
                heard = self.attempt().or(heard);
            }
        }
        heard
    }

    /// A try at a whole [`TRY_S`]: the first recognition is told at once; the query goes on to
    /// REFINE_S, where the speed and place fitted over more music are told again, for the titles.
    fn attempt(&mut self) -> Option<Heard> {
        let q = self.query.as_mut()?;
        q.next_try = next_try_after(q.recognizer.heard_s());
        let heard = q.recognizer.heard_s();
        if q.told && heard < REFINE_S {
            return None;
        }
        let found = match q.recognizer.best() {
            Ok(found) => found,
            Err(e) => return self.give_up(&e),
        };
        if let Some(found) = found {
            let (track_starts, titles) = q.recognizer.tracks_of(&found);
            self.found = Some(found.clone());
            let h = Heard { drop: q.drop, start: q.start, found, track_starts, titles };
            if q.told {
                self.query = None;
            } else {
                q.told = true;
            }
            return Some(h);
        }
        if heard > GIVE_UP_S {
            if !q.told {
                vlog!(
                    super::TOOL,
                    "recognition: side at frame {}: no learned side in {GIVE_UP_S} s",
                    q.start
                );
            }
            self.query = None;
        }
        None
    }

    /// Ends the side's query on an error of its recogniser (a collection that cannot be read),
    /// said once: the listener goes on without titles for the side.
    fn give_up(&mut self, e: &anyhow::Error) -> Option<Heard> {
        if let Some(q) = self.query.take() {
            vlog!(super::TOOL, "recognition: side at frame {}: {e:#}", q.start);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(drop: u64, start: u64, offset_s: f64) -> Heard {
        let found = Match {
            artist: "A".into(),
            album: "B".into(),
            side: "A".into(),
            track: 1,
            position: "A1".into(),
            title: None,
            offset_s,
            speed_ratio: 1.0,
            confidence: 0.9,
            heard_s: 10.0,
            print: 1,
        };
        let (track_starts, titles) =
            (vec![0.0, 20.0, 40.0], vec!["One".into(), "Two".into(), "Three".into()]);
        Heard { drop, start, found, track_starts, titles }
    }

    #[test]
    fn a_full_queue_skips_stretches_but_never_a_sides_start_or_end_and_keeps_their_order() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("library.db");
        std::fs::write(&db, b"").unwrap();
        // A worker that stalls: its queue holds two messages and nothing takes them yet.
        let (tx, worker_rx) = sync_channel(2);
        let (_answers, rx) = std::sync::mpsc::channel();
        let (_done, worker_done) = sync_channel(1);
        let mut live = Live::over(tx, rx, worker_done, false, db, None);
        let stretch = vec![0.0f32; 9600];
        live.audio(0, &stretch);
        live.audio(4800, &stretch);
        live.audio(9600, &stretch);
        live.side(9600, None);
        live.audio(14_400, &stretch);
        live.end(9600, 19_200, true);
        live.side(19_200, Some(1.01));
        assert_eq!((live.dropped, live.pending.len()), (0, 3), "counted at the end: the stall is said there");
        let mut got = Vec::new();
        let take = |live: &mut Live| {
            let m = worker_rx.try_recv().unwrap();
            live.poll();
            match m {
                Msg::Audio(first, _) => format!("audio {first}"),
                Msg::Side(drop, from, _) => format!("side {drop} {from}"),
                Msg::End(drop, end, note) => format!("end {drop} {end} {note}"),
            }
        };
        for _ in 0..5 {
            got.push(take(&mut live));
        }
        assert_eq!(
            got,
            ["audio 0", "audio 4800", "side 9600 9600", "end 9600 19200 true", "side 19200 19200"]
        );
        assert!(worker_rx.try_recv().is_err() && live.pending.is_empty());
    }

    #[test]
    fn without_a_collection_nothing_is_handed_over_until_one_appears() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("library.db");
        let mut live = Live::start(db.clone(), 48_000, 2, true, None).unwrap();
        let stretch = vec![0.0f32; 9600];
        for i in 0..20 {
            live.audio(i * 4800, &stretch);
        }
        live.side(48_000, None);
        assert_eq!(live.handed, 0, "audio handed over without a collection");
        // The collection appears: it is found at the next look, and audio flows from then on.
        std::fs::write(&db, b"").unwrap();
        live.audio(96_000, &stretch);
        assert_eq!(live.handed, 0, "looked again before LOOK_EVERY");
        live.looked = None;
        live.audio(100_800, &stretch);
        live.audio(105_600, &stretch);
        assert_eq!(live.handed, 2);
    }

    #[test]
    fn a_query_begun_after_the_drop_places_the_tracks_on_the_sides_own_timeline() {
        // From the drop: the playing track at the drop, the next where the learned side has it.
        let h = heard(100_000, 100_000, 5.0);
        let frames: Vec<u64> = h.tracks(48_000).iter().map(|t| t.frame).collect();
        assert_eq!(frames, [100_000, 100_000 + 15 * 48_000, 100_000 + 35 * 48_000]);
        // From 30 s after the drop (a listener resumed without it), 25 s into the learned side:
        // track 2 began 5 s before the query, track 3 15 s after it; track 1 is not placed
        // before the drop.
        let h = heard(100_000, 100_000 + 30 * 48_000, 25.0);
        let tracks = h.tracks(48_000);
        let frames: Vec<(usize, u64)> = tracks.iter().map(|t| (t.track, t.frame)).collect();
        assert_eq!(frames, [(2, 100_000 + 25 * 48_000), (3, 100_000 + 45 * 48_000)]);
        // Titles follow the query's own start (2 s of grace before a boundary).
        assert_eq!(h.title_at(100_000 + 44 * 48_000, 48_000).as_deref(), Some("Three"));
        assert_eq!(h.title_at(100_000 + 40 * 48_000, 48_000).as_deref(), Some("Two"));
        // The playing track clamps at the drop when the learned side's start maps before it.
        let h = heard(100_000, 100_000 + 2 * 48_000, 10.0);
        assert_eq!(h.tracks(48_000)[0].frame, 100_000);
    }
}
