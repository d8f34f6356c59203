//! `vinyl-preroll tap`: frames from the ring to stdout (or a WAV file), from a point in the past,
//! then live.
//!
//! Owns the choice of the start and end frames, the follow loop (sleeping on the ring's futex
//! between writes) and the output: raw PCM written in whole frames, or a WAV file through hound.
//! On SIGTERM/SIGINT/SIGHUP the end becomes the head as it is then, so frames already in the ring but not
//! yet written out are drained and a stopped recording holds everything up to the stop. It stops
//! with exit 1, after writing every frame it could vouch for, when the writer overtakes it (the
//! lost frames are named; the output never has a gap), when a new writer generation starts, or
//! when the ring is replaced. A closed stdout ends it quietly.

use super::TOOL;
use super::cli::TapOpts;
use crate::cli::UsageError;
use crate::pcm::{PcmSpec, SampleFormat};
use crate::ring::{ReadError, RingReader, layout};
use crate::{signals, vlog};
use anyhow::{Context as _, anyhow, bail};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long one futex sleep lasts at most: the period at which a tap with nothing to do checks
/// whether a writer still holds the ring.
const WAIT: Duration = Duration::from_millis(500);

/// Runs `tap` until its end point, SIGTERM/SIGINT/SIGHUP, a closed stdout or an error.
pub fn run(o: TapOpts) -> anyhow::Result<()> {
    if o.wav.is_some() && o.until_frame.is_none() && o.duration.is_none() && !o.no_follow {
        return Err(UsageError::new(
            "--wav needs a known length: add --until-frame N, --duration D or --no-follow",
        )
        .into());
    }
    signals::install()?;
    let ring = RingReader::open(&o.ring, true)?;
    let shown = o.ring.display().to_string();
    let cfg = ring.config();
    let spec = cfg.spec;
    let asked = o.pcm.spec();
    if asked != spec {
        bail!(
            "{shown}: the ring holds {spec}, but the tap was asked for {asked} \
             (--format/--rate/--channels must match the ring)"
        );
    }
    let snap = ring.snapshot();
    if snap.retired {
        return Err(anyhow!("{shown}: {}", ReadError::Retired));
    }
    let generation = snap.generation;
    let head = snap.head;
    let oldest = ring.oldest(head);

    // The requested start may lie before frame 0 (more pre-roll than this generation has).
    let requested: i128 = match (o.from_frame, o.from) {
        (Some(n), _) => n as i128,
        (None, Some(back)) => head as i128 - back.0.frames(spec.rate) as i128,
        (None, None) => head as i128,
    };
    // A request a little older than the guaranteed history (a vinyl-rec that read the head a
    // moment before starting this tap) is honoured while those frames are still intact in the
    // slack, up to half the slack; anything older starts at the guaranteed oldest frame.
    let half_slack = (cfg.slot_frames - cfg.capacity_frames) / 2;
    let floor = oldest.saturating_sub(half_slack).max(ring.first_intact());
    let start = if requested > head as i128 {
        requested as u64
    } else if requested >= floor as i128 {
        requested.max(0) as u64
    } else {
        oldest
    };
    let end: u64 = if let Some(u) = o.until_frame {
        u
    } else if let Some(d) = o.duration {
        (requested + d.frames(spec.rate) as i128).clamp(0, u64::MAX as i128) as u64
    } else if o.no_follow {
        head
    } else {
        u64::MAX
    };
    let describe_end = match (o.until_frame, o.duration, o.no_follow) {
        (Some(_), _, _) => format!("until frame {end} (exclusive)"),
        (_, Some(d), _) => format!("until frame {end} ({d} after the requested start)"),
        (_, _, true) => format!("until frame {end} (the head at start)"),
        _ => "then following live".to_string(),
    };
    log_start(&shown, &spec, generation, head, oldest, requested, start, &describe_end, &o);
    if requested < end as i128 && end <= start {
        bail!(
            "{shown}: frames {}..{end} are no longer in the ring (it holds frames {oldest}..{head})",
            requested.max(0)
        );
    }
    if let Some(wav) = &o.wav
        && end > start
        && (end - start) * spec.frame_bytes() as u64 > u32::MAX as u64 - 44
    {
        return Err(UsageError::new(format!(
            "{}: {} do not fit a WAV file (4 GiB): tap raw PCM instead",
            wav.display(),
            spec.describe_frames(end - start)
        ))
        .into());
    }

    let mut sink = Sink::open(o.wav.as_deref(), &spec)?;
    let mut tap = Tap { ring: &ring, shown: &shown, generation, pos: start, end, latency: Vec::new() };
    let result = tap.pump(&mut sink, o.measure_latency);
    let finished = sink.finish();
    let wrote = tap.pos - start;
    if o.measure_latency {
        report_latency(&shown, &mut tap.latency);
    }
    let wrote = format!("tap wrote frames {start}..{} ({})", tap.pos, spec.describe_frames(wrote));
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

#[allow(clippy::too_many_arguments)]
fn log_start(
    shown: &str,
    spec: &PcmSpec,
    generation: u64,
    head: u64,
    oldest: u64,
    requested: i128,
    start: u64,
    describe_end: &str,
    o: &TapOpts,
) {
    let ctx = format!("generation {generation}, head {head}, {describe_end}");
    if start > head {
        vlog!(TOOL, "{shown}: tap from frame {start} ({ctx}): waiting for it to be written");
    } else if requested < start as i128 {
        let asked = match (o.from_frame, o.from) {
            (Some(n), _) => format!("frame {n}"),
            (_, Some(b)) => format!("{} of pre-roll", spec.describe_frames(b.0.frames(spec.rate))),
            _ => unreachable!("only an earlier request is clamped"),
        };
        vlog!(
            TOOL,
            "{shown}: tap from frame {start}, the oldest held ({ctx}): asked for {asked}, but the ring \
             holds only {}, so the pre-roll is {}",
            spec.describe_frames(head - oldest),
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
            Sink::Raw(out) => crate::pcm::write_all_retry(out, bytes).context("stdout: write"),
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
