//! The ring's single writer: creating a ring, continuing its timeline, publishing frames and
//! journaling gaps.
//!
//! Owns the rules for what a writer (`vinyl-capture --ring`, `vinyl-preroll fill`) may do to a
//! path: create a new ring (0600, complete before it appears under its name, a new timeline);
//! continue the timeline of a compatible ring whose writer is gone (the head keeps counting: the
//! downtime between the last writer's last frame and this writer's first is written as silence
//! and journaled as a `writer-restart` gap, estimated from the monotonic clock); replace a ring of
//! ours that has another format or capacity, or that other users could write (a new timeline; the
//! old file is marked retired so its readers stop); and refuse everything else: a live writer, a
//! symlink, a file of another owner, a file that is not a ring or whose header is damaged (left
//! unchanged), a ring of another layout version. Every loss the caller reports ([`RingWriter::gap`])
//! is journaled, then written as digital silence of its length, so later frames keep their
//! numbers. It never waits for readers (a gap longer than the whole ring only pauses
//! [`LONG_GAP_GRACE`] before overwriting every slot). It does not read input or log: [`RingWriter::open`]
//! reports what it did as an [`Opened`] for the caller to log. A ring truncated under it is an
//! error from [`RingWriter::write`], never a SIGBUS.

use super::layout::{self, Config, FLAG_RETIRED, Gap, GapCause, HEADER_BYTES, Header};
use super::{Mapping, try_lock_writer};
use anyhow::{Context as _, anyhow, bail};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{Ordering, fence};

/// How long the frames published before a gap longer than the slots stay readable before the
/// gap's silence overwrites them (see [`RingWriter::gap`]).
pub const LONG_GAP_GRACE: std::time::Duration = std::time::Duration::from_millis(50);

/// What [`RingWriter::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// There was no file: a new ring was created.
    Created,
    /// A compatible ring without a writer: its timeline continues from its head. The downtime
    /// becomes a `writer-restart` gap at the first write.
    Continued {
        /// The head the last writer left (the next frame's number before the downtime).
        head: u64,
        /// Writers of this timeline so far, this one included.
        writers: u32,
    },
    /// A ring of another format or capacity without a writer was replaced by a new file.
    Replaced {
        /// The old ring's configuration.
        previous: Config,
    },
    /// A ring that other users could write (its mode is in `mode`) was replaced by a new one
    /// at 0600: nothing in it can be trusted.
    Recreated {
        /// The old file's permission bits, e.g. 0o666.
        mode: u32,
    },
}

/// The writer of one ring. Holds the writer lock until dropped.
#[derive(Debug)]
pub struct RingWriter {
    path: PathBuf,
    map: Mapping,
    cfg: Config,
    head: u64,
    generation: u64,
    max_chunk_frames: u64,
    /// `CLOCK_MONOTONIC` ns of the previous writer's last write, until this writer's first write
    /// turns the downtime into a gap.
    resume_after_ns: Option<u64>,
}

fn pid() -> u32 {
    std::process::id()
}

impl RingWriter {
    /// Opens the ring at `path` for writing with configuration `cfg`: creates it, takes it over
    /// or replaces it (see the module documentation), and returns it with what was done.
    ///
    /// Fails, naming `path`, when another writer holds the ring, when the file is not a ring of
    /// this layout version, or on any I/O error.
    pub fn open(path: &Path, cfg: Config) -> anyhow::Result<(RingWriter, Opened)> {
        let shown = path.display();
        for _ in 0..5 {
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    match create(path, cfg, 1, |tmp| link_new(tmp, path))? {
                        Some(w) => return Ok((w, Opened::Created)),
                        None => continue, // someone created it meanwhile: look at theirs
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    bail!("{shown}: open: is a symbolic link; refusing to write a ring through it")
                }
                Err(e) => return Err(e).with_context(|| format!("{shown}: open")),
            };
            return take_over(path, file, cfg);
        }
        bail!("{shown}: open: the file keeps appearing and disappearing; is another writer starting?")
    }

    /// The ring's configuration.
    pub fn config(&self) -> Config {
        self.cfg
    }

    /// The ring's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames of the timeline so far (the absolute number of the next frame).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The timeline's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The timeline's id (see [`Header::timeline`]).
    pub fn timeline(&self) -> u64 {
        self.map.header().timeline.load(Ordering::Relaxed)
    }

    /// Appends whole frames (`bytes.len()` must be a multiple of the frame size) and wakes
    /// waiting readers. Never blocks on readers; frames older than the capacity are overwritten.
    /// The first write of a writer that continued a timeline first writes the downtime as a
    /// gap, which it returns so the caller can log it.
    ///
    /// Fails, naming the ring, only when the file was truncated under the mapping.
    pub fn write(&mut self, bytes: &[u8]) -> anyhow::Result<Option<Gap>> {
        let fb = self.cfg.spec.frame_bytes();
        assert_eq!(bytes.len() % fb, 0, "RingWriter::write takes whole frames");
        let downtime = match self.resume_after_ns.take() {
            Some(last) => self.downtime_gap(last, (bytes.len() / fb) as u64)?,
            None => None,
        };
        for chunk in bytes.chunks(self.max_chunk_frames as usize * fb) {
            self.write_chunk(chunk)?;
        }
        Ok(downtime)
    }

    /// Counts the time until the next write as a gap, as a restarted writer does: for a writer
    /// whose live input left and came back (a FIFO's writer), so the timeline keeps counting sample
    /// periods. The next write's frames are taken as captured in the `n / rate` before it, so
    /// input that arrives faster than real time (a file) makes no gap.
    pub fn expect_downtime(&mut self) {
        let last = self.map.header().last_write_mono_ns.load(Ordering::Acquire);
        if self.head > 0 && last > 0 {
            self.resume_after_ns = Some(last);
        }
    }

    /// Journals `frames` lost frames at the head, then writes them as silence, so every later
    /// frame keeps its timeline number. A gap longer than the slots writes only its first
    /// `slot_frames` as zeros, then moves the head past the rest without copying: every slot then
    /// holds zeros, so whatever frames of the gap a reader may still copy are silence. (The other
    /// way round, skipping first, would publish skipped frames whose slots still held old audio
    /// until the zeros came.)
    ///
    /// Such a gap overwrites every slot, so before it the writer pauses [`LONG_GAP_GRACE`]: the
    /// frames published just before it (the capture's last period before a stall longer than the
    /// ring) stay readable that long, and a reader that was woken for them can copy them. The
    /// stall it follows lasted longer than the ring; the capture's buffer has just been emptied by
    /// the recovery, so the pause costs nothing.
    pub fn gap(&mut self, frames: u64, cause: GapCause, exact: bool) -> anyhow::Result<Gap> {
        let gap = Gap { first: self.head, frames, cause, exact, unix_ns: layout::unix_ns() };
        if frames == 0 {
            return Ok(gap);
        }
        let h = self.map.header();
        layout::journal_push(h, &gap);
        let slots = self.cfg.slot_frames;
        if frames > slots {
            wake_readers(h);
            std::thread::sleep(LONG_GAP_GRACE);
        }
        let fb = self.cfg.spec.frame_bytes();
        let mut rest = frames.min(slots);
        let zeros = vec![0u8; rest.min(self.max_chunk_frames) as usize * fb];
        while rest > 0 {
            let n = rest.min(self.max_chunk_frames);
            self.write_chunk(&zeros[..n as usize * fb])?;
            rest -= n;
        }
        let h = self.map.header();
        let mut skip = frames.saturating_sub(slots);
        while skip > 0 {
            // Nothing is copied for the skipped frames (every slot is zero already); the claim
            // still moves first, so a reader that wanted an older frame learns it was overwritten.
            // In steps of at most the slots, so that claim never runs more than that ahead of head.
            let step = skip.min(slots);
            h.claim.fetch_max(self.head + step, Ordering::Relaxed);
            fence(Ordering::Release);
            self.head += step;
            h.last_write_mono_ns.store(layout::monotonic_ns(), Ordering::Relaxed);
            h.head.store(self.head, Ordering::Release);
            skip -= step;
        }
        if frames > slots {
            wake_readers(h);
        }
        Ok(gap)
    }

    /// The gap between the previous writer's last write (`last_ns`) and the capture of the
    /// `n` frames now arriving, which were captured in the `n / rate` before now.
    fn downtime_gap(&mut self, last_ns: u64, n: u64) -> anyhow::Result<Option<Gap>> {
        let rate = self.cfg.spec.rate as u128;
        let span_ns = n as u128 * 1_000_000_000 / rate;
        let captured_from = (layout::monotonic_ns() as u128).saturating_sub(span_ns);
        let down_ns = captured_from.saturating_sub(last_ns as u128);
        let frames = ((down_ns * rate + 500_000_000) / 1_000_000_000) as u64;
        if frames == 0 {
            return Ok(None);
        }
        self.gap(frames, GapCause::WriterRestart, false).map(Some)
    }

    fn write_chunk(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let fb = self.cfg.spec.frame_bytes();
        let n = (bytes.len() / fb) as u64;
        let slots = self.cfg.slot_frames;
        let h = self.map.header();
        if self.head == 0 {
            // Frame 0's wall-clock time: these frames were captured in real time before now.
            let span_ns = (n as u128 * 1_000_000_000 / self.cfg.spec.rate as u128) as u64;
            h.frame0_unix_ns.store(layout::unix_ns().saturating_sub(span_ns).max(1), Ordering::Relaxed);
        }
        let end = self.head + n;
        // Announce the slots about to be overwritten before touching them (seqlock-style: a
        // reader that copied any of the new bytes sees this claim after its Acquire fence). Never
        // lower: a writer that died mid-write may have claimed further.
        h.claim.fetch_max(end, Ordering::Relaxed);
        fence(Ordering::Release);
        let slot = (self.head % slots) as usize;
        let first = (n as usize).min(slots as usize - slot);
        // SAFETY: slot + first <= slots and n - first < slots, so both copies stay inside the
        // mapping's frame slots; `bytes` is ordinary memory that cannot overlap the mapping.
        unsafe {
            let base = self.map.slots();
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(slot * fb), first * fb);
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(first * fb), base, bytes.len() - first * fb);
        }
        if self.map.truncated() {
            bail!(
                "{}: write: the ring file was truncated while mapped (by another program?); \
                 frames from {} on are lost",
                self.path.display(),
                self.head
            );
        }
        h.last_write_mono_ns.store(layout::monotonic_ns(), Ordering::Relaxed);
        h.head.store(end, Ordering::Release);
        self.head = end;
        wake_readers(h);
        Ok(())
    }
}

impl Drop for RingWriter {
    fn drop(&mut self) {
        let _ = self.map.header().writer_pid.compare_exchange(pid(), 0, Ordering::AcqRel, Ordering::Relaxed);
    }
}

/// Tells sleeping readers that `head` or `generation` changed.
fn wake_readers(h: &Header) {
    h.wake.fetch_add(1, Ordering::SeqCst);
    if h.waiters.load(Ordering::SeqCst) != 0 {
        layout::futex_wake_all(&h.wake);
    }
}

/// Takes over (or replaces) the existing file `file` at `path`.
fn take_over(path: &Path, file: File, cfg: Config) -> anyhow::Result<(RingWriter, Opened)> {
    let shown = path.display();
    let meta = file.metadata().with_context(|| format!("{shown}: stat"))?;
    if !meta.file_type().is_file() {
        bail!("{shown}: not a regular file, so not a vinyl ring; refusing to touch it");
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        bail!("{shown}: owned by uid {}, not by this user (uid {me}); refusing to write into it", meta.uid());
    }
    if !try_lock_writer(&file).with_context(|| format!("{shown}: lock"))? {
        let held_by = Mapping::new(file, true)
            .ok()
            .filter(|m| layout::Config::from_header(m.header(), m.len()).is_ok())
            .map(|m| m.header().writer_pid.load(Ordering::Acquire))
            .filter(|&p| p != 0)
            .map(|p| format!(" (pid {p})"))
            .unwrap_or_default();
        bail!("{shown}: another writer{held_by} is writing this ring; one writer at a time");
    }
    let map = Mapping::new(file, false).map_err(|e| match e.get_ref().and_then(|r| r.downcast_ref()) {
        Some(layout_err @ layout::LayoutError::TooSmall { .. }) => {
            anyhow!("{shown}: {layout_err}; left unchanged (remove it or choose another --ring)")
        }
        _ => anyhow!("{shown}: map: {e}"),
    })?;
    let old = match Config::from_header(map.header(), map.len()) {
        Ok(old) => old,
        Err(e) => bail!("{shown}: {e}; left unchanged (remove it or choose another --ring)"),
    };
    let h = map.header();
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        // Other users could have written anything into it: start afresh rather than trust it.
        let w = replace(path, h, cfg, h.generation.load(Ordering::Acquire))?;
        return Ok((w, Opened::Recreated { mode }));
    }
    if old == cfg && h.flags.load(Ordering::Acquire) & FLAG_RETIRED == 0 {
        let (head, _) = layout::check_dynamic(h, &old)
            .map_err(|e| anyhow!("{shown}: {e}; left unchanged (remove it or choose another --ring)"))?;
        return Ok(continue_timeline(path, map, cfg, head));
    }
    let previous_generation = h.generation.load(Ordering::Acquire);
    let w = replace(path, h, cfg, previous_generation)?;
    Ok((w, Opened::Replaced { previous: old }))
}

/// Becomes the writer of the ring's timeline, which continues at `head`.
fn continue_timeline(path: &Path, map: Mapping, cfg: Config, head: u64) -> (RingWriter, Opened) {
    let h = map.header();
    h.writer_pid.store(pid(), Ordering::Release);
    let writers = h.writers.fetch_add(1, Ordering::AcqRel).saturating_add(1);
    let last_ns = h.last_write_mono_ns.load(Ordering::Acquire);
    let generation = h.generation.load(Ordering::Acquire);
    let mut w = RingWriter::from_parts(path, map, cfg, generation);
    w.head = head;
    // A timeline with frames has a last write; the downtime since then is a gap.
    w.resume_after_ns = (head > 0 && last_ns > 0).then_some(last_ns);
    (w, Opened::Continued { head, writers })
}

/// Builds a new ring (the generation after `previous_generation`) beside the file whose header
/// is `old`, puts it in its place, then tells the old file's readers (they still map the old
/// inode) that it is retired.
fn replace(path: &Path, old: &Header, cfg: Config, previous_generation: u64) -> anyhow::Result<RingWriter> {
    let shown = path.display();
    let next = previous_generation.wrapping_add(1).max(1);
    let w = create(path, cfg, next, |tmp| {
        std::fs::rename(tmp, path).with_context(|| format!("{shown}: replace with {}", tmp.display()))?;
        Ok(true)
    })?
    .ok_or_else(|| anyhow!("{shown}: replace: the new ring was not placed"))?;
    old.flags.fetch_or(FLAG_RETIRED, Ordering::SeqCst);
    old.generation.store(next, Ordering::SeqCst);
    wake_readers(old);
    Ok(w)
}

/// Places a finished temporary ring at `path` unless something is there already.
fn link_new(tmp: &Path, path: &Path) -> anyhow::Result<bool> {
    match std::fs::hard_link(tmp, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(tmp);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(tmp);
            Ok(false)
        }
        Err(e) => {
            let _ = std::fs::remove_file(tmp);
            Err(e).with_context(|| format!("{}: link from {}", path.display(), tmp.display()))
        }
    }
}

/// Creates a complete ring (generation `generation`) under a temporary name in `path`'s folder,
/// locked, then lets `place` move it to `path`. `place` returns false when it could not (the
/// path appeared meanwhile); then this returns `None`.
fn create(
    path: &Path,
    cfg: Config,
    generation: u64,
    place: impl FnOnce(&Path) -> anyhow::Result<bool>,
) -> anyhow::Result<Option<RingWriter>> {
    let shown = path.display();
    let name = path.file_name().ok_or_else(|| anyhow!("{shown}: not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", pid()));
    let tmp = path.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp); // our own leftover from a crash of a process of our pid
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .with_context(|| format!("{}: create", tmp.display()))?;
    let cleanup = |e: anyhow::Error| {
        let _ = std::fs::remove_file(&tmp);
        e
    };
    if !try_lock_writer(&file).map_err(|e| cleanup(anyhow!("{}: lock: {e}", tmp.display())))? {
        return Err(cleanup(anyhow!("{}: lock: held by another process", tmp.display())));
    }
    let bytes = cfg.file_bytes();
    if bytes == u64::MAX || usize::try_from(bytes).is_err() {
        return Err(cleanup(anyhow!(
            "{shown}: create: {} do not fit in memory",
            cfg.spec.describe_frames(cfg.slot_frames)
        )));
    }
    allocate(&file, bytes).map_err(|e| {
        cleanup(anyhow!(
            "{shown}: allocate {} MiB for {}: {e}",
            bytes.div_ceil(1 << 20),
            cfg.spec.describe_frames(cfg.slot_frames)
        ))
    })?;
    let map = Mapping::new(file, false).map_err(|e| cleanup(anyhow!("{}: map: {e}", tmp.display())))?;
    let h = map.header();
    cfg.write_to(h);
    h.generation.store(generation, Ordering::Relaxed);
    h.writer_pid.store(pid(), Ordering::Relaxed);
    h.writers.store(1, Ordering::Relaxed);
    h.timeline.store(layout::unix_ns().max(1), Ordering::Relaxed);
    layout::publish_magic(h);
    if !place(&tmp).map_err(cleanup)? {
        return Ok(None);
    }
    Ok(Some(RingWriter::from_parts(path, map, cfg, generation)))
}

/// Reserves `bytes` for the file up front, so a full `/dev/shm` fails here with ENOSPC instead
/// of killing the writer with SIGBUS later. Falls back to a sparse size where the filesystem
/// cannot allocate.
fn allocate(file: &File, bytes: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(bytes).map_err(|_| io::Error::other("too large"))?;
    match nix::fcntl::fallocate(file, nix::fcntl::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EOPNOTSUPP) => file.set_len(bytes),
        Err(e) => Err(e.into()),
    }
}

impl RingWriter {
    fn from_parts(path: &Path, map: Mapping, cfg: Config, generation: u64) -> RingWriter {
        // Chunks of at most a quarter of the slack: a reader at the oldest guaranteed frame
        // always has most of the slack to copy it before a single write reaches it.
        let max_chunk_frames = ((cfg.slot_frames - cfg.capacity_frames) / 4).max(1);
        debug_assert!(HEADER_BYTES + cfg.slot_frames * cfg.spec.frame_bytes() as u64 <= map.len());
        // Map every slot now: a page fault per 4 KiB written would otherwise double the cost of
        // the first pass through the ring. The pages exist already (fallocate); this only maps
        // them. Best effort: kernels before 5.14 do not know the advice.
        let _ = map.map.advise(memmap2::Advice::PopulateWrite);
        RingWriter {
            path: path.to_path_buf(),
            map,
            cfg,
            head: 0,
            generation,
            max_chunk_frames,
            resume_after_ns: None,
        }
    }
}

/// The one log line for what [`RingWriter::open`] did, shared by every writer (capture, fill):
/// `created ring: s16le 48000 Hz 2 ch, capacity 30.000s (…) + 3.000s slack, 6.0 MiB; timeline
/// 1796…`.
pub fn describe_opened(w: &RingWriter, opened: &Opened) -> String {
    let cfg = w.config();
    let slack = cfg.spec.describe_frames(cfg.slot_frames - cfg.capacity_frames);
    let mib = cfg.file_bytes() as f64 / (1024.0 * 1024.0);
    let what = format!("{} + {slack} slack, {mib:.1} MiB", cfg.describe());
    let timeline = format!("timeline {} (generation {})", w.timeline(), w.generation());
    match opened {
        Opened::Created => format!("created ring: {what}; new {timeline}"),
        Opened::Continued { head, writers } => format!(
            "continuing {timeline} of the ring ({what}) at frame {head}, as its writer number {writers}; \
             the downtime since the last writer becomes a gap"
        ),
        Opened::Replaced { previous } => {
            format!(
                "replaced a ring of {} (no writer) with a new one: {what}; new {timeline}",
                previous.describe()
            )
        }
        Opened::Recreated { mode } => format!(
            "the ring had mode {mode:04o}, which lets other users write it: recreated it at 0600 ({what}); \
             new {timeline}"
        ),
    }
}

/// The one log line for a gap, shared by the writers and the taps: `overrun at frame 480000
/// (10.000s): 123136 frames (2.565s) lost, present as silence (estimated)`.
pub fn describe_gap(gap: &Gap, rate: u32) -> String {
    format!(
        "{} at frame {} ({}): {} frames ({}) lost, present as silence ({})",
        gap.cause.name(),
        gap.first,
        crate::spec::format_frames(gap.first, rate),
        gap.frames,
        crate::spec::format_frames(gap.frames, rate),
        gap.accuracy()
    )
}
