//! The flags of `vinyl-preroll` and its three subcommands, the single source of `--help` and of
//! the man page.

use crate::input::BatchArg;
use crate::pcm::{DurationArg, PcmArgs};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Keeps the last minutes of the capture in a shared-memory ring so a recording started now can \
begin in the past, and lets any number of readers tap it without ever slowing its writer.

The ring holds one timeline: frame N is the Nth sample period of the capture since the timeline \
began. Its writer is normally vinyl-capture --ring; `fill` writes PCM from other sources (stdin, \
a FIFO) under the same rules. Audio that was lost is present as silence of its length and listed \
in the ring's gap journal; a restarted writer of the same format and capacity continues the \
timeline, its downtime a journaled gap. `tap` copies frames out of the ring from a chosen point \
(30 s ago, an absolute frame number) to stdout, then follows the live head until told to stop or \
until an end point; `tap --live` is the mode for streams and monitors. `info` shows the ring's \
format, capacity, head, writer, timeline and gap journal. The ring file's layout is described in \
vinyl(7).";

const AFTER_HELP: &str = "\
EXIT STATUS:
  0  success: input ended (fill), end point or SIGTERM/SIGINT/SIGHUP reached (tap), or stdout closed
  1  runtime failure: no ring, not a ring, a corrupt or truncated ring, another writer, lost
     frames (strict tap), another timeline than the pinned one
  2  usage error

EXAMPLES:
  vinyl-capture --device hw:1,0 --ring /dev/shm/vinyl-ring --ring-capacity 30m
  vinyl-preroll tap --from -30s | vinyl-flac-rec -o side-a.flac --start-frame N --ring /dev/shm/vinyl-ring
  vinyl-preroll tap --live | vinyl-mp3-icecast --url http://localhost:8000/vinyl.mp3";

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
    /// Write PCM from stdin or a FIFO into the ring (its one writer), for sources other than
    /// vinyl-capture
    #[command(
        long_about = "Write raw PCM from stdin, or from a FIFO it reopens whenever its writer comes \
back, into the ring, as its one writer (for PCM from other sources than vinyl-capture --ring). \
Creates the ring (mode 0600, a new timeline) or continues the timeline of an existing one of the \
same format and capacity whose writer is gone: the downtime becomes a journaled gap of silence. A \
FIFO writer that comes back later than real time would have it leaves a gap the same way. A ring \
of another format or capacity without a writer, or one that other users could write, is replaced \
by a new one (its readers are told). Refuses a second live writer, a file that is not a ring \
(left unchanged) and a ring of another layout version. A partial frame at a writer's end is \
reported and discarded. On SIGTERM/SIGINT/SIGHUP it first stores the whole frames already waiting \
in its input, then exits 0. Sends READY=1 to systemd when the ring is ready, and WATCHDOG=1 while \
running.",
        after_help = "EXIT STATUS:\n  0  end of stdin, or SIGTERM/SIGINT/SIGHUP\n  1  another \
writer, not a ring, a ring truncated under it, I/O error\n  2  usage error\n\nEXAMPLES:\n  \
vinyl-preroll fill --input /run/vinyl/other.fifo --capacity 30m\n  sox song.flac -t raw -r 48000 -e \
signed -b 16 -c 2 - | vinyl-preroll fill"
    )]
    Fill(FillOpts),
    /// Copy frames from the ring to stdout: from the past, then live
    #[command(
        long_about = "Copy frames from the ring to stdout (or a WAV file) from the requested point, \
then follow the live head. Ends at the end point (--until-frame, --duration, --no-follow), or on \
SIGTERM/SIGINT/SIGHUP at the frame that was newest when the signal arrived (frames not yet written out \
are drained first), exit 0. Logs the actual start frame on stderr as 'tap from frame N', and how \
much pre-roll it really gave when the ring held less than asked, and one line for every gap of \
the timeline inside what it wrote (lost audio present as silence). A strict tap (the default, for \
recordings) is pinned to the ring's timeline (or to --timeline) and writes a gap as silence of \
its exact length, however long it is (frames of a gap that the writer overwrote are silence by \
definition); overtaken by the writer on real audio, it stops with exit 1 and names the frames \
lost, rather than splice its output; so does a tap whose ring is replaced, truncated or corrupt. \
A tap whose writer merely stopped keeps waiting, and a restarted writer continues the same \
timeline. --live is for streams and monitors: it starts at the newest frame, skips forward to \
live when overtaken, skips a gap longer than 1 s (to its end, or to live when that is later) \
instead of handing on its silence at once (both logged and counted as skips; shorter gaps pass \
as silence) and follows a replaced ring's new timeline. --rate, --channels and --format must match the ring. WAV output \
goes to a file, never stdout: its header is completed at the end.",
        after_help = "EXIT STATUS:\n  0  end point reached, SIGTERM/SIGINT/SIGHUP, or stdout \
closed\n  1  no ring or not a ring, format differs, lost frames, the ring replaced, truncated or \
corrupt, another timeline than --timeline\n  2  usage error\n\nEXAMPLES:\n  vinyl-preroll tap \
--from -30s | vinyl-flac-rec -o rec.flac\n  vinyl-preroll tap --from -5m --no-follow --wav \
last-5-minutes.wav\n  vinyl-preroll tap --live > /run/vinyl/stream.fifo"
    )]
    Tap(TapOpts),
    /// Show the ring's format, capacity, head, oldest frame and writer
    #[command(
        long_about = "Show the ring's format, rate, channels, capacity, head (frames of the \
timeline so far), newest and oldest frame held, whether a writer holds it (and its pid), the \
timeline's generation and id, how many writers wrote it, the wall-clock time of frame 0, and the \
gap journal (the last 64 gaps: first frame, length, cause, exact or estimated, when). --json \
prints the same as one JSON object on one line, for scripts.",
        after_help = "EXIT STATUS:\n  0  shown\n  1  no ring, not a ring, a corrupt ring (the \
impossible field is named), or a ring of another layout version\n  2  usage error\n\nEXAMPLES:\n  \
vinyl-preroll info\n  vinyl-preroll info --json"
    )]
    Info(InfoOpts),
}

/// Flags of `vinyl-preroll fill`.
#[derive(Args, Debug, Clone)]
pub struct FillOpts {
    /// The ring file, usually in /dev/shm [default: /dev/shm/vinyl-ring]
    #[arg(long, value_name = "PATH", env = "VINYL_RING", default_value = super::DEFAULT_RING, hide_default_value = true)]
    pub ring: PathBuf,
    /// History the ring guarantees, e.g. 30s, 30m (a whole LP side), or frames as 1440000f, at most
    /// 24h; 10 % more (at least 2 s) is allocated as slack for readers [default: 30s]
    #[arg(long, value_name = "DURATION", default_value = "30s", hide_default_value = true)]
    pub capacity: DurationArg,
    /// Read from this FIFO instead of stdin, reopening it whenever its writer leaves; created
    /// (mode 0600) when missing. A regular file is read once [default: stdin]
    #[arg(long, value_name = "FIFO")]
    pub input: Option<PathBuf>,
    /// When live input is read: `--batch`.
    #[command(flatten)]
    pub batch: BatchArg,
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
    #[arg(long, value_name = "PATH", env = "VINYL_RING", default_value = super::DEFAULT_RING, hide_default_value = true)]
    pub ring: PathBuf,
    /// Start this long before the head (the next frame to be written): -30s, -1m30s, -48000f;
    /// 0s is live. When the ring holds less, start at its oldest frame [default: 0s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, conflicts_with = "from_frame")]
    pub from: Option<Back>,
    /// Start at this absolute frame number of the ring's timeline. Waits for it when
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
    /// Live mode, for streams and monitors: start at the newest frame; when overtaken by the
    /// writer, skip forward to live (logged and counted) instead of stopping; skip a gap longer
    /// than 1 s the same way; when the ring is replaced, follow its new timeline
    #[arg(long, conflicts_with_all = ["from", "from_frame", "until_frame", "duration", "no_follow", "wav", "timeline"])]
    pub live: bool,
    /// Write to this FIFO instead of stdout, for a reader that comes and goes and must never
    /// hold the tap back (a Snapcast server's pipe source): created (mode 0600) when missing and
    /// held open read-write, its pipe grown to 1 MiB (snapserver lets its buffer's worth wait
    /// there); while no reader takes frames for 2.5 s, the audio waiting in the pipe is drained
    /// and new frames are dropped (counted, logged), so a reader that comes back starts at the
    /// live position. Needs --live
    #[arg(long, value_name = "FIFO", requires = "live")]
    pub fifo: Option<PathBuf>,
    /// Write each packed 24-bit sample (s24_3le) in 4 bytes (24-in-32, little-endian, the top
    /// byte its sign), the layout Snapcast's pipe source reads as sampleformat RATE:24:CHANNELS;
    /// a 16-bit ring is written as it is
    #[arg(long, conflicts_with = "wav")]
    pub s24_in_32: bool,
    /// Pin the tap to this timeline (the `timeline` string of `vinyl-preroll info --json`): refused,
    /// exit 1, when the ring holds another one (it was recreated or replaced since the id was
    /// read), so a frame number is never applied to other audio
    #[arg(long, value_name = "ID")]
    pub timeline: Option<u64>,
    /// Take the end from FILE (internal, for vinyl-rec auto, whose recording must outlive it):
    /// the file holds a decimal frame number, the end (exclusive); it is read again whenever it
    /// changes (replace it atomically), and a later number may only lower the end. A missing file
    /// is no end yet
    #[arg(long, value_name = "FILE", hide = true, conflicts_with = "live")]
    pub end_file: Option<PathBuf>,
    /// Stay this far behind the head while the end is not yet reached (strict taps told their
    /// end late, as vinyl-rec auto's are): frames are written only once they are this old, so an
    /// end that arrives up to this late is still exact. Once the head reaches the end, or on
    /// SIGTERM/SIGINT/SIGHUP, the tap writes straight up to the end or the head. Must be shorter
    /// than the ring holds [default: 0s]
    #[arg(long, value_name = "DURATION", conflicts_with = "live")]
    pub hold: Option<DurationArg>,
    /// How often a tap that has caught up with the head wakes: it lets frames gather in the ring
    /// this long before copying them on (fewer wake-ups for it and for every tool downstream, for
    /// this much added latency); 0s copies each period as soon as it is published.
    #[command(flatten)]
    pub batch: crate::input::BatchArg,
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
    #[arg(long, value_name = "PATH", env = "VINYL_RING", default_value = super::DEFAULT_RING, hide_default_value = true)]
    pub ring: PathBuf,
    /// One JSON object on one line, keys: ring, version, format, rate, channels,
    /// capacity_frames, slot_frames, head, oldest_frame, newest_frame, writer_alive, writer_pid,
    /// generation, timeline, writers, gap_count, gap_frames, frame0_unix_ns, frame0_time, and
    /// gaps (the journal: an array of {first, frames, cause, exact, time})
    #[arg(long)]
    pub json: bool,
    /// Wait up to DURATION for a writer to be alive and the head to move (a ring that does not
    /// exist yet is waited for too), then print as usual; exit 1 with what was seen when it does
    /// not happen in time. What vinyl-up waits on: readiness from the ring itself
    #[arg(long, value_name = "DURATION")]
    pub wait_advancing: Option<DurationArg>,
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
