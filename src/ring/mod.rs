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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcm::{PcmSpec, unique_frame_number, unique_frames};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A writer racing readers that start at the edge of the ring: every copy either holds
    /// exactly the frames asked for or is reported lost; never silently torn or stale data.
    #[test]
    fn readers_racing_the_writer_get_exact_frames_or_an_exact_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let spec = PcmSpec::default();
        let cfg = Config { spec, capacity_frames: 1000, slot_frames: 1500 };
        let (mut w, opened) = RingWriter::open(&path, cfg).unwrap();
        assert_eq!(opened, Opened::Created);
        let r = RingReader::open(&path, true).unwrap();
        let generation = r.snapshot().generation;
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let writer = std::thread::spawn(move || {
            let mut next = 0u64;
            while !stop.load(Ordering::Relaxed) {
                w.write(&unique_frames(&spec, next, 97));
                next += 97;
            }
            next
        });
        let (mut ok, mut lost) = (0u32, 0u32);
        let mut buf = vec![0u8; 400 * 4];
        let start = std::time::Instant::now();
        // Race for a while, and longer until a loss was seen too; on a loaded machine the writer
        // may never overtake a copy, which is no failure (tests/preroll.rs forces one instead).
        while start.elapsed() < std::time::Duration::from_millis(400)
            || ok == 0
            || (lost == 0 && start.elapsed() < std::time::Duration::from_secs(5))
        {
            assert!(start.elapsed() < std::time::Duration::from_secs(60), "ok {ok}, lost {lost}");
            let head = r.head();
            let first = r.first_intact();
            let count = (head - first).min(400);
            if count == 0 {
                continue;
            }
            match r.read(generation, first, count, &mut buf[..count as usize * 4]) {
                Ok(()) => {
                    for (i, f) in buf[..count as usize * 4].chunks(4).enumerate() {
                        assert_eq!(unique_frame_number(f), first + i as u64, "torn copy at {first}+{i}");
                    }
                    ok += 1;
                }
                Err(ReadError::Lost { first: a, end }) => {
                    assert_eq!(a, first);
                    assert!(end > first && end <= r.head(), "lost {a}..{end}");
                    lost += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        done.store(true, Ordering::Relaxed);
        let written = writer.join().unwrap();
        assert_eq!(r.head(), written);
    }

    #[test]
    fn a_new_generation_is_seen_by_old_readers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let cfg = Config::new(PcmSpec::default(), 4800);
        let (mut w, _) = RingWriter::open(&path, cfg).unwrap();
        w.write(&unique_frames(&cfg.spec, 0, 100));
        let r = RingReader::open(&path, true).unwrap();
        let g = r.snapshot().generation;
        drop(w);
        assert!(!r.writer_alive().unwrap());
        let (w2, opened) = RingWriter::open(&path, cfg).unwrap();
        assert_eq!(opened, Opened::TookOver { previous_generation: g, previous_head: 100 });
        assert!(r.writer_alive().unwrap());
        let mut buf = vec![0u8; 40];
        assert_eq!(r.read(g, 0, 10, &mut buf), Err(ReadError::GenerationChanged { from: g, to: g + 1 }));
        assert_eq!(w2.head(), 0);
    }
}
