//! PCM input: the one way every tool waits for, sizes, batches and reads its raw PCM input.
//!
//! Owns the plumbing below the tools' loops: waiting for a descriptor with a timeout ([`wait`],
//! [`wait_readable`]; a signal ends the wait early so the caller can look at its stop flag), the
//! bytes waiting in a pipe ([`bytes_waiting`], `FIONREAD`), enlarging a pipe's buffer
//! ([`grow_pipe`]), the batching policy shared by `vinyl-tee` and `vinyl-preroll fill`
//! ([`Batch`], the `--batch` flag) and the one report of input that ends inside a frame
//! ([`PcmInput::report_partial`]). [`PcmInput`] puts them together over stdin or a FIFO that is
//! reopened when its writer leaves; whole frames come from [`FrameReader`].
//!
//! The one read loop of the tools that encode as the input comes ([`PcmInput::pump`]) stops
//! where they all do, at the end of input or the process's stop flag ([`crate::signals`]); it
//! does not decide what a tool does with the frames. It fails only on the
//! system: a descriptor that cannot be duplicated, polled or read gives an error naming the input
//! and the step (`stdin: poll: …`). Everything here goes through rustix's or std's safe calls.

use crate::cli::UsageError;
use crate::pcm::{DurationArg, FrameReader, PcmSpec};
use crate::vlog;
use anyhow::Context as _;
use clap::Args;
use rustix::event::{PollFd, PollFlags, Timespec};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Waits for the events asked in `fds` for at most `timeout` (`None`: until one happens). Returns
/// how many descriptors have events; 0 on a timeout or when a signal interrupted the wait.
pub fn wait(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> io::Result<usize> {
    let ts = timeout.map(|t| Timespec::try_from(t).unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 }));
    match rustix::event::poll(fds, ts.as_ref()) {
        Ok(n) => Ok(n),
        Err(rustix::io::Errno::INTR) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Waits up to `timeout` (`None`: forever) for `fd` to be readable, at its end or in error.
/// False on a timeout or a signal.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    Ok(wait(&mut fds, timeout)? > 0)
}

/// Bytes waiting to be read in a pipe, FIFO or socket (`FIONREAD`); 0 when the kernel does not
/// say.
pub fn bytes_waiting(fd: BorrowedFd<'_>) -> usize {
    rustix::io::ioctl_fionread(fd).map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// The pipe buffer worth asking for: `/proc/sys/fs/pipe-max-size` (what an unprivileged process
/// may ask for), at most 1 MiB, which holds over 5 s of 48 kHz stereo s16le.
pub fn wanted_pipe_size() -> usize {
    std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(1 << 20)
        .min(1 << 20)
}

/// Asks the kernel for a pipe buffer of `want` bytes, halving the request while it refuses (a
/// user over `pipe-user-pages-soft` gets less), and returns what was granted; `None` when `fd`
/// is not a pipe.
pub fn grow_pipe(fd: BorrowedFd<'_>, want: usize) -> Option<usize> {
    let mut ask = want;
    loop {
        match rustix::pipe::fcntl_setpipe_size(fd, ask) {
            Ok(granted) => return Some(granted),
            Err(_) if ask > 4096 => ask /= 2,
            Err(_) => return rustix::pipe::fcntl_getpipe_size(fd).ok(),
        }
    }
}

/// Longest batch accepted: longer would only add latency, and the input pipe must hold it.
pub const MAX_BATCH: Duration = Duration::from_secs(1);

/// The `--batch` flag, shared by the tools that let live input gather between reads.
#[derive(Args, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchArg {
    /// After a read that found less than a full buffer (input arriving at its real rate), let
    /// input gather this long before reading again, so that each wake-up takes several of the
    /// capture's periods at once: fewer wake-ups and less CPU for this much added latency. Input
    /// that arrives faster than it is read is never held back; 0s reads as soon as anything
    /// arrives. At most 1s, and at most a quarter of what the input pipe holds (it is enlarged to
    /// /proc/sys/fs/pipe-max-size, at most 1 MiB), so the writer upstream never finds it full
    #[arg(long = "batch", alias = "coalesce", value_name = "DURATION", default_value = "200ms")]
    pub batch: DurationArg,
}

/// When to let live input gather: the one batching policy (`--batch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The pause after a short read; zero reads as soon as anything arrives.
    pub interval: Duration,
}

impl Batch {
    /// The policy asked for with `--batch` at `rate`; more than [`MAX_BATCH`] is a usage error.
    pub fn new(arg: &BatchArg, rate: u32) -> Result<Batch, UsageError> {
        let interval = arg.batch.wall_time(rate);
        if interval > MAX_BATCH {
            return Err(UsageError::new(format!(
                "--batch {}: longer than {} ms; give a short time, e.g. 100ms, or 0s to read as soon as \
                 input arrives",
                arg.batch,
                MAX_BATCH.as_millis()
            )));
        }
        Ok(Batch { interval })
    }

    /// Lowers the interval to what a quarter of a pipe of `pipe_bytes` holds at `spec`, saying so
    /// when it does.
    pub fn fit_pipe(&mut self, pipe_bytes: usize, spec: &PcmSpec, tool: &str, name: &str) {
        let holds = Duration::from_micros(pipe_bytes as u64 / 4 * 1_000_000 / spec.bytes_per_second().max(1));
        if self.interval > holds {
            vlog!(tool, "{name}: --batch lowered to {} ms to fit the pipe buffer", holds.as_millis());
            self.interval = holds;
        }
    }

    /// The pause to take after a read of `got` bytes into a buffer of `asked`: the interval after
    /// a short read (the input is live, not backlogged), none otherwise.
    pub fn after_read(&self, got: usize, asked: usize) -> Option<Duration> {
        (got < asked && !self.interval.is_zero()).then_some(self.interval)
    }
}

/// What one read of a [`PcmInput`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    /// This many bytes of whole frames.
    Frames(usize),
    /// Nothing yet: the wait timed out, a signal arrived, or the input would block.
    Idle,
    /// End of input (a FIFO's writer left, or stdin ended).
    End,
}

/// What [`PcmInput::pump`] hands its caller's step.
#[derive(Debug)]
pub enum Step<'a> {
    /// Before each wait for input, so at least once a `wait`: the moment to look at anything
    /// else (a report asked for, a title, the watchdog).
    Tick,
    /// Whole frames just read.
    Frames(&'a [u8]),
}

/// Raw PCM read in whole frames from stdin, a FIFO (reopened when its writer leaves) or a file.
#[derive(Debug)]
pub struct PcmInput {
    name: String,
    fifo: Option<PathBuf>,
    reader: FrameReader<File>,
    frame_bytes: usize,
}

impl PcmInput {
    /// stdin (a duplicate of descriptor 0), read in frames of `frame_bytes`.
    pub fn stdin(frame_bytes: usize) -> anyhow::Result<PcmInput> {
        let fd = io::stdin().as_fd().try_clone_to_owned().context("stdin: dup")?;
        Ok(PcmInput {
            name: "stdin".into(),
            fifo: None,
            reader: FrameReader::new(File::from(fd), frame_bytes),
            frame_bytes,
        })
    }

    /// `path` (stdin when `None`), created as a FIFO (mode 0600) when missing, opened without
    /// blocking so that a FIFO without a writer is waited for with [`PcmInput::wait`].
    pub fn open(path: Option<&Path>, frame_bytes: usize, tool: &str) -> anyhow::Result<PcmInput> {
        let Some(path) = path else { return PcmInput::stdin(frame_bytes) };
        let (file, fifo) = open_path(path, tool)?;
        Ok(PcmInput {
            name: path.display().to_string(),
            fifo,
            reader: FrameReader::new(file, frame_bytes),
            frame_bytes,
        })
    }

    /// After [`Got::End`] on a FIFO: opens it again for the next writer, forgetting any partial
    /// frame (report it first). False, with nothing done, for any other input.
    pub fn reopen(&mut self, tool: &str) -> anyhow::Result<bool> {
        let Some(fifo) = self.fifo.clone() else { return Ok(false) };
        let (file, still_fifo) = open_path(&fifo, tool)?;
        self.fifo = still_fifo;
        self.reader.reset(file);
        Ok(true)
    }

    /// The name in log lines: `stdin` or the path.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The descriptor read.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.get_ref().as_fd()
    }

    /// The file read, for reads of an exact length that bypass the frame reader (only while
    /// [`PcmInput::partial_bytes`] is 0, so frames stay whole).
    pub fn file(&self) -> &File {
        self.reader.get_ref()
    }

    /// Waits up to `timeout` (`None`: forever) for input; false on a timeout or a signal.
    pub fn wait(&self, timeout: Option<Duration>) -> anyhow::Result<bool> {
        wait_readable(self.fd(), timeout).with_context(|| format!("{}: poll", self.name))
    }

    /// Reads whole frames into `buf` (a multiple of the frame size) without waiting first.
    pub fn read(&mut self, buf: &mut [u8]) -> anyhow::Result<Got> {
        match self.reader.read_frames(buf) {
            Ok(0) => Ok(Got::End),
            Ok(n) => Ok(Got::Frames(n)),
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {
                Ok(Got::Idle)
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("{}: read", self.name))),
        }
    }

    /// Waits up to `timeout` for input, then reads whole frames into `buf`.
    pub fn wait_and_read(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> anyhow::Result<Got> {
        if !self.wait(timeout)? {
            return Ok(Got::Idle);
        }
        self.read(buf)
    }

    /// The read loop of a tool that encodes its input as it comes: reads up to `frames` whole
    /// frames at a time until the input ends or the process is asked to stop
    /// ([`crate::signals::stop_requested`]), waiting at most `wait` at a time so that a stop
    /// asked while the input is quiet is seen. `step` gets a [`Step::Tick`] before each wait and
    /// the frames of each read; its error ends the loop. A partial frame at the end of input is
    /// reported; at a stop it is left to the caller.
    pub fn pump(
        &mut self,
        tool: &str,
        frames: usize,
        wait: Duration,
        mut step: impl FnMut(Step<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut buf = vec![0u8; frames * self.frame_bytes];
        while !crate::signals::stop_requested() {
            step(Step::Tick)?;
            match self.wait_and_read(&mut buf, Some(wait))? {
                Got::Frames(n) => step(Step::Frames(&buf[..n]))?,
                Got::Idle => {}
                Got::End => {
                    self.report_partial(tool, "at the end of input");
                    break;
                }
            }
        }
        Ok(())
    }

    /// Hands `put` the whole frames the input holds right now (at most 64 reads), never waiting
    /// for more: it reads only while the bytes waiting complete a frame, so even a blocking stdin
    /// cannot hold it. For a stop: read errors end the drain silently.
    pub fn drain(&mut self, buf: &mut [u8], mut put: impl FnMut(&[u8])) {
        for _ in 0..64 {
            let waiting = bytes_waiting(self.fd());
            if waiting + self.reader.partial_bytes() < self.frame_bytes {
                return;
            }
            match self.reader.read_frames(buf) {
                Ok(n) if n > 0 => put(&buf[..n]),
                _ => return,
            }
        }
    }

    /// Enlarges the input's pipe buffer (when it is a pipe) to [`wanted_pipe_size`] and says what
    /// was granted; `None` when the input is not a pipe.
    pub fn grow_pipe(&self, tool: &str) -> Option<usize> {
        let want = wanted_pipe_size();
        let granted = grow_pipe(self.fd(), want)?;
        vlog!(tool, "{}: pipe buffer {granted} bytes (asked for {want})", self.name);
        Some(granted)
    }

    /// Bytes of an incomplete frame held back; after [`Got::End`] they are discarded.
    pub fn partial_bytes(&self) -> usize {
        self.reader.partial_bytes()
    }

    /// Logs the partial frame held back, if any, as discarded; `when` says at what point
    /// (`at the end of input`, `at the writer's end`, `at the stop`).
    pub fn report_partial(&self, tool: &str, when: &str) {
        report_partial(tool, &self.name, self.partial_bytes(), self.frame_bytes, when);
    }
}

/// The one wording of input that ends inside a frame: `NAME: input ended mid-frame WHEN: discarded
/// N bytes of a partial F-byte frame`. Says nothing when `partial` is 0.
pub fn report_partial(tool: &str, name: &str, partial: usize, frame_bytes: usize, when: &str) {
    if partial > 0 {
        vlog!(
            tool,
            "{name}: input ended mid-frame {when}: discarded {partial} bytes of a partial {frame_bytes}-byte frame"
        );
    }
}

/// Opens `path` for reading without blocking, creating a FIFO (mode 0600) when it is missing.
/// Returns the file and, when it is a FIFO, its path (to reopen it).
fn open_path(path: &Path, tool: &str) -> anyhow::Result<(File, Option<PathBuf>)> {
    let name = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::fifo::create(path, 0o600).with_context(|| format!("{name}: mkfifo"))?;
            vlog!(tool, "{name}: created FIFO (mode 0600)");
        }
        Err(e) => return Err(e).with_context(|| format!("{name}: stat")),
        Ok(_) => {}
    }
    // Non-blocking: opening a FIFO without a writer succeeds at once, and poll waits for one.
    // O_NOATIME where allowed (our own FIFO): on a disk filesystem every read would otherwise
    // dirty the FIFO's inode.
    let open = |extra: libc::c_int| {
        OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | extra).open(path)
    };
    let file = match open(libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
        other => other,
    }
    .with_context(|| format!("{name}: open"))?;
    let is_fifo = file.metadata().with_context(|| format!("{name}: stat"))?.file_type().is_fifo();
    Ok((file, is_fifo.then(|| path.to_path_buf())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn batch(s: &str) -> Result<Batch, UsageError> {
        Batch::new(&BatchArg { batch: s.parse().unwrap() }, 48_000)
    }

    #[test]
    fn batch_pauses_only_after_a_short_read_and_refuses_more_than_a_second() {
        let b = batch("200ms").unwrap();
        assert_eq!(b.after_read(100, 4096), Some(Duration::from_millis(200)));
        assert_eq!(b.after_read(4096, 4096), None);
        assert_eq!(batch("0s").unwrap().after_read(1, 4096), None);
        assert!(batch("1s").is_ok());
        assert!(batch("1001ms").unwrap_err().to_string().contains("--batch 1001ms"));
    }

    #[test]
    fn batch_fits_a_quarter_of_the_pipe() {
        let spec = PcmSpec::default(); // 192,000 bytes a second
        let mut b = batch("1s").unwrap();
        b.fit_pipe(1 << 20, &spec, "test", "stdin");
        assert_eq!(b.interval, Duration::from_secs(1));
        b.fit_pipe(65_536, &spec, "test", "stdin");
        assert_eq!(b.interval, Duration::from_micros(16_384 * 1_000_000 / 192_000));
    }

    #[test]
    fn pump_ticks_before_each_wait_hands_out_whole_frames_and_stops_at_the_end_or_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pcm");
        std::fs::write(&path, [7u8; 42]).unwrap(); // 10 frames of 4 bytes and half a frame
        let mut input = PcmInput::open(Some(&path), 4, "test").unwrap();
        let (mut ticks, mut reads) = (0, Vec::new());
        input
            .pump("test", 4, Duration::from_millis(10), |step| {
                match step {
                    Step::Tick => ticks += 1,
                    Step::Frames(pcm) => reads.push(pcm.len()),
                }
                Ok(())
            })
            .unwrap();
        assert_eq!((ticks, reads), (4, vec![16, 16, 8]), "the half frame is held back");
        let mut input = PcmInput::open(Some(&path), 4, "test").unwrap();
        let mut steps = 0;
        let err = input
            .pump("test", 4, Duration::from_millis(10), |step| {
                steps += 1;
                match step {
                    Step::Tick => Ok(()),
                    Step::Frames(_) => anyhow::bail!("encoder failed"),
                }
            })
            .unwrap_err();
        assert_eq!(
            (err.to_string(), steps),
            ("encoder failed".to_string(), 2),
            "the first read's error ends it"
        );
    }

    #[test]
    fn a_pipe_reports_bytes_waiting_readiness_and_growth() {
        let (r, mut w) = std::io::pipe().unwrap();
        assert!(!wait_readable(r.as_fd(), Some(Duration::from_millis(1))).unwrap());
        w.write_all(&[0; 10]).unwrap();
        assert!(wait_readable(r.as_fd(), Some(Duration::ZERO)).unwrap());
        assert_eq!(bytes_waiting(r.as_fd()), 10);
        assert!(grow_pipe(r.as_fd(), 1 << 16).is_some_and(|n| n >= 1 << 16));
        let f = tempfile::tempfile().unwrap();
        assert_eq!(grow_pipe(f.as_fd(), 1 << 16), None, "a file is not a pipe");
    }

    #[test]
    fn a_fifo_input_drains_whole_frames_and_reopens_for_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.fifo");
        let mut input = PcmInput::open(Some(&path), 4, "test").unwrap();
        assert!(!input.wait(Some(Duration::from_millis(1))).unwrap(), "no writer yet");
        let mut w = OpenOptions::new().write(true).open(&path).unwrap();
        w.write_all(&[7; 42]).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        input.drain(&mut buf, |f| got.extend_from_slice(f));
        assert_eq!((got.len(), input.partial_bytes()), (40, 2), "whole frames only, the rest held back");
        drop(w);
        assert_eq!(input.wait_and_read(&mut buf, None).unwrap(), Got::End);
        assert_eq!(input.partial_bytes(), 2, "reported by the caller, then discarded");
        assert!(input.reopen("test").unwrap());
        assert_eq!(input.partial_bytes(), 0);
        let mut w = OpenOptions::new().write(true).open(&path).unwrap();
        w.write_all(&[1; 8]).unwrap();
        assert_eq!(input.wait_and_read(&mut buf, Some(Duration::from_secs(5))).unwrap(), Got::Frames(8));
    }
}
