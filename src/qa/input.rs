//! Reading the audio `vinyl-qa` measures: a FLAC file (vinyl's own frame decoder, block by block)
//! or raw PCM on stdin in the shared `--rate/--channels/--format` shape, as interleaved samples
//! scaled to ±1.0.
//!
//! Owns the input's shape ([`Shape`]) and the errors of reading, each naming the input and the
//! step: a file that cannot be opened or decoded (exit 1), a file that is not FLAC (a usage
//! error, exit 2, as vinyl-library's), stdin that fails. Input that ends inside a frame is not an
//! error here: the whole frames are read and [`Read::partial_bytes`] says what was left out, for
//! the caller to report. It does not analyse anything.

use crate::cli::UsageError;
use crate::flac::probe::Probe;
use crate::pcm::PcmArgs;
use anyhow::Context as _;
use std::path::Path;

/// The input's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Frames a second.
    pub rate: u32,
    /// Channels a frame.
    pub channels: usize,
    /// Bits a sample (16 or 24).
    pub bits: u32,
}

/// What reading the input ended with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Read {
    /// Bytes of an incomplete last frame on stdin, left out.
    pub partial_bytes: usize,
}

/// The shape of `input` (a FLAC's STREAMINFO, or the flags for `-`), and a FLAC's metadata (its
/// length and tags, for the drift and the run-out's speed).
pub fn shape(input: &Path, pcm: &PcmArgs) -> anyhow::Result<(Shape, Option<Probe>)> {
    if input.as_os_str() == "-" {
        let s = pcm.spec();
        return Ok((Shape { rate: s.rate, channels: usize::from(s.channels), bits: s.format.bits() }, None));
    }
    let shown = input.display();
    std::fs::File::open(input).with_context(|| format!("{shown}: open"))?;
    let p = crate::flac::probe::probe(input)
        .map_err(|e| UsageError::new(format!("{shown}: not a FLAC file vinyl can read: {e:#}")))?;
    let i = &p.info;
    let shape =
        Shape { rate: i.sample_rate, channels: usize::from(i.channels), bits: u32::from(i.bits_per_sample) };
    Ok((shape, Some(p)))
}

/// Feeds every block of `input` to `each`, as interleaved samples of `shape`.
pub fn each(input: &Path, shape: Shape, mut each: impl FnMut(&[f32])) -> anyhow::Result<Read> {
    if input.as_os_str() != "-" {
        crate::flac::decode::each_block(input, "analyse", |_, pcm| {
            each(pcm);
            Ok(true)
        })?;
        return Ok(Read::default());
    }
    let format =
        if shape.bits == 24 { crate::pcm::SampleFormat::S24_3Le } else { crate::pcm::SampleFormat::S16Le };
    let width = format.bytes();
    let frame = width * shape.channels;
    let mut reader = crate::pcm::FrameReader::new(std::io::stdin().lock(), frame);
    let mut buf = vec![0u8; frame * 4096];
    let mut pcm = Vec::with_capacity(4096 * shape.channels);
    let scale = 1.0 / (1u32 << (shape.bits - 1)) as f32;
    loop {
        let n = match reader.read_frames(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("stdin: read"),
        };
        if n == 0 {
            return Ok(Read { partial_bytes: reader.partial_bytes() });
        }
        pcm.clear();
        if width == 2 {
            // The common case, without a call a sample.
            pcm.extend(buf[..n].chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) * scale));
        } else {
            pcm.extend(buf[..n].chunks_exact(width).map(|b| format.decode(b) as f32 * scale));
        }
        each(&pcm);
    }
}
