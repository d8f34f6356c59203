//! Loudness and quality tags of a side: ReplayGain 2.0 for players, `VINYL_*` for the archive.
//!
//! Owns the names and the formatting of the tags that carry a side's measurements (the
//! side_report's numbers) into its FLAC file: [`tags`] turns a [`Loudness`] into comments, pure;
//! [`write`] sets them in place within the padding ([`super::meta::set_tags`]). It does not
//! measure anything. How it fails: like every in-place edit, all or nothing, with one line naming
//! the file and the step (a file that cannot be opened or parsed, tags that do not fit).
//!
//! The tags (plain numbers without units, but the ReplayGain gain, which players expect with
//! ` dB`):
//!
//! | tag | value | example |
//! |-----|-------|---------|
//! | `REPLAYGAIN_TRACK_GAIN` | −18 LUFS (the ReplayGain 2.0 reference) minus the loudness, signed | `-3.20 dB` |
//! | `REPLAYGAIN_TRACK_PEAK` | the true peak as a linear amplitude, 1.0 = full scale | `0.912011` |
//! | `VINYL_LUFS` | integrated loudness, LUFS | `-14.80` |
//! | `VINYL_TRUE_PEAK` | true peak, dBTP | `-0.80` |
//! | `VINYL_NOISE_FLOOR` | noise floor, dBFS | `-62.50` |
//! | `VINYL_CLICKS_PER_MIN` | clicks detected per minute | `3.40` |
//! | `VINYL_CLIPPED` | clipped samples | `0` |
//!
//! A loudness that is not a finite number (a silent side measures −∞) writes `VINYL_LUFS=-inf`
//! and no `REPLAYGAIN_TRACK_GAIN` (an earlier one is removed): no gain is better than an infinite
//! one. A true peak of −∞ is a linear peak of `0.000000`.

use super::meta;
use anyhow::Context as _;
use std::path::Path;

/// The ReplayGain 2.0 reference loudness, LUFS.
pub const REFERENCE_LUFS: f64 = -18.0;

/// A side's measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loudness {
    /// Integrated loudness (EBU R 128 / BS.1770), LUFS, e.g. −14.8.
    pub lufs: f64,
    /// True peak, dBTP, e.g. −0.8 (above 0 when the side clips between samples).
    pub true_peak_dbtp: f64,
    /// Noise floor (the run-in groove's or the quietest passage's level), dBFS, e.g. −62.5.
    pub noise_floor_dbfs: f64,
    /// Clicks detected per minute, e.g. 3.4.
    pub clicks_per_min: f64,
    /// Samples at or beyond full scale, e.g. 0.
    pub clipped: u64,
}

/// A number with two decimals, `-0.00` written `0.00`; `inf`/`-inf`/`nan` as Rust spells them.
fn two(v: f64) -> String {
    let s = format!("{v:.2}");
    if s == "-0.00" { "0.00".into() } else { s }
}

/// The tags of `l`, in the order of the table above (without `REPLAYGAIN_TRACK_GAIN` when the
/// loudness is not finite).
pub fn tags(l: &Loudness) -> Vec<(String, String)> {
    let mut t = Vec::with_capacity(7);
    if l.lufs.is_finite() {
        let gain = two(REFERENCE_LUFS - l.lufs);
        let gain = if gain.starts_with('-') { gain } else { format!("+{gain}") };
        t.push(("REPLAYGAIN_TRACK_GAIN".to_string(), format!("{gain} dB")));
    }
    t.push(("REPLAYGAIN_TRACK_PEAK".into(), format!("{:.6}", 10f64.powf(l.true_peak_dbtp / 20.0))));
    t.push(("VINYL_LUFS".into(), two(l.lufs)));
    t.push(("VINYL_TRUE_PEAK".into(), two(l.true_peak_dbtp)));
    t.push(("VINYL_NOISE_FLOOR".into(), two(l.noise_floor_dbfs)));
    t.push(("VINYL_CLICKS_PER_MIN".into(), two(l.clicks_per_min)));
    t.push(("VINYL_CLIPPED".into(), l.clipped.to_string()));
    t
}

/// Sets the tags of `l` ([`tags`]) in the finished FLAC file at `path`, in place, replacing
/// earlier values of the same tags, then syncs. Another engineer's `vinyl-rec auto` calls this
/// when it finalises a side.
pub fn write(path: &Path, l: &Loudness) -> anyhow::Result<()> {
    let shown = path.display();
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("{shown}: open"))?;
    let new = tags(l);
    meta::edit(&file, |blocks| {
        meta::edit_comments(blocks, |c| {
            c.retain(|(k, _)| !k.eq_ignore_ascii_case("REPLAYGAIN_TRACK_GAIN"));
            meta::merge_tags(c, &new);
        })
    })
    .with_context(|| format!("{shown}: write the loudness tags"))?;
    file.sync_data().with_context(|| format!("{shown}: sync"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(lufs: f64, tp: f64) -> Loudness {
        Loudness { lufs, true_peak_dbtp: tp, noise_floor_dbfs: -62.5, clicks_per_min: 3.4, clipped: 7 }
    }

    fn value(t: &[(String, String)], k: &str) -> Option<String> {
        t.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_gain_is_signed_against_minus_18_lufs() {
        let t = tags(&side(-14.8, -0.8));
        assert_eq!(value(&t, "REPLAYGAIN_TRACK_GAIN").unwrap(), "-3.20 dB");
        assert_eq!(value(&tags(&side(-23.1, -6.0)), "REPLAYGAIN_TRACK_GAIN").unwrap(), "+5.10 dB");
        assert_eq!(value(&tags(&side(-18.001, -6.0)), "REPLAYGAIN_TRACK_GAIN").unwrap(), "+0.00 dB");
        assert_eq!(value(&tags(&side(-17.999, -6.0)), "REPLAYGAIN_TRACK_GAIN").unwrap(), "+0.00 dB");
        let k: Vec<&str> = t.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            k,
            [
                "REPLAYGAIN_TRACK_GAIN",
                "REPLAYGAIN_TRACK_PEAK",
                "VINYL_LUFS",
                "VINYL_TRUE_PEAK",
                "VINYL_NOISE_FLOOR",
                "VINYL_CLICKS_PER_MIN",
                "VINYL_CLIPPED"
            ]
        );
        assert_eq!(value(&t, "VINYL_LUFS").unwrap(), "-14.80");
        assert_eq!(value(&t, "VINYL_NOISE_FLOOR").unwrap(), "-62.50");
        assert_eq!(value(&t, "VINYL_CLICKS_PER_MIN").unwrap(), "3.40");
        assert_eq!(value(&t, "VINYL_CLIPPED").unwrap(), "7");
    }

    #[test]
    fn the_peak_is_linear_with_six_decimals() {
        assert_eq!(value(&tags(&side(-14.0, -0.8)), "REPLAYGAIN_TRACK_PEAK").unwrap(), "0.912011");
        assert_eq!(value(&tags(&side(-14.0, 0.0)), "REPLAYGAIN_TRACK_PEAK").unwrap(), "1.000000");
        assert_eq!(value(&tags(&side(-14.0, 1.0)), "REPLAYGAIN_TRACK_PEAK").unwrap(), "1.122018");
        assert_eq!(
            value(&tags(&side(-14.0, f64::NEG_INFINITY)), "REPLAYGAIN_TRACK_PEAK").unwrap(),
            "0.000000"
        );
    }

    #[test]
    fn a_silent_side_gets_no_gain_and_loses_an_old_one() {
        let t = tags(&side(f64::NEG_INFINITY, f64::NEG_INFINITY));
        assert_eq!(value(&t, "REPLAYGAIN_TRACK_GAIN"), None);
        assert_eq!(value(&t, "VINYL_LUFS").unwrap(), "-inf");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.flac");
        let spec = crate::pcm::PcmSpec::default();
        let mut w = crate::flac::FlacWriter::new(
            std::fs::File::create(&path).unwrap(),
            spec,
            &crate::flac::WriterOptions::default(),
        )
        .unwrap();
        w.write_pcm(&vec![0u8; 4000]).unwrap();
        w.finalize().unwrap();
        write(&path, &side(-20.0, -3.0)).unwrap();
        assert_eq!(crate::flac::probe::probe(&path).unwrap().tag("REPLAYGAIN_TRACK_GAIN"), Some("+2.00 dB"));
        write(&path, &side(f64::NEG_INFINITY, f64::NEG_INFINITY)).unwrap();
        let p = crate::flac::probe::probe(&path).unwrap();
        assert_eq!((p.tag("REPLAYGAIN_TRACK_GAIN"), p.tag("VINYL_LUFS")), (None, Some("-inf")));
        assert_eq!(p.tags.iter().filter(|(k, _)| k == "VINYL_LUFS").count(), 1);
    }
}
