//! vinyl-tee against real FIFOs, real readers (threads and `cat`), a real `/dev/full`, real broken
//! pipes and a real notify socket. Every test feeds the signal in which every frame is unique, so
//! order, gaps and frame alignment can be checked byte for byte. Nothing waits on a bare sleep:
//! tests wait for log lines, counters or pipe contents, under deadlines.

mod common;

use common::proc::Proc;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use vinyl::pcm::{PcmSpec, SampleFormat, unique_frame_number, unique_frames};

const BIN: &str = env!("CARGO_BIN_EXE_vinyl-tee");
const DEADLINE: Duration = Duration::from_secs(60);
/// Packed 24-bit stereo: 6-byte frames do not divide the 4096-byte pipe pages, so partial pipe
/// writes really cut frames in two, and the tee must mend them.
const FORMAT: &str = "s24_3le";
const FB: usize = 6;

/// A running vinyl-tee (the common harness: stdin held by the test, stderr collected by line).
struct Tee(Proc);

impl Tee {
    fn spawn(args: &[&str]) -> Tee {
        Tee::spawn_with(args, Stdio::null(), |_| {})
    }

    fn spawn_with(args: &[&str], stdout: Stdio, setup: impl FnOnce(&mut Command)) -> Tee {
        let mut cmd = tee_cmd();
        cmd.args(args);
        setup(&mut cmd);
        Tee(Proc::spawn_to(cmd, stdout, false))
    }

    fn stderr(&self) -> String {
        self.0.stderr()
    }

    /// Waits until `times` stderr lines hold `needle`.
    fn wait_log(&self, needle: &str, times: usize) {
        self.0.wait_lines(needle, times);
    }

    fn signal(&self, sig: Signal) {
        self.0.signal(sig);
    }

    /// Closes stdin (unless taken) and waits for the exit, within the deadline.
    fn finish(self) -> (ExitStatus, String) {
        self.0.exit(DEADLINE)
    }
}

fn expect_exit(what: &str, status: ExitStatus, stderr: &str, code: i32) {
    assert_eq!(status.code(), Some(code), "{what}: expected exit {code}, got {status}\nstderr:\n{stderr}");
}

/// The counters of the last report line for `name`: (bytes delivered, frames dropped, reconnects).
fn counters(stderr: &str, name: &str) -> (u64, u64, u64) {
    let prefix = format!("vinyl-tee: {name}: ");
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with(&prefix) && l.contains("bytes delivered"))
        .unwrap_or_else(|| panic!("no report line for {name} in:\n{stderr}"));
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let before = |label: &str| -> u64 {
        let i = words.iter().position(|w| *w == label).unwrap_or_else(|| panic!("no '{label}' in {line}"));
        words[i - 1].parse().unwrap_or_else(|_| panic!("bad number before '{label}' in {line}"))
    };
    (before("bytes"), before("frames"), before("reconnects"))
}

/// Frame numbers of `data`, checking that it is whole frames that strictly increase.
fn frame_numbers(what: &str, data: &[u8]) -> Vec<u64> {
    assert_eq!(data.len() % FB, 0, "{what}: {} bytes is not whole frames", data.len());
    let nums: Vec<u64> = data.chunks(FB).map(unique_frame_number).collect();
    for w in nums.windows(2) {
        assert!(
            w[0] < w[1],
            "{what}: frame {} followed by {}: not frame-aligned or out of order",
            w[0],
            w[1]
        );
    }
    nums
}

fn spec() -> PcmSpec {
    PcmSpec { format: SampleFormat::S24_3Le, ..PcmSpec::default() }
}

/// vinyl-tee with the test's sample format.
fn tee_cmd() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["--format", FORMAT]);
    cmd
}

fn wait_for_fifo(path: &Path) {
    common::wait_until(&format!("{} to be created as a FIFO", path.display()), DEADLINE, || {
        std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
    });
}

/// A thread that opens the FIFO for reading and reads it to EOF, counting bytes as they come.
fn fifo_reader(path: PathBuf, count: Arc<AtomicU64>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut f = File::open(&path).unwrap_or_else(|e| panic!("{}: open: {e}", path.display()));
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
            count.fetch_add(n as u64, Ordering::SeqCst);
        }
    })
}

/// Writes all of `data` to the tee's stdin from a thread, then closes it. A closed pipe (the tee
/// left) ends the thread quietly.
fn feed_all(mut stdin: ChildStdin, data: Vec<u8>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    })
}

/// Feeds unique frames to the tee's stdin, without end, until the tee exits on its own (only
/// its error policy can end it); returns its status and stderr.
fn feed_until_exit(mut tee: Tee) -> (ExitStatus, String) {
    let mut stdin = tee.0.take_stdin();
    let stop = Arc::new(AtomicBool::new(false));
    let feeding = stop.clone();
    let feeder = std::thread::spawn(move || {
        let mut next = 0u64;
        while !feeding.load(Ordering::SeqCst) {
            if stdin.write_all(&unique_frames(&spec(), next, 4096)).is_err() {
                break;
            }
            next += 4096;
        }
    });
    let (status, stderr) = tee.finish();
    stop.store(true, Ordering::SeqCst);
    feeder.join().unwrap();
    (status, stderr)
}

#[test]
fn killed_stalled_and_healthy_readers_each_get_what_they_should() {
    common::with_deadline(Duration::from_secs(120), || {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a.fifo"), dir.path().join("b.fifo"), dir.path().join("c.fifo"));
        let names = [a.display().to_string(), b.display().to_string(), c.display().to_string()];
        // --queue 250ms = 48000 bytes per output.
        let mut tee =
            Tee::spawn(&["--queue", "250ms", "--drain-timeout", "60s", &names[0], &names[1], &names[2]]);
        let mut stdin = tee.0.take_stdin();
        for p in [&a, &b, &c] {
            wait_for_fifo(p);
        }

        // a: healthy. The feeder never gets more than MARGIN bytes ahead of it, so a's backlog can
        // never exceed its queue, however the threads are scheduled: it must get every byte.
        const MARGIN: u64 = 256 * 1024;
        const CHUNK: u64 = 2048; // frames per write
        let a_count = Arc::new(AtomicU64::new(0));
        let a_reader = fifo_reader(a.clone(), a_count.clone());

        // b: reads a little, then stalls until the tee says it is dropping for it.
        let (b_resume_tx, b_resume_rx) = mpsc::channel::<()>();
        let b_stalled = Arc::new(AtomicBool::new(false));
        let b_reader = {
            let (b, stalled) = (b.clone(), b_stalled.clone());
            std::thread::spawn(move || {
                let mut f = File::open(&b).unwrap();
                let mut out = vec![0u8; 65536];
                f.read_exact(&mut out).unwrap();
                stalled.store(true, Ordering::SeqCst);
                b_resume_rx.recv().unwrap();
                f.read_to_end(&mut out).unwrap();
                out
            })
        };

        // c: a real process, killed mid-stream.
        let mut cat = Command::new("cat").arg(&c).stdout(Stdio::piped()).spawn().expect("spawn cat");
        let mut cat_out = cat.stdout.take().unwrap();

        // Every output must be attached before the first frame, or it would miss the start.
        for name in &names {
            tee.wait_log(&format!("{name}: reader attached"), 1);
        }
        let fed = Arc::new(AtomicU64::new(0)); // frames written to the tee's stdin
        let stop = Arc::new(AtomicBool::new(false));
        let feeder = {
            let (fed, stop, a_count) = (fed.clone(), stop.clone(), a_count.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let next = fed.load(Ordering::SeqCst);
                    if (next + CHUNK) * FB as u64 > a_count.load(Ordering::SeqCst) + MARGIN {
                        std::thread::sleep(Duration::from_millis(1)); // waiting on a's progress
                        continue;
                    }
                    stdin.write_all(&unique_frames(&spec(), next, CHUNK)).unwrap();
                    fed.store(next + CHUNK, Ordering::SeqCst);
                }
                // stdin dropped here: end of input.
            })
        };

        // c receives data, then its reader is killed: the tee must notice and reopen.
        let mut first = [0u8; 4096];
        cat_out.read_exact(&mut first).unwrap();
        cat.kill().unwrap();
        cat.wait().unwrap();
        tee.wait_log(&format!("{}: reader gone, reopening", names[2]), 1);
        let killed_at = fed.load(Ordering::SeqCst);

        // b's stall makes the tee drop frames for b (and for b only), which it says once.
        tee.wait_log(&format!("{}: queue full, dropping", names[1]), 1);
        assert!(b_stalled.load(Ordering::SeqCst));
        tee.signal(Signal::SIGUSR1);
        tee.wait_log(&format!("{}: attached, ", names[1]), 1);
        let (_, b_dropped_now, _) = counters(&tee.stderr(), &names[1]);
        assert!(b_dropped_now > 0, "SIGUSR1 report shows no drop for b:\n{}", tee.stderr());
        b_resume_tx.send(()).unwrap();

        // Let the stream move well past anything c's old pipe could have held, then a new
        // reader opens c: it must start at the live position.
        common::wait_until("input to move on after the kill", DEADLINE, || {
            fed.load(Ordering::SeqCst) > killed_at + 8 * MARGIN / FB as u64
        });
        let reopened_at = fed.load(Ordering::SeqCst);
        let c_count = Arc::new(AtomicU64::new(0));
        let c_reader = fifo_reader(c.clone(), c_count.clone());
        tee.wait_log(&format!("{}: reader attached", names[2]), 2);
        common::wait_until("the new reader of c to get data", DEADLINE, || {
            c_count.load(Ordering::SeqCst) >= 65536
        });

        stop.store(true, Ordering::SeqCst);
        feeder.join().unwrap();
        let total = fed.load(Ordering::SeqCst);
        let (status, stderr) = tee.finish();
        expect_exit("vinyl-tee", status, &stderr, 0);

        let a_data = a_reader.join().unwrap();
        assert!(
            a_data == unique_frames(&spec(), 0, total),
            "healthy output lost or reordered data:\n{stderr}"
        );
        assert_eq!(counters(&stderr, &names[0]), (total * FB as u64, 0, 0));

        let b_data = b_reader.join().unwrap();
        let b_nums = frame_numbers("stalled output", &b_data);
        let (b_bytes, b_dropped, _) = counters(&stderr, &names[1]);
        assert_eq!(b_bytes, b_data.len() as u64);
        assert!(b_dropped > 0);
        assert_eq!(
            b_nums.len() as u64 + b_dropped,
            total,
            "stalled output: frames delivered + dropped != fed"
        );
        assert_eq!(*b_nums.last().unwrap(), total - 1, "stalled output did not get the end of the stream");

        let c_data = c_reader.join().unwrap();
        let c_nums = frame_numbers("reconnected output", &c_data);
        let live_floor = reopened_at - MARGIN / FB as u64;
        assert!(
            c_nums[0] >= live_floor && c_nums[0] > killed_at,
            "reconnected reader started at frame {} (killed at {killed_at}, reopened at {reopened_at}): stale backlog",
            c_nums[0]
        );
        assert_eq!(*c_nums.last().unwrap(), total - 1);
        let (_, _, c_reconnects) = counters(&stderr, &names[2]);
        assert_eq!(c_reconnects, 1, "{stderr}");
        assert_eq!(stderr.matches(&format!("{}: reader gone, reopening", names[2])).count(), 1, "{stderr}");
    });
}

#[test]
fn an_output_without_reader_neither_stalls_the_others_nor_keeps_the_tee_alive() {
    common::with_deadline(DEADLINE, || {
        let dir = tempfile::tempdir().unwrap();
        let (a, n) = (dir.path().join("a.fifo"), dir.path().join("never.fifo"));
        let (an, nn) = (a.display().to_string(), n.display().to_string());
        // A queue larger than the whole input: the reader thread can be as slow as it likes.
        let mut tee = Tee::spawn(&["--queue", "30s", &an, &nn]);
        wait_for_fifo(&a);
        let reader = fifo_reader(a, Arc::new(AtomicU64::new(0)));
        tee.wait_log(&format!("{an}: reader attached"), 1);
        let data = unique_frames(&spec(), 0, 500_000);
        let feeder = feed_all(tee.0.take_stdin(), data.clone());
        feeder.join().unwrap();
        let (status, stderr) = tee.finish();
        expect_exit("vinyl-tee", status, &stderr, 0);
        assert!(reader.join().unwrap() == data, "reader output differs from input");
        assert!(stderr.contains(&format!("{nn}: no reader yet")), "{stderr}");
        assert_eq!(counters(&stderr, &nn), (0, 0, 0));
    });
}

#[test]
fn a_reader_that_never_reads_costs_at_most_the_drain_timeout_at_the_end() {
    common::with_deadline(DEADLINE, || {
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path().join("stuck.fifo");
        let sn = s.display().to_string();
        let mut tee = Tee::spawn(&["--drain-timeout", "300ms", &sn]);
        wait_for_fifo(&s);
        // A reader that opens the FIFO and never reads from it while the tee runs.
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let stuck = std::thread::spawn(move || {
            let f = File::open(&s).unwrap();
            done_rx.recv().unwrap();
            drop(f);
        });
        tee.wait_log(&format!("{sn}: reader attached"), 1);
        // Far more than the pipe (1 MiB at most) and the queue (2 s = 576000 bytes) can hold.
        let feeder = feed_all(tee.0.take_stdin(), unique_frames(&spec(), 0, 1_000_000));
        feeder.join().unwrap();
        let (status, stderr) = tee.finish();
        done_tx.send(()).unwrap();
        stuck.join().unwrap();
        expect_exit("vinyl-tee --drain-timeout 300ms", status, &stderr, 0);
        assert!(stderr.contains(&format!("{sn}: queue full, dropping")), "{stderr}");
        assert!(stderr.contains(&format!("{sn}: drain timed out")), "{stderr}");
        let (delivered, dropped, _) = counters(&stderr, &sn);
        assert!(dropped > 0, "{stderr}");
        assert!(delivered < 1_000_000 * FB as u64, "{stderr}");
    });
}

#[test]
fn exits_0_at_end_of_input_when_no_output_ever_had_a_reader() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.fifo");
    let out = common::run(
        tee_cmd()
            .arg(&x)
            .arg(dir.path().join("y.fifo"))
            .stdin(common::stdin_file(dir.path(), &unique_frames(&spec(), 0, 100_000))),
        DEADLINE,
    );
    common::assert_success("vinyl-tee x.fifo y.fifo < in.raw", &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stdin: 600000 bytes read"), "{stderr}");
}

#[test]
fn input_ending_mid_frame_is_reported_and_not_passed_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.raw");
    File::create(&file).unwrap();
    let mut data = unique_frames(&spec(), 0, 1000);
    data.extend_from_slice(&[1, 2, 3]);
    let out = common::run(tee_cmd().arg(&file).stdin(common::stdin_file(dir.path(), &data)), DEADLINE);
    common::assert_success("vinyl-tee out.raw < in.raw", &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("mid-frame")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("3 bytes"), "{stderr}");
    assert_eq!(std::fs::read(&file).unwrap(), data[..6000]);
}

#[test]
fn a_regular_file_is_appended_to_in_whole_frames_of_the_given_format() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("archive.raw");
    std::fs::write(&file, b"existing").unwrap();
    let spec24 = PcmSpec { format: SampleFormat::S24_3Le, channels: 6, rate: 96_000 };
    let data = unique_frames(&spec24, 0, 200_000);
    let mut cmd = Command::new(BIN);
    cmd.args(["--format", "s24_3le", "--channels", "6", "--rate", "96000"]).arg(&file);
    let out = common::run(cmd.stdin(common::stdin_file(dir.path(), &data)), DEADLINE);
    common::assert_success("vinyl-tee --format s24_3le … archive.raw", &out);
    let got = std::fs::read(&file).unwrap();
    assert_eq!(&got[..8], b"existing");
    assert!(got[8..] == data[..], "appended data differs from input");
}

#[test]
fn dev_full_under_warn_is_reported_and_the_other_outputs_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.raw");
    File::create(&file).unwrap();
    let data = unique_frames(&spec(), 0, 300_000);
    let mut cmd = tee_cmd();
    cmd.arg("/dev/full").arg(&file).stdin(common::stdin_file(dir.path(), &data));
    let out = common::run(&mut cmd, DEADLINE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    common::assert_status("vinyl-tee /dev/full out.raw", &out, 1);
    assert_eq!(
        stderr.matches("vinyl-tee: /dev/full: write: No space left on device").count(),
        1,
        "the error must be reported once:\n{stderr}"
    );
    assert!(std::fs::read(&file).unwrap() == data, "the other output lost data:\n{stderr}");
    assert!(stderr.contains("/dev/full: failed, 0 bytes delivered"), "{stderr}");
}

#[test]
fn dev_full_under_exit_stops_the_tee_with_status_1() {
    common::with_deadline(DEADLINE, || {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("a.fifo");
        // Endless input: only the error policy can end this run.
        let tee = Tee::spawn(&["--output-error", "exit", &fifo.display().to_string(), "/dev/full"]);
        let (status, stderr) = feed_until_exit(tee);
        expect_exit("vinyl-tee --output-error exit", status, &stderr, 1);
        assert!(stderr.contains("vinyl-tee: /dev/full: write: No space left on device\n"), "{stderr}");
    });
}

#[test]
fn stdout_whose_reader_left_is_closed_and_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.raw");
    File::create(&file).unwrap();
    let data = unique_frames(&spec(), 0, 300_000);
    let mut child = tee_cmd()
        .arg("--stdout")
        .arg(&file)
        .stdin(common::stdin_file(dir.path(), &data))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader of stdout is gone before anything is written
    let out = common::wait_output(child, DEADLINE, "vinyl-tee --stdout out.raw");
    common::assert_success("vinyl-tee --stdout out.raw", &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stdout: reader gone"), "{stderr}");
    assert!(std::fs::read(&file).unwrap() == data, "the file output lost data:\n{stderr}");
}

#[test]
fn stdout_alone_whose_reader_left_ends_the_tee_quietly() {
    common::with_deadline(DEADLINE, || {
        let mut tee = Tee::spawn_with(&["--stdout"], Stdio::piped(), |_| {});
        drop(tee.0.child.stdout.take());
        let (status, stderr) = feed_until_exit(tee);
        expect_exit("vinyl-tee --stdout", status, &stderr, 0);
        assert!(stderr.contains("no output left"), "{stderr}");
    });
}

#[test]
fn stdout_carries_every_frame_to_a_reader_that_keeps_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = unique_frames(&spec(), 0, 200_000);
    // A queue larger than the input: however slow the test's reading, nothing may be dropped.
    let out = common::run(
        tee_cmd().args(["--stdout", "--queue", "30s"]).stdin(common::stdin_file(dir.path(), &data)),
        DEADLINE,
    );
    common::assert_success("vinyl-tee --stdout", &out);
    assert!(out.stdout == data, "stdout differs from input");
}

#[test]
fn fifos_are_created_with_the_mode_and_signals_report_and_stop() {
    common::with_deadline(DEADLINE, || {
        let dir = tempfile::tempdir().unwrap();
        let (x, y) = (dir.path().join("x.fifo"), dir.path().join("y.fifo"));
        let tee = Tee::spawn(&[&x.display().to_string()]);
        tee.wait_log("x.fifo: no reader yet", 1);
        assert_eq!(std::fs::metadata(&x).unwrap().permissions().mode() & 0o7777, 0o600);
        tee.signal(Signal::SIGUSR1);
        tee.wait_log("x.fifo: waiting for a reader, 0 bytes delivered, 0 frames dropped, 0 reconnects", 1);
        tee.signal(Signal::SIGTERM);
        // stdin stays open: only the signal can end this run.
        tee.wait_log("SIGTERM: stopping", 1);
        let (status, stderr) = tee.finish();
        expect_exit("vinyl-tee x.fifo (SIGTERM)", status, &stderr, 0);

        let tee = Tee::spawn(&["--mode", "0640", &y.display().to_string()]);
        tee.wait_log("y.fifo: no reader yet", 1);
        assert_eq!(std::fs::metadata(&y).unwrap().permissions().mode() & 0o7777, 0o640);
        tee.signal(Signal::SIGINT);
        tee.wait_log("SIGINT: stopping", 1);
        let (status, stderr) = tee.finish();
        expect_exit("vinyl-tee --mode 0640 y.fifo (SIGINT)", status, &stderr, 0);
    });
}

#[test]
fn tells_systemd_it_is_ready_alive_and_how_it_does() {
    common::with_deadline(DEADLINE, || {
        let dir = tempfile::tempdir().unwrap();
        let notify = common::Notify::bind();
        let x = dir.path().join("x.fifo");
        let tee = Tee::spawn_with(&[&x.display().to_string()], Stdio::null(), |cmd| {
            cmd.env("NOTIFY_SOCKET", &notify.path).env("WATCHDOG_USEC", "200000");
        });
        let seen = notify.wait_for("READY, a STATUS and WATCHDOG", DEADLINE, |s| {
            s.iter().any(|m| m == "READY=1")
                && s.iter().any(|m| m.starts_with("STATUS="))
                && s.iter().any(|m| m == "WATCHDOG=1")
        });
        let status = seen.iter().find(|m| m.starts_with("STATUS=")).unwrap();
        assert!(status.contains("outputs attached"), "{status}");
        let (status, stderr) = tee.finish();
        expect_exit("vinyl-tee under NOTIFY_SOCKET", status, &stderr, 0);
    });
}

#[test]
fn bad_usage_exits_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let sock = dir.path().join("s.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let sock = sock.display().to_string();
    let f = dir.path().join("f.fifo").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--queue", "abc", &f], "--queue"),
        (vec![], "OUTPUT"),
        (vec![&d], "is a directory"),
        (vec![&sock], "is a socket"),
        (vec!["--mode", "1000", &f], "--mode"),
        (vec!["--output-error", "ignore", &f], "--output-error"),
        (vec!["--drain-timeout", "5", &f], "--drain-timeout"),
        (vec!["--rate", "100", &f], "--rate"),
        (vec![&f, &f], "named twice"),
        (vec!["--queue", "2h", &f], "1 GiB"),
    ];
    for (args, needle) in cases {
        let out = common::run(Command::new(BIN).args(&args).stdin(Stdio::null()), DEADLINE);
        let what = format!("vinyl-tee {}", args.join(" "));
        common::assert_status(&what, &out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{what}: stderr does not mention '{needle}':\n{stderr}");
        if needle.starts_with("is a") {
            assert!(stderr.contains(args[0]), "{what}: stderr does not name the path:\n{stderr}");
        }
    }
    assert!(!Path::new(&f).exists(), "a FIFO was created although the command line was refused");
}

#[test]
fn an_output_that_is_a_symlink_is_refused_and_its_target_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.raw");
    std::fs::write(&target, b"").unwrap();
    let fifo = dir.path().join("target.fifo");
    common::mkfifo(&fifo);
    let nowhere = dir.path().join("nowhere");
    let input = dir.path().join("in.raw");
    std::fs::write(&input, unique_frames(&spec(), 0, 4800)).unwrap();
    for (link, to) in [("file.link", &target), ("fifo.link", &fifo), ("dangling.link", &nowhere)] {
        let link = dir.path().join(link);
        std::os::unix::fs::symlink(to, &link).unwrap();
        let mut cmd = tee_cmd();
        cmd.arg(&link).stdin(File::open(&input).unwrap());
        let what = common::describe(&cmd);
        let out = common::run(&mut cmd, DEADLINE);
        common::assert_status(&what, &out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{}: is a symbolic link", link.display())),
            "{what}: the refusal does not name the link:\n{stderr}"
        );
    }
    assert_eq!(std::fs::metadata(&target).unwrap().len(), 0, "PCM was written through the symlink");
    assert!(!nowhere.exists(), "a FIFO was created through a dangling symlink");
}

#[test]
fn a_missing_path_under_dev_is_refused_not_created() {
    // A mistyped device name: it must not become a FIFO in /dev.
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let path = Cleanup(PathBuf::from(format!("/dev/vinyl-test-no-such-device-{}", std::process::id())));
    let out = common::run(tee_cmd().arg(&path.0).stdin(Stdio::null()), DEADLINE);
    let what = format!("vinyl-tee {}", path.0.display());
    let created = path.0.symlink_metadata().is_ok();
    common::assert_status(&what, &out, 2);
    assert!(!created, "{what}: created {}", path.0.display());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: does not exist", path.0.display())) && stderr.contains("under /dev"),
        "{what}: the refusal does not say why:\n{stderr}"
    );
}

#[test]
fn frames_read_while_a_fifo_has_no_reader_are_counted() {
    common::with_deadline(DEADLINE, || {
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("x.fifo");
        let mut tee = Tee::spawn(&[&x.display().to_string()]);
        tee.wait_log("x.fifo: no reader yet", 1);
        tee.0.stdin_mut().write_all(&unique_frames(&spec(), 0, 4800)).unwrap();
        // The SIGUSR1 line counts them once the tee has read them.
        let want = "4800 frames discarded (no reader)";
        let start = Instant::now();
        while !tee.stderr().contains(want) {
            let late = start.elapsed() > DEADLINE / 3;
            assert!(!late, "no '{want}' in the SIGUSR1 lines:\n{}", tee.stderr());
            tee.signal(Signal::SIGUSR1);
            std::thread::sleep(Duration::from_millis(100));
        }
        // A reader that attaches gets the frames that follow; they are delivered, not counted.
        let count = Arc::new(AtomicU64::new(0));
        let reader = fifo_reader(x.clone(), count.clone());
        tee.wait_log("x.fifo: reader attached", 1);
        tee.0.stdin_mut().write_all(&unique_frames(&spec(), 4800, 2400)).unwrap();
        let (status, stderr) = tee.finish();
        expect_exit("vinyl-tee x.fifo", status, &stderr, 0);
        let got = reader.join().unwrap();
        assert_eq!(frame_numbers("x.fifo", &got), (4800..7200).collect::<Vec<u64>>());
        let last = stderr.lines().rev().find(|l| l.contains("x.fifo: attached")).unwrap_or_default();
        assert!(last.contains(want), "the exit line does not count the frames without a reader:\n{stderr}");
    });
}
