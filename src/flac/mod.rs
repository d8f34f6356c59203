//! Streaming FLAC writer over flacenc: PCM in, a valid FLAC file out, frame by frame.
//!
//! Owns the FLAC side of recording: the compression levels ([`level_config`], chosen by
//! measurement, see [`LEVELS`]), the file header (STREAMINFO, VORBIS_COMMENT, PADDING), the
//! encoder loop ([`FlacWriter`]: one flacenc frame per block of 4096 samples, written as soon as
//! it is encoded, so memory stays bounded whatever the length; for stereo, the channel coding is
//! picked by estimate before encoding, which halves flacenc's work; a frame flacenc made larger
//! than verbatim is coded again without prediction, `plain_config`, as its Rice estimate
//! saturates on large residuals), the STREAMINFO patch at the end,
//! the repair of a file that was cut short ([`recover`]), and reading a finished file's length and
//! tags back ([`probe`]), and the one naming rule every tool shares: a recording in progress is
//! `FILE.part` ([`part_path`]). The byte-level container details live in [`mod@format`]. It does not
//! read stdin, choose file names or handle signals: that is [`crate::flacrec`].
//!
//! How it fails: the writer is modelled on hound. A flush is a checkpoint: the output is a
//! readable FLAC stream up to the last complete frame at that point (STREAMINFO still says
//! "length and MD5 unknown", which decoders accept). [`FlacWriter::finalize`] consumes the writer,
//! encodes the last partial block, patches STREAMINFO and syncs; its error is the one that
//! counts. When a write fails (disk full, file too large, I/O error), the writer truncates the
//! output to the last complete frame, patches STREAMINFO to describe exactly what is there and
//! syncs, so the audio already written stays a valid file, then returns the error; every later
//! call fails. Dropping an unfinished writer finalizes it on a best-effort basis.

pub mod cuesheet;
pub mod decode;
pub mod format;
pub mod frames;
pub mod loudness;
pub mod meta;
pub mod probe;
pub mod recover;
pub mod split;

use anyhow::{Context as _, anyhow, bail};
use flacenc::bitsink::ByteSink;
use flacenc::component::{BitRepr, MetadataBlockData, Stream, StreamInfo};
use flacenc::config;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};
use format::StreamInfoFields;
use std::io::{self, Write};

use crate::pcm::PcmSpec;

/// Samples per channel in every FLAC frame but the last (4096, as `flac -3` and above use; the
/// measurements in [`LEVELS`] found no gain in other sizes).
pub const BLOCK_SIZE: usize = 4096;

/// Default size of the PADDING block in bytes (8 KiB), room to edit tags later in place.
pub const DEFAULT_PADDING: usize = 8192;

/// Highest sample rate flacenc 0.5.1 encodes (Hz).
pub const MAX_RATE: u32 = 96_000;

/// The compression level used when none is given: fixed predictors, `flac -2`'s size at 1.4× its
/// CPU (0.08 CPU-s per minute of audio here). Level 5 reaches `flac -5`'s size for 2.6× that CPU;
/// a finished archive can always be recompressed later, when the machine is idle.
pub const DEFAULT_LEVEL: u8 = 1;

/// One row of the level table: what `--compression N` means.
#[derive(Clone, Copy, Debug)]
pub struct LevelInfo {
    /// The level, 0..8.
    pub level: u8,
    /// Highest LPC order tried; 0 = fixed predictors only.
    pub lpc_order: usize,
    /// Highest fixed predictor order tried (0..4).
    pub fixed_order: usize,
    /// A short description for docs and logs.
    pub summary: &'static str,
}

/// The level table. Measured with `scripts/bench.d/40-flac` (2026-12-07, commit 4ac531b) on the
/// bench's 60 s of 48 kHz stereo music five times over (one core of this machine, quiet; CPU
/// seconds per minute of audio, sizes against `flac -5`; in the same run `flac -0` took 0.052 s
/// at +37.0 %, `flac -2` 0.060 s at +27.3 %, `flac -5` 0.112 s, `flac -8` 0.212 s at −4.9 %).
/// Levels 0..7 pick the stereo coding by estimate ([`EXHAUSTIVE_STEREO_LEVEL`]); level 8 lets
/// flacenc try all four.
///
/// | level | predictors | CPU s / min | size vs flac -5 |
/// |-------|------------|-------------|-----------------|
/// | 0 | fixed, order ≤ 2 | 0.074 | +29.9 % |
/// | 1 | fixed, order ≤ 4 (default) | 0.082 | +27.1 % (flac -2: +27.3 %) |
/// | 2 | LPC order 3 | 0.15 | +22.1 % |
/// | 3 | LPC order 4 | 0.17 | +18.2 % |
/// | 4 | LPC order 6 | 0.19 | +7.4 % |
/// | 5 | LPC order 8 | 0.21 | +0.0 % |
/// | 6 | LPC order 10 (flacenc's default) | 0.24 | −3.3 % |
/// | 7 | LPC order 12 | 0.28 | −4.2 % |
/// | 8 | LPC order 16, exhaustive stereo | 0.60 | −5.5 % |
pub const LEVELS: [LevelInfo; 9] = [
    LevelInfo { level: 0, lpc_order: 0, fixed_order: 2, summary: "fixed predictors up to order 2" },
    LevelInfo { level: 1, lpc_order: 0, fixed_order: 4, summary: "fixed predictors up to order 4" },
    LevelInfo { level: 2, lpc_order: 3, fixed_order: 4, summary: "LPC order 3" },
    LevelInfo { level: 3, lpc_order: 4, fixed_order: 4, summary: "LPC order 4" },
    LevelInfo { level: 4, lpc_order: 6, fixed_order: 4, summary: "LPC order 6" },
    LevelInfo { level: 5, lpc_order: 8, fixed_order: 4, summary: "LPC order 8" },
    LevelInfo { level: 6, lpc_order: 10, fixed_order: 4, summary: "LPC order 10" },
    LevelInfo { level: 7, lpc_order: 12, fixed_order: 4, summary: "LPC order 12" },
    LevelInfo { level: 8, lpc_order: 16, fixed_order: 4, summary: "LPC order 16" },
];

/// Maps flacenc's errors (which hold `Rc` and are not `Send`) to an `anyhow` error by message.
fn fe<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> anyhow::Error {
    move |e| anyhow!("{what}: {e}")
}

/// A recording in progress: `FILE` + `.part` (renamed to `FILE` when it is finished), for the
/// recorder and everyone who looks for a recording in progress.
pub fn part_path(output: &std::path::Path) -> std::path::PathBuf {
    let mut s = std::ffi::OsString::from(output.as_os_str());
    s.push(".part");
    std::path::PathBuf::from(s)
}

/// The flacenc configuration of `--compression level` (0..8). Single-threaded: the recorder is
/// one of several processes sharing a small machine.
pub fn level_config(level: u8) -> anyhow::Result<Verified<config::Encoder>> {
    let info = LEVELS.get(level as usize).ok_or_else(|| anyhow!("compression level {level} is not 0..8"))?;
    let mut cfg = config::Encoder::default();
    cfg.block_size = BLOCK_SIZE;
    cfg.multithread = false;
    cfg.subframe_coding.fixed.max_order = info.fixed_order;
    cfg.subframe_coding.use_lpc = info.lpc_order > 0;
    if info.lpc_order > 0 {
        cfg.subframe_coding.qlpc.lpc_order = info.lpc_order;
    }
    cfg.into_verified().map_err(|(_, e)| anyhow!("flacenc configuration of level {level}: {e}"))
}

/// The configuration a frame falls back to when the level's made it larger than verbatim:
/// constant or verbatim subframes only (no predictor, no Rice code).
fn plain_config() -> anyhow::Result<Verified<config::Encoder>> {
    let mut cfg = config::Encoder::default();
    cfg.block_size = BLOCK_SIZE;
    cfg.multithread = false;
    cfg.subframe_coding.use_fixed = false;
    cfg.subframe_coding.use_lpc = false;
    cfg.into_verified().map_err(|(_, e)| anyhow!("flacenc configuration without prediction: {e}"))
}

/// Where a [`FlacWriter`] writes: an append-only byte sink that can also patch earlier bytes,
/// make its content durable and cut itself short. Implemented for files and in-memory cursors.
pub trait Sink: Write {
    /// Overwrites `buf.len()` bytes at `offset` (inside what was already written).
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (fdatasync for a file).
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the content to `len` bytes; later writes append at the new end.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl Sink for std::fs::File {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, buf, offset)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        use std::io::Seek;
        self.set_len(len)?;
        self.seek(io::SeekFrom::Start(len)).map(|_| ())
    }
}

/// A borrowed sink, so the caller keeps its file or buffer after [`FlacWriter::finalize`].
impl<S: Sink + ?Sized> Sink for &mut S {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        (**self).write_at(offset, buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        (**self).truncate(len)
    }
}

impl Sink for io::Cursor<Vec<u8>> {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let start = offset as usize;
        let v = self.get_mut();
        if start + buf.len() > v.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "write_at past the end"));
        }
        v[start..start + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.get_mut().truncate(len as usize);
        self.set_position(len);
        Ok(())
    }
}

/// What a finished (or salvaged) file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// PCM frames (samples per channel) in the file, e.g. 480000 for 10 s at 48 kHz.
    pub samples: u64,
    /// FLAC frames in the file.
    pub frames: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// MD5 of the PCM as recorded in STREAMINFO.
    pub md5: [u8; 16],
}

/// Options of a [`FlacWriter`] beyond the PCM shape.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Compression level 0..8 (see [`LEVELS`]); [`DEFAULT_LEVEL`] by default.
    pub level: u8,
    /// VORBIS_COMMENT entries, written in this order.
    pub tags: Vec<(String, String)>,
    /// The VORBIS_COMMENT vendor string, e.g. `vinyl 0.1.0 (flacenc 0.5.1)`.
    pub vendor: String,
    /// Bytes of PADDING after the tags ([`DEFAULT_PADDING`]); 0 for none.
    pub padding: usize,
    /// Whether to compute the MD5 of the PCM for STREAMINFO (true by default). A live stream,
    /// whose header is sent before any audio, leaves it "unknown" and saves the hashing (about
    /// a ninth of the encoder's instructions at the default level).
    pub md5: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            level: DEFAULT_LEVEL,
            tags: Vec::new(),
            vendor: vendor_string(),
            padding: DEFAULT_PADDING,
            md5: true,
        }
    }
}

/// `vinyl 0.1.0 (flacenc 0.5.1)`: the vendor string of vinyl's files.
pub fn vendor_string() -> String {
    format!("vinyl {} (flacenc {})", env!("CARGO_PKG_VERSION"), flacenc::constant::build_info::CRATE_VERSION)
}

/// Encodes interleaved little-endian PCM to FLAC, frame by frame, into a [`Sink`].
///
/// Memory is bounded by one block of samples and one encoded frame, whatever the length.
#[derive(Debug)]
pub struct FlacWriter<W: Sink> {
    sink: W,
    /// Set by [`FlacWriter::finalize`]: nothing more may be written, and `Drop` has nothing to do.
    finalized: bool,
    spec: PcmSpec,
    config: Verified<config::Encoder>,
    /// The fallback for a frame `config` made larger than verbatim ([`plain_config`]).
    plain: Verified<config::Encoder>,
    info: StreamInfo,
    framebuf: FrameBuf,
    /// The estimated stereo decorrelation (levels below 8 of stereo input).
    stereo: Option<Box<StereoCoder>>,
    /// MD5 of the frames completely written (nothing else); `None` without [`WriterOptions::md5`].
    committed: Option<Context>,
    /// PCM frames in the frames completely written.
    samples: u64,
    /// PCM bytes of the block being gathered (less than a block).
    pending: Vec<u8>,
    out: ByteSink,
    frames: u64,
    min_frame: u32,
    max_frame: u32,
    /// Offset just after the last complete frame.
    end: u64,
    broken: bool,
}

impl<W: Sink> FlacWriter<W> {
    /// Writes the FLAC header (STREAMINFO with length and MD5 "unknown", the tags, the padding)
    /// to `sink` and returns a writer ready for PCM of shape `spec` (16 or 24 bit, 1..8 channels,
    /// at most [`MAX_RATE`] Hz).
    pub fn new(mut sink: W, spec: PcmSpec, opts: &WriterOptions) -> anyhow::Result<Self> {
        if spec.rate > MAX_RATE {
            bail!("{} Hz is above the {MAX_RATE} Hz flacenc can encode", spec.rate);
        }
        let config = level_config(opts.level)?;
        let bits = spec.format.bits() as usize;
        let channels = spec.channels as usize;
        let mut info = StreamInfo::new(spec.rate as usize, channels, bits).map_err(fe("STREAMINFO"))?;
        info.set_block_sizes(BLOCK_SIZE, BLOCK_SIZE).map_err(fe("STREAMINFO"))?;
        info.set_frame_sizes(0, 0).map_err(fe("STREAMINFO"))?;

        let mut stream = Stream::with_stream_info(info.clone());
        let comments = format::vorbis_comment(&opts.vendor, &opts.tags);
        if comments.len() >= 1 << 24 {
            bail!("the tags take {} bytes, more than a FLAC metadata block holds (16 MiB)", comments.len());
        }
        stream.add_metadata_block(
            MetadataBlockData::new_unknown(format::BLOCK_VORBIS_COMMENT, &comments)
                .map_err(fe("VORBIS_COMMENT"))?,
        );
        if opts.padding > 0 {
            stream.add_metadata_block(
                MetadataBlockData::new_unknown(
                    format::BLOCK_PADDING,
                    &vec![0u8; opts.padding.min((1 << 24) - 1)],
                )
                .map_err(fe("PADDING"))?,
            );
        }
        let mut header = ByteSink::new();
        stream.write(&mut header).map_err(fe("FLAC header"))?;
        sink.write_all(header.as_slice()).context("write FLAC header")?;
        Ok(FlacWriter {
            sink,
            finalized: false,
            spec,
            config,
            plain: plain_config()?,
            info,
            framebuf: FrameBuf::with_size(channels, BLOCK_SIZE).map_err(fe("frame buffer"))?,
            stereo: if channels == 2 && opts.level < EXHAUSTIVE_STEREO_LEVEL {
                Some(Box::new(StereoCoder::new(spec)?))
            } else {
                None
            },
            committed: opts.md5.then(|| Context::new(bits, channels)),
            samples: 0,
            pending: Vec::with_capacity(BLOCK_SIZE * spec.frame_bytes()),
            out: ByteSink::new(),
            frames: 0,
            min_frame: u32::MAX,
            max_frame: 0,
            end: header.as_slice().len() as u64,
            broken: false,
        })
    }

    /// PCM frames (samples per channel) in complete FLAC frames written so far.
    pub fn samples_written(&self) -> u64 {
        self.samples
    }

    /// Encodes `pcm` (whole frames of interleaved little-endian samples of this writer's
    /// format), writing every block completed. A partial block stays pending until more PCM
    /// arrives or [`FlacWriter::finalize`].
    pub fn write_pcm(&mut self, mut pcm: &[u8]) -> Result<(), WriteError> {
        self.check_usable()?;
        let fb = self.spec.frame_bytes();
        if pcm.len() % fb != 0 {
            return Err(
                anyhow!("{} bytes of PCM is not a whole number of {fb}-byte frames", pcm.len()).into()
            );
        }
        let block_bytes = BLOCK_SIZE * fb;
        if !self.pending.is_empty() {
            let take = (block_bytes - self.pending.len()).min(pcm.len());
            self.pending.extend_from_slice(&pcm[..take]);
            pcm = &pcm[take..];
            if self.pending.len() == block_bytes {
                let block = std::mem::take(&mut self.pending);
                let result = self.encode_block(&block);
                self.pending = block;
                self.pending.clear();
                result?;
            }
        }
        while pcm.len() >= block_bytes {
            self.encode_block(&pcm[..block_bytes])?;
            pcm = &pcm[block_bytes..];
        }
        self.pending.extend_from_slice(pcm);
        Ok(())
    }

    /// A checkpoint: makes every complete frame written so far durable. The output is then a
    /// valid FLAC stream up to that frame (length and MD5 still "unknown" in STREAMINFO).
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.check_usable()?;
        if let Err(e) = self.sink.flush().and_then(|()| self.sink.sync()) {
            return Err(self.fail(e, "sync"));
        }
        Ok(())
    }

    /// Encodes the last partial block, patches STREAMINFO (total samples, MD5, frame sizes) and
    /// syncs. Returns what the file holds; the caller closes or renames the file through its own
    /// handle (a `&mut` sink, or a duplicate of the file).
    pub fn finalize(mut self) -> Result<Summary, WriteError> {
        self.finish()?;
        Ok(self.summary())
    }

    fn summary(&self) -> Summary {
        Summary { samples: self.samples_written(), frames: self.frames, bytes: self.end, md5: self.md5() }
    }

    fn finish(&mut self) -> Result<(), WriteError> {
        self.check_usable()?;
        if !self.pending.is_empty() {
            let block = std::mem::take(&mut self.pending);
            self.encode_block(&block)?;
        }
        if let Err(e) = self.patch_header() {
            return Err(self.fail(e, "patch STREAMINFO"));
        }
        if let Err(e) = self.sink.flush().and_then(|()| self.sink.sync()) {
            return Err(self.fail(e, "sync"));
        }
        self.finalized = true;
        Ok(())
    }

    fn check_usable(&self) -> Result<(), WriteError> {
        if self.broken || self.finalized {
            return Err(anyhow!("the FLAC writer stopped after an earlier failure or finalize").into());
        }
        Ok(())
    }

    /// The MD5 of the complete frames written so far; zeros ("unknown") when not computed.
    fn md5(&self) -> [u8; 16] {
        self.committed.as_ref().map_or([0; 16], Context::md5_digest)
    }

    /// The STREAMINFO describing the complete frames written so far.
    fn streaminfo(&self) -> StreamInfoFields {
        let samples = self.samples_written();
        StreamInfoFields {
            min_block_size: BLOCK_SIZE as u16,
            max_block_size: BLOCK_SIZE as u16,
            min_frame_size: if self.frames > 0 { self.min_frame } else { 0 },
            max_frame_size: self.max_frame,
            sample_rate: self.spec.rate,
            channels: self.spec.channels as u8,
            bits_per_sample: self.spec.format.bits() as u8,
            // 36 bits hold 16 days at 48 kHz; beyond, "unknown" is the honest value.
            total_samples: if samples < 1 << 36 { samples } else { 0 },
            md5: self.md5(),
        }
    }

    fn patch_header(&mut self) -> io::Result<()> {
        let bytes = self.streaminfo().to_bytes();
        self.sink.flush()?;
        self.sink.write_at(format::STREAMINFO_OFFSET, &bytes)
    }

    fn encode_block(&mut self, block: &[u8]) -> Result<(), WriteError> {
        let bps = self.spec.format.bytes();
        self.encode_frame(block, false)?;
        // The frame's samples as they are (a side channel takes a bit more), and its headers.
        let verbatim = block.len() / bps * (self.spec.format.bits() as usize + 1) / 8 + 1024;
        if self.out.as_slice().len() > verbatim {
            // flacenc 0.5.1's Rice estimate saturates on large residuals (loud 24-bit treble, a
            // click): it then picked a parameter that made a frame of 4,096 samples 33 MB, which
            // `flac` decodes but no reader should have to (vinyl's refuses frames past twice the
            // verbatim size). Without prediction the frame is at most verbatim.
            self.encode_frame(block, true)?;
        }
        let bytes = self.out.as_slice();
        if let Err(e) = self.sink.write_all(bytes) {
            return Err(self.fail(e, "write"));
        }
        let len = bytes.len() as u32;
        if let Some(md5) = self.committed.as_mut() {
            md5.fill_le_bytes(block, bps).map_err(fe("MD5"))?;
        }
        self.samples += (block.len() / self.spec.frame_bytes()) as u64;
        self.frames += 1;
        self.min_frame = self.min_frame.min(len);
        self.max_frame = self.max_frame.max(len);
        self.end += len as u64;
        Ok(())
    }

    /// Encodes `block` as the next frame into `self.out`, by the level's configuration or (`plain`)
    /// without prediction.
    fn encode_frame(&mut self, block: &[u8], plain: bool) -> Result<(), WriteError> {
        let config = if plain { &self.plain } else { &self.config };
        let frame = match self.stereo.as_mut() {
            Some(st) => st.encode(config, block, self.frames as u32)?,
            None => {
                self.framebuf.fill_le_bytes(block, self.spec.format.bytes()).map_err(fe("read PCM"))?;
                flacenc::encode_fixed_size_frame(config, &self.framebuf, self.frames as usize, &self.info)
                    .map_err(fe("encode"))?
            }
        };
        self.out.clear();
        frame.write(&mut self.out).map_err(fe("encode"))?;
        Ok(())
    }

    /// After a failed write: cut the output back to the last complete frame, describe exactly
    /// that in STREAMINFO and sync (best effort), then stop for good.
    fn fail(&mut self, cause: io::Error, step: &'static str) -> WriteError {
        self.broken = true;
        let end = self.end;
        let salvage = (|| -> io::Result<()> {
            let _ = self.sink.flush();
            self.sink.truncate(end)?;
            self.patch_header()?;
            self.sink.sync()
        })();
        WriteError::Output { step, cause, kept: self.summary(), repair: salvage.err() }
    }
}

/// The first level that lets flacenc try all four stereo codings of every frame (left/right,
/// left/side, right/side, mid/side) instead of picking one by estimate first.
pub const EXHAUSTIVE_STEREO_LEVEL: u8 = 8;

/// Stereo decorrelation by estimate, as libFLAC does: for each block, the size of the four
/// channels (left, right, mid, side) is estimated from their second-order fixed-predictor
/// residuals, the cheapest pair is chosen, and only those two channels are encoded (as mono
/// frames whose subframes are then put under one stereo header). flacenc alone encodes all four
/// channels and keeps the best pair: twice the work for about 0.1 % of size (measured on music).
#[derive(Debug)]
struct StereoCoder {
    spec: PcmSpec,
    /// Mono STREAMINFO at the sample size.
    info: StreamInfo,
    /// Mono STREAMINFO one bit wider, for the side channel.
    side_info: StreamInfo,
    bufs: [FrameBuf; 2],
    /// Left, right, mid, side of the block.
    ch: [Vec<i32>; 4],
}

impl StereoCoder {
    fn new(spec: PcmSpec) -> anyhow::Result<Self> {
        let bits = spec.format.bits() as usize;
        let mono = |b: usize| -> anyhow::Result<StreamInfo> {
            let mut i = StreamInfo::new(spec.rate as usize, 1, b).map_err(fe("STREAMINFO"))?;
            i.set_block_sizes(BLOCK_SIZE, BLOCK_SIZE).map_err(fe("STREAMINFO"))?;
            i.set_frame_sizes(0, 0).map_err(fe("STREAMINFO"))?;
            Ok(i)
        };
        let buf = || FrameBuf::with_size(1, BLOCK_SIZE).map_err(fe("frame buffer"));
        Ok(StereoCoder {
            spec,
            info: mono(bits)?,
            side_info: mono(bits + 1)?,
            bufs: [buf()?, buf()?],
            ch: std::array::from_fn(|_| Vec::with_capacity(BLOCK_SIZE)),
        })
    }

    /// Estimated bits of a channel from the sum of its absolute order-2 fixed-predictor
    /// residuals over `n` samples: n × log2(1 + mean).
    fn estimate(sum: u64, n: usize) -> f64 {
        let n = n.max(1) as f64;
        n * (1.0 + sum as f64 / n).log2()
    }

    /// Splits a block into left, right, mid and side and returns the sums of the absolute
    /// order-2 fixed-predictor residuals of the four (|residual| <= 2^27: no overflow).
    ///
    /// Plain index loops and slice windows, not long iterator chains: as fast when optimised,
    /// and still fast in the lightly optimised test builds, which push hours of audio through
    /// here. The four channels come out of one pass over the block; each sum is a second pass
    /// over one channel with no carried state but the total, which the compiler vectorises
    /// (the fused loop that indexed t-1 and t-2 of four arrays cost a seventh of an Ogg FLAC
    /// encoder's instructions).
    fn split(&mut self, block: &[u8]) -> [u64; 4] {
        let bytes = self.spec.format.bytes();
        let n = block.len() / (2 * bytes);
        for v in &mut self.ch {
            v.resize(n, 0);
        }
        let [l, r, m, s] = &mut self.ch;
        let (l, r, m, s) = (&mut l[..n], &mut r[..n], &mut m[..n], &mut s[..n]);
        let block = &block[..n * 2 * bytes];
        if bytes == 2 {
            for ((f, l), r) in block.chunks_exact(4).zip(l.iter_mut()).zip(r.iter_mut()) {
                *l = i16::from_le_bytes([f[0], f[1]]) as i32;
                *r = i16::from_le_bytes([f[2], f[3]]) as i32;
            }
        } else {
            for ((f, l), r) in block.chunks_exact(6).zip(l.iter_mut()).zip(r.iter_mut()) {
                *l = i32::from_le_bytes([0, f[0], f[1], f[2]]) >> 8;
                *r = i32::from_le_bytes([0, f[3], f[4], f[5]]) >> 8;
            }
        }
        for (((m, s), &l), &r) in m.iter_mut().zip(s.iter_mut()).zip(l.iter()).zip(r.iter()) {
            *m = (l + r) >> 1;
            *s = l - r;
        }
        [order2_sum(l), order2_sum(r), order2_sum(m), order2_sum(s)]
    }

    /// Encodes one block of interleaved stereo PCM as FLAC frame `number`.
    fn encode(
        &mut self,
        config: &Verified<config::Encoder>,
        block: &[u8],
        number: u32,
    ) -> anyhow::Result<flacenc::component::Frame> {
        use flacenc::component::{ChannelAssignment, Frame, FrameHeader, FrameOffset};
        let sums = self.split(block);
        let n = self.ch[0].len();
        let [el, er, em, es] = sums.map(|sum| Self::estimate(sum, n));
        let choices = [
            (el + er, ChannelAssignment::Independent(2), 0, 1),
            (el + es, ChannelAssignment::LeftSide, 0, 3),
            (er + es, ChannelAssignment::RightSide, 3, 1),
            (em + es, ChannelAssignment::MidSide, 2, 3),
        ];
        let (_, assignment, first, second) =
            choices.into_iter().min_by(|a, b| a.0.total_cmp(&b.0)).expect("four choices");
        let mut subframes = Vec::with_capacity(2);
        for (buf, idx) in self.bufs.iter_mut().zip([first, second]) {
            buf.fill_interleaved(&self.ch[idx]).map_err(fe("read PCM"))?;
            let info = if idx == 3 { &self.side_info } else { &self.info };
            let mono =
                flacenc::encode_fixed_size_frame(config, buf, number as usize, info).map_err(fe("encode"))?;
            subframes.extend(mono.into_parts().1);
        }
        let header = FrameHeader::new(
            self.ch[0].len(),
            assignment,
            self.spec.format.bits() as usize,
            self.spec.rate as usize,
            FrameOffset::Frame(number),
        )
        .map_err(fe("frame header"))?;
        Frame::new(header, subframes.into_iter()).map_err(fe("frame"))
    }
}

/// The sum of the absolute order-2 fixed-predictor residuals of `x` (from its third sample on).
fn order2_sum(x: &[i32]) -> u64 {
    let n = x.len();
    if n < 3 {
        return 0;
    }
    let (a, b, c) = (&x[..n - 2], &x[1..n - 1], &x[2..]);
    a.iter().zip(b).zip(c).map(|((&a, &b), &c)| (c - 2 * b + a).unsigned_abs() as u64).sum()
}

/// Why a [`FlacWriter`] call failed, for callers that tell the user what the file still holds.
#[derive(Debug)]
pub enum WriteError {
    /// Writing or syncing the output failed at `step` and the writer stopped for good. The output
    /// was cut back to the complete frames `kept` describes and STREAMINFO patched (a valid,
    /// finished file), unless `repair` says why that failed too.
    Output {
        /// The step: write, sync, patch STREAMINFO.
        step: &'static str,
        /// The output's error.
        cause: io::Error,
        /// The complete frames kept in the output.
        kept: Summary,
        /// Why cutting the output back and patching it failed; `None` when it worked.
        repair: Option<io::Error>,
    },
    /// Anything else: the encoder, PCM that is not whole frames, a writer already stopped.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for WriteError {
    fn from(e: anyhow::Error) -> Self {
        WriteError::Other(e)
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Output { step, cause, repair: None, .. } => write!(f, "{step}: {cause}"),
            WriteError::Output { step, cause, repair: Some(r), .. } => {
                write!(f, "{step}: {cause}, and repairing the file failed too ({r})")
            }
            WriteError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for WriteError {}

impl<W: Sink> Drop for FlacWriter<W> {
    fn drop(&mut self) {
        if !self.finalized && !self.broken {
            let _ = self.finish();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pcm::SampleFormat;
    use std::io::Cursor;
    use std::process::{Command, Stdio};

    /// `samples` frames of a quiet two-tone signal with a little noise (deterministic).
    pub(crate) fn tone(spec: &PcmSpec, samples: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(samples * spec.frame_bytes());
        let amp = if spec.format == SampleFormat::S16Le { 8000.0 } else { 2_000_000.0 };
        let mut seed = 0x1234_5678u32;
        for n in 0..samples {
            for ch in 0..spec.channels as usize {
                let t = n as f64 / spec.rate as f64;
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = ((seed >> 16) as f64 / 65536.0 - 0.5) * amp * 0.01;
                let v = amp
                    * (0.6 * (t * 440.0 * (1.0 + ch as f64 * 0.01) * std::f64::consts::TAU).sin()
                        + 0.3 * (t * 1234.5 * std::f64::consts::TAU).sin())
                    + noise;
                let v = v as i32;
                out.extend_from_slice(&v.to_le_bytes()[..spec.format.bytes()]);
            }
        }
        out
    }

    /// Writes `pcm` as the finished FLAC file `path`: the one maker of the tests' files.
    pub(crate) fn write_file(path: &std::path::Path, spec: PcmSpec, opts: &WriterOptions, pcm: &[u8]) {
        let mut w = FlacWriter::new(std::fs::File::create(path).unwrap(), spec, opts).unwrap();
        w.write_pcm(pcm).unwrap();
        w.finalize().unwrap();
    }

    /// Runs the reference `flac` with `args` and `input` on its stdin (fed from a thread, so a
    /// large output cannot block it), returning what it printed.
    pub(crate) fn run_flac(args: &[&str], input: &[u8]) -> std::process::Output {
        let mut child = Command::new("flac")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run flac (install the flac package)");
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        out
    }

    /// Decodes FLAC bytes with the reference decoder (`flac -d`), returning raw PCM; panics with
    /// flac's stderr when it fails.
    pub(crate) fn flac_decode(flac: &[u8]) -> Vec<u8> {
        let args = ["-d", "-c", "-s", "--force-raw-format", "--endian=little", "--sign=signed", "-"];
        let out = run_flac(&args, flac);
        assert!(out.status.success(), "flac -d failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    fn encode(spec: PcmSpec, pcm: &[u8], level: u8, chunk: usize) -> (Summary, Vec<u8>) {
        let opts = WriterOptions { level, ..WriterOptions::default() };
        let mut out = Cursor::new(Vec::new());
        let mut w = FlacWriter::new(&mut out, spec, &opts).unwrap();
        for c in pcm.chunks(chunk * spec.frame_bytes()) {
            w.write_pcm(c).unwrap();
        }
        let summary = w.finalize().unwrap();
        (summary, out.into_inner())
    }

    #[test]
    fn every_level_has_a_valid_config() {
        for l in 0..=8 {
            level_config(l).unwrap();
        }
        assert!(level_config(9).is_err());
    }

    #[test]
    fn round_trips_exactly_through_the_reference_decoder() {
        let shapes = [
            (PcmSpec::default(), 3 * BLOCK_SIZE + 1, 1000),
            (PcmSpec { rate: 44_100, channels: 1, format: SampleFormat::S16Le }, 2 * BLOCK_SIZE, 4096),
            (PcmSpec { rate: 96_000, channels: 2, format: SampleFormat::S24_3Le }, BLOCK_SIZE + 77, 333),
            (PcmSpec { rate: 48_000, channels: 6, format: SampleFormat::S24_3Le }, 5, 1),
            (PcmSpec::default(), 0, 1),
        ];
        for (spec, samples, chunk) in shapes {
            let pcm = tone(&spec, samples);
            let (summary, bytes) = encode(spec, &pcm, DEFAULT_LEVEL, chunk);
            assert_eq!(summary.samples, samples as u64, "{spec}");
            assert_eq!(summary.bytes, bytes.len() as u64);
            let info = StreamInfoFields::parse(&bytes[8..42]).unwrap();
            assert_eq!(info.total_samples, samples as u64);
            assert_eq!((info.channels as u16, info.sample_rate), (spec.channels, spec.rate));
            assert_eq!(flac_decode(&bytes), pcm, "{spec}, {samples} samples");
        }
    }

    #[test]
    fn a_frame_flacenc_would_make_larger_than_verbatim_is_written_without_prediction() {
        // Loud 24-bit treble under music: flacenc 0.5.1 coded one such frame of 4,096 samples in
        // 33 MB (its Rice estimate saturated), beyond what vinyl's own decoder reads.
        let spec = PcmSpec { rate: 44_100, channels: 1, format: SampleFormat::S24_3Le };
        let samples = 24 * BLOCK_SIZE;
        let (mut pcm, mut seed) = (Vec::new(), 0x5EED_u64);
        for i in 0..samples {
            let t = i as f64 / 44_100.0;
            let env = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 0.3 * t).sin().abs();
            // Hiss at about -62 dBFS: a sum of uniform draws (xorshift).
            let mut hiss = 0.0;
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                hiss += (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            }
            let v = env
                * (0.08 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
                    + 0.02 * (2.0 * std::f64::consts::PI * 1760.0 * t).sin()
                    + 0.02 * (2.0 * std::f64::consts::PI * 12_000.0 * t).sin())
                + 0.0014 * hiss;
            pcm.extend_from_slice(&((v * f64::from(1 << 23)).round() as i32).to_le_bytes()[..3]);
        }
        let (_, bytes) = encode(spec, &pcm, DEFAULT_LEVEL, 4096);
        assert!(bytes.len() <= pcm.len() + 64 * 1024, "{} bytes for {} of PCM", bytes.len(), pcm.len());
        assert_eq!(flac_decode(&bytes), pcm);
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        let mut frames = frames::FrameReader::open(file.path()).unwrap();
        let mut n = 0;
        while let Some(b) = frames.next_block().unwrap() {
            n += b.len();
        }
        assert_eq!(n, samples, "vinyl's decoder reads it whole");
    }

    #[test]
    fn every_level_round_trips() {
        let spec = PcmSpec::default();
        let pcm = tone(&spec, 2 * BLOCK_SIZE + 10);
        let mut sizes = Vec::new();
        for level in 0..=8 {
            let (_, bytes) = encode(spec, &pcm, level, 4096);
            assert_eq!(flac_decode(&bytes), pcm, "level {level}");
            sizes.push(bytes.len());
        }
        assert!(sizes[8] < sizes[0], "higher levels compress better: {sizes:?}");
    }

    #[test]
    fn order2_sum_adds_the_absolute_second_differences_of_any_length() {
        for n in 0..3 {
            assert_eq!(order2_sum(&vec![7; n]), 0, "{n} samples have no second difference");
        }
        assert_eq!(order2_sum(&[0, 5, 0]), 10);
        assert_eq!(order2_sum(&[1, 2, 4, 8, -8]), 1 + 2 + 20);
        let full = [-(1 << 25), (1 << 25) - 1, -(1 << 25), (1 << 25) - 1];
        assert_eq!(order2_sum(&full), 2 * ((1u64 << 27) - 2), "a 26-bit side channel cannot overflow");
    }

    #[test]
    fn the_stereo_estimate_picks_each_coding_and_round_trips() {
        use flacenc::component::ChannelAssignment as C;
        let spec = PcmSpec::default();
        let mut seed = 99u32;
        let mut noise = |amp: i32| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as i32 % amp
        };
        // (left, right) per sample for: independent, left/side, right/side, mid/side.
        let mut pcm = Vec::new();
        for kind in 0..4 {
            for _ in 0..BLOCK_SIZE {
                // Margins of 10 % or more between the best estimate and the next.
                let (n, f, g) = (noise(5000), noise(5000), noise(3000));
                let (l, r) = match kind {
                    0 => (n, g),
                    1 => (n, n + f),
                    2 => (n + f, n),
                    _ => (n + f / 2, n - f / 2),
                };
                pcm.extend_from_slice(&(l as i16).to_le_bytes());
                pcm.extend_from_slice(&(r as i16).to_le_bytes());
            }
        }
        let mut coder = StereoCoder::new(spec).unwrap();
        let config = level_config(DEFAULT_LEVEL).unwrap();
        let got: Vec<C> = pcm
            .chunks(BLOCK_SIZE * 4)
            .enumerate()
            .map(|(i, b)| coder.encode(&config, b, i as u32).unwrap().header().channel_assignment().clone())
            .collect();
        assert_eq!(got, [C::Independent(2), C::LeftSide, C::RightSide, C::MidSide]);
        let (_, bytes) = encode(spec, &pcm, DEFAULT_LEVEL, 1000);
        assert_eq!(flac_decode(&bytes), pcm);
        // 24-bit stereo: the side channel takes 25 bits.
        let spec24 = PcmSpec { format: SampleFormat::S24_3Le, ..spec };
        let mut loud = Vec::new();
        for (i, f) in pcm.chunks(4).enumerate() {
            for ch in 0..2 {
                let v = i16::from_le_bytes([f[2 * ch], f[2 * ch + 1]]) as i32 * 256 + (i % 7) as i32;
                let v = if i % 1000 == 0 { if ch == 0 { (1 << 23) - 1 } else { -(1 << 23) } } else { v };
                loud.extend_from_slice(&v.to_le_bytes()[..3]);
            }
        }
        let (_, bytes) = encode(spec24, &loud, DEFAULT_LEVEL, 4096);
        assert_eq!(flac_decode(&bytes), loud);
    }

    #[test]
    fn md5_matches_the_input() {
        let spec = PcmSpec::default();
        let pcm = tone(&spec, 9000);
        let (summary, _) = encode(spec, &pcm, 0, 100);
        let mut ctx = Context::new(16, 2);
        ctx.fill_le_bytes(&pcm, 2).unwrap();
        assert_eq!(summary.md5, ctx.md5_digest());
    }

    #[test]
    fn without_md5_the_md5_is_unknown_and_the_samples_still_counted() {
        let spec = PcmSpec::default();
        let pcm = tone(&spec, 9000);
        let encode_with = |md5| {
            let opts = WriterOptions { md5, ..WriterOptions::default() };
            let mut w = FlacWriter::new(Cursor::new(Vec::new()), spec, &opts).unwrap();
            w.write_pcm(&pcm).unwrap();
            let s = w.finalize().unwrap();
            (s.samples, s.md5)
        };
        let (with, without) = (encode_with(true), encode_with(false));
        assert_eq!(without, (9000, [0; 16]));
        assert_eq!(with.0, 9000);
        assert_ne!(with.1, [0; 16]);
    }

    #[test]
    fn partial_frames_are_refused() {
        let spec = PcmSpec::default();
        let mut w = FlacWriter::new(Cursor::new(Vec::new()), spec, &WriterOptions::default()).unwrap();
        assert!(w.write_pcm(&[0u8; 6]).is_err());
    }

    #[test]
    fn rates_flacenc_cannot_encode_are_refused() {
        let spec = PcmSpec { rate: 192_000, ..PcmSpec::default() };
        let err = FlacWriter::new(Cursor::new(Vec::new()), spec, &WriterOptions::default()).unwrap_err();
        assert!(err.to_string().contains("96000"), "{err}");
    }

    #[test]
    fn a_flush_is_a_readable_checkpoint() {
        let spec = PcmSpec::default();
        let pcm = tone(&spec, 5 * BLOCK_SIZE + 500);
        let mut w = FlacWriter::new(Cursor::new(Vec::new()), spec, &WriterOptions::default()).unwrap();
        w.write_pcm(&pcm).unwrap();
        w.flush().unwrap();
        let snapshot = w.sink.get_ref().clone();
        assert_eq!(w.samples_written(), 5 * BLOCK_SIZE as u64);
        assert_eq!(w.pending.len(), 500 * spec.frame_bytes(), "the partial block waits");
        // Readable as it is: length and MD5 unknown, every complete block there.
        assert_eq!(flac_decode(&snapshot), pcm[..5 * BLOCK_SIZE * 4]);
        drop(w);
    }

    #[test]
    fn drop_finalizes_on_a_best_effort_basis() {
        let spec = PcmSpec::default();
        let pcm = tone(&spec, BLOCK_SIZE + 3);
        let mut buf = Vec::new();
        {
            struct Shared<'a>(&'a mut Vec<u8>);
            impl Write for Shared<'_> {
                fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                    self.0.extend_from_slice(b);
                    Ok(b.len())
                }
                fn flush(&mut self) -> io::Result<()> {
                    Ok(())
                }
            }
            impl Sink for Shared<'_> {
                fn write_at(&mut self, o: u64, b: &[u8]) -> io::Result<()> {
                    self.0[o as usize..o as usize + b.len()].copy_from_slice(b);
                    Ok(())
                }
                fn sync(&mut self) -> io::Result<()> {
                    Ok(())
                }
                fn truncate(&mut self, len: u64) -> io::Result<()> {
                    self.0.truncate(len as usize);
                    Ok(())
                }
            }
            let mut w = FlacWriter::new(Shared(&mut buf), spec, &WriterOptions::default()).unwrap();
            w.write_pcm(&pcm).unwrap();
        }
        assert_eq!(StreamInfoFields::parse(&buf[8..42]).unwrap().total_samples, BLOCK_SIZE as u64 + 3);
        assert_eq!(flac_decode(&buf), pcm);
    }

    /// A sink that accepts `room` bytes in all, then fails like a full disk (after a short write).
    struct Full {
        data: Vec<u8>,
        room: usize,
    }
    impl Write for Full {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let n = b.len().min(self.room - self.data.len().min(self.room));
            if n == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            self.data.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Sink for Full {
        fn write_at(&mut self, o: u64, b: &[u8]) -> io::Result<()> {
            self.data[o as usize..o as usize + b.len()].copy_from_slice(b);
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.data.truncate(len as usize);
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_leaves_a_valid_file_of_the_complete_frames() {
        let spec = PcmSpec::default();
        let pcm = tone(&spec, 20 * BLOCK_SIZE);
        let mut w = FlacWriter::new(Full { data: Vec::new(), room: 40_000 }, spec, &WriterOptions::default())
            .unwrap();
        let err = w.write_pcm(&pcm).unwrap_err();
        let WriteError::Output { kept: summary, repair: None, .. } = &err else {
            panic!("not a salvaged output: {err}")
        };
        assert!(err.to_string().contains("No space left on device"), "{err}");
        let kept = summary.samples as usize;
        assert!(kept > 0 && kept < 20 * BLOCK_SIZE && kept % BLOCK_SIZE == 0, "{kept}");
        // Later calls fail; finalize reports the earlier failure.
        assert!(w.write_pcm(&pcm[..4]).is_err());
        let bytes = w.sink.data.clone();
        assert!(w.finalize().is_err());
        assert_eq!(bytes.len() as u64, summary.bytes);
        let info = StreamInfoFields::parse(&bytes[8..42]).unwrap();
        assert_eq!(info.total_samples, kept as u64);
        assert_eq!(flac_decode(&bytes), pcm[..kept * 4]);
    }
}
