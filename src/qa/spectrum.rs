//! One spectrum every half second: what the analyser learns about a stretch from its frequencies.
//!
//! Owns the FFT (rustfft, 8192 points at 32 kHz and over, Hann window; both channels of a stereo
//! stretch in one complex transform) and what is read from it per channel: the power in the bands
//! the report uses (5–30 Hz rumble, 1–4 kHz, 10–20 kHz, everything from 20 Hz) and the strongest
//! peak (its frequency, parabolically interpolated, and the power within ±8 bins: ±47 Hz at
//! 48 kHz, room for a tone's wow). [`Bands::purity`] is the share of the power in that peak: a
//! test tone holds over 90 % of it, music and noise far less. Powers are mean squares, so a sine of
//! peak 1 reads 0.5 (−3 dBFS). It does not classify stretches (see [`super::analyser`]). It cannot
//! fail.

use rustfft::{Fft, FftPlanner, num_complex::Complex};
use std::sync::Arc;

/// Bins on each side of a peak counted as the peak.
const PEAK_BINS: usize = 8;

/// Third-octave bands read for the noise floor's spectrum: centres 1 kHz × 2^(k/3) for k from
/// −17 to 13 (20 Hz to 20 kHz, the ISO 266 series).
pub const THIRDS: usize = 31;

/// The bands' nominal centres (Hz), as ISO 266 names them.
pub const THIRD_NOMINAL: [f64; THIRDS] = [
    20.0, 25.0, 31.5, 40.0, 50.0, 63.0, 80.0, 100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0, 630.0,
    800.0, 1000.0, 1250.0, 1600.0, 2000.0, 2500.0, 3150.0, 4000.0, 5000.0, 6300.0, 8000.0, 10_000.0,
    12_500.0, 16_000.0, 20_000.0,
];

/// The exact centre of third-octave band `i` (Hz).
pub fn third_hz(i: usize) -> f64 {
    1000.0 * 2f64.powf((i as f64 - 17.0) / 3.0)
}

/// One channel's spectrum, read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bands {
    /// Mean square from 5 to 30 Hz (the bins above DC up to 30 Hz).
    pub rumble: f64,
    /// From 1 to 4 kHz.
    pub mid: f64,
    /// From 10 to 20 kHz (0 when the rate cannot hold it).
    pub hf: f64,
    /// From 20 Hz up.
    pub total: f64,
    /// The strongest peak's frequency (Hz).
    pub peak_hz: f64,
    /// Power within ±8 bins of the peak.
    pub peak: f64,
    /// The peak's bin.
    peak_bin: usize,
}

impl Bands {
    /// The share of the power (from 20 Hz) in the peak: 1.0 for a pure tone.
    pub fn purity(&self) -> f64 {
        if self.total > 0.0 { self.peak / self.total } else { 0.0 }
    }
}

/// The FFT and its buffers.
pub struct Spectrum {
    fft: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
    buf: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: [Vec<f64>; 2],
    rate: f64,
    scale: f64,
    /// Each third-octave band's bins (from, to), empty above the rate's Nyquist frequency.
    third_bins: [(usize, usize); THIRDS],
}

impl std::fmt::Debug for Spectrum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spectrum({} points)", self.window.len())
    }
}

impl Spectrum {
    /// A spectrum of `n` points (a power of two) at `rate` Hz.
    pub fn new(n: usize, rate: u32) -> Spectrum {
        let fft = FftPlanner::new().plan_fft_forward(n);
        let window: Vec<f32> = (0..n)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
            .collect();
        let sum_w2: f64 = window.iter().map(|w| f64::from(*w).powi(2)).sum();
        Spectrum {
            scratch: vec![Complex::default(); fft.get_inplace_scratch_len()],
            fft,
            buf: vec![Complex::default(); n],
            power: [vec![0.0; n / 2], vec![0.0; n / 2]],
            window,
            rate: f64::from(rate),
            scale: 2.0 / (n as f64 * sum_w2),
            third_bins: std::array::from_fn(|i| {
                let bin = |f: f64| ((f * n as f64 / f64::from(rate)).round() as usize).clamp(1, n / 2);
                let edge = 2f64.powf(1.0 / 6.0);
                (bin(third_hz(i) / edge), bin(third_hz(i) * edge))
            }),
        }
    }

    /// The last [`Spectrum::read`]'s power in each third-octave band, summed over the channels it
    /// read (mean squares).
    pub fn thirds(&self, channels: usize) -> [f32; THIRDS] {
        std::array::from_fn(|i| {
            let (a, b) = self.third_bins[i];
            let sum: f64 =
                self.power.iter().take(channels.clamp(1, 2)).map(|p| p[a..b].iter().sum::<f64>()).sum();
            sum as f32
        })
    }

    /// Points of the transform.
    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// Always false: a spectrum has points.
    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// The bands of the first one or two channels of the first [`Spectrum::len`] frames of
    /// interleaved `pcm` (`channels` a frame).
    pub fn read(&mut self, pcm: &[f32], channels: usize) -> Vec<Bands> {
        let n = self.len();
        let two = channels >= 2;
        for (i, (b, w)) in self.buf.iter_mut().zip(&self.window).enumerate() {
            let f = &pcm[i * channels..];
            *b = Complex::new(f[0] * w, if two { f[1] * w } else { 0.0 });
        }
        self.fft.process_with_scratch(&mut self.buf, &mut self.scratch);
        for k in 0..n / 2 {
            let x = self.buf[k];
            let y = self.buf[(n - k) % n].conj();
            let l = (x + y) * 0.5;
            let r = (x - y) * Complex::new(0.0, -0.5);
            self.power[0][k] = f64::from(l.norm_sqr()) * self.scale;
            self.power[1][k] = f64::from(r.norm_sqr()) * self.scale;
        }
        (0..if two { 2 } else { 1 }).map(|c| self.bands(c)).collect()
    }

    /// The bands of channel `c`'s power spectrum.
    fn bands(&self, c: usize) -> Bands {
        let p = &self.power[c];
        let hz = self.rate / self.len() as f64;
        let bin = |f: f64| ((f / hz).round() as usize).min(p.len());
        let sum = |a: usize, b: usize| p[a.min(b)..b].iter().sum::<f64>();
        let from = bin(20.0).max(1);
        let mut peak_bin = from.min(p.len() - 1);
        for (k, v) in p.iter().enumerate().skip(from) {
            if *v > p[peak_bin] {
                peak_bin = k;
            }
        }
        let mut out = Bands {
            rumble: sum(1, bin(30.0) + 1),
            mid: sum(bin(1000.0), bin(4000.0)),
            hf: if self.rate >= 40_000.0 { sum(bin(10_000.0), bin(20_000.0)) } else { 0.0 },
            total: sum(from, p.len()),
            peak_bin,
            ..Bands::default()
        };
        self.peak_in(c, peak_bin, &mut out);
        out
    }

    /// Fills `out`'s peak from channel `c`'s bins around `k`.
    fn peak_in(&self, c: usize, k: usize, out: &mut Bands) {
        let p = &self.power[c];
        let hz = self.rate / self.len() as f64;
        out.peak = p[k.saturating_sub(PEAK_BINS)..(k + PEAK_BINS + 1).min(p.len())].iter().sum();
        let at = |i: usize| p[i].max(1e-30).ln();
        let shift = if k > 0 && k + 1 < p.len() {
            let (a, b, g) = (at(k - 1), at(k), at(k + 1));
            let den = a - 2.0 * b + g;
            if den.abs() > 1e-12 { (0.5 * (a - g) / den).clamp(-0.5, 0.5) } else { 0.0 }
        } else {
            0.0
        };
        out.peak_hz = (k as f64 + shift) * hz;
    }

    /// Channel `c`'s power within ±8 bins of `other`'s peak (the leak of a tone into `c`).
    pub fn power_at(&self, c: usize, other: &Bands) -> f64 {
        let mut b = Bands::default();
        self.peak_in(c, other.peak_bin, &mut b);
        b.peak
    }
}

#[cfg(test)]
mod tests {
    use super::super::testsig;
    use super::*;

    #[test]
    fn a_tone_is_pure_and_found_at_its_frequency_and_level() {
        let l = testsig::fm_tone(3171.3, -10.0, 0.0, 1.0, 0.2, -70.0, 48_000, 1);
        let r = testsig::fm_tone(1000.0, -20.0, 0.0, 1.0, 0.2, -70.0, 48_000, 2);
        let mut s = Spectrum::new(8192, 48_000);
        let b = s.read(&testsig::stereo(&l, &r), 2);
        assert!((b[0].peak_hz - 3171.3).abs() < 1.0, "{:?}", b[0]);
        assert!((b[1].peak_hz - 1000.0).abs() < 1.0, "{:?}", b[1]);
        assert!(b[0].purity() > 0.99 && b[1].purity() > 0.99);
        let db = |p: f64| 10.0 * p.log10();
        assert!((db(b[0].peak) - (-13.01)).abs() < 0.05, "{}", db(b[0].peak));
        assert!((db(b[1].peak) - (-23.01)).abs() < 0.05, "{}", db(b[1].peak));
        assert!((db(b[0].mid) - (-13.01)).abs() < 0.05);
        assert!(db(s.power_at(0, &b[1])) < -60.0, "no 1 kHz in the left");
    }

    #[test]
    fn noise_is_not_pure_and_fills_its_bands() {
        let l = testsig::fm_tone(1000.0, -200.0, 0.0, 1.0, 0.2, -30.0, 48_000, 5);
        let mut s = Spectrum::new(8192, 48_000);
        let b = s.read(&l, 1);
        assert_eq!(b.len(), 1);
        assert!(b[0].purity() < 0.05, "{:?}", b[0]);
        // White noise: the 10-20 kHz band holds 10/3 of the 1-4 kHz band's power.
        let ratio = 10.0 * (b[0].hf / b[0].mid).log10();
        assert!((ratio - 5.23).abs() < 0.5, "{ratio}");
    }
}
