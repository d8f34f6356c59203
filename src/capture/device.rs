//! The ALSA side of `vinyl-capture`: opening a capture PCM, asking for the PCM spec, reading back
//! what the device granted, and listing capture devices.
//!
//! Owns every call into the `alsa` crate. [`AlsaDevice`] implements the loop's
//! [`Device`] seam with a non-blocking PCM (`snd_pcm_wait` with a timeout,
//! then `snd_pcm_readi`), so the loop can notice a stop request even when the device delivers
//! nothing. It never converts: [`check_granted`] refuses a device that grants another rate,
//! channel count or format than asked. Errors name the device and the step and keep the errno
//! (`hw:1,0: open for capture: No such file or directory (ENOENT)`); alsa-lib prints its own
//! `ALSA lib …` lines on stderr as well, which cannot be silenced.

use super::engine::Device;
use crate::cli::ExitStatusError;
use crate::pcm::{PcmSpec, SampleFormat};
use alsa::pcm::{Access, Format, HwParams, PCM, State};
use alsa::{Direction, ValueOr};
use nix::errno::Errno;
use std::ffi::CString;
use std::time::Duration;

/// The ALSA sample format for a pipe format: `S16_LE` or `S24_3LE`.
pub fn alsa_format(format: SampleFormat) -> Format {
    match format {
        SampleFormat::S16Le => Format::S16LE,
        SampleFormat::S24_3Le => Format::S243LE,
    }
}

/// An ALSA error as `Description (ENAME)`, e.g. `No such device (ENODEV)`.
pub fn describe_errno(errno: Errno) -> String {
    format!("{} ({errno:?})", errno.desc())
}

/// Why a device would not open, with what to do about the usual causes.
pub fn open_hint(errno: Errno) -> String {
    let why = describe_errno(errno);
    match errno {
        Errno::ENOENT => format!("no such device ({why}): see --list-devices for the names ALSA knows"),
        Errno::EBUSY => format!("{why}: another program is capturing from it"),
        Errno::EACCES | Errno::EPERM => format!("{why}: run as a member of the `audio` group"),
        _ => why,
    }
}

fn errno_of(e: alsa::Error) -> Errno {
    Errno::from_raw(e.errno())
}

/// What the device granted, read back after `snd_pcm_hw_params`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Granted {
    /// Frames per second, e.g. 48000.
    pub rate: u32,
    /// Channels per frame, e.g. 2.
    pub channels: u32,
    /// ALSA sample format, e.g. `S16_LE`.
    pub format: Format,
    /// Frames per period (one read), e.g. 1024.
    pub period: u64,
    /// Frames in the ring buffer, e.g. 16384.
    pub buffer: u64,
}

/// Compares what the device granted with what was asked. Returns the one-line refusal (device
/// name, both values, and how to fix it) when rate, channels or format differ; period and buffer
/// may differ freely (they are logged, not refused).
pub fn check_granted(device: &str, asked: &PcmSpec, granted: &Granted) -> Result<(), String> {
    let fix = format!("or capture through a plug device (plug{device}) to let ALSA convert");
    if granted.format != alsa_format(asked.format) {
        return Err(format!(
            "{device}: the device delivers {} instead of the {} ({}) asked for: pass the matching \
             --format to every tool, {fix}",
            granted.format,
            asked.format,
            alsa_format(asked.format)
        ));
    }
    if granted.rate != asked.rate {
        return Err(format!(
            "{device}: the device runs at {} Hz instead of the {} Hz asked for: pass --rate {} to \
             every tool, {fix}",
            granted.rate, asked.rate, granted.rate
        ));
    }
    if granted.channels != u32::from(asked.channels) {
        return Err(format!(
            "{device}: the device gives {} channels instead of the {} asked for: pass --channels {} \
             to every tool, {fix}",
            granted.channels, asked.channels, granted.channels
        ));
    }
    Ok(())
}

/// An open, configured and started ALSA capture PCM.
pub struct AlsaDevice {
    name: String,
    pcm: PCM,
}

impl std::fmt::Debug for AlsaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlsaDevice").field("name", &self.name).finish()
    }
}

fn fail(msg: String) -> anyhow::Error {
    ExitStatusError { status: crate::cli::EXIT_FAILURE, message: msg }.into()
}

impl AlsaDevice {
    /// Opens `name` for capture (non-blocking), asks for `spec` with interleaved access, a period
    /// of `period` frames and a buffer of `buffer` frames, and reads back what was granted.
    /// Refuses (exit 1) a device that grants another rate, channel count or format.
    /// Does not start the stream: call [`AlsaDevice::start`].
    pub fn open(name: &str, spec: &PcmSpec, period: u32, buffer: u32) -> anyhow::Result<(Self, Granted)> {
        let cname = CString::new(name).map_err(|_| fail(format!("{name:?}: device name contains NUL")))?;
        let pcm = PCM::open(&cname, Direction::Capture, true)
            .map_err(|e| fail(format!("{name}: open for capture: {}", open_hint(errno_of(e)))))?;
        let step =
            |what: &str, e: alsa::Error| fail(format!("{name}: {what}: {}", describe_errno(errno_of(e))));
        let granted = {
            let hw = HwParams::any(&pcm).map_err(|e| step("read hardware parameters", e))?;
            hw.set_access(Access::RWInterleaved).map_err(|e| step("set interleaved access", e))?;
            let format = alsa_format(spec.format);
            if hw.set_format(format).is_err() {
                return Err(fail(format!(
                    "{name}: the device cannot deliver {} ({format}); it offers {}: pass the matching \
                     --format to every tool, or capture through a plug device (plug{name}) to let \
                     ALSA convert",
                    spec.format,
                    offered_formats(&pcm)
                )));
            }
            hw.set_channels_near(u32::from(spec.channels)).map_err(|e| step("set channels", e))?;
            hw.set_rate_near(spec.rate, ValueOr::Nearest).map_err(|e| step("set rate", e))?;
            hw.set_period_size_near(period.into(), ValueOr::Nearest).map_err(|e| step("set period", e))?;
            hw.set_buffer_size_near(buffer.into()).map_err(|e| step("set buffer", e))?;
            pcm.hw_params(&hw).map_err(|e| step("apply hardware parameters", e))?;
            let cur = pcm.hw_params_current().map_err(|e| step("read back hardware parameters", e))?;
            let back = |e| step("read back hardware parameters", e);
            Granted {
                rate: cur.get_rate().map_err(back)?,
                channels: cur.get_channels().map_err(back)?,
                format: cur.get_format().map_err(back)?,
                period: cur.get_period_size().map_err(back)?.max(0) as u64,
                buffer: cur.get_buffer_size().map_err(back)?.max(0) as u64,
            }
        };
        check_granted(name, spec, &granted).map_err(fail)?;
        Ok((AlsaDevice { name: name.to_string(), pcm }, granted))
    }

    /// Starts the stream (capture begins filling the buffer now).
    pub fn start(&self) -> anyhow::Result<()> {
        self.pcm.start().map_err(|e| fail(format!("{}: start: {}", self.name, describe_errno(errno_of(e)))))
    }
}

/// The formats the device offers, from ALSA's list, for the refusal message.
fn offered_formats(pcm: &PCM) -> String {
    let Ok(hw) = HwParams::any(pcm) else { return "nothing readable".into() };
    let offered: Vec<String> =
        Format::all().iter().filter(|f| hw.test_format(**f).is_ok()).map(|f| f.to_string()).collect();
    if offered.is_empty() { "no format ALSA knows".into() } else { offered.join(", ") }
}

impl Device for AlsaDevice {
    fn name(&self) -> &str {
        &self.name
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, Errno> {
        let ms = timeout.as_millis().min(u32::MAX as u128) as u32;
        self.pcm.wait(Some(ms)).map_err(errno_of)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.pcm.io_bytes().readi(buf).map_err(errno_of)
    }

    fn recover(&mut self, err: Errno) -> Result<Option<u64>, Errno> {
        // snd_pcm_recover: EPIPE → prepare; ESTRPIPE → resume (or prepare when the driver
        // cannot resume). A capture left prepared must be started again; a resumed one runs.
        self.pcm.recover(-(err as i32), true).map_err(errno_of)?;
        if self.pcm.state() == State::Prepared {
            self.pcm.start().map_err(errno_of)?;
        }
        // ALSA stops counting at the overrun: the loss is only known from the clock.
        Ok(None)
    }
}

/// One capture-capable device from ALSA's hints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceHint {
    /// The name to pass to `--device`, e.g. `hw:CARD=CODEC,DEV=0`.
    pub name: String,
    /// ALSA's description, possibly several lines.
    pub description: String,
}

/// The PCM devices ALSA's configuration names that can capture (hints whose direction is
/// capture or both), in ALSA's order.
pub fn capture_devices() -> anyhow::Result<Vec<DeviceHint>> {
    let hints = alsa::device_name::HintIter::new_str(None, "pcm")
        .map_err(|e| fail(format!("ALSA: list PCM devices: {}", describe_errno(errno_of(e)))))?;
    Ok(hints
        .filter(|h| h.direction.is_none_or(|d| d == Direction::Capture))
        .filter_map(|h| Some(DeviceHint { name: h.name?, description: h.desc.unwrap_or_default() }))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(rate: u32, channels: u32, format: Format) -> Granted {
        Granted { rate, channels, format, period: 940, buffer: 7520 }
    }

    #[test]
    fn granted_spec_must_match_exactly() {
        let asked = PcmSpec::default();
        check_granted("hw:1,0", &asked, &granted(48_000, 2, Format::S16LE)).unwrap();
        let err = check_granted("hw:1,0", &asked, &granted(44_100, 2, Format::S16LE)).unwrap_err();
        assert!(err.starts_with("hw:1,0: ") && err.contains("44100 Hz") && err.contains("48000 Hz"), "{err}");
        assert!(err.contains("plughw:1,0"), "{err}");
        let err = check_granted("hw:1,0", &asked, &granted(48_000, 1, Format::S16LE)).unwrap_err();
        assert!(err.contains("1 channels instead of the 2"), "{err}");
        let s24 = PcmSpec { format: SampleFormat::S24_3Le, ..asked };
        let err = check_granted("hw:1,0", &s24, &granted(48_000, 2, Format::S32LE)).unwrap_err();
        assert!(err.contains("S32_LE") && err.contains("s24_3le (S24_3LE)"), "{err}");
    }

    #[test]
    fn errno_descriptions_name_the_errno() {
        assert_eq!(describe_errno(Errno::ENODEV), "No such device (ENODEV)");
    }
}
