//! `vinyl-preroll tap`: frames from the ring to stdout (or a WAV file), from a point in the past,
//! then live.
//!
//! Owns the choice of the start and end frames, the follow loop (sleeping on the ring's futex
//! between writes) and the output: raw PCM written in whole frames, or a WAV file through hound.
//! On SIGTERM/SIGINT the end becomes the head as it is then, so frames already in the ring but not
//! yet written out are drained and a stopped recording holds everything up to the stop. It stops
//! with exit 1, after writing every frame it could vouch for, when the writer overtakes it (the
//! lost frames are named; the output never has a gap), when a new writer generation starts, or
//! when the ring is replaced. A closed stdout ends it quietly.

use super::TOOL;
use super::cli::TapOpts;
use crate::cli::UsageError;
use crate::pcm::{DurationArg, PcmSpec, SampleFormat};
use crate::ring::{ReadError, RingReader, layout};
use crate::{signals, vlog};
use anyhow::{Context as _, anyhow, bail};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long one futex sleep lasts at most: the period at which a tap with nothing to do checks
/// whether a writer still holds the ring.
const WAIT: Duration = Duration::from_millis(500);

/// Runs `tap` until its end point, SIGTERM/SIGINT, a closed stdout or an error: validate, open,
/// pump, finish.
pub fn run(o: TapOpts) -> anyhow::Result<()> {
    validate(&o)?;
    signals::install()?;
    let (ring, shown) = open_ring(&o)?;
    let (generation, window) = plan(&o, &ring, &shown)?;
    let spec = ring.config().spec;
    let mut sink = Sink::open(o.wav.as_deref(), &spec)?;
    let start = window.start;
    let mut tap =
        Tap { ring: &ring, shown: &shown, generation, pos: start, end: window.end, latency: Vec::new() };
    let result = tap.pump(&mut sink, o.measure_latency);
    if o.measure_latency {
        report_latency(&shown, &mut tap.latency);
    }
    finish(&shown, &spec, start, tap.pos, result, sink)
}

/// Refuses, before anything is opened, flags that cannot work together.
fn validate(o: &TapOpts) -> anyhow::Result<()> {
    if o.wav.is_some() && o.until_frame.is_none() && o.duration.is_none() && !o.no_follow {
        return Err(UsageError::new(
            "--wav needs a known length: add --until-frame N, --duration D or --no-follow",
        )
        .into());
    }
    Ok(())
}

/// Opens the ring for reading and checks that it holds the format asked for and is not retired.
fn open_ring(o: &TapOpts) -> anyhow::Result<(RingReader, String)> {
    let ring = RingReader::open(&o.ring, true)?;
    let shown = o.ring.display().to_string();
    let spec = ring.config().spec;
    let asked = o.pcm.spec();
    if asked != spec {
        bail!(
            "{shown}: the ring holds {spec}, but the tap was asked for {asked} \
             (--format/--rate/--channels must match the ring)"
        );
    }
    if ring.snapshot().retired {
        return Err(anyhow!("{shown}: {}", ReadError::Retired));
    }
    Ok((ring, shown))
}

/// Chooses the frames to copy from what the ring holds now, logs the choice, and refuses a
/// window that is gone or too long for a WAV file. Returns the generation it belongs to.
fn plan(o: &TapOpts, ring: &RingReader, shown: &str) -> anyhow::Result<(u64, Window)> {
    let cfg = ring.config();
    let spec = cfg.spec;
    let snap = ring.snapshot();
    let head = snap.head;
    let oldest = ring.oldest(head);
    // Up to half the slack older than the guaranteed history, while still intact (see `window`).
    let half_slack = (cfg.slot_frames - cfg.capacity_frames) / 2;
    let held = Held { head, oldest, floor: oldest.saturating_sub(half_slack).max(ring.first_intact()) };
    let request = Request::of(o);
    let w = window(&request, spec.rate, &held);
    log_start(shown, &spec, snap.generation, &held, &w, &request);
    if w.is_gone() {
        bail!(
            "{shown}: frames {}..{} are no longer in the ring (it holds frames {oldest}..{head})",
            w.requested.max(0),
            w.end
        );
    }
    if let Some(wav) = &o.wav
        && w.end > w.start
        && spec.frames_to_bytes(w.end - w.start) > u32::MAX as u64 - 44
    {
        return Err(UsageError::new(format!(
            "{}: {} do not fit a WAV file (4 GiB): tap raw PCM instead",
            wav.display(),
            spec.describe_frames(w.end - w.start)
        ))
        .into());
    }
    Ok((snap.generation, w))
}

/// Closes the output and turns how the pump ended into the last log line or the error.
fn finish(
    shown: &str,
    spec: &PcmSpec,
    start: u64,
    pos: u64,
    result: Result<String, Stop>,
    sink: Sink,
) -> anyhow::Result<()> {
    let finished = sink.finish();
    let wrote = format!("tap wrote frames {start}..{pos} ({})", spec.describe_frames(pos - start));
    match result {
        Ok(why) => {
            finished?;
            vlog!(TOOL, "{shown}: {wrote}{why}");
            Ok(())
        }
        Err(Stop::Ring(e)) => bail!("{shown}: {e}; {wrote} and stops"),
        Err(Stop::Other(e)) => Err(e),
    }
}

/// Where a tap was asked to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StartAt {
    /// An absolute frame (`--from-frame`).
    Frame(u64),
    /// This long before the head (`--from`).
    Back(DurationArg),
    /// At the head: live.
    Head,
}

/// Where a tap was asked to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EndAt {
    /// Before this absolute frame (`--until-frame`).
    Frame(u64),
    /// This long after the requested start (`--duration`).
    After(DurationArg),
    /// At the head as it is when the tap starts (`--no-follow`).
    Head,
    /// Never: follow live.
    Live,
}

/// The start and end a tap was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Request {
    start: StartAt,
    end: EndAt,
}

impl Request {
    fn of(o: &TapOpts) -> Request {
        let start = match (o.from_frame, o.from) {
            (Some(n), _) => StartAt::Frame(n),
            (None, Some(back)) => StartAt::Back(back.0),
            (None, None) => StartAt::Head,
        };
        let end = match (o.until_frame, o.duration, o.no_follow) {
            (Some(u), _, _) => EndAt::Frame(u),
            (None, Some(d), _) => EndAt::After(d),
            (None, None, true) => EndAt::Head,
            (None, None, false) => EndAt::Live,
        };
        Request { start, end }
    }
}

/// What the ring holds when the tap starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    /// The next frame to be written.
    head: u64,
    /// The oldest frame the ring guarantees.
    oldest: u64,
    /// The oldest frame a tap may still start at exactly: up to half the slack before `oldest`,
    /// never below the first frame still intact.
    floor: u64,
}

/// The frames a tap copies: `start..end`, and the start it was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    /// The start asked for; before frame 0 when more pre-roll was asked than this generation has.
    requested: i128,
    /// The first frame copied.
    start: u64,
    /// The frame to stop before (`u64::MAX`: follow live).
    end: u64,
}

impl Window {
    /// True when every frame asked for has already left the ring.
    fn is_gone(&self) -> bool {
        self.requested < self.end as i128 && self.end <= self.start
    }
}

/// The window of a `request` at `rate` over what the ring holds. A start not yet written is
/// waited for; a start older than the floor (a request a little older than the guaranteed
/// history, from a `vinyl-rec` that read the head a moment before starting this tap, is honoured
/// down to the floor) starts at the oldest guaranteed frame. An end after a duration counts from
/// the start asked for, not the one granted.
fn window(request: &Request, rate: u32, held: &Held) -> Window {
    let head = held.head as i128;
    let requested: i128 = match request.start {
        StartAt::Frame(n) => n as i128,
        StartAt::Back(back) => head - back.frames(rate) as i128,
        StartAt::Head => head,
    };
    let start = if requested > head {
        requested as u64
    } else if requested >= held.floor as i128 {
        requested.max(0) as u64
    } else {
        held.oldest
    };
    let end = match request.end {
        EndAt::Frame(u) => u,
        EndAt::After(d) => (requested + d.frames(rate) as i128).clamp(0, u64::MAX as i128) as u64,
        EndAt::Head => held.head,
        EndAt::Live => u64::MAX,
    };
    Window { requested, start, end }
}

/// Why a tap stopped before its end.
enum Stop {
    /// The ring said no: lost frames, a new generation, a replaced ring.
    Ring(ReadError),
    /// Output or system errors (a closed stdout among them).
    Other(anyhow::Error),
}

impl From<ReadError> for Stop {
    fn from(e: ReadError) -> Self {
        Stop::Ring(e)
    }
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Other(e)
    }
}

/// The tap's first line: where it starts and ends, and how much pre-roll it really gives.
fn log_start(shown: &str, spec: &PcmSpec, generation: u64, held: &Held, w: &Window, request: &Request) {
    let (head, start, end) = (held.head, w.start, w.end);
    let describe_end = match request.end {
        EndAt::Frame(_) => format!("until frame {end} (exclusive)"),
        EndAt::After(d) => format!("until frame {end} ({d} after the requested start)"),
        EndAt::Head => format!("until frame {end} (the head at start)"),
        EndAt::Live => "then following live".to_string(),
    };
    let ctx = format!("generation {generation}, head {head}, {describe_end}");
    if start > head {
        vlog!(TOOL, "{shown}: tap from frame {start} ({ctx}): waiting for it to be written");
    } else if w.requested < start as i128 {
        let asked = match request.start {
            StartAt::Frame(n) => format!("frame {n}"),
            StartAt::Back(b) => format!("{} of pre-roll", spec.describe_frames(b.frames(spec.rate))),
            StartAt::Head => "the head".to_string(), // not reached: the head is never clamped
        };
        vlog!(
            TOOL,
            "{shown}: tap from frame {start}, the oldest held ({ctx}): asked for {asked}, but the ring \
             holds only {}, so the pre-roll is {}",
            spec.describe_frames(head - held.oldest),
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

/// The state of a running tap.
struct Tap<'a> {
    ring: &'a RingReader,
    shown: &'a str,
    generation: u64,
    /// The next frame to write out.
    pos: u64,
    /// The frame to stop before.
    end: u64,
    /// Publication-to-output delays in microseconds (with `--measure-latency`).
    latency: Vec<u32>,
}

impl Tap<'_> {
    /// Copies frames until the end; returns a note on why it ended (empty for the end point).
    fn pump(&mut self, sink: &mut Sink, measure: bool) -> Result<String, Stop> {
        let fb = self.ring.config().spec.frame_bytes();
        let chunk = (65_536 / fb).max(1) as u64;
        let mut buf = vec![0u8; chunk as usize * fb];
        let mut writer_gone = false;
        let mut stopping = false;
        let mut last_writer_check = Instant::now();
        loop {
            if !stopping && signals::stop_requested() {
                stopping = true;
                self.end = self.end.min(self.ring.head().max(self.pos));
                self.ring.check_generation(self.generation)?;
            }
            if self.pos >= self.end {
                return Ok(match (stopping, signals::stop_signal_name()) {
                    (true, Some(sig)) => format!(" on {sig}"),
                    _ => String::new(),
                });
            }
            let head = self.ring.head();
            self.ring.check_generation(self.generation)?;
            if head <= self.pos {
                self.ring.wait_beyond(self.pos, self.generation, WAIT);
                if self.ring.head() <= self.pos && last_writer_check.elapsed() >= WAIT {
                    last_writer_check = Instant::now();
                    let gone = !self.ring.writer_alive()?;
                    if gone != writer_gone {
                        writer_gone = gone;
                        let state = if gone {
                            format!("no writer holds the ring; waiting for frame {}", self.pos)
                        } else {
                            "a writer holds the ring again".to_string()
                        };
                        vlog!(TOOL, "{}: {state}", self.shown);
                    }
                }
                continue;
            }
            let n = head.min(self.end).min(self.pos + chunk) - self.pos;
            let bytes = n as usize * fb;
            self.ring.read(self.generation, self.pos, n, &mut buf[..bytes])?;
            sink.write_frames(&buf[..bytes])?;
            if measure
                && self.pos + n == head
                && let Some(t) = self.ring.publish_time_of(head)
            {
                let us = layout::monotonic_ns().saturating_sub(t) / 1000;
                if self.latency.len() < 1_000_000 {
                    self.latency.push(us.min(u32::MAX as u64) as u32);
                }
            }
            self.pos += n;
        }
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
    /// Raw PCM to stdout (a duplicate of fd 1, written without buffering).
    Raw(File),
    /// A WAV file.
    Wav { writer: hound::WavWriter<BufWriter<File>>, format: SampleFormat, path: String },
}

impl Sink {
    fn open(wav: Option<&Path>, spec: &PcmSpec) -> anyhow::Result<Sink> {
        let Some(path) = wav else {
            let fd = std::os::fd::AsFd::as_fd(&io::stdout()).try_clone_to_owned().context("stdout: dup")?;
            return Ok(Sink::Raw(File::from(fd)));
        };
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
            Sink::Raw(out) => out.write_all(bytes).context("stdout: write"),
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
            Sink::Raw(_) => Ok(()),
            Sink::Wav { writer, path, .. } => writer.finalize().map_err(|e| anyhow!("{path}: finalize: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    fn w(start: StartAt, end: EndAt, held: Held) -> Window {
        window(&Request { start, end }, RATE, &held)
    }

    fn d(s: &str) -> DurationArg {
        s.parse().unwrap()
    }

    /// A 30 s ring (72,000 frames of half slack) whose head is at 2,000,000.
    const FULL: Held = Held { head: 2_000_000, oldest: 560_000, floor: 488_000 };

    #[test]
    fn window_starts_where_asked_while_the_frames_are_held() {
        assert_eq!(
            w(StartAt::Head, EndAt::Live, FULL),
            Window { requested: 2_000_000, start: 2_000_000, end: u64::MAX }
        );
        let back = w(StartAt::Back(d("10s")), EndAt::Head, FULL);
        assert_eq!(back, Window { requested: 1_520_000, start: 1_520_000, end: 2_000_000 });
        let future = w(StartAt::Frame(3_000_000), EndAt::Frame(3_000_010), FULL);
        assert_eq!(
            (future.start, future.end),
            (3_000_000, 3_000_010),
            "a frame not yet written is waited for"
        );
    }

    #[test]
    fn window_honours_half_the_slack_then_clamps_to_the_oldest() {
        assert_eq!(w(StartAt::Frame(500_000), EndAt::Live, FULL).start, 500_000);
        assert_eq!(w(StartAt::Frame(488_000), EndAt::Live, FULL).start, 488_000);
        let old = w(StartAt::Frame(487_999), EndAt::Live, FULL);
        assert_eq!((old.requested, old.start), (487_999, 560_000));
        assert!(!old.is_gone());
    }

    #[test]
    fn window_duration_counts_from_the_requested_start() {
        let gone = w(StartAt::Frame(400_000), EndAt::After(d("48000f")), FULL);
        assert_eq!((gone.start, gone.end), (560_000, 448_000));
        assert!(gone.is_gone(), "every frame asked for has left the ring");
        let partly = w(StartAt::Frame(400_000), EndAt::After(d("5s")), FULL);
        assert_eq!((partly.start, partly.end), (560_000, 640_000));
        assert!(!partly.is_gone());
    }

    #[test]
    fn window_before_frame_zero_starts_at_zero() {
        let young = Held { head: RATE as u64, oldest: 0, floor: 0 };
        let x = w(StartAt::Back(d("10s")), EndAt::After(d("10s")), young);
        assert_eq!(x, Window { requested: -432_000, start: 0, end: 48_000 });
        let y = w(StartAt::Back(d("10s")), EndAt::After(d("1s")), young);
        assert_eq!(y.end, 0, "an end before frame 0 is frame 0");
        assert!(y.is_gone(), "every frame asked for came before this generation began");
    }

    #[test]
    fn wav_sink_writes_readable_24_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let spec = PcmSpec { format: SampleFormat::S24_3Le, ..PcmSpec::default() };
        let data = crate::pcm::unique_frames(&spec, 1000, 10);
        let mut sink = Sink::open(Some(&path), &spec).unwrap();
        sink.write_frames(&data).unwrap();
        sink.finish().unwrap();
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec().bits_per_sample, 24);
        let got: Vec<i32> = r.samples::<i32>().map(Result::unwrap).collect();
        let want: Vec<i32> = data.chunks(3).map(|s| SampleFormat::S24_3Le.decode(s)).collect();
        assert_eq!(got, want);
        assert!(Sink::open(Some(&path), &spec).is_err(), "an existing file is never overwritten");
    }
}
