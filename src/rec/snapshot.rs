//! `vinyl-rec snapshot`: save the last D of the ring as a finished file, in the foreground.
//!
//! Phases: check the request → read the ring → compute the window (the whole ring when it holds
//! less than D, with a warning) → choose the file → run `vinyl-preroll tap --from-frame START
//! --duration Nf | vinyl-flac-rec …` to the end → print the path and the duration. It takes no
//! lock and leaves no state: it works while a recording runs and after the ring's writer stopped.
//! How it fails: exit 2 for a bad request or a zero length; exit 1 naming the ring (no ring, an
//! empty ring) or the file (the name exists, a filter failed, with its status).

use super::check;
use super::plan::{self, Recording};
use super::runner::Pipeline;
use super::stamp::Stamp;
use super::state::ensure_run_dir;
use super::stop::duration_line;
use super::{Settings, TOOL, Target, out, recording_path};
use crate::cli::UsageError;
use crate::rec::cli::SnapshotOpts;
use crate::vlog;
use anyhow::bail;

/// Runs `snapshot`.
pub fn snapshot(s: &Settings, o: &SnapshotOpts) -> anyhow::Result<()> {
    let now = Stamp::now();
    let target = Target::check(s, &o.record, "snap", &now)?;
    let last = check::duration("--last", &o.last)?;
    ensure_run_dir(&s.run_dir)?;

    let ring = plan::read_ring(&target.ring)?;
    let want = last.frames(ring.spec.rate);
    if want == 0 {
        return Err(UsageError::new("--last: give a length above zero").into());
    }
    let (start, short) = check::start_frame(ring.head, ring.oldest, want);
    if short {
        let held = crate::pcm::format_frames(ring.head - start, ring.spec.rate);
        vlog!(TOOL, "the ring holds only {held}: the snapshot is that long instead of {}", o.last);
    }
    let frames = ring.head - start;
    if frames == 0 {
        bail!("{}: the ring is empty", ring.path.display());
    }
    let path = recording_path(&target.dir, &target.name, &now)?;
    let rec = Recording {
        path: &path,
        start,
        preroll_frames: frames,
        compression: s.compression.as_deref(),
        tags: &target.tags,
    };
    let pipeline =
        Pipeline::spawn(&plan::tap_args(&ring, start, Some(frames)), &plan::flac_args(&ring, &rec), |_| {
            Ok(())
        })?;
    let (tap, flac) = pipeline.wait()?;
    let shown = path.display();
    if tap != 0 {
        bail!("{shown}: vinyl-preroll tap failed (status {tap})");
    }
    if flac != 0 {
        bail!("{shown}: vinyl-flac-rec failed (status {flac})");
    }
    super::out_path(&path)?;
    out(&duration_line(&path)?)
}
