//! The side's loudness: EBU R128 integrated loudness, loudness range and true peak (through the
//! `ebur128` crate), sample peak and clipped samples, over exactly the frames of the side.
//!
//! Owns a history of the last [`HISTORY_S`] seconds of samples, because a side's first frame is
//! known only seconds after it was heard, and its last one seconds after that (a run-out is
//! decided after several revolutions, whose clicks must not count as the side's peak). The meter
//! trails the input by [`TRAIL_S`] seconds and is fed from the history, so it starts and stops on
//! the frames the events name. Fails only if the crate refuses the channel count or rate.

use anyhow::anyhow;
use ebur128::{EbuR128, Mode};
use std::collections::VecDeque;

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

/// The history and, during a side, its meter.
pub struct Loudness {
    channels: usize,
    rate: u32,
    full_scale: i32,
    /// Interleaved samples, the first of which belongs to frame `first`.
    samples: VecDeque<i32>,
    first: u64,
    side: Option<SideMeter>,
}

struct SideMeter {
    meter: EbuR128,
    /// The next frame to feed.
    cursor: u64,
    peak: f64,
    clipped: u64,
}

impl Loudness {
    /// A history for `channels` at `rate` of samples whose full scale is `full_scale`.
    pub fn new(channels: usize, rate: u32, full_scale: i32) -> Loudness {
        let cap = (HISTORY_S * rate) as usize * channels;
        Loudness { channels, rate, full_scale, samples: VecDeque::with_capacity(cap), first: 0, side: None }
    }

    /// Forgets the history (the input jumped to `first`).
    pub fn restart(&mut self, first: u64) {
        self.samples.clear();
        self.first = first;
        self.side = None;
    }

    /// Adds one frame's samples, then feeds the meter up to the trailing point.
    pub fn push(&mut self, frame: &[i32]) {
        if self.samples.len() >= (HISTORY_S * self.rate) as usize * self.channels {
            self.samples.drain(..self.channels);
            self.first += 1;
        }
        self.samples.extend(frame.iter().take(self.channels));
        let end = self.first + (self.samples.len() / self.channels) as u64;
        if end % (self.rate as u64 / 10).max(1) == 0 {
            self.feed(end.saturating_sub((TRAIL_S * self.rate) as u64));
        }
    }

    /// Starts measuring a side at `frame` (or the oldest frame held, if older).
    pub fn start(&mut self, frame: u64) -> anyhow::Result<()> {
        let mode = Mode::I | Mode::LRA | Mode::TRUE_PEAK;
        let meter = EbuR128::new(self.channels as u32, self.rate, mode)
            .map_err(|e| anyhow!("loudness meter: {} channels at {} Hz: {e:?}", self.channels, self.rate))?;
        self.side = Some(SideMeter { meter, cursor: frame.max(self.first), peak: 0.0, clipped: 0 });
        Ok(())
    }

    /// Ends the side at `frame` (exclusive) and reports it; `None` if no side was measured.
    pub fn finish(&mut self, frame: u64) -> Option<Report> {
        self.feed(frame);
        let side = self.side.take()?;
        let m = &side.meter;
        let tp = (0..self.channels as u32).filter_map(|c| m.true_peak(c).ok()).fold(0.0, f64::max);
        let finite = |v: f64| v.is_finite().then_some(v);
        Some(Report {
            integrated_lufs: m.loudness_global().ok().and_then(finite),
            loudness_range_lu: m.loudness_range().ok().and_then(finite),
            true_peak_dbtp: (tp > 0.0).then(|| 20.0 * tp.log10()),
            peak_dbfs: (side.peak > 0.0).then(|| 20.0 * side.peak.log10()),
            clipped: side.clipped,
        })
    }

    /// Feeds the meter the frames from its cursor up to `upto` that the history holds.
    fn feed(&mut self, upto: u64) {
        let Some(side) = self.side.as_mut() else { return };
        let end = self.first + (self.samples.len() / self.channels) as u64;
        let (from, to) = (side.cursor.max(self.first), upto.min(end));
        if to <= from {
            return;
        }
        let fs = self.full_scale as f32;
        let (lo, hi) = (-self.full_scale, self.full_scale - 1);
        let skip = (from - self.first) as usize * self.channels;
        let count = (to - from) as usize * self.channels;
        let mut buf = Vec::with_capacity(count);
        for &v in self.samples.iter().skip(skip).take(count) {
            side.clipped += (v <= lo || v >= hi) as u64;
            let x = v as f32 / fs;
            side.peak = side.peak.max(x.abs() as f64);
            buf.push(x);
        }
        // The meter takes any frames; it refuses only a length that is not whole frames.
        let _ = side.meter.add_frames_f32(&buf);
        side.cursor = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EBU Tech 3341 / 3342 test signals: stereo 1 kHz sines at the given dBFS levels and
    /// durations, measured as a side from the first frame to the last.
    fn measure(parts: &[(f64, f64)]) -> Report {
        let rate = 48_000;
        let fs = 1 << 23;
        let mut l = Loudness::new(2, rate, fs);
        l.start(0).unwrap();
        let mut n = 0u64;
        for &(dbfs, secs) in parts {
            let amp = 10f64.powf(dbfs / 20.0) * fs as f64;
            for _ in 0..(secs * rate as f64) as u64 {
                let v = (amp * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / rate as f64).sin()).round()
                    as i32;
                l.push(&[v, v]);
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
    fn peaks_and_clipping_are_counted_on_the_sides_frames_only() {
        let mut l = Loudness::new(1, 1000, 32768);
        for i in 0..5000u64 {
            let v = if i == 100 {
                32767
            } else if i == 3000 {
                16384
            } else {
                0
            };
            l.push(&[v]);
        }
        l.start(2000).unwrap();
        let r = l.finish(4000).unwrap();
        assert_eq!(r.clipped, 0);
        near(r.peak_dbfs, -6.02, 0.01);
    }
}
