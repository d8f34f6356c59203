//! Repair of a FLAC file that was cut short (a recorder killed with SIGKILL, a power cut):
//! find the complete frames, cut off a torn last frame, and rewrite STREAMINFO to match.
//!
//! Frames are found without decoding audio: a frame is accepted when its header parses (sync
//! code, reserved bits, CRC-8), carries the next frame number, and its CRC-16 matches at a point
//! followed either by the next valid header or by the exact end of the file. Zeros at the end of
//! a file (left by some file systems after a power cut) make the end of the last frame ambiguous
//! to a CRC, so that frame is dropped with them: at most one block (85 ms at 48 kHz) lost, and the
//! result is always a valid file. Memory stays bounded: the file is read through a window of a
//! few MiB. The MD5 cannot be checked without decoding, so it is always set to "unknown" (zeros),
//! which decoders accept: even a STREAMINFO that describes exactly the frames found may carry an
//! MD5 that the audio no longer matches (a change the frames' CRC-16 does not catch), and a
//! recovered file must pass `flac -t`.

use super::Sink;
use super::format::{self, StreamInfoFields};
use anyhow::Context as _;
use std::io::{self, Read, Seek, SeekFrom};

/// What a scan found in a FLAC file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanReport {
    /// STREAMINFO as found in the file.
    pub info: StreamInfoFields,
    /// Offset of the first frame (after the metadata blocks).
    pub audio_start: u64,
    /// Complete frames found.
    pub frames: u64,
    /// PCM frames (samples per channel) in those frames.
    pub samples: u64,
    /// Offset just after the last complete frame: the length the file should have.
    pub end: u64,
    /// Length of the file as found.
    pub file_len: u64,
    /// Smallest complete frame in bytes (0 when there is none).
    pub min_frame: u32,
    /// Largest complete frame in bytes.
    pub max_frame: u32,
}

/// Reads the file through a window, so a scan of hours of audio needs a few MiB.
struct Window<R> {
    r: R,
    len: u64,
    base: u64,
    buf: Vec<u8>,
}

const CHUNK: usize = 4 << 20;

impl<R: Read + Seek> Window<R> {
    /// Up to `n` bytes from `start` (fewer only at the end of the file).
    fn get(&mut self, start: u64, n: usize) -> io::Result<&[u8]> {
        let want_end = (start + n as u64).min(self.len);
        let have_end = self.base + self.buf.len() as u64;
        if start < self.base || want_end > have_end {
            let size = (n.max(CHUNK) as u64).min(self.len.saturating_sub(start)) as usize;
            self.buf.resize(size, 0);
            self.r.seek(SeekFrom::Start(start))?;
            self.r.read_exact(&mut self.buf)?;
            self.base = start;
        }
        let from = (start - self.base) as usize;
        let to = (want_end.max(start) - self.base) as usize;
        Ok(&self.buf[from..to])
    }
}

/// Offset just after the last byte that is not zero (0 for an all-zero file).
fn nonzero_end<R: Read + Seek>(w: &mut Window<R>) -> io::Result<u64> {
    let mut end = w.len;
    while end > 0 {
        let start = end.saturating_sub(64 << 10);
        let chunk = w.get(start, (end - start) as usize)?;
        if let Some(i) = chunk.iter().rposition(|&b| b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Reads the metadata blocks of a FLAC stream: STREAMINFO and the offset of the first frame
/// (the walk is [`super::probe::read_metadata_with`]).
pub fn read_metadata<R: Read>(r: &mut R, file_len: u64) -> anyhow::Result<(StreamInfoFields, u64)> {
    super::probe::read_metadata_with(r, file_len, |_, _| {})
}

/// Upper bound of a frame's size: every channel verbatim at one extra bit (a side channel),
/// plus headers and checksums.
fn max_frame_len(info: &StreamInfoFields, block_size: u32) -> usize {
    let per_channel = (block_size as usize * (info.bits_per_sample as usize + 1)).div_ceil(8) + 8;
    32 + info.channels as usize * per_channel
}

/// Walks the frames of a FLAC stream written with a fixed block size and reports the complete
/// ones. Does not change anything.
pub fn scan<R: Read + Seek>(mut r: R) -> anyhow::Result<ScanReport> {
    let file_len = r.seek(SeekFrom::End(0)).context("seek")?;
    r.seek(SeekFrom::Start(0)).context("seek")?;
    let (info, audio_start) = read_metadata(&mut io::BufReader::new(&mut r), file_len)?;
    let mut w = Window { r, len: file_len, base: 0, buf: Vec::new() };
    let tail_end = nonzero_end(&mut w).context("read")?;
    let zeros_at_end = file_len - tail_end;

    let accepts = |h: &format::FrameHeader, number: u64| {
        !h.variable
            && h.number == number
            && h.channels == info.channels
            && (h.bits_per_sample == 0 || h.bits_per_sample == info.bits_per_sample)
            && h.block_size <= info.max_block_size as u32
    };

    let mut report = ScanReport {
        info: info.clone(),
        audio_start,
        frames: 0,
        samples: 0,
        end: audio_start,
        file_len,
        min_frame: 0,
        max_frame: 0,
    };
    let mut pos = audio_start;
    let mut last_was_short = false;
    while pos < tail_end && !last_was_short {
        let head = w.get(pos, 32).context("read")?;
        let Some(h) = format::parse_frame_header(head).filter(|h| accepts(h, report.frames)) else {
            break;
        };
        let limit = max_frame_len(&info, h.block_size);
        let data = w.get(pos, limit + 32).context("read")?;
        let ends_file = |k: usize| pos + k as u64 + 2 == file_len && zeros_at_end <= 1;
        let next_follows =
            |rest: &[u8]| format::parse_frame_header(rest).is_some_and(|n| accepts(&n, report.frames + 1));
        let found = frame_len(data, h.len, limit, ends_file, next_follows).map(|n| pos + n as u64);
        let Some(e) = found else { break };
        let len = (e - pos) as u32;
        report.min_frame = if report.frames == 0 { len } else { report.min_frame.min(len) };
        report.max_frame = report.max_frame.max(len);
        report.frames += 1;
        report.samples += h.block_size as u64;
        report.end = e;
        last_was_short = h.block_size < info.max_block_size as u32;
        pos = e;
    }
    Ok(report)
}

/// The length of the frame at the start of `data` (whose header is `header_len` bytes and which
/// is at most `limit` bytes): it ends where its CRC-16 matches and `next_follows` the rest, or
/// where `ends_file` says the file ends exactly. `None` when no end is found.
///
/// Zeros at the end (a file system after a power cut) are ambiguous: the CRC of a message
/// followed by its CRC is zero, so a CRC "matches" at every zero byte, and one byte early when
/// the CRC ends in a zero byte. So the caller's `ends_file` refuses an end followed by two or
/// more zero bytes, and the last frame before them is dropped too (at most one block lost, the
/// file stays valid); a single final zero byte is taken as the end of a CRC (what a killed
/// recorder leaves).
fn frame_len(
    data: &[u8],
    header_len: usize,
    limit: usize,
    ends_file: impl Fn(usize) -> bool,
    next_follows: impl Fn(&[u8]) -> bool,
) -> Option<usize> {
    let mut crc = format::CRC16.digest();
    for k in 0..data.len().saturating_sub(1).min(limit) {
        // The CRC of data[..k]; the digest has no final XOR, so finishing a copy is cheap.
        if k > header_len
            && crc.clone().finalize() == u16::from_be_bytes([data[k], data[k + 1]])
            && (ends_file(k) || next_follows(&data[k + 2..]))
        {
            return Some(k + 2);
        }
        crc.update(&data[k..k + 1]);
    }
    None
}

/// What [`repair`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairReport {
    /// The scan of the file before repair.
    pub scan: ScanReport,
    /// Bytes cut off the end (a torn frame, zeros).
    pub truncated: u64,
}

/// Scans `file`, cuts it after its last complete frame and rewrites STREAMINFO (total samples,
/// frame sizes; the MD5 becomes "unknown": it is not checked), then syncs.
pub fn repair<F: Read + Seek + Sink>(file: &mut F) -> anyhow::Result<RepairReport> {
    let scan = scan(&mut *file)?;
    let truncated = scan.file_len - scan.end;
    let fixed = StreamInfoFields {
        total_samples: scan.samples,
        min_frame_size: scan.min_frame,
        max_frame_size: scan.max_frame,
        md5: [0; 16],
        ..scan.info.clone()
    };
    if truncated > 0 {
        file.truncate(scan.end).context("truncate")?;
    }
    file.write_at(format::STREAMINFO_OFFSET, &fixed.to_bytes()).context("write STREAMINFO")?;
    file.sync().context("sync")?;
    Ok(RepairReport { scan, truncated })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flac::{FlacWriter, WriterOptions};
    use crate::pcm::{PcmSpec, SampleFormat};
    use std::io::Cursor;

    /// A FLAC file of `samples` frames of a low tone, written by vinyl's writer, unfinished: the
    /// header still says "length unknown", as after a SIGKILL.
    fn unfinished(spec: PcmSpec, samples: usize) -> Vec<u8> {
        let pcm = crate::flac::tests::tone(&spec, samples);
        let mut w = FlacWriter::new(Cursor::new(Vec::new()), spec, &WriterOptions::default()).unwrap();
        w.write_pcm(&pcm).unwrap();
        w.flush().unwrap();
        let bytes = w.sink.get_ref().clone();
        std::mem::forget(w); // as if killed: no finalize
        bytes
    }

    #[test]
    fn scan_finds_every_complete_frame() {
        let spec = PcmSpec::default();
        let bytes = unfinished(spec, 10 * 4096 + 100);
        let r = scan(Cursor::new(&bytes)).unwrap();
        assert_eq!((r.frames, r.samples, r.end), (10, 40_960, bytes.len() as u64));
        assert_eq!(r.info.total_samples, 0);
    }

    #[test]
    fn repair_cuts_a_torn_frame_and_sets_the_length() {
        let spec = PcmSpec { format: SampleFormat::S24_3Le, channels: 1, rate: 44_100 };
        let full = unfinished(spec, 6 * 4096);
        let whole = scan(Cursor::new(&full)).unwrap();
        for cut in [1usize, 2, 3, 10, 200] {
            let mut torn = Cursor::new(full[..full.len() - cut].to_vec());
            let rep = repair(&mut torn).unwrap();
            assert_eq!(rep.scan.frames, 5, "cut {cut}");
            assert_eq!(rep.scan.samples, 5 * 4096);
            let bytes = torn.into_inner();
            assert!(bytes.len() < full.len() - cut);
            let info = StreamInfoFields::parse(&bytes[8..42]).unwrap();
            assert_eq!(info.total_samples, 5 * 4096);
            assert_eq!(info.md5, [0; 16]);
            assert_eq!(info.max_frame_size, whole.max_frame.max(info.max_frame_size));
        }
    }

    #[test]
    fn repair_drops_a_zero_tail_and_the_frame_before_it() {
        let spec = PcmSpec::default();
        let two = unfinished(spec, 2 * 4096);
        let mut bytes = unfinished(spec, 3 * 4096);
        bytes.extend_from_slice(&[0u8; 5000]);
        let mut c = Cursor::new(bytes);
        let rep = repair(&mut c).unwrap();
        assert_eq!(rep.scan.frames, 2);
        let fixed = c.into_inner();
        assert_eq!(fixed.len(), two.len());
        assert_eq!(crate::flac::tests::flac_decode(&fixed).len(), 2 * 4096 * 4);
    }

    #[test]
    fn a_frame_whose_crc_ends_in_zero_is_kept_whole() {
        // Write frame after frame until one ends in a zero byte (the low byte of its CRC), and
        // cut the file right after it, as a recorder killed there would leave it.
        let spec = PcmSpec::default();
        let pcm = crate::flac::tests::tone(&spec, 2000 * 4096);
        let mut w = FlacWriter::new(Cursor::new(Vec::new()), spec, &WriterOptions::default()).unwrap();
        let mut cut = None;
        for block in pcm.chunks(4096 * 4) {
            w.write_pcm(block).unwrap();
            let data = w.sink.get_ref();
            if data.last() == Some(&0) {
                cut = Some(data.clone());
                break;
            }
        }
        std::mem::forget(w);
        let bytes = cut.expect("some frame's CRC ends in a zero byte");
        let r = scan(Cursor::new(&bytes)).unwrap();
        assert_eq!(r.end, bytes.len() as u64);
    }

    /// `flac -t` on `bytes`: whether it passed, and what it printed.
    fn flac_test(bytes: &[u8]) -> (bool, String) {
        let out = crate::flac::tests::run_flac(&["-t", "-s", "-"], bytes);
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    #[test]
    fn recovered_audio_never_keeps_an_md5_it_was_not_checked_against() {
        // A finished file left as FILE.part (a recorder killed between its last sync and the
        // rename), whose audio then changed in a way the frame checksums cannot see: one byte
        // of a frame altered and the frame's CRC-16 made to match again. Recovery does not
        // decode, so it cannot know the old MD5 still holds: it must clear it.
        let spec = PcmSpec::default();
        let pcm = crate::flac::tests::tone(&spec, 4096);
        let mut out = Cursor::new(Vec::new());
        let mut w = FlacWriter::new(&mut out, spec, &WriterOptions::default()).unwrap();
        w.write_pcm(&pcm).unwrap();
        w.finalize().unwrap();
        let good = out.into_inner();
        let r = scan(Cursor::new(&good)).unwrap();
        assert_eq!((r.frames, r.end), (1, good.len() as u64), "one frame, up to the end");
        assert_ne!(r.info.md5, [0; 16]);
        let frame = r.audio_start as usize..good.len();
        // Find a byte whose change still decodes (a sample bit rather than a code's length), so
        // that only the MD5 can tell: `flac -t` then fails on the MD5.
        let bad = (frame.start + 40..frame.end - 2)
            .step_by(97)
            .map(|at| {
                let mut bad = good.clone();
                bad[at] ^= 0x01;
                let crc = format::CRC16.checksum(&bad[frame.start..frame.end - 2]);
                bad[frame.end - 2..].copy_from_slice(&crc.to_be_bytes());
                bad
            })
            .find(|bad| {
                let (ok, err) = flac_test(bad);
                !ok && err.contains("MD5")
            })
            .expect("a change in the audio that only the MD5 detects");
        let mut c = Cursor::new(bad);
        let rep = repair(&mut c).unwrap();
        assert_eq!((rep.scan.frames, rep.truncated), (1, 0));
        let fixed = c.into_inner();
        let info = StreamInfoFields::parse(&fixed[8..42]).unwrap();
        assert_eq!(info.md5, [0; 16], "the MD5 was kept");
        assert_eq!(info.total_samples, 4096);
        let (ok, err) = flac_test(&fixed);
        assert!(ok, "flac -t on the recovered file: {err}");
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        for bad in [&b""[..], b"fLaC", b"RIFF....WAVE", b"fLaC\x80\x00\x00\x22"] {
            assert!(scan(Cursor::new(bad)).is_err());
        }
        // A valid header followed by noise: no frames, nothing panics.
        let spec = PcmSpec::default();
        let mut bytes = unfinished(spec, 100);
        let start = bytes.len();
        bytes.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let r = scan(Cursor::new(&bytes)).unwrap();
        assert_eq!((r.frames, r.end), (0, start as u64));
    }
}
