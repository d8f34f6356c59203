//! The listening history's writer: each side a tool saw is noted as played in the collection
//! ([`crate::library::db::Library::note_play`]), recognised or not, recorded or not, by a thread
//! of its own, so that neither `vinyl-listen` (its analysis and recogniser) nor `vinyl-rec auto`
//! (its loop and the next side's recording) ever waits for SQLite.
//!
//! Owns that thread, its queue (unbounded: one note a side), the retries and when a play was:
//! its needle drop by the ring's clock ([`crate::time::frame_time`] of frame 0's time and the
//! drop's frame), read as the note is queued, in the tool's thread ([`Notes::note`]), not when
//! the thread writes it. A note may wait long for a locked database, and a capture restarted on
//! a new ring meanwhile (another timeline: frames numbered from 0 again, frame 0 at another
//! time) would give the old frame the new clock's time, and the play, keyed by its drop's frame
//! and time, would not join its own. Reading the clock never waits (a header read, no lock, no
//! SQLite), so the tools' loops may do it. Does not own what a play is (the database does: a
//! note of a drop already noted joins it, so a note written twice, by auto and the listener, or
//! by a restarted tool, is one play) nor when a side ends (the listener's detector, auto's loop).
//! What the two tools differ on is their [`Rules`]: the listener never creates the collection
//! and notes only a play its ring can time; auto creates it and notes a play without its time
//! rather than lose the link to its recording; both decided as the note is queued. A play is
//! queued at its side's end (auto's: once its file is finalised, minutes later): auto reads the
//! drop's time at the side's start ([`Played::at`]), so a capture restarted on a new ring before
//! the end cannot give it the new timeline's time. The listener reads it at the end (its
//! recogniser's, up to 10 s behind): a ring replaced in between is caught while the new timeline
//! is short of the drop's frame ([`drop_time`]: untimed then).
//!
//! How it fails: while another writer holds the database past its busy timeout, a note waits and
//! is tried again every `RETRY`, said once, in order, so a locked database loses no play. Any
//! other error (a corrupt or foreign file) is said once for that play, which is then dropped. At
//! the tool's end the queue is given [`DRAIN`] to empty; what is left is said, play by play. A
//! tool killed with a note still queued loses it (the listener's successor notes its last side
//! again from the events file; auto's successor takes over a side still recording).

use crate::library::db::{Library, PlayNote, is_busy};
use crate::vlog;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long a note that found the database locked waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// How long the tool's end waits for the notes still queued.
pub const DRAIN: Duration = Duration::from_secs(15);
/// The shortest wait of a try made at the drain's very end.
const LAST_TRY: Duration = Duration::from_millis(100);
/// How much longer the tool's end waits for the thread to say, play by play, what it could not
/// note: a try at the drain's end waits no longer than the drain had left (but `LAST_TRY`), and
/// opening the database may still wait its busy timeout (10 s) for a migration.
pub const SAY_LOST: Duration = Duration::from_secs(12);

/// A side's play as the listening history keeps it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Played {
    /// The needle drop (a frame on the ring's timeline).
    pub drop: u64,
    /// The side's end (exclusive); `None` when not known (auto stopped while it played).
    pub end: Option<u64>,
    /// The file kept of it (auto); `None` when the side was not recorded or not kept.
    pub recording: Option<PathBuf>,
    /// The learned side it was recognised as: artist, album, side.
    pub side: Option<(String, String, String)>,
    /// When its needle dropped, as the tool read it from the ring's clock at the side's start
    /// ([`drop_time`]); `None`: read as the note is queued. A tool that notes a side long after
    /// its start (auto, at its file's end) reads it early: a capture restarted on a new ring in
    /// between would give the old frame the new timeline's time once that timeline is past it.
    pub at: Option<String>,
}

/// What the tools that note plays differ on.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// The tool named in the log lines (`vinyl-listen`, `vinyl-rec`).
    pub tool: &'static str,
    /// A missing collection is created (auto), or nothing is noted in it (the listener).
    pub create: bool,
    /// A play the ring cannot time (the ring gone, without a clock, or on another timeline than
    /// the drop's) is noted without its time (auto: its recording stays linked), or not at all
    /// (the listener).
    pub untimed: bool,
}

/// A play as queued: the play, and when its needle dropped by the ring's clock as it was then
/// (`None`: the ring could not time it, and the rules take it untimed).
struct Note {
    play: Played,
    started_at: Option<String>,
}

/// The sending side of the history: queues plays, each timed as it is queued. Cloned for each
/// thread that notes plays (the listener's recogniser).
#[derive(Clone)]
pub struct Notes {
    rules: Rules,
    db: PathBuf,
    ring: PathBuf,
    tx: Sender<Note>,
}

impl Notes {
    /// Queues the note of `p`, timed by the tool's read at the side's start ([`Played::at`]) or
    /// now by the ring's clock ([`drop_time`]: a read of the ring's header, which never waits),
    /// never later by the thread: a note that waits for a
    /// locked database keeps the time of its own timeline, even when the capture restarts on a
    /// new one meanwhile. A play the ring cannot time is queued untimed or dropped, as the
    /// rules say; never waits.
    pub fn note(&self, p: Played) {
        let started_at = p.at.clone().or_else(|| drop_time(&self.ring, p.drop));
        if started_at.is_none() && !self.rules.untimed {
            // Said only where there is a collection to note it in (a stat, no SQLite).
            if self.rules.create || self.db.exists() {
                vlog!(
                    self.rules.tool,
                    "side at frame {}: not in the listening history: {} gives no time for it (gone, no clock, or another timeline)",
                    p.drop,
                    self.ring.display()
                );
            }
            return;
        }
        let _ = self.tx.send(Note { play: p, started_at });
    }
}

/// The tool's end of the thread that notes plays.
pub struct Historian {
    tool: &'static str,
    notes: Notes,
    done: Receiver<()>,
    /// When the tool's end began: a note waiting for a locked database gives up [`DRAIN`] after.
    ending: Arc<OnceLock<Instant>>,
}

impl Historian {
    /// Starts the thread that notes the plays of sides on `ring` (whose clock times each needle
    /// drop, as the play is queued) in the collection `db`, as `rules` say.
    pub fn start(rules: Rules, db: PathBuf, ring: PathBuf) -> anyhow::Result<Historian> {
        let (tx, rx) = channel();
        let (done_tx, done) = channel();
        let ending = Arc::new(OnceLock::new());
        let writer = Writer { rules, db: db.clone(), waiting: false, ending: ending.clone() };
        std::thread::Builder::new()
            .name("history".into())
            .spawn(move || {
                writer.run(&rx);
                let _ = done_tx.send(());
            })
            .map_err(|e| anyhow::anyhow!("listening history: start its thread: {e}"))?;
        Ok(Historian { tool: rules.tool, notes: Notes { rules, db, ring, tx }, done, ending })
    }

    /// Queues the note of a play, timed now ([`Notes::note`]); never waits.
    pub fn note(&self, p: Played) {
        self.notes.note(p);
    }

    /// A sender for another thread (the listener's recogniser notes the sides it followed).
    pub fn sender(&self) -> Notes {
        self.notes.clone()
    }

    /// Waits up to [`DRAIN`] from now for the queued notes, once every sender is gone, and then
    /// for the thread to name each play it could not note.
    pub fn finish(self) {
        let _ = self.ending.set(Instant::now());
        drop(self.notes);
        if let Err(RecvTimeoutError::Timeout) = self.done.recv_timeout(DRAIN + SAY_LOST) {
            vlog!(
                self.tool,
                "listening history: notes still waiting for the database after {DRAIN:?} are lost"
            );
        }
    }
}

/// The thread's side.
struct Writer {
    rules: Rules,
    db: PathBuf,
    /// Whether the wait for a locked database was said (once per wait).
    waiting: bool,
    ending: Arc<OnceLock<Instant>>,
}

impl Writer {
    fn run(mut self, rx: &Receiver<Note>) {
        let tool = self.rules.tool;
        while let Ok(n) = rx.recv() {
            let drop = n.play.drop;
            // Past the end's deadline, each play left is named, not tried (a try may wait 10 s).
            if self.past_deadline() {
                vlog!(tool, "side at frame {drop}: not in the listening history: the database stayed locked");
                continue;
            }
            loop {
                match self.write(&n) {
                    Ok(()) => break,
                    Err(e) if is_busy(&e) => {
                        if !self.waiting {
                            vlog!(
                                tool,
                                "side at frame {drop}: the listening history waits for {} (another writer holds it): {e:#}",
                                self.db.display()
                            );
                            self.waiting = true;
                        }
                        // Once the tool ends, give up at the deadline.
                        if self.past_deadline() {
                            vlog!(tool, "side at frame {drop}: not in the listening history: {e:#}");
                            break;
                        }
                        std::thread::sleep(RETRY);
                    }
                    Err(e) => {
                        vlog!(tool, "side at frame {drop}: not in the listening history: {e:#}");
                        break;
                    }
                }
            }
        }
    }

    /// Whether [`DRAIN`] has run out since the tool's end began. Counted from the end itself, not
    /// from the first try that failed after it: a try under way then may still wait out the busy
    /// timeout (10 s), and a deadline counted from there would let the next try begin too late
    /// for [`SAY_LOST`], so the tool would end before the thread named its lost plays.
    fn past_deadline(&self) -> bool {
        self.ending.get().is_some_and(|&at| at.elapsed() >= DRAIN)
    }

    /// Notes `n` with the time it was queued with. A collection that does not exist, when the
    /// rules forbid creating it, notes nothing.
    fn write(&mut self, n: &Note) -> anyhow::Result<()> {
        if !self.rules.create && !self.db.exists() {
            return Ok(());
        }
        let p = &n.play;
        let note = PlayNote {
            side_start: p.drop,
            side_end: p.end,
            started_at: n.started_at.as_deref(),
            recording: p.recording.as_deref(),
            side: p.side.as_ref().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
            recognized: p.side.is_some(),
        };
        let mut lib = Library::open(&self.db)?;
        // Once the tool ends, a try waits no longer than the drain has left: one begun just
        // before it ran out would otherwise wait the whole busy timeout (10 s) into SAY_LOST.
        if let Some(at) = self.ending.get() {
            lib.wait_at_most(DRAIN.saturating_sub(at.elapsed()).max(LAST_TRY))?;
        }
        lib.note_play(&note)?;
        if self.waiting {
            vlog!(self.rules.tool, "side at frame {}: noted in the listening history after the wait", p.drop);
            self.waiting = false;
        }
        Ok(())
    }
}

/// When frame `drop` of the ring at `ring` was captured, by its clock (frame 0's time and its
/// rate); `None` when the ring is gone, has no clock yet, or has not reached `drop`: a play is
/// noted after its drop was heard, so such a ring is another timeline (a capture restarted on a
/// new ring since), whose clock would give the frame another time. It never waits, so the
/// tools' own threads call it: a stat, an open of the ring's file, a read-only mapping and a
/// few atomic loads from its header; no lock (not even the writer's), no SQLite. The stat keeps
/// a FIFO put at the path from blocking the open ([`crate::ring::RingReader::open`] refuses
/// anything but a regular file only once it is open).
pub fn drop_time(ring: &std::path::Path, drop: u64) -> Option<String> {
    if !std::fs::metadata(ring).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let r = crate::ring::RingReader::open(ring, false).ok()?;
    let now = r.snapshot().ok().filter(|s| s.frame0_unix_ns > 0 && s.head > drop)?;
    Some(crate::time::frame_time(now.frame0_unix_ns, drop, r.config().spec.rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTO: Rules = Rules { tool: "test", create: true, untimed: true };
    const LISTENER: Rules = Rules { tool: "test", create: false, untimed: false };

    /// Notes `plays` through a historian with `rules` into `db`, on a ring that does not exist,
    /// and waits for its end.
    fn note_all(rules: Rules, db: &std::path::Path, plays: &[Played]) {
        note_all_on(rules, db, &db.with_extension("no-ring"), plays);
    }

    /// [`note_all`] on the ring at `ring`.
    fn note_all_on(rules: Rules, db: &std::path::Path, ring: &std::path::Path, plays: &[Played]) {
        let h = Historian::start(rules, db.to_path_buf(), ring.to_path_buf()).unwrap();
        for p in plays {
            h.note(p.clone());
        }
        h.finish();
    }

    /// A new ring put in place at `path` (renamed over what was there, as a new capture's ring
    /// replaces an old one: a reader never finds the path empty), another timeline, with 1 s
    /// written (its head: frame 48,000) and frame 0's time set to `frame0_unix_ns` in its
    /// header, where [`crate::ring::RingReader::snapshot`] reads it.
    fn new_timeline(path: &std::path::Path, frame0_unix_ns: u64) -> crate::ring::RingWriter {
        use std::os::unix::fs::FileExt as _;
        let spec = crate::pcm::PcmSpec::default();
        let cfg = crate::ring::Config::new(spec, 60 * u64::from(spec.rate));
        let new = path.with_extension("new");
        let (mut w, _) = crate::ring::RingWriter::open(&new, cfg).unwrap();
        w.write(&vec![0; spec.rate as usize * spec.frame_bytes()]).unwrap();
        let at = std::mem::offset_of!(crate::ring::Header, frame0_unix_ns) as u64;
        let file = std::fs::OpenOptions::new().write(true).open(&new).unwrap();
        file.write_all_at(&frame0_unix_ns.to_ne_bytes(), at).unwrap();
        std::fs::rename(&new, path).unwrap();
        w
    }

    #[test]
    fn a_note_waiting_for_a_locked_database_keeps_the_time_its_ring_gave_when_it_was_queued() {
        let dir = tempfile::tempdir().unwrap();
        let (db, ring) = (dir.path().join("library.db"), dir.path().join("ring"));
        Library::open(&db).unwrap();
        let hour = 3_600_000_000_000;
        let first = new_timeline(&ring, 1_796_000_000 * 1_000_000_000);
        let before = drop_time(&ring, 100).unwrap();
        // Another writer holds the collection: the first note waits in the thread (auto's
        // rules: timed or not, it is written), so the second cannot be written before the lock
        // goes, whatever the machine's load.
        let holder = rusqlite::Connection::open(&db).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let h = Historian::start(AUTO, db.clone(), ring.clone()).unwrap();
        h.note(Played { drop: 100, end: None, ..Default::default() });
        h.note(Played { drop: 100, end: Some(900), ..Default::default() });
        // Meanwhile the capture restarts on a new timeline: frame 100 is another time there.
        let _second = new_timeline(&ring, 1_796_000_000 * 1_000_000_000 + hour);
        assert_ne!(drop_time(&ring, 100).as_deref(), Some(before.as_str()), "the clock did not change");
        holder.execute_batch("COMMIT").unwrap();
        h.finish();
        drop(first);
        let plays = Library::open(&db).unwrap().plays(None).unwrap();
        assert_eq!(plays.len(), 1, "the drop's two notes are not one play: {plays:?}");
        assert_eq!(plays[0].started_at.as_deref(), Some(before.as_str()), "{plays:?}");
        assert_eq!(plays[0].side_end, Some(900), "{plays:?}");
    }

    #[test]
    fn a_play_timed_at_its_sides_start_keeps_that_time_though_a_new_ring_passed_its_drop() {
        // Auto reads the drop's time as the side begins and notes the play at its end; the
        // capture restarted on a new ring in between, which is past the drop's frame by then.
        let dir = tempfile::tempdir().unwrap();
        let (db, ring) = (dir.path().join("library.db"), dir.path().join("ring"));
        Library::open(&db).unwrap();
        let first = new_timeline(&ring, 1_796_000_000 * 1_000_000_000);
        let at = drop_time(&ring, 100);
        let _second = new_timeline(&ring, 1_796_000_000 * 1_000_000_000 + 3_600_000_000_000);
        let late = drop_time(&ring, 100);
        assert!(at.is_some() && late.is_some() && at != late, "{at:?} {late:?}");
        drop(first);
        let timed = Played { drop: 100, end: Some(900), at: at.clone(), ..Default::default() };
        let untimed = Played { drop: 200, end: Some(900), ..Default::default() };
        note_all_on(AUTO, &db, &ring, &[timed, untimed]);
        let plays = Library::open(&db).unwrap().plays(None).unwrap();
        let time_of =
            |drop| plays.iter().find(|p| p.side_start == Some(drop)).and_then(|p| p.started_at.clone());
        assert_eq!(time_of(100), at, "{plays:?}");
        // Without the early read the new timeline's clock times the old frame (the listener's
        // notes, read at the side's end, a few seconds after it).
        assert_eq!(time_of(200), drop_time(&ring, 200), "{plays:?}");
    }

    /// How long a writer whose tool's end began `ago` ago took to give up its one note, queued
    /// behind another writer's lock (nothing is noted).
    fn given_up_after(ago: Duration) -> Duration {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("library.db");
        Library::open(&db).unwrap();
        let holder = rusqlite::Connection::open(&db).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let ended = Instant::now().checked_sub(ago).unwrap();
        let writer =
            Writer { rules: AUTO, db: db.clone(), waiting: false, ending: Arc::new(OnceLock::from(ended)) };
        let (tx, rx) = channel();
        tx.send(Note { play: Played { drop: 100, end: Some(900), ..Default::default() }, started_at: None })
            .unwrap();
        drop(tx);
        let t = Instant::now();
        writer.run(&rx);
        let took = t.elapsed();
        holder.execute_batch("COMMIT").unwrap();
        assert!(Library::open(&db).unwrap().plays(None).unwrap().is_empty());
        took
    }

    #[test]
    fn a_try_near_the_drains_end_waits_only_what_the_drain_has_left() {
        // One second of the drain left: the note is tried for about that second and said lost,
        // not tried for the busy timeout's 10 s, which would leave the thread too little of
        // SAY_LOST to name its lost plays.
        let took = given_up_after(DRAIN - Duration::from_secs(1));
        assert!(took < Duration::from_secs(5), "one try waited {took:?}");
    }

    #[test]
    fn the_ends_drain_runs_from_the_end_not_from_the_first_try_that_failed_after_it() {
        // The tool's end began DRAIN ago: the note is said lost at once, untried. Counted from
        // the first try that failed after the end (a try waits the 10 s busy timeout), the drain
        // would run that much later, and the thread would still be trying past DRAIN + SAY_LOST,
        // when the tool has stopped waiting for it to name the play.
        let took = given_up_after(DRAIN);
        assert!(took < Duration::from_secs(10), "tried again for {took:?} past the drain");
    }

    #[test]
    fn a_drop_its_rings_timeline_has_not_reached_is_not_timed_by_that_ring() {
        // A side noted after the capture restarted on a new ring that is not yet at its drop.
        let dir = tempfile::tempdir().unwrap();
        let (db, ring) = (dir.path().join("library.db"), dir.path().join("ring"));
        Library::open(&db).unwrap();
        let _new = new_timeline(&ring, 1_796_000_000 * 1_000_000_000);
        let late = Played { drop: 60 * 48_000, end: Some(61 * 48_000), ..Default::default() };
        let h = Historian::start(LISTENER, db.clone(), ring.clone()).unwrap();
        h.note(late.clone());
        h.finish();
        assert!(Library::open(&db).unwrap().plays(None).unwrap().is_empty(), "the listener noted it");
        let h = Historian::start(AUTO, db.clone(), ring).unwrap();
        h.note(late);
        h.finish();
        let plays = Library::open(&db).unwrap().plays(None).unwrap();
        assert_eq!(plays.len(), 1, "{plays:?}");
        assert_eq!((plays[0].side_start, plays[0].started_at.as_deref()), (Some(60 * 48_000), None));
    }

    #[test]
    fn auto_creates_the_collection_and_notes_a_play_without_a_time_with_its_recording() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("library.db");
        let kept = dir.path().join("side.flac");
        let first = Played { drop: 100, end: None, ..Default::default() };
        let second =
            Played { drop: 100, end: Some(900), recording: Some(kept.clone()), side: None, at: None };
        note_all(AUTO, &db, &[first, second]);
        let plays = Library::open(&db).unwrap().plays(None).unwrap();
        assert_eq!(plays.len(), 1, "{plays:?}");
        assert_eq!((plays[0].side_start, plays[0].side_end), (Some(100), Some(900)));
        assert_eq!(plays[0].recording.as_deref(), kept.to_str());
        assert_eq!(plays[0].started_at, None);
    }

    #[test]
    fn the_listener_neither_creates_the_collection_nor_notes_a_play_its_ring_cannot_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("library.db");
        let p = Played { drop: 100, end: Some(900), ..Default::default() };
        note_all(LISTENER, &db, std::slice::from_ref(&p));
        assert!(!db.exists(), "the listener made the collection");
        Library::open(&db).unwrap();
        note_all(LISTENER, &db, &[p]);
        assert!(Library::open(&db).unwrap().plays(None).unwrap().is_empty());
    }
}
