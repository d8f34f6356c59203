//! One side recorded by `vinyl-rec auto`: started through the same state folder and runner as
//! `vinyl-rec start`, ended exactly by telling the tap its end frame, finalised with its track
//! markers and its tags.
//!
//! Owns the side's life: [`begin`] (refused while a manual recording runs or the recordings'
//! file system is short of space; the start frame is the needle drop minus the margin, exact
//! while the ring holds it), the end frame written to the tap's stdin (`--end-from-stdin`; the
//! maximum length is told at the start, the side's end and a short disk lower it), and
//! [`Side::finalise`]: a side shorter than the minimum is removed, a kept one gets its CUESHEET and
//! CHAPTER comments (track 1 at the file's first sample, track K at its `track_start` frame),
//! `VINYL_RPM`, and the loudness tags: the side_report's noise floor, clicks and clipped samples,
//! the integrated loudness and true peak measured on the file ([`super::measure`]). The state folder says `auto` (auto's pid),
//! so `vinyl-rec start` refuses a second recording and `vinyl-rec stop` may still end this one.
//! How it fails: a side that cannot be started or finalised is logged with its cause; the
//! caller goes on with the next side.

use super::super::plan::{self, Recording};
use super::super::start::{spawn_runner, write_state};
use super::super::state::{Lock, State, wait_for};
use super::super::{TOOL, recording_path};
use super::settings::AutoSettings;
use crate::flac::{cuesheet, loudness, meta, probe};
use crate::pcm::format_frames;
use crate::rec::stamp::Stamp;
use crate::vlog;
use anyhow::Context as _;
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// How long a finished side waits for its side_report before it is finalised without loudness.
const REPORT_WAIT: Duration = Duration::from_secs(20);

/// Why a side was not started.
#[derive(Debug)]
pub enum Refused {
    /// A manual recording runs: its path.
    Manual(PathBuf),
    /// The recordings' file system has this many bytes free, under the minimum.
    NoSpace(u64),
}

/// A side being recorded, or finished and waiting to be finalised.
#[derive(Debug)]
pub struct Side {
    /// The listener's side number.
    pub side: u64,
    /// The file.
    pub path: PathBuf,
    /// The file's first frame (its VINYL_START_FRAME).
    pub first: u64,
    /// The needle drop.
    pub side_frame: u64,
    /// The ring's rate, Hz.
    pub rate: u32,
    /// The frames of its `track_start` events.
    pub tracks: Vec<u64>,
    /// The end told to the tap (exclusive), and why.
    pub end: Option<(u64, String)>,
    /// The end of the maximum length.
    pub cap: u64,
    /// The run-out's speed, when the side ended in one.
    pub rpm: Option<f64>,
    /// The side_report event.
    pub report: Option<Value>,
    /// The ring (for the head).
    pub ring: PathBuf,
    st: State,
    runner: Child,
    stdin: Option<ChildStdin>,
    /// When the runner exited, and the recorder's status.
    done: Option<(Instant, String)>,
}

/// Bytes free for an unprivileged user on the file system of `dir`.
pub fn free_bytes(dir: &Path) -> anyhow::Result<u64> {
    let v = nix::sys::statvfs::statvfs(dir).with_context(|| format!("{}: statvfs", dir.display()))?;
    Ok((v.blocks_available() as u64).saturating_mul(v.fragment_size() as u64))
}

/// Starts recording the side whose needle dropped at `frame`: checks that it may (no manual
/// recording, enough space), picks its first frame and name, then starts the runner.
pub fn begin(
    s: &super::super::Settings,
    a: &AutoSettings,
    side: u64,
    frame: u64,
) -> anyhow::Result<Result<Side, Refused>> {
    let st = State::new(&s.run_dir);
    let lock = Lock::take(&s.run_dir)?;
    if let Some(refused) = refusal(s, a, &st)? {
        return Ok(Err(refused));
    }
    let ring = plan::read_ring(&s.ring)?;
    let rate = ring.spec.rate;
    let first = first_frame(&ring, a, side, frame);
    let back = Duration::from_secs_f64(ring.head.saturating_sub(first) as f64 / f64::from(rate));
    let when = Stamp::of(SystemTime::now().checked_sub(back).unwrap_or_else(SystemTime::now));
    let path = recording_path(&s.recordings, &format!("side-{}", when.compact()), &when)?;
    let tags = ["VINYL_AUTO=1".to_string(), format!("VINYL_SIDE_START_FRAME={frame}")];
    let rec = Recording {
        path: &path,
        start: first,
        preroll_frames: frame.saturating_sub(first),
        compression: s.compression.as_deref(),
        tags: &tags,
    };
    write_state(&st, &ring, &rec, &when, &["--end-from-stdin"])?;
    st.write("auto", &std::process::id().to_string())?;
    // Its stdin is a pipe from here: the tap's end frame.
    let mut runner = spawn_runner(&st, Stdio::piped())?;
    let stdin = runner.stdin.take();
    let started = wait_for(Duration::from_secs(10), || {
        st.pid("tap.pid").is_some() || runner.try_wait().ok().flatten().is_some()
    });
    drop(lock);
    if !started || st.pid("tap.pid").is_none() {
        anyhow::bail!("{}: the recorder did not start; see {}", path.display(), st.last_log().display());
    }
    let cap = frame + a.max_side.frames(rate);
    let ring = s.ring.clone();
    let mut side = Side {
        side,
        path,
        first,
        side_frame: frame,
        rate,
        tracks: Vec::new(),
        end: None,
        cap,
        rpm: None,
        report: None,
        ring,
        st,
        runner,
        stdin,
        done: None,
    };
    side.tell(cap);
    Ok(Ok(side))
}

/// Why a side may not be recorded now: a manual recording runs, or the space is short.
fn refusal(s: &super::super::Settings, a: &AutoSettings, st: &State) -> anyhow::Result<Option<Refused>> {
    if st.runner_alive() {
        return Ok(Some(Refused::Manual(st.read_path("path").unwrap_or_default())));
    }
    st.clean_stale();
    std::fs::create_dir_all(&s.recordings)
        .with_context(|| format!("{}: mkdir failed", s.recordings.display()))?;
    let free = free_bytes(&s.recordings)?;
    Ok((free < a.min_free).then_some(Refused::NoSpace(free)))
}

/// The side's first frame: the needle drop less the margin, or the oldest frame the ring still
/// holds (said once).
fn first_frame(ring: &plan::RingView, a: &AutoSettings, side: u64, frame: u64) -> u64 {
    let rate = ring.spec.rate;
    let want = frame.saturating_sub(a.start_margin.frames(rate));
    let first = want.max(ring.oldest);
    if first > want {
        vlog!(
            TOOL,
            "side {side}: the ring no longer holds frame {want}: the file starts at frame {first}, {} late (a larger VINYL_RING_CAPACITY helps)",
            format_frames(first - want, rate)
        );
    }
    first
}

impl Side {
    /// Tells the tap to end before `frame` (it only ever lowers its end).
    fn tell(&mut self, frame: u64) {
        if let Some(pipe) = self.stdin.as_mut()
            && writeln!(pipe, "{frame}").and_then(|()| pipe.flush()).is_err()
        {
            // The runner is gone already: nothing to tell.
            self.stdin = None;
        }
    }

    /// Ends the side before `frame`, for `why` (logged by the caller); the first end told wins
    /// unless a later one is earlier.
    pub fn end_at(&mut self, frame: u64, why: &str) {
        if self.end.as_ref().is_some_and(|(e, _)| *e <= frame) {
            return;
        }
        self.end = Some((frame, why.to_string()));
        self.tell(frame);
    }

    /// Ends the side at the ring's head now (SIGTERM to auto): the tap's stdin is closed.
    pub fn end_now(&mut self, why: &str) {
        if self.end.is_none() {
            self.end = Some((plan::ring_head(&self.ring).unwrap_or(u64::MAX), why.to_string()));
        }
        self.stdin = None;
    }

    /// The ring's head now.
    pub fn head(&self) -> Option<u64> {
        plan::ring_head(&self.ring)
    }

    /// True once the runner exited (its state is retired unless the user's `vinyl-rec stop` is
    /// doing it).
    pub fn finished(&mut self) -> bool {
        if self.done.is_some() {
            return true;
        }
        if !matches!(self.runner.try_wait(), Ok(Some(_))) {
            return false;
        }
        let status = self.st.recorder_status();
        let ours = self.st.read("auto") == Some(std::process::id().to_string());
        if ours && !self.st.file("stopped").exists() {
            self.st.retire();
        } else if self.st.file("stopped").exists() && self.end.is_none() {
            self.end = Some((u64::MAX, "vinyl-rec stop".into()));
        }
        self.done = Some((Instant::now(), status));
        true
    }

    /// True when it can be finalised: finished, and its report came (or will not come).
    pub fn ready(&mut self) -> bool {
        if !self.finished() {
            return false;
        }
        let waited = self.done.as_ref().is_some_and(|(t, _)| t.elapsed() >= REPORT_WAIT);
        let by_listener = self.end.as_ref().is_some_and(|(_, why)| why == "side_end");
        self.report.is_some() || !by_listener || waited
    }

    /// Waits for the runner to exit (at most `timeout`), calling `tick` meanwhile.
    pub fn wait(&mut self, timeout: Duration, tick: &mut dyn FnMut()) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.finished() {
            if Instant::now() >= deadline {
                return false;
            }
            tick();
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Keeps or removes the file, and writes its markers and tags. Logs what it did.
    pub fn finalise(mut self, a: &AutoSettings) {
        let _ = self.finished();
        let status = self.done.as_ref().map_or_else(|| "unknown".into(), |(_, s)| s.clone());
        let shown = self.path.display().to_string();
        if !self.path.is_file() {
            let part = crate::flacrec::part_path(&self.path);
            let more = if part.is_file() {
                format!("; repair {} with vinyl-flac-rec --recover", part.display())
            } else {
                String::new()
            };
            vlog!(
                TOOL,
                "side {}: {shown}: no file: the recorder failed (status {status}); see {}{more}",
                self.side,
                self.st.last_log().display()
            );
            return;
        }
        match self.keep(a) {
            Ok(Some(line)) => vlog!(TOOL, "side {}: {shown}: {line}", self.side),
            Ok(None) => {}
            Err(e) => vlog!(TOOL, "side {}: {e:#}", self.side),
        }
    }

    /// The work of [`Side::finalise`] on a finished file: `None` when it was removed.
    fn keep(&mut self, a: &AutoSettings) -> anyhow::Result<Option<String>> {
        let info = probe::probe(&self.path)?.info;
        let total = info.total_samples;
        let last = self.first + total;
        let played = last.saturating_sub(self.side_frame);
        let min = a.min_side.frames(self.rate);
        if played < min {
            std::fs::remove_file(&self.path).with_context(|| format!("{}: remove", self.path.display()))?;
            vlog!(
                TOOL,
                "side {}: lasted {}, under VINYL_AUTO_MIN_SIDE ({}): not kept ({} removed; lower VINYL_AUTO_MIN_SIDE to keep such sides)",
                self.side,
                format_frames(played, self.rate),
                format_frames(min, self.rate),
                self.path.display()
            );
            return Ok(None);
        }
        if last >= self.cap && self.end.as_ref().is_none_or(|(e, _)| *e >= self.cap) {
            vlog!(
                TOOL,
                "side {}: reached VINYL_AUTO_MAX_SIDE ({}): the file ends there (raise it for longer sides)",
                self.side,
                format_frames(self.cap - self.side_frame, self.rate)
            );
        }
        let offsets = offsets(&self.tracks, self.first, total);
        let set = cuesheet::set_tracks(&self.path, &offsets)?;
        let mut tags = Vec::new();
        if let Some(rpm) = self.rpm {
            tags.push(("VINYL_RPM".to_string(), format!("{rpm:.2}")));
        }
        if !tags.is_empty() {
            let f = std::fs::File::options().read(true).write(true).open(&self.path)?;
            meta::set_tags(&f, &tags).with_context(|| format!("{}: write VINYL_RPM", self.path.display()))?;
        }
        let mut line =
            format!("{} ({} frames), {} tracks", format_frames(total, self.rate), total, set.len());
        let mut m = self.report.as_ref().map(measurements).unwrap_or_default();
        // The gain and peak of the file a player plays, margins included (see measure).
        match super::measure::file(&self.path) {
            Ok((lufs, peak)) => (m.integrated_lufs, m.true_peak_dbtp) = (lufs, peak),
            Err(e) => vlog!(TOOL, "side {}: {e:#}; the side_report's loudness is used", self.side),
        }
        loudness::write(&self.path, &m)?;
        if let Some(l) = m.integrated_lufs {
            line += &format!(", {l:.1} LUFS");
        }
        Ok(Some(line))
    }
}

/// The markers of a file that starts at timeline frame `first` and holds `total` frames: track 1
/// at its first sample (the lead-in belongs to it), track K at its `track_start` frame; markers
/// outside the file are left out.
pub fn offsets(tracks: &[u64], first: u64, total: u64) -> Vec<u64> {
    let mut v = vec![0];
    for &t in tracks.iter().skip(1) {
        let o = t.saturating_sub(first);
        if o > *v.last().unwrap_or(&0) && o < total {
            v.push(o);
        }
    }
    v
}

/// The loudness of a side_report event.
pub fn measurements(r: &Value) -> loudness::Measurements {
    loudness::Measurements {
        integrated_lufs: r["integrated_lufs"].as_f64(),
        true_peak_dbtp: r["true_peak_dbtp"].as_f64(),
        noise_floor_dbfs: r["noise_floor_dbfs"].as_f64(),
        clicks_per_min: r["clicks_per_min"].as_f64(),
        clipped: r["clipped"].as_u64().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_one_starts_the_file_and_later_tracks_sit_at_their_frames() {
        assert_eq!(offsets(&[1_048_000, 1_600_000], 1_000_000, 2_000_000), [0, 600_000]);
        assert_eq!(offsets(&[], 5, 100), [0]);
        assert_eq!(offsets(&[10, 50, 5000], 0, 100), [0, 50], "past the end: left out");
    }

    #[test]
    fn the_report_gives_the_loudness_and_nulls_stay_missing() {
        let r = serde_json::json!({"integrated_lufs": -14.8, "true_peak_dbtp": null, "clipped": 3,
            "noise_floor_dbfs": -60.0, "clicks_per_min": 1.5});
        let m = measurements(&r);
        assert_eq!(m.integrated_lufs, Some(-14.8));
        assert_eq!(m.true_peak_dbtp, None);
        assert_eq!(m.clipped, 3);
    }
}
