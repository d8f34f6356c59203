//! The flags of `vinyl-preroll` and its three subcommands, the single source of `--help` and of
//! the man page.

use crate::pcm::{DurationArg, PcmArgs};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Keeps the last minutes of the capture in a shared-memory ring so a recording started now can \
begin in the past.

`fill` is the ring's one writer: it reads raw PCM from stdin or from a FIFO (reopened whenever \
its writer comes back) and never waits for readers. `tap` copies frames out of the ring from a \
chosen point (30 s ago, an absolute frame number) to stdout, then follows the live head until \
told to stop or until an end point. `info` shows the ring's format, capacity, head and writer.

Frames are numbered from 0 at the start of each writer generation, so a recording can say \
\"I start at frame N\" and be lined up with the capture. The ring file's layout is described in \
vinyl(7).";

const AFTER_HELP: &str = "\
EXIT STATUS:
  0  success: input ended (fill), end point or SIGTERM/SIGINT/SIGHUP reached (tap), or stdout closed
  1  runtime failure: no ring or not a ring, another writer, lost frames, writer generation changed
  2  usage error

EXAMPLES:
  vinyl-capture | vinyl-preroll fill --capacity 30m
  vinyl-preroll tap --from -30s | vinyl-flac-rec -o side-a.flac";

/// Options of `vinyl-preroll`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-preroll",
    version,
    about = "Fill and tap the shared-memory pre-roll ring",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Opts {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Write PCM from stdin or a FIFO into the ring (the one writer)
    #[command(
        long_about = "Write raw PCM from stdin, or from a FIFO it reopens whenever its writer comes \
back, into the ring. Creates the ring (mode 0600) or takes over an existing one whose writer is \
gone as a new generation, numbering frames from 0 again. A ring of another format or capacity \
without a writer is replaced (its readers are told). Refuses a second live writer, a file that is \
not a ring (left unchanged) and a ring of another layout version. A partial frame at a writer's end is \
reported and discarded. On SIGTERM/SIGINT/SIGHUP it first stores the whole frames already waiting in its \
input, then exits 0. Sends READY=1 to systemd when the ring is ready, and WATCHDOG=1 while running.",
        after_help = "EXIT STATUS:\n  0  end of stdin, or SIGTERM/SIGINT/SIGHUP\n  1  another writer, \
not a ring, I/O error\n  2  usage error\n\nEXAMPLES:\n  vinyl-preroll fill --input /run/vinyl/ring.fifo \
--capacity 30m\n  sox song.flac -t raw -r 48000 -e signed -b 16 -c 2 - | vinyl-preroll fill"
    )]
    Fill(FillOpts),
    /// Copy frames from the ring to stdout: from the past, then live
    #[command(
        long_about = "Copy frames from the ring to stdout (or a WAV file) from the requested point, \
then follow the live head. Ends at the end point (--until-frame, --duration, --no-follow), or on \
SIGTERM/SIGINT/SIGHUP at the frame that was newest when the signal arrived (frames not yet written out \
are drained first), exit 0. Logs the actual start frame on stderr as 'tap from frame N', and how \
much pre-roll it really gave when the ring held less than asked. A tap overtaken by the writer \
stops with exit 1 and names the frames lost, rather than leave a gap in its output; so does a \
tap whose ring gets a new writer generation. A tap whose writer merely stopped keeps waiting. \
--rate, --channels and --format must match the ring. WAV output goes to a file, never stdout: its \
header is completed at the end.",
        after_help = "EXIT STATUS:\n  0  end point reached, SIGTERM/SIGINT/SIGHUP, or stdout closed\n  1  no \
ring or not a ring, format differs, lost frames, writer generation changed\n  2  usage \
error\n\nEXAMPLES:\n  vinyl-preroll tap --from -30s | vinyl-flac-rec -o rec.flac\n  \
vinyl-preroll tap --from -5m --no-follow --wav last-5-minutes.wav"
    )]
    Tap(TapOpts),
    /// Show the ring's format, capacity, head, oldest frame and writer
    #[command(
        long_about = "Show the ring's format, rate, channels, capacity, head (frames written by \
this generation), newest and oldest frame held, whether a writer holds it (and its pid), the \
writer generation, and the wall-clock time of frame 0. --json prints the same as one flat JSON \
object on one line, for scripts.",
        after_help = "EXIT STATUS:\n  0  shown\n  1  no ring, not a ring, or a ring of another \
layout version\n  2  usage error\n\nEXAMPLES:\n  vinyl-preroll info\n  vinyl-preroll info --json"
    )]
    Info(InfoOpts),
}

/// Flags of `vinyl-preroll fill`.
#[derive(Args, Debug, Clone)]
pub struct FillOpts {
    /// The ring file, usually in /dev/shm [default: /dev/shm/vinyl-ring]
    #[arg(long, value_name = "PATH", default_value = super::DEFAULT_RING, hide_default_value = true)]
    pub ring: PathBuf,
    /// History the ring guarantees, e.g. 30s, 30m (a whole LP side), or frames as 1440000f; 10 %
    /// more (at least 2 s) is allocated as slack for readers [default: 30s]
    #[arg(long, value_name = "DURATION", default_value = "30s", hide_default_value = true)]
    pub capacity: DurationArg,
    /// Read from this FIFO instead of stdin, reopening it whenever its writer leaves; created
    /// (mode 0600) when missing. A regular file is read once [default: stdin]
    #[arg(long, value_name = "FIFO")]
    pub input: Option<PathBuf>,
    /// Let input gather this long between reads when it arrives live, e.g. 200ms, or 0s to read
    /// as soon as anything arrives: fewer wake-ups and less CPU, while readers see new frames up
    /// to this much later. Capped at a quarter of the input pipe, which is enlarged to
    /// /proc/sys/fs/pipe-max-size, so the upstream writer never waits [default: 200ms]
    #[arg(long, value_name = "DURATION", default_value = "200ms", hide_default_value = true)]
    pub batch: DurationArg,
    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: PcmArgs,
}

/// How far before the head a tap starts, written `-30s` (or `30s`): a [`DurationArg`] back in
/// time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Back(pub DurationArg);

impl std::str::FromStr for Back {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.starts_with('+') {
            return Err(format!(
                "'{s}' is in the future: --from counts back from the newest frame, e.g. -30s"
            ));
        }
        t.strip_prefix('-').unwrap_or(t).parse().map(Back)
    }
}

/// Flags of `vinyl-preroll tap`.
#[derive(Args, Debug, Clone)]
pub struct TapOpts {
    /// The ring file [default: /dev/shm/vinyl-ring]
    #[arg(long, value_name = "PATH", default_value = super::DEFAULT_RING, hide_default_value = true)]
    pub ring: PathBuf,
    /// Start this long before the head (the next frame to be written): -30s, -1m30s, -48000f;
    /// 0s is live. When the ring holds less, start at its oldest frame [default: 0s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, conflicts_with = "from_frame")]
    pub from: Option<Back>,
    /// Start at this absolute frame number of the current writer generation. Waits for it when
    /// it is not written yet. Exact even up to half the ring's slack before the guaranteed
    /// history while those frames are intact (a script that read the head a moment ago); older
    /// than that, starts at the oldest guaranteed frame and says so
    #[arg(long, value_name = "N")]
    pub from_frame: Option<u64>,
    /// End before this absolute frame (exclusive)
    #[arg(long, value_name = "N", group = "end")]
    pub until_frame: Option<u64>,
    /// End this long after the requested start frame, so `--from-frame N --duration D` gives
    /// exactly the frames N..N+D
    #[arg(long, value_name = "DURATION", group = "end")]
    pub duration: Option<DurationArg>,
    /// End at the head as it was when the tap started, instead of following live
    #[arg(long, group = "end")]
    pub no_follow: bool,
    /// Write a WAV file (mode 0600, never overwriting) instead of raw PCM to stdout; needs an
    /// end point (--until-frame, --duration or --no-follow)
    #[arg(long, value_name = "FILE")]
    pub wav: Option<PathBuf>,
    /// Measure the delay from a frame's publication in the ring to its write to stdout and
    /// print statistics at the end (benchmarks)
    #[arg(long, hide = true)]
    pub measure_latency: bool,
    /// The shared PCM flags: they must match the ring's format.
    #[command(flatten)]
    pub pcm: PcmArgs,
}

/// Flags of `vinyl-preroll info`.
#[derive(Args, Debug, Clone)]
pub struct InfoOpts {
    /// The ring file [default: /dev/shm/vinyl-ring]
    #[arg(long, value_name = "PATH", default_value = super::DEFAULT_RING, hide_default_value = true)]
    pub ring: PathBuf,
    /// One flat JSON object on one line, keys: ring, version, format, rate, channels,
    /// capacity_frames, slot_frames, head, oldest_frame, newest_frame, writer_alive, writer_pid,
    /// generation, frame0_unix_ns, frame0_time
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Opts, clap::Error> {
        Opts::try_parse_from(std::iter::once("vinyl-preroll").chain(args.iter().copied()))
    }

    #[test]
    fn from_takes_a_negative_duration() {
        let Command::Tap(t) = parse(&["tap", "--from", "-30s"]).unwrap().command else { panic!() };
        assert_eq!(t.from, Some(Back(DurationArg::Millis(30_000))));
        let Command::Tap(t) = parse(&["tap", "--from=-48000f"]).unwrap().command else { panic!() };
        assert_eq!(t.from, Some(Back(DurationArg::Frames(48_000))));
        assert!(parse(&["tap", "--from", "+3s"]).is_err());
        assert!(parse(&["tap", "--from", "-3x"]).is_err());
    }

    #[test]
    fn conflicting_points_are_usage_errors() {
        assert!(parse(&["tap", "--from", "-3s", "--from-frame", "5"]).is_err());
        assert!(parse(&["tap", "--until-frame", "5", "--no-follow"]).is_err());
        assert!(parse(&["tap", "--duration", "5s", "--until-frame", "9"]).is_err());
        assert!(parse(&["tap", "--from-frame", "5", "--duration", "5s"]).is_ok());
    }

    #[test]
    fn defaults() {
        let Command::Fill(f) = parse(&["fill"]).unwrap().command else { panic!() };
        assert_eq!(f.ring, PathBuf::from("/dev/shm/vinyl-ring"));
        assert_eq!(f.capacity.frames(48_000), 1_440_000);
        assert!(f.input.is_none());
    }
}
