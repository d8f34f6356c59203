//! The listening history as `vinyl-rec auto` notes it: every side the listener announced and
//! auto saw is a play in the collection (`vinyl-library plays`), from its needle drop to its end,
//! recognised or not, recorded or not.
//!
//! Owns what a play says ([`played`]): the needle drop, the end when known, the file when one was
//! kept, the album side when the listener recognised it, and when the needle dropped, by the
//! ring's clock read as the side began ([`Played::at`]: the side is noted at its end, minutes
//! later, when a capture restarted on a new ring would time its frame by another timeline); and
//! the sides auto saw but did not record ([`Unrecorded`]: a manual recording ran, the space was
//! short, the recorder did not start), noted at their `side_end`, at the next needle drop or when
//! auto stops. The parts of a side and a side noted twice are one play: the database extends the
//! play of a needle drop ([`crate::library::db::Library::note_play`]). A side playing when auto
//! starts, not taken over, is an [`Unrecorded`] too (the loop finds it in the events). Sides that began
//! and ended while no auto ran are noted by the listener (`vinyl-listen --library` on a ring
//! notes each side at its end), which the database merges with auto's note of the same needle
//! drop. Does not write: the notes are queued to auto's [`Historian`] (started with auto, drained
//! at its end), whose thread waits for a database another writer holds, so the loop never waits
//! for SQLite. How it fails: it does not; a play the history cannot note is said by its thread
//! and costs the side nothing.

use super::super::TOOL;
use crate::library::history::{Historian, Played, drop_time};
use crate::library::name::Recognised;
use crate::vlog;
use std::path::Path;

/// The play of a side dropped at `side_frame` (at `at` by the ring's clock, read when the side
/// began), ended before `end` (when known), with the file kept of it (`recording`) and the side
/// it was recognised as.
pub fn played(
    (side_frame, at): (u64, Option<&str>),
    end: Option<u64>,
    recording: Option<&Path>,
    who: Option<&Recognised>,
) -> Played {
    Played {
        drop: side_frame,
        end,
        recording: recording.map(Path::to_path_buf),
        side: who.map(|w| (w.artist.clone(), w.album.clone(), w.side.clone())),
        at: at.map(str::to_owned),
    }
}

/// A side the listener announced that auto did not record.
#[derive(Debug)]
pub struct Unrecorded {
    /// The listener's side number.
    pub side: u64,
    /// The needle drop.
    pub side_frame: u64,
    /// When it was, by the ring's clock when auto saw the side start ([`Played::at`]).
    pub at: Option<String>,
    /// What the listener recognised it as (the first recognition is kept).
    pub recognised: Option<Recognised>,
}

impl Unrecorded {
    /// The side `side` dropped at `side_frame`, timed now by `ring`'s clock.
    pub fn new(side: u64, side_frame: u64, ring: &Path) -> Unrecorded {
        Unrecorded { side, side_frame, at: drop_time(ring, side_frame), recognised: None }
    }

    /// Queues the note of its play in `history`, ended before `end` (`None`: auto stopped while
    /// it played), and says so.
    pub fn note(self, history: &Historian, end: Option<u64>) {
        history.note(played((self.side_frame, self.at.as_deref()), end, None, self.recognised.as_ref()));
        let what =
            self.recognised.as_ref().map(|w| format!(" as {} – {}, side {}", w.artist, w.album, w.side));
        vlog!(
            TOOL,
            "side {}: not recorded: noted in the listening history{} (needle drop at frame {})",
            self.side,
            what.unwrap_or_default(),
            self.side_frame
        );
    }
}
