//! FLAC in Ogg (the FLAC-to-Ogg mapping 1.0): the FLAC frames of [`crate::flac::FlacWriter`] as
//! Ogg packets.
//!
//! Owns the mapping only: the first header packet (0x7F, "FLAC", version 1.0, the number of
//! header packets that follow, "fLaC", the STREAMINFO block), one packet per further metadata
//! block (the VORBIS_COMMENT, marked last), then one FLAC frame per packet with the granule
//! position of the samples at its end. The encoding is the recorder's (levels, stereo coding,
//! the verbatim fallback), reached through the writer's byte sink: the writer writes its header
//! and each frame with one `write_all`, and this sink takes every write whole, so one write is one
//! packet. STREAMINFO says "length and MD5 unknown", as a live stream must.

use super::{Codec, Packet};
use crate::flac::{BLOCK_SIZE, FlacWriter, Sink, WriterOptions, format};
use crate::pcm::PcmSpec;
use anyhow::{anyhow, bail};
use std::cell::RefCell;
use std::io;
use std::rc::Rc;

/// Collects each write as one packet.
#[derive(Debug, Default, Clone)]
struct Packets(Rc<RefCell<Vec<Vec<u8>>>>);

impl io::Write for Packets {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().push(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for Packets {
    // The writer patches STREAMINFO at the end; a live stream's header has long been sent.
    fn write_at(&mut self, _offset: u64, _buf: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn truncate(&mut self, _len: u64) -> io::Result<()> {
        Ok(())
    }
}

/// One logical Ogg FLAC stream's encoder.
#[derive(Debug)]
pub struct OggFlac {
    writer: Option<FlacWriter<Packets>>,
    packets: Packets,
    headers: Vec<Vec<u8>>,
    /// Samples per channel in the packets handed out so far.
    samples: u64,
}

impl OggFlac {
    /// A new stream of PCM shaped `spec`, its Vorbis comments `comments`.
    pub fn new(spec: PcmSpec, comments: &[(String, String)]) -> anyhow::Result<OggFlac> {
        let packets = Packets::default();
        let opts =
            WriterOptions { tags: comments.to_vec(), padding: 0, md5: false, ..WriterOptions::default() };
        let writer = FlacWriter::new(packets.clone(), spec, &opts)?;
        let native = packets.0.borrow_mut().drain(..).flatten().collect::<Vec<u8>>();
        let headers = ogg_headers(&native)?;
        Ok(OggFlac { writer: Some(writer), packets, headers, samples: 0 })
    }

    fn take(&mut self, last_samples: Option<u64>) -> Vec<Packet> {
        let frames: Vec<Vec<u8>> = self.packets.0.borrow_mut().drain(..).collect();
        let n = frames.len();
        frames
            .into_iter()
            .enumerate()
            .map(|(i, data)| {
                self.samples = match last_samples {
                    Some(total) if i + 1 == n => total,
                    _ => self.samples + BLOCK_SIZE as u64,
                };
                Packet { data, granule: self.samples }
            })
            .collect()
    }
}

/// The Ogg header packets of a native FLAC header (`fLaC`, then metadata blocks).
fn ogg_headers(native: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut blocks = Vec::new();
    let mut at = native.strip_prefix(format::MAGIC).ok_or_else(|| anyhow!("no fLaC in the FLAC header"))?;
    while at.len() >= 4 {
        let len = u32::from_be_bytes([0, at[1], at[2], at[3]]) as usize;
        if at.len() < 4 + len {
            bail!("a metadata block runs past the FLAC header");
        }
        blocks.push(at[..4 + len].to_vec());
        at = &at[4 + len..];
    }
    if blocks.len() < 2 || blocks[0][0] & 0x7f != format::BLOCK_STREAMINFO {
        bail!("the FLAC header lacks STREAMINFO or the comments");
    }
    let mut first = vec![0x7f];
    first.extend_from_slice(b"FLAC");
    first.extend_from_slice(&[1, 0]);
    first.extend_from_slice(&((blocks.len() - 1) as u16).to_be_bytes());
    first.extend_from_slice(format::MAGIC);
    first.extend_from_slice(&blocks[0]);
    let mut out = vec![first];
    out.extend(blocks.into_iter().skip(1));
    Ok(out)
}

impl Codec for OggFlac {
    fn headers(&self) -> Vec<Vec<u8>> {
        self.headers.clone()
    }

    fn push(&mut self, pcm: &[u8]) -> anyhow::Result<Vec<Packet>> {
        let w = self.writer.as_mut().ok_or_else(|| anyhow!("the Ogg FLAC stream has ended"))?;
        w.write_pcm(pcm)?;
        Ok(self.take(None))
    }

    fn finish(&mut self) -> anyhow::Result<Vec<Packet>> {
        let w = self.writer.take().ok_or_else(|| anyhow!("the Ogg FLAC stream has ended"))?;
        let summary = w.finalize()?;
        Ok(self.take(Some(summary.samples)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_mapping_and_granules_count_samples() {
        let spec = PcmSpec::default();
        let mut s = OggFlac::new(spec, &[("TITLE".into(), "A - B".into())]).unwrap();
        let h = s.headers();
        assert_eq!(h.len(), 2);
        assert_eq!(&h[0][..9], b"\x7fFLAC\x01\x00\x00\x01");
        assert_eq!(&h[0][9..13], b"fLaC");
        assert_eq!(h[0].len(), 13 + 4 + 34);
        assert_eq!(h[1][0], 0x80 | format::BLOCK_VORBIS_COMMENT, "the comments, marked last");
        let pcm = vec![0u8; (BLOCK_SIZE * 2 + 100) * spec.frame_bytes()];
        let p = s.push(&pcm).unwrap();
        assert_eq!(p.iter().map(|p| p.granule).collect::<Vec<_>>(), [4096, 8192]);
        assert_eq!(&p[0].data[..2], &[0xff, 0xf8], "a FLAC frame's sync code");
        let p = s.finish().unwrap();
        assert_eq!(p.iter().map(|p| p.granule).collect::<Vec<_>>(), [8292]);
        assert!(s.push(&pcm).is_err());
    }
}
