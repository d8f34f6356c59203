//! The loudness of a finished side's file, measured on the file itself: EBU R128 integrated
//! loudness and true peak (the `ebur128` crate, as `vinyl-listen` uses) over every sample the
//! file holds, decoded block by block with claxon (memory stays small for a 40-minute side).
//!
//! Why: the listener's side_report covers the side's frames and rounds to 0.1; the file covers
//! the side plus its margins. The ReplayGain tags describe the file a player plays, so they are
//! measured on it (an independent measurement, ffmpeg's ebur128 filter, agrees within 0.1 dB);
//! the noise floor and clicks stay the report's. How it fails: a file that cannot be decoded is an
//! error naming it; the caller then keeps the report's values.

use anyhow::{Context as _, anyhow};
use ebur128::{EbuR128, Mode};
use std::path::Path;

/// Integrated loudness (LUFS) and true peak (dBTP) of `path`; `None` for what is not measurable
/// (a file under the gates, digital silence).
pub fn file(path: &Path) -> anyhow::Result<(Option<f64>, Option<f64>)> {
    let shown = path.display();
    let mut reader = claxon::FlacReader::open(path).with_context(|| format!("{shown}: open to measure"))?;
    let info = reader.streaminfo();
    let (channels, rate, bits) = (info.channels, info.sample_rate, info.bits_per_sample);
    let mut meter = EbuR128::new(channels, rate, Mode::I | Mode::TRUE_PEAK)
        .map_err(|e| anyhow!("{shown}: loudness meter: {e:?}"))?;
    let scale = 1.0 / f64::from(1u32 << (bits - 1)) as f32;
    let mut blocks = reader.blocks();
    let (mut buffer, mut pcm) = (Vec::new(), Vec::new());
    while let Some(block) =
        blocks.read_next_or_eof(std::mem::take(&mut buffer)).with_context(|| format!("{shown}: decode"))?
    {
        pcm.clear();
        for i in 0..block.duration() {
            for c in 0..channels {
                pcm.push(block.sample(c, i) as f32 * scale);
            }
        }
        meter.add_frames_f32(&pcm).map_err(|e| anyhow!("{shown}: loudness meter: {e:?}"))?;
        buffer = block.into_buffer();
    }
    let finite = |v: f64| v.is_finite().then_some(v);
    let tp = (0..channels).filter_map(|c| meter.true_peak(c).ok()).fold(0.0, f64::max);
    Ok((meter.loudness_global().ok().and_then(finite), (tp > 0.0).then(|| 20.0 * tp.log10())))
}
