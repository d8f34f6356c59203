//! The shared-memory ring, from the `vinyl-ring` crate: every tool reaches it as `vinyl::ring`.
//!
//! Owns only how the tools word what a tap saw ([`Logged`]: a tap's notes as log lines, its loop as
//! the service manager's watchdog). The layout, writer, reader, gap journal, taps and SIGBUS guard
//! live in `crates/ring`, which needs no audio device, codec or CLI library and logs nothing.

pub use vinyl_ring::*;

use crate::vlog;
use vinyl_ring::tap::{Note, Observer};

/// A tap's notes as the tools' log lines, and its loop as the service manager's watchdog: the one
/// place that words what a tap saw. The tap tool adds its end file through [`Logged::end_from`].
pub struct Logged<'a> {
    /// The tool named in the lines.
    pub tool: &'a str,
    /// The ring's path as shown.
    pub shown: &'a str,
    /// The ring's rate, for lengths in time.
    pub rate: u32,
    /// READY when following starts, WATCHDOG as the loop turns (silent where the tap is not the
    /// process's main loop).
    pub notifier: crate::notify::Notifier,
    /// Tells a later, lower end (`vinyl-preroll tap --end-file`).
    pub end_from: Option<Box<dyn FnMut(u64) -> u64 + 'a>>,
}

impl<'a> Logged<'a> {
    /// Lines for `tool` about the ring shown as `shown`; `notify` when the tap is the process's
    /// main loop.
    pub fn new(tool: &'a str, shown: &'a str, rate: u32, notify: bool) -> Self {
        let notifier =
            if notify { crate::notify::Notifier::from_env() } else { crate::notify::Notifier::silent() };
        Logged { tool, shown, rate, notifier, end_from: None }
    }
}

impl Observer for Logged<'_> {
    fn note(&mut self, note: Note) {
        let (tool, shown, rate) = (self.tool, self.shown, self.rate);
        match note {
            Note::Skipped { from, to, gap: Some(g), skips } => vlog!(
                tool,
                "{shown}: {}; skipped frames {from}..{to} ({} frames) to the gap's end instead of passing \
                 its silence; {skips} skips so far",
                describe_gap(&g, rate),
                to - from
            ),
            Note::Skipped { from, to, gap: None, skips } => vlog!(
                tool,
                "{shown}: overtaken by the writer: skipped frames {from}..{to} ({} frames) to live; {skips} \
                 skips so far",
                to.saturating_sub(from)
            ),
            Note::NewTimeline { timeline, from } => vlog!(
                tool,
                "{shown}: the ring was replaced: following its new timeline {timeline} from frame {from}"
            ),
            Note::GapReached(g) => {
                vlog!(tool, "{shown}: gap in the tapped frames: {}", describe_gap(&g, rate))
            }
            Note::Unlisted(u) => vlog!(
                tool,
                "{shown}: {} left the ring's journal before this tap could list them (it keeps the last \
                 64); those in the tapped frames are silence",
                u.describe(rate)
            ),
            Note::Writer { alive: false, waiting_for } => {
                vlog!(tool, "{shown}: no writer holds the ring; waiting for frame {waiting_for}")
            }
            Note::Writer { alive: true, .. } => vlog!(tool, "{shown}: a writer holds the ring again"),
            Note::LateEnd { end, given } => vlog!(
                tool,
                "{shown}: the end, frame {end}, came after frames up to {given} were written: {} frames too \
                 many (a longer --hold keeps such ends exact)",
                given - end
            ),
            Note::NoRingYet => {
                vlog!(tool, "{shown}: no ring yet; waiting for vinyl-capture --ring to make it")
            }
            Note::Following { from, timeline } => {
                vlog!(tool, "{shown}: following live from frame {from} (timeline {timeline})");
                self.notifier.ready();
            }
        }
    }

    fn turn(&mut self) {
        self.notifier.watchdog();
    }

    fn end(&mut self, current: u64) -> u64 {
        self.end_from.as_mut().map_or(current, |f| f(current))
    }

    fn end_may_change(&self) -> bool {
        self.end_from.is_some()
    }
}
