//! The flags of `vinyl-snapcast-meta`, the single source of `--help`, the man page and the
//! completions.

use clap::Parser;
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Snapcast's control script for vinyl's stream: snapserver starts it (the pipe source's \
controlscript= parameter) and talks JSON-RPC with it on stdin and stdout. It follows the \
listener's events file and publishes what is playing as the stream's metadata: the artist, the \
album and the track's title of a recognised side (vinyl-listen --library), and the album's cover \
as a URL of vinyl-web (VINYL_WEB_URL/cover/ID). It says Plugin.Stream.Ready when it starts, answers \
Plugin.Stream.Player.GetProperties, sends Plugin.Stream.Player.Properties on each change (empty \
metadata when the side ends or the stylus is lifted), and refuses the control commands (a \
turntable cannot be skipped). It ends when snapserver closes its stdin or on \
SIGTERM/SIGINT/SIGHUP, and never fails because of an event line or a request it does not know.

With --source-line it prints the line for snapserver.conf's [stream] section instead: the FIFO \
that vinyl-up (or vinyl-snapcast.service) feeds, the stream's name, the sample format read from the \
ring itself (so they match by construction: 24-bit rings are sent as 24-in-32, see \
vinyl-preroll tap --s24-in-32), and this program as the control script.

Its keys come from the environment or the configuration file (snapserver starts it without \
vinyl's environment): VINYL_EVENTS (default RUN/events), VINYL_WEB_URL (the address listeners \
reach vinyl-web at, default http://VINYL_WEB_LISTEN), VINYL_RING, VINYL_RUN_DIR. Logs go to \
stderr, which snapserver writes to its own log.";

const AFTER_HELP: &str = "\
Examples:
  vinyl-snapcast-meta --source-line >> /etc/snapserver.conf   (then edit it into [stream])
  source = pipe:///run/vinyl/snapcast.fifo?name=vinyl&sampleformat=48000:24:2&mode=read&controlscript=/usr/local/bin/vinyl-snapcast-meta

Exit status: 0 when snapserver closes its stdin or on a stop signal, 1 runtime failure (no ring \
for --source-line), 2 usage error.";

/// Flags of `vinyl-snapcast-meta`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-snapcast-meta",
    version,
    about = "Publish now-playing to a Snapcast stream (its control script), or print its source line",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    args_override_self = true
)]
pub struct Opts {
    /// Print the snapserver.conf `source =` line for vinyl's ring and exit
    #[arg(long)]
    pub source_line: bool,
    /// The stream's name in Snapcast (with --source-line) [default: vinyl]
    #[arg(long, value_name = "NAME", default_value = "vinyl", hide_default_value = true)]
    pub name: String,
    /// The listener's events file [default: $VINYL_EVENTS, or RUN/events]
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// The stream's id, as snapserver passes it (logged)
    #[arg(long, value_name = "ID")]
    pub stream: Option<String>,
    /// snapserver's HTTP port, as it passes it (unused: everything goes through stdin and stdout)
    #[arg(long, value_name = "PORT")]
    pub snapcast_port: Option<u16>,
}
