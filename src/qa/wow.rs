//! Speed and wow and flutter from a steady test tone (3150 Hz on most test records): the tone's
//! instantaneous frequency ([`Demodulator`]) and the figures read from it ([`measure`]).
//!
//! The detector is a complex demodulator: the tone is mixed down by its approximate frequency
//! (the spectrum's peak, [`super::spectrum`]), low-passed by a Blackman-windowed sinc (3 × the
//! decimation + 1 taps, cut at 190 Hz) and decimated to about 1 kHz; the instantaneous frequency
//! is the phase step between successive outputs. Its mean over the tone gives the speed (exact to
//! the phase, whatever the frequency the mixing assumed); its deviation from that mean, relative,
//! is read through the IEC 60386 / DIN 45507 / AES6 weighting ([`super::filters::weighting`]) for
//! the weighted figure, as the two-sigma value (the level |deviation| exceeds 5 % of the time:
//! 0.997 × the peak for a sinusoidal deviation); unweighted (above 0.2 Hz) as the peak (its 99.9th
//! percentile, so a lone click on the tone does not read as flutter); and split at 6 Hz (4th-order
//! Butterworth) into wow and flutter, each as its two-sigma value. The first and last 0.5 s of a
//! tone are left out (the stylus may be landing or the track ending), and the filters' first 4 s.
//!
//! It does not find the tone (the analyser does, by its spectrum). It cannot fail; a tone too
//! short to measure gives `None` (under 2 s) or a speed without wow and flutter (under 7 s).

use super::filters::{self, Cascade};
use std::f64::consts::PI;

/// The decimated rate the instantaneous frequency is sampled at (Hz, about).
pub const IF_RATE: f64 = 1000.0;
/// Left out at each end of a tone (s).
const TRIM_S: f64 = 0.5;
/// The filters' settling (the 0.2 Hz high-pass's, five time constants), left out of the
/// wow-and-flutter statistics (s).
const SETTLE_S: f64 = 4.0;
/// Wow and flutter need this much after the trims and the settling (s).
const MIN_STATS_S: f64 = 2.0;
/// The split between wow and flutter (Hz).
pub const WOW_SPLIT_HZ: f64 = 6.0;
/// The unweighted figures' high-pass (Hz): below it is drift, not wow.
pub const UNWEIGHTED_HP_HZ: f64 = 0.2;
/// The unweighted figures' low-pass (Hz): the standard's unweighted band ends at 200 Hz.
pub const UNWEIGHTED_LP_HZ: f64 = 200.0;

/// Samples mixed from one oscillator value (each by its own power of the step), so that the
/// multiplications are independent and vectorise, instead of a chain one sample long.
const LANES: usize = 8;

/// The complex product of `a` and `b`.
fn mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

/// The instantaneous frequency of a tone near `f0`, fed sample by sample.
#[derive(Debug)]
pub struct Demodulator {
    f0: f64,
    decimation: usize,
    taps: Vec<f64>,
    osc: (f64, f64),
    /// The oscillator's steps: `rots[k]` turns it by `k` samples, 0 to [`LANES`].
    rots: [(f64, f64); LANES + 1],
    /// The samples being mixed.
    scratch: Vec<f64>,
    /// The mixed-down samples not yet consumed, interleaved (re, im).
    mixed: Vec<f64>,
    prev: Option<(f64, f64)>,
    /// The instantaneous frequency (Hz), one value every `decimation` input samples.
    pub freqs: Vec<f64>,
}

impl Demodulator {
    /// A detector for a tone near `f0` Hz in audio at `rate` Hz.
    pub fn new(f0: f64, rate: u32) -> Demodulator {
        let fs = f64::from(rate);
        let decimation = ((fs / IF_RATE).round() as usize).max(1);
        let n = 4 * decimation + 1;
        let fc = 200.0 / fs;
        let mut taps: Vec<f64> = (0..n)
            .map(|i| {
                let m = i as f64 - (n - 1) as f64 / 2.0;
                let sinc = if m == 0.0 { 2.0 * fc } else { (2.0 * PI * fc * m).sin() / (PI * m) };
                let w = 2.0 * PI * i as f64 / (n - 1) as f64;
                sinc * (0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos())
            })
            .collect();
        let sum: f64 = taps.iter().sum();
        taps.iter_mut().for_each(|t| *t /= sum);
        let w = 2.0 * PI * f0 / fs;
        Demodulator {
            f0,
            decimation,
            taps,
            osc: (1.0, 0.0),
            rots: std::array::from_fn(|k| ((k as f64 * w).cos(), -(k as f64 * w).sin())),
            scratch: Vec::new(),
            mixed: Vec::new(),
            prev: None,
            freqs: Vec::new(),
        }
    }

    /// The rate of [`Demodulator::freqs`] (Hz).
    pub fn if_rate(&self, rate: u32) -> f64 {
        f64::from(rate) / self.decimation as f64
    }

    /// Feeds samples of the tone's channel.
    pub fn feed(&mut self, samples: impl Iterator<Item = f32>, rate: u32) {
        self.scratch.clear();
        self.scratch.extend(samples.map(f64::from));
        let start = self.mixed.len();
        self.mixed.resize(start + 2 * self.scratch.len(), 0.0);
        let (rots, mut osc) = (self.rots, self.osc);
        let mut xs = self.scratch.chunks_exact(LANES);
        let mut out = self.mixed[start..].chunks_exact_mut(2 * LANES);
        for (x, o) in (&mut xs).zip(&mut out) {
            for k in 0..LANES {
                let (c, s) = mul(osc, rots[k]);
                (o[2 * k], o[2 * k + 1]) = (x[k] * c, x[k] * s);
            }
            osc = mul(osc, rots[LANES]);
        }
        let rest = xs.remainder();
        for (k, (x, o)) in rest.iter().zip(out.into_remainder().chunks_exact_mut(2)).enumerate() {
            let (c, s) = mul(osc, rots[k]);
            (o[0], o[1]) = (x * c, x * s);
        }
        self.osc = mul(osc, rots[rest.len()]);
        let norm = self.osc.0.hypot(self.osc.1);
        self.osc = (self.osc.0 / norm, self.osc.1 / norm);
        let fs_d = self.if_rate(rate);
        let mut pos = 0;
        while 2 * (pos + self.taps.len()) <= self.mixed.len() {
            let z = dot(&self.taps, &self.mixed[2 * pos..]);
            if let Some(p) = self.prev {
                let step = (z.1 * p.0 - z.0 * p.1).atan2(z.0 * p.0 + z.1 * p.1);
                self.freqs.push(self.f0 + step * fs_d / (2.0 * PI));
            }
            self.prev = Some(z);
            pos += self.decimation;
        }
        self.mixed.drain(..2 * pos);
    }
}

/// The complex sum of `taps` (symmetric: a linear-phase filter) times the interleaved (re, im)
/// `mixed`: each pair of samples a tap apart from both ends is added first, halving the
/// multiplications, in lanes of 4 so the compiler vectorises it.
fn dot(taps: &[f64], mixed: &[f64]) -> (f64, f64) {
    let n = taps.len();
    let half = n / 2;
    let (head, tail) = (&mixed[..2 * half], &mixed[2 * (n - half)..2 * n]);
    let mut acc = [0f64; 4];
    let pairs = half / 2 * 2;
    for (i, t) in taps[..pairs].chunks_exact(2).enumerate() {
        let (a, b) = (2 * i, 2 * i + 1);
        let (ra, rb) = (half - 1 - a, half - 1 - b);
        acc[0] += t[0] * (head[2 * a] + tail[2 * ra]);
        acc[1] += t[0] * (head[2 * a + 1] + tail[2 * ra + 1]);
        acc[2] += t[1] * (head[2 * b] + tail[2 * rb]);
        acc[3] += t[1] * (head[2 * b + 1] + tail[2 * rb + 1]);
    }
    let mut z = (acc[0] + acc[2], acc[1] + acc[3]);
    for (i, t) in taps.iter().enumerate().take(half).skip(pairs) {
        let r = half - 1 - i;
        z = (z.0 + t * (head[2 * i] + tail[2 * r]), z.1 + t * (head[2 * i + 1] + tail[2 * r + 1]));
    }
    if n % 2 == 1 {
        z = (z.0 + taps[half] * mixed[2 * half], z.1 + taps[half] * mixed[2 * half + 1]);
    }
    z
}

/// What a tone's instantaneous frequency says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flutter {
    /// The tone's mean frequency (Hz), e.g. 3151.2.
    pub mean_hz: f64,
    /// Seconds of tone measured (after the trims).
    pub seconds: f64,
    /// Weighted wow and flutter, two-sigma (%), e.g. 0.06; `None` for a tone under 7 s.
    pub weighted_pct: Option<f64>,
    /// Unweighted peak (%).
    pub unweighted_pct: Option<f64>,
    /// Unweighted two-sigma below 6 Hz (%).
    pub wow_pct: Option<f64>,
    /// Unweighted two-sigma above 6 Hz (%).
    pub flutter_pct: Option<f64>,
}

/// Speed and wow and flutter from `freqs`, a tone's instantaneous frequency at `fs_d` Hz.
pub fn measure(freqs: &[f64], fs_d: f64) -> Option<Flutter> {
    let trim = (TRIM_S * fs_d).round() as usize;
    if freqs.len() < 2 * trim + fs_d as usize {
        return None;
    }
    let f = &freqs[trim..freqs.len() - trim];
    let mean_hz = f.iter().sum::<f64>() / f.len() as f64;
    let mut out = Flutter {
        mean_hz,
        seconds: f.len() as f64 / fs_d,
        weighted_pct: None,
        unweighted_pct: None,
        wow_pct: None,
        flutter_pct: None,
    };
    let settle = (SETTLE_S * fs_d) as usize;
    if f.len() < settle + (MIN_STATS_S * fs_d) as usize {
        return Some(out);
    }
    let dev: Vec<f64> = f.iter().map(|v| v / mean_hz - 1.0).collect();
    let hp = || {
        filters::butterworth(UNWEIGHTED_HP_HZ, 2, fs_d, true).then(filters::butterworth(
            UNWEIGHTED_LP_HZ,
            4,
            fs_d,
            false,
        ))
    };
    let through = |c: Cascade| -> Vec<f64> {
        let mut c = c;
        // The settling values run through the filter and are dropped: one vector, not two.
        dev[..settle].iter().for_each(|&d| {
            c.run(d);
        });
        dev[settle..].iter().map(|&d| c.run(d).abs() * 100.0).collect()
    };
    out.weighted_pct = Some(percentile(through(filters::weighting(fs_d)), 0.95));
    out.unweighted_pct = Some(percentile(through(hp()), 0.999));
    out.wow_pct =
        Some(percentile(through(hp().then(filters::butterworth(WOW_SPLIT_HZ, 4, fs_d, false))), 0.95));
    out.flutter_pct =
        Some(percentile(through(hp().then(filters::butterworth(WOW_SPLIT_HZ, 4, fs_d, true))), 0.95));
    Some(out)
}

/// The deviation spectrum's longest transform (about 8 s at 1 kHz: 0.12 Hz between bins).
const SPECTRUM_POINTS: usize = 8192;
/// Its shortest (about 1 s).
const SPECTRUM_MIN_POINTS: usize = 1024;

/// The spectrum of a tone's speed deviation, for the wow-and-flutter plot: `[Hz, %]` pairs, the
/// deviation's peak amplitude (% of the mean frequency) at sixth-octave steps from 0.2 to 200 Hz
/// (the strongest transform bin within each step). Welch's method: Hann-windowed transforms of
/// up to `SPECTRUM_POINTS`, overlapping by half, their powers averaged, so a sinusoidal speed
/// change of peak d reads d at its rate (within the Hann window's scalloping, at most 15 % low).
/// Empty for a tone too short (under about 2 s after the trims).
pub fn spectrum(freqs: &[f64], fs_d: f64) -> Vec<[f64; 2]> {
    let trim = (TRIM_S * fs_d).round() as usize;
    if freqs.len() < 2 * trim + SPECTRUM_MIN_POINTS {
        return Vec::new();
    }
    let f = &freqs[trim..freqs.len() - trim];
    let mean = f.iter().sum::<f64>() / f.len() as f64;
    let n = SPECTRUM_POINTS.min(1 << f.len().ilog2());
    // f32, as the analyser's spectrum: one FFT type linked (rustfft's code for each float type
    // is over half a megabyte); a deviation of 1e-5 of the speed is still 100 times f32's step.
    let fft = rustfft::FftPlanner::<f32>::new().plan_fft_forward(n);
    let window: Vec<f64> = (0..n).map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos()).collect();
    let mut power = vec![0.0; n / 2];
    let mut segments = 0;
    for start in (0..=f.len() - n).step_by(n / 2) {
        let mut buf: Vec<rustfft::num_complex::Complex<f32>> = f[start..start + n]
            .iter()
            .zip(&window)
            .map(|(v, w)| rustfft::num_complex::Complex::new(((v / mean - 1.0) * w) as f32, 0.0))
            .collect();
        fft.process(&mut buf);
        for (p, x) in power.iter_mut().zip(&buf) {
            *p += f64::from(x.norm_sqr());
        }
        segments += 1;
    }
    let gain = window.iter().sum::<f64>() / 2.0;
    let amp = |k: usize| (power[k] / f64::from(segments)).sqrt() / gain * 100.0;
    let hz = fs_d / n as f64;
    let step = 2f64.powf(1.0 / 12.0);
    (0..=60)
        .map(|k| 0.2 * 2f64.powf(f64::from(k) / 6.0))
        .filter(|c| *c <= UNWEIGHTED_LP_HZ * step)
        .filter_map(|c| {
            let (a, b) =
                (((c / step / hz).ceil() as usize).max(1), ((c * step / hz).ceil() as usize).min(n / 2));
            let top = (a..b).map(amp).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))?;
            Some([(c * 1000.0).round() / 1000.0, (top * 1e5).round() / 1e5])
        })
        .collect()
}

/// The `q` quantile (0..1) of `v` (the nearest rank).
pub fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let k = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    *v.select_nth_unstable_by(k, f64::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::super::testsig;
    use super::*;

    /// The tone's figures, detected from synthetic `x` at 48 kHz.
    fn detect(x: &[f32], f0: f64) -> Flutter {
        let mut d = Demodulator::new(f0, 48_000);
        for chunk in x.chunks(24_000) {
            d.feed(chunk.iter().copied(), 48_000);
        }
        measure(&d.freqs, d.if_rate(48_000)).unwrap()
    }

    #[test]
    fn speed_is_within_0_01_pct_of_the_tones() {
        for (err, noise_db) in [(0.0, -60.0), (1.0, -50.0), (-2.3, -60.0), (0.37, -40.0), (3.0, -50.0)] {
            let f = 3150.0 * (1.0 + err / 100.0);
            let x = testsig::fm_tone(f, -10.0, 0.0, 1.0, 8.0, noise_db, 48_000, 7);
            // The mixing frequency is the spectrum's rough guess: off by a few Hz.
            let got = detect(&x, f + 2.7);
            let measured = (got.mean_hz / 3150.0 - 1.0) * 100.0;
            println!(
                "speed {err:+.2} % (noise {noise_db} dBFS): measured {measured:+.5} %, off {:+.5}",
                measured - err
            );
            assert!((measured - err).abs() <= 0.01, "{err} %: measured {measured:.4} %");
        }
    }

    #[test]
    fn the_folded_dot_is_the_plain_sum() {
        for n in [1usize, 2, 3, 4, 5, 9, 193] {
            let d = Demodulator::new(3150.0, 48_000);
            // Symmetric taps of length n, and any samples.
            let taps: Vec<f64> = (0..n).map(|i| 1.0 + (i.min(n - 1 - i) as f64).sin()).collect();
            let mixed: Vec<f64> = (0..2 * n + 6).map(|i| ((i * 7919) % 113) as f64 / 50.0 - 1.0).collect();
            let plain = taps
                .iter()
                .enumerate()
                .fold((0.0, 0.0), |z, (i, t)| (z.0 + t * mixed[2 * i], z.1 + t * mixed[2 * i + 1]));
            let got = dot(&taps, &mixed);
            assert!(
                (got.0 - plain.0).abs() < 1e-9 && (got.1 - plain.1).abs() < 1e-9,
                "{n}: {got:?} {plain:?}"
            );
            assert!(d.taps.iter().zip(d.taps.iter().rev()).all(|(a, b)| (a - b).abs() < 1e-15), "symmetric");
        }
    }

    #[test]
    fn the_deviation_spectrum_peaks_at_the_wows_rate_and_depth() {
        for (rate, depth) in [(0.5, 0.2), (4.0, 0.1), (12.0, 0.05), (20.0, 0.3)] {
            let x = testsig::fm_tone(3150.0, -10.0, depth, rate, 12.0, -60.0, 48_000, 3);
            let mut d = Demodulator::new(3152.0, 48_000);
            d.feed(x.iter().copied(), 48_000);
            let s = spectrum(&d.freqs, d.if_rate(48_000));
            let top = s.iter().copied().max_by(|a, b| a[1].total_cmp(&b[1])).unwrap();
            println!("FM {rate} Hz, {depth} %: spectrum peaks at {} Hz, {} %", top[0], top[1]);
            assert!((top[0] / rate).log2().abs() <= 1.0 / 6.0, "{rate} Hz: peak at {top:?}");
            assert!((0.85 * depth..=1.05 * depth).contains(&top[1]), "{depth} %: peak {top:?}");
            // Away from the rate (two octaves), the spectrum is the noise's, far under it.
            let far =
                s.iter().filter(|p| (p[0] / rate).log2().abs() >= 2.0).map(|p| p[1]).fold(0.0, f64::max);
            assert!(far < depth / 10.0, "{rate} Hz: {far} % two octaves away");
        }
        assert!(spectrum(&[3150.0; 1500], 1000.0).is_empty(), "1.5 s of tone has no spectrum");
    }

    /// (rate Hz, peak deviation %) across 0.5–20 Hz and 0.02–0.5 %.
    const FM: [(f64, f64); 10] = [
        (0.5, 0.1),
        (0.8, 0.5),
        (1.0, 0.05),
        (2.0, 0.02),
        (4.0, 0.02),
        (4.0, 0.3),
        (6.3, 0.1),
        (10.0, 0.05),
        (15.0, 0.2),
        (20.0, 0.03),
    ];

    #[test]
    fn weighted_wow_and_flutter_is_within_10_pct_of_the_known_fm() {
        for (rate, dev) in FM {
            let x = testsig::fm_tone(3150.0, -10.0, dev, rate, 20.0, -60.0, 48_000, 11);
            let got = detect(&x, 3148.0);
            let want = 0.997 * dev * filters::weighting_analog(rate);
            let w = got.weighted_pct.unwrap();
            println!(
                "weighted {rate} Hz {dev} %: {w:.5} %, want {want:.5} %, off {:+.1} %",
                (w / want - 1.0) * 100.0
            );
            assert!((w / want - 1.0).abs() <= 0.10, "{rate} Hz {dev} %: weighted {w:.4} %, want {want:.4} %");
        }
    }

    #[test]
    fn unweighted_wow_and_flutter_split_at_6_hz_within_10_pct() {
        for (rate, dev) in FM {
            // A peak reads the noise too: the tone 60 dB over white noise here (at 50 dB, a
            // 0.02 % deviation reads about 13 % high).
            let x = testsig::fm_tone(3150.0, -10.0, dev, rate, 20.0, -70.0, 48_000, 13);
            let got = detect(&x, 3151.0);
            let hp = filters::butterworth_analog(rate, UNWEIGHTED_HP_HZ, 2, true);
            let peak = got.unweighted_pct.unwrap();
            let wow = 0.997 * dev * hp * filters::butterworth_analog(rate, WOW_SPLIT_HZ, 4, false);
            let flutter = 0.997 * dev * hp * filters::butterworth_analog(rate, WOW_SPLIT_HZ, 4, true);
            let (gw, gf) = (got.wow_pct.unwrap(), got.flutter_pct.unwrap());
            println!(
                "unweighted {rate} Hz {dev} %: peak {peak:.5} % (off {:+.1} %), wow {gw:.5} % (want {wow:.5}), flutter {gf:.5} % (want {flutter:.5})",
                (peak / (dev * hp) - 1.0) * 100.0
            );
            assert!((peak / (dev * hp) - 1.0).abs() <= 0.10, "{rate} Hz {dev} %: peak {peak:.4} %");
            // Within 10 %, or 0.005 % where a band holds (almost) nothing of the tone: the
            // detector's own floor with the tone 50 dB over the noise.
            assert!(
                (gw - wow).abs() <= (0.10 * wow).max(0.005),
                "{rate} Hz {dev} %: wow {gw:.4}, want {wow:.4}"
            );
            assert!(
                (gf - flutter).abs() <= (0.10 * flutter).max(0.005),
                "{rate} Hz {dev} %: flutter {gf:.4}, want {flutter:.4}"
            );
        }
    }

    #[test]
    fn a_clean_tone_reads_no_wow_and_a_short_one_only_its_speed() {
        let x = testsig::fm_tone(3150.0, -10.0, 0.0, 1.0, 10.0, -60.0, 48_000, 3);
        let got = detect(&x, 3150.0);
        assert!(got.weighted_pct.unwrap() < 0.002, "{got:?}");
        let x = testsig::fm_tone(3150.0, -10.0, 0.0, 1.0, 3.0, -60.0, 48_000, 3);
        let got = detect(&x, 3150.0);
        assert!(got.weighted_pct.is_none() && (got.mean_hz - 3150.0).abs() < 0.1, "{got:?}");
        let mut d = Demodulator::new(3150.0, 48_000);
        d.feed(x[..24_000].iter().copied(), 48_000);
        assert_eq!(measure(&d.freqs, d.if_rate(48_000)), None, "half a second is no measurement");
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(v.clone(), 0.95), 95.0);
        assert_eq!(percentile(v, 1.0), 100.0);
        assert_eq!(percentile(Vec::new(), 0.5), 0.0);
    }
}
