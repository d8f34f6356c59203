//! The whole topology under `scripts/vinyl-up`, as a user runs it, for end-to-end tests: the ALSA
//! `file` device paced in real time (`VINYL_REALTIME=yes`) on frame-numbered input, a private
//! icecast2, and a run folder, ring and recordings folder of the test's own.
//!
//! [`Up::start`] writes the input and the configuration and starts the server; [`Up::sh`] runs
//! `vinyl-up`, `vinyl-down` or `vinyl-rec` against that configuration and nothing of the caller's
//! environment. Dropping an [`Up`] runs `vinyl-down` and removes the ring, whatever the test did.
#![allow(dead_code)]

use super::icecast::Icecast;
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
