//! The flags of `vinyl-qa` (clap): the input, `--reference`, `--text` and the shared PCM flags.

use crate::pcm::PcmArgs;
use clap::{ArgGroup, Parser, Subcommand};
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Measures a recorded side, or a test record's tones, and prints one JSON object (or a text summary \
with --text). The input is a FLAC file, or raw PCM on stdin (-) shaped by --rate, --channels and \
--format. Nothing is asked of the user about what the audio is: test tones are recognised by their \
content (one spectrum every half second: over 90 % of a channel's power in one peak), in \
stretches of at least 4 s; the longest of each kind is measured.

A steady tone between 2.9 and 3.4 kHz (a speed and wow-and-flutter track; the band scales with \
--reference) gives speed_error_pct against 3150 Hz (or --reference). Its instantaneous frequency \
comes from a complex demodulator: the tone is mixed down by its approximate frequency, low-passed \
by a Blackman-windowed sinc cut at 200 Hz and decimated to about 1 kHz, and the frequency is the \
phase step between successive values; the speed is its mean. Wow and flutter (tones of 7 s or \
more) are read from its deviation from that mean: wow_flutter_weighted_pct through the IEC 60386 \
/ DIN 45507 / AES6 weighting (a band-pass peaking at 4 Hz, within 0.6 dB of the standard's table \
from 0.2 to 200 Hz) as the two-sigma value (the level the deviation exceeds 5 % of the time; a \
sinusoidal deviation of peak d at 4 Hz reads 0.997 d); wow_flutter_unweighted_pct as the peak \
from 0.2 to 200 Hz (its 99.9th percentile, so a lone click does not read as flutter); wow_pct \
and flutter_pct as the unweighted two-sigma value below and above 6 Hz. A 1 kHz tone on one \
channel (the other at least 6 dB under it) gives separation_db: left_to_right (left driven, right \
listened to) and right_to_left, each the driven channel's power at the tone over the other's; \
and balance_db (left's tone minus right's, in dB) once both were measured.

Every side also gives: noise_floor_dbfs (the median level of the quietest 100 ms blocks: those \
within 3 dB of the 5th quietest, when they are at least 10 dB under the music: the lead-in and \
the gaps), music_dbfs (the RMS of the louder half of the blocks) and snr_db (music over noise), \
clicks_per_min and pops (a click: a peak of the audio's first difference 18 dB over the median \
level around it, with the signal 3 ms before and after it 10 dB lower; a pop: 30 dB over), \
clipped (samples at digital full scale, as vinyl-listen counts them), peak_dbfs, hf_rolloff_db \
(energy from 10 to 20 kHz against 1 to 4 kHz, over the music: comparable between plays of one \
record), rumble_dbfs (the level from 5 to 30 Hz, in the quiet stretches, else over the whole \
side) and gain_advice. Test tones count as neither music nor noise, and exact digital zeros (a \
journaled gap) are no information. health (0-100) starts at 100 and loses points by the rule \
under HEALTH; reasons holds one line for every point lost.

speed_drift_pct is how the deck's speed changed from the side's start to its end, in percent \
(positive: it sped up), measured against another recording of the same side that the \
collection (--db) learned (vinyl-library name or learn): six 20 s windows spread over the side \
are fingerprinted and aligned with that recording as vinyl-library recognize aligns a replay, \
and a parabola through their places on the learned side against time gives the speed at the \
start and at the end (good to about 0.02 % on a side of minutes; relative to the learned \
recording, whose own drift shows with the opposite sign). It is null for stdin, under 40 s of \
audio, without a collection (none is made), when the collection learned no other recording of \
the side (a learned file's own print is no comparison) or does not recognise it, and when the \
windows do not align; --text says which. runout_speed_pct is the deck's speed error at the \
run-out, in percent against 33 1/3, 45 or 78 rpm, from the VINYL_RPM tag vinyl-rec auto \
writes; null without it and for stdin.";

const AFTER_HELP: &str = "\
JSON:
  {\"input\",\"rate\",\"channels\",\"seconds\",\"health\",\"reasons\":[…],\"speed_error_pct\",
   \"wow_flutter_weighted_pct\",\"wow_flutter_unweighted_pct\",\"wow_pct\",\"flutter_pct\",
   \"speed_drift_pct\",\"runout_speed_pct\",\"tone_hz\",\"reference_hz\",
   \"separation_db\":{\"left_to_right\",\"right_to_left\"},\"balance_db\",\"noise_floor_dbfs\",
   \"music_dbfs\",\"snr_db\",\"clicks_per_min\",\"pops\",\"clipped\",\"peak_dbfs\",
   \"hf_rolloff_db\",\"rumble_dbfs\",\"gain_advice\":{\"headroom_db\",\"verdict\",\"text\"},
   \"tones\":[{\"kind\",\"start_s\",\"seconds\",\"frequency_hz\"}]}
  A figure that could not be measured is null (no tone: no speed; no quiet stretch: no noise
  floor; no other learned recording of the side: no drift); separation_db holds only the
  directions measured. verdict is too_low, too_high or ok.

HEALTH:
  100, less: 1 a dB of snr_db under 40 (at most 25); 1 a click a minute over 2 (at most 25);
  2 a pop (at most 10); 10 when a sample clipped; 5 for a gain too low or too high; 1 a dB of
  rumble_dbfs over -50 (at most 10); 10 a % of speed error over 0.3 % (at most 20); 100 a % of
  weighted wow and flutter over 0.1 % (at most 25); 1 a dB of separation under 20 dB (the worse
  direction, at most 15); 2 a dB of balance over 1 dB (at most 10). Never under 0; null when
  nothing could be measured (digital silence). speed_drift_pct and runout_speed_pct lose
  nothing (the drift is relative to another recording and null for most sides).

EXIT STATUS:
  0  the report was printed (a collection that cannot be read leaves speed_drift_pct null and
     is said in one line)
  1  runtime failure (the file cannot be read or decoded, stdin ended inside a frame (the report
     of the whole frames is still printed), no audio or under 1 s of it; --store: the collection
     cannot be written, or stayed locked past --store-wait (the report is still printed);
     history: no collection)
  2  usage error (a bad flag; a file that is not FLAC; --store on stdin; history: an album that
     nothing, or more than one album, matches)

EXAMPLES:
  vinyl-qa side-20261204-215037.flac
  vinyl-qa --text test-record-side-A.flac
  vinyl-qa --reference 3000 tone.flac | jq .speed_error_pct
  vinyl-qa --store side-20261204-215037.flac
  vinyl-qa --db ~/recordings/library.db side-20261204-215037.flac | jq .speed_drift_pct
  vinyl-qa history --text \"kind of blue\"
  vinyl-qa history --deck | jq -r '.trends[].text'
  vinyl-qa --plot plots side-20261204-215037.flac
  vinyl-qa history --plot health.svg \"kind of blue\"
  sox tone.wav -t raw -r 48000 -c 2 -b 16 -e signed - | vinyl-qa -";

/// Options of `vinyl-qa`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-qa",
    version,
    about = "Measure a side or a test record: speed, wow and flutter, separation, noise, clicks, health",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    subcommand_negates_reqs = true
)]
pub struct Opts {
    /// The reports the collection keeps, and what changed
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The audio: a FLAC file, or - for raw PCM on stdin (with --rate, --channels, --format)
    #[arg(required = true)]
    pub input: Option<PathBuf>,
    /// Also store the report in the collection as the FLAC file's (one a recording: it replaces
    /// the file's earlier one), for `vinyl-qa history`; vinyl-rec auto does it for each side it
    /// keeps
    #[arg(long)]
    pub store: bool,
    /// With --store, while another writer holds the collection past its 10 s busy timeout (a long
    /// learn, a repair), wait up to this much longer for it (30s, 10m), trying again, instead of
    /// failing; vinyl-rec auto waits 10m [default: 0s]
    #[arg(long, value_name = "D", requires = "store", hide_default_value = true, default_value = "0s")]
    pub store_wait: crate::pcm::DurationArg,
    /// The collection's database, read for speed_drift_pct (and written by --store) [default:
    /// library.db in the recordings folder]
    #[arg(long, value_name = "PATH", env = "VINYL_LIBRARY", global = true)]
    pub db: Option<PathBuf>,
    /// The speed tone's nominal frequency, for speed_error_pct (a tone within -8 % and +8 % of it,
    /// 2.9 to 3.4 kHz for 3150, is measured against it)
    #[arg(long, value_name = "HZ", default_value = "3150", value_parser = reference_hz)]
    pub reference: f64,
    /// A text summary instead of JSON
    #[arg(long)]
    pub text: bool,
    /// Also draw the report's plots as SVG files in DIR (made when missing): STEM-level.svg (the
    /// level each second, with the track markers), STEM-noise.svg (the noise floor's
    /// third-octave spectrum) and STEM-wow.svg (a speed tone's deviation spectrum), each when
    /// there is data for it
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// The shape of raw PCM on stdin.
    #[command(flatten)]
    pub pcm: PcmArgs,
}

/// `vinyl-qa`'s subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// The health reports the collection keeps for an album, or for every record (--deck), and
    /// the changes they show: a record's clicks or treble, the deck's stylus, speed, wow and drift
    #[command(group(ArgGroup::new("scope").required(true).args(["album", "deck"])))]
    History {
        /// The album: its number in vinyl-library list, or words of its artist and title
        album: Option<String>,
        /// Every record's reports, and the changes that are the deck's (most records moved)
        #[arg(long)]
        deck: bool,
        /// A text summary instead of JSON
        #[arg(long)]
        text: bool,
        /// Also draw the health of each side over its reports as an SVG file
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
    },
}

/// A reference frequency: a number from 2,000 to 5,000 Hz.
fn reference_hz(s: &str) -> Result<f64, String> {
    let hz: f64 =
        s.trim().parse().map_err(|_| format!("'{s}' is not a frequency: give Hz, e.g. 3150 or 3000"))?;
    if !(2000.0..=5000.0).contains(&hz) {
        return Err(format!("{s} Hz is out of range: give 2000..5000, e.g. 3150 or 3000"));
    }
    Ok(hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_is_a_frequency_in_range() {
        assert_eq!(reference_hz("3000"), Ok(3000.0));
        assert!(reference_hz("x").unwrap_err().contains("not a frequency"));
        assert!(reference_hz("100").unwrap_err().contains("out of range"));
        assert!(reference_hz("NaN").is_err());
    }
}
