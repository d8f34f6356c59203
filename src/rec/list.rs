//! `vinyl-rec list`: one tab-separated row per finished recording under the recordings folder.
//!
//! Owns the table: a `PATH DURATION SIZE DATE TITLE TRACKS LUFS` header, then every regular
//! `*.flac` file under the folder (recursively, symbolic links not followed, sorted by path
//! bytes) with its duration, TITLE, number of track markers ([`crate::flac::cuesheet`], 0 when
//! none) and integrated loudness (its `VINYL_LUFS` tag, empty when not measured) read from the
//! file's metadata, its size for humans and the local time of its last change. The two last
//! columns came after the others so that scripts cutting the first five still work. `.part` files are not listed. How it fails: a folder that does not exist is
//! an error naming it (exit 1); a file that cannot be read shows `? (unreadable)` and the listing
//! goes on.

use super::stamp::Stamp;
use super::stop::duration_cell;
use super::{Settings, out};
use crate::flac::probe::probe;
use anyhow::bail;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

/// Runs `list`.
pub fn list(s: &Settings, dir: Option<&Path>) -> anyhow::Result<()> {
    if let Some(d) = dir {
        super::check::folder("--dir", d.as_os_str())?;
    }
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| s.recordings.clone());
    if !dir.is_dir() {
        bail!("{}: no such folder", dir.display());
    }
    out("PATH\tDURATION\tSIZE\tDATE\tTITLE\tTRACKS\tLUFS")?;
    let mut files = Vec::new();
    flac_files(&dir, &mut files);
    files.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    for f in files {
        out(&row(&f))?;
    }
    Ok(())
}

/// Every regular file named `*.flac` under `dir`; unreadable folders are skipped.
pub fn flac_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        let p = e.path();
        if kind.is_dir() {
            flac_files(&p, out);
        } else if kind.is_file() && p.as_os_str().as_bytes().ends_with(b".flac") {
            out.push(p);
        }
    }
}

fn row(f: &Path) -> String {
    let probed = probe(f).ok();
    let duration = probed.as_ref().map_or_else(|| "? (unreadable)".into(), duration_cell);
    let meta = std::fs::metadata(f).ok();
    let size = meta.as_ref().map_or(0, |m| m.len());
    let when = meta.and_then(|m| m.modified().ok()).map(|t| Stamp::of(t).minutes()).unwrap_or_default();
    let title = probed.as_ref().and_then(|p| p.tag("TITLE")).map(first_line).unwrap_or_default();
    let tracks = crate::flac::cuesheet::read(f).map_or_else(|_| "?".into(), |m| m.offsets.len().to_string());
    let lufs = probed.as_ref().and_then(|p| p.tag("VINYL_LUFS")).map(first_line).unwrap_or_default();
    format!("{}\t{duration}\t{}\t{when}\t{title}\t{tracks}\t{lufs}", f.display(), human_size(size))
}

/// A tag value as one table cell: its first line.
fn first_line(v: &str) -> String {
    v.lines().next().unwrap_or_default().to_string()
}

/// A size for humans: `812B`, `1.5K`, `12.3M`, `1.1G` (binary units, one decimal).
pub fn human_size(b: u64) -> String {
    const K: u64 = 1024;
    match b {
        b if b >= K * K * K => format!("{:.1}G", b as f64 / (K * K * K) as f64),
        b if b >= K * K => format!("{:.1}M", b as f64 / (K * K) as f64),
        b if b >= K => format!("{:.1}K", b as f64 / K as f64),
        b => format!("{b}B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_awk_printed_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(1023), "1023B");
        assert_eq!(human_size(1024), "1.0K");
        assert_eq!(human_size(1536), "1.5K");
        assert_eq!(human_size(5 * 1024 * 1024 + 300 * 1024), "5.3M");
        assert_eq!(human_size(3 << 30), "3.0G");
    }

    #[test]
    fn only_flac_files_are_found_recursively_without_parts() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("2026-11")).unwrap();
        for f in ["2026-11/a.flac", "2026-11/b.flac.part", "c.flac", "notes.txt"] {
            std::fs::write(d.path().join(f), b"x").unwrap();
        }
        std::os::unix::fs::symlink(d.path().join("c.flac"), d.path().join("link.flac")).unwrap();
        let mut found = Vec::new();
        flac_files(d.path(), &mut found);
        found.sort();
        assert_eq!(found, [d.path().join("2026-11/a.flac"), d.path().join("c.flac")]);
        assert!(row(&found[0]).contains("\t? (unreadable)\t1B\t"), "{}", row(&found[0]));
        assert!(row(&found[0]).ends_with("\t\t?\t"), "{}", row(&found[0]));
    }
}
