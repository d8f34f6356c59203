//! Encode raw PCM to MP3 and stream it to an Icecast2 server, reconnecting forever
//!
//! Not implemented yet.

use clap::Parser;

/// Options of `vinyl-mp3-icecast`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-mp3-icecast",
    version,
    about = "Encode raw PCM to MP3 and stream it to an Icecast2 server, reconnecting forever"
)]
pub struct Opts {
    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: crate::pcm::PcmArgs,
}

/// Runs `vinyl-mp3-icecast` until its input ends or it is told to stop.
pub fn run(_opts: Opts) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
