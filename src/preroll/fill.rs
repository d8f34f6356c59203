//! `vinyl-preroll fill`: the ring's one writer.
//!
//! Owns the input side: stdin (its end ends the tool, exit 0) or a FIFO opened without blocking
//! and polled, so a FIFO without a writer, SIGTERM and the systemd watchdog are all noticed; when
//! the FIFO's writer leaves it is reopened and frame numbering continues. Input is read in whole
//! frames ([`FrameReader`]); a partial frame at a writer's disconnect is reported and discarded.
//! The ring's creation, takeover and publication are [`RingWriter`]'s. Fails (exit 1) when the
//! ring cannot be opened for writing or the input cannot be read.

use super::TOOL;
use super::cli::FillOpts;
use crate::cli::UsageError;
use crate::log::StateLog;
use crate::notify::Notifier;
use crate::pcm::FrameReader;
use crate::ring::{Config, Opened, RingWriter};
use crate::{signals, vlog};
use anyhow::{Context as _, bail};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// Largest ring accepted: 24 hours at the given rate (a sanity bound, ~16 GiB at 48 kHz stereo).
const MAX_CAPACITY_SECONDS: u64 = 24 * 3600;

/// Runs `fill` until stdin ends or SIGTERM/SIGINT/SIGHUP.
pub fn run(o: FillOpts) -> anyhow::Result<()> {
    let spec = o.pcm.spec();
    let capacity = o.capacity.frames(spec.rate);
    if capacity == 0 {
        return Err(UsageError::new("--capacity must be more than 0 frames, e.g. 30s or 30m").into());
    }
    if capacity > MAX_CAPACITY_SECONDS * spec.rate as u64 {
        return Err(UsageError::new(format!(
            "--capacity {} is more than the 24h this tool accepts",
            o.capacity
        ))
        .into());
    }
    signals::install()?;
    let cfg = Config::new(spec, capacity);
    let (mut writer, opened) = RingWriter::open(&o.ring, cfg)?;
    log_opened(&writer, &opened);
    let mut notifier = Notifier::from_env();
    notifier.ready();
    notifier.status(&format!("ring ready, generation {}", writer.generation()));

    let (file, mut input) = Input::open(o.input.as_deref())?;
    let fb = spec.frame_bytes();
    // Reads of up to 128 KiB (32768 frames of s16le stereo, 0.68 s), whole frames.
    let mut buf = vec![0u8; (131_072 / fb).max(1) * fb];
    let mut batch = batch_interval(&file, o.batch.frames(spec.rate), &spec, &input.name);
    let mut reader = FrameReader::new(file, fb);
    let mut states = StateLog::new(TOOL);
    let poll_ms: i32 = if notifier.enabled() { 250 } else { -1 };
    // After a batching sleep, read without polling first when a read cannot block for long:
    // our FIFO is non-blocking, and a blocking stdin only matters with a watchdog to feed.
    let may_skip_poll = o.input.is_some() || !notifier.enabled();
    let mut skip_poll = false;
    loop {
        if signals::stop_requested() {
            // Frames already waiting in the pipe were captured before the stop: keep them.
            drain(&mut reader, &mut buf, &mut writer);
            let why = signals::stop_signal_name().unwrap_or("a stop request");
            vlog!(TOOL, "{}: stopping on {why} at frame {}", o.ring.display(), writer.head());
            let partial = reader.partial_bytes();
            if partial > 0 {
                vlog!(TOOL, "{}: discarded a partial frame of {partial} bytes at the stop", input.name);
            }
            notifier.stopping();
            return Ok(());
        }
        notifier.watchdog();
        if !std::mem::take(&mut skip_poll)
            && !readable(reader.get_mut(), poll_ms).with_context(|| format!("{}: poll", input.name))?
        {
            continue;
        }
        match reader.read_frames(&mut buf) {
            Ok(0) => {
                let partial = reader.partial_bytes();
                if partial > 0 {
                    vlog!(
                        TOOL,
                        "{}: discarded a partial frame of {partial} bytes (of {fb}) at the writer's end",
                        input.name
                    );
                }
                let Some(fifo) = input.fifo.clone() else {
                    vlog!(TOOL, "{}: end of input at frame {}", input.name, writer.head());
                    return Ok(());
                };
                states.change(
                    &input.name,
                    &format!("writer left at frame {}; waiting for a new one", writer.head()),
                );
                notifier.status("input writer left; waiting for a new one");
                let (file, reopened) = Input::open(Some(&fifo))?;
                input = reopened;
                batch = batch_interval(&file, o.batch.frames(spec.rate), &spec, &input.name);
                reader.reset(file);
            }
            Ok(n) => {
                writer.write(&buf[..n]);
                if states.change(&input.name, "receiving") {
                    notifier.status(&format!("filling, generation {}", writer.generation()));
                }
                // A short read means the input is live, not backlogged: let the next frames
                // gather in the pipe instead of waking up for every period the capture writes.
                if n < buf.len() && !batch.is_zero() {
                    std::thread::sleep(batch);
                    skip_poll = may_skip_poll;
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {}
            Err(e) => bail!("{}: read: {e}", input.name),
        }
    }
}

fn log_opened(w: &RingWriter, opened: &Opened) {
    let cfg = w.config();
    let ring = w.path().display();
    let slack = cfg.spec.describe_frames(cfg.slot_frames - cfg.capacity_frames);
    let mib = cfg.file_bytes() as f64 / (1024.0 * 1024.0);
    let what = format!("{} + {slack} slack, {mib:.1} MiB", cfg.describe());
    match opened {
        Opened::Created => vlog!(TOOL, "{ring}: created ring: {what}; writer generation {}", w.generation()),
        Opened::TookOver { previous_generation, previous_head } => vlog!(
            TOOL,
            "{ring}: took over ring ({what}) as writer generation {} (generation {previous_generation} had \
             written {previous_head} frames; numbering restarts at 0)",
            w.generation()
        ),
        Opened::Replaced { previous } => vlog!(
            TOOL,
            "{ring}: replaced a ring of {} (no writer) with a new one: {what}; writer generation {}",
            previous.describe(),
            w.generation()
        ),
    }
}

/// The input being read: stdin, a FIFO (reopened when its writer leaves) or another file.
struct Input {
    name: String,
    fifo: Option<PathBuf>,
}

impl Input {
    fn open(path: Option<&Path>) -> anyhow::Result<(File, Input)> {
        let Some(path) = path else {
            let fd = std::os::fd::AsFd::as_fd(&io::stdin()).try_clone_to_owned().context("stdin: dup")?;
            return Ok((File::from(fd), Input { name: "stdin".into(), fifo: None }));
        };
        let name = path.display().to_string();
        match std::fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .with_context(|| format!("{name}: mkfifo"))?;
                vlog!(TOOL, "{name}: created FIFO (mode 0600)");
            }
            Err(e) => return Err(e).with_context(|| format!("{name}: stat")),
            Ok(_) => {}
        }
        // Non-blocking: opening a FIFO without a writer succeeds at once, and poll waits for one.
        // O_NOATIME where allowed (our own FIFO): on a disk filesystem every read would
        // otherwise dirty the FIFO's inode.
        let open = |extra: libc::c_int| {
            OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | extra).open(path)
        };
        let file = match open(libc::O_NOATIME) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
            other => other,
        }
        .with_context(|| format!("{name}: open"))?;
        let is_fifo = file.metadata().with_context(|| format!("{name}: stat"))?.file_type().is_fifo();
        Ok((file, Input { name, fifo: is_fifo.then(|| path.to_path_buf()) }))
    }
}

/// Writes into the ring the whole frames the input holds right now (at most 64 reads), never
/// waiting for more: it reads only while the bytes waiting (`FIONREAD`) complete a frame, so even
/// a blocking stdin cannot hold it. Read errors end the drain silently: the stop is under way.
fn drain(reader: &mut FrameReader<File>, buf: &mut [u8], writer: &mut RingWriter) {
    let fb = writer.config().spec.frame_bytes();
    for _ in 0..64 {
        let mut waiting: libc::c_int = 0;
        // SAFETY: FIONREAD stores one int through the valid pointer.
        let r = unsafe { libc::ioctl(reader.get_mut().as_raw_fd(), libc::FIONREAD, &mut waiting) };
        if r < 0 || (waiting.max(0) as usize) + reader.partial_bytes() < fb {
            return;
        }
        match reader.read_frames(buf) {
            Ok(n) if n > 0 => writer.write(&buf[..n]),
            _ => return,
        }
    }
}

/// Enlarges the input pipe (when it is one) as far as the system allows, and returns how long
/// to let input gather between reads: `wanted` frames, but no more than a quarter of what the
/// pipe holds, so the writer upstream never finds it full because of the batching.
fn batch_interval(file: &File, wanted: u64, spec: &crate::pcm::PcmSpec, name: &str) -> std::time::Duration {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; F_GETPIPE_SZ/F_SETPIPE_SZ fail harmlessly with
    // EBADF/EINVAL on anything but a pipe.
    let pipe_bytes = unsafe {
        let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse::<libc::c_int>().ok())
            .unwrap_or(1 << 20);
        let now = libc::fcntl(fd, libc::F_GETPIPE_SZ);
        if now < 0 {
            return frames_to_duration(wanted, spec.rate); // not a pipe: nothing upstream to block
        }
        if now < max && libc::fcntl(fd, libc::F_SETPIPE_SZ, max) < 0 {
            vlog!(TOOL, "{name}: could not enlarge the pipe to {max} bytes: {}", io::Error::last_os_error());
        }
        libc::fcntl(fd, libc::F_GETPIPE_SZ).max(now) as u64
    };
    let limit = pipe_bytes / 4 / spec.frame_bytes() as u64;
    frames_to_duration(wanted.min(limit), spec.rate)
}

fn frames_to_duration(frames: u64, rate: u32) -> std::time::Duration {
    std::time::Duration::from_nanos((frames as u128 * 1_000_000_000 / rate.max(1) as u128) as u64)
}

/// Waits up to `timeout_ms` (-1: forever) for `file` to be readable or hung up. False on
/// timeout or signal.
fn readable(file: &File, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(e) };
    }
    Ok(n > 0)
}
