//! The ring's single writer: creating a ring, taking over an existing one, publishing frames.
//!
//! Owns the rules for what `vinyl-preroll fill` may do to a path: create a new ring (0600,
//! complete before it appears under its name), take over a compatible ring whose writer is gone
//! (a new generation, numbering restarts at 0), replace a ring of ours that has another format
//! or capacity (the old file is marked retired so its readers stop), and refuse everything else:
//! a live writer, a symlink, a file of another owner, a file that is not a ring (left
//! unchanged), a ring of another layout version. It never waits for readers. It does not read
//! input or log: [`RingWriter::open`] reports what it did as an [`Opened`] for the caller to log.

use super::layout::{self, Config, FLAG_RETIRED, HEADER_BYTES, Header};
use super::{Mapping, try_lock_writer};
use anyhow::{Context as _, anyhow, bail};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{Ordering, fence};

/// What [`RingWriter::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// There was no file: a new ring was created.
    Created,
    /// A compatible ring without a writer was taken over as a new generation.
    TookOver {
        /// The generation that wrote it before.
        previous_generation: u64,
        /// That generation's head (frames it had written).
        previous_head: u64,
    },
    /// A ring of another format or capacity without a writer was replaced by a new file.
    Replaced {
        /// The old ring's configuration.
        previous: Config,
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

    /// Frames written by this generation (the absolute number of the next frame).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// This writer's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Appends whole frames (`bytes.len()` must be a multiple of the frame size) and wakes
    /// waiting readers. Never blocks on readers; frames older than the capacity are overwritten.
    pub fn write(&mut self, bytes: &[u8]) {
        let fb = self.cfg.spec.frame_bytes();
        assert_eq!(bytes.len() % fb, 0, "RingWriter::write takes whole frames");
        for chunk in bytes.chunks(self.max_chunk_frames as usize * fb) {
            self.write_chunk(chunk);
        }
    }

    fn write_chunk(&mut self, bytes: &[u8]) {
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
        // reader that copied any of the new bytes sees this claim after its Acquire fence).
        h.claim.store(end, Ordering::Relaxed);
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
        h.last_write_mono_ns.store(layout::monotonic_ns(), Ordering::Relaxed);
        h.head.store(end, Ordering::Release);
        self.head = end;
        wake_readers(h);
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
        bail!("{shown}: another vinyl-preroll fill{held_by} is writing this ring; one writer at a time");
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
    let previous_generation = h.generation.load(Ordering::Acquire);
    let previous_head = h.head.load(Ordering::Acquire);
    if old == cfg && h.flags.load(Ordering::Acquire) & FLAG_RETIRED == 0 {
        h.writer_pid.store(pid(), Ordering::Release);
        let generation = previous_generation.wrapping_add(1).max(1);
        // Generation first: a reader that sees the reset head (or any new frame) sees it too.
        h.generation.store(generation, Ordering::SeqCst);
        h.frame0_unix_ns.store(0, Ordering::SeqCst);
        h.claim.store(0, Ordering::SeqCst);
        h.head.store(0, Ordering::SeqCst);
        wake_readers(h);
        let w = RingWriter::from_parts(path, map, cfg, generation);
        return Ok((w, Opened::TookOver { previous_generation, previous_head }));
    }
    // Ours, but another format or capacity: build the new ring beside it, put it in its place,
    // then tell the old file's readers (they still map the old inode) that it is retired.
    let next = previous_generation.wrapping_add(1).max(1);
    let w = create(path, cfg, next, |tmp| {
        std::fs::rename(tmp, path).with_context(|| format!("{shown}: replace with {}", tmp.display()))?;
        Ok(true)
    })?
    .ok_or_else(|| anyhow!("{shown}: replace: the new ring was not placed"))?;
    h.flags.fetch_or(FLAG_RETIRED, Ordering::SeqCst);
    h.generation.store(next, Ordering::SeqCst);
    wake_readers(h);
    Ok((w, Opened::Replaced { previous: old }))
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
        RingWriter { path: path.to_path_buf(), map, cfg, head: 0, generation, max_chunk_frames }
    }
}
