//! `vinyl-flac-rec`: record raw PCM from stdin to a FLAC file, streaming and crash-safe.
//!
//! Owns the recorder's life: creating `FILE.part` (never overwriting anything), choosing the tags,
//! reading stdin in whole frames, stopping at end of input, SIGTERM/SIGINT/SIGHUP or `--max-duration`,
//! periodic syncs, the final rename to `FILE`, logging and systemd notify; and `--recover`. The
//! encoding, the STREAMINFO patch and the frame scan are [`crate::flac`]'s. Flags: [`cli`].
//!
//! How it fails: nothing already written is lost. A failed write leaves `FILE.part` cut back to its
//! last complete frame with a matching STREAMINFO (a valid file) and exits 1 naming the path and
//! the reason; a failed read of stdin finishes the file first, then exits 1. `FILE` or
//! `FILE.part` already present, or a folder that cannot be written, is exit 1 before reading any
//! input.

pub mod cli;

pub use cli::Opts;

use crate::cli::UsageError;
use crate::flac::{self, FlacWriter, LEVELS, WriteError, WriterOptions};
use crate::input::{Got, PcmInput};
use crate::notify::Notifier;
use crate::pcm::PcmSpec;
use crate::{signals, vlog};
use anyhow::{Context as _, anyhow, bail};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const TOOL: &str = "vinyl-flac-rec";

/// Bytes read from stdin at a time (64 KiB: a third of a second of 48 kHz stereo s16le).
const READ_BYTES: usize = 64 << 10;

/// How often a wait for input wakes up to check for a stop request and feed the watchdog.
const WAIT: Duration = Duration::from_millis(500);

/// Runs `vinyl-flac-rec`: records until end of input, a stop signal or `--max-duration`, or
/// repairs a `.part` file with `--recover`.
pub fn run(opts: Opts) -> anyhow::Result<()> {
    signals::install()?;
    // A file past the size limit must fail its write (EFBIG, then the recording is salvaged),
    // not kill the recorder.
    signals::ignore(nix::sys::signal::Signal::SIGXFSZ)?;
    if let Some(part) = &opts.recover {
        return recover(part);
    }
    let spec = opts.pcm.spec();
    if spec.rate > flac::MAX_RATE {
        return Err(UsageError::new(format!(
            "--rate {}: FLAC recording supports at most {} Hz (flacenc's limit)",
            spec.rate,
            flac::MAX_RATE
        ))
        .into());
    }
    if let Some(t) = &opts.capture_start
        && !crate::time::is_rfc3339(t)
    {
        return Err(UsageError::new(format!(
            "--capture-start '{t}' is not an RFC 3339 time, which should look like 2026-11-24T20:15:00.125+01:00"
        ))
        .into());
    }
    let output = opts.output.clone().expect("clap requires -o without --recover");
    record(&opts, spec, &output)
}

pub use crate::flac::part_path;

/// The tags written to the file: the user's, then the automatic ones whose keys the user did not
/// give (compared without case, as Vorbis comments are).
pub fn build_tags(opts: &Opts, spec: &PcmSpec, first_sample_time: SystemTime) -> Vec<(String, String)> {
    let mut tags = opts.tags.clone();
    let mut auto = vec![
        ("ENCODER".to_string(), encoder_tag()),
        ("DATE".to_string(), crate::time::rfc3339_local(first_sample_time)),
    ];
    if let Some(n) = opts.start_frame {
        auto.push(("VINYL_START_FRAME".into(), n.to_string()));
    }
    if let Some(t) = &opts.capture_start {
        auto.push(("VINYL_CAPTURE_START".into(), t.clone()));
    }
    if let Some(p) = opts.preroll {
        auto.push(("VINYL_PREROLL".into(), p.frames(spec.rate).to_string()));
    }
    for (k, v) in auto {
        if !tags.iter().any(|(uk, _)| uk.eq_ignore_ascii_case(&k)) {
            tags.push((k, v));
        }
    }
    tags
}

/// `vinyl-flac-rec 0.1.0 (flacenc 0.5.1)`.
pub fn encoder_tag() -> String {
    format!("{TOOL} {} (flacenc {})", env!("CARGO_PKG_VERSION"), flacenc::constant::build_info::CRATE_VERSION)
}

/// The process umask, read from /proc (022 when it cannot be read).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:").and_then(|v| u32::from_str_radix(v.trim(), 8).ok()))
        })
        .unwrap_or(0o022)
}

/// Gives a finished file its final mode (0644 less the umask), syncs it, and renames `part` to
/// `output` without ever replacing an existing file, then syncs the folder.
fn publish(file: File, part: &Path, output: &Path) -> anyhow::Result<()> {
    file.set_permissions(std::fs::Permissions::from_mode(0o644 & !umask()))
        .with_context(|| format!("{}: chmod", part.display()))?;
    file.sync_all().with_context(|| format!("{}: sync", part.display()))?;
    drop(file);
    rename_noreplace(part, output)?;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all(); // durability of the rename; some file systems refuse, harmlessly
    }
    Ok(())
}

fn rename_noreplace(from: &Path, to: &Path) -> anyhow::Result<()> {
    use nix::errno::Errno;
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::EEXIST) => bail!(
            "{}: exists already (created while recording); the recording stays in {}",
            to.display(),
            from.display()
        ),
        Err(Errno::EINVAL | Errno::ENOSYS) => {
            // A file system without RENAME_NOREPLACE: check, then rename (a small race).
            if to.symlink_metadata().is_ok() {
                bail!("{}: exists already; the recording stays in {}", to.display(), from.display());
            }
            std::fs::rename(from, to)
                .with_context(|| format!("{}: rename to {}", from.display(), to.display()))
        }
        Err(e) => Err(anyhow!(io::Error::from(e)))
            .with_context(|| format!("{}: rename to {}", from.display(), to.display())),
    }
}

/// Takes an exclusive `flock` on `file` through a duplicate descriptor (the lock belongs to the
/// open file, so it lasts while either descriptor is open); fails at once if another process
/// holds it.
fn lock_exclusive(file: &File) -> io::Result<nix::fcntl::Flock<File>> {
    use nix::fcntl::{Flock, FlockArg};
    Flock::lock(file.try_clone()?, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| io::Error::from(e))
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Eof,
    Signal,
    MaxDuration,
}

/// Records stdin into `output`: open `FILE.part`, pump, finish (rename to `FILE`).
fn record(opts: &Opts, spec: PcmSpec, output: &Path) -> anyhow::Result<()> {
    let part = part_path(output);
    let file = create_part(output, &part)?;
    // Held while recording (on a second descriptor of the same open file), so `--recover`
    // refuses a FILE.part that a live recorder is still writing.
    let _lock = lock_exclusive(&file).map_err(|e| anyhow!("{}: lock: {e}", part.display()))?;
    let mut rec = Recorder::open(opts, spec, file, part, output)?;
    let (end, read_error) = rec.pump()?;
    rec.finish(end, read_error)
}

/// Creates `FILE.part` (mode 0600), refusing when `FILE` or `FILE.part` exists.
fn create_part(output: &Path, part: &Path) -> anyhow::Result<File> {
    if output.symlink_metadata().is_ok() {
        bail!("{}: exists already; refusing to overwrite it (choose another name)", output.display());
    }
    // Read too: the VINYL_GAPS tag is set at the end by reading the header back.
    OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(part).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            anyhow!(
                "{}: exists already: an earlier recording was interrupted; run `{TOOL} --recover {}` or remove it",
                part.display(),
                part.display()
            )
        } else {
            anyhow!("{}: create: {e}", part.display())
        }
    })
}

/// A recording under way: the encoder writing `FILE.part`, the input and the counters.
struct Recorder {
    writer: FlacWriter<File>,
    /// `FILE.part` itself (the writer has a duplicate), to publish once the writer is finalized.
    file: File,
    input: PcmInput,
    notifier: Notifier,
    spec: PcmSpec,
    part: PathBuf,
    output: PathBuf,
    /// Whole frames, [`READ_BYTES`] at most.
    buf: Vec<u8>,
    /// Frames recorded so far.
    frames: u64,
    /// `--max-duration` in frames.
    max_frames: Option<u64>,
    /// `--sync-every` in frames (0: never).
    sync_frames: u64,
    /// The ring's gap journal, followed with `--ring`.
    gaps: GapTagger,
}

impl Recorder {
    /// Writes the FLAC header (with the tags) into `file`, syncs it, and tells systemd.
    fn open(
        opts: &Opts,
        spec: PcmSpec,
        file: File,
        part: PathBuf,
        output: &Path,
    ) -> anyhow::Result<Recorder> {
        let preroll = opts.preroll.map_or(0, |p| p.frames(spec.rate));
        let first_sample_time = SystemTime::now()
            .checked_sub(Duration::from_millis(preroll.saturating_mul(1000) / spec.rate as u64))
            .unwrap_or(SystemTime::now());
        let wopts = WriterOptions {
            level: opts.compression,
            tags: build_tags(opts, &spec, first_sample_time),
            ..WriterOptions::default()
        };
        let dup = file.try_clone().with_context(|| format!("{}: dup", part.display()))?;
        let mut writer = match FlacWriter::new(dup, spec, &wopts) {
            Ok(w) => w,
            Err(e) => {
                // No audio yet: a FILE.part with half a header would only confuse; remove it.
                let _ = std::fs::remove_file(&part);
                return Err(anyhow!("{}: {e:#}; nothing was recorded", part.display()));
            }
        };
        writer.flush().map_err(|e| failure(e, &part, &spec))?;
        let level = &LEVELS[opts.compression as usize];
        vlog!(TOOL, "{}: recording {spec}, compression {} ({})", part.display(), level.level, level.summary);
        let mut notifier = Notifier::from_env();
        notifier.ready();
        notifier.status(&format!("recording {}", output.display()));
        let fb = spec.frame_bytes();
        Ok(Recorder {
            writer,
            file,
            input: PcmInput::stdin(fb)?,
            notifier,
            spec,
            part,
            output: output.to_path_buf(),
            buf: vec![0u8; READ_BYTES / fb * fb],
            frames: 0,
            max_frames: opts.max_duration.map(|d| d.frames(spec.rate)),
            sync_frames: opts.sync_every.frames(spec.rate),
            gaps: GapTagger::open(opts)?,
        })
    }

    /// Encodes stdin until its end, a stop signal or `--max-duration`. A failed read ends the
    /// recording like the end of input and is returned with it, so that the file is finished
    /// first; `Err` is a failed write.
    fn pump(&mut self) -> anyhow::Result<(End, Option<anyhow::Error>)> {
        let fb = self.spec.frame_bytes();
        let mut last_sync: u64 = 0;
        loop {
            self.notifier.watchdog();
            if signals::stop_requested() {
                return Ok((End::Signal, None));
            }
            let left = self.max_frames.map_or(u64::MAX, |max| max.saturating_sub(self.frames));
            if left == 0 {
                return Ok((End::MaxDuration, None));
            }
            let want = self.buf.len().min(usize::try_from(left).unwrap_or(usize::MAX).saturating_mul(fb));
            let n = match self.input.wait_and_read(&mut self.buf[..want], Some(WAIT)) {
                Ok(Got::Idle) => continue,
                Ok(Got::End) => return Ok((End::Eof, None)),
                Ok(Got::Frames(n)) => n,
                Err(e) => return Ok((End::Eof, Some(e))),
            };
            self.writer.write_pcm(&self.buf[..n]).map_err(|e| failure(e, &self.part, &self.spec))?;
            self.frames += (n / fb) as u64;
            self.gaps.poll();
            if self.sync_frames > 0 && self.frames - last_sync >= self.sync_frames {
                self.writer.flush().map_err(|e| failure(e, &self.part, &self.spec))?;
                last_sync = self.frames;
                let done = crate::pcm::format_frames(self.frames, self.spec.rate);
                self.notifier.status(&format!("recording {}: {done}", self.output.display()));
            }
        }
    }

    /// Reports a partial last frame, finalizes the file (STREAMINFO, MD5), renames it to `FILE`
    /// and says why it ended; a read error is returned after that.
    fn finish(mut self, end: End, read_error: Option<anyhow::Error>) -> anyhow::Result<()> {
        self.notifier.stopping();
        let why = match end {
            End::Eof if read_error.is_some() => "input failed",
            End::Eof => "end of input",
            End::Signal => signals::stop_signal_name().unwrap_or("stop request"),
            End::MaxDuration => "--max-duration reached",
        };
        match end {
            End::Eof => self.input.report_partial(TOOL, "at the end of input"),
            End::Signal => self.input.report_partial(TOOL, "at the stop"),
            End::MaxDuration => {}
        }
        let (part, spec) = (&self.part, &self.spec);
        let summary = self.writer.finalize().map_err(|e| failure(e, part, spec))?;
        self.gaps.tag(&self.file, part, summary.samples);
        publish(self.file, part, &self.output)?;
        vlog!(
            TOOL,
            "{}: finished ({why}): {}, {} bytes",
            self.output.display(),
            spec.describe_frames(summary.samples),
            summary.bytes
        );
        match read_error {
            Some(e) => Err(anyhow!("{e:#}; the file holds everything read before it")),
            None => Ok(()),
        }
    }
}

/// Follows the ring's gap journal (`--ring`) and stores the recording's gaps in VINYL_GAPS.
struct GapTagger {
    ring: Option<(crate::ring::RingReader, crate::ring::GapWatch, u64)>,
}

impl GapTagger {
    fn open(opts: &Opts) -> anyhow::Result<GapTagger> {
        let (Some(path), Some(first)) = (&opts.ring, opts.start_frame) else {
            return Ok(GapTagger { ring: None });
        };
        let ring = crate::ring::RingReader::open(path, false)?;
        let mut watch = crate::ring::GapWatch::default();
        watch.poll(&ring, first);
        Ok(GapTagger { ring: Some((ring, watch, first)) })
    }

    /// One atomic load while nothing changes.
    fn poll(&mut self) {
        if let Some((ring, watch, first)) = &mut self.ring {
            watch.poll(ring, *first);
        }
    }

    /// Adds the gap tags (`VINYL_GAPS`, bounded, and `VINYL_GAPS_TOTAL` when it cannot list
    /// them all: see [`crate::ring::gaps`]) for the gaps inside the `samples` recorded, and logs
    /// each one. A failure leaves the file valid without the tags, and says so: the gaps are in
    /// this log either way.
    fn tag(&mut self, file: &File, part: &Path, samples: u64) {
        self.poll();
        let Some((ring, watch, first)) = &self.ring else { return };
        let (first, end) = (*first, first + samples);
        let tags = crate::ring::gaps::tags(watch.gaps(), watch.unlisted(), first, end);
        if tags.is_empty() {
            return;
        }
        let (shown, rate) = (part.display(), ring.config().spec.rate);
        for g in watch.gaps().iter().filter(|g| g.first < end && g.end() > first) {
            vlog!(TOOL, "{shown}: gap in the recording: {}", crate::ring::describe_gap(g, rate));
        }
        for u in watch.unlisted().iter().filter(|u| u.after < end && u.before > first) {
            vlog!(
                TOOL,
                "{shown}: {} left the ring's journal before they could be listed (it keeps the \
                 last 64); counted in VINYL_GAPS_TOTAL",
                u.describe(rate)
            );
        }
        if let Some((_, total)) = tags.iter().find(|(k, _)| k == "VINYL_GAPS_TOTAL") {
            let listed =
                tags.iter().find(|(k, _)| k == "VINYL_GAPS").map_or(0, |(_, v)| v.split(',').count());
            vlog!(TOOL, "{shown}: VINYL_GAPS lists {listed} gaps (the largest); VINYL_GAPS_TOTAL={total}");
        }
        if let Err(e) = crate::flac::meta::set_tags(file, &tags) {
            let shown_tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            vlog!(TOOL, "{shown}: {} could not be stored: {e:#}", shown_tags.join(" "));
        }
    }
}

/// The one-line message for a failed recording: the path, the step and the cause, and what the
/// file still holds when the writer saved it.
fn failure(err: WriteError, part: &Path, spec: &PcmSpec) -> anyhow::Error {
    let shown = part.display();
    match &err {
        WriteError::Output { kept, repair: None, .. } => anyhow!(
            "{shown}: {err}; recording stopped: the first {} are saved there as a valid FLAC file",
            spec.describe_frames(kept.samples)
        ),
        WriteError::Output { kept, .. } => anyhow!(
            "{shown}: {err}; recording stopped: the first {} were written; run `{TOOL} --recover {shown}`",
            spec.describe_frames(kept.samples)
        ),
        WriteError::Other(_) => anyhow!("{shown}: {err}"),
    }
}

/// `--recover FILE.part`: repair and rename to FILE.
fn recover(part: &Path) -> anyhow::Result<()> {
    let output = part
        .to_str()
        .and_then(|s| s.strip_suffix(".part"))
        .filter(|s| !s.is_empty() && !s.ends_with('/'))
        .map(PathBuf::from)
        .ok_or_else(|| {
            UsageError::new(format!("--recover {}: give the FILE.part a recorder left", part.display()))
        })?;
    if output.symlink_metadata().is_ok() {
        bail!("{}: exists already; refusing to overwrite it with {}", output.display(), part.display());
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(part)
        .with_context(|| format!("{}: open", part.display()))?;
    let _lock = lock_exclusive(&file).map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            anyhow!("{}: a recorder is still writing it; stop that recorder first", part.display())
        } else {
            anyhow!("{}: lock: {e}", part.display())
        }
    })?;
    let rep = flac::recover::repair(&mut file).with_context(|| format!("{}: recover", part.display()))?;
    let info = &rep.scan.info;
    let spec_desc = crate::pcm::format_frames(rep.scan.samples, info.sample_rate);
    vlog!(
        TOOL,
        "{}: recovered {} frames, {spec_desc} ({} samples){}; MD5 left unset (no decoding)",
        part.display(),
        rep.scan.frames,
        rep.scan.samples,
        if rep.truncated > 0 {
            format!(", cut {} bytes of a torn frame", rep.truncated)
        } else {
            String::new()
        }
    );
    publish(file, part, &output)?;
    vlog!(
        TOOL,
        "{}: finished: {spec_desc} ({} frames), {} bytes",
        output.display(),
        rep.scan.samples,
        rep.scan.end
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn part_path_appends() {
        assert_eq!(part_path(Path::new("/r/a.flac")), Path::new("/r/a.flac.part"));
    }

    #[test]
    fn automatic_tags_yield_to_the_users() {
        let o = Opts::try_parse_from([
            "r",
            "-o",
            "x",
            "--tag",
            "date=1999",
            "--tag",
            "ARTIST=A",
            "--start-frame",
            "123",
            "--preroll",
            "1s",
            "--rate",
            "44100",
        ])
        .unwrap();
        let tags = build_tags(&o, &o.pcm.spec(), SystemTime::now());
        let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["date", "ARTIST", "ENCODER", "VINYL_START_FRAME", "VINYL_PREROLL"]);
        assert_eq!(tags[4].1, "44100");
    }
}
