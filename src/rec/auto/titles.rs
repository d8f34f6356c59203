//! Stream titles and the event hook of `vinyl-rec auto`, off the audio path.
//!
//! Owns the title template ([`template`], pure), the write of a title to the encoder's metadata
//! FIFO ([`send`]: opened non-blocking, so a FIFO without a reader, or no FIFO at all, is not an
//! error and never waits), the title now (auto's or the hook's, whichever came last), written
//! again every [`REPEAT`] because a FIFO keeps nothing for a reader that was not there (an
//! encoder started or restarted after the title was set would have none until the next track;
//! vinyl-mp3-icecast sends a repeated line to the server only once), and the hook
//! (`VINYL_ON_EVENT`): a program run once per event, in a thread of its own with the events
//! queued in order, given the event's JSON line on stdin; the first line it prints, when not
//! empty, becomes the title. It runs in its own process group and is killed (the whole group)
//! after the timeout. How it fails: never to the caller. A hook that cannot start, fails, hangs
//! or prints nothing, and a FIFO that cannot be written, are logged once per kind of failure,
//! and the recording and the stream go on.

use super::super::TOOL;
use crate::log::StateLog;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Events queued for the hook; beyond that (a hook slower than the events) they are dropped,
/// counted in the log.
const QUEUE: usize = 64;

/// How often the title now is written again: an encoder that starts after it was set gets it
/// within this.
pub const REPEAT: Duration = Duration::from_secs(5);

/// The template with `{side}` and `{track}` replaced.
pub fn template(t: &str, side: u32, track: u32) -> String {
    t.replace("{side}", &side.to_string()).replace("{track}", &track.to_string())
}

/// The stream title of a track: `Artist – Title` once the side was recognised and the track has a
/// learned title, else the template's.
pub fn stream_title(
    template: &str,
    side: u32,
    track: u32,
    artist: Option<&str>,
    title: Option<&str>,
) -> String {
    match (artist, title) {
        (Some(artist), Some(title)) => format!("{artist} – {title}"),
        _ => self::template(template, side, track),
    }
}

/// Writes `title` as one line to the FIFO at `fifo` without waiting: `Ok(false)` when nothing
/// reads it (no FIFO, or no encoder holding it open).
pub fn send(fifo: &Path, title: &str) -> std::io::Result<bool> {
    let clean: String = title.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let file =
        std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(fifo);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENXIO) => {
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    if !file.metadata()?.file_type().is_fifo() {
        return Err(std::io::Error::other("not a FIFO"));
    }
    file.write_all(format!("{clean}\n").as_bytes())?;
    Ok(true)
}

/// The title now and when it was last written to the FIFO.
#[derive(Debug)]
struct Now {
    title: Option<String>,
    written: Instant,
}

/// Writes `title` to `fifo` and makes it the title now; the lock is held across both, so the
/// FIFO's last line and the title now are the same whichever thread set it.
fn set_now(now: &Mutex<Now>, log: &mut StateLog, fifos: &[PathBuf], title: &str) {
    let mut now = now.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    log_send(log, fifos, title);
    *now = Now { title: Some(title.to_string()), written: Instant::now() };
}

/// Where titles go, with the log of their failures.
pub struct Titles {
    fifos: Vec<PathBuf>,
    log: StateLog,
    now: Arc<Mutex<Now>>,
    hook: Option<SyncSender<String>>,
    dropped: u64,
    /// The process group of the hook running now, 0 when none.
    running: Arc<AtomicI32>,
}

impl Titles {
    /// Titles to each of `fifos` (one per encoder); with a hook, its thread is started.
    pub fn new(fifos: Vec<PathBuf>, hook: Option<PathBuf>, timeout: Duration) -> Titles {
        let running = Arc::new(AtomicI32::new(0));
        let now = Arc::new(Mutex::new(Now { title: None, written: Instant::now() }));
        let hook = hook.map(|program| {
            let (tx, rx) = sync_channel(QUEUE);
            let to = Sink { fifos: fifos.clone(), now: now.clone() };
            let running = running.clone();
            std::thread::spawn(move || hook_loop(&program, timeout, &to, &rx, &running));
            tx
        });
        Titles { fifos, log: StateLog::new(TOOL), now, hook, dropped: 0, running }
    }

    /// Kills the hook running now, if any (at exit: no hook outlives auto).
    pub fn shutdown(&mut self) {
        self.hook = None;
        let pgid = self.running.swap(0, Ordering::SeqCst);
        if pgid > 0 {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }

    /// Sets the title now.
    pub fn set(&mut self, title: &str) {
        set_now(&self.now, &mut self.log, &self.fifos, title);
    }

    /// Writes the title now again when [`REPEAT`] has passed since it was last written (call it
    /// often: it does nothing otherwise).
    pub fn repeat(&mut self) {
        self.repeat_at(Instant::now());
    }

    fn repeat_at(&mut self, at: Instant) {
        let mut now = self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(title) = &now.title
            && at.saturating_duration_since(now.written) >= REPEAT
        {
            log_send(&mut self.log, &self.fifos, title);
            now.written = at;
        }
    }

    /// Gives one event to the hook (nothing without one); never waits.
    pub fn event(&mut self, line: &str) {
        let Some(tx) = &self.hook else { return };
        match tx.try_send(line.to_string()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                self.log.change(
                    "hook",
                    &format!("slower than the events: {} events not given to it", self.dropped),
                );
            }
            Err(TrySendError::Disconnected(_)) => self.hook = None,
        }
    }
}

/// Writes `title` to each FIFO; one that fails or has no reader costs the others nothing.
fn log_send(log: &mut StateLog, fifos: &[PathBuf], title: &str) {
    for fifo in fifos {
        log_send_one(log, fifo, title);
    }
}

fn log_send_one(log: &mut StateLog, fifo: &Path, title: &str) {
    let object = fifo.display().to_string();
    match send(fifo, title) {
        Ok(true) => {
            log.change(&object, "titles are sent");
        }
        Ok(false) => {
            log.change(&object, "no encoder reads it: titles are not sent (is the stream on?)");
        }
        Err(e) => {
            log.change(&object, &format!("cannot write a title: {e}"));
        }
    }
}

/// What one run of the hook gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It printed this line (not empty).
    Title(String),
    /// It exited without printing a line.
    Nothing,
    /// It could not be started.
    NoStart(String),
    /// It exited with a failure before printing a line.
    Failed(String),
    /// It was still running after the timeout and was killed.
    TimedOut,
}

impl Outcome {
    /// The kind, for logging each kind once.
    fn kind(&self) -> &'static str {
        match self {
            Outcome::Title(_) | Outcome::Nothing => "ok",
            Outcome::NoStart(_) => "no start",
            Outcome::Failed(_) => "failed",
            Outcome::TimedOut => "timed out",
        }
    }
}

/// Where the hook's titles go: the FIFO, and the title now.
struct Sink {
    fifos: Vec<PathBuf>,
    now: Arc<Mutex<Now>>,
}

fn hook_loop(program: &Path, timeout: Duration, to: &Sink, rx: &Receiver<String>, running: &AtomicI32) {
    let mut log = StateLog::new(TOOL);
    let object = format!("hook {}", program.display());
    for line in rx.iter() {
        let out = run_hook(program, &line, timeout, running);
        let kind = out.kind();
        match out {
            Outcome::Title(t) => set_now(&to.now, &mut log, &to.fifos, &t),
            Outcome::Nothing => {}
            Outcome::NoStart(e) => {
                log.change(
                    &object,
                    &format!("cannot run it: {e} (check VINYL_ON_EVENT); events go on without it"),
                );
            }
            Outcome::Failed(e) => {
                log.change(
                    &object,
                    &format!("failed ({e}); its title is ignored, recording and streaming go on"),
                );
            }
            Outcome::TimedOut => {
                log.change(
                    &object,
                    &format!(
                        "still running after {:?}: killed (raise VINYL_ON_EVENT_TIMEOUT or make it faster); recording and streaming go on",
                        timeout
                    ),
                );
            }
        }
        if kind == "ok" {
            log.change(&object, "runs");
        }
    }
}

/// Runs the hook once with `event` on stdin; waits at most `timeout` for it to exit, and kills
/// its process group after that. `running` holds its process group while it runs.
pub fn run_hook(program: &Path, event: &str, timeout: Duration, running: &AtomicI32) -> Outcome {
    let out = run_hook_inner(program, event, timeout, running);
    running.store(0, Ordering::SeqCst);
    out
}

fn run_hook_inner(program: &Path, event: &str, timeout: Duration, running: &AtomicI32) -> Outcome {
    let child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Outcome::NoStart(e.to_string()),
    };
    let pgid = Pid::from_raw(child.id() as i32);
    running.store(child.id() as i32, Ordering::SeqCst);
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not block us: the event is small enough
        // for the pipe, and a closed pipe is its own business.
        let _ = stdin.write_all(format!("{}\n", event.trim_end()).as_bytes());
    }
    let (tx, rx) = sync_channel(1);
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(out).read_line(&mut first);
            let _ = tx.send(first);
        });
    }
    let deadline = Instant::now() + timeout;
    let line = match rx.recv_timeout(timeout) {
        Ok(l) => Some(l),
        Err(RecvTimeoutError::Timeout) => None,
        Err(RecvTimeoutError::Disconnected) => Some(String::new()),
    };
    // The line came (or stdout closed): give the hook the rest of the time to exit.
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let title = line.unwrap_or_default().trim().to_string();
                if !title.is_empty() {
                    return Outcome::Title(title);
                }
                if !status.success() {
                    return Outcome::Failed(status.to_string());
                }
                return Outcome::Nothing;
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = killpg(pgid, Signal::SIGKILL);
                let _ = child.wait();
                return match line.map(|l| l.trim().to_string()) {
                    Some(t) if !t.is_empty() => Outcome::Title(t),
                    _ => Outcome::TimedOut,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let p = dir.join("hook");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn the_template_names_the_side_and_the_track() {
        assert_eq!(template("Side {side} · Track {track}", 2, 3), "Side 2 · Track 3");
        assert_eq!(template("fixed", 1, 1), "fixed");
    }

    #[test]
    fn the_hook_reads_the_event_and_its_first_line_is_the_title() {
        let d = tempfile::tempdir().unwrap();
        let h = script(d.path(), "read ev; echo \"got $ev\"; echo second");
        let out = run_hook(&h, r#"{"event":"track_start"}"#, Duration::from_secs(10), &AtomicI32::new(0));
        assert_eq!(out, Outcome::Title(r#"got {"event":"track_start"}"#.into()));
    }

    #[test]
    fn a_hook_that_hangs_is_killed_at_the_timeout_and_one_that_fails_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let h = script(d.path(), "sleep 600");
        let t = Instant::now();
        assert_eq!(run_hook(&h, "{}", Duration::from_millis(300), &AtomicI32::new(0)), Outcome::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(5));
        let h = script(d.path(), "exit 3");
        assert!(matches!(
            run_hook(&h, "{}", Duration::from_secs(10), &AtomicI32::new(0)),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            run_hook(&d.path().join("none"), "{}", Duration::from_secs(1), &AtomicI32::new(0)),
            Outcome::NoStart(_)
        ));
    }

    #[test]
    fn a_fifo_without_a_reader_is_not_an_error() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("title");
        assert!(!send(&f, "x").unwrap(), "no FIFO");
        nix::unistd::mkfifo(&f, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(!send(&f, "x").unwrap(), "no reader");
        let r = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&f).unwrap();
        assert!(send(&f, "Side 1\u{7}").unwrap());
        let mut s = String::new();
        BufReader::new(r).read_line(&mut s).unwrap();
        assert_eq!(s, "Side 1 \n");
    }

    #[test]
    fn every_fifo_gets_the_title_and_one_without_a_reader_costs_the_others_nothing() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, gone) = (d.path().join("a"), d.path().join("b"), d.path().join("gone"));
        for f in [&a, &b] {
            nix::unistd::mkfifo(f, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        }
        let open = |f: &Path| {
            BufReader::new(
                std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(f).unwrap(),
            )
        };
        let (mut ra, mut rb) = (open(&a), open(&b));
        let mut t = Titles::new(vec![gone, a.clone(), b.clone()], None, Duration::from_secs(1));
        t.set("Side A");
        for r in [&mut ra, &mut rb] {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert_eq!(line, "Side A\n");
        }
    }

    #[test]
    fn the_title_now_is_written_again_for_an_encoder_that_came_later() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("title");
        nix::unistd::mkfifo(&f, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut t = Titles::new(vec![f.clone()], None, Duration::from_secs(1));
        // The encoder was not there when the title was set: it got nothing then...
        t.set("Björk – Human Behaviour");
        let r = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&f).unwrap();
        let mut r = BufReader::new(r);
        // (Without a writer a non-blocking FIFO reads as its end, or EAGAIN: no line either way.)
        let mut next = || {
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            line
        };
        t.repeat_at(Instant::now());
        assert_eq!(next(), "", "written again before REPEAT");
        // ...and gets it at the next repeat, once.
        let later = Instant::now() + REPEAT;
        t.repeat_at(later);
        t.repeat_at(later + REPEAT / 2);
        assert_eq!(next(), "Björk – Human Behaviour\n");
        assert_eq!(next(), "", "written twice");
    }

    #[test]
    fn a_recognised_track_is_artist_and_title_and_anything_else_the_template() {
        let t = "Side {side} · Track {track}";
        assert_eq!(stream_title(t, 2, 3, Some("Miles Davis"), Some("So What")), "Miles Davis – So What");
        assert_eq!(stream_title(t, 2, 3, Some("Miles Davis"), None), "Side 2 · Track 3");
        assert_eq!(stream_title(t, 2, 3, None, Some("So What")), "Side 2 · Track 3");
    }
}
