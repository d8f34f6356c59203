//! stdin: whole frames in, handed to every attached output by the cheapest path the kernel offers.
//!
//! Owns reading the input and the zero-copy paths. From a pipe (the capture), the whole frames
//! waiting in it are first duplicated into each output pipe that has nothing queued with
//! `tee(2)` (page references, no copy), then consumed: thrown away with `splice(2)` into
//! `/dev/null` when every output took all of them, read into memory otherwise, so that what an
//! output could not take is queued from the copy. From a regular file, each batch is read (the
//! copy that queues need) and moved into output pipes with `splice(2)` from the page cache.
//! Anything else (a terminal, a socket), and any case where the kernel refuses a zero-copy call,
//! goes through [`FrameReader`] and plain writes. Whichever path, outputs receive the same bytes
//! in the same whole-frame batches. A partial frame at the end of the input is held back by
//! [`FrameReader`] and reported by the caller, never passed on. It does not poll or decide when
//! to read; it never blocks except in reading stdin itself, which poll said was ready.

use super::cli::OutputErrorPolicy;
use super::output::{Output, State};
use crate::log::StateLog;
use crate::pcm::FrameReader;
use anyhow::anyhow;
use nix::errno::Errno;
use nix::fcntl::{SpliceFFlags, splice};
use nix::sys::stat::SFlag;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// What stdin is, which decides the zero-copy path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A pipe or FIFO: `tee(2)` into output pipes.
    Pipe,
    /// A regular file, positioned at byte `start` when the tool began: `splice(2)` from it.
    File { start: i64 },
    /// A terminal, socket, device: read and write.
    Other,
}

/// What one call of [`Input::fan_out`] did.
#[derive(Debug)]
pub(crate) enum Got {
    /// This many bytes of whole frames were passed on.
    Frames(usize),
    /// End of input.
    Eof,
    /// Nothing this time (a signal interrupted the read).
    Again,
    /// stdin could not be read.
    ReadError(anyhow::Error),
}

/// The input side of the tee.
#[derive(Debug)]
pub(crate) struct Input {
    /// stdin (a duplicate of descriptor 0), for poll, `tee(2)`, `splice(2)` and exact reads.
    file: File,
    /// Whole-frame reads of the same stdin, for the copying path.
    reader: FrameReader<File>,
    source: Source,
    /// False once the kernel refused a `tee(2)`/`splice(2)` between stdin and an output.
    zero_copy: bool,
    /// `/dev/null`, to consume input that every output took without a copy.
    devnull: Option<File>,
    buf: Vec<u8>,
    frame_bytes: usize,
    /// Per output, the bytes `tee(2)` gave it in the current round (`None`: not duplicated).
    taken: Vec<Option<usize>>,
    /// Bytes of whole frames passed on so far.
    consumed: u64,
}

/// Bytes waiting in a pipe (`FIONREAD`); 0 when the kernel does not say.
fn pipe_bytes(fd: BorrowedFd<'_>) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points to a live c_int.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r < 0 { 0 } else { n.max(0) as usize }
}

impl Input {
    /// Takes stdin, reading at most `chunk_bytes` (rounded down to whole frames) at a time.
    pub(crate) fn stdin(frame_bytes: usize, chunk_bytes: usize) -> anyhow::Result<Input> {
        let dup = || -> anyhow::Result<File> {
            Ok(File::from(
                std::io::stdin().as_fd().try_clone_to_owned().map_err(|e| anyhow!("stdin: dup: {e}"))?,
            ))
        };
        let file = dup()?;
        let fmt = nix::sys::stat::fstat(&file)
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT)
            .map_err(|e| anyhow!("stdin: stat: {}", e.desc()))?;
        let source = if fmt == SFlag::S_IFIFO {
            Source::Pipe
        } else if fmt == SFlag::S_IFREG
            && let Ok(start) = nix::unistd::lseek(&file, 0, nix::unistd::Whence::SeekCur)
        {
            Source::File { start }
        } else {
            Source::Other
        };
        let devnull = if source == Source::Pipe {
            std::fs::OpenOptions::new().write(true).open("/dev/null").ok()
        } else {
            None
        };
        Ok(Input {
            reader: FrameReader::new(dup()?, frame_bytes),
            file,
            source,
            zero_copy: true,
            devnull,
            buf: vec![0; (chunk_bytes / frame_bytes).max(1) * frame_bytes],
            frame_bytes,
            taken: Vec::new(),
            consumed: 0,
        })
    }

    /// stdin, to poll it (and to size its pipe buffer).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// True when stdin is a pipe.
    pub(crate) fn is_pipe(&self) -> bool {
        self.source == Source::Pipe
    }

    /// The most one call passes on, in bytes; a call that passes on less found the input idle.
    pub(crate) fn chunk_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes of an incomplete frame held back; after [`Got::Eof`], discarded.
    pub(crate) fn partial_bytes(&self) -> usize {
        self.reader.partial_bytes()
    }

    /// Reads what stdin has (poll said it is readable) and passes it on to every attached output.
    /// An `Err` is an output failing under `--output-error exit`.
    pub(crate) fn fan_out(
        &mut self,
        outputs: &mut [Output],
        policy: OutputErrorPolicy,
        log: &mut StateLog,
    ) -> anyhow::Result<Got> {
        if self.source == Source::Pipe && self.zero_copy && self.reader.partial_bytes() == 0 {
            let len = pipe_bytes(self.file.as_fd()).min(self.buf.len()) / self.frame_bytes * self.frame_bytes;
            if len > 0 {
                return self.fan_out_pipe(len, outputs, policy, log);
            }
        }
        let n = match self.reader.read_frames(&mut self.buf) {
            Ok(0) => return Ok(Got::Eof),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {
                return Ok(Got::Again);
            }
            Err(e) => return Ok(Got::ReadError(anyhow!("stdin: read: {e}"))),
        };
        let data = &self.buf[..n];
        for o in outputs.iter_mut().filter(|o| o.state == State::Attached) {
            match self.source {
                Source::File { start } if self.zero_copy && o.can_zero_copy() => {
                    let offset = start + self.consumed as i64;
                    o.offer_from_file(data, self.file.as_fd(), offset, &mut self.zero_copy, policy, log)?
                }
                _ => o.offer(data, policy, log)?,
            }
        }
        self.consumed += n as u64;
        Ok(Got::Frames(n))
    }

    /// The pipe path for `len` bytes of whole frames known to be waiting in stdin.
    fn fan_out_pipe(
        &mut self,
        len: usize,
        outputs: &mut [Output],
        policy: OutputErrorPolicy,
        log: &mut StateLog,
    ) -> anyhow::Result<Got> {
        self.taken.clear();
        self.taken.resize(outputs.len(), None);
        let mut need_data = false;
        for (o, taken) in outputs.iter_mut().zip(self.taken.iter_mut()) {
            if o.state != State::Attached {
                continue;
            }
            if self.zero_copy && o.can_zero_copy() {
                match o.duplicate(self.file.as_fd(), len, policy, log)? {
                    Some(n) => {
                        *taken = Some(n);
                        need_data |= n < len && o.state == State::Attached;
                    }
                    None => {
                        self.zero_copy = false;
                        need_data = true;
                    }
                }
            } else {
                need_data = true;
            }
        }
        let data = if need_data || !self.consume_without_copy(len) {
            // The bytes are waiting, so this read returns them all at once.
            if let Err(e) = (&self.file).read_exact(&mut self.buf[..len]) {
                return Ok(Got::ReadError(anyhow!("stdin: read: {e}")));
            }
            Some(&self.buf[..len])
        } else {
            None
        };
        for (o, taken) in outputs.iter_mut().zip(self.taken.iter()) {
            if o.state != State::Attached {
                continue;
            }
            match (taken, data) {
                (Some(t), _) => o.complete(data, len, *t, log),
                (None, Some(data)) => o.offer(data, policy, log)?,
                // Not reached: an attached output that was not duplicated set `need_data`.
                (None, None) => debug_assert!(false, "an output that was not duplicated needs the data"),
            }
        }
        self.consumed += len as u64;
        Ok(Got::Frames(len))
    }

    /// Consumes `len` bytes of stdin without copying them (`splice(2)` into `/dev/null`).
    /// Returns false, with nothing consumed, when that is not possible.
    fn consume_without_copy(&mut self, len: usize) -> bool {
        let Some(null) = &self.devnull else { return false };
        let mut left = len;
        while left > 0 {
            match splice(&self.file, None, null, None, left, SpliceFFlags::empty()) {
                Ok(n) if n > 0 => left -= n,
                Err(Errno::EINTR) => {}
                _ => break,
            }
        }
        if left == len {
            self.devnull = None;
            return false;
        }
        // Consumed in part before failing: read the rest, which every output already has.
        left == 0 || (&self.file).read_exact(&mut self.buf[..left]).is_ok()
    }
}
