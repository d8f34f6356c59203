//! `vinyl-tee`: raw PCM from stdin fanned out to FIFOs, files and stdout, never blocking the input.
//!
//! Owns the loop that keeps the capture flowing: one thread, one `poll(2)` over stdin and every
//! attached output. Whole frames are taken from stdin as they arrive (`input.rs`, which uses
//! `tee(2)`/`splice(2)` to avoid copies) and offered to each output; an output takes what its pipe
//! has room for right now and the rest goes to its own bounded queue (`queue.rs`), flushed when
//! poll says the pipe has room again. Nothing ever waits on an output, so one thread is enough
//! and nothing needs locking. The life cycle of an output (FIFO without reader, reader gone, error
//! policy) lives in `output.rs`; the flags in `cli.rs`.
//!
//! Why one thread rather than a thread per output: a thread per output still needs a bounded
//! queue per output and a lock or channel between reader and writers, and it costs a wake-up per
//! output per buffer either way; with non-blocking descriptors and poll the same bounded queues
//! need no synchronisation, and the cost at the real rate is set by how often the loop wakes,
//! which `--batch` bounds (one wake-up per 200 ms by default instead of one per capture
//! period).
//!
//! Failure behaviour: setup problems (a path that is a directory, socket or symbolic link, or a
//! missing path under /dev: exit 2; a file that cannot be opened, a FIFO that cannot be created:
//! exit 1) stop the tool before it reads anything. At run time, a reader leaving is never an error; a write error on a file follows
//! `--output-error`; a read error on stdin exits 1 after the drain. Counters are printed at exit
//! and on SIGUSR1, one line per output.

mod cli;
mod input;
mod output;
mod queue;

pub use cli::{Opts, OutputErrorPolicy};

use crate::cli::{ExitStatusError, UsageError};
use crate::input::{Batch, Got, wanted_pipe_size};
use crate::log::StateLog;
use crate::notify::Notifier;
use crate::pcm::PcmSpec;
use crate::{signals, vlog};
use anyhow::anyhow;
use input::Input;
use nix::errno::Errno;
use nix::sys::stat::SFlag;
use output::{Output, State};
use queue::FrameQueue;
use rustix::event::{PollFd, PollFlags};
use std::collections::HashSet;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOOL: &str = "vinyl-tee";

/// Bytes asked of stdin per read: big enough to amortise the system calls when the input comes
/// in fast (a file, a backlog), small enough to stay in the CPU cache while it is written out to
/// every output. At the real rate a read returns whatever the capture wrote, usually far less.
const CHUNK_BYTES: usize = 128 * 1024;

/// Longest sleep in poll when the watchdog does not ask for less: signals interrupt poll at once,
/// so this only paces the status line. Every wake-up costs CPU (some 50 µs in a VM), so it is long.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// The longest poll sleep that still lets the watchdog be petted in time: half the notifier's
/// interval (a quarter of `WATCHDOG_USEC`), at most [`MAX_WAIT`].
fn max_wait(notifier: &Notifier) -> Duration {
    notifier
        .watchdog_interval()
        .map_or(MAX_WAIT, |every| (every / 2).clamp(Duration::from_millis(1), MAX_WAIT))
}

/// How often the systemd STATUS line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// How [`Tee::pump`] ended.
enum End {
    /// stdin reached its end.
    Eof,
    /// SIGTERM, SIGINT or SIGHUP.
    Stopped,
    /// Every output is closed for good (stdout gone, files failed).
    NoOutputLeft,
    /// stdin could not be read: exit 1 after the drain.
    ReadError(anyhow::Error),
}

/// Largest queue accepted per output.
const MAX_QUEUE_BYTES: u64 = 1 << 30;

/// What an OUTPUT path turned out to be at startup.
enum Plan {
    Create(PathBuf),
    Fifo(PathBuf),
    File(PathBuf),
}

/// Looks at every OUTPUT before touching any: refuses kinds that cannot take a stream, a symbolic
/// link (it is never followed, as the ring's is not), a missing path in a device folder (see
/// [`output::in_device_folder`]) and the same output named twice (all exit 2).
fn plan_outputs(paths: &[PathBuf]) -> anyhow::Result<Vec<Plan>> {
    let mut names = HashSet::new();
    let mut inodes = HashSet::new();
    let mut plans = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        if !names.insert(path.clone()) {
            return Err(UsageError::new(format!("{name}: named twice; give each OUTPUT once")).into());
        }
        match nix::sys::stat::lstat(path) {
            Err(Errno::ENOENT) if output::in_device_folder(path) => {
                return Err(UsageError::new(format!(
                    "{name}: does not exist, and no FIFO is created under /dev (a mistyped device name?); \
                     give an existing device, or a FIFO path elsewhere, e.g. /run/vinyl/NAME.fifo"
                ))
                .into());
            }
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
                    SFlag::S_IFLNK => {
                        return Err(refuse("a symbolic link, which is not followed (name its target)"));
                    }
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
    max_wait: Duration,
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
        stdin: Option<BorrowedFd<'_>>,
        want: &mut Vec<usize>,
        wait: Duration,
        revents: &mut Vec<PollFlags>,
    ) -> anyhow::Result<bool> {
        revents.clear();
        // Only attached outputs have a descriptor; `revents[k]` must line up with `want[k]`.
        want.retain(|&i| self.outputs[i].fd().is_some());
        {
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(want.len() + 1);
            for &i in want.iter() {
                let o = &self.outputs[i];
                let events = if o.has_backlog() { PollFlags::OUT } else { PollFlags::empty() };
                if let Some(fd) = o.fd() {
                    fds.push(PollFd::from_borrowed_fd(fd, events));
                }
            }
            if let Some(stdin) = stdin {
                fds.push(PollFd::from_borrowed_fd(stdin, PollFlags::IN));
            }
            if crate::input::wait(&mut fds, Some(wait)).map_err(|e| anyhow!("poll: {e}"))? == 0 {
                return Ok(false);
            }
            revents.extend(fds.iter().map(PollFd::revents));
        }
        for (k, &i) in want.iter().enumerate() {
            let rev = revents[k];
            let o = &mut self.outputs[i];
            if rev.intersects(PollFlags::ERR | PollFlags::HUP) && o.pipe_like() {
                o.reader_gone(Instant::now(), &mut self.log);
            } else if rev.intersects(PollFlags::OUT | PollFlags::ERR | PollFlags::HUP) {
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

    /// Reads stdin and fans it out until end of input, a stop signal, no output left alive, or a
    /// read error. After a short read (input arriving at its real rate) stdin is left alone for
    /// the `batch` interval, so that each wake-up passes on several of the capture's periods at
    /// once; the input's pipe buffer holds them meanwhile. Outputs are served all the same.
    fn pump(&mut self, input: &mut Input, batch: Batch) -> anyhow::Result<End> {
        let mut want = Vec::new();
        let mut revents = Vec::new();
        let mut quiet_until = Instant::now();
        loop {
            if signals::stop_requested() {
                return Ok(End::Stopped);
            }
            if signals::take_report_request() {
                self.report();
            }
            let now = Instant::now();
            let mut wait = self.max_wait;
            for o in &mut self.outputs {
                o.try_open(now, self.mode, self.pipe_want, &mut self.log);
                if o.state == State::Waiting {
                    wait = wait.min(o.next_retry.saturating_duration_since(now));
                }
            }
            if !self.outputs.iter().any(Output::alive) {
                vlog!(TOOL, "no output left that could take data; stopping");
                return Ok(End::NoOutputLeft);
            }
            self.status(now);
            self.pollable(&mut want);
            let watch_stdin = now >= quiet_until;
            if !watch_stdin {
                wait = wait.min(quiet_until - now);
            }
            if !self.poll_once(watch_stdin.then_some(input.fd()), &mut want, wait, &mut revents)? {
                continue;
            }
            let n = match input.fan_out(&mut self.outputs, self.policy, &mut self.log)? {
                Ok(Got::Frames(n)) => n,
                Ok(Got::Idle) => continue,
                Ok(Got::End) => return Ok(End::Eof),
                Err(e) => return Ok(End::ReadError(e)),
            };
            self.read_bytes += n as u64;
            let frames = (n / self.spec.frame_bytes()) as u64;
            for o in self.outputs.iter_mut().filter(|o| o.state == State::Waiting) {
                o.no_reader += frames;
            }
            if let Some(pause) = batch.after_read(n, input.chunk_bytes()) {
                quiet_until = Instant::now() + pause;
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
            self.poll_once(None, &mut want, (deadline - now).min(self.max_wait), &mut revents)?;
        }
    }
}

/// Runs `vinyl-tee` until its input ends or it is told to stop: validate, open, pump, finish.
pub fn run(opts: Opts) -> anyhow::Result<()> {
    signals::install()?;
    let (spec, mut batch, plans) = validate(&opts)?;
    let mut tee = Tee::open(&opts, spec, plans)?;
    let mut input = Input::stdin(spec.frame_bytes(), CHUNK_BYTES)?;
    if let Some(granted) = input.grow_pipe(TOOL) {
        batch.fit_pipe(granted, &spec, TOOL, "stdin");
    }
    tee.notifier.ready();
    // An `Err` here is an output failing under `--output-error exit`: no drain, exit 1 at once.
    let end = match tee.pump(&mut input, batch) {
        Ok(end) => end,
        Err(e) => {
            tee.notifier.stopping();
            tee.report();
            return Err(e);
        }
    };
    tee.finish(end, &input, &opts)
}

/// Checks the flags and looks at every OUTPUT before anything is opened.
fn validate(opts: &Opts) -> anyhow::Result<(PcmSpec, Batch, Vec<Plan>)> {
    let spec = opts.pcm.spec();
    if spec.frames_to_bytes(opts.queue.frames(spec.rate)) > MAX_QUEUE_BYTES {
        return Err(UsageError::new(format!(
            "--queue {}: more than 1 GiB per output at {spec}; give a shorter queue, e.g. 2s or 30s",
            opts.queue
        ))
        .into());
    }
    let batch = Batch::new(&opts.batch, spec.rate)?;
    Ok((spec, batch, plan_outputs(&opts.outputs)?))
}

impl Tee {
    /// Opens every output (creating missing FIFOs) and the notifier.
    fn open(opts: &Opts, spec: PcmSpec, plans: Vec<Plan>) -> anyhow::Result<Tee> {
        let queue_frames = opts.queue.frames(spec.rate) as usize;
        let queue = || FrameQueue::new(spec.frame_bytes(), queue_frames);
        let mut log = StateLog::new(TOOL);
        let pipe_want = wanted_pipe_size();
        let mut outputs = Vec::new();
        if opts.stdout {
            outputs.push(Output::stdout(queue(), pipe_want, &mut log)?);
        }
        for plan in plans {
            match plan {
                Plan::Create(path) => {
                    crate::fifo::create(&path, opts.mode)
                        .map_err(|e| anyhow!("{}: mkfifo: {}", path.display(), e.desc()))?;
                    vlog!(TOOL, "{}: created FIFO (mode {:04o})", path.display(), opts.mode);
                    outputs.push(Output::fifo(path, queue()));
                }
                Plan::Fifo(path) => outputs.push(Output::fifo(path, queue())),
                Plan::File(path) => outputs.push(Output::file(path, queue())?),
            }
        }
        let notifier = Notifier::from_env();
        Ok(Tee {
            spec,
            outputs,
            log,
            policy: opts.output_error,
            mode: opts.mode,
            pipe_want,
            max_wait: max_wait(&notifier),
            notifier,
            read_bytes: 0,
            next_status: Instant::now(),
        })
    }

    /// After the pump: reports a partial last frame, drains the queues, prints the counters and
    /// turns failed outputs and a failed read into exit 1.
    fn finish(mut self, end: End, input: &Input, opts: &Opts) -> anyhow::Result<()> {
        if matches!(end, End::Eof) {
            input.report_partial(TOOL, "at the end of input");
        }
        if let (End::Stopped, Some(sig)) = (&end, signals::stop_signal_name()) {
            vlog!(TOOL, "{sig}: stopping after a drain of at most {}", opts.drain_timeout);
        }
        self.notifier.stopping();
        let drained = self.drain(opts.drain_timeout.wall_time(self.spec.rate));
        self.report();
        drained?;
        if let End::ReadError(e) = end {
            return Err(e);
        }
        let failed = self.outputs.iter().filter(|o| o.state == State::Failed).count();
        if failed > 0 {
            return Err(ExitStatusError {
                status: crate::cli::EXIT_FAILURE,
                message: format!("{failed} output(s) failed during the run (see above)"),
            }
            .into());
        }
        Ok(())
    }
}
