//! The flags of `vinyl-tee`: the one definition behind `--help` and its man page.
//!
//! Owns parsing and the checks clap can make alone (durations, the octal mode, the error policy,
//! at least one output). Checks that need the file system (what each OUTPUT is) are made by
//! [`crate::tee::run`], which exits 2 for those too.

use crate::input::BatchArg;
use crate::pcm::{DurationArg, PcmArgs};
use clap::{Parser, ValueEnum};
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Copies raw PCM from stdin to every OUTPUT without ever waiting for one of them, so a stalled or \
missing reader can never slow the capture down.

Each OUTPUT is a FIFO (created with --mode if the path does not exist; opened without blocking; \
retried every 100 ms while it has no reader), a regular file (appended to) or a character device. \
A symbolic link is refused, never followed. A missing path under /dev (other than /dev/shm) is \
refused rather than created: it is most likely a mistyped device name. \
Every output has its own bounded queue (--queue). When a reader cannot keep up and its queue is \
full, the OLDEST queued frames are dropped for that output only, in whole frames, and counted, so \
the reader resumes close to the live position. A frame cut by a partial pipe write is completed \
before anything else goes to that output: readers always stay frame-aligned. A FIFO whose reader \
leaves is closed (its backlog discarded) and reopened when a reader returns, which then receives \
the live stream, not a stale backlog.

Input that arrives at its real rate is passed on in batches (--batch: one wake-up of the tee and \
its readers per batch instead of one per capture period; the default 200ms costs about 0.05 % of a \
core with three readers at 48 kHz stereo, against 0.2-0.3 % with 0s); input that arrives faster is \
never held back. From a pipe the frames are duplicated into output pipes with tee(2), from a file with \
splice(2), without copying them.

At the end of input (or on SIGTERM/SIGINT/SIGHUP) the queues are delivered to readers still present for \
at most --drain-timeout, then the tool exits. Input that ends mid-frame is reported and the partial \
frame is not passed on. SIGUSR1 prints one line of counters per output (bytes delivered, frames \
dropped, reconnects, state, and the frames a FIFO missed while it had no reader); the same lines are \
printed at exit.";

const AFTER_HELP: &str = "\
EXIT STATUS:
  0  end of input or SIGTERM/SIGINT/SIGHUP, after the drain (also when no output ever had a reader, and
     when the only output left was a stdout whose reader left)
  1  an output failed under --output-error exit, an output failed under --output-error warn
     (reported at the end), stdin could not be read, or an output could not be set up
  2  usage error: bad flag value, no OUTPUT, an OUTPUT that is a directory, socket, block device or
     symbolic link, or a missing OUTPUT under /dev

EXAMPLES:
  vinyl-preroll tap --live | vinyl-tee /run/vinyl/monitor.fifo /run/vinyl/analyser.fifo
  vinyl-preroll tap --live | vinyl-tee --stdout --batch 20ms /run/vinyl/monitor.fifo | aplay -f S16_LE -r 48000 -c 2";

/// What to do when writing to an output fails with an error other than "reader gone".
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputErrorPolicy {
    /// Report the error once, close that output and keep the others going; exit 1 at the end.
    #[default]
    Warn,
    /// Report the error and exit 1 at once.
    Exit,
}

/// Options of `vinyl-tee`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-tee",
    version,
    about = "Fan raw PCM from stdin out to FIFOs and files without ever blocking the input",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Opts {
    /// Also write to stdout. Once stdout's reader leaves it cannot be reopened: that output is
    /// closed and the others go on. Default: off
    #[arg(long)]
    pub stdout: bool,

    /// Longest backlog kept for an output whose reader is slow, as audio time (e.g. 2s, 500ms) or
    /// frames (96000f), on top of the pipe's own buffer. Beyond it the oldest frames are dropped.
    #[arg(long, value_name = "DURATION", env = "VINYL_TEE_QUEUE", default_value = "2s")]
    pub queue: DurationArg,

    /// Permission bits, in octal, of FIFOs this tool creates for OUTPUT paths that do not exist
    /// (existing files keep theirs)
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = parse_mode)]
    pub mode: u32,

    /// What a write error other than "reader gone" does (disk full, I/O error): warn = report once,
    /// close that output, keep the others, exit 1 at the end; exit = exit 1 at once
    #[arg(long, value_name = "POLICY", value_enum, default_value = "warn")]
    pub output_error: OutputErrorPolicy,

    /// Longest wait, at the end of input or on SIGTERM/SIGINT/SIGHUP, for readers still present to take
    /// their queued frames (wall-clock time; a frame count is read at --rate)
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub drain_timeout: DurationArg,

    /// When live input is read: `--batch` (formerly `--coalesce`, still accepted).
    #[command(flatten)]
    pub batch: BatchArg,

    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: PcmArgs,

    /// Where to copy stdin: FIFOs (created if missing), regular files (appended to) or character
    /// devices. At least one OUTPUT, or --stdout.
    #[arg(value_name = "OUTPUT", required_unless_present = "stdout")]
    pub outputs: Vec<PathBuf>,
}

/// Parses a permission mode in octal (`600`, `0600`, `0o600`), at most `0777`.
fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| format!("'{s}' is not an octal mode: give permission bits like 0600 or 0640"))?;
    if digits.is_empty() || mode > 0o777 {
        return Err(format!("'{s}' is not a permission mode: give 0000..0777, e.g. 0600 or 0640"));
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_in_octal() {
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0640"), Ok(0o640));
        assert_eq!(parse_mode("0o644"), Ok(0o644));
        for bad in ["", "8", "0o", "1000", "rw", "-1"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn batch_is_the_flag_and_coalesce_a_hidden_alias() {
        let opts = Opts::try_parse_from(["vinyl-tee", "--stdout", "--coalesce", "20ms"]).unwrap();
        assert_eq!(opts.batch.batch, DurationArg::Millis(20));
        let opts = Opts::try_parse_from(["vinyl-tee", "--stdout", "--batch", "0s"]).unwrap();
        assert!(opts.batch.batch.is_zero());
        let mut cmd = <Opts as clap::CommandFactory>::command();
        assert!(!cmd.render_long_help().to_string().contains("coalesce"));
    }

    #[test]
    fn stdout_alone_is_an_output() {
        let opts = Opts::try_parse_from(["vinyl-tee", "--stdout"]).unwrap();
        assert!(opts.outputs.is_empty());
        assert!(Opts::try_parse_from(["vinyl-tee"]).is_err());
    }
}
