//! One destination of the tee: how it is opened, written without blocking, lost and found again.
//!
//! Owns an output's life cycle: a FIFO waits for a reader (non-blocking open, `ENXIO` retried
//! every [`RETRY`]), is attached, and when its reader leaves (`EPIPE` on write, or `POLLERR` from
//! poll) is closed with its backlog discarded and reopened later, so the next reader starts at
//! the live position. stdout cannot be reopened: its reader leaving closes it for good. A regular
//! file or a character device is written in place; its write errors follow the
//! `--output-error` policy. A symbolic link is never followed (`O_NOFOLLOW`), and no FIFO is
//! created under /dev. Every state change is logged once through [`StateLog`]. It does not
//! read input or decide when to poll: [`super`] drives it.

use super::cli::OutputErrorPolicy;
use super::queue::FrameQueue;
use crate::input::grow_pipe;
use crate::log::StateLog;
use anyhow::anyhow;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice, tee};
use nix::sys::stat::{Mode, SFlag, fstat};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a FIFO without a reader is tried again.
pub(crate) const RETRY: Duration = Duration::from_millis(100);

/// What kind of destination an output is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A named pipe, reopened whenever its reader comes back.
    Fifo(PathBuf),
    /// A regular file (appended to) or a character device.
    File(PathBuf),
    /// The process's stdout; never reopened.
    Stdout,
}

/// Where an output stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// A FIFO with no reader (yet, or again): opened again every [`RETRY`].
    Waiting,
    /// Open and written to.
    Attached,
    /// stdout whose reader left: closed for good.
    Closed,
    /// Closed for good after a write error under `--output-error warn`.
    Failed,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::Waiting => "waiting for a reader",
            State::Attached => "attached",
            State::Closed => "closed (reader gone)",
            State::Failed => "failed",
        }
    }
}

/// True when `path` would be created in a device folder: `/dev` or a folder under it, other than
/// the shared-memory folder `/dev/shm`. A missing path there is almost always a mistyped device
/// name (`/dev/sdx` for `/dev/sda`), so no FIFO is ever created there. Leans towards "yes" for a
/// path whose folder cannot be resolved but reads as one under /dev.
pub(crate) fn in_device_folder(path: &Path) -> bool {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(parent)
        .or_else(|_| std::path::absolute(parent))
        .unwrap_or_else(|_| parent.to_path_buf());
    dir.starts_with("/dev") && !dir.starts_with("/dev/shm")
}

/// One destination with its queue, counters and state.
#[derive(Debug)]
pub(crate) struct Output {
    /// The name in log lines: the path as given, or `stdout`.
    pub(crate) name: String,
    /// What it is.
    pub(crate) kind: Kind,
    /// Where it stands.
    pub(crate) state: State,
    /// Open descriptor while attached.
    fd: Option<OwnedFd>,
    /// The descriptor is a pipe or socket: `EPIPE`/`POLLERR` mean the reader left.
    pipe_like: bool,
    /// The descriptor is a pipe: `splice(2)` can move page-cache pages into it without a copy.
    is_pipe: bool,
    /// A regular file: a frame cut by a failing write is truncated away.
    regular: bool,
    /// Backlog of whole frames (and a frame tail).
    queue: FrameQueue,
    /// Frames this output lost: queue overflow, backlog discarded when its reader left or the
    /// drain ran out of time.
    pub(crate) dropped: u64,
    /// Frames read while this FIFO had no reader (before the first, or between two): they went
    /// nowhere for this output.
    pub(crate) no_reader: u64,
    /// Times a reader was attached again after the first.
    pub(crate) reconnects: u64,
    /// Times a reader was attached.
    attaches: u64,
    /// Dropping for overflow right now (logged once per episode).
    overflowing: bool,
    /// When to try opening a waiting FIFO again.
    pub(crate) next_retry: Instant,
    /// The pipe buffer size last logged.
    pipe_size_logged: Option<usize>,
    /// stdout's file status flags before `O_NONBLOCK` was set, restored on drop.
    restore_flags: Option<OFlag>,
}

impl Output {
    fn new(name: String, kind: Kind, queue: FrameQueue) -> Self {
        Output {
            name,
            kind,
            state: State::Waiting,
            fd: None,
            pipe_like: false,
            is_pipe: false,
            regular: false,
            queue,
            dropped: 0,
            no_reader: 0,
            reconnects: 0,
            attaches: 0,
            overflowing: false,
            next_retry: Instant::now(),
            pipe_size_logged: None,
            restore_flags: None,
        }
    }

    /// A FIFO output, not yet opened (the first [`Output::try_open`] happens at once).
    pub(crate) fn fifo(path: PathBuf, queue: FrameQueue) -> Self {
        Output::new(path.display().to_string(), Kind::Fifo(path), queue)
    }

    /// A regular file (appended to) or character device, opened now without blocking.
    pub(crate) fn file(path: PathBuf, queue: FrameQueue) -> anyhow::Result<Self> {
        let name = path.display().to_string();
        let flags =
            OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let fd = nix::fcntl::open(&path, flags, Mode::empty())
            .map_err(|e| anyhow!("{name}: open: {}", e.desc()))?;
        let st = fstat(&fd).map_err(|e| anyhow!("{name}: stat: {}", e.desc()))?;
        let mut out = Output::new(name, Kind::File(path), queue);
        out.regular = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
        out.fd = Some(fd);
        out.state = State::Attached;
        out.attaches = 1;
        Ok(out)
    }

    /// stdout as an output: a pipe or socket is switched to non-blocking (restored when the
    /// output is dropped) and its buffer enlarged; a file or terminal is written as it is.
    pub(crate) fn stdout(queue: FrameQueue, pipe_want: usize, log: &mut StateLog) -> anyhow::Result<Self> {
        let fd = std::io::stdout().as_fd().try_clone_to_owned().map_err(|e| anyhow!("stdout: dup: {e}"))?;
        let st = fstat(&fd).map_err(|e| anyhow!("stdout: stat: {}", e.desc()))?;
        let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let mut out = Output::new("stdout".into(), Kind::Stdout, queue);
        out.pipe_like = fmt == SFlag::S_IFIFO || fmt == SFlag::S_IFSOCK;
        out.is_pipe = fmt == SFlag::S_IFIFO;
        out.regular = fmt == SFlag::S_IFREG;
        if out.pipe_like {
            let flags = OFlag::from_bits_truncate(
                fcntl(&fd, FcntlArg::F_GETFL).map_err(|e| anyhow!("stdout: get flags: {}", e.desc()))?,
            );
            if !flags.contains(OFlag::O_NONBLOCK) {
                fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))
                    .map_err(|e| anyhow!("stdout: set O_NONBLOCK: {}", e.desc()))?;
                out.restore_flags = Some(flags);
            }
        }
        out.fd = Some(fd);
        out.state = State::Attached;
        out.attaches = 1;
        if fmt == SFlag::S_IFIFO {
            out.log_pipe_size(pipe_want, log);
        }
        Ok(out)
    }

    /// The open descriptor, while attached.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|fd| fd.as_fd())
    }

    /// True when the descriptor is a pipe or socket, whose reader can leave.
    pub(crate) fn pipe_like(&self) -> bool {
        self.pipe_like
    }

    /// True when frames wait for this output.
    pub(crate) fn has_backlog(&self) -> bool {
        !self.queue.is_empty()
    }

    /// True for an output that can still receive something, now or later.
    pub(crate) fn alive(&self) -> bool {
        matches!(self.state, State::Waiting | State::Attached)
    }

    fn log_pipe_size(&mut self, want: usize, log: &mut StateLog) {
        let Some(fd) = self.fd() else { return };
        let granted = grow_pipe(fd, want);
        if granted.is_some() && granted != self.pipe_size_logged {
            self.pipe_size_logged = granted;
            let granted = granted.unwrap_or(0);
            crate::vlog!(log.tool(), "{}: pipe buffer {granted} bytes (asked for {want})", self.name);
        }
    }

    /// For a waiting FIFO whose retry time has come: opens it for writing without blocking.
    /// `ENXIO` (no reader) keeps it waiting; a vanished FIFO is created again with `mode`.
    pub(crate) fn try_open(&mut self, now: Instant, mode: u32, pipe_want: usize, log: &mut StateLog) {
        let Kind::Fifo(path) = &self.kind else { return };
        if self.state != State::Waiting || now < self.next_retry {
            return;
        }
        self.next_retry = now + RETRY;
        let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        match nix::fcntl::open(path, flags, Mode::empty()) {
            Ok(fd) => {
                let is_fifo = fstat(&fd)
                    .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO);
                if !is_fifo {
                    log.change(&self.name, "no longer a FIFO; waiting for it to be one again");
                    return;
                }
                self.fd = Some(fd);
                self.pipe_like = true;
                self.is_pipe = true;
                self.state = State::Attached;
                self.attaches += 1;
                if self.attaches > 1 {
                    self.reconnects += 1;
                }
                self.log_pipe_size(pipe_want, log);
                log.change(&self.name, "reader attached");
            }
            Err(Errno::ENXIO) => {
                if self.attaches == 0 {
                    log.change(&self.name, "no reader yet");
                }
            }
            Err(Errno::ELOOP) => {
                log.change(&self.name, "now a symbolic link, which is not followed; waiting for a FIFO");
            }
            Err(Errno::ENOENT) if in_device_folder(path) => {
                log.change(&self.name, "missing; not created again under /dev, waiting for it to return");
            }
            Err(Errno::ENOENT) => {
                log.change(&self.name, "missing, creating the FIFO again");
                if let Err(e) = crate::fifo::create(path, mode) {
                    log.change(&self.name, &format!("mkfifo: {}; retrying", e.desc()));
                } else {
                    self.next_retry = now;
                }
            }
            Err(Errno::EINTR) => self.next_retry = now,
            Err(e) => {
                log.change(
                    &self.name,
                    &format!("open: {}; retrying every {} ms", e.desc(), RETRY.as_millis()),
                );
            }
        }
    }

    /// The reader left: the backlog is discarded (counted as dropped) and the output closed; a
    /// FIFO waits for its next reader, stdout is closed for good.
    pub(crate) fn reader_gone(&mut self, now: Instant, log: &mut StateLog) {
        self.dropped += self.queue.discard();
        self.fd = None;
        self.overflowing = false;
        match self.kind {
            Kind::Fifo(_) => {
                self.state = State::Waiting;
                self.next_retry = now;
                log.change(&self.name, "reader gone, reopening");
            }
            _ => {
                self.state = State::Closed;
                self.queue.release();
                log.change(&self.name, "reader gone; it cannot be reopened, output closed");
            }
        }
    }

    /// A write failed with `err`: "reader gone" for a pipe, otherwise the error policy decides.
    fn write_failed(
        &mut self,
        err: Errno,
        policy: OutputErrorPolicy,
        log: &mut StateLog,
    ) -> anyhow::Result<()> {
        if self.pipe_like && err == Errno::EPIPE {
            self.reader_gone(Instant::now(), log);
            return Ok(());
        }
        // A regular file keeps whole frames only: cut off the head of a frame whose tail failed.
        if self.regular
            && self.queue.has_partial()
            && let Some(fd) = &self.fd
            && let Ok(st) = fstat(fd)
        {
            let head = self.queue.partial_written() as i64;
            let _ = nix::unistd::ftruncate(fd, (st.st_size - head).max(0));
        }
        match policy {
            OutputErrorPolicy::Exit => Err(anyhow!("{}: write: {}", self.name, err.desc())),
            OutputErrorPolicy::Warn => {
                self.dropped += self.queue.discard();
                self.queue.release();
                self.fd = None;
                self.state = State::Failed;
                log.change(
                    &self.name,
                    &format!("write: {}; output closed (--output-error warn), the others go on", err.desc()),
                );
                Ok(())
            }
        }
    }

    /// Logs the start and the end of an overflow episode, once each.
    fn note_overflow(&mut self, dropped_now: u64, log: &mut StateLog) {
        if dropped_now > 0 {
            self.dropped += dropped_now;
            if !self.overflowing {
                self.overflowing = true;
                log.change(&self.name, "queue full, dropping");
            }
        } else if self.overflowing && self.queue.is_empty() {
            self.overflowing = false;
            log.change(&self.name, &format!("caught up, {} frames dropped so far", self.dropped));
        }
    }

    /// Writes as much of the backlog as the output takes now.
    pub(crate) fn flush(&mut self, policy: OutputErrorPolicy, log: &mut StateLog) -> anyhow::Result<()> {
        let Some(fd) = &self.fd else { return Ok(()) };
        match self.queue.flush(|iov| nix::sys::uio::writev(fd, iov)) {
            Ok(_) => {
                self.note_overflow(0, log);
                Ok(())
            }
            Err(e) => self.write_failed(e, policy, log),
        }
    }

    /// Passes fresh whole frames to an attached output, queueing what it cannot take now.
    pub(crate) fn offer(
        &mut self,
        data: &[u8],
        policy: OutputErrorPolicy,
        log: &mut StateLog,
    ) -> anyhow::Result<()> {
        let Some(fd) = &self.fd else { return Ok(()) };
        match self.queue.offer(data, |iov| nix::sys::uio::writev(fd, iov)) {
            Ok(dropped) => {
                self.note_overflow(dropped, log);
                Ok(())
            }
            Err(e) => self.write_failed(e, policy, log),
        }
    }

    /// Like [`Output::offer`], for input that is a regular file: when nothing is queued, `data` (read
    /// from `src` at byte `offset`) is moved into a pipe output with `splice(2)`, which hands the
    /// page-cache pages over instead of copying them. Only what the pipe does not take is copied
    /// (into the queue). Falls back to writing `data` when the output is not a pipe or the kernel
    /// refuses the splice (`EINVAL`: a file system without splice), and then clears `splice_ok`.
    pub(crate) fn offer_from_file(
        &mut self,
        data: &[u8],
        src: BorrowedFd<'_>,
        offset: i64,
        splice_ok: &mut bool,
        policy: OutputErrorPolicy,
        log: &mut StateLog,
    ) -> anyhow::Result<()> {
        if !self.is_pipe || !*splice_ok {
            return self.offer(data, policy, log);
        }
        let Some(fd) = &self.fd else { return Ok(()) };
        let result = self.queue.offer(data, |iov| {
            let len = iov.iter().map(|s| s.len()).sum();
            let mut off = offset;
            match splice(src, Some(&mut off), fd, None, len, SpliceFFlags::SPLICE_F_NONBLOCK) {
                Err(Errno::EINVAL | Errno::ENOSYS) => {
                    *splice_ok = false;
                    nix::sys::uio::writev(fd, iov)
                }
                other => other,
            }
        });
        match result {
            Ok(dropped) => {
                self.note_overflow(dropped, log);
                Ok(())
            }
            Err(e) => self.write_failed(e, policy, log),
        }
    }

    /// True when fresh input may go to this output without a copy: attached, a pipe, and nothing
    /// queued in front of it.
    pub(crate) fn can_zero_copy(&self) -> bool {
        self.state == State::Attached && self.is_pipe && self.queue.is_empty()
    }

    /// Duplicates the first `len` bytes waiting in the input pipe `src` into this output with
    /// `tee(2)` (page references, no copy, nothing consumed from `src`). Returns the bytes the
    /// output took (0 when its pipe is full, or when it failed or lost its reader: its state
    /// says so), or `None` when the kernel cannot tee these two (then nothing happened).
    pub(crate) fn duplicate(
        &mut self,
        src: BorrowedFd<'_>,
        len: usize,
        policy: OutputErrorPolicy,
        log: &mut StateLog,
    ) -> anyhow::Result<Option<usize>> {
        let Some(fd) = &self.fd else { return Ok(Some(0)) };
        match tee(src, fd, len, SpliceFFlags::SPLICE_F_NONBLOCK) {
            Ok(n) => Ok(Some(n)),
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(Some(0)),
            Err(Errno::EINVAL | Errno::ENOSYS) => Ok(None),
            Err(e) => self.write_failed(e, policy, log).map(|()| Some(0)),
        }
    }

    /// After [`Output::duplicate`] took `taken` of `len` bytes: queues what it did not take, as
    /// [`Output::offer`] would, from `data` (those same `len` bytes, read from the input; needed
    /// only when `taken < len`).
    pub(crate) fn complete(&mut self, data: Option<&[u8]>, len: usize, taken: usize, log: &mut StateLog) {
        if self.state != State::Attached {
            return;
        }
        let dropped = match data {
            Some(data) => self.queue.accept(&data[..len], taken),
            None => {
                debug_assert_eq!(taken, len, "input consumed without a copy that an output still needs");
                self.queue.took(len)
            }
        };
        self.note_overflow(dropped, log);
    }

    /// The drain ran out of time: what is still queued is dropped. Returns the frames dropped and
    /// whether the reader was left with a cut frame.
    pub(crate) fn abandon_backlog(&mut self) -> (u64, bool) {
        let cut = self.queue.has_partial();
        let frames = self.queue.discard();
        self.dropped += frames;
        (frames, cut)
    }

    /// The counters as one line (without the tool name): state, bytes delivered, frames dropped,
    /// reconnects, frames queued, frames discarded while it had no reader.
    pub(crate) fn report(&self) -> String {
        format!(
            "{}: {}, {} bytes delivered, {} frames dropped, {} reconnects, {} frames queued, {} frames \
             discarded (no reader)",
            self.name,
            self.state.word(),
            self.queue.delivered(),
            self.dropped,
            self.reconnects,
            self.queue.queued_frames(),
            self.no_reader
        )
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let (Some(flags), Some(fd)) = (self.restore_flags, &self.fd) {
            let _ = fcntl(fd, FcntlArg::F_SETFL(flags));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_folders_are_dev_and_below_but_not_shared_memory() {
        assert!(in_device_folder(Path::new("/dev/sdx-vinyl-test")));
        assert!(in_device_folder(Path::new("/dev/snd/no-such-dir/x")));
        assert!(!in_device_folder(Path::new("/dev/shm/stream.fifo")));
        assert!(!in_device_folder(Path::new("/tmp/stream.fifo")));
        assert!(!in_device_folder(Path::new("/devices/stream.fifo")));
    }
}
