//! The flags of `vinyl-flac-rec`: the single definition behind `--help` and the man page.
//!
//! Owns parsing and the usage checks clap cannot express (a `--capture-start` that is not an RFC
//! 3339 time, a rate flacenc cannot encode); those are [`crate::cli::UsageError`]s, exit 2.

use crate::pcm::{DurationArg, PcmArgs};
use clap::Parser;
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Reads raw interleaved PCM from stdin (s16le or packed 24-bit s24_3le, any rate up to 96000 Hz, 1..8 \
channels) and writes a FLAC file frame by frame, so memory stays the same however long the recording.

The file is written as FILE.part and renamed to FILE when the recording ends: at end of input, on \
SIGTERM, SIGINT or SIGHUP, or after --max-duration. The last partial block is encoded, STREAMINFO gets the \
total length, the MD5 of the audio and the frame sizes, and the file is synced before the rename. \
Every --sync-every of audio the file is synced: a recorder killed with SIGKILL, or a power cut, leaves \
a FILE.part that decoders play up to the last complete frame, and `--recover FILE.part` turns it into \
a finished FILE (length repaired; MD5 left unset).

Tags: every --tag, then ENCODER, DATE (local time of the first sample, RFC 3339) and, when given, \
VINYL_START_FRAME, VINYL_CAPTURE_START and VINYL_PREROLL (frames), unless a --tag already set that \
key. An 8 KiB PADDING block follows, so tags can be edited later without rewriting the file. With \
--ring, a VINYL_GAPS tag listing the lost audio inside the recording is added there when it \
finishes (and its gaps are logged): at most 32 items, the largest gaps, so the padding keeps room \
for track markers and loudness tags; when it cannot list every gap (more than 32, or gaps that \
left the ring's 64-entry journal unseen), VINYL_GAPS_TOTAL=COUNT+FRAMES:exact (or :at-most) \
gives the number and total length of all of them.

FILE and FILE.part are never overwritten. FILE.part is created with mode 0600; the finished FILE \
gets 0644 less the umask. A write failure (disk full, file size limit, I/O error) stops the \
recording: the file is cut back to its last complete frame with STREAMINFO describing exactly that, \
so everything already written stays playable, and it is left as FILE.part.

Compression levels (CPU seconds per minute of 48 kHz stereo music on one core here, size against \
flac -5; flac -2 takes 0.06 s at +27 %, flac -5 0.11 s, flac -8 0.21 s at -5 %):
  0  fixed predictors, order <= 2    0.07 s  +30 %
  1  fixed predictors, order <= 4    0.08 s  +27 %  (flac -2's size; the default)
  2  LPC order 3                     0.15 s  +22 %
  3  LPC order 4                     0.17 s  +18 %
  4  LPC order 6                     0.19 s   +7 %
  5  LPC order 8                     0.21 s    0 %  (flac -5's size)
  6  LPC order 10                    0.24 s   -3 %
  7  LPC order 12                    0.28 s   -4 %
  8  LPC order 16, all stereo modes  0.60 s   -6 %";

const AFTER_HELP: &str = "\
EXIT STATUS:
  0  the recording (or the recovery) finished and FILE is complete
  1  runtime failure: FILE exists, the folder is not writable, a write failed
     (what was written stays a valid FILE.part), the input could not be read
  2  usage error: a bad flag or value

EXAMPLES:
  vinyl-preroll tap --from -30s | vinyl-flac-rec -o side-a.flac --tag ARTIST=Nina --preroll 30s
  vinyl-flac-rec --recover recordings/rec-2026-11-24T20-15.flac.part";

/// Options of `vinyl-flac-rec`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-flac-rec",
    version,
    about = "Record raw PCM from stdin to a FLAC file, streaming and crash-safe",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Opts {
    /// The FLAC file to write. It is written as FILE.part and renamed when finished; an existing
    /// FILE or FILE.part is never overwritten (exit 1). Required unless --recover is given
    #[arg(short = 'o', long = "output", value_name = "FILE", required_unless_present = "recover")]
    pub output: Option<PathBuf>,

    /// Repair a FILE.part left by a recorder that was killed (cut a torn last frame, set the
    /// length in STREAMINFO) and rename it to FILE; reads no input
    #[arg(long, value_name = "FILE.part", conflicts_with_all = ["output", "tags", "max_duration", "start_frame", "capture_start", "preroll", "ring"])]
    pub recover: Option<PathBuf>,

    /// A Vorbis comment KEY=VALUE to store (repeatable; KEY is printable ASCII without '=')
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = crate::pcm::parse_tag)]
    pub tags: Vec<(String, String)>,

    /// Compression level, 0 (fastest) to 8 (smallest); see the table above
    #[arg(long, value_name = "0..8", default_value_t = crate::flac::DEFAULT_LEVEL,
          value_parser = clap::value_parser!(u8).range(0..=8))]
    pub compression: u8,

    /// Stop after exactly this much audio (e.g. 45m, 2h, 48000f) and finish the file. Default:
    /// record until end of input or SIGTERM/SIGINT/SIGHUP
    #[arg(long, value_name = "DURATION")]
    pub max_duration: Option<DurationArg>,

    /// Sync the file to disk every this much audio (e.g. 5s, 1m, 240000f); 0 syncs only at the
    /// end
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub sync_every: DurationArg,

    /// Absolute frame number of the capture at the recording's first frame, stored as
    /// VINYL_START_FRAME (from the pre-roll ring). Default: not stored
    #[arg(long, value_name = "N")]
    pub start_frame: Option<u64>,

    /// RFC 3339 time of the capture's frame 0 (e.g. 2026-11-24T20:15:00.125+01:00), stored as
    /// given in VINYL_CAPTURE_START. Default: not stored
    #[arg(long, value_name = "TIME")]
    pub capture_start: Option<String>,

    /// How much of the recording's start is pre-roll (e.g. 30s), stored in frames as
    /// VINYL_PREROLL; also moves DATE back by that much. Default: not stored
    #[arg(long, value_name = "DURATION")]
    pub preroll: Option<DurationArg>,

    /// The ring the input is tapped from (with --start-frame): its gap journal is followed while
    /// recording, and the gaps inside the recording (lost audio present as silence) are stored
    /// at the end in a VINYL_GAPS tag, `OFFSET+FRAMES:CAUSE:exact|estimated` items separated by
    /// commas, offsets in frames from the file's first sample (the 32 largest at most; then
    /// VINYL_GAPS_TOTAL=COUNT+FRAMES:exact|at-most counts them all). Default: no VINYL_GAPS
    #[arg(long, value_name = "PATH", requires = "start_frame")]
    pub ring: Option<std::path::PathBuf>,

    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: PcmArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let o = Opts::try_parse_from([
            "r",
            "-o",
            "x.flac",
            "--tag",
            "A=b=c",
            "--compression",
            "5",
            "--preroll",
            "30s",
        ])
        .unwrap();
        assert_eq!(o.tags, [("A".to_string(), "b=c".to_string())]);
        assert_eq!(o.compression, 5);
        assert!(Opts::try_parse_from(["r", "-o", "x", "--compression", "9"]).is_err());
        assert!(Opts::try_parse_from(["r", "-o", "x", "--tag", "nokey"]).is_err());
        assert!(Opts::try_parse_from(["r"]).is_err());
        assert!(Opts::try_parse_from(["r", "--recover", "x.part"]).is_ok());
        assert!(Opts::try_parse_from(["r", "--recover", "x.part", "-o", "y"]).is_err());
    }
}
