//! The health score: 100, less the points each figure loses, with one line for every loss.
//!
//! Owns the rule (also in `vinyl-qa --help` and the man page's HEALTH section):
//! - 1 point a dB of `snr_db` under 40, at most 25;
//! - 1 a click a minute over 2, at most 25; 2 a pop, at most 10;
//! - 10 when any sample clipped; 5 for a gain too low or too high (without clipping);
//! - 1 a dB of `rumble_dbfs` over −50, at most 10;
//! - 10 a percentage point of speed error over 0.3 %, at most 20;
//! - 100 a percentage point of weighted wow and flutter over 0.1 %, at most 25;
//! - 1 a dB of separation under 20 dB (the worse direction), at most 15; 2 a dB of balance over
//!   1 dB, at most 10.
//!
//! The treble (`hf_rolloff_db`) loses nothing: it depends on the record, and only its change
//! between plays of one record says something (the collection's trends). Nor do
//! `speed_drift_pct` (relative to another recording of the side, whose own drift it holds, and
//! null for most sides, so scores would compare unlike sides) and `runout_speed_pct` (the
//! listener's measurement at the run-out, not this side's). The score never goes
//! under 0 and is rounded to a whole number; it is `None` when nothing was measured. It cannot
//! fail.

use super::report::Report;

/// One rule's loss: the points and the line saying why.
fn loss(points: f64, cap: f64, line: impl FnOnce(f64) -> String) -> Option<(f64, String)> {
    let p = points.min(cap);
    (p >= 0.5).then(|| (p, line(p.round())))
}

/// The score and its reasons for `r`.
pub fn score(r: &Report) -> (Option<u32>, Vec<String>) {
    if r.peak_dbfs.is_none() {
        return (None, vec!["digital silence: nothing to measure".into()]);
    }
    let mut losses: Vec<Option<(f64, String)>> = Vec::new();
    if let Some(snr) = r.snr_db {
        losses.push(loss(40.0 - snr, 25.0, |p| format!("-{p}: signal-to-noise {snr:.1} dB, under 40 dB")));
    }
    if let Some(c) = r.clicks_per_min {
        losses.push(loss(c - 2.0, 25.0, |p| format!("-{p}: {c:.1} clicks a minute, over 2")));
    }
    losses.push(loss(2.0 * r.pops as f64, 10.0, |p| format!("-{p}: {} pops", r.pops)));
    if r.clipped > 0 {
        losses.push(loss(10.0, 10.0, |p| format!("-{p}: {} samples clipped", r.clipped)));
    }
    if let Some(g) = r.gain_advice.as_ref().filter(|g| g.verdict != "ok" && r.clipped == 0) {
        losses.push(loss(5.0, 5.0, |p| format!("-{p}: gain {}: {}", g.verdict.replace('_', " "), g.text)));
    }
    if let Some(rb) = r.rumble_dbfs {
        losses.push(loss(rb + 50.0, 10.0, |p| format!("-{p}: rumble {rb:.1} dBFS, over -50 dBFS")));
    }
    if let Some(s) = r.speed_error_pct {
        losses.push(loss(10.0 * (s.abs() - 0.3), 20.0, |p| {
            format!("-{p}: speed {s:+.2} %, off by over 0.3 %")
        }));
    }
    if let Some(w) = r.wow_flutter_weighted_pct {
        losses.push(loss(100.0 * (w - 0.1), 25.0, |p| {
            format!("-{p}: weighted wow and flutter {w:.3} %, over 0.1 %")
        }));
    }
    let worst =
        [r.separation_db.left_to_right, r.separation_db.right_to_left].into_iter().flatten().reduce(f64::min);
    if let Some(s) = worst {
        losses.push(loss(20.0 - s, 15.0, |p| format!("-{p}: channel separation {s:.1} dB, under 20 dB")));
    }
    if let Some(b) = r.balance_db {
        losses.push(loss(2.0 * (b.abs() - 1.0), 10.0, |p| format!("-{p}: balance {b:+.1} dB, over 1 dB")));
    }
    let losses: Vec<(f64, String)> = losses.into_iter().flatten().collect();
    let lost: f64 = losses.iter().map(|(p, _)| p.round()).sum();
    let health = (100.0 - lost).max(0.0) as u32;
    (Some(health), losses.into_iter().map(|(_, l)| l).collect())
}

#[cfg(test)]
mod tests {
    use super::super::report::{GainAdvice, Report};
    use super::*;

    fn good() -> Report {
        Report {
            peak_dbfs: Some(-6.0),
            snr_db: Some(45.0),
            clicks_per_min: Some(1.0),
            rumble_dbfs: Some(-70.0),
            gain_advice: Some(GainAdvice { headroom_db: 6.0, verdict: "ok".into(), text: "fine".into() }),
            ..Report::default()
        }
    }

    #[test]
    fn a_good_side_scores_100_without_reasons() {
        assert_eq!(score(&good()), (Some(100), vec![]));
    }

    #[test]
    fn every_point_lost_has_its_line() {
        let mut r = good();
        r.snr_db = Some(30.0); // -10
        r.clicks_per_min = Some(12.0); // -10
        r.pops = 2; // -4
        r.speed_error_pct = Some(1.3); // -10
        r.wow_flutter_weighted_pct = Some(0.15); // -5
        r.separation_db.left_to_right = Some(25.0);
        r.separation_db.right_to_left = Some(14.0); // -6
        r.balance_db = Some(-2.0); // -2
        let (h, reasons) = score(&r);
        assert_eq!(h, Some(100 - 10 - 10 - 4 - 10 - 5 - 6 - 2), "{reasons:#?}");
        assert_eq!(reasons.len(), 7, "{reasons:#?}");
        let lost: u32 = reasons.iter().map(|l| l[1..l.find(':').unwrap()].parse::<u32>().unwrap()).sum();
        assert_eq!(100 - lost, h.unwrap(), "the lines add up to the score");
        assert!(reasons[0].starts_with("-10: signal-to-noise 30.0 dB"), "{reasons:?}");
    }

    #[test]
    fn caps_floor_and_silence() {
        let mut r = good();
        r.snr_db = Some(-100.0);
        r.clicks_per_min = Some(500.0);
        r.pops = 1000;
        r.clipped = 5;
        r.rumble_dbfs = Some(0.0);
        r.speed_error_pct = Some(-9.0);
        r.wow_flutter_weighted_pct = Some(3.0);
        assert_eq!(score(&r).0, Some(0));
        let (h, reasons) = score(&Report::default());
        assert_eq!((h, reasons.len()), (None, 1));
    }
}
