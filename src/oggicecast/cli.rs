//! The flags of `vinyl-ogg-icecast`: the single source of its `--help` and man page.

use crate::icecast::cli::SourceArgs;
use crate::pcm::PcmArgs;
use clap::{Parser, ValueEnum};

const LONG_ABOUT: &str = "\
Reads raw PCM on stdin (the shared --rate/--channels/--format), encodes it to Ogg FLAC (lossless) \
or Ogg Opus and streams it to an Icecast2 mount as a source client.

Ogg FLAC decodes bit-exact to the input; Ogg Opus is 48 kHz (other rates are resampled) at \
--bitrate. Every connection begins a new Ogg stream with its header pages, so a listener or relay \
joining at any time gets them. It never pushes back on its input: stdin is read at the capture's \
pace whether the server is up or not; while disconnected, encoded audio is discarded and counted, \
and each new stream's first line in the log says at which input frame it begins. It reconnects \
forever, with a jittered exponential backoff from 0.5s up to --retry-max, and logs each change of \
state once.

Lines written to --metadata-fifo become the stream title: the Ogg stream ends (EOS) and a new one \
is chained with the title as a Vorbis comment (TITLE), which is how an Ogg stream changes its \
tags; Icecast shows it as the mount's title and players read it from the stream.

The password comes from --password-file or the VINYL_ICECAST_PASSWORD environment variable, never \
from the command line or the URL, and is never printed. Wrong credentials (401) end the program \
with status 1; a busy mount (403), a mount the server does not have (404), a refused connection or \
a server error is retried. SIGTERM, SIGINT or SIGHUP ends the stream (EOS), sends it and exits 0; \
end of input does the same. Under systemd it sends READY=1 once first connected, STATUS= with the \
connection state, and WATCHDOG=1 when WatchdogSec is set.";

const AFTER_HELP: &str = "\
EXIT STATUS:
  0  end of input, or SIGTERM/SIGINT/SIGHUP, after flushing
  1  runtime failure: wrong credentials (401), unreadable password file
  2  usage error: bad flag, no URL, no password, credentials in the URL, unsupported rate

EXAMPLES:
  vinyl-ogg-icecast --codec flac --url http://localhost:8000/vinyl.flac.ogg \\
      --password-file /etc/vinyl/icecast.password --metadata-fifo /run/vinyl/title-flac \\
      < /run/vinyl/ogg-flac.fifo
  vinyl-ogg-icecast --codec opus --bitrate 96 --url http://localhost:8000/vinyl.opus \\
      --password-file /etc/vinyl/icecast.password < /run/vinyl/opus.fifo";

/// The Ogg codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    /// FLAC in Ogg (mapping 1.0): lossless, bit-exact to the input
    Flac,
    /// Opus in Ogg (RFC 7845): 48 kHz, --bitrate
    Opus,
}

impl Codec {
    /// The key that gives `--url` when the flag is absent.
    pub fn url_key(self) -> &'static str {
        match self {
            Codec::Flac => "VINYL_OGG_FLAC_URL",
            Codec::Opus => "VINYL_OPUS_URL",
        }
    }
}

/// Options of `vinyl-ogg-icecast`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-ogg-icecast",
    version,
    about = "Encode raw PCM to Ogg FLAC or Ogg Opus and stream it to an Icecast2 server, reconnecting forever",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
)]
pub struct Opts {
    /// The codec of the Ogg stream
    #[arg(long, value_enum, default_value = "flac")]
    pub codec: Codec,

    /// Icecast server and mount, http://HOST:PORT/MOUNT (without a port, 8000). Never put
    /// credentials in it: the command line is visible to every user [default: the
    /// VINYL_OGG_FLAC_URL environment variable for --codec flac, VINYL_OPUS_URL for --codec opus]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// The shared Icecast source flags.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Opus bitrate in kbit/s for all channels (6..510); FLAC ignores it
    #[arg(long, value_name = "KBPS", env = "VINYL_OPUS_BITRATE", default_value = "128",
          value_parser = clap::value_parser!(u16).range(6..=510))]
    pub bitrate: u16,

    /// Opus encoder complexity (0..10): 9 is libopus's own default, 10 (opusenc's) the best
    /// quality; lower costs less CPU; FLAC ignores it
    #[arg(long, value_name = "N", env = "VINYL_OPUS_COMPLEXITY", default_value = "9",
          value_parser = clap::value_parser!(u8).range(0..=10))]
    pub complexity: u8,

    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: PcmArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_defaults_to_flac_and_bitrate_is_bounded() {
        let o = Opts::try_parse_from(["t"]).unwrap();
        assert_eq!((o.codec, o.bitrate), (Codec::Flac, 128));
        assert!(Opts::try_parse_from(["t", "--codec", "opus", "--bitrate", "5"]).is_err());
        assert_eq!(o.complexity, crate::opus::DEFAULT_COMPLEXITY, "libopus's own default");
        let o = Opts::try_parse_from(["t", "--codec", "opus", "--complexity", "0"]).unwrap();
        assert_eq!(o.complexity, 0);
        let e = Opts::try_parse_from(["t", "--codec", "opus", "--complexity", "11"]).unwrap_err();
        assert!(e.to_string().contains("0..=10"), "{e}");
        assert!(Opts::try_parse_from(["t", "--codec", "vorbis"]).is_err());
    }
}
