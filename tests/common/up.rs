//! The whole topology under `scripts/vinyl-up`, as a user runs it, for end-to-end tests: the ALSA
//! `file` device paced in real time (`VINYL_REALTIME=yes`) on frame-numbered input, a private
//! icecast2, and a run folder, ring and recordings folder of the test's own.
//!
//! [`Up::start`] writes the input and the configuration and starts the server; [`Up::sh`] runs
//! `vinyl-up`, `vinyl-down` or `vinyl-rec` against that configuration and nothing of the caller's
//! environment. Dropping an [`Up`] runs `vinyl-down` and removes the ring, whatever the test did.
#![allow(dead_code)]

use super::icecast::Icecast;
use super::{DEADLINE, assert_success, run, run_ok, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The mount the stream goes to.
pub const MOUNT: &str = "/vinyl.mp3";

/// The stream's `VINYL_STREAM_NAME`, as listeners see it.
pub const STREAM_NAME: &str = "vinyl up test";

/// A configured topology (started by `sh(&["vinyl-up"])`), its server and its folders.
pub struct Up {
    /// The temp folder holding all of it.
    pub dir: tempfile::TempDir,
    /// The private icecast2.
    pub ice: Icecast,
    /// The frame-numbered input the capture reads (frame `n` carries `n`).
    pub input: PathBuf,
    /// The ring (under /dev/shm).
    pub ring: PathBuf,
    /// The run folder: PIDs, logs, FIFOs, `rec/`.
    pub run: PathBuf,
    /// The recordings folder.
    pub recordings: PathBuf,
    /// The configuration file.
    pub conf: PathBuf,
    path: String,
}

impl Up {
    /// Writes `seconds` of frame-numbered input and a configuration for it (ring `tag` under
    /// /dev/shm, 30 s ring, 128 kbit/s stream), and starts icecast2. Nothing of vinyl runs yet.
    pub fn start(tag: &str, seconds: u64) -> Up {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.raw");
        let spec = vinyl::pcm::PcmSpec::default();
        std::fs::write(&input, vinyl::pcm::unique_frames(&spec, 0, seconds * u64::from(spec.rate))).unwrap();
        let ring = PathBuf::from(format!("/dev/shm/vinyl-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&ring);
        let run = dir.path().join("run");
        let recordings = dir.path().join("rec");
        let conf = dir.path().join("vinyl.conf");
        let ice = Icecast::start();
        std::fs::write(
            &conf,
            format!(
                // A 2 s buffer: a busy test machine may stall the capture for a few hundred ms, which a
                // real card's 341 ms buffer would turn into an overrun (a journaled gap); the
                // deliberate faults last 10 s.
                "VINYL_DEVICE={}\nVINYL_REALTIME=yes\nVINYL_CAPTURE_BUFFER=96000\nVINYL_ICECAST_URL={}\nVINYL_ICECAST_PASSWORD_FILE={}\n\
                 VINYL_BITRATE=128\nVINYL_STREAM_NAME=\"{STREAM_NAME}\"\nVINYL_RING={}\nVINYL_RING_CAPACITY=30s\n\
                 VINYL_RUN_DIR={}\nVINYL_RECORDINGS={}\n",
                super::file_device(&input),
                ice.url(MOUNT),
                ice.password_file().display(),
                ring.display(),
                run.display(),
                recordings.display()
            ),
        )
        .unwrap();
        let path = format!(
            "{}:{}:{}",
            super::bin_dir().display(),
            super::repo_root().join("scripts").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Up { dir, ice, input, ring, run, recordings, conf, path }
    }

    /// The command `args[0]` (`vinyl-up`, `vinyl-down` from scripts/, `vinyl-rec` built) with the
    /// rest as arguments, on this configuration: the built tools first on PATH, the test device
    /// defined, and no `VINYL_*` setting of the caller's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let program = if args[0] == "vinyl-rec" {
            super::bin_dir().join(args[0])
        } else {
            super::repo_root().join("scripts").join(args[0])
        };
        let mut cmd = Command::new(program);
        cmd.args(&args[1..]);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
            cmd.env_remove(k);
        }
        cmd.env("VINYL_CONFIG", &self.conf)
            .env("PATH", &self.path)
            .env("ALSA_CONFIG_PATH", super::alsa_config_path())
            .env_remove("NOTIFY_SOCKET");
        cmd
    }

    /// Runs [`Up::command`] to its end (within 60 s).
    pub fn sh(&self, args: &[&str]) -> Output {
        super::run(&mut self.command(args), Duration::from_secs(60))
    }

    /// Runs [`Up::command`], which must succeed; returns its stdout.
    pub fn sh_ok(&self, args: &[&str]) -> String {
        let out = self.sh(args);
        super::assert_success(&args.join(" "), &out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The ring as a flag value.
    pub fn ring_arg(&self) -> &str {
        self.ring.to_str().unwrap()
    }

    /// A file of the run folder.
    pub fn run_file(&self, name: &str) -> PathBuf {
        self.run.join(name)
    }

    /// The PID vinyl-up recorded for `component` (`capture`, `stream-tap`, `mp3-icecast`).
    pub fn pid(&self, component: &str) -> i32 {
        let p = self.run_file(&format!("{component}.pid"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        text.trim().parse().unwrap_or_else(|e| panic!("{}: {text:?}: {e}", p.display()))
    }

    /// The log of `component` (`RUN/NAME.log`), empty when there is none.
    pub fn log(&self, component: &str) -> String {
        read_lossy(&self.run_file(&format!("{component}.log")))
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.sh(&["vinyl-down"]);
        let _ = std::fs::remove_file(&self.ring);
    }
}

/// A file as text (invalid UTF-8 replaced), empty when it cannot be read.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// The processes whose parent is `pid` (from /proc/*/stat).
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
        let ppid = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse::<i32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// A process's command line, argument by argument (empty once it is gone).
pub fn cmdline(pid: i32) -> Vec<String> {
    nul_split(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
}

pub fn nul_split(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// True once `pid` has exited (a zombie nobody reaps counts as gone, as for vinyl-up).
pub fn gone(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty() || stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next()) == Some("Z")
}

pub fn signal_pid(pid: i32, sig: Signal) {
    kill(Pid::from_raw(pid), sig).unwrap_or_else(|e| panic!("kill -{sig} {pid}: {e}"));
}

/// `vinyl-preroll info --json` of the ring.
pub fn info(up: &Up) -> serde_json::Value {
    let out = run(
        Command::new(super::bin_dir().join("vinyl-preroll")).args([
            "info",
            "--json",
            "--ring",
            up.ring_arg(),
        ]),
        DEADLINE,
    );
    assert_success("vinyl-preroll info --json", &out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The ring's head now.
pub fn head(up: &Up) -> u64 {
    info(up)["head"].as_u64().unwrap()
}

/// The ring's journal: (first, frames, cause, exact) of each gap, oldest first.
pub fn journal(up: &Up) -> Vec<(u64, u64, String, bool)> {
    info(up)["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["first"].as_u64().unwrap(),
                g["frames"].as_u64().unwrap(),
                g["cause"].as_str().unwrap().to_string(),
                g["exact"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Waits until the ring's head is `frames` past where it is now.
pub fn wait_head_moves(up: &Up, frames: u64) {
    let from = head(up);
    wait_until(&format!("the ring's head {frames} frames past {from}"), DEADLINE, || {
        head(up) >= from + frames
    });
}

/// What a supervisor needs to start a component of vinyl-up again: its command line and
/// environment, as read from /proc before it is killed.
pub struct Saved {
    pub component: &'static str,
    /// Its PID when saved.
    pub pid: i32,
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

impl Saved {
    pub fn of(up: &Up, component: &'static str) -> Saved {
        let pid = up.pid(component);
        let argv = cmdline(pid);
        assert!(!argv.is_empty(), "{component} (pid {pid}): no command line");
        let env = nul_split(&std::fs::read(format!("/proc/{pid}/environ")).unwrap())
            .into_iter()
            .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        Saved { component, pid, argv, env }
    }

    /// Starts the command again in its own session, with vinyl-up's redirections (the encoder
    /// reads its FIFO read-write, the stream tap writes it, the capture logs both streams), and
    /// records the new PID where vinyl-up (and vinyl-down) look for it.
    pub fn restart(&self, up: &Up) {
        let fifo = up.run_file("stream.fifo");
        let log = up.run_file(&format!("{}.log", self.component));
        let redirect = match self.component {
            "mp3-icecast" => r#"<>"$FIFO" >>"$LOG" 2>&1"#,
            "stream-tap" => r#"</dev/null >"$FIFO" 2>>"$LOG""#,
            _ => r#"</dev/null >>"$LOG" 2>&1"#,
        };
        let mut cmd = Command::new("/bin/sh");
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("FIFO", &fifo)
            .env("LOG", &log)
            .arg("-c")
            .arg(format!(
                r#"printf 'faults test: restarting %s\n' "$*" >>"$LOG"; setsid "$@" {redirect} & echo $!"#
            ))
            .arg("sh")
            .args(&self.argv);
        let out = run_ok(&mut cmd, DEADLINE);
        let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        std::fs::write(up.run_file(&format!("{}.pid", self.component)), format!("{pid}\n")).unwrap();
        wait_until(&format!("the restarted {} runs its program", self.component), DEADLINE, || {
            cmdline(pid).first() == self.argv.first() || gone(pid)
        });
        assert!(
            !gone(pid),
            "the restarted {} exited at once; its log:\n{}",
            self.component,
            up.log(self.component)
        );
    }
}
