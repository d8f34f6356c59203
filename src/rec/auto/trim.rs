//! Cutting a finished side's file back to an exact sample, for an end the listener told later
//! than the tap's hold (the tap had written past it already).
//!
//! Owns [`trim`]: the file's first samples are decoded (claxon) and encoded again into a new file
//! beside it, with the same comments, which then replaces it; memory stays one FLAC block. It
//! runs only on that rare path, so the cost of encoding the side again is accepted for a file
//! that ends exactly. It does not choose the sample (see [`super::side`]) and does not add the
//! markers (they are written after it). How it fails: an unreadable file or a failed write is an
//! error naming the file and the step; the original is left as it was, the new file removed.

use crate::flac::{FlacWriter, WriterOptions, probe, split};
use crate::pcm::{PcmSpec, SampleFormat};
use anyhow::{Context as _, bail};
use std::fs::File;
use std::path::Path;

/// Keeps only the first `samples` samples of the FLAC file at `path` (nothing to do when it
/// holds no more than that).
pub fn trim(path: &Path, samples: u64) -> anyhow::Result<()> {
    let shown = path.display();
    let p = probe::probe(path)?;
    if p.info.total_samples <= samples {
        return Ok(());
    }
    let format = match p.info.bits_per_sample {
        16 => SampleFormat::S16Le,
        24 => SampleFormat::S24_3Le,
        b => bail!("{shown}: {b}-bit audio: only vinyl's 16- and 24-bit files are cut"),
    };
    let spec = PcmSpec { rate: p.info.sample_rate, channels: p.info.channels as u16, format };
    let tmp = path.with_extension("flac.trim");
    let result = write_first(path, &tmp, spec, samples, p.tags);
    match result.and_then(|()| std::fs::rename(&tmp, path).with_context(|| format!("{shown}: replace"))) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes the first `samples` samples of `from` to the new file `to`, tagged `tags`.
fn write_first(
    from: &Path,
    to: &Path,
    spec: PcmSpec,
    samples: u64,
    tags: Vec<(String, String)>,
) -> anyhow::Result<()> {
    let shown = from.display();
    let file = File::options()
        .write(true)
        .read(true)
        .create_new(true)
        .open(to)
        .with_context(|| format!("{}: create", to.display()))?;
    let opts = WriterOptions { tags, ..WriterOptions::default() };
    let mut w = FlacWriter::new(file, spec, &opts).with_context(|| format!("{}: write", to.display()))?;
    let mut reader = claxon::FlacReader::open(from).with_context(|| format!("{shown}: open to decode"))?;
    let mut blocks = reader.blocks();
    let (mut pos, mut pcm, mut buffer) = (0u64, Vec::new(), Vec::new());
    while pos < samples {
        let Some(block) = blocks
            .read_next_or_eof(std::mem::take(&mut buffer))
            .with_context(|| format!("{shown}: decode at sample {pos}"))?
        else {
            bail!("{shown}: the audio ends at sample {pos}, before {samples}");
        };
        let take = u64::from(block.duration()).min(samples - pos);
        split::interleave(&block, spec, &mut pcm);
        w.write_pcm(&pcm[..take as usize * spec.frame_bytes()])
            .with_context(|| format!("{}: write", to.display()))?;
        pos += take;
        buffer = block.into_buffer();
    }
    w.finalize().with_context(|| format!("{}: finish", to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flac::tests::{flac_decode, tone, write_file};

    #[test]
    fn a_file_is_cut_at_the_exact_sample_and_keeps_its_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("side.flac");
        let spec = PcmSpec::default();
        let pcm = tone(&spec, 20_000);
        let opts =
            WriterOptions { tags: vec![("VINYL_START_FRAME".into(), "480000".into())], ..Default::default() };
        write_file(&path, spec, &opts, &pcm);
        trim(&path, 12_345).unwrap();
        let p = probe::probe(&path).unwrap();
        assert_eq!(p.info.total_samples, 12_345);
        assert_eq!(p.tag("VINYL_START_FRAME"), Some("480000"));
        assert!(flac_decode(&std::fs::read(&path).unwrap()) == pcm[..12_345 * 4], "bit-exact to the cut");
        trim(&path, 20_000).unwrap();
        assert_eq!(probe::probe(&path).unwrap().info.total_samples, 12_345, "never longer");
        assert!(!dir.path().join("side.flac.trim").exists());
    }
}
