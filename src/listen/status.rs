//! `vinyl-listen --status FILE`: what an events file says now, for `vinyl-up --status`: the
//! turntable's state, the latest levels and the last side's report.
//!
//! Owns only the reading of the file's tail (the last 256 KiB of FILE, then of FILE.1 when the
//! state is not there: a `state` event comes at least every 5 s, so it is always near the end) and
//! the wording. Fails (exit 1) when neither file holds an event.

use crate::events::{self as ev, Event, Line};
use anyhow::bail;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

const TAIL: u64 = 256 * 1024;

/// Prints the summary of `file` on stdout.
pub fn print(file: &Path) -> anyhow::Result<()> {
    let rotated = PathBuf::from(format!("{}.1", file.display()));
    let mut found = Latest::default();
    for f in [file, rotated.as_path()] {
        found.take(&tail(f));
        if found.state.is_some() && found.level.is_some() {
            break;
        }
    }
    if found.state.is_none() && found.level.is_none() {
        bail!("{}: no events (is vinyl-listen --output {} running?)", file.display(), file.display());
    }
    for line in found.lines() {
        println!("{line}");
    }
    Ok(())
}

fn tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
    let mut bytes = Vec::new();
    let _ = f.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The newest event of each kind that matters here.
#[derive(Default)]
struct Latest {
    state: Option<ev::State>,
    level: Option<ev::Level>,
    report: Option<ev::SideReport>,
}

impl Latest {
    /// Takes the newest of each kind from `text`, keeping what is already known (newer); a line
    /// that is not a whole event is passed over.
    fn take(&mut self, text: &str) {
        for line in text.lines().rev() {
            match ev::parse(line) {
                Ok(Line::Event(Event::State(s))) => _ = self.state.get_or_insert(s),
                Ok(Line::Event(Event::Level(l))) => _ = self.level.get_or_insert(l),
                Ok(Line::Event(Event::SideReport(r))) => _ = self.report.get_or_insert(r),
                _ => {}
            }
        }
    }

    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(s) = &self.state {
            let (side, track) = (s.side, s.track);
            let what = match s.state.as_str() {
                "playing" => format!("playing side {side}, track {track}"),
                "lead-in" => format!("side {side}: in the lead-in"),
                "runout" => format!("side {side} ended: in the run-out"),
                other => other.to_string(),
            };
            out.push(format!("state:     {what} (at frame {})", s.frame));
        }
        if let Some(l) = &self.level {
            let ch = |v: &[Option<f64>]| -> Vec<String> {
                v.iter().map(|x| x.map_or("-inf".into(), |x| format!("{x:.1}"))).collect()
            };
            let (rms, peak) = (ch(&l.rms_dbfs), ch(&l.peak_dbfs));
            let each: Vec<String> = rms.iter().zip(&peak).map(|(r, p)| format!("{r} (peak {p})")).collect();
            out.push(format!(
                "levels:    {} dBFS, {} clipped (at frame {})",
                each.join(" / "),
                l.clipped,
                l.frame
            ));
        }
        if let Some(r) = &self.report {
            let num = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |x| format!("{x:.1}{unit}"));
            out.push(format!(
                "last side: side {}: {} tracks, {}, range {}, true peak {}, noise {}, {} clicks/min",
                r.side,
                r.tracks,
                num(r.integrated_lufs, " LUFS"),
                num(r.loudness_range_lu, " LU"),
                num(r.true_peak_dbtp, " dBTP"),
                num(r.noise_floor_dbfs, " dBFS"),
                num(r.clicks_per_min, "")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_state_levels_and_report_are_told() {
        let mut l = Latest::default();
        l.take(concat!(
            "{\"event\":\"state\",\"frame\":10,\"at\":10,\"state\":\"idle\",\"side\":0,\"track\":0}\n",
            "{\"event\":\"side_report\",\"frame\":15,\"at\":15,\"start_frame\":1,\"side\":1,\"tracks\":4,",
            "\"integrated_lufs\":-18.24,\"loudness_range_lu\":7.0,\"peak_dbfs\":-2.0,\"headroom_db\":2.0,\"clipped\":0,",
            "\"true_peak_dbtp\":-1.0,\"noise_floor_dbfs\":-58.0,\"clicks_per_min\":12.0}\n",
            "{\"event\":\"state\",\"frame\":20,\"at\":20,\"state\":\"playing\",\"side\":2,\"track\":3}\n",
            "{\"event\":\"level\",\"frame\":30,\"at\":30,\"rms_dbfs\":[-23.1,null],\"peak_dbfs\":[-12.0,null],\"clipped\":0}\n",
            "not json\n"
        ));
        let text = l.lines().join("\n");
        assert!(text.contains("state:     playing side 2, track 3 (at frame 20)"), "{text}");
        assert!(
            text.contains("levels:    -23.1 (peak -12.0) / -inf (peak -inf) dBFS, 0 clipped (at frame 30)"),
            "{text}"
        );
        assert!(text.contains("side 1: 4 tracks, -18.2 LUFS, range 7.0 LU"), "{text}");
    }
}
