//! `vinyl-rec auto`: hands-free sides. Follows the listener's events and records every side as
//! one FLAC file, with its track markers and loudness tags, and sets the stream's title at each
//! track.
//!
//! Parts: [`settings`] (the keys and their checks), [`side`] (one side's recording, from the
//! needle drop minus a margin to the end plus a margin, exactly, and its finalisation),
//! [`measure`] (the file's own loudness, for its ReplayGain tags),
//! [`titles`] (the metadata FIFO and the `VINYL_ON_EVENT` hook, off the audio path). This file is
//! the loop: tail `RUN/events` ([`crate::listen::tail::Tail`]), turn each event into a step,
//! check the guards once a second, feed systemd's watchdog. SIGTERM, SIGINT or SIGHUP ends a side
//! in progress at the ring's head and finalises it before exiting 0. How it fails: usage errors
//! (the configuration) exit 2 at the start; after that nothing ends the loop but a stop signal:
//! a side that cannot be recorded or finalised is logged and the next one is waited for.

pub mod measure;
pub mod settings;
pub mod side;
pub mod titles;

use super::cli::AutoOpts;
use super::state::ensure_run_dir;
use super::{Settings, TOOL};
use crate::config::Config;
use crate::listen::tail::Tail;
use crate::pcm::format_frames;
use crate::{signals, vlog};
use serde_json::Value;
use settings::AutoSettings;
use side::{Refused, Side};
use std::time::{Duration, Instant};
use titles::Titles;

/// How often the events file is read.
const POLL: Duration = Duration::from_millis(100);
/// How often the free space is checked while a side records.
const GUARD_EVERY: Duration = Duration::from_secs(1);
/// How long a stop waits for the side in progress to be finished.
const STOP_WAIT: Duration = Duration::from_secs(60);

/// The loop's state.
struct Auto {
    s: Settings,
    a: AutoSettings,
    titles: Titles,
    /// The side being recorded, or finished and waiting for its report.
    side: Option<Side>,
    /// Sides heard since the start (the `{side}` of the titles).
    sides: u32,
    /// The listener's number of the side not recorded (logged once).
    skipped: Option<u64>,
    last_guard: Instant,
}

/// Runs `vinyl-rec auto` until a stop signal.
pub fn auto(s: &Settings, o: &AutoOpts) -> anyhow::Result<()> {
    let a = AutoSettings::load(&Config::discover()?)?;
    signals::install()?;
    ensure_run_dir(&s.run_dir)?;
    let events = o.events.clone().unwrap_or_else(|| s.run_dir.join("events"));
    let fifo = o.title_fifo.clone().unwrap_or_else(|| s.run_dir.join("title"));
    let mut notifier = crate::notify::Notifier::from_env();
    vlog!(
        TOOL,
        "auto: following {} (sides from {} before the needle drop to {} after the end; recordings in {})",
        events.display(),
        a.start_margin,
        a.end_margin,
        s.recordings.display()
    );
    let mut auto = Auto {
        s: s.clone(),
        titles: Titles::new(fifo, a.hook.clone(), a.hook_timeout),
        a,
        side: None,
        sides: 0,
        skipped: None,
        last_guard: Instant::now(),
    };
    let mut tail = Tail::new(&events);
    notifier.ready();
    notifier.status("waiting for a side");
    while !signals::stop_requested() {
        notifier.watchdog();
        let mut lines = Vec::new();
        tail.poll(&mut |l| lines.push(l.to_string()), &mut |_| {});
        for l in &lines {
            auto.line(l);
        }
        auto.step();
        std::thread::sleep(POLL);
    }
    notifier.stopping();
    auto.stop(&mut notifier);
    auto.titles.shutdown();
    Ok(())
}

impl Auto {
    /// One line of the events file.
    fn line(&mut self, line: &str) {
        let Ok(v) = serde_json::from_str::<Value>(line) else { return };
        let kind = v["event"].as_str().unwrap_or_default();
        if !matches!(kind, "level" | "state" | "") {
            self.titles.event(line);
        }
        let frame = v["frame"].as_u64().unwrap_or(0);
        let side_no = v["side"].as_u64().unwrap_or(0);
        match kind {
            "side_start" => self.side_start(side_no, frame),
            "track_start" => {
                let track = v["track"].as_u64().unwrap_or(1) as u32;
                self.titles.set(&titles::template(&self.a.template, self.sides.max(1), track));
                if let Some(s) = self.current(side_no) {
                    s.tracks.push(frame);
                }
            }
            "side_end" => {
                let lift = v["reason"] == "lift";
                let margin = if lift { 0 } else { self.a.end_margin.frames(self.rate()) };
                let rpm = v["rpm"].as_f64();
                if let Some(s) = self.current(side_no) {
                    s.rpm = rpm;
                    s.end_at(frame + margin, "side_end");
                }
            }
            "side_report" => {
                if let Some(s) = self.side.as_mut().filter(|s| s.side == side_no) {
                    s.report = Some(v);
                }
            }
            _ => {}
        }
    }

    fn rate(&self) -> u32 {
        self.side.as_ref().map_or(48_000, |s| s.rate)
    }

    /// The side being recorded, when it is the listener's side `n` and not yet ended.
    fn current(&mut self, n: u64) -> Option<&mut Side> {
        self.side.as_mut().filter(|s| s.side == n)
    }

    fn side_start(&mut self, n: u64, frame: u64) {
        self.sides += 1;
        if let Some(old) = self.side.take() {
            // A new side while the last one waits for its report: finish that one first.
            let mut old = old;
            if !old.finished() {
                old.end_now("a new side");
                old.wait(STOP_WAIT, &mut || {});
            }
            old.finalise(&self.a);
        }
        match side::begin(&self.s, &self.a, n, frame) {
            Ok(Ok(side)) => {
                vlog!(
                    TOOL,
                    "side {n}: recording {} from frame {} (needle drop at {frame})",
                    side.path.display(),
                    side.first
                );
                self.skipped = None;
                self.side = Some(side);
            }
            Ok(Err(Refused::Manual(path))) if self.skipped != Some(n) => {
                self.skipped = Some(n);
                vlog!(
                    TOOL,
                    "side {n}: not recorded: a manual recording is running ({}); auto leaves it alone",
                    path.display()
                );
            }
            Ok(Err(Refused::Manual(_))) => {}
            Ok(Err(Refused::NoSpace(free))) => vlog!(
                TOOL,
                "side {n}: not recorded: {} has only {} MiB free, under VINYL_AUTO_MIN_FREE ({} MiB); free some space or lower it",
                self.s.recordings.display(),
                free >> 20,
                self.a.min_free >> 20
            ),
            Err(e) => vlog!(TOOL, "side {n}: not recorded: {e:#}"),
        }
    }

    /// The guards and the finalisation, between events.
    fn step(&mut self) {
        let Some(side) = self.side.as_mut() else { return };
        if side.ready() {
            if let Some(s) = self.side.take() {
                s.finalise(&self.a);
            }
            return;
        }
        if side.end.is_some() || self.last_guard.elapsed() < GUARD_EVERY {
            return;
        }
        self.last_guard = Instant::now();
        let free = side::free_bytes(&self.s.recordings).unwrap_or(u64::MAX);
        if free < self.a.min_free
            && let Some(head) = side.head()
        {
            side.end_at(head, "disk");
            vlog!(
                TOOL,
                "side {}: stopped at frame {head} ({} in): {} has only {} MiB free, under VINYL_AUTO_MIN_FREE ({} MiB); the file is kept; free some space",
                side.side,
                format_frames(head.saturating_sub(side.side_frame), side.rate),
                self.s.recordings.display(),
                free >> 20,
                self.a.min_free >> 20
            );
        }
    }

    /// A stop signal: the side in progress ends at the head and is finalised.
    fn stop(&mut self, notifier: &mut crate::notify::Notifier) {
        let Some(mut side) = self.side.take() else { return };
        if !side.finished() {
            vlog!(TOOL, "side {}: stopping: the file ends at the ring's head", side.side);
            side.end_now("stop");
            if !side.wait(STOP_WAIT, &mut || notifier.watchdog()) {
                vlog!(TOOL, "side {}: the recorder is still finishing; its file is left as it is", side.side);
                return;
            }
        }
        side.finalise(&self.a);
    }
}
