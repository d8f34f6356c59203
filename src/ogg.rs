//! Ogg pages (RFC 3533): packets in, the bytes of whole pages out.
//!
//! Owns the page layout of one logical stream: the 27-byte header, the lacing values (a packet
//! of `n` bytes is `n / 255` values of 255 and one of `n % 255`; a page holds at most 255, and
//! a longer packet continues on the next page), the page sequence number, the BOS flag on the
//! stream's first page and EOS on its last, the granule position of the last packet that ends
//! on each page (all ones when none does), and the CRC (polynomial 0x04C11DB7, no reflection,
//! initial value and final xor 0). It does not choose what goes in the packets or where a page
//! ends beyond "every call ends its last page": that is the codec mapping's (`vinyl-ogg-icecast`).
//!
//! Written here rather than taken from the `ogg` crate: writing is the easy half of Ogg (about
//! 80 lines, no parsing, no resynchronisation), the CRC comes from the `crc` crate the FLAC code
//! already uses, and a stream that restarts on every connection needs full control of the
//! serial, the sequence and the flags, which the crate's `PacketWriter` hides behind its own
//! state. It cannot fail.

/// The Ogg page checksum: CRC-32 over the page with its CRC field zeroed. Slice-by-16 tables
/// (16 KiB): the byte-at-a-time table made the checksum about 6 % of an Ogg FLAC encoder's work.
const CRC: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::Algorithm {
    width: 32,
    poly: 0x04c1_1db7,
    init: 0,
    refin: false,
    refout: false,
    xorout: 0,
    check: 0x89a1_897f,
    residue: 0,
});

/// Granule position of a page on which no packet ends.
pub const NO_GRANULE: u64 = u64::MAX;

/// Header flag: the page continues a packet begun on the previous page.
const CONTINUED: u8 = 0x01;
/// Header flag: the first page of a logical stream.
const BOS: u8 = 0x02;
/// Header flag: the last page of a logical stream.
const EOS: u8 = 0x04;

/// One logical stream's page writer.
#[derive(Debug)]
pub struct PageWriter {
    serial: u32,
    sequence: u32,
    begun: bool,
}

impl PageWriter {
    /// A stream with this serial number; its first page will carry BOS and sequence 0.
    pub fn new(serial: u32) -> Self {
        PageWriter { serial, sequence: 0, begun: false }
    }

    /// The stream's serial number.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// Appends to `out` the pages holding `packets` (each with the granule position at its end),
    /// in as few pages as the lacing allows; the last page ends with the last packet and carries
    /// EOS when `eos`. No packets and `eos` make one empty EOS page.
    pub fn write(&mut self, packets: &[(&[u8], u64)], eos: bool, out: &mut Vec<u8>) {
        // Lacing values with, for the value ending a packet, the packet's granule.
        let mut segments: Vec<(u8, Option<u64>)> = Vec::new();
        for &(data, granule) in packets {
            segments.extend(std::iter::repeat_n((255u8, None), data.len() / 255));
            segments.push(((data.len() % 255) as u8, Some(granule)));
        }
        // One copy a packet (memcpy), not an iterator a byte: this was 6 % of an Ogg FLAC
        // encoder's instructions.
        let mut body = Vec::with_capacity(packets.iter().map(|(d, _)| d.len()).sum());
        for (data, _) in packets {
            body.extend_from_slice(data);
        }
        let (mut seg_at, mut body_at, mut continued) = (0, 0, false);
        loop {
            let page = &segments[seg_at..(seg_at + 255).min(segments.len())];
            let len: usize = page.iter().map(|&(v, _)| v as usize).sum();
            let last = seg_at + page.len() == segments.len();
            let granule = page.iter().rev().find_map(|&(_, g)| g).unwrap_or(NO_GRANULE);
            let mut flags = if continued { CONTINUED } else { 0 };
            if !self.begun {
                flags |= BOS;
            }
            if last && eos {
                flags |= EOS;
            }
            let lacing: Vec<u8> = page.iter().map(|&(v, _)| v).collect();
            self.page(flags, granule, &lacing, &body[body_at..body_at + len], out);
            continued = page.last().is_some_and(|&(v, g)| v == 255 && g.is_none());
            seg_at += page.len();
            body_at += len;
            if last {
                return;
            }
        }
    }

    fn page(&mut self, flags: u8, granule: u64, lacing: &[u8], body: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(b"OggS");
        out.push(0); // stream structure version
        out.push(flags);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&self.serial.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // CRC, filled in below
        out.push(lacing.len() as u8);
        out.extend_from_slice(lacing);
        out.extend_from_slice(body);
        let crc = CRC.checksum(&out[start..]);
        out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
        self.sequence = self.sequence.wrapping_add(1);
        self.begun = true;
    }
}

/// One parsed page, for tests and checks: flags, granule, serial, sequence, lacing, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Header flags (continued 1, BOS 2, EOS 4).
    pub flags: u8,
    /// Granule position.
    pub granule: u64,
    /// Serial number.
    pub serial: u32,
    /// Page sequence number.
    pub sequence: u32,
    /// Lacing values.
    pub lacing: Vec<u8>,
    /// The page's packet data.
    pub body: Vec<u8>,
}

/// Parses the page at the start of `b`, checking its CRC; returns it and its length in bytes.
pub fn parse_page(b: &[u8]) -> Option<(Page, usize)> {
    if b.len() < 27 || &b[..4] != b"OggS" || b[4] != 0 {
        return None;
    }
    let n = b[26] as usize;
    let lacing = b.get(27..27 + n)?.to_vec();
    let len = 27 + n + lacing.iter().map(|&v| v as usize).sum::<usize>();
    let page = b.get(..len)?;
    let mut zeroed = page.to_vec();
    zeroed[22..26].fill(0);
    if CRC.checksum(&zeroed).to_le_bytes() != page[22..26] {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes(page[i..i + 4].try_into().unwrap_or_default());
    Some((
        Page {
            flags: page[5],
            granule: u64::from_le_bytes(page[6..14].try_into().unwrap_or_default()),
            serial: u32_at(14),
            sequence: u32_at(18),
            body: page[27 + n..].to_vec(),
            lacing,
        },
        len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(mut b: &[u8]) -> Vec<Page> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let (p, n) = parse_page(b).expect("a valid page");
            out.push(p);
            b = &b[n..];
        }
        out
    }

    #[test]
    fn crc_matches_the_ogg_check_value_and_a_libogg_page() {
        assert_eq!(CRC.checksum(b"123456789"), 0x89a1_897f);
        // The first page of `opusenc --raw --serial 42` (opus-tools 0.2, libogg 1.3) for 48 kHz
        // stereo: OpusHead, 19 bytes, CRC d7 26 87 db.
        let mut w = PageWriter::new(0x2a);
        let head = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
        let mut out = Vec::new();
        w.write(&[(head, 0)], false, &mut out);
        assert_eq!(out.len(), 27 + 1 + 19);
        assert_eq!(&out[..6], b"OggS\x00\x02");
        assert_eq!(out[22..26], [0xd7, 0x26, 0x87, 0xdb]);
        let (p, _) = parse_page(&out).unwrap();
        assert_eq!((p.serial, p.sequence, p.granule, p.lacing), (0x2a, 0, 0, vec![19]));
    }

    #[test]
    fn lacing_splits_long_packets_and_marks_continuation() {
        let mut w = PageWriter::new(7);
        let big = vec![0xabu8; 255 * 300 + 10];
        let small = [1u8, 2, 3];
        let mut out = Vec::new();
        w.write(&[(&small, 100), (&big, 200), (&small, 300)], true, &mut out);
        let ps = pages(&out);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].flags, BOS);
        assert_eq!(ps[0].lacing.len(), 255);
        // The big packet does not end on the first page: its granule is the small one's.
        assert_eq!(ps[0].granule, 100);
        assert_eq!(ps[1].flags, CONTINUED | EOS);
        assert_eq!(ps[1].granule, 300);
        assert_eq!(ps[1].sequence, 1);
        let body: Vec<u8> = ps.iter().flat_map(|p| p.body.clone()).collect();
        assert_eq!(body.len(), 3 + big.len() + 3);
        assert_eq!(&body[3..3 + big.len()], &big[..]);
    }

    #[test]
    fn a_packet_of_a_multiple_of_255_bytes_ends_with_a_zero_lacing_value() {
        let mut w = PageWriter::new(1);
        let mut out = Vec::new();
        w.write(&[(&[9u8; 510], 5)], false, &mut out);
        let ps = pages(&out);
        assert_eq!(ps[0].lacing, vec![255, 255, 0]);
        // Only the first page of a stream is BOS; granule all ones when no packet ends.
        let mut out = Vec::new();
        w.write(&[(&vec![0u8; 255 * 255], 9)], false, &mut out);
        let ps = pages(&out);
        assert_eq!((ps[0].flags, ps[0].granule, ps[0].sequence), (0, NO_GRANULE, 1));
        assert_eq!((ps[1].flags, ps[1].granule, ps[1].lacing.clone()), (CONTINUED, 9, vec![0]));
    }

    #[test]
    fn a_damaged_page_is_refused() {
        let mut out = Vec::new();
        PageWriter::new(3).write(&[(b"abc", 1)], false, &mut out);
        assert!(parse_page(&out).is_some());
        out[30] ^= 1;
        assert!(parse_page(&out).is_none());
    }
}
