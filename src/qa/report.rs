//! The report `vinyl-qa` prints: its JSON keys (a contract: scripts and the collection's trends
//! read them by name, see `library::reports`) and its text summary.
//!
//! Owns the [`Report`] type, its building from a finished analysis ([`build`]: rounding, the
//! choice of the longest tone of each kind, the gain advice) and [`Report::text`]. It does not
//! analyse audio or print. It cannot fail.

use super::analyser::{Analyser, Tone};
use super::health;
use serde::Serialize;

/// The channel separation measured, by direction; a direction not measured is left out.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Separation {
    /// Left driven, right listened to (dB), e.g. 28.5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_to_right: Option<f64>,
    /// Right driven, left listened to (dB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right_to_left: Option<f64>,
}

/// Advice on the preamp's gain, from the sample peak and the clipped samples.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct GainAdvice {
    /// dB between the sample peak and full scale, e.g. 7.5.
    pub headroom_db: f64,
    /// `too_low` (peaks under −9 dBFS), `too_high` (over −3 dBFS, or clipped) or `ok`.
    pub verdict: String,
    /// The advice, as vinyl-listen --meter gives it.
    pub text: String,
}

/// A test tone found in the input.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ToneSeen {
    /// `speed`, `left_1k` or `right_1k`.
    pub kind: String,
    /// Where it starts (s from the input's first frame).
    pub start_s: f64,
    /// Its length (s).
    pub seconds: f64,
    /// Its frequency (Hz; a speed tone's measured mean).
    pub frequency_hz: f64,
}

/// The report: every figure, `None` (JSON null) when it could not be measured.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// The input: the FLAC file's path, or `-`.
    pub input: String,
    /// Frames a second.
    pub rate: u32,
    /// Channels.
    pub channels: usize,
    /// Seconds of audio read.
    pub seconds: f64,
    /// 0–100 ([`health`]'s rule).
    pub health: Option<u32>,
    /// One line for every point lost.
    pub reasons: Vec<String>,
    /// The speed tone against the reference (%), e.g. +0.12 for a deck 0.12 % fast.
    pub speed_error_pct: Option<f64>,
    /// IEC 60386 weighted wow and flutter, two-sigma (%), e.g. 0.06.
    pub wow_flutter_weighted_pct: Option<f64>,
    /// Unweighted peak (%).
    pub wow_flutter_unweighted_pct: Option<f64>,
    /// Unweighted below 6 Hz, two-sigma (%).
    pub wow_pct: Option<f64>,
    /// Unweighted above 6 Hz, two-sigma (%).
    pub flutter_pct: Option<f64>,
    /// How the deck's speed changed from the side's start to its end (%), against another
    /// recording of the side the collection learned ([`super::drift`]), e.g. +0.12 for a deck
    /// that sped up by 0.12 %; null when the collection does not know the side.
    pub speed_drift_pct: Option<f64>,
    /// Why `speed_drift_pct` is null, for the text summary (not in the JSON).
    #[serde(skip)]
    pub speed_drift_why: Option<&'static str>,
    /// The deck's speed error at the run-out (%) from the FLAC's `VINYL_RPM` tag against
    /// 33⅓/45/78 rpm, e.g. +0.36 for 33.45 rpm; null without the tag or for stdin.
    pub runout_speed_pct: Option<f64>,
    /// The speed tone's measured frequency (Hz).
    pub tone_hz: Option<f64>,
    /// The speed tone's nominal frequency (Hz), 3150 unless `--reference`.
    pub reference_hz: f64,
    /// Channel separation by direction (dB).
    pub separation_db: Separation,
    /// Left's level minus right's on their 1 kHz tones (dB), when both were measured.
    pub balance_db: Option<f64>,
    /// The quiet stretches' level (dBFS RMS), e.g. −58.
    pub noise_floor_dbfs: Option<f64>,
    /// The music's level (dBFS RMS), e.g. −24.
    pub music_dbfs: Option<f64>,
    /// Music over noise floor (dB).
    pub snr_db: Option<f64>,
    /// Clicks a minute (pops included).
    pub clicks_per_min: Option<f64>,
    /// Clicks 34 dB or more over their surroundings.
    pub pops: u64,
    /// Samples at digital full scale (0 is right).
    pub clipped: u64,
    /// The sample peak (dBFS).
    pub peak_dbfs: Option<f64>,
    /// 10–20 kHz against 1–4 kHz over the music (dB).
    pub hf_rolloff_db: Option<f64>,
    /// 5–30 Hz in the quiet stretches (dBFS RMS).
    pub rumble_dbfs: Option<f64>,
    /// The gain advice; `None` for digital silence.
    pub gain_advice: Option<GainAdvice>,
    /// The test tones found, in order.
    pub tones: Vec<ToneSeen>,
    /// The plots' data: not printed, kept in the collection with the report
    /// ([`Report::stored_json`]).
    #[serde(skip)]
    pub series: super::series::Series,
}

/// `v` rounded to `places` decimals.
fn round(v: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    // + 0.0: a value rounded to zero is 0, never -0.
    (v * m).round() / m + 0.0
}

fn round_opt(v: Option<f64>, places: i32) -> Option<f64> {
    v.filter(|v| v.is_finite()).map(|v| round(v, places))
}

/// The longest tone of `kind`.
fn longest<'a>(tones: &'a [Tone], kind: &str) -> Option<&'a Tone> {
    tones.iter().filter(|t| t.kind == kind).max_by(|a, b| a.seconds.total_cmp(&b.seconds))
}

/// The report of a finished analysis of `input`.
pub fn build(a: &mut Analyser, input: &str, reference: f64) -> Report {
    let side = super::side::measure(&a.levels.blocks, &a.chunks, a.channels);
    let (clicks, pops) = a.levels.clicks();
    let heard = a.levels.blocks.iter().flatten().count() as f64 * 0.1 / 60.0;
    let peak = (a.levels.peak > 0.0).then(|| 20.0 * f64::from(a.levels.peak).log10());
    let mut r = Report {
        input: input.to_string(),
        rate: a.rate,
        channels: a.channels,
        seconds: round(a.frames as f64 / f64::from(a.rate), 3),
        reference_hz: reference,
        noise_floor_dbfs: round_opt(side.noise_floor_dbfs, 2),
        music_dbfs: round_opt(side.music_dbfs, 2),
        snr_db: round_opt(side.snr_db, 2),
        clicks_per_min: (heard > 0.0).then(|| round(clicks as f64 / heard, 2)),
        pops,
        clipped: a.levels.clipped,
        peak_dbfs: round_opt(peak, 2),
        hf_rolloff_db: round_opt(side.hf_rolloff_db, 2),
        rumble_dbfs: round_opt(side.rumble_dbfs, 2),
        gain_advice: peak.map(|p| gain_advice(p, a.levels.clipped)),
        ..Report::default()
    };
    tones(&mut r, &a.tones, reference);
    (r.health, r.reasons) = health::score(&r);
    r.series = super::series::build(a, side.noise_floor_dbfs, longest(&a.tones, "speed"));
    r
}

/// The tone figures of `r` from the tones found.
fn tones(r: &mut Report, tones: &[Tone], reference: f64) {
    if let Some(f) = longest(tones, "speed").and_then(|t| t.flutter) {
        r.speed_error_pct = Some(round((f.mean_hz / reference - 1.0) * 100.0, 4));
        r.tone_hz = Some(round(f.mean_hz, 3));
        r.wow_flutter_weighted_pct = round_opt(f.weighted_pct, 4);
        r.wow_flutter_unweighted_pct = round_opt(f.unweighted_pct, 4);
        r.wow_pct = round_opt(f.wow_pct, 4);
        r.flutter_pct = round_opt(f.flutter_pct, 4);
    }
    let sep = |kind| longest(tones, kind).and_then(|t| t.powers);
    let db = |p: f64| 10.0 * p.log10();
    let (left, right) = (sep("left_1k"), sep("right_1k"));
    r.separation_db.left_to_right = round_opt(left.map(|(d, l)| db(d / l)), 2);
    r.separation_db.right_to_left = round_opt(right.map(|(d, l)| db(d / l)), 2);
    if let (Some((l, _)), Some((rt, _))) = (left, right) {
        r.balance_db = round_opt(Some(db(l / rt)), 2);
    }
    r.tones = tones
        .iter()
        .map(|t| ToneSeen {
            kind: t.kind.to_string(),
            start_s: round(t.start_s, 1),
            seconds: round(t.seconds, 1),
            frequency_hz: round(t.frequency_hz, 2),
        })
        .collect();
}

/// The advice for a side whose sample peak was `peak` dBFS with `clipped` samples at full scale.
fn gain_advice(peak: f64, clipped: u64) -> GainAdvice {
    let verdict = if clipped > 0 || peak > -3.0 {
        "too_high"
    } else if peak < -9.0 {
        "too_low"
    } else {
        "ok"
    };
    GainAdvice {
        headroom_db: round(-peak, 2),
        verdict: verdict.into(),
        text: crate::listen::meter::advice(Some(peak), clipped),
    }
}

impl Report {
    /// Sets the speed figures the collection and the tags give ([`super::drift`]), rounded. They
    /// lose no health points: the drift is relative to another recording (whose own drift it
    /// holds) and null for most sides, and the run-out's speed is the deck's, measured by the
    /// listener, not this side's.
    pub fn speeds(&mut self, drift: Result<f64, super::drift::NoDrift>, runout: Option<f64>) {
        self.speed_drift_pct = round_opt(drift.ok(), 3);
        self.speed_drift_why = drift.err().map(super::drift::NoDrift::says);
        self.runout_speed_pct = round_opt(runout, 2);
    }
}

/// `v` for the text summary, or `-` when not measured.
fn show(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v}{unit}"))
}

impl Report {
    /// The report as the collection keeps it: the printed JSON with the plots' data under
    /// `series` and the plots it can draw under `plots`.
    pub fn stored_json(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let (Some(o), Ok(s)) = (v.as_object_mut(), serde_json::to_value(&self.series)) {
            o.insert("series".into(), s);
            o.insert("plots".into(), self.series.kinds().into());
        }
        v.to_string()
    }

    /// The text summary: one figure a line, then the reasons.
    pub fn text(&self) -> String {
        let health = self.health.map_or("-".to_string(), |h| h.to_string());
        let mut s = format!(
            "{}: {:.1} s, {} Hz, {} channels\nhealth: {health}\n",
            self.input, self.seconds, self.rate, self.channels
        );
        for reason in &self.reasons {
            s += &format!("  {reason}\n");
        }
        let lines = [
            ("speed error", show(self.speed_error_pct, " %")),
            ("wow and flutter, weighted (2 sigma)", show(self.wow_flutter_weighted_pct, " %")),
            ("wow and flutter, unweighted peak", show(self.wow_flutter_unweighted_pct, " %")),
            ("wow (< 6 Hz)", show(self.wow_pct, " %")),
            ("flutter (> 6 Hz)", show(self.flutter_pct, " %")),
            ("speed drift (start to end)", self.drift_text()),
            ("speed at the run-out", show(self.runout_speed_pct, " %")),
            ("separation left to right", show(self.separation_db.left_to_right, " dB")),
            ("separation right to left", show(self.separation_db.right_to_left, " dB")),
            ("balance (left - right)", show(self.balance_db, " dB")),
            ("noise floor", show(self.noise_floor_dbfs, " dBFS")),
            ("music level", show(self.music_dbfs, " dBFS")),
            ("signal to noise", show(self.snr_db, " dB")),
            ("clicks a minute", show(self.clicks_per_min, "")),
            ("pops", self.pops.to_string()),
            ("clipped samples", self.clipped.to_string()),
            ("treble (10-20 kHz vs 1-4 kHz)", show(self.hf_rolloff_db, " dB")),
            ("rumble (5-30 Hz)", show(self.rumble_dbfs, " dBFS")),
            ("gain", self.gain_advice.as_ref().map_or("-".into(), |g| g.text.clone())),
        ];
        for (name, value) in lines {
            s += &format!("{name}: {value}\n");
        }
        for t in &self.tones {
            s += &format!(
                "tone {}: {:.1} Hz at {:.1} s for {:.1} s\n",
                t.kind, t.frequency_hz, t.start_s, t.seconds
            );
        }
        s
    }

    /// The drift for the text summary: the figure, or `-` and why there is none.
    fn drift_text(&self) -> String {
        match (self.speed_drift_pct, self.speed_drift_why) {
            (Some(d), _) => format!("{d:+} %"),
            (None, Some(why)) => format!("- ({why})"),
            (None, None) => "-".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::analyser::Analyser;
    use super::super::testsig;
    use super::*;

    fn report(pcm: &[f32], channels: usize, reference: f64) -> Report {
        let mut a = Analyser::new(48_000, channels, 16, reference);
        for block in pcm.chunks(4096 * channels) {
            a.feed(block);
        }
        a.finish();
        build(&mut a, "test", reference)
    }

    #[test]
    fn separation_is_within_half_a_db_up_to_35_db_and_balance_follows_the_levels() {
        for sep in [10.0, 20.0, 30.0, 35.0] {
            let mut x = testsig::crosstalk(true, -10.0, sep, 8.0, -65.0, 1);
            x.extend(testsig::crosstalk(false, -11.5, sep + 3.0, 8.0, -65.0, 5));
            let r = report(&x, 2, 3150.0);
            let (lr, rl) = (r.separation_db.left_to_right.unwrap(), r.separation_db.right_to_left.unwrap());
            println!(
                "separation {sep} dB: left to right {lr:.2} dB, right to left {rl:.2} dB (want {})",
                sep + 3.0
            );
            assert!((lr - sep).abs() <= 0.5, "{sep} dB: left to right {lr}");
            assert!((rl - (sep + 3.0)).abs() <= 0.5, "{} dB: right to left {rl}", sep + 3.0);
            assert!((r.balance_db.unwrap() - 1.5).abs() <= 0.1, "{:?}", r.balance_db);
            assert_eq!(r.tones.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>(), ["left_1k", "right_1k"]);
            assert_eq!(r.speed_error_pct, None);
        }
        // One direction only: the other is left out, and there is no balance.
        let r = report(&testsig::crosstalk(false, -10.0, 25.0, 6.0, -65.0, 2), 2, 3150.0);
        assert_eq!((r.separation_db.left_to_right, r.balance_db), (None, None));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["separation_db"].as_object().unwrap().len(), 1, "{json}");
    }

    #[test]
    fn a_speed_tone_is_found_among_music_and_measured() {
        // Music, then a 3150 Hz tone 0.8 % fast with 0.1 % of 4 Hz wow, then music.
        let music = testsig::side(2.0, 1, 6.0, -60.0, 0, -30.0);
        let tone = testsig::fm_tone(3150.0 * 1.008, -12.0, 0.1, 4.0, 15.0, -60.0, 48_000, 4);
        let mut x = music.clone();
        x.extend(testsig::stereo(&tone, &tone));
        x.extend(&music);
        let r = report(&x, 2, 3150.0);
        let speed = r.speed_error_pct.unwrap_or_else(|| panic!("{:?}", r.tones));
        assert!((speed - 0.8).abs() <= 0.01, "{speed}");
        let w = r.wow_flutter_weighted_pct.unwrap();
        assert!((w / 0.0997 - 1.0).abs() <= 0.1, "{w}");
        assert_eq!(r.tones.len(), 1, "{:?}", r.tones);
        assert!((r.tones[0].start_s - 10.0).abs() <= 0.5 && r.tones[0].seconds >= 14.0, "{:?}", r.tones);
        // Against another reference: the same tone is 0.8 % fast of 3150, so 5.84 % of 3000.
        let r = report(&x, 2, 3000.0);
        assert!((r.speed_error_pct.unwrap() - (3150.0 * 1.008 / 30.0 - 100.0)).abs() <= 0.01);
    }

    #[test]
    fn a_mono_side_of_music_gets_every_side_figure_and_text() {
        let stereo = testsig::side(6.0, 3, 15.0, -58.0, 20, -24.0);
        let mono: Vec<f32> = stereo.chunks(2).map(|f| f[0]).collect();
        let r = report(&mono, 1, 3150.0);
        assert!((r.noise_floor_dbfs.unwrap() - (-58.0)).abs() <= 1.0, "{r:?}");
        assert!(r.snr_db.unwrap() > 25.0 && r.hf_rolloff_db.is_some() && r.rumble_dbfs.is_some(), "{r:?}");
        let minutes = r.seconds / 60.0;
        assert!((r.clicks_per_min.unwrap() - 20.0 / minutes).abs() < 1.0, "{r:?}");
        assert_eq!(r.gain_advice.as_ref().unwrap().verdict, "too_low");
        assert!(r.health.unwrap() < 100 && !r.reasons.is_empty(), "{r:?}");
        let text = r.text();
        assert!(
            text.contains("health: ") && text.contains("noise floor: -5") && text.contains("speed error: -"),
            "{text}"
        );
    }
}
