//! Integrated loudness (ITU-R BS.1770-4, EBU R128) and loudness range (EBU Tech 3342) in one pass
//! that the two share: the K-weighting filter runs once per sample, the weighted squares are
//! summed once into 100 ms parts, and every 400 ms gating block (each 100 ms) and 3 s short-term
//! block (each second, libebur128's cadence) is a sum of parts, not of samples again.
//!
//! Owns the filter state, the parts and the block energies of one side; the gates are applied at
//! the end. It does not measure peaks (`loudness` does, true peak through the `ebur128` crate's
//! oversampling). Checked against EBU Tech 3341 cases 1-5 and 3342 cases 1-4 (`loudness`'s tests,
//! `examples/ebu-cases`). It cannot fail: any rate and channel count give numbers.

use super::features::{Bank, Biquad, MAX_CHANNELS};

/// The absolute gate of both measures, in LUFS.
const ABSOLUTE_GATE_LUFS: f64 = -70.0;
/// The relative gate of the integrated loudness, in LU under the mean of the blocks.
const RELATIVE_GATE_LU: f64 = -10.0;
/// The relative gate of the loudness range, in LU.
const RANGE_GATE_LU: f64 = -20.0;
/// 100 ms parts in a gating block (400 ms).
const BLOCK_PARTS: usize = 4;
/// 100 ms parts in a short-term block (3 s)…
const SHORT_PARTS: usize = 30;
/// …taken every second.
const SHORT_EVERY: usize = 10;

/// The K-weighting of BS.1770 at `rate`: the high shelf (+4 dB above about 1.5 kHz) and the
/// high-pass (RLB, about 38 Hz), from the analogue prototypes libebur128 uses, so any rate gets
/// the standard's response (at 48 kHz the coefficients are the standard's own).
fn k_weighting(rate: u32) -> [Biquad; 2] {
    let rate = rate.max(1) as f64;
    let (f0, gain_db, q) = (1681.974450955533, 3.999843853973347, 0.7071752369554196);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let vh = 10f64.powf(gain_db / 20.0);
    let vb = vh.powf(0.4996667741545416);
    let a0 = 1.0 + k / q + k * k;
    let shelf = Biquad::new(
        [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0],
        [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    );
    let (f0, q) = (38.13547087602444, 0.5003270373238773);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let a0 = 1.0 + k / q + k * k;
    let high_pass = Biquad::new([1.0, -2.0, 1.0], [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]);
    [shelf, high_pass]
}

/// The weight of channel `c` of `n` (BS.1770's: 1 for the front channels, 1.41 for the
/// surrounds, 0 for the LFE), in libebur128's default order (L R C LFE Ls Rs; 4 and 5 channels
/// without an LFE).
fn weight(c: usize, n: usize) -> f64 {
    let surround = match n {
        4 => c >= 2,
        5 => c >= 3,
        _ => c == 4 || c == 5,
    };
    if surround {
        1.41
    } else if n == 4 || n == 5 || c <= 2 {
        1.0
    } else {
        0.0
    }
}

fn to_lufs(energy: f64) -> f64 {
    10.0 * energy.log10() - 0.691
}

fn to_energy(lufs: f64) -> f64 {
    10f64.powf((lufs + 0.691) / 10.0)
}

/// One side's meter.
pub struct R128 {
    /// Each channel's shelf and high-pass.
    shelves: Vec<Biquad>,
    high_passes: Vec<Biquad>,
    weights: Vec<f64>,
    part_len: usize,
    /// Frames in the current part, and its weighted sum of squares.
    filled: usize,
    sum: f64,
    /// The sums of the last [`SHORT_PARTS`] parts, newest last, and how many parts ended.
    parts: std::collections::VecDeque<f64>,
    ended: usize,
    /// Mean weighted squares of every gating block and every short-term block.
    blocks: Vec<f64>,
    short: Vec<f64>,
}

impl R128 {
    /// A meter for `channels` at `rate`.
    pub fn new(channels: usize, rate: u32) -> R128 {
        R128 {
            shelves: vec![k_weighting(rate)[0]; channels],
            high_passes: vec![k_weighting(rate)[1]; channels],
            weights: (0..channels).map(|c| weight(c, channels)).collect(),
            part_len: ((rate as usize + 5) / 10).max(1),
            filled: 0,
            sum: 0.0,
            parts: std::collections::VecDeque::with_capacity(SHORT_PARTS + 1),
            ended: 0,
            blocks: Vec::new(),
            short: Vec::new(),
        }
    }

    /// Adds whole interleaved frames (a trailing partial frame is ignored).
    pub fn add(&mut self, frames: &[f32]) {
        let c = self.shelves.len();
        if c == 0 {
            return;
        }
        let mut rest = &frames[..frames.len() - frames.len() % c];
        while !rest.is_empty() {
            let n = (self.part_len - self.filled).min(rest.len() / c);
            let (now, later) = rest.split_at(n * c);
            self.sum += self.weighted_squares(now);
            self.filled += n;
            rest = later;
            if self.filled == self.part_len {
                self.end_part();
            }
        }
    }

    /// Runs the filters over `frames` (whole frames) and returns their weighted sum of squares,
    /// with the channel count known at compile time, so each frame's channels run side by side.
    fn weighted_squares(&mut self, frames: &[f32]) -> f64 {
        match self.shelves.len() {
            1 => self.squares_of::<1>(frames),
            2 => self.squares_of::<2>(frames),
            3 => self.squares_of::<3>(frames),
            4 => self.squares_of::<4>(frames),
            5 => self.squares_of::<5>(frames),
            6 => self.squares_of::<6>(frames),
            7 => self.squares_of::<7>(frames),
            _ => self.squares_of::<MAX_CHANNELS>(frames),
        }
    }

    fn squares_of<const C: usize>(&mut self, frames: &[f32]) -> f64 {
        let (mut shelf, mut high_pass) = (Bank::<C>::of(&self.shelves), Bank::<C>::of(&self.high_passes));
        let mut sums = [0.0f64; C];
        for frame in frames.chunks_exact(C) {
            let y = high_pass.run(shelf.run(std::array::from_fn(|c| frame[c] as f64)));
            for c in 0..C {
                sums[c] += y[c] * y[c];
            }
        }
        shelf.store(&mut self.shelves);
        high_pass.store(&mut self.high_passes);
        sums.iter().zip(&self.weights).map(|(s, w)| s * w).sum()
    }

    fn end_part(&mut self) {
        if self.parts.len() == SHORT_PARTS {
            self.parts.pop_front();
        }
        self.parts.push_back(self.sum);
        (self.sum, self.filled) = (0.0, 0);
        self.ended += 1;
        self.shelves.iter_mut().chain(&mut self.high_passes).for_each(Biquad::flush_tiny);
        let mean_of = |parts: &std::collections::VecDeque<f64>, n: usize, len: usize| {
            parts.iter().rev().take(n).sum::<f64>() / (n * len) as f64
        };
        if self.ended >= BLOCK_PARTS {
            self.blocks.push(mean_of(&self.parts, BLOCK_PARTS, self.part_len));
        }
        if self.ended >= SHORT_PARTS && (self.ended - SHORT_PARTS) % SHORT_EVERY == 0 {
            self.short.push(mean_of(&self.parts, SHORT_PARTS, self.part_len));
        }
    }

    /// Integrated loudness (LUFS): the blocks over the absolute gate, then over the relative gate
    /// 10 LU under their mean. `None` when no block passes.
    pub fn integrated(&self) -> Option<f64> {
        let gated = gate(&self.blocks, RELATIVE_GATE_LU);
        (!gated.is_empty()).then(|| to_lufs(gated.iter().sum::<f64>() / gated.len() as f64))
    }

    /// Loudness range (LU): the short-term blocks over the absolute gate and 20 LU under their
    /// mean, from the 10th to the 95th percentile; 0 when none passes.
    pub fn range(&self) -> f64 {
        let mut gated = gate(&self.short, RANGE_GATE_LU);
        if gated.is_empty() {
            return 0.0;
        }
        gated.sort_by(f64::total_cmp);
        let at = |p: f64| gated[((gated.len() - 1) as f64 * p + 0.5) as usize];
        to_lufs(at(0.95)) - to_lufs(at(0.10))
    }
}

/// The energies over the absolute gate and over the relative gate `relative_lu` under their mean.
fn gate(energies: &[f64], relative_lu: f64) -> Vec<f64> {
    let absolute = to_energy(ABSOLUTE_GATE_LUFS);
    let loud: Vec<f64> = energies.iter().copied().filter(|&e| e >= absolute).collect();
    if loud.is_empty() {
        return loud;
    }
    let relative = loud.iter().sum::<f64>() / loud.len() as f64 * 10f64.powf(relative_lu / 10.0);
    loud.into_iter().filter(|&e| e >= relative).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_k_weighting_at_48_khz_has_the_standards_coefficients() {
        // BS.1770-4, tables 1 and 2.
        let [shelf, hp] = k_weighting(48_000);
        let near = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} != {b}");
        // The response at 48 kHz of the standard's coefficients, through ours: a unit impulse's
        // first outputs are the b coefficients folded with the a ones.
        let (mut shelf, mut hp) = (shelf, hp);
        let (s0, s1) = (shelf.run(1.0), shelf.run(0.0));
        near(s0, 1.53512485958697);
        near(s1, -2.69169618940638 + 1.69065929318241 * 1.53512485958697);
        let (h0, h1) = (hp.run(1.0), hp.run(0.0));
        near(h0, 1.0);
        near(h1, -2.0 + 1.99004745483398);
    }

    #[test]
    fn stereo_weights_are_one_and_the_lfe_is_left_out() {
        assert_eq!((weight(0, 2), weight(1, 2), weight(0, 1)), (1.0, 1.0, 1.0));
        assert_eq!((weight(3, 6), weight(4, 6), weight(7, 8)), (0.0, 1.41, 0.0));
    }

    #[test]
    fn it_reads_what_libebur128_reads_at_other_rates_and_channel_counts() {
        // Noise bursts at changing levels (so both gates act), checked against the ebur128 crate
        // (the port of libebur128) at 44.1 and 96 kHz, mono to 6 channels.
        for (rate, channels) in [(44_100u32, 1usize), (48_000, 2), (96_000, 2), (48_000, 6)] {
            let mut seed = 7u64;
            let mut noise = || {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            };
            let frames: Vec<f32> = (0..rate as usize * 40)
                .flat_map(|i| {
                    let level = [0.5f32, 0.02, 0.2, 0.001][(i / rate as usize / 5) % 4];
                    (0..channels).map(|_| level * noise()).collect::<Vec<_>>()
                })
                .collect();
            let mut ours = R128::new(channels, rate);
            let mut theirs =
                ebur128::EbuR128::new(channels as u32, rate, ebur128::Mode::I | ebur128::Mode::LRA).unwrap();
            for chunk in frames.chunks(channels * 1000) {
                ours.add(chunk);
                theirs.add_frames_f32(chunk).unwrap();
            }
            let (i, lra) = (theirs.loudness_global().unwrap(), theirs.loudness_range().unwrap());
            let got = ours.integrated().unwrap();
            assert!((got - i).abs() < 0.01, "{rate} Hz x{channels}: integrated {got} != {i}");
            assert!(
                (ours.range() - lra).abs() < 0.01,
                "{rate} Hz x{channels}: range {} != {lra}",
                ours.range()
            );
        }
    }
}
