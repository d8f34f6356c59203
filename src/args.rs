//! The command line with the configuration's keys behind it: how every tool parses its flags.
//!
//! Owns the one rule that joins a tool's flags to the `VINYL_*` keys of `vinyl.conf` (see
//! `vinyl(7)`): a flag that declares a key through clap's `env` takes the key's value when the
//! flag is not given, so a systemd unit is a plain `ExecStart=/usr/local/bin/vinyl-capture` with
//! `EnvironmentFile=`, and `vinyl-up` passes the same (few) flags. On top of clap's own handling,
//! the configuration's rules apply:
//! - a key set to the empty string counts as unset (as `${KEY:-default}` does in the scripts and
//!   [`crate::config::Config::get`] does in `vinyl-rec`), so the flag's default applies;
//! - a flag given on the command line beats every key of a flag it conflicts with (a key is a
//!   default, never a second flag: `--output FILE` with `VINYL_ICECAST_URL` set is not a
//!   conflict).
//!
//! It does not decide which flag reads which key (each tool's `cli` module does) and does not read
//! the configuration file (systemd's `EnvironmentFile=` and `vinyl-up` put it in the
//! environment). How it fails: as clap does, with the usage error's exit status 2 and, for a bad
//! key, clap's line naming the variable.

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use std::collections::BTreeSet;
use std::ffi::OsString;

/// Parses this process's command line into `T`, or prints clap's message and exits (2 for a
/// usage error, 0 for `--help` and `--version`).
pub fn parse<T: clap::Parser>() -> T {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Parses `argv` (program name first) into `T` under the rules above.
pub fn try_parse_from<T, I, A>(argv: I) -> Result<T, clap::Error>
where
    T: clap::Parser,
    I: IntoIterator<Item = A>,
    A: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    // What the command line gives, found without any key: a first pass that never fails.
    let given = bare(T::command().ignore_errors(true)).try_get_matches_from(&argv)?;
    let mut cmd = keys_as_defaults(T::command(), Some(&given));
    let matches = cmd.try_get_matches_from_mut(&argv)?;
    T::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

/// `cmd` with the keys that must not act removed: the empty ones, and those of flags that
/// conflict with a flag the command line gives. Recurses into subcommands.
fn keys_as_defaults(cmd: Command, given: Option<&ArgMatches>) -> Command {
    let explicit: BTreeSet<String> = cmd
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .filter(|id| {
            given.is_some_and(|m| m.try_contains_id(id).unwrap_or(false))
                && given.and_then(|m| m.value_source(id)) == Some(ValueSource::CommandLine)
        })
        .collect();
    let beaten: BTreeSet<String> = cmd
        .get_arguments()
        .filter(|a| explicit.contains(a.get_id().as_str()))
        .flat_map(|a| cmd.get_arg_conflicts_with(a))
        .map(|a| a.get_id().to_string())
        .collect();
    let cmd = without_env(cmd, &mut |id, value| value.is_empty() || beaten.contains(id));
    let sub = given.and_then(ArgMatches::subcommand);
    cmd.mut_subcommands(|s| {
        let m = sub.filter(|(name, _)| *name == s.get_name()).map(|(_, m)| m);
        keys_as_defaults(s, m)
    })
}

/// `cmd` and its subcommands without any key.
fn bare(cmd: Command) -> Command {
    without_env(cmd, &mut |_, _| true).mut_subcommands(bare)
}

/// `cmd` with the key of every argument for which `drop(id, value)` says so removed (only
/// arguments whose key is set are asked; subcommands untouched).
fn without_env(mut cmd: Command, drop: &mut dyn FnMut(&str, &std::ffi::OsStr) -> bool) -> Command {
    let dropped: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| {
            let value = std::env::var_os(a.get_env()?)?;
            drop(a.get_id().as_str(), &value).then(|| a.get_id().to_string())
        })
        .collect();
    for id in dropped {
        cmd = cmd.mut_arg(id, |a| a.env(None));
    }
    cmd
}
