//! The turntable's health over time, as the collection keeps it: one `vinyl-qa` report a
//! recording (`reports`, schema 5; the plots it can draw, schema 6), and the trends they show, per record side and for the deck.
//!
//! Owns the table's rows (a report stored again replaces its recording's: a later analysis is the
//! better one), which reports a scope reads, when a report was (its recording's play, else when
//! it was stored), and the trend rules ([`trends`]). A report is kept as the JSON `vinyl-qa`
//! printed, so a later vinyl-qa's keys survive in it; the figures the trends use are read from
//! it by name ([`Figures`]), each optional. It does not analyse audio (`vinyl-qa` does) nor print.
//! How it fails: a statement's error is returned and the caller's transaction rolls back; a
//! stored report that is not JSON (a damaged file) is skipped and counted ([`Stored::unreadable`]).
//!
//! The rules, comparing a side's first report with its latest (plays of one record: its clicks
//! and its treble are comparable between them, not between records):
//! - clicks: up or down by at least [`CLICKS_PCT`] % and [`CLICKS_MIN`] a minute;
//! - treble (`hf_rolloff_db`): down or up by at least [`TREBLE_DB`] dB;
//! - health: down or up by at least [`HEALTH_POINTS`] points.
//!
//! For the deck, a change is the deck's (the stylus, the cartridge, the preamp) rather than a
//! record's when at least [`DECK_SHARE_PCT`] % of the sides with two reports or more (and at least
//! two sides) moved the same way: treble down on them says "check the stylus", clicks up "clean or
//! check the stylus", the noise floor up by [`NOISE_DB`] dB "check the preamp's ground and gain".
//! Test-tone reports (`speed_error_pct`) give the deck's speed (a move of [`SPEED_PCT`] %) and its
//! weighted wow and flutter (up by half and [`WOW_MIN`] %), first against latest, whatever record;
//! so does `speed_drift_pct` (against a learned play of each side): grown by [`DRIFT_PCT`] points.

use rusqlite::{Connection, Transaction, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The schema 5 migration: the reports.
pub const MIGRATION: &str = "
CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL UNIQUE REFERENCES recordings(id) ON DELETE CASCADE,
    made_at TEXT NOT NULL,
    report TEXT NOT NULL
);";

/// The schema 6 migration: the plots a report can draw (`level,noise,wow`, from its `plots` key:
/// `vinyl-qa` lists the series it kept), so the page offers them without reading each report.
pub const PLOTS_MIGRATION: &str = "ALTER TABLE reports ADD COLUMN plots TEXT NOT NULL DEFAULT '';";

/// The plots a report may list.
pub const PLOT_KINDS: [&str; 3] = ["level", "noise", "wow"];

/// A side's clicks a minute must move by this share…
pub const CLICKS_PCT: f64 = 25.0;
/// …and by this many a minute.
pub const CLICKS_MIN: f64 = 2.0;
/// A side's treble (energy above 10 kHz against 1–4 kHz) must move by this many dB.
pub const TREBLE_DB: f64 = 1.0;
/// A side's health must move by this many points.
pub const HEALTH_POINTS: f64 = 10.0;
/// The share of sides (%) that must move one way for a change to be the deck's.
pub const DECK_SHARE_PCT: f64 = 75.0;
/// The noise floor must rise by this many dB on the deck's sides.
pub const NOISE_DB: f64 = 3.0;
/// The deck's measured speed must move by this much (percentage points).
pub const SPEED_PCT: f64 = 0.3;
/// Weighted wow and flutter must rise by half and by this much (percentage points).
pub const WOW_MIN: f64 = 0.05;
/// The speed drift across a side (against a learned play) must grow by this much (percentage
/// points): a belt that slips more as it wears, a motor losing its grip.
pub const DRIFT_PCT: f64 = 0.2;

/// The figures of a report that the trends read; the rest of the report is kept, not read.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Figures {
    /// 0–100.
    pub health: Option<f64>,
    /// Clicks a minute.
    pub clicks_per_min: Option<f64>,
    /// Energy above 10 kHz against 1–4 kHz (dB).
    pub hf_rolloff_db: Option<f64>,
    /// The quietest stretches' level (dBFS).
    pub noise_floor_dbfs: Option<f64>,
    /// A test tone's speed error (%).
    pub speed_error_pct: Option<f64>,
    /// A test tone's weighted wow and flutter (%).
    pub wow_flutter_weighted_pct: Option<f64>,
    /// The deck's speed change across a side, against a learned play of it (%).
    pub speed_drift_pct: Option<f64>,
}

/// A stored report with what the collection knows of its recording.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// When the side played (its play's needle drop, else when the report was stored): RFC 3339.
    pub when: String,
    /// The recording's file.
    pub path: String,
    /// `Artist – Album`, when the recording is named.
    pub album: Option<String>,
    /// The side (A, B…), when named.
    pub side: Option<String>,
    /// The figures the trends read.
    #[serde(flatten)]
    pub figures: Figures,
    /// The record side's number, grouping plays of one record.
    #[serde(skip)]
    pub side_id: Option<i64>,
}

/// The reports of a scope, oldest first, and how many stored reports could not be read.
#[derive(Debug, Default)]
pub struct Stored {
    /// Readable reports, oldest first.
    pub reports: Vec<Report>,
    /// Stored reports that are not JSON (skipped).
    pub unreadable: usize,
}

/// A change the reports show.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Trend {
    /// `Artist – Album, side A`, or `deck`.
    pub scope: String,
    /// The figure: `clicks_per_min`, `hf_rolloff_db`, `health`, `noise_floor_dbfs`,
    /// `speed_error_pct`, `wow_flutter_weighted_pct`.
    pub what: String,
    /// The first report's value (for the deck: the median over its sides' first reports).
    pub from: f64,
    /// The latest's.
    pub to: f64,
    /// The first report's date (YYYY-MM-DD).
    pub since: String,
    /// The line a user reads.
    pub text: String,
}

/// Stores `report` (vinyl-qa's JSON) as the report of the recording at `path` (made in the
/// collection when missing), replacing the one it had.
pub fn store(tx: &Transaction, path: &str, report: &str) -> rusqlite::Result<()> {
    super::db::known_recording(tx, path)?;
    // UTC, as the plays' times: a report is dated by either, and they are sorted as text.
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let now = crate::time::rfc3339_utc(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX));
    tx.execute(
        "INSERT INTO reports (recording_id, made_at, report, plots)
         VALUES ((SELECT id FROM recordings WHERE path = ?1), ?2, ?3, ?4)
         ON CONFLICT (recording_id) DO UPDATE
         SET made_at = excluded.made_at, report = excluded.report, plots = excluded.plots",
        params![path, now, report, plots_listed(report).join(",")],
    )?;
    Ok(())
}

/// The plots `report` lists (its `plots` key), those vinyl knows, in their order.
fn plots_listed(report: &str) -> Vec<&'static str> {
    #[derive(Deserialize)]
    struct Listed {
        #[serde(default)]
        plots: Vec<String>,
    }
    let listed = serde_json::from_str::<Listed>(report).map(|l| l.plots).unwrap_or_default();
    PLOT_KINDS.into_iter().filter(|k| listed.iter().any(|l| l == k)).collect()
}

/// The report stored for the recording `path`.
pub fn of_recording(conn: &Connection, path: &str) -> rusqlite::Result<Option<String>> {
    use rusqlite::OptionalExtension as _;
    conn.query_row(
        "SELECT q.report FROM reports q JOIN recordings r ON q.recording_id = r.id WHERE r.path = ?1",
        [path],
        |row| row.get(0),
    )
    .optional()
}

/// The plots of every report that has some, by its recording's path.
pub fn plots(conn: &Connection) -> rusqlite::Result<std::collections::HashMap<String, Vec<String>>> {
    let mut st = conn.prepare(
        "SELECT r.path, q.plots FROM reports q JOIN recordings r ON q.recording_id = r.id WHERE q.plots != ''",
    )?;
    let rows = st.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
    rows.map(|r| r.map(|(path, plots)| (path, plots.split(',').map(str::to_string).collect()))).collect()
}

/// The reports of the album numbered `album`, or of every recording (`None`), oldest first.
pub fn read(conn: &Connection, album: Option<i64>) -> rusqlite::Result<Stored> {
    let mut st = conn.prepare(
        "SELECT coalesce((SELECT min(p.started_at) FROM plays p WHERE p.recording_id = r.id), q.made_at),
                r.path, a.artist || ' – ' || a.title, s.name, s.id, q.report
         FROM reports q JOIN recordings r ON q.recording_id = r.id
         LEFT JOIN sides s ON s.id = r.side_id LEFT JOIN albums a ON a.id = s.album_id
         WHERE ?1 IS NULL OR a.id = ?1",
    )?;
    let mut out = Stored::default();
    let mut rows = st.query([album])?;
    while let Some(row) = rows.next()? {
        let text: String = row.get(5)?;
        let Ok(figures) = serde_json::from_str::<Figures>(&text) else {
            out.unreadable += 1;
            continue;
        };
        out.reports.push(Report {
            when: row.get(0)?,
            path: row.get(1)?,
            album: row.get(2)?,
            side: row.get(3)?,
            side_id: row.get(4)?,
            figures,
        });
    }
    out.reports.sort_by(|a, b| a.when.cmp(&b.when).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

/// The trends `reports` (oldest first) show: each record side's, then the deck's ([`self`]'s
/// rules).
pub fn trends(reports: &[Report]) -> Vec<Trend> {
    let mut by_side: BTreeMap<i64, Vec<&Report>> = BTreeMap::new();
    for r in reports {
        if let Some(id) = r.side_id {
            by_side.entry(id).or_default().push(r);
        }
    }
    let sides: Vec<(&Report, &Report)> =
        by_side.values().filter(|v| v.len() >= 2).map(|v| (v[0], v[v.len() - 1])).collect();
    let mut out: Vec<Trend> = sides.iter().flat_map(|&(a, b)| side_trends(a, b)).collect();
    out.extend(deck_trends(&sides));
    out.extend(tone_trends(reports));
    out.extend(drift_trend(reports));
    out
}

/// The deck's speed drift across a side, from the first and the latest report that measured it,
/// whatever the record (each is against a learned play of its own side).
fn drift_trend(reports: &[Report]) -> Option<Trend> {
    let mut drifts = reports.iter().filter_map(|r| Some((r.figures.speed_drift_pct?, r.when.as_str())));
    let (x, since) = drifts.next()?;
    let (y, _) = drifts.next_back()?;
    (y.abs() - x.abs() >= DRIFT_PCT).then(|| {
        let since = date(since);
        Trend {
            scope: "deck".into(),
            what: "speed_drift_pct".into(),
            from: x,
            to: y,
            text: format!(
                "deck: speed drift across a side {x:+.2} → {y:+.2} % since {since}: check the belt and the motor"
            ),
            since,
        }
    })
}

/// `Artist – Album, side A` of a named report.
fn scope_of(r: &Report) -> String {
    format!("{}, side {}", r.album.as_deref().unwrap_or("?"), r.side.as_deref().unwrap_or("?"))
}

/// The date part of an RFC 3339 time.
fn date(when: &str) -> String {
    when.chars().take(10).collect()
}

/// A figure read from a report.
type Figure = fn(&Figures) -> Option<f64>;

/// The changes between a side's first report `a` and its latest `b`.
fn side_trends(a: &Report, b: &Report) -> Vec<Trend> {
    let scope = scope_of(a);
    let since = date(&a.when);
    let mut out = Vec::new();
    let mut add = |what: &str, get: Figure, moved: &dyn Fn(f64, f64) -> Option<String>| {
        if let (Some(x), Some(y)) = (get(&a.figures), get(&b.figures))
            && let Some(how) = moved(x, y)
        {
            let text = format!("{scope}: {how} since {since}");
            out.push(Trend {
                scope: scope.clone(),
                what: what.into(),
                from: x,
                to: y,
                since: since.clone(),
                text,
            });
        }
    };
    add("clicks_per_min", |f| f.clicks_per_min, &|x, y| {
        let pct = if x > 0.0 { (y - x) / x * 100.0 } else { f64::INFINITY };
        let far = pct.abs() >= CLICKS_PCT && (y - x).abs() >= CLICKS_MIN;
        far.then(|| format!("clicks {} ({x:.1} → {y:.1} a minute)", up_down_pct(x, y)))
    });
    add("hf_rolloff_db", |f| f.hf_rolloff_db, &|x, y| {
        ((y - x).abs() >= TREBLE_DB).then(|| format!("treble {} {:.1} dB", up_down(y - x), (y - x).abs()))
    });
    add("health", |f| f.health, &|x, y| {
        ((y - x).abs() >= HEALTH_POINTS).then(|| format!("health {x:.0} → {y:.0}"))
    });
    out
}

/// "up" or "down" by the sign of `d`.
fn up_down(d: f64) -> &'static str {
    if d < 0.0 { "down" } else { "up" }
}

/// "up 40 %" from `x` to `y` ("up from none" when `x` is 0).
fn up_down_pct(x: f64, y: f64) -> String {
    if x > 0.0 {
        format!("{} {:.0} %", up_down(y - x), ((y - x) / x * 100.0).abs())
    } else {
        "up from none".into()
    }
}

/// The median of `v` (0 when empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A deck rule: the figure's name, how to read it, whether a side's (first, latest) moved, and
/// the advice.
type DeckRule = (&'static str, Figure, fn(f64, f64) -> bool, &'static str);

/// The deck's changes: a figure that moved the same way on most sides (`sides`: each side's
/// first and latest report).
fn deck_trends(sides: &[(&Report, &Report)]) -> Vec<Trend> {
    let rules: [DeckRule; 3] = [
        ("hf_rolloff_db", |f| f.hf_rolloff_db, |x, y| y - x <= -TREBLE_DB, "check the stylus"),
        (
            "clicks_per_min",
            |f| f.clicks_per_min,
            |x, y| y - x >= CLICKS_MIN && (x <= 0.0 || (y - x) / x * 100.0 >= CLICKS_PCT),
            "clean the stylus, or check it for wear",
        ),
        (
            "noise_floor_dbfs",
            |f| f.noise_floor_dbfs,
            |x, y| y - x >= NOISE_DB,
            "check the preamp's ground and gain",
        ),
    ];
    let mut out = Vec::new();
    for (what, get, moved, advice) in rules {
        let pairs: Vec<(f64, f64, &str)> = sides
            .iter()
            .filter_map(|(a, b)| Some((get(&a.figures)?, get(&b.figures)?, a.when.as_str())))
            .collect();
        let n = pairs.iter().filter(|(x, y, _)| moved(*x, *y)).count();
        if pairs.len() < 2 || (n as f64) < pairs.len() as f64 * DECK_SHARE_PCT / 100.0 {
            continue;
        }
        let (from, to) =
            (median(pairs.iter().map(|p| p.0).collect()), median(pairs.iter().map(|p| p.1).collect()));
        let since = date(pairs.iter().map(|p| p.2).min().unwrap_or_default());
        // The typical side's change (not the change of the typical side's level).
        let d = median(pairs.iter().map(|p| p.1 - p.0).collect());
        let how = match what {
            "hf_rolloff_db" => format!("treble down {:.1} dB", -d),
            "clicks_per_min" => {
                let pct =
                    median(pairs.iter().filter(|p| p.0 > 0.0).map(|p| (p.1 - p.0) / p.0 * 100.0).collect());
                format!("clicks up {pct:.0} %")
            }
            _ => format!("noise floor up {d:.1} dB"),
        };
        let text = format!("deck: {how} on {n} of {} records since {since}: {advice}", pairs.len());
        out.push(Trend { scope: "deck".into(), what: what.into(), from, to, since, text });
    }
    out
}

/// The deck's speed and wow and flutter, from the first and the latest test-tone reports.
fn tone_trends(reports: &[Report]) -> Vec<Trend> {
    let mut out = Vec::new();
    let tones: Vec<&Report> = reports.iter().filter(|r| r.figures.speed_error_pct.is_some()).collect();
    let (Some(a), Some(b)) = (tones.first(), tones.last()) else { return out };
    if std::ptr::eq(*a, *b) {
        return out;
    }
    let since = date(&a.when);
    let mut add = |what: &str, x: f64, y: f64, how: String, advice: &str| {
        let text = format!("deck: {how} since {since}: {advice}");
        out.push(Trend {
            scope: "deck".into(),
            what: what.into(),
            from: x,
            to: y,
            since: since.clone(),
            text,
        });
    };
    if let (Some(x), Some(y)) = (a.figures.speed_error_pct, b.figures.speed_error_pct)
        && (y - x).abs() >= SPEED_PCT
    {
        add(
            "speed_error_pct",
            x,
            y,
            format!("speed {x:+.2} → {y:+.2} %"),
            "check the belt and the speed setting",
        );
    }
    if let (Some(x), Some(y)) = (a.figures.wow_flutter_weighted_pct, b.figures.wow_flutter_weighted_pct)
        && y >= 1.5 * x
        && y - x >= WOW_MIN
    {
        add("wow_flutter_weighted_pct", x, y, format!("wow and flutter {x:.3} → {y:.3} %"), "check the belt");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(when: &str, side: i64, f: Figures) -> Report {
        Report {
            when: when.into(),
            path: format!("/r/{when}-{side}.flac"),
            album: Some(format!("Artist – Album {side}")),
            side: Some("A".into()),
            figures: f,
            side_id: Some(side),
        }
    }

    fn fig(clicks: f64, hf: f64, noise: f64) -> Figures {
        Figures {
            health: Some(90.0),
            clicks_per_min: Some(clicks),
            hf_rolloff_db: Some(hf),
            noise_floor_dbfs: Some(noise),
            ..Figures::default()
        }
    }

    #[test]
    fn a_records_clicks_up_40_percent_is_its_own_and_not_the_decks() {
        let r = [
            report("2026-03-02T20:00:00Z", 1, fig(10.0, -20.0, -60.0)),
            report("2026-03-05T20:00:00Z", 2, fig(10.0, -20.0, -60.0)),
            report("2026-06-01T20:00:00Z", 1, fig(14.0, -20.2, -60.0)),
            report("2026-06-02T20:00:00Z", 2, fig(10.5, -20.1, -60.0)),
        ];
        let t = trends(&r);
        assert_eq!(t.len(), 1, "{t:#?}");
        assert_eq!((t[0].what.as_str(), t[0].from, t[0].to), ("clicks_per_min", 10.0, 14.0));
        assert_eq!(
            t[0].text,
            "Artist – Album 1, side A: clicks up 40 % (10.0 → 14.0 a minute) since 2026-03-02"
        );
        // Under the rule's share or count, nothing.
        let small = [
            report("2026-03-02", 1, fig(10.0, -20.0, -60.0)),
            report("2026-06-01", 1, fig(12.0, -20.0, -60.0)),
        ];
        assert!(trends(&small).is_empty());
    }

    #[test]
    fn treble_down_on_every_record_is_the_stylus() {
        let r = [
            report("2026-03-02", 1, fig(10.0, -20.0, -60.0)),
            report("2026-03-03", 2, fig(5.0, -25.0, -62.0)),
            report("2026-03-04", 3, fig(8.0, -22.0, -61.0)),
            report("2026-09-01", 1, fig(10.0, -21.5, -60.0)),
            report("2026-09-02", 2, fig(5.0, -26.6, -62.0)),
            report("2026-09-03", 3, fig(8.0, -23.4, -61.0)),
        ];
        let t = trends(&r);
        let deck: Vec<&Trend> = t.iter().filter(|t| t.scope == "deck").collect();
        assert_eq!(deck.len(), 1, "{t:#?}");
        assert_eq!(
            deck[0].text,
            "deck: treble down 1.5 dB on 3 of 3 records since 2026-03-02: check the stylus"
        );
        assert_eq!(t.iter().filter(|t| t.what == "hf_rolloff_db" && t.scope != "deck").count(), 3);
        // One record's loss is that record's, not the deck's.
        let one = [&r[0], &r[1], &r[2], &r[3]].map(Clone::clone);
        let mut one = one.to_vec();
        one.push(report("2026-09-02", 2, fig(5.0, -25.1, -62.0)));
        one.push(report("2026-09-03", 3, fig(8.0, -22.2, -61.0)));
        assert!(trends(&one).iter().all(|t| t.scope != "deck"), "{:#?}", trends(&one));
    }

    #[test]
    fn test_tones_give_the_decks_speed_and_wow_whatever_the_record() {
        let tone = |when: &str, speed: f64, wow: f64| Report {
            when: when.into(),
            path: format!("/r/{when}.flac"),
            album: None,
            side: None,
            figures: Figures {
                speed_error_pct: Some(speed),
                wow_flutter_weighted_pct: Some(wow),
                ..Figures::default()
            },
            side_id: None,
        };
        let t = trends(&[tone("2026-03-01", 0.1, 0.06), tone("2026-10-01", 1.02, 0.15)]);
        let texts: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "deck: speed +0.10 → +1.02 % since 2026-03-01: check the belt and the speed setting",
                "deck: wow and flutter 0.060 → 0.150 % since 2026-03-01: check the belt"
            ]
        );
        assert!(trends(&[tone("2026-03-01", 0.1, 0.06), tone("2026-10-01", 0.2, 0.07)]).is_empty());
    }

    #[test]
    fn a_growing_speed_drift_is_the_decks_whatever_the_record() {
        let drift = |when: &str, side: i64, d: Option<f64>| {
            report(when, side, Figures { speed_drift_pct: d, ..Figures::default() })
        };
        let t = trends(&[
            drift("2026-03-01", 1, Some(0.04)),
            drift("2026-05-01", 2, None),
            drift("2026-10-01", 3, Some(-0.31)),
        ]);
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(
            t[0].text,
            "deck: speed drift across a side +0.04 → -0.31 % since 2026-03-01: check the belt and the motor"
        );
        assert_eq!((t[0].what.as_str(), t[0].from, t[0].to), ("speed_drift_pct", 0.04, -0.31));
        // Under 0.2 points more, or smaller: nothing; one report: nothing.
        assert!(trends(&[drift("2026-03-01", 1, Some(0.1)), drift("2026-10-01", 2, Some(0.25))]).is_empty());
        assert!(trends(&[drift("2026-03-01", 1, Some(0.4)), drift("2026-10-01", 2, Some(0.1))]).is_empty());
        assert!(trends(&[drift("2026-03-01", 1, Some(0.4))]).is_empty());
    }
}
