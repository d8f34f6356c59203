//! Editing a finished FLAC file's metadata in place, within the room its header already takes.
//!
//! Owns reading the metadata blocks that follow STREAMINFO and writing a new set of them over the
//! same bytes: the recorder reserves a PADDING block so tags and cue sheets can be added
//! at the end of a recording without moving or rewriting one byte of audio. The new blocks are
//! followed by a PADDING block that fills the room exactly; when they do not fit (the padding is
//! too small, or a PADDING block of at least its 4-byte header would not fit), nothing is written
//! and the error says how many bytes were missing. It does not touch STREAMINFO or the frames,
//! and it does not sync: the caller does, with the rest of the file.

use super::format;
use anyhow::{Context as _, bail};
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// One metadata block (not STREAMINFO): its type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Block type: 1 PADDING, 4 VORBIS_COMMENT, 5 CUESHEET…
    pub kind: u8,
    /// The body, without its 4-byte header.
    pub body: Vec<u8>,
}

/// The blocks after STREAMINFO and the byte offsets they span (`start..end`, where `end` is
/// where the audio frames begin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Blocks in file order, PADDING included.
    pub blocks: Vec<Block>,
    /// Offset of the first block after STREAMINFO.
    pub start: u64,
    /// Offset of the first audio frame.
    pub end: u64,
}

/// Reads the metadata blocks of `file` (with [`super::probe::read_metadata_with`], the one
/// block walker).
pub fn read(file: &File) -> anyhow::Result<Metadata> {
    use std::io::{Seek as _, SeekFrom};
    let len = file.metadata().context("stat")?.len();
    let mut blocks = Vec::new();
    // The descriptor's offset is wherever the writer left it: read from the start.
    let mut r = std::io::BufReader::new(file);
    r.seek(SeekFrom::Start(0)).context("seek to the FLAC marker")?;
    let (_, end) = super::probe::read_metadata_with(&mut r, len, |h, body| {
        blocks.push(Block { kind: h.kind, body: body.to_vec() })
    })?;
    Ok(Metadata { blocks, start: 8 + format::STREAMINFO_LEN as u64, end })
}

/// Writes `blocks` (no PADDING among them) over the room of `meta`, followed by a PADDING block
/// that fills it exactly.
pub fn write(file: &File, meta: &Metadata, blocks: &[Block]) -> anyhow::Result<()> {
    let room = meta.end - meta.start;
    let used: u64 = blocks.iter().map(|b| 4 + b.body.len() as u64).sum();
    if used + 4 > room {
        bail!(
            "the new metadata needs {} bytes more than the {room} bytes of room before the audio",
            used + 4 - room
        );
    }
    let mut out = Vec::with_capacity(room as usize);
    for b in blocks {
        push_block(&mut out, b.kind, false, &b.body)?;
    }
    let padding = vec![0u8; (room - used - 4) as usize];
    push_block(&mut out, format::BLOCK_PADDING, true, &padding)?;
    // STREAMINFO was the last block only if there were none after it; now it is not.
    let mut si = [0u8; 1];
    file.read_exact_at(&mut si, 4).context("read the STREAMINFO header")?;
    file.write_all_at(&[si[0] & 0x7F], 4).context("write the STREAMINFO header")?;
    file.write_all_at(&out, meta.start).context("write the metadata blocks")?;
    Ok(())
}

fn push_block(out: &mut Vec<u8>, kind: u8, last: bool, body: &[u8]) -> anyhow::Result<()> {
    if body.len() >= 1 << 24 {
        bail!("a metadata block of {} bytes is over the 16 MiB the format allows", body.len());
    }
    let len = (body.len() as u32).to_be_bytes();
    out.push(kind | if last { 0x80 } else { 0 });
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(body);
    Ok(())
}

/// Reads the blocks of `file`, lets `change` edit them (PADDING already taken out: it is added
/// back to fill the room), and writes the result in place. Every in-place edit goes through here,
/// so an edit is all or nothing: when `change` fails or its blocks do not fit, nothing is written.
pub fn edit(file: &File, change: impl FnOnce(&mut Vec<Block>) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let meta = read(file)?;
    let mut blocks: Vec<Block> =
        meta.blocks.iter().filter(|b| b.kind != format::BLOCK_PADDING).cloned().collect();
    change(&mut blocks)?;
    write(file, &meta, &blocks)
}

/// [`edit`] for the file at `path`, then synced: the one way to change a finished file's metadata
/// in place. An error names the file and the step: `open`, `what` (`write the track markers`) or
/// `sync`.
pub fn edit_at(
    path: &Path,
    what: &str,
    change: impl FnOnce(&mut Vec<Block>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let shown = path.display();
    let file = File::options().read(true).write(true).open(path).with_context(|| format!("{shown}: open"))?;
    edit(&file, change).with_context(|| format!("{shown}: {what}"))?;
    file.sync_data().with_context(|| format!("{shown}: sync"))
}

/// Like [`edit`] for the file at `path`, but when the new blocks do not fit the room before the
/// audio (a cover is larger than the padding), the file is written again beside itself with room
/// for them and [`super::DEFAULT_PADDING`] more: the same STREAMINFO and the audio frames copied
/// byte for byte (never decoded), synced, then renamed over the original. A failure (a full disk)
/// removes the new file and leaves the original as it was. Returns whether it rewrote the file.
pub fn edit_or_grow(
    path: &Path,
    change: impl FnOnce(&mut Vec<Block>) -> anyhow::Result<()>,
) -> anyhow::Result<bool> {
    let shown = path.display();
    let file = File::options().read(true).write(true).open(path).with_context(|| format!("{shown}: open"))?;
    let meta = read(&file).with_context(|| format!("{shown}: read the metadata"))?;
    let mut blocks: Vec<Block> =
        meta.blocks.iter().filter(|b| b.kind != format::BLOCK_PADDING).cloned().collect();
    change(&mut blocks)?;
    let used: u64 = blocks.iter().map(|b| 4 + b.body.len() as u64).sum();
    if used + 4 <= meta.end - meta.start {
        write(&file, &meta, &blocks).with_context(|| format!("{shown}: write the metadata"))?;
        file.sync_all().with_context(|| format!("{shown}: sync"))?;
        return Ok(false);
    }
    let new = path.with_extension("flac.grow");
    let result = grow(&file, &meta, &blocks, &new);
    if result.is_err() {
        let _ = std::fs::remove_file(&new);
    }
    result
        .with_context(|| format!("{shown}: rewrite with room for the new metadata (as {})", new.display()))?;
    std::fs::rename(&new, path).with_context(|| format!("{shown}: put the rewritten file in place"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(true)
}

/// Writes `new`: the marker and STREAMINFO of `file`, `blocks`, padding, and `file`'s frames.
fn grow(file: &File, meta: &Metadata, blocks: &[Block], new: &Path) -> anyhow::Result<()> {
    use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mode = file.metadata().context("stat")?.permissions().mode() & 0o777;
    let mut out = File::options().write(true).create_new(true).mode(mode).open(new).context("create")?;
    let mut head = vec![0u8; meta.start as usize];
    file.read_exact_at(&mut head, 0).context("read STREAMINFO")?;
    head[4] &= 0x7F;
    for b in blocks {
        push_block(&mut head, b.kind, false, &b.body)?;
    }
    push_block(&mut head, format::BLOCK_PADDING, true, &vec![0u8; super::DEFAULT_PADDING])?;
    out.write_all(&head).context("write the metadata")?;
    let mut audio = file;
    audio.seek(SeekFrom::Start(meta.end)).context("seek to the audio")?;
    let copied = std::io::copy(&mut audio.take(u64::MAX), &mut out).context("copy the audio frames")?;
    let want = file.metadata().context("stat")?.len() - meta.end;
    if copied != want {
        bail!("copied {copied} bytes of audio, not {want}");
    }
    out.sync_all().context("sync")
}

/// Puts `body` in the first block of type `kind` (dropping any later ones of that type), or
/// appends a block when there is none; `None` removes every block of that type.
pub fn set_block(blocks: &mut Vec<Block>, kind: u8, body: Option<Vec<u8>>) {
    let first = blocks.iter().position(|b| b.kind == kind);
    let mut seen = 0usize;
    blocks.retain(|b| {
        let keep = b.kind != kind || (seen == 0 && body.is_some());
        seen += usize::from(b.kind == kind);
        keep
    });
    match (first, body) {
        (Some(i), Some(body)) => blocks[i].body = body,
        (None, Some(body)) => blocks.push(Block { kind, body }),
        (_, None) => {}
    }
}

/// Lets `change` edit the comments of the VORBIS_COMMENT among `blocks` (a new one, with vinyl's
/// vendor string, when there is none), keeping the vendor string. Fails only on a malformed
/// VORBIS_COMMENT.
pub fn edit_comments(
    blocks: &mut Vec<Block>,
    change: impl FnOnce(&mut Vec<(String, String)>),
) -> anyhow::Result<()> {
    let (vendor, mut comments) = match blocks.iter().find(|b| b.kind == format::BLOCK_VORBIS_COMMENT) {
        Some(b) => format::parse_vorbis_comment(&b.body)?,
        None => (super::vendor_string(), Vec::new()),
    };
    change(&mut comments);
    set_block(blocks, format::BLOCK_VORBIS_COMMENT, Some(format::vorbis_comment(&vendor, &comments)));
    Ok(())
}

/// `comments` with `tags` set: comments of the same keys (compared without case) replaced, the
/// others appended, in the order given.
pub fn merge_tags(comments: &mut Vec<(String, String)>, tags: &[(String, String)]) {
    comments.retain(|(k, _)| !tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)));
    comments.extend(tags.iter().cloned());
}

/// Sets the comments `tags` in the file's VORBIS_COMMENT (replacing comments of the same keys,
/// case-insensitively, appending the others), in place. Fails, changing nothing, when they do
/// not fit in the padding.
pub fn set_tags(file: &File, tags: &[(String, String)]) -> anyhow::Result<()> {
    edit(file, |blocks| edit_comments(blocks, |c| merge_tags(c, tags)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flac::WriterOptions;
    use crate::pcm::{PcmSpec, unique_frames};

    fn recording(dir: &std::path::Path, padding: usize) -> std::path::PathBuf {
        let path = dir.join("t.flac");
        let spec = PcmSpec::default();
        let opts = WriterOptions {
            tags: vec![("TITLE".into(), "Side A".into()), ("VINYL_GAPS".into(), "old".into())],
            padding,
            ..WriterOptions::default()
        };
        crate::flac::tests::write_file(&path, spec, &opts, &unique_frames(&spec, 0, 10_000));
        path
    }

    #[test]
    fn tags_are_set_in_place_without_moving_the_audio() {
        let dir = tempfile::tempdir().unwrap();
        let path = recording(dir.path(), 8192);
        let before = std::fs::read(&path).unwrap();
        let file = File::options().read(true).write(true).open(&path).unwrap();
        let end = read(&file).unwrap().end;
        set_tags(&file, &[("VINYL_GAPS".into(), "100+50:overrun:exact".into())]).unwrap();
        let after = std::fs::read(&path).unwrap();
        assert_eq!(after.len(), before.len());
        assert_eq!(after[end as usize..], before[end as usize..], "the audio is untouched");
        assert_eq!(read(&file).unwrap().end, end);
        let t = crate::flac::probe::probe(&path).unwrap().tags;
        assert_eq!(
            t,
            [
                ("TITLE".to_string(), "Side A".to_string()),
                ("VINYL_GAPS".into(), "100+50:overrun:exact".into())
            ]
        );
    }

    #[test]
    fn tags_that_do_not_fit_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = recording(dir.path(), 16);
        let before = std::fs::read(&path).unwrap();
        let file = File::options().read(true).write(true).open(&path).unwrap();
        let err = set_tags(&file, &[("X".into(), "y".repeat(100))]).unwrap_err().to_string();
        assert!(err.contains("bytes more than"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn set_block_replaces_the_first_appends_or_removes() {
        let b = |kind: u8, x: u8| Block { kind, body: vec![x] };
        let mut blocks = vec![b(4, 1), b(5, 2), b(5, 3)];
        set_block(&mut blocks, 5, Some(vec![9]));
        assert_eq!(blocks, [b(4, 1), b(5, 9)]);
        set_block(&mut blocks, 6, Some(vec![7]));
        assert_eq!(blocks, [b(4, 1), b(5, 9), b(6, 7)]);
        set_block(&mut blocks, 5, None);
        assert_eq!(blocks, [b(4, 1), b(6, 7)]);
    }
}
