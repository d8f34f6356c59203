//! The run folder and the state folder of the running recording (`RUN/rec/`): its files, the
//! lock that serialises `start` and `stop`, and whether the processes it names still live.
//!
//! Owns the names of the state files (read by the tests, `vinyl-up` and the systemd unit):
//! `path`, `start_frame`, `rate`, `ring`, `started`, `tap.args`, `flac.args`, `runner.pid`,
//! `tap.pid`, `tap.status`, `flac.status`, `stopped`, `unit` and `log` (and, for `vinyl-rec
//! auto`'s recording, `end`, the tap's end frame, and `auto`, `auto.side`, `auto.side_frame`,
//! `auto.side_time` (the needle drop's time as the side began, empty when the ring gave none),
//! `auto.part`, `auto.earlier` (the side's parts before this one, NUL-separated), `auto.reason`,
//! which let a restarted auto take it over); and the cleanup of a state whose runner died. It
//! does not start or signal processes (see [`super::runner`]).
//! How it fails: a folder that cannot be made or is another user's, a state file that cannot be
//! written, and a lock held too long are errors naming the path (exit 1); a state file that
//! cannot be read reads as missing, as a recorder killed mid-write leaves it.

use super::TOOL;
use crate::vlog;
use anyhow::{Context as _, anyhow, bail};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often waits look again (the script's 0.05 s).
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `cond` every [`POLL`] until it holds or `timeout` passes; true when it held.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Creates the run folder (mode 0700) when missing, and refuses one owned by another user
/// (except for root).
pub fn ensure_run_dir(run_dir: &Path) -> anyhow::Result<()> {
    let shown = run_dir.display();
    if !run_dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(run_dir)
            .with_context(|| format!("{shown}: mkdir failed"))?;
    }
    let meta = std::fs::metadata(run_dir).with_context(|| format!("{shown}: stat"))?;
    let me = nix::unistd::geteuid();
    if meta.uid() != me.as_raw() && !me.is_root() {
        bail!("{shown}: owned by another user");
    }
    // Best effort, as before: a folder we own but cannot chmod is still usable.
    let _ = std::fs::set_permissions(run_dir, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

/// `RUN/rec.lock`, held while `start` or `stop` changes the state (mkdir is atomic). A lock left
/// by a process that is gone is taken over. Released on drop.
#[derive(Debug)]
pub struct Lock {
    dir: PathBuf,
}

impl Lock {
    /// Takes the lock, waiting up to 10 s for another `vinyl-rec` to release it.
    pub fn take(run_dir: &Path) -> anyhow::Result<Lock> {
        let dir = run_dir.join("rec.lock");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::fs::create_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(anyhow!("{}: mkdir: {e}", dir.display())),
            }
            let holder = read_trimmed(&dir.join("pid")).and_then(|p| p.parse::<i32>().ok());
            if holder.is_some_and(|pid| !exists(pid)) {
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            if Instant::now() >= deadline {
                bail!("{}: another vinyl-rec holds the lock", dir.display());
            }
            std::thread::sleep(POLL);
        }
        let lock = Lock { dir };
        std::fs::write(lock.dir.join("pid"), format!("{}\n", std::process::id()))
            .with_context(|| format!("{}: write pid", lock.dir.display()))?;
        Ok(lock)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A state file's content without surrounding blanks, `None` when it is missing or unreadable.
pub fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// True while a process `pid` exists (a zombie counts: see [`gone`]).
fn exists(pid: i32) -> bool {
    pid > 0
        && !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        )
}

/// True once `pid` has exited; a zombie not yet reaped by its new parent counts as gone (an
/// orphaned runner's parent may never reap it).
pub fn gone(pid: i32) -> bool {
    if !exists(pid) {
        return true;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next()) == Some("Z")
}

/// True when `pid` runs and its command line holds `word`, so a recycled pid of an unrelated
/// process is never taken for ours. A command line that cannot be read is given the benefit.
pub fn alive(pid: i32, word: &str) -> bool {
    if gone(pid) {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(c) => String::from_utf8_lossy(&c).replace('\0', " ").contains(word),
        Err(_) => true,
    }
}

/// The state folder `RUN/rec` of the running recording, and the run folder around it.
#[derive(Clone, Debug)]
pub struct State {
    /// `RUN`.
    pub run_dir: PathBuf,
    /// `RUN/rec`.
    pub dir: PathBuf,
}

impl State {
    /// The state of the run folder `run_dir`.
    pub fn new(run_dir: &Path) -> State {
        State { run_dir: run_dir.to_path_buf(), dir: run_dir.join("rec") }
    }

    /// A file of the state.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `RUN/last-rec.log`, where the log of a finished recording goes.
    pub fn last_log(&self) -> PathBuf {
        self.run_dir.join("last-rec.log")
    }

    /// A state file as text (trimmed), `None` when missing.
    pub fn read(&self, name: &str) -> Option<String> {
        read_trimmed(&self.file(name))
    }

    /// Writes a state file as one line.
    pub fn write(&self, name: &str, value: &str) -> anyhow::Result<()> {
        let path = self.file(name);
        std::fs::write(&path, format!("{value}\n")).with_context(|| format!("{}: write", path.display()))
    }

    /// Writes a path as one line, byte for byte (a path need not be UTF-8).
    pub fn write_path(&self, name: &str, value: &Path) -> anyhow::Result<()> {
        let mut bytes = value.as_os_str().as_bytes().to_vec();
        bytes.push(b'\n');
        let file = self.file(name);
        std::fs::write(&file, bytes).with_context(|| format!("{}: write", file.display()))
    }

    /// A path written by [`State::write_path`], `None` when missing or empty.
    pub fn read_path(&self, name: &str) -> Option<PathBuf> {
        let mut bytes = std::fs::read(self.file(name)).ok()?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        (!bytes.is_empty()).then(|| PathBuf::from(OsString::from_vec(bytes)))
    }

    /// Writes an argument list, NUL-separated so any byte but NUL survives.
    pub fn write_args(&self, name: &str, args: &[OsString]) -> anyhow::Result<()> {
        let mut bytes = Vec::new();
        for a in args {
            bytes.extend_from_slice(a.as_bytes());
            bytes.push(0);
        }
        let path = self.file(name);
        std::fs::write(&path, bytes).with_context(|| format!("{}: write", path.display()))
    }

    /// Reads an argument list written by [`State::write_args`].
    pub fn read_args(&self, name: &str) -> anyhow::Result<Vec<OsString>> {
        let path = self.file(name);
        let bytes = std::fs::read(&path).with_context(|| format!("{}: read", path.display()))?;
        Ok(bytes
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect())
    }

    /// The pid in a state file.
    pub fn pid(&self, name: &str) -> Option<i32> {
        self.read(name)?.parse().ok()
    }

    /// True while the runner named in `runner.pid` lives.
    pub fn runner_alive(&self) -> bool {
        self.pid("runner.pid").is_some_and(|pid| alive(pid, "vinyl-rec"))
    }

    /// The recorder's exit status as recorded, or `unknown: killed` when it never recorded one.
    pub fn recorder_status(&self) -> String {
        self.read("flac.status").unwrap_or_else(|| "unknown: killed".into())
    }

    /// True when a recording's state is left without its runner, and it was not stopped: the
    /// recording ended on its own.
    pub fn ended_on_its_own(&self) -> bool {
        self.dir.is_dir() && self.file("path").is_file() && !self.file("stopped").exists()
    }

    /// Moves the log to `RUN/last-rec.log` and removes the state folder.
    pub fn retire(&self) {
        if self.file("log").is_file() {
            let _ = std::fs::rename(self.file("log"), self.last_log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Removes the state of a recording whose runner is gone, saying on stderr when it ended on
    /// its own and naming an unfinished `.part` with the command that repairs it.
    pub fn clean_stale(&self) {
        if !self.dir.is_dir() || self.runner_alive() {
            return;
        }
        if self.ended_on_its_own() {
            let old = self.read_path("path").unwrap_or_default();
            let log = self.last_log();
            vlog!(
                TOOL,
                "previous recording {} ended on its own (recorder status {}); log: {}",
                old.display(),
                self.recorder_status(),
                log.display()
            );
            let part = crate::flac::part_path(&old);
            if part.is_file() {
                let part = part.display();
                vlog!(TOOL, "{part} was left unfinished: repair it with vinyl-flac-rec --recover {part}");
            }
        }
        self.retire();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_survive_spaces_newlines_and_quotes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rec")).unwrap();
        let st = State::new(dir.path());
        st.write_path("path", Path::new("/a b/c\nd.flac")).unwrap();
        assert_eq!(st.read_path("path").unwrap(), Path::new("/a b/c\nd.flac"));
        let args: Vec<OsString> =
            ["-o", "/a b/c\nd.flac", "--tag", "TITLE='x' \"y\""].map(OsString::from).into();
        st.write_args("flac.args", &args).unwrap();
        assert_eq!(st.read_args("flac.args").unwrap(), args);
    }

    #[test]
    fn this_process_is_alive_and_a_word_it_lacks_makes_it_someone_else() {
        let me = std::process::id() as i32;
        assert!(!gone(me));
        assert!(!alive(me, "certainly-not-in-this-command-line"));
        assert!(gone(i32::MAX));
    }

    #[test]
    fn a_lock_left_by_a_dead_process_is_taken_over_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rec.lock")).unwrap();
        std::fs::write(dir.path().join("rec.lock/pid"), format!("{}\n", i32::MAX)).unwrap();
        let lock = Lock::take(dir.path()).unwrap();
        assert!(dir.path().join("rec.lock/pid").exists());
        drop(lock);
        assert!(!dir.path().join("rec.lock").exists());
    }
}
