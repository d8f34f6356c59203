//! The sample-rate pass over every frame: levels in 100 ms blocks, the sample peak, clipped
//! samples, and clicks and pops.
//!
//! Owns the per-sample work, kept to a few operations a sample (a 20-minute side must cost under
//! a second): each 10 ms sub-block is split into its channels and each channel's samples go
//! through one loop the compiler vectorises. Per channel it keeps every 10 ms sub-block's mean
//! square, the mean square of the first difference (a treble emphasis: clicks are steep) and the
//! peak of that difference in each of its ten 1 ms units. A unit holds a click when its peak is at
//! least [`CLICK_DB`] over the median difference level (mean square) of the 20 sub-blocks around
//! it (±100 ms: the music and noise the click sits in), is the loudest of its neighbours, and the
//! units 3 ms before and after it peak [`ISOLATION_DB`] lower: a click is over within a millisecond or
//! two, a drum's attack or a synthesiser's edge is not. A click [`POP_DB`] over its surroundings is
//! a pop too. Loud, bright music hides the smaller clicks (a first difference is a plain
//! predictor): the count is of the clicks that stand out, which is what a trend needs. A sub-block of exact zeros (a
//! journaled gap) is no information: it is no block level, and nothing is judged against it.
//! Clipped samples are those at digital full scale, as vinyl-listen counts them.
//!
//! It does not decide which blocks are music or noise ([`super::analyser`] does, from the whole
//! side). It cannot fail.

use std::collections::VecDeque;

/// A click's difference peak over the median difference level around it (dB).
pub const CLICK_DB: f64 = 18.0;
/// A pop's (dB).
pub const POP_DB: f64 = 30.0;
/// The units 3 ms from a click peak at least this much lower (dB).
pub const ISOLATION_DB: f64 = 10.0;
/// Sub-blocks on each side of the one judged.
const AROUND: usize = 10;
/// Units (1 ms) in a sub-block (10 ms).
const UNITS: usize = 10;
/// Units between a click and the neighbours that must be quieter.
const APART: usize = 3;

/// One channel's 10 ms sub-block.
#[derive(Clone, Copy, Debug, Default)]
struct Sub {
    /// Mean square of the first difference over the sub-block.
    dms: f32,
    /// The peak of the squared difference in each 1 ms unit.
    units: [f32; UNITS],
}

/// One channel's click detector.
#[derive(Debug, Default)]
struct Clicks {
    prev: f32,
    window: VecDeque<Sub>,
    in_click: bool,
    click_peak: f64,
    clicks: u64,
    pops: u64,
}

impl Clicks {
    /// Takes the next sub-block and judges the units of the one [`AROUND`] before it.
    fn push(&mut self, s: Sub) {
        self.window.push_back(s);
        if self.window.len() < 2 * AROUND + 1 {
            return;
        }
        let mut around = [0f32; 2 * AROUND];
        for (i, sub) in self.window.iter().enumerate() {
            match i.cmp(&AROUND) {
                std::cmp::Ordering::Less => around[i] = sub.dms,
                std::cmp::Ordering::Greater => around[i - 1] = sub.dms,
                std::cmp::Ordering::Equal => {}
            }
        }
        let bg = f64::from(*around.select_nth_unstable_by(AROUND, f32::total_cmp).1);
        for k in 0..UNITS {
            let strength = if bg > 1e-14 { self.unit_strength(k, bg) } else { None };
            match strength {
                Some(db) => {
                    self.click_peak = if self.in_click { self.click_peak.max(db) } else { db };
                    self.in_click = true;
                }
                None => self.end_click(),
            }
        }
        self.window.pop_front();
    }

    /// The unit `AROUND * UNITS + k` of the window.
    fn unit(&self, at: usize) -> f32 {
        self.window.get(at / UNITS).map_or(0.0, |s| s.units[at % UNITS])
    }

    /// How far unit `k` of the middle sub-block stands over `bg` (dB), if it is a click.
    fn unit_strength(&self, k: usize, bg: f64) -> Option<f64> {
        let at = AROUND * UNITS + k;
        let u = self.unit(at);
        if f64::from(u) < bg * 10f64.powf(CLICK_DB / 10.0) {
            return None;
        }
        let quieter = u * 10f32.powf(-(ISOLATION_DB as f32) / 10.0);
        let isolated = self.unit(at - APART) <= quieter && self.unit(at + APART) <= quieter;
        let peak = u >= self.unit(at - 1) && u > self.unit(at + 1);
        (isolated && peak).then(|| 10.0 * (f64::from(u) / bg).log10())
    }

    fn end_click(&mut self) {
        if self.in_click {
            self.clicks += 1;
            self.pops += u64::from(self.click_peak >= POP_DB);
            self.in_click = false;
        }
    }
}

/// What one channel's samples of a sub-block give.
#[derive(Clone, Copy, Debug, Default)]
struct Pass {
    sum: f32,
    peak: f32,
    clipped: u32,
    sub: Sub,
}

/// One channel's samples `x` (the previous sample first) through the per-sample work, in lanes
/// of 8 so the compiler vectorises it.
fn pass(x: &[f32], clip: f32) -> Pass {
    let n = x.len() - 1;
    let per = n / UNITS;
    let mut out = Pass::default();
    let mut dsum_all = 0f32;
    for k in 0..UNITS {
        let end = if k + 1 == UNITS { n } else { (k + 1) * per };
        let (cur, prev) = (&x[1 + k * per..1 + end], &x[k * per..end]);
        let (mut s, mut ds, mut dp, mut pk, mut cl) = ([0f32; 8], [0f32; 8], [0f32; 8], [0f32; 8], [0u32; 8]);
        let lanes = cur.len() / 8 * 8;
        for (c8, p8) in cur[..lanes].chunks_exact(8).zip(prev[..lanes].chunks_exact(8)) {
            for l in 0..8 {
                let (v, d) = (c8[l], c8[l] - p8[l]);
                s[l] += v * v;
                ds[l] += d * d;
                dp[l] = dp[l].max(d * d);
                pk[l] = pk[l].max(v.abs());
                cl[l] += u32::from(v >= clip || v <= -1.0);
            }
        }
        for (v, p) in cur[lanes..].iter().zip(&prev[lanes..]) {
            let d = v - p;
            (s[0], ds[0], dp[0], pk[0]) = (s[0] + v * v, ds[0] + d * d, dp[0].max(d * d), pk[0].max(v.abs()));
            cl[0] += u32::from(*v >= clip || *v <= -1.0);
        }
        let dsum: f32 = ds.iter().sum();
        out.sub.units[k] = dp.iter().fold(0f32, |a, b| a.max(*b));
        dsum_all += dsum;
        out.sum += s.iter().sum::<f32>();
        out.peak = pk.iter().fold(out.peak, |a, b| a.max(*b));
        out.clipped += cl.iter().sum::<u32>();
    }
    out.sub.dms = dsum_all / n as f32;
    out
}

/// The pass's running state and what it found.
#[derive(Debug)]
pub struct Levels {
    channels: usize,
    sub_frames: usize,
    subs_per_block: usize,
    clip: f32,
    clicks: Vec<Clicks>,
    /// Each channel's samples of the sub-block, its previous sample first.
    scratch: Vec<Vec<f32>>,
    block_ms: f64,
    block_subs: usize,
    block_zero: bool,
    /// Mean square of every 100 ms block over its channels; `None` for exact zeros.
    pub blocks: Vec<Option<f64>>,
    /// The largest |sample|.
    pub peak: f32,
    /// Samples at digital full scale.
    pub clipped: u64,
}

impl Levels {
    /// A pass over `channels` channels, 10 ms sub-blocks of `sub_frames` frames (at least 10),
    /// 10 a block; a sample at or over `clip` (or at −1.0) is clipped.
    pub fn new(channels: usize, sub_frames: usize, clip: f32) -> Levels {
        let sub_frames = sub_frames.max(UNITS);
        Levels {
            channels,
            sub_frames,
            subs_per_block: 10,
            clip,
            clicks: (0..channels).map(|_| Clicks::default()).collect(),
            scratch: vec![vec![0.0; sub_frames + 1]; channels],
            block_ms: 0.0,
            block_subs: 0,
            block_zero: true,
            blocks: Vec::new(),
            peak: 0.0,
            clipped: 0,
        }
    }

    /// Frames in a sub-block.
    pub fn sub_frames(&self) -> usize {
        self.sub_frames
    }

    /// Takes whole sub-blocks of interleaved `pcm` (its length a multiple of a sub-block).
    pub fn feed(&mut self, pcm: &[f32]) {
        for sub in pcm.chunks_exact(self.sub_frames * self.channels) {
            self.sub_block(sub);
        }
    }

    fn sub_block(&mut self, sub: &[f32]) {
        let mut ms = 0.0f64;
        let mut zero = true;
        self.split(sub);
        for c in 0..self.channels {
            let p = pass(&self.scratch[c], self.clip);
            let st = &mut self.clicks[c];
            st.prev = self.scratch[c][self.sub_frames];
            zero &= p.peak == 0.0;
            self.peak = self.peak.max(p.peak);
            self.clipped += u64::from(p.clipped);
            ms += f64::from(p.sum / self.sub_frames as f32);
            st.push(p.sub);
        }
        self.block_ms += ms / self.channels as f64;
        self.block_zero &= zero;
        self.block_subs += 1;
        if self.block_subs == self.subs_per_block {
            let ms = self.block_ms / self.subs_per_block as f64;
            self.blocks.push((!self.block_zero).then_some(ms));
            (self.block_ms, self.block_subs, self.block_zero) = (0.0, 0, true);
        }
    }

    /// Splits interleaved `sub` into [`Levels::scratch`], each channel after its previous sample.
    fn split(&mut self, sub: &[f32]) {
        for (c, buf) in self.scratch.iter_mut().enumerate() {
            buf[0] = self.clicks[c].prev;
        }
        if let [l, r] = &mut self.scratch[..] {
            for (f, (a, b)) in sub.chunks_exact(2).zip(l[1..].iter_mut().zip(&mut r[1..])) {
                (*a, *b) = (f[0], f[1]);
            }
            return;
        }
        for (c, buf) in self.scratch.iter_mut().enumerate() {
            for (v, x) in buf[1..].iter_mut().zip(sub[c..].iter().step_by(self.channels)) {
                *v = *x;
            }
        }
    }

    /// Clicks and pops over every channel (a click heard on both channels counts once: the
    /// channel with the most is taken).
    pub fn clicks(&mut self) -> (u64, u64) {
        self.clicks.iter_mut().for_each(Clicks::end_click);
        let best = self.clicks.iter().max_by_key(|c| c.clicks);
        best.map_or((0, 0), |c| (c.clicks, c.pops))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testsig;
    use super::*;

    fn run(pcm: &[f32], channels: usize) -> Levels {
        let mut l = Levels::new(channels, 480, 32_767.0 / 32_768.0);
        let whole = pcm.len() / (480 * channels) * 480 * channels;
        l.feed(&pcm[..whole]);
        l
    }

    #[test]
    fn clicks_and_pops_are_counted_in_music_and_noise_and_nothing_in_clean_audio() {
        // 60 s: 5 s lead-in, 3 tracks of 16 s with 2 s gaps; noise at -55 dBFS.
        let clean = testsig::side(5.0, 3, 16.0, -55.0, 0, -20.0);
        assert_eq!(run(&clean, 2).clicks(), (0, 0), "clean music and noise made clicks");
        // -24 dBFS: 30 dB over the noise, and the music's own steepest moments 16 dB under it.
        let clicky = testsig::side(5.0, 3, 16.0, -55.0, 30, -24.0);
        let (clicks, pops) = run(&clicky, 2).clicks();
        assert_eq!((clicks, pops), (30, 0), "30 clicks at -24 dBFS, no pops");
        let loud = testsig::side(5.0, 3, 16.0, -55.0, 12, -8.0);
        assert_eq!(run(&loud, 2).clicks(), (12, 12), "-8 dBFS clicks are pops everywhere");
    }

    #[test]
    fn blocks_peak_and_clipping() {
        let mut x = testsig::fm_tone(1000.0, -6.0, 0.0, 1.0, 1.0, -200.0, 48_000, 1);
        x[100] = 1.0;
        x[101] = -1.0;
        x.extend(std::iter::repeat_n(0.0, 4800));
        let l = run(&x, 1);
        assert_eq!(l.clipped, 2);
        assert_eq!(l.peak, 1.0);
        assert_eq!(l.blocks.len(), 11);
        assert_eq!(l.blocks[10], None, "exact zeros are no information");
        let db = 10.0 * l.blocks[5].unwrap().log10();
        assert!((db - (-9.01)).abs() < 0.05, "a -6 dBFS-peak sine is -9.01 dBFS RMS: {db}");
    }
}
