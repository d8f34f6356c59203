//! `vinyl-rec` against the real tools: a ring filled by `vinyl-preroll fill` from a FIFO
//! the test writes numbered frames into (faster than real time), recordings made by the real
//! `vinyl-preroll tap | vinyl-flac-rec`, decoded back by the real `flac` and checked frame by
//! frame.

mod common;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use vinyl::pcm::{PcmSpec, unique_frames};

const RATE: u64 = 48_000;
const T: Duration = Duration::from_secs(60);

/// A ring fed by `vinyl-preroll fill`, a run folder and a recordings folder, all private to one
/// test; the running recording (if any) and the writer are stopped on drop.
struct Rig {
    dir: tempfile::TempDir,
    ring: PathBuf,
    fill: Child,
    feed: Option<File>,
    written: u64,
}

impl Rig {
    fn new(test: &str, capacity: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let ring = PathBuf::from(format!("/dev/shm/vinyl-test-{}-{test}", std::process::id()));
        let _ = std::fs::remove_file(&ring);
        let fifo = dir.path().join("feed.fifo");
        common::mkfifo(&fifo);
        std::fs::create_dir(dir.path().join("rec")).unwrap();
        let log = File::create(dir.path().join("fill.log")).unwrap();
        let fill = Command::new(env!("CARGO_BIN_EXE_vinyl-preroll"))
            .args(["fill", "--capacity", capacity, "--ring"])
            .arg(&ring)
            .arg("--input")
            .arg(&fifo)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn vinyl-preroll fill");
        // Blocks until the fill opens its end: under a deadline.
        let feed =
            common::with_deadline(T, move || File::options().write(true).open(&fifo).expect("open feed"));
        Rig { dir, ring, fill, feed: Some(feed), written: 0 }
    }

    fn fill_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("fill.log")).unwrap_or_default()
    }

    /// Writes the next `frames` numbered frames and waits until the ring's head has them.
    fn feed(&mut self, frames: u64) {
        let spec = PcmSpec::default();
        let mut feed = self.feed.take().unwrap();
        let first = self.written;
        let feed = common::with_deadline(T, move || {
            let mut at = first;
            while at < first + frames {
                let n = (first + frames - at).min(RATE);
                feed.write_all(&unique_frames(&spec, at, n)).expect("write feed");
                at += n;
            }
            feed
        });
        self.feed = Some(feed);
        self.written += frames;
        let want = self.written;
        common::wait_until(&format!("ring head {want}\nfill log:\n{}", self.fill_log()), T, || {
            self.info()["head"].as_u64() == Some(want)
        });
    }

    fn info(&self) -> serde_json::Value {
        let out = common::run(
            Command::new(env!("CARGO_BIN_EXE_vinyl-preroll"))
                .args(["info", "--json", "--ring"])
                .arg(&self.ring),
            T,
        );
        if !out.status.success() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    fn recordings(&self) -> PathBuf {
        self.dir.path().join("rec")
    }

    /// Runs `vinyl-rec ARGS` with this rig's ring and folders.
    fn rec(&self, args: &[&str]) -> Output {
        common::vinyl_rec(args, &self.dir.path().join("run"), &self.recordings(), &self.ring)
    }

    fn rec_ok(&self, args: &[&str]) -> String {
        common::vinyl_rec_ok(args, &self.dir.path().join("run"), &self.recordings(), &self.ring)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if self.dir.path().join("run/rec").exists() {
            let _ = self.rec(&["stop"]);
        }
        drop(self.feed.take());
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.fill.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.fill.wait();
        let _ = std::fs::remove_file(&self.ring);
    }
}

/// Asserts `frames` is exactly `first, first+1, …, first+count-1`.
fn assert_contiguous(frames: &[u64], first: u64, count: u64) {
    assert_eq!(frames.len() as u64, count, "frame count (first frame {:?})", frames.first());
    if let Some(i) = frames.iter().enumerate().position(|(i, &f)| f != first + i as u64) {
        panic!("frame {i} is {} but should be {} (a gap or a misalignment)", frames[i], first + i as u64);
    }
}

#[test]
fn start_stop_records_exactly_from_thirty_seconds_before_the_head() {
    if !common::have("flac") || !common::have("metaflac") {
        panic!("flac/metaflac are not installed (scripts/test installs them)");
    }
    let mut rig = Rig::new("startstop", "60s");
    rig.feed(40 * RATE); // the head stands still at 40 s while the recording starts
    let head_at_start = rig.info()["head"].as_u64().unwrap();
    assert_eq!(head_at_start, 40 * RATE);

    let out = rig.rec_ok(&["start", "--preroll", "30s", "--name", "side-a", "--tag", "TITLE=Side A"]);
    let path = PathBuf::from(out.trim());
    assert!(path.starts_with(rig.recordings()), "{} is not under the recordings folder", path.display());
    assert!(path.to_string_lossy().ends_with("/side-a.flac"), "{}", path.display());
    let month = path.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
    assert!(month.len() == 7 && month.as_bytes()[4] == b'-', "folder {month} is not YYYY-MM");

    // One recording at a time: a second start names the running one, and writes nothing.
    let second = rig.rec(&["start", "--name", "other"]);
    common::assert_status("second vinyl-rec start", &second, 1);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&*path.to_string_lossy()),
        "second start does not name the running recording: {err}"
    );
    // Bad names are refused before anything happens.
    for bad in ["../x", "a/b", ".hidden", "-x"] {
        common::assert_status(
            &format!("vinyl-rec start --name {bad}"),
            &rig.rec(&["start", "--name", bad]),
            2,
        );
    }

    let status = rig.rec_ok(&["status"]);
    assert!(status.contains(&format!("recording: {}", path.display())), "{status}");

    rig.feed(5 * RATE); // more audio arrives while recording
    let head_at_stop = rig.written;
    let out = rig.rec_ok(&["stop"]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(&*path.to_string_lossy()), "{out}");
    let expected = 30 * RATE + 5 * RATE;
    assert_eq!(lines.next(), Some(&*format!("35.000s ({expected} frames)")), "{out}");
    assert!(path.exists() && !path.with_extension("flac.part").exists());

    // The file holds the contiguous input frames from exactly 30 s before the head at start to
    // the head at stop, and says where it starts.
    let start = head_at_start - 30 * RATE;
    assert_eq!(common::flac_tag(&path, "VINYL_START_FRAME"), start.to_string());
    assert_eq!(common::flac_tag(&path, "TITLE"), "Side A");
    let frames = common::decoded_frames(&path);
    assert_contiguous(&frames, start, head_at_stop - start);

    assert_eq!(rig.rec_ok(&["status"]).trim(), "not recording");
    common::assert_status("vinyl-rec stop when not recording", &rig.rec(&["stop"]), 1);

    let list = rig.rec_ok(&["list"]);
    let row =
        list.lines().find(|l| l.starts_with(&*path.to_string_lossy())).unwrap_or_else(|| panic!("{list}"));
    let cols: Vec<&str> = row.split('\t').collect();
    assert_eq!(cols.len(), 7, "{row}");
    assert_eq!(cols[1], format!("35.000s ({expected} frames)"));
    assert_eq!(cols[4], "Side A");
    assert_eq!((cols[5], cols[6]), ("0", ""), "no tracks, no loudness yet: {row}");

    // The same name again is refused: recordings are never overwritten.
    common::assert_status("start with an existing name", &rig.rec(&["start", "--name", "side-a"]), 1);
}

#[test]
fn snapshot_saves_exactly_the_last_five_seconds() {
    let mut rig = Rig::new("snapshot", "30s");
    rig.feed(12 * RATE);
    let out = rig.rec_ok(&["snapshot", "--last", "5s", "--name", "snap", "--tag", "TITLE=Snap"]);
    let mut lines = out.lines();
    let path = PathBuf::from(lines.next().unwrap());
    assert_eq!(lines.next(), Some(&*format!("5.000s ({} frames)", 5 * RATE)), "{out}");
    assert_eq!(common::flac_tag(&path, "VINYL_START_FRAME"), (7 * RATE).to_string());
    assert_contiguous(&common::decoded_frames(&path), 7 * RATE, 5 * RATE);
    // No recording is left running.
    assert!(!rig.dir.path().join("run/rec").exists());
    assert_eq!(rig.rec_ok(&["status"]).trim(), "not recording");
}

#[test]
fn a_preroll_longer_than_the_ring_starts_at_the_oldest_frame() {
    let mut rig = Rig::new("short", "30s");
    rig.feed(10 * RATE); // only 10 s in the ring, 30 s asked for
    let out = rig.rec(&["start", "--name", "short"]);
    common::assert_success("vinyl-rec start", &out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds only 10.000s"), "{out:?}");
    let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    rig.feed(RATE / 2);
    rig.rec_ok(&["stop"]);
    assert_eq!(common::flac_tag(&path, "VINYL_START_FRAME"), "0");
    assert_contiguous(&common::decoded_frames(&path), 0, 10 * RATE + RATE / 2);
}

#[test]
fn start_without_a_ring_fails_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let ring = PathBuf::from(format!("/dev/shm/vinyl-test-{}-missing", std::process::id()));
    let out =
        common::vinyl_rec(&["start", "--name", "x"], &dir.path().join("run"), &dir.path().join("rec"), &ring);
    common::assert_status("vinyl-rec start without a ring", &out, 1);
    assert!(!dir.path().join("run/rec").exists(), "a failed start left state behind");
    assert!(
        !dir.path().join("rec").exists()
            || std::fs::read_dir(dir.path().join("rec")).unwrap().next().is_none()
    );
}

/// A name whose `NAME.flac.part` would pass the file system's 255-byte limit is refused up front
/// (exit 2, saying the limit), before the ring or any folder is touched.
#[test]
fn a_name_too_long_for_a_file_name_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let ring = PathBuf::from(format!("/dev/shm/vinyl-test-{}-longname", std::process::id()));
    let (run, rec) = (dir.path().join("run"), dir.path().join("rec"));
    let longest = "n".repeat(255 - ".flac.part".len());
    for cmd in ["start", "snapshot"] {
        let mut args = vec![cmd, "--name"];
        let too_long = format!("{longest}x");
        args.push(&too_long);
        if cmd == "snapshot" {
            args.extend(["--last", "1s"]);
        }
        let out = common::vinyl_rec(&args, &run, &rec, &ring);
        common::assert_status(&format!("vinyl-rec {cmd} with a 246-byte name"), &out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("255 bytes") && err.contains("at most 245"), "{err}");
    }
    assert!(!run.join("rec").exists() && !rec.exists(), "a refused name left something behind");
    // The longest name that fits passes the check: this start fails only for want of a ring.
    common::assert_status(
        "vinyl-rec start with a 245-byte name",
        &common::vinyl_rec(&["start", "--name", &longest], &run, &rec, &ring),
        1,
    );
}

/// A recorder killed with SIGKILL (runner, tap and recorder at once) leaves stale state: `status`
/// says so, and the next `start` cleans it up, names the unfinished `.part`, and records.
#[test]
fn stale_state_of_a_killed_recorder_is_cleaned_up() {
    let mut rig = Rig::new("stale", "30s");
    rig.feed(2 * RATE);
    let first = PathBuf::from(rig.rec_ok(&["start", "--preroll", "1s", "--name", "killed"]).trim());
    let part = first.with_extension("flac.part");
    common::wait_until("the recorder creates its .part", T, || part.exists());
    let runner: i32 =
        std::fs::read_to_string(rig.dir.path().join("run/rec/runner.pid")).unwrap().trim().parse().unwrap();
    // The runner leads its own session and process group: kill all of it.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(-runner), nix::sys::signal::Signal::SIGKILL).unwrap();
    common::wait_until("the runner is gone", T, || common::up::gone(runner));

    let status = rig.rec_ok(&["status"]);
    assert!(status.starts_with("not recording") && status.contains("ended on its own"), "{status}");

    let out = rig.rec(&["start", "--preroll", "1s", "--name", "after"]);
    common::assert_success("vinyl-rec start after a killed recorder", &out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ended on its own") && err.contains("--recover"), "{err}");
    let second = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    rig.feed(RATE);
    let stopped = rig.rec_ok(&["stop"]);
    assert!(stopped.starts_with(&*second.to_string_lossy()), "{stopped}");
    assert_eq!(common::flac_tag(&second, "VINYL_START_FRAME"), RATE.to_string());
    assert_contiguous(&common::decoded_frames(&second), RATE, 2 * RATE);
    assert!(part.exists(), "the killed recording's .part must be kept for --recover");
}

/// Frames the process `pid` has written so far, from the kernel's count of bytes it wrote
/// (`/proc/PID/io`, `wchar`; its few stderr lines add a handful of frames at most).
fn frames_written_by(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("wchar: ")).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0)
        / 4
}

#[test]
fn a_recording_longer_than_the_ring_keeps_up_with_live() {
    // A 3 s ring (5 s with its slack) and a 22 s recording: the tap must follow live the whole
    // time. The test feeds one second at a time, and only once the tap has taken all but the last
    // second of what the ring holds, so the writer can never lap it however slow this machine is.
    let mut rig = Rig::new("longer", "3s");
    rig.feed(4 * RATE);
    let path = PathBuf::from(rig.rec_ok(&["start", "--preroll", "2s", "--name", "longer"]).trim());
    let start = 2 * RATE;
    let tap_pid: u32 = std::fs::read_to_string(rig.dir.path().join("run/rec/tap.pid"))
        .expect("vinyl-rec's tap.pid")
        .trim()
        .parse()
        .unwrap();
    for _ in 0..20 {
        rig.feed(RATE);
        let behind_at_most = rig.written - start - RATE;
        common::wait_until(&format!("tap to write {behind_at_most} frames"), T, || {
            frames_written_by(tap_pid) >= behind_at_most
        });
    }
    let stopped = rig.rec_ok(&["stop"]);
    assert!(stopped.contains("22.000s (1056000 frames)"), "vinyl-rec stop said: {stopped}");
    assert_eq!(common::flac_tag(&path, "VINYL_START_FRAME"), start.to_string());
    assert_contiguous(&common::decoded_frames(&path), start, rig.written - start);
}

/// A finished side of `frames` numbered frames, recorded by the real `vinyl-flac-rec` into `dir`.
fn side(dir: &std::path::Path, name: &str, frames: u64) -> PathBuf {
    let raw = dir.join(format!("{name}.raw"));
    std::fs::write(&raw, unique_frames(&PcmSpec::default(), 0, frames)).unwrap();
    let path = dir.join(format!("{name}.flac"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vinyl-flac-rec"));
    cmd.arg("-o").arg(&path).args(["--tag", "TITLE=Side A"]).stdin(File::open(&raw).unwrap());
    common::run_ok(&mut cmd, T);
    path
}

/// Runs `vinyl-rec ARGS` (commands on one file: no ring or run folder is used).
fn rec_file(dir: &std::path::Path, args: &[&str]) -> Output {
    common::vinyl_rec(args, &dir.join("run"), dir, &dir.join("no-ring"))
}

/// [`rec_file`] that must succeed; returns its stdout.
fn rec_file_ok(dir: &std::path::Path, args: &[&str]) -> String {
    common::vinyl_rec_ok(args, &dir.join("run"), dir, &dir.join("no-ring"))
}

/// Runs a reference tool that must succeed; returns its stdout.
fn tool_ok(program: &str, args: &[&str], file: &std::path::Path) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args).arg(file);
    let out = common::run_ok(&mut cmd, T);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `INDEX 01 N` offsets and the lead-out of `metaflac --export-cuesheet-to=-`.
fn exported_cuesheet(file: &std::path::Path) -> (Vec<u64>, String) {
    let text = tool_ok("metaflac", &["--export-cuesheet-to=-"], file);
    let offsets = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("INDEX 01 "))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{text}")))
        .collect();
    let lead_out = text.lines().find_map(|l| l.strip_prefix("REM FLAC__lead-out ")).unwrap_or_default();
    (offsets, lead_out.to_string())
}

/// A one-line error that names `what`, on a failed command with exit `code`.
fn assert_one_line_error(what: &str, out: &Output, code: i32, names: &str) {
    common::assert_status(what, out, code);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().count() == 1 && err.starts_with("vinyl-rec: ") && err.contains(names),
        "{what}: {err}"
    );
}

#[test]
fn track_markers_are_a_cuesheet_and_chapters_that_the_reference_tools_read() {
    for tool in ["flac", "metaflac", "ffprobe"] {
        assert!(common::have(tool), "{tool} is not installed (scripts/test installs it)");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = side(dir.path(), "side-a", 20 * RATE);
    let p = path.to_str().unwrap();
    let audio_before = common::decoded_frames(&path);

    let out = rec_file(dir.path(), &["tracks", p]);
    common::assert_success("vinyl-rec tracks without markers", &out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "TRACK\tSTART\tFRAME\tLENGTH\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no track markers"), "{out:?}");

    let table = rec_file_ok(dir.path(), &["tracks", p, "--set", "0,0:04.5,600000f"]);
    assert_eq!(
        table,
        "TRACK\tSTART\tFRAME\tLENGTH\n1\t0:00.000\t0\t0:04.500\n2\t0:04.500\t216000\t0:08.000\n\
         3\t0:12.500\t600000\t0:07.500\n"
    );
    assert_eq!(exported_cuesheet(&path), (vec![0, 216_000, 600_000], format!("255 {}", 20 * RATE)));
    assert!(tool_ok("metaflac", &["--list", "--block-type=CUESHEET"], &path).contains("is CD: false"));
    assert_eq!(common::flac_tag(&path, "CHAPTER002"), "00:00:04.500");
    assert_eq!(common::flac_tag(&path, "CHAPTER003NAME"), "Track 3");
    // FFmpeg's chapters, with their names; and the audio is untouched (flac -t passes).
    let probe: serde_json::Value =
        serde_json::from_str(&tool_ok("ffprobe", &["-v", "error", "-show_chapters", "-of", "json"], &path))
            .unwrap();
    let chapters: Vec<(String, String)> = probe["chapters"]
        .as_array()
        .unwrap_or_else(|| panic!("{probe}"))
        .iter()
        .map(|c| {
            (c["start_time"].as_str().unwrap().to_string(), c["tags"]["title"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        chapters,
        [("0.000000", "Track 1"), ("4.500000", "Track 2"), ("12.500000", "Track 3")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(common::decoded_frames(&path), audio_before);
    // libFLAC finds the sheet legal (metaflac's import checks it), and what metaflac writes reads
    // back the same.
    let cue = dir.path().join("side-a.cue");
    tool_ok("metaflac", &[&format!("--export-cuesheet-to={}", cue.display())], &path);
    let copy = dir.path().join("copy.flac");
    std::fs::copy(&path, &copy).unwrap();
    tool_ok("metaflac", &["--remove", "--block-type=CUESHEET"], &copy);
    tool_ok("metaflac", &[&format!("--import-cuesheet-from={}", cue.display())], &copy);
    let table_of_copy = rec_file_ok(dir.path(), &["tracks", copy.to_str().unwrap()]);
    assert_eq!(table_of_copy, table);

    // --set replaces every marker (the third chapter goes too).
    let out = rec_file(dir.path(), &["tracks", p, "--set", "10", "--json"]);
    common::assert_success("vinyl-rec tracks --set 10 --json", &out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["source"], "cuesheet");
    assert_eq!(json["frames"], 20 * RATE);
    let starts: Vec<u64> =
        json["tracks"].as_array().unwrap().iter().map(|t| t["start_frame"].as_u64().unwrap()).collect();
    assert_eq!(starts, [0, 10 * RATE], "{json}");
    assert_eq!(exported_cuesheet(&path).0, [0, 10 * RATE]);
    assert_eq!(common::flac_tag(&path, "CHAPTER003"), "");
    assert_eq!(common::decoded_frames(&path), audio_before);

    // Refusals: bad lists exit 2, a missing file exits 1, each in one line; the file is unchanged.
    let before = std::fs::read(&path).unwrap();
    for bad in ["5,3", "0,30", "1:2:3:4", ""] {
        assert_one_line_error(
            &format!("tracks --set {bad:?}"),
            &rec_file(dir.path(), &["tracks", p, "--set", bad]),
            2,
            "--set",
        );
    }
    let missing = dir.path().join("missing.flac");
    assert_one_line_error(
        "tracks on a missing file",
        &rec_file(dir.path(), &["tracks", missing.to_str().unwrap()]),
        1,
        "missing.flac: open",
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // A file without padding: one line naming it and the step, nothing written.
    let tight = side(dir.path(), "tight", RATE);
    tool_ok("metaflac", &["--remove", "--block-type=PADDING", "--dont-use-padding"], &tight);
    let before = std::fs::read(&tight).unwrap();
    assert_one_line_error(
        "tracks --set on a file without padding",
        &rec_file(dir.path(), &["tracks", tight.to_str().unwrap(), "--set", "0,0.5"]),
        1,
        "tight.flac: write the track markers: the new metadata needs",
    );
    assert_eq!(std::fs::read(&tight).unwrap(), before);

    // list: the number of tracks and the loudness the side_report measured.
    vinyl::flac::loudness::write(
        &path,
        &vinyl::flac::loudness::Measurements {
            integrated_lufs: Some(-14.8),
            true_peak_dbtp: Some(-0.8),
            noise_floor_dbfs: Some(-62.5),
            clicks_per_min: Some(3.4),
            clipped: 0,
        },
    )
    .unwrap();
    assert_eq!(common::flac_tag(&path, "REPLAYGAIN_TRACK_GAIN"), "-3.20 dB");
    assert_eq!(common::flac_tag(&path, "REPLAYGAIN_TRACK_PEAK"), "0.912011");
    let list = rec_file_ok(dir.path(), &["list"]);
    let row = list.lines().find(|l| l.starts_with(p)).unwrap_or_else(|| panic!("{list}"));
    assert!(row.ends_with("\tSide A\t2\t-14.80"), "{row}");
    assert_eq!(common::decoded_frames(&path), audio_before);
}

#[test]
fn split_parts_join_bit_exact_to_the_side_with_their_track_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = side(dir.path(), "side-b", 12 * RATE + 123);
    let p = path.to_str().unwrap();
    let out = rec_file(dir.path(), &["split", p]);
    assert_one_line_error("split without markers", &out, 1, "no track markers");

    let into = dir.path().join("tracks");
    let cut = format!("0,4096f,{}f,7.25", RATE + 1);
    rec_file_ok(dir.path(), &["tracks", p, "--set", &cut]);
    let out = rec_file_ok(dir.path(), &["split", p, "--into", into.to_str().unwrap()]);
    let parts: Vec<PathBuf> = out.lines().map(PathBuf::from).collect();
    let names: Vec<String> =
        parts.iter().map(|p| p.strip_prefix(&into).unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["side-b-01.flac", "side-b-02.flac", "side-b-03.flac", "side-b-04.flac"]);

    // Decoded by the reference decoder (after flac -t) and joined: exactly the side's frames.
    let mut joined = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        joined.extend(common::decoded_frames(part));
        assert_eq!(common::flac_tag(part, "TRACKNUMBER"), (i + 1).to_string());
        assert_eq!(common::flac_tag(part, "TRACKTOTAL"), "4");
        assert_eq!(common::flac_tag(part, "TITLE"), "Side A");
        assert_eq!(common::flac_tag(part, "CHAPTER001"), "", "no chapters in a part");
    }
    assert_eq!(joined, common::decoded_frames(&path), "the parts do not join to the side");
    assert_contiguous(&joined, 0, 12 * RATE + 123);
    assert_eq!(joined.len(), 12 * RATE as usize + 123);
    let second = common::decoded_frames(&parts[1]);
    assert_eq!((second[0], second.len()), (4096, RATE as usize + 1 - 4096));

    // Never overwrites: a second split is refused before anything is written.
    let before: Vec<Vec<u8>> = parts.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let out = rec_file(dir.path(), &["split", p, "--into", into.to_str().unwrap()]);
    assert_one_line_error("a second split", &out, 1, "side-b-01.flac: exists already");
    assert_eq!(parts.iter().map(|p| std::fs::read(p).unwrap()).collect::<Vec<_>>(), before);
    // The default folder is the side's own.
    let out = rec_file_ok(dir.path(), &["split", p]);
    assert_eq!(out.lines().next(), Some(&*dir.path().join("side-b-01.flac").to_string_lossy()));
}

/// loudgain's ReplayGain 2.0 track gain (dB) and peak for `file` (it only reads: `-O` prints a
/// table, no tag is written).
fn loudgain(file: &std::path::Path) -> (f64, f64) {
    let mut cmd = Command::new("loudgain");
    cmd.arg("-O").arg(file);
    let out = common::run(&mut cmd, T);
    common::assert_success("loudgain (package loudgain)", &out);
    let table = String::from_utf8_lossy(&out.stdout);
    let row: Vec<&str> = table.lines().last().unwrap_or_default().split('\t').collect();
    let num = |v: &str| v.split_whitespace().next().and_then(|n| n.parse::<f64>().ok());
    match (row.get(8).copied().and_then(num), row.get(3).copied().and_then(num)) {
        (Some(gain), Some(peak)) => (gain, peak),
        _ => panic!("loudgain: {table}"),
    }
}

#[test]
fn split_parts_carry_their_own_replaygain_as_loudgain_and_ffmpeg_measure_it() {
    let dir = tempfile::tempdir().unwrap();
    // Two tracks of 10 s: a 1 kHz tone at -20 dBFS, then one at -31 dBFS.
    let mut pcm = Vec::new();
    for (i, amp) in [(0u64, 0.1f64), (1, 0.0282)] {
        for n in 0..10 * RATE {
            let t = (i * 10 * RATE + n) as f64 / RATE as f64;
            let v = ((amp * (std::f64::consts::TAU * 1000.0 * t).sin()) * 32767.0).round() as i16;
            pcm.extend_from_slice(&[v.to_le_bytes(), v.to_le_bytes()].concat());
        }
    }
    let raw = dir.path().join("tones.raw");
    std::fs::write(&raw, &pcm).unwrap();
    let path = dir.path().join("tones.flac");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vinyl-flac-rec"));
    cmd.arg("-o")
        .arg(&path)
        .args(["--tag", "REPLAYGAIN_TRACK_GAIN=-1.23 dB"])
        .stdin(File::open(&raw).unwrap());
    common::run_ok(&mut cmd, T);
    let (run, ring) = (dir.path().join("run"), dir.path().join("no-ring"));
    let p = path.to_str().unwrap();
    common::vinyl_rec_ok(&["tracks", p, "--set", "0,10"], &run, dir.path(), &ring);
    let out = common::vinyl_rec_ok(&["split", p], &run, dir.path(), &ring);
    let parts: Vec<PathBuf> = out.lines().map(PathBuf::from).collect();
    assert_eq!(parts.len(), 2, "{out}");
    let mut gains = Vec::new();
    for part in &parts {
        let gain = common::flac_tag(part, "REPLAYGAIN_TRACK_GAIN");
        assert_eq!(
            common::flac_tag(part, "REPLAYGAIN_ALBUM_GAIN"),
            "-1.23 dB",
            "the side's gain is the album's"
        );
        assert!(!gain.starts_with('+') && gain.ends_with(" dB"), "{gain}");
        let ours: f64 = gain.trim_end_matches(" dB").parse().unwrap();
        let theirs = -18.0 - common::ffmpeg_lufs(part);
        assert!((ours - theirs).abs() <= 0.15, "{}: ours {ours} dB, ffmpeg {theirs:.2} dB", part.display());
        let peak: f64 = common::flac_tag(part, "REPLAYGAIN_TRACK_PEAK").parse().unwrap();
        let (lg_gain, lg_peak) = loudgain(part);
        assert!((ours - lg_gain).abs() <= 0.05, "{}: ours {ours} dB, loudgain {lg_gain} dB", part.display());
        assert!((peak - lg_peak).abs() <= 0.002, "{}: peak {peak}, loudgain {lg_peak}", part.display());
        gains.push((ours, peak));
    }
    assert!((gains[1].0 - gains[0].0 - 11.0).abs() < 0.2, "{gains:?}");
    assert!((gains[0].1 - 0.1).abs() < 0.005 && (gains[1].1 - 0.0282).abs() < 0.002, "{gains:?}");
}

/// Samples in a WAV file written by shnsplit (16-bit stereo: its data chunk's size over 4).
fn wav_frames(path: &std::path::Path) -> u64 {
    let r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.duration() as u64
}

#[test]
fn cue_text_tools_read_the_exported_markers_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let frames = 12 * RATE + 123;
    let path = side(dir.path(), "side-c", frames);
    let p = path.to_str().unwrap();
    let (run, ring) = (dir.path().join("run"), dir.path().join("no-ring"));
    // 0:59.509-style starts that fall between milliseconds and between CD frames.
    let starts = [0, 4096, RATE + 1, 348_000 + 24];
    let set = starts.iter().map(|s| format!("{s}f")).collect::<Vec<_>>().join(",");
    common::vinyl_rec_ok(&["tracks", p, "--set", &set], &run, dir.path(), &ring);

    // shnsplit, fed the breakpoints: each part starts within half a millisecond of its marker.
    let points = common::vinyl_rec_ok(&["tracks", p, "--breakpoints"], &run, dir.path(), &ring);
    assert_eq!(points.lines().collect::<Vec<_>>(), ["0:00.085", "0:01.000", "0:07.251"]);
    let out_dir = dir.path().join("shn");
    std::fs::create_dir(&out_dir).unwrap();
    let mut cmd = Command::new("shnsplit");
    cmd.args(["-q", "-o", "wav", "-d"]).arg(&out_dir).arg(&path).stdin(Stdio::piped());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("shnsplit (package shntool)");
    child.stdin.take().unwrap().write_all(points.as_bytes()).unwrap();
    let out = common::wait_output(child, T, "shnsplit");
    common::assert_success("shnsplit", &out);
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().path()).collect();
    parts.sort();
    let lengths: Vec<u64> = parts.iter().map(|p| wav_frames(p)).collect();
    let ends = starts.iter().skip(1).copied().chain([frames]);
    let want: Vec<u64> = starts.iter().zip(ends).map(|(a, b)| b - a).collect();
    assert_eq!(lengths.len(), want.len(), "{parts:?}");
    let mut at = 0u64;
    for (i, (got, start)) in lengths.iter().zip(starts).enumerate() {
        assert!(at.abs_diff(start) <= RATE / 2000, "part {}: starts at {at}, marker {start}", i + 1);
        at += got;
    }
    assert_eq!(at, frames, "the parts join to the side");

    // cuebreakpoints, fed the CUE sheet: each start within half a CD frame (1/150 s).
    let sheet = common::vinyl_rec_ok(&["tracks", p, "--cue"], &run, dir.path(), &ring);
    assert!(sheet.contains("FILE \"side-c.flac\" WAVE"), "{sheet}");
    let cue = dir.path().join("side-c.cue");
    std::fs::write(&cue, &sheet).unwrap();
    let mut cmd = Command::new("cuebreakpoints");
    cmd.arg(&cue);
    let out = common::run(&mut cmd, T);
    common::assert_success("cuebreakpoints (package cuetools)", &out);
    let read: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (m, rest) = l.split_once(':').unwrap();
            let (s, f) = rest.split_once('.').unwrap();
            m.parse::<f64>().unwrap() * 60.0 + s.parse::<f64>().unwrap() + f.parse::<f64>().unwrap() / 75.0
        })
        .collect();
    assert_eq!(read.len(), 3, "{sheet}");
    for (got, start) in read.iter().zip(&starts[1..]) {
        let want = *start as f64 / RATE as f64;
        assert!((got - want).abs() <= 1.0 / 150.0 + 1e-9, "cuebreakpoints {got} s for a marker at {want} s");
    }
}
