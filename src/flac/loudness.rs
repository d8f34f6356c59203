//! Loudness and quality tags of a side: ReplayGain 2.0 for players, `VINYL_*` for the archive.
//!
//! Owns the names and the formatting of the tags that carry a side's measurements (the
//! side_report's numbers) into its FLAC file: [`tags`] turns [`Measurements`] into comments, pure;
//! [`write()`] sets them in place within the padding ([`super::meta::edit`]). It does not
//! measure anything. How it fails: like every in-place edit, all or nothing, with one line naming
//! the file and the step (a file that cannot be opened or parsed, tags that do not fit).
//!
//! The tags (plain numbers without units, but the ReplayGain gain, which players expect with
//! ` dB`), from the measurements of a [`Measurements`]:
//!
//! | tag | value | example |
//! |-----|-------|---------|
//! | `REPLAYGAIN_TRACK_GAIN` | −18 LUFS (the ReplayGain 2.0 reference) minus the loudness ([`gain`]) | `-3.20 dB`, `5.10 dB` |
//! | `REPLAYGAIN_TRACK_PEAK` | the true peak as a linear amplitude, 1.0 = full scale | `0.912011` |
//! | `VINYL_LUFS` | integrated loudness, LUFS | `-14.80` |
//! | `VINYL_TRUE_PEAK` | true peak, dBTP | `-0.80` |
//! | `VINYL_NOISE_FLOOR` | surface noise (lead-in and gaps), RMS dBFS | `-62.50` |
//! | `VINYL_CLICKS_PER_MIN` | clicks a minute where no music plays | `3.40` |
//! | `VINYL_CLIPPED` | samples at full scale | `0` |
//!
//! Each [`write()`] replaces all seven: a measurement that is missing (`None`, as the side_report
//! event's `null`: a side whose loudness stayed under the gates) or not a finite number leaves its
//! tags out, and earlier values of them are removed rather than left stale. No gain is better
//! than a wrong or infinite one.

use super::meta;
use std::path::Path;

/// The ReplayGain 2.0 reference loudness, LUFS.
pub const REFERENCE_LUFS: f64 = -18.0;

/// Every tag [`write()`] owns.
pub const TAGS: [&str; 7] = [
    "REPLAYGAIN_TRACK_GAIN",
    "REPLAYGAIN_TRACK_PEAK",
    "VINYL_LUFS",
    "VINYL_TRUE_PEAK",
    "VINYL_NOISE_FLOOR",
    "VINYL_CLICKS_PER_MIN",
    "VINYL_CLIPPED",
];

/// A side's measurements, named as in `vinyl-listen`'s side_report event; `None` where it says
/// `null`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measurements {
    /// Integrated loudness (EBU R 128 / BS.1770), LUFS, e.g. −14.8.
    pub integrated_lufs: Option<f64>,
    /// True peak, dBTP, e.g. −0.8 (above 0 when the side clips between samples).
    pub true_peak_dbtp: Option<f64>,
    /// Surface noise level, RMS dBFS, e.g. −62.5.
    pub noise_floor_dbfs: Option<f64>,
    /// Clicks a minute, e.g. 3.4.
    pub clicks_per_min: Option<f64>,
    /// Samples at full scale, e.g. 0.
    pub clipped: u64,
}

/// A number with two decimals, `-0.00` written `0.00`.
fn two(v: f64) -> String {
    let s = format!("{v:.2}");
    if s == "-0.00" { "0.00".into() } else { s }
}

/// The ReplayGain 2.0 gain for a loudness, as loudgain and the players write it: two decimals,
/// ` dB`, no `+` (`-6.54 dB`, `1.03 dB`).
pub fn gain(lufs: f64) -> String {
    format!("{} dB", two(REFERENCE_LUFS - lufs))
}

/// The tags of `m`, in the order of [`TAGS`], without those of missing or non-finite values.
pub fn tags(m: &Measurements) -> Vec<(String, String)> {
    let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
    let mut t: Vec<(&str, String)> = Vec::with_capacity(TAGS.len());
    if let Some(lufs) = finite(m.integrated_lufs) {
        t.push(("REPLAYGAIN_TRACK_GAIN", gain(lufs)));
    }
    if let Some(tp) = finite(m.true_peak_dbtp) {
        t.push(("REPLAYGAIN_TRACK_PEAK", format!("{:.6}", 10f64.powf(tp / 20.0))));
    }
    let plain = [
        ("VINYL_LUFS", m.integrated_lufs),
        ("VINYL_TRUE_PEAK", m.true_peak_dbtp),
        ("VINYL_NOISE_FLOOR", m.noise_floor_dbfs),
        ("VINYL_CLICKS_PER_MIN", m.clicks_per_min),
    ];
    t.extend(plain.into_iter().filter_map(|(k, v)| Some((k, two(finite(v)?)))));
    t.push(("VINYL_CLIPPED", m.clipped.to_string()));
    t.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Sets the tags of `m` ([`tags`]) in the finished FLAC file at `path`, in place, removing every
/// earlier value of the seven [`TAGS`] first, then syncs. Another engineer's `vinyl-rec auto`
/// calls this when it finalises a side.
pub fn write(path: &Path, m: &Measurements) -> anyhow::Result<()> {
    let new = tags(m);
    meta::edit_at(path, "write the loudness tags", |blocks| {
        meta::edit_comments(blocks, |c| {
            c.retain(|(k, _)| !TAGS.iter().any(|t| t.eq_ignore_ascii_case(k)));
            c.extend(new);
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(lufs: f64, tp: f64) -> Measurements {
        Measurements {
            integrated_lufs: Some(lufs),
            true_peak_dbtp: Some(tp),
            noise_floor_dbfs: Some(-62.5),
            clicks_per_min: Some(3.4),
            clipped: 7,
        }
    }

    fn value(t: &[(String, String)], k: &str) -> Option<String> {
        t.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_gain_is_signed_against_minus_18_lufs() {
        let t = tags(&side(-14.8, -0.8));
        assert_eq!(value(&t, "REPLAYGAIN_TRACK_GAIN").unwrap(), "-3.20 dB");
        assert_eq!(value(&tags(&side(-23.1, -6.0)), "REPLAYGAIN_TRACK_GAIN").unwrap(), "5.10 dB");
        assert_eq!(value(&tags(&side(-18.001, -6.0)), "REPLAYGAIN_TRACK_GAIN").unwrap(), "0.00 dB");
        assert_eq!(value(&tags(&side(-17.999, -6.0)), "REPLAYGAIN_TRACK_GAIN").unwrap(), "0.00 dB");
        let k: Vec<&str> = t.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(k, TAGS);
        assert_eq!(value(&t, "VINYL_LUFS").unwrap(), "-14.80");
        assert_eq!(value(&t, "VINYL_TRUE_PEAK").unwrap(), "-0.80");
        assert_eq!(value(&t, "VINYL_NOISE_FLOOR").unwrap(), "-62.50");
        assert_eq!(value(&t, "VINYL_CLICKS_PER_MIN").unwrap(), "3.40");
        assert_eq!(value(&t, "VINYL_CLIPPED").unwrap(), "7");
    }

    #[test]
    fn the_peak_is_linear_with_six_decimals() {
        assert_eq!(value(&tags(&side(-14.0, -0.8)), "REPLAYGAIN_TRACK_PEAK").unwrap(), "0.912011");
        assert_eq!(value(&tags(&side(-14.0, 0.0)), "REPLAYGAIN_TRACK_PEAK").unwrap(), "1.000000");
        assert_eq!(value(&tags(&side(-14.0, 1.0)), "REPLAYGAIN_TRACK_PEAK").unwrap(), "1.122018");
    }

    #[test]
    fn missing_or_infinite_measurements_leave_their_tags_out() {
        let none = Measurements::default();
        assert_eq!(tags(&none), [("VINYL_CLIPPED".to_string(), "0".to_string())]);
        let inf =
            Measurements { integrated_lufs: Some(f64::NEG_INFINITY), true_peak_dbtp: Some(f64::NAN), ..none };
        assert_eq!(tags(&inf), tags(&none));
    }

    #[test]
    fn a_new_write_replaces_every_earlier_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.flac");
        let spec = crate::pcm::PcmSpec::default();
        let opts = crate::flac::WriterOptions {
            tags: vec![("TITLE".into(), "Side A".into())],
            ..crate::flac::WriterOptions::default()
        };
        crate::flac::tests::write_file(&path, spec, &opts, &[0u8; 4000]);
        write(&path, &side(-20.0, -3.0)).unwrap();
        let p = crate::flac::probe::probe(&path).unwrap();
        assert_eq!(p.tag("REPLAYGAIN_TRACK_GAIN"), Some("2.00 dB"));
        assert_eq!(p.tags.len(), 1 + TAGS.len());
        write(&path, &Measurements { clipped: 3, ..Measurements::default() }).unwrap();
        let p = crate::flac::probe::probe(&path).unwrap();
        assert_eq!(
            p.tags,
            [("TITLE".to_string(), "Side A".to_string()), ("VINYL_CLIPPED".into(), "3".into())]
        );
    }
}
