//! The flags of `vinyl-capture`: the one definition behind `--help` and the man page.
//!
//! Owns [`Opts`] and the parsers of its frame-count flags. It checks each value on its own
//! (clap exits 2 with a message that says what is accepted); checks that need two flags together
//! (`--buffer` against `--period`) are in [`Opts::validate`], which `run` calls and which fails
//! with a [`UsageError`]. It opens nothing.

use crate::cli::UsageError;
use crate::pcm::{DurationArg, PcmArgs};
use clap::Parser;
use std::path::PathBuf;

/// Default ALSA period in frames: 1024 (21.3 ms at 48 kHz), the unit of every read.
pub const DEFAULT_PERIOD: u32 = 1024;
/// Default ALSA buffer in frames: 16384 (16 periods, 341 ms at 48 kHz), the slack the capture has
/// when the system stalls before the card overruns.
pub const DEFAULT_BUFFER: u32 = 16_384;

const AFTER_HELP: &str = "\
EXIT STATUS:
  0  the --duration was captured, or SIGTERM/SIGINT/SIGHUP stopped the capture (the last
     period is written whole), or the reader of stdout went away; --list-devices listed the
     devices
  1  the device could not be opened, does not grant the asked rate/channels/format, failed or
     vanished while capturing, stdout failed, or the ring could not be written (another writer,
     not a ring, truncated while mapped)
  2  a flag value is wrong (the message says what is accepted), or stdout is a terminal

EXAMPLES:
  Capture card 1 at 48 kHz stereo s16le (the defaults) into the ring every other tool taps:
    vinyl-capture --device hw:1,0 --ring /dev/shm/vinyl-ring --ring-capacity 30m

  Capture exactly 10 seconds of 24-bit audio to a file:
    vinyl-capture --device hw:1,0 --format s24_3le --duration 10s > side-a.raw";

const LONG_ABOUT: &str = "\
Reads interleaved PCM from an ALSA capture device and writes it to stdout as raw little-endian \
PCM with no header, in whole frames only, or (--ring) into the shared-memory ring that every \
other vinyl tool taps: the head of every vinyl pipeline.

The capture owns one timeline: output frame N is the Nth sample period since the capture (or the \
ring's timeline) began. Audio the device lost (an overrun, a suspend, or a --realtime device that \
fell more than its buffer behind because the process was stopped or starved) is written as \
digital silence of the lost length at its place, so every later frame keeps its number; the \
length is exact where the device knows it and otherwise estimated from the monotonic clock. Each \
such gap is logged with its frame, length, cause and accuracy, and with --ring journaled in the \
ring (vinyl-preroll info shows the journal). A capture that restarts on a ring of the same format \
and capacity continues its timeline: the downtime is a gap too.

The device must grant exactly the --rate, --channels and --format asked for; vinyl-capture never \
converts. A device that offers something else is refused with exit status 1, naming both values, \
because every pipe downstream carries exactly the PCM spec the tools agreed on. To let ALSA \
convert or resample, name a plug device (plughw:1,0 instead of hw:1,0).

The parameters the device granted (rate, channels, format, period, buffer) are logged once on \
stderr. An overrun (the system did not read in time and audio was lost) is recovered, counted and \
logged with the running total, the frame number at which it happened and its length; a suspended \
device is resumed; a device that vanishes or fails ends the capture with exit status 1. SIGTERM, \
SIGINT or SIGHUP finishes the current period, writes it, and exits 0. Under systemd (NOTIFY_SOCKET), READY=1 is \
sent once the first audio is read, STATUS shows the device and the overrun count, and WATCHDOG=1 \
is sent while audio flows, so a stalled device gets the service restarted.";

fn parse_frames(s: &str, what: &str, min: u32, max: u32) -> Result<u32, String> {
    let n: u32 = s.trim_end_matches('f').parse().map_err(|_| {
        format!("'{s}' is not a {what}: give a whole number of frames in {min}..{max}, e.g. 1024")
    })?;
    if !(min..=max).contains(&n) {
        return Err(format!("{n} frames is out of range for the {what}: give {min}..{max}, e.g. 1024"));
    }
    Ok(n)
}

fn parse_period(s: &str) -> Result<u32, String> {
    parse_frames(s, "period", 16, 1 << 20)
}

fn parse_buffer(s: &str) -> Result<u32, String> {
    parse_frames(s, "buffer", 32, 1 << 22)
}

/// Options of `vinyl-capture`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-capture",
    version,
    about = "Capture audio from an ALSA device to stdout as raw PCM",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Opts {
    /// The shared PCM flags: what the device must deliver and stdout carries.
    #[command(flatten)]
    pub pcm: PcmArgs,

    /// ALSA capture device: hw:1,0, hw:CARD=CODEC,DEV=0, plughw:1,0 (lets ALSA convert), default…
    #[arg(short = 'D', long, value_name = "NAME", env = "VINYL_DEVICE", default_value = "default")]
    pub device: String,

    /// ALSA period in frames, the size of every read (1024 is 21.3 ms at 48 kHz)
    #[arg(long, value_name = "FRAMES", default_value_t = DEFAULT_PERIOD, value_parser = parse_period)]
    pub period: u32,

    /// ALSA buffer in frames, at least 2 periods: how long the system may stall before audio is
    /// lost (16384 is 341 ms at 48 kHz)
    #[arg(long, value_name = "FRAMES", env = "VINYL_CAPTURE_BUFFER", default_value_t = DEFAULT_BUFFER, value_parser = parse_buffer)]
    pub buffer: u32,

    /// Stop after exactly this much audio (30s, 1m30s, 250ms, or frames: 48000f), like `arecord
    /// -s`; default: capture until SIGTERM/SIGINT/SIGHUP
    #[arg(long, value_name = "D")]
    pub duration: Option<DurationArg>,

    /// Pace reads at the nominal rate against the monotonic clock, for devices that have no
    /// clock of their own (ALSA `file`, `null`), like `ffmpeg -re`; default off (the key takes
    /// yes or no)
    #[arg(long, env = "VINYL_REALTIME", value_parser = clap::builder::BoolishValueParser::new())]
    pub realtime: bool,

    /// List the ALSA PCM devices that can capture (names for --device) on stdout, and exit
    #[arg(long)]
    pub list_devices: bool,

    /// Write the capture into this shared-memory ring instead of stdout, as its one writer and
    /// the owner of its timeline: every lost frame is silence at its place, journaled. A ring of
    /// the same format and capacity whose writer is gone continues its timeline
    /// (e.g. /dev/shm/vinyl-ring)
    #[arg(long, value_name = "PATH", env = "VINYL_RING")]
    pub ring: Option<PathBuf>,

    /// History the ring guarantees with --ring, e.g. 30s, 30m (a whole LP side); more than 0 and
    /// at most 24h (the ring lives in memory) [default: 30s]
    #[arg(
        long,
        value_name = "DURATION",
        env = "VINYL_RING_CAPACITY",
        default_value = "30s",
        hide_default_value = true,
        requires = "ring"
    )]
    pub ring_capacity: DurationArg,
}

impl Opts {
    /// Checks the flags against each other: `--buffer` holds at least two periods,
    /// `--duration` is not zero and, with `--ring`, `--ring-capacity` is more than 0 and at most
    /// 24 h. Leans towards refusing: a usage error (exit 2) says what to pass.
    pub fn validate(&self) -> Result<(), UsageError> {
        if u64::from(self.buffer) < 2 * u64::from(self.period) {
            return Err(UsageError::new(format!(
                "--buffer {} is smaller than two periods of {} frames: give --buffer {} or more",
                self.buffer,
                self.period,
                2 * u64::from(self.period)
            )));
        }
        if let Some(d) = self.duration
            && d.is_zero()
        {
            return Err(UsageError::new(
                "--duration 0 would capture nothing: give a positive duration, e.g. 30s or 48000f, \
                 or leave it out to capture until stopped",
            ));
        }
        if self.ring.is_some() {
            let frames = self.ring_capacity.frames(self.pcm.rate);
            crate::ring::layout::check_capacity(
                "--ring-capacity",
                &self.ring_capacity,
                frames,
                self.pcm.rate,
            )
            .map_err(UsageError::new)?;
        }
        if self.device.is_empty() || self.device.contains('\0') {
            return Err(UsageError::new("--device needs an ALSA device name, e.g. hw:1,0 or default"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Opts, clap::Error> {
        Opts::try_parse_from(std::iter::once("vinyl-capture").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.device, "default");
        assert_eq!((o.period, o.buffer), (1024, 16_384));
        assert_eq!(o.pcm, PcmArgs::default());
        assert!(o.duration.is_none() && !o.realtime && !o.list_devices);
        o.validate().unwrap();
    }

    #[test]
    fn frame_counts_say_what_is_accepted() {
        for bad in ["abc", "0", "8", "-1", "99999999999"] {
            let err = parse(&[&format!("--period={bad}")]).unwrap_err().to_string();
            assert!(err.contains("16..1048576"), "{bad}: {err}");
        }
        assert_eq!(parse(&["--period", "480f"]).unwrap().period, 480);
    }

    #[test]
    fn buffer_must_hold_two_periods_and_duration_must_be_positive() {
        let err = parse(&["--period", "1024", "--buffer", "1500"]).unwrap().validate().unwrap_err();
        assert!(err.0.contains("--buffer 2048"), "{err}");
        parse(&["--period", "1024", "--buffer", "2048"]).unwrap().validate().unwrap();
        let err = parse(&["--duration", "0s"]).unwrap().validate().unwrap_err();
        assert!(err.0.contains("positive"), "{err}");
        for (cap, why) in [("0s", "holds no frame"), ("99999999999h", "at most 24h"), ("25h", "at most 24h")]
        {
            let err = parse(&["--ring", "r", "--ring-capacity", cap]).unwrap().validate().unwrap_err();
            assert!(err.0.starts_with("--ring-capacity ") && err.0.contains(why), "{cap}: {err}");
        }
        parse(&["--ring", "r", "--ring-capacity", "24h"]).unwrap().validate().unwrap();
    }
}
