//! `vinyl-library learn FILE…`: files that are already named (by `name`, or by another tagger)
//! enter the collection from their tags.
//!
//! Owns reading a naming back from a FLAC file: ARTIST (or ALBUMARTIST), ALBUM, DATE's year,
//! VINYL_SIDE (A when absent), the tracks' titles from `CHAPTERnnnNAME` (in order; the
//! placeholders `Track N` are not titles) and the front cover from a PICTURE block; and learning a
//! named recording's fingerprint ([`fingerprint`], which `name` calls too): its pairs
//! ([`super::print::LEARN`]), where its tracks start (its markers) and the deck's speed its
//! run-out measured (`VINYL_RPM`). It does not write the
//! files. How it fails: a file without ARTIST and ALBUM, or not FLAC, or whose audio cannot be
//! decoded, is said (one line each) and skipped; the others are learned, and the exit status is 1
//! when any was skipped.

use super::TOOL;
use super::db::{Learned, Library, Naming};
use super::print::{self, Printer};
use crate::flac::{cuesheet, decode, format, meta, probe};
use crate::vlog;
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

/// Learns each of `files` into the collection at `db`.
pub fn run(files: &[PathBuf], db: &Path) -> anyhow::Result<()> {
    let mut lib = Library::open(db)?;
    let mut skipped = 0usize;
    lib.defer_sweeps();
    for f in files {
        match learn_file(&mut lib, f) {
            Ok((n, pairs)) => vlog!(
                TOOL,
                "{}: learned {} – {}, side {} ({} titles, {pairs} fingerprint pairs)",
                f.display(),
                n.artist,
                n.album,
                n.side,
                n.titles.len()
            ),
            Err(e) => {
                skipped += 1;
                vlog!(TOOL, "{}: skipped: {e:#}", f.display());
            }
        }
    }
    lib.end_deferred_sweeps()?;
    if skipped > 0 {
        bail!("{skipped} of {} files were not learned", files.len());
    }
    Ok(())
}

/// Learns `file` from its tags: links it to its album side ([`Library::name`]) and learns its
/// fingerprint. Returns the naming and how many pairs were stored.
pub fn learn_file(lib: &mut Library, file: &Path) -> anyhow::Result<(Naming, usize)> {
    let n = naming_of(file)?;
    lib.name(&n)?;
    let pairs = fingerprint(lib, &n.file)?;
    Ok((n, pairs))
}

/// Learns the fingerprint of `file`, a recording the collection holds, replacing an earlier one,
/// with the deck's speed its run-out measured (`VINYL_RPM`, which auto writes). Returns how many
/// pairs were stored.
pub fn fingerprint(lib: &mut Library, file: &Path) -> anyhow::Result<usize> {
    let markers = cuesheet::read(file)?;
    let deck_speed = super::recognize::tagged_deck_speed(&probe::probe(file)?);
    let mut printer: Option<Printer> = None;
    let (mut hashes, mut frames) = (Vec::new(), 0u64);
    let mut keep =
        |pairs: Vec<print::Pair>| hashes.extend(pairs.iter().filter_map(|p| Some((p.key()?, p.stored_t()))));
    let shape = decode::each_block(file, "fingerprint", |shape, pcm| {
        let p = printer.get_or_insert_with(|| Printer::new(shape.rate, shape.channels as u16, print::LEARN));
        p.feed(pcm);
        frames += (pcm.len() / shape.channels.max(1) as usize) as u64;
        keep(p.take());
        Ok(true)
    })?;
    let mut printer =
        printer.unwrap_or_else(|| Printer::new(shape.rate, shape.channels as u16, print::LEARN));
    keep(printer.finish());
    // Keys the side repeats (hum, a locked groove, a loop) say nothing about where: not kept.
    let mut counts: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    for (k, _) in &hashes {
        *counts.entry(*k).or_default() += 1;
    }
    hashes.retain(|(k, _)| counts[k] <= super::recognize::MAX_REPEATS);
    let rate = f64::from(shape.rate.max(1));
    let learned = Learned {
        hop_s: printer.hop_s(),
        seconds: frames as f64 / rate,
        track_starts: markers.offsets.iter().map(|&o| o as f64 / rate).collect(),
        hashes,
        deck_speed,
    };
    lib.learn(file, &learned)?;
    Ok(learned.hashes.len())
}

/// The naming a file's tags hold.
fn naming_of(path: &Path) -> anyhow::Result<Naming> {
    let file = std::path::absolute(path).with_context(|| format!("{}: resolve", path.display()))?;
    let p = probe::probe(&file)?;
    utf8_tags(&file)?;
    let tag = |k: &str| p.tag(k).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let (Some(artist), Some(album)) = (tag("ARTIST").or_else(|| tag("ALBUMARTIST")), tag("ALBUM")) else {
        bail!("no ARTIST and ALBUM tags: name it first (vinyl-library name)");
    };
    let year = tag("DATE").and_then(|d| d.get(..4).and_then(|y| y.parse().ok()));
    let side = tag("VINYL_SIDE").unwrap_or_else(|| "A".to_string()).to_ascii_uppercase();
    Ok(Naming {
        artist,
        album,
        year,
        side,
        titles: titles(&p.tags),
        cover: front_cover(&file)?,
        start_frame: tag("VINYL_START_FRAME").and_then(|v| v.parse().ok()),
        file,
    })
}

/// The tracks' titles from `CHAPTERnnnNAME`, in chapter order, up to the first placeholder.
fn titles(tags: &[(String, String)]) -> Vec<String> {
    let mut named: Vec<(u32, String)> = tags
        .iter()
        .filter_map(|(k, v)| {
            let n = k.to_ascii_uppercase().strip_prefix("CHAPTER")?.strip_suffix("NAME")?.parse().ok()?;
            Some((n, v.trim().to_string()))
        })
        .collect();
    named.sort();
    named
        .into_iter()
        .take_while(|(n, v)| !v.is_empty() && *v != format!("Track {n}"))
        .map(|(_, v)| v)
        .collect()
}

/// Refuses a file whose tags are not all UTF-8: its names would be learned wrong.
fn utf8_tags(path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: open", path.display()))?;
    let m = meta::read(&file).with_context(|| format!("{}: read the metadata", path.display()))?;
    for b in m.blocks.iter().filter(|b| b.kind == format::BLOCK_VORBIS_COMMENT) {
        format::parse_vorbis_comment(&b.body)?;
    }
    Ok(())
}

/// The front cover (PICTURE type 3) of the file, as bytes and MIME type.
fn front_cover(path: &Path) -> anyhow::Result<Option<(Vec<u8>, &'static str)>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: open", path.display()))?;
    let m = meta::read(&file).with_context(|| format!("{}: read the metadata", path.display()))?;
    Ok(m.blocks.iter().filter(|b| b.kind == format::BLOCK_PICTURE).find_map(|b| super::cover::front(&b.body)))
}
