//! The data behind a report's plots ([`super::plot`]): the side's level second by second with its
//! track markers, the noise floor's spectrum and a speed tone's deviation spectrum.
//!
//! Owns [`Series`], its building from a finished analysis ([`build`]) and its JSON shape, which
//! the collection keeps beside the report (under `series`) so the page draws a recording's plots
//! without reading its audio again. It does not analyse audio (the analyser's chunks and blocks
//! hold what it needs) nor draw. It cannot fail: what was not measured is empty.

use super::analyser::Analyser;
use super::side::quiet_chunks;
use super::spectrum::{THIRD_NOMINAL, THIRDS, third_hz};
use serde::{Deserialize, Serialize};

/// 100 ms blocks in a second of [`Series::level_dbfs`].
const BLOCKS_PER_S: usize = 10;

/// A report's plot data.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Series {
    /// The level of each second (dBFS RMS over the channels, 0.1 dB); null for a second of digital
    /// zeros (a journaled gap).
    pub level_dbfs: Vec<Option<f64>>,
    /// The track starts (s from the first frame): the FLAC's CUESHEET or chapters.
    pub markers_s: Vec<f64>,
    /// The noise floor's spectrum: `[Hz, dBFS]` a third-octave band (ISO 266 centres, one
    /// channel's level), over the quiet stretches; empty without a noise floor.
    pub noise_spectrum: Vec<[f64; 2]>,
    /// The speed tone's deviation spectrum: `[Hz, %]` (see [`super::wow::spectrum`]); empty without
    /// a speed tone of 2 s or more.
    pub wow_spectrum: Vec<[f64; 2]>,
}

impl Series {
    /// The plots this data draws ([`super::plot::KINDS`] with data).
    pub fn kinds(&self) -> Vec<&'static str> {
        let has = [
            self.level_dbfs.iter().any(Option::is_some),
            !self.noise_spectrum.is_empty(),
            !self.wow_spectrum.is_empty(),
        ];
        super::plot::KINDS.into_iter().zip(has).filter(|(_, h)| *h).map(|(k, _)| k).collect()
    }
}

fn db(ms: f64) -> f64 {
    10.0 * ms.log10()
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0 + 0.0
}

/// The series of a finished analysis whose noise floor is `noise` (dBFS, unrounded), with the
/// deviation spectrum of the speed tone the report measured.
pub fn build(a: &Analyser, noise: Option<f64>, speed_tone: Option<&super::analyser::Tone>) -> Series {
    Series {
        level_dbfs: a.levels.blocks.chunks(BLOCKS_PER_S).map(level).collect(),
        markers_s: Vec::new(),
        noise_spectrum: noise.map_or_else(Vec::new, |n| noise_spectrum(a, n)),
        wow_spectrum: speed_tone.map(|t| t.deviation.clone()).unwrap_or_default(),
    }
}

/// The level of a second of 100 ms blocks (their mean square), `None` when all are zeros.
fn level(blocks: &[Option<f64>]) -> Option<f64> {
    let heard: Vec<f64> = blocks.iter().flatten().copied().collect();
    let ms = heard.iter().sum::<f64>() / heard.len().max(1) as f64;
    (!heard.is_empty() && ms > 0.0).then(|| round1(db(ms)))
}

/// The third-octave spectrum of the quiet chunks of a side whose noise floor is `noise` dBFS.
fn noise_spectrum(a: &Analyser, noise: f64) -> Vec<[f64; 2]> {
    let quiet = quiet_chunks(&a.levels.blocks, &a.chunks, noise);
    if quiet.is_empty() {
        return Vec::new();
    }
    let per = (quiet.len() * a.channels.clamp(1, 2)) as f64;
    (0..THIRDS)
        .filter_map(|i| {
            let sum: f64 = quiet.iter().map(|&j| f64::from(a.chunks[j].thirds[i])).sum();
            (sum > 0.0 && third_hz(i) < f64::from(a.rate) / 2.0)
                .then(|| [THIRD_NOMINAL[i], round1(db(sum / per))])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testsig;
    use super::*;

    fn analyse(pcm: &[f32]) -> Analyser {
        let mut a = Analyser::new(48_000, 2, 16, 3150.0);
        a.feed(pcm);
        a.finish();
        a
    }

    #[test]
    fn the_level_is_one_value_a_second_and_a_gap_is_null() {
        // 2 s of a -20 dBFS RMS tone, 1 s of digital zeros, 2 s of the tone.
        let tone = testsig::fm_tone(440.0, -20.0 + 3.01, 0.0, 1.0, 2.0, -200.0, 48_000, 1);
        let mut x = testsig::stereo(&tone, &tone);
        x.extend(vec![0.0; 96_000]);
        x.extend(testsig::stereo(&tone, &tone));
        let s = build(&analyse(&x), None, None);
        assert_eq!(s.level_dbfs.len(), 5, "{s:?}");
        assert_eq!(s.level_dbfs[2], None, "{s:?}");
        for v in [0, 1, 3, 4].map(|i| s.level_dbfs[i].unwrap()) {
            assert!((v - (-20.0)).abs() <= 0.2, "{s:?}");
        }
        assert!(s.noise_spectrum.is_empty() && s.wow_spectrum.is_empty(), "{s:?}");
    }

    #[test]
    fn the_noise_spectrum_shows_hum_in_its_band_over_the_hiss() {
        // A side with a -60 dBFS noise floor plus -66 dBFS RMS of 50 Hz hum everywhere.
        let mut x = testsig::side(6.0, 3, 15.0, -60.0, 0, -24.0);
        let a50 = testsig::amp(-66.0 + 3.01);
        for (i, f) in x.chunks_mut(2).enumerate() {
            let v = (a50 * (2.0 * std::f64::consts::PI * 50.0 * i as f64 / 48_000.0).sin()) as f32;
            f[0] += v;
            f[1] += v;
        }
        let a = analyse(&x);
        let floor = super::super::side::measure(&a.levels.blocks, &a.chunks, 2).noise_floor_dbfs;
        let s = build(&a, floor, None);
        assert_eq!(s.noise_spectrum.len(), THIRDS, "{s:?}");
        let at = |hz: f64| s.noise_spectrum.iter().find(|p| p[0] == hz).map(|p| p[1]).unwrap();
        println!("noise spectrum: {:?}", s.noise_spectrum);
        // The hum's band holds its whole power; the bands beside it only the hiss's share.
        assert!((at(50.0) - (-66.0)).abs() <= 1.5, "50 Hz band {} dBFS", at(50.0));
        assert!(at(50.0) > at(200.0) + 15.0, "{:?}", s.noise_spectrum);
        // White hiss: each third octave up holds more power (3 dB an octave, 1 dB a band).
        assert!(at(8000.0) > at(1000.0) + 6.0, "{:?}", s.noise_spectrum);
    }
}
