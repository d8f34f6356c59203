//! `vinyl-rec tracks FILE [--set LIST] [--json]`: print a recording's track markers, or replace
//! them in place.
//!
//! Owns the table and the JSON object of the markers and the conversion of `--set`'s times to
//! frames at the file's rate; the markers themselves (CUESHEET and chapter comments, the rules,
//! the in-place write) are [`crate::flac::cuesheet`]'s, the parsing of `--set` is
//! [`super::check::markers`]'s. How it fails: a malformed `--set`, or markers out of order or past
//! the end of the file, exit 2 before the file is written; a file that cannot be read or whose
//! padding is too small exits 1 with one line naming it and the step, the file unchanged.

use super::cli::TracksOpts;
use super::out;
use crate::cli::UsageError;
use crate::flac::cuesheet::{self, Markers};

/// Runs `tracks`.
pub fn tracks(o: &TracksOpts) -> anyhow::Result<()> {
    let path = &o.file;
    let shown = path.display();
    let set = o.set.as_deref().map(super::check::markers).transpose()?;
    let mut m = cuesheet::read(path)?;
    if let Some(set) = set {
        let frames: Vec<u64> = set.iter().map(|s| s.frames(m.rate)).collect();
        if m.total == 0 {
            anyhow::bail!(
                "{shown}: the file's length is unknown (STREAMINFO says 0 samples): finish it first"
            );
        }
        cuesheet::check(&frames, m.total).map_err(|e| UsageError::new(format!("--set: {shown}: {e}")))?;
        cuesheet::set_tracks(path, &frames)?;
        m = cuesheet::read(path)?;
    }
    if o.json {
        return out(&json(&path.to_string_lossy(), &m));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if o.cue {
        return out(cue(&name, &m).trim_end());
    }
    if o.breakpoints {
        return breakpoints(&m).iter().try_for_each(|b| out(b));
    }
    if m.offsets.is_empty() {
        crate::log::line(super::TOOL, format_args!("{shown}: no track markers (set them with --set)"));
    }
    out("TRACK\tSTART\tFRAME\tLENGTH")?;
    for (n, start, len) in rows(&m) {
        out(&format!("{n}\t{}\t{start}\t{}", clock(start, m.rate), clock(len, m.rate)))?;
    }
    Ok(())
}

/// Each track's number, first frame and length in frames.
fn rows(m: &Markers) -> Vec<(usize, u64, u64)> {
    let ends = m.offsets.iter().skip(1).copied().chain([m.total]);
    m.offsets.iter().zip(ends).enumerate().map(|(i, (&a, b))| (i + 1, a, b.saturating_sub(a))).collect()
}

/// Frames as a clock time `M:SS.mmm`, or `H:MM:SS.mmm` from an hour, to the nearest millisecond
/// (as the chapter tags are); `--set` reads it back.
pub fn clock(frames: u64, rate: u32) -> String {
    let ms = crate::pcm::millis(frames, rate);
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 { format!("{h}:{m:02}:{s:02}.{ms:03}") } else { format!("{m}:{s:02}.{ms:03}") }
}

/// The markers as a CUE sheet of the file named `file_name` (in its folder): `FILE "…" WAVE` (the
/// type CUE tools expect of any decodable file; a `"` in the name, which CUE cannot escape,
/// becomes `'`) and one `TRACK nn AUDIO` with `INDEX 01 MM:SS:FF` per marker, rounded to the
/// nearest 1/75 s.
pub fn cue(file_name: &str, m: &Markers) -> String {
    let mut s = format!("REM COMMENT \"vinyl-rec tracks\"\nFILE \"{}\" WAVE\n", file_name.replace('"', "'"));
    for (n, start, _) in rows(m) {
        let cd = (start as u128 * 75 + m.rate as u128 / 2) / m.rate.max(1) as u128;
        let (min, sec, frame) = (cd / 75 / 60, cd / 75 % 60, cd % 75);
        s.push_str(&format!("  TRACK {n:02} AUDIO\n    INDEX 01 {min:02}:{sec:02}:{frame:02}\n"));
    }
    s
}

/// shnsplit's split points: every track start but the first, `M:SS.mmm` to the nearest
/// millisecond (minutes past 59 for long files: shnsplit reads no hours).
pub fn breakpoints(m: &Markers) -> Vec<String> {
    let starts = rows(m).into_iter().map(|(_, start, _)| start).filter(|&s| s > 0);
    starts
        .map(|start| {
            let ms = crate::pcm::millis(start, m.rate);
            format!("{}:{:02}.{:03}", ms / 60_000, ms / 1000 % 60, ms % 1000)
        })
        .collect()
}

/// The markers as one JSON object on one line: `path`, `rate` (Hz), `frames` (the file's length),
/// `source` (`cuesheet`, `chapters` or `none`) and `tracks`, an array of
/// `{"number","start_frame","start","frames"}` (`start` as [`clock`] prints it).
pub fn json(path: &str, m: &Markers) -> String {
    let tracks = rows(m)
        .into_iter()
        .map(|(number, start_frame, frames)| TrackJson {
            number,
            start_frame,
            start: clock(start_frame, m.rate),
            frames,
        })
        .collect();
    let j = TracksJson { path, rate: m.rate, frames: m.total, source: m.source.name(), tracks };
    // Numbers and strings: serialising cannot fail.
    serde_json::to_string(&j).unwrap_or_default()
}

/// The object [`json`] prints, its keys in this order.
#[derive(serde::Serialize)]
struct TracksJson<'a> {
    path: &'a str,
    rate: u32,
    frames: u64,
    source: &'static str,
    tracks: Vec<TrackJson>,
}

/// One track in [`json`].
#[derive(serde::Serialize)]
struct TrackJson {
    number: usize,
    start_frame: u64,
    start: String,
    frames: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flac::cuesheet::Source;

    #[test]
    fn clock_times_round_like_the_chapter_tags_and_read_back() {
        assert_eq!(clock(0, 48_000), "0:00.000");
        assert_eq!(clock(9_240_000, 48_000), "3:12.500");
        assert_eq!(clock(47, 48_000), "0:00.001");
        // 59.5094 s: the chapter tag says 00:00:59.509, and so does the table.
        assert_eq!(clock(2_856_451, 48_000), "0:59.509");
        assert_eq!(cuesheet::chapter_time(2_856_451, 48_000), "00:00:59.509");
        assert_eq!(clock(2_856_456, 48_000), "0:59.510");
        assert_eq!(cuesheet::chapter_time(2_856_456, 48_000), "00:00:59.510");
        assert_eq!(clock(48_000 * 3723, 48_000), "1:02:03.000");
        let back = super::super::check::marker(&clock(9_240_000, 48_000)).unwrap();
        assert_eq!(back.frames(48_000), 9_240_000);
    }

    #[test]
    fn json_is_one_line_with_each_track() {
        let m = Markers { offsets: vec![0, 48_000], total: 120_000, rate: 48_000, source: Source::Cuesheet };
        assert_eq!(
            json("a\"b.flac", &m),
            "{\"path\":\"a\\\"b.flac\",\"rate\":48000,\"frames\":120000,\"source\":\"cuesheet\",\"tracks\":[\
             {\"number\":1,\"start_frame\":0,\"start\":\"0:00.000\",\"frames\":48000},\
             {\"number\":2,\"start_frame\":48000,\"start\":\"0:01.000\",\"frames\":72000}]}"
        );
        let none = Markers { offsets: vec![], total: 1, rate: 48_000, source: Source::None };
        assert!(json("x", &none).ends_with("\"source\":\"none\",\"tracks\":[]}"));
    }
}
