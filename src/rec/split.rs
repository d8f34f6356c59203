//! `vinyl-rec split FILE [--into DIR] [--library]`: one FLAC file per track of a recording,
//! bit-exact; with `--library`, named for music libraries: `DIR/Artist/Album (Year)/A1 Title.flac`.
//!
//! Owns the folder (DIR, created when missing, or the recording's own folder), the library
//! layout's names (from the tags `vinyl-library name` writes) and the output:
//! the path of each part on its own line. The cutting, the names and the tags are
//! [`crate::flac::split`]'s. How it fails: a recording without markers, or a part that exists
//! already, exits 1 before anything is written; a failure while writing removes the parts
//! written so far; each is one line naming the file and the step.

use super::cli::SplitOpts;
use super::out_path;
use anyhow::Context as _;
use std::path::Path;

/// Runs `split`.
pub fn split(o: &SplitOpts) -> anyhow::Result<()> {
    if let Some(d) = &o.into {
        super::check::folder("--into", d.as_os_str())?;
    }
    let dir = match (&o.into, o.file.parent()) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) if !p.as_os_str().is_empty() => p.to_path_buf(),
        (None, _) => Path::new(".").to_path_buf(),
    };
    if o.into.is_some() {
        std::fs::create_dir_all(&dir).with_context(|| format!("{}: mkdir", dir.display()))?;
    }
    let parts = if o.library {
        crate::flac::split::split_named(&o.file, &|tags, count| library_names(&o.file, &dir, tags, count))?
    } else {
        crate::flac::split::split(&o.file, &dir)?
    };
    for part in parts {
        out_path(&part.path)?;
    }
    Ok(())
}

/// `DIR/Artist/Album (Year)/A1 Title.flac` for each of `count` tracks, from the side's tags (what
/// `vinyl-library name` writes): ALBUMARTIST or ARTIST, ALBUM, DATE's year, VINYL_SIDE, each
/// track's CHAPTERnnnNAME (`Track N` without one). Each part of the path is one safe file name
/// ([`crate::library::template::safe`]); the album's folder is created.
fn library_names(
    file: &Path,
    dir: &Path,
    tags: &[(String, String)],
    count: usize,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use crate::library::template::file_name;
    let tag = |k: &str| {
        let v = tags.iter().find(|(t, v)| t.eq_ignore_ascii_case(k) && !v.trim().is_empty());
        v.map(|(_, v)| v.trim().to_string())
    };
    let (Some(artist), Some(album)) = (tag("ALBUMARTIST").or_else(|| tag("ARTIST")), tag("ALBUM")) else {
        anyhow::bail!(
            "{}: --library needs the ARTIST and ALBUM tags: name the side first (vinyl-library name)",
            file.display()
        );
    };
    let year = tag("DATE")
        .and_then(|d| d.get(..4).filter(|y| y.bytes().all(|b| b.is_ascii_digit())).map(str::to_string));
    let album = match year {
        Some(y) => format!("{album} ({y})"),
        None => album,
    };
    let folder = dir.join(file_name(&artist)).join(file_name(&album));
    std::fs::create_dir_all(&folder).with_context(|| format!("{}: mkdir", folder.display()))?;
    let side = tag("VINYL_SIDE").unwrap_or_default();
    let width = if count > 99 { 3 } else { 2 };
    Ok((1..=count)
        .map(|n| {
            let title = tag(&format!("CHAPTER{n:03}NAME")).unwrap_or_else(|| format!("Track {n}"));
            let position = if side.is_empty() { format!("{n:0width$}") } else { format!("{side}{n}") };
            folder.join(format!("{}.flac", file_name(&format!("{position} {title}"))))
        })
        .collect())
}
