//! `--output`: where the LAME tag frame of a file goes.
//!
//! Owns the decision to reserve a LAME (Xing/Info) tag frame and the handle that writes it over
//! the first frame when the encoder is done. Only output that can be rewritten at its start gets
//! one: a regular file, created or truncated by us, or a stdout redirected to a regular file
//! without `O_APPEND` (`> file`; with `>>` a positioned write would append). A pipe, a FIFO or a
//! device keeps going without it, as a stream does. Leans towards no tag when unsure: a missing
//! tag costs gapless playback and exact seeking, a tag frame that cannot be filled in would be
//! heard as 26 ms of silence.
//!
//! How it fails: a write of the tag that fails is an error naming the output; the audio written
//! before it stays in place. A tool killed before its end leaves LAME's placeholder in the first
//! frame: a valid frame of silence, so the file still plays (without exact length or gapless).

use anyhow::Context as _;
use std::fs::File;
use std::io::{self, Seek as _};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// True when `path` (`-` for stdout) is output whose start can be rewritten: a regular file, or
/// a path that does not exist yet (it will be created as one).
pub fn wants_lame_tag(path: &Path) -> bool {
    if path.as_os_str() == "-" {
        return rewritable(io::stdout().as_fd());
    }
    match std::fs::metadata(path) {
        Ok(m) => m.file_type().is_file(),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

fn rewritable(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    let regular = nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
    let append = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)
        .map_or(true, |fl| nix::fcntl::OFlag::from_bits_truncate(fl).contains(nix::fcntl::OFlag::O_APPEND));
    regular && !append
}

/// The place of the first MP3 frame in a regular file, to write the tag over it at the end.
#[derive(Debug)]
pub struct TagSlot {
    file: File,
    at: u64,
    name: String,
}

impl TagSlot {
    /// The slot at the current position of `fd` (which must still be where the MP3 starts).
    /// Fails when the output is no longer a rewritable regular file (replaced since
    /// [`wants_lame_tag`] looked).
    pub fn here(fd: std::os::fd::BorrowedFd<'_>, name: &str) -> anyhow::Result<TagSlot> {
        if !rewritable(fd) {
            anyhow::bail!("{name}: not a regular file any more: cannot write the MP3's LAME tag frame");
        }
        let mut file = File::from(fd.try_clone_to_owned().with_context(|| format!("{name}: dup"))?);
        let at = file.stream_position().with_context(|| format!("{name}: seek"))?;
        Ok(TagSlot { file, at, name: name.to_string() })
    }

    /// Writes `tag` (the first frame's replacement, same length) where the MP3 started. Call it
    /// after every frame before it was flushed.
    pub fn write(&self, tag: &[u8]) -> anyhow::Result<()> {
        self.file
            .write_all_at(tag, self.at)
            .with_context(|| format!("{}: write the LAME tag frame at byte {}", self.name, self.at))
    }
}
