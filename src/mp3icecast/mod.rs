//! `vinyl-mp3-icecast`: raw PCM on stdin → MP3 (LAME) → an Icecast2 mount, or a file.
//!
//! Owns the tool's threads and its end-of-run accounting. The main thread reads stdin in whole
//! frames at the capture's pace and encodes continuously ([`crate::mp3::Mp3Encoder`]); it never
//! waits for the network. Its MP3 frames go into a bounded [`crate::icecast::queue::Queue`] that discards them
//! (counted) while disconnected and drops them (counted) when the server is too slow. The
//! [`crate::icecast::sender`] thread runs the connection state machine and reconnects forever; the [`metadata`]
//! thread turns FIFO lines into stream titles. With `--output`, the main thread writes every
//! frame itself and nothing is ever dropped; a regular file gets LAME's tag frame at the end
//! ([`output`]). Flags are in [`cli`].
//!
//! How it ends: end of input or SIGTERM/SIGINT → flush the encoder (keeping the tail), send or
//! write what is left, close, exit 0. Wrong credentials → exit 1 naming the status and the mount.
//! Usage errors (no password, credentials in the URL, more than two channels) → exit 2. It
//! never prints the password.

pub mod cli;
pub mod metadata;
pub mod output;

pub use cli::Opts;

use crate::cli::UsageError;
use crate::icecast::StreamInfo;
use crate::icecast::queue::{Pushed, Queue};
use crate::icecast::sender;
use crate::input::{PcmInput, Step};
use crate::log::StateLog;
use crate::mp3::{DECODER_DELAY, Mp3Chunk, Mp3Encoder, Mp3Settings, RateControl};
use crate::notify::Notifier;
use crate::pcm::{PcmSpec, format_frames};
use crate::signals;
use crate::vlog;
use anyhow::Context as _;
use std::io::{self, Write};
use std::os::fd::AsFd as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The tool's name at the start of every log line.
pub const TOOL: &str = "vinyl-mp3-icecast";

/// PCM frames read from stdin at most per read (about 85 ms at 48 kHz).
const READ_FRAMES: usize = 4096;

/// How long one wait for input lasts: how soon a stop asked while the input is quiet is seen.
const WAIT: Duration = Duration::from_millis(250);

/// Where encoded frames go.
enum Sink {
    /// A file or stdout: every frame is written; `tag` is where the LAME tag frame goes.
    Output { w: Box<dyn Write>, name: String, tag: Option<output::TagSlot> },
    /// The queue to the sender thread; `name` is the URL, for messages.
    Stream { queue: Arc<Queue>, full: bool, name: String },
}

impl Sink {
    fn put(&mut self, chunk: &Mp3Chunk<'_>, log: &mut StateLog, in_rate: u32) -> anyhow::Result<()> {
        let data = chunk.data;
        match self {
            Sink::Output { w, name, .. } => w.write_all(data).with_context(|| format!("{name}: write")),
            Sink::Stream { queue, full, name } => {
                match queue.push(data, chunk.samples, chunk.input_frames) {
                    Pushed::Dropped if !*full => {
                        *full = true;
                        log.change(name, "the server takes data too slowly: dropping whole MP3 frames");
                    }
                    Pushed::Queued if *full && !data.is_empty() => {
                        *full = false;
                        let dropped = queue.counters().dropped;
                        log.change(
                            name,
                            &format!(
                                "the server keeps up again ({} dropped so far)",
                                format_frames(dropped, in_rate)
                            ),
                        );
                    }
                    _ => {}
                }
                Ok(())
            }
        }
    }
}

/// Opens the output, with the slot for the LAME tag frame when the encoder reserved one.
fn open_output(path: &Path, tag: bool) -> anyhow::Result<(Box<dyn Write>, String, Option<output::TagSlot>)> {
    if path.as_os_str() == "-" {
        let slot = if tag { Some(output::TagSlot::here(io::stdout().as_fd(), "stdout")?) } else { None };
        return Ok((Box::new(io::stdout().lock()), "stdout".to_string(), slot));
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("{}: create", path.display()))?;
    let name = path.display().to_string();
    let slot = if tag { Some(output::TagSlot::here(f.as_fd(), &name)?) } else { None };
    Ok((Box::new(io::BufWriter::with_capacity(64 * 1024, f)), name, slot))
}

/// Runs `vinyl-mp3-icecast` until its input ends, it is told to stop, or the server refuses
/// the credentials: validate, open, pump, finish.
pub fn run(opts: Opts) -> anyhow::Result<()> {
    let (spec, mut encoder) = validate(&opts)?;
    signals::install()?;
    let notifier = Arc::new(Mutex::new(Notifier::from_env()));
    let Opened { mut sink, sender, object } = match &opts.output {
        Some(path) => open_file(&opts, path, encoder.has_lame_tag(), &notifier)?,
        None => open_stream(&opts, &spec, &encoder, &notifier)?,
    };
    let result = pump(&mut encoder, &mut sink, &spec, &notifier);
    notifier.lock().unwrap_or_else(|p| p.into_inner()).stopping();
    let sender_result = match sender {
        Some(h) => {
            if let Sink::Stream { queue, .. } = &sink {
                queue.finish_input();
            }
            h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("sender thread panicked")))
        }
        None => Ok(()),
    };
    if let Some(sig) = signals::stop_signal_name() {
        vlog!(TOOL, "{object}: {sig}: stopped after flushing");
    }
    // After a fatal refusal the error line says it all.
    sender_result?;
    report(&object, &sink, &encoder, result.is_ok(), spec.rate);
    result
}

/// Checks the flags that need no file or network: the encoder's settings and the timeout.
fn validate(opts: &Opts) -> anyhow::Result<(PcmSpec, Mp3Encoder)> {
    let spec = opts.pcm.spec();
    let settings = Mp3Settings {
        rate_control: opts.vbr.map_or(RateControl::Cbr(opts.bitrate), RateControl::Vbr),
        quality: opts.quality,
        lame_tag: opts.output.as_deref().is_some_and(output::wants_lame_tag),
    };
    let encoder = Mp3Encoder::new(spec, settings).map_err(|e| UsageError::new(format!("{e:#}")))?;
    if encoder.out_rate() != spec.rate {
        vlog!(
            TOOL,
            "{} Hz is not an MP3 sample rate: LAME resamples to {} Hz",
            spec.rate,
            encoder.out_rate()
        );
    }
    opts.source.timeout(spec.rate)?;
    Ok((spec, encoder))
}

/// Where the encoded frames go, the sender thread when streaming, and the name for messages.
struct Opened {
    sink: Sink,
    sender: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    object: String,
}

/// `--output FILE` (or `-`): every frame is written there.
fn open_file(
    opts: &Opts,
    path: &Path,
    has_lame_tag: bool,
    notifier: &Mutex<Notifier>,
) -> anyhow::Result<Opened> {
    if opts.source.metadata_fifo.is_some() {
        return Err(UsageError::new("--metadata-fifo needs --url: titles go to a server, not a file").into());
    }
    let (w, name, tag) = open_output(path, has_lame_tag)?;
    let mut n = notifier.lock().unwrap_or_else(|p| p.into_inner());
    n.ready();
    n.status(&format!("writing {name}"));
    Ok(Opened { sink: Sink::Output { w, name: name.clone(), tag }, sender: None, object: name })
}

/// `--url`: checks the credentials and stream details, then starts the sender thread (and the
/// title thread with `--metadata-fifo`).
fn open_stream(
    opts: &Opts,
    spec: &PcmSpec,
    encoder: &Mp3Encoder,
    notifier: &Arc<Mutex<Notifier>>,
) -> anyhow::Result<Opened> {
    let url = opts.url.as_deref().ok_or_else(|| UsageError::new("give --url URL or --output FILE"))?;
    let source = opts.source.config(TOOL, url, spec.rate, "audio/mpeg", stream_info(opts, spec, encoder))?;
    let titles = opts.source.titles()?;
    let queue_len = opts.source.queue.wall_time(spec.rate).as_secs_f64() * encoder.out_rate() as f64;
    let queue = Arc::new(Queue::new(queue_len as u64));
    let link = Arc::new(sender::Link::default());
    let name = source.endpoint.to_string();
    let feed =
        titles.map(|titles| metadata::TitleFeed { titles, source: source.clone(), link: link.clone() });
    let s = sender::Sender {
        tool: TOOL,
        source,
        retry_max: opts.source.retry_max.wall_time(spec.rate),
        rate: spec.rate,
        queue: queue.clone(),
        link,
        notifier: notifier.clone(),
        restarts: None,
    };
    let handle = crate::signals::spawn_thread("sender", move || s.run())?;
    if let Some(feed) = feed {
        crate::signals::spawn_thread("titles", move || feed.run())?;
    }
    Ok(Opened {
        sink: Sink::Stream { queue, full: false, name: name.clone() },
        sender: Some(handle),
        object: name,
    })
}

/// Reads stdin to the end (or a stop), encoding and handing out every frame, then flushes.
fn pump(
    encoder: &mut Mp3Encoder,
    sink: &mut Sink,
    spec: &PcmSpec,
    notifier: &Mutex<Notifier>,
) -> anyhow::Result<()> {
    let mut log = StateLog::new(TOOL);
    let mut input = PcmInput::stdin(spec.frame_bytes())?;
    let output_mode = matches!(sink, Sink::Output { .. });
    input.pump(TOOL, READ_FRAMES, WAIT, |step| match step {
        Step::Tick => {
            if signals::take_report_request() {
                report_progress(sink, encoder, spec.rate);
            }
            if output_mode {
                notifier.lock().unwrap_or_else(|p| p.into_inner()).watchdog();
            }
            Ok(())
        }
        Step::Frames(pcm) => sink.put(&encoder.encode(pcm)?, &mut log, spec.rate),
    })?;
    let chunk = encoder.finish()?;
    sink.put(&chunk, &mut log, spec.rate)?;
    if let Sink::Output { w, name, tag } = sink {
        w.flush().with_context(|| format!("{name}: write"))?;
        if let Some(slot) = tag {
            slot.write(&encoder.lame_tag()?)?;
        }
    }
    Ok(())
}

fn report_progress(sink: &Sink, encoder: &Mp3Encoder, in_rate: u32) {
    match sink {
        Sink::Output { name, .. } => {
            vlog!(TOOL, "{name}: {} encoded so far", format_frames(encoder.frames_in(), in_rate));
        }
        Sink::Stream { queue, name, .. } => {
            vlog!(TOOL, "{name}: so far: {}", queue.counters().describe(in_rate));
        }
    }
}

/// The end-of-run line: what came in (frames at the input rate) and where it went. For a file,
/// in samples per channel of the MP3 (at its rate, which differs when LAME resamples): what a
/// decoder returns before, of and after the input.
fn report(object: &str, sink: &Sink, encoder: &Mp3Encoder, flushed: bool, in_rate: u32) {
    let rate = encoder.out_rate();
    let spec_in = encoder.frames_in();
    match sink {
        Sink::Output { tag, .. } if flushed => {
            let (delay, padding) = (encoder.encoder_delay() as u64, encoder.encoder_padding() as u64);
            let (input, mut total, dec) =
                (encoder.input_samples_out(), encoder.samples_out(), DECODER_DELAY as u64);
            let resampled = if rate == in_rate { String::new() } else { format!(" at {in_rate} Hz") };
            let timing = if tag.is_some() {
                total -= encoder.samples_per_frame() as u64;
                format!(
                    " after a LAME tag frame; a gapless decoder returns the input's {input} samples exactly (the \
                     tag gives {delay} encoder delay and {padding} padding)"
                )
            } else {
                format!(
                    "; a decoder returns {} samples before the input ({delay} encoder delay + {dec} decoder \
                     delay), the input's {input} samples, then {} after ({padding} padding - {dec})",
                    delay + dec,
                    padding.saturating_sub(dec)
                )
            };
            vlog!(
                TOOL,
                "{object}: done: {spec_in} frames in{resampled}; MP3 of {total} samples at {rate} Hz{timing}"
            );
        }
        Sink::Output { .. } => {}
        Sink::Stream { queue, .. } => {
            let c = queue.counters();
            vlog!(
                TOOL,
                "{object}: done: {spec_in} frames in ({}); of them sent {} frames, discarded {} frames \
                 while disconnected, dropped {} frames while the server stalled ({} / {} / {})",
                format_frames(spec_in, in_rate),
                c.sent,
                c.discarded,
                c.dropped,
                format_frames(c.sent, in_rate),
                format_frames(c.discarded, in_rate),
                format_frames(c.dropped, in_rate)
            );
        }
    }
}

/// The `ice-*` values only this tool has, from its flags and the encoder's actual rate.
fn stream_info(opts: &Opts, spec: &PcmSpec, encoder: &Mp3Encoder) -> StreamInfo {
    let mut audio_info = format!("ice-samplerate={};ice-channels={}", encoder.out_rate(), spec.channels);
    let bitrate = match opts.vbr {
        None => {
            audio_info.push_str(&format!(";ice-bitrate={}", opts.bitrate));
            Some(opts.bitrate)
        }
        Some(q) => {
            audio_info.push_str(&format!(";ice-quality={q}"));
            None
        }
    };
    StreamInfo {
        genre: opts.genre.clone(),
        url: opts.homepage.clone(),
        bitrate,
        audio_info,
        ..Default::default()
    }
}
