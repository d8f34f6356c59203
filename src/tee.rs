//! Fan stdin out to several outputs without ever blocking the input
//!
//! Not implemented yet.

use clap::Parser;

/// Options of `vinyl-tee`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-tee",
    version,
    about = "Fan stdin out to several outputs without ever blocking the input"
)]
pub struct Opts {
    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: crate::pcm::PcmArgs,
}

/// Runs `vinyl-tee` until its input ends or it is told to stop.
pub fn run(_opts: Opts) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
