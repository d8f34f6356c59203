//! The listener's notes in the collection's listening history: each side that ended on a ring is
//! noted as played ([`crate::library::db::Library::note_play`]), recognised or not, by a thread of
//! its own, so that neither the analysis nor the recogniser ever waits for SQLite.
//!
//! Owns that thread, its queue (unbounded: one note a side) and the retries. Does not own what a
//! play is (the database does: a note of a drop already noted joins it, so a note written twice,
//! by auto or by a restarted listener, is one play) nor when a side ends (the detector).
//!
//! How it fails: while another writer holds the database past its busy timeout, a note waits and
//! is tried again every [`RETRY`], said once, in order, so a locked database loses no play. Any
//! other error (a corrupt or foreign file) is said once for that play, which is then dropped. At
//! the listener's end the queue is given [`DRAIN`] to empty; what is left is said, play by play.
//! A listener killed with a note still queued loses it, but its successor notes its last side
//! again from the events file ([`Historian::note`] from `carry_on`).

use crate::library::db::{Library, PlayNote};
use crate::vlog;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

/// How long a note that found the database locked waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// How long the listener's end waits for the notes still queued.
const DRAIN: Duration = Duration::from_secs(15);
/// How much longer the listener's end waits for the thread to say, play by play, what it could
/// not note: a try that began before [`DRAIN`] ran out may wait the database's busy timeout (10 s).
const SAY_LOST: Duration = Duration::from_secs(12);

/// A side's play as the listening history keeps it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Played {
    /// The needle drop.
    pub drop: u64,
    /// The side's end (exclusive).
    pub end: u64,
    /// The learned side it was recognised as: artist, album, side.
    pub side: Option<(String, String, String)>,
}

/// The listener's end of the thread that notes plays.
pub struct Historian {
    tx: Sender<Played>,
    done: Receiver<()>,
    /// Set when the listener ends: a note waiting for a locked database gives up at [`DRAIN`].
    ending: Arc<AtomicBool>,
}

impl Historian {
    /// Starts the thread that notes the plays of sides on `ring` (whose clock times each needle
    /// drop, at `rate` Hz) in the collection `db`, which it never creates.
    pub fn start(db: PathBuf, ring: PathBuf, rate: u32) -> anyhow::Result<Historian> {
        let (tx, rx) = channel();
        let (done_tx, done) = channel();
        let ending = Arc::new(AtomicBool::new(false));
        let writer = Writer { db, ring, rate, waiting: false, ending: ending.clone() };
        std::thread::Builder::new()
            .name("history".into())
            .spawn(move || {
                writer.run(&rx);
                let _ = done_tx.send(());
            })
            .map_err(|e| anyhow::anyhow!("listening history: start its thread: {e}"))?;
        Ok(Historian { tx, done, ending })
    }

    /// Queues the note of a play; never waits.
    pub fn note(&self, p: Played) {
        let _ = self.tx.send(p);
    }

    /// A sender for another thread (the recogniser's worker notes the sides it followed).
    pub fn sender(&self) -> Sender<Played> {
        self.tx.clone()
    }

    /// Waits up to [`DRAIN`] for the queued notes, once every sender is gone, and then for the
    /// thread to name each play it could not note.
    pub fn finish(self) {
        self.ending.store(true, Ordering::Relaxed);
        drop(self.tx);
        if let Err(RecvTimeoutError::Timeout) = self.done.recv_timeout(DRAIN + SAY_LOST) {
            vlog!(
                super::TOOL,
                "listening history: notes still waiting for the database after {DRAIN:?} are lost"
            );
        }
    }
}

/// The thread's side.
struct Writer {
    db: PathBuf,
    ring: PathBuf,
    rate: u32,
    /// Whether the wait for a locked database was said (once per wait).
    waiting: bool,
    ending: Arc<AtomicBool>,
}

impl Writer {
    fn run(mut self, rx: &Receiver<Played>) {
        let mut deadline: Option<Instant> = None;
        while let Ok(p) = rx.recv() {
            // Past the end's deadline, each play left is named, not tried (a try may wait 10 s).
            if deadline.is_some_and(|at| Instant::now() >= at) {
                vlog!(
                    super::TOOL,
                    "side at frame {}: not in the listening history: the database stayed locked",
                    p.drop
                );
                continue;
            }
            loop {
                match self.write(&p) {
                    Ok(()) => break,
                    Err(e) if is_busy(&e) => {
                        if !self.waiting {
                            vlog!(
                                super::TOOL,
                                "side at frame {}: the listening history waits for {} (another writer holds it): {e:#}",
                                p.drop,
                                self.db.display()
                            );
                            self.waiting = true;
                        }
                        // Once the listener ends, give up at the deadline.
                        if self.ending.load(Ordering::Relaxed) {
                            let at = *deadline.get_or_insert_with(|| Instant::now() + DRAIN);
                            if Instant::now() >= at {
                                vlog!(
                                    super::TOOL,
                                    "side at frame {}: not in the listening history: {e:#}",
                                    p.drop
                                );
                                break;
                            }
                        }
                        std::thread::sleep(RETRY);
                    }
                    Err(e) => {
                        vlog!(super::TOOL, "side at frame {}: not in the listening history: {e:#}", p.drop);
                        break;
                    }
                }
            }
        }
    }

    /// Notes `p`, timed by the ring's clock; a ring without one, or a collection that does not
    /// exist (a listener never makes it), notes nothing.
    fn write(&mut self, p: &Played) -> anyhow::Result<()> {
        if !self.db.exists() {
            return Ok(());
        }
        let snap = crate::ring::RingReader::open(&self.ring, false).ok().and_then(|r| r.snapshot().ok());
        let Some(frame0) = snap.map(|s| s.frame0_unix_ns).filter(|&ns| ns > 0) else {
            vlog!(
                super::TOOL,
                "side at frame {}: not in the listening history: {} gives no time for it (gone, or no clock)",
                p.drop,
                self.ring.display()
            );
            return Ok(());
        };
        let started = crate::time::frame_time(frame0, p.drop, self.rate);
        let n = PlayNote {
            side_start: p.drop,
            side_end: Some(p.end),
            started_at: Some(&started),
            recording: None,
            side: p.side.as_ref().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
            recognized: p.side.is_some(),
        };
        Library::open(&self.db).and_then(|mut lib| lib.note_play(&n))?;
        if self.waiting {
            vlog!(super::TOOL, "side at frame {}: noted in the listening history after the wait", p.drop);
            self.waiting = false;
        }
        Ok(())
    }
}

/// Whether `e` is SQLite saying another connection holds the database.
fn is_busy(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<rusqlite::Error>().is_some_and(|e| {
            matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            )
        })
    })
}
