//! Decoding a finished FLAC file block by block ([`super::frames`], vinyl's own frame decoder)
//! into interleaved samples scaled to ±1.0, for the readers that measure or fingerprint a file:
//! memory stays one block, whatever the length.
//!
//! Owns the decode loop and the scaling. It does not write anything or keep the samples. How it
//! fails: a file that cannot be opened or decoded (a corrupt or truncated frame, a frame whose
//! CRC-16 fails) is an error naming it, the step and the frame's first sample; what the callback
//! saw before the error stays seen.

use super::frames::{Block, FrameReader};
use anyhow::Context as _;
use std::path::Path;

/// The stream's shape, as STREAMINFO gives it.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Frames per second.
    pub rate: u32,
    /// Channels per frame.
    pub channels: u32,
}

/// Calls `each` with every block of `path` as interleaved f32 (first with the shape); `each`
/// returns false to stop early. `step` names the purpose in errors ("measure", "fingerprint").
pub fn each_block(
    path: &Path,
    step: &str,
    mut each: impl FnMut(Shape, &[f32]) -> anyhow::Result<bool>,
) -> anyhow::Result<Shape> {
    let shown = path.display();
    let mut reader = FrameReader::open(path).with_context(|| format!("{shown}: open to {step}"))?;
    let info = reader.info();
    let shape = Shape { rate: info.sample_rate, channels: u32::from(info.channels) };
    let scale = 1.0 / f64::from(1u32 << (info.bits_per_sample.clamp(4, 32) - 1)) as f32;
    let mut pcm = Vec::new();
    while let Some(block) = reader.next_block().with_context(|| format!("{shown}: decode to {step}"))? {
        interleave(&block, scale, &mut pcm);
        if !each(shape, &pcm)? {
            break;
        }
    }
    Ok(shape)
}

/// `block`'s samples, interleaved and scaled by `scale`, into `pcm`.
fn interleave(block: &Block, scale: f32, pcm: &mut Vec<f32>) {
    let channels = block.channels();
    pcm.clear();
    pcm.resize(block.len() * channels, 0.0);
    if channels == 2 {
        // The common case, without the stride.
        let frames = pcm.chunks_exact_mut(2).zip(block.channel(0).iter().zip(block.channel(1)));
        for (f, (l, r)) in frames {
            f[0] = *l as f32 * scale;
            f[1] = *r as f32 * scale;
        }
        return;
    }
    for c in 0..channels {
        for (out, s) in pcm[c..].iter_mut().step_by(channels).zip(block.channel(c)) {
            *out = *s as f32 * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flac::WriterOptions;
    use crate::pcm::{PcmSpec, SampleFormat};

    /// A stereo 16-bit file of `frames` frames whose samples are known: left n, right −n.
    fn ramp(dir: &Path, frames: usize, spec: PcmSpec) -> std::path::PathBuf {
        let path = dir.join("ramp.flac");
        let mut pcm = Vec::new();
        for n in 0..frames {
            let v = (n % 30_000) as i16;
            pcm.extend_from_slice(&v.to_le_bytes());
            pcm.extend_from_slice(&(-v).to_le_bytes());
        }
        crate::flac::tests::write_file(&path, spec, &WriterOptions::default(), &pcm);
        path
    }

    #[test]
    fn blocks_are_interleaved_scaled_and_can_stop_early() {
        let dir = tempfile::tempdir().unwrap();
        let spec = PcmSpec { format: SampleFormat::S16Le, ..PcmSpec::default() };
        let path = ramp(dir.path(), 10_000, spec);
        let mut all = Vec::new();
        let shape = each_block(&path, "test", |s, pcm| {
            assert_eq!((s.rate, s.channels), (48_000, 2));
            all.extend_from_slice(pcm);
            Ok(true)
        })
        .unwrap();
        assert_eq!((shape.rate, shape.channels), (48_000, 2));
        assert_eq!(all.len(), 20_000);
        for (n, f) in all.chunks(2).enumerate() {
            let v = (n % 30_000) as f32 / 32768.0;
            assert_eq!((f[0], f[1]), (v, -v), "frame {n}");
        }
        let mut calls = 0;
        each_block(&path, "test", |_, _| {
            calls += 1;
            Ok(false)
        })
        .unwrap();
        assert_eq!(calls, 1);
    }

    #[test]
    fn errors_name_the_file_the_step_and_the_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = ramp(dir.path(), 10_000, PcmSpec::default());
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1; // the last frame's CRC-16
        std::fs::write(&path, &bytes).unwrap();
        let e = format!("{:#}", each_block(&path, "measure", |_, _| Ok(true)).unwrap_err());
        assert!(e.contains("ramp.flac: decode to measure") && e.contains("frame at sample 8192"), "{e}");
        assert!(e.contains("CRC-16"), "{e}");
        let e = format!(
            "{:#}",
            each_block(&dir.path().join("none.flac"), "measure", |_, _| Ok(true)).unwrap_err()
        );
        assert!(e.contains("none.flac: open to measure"), "{e}");
    }
}
