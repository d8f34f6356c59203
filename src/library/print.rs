//! Fingerprints of sides: the landmark pairs that recognise a replay of a learned side.
//!
//! Owns the algorithm, which both learning and recognition run, so that one definition decides
//! what a key means. It is a spectral-peak landmark scheme (Wang 2003, "An industrial-strength
//! audio search algorithm", the method of Shazam and audfprint), adapted to a turntable:
//! 1. The channels are mixed to mono and decimated by block averaging to about 11–12 kHz.
//! 2. A 1024-point Hann-windowed FFT every 32 ms gives a power spectrum, kept from 300 Hz to 4 kHz.
//! 3. A peak is a bin that is the largest in ±3 bins and ±4 frames (128 ms), and at least 3 dB over
//!    its own bin's mean across ±15 frames: an onset, not a steady tone. Motor hum, a locked groove's
//!    tone and digital silence give no peaks; hiss gives peaks at random places that pair with
//!    nothing. Its frequency is refined by a parabola through the three bins around it.
//! 4. Only the strongest peaks are kept: a peak stays when fewer than `keep` peaks are stronger within
//!    ±20 frames (strength: level plus 4.5 dB an octave, so that treble is not always outranked by
//!    bass). Gain does not change the ranking.
//! 5. Each kept peak pairs with the next `fan_out` kept peaks within 1.5 s. A pair's key is the
//!    anchor's frequency in 1/24 octave, the interval to the other peak in 1/24 octave and the time
//!    between them in 64 ms steps.
//!
//! Why not a fingerprint crate: chromaprint's (and rusty-chromaprint's) fingerprints are not
//! invariant to a deck's speed error (a 102.5 % rip scores zero: acoustid/pg_acoustid #8). Here a
//! speed error `r` moves every frequency by log2(r) octaves and stretches every time by 1/r, and
//! nothing else, so recognition ([`super::recognize`]) undoes candidate speeds on the query's
//! pairs before it looks their keys up, and the interval between two peaks does not move at all.
//! Learning stores few pairs (`LEARN`: about 2 peaks a second, 2 pairs each, about 100 KB a
//! 20-minute side); a query makes many (`QUERY`), so that the pairs a learned side stored are
//! found among them even when hiss and clicks take some peaks.
//!
//! It does not store or look anything up. How it fails: it cannot; any samples give some pairs
//! (none for silence).

use rustfft::{Fft, FftPlanner, num_complex::Complex};
use std::collections::VecDeque;
use std::sync::Arc;

/// The FFT's length (at the decimated rate).
const WIN: usize = 1024;
/// The analysis hop in seconds (rounded to whole samples at the decimated rate).
const HOP_S: f64 = 0.032;
/// The band the peaks come from.
const F_LO: f64 = 300.0;
const F_HI: f64 = 4000.0;
/// A peak is the largest in ±`NEAR_F` bins and ±`NEAR_T` frames.
const NEAR_F: usize = 3;
const NEAR_T: usize = 4;
/// Its bin's mean is taken over ±`MEAN_T` frames; it must stand `PROMINENCE_DB` over it.
const MEAN_T: usize = 15;
const PROMINENCE_DB: f32 = 3.0;
/// Ranking window for `keep`: ±`RANK_T` frames.
const RANK_T: u32 = 20;
/// The longest time between the two peaks of a pair, in frames (1.5 s).
pub const PAIR_T: u32 = 47;
/// The widest interval between the two peaks of a pair, in octaves.
const PAIR_OCTAVES: f64 = 2.5;
/// Steps of the key's frequencies, per octave.
pub const STEPS: f64 = 24.0;
/// Level floor (dB under full scale): quieter bins are digital silence or dither.
const FLOOR_DB: f32 = -120.0;
/// The algorithm's version, stored with each print: a print of another version is not compared.
pub const VERSION: i64 = 1;

/// How densely a printer keeps peaks and pairs them.
#[derive(Clone, Copy, Debug)]
pub struct Density {
    /// A peak stays when fewer than this many are stronger within ±20 frames.
    pub keep: usize,
    /// Pairs from each peak, to the next peaks in time.
    pub fan_out: usize,
}

/// What learning stores: about 2 peaks a second, 2 pairs each.
pub const LEARN: Density = Density { keep: 3, fan_out: 2 };
/// What a query makes: a superset of what learning kept, whatever hiss and clicks took.
pub const QUERY: Density = Density { keep: 8, fan_out: 10 };

/// Two peaks: the anchor at frame `t` and `f1` Hz, the other `dt` frames later at `f2` Hz.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    /// The anchor's frame.
    pub t: u32,
    /// The anchor's frequency (Hz).
    pub f1: f32,
    /// The other peak's frequency (Hz).
    pub f2: f32,
    /// Frames from the anchor to the other peak (1..=PAIR_T).
    pub dt: u32,
}

/// A key's three parts, before packing: anchor pitch step, interval step, time step.
pub fn key(q1: i64, qd: i64, qt: i64) -> Option<u32> {
    let ok = (0..128).contains(&q1) && (0..128).contains(&qd) && (1..32).contains(&qt);
    ok.then_some(((q1 as u32) << 12) | ((qd as u32) << 5) | qt as u32)
}

/// The anchor's pitch in key steps above 300 Hz (not rounded).
pub fn pitch(f: f64) -> f64 {
    (f / F_LO).log2() * STEPS
}

/// The interval between the peaks in key steps (not rounded; 64 is unison).
pub fn interval(f1: f64, f2: f64) -> f64 {
    (f2 / f1).log2() * STEPS + 64.0
}

/// The time step of `dt` frames.
pub fn time_step(dt: u32) -> i64 {
    i64::from(dt.div_ceil(2))
}

impl Pair {
    /// The key learning stores for this pair.
    pub fn key(&self) -> Option<u32> {
        let (f1, f2) = (f64::from(self.f1), f64::from(self.f2));
        key(pitch(f1).round() as i64, interval(f1, f2).round() as i64, time_step(self.dt))
    }
}

/// A candidate peak.
#[derive(Clone, Copy, Debug)]
struct Peak {
    t: u32,
    f: f32,
    strength: f32,
}

/// The streaming printer: samples in, pairs out (about 1.1 s behind the input, and each pair
/// another dt after its anchor).
pub struct Printer {
    density: Density,
    channels: usize,
    decimate: usize,
    acc: f32,
    acc_n: usize,
    hop: usize,
    samples: Vec<f32>,
    since_hop: usize,
    fft: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
    scratch: Vec<Complex<f32>>,
    bins: std::ops::Range<usize>,
    hz_per_bin: f64,
    rows: VecDeque<Vec<f32>>,
    sums: Vec<f32>,
    rows_seen: u32,
    candidates: VecDeque<Peak>,
    unranked: usize,
    /// Kept peaks that may still anchor pairs, with the partners each has.
    kept: VecDeque<(Peak, usize)>,
    pairs: Vec<Pair>,
    /// Every peak kept, in order, for the tests' reference pairing.
    #[cfg(test)]
    kept_log: Vec<Peak>,
}

impl Printer {
    /// A printer for interleaved samples of `channels` channels at `rate` Hz.
    pub fn new(rate: u32, channels: u16, density: Density) -> Printer {
        let decimate = ((f64::from(rate) / 11025.0).round() as usize).max(1);
        let fs = f64::from(rate) / decimate as f64;
        let hop = (fs * HOP_S).round().max(1.0) as usize;
        let hz_per_bin = fs / WIN as f64;
        let lo = (F_LO / hz_per_bin).floor() as usize;
        let hi = ((F_HI / hz_per_bin).ceil() as usize).min(WIN / 2 - 1);
        let window = (0..WIN)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / WIN as f64).cos()) as f32)
            .collect();
        let silent = vec![FLOOR_DB; hi - lo];
        let mut p = Printer {
            density,
            channels: usize::from(channels.max(1)),
            decimate,
            acc: 0.0,
            acc_n: 0,
            hop,
            samples: Vec::with_capacity(4 * WIN),
            since_hop: 0,
            fft: FftPlanner::new().plan_fft_forward(WIN),
            window,
            scratch: vec![Complex::default(); WIN],
            bins: lo..hi,
            hz_per_bin,
            rows: VecDeque::new(),
            sums: vec![0.0; hi - lo],
            rows_seen: 0,
            candidates: VecDeque::new(),
            unranked: 0,
            kept: VecDeque::new(),
            pairs: Vec::new(),
            #[cfg(test)]
            kept_log: Vec::new(),
        };
        // Silent rows before the first one: a sound at the very start is an onset like any other.
        for _ in 0..MEAN_T {
            p.push_row(silent.clone(), false);
        }
        p
    }

    /// Seconds per frame (the hop at the decimated rate).
    pub fn hop_s(&self) -> f64 {
        self.hop as f64 * self.decimate as f64 / (self.fs_full())
    }

    fn fs_full(&self) -> f64 {
        self.hz_per_bin * WIN as f64 * self.decimate as f64
    }

    /// Feeds interleaved samples scaled to ±1.0.
    pub fn feed(&mut self, interleaved: &[f32]) {
        // One multiplication for the mix and the block average: this loop sees every sample of
        // a side (learning reads 20 minutes of them at once).
        let gain = 1.0 / (self.channels * self.decimate) as f32;
        for frame in interleaved.chunks_exact(self.channels) {
            self.acc += if let [l, r] = frame { l + r } else { frame.iter().sum::<f32>() };
            self.acc_n += 1;
            if self.acc_n == self.decimate {
                let s = self.acc * gain;
                (self.acc, self.acc_n) = (0.0, 0);
                self.push_sample(s);
            }
        }
    }

    fn push_sample(&mut self, s: f32) {
        self.samples.push(s);
        self.since_hop += 1;
        if self.samples.len() >= WIN && self.since_hop >= self.hop {
            self.since_hop = 0;
            let row = self.spectrum();
            self.push_row(row, true);
        }
        // The window's samples stay contiguous: the older ones go a few windows at a time.
        if self.samples.len() >= 4 * WIN {
            self.samples.drain(..self.samples.len() - WIN);
        }
    }

    /// The power spectrum of the last WIN samples in dB, over the band.
    fn spectrum(&mut self) -> Vec<f32> {
        let last = &self.samples[self.samples.len() - WIN..];
        for (i, (s, w)) in last.iter().zip(&self.window).enumerate() {
            self.scratch[i] = Complex::new(s * w, 0.0);
        }
        self.fft.process(&mut self.scratch);
        // A full-scale sine gives about 0 dB (Hann's coherent gain is 1/2).
        let norm = (2.0 / (WIN as f32 * 0.5)).powi(2);
        self.scratch[self.bins.clone()]
            .iter()
            .map(|c| (10.0 * (c.norm_sqr() * norm).max(1e-12).log10()).max(FLOOR_DB))
            .collect()
    }

    /// Adds a spectrum row; when the row `MEAN_T` back has its whole neighbourhood, finds its peaks.
    fn push_row(&mut self, row: Vec<f32>, real: bool) {
        for (s, v) in self.sums.iter_mut().zip(&row) {
            *s += v;
        }
        self.rows.push_back(row);
        if real {
            self.rows_seen += 1;
        }
        if self.rows.len() > 2 * MEAN_T + 1 {
            let old = self.rows.pop_front().unwrap_or_default();
            for (s, v) in self.sums.iter_mut().zip(&old) {
                *s -= v;
            }
        }
        if self.rows.len() == 2 * MEAN_T + 1 && self.rows_seen > MEAN_T as u32 {
            let t = self.rows_seen - 1 - MEAN_T as u32;
            self.find_peaks(t);
            self.rank(t);
        }
    }

    /// The peaks of the middle row (frame `t`).
    fn find_peaks(&mut self, t: u32) {
        let n = self.rows.len() as f32;
        let mid = &self.rows[MEAN_T];
        let width = mid.len();
        for k in 1..width.saturating_sub(1) {
            let v = mid[k];
            if v <= FLOOR_DB + 1.0 || v < self.sums[k] / n + PROMINENCE_DB {
                continue;
            }
            let (k0, k1) = (k.saturating_sub(NEAR_F), (k + NEAR_F + 1).min(width));
            let rows = self.rows.range(MEAN_T - NEAR_T..=MEAN_T + NEAR_T);
            let beaten = rows.enumerate().any(|(i, r)| {
                r[k0..k1].iter().enumerate().any(|(j, &w)| w > v || (w == v && (i, j + k0) < (NEAR_T, k)))
            });
            if beaten {
                continue;
            }
            let (a, b, c) = (mid[k - 1], v, mid[k + 1]);
            let d = a - 2.0 * b + c;
            let shift = if d < 0.0 { (0.5 * (a - c) / d).clamp(-0.5, 0.5) } else { 0.0 };
            let f = (self.bins.start as f64 + k as f64 + f64::from(shift)) * self.hz_per_bin;
            let strength = v + 4.5 * (f / F_LO).log2() as f32;
            self.candidates.push_back(Peak { t, f: f as f32, strength });
        }
    }

    /// Ranks the candidates whose ±RANK_T neighbourhood is complete once frame `t` is searched.
    fn rank(&mut self, t: u32) {
        while let Some(p) = self.candidates.get(self.unranked).copied() {
            if p.t + RANK_T > t {
                break;
            }
            let stronger = self
                .candidates
                .iter()
                .filter(|q| q.t + RANK_T >= p.t && q.t <= p.t + RANK_T && q.strength > p.strength)
                .count();
            if stronger < self.density.keep {
                self.keep(p);
            }
            self.unranked += 1;
        }
        // A peak still to rank is after t - RANK_T and sees back RANK_T more: older ones go.
        while self.candidates.front().is_some_and(|q| q.t + 2 * RANK_T < t) && self.unranked > 0 {
            self.candidates.pop_front();
            self.unranked -= 1;
        }
    }

    /// Keeps peak `b` and pairs it with the kept anchors before it that still want partners (each
    /// anchor's next `fan_out` kept peaks within [`PAIR_T`]): a pair is made as soon as its second
    /// peak is ranked, not when the anchor's last partner could be, so that a query votes about
    /// 1.5 s sooner. Peaks are ranked in time order, so an anchor's partners come in that order.
    fn keep(&mut self, b: Peak) {
        #[cfg(test)]
        self.kept_log.push(b);
        let fan_out = self.density.fan_out;
        while self.kept.front().is_some_and(|(a, n)| a.t + PAIR_T < b.t || *n >= fan_out) {
            self.kept.pop_front();
        }
        for (a, n) in self.kept.iter_mut() {
            let near = b.t > a.t && b.t <= a.t + PAIR_T;
            if *n < fan_out && near && (f64::from(b.f) / f64::from(a.f)).log2().abs() <= PAIR_OCTAVES {
                self.pairs.push(Pair { t: a.t, f1: a.f, f2: b.f, dt: b.t - a.t });
                *n += 1;
            }
        }
        self.kept.push_back((b, 0));
    }

    /// The pairs made since the last call.
    pub fn take(&mut self) -> Vec<Pair> {
        std::mem::take(&mut self.pairs)
    }

    /// Ends the input: the last frames are searched as if silence followed, and every pair left
    /// is made.
    pub fn finish(&mut self) -> Vec<Pair> {
        let silent = vec![FLOOR_DB; self.bins.len()];
        for _ in 0..MEAN_T {
            self.push_row(silent.clone(), true);
        }
        self.rank(self.rows_seen + RANK_T + 1);
        self.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `seconds` of stereo at 48 kHz: `tone(t)` gives each instant's frequency (None: silence).
    fn pairs_of(seconds: f64, tone: impl Fn(f64) -> Option<f64>) -> Vec<Pair> {
        let mut p = Printer::new(48_000, 2, LEARN);
        p.feed(&stereo(seconds, tone));
        let mut out = p.take();
        out.extend(p.finish());
        out
    }

    /// A melody of short notes from a fixed pseudo-random sequence, several at once, as stereo.
    fn melody(seconds: f64) -> Vec<f32> {
        let mut x = 0x2545_f491_u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let notes: Vec<[f64; 3]> = (0..(seconds * 8.0) as usize)
            .map(|_| [0, 1, 2].map(|_| 300.0 * 2f64.powf(f64::from(next() % 72) / 24.0)))
            .collect();
        let n = (seconds * 48_000.0) as usize;
        (0..n)
            .flat_map(|i| {
                let t = i as f64 / 48_000.0;
                let chord = &notes[((t * 8.0) as usize).min(notes.len() - 1)];
                let s: f64 = chord.iter().map(|f| (std::f64::consts::TAU * f * t).sin()).sum::<f64>() * 0.1;
                [s as f32, s as f32]
            })
            .collect()
    }

    #[test]
    fn pairs_do_not_depend_on_how_the_input_is_cut() {
        let audio = melody(12.0);
        let run = |chunk: usize| {
            let mut p = Printer::new(48_000, 2, QUERY);
            let mut out = Vec::new();
            for c in audio.chunks(chunk * 2) {
                p.feed(c);
                out.extend(p.take());
            }
            out.extend(p.finish());
            out
        };
        let whole = run(audio.len());
        assert!(whole.len() > 200, "{} pairs", whole.len());
        for chunk in [1, 441, 4800, 65_536] {
            assert!(run(chunk) == whole, "pairs differ when fed {chunk} frames at a time");
        }
    }

    #[test]
    fn each_anchor_pairs_with_its_next_kept_peaks_as_soon_as_they_are_ranked() {
        let key = |p: &Pair| (p.t, p.dt, p.f1.to_bits(), p.f2.to_bits());
        let sorted = |mut v: Vec<Pair>| {
            v.sort_by_key(key);
            v
        };
        for density in [LEARN, QUERY] {
            let mut p = Printer::new(48_000, 2, density);
            p.feed(&melody(20.0));
            let early = p.take();
            let ranked = p.kept_log.len();
            let mut got = early.clone();
            got.extend(p.finish());
            // The reference: every kept peak with the next fan_out kept peaks after it, within
            // PAIR_T and PAIR_OCTAVES; each pair with its second peak's place among the kept.
            let kept = &p.kept_log;
            let mut want = Vec::new();
            for (i, a) in kept.iter().enumerate() {
                let partners = (i + 1..kept.len())
                    .filter(|&j| kept[j].t > a.t && kept[j].t <= a.t + PAIR_T)
                    .filter(|&j| (f64::from(kept[j].f) / f64::from(a.f)).log2().abs() <= PAIR_OCTAVES)
                    .take(density.fan_out);
                want.extend(
                    partners.map(|j| (j, Pair { t: a.t, f1: a.f, f2: kept[j].f, dt: kept[j].t - a.t })),
                );
            }
            let all: Vec<Pair> = want.iter().map(|w| w.1).collect();
            assert!(sorted(got.clone()) == sorted(all), "{density:?}: the pairs are not the reference's");
            // Every pair whose second peak was ranked by the time of `take` was made by then.
            let due: Vec<Pair> = want.iter().filter(|w| w.0 < ranked).map(|w| w.1).collect();
            assert!(!due.is_empty() && sorted(early) == sorted(due), "{density:?}: pairs made late");
        }
    }

    /// Stereo at 48 kHz of `seconds`: `tone(t)` gives each instant's frequency (None: silence).
    fn stereo(seconds: f64, tone: impl Fn(f64) -> Option<f64>) -> Vec<f32> {
        let mut phase = 0.0f64;
        (0..(seconds * 48_000.0) as usize)
            .flat_map(|n| {
                let s = match tone(n as f64 / 48_000.0) {
                    Some(f) => {
                        phase += std::f64::consts::TAU * f / 48_000.0;
                        (0.3 * phase.sin()) as f32
                    }
                    None => 0.0,
                };
                [s, s]
            })
            .collect()
    }

    #[test]
    fn silence_and_a_steady_tone_give_no_pairs() {
        assert!(pairs_of(10.0, |_| None).is_empty());
        assert!(pairs_of(10.0, |_| Some(1000.0)).is_empty());
    }

    #[test]
    fn notes_give_pairs_between_their_pitches() {
        // A note every 250 ms, cycling through four pitches.
        let notes = [440.0, 660.0, 550.0, 880.0];
        let pairs = pairs_of(8.0, |t| {
            let i = (t / 0.25) as usize;
            (t % 0.25 < 0.2).then_some(notes[i % 4])
        });
        assert!(pairs.len() >= 20, "{} pairs", pairs.len());
        for p in &pairs {
            let near = |f: f32| notes.iter().any(|n| (f64::from(f) / n - 1.0).abs() < 0.01);
            assert!(near(p.f1) && near(p.f2), "{p:?} is not between two notes");
            assert!(p.dt >= 1 && p.dt <= PAIR_T, "{p:?}");
        }
    }
}
