//! `vinyl-library name`: a recorded side becomes an album's side. The FLAC file gets
//! library-ready tags and the cover, and the collection links the recording to the side.
//!
//! Owns the checks of the names, the tags written (ARTIST, ALBUMARTIST, ALBUM, DATE, VINYL_SIDE,
//! TITLE, a `CHAPTERnnnNAME` per track the markers name) and the order of the two writes: the
//! file first (in place, or rewritten beside itself when the cover needs room: the audio frames
//! are copied, never re-encoded), then the database in one transaction. So a failure (a full
//! disk) leaves the file as it was or fully tagged, and the collection without the link or with
//! all of it. How it fails: a bad name or side, a cover that is not an image, and a file that is
//! not FLAC are usage errors (exit 2) naming what to give; the rest exits 1 naming the step.

use super::TOOL;
use super::cli::NameOpts;
use super::cover::{self, Cover};
use super::db::{Library, Naming};
use crate::cli::UsageError;
use crate::flac::{cuesheet, format, meta};
use crate::vlog;
use anyhow::Context as _;
use std::path::Path;

/// Runs `name` against the collection at `db`.
pub fn run(o: &NameOpts, db: &Path) -> anyhow::Result<()> {
    let (mut naming, cover) = validate(o)?;
    // The database is opened (and checked) before the file is touched; titles not given come from
    // the collection (an imported release, an earlier name).
    let mut lib = Library::open(db)?;
    if naming.titles.is_empty() {
        naming.titles = lib.titles(&naming.artist, &naming.album, &naming.side)?;
    }
    let markers = cuesheet::read(&naming.file)?;
    let tracks = markers.offsets.len().max(1);
    let tags = tags(&naming, tracks);
    let rewrote = meta::edit_or_grow(&naming.file, |blocks| {
        meta::edit_comments(blocks, |c| meta::merge_tags(c, &tags))?;
        if let Some(c) = &cover {
            meta::set_block(blocks, format::BLOCK_PICTURE, Some(cover::picture_block(c)));
        }
        Ok(())
    })?;
    lib.name(&naming)?;
    let shown = naming.file.display();
    let pairs = super::learn::fingerprint(&mut lib, &naming.file)
        .with_context(|| format!("{shown}: named, but its fingerprint was not learned"))?;
    if rewrote {
        vlog!(TOOL, "{shown}: rewritten with room for the cover (the audio frames copied as they were)");
    }
    let named = naming.titles.len().min(tracks);
    let what = format!("{} – {}, side {}", naming.artist, naming.album, naming.side);
    match (naming.titles.len(), tracks) {
        (0, _) => {
            vlog!(TOOL, "{shown}: named {what} ({tracks} tracks, no titles given; {pairs} fingerprint pairs)")
        }
        (t, n) if t < n => {
            vlog!(TOOL, "{shown}: named {what}: titled {named} of its {n} tracks (give a --title for each)")
        }
        (t, n) if t > n => vlog!(
            TOOL,
            "{shown}: named {what}: its markers name {n} tracks, so {} of the {t} titles are kept in the \
             collection only",
            t - n
        ),
        _ => vlog!(TOOL, "{shown}: named {what}, {tracks} tracks titled; {pairs} fingerprint pairs"),
    }
    Ok(())
}

/// The naming the flags ask for, checked, and the cover loaded.
fn validate(o: &NameOpts) -> anyhow::Result<(Naming, Option<Cover>)> {
    for (what, v) in [("--artist", &o.artist), ("--album", &o.album)] {
        check_text(what, v)?;
    }
    for t in &o.title {
        check_text("--title", t)?;
    }
    let side = o.side.trim().to_ascii_uppercase();
    if side.is_empty() || side.len() > 4 || !side.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(
            UsageError::new(format!("--side {:?}: give a side's name such as A, B or C1", o.side)).into()
        );
    }
    let file =
        std::path::absolute(&o.file).map_err(|e| UsageError::new(format!("{}: {e}", o.file.display())))?;
    let cover = match &o.cover {
        Some(p) => Some(cover::load(p).map_err(|e| UsageError::new(format!("{e:#}")))?),
        None => None,
    };
    let start_frame = crate::flac::probe::probe(&file)
        .map_err(|e| UsageError::new(format!("{}: not a FLAC file vinyl can read: {e:#}", file.display())))?
        .tag("VINYL_START_FRAME")
        .and_then(|v| v.parse().ok());
    let naming = Naming {
        artist: o.artist.trim().to_string(),
        album: o.album.trim().to_string(),
        year: o.year,
        side,
        titles: o.title.iter().map(|t| t.trim().to_string()).collect(),
        cover: cover.as_ref().map(|c| (c.bytes.clone(), c.mime)),
        file,
        start_frame,
    };
    Ok((naming, cover))
}

/// A name or title: not empty, at most 500 characters, no control characters (a tag is one line).
fn check_text(what: &str, v: &str) -> Result<(), UsageError> {
    if v.trim().is_empty() || v.chars().count() > 500 || v.chars().any(char::is_control) {
        return Err(UsageError::new(format!(
            "{what} {v:?}: give one line of text (not empty, at most 500 characters, no control characters)"
        )));
    }
    Ok(())
}

/// The tags for `n` on a file of `tracks` tracks.
fn tags(n: &Naming, tracks: usize) -> Vec<(String, String)> {
    let mut t = vec![
        ("ARTIST".to_string(), n.artist.clone()),
        ("ALBUMARTIST".to_string(), n.artist.clone()),
        ("ALBUM".to_string(), n.album.clone()),
        ("VINYL_SIDE".to_string(), n.side.clone()),
    ];
    if let Some(y) = n.year {
        t.push(("DATE".to_string(), y.to_string()));
    }
    let title = match n.titles.as_slice() {
        [only] if tracks == 1 => only.clone(),
        _ => format!("{} (side {})", n.album, n.side),
    };
    t.push(("TITLE".to_string(), title));
    for (i, title) in n.titles.iter().take(tracks).enumerate() {
        t.push((format!("CHAPTER{:03}NAME", i + 1), title.clone()));
    }
    t
}
