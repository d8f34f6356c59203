//! Running the two filters, `vinyl-preroll tap … | vinyl-flac-rec …`, joined by a pipe this
//! process creates: in the foreground for `snapshot`, and detached for `start` as the internal
//! `vinyl-rec _run STATE`, a supervisor that leads its own session.
//!
//! Owns where the tools are found ([`tool`]: next to this executable, then on PATH), how their
//! exit statuses are recorded (`tap.status`, `flac.status`: the code, or 128 + the signal, as a
//! shell reports it), and the stop rule: SIGTERM, SIGINT or SIGHUP to the runner becomes SIGTERM
//! to the tap only, so the tap ends at a frame boundary and the recorder sees the end of its
//! input and finalises the file. It does not choose frames or names (see [`super::plan`]).
//! How it fails: a tool that cannot be started is an error naming it (exit 1); a filter that
//! fails is reported by its status, which the caller turns into a message.

use super::TOOL;
use super::state::State;
use anyhow::{Context as _, anyhow};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, pthread_sigmask};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// The program `name` (`vinyl-preroll`, `vinyl-flac-rec`): the file of that name next to the
/// running executable when there is one (an installed or freshly built set stays together),
/// else the first on PATH, else the bare name (whose spawn then fails with a clear error).
pub fn tool(name: &str) -> PathBuf {
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|d| d.join(name)));
    beside.filter(|p| is_executable(p)).or_else(|| on_path(name)).unwrap_or_else(|| PathBuf::from(name))
}

/// The first executable `name` in the folders of `$PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// An exit status as a shell's `$?`: the code, or 128 + the signal that ended the process.
pub fn shell_status(st: ExitStatus) -> i32 {
    st.code().or_else(|| st.signal().map(|s| 128 + s)).unwrap_or(1)
}

/// The two filters of one recording, running.
#[derive(Debug)]
pub struct Pipeline {
    /// `vinyl-preroll tap …`.
    pub tap: Child,
    /// `vinyl-flac-rec …`, reading the tap's output.
    pub flac: Child,
}

impl Pipeline {
    /// Starts `vinyl-preroll TAP_ARGS | vinyl-flac-rec FLAC_ARGS`, stdin from /dev/null and
    /// stderr shared with this process. `on_tap` runs once the tap runs (to record its pid
    /// before the recorder exists). When the recorder cannot start, the tap is ended.
    pub fn spawn(
        tap_args: &[OsString],
        flac_args: &[OsString],
        on_tap: impl FnOnce(u32) -> anyhow::Result<()>,
    ) -> anyhow::Result<Pipeline> {
        let preroll = tool("vinyl-preroll");
        let mut tap = Command::new(&preroll)
            .args(tap_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("{}: cannot start the tap", preroll.display()))?;
        let recorder = tool("vinyl-flac-rec");
        let flac = tap
            .stdout
            .take()
            .ok_or_else(|| anyhow!("vinyl-preroll tap: no stdout pipe"))
            .and_then(|pipe| on_tap(tap.id()).map(|()| pipe))
            .and_then(|pipe| {
                let mut cmd = Command::new(&recorder);
                cmd.args(flac_args).stdin(Stdio::from(pipe)).stdout(Stdio::null());
                cmd.spawn().with_context(|| format!("{}: cannot start the recorder", recorder.display()))
            });
        match flac {
            Ok(flac) => Ok(Pipeline { tap, flac }),
            Err(e) => {
                // Without its recorder the tap would fill the pipe and wait forever.
                let _ = tap.kill();
                let _ = tap.wait();
                Err(e)
            }
        }
    }

    /// Waits for both filters; returns the tap's and the recorder's statuses.
    pub fn wait(mut self) -> anyhow::Result<(i32, i32)> {
        let flac = self.flac.wait().context("wait for vinyl-flac-rec")?;
        let tap = self.tap.wait().context("wait for vinyl-preroll tap")?;
        Ok((shell_status(tap), shell_status(flac)))
    }
}

/// The signals the runner handles: the three that ask it to stop, and SIGCHLD to wake it when a
/// filter ends. Blocked and taken with `sigwait`, so no handler runs and nothing is missed.
fn runner_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGCHLD] {
        set.add(s);
    }
    set
}

/// `vinyl-rec _run STATE`: the background half of `start`. Leads its own session (so `start`'s
/// terminal and the test harness are not its parents'), runs the pipeline prepared in `STATE`,
/// records the pids and statuses there, and turns a stop signal into SIGTERM to the tap.
pub fn run(state_dir: &Path) -> anyhow::Result<()> {
    // Already a session leader under systemd: EPERM then, and nothing to do.
    let _ = nix::unistd::setsid();
    let st = State { run_dir: state_dir.parent().unwrap_or(state_dir).to_path_buf(), dir: state_dir.into() };
    st.write("runner.pid", &std::process::id().to_string())?;
    let (tap_args, flac_args) = (st.read_args("tap.args")?, st.read_args("flac.args")?);
    let pipeline = Pipeline::spawn(&tap_args, &flac_args, |pid| {
        // Written whole, then renamed: `start` and `stop` never read half a pid.
        st.write("tap.pid.new", &pid.to_string())?;
        std::fs::rename(st.file("tap.pid.new"), st.file("tap.pid")).context("rename tap.pid")
    });
    let mut p = match pipeline {
        Ok(p) => p,
        Err(e) => {
            let _ = st.write("tap.status", "127");
            return Err(e);
        }
    };
    // Blocked only now: children inherit the signal mask, and the filters must see SIGTERM. A
    // child that ended before this is found by `supervise`'s first look. A stop signal in the few
    // milliseconds before this ends the runner by default; `stop` never signals the runner (it
    // signals the tap), and systemd would only by stopping the unit in those milliseconds.
    let set = runner_signals();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).context("block the stop signals")?;
    let (tap, flac) = supervise(&st, &mut p, &set)?;
    // Into the log (stdout is RUN/rec/log); a log that cannot be written loses only this line.
    let _ =
        writeln!(std::io::stdout(), "{TOOL}: recorder finished (tap status {tap}, recorder status {flac})");
    Ok(())
}

/// Waits for both filters, writing each one's status as it ends; a stop signal is passed to the
/// tap as SIGTERM.
fn supervise(st: &State, p: &mut Pipeline, set: &SigSet) -> anyhow::Result<(String, String)> {
    let mut tap: Option<i32> = None;
    let mut flac: Option<i32> = None;
    loop {
        if tap.is_none()
            && let Some(s) = p.tap.try_wait().context("wait for vinyl-preroll tap")?
        {
            tap = Some(shell_status(s));
            st.write("tap.status", &shell_status(s).to_string())?;
        }
        if flac.is_none()
            && let Some(s) = p.flac.try_wait().context("wait for vinyl-flac-rec")?
        {
            flac = Some(shell_status(s));
            st.write("flac.status", &shell_status(s).to_string())?;
        }
        if let (Some(t), Some(f)) = (tap, flac) {
            return Ok((t.to_string(), f.to_string()));
        }
        let sig = set.wait().context("wait for a signal")?;
        if sig != Signal::SIGCHLD && tap.is_none() {
            let _ = kill(Pid::from_raw(p.tap.id() as i32), Signal::SIGTERM);
        }
    }
}
