//! `vinyl-qa history ALBUM|--deck`: the health reports the collection keeps (one a recording,
//! stored by `vinyl-qa --store FILE` and after each side `vinyl-rec auto` keeps) and the trends
//! they show, by the rules of [`crate::library::reports`]. Prints one JSON object, or with
//! `--text` a line a report and a line a trend.
//!
//! Owns the choice of the reports (an album's, or every one for the deck) and their printing. It
//! does not analyse audio nor write the collection. How it fails: a missing collection is said
//! and exits 1 (it is not created); an album nothing matches, or that matches more than one
//! album, is a usage error (exit 2); stored reports that are not JSON are skipped and counted,
//! said once.

use super::plot::HealthPoint;
use crate::library::db::Library;
use crate::library::reports::{self, Report, Trend};
use anyhow::Context as _;
use serde::Serialize;
use std::path::Path;

/// What `history` prints.
#[derive(Serialize)]
struct History<'a> {
    /// `Artist – Album`, or `deck`.
    scope: String,
    /// The reports, oldest first.
    reports: &'a [Report],
    /// The changes they show.
    trends: Vec<Trend>,
}

/// Prints the history of the album `which` names (its number, or words of its artist and title),
/// or of every recording (`None`), from the collection `db`.
pub fn run(db: &Path, which: Option<&str>, text: bool, plot: Option<&Path>) -> anyhow::Result<()> {
    if !db.exists() {
        anyhow::bail!("{}: no collection there, so no health reports yet", db.display());
    }
    let lib = Library::open(db)?;
    let (scope, stored) = match which {
        Some(which) => {
            let found = crate::library::find_albums(&lib.albums()?, which)?;
            if let [_, _, ..] = found.as_slice() {
                let names: Vec<String> =
                    found.iter().map(|a| format!("{} ({} – {})", a.id, a.artist, a.title)).collect();
                return Err(crate::cli::UsageError::new(format!(
                    "{which:?} matches {} albums: {}; give one's number",
                    found.len(),
                    names.join(", ")
                ))
                .into());
            }
            (format!("{} – {}", found[0].artist, found[0].title), lib.reports(Some(found[0].id))?)
        }
        None => ("deck".to_string(), lib.reports(None)?),
    };
    if stored.unreadable > 0 {
        crate::vlog!(
            super::TOOL,
            "{}: {} stored reports are not JSON (a damaged file): left out",
            db.display(),
            stored.unreadable
        );
    }
    let h = History { scope, trends: reports::trends(&stored.reports), reports: &stored.reports };
    let out = if text { as_text(&h) } else { serde_json::to_string(&h)? + "\n" };
    crate::library::print_text(&out)?;
    if let Some(file) = plot {
        let Some(svg) = health_plot(&h.scope, h.reports)? else {
            crate::vlog!(super::TOOL, "{}: no report with a health score: no plot", h.scope);
            return Ok(());
        };
        std::fs::write(file, svg).with_context(|| format!("{}: write the plot", file.display()))?;
    }
    Ok(())
}

/// The health trend of `reports` (oldest first) as SVG, a line a side, titled by `scope`; `None`
/// when none has a health score.
pub fn health_plot(scope: &str, reports: &[Report]) -> anyhow::Result<Option<String>> {
    let points: Vec<HealthPoint> = reports
        .iter()
        .filter_map(|r| {
            let side = r.side.as_deref().map_or("not named".to_string(), |s| format!("side {s}"));
            let line = match (&r.album, scope) {
                (Some(a), "deck") => format!("{a}, {side}"),
                _ => side,
            };
            Some(HealthPoint { when: r.when.clone(), line, health: r.figures.health? })
        })
        .collect();
    super::plot::health(&points, &super::plot::title("health", scope))
}

/// The text summary: a line a report, then a line a trend.
fn as_text(h: &History) -> String {
    let mut s = format!("{}: {} health reports\n", h.scope, h.reports.len());
    for r in h.reports {
        let f = &r.figures;
        let num = |v: Option<f64>, unit: &str| v.map_or("?".to_string(), |v| format!("{v:.1}{unit}"));
        let what = match (&r.album, &r.side) {
            (Some(a), Some(side)) => format!("{a}, side {side}"),
            _ => "(not named)".to_string(),
        };
        s += &format!(
            "{}  {what}  health {}  clicks {}  treble {}  noise {}  {}\n",
            crate::time::shown_local(&r.when),
            f.health.map_or("?".to_string(), |h| format!("{h:.0}")),
            num(f.clicks_per_min, "/min"),
            num(f.hf_rolloff_db, " dB"),
            num(f.noise_floor_dbfs, " dBFS"),
            r.path
        );
    }
    if h.trends.is_empty() {
        s += "no change over the reports' rules (a record side needs two reports)\n";
    }
    for t in &h.trends {
        s += &t.text;
        s.push('\n');
    }
    s
}
