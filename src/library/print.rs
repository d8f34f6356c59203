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
//! 5. Each kept peak pairs with the next `fan_out` kept peaks within 1.5 s. A pair's key
//!    ([`Pair::key`], print version 2) is made of what a deck's speed error leaves alone or moves
//!    little: the anchor's band (1/24 octave), the interval to the other peak (1/48 octave) and
//!    the time between them times the anchor's frequency over its band's lower edge (frames).
//!    With the key, learning stores the anchor's frame and its fine pitch (1/512 octave:
//!    [`Pair::stored_t`]).
//!
//! Why not a fingerprint crate: chromaprint's (and rusty-chromaprint's) fingerprints are not
//! invariant to a deck's speed error (a 102.5 % rip scores zero: acoustid/pg_acoustid #8). Here a
//! speed error `r` moves every frequency by log2(r) octaves and stretches every time by 1/r, and
//! nothing else: the interval does not move, time times frequency does not change, and the band
//! moves by at most one step either way. So a query pair looks up the few keys of the bands
//! ±2.5 % reaches ([`query_keys`]), and each stored pair it finds gives the replay's speed itself:
//! the query's anchor frequency over the learned one ([`unpack_t`]); recognition
//! ([`super::recognize`]) votes for the candidate speeds within [`TOL`] of it. Learning stores
//! few pairs (`LEARN`: a few peaks a second, 2 pairs each, about 55 KB a 20-minute side); a
//! query makes many (`QUERY`), so that the pairs a learned side stored are found among them even
//! when hiss and clicks take some peaks.
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
/// Steps of the anchor's band, per octave.
pub const STEPS: f64 = 24.0;
/// Steps of the interval between a pair's peaks, per octave.
const INTERVAL_STEPS: f64 = 48.0;
/// The interval step of unison (a key holds 0..256: ±2.66 octaves).
const UNISON: f64 = 128.0;
/// The shortest time between a pair's peaks that makes a key (frames): at one frame the rounding
/// of the frames makes most of the time.
const MIN_DT: u32 = 2;
/// How far a query's time between its peaks may be from the learned pair's (frames): both are
/// whole frames of a hop the speed stretched.
const DT_SLACK: f64 = 0.7;
/// The deck's speed error a query's keys reach (±2.5 %, as the recogniser's candidate speeds).
const REACH: f64 = 0.025;
/// The margin (band steps) on the bands' edges that the peaks' frequency estimates need.
const BAND_MARGIN: f64 = 0.15;
/// The stored frame's bits (2^20 frames: 9 hours); the anchor's fine pitch is above them.
const T_BITS: u32 = 20;
/// Steps of the fine pitch stored with each pair, per octave (0.14 % apart).
const FINE: f64 = 512.0;
/// The largest fine pitch (11 bits: 3 octaves and more above 300 Hz, past the 4 kHz band).
const FINE_MAX: f64 = 2047.0;
/// How far a hit's speed (the query's anchor frequency over the learned one's) may be from a
/// candidate speed to vote for it: the fine pitch's half step (0.07 %) and the peaks' frequency
/// estimates.
pub const TOL: f64 = 0.004;
/// Level floor (dB under full scale): quieter bins are digital silence or dither.
const FLOOR_DB: f32 = -120.0;
/// The algorithm's version, stored with each print: a print of another version is not compared
/// (version 1's keys held the anchor's pitch, which a speed error moves).
pub const VERSION: i64 = 2;

/// How densely a printer keeps peaks and pairs them.
#[derive(Clone, Copy, Debug)]
pub struct Density {
    /// A peak stays when fewer than this many are stronger within ±20 frames.
    pub keep: usize,
    /// Pairs from each peak, to the next peaks in time.
    pub fan_out: usize,
}

/// What learning stores: a few peaks a second (4 within ±20 frames), 2 pairs each.
pub const LEARN: Density = Density { keep: 4, fan_out: 2 };
/// What a query makes: a superset of what learning kept, whatever hiss and clicks took.
pub const QUERY: Density = Density { keep: 6, fan_out: 6 };

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

/// The anchor's pitch in band steps above 300 Hz (not rounded).
fn pitch(f: f64) -> f64 {
    (f / F_LO).log2() * STEPS
}

/// The interval between the peaks in interval steps (not rounded; [`UNISON`] is unison).
fn interval(f1: f64, f2: f64) -> f64 {
    (f2 / f1).log2() * INTERVAL_STEPS + UNISON
}

/// The lower edge of band `band` (Hz).
fn band_lo(band: i64) -> f64 {
    F_LO * 2f64.powf(band as f64 / STEPS)
}

/// A key's three parts, packed: band (9 bits), interval (8), the time in the band's frames (7);
/// None out of those ranges.
fn pack(band: i64, interval: i64, n: i64) -> Option<u32> {
    let ok = (0..512).contains(&band) && (0..256).contains(&interval) && (0..128).contains(&n);
    ok.then_some(((band as u32) << 15) | ((interval as u32) << 7) | n as u32)
}

/// Every integer in floor(lo)..=floor(hi).
fn span(lo: f64, hi: f64) -> std::ops::RangeInclusive<i64> {
    (lo.floor() as i64)..=(hi.floor() as i64)
}

/// The two steps nearest `x`: its rounded step and the neighbour on `x`'s side. In a replay's
/// hiss each of a pair's frequencies comes out a few tenths of a percent off the learned copy's,
/// so their interval moves by up to half a step (0.7 %): with the rounded step alone (and the
/// next only within 0.2 step of the edge) a pair both copies made found its key only when the
/// two intervals were within 0.2 step (0.3 %). scripts/bench 95-recognize, before and after:
/// the slowest replay's music start to recognition 17.0 -> 10.5 s (median 5.8 -> 5.6 s), what
/// chance gives unchanged, the matching at 1,000 sides 19 -> 31 ms median (twice the lookups).
fn either_side(x: f64) -> impl Iterator<Item = i64> + Clone {
    let r = x.round();
    let next = if x >= r { r + 1.0 } else { r - 1.0 };
    [r as i64, next as i64].into_iter()
}

impl Pair {
    /// The key learning stores for this pair: its anchor's band (1/24 octave), the interval
    /// (1/48 octave) and the time between the peaks times the anchor's frequency over the band's
    /// lower edge, in frames. A speed error moves the band but not the interval, and leaves
    /// time times frequency alone, so a replay's pair finds it among its [`query_keys`]. None
    /// for a pair closer than `MIN_DT` or out of the key's ranges.
    pub fn key(&self) -> Option<u32> {
        let (f1, f2) = (f64::from(self.f1), f64::from(self.f2));
        if self.dt < MIN_DT {
            return None;
        }
        let band = pitch(f1).floor() as i64;
        let n = (f64::from(self.dt) * f1 / band_lo(band)).floor() as i64;
        pack(band, interval(f1, f2).round() as i64, n)
    }

    /// What learning stores with the key: the anchor's frame, and its fine pitch (1/512 octave
    /// above 300 Hz) above bit `T_BITS`, so that each hit gives the replay's own speed.
    pub fn stored_t(&self) -> u32 {
        let fine = ((f64::from(self.f1) / F_LO).log2() * FINE).round().clamp(0.0, FINE_MAX) as u32;
        (self.t & ((1 << T_BITS) - 1)) | fine << T_BITS
    }
}

/// A stored pair's frame and its anchor's frequency (Hz), from [`Pair::stored_t`]. The
/// frequencies of the fine pitches are computed once: recognition unpacks every pair it finds.
pub fn unpack_t(stored: u32) -> (u32, f64) {
    static HZ: std::sync::LazyLock<Vec<f64>> = std::sync::LazyLock::new(|| {
        (0..1u32 << (32 - T_BITS)).map(|fine| F_LO * 2f64.powf(f64::from(fine) / FINE)).collect()
    });
    (stored & ((1 << T_BITS) - 1), HZ[(stored >> T_BITS) as usize])
}

/// The keys a learned pair could have stored for query pair `p`, heard at any speed within
/// ±2.5 %: the bands that speed reaches, the times of `p`'s ±`DT_SLACK` frames in each, and
/// the interval's two nearest steps. Sorted, each once; none for a pair closer than
/// `MIN_DT`.
pub fn query_keys(p: &Pair) -> Vec<u32> {
    let mut out = Vec::new();
    if p.dt < MIN_DT {
        return out;
    }
    let (f1, f2) = (f64::from(p.f1), f64::from(p.f2));
    let p1 = pitch(f1);
    let lo = (p1 - STEPS * (1.0 + REACH).log2() - BAND_MARGIN).floor() as i64;
    let hi = (p1 - STEPS * (1.0 - REACH).log2() + BAND_MARGIN).floor() as i64;
    let intervals = either_side(interval(f1, f2));
    let dt = f64::from(p.dt);
    for band in lo.max(0)..=hi {
        let s = f1 / band_lo(band);
        for n in span((dt - DT_SLACK) * s, (dt + DT_SLACK) * s) {
            out.extend(intervals.clone().filter_map(|i| pack(band, i, n)));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
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

    /// `p` heard at speed `r`: frequencies times `r`, the time between the peaks over `r` (whole
    /// frames).
    fn heard_at(p: Pair, r: f64) -> Pair {
        Pair {
            t: p.t,
            f1: (f64::from(p.f1) * r) as f32,
            f2: (f64::from(p.f2) * r) as f32,
            dt: (f64::from(p.dt) / r).round() as u32,
        }
    }

    #[test]
    fn a_pair_heard_up_to_2_percent_off_speed_finds_its_key_and_its_speed() {
        let learned = [
            (440.0, 660.0, 5),
            (1000.0, 990.0, 31),
            (310.0, 1500.0, 47),
            (3900.0, 800.0, 2),
            (301.0, 302.0, 12),
        ];
        for (f1, f2, dt) in learned {
            let p = Pair { t: 1234, f1, f2, dt };
            let key = p.key().expect("a key");
            let (t, f_learned) = unpack_t(p.stored_t());
            assert_eq!(t, 1234);
            for r in [0.98, 0.9925, 1.0, 1.013, 1.02] {
                let q = heard_at(p, r);
                assert!(query_keys(&q).contains(&key), "{p:?} at {r}: key {key:#x} not looked up");
                let speed = f64::from(q.f1) / f_learned;
                assert!((speed - r).abs() <= TOL, "{p:?} at {r}: the hit says {speed}");
            }
        }
    }

    #[test]
    fn a_pair_whose_interval_the_hiss_moved_by_under_half_a_step_finds_its_key() {
        // The learned interval sits past the middle of a step, the replay's partner came out
        // 0.4 % lower: the query's interval rounds to the step below, away from any edge.
        for (f1, steps) in [(500.0, 5.55), (1200.0, -7.55), (700.0, 12.45), (2000.0, -0.45)] {
            let f2 = f1 * 2f64.powf(steps / INTERVAL_STEPS);
            let p = Pair { t: 50, f1: f1 as f32, f2: f2 as f32, dt: 9 };
            let key = p.key().expect("a key");
            for moved in [-0.3, 0.3, -0.45, 0.45] {
                let q = Pair { f2: (f2 * 2f64.powf(moved / INTERVAL_STEPS)) as f32, ..p };
                assert!(
                    query_keys(&q).contains(&key),
                    "{p:?} moved {moved} steps: key {key:#x} not looked up"
                );
            }
        }
    }

    #[test]
    fn the_stored_frame_and_fine_pitch_round_trip() {
        for (t, f1) in [(0, 300.0), (1, 440.0), (37_499, 1234.5), ((1 << T_BITS) - 1, 3999.0)] {
            let p = Pair { t, f1, f2: 500.0, dt: 3 };
            let (back, f) = unpack_t(p.stored_t());
            assert_eq!(back, t);
            assert!(
                (f / f64::from(f1) - 1.0).abs() <= 2f64.powf(0.5 / FINE) - 1.0 + 1e-9,
                "{f1} Hz came back {f}"
            );
        }
        // Under the band: the lowest fine pitch, the frame intact.
        assert_eq!(unpack_t(Pair { t: 9, f1: 250.0, f2: 500.0, dt: 3 }.stored_t()), (9, F_LO));
    }

    #[test]
    fn pairs_out_of_the_keys_ranges_have_no_key_and_look_nothing_up() {
        let out = [
            Pair { t: 0, f1: 440.0, f2: 660.0, dt: 1 },  // closer than MIN_DT
            Pair { t: 0, f1: 250.0, f2: 400.0, dt: 5 },  // under the lowest band
            Pair { t: 0, f1: 440.0, f2: 3600.0, dt: 5 }, // an interval of 3 octaves
            Pair { t: 0, f1: 440.0, f2: 50.0, dt: 5 },   // 3 octaves down
            Pair { t: 0, f1: 1.0e9, f2: 1.0e9, dt: 5 },  // past the 512th band
        ];
        for p in out {
            assert_eq!(p.key(), None, "{p:?}");
        }
        assert!(query_keys(&out[0]).is_empty());
        assert!(query_keys(&out[4]).is_empty());
        assert!(query_keys(&out[2]).is_empty());
    }
}
