//! A private Liquidsoap harbor on 127.0.0.1: a second implementation of the Icecast source
//! protocol to test against.
//!
//! [`Harbor::start`] writes a script with one `input.harbor` mount (played into
//! `output.dummy`), runs `liquidsoap` on a free port and waits until the port accepts
//! connections. Unlike Icecast, the harbor takes only the mounts its script declares and
//! answers 404 for any other. Needs the Debian `liquidsoap` package; running as root needs
//! `settings.init.allow_root`, which the script sets.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `liquidsoap` with one harbor mount; killed on drop.
#[derive(Debug)]
pub struct Harbor {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl Harbor {
    /// Starts a harbor taking sources on `mount` (without the leading `/`) with user `source`
    /// and `password`, and waits (up to 90 s: Liquidsoap is slow to start on a busy machine)
    /// until it listens.
    pub fn start(mount: &str, password: &str) -> Harbor {
        let mut last = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new().prefix("vinyl-harbor-").tempdir().expect("temp dir");
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let script = dir.path().join("harbor.liq");
            std::fs::write(
                &script,
                format!(
                    "settings.init.allow_root.set(true)\n\
                     settings.log.stdout.set(true)\n\
                     settings.log.file.set(false)\n\
                     settings.harbor.bind_addrs.set([\"127.0.0.1\"])\n\
                     s = input.harbor({mount:?}, port={port}, password={password:?})\n\
                     output.dummy(fallible=true, s)\n"
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("liquidsoap.log")).unwrap();
            let child = Command::new("liquidsoap")
                .arg(&script)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn liquidsoap (is the liquidsoap package installed?)");
            let mut h = Harbor { dir, child, port };
            let start = Instant::now();
            loop {
                if let Some(st) = h.child.try_wait().unwrap() {
                    // Another process may have taken the port: try another one.
                    last = format!("liquidsoap exited with {st}\n{}", h.log());
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return h;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(90),
                    "liquidsoap not listening on {port} after 90 s\n{}",
                    h.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("liquidsoap did not start: {last}");
    }

    /// `http://127.0.0.1:PORT` followed by `mount` (which starts with `/`).
    pub fn url(&self, mount: &str) -> String {
        format!("http://127.0.0.1:{}{mount}", self.port)
    }

    /// The temp dir holding the script and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What Liquidsoap logged so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("liquidsoap.log")).unwrap_or_default()
    }
}

impl Drop for Harbor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
