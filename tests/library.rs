//! `vinyl-library`: the collection in a real SQLite database, and named sides checked with the
//! reference FLAC tools (`metaflac`, `flac -t`, `flac -d`) and ffmpeg's PNG encoder for covers.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use vinyl::library::history::{DRAIN, SAY_LOST};

const LIBRARY: &str = env!("CARGO_BIN_EXE_vinyl-library");
const T: Duration = Duration::from_secs(60);

/// A folder with a recorded side: 10 s of a tone, three tracks at 0, 3 and 6 s.
struct Side {
    dir: tempfile::TempDir,
    flac: PathBuf,
    db: PathBuf,
}

impl Side {
    fn new() -> Side {
        let dir = tempfile::tempdir().unwrap();
        let flac = dir.path().join("side-20261204-215037.flac");
        let spec = vinyl::pcm::PcmSpec::default();
        let pcm = vinyl::pcm::unique_frames(&spec, 0, 10 * u64::from(spec.rate));
        let mut rec = Command::new(bin_dir().join("vinyl-flac-rec"));
        rec.arg("-o").arg(&flac);
        assert_success("vinyl-flac-rec", &run_with_input(&mut rec, &pcm));
        let mut tracks = Command::new(bin_dir().join("vinyl-rec"));
        tracks.args(["tracks"]).arg(&flac).args(["--set", "0,3,6"]);
        assert_success("vinyl-rec tracks --set", &run(&mut tracks, T));
        let db = dir.path().join("library.db");
        Side { dir, flac, db }
    }

    fn library(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(LIBRARY);
        cmd.arg("--db").arg(&self.db).args(args);
        run(&mut cmd, T)
    }

    fn name(&self, extra: &[&str]) -> Output {
        let file = self.flac.to_str().unwrap();
        let mut args = vec!["name", file, "--artist", "AC/DC", "--album", "Back in Black", "--year", "1980"];
        args.extend_from_slice(extra);
        self.library(&args)
    }

    /// `name` with two titles and `cover`, as side `side`.
    fn name_two_tracks(&self, side: &str, cover: &Path) -> Output {
        let titles = ["--title", "Hells Bells", "--title", "Shoot to Thrill"];
        self.name(&[&["--side", side, "--cover", cover.to_str().unwrap()][..], &titles[..]].concat())
    }

    /// The decoded PCM of the side (what must never change).
    fn audio(&self) -> Vec<u8> {
        let out = run(
            Command::new("flac")
                .args(["-d", "-s", "-c", "--force-raw-format", "--endian=little", "--sign=signed"])
                .arg(&self.flac),
            T,
        );
        assert_success("flac -d", &out);
        out.stdout
    }
}

/// Runs `cmd` with `input` on stdin.
fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // A reader may stop early (recognize, at its match): what it did not read is not an error.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        if let Err(e) = stdin.write_all(&input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write the input: {e}");
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn metaflac(flac: &Path, args: &[&str]) -> String {
    let out = run(Command::new("metaflac").args(args).arg(flac), T);
    assert_success("metaflac", &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PNG cover larger than the recorder's 8 KiB of padding, made by ffmpeg.
fn cover(dir: &Path) -> PathBuf {
    let png = dir.join("cover.png");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-f", "lavfi", "-i", "testsrc=s=640x480", "-frames:v", "1"]).arg(&png);
    assert_success("ffmpeg (a PNG cover)", &run(&mut cmd, T));
    assert!(std::fs::metadata(&png).unwrap().len() > 8192, "the cover must not fit the padding");
    png
}

/// `name` tags the file for music libraries (read back by metaflac), puts the cover in a PICTURE
/// block (the file rewritten with room, its audio identical), records the album in the database
/// and says it titled 2 of 3 tracks; `list`, `export` and `check` show it.
#[test]
fn naming_a_side_tags_its_file_and_fills_the_collection() {
    let side = Side::new();
    let before = side.audio();
    let png = cover(side.dir.path());
    let out = side.name_two_tracks("a", &png);
    assert_success("vinyl-library name", &out);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("titled 2 of its 3 tracks"), "{said}");
    let tags = metaflac(&side.flac, &["--export-tags-to=-"]);
    for want in [
        "ARTIST=AC/DC",
        "ALBUMARTIST=AC/DC",
        "ALBUM=Back in Black",
        "DATE=1980",
        "VINYL_SIDE=A",
        "CHAPTER001NAME=Hells Bells",
        "CHAPTER002NAME=Shoot to Thrill",
        "CHAPTER003NAME=Track 3",
    ] {
        assert!(tags.lines().any(|l| l == want), "no {want} in:\n{tags}");
    }
    let picture = metaflac(&side.flac, &["--list", "--block-type=PICTURE"]);
    assert!(
        picture.contains("Cover (front)") && picture.contains("image/png") && picture.contains("width: 640"),
        "{picture}"
    );
    assert_success("flac -t", &run(Command::new("flac").args(["-t", "-s"]).arg(&side.flac), T));
    assert!(side.audio() == before, "the audio changed");
    // Markers moved by hand keep the titles of their track numbers.
    let mut tracks = Command::new(bin_dir().join("vinyl-rec"));
    tracks.args(["tracks"]).arg(&side.flac).args(["--set", "0,4,7"]);
    assert_success("vinyl-rec tracks --set", &run(&mut tracks, T));
    let tags = metaflac(&side.flac, &["--export-tags-to=-"]);
    for want in ["CHAPTER001NAME=Hells Bells", "CHAPTER002=00:00:04.000", "CHAPTER002NAME=Shoot to Thrill"] {
        assert!(tags.lines().any(|l| l == want), "no {want} after tracks --set in:\n{tags}");
    }
    let mode = std::fs::metadata(&side.db)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    assert_eq!(mode.ok(), Some(0o600), "the database is the user's alone");

    let export = side.library(&["export", "--json"]);
    assert_success("export --json", &export);
    let albums: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(albums[0]["artist"], "AC/DC");
    assert_eq!(albums[0]["cover"], true);
    assert_eq!(albums[0]["sides"][0]["tracks"], serde_json::json!(["Hells Bells", "Shoot to Thrill"]));
    assert_eq!(albums[0]["sides"][0]["recordings"][0], side.flac.to_str().unwrap());
    let csv = side.library(&["export", "--csv"]);
    assert!(
        String::from_utf8_lossy(&csv.stdout).contains("AC/DC,Back in Black,1980,A,2,Shoot to Thrill"),
        "{csv:?}"
    );
    assert_success("check", &side.library(&["check"]));
    // Naming again (another title) updates in place: one album, one side, one recording.
    assert_success("name again", &side.name(&["--side", "A", "--title", "Hells Bells (live)"]));
    let albums: serde_json::Value = serde_json::from_slice(&side.library(&["export"]).stdout).unwrap();
    assert_eq!(albums.as_array().map(Vec::len), Some(1), "{albums}");
    assert_eq!(albums[0]["sides"][0]["tracks"], serde_json::json!(["Hells Bells (live)"]), "{albums}");
    assert_success("forget", &side.library(&["forget", side.flac.to_str().unwrap()]));
    let albums: serde_json::Value = serde_json::from_slice(&side.library(&["export"]).stdout).unwrap();
    assert_eq!(albums[0]["sides"][0]["recordings"], serde_json::json!([]), "{albums}");
}

/// Bad input: each refused with its exit status and one line naming it, the file and the
/// database left as they were.
#[test]
fn bad_names_covers_and_databases_are_refused_and_nothing_is_lost() {
    let side = Side::new();
    assert_success("name", &side.name(&["--title", "One"]));
    let tags = metaflac(&side.flac, &["--export-tags-to=-"]);
    let junk = side.dir.path().join("junk.bin");
    std::fs::write(&junk, b"GIF89a not a cover we take").unwrap();
    for (args, code, says) in [
        (vec!["--side", "../x"], 2, "--side"),
        (vec!["--title", "two\nlines"], 2, "--title"),
        (vec!["--cover", junk.to_str().unwrap()], 2, "not a PNG or JPEG"),
    ] {
        let out = side.name(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() == Some(code) && err.contains(says) && err.lines().count() == 1,
            "{args:?}: {out:?}"
        );
    }
    assert_eq!(metaflac(&side.flac, &["--export-tags-to=-"]), tags, "a refused name changed the file");
    // Databases that are not this library's: refused, left as they were.
    let foreign = side.dir.path().join("other.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let newer = side.dir.path().join("newer.db");
    rusqlite::Connection::open(&newer).unwrap().execute_batch("PRAGMA user_version = 99;").unwrap();
    let not_sqlite = side.dir.path().join("junk.db");
    std::fs::write(&not_sqlite, vec![7u8; 4096]).unwrap();
    for (db, says) in [
        (&foreign, "another program"),
        (&newer, "newer vinyl-library"),
        (&not_sqlite, "not an SQLite database"),
    ] {
        let before = std::fs::read(db).unwrap();
        let mut cmd = Command::new(LIBRARY);
        cmd.arg("--db").arg(db).arg("list");
        let out = run(&mut cmd, T);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(1) && err.contains(says), "{}: {out:?}", db.display());
        assert_eq!(std::fs::read(db).unwrap(), before, "{} was changed", db.display());
    }
    let albums: serde_json::Value = serde_json::from_slice(&side.library(&["export"]).stdout).unwrap();
    assert_eq!(albums[0]["sides"][0]["tracks"], serde_json::json!(["One"]), "a committed row was lost");
}

/// Two writers at once: a `name` that finds the database locked by another writer waits for it
/// (the busy timeout) and then commits; neither loses its rows.
#[test]
fn a_second_writer_waits_for_the_first() {
    let side = Side::new();
    assert_success("name", &side.name(&["--title", "First"]));
    let mut other = rusqlite::Connection::open(&side.db).unwrap();
    let tx = other.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    tx.execute("INSERT INTO albums (artist, title) VALUES ('Other', 'Writer')", []).unwrap();
    let mut cmd = Command::new(LIBRARY);
    cmd.arg("--db").arg(&side.db).args(["name", side.flac.to_str().unwrap(), "--artist", "AC/DC"]);
    cmd.args(["--album", "Back in Black", "--title", "Second"]);
    let child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Held until the second writer has the database open (it then meets the lock and waits).
    let fds = format!("/proc/{}/fd", child.id());
    wait_until("the second writer opens the database", T, || {
        std::fs::read_dir(&fds)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == side.db))
    });
    tx.commit().unwrap();
    assert_success("name while another writer held the database", &child.wait_with_output().unwrap());
    let albums: serde_json::Value = serde_json::from_slice(&side.library(&["export"]).stdout).unwrap();
    let titles: Vec<&str> = albums.as_array().unwrap().iter().filter_map(|a| a["title"].as_str()).collect();
    assert_eq!(titles, ["Back in Black", "Writer"], "{albums}");
    assert_eq!(albums[0]["sides"][0]["tracks"], serde_json::json!(["Second"]));
}

/// `learn` reads a naming back from the tags `name` wrote (titles, side, year, cover) into
/// another collection; an unnamed file is skipped with a line and exit 1, the named one learned.
#[test]
fn learn_takes_named_files_from_their_tags_and_skips_unnamed_ones() {
    let named = Side::new();
    let png = cover(named.dir.path());
    let out = named.name_two_tracks("B", &png);
    assert_success("name", &out);
    let unnamed = Side::new();
    let other_db = named.dir.path().join("other.db");
    let mut cmd = Command::new(LIBRARY);
    cmd.arg("--db").arg(&other_db).arg("learn").arg(&named.flac).arg(&unnamed.flac);
    let out = run(&mut cmd, T);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1) && err.contains("no ARTIST and ALBUM tags") && err.contains("1 of 2"),
        "{out:?}"
    );
    let mut cmd = Command::new(LIBRARY);
    cmd.arg("--db").arg(&other_db).arg("export");
    let albums: serde_json::Value = serde_json::from_slice(&run(&mut cmd, T).stdout).unwrap();
    let a = &albums[0];
    assert!(a["artist"] == "AC/DC" && a["year"] == 1980 && a["cover"] == true, "{albums}");
    assert_eq!(a["sides"][0]["name"], "B");
    assert_eq!(a["sides"][0]["tracks"], serde_json::json!(["Hells Bells", "Shoot to Thrill"]));
    assert_eq!(a["sides"][0]["recordings"][0], named.flac.to_str().unwrap());
}

/// `import-release` reads a MusicBrainz release (ws/2, inc=recordings) and a Discogs one: sides
/// from the positions (A1, B2…), label, catalogue number, year; a later `name` without titles
/// takes the side's titles from the collection into the file.
#[test]
fn a_release_from_musicbrainz_or_discogs_gives_the_sides_their_titles() {
    let side = Side::new();
    let mb = side.dir.path().join("mb.json");
    std::fs::write(
        &mb,
        r#"{"id":"x","title":"Back in Black","date":"1980-07-25","status":"Official",
            "artist-credit":[{"name":"AC/DC","joinphrase":"","artist":{"id":"y","name":"AC/DC"}}],
            "label-info":[{"catalog-number":"SD 16018","label":{"id":"z","name":"Atlantic"}}],
            "media":[{"position":1,"format":"12\" Vinyl","track-count":3,"tracks":[
              {"position":1,"number":"A1","title":"Hells Bells","length":312000,"recording":{"title":"Hells Bells"}},
              {"position":2,"number":"A2","title":"Shoot to Thrill","length":317000},
              {"position":3,"number":"A3","title":"What Do You Do for Money Honey","length":215000}]},
              {"position":2,"format":"12\" Vinyl","tracks":[{"position":1,"number":"B1","title":"Back in Black","length":255000}]}]}"#,
    )
    .unwrap();
    assert_success("import-release (MusicBrainz)", &side.library(&["import-release", mb.to_str().unwrap()]));
    let dg = side.dir.path().join("discogs.json");
    std::fs::write(
        &dg,
        r#"{"id":1,"title":"Kind Of Blue","year":1959,"artists":[{"name":"Miles Davis","join":""}],
            "labels":[{"name":"Columbia","catno":"CL 1355"}],"formats":[{"name":"Vinyl","qty":"1"}],
            "tracklist":[{"position":"","type_":"heading","title":"Side One","duration":""},
              {"position":"A1","type_":"track","title":"So What","duration":"9:22"},
              {"position":"A2","type_":"track","title":"Freddie Freeloader","duration":"9:46"},
              {"position":"B1","type_":"track","title":"Blue In Green","duration":"5:37"}]}"#,
    )
    .unwrap();
    assert_success("import-release (Discogs)", &side.library(&["import-release", dg.to_str().unwrap()]));
    let albums: serde_json::Value = serde_json::from_slice(&side.library(&["export"]).stdout).unwrap();
    let by_title = |t: &str| albums.as_array().unwrap().iter().find(|a| a["title"] == t).cloned().unwrap();
    let bib = by_title("Back in Black");
    assert!(bib["artist"] == "AC/DC" && bib["year"] == 1980, "{bib}");
    assert_eq!(bib["sides"][0]["tracks"][2], "What Do You Do for Money Honey");
    assert_eq!(bib["sides"][1]["name"], "B");
    let kob = by_title("Kind Of Blue");
    assert_eq!(kob["sides"][0]["tracks"], serde_json::json!(["So What", "Freddie Freeloader"]), "{kob}");
    // show finds an album by words of its artist and title, with its release.
    let shown = side.library(&["show", "kind blue"]);
    assert_success("show", &shown);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("Miles Davis – Kind Of Blue (1959)") && text.contains("Columbia · CL 1355 · Vinyl"),
        "{text}"
    );
    assert!(!text.contains("AC/DC"), "{text}");
    assert_eq!(side.library(&["show", "no such record"]).status.code(), Some(2));
    // A name without titles takes them from the collection.
    assert_success("name without titles", &side.name(&["--side", "A"]));
    let tags = metaflac(&side.flac, &["--export-tags-to=-"]);
    for want in ["CHAPTER001NAME=Hells Bells", "CHAPTER003NAME=What Do You Do for Money Honey"] {
        assert!(tags.lines().any(|l| l == want), "no {want} in:\n{tags}");
    }
    // Neither shape: a usage error naming the file.
    let bad = side.dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"title":"x"}"#).unwrap();
    let out = side.library(&["import-release", bad.to_str().unwrap()]);
    assert!(
        out.status.code() == Some(2) && String::from_utf8_lossy(&out.stderr).contains("bad.json"),
        "{out:?}"
    );
}

/// Frozen-bubble's music (Debian's frozen-bubble-data, which scripts/test installs).
fn frozen_bubble(name: &str) -> PathBuf {
    PathBuf::from("/usr/share/games/frozen-bubble/snd").join(format!("{name}.ogg"))
}

/// 40 s of `music` from 5 s in, played on a deck at `speed` with `gain_db` and pink hiss at
/// `hiss` (linear) after `pad_s` of silence, as WAV: one play of a record, by ffmpeg and sox.
fn play(dir: &Path, music: &Path, name: &str, speed: f64, gain_db: f64, hiss: f64, pad_s: f64) -> PathBuf {
    let clean = dir.join(format!("{name}-clean.wav"));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-y", "-ss", "5", "-t", "40", "-i"]).arg(music);
    cmd.args(["-ar", "48000", "-ac", "2"]).arg(&clean);
    assert_success("ffmpeg (decode the music)", &run(&mut cmd, T));
    let wav = dir.join(format!("{name}.wav"));
    let noise = format!("|sox -R -n -r 48000 -c 2 -p synth 40 pinknoise vol {hiss}");
    let mut cmd = Command::new("sox");
    cmd.arg("-m").arg(&clean).arg(noise).args(["-b", "16"]).arg(&wav);
    cmd.args(["speed", &speed.to_string(), "rate", "48000", "gain", &gain_db.to_string()]);
    cmd.args(["pad", &pad_s.to_string(), "0"]);
    assert_success("sox (a play of the record)", &run(&mut cmd, T));
    wav
}

/// A WAV as FLAC, by the reference encoder.
fn flac_of(wav: &Path) -> PathBuf {
    let flac = wav.with_extension("flac");
    assert_success("flac", &run(Command::new("flac").args(["-s", "-f", "-o"]).arg(&flac).arg(wav), T));
    flac
}

/// `recognize`'s one JSON line and exit status, from a FLAC file or (raw PCM) stdin.
fn recognize(db: &Path, input: &Path, stdin: Option<&[u8]>) -> (serde_json::Value, Option<i32>) {
    recognize_with(db, input, stdin, &[])
}

/// [`recognize`] with more flags.
fn recognize_with(
    db: &Path,
    input: &Path,
    stdin: Option<&[u8]>,
    flags: &[&str],
) -> (serde_json::Value, Option<i32>) {
    let mut cmd = Command::new(LIBRARY);
    cmd.arg("--db").arg(db).arg("recognize").args(flags);
    let out = match stdin {
        Some(bytes) => run_with_input(cmd.arg("-"), bytes),
        None => run(cmd.arg(input), T),
    };
    let line = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("recognize {}: not one JSON line ({e}): {out:?}", input.display()));
    (v, out.status.code())
}

/// Two sides of one album are named (so learned) from one play each; other plays of them, at
/// other speeds (−1.8 %, +2 %), 18 dB quieter and under louder hiss, are recognised from the
/// file and from raw PCM on stdin: the right side, its speed, where the play starts in the learned
/// side, and the track (with its title) playing then. Music the collection never learned is
/// `{"match":null}` and exit 1, and so is digital silence.
#[test]
fn replays_of_learned_sides_are_recognised_and_other_music_is_not() {
    let pieces = ["frozen-mainzik-1p", "frozen-mainzik-2p", "introzik"].map(frozen_bubble);
    if !tier(&["ffmpeg", "sox", "flac", "metaflac"]) || !tier_files(&pieces.each_ref().map(PathBuf::as_path))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("library.db");
    for (piece, side) in [(&pieces[0], "A"), (&pieces[1], "B")] {
        let learned = flac_of(&play(d, piece, &format!("learned-{side}"), 1.0, -3.0, 0.003, 0.0));
        // Recorded by auto on a deck whose run-out measured 33.33 rpm.
        metaflac(&learned, &["--set-tag=VINYL_RPM=33.33"]);
        let tracks = run(
            Command::new(bin_dir().join("vinyl-rec")).arg("tracks").arg(&learned).args(["--set", "0,15,30"]),
            T,
        );
        assert_success("vinyl-rec tracks --set", &tracks);
        let mut cmd = Command::new(LIBRARY);
        cmd.arg("--db").arg(&db).arg("name").arg(&learned);
        cmd.args(["--artist", "Frozen Bubble", "--album", "Music", "--side", side]);
        cmd.args([
            "--title",
            &format!("{side} one"),
            "--title",
            &format!("{side} two"),
            "--title",
            &format!("{side} three"),
        ]);
        let out = run(&mut cmd, T);
        assert_success("name", &out);
        assert!(String::from_utf8_lossy(&out.stderr).contains("fingerprint pairs"), "{out:?}");
    }

    let replay_a = flac_of(&play(d, &pieces[0], "replay-a", 0.982, -18.0, 0.012, 2.0));
    let replay_b = play(d, &pieces[1], "replay-b", 1.02, -12.0, 0.008, 2.0);
    let raw_b = run(Command::new("sox").arg(&replay_b).args(["-t", "raw", "-"]), T).stdout;
    for (input, stdin, side, speed) in
        [(&replay_a, None, "A", 0.982), (&replay_b, Some(raw_b.as_slice()), "B", 1.02)]
    {
        let (v, code) = recognize(&db, input, stdin);
        let m = &v["match"];
        assert_eq!((code, m["side"].as_str()), (Some(0), Some(side)), "{input:?}: {v}");
        assert_eq!(m["album"], "Music", "{v}");
        let (heard, offset, ratio) = (f(&m["heard_s"]), f(&m["offset_s"]), f(&m["speed_ratio"]));
        assert!(heard <= 15.0, "recognised only after {heard} s: {v}");
        assert!((ratio - speed).abs() <= 0.008, "speed {ratio}, played at {speed}: {v}");
        // 2 s of silence before the music: the play starts 2 s (of the learned side) before it.
        assert!((offset + 2.0 * speed).abs() <= 0.3, "offset {offset}: {v}");
        let at = offset + heard * speed;
        let track = [0.0, 15.0, 30.0].iter().filter(|&&s| s <= at).count();
        let title = ["one", "two", "three"][track - 1];
        assert_eq!(m["track"], track, "{v}");
        assert_eq!(m["position"], format!("{side}{track}"), "{v}");
        assert_eq!(m["title"], format!("{side} {title}"), "{v}");
        assert!(f(&m["confidence"]) > 0.5, "{v}");
    }

    // The deck's speed from a run-out: replay B's own (1.02 of the learned deck's) narrows the
    // search around it, and it is found as soon; a stale one (the deck ran 1.5 % slow at its last
    // run-out, then its speed was changed) keeps the replay out of the search until it widens to
    // every speed, after 12 s, and it is found then, from everything heard, at its speed.
    let b = |rpm: &str| recognize_with(&db, &replay_b, Some(raw_b.as_slice()), &["--rpm", rpm]);
    let (v, code) = b("33.99");
    assert_eq!((code, v["match"]["side"].as_str()), (Some(0), Some("B")), "{v}");
    assert!(
        f(&v["match"]["heard_s"]) <= 15.0 && (f(&v["match"]["speed_ratio"]) - 1.02).abs() <= 0.008,
        "{v}"
    );
    let (v, code) = b("32.83");
    assert_eq!((code, v["match"]["side"].as_str()), (Some(0), Some("B")), "{v}");
    let heard = f(&v["match"]["heard_s"]);
    // Not before the search widens; its music repeats, so the place may wait for the loop rule (20 s).
    assert!((12.0..=21.5).contains(&heard), "a stale run-out's speed, recognised after {heard} s: {v}");
    assert!((f(&v["match"]["speed_ratio"]) - 1.02).abs() <= 0.008, "{v}");
    let mut bad = Command::new(LIBRARY);
    bad.arg("--db").arg(&db).args(["recognize", "--rpm", "40"]).arg(&replay_a);
    let out = run(&mut bad, T);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not within 4 % of 33 1/3, 45 or 78"), "{out:?}");

    let other = flac_of(&play(d, &pieces[2], "other", 1.0, -6.0, 0.005, 0.0));
    assert_eq!(recognize(&db, &other, None), (serde_json::json!({"match": null}), Some(1)));
    let silence = vec![0u8; 48000 * 4 * 20];
    assert_eq!(recognize(&db, Path::new("-"), Some(&silence)), (serde_json::json!({"match": null}), Some(1)));
}

/// A collection learned by an older vinyl-library (its prints of print version 1, which
/// recognition no longer compares): `check` names each such recording and says to relearn it (exit
/// 1); `check --repair` relearns them from their files' tags, a missing file reported and the
/// others relearned, and a replay is recognised again.
#[test]
fn check_names_fingerprints_of_an_older_version_and_repair_relearns_them_from_their_files() {
    let pieces = ["frozen-mainzik-1p", "frozen-mainzik-2p"].map(frozen_bubble);
    if !tier(&["ffmpeg", "sox", "flac"]) || !tier_files(&pieces.each_ref().map(PathBuf::as_path)) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("library.db");
    let library = |args: &[&str]| run(Command::new(LIBRARY).arg("--db").arg(&db).args(args), T);
    let mut files = Vec::new();
    for (piece, side) in [(&pieces[0], "A"), (&pieces[1], "B")] {
        let learned = flac_of(&play(d, piece, &format!("learned-{side}"), 1.0, -3.0, 0.003, 0.0));
        let file = learned.to_str().unwrap().to_string();
        assert_success(
            "name",
            &library(&["name", &file, "--artist", "Frozen Bubble", "--album", "Music", "--side", side]),
        );
        files.push((learned, file));
    }
    let replay = flac_of(&play(d, &pieces[0], "replay", 1.015, -10.0, 0.008, 2.0));
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(conn.execute("UPDATE prints SET version = 1", []).unwrap(), 2);
    drop(conn);
    assert_eq!(
        recognize(&db, &replay, None),
        (serde_json::json!({"match": null}), Some(1)),
        "a version 1 print compared"
    );
    // And says why, with the way out.
    let out = library(&["recognize", replay.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 recordings have fingerprints of an older version") && err.contains("check --repair"),
        "{err}"
    );

    let out = library(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    for (_, file) in &files {
        let line = err
            .lines()
            .find(|l| l.contains(file.as_str()))
            .unwrap_or_else(|| panic!("{file} not named: {err}"));
        assert!(line.contains("print version 1") && line.contains("relearn"), "{line}");
    }

    // Side B's file is away (an unmounted disk): it is reported, and side A relearned.
    let away = d.join("away.flac");
    std::fs::rename(&files[1].0, &away).unwrap();
    let out = library(&["check", "--repair"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        err.lines().any(|l| l.contains(&files[0].1) && l.contains("relearned (print version 1")),
        "{err}"
    );
    assert!(err.lines().any(|l| l.contains(&files[1].1) && l.contains("not relearned")), "{err}");
    assert!(err.lines().any(|l| l.contains(&files[1].1) && l.contains("missing")), "{err}");
    assert!(!err.lines().any(|l| l.contains(&files[0].1) && l.contains("print version 1,")), "{err}");
    let (v, code) = recognize(&db, &replay, None);
    assert_eq!((code, v["match"]["side"].as_str()), (Some(0), Some("A")), "{v}");

    std::fs::rename(&away, &files[1].0).unwrap();
    let out = library(&["check", "--repair"]);
    assert_success("check --repair", &out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no problems"), "{out:?}");
    assert_success("check", &library(&["check"]));
    let (v, code) = recognize(&db, &replay, None);
    assert_eq!((code, v["match"]["side"].as_str()), (Some(0), Some("A")), "{v}");
    let sides = library(&["list"]);
    assert_eq!(String::from_utf8_lossy(&sides.stdout).matches("Frozen Bubble").count(), 1, "{sides:?}");
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

/// Runs sox with `args`, checked.
fn sox(args: &[&str]) {
    assert_success("sox", &run(Command::new("sox").args(args), T));
}

/// How a side is played: the deck's speed, the gain, the groove's hiss (linear) and the idle
/// deck's seconds before the needle drop and after the lift.
struct Deck {
    speed: f64,
    gain_db: f64,
    hiss: f64,
    lead_s: f64,
}

/// A three-track side as WAV: 15 s cuts of `a` (5 s and 40 s in) and of `b`, 2 s of groove between
/// them, played on `deck`.
/// The two pieces of music the three-track sides are made of, when they and the tools are here
/// (else the test skips itself, saying so).
fn two_pieces() -> Option<[PathBuf; 2]> {
    let pieces = ["frozen-mainzik-1p", "frozen-mainzik-2p"].map(frozen_bubble);
    let here =
        tier(&["ffmpeg", "sox", "flac", "metaflac"]) && tier_files(&pieces.each_ref().map(PathBuf::as_path));
    here.then_some(pieces)
}

/// The learned play of [`three_tracks`] as FLAC, its markers at 0, 18 and 35 s.
fn learned_three_tracks(d: &Path, pieces: [&Path; 2]) -> PathBuf {
    let deck = Deck { speed: 1.0, gain_db: -3.0, hiss: 0.002, lead_s: 1.0 };
    let learned = flac_of(&three_tracks(d, pieces, "learned", deck));
    let mut set = Command::new(bin_dir().join("vinyl-rec"));
    set.arg("tracks").arg(&learned).args(["--set", "0,18,35"]);
    assert_success("vinyl-rec tracks --set", &run(&mut set, T));
    learned
}

/// A replay of [`three_tracks`] on `deck`, as raw PCM (s16le 48 kHz stereo).
fn replay_raw(d: &Path, pieces: [&Path; 2], deck: Deck) -> Vec<u8> {
    let replay = three_tracks(d, pieces, "replay", deck);
    let out = run(Command::new("sox").arg(&replay).args(["-t", "raw", "-"]), T);
    assert_success("sox (the replay as raw PCM)", &out);
    out.stdout
}

fn three_tracks(d: &Path, [a, b]: [&Path; 2], name: &str, deck: Deck) -> PathBuf {
    let Deck { speed, gain_db, hiss, lead_s } = deck;
    let cut = |src: &Path, from: u32, out: &str| {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-v", "error", "-y", "-ss", &from.to_string(), "-t", "15", "-i"]).arg(src);
        cmd.args(["-ar", "48000", "-ac", "2", "-sample_fmt", "s16"]).arg(d.join(out));
        assert_success("ffmpeg (cut the music)", &run(&mut cmd, T));
    };
    cut(a, 5, "cut1.wav");
    cut(a, 40, "cut2.wav");
    cut(b, 5, "cut3.wav");
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let lead = lead_s.to_string();
    let music = p(&format!("{name}-music.wav"));
    sox(&[&p("cut1.wav"), &p("cut2.wav"), &p("cut3.wav"), &music, "pad", "2@15", "2@30"]);
    // The groove's hiss from the needle drop to the lift; a much quieter idle deck around it.
    let groove = format!("|sox -R -n -r 48000 -c 2 -p synth 49 pinknoise vol {hiss}");
    sox(&["-m", &music, &groove, "-b", "16", &p(&format!("{name}-groove.wav")), "pad", &lead, &lead]);
    let idle = format!("|sox -R -n -r 48000 -c 2 -p synth {} whitenoise vol 0.0002", 49.0 + 2.0 * lead_s);
    let full = p(&format!("{name}-played.wav"));
    let (speed, gain) = (speed.to_string(), gain_db.to_string());
    sox(&[
        "-m",
        &p(&format!("{name}-groove.wav")),
        &idle,
        "-b",
        "16",
        &full,
        "speed",
        &speed,
        "rate",
        "48000",
        "gain",
        &gain,
    ]);
    d.join(format!("{name}-played.wav"))
}

/// `vinyl-listen --library DB` at a needle drop of a learned side (played 1.5 % fast, 10 dB
/// quieter, under other hiss): a `recognized` event for that needle drop within 15 s of it, naming
/// the side, and the `track_start` events after it carry the learned titles. Without `--library`
/// nothing is recognised and the events are as before.
#[test]
fn the_listener_recognises_a_learned_side_and_titles_its_tracks() {
    let Some(pieces) = two_pieces() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("library.db");
    let learned = learned_three_tracks(d, [&pieces[0], &pieces[1]]);
    // Recorded on a deck whose run-out measured 33.33 rpm.
    metaflac(&learned, &["--set-tag=VINYL_RPM=33.33"]);
    let mut cmd = Command::new(LIBRARY);
    cmd.arg("--db").arg(&db).arg("name").arg(&learned).args([
        "--artist",
        "Frozen Bubble",
        "--album",
        "Music",
    ]);
    cmd.args(["--side", "B", "--title", "Intro", "--title", "Middle", "--title", "Finale"]);
    assert_success("name", &run(&mut cmd, T));

    let raw = replay_raw(
        d,
        [&pieces[0], &pieces[1]],
        Deck { speed: 1.015, gain_db: -8.0, hiss: 0.02, lead_s: 5.0 },
    );
    let listen = |library: Option<&Path>| -> Vec<serde_json::Value> {
        let mut cmd = Command::new(bin_dir().join("vinyl-listen"));
        cmd.env_remove("VINYL_LIBRARY");
        if let Some(db) = library {
            cmd.arg("--library").arg(db);
        }
        let out = run_with_input(&mut cmd, &raw);
        assert_success("vinyl-listen", &out);
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let events = listen(Some(&db));
    let of = |kind: &str| events.iter().filter(|e| e["event"] == kind).collect::<Vec<_>>();
    let (starts, heard) = (of("side_start"), of("recognized"));
    assert_eq!((starts.len(), heard.len()), (1, 1), "{events:#?}");
    let (drop, r) = (f(&starts[0]["frame"]), heard[0]);
    assert_eq!(
        (f(&r["frame"]), &r["artist"], &r["side"]),
        (drop, &"Frozen Bubble".into(), &"B".into()),
        "{r}"
    );
    assert!(
        f(&r["at"]) - drop <= 15.0 * 48000.0,
        "recognised {} s after the drop: {r}",
        (f(&r["at"]) - drop) / 48000.0
    );
    assert!((f(&r["speed_ratio"]) - 1.015).abs() <= 0.008, "{r}");
    let titled: Vec<(f64, String)> = of("track_start")
        .iter()
        .filter(|t| f(&t["at"]) > f(&r["at"]))
        .map(|t| (f(&t["frame"]), t["title"].as_str().unwrap_or("(none)").to_string()))
        .collect();
    assert!(!titled.is_empty(), "no track started after the recognition: {events:#?}");
    for (frame, title) in &titled {
        // The learned side's tracks start at 0, 18 and 35 s of music; the replay's come 1/1.015
        // as fast, after its 5 s of lead (the drop is where the music begins).
        let learned_s = (frame - drop) / 48000.0 * 1.015;
        let want = if learned_s < 18.0 - 2.0 {
            "Intro"
        } else if learned_s < 35.0 - 2.0 {
            "Middle"
        } else {
            "Finale"
        };
        assert_eq!(title, want, "track at {learned_s:.1} s of the learned side: {events:#?}");
    }
    assert!(listen(None).iter().all(|e| e["event"] != "recognized" && e.get("title").is_none()));
    a_run_out_narrows_the_next_sides_search(d, &db, [&pieces[0], &pieces[1]]);
}

/// A side that ends in a run-out, then the replay played on that deck: the listener measures the
/// deck's speed from the run-out and searches the replay around it first (it says so), and
/// recognises it at that speed.
fn a_run_out_narrows_the_next_sides_search(d: &Path, db: &Path, pieces: [&Path; 2]) {
    let mut args = vec!["--seed", "77"];
    args.extend(SHORT_SIDE);
    args.extend(["12", "--idle-before", "2", "--idle-after", "3"]);
    let Some((mut pcm, truth)) = synth_side(d, "runout", &args) else { return };
    let deck = f(&truth["rpm"]) / 45.0;
    pcm.extend(replay_raw(d, pieces, Deck { speed: deck, gain_db: -8.0, hiss: 0.02, lead_s: 5.0 }));
    let mut cmd = Command::new(bin_dir().join("vinyl-listen"));
    cmd.env_remove("VINYL_LIBRARY").arg("--library").arg(db);
    let out = run_with_input(&mut cmd, &pcm);
    assert_success("vinyl-listen", &out);
    let events: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |kind: &str| events.iter().filter(|e| e["event"] == kind).collect::<Vec<_>>();
    let (ends, heard) = (of("side_end"), of("recognized"));
    assert!(ends.first().is_some_and(|e| e["reason"] == "runout"), "{events:#?}");
    assert_eq!(heard.len(), 1, "{events:#?}");
    let r = heard[0];
    assert!((f(&r["speed_ratio"]) - deck).abs() <= 0.008, "played at {deck}: {r}");
    let drop = f(&of("side_start")[1]["frame"]);
    assert!(f(&r["at"]) - drop <= 15.0 * 48000.0, "{r}");
    let log = String::from_utf8_lossy(&out.stderr);
    let said = log.lines().find_map(|l| {
        l.split("around the last run-out's speed (").nth(1)?.split(' ').next()?.parse::<f64>().ok()
    });
    assert!(said.is_some_and(|s| (s - deck).abs() <= 0.002), "the deck ran at {deck}: {log}");
}

/// `plays --since` reads a date or a time in the local time zone (here 5 h 30 ahead of UTC, as a
/// POSIX `TZ` rule, which needs no time zone database on the machine), or in the zone it names,
/// and refuses anything else with exit 2 naming it.
#[test]
fn plays_since_takes_local_times_and_refuses_what_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("library.db");
    let mut lib = vinyl::library::db::Library::open(&db).unwrap();
    for (side_start, at) in [(100, "2026-12-05T10:00:00.000Z"), (200, "2026-12-05T12:00:00.000Z")] {
        let note = vinyl::library::db::PlayNote { side_start, started_at: Some(at), ..Default::default() };
        lib.note_play(&note).unwrap();
    }
    drop(lib);
    let since = |when: &str| {
        let mut cmd = Command::new(LIBRARY);
        cmd.env("TZ", "IST-5:30").arg("--db").arg(&db).args(["plays", "--json", "--since", when]);
        (common::describe(&cmd), run(&mut cmd, T))
    };
    let starts = |when: &str| -> Vec<u64> {
        let (what, out) = since(when);
        assert_success(&what, &out);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["side_start"].as_u64().unwrap())
            .collect()
    };
    // 15:30 there is 10:00 UTC.
    assert_eq!(starts("2026-12-05T15:30"), [100, 200]);
    assert_eq!(starts("2026-12-05 15:31"), [200]);
    assert_eq!(starts("2026-12-05T11:00Z"), [200]);
    assert_eq!(starts("2026-12-05T17:00+05:30"), [200]);
    assert_eq!(starts("2026-12-06"), Vec::<u64>::new());
    let (what, out) = since("yesterday");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert!(err.contains("\"yesterday\" is not a date"), "{what}: {err}");
    // The text shows each play at the local time, as --since reads it.
    let mut cmd = Command::new(LIBRARY);
    cmd.env("TZ", "IST-5:30").arg("--db").arg(&db).arg("plays");
    let out = run(&mut cmd, T);
    assert_success("plays", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    let at: Vec<&str> = text.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(at, ["2026-12-05T15:30:00+05:30", "2026-12-05T17:30:00+05:30"], "{text}");
}

/// Sides played while no `vinyl-rec auto` runs are in the history all the same: `vinyl-listen`
/// following a ring with the collection notes each side at its end, recognised or not, timed by
/// the ring's clock: a side in no album (ended by its run-out), then a replay of the learned side.
/// Each play's time is its needle drop's (frame 0's time and the drop's frame), not the capture's.
/// Between the two sides the listener is killed (SIGKILL) and started again: the new one takes
/// the deck's speed from the run-out in its events file, and searches the replay (played on that
/// deck, learned with its own run-out's rpm) around it first.
#[test]
fn the_listener_notes_each_side_in_the_history_while_no_auto_runs() {
    let Some(pieces) = two_pieces() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("library.db");
    name_the_learned_side(d, &db, [&pieces[0], &pieces[1]], &["--set-tag=VINYL_RPM=33.33"]);
    let mut args = vec!["--seed", "78"];
    args.extend(SHORT_SIDE);
    args.extend(["12", "--idle-before", "2", "--idle-after", "3"]);
    let Some((pcm, truth)) = synth_side(d, "unknown", &args) else { return };
    let deck = f(&truth["rpm"]) / 45.0;
    let replay = replay_raw(d, [&pieces[0], &pieces[1]], Deck { speed: deck, ..REPLAY });
    let (ring, run_dir) = (proc::Ring::new("history"), d.join("run"));
    std::fs::create_dir(&run_dir).unwrap();
    let listen = spawn_listener(&ring, &db, &run_dir);
    listen.wait_line("no ring yet");
    let mut fill = Command::new(bin_dir().join("vinyl-preroll"));
    fill.args(["fill", "--ring", ring.arg(), "--capacity", "3m"]);
    let mut fill = proc::Proc::spawn(fill, false);
    listen.wait_line("following live from frame 0");
    // Faster than real time: the ring holds all of it, so the listener misses nothing.
    fill.feed(&pcm);
    wait_until("the first play in the history", Duration::from_secs(240), || plays(&db).len() == 1);
    let mut listen = listen;
    listen.signal(nix::sys::signal::Signal::SIGKILL);
    listen.wait_exit(T);
    let first_log = listen.stderr();
    let listen = spawn_listener(&ring, &db, &run_dir);
    fill.feed(&replay);
    wait_until("two plays in the history", Duration::from_secs(240), || plays(&db).len() >= 2);
    let plays = plays(&db);
    let events = std::fs::read_to_string(run_dir.join("events")).unwrap();
    let log = listen.stderr();
    let report = format!("{plays:#?}\n{events}\n{first_log}\n---- restarted ----\n{log}");
    let starts = event_frames(&events, "side_start");
    assert_eq!(plays.len(), 2, "{report}");
    assert_eq!(starts.len(), 2, "{report}");
    let drop = truth["needle_drop"].as_u64().unwrap();
    assert!(starts[0].abs_diff(drop) < 48_000, "{report}");
    let info =
        run(Command::new(bin_dir().join("vinyl-preroll")).args(["info", "--json", "--ring", ring.arg()]), T);
    assert_success("vinyl-preroll info", &info);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let frame0 = info["frame0_unix_ns"].as_u64().unwrap();
    for (p, start) in plays.iter().zip(&starts) {
        assert_eq!(p["side_start"].as_u64(), Some(*start), "{report}");
        assert!(p["side_end"].as_u64().is_some_and(|e| e > *start), "{report}");
        assert_eq!(p["started_at"].as_str(), Some(vinyl::time::frame_time(frame0, *start, 48_000).as_str()));
        assert!(p["recording"].is_null(), "{report}");
    }
    assert_eq!((&plays[0]["recognized"], &plays[0]["side"]), (&false.into(), &serde_json::Value::Null));
    assert_eq!(plays[1]["recognized"], true, "{report}");
    assert_eq!(plays[1]["side"], "Frozen/Bubble – Music, side B", "{report}");
    let said = log.lines().find_map(|l| {
        l.split("around the last run-out's speed (").nth(1)?.split(' ').next()?.parse::<f64>().ok()
    });
    assert!(said.is_some_and(|s| (s - deck).abs() <= 0.002), "the deck ran at {deck}: {report}");
    fill.close_stdin();
}

/// The history at real time under faults: another writer holds the database (a `BEGIN
/// IMMEDIATE` past the listener's 10 s busy timeout) when a side ends, and the listener is killed
/// (SIGKILL) with that side's note still waiting; the restarted listener recognises the replay
/// while the database is still held. Once it is free, both sides are in the history, once each:
/// the first noted again by the successor from the events file, the replay as recognised.
#[test]
fn a_locked_database_and_a_listener_killed_before_its_note_lose_no_play() {
    let Some(pieces) = two_pieces() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("library.db");
    name_the_learned_side(d, &db, [&pieces[0], &pieces[1]], &[]);
    let mut args = vec!["--seed", "79"];
    args.extend(SHORT_SIDE);
    args.extend(["12", "--idle-before", "2", "--idle-after", "4"]);
    let Some((pcm, _)) = synth_side(d, "unknown", &args) else { return };
    let replay = replay_raw(d, [&pieces[0], &pieces[1]], REPLAY);
    let run_dir = d.join("run");
    let (ring, mut listen, mut fill, holder) = listening_under_a_lock("locked", &db, &run_dir);
    at_real_time(&pcm, |chunk, _| fill.feed(chunk));
    listen.wait_line_within("the listening history waits for", Duration::from_secs(120));
    listen.signal(nix::sys::signal::Signal::SIGKILL);
    listen.wait_exit(T);
    let first_log = listen.stderr();
    let listen = spawn_listener(&ring, &db, &run_dir);
    listen.wait_line("following live from frame");
    let events = || std::fs::read_to_string(run_dir.join("events")).unwrap_or_default();
    at_real_time(&replay, |chunk, _| fill.feed(chunk));
    wait_until("the replay recognised while the database is held", Duration::from_secs(120), || {
        events().contains(r#""event":"recognized""#)
    });
    assert!(plays(&db).is_empty(), "a play noted through another writer's lock");
    holder.execute_batch("COMMIT").unwrap();
    wait_until("two plays in the history", Duration::from_secs(120), || plays(&db).len() >= 2);
    let plays = plays(&db);
    let report = format!("{plays:#?}\n{}\n{first_log}\n---- restarted ----\n{}", events(), listen.stderr());
    let ends: Vec<(u64, u64)> = {
        let events = events();
        event_frames(&events, "side_start").into_iter().zip(event_frames(&events, "side_end")).collect()
    };
    assert_eq!(plays.len(), 2, "{report}");
    assert_eq!(ends.len(), 2, "{report}");
    for (p, (start, end)) in plays.iter().zip(&ends) {
        assert_eq!(
            (p["side_start"].as_u64(), p["side_end"].as_u64()),
            (Some(*start), Some(*end)),
            "{report}"
        );
    }
    assert_eq!(
        (&plays[0]["recognized"], &plays[0]["side"]),
        (&false.into(), &serde_json::Value::Null),
        "{report}"
    );
    assert_eq!(
        (&plays[1]["recognized"], &plays[1]["side"]),
        (&true.into(), &"Frozen/Bubble – Music, side B".into()),
        "{report}"
    );
    fill.close_stdin();
}

/// Auto's side ended under another writer's lock, at real time ([`HandsFree`]): a `BEGIN
/// IMMEDIATE` taken 3 s before the replay's lift, held until auto, finalising the side, has
/// failed to name it (the link waits the 10 s busy timeout; the file, moved to
/// `VINYL_AUTO_NAME`, goes back) and its history has waited out a busy timeout of its own for
/// the side's note (said once). The history is still empty then; returns the lock, still held.
fn auto_side_ended_under_a_lock(tag: &str) -> Option<(HandsFree, rusqlite::Connection)> {
    let mut h = HandsFree::start(tag)?;
    let stretches = h.raw.len().div_ceil(48_000 * 4 / 10);
    let (db, mut holder) = (h.db.clone(), None);
    h.play(|_, i| {
        // The lift is 5 s before the replay's end.
        if i + 80 == stretches {
            let c = rusqlite::Connection::open(&db).unwrap();
            c.execute_batch("BEGIN IMMEDIATE").unwrap();
            holder = Some(c);
        }
    });
    h.auto.wait_line_within("but not named", Duration::from_secs(120));
    h.auto.wait_line_within("the listening history waits for", Duration::from_secs(60));
    assert!(plays(&db).is_empty(), "a play noted through another writer's lock");
    Some((h, holder.expect("the lock was taken")))
}

/// Auto's notes under another writer's lock ([`auto_side_ended_under_a_lock`]), released once
/// the history says the side's note waits: past the busy timeout of a note begun then. The
/// side's play is in the history once, recognised, with its recording (a note that waited only
/// the busy timeout was lost, and one of a file left moved named no file).
#[test]
fn a_database_locked_across_the_end_of_a_side_auto_records_loses_neither_its_play_nor_its_file() {
    let Some((mut h, holder)) = auto_side_ended_under_a_lock("autolock") else { return };
    let db = h.db.clone();
    holder.execute_batch("COMMIT").unwrap();
    let noted = || plays(&db).iter().any(|p| p["recording"].is_string());
    wait_until("the play's recording in the history", Duration::from_secs(60), noted);
    let (log, files) = h.stop_auto();
    let plays = plays(&db);
    let report = format!(
        "{plays:#?}
{files:?}
{log}
---- listener ----
{}",
        h.listener_log()
    );
    assert_eq!((plays.len(), files.len()), (1, 1), "{report}");
    assert_eq!(plays[0]["recording"].as_str(), files[0].to_str(), "{report}");
    assert_eq!(plays[0]["recognized"], true, "{report}");
    assert_eq!(plays[0]["side"], "Frozen/Bubble – Music, side B", "{report}");
    assert!(log.contains("the listening history waits for"), "{report}");
}

/// Auto's end with the side's note waiting for another writer's lock
/// ([`auto_side_ended_under_a_lock`]) held until auto is gone: stopped with SIGTERM, as systemd
/// stops it, auto has no side in progress (the side was finalised: no stop wait, no naming), so
/// it gives the note [`DRAIN`], names the side's frame as not in the listening history, and
/// exits 0 within [`DRAIN`] and [`SAY_LOST`] of the signal ([`STOP_MARGIN`] more on a busy
/// machine: 37 s in all). The recording is kept, whole (`flac -t`). Once the lock goes, the
/// collection checks clean and auto left nothing in it: the one play is the listener's, noted
/// after its own wait, without a recording.
#[test]
fn a_database_locked_past_autos_drain_has_the_lost_play_said_and_the_file_kept() {
    let Some((mut h, holder)) = auto_side_ended_under_a_lock("autodrain") else { return };
    let events = h.events();
    let starts = event_frames(&events, "side_start");
    assert_eq!(starts.len(), 1, "one side:\n{events}");
    let (log, files, took) = h.stop_auto_within(DRAIN + SAY_LOST + STOP_MARGIN);
    // The lock, held past auto's end, goes only now (its transaction wrote nothing).
    drop(holder);
    let report = format!("took {took:?}\n{files:?}\n{events}\n{log}");
    assert!(took >= DRAIN, "the note was not given the drain: {report}");
    let lost = format!("side at frame {}: not in the listening history", starts[0]);
    assert!(log.lines().any(|l| l.contains(&lost)), "no {lost:?} line: {report}");
    assert!(!log.contains("notes still waiting for the database"), "not said play by play: {report}");
    assert_eq!(files.len(), 1, "{report}");
    assert_success("flac -t", &run(Command::new("flac").args(["-t", "-s"]).arg(&files[0]), T));
    let mut check = Command::new(LIBRARY);
    check.arg("--db").arg(&h.db).arg("check");
    assert_success("vinyl-library check", &run(&mut check, T));
    // The listener's note, waiting too, is written once the lock is gone: the side's one play.
    wait_until("the listener's play in the history", Duration::from_secs(60), || !plays(&h.db).is_empty());
    let plays = plays(&h.db);
    let report = format!("{plays:#?}\n{report}\n---- listener ----\n{}", h.listener_log());
    assert_eq!(plays.len(), 1, "{report}");
    assert_eq!(plays[0]["side_start"].as_u64(), Some(starts[0]), "{report}");
    assert_eq!(plays[0]["recognized"], true, "{report}");
    assert_eq!(plays[0]["recording"], serde_json::Value::Null, "auto's note landed: {report}");
}

/// What a listener stopped under another writer's lock left ([`listener_stopped_under_a_lock`]).
struct Stopped {
    _dir: tempfile::TempDir,
    db: PathBuf,
    /// The side's needle drop and end, from the events file.
    side: (u64, u64),
    /// Whether the events file has the side recognised.
    recognised: bool,
    status: std::process::ExitStatus,
    /// From the SIGTERM to the exit.
    took: Duration,
    log: String,
    /// The command, its status, the events and the log, for failure reports.
    report: String,
}

/// How much longer than the history's bound ([`DRAIN`] and [`SAY_LOST`]) a stopped listener or
/// auto may take to exit, on a busy machine: the listener's recogniser thread ends first, auto's
/// loop sees the signal at its next poll.
const STOP_MARGIN: Duration = Duration::from_secs(10);

/// The listener's end under another writer's lock: `vinyl-listen --ring` with the collection
/// (no auto runs) hears a replay of the learned side to its lift (fed at once: the ring holds
/// all of it) while another connection holds the database (`BEGIN IMMEDIATE`, taken before the
/// needle drop, past the 10 s busy timeout). Once the history says the side's note waits, the
/// listener is stopped with SIGTERM, as systemd stops it, and the lock is released `release`
/// after the signal, during the drain (`None`: only once the listener has exited).
fn listener_stopped_under_a_lock(tag: &str, release: Option<Duration>) -> Option<Stopped> {
    let pieces = two_pieces()?;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("library.db");
    name_the_learned_side(d, &db, [&pieces[0], &pieces[1]], &[]);
    let replay = replay_raw(d, [&pieces[0], &pieces[1]], REPLAY);
    let run_dir = d.join("run");
    let (_ring, mut listen, mut fill, holder) = listening_under_a_lock(tag, &db, &run_dir);
    fill.feed(&replay);
    listen.wait_line_within("the listening history waits for", Duration::from_secs(120));
    assert!(plays(&db).is_empty(), "a play noted through another writer's lock");
    let stopped = std::time::Instant::now();
    listen.signal(nix::sys::signal::Signal::SIGTERM);
    if let Some(after) = release {
        // The one fixed wait, and what the test is about: the lock goes during the drain.
        std::thread::sleep(after);
        holder.execute_batch("COMMIT").unwrap();
    }
    let status = listen.wait_exit(DRAIN + SAY_LOST + STOP_MARGIN);
    let took = stopped.elapsed();
    // A lock still held goes only now (its transaction wrote nothing).
    drop(holder);
    fill.close_stdin();
    let events = std::fs::read_to_string(run_dir.join("events")).unwrap_or_default();
    let frames = |kind: &str| event_frames(&events, kind);
    let (starts, ends) = (frames("side_start"), frames("side_end"));
    let log = listen.stderr();
    let report = format!("{}\nstatus: {status} after {took:?}\n{events}\nstderr:\n{log}", listen.what);
    assert_eq!((starts.len(), ends.len()), (1, 1), "one side: {report}");
    let recognised = frames("recognized").contains(&starts[0]);
    Some(Stopped { _dir: dir, db, side: (starts[0], ends[0]), recognised, status, took, log, report })
}

/// The listener's end with its last side's note waiting for another writer's lock
/// ([`listener_stopped_under_a_lock`]), freed 3 s into the end's drain: the note is written
/// then, and the listener exits 0 as soon as its queue is empty (well within [`DRAIN`] of the
/// SIGTERM); the play is in the history once, with its needle drop and end, and recognised as
/// the learned side when the listener recognised it.
#[test]
fn a_database_locked_at_the_listeners_end_and_freed_during_its_drain_keeps_the_play() {
    let Some(s) = listener_stopped_under_a_lock("drainfreed", Some(Duration::from_secs(3))) else {
        return;
    };
    let report = &s.report;
    assert_eq!(s.status.code(), Some(0), "{report}");
    assert!(s.took < DRAIN, "the drain outlived its empty queue: {report}");
    let plays = plays(&s.db);
    let report = format!("{plays:#?}\n{report}");
    assert_eq!(plays.len(), 1, "{report}");
    let p = &plays[0];
    assert_eq!(
        (p["side_start"].as_u64(), p["side_end"].as_u64()),
        (Some(s.side.0), Some(s.side.1)),
        "{report}"
    );
    let side: serde_json::Value =
        if s.recognised { "Frozen/Bubble – Music, side B".into() } else { serde_json::Value::Null };
    assert_eq!((&p["recognized"], &p["side"]), (&s.recognised.into(), &side), "{report}");
    assert!(s.log.contains("noted in the listening history after the wait"), "{report}");
    assert!(!s.log.contains("not in the listening history"), "{report}");
}

/// The listener's end with its last side's note waiting for another writer's lock
/// ([`listener_stopped_under_a_lock`]) held until the listener is gone: the note is given
/// [`DRAIN`], then the loss is said with the side's place ("side at frame N: not in the listening
/// history"), and the listener exits 0 within [`DRAIN`] and [`SAY_LOST`] of the SIGTERM. The
/// collection is as it was: no play, not even part of one, and it checks clean.
#[test]
fn a_database_locked_past_the_listeners_drain_has_the_lost_play_said_with_its_frame() {
    let Some(s) = listener_stopped_under_a_lock("drainlost", None) else { return };
    let report = &s.report;
    assert_eq!(s.status.code(), Some(0), "{report}");
    assert!(s.took >= DRAIN, "the note was not given the drain: {report}");
    let lost = format!("side at frame {}: not in the listening history", s.side.0);
    assert!(s.log.lines().any(|l| l.contains(&lost)), "no {lost:?} line: {report}");
    assert!(!s.log.contains("notes still waiting for the database"), "not said play by play: {report}");
    assert!(plays(&s.db).is_empty(), "{report}");
    let mut check = Command::new(LIBRARY);
    check.arg("--db").arg(&s.db).arg("check");
    assert_success("vinyl-library check", &run(&mut check, T));
}

/// Hands `raw` (48 kHz stereo, 16-bit) to `each` at the real rate, 100 ms at a time, with each
/// stretch's number.
fn at_real_time(raw: &[u8], mut each: impl FnMut(&[u8], usize)) {
    let start = std::time::Instant::now();
    for (i, chunk) in raw.chunks(48_000 * 4 / 10).enumerate() {
        let due = start + Duration::from_millis(100 * i as u64);
        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        each(chunk, i);
    }
}

/// The hands-free path at real time, as vinyl-up runs it: a ring filled at the real rate by
/// `vinyl-preroll fill`, `vinyl-listen --ring` with the collection writing `RUN/events`, and
/// `vinyl-rec auto`; the stream encoder's end of the title FIFO is held open by a thread. The
/// collection learned side B of "Frozen/Bubble – Music" (2002, with a cover); the replay is
/// that side played [`REPLAY`]: after 5 s of idle deck, three tracks from the needle drop to the
/// lift (the groove's hiss ends with the music), then 5 s of idle deck.
struct HandsFree {
    _dir: tempfile::TempDir,
    db: PathBuf,
    raw: Vec<u8>,
    ring: proc::Ring,
    run_dir: PathBuf,
    recordings: PathBuf,
    listen: proc::Proc,
    /// The stderr of the listeners killed so far.
    killed_listeners: String,
    auto: proc::Proc,
    fill: proc::Proc,
    /// The stream titles written to the FIFO, in order.
    titles: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Auto's settings besides [`spawn_auto`]'s.
    auto_env: Vec<(&'static str, &'static str)>,
}

/// How [`HandsFree`]'s replay is played: 1.2 % slow, 10 dB quieter than learned, under louder
/// hiss, after 5 s of idle deck.
const REPLAY: Deck = Deck { speed: 0.988, gain_db: -10.0, hiss: 0.015, lead_s: 5.0 };

impl HandsFree {
    /// Learns and names the side, makes its replay, starts the listener, auto and the fill (the
    /// ring's frame N is the replay's frame N) on a ring of 3 minutes; `None` (the test skips)
    /// without the music.
    fn start(tag: &str) -> Option<HandsFree> {
        HandsFree::start_on(tag, "3m", &[])
    }

    /// [`HandsFree::start`] with auto's settings `auto_env` added.
    fn start_with(tag: &str, auto_env: &[(&'static str, &'static str)]) -> Option<HandsFree> {
        HandsFree::start_on(tag, "3m", auto_env)
    }

    /// [`HandsFree::start`] on a ring of `capacity`, with auto's settings `auto_env` added.
    fn start_on(tag: &str, capacity: &str, auto_env: &[(&'static str, &'static str)]) -> Option<HandsFree> {
        let pieces = two_pieces()?;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let db = d.join("library.db");
        name_the_learned_side(d, &db, [&pieces[0], &pieces[1]], &[]);
        let raw = replay_raw(d, [&pieces[0], &pieces[1]], REPLAY);

        let (ring, run_dir, recordings) = (proc::Ring::new(tag), d.join("run"), d.join("recordings"));
        std::fs::create_dir(&run_dir).unwrap();
        let listen = spawn_listener(&ring, &db, &run_dir);
        listen.wait_line("no ring yet");
        // The stream encoder's end of the title FIFO, held open read-write as vinyl-mp3-icecast does.
        let fifo = run_dir.join("title");
        mkfifo(&fifo);
        let reader = std::fs::OpenOptions::new().read(true).write(true).open(&fifo).unwrap();
        let titles = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let heard = titles.clone();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for l in std::io::BufReader::new(reader).lines().map_while(Result::ok) {
                heard.lock().unwrap().push(l);
            }
        });
        let auto = spawn_auto(&ring, &db, &run_dir, &recordings, auto_env);
        let mut f = Command::new(bin_dir().join("vinyl-preroll"));
        f.args(["fill", "--ring", ring.arg(), "--capacity", capacity]);
        let fill = proc::Proc::spawn(f, false);
        listen.wait_line("following live from frame 0");
        let killed_listeners = String::new();
        Some(HandsFree {
            _dir: dir,
            db,
            raw,
            ring,
            run_dir,
            recordings,
            listen,
            killed_listeners,
            auto,
            fill,
            titles,
            auto_env: auto_env.to_vec(),
        })
    }

    /// Plays the replay into the ring at the real rate, 100 ms at a time (the recogniser follows
    /// the ring as it would a deck); `each` runs after each stretch with its number.
    fn play(&mut self, mut each: impl FnMut(&mut HandsFree, usize)) {
        let raw = std::mem::take(&mut self.raw);
        at_real_time(&raw, |chunk, i| {
            self.fill.feed(chunk);
            each(self, i);
        });
        self.raw = raw;
    }

    /// The events file as it is now.
    fn events(&self) -> String {
        std::fs::read_to_string(self.run_dir.join("events")).unwrap_or_default()
    }

    /// Kills auto (SIGKILL) and, once it is gone, starts another, as systemd's `Restart=` would
    /// (a new auto takes over only the recording of an auto that ended).
    fn restart_auto(&mut self) {
        self.auto.signal(nix::sys::signal::Signal::SIGKILL);
        self.auto.wait_exit(T);
        let new = spawn_auto(&self.ring, &self.db, &self.run_dir, &self.recordings, &self.auto_env);
        let _ = std::mem::replace(&mut self.auto, new).finish();
    }

    /// Kills the listener (SIGKILL) and, once it is gone, starts another on the same events file,
    /// as systemd's `Restart=` would (without waiting for it: the deck plays on meanwhile).
    fn restart_listener(&mut self) {
        self.kill_listener();
        self.listen = spawn_listener(&self.ring, &self.db, &self.run_dir);
    }

    /// Kills the listener (SIGKILL) and waits until it is gone; its stderr is kept.
    fn kill_listener(&mut self) {
        self.listen.signal(nix::sys::signal::Signal::SIGKILL);
        self.listen.wait_exit(T);
        self.killed_listeners.push_str(&format!("---- a killed listener ----\n{}", self.listen.stderr()));
    }

    /// Stops auto (SIGTERM: it finishes and exits 0): its log, and the recordings left.
    fn stop_auto(&mut self) -> (String, Vec<PathBuf>) {
        let (log, files, _) = self.stop_auto_within(T);
        (log, files)
    }

    /// [`HandsFree::stop_auto`], auto gone within `bound` of the SIGTERM: also how long it took.
    fn stop_auto_within(&mut self, bound: Duration) -> (String, Vec<PathBuf>, Duration) {
        let stopped = std::time::Instant::now();
        self.auto.signal(nix::sys::signal::Signal::SIGTERM);
        let status = self.auto.wait_exit(bound);
        let took = stopped.elapsed();
        let log = self.auto.stderr();
        assert_eq!(status.code(), Some(0), "{status} after {took:?}:\n{log}");
        let mut files = Vec::new();
        vinyl::rec::list::flac_files(&self.recordings, &mut files);
        (log, files, took)
    }

    /// Waits for auto to name the side, stops it (exit 0) and checks what the user has: one file,
    /// named, tagged, with its cover and the learned tracklist's titled markers, moved to
    /// `VINYL_AUTO_NAME`, decodable by `flac -t`, and one play noted in the collection as
    /// recognised, of that file. Returns the file and auto's stderr.
    fn named(&mut self) -> (PathBuf, String) {
        self.auto.wait_line_within("named Frozen/Bubble – Music, side B", Duration::from_secs(240));
        let (log, mut files) = self.stop_auto();
        assert_eq!(files.len(), 1, "{files:?}\n{log}");
        let f = files.remove(0);
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("Frozen_Bubble - Music - B - ") && name.ends_with(".flac"), "{name}\n{log}");
        assert_eq!(f.parent().unwrap().parent().unwrap(), self.recordings, "in its month folder: {f:?}");
        let tags = metaflac(&f, &["--export-tags-to=-"]);
        for want in ["ARTIST=Frozen/Bubble", "ALBUM=Music", "DATE=2002", "VINYL_SIDE=B", "VINYL_AUTO=1"] {
            assert!(tags.lines().any(|l| l == want), "no {want} in:\n{tags}");
        }
        // Exactly the learned tracklist's markers (a gap the listener did not hear is estimated),
        // each titled with its learned track.
        let chapters = tags.lines().filter(|l| l.starts_with("CHAPTER") && l.contains("NAME=")).count();
        assert_eq!(chapters, 3, "{tags}");
        for (i, want) in ["Intro", "Middle", "Finale"].iter().enumerate() {
            assert!(
                tags.contains(&format!("CHAPTER{:03}NAME={want}", i + 1)),
                "{want} as marker {}:\n{tags}",
                i + 1
            );
        }
        self.assert_markers_where_the_tracks_begin(&f, &tags);
        assert!(metaflac(&f, &["--list", "--block-type=PICTURE"]).contains("Cover (front)"));
        assert_success("flac -t", &run(Command::new("flac").args(["-t", "-s"]).arg(&f), T));
        let plays = plays(&self.db);
        assert_eq!(plays.len(), 1, "{plays:?}");
        assert_eq!(plays[0]["recognized"], true, "{plays:?}");
        assert_eq!(plays[0]["side"], "Frozen/Bubble – Music, side B", "{plays:?}");
        assert_eq!(plays[0]["recording"].as_str(), f.to_str(), "{plays:?}");
        self.assert_told_where(&f);
        (f, log)
    }

    /// Markers 2 and 3 of `f` (its tags `tags`) lie where the replay's tracks 2 and 3 begin on
    /// the ring (the ring's frame N is the replay's): in the 2 s of groove before the track's
    /// music, or at most a second into it. `VINYL_START_FRAME` is the file's first frame.
    fn assert_markers_where_the_tracks_begin(&self, f: &Path, tags: &str) {
        let first: f64 = flac_tag(f, "VINYL_START_FRAME").parse().unwrap();
        let rate = 48_000.0;
        for (k, music_s) in [(2, 17.0), (3, 34.0)] {
            let key = format!("CHAPTER{k:03}=");
            let at = tags
                .lines()
                .find_map(|l| l.strip_prefix(&key))
                .unwrap_or_else(|| panic!("no {key} in:\n{tags}"));
            let secs = at.split(':').try_fold(0.0, |acc, p| p.parse::<f64>().map(|v| acc * 60.0 + v));
            let frame = first + secs.unwrap_or_else(|e| panic!("{key}{at}: {e}")) * rate;
            let music = (REPLAY.lead_s + music_s) / REPLAY.speed * rate;
            let (lo, hi) = (music - 2.0 / REPLAY.speed * rate, music + rate);
            assert!(
                (lo..=hi).contains(&frame),
                "marker {k} at ring frame {frame} (file from {first}); its track's music begins at {music}:\n{tags}"
            );
        }
    }

    /// What vinyl-rec keeps of the recording that ended names `f`, where the file is now: the
    /// state folder is retired, `status` names no file, and the last recording's log (which
    /// names the file as it was recorded) ends with the move.
    fn assert_told_where(&self, f: &Path) {
        assert!(!self.run_dir.join("rec").exists(), "the state folder outlived the side");
        let status = vinyl_rec_ok(&["status"], &self.run_dir, &self.recordings, Path::new(self.ring.arg()));
        assert_eq!(status.trim(), "not recording", "vinyl-rec status");
        let last = std::fs::read_to_string(self.run_dir.join("last-rec.log")).unwrap_or_default();
        let said = last.lines().rfind(|l| l.contains(".flac")).unwrap_or_default();
        assert!(said.ends_with(&format!("moved to {}", f.display())), "RUN/last-rec.log:\n{last}");
    }

    /// The stderr of every listener so far.
    fn listener_log(&self) -> String {
        format!("{}---- the listener ----\n{}", self.killed_listeners, self.listen.stderr())
    }

    /// The stream titles written so far.
    fn titles(&self) -> Vec<String> {
        self.titles.lock().unwrap().clone()
    }
}

impl Drop for HandsFree {
    fn drop(&mut self) {
        self.fill.close_stdin();
    }
}

/// Learns the three-track side of `pieces` and names it in the collection `db`: side B of
/// "Frozen/Bubble – Music" (2002), titled Intro, Middle and Finale, with a cover; `metaflac`
/// sets the learned file's tags (`--set-tag=…`) before.
fn name_the_learned_side(d: &Path, db: &Path, pieces: [&Path; 2], tags: &[&str]) {
    let learned = learned_three_tracks(d, pieces);
    if !tags.is_empty() {
        metaflac(&learned, tags);
    }
    let mut cmd = Command::new(LIBRARY);
    cmd.arg("--db").arg(db).arg("name").arg(&learned);
    cmd.args(["--artist", "Frozen/Bubble", "--album", "Music", "--year", "2002", "--side", "B"]);
    cmd.args(["--title", "Intro", "--title", "Middle", "--title", "Finale", "--cover"]).arg(cover(d));
    assert_success("name", &run(&mut cmd, T));
}

/// `vinyl-listen --ring` with the collection, writing `RUN/events`, as vinyl-up runs it.
/// The frames of the events of `kind` in an events file's text, in order.
fn event_frames(events: &str, kind: &str) -> Vec<u64> {
    let parsed = events.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    parsed.filter(|e| e["event"] == kind).map(|e| e["frame"].as_u64().unwrap()).collect()
}

/// A listener of the collection `db` (its events in `run_dir`, made here) following a new ring
/// `tag`, fed by the `vinyl-preroll fill` returned, and another connection holding the collection
/// (`BEGIN IMMEDIATE`, past the listener's 10 s busy timeout) from before any side.
fn listening_under_a_lock(
    tag: &str,
    db: &Path,
    run_dir: &Path,
) -> (proc::Ring, proc::Proc, proc::Proc, rusqlite::Connection) {
    let ring = proc::Ring::new(tag);
    std::fs::create_dir(run_dir).unwrap();
    let listen = spawn_listener(&ring, db, run_dir);
    listen.wait_line("no ring yet");
    let mut fill = Command::new(bin_dir().join("vinyl-preroll"));
    fill.args(["fill", "--ring", ring.arg(), "--capacity", "3m"]);
    let fill = proc::Proc::spawn(fill, false);
    listen.wait_line("following live from frame 0");
    let holder = rusqlite::Connection::open(db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    (ring, listen, fill, holder)
}

fn spawn_listener(ring: &proc::Ring, db: &Path, run_dir: &Path) -> proc::Proc {
    let mut l = Command::new(bin_dir().join("vinyl-listen"));
    l.env_remove("VINYL_RING").args(["--ring", ring.arg(), "--level-every", "0s", "--library"]).arg(db);
    l.arg("--output").arg(run_dir.join("events"));
    proc::Proc::spawn(l, false)
}

/// `vinyl-rec auto` on `RUN/events`, as vinyl-up runs it (a side is at least 20 s), with `env`
/// added; returns once it follows the events.
fn spawn_auto(
    ring: &proc::Ring,
    db: &Path,
    run_dir: &Path,
    recordings: &Path,
    env: &[(&str, &str)],
) -> proc::Proc {
    let mut a = Command::new(bin_dir().join("vinyl-rec"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
        a.env_remove(k);
    }
    a.arg("auto").env("VINYL_CONFIG", "/dev/null").env("VINYL_RUN_DIR", run_dir);
    a.env("VINYL_RING", ring.arg()).env("VINYL_RECORDINGS", recordings).env("VINYL_LIBRARY", db);
    a.env("VINYL_AUTO_MIN_FREE", "1MiB").env("VINYL_AUTO_MIN_SIDE", "20s").env("NOTIFY_SOCKET", "");
    a.env("PATH", format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap()));
    a.envs(env.iter().copied());
    let auto = proc::Proc::spawn(a, false);
    auto.wait_line("auto: following");
    auto
}

/// The whole hands-free path at real time ([`HandsFree`]). A replay of a learned side is
/// recognised from the ring while it plays, and its auto recording ends up named as `name`
/// would do it (artist, album, side, each marker's title from the listener, the album's cover),
/// moved to `VINYL_AUTO_NAME` (a `/` in the artist stays inside one name), and its play is in
/// the history as recognised; the stream's title (the encoder's FIFO) becomes `Artist – Title`.
/// Auto is killed and restarted mid-side after the recognition: the new one takes the side over
/// and names it all the same.
#[test]
fn a_recognised_side_is_recorded_named_moved_and_noted_at_real_time_through_a_restart_of_auto() {
    let Some(mut h) = HandsFree::start("named") else { return };
    let mut killed = false;
    h.play(|h, i| {
        // Mid-side, once the side was recognised: auto is killed and started again; the new one
        // takes the side over and learns the recognition from the events it missed.
        if !killed && i >= 300 && h.events().contains("recognized") {
            h.restart_auto();
            killed = true;
        }
    });
    assert!(killed, "the side was not recognised within its music");
    let (f, log) = h.named();
    assert!(log.contains("taking over"), "{log}");
    assert!(h.events().contains("\"event\":\"recognized\""), "{}", h.events());
    eprintln!("the named file's tags:\n{}", metaflac(&f, &["--export-tags-to=-"]));
    // The stream's title became the recognised side's: Artist – Title.
    let said = h.titles();
    assert!(said.iter().any(|t| t == "Frozen/Bubble – Intro"), "stream titles: {said:?}");
}

/// The listener killed (SIGKILL) twice in the middle of a recognised side at real time
/// ([`HandsFree`]), and restarted at once each time, as systemd would: first just after it
/// announced the needle drop, before any recognition (the restarted one replays the ring from
/// before the drop and must recognise the side itself); then just after that one wrote the
/// recognition (the next one hears the side again from the ring, and its worker may answer
/// before or after the frame its predecessor reached). What the user gets is what an undisturbed
/// play gives: the side is one recording, from its needle drop less auto's 1 s margin to its
/// lift, bit-exact to the ring, named, moved and tagged as the recognised side with its titled
/// markers, and one play noted as recognised. The events say it once: one side_start, one
/// side_end, one `recognized` (the last listener takes the recognition in for its titles without
/// writing it again: a hook, MQTT and the stream's title would get it twice), so the stream's
/// title never goes back to an earlier track.
#[test]
fn a_recognised_side_stays_whole_named_and_noted_once_through_kills_of_the_listener() {
    let Some(mut h) = HandsFree::start("listener") else { return };
    let of = |events: &str, kind: &str| events.matches(&format!("\"event\":\"{kind}\"")).count();
    let mut kills = Vec::new();
    h.play(|h, i| {
        let events = h.events();
        let (started, recognised) = (of(&events, "side_start") > 0, of(&events, "recognized") > 0);
        match kills.len() {
            0 if started => {
                assert!(!recognised, "recognised as the side started: no kill before the recognition");
                h.restart_listener();
                kills.push(i);
            }
            // As soon as the restarted listener told the recognition, long before the lift.
            1 if recognised => {
                h.restart_listener();
                kills.push(i);
            }
            _ => {}
        }
    });
    assert_eq!(
        kills.len(),
        2,
        "killed at stretches {kills:?}: not recognised after the first restart?\n{}",
        h.listener_log()
    );
    let (f, log) = h.named();
    let events = h.events();
    let decisions: Vec<serde_json::Value> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] != "state")
        .collect();
    let all = |kind: &str| decisions.iter().filter(|e| e["event"] == kind).collect::<Vec<_>>();
    let listener_log = h.listener_log();
    let report = format!("{decisions:#?}\n{listener_log}---- auto ----\n{log}");
    let (starts, ends, heard) = (all("side_start"), all("side_end"), all("recognized"));
    assert_eq!((starts.len(), ends.len(), heard.len()), (1, 1, 1), "{report}");
    assert_eq!(listener_log.matches("carrying on: side 1").count(), 2, "{report}");
    // The first restarted listener recognised the side and said so; the second recognised it
    // again from the ring and took it in without saying it twice.
    assert_eq!(listener_log.matches("side B (confidence").count(), 1, "{report}");
    assert_eq!(listener_log.matches("side B again (the events file says so already").count(), 1, "{report}");
    let drop = starts[0]["frame"].as_u64().unwrap();
    assert_eq!(heard[0]["frame"].as_u64(), Some(drop), "{report}");

    // One recording, from the needle drop less the margin to the lift plus the end margin, exactly
    // the ring's frames.
    let first = flac_tag(&f, "VINYL_START_FRAME").parse::<u64>().unwrap();
    assert_eq!(flac_tag(&f, "VINYL_SIDE_START_FRAME").parse::<u64>().unwrap(), drop, "{report}");
    assert_eq!(drop - first, 48_000, "the start margin is exact: {report}");
    let rate = 48_000.0;
    let true_drop = (REPLAY.lead_s / REPLAY.speed * rate) as u64;
    let lift = ((REPLAY.lead_s + 49.0) / REPLAY.speed * rate) as u64;
    assert!(
        first <= true_drop && true_drop <= first + 2 * 48_000,
        "starts at {first}, the drop is at {true_drop}"
    );
    let decoded = run(
        Command::new("flac")
            .args(["-d", "-s", "-c", "--force-raw-format", "--endian=little", "--sign=signed"])
            .arg(&f),
        T,
    );
    assert_success("flac -d", &decoded);
    let end = first + (decoded.stdout.len() / 4) as u64;
    eprintln!("file {first}..{end}, drop {drop} (true {true_drop}), lift at {lift}; side_end {}", ends[0]);
    // The lift is found on 10 ms blocks smoothed over 150 ms: within half a second of the truth.
    assert!(
        end + 48_000 / 2 >= lift && end <= lift + 5 * 48_000,
        "ends at {end}, the lift is at {lift}\n{report}"
    );
    assert_eq!(
        end,
        ends[0]["frame"].as_u64().unwrap() + 96_000,
        "ends at the side_end plus auto's margin: {report}"
    );
    assert!(
        decoded.stdout == h.raw[first as usize * 4..end as usize * 4],
        "not bit-exact to the ring's frames"
    );
    // The stream's title never goes back to an earlier track.
    let said = h.titles();
    let track =
        |t: &String| ["Intro", "Middle", "Finale"].iter().position(|n| *t == format!("Frozen/Bubble – {n}"));
    let order: Vec<usize> = said.iter().filter_map(track).collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]) && !order.is_empty(), "stream titles: {said:?}\n{report}");
}

/// The listener killed (SIGKILL) just after it announced the needle drop, and down until a
/// ring of 20 s no longer holds the drop nor the 4 s after it ([`HandsFree`] at real time): the
/// restarted listener resumes the side as playing from the ring's oldest frame, and recognises
/// it from there (a learned side is found from any place in it). The side is still one recording, named as the
/// recognised side with its titled markers, one play noted as recognised; the events say
/// `recognized` once, for the side's own needle drop, and its report starts at that drop.
#[test]
fn a_side_whose_drop_left_the_ring_during_a_listener_outage_is_still_recognised_and_named() {
    let Some(mut h) = HandsFree::start_on("outage", "20s", &[]) else { return };
    let rate = 48_000;
    let mut drop = None;
    let mut restarted_at = None;
    h.play(|h, i| {
        let fed = (i as u64 + 1) * rate / 10;
        match (drop, restarted_at) {
            (None, _) => {
                let events = h.events();
                let start = events.lines().find(|l| l.contains("\"event\":\"side_start\""));
                if let Some(e) = start.and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
                    drop = e["frame"].as_u64();
                    h.kill_listener();
                }
            }
            // Down until the ring (20 s) lost the drop and the 4 s after it: then started
            // again, as systemd would after a crash loop.
            (Some(d), None) if fed >= d + 24 * rate => {
                h.listen = spawn_listener(&h.ring, &h.db, &h.run_dir);
                restarted_at = Some(fed);
            }
            _ => {}
        }
    });
    let (drop, restarted_at) = (drop.expect("no side_start"), restarted_at.expect("not restarted"));
    let (f, log) = h.named();
    let listener_log = h.listener_log();
    let decisions: Vec<serde_json::Value> = h
        .events()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] != "state" && e["event"] != "level")
        .collect();
    let report = format!(
        "drop {drop}, restarted at {restarted_at}\n{decisions:#?}\n{listener_log}---- auto ----\n{log}"
    );
    assert!(listener_log.contains("the ring no longer holds its start"), "{report}");
    let all = |kind: &str| decisions.iter().filter(|e| e["event"] == kind).collect::<Vec<_>>();
    let (starts, heard, reports) = (all("side_start"), all("recognized"), all("side_report"));
    assert_eq!((starts.len(), heard.len()), (1, 1), "{report}");
    assert_eq!(heard[0]["frame"].as_u64(), Some(drop), "{report}");
    // Recognised from what the ring held at the restart: 20 s, the drop no longer among them.
    assert!(heard[0]["at"].as_u64().unwrap() > restarted_at - 20 * rate, "{report}");
    assert_eq!(reports.len(), 1, "{report}");
    assert_eq!(reports[0]["start_frame"].as_u64(), Some(drop), "{report}");
    assert_eq!(flac_tag(&f, "VINYL_SIDE_START_FRAME").parse::<u64>().unwrap(), drop, "{report}");
    // The learned tracks placed on this play's timeline lie in the side, in order.
    let tracks: Vec<u64> =
        heard[0]["tracks"].as_array().unwrap().iter().map(|t| t["frame"].as_u64().unwrap()).collect();
    assert!(!tracks.is_empty() && tracks[0] >= drop && tracks.windows(2).all(|w| w[0] < w[1]), "{report}");
}

/// A recognised side recorded in two parts ([`HandsFree`], the side's tap held 5 s behind the
/// head): the tap is killed (SIGKILL) 33 s into the replay, once auto has taken the recognition
/// in, so the rest of the side goes to a second part. See [`HandsFree::named_in_parts`].
#[test]
fn a_recognised_side_in_two_parts_has_every_part_named_in_place_and_still_linked() {
    let Some(mut h) = HandsFree::start_with("parts", &[("VINYL_AUTO_HOLD", "5s")]) else { return };
    let mut killed = false;
    h.play(|h, i| {
        // The stream's title is the artist's once auto has acted on the recognition.
        if !killed && i >= 330 && h.titles().iter().any(|t| t.starts_with("Frozen/Bubble – ")) {
            h.kill_tap();
            killed = true;
        }
    });
    assert!(killed, "the side was not recognised within its music:\n{}", h.auto.stderr());
    h.named_in_parts(2);
}

/// The same, the tap (not held) killed as soon as the side's file holds some audio, seconds
/// after the needle drop, before the listener recognised the side (the recognition takes a few
/// seconds of music more): the first part is finalised unnamed, and named when the recognition
/// comes, as the second part is finalised. See [`HandsFree::named_in_parts`].
#[test]
fn a_side_recognised_after_its_first_part_ended_has_that_part_named_too() {
    let Some(mut h) = HandsFree::start_with("lateparts", &[("VINYL_AUTO_HOLD", "0s")]) else { return };
    let mut killed = None;
    h.play(|h, _| {
        if killed.is_none() && h.recorded_bytes() > 100_000 {
            killed = Some(h.events().contains("\"event\":\"recognized\""));
            h.kill_tap();
        }
    });
    assert!(killed.is_some(), "the side was not recorded:\n{}", h.auto.stderr());
    eprintln!("the tap killed {} the recognition", if killed == Some(true) { "after" } else { "before" });
    let log = h.named_in_parts(2);
    if killed == Some(false) {
        assert!(log.contains("too (an earlier part, finalised before the recognition)"), "{log}");
    }
}

/// The same, and auto killed (SIGKILL) and restarted while the second part records, before
/// that part ends: the new auto takes the second part over and, as the first auto would have,
/// names the first part too when the side is recognised (the state folder tells it the parts
/// before the one it took over). See [`HandsFree::named_in_parts`].
#[test]
fn a_restarted_auto_names_the_parts_before_the_one_it_took_over() {
    let Some(mut h) = HandsFree::start_with("restparts", &[("VINYL_AUTO_HOLD", "0s")]) else { return };
    let (mut tap_killed, mut restarted) = (None, false);
    h.play(|h, _| {
        if tap_killed.is_none() && h.recorded_bytes() > 100_000 {
            tap_killed = Some(h.events().contains("\"event\":\"recognized\""));
            h.kill_tap();
        } else if tap_killed.is_some() && !restarted && h.part() == Some(2) && h.recorded_bytes() > 100_000 {
            h.restart_auto();
            restarted = true;
        }
    });
    assert!(restarted, "the second part was not recorded:\n{}", h.auto.stderr());
    // A first part finalised after the recognition was named by the first auto.
    let named_here = if tap_killed == Some(true) { 1 } else { 2 };
    let log = h.named_in_parts(named_here);
    assert!(log.contains("taking over"), "{log}");
    if named_here == 2 {
        assert!(log.contains("too (an earlier part, finalised before the recognition)"), "{log}");
    }
}

impl HandsFree {
    /// The number of the side's part being recorded (from the state folder), if any.
    fn part(&self) -> Option<u32> {
        std::fs::read_to_string(self.run_dir.join("rec/auto.part")).ok()?.trim().parse().ok()
    }

    /// The size of the side's file being recorded (0 before its recorder wrote any), so a tap is
    /// killed only once it gave its part some audio.
    fn recorded_bytes(&self) -> u64 {
        let Ok(path) = std::fs::read(self.run_dir.join("rec/path")) else { return 0 };
        let path = String::from_utf8_lossy(&path).trim_end().to_string() + ".part";
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    /// Kills the side's tap (SIGKILL): the rest of the side goes to a next part.
    fn kill_tap(&self) {
        let tap = std::fs::read_to_string(self.run_dir.join("rec/tap.pid")).unwrap();
        let pid = nix::unistd::Pid::from_raw(tap.trim().parse().unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    }

    /// Waits for auto to name `parts` parts of the side (both, unless an earlier auto named the
    /// first), stops it (exit 0) and checks what the user
    /// has: the second part continues the first (`VINYL_PART=2`, `VINYL_CONTINUES=` the first's
    /// name); each part is named where it is, as `name` would: the album's tags and cover, and
    /// the titles of the tracks it holds (the first opens with Intro, the second with the track
    /// playing at its start); neither moves, so the link stays true. The collection keeps the
    /// side's three titles and links both parts; the history holds one play, of the first part,
    /// recognised. Returns auto's stderr.
    fn named_in_parts(&mut self, parts: usize) -> String {
        self.auto.wait_lines("named Frozen/Bubble – Music, side B", parts);
        self.auto.signal(nix::sys::signal::Signal::SIGTERM);
        self.auto.wait_exit(T);
        let log = self.auto.stderr();
        let mut files = Vec::new();
        vinyl::rec::list::flac_files(&self.recordings, &mut files);
        files.sort_by_key(|f| flac_tag(f, "VINYL_START_FRAME").parse::<u64>().unwrap());
        assert_eq!(files.len(), 2, "{files:?}\n{log}");
        let name = |f: &PathBuf| f.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(flac_tag(&files[0], "VINYL_END_REASON"), "tap-failed", "{log}");
        assert_eq!(flac_tag(&files[1], "VINYL_PART"), "2", "{log}");
        assert_eq!(flac_tag(&files[1], "VINYL_CONTINUES"), name(&files[0]), "the link is true: {log}");
        let mut chapters = Vec::new();
        for f in &files {
            assert!(name(f).starts_with("side-"), "a part is not moved: {f:?}\n{log}");
            let tags = metaflac(f, &["--export-tags-to=-"]);
            for want in ["ARTIST=Frozen/Bubble", "ALBUM=Music", "DATE=2002", "VINYL_SIDE=B"] {
                assert!(tags.lines().any(|l| l == want), "{}: no {want} in:\n{tags}\n{log}", name(f));
            }
            assert!(
                metaflac(f, &["--list", "--block-type=PICTURE"]).contains("Cover (front)"),
                "{}",
                name(f)
            );
            let titles: Vec<String> = (1..=9)
                .map_while(|i| tags.lines().find_map(|l| l.strip_prefix(&format!("CHAPTER{i:03}NAME="))))
                .map(str::to_string)
                .collect();
            chapters.push(titles);
        }
        // The track cut by the part's end opens the next part (unless the cut fell on a boundary).
        let (one, two) = (&chapters[0], &chapters[1]);
        let skip = usize::from(two.first() == one.last());
        let side: Vec<&String> = one.iter().chain(two.iter().skip(skip)).collect();
        assert_eq!(side, ["Intro", "Middle", "Finale"], "the parts' titles {chapters:?}\n{log}");
        assert_eq!(one[0], "Intro", "{chapters:?}");
        // The collection: the side's tracklist as learned, both parts linked to it.
        let out = run(Command::new(LIBRARY).arg("--db").arg(&self.db).args(["show", "Music"]), T);
        assert_success("show", &out);
        let shown = String::from_utf8_lossy(&out.stdout);
        for want in ["B1  Intro", "B2  Middle", "B3  Finale", &name(&files[0]), &name(&files[1])] {
            assert!(shown.contains(want), "no {want:?} in:\n{shown}");
        }
        let plays = plays(&self.db);
        assert_eq!(plays.len(), 1, "one side, one play: {plays:?}");
        assert_eq!(plays[0]["recording"].as_str(), files[0].to_str(), "{plays:?}");
        assert_eq!(plays[0]["recognized"], true, "{plays:?}");
        log
    }
}

/// Replaces the file's VORBIS_COMMENT with these raw comments (bytes that need not be UTF-8, as
/// another program may have written them; metaflac refuses to).
fn raw_comments(flac: &Path, comments: &[&[u8]]) {
    let mut body = Vec::new();
    let vendor = b"another tagger";
    body.extend((vendor.len() as u32).to_le_bytes());
    body.extend(vendor);
    body.extend((comments.len() as u32).to_le_bytes());
    for c in comments {
        body.extend((c.len() as u32).to_le_bytes());
        body.extend(*c);
    }
    let f = std::fs::File::options().read(true).write(true).open(flac).unwrap();
    vinyl::flac::meta::edit(&f, |blocks| {
        vinyl::flac::meta::set_block(blocks, vinyl::flac::format::BLOCK_VORBIS_COMMENT, Some(body));
        Ok(())
    })
    .unwrap();
}

/// Tags that are not UTF-8 (Latin-1 from another program): `name` refuses to rewrite them (they
/// would be lost) and `learn` to take a name from them, each saying which tag, exit 1; the file
/// stays byte for byte as it was and the collection gets no album.
#[test]
fn tags_that_are_not_utf8_are_refused_and_the_file_left_as_it_was() {
    let side = Side::new();
    raw_comments(&side.flac, &[b"COMMENT=caf\xe9", b"CHAPTER001=00:00:00.000"]);
    let before = std::fs::read(&side.flac).unwrap();
    let out = side.name(&["--title", "Hells Bells"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("COMMENT is not UTF-8") && err.lines().count() == 1, "{err}");
    assert!(std::fs::read(&side.flac).unwrap() == before, "the file changed");

    raw_comments(&side.flac, &[b"ARTIST=Bj\xf6rk", b"ALBUM=Homogenic"]);
    let before = std::fs::read(&side.flac).unwrap();
    let out = side.library(&["learn", side.flac.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ARTIST is not UTF-8"), "{err}");
    assert!(std::fs::read(&side.flac).unwrap() == before, "the file changed");
    let list = side.library(&["export", "--json"]);
    assert_success("export", &list);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("Homogenic"), "{list:?}");
}

/// A disk that fills while `name` makes room for the cover (the file rewritten beside itself):
/// exit 1 naming the file and the step, the file byte for byte as it was, no half-written copy
/// left beside it, and no album in the collection (the file is written first). Needs root for the
/// tmpfs (scripts/test runs as root); skipped with a line otherwise.
#[test]
fn a_disk_that_fills_during_name_leaves_the_file_and_the_collection_as_they_were() {
    let side = Side::new();
    let png = cover(side.dir.path());
    let size = std::fs::metadata(&side.flac).unwrap().len();
    // Room for the file and a little more, not for a copy of it with the cover.
    let Some(mnt) = Tmpfs::mount(&format!("{}k", size / 1024 + 64)) else { return };
    let flac = mnt.path().join("side.flac");
    std::fs::copy(&side.flac, &flac).unwrap();
    let before = std::fs::read(&flac).unwrap();
    let mut cmd = Command::new(LIBRARY);
    cmd.arg("--db").arg(&side.db).arg("name").arg(&flac);
    cmd.args(["--artist", "AC/DC", "--album", "Back in Black", "--title", "Hells Bells", "--cover"])
        .arg(&png);
    let out = run(&mut cmd, T);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("side.flac") && err.contains("No space left"), "{err}");
    assert!(std::fs::read(&flac).unwrap() == before, "the file changed");
    let left: Vec<_> = std::fs::read_dir(mnt.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("side.flac")], "left beside it: {left:?}");
    let list = side.library(&["export", "--json"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("Back in Black"), "{list:?}");
}

/// `vinyl-rec split --library` on a named side: `DIR/Artist/Album (Year)/A1 Title.flac`, each part
/// with the album's tags, its own TITLE and the cover, the parts together bit-exact to the side;
/// an unnamed side is refused, saying to name it first.
#[test]
fn a_named_side_splits_into_a_library_ready_folder() {
    let side = Side::new();
    let out = side.dir.path().join("library");
    let split = |flac: &Path| {
        let mut cmd = Command::new(bin_dir().join("vinyl-rec"));
        cmd.arg("split").arg(flac).arg("--into").arg(&out).arg("--library");
        run(&mut cmd, T)
    };
    let refused = split(&side.flac);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("name the side first"), "{refused:?}");
    let png = cover(side.dir.path());
    assert_success("name", &side.name_two_tracks("A", &png));
    let done = split(&side.flac);
    assert_success("vinyl-rec split --library", &done);
    let album = out.join("AC_DC").join("Back in Black (1980)");
    let want = ["A1 Hells Bells.flac", "A2 Shoot to Thrill.flac", "A3 Track 3.flac"].map(|n| album.join(n));
    let listed: Vec<PathBuf> = String::from_utf8_lossy(&done.stdout).lines().map(PathBuf::from).collect();
    assert_eq!(listed, want.to_vec(), "{done:?}");
    let mut joined = Vec::new();
    for (i, part) in want.iter().enumerate() {
        let tags = metaflac(part, &["--export-tags-to=-"]);
        // Track 3 has no name (its chapter holds the placeholder): the side's title stays.
        let title = ["Hells Bells", "Shoot to Thrill", "Back in Black (side A)"][i];
        for t in [
            format!("TITLE={title}"),
            "ARTIST=AC/DC".into(),
            "ALBUM=Back in Black".into(),
            "DATE=1980".into(),
        ] {
            assert!(tags.lines().any(|l| l == t), "{}: no {t} in:\n{tags}", part.display());
        }
        assert!(tags.lines().any(|l| l == format!("TRACKNUMBER={}", i + 1)), "{tags}");
        let picture = metaflac(part, &["--list", "--block-type=PICTURE"]);
        assert!(picture.contains("Cover (front)") && picture.contains("width: 640"), "{picture}");
        let pcm = run(
            Command::new("flac")
                .args(["-d", "-s", "-c", "--force-raw-format", "--endian=little", "--sign=signed"])
                .arg(part),
            T,
        );
        assert_success("flac -d", &pcm);
        joined.extend(pcm.stdout);
    }
    assert!(joined == side.audio(), "the parts are not the side");
}
