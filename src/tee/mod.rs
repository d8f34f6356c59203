//! `vinyl-tee`: raw PCM from stdin fanned out to FIFOs, files and stdout, never blocking the input.
//!
//! Owns the loop that keeps the capture flowing: one thread, one `poll(2)` over stdin and every
//! attached output. Input is read in whole frames ([`FrameReader`]) as soon as it arrives and
//! offered to each output; an output takes what its pipe has room for right now and the rest goes
//! to its own bounded queue ([`queue`]), flushed when poll says the pipe has room again. Nothing
//! ever waits on an output, so one thread is enough and nothing needs locking. The life cycle of
//! an output (FIFO without reader, reader gone, error policy) lives in [`output`]; the flags in
//! [`cli`].
//!
//! Failure behaviour: setup problems (a path that is a directory or socket: exit 2; a file that
//! cannot be opened, a FIFO that cannot be created: exit 1) stop the tool before it reads
//! anything. At run time, a reader leaving is never an error; a write error on a file follows
//! `--output-error`; a read error on stdin exits 1 after the drain. Counters are printed at exit
//! and on SIGUSR1, one line per output.

mod cli;
mod output;
mod queue;

pub use cli::{Opts, OutputErrorPolicy};

use crate::cli::{ExitStatusError, UsageError};
use crate::log::StateLog;
use crate::notify::Notifier;
use crate::pcm::{DurationArg, FrameReader, PcmSpec};
use crate::{signals, vlog};
use anyhow::anyhow;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::SFlag;
use output::{Output, State};
use queue::FrameQueue;
use std::collections::HashSet;
use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOOL: &str = "vinyl-tee";

/// Bytes asked of stdin per read: big enough to amortise the system calls when the input comes
/// in fast (a file, a backlog), small enough to stay in the CPU cache while it is written out to
/// every output. At the real rate a read returns whatever the capture wrote, usually far less.
const CHUNK_BYTES: usize = 128 * 1024;

/// Longest sleep in poll, so SIGUSR1, the watchdog and the status keep being served.
const MAX_WAIT: Duration = Duration::from_millis(250);

/// How often the systemd STATUS line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Largest queue accepted per output.
const MAX_QUEUE_BYTES: u64 = 1 << 30;

/// What an OUTPUT path turned out to be at startup.
enum Plan {
    Create(PathBuf),
    Fifo(PathBuf),
    File(PathBuf),
}

/// Looks at every OUTPUT before touching any: refuses kinds that cannot take a stream (exit 2)
/// and the same output named twice.
fn plan_outputs(paths: &[PathBuf]) -> anyhow::Result<Vec<Plan>> {
    let mut names = HashSet::new();
    let mut inodes = HashSet::new();
    let mut plans = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        if !names.insert(path.clone()) {
            return Err(UsageError::new(format!("{name}: named twice; give each OUTPUT once")).into());
        }
        match nix::sys::stat::stat(path) {
            Err(Errno::ENOENT) => plans.push(Plan::Create(path.clone())),
            Err(e) => return Err(anyhow!("{name}: stat: {}", e.desc())),
            Ok(st) => {
                if !inodes.insert((st.st_dev, st.st_ino)) {
                    return Err(UsageError::new(format!("{name}: the same file as another OUTPUT")).into());
                }
                let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
                let refuse = |what: &str| -> anyhow::Error {
                    UsageError::new(format!(
                        "{name}: is {what}; give a FIFO (or a path to create one), a regular file or a character device"
                    ))
                    .into()
                };
                match fmt {
                    SFlag::S_IFIFO => plans.push(Plan::Fifo(path.clone())),
                    SFlag::S_IFREG | SFlag::S_IFCHR => plans.push(Plan::File(path.clone())),
                    SFlag::S_IFDIR => return Err(refuse("a directory")),
                    SFlag::S_IFSOCK => return Err(refuse("a socket")),
                    SFlag::S_IFBLK => return Err(refuse("a block device")),
                    _ => return Err(refuse("of an unsupported type")),
                }
            }
        }
    }
    Ok(plans)
}

/// The running tee: its outputs, its log and its counters.
struct Tee {
    spec: PcmSpec,
    outputs: Vec<Output>,
    log: StateLog,
    policy: OutputErrorPolicy,
    mode: u32,
    pipe_want: usize,
    notifier: Notifier,
    read_bytes: u64,
    next_status: Instant,
}

impl Tee {
    fn report(&self) {
        let frames = self.read_bytes / self.spec.frame_bytes() as u64;
        vlog!(TOOL, "stdin: {} bytes read, {}", self.read_bytes, self.spec.describe_frames(frames));
        for o in &self.outputs {
            vlog!(TOOL, "{}", o.report());
        }
    }

    fn status(&mut self, now: Instant) {
        self.notifier.watchdog();
        if !self.notifier.enabled() || now < self.next_status {
            return;
        }
        self.next_status = now + STATUS_EVERY;
        let frames = self.read_bytes / self.spec.frame_bytes() as u64;
        let attached = self.outputs.iter().filter(|o| o.state == State::Attached).count();
        let dropped: u64 = self.outputs.iter().map(|o| o.dropped).sum();
        let status = format!(
            "read {}; {attached}/{} outputs attached; {dropped} frames dropped",
            crate::pcm::format_frames(frames, self.spec.rate),
            self.outputs.len()
        );
        self.notifier.status(&status);
    }

    /// Polls the outputs in `want` (indices) plus stdin if given, for at most `wait`, then serves
    /// the outputs poll woke up. Returns whether stdin is readable.
    fn poll_once(
        &mut self,
        stdin: Option<&File>,
        want: &[usize],
        wait: Duration,
        revents: &mut Vec<PollFlags>,
    ) -> anyhow::Result<bool> {
        revents.clear();
        {
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(want.len() + 1);
            for &i in want {
                let o = &self.outputs[i];
                let events = if o.has_backlog() { PollFlags::POLLOUT } else { PollFlags::empty() };
                if let Some(fd) = o.fd() {
                    fds.push(PollFd::new(fd, events));
                }
            }
            if let Some(stdin) = stdin {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) => {}
                Err(Errno::EINTR) => return Ok(false),
                Err(e) => return Err(anyhow!("poll: {}", e.desc())),
            }
            revents.extend(fds.iter().map(|p| p.revents().unwrap_or(PollFlags::empty())));
        }
        for (k, &i) in want.iter().enumerate() {
            let rev = revents[k];
            let o = &mut self.outputs[i];
            if rev.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) && o.pipe_like() {
                o.reader_gone(Instant::now(), &mut self.log);
            } else if rev.intersects(PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP) {
                o.flush(self.policy, &mut self.log)?;
            }
        }
        Ok(stdin.is_some() && revents.last().is_some_and(|r| !r.is_empty()))
    }

    /// Outputs worth polling: attached pipes (poll reports their reader leaving even with nothing
    /// to write) and any attached output with a backlog.
    fn pollable(&self, want: &mut Vec<usize>) {
        want.clear();
        for (i, o) in self.outputs.iter().enumerate() {
            if o.state == State::Attached && (o.pipe_like() || o.has_backlog()) {
                want.push(i);
            }
        }
    }

    /// Reads stdin and fans it out until end of input, a stop signal, or no output left alive.
    /// Returns true at end of input.
    fn pump(&mut self, stdin: &File, reader: &mut FrameReader<File>) -> anyhow::Result<bool> {
        let fb = self.spec.frame_bytes();
        let mut buf = vec![0u8; (CHUNK_BYTES / fb).max(1) * fb];
        let mut want = Vec::new();
        let mut revents = Vec::new();
        loop {
            if signals::stop_requested() {
                return Ok(false);
            }
            if signals::take_report_request() {
                self.report();
            }
            let now = Instant::now();
            let mut wait = MAX_WAIT;
            for o in &mut self.outputs {
                o.try_open(now, self.mode, self.pipe_want, &mut self.log);
                if o.state == State::Waiting {
                    wait = wait.min(o.next_retry.saturating_duration_since(now));
                }
            }
            if !self.outputs.iter().any(Output::alive) {
                vlog!(TOOL, "no output left that could take data; stopping");
                return Ok(false);
            }
            self.status(now);
            self.pollable(&mut want);
            if !self.poll_once(Some(stdin), &want, wait, &mut revents)? {
                continue;
            }
            let n = match reader.read_frames(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => continue,
                Err(e) => return Err(anyhow!("stdin: read: {e}")),
            };
            self.read_bytes += n as u64;
            for o in &mut self.outputs {
                if o.state == State::Attached {
                    o.offer(&buf[..n], self.policy, &mut self.log)?;
                }
            }
        }
    }

    /// Gives readers still present up to `timeout` to take their queues, then drops the rest.
    fn drain(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut want = Vec::new();
        let mut revents = Vec::new();
        loop {
            if signals::take_report_request() {
                self.report();
            }
            want.clear();
            want.extend(
                (0..self.outputs.len())
                    .filter(|&i| self.outputs[i].state == State::Attached && self.outputs[i].has_backlog()),
            );
            if want.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                for &i in &want {
                    let o = &mut self.outputs[i];
                    let (frames, cut) = o.abandon_backlog();
                    let cut = if cut { "; its reader was left with part of a frame" } else { "" };
                    self.log
                        .change(&o.name, &format!("drain timed out, {frames} queued frames dropped{cut}"));
                }
                return Ok(());
            }
            self.status(now);
            self.poll_once(None, &want, (deadline - now).min(MAX_WAIT), &mut revents)?;
        }
    }
}

/// Runs `vinyl-tee` until its input ends or it is told to stop.
pub fn run(opts: Opts) -> anyhow::Result<()> {
    signals::install()?;
    let spec = opts.pcm.spec();
    let fb = spec.frame_bytes();
    let queue_frames = opts.queue.frames(spec.rate);
    if spec.frames_to_bytes(queue_frames) > MAX_QUEUE_BYTES {
        return Err(UsageError::new(format!(
            "--queue {}: more than 1 GiB per output at {spec}; give a shorter queue, e.g. 2s or 30s",
            opts.queue
        ))
        .into());
    }
    let drain = match opts.drain_timeout {
        DurationArg::Millis(ms) => Duration::from_millis(ms),
        DurationArg::Frames(f) => Duration::from_micros(f.saturating_mul(1_000_000) / spec.rate as u64),
    };
    let plans = plan_outputs(&opts.outputs)?;
    let queue = || FrameQueue::new(fb, queue_frames as usize);

    let mut log = StateLog::new(TOOL);
    let pipe_want = output::wanted_pipe_size();
    let mut outputs = Vec::new();
    if opts.stdout {
        outputs.push(Output::stdout(queue(), pipe_want, &mut log)?);
    }
    for plan in plans {
        match plan {
            Plan::Create(path) => {
                output::make_fifo(&path, opts.mode)
                    .map_err(|e| anyhow!("{}: mkfifo: {}", path.display(), e.desc()))?;
                vlog!(TOOL, "{}: created FIFO (mode {:04o})", path.display(), opts.mode);
                outputs.push(Output::fifo(path, queue()));
            }
            Plan::Fifo(path) => outputs.push(Output::fifo(path, queue())),
            Plan::File(path) => outputs.push(Output::file(path, queue())?),
        }
    }

    let stdin =
        File::from(std::io::stdin().as_fd().try_clone_to_owned().map_err(|e| anyhow!("stdin: dup: {e}"))?);
    if nix::sys::stat::fstat(&stdin)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO)
        && let Some(granted) = output::grow_pipe(stdin.as_fd(), pipe_want)
    {
        vlog!(TOOL, "stdin: pipe buffer {granted} bytes (asked for {pipe_want})");
    }
    let mut reader = FrameReader::new(stdin.try_clone().map_err(|e| anyhow!("stdin: dup: {e}"))?, fb);

    let mut tee = Tee {
        spec,
        outputs,
        log,
        policy: opts.output_error,
        mode: opts.mode,
        pipe_want,
        notifier: Notifier::from_env(),
        read_bytes: 0,
        next_status: Instant::now(),
    };
    tee.notifier.ready();

    let mut result = tee.pump(&stdin, &mut reader);
    if let Ok(eof) = result {
        if eof && reader.partial_bytes() > 0 {
            vlog!(
                TOOL,
                "stdin: input ended mid-frame: {} bytes of an incomplete frame discarded (frames are {fb} bytes)",
                reader.partial_bytes()
            );
        }
        if let Some(sig) = signals::stop_signal_name() {
            vlog!(TOOL, "{sig}: stopping after a drain of at most {}", opts.drain_timeout);
        }
        tee.notifier.stopping();
        result = tee.drain(drain).map(|()| eof);
    } else {
        tee.notifier.stopping();
    }
    tee.report();
    result?;
    let failed = tee.outputs.iter().filter(|o| o.state == State::Failed).count();
    if failed > 0 {
        return Err(ExitStatusError {
            status: crate::cli::EXIT_FAILURE,
            message: format!("{failed} output(s) failed during the run (see above)"),
        }
        .into());
    }
    Ok(())
}
