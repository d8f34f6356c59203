//! The parts of the FLAC container that vinyl reads and writes itself: STREAMINFO as bytes (to
//! patch it in place), VORBIS_COMMENT bodies, metadata block headers, frame headers and the two
//! frame checksums (CRC-8 of a header, CRC-16 of a frame).
//!
//! flacenc writes frames; this module is what lets vinyl finish a file it wrote frame by frame and
//! repair one that was cut short, without decoding audio. It follows RFC 9639 (FLAC). Parsing
//! never panics on arbitrary bytes: a malformed header is `None` or an error that names the field.

use anyhow::{Context as _, bail};

/// Bytes before the first metadata block: the `fLaC` marker.
pub const MAGIC: &[u8; 4] = b"fLaC";
/// Size of the STREAMINFO body in bytes.
pub const STREAMINFO_LEN: usize = 34;
/// Offset of the STREAMINFO body in a FLAC file (after `fLaC` and the 4-byte block header).
pub const STREAMINFO_OFFSET: u64 = 8;
/// Metadata block type of STREAMINFO.
pub const BLOCK_STREAMINFO: u8 = 0;
/// Metadata block type of PADDING.
pub const BLOCK_PADDING: u8 = 1;
/// Metadata block type of VORBIS_COMMENT.
pub const BLOCK_VORBIS_COMMENT: u8 = 4;
/// Metadata block type of a PICTURE (a cover).
pub const BLOCK_PICTURE: u8 = 6;
/// Metadata block type of CUESHEET (see [`super::cuesheet`]).
pub const BLOCK_CUESHEET: u8 = 5;

/// The STREAMINFO fields, as plain numbers (the same content as flacenc's `StreamInfo`, but
/// readable back from bytes so a file can be patched and repaired).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfoFields {
    /// Smallest block size in samples, excluding the last block (4096 for vinyl's files).
    pub min_block_size: u16,
    /// Largest block size in samples (4096 for vinyl's files).
    pub max_block_size: u16,
    /// Smallest frame in bytes; 0 = unknown.
    pub min_frame_size: u32,
    /// Largest frame in bytes; 0 = unknown.
    pub max_frame_size: u32,
    /// Sample rate in Hz, e.g. 48000.
    pub sample_rate: u32,
    /// Channels, 1..8.
    pub channels: u8,
    /// Bits per sample, 16 or 24 here.
    pub bits_per_sample: u8,
    /// Samples per channel in the whole stream (PCM frames); 0 = unknown.
    pub total_samples: u64,
    /// MD5 of the decoded PCM (little-endian, interleaved); all zeros = unknown.
    pub md5: [u8; 16],
}

impl StreamInfoFields {
    /// The 34-byte STREAMINFO body.
    pub fn to_bytes(&self) -> [u8; STREAMINFO_LEN] {
        let mut b = [0u8; STREAMINFO_LEN];
        b[0..2].copy_from_slice(&self.min_block_size.to_be_bytes());
        b[2..4].copy_from_slice(&self.max_block_size.to_be_bytes());
        b[4..7].copy_from_slice(&self.min_frame_size.to_be_bytes()[1..]);
        b[7..10].copy_from_slice(&self.max_frame_size.to_be_bytes()[1..]);
        // 20 bits rate, 3 bits channels-1, 5 bits bps-1, 36 bits total samples = 64 bits.
        let packed: u64 = ((self.sample_rate as u64 & 0xF_FFFF) << 44)
            | (((self.channels.saturating_sub(1)) as u64 & 0x7) << 41)
            | (((self.bits_per_sample.saturating_sub(1)) as u64 & 0x1F) << 36)
            | (self.total_samples & 0xF_FFFF_FFFF);
        b[10..18].copy_from_slice(&packed.to_be_bytes());
        b[18..34].copy_from_slice(&self.md5);
        b
    }

    /// Reads a 34-byte STREAMINFO body.
    pub fn parse(b: &[u8]) -> anyhow::Result<Self> {
        if b.len() < STREAMINFO_LEN {
            bail!("STREAMINFO is {} bytes, expected {STREAMINFO_LEN}", b.len());
        }
        let be24 = |s: &[u8]| u32::from_be_bytes([0, s[0], s[1], s[2]]);
        let packed = u64::from_be_bytes(b[10..18].try_into().expect("8 bytes"));
        let mut md5 = [0u8; 16];
        md5.copy_from_slice(&b[18..34]);
        let info = StreamInfoFields {
            min_block_size: u16::from_be_bytes([b[0], b[1]]),
            max_block_size: u16::from_be_bytes([b[2], b[3]]),
            min_frame_size: be24(&b[4..7]),
            max_frame_size: be24(&b[7..10]),
            sample_rate: (packed >> 44) as u32,
            channels: ((packed >> 41) & 0x7) as u8 + 1,
            bits_per_sample: ((packed >> 36) & 0x1F) as u8 + 1,
            total_samples: packed & 0xF_FFFF_FFFF,
            md5,
        };
        if info.sample_rate == 0 || info.max_block_size < 16 || info.bits_per_sample < 4 {
            bail!(
                "STREAMINFO is invalid (rate {} Hz, block size {}, {} bits)",
                info.sample_rate,
                info.max_block_size,
                info.bits_per_sample
            );
        }
        Ok(info)
    }
}

/// The body of a VORBIS_COMMENT block: `vendor` and the `KEY=VALUE` comments, in order.
///
/// Keys are written as given; the caller validates them (printable ASCII without `=`, see
/// [`crate::pcm::parse_tag`]).
pub fn vorbis_comment(vendor: &str, tags: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    out.extend_from_slice(vendor.as_bytes());
    out.extend_from_slice(&(tags.len() as u32).to_le_bytes());
    for (k, v) in tags {
        let entry = format!("{k}={v}");
        out.extend_from_slice(&(entry.len() as u32).to_le_bytes());
        out.extend_from_slice(entry.as_bytes());
    }
    out
}

/// Reads the comments of a VORBIS_COMMENT body back as `(vendor, [(key, value)])`. A comment
/// that is not UTF-8 (as FLAC requires; another program's Latin-1) is an error naming its key:
/// what rewrites the block would otherwise replace its bytes, and what learns from it a wrong name.
pub fn parse_vorbis_comment(b: &[u8]) -> anyhow::Result<(String, Vec<(String, String)>)> {
    walk_vorbis_comment(b, true)
}

/// [`parse_vorbis_comment`] for readers that only show tags: bytes that are not UTF-8 are shown
/// as U+FFFD.
pub fn parse_vorbis_comment_lossy(b: &[u8]) -> anyhow::Result<(String, Vec<(String, String)>)> {
    walk_vorbis_comment(b, false)
}

/// The one walk over a VORBIS_COMMENT body; `strict`: a comment that is not UTF-8 is an error.
fn walk_vorbis_comment(b: &[u8], strict: bool) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let mut pos = 0usize;
    let mut take = |n: usize| -> anyhow::Result<&[u8]> {
        let s = b.get(pos..pos + n).context("VORBIS_COMMENT is truncated")?;
        pos += n;
        Ok(s)
    };
    let len = |s: &[u8]| u32::from_le_bytes(s.try_into().expect("4 bytes")) as usize;
    let vlen = len(take(4)?);
    let vendor = String::from_utf8_lossy(take(vlen)?).into_owned();
    let count = len(take(4)?);
    let mut tags = Vec::new();
    for _ in 0..count {
        let n = len(take(4)?);
        let raw = take(n)?;
        let entry = String::from_utf8_lossy(raw);
        let (k, v) = entry.split_once('=').context("a comment without '='")?;
        if strict && std::str::from_utf8(raw).is_err() {
            anyhow::bail!(
                "the tag {k} is not UTF-8 text (FLAC requires it): the file is left as it is; retag it with a \
                 tagger that converts it"
            );
        }
        tags.push((k.to_string(), v.to_string()));
    }
    Ok((vendor, tags))
}

/// One metadata block header as found in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// Block type (0 STREAMINFO, 1 PADDING, 4 VORBIS_COMMENT…).
    pub kind: u8,
    /// True on the last metadata block; audio frames follow it.
    pub is_last: bool,
    /// Length of the body in bytes.
    pub len: u32,
}

impl BlockHeader {
    /// Reads the 4-byte header of a metadata block.
    pub fn parse(b: [u8; 4]) -> Self {
        BlockHeader {
            kind: b[0] & 0x7F,
            is_last: b[0] & 0x80 != 0,
            len: u32::from_be_bytes([0, b[1], b[2], b[3]]),
        }
    }
}

/// FLAC's frame header checksum: CRC-8, polynomial x^8+x^2+x+1, initial 0 (CRC-8/SMBUS).
const CRC8: crc::Crc<u8> = crc::Crc::<u8>::new(&crc::CRC_8_SMBUS);

/// FLAC's frame checksum: CRC-16, polynomial x^16+x^15+x^2+1, initial 0 (CRC-16/UMTS).
pub const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_UMTS);

/// [`CRC16`] computed 16 bytes at a step (slice-by-16, 8 KiB of tables): the decoder
/// ([`super::frames`]) checks every byte of every frame, 100 MB for a 20-minute side, where the
/// byte-at-a-time table's chain of lookups takes several times longer.
pub const CRC16_WIDE: crc::Crc<u16, crc::Table<16>> = crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_UMTS);

/// CRC-8 of a frame header.
pub fn crc8(bytes: &[u8]) -> u8 {
    CRC8.checksum(bytes)
}

/// A parsed frame header: what recovery needs to walk a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Samples per channel in this frame.
    pub block_size: u32,
    /// Frame number (fixed block size streams), or first sample number (variable).
    pub number: u64,
    /// True for a variable block size stream (vinyl writes fixed).
    pub variable: bool,
    /// Channels coded in the frame.
    pub channels: u8,
    /// The channel assignment code: 0..=7 independent channels (code + 1 of them), 8 left/side,
    /// 9 side/right, 10 mid/side.
    pub assignment: u8,
    /// Bits per sample, 0 = as in STREAMINFO.
    pub bits_per_sample: u8,
    /// Length of the header in bytes, CRC-8 included.
    pub len: usize,
}

/// Parses a frame header at the start of `b`, checking its sync code, reserved bits and CRC-8.
/// Returns `None` when `b` does not start with a valid header (or is too short to tell).
pub fn parse_frame_header(b: &[u8]) -> Option<FrameHeader> {
    if b.len() < 6 || b[0] != 0xFF || (b[1] & 0xFE) != 0xF8 {
        return None;
    }
    let variable = b[1] & 1 == 1;
    let bs_code = b[2] >> 4;
    let sr_code = b[2] & 0x0F;
    let ch_code = b[3] >> 4;
    let ss_code = (b[3] >> 1) & 0x7;
    if bs_code == 0 || sr_code == 15 || ch_code > 10 || ss_code == 3 || b[3] & 1 != 0 {
        return None;
    }
    let (number, pos) = coded_number(b, 4)?;
    let (block_size, pos) = block_size(bs_code, b, pos)?;
    // Sample rate codes 12..14 put the rate after the block size, in one or two bytes.
    let pos = pos
        + match sr_code {
            12 => 1,
            13 | 14 => 2,
            _ => 0,
        };
    let crc = *b.get(pos)?;
    if crc8(&b[..pos]) != crc {
        return None;
    }
    let channels = if ch_code < 8 { ch_code + 1 } else { 2 };
    let bits_per_sample = match ss_code {
        0 => 0,
        1 => 8,
        2 => 12,
        4 => 16,
        5 => 20,
        6 => 24,
        _ => 32,
    };
    Some(FrameHeader {
        block_size,
        number,
        variable,
        channels,
        assignment: ch_code,
        bits_per_sample,
        len: pos + 1,
    })
}

/// The UTF-8-like coded frame or sample number at `b[pos]`: its value and the offset after it.
fn coded_number(b: &[u8], pos: usize) -> Option<(u64, usize)> {
    let first = *b.get(pos)?;
    let extra = match first.leading_ones() {
        0 => 0,
        n @ 2..=7 => n as usize - 1,
        _ => return None,
    };
    let mut number: u64 = if extra == 0 { first as u64 } else { (first & (0x7F >> (extra + 1))) as u64 };
    for k in 1..=extra {
        let c = *b.get(pos + k)?;
        if c & 0xC0 != 0x80 {
            return None;
        }
        number = (number << 6) | (c & 0x3F) as u64;
    }
    Some((number, pos + 1 + extra))
}

/// The block size of block-size code `code` (1..=15), read from `b[pos..]` for codes 6 and 7:
/// the size and the offset after what was read.
fn block_size(code: u8, b: &[u8], pos: usize) -> Option<(u32, usize)> {
    Some(match code {
        1 => (192, pos),
        2..=5 => (576 << (code - 2), pos),
        6 => (*b.get(pos)? as u32 + 1, pos + 1),
        7 => (u16::from_be_bytes([*b.get(pos)?, *b.get(pos + 1)?]) as u32 + 1, pos + 2),
        _ => (256 << (code - 8), pos),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flacenc::bitsink::ByteSink;
    use flacenc::component::{BitRepr, StreamInfo};

    fn sample_info() -> StreamInfoFields {
        StreamInfoFields {
            min_block_size: 4096,
            max_block_size: 4096,
            min_frame_size: 14,
            max_frame_size: 0x12_3456,
            sample_rate: 96_000,
            channels: 6,
            bits_per_sample: 24,
            total_samples: 0xA_1234_5678,
            md5: *b"0123456789abcdef",
        }
    }

    #[test]
    fn streaminfo_round_trips() {
        let info = sample_info();
        assert_eq!(StreamInfoFields::parse(&info.to_bytes()).unwrap(), info);
    }

    #[test]
    fn streaminfo_bytes_match_flacenc() {
        let mut fi = StreamInfo::new(44_100, 2, 16).unwrap();
        fi.set_block_sizes(4096, 4096).unwrap();
        fi.set_frame_sizes(20, 9000).unwrap();
        fi.set_total_samples(1_234_567);
        fi.set_md5_digest(b"fedcba9876543210");
        let mut sink = ByteSink::new();
        fi.write(&mut sink).map_err(|e| e.to_string()).unwrap();
        let ours = StreamInfoFields {
            min_block_size: 4096,
            max_block_size: 4096,
            min_frame_size: 20,
            max_frame_size: 9000,
            sample_rate: 44_100,
            channels: 2,
            bits_per_sample: 16,
            total_samples: 1_234_567,
            md5: *b"fedcba9876543210",
        };
        assert_eq!(sink.as_slice(), ours.to_bytes());
    }

    #[test]
    fn streaminfo_rejects_garbage() {
        assert!(StreamInfoFields::parse(&[0u8; 34]).is_err());
        assert!(StreamInfoFields::parse(&[0u8; 10]).is_err());
    }

    #[test]
    fn vorbis_comment_round_trips() {
        let tags = vec![("ARTIST".to_string(), "A = B".to_string()), ("TITLE".into(), "Ünïcode".into())];
        let body = vorbis_comment("vendor x", &tags);
        assert_eq!(parse_vorbis_comment(&body).unwrap(), ("vendor x".to_string(), tags));
        assert!(parse_vorbis_comment(&body[..body.len() - 1]).is_err());
    }

    #[test]
    fn a_comment_that_is_not_utf8_is_refused_by_name_and_shown_lossily() {
        let mut body = vorbis_comment("v", &[("TITLE".into(), "\u{FFFD} is a real character".into())]);
        assert!(parse_vorbis_comment(&body).is_ok(), "a real U+FFFD is UTF-8");
        body = vorbis_comment("v", &[("COMMENT".into(), "caf?".into())]);
        let at = body.len() - 1;
        body[at] = 0xE9;
        let e = parse_vorbis_comment(&body).unwrap_err().to_string();
        assert!(e.contains("COMMENT is not UTF-8"), "{e}");
        assert_eq!(parse_vorbis_comment_lossy(&body).unwrap().1[0].1, "caf\u{FFFD}");
    }

    #[test]
    fn crcs_match_the_flac_check_values() {
        // Check values of CRC-8/SMBUS and CRC-16/UMTS (the FLAC polynomials) over "123456789".
        assert_eq!(crc8(b"123456789"), 0xF4);
        assert_eq!(CRC16.checksum(b"123456789"), 0xFEE8);
    }

    #[test]
    fn frame_headers_parse_and_reject_corruption() {
        // Fixed blocking, 4096 samples (code 12), 48 kHz (code 10), stereo, 16 bit, frame 300.
        let mut h = vec![0xFF, 0xF8, 0xCA, 0x18];
        h.extend_from_slice(&[0xC4, 0xAC]); // 300 as UTF-8-like
        h.push(crc8(&h));
        let parsed = parse_frame_header(&h).unwrap();
        assert_eq!(
            parsed,
            FrameHeader {
                block_size: 4096,
                number: 300,
                variable: false,
                channels: 2,
                assignment: 1,
                bits_per_sample: 16,
                len: 7
            }
        );
        for i in 0..h.len() {
            let mut bad = h.clone();
            bad[i] ^= 0x10;
            assert!(parse_frame_header(&bad).is_none_or(|p| p != parsed), "flip in byte {i}");
        }
        assert!(parse_frame_header(&h[..5]).is_none());
        // Explicit 16-bit block size (code 7): 1000 samples.
        let mut h = vec![0xFF, 0xF8, 0x7A, 0x18, 0x05, 0x03, 0xE7];
        h.push(crc8(&h));
        assert_eq!(parse_frame_header(&h).unwrap().block_size, 1000);
    }
}
