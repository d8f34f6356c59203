//! Fill and tap the shared-memory pre-roll ring
//!
//! Not implemented yet.

use clap::Parser;

/// Options of `vinyl-preroll`.
#[derive(Parser, Debug, Clone)]
#[command(name = "vinyl-preroll", version, about = "Fill and tap the shared-memory pre-roll ring")]
pub struct Opts {
    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: crate::pcm::PcmArgs,
}

/// Runs `vinyl-preroll` until its input ends or it is told to stop.
pub fn run(_opts: Opts) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
