//! A side that ended by a lift, kept for the next needle drop: a quiet pressing's gap reads as a
//! lift, and the side dropped just after it is the same side.
//!
//! Owns [`Lifted`] (which sides join it, and what the log says of a join) and its copy in the run
//! folder, `RUN/auto.lifted` ([`Lifted::save`], [`Lifted::load`]): an auto killed between the
//! lift and the next needle drop and restarted joins that side as the killed one would have, a
//! removed piece with its markers, a kept one continued from its last frame. It does not record
//! or finalise ([`super::side`] does). How it fails: a copy that cannot be written is logged
//! once, and the join then holds only while this auto runs; a copy that cannot be read, of
//! another timeline, or naming a file outside the recordings folder is ignored.

use super::super::TOOL;
use super::side::Part;
use crate::pcm::format_frames;
use crate::vlog;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The copy's name in the run folder.
const FILE: &str = "auto.lifted";

/// The copy: the lifted side, on the ring's timeline it was heard on.
#[derive(Serialize, Deserialize)]
struct Saved {
    timeline: u64,
    lifted: Lifted,
}

/// A side that ended by a lift. A quiet groove under the converter's own noise cannot be told
/// from a lifted stylus, so a gap of such a side reads as a lift and its next track as a new side.
/// A side dropped within [`REJOIN_S`] of the lift is the same side: when this one was removed as
/// too short, the new file records it again from the ring, in one file with it (a cue lifted and
/// dropped again costs the file those seconds at its start instead); when it was kept, the new
/// file continues it from its last frame (`VINYL_PART`, `VINYL_CONTINUES`), so no frame between
/// the two is lost to a late needle drop, and it is never removed as short.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Lifted {
    /// The listener's side number.
    pub side: u64,
    /// Its needle drop (the first of the sides it already joined).
    pub since: u64,
    /// The lift (the listener's `side_end` frame; a kept file goes on for the end margin).
    pub end: u64,
    /// The ring's rate, Hz.
    pub rate: u32,
    /// When the needle dropped, by the ring's clock ([`super::side::Part::at`]).
    pub at: Option<String>,
    /// Its `track_start` frames, which become the joined file's first markers.
    pub tracks: Vec<u64>,
    /// The titles those `track_start` events carried.
    pub titles: Vec<Option<String>>,
    /// When its file was kept: the part that continues it.
    pub kept: Option<Part>,
}

/// The longest a lift may precede the next needle drop for the two to be one side: the
/// longest gap between the tracks of a side, with room.
pub const REJOIN_S: u64 = 10;

impl Lifted {
    /// Whether a side dropped at `frame` joins this one: after its needle drop, and at most
    /// [`REJOIN_S`] after its lift (the listener can place a drop before the lift it placed).
    pub fn joins(&self, frame: u64) -> bool {
        frame > self.since && frame <= self.end + REJOIN_S * u64::from(self.rate)
    }

    /// What the log says of a side dropped at `frame` that joins this one.
    pub fn joined(&self, frame: u64) -> String {
        let side = self.side;
        // The listener can place a needle drop before the lift it placed for the side before.
        let lift = if frame >= self.end {
            format!("ended by a lift {} before it", format_frames(frame - self.end, self.rate))
        } else {
            format!("whose lift the listener placed {} after it", format_frames(self.end - frame, self.rate))
        };
        match self.kept.as_ref().and_then(|p| p.continues.as_ref()) {
            Some(file) => format!(
                "; side {side} {lift}: one side whose quiet gap read as a lift, this file continues {} from its last frame",
                file.display()
            ),
            None => format!(
                "; side {side} {lift}, too short to keep: one side whose quiet gap read as a lift, recorded again with it from its needle drop at frame {}",
                self.since
            ),
        }
    }

    /// Keeps it in `run_dir` for an auto restarted before the next needle drop (`timeline`: the
    /// ring's), written whole or not at all.
    pub fn save(&self, run_dir: &Path, timeline: u64) {
        let path = run_dir.join(FILE);
        let tmp = run_dir.join(format!("{FILE}.tmp"));
        let saved = Saved { timeline, lifted: self.clone() };
        let written = serde_json::to_vec(&saved)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            vlog!(
                TOOL,
                "{}: write: {e}: a restarted auto would not join side {} to the next",
                path.display(),
                self.side
            );
        }
    }

    /// The lifted side a killed auto kept in `run_dir`, when it was heard on the ring's timeline
    /// `timeline` and the files it names are in `recordings`.
    pub fn load(run_dir: &Path, timeline: u64, recordings: &Path) -> Option<Lifted> {
        let bytes = std::fs::read(run_dir.join(FILE)).ok()?;
        let saved: Saved = serde_json::from_slice(&bytes).ok()?;
        let inside = |p: &Path| {
            p.starts_with(recordings) && !p.components().any(|c| c == std::path::Component::ParentDir)
        };
        let files_inside =
            saved.lifted.kept.as_ref().is_none_or(|k| {
                k.continues.as_deref().is_none_or(inside) && k.earlier.iter().all(|p| inside(p))
            });
        (saved.timeline == timeline && files_inside).then_some(saved.lifted)
    }

    /// Forgets the copy in `run_dir` (taken by the next side, or past).
    pub fn forget(run_dir: &Path) {
        let _ = std::fs::remove_file(run_dir.join(FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn kept(recordings: &Path) -> Lifted {
        let file = recordings.join("2026-12/side-20261207-162241.flac");
        let part = Part {
            want: 926_528,
            number: 2,
            continues: Some(file.clone()),
            earlier: vec![file],
            ..Part::default()
        };
        Lifted {
            side: 1,
            since: 447_008,
            end: 926_528,
            rate: 48_000,
            at: Some("2026-12-07T16:22:41Z".into()),
            tracks: vec![447_008],
            titles: vec![None],
            kept: Some(part),
        }
    }

    #[test]
    fn a_restarted_auto_reads_the_lift_back_on_its_timeline_only() {
        let run = tempfile::tempdir().unwrap();
        let rec = PathBuf::from("/srv/vinyl");
        kept(&rec).save(run.path(), 7);
        let back = Lifted::load(run.path(), 7, &rec).expect("read back");
        assert_eq!((back.side, back.since, back.end, back.tracks), (1, 447_008, 926_528, vec![447_008]));
        assert_eq!(back.kept.unwrap().continues, kept(&rec).kept.unwrap().continues);
        assert!(Lifted::load(run.path(), 8, &rec).is_none(), "another timeline's frames mean other audio");
        Lifted::forget(run.path());
        assert!(Lifted::load(run.path(), 7, &rec).is_none());
    }

    #[test]
    fn a_copy_naming_files_outside_the_recordings_or_garbled_is_ignored() {
        let run = tempfile::tempdir().unwrap();
        kept(Path::new("/etc")).save(run.path(), 7);
        assert!(Lifted::load(run.path(), 7, Path::new("/srv/vinyl")).is_none());
        kept(Path::new("/srv/vinyl/../../etc")).save(run.path(), 7);
        assert!(Lifted::load(run.path(), 7, Path::new("/srv/vinyl")).is_none());
        std::fs::write(run.path().join(FILE), b"{\"timeline\":7,").unwrap();
        assert!(Lifted::load(run.path(), 7, Path::new("/srv/vinyl")).is_none());
    }
}
