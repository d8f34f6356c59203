//! Reading what a finished FLAC file says about itself: its STREAMINFO (length in samples, rate)
//! and its Vorbis comments, without decoding audio and without `metaflac`.
//!
//! Owns the walk over the metadata blocks at the start of a file ([`read_metadata_with`]), which
//! [`super::recover`] uses too, and the summary `vinyl-rec` prints and lists ([`Probe`]). It does
//! not check the audio frames (see [`super::recover::scan`]) and never writes. How it fails: a
//! file that cannot be opened or read, that lacks the `fLaC` marker, whose first block is not a
//! valid STREAMINFO or whose blocks run past its end is an error naming the file and the step;
//! a malformed VORBIS_COMMENT is ignored (the file plays; only its tags are unknown).

use super::format::{self, BlockHeader, StreamInfoFields};
use anyhow::{Context as _, bail};
use std::io::Read;
use std::path::Path;

/// What a FLAC file's metadata says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The STREAMINFO fields (total samples, rate, channels…).
    pub info: StreamInfoFields,
    /// The Vorbis comments in file order, `(key, value)`; empty when there are none.
    pub tags: Vec<(String, String)>,
}

impl Probe {
    /// The first value of the comment `key`, compared without case as Vorbis comments are.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }
}

/// Reads the metadata of the FLAC file at `path`.
pub fn probe(path: &Path) -> anyhow::Result<Probe> {
    let shown = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("{shown}: open"))?;
    let len = file.metadata().with_context(|| format!("{shown}: stat"))?.len();
    let mut tags = Vec::new();
    let mut r = std::io::BufReader::new(file);
    let (info, _) = read_metadata_with(&mut r, len, |h, body| {
        if h.kind == format::BLOCK_VORBIS_COMMENT && tags.is_empty() {
            tags = format::parse_vorbis_comment_lossy(body).map(|(_, t)| t).unwrap_or_default();
        }
    })
    .with_context(|| format!("{shown}: read the FLAC metadata"))?;
    Ok(Probe { info, tags })
}

/// Reads the metadata blocks of a FLAC stream of `file_len` bytes, shows each block after
/// STREAMINFO to `visit`, and returns STREAMINFO and the offset of the first audio frame.
pub fn read_metadata_with<R: Read>(
    r: &mut R,
    file_len: u64,
    mut visit: impl FnMut(BlockHeader, &[u8]),
) -> anyhow::Result<(StreamInfoFields, u64)> {
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic).context("read the FLAC marker")?;
    if &magic != format::MAGIC {
        bail!("not a FLAC file (no fLaC marker)");
    }
    let mut pos = 4u64;
    let mut info = None;
    loop {
        let mut h = [0u8; 4];
        r.read_exact(&mut h).context("read a metadata block header")?;
        let h = BlockHeader::parse(h);
        pos += 4;
        if pos + h.len as u64 > file_len {
            bail!("metadata block of type {} runs past the end of the file", h.kind);
        }
        let mut body = vec![0u8; h.len as usize];
        r.read_exact(&mut body).context("read a metadata block")?;
        match info {
            None if h.kind != format::BLOCK_STREAMINFO || body.len() != format::STREAMINFO_LEN => {
                bail!("the first metadata block is not STREAMINFO")
            }
            None => info = Some(StreamInfoFields::parse(&body)?),
            Some(_) => visit(h, &body),
        }
        pos += h.len as u64;
        if h.is_last {
            break;
        }
    }
    let info = info.context("no STREAMINFO block")?;
    Ok((info, pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flac::{WriterOptions, tests::write_file};
    use crate::pcm::{PcmSpec, unique_frames};

    #[test]
    fn a_finished_file_tells_its_length_rate_and_tags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.flac");
        let spec = PcmSpec::default();
        let opts = WriterOptions {
            tags: vec![("title".into(), "Side A".into()), ("TITLE".into(), "second".into())],
            ..WriterOptions::default()
        };
        write_file(&path, spec, &opts, &unique_frames(&spec, 0, 12_345));
        let p = probe(&path).unwrap();
        assert_eq!((p.info.total_samples, p.info.sample_rate), (12_345, 48_000));
        assert_eq!(p.tag("Title"), Some("Side A"));
        assert_eq!(p.tag("ARTIST"), None);
    }

    #[test]
    fn a_file_that_is_not_flac_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.flac");
        std::fs::write(&path, b"RIFF....WAVE").unwrap();
        let err = format!("{:#}", probe(&path).unwrap_err());
        assert!(err.contains("x.flac") && err.contains("no fLaC marker"), "{err}");
    }
}
