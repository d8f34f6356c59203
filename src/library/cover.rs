//! A cover image: checked to be a PNG or JPEG of at most [`MAX_COVER`] bytes, its size read from
//! its header, and put in a FLAC PICTURE block (front cover, RFC 9639 section 8.8).
//!
//! Owns the two image headers it understands and the block's layout. It does not decode images
//! or scale them. How it fails: a file that is not a PNG or a JPEG, one too large, or one whose
//! header gives no size is refused with one line naming the file and what it is.

use anyhow::{Context as _, bail};
use std::path::Path;

/// The largest cover accepted: 10 MB.
pub const MAX_COVER: u64 = 10 * 1000 * 1000;

/// A checked cover.
#[derive(Clone, Debug)]
pub struct Cover {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// `image/png` or `image/jpeg`.
    pub mime: &'static str,
    /// Width and height in pixels, and bits per pixel.
    pub size: (u32, u32, u32),
}

/// Reads and checks the cover at `path`.
pub fn load(path: &Path) -> anyhow::Result<Cover> {
    let shown = path.display();
    let len = std::fs::metadata(path).with_context(|| format!("{shown}: cannot read the cover"))?.len();
    if len > MAX_COVER {
        bail!("{shown}: the cover is {len} bytes, over the {MAX_COVER} accepted: give a smaller image");
    }
    let bytes = std::fs::read(path).with_context(|| format!("{shown}: cannot read the cover"))?;
    check(&shown.to_string(), bytes)
}

/// Checks a cover's bytes (`what` names them in the error): at most [`MAX_COVER`], a PNG or JPEG.
pub fn check(what: &str, bytes: Vec<u8>) -> anyhow::Result<Cover> {
    if bytes.len() as u64 > MAX_COVER {
        bail!(
            "{what}: the cover is {} bytes, over the {MAX_COVER} accepted: give a smaller image",
            bytes.len()
        );
    }
    let (mime, size) = match sniff(&bytes) {
        Some(found) => found,
        None => bail!("{what}: not a PNG or JPEG image (give the cover as .png or .jpg)"),
    };
    Ok(Cover { bytes, mime, size })
}

/// A cover the collection stored (checked when it was named), made a [`Cover`] again; `None`
/// when its header no longer reads as a PNG or JPEG.
pub fn from_bytes(bytes: Vec<u8>) -> Option<Cover> {
    let (mime, size) = sniff(&bytes)?;
    Some(Cover { bytes, mime, size })
}

/// The image's type and size, from its header: PNG's IHDR, JPEG's first start-of-frame.
fn sniff(b: &[u8]) -> Option<(&'static str, (u32, u32, u32))> {
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        let channels = match b.get(25)? {
            0 => 1,
            2 => 3,
            3 => 1,
            4 => 2,
            6 => 4,
            _ => return None,
        };
        return Some(("image/png", (be32(16)?, be32(20)?, u32::from(*b.get(24)?) * channels)));
    }
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    while i + 9 < b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]) as u32;
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]) as u32;
            return Some(("image/jpeg", (w, h, u32::from(b[i + 4]) * u32::from(b[i + 9]))));
        }
        i += 2 + len;
    }
    None
}

/// The PICTURE block's body for `c` as the front cover (type 3), without a description.
pub fn picture_block(c: &Cover) -> Vec<u8> {
    let mut out = Vec::with_capacity(c.bytes.len() + 64);
    let u32be = |v: u32, out: &mut Vec<u8>| out.extend_from_slice(&v.to_be_bytes());
    u32be(3, &mut out);
    u32be(c.mime.len() as u32, &mut out);
    out.extend_from_slice(c.mime.as_bytes());
    u32be(0, &mut out);
    let (w, h, depth) = c.size;
    for v in [w, h, depth, 0, c.bytes.len() as u32] {
        u32be(v, &mut out);
    }
    out.extend_from_slice(&c.bytes);
    out
}

/// The image of a PICTURE block's body when it is the front cover (type 3) and a PNG or JPEG.
pub fn front(body: &[u8]) -> Option<(Vec<u8>, &'static str)> {
    let be32 = |i: usize| Some(u32::from_be_bytes(body.get(i..i + 4)?.try_into().ok()?) as usize);
    if be32(0)? != 3 {
        return None;
    }
    let mime_end = 8 + be32(4)?;
    let desc_end = mime_end + 4 + be32(mime_end)?;
    let data = desc_end + 20;
    let bytes = body.get(data..data + be32(desc_end + 16)?)?.to_vec();
    let (mime, _) = sniff(&bytes)?;
    Some((bytes, mime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_and_jpeg_headers_give_their_size_and_anything_else_is_refused() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&[0, 0, 2, 0, 0, 0, 1, 0x90, 8, 2, 0, 0, 0]);
        assert_eq!(sniff(&png), Some(("image/png", (512, 400, 24))));
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 1, 0x2C, 2, 0x58, 3, 0, 0];
        assert_eq!(sniff(&jpeg), Some(("image/jpeg", (600, 300, 24))));
        assert_eq!(sniff(b"GIF89a...................."), None);
        assert_eq!(sniff(&[0xFF, 0xD8, 0x00]), None);
        let c = Cover { bytes: png.clone(), mime: "image/png", size: (512, 400, 24) };
        assert_eq!(front(&picture_block(&c)), Some((png, "image/png")), "a block reads back");
    }
}
