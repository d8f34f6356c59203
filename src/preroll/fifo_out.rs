//! `vinyl-preroll tap --fifo PATH`: a live tap's output into a FIFO whose reader comes and goes
//! (a Snapcast server's pipe source, which a restart of snapserver closes and opens again).
//!
//! Owns the FIFO's life cycle for the tap: created (mode 0600, [`crate::fifo::create`]) when
//! missing, opened without blocking and tried again every [`RETRY`] while it has no reader
//! (`ENXIO`), written blocking once a reader holds it, and closed when that reader leaves (`EPIPE`),
//! to wait for the next. Frames that come while no reader is there are dropped, counted, and named
//! when the next reader arrives, so the tap keeps pace with the ring and a new reader starts at
//! the live position. A reader that holds the FIFO but stops reading blocks the write: the tap
//! then falls behind and skips forward like any live tap (logged and counted by the ring's
//! rules). Never a symbolic link (`O_NOFOLLOW`). Each change is one log line. How it fails: an
//! open or write error other than these is the tap's error (exit 1).

use super::TOOL;
use crate::vlog;
use anyhow::{Context as _, bail};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a FIFO without a reader is tried again (vinyl-tee's pace for its FIFOs too).
pub const RETRY: Duration = Duration::from_millis(100);

/// The FIFO and its reader, if one is there.
pub struct FifoOut {
    path: PathBuf,
    shown: String,
    file: Option<File>,
    /// When the FIFO was last tried without a reader.
    tried: Option<Instant>,
    /// Bytes dropped since the last reader left (or since the start).
    dropped: u64,
    frame_bytes: usize,
}

impl FifoOut {
    /// Makes the FIFO when it is missing; refuses a path that is something else.
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
        vlog!(TOOL, "{shown}: waiting for a reader");
        Ok(FifoOut { path: path.to_path_buf(), shown, file: None, tried: None, dropped: 0, frame_bytes })
    }

    /// Writes `bytes` to the reader, or drops them (counted) while there is none.
    pub fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if self.file.is_none() && !self.attach()? {
            self.dropped += bytes.len() as u64;
            return Ok(());
        }
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        match file.write_all(bytes) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                vlog!(TOOL, "{}: the reader left; waiting for the next one", self.shown);
                (self.file, self.tried, self.dropped) = (None, None, bytes.len() as u64);
                Ok(())
            }
            Err(e) => Err(e).with_context(|| format!("{}: write", self.shown)),
        }
    }

    /// Tries to open the FIFO (at most once every [`RETRY`]): true once a reader holds it.
    fn attach(&mut self) -> anyhow::Result<bool> {
        if self.tried.is_some_and(|t| t.elapsed() < RETRY) {
            return Ok(false);
        }
        self.tried = Some(Instant::now());
        let opened = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&self.path);
        let file = match opened {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Ok(false),
            Err(e) => return Err(e).with_context(|| format!("{}: open", self.shown)),
        };
        // Blocking from now on: a reader that stops reading holds the tap back, and the ring's
        // rules skip it forward (counted) when it falls behind.
        fcntl(&file, FcntlArg::F_SETFL(OFlag::empty())).with_context(|| format!("{}: fcntl", self.shown))?;
        let frames = self.dropped / self.frame_bytes.max(1) as u64;
        vlog!(TOOL, "{}: a reader opened it ({frames} frames went unread before)", self.shown);
        (self.file, self.dropped) = (Some(file), 0);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn drops_without_a_reader_and_writes_to_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.fifo");
        let mut out = FifoOut::new(&path, 4).unwrap();
        out.write(&[1, 2, 3, 4]).unwrap();
        assert_eq!(out.dropped, 4);
        let mut reader = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&path).unwrap();
        out.tried = None;
        out.write(&[5, 6, 7, 8]).unwrap();
        let mut got = [0u8; 4];
        reader.read_exact(&mut got).unwrap();
        assert_eq!(got, [5, 6, 7, 8]);
        drop(reader);
        out.write(&[9, 9, 9, 9]).unwrap();
        assert!(out.file.is_none(), "EPIPE closes it");
    }

    #[test]
    fn refuses_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain");
        std::fs::write(&path, b"").unwrap();
        assert!(FifoOut::new(&path, 4).is_err());
    }
}
