//! Where the events go: one JSON object a line, each written whole with one write, to stdout or
//! appended to a file that is rotated when it would grow past its bound.
//!
//! Owns the event vocabulary's encoding ([`level`], [`decision`], [`state`], [`report`]) and
//! the output. A closed stdout ends the tool quietly (the caller sees a broken-pipe error); a
//! file that cannot be written or rotated is an error naming it and the step.

use super::detector::{Decision, Phase};
use super::loudness::Report;
use crate::listen::detector::SideStats;
use anyhow::Context as _;
use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

/// A level in dB rounded to 0.1, or null when there is none (digital silence).
pub fn db_value(v: Option<f64>) -> Value {
    match v {
        Some(x) if x.is_finite() => json!((x * 10.0).round() / 10.0),
        _ => Value::Null,
    }
}

/// A `level` event.
pub fn level(frame: u64, at: u64, rms: &[Option<f64>], peak: &[Option<f64>], clipped: u64) -> Value {
    let list = |v: &[Option<f64>]| Value::Array(v.iter().map(|&x| db_value(x)).collect());
    json!({"event": "level", "frame": frame, "at": at, "rms_dbfs": list(rms), "peak_dbfs": list(peak), "clipped": clipped})
}

/// The event of a detector's decision.
pub fn decision(d: &Decision) -> Value {
    match *d {
        Decision::SideStart { frame, at, side } => {
            json!({"event": "side_start", "frame": frame, "at": at, "side": side})
        }
        Decision::TrackStart { frame, at, side, track } => {
            json!({"event": "track_start", "frame": frame, "at": at, "side": side, "track": track})
        }
        Decision::SideEnd { frame, at, side, reason, rpm } => {
            let mut v =
                json!({"event": "side_end", "frame": frame, "at": at, "side": side, "reason": reason.name()});
            if let Some(r) = rpm {
                v["rpm"] = json!(r);
            }
            v
        }
        Decision::Lift { frame, at } => json!({"event": "lift", "frame": frame, "at": at}),
    }
}

/// A `state` event.
pub fn state(frame: u64, phase: Phase, side: u32, track: u32) -> Value {
    json!({"event": "state", "frame": frame, "at": frame, "state": phase.name(), "side": side, "track": track})
}

/// A `side_report` event for the side `start..end`.
pub fn report(start: u64, end: u64, at: u64, side: u32, r: &Report, s: &SideStats) -> Value {
    let round = |v: Option<f64>, k: f64| v.map_or(Value::Null, |x| json!((x * k).round() / k));
    json!({
        "event": "side_report", "frame": end, "at": at, "side": side, "start_frame": start,
        "tracks": s.tracks,
        "integrated_lufs": round(r.integrated_lufs, 10.0),
        "loudness_range_lu": round(r.loudness_range_lu, 10.0),
        "true_peak_dbtp": round(r.true_peak_dbtp, 10.0),
        "peak_dbfs": round(r.peak_dbfs, 10.0),
        "clipped": r.clipped,
        "noise_floor_dbfs": round(s.noise_floor_dbfs, 10.0),
        "clicks_per_min": round(s.clicks_per_min, 10.0),
        "headroom_db": round(r.peak_dbfs.map(|p| -p), 10.0),
    })
}

/// Stdout, or a bounded file.
pub struct Output {
    file: Option<Rotating>,
}

struct Rotating {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
}

impl Output {
    /// Stdout, or `path` appended to and rotated at `max` bytes.
    pub fn open(path: Option<PathBuf>, max: u64) -> anyhow::Result<Output> {
        let Some(path) = path else { return Ok(Output { file: None }) };
        let file = open_append(&path)?;
        let size = file.metadata().with_context(|| format!("{}: stat", path.display()))?.len();
        Ok(Output { file: Some(Rotating { path, file, size, max }) })
    }

    /// Writes one event as one line, in one write.
    pub fn emit(&mut self, v: &Value) -> anyhow::Result<()> {
        let mut line = v.to_string();
        line.push('\n');
        let Some(r) = self.file.as_mut() else {
            return std::io::stdout().lock().write_all(line.as_bytes()).context("stdout: write");
        };
        if r.size + line.len() as u64 > r.max && r.size > 0 {
            let old = PathBuf::from(format!("{}.1", r.path.display()));
            std::fs::rename(&r.path, &old)
                .with_context(|| format!("{}: rotate to {}", r.path.display(), old.display()))?;
            r.file = open_append(&r.path)?;
            r.size = 0;
        }
        r.file.write_all(line.as_bytes()).with_context(|| format!("{}: write", r.path.display()))?;
        r.size += line.len() as u64;
        Ok(())
    }
}

/// Opens for appending, never through a symbolic link (the run folder is shared with other tools).
fn open_append(path: &PathBuf) -> anyhow::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("{}: open for appending", path.display()))
}
