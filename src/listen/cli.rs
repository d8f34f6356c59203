//! The flags of `vinyl-listen`: the single definition behind `--help` and the man page.
//!
//! Owns parsing and the checks clap can make alone; [`crate::listen::run`] checks the rest
//! (exit 2 for those too).

use crate::pcm::{DurationArg, PcmArgs};
use clap::Parser;
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Listens to the capture and says, as JSON lines on stdout (or --output), what the turntable is \
doing: levels every --level-every, the needle drop (side_start), each track (track_start), the end \
of the side (side_end: a locked run-out groove, with its speed; a lift; or a long silence) and a \
report of the side (side_report: tracks, EBU R128 loudness, loudness range, true peak, clipped \
samples, noise floor, clicks a minute). Every event names the timeline frame it refers to \
(\"frame\") and the frame at which it was decided (\"at\"): decisions come seconds late, but the \
pre-roll ring still holds the frames they name, so a recording can start exactly at a needle drop.

Input: the ring (--ring PATH, followed live like `vinyl-preroll tap --live`, frame numbers from \
the ring) or raw PCM on stdin (frame numbers from --first-frame).

Gaps are no information: exact digital zeros (how the ring writes every lost stretch) and frames \
the listener skipped (a live tap skips long gaps, and skips forward when overtaken) are neither \
music nor noise floor nor a lift. The analysis bridges them, as if they were not there; a \
stretch longer than --gap-limit ends a side with reason \"gap\". Only a jump back (another \
timeline) starts the analysis over.

Restarted with --ring and an --output file that already holds events (systemd's Restart=), the \
listener carries on where its predecessor stopped: it numbers sides after the last one in the \
file, replays the ring from 30 s before the open side's needle drop (or the last event), but not \
from before the side before it ended, through the analysis, and writes only what was decided \
after the last event in the file (a recognition of the open side: unless the file holds it). \
When the ring no longer holds that side's start, or it was dropped within 5 s of the side before \
it ending, the side is resumed as playing from its needle drop (or the ring's oldest frame) (and recognised from the audio the ring holds), its noise floor the quietest second heard \
since that is 15 dB under the loudest; it never starts a side in the middle of music.

Every threshold is relative: to the idle level measured before a side, to the surface noise of \
the side's own lead-in, and to the side's music level. A gap between tracks must sound like the \
lead-in's noise in every band, last 0.7-8 s and have music on both sides within 20 dB of the \
side's level, so quiet passages are not gaps. A needle dropped onto a track has no lead-in: a \
lead-in whose level moves like music starts track 1 at the drop, and the side's noise is then the \
quietest second 15 dB under the music (a gap, the run-out). A needle drop is a rise of the \
treble over the idle level; music whose treble stays under the converter's noise (dull music at \
a low gain) starts a side when the whole band is 20 dB over the idle level for 3 s (or, with \
the treble unheard, for half of 3 s with three onsets) and moves like music, from where its \
sound began. A run-out is a train of clicks one revolution apart \
(33 1/3, 45 or 78 rpm, within 4 %: a quiet passage's steady beat at another speed is music) that \
random crackle could not make; heavier crackle asks for \
more revolutions, a click that repeats exactly in time and strength for fewer. A side started before the listener is heard from its next needle drop.

--meter draws a level meter with peak hold on the terminal (stderr), for setting the preamp's gain, \
and gives gain advice at the end of each side.";

const AFTER_HELP: &str = "\
EVENTS (one JSON object a line, flushed per event; the names are a contract):
  {\"event\":\"level\",\"frame\":N,\"at\":N,\"rms_dbfs\":[L,R],\"peak_dbfs\":[L,R],\"clipped\":K}
      every --level-every; dBFS per channel (null for digital silence); clipped counts samples at
      full scale; frame is the window's first frame, at the frame after its last
  {\"event\":\"side_start\",\"frame\":N,\"at\":N,\"side\":S}   the needle touched the lead-in
  {\"event\":\"track_start\",\"frame\":N,\"at\":N,\"side\":S,\"track\":K[,\"title\":T]}
      track 1 is the first music; for K >= 2 the frame lies in the gap before the track; title:
      the learned side's title there, once the side was recognised (--library)
  {\"event\":\"recognized\",\"frame\":N,\"at\":N,\"artist\":A,\"album\":T,\"side\":\"A\",\"track\":K,
   \"title\":T|null,\"confidence\":C,\"speed_ratio\":R,\"offset_s\":X,
   \"tracks\":[{\"track\":K,\"frame\":F,\"title\":T|null},...]}
      with --library: the side whose needle drop is frame N is a learned side of the collection
      (vinyl-library); track and title are what played at N's frame; speed_ratio is this play's
      speed over the learned one's; offset_s is where N falls in the learned side; tracks: the
      learned tracks placed on this timeline (the one playing at N at frame N, then each later
      start through the fitted speed), which vinyl-rec auto fits the side's markers to
  {\"event\":\"side_end\",\"frame\":N,\"at\":N,\"side\":S,\"reason\":\"runout\"|\"lift\"|\"silence\"|\"gap\"[,\"rpm\":R]}
      runout: the frame where the locked groove began, and its measured speed; lift: where the
      stylus left the record; silence: where the music stopped, 30 s without music or run-out;
      gap: where a stretch without information longer than --gap-limit began
  {\"event\":\"side_report\",\"frame\":N,\"at\":N,\"side\":S,\"start_frame\":N,\"tracks\":K,
   \"integrated_lufs\":X,\"loudness_range_lu\":X,\"true_peak_dbtp\":X,\"peak_dbfs\":X,\"clipped\":K,
   \"noise_floor_dbfs\":X,\"clicks_per_min\":X,\"headroom_db\":X}
      after side_end, over the side's frames start_frame..frame; null where not measurable
  {\"event\":\"lift\",\"frame\":N,\"at\":N}   the stylus left a side that had already ended
  {\"event\":\"state\",\"frame\":N,\"at\":N,\"state\":\"idle\"|\"lead-in\"|\"playing\"|\"runout\",\"side\":S,\"track\":K}
      on every change and every 5 s

EXIT STATUS:
  0  end of input, or SIGTERM/SIGINT/SIGHUP; --status printed a state
  1  runtime failure: the ring or the input could not be read, --output could not be written;
     --status found no events
  2  usage error

EXAMPLES:
  vinyl-listen --ring /dev/shm/vinyl-ring
  vinyl-listen --ring /dev/shm/vinyl-ring --meter > /dev/null
  vinyl-listen < side.raw | grep -v '\"level\"'
  vinyl-listen --ring /dev/shm/vinyl-ring --output /run/vinyl/events --max-bytes 1MiB
  vinyl-listen --ring /dev/shm/vinyl-ring --library ~/recordings/library.db
  vinyl-listen --status /run/vinyl/events";

/// Options of `vinyl-listen`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-listen",
    version,
    about = "Hear the turntable: levels, loudness, needle drops, tracks and run-outs as JSON lines",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Opts {
    /// Listen to this ring (live, frame numbers from the ring) instead of stdin
    #[arg(long, value_name = "PATH", env = "VINYL_RING")]
    pub ring: Option<PathBuf>,

    /// The timeline frame of stdin's first frame
    #[arg(long, value_name = "N", default_value_t = 0, conflicts_with = "ring")]
    pub first_frame: u64,

    /// How often to write a level event (e.g. 100ms, 4800f); 0s writes none
    #[arg(long, value_name = "DURATION", default_value = "100ms")]
    pub level_every: DurationArg,

    /// Append the events to this file instead of writing them to stdout (created with mode 0644).
    /// A file deleted or replaced while the listener runs is created again or reopened within a
    /// second (logged once)
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// With --output: when the file would grow past this size, rename it to FILE.1 (replacing
    /// the previous one) and start a new FILE, so the events take at most twice this. Bytes, or
    /// a number with K, M or G (KiB, MiB, GiB)
    #[arg(long, value_name = "BYTES", env = "VINYL_EVENTS_MAX", default_value = "1MiB", value_parser = parse_bytes)]
    pub max_bytes: u64,

    /// Draw a level meter with peak hold on the terminal (stderr) and give gain advice at the
    /// end of each side
    #[arg(long)]
    pub meter: bool,

    /// The longest stretch without information that a side bridges: a journaled gap's digital
    /// silence, exact zeros, or frames the listener never saw (it was overtaken) are neither
    /// music nor noise nor a lift; longer than this, the side ends with reason "gap"
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub gap_limit: DurationArg,

    /// Recognise replays against this collection (vinyl-library's database; default: its default
    /// place, library.db in the recordings folder, once it exists): a `recognized` event after
    /// each needle drop of a learned side, and its titles on later `track_start`s. The speed the
    /// deck's last run-out measured is searched first (12 s), for sides learned with theirs.
    /// Following a ring, each side goes in the collection's listening history at its end
    /// (vinyl-library plays), recognised or not; while another writer holds the database, the
    /// note waits and is tried again every second. At a stop signal the notes still waiting get
    /// 15 s; each play left then is named in the log with its frame ("side at frame N: not in
    /// the listening history")
    #[arg(long, value_name = "DB", env = "VINYL_LIBRARY")]
    pub library: Option<PathBuf>,

    /// Read nothing: print the turntable's state, the latest levels and the last side's report
    /// from an events file another vinyl-listen writes (--output FILE), then exit (1 when it has
    /// none)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ring", "output", "meter"])]
    pub status: Option<PathBuf>,

    /// The shared PCM flags.
    #[command(flatten)]
    pub pcm: PcmArgs,
}

/// A size in bytes by the one size syntax ([`crate::size`]), at least 4 KiB.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let bytes = crate::size::parse(s)?;
    if bytes < 4096 {
        return Err(format!("'{s}' is too small: at least 4KiB, so one event always fits"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_their_units_and_tiny_ones_are_refused() {
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_bytes("64KiB"), Ok(65_536));
        assert_eq!(parse_bytes("5000"), Ok(5000));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30), "the same units as every other size");
        assert!(parse_bytes("100").unwrap_err().contains("4KiB"));
        assert!(parse_bytes("16000000000G").unwrap_err().contains("too large"));
        assert!(parse_bytes("-1MiB").unwrap_err().contains("negative"));
    }

    #[test]
    fn stdin_and_ring_flags_parse() {
        let o = Opts::try_parse_from(["l", "--first-frame", "480000", "--level-every", "0s"]).unwrap();
        assert_eq!((o.first_frame, o.level_every.frames(48_000)), (480_000, 0));
        assert!(Opts::try_parse_from(["l", "--ring", "/r", "--first-frame", "5"]).is_err());
    }
}
