//! Decoding a finished FLAC file block by block (claxon) into interleaved samples scaled to ±1.0,
//! for the readers that measure or fingerprint a file: memory stays one block, whatever the length.
//!
//! Owns the decode loop and the scaling. It does not write anything or keep the samples. How it
//! fails: a file that cannot be opened or decoded is an error naming it and the step; what the
//! callback saw before the error stays seen.

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
    let mut reader = claxon::FlacReader::open(path).with_context(|| format!("{shown}: open to {step}"))?;
    let info = reader.streaminfo();
    let shape = Shape { rate: info.sample_rate, channels: info.channels };
    let scale = 1.0 / f64::from(1u32 << (info.bits_per_sample.clamp(4, 32) - 1)) as f32;
    let mut blocks = reader.blocks();
    let (mut buffer, mut pcm) = (Vec::new(), Vec::new());
    while let Some(block) = blocks
        .read_next_or_eof(std::mem::take(&mut buffer))
        .with_context(|| format!("{shown}: decode to {step}"))?
    {
        pcm.clear();
        for i in 0..block.duration() {
            for c in 0..shape.channels {
                pcm.push(block.sample(c, i) as f32 * scale);
            }
        }
        if !each(shape, &pcm)? {
            break;
        }
        buffer = block.into_buffer();
    }
    Ok(shape)
}
