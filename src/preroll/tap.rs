//! `vinyl-preroll tap`: frames from the ring to stdout (or a WAV file), from a point in the past,
//! then live.
//!
//! Owns the tool: its flags turned into a request, the log lines of its start and its end, the end
//! file, and the output: raw PCM written in whole frames, or a WAV file through hound. The ring
//! rules (the window, the follow loop, skips, gaps and replaced rings) are the ring crate's
//! ([`crate::ring::tap`]), and what a tap saw is worded by [`crate::ring::Logged`]. Two modes:
//! - **strict** (recordings): exact frames of one timeline, pinned at start (or by `--timeline`).
//!   On SIGTERM/SIGINT/SIGHUP the end becomes the head as it is then, so frames already in the
//!   ring but not yet written out are drained. A journaled gap is silence by definition: frames
//!   of it that the writer overwrote (a gap longer than the ring) are written out as zeros, so
//!   the output holds the gap at its exact length. It stops with exit 1, after writing every frame
//!   it could vouch for, when the writer overtakes it on real audio (the lost frames are named; the
//!   output never has a hidden splice), when the ring is replaced or truncated, or when its header
//!   is corrupt.
//! - **live** (`--live`, streams and monitors): starts at the newest frame, skips forward to live
//!   when overtaken (logged and counted), skips a journaled gap longer than 1 s
//!   ([`crate::ring::tap::LIVE_GAP_LIMIT_MS`]) instead of handing its silence on at once (counted as a skip),
//!   follows a replaced ring's new timeline, never stops for any of these.
//!
//! A strict tap may also be told its end after it started (`--end-file`, for `vinyl-rec auto`,
//! which learns where a side ends only when the listener says so, seconds later): a frame number
//! in the file sets the end, later numbers only lower it. With `--hold D` it stays D behind the
//! head while its end is still ahead of the head, so an end told up to D late is exact; once the
//! head reaches the end (or on a stop signal) it writes straight on ([`crate::ring::tap::writable`], pure). An end
//! told after the tap passed it anyway is logged with how many frames too many were written.
//!
//! Either way it never writes more than the range it resolved, logs every journaled gap inside
//! what it wrote (one line each), and ends quietly on a closed stdout.
//!
//! The same live tap inside another tool's process (`vinyl-listen`, `vinyl-web`) is
//! [`crate::ring::tap::follow_live`]: one loop, one set of ring rules.

use super::TOOL;
use super::cli::TapOpts;
use super::fifo_out::FifoOut;
use crate::cli::UsageError;
use crate::input::Batch;
use crate::pcm::{PcmSpec, SampleFormat};
use crate::ring::tap::{Bounds, End, How, Start, Stop, Tap, Window, window};
use crate::ring::{Logged, ReadError, RingReader};
use crate::{signals, vlog};
use anyhow::{Context as _, anyhow, bail};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs `tap` until its end point, a stop signal, a closed stdout or an error.
pub fn run(o: TapOpts) -> anyhow::Result<()> {
    validate(&o)?;
    signals::install()?;
    let ring = open_ring(&o)?;
    let shown = o.ring.display().to_string();
    let spec = ring.config().spec;
    let snap = ring.snapshot().map_err(|e| anyhow!("{shown}: {e}"))?;
    if snap.retired {
        return Err(anyhow!("{shown}: {}", ReadError::Retired));
    }
    let (from, end) = request(&o, spec.rate);
    let bounds = Bounds::of(&ring, snap.head);
    let win = window(from, end, bounds);
    log_start(&shown, &spec, &snap, bounds, win, &describe_end(&o, win.end), &o);
    check_window(&o, &shown, &spec, bounds, win)?;
    let hold = o.hold.map_or(0, |h| h.frames(spec.rate));
    check_hold(&o, &shown, &spec, hold, ring.config().capacity_frames)?;

    let mut sink = Sink::open(&o, &spec)?;
    let batch = Batch::new(&o.batch, spec.rate).map_or(Duration::ZERO, |b| b.interval);
    let stop = signals::stop_requested;
    let how = How { path: &o.ring, live: o.live, batch, hold, stop: &stop };
    let mut tap = Tap::new(ring, how, snap.timeline, win);
    let mut logged = Logged::new(TOOL, &shown, spec.rate, true);
    if let Some(path) = o.end_file.as_deref() {
        let mut told = EndFile::new(path);
        logged.end_from = Some(Box::new(move |current| told.poll(current)));
    }
    logged.notifier.ready();
    logged.notifier.status(&format!("tapping {shown} from frame {}", win.start));
    let result = tap.pump(&mut logged, &mut |_, bytes| sink.write_frames(bytes), o.measure_latency);
    logged.notifier.stopping();
    let finished = sink.finish();
    if o.measure_latency {
        report_latency(&shown, &mut tap.latency);
    }
    let wrote = summary(&tap, &spec, win.start);
    match result {
        Ok(stopped) => {
            finished?;
            let why = match (stopped, signals::stop_signal_name()) {
                (true, Some(sig)) => format!(" on {sig}"),
                _ => String::new(),
            };
            vlog!(TOOL, "{shown}: {wrote}{why}");
            Ok(())
        }
        Err(Stop::Ring(e)) => bail!("{shown}: {e}; {wrote} and stops"),
        Err(Stop::Other(e)) => Err(e),
    }
}

/// Refuses a hold the ring cannot keep (the held frames would be overwritten).
fn check_hold(o: &TapOpts, shown: &str, spec: &PcmSpec, hold: u64, capacity: u64) -> Result<(), UsageError> {
    if hold > 0 && hold >= capacity {
        return Err(UsageError::new(format!(
            "--hold {}: the ring {shown} holds only {}: the held frames would be overwritten; give less",
            o.hold.map(|h| h.to_string()).unwrap_or_default(),
            spec.describe_frames(capacity)
        )));
    }
    Ok(())
}

/// The closing words: what was written, with its gaps and skips.
fn summary(tap: &Tap, spec: &PcmSpec, start: u64) -> String {
    let mut s = format!(
        "tap wrote frames {start}..{} ({})",
        tap.pos,
        spec.describe_frames(tap.pos.saturating_sub(start))
    );
    let (gaps, silent) = tap.gaps_given;
    if gaps > 0 {
        s += &format!(
            ", with {gaps} gap{} ({} of silence for lost audio)",
            if gaps == 1 { "" } else { "s" },
            spec.describe_frames(silent)
        );
    }
    if tap.skips.0 > 0 {
        s += &format!(", skipped forward {} times ({})", tap.skips.0, spec.describe_frames(tap.skips.1));
    }
    s
}

/// One reading of `--end-file`: a decimal frame number, blanks around it allowed.
pub fn parse_end(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The end after a reading: a later number may only lower it (an end already passed stays passed).
pub fn lowered(current: u64, text: &str) -> Option<u64> {
    parse_end(text).map(|n| n.min(current))
}

/// `--end-file`: read again when its size or modification time changes, at most every
/// [`END_POLL`]; a missing file is no end yet; a malformed one is logged once and ignored.
struct EndFile {
    path: std::path::PathBuf,
    seen: Option<(u64, i64, i64, u64)>,
    checked: Option<Instant>,
}

/// How often the end file is looked at.
const END_POLL: Duration = Duration::from_millis(100);

impl EndFile {
    fn new(path: &Path) -> EndFile {
        EndFile { path: path.to_path_buf(), seen: None, checked: None }
    }

    /// The end after looking at the file (`current` when nothing new).
    fn poll(&mut self, current: u64) -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        if self.checked.is_some_and(|t| t.elapsed() < END_POLL) {
            return current;
        }
        self.checked = Some(Instant::now());
        let Ok(m) = std::fs::metadata(&self.path) else { return current };
        let key = (m.len(), m.mtime(), m.mtime_nsec(), m.ino());
        if self.seen == Some(key) {
            return current;
        }
        self.seen = Some(key);
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        match lowered(current, &text) {
            Some(end) => {
                if end < current {
                    vlog!(TOOL, "{}: the tap ends before frame {end}", self.path.display());
                }
                end
            }
            None => {
                vlog!(TOOL, "{}: {:?} is not a frame number; ignored", self.path.display(), text.trim());
                current
            }
        }
    }
}

/// Checks the flags against each other (exit 2).
fn validate(o: &TapOpts) -> Result<(), UsageError> {
    if o.wav.is_some() && o.until_frame.is_none() && o.duration.is_none() && !o.no_follow {
        return Err(UsageError::new(
            "--wav needs a known length: add --until-frame N, --duration D or --no-follow",
        ));
    }
    Ok(())
}

/// Opens the ring and checks its format against the flags, and its timeline against `--timeline`.
fn open_ring(o: &TapOpts) -> anyhow::Result<RingReader> {
    let ring = RingReader::open(&o.ring, true)?;
    let shown = o.ring.display();
    let (spec, asked) = (ring.config().spec, o.pcm.spec());
    if asked != spec {
        bail!(
            "{shown}: the ring holds {spec}, but the tap was asked for {asked} \
             (--format/--rate/--channels must match the ring)"
        );
    }
    if let Some(t) = o.timeline {
        ring.check_timeline(t).map_err(|e| anyhow!("{shown}: {e}"))?;
    }
    Ok(ring)
}

/// The flags as a start and an end.
fn request(o: &TapOpts, rate: u32) -> (Start, End) {
    let from = match (o.from_frame, o.from) {
        (Some(n), _) => Start::Frame(n),
        (None, Some(back)) => Start::Back(back.0.frames(rate)),
        (None, None) => Start::Head,
    };
    let end = match (o.until_frame, o.duration, o.no_follow) {
        (Some(u), _, _) => End::Frame(u),
        (_, Some(d), _) => End::Length(d.frames(rate)),
        (_, _, true) => End::AtHead,
        _ => End::Never,
    };
    (from, end)
}

fn describe_end(o: &TapOpts, end: u64) -> String {
    match (o.until_frame, o.duration, o.no_follow) {
        (Some(_), _, _) => format!("until frame {end} (exclusive)"),
        (_, Some(d), _) => format!("until frame {end} ({d} after the requested start)"),
        (_, _, true) => format!("until frame {end} (the head at start)"),
        _ if o.live => "following live, skipping forward when overtaken".to_string(),
        _ => "then following live".to_string(),
    }
}

/// Refuses a window whose frames are gone, or too long for a WAV file.
fn check_window(o: &TapOpts, shown: &str, spec: &PcmSpec, b: Bounds, w: Window) -> anyhow::Result<()> {
    if w.requested < w.end as i128 && w.end <= w.start {
        bail!(
            "{shown}: frames {}..{} are no longer in the ring (it holds frames {}..{})",
            w.requested.max(0),
            w.end,
            b.oldest,
            b.head
        );
    }
    if let Some(wav) = &o.wav
        && w.end > w.start
        && (w.end - w.start) * spec.frame_bytes() as u64 > u32::MAX as u64 - 44
    {
        return Err(UsageError::new(format!(
            "{}: {} do not fit a WAV file (4 GiB): tap raw PCM instead",
            wav.display(),
            spec.describe_frames(w.end - w.start)
        ))
        .into());
    }
    Ok(())
}

fn log_start(
    shown: &str,
    spec: &PcmSpec,
    snap: &crate::ring::Snapshot,
    b: Bounds,
    w: Window,
    describe_end: &str,
    o: &TapOpts,
) {
    let (head, start) = (b.head, w.start);
    let ctx = format!("timeline {}, head {head}, {describe_end}", snap.timeline);
    if start > head {
        vlog!(TOOL, "{shown}: tap from frame {start} ({ctx}): waiting for it to be written");
    } else if w.requested < start as i128 {
        let asked = match (o.from_frame, o.from) {
            (Some(n), _) => format!("frame {n}"),
            (_, Some(back)) => format!("{} of pre-roll", spec.describe_frames(back.0.frames(spec.rate))),
            _ => "the head".to_string(),
        };
        vlog!(
            TOOL,
            "{shown}: tap from frame {start}, the oldest held ({ctx}): asked for {asked}, but the ring \
             holds only {}, so the pre-roll is {}",
            spec.describe_frames(head - b.oldest),
            spec.describe_frames(head - start)
        );
    } else {
        vlog!(
            TOOL,
            "{shown}: tap from frame {start} ({ctx}; pre-roll {})",
            spec.describe_frames(head - start)
        );
    }
}

fn report_latency(shown: &str, samples: &mut [u32]) {
    if samples.is_empty() {
        vlog!(TOOL, "{shown}: latency: no samples");
        return;
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    vlog!(
        TOOL,
        "{shown}: latency: samples {} min {}us median {}us p99 {}us max {}us",
        samples.len(),
        samples[0],
        at(0.5),
        at(0.99),
        samples[samples.len() - 1]
    );
}

/// Where the frames go.
enum Sink {
    /// Raw PCM to stdout (a duplicate of fd 1, written without buffering); `widen` holds the
    /// 24-in-32 copy when asked for (`--s24-in-32` on a 24-bit ring).
    Raw { out: File, widen: Option<Vec<u8>> },
    /// Raw PCM to a FIFO whose reader comes and goes (`--fifo`).
    Fifo { out: FifoOut, widen: Option<Vec<u8>> },
    /// A WAV file.
    Wav { writer: hound::WavWriter<BufWriter<File>>, format: SampleFormat, path: String },
}

impl Sink {
    fn open(o: &TapOpts, spec: &PcmSpec) -> anyhow::Result<Sink> {
        let widen = o.s24_in_32 && spec.format == SampleFormat::S24_3Le;
        let out = if widen { spec.frame_bytes() / 3 * 4 } else { spec.frame_bytes() };
        if let Some(path) = o.fifo.as_deref() {
            return Ok(Sink::Fifo { out: FifoOut::new(path, out)?, widen: widen.then(Vec::new) });
        }
        let Some(path) = o.wav.as_deref() else {
            let fd = std::os::fd::AsFd::as_fd(&io::stdout()).try_clone_to_owned().context("stdout: dup")?;
            return Ok(Sink::Raw { out: File::from(fd), widen: widen.then(Vec::new) });
        };
        Sink::wav(path, spec)
    }

    /// A new WAV file (never overwriting one).
    fn wav(path: &Path, spec: &PcmSpec) -> anyhow::Result<Sink> {
        let shown = path.display().to_string();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("{shown}: create"))?;
        let hspec = hound::WavSpec {
            channels: spec.channels,
            sample_rate: spec.rate,
            bits_per_sample: spec.format.bits() as u16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::new(BufWriter::with_capacity(65_536, file), hspec)
            .map_err(|e| anyhow!("{shown}: write WAV header: {e}"))?;
        Ok(Sink::Wav { writer, format: spec.format, path: shown })
    }

    /// Writes whole frames. Raw output retries interrupted writes, so a signal never splits a
    /// frame.
    fn write_frames(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Sink::Raw { out, widen } => {
                std::io::Write::write_all(out, widened(bytes, widen)).context("stdout: write")
            }
            Sink::Fifo { out, widen } => out.write(widened(bytes, widen)),
            Sink::Wav { writer, format, path } => {
                let step = format.bytes();
                for sample in bytes.chunks_exact(step) {
                    let v = format.decode(sample);
                    let r = match format {
                        SampleFormat::S16Le => writer.write_sample(v as i16),
                        SampleFormat::S24_3Le => writer.write_sample(v),
                    };
                    r.map_err(|e| anyhow!("{path}: write: {e}"))?;
                }
                Ok(())
            }
        }
    }

    /// Finishes the output: a WAV file gets its final lengths.
    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Raw { .. } | Sink::Fifo { .. } => Ok(()),
            Sink::Wav { writer, path, .. } => writer.finalize().map_err(|e| anyhow!("{path}: finalize: {e}")),
        }
    }
}

/// `bytes` as written: widened into `buf` when it is there, else as they are.
fn widened<'a>(bytes: &'a [u8], buf: &'a mut Option<Vec<u8>>) -> &'a [u8] {
    match buf {
        Some(b) => {
            crate::pcm::widen_24_in_32(bytes, b);
            b
        }
        None => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_file_holds_a_frame_number_that_only_ever_lowers() {
        assert_eq!(parse_end(" 480000\n"), Some(480_000));
        assert_eq!(parse_end("48000f"), None);
        assert_eq!(parse_end("-1"), None);
        assert_eq!(lowered(u64::MAX, "1000"), Some(1000));
        assert_eq!(lowered(1000, "2000"), Some(1000), "a later, larger end is ignored");
        assert_eq!(lowered(1000, "500"), Some(500));
        assert_eq!(lowered(1000, "x"), None);
    }

    #[test]
    fn wav_sink_writes_readable_24_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let spec = PcmSpec { format: SampleFormat::S24_3Le, ..PcmSpec::default() };
        let data = crate::pcm::unique_frames(&spec, 1000, 10);
        let mut sink = Sink::wav(&path, &spec).unwrap();
        sink.write_frames(&data).unwrap();
        sink.finish().unwrap();
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec().bits_per_sample, 24);
        let got: Vec<i32> = r.samples::<i32>().map(Result::unwrap).collect();
        let want: Vec<i32> = data.chunks(3).map(|s| SampleFormat::S24_3Le.decode(s)).collect();
        assert_eq!(got, want);
        assert!(Sink::wav(&path, &spec).is_err(), "an existing file is never overwritten");
    }
}
