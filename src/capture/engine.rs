//! The capture loop of `vinyl-capture`, written against a small [`Device`] seam so that its
//! recovery policy can be tested with faults a real device cannot produce on demand.
//!
//! Owns: reading whole periods, stopping after exactly `--duration` frames (the last read is
//! shortened), pacing reads against the monotonic clock for `--realtime` (absolute deadlines, so
//! no drift), writing whole frames to stdout, and the policy for device errors ([`classify`]):
//! an overrun (`EPIPE`) is recovered, counted and reported with the absolute frame number;
//! a suspend (`ESTRPIPE`) is resumed; `EAGAIN`/`EINTR` are retried; anything else, a vanished
//! device (`ENODEV`) first of all, ends the loop with an error naming the device. It does not talk
//! to ALSA (see [`device`](super::device)), print, or speak to systemd: it reports [`Event`]s and
//! the caller decides.

use super::device::describe_errno;
use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, ClockNanosleepFlags, clock_gettime, clock_nanosleep};
use std::io::Write;
use std::time::Duration;

/// What the loop needs from a capture device. [`AlsaDevice`](super::device::AlsaDevice) is the
/// real one; errors are plain errnos so the policy can be tested with any of them.
pub trait Device {
    /// The device's name as the user gave it (`hw:1,0`), for messages.
    fn name(&self) -> &str;
    /// Waits until a period of audio can be read, at most `timeout`; `Ok(false)` on timeout.
    fn wait(&mut self, timeout: Duration) -> Result<bool, Errno>;
    /// Reads whole frames into `buf` without blocking; returns the number of frames read (at most
    /// `buf.len()` / frame size), `Err(EAGAIN)` when there are none yet.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno>;
    /// Recovers after `EPIPE` (overrun) or `ESTRPIPE` (suspend) and restarts the stream.
    fn recover(&mut self, err: Errno) -> Result<(), Errno>;
}

/// What the loop does about an errno from the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `EAGAIN`, `EINTR`: nothing to read yet, or a signal; try again.
    Retry,
    /// `EPIPE`: the buffer overran and audio was lost; recover, count, warn.
    Overrun,
    /// `ESTRPIPE`: the system suspended the device; resume.
    Suspended,
    /// `ENODEV`, `ENXIO`, `ENOENT`: the device is gone (unplugged); end with exit 1.
    Vanished,
    /// Anything else (`EIO`, `EBADFD`…): the device failed; end with exit 1.
    Failed,
}

/// Sorts a device errno into what to do about it. Leans towards [`Fault::Failed`] for anything
/// it does not know, so that a supervisor restarts the tool rather than it looping on an error.
pub fn classify(errno: Errno) -> Fault {
    match errno {
        Errno::EAGAIN | Errno::EINTR => Fault::Retry,
        Errno::EPIPE => Fault::Overrun,
        Errno::ESTRPIPE => Fault::Suspended,
        Errno::ENODEV | Errno::ENXIO | Errno::ENOENT => Fault::Vanished,
        _ => Fault::Failed,
    }
}

/// How to run the loop.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Bytes in one frame, e.g. 4 for s16le stereo.
    pub frame_bytes: usize,
    /// Frames asked for in each read: the granted period, e.g. 1024.
    pub chunk_frames: usize,
    /// Stop after exactly this many frames (`--duration`); `None` runs until stopped.
    pub limit: Option<u64>,
    /// `Some(rate)` paces reads at `rate` frames per second against the monotonic clock
    /// (`--realtime`).
    pub pace: Option<u32>,
    /// How long one wait for audio may take before the stop flag is checked again, e.g. 500 ms.
    pub wait_timeout: Duration,
    /// How long without audio before [`Event::Stalled`] is reported, e.g. 2 s.
    pub stall_after: Duration,
}

/// Something the caller may want to log or tell systemd about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The first audio was read (once per run).
    FirstAudio,
    /// Audio was written; `frames` delivered so far.
    Delivered {
        /// Frames written to stdout since the start.
        frames: u64,
    },
    /// An overrun was recovered.
    Overrun {
        /// Overruns since the start, this one included.
        total: u64,
        /// Frames delivered before the audio was lost: where the gap is in the output.
        at_frame: u64,
    },
    /// The device was suspended and has been resumed.
    Resumed {
        /// Frames delivered before the suspend.
        at_frame: u64,
    },
    /// No audio arrived for `quiet` (reported once until audio flows again).
    Stalled {
        /// How long the device has been silent.
        quiet: Duration,
    },
    /// Audio flows again after [`Event::Stalled`].
    Flowing,
}

/// How a capture ended without error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames written to stdout.
    pub frames: u64,
    /// Overruns recovered.
    pub overruns: u64,
    /// Suspends resumed.
    pub suspends: u64,
    /// True when the stop flag ended it, false when the limit did.
    pub stopped: bool,
}

/// The deadlines of `--realtime`: frame `n` may be delivered at `start + n / rate`, computed from
/// the start each time (integer nanoseconds), so rounding never accumulates into drift.
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    start_ns: u128,
    rate: u32,
}

fn now_ns() -> u128 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always available");
    t.tv_sec() as u128 * 1_000_000_000 + t.tv_nsec() as u128
}

impl Pacer {
    /// A pacer whose frame 0 is due now.
    pub fn start(rate: u32) -> Self {
        Pacer { start_ns: now_ns(), rate: rate.max(1) }
    }

    /// Monotonic-clock nanoseconds at which `frames` frames are due.
    pub fn deadline_ns(&self, frames: u64) -> u128 {
        self.start_ns + frames as u128 * 1_000_000_000 / self.rate as u128
    }

    /// Sleeps until `frames` frames are due, returning early when a signal arrives and `stop()`
    /// is true.
    pub fn sleep_until(&self, frames: u64, stop: &dyn Fn() -> bool) {
        let due = self.deadline_ns(frames);
        let ts = TimeSpec::new((due / 1_000_000_000) as _, (due % 1_000_000_000) as _);
        loop {
            match clock_nanosleep(ClockId::CLOCK_MONOTONIC, ClockNanosleepFlags::TIMER_ABSTIME, &ts) {
                Err(Errno::EINTR) if !stop() => continue,
                _ => return,
            }
        }
    }
}

/// Runs the capture: reads from `dev`, writes whole frames to `out`, until `plan.limit` frames
/// were written or `stop()` is true (the period already read is written first). Reports what
/// happens through `on`. Returns an error naming the device when it fails or vanishes, or a
/// `stdout: write` error (a `BrokenPipe` one when the reader left).
pub fn capture_loop<D: Device + ?Sized, W: Write>(
    dev: &mut D,
    out: &mut W,
    plan: &Plan,
    stop: &dyn Fn() -> bool,
    on: &mut dyn FnMut(Event),
) -> anyhow::Result<Summary> {
    let fb = plan.frame_bytes;
    assert!(fb > 0 && plan.chunk_frames > 0, "plan without frames");
    let mut buf = vec![0u8; plan.chunk_frames * fb];
    let mut sum = Summary::default();
    let mut first = true;
    let pacer = plan.pace.map(Pacer::start);
    let mut quiet = Duration::ZERO;
    let mut stalled = false;
    loop {
        if stop() {
            sum.stopped = true;
            return Ok(sum);
        }
        let want = match plan.limit {
            Some(limit) if sum.frames >= limit => return Ok(sum),
            Some(limit) => (limit - sum.frames).min(plan.chunk_frames as u64) as usize,
            None => plan.chunk_frames,
        };
        let got = match dev.wait(plan.wait_timeout) {
            Ok(false) => {
                quiet += plan.wait_timeout;
                if quiet >= plan.stall_after && !stalled {
                    stalled = true;
                    on(Event::Stalled { quiet });
                }
                continue;
            }
            Ok(true) => dev.read(&mut buf[..want * fb]),
            Err(e) => Err(e),
        };
        let n = match got {
            Ok(n) => n.min(want),
            Err(e) => {
                handle_fault(dev, e, &mut sum, on)?;
                continue;
            }
        };
        if n == 0 {
            continue;
        }
        quiet = Duration::ZERO;
        if stalled {
            stalled = false;
            on(Event::Flowing);
        }
        if first {
            first = false;
            on(Event::FirstAudio);
        }
        sum.frames += n as u64;
        if let Some(p) = &pacer {
            p.sleep_until(sum.frames, stop);
        }
        out.write_all(&buf[..n * fb]).context("stdout: write")?;
        on(Event::Delivered { frames: sum.frames });
    }
}

/// Applies the [`classify`] policy to one device error.
fn handle_fault<D: Device + ?Sized>(
    dev: &mut D,
    err: Errno,
    sum: &mut Summary,
    on: &mut dyn FnMut(Event),
) -> anyhow::Result<()> {
    let name = dev.name().to_string();
    match classify(err) {
        Fault::Retry => Ok(()),
        Fault::Overrun => {
            dev.recover(err).map_err(|e| {
                anyhow::anyhow!(
                    "{name}: recover from an overrun at frame {}: {}",
                    sum.frames,
                    describe_errno(e)
                )
            })?;
            sum.overruns += 1;
            on(Event::Overrun { total: sum.overruns, at_frame: sum.frames });
            Ok(())
        }
        Fault::Suspended => {
            dev.recover(err).map_err(|e| {
                anyhow::anyhow!(
                    "{name}: resume after a suspend at frame {}: {}",
                    sum.frames,
                    describe_errno(e)
                )
            })?;
            sum.suspends += 1;
            on(Event::Resumed { at_frame: sum.frames });
            Ok(())
        }
        Fault::Vanished => Err(anyhow::anyhow!(
            "{name}: read: {}: the device is gone (unplugged?) after {} frames",
            describe_errno(err),
            sum.frames
        )),
        Fault::Failed => {
            Err(anyhow::anyhow!("{name}: read: {} after {} frames", describe_errno(err), sum.frames))
        }
    }
}

#[cfg(test)]
mod tests {
    //! The real ALSA devices available here (the `file` and `null` plugins) are unpaced and
    //! never overrun, suspend or vanish, so these faults are scripted into a fake device. The
    //! real-device paths (exact capture, signals, a failing device) are in `tests/capture.rs`.
    use super::*;
    use crate::pcm::{PcmSpec, unique_frame_number, unique_frames};
    use std::collections::VecDeque;

    /// One scripted step: a wait result, then (if the wait said yes) a read result.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        /// The wait times out.
        Quiet,
        /// The wait fails with this errno.
        WaitErr(Errno),
        /// The read returns up to this many frames of the test signal.
        Frames(usize),
        /// The read fails with this errno.
        ReadErr(Errno),
    }

    /// A device that plays a script, then endless frames; frames carry their number, and
    /// an overrun skips `lost` frames (the audio a real overrun throws away).
    struct Scripted {
        script: VecDeque<Step>,
        next_frame: u64,
        lost_on_overrun: u64,
        recover_result: Result<(), Errno>,
        recovered: Vec<Errno>,
        spec: PcmSpec,
    }

    impl Scripted {
        fn new(script: &[Step]) -> Self {
            Scripted {
                script: script.iter().copied().collect(),
                next_frame: 0,
                lost_on_overrun: 100,
                recover_result: Ok(()),
                recovered: Vec::new(),
                spec: PcmSpec::default(),
            }
        }
    }

    impl Device for Scripted {
        fn name(&self) -> &str {
            "hw:7,0"
        }
        fn wait(&mut self, _: Duration) -> Result<bool, Errno> {
            match self.script.front() {
                Some(Step::Quiet) => {
                    self.script.pop_front();
                    Ok(false)
                }
                Some(Step::WaitErr(e)) => {
                    let e = *e;
                    self.script.pop_front();
                    Err(e)
                }
                _ => Ok(true),
            }
        }
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
            let fb = self.spec.frame_bytes();
            let max = buf.len() / fb;
            let n = match self.script.pop_front() {
                Some(Step::ReadErr(e)) => {
                    if e == Errno::EPIPE {
                        self.next_frame += self.lost_on_overrun;
                    }
                    return Err(e);
                }
                Some(Step::Frames(n)) => n.min(max),
                _ => max,
            };
            buf[..n * fb].copy_from_slice(&unique_frames(&self.spec, self.next_frame, n as u64));
            self.next_frame += n as u64;
            Ok(n)
        }
        fn recover(&mut self, err: Errno) -> Result<(), Errno> {
            self.recovered.push(err);
            self.recover_result
        }
    }

    fn plan(limit: Option<u64>) -> Plan {
        Plan {
            frame_bytes: 4,
            chunk_frames: 64,
            limit,
            pace: None,
            wait_timeout: Duration::from_millis(500),
            stall_after: Duration::from_secs(1),
        }
    }

    fn run(dev: &mut Scripted, plan: &Plan) -> (anyhow::Result<Summary>, Vec<u8>, Vec<Event>) {
        let mut out = Vec::new();
        let mut events = Vec::new();
        let r = capture_loop(dev, &mut out, plan, &|| false, &mut |e| events.push(e));
        (r, out, events)
    }

    fn numbers(out: &[u8]) -> Vec<u64> {
        out.chunks_exact(4).map(unique_frame_number).collect()
    }

    #[test]
    fn the_policy_sorts_errnos() {
        assert_eq!(classify(Errno::EPIPE), Fault::Overrun);
        assert_eq!(classify(Errno::ESTRPIPE), Fault::Suspended);
        assert_eq!(classify(Errno::ENODEV), Fault::Vanished);
        assert_eq!(classify(Errno::EAGAIN), Fault::Retry);
        assert_eq!(classify(Errno::EINTR), Fault::Retry);
        assert_eq!(classify(Errno::EIO), Fault::Failed);
        assert_eq!(classify(Errno::EBADFD), Fault::Failed);
    }

    #[test]
    fn the_limit_is_exact_even_with_short_reads() {
        let mut dev = Scripted::new(&[Step::Frames(10), Step::Frames(1), Step::ReadErr(Errno::EAGAIN)]);
        let (r, out, events) = run(&mut dev, &plan(Some(1000)));
        let sum = r.unwrap();
        assert_eq!(sum, Summary { frames: 1000, overruns: 0, suspends: 0, stopped: false });
        assert_eq!(numbers(&out), (0..1000).collect::<Vec<_>>());
        assert_eq!(events.first(), Some(&Event::FirstAudio));
        assert_eq!(events.last(), Some(&Event::Delivered { frames: 1000 }));
    }

    #[test]
    fn an_overrun_is_recovered_counted_and_located() {
        let mut dev = Scripted::new(&[
            Step::Frames(64),
            Step::Frames(36),
            Step::ReadErr(Errno::EPIPE),
            Step::Frames(50),
            Step::WaitErr(Errno::EPIPE),
        ]);
        let (r, out, events) = run(&mut dev, &plan(Some(300)));
        let sum = r.unwrap();
        assert_eq!((sum.frames, sum.overruns), (300, 2));
        assert_eq!(dev.recovered, [Errno::EPIPE, Errno::EPIPE]);
        let overruns: Vec<_> = events.iter().filter(|e| matches!(e, Event::Overrun { .. })).collect();
        assert_eq!(
            overruns,
            [&Event::Overrun { total: 1, at_frame: 100 }, &Event::Overrun { total: 2, at_frame: 150 }]
        );
        // The output is whole frames: the first 100, then the audio after the lost frames.
        let n = numbers(&out);
        assert_eq!(n.len(), 300);
        assert_eq!(n[..100], (0..100).collect::<Vec<_>>());
        assert_eq!(n[100], 200);
    }

    #[test]
    fn a_failed_recovery_ends_with_the_device_and_the_frame() {
        let mut dev = Scripted::new(&[Step::Frames(64), Step::ReadErr(Errno::EPIPE)]);
        dev.recover_result = Err(Errno::EIO);
        let (r, out, _) = run(&mut dev, &plan(None));
        let msg = format!("{:#}", r.unwrap_err());
        assert_eq!(msg, "hw:7,0: recover from an overrun at frame 64: I/O error (EIO)");
        assert_eq!(out.len(), 64 * 4);
    }

    #[test]
    fn a_suspend_is_resumed() {
        let mut dev = Scripted::new(&[Step::Frames(5), Step::ReadErr(Errno::ESTRPIPE)]);
        let (r, out, events) = run(&mut dev, &plan(Some(20)));
        assert_eq!(r.unwrap().suspends, 1);
        assert_eq!(dev.recovered, [Errno::ESTRPIPE]);
        assert!(events.contains(&Event::Resumed { at_frame: 5 }));
        assert_eq!(numbers(&out), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn a_vanished_device_ends_the_capture_with_its_name() {
        for (script, at) in [
            (vec![Step::Frames(64), Step::Frames(3), Step::ReadErr(Errno::ENODEV)], 67),
            (vec![Step::WaitErr(Errno::ENODEV)], 0),
        ] {
            let mut dev = Scripted::new(&script);
            let (r, out, _) = run(&mut dev, &plan(None));
            let msg = format!("{:#}", r.unwrap_err());
            assert_eq!(
                msg,
                format!(
                    "hw:7,0: read: No such device (ENODEV): the device is gone (unplugged?) after {at} frames"
                )
            );
            assert_eq!(out.len() as u64, at * 4, "what was read before is delivered");
            assert!(dev.recovered.is_empty());
        }
    }

    #[test]
    fn a_silent_device_is_reported_once_then_flowing() {
        let mut dev =
            Scripted::new(&[Step::Frames(1), Step::Quiet, Step::Quiet, Step::Quiet, Step::Frames(1)]);
        let (r, _, events) = run(&mut dev, &plan(Some(3)));
        r.unwrap();
        let noted: Vec<_> =
            events.iter().filter(|e| matches!(e, Event::Stalled { .. } | Event::Flowing)).collect();
        assert_eq!(noted, [&Event::Stalled { quiet: Duration::from_secs(1) }, &Event::Flowing]);
    }

    #[test]
    fn a_stop_request_ends_after_the_period_in_hand() {
        let mut dev = Scripted::new(&[]);
        let mut out = Vec::new();
        let reads = std::cell::Cell::new(0);
        let stop = || reads.get() >= 3;
        let r = capture_loop(&mut dev, &mut out, &plan(None), &stop, &mut |e| {
            if matches!(e, Event::Delivered { .. }) {
                reads.set(reads.get() + 1)
            }
        });
        let sum = r.unwrap();
        assert!(sum.stopped);
        assert_eq!(sum.frames, 3 * 64);
        assert_eq!(out.len(), 3 * 64 * 4);
    }

    /// A writer that fails like a pipe whose reader left.
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_stdout_is_a_broken_pipe_error() {
        let mut dev = Scripted::new(&[]);
        let r = capture_loop(&mut dev, &mut Closed, &plan(None), &|| false, &mut |_| {});
        assert!(crate::cli::is_broken_pipe(&r.unwrap_err()));
    }

    #[test]
    fn realtime_deadlines_do_not_drift() {
        let p = Pacer { start_ns: 1_000, rate: 44_100 };
        assert_eq!(p.deadline_ns(0), 1_000);
        assert_eq!(p.deadline_ns(44_100 * 3600), 1_000 + 3600 * 1_000_000_000);
        // 1024 frames at 44.1 kHz is 23219954.6 ns: rounding does not accumulate over reads.
        assert_eq!(p.deadline_ns(1024 * 1000) - 1_000, 23_219_954_648);
    }
}
