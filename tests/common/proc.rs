//! Long-running tools under test: a process whose stderr lines (and optionally stdout) are
//! collected while it runs, and a unique ring path that is removed at the end.

use super::{DEADLINE, describe, signal, wait_deadline, wait_until};
use nix::sys::signal::Signal;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

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
    pub fn spawn(mut cmd: Command, collect_stdout: bool) -> Proc {
        let what = describe(&cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
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
        if collect_stdout {
            let mut so = child.stdout.take().unwrap();
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

    /// The stderr lines so far.
    pub fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits (within the deadline) for a stderr line containing `needle`.
    pub fn wait_line(&self, needle: &str) {
        let what = format!("{}: a stderr line containing {needle:?}", self.what);
        let lines = self.lines.clone();
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(&what, DEADLINE, || lines.lock().unwrap().iter().any(|l| l.contains(needle)))
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

    /// Sends it a signal.
    pub fn signal(&self, sig: Signal) {
        signal(&self.child, sig);
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
