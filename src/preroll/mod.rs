//! `vinyl-preroll`: fill the shared-memory pre-roll ring, tap frames out of it, show its state.
//!
//! Parts: [`cli`] (the flags), [`fill`] (the ring's one writer, reading stdin or a FIFO that it
//! reopens), [`tap`] (frames from a point in the past, then live, to stdout or a WAV file) and
//! [`info`] (text or one-line JSON). The ring itself — layout, locking, overrun detection — is
//! [`crate::ring`]; this module only decides what to log and how to end. Every failure is one
//! line naming the ring or input path and the step, and exits 1: no ring, not a ring, another
//! writer, lost frames, a new writer generation. SIGTERM/SIGINT/SIGHUP and a closed stdout end cleanly.

pub mod cli;
pub mod fifo_out;
pub mod fill;
pub mod info;
pub mod tap;

pub use crate::ring::DEFAULT_RING;
pub use cli::{Command, Opts};

/// The tool's name as it starts every log line.
pub const TOOL: &str = "vinyl-preroll";

/// Runs the chosen subcommand until it ends or is told to stop.
pub fn run(opts: Opts) -> anyhow::Result<()> {
    crate::ring::guard::install().map_err(|e| anyhow::anyhow!("install the ring's SIGBUS guard: {e}"))?;
    match opts.command {
        Command::Fill(o) => fill::run(o),
        Command::Tap(o) => tap::run(o),
        Command::Info(o) => info::run(o),
    }
}
