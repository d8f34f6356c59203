//! Decoding the audio frames of a FLAC stream (RFC 9639) into integer samples, one frame at a
//! time, for the readers that measure or fingerprint a file ([`super::decode`]).
//!
//! Owns the frame layer: the checks of a frame header against STREAMINFO (the header itself is
//! parsed by [`super::format::parse_frame_header`], the metadata by
//! [`super::probe::read_metadata_with`]), the subframes (CONSTANT, VERBATIM, FIXED order 0–4, LPC
//! order 1–32, wasted bits), the Rice-coded residual (both parameter widths, escaped partitions),
//! the stereo decorrelation (left/side, side/right, mid/side) and the CRC-16 of every frame. It
//! does not write, seek or compute the MD5 of the audio; what the samples are for is the caller's.
//! Sample sizes are 4 to 32 bits, except a 32-bit stereo frame that codes a 33-bit side channel.
//!
//! Why our own: claxon, the decoder `vinyl-rec split` uses, reads the stream a byte at a time and
//! predicts in 64 bits; it spent most of the CPU of `vinyl-library name`. Here the bits come from
//! a 64-bit cache refilled eight bytes at a time, a Rice code takes one leading-zero count, each
//! sample is predicted as soon as its residual is read (the bit reader's and the predictor's
//! chains of dependencies overlap), the predictors are specialised per order (and sum in 32 bits
//! where the coefficients prove that no sum overflows), and the CRC runs 16 bytes a step. On a
//! 20-minute 48 kHz 16-bit stereo side (100 MB, libFLAC, LPC up to order 8) on this project's
//! x86-64 machine: 0.8 s of CPU where claxon takes 2.1 s (symphonia 1.5 s; libFLAC's `flac -d`,
//! MD5 and output included, 1.8 s); `examples/decode-bench.rs` measures it. The one `unsafe` is
//! the call of the residual loop compiled for LZCNT and BMI2 on the x86-64 CPUs that have them
//! (a fifth of the time); everything else is safe slicing.
//!
//! How it fails: never panics on any input. Whatever is not a valid stream — a frame header that
//! fails its sync code, reserved bits or CRC-8 or disagrees with STREAMINFO, a reserved subframe
//! type or coding, a predictor longer than its block, a residual that overruns the frame, a frame
//! whose CRC-16 does not match, a file that ends inside a frame or before the length STREAMINFO
//! gives — is an error naming the frame by its first sample and byte offset, and the decode ends
//! there: frames are found by parsing, never by scanning for the next sync code. Memory is bounded
//! by STREAMINFO's maximum block size and a frame-size cap derived from it (twice every channel at
//! 33 bits a sample, plus 1 MiB), never by a frame's own fields: a valid frame larger than that
//! (Rice codes far worse than verbatim) is refused too. Only a faulty encoder writes one: flacenc
//! 0.5.1 at level 1 made 500 MB frames of a full-scale 24-bit square wave (Rice parameter 0 for
//! jumps of 2^24), which `flac -d` decodes.

use super::format::{self, FrameHeader, StreamInfoFields};
use anyhow::{Context as _, bail};
use std::io::{self, Read};
use std::path::Path;

/// Bytes the window over the file starts with (it grows for a larger frame, up to the cap).
const WINDOW: usize = 256 * 1024;

/// The longest frame header (sync, codes, a 7-byte number, 16-bit block size and rate, CRC-8).
const MAX_HEADER: usize = 16;

/// The audio of a FLAC stream, decoded frame by frame: [`FrameReader::open`] (or `new`) reads the
/// metadata, then [`FrameReader::next_block`] gives one block at a time until `None`. Memory: one
/// window over the file (256 KiB, more only for a larger frame) and one block of samples.
pub struct FrameReader<R> {
    src: R,
    info: StreamInfoFields,
    /// The window over the file: `buf[start..end]` is read and not yet decoded.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `src` has no more bytes.
    eof: bool,
    /// Offset in the file of `buf[0]`.
    base: u64,
    /// The first sample (per channel) of the next frame.
    sample: u64,
    /// The largest frame the window grows to hold; past it the stream is taken as corrupt.
    cap: usize,
    /// The decoded samples of the last frame, one buffer of the maximum block size per channel.
    channels: Vec<Vec<i32>>,
}

/// One decoded frame: `len` samples of every channel.
pub struct Block<'a> {
    len: usize,
    channels: &'a [Vec<i32>],
}

impl<'a> Block<'a> {
    /// Samples per channel.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a block without samples (FLAC has none; for clippy's sake).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of channels.
    pub fn channels(&self) -> usize {
        self.channels.len()
    }

    /// The samples of channel `c`, as integers of the stream's size (`c` must be below
    /// [`Block::channels`]).
    pub fn channel(&self, c: usize) -> &'a [i32] {
        &self.channels[c][..self.len]
    }
}

impl FrameReader<io::BufReader<std::fs::File>> {
    /// Opens the FLAC file at `path` and reads its metadata.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata().context("stat")?.len();
        FrameReader::new(io::BufReader::new(file), len)
    }
}

impl<R: Read> FrameReader<R> {
    /// Reads the metadata of the FLAC stream `src` (`len` bytes long) up to its first frame.
    pub fn new(mut src: R, len: u64) -> anyhow::Result<Self> {
        let (info, audio) = super::probe::read_metadata_with(&mut src, len, |_, _| {})?;
        let cap = frame_cap(&info);
        let channels = vec![vec![0; info.max_block_size as usize]; info.channels as usize];
        Ok(FrameReader {
            src,
            info,
            buf: vec![0; WINDOW.min(cap)],
            start: 0,
            end: 0,
            eof: false,
            base: audio,
            sample: 0,
            cap,
            channels,
        })
    }

    /// The stream's STREAMINFO.
    pub fn info(&self) -> &StreamInfoFields {
        &self.info
    }

    /// Decodes the next frame; `None` at the end of the stream.
    pub fn next_block(&mut self) -> anyhow::Result<Option<Block<'_>>> {
        loop {
            // A quarter of the window left: move it on, so a frame rarely straddles its end.
            if !self.eof && self.end - self.start < self.buf.len() / 4 {
                self.fill().with_context(|| format!("{}: read", self.here()))?;
            }
            if self.start == self.end {
                return self.at_end().map(|()| None);
            }
            match decode_frame(&self.buf[self.start..self.end], &self.info, &mut self.channels) {
                Ok(frame) => {
                    self.sample += frame.samples as u64;
                    self.start += frame.bytes;
                    return Ok(Some(Block { len: frame.samples, channels: &self.channels }));
                }
                Err(Fault::Short) => self.more()?,
                Err(Fault::Bad(why)) => bail!("{}: {why}", self.here()),
            }
        }
    }

    /// The frame being decoded, for errors.
    fn here(&self) -> String {
        format!("frame at sample {} (byte {})", self.sample, self.base + self.start as u64)
    }

    /// The stream ended where a frame could start: it must hold the length STREAMINFO gives.
    fn at_end(&self) -> anyhow::Result<()> {
        let total = self.info.total_samples;
        if total != 0 && self.sample != total {
            bail!("the file ends after {} samples, STREAMINFO says {total}", self.sample);
        }
        Ok(())
    }

    /// The frame runs past the window: read on, growing the window when the frame fills it.
    fn more(&mut self) -> anyhow::Result<()> {
        if self.eof {
            bail!("{}: the file ends inside the frame", self.here());
        }
        if self.start == 0 && self.end == self.buf.len() {
            if self.buf.len() >= self.cap {
                bail!("{}: the frame does not end within {} bytes", self.here(), self.cap);
            }
            self.buf.resize((self.buf.len() * 2).min(self.cap), 0);
        }
        self.fill().with_context(|| format!("{}: read", self.here()))
    }

    /// Moves what is left of the window to its start and reads until it is full or the file ends.
    fn fill(&mut self) -> io::Result<()> {
        self.buf.copy_within(self.start..self.end, 0);
        self.base += self.start as u64;
        self.end -= self.start;
        self.start = 0;
        while self.end < self.buf.len() {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The largest frame taken as valid: every channel at 33 bits a sample (the widest a sample or an
/// escaped residual is), twice over for Rice codes worse than that, plus 1 MiB for headers and
/// partition parameters. No sound encoder writes a frame near it (a faulty one did: see the
/// module's charter); a frame that does not end by then is a corrupt one read on into the frames
/// after it.
fn frame_cap(info: &StreamInfoFields) -> usize {
    let verbatim = usize::from(info.max_block_size) * 33 / 8 + 64;
    (1 << 20) + 2 * usize::from(info.channels) * verbatim
}

/// Why a frame did not decode.
#[derive(Debug, PartialEq)]
enum Fault {
    /// The frame runs past the bytes given: more are needed (or the file is truncated).
    Short,
    /// The frame is not valid FLAC.
    Bad(String),
}

fn bad(why: impl Into<String>) -> Fault {
    Fault::Bad(why.into())
}

/// What a decoded frame took.
struct Decoded {
    /// Samples per channel.
    samples: usize,
    /// Bytes of the frame, header to CRC-16.
    bytes: usize,
}

/// Decodes the frame at the start of `data` into `out` (one buffer per channel of STREAMINFO).
fn decode_frame(data: &[u8], info: &StreamInfoFields, out: &mut [Vec<i32>]) -> Result<Decoded, Fault> {
    let h = header(data, info)?;
    let n = h.block_size as usize;
    let bps = u32::from(if h.bits_per_sample == 0 { info.bits_per_sample } else { h.bits_per_sample });
    let mut bits = Bits::new(data, h.len);
    for (c, samples) in out.iter_mut().enumerate() {
        // The side channel of a stereo pair carries one bit more than the stream.
        let side = matches!((h.assignment, c), (8, 1) | (9, 0) | (10, 1));
        subframe(&mut bits, bps + u32::from(side), &mut samples[..n])?;
    }
    let end = bits.byte_end()?;
    let crc = data.get(end..end + 2).ok_or(Fault::Short)?;
    if format::CRC16_WIDE.checksum(&data[..end]) != u16::from_be_bytes([crc[0], crc[1]]) {
        return Err(bad("CRC-16 mismatch"));
    }
    decorrelate(h.assignment, out, n);
    Ok(Decoded { samples: n, bytes: end + 2 })
}

/// The frame header at the start of `data`, checked against STREAMINFO.
fn header(data: &[u8], info: &StreamInfoFields) -> Result<FrameHeader, Fault> {
    let Some(h) = format::parse_frame_header(data) else {
        return Err(if data.len() < MAX_HEADER {
            Fault::Short
        } else {
            bad("no valid frame header (sync code, reserved bits or CRC-8)")
        });
    };
    if h.channels != info.channels {
        return Err(bad(format!("{} channels, STREAMINFO says {}", h.channels, info.channels)));
    }
    if h.bits_per_sample != 0 && h.bits_per_sample != info.bits_per_sample {
        return Err(bad(format!(
            "{}-bit samples, STREAMINFO says {}",
            h.bits_per_sample, info.bits_per_sample
        )));
    }
    if h.block_size > u32::from(info.max_block_size) {
        return Err(bad(format!(
            "a block of {} samples, STREAMINFO's largest is {}",
            h.block_size, info.max_block_size
        )));
    }
    Ok(h)
}

/// Restores left and right from a stereo pair's coding (assignments 8..=10); independent
/// channels stay as they are. Arithmetic wraps: a corrupt frame never gets here (CRC-16), and a
/// valid one never wraps.
fn decorrelate(assignment: u8, out: &mut [Vec<i32>], n: usize) {
    let [a, b] = out else { return };
    let pairs = a[..n].iter_mut().zip(b[..n].iter_mut());
    match assignment {
        8 => pairs.for_each(|(left, side)| *side = left.wrapping_sub(*side)),
        9 => pairs.for_each(|(side, right)| *side = side.wrapping_add(*right)),
        10 => pairs.for_each(|(mid, side)| {
            let m = (*mid << 1) | (*side & 1);
            *mid = m.wrapping_add(*side) >> 1;
            *side = m.wrapping_sub(*side) >> 1;
        }),
        _ => {}
    }
}

/// Decodes one subframe of `bps` bits a sample into `out` (the block's length).
fn subframe(bits: &mut Bits, bps: u32, out: &mut [i32]) -> Result<(), Fault> {
    if bps > 32 {
        return Err(bad("a 33-bit side channel (32-bit stereo decorrelation) is not supported"));
    }
    let head = bits.read(8);
    if head & 0x80 != 0 {
        return Err(bad("a subframe header's padding bit is set"));
    }
    let wasted = if head & 1 == 1 { bits.unary()? + 1 } else { 0 };
    if wasted >= bps {
        return Err(bad(format!("{wasted} wasted bits in a {bps}-bit subframe")));
    }
    let sbps = bps - wasted;
    match (head >> 1) & 0x3F {
        0 => out.fill(bits.read_signed(sbps)),
        1 => out.iter_mut().for_each(|s| *s = bits.read_signed(sbps)),
        t @ 8..=12 => fixed(bits, (t - 8) as usize, sbps, out)?,
        t @ 32..=63 => lpc(bits, (t - 31) as usize, sbps, out)?,
        t => return Err(bad(format!("reserved subframe type {t}"))),
    }
    bits.check()?;
    if wasted > 0 {
        out.iter_mut().for_each(|s| *s <<= wasted);
    }
    Ok(())
}

/// The warm-up samples of a predictor of `order` (checked against the block's length).
fn warm_up(bits: &mut Bits, order: usize, sbps: u32, out: &mut [i32]) -> Result<(), Fault> {
    if order > out.len() {
        return Err(bad(format!("a predictor of order {order} in a block of {} samples", out.len())));
    }
    out[..order].iter_mut().for_each(|s| *s = bits.read_signed(sbps));
    Ok(())
}

/// A FIXED subframe of `order` (0..=4).
fn fixed(bits: &mut Bits, order: usize, sbps: u32, out: &mut [i32]) -> Result<(), Fault> {
    warm_up(bits, order, sbps, out)?;
    // The newest warm-up sample first; the orders below use only their own.
    let h = std::array::from_fn(|j| if j < order { out[order - 1 - j] } else { 0 });
    match order {
        0 => residual(bits, 0, out, Fixed::<0>(h)),
        1 => residual(bits, 1, out, Fixed::<1>(h)),
        2 => residual(bits, 2, out, Fixed::<2>(h)),
        3 => residual(bits, 3, out, Fixed::<3>(h)),
        _ => residual(bits, 4, out, Fixed::<4>(h)),
    }
}

/// An LPC subframe of `order` (1..=32).
fn lpc(bits: &mut Bits, order: usize, sbps: u32, out: &mut [i32]) -> Result<(), Fault> {
    warm_up(bits, order, sbps, out)?;
    let precision = bits.read(4) + 1;
    if precision == 16 {
        return Err(bad("LPC coefficient precision 0b1111 is reserved"));
    }
    let shift = bits.read_signed(5);
    if shift < 0 {
        return Err(bad(format!("a negative LPC shift ({shift})")));
    }
    let shift = shift as u32;
    let mut coefs = [0i32; 32];
    coefs[..order].iter_mut().for_each(|c| *c = bits.read_signed(precision));
    // Every sample of a valid subframe fits `sbps` bits, so Σ|c| · 2^(sbps−1) bounds every sum:
    // within i32, 32-bit sums are exact (and in wrapping arithmetic a corrupt frame cannot panic).
    let gain: u64 = coefs.iter().map(|c| u64::from(c.unsigned_abs())).sum();
    let narrow = gain << (sbps - 1) <= i32::MAX as u64;
    let last = out[order - 1];
    macro_rules! by_order {
        ($($n:literal)*) => {
            match (order, narrow) {
                $(
                    ($n, true) => residual(bits, $n, out, Lpc::<$n, i32>::new(&coefs, shift, last)),
                    ($n, false) => residual(bits, $n, out, Lpc::<$n, i64>::new(&coefs, shift, last)),
                )*
                _ => residual(bits, order, out, LpcAny { coefs, order, shift }),
            }
        };
    }
    // The orders encoders use (libFLAC's levels go to 12) get a loop each; longer ones share one.
    by_order!(1 2 3 4 5 6 7 8 9 10 11 12)
}

/// The residual of a predictor of `order` into `out[order..]`, Rice-coded partitions, each
/// sample restored by `p` as soon as its residual is read (so the predictor's chain of
/// dependencies runs alongside the bit reader's rather than after it).
fn residual<P: Predict>(bits: &mut Bits, order: usize, out: &mut [i32], p: P) -> Result<(), Fault> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("lzcnt")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
    {
        // SAFETY: `residual_bmi` is `residual_of` compiled to use LZCNT, BMI1 and BMI2
        // instructions, and this CPU has them (checked just above).
        return unsafe { residual_bmi(bits, order, out, p) };
    }
    residual_of(bits, order, out, p)
}

/// [`residual_of`] for the x86-64 CPUs that count leading zeros in one cycle (LZCNT; the
/// baseline's BSR takes four, on the chain from one Rice code to the next) and shift by a
/// register other than CL (BMI2): a fifth less CPU for a whole decode. Intel's since Haswell (2013)
/// and AMD's since Excavator (2015) have them; aarch64 (the Raspberry Pi) does both in its
/// baseline, so its one build needs no such choice.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "lzcnt,bmi1,bmi2")]
unsafe fn residual_bmi<P: Predict>(
    bits: &mut Bits,
    order: usize,
    out: &mut [i32],
    p: P,
) -> Result<(), Fault> {
    residual_of(bits, order, out, p)
}

/// [`residual`] itself, inlined into each build of it.
#[inline(always)]
fn residual_of<P: Predict>(bits: &mut Bits, order: usize, out: &mut [i32], mut p: P) -> Result<(), Fault> {
    let (param_bits, escape) = match bits.read(2) {
        0 => (4, 15),
        1 => (5, 31),
        m => return Err(bad(format!("reserved residual coding method {m}"))),
    };
    let partition_order = bits.read(4);
    let n = out.len();
    let size = n >> partition_order;
    if size << partition_order != n || size < order {
        return Err(bad(format!(
            "partition order {partition_order} does not fit a block of {n} samples after {order} warm-up samples"
        )));
    }
    let mut start = order;
    for end in (1..=1usize << partition_order).map(|part| part * size) {
        let k = bits.read(param_bits);
        let part = &mut out[..end];
        if k == escape {
            bits.escaped(part, start, &mut p)?;
        } else {
            bits.rice(k, part, start, &mut p)?;
        }
        start = end;
    }
    Ok(())
}

/// How a subframe's samples are restored from their residuals, one at a time.
trait Predict: Copy {
    /// The sample at `i` whose residual is `r`; `out[..i]` holds the samples before it, the
    /// newest of which `self` also keeps (reading it back from memory just after writing it
    /// would put a store-to-load forwarding into every sample's chain).
    fn sample(&mut self, out: &[i32], i: usize, r: i32) -> i32;
}

/// A FIXED predictor of order `O`, with the last four samples, newest first. Integer
/// polynomials: exact in wrapping 32-bit arithmetic whenever the sample fits 32 bits.
#[derive(Clone, Copy)]
struct Fixed<const O: usize>([i32; 4]);

impl<const O: usize> Predict for Fixed<O> {
    #[inline(always)]
    fn sample(&mut self, _: &[i32], _: usize, r: i32) -> i32 {
        let [a, b, c, d] = self.0;
        let p = match O {
            0 => 0,
            1 => a,
            2 => a.wrapping_mul(2).wrapping_sub(b),
            3 => a.wrapping_sub(b).wrapping_mul(3).wrapping_add(c),
            _ => a.wrapping_add(c).wrapping_mul(4).wrapping_sub(b.wrapping_mul(6)).wrapping_sub(d),
        };
        let v = r.wrapping_add(p);
        self.0 = [v, a, b, c];
        v
    }
}

/// Arithmetic for [`Lpc`]'s sums: i32 where [`lpc`] proved no sum overflows it, i64 otherwise.
trait Acc: Copy + Default {
    fn of(x: i32) -> Self;
    /// `self + c · x`.
    fn mul_add(self, c: Self, x: i32) -> Self;
    /// The prediction: the sum shifted right, as a sample.
    fn predict(self, shift: u32) -> i32;
}

impl Acc for i32 {
    #[inline(always)]
    fn of(x: i32) -> Self {
        x
    }
    #[inline(always)]
    fn mul_add(self, c: Self, x: i32) -> Self {
        self.wrapping_add(c.wrapping_mul(x))
    }
    #[inline(always)]
    fn predict(self, shift: u32) -> i32 {
        self >> shift
    }
}

impl Acc for i64 {
    #[inline(always)]
    fn of(x: i32) -> Self {
        i64::from(x)
    }
    /// No valid or corrupt input overflows: 32 products of a 16-bit coefficient and a 32-bit sample.
    #[inline(always)]
    fn mul_add(self, c: Self, x: i32) -> Self {
        self + c * i64::from(x)
    }
    #[inline(always)]
    fn predict(self, shift: u32) -> i32 {
        (self >> shift) as i32
    }
}

/// An LPC predictor of order `N` summed in `A`: `c` holds the coefficients oldest sample first.
#[derive(Clone, Copy)]
struct Lpc<const N: usize, A> {
    c: [A; N],
    shift: u32,
    last: i32,
}

impl<const N: usize, A: Acc> Lpc<N, A> {
    /// From the coefficients in stream order (the first for the newest sample).
    fn new(coefs: &[i32; 32], shift: u32, last: i32) -> Self {
        Lpc { c: std::array::from_fn(|j| A::of(coefs[N - 1 - j])), shift, last }
    }
}

impl<const N: usize, A: Acc> Predict for Lpc<N, A> {
    #[inline(always)]
    fn sample(&mut self, out: &[i32], i: usize, r: i32) -> i32 {
        let w: &[i32; N] = out[i - N..i].try_into().expect("a window of N samples");
        // The older samples first, the newest (from a register) last: the chain from one
        // sample to the next is one multiply, one add, the shift and the residual.
        let older = (0..N - 1).fold(A::default(), |acc, j| acc.mul_add(self.c[j], w[j]));
        let v = r.wrapping_add(older.mul_add(self.c[N - 1], self.last).predict(self.shift));
        self.last = v;
        v
    }
}

/// An LPC predictor of any order (the rare 13..=32), summed in 64 bits.
#[derive(Clone, Copy)]
struct LpcAny {
    /// In stream order: `coefs[j]` multiplies the sample `j + 1` before.
    coefs: [i32; 32],
    order: usize,
    shift: u32,
}

impl Predict for LpcAny {
    fn sample(&mut self, out: &[i32], i: usize, r: i32) -> i32 {
        let history = out[i - self.order..i].iter().rev();
        let sum: i64 =
            self.coefs[..self.order].iter().zip(history).map(|(c, x)| i64::from(*c) * i64::from(*x)).sum();
        r.wrapping_add((sum >> self.shift) as i32)
    }
}

/// A reader of the bits of a frame, most significant first, through a 64-bit cache.
///
/// Past the end of `data` it reads zeros, so the hot loops need not check each read; the
/// callers check [`Bits::check`] once a partition or subframe, and a run of zeros (a unary code)
/// stops at the end. The cache also holds up to 7 bits beyond `avail` (the rest of the last
/// byte loaded): they are the stream's next bits, and the next refill loads them again.
struct Bits<'a> {
    data: &'a [u8],
    /// The next byte to load.
    pos: usize,
    /// The next bits, left-aligned.
    cache: u64,
    /// Valid bits in `cache` (at most 63).
    avail: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], at: usize) -> Self {
        Bits { data, pos: at, cache: 0, avail: 0 }
    }

    /// Fills the cache to at least 56 bits.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(b) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes(b.try_into().expect("8 bytes"));
            self.cache |= word >> self.avail;
            self.pos += ((63 - self.avail) >> 3) as usize;
            self.avail |= 56;
        } else {
            self.refill_tail();
        }
    }

    /// [`Bits::refill`] within 8 bytes of the end: byte by byte, zeros past it (to 56..=63 bits,
    /// as the fast refill, so a whole code of the cache shifts out in one shift).
    #[inline(never)]
    fn refill_tail(&mut self) {
        while self.avail < 56 {
            let byte = self.data.get(self.pos).copied().unwrap_or(0);
            self.cache |= u64::from(byte) << (56 - self.avail);
            self.pos += 1;
            self.avail += 8;
        }
    }

    /// Bits read so far.
    fn consumed(&self) -> usize {
        self.pos * 8 - self.avail as usize
    }

    /// `Fault::Short` when the reads ran past the data.
    fn check(&self) -> Result<(), Fault> {
        if self.consumed() > self.data.len() * 8 { Err(Fault::Short) } else { Ok(()) }
    }

    /// The next `n` bits (1..=32) as an unsigned number.
    #[inline(always)]
    fn read(&mut self, n: u32) -> u32 {
        if self.avail < n {
            self.refill();
        }
        let v = (self.cache >> (64 - n)) as u32;
        self.cache <<= n;
        self.avail -= n;
        v
    }

    /// The next `n` bits (1..=32) as a two's complement number.
    #[inline(always)]
    fn read_signed(&mut self, n: u32) -> i32 {
        ((self.read(n) << (32 - n)) as i32) >> (32 - n)
    }

    /// A unary code: the zeros before the next one bit (which is consumed too).
    fn unary(&mut self) -> Result<u32, Fault> {
        let mut zeros = 0u32;
        loop {
            let z = self.cache.leading_zeros();
            if z < self.avail {
                self.cache = self.cache << z << 1;
                self.avail -= z + 1;
                return Ok(zeros + z);
            }
            zeros += self.avail;
            self.cache = 0;
            self.avail = 0;
            self.refill();
            self.check()?;
        }
    }

    /// A partition of Rice codes of parameter `k` (0..=30): the residuals of `out[start..]`,
    /// each restored by `p`. The decoder's hot loop: the cache lives in locals (registers) and
    /// goes back to `self` only around the rare slow paths.
    #[inline(always)]
    fn rice<P: Predict>(&mut self, k: u32, out: &mut [i32], start: usize, p: &mut P) -> Result<(), Fault> {
        let low_mask = (1u64 << k) - 1;
        let (mut cache, mut avail, mut pos) = (self.cache, self.avail, self.pos);
        let mut pred = *p;
        for i in start..out.len() {
            if avail < 32 {
                if let Some(b) = self.data.get(pos..pos + 8) {
                    cache |= u64::from_be_bytes(b.try_into().expect("8 bytes")) >> avail;
                    pos += ((63 - avail) >> 3) as usize;
                    avail |= 56;
                } else {
                    (self.cache, self.avail, self.pos) = (cache, avail, pos);
                    self.refill_tail();
                    (cache, avail, pos) = (self.cache, self.avail, self.pos);
                }
            }
            // The `| 1` spares the CPU the zero case of counting (x86-64 without LZCNT): a cache
            // of zeros then counts 63, which, as any count past `avail`, takes the slow path.
            let q = (cache | 1).leading_zeros();
            // Unary zeros, the stop bit and k bits: the code ends `len` bits in (at most 63).
            let len = q + 1 + k;
            let u = if len <= avail {
                let low = (cache >> (64 - len)) & low_mask;
                cache <<= len;
                avail -= len;
                (u64::from(q) << k) | low
            } else {
                (self.cache, self.avail, self.pos) = (cache, avail, pos);
                let u = self.rice_slow(k)?;
                (cache, avail, pos) = (self.cache, self.avail, self.pos);
                u
            };
            let r = ((u >> 1) as i32) ^ -((u & 1) as i32);
            out[i] = pred.sample(out, i, r);
        }
        (self.cache, self.avail, self.pos) = (cache, avail, pos);
        *p = pred;
        self.check()
    }

    /// An escaped partition: the residuals of `out[start..]` in plain binary of a width the
    /// partition gives (0: all zero), each restored by `p`. Rare (noise, a click): kept out of
    /// line, one copy per predictor rather than one in each build of [`residual`].
    #[inline(never)]
    fn escaped<P: Predict>(&mut self, out: &mut [i32], start: usize, p: &mut P) -> Result<(), Fault> {
        let width = self.read(5);
        for i in start..out.len() {
            let r = if width == 0 { 0 } else { self.read_signed(width) };
            out[i] = p.sample(out, i, r);
        }
        self.check()
    }

    /// One Rice code whose quotient runs past the cache.
    #[inline(never)]
    fn rice_slow(&mut self, k: u32) -> Result<u64, Fault> {
        let q = u64::from(self.unary()?);
        let low = if k == 0 { 0 } else { u64::from(self.read(k)) };
        Ok((q << k) | low)
    }

    /// The end of the subframes, padded to a byte: the offset of the CRC-16.
    fn byte_end(&self) -> Result<usize, Fault> {
        self.check()?;
        Ok(self.consumed().div_ceil(8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bit writer, most significant bit first: the encoder side of the tests.
    #[derive(Default)]
    struct W {
        bytes: Vec<u8>,
        acc: u8,
        n: u32,
    }

    impl W {
        fn bit(&mut self, one: bool) {
            self.acc = (self.acc << 1) | u8::from(one);
            self.n += 1;
            if self.n == 8 {
                self.bytes.push(self.acc);
                (self.acc, self.n) = (0, 0);
            }
        }
        fn put(&mut self, v: u64, bits: u32) {
            (0..bits).rev().for_each(|b| self.bit((v >> b) & 1 == 1));
        }
        fn signed(&mut self, v: i64, bits: u32) {
            self.put(v as u64, bits);
        }
        fn unary(&mut self, zeros: u64) {
            (0..zeros).for_each(|_| self.bit(false));
            self.bit(true);
        }
        fn rice(&mut self, r: i64, k: u32) {
            let u = if r >= 0 { 2 * r as u64 } else { (-2 * r - 1) as u64 };
            self.unary(u >> k);
            self.put(u, k);
        }
        fn align(&mut self) {
            while self.n != 0 {
                self.bit(false);
            }
        }
    }

    /// How a subframe is coded.
    #[derive(Clone)]
    enum Sub {
        Constant,
        Verbatim,
        Fixed(usize),
        /// Coefficients in stream order (the first for the newest sample), precision, shift.
        Lpc(Vec<i64>, u32, i64),
    }

    /// How its residual is coded: method (0: 4-bit parameters, 1: 5-bit), partition order, and a
    /// parameter per partition (cycled), as an offset from the one that suits the partition
    /// (clamped to the method's range; `None` escapes the partition at the width it needs).
    #[derive(Clone)]
    struct Coding {
        method: u64,
        partition_order: u32,
        params: Vec<Option<i32>>,
    }

    fn rice(method: u64, partition_order: u32, params: &[Option<i32>]) -> Coding {
        Coding { method, partition_order, params: params.to_vec() }
    }

    /// The prediction of sample `i` of `s` (a reference in i64, independent of the decoder).
    fn predict(sub: &Sub, s: &[i64], i: usize) -> i64 {
        match sub {
            Sub::Fixed(0) => 0,
            Sub::Fixed(1) => s[i - 1],
            Sub::Fixed(2) => 2 * s[i - 1] - s[i - 2],
            Sub::Fixed(3) => 3 * s[i - 1] - 3 * s[i - 2] + s[i - 3],
            Sub::Fixed(_) => 4 * s[i - 1] - 6 * s[i - 2] + 4 * s[i - 3] - s[i - 4],
            Sub::Lpc(c, _, shift) => {
                c.iter().enumerate().map(|(j, c)| c * s[i - 1 - j]).sum::<i64>() >> shift
            }
            _ => unreachable!(),
        }
    }

    /// Writes a subframe of `samples` (true values, multiples of 2^`wasted`) at `bps` bits.
    fn subframe(w: &mut W, sub: &Sub, coding: &Coding, samples: &[i64], bps: u32, wasted: u32) {
        let s: Vec<i64> = samples.iter().map(|v| v >> wasted).collect();
        let sbps = bps - wasted;
        let (kind, order) = match sub {
            Sub::Constant => (0, 0),
            Sub::Verbatim => (1, 0),
            Sub::Fixed(o) => (8 + *o as u64, *o),
            Sub::Lpc(c, ..) => (31 + c.len() as u64, c.len()),
        };
        w.put(kind << 1 | u64::from(wasted > 0), 8);
        if wasted > 0 {
            w.unary(u64::from(wasted - 1));
        }
        match sub {
            Sub::Constant => return w.signed(s[0], sbps),
            Sub::Verbatim => return s.iter().for_each(|v| w.signed(*v, sbps)),
            _ => s[..order].iter().for_each(|v| w.signed(*v, sbps)),
        }
        if let Sub::Lpc(c, precision, shift) = sub {
            w.put(u64::from(precision - 1), 4);
            w.signed(*shift, 5);
            c.iter().for_each(|c| w.signed(*c, *precision));
        }
        let residual: Vec<i64> = (order..s.len()).map(|i| s[i] - predict(sub, &s, i)).collect();
        write_residual(w, coding, order, s.len(), &residual);
    }

    fn write_residual(w: &mut W, coding: &Coding, order: usize, n: usize, residual: &[i64]) {
        let (param_bits, escape) = if coding.method == 0 { (4, 15) } else { (5, 31) };
        w.put(coding.method, 2);
        w.put(u64::from(coding.partition_order), 4);
        let size = n >> coding.partition_order;
        let mut at = 0;
        for p in 0..1usize << coding.partition_order {
            let count = if p == 0 { size - order } else { size };
            let part = &residual[at..at + count];
            at += count;
            match coding.params[p % coding.params.len()] {
                Some(delta) => {
                    let mean = part.iter().map(|r| r.unsigned_abs() * 2).sum::<u64>() / count.max(1) as u64;
                    let k =
                        (63 - mean.max(1).leading_zeros() as i32 + delta).clamp(0, escape as i32 - 1) as u32;
                    w.put(u64::from(k), param_bits);
                    part.iter().for_each(|r| w.rice(*r, k));
                }
                None => {
                    let width = part.iter().map(|r| 65 - (r ^ (r >> 63)).leading_zeros()).max().unwrap_or(0);
                    let width = if part.iter().all(|r| *r == 0) { 0 } else { width };
                    w.put(escape, param_bits);
                    w.put(u64::from(width), 5);
                    part.iter().for_each(|r| w.signed(*r, width));
                }
            }
        }
    }

    /// The UTF-8-like coding of a frame or sample number.
    fn coded_number(n: u64) -> Vec<u8> {
        if n < 0x80 {
            return vec![n as u8];
        }
        let extra = (1..=6).find(|e| n < 1u64 << (5 * e + 6)).expect("36 bits at most");
        let mut v = vec![(0xFF00u16 >> (extra + 1)) as u8 | (n >> (6 * extra)) as u8];
        v.extend((0..extra).rev().map(|i| 0x80 | ((n >> (6 * i)) & 0x3F) as u8));
        v
    }

    /// A frame header's fields (codes as RFC 9639 numbers them).
    #[derive(Clone)]
    struct Head {
        variable: bool,
        number: u64,
        /// Block-size code and, for codes 6 and 7, the bytes at the end of the header.
        bs: (u8, Vec<u8>),
        /// Sample-rate code and, for codes 12..=14, its bytes.
        sr: (u8, Vec<u8>),
        assignment: u8,
        size_code: u8,
    }

    fn head(n: usize) -> Head {
        let bs = match n {
            192 => (1, vec![]),
            4096 => (12, vec![]),
            n if n <= 256 => (6, vec![(n - 1) as u8]),
            n => (7, ((n - 1) as u16).to_be_bytes().to_vec()),
        };
        Head { variable: false, number: 0, bs, sr: (0, vec![]), assignment: 0, size_code: 4 }
    }

    /// The frame header's sample-size code of `bits`.
    fn size_code(bits: u32) -> u8 {
        match bits {
            8 => 1,
            12 => 2,
            16 => 4,
            20 => 5,
            24 => 6,
            _ => 7,
        }
    }

    /// A whole frame: header, the subframes `body` writes, padding, CRC-16.
    fn frame(h: &Head, body: impl FnOnce(&mut W)) -> Vec<u8> {
        let mut f = vec![
            0xFF,
            0xF8 | u8::from(h.variable),
            h.bs.0 << 4 | h.sr.0,
            h.assignment << 4 | h.size_code << 1,
        ];
        f.extend(coded_number(h.number));
        f.extend(&h.bs.1);
        f.extend(&h.sr.1);
        f.push(format::crc8(&f));
        let mut w = W { bytes: f, ..W::default() };
        body(&mut w);
        w.align();
        let crc = format::CRC16.checksum(&w.bytes);
        w.bytes.extend(crc.to_be_bytes());
        w.bytes
    }

    fn info(channels: u8, bits: u8, max_block: u16, total: u64) -> StreamInfoFields {
        StreamInfoFields {
            min_block_size: 16,
            max_block_size: max_block,
            min_frame_size: 0,
            max_frame_size: 0,
            sample_rate: 48_000,
            channels,
            bits_per_sample: bits,
            total_samples: total,
            md5: [0; 16],
        }
    }

    /// `fLaC`, STREAMINFO (the last metadata block) and `frames`.
    fn stream(info: &StreamInfoFields, frames: &[Vec<u8>]) -> Vec<u8> {
        let mut s = b"fLaC\x80\x00\x00\x22".to_vec();
        s.extend(info.to_bytes());
        frames.iter().for_each(|f| s.extend(f));
        s
    }

    /// Every channel of `bytes`, decoded to the end.
    fn decode(bytes: &[u8]) -> anyhow::Result<Vec<Vec<i64>>> {
        let mut r = FrameReader::new(io::Cursor::new(bytes), bytes.len() as u64)?;
        let mut out = vec![Vec::new(); r.info().channels as usize];
        while let Some(b) = r.next_block()? {
            for (c, o) in out.iter_mut().enumerate() {
                o.extend(b.channel(c).iter().map(|s| i64::from(*s)));
            }
        }
        Ok(out)
    }

    /// A test signal: a loud sine with noise, within `bits` bits, a multiple of 2^`wasted`.
    fn signal(n: usize, bits: u32, wasted: u32, seed: u32) -> Vec<i64> {
        let amp = (1i64 << (bits - 1)) as f64 * 0.7;
        let mut x = seed;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (f64::from(x >> 8) / f64::from(1u32 << 24) - 0.5) * amp * 0.1;
                let v = (amp * (i as f64 * 0.05 + f64::from(seed)).sin() + noise) as i64;
                v >> wasted << wasted
            })
            .collect()
    }

    /// A mono stream of one frame of `sub`, and its samples.
    fn mono(sub: Sub, coding: Coding, n: usize, bits: u32, wasted: u32) -> (Vec<u8>, Vec<i64>) {
        let s = signal(n, bits, wasted, 3);
        let s = if matches!(sub, Sub::Constant) { vec![s[0]; n] } else { s };
        let h = Head { size_code: size_code(bits), ..head(n) };
        let f = frame(&h, |w| subframe(w, &sub, &coding, &s, bits, wasted));
        (stream(&info(1, bits as u8, n.max(16) as u16, n as u64), &[f]), s)
    }

    #[test]
    fn constant_and_verbatim_frames_in_every_header_form() {
        let si = info(1, 16, 4608, 0);
        let s = signal(7308, 16, 0, 1);
        let sizes_and_rates = [
            ((1, vec![]), (0, vec![]), 192),                   // 192, rate from STREAMINFO
            ((6, vec![99]), (12, vec![48]), 100),              // 8-bit size, rate in kHz
            ((7, vec![3, 231]), (13, vec![0xAC, 0x44]), 1000), // 16-bit size, rate in Hz
            ((8, vec![]), (14, vec![0x12, 0xC0]), 256),        // 256, rate in tens of Hz
            ((3, vec![]), (9, vec![]), 1152),                  // 576·2, 44.1 kHz
            ((5, vec![]), (10, vec![]), 4608),                 // 576·8, 48 kHz
        ];
        let mut frames = Vec::new();
        let (mut at, mut want) = (0, Vec::new());
        for (i, (bs, sr, n)) in sizes_and_rates.into_iter().enumerate() {
            let h = Head { number: i as u64, bs, sr, ..head(n) };
            let part = &s[at..at + n];
            let sub = if i % 2 == 0 { Sub::Constant } else { Sub::Verbatim };
            let part = if i % 2 == 0 { vec![part[0]; n] } else { part.to_vec() };
            frames.push(frame(&h, |w| subframe(w, &sub, &rice(0, 0, &[Some(0)]), &part, 16, 0)));
            want.extend(part);
            at += n;
        }
        assert_eq!(decode(&stream(&si, &frames)).unwrap(), [want]);
    }

    #[test]
    fn every_fixed_order_with_every_residual_coding() {
        let codings = [
            rice(0, 0, &[Some(0)]),
            rice(0, 2, &[Some(-3), Some(20), None, Some(1)]),
            rice(1, 4, &[Some(30), Some(-1), None, Some(-4), Some(2)]),
            rice(1, 1, &[None]),
        ];
        for order in 0..=4 {
            for (i, coding) in codings.iter().enumerate() {
                let (bytes, s) = mono(Sub::Fixed(order), coding.clone(), 4096, 16, 0);
                assert_eq!(decode(&bytes).unwrap(), [s], "order {order}, coding {i}");
            }
        }
        // A block of exactly the order, and a residual of zeros (escaped at width 0).
        let (bytes, s) = mono(Sub::Fixed(4), rice(0, 0, &[Some(0)]), 4, 16, 0);
        assert_eq!(decode(&bytes).unwrap(), [s]);
        let flat = vec![5i64; 64];
        let f = frame(&Head { size_code: 4, ..head(64) }, |w| {
            subframe(w, &Sub::Fixed(1), &rice(0, 1, &[None]), &flat, 16, 0)
        });
        assert_eq!(decode(&stream(&info(1, 16, 64, 64), &[f])).unwrap(), [flat]);
    }

    #[test]
    fn lpc_of_low_and_high_order_in_32_and_64_bit_sums() {
        let cases = [
            (Sub::Lpc(vec![1900], 12, 11), 16),
            (Sub::Lpc(vec![3000, -1500, 700, -200, 100, -50, 25, -10], 13, 11), 16),
            (Sub::Lpc(vec![2000, -900, 400, -200, 100, -50, 25, -10, 5, -3, 2, -1], 15, 10), 24),
            // Coefficients whose sums overflow 32 bits on 24-bit samples: the 64-bit path.
            (Sub::Lpc(vec![16_000, -15_000, 14_000, -13_000], 15, 14), 24),
            // Orders past 12 share one loop; 32 is the largest.
            (Sub::Lpc((0..20).map(|j| if j == 0 { 1500 } else { 30 - j }).collect(), 12, 10), 16),
            (Sub::Lpc((0..32).map(|j| if j == 0 { 1800 } else { (j % 5) - 2 }).collect(), 12, 10), 16),
            (Sub::Lpc(vec![4096, -2048], 14, 12), 8),
        ];
        for (i, (sub, bits)) in cases.into_iter().enumerate() {
            for wasted in [0, 3] {
                let (bytes, s) = mono(sub.clone(), rice(1, 3, &[Some(0), None, Some(2)]), 4096, bits, wasted);
                assert_eq!(decode(&bytes).unwrap(), [s], "case {i}, {wasted} wasted bits");
            }
        }
    }

    #[test]
    fn wasted_bits_on_every_subframe_type() {
        for sub in [Sub::Constant, Sub::Verbatim, Sub::Fixed(2), Sub::Lpc(vec![1800, -700], 12, 10)] {
            let (bytes, s) = mono(sub, rice(0, 0, &[Some(0)]), 1000, 24, 5);
            assert_eq!(decode(&bytes).unwrap(), [s]);
        }
    }

    /// The coded channels of a stereo pair in `assignment` (8 left/side, 9 side/right, 10 mid/side).
    fn coded(assignment: u8, l: &[i64], r: &[i64]) -> (Vec<i64>, Vec<i64>) {
        let side: Vec<i64> = l.iter().zip(r).map(|(l, r)| l - r).collect();
        match assignment {
            8 => (l.to_vec(), side),
            9 => (side, r.to_vec()),
            10 => (l.iter().zip(r).map(|(l, r)| (l + r) >> 1).collect(), side),
            _ => (l.to_vec(), r.to_vec()),
        }
    }

    #[test]
    fn every_stereo_assignment() {
        for bits in [8, 16, 24] {
            let (l, r) = (signal(4096, bits, 0, 1), signal(4096, bits, 0, 2));
            for assignment in [1, 8, 9, 10] {
                let (a, b) = coded(assignment, &l, &r);
                let side = |c: usize| matches!((assignment, c), (8, 1) | (9, 0) | (10, 1));
                let h = Head { assignment, size_code: size_code(bits), ..head(4096) };
                let f = frame(&h, |w| {
                    subframe(w, &Sub::Fixed(2), &rice(1, 2, &[Some(0)]), &a, bits + u32::from(side(0)), 0);
                    subframe(
                        w,
                        &Sub::Lpc(vec![1800, -700], 12, 10),
                        &rice(0, 0, &[None]),
                        &b,
                        bits + u32::from(side(1)),
                        0,
                    );
                });
                let got = decode(&stream(&info(2, bits as u8, 4096, 4096), &[f])).unwrap();
                assert_eq!(got, [l.clone(), r.clone()], "{bits} bits, assignment {assignment}");
            }
        }
    }

    #[test]
    fn six_channels_and_32_bit_samples() {
        let chans: Vec<Vec<i64>> = (0..6).map(|c| signal(576, 16, 0, c)).collect();
        let f = frame(&Head { assignment: 5, bs: (2, vec![]), ..head(576) }, |w| {
            chans
                .iter()
                .enumerate()
                .for_each(|(c, s)| subframe(w, &Sub::Fixed(c % 5), &rice(0, 1, &[Some(0)]), s, 16, 0))
        });
        assert_eq!(decode(&stream(&info(6, 16, 576, 576), &[f])).unwrap(), chans);
        for (i, sub) in
            [Sub::Verbatim, Sub::Fixed(3), Sub::Lpc(vec![1900, -900], 12, 10)].into_iter().enumerate()
        {
            let mut s = signal(1000, 32, 0, 4);
            // The extremes, where no residual has to reach them.
            if i == 0 {
                (s[10], s[11]) = (i64::from(i32::MIN), i64::from(i32::MAX));
            }
            let f = frame(&Head { size_code: 7, ..head(1000) }, |w| {
                subframe(w, &sub, &rice(1, 0, &[None]), &s, 32, 0)
            });
            let got = decode(&stream(&info(1, 32, 1000, 1000), &[f]));
            assert_eq!(got.as_ref().ok(), Some(&vec![s.clone()]), "case {i}: {:?}", got.as_ref().err());
        }
        // A 32-bit stereo frame coded with a 33-bit side channel is refused, not misread.
        let s = signal(1000, 32, 0, 4);
        let f = frame(&Head { assignment: 8, size_code: 7, ..head(1000) }, |w| {
            subframe(w, &Sub::Verbatim, &rice(0, 0, &[Some(0)]), &s, 32, 0);
            subframe(w, &Sub::Verbatim, &rice(0, 0, &[Some(0)]), &s, 32, 0);
        });
        let e = decode(&stream(&info(2, 32, 1000, 1000), &[f])).unwrap_err().to_string();
        assert!(e.contains("33-bit side channel"), "{e}");
    }

    #[test]
    fn variable_blocking_with_long_sample_numbers() {
        let s = signal(3000, 16, 0, 5);
        let mut frames = Vec::new();
        let mut at = 0;
        for (i, n) in [1000usize, 17, 1983].into_iter().enumerate() {
            // The sample numbers are not checked; long ones must still parse.
            let h = Head { variable: true, number: [0, 1 << 35, 0xF_FFFF_FFFF][i], ..head(n) };
            frames.push(frame(&h, |w| {
                subframe(w, &Sub::Fixed(1), &rice(0, 0, &[Some(0)]), &s[at..at + n], 16, 0)
            }));
            at += n;
        }
        assert_eq!(decode(&stream(&info(1, 16, 2000, 3000), &frames)).unwrap(), [s]);
    }

    /// A mono 16-bit stream of three frames of 1000 samples (FIXED 2, LPC, VERBATIM), its
    /// samples and where its frames start.
    fn three_frames() -> (Vec<u8>, Vec<i64>, Vec<usize>) {
        let s = signal(3000, 16, 0, 6);
        let subs = [Sub::Fixed(2), Sub::Lpc(vec![1800, -700], 12, 10), Sub::Verbatim];
        let frames: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                let h = Head { number: i as u64, ..head(1000) };
                frame(&h, |w| subframe(w, &subs[i], &rice(0, 2, &[Some(0)]), &s[i * 1000..][..1000], 16, 0))
            })
            .collect();
        let starts = frames.iter().scan(42, |at, f| Some(std::mem::replace(at, *at + f.len()))).collect();
        (stream(&info(1, 16, 1000, 3000), &frames), s, starts)
    }

    /// The error of decoding `bytes`, with its causes.
    fn error(bytes: &[u8]) -> String {
        format!("{:#}", decode(bytes).expect_err("an error"))
    }

    #[test]
    fn a_frame_whose_crc_fails_is_an_error_naming_its_position() {
        let (good, s, starts) = three_frames();
        assert_eq!(decode(&good).unwrap(), [s]);
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        let e = error(&bad);
        assert!(e.contains(&format!("frame at sample 2000 (byte {}): CRC-16 mismatch", starts[2])), "{e}");
        // A flipped bit in a subframe fails the CRC too (or an earlier check), never decodes.
        for i in [60, 300, 1000] {
            let mut bad = good.clone();
            bad[i] ^= 0x08;
            assert!(error(&bad).contains("frame at sample"), "flip in byte {i}");
        }
    }

    #[test]
    fn a_truncated_stream_is_an_error_wherever_it_ends() {
        let (good, _, starts) = three_frames();
        for len in 0..good.len() {
            let e = error(&good[..len]);
            let expected =
                ["ends inside the frame", "ends after", "FLAC marker", "metadata block", "STREAMINFO"];
            assert!(expected.iter().any(|x| e.contains(x)), "cut at {len}: {e}");
        }
        // Cut at a frame's end, only the length in STREAMINFO tells.
        assert!(error(&good[..starts[1]]).contains("the file ends after 1000 samples, STREAMINFO says 3000"));
        // Unknown length (0): the frames there are the stream.
        let mut unknown = good[..starts[1]].to_vec();
        unknown[8..42].copy_from_slice(&info(1, 16, 1000, 0).to_bytes());
        assert_eq!(decode(&unknown).unwrap()[0].len(), 1000);
    }

    /// A mono 16-bit stream of one frame of 64 samples, its header as `h`, its subframe written
    /// by `body`: for frames that are wrong in one way.
    fn one(h: Head, body: impl FnOnce(&mut W)) -> String {
        error(&stream(&info(1, 16, 64, 64), &[frame(&h, body)]))
    }

    /// Writes `fields`, each a value in so many bits.
    fn fields(fields: &[(i64, u32)]) -> impl FnOnce(&mut W) + '_ {
        |w| fields.iter().for_each(|(v, n)| w.signed(*v, *n))
    }

    #[test]
    fn frames_that_disagree_with_streaminfo_or_lack_a_header_are_errors() {
        let s = signal(64, 16, 0, 7);
        let h = || Head { size_code: 4, ..head(64) };
        let fixed = |w: &mut W| subframe(w, &Sub::Fixed(2), &rice(0, 0, &[Some(0)]), &s, 16, 0);
        let cases = [
            (one(Head { assignment: 1, ..h() }, fixed), "2 channels, STREAMINFO says 1"),
            (one(Head { size_code: 6, ..h() }, fixed), "24-bit samples, STREAMINFO says 16"),
            (
                one(Head { bs: (7, vec![0, 99]), ..h() }, fixed),
                "a block of 100 samples, STREAMINFO's largest is 64",
            ),
        ];
        for (e, want) in cases {
            assert!(e.contains(want) && e.contains("frame at sample 0 (byte 42)"), "want {want:?}: {e}");
        }
        let mut no_sync = stream(&info(1, 16, 64, 64), &[frame(&h(), fixed)]);
        no_sync[43] = 0xF0;
        no_sync.extend([0; 16]);
        assert!(error(&no_sync).contains("no valid frame header"), "{}", error(&no_sync));
    }

    #[test]
    fn malformed_subframes_are_errors_saying_what_is_wrong() {
        let h = || Head { size_code: 4, ..head(64) };
        let short = || Head { bs: (6, vec![2]), ..h() };
        // A FIXED order 4 subframe's header and warm-up, then its residual's method and order.
        let fixed4 = |method, order| [(24, 8), (0, 64), (method, 2), (order, 4)];
        // An LPC order 2 subframe's header and warm-up, then its precision and shift.
        let lpc2 = |precision, shift| [(33 << 1, 8), (0, 32), (precision, 4), (shift, 5)];
        let cases = [
            (one(h(), fields(&[(0b1000_0000, 8)])), "padding bit"),
            (one(h(), fields(&[(0b0000_0100, 8)])), "reserved subframe type 2"),
            (one(h(), fields(&[(0b0011_1100, 8)])), "reserved subframe type 30"),
            (one(h(), fields(&[(0b0000_0011, 8), (1, 16)])), "16 wasted bits in a 16-bit subframe"),
            (one(h(), fields(&fixed4(2, 0))), "reserved residual coding method 2"),
            (one(h(), fields(&fixed4(0, 7))), "partition order 7 does not fit"),
            (one(h(), fields(&fixed4(1, 5))), "after 4 warm-up samples"),
            (one(h(), fields(&lpc2(15, 0))), "precision 0b1111 is reserved"),
            (one(h(), fields(&lpc2(11, -2))), "negative LPC shift (-2)"),
            (one(short(), fields(&[(24, 8)])), "a predictor of order 4 in a block of 3 samples"),
            (one(short(), fields(&[(63 << 1, 8)])), "a predictor of order 32 in a block of 3 samples"),
            // A residual that runs on past the frame (and the file): all zeros, no stop bit.
            (one(h(), fields(&[(8 << 1, 8), (0, 10), (0, 60)])), "ends inside the frame"),
        ];
        for (e, want) in cases {
            assert!(e.contains(want) && e.contains("frame at sample 0 (byte 42)"), "want {want:?}: {e}");
        }
    }

    #[test]
    fn no_corruption_panics_or_hangs() {
        let (good, s, _) = three_frames();
        let (lpc32, _) = mono(
            Sub::Lpc((0..32).map(|j| 1000 - j * 30).collect(), 12, 10),
            rice(1, 3, &[Some(0), None]),
            4096,
            24,
            2,
        );
        let mut x = 12345u32;
        let mut next = |m: usize| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as usize % m
        };
        for original in [&good, &lpc32] {
            for _ in 0..400 {
                let mut bad = original.clone();
                for _ in 0..1 + next(3) {
                    let at = 42 + next(bad.len() - 42);
                    bad[at] ^= 1 << next(8);
                }
                // Whatever the flips hit: an error or (in a header field decoding ignores) the samples.
                if let Ok(got) = decode(&bad) {
                    assert!(original != &good || got == [s.clone()]);
                }
            }
        }
    }

    #[test]
    fn frames_larger_than_the_window_and_across_its_end() {
        // 8 channels of 65535 24-bit samples, verbatim: 1.5 MB frames, six times the window;
        // between them frames of 4096 samples, some straddling the window's end as it moves on.
        let n = 65_535;
        let chans: Vec<Vec<i64>> = (0..8).map(|c| signal(n, 24, 0, c)).collect();
        let big = |number| {
            frame(&Head { number, assignment: 7, size_code: 6, ..head(n) }, |w| {
                chans.iter().for_each(|s| subframe(w, &Sub::Verbatim, &rice(0, 0, &[Some(0)]), s, 24, 0))
            })
        };
        let small = |number: u64| {
            frame(&Head { number, assignment: 7, size_code: 6, ..head(4096) }, |w| {
                chans
                    .iter()
                    .for_each(|s| subframe(w, &Sub::Fixed(2), &rice(1, 4, &[Some(0)]), &s[..4096], 24, 0))
            })
        };
        let frames = [big(0), small(1), small(2), small(3), big(4), small(5), small(6), small(7), small(8)];
        assert!(frames[0].len() > 4 * WINDOW && frames[1].len() < WINDOW / 2);
        let total = 2 * n + 7 * 4096;
        let bytes = stream(&info(8, 24, 65_535, total as u64), &frames);
        let want: Vec<Vec<i64>> =
            chans.iter().map(|c| [&c[..], &c[..4096].repeat(3), c, &c[..4096].repeat(4)].concat()).collect();
        assert_eq!(decode(&bytes).unwrap(), want);
        // The same through short reads.
        let mut r = FrameReader::new(crate::pcm::tests::Dribble(&bytes, 7), bytes.len() as u64).unwrap();
        let mut last = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            last.extend(b.channel(7).iter().map(|s| i64::from(*s)));
        }
        assert_eq!(last, want[7]);
    }
}
