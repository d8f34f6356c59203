//! `vinyl-qa`, the built binary, on generated test records and sides: a FLAC file (written by
//! vinyl's own encoder) and the same PCM on stdin give the same report; the speed, wow and flutter
//! and separation of known tones, the noise floor and clicks of a known side (mono, 24-bit,
//! 44.1 kHz) come out within their tolerances, as JSON and as `--text`; bad input (flags, a file
//! that is not FLAC, a truncated one, half a frame, nothing, 10 ms, silence, pure noise) gets one
//! line naming the input and the step and its documented exit status, never a panic.

mod common;

use common::audio::{Audio, Noise, amp, play_with_clicks};
use common::{DEADLINE, assert_status, run, stderr, stdin_file};
use serde_json::Value;
use std::f64::consts::PI;
use std::process::Command;
use vinyl::pcm::SampleFormat;

const QA: &str = env!("CARGO_BIN_EXE_vinyl-qa");

/// A test record's side: lead-in, a 3150 Hz tone 0.5 % fast with 0.1 % of 4 Hz wow, 1 kHz on
/// the left with the right 25 dB under it, 1 kHz on the right with the left 30 dB under it.
fn test_record() -> Audio {
    let mut a = Audio::new(48_000, 2);
    let f = 3150.0 * 1.005;
    let beta = f * 0.001 / 4.0;
    a.add(3.0, |_, _| 0.0)
        .add(12.0, |_, t| amp(-12.0) * (2.0 * PI * f * t + beta * (2.0 * PI * 4.0 * t).sin()).sin())
        .add(2.0, |_, _| 0.0)
        .add(8.0, |c, t| amp(if c == 0 { -10.0 } else { -35.0 }) * (2.0 * PI * 1000.0 * t).sin())
        .add(2.0, |_, _| 0.0)
        .add(8.0, |c, t| amp(if c == 1 { -10.0 } else { -40.0 }) * (2.0 * PI * 1000.0 * t).sin())
        .add(2.0, |_, _| 0.0);
    a
}

/// Runs vinyl-qa with `args` (stdin from `input` when given).
fn qa(args: &[&str], input: Option<std::fs::File>) -> std::process::Output {
    let mut cmd = Command::new(QA);
    cmd.args(args).env_remove("VINYL_RATE").env_remove("VINYL_CHANNELS").env_remove("VINYL_FORMAT");
    match input {
        Some(f) => cmd.stdin(f),
        None => cmd.stdin(std::process::Stdio::null()),
    };
    run(&mut cmd, DEADLINE)
}

/// The JSON report of a successful run.
fn report(out: &std::process::Output) -> Value {
    assert_status("vinyl-qa", out, 0);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn num(r: &Value, key: &str) -> f64 {
    r[key].as_f64().unwrap_or_else(|| panic!("{key}: {r}"))
}

#[test]
fn a_flac_test_record_gives_speed_wow_and_flutter_and_separation_and_stdin_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let a = test_record();
    let flac = a.flac(&dir.path().join("test-record.flac"), SampleFormat::S16Le);
    let r = report(&qa(&[flac.to_str().unwrap()], None));
    assert!((num(&r, "speed_error_pct") - 0.5).abs() <= 0.01, "{r}");
    assert!((num(&r, "wow_flutter_weighted_pct") / 0.0997 - 1.0).abs() <= 0.1, "{r}");
    assert!((num(&r, "wow_flutter_unweighted_pct") / 0.1 - 1.0).abs() <= 0.1, "{r}");
    assert!(num(&r, "wow_pct") > num(&r, "flutter_pct"), "4 Hz is wow: {r}");
    assert!((r["separation_db"]["left_to_right"].as_f64().unwrap() - 25.0).abs() <= 0.5, "{r}");
    assert!((r["separation_db"]["right_to_left"].as_f64().unwrap() - 30.0).abs() <= 0.5, "{r}");
    assert!(num(&r, "balance_db").abs() <= 0.1, "{r}");
    let kinds: Vec<&str> =
        r["tones"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["speed", "left_1k", "right_1k"], "{r}");
    let health = r["health"].as_u64().unwrap();
    assert!(health <= 100 && r["reasons"].is_array(), "{r}");
    // The keys the collection's trends read (library::reports::Figures) are where it reads them.
    let figures: vinyl::library::reports::Figures = serde_json::from_value(r.clone()).unwrap();
    assert_eq!(figures.speed_error_pct, r["speed_error_pct"].as_f64());
    assert_eq!(figures.health, Some(health as f64));

    // The same PCM on stdin: the same report.
    let stdin = stdin_file(dir.path(), &a.pcm(SampleFormat::S16Le));
    let mut from_stdin = report(&qa(&["-"], Some(stdin)));
    assert_eq!(from_stdin["input"], "-");
    from_stdin["input"] = r["input"].clone();
    assert_eq!(from_stdin, r);

    let out = qa(&["--text", flac.to_str().unwrap()], None);
    assert_status("vinyl-qa --text", &out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("speed error: 0.5") && text.contains("separation left to right: 2"), "{text}");
    assert!(
        text.starts_with(&format!("{}: 37.0 s, 48000 Hz, 2 channels\nhealth: {health}\n", flac.display())),
        "{text}"
    );
}

#[test]
fn a_mono_24_bit_side_at_44_1_khz_gets_its_noise_floor_and_clicks() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Audio::new(44_100, 1);
    let music = |_: usize, t: f64| {
        let env = 0.5 + 0.5 * (2.0 * PI * 0.3 * t).sin().abs();
        env * (0.08 * (2.0 * PI * 220.0 * t).sin()
            + 0.02 * (2.0 * PI * 1760.0 * t).sin()
            + 0.002 * (2.0 * PI * 12_000.0 * t).sin())
    };
    a.add(6.0, |_, _| 0.0).add(20.0, music).add(2.0, |_, _| 0.0).add(20.0, music);
    // 12 clicks at -20 dBFS, one every 4 s from 2 s on.
    for k in 1..=12 {
        a.samples[(k * 4 - 2) * 44_100] += amp(-20.0);
    }
    let flac = a.flac(&dir.path().join("side.flac"), SampleFormat::S24_3Le);
    let r = report(&qa(&[flac.to_str().unwrap()], None));
    assert_eq!((r["rate"].as_u64(), r["channels"].as_u64()), (Some(44_100), Some(1)), "{r}");
    assert!((num(&r, "noise_floor_dbfs") - (-62.0)).abs() <= 1.0, "{r}");
    assert!((num(&r, "clicks_per_min") - 12.0 / (48.0 / 60.0)).abs() <= 1.5, "{r}");
    assert!(r["hf_rolloff_db"].is_number() && r["rumble_dbfs"].is_number() && r["snr_db"].is_number(), "{r}");
    assert!(r["speed_error_pct"].is_null() && r["separation_db"] == serde_json::json!({}), "{r}");
    assert_eq!(r["gain_advice"]["verdict"], "too_low", "{r}");
}

/// Asserts a failed run's status and that it said one line naming `object` and holding `says`.
fn assert_one_line(out: &std::process::Output, status: i32, object: &str, says: &str) {
    assert_status(&format!("vinyl-qa on {object}"), out, status);
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("vinyl-qa: ") && lines[0].contains(object) && lines[0].contains(says),
        "{err}"
    );
}

#[test]
fn bad_input_gets_one_line_naming_it_and_its_exit_status_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    // Flags: clap's usage error, exit 2.
    for args in [&["--reference", "abc", "-"][..], &["--rate", "5", "-"], &["--format", "f32", "-"], &[]] {
        let out = qa(args, None);
        assert_status(&format!("vinyl-qa {args:?}"), &out, 2);
        assert!(!stderr(&out).contains("panicked"));
    }
    // A file that is not FLAC: a usage error naming it; a missing one: exit 1.
    std::fs::write(p("notes.flac"), b"RIFF....WAVEfmt ").unwrap();
    assert_one_line(&qa(&[p("notes.flac").to_str().unwrap()], None), 2, "notes.flac", "not a FLAC file");
    assert_one_line(&qa(&[p("gone.flac").to_str().unwrap()], None), 1, "gone.flac", "open");
    // A FLAC file cut short: what decoded is lost with the error, exit 1.
    let mut a = Audio::new(48_000, 2);
    a.add(3.0, |_, t| 0.1 * (2.0 * PI * 440.0 * t).sin());
    let whole = std::fs::read(a.flac(&p("whole.flac"), SampleFormat::S16Le)).unwrap();
    std::fs::write(p("cut.flac"), &whole[..whole.len() * 2 / 3]).unwrap();
    assert_one_line(&qa(&[p("cut.flac").to_str().unwrap()], None), 1, "cut.flac", "decode to analyse");
    // Stdin: nothing, 10 ms, half a frame after 2 s.
    assert_one_line(&qa(&["-"], Some(stdin_file(dir.path(), b""))), 1, "stdin", "no audio");
    assert_one_line(&qa(&["-"], Some(stdin_file(dir.path(), &[0, 1, 0]))), 1, "stdin", "no audio");
    let pcm = a.pcm(SampleFormat::S16Le);
    assert_one_line(
        &qa(&["-"], Some(stdin_file(dir.path(), &pcm[..1920]))),
        1,
        "stdin",
        "0.010 s of audio is too short",
    );
    let mut half = pcm[..2 * 192_000].to_vec();
    half.extend_from_slice(&[1, 2, 3]);
    let out = qa(&["-"], Some(stdin_file(dir.path(), &half)));
    assert_one_line(&out, 1, "stdin", "ended 3 bytes into a 4-byte frame");
    let r: Value = serde_json::from_slice(&out.stdout).expect("the whole frames' report is printed");
    assert_eq!(r["seconds"], 2.0);
}

#[test]
fn silence_and_pure_noise_are_reported_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = report(&qa(&["-"], Some(stdin_file(dir.path(), &vec![0u8; 192_000 * 3]))));
    assert!(r["health"].is_null() && r["noise_floor_dbfs"].is_null() && r["gain_advice"].is_null(), "{r}");
    assert_eq!(r["reasons"], serde_json::json!(["digital silence: nothing to measure"]));
    let mut a = Audio::new(48_000, 2);
    a.add(5.0, |_, _| 0.0);
    let r = report(&qa(&["-"], Some(stdin_file(dir.path(), &a.pcm(SampleFormat::S16Le)))));
    assert!(r["noise_floor_dbfs"].is_null() && r["snr_db"].is_null(), "no quiet stretch under anything: {r}");
    assert!((num(&r, "music_dbfs") - (-62.0)).abs() < 0.5, "{r}");
    assert_eq!(r["clicks_per_min"], 0.0, "{r}");
}

#[test]
fn stored_reports_of_two_plays_of_a_record_show_more_clicks_and_less_treble_and_stdin_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("library.db");
    let dbs = db.to_str().unwrap();
    let missing = qa(&["--db", dbs, "history", "--deck"], None);
    assert_one_line(&missing, 1, dbs, "no collection");
    assert!(!db.exists(), "history made the collection");
    // The second play: four times the clicks and 3 dB less treble (a worn stylus).
    let plays = [
        play_with_clicks(&dir.path().join("a1.flac"), 6, 0.0),
        play_with_clicks(&dir.path().join("a2.flac"), 24, 3.0),
    ];
    for f in &plays {
        let mut name = Command::new(env!("CARGO_BIN_EXE_vinyl-library"));
        name.args(["--db", dbs, "name"]).arg(f).args([
            "--artist",
            "Artist",
            "--album",
            "Worn Record",
            "--side",
            "A",
        ]);
        assert_status("vinyl-library name", &run(&mut name, DEADLINE), 0);
        let stored = report(&qa(&["--db", dbs, "--store", f.to_str().unwrap()], None));
        assert!(stored["clicks_per_min"].as_f64().is_some(), "{stored}");
    }
    // Stdin is no recording: nothing to store it as.
    let stdin = stdin_file(dir.path(), &[0; 4 * 48_000]);
    assert_one_line(&qa(&["--db", dbs, "--store", "-"], Some(stdin)), 2, "--store", "stdin");

    let deck = report(&qa(&["--db", dbs, "history", "--deck"], None));
    let paths: Vec<&str> =
        deck["reports"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, plays.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>(), "{deck}");
    // One record's clicks (and the health they cost) are that record's, not the deck's.
    let trends = deck["trends"].as_array().unwrap();
    let what: Vec<(&str, &str)> =
        trends.iter().map(|t| (t["what"].as_str().unwrap(), t["scope"].as_str().unwrap())).collect();
    let side = "Artist – Worn Record, side A";
    assert_eq!(what, [("clicks_per_min", side), ("hf_rolloff_db", side), ("health", side)], "{deck}");
    assert!(trends[0]["to"].as_f64() > trends[0]["from"].as_f64(), "{deck}");

    let out = qa(&["--db", dbs, "history", "--text", "worn"], None);
    assert_status("vinyl-qa history --text worn", &out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Artist – Worn Record: 2 health reports\n"), "{text}");
    assert!(text.contains("Artist – Worn Record, side A: clicks up "), "{text}");
    assert!(text.contains("Artist – Worn Record, side A: treble down 3.0 dB since "), "{text}");
    // The health trend as a plot: one line for the side, its two reports' dates on the axis.
    let trend = dir.path().join("trend.svg");
    assert_status(
        "vinyl-qa history --plot",
        &qa(&["--db", dbs, "history", "worn", "--plot", trend.to_str().unwrap()], None),
        0,
    );
    let svg = std::fs::read_to_string(&trend).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("Artist – Worn Record: health") && svg.contains("side A"),
        "{svg}"
    );
    assert_one_line(&qa(&["--db", dbs, "history", "no such album"], None), 2, "no such album", "no album");
    assert_eq!(qa(&["--db", dbs, "history"], None).status.code(), Some(2), "neither an album nor --deck");
}

#[test]
fn a_report_the_collection_cannot_take_is_still_printed_and_the_failure_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("library.db");
    let dbs = db.to_str().unwrap();
    let side = play_with_clicks(&dir.path().join("side.flac"), 6, 0.0);
    assert_eq!(qa(&["--db", dbs, "history", "--deck"], None).status.code(), Some(1), "no collection yet");
    let mut make = Command::new(env!("CARGO_BIN_EXE_vinyl-library"));
    make.args(["--db", dbs, "list"]);
    assert_status("vinyl-library list", &run(&mut make, DEADLINE), 0);
    // Another writer holds the collection past the busy timeout (10 s).
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = qa(&["--db", dbs, "--store", side.to_str().unwrap()], None);
    holder.execute_batch("ROLLBACK").unwrap();
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(
        printed["health"].is_number(),
        "the report is printed first: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_one_line(&out, 1, "side.flac", "locked");
    // With --store-wait, the report waits for the other writer, says so once, and is stored when
    // it lets go.
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut cmd = Command::new(QA);
    cmd.args(["--db", dbs, "--store", "--store-wait", "2m"]).arg(&side).stdin(std::process::Stdio::null());
    let waiting =
        common::proc::Proc::spawn_io(cmd, std::process::Stdio::null(), std::process::Stdio::null(), false);
    waiting.wait_line("locked by another writer: the report waits");
    holder.execute_batch("ROLLBACK").unwrap();
    let (status, report) = waiting.exit_report(DEADLINE);
    assert!(status.success(), "{report}");
    assert_eq!(report.matches("the report waits").count(), 1, "{report}");
    assert!(report.contains("the report is stored"), "{report}");
    let stored: i64 = holder.query_row("SELECT count(*) FROM reports", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, 1, "{report}");
    // Closed before the file is replaced below: its close would checkpoint into it.
    drop(holder);
    assert_eq!(
        qa(&["--db", dbs, "--store-wait", "1m", "x.flac"], None).status.code(),
        Some(2),
        "without --store"
    );
    // A file that is not a collection is refused, not overwritten.
    std::fs::write(&db, b"not a database at all, but a user's file").unwrap();
    let out = qa(&["--db", dbs, "--store", side.to_str().unwrap()], None);
    assert_one_line(&out, 1, dbs, "");
    assert_eq!(std::fs::read(&db).unwrap(), b"not a database at all, but a user's file");
}

/// `--plot DIR` (made when missing) draws the level each second with the track markers, the noise
/// floor's spectrum and a speed tone's deviation spectrum, each only when there is data for it;
/// a folder that cannot be made fails in one line after the report is printed.
#[test]
fn plots_are_svg_files_of_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots/new");
    let record = test_record().flac(&dir.path().join("test-record.flac"), SampleFormat::S16Le);
    let out = qa(&["--plot", plots.to_str().unwrap(), record.to_str().unwrap()], None);
    report(&out);
    assert!(stderr(&out).contains("plots: "), "{}", stderr(&out));
    let svg = |name: &str| std::fs::read_to_string(plots.join(name)).unwrap_or_default();
    // A test record is tones over its noise: nothing quieter than the music, so no noise plot.
    assert!(!plots.join("test-record-noise.svg").exists(), "a noise plot without a noise floor");
    for (kind, says) in [("level", "level and tracks"), ("wow", "wow and flutter spectrum")] {
        let s = svg(&format!("test-record-{kind}.svg"));
        assert!(
            s.starts_with("<svg") && s.contains(&format!("test-record: {says}")) && s.contains("<polyline"),
            "{kind}: {s}"
        );
    }
    assert!(svg("test-record-wow.svg").contains("speed deviation (% peak)"));

    // A side of music with two chapters: no tone, so no wow plot; a marker line each.
    let side = play_with_clicks(&dir.path().join("side.flac"), 6, 0.0);
    if common::tier(&["flac"]) {
        let mut tag = Command::new("metaflac");
        tag.args(["--set-tag=CHAPTER001=00:00:06.000", "--set-tag=CHAPTER002=00:00:28.000"]).arg(&side);
        common::assert_success("metaflac", &run(&mut tag, DEADLINE));
    }
    report(&qa(&["--plot", plots.to_str().unwrap(), side.to_str().unwrap()], None));
    let level = svg("side-level.svg");
    if common::tier(&["flac"]) {
        assert_eq!(level.matches("#969696").count(), 2, "a grey line a marker: {level}");
    }
    assert!(
        svg("side-noise.svg").contains("side: noise floor spectrum")
            && svg("side-noise.svg").contains("<circle")
    );
    assert!(!plots.join("side-wow.svg").exists(), "a wow plot without a tone");

    // A folder that cannot be made: the report is still printed, the failure named once.
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, "").unwrap();
    let sub = blocked.join("sub");
    let out = qa(&["--plot", sub.to_str().unwrap(), side.to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("{\"input\""), "the report first");
    assert_one_line(&out, 1, sub.to_str().unwrap(), "make the plots' folder");
}

/// `seconds` of mono music at 22.05 kHz (chords of three notes, eight a second, each struck and
/// decaying, from a sequence seeded by `seed`), as played on a deck whose speed rises linearly
/// from `from` to `to` over them: pitch and tempo follow it.
fn melody(seconds: f64, from: f64, to: f64, seed: u64) -> Audio {
    let mut n = Noise(seed);
    let notes: Vec<[f64; 3]> = (0..(seconds * to * 8.0) as usize + 16)
        .map(|_| [0; 3].map(|_| 300.0 * 2f64.powf((n.gauss().abs() * 24.0).floor().min(72.0) / 24.0)))
        .collect();
    let k = (to - from) / seconds;
    let mut a = Audio::new(22_050, 1);
    a.add(seconds, |_, t| {
        // The record's own time: its speed is d(tau)/dt = from + k t.
        let tau = from * t + 0.5 * k * t * t;
        let decay = (-3.0 * (tau * 8.0).fract()).exp();
        notes[(tau * 8.0) as usize].iter().map(|f| (2.0 * PI * f * tau).sin()).sum::<f64>() * 0.1 * decay
    });
    a
}

#[test]
fn a_replay_of_a_learned_side_gets_its_speed_drift_and_run_out_speed_and_an_unknown_side_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let db = p("library.db");
    let dbs = db.to_str().unwrap();
    // One recording of the side, learned by naming it.
    let learned = melody(150.0, 1.0, 1.0, 0xD81F).flac(&p("learned.flac"), SampleFormat::S16Le);
    let mut name = Command::new(env!("CARGO_BIN_EXE_vinyl-library"));
    name.args(["--db", dbs, "name"])
        .arg(&learned)
        .args(["--artist", "Artist", "--album", "Drift", "--side", "A"]);
    assert_status("vinyl-library name", &run(&mut name, DEADLINE), 0);
    // A second play of it on a deck that speeds up from 1.000 to 1.004, its run-out at 33.45 rpm.
    let tags = [("VINYL_RPM", "33.45")];
    let replay = melody(150.0, 1.0, 1.004, 0xD81F).flac_tagged(&p("replay.flac"), SampleFormat::S16Le, &tags);
    let r = report(&qa(&["--db", dbs, replay.to_str().unwrap()], None));
    println!("speed 1.000 -> 1.004: speed_drift_pct {} (want 0.4 +- 0.05)", r["speed_drift_pct"]);
    assert!((num(&r, "speed_drift_pct") - 0.4).abs() <= 0.05, "{r}");
    assert!((num(&r, "runout_speed_pct") - (33.45 / (100.0 / 3.0) - 1.0) * 100.0).abs() <= 0.005, "{r}");
    let out = qa(&["--db", dbs, "--text", replay.to_str().unwrap()], None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("speed drift (start to end): +0.") && text.contains("speed at the run-out: 0.35 %"),
        "{text}"
    );

    // Music the collection does not know, the learned recording itself (its own print is no
    // comparison), and a collection that is not there: null, no error, and none made.
    let other = melody(150.0, 1.0, 1.0, 0x0B5E).flac(&p("other.flac"), SampleFormat::S16Le);
    let gone = p("none.db");
    for (file, db, why) in [
        (&other, dbs, "not a side the collection learned"),
        (&learned, dbs, "the collection learned no other recording of this side"),
        (&replay, gone.to_str().unwrap(), "no collection"),
    ] {
        let out = qa(&["--db", db, file.to_str().unwrap()], None);
        assert!(stderr(&out).is_empty(), "{}", stderr(&out));
        let r = report(&out);
        assert!(r["speed_drift_pct"].is_null(), "{}: {r}", file.display());
        let out = qa(&["--db", db, "--text", file.to_str().unwrap()], None);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(&format!("speed drift (start to end): - ({why}")), "{text}");
    }
    assert!(report(&qa(&["--db", dbs, other.to_str().unwrap()], None))["runout_speed_pct"].is_null());
    assert!(!gone.exists(), "vinyl-qa made a collection");
}
