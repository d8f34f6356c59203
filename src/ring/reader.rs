//! Reading a ring: validating it, following its head, copying frames out with exact overrun
//! detection.
//!
//! Owns the reader's side of the protocol: load `head` with `Acquire`, copy, then (after an
//! `Acquire` fence) re-check the generation and the writer's `claim`; any frame below
//! `claim - slot_frames` may have been overwritten while it was copied and is reported lost, by
//! number ([`ReadError::Lost`]). Waiting for frames sleeps on the header's futex word, counted
//! in `waiters` so an unobserved writer makes no system call. It never writes frames and never
//! blocks the writer. It does not decide what a lost frame or a new generation means for a tool:
//! it returns a [`ReadError`] and the caller chooses.

use super::layout::{self, Config, FLAG_RETIRED, Header};
use super::{Mapping, writer_lock_held};
use anyhow::{Context as _, anyhow};
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{Ordering, fence};
use std::time::Duration;

/// A reader of one ring.
#[derive(Debug)]
pub struct RingReader {
    path: PathBuf,
    map: Mapping,
    cfg: Config,
}

/// The changing part of a ring's header, read at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Frames written by the current generation (the next frame's number).
    pub head: u64,
    /// The writer generation.
    pub generation: u64,
    /// The file was replaced at its path by another ring.
    pub retired: bool,
    /// Pid of the current or last writer, 0 when none was recorded or it finished cleanly.
    pub writer_pid: u32,
    /// Wall-clock time of frame 0 in Unix nanoseconds, 0 while unknown.
    pub frame0_unix_ns: u64,
    /// `CLOCK_MONOTONIC` nanoseconds of the last write.
    pub last_write_mono_ns: u64,
}

/// Why frames could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// Frames `first..end` were (or may have been) overwritten before they were copied.
    Lost {
        /// The first frame lost (the one the reader asked for).
        first: u64,
        /// One past the last frame known to be overwritten at detection time.
        end: u64,
    },
    /// A new writer took over; frame numbers restarted.
    GenerationChanged {
        /// The generation the reader started with.
        from: u64,
        /// The generation now.
        to: u64,
    },
    /// The file was replaced by a ring of another format or capacity.
    Retired,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReadError::Lost { first, end } => write!(
                f,
                "lost frames {first}..{end} ({} frames): reader overtaken by the writer",
                end.saturating_sub(first)
            ),
            ReadError::GenerationChanged { from, to } => write!(
                f,
                "writer generation changed from {from} to {to}: a new vinyl-preroll fill took over \
                 and restarted frame numbering"
            ),
            ReadError::Retired => write!(
                f,
                "the ring was replaced by a new one of another format or capacity (a new writer \
                 recreated it)"
            ),
        }
    }
}

impl std::error::Error for ReadError {}

impl RingReader {
    /// Opens and validates the ring at `path`. `wait` maps it writable so the reader can
    /// register as a waiter (`tap`); without it the mapping is read-only (`info`).
    ///
    /// Fails, naming `path`, when there is no file, when it is not a ring, or when it is a ring
    /// of another layout version.
    pub fn open(path: &Path, wait: bool) -> anyhow::Result<RingReader> {
        let shown = path.display();
        let file = OpenOptions::new().read(true).write(wait).open(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                anyhow!("{shown}: open: no such ring (is vinyl-preroll fill running?)")
            } else {
                anyhow!("{shown}: open: {e}")
            }
        })?;
        let meta = file.metadata().with_context(|| format!("{shown}: stat"))?;
        if !meta.file_type().is_file() {
            return Err(anyhow!("{shown}: not a regular file, so not a vinyl ring"));
        }
        let map =
            Mapping::new(file, !wait).map_err(|e| match e.get_ref().and_then(|r| r.downcast_ref()) {
                Some(layout_err @ layout::LayoutError::TooSmall { .. }) => anyhow!("{shown}: {layout_err}"),
                _ => anyhow!("{shown}: map: {e}"),
            })?;
        let cfg = Config::from_header(map.header(), map.len()).map_err(|e| anyhow!("{shown}: {e}"))?;
        Ok(RingReader { path: path.to_path_buf(), map, cfg })
    }

    /// The ring's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ring's configuration (format, capacity, slots).
    pub fn config(&self) -> Config {
        self.cfg
    }

    fn header(&self) -> &Header {
        self.map.header()
    }

    /// The header's changing fields now. The generation is loaded after the head, so a head of
    /// a new generation is never paired with the old generation number.
    pub fn snapshot(&self) -> Snapshot {
        let h = self.header();
        let head = h.head.load(Ordering::Acquire);
        let last_write_mono_ns = h.last_write_mono_ns.load(Ordering::Acquire);
        let frame0_unix_ns = if head > 0 { h.frame0_unix_ns.load(Ordering::Acquire) } else { 0 };
        Snapshot {
            head,
            generation: h.generation.load(Ordering::Acquire),
            retired: h.flags.load(Ordering::Acquire) & FLAG_RETIRED != 0,
            writer_pid: h.writer_pid.load(Ordering::Acquire),
            frame0_unix_ns,
            last_write_mono_ns,
        }
    }

    /// The head now (`Acquire`): frames below it are published.
    pub fn head(&self) -> u64 {
        self.header().head.load(Ordering::Acquire)
    }

    /// The oldest frame the ring guarantees when its head is `head`.
    pub fn oldest(&self, head: u64) -> u64 {
        head.saturating_sub(self.cfg.capacity_frames)
    }

    /// The oldest frame still intact in the slots now: frames below `claim - slot_frames` may
    /// have been overwritten. At least [`RingReader::oldest`], up to the slack older.
    pub fn first_intact(&self) -> u64 {
        self.header().claim.load(Ordering::Acquire).saturating_sub(self.cfg.slot_frames)
    }

    /// True when a writer holds the ring's lock now.
    pub fn writer_alive(&self) -> anyhow::Result<bool> {
        writer_lock_held(&self.map.file)
            .with_context(|| format!("{}: query writer lock", self.path.display()))
    }

    /// Fails when the ring is no longer the one of `generation`.
    pub fn check_generation(&self, generation: u64) -> Result<(), ReadError> {
        let h = self.header();
        if h.flags.load(Ordering::Acquire) & FLAG_RETIRED != 0 {
            return Err(ReadError::Retired);
        }
        let now = h.generation.load(Ordering::Acquire);
        if now != generation {
            return Err(ReadError::GenerationChanged { from: generation, to: now });
        }
        Ok(())
    }

    /// Copies frames `first..first + count` of `generation` into `buf` (which must hold them).
    /// The caller must have seen `head >= first + count` in that generation.
    ///
    /// Exact overrun detection: fails with [`ReadError::Lost`] when any of the frames may have
    /// been overwritten before or while they were copied; `buf` is then garbage.
    pub fn read(&self, generation: u64, first: u64, count: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let h = self.header();
        let slots = self.cfg.slot_frames;
        let fb = self.cfg.spec.frame_bytes();
        assert!(count <= slots && buf.len() >= count as usize * fb, "read larger than the ring or buffer");
        let claim = h.claim.load(Ordering::Acquire);
        self.check_generation(generation)?;
        let lost_below = claim.saturating_sub(slots);
        if first < lost_below {
            return Err(ReadError::Lost { first, end: lost_below });
        }
        let slot = (first % slots) as usize;
        let n = count as usize;
        let part = n.min(slots as usize - slot);
        // SAFETY: both ranges lie inside the mapping's slots (slot + part <= slots, n - part <
        // slots) and `buf` holds n frames. The writer may be storing into the same bytes from
        // another process; the copy may then be torn, which the claim check below detects.
        unsafe {
            let base = self.map.slots();
            std::ptr::copy_nonoverlapping(base.add(slot * fb), buf.as_mut_ptr(), part * fb);
            std::ptr::copy_nonoverlapping(base, buf.as_mut_ptr().add(part * fb), (n - part) * fb);
        }
        // Pairs with the writer's Release fence between its claim and its stores into the slots.
        fence(Ordering::Acquire);
        self.check_generation(generation)?;
        let lost_below = h.claim.load(Ordering::Relaxed).saturating_sub(slots);
        if first < lost_below {
            return Err(ReadError::Lost { first, end: lost_below });
        }
        Ok(())
    }

    /// Sleeps until the head passes `pos`, the generation changes, a signal arrives or `timeout`
    /// passes. Returns at once when the head is already past `pos`.
    ///
    /// Needs a ring opened with `wait = true`.
    pub fn wait_beyond(&self, pos: u64, generation: u64, timeout: Duration) {
        let h = self.header();
        h.waiters.fetch_add(1, Ordering::SeqCst);
        let seen = h.wake.load(Ordering::SeqCst);
        if h.head.load(Ordering::Acquire) <= pos && self.check_generation(generation).is_ok() {
            layout::futex_wait(&h.wake, seen, timeout);
        }
        h.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// `CLOCK_MONOTONIC` nanoseconds of the publication of `head`, when the head is still
    /// `head` around the load (for latency measurement); `None` when it moved meanwhile.
    pub fn publish_time_of(&self, head: u64) -> Option<u64> {
        let h = self.header();
        let t = h.last_write_mono_ns.load(Ordering::Acquire);
        (h.head.load(Ordering::Acquire) == head).then_some(t)
    }
}
