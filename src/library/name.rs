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
    run_with_cover(o, db, None)
}

/// [`run`], with the cover given as the image's bytes (`vinyl-web`'s upload) instead of a file;
/// they are checked as `--cover`'s file is.
pub fn run_with_cover(o: &NameOpts, db: &Path, upload: Option<Vec<u8>>) -> anyhow::Result<()> {
    let (mut naming, cover) = validate(o, upload)?;
    // The database is opened (and checked) before the file is touched; titles not given come from
    // the collection (an imported release, an earlier name).
    let mut lib = Library::open(db)?;
    if naming.titles.is_empty() {
        naming.titles = lib.titles(&naming.artist, &naming.album, &naming.side)?;
    }
    let (tracks, rewrote) = write_file(&naming, cover.as_ref())?;
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

/// Writes the naming's tags (and the cover as a PICTURE block) into its file: returns the file's
/// tracks (its markers, at least 1) and whether the file was rewritten to make room.
fn write_file(naming: &Naming, cover: Option<&Cover>) -> anyhow::Result<(usize, bool)> {
    let markers = cuesheet::read(&naming.file)?;
    let tracks = markers.offsets.len().max(1);
    let tags = tags(naming, tracks);
    let rewrote = meta::edit_or_grow(&naming.file, |blocks| {
        meta::edit_comments(blocks, |c| meta::merge_tags(c, &tags))?;
        if let Some(c) = cover {
            meta::set_block(blocks, format::BLOCK_PICTURE, Some(cover::picture_block(c)));
        }
        Ok(())
    })?;
    Ok((tracks, rewrote))
}

/// A side the listener recognised, as `vinyl-rec auto` names its recording.
#[derive(Clone, Debug)]
pub struct Recognised {
    /// The album's artist and title, and the side, as the collection holds them.
    pub artist: String,
    /// The album's title.
    pub album: String,
    /// The album side.
    pub side: String,
    /// The title the listener gave each of the file's tracks, in order (`None`: not said).
    pub titles: Vec<Option<String>>,
    /// The side's track the file opens with: 1 for a whole side or its first part, a later one
    /// for a later part, `None` when not known (a later part without the learned tracklist's
    /// places: its file gets the album's tags but no track titles).
    pub first_track: Option<usize>,
}

/// Names a recognised side's recording as `name` would (tags, cover, the link in the collection
/// at `db`), without learning it again (it was recognised: the collection knows it), and moves
/// it to `template` in `recordings` when one is given (moved back when the link fails). Returns
/// where the file is now. A file that opens with a later track (a later part of a side) is
/// titled from that track on, and leaves the collection's tracklist as it is: it holds only part
/// of the side.
pub fn recognised(
    db: &Path,
    file: &Path,
    who: &Recognised,
    recordings: &Path,
    template: Option<&str>,
) -> anyhow::Result<std::path::PathBuf> {
    let mut lib = Library::open(db)?;
    let (year, stored) = lib.album_details(&who.artist, &who.album)?;
    let known = lib.titles(&who.artist, &who.album, &who.side)?;
    let titles = file_titles(who, &known);
    let start_frame = crate::flac::probe::probe(file)?.tag("VINYL_START_FRAME").and_then(|v| v.parse().ok());
    let mut naming = Naming {
        artist: who.artist.clone(),
        album: who.album.clone(),
        year,
        side: who.side.clone(),
        titles,
        cover: None,
        file: file.to_path_buf(),
        start_frame,
    };
    let cover = stored.and_then(cover::from_bytes);
    write_file(&naming, cover.as_ref())?;
    if let Some(t) = template {
        naming.file = move_to(file, recordings, t, &naming)?;
    }
    if who.first_track != Some(1) {
        // No titles: the side's tracks are left as the collection holds them.
        naming.titles.clear();
    }
    if let Err(e) = lib.name(&naming) {
        // Not linked (a database held past its busy timeout): the file goes back to where the
        // caller keeps it, so its play still names it.
        if naming.file != file {
            std::fs::hard_link(&naming.file, file)
                .and_then(|()| std::fs::remove_file(&naming.file))
                .with_context(|| format!("{}: move back to {}", naming.file.display(), file.display()))?;
        }
        return Err(e);
    }
    Ok(naming.file)
}

/// The titles of the file's tracks: each as the listener aligned it, else the collection's for
/// that track of the side (`known`, in order), from the track the file opens with; none when
/// that track is not known.
fn file_titles(who: &Recognised, known: &[String]) -> Vec<String> {
    let Some(skip) = who.first_track.map(|t| t.saturating_sub(1)) else { return Vec::new() };
    let count = who.titles.len().max(known.len().saturating_sub(skip));
    (0..count)
        .map_while(|i| who.titles.get(i).cloned().flatten().or_else(|| known.get(skip + i).cloned()))
        .collect()
}

/// Moves `file` to the template's path in `recordings` (`-2`, `-3`… when taken; never over
/// another file), creating its folders.
fn move_to(file: &Path, recordings: &Path, template: &str, n: &Naming) -> anyhow::Result<std::path::PathBuf> {
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    let month = file.parent().and_then(Path::file_name).unwrap_or_default().to_string_lossy();
    let fields = super::template::Fields {
        artist: n.artist.clone(),
        album: n.album.clone(),
        year: n.year,
        side: n.side.clone(),
        month: month.into_owned(),
        stamp: stem.strip_prefix("side-").unwrap_or(&stem).to_string(),
    };
    let rel = super::template::expand(template, &fields);
    let base = recordings.join(&rel);
    if let Some(dir) = base.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: mkdir", dir.display()))?;
    }
    for n in 1..1000 {
        let mut name = base.file_name().unwrap_or_default().to_os_string();
        if n > 1 {
            name.push(format!("-{n}"));
        }
        name.push(".flac");
        let to = base.with_file_name(name);
        if to == file {
            return Ok(to);
        }
        // A hard link is never made over another file: the move cannot overwrite one.
        match std::fs::hard_link(file, &to) {
            Ok(()) => {
                std::fs::remove_file(file)
                    .with_context(|| format!("{}: remove after the move", file.display()))?;
                return Ok(to);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("{}: move to {}", file.display(), to.display())),
        }
    }
    anyhow::bail!("{}: no free name for {} in 999 tries", file.display(), base.display())
}

/// The naming the flags ask for, checked, and the cover loaded.
fn validate(o: &NameOpts, upload: Option<Vec<u8>>) -> anyhow::Result<(Naming, Option<Cover>)> {
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
    let cover = match (&o.cover, upload) {
        (_, Some(bytes)) => Some(cover::check("the uploaded cover", bytes)),
        (Some(p), None) => Some(cover::load(p)),
        (None, None) => None,
    };
    let cover = cover.transpose().map_err(|e| UsageError::new(format!("{e:#}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn who(titles: &[Option<&str>], first_track: Option<usize>) -> Recognised {
        Recognised {
            artist: "A".into(),
            album: "B".into(),
            side: "A".into(),
            titles: titles.iter().map(|t| t.map(String::from)).collect(),
            first_track,
        }
    }

    #[test]
    fn a_later_part_is_titled_from_the_track_it_opens_with_and_an_unknown_start_gets_no_titles() {
        let known = ["Intro", "Middle", "Finale"].map(String::from);
        assert_eq!(file_titles(&who(&[None, Some("Heard")], Some(1)), &known), ["Intro", "Heard", "Finale"]);
        assert_eq!(file_titles(&who(&[None, None], Some(2)), &known), ["Middle", "Finale"]);
        assert_eq!(file_titles(&who(&[None], Some(3)), &known), ["Finale"]);
        assert!(file_titles(&who(&[Some("Heard")], None), &known).is_empty());
    }
}
