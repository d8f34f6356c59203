//! The plots of a report and of a record's history, as SVG: the side's level over time with its
//! track markers, the noise floor's spectrum, a speed tone's wow-and-flutter spectrum, and the
//! health trend of an album's sides (`vinyl-qa --plot`, `vinyl-qa history --plot` and the page).
//!
//! Owns the drawing, through plotters (its SVG backend only: no font files, no raster code; the
//! browser sets the text). It does not measure (see [`super::series`]) nor read the collection.
//! How it fails: a plot without data is `None` (no noise floor, no speed tone, no report); a
//! drawing error (plotters reports none for an in-memory SVG short of a bug) names the plot.

use super::report::Report;
use super::series::Series;
use anyhow::{Context as _, anyhow};
use plotters::prelude::*;
use std::path::Path;

/// The plots' size (px).
const SIZE: (u32, u32) = (760, 320);
/// Each side's colour on the health trend, in turn.
const COLOURS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
/// The track markers' colour (a light grey).
const MARKER: RGBColor = RGBColor(150, 150, 150);

/// The kinds of a recording's plots, as `--plot` names their files and the page their URLs.
pub const KINDS: [&str; 3] = crate::library::reports::PLOT_KINDS;

/// The plot `kind` (one of [`KINDS`]) of a report's series, titled `title`; `None` when the
/// report holds no data for it.
pub fn of_series(kind: &str, s: &Series, title: &str) -> anyhow::Result<Option<String>> {
    match kind {
        "level" => level(s, title),
        "noise" => spectrum(&s.noise_spectrum, title, Spectrum::Noise),
        "wow" => spectrum(&s.wow_spectrum, title, Spectrum::Wow),
        _ => Ok(None),
    }
}

/// Writes the plots of `r` (the report of `input`) that have data into `dir` (made when missing),
/// as `STEM-KIND.svg` (STEM the input's file stem, `stdin` for `-`), and says which in one line.
pub fn write_all(dir: &Path, input: &Path, r: &Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: make the plots' folder", dir.display()))?;
    let stem = match input.file_stem() {
        Some(s) if input.as_os_str() != "-" => s.to_string_lossy().into_owned(),
        _ => "stdin".to_string(),
    };
    let mut wrote = Vec::new();
    for kind in KINDS {
        let Some(svg) = of_series(kind, &r.series, &title(kind, &stem))? else { continue };
        let path = dir.join(format!("{stem}-{kind}.svg"));
        std::fs::write(&path, svg).with_context(|| format!("{}: write the plot", path.display()))?;
        wrote.push(path.display().to_string());
    }
    let said =
        if wrote.is_empty() { "nothing to plot".to_string() } else { format!("plots: {}", wrote.join(", ")) };
    crate::vlog!(super::TOOL, "{said}");
    Ok(())
}

/// A plot's title: what it shows, of what.
pub fn title(kind: &str, of: &str) -> String {
    let what = match kind {
        "level" => "level and tracks",
        "noise" => "noise floor spectrum",
        "wow" => "wow and flutter spectrum",
        _ => "health",
    };
    format!("{of}: {what}")
}

/// Runs `draw` on an SVG canvas and returns the SVG.
fn svg(
    name: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> DrawResult,
) -> anyhow::Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("plot {name}: {e}"))?;
        draw(&root).map_err(|e| anyhow!("plot {name}: {e}"))?;
        root.present().map_err(|e| anyhow!("plot {name}: {e}"))?;
    }
    Ok(out)
}

/// What a drawing step returns.
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// The level over time (minutes), with the track markers.
fn level(s: &Series, title: &str) -> anyhow::Result<Option<String>> {
    let heard: Vec<f64> = s.level_dbfs.iter().flatten().copied().collect();
    if heard.is_empty() {
        return Ok(None);
    }
    let low = heard.iter().copied().fold(0.0, f64::min).max(-100.0).floor() - 3.0;
    let minutes = (s.level_dbfs.len() as f64 / 60.0).max(1.0 / 60.0);
    svg("level", |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..minutes, low..0.0)?;
        chart
            .configure_mesh()
            .x_desc("minutes")
            .y_desc("level (dBFS RMS, 1 s)")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        for (i, at) in s.markers_s.iter().enumerate() {
            let x = at / 60.0;
            chart.draw_series(std::iter::once(PathElement::new(vec![(x, low), (x, 0.0)], MARKER)))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{}", i + 1),
                (x, -1.0),
                ("sans-serif", 12),
            )))?;
        }
        // A gap (a second of digital zeros) breaks the line.
        let mut i = 0;
        while i < s.level_dbfs.len() {
            let from = i;
            while i < s.level_dbfs.len() && s.level_dbfs[i].is_some() {
                i += 1;
            }
            let points = (from..i).filter_map(|k| Some(((k as f64 + 0.5) / 60.0, s.level_dbfs[k]?)));
            chart.draw_series(LineSeries::new(points, BLUE))?;
            i += 1;
        }
        Ok(())
    })
    .map(Some)
}

/// Which spectrum a plot shows.
#[derive(Clone, Copy)]
enum Spectrum {
    /// The noise floor's third-octave bands (dBFS).
    Noise,
    /// A speed tone's deviation (%).
    Wow,
}

/// A spectrum of `[Hz, value]` points, frequency on a log axis.
fn spectrum(points: &[[f64; 2]], title: &str, kind: Spectrum) -> anyhow::Result<Option<String>> {
    if points.len() < 2 {
        return Ok(None);
    }
    let (lo_hz, hi_hz) = (points[0][0] * 0.9, points[points.len() - 1][0] * 1.1);
    let top = points.iter().map(|p| p[1]).fold(f64::MIN, f64::max);
    let bottom = points.iter().map(|p| p[1]).fold(f64::MAX, f64::min);
    let (y, y_desc, name) = match kind {
        Spectrum::Noise => ((bottom.floor() - 5.0)..(top.ceil() + 5.0), "dBFS a third octave", "noise"),
        Spectrum::Wow => (0.0..(top * 1.2).max(0.001), "speed deviation (% peak)", "wow"),
    };
    svg(name, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d((lo_hz..hi_hz).log_scale(), y)?;
        let places = if matches!(kind, Spectrum::Wow) { 3 } else { 0 };
        chart
            .configure_mesh()
            .x_desc("Hz")
            .y_desc(y_desc)
            .x_label_formatter(&|v| hz_label(*v))
            .y_label_formatter(&|v| format!("{v:.places$}"))
            .draw()?;
        chart.draw_series(LineSeries::new(points.iter().map(|p| (p[0], p[1])), BLUE))?;
        chart.draw_series(points.iter().map(|p| Circle::new((p[0], p[1]), 2, BLUE.filled())))?;
        Ok(())
    })
    .map(Some)
}

/// A frequency as an axis shows it: `0.5`, `20`, `1k`, `12.5k`.
fn hz_label(hz: f64) -> String {
    let short = |v: f64| {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if hz >= 1000.0 { format!("{}k", short(hz / 1000.0)) } else { short(hz) }
}

/// One point of a health trend: when (RFC 3339), the side's name, its health.
pub struct HealthPoint {
    /// The play's or the report's time (RFC 3339).
    pub when: String,
    /// The line it belongs to, e.g. `side A`.
    pub line: String,
    /// 0–100.
    pub health: f64,
}

/// The health of each side over its reports, in order; `None` without a report with a health.
pub fn health(points: &[HealthPoint], title: &str) -> anyhow::Result<Option<String>> {
    if points.is_empty() {
        return Ok(None);
    }
    // The x axis counts reports, labelled with their dates: plays are irregular in time.
    let dates: Vec<&str> = points.iter().map(|p| p.when.get(..10).unwrap_or(&p.when)).collect();
    let mut lines: Vec<&str> = points.iter().map(|p| p.line.as_str()).collect();
    lines.sort_unstable();
    lines.dedup();
    let n = points.len() as f64;
    svg("health", |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(40)
            .build_cartesian_2d(-0.5..(n - 0.5), 0.0..105.0)?;
        chart
            .configure_mesh()
            .x_labels(points.len().min(8))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    dates.get(i as usize).copied().unwrap_or("").to_string()
                } else {
                    String::new()
                }
            })
            .y_desc("health")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        for (k, line) in lines.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            let mine: Vec<(f64, f64)> = points
                .iter()
                .enumerate()
                .filter(|(_, p)| p.line == *line)
                .map(|(i, p)| (i as f64, p.health))
                .collect();
            chart
                .draw_series(LineSeries::new(mine.iter().copied(), colour))?
                .label(*line)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
            chart.draw_series(mine.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        Ok(())
    })
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_plot_is_an_svg_with_its_data_and_none_without() {
        let s = Series {
            level_dbfs: vec![Some(-30.0), Some(-20.0), None, Some(-25.0)],
            markers_s: vec![0.0, 2.5],
            noise_spectrum: vec![[20.0, -80.0], [25.0, -82.0], [50.0, -70.0]],
            wow_spectrum: vec![],
        };
        let level = of_series("level", &s, "Side <A> & B").unwrap().unwrap();
        assert!(level.starts_with("<svg") && level.contains("</svg>"), "{level}");
        // Titles are text, escaped: a title is the user's.
        assert!(level.contains("Side &lt;A&gt; &amp; B") && !level.contains("<A>"), "{level}");
        assert!(level.contains("minutes") && level.contains("<polyline"), "{level}");
        assert!(of_series("noise", &s, "n").unwrap().unwrap().contains("third octave"));
        assert_eq!(of_series("wow", &s, "w").unwrap(), None);
        assert_eq!(of_series("bogus", &s, "w").unwrap(), None);
        assert_eq!(of_series("level", &Series::default(), "l").unwrap(), None);
        let p = |when: &str, line: &str, health| HealthPoint { when: when.into(), line: line.into(), health };
        let h = health(
            &[p("2026-03-01T20:00:00Z", "side A", 90.0), p("2026-05-01T20:00:00Z", "side A", 70.0)],
            "h",
        )
        .unwrap()
        .unwrap();
        assert!(h.contains("2026-03-01") && h.contains("side A"), "{h}");
        assert_eq!(health(&[], "h").unwrap(), None);
    }
}
