//! `vinyl-listen --status FILE`: what an events file says now, for `vinyl-up --status`: the
//! turntable's state, the latest levels and the last side's report.
//!
//! Owns only the reading of the file's tail (the last 256 KiB of FILE, then of FILE.1 when the
//! state is not there: a `state` event comes at least every 5 s, so it is always near the end) and
//! the wording. Fails (exit 1) when neither file holds an event.

use anyhow::bail;
use serde_json::Value;
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
    state: Option<Value>,
    level: Option<Value>,
    report: Option<Value>,
}

impl Latest {
    /// Takes the newest of each kind from `text`, keeping what is already known (newer).
    fn take(&mut self, text: &str) {
        for v in text.lines().rev().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
            let slot = match v["event"].as_str() {
                Some("state") => &mut self.state,
                Some("level") => &mut self.level,
                Some("side_report") => &mut self.report,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
    }

    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(s) = &self.state {
            let (side, track) = (s["side"].as_u64().unwrap_or(0), s["track"].as_u64().unwrap_or(0));
            let what = match s["state"].as_str().unwrap_or("") {
                "playing" => format!("playing side {side}, track {track}"),
                "lead-in" => format!("side {side}: in the lead-in"),
                "runout" => format!("side {side} ended: in the run-out"),
                other => other.to_string(),
            };
            out.push(format!("state:     {what} (at frame {})", s["frame"]));
        }
        if let Some(l) = &self.level {
            let ch = |key: &str| -> Vec<String> {
                l[key].as_array().map_or(Vec::new(), |a| {
                    a.iter().map(|v| v.as_f64().map_or("-inf".into(), |x| format!("{x:.1}"))).collect()
                })
            };
            let (rms, peak) = (ch("rms_dbfs"), ch("peak_dbfs"));
            let each: Vec<String> = rms.iter().zip(&peak).map(|(r, p)| format!("{r} (peak {p})")).collect();
            out.push(format!(
                "levels:    {} dBFS, {} clipped (at frame {})",
                each.join(" / "),
                l["clipped"],
                l["frame"]
            ));
        }
        if let Some(r) = &self.report {
            let num =
                |k: &str, unit: &str| r[k].as_f64().map_or("-".to_string(), |x| format!("{x:.1}{unit}"));
            out.push(format!(
                "last side: side {}: {} tracks, {}, range {}, true peak {}, noise {}, {} clicks/min",
                r["side"],
                r["tracks"],
                num("integrated_lufs", " LUFS"),
                num("loudness_range_lu", " LU"),
                num("true_peak_dbtp", " dBTP"),
                num("noise_floor_dbfs", " dBFS"),
                num("clicks_per_min", "")
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
            "{\"event\":\"state\",\"frame\":10,\"state\":\"idle\",\"side\":0,\"track\":0}\n",
            "{\"event\":\"side_report\",\"side\":1,\"tracks\":4,\"integrated_lufs\":-18.24,\"loudness_range_lu\":7.0,",
            "\"true_peak_dbtp\":-1.0,\"noise_floor_dbfs\":-58.0,\"clicks_per_min\":12.0}\n",
            "{\"event\":\"state\",\"frame\":20,\"state\":\"playing\",\"side\":2,\"track\":3}\n",
            "{\"event\":\"level\",\"frame\":30,\"rms_dbfs\":[-23.1,null],\"peak_dbfs\":[-12.0,null],\"clipped\":0}\n",
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
