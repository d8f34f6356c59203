//! Opus encoding for an Ogg Opus stream (RFC 7845): the ring's PCM in, 20 ms Opus packets with
//! their granule positions out, plus the two header packets (OpusHead, OpusTags).
//!
//! Owns the libopus encoder ([`OpusStream`], over the `opus` crate, linked to the system
//! libopus), the conversion of the ring's integer samples to float (so 24-bit input keeps its
//! precision up to the codec), the resampling of any other rate to Opus's 48 kHz (rubato's
//! synchronous FFT resampler, its start-up delay trimmed so the output lines up with the input),
//! and the sample count behind every granule position. Settings are the ones a stream needs:
//! application AUDIO, VBR, the bitrate as given, 20 ms frames (960 samples at 48 kHz).
//!
//! Timing, for whoever writes the pages: OpusHead's pre-skip is the encoder's lookahead (312
//! samples for libopus 1.3 at 48 kHz); the granule of a packet is the count of 48 kHz samples a
//! decoder has produced at its end, pre-skip included, so packet `k` (from 1) ends at `960 k`.
//! [`OpusStream::finish`] pads with silence until the lookahead has flushed the last input
//! sample, and gives the last packet the granule `pre-skip + input samples at 48 kHz` (end
//! trimming, RFC 7845 §4), so a decoder returns exactly the input's length. Input at another
//! rate counts `ceil(frames × 48000 / rate)` samples. From 44.1 kHz, rubato's FFT resampler
//! places the output half a 48 kHz sample (10 µs) early (tests/opus.rs measures it).
//!
//! It does not write Ogg pages, read input or talk to a network. It fails with a one-line error
//! naming the step (`opus: encode: ...`) when the settings are out of range or libopus refuses;
//! input never makes it panic: a partial frame is kept until the next push, and dropped at the
//! end.

use crate::pcm::{PcmSpec, SampleFormat};
use ::opus::{Application, Bitrate, Channels, Encoder};
use anyhow::{Context as _, anyhow, bail};
use rubato::{FftFixedInOut, Resampler};

/// Opus's own sample rate: every granule position counts samples at this rate.
pub const OPUS_RATE: u32 = 48_000;
/// Samples per channel in one 20 ms frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
/// The bitrates libopus accepts, in bit/s (RFC 6716 allows 6 to 510 kbit/s).
pub const BITRATES: std::ops::RangeInclusive<u32> = 6_000..=510_000;
/// The largest packet libopus can produce for one frame is 1275 bytes per stream; this leaves
/// the margin the libopus documentation recommends.
const MAX_PACKET: usize = 4000;
/// Input frames the resampler takes at a time (rounded by rubato to a multiple of the rates'
/// ratio): about 23 ms at 44.1 kHz, so resampling adds little latency to a live stream.
const RESAMPLER_CHUNK: usize = 1024;

/// One Opus packet and the granule position of its end (RFC 7845 §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpusPacket {
    /// The packet, as libopus wrote it (one 20 ms frame).
    pub data: Vec<u8>,
    /// Samples at 48 kHz a decoder has produced at the end of this packet, pre-skip included.
    pub granule: u64,
}

/// The resampler to 48 kHz and its bookkeeping (absent when the input is already at 48 kHz).
struct Resampling {
    rs: FftFixedInOut<f32>,
    /// Input waiting for a whole chunk, one vector per channel.
    pending: Vec<Vec<f32>>,
    out: Vec<Vec<f32>>,
    /// Output samples still to drop: rubato's start-up delay, so sample 0 out is sample 0 in.
    skip: usize,
}

/// The highest libopus complexity (`opusenc`'s default).
pub const MAX_COMPLEXITY: u8 = 10;

/// libopus's own default complexity (1.3, x86): what the encoder ran at before it was a setting.
pub const DEFAULT_COMPLEXITY: u8 = 9;

/// An Opus encoder for one Ogg Opus stream: PCM bytes in, packets with granules out.
pub struct OpusStream {
    enc: Encoder,
    spec: PcmSpec,
    channels: usize,
    pre_skip: u16,
    resampling: Option<Resampling>,
    /// Bytes of an incomplete input frame, kept for the next push.
    remainder: Vec<u8>,
    /// Interleaved 48 kHz samples not yet encoded (less than a frame between calls).
    buf: Vec<f32>,
    /// Whole input frames taken so far, at the input's rate.
    input_frames: u64,
    /// 48 kHz samples per channel put into `buf` so far.
    produced: u64,
    /// Samples per channel encoded so far, pre-skip included: the last packet's granule.
    encoded: u64,
    finished: bool,
}

impl OpusStream {
    /// An encoder for `spec` (1 or 2 channels, any rate the ring allows) at `bitrate_bps`
    /// (6,000..=510,000), VBR, application AUDIO.
    pub fn new(spec: &PcmSpec, bitrate_bps: u32) -> anyhow::Result<OpusStream> {
        if !BITRATES.contains(&bitrate_bps) {
            bail!(
                "opus: bitrate {bitrate_bps} bit/s is out of range: give {}..{} (6 to 510 kbit/s)",
                BITRATES.start(),
                BITRATES.end()
            );
        }
        let ch = match spec.channels {
            1 => Channels::Mono,
            2 => Channels::Stereo,
            n => bail!("opus: {n} channels: give 1 or 2 (Ogg Opus mapping family 0)"),
        };
        let mut enc = Encoder::new(OPUS_RATE, ch, Application::Audio).context("opus: create encoder")?;
        enc.set_bitrate(Bitrate::Bits(bitrate_bps as i32))
            .with_context(|| format!("opus: set bitrate {bitrate_bps} bit/s"))?;
        enc.set_vbr(true).context("opus: set VBR")?;
        enc.set_lsb_depth(spec.format.bits() as i32).context("opus: set input depth")?;
        let lookahead = enc.get_lookahead().context("opus: get lookahead")?;
        let pre_skip =
            u16::try_from(lookahead).map_err(|_| anyhow!("opus: lookahead {lookahead} is not a pre-skip"))?;
        let resampling = if spec.rate == OPUS_RATE { None } else { Some(Resampling::new(spec)?) };
        Ok(OpusStream {
            enc,
            spec: *spec,
            channels: spec.channels as usize,
            pre_skip,
            resampling,
            remainder: Vec::new(),
            buf: Vec::new(),
            input_frames: 0,
            produced: 0,
            encoded: 0,
            finished: false,
        })
    }

    /// Sets libopus's complexity, 0..=10 (10 is the best quality for the most CPU, 9 libopus's
    /// default; 0 costs the least, see the README's benchmarks).
    pub fn set_complexity(&mut self, complexity: u8) -> anyhow::Result<()> {
        if complexity > MAX_COMPLEXITY {
            bail!("opus: complexity {complexity} is out of range: give 0..{MAX_COMPLEXITY}");
        }
        self.enc
            .set_complexity(complexity as i32)
            .with_context(|| format!("opus: set complexity {complexity}"))
    }

    /// The complexity the encoder works at, as libopus reports it.
    pub fn complexity(&mut self) -> anyhow::Result<u8> {
        let c = self.enc.get_complexity().context("opus: get complexity")?;
        u8::try_from(c).map_err(|_| anyhow!("opus: libopus reports complexity {c}"))
    }

    /// Samples at 48 kHz a decoder drops at the start (OpusHead's pre-skip).
    pub fn pre_skip(&self) -> u16 {
        self.pre_skip
    }

    /// The OpusHead packet (RFC 7845 §5.1): version 1, channel mapping family 0, output gain 0,
    /// the input's own sample rate for information.
    pub fn head(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(19);
        h.extend_from_slice(b"OpusHead");
        h.push(1);
        h.push(self.channels as u8);
        h.extend_from_slice(&self.pre_skip.to_le_bytes());
        h.extend_from_slice(&self.spec.rate.to_le_bytes());
        h.extend_from_slice(&0i16.to_le_bytes());
        h.push(0);
        h
    }

    /// The OpusTags packet (RFC 7845 §5.2): vendor `vinyl <version> (libopus <version>)`, then
    /// each comment as `KEY=value`.
    pub fn tags(&self, comments: &[(String, String)]) -> Vec<u8> {
        let lib = ::opus::version();
        let lib = lib.strip_prefix("libopus ").unwrap_or(lib);
        let vendor = format!("vinyl {} (libopus {lib})", env!("CARGO_PKG_VERSION"));
        let mut t = Vec::new();
        t.extend_from_slice(b"OpusTags");
        put_string(&mut t, vendor.as_bytes());
        t.extend_from_slice(&(comments.len() as u32).to_le_bytes());
        for (k, v) in comments {
            put_string(&mut t, format!("{k}={v}").as_bytes());
        }
        t
    }

    /// Encodes `pcm` (interleaved, in the spec's format, any length) and returns the packets
    /// completed by it; an incomplete frame at the end is kept for the next call.
    pub fn push(&mut self, pcm: &[u8]) -> anyhow::Result<Vec<OpusPacket>> {
        if self.finished {
            bail!("opus: push: the stream is already finished");
        }
        let fb = self.spec.frame_bytes();
        let floats = if self.remainder.is_empty() {
            let whole = pcm.len() / fb * fb;
            self.remainder.extend_from_slice(&pcm[whole..]);
            to_float(&pcm[..whole], self.spec.format)
        } else {
            self.remainder.extend_from_slice(pcm);
            let whole = self.remainder.len() / fb * fb;
            let f = to_float(&self.remainder[..whole], self.spec.format);
            self.remainder.drain(..whole);
            f
        };
        self.input_frames += (floats.len() / self.channels) as u64;
        self.take(&floats)?;
        self.encode_whole_frames()
    }

    /// Flushes the resampler and the encoder's lookahead with silence and returns the last
    /// packets, the final one with the end-trimmed granule. A partial input frame still kept is
    /// dropped. Later calls return nothing.
    pub fn finish(&mut self) -> anyhow::Result<Vec<OpusPacket>> {
        if self.finished {
            return Ok(Vec::new());
        }
        self.finished = true;
        self.remainder.clear();
        let total = self.samples_at_48k();
        self.flush_resampler(total)?;
        let end = self.pre_skip as u64 + total;
        let frames = end.div_ceil(FRAME_SAMPLES as u64).max(1);
        let missing = frames * FRAME_SAMPLES as u64 - self.encoded - (self.buf.len() / self.channels) as u64;
        self.buf.resize(self.buf.len() + missing as usize * self.channels, 0.0);
        let mut packets = self.encode_whole_frames()?;
        if let Some(last) = packets.last_mut() {
            last.granule = end;
        }
        Ok(packets)
    }

    /// The input's length in 48 kHz samples (rounded up when resampled).
    fn samples_at_48k(&self) -> u64 {
        let rate = self.spec.rate as u64;
        (self.input_frames * OPUS_RATE as u64).div_ceil(rate)
    }

    /// Puts interleaved input samples into the 48 kHz buffer, through the resampler if any.
    fn take(&mut self, floats: &[f32]) -> anyhow::Result<()> {
        match self.resampling.as_mut() {
            None => {
                self.buf.extend_from_slice(floats);
                self.produced += (floats.len() / self.channels) as u64;
            }
            Some(r) => {
                r.append(floats);
                self.produced += r.run(&mut self.buf, false)?;
            }
        }
        Ok(())
    }

    /// Runs the resampler on silence until it has produced `total` samples, then cuts what it
    /// made beyond them (the tail of the silence).
    fn flush_resampler(&mut self, total: u64) -> anyhow::Result<()> {
        let Some(r) = self.resampling.as_mut() else { return Ok(()) };
        while self.produced < total {
            self.produced += r.run(&mut self.buf, true)?;
        }
        let extra = (self.produced - total) as usize * self.channels;
        self.buf.truncate(self.buf.len().saturating_sub(extra));
        self.produced = total;
        Ok(())
    }

    /// Encodes every whole 20 ms frame in the buffer.
    fn encode_whole_frames(&mut self) -> anyhow::Result<Vec<OpusPacket>> {
        let n = FRAME_SAMPLES * self.channels;
        let frames = self.buf.len() / n;
        let mut packets = Vec::with_capacity(frames);
        let mut out = [0u8; MAX_PACKET];
        for f in 0..frames {
            let len =
                self.enc.encode_float(&self.buf[f * n..(f + 1) * n], &mut out).context("opus: encode")?;
            self.encoded += FRAME_SAMPLES as u64;
            packets.push(OpusPacket { data: out[..len].to_vec(), granule: self.encoded });
        }
        self.buf.drain(..frames * n);
        Ok(packets)
    }
}

impl Resampling {
    fn new(spec: &PcmSpec) -> anyhow::Result<Resampling> {
        let ch = spec.channels as usize;
        let rs = FftFixedInOut::<f32>::new(spec.rate as usize, OPUS_RATE as usize, RESAMPLER_CHUNK, ch)
            .map_err(|e| anyhow!("opus: resampler from {} Hz: {e}", spec.rate))?;
        let out = rs.output_buffer_allocate(true);
        let skip = rs.output_delay();
        Ok(Resampling { rs, pending: vec![Vec::new(); ch], out, skip })
    }

    /// De-interleaves `floats` into the per-channel input queues.
    fn append(&mut self, floats: &[f32]) {
        let ch = self.pending.len();
        for frame in floats.chunks_exact(ch) {
            for (q, s) in self.pending.iter_mut().zip(frame) {
                q.push(*s);
            }
        }
    }

    /// Resamples every whole chunk queued (or, with `pad`, exactly one chunk, completed with
    /// silence) into `buf`, interleaved; returns the samples per channel added.
    fn run(&mut self, buf: &mut Vec<f32>, pad: bool) -> anyhow::Result<u64> {
        let mut added = 0u64;
        loop {
            let need = self.rs.input_frames_next();
            if pad {
                for q in &mut self.pending {
                    q.resize(q.len().max(need), 0.0);
                }
            }
            if self.pending[0].len() < need {
                return Ok(added);
            }
            let ins: Vec<&[f32]> = self.pending.iter().map(|q| &q[..need]).collect();
            let (_, made) = self
                .rs
                .process_into_buffer(&ins, &mut self.out, None)
                .map_err(|e| anyhow!("opus: resample: {e}"))?;
            for q in &mut self.pending {
                q.drain(..need);
            }
            let from = self.skip.min(made);
            self.skip -= from;
            for i in from..made {
                buf.extend(self.out.iter().map(|c| c[i]));
            }
            added += (made - from) as u64;
            if pad {
                return Ok(added);
            }
        }
    }
}

/// Appends a 32-bit little-endian length and the bytes (the OpusTags string layout).
fn put_string(t: &mut Vec<u8>, s: &[u8]) {
    t.extend_from_slice(&(s.len() as u32).to_le_bytes());
    t.extend_from_slice(s);
}

/// Whole frames of integer PCM as floats in [-1, 1): exact for 16 and 24 bits.
fn to_float(pcm: &[u8], format: SampleFormat) -> Vec<f32> {
    match format {
        SampleFormat::S16Le => {
            pcm.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32_768.0).collect()
        }
        SampleFormat::S24_3Le => pcm
            .chunks_exact(3)
            .map(|b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rate: u32, channels: u16, format: SampleFormat) -> PcmSpec {
        PcmSpec { rate, channels, format }
    }

    /// `frames` of a two-tone signal in the spec's format (different tones per channel).
    fn tones(s: &PcmSpec, frames: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..frames {
            for c in 0..s.channels as usize {
                let t = i as f64 / s.rate as f64;
                let x = 0.4 * (2.0 * std::f64::consts::PI * (440.0 + 300.0 * c as f64) * t).sin();
                match s.format {
                    SampleFormat::S16Le => v.extend_from_slice(&((x * 32767.0) as i16).to_le_bytes()),
                    SampleFormat::S24_3Le => {
                        v.extend_from_slice(&((x * 8_388_607.0) as i32).to_le_bytes()[..3])
                    }
                }
            }
        }
        v
    }

    fn encode(s: &PcmSpec, pcm: &[u8], chunk: usize) -> (u16, Vec<OpusPacket>) {
        let mut e = OpusStream::new(s, 96_000).unwrap();
        let mut packets = Vec::new();
        for c in pcm.chunks(chunk.max(1)) {
            packets.extend(e.push(c).unwrap());
        }
        packets.extend(e.finish().unwrap());
        (e.pre_skip(), packets)
    }

    #[test]
    fn the_encoder_reports_the_complexity_it_was_given_and_refuses_above_10() {
        let s = spec(48_000, 2, SampleFormat::S16Le);
        let mut e = OpusStream::new(&s, 128_000).unwrap();
        assert_eq!(e.complexity().unwrap(), DEFAULT_COMPLEXITY, "libopus's own default");
        for c in [0, 3, 10] {
            e.set_complexity(c).unwrap();
            assert_eq!(e.complexity().unwrap(), c);
        }
        let err = e.set_complexity(11).unwrap_err().to_string();
        assert!(err.contains("complexity 11 is out of range: give 0..10"), "{err}");
        assert_eq!(e.complexity().unwrap(), 10, "a refused value leaves the last one");
        let pcm = tones(&s, 4800);
        assert!(!e.push(&pcm).unwrap().is_empty(), "encodes after a change");
    }

    #[test]
    fn head_is_rfc7845_opushead() {
        let e = OpusStream::new(&spec(44_100, 2, SampleFormat::S24_3Le), 128_000).unwrap();
        let h = e.head();
        assert_eq!(h.len(), 19);
        assert_eq!(&h[..8], b"OpusHead");
        assert_eq!(h[8], 1, "version");
        assert_eq!(h[9], 2, "channels");
        assert_eq!(u16::from_le_bytes([h[10], h[11]]), e.pre_skip());
        assert_eq!(e.pre_skip(), 312, "libopus 1.3's lookahead at 48 kHz, application AUDIO");
        assert_eq!(u32::from_le_bytes([h[12], h[13], h[14], h[15]]), 44_100, "input rate");
        assert_eq!(&h[16..18], &[0, 0], "output gain");
        assert_eq!(h[18], 0, "mapping family");
        let mono = OpusStream::new(&spec(48_000, 1, SampleFormat::S16Le), 64_000).unwrap();
        assert_eq!(mono.head()[9], 1);
    }

    #[test]
    fn tags_are_rfc7845_opustags() {
        let e = OpusStream::new(&spec(48_000, 2, SampleFormat::S16Le), 128_000).unwrap();
        let t = e.tags(&[("TITLE".into(), "Side A".into()), ("ARTIST".into(), "Ünïcode".into())]);
        assert_eq!(&t[..8], b"OpusTags");
        let u32_at = |i: usize| u32::from_le_bytes(t[i..i + 4].try_into().unwrap()) as usize;
        let vlen = u32_at(8);
        let vendor = std::str::from_utf8(&t[12..12 + vlen]).unwrap();
        let want = format!("vinyl {} (libopus 1.", env!("CARGO_PKG_VERSION"));
        assert!(vendor.starts_with(&want) && vendor.ends_with(')'), "vendor {vendor:?}");
        let mut at = 12 + vlen;
        assert_eq!(u32_at(at), 2, "comment count");
        at += 4;
        let mut comments = Vec::new();
        for _ in 0..2 {
            let n = u32_at(at);
            comments.push(std::str::from_utf8(&t[at + 4..at + 4 + n]).unwrap().to_string());
            at += 4 + n;
        }
        assert_eq!(comments, ["TITLE=Side A", "ARTIST=Ünïcode"]);
        assert_eq!(at, t.len(), "nothing after the last comment");
    }

    #[test]
    fn bitrate_and_channels_out_of_range_are_errors_naming_the_value() {
        let s = spec(48_000, 2, SampleFormat::S16Le);
        for bad in [0, 5_999, 510_001, 1_000_000] {
            let err = OpusStream::new(&s, bad).err().expect("an error").to_string();
            assert!(err.starts_with("opus: bitrate") && err.contains(&bad.to_string()), "{err}");
        }
        for good in [6_000, 510_000] {
            OpusStream::new(&s, good).unwrap();
        }
        let err = OpusStream::new(&spec(48_000, 6, SampleFormat::S16Le), 128_000).err().unwrap().to_string();
        assert!(err.contains("6 channels"), "{err}");
    }

    /// Granules step by 960 and the last one is pre-skip + the input at 48 kHz, at 48 kHz and at
    /// rates that are resampled (44.1 kHz giving a fraction of a sample, 96 kHz mono, 24-bit).
    #[test]
    fn granules_step_by_a_frame_and_end_at_pre_skip_plus_input() {
        let cases = [
            (spec(48_000, 2, SampleFormat::S16Le), 48_000 + 123, 48_123),
            (spec(48_000, 2, SampleFormat::S16Le), 960 * 5 - 312, 960 * 5 - 312),
            (spec(44_100, 2, SampleFormat::S24_3Le), 44_107, 48_008), // 44107 × 480 / 441 = 48007.6
            (spec(96_000, 1, SampleFormat::S16Le), 96_001, 48_001),
            (spec(48_000, 1, SampleFormat::S16Le), 0, 0),
        ];
        for (s, frames, at48) in cases {
            let (pre_skip, packets) = encode(&s, &tones(&s, frames), 1 << 20);
            let end = pre_skip as u64 + at48;
            assert_eq!(packets.len() as u64, end.div_ceil(960), "{s:?} {frames}");
            for (k, p) in packets[..packets.len() - 1].iter().enumerate() {
                assert_eq!(p.granule, 960 * (k as u64 + 1), "{s:?} packet {k}");
            }
            let last = packets.last().unwrap().granule;
            assert_eq!(last, end, "{s:?} {frames}: last granule");
            assert!(last > 960 * (packets.len() as u64 - 1), "{s:?}: granules strictly increase");
        }
    }

    /// Any split of the input, including odd bytes and partial frames, gives the same packets as
    /// one push (the resampled path too).
    #[test]
    fn partial_frames_across_pushes_give_the_same_packets() {
        for s in [spec(48_000, 2, SampleFormat::S24_3Le), spec(44_100, 2, SampleFormat::S16Le)] {
            let pcm = tones(&s, s.rate as usize / 2 + 77);
            let (_, whole) = encode(&s, &pcm, pcm.len());
            for chunk in [1, 7, 1001, 4099] {
                let (_, split) = encode(&s, &pcm, chunk);
                assert!(split == whole, "{s:?}: chunks of {chunk} bytes differ from one push");
            }
        }
    }

    #[test]
    fn a_trailing_partial_frame_is_dropped_and_push_after_finish_is_an_error() {
        let s = spec(48_000, 2, SampleFormat::S16Le);
        let mut pcm = tones(&s, 4800);
        let (_, clean) = encode(&s, &pcm, pcm.len());
        pcm.extend_from_slice(&[1, 2, 3]);
        let (_, odd) = encode(&s, &pcm, pcm.len());
        assert_eq!(odd, clean);
        let mut e = OpusStream::new(&s, 96_000).unwrap();
        e.finish().unwrap();
        assert!(e.finish().unwrap().is_empty());
        assert!(e.push(&pcm).unwrap_err().to_string().starts_with("opus: push"));
    }
}
