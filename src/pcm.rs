//! The PCM vocabulary every tool shares: sample formats, `--rate/--channels/--format`, durations,
//! and reading input in whole frames. The spec itself ([`SampleFormat`], [`PcmSpec`], frame
//! counts for humans, the numbered test frames) is the ring crate's, re-exported here.
//!
//! Owns the one definition of the PCM flags ([`PcmArgs`], flattened into each tool's clap
//! options) and of the duration syntax ([`DurationArg`]: `30s`, `1m30s`, `2h`, `250ms`,
//! `48000f`), converted to frames once, in integer arithmetic, by [`DurationArg::frames`].
//! [`FrameReader`] reads a byte stream and hands out only whole frames, keeping a partial frame
//! back until it is completed or the input ends (then it is reported, never passed on). It does
//! not open devices or files, and it does not convert between formats: every pipe carries the
//! format the capture produced.

use anyhow::Context as _;
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

pub use vinyl_ring::spec::{
    PcmSpec, SampleFormat, format_frames, millis, unique_frame_number, unique_frames,
};

fn parse_rate(s: &str) -> Result<u32, String> {
    let rate: u32 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a rate: give frames per second, e.g. 44100, 48000 or 96000"))?;
    if !(8_000..=768_000).contains(&rate) {
        return Err(format!("{rate} Hz is out of range: give 8000..768000, e.g. 44100, 48000 or 96000"));
    }
    Ok(rate)
}

fn parse_channels(s: &str) -> Result<u16, String> {
    let ch: u16 = s.parse().map_err(|_| format!("'{s}' is not a channel count: give 1..8"))?;
    if !(1..=8).contains(&ch) {
        return Err(format!("{ch} channels is out of range: give 1..8 (2 for stereo)"));
    }
    Ok(ch)
}

/// The shared `--rate`, `--channels` and `--format` flags; flatten into a tool's options.
#[derive(Args, Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcmArgs {
    /// Sample rate in frames per second (44100, 48000, 96000…)
    #[arg(long, value_name = "HZ", env = "VINYL_RATE", default_value = "48000", value_parser = parse_rate)]
    pub rate: u32,
    /// Interleaved channels per frame (1..8)
    #[arg(long, value_name = "N", env = "VINYL_CHANNELS", default_value = "2", value_parser = parse_channels)]
    pub channels: u16,
    /// Sample format of the raw PCM: s16le, or packed 24-bit s24_3le
    #[arg(long, value_name = "FORMAT", env = "VINYL_FORMAT", default_value = "s16le", value_parser = format_values())]
    pub format: SampleFormat,
}

/// `--format`'s values and their help, parsed into a [`SampleFormat`].
fn format_values() -> impl TypedValueParser<Value = SampleFormat> {
    PossibleValuesParser::new([
        PossibleValue::new("s16le")
            .help("Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)"),
        PossibleValue::new("s24_3le")
            .help("Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives"),
    ])
    .map(|name| SampleFormat::from_name(&name).unwrap_or_default())
}

impl Default for PcmArgs {
    fn default() -> Self {
        let s = PcmSpec::default();
        PcmArgs { rate: s.rate, channels: s.channels, format: s.format }
    }
}

impl PcmArgs {
    /// The spec these flags describe.
    pub fn spec(&self) -> PcmSpec {
        PcmSpec { rate: self.rate, channels: self.channels, format: self.format }
    }
}

/// A length of audio as the user wrote it: a time (`1m30s`, `250ms`, `2h`) or a frame count
/// (`48000f`). Frames are exact; a time becomes frames only once the rate is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DurationArg {
    /// A time in milliseconds.
    Millis(u64),
    /// An exact number of frames.
    Frames(u64),
}

impl DurationArg {
    /// The duration in frames at `rate`. A time that does not fall on a frame boundary is rounded
    /// to the nearest frame (half up): `1ms` at 44100 Hz is 44 frames. Times that are whole
    /// multiples of 1/rate (`250ms` at 44100, anything in seconds) are exact.
    pub fn frames(&self, rate: u32) -> u64 {
        match *self {
            DurationArg::Frames(f) => f,
            // Saturates: a time too long for a u64 of frames is refused by its caller's bound,
            // never wrapped into a small one.
            DurationArg::Millis(ms) => {
                ((ms as u128 * rate as u128 + 500) / 1000).min(u64::MAX as u128) as u64
            }
        }
    }

    /// The duration as wall-clock time (a frame count is read at `rate`, to the microsecond), for
    /// timeouts and intervals that are not counted in frames.
    pub fn wall_time(&self, rate: u32) -> std::time::Duration {
        match *self {
            DurationArg::Millis(ms) => std::time::Duration::from_millis(ms),
            DurationArg::Frames(f) => {
                std::time::Duration::from_micros(f.saturating_mul(1_000_000) / u64::from(rate.max(1)))
            }
        }
    }

    /// True for a zero length.
    pub fn is_zero(&self) -> bool {
        matches!(self, DurationArg::Millis(0) | DurationArg::Frames(0))
    }
}

impl fmt::Display for DurationArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DurationArg::Frames(n) => write!(f, "{n}f"),
            DurationArg::Millis(ms) if ms % 1000 == 0 => write!(f, "{}s", ms / 1000),
            DurationArg::Millis(ms) => write!(f, "{ms}ms"),
        }
    }
}

const DURATION_HELP: &str =
    "which should be numbers with units, e.g. 30s, 1m30s, 2h, 250ms, or a frame count like 48000f";

impl FromStr for DurationArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("'{s}' is not a duration ({why}), {DURATION_HELP}");
        let t = s.trim();
        if t.is_empty() {
            return Err(bad("empty"));
        }
        if t.starts_with('-') {
            return Err(bad("a duration cannot be negative"));
        }
        if let Some(n) = t.strip_suffix('f') {
            let frames = n.parse::<u64>().map_err(|_| bad("frame count is not a whole number"))?;
            return Ok(DurationArg::Frames(frames));
        }
        let mut ms: u64 = 0;
        let mut rest = t;
        let mut last_unit_rank = u8::MAX;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad("expected a number"));
            }
            let value: u64 = rest[..digits].parse().map_err(|_| bad("number too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let (scale, rank) = match &rest[..unit_len] {
                "h" => (3_600_000, 3),
                "m" | "min" => (60_000, 2),
                "s" => (1000, 1),
                "ms" => (1, 0),
                "" => return Err(bad("missing unit")),
                _ => return Err(bad("unknown unit")),
            };
            if rank >= last_unit_rank {
                return Err(bad("units must go from larger to smaller, each once"));
            }
            last_unit_rank = rank;
            rest = &rest[unit_len..];
            ms = value.checked_mul(scale).and_then(|v| ms.checked_add(v)).ok_or_else(|| bad("too large"))?;
        }
        Ok(DurationArg::Millis(ms))
    }
}

/// Reads a byte stream and returns only whole frames, whatever sizes the reads come in.
///
/// A partial frame at the end of one read is kept and completed by the next. At end of input,
/// [`FrameReader::partial_bytes`] tells how many bytes of an incomplete last frame were discarded
/// so the caller can report them.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    frame_bytes: usize,
    carry: Vec<u8>,
    eof: bool,
}

impl<R: Read> FrameReader<R> {
    /// Wraps `inner`, a source of raw PCM with `frame_bytes` bytes per frame.
    pub fn new(inner: R, frame_bytes: usize) -> Self {
        assert!(frame_bytes > 0);
        FrameReader { inner, frame_bytes, carry: Vec::with_capacity(frame_bytes), eof: false }
    }

    /// Fills `buf` (whose length should be a multiple of the frame size) with whole frames and
    /// returns how many bytes it wrote, always a multiple of the frame size. Returns `Ok(0)` only
    /// at end of input. An `Interrupted` error (a signal arrived) is returned to the caller, with
    /// nothing lost, so it can check its stop flag.
    pub fn read_frames(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let fb = self.frame_bytes;
        let cap = buf.len() / fb * fb;
        assert!(cap >= fb, "buffer smaller than a frame");
        loop {
            if self.eof {
                return Ok(0);
            }
            let carried = self.carry.len();
            buf[..carried].copy_from_slice(&self.carry);
            let n = self.inner.read(&mut buf[carried..cap])?;
            if n == 0 {
                self.eof = true;
                return Ok(0);
            }
            let total = carried + n;
            let whole = total / fb * fb;
            self.carry.clear();
            self.carry.extend_from_slice(&buf[whole..total]);
            if whole > 0 {
                return Ok(whole);
            }
        }
    }

    /// Bytes of an incomplete frame held back; after `Ok(0)` these were discarded.
    pub fn partial_bytes(&self) -> usize {
        self.carry.len()
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Forgets the held-back partial frame and the end-of-input state (for a FIFO reopened after
    /// its writer left: the new writer starts on a frame boundary).
    pub fn reset(&mut self, inner: R) -> usize {
        let dropped = self.carry.len();
        self.inner = inner;
        self.carry.clear();
        self.eof = false;
        dropped
    }
}

/// Parses `KEY=VALUE` (used by `--tag`): a non-empty key of printable ASCII without `=`.
pub fn parse_tag(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("'{s}' is not KEY=VALUE"))?;
    if k.is_empty() || !k.bytes().all(|b| (0x20..0x7e).contains(&b) && b != b'=') {
        return Err(format!("'{k}' is not a valid tag key: use printable ASCII without '='"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Reads a password file with [`read_secret_file`], first warning (as `tool`) when other users
/// can read or write it: the one rule of the tools that log in somewhere (Icecast, MQTT).
pub fn read_password_file(tool: &str, path: &std::path::Path) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).with_context(|| format!("{}: password file", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        crate::vlog!(
            tool,
            "{}: password file is readable by others (mode {mode:04o}); chmod 600 it",
            path.display()
        );
    }
    read_secret_file(path)
}

/// Packed 24-bit samples (s24_3le) as 24-in-32: each sample in 4 bytes, little-endian, the top
/// byte its sign, the layout Snapcast's pipe source reads for `sampleformat=RATE:24:CHANNELS`
/// (and ALSA's `S24_LE`). `out` is cleared first; a trailing partial sample is dropped.
pub fn widen_24_in_32(packed: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(packed.len() / 3 * 4);
    for s in packed.chunks_exact(3) {
        let sign = if s[2] & 0x80 != 0 { 0xff } else { 0 };
        out.extend_from_slice(&[s[0], s[1], s[2], sign]);
    }
}

/// Reads the whole of a small secret file (a password), without its trailing newline.
pub fn read_secret_file(path: &std::path::Path) -> anyhow::Result<String> {
    let s =
        std::fs::read_to_string(path).with_context(|| format!("{}: read password file", path.display()))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn d(s: &str) -> DurationArg {
        s.parse().unwrap()
    }

    #[test]
    fn packed_24_widens_with_its_sign() {
        let mut out = Vec::new();
        widen_24_in_32(&[0x01, 0x00, 0x00, 0xff, 0xff, 0xff, 0x00, 0x00, 0x80, 7], &mut out);
        assert_eq!(out, [0x01, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x80, 0xff]);
    }

    #[test]
    fn durations_parse_and_convert_exactly() {
        assert_eq!(d("30s").frames(48_000), 1_440_000);
        assert_eq!(d("1m30s").frames(48_000), 4_320_000);
        assert_eq!(d("2h").frames(44_100), 2 * 3600 * 44_100);
        assert_eq!(d("250ms").frames(44_100), 11_025);
        assert_eq!(d("250ms").frames(96_000), 24_000);
        assert_eq!(d("48000f").frames(96_000), 48_000);
        assert_eq!(d("1h2m3s4ms").frames(1000), 3_723_004);
        assert_eq!(d("1ms").frames(44_100), 44);
        assert!(d("0s").is_zero());
    }

    #[test]
    fn durations_as_wall_time() {
        use std::time::Duration;
        assert_eq!(d("1m30s").wall_time(48_000), Duration::from_secs(90));
        assert_eq!(d("24000f").wall_time(48_000), Duration::from_millis(500));
        assert_eq!(d("1f").wall_time(44_100), Duration::from_micros(22));
    }

    #[test]
    fn bad_durations_say_what_is_accepted() {
        for bad in ["", "abc", "30", "30x", "s", "1s1m", "1s1s", "-5s", "99999999999999999999h", "1.5f"] {
            let err = bad.parse::<DurationArg>().unwrap_err();
            assert!(err.contains("30s, 1m30s"), "{bad}: {err}");
        }
        for negative in ["-3s", "-48000f", "-0s"] {
            let err = negative.parse::<DurationArg>().unwrap_err();
            assert!(err.contains("a duration cannot be negative"), "{negative}: {err}");
        }
    }

    #[test]
    fn durations_display_round_trip() {
        for s in ["30s", "250ms", "48000f"] {
            assert_eq!(d(s).to_string(), s);
        }
    }

    #[test]
    fn format_frames_reads_well() {
        assert_eq!(format_frames(48_000 * 90 + 24_000, 48_000), "1m30.500s");
        assert_eq!(format_frames(12, 48_000), "0.000s");
        assert_eq!(format_frames(47, 48_000), "0.001s", "to the nearest millisecond");
        assert_eq!(format_frames(48_000 * 3723, 48_000), "1h02m03.000s");
    }

    #[test]
    fn samples_decode_signed() {
        assert_eq!(SampleFormat::S16Le.decode(&[0xff, 0xff]), -1);
        assert_eq!(SampleFormat::S24_3Le.decode(&[0xff, 0xff, 0xff]), -1);
        assert_eq!(SampleFormat::S24_3Le.decode(&[0x00, 0x00, 0x80]), -(1 << 23));
        assert_eq!(SampleFormat::S24_3Le.decode(&[0x01, 0x00, 0x00]), 1);
    }

    /// A reader of `.0` that returns at most `.1` bytes per call, as a pipe might.
    pub(crate) struct Dribble<'a>(pub &'a [u8], pub usize);
    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn frame_reader_yields_whole_frames_and_reports_partial() {
        let spec = PcmSpec { format: SampleFormat::S24_3Le, ..PcmSpec::default() };
        let mut data = unique_frames(&spec, 7, 100);
        data.extend_from_slice(&[1, 2, 3]);
        for step in [1, 5, 6, 7, 64, 4096] {
            let mut r = FrameReader::new(Dribble(&data, step), spec.frame_bytes());
            let mut out = Vec::new();
            let mut buf = vec![0u8; 60];
            loop {
                let n = r.read_frames(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                assert_eq!(n % 6, 0);
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, data[..600]);
            assert_eq!(r.partial_bytes(), 3);
        }
    }

    #[test]
    fn unique_frames_carry_their_number() {
        let spec = PcmSpec::default();
        let data = unique_frames(&spec, 1_000_000, 3);
        let nums: Vec<u64> = data.chunks(4).map(unique_frame_number).collect();
        assert_eq!(nums, [1_000_000, 1_000_001, 1_000_002]);
    }

    #[test]
    fn tags_parse() {
        assert_eq!(parse_tag("ARTIST=A=B").unwrap(), ("ARTIST".into(), "A=B".into()));
        assert!(parse_tag("noequals").is_err());
        assert!(parse_tag("=x").is_err());
    }
}
