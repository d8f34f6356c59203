//! The capture loop of `vinyl-capture`, written against a small [`Device`] seam so that its
//! recovery policy can be tested with faults a real device cannot produce on demand.
//!
//! Owns the capture's timeline: frame N of the output is the Nth sample period since the capture
//! began. It reads whole periods, stops after exactly `--duration` timeline frames, paces reads
//! against the monotonic clock for `--realtime` (absolute deadlines, so no drift), and hands
//! whole frames to a [`Sink`] (stdout, or the ring). Audio the device lost is never a silent
//! splice: it is handed to the sink as silence of the lost length, so later frames keep their
//! numbers. The length is exact when the device knows it (a `--realtime` device that fell more
//! than its buffer behind skips exactly the frames of that time, like a card), and otherwise
//! estimated from the monotonic clock between the last read and the recovery. The policy for
//! device errors is [`classify`]: an overrun (`EPIPE`) is recovered, counted and reported with
//! the frame and the length; a suspend (`ESTRPIPE`) is resumed, its time a gap too;
//! `EAGAIN`/`EINTR` are retried; anything else, a vanished device (`ENODEV`) first of all, ends
//! the loop with an error naming the device. It does not talk to ALSA (see
//! [`device`](super::device)), print, or speak to systemd: it reports [`Event`]s and the caller
//! decides.

use super::device::describe_errno;
use crate::ring::{Gap, GapCause};
use anyhow::{Context as _, bail};
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
    /// Returns the frames lost when the device knows them exactly, `None` when it does not
    /// (then the loop estimates them from the clock).
    fn recover(&mut self, err: Errno) -> Result<Option<u64>, Errno>;
}

/// Where the capture's timeline goes: stdout ([`WriteSink`]) or the ring.
pub trait Sink {
    /// Delivers whole frames. Returns a gap the sink journaled on its own before them (a ring
    /// whose timeline continued after a downtime), for the caller to report.
    fn frames(&mut self, bytes: &[u8]) -> anyhow::Result<Option<Gap>>;
    /// Delivers `frames` frames of digital silence standing for audio that was lost.
    fn silence(&mut self, frames: u64, cause: GapCause, exact: bool) -> anyhow::Result<()>;
}

/// A [`Sink`] over a byte stream (stdout): silence is written as zero bytes.
#[derive(Debug)]
pub struct WriteSink<W: Write> {
    out: W,
    frame_bytes: usize,
}

impl<W: Write> WriteSink<W> {
    /// A sink writing frames of `frame_bytes` bytes to `out`.
    pub fn new(out: W, frame_bytes: usize) -> Self {
        WriteSink { out, frame_bytes }
    }
}

impl<W: Write> Sink for WriteSink<W> {
    fn frames(&mut self, bytes: &[u8]) -> anyhow::Result<Option<Gap>> {
        self.out.write_all(bytes).context("stdout: write")?;
        Ok(None)
    }

    fn silence(&mut self, frames: u64, _: GapCause, _: bool) -> anyhow::Result<()> {
        let zeros = vec![0u8; frames.min(4096) as usize * self.frame_bytes];
        let mut rest = frames;
        while rest > 0 {
            let n = rest.min(4096) as usize;
            self.out.write_all(&zeros[..n * self.frame_bytes]).context("stdout: write")?;
            rest -= n as u64;
        }
        Ok(())
    }
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
    /// Frames per second, for turning lost time into lost frames.
    pub rate: u32,
    /// The device's buffer in frames: a `--realtime` device that falls further behind than this
    /// overruns, as a card would.
    pub buffer_frames: u64,
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
    /// Audio was written; `frames` of the timeline delivered so far.
    Delivered {
        /// Timeline frames delivered since the start (silence for lost audio included).
        frames: u64,
    },
    /// An overrun was recovered; the lost audio was delivered as silence.
    Overrun {
        /// Overruns since the start, this one included.
        total: u64,
        /// The gap: where the silence starts in the timeline, its length, exact or estimated.
        gap: Gap,
    },
    /// The device was suspended and has been resumed; the time between is silence.
    Resumed {
        /// The gap (possibly empty).
        gap: Gap,
    },
    /// The sink journaled a gap on its own (a continued ring timeline's downtime).
    Downtime {
        /// The gap.
        gap: Gap,
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
    /// Timeline frames delivered (silence for lost audio included).
    pub frames: u64,
    /// Of those, frames of silence standing for lost audio.
    pub lost_frames: u64,
    /// Overruns recovered.
    pub overruns: u64,
    /// Suspends resumed.
    pub suspends: u64,
    /// True when the stop flag ended it, false when the limit did.
    pub stopped: bool,
}

/// The deadlines of `--realtime`: frame `n` may be delivered at `start + (n - skipped) / rate`,
/// computed from the start each time (integer nanoseconds), so rounding never accumulates into
/// drift. `skipped` counts timeline frames this process did not live through (a continued ring's
/// downtime, journaled before its first frame): they take no time, so a restarted capture moves
/// the head at real time at once instead of sleeping for as long as it was down.
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    start_ns: u128,
    rate: u32,
    skipped: u64,
}

fn now_ns() -> u128 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always available");
    t.tv_sec() as u128 * 1_000_000_000 + t.tv_nsec() as u128
}

impl Pacer {
    /// A pacer whose frame 0 is due now.
    pub fn start(rate: u32) -> Self {
        Pacer { start_ns: now_ns(), rate: rate.max(1), skipped: 0 }
    }

    /// Takes `frames` timeline frames out of the pace: they were not captured by this process
    /// (a downtime before it started), so they are due at once and delay nothing after them.
    pub fn skip(&mut self, frames: u64) {
        self.skipped = self.skipped.saturating_add(frames);
    }

    /// Monotonic-clock nanoseconds at which `frames` timeline frames are due.
    pub fn deadline_ns(&self, frames: u64) -> u128 {
        let paced = frames.saturating_sub(self.skipped);
        self.start_ns + paced as u128 * 1_000_000_000 / self.rate as u128
    }

    /// Timeline frames due at monotonic time `now_ns` (whole frames, rounded down).
    pub fn due_at(&self, now_ns: u128) -> u64 {
        let paced = (now_ns.saturating_sub(self.start_ns) * self.rate as u128 / 1_000_000_000) as u64;
        paced.saturating_add(self.skipped)
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

/// Frames in `ns` nanoseconds at `rate`, rounded to the nearest whole frame.
pub fn frames_in(ns: u128, rate: u32) -> u64 {
    ((ns * rate as u128 + 500_000_000) / 1_000_000_000) as u64
}

/// The loop's state between reads.
struct Loop<'a, D: Device + ?Sized, S: Sink + ?Sized> {
    dev: &'a mut D,
    sink: &'a mut S,
    plan: &'a Plan,
    on: &'a mut dyn FnMut(Event),
    sum: Summary,
    pacer: Option<Pacer>,
    /// Monotonic ns when the last read returned audio: lost time is counted from here.
    last_read_ns: u128,
}

/// Runs the capture: reads from `dev`, hands whole frames (and silence for lost audio) to
/// `sink`, until `plan.limit` timeline frames were delivered or `stop()` is true (the period
/// already read is delivered first). Reports what happens through `on`. Returns an error naming
/// the device when it fails or vanishes, or the sink's error (a `BrokenPipe` one when the reader
/// of stdout left).
pub fn capture_loop<D: Device + ?Sized, S: Sink + ?Sized>(
    dev: &mut D,
    sink: &mut S,
    plan: &Plan,
    stop: &dyn Fn() -> bool,
    on: &mut dyn FnMut(Event),
) -> anyhow::Result<Summary> {
    let fb = plan.frame_bytes;
    assert!(fb > 0 && plan.chunk_frames > 0, "plan without frames");
    let mut buf = vec![0u8; plan.chunk_frames * fb];
    let pacer = plan.pace.map(Pacer::start);
    let mut lp = Loop { dev, sink, plan, on, sum: Summary::default(), pacer, last_read_ns: now_ns() };
    let (mut quiet, mut stalled, mut first) = (Duration::ZERO, false, true);
    loop {
        if stop() {
            lp.sum.stopped = true;
            return Ok(lp.sum);
        }
        let Some(want) = lp.want() else { return Ok(lp.sum) };
        lp.catch_up(&mut buf)?;
        let got = match lp.dev.wait(plan.wait_timeout) {
            Ok(false) => {
                quiet += plan.wait_timeout;
                if quiet >= plan.stall_after && !stalled {
                    stalled = true;
                    (lp.on)(Event::Stalled { quiet });
                }
                continue;
            }
            Ok(true) => lp.dev.read(&mut buf[..want * fb]),
            Err(e) => Err(e),
        };
        let n = match got {
            Ok(n) => n.min(want),
            Err(e) => {
                lp.fault(e)?;
                continue;
            }
        };
        if n == 0 {
            continue;
        }
        quiet = Duration::ZERO;
        if std::mem::take(&mut stalled) {
            (lp.on)(Event::Flowing);
        }
        if std::mem::take(&mut first) {
            (lp.on)(Event::FirstAudio);
        }
        lp.deliver(&buf[..n * fb], stop)?;
    }
}

impl<D: Device + ?Sized, S: Sink + ?Sized> Loop<'_, D, S> {
    /// Frames to ask for in the next read; `None` once the limit is reached.
    fn want(&self) -> Option<usize> {
        match self.plan.limit {
            Some(limit) if self.sum.frames >= limit => None,
            Some(limit) => Some((limit - self.sum.frames).min(self.plan.chunk_frames as u64) as usize),
            None => Some(self.plan.chunk_frames),
        }
    }

    /// Hands `n` read frames to the sink, after the pace allows them.
    fn deliver(&mut self, bytes: &[u8], stop: &dyn Fn() -> bool) -> anyhow::Result<()> {
        self.last_read_ns = now_ns();
        self.sum.frames += (bytes.len() / self.plan.frame_bytes) as u64;
        if let Some(p) = &self.pacer {
            p.sleep_until(self.sum.frames, stop);
        }
        if let Some(gap) = self.sink.frames(bytes)? {
            // The sink's own gap came before these frames: the timeline is longer by it, but this
            // process did not live through it, so it is no time to wait for.
            self.sum.frames += gap.frames;
            self.sum.lost_frames += gap.frames;
            if let Some(p) = &mut self.pacer {
                p.skip(gap.frames);
            }
            (self.on)(Event::Downtime { gap });
        }
        (self.on)(Event::Delivered { frames: self.sum.frames });
        Ok(())
    }

    /// A `--realtime` device that fell more than its buffer behind (the process was stopped or
    /// starved) overruns like a card: the frames of that time are skipped in the device and
    /// delivered as silence, exactly.
    fn catch_up(&mut self, scratch: &mut [u8]) -> anyhow::Result<()> {
        let Some(p) = self.pacer else { return Ok(()) };
        let behind = p.due_at(now_ns()).saturating_sub(self.sum.frames);
        if behind <= self.plan.buffer_frames {
            return Ok(());
        }
        let mut rest = behind;
        while rest > 0 {
            let max = (scratch.len() / self.plan.frame_bytes) as u64;
            let ask = rest.min(max) as usize * self.plan.frame_bytes;
            match self.dev.read(&mut scratch[..ask]) {
                Ok(n) if n > 0 => rest = rest.saturating_sub(n as u64),
                _ => break,
            }
        }
        self.sum.overruns += 1;
        let gap = self.gap(behind, GapCause::Overrun, true)?;
        (self.on)(Event::Overrun { total: self.sum.overruns, gap });
        Ok(())
    }

    /// Delivers `frames` of silence for lost audio (clamped to the limit) and returns the gap.
    fn gap(&mut self, frames: u64, cause: GapCause, exact: bool) -> anyhow::Result<Gap> {
        let frames = match self.plan.limit {
            Some(limit) => frames.min(limit.saturating_sub(self.sum.frames)),
            None => frames,
        };
        let gap =
            Gap { first: self.sum.frames, frames, cause, exact, unix_ns: crate::ring::layout::unix_ns() };
        if frames > 0 {
            self.sink.silence(frames, cause, exact)?;
        }
        self.sum.frames += frames;
        self.sum.lost_frames += frames;
        self.last_read_ns = now_ns();
        Ok(gap)
    }

    /// Applies the [`classify`] policy to one device error.
    fn fault(&mut self, err: Errno) -> anyhow::Result<()> {
        let name = self.dev.name().to_string();
        let at = self.sum.frames;
        let (what, cause) = match classify(err) {
            Fault::Retry => return Ok(()),
            Fault::Overrun => ("recover from an overrun", GapCause::Overrun),
            Fault::Suspended => ("resume after a suspend", GapCause::Suspend),
            Fault::Vanished => bail!(
                "{name}: read: {}: the device is gone (unplugged?) after {at} frames",
                describe_errno(err)
            ),
            Fault::Failed => bail!("{name}: read: {} after {at} frames", describe_errno(err)),
        };
        let exact = self
            .dev
            .recover(err)
            .map_err(|e| anyhow::anyhow!("{name}: {what} at frame {at}: {}", describe_errno(e)))?;
        // Everything captured since the last read was discarded with the device's buffer.
        let lost =
            exact.unwrap_or_else(|| frames_in(now_ns().saturating_sub(self.last_read_ns), self.plan.rate));
        let gap = self.gap(lost, cause, exact.is_some())?;
        if cause == GapCause::Overrun {
            self.sum.overruns += 1;
            (self.on)(Event::Overrun { total: self.sum.overruns, gap });
        } else {
            self.sum.suspends += 1;
            (self.on)(Event::Resumed { gap });
        }
        Ok(())
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
        /// Frames the last failed read threw away, told exactly by `recover`.
        pending_lost: u64,
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
                pending_lost: 0,
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
                        self.pending_lost = self.lost_on_overrun;
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
        fn recover(&mut self, err: Errno) -> Result<Option<u64>, Errno> {
            self.recovered.push(err);
            self.recover_result.map(|()| Some(std::mem::take(&mut self.pending_lost)))
        }
    }

    fn plan(limit: Option<u64>) -> Plan {
        Plan {
            frame_bytes: 4,
            chunk_frames: 64,
            limit,
            rate: 48_000,
            buffer_frames: 1024,
            pace: None,
            wait_timeout: Duration::from_millis(500),
            stall_after: Duration::from_secs(1),
        }
    }

    fn run(dev: &mut Scripted, plan: &Plan) -> (anyhow::Result<Summary>, Vec<u8>, Vec<Event>) {
        let mut out = Vec::new();
        let mut events = Vec::new();
        let r = capture_loop(&mut *dev, &mut WriteSink::new(&mut out, 4), plan, &|| false, &mut |e| {
            events.push(e)
        });
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
        assert_eq!(sum, Summary { frames: 1000, lost_frames: 0, overruns: 0, suspends: 0, stopped: false });
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
        let gaps: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Overrun { total, gap } => Some((*total, gap.first, gap.frames, gap.exact)),
                _ => None,
            })
            .collect();
        assert_eq!(gaps, [(1, 100, 100, true), (2, 250, 0, true)]);
        assert_eq!(sum.lost_frames, 100);
        // One timeline: the lost frames are silence at their place, every other frame keeps
        // its number.
        let n = numbers(&out);
        assert_eq!(n.len(), 300);
        assert_eq!(n[..100], (0..100).collect::<Vec<_>>());
        assert!(out[100 * 4..200 * 4].iter().all(|&b| b == 0), "silence for the lost frames");
        assert_eq!(n[200..], (200..300).collect::<Vec<_>>());
    }

    #[test]
    fn an_overrun_the_device_cannot_count_is_estimated_from_the_clock() {
        struct Uncounted(Scripted);
        impl Device for Uncounted {
            fn name(&self) -> &str {
                self.0.name()
            }
            fn wait(&mut self, t: Duration) -> Result<bool, Errno> {
                self.0.wait(t)
            }
            fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
                self.0.read(buf)
            }
            fn recover(&mut self, err: Errno) -> Result<Option<u64>, Errno> {
                // The system stalled 50 ms before the recovery: 2400 frames at 48 kHz.
                std::thread::sleep(Duration::from_millis(50));
                self.0.recover(err).map(|_| None)
            }
        }
        let mut dev = Uncounted(Scripted::new(&[Step::Frames(64), Step::ReadErr(Errno::EPIPE)]));
        let mut out = Vec::new();
        let mut gaps = Vec::new();
        let sum = capture_loop(
            &mut dev,
            &mut WriteSink::new(&mut out, 4),
            &plan(Some(20_000)),
            &|| false,
            &mut |e| {
                if let Event::Overrun { gap, .. } = e {
                    gaps.push(gap)
                }
            },
        )
        .unwrap();
        assert_eq!(gaps.len(), 1);
        let g = gaps[0];
        assert!(!g.exact && g.first == 64 && g.frames >= 2400, "{g:?}");
        assert_eq!(sum.lost_frames, g.frames);
        assert_eq!(out.len(), 20_000 * 4);
    }

    #[test]
    fn a_realtime_device_that_falls_behind_its_buffer_overruns_exactly() {
        let mut dev = Scripted::new(&[]);
        let mut out = Vec::new();
        let mut gaps = Vec::new();
        let mut p = plan(Some(48_000));
        p.pace = Some(48_000);
        p.buffer_frames = 4800;
        let mut delivered = 0;
        let sum = capture_loop(&mut dev, &mut WriteSink::new(&mut out, 4), &p, &|| false, &mut |e| match e {
            Event::Delivered { .. } => {
                delivered += 1;
                if delivered == 10 {
                    // As if the process were stopped for 300 ms (14400 frames > the 4800 buffer).
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
            Event::Overrun { gap, .. } => gaps.push(gap),
            _ => {}
        })
        .unwrap();
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        let g = gaps[0];
        assert!(g.exact && g.first == 640 && g.frames >= 14_400, "{g:?}");
        // The device skipped exactly the lost frames: every frame after the gap has its number.
        let n = numbers(&out);
        assert_eq!(n.len(), 48_000);
        assert_eq!(n[..640], (0..640).collect::<Vec<_>>());
        let after = (g.first + g.frames) as usize;
        assert_eq!(n[after..], (after as u64..48_000).collect::<Vec<_>>());
        assert_eq!(sum.lost_frames, g.frames);
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
        assert!(
            events.iter().any(|e| matches!(e, Event::Resumed { gap } if gap.first == 5 && gap.frames == 0))
        );
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
        let r = capture_loop(&mut dev, &mut WriteSink::new(&mut out, 4), &plan(None), &stop, &mut |e| {
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
        let r = capture_loop(&mut dev, &mut WriteSink::new(Closed, 4), &plan(None), &|| false, &mut |_| {});
        assert!(crate::cli::is_broken_pipe(&r.unwrap_err()));
    }

    /// A sink like a continued ring: its first frames come after a journaled downtime.
    struct AfterDowntime {
        downtime: Option<u64>,
        frames: u64,
    }

    impl Sink for AfterDowntime {
        fn frames(&mut self, bytes: &[u8]) -> anyhow::Result<Option<Gap>> {
            self.frames += (bytes.len() / 4) as u64;
            Ok(self.downtime.take().map(|frames| Gap {
                first: 0,
                frames,
                cause: GapCause::WriterRestart,
                exact: false,
                unix_ns: 0,
            }))
        }
        fn silence(&mut self, frames: u64, _: GapCause, _: bool) -> anyhow::Result<()> {
            self.frames += frames;
            Ok(())
        }
    }

    #[test]
    fn a_restarted_realtime_capture_does_not_wait_out_its_downtime() {
        // 10 s of downtime before the first frames, then 0.2 s to capture at real time: without
        // the downtime taken out of the pace this takes 10 s.
        let mut p = plan(Some(480_000 + 9_600));
        p.pace = Some(48_000);
        let mut sink = AfterDowntime { downtime: Some(480_000), frames: 0 };
        let t = std::time::Instant::now();
        let mut events = Vec::new();
        let sum =
            capture_loop(&mut Scripted::new(&[]), &mut sink, &p, &|| false, &mut |e| events.push(e)).unwrap();
        let took = t.elapsed();
        assert!(took < Duration::from_secs(3), "paced through the downtime: {took:?}");
        assert!(took >= Duration::from_millis(150), "not paced at all: {took:?}");
        assert_eq!(sum.frames, 489_600);
        assert_eq!(sum.overruns, 0, "the downtime is not an overrun: {events:?}");
        let downtimes = events.iter().filter(|e| matches!(e, Event::Downtime { .. })).count();
        assert_eq!(downtimes, 1, "{events:?}");
    }

    #[test]
    fn skipped_frames_are_due_at_once_and_delay_nothing() {
        let mut p = Pacer { start_ns: 1_000, rate: 48_000, skipped: 0 };
        p.skip(480_000);
        assert_eq!(p.deadline_ns(480_000), 1_000);
        assert_eq!(p.deadline_ns(480_000 + 48_000), 1_000 + 1_000_000_000);
        assert_eq!(p.due_at(1_000 + 500_000_000), 480_000 + 24_000);
    }

    #[test]
    fn realtime_deadlines_do_not_drift() {
        let p = Pacer { start_ns: 1_000, rate: 44_100, skipped: 0 };
        assert_eq!(p.deadline_ns(0), 1_000);
        assert_eq!(p.deadline_ns(44_100 * 3600), 1_000 + 3600 * 1_000_000_000);
        // 1024 frames at 44.1 kHz is 23219954.6 ns: rounding does not accumulate over reads.
        assert_eq!(p.deadline_ns(1024 * 1000) - 1_000, 23_219_954_648);
    }
}
