//! `vinyl-preroll tap --fifo PATH`: a live tap's output into a FIFO whose reader comes and goes
//! and must never hold the tap back (a Snapcast server's pipe source).
//!
//! Why not a plain blocking write: snapserver (0.26, `mode=read`) opens its FIFO, reads, and on
//! end of file closes it and tries again 100 ms later, so a writer waiting for a reader would
//! almost never find one; and it reads at its own real-time pace, so whatever waits in the pipe
//! when it starts stays there as delay for good. It also reads one chunk, then pauses for its
//! `buffer` (1000 ms by default) before reading on, so the pipe must hold that much audio. So the
//! tap holds the FIFO open read-write (created mode 0600 when missing; never blocks, never
//! `EPIPE`), grows the pipe to [`PIPE_BYTES`], writes without blocking (a write that does not fit
//! is dropped, counted) and watches the pipe's fill (`FIONREAD`): when it has not gone down for
//! [`IDLE`], longer than that pause, nobody is reading (snapserver stopped, stalled or not
//! started), so the waiting audio is drained and new frames are dropped, counted, until a reader
//! takes frames again. A reader therefore starts one write from live. Writes and drains are whole
//! frames, so a reader stays aligned. Each change is one log line. Limit: a reader that resumes in the very moment of a
//! drain may lose part of a frame's alignment (it would need to reopen the FIFO). How it fails:
//! a path that is not a FIFO, or an open, ioctl or read error, is the tap's error (exit 1).

use super::TOOL;
use crate::vlog;
use anyhow::{Context as _, bail};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the pipe's fill may stay put before nobody is taken to be reading: longer than
/// snapserver's pause after its first chunk (its `buffer`, 1000 ms by default; up to 2 s).
pub const IDLE: Duration = Duration::from_millis(2500);

/// The pipe's size asked for: snapserver's pause of up to 2 s of 24-in-32 stereo at 48 kHz fits
/// (768 KB), and 1 MiB is what Linux lets an unprivileged process ask for by default.
pub const PIPE_BYTES: usize = 1 << 20;

/// The FIFO, held read-write, and what its reader seems to do.
pub struct FifoOut {
    shown: String,
    file: File,
    frame_bytes: usize,
    pipe_bytes: usize,
    /// The pipe's fill after the last write.
    level: usize,
    /// When the fill was last seen to go down.
    read_at: Instant,
    reading: bool,
    /// Bytes dropped or drained since the reader stopped.
    dropped: u64,
    scratch: Vec<u8>,
}

impl FifoOut {
    /// Makes the FIFO when it is missing (refusing a path that is something else) and opens it.
    pub fn new(path: &Path, frame_bytes: usize) -> anyhow::Result<FifoOut> {
        let shown = path.display().to_string();
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_fifo() => {}
            Ok(_) => bail!("{shown}: exists and is not a FIFO"),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                crate::fifo::create(path, 0o600).with_context(|| format!("{shown}: mkfifo"))?
            }
            Err(e) => return Err(e).with_context(|| format!("{shown}: stat")),
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .with_context(|| format!("{shown}: open"))?;
        // SAFETY: F_SETPIPE_SZ and F_GETPIPE_SZ on a descriptor we own; no memory is passed. A
        // refused size leaves the pipe as it was (its size is read back and logged).
        let size = unsafe {
            libc::fcntl(file.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES as libc::c_int);
            libc::fcntl(file.as_raw_fd(), libc::F_GETPIPE_SZ)
        };
        let pipe_bytes = usize::try_from(size).unwrap_or(65_536);
        vlog!(
            TOOL,
            "{shown}: open (a {pipe_bytes}-byte pipe); frames are dropped, counted, until a reader takes them"
        );
        let read_at = Instant::now();
        Ok(FifoOut {
            shown,
            file,
            frame_bytes: frame_bytes.max(1),
            pipe_bytes,
            level: 0,
            read_at,
            reading: false,
            dropped: 0,
            scratch: Vec::new(),
        })
    }

    /// Writes `bytes` (whole frames) when a reader takes them, else drops them (counted).
    pub fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let fill = self.fill()?;
        if fill < self.level || (fill == 0 && self.level == 0 && self.reading) {
            self.read_at = Instant::now();
        }
        if fill < self.level && !self.reading {
            let frames = self.dropped / self.frame_bytes as u64;
            vlog!(TOOL, "{}: a reader takes frames ({frames} frames dropped while none did)", self.shown);
            (self.reading, self.dropped) = (true, 0);
        }
        let mut fill = fill;
        if fill > 0 && self.read_at.elapsed() > IDLE {
            if self.reading {
                vlog!(
                    TOOL,
                    "{}: no reader took frames for {} ms: dropping frames until one does",
                    self.shown,
                    IDLE.as_millis()
                );
                self.reading = false;
            }
            fill -= self.drain(fill)?;
        }
        if bytes.len() <= self.pipe_bytes.saturating_sub(fill) {
            match self.file.write(bytes) {
                Ok(n) if n == bytes.len() => {}
                Ok(n) => bail!("{}: a write of {} bytes stopped at {n}", self.shown, bytes.len()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.dropped += bytes.len() as u64,
                Err(e) => return Err(e).with_context(|| format!("{}: write", self.shown)),
            }
        } else {
            self.dropped += bytes.len() as u64;
        }
        self.level = self.fill()?;
        Ok(())
    }

    /// The bytes waiting in the pipe.
    fn fill(&self) -> anyhow::Result<usize> {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int to the pointer given, which points at `n`.
        let r = unsafe { libc::ioctl(self.file.as_raw_fd(), libc::FIONREAD, &mut n) };
        if r < 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("{}: FIONREAD", self.shown));
        }
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Reads away the whole frames of the `fill` waiting bytes; returns how many went.
    fn drain(&mut self, fill: usize) -> anyhow::Result<usize> {
        let want = fill - fill % self.frame_bytes;
        self.scratch.resize(want, 0);
        let mut got = 0;
        while got < want {
            match self.file.read(&mut self.scratch[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e).with_context(|| format!("{}: drain", self.shown)),
            }
        }
        self.dropped += got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_gets_live_frames_and_an_absent_one_costs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.fifo");
        let mut out = FifoOut::new(&path, 4).unwrap();
        // Nobody reads: the stale frames are drained once IDLE has passed, never blocking.
        out.write(&[1; 4096]).unwrap();
        out.write(&[1; 4096]).unwrap();
        out.read_at -= IDLE;
        out.write(&[1; 4096]).unwrap();
        assert_eq!(out.fill().unwrap(), 4096, "stale audio stays in the pipe");
        assert!(!out.reading && out.dropped == 2 * 4096, "dropped {}", out.dropped);
        // A reader: it gets the frames written after it came.
        let mut reader = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&path).unwrap();
        let mut buf = vec![0u8; 65_536];
        let _ = reader.read(&mut buf);
        out.write(&[2; 8]).unwrap();
        assert!(out.reading, "the reader was noticed");
        assert_eq!(reader.read(&mut buf).unwrap(), 8);
        assert_eq!(&buf[..8], &[2; 8]);
    }

    #[test]
    fn refuses_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain");
        std::fs::write(&path, b"").unwrap();
        assert!(FifoOut::new(&path, 4).is_err());
    }
}
