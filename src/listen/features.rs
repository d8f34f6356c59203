//! What the listener hears in each 10 ms block: energies in three bands, the strongest
//! high-frequency impulse, and the raw sums the level meter needs.
//!
//! Owns the filters (RBJ biquads, run in f64 so a 300 Hz low-pass at 48 kHz stays stable) and
//! the block arithmetic. It makes no decisions: the detector reads these numbers. Energies are
//! mean squares over every sample of every channel, scaled to ±1.0 full scale (so their decibels
//! read as the RMS dBFS of one channel), never of a mono mix: a side whose noise is mostly
//! vertical (L−R) is heard as well as a lateral one. It cannot fail.

/// Where the bands split: below [`LOW_HZ`] (rumble, hum, bass), above [`HIGH_HZ`] (hiss,
/// crackle, the groove itself), and the middle between.
pub const LOW_HZ: f64 = 300.0;
/// See [`LOW_HZ`].
pub const HIGH_HZ: f64 = 2000.0;

/// The most channels the listener keeps per-channel sums for (the shared flags allow 8).
pub const MAX_CHANNELS: usize = 8;

/// A second-order section in transposed direct form II.
#[derive(Clone, Copy, Debug, Default)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    z: [f64; 2],
}

impl Biquad {
    /// A Butterworth (Q = 1/√2) low-pass or high-pass at `hz` for `rate`.
    pub fn butterworth(high_pass: bool, hz: f64, rate: u32) -> Biquad {
        let w = 2.0 * std::f64::consts::PI * hz / rate as f64;
        let (sin, cos) = w.sin_cos();
        let alpha = sin / std::f64::consts::SQRT_2;
        let a0 = 1.0 + alpha;
        let (b0, b1) =
            if high_pass { ((1.0 + cos) / 2.0, -(1.0 + cos)) } else { ((1.0 - cos) / 2.0, 1.0 - cos) };
        Biquad { b: [b0 / a0, b1 / a0, b0 / a0], a: [-2.0 * cos / a0, (1.0 - alpha) / a0], z: [0.0; 2] }
    }

    /// A section of these coefficients (`a` without its leading 1), at rest.
    pub fn new(b: [f64; 3], a: [f64; 2]) -> Biquad {
        Biquad { b, a, z: [0.0; 2] }
    }

    /// Silence lets the state decay toward subnormal numbers, which are slow on most CPUs: call
    /// this now and then (a state this small is silence to any measure).
    pub fn flush_tiny(&mut self) {
        for z in &mut self.z {
            if z.abs() < 1e-30 {
                *z = 0.0;
            }
        }
    }

    /// Filters one sample.
    #[inline]
    pub fn run(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// One section's coefficients run over `C` channels at once, each with its own state: the
/// channels' arithmetic is independent, so it runs side by side (in vector registers where the
/// CPU has them), with the very operations, in the very order, of [`Biquad::run`].
#[derive(Clone, Copy, Debug)]
pub struct Bank<const C: usize> {
    b: [f64; 3],
    a: [f64; 2],
    z0: [f64; C],
    z1: [f64; C],
}

impl<const C: usize> Bank<C> {
    /// The sections of `C` channels (alike but for their state) as a bank.
    pub fn of(sections: &[Biquad]) -> Bank<C> {
        let s = sections[0];
        Bank {
            b: s.b,
            a: s.a,
            z0: std::array::from_fn(|c| sections[c].z[0]),
            z1: std::array::from_fn(|c| sections[c].z[1]),
        }
    }

    /// Writes the states back into the sections.
    pub fn store(&self, sections: &mut [Biquad]) {
        for (c, s) in sections.iter_mut().take(C).enumerate() {
            s.z = [self.z0[c], self.z1[c]];
        }
    }

    /// Filters one sample of each channel.
    #[inline]
    pub fn run(&mut self, x: [f64; C]) -> [f64; C] {
        let mut y = [0.0; C];
        for c in 0..C {
            y[c] = self.b[0] * x[c] + self.z0[c];
            self.z0[c] = self.b[1] * x[c] - self.a[0] * y[c] + self.z1[c];
            self.z1[c] = self.b[2] * x[c] - self.a[1] * y[c];
        }
        y
    }
}

/// The numbers of one block.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Block {
    /// The timeline frame of the block's first frame.
    pub first: u64,
    /// Full-band energy (mean square over all samples).
    pub full: f64,
    /// Energy below [`LOW_HZ`].
    pub low: f64,
    /// Energy above [`HIGH_HZ`].
    pub high: f64,
    /// The largest squared high-passed sample, and the frame where it is.
    pub impulse: f64,
    /// See `impulse`.
    pub impulse_frame: u64,
}

impl Block {
    /// The energy between the low and high bands (never below a tiny floor, so it has a level).
    pub fn mid(&self) -> f64 {
        (self.full - self.low - self.high).max(self.full * 1e-3).max(TINY)
    }
}

/// An energy that reads as about −200 dB: the level of digital silence.
pub const TINY: f64 = 1e-20;

/// Decibels of an energy (mean square) relative to full scale.
pub fn db(energy: f64) -> f64 {
    10.0 * energy.max(TINY).log10()
}

/// Per-channel sums for the level meter, over any span of blocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sums {
    /// Frames summed.
    pub frames: u64,
    /// Sum of squares per channel.
    pub squares: [f64; MAX_CHANNELS],
    /// Largest absolute sample per channel.
    pub peak: [f64; MAX_CHANNELS],
    /// Samples at full scale (either sign), all channels.
    pub clipped: u64,
}

/// Turns whole frames of normalised samples into [`Block`]s and [`Sums`].
pub struct Analyser {
    channels: usize,
    /// A sample at or over this, or at −1.0, is at full scale (clipped).
    clip: f32,
    block_frames: u32,
    low: Vec<Biquad>,
    high: Vec<Biquad>,
    acc: Block,
    filled: u32,
}

impl Analyser {
    /// An analyser for `channels` at `rate`, with blocks of 10 ms, of samples in ±1.0 whose
    /// positive full scale is `clip`.
    pub fn new(channels: usize, rate: u32, clip: f32) -> Analyser {
        Analyser {
            channels,
            clip,
            block_frames: (rate / 100).max(1),
            low: vec![Biquad::butterworth(false, LOW_HZ, rate); channels],
            high: vec![Biquad::butterworth(true, HIGH_HZ, rate); channels],
            acc: Block::default(),
            filled: 0,
        }
    }

    /// Frames in a block.
    pub fn block_frames(&self) -> u32 {
        self.block_frames
    }

    /// Starts a new block at `first` (after a discontinuity), dropping a partial one.
    pub fn restart(&mut self, first: u64) {
        self.acc = Block { first, ..Block::default() };
        self.filled = 0;
    }

    /// Analyses whole interleaved frames (±1.0), adding to `sums` and pushing each block they
    /// complete.
    pub fn frames(&mut self, x: &[f32], sums: &mut Sums, blocks: &mut Vec<Block>) {
        let ch = self.channels;
        let mut rest = x;
        while !rest.is_empty() {
            let n = ((self.block_frames - self.filled) as usize).min(rest.len() / ch);
            let (now, later) = rest.split_at(n * ch);
            self.stretch(now, sums);
            sums.frames += n as u64;
            self.filled += n as u32;
            rest = later;
            if self.filled == self.block_frames {
                let k = self.block_frames as f64 * ch as f64;
                let mut done = self.acc;
                (done.full, done.low, done.high) = (done.full / k, done.low / k, done.high / k);
                self.restart(self.acc.first + self.block_frames as u64);
                self.low.iter_mut().chain(&mut self.high).for_each(Biquad::flush_tiny);
                blocks.push(done);
            }
        }
    }

    /// Runs whole frames within the current block through the filters, with the channel count
    /// known at compile time, so each frame's channels run their filters side by side.
    fn stretch(&mut self, x: &[f32], sums: &mut Sums) {
        match self.channels {
            1 => self.channels_of::<1>(x, sums),
            2 => self.channels_of::<2>(x, sums),
            3 => self.channels_of::<3>(x, sums),
            4 => self.channels_of::<4>(x, sums),
            5 => self.channels_of::<5>(x, sums),
            6 => self.channels_of::<6>(x, sums),
            7 => self.channels_of::<7>(x, sums),
            _ => self.channels_of::<MAX_CHANNELS>(x, sums),
        }
    }

    fn channels_of<const C: usize>(&mut self, x: &[f32], sums: &mut Sums) {
        let (mut low, mut high) = (Bank::<C>::of(&self.low), Bank::<C>::of(&self.high));
        let (mut full, mut lo, mut hi, mut peak) = ([0.0f64; C], [0.0f64; C], [0.0f64; C], [0.0f64; C]);
        let (mut imp, mut at, mut clipped) = (self.acc.impulse, None, 0u64);
        for (i, frame) in x.chunks_exact(C).enumerate() {
            let v: [f64; C] = std::array::from_fn(|c| frame[c] as f64);
            let (l, h) = (low.run(v), high.run(v));
            for c in 0..C {
                clipped += (frame[c] <= -1.0 || frame[c] >= self.clip) as u64;
                full[c] += v[c] * v[c];
                lo[c] += l[c] * l[c];
                let hh = h[c] * h[c];
                hi[c] += hh;
                if hh > imp {
                    (imp, at) = (hh, Some(i));
                }
                // Compare-and-select, not f64::max (whose NaN rule costs more; samples are never NaN).
                let a = v[c].abs();
                peak[c] = if a > peak[c] { a } else { peak[c] };
            }
        }
        low.store(&mut self.low);
        high.store(&mut self.high);
        sums.clipped += clipped;
        for c in 0..C {
            self.acc.full += full[c];
            self.acc.low += lo[c];
            self.acc.high += hi[c];
            sums.squares[c] += full[c];
            sums.peak[c] = sums.peak[c].max(peak[c]);
        }
        if let Some(i) = at {
            self.acc.impulse = imp;
            self.acc.impulse_frame = self.acc.first + self.filled as u64 + i as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, rate: u32, secs: f64) -> Vec<f64> {
        let n = (rate as f64 * secs) as usize;
        (0..n).map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin() * 0.5).collect()
    }

    fn blocks_of(x: &[f64]) -> Vec<Block> {
        let mut a = Analyser::new(1, 48_000, 32767.0 / 32768.0);
        let (mut sums, mut blocks) = (Sums::default(), Vec::new());
        let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        // In uneven pieces, as input arrives.
        for piece in x.chunks(1000) {
            a.frames(piece, &mut sums, &mut blocks);
        }
        blocks
    }

    #[test]
    fn the_bands_split_a_tone_by_its_frequency() {
        let last = |b: &[Block]| *b.last().unwrap();
        let low = last(&blocks_of(&tone(60.0, 48_000, 0.5)));
        assert!(db(low.low) > db(low.full) - 0.5, "{low:?}");
        assert!(db(low.high) < db(low.full) - 50.0, "{low:?}");
        let high = last(&blocks_of(&tone(8000.0, 48_000, 0.5)));
        assert!(db(high.high) > db(high.full) - 0.5, "{high:?}");
        assert!(db(high.low) < db(high.full) - 50.0, "{high:?}");
        let mid = last(&blocks_of(&tone(1000.0, 48_000, 0.5)));
        assert!(db(mid.mid()) > db(mid.full) - 6.0, "{mid:?}");
        // A sine of amplitude 0.5 has a mean square of 1/8: −9.03 dB.
        assert!((db(mid.full) + 9.03).abs() < 0.1, "{mid:?}");
    }

    #[test]
    fn blocks_are_numbered_by_their_first_frame_and_an_impulse_is_found() {
        let mut x = vec![0.0; 4800];
        x[1234] = 0.9;
        let b = blocks_of(&x);
        assert_eq!(b.len(), 10);
        assert_eq!(b[3].first, 1440);
        let loudest = b.iter().max_by(|p, q| p.impulse.total_cmp(&q.impulse)).unwrap();
        assert_eq!(loudest.impulse_frame, 1234);
    }

    /// The blocks of stereo input arriving in pieces of `piece` frames, as one filter per channel,
    /// a channel at a time over each stretch of a block, computes them: the arithmetic the
    /// detector was tuned on.
    fn blocks_one_channel_at_a_time(x: &[f32], piece: usize) -> Vec<Block> {
        let (rate, bf) = (48_000, 480);
        let mut low = [Biquad::butterworth(false, LOW_HZ, rate); 2];
        let mut high = [Biquad::butterworth(true, HIGH_HZ, rate); 2];
        let (mut blocks, mut b, mut filled) = (Vec::new(), Block::default(), 0);
        for mut rest in x.chunks(piece * 2) {
            while !rest.is_empty() {
                let n = (bf - filled).min(rest.len() / 2);
                for c in 0..2 {
                    let (mut full, mut lo, mut hi) = (0.0, 0.0, 0.0);
                    for (i, &v) in rest[..n * 2].iter().skip(c).step_by(2).enumerate() {
                        let v = v as f64;
                        let (l, h) = (low[c].run(v), high[c].run(v));
                        (full, lo, hi) = (full + v * v, lo + l * l, hi + h * h);
                        if h * h > b.impulse {
                            (b.impulse, b.impulse_frame) = (h * h, b.first + (filled + i) as u64);
                        }
                    }
                    (b.full, b.low, b.high) = (b.full + full, b.low + lo, b.high + hi);
                }
                (filled, rest) = (filled + n, &rest[n * 2..]);
                if filled == bf {
                    let k = (bf * 2) as f64;
                    blocks.push(Block { full: b.full / k, low: b.low / k, high: b.high / k, ..b });
                    (b, filled) = (Block { first: b.first + bf as u64, ..Block::default() }, 0);
                }
            }
        }
        blocks
    }

    #[test]
    fn channels_filtered_side_by_side_give_the_very_numbers_of_one_at_a_time() {
        // The detector's events are pinned to these numbers: running the channels' filters
        // together must not change a bit of them (only speed).
        let mut seed = 11u64;
        let x: Vec<f32> = (0..48_000 * 2)
            .map(|i| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
                noise * [0.3f32, 0.01, 0.0001][(i / 9600) % 3]
            })
            .collect();
        let mut a = Analyser::new(2, 48_000, 32767.0 / 32768.0);
        let (mut sums, mut ours) = (Sums::default(), Vec::new());
        // In uneven pieces, as input arrives.
        for piece in x.chunks(2 * 777) {
            a.frames(piece, &mut sums, &mut ours);
        }
        let want = blocks_one_channel_at_a_time(&x, 777);
        assert_eq!(ours.len(), want.len());
        for (got, want) in ours.iter().zip(&want) {
            assert_eq!(got, want, "block at frame {}", want.first);
        }
    }
}
