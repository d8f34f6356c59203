//! Reading a ring: validating it, following its head, copying frames out with exact overrun
//! detection.
//!
//! Owns the reader's side of the protocol: load `head` with `Acquire`, copy, then (after an
//! `Acquire` fence) re-check the generation and the writer's `claim`; any frame below
//! `claim - slot_frames` may have been overwritten while it was copied and is reported lost, by
//! number ([`ReadError::Lost`]). Waiting for frames sleeps on the header's futex word, counted
//! in `waiters` so an unobserved writer makes no system call. It never writes frames and never
//! blocks the writer. Every load it acts on is validated ([`layout::check_dynamic`]), so a
//! corrupt or hostile header is an error, never an instruction; a ring that other users could
//! write is refused at open; a file truncated under the mapping is [`ReadError::Truncated`], never
//! a SIGBUS. It does not decide what a lost frame or a new generation means for a tool: it
//! returns a [`ReadError`] and the caller chooses.

use super::layout::{self, Config, FLAG_RETIRED, Gap, Header};
use super::{Mapping, writer_lock_held};
use anyhow::{Context as _, anyhow};
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{Ordering, fence};
use std::time::Duration;

/// A reader of one ring.
#[derive(Debug)]
pub struct RingReader {
    path: PathBuf,
    pub(super) map: Mapping,
    cfg: Config,
}

/// The changing part of a ring's header, read at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Frames of the timeline so far (the next frame's number).
    pub head: u64,
    /// The timeline generation.
    pub generation: u64,
    /// The timeline's id (its creation time in Unix ns).
    pub timeline: u64,
    /// Writers that have written this timeline.
    pub writers: u32,
    /// Gaps journaled since the timeline began.
    pub gap_count: u64,
    /// Frames of silence written for lost audio since the timeline began.
    pub gap_frames: u64,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The header's changing fields are impossible (see [`layout::check_dynamic`]).
    Damaged(String),
    /// The file was truncated under the mapping: nothing in it can be read any more.
    Truncated,
    /// The ring holds another timeline than the one the reader pinned.
    OtherTimeline {
        /// The timeline asked for.
        wanted: u64,
        /// The ring's timeline now.
        found: u64,
    },
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
            ReadError::Damaged(ref what) => write!(f, "damaged ring header: {what}"),
            ReadError::Truncated => write!(
                f,
                "the ring file was truncated while mapped (by another program?): its frames are gone"
            ),
            ReadError::OtherTimeline { wanted, found } => write!(
                f,
                "the ring holds timeline {found}, not the pinned timeline {wanted}: it was recreated \
                 or replaced since"
            ),
            ReadError::Lost { first, end } => write!(
                f,
                "lost frames {first}..{end} ({} frames): reader overtaken by the writer",
                end.saturating_sub(first)
            ),
            ReadError::GenerationChanged { from, to } => write!(
                f,
                "timeline generation changed from {from} to {to}: the ring was replaced and frame \
                 numbering restarted"
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
                anyhow!("{shown}: open: no such ring (is vinyl-capture --ring, or vinyl-up, running?)")
            } else {
                anyhow!("{shown}: open: {e}")
            }
        })?;
        let meta = file.metadata().with_context(|| format!("{shown}: stat"))?;
        if !meta.file_type().is_file() {
            return Err(anyhow!("{shown}: not a regular file, so not a vinyl ring"));
        }
        check_trusted(&shown.to_string(), &meta)?;
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

    /// The header's changing fields now, validated. The generation is loaded after the head, so
    /// a head of a new generation is never paired with the old generation number.
    pub fn snapshot(&self) -> Result<Snapshot, ReadError> {
        self.check_intact()?;
        let h = self.header();
        let (head, _) = layout::check_dynamic(h, &self.cfg).map_err(|e| match e {
            layout::LayoutError::Damaged(what) => ReadError::Damaged(what),
            other => ReadError::Damaged(other.to_string()),
        })?;
        let last_write_mono_ns = h.last_write_mono_ns.load(Ordering::Acquire);
        let frame0_unix_ns = if head > 0 { h.frame0_unix_ns.load(Ordering::Acquire) } else { 0 };
        Ok(Snapshot {
            head,
            generation: h.generation.load(Ordering::Acquire),
            timeline: h.timeline.load(Ordering::Acquire),
            writers: h.writers.load(Ordering::Acquire),
            gap_count: h.gap_count.load(Ordering::Acquire),
            gap_frames: h.gap_frames.load(Ordering::Acquire),
            retired: h.flags.load(Ordering::Acquire) & FLAG_RETIRED != 0,
            writer_pid: h.writer_pid.load(Ordering::Acquire),
            frame0_unix_ns,
            last_write_mono_ns,
        })
    }

    /// Fails once the file was truncated under the mapping.
    pub fn check_intact(&self) -> Result<(), ReadError> {
        if self.map.truncated() { Err(ReadError::Truncated) } else { Ok(()) }
    }

    /// Fails when the file is now shorter than the mapping, before any copy faults on it: an
    /// idle reader (whose writer may have died of the same truncation) learns it this way. One
    /// `fstat`.
    pub fn check_size(&self) -> Result<(), ReadError> {
        self.check_intact()?;
        match self.map.file.metadata() {
            Ok(m) if m.len() < self.map.len() => Err(ReadError::Truncated),
            _ => Ok(()),
        }
    }

    /// The head now (`Acquire`), validated: frames below it are published.
    pub fn head(&self) -> Result<u64, ReadError> {
        self.snapshot().map(|s| s.head)
    }

    /// The journal's gaps (the last [`layout::JOURNAL_SLOTS`]), oldest first.
    pub fn gaps(&self) -> Vec<Gap> {
        if self.map.truncated() {
            return Vec::new();
        }
        layout::journal_read(self.header())
    }

    /// The journal with its totals, consistent with each other (see [`layout::journal_snapshot`]);
    /// empty once the file was truncated.
    pub fn journal(&self) -> layout::Journal {
        if self.map.truncated() {
            return layout::Journal { head: 0, count: 0, frames: 0, entries: Vec::new(), evicted_end: 0 };
        }
        layout::journal_snapshot(self.header())
    }

    /// Fails when the ring no longer holds timeline `timeline` (a pinned reader's check).
    pub fn check_timeline(&self, timeline: u64) -> Result<(), ReadError> {
        self.check_intact()?;
        let found = self.header().timeline.load(Ordering::Acquire);
        let retired = self.header().flags.load(Ordering::Acquire) & FLAG_RETIRED != 0;
        if found != timeline || retired {
            return Err(ReadError::OtherTimeline { wanted: timeline, found });
        }
        Ok(())
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
        self.check_intact()?;
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
        self.check_intact()?;
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
        if self.map.truncated() {
            return;
        }
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

/// Refuses a ring that another user could have written: group- or other-writable, or owned by
/// a user other than this one (root may read the service user's ring).
fn check_trusted(shown: &str, meta: &std::fs::Metadata) -> anyhow::Result<()> {
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(anyhow!(
            "{shown}: mode {mode:04o} lets other users write it, so its contents cannot be trusted; \
             refusing it (its writer recreates it at 0600 when it starts)"
        ));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && me != 0 {
        return Err(anyhow!(
            "{shown}: owned by uid {}, not by this user (uid {me}); refusing it",
            meta.uid()
        ));
    }
    Ok(())
}
