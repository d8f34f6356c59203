//! The loudness of a finished side's file, measured on the file itself: EBU R128 integrated
//! loudness and true peak (the `ebur128` crate, as `vinyl-listen` uses) over every sample the
//! file holds, decoded block by block ([`crate::flac::decode`]) (memory stays small for a 40-minute side).
//!
//! Why: the listener's side_report covers the side's frames and rounds to 0.1; the file covers
//! the side plus its margins. The ReplayGain tags describe the file a player plays, so they are
//! measured on it (an independent measurement, ffmpeg's ebur128 filter, agrees within 0.1 dB);
//! the noise floor and clicks stay the report's. How it fails: a file that cannot be decoded is an
//! error naming it; the caller then keeps the report's values.

use crate::flac::decode;
use anyhow::anyhow;
use ebur128::{EbuR128, Mode};
use std::path::Path;

/// Integrated loudness (LUFS) and true peak (dBTP) of `path`; `None` for what is not measurable
/// (a file under the gates, digital silence).
pub fn file(path: &Path) -> anyhow::Result<(Option<f64>, Option<f64>)> {
    let shown = path.display();
    let mut meter: Option<EbuR128> = None;
    decode::each_block(path, "measure", |shape, pcm| {
        if meter.is_none() {
            let m = EbuR128::new(shape.channels, shape.rate, Mode::I | Mode::TRUE_PEAK)
                .map_err(|e| anyhow!("{shown}: loudness meter: {e:?}"))?;
            meter = Some(m);
        }
        if let Some(m) = meter.as_mut() {
            m.add_frames_f32(pcm).map_err(|e| anyhow!("{shown}: loudness meter: {e:?}"))?;
        }
        Ok(true)
    })?;
    let Some(meter) = meter else { return Ok((None, None)) };
    let finite = |v: f64| v.is_finite().then_some(v);
    let channels = meter.channels();
    let tp = (0..channels).filter_map(|c| meter.true_peak(c).ok()).fold(0.0, f64::max);
    Ok((meter.loudness_global().ok().and_then(finite), (tp > 0.0).then(|| 20.0 * tp.log10())))
}
