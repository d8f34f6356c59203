//! The listening history as `vinyl-rec auto` writes it: every side the listener announced and
//! auto saw is a play in the collection (`vinyl-library plays`), from its needle drop to its end,
//! recognised or not, recorded or not.
//!
//! Owns what a play says ([`note`]): the needle drop, the end when known, when the needle
//! dropped (the ring's frame 0 and the drop's frame: [`crate::time::frame_time`], as the listener
//! times the plays it notes itself), the file when one was kept, and the album side when the listener recognised it; and
//! the sides auto saw but did not record ([`Unrecorded`]: a manual recording ran, the space was
//! short, the recorder did not start), noted at their `side_end`, at the next needle drop or
//! when auto stops. The parts of a side and a side noted twice are one play: the database
//! extends the play of a needle drop ([`crate::library::db::Library::note_play`]). A side
//! playing when auto starts, not taken over, is an [`Unrecorded`] too (the loop finds it in the
//! events). Sides that began and ended while no auto ran are noted by the listener
//! (`vinyl-listen --library` on a ring notes each side at its end), which the database merges
//! with auto's note of the same needle drop. How it fails: it does not; a database that cannot
//! be written is one log line and costs the side nothing.

use super::super::TOOL;
use crate::library::db::PlayNote;
use crate::library::name::Recognised;
use crate::vlog;
use std::path::Path;

/// Notes the play of the listener's side `side`, dropped at `side_frame` on the ring at `ring`,
/// ended before `end` (when known), with the file kept of it (`recording`) and the side it was
/// recognised as.
pub fn note(
    ring: &Path,
    side: u64,
    side_frame: u64,
    end: Option<u64>,
    recording: Option<&Path>,
    who: Option<&Recognised>,
) {
    let started = super::super::plan::read_ring(ring).ok().and_then(|r| r.time_of(side_frame));
    let n = PlayNote {
        side_start: side_frame,
        side_end: end,
        started_at: started.as_deref(),
        recording,
        side: who.map(|w| (w.artist.as_str(), w.album.as_str(), w.side.as_str())),
        recognized: who.is_some(),
    };
    if let Err(e) = crate::library::note_play(&n) {
        vlog!(TOOL, "side {side}: not in the listening history: {e:#}");
    }
}

/// A side the listener announced that auto did not record.
#[derive(Debug)]
pub struct Unrecorded {
    /// The listener's side number.
    pub side: u64,
    /// The needle drop.
    pub side_frame: u64,
    /// What the listener recognised it as (the first recognition is kept).
    pub recognised: Option<Recognised>,
}

impl Unrecorded {
    /// Notes its play, ended before `end` (`None`: auto stopped while it played), and says so.
    pub fn note(self, ring: &Path, end: Option<u64>) {
        note(ring, self.side, self.side_frame, end, None, self.recognised.as_ref());
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
