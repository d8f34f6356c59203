//! The flags of `vinyl-rec` and its subcommands, the single source of `--help`, the man pages
//! and the completions, and the recording flags the controllers share ([`ControllerArgs`]). Values are taken as written and checked by [`super::check`], so every
//! refusal says `vinyl-rec: --flag: …` and exits 2, and the defaults from the configuration
//! (`VINYL_PREROLL`, `VINYL_RECORDINGS`…) pass the same checks as the flags.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Records from the shared-memory pre-roll ring that vinyl-capture --ring writes (see vinyl(7)), so \
a recording started now begins in the past: by default 30 seconds before the command. Frame \
numbers are the ring's one timeline: the first sample of a recording is the frame its \
VINYL_START_FRAME tag names, and audio lost during it is silence listed in its VINYL_GAPS tag.

`start` reads the ring's header, computes the start frame exactly, START = max(oldest frame, \
head - pre-roll in frames), and runs `vinyl-preroll tap --timeline ID --from-frame START | \
vinyl-flac-rec -o PATH --start-frame START --ring RING --capture-start T --preroll Nf …` in the \
background (the tap pinned to the ring's timeline, so a start frame is never applied to another \
timeline's audio), in its own session, \
with stdin from /dev/null and its log in the run folder. The format, rate and channels are the \
ring's. It prints the recording's path and returns at once. The file is written as PATH.part \
and renamed to PATH when the recording stops. `stop` ends the tap at a frame boundary, so the \
recorder sees the end of its input and finalises the file; it prints the path, the duration, and \
one line for each gap in the file. `list` shows each recording's duration, with its gaps when it \
has any, its tracks and loudness. `snapshot` saves the last minutes of the ring as a finished \
file, with or without a running recording. `tracks` prints or sets a recording's track markers \
(a FLAC CUESHEET and CHAPTER comments, written in place) and `split` cuts it into one file per \
track.

The two tools are looked up next to vinyl-rec first, then on PATH.";

/// The exit statuses, in both the short and the long help (a macro, so `concat!` can join it).
macro_rules! exit_status {
    () => {
        "\
EXIT STATUS:
  0  success
  1  runtime failure: no ring or no writer, a recording already running (start),
     none running (stop), a recorder that failed, a name that exists, a file that
     cannot be read or written (tracks, split), markers that do not fit the padding
  2  usage error: an unknown argument, a bad duration, name, tag or marker, a
     malformed configuration, no run folder
"
    };
}

const AFTER_HELP: &str =
    concat!(exit_status!(), "\nSee vinyl-rec --help for the environment, the files and examples.");

const AFTER_LONG_HELP: &str = concat!(
    "\
ENVIRONMENT:
Variables set in the environment win over the configuration file; an empty one counts as unset.
  VINYL_CONFIG            the configuration file (KEY=value lines, see vinyl-up(1));
                          default /etc/vinyl/vinyl.conf when it exists
  VINYL_RING              the ring (default /dev/shm/vinyl-ring)
  VINYL_RECORDINGS        the recordings folder (default ~/recordings)
  VINYL_PREROLL           the default pre-roll (default 30s)
  VINYL_COMPRESSION       FLAC compression level 0..8 passed to vinyl-flac-rec
  VINYL_RUN_DIR           the run folder (see FILES)
  XDG_RUNTIME_DIR         the run folder is $XDG_RUNTIME_DIR/vinyl when VINYL_RUN_DIR is unset
                          and the user is not root
  VINYL_REC_SYSTEMD       when 1, the recording runs as the systemd unit
                          vinyl-flac-rec@NAME.service instead of a background process (its
                          output then goes to the journal)
  VINYL_USER              the user that unit runs as (default vinyl): when root starts it, the
                          state and the month folder are given to that user
  VINYL_REC_STOP_TIMEOUT  seconds stop waits for the recorder to finish (default 120)
  VINYL_AUTO_START_MARGIN, VINYL_AUTO_END_MARGIN
                          auto: recorded before the needle drop (1s) and after the end (2s)
  VINYL_AUTO_MAX_SIDE     auto: the longest side (40m)
  VINYL_AUTO_MIN_SIDE     auto: a shorter side is not kept (60s)
  VINYL_AUTO_MIN_FREE     auto: free space to keep on the recordings' file system (500MiB)
  VINYL_AUTO_HOLD         auto: how far the side's tap stays behind the head until the side's
                          end is known (45s; shorter than the ring less the start margin)
  VINYL_TITLE_TEMPLATE    auto: the stream's title at each track ('Side {side} · Track {track}')
  VINYL_AUTO_NAME         auto: where a recognised side's file goes in the recordings folder
                          ('{month}/{artist} - {album} - {side} - {stamp}'; keep: not moved)
  VINYL_ON_EVENT          auto: a program given each event as JSON on stdin; its first line
                          of output becomes the title
  VINYL_ON_EVENT_TIMEOUT  auto: the hook is killed after this long (5s)
  VINYL_AUTO_HEALTH       auto: each kept side gets a health report in the collection, by
                          vinyl-qa --store in the background (yes; no: none)

",
    exit_status!(),
    "
FILES:
The run folder RUN is $VINYL_RUN_DIR, else /run/vinyl for root, else $XDG_RUNTIME_DIR/vinyl, else \
/run/vinyl when the user owns it (the systemd units' user); vinyl-up and vinyl-down use the same \
rule. It is created with mode 0700.
  RUN/rec/           the running recording: its path, start frame, rate, ring, start time,
                     the PIDs of the runner and the tap, the children's exit statuses, its log
  RUN/rec.lock/      held while start or stop changes the state
  RUN/last-rec.log   the log of the last recording (the tap's and the recorder's messages);
                     for a side auto named and moved, its last line says where the file went
  RUN/events         auto: the events vinyl-listen --output writes
  RUN/title          auto: the encoder's metadata FIFO (vinyl-mp3-icecast --metadata-fifo)
A state left by a recorder that died is cleaned up by the next start, which names the unfinished \
.part file; repair it with vinyl-flac-rec --recover FILE.part. Recordings go to \
DIR/YYYY-MM/NAME.flac and are never overwritten.

EXAMPLES:
Record a side, starting 30 seconds before the needle dropped:
  $ vinyl-rec start --name kind-of-blue-a --tag TITLE=\"Kind of Blue, side A\"
  /var/lib/vinyl/recordings/2026-11/kind-of-blue-a.flac
  $ vinyl-rec stop
  /var/lib/vinyl/recordings/2026-11/kind-of-blue-a.flac
  22m41.250s (65346000 frames)
Forgot to start it? Keep the last 23 minutes from the ring:
  $ vinyl-rec snapshot --last 23m --name side-b
Mark the tracks of side A (in place), then cut it into one file per track:
  $ vinyl-rec tracks /var/lib/vinyl/recordings/2026-11/kind-of-blue-a.flac --set 0,9:22,15:50
  $ vinyl-rec split /var/lib/vinyl/recordings/2026-11/kind-of-blue-a.flac --into ~/music/kind-of-blue"
);

/// Options of `vinyl-rec`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-rec",
    version,
    about = "Start, stop, list and snapshot recordings from the pre-roll ring; mark and split tracks",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP,
    propagate_version = true,
    args_override_self = true
)]
pub struct Opts {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Start a recording that begins the pre-roll before now
    #[command(
        long_about = "Start a recording in the background and print its path. It begins the \
pre-roll before now: START = max(oldest frame, head - pre-roll). When the ring holds less than \
the pre-roll asked for, the recording starts at the oldest frame and a warning says how far back \
that is. Only one recording runs at a time: a second start exits 1 and names the running one. \
A state left by a recorder that died is reported and cleaned up first.",
        after_help = "EXIT STATUS:\n  0  started\n  1  no ring, no writer, already recording, \
the name exists, the recorder did not start\n  2  usage error\n\nEXAMPLES:\n  vinyl-rec start \
--name side-a --tag TITLE=\"Kind of Blue\"\n  vinyl-rec start --preroll 1m"
    )]
    Start(StartOpts),
    /// Stop the recording and finalise its file
    #[command(
        long_about = "Send SIGTERM to the tap, which ends at a frame boundary; the recorder sees \
the end of its input and finalises the file. Waits until the recorder has exited (at most \
VINYL_REC_STOP_TIMEOUT seconds, default 120), then prints the path and, on a second line, the \
duration from the file's sample count, as 12m03.250s (34716000 frames).",
        after_help = "EXIT STATUS:\n  0  stopped and finalised\n  1  not recording, the \
recorder failed or is still finishing\n  2  usage error\n\nEXAMPLES:\n  vinyl-rec stop"
    )]
    Stop,
    /// Say whether a recording runs, and how long and large it is so far
    #[command(
        long_about = "Say whether a recording is running and, if so, its path, start time and \
frame, the duration so far (the ring's head minus the start frame) and the size of the file so \
far. A recording that ended on its own (disk full, recorder failure) is reported with its log.",
        after_help = "EXIT STATUS:\n  0  reported\n  2  usage error\n\nEXAMPLES:\n  vinyl-rec status"
    )]
    Status,
    /// List the finished recordings: path, duration, size, date, title, tracks, loudness
    #[command(
        long_about = "Print a header and one line per .flac file under the recordings folder \
(recursively, sorted by path), tab-separated: path, duration, size, date of the last change, \
the TITLE tag, the number of track markers (0 for none, see tracks) and the integrated loudness \
in LUFS (the VINYL_LUFS tag; empty when the recording was not measured). Unfinished .part files are not listed; a file whose header cannot be read shows \
'? (unreadable)'.",
        after_help = "EXIT STATUS:\n  0  listed\n  1  no such folder\n  2  usage \
error\n\nEXAMPLES:\n  vinyl-rec list\n  vinyl-rec list --dir /srv/archive"
    )]
    List(ListOpts),
    /// Save the last D of the ring as a finished file
    #[command(
        long_about = "Save the last D of the ring as a finished FLAC file, without a running \
recording: vinyl-preroll tap --from-frame head-D --duration D, piped into vinyl-flac-rec. Works \
while a recording runs, and after the ring's writer stopped. Prints the path and the duration. \
When the ring holds less, the snapshot is the whole ring and a warning says how long.",
        after_help = "EXIT STATUS:\n  0  saved\n  1  no ring, an empty ring, the name exists, \
a tool failed\n  2  usage error\n\nEXAMPLES:\n  vinyl-rec snapshot --last 22m --name side-b"
    )]
    Snapshot(SnapshotOpts),
    /// Print a recording's track markers, or replace them in place
    #[command(
        long_about = "Print the track markers of a finished recording, one tab-separated row \
per track under a header: number, start time (M:SS.mmm, H:MM:SS.mmm from an hour), start frame \
(sample per channel from the file's first sample) and length. They are read from the file's \
CUESHEET block, else from its CHAPTERnnn comments. With --set, they are replaced first, in place: \
a native FLAC CUESHEET block (not a CD's: offsets in samples, one index point a track, the \
lead-out numbered 255 at the file's length; metaflac --export-cuesheet-to=- prints it) and \
CHAPTER001=HH:MM:SS.mmm, CHAPTER001NAME=Track 1, ... comments for players that read chapters \
(a track number whose name the file already has, as vinyl-library name writes it, keeps it). \
They are written into the PADDING the recorder reserved: the audio is never moved or rewritten, \
and when they do not fit, nothing is written.",
        after_help = "EXIT STATUS:\n  0  printed (and set)\n  1  the file cannot be read or \
written, its padding is too small\n  2  usage error: a malformed --set, markers out of order \
or past the end of the file\n\nJSON OUTPUT:\nWith --json, one object on one line: path, rate \
(Hz), frames (the file's length), source (cuesheet, chapters or none) and tracks, an array of \
objects with number, start_frame, start (as printed) and frames (the length).\n\nEXAMPLES:\n  vinyl-rec \
tracks side-a.flac\n  vinyl-rec tracks side-a.flac --set 0,3:12.5,7:40\n  vinyl-rec tracks \
side-a.flac --set 0,9240000f --json"
    )]
    Tracks(TracksOpts),
    /// Write one FLAC file per track of a recording
    #[command(
        long_about = "Cut a recording with track markers (see tracks) into one FLAC file per \
track, DIR/STEM-01.flac, DIR/STEM-02.flac, ... (STEM: the file's name without .flac), and print \
their paths. The parts are bit-exact: decoded and joined, they give exactly the recording's \
samples (checked against its STREAMINFO MD5). Each keeps the recording's comments, with \
TRACKNUMBER and TRACKTOTAL set, no CHAPTER comments, VINYL_START_FRAME and VINYL_GAPS made true \
for the part (a VINYL_GAPS_TOTAL becomes an at-most bound for it), and the recording's REPLAYGAIN_TRACK_GAIN/PEAK as REPLAYGAIN_ALBUM_GAIN/PEAK (a \
side's gain is that of its tracks as a set). Nothing is overwritten: an existing part is refused \
before anything is written, and a failure removes the parts written so far. The recording is \
decoded block by block, so memory stays small whatever its length. A part's TITLE is its \
track's CHAPTERnnnNAME when the recording names it (not a Track N placeholder), and the recording's cover (PICTURE) is \
copied into every part. With --library, the parts are named for music libraries (beets, \
Navidrome, Jellyfin): DIR/Artist/Album (Year)/A1 Title.flac, from the tags vinyl-library name \
writes (ALBUMARTIST or ARTIST, ALBUM, DATE, VINYL_SIDE, CHAPTERnnnNAME; '/' and control \
characters in a name become _); a recording without ARTIST and ALBUM is refused.",
        after_help = "EXIT STATUS:\n  0  split\n  1  no markers, a part exists already, the \
file cannot be read, a part cannot be written, --library without ARTIST and ALBUM tags\n  2  \
usage error\n\nEXAMPLES:\n  vinyl-rec split side-a.flac\n  vinyl-rec split side-a.flac --into \
~/music/kind-of-blue\n  vinyl-rec split side-a.flac --into ~/music --library"
    )]
    Split(SplitOpts),
    /// Record every side hands-free, following vinyl-listen's events (long-running)
    #[command(
        long_about = "Follow vinyl-listen's events (RUN/events, which vinyl-up's listen component \
writes) and record every side as one FLAC file, DIR/YYYY-MM/side-YYYYMMDD-HHMMSS.flac, named after \
the time of its first frame. It runs in the foreground until SIGTERM, SIGINT or SIGHUP; vinyl-up \
starts it when VINYL_AUTO_RECORD=yes, and the unit vinyl-rec-auto.service runs it under systemd \
(READY and WATCHDOG are sent when NOTIFY_SOCKET is set).

A side starts at its side_start frame minus VINYL_AUTO_START_MARGIN (1s): the ring still holds \
those frames, so the start is exact although the event comes seconds after the needle drop. It \
ends at its side_end frame plus VINYL_AUTO_END_MARGIN (2s), exactly, a lift's too (a quiet fade \
under the noise can read as a lift; after a real one the margin is the converter's floor): the tap is told its end frame through the file RUN/rec/end, and stays \
VINYL_AUTO_HOLD (45s) behind the ring's head until then, so an end the listener decides up to that \
late is still exact at real time (a file that went past a later end is cut back to it when it is \
finalised, and that is logged). The recording is the same tap | vinyl-flac-rec pipeline and state folder (RUN/rec) as \
start, and outlives auto: a restarted auto (after SIGKILL) takes over a recording a killed one \
left, catches up on the events since its needle drop, and ends and finalises it as usual (a \
side recognised then has the parts recorded before that one named too); when \
its recorder ended too, it finishes the file (a .part is recovered). An auto that was down as a \
side began (its side_start came while no auto ran) records that side whole when the ring still \
holds it from its start margin and the listener's last event is within 30 s of the head; \
otherwise the side is only noted in the history. While auto records, start \
refuses a second recording, and stop ends auto's recording early (the file is kept and \
finalised). While a manual recording runs, auto records nothing and says so once per side.

Events are facts to check: an event with a bad field (a frame that is not a non-negative \
integer, a side or track under 1, an unknown reason, an rpm that is not a positive number) is not \
acted on, counted and logged once per kind; a side_start of the side being recorded, or before \
its needle drop, is ignored (logged once); a side_start of a new side ends the side being \
recorded at that frame.

At the end of a side, the file gets its track markers (a CUESHEET and CHAPTERnnn comments; track 1 \
at the file's first sample, each later track at its track_start frame), VINYL_RPM from the \
run-out, and the loudness tags of the side_report (REPLAYGAIN_TRACK_GAIN/PEAK against -18 LUFS, \
VINYL_LUFS, VINYL_TRUE_PEAK, VINYL_NOISE_FLOOR, VINYL_CLICKS_PER_MIN, VINYL_CLIPPED). Every file \
also carries VINYL_AUTO=1 and VINYL_SIDE_START_FRAME (the needle drop), besides what every \
recording carries (VINYL_START_FRAME: the file's first frame).

Guards, each logged once with what to do: a side is ended at VINYL_AUTO_MAX_SIDE (40m); a side \
is not started, or is ended where its held tap is (the file kept), when the recordings' file system has \
less than VINYL_AUTO_MIN_FREE (500MiB) free; a recordings folder deleted while a side records is \
noticed within a second, and the side is recorded again from the ring into the folder made anew. \
Only a side that the record itself ended (runout, lift, silence), with no gap or failure in it, \
and shorter than VINYL_AUTO_MIN_SIDE (60s) is removed; every other file is kept. A side dropped \
within 10 s of a lift, or before a lift the listener placed after the drop, is the same side (a groove under the converter's own noise reads its gaps \
as lifts): when the lifted side was removed as short, it is recorded again, from its needle drop, \
in one file with the new one (a cue lifted and dropped again leaves those seconds at the file's \
start); when it was kept, the new file continues it from its last frame (VINYL_PART, \
VINYL_CONTINUES) and is never removed as short. An auto restarted between the lift and that drop \
joins them too: the lifted side is kept in RUN/auto.lifted, for the ring's timeline it was heard on.

Every kept file says why it ends in VINYL_END_REASON, one of: runout, lift, silence, gap (the \
listener's reasons), next-side, max-side, disk, stop (auto stopped), user-stop (vinyl-rec stop), \
lost (the tap was overtaken: VINYL_LOST=FIRST+FRAMES lists the timeline frames lost), tap-failed, \
recorder-failed, folder-deleted. After lost or tap-failed, the rest of the side is recorded from \
this file's end, or the oldest frame the ring still holds, into a next file tagged VINYL_PART=N and \
VINYL_CONTINUES=the previous file's name.

History: every side the listener announces while auto runs is a play in the collection \
(vinyl-library plays): from its needle drop to its end, with its file when one was kept, and its \
album side when recognised. A side too short to keep, one whose recorder left no file, and one \
not recorded at all (a manual recording ran, the space was short) are plays without a recording. \
A side playing when auto starts, neither taken over nor recorded from the ring, is noted at its end. The parts of a side, and \
a side taken over after a restart, are one play; sides that began and ended while no auto ran \
are not in the history. While another writer holds the collection, a note waits and is tried \
again every second (said once); at auto's stop the notes still waiting get 15 s, and each play \
left then is named in the log with its frame.

Titles: at each track_start, the stream's title becomes VINYL_TITLE_TEMPLATE (default 'Side \
{side} · Track {track}', the side counted since auto started), or 'Artist – Title' once the \
listener recognised the side (its recognized event, and the title its track_start carries), \
written as a line to the encoder's metadata FIFO (RUN/title, vinyl-mp3-icecast --metadata-fifo; no reader is not an \
error), and the title now (auto's or the hook's) again every 5 s, so an encoder started or \
restarted after it gets it within 5 s (while auto runs, a title written there by hand lasts until \
then). Hook: VINYL_ON_EVENT=/path/to/program is run for each event but level and state, with \
the event's JSON line on stdin; the first line it prints, if any, becomes the title. It runs in \
a thread of its own, off the audio path, and is killed after VINYL_ON_EVENT_TIMEOUT (5s); its \
failures are logged once per kind and ignored.

Named sides: a side the listener recognised (its recognized event) gets one marker per learned \
track it holds: at the listener's track_start nearest the learned boundary (within 4 s plus 0.3 % \
of its distance from the drop), else at the boundary mapped through the fitted speed, listed in \
VINYL_MARKERS_ESTIMATED; markers where the tracklist has none are dropped. It is named at its end \
as vinyl-library name does it (ARTIST, ALBUMARTIST, ALBUM, DATE, VINYL_SIDE, TITLE, a \
CHAPTERnnnNAME per marker from its learned track, the album's cover), linked to the album side in the collection, noted in the history as recognised, and moved \
to VINYL_AUTO_NAME in the recordings folder (fields {artist} {album} {year} {side} {month} \
{stamp}; what a file name cannot hold is replaced by _, a taken name gets -2; keep: not moved). \
Every part of a side in parts is named where it is, with the titles of the tracks it holds, and \
not moved, so VINYL_CONTINUES (the part before's file name) stays true. It is not learned again. A failure is logged and leaves the file as it was.",
        after_help = "EXIT STATUS:\n  0  stopped by a signal (a side in progress finalised)\n  1  \
the run folder cannot be made\n  2  usage error: a malformed VINYL_AUTO_* or VINYL_ON_EVENT_TIMEOUT \
value or VINYL_AUTO_NAME template, or keys that cannot work together (MAX_SIDE 0 or under MIN_SIDE, a start margin or hold \
the ring cannot hold, a 0 hook timeout), named\n\nEXAMPLES:\n  vinyl-rec auto --check\n  vinyl-rec auto\n  VINYL_ON_EVENT=/usr/local/bin/recognise vinyl-rec auto"
    )]
    Auto(AutoOpts),
    /// Check the configuration (every VINYL_* key), or print its values
    #[command(
        long_about = "Check every VINYL_* value of the configuration file and the environment \
(the environment wins) before anything starts, and print KEY=value for each key that is set. A \
value that becomes a tool's flag is checked by that tool's own parser, so it is refused here \
exactly when the tool would refuse it; durations and sizes have one syntax everywhere (see \
vinyl-up(1)). The capture's command line, as vinyl-up builds it, is checked whole. A bad value \
is reported on one line, naming the key, the value, where it came from and what is accepted, \
with exit status 2; a key the file sets that no tool reads is a warning. vinyl-up runs \
vinyl-rec config --check before it starts anything.",
        after_help = "EXIT STATUS:\n  0  every value is good\n  2  a value is wrong, a key \
is missing (VINYL_DEVICE), or two keys disagree (VINYL_PREROLL longer than \
VINYL_RING_CAPACITY)\n\nEXAMPLES:\n  vinyl-rec config --check\n  VINYL_CONFIG=./test.conf \
vinyl-rec config"
    )]
    Config(ConfigOpts),
    /// The background half of start (internal): runs tap | recorder for the state folder STATE
    #[command(name = "_run", hide = true)]
    Run(RunOpts),
}

/// The flags `start` and `snapshot` share.
#[derive(Args, Debug, Clone, Default)]
pub struct RecordArgs {
    /// The file name, without .flac [default: rec-YYYYMMDD-HHMMSS, snapshots snap-YYYYMMDD-HHMMSS].
    /// A name that is empty, starts with - or ., contains / or .., control characters, or is too
    /// long for a file name (NAME.flac.part over 255 bytes) is refused (exit 2). An existing
    /// recording of the same name is never overwritten (exit 1)
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    pub name: Option<String>,
    /// A Vorbis comment, repeatable: --tag TITLE="Kind of Blue" --tag ARTIST="Miles Davis". The
    /// recorder adds VINYL_START_FRAME, VINYL_CAPTURE_START and VINYL_PREROLL itself
    #[arg(long = "tag", value_name = "KEY=VALUE", allow_hyphen_values = true)]
    pub tags: Vec<String>,
    /// The recordings folder; recordings go to DIR/YYYY-MM/NAME.flac [default: $VINYL_RECORDINGS,
    /// or ~/recordings]
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    pub dir: Option<PathBuf>,
    /// The ring [default: $VINYL_RING, or /dev/shm/vinyl-ring]
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub ring: Option<PathBuf>,
}

/// The flags of the long-running tools that start recordings and follow the listener's events
/// (`vinyl-web`, `vinyl-mqtt`); flatten into their options. [`super::Settings::for_controller`]
/// resolves them over the configuration.
#[derive(Args, Debug, Clone, Default)]
pub struct ControllerArgs {
    /// The listener's events file (JSON lines), followed from its end
    /// [default: $VINYL_EVENTS, or RUN/events]
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,
    /// The ring [default: $VINYL_RING, or /dev/shm/vinyl-ring]
    #[arg(long, value_name = "PATH")]
    pub ring: Option<PathBuf>,
    /// The recordings folder [default: $VINYL_RECORDINGS, or ~/recordings]
    #[arg(long, value_name = "DIR")]
    pub recordings: Option<PathBuf>,
}

/// Flags of `vinyl-rec start`.
#[derive(Args, Debug, Clone, Default)]
pub struct StartOpts {
    /// How far before now the recording starts: 30s, 1m30s, 250ms, or frames as 48000f
    /// [default: $VINYL_PREROLL, or 30s]
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub preroll: Option<String>,
    /// The flags shared with snapshot.
    #[command(flatten)]
    pub record: RecordArgs,
}

/// Flags of `vinyl-rec snapshot`.
#[derive(Args, Debug, Clone, Default)]
pub struct SnapshotOpts {
    /// The length of the snapshot, e.g. 25m (a whole side), 30s, or frames as 48000f
    #[arg(long, value_name = "D", required = true, allow_hyphen_values = true)]
    pub last: String,
    /// The flags shared with start.
    #[command(flatten)]
    pub record: RecordArgs,
}

/// Flags of `vinyl-rec config`.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigOpts {
    /// Only check: print nothing when every value is good
    #[arg(long)]
    pub check: bool,
}

/// Flags of `vinyl-rec list`.
#[derive(Args, Debug, Clone, Default)]
pub struct ListOpts {
    /// The recordings folder [default: $VINYL_RECORDINGS, or ~/recordings]
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    pub dir: Option<PathBuf>,
}

/// Flags of `vinyl-rec tracks`.
#[derive(Args, Debug, Clone)]
pub struct TracksOpts {
    /// The recording (a finished FLAC file)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace the markers with LIST: track starts separated by commas, each a time from the
    /// file's first sample as H:MM:SS.sss, M:SS.sss or seconds (3:12.5, 1:02:03, 192.5), or a
    /// frame number as 9240000f; in increasing order. Times are rounded to the nearest frame; a
    /// first track at 0 is added when missing
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub set: Option<String>,
    /// Print one JSON object instead of the table (see JSON OUTPUT below)
    #[arg(long, conflicts_with_all = ["cue", "breakpoints"])]
    pub json: bool,
    /// Print a CUE sheet instead (FILE "NAME.flac" WAVE, a TRACK with INDEX 01 MM:SS:FF each), for
    /// cuebreakpoints, shnsplit -f and players; CUE counts 1/75 s, so each start is rounded to the
    /// nearest 1/75 s (13.3 ms)
    #[arg(long, conflicts_with = "breakpoints")]
    pub cue: bool,
    /// Print the split points for shnsplit (every start but the first, as M:SS.mmm, exact to the
    /// millisecond; minutes go past 59): vinyl-rec tracks F --breakpoints | shnsplit F
    #[arg(long)]
    pub breakpoints: bool,
}

/// Flags of `vinyl-rec split`.
#[derive(Args, Debug, Clone)]
pub struct SplitOpts {
    /// The recording (a finished FLAC file with track markers)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The folder the parts go to, created when missing [default: the recording's folder]
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    pub into: Option<PathBuf>,
    /// Name the parts for music libraries: DIR/Artist/Album (Year)/A1 Title.flac, from the tags
    /// vinyl-library name wrote
    #[arg(long)]
    pub library: bool,
}

/// Flags of `vinyl-rec auto`.
#[derive(Args, Debug, Clone, Default)]
pub struct AutoOpts {
    /// The events file vinyl-listen --output writes [default: RUN/events]
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// An encoder's metadata FIFO, where titles go; repeat it for several encoders (the MP3 and
    /// each Ogg mount), each written without waiting [default: RUN/title]
    #[arg(long, value_name = "FIFO")]
    pub title_fifo: Vec<PathBuf>,
    /// Check the VINYL_AUTO_* settings (against each other, VINYL_RING_CAPACITY and the ring
    /// when it exists) and exit: 0 when auto would start, 2 naming the bad key. Starts nothing
    #[arg(long)]
    pub check: bool,
}

/// Arguments of the internal `vinyl-rec _run`.
#[derive(Args, Debug, Clone)]
pub struct RunOpts {
    /// The state folder that start prepared (RUN/rec)
    #[arg(value_name = "STATE")]
    pub state: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_flag_wins_and_tags_repeat() {
        let o = Opts::try_parse_from([
            "r", "start", "--name", "a", "--name", "b", "--tag", "A=1", "--tag", "B=2",
        ])
        .unwrap();
        let Command::Start(s) = o.command else { panic!("not start") };
        assert_eq!(s.record.name.as_deref(), Some("b"));
        assert_eq!(s.record.tags, ["A=1", "B=2"]);
    }

    #[test]
    fn values_may_start_with_a_hyphen_so_the_name_check_can_refuse_them() {
        let o = Opts::try_parse_from(["r", "start", "--name", "-x"]).unwrap();
        let Command::Start(s) = o.command else { panic!("not start") };
        assert_eq!(s.record.name.as_deref(), Some("-x"));
    }

    #[test]
    fn snapshot_needs_last_and_stop_takes_nothing() {
        assert!(Opts::try_parse_from(["r", "snapshot"]).is_err());
        assert!(Opts::try_parse_from(["r", "stop", "extra"]).is_err());
        assert!(Opts::try_parse_from(["r", "snapshot", "--preroll", "1s", "--last", "1s"]).is_err());
    }
}
