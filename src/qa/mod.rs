//! `vinyl-qa`: the turntable's health, measured on one recorded side or test record (issue 22,
//! first part): speed and wow and flutter from a 3150 Hz tone, channel separation from 1 kHz on
//! one channel, and on every side the noise floor, clicks and pops, clipping, treble, rumble and
//! gain, scored 0–100 with a reason for every point lost.
//!
//! Its parts: [`cli`] (the flags), [`input`] (FLAC or raw PCM on stdin), [`analyser`] (half-second
//! chunks, what each is, the tones followed), [`levels`] (the per-sample pass: levels, peak,
//! clipping, clicks), [`spectrum`] (one FFT a chunk: bands and peaks), [`wow`] (the demodulator
//! and the wow-and-flutter figures) through [`filters`] (the IEC 60386 weighting, Butterworth
//! splits), [`side`] (noise floor, SNR, rumble, treble over the whole side), [`drift`] (the deck's
//! speed drift against another recording of the side the collection learned, and its run-out
//! speed from the `VINYL_RPM` tag), [`health`] (the
//! score's rule), [`report`] (the JSON keys and the text summary) and [`history`] (the reports
//! the collection keeps, and their trends).
//!
//! Owns the run: read, analyse, print one JSON object (or `--text`), and with `--store` keep it
//! in the collection as the file's report (after printing it: a collection that cannot be
//! written costs the printed report nothing). The collection is only read for the drift: a
//! missing one, or one that cannot be read, leaves `speed_drift_pct` null (the second said in one
//! line, after the report). How it fails: one line naming the input and the
//! step; a file that is not FLAC, and `--store` on stdin, are usage errors (exit 2); no audio,
//! under a second of it, a file that cannot be read, or a collection that cannot be written
//! exits 1; stdin that ends inside a frame still gets its report, then exits 1 with the line
//! saying so.

pub mod analyser;
pub mod cli;
pub mod drift;
pub mod filters;
pub mod health;
pub mod history;
pub mod input;
pub mod levels;
pub mod plot;
pub mod report;
pub mod series;
pub mod side;
pub mod spectrum;
#[cfg(test)]
mod testsig;
pub mod wow;

use std::path::Path;
use std::time::{Duration, Instant};

pub use cli::Opts;

/// The tool's name in log lines.
pub const TOOL: &str = "vinyl-qa";

/// Seconds of audio needed for a report.
pub const MIN_SECONDS: f64 = 1.0;

/// Measures the input and prints the report (and stores it, `--store`; draws it, `--plot`), or
/// runs `history`.
pub fn run(o: Opts) -> anyhow::Result<()> {
    let db = || o.db.clone().map_or_else(crate::library::default_db, Ok);
    let input = match (&o.command, &o.input) {
        (Some(cli::Command::History { album, text, plot, .. }), _) => {
            return history::run(&db()?, album.as_deref(), *text, plot.as_deref());
        }
        (None, Some(input)) => input.clone(),
        (None, None) => {
            return Err(crate::cli::UsageError::new("give the audio: a FLAC file, or - for stdin").into());
        }
    };
    let stdin = input.as_os_str() == "-";
    if o.store && stdin {
        return Err(crate::cli::UsageError::new(
            "--store: stores a FLAC file's report; stdin is no recording",
        )
        .into());
    }
    let (r, partial, drift_error) = measure(&input, &o, db().ok().as_deref())?;
    let json = serde_json::to_string(&r)?;
    crate::library::print_text(&if o.text { r.text() } else { format!("{json}\n") })?;
    if o.store {
        // The collection knows a recording by its absolute path (as vinyl-library name links it).
        let file = std::path::absolute(&input).unwrap_or_else(|_| input.clone());
        store(&db()?, &file, &r.stored_json(), o.store_wait.wall_time(1))?;
    }
    // After the store: a collection that cannot be read is said once, by the store when it
    // fails too.
    if let Some(e) = drift_error {
        crate::vlog!(TOOL, "speed drift left out: {e:#}");
    }
    if let Some(dir) = &o.plot {
        plot::write_all(dir, &input, &r)?;
    }
    if let Some((bytes, frame)) = partial {
        let name = if stdin { "stdin".to_string() } else { input.display().to_string() };
        anyhow::bail!(
            "{name}: read: the input ended {bytes} bytes into a {frame}-byte frame, left out of the report (are --format and --channels right?)"
        );
    }
    Ok(())
}

/// How long a report waiting for a locked collection pauses between two tries (each try itself
/// waits out the busy timeout).
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Stores report `json` as `file`'s in the collection at `db`. While another writer holds the
/// collection past its busy timeout, tries again for up to `wait`, saying so once: a report is
/// a side's analysis, and the lock is another tool's passing work.
fn store(db: &Path, file: &Path, json: &str, wait: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + wait;
    let mut said = false;
    loop {
        match crate::library::db::Library::open(db).and_then(|mut lib| lib.store_report(file, json)) {
            Err(e) if crate::library::db::is_busy(&e) && Instant::now() < until => {
                if !said {
                    let left = until.saturating_duration_since(Instant::now()).as_secs();
                    crate::vlog!(
                        TOOL,
                        "{}: locked by another writer: the report waits (up to {left} s more)",
                        db.display()
                    );
                    said = true;
                }
                std::thread::sleep(STORE_RETRY);
            }
            Ok(()) if said => {
                crate::vlog!(TOOL, "{}: the report is stored", db.display());
                return Ok(());
            }
            done => return done,
        }
    }
}

/// What [`measure`] returns: the report, the bytes of a partial last frame and the frame's size
/// when the input ended inside one, and why the collection could not be read for the drift.
type Measured = (report::Report, Option<(usize, usize)>, Option<anyhow::Error>);

/// Reads and measures `input`, its drift against the collection at `db` in the same read.
fn measure(input: &std::path::Path, o: &Opts, db: Option<&std::path::Path>) -> anyhow::Result<Measured> {
    let stdin = input.as_os_str() == "-";
    let (shape, probe) = input::shape(input, &o.pcm)?;
    let name = if stdin { "stdin".to_string() } else { input.display().to_string() };
    let mut a = analyser::Analyser::new(shape.rate, shape.channels, shape.bits, o.reference);
    let mut drift = drift::Drift::new(input, probe.as_ref(), shape, db);
    let read = input::each(input, shape, |pcm| {
        a.feed(pcm);
        drift.feed(pcm);
    })?;
    a.finish();
    let seconds = a.frames as f64 / f64::from(shape.rate);
    if a.frames == 0 {
        anyhow::bail!("{name}: read: no audio (no whole frame)");
    }
    if seconds < MIN_SECONDS {
        anyhow::bail!(
            "{name}: analyse: {seconds:.3} s of audio is too short to measure (at least {MIN_SECONDS} s)"
        );
    }
    let shown = if stdin { "-".to_string() } else { input.display().to_string() };
    let mut r = report::build(&mut a, &shown, o.reference);
    let error = drift.take_error();
    r.speeds(drift.finish(), drift::runout_speed_pct(probe.as_ref()));
    if !stdin {
        // The track markers, for the level plot: a file whose markers cannot be read has none.
        if let Ok(m) = crate::flac::cuesheet::read(input) {
            r.series.markers_s = m.offsets.iter().map(|&o| o as f64 / f64::from(m.rate.max(1))).collect();
        }
    }
    let frame = shape.channels * (shape.bits as usize / 8);
    Ok((r, (read.partial_bytes > 0).then_some((read.partial_bytes, frame)), error))
}
