//! The earlier parts of a side recorded in parts, named when the recognition came only after
//! they were finalised. A part is finalised as soon as its tap ends, while the side plays on, so
//! a side recognised late (the listener needs seconds of music) would leave its first parts
//! without their names.
//!
//! Owns [`Side::name_earlier`]: each earlier part of this side (the state folder's
//! `auto.earlier` tells a restarted auto the parts before the one it took over) whose file has
//! no `VINYL_SIDE` yet
//! gets its markers fitted to the tracklist as its own finalisation would have fitted them
//! ([`super::fit`], `VINYL_MARKERS_ESTIMATED`), then is named in place by
//! [`crate::library::name::recognised`] (parts are never moved: `VINYL_CONTINUES` names them).
//! A part named already is left alone. How it fails: a part that cannot be read or named is
//! logged and left as it was; the other parts go on.

use super::super::TOOL;
use super::side::{Side, offsets};
use crate::flac::{cuesheet, meta, probe};
use crate::library::name::Recognised;
use crate::vlog;
use anyhow::Context as _;
use std::path::Path;

impl Side {
    /// Names the earlier parts of this recognised side that are not named yet; call it before
    /// this part's markers are fitted (it reads the side's heard `track_start` frames).
    pub fn name_earlier(&self) {
        let Some(who) = self.recognised.as_ref().filter(|_| !self.part.earlier.is_empty()) else {
            return;
        };
        let db = match crate::library::default_db() {
            Ok(db) => db,
            Err(e) => return vlog!(TOOL, "side {}: the earlier parts are not named: {e:#}", self.side),
        };
        for (i, path) in self.part.earlier.iter().enumerate() {
            match self.name_part(&db, path, who, i == 0) {
                Ok(false) => {}
                Ok(true) => vlog!(
                    TOOL,
                    "side {}: {}: named {} – {}, side {} too (an earlier part, finalised before the recognition)",
                    self.side,
                    path.display(),
                    who.artist,
                    who.album,
                    who.side
                ),
                Err(e) => vlog!(TOOL, "side {}: an earlier part not named: {e:#}", self.side),
            }
        }
    }

    /// Fits the markers of the part at `path` and names it (`first_part`: the side's first);
    /// false when it was named already.
    fn name_part(&self, db: &Path, path: &Path, who: &Recognised, first_part: bool) -> anyhow::Result<bool> {
        let shown = path.display();
        let p = probe::probe(path)?;
        if p.tag("VINYL_SIDE").is_some() {
            return Ok(false);
        }
        let first: u64 = p
            .tag("VINYL_START_FRAME")
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{shown}: no VINYL_START_FRAME tag"))?;
        let total = p.info.total_samples;
        let fitted =
            super::fit::fit(&self.tracks, &self.learned, self.side_frame, first, first + total, self.rate);
        let mut who = who.clone();
        who.first_track = fitted.first().map(|m| m.track).or(first_part.then_some(1));
        who.titles = fitted.iter().map(|m| m.title.clone()).collect();
        if !fitted.is_empty() {
            let frames: Vec<u64> = fitted.iter().map(|m| m.frame).collect();
            cuesheet::set_tracks(path, &offsets(&frames, first, total))?;
            let estimated: Vec<String> = fitted
                .iter()
                .enumerate()
                .filter(|(_, m)| m.estimated)
                .map(|(i, _)| (i + 1).to_string())
                .collect();
            if !estimated.is_empty() {
                let f = std::fs::File::options()
                    .read(true)
                    .write(true)
                    .open(path)
                    .with_context(|| format!("{shown}: open to set tags"))?;
                meta::set_tags(&f, &[("VINYL_MARKERS_ESTIMATED".into(), estimated.join(","))])
                    .with_context(|| format!("{shown}: write VINYL_MARKERS_ESTIMATED"))?;
            }
        }
        crate::library::name::recognised(db, path, &who, &self.recordings, None)?;
        Ok(true)
    }
}
