//! Track markers inside a side's FLAC file: a native CUESHEET block and `CHAPTERnnn` comments,
//! written in place within the PADDING the recorder reserves.
//!
//! Owns the byte layout of a non-CD CUESHEET (RFC 9639, section 8.7: [`encode`], [`decode`]),
//! the `CHAPTER001=HH:MM:SS.mmm` / `CHAPTER001NAME=Track 1` comments that players without
//! CUESHEET support read as chapters ([`chapter_tags`]), the rules a list of markers must follow
//! ([`check`]), and the two calls the tools use: [`set_tracks`] writes both forms at once,
//! [`read`] (or [`tracks`]) reads them back, from the CUESHEET first, else from the comments.
//! A marker is an offset in samples per channel (frames) from the file's first sample; track 1
//! always starts at 0. It does not decode or move audio: the edit is [`super::meta::edit`], all
//! or nothing.
//!
//! How it fails: a file that cannot be opened, read or parsed, markers that break the rules, or
//! markers that do not fit in the file's padding are errors naming the file and the step, and
//! the file is left as it was.
//!
//! The block: media catalog number empty, lead-in 0, not a CD; tracks numbered 1..n, each of type
//! audio without pre-emphasis or ISRC, with one index point (number 1, offset 0); then the
//! lead-out track, number 255, at the total sample count. `metaflac --export-cuesheet-to=-`
//! prints it as `TRACK 01 AUDIO` / `INDEX 01 <offset in samples>` lines; FFmpeg reads it as
//! chapters.

use super::{format, meta, probe};
use anyhow::{Context as _, bail};
use std::path::Path;

/// Number of the lead-out track of a non-CD cue sheet.
pub const LEAD_OUT: u8 = 255;

/// Most tracks a non-CD cue sheet numbers (1..=254; 255 is the lead-out).
pub const MAX_TRACKS: usize = 254;

/// Bytes before the first track: catalog number (128), lead-in (8), flags and reserved (259),
/// number of tracks (1).
const HEADER_LEN: usize = 128 + 8 + 259 + 1;
/// Bytes of a track without its index points: offset (8), number (1), ISRC (12), flags and
/// reserved (14), number of index points (1).
const TRACK_LEN: usize = 8 + 1 + 12 + 14 + 1;
/// Bytes of an index point: offset (8), number (1), reserved (3).
const INDEX_LEN: usize = 12;

/// The bytes of a CUESHEET block body for tracks starting at `offsets` (samples, checked by
/// [`check`]) in a stream of `total` samples.
pub fn encode(offsets: &[u64], total: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + offsets.len() * (TRACK_LEN + INDEX_LEN) + TRACK_LEN);
    b.resize(128 + 8 + 259, 0); // no catalog number, lead-in 0, not a CD, reserved
    b.push(offsets.len() as u8 + 1);
    let track = |b: &mut Vec<u8>, offset: u64, number: u8, indices: u8| {
        b.extend_from_slice(&offset.to_be_bytes());
        b.push(number);
        b.extend_from_slice(&[0u8; 12 + 14]); // no ISRC; audio, no pre-emphasis, reserved
        b.push(indices);
    };
    for (i, &offset) in offsets.iter().enumerate() {
        track(&mut b, offset, i as u8 + 1, 1);
        b.extend_from_slice(&0u64.to_be_bytes());
        b.extend_from_slice(&[1, 0, 0, 0]); // index point 1 at the track's start
    }
    track(&mut b, total, LEAD_OUT, 0);
    b
}

/// What a CUESHEET block says: where its tracks start and where the lead-out is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Start of each track in samples: the track's offset plus that of its index point 1 (its
    /// first index point when it has no number 1), in the order of the block.
    pub offsets: Vec<u64>,
    /// The lead-out's offset in samples (the stream's length, for a well-formed sheet).
    pub lead_out: u64,
}

/// Reads a CUESHEET block body (any cue sheet, CD or not). Never panics on arbitrary bytes.
pub fn decode(b: &[u8]) -> anyhow::Result<Decoded> {
    let mut pos = HEADER_LEN;
    let count = *b.get(HEADER_LEN - 1).context("CUESHEET is truncated")? as usize;
    if count == 0 {
        bail!("CUESHEET has no lead-out track");
    }
    let be64 = |p: usize| -> anyhow::Result<u64> {
        let s = b.get(p..p + 8).context("CUESHEET is truncated")?;
        Ok(u64::from_be_bytes(s.try_into().expect("8 bytes")))
    };
    let mut offsets = Vec::with_capacity(count - 1);
    let mut lead_out = 0;
    for t in 0..count {
        let offset = be64(pos)?;
        let indices = *b.get(pos + TRACK_LEN - 1).context("CUESHEET is truncated")? as usize;
        pos += TRACK_LEN;
        let mut start = None;
        for i in 0..indices {
            let p = pos + i * INDEX_LEN;
            let number = *b.get(p + 8).context("CUESHEET is truncated")?;
            let at = offset.saturating_add(be64(p)?);
            if start.is_none() || number == 1 {
                start = Some(at);
            }
        }
        pos += indices * INDEX_LEN;
        if t + 1 == count {
            lead_out = offset;
        } else {
            offsets.push(start.unwrap_or(offset));
        }
    }
    Ok(Decoded { offsets, lead_out })
}

/// The markers `offsets` made to follow the rules for a stream of `total` samples: 0 is added
/// first when missing; then they must be strictly increasing (sorted, no duplicates), each less
/// than `total`, at most [`MAX_TRACKS`]. Leans towards refusing: a list out of order is an
/// error, not sorted silently, since it is more likely a typing mistake than a wish.
pub fn check(offsets: &[u64], total: u64) -> Result<Vec<u64>, String> {
    let mut v = Vec::with_capacity(offsets.len() + 1);
    if offsets.first() != Some(&0) {
        v.push(0);
    }
    v.extend_from_slice(offsets);
    if let Some(w) = v.windows(2).find(|w| w[1] <= w[0]) {
        return Err(format!(
            "the markers must be in increasing order without repeats, but sample {} comes after sample {}",
            w[1], w[0]
        ));
    }
    if let Some(&last) = v.last()
        && last >= total
    {
        return Err(format!("a marker at sample {last} is not before the end of the file (sample {total})"));
    }
    if v.len() > MAX_TRACKS {
        return Err(format!("{} tracks are more than the {MAX_TRACKS} a cue sheet holds", v.len()));
    }
    Ok(v)
}

/// `offset` samples at `rate` Hz as `HH:MM:SS.mmm`, rounded to the nearest millisecond.
pub fn chapter_time(offset: u64, rate: u32) -> String {
    let ms = crate::pcm::millis(offset, rate);
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Milliseconds of a `HH:MM:SS.mmm` chapter time (`H:MM:SS`, and fewer or more decimals, are
/// read too); `None` when it is not one.
pub fn parse_chapter_time(s: &str) -> Option<u64> {
    // Always hours, minutes and seconds; the clock rule itself is the one of every time.
    if s.trim().split(':').count() != 3 {
        return None;
    }
    crate::time::parse_clock(s, None).ok().map(|us| us / 1000)
}

/// The chapter comments of tracks starting at `offsets`: `CHAPTER001=00:00:00.000`,
/// `CHAPTER001NAME=Track 1`, and so on.
pub fn chapter_tags(offsets: &[u64], rate: u32) -> Vec<(String, String)> {
    offsets
        .iter()
        .enumerate()
        .flat_map(|(i, &o)| {
            let n = i + 1;
            [
                (format!("CHAPTER{n:03}"), chapter_time(o, rate)),
                (format!("CHAPTER{n:03}NAME"), format!("Track {n}")),
            ]
        })
        .collect()
}

/// True for a chapter comment key: `CHAPTER` and digits, then nothing or a suffix such as `NAME`
/// (without case).
pub fn is_chapter_key(key: &str) -> bool {
    let k = key.as_bytes();
    k.len() > 7 && k[..7].eq_ignore_ascii_case(b"CHAPTER") && k[7].is_ascii_digit()
}

/// Where a file's markers came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Its CUESHEET block (sample-exact).
    Cuesheet,
    /// Its `CHAPTERnnn` comments (to the millisecond; no CUESHEET).
    Chapters,
    /// It has none.
    None,
}

impl Source {
    /// `cuesheet`, `chapters` or `none`, as `vinyl-rec tracks --json` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Source::Cuesheet => "cuesheet",
            Source::Chapters => "chapters",
            Source::None => "none",
        }
    }
}

/// A file's track markers and what they are relative to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Markers {
    /// Start of each track in samples from the file's first sample; empty when it has none.
    pub offsets: Vec<u64>,
    /// Samples (per channel) in the file, from STREAMINFO, e.g. 63504000 for 22 min at 48 kHz.
    pub total: u64,
    /// Sample rate in Hz, e.g. 48000.
    pub rate: u32,
    /// Where the offsets came from.
    pub source: Source,
}

/// Reads the markers of the FLAC file at `path`: from its CUESHEET block when it has one,
/// else from its `CHAPTERnnn` comments (in the order of their numbers, converted to the
/// nearest sample), else none.
pub fn read(path: &Path) -> anyhow::Result<Markers> {
    let shown = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("{shown}: open"))?;
    let metadata = meta::read(&file).with_context(|| format!("{shown}: read the FLAC metadata"))?;
    let info = probe::probe(path)?.info;
    let (total, rate) = (info.total_samples, info.sample_rate);
    if let Some(b) = metadata.blocks.iter().find(|b| b.kind == format::BLOCK_CUESHEET) {
        let d = decode(&b.body).with_context(|| format!("{shown}: read the CUESHEET"))?;
        return Ok(Markers { offsets: d.offsets, total, rate, source: Source::Cuesheet });
    }
    let comments = metadata
        .blocks
        .iter()
        .find(|b| b.kind == format::BLOCK_VORBIS_COMMENT)
        .and_then(|b| format::parse_vorbis_comment_lossy(&b.body).ok())
        .map(|(_, c)| c)
        .unwrap_or_default();
    let mut chapters: Vec<(u64, u64)> = comments
        .iter()
        .filter(|(k, _)| is_chapter_key(k) && k[7..].bytes().all(|c| c.is_ascii_digit()))
        .filter_map(|(k, v)| Some((k[7..].parse().ok()?, parse_chapter_time(v)?)))
        .collect();
    chapters.sort();
    let offsets: Vec<u64> =
        chapters.iter().map(|&(_, ms)| ((ms as u128 * rate as u128 + 500) / 1000) as u64).collect();
    let source = if offsets.is_empty() { Source::None } else { Source::Chapters };
    Ok(Markers { offsets, total, rate, source })
}

/// The track starts of the FLAC file at `path`, in samples ([`read`]); empty when it has none.
pub fn tracks(path: &Path) -> anyhow::Result<Vec<u64>> {
    Ok(read(path)?.offsets)
}

/// Marks tracks starting at `offsets` (samples from the file's first sample, increasing; 0 is
/// added when missing) in the finished FLAC file at `path`, in place: a CUESHEET block (replacing
/// any) and `CHAPTERnnn`/`CHAPTERnnnNAME` comments (replacing all earlier chapter comments), in
/// one write within the padding, then synced. The length and rate come from the file's
/// STREAMINFO. Returns the offsets written. Offsets count from the file's first sample, not on
/// the timeline: a `track_start` event at timeline frame F marks offset F − `VINYL_START_FRAME`.
///
/// Fails, leaving the file untouched, with one line naming the file and the step, when the file
/// is not a finished FLAC file (length unknown), the offsets break the rules of [`check`], or the
/// blocks do not fit in the padding. Another engineer's `vinyl-rec auto` calls this when it
/// finalises a side; `vinyl-rec tracks --set` when the user corrects the markers.
pub fn set_tracks(path: &Path, offsets: &[u64]) -> anyhow::Result<Vec<u64>> {
    let shown = path.display();
    let info = probe::probe(path)?.info;
    if info.total_samples == 0 {
        bail!("{shown}: the file's length is unknown (STREAMINFO says 0 samples): finish it first");
    }
    let offsets = check(offsets, info.total_samples).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let mut chapters = chapter_tags(&offsets, info.sample_rate);
    meta::edit_at(path, "write the track markers", |blocks| {
        meta::edit_comments(blocks, |c| {
            keep_names(c, &mut chapters);
            c.retain(|(k, _)| !is_chapter_key(k));
            c.extend(chapters);
        })?;
        // Before the comments: FFmpeg reads blocks in order and makes chapters of both; this
        // way round the comments' names stay (the other way, the CUESHEET's empty ISRC becomes
        // every chapter's title). Checked with ffprobe in tests/vinyl_rec.rs.
        meta::set_block(blocks, format::BLOCK_CUESHEET, None);
        let at = blocks.iter().position(|b| b.kind == format::BLOCK_VORBIS_COMMENT).unwrap_or(blocks.len());
        blocks.insert(
            at,
            meta::Block { kind: format::BLOCK_CUESHEET, body: encode(&offsets, info.total_samples) },
        );
        Ok(())
    })?;
    Ok(offsets)
}

/// Gives `chapters` (new markers, named `Track N`) the titles the file's comments already hold for
/// the same track numbers (`vinyl-library name` wrote them), so moving a marker keeps the names.
fn keep_names(comments: &[(String, String)], chapters: &mut [(String, String)]) {
    for (k, v) in chapters.iter_mut().filter(|(k, _)| k.ends_with("NAME")) {
        if let Some((_, old)) = comments.iter().find(|(c, _)| c.eq_ignore_ascii_case(k)) {
            v.clone_from(old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_markers_keep_the_names_of_their_track_numbers() {
        let old = vec![
            ("CHAPTER001NAME".to_string(), "So What".to_string()),
            ("chapter002name".into(), "Blue".into()),
        ];
        let mut new = chapter_tags(&[0, 1000, 2000], 1000);
        keep_names(&old, &mut new);
        let names: Vec<&str> =
            new.iter().filter(|(k, _)| k.ends_with("NAME")).map(|(_, v)| v.as_str()).collect();
        assert_eq!(names, ["So What", "Blue", "Track 3"]);
    }

    #[test]
    fn the_block_has_the_layout_of_the_format() {
        let b = encode(&[0, 1000], 5000);
        assert_eq!(b.len(), HEADER_LEN + 2 * (TRACK_LEN + INDEX_LEN) + TRACK_LEN);
        assert!(b[..395].iter().all(|&x| x == 0), "catalog, lead-in, flags: empty");
        assert_eq!(b[395], 3, "two tracks and the lead-out");
        let t2 = HEADER_LEN + TRACK_LEN + INDEX_LEN;
        assert_eq!(b[t2..t2 + 8], 1000u64.to_be_bytes());
        assert_eq!(b[t2 + 8], 2, "track number");
        assert_eq!(b[t2 + 35], 1, "one index point");
        assert_eq!(b[t2 + 36..t2 + 48], [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        let lo = t2 + TRACK_LEN + INDEX_LEN;
        assert_eq!(b[lo..lo + 8], 5000u64.to_be_bytes());
        assert_eq!((b[lo + 8], b[lo + 35]), (LEAD_OUT, 0));
        assert_eq!(decode(&b).unwrap(), Decoded { offsets: vec![0, 1000], lead_out: 5000 });
    }

    #[test]
    fn decoding_never_panics_on_a_cut_block() {
        let b = encode(&[0, 10, 20], 30);
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "{n} bytes");
        }
        let mut none = b.clone();
        none[395] = 0;
        assert!(decode(&none).is_err());
    }

    #[test]
    fn index_point_one_is_the_start_of_a_track() {
        // A CD-style track with a pregap: index 0 at +0, index 1 at +588.
        let mut b = vec![0u8; HEADER_LEN - 1];
        b.push(2);
        b.extend_from_slice(&100u64.to_be_bytes());
        b.push(1);
        b.extend_from_slice(&[0; 26]);
        b.push(2);
        b.extend_from_slice(&0u64.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(&588u64.to_be_bytes());
        b.extend_from_slice(&[1, 0, 0, 0]);
        b.extend_from_slice(&9999u64.to_be_bytes());
        b.push(170);
        b.extend_from_slice(&[0; 27]);
        assert_eq!(decode(&b).unwrap(), Decoded { offsets: vec![688], lead_out: 9999 });
    }

    #[test]
    fn markers_start_at_zero_increase_and_stay_inside() {
        assert_eq!(check(&[10, 20], 30), Ok(vec![0, 10, 20]));
        assert_eq!(check(&[0, 20], 30), Ok(vec![0, 20]));
        assert_eq!(check(&[], 30), Ok(vec![0]));
        assert!(check(&[20, 10], 30).unwrap_err().contains("sample 10 comes after sample 20"));
        assert!(check(&[0, 10, 10], 30).is_err());
        assert!(check(&[0, 30], 30).unwrap_err().contains("not before the end"));
        assert!(check(&[0], 0).is_err());
        let many: Vec<u64> = (0..255).collect();
        assert!(check(&many, 1000).unwrap_err().contains("254"));
        assert!(check(&many[..254], 1000).is_ok());
    }

    #[test]
    fn chapter_times_round_to_the_millisecond_and_parse_back() {
        assert_eq!(chapter_time(0, 48_000), "00:00:00.000");
        assert_eq!(chapter_time(9_240_000, 48_000), "00:03:12.500");
        assert_eq!(chapter_time(24, 48_000), "00:00:00.001", "half a millisecond rounds up");
        assert_eq!(chapter_time(48_000 * 3723 + 48 * 45, 48_000), "01:02:03.045");
        assert_eq!(parse_chapter_time("01:02:03.045"), Some(3_723_045));
        assert_eq!(parse_chapter_time("0:03:12.5"), Some(192_500));
        assert_eq!(parse_chapter_time("00:00:07"), Some(7000));
        assert_eq!(parse_chapter_time("00:00:01.23456"), Some(1234));
        for bad in ["", "1:2", "00:61:00.000", "a:00:00", "00:00:00.x", "0:0:0:0", "-1:00:00"] {
            assert_eq!(parse_chapter_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn chapter_keys_are_numbered_from_one() {
        let t = chapter_tags(&[0, 48_000], 48_000);
        let k: Vec<String> = t.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            k,
            [
                "CHAPTER001=00:00:00.000",
                "CHAPTER001NAME=Track 1",
                "CHAPTER002=00:00:01.000",
                "CHAPTER002NAME=Track 2"
            ]
        );
        assert!(is_chapter_key("chapter012name") && is_chapter_key("CHAPTER001"));
        assert!(!is_chapter_key("CHAPTER") && !is_chapter_key("CHAPTERS") && !is_chapter_key("TITLE"));
    }

    fn recording(dir: &Path, padding: usize, samples: u64) -> std::path::PathBuf {
        use crate::flac::{WriterOptions, tests::write_file};
        use crate::pcm::{PcmSpec, unique_frames};
        let path = dir.join("side.flac");
        let spec = PcmSpec::default();
        let opts =
            WriterOptions { tags: vec![("TITLE".into(), "Side A".into())], padding, ..Default::default() };
        write_file(&path, spec, &opts, &unique_frames(&spec, 0, samples));
        path
    }

    #[test]
    fn markers_are_written_in_place_replaced_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = recording(dir.path(), 8192, 100_000);
        let before = std::fs::read(&path).unwrap();
        assert_eq!(read(&path).unwrap().source, Source::None);
        assert_eq!(set_tracks(&path, &[48_000, 96_000]).unwrap(), [0, 48_000, 96_000]);
        let m = read(&path).unwrap();
        assert_eq!(
            (m.offsets, m.total, m.rate, m.source),
            (vec![0, 48_000, 96_000], 100_000, 48_000, Source::Cuesheet)
        );
        set_tracks(&path, &[0, 50_000]).unwrap();
        assert_eq!(tracks(&path).unwrap(), [0, 50_000]);
        let after = std::fs::read(&path).unwrap();
        assert_eq!(after.len(), before.len());
        let end = meta::read(&std::fs::File::open(&path).unwrap()).unwrap().end as usize;
        assert_eq!(after[end..], before[end..], "the audio is untouched");
        let tags = probe::probe(&path).unwrap().tags;
        let chapters: Vec<&(String, String)> = tags.iter().filter(|(k, _)| is_chapter_key(k)).collect();
        assert_eq!(chapters.len(), 4, "the old chapters are gone: {tags:?}");
        assert_eq!(probe::probe(&path).unwrap().tag("CHAPTER002"), Some("00:00:01.042"));
        assert_eq!(probe::probe(&path).unwrap().tag("TITLE"), Some("Side A"));
        // Without the CUESHEET, the chapters are read (to the nearest sample of their millisecond).
        let file = std::fs::File::options().read(true).write(true).open(&path).unwrap();
        meta::edit(&file, |b| {
            meta::set_block(b, format::BLOCK_CUESHEET, None);
            Ok(())
        })
        .unwrap();
        let m = read(&path).unwrap();
        assert_eq!((m.offsets, m.source), (vec![0, 50_016], Source::Chapters));
    }

    #[test]
    fn markers_that_do_not_fit_or_break_the_rules_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = recording(dir.path(), 600, 100_000);
        let before = std::fs::read(&path).unwrap();
        let err = format!("{:#}", set_tracks(&path, &[0, 10, 20, 30, 40]).unwrap_err());
        assert!(err.contains("side.flac: write the track markers: the new metadata needs"), "{err}");
        assert!(!err.contains('\n'));
        let err = format!("{:#}", set_tracks(&path, &[200_000]).unwrap_err());
        assert!(err.contains("side.flac: a marker at sample 200000"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
