//! What a recording is made of: the ring's state read from its header, and the command lines of
//! the two filters, `vinyl-preroll tap …` and `vinyl-flac-rec …`, built from it.
//!
//! Owns the mapping from the ring (format, head, oldest frame, time of frame 0) to the filters'
//! documented flags, so `start`, `snapshot` and the runner pass exactly the same ones. It reads
//! the ring's header directly ([`RingReader`]), never takes its lock and never copies frames.
//! How it fails: no ring, not a ring, or a ring of another layout version is an error naming
//! the ring's path (exit 1).

use crate::pcm::PcmSpec;
use crate::ring::RingReader;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The ring's state at one moment, as a recording needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingView {
    /// The ring's path.
    pub path: PathBuf,
    /// Its format, rate and channels.
    pub spec: PcmSpec,
    /// The next frame to be written (frames below it are in the ring).
    pub head: u64,
    /// The oldest frame the ring guarantees.
    pub oldest: u64,
    /// The wall-clock time of frame 0 (Unix ns), once a frame was written.
    pub frame0_unix_ns: Option<u64>,
    /// A writer holds the ring.
    pub writer_alive: bool,
    /// The ring's timeline: the tap is pinned to it, so a start frame read here is never
    /// applied to the audio of another timeline.
    pub timeline: u64,
    /// How many frames it holds.
    pub capacity: u64,
}

impl RingView {
    /// When its frame `frame` was captured ([`crate::time::frame_time`]), once a frame was written.
    pub fn time_of(&self, frame: u64) -> Option<String> {
        Some(crate::time::frame_time(self.frame0_unix_ns?, frame, self.spec.rate))
    }
}

/// Reads the ring's header at `path`.
pub fn read_ring(path: &Path) -> anyhow::Result<RingView> {
    let ring = RingReader::open(path, false)?;
    let snap = ring.snapshot().map_err(|e| anyhow::anyhow!("{}: corrupt ring: {e}", path.display()))?;
    let writer_alive = ring.writer_alive()?;
    Ok(RingView {
        path: path.to_path_buf(),
        spec: ring.config().spec,
        head: snap.head,
        oldest: ring.oldest(snap.head),
        frame0_unix_ns: (snap.frame0_unix_ns > 0).then_some(snap.frame0_unix_ns),
        writer_alive,
        timeline: snap.timeline,
        capacity: ring.config().capacity_frames,
    })
}

/// The ring's head now, for `status` (`None` when it cannot be read).
pub fn ring_head(path: &Path) -> Option<u64> {
    RingReader::open(path, false).ok().and_then(|r| r.head().ok())
}

/// The flags both filters take for the ring's PCM.
fn pcm_flags(spec: &PcmSpec) -> Vec<OsString> {
    [
        "--rate",
        &spec.rate.to_string(),
        "--channels",
        &spec.channels.to_string(),
        "--format",
        spec.format.name(),
    ]
    .map(OsString::from)
    .into()
}

/// `vinyl-preroll`'s arguments: `tap --ring RING --timeline T --from-frame START [--duration
/// Nf]` and the ring's PCM flags.
pub fn tap_args(ring: &RingView, start: u64, frames: Option<u64>) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["tap".into(), "--ring".into(), ring.path.clone().into()];
    a.extend(["--timeline".into(), ring.timeline.to_string().into()]);
    a.extend(["--from-frame".into(), start.to_string().into()]);
    if let Some(n) = frames {
        a.extend(["--duration".into(), format!("{n}f").into()]);
    }
    a.extend(pcm_flags(&ring.spec));
    a
}

/// What `vinyl-flac-rec` is told about a recording.
#[derive(Clone, Debug)]
pub struct Recording<'a> {
    /// The finished file's path.
    pub path: &'a Path,
    /// The first frame (a ring frame number).
    pub start: u64,
    /// How many frames of it lie before the moment it was asked for.
    pub preroll_frames: u64,
    /// `VINYL_COMPRESSION`, passed on as given (the recorder checks it).
    pub compression: Option<&'a str>,
    /// The `--tag` values, checked.
    pub tags: &'a [String],
}

/// `vinyl-flac-rec`'s arguments for `rec` on `ring` (with `--ring`, so the gaps inside the
/// recording land in its VINYL_GAPS tag).
pub fn flac_args(ring: &RingView, rec: &Recording<'_>) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["-o".into(), rec.path.into()];
    a.extend(["--start-frame".into(), rec.start.to_string().into()]);
    a.extend(["--ring".into(), ring.path.clone().into()]);
    a.extend(["--preroll".into(), format!("{}f", rec.preroll_frames).into()]);
    if let Some(ns) = ring.frame0_unix_ns {
        a.extend(["--capture-start".into(), crate::time::rfc3339_utc(ns).into()]);
    }
    if let Some(c) = rec.compression {
        a.extend(["--compression".into(), c.into()]);
    }
    a.extend(pcm_flags(&ring.spec));
    for t in rec.tags {
        a.extend(["--tag".into(), t.into()]);
    }
    a
}

/// Checks that a recording can follow the ring live: a writer must be filling it.
pub fn require_writer(ring: &RingView) -> anyhow::Result<()> {
    if ring.writer_alive {
        return Ok(());
    }
    anyhow::bail!(
        "{}: no writer is filling the ring (start vinyl-up or vinyl-preroll fill first)",
        ring.path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> RingView {
        RingView {
            path: "/dev/shm/r".into(),
            spec: PcmSpec::default(),
            head: 100,
            oldest: 0,
            frame0_unix_ns: Some(1_795_547_700_000_000_000),
            writer_alive: true,
            timeline: 7,
            capacity: 1_440_000,
        }
    }

    fn strings(a: &[OsString]) -> Vec<String> {
        a.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_tap_reads_from_the_start_frame_in_the_ring_format() {
        assert_eq!(
            strings(&tap_args(&ring(), 40, Some(60))),
            "tap --ring /dev/shm/r --timeline 7 --from-frame 40 --duration 60f --rate 48000 --channels 2 --format s16le"
                .split(' ')
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_recorder_is_told_where_the_recording_starts() {
        let tags = ["TITLE=Side A".to_string()];
        let rec = Recording {
            path: Path::new("/r/a.flac"),
            start: 40,
            preroll_frames: 60,
            compression: Some("5"),
            tags: &tags,
        };
        let a = strings(&flac_args(&ring(), &rec));
        assert_eq!(
            a[..8],
            ["-o", "/r/a.flac", "--start-frame", "40", "--ring", "/dev/shm/r", "--preroll", "60f"]
        );
        assert!(a.windows(2).any(|w| w == ["--capture-start", "2026-11-24T19:15:00.000Z"]));
        assert!(a.windows(2).any(|w| w == ["--compression", "5"]));
        assert_eq!(a[a.len() - 2..], ["--tag", "TITLE=Side A"]);
        let bare = Recording { compression: None, tags: &[], ..rec };
        let a = strings(&flac_args(&RingView { frame0_unix_ns: None, ..ring() }, &bare));
        assert!(!a.iter().any(|s| s == "--capture-start" || s == "--compression" || s == "--tag"));
    }
}
