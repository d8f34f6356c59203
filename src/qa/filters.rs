//! The filters the wow-and-flutter figures are read through, run on the tone's instantaneous
//! frequency (a few hundred values a second): the IEC 60386 / DIN 45507 / AES6 weighting, and the
//! Butterworth high- and low-passes that split wow (below 6 Hz) from flutter (above).
//!
//! Owns the designs (analog prototypes through the bilinear transform, each corner prewarped) and
//! [`Cascade`], which runs them. The weighting is a fit of the standard's table ([`WEIGHTING_TABLE`]:
//! a band-pass peaking at 4 Hz): poles at 0.768 Hz (twice) and 0.403 Hz for the rise, 10.84 Hz
//! and 43.58 Hz for the fall, a zero at 39.11 Hz, normalised to 0 dB at 4 Hz; within 0.6 dB of
//! the table from 0.2 to 200 Hz ([`weighting_analog`] is the prototype's response, for tests and
//! docs). It does not decide what is measured (see [`super::wow`]). It cannot fail: a design
//! asked for a corner at or above Nyquist is clamped below it.

use std::f64::consts::PI;

/// The standard's weighting table (Hz, dB relative to 4 Hz): IEC 60386, DIN 45507, AES6-2008.
pub const WEIGHTING_TABLE: [(f64, f64); 17] = [
    (0.1, -48.0),
    (0.2, -30.6),
    (0.315, -19.7),
    (0.4, -15.0),
    (0.63, -8.4),
    (0.8, -6.0),
    (1.0, -4.2),
    (1.6, -1.8),
    (2.0, -0.9),
    (4.0, 0.0),
    (6.3, -0.9),
    (10.0, -2.1),
    (20.0, -5.9),
    (40.0, -10.4),
    (63.0, -14.2),
    (100.0, -17.3),
    (200.0, -23.0),
];

/// The weighting's analog corners (Hz): two high-pass poles, one more, two low-pass poles and a
/// zero.
const W_HP2: f64 = 0.7676;
const W_HP1: f64 = 0.4025;
const W_LP1: f64 = 10.837;
const W_LP2: f64 = 43.577;
const W_ZERO: f64 = 39.113;

/// One first- or second-order section: `y = (b0 x + b1 x1 + b2 x2 − a1 y1 − a2 y2)`.
#[derive(Clone, Copy, Debug, Default)]
struct Section {
    b: [f64; 3],
    a: [f64; 2],
    x: [f64; 2],
    y: [f64; 2],
}

impl Section {
    fn run(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }

    /// The magnitude of the section's response at `f` Hz (rate `fs`).
    fn gain(&self, f: f64, fs: f64) -> f64 {
        let w = 2.0 * PI * f / fs;
        let z1 = (w.cos(), -w.sin());
        let z2 = ((2.0 * w).cos(), -(2.0 * w).sin());
        let num = (self.b[0] + self.b[1] * z1.0 + self.b[2] * z2.0, self.b[1] * z1.1 + self.b[2] * z2.1);
        let den = (1.0 + self.a[0] * z1.0 + self.a[1] * z2.0, self.a[0] * z1.1 + self.a[1] * z2.1);
        num.0.hypot(num.1) / den.0.hypot(den.1)
    }
}

/// The bilinear constant for a corner at `f` Hz, prewarped: `ω / tan(ω / 2fs)`.
fn warp(f: f64, fs: f64) -> f64 {
    let f = f.min(fs * 0.45);
    2.0 * PI * f / (PI * f / fs).tan()
}

/// The analog first-order `(n0 + n1 s) / (d0 + d1 s)` through the bilinear transform with
/// constant `c`.
fn first_order(n: [f64; 2], d: [f64; 2], c: f64) -> Section {
    let a0 = d[0] + d[1] * c;
    Section {
        b: [(n[0] + n[1] * c) / a0, (n[0] - n[1] * c) / a0, 0.0],
        a: [(d[0] - d[1] * c) / a0, 0.0],
        ..Section::default()
    }
}

/// A second-order Butterworth-shaped section of quality `q` at `f` Hz: low-pass or high-pass
/// (the RBJ cookbook's bilinear design).
fn second_order(f: f64, q: f64, fs: f64, high: bool) -> Section {
    let w = 2.0 * PI * f.min(fs * 0.45) / fs;
    let alpha = w.sin() / (2.0 * q);
    let cos = w.cos();
    let a0 = 1.0 + alpha;
    let b = if high {
        [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0]
    } else {
        [(1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0]
    };
    Section { b: b.map(|v| v / a0), a: [-2.0 * cos / a0, (1.0 - alpha) / a0], ..Section::default() }
}

/// Sections run one after the other.
#[derive(Clone, Debug, Default)]
pub struct Cascade {
    sections: Vec<Section>,
    fs: f64,
}

impl Cascade {
    /// Runs `x` through every section.
    pub fn run(&mut self, x: f64) -> f64 {
        self.sections.iter_mut().fold(x, |v, s| s.run(v))
    }

    /// The magnitude of the whole cascade's response at `f` Hz.
    pub fn gain(&self, f: f64) -> f64 {
        self.sections.iter().map(|s| s.gain(f, self.fs)).product()
    }

    /// Appends `other`'s sections after this one's.
    pub fn then(mut self, other: Cascade) -> Cascade {
        self.sections.extend(other.sections);
        self
    }
}

/// The IEC 60386 weighting at rate `fs`, 0 dB at 4 Hz.
pub fn weighting(fs: f64) -> Cascade {
    let hp = |f: f64| first_order([0.0, 1.0 / (2.0 * PI * f)], [1.0, 1.0 / (2.0 * PI * f)], warp(f, fs));
    let lp = |f: f64| first_order([1.0, 0.0], [1.0, 1.0 / (2.0 * PI * f)], warp(f, fs));
    let shelf =
        first_order([1.0, 1.0 / (2.0 * PI * W_ZERO)], [1.0, 1.0 / (2.0 * PI * W_LP2)], warp(W_LP2, fs));
    let mut c = Cascade { sections: vec![hp(W_HP2), hp(W_HP2), hp(W_HP1), lp(W_LP1), shelf], fs };
    let g = c.gain(4.0);
    c.sections[0].b = c.sections[0].b.map(|b| b / g);
    c
}

/// The weighting's analog prototype's magnitude at `f` Hz, relative to 4 Hz.
pub fn weighting_analog(f: f64) -> f64 {
    let h = |f: f64| {
        let hp = |c: f64| f / f.hypot(c);
        let lp = |c: f64| 1.0 / (1.0 + (f / c).powi(2)).sqrt();
        hp(W_HP2).powi(2) * hp(W_HP1) * lp(W_LP1) * lp(W_LP2) * (1.0 + (f / W_ZERO).powi(2)).sqrt()
    };
    h(f) / h(4.0)
}

/// A Butterworth filter of order 2 or 4 at `f` Hz: high-pass or low-pass.
pub fn butterworth(f: f64, order: usize, fs: f64, high: bool) -> Cascade {
    let qs: &[f64] = if order >= 4 { &[0.541_196_1, 1.306_563] } else { &[std::f64::consts::FRAC_1_SQRT_2] };
    Cascade { sections: qs.iter().map(|&q| second_order(f, q, fs, high)).collect(), fs }
}

/// A Butterworth magnitude of `order` at `f` Hz for a corner at `fc`.
pub fn butterworth_analog(f: f64, fc: f64, order: i32, high: bool) -> f64 {
    let r = if high { fc / f } else { f / fc };
    1.0 / (1.0 + r.powi(2 * order)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(g: f64) -> f64 {
        20.0 * g.log10()
    }

    #[test]
    fn the_weighting_follows_the_standards_table_within_0_6_db() {
        for (f, want) in WEIGHTING_TABLE.iter().filter(|(f, _)| (0.2..=200.0).contains(f)) {
            let analog = db(weighting_analog(*f));
            assert!((analog - want).abs() <= 0.6, "{f} Hz: prototype {analog:.2} dB, table {want} dB");
        }
        // The digital filter at the demodulator's 1 kHz agrees with its prototype where wow and
        // flutter live, and with the table within 1 dB up to 100 Hz (near its Nyquist frequency
        // the bilinear transform bends it: 1.8 dB under the table at 200 Hz).
        let w = weighting(super::super::wow::IF_RATE);
        for f in [0.2, 0.5, 1.0, 4.0, 10.0, 20.0] {
            let (d, a) = (db(w.gain(f)), db(weighting_analog(f)));
            assert!((d - a).abs() < 0.1, "{f} Hz: digital {d:.2} dB, prototype {a:.2} dB");
        }
        for (f, want) in WEIGHTING_TABLE.iter().filter(|(f, _)| (0.2..=100.0).contains(f)) {
            let d = db(w.gain(*f));
            assert!((d - want).abs() <= 1.0, "{f} Hz: digital {d:.2} dB, table {want} dB");
        }
        assert!((w.gain(4.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn butterworth_designs_match_their_prototypes() {
        let lp = butterworth(6.0, 4, 480.0, false);
        let hp = butterworth(6.0, 4, 480.0, true);
        for f in [1.0, 4.0, 6.0, 10.0, 20.0] {
            assert!((lp.gain(f) - butterworth_analog(f, 6.0, 4, false)).abs() < 0.01, "lp {f}");
            assert!((hp.gain(f) - butterworth_analog(f, 6.0, 4, true)).abs() < 0.01, "hp {f}");
        }
    }

    #[test]
    fn a_cascade_filters_a_sine_by_its_gain() {
        let fs = 480.0;
        let mut w = weighting(fs);
        let f = 20.0;
        let mut peak: f64 = 0.0;
        for n in 0..(fs as usize * 10) {
            let y = w.run((2.0 * PI * f * n as f64 / fs).sin());
            if n > fs as usize * 5 {
                peak = peak.max(y.abs());
            }
        }
        assert!((peak - w.gain(f)).abs() < 0.01, "peak {peak}, gain {}", w.gain(f));
    }
}
