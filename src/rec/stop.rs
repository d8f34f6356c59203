//! `vinyl-rec stop` and `vinyl-rec status`: end the running recording so its file is finalised,
//! and say what is running.
//!
//! Stop's phases: check there is a recording (under the lock) → mark it stopped → SIGTERM to the
//! tap → wait for the runner to exit → retire the state (its log becomes `RUN/last-rec.log`) →
//! check the recorder's status and the file → print the path and the duration read from the
//! file's STREAMINFO. How it fails (exit 1, naming the file and where its log is): not
//! recording, a tap that never started, a recorder still finishing after the timeout, a recorder
//! that failed, a file missing or unreadable. Status never fails on the recording's state: what
//! cannot be read is left out.

use super::state::{Lock, State, gone, wait_for};
use super::{Settings, out, out_path};
use crate::cli::UsageError;
use crate::flac::probe::{Probe, probe};
use crate::pcm::format_frames;
use anyhow::{Context as _, bail};
use std::path::Path;
use std::time::Duration;

/// Seconds `stop` waits for the recorder by default.
const STOP_TIMEOUT_SECS: u64 = 120;

/// `VINYL_REC_STOP_TIMEOUT` in seconds (a whole number).
fn stop_timeout(s: &Settings) -> Result<Duration, UsageError> {
    let Some(text) = &s.stop_timeout else { return Ok(Duration::from_secs(STOP_TIMEOUT_SECS)) };
    text.parse::<u64>().map(Duration::from_secs).map_err(|_| {
        UsageError::new(format!(
            "VINYL_REC_STOP_TIMEOUT: '{text}' is not a whole number of seconds, e.g. 120"
        ))
    })
}

/// A recording stopped and finalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The file.
    pub path: std::path::PathBuf,
    /// Its length and what else [`duration_line`] says, one line each: the length first, then a
    /// line for each gap of lost audio inside it.
    pub lines: Vec<String>,
}

impl Finished {
    /// The length line (`1m30.000s (4320000 frames)`).
    pub fn duration(&self) -> &str {
        self.lines.first().map_or("", String::as_str)
    }
}

/// Runs `stop`.
pub fn stop(s: &Settings) -> anyhow::Result<()> {
    let done = end(s)?;
    out_path(&done.path)?;
    done.lines.iter().try_for_each(|l| out(l))
}

/// Stops the recording (everything `stop` does but print).
pub fn end(s: &Settings) -> anyhow::Result<Finished> {
    let timeout = stop_timeout(s)?;
    if !s.run_dir.is_dir() {
        return Err(super::Conflict::NotRecording.into());
    }
    let st = State::new(&s.run_dir);
    let lock = Lock::take(&s.run_dir)?;
    if !st.runner_alive() {
        st.clean_stale();
        return Err(super::Conflict::NotRecording.into());
    }
    let path = st.read_path("path").unwrap_or_default();
    let shown = path.display();
    let log = st.file("log");
    std::fs::write(st.file("stopped"), "").with_context(|| format!("{}: write", st.dir.display()))?;
    if !wait_for(Duration::from_secs(10), || st.pid("tap.pid").is_some()) {
        bail!("{shown}: the tap never started; see {}", log.display());
    }
    if let Some(tap) = st.pid("tap.pid") {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(tap), nix::sys::signal::Signal::SIGTERM);
    }
    let runner = st.pid("runner.pid").unwrap_or(0);
    if !wait_for(timeout, || gone(runner)) {
        bail!("{shown}: the recorder is still finishing after {}s; see {}", timeout.as_secs(), log.display());
    }
    let status = st.read("flac.status").unwrap_or_else(|| "unknown".into());
    st.retire();
    drop(lock);
    let last = st.last_log();
    if status != "0" {
        bail!("{shown}: vinyl-flac-rec failed (status {status}); see {}", last.display());
    }
    if !path.is_file() {
        bail!("{shown}: missing after the recorder finished; see {}", last.display());
    }
    let lines = duration_line(&path)?.lines().map(str::to_string).collect();
    Ok(Finished { path, lines })
}

/// `12m03.250s (34716000 frames)`, from a finished file's STREAMINFO, then one line for each
/// gap its VINYL_GAPS tag lists (lost audio present as silence).
pub fn duration_line(path: &Path) -> anyhow::Result<String> {
    let p = probe(path).with_context(|| format!("{}: cannot read the finished file", path.display()))?;
    let mut text = duration_text(&p);
    for g in gaps(&p) {
        let rate = p.info.sample_rate;
        text += &format!(
            "\ngap at {} (frame {} of the file): {} ({} frames) of silence for lost audio ({}, {})",
            format_frames(g.offset, rate),
            g.offset,
            format_frames(g.frames, rate),
            g.frames,
            g.cause.name(),
            if g.exact { "exact" } else { "estimated" }
        );
    }
    if let Some((count, frames, exact)) = unlisted(&p) {
        text += &format!(
            "\n{}{count} more gap{} ({} of silence) that VINYL_GAPS does not list (VINYL_GAPS_TOTAL)",
            if exact { "" } else { "up to " },
            if count == 1 { "" } else { "s" },
            format_frames(frames, p.info.sample_rate)
        );
    }
    Ok(text)
}

/// The gaps a file holds beyond those its VINYL_GAPS lists, from VINYL_GAPS_TOTAL: count,
/// frames, exact (else an upper bound). `None` when there are none or no readable total.
pub fn unlisted(p: &Probe) -> Option<(u64, u64, bool)> {
    let (count, frames, exact) = crate::ring::gaps::parse_total(p.tag("VINYL_GAPS_TOTAL")?)?;
    let listed = gaps(p);
    let count = count.saturating_sub(listed.len() as u64);
    let frames = frames.saturating_sub(listed.iter().map(|g| g.frames).sum());
    (count > 0).then_some((count, frames, exact))
}

/// The gaps a file's VINYL_GAPS tag lists (none when it has no such tag or an unreadable one).
pub fn gaps(p: &Probe) -> Vec<crate::ring::gaps::TaggedGap> {
    p.tag("VINYL_GAPS").and_then(|v| crate::ring::gaps::parse_tag(v).ok()).unwrap_or_default()
}

/// The duration cell of `list`: the duration, and the gaps when there are any
/// (`35.000s (1680000 frames), 1 gap (2.565s of silence)`).
pub fn duration_cell(p: &Probe) -> String {
    let gaps = gaps(p);
    let (more, more_frames, exact) = unlisted(p).unwrap_or((0, 0, true));
    if gaps.is_empty() && more == 0 {
        return duration_text(p);
    }
    let (count, silent) =
        (gaps.len() as u64 + more, gaps.iter().map(|g| g.frames).sum::<u64>() + more_frames);
    let up_to = if exact { "" } else { "up to " };
    format!(
        "{}, {up_to}{count} gap{} ({up_to}{} of silence)",
        duration_text(p),
        if count == 1 { "" } else { "s" },
        format_frames(silent, p.info.sample_rate)
    )
}

/// The duration a file's STREAMINFO states, as [`duration_line`] prints it.
pub fn duration_text(p: &Probe) -> String {
    format!("{} ({} frames)", format_frames(p.info.total_samples, p.info.sample_rate), p.info.total_samples)
}

/// Runs `status`.
pub fn status(s: &Settings) -> anyhow::Result<()> {
    let st = State::new(&s.run_dir);
    if st.dir.is_dir() && st.runner_alive() {
        return running(&st);
    }
    out("not recording")?;
    if st.ended_on_its_own() {
        out(&format!(
            "last recording {} ended on its own (recorder status {}); log: {}",
            st.read_path("path").unwrap_or_default().display(),
            st.recorder_status(),
            st.file("log").display()
        ))?;
    }
    Ok(())
}

/// The running recording: path, start, duration so far (from the ring's head), size so far.
fn running(st: &State) -> anyhow::Result<()> {
    let path = st.read_path("path").unwrap_or_default();
    let start: u64 = st.read("start_frame").and_then(|v| v.parse().ok()).unwrap_or(0);
    let rate: u32 = st.read("rate").and_then(|v| v.parse().ok()).unwrap_or(48_000);
    out(&format!("recording: {}", path.display()))?;
    out(&format!("started: {} (frame {start})", st.read("started").unwrap_or_default()))?;
    if let Some(head) = st.read_path("ring").and_then(|r| super::plan::ring_head(&r)) {
        let n = head.saturating_sub(start);
        out(&format!("duration: {} ({n} frames, so far)", format_frames(n, rate)))?;
    }
    if let Ok(meta) = std::fs::metadata(crate::flac::part_path(&path)) {
        out(&format!("size: {} bytes", meta.len()))?;
    }
    Ok(())
}
