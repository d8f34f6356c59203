//! ALSA capture to stdout as raw PCM
//!
//! Not implemented yet.

use clap::Parser;

/// Options of `vinyl-capture`.
#[derive(Parser, Debug, Clone)]
#[command(name = "vinyl-capture", version, about = "ALSA capture to stdout as raw PCM")]
pub struct Opts {
    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: crate::pcm::PcmArgs,
}

/// Runs `vinyl-capture` until its input ends or it is told to stop.
pub fn run(_opts: Opts) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
