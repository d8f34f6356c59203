//! Scores `vinyl-listen`'s events against a synthetic side's ground truth (examples/synth-side):
//! the one definition of "right" shared by tests/listen.rs and the bench (examples/listen-score).
//!
//! The rules are the issue's: a needle drop within 0.5 s; a track marker (track ≥ 2) right when it
//! lies in the gap before its track or on its first frame (in a medley without gaps, within
//! 0.5 s of a track's first frame); recall over gaps of at least 1 s; no marker or side end inside
//! a quiet passage; the side's end between the end of the music and 5 s after the groove locked,
//! a run-out decided within 8 s of the lock with its speed within 2 %, a lift decided within 2 s.

use serde_json::Value;
use vinyl::events::{self, Event, Line};

/// The events of one run, as (frame, at) pairs.
#[derive(Debug, Default)]
pub struct Events {
    pub side_starts: Vec<(u64, u64)>,
    pub tracks: Vec<(u64, u64, u64)>,
    pub ends: Vec<(u64, u64, String, Option<f64>)>,
    pub reports: Vec<events::SideReport>,
    /// Lines that are not whole events of their kind (a listener that wrote one is wrong).
    pub bad: Vec<String>,
}

/// Reads JSON lines through the listener's own definition of its events (other kinds ignored).
pub fn parse(text: &str) -> Events {
    let mut e = Events::default();
    for line in text.lines() {
        match events::parse(line) {
            Ok(Line::Event(Event::SideStart(s))) => e.side_starts.push((s.frame, s.at)),
            Ok(Line::Event(Event::TrackStart(t))) => e.tracks.push((t.frame, t.at, t.track as u64)),
            Ok(Line::Event(Event::SideEnd(x))) => e.ends.push((x.frame, x.at, x.reason, x.rpm)),
            Ok(Line::Event(Event::SideReport(r))) => e.reports.push(r),
            Ok(_) => {}
            Err(b) => e.bad.push(format!("{}: {}", b.kind, b.why)),
        }
    }
    e
}

/// How one side scored.
#[derive(Debug, Default, Clone)]
pub struct Side {
    pub name: String,
    pub gain_db: f64,
    pub medley: bool,
    pub start_ok: bool,
    pub start_error_s: Option<f64>,
    pub extra_starts: usize,
    pub markers: usize,
    pub markers_right: usize,
    pub gaps_1s: usize,
    pub gaps_1s_found: usize,
    pub quiet_events: usize,
    pub end_expected: String,
    pub end_ok: bool,
    pub end_latency_s: Option<f64>,
    pub rpm_error_pct: Option<f64>,
    /// Events the listener wrote that are not whole events of their kind.
    pub bad_events: usize,
    pub problems: Vec<String>,
}

fn frames(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// Scores the events of one side.
pub fn side(name: &str, truth: &Value, ev: &Events) -> Side {
    let rate = truth["rate"].as_f64().unwrap_or(48_000.0);
    let s = |f: u64| f as f64 / rate;
    let mut out = Side {
        name: name.to_string(),
        gain_db: truth["gain_db"].as_f64().unwrap_or(0.0),
        end_expected: truth["end"].as_str().unwrap_or("").to_string(),
        bad_events: ev.bad.len(),
        problems: ev.bad.iter().map(|b| format!("not a whole event: {b}")).collect(),
        ..Side::default()
    };
    let drop = frames(&truth["needle_drop"]).unwrap_or(0);
    if let Some(&(f, _)) = ev.side_starts.first() {
        let err = (s(f) - s(drop)).abs();
        out.start_error_s = Some(err);
        out.start_ok = err <= 0.5;
        if !out.start_ok {
            out.problems.push(format!("side_start at {:.2} s, needle drop at {:.2} s", s(f), s(drop)));
        }
    } else {
        out.problems.push("no side_start".into());
    }
    out.extra_starts = ev.side_starts.len().saturating_sub(1);
    if out.extra_starts > 0 {
        out.problems.push(format!("{} extra side_start events", out.extra_starts));
    }
    score_markers(truth, ev, rate, &mut out);
    score_end(truth, ev, rate, &mut out);
    out
}

fn pairs(v: &Value) -> Vec<(u64, u64)> {
    v.as_array()
        .map(|a| a.iter().filter_map(|p| Some((p[0].as_u64()?, p[1].as_u64()?))).collect())
        .unwrap_or_default()
}

fn score_markers(truth: &Value, ev: &Events, rate: f64, out: &mut Side) {
    let tracks: Vec<(u64, u64)> = truth["tracks"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| Some((t["start"].as_u64()?, t["end"].as_u64()?))).collect())
        .unwrap_or_default();
    let gaps = pairs(&truth["gaps"]);
    out.medley = gaps.is_empty() && tracks.len() > 1;
    let half = (0.5 * rate) as u64;
    // Where a marker for each track from the second on is right.
    let windows: Vec<(u64, u64)> = tracks
        .windows(2)
        .map(|w| {
            let (end_prev, start) = (w[0].1, w[1].0);
            if end_prev <= start { (end_prev, start) } else { (start.saturating_sub(half), start + half) }
        })
        .collect();
    let mut found = vec![false; windows.len()];
    for &(f, _, k) in ev.tracks.iter().filter(|t| t.2 >= 2) {
        out.markers += 1;
        match windows.iter().position(|&(a, b)| f >= a && f <= b) {
            Some(i) if !found[i] => {
                found[i] = true;
                out.markers_right += 1;
            }
            _ => out.problems.push(format!("track {k} marked at {:.2} s, not in a gap", f as f64 / rate)),
        }
    }
    for (i, &(a, b)) in windows.iter().enumerate() {
        if gaps.iter().any(|&(ga, gb)| ga == a && gb == b && (gb - ga) as f64 >= rate) {
            out.gaps_1s += 1;
            out.gaps_1s_found += found[i] as usize;
        }
    }
    let quiet = pairs(&truth["quiet"]);
    let inside = |f: u64| quiet.iter().any(|&(a, b)| f >= a && f < b);
    out.quiet_events =
        ev.tracks.iter().filter(|t| inside(t.0)).count() + ev.ends.iter().filter(|e| inside(e.0)).count();
    if out.quiet_events > 0 {
        out.problems.push(format!("{} events inside a quiet passage", out.quiet_events));
    }
}

fn score_end(truth: &Value, ev: &Events, rate: f64, out: &mut Side) {
    let s = |f: u64| f as f64 / rate;
    let music_end = frames(&truth["music_end"]).unwrap_or(0);
    let lift = frames(&truth["lift"]).unwrap_or(0);
    let Some((frame, at, reason, rpm)) = ev.ends.first().cloned() else {
        out.problems.push("no side_end".into());
        return;
    };
    if ev.ends.len() > 1 {
        out.problems.push(format!("{} side_end events", ev.ends.len()));
    }
    let mut ok = reason == out.end_expected;
    if let Some(lock) = frames(&truth["lock"]).filter(|_| out.end_expected == "runout") {
        out.end_latency_s = Some(s(at) - s(lock));
        ok &= frame >= music_end && frame <= lock + (5.0 * rate) as u64 && at <= lock + (8.0 * rate) as u64;
        let want = truth["rpm"].as_f64().unwrap_or(0.0);
        out.rpm_error_pct = rpm.map(|r| (r / want - 1.0).abs() * 100.0);
        ok &= out.rpm_error_pct.is_some_and(|e| e <= 2.0);
    } else {
        out.end_latency_s = Some(s(at) - s(lift));
        ok &= at <= lift + (2.0 * rate) as u64
            && s(frame) >= s(music_end.min(lift)) - 0.5
            && s(frame) <= s(lift) + 0.5;
    }
    out.end_ok = ok && ev.ends.len() == 1;
    if !out.end_ok {
        out.problems.push(format!(
            "side_end {reason} at {:.2} s decided at {:.2} s (rpm {rpm:?}); expected {} (music end {:.2} s, lock {:?}, lift {:.2} s)",
            s(frame),
            s(at),
            out.end_expected,
            s(music_end),
            frames(&truth["lock"]).map(s),
            s(lift)
        ));
    }
}

/// The totals the targets are stated in, over a set of sides.
#[derive(Debug, Default)]
pub struct Totals {
    pub sides: usize,
    pub starts_ok: usize,
    pub extra_starts: usize,
    pub markers: usize,
    pub markers_right: usize,
    pub gaps_1s: usize,
    pub gaps_1s_found: usize,
    pub medley_wrong: usize,
    pub quiet_events: usize,
    pub ends_ok: usize,
    pub bad_events: usize,
}

impl Totals {
    pub fn of<'a>(sides: impl IntoIterator<Item = &'a Side>) -> Totals {
        let mut t = Totals::default();
        for s in sides {
            t.sides += 1;
            t.starts_ok += s.start_ok as usize;
            t.extra_starts += s.extra_starts;
            if s.medley {
                t.medley_wrong += s.markers - s.markers_right;
            } else {
                t.markers += s.markers;
                t.markers_right += s.markers_right;
            }
            t.gaps_1s += s.gaps_1s;
            t.gaps_1s_found += s.gaps_1s_found;
            t.quiet_events += s.quiet_events;
            t.ends_ok += s.end_ok as usize;
            t.bad_events += s.bad_events;
        }
        t
    }

    pub fn precision(&self) -> f64 {
        if self.markers == 0 { 1.0 } else { self.markers_right as f64 / self.markers as f64 }
    }

    pub fn recall(&self) -> f64 {
        if self.gaps_1s == 0 { 1.0 } else { self.gaps_1s_found as f64 / self.gaps_1s as f64 }
    }

    /// True when every target of the issue is met.
    pub fn meets_targets(&self) -> bool {
        self.starts_ok as f64 >= 0.95 * self.sides as f64
            && self.extra_starts == 0
            && self.precision() >= 0.95
            && self.recall() >= 0.90
            && self.medley_wrong == 0
            && self.quiet_events == 0
            && self.ends_ok == self.sides
            && self.bad_events == 0
    }
}
