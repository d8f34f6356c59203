//! Cutting a side into one FLAC file per track, bit-exact: decoding all the parts and joining
//! them gives exactly the side's samples.
//!
//! Owns the walk from the side's markers ([`super::cuesheet::read`]) to the parts: the side is
//! decoded block by block (claxon) and each block's samples go to the [`super::FlacWriter`] of the
//! track they belong to, so memory stays one FLAC block and one part's encoder whatever the
//! side's length. Owns the parts' default names (`STEM-01.flac`…, see [`part_names`]; a caller
//! may name them itself, [`split_named`]), their tags ([`part_tags`]: the track's own TITLE from
//! the side's chapter names) and the side's cover copied into each. It does not choose the folder
//! or print: that is `vinyl-rec split`.
//!
//! How it fails: before anything is written, a side without markers, of a sample format vinyl
//! does not write, or a part name that exists already, is an error naming the file. Once writing,
//! any failure (an unreadable frame, a full disk) removes the parts this call created, and the
//! error names the file and the step. The side itself is only read. The side's STREAMINFO MD5,
//! when set, is checked against the decoded samples: a side whose audio does not match it is an
//! error, and its parts are removed.

use super::loudness::Measurements;
use super::{FlacWriter, WriterOptions, cuesheet, probe};
use crate::listen::loudness::Loudness;
use crate::pcm::{PcmSpec, SampleFormat};
use anyhow::{Context as _, bail};
use flacenc::source::Fill as _;
use std::fs::File;
use std::path::{Path, PathBuf};

/// One file written by [`split`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Where it was written, e.g. `DIR/side-a-01.flac`.
    pub path: PathBuf,
    /// Its track number, from 1.
    pub number: usize,
    /// Its first sample in the side.
    pub offset: u64,
    /// Samples (per channel) it holds.
    pub samples: u64,
}

/// The names of the `count` parts of the side `side`, in `dir`: `STEM-01.flac`, `STEM-02.flac`…
/// (three digits past 99 tracks), STEM being the side's file name without `.flac`. A file name
/// holds no `/`, so a name never leaves `dir`.
pub fn part_names(side: &Path, dir: &Path, count: usize) -> Vec<PathBuf> {
    let name = side.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".flac").unwrap_or(&name);
    let width = if count > 99 { 3 } else { 2 };
    (1..=count).map(|n| dir.join(format!("{stem}-{n:0width$}.flac"))).collect()
}

/// The tags of track `number` of `total`, holding the side's samples `offset..offset + samples`,
/// from the side's tags: the same comments, but
/// - no chapter comments (`CHAPTERnnn…`: a part is one chapter), and the track's
///   `CHAPTERnnnNAME` as its `TITLE` (instead of the side's) when the side names it (a
///   `Track N` placeholder is not a name);
/// - `TRACKNUMBER` and `TRACKTOTAL` set;
/// - `VINYL_START_FRAME` moved on by `offset` and `VINYL_GAPS` cut to the part, offsets from the
///   part's first sample (both stay true on the one timeline; a `VINYL_GAPS` that cannot be read
///   is kept as it was); `VINYL_GAPS_TOTAL` (the side's list was incomplete) becomes a bound for
///   the part: its listed gaps plus every gap the side did not list, `:at-most`, or nothing when
///   the side listed every gap;
/// - `REPLAYGAIN_TRACK_GAIN`/`_PEAK`, measured on the whole side, renamed `REPLAYGAIN_ALBUM_*`:
///   the side's gain is the gain of the set of tracks it holds; the part's own `TRACK` gain and
///   peak (and `VINYL_LUFS`, `VINYL_TRUE_PEAK`, `VINYL_CLIPPED`) are measured on it as it is
///   written and set when it is finished.
pub fn part_tags(
    side: &[(String, String)],
    number: usize,
    total: usize,
    offset: u64,
    samples: u64,
) -> Vec<(String, String)> {
    let is = |k: &str, name: &str| k.eq_ignore_ascii_case(name);
    let mut tags = Vec::with_capacity(side.len() + 2);
    // The track's own title, when the side's chapters name it (`Track N` is a placeholder).
    let own = format!("CHAPTER{number:03}NAME");
    let placeholder = format!("Track {number}");
    let title = side
        .iter()
        .find(|(k, v)| is(k, &own) && !v.trim().is_empty() && v.trim() != placeholder)
        .map(|(_, v)| v.clone());
    for (k, v) in side {
        if cuesheet::is_chapter_key(k) || is(k, "TRACKNUMBER") || is(k, "TRACKTOTAL") {
            continue;
        }
        if is(k, "TITLE") && title.is_some() {
            continue;
        }
        let v = if is(k, "VINYL_START_FRAME") {
            v.parse::<u64>().map_or_else(|_| v.clone(), |f| (f + offset).to_string())
        } else if is(k, "VINYL_GAPS") {
            rebase_gaps(v, offset, samples).unwrap_or_else(|| v.clone())
        } else if is(k, "VINYL_GAPS_TOTAL") {
            let listed = side.iter().find(|(k, _)| is(k, "VINYL_GAPS")).map_or("", |(_, v)| v.as_str());
            match part_total(v, listed, offset, samples) {
                Some(Some(total)) => total,
                Some(None) => continue,
                None => v.clone(),
            }
        } else {
            v.clone()
        };
        let k = if is(k, "REPLAYGAIN_TRACK_GAIN") {
            "REPLAYGAIN_ALBUM_GAIN".to_string()
        } else if is(k, "REPLAYGAIN_TRACK_PEAK") {
            "REPLAYGAIN_ALBUM_PEAK".to_string()
        } else {
            k.clone()
        };
        tags.push((k, v));
    }
    if let Some(t) = title {
        tags.push(("TITLE".into(), t));
    }
    tags.push(("TRACKNUMBER".into(), number.to_string()));
    tags.push(("TRACKTOTAL".into(), total.to_string()));
    tags
}

/// The `VINYL_GAPS_TOTAL` of a part holding samples `offset..offset + len` of a side whose
/// `VINYL_GAPS_TOTAL` is `total` and `VINYL_GAPS` is `listed`: the part's listed gaps plus every
/// gap the side did not list (where they lie is unknown), `:at-most`; `Some(None)` when the side
/// listed every gap (the part's `VINYL_GAPS` is then complete); `None` when a value cannot be
/// read.
fn part_total(total: &str, listed: &str, offset: u64, len: u64) -> Option<Option<String>> {
    let (count, frames, _) = crate::ring::gaps::parse_total(total)?;
    let side = crate::ring::gaps::parse_tag(listed).ok()?;
    let unlisted =
        (count.checked_sub(side.len() as u64)?, frames.checked_sub(side.iter().map(|g| g.frames).sum())?);
    if unlisted.0 == 0 {
        return Some(None);
    }
    let part = crate::ring::gaps::parse_tag(&rebase_gaps(listed, offset, len)?).ok()?;
    let part_frames: u64 = part.iter().map(|g| g.frames).sum();
    Some(Some(format!("{}+{}:at-most", part.len() as u64 + unlisted.0, part_frames + unlisted.1)))
}

/// A `VINYL_GAPS` value cut to samples `offset..offset + len` of the file, relative to `offset`;
/// `None` when it cannot be read.
fn rebase_gaps(value: &str, offset: u64, len: u64) -> Option<String> {
    let gaps = crate::ring::gaps::parse_tag(value).ok()?;
    let items: Vec<String> = gaps
        .iter()
        .filter_map(|g| {
            let a = g.offset.max(offset);
            let b = (g.offset + g.frames).min(offset + len);
            (a < b).then(|| {
                format!(
                    "{}+{}:{}:{}",
                    a - offset,
                    b - a,
                    g.cause.name(),
                    if g.exact { "exact" } else { "estimated" }
                )
            })
        })
        .collect();
    Some(items.join(","))
}

/// The PCM shape of a side from its STREAMINFO: 16 or 24 bits, as vinyl records.
fn spec_of(info: &super::format::StreamInfoFields) -> anyhow::Result<PcmSpec> {
    let format = match info.bits_per_sample {
        16 => SampleFormat::S16Le,
        24 => SampleFormat::S24_3Le,
        b => bail!("{b}-bit audio: split handles the 16- and 24-bit files vinyl records"),
    };
    Ok(PcmSpec { rate: info.sample_rate, channels: info.channels as u16, format })
}

/// Writes one FLAC file per track of the side at `side` into `dir` (which must exist), named by
/// [`part_names`], tagged by [`part_tags`], at the default compression level with the default
/// padding; returns them in order. Refuses (before writing anything) a side without markers and
/// any part name that exists already: nothing is ever overwritten.
pub fn split(side: &Path, dir: &Path) -> anyhow::Result<Vec<Part>> {
    split_named(side, &|_, count| Ok(part_names(side, dir, count)))
}

/// [`split`], with the parts' paths chosen by `names` from the side's comments and its number of
/// tracks (their folders must exist).
pub fn split_named(side: &Path, names: &PartNames<'_>) -> anyhow::Result<Vec<Part>> {
    let shown = side.display();
    let markers = cuesheet::read(side)?;
    if markers.offsets.is_empty() {
        bail!("{shown}: no track markers (set them with vinyl-rec tracks {shown} --set …)");
    }
    let probed = probe::probe(side)?;
    let spec = spec_of(&probed.info).with_context(|| shown.to_string())?;
    let total = markers.total;
    if total == 0 {
        bail!("{shown}: the file's length is unknown (STREAMINFO says 0 samples): finish it first");
    }
    let offsets = cuesheet::check(&markers.offsets, total).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let names = names(&probed.tags, offsets.len())?;
    if let Some(p) = names.iter().find(|p| p.symlink_metadata().is_ok()) {
        bail!("{}: exists already (split never overwrites; remove it or use --into)", p.display());
    }
    let mut cutter = Cutter {
        spec,
        tags: &probed.tags,
        ends: offsets.iter().skip(1).copied().chain([total]).collect(),
        offsets: &offsets,
        names: &names,
        writer: None,
        created: 0,
        pos: 0,
        parts: Vec::with_capacity(offsets.len()),
        meter: None,
        samples: Vec::new(),
        pictures: pictures(side)?,
    };
    let result = decode_into(side, &probed.info, &mut cutter);
    if result.is_err() {
        drop(cutter.writer.take());
        for p in &names[..cutter.created] {
            let _ = std::fs::remove_file(p);
        }
    }
    result.map(|()| cutter.parts)
}

/// How [`split_named`] is told the parts' paths: from the side's comments and the number of tracks.
pub type PartNames<'a> = dyn Fn(&[(String, String)], usize) -> anyhow::Result<Vec<PathBuf>> + 'a;

/// The side's PICTURE blocks (its cover), which every part gets too.
fn pictures(side: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let f = File::open(side).with_context(|| format!("{}: open", side.display()))?;
    let m = super::meta::read(&f).with_context(|| format!("{}: read the metadata", side.display()))?;
    Ok(m.blocks.into_iter().filter(|b| b.kind == super::format::BLOCK_PICTURE).map(|b| b.body).collect())
}

/// Decodes the side block by block into `cutter`, then checks the samples against the MD5 of
/// its STREAMINFO (when set).
fn decode_into(
    side: &Path,
    info: &super::format::StreamInfoFields,
    cutter: &mut Cutter,
) -> anyhow::Result<()> {
    let shown = side.display();
    let total = info.total_samples;
    let spec = cutter.spec;
    let mut reader = claxon::FlacReader::open(side).with_context(|| format!("{shown}: open to decode"))?;
    let mut blocks = reader.blocks();
    let mut md5 = flacenc::source::Context::new(spec.format.bits() as usize, spec.channels as usize);
    let (mut pcm, mut buffer) = (Vec::new(), Vec::new());
    while cutter.pos < total {
        let pos = cutter.pos;
        let block = blocks
            .read_next_or_eof(std::mem::take(&mut buffer))
            .with_context(|| format!("{shown}: decode at sample {pos}"))?
            .with_context(|| {
                format!("{shown}: the audio ends at sample {pos}, before the {total} samples STREAMINFO says")
            })?;
        interleave(&block, spec, &mut pcm);
        md5.fill_le_bytes(&pcm, spec.format.bytes()).map_err(|e| anyhow::anyhow!("{shown}: MD5: {e}"))?;
        if !cutter.feed(&pcm)? {
            bail!("{shown}: the audio goes on past the {total} samples STREAMINFO says");
        }
        buffer = block.into_buffer();
    }
    if info.md5 != [0u8; 16] && md5.md5_digest() != info.md5 {
        bail!("{shown}: the decoded audio does not match the MD5 in STREAMINFO (a damaged file?)");
    }
    Ok(())
}

/// Sends the side's samples, in order, to the part each belongs to: opens a part at its first
/// sample, finalises it after its last.
struct Cutter<'a> {
    spec: PcmSpec,
    /// The side's comments.
    tags: &'a [(String, String)],
    /// First sample of each part, and the sample after its last.
    offsets: &'a [u64],
    ends: Vec<u64>,
    names: &'a [PathBuf],
    /// The part being written: number `parts.len() + 1`.
    writer: Option<FlacWriter<File>>,
    /// Parts created so far (and so to remove on failure): `names[..created]`.
    created: usize,
    /// The side's sample that comes next.
    pos: u64,
    /// The parts finished.
    parts: Vec<Part>,
    /// The current part's loudness (none when the meter refused the format: no track tags).
    meter: Option<Loudness>,
    /// Scratch: the current block as samples in ±1.0.
    samples: Vec<f32>,
    /// The side's PICTURE blocks, copied into each part.
    pictures: Vec<Vec<u8>>,
}

impl Cutter<'_> {
    /// Writes the whole frames `pcm`, which start at sample `pos`; false when they go on past the
    /// last part (what fits is written).
    fn feed(&mut self, mut pcm: &[u8]) -> anyhow::Result<bool> {
        let fb = self.spec.frame_bytes();
        while !pcm.is_empty() {
            let n = self.parts.len();
            if n == self.offsets.len() {
                return Ok(false);
            }
            if self.writer.is_none() {
                self.writer = Some(self.open(n)?);
            }
            let name = &self.names[n];
            let w = self.writer.as_mut().expect("opened above");
            let take = ((self.ends[n] - self.pos) as usize * fb).min(pcm.len());
            w.write_pcm(&pcm[..take]).with_context(|| format!("{}: write", name.display()))?;
            self.measure(&pcm[..take]);
            pcm = &pcm[take..];
            self.pos += (take / fb) as u64;
            if self.pos == self.ends[n] {
                let w = self.writer.take().expect("open");
                let s = w.finalize().with_context(|| format!("{}: finish", name.display()))?;
                let (path, offset) = (name.clone(), self.offsets[n]);
                self.tag_loudness(&path, s.samples)?;
                self.add_pictures(&path)?;
                self.parts.push(Part { path, number: n + 1, offset, samples: s.samples });
            }
        }
        Ok(true)
    }

    /// Adds whole frames of the current part to its loudness meter.
    fn measure(&mut self, pcm: &[u8]) {
        let format = self.spec.format;
        let scale = (1u32 << (format.bits() - 1)) as f32;
        self.samples.clear();
        self.samples.extend(pcm.chunks_exact(format.bytes()).map(|b| format.decode(b) as f32 / scale));
        if let Some(meter) = self.meter.as_mut() {
            meter.push_frames(&self.samples);
        }
    }

    /// Sets the finished part's own loudness tags (its ReplayGain track gain and peak), keeping
    /// the side's surface-noise measurements, which a part cannot improve on.
    fn tag_loudness(&mut self, path: &Path, samples: u64) -> anyhow::Result<()> {
        let Some(report) = self.meter.take().and_then(|mut m| m.finish(samples)) else { return Ok(()) };
        let side = |k: &str| {
            let v = self.tags.iter().find(|(t, _)| t.eq_ignore_ascii_case(k));
            v.and_then(|(_, v)| v.trim().parse::<f64>().ok())
        };
        let m = Measurements {
            integrated_lufs: report.integrated_lufs,
            true_peak_dbtp: report.true_peak_dbtp,
            noise_floor_dbfs: side("VINYL_NOISE_FLOOR"),
            clicks_per_min: side("VINYL_CLICKS_PER_MIN"),
            clipped: report.clipped,
        };
        super::loudness::write(path, &m)
    }

    /// Gives the finished part the side's cover (rewritten beside itself when the padding is
    /// too small, as `vinyl-library name` does).
    fn add_pictures(&self, path: &Path) -> anyhow::Result<()> {
        if self.pictures.is_empty() {
            return Ok(());
        }
        super::meta::edit_or_grow(path, |blocks| {
            for body in &self.pictures {
                blocks.push(super::meta::Block { kind: super::format::BLOCK_PICTURE, body: body.clone() });
            }
            Ok(())
        })
        .with_context(|| format!("{}: add the cover", path.display()))?;
        Ok(())
    }

    /// Creates part `n` (from 0), never replacing a file, and starts its FLAC stream.
    fn open(&mut self, n: usize) -> anyhow::Result<FlacWriter<File>> {
        let name = &self.names[n];
        let file = File::options()
            .write(true)
            .read(true)
            .create_new(true)
            .open(name)
            .with_context(|| format!("{}: create", name.display()))?;
        self.created = n + 1;
        let full_scale = 1i32 << (self.spec.format.bits() - 1);
        let mut meter = Loudness::new(self.spec.channels as usize, self.spec.rate, full_scale);
        self.meter = meter.start(0).is_ok().then_some(meter);
        let tags =
            part_tags(self.tags, n + 1, self.offsets.len(), self.offsets[n], self.ends[n] - self.offsets[n]);
        let opts = WriterOptions { tags, ..WriterOptions::default() };
        FlacWriter::new(file, self.spec, &opts).with_context(|| format!("{}: write", name.display()))
    }
}

/// The samples of `block` as interleaved little-endian PCM of `spec` in `out` (replaced).
pub(crate) fn interleave(block: &claxon::Block, spec: PcmSpec, out: &mut Vec<u8>) {
    out.clear();
    let bytes = spec.format.bytes();
    out.reserve(block.duration() as usize * spec.frame_bytes());
    for i in 0..block.duration() {
        for ch in 0..block.channels() {
            out.extend_from_slice(&block.sample(ch, i).to_le_bytes()[..bytes]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flac::tests::{flac_decode, tone, write_file};

    fn tags(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn names_are_numbered_inside_the_folder() {
        let n = part_names(Path::new("/rec/2026-11/side-a.flac"), Path::new("/out"), 3);
        assert_eq!(
            n,
            [
                Path::new("/out/side-a-01.flac"),
                Path::new("/out/side-a-02.flac"),
                Path::new("/out/side-a-03.flac")
            ]
        );
        assert_eq!(part_names(Path::new("x.flac"), Path::new("d"), 100)[99], Path::new("d/x-100.flac"));
        assert_eq!(part_names(Path::new("../../etc/x"), Path::new("d"), 1)[0], Path::new("d/x-01.flac"));
    }

    #[test]
    fn parts_keep_the_sides_tags_on_their_own_timeline() {
        let side = tags(&[
            ("TITLE", "Side A"),
            ("VINYL_START_FRAME", "1000"),
            ("VINYL_GAPS", "50+100:overrun:exact,500+10:suspend:estimated"),
            ("CHAPTER001", "00:00:00.000"),
            ("chapter001name", "Track 1"),
            ("REPLAYGAIN_TRACK_GAIN", "-3.20 dB"),
            ("REPLAYGAIN_TRACK_PEAK", "0.912011"),
            ("TRACKNUMBER", "9"),
            ("VINYL_LUFS", "-14.80"),
        ]);
        let t = part_tags(&side, 2, 3, 100, 300);
        assert_eq!(
            t,
            tags(&[
                ("TITLE", "Side A"),
                ("VINYL_START_FRAME", "1100"),
                ("VINYL_GAPS", "0+50:overrun:exact"),
                ("REPLAYGAIN_ALBUM_GAIN", "-3.20 dB"),
                ("REPLAYGAIN_ALBUM_PEAK", "0.912011"),
                ("VINYL_LUFS", "-14.80"),
                ("TRACKNUMBER", "2"),
                ("TRACKTOTAL", "3"),
            ])
        );
        assert_eq!(rebase_gaps("", 0, 10).unwrap(), "");
    }

    #[test]
    fn a_sides_gap_total_becomes_a_bound_for_each_part() {
        let side = |total: &str| {
            tags(&[
                ("VINYL_GAPS", "50+100:overrun:exact,500+10:suspend:estimated"),
                ("VINYL_GAPS_TOTAL", total),
            ])
        };
        // The side has 5 gaps (1110 frames); 3 of them (1000 frames) are not listed.
        let t = part_tags(&side("5+1110:exact"), 1, 2, 100, 300);
        assert_eq!(
            t[..2],
            tags(&[("VINYL_GAPS", "0+50:overrun:exact"), ("VINYL_GAPS_TOTAL", "4+1050:at-most")])
        );
        // Every gap listed: the part's list is complete, no total.
        let t = part_tags(&side("2+110:exact"), 1, 2, 100, 300);
        assert!(!t.iter().any(|(k, _)| k == "VINYL_GAPS_TOTAL"), "{t:?}");
        assert_eq!(part_tags(&side("junk"), 1, 2, 100, 300)[1].1, "junk", "kept when unreadable");
    }

    #[test]
    fn a_side_splits_into_parts_that_join_to_its_samples() {
        let dir = tempfile::tempdir().unwrap();
        let side = dir.path().join("side.flac");
        let spec = PcmSpec::default();
        let pcm = tone(&spec, 30_000);
        write_file(&side, spec, &WriterOptions::default(), &pcm);
        // No markers: refused, nothing written.
        let err = format!("{:#}", split(&side, dir.path()).unwrap_err());
        assert!(err.contains("no track markers"), "{err}");
        // Boundaries inside a block, on a block edge (4096) and one sample before the end.
        cuesheet::set_tracks(&side, &[0, 1000, 4096, 29_999]).unwrap();
        let parts = split(&side, dir.path()).unwrap();
        let lens: Vec<u64> = parts.iter().map(|p| p.samples).collect();
        assert_eq!(lens, [1000, 3096, 25_903, 1]);
        let mut joined = Vec::new();
        for p in &parts {
            joined.extend(flac_decode(&std::fs::read(&p.path).unwrap()));
        }
        assert!(joined == pcm, "the parts do not join to the side");
        // A second split refuses to overwrite, and leaves the parts as they are.
        let err = format!("{:#}", split(&side, dir.path()).unwrap_err());
        assert!(err.contains("side-01.flac: exists already"), "{err}");
        // A folder that cannot be written: the error names the part and the step.
        let err = format!("{:#}", split(&side, &dir.path().join("none")).unwrap_err());
        assert!(err.contains("none/side-01.flac: create"), "{err}");
        assert!(!dir.path().join("none").exists());
    }

    #[test]
    fn a_side_that_does_not_match_its_md5_leaves_no_parts() {
        let dir = tempfile::tempdir().unwrap();
        let side = dir.path().join("side.flac");
        let spec = PcmSpec::default();
        write_file(&side, spec, &WriterOptions::default(), &tone(&spec, 10_000));
        cuesheet::set_tracks(&side, &[0, 5000]).unwrap();
        let mut bytes = std::fs::read(&side).unwrap();
        let md5 = super::super::format::STREAMINFO_OFFSET as usize + 18;
        bytes[md5] ^= 1;
        std::fs::write(&side, bytes).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let err = format!("{:#}", split(&side, &out).unwrap_err());
        assert!(err.contains("side.flac: the decoded audio does not match the MD5"), "{err}");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "the parts are removed");
    }
}
