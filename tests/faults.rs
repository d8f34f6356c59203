//! The fault matrix of the one timeline (issue 10), end to end: the whole topology under
//! `vinyl-up` (`VINYL_REALTIME=yes`, frame-numbered input, a real icecast2), each component
//! stopped with SIGSTOP for 10 s during a recording, then killed and restarted the way systemd
//! would, one after the other on the same running topology.
//!
//! After every fault: the recording decodes so that each frame carries its own timeline number or
//! is silence inside a range its `VINYL_GAPS` tag lists; every gap is in the ring's journal, the
//! capture's log and the recording's log; a stalled or restarted stream costs the recording
//! nothing; only the capture's own faults make a gap; and a new listener decodes live audio
//! from icecast2 again. The STOP durations are the only fixed sleeps: they are the fault.

mod common;

use common::up::{
    MOUNT, Saved, Up, children, cmdline, gone, head, journal, read_lossy, signal_pid as signal,
    wait_head_moves,
};
use common::{DEADLINE, assert_success, assert_timeline_across_restarts, describe, run, wait_until};
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const RATE: u64 = 48_000;
const FLAC_REC: &str = env!("CARGO_BIN_EXE_vinyl-flac-rec");
/// How long a component is stopped: far beyond the capture's 341 ms buffer, well within the
/// 30 s ring, and as long as icecast2's source timeout.
const STOP: Duration = Duration::from_secs(10);
/// The capture's ALSA buffer (frames): the most a SIGSTOP-ed capture can deliver late instead of
/// losing.
const BUFFER: u64 = 96_000; // VINYL_CAPTURE_BUFFER of the test rig (tests/common/up.rs)
/// How long a killed capture stays down before it is started again (`RestartSec=` of
/// vinyl-capture.service).
const RESTART_SEC: Duration = Duration::from_secs(2);
/// Bytes a listener reads: icecast2's 64 KiB burst, then 3 s at 128 kbit/s that must arrive live.
const LISTEN_BYTES: usize = 64 * 1024 + 48 * 1024;

/// One component of the topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// `vinyl-capture --realtime --ring` (`RUN/capture.pid`).
    Capture,
    /// `vinyl-preroll tap --live > RUN/stream.fifo` (`RUN/stream-tap.pid`).
    StreamTap,
    /// `vinyl-mp3-icecast <> RUN/stream.fifo` (`RUN/mp3-icecast.pid`).
    Encoder,
    /// The recording's `vinyl-preroll tap --from-frame` (`RUN/rec/tap.pid`).
    RecTap,
    /// The recording's `vinyl-flac-rec`: the runner's other child.
    Recorder,
}

impl Part {
    /// vinyl-up's name of the component (its PID and log files).
    fn component(self) -> &'static str {
        match self {
            Part::Capture => "capture",
            Part::StreamTap => "stream-tap",
            Part::Encoder => "mp3-icecast",
            Part::RecTap => "rec-tap",
            Part::Recorder => "recorder",
        }
    }

    /// Its PID now.
    fn pid(self, up: &Up) -> i32 {
        match self {
            Part::Capture | Part::StreamTap | Part::Encoder => up.pid(self.component()),
            Part::RecTap => state_pid(up, "tap.pid"),
            Part::Recorder => {
                let runner = state_pid(up, "runner.pid");
                children(runner)
                    .into_iter()
                    .find(|&c| cmdline(c).first().is_some_and(|p| p.ends_with("vinyl-flac-rec")))
                    .unwrap_or_else(|| panic!("no vinyl-flac-rec among the children of the runner {runner}"))
            }
        }
    }
}

/// A number in the running recording's state folder (`RUN/rec/NAME`).
fn state_number<T: std::str::FromStr>(up: &Up, name: &str) -> T {
    let p = up.run.join("rec").join(name);
    read_lossy(&p).trim().parse().unwrap_or_else(|_| panic!("{}: not a number", p.display()))
}

fn state_pid(up: &Up, name: &str) -> i32 {
    state_number(up, name)
}

/// A recording started with `vinyl-rec start --preroll 1s`.
struct Recording {
    path: PathBuf,
    start: u64,
}

impl Recording {
    /// Starts one named `name` and waits until audio has gone into its file.
    fn start(up: &Up, name: &str) -> Recording {
        let out = up.sh(&["vinyl-rec", "start", "--preroll", "1s", "--name", name]);
        assert_success("vinyl-rec start --preroll 1s", &out);
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let start = state_number(up, "start_frame");
        let part = vinyl::flacrec::part_path(&path);
        wait_until(&format!("{}: audio in the recording", part.display()), DEADLINE, || {
            std::fs::metadata(&part).is_ok_and(|m| m.len() > 20_000)
        });
        Recording { path, start }
    }

    /// `vinyl-rec stop`; returns what it printed.
    fn stop(&self, up: &Up) -> String {
        let said = up.sh_ok(&["vinyl-rec", "stop"]);
        assert!(said.starts_with(self.path.to_str().unwrap()), "vinyl-rec stop printed:\n{said}");
        said
    }
}

/// The running topology and what the faults so far did to its timeline.
struct Matrix {
    up: Up,
    /// Timeline frames at which a restarted capture began its input again at frame 0.
    restarts: Vec<u64>,
}

impl Matrix {
    /// Runs one fault; when it fails, prints the logs of every component before failing.
    fn fault(&mut self, what: &str, f: impl FnOnce(&mut Matrix)) {
        let t = Instant::now();
        eprintln!("--- {what}");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        if let Err(e) = r {
            eprintln!("=== {what} failed after {:.1?}; the logs:", t.elapsed());
            self.dump_logs();
            std::panic::resume_unwind(e);
        }
        eprintln!("    {what}: ok in {:.1?}", t.elapsed());
    }

    fn dump_logs(&self) {
        let up = &self.up;
        for name in ["capture.log", "stream-tap.log", "mp3-icecast.log", "rec/log", "last-rec.log"] {
            let text = read_lossy(&up.run_file(name));
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            eprintln!("--- {} (last {} lines)", name, tail.len());
            for l in tail.iter().rev() {
                eprintln!("    {l}");
            }
        }
        let status = up.sh(&["vinyl-up", "--status"]);
        eprintln!("--- vinyl-up --status ({})\n{}", status.status, String::from_utf8_lossy(&status.stdout));
        let ice = up.ice.logs();
        let tail: Vec<&str> = ice.lines().filter(|l| !l.contains("status-json.xsl")).collect();
        eprintln!("--- icecast2 (last lines)\n{}", tail[tail.len().saturating_sub(30)..].join("\n"));
    }

    /// The three long-running components are up (a fault never leaves one dead).
    fn assert_topology_runs(&self) {
        for c in ["capture", "stream-tap", "mp3-icecast"] {
            let pid = self.up.pid(c);
            assert!(!gone(pid), "{c} (pid {pid}) is not running; its log:\n{}", self.up.log(c));
        }
    }

    /// A new listener gets icecast2's burst and then 3 s of stream that arrive live, and mpg123
    /// decodes them to sound (not silence). Retries while the encoder reconnects.
    fn assert_stream_flows(&self, why: &str) {
        let up = &self.up;
        let mp3 = up.dir.path().join("listen.mp3");
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < Duration::from_secs(120) {
            if up.ice.mount(MOUNT).is_none() {
                last = format!("no source on {MOUNT}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            match up.ice.try_listen(MOUNT, LISTEN_BYTES, Duration::from_secs(30)) {
                Ok(body) if body.len() == LISTEN_BYTES => {
                    std::fs::write(&mp3, body).unwrap();
                    let mut t = Command::new("mpg123");
                    t.args(["-q", "-t"]).arg(&mp3);
                    let out = run(&mut t, DEADLINE);
                    assert_success(&format!("{why}: {}", describe(&t)), &out);
                    let mut d = Command::new("mpg123");
                    d.args(["-q", "-s"]).arg(&mp3);
                    let out = run(&mut d, DEADLINE);
                    assert_success(&describe(&d), &out);
                    let peak = out
                        .stdout
                        .chunks_exact(2)
                        .map(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs())
                        .max();
                    assert!(peak.unwrap_or(0) > 1000, "{why}: the stream decodes to silence (peak {peak:?})");
                    return;
                }
                Ok(body) => last = format!("only {} of {LISTEN_BYTES} bytes within 30 s", body.len()),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{why}: no listener decoded live audio within 120 s; last attempt: {last}");
    }

    /// Checks a finished recording: one timeline; each of its gaps in the ring's journal, the
    /// capture's log, the recording's log (`RUN/last-rec.log`) and what `vinyl-rec stop` said.
    /// Returns the gaps as timeline (first, frames, cause) and the frames in the file.
    fn check_recording(&self, rec: &Recording, stop_said: &str) -> (Vec<(u64, u64, String)>, u64) {
        let up = &self.up;
        let (gaps, frames) = assert_timeline_across_restarts(&rec.path, rec.start, &self.restarts);
        let tagged: u64 = common::flac_tag(&rec.path, "VINYL_START_FRAME").parse().unwrap();
        assert_eq!(tagged, rec.start, "{}: VINYL_START_FRAME", rec.path.display());
        let journal = journal(up);
        let capture_log = up.log("capture");
        let rec_log = read_lossy(&up.run_file("last-rec.log"));
        let mut timeline = Vec::new();
        for (offset, n, cause) in gaps {
            let first = rec.start + offset;
            assert!(
                journal.iter().any(|(f, m, c, _)| (*f, *m, c.as_str()) == (first, n, cause.as_str())),
                "{}: gap {cause} at timeline {first} ({n} frames) is not in the ring's journal: {journal:?}",
                rec.path.display()
            );
            let logged = format!("{cause} at frame {first} (");
            assert!(
                capture_log.lines().any(|l| l.contains(&logged) && l.contains(&format!(" {n} frames"))),
                "gap {logged}{n} frames) not in the capture's log:\n{capture_log}"
            );
            assert!(
                rec_log.contains(&format!("gap in the tapped frames: {logged}")),
                "gap {logged}…) not in the recording's log:\n{rec_log}"
            );
            assert!(
                stop_said.contains(&format!("(frame {offset} of the file): "))
                    && stop_said.contains(&format!("({n} frames)")),
                "vinyl-rec stop did not print the gap at {offset} ({n} frames):\n{stop_said}"
            );
            timeline.push((first, n, cause));
        }
        eprintln!(
            "    {}: timeline {}..{} ({frames} frames), gaps {timeline:?}",
            rec.path.file_name().unwrap().to_string_lossy(),
            rec.start,
            rec.start + frames
        );
        (timeline, frames)
    }

    /// Journal entries that are newer than the `before` snapshot.
    fn new_gaps(&self, before: &[(u64, u64, String, bool)]) -> Vec<(u64, u64, String, bool)> {
        journal(&self.up).into_iter().filter(|g| !before.contains(g)).collect()
    }

    /// SIGSTOP `part` for 10 s during a recording, then SIGCONT.
    fn sigstop(&mut self, part: Part) {
        self.assert_topology_runs();
        let up = &self.up;
        let rec = Recording::start(up, &format!("stop-{}", part.component()));
        let before = journal(up);
        let capture_log_at = up.log("capture").len();
        let pid = part.pid(up);
        let head_before = head(up);
        signal(pid, Signal::SIGSTOP);
        let stopped = Instant::now();
        // A stalled recording path must not stall the stream: a listener decodes it meanwhile.
        let during = std::thread::scope(|s| {
            let listener = matches!(part, Part::RecTap | Part::Recorder).then(|| {
                s.spawn(|| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.assert_stream_flows(&format!("while the {} is stopped", part.component()))
                    }))
                })
            });
            std::thread::sleep(STOP.saturating_sub(stopped.elapsed()));
            signal(pid, Signal::SIGCONT);
            listener.map(|l| l.join().unwrap())
        });
        if let Some(Err(e)) = during {
            std::panic::resume_unwind(e);
        }
        if part == Part::Capture {
            wait_until("the capture logs its overrun", DEADLINE, || {
                up.log("capture")[capture_log_at..].contains("overrun at frame")
            });
        }
        wait_head_moves(up, 2 * RATE);
        let said = rec.stop(up);
        let (gaps, frames) = self.check_recording(&rec, &said);
        assert!(
            rec.start + frames >= head_before + 2 * RATE + STOP.as_secs() * RATE - BUFFER,
            "{}: ends at timeline {}, before the stop ({head_before}) + 12 s",
            rec.path.display(),
            rec.start + frames
        );
        let new = self.new_gaps(&before);
        if part == Part::Capture {
            // Its own stop, and only that: one exact overrun of the stopped time.
            assert_eq!(new.len(), 1, "the capture's stop made these gaps: {new:?}");
            let (first, n, cause, exact) = new[0].clone();
            assert_eq!((cause.as_str(), exact), ("overrun", true), "{new:?}");
            assert!(
                (STOP.as_secs() * RATE - BUFFER..STOP.as_secs() * RATE + 20 * RATE).contains(&n),
                "{n} frames lost for a {STOP:?} stop"
            );
            assert_eq!(gaps, [(first, n, cause)], "the recording's gaps");
        } else {
            assert!(
                gaps.is_empty() && new.is_empty(),
                "stopping the {} made gaps: in the recording {gaps:?}, in the journal {new:?} \
                 (an overrun here is the capture starved of CPU, not the fault)",
                part.component()
            );
        }
        self.assert_topology_runs();
        self.assert_stream_flows(&format!("after the {} was stopped", part.component()));
    }

    /// Ends a component of vinyl-up with `sig` during a recording (SIGKILL as a crash, SIGTERM as
    /// `systemctl restart`) and starts the same command again as a supervisor would (the
    /// encoder's death also ends the stream tap, whose write fails: that is restarted as well).
    fn kill_and_restart(&mut self, part: Part, sig: Signal) {
        self.assert_topology_runs();
        let rec = Recording::start(&self.up, &format!("{}-{}", sig.as_str(), part.component()));
        let before = journal(&self.up);
        let capture_log_at = self.up.log("capture").len();
        let pid = part.pid(&self.up);
        let saved = Saved::of(&self.up, part.component());
        let tap = (part == Part::Encoder).then(|| Saved::of(&self.up, "stream-tap"));
        let killed = Instant::now();
        signal(pid, sig);
        wait_until(&format!("{} (pid {pid}) ends after {sig}", part.component()), DEADLINE, || gone(pid));
        let stopped_at = head(&self.up);
        if let Some(tap) = &tap {
            wait_until("the stream tap ends when its encoder is gone", DEADLINE, || gone(tap.pid));
        }
        if part == Part::Capture {
            // Part of the fault, like the STOP: a capture is down for a while before systemd
            // restarts it, and the downtime must come back as a gap of its length.
            std::thread::sleep(RESTART_SEC);
        }
        let restarted = Instant::now();
        saved.restart(&self.up);
        if let Some(tap) = &tap {
            tap.restart(&self.up);
        }
        let up = &self.up;
        if part == Part::Capture {
            wait_until("the restarted capture continues the timeline", DEADLINE, || {
                up.log("capture")[capture_log_at..]
                    .contains("the ring's timeline continues after its writer's downtime")
            });
        }
        let continued = Instant::now();
        wait_head_moves(up, 2 * RATE);
        let said = rec.stop(up);
        let new = self.new_gaps(&before);
        if part == Part::Capture {
            assert_eq!(new.len(), 1, "the capture's restart made these gaps: {new:?}");
            let (first, n, cause, exact) = new[0].clone();
            assert_eq!((first, cause.as_str(), exact), (stopped_at, "writer-restart", false), "{new:?}");
            // Estimated from the clock: at least the time it was down for sure (killed to
            // restarted), at most the time until the new capture said so, and a period more.
            let frames = |d: Duration| (d.as_secs_f64() * RATE as f64) as u64;
            let (least, most) = (frames(restarted - killed), frames(continued - killed) + RATE / 2);
            assert!(
                (least.saturating_sub(RATE / 100)..=most).contains(&n),
                "a downtime of {n} frames, expected {least}..={most}"
            );
            // From here the restarted capture's input starts again at its frame 0.
            self.restarts.push(first + n);
        }
        let (gaps, frames) = self.check_recording(&rec, &said);
        assert!(
            rec.start + frames >= stopped_at + 2 * RATE,
            "{}: ends before the restart",
            rec.path.display()
        );
        if part == Part::Capture {
            let (first, n, cause, _) = new[0].clone();
            assert_eq!(gaps, [(first, n, cause)], "the recording's gaps");
        } else {
            assert!(
                gaps.is_empty() && new.is_empty(),
                "restarting the {} made gaps: in the recording {gaps:?}, in the journal {new:?}",
                part.component()
            );
        }
        self.assert_topology_runs();
        self.assert_stream_flows(&format!("after the {} was restarted", part.component()));
    }

    /// SIGKILL the recording's tap or recorder: that recording ends (finalised by the recorder, or
    /// a `.part` that `vinyl-flac-rec --recover` repairs) and is one timeline as far as it goes;
    /// the next recording is whole.
    fn kill_recording(&mut self, part: Part) {
        self.assert_topology_runs();
        let up = &self.up;
        let rec = Recording::start(up, &format!("kill-{}", part.component()));
        let before = journal(up);
        let runner = state_pid(up, "runner.pid");
        let pid = part.pid(up);
        signal(pid, Signal::SIGKILL);
        wait_until("the recording's runner ends", DEADLINE, || gone(runner));
        let statuses =
            (read_lossy(&up.run_file("rec/tap.status")), read_lossy(&up.run_file("rec/flac.status")));
        let status = up.sh_ok(&["vinyl-rec", "status"]);
        assert!(status.contains("ended on its own"), "vinyl-rec status:\n{status}");
        let part_file = vinyl::flacrec::part_path(&rec.path);
        let next_name = format!("after-kill-{}", part.component());
        let next_out = up.sh(&["vinyl-rec", "start", "--preroll", "1s", "--name", &next_name]);
        assert_success("vinyl-rec start after the kill", &next_out);
        let next_err = String::from_utf8_lossy(&next_out.stderr);
        assert!(next_err.contains("ended on its own"), "vinyl-rec start did not report the end:\n{next_err}");
        match part {
            Part::RecTap => {
                // The recorder saw the end of its input and finished the file.
                assert_eq!((statuses.0.trim(), statuses.1.trim()), ("137", "0"), "tap and recorder statuses");
                assert!(rec.path.is_file() && !part_file.exists(), "{}: not finalised", rec.path.display());
            }
            _ => {
                assert_eq!(statuses.1.trim(), "137", "recorder status");
                assert!(next_err.contains("--recover"), "no repair hint:\n{next_err}");
                assert!(part_file.is_file() && !rec.path.exists(), "{}: no .part left", part_file.display());
                let mut cmd = Command::new(FLAC_REC);
                cmd.arg("--recover").arg(&part_file);
                let out = run(&mut cmd, DEADLINE);
                assert_success(&describe(&cmd), &out);
            }
        }
        let (gaps, frames) = assert_timeline_across_restarts(&rec.path, rec.start, &self.restarts);
        assert!(gaps.is_empty(), "{}: gaps {gaps:?}", rec.path.display());
        assert!(frames >= RATE, "{}: only {frames} frames", rec.path.display());
        eprintln!(
            "    {} (killed): timeline {}..{} ({frames} frames)",
            rec.path.file_name().unwrap().to_string_lossy(),
            rec.start,
            rec.start + frames
        );
        assert!(self.new_gaps(&before).is_empty(), "gaps in the journal: {:?}", self.new_gaps(&before));

        // The next recording (already started above) is whole.
        let next = Recording {
            path: PathBuf::from(String::from_utf8_lossy(&next_out.stdout).trim()),
            start: state_number(up, "start_frame"),
        };
        wait_head_moves(up, 2 * RATE);
        let said = next.stop(up);
        let (gaps, frames) = self.check_recording(&next, &said);
        assert!(
            gaps.is_empty() && frames >= 2 * RATE,
            "{}: {frames} frames, gaps {gaps:?}",
            next.path.display()
        );
        self.assert_topology_runs();
        self.assert_stream_flows(&format!("after the {} was killed", part.component()));
    }
}

/// Every component of the topology stopped for 10 s, then killed and restarted, one after the
/// other on one running `vinyl-up`; the recordings stay one timeline, only the capture's own
/// faults make gaps (marked, journaled, logged), and the stream comes back after each fault.
#[test]
fn every_component_stopped_or_restarted_keeps_one_timeline_and_the_stream_comes_back() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    for tool in ["icecast2", "flac", "metaflac", "mpg123"] {
        assert!(common::have(tool), "{tool} is not installed (scripts/test installs it)");
    }
    let t = Instant::now();
    let up = Up::start("faults", 600);
    let said = up.sh_ok(&["vinyl-up"]);
    assert!(said.contains("vinyl is up"), "vinyl-up said:\n{said}");
    up.ice.wait_for_mount(MOUNT, DEADLINE);
    let mut m = Matrix { up, restarts: Vec::new() };
    m.fault("the stream before any fault", |m| m.assert_stream_flows("before any fault"));
    for part in [Part::Capture, Part::StreamTap, Part::Encoder, Part::RecTap, Part::Recorder] {
        m.fault(&format!("SIGSTOP {}", part.component()), |m| m.sigstop(part));
    }
    for (part, sig) in [
        (Part::StreamTap, Signal::SIGKILL),
        (Part::Encoder, Signal::SIGKILL),
        (Part::Capture, Signal::SIGKILL),
        (Part::Capture, Signal::SIGTERM),
    ] {
        m.fault(&format!("{sig} and restart {}", part.component()), |m| m.kill_and_restart(part, sig));
    }
    for part in [Part::RecTap, Part::Recorder] {
        m.fault(&format!("SIGKILL {}", part.component()), |m| m.kill_recording(part));
    }
    eprintln!("the fault matrix took {:.1?}", t.elapsed());
}
