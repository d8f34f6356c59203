//! MP3 encoding with LAME for a live stream or a file, handing out whole MP3 frames only.
//!
//! Owns the LAME encoder ([`Mp3Encoder`], over the `mp3lame-encoder` crate) and the MP3 frame
//! parser ([`FrameHeader`], [`FrameSplitter`]) that cuts LAME's byte output at frame boundaries,
//! so a consumer can drop, queue or start a new connection on a frame and never on a fragment.
//! Settings are the ones a stream needs: CBR or VBR, joint stereo for two channels, output sample
//! rate equal to the input's whenever MP3 allows it, and a final flush that keeps the tail
//! (`FlushGap`). A stream gets no LAME tag frame (a listener joining mid-stream would hear it as a
//! frame of silence); a seekable file may ask for one ([`Mp3Settings::lame_tag`]): LAME then
//! reserves the first frame, and [`Mp3Encoder::lame_tag`] returns the Xing/Info frame (frame
//! count, seek table, encoder delay and padding) to write over it once the encoder is finished.
//!
//! Timing of the output, for whoever counts samples: LAME delays the signal by
//! [`Mp3Encoder::encoder_delay`] (576 samples) and, at the end, pads to whole frames, adding one
//! more frame when less than 576 samples of padding would remain, for the decoder's overlap
//! ([`Mp3Encoder::encoder_padding`]: 576..=1727 at MPEG-1 rates, known after
//! [`Mp3Encoder::finish`]). The audio frames therefore hold exactly `delay + input + padding`
//! samples, `input` counted at the MP3's rate ([`Mp3Encoder::input_samples_out`]). A decoder
//! adds its own synthesis delay of [`DECODER_DELAY`] (529) samples: without a LAME tag, mpg123
//! and ffmpeg return `delay + 529` samples before the input and `padding - 529` after it (same
//! total); with the tag, they use it to return exactly the input (gapless).
//!
//! It does not read input, talk to a network or decide what to drop. It fails with a one-line
//! error when LAME refuses the settings (say, 320 kbit/s at an MPEG-2 rate) or its output is
//! not a valid MP3 frame sequence (a LAME bug, never silently passed on).

use crate::pcm::{PcmSpec, SampleFormat};
use anyhow::{Context as _, bail};
use mp3lame_encoder::{Builder, FlushGap, InterleavedPcm, MonoPcm, Quality};
use std::ffi::c_int;

/// The bitrates MPEG-1 Layer III allows (sample rates 32, 44.1 and 48 kHz), in kbit/s.
pub const MPEG1_BITRATES: [u16; 14] = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
/// The bitrates MPEG-2 and 2.5 Layer III allow (sample rates 8 to 24 kHz), in kbit/s.
pub const MPEG2_BITRATES: [u16; 14] = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/// The bitrates allowed at an output sample rate (MPEG-1 from 32 kHz up, MPEG-2/2.5 below).
pub fn bitrates_for_rate(out_rate: u32) -> &'static [u16; 14] {
    if out_rate >= 32_000 { &MPEG1_BITRATES } else { &MPEG2_BITRATES }
}

/// How the encoder spends bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateControl {
    /// Constant bitrate in kbit/s, e.g. 320 (`lame -b 320`).
    Cbr(u16),
    /// Variable bitrate at quality 0 (best, ~245 kbit/s) to 9 (smallest), like `lame -V2`.
    Vbr(u8),
}

/// Samples a standard MP3 decoder's synthesis filterbank adds before the audio (and so takes
/// from the end): 529 in mpg123 1.31 and ffmpeg 5.1, measured on our own encodes
/// (`tests/mp3_icecast.rs`, `decoders_return_the_input_where_the_last_line_says`).
pub const DECODER_DELAY: u32 = 529;

/// Encoder settings beyond the PCM shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mp3Settings {
    /// CBR or VBR.
    pub rate_control: RateControl,
    /// LAME's algorithm quality, 0 (slowest) to 9 (fastest); 3 is LAME's default, 2 is `lame -h`.
    pub quality: u8,
    /// Reserve the first frame for LAME's Xing/Info tag ([`Mp3Encoder::lame_tag`]): only for
    /// output that can be rewritten at its start (a regular file), never for a stream.
    pub lame_tag: bool,
}

impl Default for Mp3Settings {
    fn default() -> Self {
        Mp3Settings { rate_control: RateControl::Cbr(320), quality: 3, lame_tag: false }
    }
}

/// The fields of an MP3 frame header that matter for cutting and counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Bytes in the whole frame, header included (1044 or 1045 at 320 kbit/s, 44.1 kHz).
    pub len: usize,
    /// PCM samples per channel the frame decodes to: 1152 (MPEG-1) or 576 (MPEG-2/2.5).
    pub samples: u32,
    /// Sample rate in Hz, e.g. 48000.
    pub rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Bitrate of this frame in kbit/s.
    pub kbps: u16,
}

impl FrameHeader {
    /// Parses a Layer III frame header from the first four bytes of `b`. Returns `None` when
    /// they are not one (no sync word, another layer, a reserved or "free" value).
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        if b.len() < 4 || b[0] != 0xff || b[1] & 0xe0 != 0xe0 {
            return None;
        }
        let version = (b[1] >> 3) & 3; // 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5, 1 reserved
        let layer = (b[1] >> 1) & 3; // 1 = Layer III
        if version == 1 || layer != 1 {
            return None;
        }
        let br_index = (b[2] >> 4) as usize;
        let sr_index = ((b[2] >> 2) & 3) as usize;
        if br_index == 0 || br_index == 15 || sr_index == 3 {
            return None;
        }
        let padding = ((b[2] >> 1) & 1) as usize;
        let channels = if b[3] >> 6 == 3 { 1 } else { 2 };
        const BR_V1: [u16; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
        const BR_V2: [u16; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
        const SR_V1: [u32; 3] = [44_100, 48_000, 32_000];
        let (kbps, rate, samples, coef) = match version {
            3 => (BR_V1[br_index], SR_V1[sr_index], 1152, 144_000usize),
            2 => (BR_V2[br_index], SR_V1[sr_index] / 2, 576, 72_000),
            _ => (BR_V2[br_index], SR_V1[sr_index] / 4, 576, 72_000),
        };
        let len = coef * kbps as usize / rate as usize + padding;
        Some(FrameHeader { len, samples, rate, channels, kbps })
    }
}

/// Accumulates an MP3 byte stream and releases it only in whole frames.
///
/// Leans towards refusing: bytes that do not start with a valid header are an error, never
/// skipped, because the only producer is our own encoder.
#[derive(Debug, Default)]
pub struct FrameSplitter {
    buf: Vec<u8>,
    /// Bytes of `buf` (from the start) that form whole frames, already checked.
    ready: usize,
    ready_frames: u32,
}

impl FrameSplitter {
    /// An empty splitter.
    pub fn new() -> Self {
        FrameSplitter::default()
    }

    /// The buffer that new encoder output is appended to (its spare capacity may be written
    /// directly, then [`FrameSplitter::scan`] must be called).
    pub fn buffer_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Finds the whole frames among the bytes appended since the last scan. Fails when the bytes
    /// at a frame boundary are not a frame header.
    pub fn scan(&mut self) -> anyhow::Result<()> {
        while self.buf.len() >= self.ready + 4 {
            let Some(h) = FrameHeader::parse(&self.buf[self.ready..]) else {
                bail!(
                    "encoder output is not an MP3 frame at byte {} of a block (starts {:02x?})",
                    self.ready,
                    &self.buf[self.ready..self.ready + 4]
                );
            };
            if self.buf.len() < self.ready + h.len {
                break;
            }
            self.ready += h.len;
            self.ready_frames += 1;
        }
        Ok(())
    }

    /// The whole frames found so far and how many there are.
    pub fn ready(&self) -> (&[u8], u32) {
        (&self.buf[..self.ready], self.ready_frames)
    }

    /// Forgets the frames returned by [`FrameSplitter::ready`], keeping an incomplete one.
    pub fn consume(&mut self) {
        self.buf.drain(..self.ready);
        self.ready = 0;
        self.ready_frames = 0;
    }

    /// Bytes held back as an incomplete frame.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len() - self.ready
    }
}

/// Whole MP3 frames produced by one call, borrowed from the encoder until its next call.
#[derive(Debug, Clone, Copy)]
pub struct Mp3Chunk<'a> {
    /// Concatenated whole frames (may be empty: LAME buffers about two frames).
    pub data: &'a [u8],
    /// PCM samples per channel those frames decode to (at [`Mp3Encoder::out_rate`]), counting
    /// the tag frame as a decoder unaware of it would (1152 samples of silence).
    pub samples: u64,
    /// Input frames (at the input's rate) whose audio these MP3 frames carry: the encoder's
    /// delay, its padding and the tag frame carry none. Summed over every chunk up to
    /// [`Mp3Encoder::finish`], exactly [`Mp3Encoder::frames_in`].
    pub input_frames: u64,
}

/// A LAME encoder fed raw interleaved PCM bytes in whole frames, producing whole MP3 frames.
pub struct Mp3Encoder {
    enc: mp3lame_encoder::Encoder,
    /// The same `lame_global_flags` that `enc` owns, for the getters the crate does not wrap.
    /// Valid for as long as `enc` lives; only used through `&self`/`&mut self`.
    raw: *mut mp3lame_encoder::ffi::lame_global_flags,
    spec: PcmSpec,
    i16s: Vec<i16>,
    i32s: Vec<i32>,
    splitter: FrameSplitter,
    samples_per_frame: u32,
    out_rate: u32,
    frames_in: u64,
    /// Samples per channel of every MP3 frame handed out so far, the tag frame included.
    samples_out: u64,
    /// Input frames accounted to the chunks handed out so far.
    input_frames_out: u64,
    /// Length of the first MP3 frame (the one a LAME tag replaces), once there is one.
    first_frame_len: Option<usize>,
    lame_tag: bool,
    finished: bool,
}

impl std::fmt::Debug for Mp3Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp3Encoder").field("spec", &self.spec).field("out_rate", &self.out_rate).finish()
    }
}

fn quality(q: u8) -> Quality {
    match q {
        0 => Quality::Best,
        1 => Quality::SecondBest,
        2 => Quality::NearBest,
        3 => Quality::VeryNice,
        4 => Quality::Nice,
        5 => Quality::Good,
        6 => Quality::Decent,
        7 => Quality::Ok,
        8 => Quality::SecondWorst,
        _ => Quality::Worst,
    }
}

/// A `lame_get_*` function of the crate's `ffi`: reads one value from an encoder's flags.
type LameGetter = unsafe extern "C" fn(*const mp3lame_encoder::ffi::lame_global_flags) -> c_int;

/// A builder error, with the setting that failed.
fn lame(what: &str, e: mp3lame_encoder::BuildError) -> anyhow::Error {
    anyhow::anyhow!("LAME: {what}: {e}")
}

/// Sets CBR at a bitrate MP3 has at `rate` (LAME would quietly pick another), or VBR.
/// `raw` is `b`'s flags.
fn set_rate_control(
    b: &mut Builder,
    raw: *mut mp3lame_encoder::ffi::lame_global_flags,
    rate: u32,
    rc: RateControl,
) -> anyhow::Result<()> {
    match rc {
        RateControl::Cbr(kbps) => {
            if is_mp3_rate(rate) && !bitrates_for_rate(rate).contains(&kbps) {
                bail!(
                    "{kbps} kbit/s is not an MP3 bitrate at {rate} Hz: give one of {:?}",
                    bitrates_for_rate(rate)
                );
            }
            if !MPEG1_BITRATES.contains(&kbps) && !MPEG2_BITRATES.contains(&kbps) {
                bail!("{kbps} kbit/s is not an MP3 bitrate: give one of {MPEG1_BITRATES:?}");
            }
            b.set_vbr_mode(mp3lame_encoder::VbrMode::Off).map_err(|e| lame("CBR", e))?;
            // SAFETY: `raw` is the live builder's flags (the crate's enum lacks 56 and 144).
            let res = unsafe { mp3lame_encoder::ffi::lame_set_brate(raw, c_int::from(kbps)) };
            if res < 0 {
                bail!("LAME: bitrate {kbps}: refused ({res})");
            }
        }
        RateControl::Vbr(q) => {
            b.set_vbr_mode(mp3lame_encoder::VbrMode::Mtrh).map_err(|e| lame("VBR", e))?;
            b.set_vbr_quality(quality(q)).map_err(|e| lame("VBR quality", e))?;
        }
    }
    Ok(())
}

/// True for the sample rates an MP3 stream can carry without resampling.
pub fn is_mp3_rate(rate: u32) -> bool {
    matches!(rate, 8_000 | 11_025 | 12_000 | 16_000 | 22_050 | 24_000 | 32_000 | 44_100 | 48_000)
}

impl Mp3Encoder {
    /// Builds an encoder for PCM of shape `spec`. Fails (with the reason) for more than two
    /// channels, a bitrate LAME does not offer, or a bitrate/rate pair MP3 cannot carry.
    pub fn new(spec: PcmSpec, settings: Mp3Settings) -> anyhow::Result<Self> {
        if !(1..=2).contains(&spec.channels) {
            bail!("MP3 carries 1 or 2 channels, not {}: downmix upstream", spec.channels);
        }
        let mut b = Builder::new().context("LAME: cannot allocate an encoder")?;
        // SAFETY: `b` is a live builder; the pointer is only used for the calls below and, after
        // `build`, through `Mp3Encoder::raw`, which lives no longer than the encoder owning it.
        let raw = unsafe { b.as_ptr() };
        // LAME prints warnings on stderr by default; our errors come from return codes instead.
        // SAFETY: a NULL report function is LAME's documented "print nothing".
        unsafe {
            mp3lame_encoder::ffi::lame_set_msgf(raw, None);
            mp3lame_encoder::ffi::lame_set_debugf(raw, None);
            mp3lame_encoder::ffi::lame_set_errorf(raw, None);
        }
        b.set_num_channels(spec.channels as u8).map_err(|e| lame("channels", e))?;
        b.set_sample_rate(spec.rate).map_err(|e| lame("sample rate", e))?;
        if is_mp3_rate(spec.rate) {
            b.set_output_sample_rate(std::num::NonZeroU32::new(spec.rate))
                .map_err(|e| lame("output sample rate", e))?;
        }
        let mode =
            if spec.channels == 2 { mp3lame_encoder::Mode::JointStereo } else { mp3lame_encoder::Mode::Mono };
        b.set_mode(mode).map_err(|e| lame("mode", e))?;
        b.set_quality(quality(settings.quality)).map_err(|e| lame("quality", e))?;
        b.set_to_write_vbr_tag(settings.lame_tag).map_err(|e| lame("Xing tag", e))?;
        set_rate_control(&mut b, raw, spec.rate, settings.rate_control)?;
        let enc = b.build().map_err(|e| {
            anyhow::anyhow!("LAME: cannot encode {spec} with {:?}: {e}", settings.rate_control)
        })?;
        let mut encoder = Mp3Encoder {
            enc,
            raw,
            spec,
            i16s: Vec::new(),
            i32s: Vec::new(),
            splitter: FrameSplitter::new(),
            samples_per_frame: 0,
            out_rate: 0,
            frames_in: 0,
            samples_out: 0,
            input_frames_out: 0,
            first_frame_len: None,
            lame_tag: settings.lame_tag,
            finished: false,
        };
        encoder.samples_per_frame = encoder.lame_get(mp3lame_encoder::ffi::lame_get_framesize).max(1);
        encoder.out_rate = encoder.lame_get(mp3lame_encoder::ffi::lame_get_out_samplerate).max(1);
        Ok(encoder)
    }

    /// Reads one of LAME's values that the crate does not wrap; LAME's errors (negative) read 0.
    fn lame_get(&self, get: LameGetter) -> u32 {
        // SAFETY: `self.raw` is the flags of the encoder `self` owns (see `raw`), and a
        // `lame_get_*` function only reads them.
        unsafe { get(self.raw) }.max(0) as u32
    }

    /// Sample rate of the MP3 stream in Hz: the input's when it is an MP3 rate, else LAME's pick.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// PCM samples per channel in one MP3 frame: 1152 (MPEG-1 rates) or 576.
    pub fn samples_per_frame(&self) -> u32 {
        self.samples_per_frame
    }

    /// Samples of silence LAME puts before the first input sample (576 for LAME 3.100).
    pub fn encoder_delay(&self) -> u32 {
        self.lame_get(mp3lame_encoder::ffi::lame_get_encoder_delay)
    }

    /// Samples LAME appended after the last input sample; meaningful after [`Mp3Encoder::finish`].
    pub fn encoder_padding(&self) -> u32 {
        self.lame_get(mp3lame_encoder::ffi::lame_get_encoder_padding)
    }

    /// Input frames (PCM, per channel) encoded so far.
    pub fn frames_in(&self) -> u64 {
        self.frames_in
    }

    /// True when the first frame is reserved for a LAME tag ([`Mp3Settings::lame_tag`]).
    pub fn has_lame_tag(&self) -> bool {
        self.lame_tag
    }

    /// Samples per channel of the MP3 frames handed out so far, the tag frame included: what a
    /// decoder unaware of the tag frame would return (whole frames).
    pub fn samples_out(&self) -> u64 {
        self.samples_out
    }

    /// The input's length in samples of the MP3's rate: the audio frames hold `encoder delay +
    /// this + padding`. Equal to [`Mp3Encoder::frames_in`] unless LAME resamples; meaningful after
    /// [`Mp3Encoder::finish`].
    pub fn input_samples_out(&self) -> u64 {
        let tag = if self.lame_tag { self.samples_per_frame as u64 } else { 0 };
        self.samples_out.saturating_sub(tag + self.encoder_delay() as u64 + self.encoder_padding() as u64)
    }

    /// The Xing/Info frame LAME built for the whole encode (frame count, seek table, delay and
    /// padding), to be written over the first frame of the output. Only after
    /// [`Mp3Encoder::finish`], and only with [`Mp3Settings::lame_tag`]; fails when LAME gives no
    /// tag or one of another length than the frame reserved for it.
    pub fn lame_tag(&self) -> anyhow::Result<Vec<u8>> {
        if !self.lame_tag || !self.finished {
            bail!("LAME: no tag frame: the encoder was not set up for one or is not finished");
        }
        let Some(reserved) = self.first_frame_len else {
            bail!("LAME: no tag frame: no MP3 frame was written");
        };
        let mut tag = Vec::with_capacity(self.enc.lame_tag_size().max(reserved));
        let len = self.enc.lame_tag_encode_to_vec(&mut tag).map_or(0, |n| n.get());
        if len != reserved || FrameHeader::parse(&tag).is_none_or(|h| h.len != len) {
            bail!("LAME: its tag frame ({len} bytes) does not fit the {reserved}-byte frame reserved for it");
        }
        Ok(tag)
    }

    /// Input frames carried by the audio up to output position `samples` (tag frame included),
    /// at the input rate, never more than the input so far.
    fn input_frames_until(&self, samples: u64) -> u64 {
        let tag = if self.lame_tag { self.samples_per_frame as u64 } else { 0 };
        let audio = samples.saturating_sub(tag + self.encoder_delay() as u64);
        let at_in_rate = (audio as u128 * self.spec.rate as u128 / self.out_rate as u128) as u64;
        at_in_rate.min(self.frames_in)
    }

    /// Encodes `pcm` (whole frames of the spec's format) and returns the MP3 frames now complete.
    pub fn encode(&mut self, pcm: &[u8]) -> anyhow::Result<Mp3Chunk<'_>> {
        assert!(!self.finished, "encode after finish");
        let fb = self.spec.frame_bytes();
        debug_assert_eq!(pcm.len() % fb, 0);
        let frames = pcm.len() / fb;
        self.splitter.consume();
        let out = self.splitter.buffer_mut();
        out.reserve(mp3lame_encoder::max_required_buffer_size(frames));
        let result = match (self.spec.format, self.spec.channels) {
            (SampleFormat::S16Le, ch) => {
                self.i16s.clear();
                self.i16s.extend(pcm.chunks_exact(2).map(|s| i16::from_le_bytes([s[0], s[1]])));
                if ch == 2 {
                    self.enc.encode_to_vec(InterleavedPcm(&self.i16s[..]), out)
                } else {
                    self.enc.encode_to_vec(MonoPcm(&self.i16s[..]), out)
                }
            }
            (SampleFormat::S24_3Le, ch) => {
                self.i32s.clear();
                self.i32s.extend(pcm.chunks_exact(3).map(|s| i32::from_le_bytes([0, s[0], s[1], s[2]])));
                let samples: &[c_int] = &self.i32s;
                if ch == 2 {
                    self.enc.encode_to_vec(InterleavedPcm(samples), out)
                } else {
                    self.enc.encode_to_vec(MonoPcm(samples), out)
                }
            }
        };
        result.map_err(|e| anyhow::anyhow!("LAME: encode: {e}"))?;
        self.frames_in += frames as u64;
        self.splitter.scan()?;
        Ok(self.chunk())
    }

    /// Flushes the encoder (keeping the tail: `FlushGap`) and returns the last MP3 frames.
    pub fn finish(&mut self) -> anyhow::Result<Mp3Chunk<'_>> {
        assert!(!self.finished, "finish twice");
        self.finished = true;
        self.splitter.consume();
        let out = self.splitter.buffer_mut();
        out.reserve(mp3lame_encoder::max_required_buffer_size(self.samples_per_frame as usize * 4));
        self.enc.flush_to_vec::<FlushGap>(out).map_err(|e| anyhow::anyhow!("LAME: flush: {e}"))?;
        self.splitter.scan()?;
        let pending = self.splitter.pending_bytes();
        if pending > 0 {
            bail!("LAME: flush left {pending} bytes of an incomplete MP3 frame");
        }
        Ok(self.chunk())
    }

    /// The frames found by the last scan, with their counts (which it adds to the totals).
    fn chunk(&mut self) -> Mp3Chunk<'_> {
        let (data, frames) = self.splitter.ready();
        if self.first_frame_len.is_none()
            && let Some(h) = FrameHeader::parse(data)
        {
            self.first_frame_len = Some(h.len);
        }
        let samples = frames as u64 * self.samples_per_frame as u64;
        self.samples_out += samples;
        // After the flush, the audio handed out covers the whole input.
        let until = if self.finished { self.frames_in } else { self.input_frames_until(self.samples_out) };
        let input_frames = until.saturating_sub(self.input_frames_out);
        self.input_frames_out += input_frames;
        let (data, _) = self.splitter.ready();
        Mp3Chunk { data, samples, input_frames }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcm::PcmSpec;

    fn tone(spec: &PcmSpec, frames: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(frames * spec.frame_bytes());
        for i in 0..frames {
            let v = ((i as f64 * 440.0 * std::f64::consts::TAU / spec.rate as f64).sin() * 0.4) as f32;
            for _ in 0..spec.channels {
                match spec.format {
                    SampleFormat::S16Le => out.extend_from_slice(&((v * 32767.0) as i16).to_le_bytes()),
                    SampleFormat::S24_3Le => {
                        out.extend_from_slice(&((v * 8_388_607.0) as i32).to_le_bytes()[..3])
                    }
                }
            }
        }
        out
    }

    fn encode_all(
        spec: PcmSpec,
        settings: Mp3Settings,
        pcm: &[u8],
        step: usize,
    ) -> (Vec<u8>, u64, Mp3Encoder) {
        let mut enc = Mp3Encoder::new(spec, settings).unwrap();
        let mut out = Vec::new();
        let mut samples = 0;
        let mut input_frames = 0;
        let step = step * spec.frame_bytes();
        for block in pcm.chunks(step) {
            let c = enc.encode(block).unwrap();
            if !c.data.is_empty() {
                assert!(FrameHeader::parse(c.data).is_some(), "a chunk starts on a frame");
            }
            samples += c.samples;
            input_frames += c.input_frames;
            out.extend_from_slice(c.data);
        }
        let c = enc.finish().unwrap();
        samples += c.samples;
        input_frames += c.input_frames;
        out.extend_from_slice(c.data);
        assert_eq!(input_frames, enc.frames_in(), "the chunks account for every input frame");
        assert_eq!(samples, enc.samples_out());
        (out, samples, enc)
    }

    fn count_frames(mp3: &[u8]) -> (u32, FrameHeader) {
        let mut pos = 0;
        let mut n = 0;
        let mut first = None;
        while pos < mp3.len() {
            let h = FrameHeader::parse(&mp3[pos..]).expect("frame header");
            first.get_or_insert(h);
            pos += h.len;
            n += 1;
        }
        assert_eq!(pos, mp3.len());
        (n, first.unwrap())
    }

    #[test]
    fn cbr_stereo_48k_is_whole_frames_and_counts_delay_and_padding() {
        let spec = PcmSpec::default();
        let n = 48_000 * 3 + 777;
        let (mp3, samples, enc) = encode_all(spec, Mp3Settings::default(), &tone(&spec, n), 1000);
        let (frames, h) = count_frames(&mp3);
        assert_eq!((h.rate, h.channels, h.kbps, h.samples), (48_000, 2, 320, 1152));
        assert_eq!(samples, frames as u64 * 1152);
        assert_eq!(enc.encoder_delay(), 576);
        assert_eq!(samples, enc.encoder_delay() as u64 + n as u64 + enc.encoder_padding() as u64);
        assert_eq!(enc.frames_in(), n as u64);
    }

    #[test]
    fn first_frame_is_audio_not_a_xing_tag() {
        let spec = PcmSpec::default();
        let (mp3, _, _) = encode_all(spec, Mp3Settings::default(), &tone(&spec, 48_000), 4800);
        let h = FrameHeader::parse(&mp3).unwrap();
        let first = &mp3[..h.len];
        // (LAME writes its version string into ancillary bits of early frames; that is audio.)
        assert!(!first.windows(4).any(|w| w == b"Xing" || w == b"Info"));
    }

    #[test]
    fn a_lame_tag_replaces_the_reserved_first_frame_with_delay_and_padding() {
        let spec = PcmSpec::default();
        let n = 48_000 * 2 + 5;
        for rate_control in [RateControl::Vbr(2), RateControl::Cbr(192)] {
            let settings = Mp3Settings { rate_control, quality: 3, lame_tag: true };
            let (mp3, samples, enc) = encode_all(spec, settings, &tone(&spec, n), 1000);
            let (frames, first) = count_frames(&mp3);
            assert_eq!(samples, frames as u64 * 1152);
            let tag = enc.lame_tag().unwrap();
            assert_eq!(tag.len(), first.len, "{rate_control:?}");
            let word: &[u8] = if matches!(rate_control, RateControl::Vbr(_)) { b"Xing" } else { b"Info" };
            assert!(tag.windows(4).any(|w| w == word), "{rate_control:?}: no {word:?} in the tag");
            // The tag's LAME extension holds delay and padding, 12 bits each, after "LAME3.100".
            let at = tag.windows(4).position(|w| w == b"LAME").unwrap() + 21;
            let delay = (tag[at] as u32) << 4 | (tag[at + 1] as u32) >> 4;
            let padding = ((tag[at + 1] as u32) & 0xf) << 8 | tag[at + 2] as u32;
            assert_eq!((delay, padding), (enc.encoder_delay(), enc.encoder_padding()));
            assert_eq!(samples, 1152 + 576 + n as u64 + enc.encoder_padding() as u64);
            assert_eq!(enc.input_samples_out(), n as u64);
        }
        let (_, _, no_tag) = encode_all(spec, Mp3Settings::default(), &tone(&spec, 4800), 4800);
        assert!(no_tag.lame_tag().is_err());
    }

    #[test]
    fn resampled_input_is_counted_at_both_rates() {
        let spec = PcmSpec { rate: 96_000, ..PcmSpec::default() };
        let n = 96_000 * 2 + 3;
        let (_, samples, enc) = encode_all(spec, Mp3Settings::default(), &tone(&spec, n), 4096);
        assert_eq!(enc.out_rate(), 48_000);
        assert_eq!(enc.frames_in(), n as u64);
        let out = enc.input_samples_out();
        assert!(out.abs_diff(n as u64 / 2) <= 1, "{n} frames at 96 kHz are {out} samples at 48 kHz");
        assert_eq!(samples, 576 + out + enc.encoder_padding() as u64);
    }

    #[test]
    fn mono_44k1_s24_and_vbr_keep_rate_and_channels() {
        let spec = PcmSpec { rate: 44_100, channels: 1, format: SampleFormat::S24_3Le };
        let n = 44_100 * 2;
        let settings = Mp3Settings { rate_control: RateControl::Vbr(2), quality: 3, lame_tag: false };
        let (mp3, samples, enc) = encode_all(spec, settings, &tone(&spec, n), 333);
        let (frames, h) = count_frames(&mp3);
        assert_eq!((h.rate, h.channels), (44_100, 1));
        assert_eq!(samples, frames as u64 * 1152);
        assert_eq!(samples, 576 + n as u64 + enc.encoder_padding() as u64);
    }

    #[test]
    fn mpeg2_rate_has_576_sample_frames() {
        let spec = PcmSpec { rate: 24_000, channels: 2, format: SampleFormat::S16Le };
        let settings = Mp3Settings { rate_control: RateControl::Cbr(128), quality: 3, lame_tag: false };
        let (mp3, samples, _) = encode_all(spec, settings, &tone(&spec, 24_000), 4096);
        let (frames, h) = count_frames(&mp3);
        assert_eq!((h.rate, h.samples), (24_000, 576));
        assert_eq!(samples, frames as u64 * 576);
    }

    #[test]
    fn impossible_settings_are_refused_with_a_reason() {
        let spec = PcmSpec { rate: 24_000, ..PcmSpec::default() };
        let err = Mp3Encoder::new(spec, Mp3Settings::default()).unwrap_err().to_string();
        assert!(err.contains("at 24000 Hz"), "{err}");
        let spec = PcmSpec { channels: 4, ..PcmSpec::default() };
        let err = Mp3Encoder::new(spec, Mp3Settings::default()).unwrap_err().to_string();
        assert!(err.contains("1 or 2 channels"), "{err}");
        let bad = Mp3Settings { rate_control: RateControl::Cbr(300), quality: 3, lame_tag: false };
        let err = Mp3Encoder::new(PcmSpec::default(), bad).unwrap_err().to_string();
        assert!(err.contains("not an MP3 bitrate"), "{err}");
        let bad = Mp3Settings { rate_control: RateControl::Cbr(144), quality: 3, lame_tag: false };
        let err = Mp3Encoder::new(PcmSpec::default(), bad).unwrap_err().to_string();
        assert!(err.contains("at 48000 Hz"), "{err}");
    }

    #[test]
    fn splitter_holds_back_a_partial_frame_and_rejects_garbage() {
        let spec = PcmSpec::default();
        let (mp3, _, _) = encode_all(spec, Mp3Settings::default(), &tone(&spec, 48_000), 48_000);
        let mut s = FrameSplitter::new();
        let h = FrameHeader::parse(&mp3).unwrap();
        s.buffer_mut().extend_from_slice(&mp3[..h.len + 10]);
        s.scan().unwrap();
        assert_eq!(s.ready().1, 1);
        assert_eq!(s.ready().0.len(), h.len);
        s.consume();
        assert_eq!(s.pending_bytes(), 10);
        let mut bad = FrameSplitter::new();
        bad.buffer_mut().extend_from_slice(b"ID3\x04garbage");
        assert!(bad.scan().is_err());
    }

    #[test]
    fn header_parse_rejects_non_layer3() {
        assert!(FrameHeader::parse(&[0xff, 0xfd, 0x90, 0x00]).is_none()); // Layer II
        assert!(FrameHeader::parse(&[0xff, 0xfb, 0xf0, 0x00]).is_none()); // bad bitrate index
        assert!(FrameHeader::parse(&[0xff, 0xfb]).is_none());
        let h = FrameHeader::parse(&[0xff, 0xfb, 0xe4, 0x00]).unwrap(); // 320k 48k
        assert_eq!((h.len, h.kbps, h.rate), (960, 320, 48_000));
    }
}
