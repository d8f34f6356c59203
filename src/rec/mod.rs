//! `vinyl-rec`: start, stop, list and snapshot recordings from the pre-roll ring; mark and split
//! a recording's tracks.
//!
//! Built only on the documented flags of `vinyl-preroll` and `vinyl-flac-rec`: a recording is
//! `vinyl-preroll tap --from-frame START | vinyl-flac-rec …`, START being exactly the pre-roll
//! before the ring's head. Parts: [`cli`] (the flags), [`check`] (every usage rule, pure),
//! [`plan`] (the ring's header and the filters' command lines), [`state`] (the run folder, the
//! lock and the state of the running recording), [`runner`] (the pipe between the filters and
//! the detached supervisor `_run`), [`stamp`] (local times), and one file per subcommand:
//! [`start`], [`stop`] (with `status`), [`list`], [`snapshot`], [`tracks`], [`split`],
//! [`confcheck`] (`config`: the whole configuration checked), and
//! [`auto`] (hands-free sides, long-running). The last
//! two work on a finished file and need no configuration.
//!
//! Settings come from the configuration file and the environment ([`crate::config`]), the run
//! folder by the rule shared with `vinyl-up`. How it fails: usage errors (flags, names, tags,
//! durations, the configuration, no run folder) exit 2 before anything is touched; runtime
//! failures exit 1 with one line naming the object (the ring, the recording's file, the state
//! folder) and the step; see `vinyl-rec(1)`.

pub mod auto;
pub mod check;
pub mod cli;
pub mod confcheck;
pub mod list;
pub mod plan;
pub mod runner;
pub mod snapshot;
pub mod split;
pub mod stamp;
pub mod start;
pub mod state;
pub mod stop;
pub mod tracks;

pub use cli::{Command, Opts};

use crate::cli::UsageError;
use crate::config::{self, Config};
use anyhow::Context as _;
use stamp::Stamp;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The tool's name as it starts every message.
pub const TOOL: &str = "vinyl-rec";

/// What the configuration and the environment say, with the defaults applied.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The run folder (see [`config::run_dir_rule`]).
    pub run_dir: PathBuf,
    /// `VINYL_RING`, default `/dev/shm/vinyl-ring`.
    pub ring: PathBuf,
    /// `VINYL_RECORDINGS`, default `~/recordings`.
    pub recordings: PathBuf,
    /// `VINYL_PREROLL` as written, default `30s` (checked like `--preroll`).
    pub preroll: String,
    /// `VINYL_COMPRESSION`, passed to the recorder when set.
    pub compression: Option<String>,
    /// `VINYL_REC_STOP_TIMEOUT` as written (checked by `stop`).
    pub stop_timeout: Option<String>,
    /// `VINYL_REC_SYSTEMD=1`: recordings run as the systemd unit.
    pub systemd: bool,
    /// `VINYL_USER`, default `vinyl`: the unit's user.
    pub user: String,
}

impl Settings {
    /// Reads the configuration ([`Config::discover`]) and the environment.
    pub fn load() -> Result<Settings, UsageError> {
        let cfg = Config::discover()?;
        let home =
            std::env::var_os("HOME").filter(|h| !h.is_empty()).unwrap_or_else(|| "/nonexistent".into());
        Ok(Settings {
            run_dir: config::run_dir(&cfg)?,
            ring: cfg.get("VINYL_RING").map_or_else(|| crate::ring::DEFAULT_RING.into(), PathBuf::from),
            recordings: cfg
                .get("VINYL_RECORDINGS")
                .map_or_else(|| Path::new(&home).join("recordings"), PathBuf::from),
            preroll: cfg.get_str("VINYL_PREROLL")?.unwrap_or_else(|| "30s".into()),
            compression: cfg.get_str("VINYL_COMPRESSION")?,
            stop_timeout: cfg.get_str("VINYL_REC_STOP_TIMEOUT")?,
            systemd: cfg.get_str("VINYL_REC_SYSTEMD")?.as_deref() == Some("1"),
            user: cfg.get_str("VINYL_USER")?.unwrap_or_else(|| "vinyl".into()),
        })
    }

    /// The settings of a long-running tool that starts recordings as its own children
    /// (vinyl-web, vinyl-mqtt), with its `--ring` and `--recordings` flags over the
    /// configuration, and the events file it follows: `--events`, else `VINYL_EVENTS`, else
    /// RUN/events. Its recordings are its children whatever `VINYL_REC_SYSTEMD` says: its unit
    /// may not start units.
    pub fn for_controller(
        cfg: &Config,
        flags: &cli::ControllerArgs,
    ) -> Result<(Settings, PathBuf), UsageError> {
        let mut settings = Settings::load()?;
        settings.systemd = false;
        if let Some(r) = &flags.ring {
            settings.ring = r.clone();
        }
        if let Some(d) = &flags.recordings {
            settings.recordings = d.clone();
        }
        let events = match (&flags.events, cfg.get("VINYL_EVENTS")) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => p.into(),
            (None, None) => settings.run_dir.join("events"),
        };
        Ok((settings, events))
    }
}

/// What `start` and `snapshot` record, checked.
#[derive(Clone, Debug)]
pub struct Target {
    /// The file name without `.flac`.
    pub name: String,
    /// The `--tag` values as given (each checked).
    pub tags: Vec<String>,
    /// The recordings folder.
    pub dir: PathBuf,
    /// The ring.
    pub ring: PathBuf,
}

impl Target {
    /// Checks the shared flags; an absent name becomes `PREFIX-YYYYMMDD-HHMMSS` of `now`.
    pub fn check(s: &Settings, r: &cli::RecordArgs, prefix: &str, now: &Stamp) -> Result<Target, UsageError> {
        let name = match &r.name {
            Some(n) => check::name(n)?,
            None => format!("{prefix}-{}", now.compact()),
        };
        for t in &r.tags {
            check::tag(t)?;
        }
        if let Some(d) = &r.dir {
            check::folder("--dir", d.as_os_str())?;
        }
        Ok(Target {
            name,
            tags: r.tags.clone(),
            dir: r.dir.clone().unwrap_or_else(|| s.recordings.clone()),
            ring: r.ring.clone().unwrap_or_else(|| s.ring.clone()),
        })
    }
}

/// Why a start or a stop cannot be done now: the errors callers branch on (vinyl-web answers them
/// 409), apart from the failures (a ring that is missing, a disk that is full) that are plain
/// errors. Exit 1 from the command line, like any runtime error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A recording is running.
    AlreadyRecording {
        /// Its file.
        path: PathBuf,
        /// When it started (RFC 3339).
        started: String,
    },
    /// No recording is running.
    NotRecording,
    /// The file (or its `.part`) exists: a recording is never overwritten.
    NameTaken(PathBuf),
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::AlreadyRecording { path, started } => write!(
                f,
                "already recording {} (started {started}); stop it with: vinyl-rec stop",
                path.display()
            ),
            Conflict::NotRecording => f.write_str("not recording"),
            Conflict::NameTaken(path) => {
                write!(
                    f,
                    "{}: a recording of that name already exists (choose another --name)",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for Conflict {}

/// `DIR/YYYY-MM/NAME.flac` as an absolute path, its month folder created; refused (exit 1) when
/// the file or its `.part` exists, so a recording is never overwritten.
pub fn recording_path(dir: &Path, name: &str, now: &Stamp) -> anyhow::Result<PathBuf> {
    let month = dir.join(now.month());
    std::fs::create_dir_all(&month).with_context(|| format!("{}: mkdir failed", month.display()))?;
    let path = month.join(format!("{name}.flac"));
    let part = crate::flac::part_path(&path);
    if path.exists() || part.exists() {
        return Err(Conflict::NameTaken(path).into());
    }
    if path.is_absolute() {
        return Ok(path);
    }
    Ok(std::env::current_dir().context("find the current folder")?.join(path))
}

/// Prints one line on stdout (a closed stdout ends the tool quietly, see [`crate::cli::main`]).
pub fn out(line: &str) -> anyhow::Result<()> {
    let mut o = std::io::stdout().lock();
    writeln!(o, "{line}").and_then(|()| o.flush()).context("stdout: write")
}

/// Prints a path as one line on stdout, byte for byte (a path need not be UTF-8).
pub fn out_path(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let mut o = std::io::stdout().lock();
    o.write_all(path.as_os_str().as_bytes())
        .and_then(|()| o.write_all(b"\n"))
        .and_then(|()| o.flush())
        .context("stdout: write")
}

/// Runs the chosen subcommand.
pub fn run(opts: Opts) -> anyhow::Result<()> {
    // The runner needs only its state folder, and the commands on one file only that file: no
    // configuration, so a broken one cannot stop them. Those that read the ring (start, status,
    // snapshot) survive its truncation.
    crate::ring::guard::install().context("install the ring's SIGBUS guard")?;
    match &opts.command {
        Command::Run(o) => runner::run(&o.state),
        Command::Tracks(o) => tracks::tracks(o),
        Command::Split(o) => split::split(o),
        Command::Config(o) => confcheck::config(o.check),
        Command::Start(o) => start::start(&Settings::load()?, o),
        Command::Stop => stop::stop(&Settings::load()?),
        Command::Status => stop::status(&Settings::load()?),
        Command::List(o) => list::list(&Settings::load()?, o.dir.as_deref()),
        Command::Auto(o) => auto::auto(&Settings::load()?, o),
        Command::Snapshot(o) => snapshot::snapshot(&Settings::load()?, o),
    }
}
