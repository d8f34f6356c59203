//! The flags of `vinyl-library` (clap).

use crate::pcm::{DurationArg, PcmArgs};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
The collection: a SQLite database of the user's records (albums, their sides and tracks, the \
recordings of each side, and the plays) that names recorded sides. `name` links a recording to an \
album side, creating either, and writes library-ready tags into the FLAC file: ARTIST, \
ALBUMARTIST, ALBUM, DATE, VINYL_SIDE, TITLE, a CHAPTERnnnNAME per track its markers name, and the \
cover as a PICTURE block (front cover). The audio is never re-encoded: the tags go into the padding \
in place; a cover larger than the padding has the file written again beside itself with the frames \
copied byte for byte, then renamed over it.

`name` and `learn` also learn the side's fingerprint: spectral-peak landmark pairs (about 5 a \
second, about 55 KB for a 20-minute side), kept with where the side's tracks start. `recognize` \
then tells a later play of a learned side from its first seconds, through a deck's speed error (up \
to ±2.5 %, searched; for the first 12 s only around the speed the run-outs give, when this play's \
deck speed is known, by --rpm or a FLAC's VINYL_RPM tag, and the learned recording's was, by its \
VINYL_RPM tag), another gain and other hiss and clicks: it prints one JSON line, \
{\"match\":{\"artist\",\"album\",\"side\",\"track\",\"position\",\"title\",\"offset_s\",\"speed_ratio\",\
\"confidence\",\"heard_s\"}} (offset_s: where the play's first frame is in the learned side; track and \
title: what plays after heard_s seconds), or {\"match\":null} with exit status 1. A fingerprint \
learned by an older vinyl-library (an older print version) is not compared: `check` names each \
recording that has one, and `check --repair` relearns them from their files' tags.

The database is $VINYL_LIBRARY, else library.db in the recordings folder (VINYL_RECORDINGS); it is \
created at the first use (WAL, versioned schema). A database of a newer vinyl-library, of another \
program, or a file that is not SQLite is refused and left as it is.";

const AFTER_HELP: &str = "\
EXIT STATUS:
  0  success
  1  runtime failure (the database or the file could not be read or written; check found problems;
     recognize recognised nothing)
  2  usage error (a bad name, side or cover; not a FLAC file)

EXAMPLES:
  vinyl-library name side-20261204-215037.flac --artist 'Miles Davis' --album 'Kind of Blue' \\
      --year 1959 --side A --title 'So What' --title 'Freddie Freeloader' --cover cover.jpg
  vinyl-library recognize side-20261211-203000.flac
  sox replay.wav -t raw -r 48000 -c 2 -b 16 -e signed - | vinyl-library recognize -
  vinyl-library list
  vinyl-library export --json > collection.json
  vinyl-library check";

/// Options of `vinyl-library`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-library",
    version,
    about = "The collection: name recorded sides, recognise replays, list and export the albums",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Opts {
    /// The database [default: library.db in the recordings folder]
    #[arg(long, value_name = "PATH", env = "VINYL_LIBRARY", global = true)]
    pub db: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Link a recorded side to an album side (creating either) and tag its FLAC file
    Name(NameOpts),
    /// Learn files that are already named, from their tags (artist, album, side, titles, cover)
    Learn {
        /// The FLAC files
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Recognise a replay of a learned side: prints {"match":{…}} (exit 0) or {"match":null} (exit 1)
    Recognize(RecognizeOpts),
    /// Store a release's tracklist, from a MusicBrainz (ws/2, inc=recordings) or Discogs JSON file
    ImportRelease {
        /// The release as JSON
        file: PathBuf,
    },
    /// The albums, their sides, tracks and recordings, one line each
    List,
    /// One album (its number, or words of its artist and title) with its label and format
    Show {
        /// The album's number in `list`, or words it holds ("kind of blue")
        album: String,
    },
    /// The listening history: each side the listener or vinyl-rec auto saw, recorded or not, when its needle dropped (in local time; --json: as stored, in UTC), and what it was
    Plays {
        /// Only plays that began at or after this date or time, local unless it ends in Z or
        /// ±HH:MM (2026-12-01, 2026-12-01T20:00, 2026-12-01T20:00Z)
        #[arg(long, value_name = "WHEN", value_parser = crate::time::parse_since)]
        since: Option<String>,
        /// One JSON object a line instead of text
        #[arg(long)]
        json: bool,
    },
    /// The whole collection as JSON (--json, the default) or CSV, one row per track
    Export(ExportOpts),
    /// Take a recording out of the collection (its file is left alone)
    Forget {
        /// The recording's FLAC file
        file: PathBuf,
    },
    /// Check the database, its fingerprint index, the recordings' files and their fingerprints'
    /// version; --repair relearns old fingerprints and removes empty sides and albums and gone
    /// fingerprints' pairs
    Check {
        /// Relearn, from their files' tags, the recordings whose fingerprint is of an older print
        /// version (a missing file is reported, the others relearned), remove sides with
        /// neither a recording nor a track and albums without a side, and sweep the pairs of
        /// fingerprints that are gone from the index
        #[arg(long)]
        repair: bool,
    },
}

/// Flags of `name`.
#[derive(Args, Debug, Clone)]
pub struct NameOpts {
    /// The recorded side (a FLAC file)
    pub file: PathBuf,
    /// The album's artist
    #[arg(long, value_name = "NAME")]
    pub artist: String,
    /// The album's title
    #[arg(long, value_name = "TITLE")]
    pub album: String,
    /// The release year
    #[arg(long, value_name = "YEAR", value_parser = clap::value_parser!(i32).range(1877..=9999))]
    pub year: Option<i32>,
    /// The side: A, B, C…
    #[arg(long, value_name = "SIDE", default_value = "A")]
    pub side: String,
    /// A track's title, in order (repeat for each track)
    #[arg(long, value_name = "TITLE")]
    pub title: Vec<String>,
    /// The front cover, a PNG or JPEG of at most 10 MB
    #[arg(long, value_name = "IMAGE")]
    pub cover: Option<PathBuf>,
}

/// Flags of `recognize`.
#[derive(Args, Debug, Clone)]
pub struct RecognizeOpts {
    /// The audio: a FLAC file, or - for raw PCM on stdin (with --rate, --channels, --format)
    pub input: PathBuf,
    /// Give up after this much audio without a recognition (1m30s, 45s, 2880000f)
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub within: DurationArg,
    /// The deck's speed as a run-out measured it (vinyl-listen's side_end rpm; by default a FLAC's
    /// own VINYL_RPM tag): sides learned with their run-out's rpm are searched around the speed
    /// the two give for the first 12 s, then at every speed
    #[arg(long, value_name = "RPM", value_parser = turntable_rpm)]
    pub rpm: Option<f64>,
    /// The shape of raw PCM on stdin.
    #[command(flatten)]
    pub pcm: PcmArgs,
}

/// A run-out's rpm: within 4 % of 33⅓, 45 or 78.
fn turntable_rpm(s: &str) -> Result<f64, String> {
    let rpm: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
    let ok = rpm.is_finite() && crate::library::recognize::deck_speed(rpm).is_some();
    ok.then_some(rpm).ok_or_else(|| format!("{s} rpm is not within 4 % of 33 1/3, 45 or 78"))
}

/// Flags of `export`.
#[derive(Args, Debug, Clone)]
pub struct ExportOpts {
    /// JSON: an array of albums with their sides (the default)
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV: artist, album, year, side, track, title
    #[arg(long)]
    pub csv: bool,
}
