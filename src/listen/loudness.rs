//! The side's loudness: EBU R128 integrated loudness and loudness range ([`super::r128`]), true
//! peak (through the `ebur128` crate's 4x oversampling), sample peak and clipped samples, over
//! exactly the frames of the side.
//!
//! Owns a history of the last [`HISTORY_S`] seconds of samples, because a side's first frame is
//! known only seconds after it was heard, and its last one seconds after that (a run-out is
//! decided after several revolutions, whose clicks must not count as the side's peak). The meter
//! trails the input by [`TRAIL_S`] seconds and is fed from the history, so it starts and stops on
//! the frames the events name. True peak, the dearest part, is measured only on the blocks whose
//! sample peak could raise it. Fails only if the crate refuses the channel count or rate.

use super::r128::R128;
use anyhow::anyhow;
use ebur128::{EbuR128, Mode};

/// Seconds of samples kept.
pub const HISTORY_S: u32 = 16;
/// Seconds by which the meter trails the input.
pub const TRAIL_S: u32 = 12;

/// A side's loudness and peaks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    /// Integrated loudness (LUFS); `None` when everything was under the gates.
    pub integrated_lufs: Option<f64>,
    /// Loudness range (LU).
    pub loudness_range_lu: Option<f64>,
    /// True peak (dBTP), over all channels.
    pub true_peak_dbtp: Option<f64>,
    /// Sample peak (dBFS), over all channels.
    pub peak_dbfs: Option<f64>,
    /// Samples at full scale.
    pub clipped: u64,
}

/// The history and, during a side, its meters.
pub struct Loudness {
    channels: usize,
    rate: u32,
    /// Samples at or over this (or at −1.0) are clipped.
    clip: f32,
    /// The last [`HISTORY_S`] seconds, interleaved, as a ring: frame `f` is at `f % cap`.
    ring: Vec<f32>,
    cap: u64,
    /// The frame after the newest held.
    end: u64,
    side: Option<SideMeter>,
}

struct SideMeter {
    /// Integrated loudness and loudness range, fed every frame of the side.
    meter: R128,
    /// True peak, fed only the blocks whose sample peak could raise it (4x oversampling is the
    /// dearest part of the measurement, and most blocks are well under the side's peak).
    peaks: EbuR128,
    true_peak: f64,
    /// The next frame to feed.
    cursor: u64,
    peak: f32,
    clipped: u64,
}

/// Frames per block of the true-peak screening.
const BLOCK: u64 = 480;
/// Frames fed before a screened block (the oversampling filter's start-up lands in them) and
/// after it (its delay).
const CONTEXT: u64 = 32;
/// How far a true peak can exceed the largest sample around it: 4x oversampling of signals below
/// half the rate stays within about 3 dB; 4 dB of room.
const INTERSAMPLE: f32 = 1.585;

impl Loudness {
    /// A history for `channels` at `rate` of samples in ±1.0 whose positive full scale is
    /// `(full_scale − 1) / full_scale`.
    pub fn new(channels: usize, rate: u32, full_scale: i32) -> Loudness {
        let cap = (HISTORY_S * rate) as u64;
        Loudness {
            channels,
            rate,
            clip: (full_scale - 1) as f32 / full_scale as f32,
            ring: vec![0.0; cap as usize * channels],
            cap,
            end: 0,
            side: None,
        }
    }

    /// Forgets the history (the input jumped to `first`).
    pub fn restart(&mut self, first: u64) {
        self.end = first;
        self.side = None;
    }

    /// Adds whole interleaved frames (±1.0), then feeds the meters up to the trailing point.
    pub fn push_frames(&mut self, frames: &[f32]) {
        let c = self.channels;
        // More than the history holds: only the newest frames matter.
        let skip = (frames.len() / c).saturating_sub(self.cap as usize);
        self.end += skip as u64;
        let mut rest = &frames[skip * c..];
        while !rest.is_empty() {
            let at = (self.end % self.cap) as usize;
            let n = (self.cap as usize - at).min(rest.len() / c);
            self.ring[at * c..(at + n) * c].copy_from_slice(&rest[..n * c]);
            self.end += n as u64;
            rest = &rest[n * c..];
        }
        let upto = self.end.saturating_sub((TRAIL_S * self.rate) as u64);
        if self.side.as_ref().is_some_and(|s| upto >= s.cursor + BLOCK) {
            self.feed(upto);
        }
    }

    /// Adds `frames` frames of digital silence (frames the input skipped: a gap), then feeds
    /// the meters like [`Loudness::push_frames`]; the meters' gates leave silence out.
    pub fn push_silence(&mut self, frames: u64) {
        let c = self.channels;
        self.end += frames.saturating_sub(self.cap);
        let mut rest = frames.min(self.cap);
        while rest > 0 {
            let at = (self.end % self.cap) as usize;
            let n = (self.cap as usize - at).min(rest as usize);
            self.ring[at * c..(at + n) * c].fill(0.0);
            self.end += n as u64;
            rest -= n as u64;
        }
        self.push_frames(&[]);
    }

    /// Adds one frame (one sample per channel, ±1.0).
    pub fn push(&mut self, frame: &[f32]) {
        self.push_frames(&frame[..self.channels]);
    }

    fn oldest(&self) -> u64 {
        self.end.saturating_sub(self.cap)
    }

    /// Starts measuring a side at `frame` (or the oldest frame held, if older).
    pub fn start(&mut self, frame: u64) -> anyhow::Result<()> {
        let new = |mode| {
            EbuR128::new(self.channels as u32, self.rate, mode)
                .map_err(|e| anyhow!("loudness meter: {} channels at {} Hz: {e:?}", self.channels, self.rate))
        };
        let (meter, peaks) = (R128::new(self.channels, self.rate), new(Mode::TRUE_PEAK)?);
        let cursor = frame.max(self.oldest());
        self.side = Some(SideMeter { meter, peaks, true_peak: 0.0, cursor, peak: 0.0, clipped: 0 });
        Ok(())
    }

    /// Ends the side at `frame` (exclusive) and reports it; `None` if no side was measured.
    pub fn finish(&mut self, frame: u64) -> Option<Report> {
        self.feed(frame);
        let side = self.side.take()?;
        let m = &side.meter;
        let finite = |v: f64| v.is_finite().then_some(v);
        Some(Report {
            integrated_lufs: m.integrated().and_then(finite),
            loudness_range_lu: finite(m.range()),
            true_peak_dbtp: (side.true_peak > 0.0).then(|| 20.0 * side.true_peak.log10()),
            peak_dbfs: (side.peak > 0.0).then(|| 20.0 * (side.peak as f64).log10()),
            clipped: side.clipped,
        })
    }

    /// The held frames `from..to` (at most a capacity) as at most two slices of the ring.
    fn frames(&self, from: u64, to: u64) -> [&[f32]; 2] {
        let c = self.channels;
        let (a, len) = ((from % self.cap) as usize, to.saturating_sub(from) as usize);
        let cap = self.cap as usize;
        if a + len <= cap {
            [&self.ring[a * c..(a + len) * c], &[]]
        } else {
            [&self.ring[a * c..], &self.ring[..(a + len - cap) * c]]
        }
    }

    /// Feeds the meters the frames from the cursor up to `upto` that the history holds, a block
    /// at a time.
    fn feed(&mut self, upto: u64) {
        let Some(mut side) = self.side.take() else { return };
        let mut from = side.cursor.max(self.oldest());
        let to = upto.min(self.end);
        while from < to {
            let next = (from - from % BLOCK + BLOCK).min(to);
            self.feed_block(&mut side, from, next, to);
            from = next;
        }
        side.cursor = side.cursor.max(to);
        self.side = Some(side);
    }

    fn feed_block(&self, side: &mut SideMeter, from: u64, to: u64, side_end: u64) {
        let mut block_peak = 0f32;
        for part in self.frames(from, to) {
            let (peak, clipped) = peak_and_clipped(part, self.clip);
            block_peak = block_peak.max(peak);
            side.clipped += clipped;
            side.meter.add(part);
        }
        side.peak = side.peak.max(block_peak);
        if (block_peak * INTERSAMPLE) as f64 >= side.true_peak {
            let lead = from.saturating_sub(CONTEXT).max(self.oldest());
            let tail = (to + CONTEXT).min(side_end);
            for part in self.frames(lead, from) {
                let _ = side.peaks.add_frames_f32(part);
            }
            let mut peak = 0f64;
            for part in self.frames(from, tail) {
                if side.peaks.add_frames_f32(part).is_ok() && !part.is_empty() {
                    let p = (0..self.channels as u32).filter_map(|c| side.peaks.prev_true_peak(c).ok());
                    peak = p.fold(peak, f64::max);
                }
            }
            side.true_peak = side.true_peak.max(peak);
        }
    }
}

/// The largest absolute sample of `x` and how many are at full scale (at or over `clip`, or at
/// −1.0). In lanes of 8, with compare-and-select rather than `f32::max` (whose NaN rule keeps
/// the compiler from vectorising it): a decoded sample is never NaN, so the result is the same.
fn peak_and_clipped(x: &[f32], clip: f32) -> (f32, u64) {
    const LANES: usize = 8;
    let (mut peak, mut clipped) = ([0f32; LANES], [0u32; LANES]);
    let mut chunks = x.chunks_exact(LANES);
    for chunk in &mut chunks {
        for i in 0..LANES {
            let v = chunk[i].abs();
            peak[i] = if v > peak[i] { v } else { peak[i] };
            clipped[i] += (chunk[i] <= -1.0 || chunk[i] >= clip) as u32;
        }
    }
    let rest = chunks.remainder();
    let peak = rest.iter().map(|v| v.abs()).chain(peak).fold(0f32, f32::max);
    let in_rest = rest.iter().filter(|&&v| v <= -1.0 || v >= clip).count() as u64;
    (peak, in_rest + clipped.iter().map(|&n| n as u64).sum::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EBU Tech 3341 / 3342 test signals: stereo 1 kHz sines at the given dBFS levels and
    /// durations, measured as a side from the first frame to the last.
    fn measure(parts: &[(f64, f64)]) -> Report {
        signal(parts, 1000.0, 0.0)
    }

    /// Sines of `hz` starting at `phase` (radians), 24-bit, stereo, at 48 kHz.
    fn signal(parts: &[(f64, f64)], hz: f64, phase: f64) -> Report {
        let (rate, fs) = (48_000u32, (1 << 23) as f64);
        let mut l = Loudness::new(2, rate, 1 << 23);
        l.start(0).unwrap();
        let mut n = 0u64;
        for &(dbfs, secs) in parts {
            let amp = 10f64.powf(dbfs / 20.0) * fs;
            for _ in 0..(secs * rate as f64) as u64 {
                let t = std::f64::consts::TAU * hz * n as f64 / rate as f64 + phase;
                let x = ((amp * t.sin()).round() / fs) as f32;
                l.push(&[x, x]);
                n += 1;
            }
        }
        l.finish(n).unwrap()
    }

    fn near(got: Option<f64>, want: f64, tol: f64) {
        let g = got.expect("a value");
        assert!((g - want).abs() <= tol, "got {g}, want {want} ± {tol}");
    }

    #[test]
    fn tech_3341_cases_1_to_5_read_their_reference_loudness() {
        near(measure(&[(-23.0, 20.0)]).integrated_lufs, -23.0, 0.1);
        near(measure(&[(-33.0, 20.0)]).integrated_lufs, -33.0, 0.1);
        near(measure(&[(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)]).integrated_lufs, -23.0, 0.1);
        let case4 = [(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)];
        near(measure(&case4).integrated_lufs, -23.0, 0.1);
        near(measure(&[(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)]).integrated_lufs, -23.0, 0.1);
    }

    #[test]
    fn tech_3342_cases_1_to_4_read_their_loudness_range() {
        near(measure(&[(-20.0, 20.0), (-30.0, 20.0)]).loudness_range_lu, 10.0, 1.0);
        near(measure(&[(-20.0, 20.0), (-15.0, 20.0)]).loudness_range_lu, 5.0, 1.0);
        near(measure(&[(-40.0, 20.0), (-20.0, 20.0)]).loudness_range_lu, 20.0, 1.0);
        let case4 = [(-50.0, 20.0), (-35.0, 20.0), (-20.0, 20.0), (-35.0, 20.0), (-50.0, 20.0)];
        near(measure(&case4).loudness_range_lu, 15.0, 1.0);
    }

    #[test]
    fn true_peaks_between_samples_are_found() {
        // A quarter of the rate at 45°: every sample is 3 dB under the sine's peak (EBU Tech 3341
        // case 16's signal).
        let r = signal(&[(-6.0, 5.0)], 12_000.0, std::f64::consts::FRAC_PI_4);
        near(r.peak_dbfs, -9.03, 0.05);
        near(r.true_peak_dbtp, -6.0, 0.4);
        // A louder stretch later raises it; a quieter one after does not lower it.
        let r = signal(&[(-20.0, 3.0), (-3.0, 1.0), (-30.0, 3.0)], 12_000.0, std::f64::consts::FRAC_PI_4);
        near(r.true_peak_dbtp, -3.0, 0.4);
    }

    #[test]
    fn the_lanes_find_the_peak_and_the_clipped_samples_a_plain_loop_finds() {
        let clip = 32767.0 / 32768.0;
        let mut x: Vec<f32> = (0..1001).map(|i| ((i * 37 % 201) as f32 - 100.0) / 400.0).collect();
        (x[3], x[500], x[998], x[1000]) = (-1.0, clip, 1.0, -0.9);
        for len in [0, 5, 8, 999, 1000, 1001] {
            let part = &x[..len];
            let peak = part.iter().fold(0f32, |m, v| m.max(v.abs()));
            let clipped = part.iter().filter(|&&v| v <= -1.0 || v >= clip).count() as u64;
            assert_eq!(peak_and_clipped(part, clip), (peak, clipped), "{len} samples");
        }
    }

    #[test]
    fn peaks_and_clipping_are_counted_on_the_sides_frames_only() {
        let mut l = Loudness::new(1, 1000, 32768);
        for i in 0..5000u64 {
            let v = match i {
                100 => 32767,
                3000 => 16384,
                _ => 0,
            };
            l.push(&[v as f32 / 32768.0]);
        }
        l.start(2000).unwrap();
        let r = l.finish(4000).unwrap();
        assert_eq!(r.clipped, 0);
        near(r.peak_dbfs, -6.02, 0.01);
    }
}
