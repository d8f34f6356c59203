//! Long-running tools under test: a process whose stderr lines (and optionally stdout) are
//! collected while it runs, and a unique ring path that is removed at the end.

use super::{DEADLINE, assert_success, describe, signal, wait_deadline, wait_output, wait_until};
use nix::sys::signal::Signal;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A unique ring path under /dev/shm, removed when dropped.
pub struct Ring(pub PathBuf);

impl Ring {
    /// A new path for `test` (nothing there yet).
    pub fn new(test: &str) -> Ring {
        let p = PathBuf::from(format!("/dev/shm/vinyl-test-{}-{test}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        Ring(p)
    }
    /// The path as a flag value.
    pub fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A running tool whose stderr lines (and optionally stdout bytes) are collected.
pub struct Proc {
    /// The command line, for failure reports.
    pub what: String,
    /// The process.
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
    out: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Proc {
    /// Starts `cmd` with stdin, stdout and stderr piped; with `collect_stdout` false, stdout
    /// stays a pipe nobody reads until the test takes `child.stdout`.
    pub fn spawn(cmd: Command, collect_stdout: bool) -> Proc {
        Proc::spawn_to(cmd, Stdio::piped(), collect_stdout)
    }

    /// Starts `cmd` with stdin and stderr piped and stdout going to `stdout` (collected when it is
    /// a pipe and `collect_stdout`).
    pub fn spawn_to(cmd: Command, stdout: Stdio, collect_stdout: bool) -> Proc {
        Proc::spawn_io(cmd, Stdio::piped(), stdout, collect_stdout)
    }

    /// Starts `cmd` with the given stdin and stdout (a pipe or FIFO of a topology) and stderr
    /// collected. `cmd` is consumed, so the parent's copies of those descriptors close at once.
    pub fn spawn_io(mut cmd: Command, stdin: Stdio, stdout: Stdio, collect_stdout: bool) -> Proc {
        let what = describe(&cmd);
        let mut child = cmd
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
        drop(cmd);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let err = child.stderr.take().unwrap();
        let l = lines.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        }));
        // Not collected, stdout stays the child's until the test takes it.
        if let Some(mut so) = if collect_stdout { child.stdout.take() } else { None } {
            let o = out.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = so.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    o.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }));
        }
        let stdin = child.stdin.take();
        Proc { what, child, stdin, lines, out, readers }
    }

    /// The stderr lines so far, each with its newline.
    pub fn stderr(&self) -> String {
        self.lines.lock().unwrap().iter().map(|l| format!("{l}\n")).collect()
    }

    /// Waits (within the deadline) for a stderr line containing `needle`.
    pub fn wait_line(&self, needle: &str) {
        self.wait_line_within(needle, DEADLINE);
    }

    /// Waits up to `timeout` for a stderr line containing `needle`; panics with stderr after it.
    pub fn wait_line_within(&self, needle: &str, timeout: Duration) {
        let what = format!("{}: a stderr line containing {needle:?}", self.what);
        let lines = self.lines.clone();
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(&what, timeout, || lines.lock().unwrap().iter().any(|l| l.contains(needle)))
        }));
        if ok.is_err() {
            panic!("{what}: not seen; stderr so far:\n{}", self.stderr());
        }
    }

    /// Bytes of stdout collected so far.
    pub fn out_len(&self) -> usize {
        self.out.lock().unwrap().len()
    }

    /// Writes to its stdin.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(bytes).unwrap_or_else(|e| panic!("{}: stdin: {e}", self.what));
    }

    /// Closes its stdin.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Takes its stdin, to write from elsewhere.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.stdin.take().unwrap_or_else(|| panic!("{}: stdin already taken", self.what))
    }

    /// Closes stdin, waits up to `deadline` for the exit (panics with stderr after it) and for
    /// stderr's last lines; returns the status and stderr.
    pub fn exit(mut self, deadline: Duration) -> (std::process::ExitStatus, String) {
        self.stdin = None;
        let Some(status) = wait_deadline(&mut self.child, deadline) else {
            panic!("{}\nstill running after {deadline:?}\nstderr:\n{}", self.what, self.stderr());
        };
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        (status, self.stderr())
    }

    /// [`Proc::exit`], with a report instead of stderr alone: the command, the status, stderr.
    pub fn exit_report(self, deadline: Duration) -> (std::process::ExitStatus, String) {
        let what = self.what.clone();
        let (status, err) = self.exit(deadline);
        (status, format!("{what}\nstatus: {status}\nstderr:\n{err}"))
    }

    /// Waits (within the deadline) until `times` stderr lines contain `needle`.
    pub fn wait_lines(&self, needle: &str, times: usize) {
        let what = format!("{}: {times} stderr lines containing {needle:?}", self.what);
        let lines = self.lines.clone();
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(&what, DEADLINE, || {
                lines.lock().unwrap().iter().filter(|l| l.contains(needle)).count() >= times
            })
        }));
        if ok.is_err() {
            panic!("{what}: not seen; stderr so far:\n{}", self.stderr());
        }
    }

    /// Its stdin, to write to.
    pub fn stdin_mut(&mut self) -> &mut ChildStdin {
        self.stdin.as_mut().unwrap_or_else(|| panic!("{}: stdin already taken", self.what))
    }

    /// Sends it a signal.
    pub fn signal(&self, sig: Signal) {
        signal(&self.child, sig);
    }

    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether it is still running (an exit is reaped and kept by the child).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for it to exit on its own (stdin left as it is), and returns the
    /// status; panics with its stderr after the timeout. It stays in place for later reports.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let what = format!("{} exits", self.what);
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(&what, timeout, || !self.running())
        }));
        if ok.is_err() {
            panic!("{what}: still running after {timeout:?}; stderr so far:\n{}", self.stderr());
        }
        self.child.try_wait().ok().flatten().expect("exited")
    }

    /// Waits for the process to end (within the deadline; stdin stays open unless closed before)
    /// and returns its status code, the stdout collected and stderr.
    pub fn finish(mut self) -> (Option<i32>, Vec<u8>, String) {
        let Some(status) = wait_deadline(&mut self.child, DEADLINE) else {
            panic!("{}: still running after {DEADLINE:?}\nstderr:\n{}", self.what, self.stderr());
        };
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        let out = std::mem::take(&mut *self.out.lock().unwrap());
        (status.code(), out, self.stderr())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `tap --from-frame FIRST | vinyl-flac-rec --ring RING` into `out`, as vinyl-rec runs it.
pub struct Recording {
    /// The tap.
    pub tap: Child,
    /// The recorder.
    pub rec: Child,
}

impl Recording {
    pub fn start(ring: &Ring, first: u64, out: &Path) -> Recording {
        let mut tap = Command::new(super::bin_dir().join("vinyl-preroll"))
            .args(["tap", "--ring", ring.arg(), "--from-frame", &first.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let rec = Command::new(super::bin_dir().join("vinyl-flac-rec"))
            .args(["-o", out.to_str().unwrap(), "--start-frame", &first.to_string(), "--ring", ring.arg()])
            .stdin(tap.stdout.take().unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Recording { tap, rec }
    }

    /// Waits for both to end by themselves; returns their outputs.
    pub fn wait(self) -> (std::process::Output, std::process::Output) {
        (wait_output(self.tap, DEADLINE, "tap"), wait_output(self.rec, DEADLINE, "vinyl-flac-rec"))
    }

    /// Ends the tap at the head (SIGTERM) and waits for both, which must exit 0; returns their
    /// stderr.
    pub fn stop(self) -> (String, String) {
        signal(&self.tap, Signal::SIGTERM);
        let (tap, rec) = self.wait();
        assert_success("tap", &tap);
        assert_success("vinyl-flac-rec", &rec);
        (String::from_utf8_lossy(&tap.stderr).into_owned(), String::from_utf8_lossy(&rec.stderr).into_owned())
    }
}
