//! The flags of `vinyl-mp3-icecast`: the single source of its `--help` and man page.

use crate::icecast::cli::SourceArgs;
use crate::pcm::PcmArgs;
use clap::{ArgGroup, Parser};
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Reads raw PCM on stdin (the shared --rate/--channels/--format), encodes it to MP3 with LAME and \
streams it to an Icecast2 mount as a source client, or writes the MP3 to a file with --output.

It never pushes back on its input: stdin is read at the capture's pace whether the server is up \
or not. While disconnected, encoded audio is discarded in whole MP3 frames and counted, so after \
a reconnect listeners hear live audio, never a backlog. It reconnects forever, with a jittered \
exponential backoff from 0.5s up to --retry-max, and logs each change of state once. Every \
network step has a --timeout; a server that stops taking data is dropped and reconnected.

The password comes from --password-file or the VINYL_ICECAST_PASSWORD environment variable, \
never from the command line or the URL, and is never printed. Wrong credentials (401) end the \
program with status 1; a busy mount (403), a mount the server does not have (404, named in the \
log), a refused connection or a server error is retried.

With --output, the last line says what a decoder returns: for a regular file, which gets LAME's \
tag frame, exactly the input (in samples at the MP3's rate, which differs when LAME resamples); \
without the tag, 1105 samples before it (576 of encoder delay plus 529 of decoder delay, as \
mpg123 and ffmpeg decode) and LAME's padding less 529 after it.

Lines written to --metadata-fifo become the stream title. SIGTERM, SIGINT or SIGHUP flushes the encoder, \
sends what is left and exits 0; end of input does the same. Under systemd it sends READY=1 once \
first connected, STATUS= with the connection state, and WATCHDOG=1 when WatchdogSec is set.";

const AFTER_HELP: &str = "\
EXIT STATUS:
  0  end of input, or SIGTERM/SIGINT/SIGHUP, after flushing
  1  runtime failure: wrong credentials (401), unreadable password file, output write error
  2  usage error: bad flag, no password, credentials in the URL, unsupported channels/bitrate

EXAMPLES:
  VINYL_ICECAST_PASSWORD=hackme vinyl-mp3-icecast --url http://localhost:8000/live \\
      --name 'Living room turntable' --metadata-fifo /run/vinyl/title < /run/vinyl/stream.fifo
  sox song.flac -t raw -r 48000 -c 2 -b 16 -e signed - | vinyl-mp3-icecast --output song.mp3";

fn parse_bitrate(s: &str) -> Result<u16, String> {
    let kbps: u16 =
        s.parse().map_err(|_| format!("'{s}' is not a bitrate: give kbit/s, e.g. 128, 192 or 320"))?;
    if crate::mp3::MPEG1_BITRATES.contains(&kbps) || crate::mp3::MPEG2_BITRATES.contains(&kbps) {
        Ok(kbps)
    } else {
        Err(format!("{kbps} is not an MP3 bitrate: give one of {:?}", crate::mp3::MPEG1_BITRATES))
    }
}

/// Options of `vinyl-mp3-icecast`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-mp3-icecast",
    version,
    about = "Encode raw PCM to MP3 and stream it to an Icecast2 server, reconnecting forever",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    group(ArgGroup::new("target").required(true).args(["url", "output"])),
)]
pub struct Opts {
    /// Icecast server and mount, http://HOST:PORT/MOUNT (without a port, 8000). Never put
    /// credentials in it: the command line is visible to every user
    #[arg(long, value_name = "URL", env = "VINYL_ICECAST_URL", hide_env_values = true)]
    pub url: Option<String>,

    /// Write the MP3 to FILE ('-' for stdout) instead of streaming; nothing is dropped, and the
    /// file is created with mode 0600. A regular file (also stdout redirected to one, not
    /// appending) starts with LAME's Xing/Info tag frame, written at the end: players then know
    /// the exact duration, seek in VBR and play gapless; a pipe gets no tag, like a stream
    #[arg(long, short = 'o', value_name = "FILE", conflicts_with = "url")]
    pub output: Option<PathBuf>,

    /// The shared Icecast source flags.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Constant bitrate in kbit/s (32..320 at 32-48 kHz, 8..160 below)
    #[arg(long, value_name = "KBPS", env = "VINYL_BITRATE", default_value = "320", value_parser = parse_bitrate)]
    pub bitrate: u16,

    /// Variable bitrate instead of CBR, quality 0 (best, ~245 kbit/s) to 9 (smallest), like
    /// lame -V [default: off, CBR]
    #[arg(long, value_name = "0..9", value_parser = clap::value_parser!(u8).range(0..=9), conflicts_with = "bitrate")]
    pub vbr: Option<u8>,

    /// LAME algorithm quality, 0 (slowest) to 9 (fastest); 3 is LAME's default, 2 is lame -h
    #[arg(long, value_name = "0..9", default_value = "3", value_parser = clap::value_parser!(u8).range(0..=9))]
    pub quality: u8,

    /// Genre (ice-genre) [default: none]
    #[arg(long, value_name = "TEXT")]
    pub genre: Option<String>,

    /// Web page about the stream (ice-url) [default: none]
    #[arg(long, value_name = "URL")]
    pub homepage: Option<String>,

    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: PcmArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_or_output_is_required_and_exclusive() {
        assert!(Opts::try_parse_from(["t"]).is_err());
        assert!(Opts::try_parse_from(["t", "--url", "http://h/m", "--output", "x"]).is_err());
        let o = Opts::try_parse_from(["t", "--output", "-"]).unwrap();
        assert_eq!(o.bitrate, 320);
        assert!(Opts::try_parse_from(["t", "--output", "-", "--vbr", "2", "--bitrate", "128"]).is_err());
        assert!(Opts::try_parse_from(["t", "--output", "-", "--vbr", "10"]).is_err());
        let err = Opts::try_parse_from(["t", "--output", "-", "--bitrate", "300"]).unwrap_err().to_string();
        assert!(err.contains("not an MP3 bitrate"), "{err}");
    }
}
