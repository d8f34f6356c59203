//! stdin: whole frames in, handed to every attached output by the cheapest path the kernel offers.
//!
//! Owns reading the input and the zero-copy paths. From a pipe (the capture), the whole frames
//! waiting in it are first duplicated into each output pipe that has nothing queued with
//! `tee(2)` (page references, no copy), then consumed: thrown away with `splice(2)` into
//! `/dev/null` when every output took all of them, read into memory otherwise, so that what an
//! output could not take is queued from the copy. From a regular file, each batch is read (the
//! copy that queues need) and moved into output pipes with `splice(2)` from the page cache.
//! Anything else (a terminal, a socket), and any case where the kernel refuses a zero-copy call,
//! goes through [`PcmInput`] and plain writes. Whichever path, outputs receive the same bytes
//! in the same whole-frame batches. A partial frame at the end of the input is held back by
//! [`PcmInput`] and reported by the caller, never passed on. It does not poll or decide when
//! to read; it never blocks except in reading stdin itself, which poll said was ready.

use super::cli::OutputErrorPolicy;
use super::output::{Output, State};
use crate::input::{Got, PcmInput, bytes_waiting};
use crate::log::StateLog;
use anyhow::anyhow;
use nix::errno::Errno;
use nix::fcntl::{SpliceFFlags, splice};
use nix::sys::stat::SFlag;
use std::fs::File;
use std::io::Read;
use std::os::fd::BorrowedFd;

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

/// What one call of [`Input::fan_out`] did: what the read found ([`Got`]: frames passed on, the
/// end, nothing this time), or stdin's read error (the tee drains and exits 1); the outer error is
/// an output failing under `--output-error exit`.
pub(crate) type Fanned = anyhow::Result<anyhow::Result<Got>>;

/// The input side of the tee.
#[derive(Debug)]
pub(crate) struct Input {
    /// stdin: whole-frame reads for the copying path; its descriptor for poll, `tee(2)`,
    /// `splice(2)` and exact reads.
    pcm: PcmInput,
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

impl Input {
    /// Takes stdin, reading at most `chunk_bytes` (rounded down to whole frames) at a time.
    pub(crate) fn stdin(frame_bytes: usize, chunk_bytes: usize) -> anyhow::Result<Input> {
        let pcm = PcmInput::stdin(frame_bytes)?;
        let fmt = nix::sys::stat::fstat(pcm.fd())
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT)
            .map_err(|e| anyhow!("stdin: stat: {}", e.desc()))?;
        let source = if fmt == SFlag::S_IFIFO {
            Source::Pipe
        } else if fmt == SFlag::S_IFREG
            && let Ok(start) = nix::unistd::lseek(pcm.fd(), 0, nix::unistd::Whence::SeekCur)
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
            pcm,
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
        self.pcm.fd()
    }

    /// Enlarges stdin's pipe buffer when stdin is a pipe; returns what was granted.
    pub(crate) fn grow_pipe(&self, tool: &str) -> Option<usize> {
        if self.source != Source::Pipe {
            return None;
        }
        self.pcm.grow_pipe(tool)
    }

    /// Reports a partial frame held back as discarded (see [`PcmInput::report_partial`]).
    pub(crate) fn report_partial(&self, tool: &str, when: &str) {
        self.pcm.report_partial(tool, when);
    }

    /// The most one call passes on, in bytes; a call that passes on less found the input idle.
    pub(crate) fn chunk_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Reads what stdin has (poll said it is readable) and passes it on to every attached output.
    pub(crate) fn fan_out(
        &mut self,
        outputs: &mut [Output],
        policy: OutputErrorPolicy,
        log: &mut StateLog,
    ) -> Fanned {
        if self.source == Source::Pipe && self.zero_copy && self.pcm.partial_bytes() == 0 {
            let len = bytes_waiting(self.pcm.fd()).min(self.buf.len()) / self.frame_bytes * self.frame_bytes;
            if len > 0 {
                return self.fan_out_pipe(len, outputs, policy, log);
            }
        }
        let n = match self.pcm.read(&mut self.buf) {
            Ok(Got::Frames(n)) => n,
            other => return Ok(other),
        };
        let data = &self.buf[..n];
        for o in outputs.iter_mut().filter(|o| o.state == State::Attached) {
            match self.source {
                Source::File { start } if self.zero_copy && o.can_zero_copy() => {
                    let offset = start + self.consumed as i64;
                    o.offer_from_file(data, self.pcm.fd(), offset, &mut self.zero_copy, policy, log)?
                }
                _ => o.offer(data, policy, log)?,
            }
        }
        self.consumed += n as u64;
        Ok(Ok(Got::Frames(n)))
    }

    /// The pipe path for `len` bytes of whole frames known to be waiting in stdin.
    fn fan_out_pipe(
        &mut self,
        len: usize,
        outputs: &mut [Output],
        policy: OutputErrorPolicy,
        log: &mut StateLog,
    ) -> Fanned {
        self.taken.clear();
        self.taken.resize(outputs.len(), None);
        let mut need_data = false;
        for (o, taken) in outputs.iter_mut().zip(self.taken.iter_mut()) {
            if o.state != State::Attached {
                continue;
            }
            if self.zero_copy && o.can_zero_copy() {
                match o.duplicate(self.pcm.fd(), len, policy, log)? {
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
            if let Err(e) = self.pcm.file().read_exact(&mut self.buf[..len]) {
                return Ok(Err(anyhow!("stdin: read: {e}")));
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
        Ok(Ok(Got::Frames(len)))
    }

    /// Consumes `len` bytes of stdin without copying them (`splice(2)` into `/dev/null`).
    /// Returns false, with nothing consumed, when that is not possible.
    fn consume_without_copy(&mut self, len: usize) -> bool {
        let Some(null) = &self.devnull else { return false };
        let mut left = len;
        while left > 0 {
            match splice(self.pcm.fd(), None, null, None, left, SpliceFFlags::empty()) {
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
        left == 0 || self.pcm.file().read_exact(&mut self.buf[..left]).is_ok()
    }
}
