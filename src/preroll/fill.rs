//! `vinyl-preroll fill`: the ring's one writer.
//!
//! Owns the fill's life: when to wait for input (forever, or briefly while a systemd watchdog
//! needs feeding), when to let live input gather (`--batch`), reopening a FIFO whose writer left
//! (frame numbering continues), and keeping the frames already in the pipe at a stop. Waiting,
//! reading whole frames, pipe growth and the partial-frame report are [`PcmInput`]'s; the ring's
//! creation, takeover and publication are [`RingWriter`]'s. Fails (exit 1) when the ring cannot
//! be opened for writing or the input cannot be read.

use super::TOOL;
use super::cli::FillOpts;
use crate::cli::UsageError;
use crate::input::{Batch, Got, PcmInput};
use crate::log::StateLog;
use crate::notify::Notifier;
use crate::ring::{Config, RingWriter};
use crate::{signals, vlog};
use std::time::Duration;

/// How long a wait for input lasts when the systemd watchdog must be fed meanwhile.
const WATCHDOG_WAIT: Duration = Duration::from_millis(250);

/// Runs `fill` until stdin ends or SIGTERM/SIGINT/SIGHUP: validate, open, pump, finish.
pub fn run(o: FillOpts) -> anyhow::Result<()> {
    let (cfg, batch) = validate(&o)?;
    signals::install()?;
    let mut fill = Fill::open(&o, cfg, batch)?;
    fill.pump()?;
    fill.finish()
}

/// Checks the flags before anything is opened: the ring's configuration and the batching.
fn validate(o: &FillOpts) -> anyhow::Result<(Config, Batch)> {
    let spec = o.pcm.spec();
    let capacity = crate::ring::layout::check_capacity(
        "--capacity",
        &o.capacity,
        o.capacity.frames(spec.rate),
        spec.rate,
    )
    .map_err(UsageError::new)?;
    Ok((Config::new(spec, capacity), Batch::new(&o.batch, spec.rate)?))
}

/// A running fill: the ring it writes, the input it reads and how it reports.
struct Fill {
    writer: RingWriter,
    input: PcmInput,
    /// Whole frames: reads of up to 128 KiB (32768 frames of s16le stereo, 0.68 s).
    buf: Vec<u8>,
    /// `--batch` as asked; fitted to each input pipe in `batch`.
    asked: Batch,
    batch: Batch,
    notifier: Notifier,
    states: StateLog,
    /// How long one wait for input lasts: forever, unless the watchdog needs feeding.
    wait: Option<Duration>,
    /// After a batching sleep, read without waiting first when a read cannot block for long:
    /// a FIFO is non-blocking, and a blocking stdin only matters with a watchdog to feed.
    may_skip_wait: bool,
}

impl Fill {
    /// Opens (or takes over) the ring, tells systemd, then opens the input.
    fn open(o: &FillOpts, cfg: Config, batch: Batch) -> anyhow::Result<Fill> {
        let (writer, opened) = RingWriter::open(&o.ring, cfg)?;
        vlog!(TOOL, "{}: {}", writer.path().display(), crate::ring::describe_opened(&writer, &opened));
        let mut notifier = Notifier::from_env();
        notifier.ready();
        notifier.status(&format!("ring ready, generation {}", writer.generation()));
        let fb = cfg.spec.frame_bytes();
        let input = PcmInput::open(o.input.as_deref(), fb, TOOL)?;
        let wait = notifier.enabled().then_some(WATCHDOG_WAIT);
        let may_skip_wait = o.input.is_some() || !notifier.enabled();
        let mut fill = Fill {
            writer,
            input,
            buf: vec![0u8; (131_072 / fb).max(1) * fb],
            asked: batch,
            batch,
            notifier,
            states: StateLog::new(TOOL),
            wait,
            may_skip_wait,
        };
        fill.fit_batch();
        Ok(fill)
    }

    /// Enlarges the input pipe and keeps the batching within what it holds.
    fn fit_batch(&mut self) {
        self.batch = self.asked;
        if let Some(pipe) = self.input.grow_pipe(TOOL) {
            self.batch.fit_pipe(pipe, &self.writer.config().spec, TOOL, self.input.name());
        }
    }

    /// Copies input into the ring until a stop request or the end of a non-FIFO input.
    fn pump(&mut self) -> anyhow::Result<()> {
        let mut skip_wait = false;
        while !signals::stop_requested() {
            self.notifier.watchdog();
            let got = if std::mem::take(&mut skip_wait) {
                self.input.read(&mut self.buf)?
            } else {
                self.input.wait_and_read(&mut self.buf, self.wait)?
            };
            match got {
                Got::Idle => {}
                Got::End if !self.writer_left()? => return Ok(()),
                Got::End => {}
                Got::Frames(n) => {
                    store(&mut self.writer, &self.buf[..n])?;
                    if self.states.change(self.input.name(), "receiving") {
                        self.notifier.status(&format!("filling, generation {}", self.writer.generation()));
                    }
                    // A short read means the input is live, not backlogged: let the next frames
                    // gather in the pipe instead of waking up for every period the capture writes.
                    if let Some(pause) = self.batch.after_read(n, self.buf.len()) {
                        std::thread::sleep(pause);
                        skip_wait = self.may_skip_wait;
                    }
                }
            }
        }
        Ok(())
    }

    /// At the end of input: reopens a FIFO for its next writer (true), or says the input ended
    /// (false).
    fn writer_left(&mut self) -> anyhow::Result<bool> {
        self.input.report_partial(TOOL, "at the writer's end");
        let head = self.writer.head();
        if !self.input.reopen(TOOL)? {
            vlog!(TOOL, "{}: end of input at frame {head}", self.input.name());
            return Ok(false);
        }
        let name = self.input.name().to_string();
        // A live source's time away is part of the timeline: a gap at its next frames.
        self.writer.expect_downtime();
        self.states.change(&name, &format!("writer left at frame {head}; waiting for a new one"));
        self.notifier.status("input writer left; waiting for a new one");
        self.fit_batch();
        Ok(true)
    }

    /// After a stop request: keeps the frames already waiting in the pipe (they were captured
    /// before the stop), then says where the ring stops.
    fn finish(mut self) -> anyhow::Result<()> {
        if !signals::stop_requested() {
            return Ok(());
        }
        let writer = &mut self.writer;
        let mut failed = None;
        self.input.drain(&mut self.buf, |frames| {
            if failed.is_none() {
                failed = store(writer, frames).err();
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let why = signals::stop_signal_name().unwrap_or("a stop request");
        vlog!(TOOL, "{}: stopping on {why} at frame {}", self.writer.path().display(), self.writer.head());
        self.input.report_partial(TOOL, "at the stop");
        self.notifier.stopping();
        Ok(())
    }
}

/// Writes whole frames into the ring, logging the downtime gap a continued timeline starts with.
fn store(writer: &mut RingWriter, frames: &[u8]) -> anyhow::Result<()> {
    if let Some(gap) = writer.write(frames)? {
        let rate = writer.config().spec.rate;
        vlog!(
            TOOL,
            "{}: timeline continued: {}",
            writer.path().display(),
            crate::ring::describe_gap(&gap, rate)
        );
    }
    Ok(())
}
