//! The shared-memory pre-roll ring: one file (default `/dev/shm/vinyl-ring`) holding the last
//! minutes of PCM, written by one process and read by any number of others.
//!
//! Parts: [`layout`] (the versioned header of atomics and the sizing rule, documented byte by
//! byte in `docs/ring-format.md`), [`writer`] (creating, taking over and filling a ring) and
//! [`reader`] (validating, following and copying out of a ring with exact overrun detection).
//! Frames are numbered absolutely from the start of the writer's generation; frame `n` lives in
//! slot `n % slot_frames`. The ring guarantees `capacity_frames` of history and keeps a slack of
//! extra slots so readers that start at the oldest guaranteed frame have time to copy it.
//!
//! One writer at a time: the writer holds an open-file-description (OFD) write lock over the
//! whole file for as long as it runs; "writer alive" means that lock is held (readers query it
//! with `F_OFD_GETLK`, which never takes the lock and so never gets in a starting writer's way).
//! The writer never waits for readers: it publishes `head` with `Release` and wakes sleeping
//! readers with `FUTEX_WAKE` only when the header says some are waiting.
//!
//! This module does not parse flags or print: it returns errors that name the ring's path and
//! the step that failed, and the `preroll` tool decides what to log and how to exit.

pub mod layout;
pub mod reader;
pub mod writer;

pub use layout::{Config, Header, LayoutError};
pub use reader::{ReadError, RingReader, Snapshot};
pub use writer::{Opened, RingWriter};

use memmap2::{MmapOptions, MmapRaw};
use std::fs::File;
use std::os::fd::AsFd;

/// The default ring path.
pub const DEFAULT_RING: &str = "/dev/shm/vinyl-ring";

/// A ring file mapped into this process.
#[derive(Debug)]
struct Mapping {
    file: File,
    map: MmapRaw,
}

impl Mapping {
    /// Maps all of `file` (which must be at least [`layout::HEADER_BYTES`] long), shared, and
    /// writable unless `read_only`.
    fn new(file: File, read_only: bool) -> std::io::Result<Mapping> {
        let len = file.metadata()?.len();
        if len < layout::HEADER_BYTES {
            return Err(std::io::Error::other(LayoutError::TooSmall { len }));
        }
        let len = usize::try_from(len).map_err(|_| std::io::Error::other("file too large to map"))?;
        let opts = MmapOptions::new().len(len).clone();
        let map = if read_only { opts.map_raw_read_only(&file)? } else { opts.map_raw(&file)? };
        Ok(Mapping { file, map })
    }

    /// The header at offset 0.
    fn header(&self) -> &Header {
        // SAFETY: the mapping is at least HEADER_BYTES long (checked in `new`), page-aligned,
        // and lives as long as `self`; `Header` is a repr(C) struct of atomics, valid for any
        // bit pattern, and all access to it is atomic.
        unsafe { &*(self.map.as_ptr() as *const Header) }
    }

    /// Bytes mapped.
    fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Pointer to the first frame slot.
    fn slots(&self) -> *mut u8 {
        // SAFETY: HEADER_BYTES is within the mapping (checked in `new`).
        unsafe { self.map.as_mut_ptr().add(layout::HEADER_BYTES as usize) }
    }
}

fn writer_lock(kind: libc::c_short) -> libc::flock {
    // SAFETY: `flock` is a plain C struct for which all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0;
    fl
}

/// Takes the writer lock (an OFD write lock on the whole file) without waiting. `Ok(false)`
/// when another open file description holds it.
fn try_lock_writer(file: &File) -> nix::Result<bool> {
    let fl = writer_lock(libc::F_WRLCK as libc::c_short);
    match nix::fcntl::fcntl(file.as_fd(), nix::fcntl::FcntlArg::F_OFD_SETLK(&fl)) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => Ok(false),
        Err(e) => Err(e),
    }
}

/// True when some process holds the writer lock on `file`. Does not take any lock.
fn writer_lock_held(file: &File) -> nix::Result<bool> {
    let mut fl = writer_lock(libc::F_WRLCK as libc::c_short);
    nix::fcntl::fcntl(file.as_fd(), nix::fcntl::FcntlArg::F_OFD_GETLK(&mut fl))?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}
