//! `vinyl-capture`: ALSA capture to stdout as raw PCM, the head of every vinyl pipeline.
//!
//! Owns the capture process: it opens the device ([`device`]), asks for the agreed PCM spec and
//! refuses a device that grants anything else (no conversion here: name a `plughw:` device for
//! that), logs the granted parameters once, then runs the loop ([`engine`]) that writes whole
//! frames to stdout until `--duration` frames were written, SIGTERM/SIGINT/SIGHUP arrives, or the
//! reader of stdout leaves (a quiet exit 0). It speaks the systemd notify protocol (`READY=1` on
//! the first audio, `STATUS=` with the overrun count, `WATCHDOG=1` while audio flows). It does not
//! convert, resample, buffer beyond one period, or retry a device that failed: a vanished or failed
//! device ends it with exit 1 and a line naming the device and the errno, for the supervisor to
//! restart it. Flags: [`cli::Opts`].

pub mod cli;
pub mod device;
pub mod engine;

pub use cli::Opts;

use crate::log::StateLog;
use crate::notify::Notifier;
use crate::pcm::PcmSpec;
use crate::ring::RingWriter;
use crate::vlog;
use device::{AlsaDevice, Granted};
use engine::{Event, Plan, Summary};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::Duration;

const TOOL: &str = "vinyl-capture";

/// Stdout without Rust's line buffering: every `write` is one `write(2)` on fd 1, so whole
/// frames leave in the call that wrote them and nothing waits in a buffer at exit.
#[derive(Debug, Default)]
pub struct RawStdout;

impl Write for RawStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        nix::unistd::write(io::stdout().as_fd(), buf).map_err(|e| io::Error::from_raw_os_error(e as i32))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Prints the capture devices ALSA knows (`--list-devices`), like `arecord -L`: the name for
/// `--device`, then its description indented.
fn list_devices() -> anyhow::Result<()> {
    let devices = device::capture_devices()?;
    let mut text = String::new();
    for d in &devices {
        text.push_str(&d.name);
        text.push('\n');
        for line in d.description.lines() {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
    }
    RawStdout.write_all(text.as_bytes())?;
    if devices.iter().all(|d| d.name == "null" || d.name.starts_with("default")) {
        vlog!(TOOL, "no sound card found: only ALSA's virtual devices are listed");
    }
    Ok(())
}

fn ms(frames: u64, rate: u32) -> String {
    format!("{:.1} ms", frames as f64 * 1000.0 / rate.max(1) as f64)
}

fn describe_granted(g: &Granted, spec: &PcmSpec, opts: &Opts) -> String {
    let asked = |got: u64, want: u32| {
        if got == u64::from(want) { String::new() } else { format!(", asked {want}") }
    };
    format!(
        "capturing {spec} (ALSA {}), period {} frames ({}{}), buffer {} frames ({}{}){}",
        g.format,
        g.period,
        ms(g.period, g.rate),
        asked(g.period, opts.period),
        g.buffer,
        ms(g.buffer, g.rate),
        asked(g.buffer, opts.buffer),
        if opts.realtime { ", paced in real time" } else { "" }
    )
}

fn status_line(device: &str, spec: &PcmSpec, overruns: u64) -> String {
    format!("capturing {device} {spec}, {overruns} overruns")
}

/// The ring as the capture's sink: frames go in, losses are journaled and written as silence.
impl engine::Sink for RingWriter {
    fn frames(&mut self, bytes: &[u8]) -> anyhow::Result<Option<crate::ring::Gap>> {
        self.write(bytes)
    }

    fn silence(&mut self, frames: u64, cause: crate::ring::GapCause, exact: bool) -> anyhow::Result<()> {
        self.gap(frames, cause, exact).map(|_| ())
    }
}

/// Where the timeline goes: the ring (`--ring`, logged once) or stdout (never a terminal).
fn open_sink(opts: &Opts, spec: &PcmSpec) -> anyhow::Result<Box<dyn engine::Sink>> {
    let Some(path) = &opts.ring else {
        if nix::unistd::isatty(io::stdout().as_fd()).unwrap_or(false) {
            return Err(crate::cli::UsageError::new(
                "stdout is a terminal: pipe the raw PCM into a file or a tool (vinyl-capture > side-a.raw), \
                 or write the ring with --ring /dev/shm/vinyl-ring",
            )
            .into());
        }
        return Ok(Box::new(engine::WriteSink::new(RawStdout, spec.frame_bytes())));
    };
    let cfg = crate::ring::Config::new(*spec, opts.ring_capacity.frames(spec.rate));
    let (writer, opened) = RingWriter::open(path, cfg)?;
    vlog!(TOOL, "{}: {}", path.display(), crate::ring::describe_opened(&writer, &opened));
    Ok(Box::new(writer))
}

/// Runs `vinyl-capture` until `--duration` is reached, it is told to stop, or stdout closes.
pub fn run(opts: Opts) -> anyhow::Result<()> {
    opts.validate()?;
    if opts.list_devices {
        return list_devices();
    }
    let spec = opts.pcm.spec();
    if opts.ring.is_none() && nix::unistd::isatty(io::stdout().as_fd()).unwrap_or(false) {
        open_sink(&opts, &spec)?; // the usage error, before the device is opened
    }
    crate::signals::install()?;
    let (mut dev, granted) = AlsaDevice::open(&opts.device, &spec, opts.period, opts.buffer)?;
    StateLog::new(TOOL).change(&opts.device, &describe_granted(&granted, &spec, &opts));
    let mut sink = open_sink(&opts, &spec)?;
    let plan = Plan {
        frame_bytes: spec.frame_bytes(),
        chunk_frames: granted.period.clamp(1, 1 << 22) as usize,
        limit: opts.duration.map(|d| d.frames(spec.rate)),
        rate: spec.rate,
        buffer_frames: granted.buffer,
        pace: opts.realtime.then_some(spec.rate),
        wait_timeout: Duration::from_millis(500),
        stall_after: Duration::from_secs(2),
    };
    dev.start()?;
    let result = pump(&mut dev, sink.as_mut(), &plan, &opts.device, &spec);
    finish(&opts.device, &spec, result)
}

/// The capture loop with its events logged and told to systemd.
fn pump(
    dev: &mut AlsaDevice,
    sink: &mut dyn engine::Sink,
    plan: &Plan,
    name: &str,
    spec: &PcmSpec,
) -> anyhow::Result<Summary> {
    let mut log = StateLog::new(TOOL);
    let mut notifier = Notifier::from_env();
    notifier.status(&format!("starting {name} {spec}"));
    let mut overruns = 0u64;
    let rate = spec.rate;
    let result =
        engine::capture_loop(dev, sink, plan, &crate::signals::stop_requested, &mut |event| match event {
            Event::FirstAudio => {
                notifier.ready();
                notifier.status(&status_line(name, spec, overruns));
            }
            Event::Delivered { frames } => {
                notifier.watchdog();
                if crate::signals::take_report_request() {
                    vlog!(TOOL, "{name}: {} captured, {overruns} overruns", spec.describe_frames(frames));
                }
            }
            Event::Overrun { total, gap } => {
                overruns = total;
                let so_far = if total == 1 {
                    "the first overrun".to_string()
                } else {
                    format!("{total} overruns so far")
                };
                vlog!(TOOL, "{name}: {}; {so_far}", crate::ring::describe_gap(&gap, rate));
                notifier.status(&status_line(name, spec, overruns));
            }
            Event::Resumed { gap } => {
                vlog!(TOOL, "{name}: resumed after a suspend: {}", crate::ring::describe_gap(&gap, rate));
            }
            Event::Downtime { gap } => {
                vlog!(
                    TOOL,
                    "{name}: the ring's timeline continues after its writer's downtime: {}",
                    crate::ring::describe_gap(&gap, rate)
                );
            }
            Event::Stalled { quiet } => {
                log.change(name, &format!("no audio from the device for {} s", quiet.as_secs()));
            }
            Event::Flowing => {
                log.change(name, "audio flows again");
            }
        });
    notifier.stopping();
    result
}

/// The closing line: how the capture ended, what it captured and what was lost.
fn finish(name: &str, spec: &PcmSpec, result: anyhow::Result<Summary>) -> anyhow::Result<()> {
    let Summary { frames, lost_frames, overruns, stopped, .. } = result?;
    let how = match (stopped, crate::signals::stop_signal_name()) {
        (true, Some(sig)) => format!("stopped by {sig}"),
        (true, None) => "stopped".to_string(),
        (false, _) => "done".to_string(),
    };
    vlog!(
        TOOL,
        "{name}: {how}: {} captured, {overruns} overruns, {} lost (present as silence)",
        spec.describe_frames(frames),
        spec.describe_frames(lost_frames)
    );
    Ok(())
}
