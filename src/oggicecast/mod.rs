//! `vinyl-ogg-icecast`: raw PCM on stdin → Ogg FLAC or Ogg Opus → an Icecast2 mount.
//!
//! Owns the Ogg stream's life: when a logical stream begins and ends, its serial numbers, its
//! header pages and its pages of audio (`Streams`), and the tool's end-of-run accounting. The
//! main thread reads stdin in whole frames at the capture's pace and encodes continuously (the
//! codec mappings: [`flac`], [`opus`]); it never waits for the network. Pages go through the
//! shared bounded [`crate::icecast::queue`] to the shared [`crate::icecast::sender`] thread,
//! which reconnects forever, exactly as for `vinyl-mp3-icecast`.
//!
//! A listener can only start an Ogg stream at its header pages, so every connection begins a new
//! logical stream: the sender asks for one ([`crate::icecast::sender::Restarts`]) and skips what
//! comes before it; this side ends the current stream (EOS) and begins the next with a new serial
//! number, page sequence 0, BOS and its headers. Icecast 2.4 keeps those header pages and sends
//! them first to each listener who joins later.
//!
//! Titles (`--metadata-fifo`) reach listeners as Vorbis comments by chaining: the current stream
//! ends (EOS) and the next begins with TITLE in its comments, the Ogg way to change tags (RFC
//! 3533's chained streams). Icecast 2.4 refuses `/admin/metadata` for an Ogg mount that is not
//! Vorbis, and takes the title shown in its status from the comments of each chained stream it
//! parses; ffmpeg and browsers play on across the chain. The FLAC audio stays contiguous across
//! a chain: the old stream's last, shorter frame ends where the new stream's first begins.
//!
//! How it ends: end of input or SIGTERM/SIGINT/SIGHUP → end the stream (EOS), send what is left,
//! close, exit 0. Wrong credentials → exit 1 naming the status and the mount. Usage errors (no
//! URL, no password, credentials in the URL, a rate the codec cannot take) → exit 2. It never
//! prints the password.

pub mod cli;
pub mod flac;
pub mod opus;

pub use cli::Opts;

use crate::cli::UsageError;
use crate::icecast::queue::{Pushed, Queue};
use crate::icecast::sender::{self, Restarts};
use crate::icecast::titles::TitleReader;
use crate::icecast::{SourceConfig, StreamInfo};
use crate::input::{PcmInput, Step};
use crate::log::StateLog;
use crate::notify::Notifier;
use crate::ogg::PageWriter;
use crate::pcm::{PcmSpec, format_frames};
use crate::{signals, vlog};
use cli::Codec as CodecKind;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The tool's name at the start of every log line.
pub const TOOL: &str = "vinyl-ogg-icecast";

/// PCM frames read from stdin at most per read (about 85 ms at 48 kHz).
const READ_FRAMES: usize = 4096;

/// How long one wait for input lasts: how soon a stop or a title is seen while the input is quiet.
const WAIT: Duration = Duration::from_millis(250);

/// One encoded packet and the granule position at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The packet's bytes.
    pub data: Vec<u8>,
    /// The granule position at the packet's end (samples per channel, at 48 kHz for Opus).
    pub granule: u64,
}

/// One logical stream's encoder, as an Ogg mapping sees it.
pub trait Codec {
    /// The header packets: the first goes alone on the BOS page, the rest on the pages after it.
    fn headers(&self) -> Vec<Vec<u8>>;
    /// Encodes interleaved PCM of the input's shape (whole frames, any number).
    fn push(&mut self, pcm: &[u8]) -> anyhow::Result<Vec<Packet>>;
    /// Encodes what is pending; the stream ends with these packets.
    fn finish(&mut self) -> anyhow::Result<Vec<Packet>>;
}

/// What every logical stream is made of.
#[derive(Debug, Clone)]
struct Shape {
    spec: PcmSpec,
    codec: CodecKind,
    bitrate_bps: u32,
    complexity: u8,
}

impl Shape {
    fn codec(&self, comments: &[(String, String)]) -> anyhow::Result<Box<dyn Codec>> {
        Ok(match self.codec {
            CodecKind::Flac => Box::new(flac::OggFlac::new(self.spec, comments)?),
            CodecKind::Opus => {
                Box::new(opus::OggOpus::new(&self.spec, self.bitrate_bps, self.complexity, comments)?)
            }
        })
    }

    /// Checks that the codec takes this PCM, as a usage error.
    fn validate(&self) -> anyhow::Result<()> {
        self.codec(&[]).map(drop).map_err(|e| UsageError::new(format!("{e:#}")).into())
    }
}

/// A logical stream in progress.
struct Live {
    codec: Box<dyn Codec>,
    pages: PageWriter,
}

/// The main thread's side: begins, feeds and ends logical streams and hands their pages over.
struct Streams {
    shape: Shape,
    queue: Arc<Queue>,
    restarts: Arc<Restarts>,
    live: Option<Live>,
    /// The restart requests already served.
    restarts_seen: u64,
    next_serial: u32,
    /// Input frames read so far: where the next frame is.
    pos: u64,
    /// Input frames read since the last non-empty chunk (counted with the next one).
    carry: u64,
    title: Option<String>,
    title_changed: bool,
    full: bool,
    log: StateLog,
    name: String,
}

impl Streams {
    /// Encodes `pcm` into the current stream, first ending it and beginning the next when a
    /// new connection or a new title asks for it.
    fn feed(&mut self, pcm: &[u8]) -> anyhow::Result<()> {
        let asked = self.restarts.asked();
        if asked != self.restarts_seen || self.title_changed {
            self.restarts_seen = asked;
            self.title_changed = false;
            self.end()?;
        }
        let mut data = Vec::new();
        let start = self.live.is_none().then_some(self.restarts_seen);
        if start.is_some() {
            self.begin(&mut data)?;
        }
        let live = self.live.as_mut().expect("a stream has begun");
        let packets = live.codec.push(pcm)?;
        if !packets.is_empty() {
            write_packets(&mut live.pages, &packets, false, &mut data);
        }
        let frames = (pcm.len() / self.shape.spec.frame_bytes()) as u64;
        self.pos += frames;
        self.put(data, frames, start);
        Ok(())
    }

    /// Ends the current stream, if any: its last packets on a page with EOS.
    fn end(&mut self) -> anyhow::Result<()> {
        let Some(mut live) = self.live.take() else { return Ok(()) };
        let packets = live.codec.finish()?;
        let mut data = Vec::new();
        write_packets(&mut live.pages, &packets, true, &mut data);
        self.put(data, 0, None);
        Ok(())
    }

    /// Begins a stream: a new codec and serial, the header pages into `data`.
    fn begin(&mut self, data: &mut Vec<u8>) -> anyhow::Result<()> {
        let comments: Vec<(String, String)> =
            self.title.iter().map(|t| ("TITLE".to_string(), t.clone())).collect();
        let codec = self.shape.codec(&comments)?;
        let mut pages = PageWriter::new(self.next_serial);
        self.next_serial = self.next_serial.wrapping_add(1);
        let headers = codec.headers();
        pages.write(&[(&headers[0], 0)], false, data);
        let rest: Vec<(&[u8], u64)> = headers[1..].iter().map(|h| (h.as_slice(), 0)).collect();
        pages.write(&rest, false, data);
        vlog!(
            TOOL,
            "{}: Ogg stream {:08x} begins at input frame {} ({})",
            self.name,
            pages.serial(),
            self.pos,
            format_frames(self.pos, self.shape.spec.rate)
        );
        self.live = Some(Live { codec, pages });
        Ok(())
    }

    /// Hands a chunk to the sender. A stream whose beginning was dropped (the server too slow)
    /// begins again, since its pages mean nothing without their headers.
    fn put(&mut self, data: Vec<u8>, frames: u64, start: Option<u64>) {
        let frames = frames + std::mem::take(&mut self.carry);
        if data.is_empty() {
            self.carry = frames;
            return;
        }
        match self.queue.push_chunk(&data, frames, frames, start) {
            Pushed::Dropped => {
                if start.is_some() {
                    self.live = None;
                }
                if !self.full {
                    self.full = true;
                    self.log.change(&self.name, "the server takes data too slowly: dropping whole pages");
                }
            }
            Pushed::Queued if self.full => {
                self.full = false;
                let dropped = format_frames(self.queue.counters().dropped, self.shape.spec.rate);
                self.log.change(&self.name, &format!("the server keeps up again ({dropped} dropped so far)"));
            }
            _ => {}
        }
    }

    fn set_title(&mut self, title: &str) {
        if self.title.as_deref() != Some(title) {
            self.title = Some(title.to_string());
            self.title_changed = true;
            vlog!(TOOL, "{}: title {title:?}: chaining a new Ogg stream", self.name);
        }
    }
}

/// Pages holding `packets`, the last page ending with them (EOS when `eos`).
fn write_packets(pages: &mut PageWriter, packets: &[Packet], eos: bool, out: &mut Vec<u8>) {
    let refs: Vec<(&[u8], u64)> = packets.iter().map(|p| (p.data.as_slice(), p.granule)).collect();
    pages.write(&refs, eos, out);
}

/// Runs `vinyl-ogg-icecast` until its input ends, it is told to stop, or the server refuses the
/// credentials: validate, start the sender, pump, finish.
pub fn run(opts: Opts) -> anyhow::Result<()> {
    let shape = Shape {
        spec: opts.pcm.spec(),
        codec: opts.codec,
        bitrate_bps: opts.bitrate as u32 * 1000,
        complexity: opts.complexity,
    };
    shape.validate()?;
    let source = source_config(&opts, &shape)?;
    let titles = opts.source.titles()?;
    signals::install()?;
    let notifier = Arc::new(Mutex::new(Notifier::from_env()));
    let queue = Arc::new(Queue::new(opts.source.queue.frames(shape.spec.rate)));
    let restarts = Arc::new(Restarts::default());
    let name = source.endpoint.to_string();
    let s = sender::Sender {
        tool: TOOL,
        source,
        retry_max: opts.source.retry_max.wall_time(shape.spec.rate),
        rate: shape.spec.rate,
        queue: queue.clone(),
        link: Arc::new(sender::Link::default()),
        notifier: notifier.clone(),
        restarts: Some(restarts.clone()),
    };
    let handle = signals::spawn_thread("sender", move || s.run())?;
    let mut streams = Streams {
        shape,
        queue: queue.clone(),
        restarts,
        live: None,
        restarts_seen: 0,
        next_serial: first_serial(),
        pos: 0,
        carry: 0,
        title: None,
        title_changed: false,
        full: false,
        log: StateLog::new(TOOL),
        name: name.clone(),
    };
    let result = pump(&mut streams, titles);
    notifier.lock().unwrap_or_else(|p| p.into_inner()).stopping();
    queue.finish_input();
    let sender_result = handle.join().unwrap_or_else(|_| Err(anyhow::anyhow!("sender thread panicked")));
    if let Some(sig) = signals::stop_signal_name() {
        vlog!(TOOL, "{name}: {sig}: stopped after flushing");
    }
    sender_result?;
    report(&name, &queue, streams.shape.spec.rate);
    result
}

/// The server, credentials and headers from the flags (and the codec's URL key), as usage errors.
fn source_config(opts: &Opts, shape: &Shape) -> anyhow::Result<SourceConfig> {
    // A zero --timeout is named before a missing URL.
    opts.source.timeout(shape.spec.rate)?;
    let url = match &opts.url {
        Some(u) => u.clone(),
        None => std::env::var(opts.codec.url_key())
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| UsageError::new(format!("give --url URL or set {}", opts.codec.url_key())))?,
    };
    opts.source.config(TOOL, &url, shape.spec.rate, "audio/ogg", stream_info(opts, shape))
}

/// The last line: what came in and where it went (sent + discarded + dropped = encoded).
fn report(name: &str, queue: &Queue, rate: u32) {
    vlog!(TOOL, "{name}: {}", queue.counters().describe(rate));
}

/// A serial number unlikely to repeat one a listener saw from an earlier run.
fn first_serial() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (nanos.subsec_nanos() ^ (nanos.as_secs() as u32).rotate_left(16)) ^ std::process::id()
}

/// The `ice-*` values the codec gives.
fn stream_info(opts: &Opts, shape: &Shape) -> StreamInfo {
    let (rate, bitrate) = match shape.codec {
        CodecKind::Flac => (shape.spec.rate, None),
        CodecKind::Opus => (48_000, Some(opts.bitrate)),
    };
    let mut audio_info = format!("ice-samplerate={rate};ice-channels={}", shape.spec.channels);
    if let Some(b) = bitrate {
        audio_info.push_str(&format!(";ice-bitrate={b}"));
    }
    StreamInfo { bitrate, audio_info, ..Default::default() }
}

/// Reads stdin to the end (or a stop), encoding every frame and following the titles, then ends
/// the stream.
fn pump(streams: &mut Streams, mut titles: Option<TitleReader>) -> anyhow::Result<()> {
    let mut input = PcmInput::stdin(streams.shape.spec.frame_bytes())?;
    input.pump(TOOL, READ_FRAMES, WAIT, |step| {
        match step {
            Step::Tick => {
                if let Some(t) = titles.as_mut() {
                    match t.poll() {
                        Ok(true) => streams.set_title(t.title().unwrap_or_default()),
                        Ok(false) => {}
                        Err(e) => {
                            vlog!(TOOL, "{e:#}; titles stop here");
                            titles = None;
                        }
                    }
                }
            }
            Step::Frames(pcm) => streams.feed(pcm)?,
        }
        Ok(())
    })?;
    streams.end()
}
