//! The side synthesiser (`examples/synth-side.rs`), the corpus generator of `vinyl-listen`: its
//! ground truth must say where things really are in the PCM, or the detector is scored against
//! fiction. Runs the built example on a few seconds of synthetic "music" (no package needed).
mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

const RATE: f64 = 48_000.0;

/// The example's binary, built once.
fn synth() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| common::example("synth-side")).clone()
}

/// 30 s of stereo "music" at about −20 dBFS RMS: a few beating tones and a little noise.
fn music(dir: &Path) -> PathBuf {
    let path = dir.join("music.raw");
    let mut bytes = Vec::new();
    let mut seed = 12345u32;
    for n in 0..(30.0 * RATE) as usize {
        let t = n as f64 / RATE;
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        let noise = (seed >> 8) as f64 / (1u32 << 24) as f64 - 0.5;
        let tone = |hz: f64| (std::f64::consts::TAU * hz * t).sin();
        let env = 0.7 + 0.3 * tone(0.5);
        let l = 0.1 * env * (tone(220.0) + 0.7 * tone(330.0) + 0.5 * tone(441.0)) + 0.02 * noise;
        let r = 0.1 * env * (tone(220.0) + 0.6 * tone(277.0) + 0.5 * tone(554.0)) + 0.02 * noise;
        for x in [l, r] {
            bytes.extend_from_slice(&((x * 32767.0) as i16).to_le_bytes());
        }
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs the synthesiser with `args` (plus `--truth`); returns the PCM and the ground truth.
fn side(dir: &Path, args: &[&str]) -> (Vec<u8>, Value) {
    let truth = dir.join("truth.json");
    let mut cmd = Command::new(synth());
    cmd.args(args).arg("--truth").arg(&truth);
    let out = common::run_ok(&mut cmd, Duration::from_secs(120));
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    assert_eq!(
        out.stdout.len() as u64,
        truth["frames"].as_u64().unwrap() * 4,
        "PCM length against truth.frames"
    );
    (out.stdout, truth)
}

fn frame(v: &Value) -> usize {
    v.as_u64().unwrap_or_else(|| panic!("{v} should be a frame number")) as usize
}

/// Both channels of `[a, b)` as samples, full scale 1.
fn samples(pcm: &[u8], a: usize, b: usize) -> Vec<f64> {
    pcm[a * 4..b * 4].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f64 / 32768.0).collect()
}

fn rms_db(pcm: &[u8], a: usize, b: usize) -> f64 {
    let s = samples(pcm, a, b);
    10.0 * (s.iter().map(|x| x * x).sum::<f64>() / s.len() as f64).log10()
}

fn secs(s: f64) -> usize {
    (s * RATE) as usize
}

#[test]
fn truth_is_ordered_gaps_are_quiet_and_the_locked_groove_clicks_once_a_revolution() {
    let dir = tempfile::tempdir().unwrap();
    let m = music(dir.path());
    let args = ["--music", m.to_str().unwrap(), "--seed", "5", "--tracks", "3", "--track-len", "8..10"];
    let more = [
        "--no-quiet",
        "--runout",
        "9..10",
        "--gap",
        "1.5..2.5",
        "--clicks-per-min",
        "0",
        "--noise-dbfs",
        "-55",
    ];
    let (pcm, t) = side(
        dir.path(),
        &[&args[..], &more[..], &["--idle-before", "1..2", "--idle-after", "1..2"]].concat(),
    );
    let tracks = t["tracks"].as_array().unwrap();
    assert_eq!(frame(&t["music_start"]), frame(&tracks[0]["start"]));
    assert_eq!(frame(&t["music_end"]), frame(&tracks[2]["end"]));
    let mut order = vec![frame(&t["needle_drop"])];
    for tr in tracks {
        order.extend([frame(&tr["start"]), frame(&tr["end"])]);
    }
    order.extend([frame(&t["lock"]), frame(&t["lift"]), frame(&t["frames"])]);
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "needle drop, tracks, lock, lift, end out of order: {order:?}"
    );
    assert_eq!(t["end"], "runout");
    let gaps = t["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 2, "{t}");
    for (k, gap) in gaps.iter().enumerate() {
        let (a, b) = (frame(&gap[0]), frame(&gap[1]));
        assert_eq!((a, b), (frame(&tracks[k]["end"]), frame(&tracks[k + 1]["start"])));
        let before = rms_db(&pcm, a - secs(5.0), a - secs(2.0));
        let after = rms_db(&pcm, b + secs(2.0), b + secs(5.0));
        let gap_db = rms_db(&pcm, a, b);
        assert!(
            gap_db < before.min(after) - 20.0,
            "gap {k}: {gap_db:.1} dBFS against music {before:.1}/{after:.1}"
        );
        assert!((-60.0..-50.0).contains(&gap_db), "gap {k}: {gap_db:.1} dBFS for --noise-dbfs -55");
    }
    assert_clicks_every_revolution(&pcm, &t);
}

/// The loudest frame of each revolution of the locked groove lies one period after the last.
fn assert_clicks_every_revolution(pcm: &[u8], t: &Value) {
    let period = frame(&t["period"]);
    let nominal = 1.8 * RATE;
    assert!((period as f64 / nominal - 1.0).abs() <= 0.016, "period {period} at 33⅓ rpm ±1.5 %");
    assert!((t["rpm"].as_f64().unwrap() - 60.0 * RATE / period as f64).abs() < 1e-6);
    let (lock, lift) = (frame(&t["lock"]), frame(&t["lift"]));
    let s = samples(pcm, lock, lift);
    // Both channels: a click may be loud in one and faint in the other.
    let level = |i: usize| s[2 * i].abs() + s[2 * i + 1].abs();
    let peak = |a: usize| (a..a + period).max_by(|&i, &j| level(i).total_cmp(&level(j))).unwrap();
    let clicks: Vec<usize> = (0..(lift - lock) / period).map(|k| lock + peak(k * period)).collect();
    assert!(clicks.len() >= 4, "{clicks:?}");
    assert!(
        clicks[0].abs_diff(frame(&t["lock_click"])) < 48,
        "first click {} against lock_click {}",
        clicks[0],
        t["lock_click"]
    );
    for w in clicks.windows(2) {
        let d = (w[1] - w[0]) as f64;
        assert!(
            (d / period as f64 - 1.0).abs() <= 0.02,
            "clicks {} → {}: {d} frames, period {period}",
            w[0],
            w[1]
        );
    }
}

/// `--content-seed`: the same music (the tracks' lengths and the gaps) with any `--seed`, which
/// then changes only the deck (here its noise); another content seed cuts other tracks.
#[test]
fn a_content_seed_keeps_the_music_whatever_the_deck() {
    let dir = tempfile::tempdir().unwrap();
    let m = music(dir.path());
    let args = |seed: &'static str, content: &'static str| {
        let m = m.to_str().unwrap().to_string();
        let a = ["--seed", seed, "--content-seed", content, "--tracks", "3", "--track-len", "3..9"];
        let mut v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        v.extend(["--music".into(), m, "--runout".into(), "2".into(), "--speed-error".into(), "0".into()]);
        v
    };
    let run = |seed, content| {
        let a = args(seed, content);
        side(dir.path(), &a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let lengths = |t: &Value| -> Vec<usize> {
        let tracks = t["tracks"].as_array().unwrap();
        let mut v: Vec<usize> = tracks.iter().map(|k| frame(&k["end"]) - frame(&k["start"])).collect();
        v.extend(t["gaps"].as_array().unwrap().iter().map(|g| frame(&g[1]) - frame(&g[0])));
        v
    };
    let ((a, ta), (b, tb), (_, tc)) = (run("1", "5"), run("2", "5"), run("1", "6"));
    assert!(a != b, "--seed 1 and 2 give the same bytes");
    assert_eq!(lengths(&ta), lengths(&tb), "the same --content-seed, other music:\n{ta}\n{tb}");
    assert_ne!(lengths(&ta), lengths(&tc), "another --content-seed, the same music");
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let m = music(dir.path());
    let args = |seed| {
        ["--music", m.to_str().unwrap(), "--seed", seed, "--tracks", "2", "--track-len", "5", "--runout", "3"]
    };
    let (a, ta) = side(dir.path(), &args("9"));
    let (b, tb) = side(dir.path(), &args("9"));
    let (c, _) = side(dir.path(), &args("10"));
    assert_eq!(ta, tb);
    assert!(a == b, "two runs with --seed 9 differ");
    assert!(a != c, "--seed 9 and --seed 10 give the same side");
}

#[test]
fn the_quiet_passage_is_28_db_down_inside_its_track() {
    let dir = tempfile::tempdir().unwrap();
    let m = music(dir.path());
    let args = [
        "--music",
        m.to_str().unwrap(),
        "--seed",
        "2",
        "--tracks",
        "1",
        "--track-len",
        "28",
        "--runout",
        "3",
    ];
    let (pcm, t) = side(dir.path(), &[&args[..], &["--noise-dbfs", "-75", "--clicks-per-min", "0"]].concat());
    let quiet = t["quiet"].as_array().unwrap();
    assert_eq!(quiet.len(), 1, "{t}");
    let (a, b) = (frame(&quiet[0][0]), frame(&quiet[0][1]));
    let (start, end) = (frame(&t["tracks"][0]["start"]), frame(&t["tracks"][0]["end"]));
    assert_eq!(b - a, secs(15.0));
    assert!(
        start + secs(2.5) <= a && b + secs(2.5) <= end,
        "quiet {a}..{b} at the edge of track {start}..{end}"
    );
    let music =
        rms_db(&pcm, start + secs(2.0), a - secs(0.5)).max(rms_db(&pcm, b + secs(0.5), end - secs(2.0)));
    let q = rms_db(&pcm, a, b);
    assert!((music - q - 28.0).abs() < 3.0, "quiet {q:.1} dBFS against music {music:.1} dBFS");
}

#[test]
fn medleys_have_no_gaps_and_an_early_lift_has_no_run_out() {
    let dir = tempfile::tempdir().unwrap();
    let m = music(dir.path());
    let args = ["--music", m.to_str().unwrap(), "--tracks", "4", "--track-len", "6..8", "--no-quiet"];
    let (_, t) = side(dir.path(), &[&args[..], &["--medley", "--runout", "3"]].concat());
    assert_eq!(t["gaps"].as_array().unwrap().len(), 0, "{t}");
    let tracks = t["tracks"].as_array().unwrap();
    assert!(tracks.windows(2).all(|w| frame(&w[1]["start"]) <= frame(&w[0]["end"])), "{t}");
    let (_, t) = side(dir.path(), &[&args[..], &["--lift-early"]].concat());
    assert_eq!(t["end"], "lift");
    assert!(t["lock"].is_null() && t["rpm"].is_null(), "{t}");
    assert_eq!(frame(&t["lift"]), frame(&t["music_end"]));
    assert_eq!(frame(&t["lift"]), frame(&t["tracks"][3]["end"]));
}

#[test]
fn idle_input_is_hum_at_about_minus_75_dbfs_with_bumps_and_no_needle_drop() {
    let dir = tempfile::tempdir().unwrap();
    let (pcm, t) = side(dir.path(), &["--idle", "40s", "--bumps-per-hour", "300", "--seed", "4"]);
    assert_eq!(t["idle"], true);
    assert_eq!(frame(&t["frames"]), secs(40.0));
    assert!(t.get("needle_drop").is_none());
    let bumps: Vec<usize> = t["bumps"].as_array().unwrap().iter().map(frame).collect();
    assert!(!bumps.is_empty(), "{t}");
    // A second before the first bump (or at the start) is plain idle.
    let quiet_end = bumps[0].max(secs(1.0));
    let idle = rms_db(&pcm, quiet_end - secs(1.0), quiet_end);
    assert!((-85.0..-68.0).contains(&idle), "idle {idle:.1} dBFS");
}

#[test]
fn a_bad_flag_exits_2_and_says_what_is_wrong() {
    for args in [
        &["--idle", "1h", "--rpm", "40"][..],
        &["--idle", "ten"],
        &["--idle", "1", "--gain-db", "-50"],
        &["--seed", "1"],
    ] {
        let out = common::run(Command::new(synth()).args(args), Duration::from_secs(30));
        common::assert_status(&format!("synth-side {args:?}"), &out, 2);
    }
    let out =
        common::run(Command::new(synth()).args(["--music", "/nonexistent.raw"]), Duration::from_secs(30));
    common::assert_status("synth-side --music /nonexistent.raw", &out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.raw"));
}
