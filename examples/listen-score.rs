//! Scores `vinyl-listen` on synthetic sides: reads pairs `TRUTH.json:EVENTS.jsonl` (the truth from
//! examples/synth-side, the events from vinyl-listen) and, with `--idle EVENTS.jsonl --idle-hours
//! H`, the events of idle input, and `--music NAME` naming the music in the rows; prints the targets as rows of the bench's markdown table
//! (overall and by gain) on stdout, and every miss on stderr. Exit 1 when a target is missed. Used by
//! scripts/bench.d/85-listen; the rules live in tests/common/score.rs, shared with the tests.

#[path = "../tests/common/score.rs"]
#[allow(dead_code)]
mod score;

use score::{Side, Totals};

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut sides, mut idle, mut hours, mut music) = (Vec::new(), None, 0.0, String::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--idle" => idle = args.next(),
            "--music" => music = args.next().map(|m| format!(" of {m}")).unwrap_or_default(),
            "--idle-hours" => hours = args.next().and_then(|h| h.parse().ok()).unwrap_or(0.0),
            pair => match pair.split_once(':') {
                Some((t, e)) => sides.push(load(t, e)),
                None => {
                    eprintln!("listen-score: {pair}: give TRUTH.json:EVENTS.jsonl");
                    return std::process::ExitCode::from(2);
                }
            },
        }
    }
    let idle_starts = idle.map(|p| score::parse(&read(&p)).side_starts.len());
    for s in &sides {
        for p in &s.problems {
            eprintln!("listen-score: {}: {p}", s.name);
        }
    }
    print!("{}", table(&sides, idle_starts, hours, &music));
    let ok = Totals::of(&sides).meets_targets() && idle_starts.unwrap_or(0) == 0;
    std::process::ExitCode::from(if ok { 0 } else { 1 })
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("listen-score: {path}: {e}");
        String::new()
    })
}

fn load(truth: &str, events: &str) -> Side {
    let t: serde_json::Value = serde_json::from_str(&read(truth)).unwrap_or_default();
    let name =
        std::path::Path::new(truth).file_stem().map_or(truth.into(), |s| s.to_string_lossy().into_owned());
    score::side(&name, &t, &score::parse(&read(events)))
}

/// The targets as rows of the bench's table (component | measurement | ours | reference | goal):
/// "ours" gives all sides, then each gain.
fn table(sides: &[Side], idle_starts: Option<usize>, hours: f64, music: &str) -> String {
    let groups: Vec<(String, Vec<&Side>)> =
        std::iter::once(("all".to_string(), sides.iter().collect()))
            .chain([0.0, -10.0, -20.0].iter().map(|&g| {
                (format!("{g:+} dB"), sides.iter().filter(|s| (s.gain_db - g).abs() < 0.5).collect())
            }))
            .filter(|(_, v): &(String, Vec<&Side>)| !v.is_empty())
            .collect();
    let totals: Vec<(String, Totals)> =
        groups.iter().map(|(g, v)| (g.clone(), Totals::of(v.iter().copied()))).collect();
    let who = format!("vinyl-listen, {} synthetic sides{music}", sides.len());
    let row = |name: &str, goal: &str, f: &dyn Fn(&Totals) -> String| {
        let cells: Vec<String> = totals.iter().map(|(g, t)| format!("{g}: {}", f(t))).collect();
        format!("| {who} | {name} | {} | | {goal} |\n", cells.join("; "))
    };
    let pct = |a: usize, b: usize| format!("{a}/{b} ({:.0} %)", 100.0 * a as f64 / b.max(1) as f64);
    let mut out =
        row("side_start within 0.5 s of the needle drop", "≥ 95 %", &|t| pct(t.starts_ok, t.sides));
    out += &row("extra side_start events on the sides", "0", &|t| t.extra_starts.to_string());
    out += &row("track_start (track ≥ 2) precision, sides with gaps", "≥ 0.95", &|t| {
        format!("{:.3} ({}/{})", t.precision(), t.markers_right, t.markers)
    });
    out += &row("track_start recall over gaps ≥ 1 s", "≥ 0.90", &|t| {
        format!("{:.3} ({}/{})", t.recall(), t.gaps_1s_found, t.gaps_1s)
    });
    out += &row("wrong markers in medleys (no gaps)", "0", &|t| t.medley_wrong.to_string());
    out += &row("markers or side_end inside the 15 s quiet passages", "0", &|t| t.quiet_events.to_string());
    out +=
        &row("side_end right: place, reason, run-out ≤ 8 s and rpm ±2 %, lift ≤ 2 s", "100 %", &|t| {
            pct(t.ends_ok, t.sides)
        });
    out += &latency_rows(&who, &groups);
    if let Some(n) = idle_starts {
        out += &format!(
            "| vinyl-listen, idle deck | false side_start in {hours} h of idle input with knocks and motor changes | {n} | | 0 |\n"
        );
    }
    out
}

fn latency_rows(who: &str, groups: &[(String, Vec<&Side>)]) -> String {
    let stat = |v: &[&Side], kind: &str| {
        let mut l: Vec<f64> =
            v.iter().filter(|s| s.end_expected == kind).filter_map(|s| s.end_latency_s).collect();
        l.sort_by(f64::total_cmp);
        match (l.get(l.len() / 2), l.last()) {
            (Some(m), Some(x)) => format!("{m:.1} s / {x:.1} s"),
            _ => "-".into(),
        }
    };
    let mut out = String::new();
    for (kind, name, goal) in [
        ("runout", "run-out decided after the groove locked (median / max)", "≤ 8 s"),
        ("lift", "lift decided after the lift (median / max)", "≤ 2 s"),
    ] {
        let cells: Vec<String> = groups.iter().map(|(g, v)| format!("{g}: {}", stat(v, kind))).collect();
        out += &format!("| {who} | {name} | {} | | {goal} |\n", cells.join("; "));
    }
    out
}
