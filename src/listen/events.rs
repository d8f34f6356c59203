//! Where the events go: one JSON object a line, each written whole with one write, to stdout or
//! appended to a file that is rotated when it would grow past its bound.
//!
//! Owns the encoding of the detector's findings as events ([`level`], [`decision`], [`state`],
//! [`report`]; the events themselves are [`crate::events`]'s, shared with every reader) and the
//! output. The file is checked against its path at most once a second and before each
//! rotation (one `stat`): a file deleted or replaced under the listener (by a user, a clean-up
//! job) is created again or reopened, logged once, and the events go on into it; so a rotation
//! never fails because the file vanished. A closed stdout ends the tool quietly (the caller sees
//! a broken-pipe error); a file that cannot be written, created or rotated is an error naming it
//! and the step.

use super::detector::{Decision, Phase};
use super::loudness::Report;
use crate::events::{self as ev, Event};
use crate::listen::detector::SideStats;
use anyhow::Context as _;
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often, at most, the file is checked against its path between rotations.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// A level in dB rounded to 0.1, or none (digital silence).
fn db(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite()).map(|x| (x * 10.0).round() / 10.0)
}

/// A `level` event.
pub fn level(frame: u64, at: u64, rms: &[Option<f64>], peak: &[Option<f64>], clipped: u64) -> Value {
    let list = |v: &[Option<f64>]| v.iter().map(|&x| db(x)).collect();
    Event::Level(ev::Level { frame, at, rms_dbfs: list(rms), peak_dbfs: list(peak), clipped }).to_json()
}

/// The event of a detector's decision.
pub fn decision(d: &Decision) -> Value {
    match *d {
        Decision::SideStart { frame, at, side } => Event::SideStart(ev::SideStart { frame, at, side }),
        Decision::TrackStart { frame, at, side, track } => {
            Event::TrackStart(ev::TrackStart { frame, at, side, track, title: None })
        }
        Decision::SideEnd { frame, at, side, reason, rpm } => {
            Event::SideEnd(ev::SideEnd { frame, at, side, reason: reason.name().into(), rpm })
        }
        Decision::Lift { frame, at } => Event::Lift(ev::Lift { frame, at }),
    }
    .to_json()
}

/// A `recognized` event, decided at `at`, on a timeline of `rate` Hz.
pub fn recognized(h: &super::recognize::Heard, at: u64, rate: u32) -> Value {
    let m = &h.found;
    Event::Recognized(ev::Recognized {
        frame: h.drop,
        at,
        artist: m.artist.clone(),
        album: m.album.clone(),
        side: m.side.clone(),
        track: m.track,
        title: m.title.clone(),
        confidence: m.confidence,
        speed_ratio: m.speed_ratio,
        offset_s: m.offset_s,
        tracks: h.tracks(rate),
    })
    .to_json()
}

/// A `state` event.
pub fn state(frame: u64, phase: Phase, side: u32, track: u32) -> Value {
    Event::State(ev::State { frame, at: frame, state: phase.name().into(), side, track }).to_json()
}

/// A `side_report` event for the side `start..end`.
pub fn report(start: u64, end: u64, at: u64, side: u32, r: &Report, s: &SideStats) -> Value {
    Event::SideReport(ev::SideReport {
        frame: end,
        at,
        side,
        start_frame: start,
        tracks: s.tracks,
        integrated_lufs: db(r.integrated_lufs),
        loudness_range_lu: db(r.loudness_range_lu),
        true_peak_dbtp: db(r.true_peak_dbtp),
        peak_dbfs: db(r.peak_dbfs),
        clipped: r.clipped,
        noise_floor_dbfs: db(s.noise_floor_dbfs),
        clicks_per_min: db(s.clicks_per_min),
        headroom_db: db(r.peak_dbfs.map(|p| -p)),
    })
    .to_json()
}

/// Stdout, or a bounded file.
pub struct Output {
    file: Option<Rotating>,
}

struct Rotating {
    path: PathBuf,
    file: File,
    /// The open file's device and inode, to notice it is no longer at `path`.
    id: (u64, u64),
    size: u64,
    max: u64,
    checked: Instant,
}

impl Output {
    /// Stdout, or `path` appended to and rotated at `max` bytes.
    pub fn open(path: Option<PathBuf>, max: u64) -> anyhow::Result<Output> {
        let Some(path) = path else { return Ok(Output { file: None }) };
        let (file, id, size) = open_append(&path)?;
        Ok(Output { file: Some(Rotating { path, file, id, size, max, checked: Instant::now() }) })
    }

    /// Writes one event as one line, in one write.
    pub fn emit(&mut self, v: &Value) -> anyhow::Result<()> {
        let mut line = v.to_string();
        line.push('\n');
        let Some(r) = self.file.as_mut() else {
            return std::io::stdout().lock().write_all(line.as_bytes()).context("stdout: write");
        };
        let rotate = r.size + line.len() as u64 > r.max && r.size > 0;
        if rotate || r.checked.elapsed() >= CHECK_EVERY {
            r.follow_path()?;
        }
        if r.size + line.len() as u64 > r.max && r.size > 0 {
            r.rotate()?;
        }
        r.file.write_all(line.as_bytes()).with_context(|| format!("{}: write", r.path.display()))?;
        r.size += line.len() as u64;
        Ok(())
    }
}

impl Rotating {
    /// Makes sure the open file is the one at the path: a file deleted is created again, one
    /// replaced is reopened (each logged once, when it happens).
    fn follow_path(&mut self) -> anyhow::Result<()> {
        self.checked = Instant::now();
        let what = match std::fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.id => return Ok(()),
            Ok(_) => "replaced by another file: writing to that one",
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "deleted: created again",
            Err(e) => return Err(e).with_context(|| format!("{}: stat", self.path.display())),
        };
        self.reopen()?;
        crate::vlog!(super::TOOL, "{}: {what}", self.path.display());
        Ok(())
    }

    /// FILE becomes FILE.1 (replacing it) and a new FILE begins. A FILE that vanished since the
    /// last check is not an error: the new one is created all the same.
    fn rotate(&mut self) -> anyhow::Result<()> {
        let old = PathBuf::from(format!("{}.1", self.path.display()));
        match std::fs::rename(&self.path, &old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::vlog!(super::TOOL, "{}: deleted: created again", self.path.display());
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("{}: rotate to {}", self.path.display(), old.display()));
            }
        }
        self.reopen()?;
        self.size = 0;
        Ok(())
    }

    fn reopen(&mut self) -> anyhow::Result<()> {
        (self.file, self.id, self.size) = open_append(&self.path)?;
        Ok(())
    }
}

/// Opens for appending, never through a symbolic link (the run folder is shared with other
/// tools); returns the file, its device and inode, and its size.
fn open_append(path: &PathBuf) -> anyhow::Result<(File, (u64, u64), u64)> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("{}: open for appending", path.display()))?;
    let m = file.metadata().with_context(|| format!("{}: stat", path.display()))?;
    Ok((file, (m.dev(), m.ino()), m.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(n: u64) -> Value {
        json!({"event": "state", "frame": n})
    }

    fn lines(p: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(p).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// Makes the next emit check the path, as it does once a second.
    fn age(out: &mut Output) {
        out.file.as_mut().unwrap().checked = Instant::now() - CHECK_EVERY;
    }

    #[test]
    fn a_deleted_file_is_created_again_and_the_events_go_on() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events");
        let mut out = Output::open(Some(p.clone()), 1 << 20).unwrap();
        out.emit(&ev(1)).unwrap();
        std::fs::remove_file(&p).unwrap();
        age(&mut out);
        out.emit(&ev(2)).unwrap();
        out.emit(&ev(3)).unwrap();
        assert_eq!(lines(&p), [ev(2).to_string(), ev(3).to_string()]);
    }

    #[test]
    fn a_rotation_after_a_deletion_does_not_fail() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events");
        let line = ev(1).to_string().len() as u64 + 1;
        let mut out = Output::open(Some(p.clone()), 2 * line).unwrap();
        out.emit(&ev(1)).unwrap();
        out.emit(&ev(2)).unwrap();
        std::fs::remove_file(&p).unwrap();
        // The file is full: this write rotates, within the second (no periodic check yet).
        out.emit(&ev(3)).unwrap();
        out.emit(&ev(4)).unwrap();
        out.emit(&ev(5)).unwrap();
        assert_eq!(lines(&p), [ev(5).to_string()]);
        assert_eq!(lines(&d.path().join("events.1")), [ev(3).to_string(), ev(4).to_string()]);
    }

    #[test]
    fn a_replaced_file_is_reopened() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events");
        let mut out = Output::open(Some(p.clone()), 1 << 20).unwrap();
        out.emit(&ev(1)).unwrap();
        let other = d.path().join("other");
        std::fs::write(&other, "").unwrap();
        std::fs::rename(&other, &p).unwrap();
        age(&mut out);
        out.emit(&ev(2)).unwrap();
        assert_eq!(lines(&p), [ev(2).to_string()]);
    }
}
