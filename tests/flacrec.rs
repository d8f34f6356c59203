//! `vinyl-flac-rec` against the reference FLAC tools: `flac -t`, `flac -d`, `metaflac`, real
//! signals (SIGTERM, SIGKILL), a real file size limit (`prlimit --fsize`), and a 3-hour
//! recording piped in faster than real time.

mod common;

use common::{
    assert_status, assert_success, describe, flac_raw, metaflac, run, stderr, stdin_file, wait_until,
};
use nix::sys::signal::Signal;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use vinyl::pcm::{PcmSpec, SampleFormat, unique_frames};

const BIN: &str = env!("CARGO_BIN_EXE_vinyl-flac-rec");
const DEADLINE: Duration = Duration::from_secs(120);

fn rec() -> Command {
    Command::new(BIN)
}

fn spec_args(spec: &PcmSpec) -> Vec<String> {
    vec![
        "--rate".into(),
        spec.rate.to_string(),
        "--channels".into(),
        spec.channels.to_string(),
        "--format".into(),
        spec.format.name().into(),
    ]
}

/// A tone with a little noise: realistic enough for the encoder's predictors.
fn tone(spec: &PcmSpec, frames: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * spec.frame_bytes());
    let amp = if spec.format == SampleFormat::S16Le { 9000.0 } else { 2_300_000.0 };
    let mut seed = 7u32;
    for n in 0..frames {
        for ch in 0..spec.channels as usize {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let t = n as f64 / spec.rate as f64;
            let v = amp * (t * (220.0 + 110.0 * ch as f64) * std::f64::consts::TAU).sin()
                + ((seed >> 16) as f64 / 65536.0 - 0.5) * amp * 0.02;
            out.extend_from_slice(&(v as i32).to_le_bytes()[..spec.format.bytes()]);
        }
    }
    out
}

/// `flac -t FILE` must pass; returns its stderr.
fn flac_test(file: &Path) -> String {
    let out = run(Command::new("flac").args(["-t", "-s"]).arg(file), DEADLINE);
    assert_success(&format!("flac -t {}", file.display()), &out);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn total_samples(file: &Path) -> u64 {
    metaflac(file, &["--show-total-samples"]).trim().parse().unwrap()
}

/// Records `input` (from a file on stdin) to `dir/name` with extra flags; returns the output.
fn record(dir: &Path, name: &str, spec: &PcmSpec, input: &[u8], extra: &[&str]) -> (PathBuf, Output) {
    let path = dir.join(name);
    let mut cmd = rec();
    cmd.arg("-o").arg(&path).args(spec_args(spec)).args(extra).stdin(stdin_file(dir, input));
    let out = run(&mut cmd, DEADLINE);
    (path, out)
}

#[test]
fn round_trips_are_exact_for_every_format() {
    let cases = [
        (PcmSpec::default(), 48_000 * 3 + 1234, true),
        (PcmSpec { format: SampleFormat::S24_3Le, ..PcmSpec::default() }, 4096 * 5 + 1, false),
        (PcmSpec { rate: 44_100, ..PcmSpec::default() }, 44_100 * 2 + 17, false),
        (PcmSpec { rate: 96_000, format: SampleFormat::S24_3Le, ..PcmSpec::default() }, 96_000 + 4095, false),
        (PcmSpec { channels: 1, ..PcmSpec::default() }, 4096 * 3, true),
        (PcmSpec { channels: 8, rate: 44_100, format: SampleFormat::S24_3Le }, 3000, false),
    ];
    for (spec, frames, counter) in cases {
        let dir = tempfile::tempdir().unwrap();
        let input = if counter { unique_frames(&spec, 1_000, frames as u64) } else { tone(&spec, frames) };
        let (path, out) = record(dir.path(), "rec.flac", &spec, &input, &[]);
        assert_success(&format!("record {spec}"), &out);
        assert!(!vinyl::flacrec::part_path(&path).exists(), "the .part was renamed");
        flac_test(&path);
        assert_eq!(flac_raw(&path), input, "{spec}, {frames} frames");
        assert_eq!(total_samples(&path), frames as u64);
    }
}

#[test]
fn streaminfo_tags_and_padding_are_what_metaflac_reads() {
    let dir = tempfile::tempdir().unwrap();
    let spec = PcmSpec::default();
    let input = tone(&spec, 48_000 * 2 + 99);
    let (path, out) = record(
        dir.path(),
        "tags.flac",
        &spec,
        &input,
        &[
            "--tag",
            "ARTIST=Nina Simone",
            "--tag",
            "TITLE=Side A = best",
            "--start-frame",
            "123456789",
            "--capture-start",
            "2026-11-24T20:15:00.125+01:00",
            "--preroll",
            "30s",
            "--compression",
            "5",
        ],
    );
    assert_success("record with tags", &out);
    let err = stderr(&out);
    assert!(err.contains("tags.flac.part: recording s16le 48000 Hz 2 ch, compression 5"), "{err}");
    assert!(err.contains("tags.flac: finished (end of input): 2.002s (96099 frames)"), "{err}");

    let md5 = {
        let p = dir.path().join("expected.raw");
        std::fs::write(&p, &input).unwrap();
        let out = run(Command::new("md5sum").arg(&p), DEADLINE);
        String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
    };
    let shown = metaflac(&path, &["--show-total-samples", "--show-md5sum"]);
    assert_eq!(shown, format!("96099\n{md5}\n"));

    let tags = metaflac(&path, &["--export-tags-to=-"]);
    for want in [
        "ARTIST=Nina Simone\n",
        "TITLE=Side A = best\n",
        "ENCODER=vinyl-flac-rec ",
        "VINYL_START_FRAME=123456789\n",
        "VINYL_CAPTURE_START=2026-11-24T20:15:00.125+01:00\n",
        "VINYL_PREROLL=1440000\n",
        "DATE=20",
    ] {
        assert!(tags.contains(want), "missing {want:?} in:\n{tags}");
    }
    let list = metaflac(&path, &["--list"]);
    assert!(list.contains("type: 1 (PADDING)") && list.contains("length: 8192"), "{list}");
    flac_test(&path);
}

#[test]
fn max_duration_stops_at_exactly_that_many_frames() {
    let dir = tempfile::tempdir().unwrap();
    let spec = PcmSpec::default();
    let input = unique_frames(&spec, 0, 100_000);
    let (path, out) = record(dir.path(), "max.flac", &spec, &input, &["--max-duration", "12345f"]);
    assert_success("record --max-duration", &out);
    assert!(stderr(&out).contains("--max-duration reached"), "{}", stderr(&out));
    assert_eq!(flac_raw(&path), input[..12345 * 4]);
    assert_eq!(total_samples(&path), 12345);

    // A time is converted with the rate: 250 ms at 44100 Hz is 11025 frames.
    let spec = PcmSpec { rate: 44_100, ..PcmSpec::default() };
    let (path, out) = record(dir.path(), "max2.flac", &spec, &input, &["--max-duration", "250ms"]);
    assert_success("record --max-duration 250ms", &out);
    assert_eq!(total_samples(&path), 11_025);
}

#[test]
fn a_partial_last_frame_is_reported_and_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let spec = PcmSpec { format: SampleFormat::S24_3Le, ..PcmSpec::default() };
    let mut input = unique_frames(&spec, 0, 5000);
    input.extend_from_slice(&[1, 2, 3, 4]);
    let (path, out) = record(dir.path(), "partial.flac", &spec, &input, &[]);
    assert_success("record", &out);
    assert!(stderr(&out).contains("discarded 4 bytes of a partial 6-byte frame"), "{}", stderr(&out));
    assert_eq!(flac_raw(&path), input[..5000 * 6]);
}

/// A recorder reading from a pipe the test writes to, with its stderr read line by line.
struct Live {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Live {
    fn start(path: &Path, extra: &[&str]) -> Live {
        let mut child = rec()
            .arg("-o")
            .arg(path)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Live { child, stdin, lines, log: Vec::new() }
    }

    /// Waits for a stderr line containing `what`.
    fn wait_line(&mut self, what: &str) {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(what);
                    self.log.push(l);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!("no line with {what:?}; stderr so far:\n{}", self.log.join("\n")),
            }
        }
    }

    fn feed(&mut self, data: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(data).unwrap();
    }

    /// Panics with `why`, the recorder's exit status and its stderr (killing it first if it is
    /// still running, so that its status and last words can be shown).
    fn fail(mut self, why: &str) -> ! {
        let running = self.child.try_wait().ok().flatten().is_none();
        if running {
            let _ = self.child.kill();
        }
        let (st, log) = self.finish();
        let killed = if running { " (killed by the test: it was still running)" } else { "" };
        panic!("{why}\nrecorder status: {st}{killed}\nrecorder stderr:\n{log}");
    }

    fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        common::with_deadline(DEADLINE, move || {
            let st = self.child.wait().unwrap();
            let mut log = self.log;
            log.extend(self.lines.iter());
            (st, log.join("\n"))
        })
    }
}

/// Waits until `part` holds `frames` complete FLAC frames (read with the repair scanner, which
/// changes nothing), i.e. the recorder has encoded and written everything fed so far.
fn wait_frames(part: &Path, frames: u64) {
    wait_until(&format!("{} frames in {}", frames, part.display()), DEADLINE, || {
        File::open(part)
            .ok()
            .and_then(|f| vinyl::flac::recover::scan(f).ok())
            .is_some_and(|r| r.frames >= frames)
    });
}

#[test]
fn sigterm_and_sigint_finish_a_valid_file() {
    for (sig, name) in [(Signal::SIGTERM, "SIGTERM"), (Signal::SIGINT, "SIGINT")] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("term.flac");
        let spec = PcmSpec::default();
        let input = unique_frames(&spec, 0, 48_000 * 3 + 100);
        let mut live = Live::start(&path, &[]);
        live.wait_line("recording");
        live.feed(&input);
        wait_frames(&vinyl::flacrec::part_path(&path), (48_000 * 3 + 100) / 4096);
        common::signal(&live.child, sig);
        // The pipe stays open: the recorder must stop on the signal alone.
        let stdin = live.stdin.take();
        let (st, log) = live.finish();
        drop(stdin);
        assert_eq!(st.code(), Some(0), "{log}");
        assert!(log.contains(&format!("finished ({name}): 3.002s (144100 frames)")), "{log}");
        flac_test(&path);
        assert_eq!(flac_raw(&path), input);
    }
}

#[test]
fn a_read_error_on_stdin_finishes_the_file_and_exits_1() {
    // read(2) on a directory fails with EISDIR: a real read error on demand.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.flac");
    let mut cmd = rec();
    cmd.arg("-o").arg(&path).stdin(File::open(dir.path()).unwrap());
    let out = run(&mut cmd, DEADLINE);
    assert_status(&describe(&cmd), &out, 1);
    assert!(stderr(&out).contains("vinyl-flac-rec: stdin: read: Is a directory"), "{}", stderr(&out));
    flac_test(&path);
    assert_eq!(total_samples(&path), 0);
}

#[test]
fn sigkill_leaves_a_playable_part_that_recover_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.flac");
    let part = vinyl::flacrec::part_path(&path);
    let spec = PcmSpec::default();
    let fed = 48_000 * 7 + 3000; // 7.06 s: syncs at 1 s steps, the last whole block at 86 frames
    let input = unique_frames(&spec, 0, fed);
    let mut live = Live::start(&path, &["--sync-every", "1s"]);
    live.wait_line("recording");
    live.feed(&input);
    let blocks = fed / 4096;
    wait_frames(&part, blocks);
    // A live recording is not "recovered" under the recorder's feet.
    let out = run(rec().arg("--recover").arg(&part), DEADLINE);
    assert_status("--recover of a live .part", &out, 1);
    assert!(stderr(&out).contains("a recorder is still writing it"), "{}", stderr(&out));
    common::signal(&live.child, Signal::SIGKILL);
    let (st, _) = live.finish();
    assert_eq!(st.signal(), Some(9));
    assert!(!path.exists());

    // Playable as it is (length and MD5 unknown), holding every complete block.
    let warn = flac_test(&part);
    assert!(warn.is_empty() || warn.contains("MD5"), "{warn}");
    let decoded = flac_raw(&part);
    assert_eq!(decoded, input[..(blocks * 4096 * 4) as usize]);

    let out = run(rec().arg("--recover").arg(&part), DEADLINE);
    assert_success("vinyl-flac-rec --recover", &out);
    assert!(stderr(&out).contains(&format!("recovered {blocks} frames")), "{}", stderr(&out));
    assert!(!part.exists() && path.exists());
    flac_test(&path);
    assert_eq!(total_samples(&path), decoded.len() as u64 / 4);
    assert_eq!(flac_raw(&path), decoded);

    // Recovering again is refused: the FILE.part is gone and FILE is never overwritten.
    let out = run(rec().arg("--recover").arg(&part), DEADLINE);
    assert_status("second --recover", &out, 1);
}

#[test]
fn recover_cuts_a_torn_last_frame() {
    let dir = tempfile::tempdir().unwrap();
    let spec = PcmSpec::default();
    let input = tone(&spec, 4096 * 10);
    let (path, out) = record(dir.path(), "t.flac", &spec, &input, &[]);
    assert_success("record", &out);
    let part = vinyl::flacrec::part_path(&path);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&part, &bytes[..bytes.len() - 700]).unwrap();
    std::fs::remove_file(&path).unwrap();
    let out = run(rec().arg("--recover").arg(&part), DEADLINE);
    assert_success("--recover", &out);
    assert!(stderr(&out).contains("recovered 9 frames"), "{}", stderr(&out));
    assert!(stderr(&out).contains("MD5 left unset"), "{}", stderr(&out));
    flac_test(&path);
    assert_eq!(flac_raw(&path), input[..4096 * 9 * 4]);
    assert_eq!(total_samples(&path), 4096 * 9);
}

#[test]
fn a_write_failure_keeps_everything_before_it_valid() {
    if !common::have("prlimit") {
        panic!("prlimit (util-linux) is needed for this test");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.flac");
    let part = vinyl::flacrec::part_path(&path);
    let spec = PcmSpec::default();
    let input = tone(&spec, 48_000 * 20);
    let mut cmd = Command::new("prlimit");
    cmd.arg("--fsize=200000").arg("--").arg(BIN).arg("-o").arg(&path).stdin(stdin_file(dir.path(), &input));
    let out = run(&mut cmd, DEADLINE);
    assert_status(&describe(&cmd), &out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("vinyl-flac-rec: {}: write: File too large", part.display())),
        "the message names the file and the reason:\n{err}"
    );
    assert!(err.contains("saved there as a valid FLAC file"), "{err}");
    assert!(!path.exists());
    let len = std::fs::metadata(&part).unwrap().len();
    assert!(len <= 200_000 && len > 100_000, "{len}");
    flac_test(&part); // MD5 and length set: the file is complete as far as it goes
    let decoded = flac_raw(&part);
    assert!(!decoded.is_empty() && decoded.len() % (4096 * 4) == 0);
    assert_eq!(decoded, input[..decoded.len()]);
    assert_eq!(total_samples(&part), decoded.len() as u64 / 4);
}

#[test]
fn a_header_that_cannot_be_written_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.flac");
    let mut cmd = Command::new("prlimit");
    cmd.arg("--fsize=1000").arg("--").arg(BIN).arg("-o").arg(&path).stdin(stdin_file(dir.path(), &[0; 4000]));
    let out = run(&mut cmd, DEADLINE);
    assert_status(&describe(&cmd), &out, 1);
    assert!(
        stderr(&out).contains("File too large") && stderr(&out).contains("nothing was recorded"),
        "{}",
        stderr(&out)
    );
    assert!(!vinyl::flacrec::part_path(&path).exists() && !path.exists());
}

#[test]
fn bad_usage_exits_2_and_runtime_refusals_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["-o", "x.flac", "--compression", "9"],
        vec!["-o", "x.flac", "--tag", "nokey"],
        vec!["-o", "x.flac", "--tag", "=value"],
        vec![],
        vec!["-o", "x.flac", "--capture-start", "yesterday"],
        vec!["-o", "x.flac", "--rate", "192000"],
        vec!["--recover", "x.flac"],
    ] {
        let mut cmd = rec();
        cmd.current_dir(dir.path()).args(&args);
        let out = run(&mut cmd, DEADLINE);
        assert_status(&describe(&cmd), &out, 2);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "usage errors create nothing");

    // A folder that does not exist, and a "folder" that is a file.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    for target in [dir.path().join("missing/rec.flac"), file.join("rec.flac")] {
        let mut cmd = rec();
        cmd.arg("-o").arg(&target);
        let out = run(&mut cmd, DEADLINE);
        assert_status(&describe(&cmd), &out, 1);
        assert!(stderr(&out).contains(&format!("{}.part: create:", target.display())), "{}", stderr(&out));
    }

    // An existing FILE is never overwritten, nor an existing FILE.part.
    let existing = dir.path().join("old.flac");
    std::fs::write(&existing, b"precious").unwrap();
    let out = run(rec().arg("-o").arg(&existing).stdin(stdin_file(dir.path(), &[0; 4000])), DEADLINE);
    assert_status("existing FILE", &out, 1);
    assert!(stderr(&out).contains("exists already"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&existing).unwrap(), b"precious");
    let other = dir.path().join("other.flac");
    std::fs::write(vinyl::flacrec::part_path(&other), b"half").unwrap();
    let out = run(rec().arg("-o").arg(&other).stdin(stdin_file(dir.path(), &[0; 4000])), DEADLINE);
    assert_status("existing FILE.part", &out, 1);
    assert!(stderr(&out).contains("--recover"), "{}", stderr(&out));
    assert_eq!(std::fs::read(vinyl::flacrec::part_path(&other)).unwrap(), b"half");
}

#[test]
fn file_modes_are_private_while_recording_and_0644_when_done() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mode.flac");
    let mut live = Live::start(&path, &[]);
    live.wait_line("recording");
    let part = vinyl::flacrec::part_path(&path);
    assert_eq!(std::fs::metadata(&part).unwrap().permissions().mode() & 0o777, 0o600);
    live.feed(&[0u8; 40_000]);
    let (st, log) = live.finish();
    assert!(st.success(), "{log}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & !0o644, 0, "at most 0644: {mode:o}");
    assert_eq!(mode & 0o600, 0o600, "{mode:o}");
}

#[test]
fn a_three_hour_recording_stays_small_in_memory() {
    // 3 h of 48 kHz stereo (2.07 GB of PCM) piped in as fast as the recorder takes it. A
    // low-entropy programme keeps the test short: digital silence (what a paused turntable
    // gives) with one second of tone every five minutes, at the fastest level.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.flac");
    let spec = PcmSpec::default();
    let burst = tone(&spec, 48_000);
    let quiet = vec![0u8; 48_000 * 4];
    let seconds = 3 * 3600;
    let mut live = Live::start(&path, &["--compression", "0", "--sync-every", "1m"]);
    live.wait_line("recording");
    let pid = live.child.id();
    let mut stdin = live.stdin.take().unwrap();
    let (fed_tx, fed) = mpsc::channel();
    std::thread::spawn(move || {
        let mut result = Ok(());
        for s in 0..seconds {
            if let Err(e) = stdin.write_all(if s % 300 == 0 { &burst } else { &quiet }) {
                result = Err(format!("second {s} of the input: write: {e}"));
                break;
            }
        }
        let _ = fed_tx.send((stdin, result));
    });
    let stdin = match fed.recv_timeout(Duration::from_secs(900)) {
        Ok((stdin, Ok(()))) => stdin,
        Ok((_, Err(e))) => live.fail(&format!("the recorder ended before its input did ({e})")),
        Err(_) => live.fail("feeding 3 hours took over 900 s"),
    };
    // Everything is in the pipe or read; wait until all of it is encoded (all but the last
    // partial block), then read the peak resident size while the process still lives.
    let blocks = (seconds as u64 * 48_000) / 4096;
    let total = seconds as u64 * 192_000;
    let start = std::time::Instant::now();
    loop {
        let rchar = std::fs::read_to_string(format!("/proc/{pid}/io"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("rchar: ").and_then(|v| v.trim().parse::<u64>().ok()))
            .unwrap_or(0);
        if rchar >= total && pipe_is_empty(&stdin) {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            live.fail(&format!("after 600 s the recorder has read {rchar} of {total} bytes"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let hwm_kib: u64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    drop(stdin);
    let (st, log) = live.finish();
    assert!(st.success(), "recorder status: {st}\nrecorder stderr:\n{log}");
    assert!(hwm_kib < 16 * 1024, "peak resident size {hwm_kib} KiB, over 16 MiB");
    assert!(log.contains("finished (end of input): 3h00m00.000s (518400000 frames)"), "{log}");
    assert_eq!(total_samples(&path), seconds as u64 * 48_000);
    let scan = vinyl::flac::recover::scan(File::open(&path).unwrap()).unwrap();
    assert_eq!(scan.frames, blocks + 1);
    eprintln!("3-hour recording: peak resident {hwm_kib} KiB");
}

/// True when nothing is left in the pipe behind `w` (FIONREAD works on either end of a pipe).
fn pipe_is_empty(w: &std::process::ChildStdin) -> bool {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int into `n`.
    let r = unsafe { libc::ioctl(w.as_raw_fd(), libc::FIONREAD, &mut n) };
    r == 0 && n == 0
}

#[test]
fn systemd_hears_ready_status_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let notify = common::Notify::bind();
    let spec = PcmSpec::default();
    let input = tone(&spec, 48_000 * 3);
    let path = dir.path().join("n.flac");
    let mut cmd = rec();
    cmd.arg("-o")
        .arg(&path)
        .args(["--sync-every", "1s"])
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "2")
        .stdin(stdin_file(dir.path(), &input));
    let out = run(&mut cmd, DEADLINE);
    assert_success(&describe(&cmd), &out);
    let got = notify.wait_for("STOPPING=1", DEADLINE, |g| g.iter().any(|m| m.starts_with("STOPPING=1")));
    let has = |m: &str| got.iter().any(|g| g.starts_with(m));
    assert_eq!(got.first().map(String::as_str), Some("READY=1"), "{got:?}");
    assert!(has(&format!("STATUS=recording {}", path.display())), "{got:?}");
    assert!(has(&format!("STATUS=recording {}: 2.", path.display())), "{got:?}");
    assert!(has("WATCHDOG=1") && has("STOPPING=1"), "{got:?}");
}
