//! Synthetic test signals for the detectors' unit tests: tones with known frequency modulation,
//! known crosstalk and known noise, and a music-like side with a lead-in, gaps and clicks. Seeded,
//! so every test run hears the same audio.

use std::f64::consts::PI;

/// A seeded generator (xorshift64*), uniform and Gaussian.
pub struct Noise(u64);

impl Noise {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Noise {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn gauss(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        (-2.0 * u.ln()).sqrt() * (2.0 * PI * self.uniform()).cos()
    }
}

/// dBFS (of a peak or an RMS) as a linear amplitude.
pub fn amp(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// A mono tone of `freq` Hz at `peak_db` dBFS, its frequency modulated by `dev_pct` % (peak) at
/// `rate_hz`, for `seconds`, plus white noise at `noise_db` dBFS RMS.
#[allow(clippy::too_many_arguments)]
pub fn fm_tone(
    freq: f64,
    peak_db: f64,
    dev_pct: f64,
    rate_hz: f64,
    seconds: f64,
    noise_db: f64,
    fs: u32,
    seed: u64,
) -> Vec<f32> {
    let fs = f64::from(fs);
    let mut n = Noise::new(seed);
    let (a, na) = (amp(peak_db), amp(noise_db));
    let beta = freq * dev_pct / 100.0 / rate_hz;
    (0..(seconds * fs) as usize)
        .map(|i| {
            let t = i as f64 / fs;
            let phase = 2.0 * PI * freq * t + beta * (2.0 * PI * rate_hz * t).sin();
            (a * phase.sin() + na * n.gauss()) as f32
        })
        .collect()
}

/// Interleaves `l` and `r` (of one length) into stereo.
pub fn stereo(l: &[f32], r: &[f32]) -> Vec<f32> {
    l.iter().zip(r).flat_map(|(a, b)| [*a, *b]).collect()
}

/// A stereo 1 kHz tone at `peak_db` on the driven channel (`left`), leaking `sep_db` under it
/// into the other, both with white noise at `noise_db`.
pub fn crosstalk(left: bool, peak_db: f64, sep_db: f64, seconds: f64, noise_db: f64, seed: u64) -> Vec<f32> {
    let drive = fm_tone(1000.0, peak_db, 0.0, 1.0, seconds, noise_db, 48_000, seed);
    let leak = fm_tone(1000.0, peak_db - sep_db, 0.0, 1.0, seconds, noise_db, 48_000, seed + 1);
    if left { stereo(&drive, &leak) } else { stereo(&leak, &drive) }
}

/// A stereo music-like side at 48 kHz: `lead_s` of surface noise at `noise_db` RMS, then
/// tracks of `track_s` (a chord of partials at about −20 dBFS RMS, their amplitudes changing each
/// 0.25 s and falling with frequency as music's do, up to 15 kHz) separated by 2 s gaps of the same noise; `clicks` single-sample
/// clicks of `click_db` peak spread evenly over the side (in the music and the gaps).
pub fn side(
    lead_s: f64,
    tracks: usize,
    track_s: f64,
    noise_db: f64,
    clicks: usize,
    click_db: f64,
) -> Vec<f32> {
    let fs = 48_000.0;
    let mut n = Noise::new(99);
    let total = lead_s + tracks as f64 * (track_s + 2.0);
    let frames = (total * fs) as usize;
    let na = amp(noise_db);
    let partials = [110.0, 220.0, 330.0, 440.0, 660.0, 1320.0, 2640.0, 5280.0, 11_000.0, 15_000.0];
    let mut out = Vec::with_capacity(frames * 2);
    let mut env = [0.0; 10];
    for i in 0..frames {
        let t = i as f64 / fs;
        let in_track = t >= lead_s && (t - lead_s) % (track_s + 2.0) < track_s;
        if i % 12_000 == 0 {
            env.iter_mut()
                .enumerate()
                .for_each(|(k, e)| *e = (0.3 + 0.7 * n.uniform()) / (1.0 + k as f64).powi(2));
        }
        let music: f64 = if in_track {
            partials.iter().zip(&env).map(|(f, e)| e * (2.0 * PI * f * t).sin()).sum::<f64>() * 0.15
        } else {
            0.0
        };
        out.push((music + na * n.gauss()) as f32);
        out.push((music * 0.9 + na * n.gauss()) as f32);
    }
    for k in 0..clicks {
        let at = (frames / (clicks + 1)) * (k + 1);
        out[2 * at] += amp(click_db) as f32;
        out[2 * at + 1] -= amp(click_db) as f32;
    }
    out
}

/// A mono melody at `rate` Hz for `seconds`, as a record played at a speed rising linearly from
/// `from` to `to` over those seconds (pitch and tempo both follow it): chords of three notes
/// (300 Hz to 2.4 kHz, from a sequence seeded by `seed`), eight a second, each struck and
/// decaying, so that every chord is an onset the fingerprints find.
pub fn melody(seconds: f64, rate: u32, from: f64, to: f64, seed: u64) -> Vec<f32> {
    let fs = f64::from(rate);
    let mut n = Noise::new(seed);
    let chords = (seconds * to.max(from) * 8.0) as usize + 16;
    let notes: Vec<[f64; 3]> =
        (0..chords).map(|_| [0; 3].map(|_| 300.0 * 2f64.powf((n.uniform() * 72.0).floor() / 24.0))).collect();
    let k = (to - from) / seconds;
    (0..(seconds * fs) as usize)
        .map(|i| {
            let t = i as f64 / fs;
            // The record's own time: its speed is d(tau)/dt = from + k t.
            let tau = from * t + 0.5 * k * t * t;
            let chord = &notes[(tau * 8.0) as usize];
            let decay = (-3.0 * (tau * 8.0).fract()).exp();
            (chord.iter().map(|f| (2.0 * PI * f * tau).sin()).sum::<f64>() * 0.1 * decay) as f32
        })
        .collect()
}
