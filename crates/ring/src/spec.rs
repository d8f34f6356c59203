//! The shape of the PCM in a ring and on the pipes that carry it: sample formats, the spec every
//! reader and writer agrees on, frame counts for humans, and the numbered test frames.
//!
//! Owns only vocabulary: it parses no flags (the tools' CLI does) and cannot fail.

use std::fmt;

/// Sample encodings carried on vinyl's pipes: interleaved, little-endian, signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SampleFormat {
    /// Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default).
    #[default]
    S16Le,
    /// Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives.
    S24_3Le,
}

impl SampleFormat {
    /// Bytes per sample of one channel: 2 or 3.
    pub fn bytes(self) -> usize {
        match self {
            SampleFormat::S16Le => 2,
            SampleFormat::S24_3Le => 3,
        }
    }

    /// Significant bits per sample: 16 or 24.
    pub fn bits(self) -> u32 {
        match self {
            SampleFormat::S16Le => 16,
            SampleFormat::S24_3Le => 24,
        }
    }

    /// The flag spelling (`s16le`, `s24_3le`).
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::S16Le => "s16le",
            SampleFormat::S24_3Le => "s24_3le",
        }
    }

    /// Parses the flag spelling, as written in the ring header or a config file.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "s16le" => Some(SampleFormat::S16Le),
            "s24_3le" => Some(SampleFormat::S24_3Le),
            _ => None,
        }
    }

    /// Decodes one sample at the start of `b` as a signed integer (sign-extended for 24-bit).
    pub fn decode(self, b: &[u8]) -> i32 {
        match self {
            SampleFormat::S16Le => i16::from_le_bytes([b[0], b[1]]) as i32,
            SampleFormat::S24_3Le => (i32::from_le_bytes([0, b[0], b[1], b[2]])) >> 8,
        }
    }
}

impl fmt::Display for SampleFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The shape of the PCM on a pipe: what every tool must agree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PcmSpec {
    /// Frames per second, e.g. 48000.
    pub rate: u32,
    /// Interleaved channels per frame, e.g. 2.
    pub channels: u16,
    /// Sample encoding, e.g. `s16le`.
    pub format: SampleFormat,
}

impl Default for PcmSpec {
    fn default() -> Self {
        PcmSpec { rate: 48_000, channels: 2, format: SampleFormat::S16Le }
    }
}

impl PcmSpec {
    /// Bytes in one frame (one sample of every channel): 4 for s16le stereo.
    pub fn frame_bytes(&self) -> usize {
        self.format.bytes() * self.channels as usize
    }

    /// Bytes per second of audio: 192,000 for the default.
    pub fn bytes_per_second(&self) -> u64 {
        self.frame_bytes() as u64 * self.rate as u64
    }

    /// `frames` expressed in bytes.
    pub fn frames_to_bytes(&self, frames: u64) -> u64 {
        frames * self.frame_bytes() as u64
    }

    /// A frame count for display: `1m30.000s (4320000 frames)`.
    pub fn describe_frames(&self, frames: u64) -> String {
        format!("{} ({frames} frames)", format_frames(frames, self.rate))
    }
}

impl fmt::Display for PcmSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} Hz {} ch", self.format, self.rate, self.channels)
    }
}

/// `frames` at `rate` in milliseconds, rounded to the nearest: the one rule of every time vinyl
/// prints (logs, track tables, chapter tags), so one frame never reads as two times.
pub fn millis(frames: u64, rate: u32) -> u64 {
    ((frames as u128 * 1000 + rate as u128 / 2) / rate.max(1) as u128) as u64
}

/// A frame count as `[Hh][Mm]S.mmms` for humans, e.g. `1m30.000s`, to the nearest millisecond.
pub fn format_frames(frames: u64, rate: u32) -> String {
    let ms = millis(frames, rate);
    let (h, rem) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (s, ms) = (rem / 1000, rem % 1000);
    match (h, m) {
        (0, 0) => format!("{s}.{ms:03}s"),
        (0, _) => format!("{m}m{s:02}.{ms:03}s"),
        _ => format!("{h}h{m:02}m{s:02}.{ms:03}s"),
    }
}

/// Builds the test signal in which every frame is unique: frame `n` (absolute) carries `n` in its
/// samples, so any run of frames can be checked for order, gaps and alignment.
///
/// Layout: the frame number's bytes, little-endian, spread over the frame's bytes from the first
/// (a stereo s16le frame holds the low 32 bits of `n`; frames are unique over 2^(8·frame_bytes)
/// frames, i.e. 24 hours at 48 kHz for stereo s16le).
pub fn unique_frames(spec: &PcmSpec, first: u64, count: u64) -> Vec<u8> {
    let fb = spec.frame_bytes();
    let mut out = vec![0u8; fb * count as usize];
    for (i, frame) in out.chunks_exact_mut(fb).enumerate() {
        let n = (first + i as u64).to_le_bytes();
        for (j, b) in frame.iter_mut().enumerate() {
            *b = if j < 8 { n[j] } else { 0 };
        }
    }
    out
}

/// The frame number carried by one frame of [`unique_frames`] (only the low `8·frame_bytes`
/// bits survive in frames smaller than 8 bytes).
pub fn unique_frame_number(frame: &[u8]) -> u64 {
    let mut n = [0u8; 8];
    for (dst, src) in n.iter_mut().zip(frame) {
        *dst = *src;
    }
    u64::from_le_bytes(n)
}
