//! Record raw PCM from stdin to a FLAC file, streaming and crash-safe
//!
//! Not implemented yet.

use clap::Parser;

/// Options of `vinyl-flac-rec`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-flac-rec",
    version,
    about = "Record raw PCM from stdin to a FLAC file, streaming and crash-safe"
)]
pub struct Opts {
    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: crate::pcm::PcmArgs,
}

/// Runs `vinyl-flac-rec` until its input ends or it is told to stop.
pub fn run(_opts: Opts) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
