//! `vinyl-rec start`: begin a recording the pre-roll before now, in the background.
//!
//! Phases: check the request (name, tags, folder, pre-roll) → take the lock and refuse a second
//! recording, cleaning a dead one's state → read the ring and compute the start frame → choose
//! the file → write the state folder → launch the runner (a detached `vinyl-rec _run`, or the
//! systemd unit) → wait until its tap runs → print the path. How it fails: usage errors exit 2
//! before anything is touched; everything after exits 1 naming the object (the ring, the file,
//! the unit). A runner that does not start in 10 s leaves its state for the next start to clean.

use super::check;
use super::plan::{self, Recording, RingView};
use super::runner;
use super::state::{Lock, State, ensure_run_dir, wait_for};
use super::{Settings, TOOL, Target, recording_path};
use crate::rec::cli::StartOpts;
use crate::rec::stamp::Stamp;
use crate::vlog;
use anyhow::{Context as _, bail};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long `start` waits for the runner's tap to run.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `start`.
pub fn start(s: &Settings, o: &StartOpts) -> anyhow::Result<()> {
    let (path, _runner) = begin(s, o)?;
    super::out_path(&path)
}

/// Starts a recording (everything `start` does but print): returns its path and, for a
/// background runner, its process, which a long-running caller (`vinyl-web`) should reap with
/// `try_wait` once it ends; dropping it leaves that to the system, as a tool that exits does.
pub fn begin(s: &Settings, o: &StartOpts) -> anyhow::Result<(PathBuf, Option<Child>)> {
    let now = Stamp::now();
    let target = Target::check(s, &o.record, "rec", &now)?;
    let preroll_text = o.preroll.clone().unwrap_or_else(|| s.preroll.clone());
    let preroll = check::duration("--preroll", &preroll_text)?;

    ensure_run_dir(&s.run_dir)?;
    let st = State::new(&s.run_dir);
    let _lock = Lock::take(&s.run_dir)?;
    refuse_a_second_recording(&st)?;
    st.clean_stale();

    let ring = plan::read_ring(&target.ring)?;
    plan::require_writer(&ring)?;
    let (start, short) = check::start_frame(ring.head, ring.oldest, preroll.frames(ring.spec.rate));
    if short {
        let held = crate::pcm::format_frames(ring.head - start, ring.spec.rate);
        vlog!(
            TOOL,
            "the ring holds only {held}: the recording starts that far back instead of {preroll_text}"
        );
    }
    let path = recording_path(&target.dir, &target.name, &now)?;
    let rec = Recording {
        path: &path,
        start,
        preroll_frames: ring.head - start,
        compression: s.compression.as_deref(),
        tags: &target.tags,
    };
    write_state(&st, &ring, &rec, &now, &[])?;
    let (mut child, hint) = launch(s, &st, &target.name, &path)?;
    wait_started(&st, &mut child, &path, &hint)?;
    Ok((path, child))
}

fn refuse_a_second_recording(st: &State) -> anyhow::Result<()> {
    if st.runner_alive() {
        let (path, started) =
            (st.read_path("path").unwrap_or_default(), st.read("started").unwrap_or_default());
        return Err(super::Conflict::AlreadyRecording { path, started }.into());
    }
    Ok(())
}

/// The state folder (mode 0700) and what the runner needs to run the recording; `tap_extra` is
/// added to the tap's arguments.
pub(super) fn write_state(
    st: &State,
    ring: &RingView,
    rec: &Recording<'_>,
    now: &Stamp,
    tap_extra: &[&str],
) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&st.dir)
        .with_context(|| format!("{}: mkdir failed", st.dir.display()))?;
    st.write_path("path", rec.path)?;
    st.write("start_frame", &rec.start.to_string())?;
    st.write("rate", &ring.spec.rate.to_string())?;
    st.write_path("ring", &ring.path)?;
    st.write("started", &now.seconds())?;
    let mut tap = plan::tap_args(ring, rec.start, None);
    tap.extend(tap_extra.iter().map(Into::into));
    st.write_args("tap.args", &tap)?;
    st.write_args("flac.args", &plan::flac_args(ring, rec))
}

/// Starts the runner: a detached `vinyl-rec _run STATE` (returned, to notice an early exit), or
/// the systemd unit when `VINYL_REC_SYSTEMD=1`. Also returns where its messages go.
fn launch(s: &Settings, st: &State, name: &str, path: &Path) -> anyhow::Result<(Option<Child>, String)> {
    if s.systemd {
        let unit = start_unit(s, st, name, path)?;
        return Ok((None, format!("journalctl -u {unit}")));
    }
    let child = spawn_runner(st, Stdio::null())?;
    Ok((Some(child), "log above".into()))
}

/// A detached `vinyl-rec _run STATE` with `stdin`, its output appended to the state's log: the
/// one way a recording's runner is started (by `start`, `vinyl-web` and `auto`).
pub(super) fn spawn_runner(st: &State, stdin: Stdio) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(st.file("log"))
        .with_context(|| format!("{}: open", st.file("log").display()))?;
    let exe = runner_exe()?;
    let mut cmd = Command::new(&exe);
    // The runner and its tap must receive SIGTERM whatever thread starts them: a tool that serves
    // requests on threads with the stop signals blocked (vinyl-web) would pass that mask on.
    // SAFETY: only pthread_sigmask, which is async-signal-safe, runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&nix::sys::signal::SigSet::empty()),
                None,
            )
            .map_err(std::io::Error::from)
        });
    }
    cmd.arg("_run")
        .arg(&st.dir)
        .stdin(stdin)
        .stdout(log.try_clone().context("log: dup")?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("{}: cannot start the runner", exe.display()))
}

/// The `vinyl-rec` that runs `_run`: this executable when it is vinyl-rec, else the one beside
/// it or on PATH (for `vinyl-web`, whose recordings must be recognisable as vinyl-rec's).
fn runner_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("find the vinyl-rec executable")?;
    if exe.file_name().is_some_and(|n| n == TOOL) {
        return Ok(exe);
    }
    Ok(runner::tool(TOOL))
}

/// `systemctl start --no-block vinyl-flac-rec@NAME.service`, after giving the state and the
/// month folder to the service user when root prepared them.
fn start_unit(s: &Settings, st: &State, name: &str, path: &Path) -> anyhow::Result<String> {
    let Some(systemctl) = runner::on_path("systemctl") else {
        bail!("VINYL_REC_SYSTEMD=1 but systemctl is not available");
    };
    let escaped = Command::new("systemd-escape").arg("--").arg(name).output().context("systemd-escape")?;
    if !escaped.status.success() {
        bail!("{name}: systemd-escape failed");
    }
    let unit = format!("vinyl-flac-rec@{}.service", String::from_utf8_lossy(&escaped.stdout).trim());
    if nix::unistd::geteuid().is_root() {
        let month: PathBuf = path.parent().unwrap_or(path).to_path_buf();
        let ok = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:", s.user))
            .arg(&st.dir)
            .arg(&month)
            .status()
            .is_ok_and(|c| c.success());
        if !ok {
            bail!("{}: chown to the service user {} failed", st.dir.display(), s.user);
        }
    }
    st.write("unit", &unit)?;
    let started = Command::new(systemctl).args(["start", "--no-block"]).arg(&unit).status();
    if !started.is_ok_and(|c| c.success()) {
        bail!("{unit}: systemctl start failed");
    }
    Ok(unit)
}

/// Waits until the runner has written `tap.pid` (its tap runs). A runner that exits first or
/// takes over 10 s is a failure: its log is shown.
fn wait_started(st: &State, child: &mut Option<Child>, path: &Path, hint: &str) -> anyhow::Result<()> {
    // A runner that already exited will never write it: no need to wait the full time.
    wait_for(START_TIMEOUT, || {
        st.pid("tap.pid").is_some() || child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some())
    });
    if st.pid("tap.pid").is_some() {
        return Ok(());
    }
    if let Ok(log) = std::fs::read_to_string(st.file("log")) {
        eprint!("{log}");
    }
    bail!("{}: the recorder did not start ({hint})", path.display())
}
