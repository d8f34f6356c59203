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
    assert_eq!(cols.len(), 5, "{row}");
    assert_eq!(cols[1], format!("35.000s ({expected} frames)"));
    assert_eq!(cols[4], "Side A");

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
    let bin_dir = common::bin_dir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vinyl-rec"));
    cmd.args(["start", "--name", "x"])
        .env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default()))
        .env("VINYL_CONFIG", "/dev/null")
        .env("VINYL_RUN_DIR", dir.path().join("run"))
        .env("VINYL_RECORDINGS", dir.path().join("rec"))
        .env("VINYL_RING", format!("/dev/shm/vinyl-test-{}-missing", std::process::id()));
    let out = common::run(&mut cmd, T);
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
    common::wait_until("the runner is gone", T, || {
        let stat = std::fs::read_to_string(format!("/proc/{runner}/stat")).unwrap_or_default();
        stat.is_empty() || stat.contains(") Z ")
    });

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
