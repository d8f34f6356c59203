//! Opus in Ogg (RFC 7845): [`crate::opus::OpusStream`]'s packets as an Ogg mapping.
//!
//! Owns nothing but the adaptation: OpusHead alone on the first page, OpusTags (the title as
//! TITLE) after it, then each 20 ms packet with the encoder's granule (48 kHz samples, pre-skip
//! included). Each logical stream gets a fresh encoder, so its granules start at 0 and its
//! pre-skip hides the new decoder's start-up, as RFC 7845 asks of a stream's beginning.

use super::{Codec, Packet};
use crate::opus::{OpusPacket, OpusStream};
use crate::pcm::PcmSpec;

/// One logical Ogg Opus stream's encoder.
pub struct OggOpus {
    enc: OpusStream,
    headers: Vec<Vec<u8>>,
}

impl OggOpus {
    /// A new stream of PCM shaped `spec` at `bitrate_bps` and libopus `complexity` (0..=10), its
    /// comments `comments`.
    pub fn new(
        spec: &PcmSpec,
        bitrate_bps: u32,
        complexity: u8,
        comments: &[(String, String)],
    ) -> anyhow::Result<OggOpus> {
        let mut enc = OpusStream::new(spec, bitrate_bps)?;
        enc.set_complexity(complexity)?;
        let headers = vec![enc.head(), enc.tags(comments)];
        Ok(OggOpus { enc, headers })
    }
}

fn packets(p: Vec<OpusPacket>) -> Vec<Packet> {
    p.into_iter().map(|p| Packet { data: p.data, granule: p.granule }).collect()
}

impl Codec for OggOpus {
    fn headers(&self) -> Vec<Vec<u8>> {
        self.headers.clone()
    }

    fn push(&mut self, pcm: &[u8]) -> anyhow::Result<Vec<Packet>> {
        self.enc.push(pcm).map(packets)
    }

    fn finish(&mut self) -> anyhow::Result<Vec<Packet>> {
        self.enc.finish().map(packets)
    }
}
