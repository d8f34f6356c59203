//! Process plumbing shared by every binary: turning a tool's result into an exit status.
//!
//! Owns the exit-status contract (0 success, 1 runtime failure, 2 usage error, see `vinyl(7)`) and
//! the rule that a closed stdout is a normal end. It does not parse flags (each tool's `cli`
//! module does, with clap, which already exits 2 on malformed flags) and never prints anything
//! but the one final error line, through [`crate::log`]: a stderr that cannot be written (a full
//! disk holding the log, `2>/dev/full`) loses the line but never changes the exit status.

use std::io;
use std::process::ExitCode;

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status for a runtime failure (device gone, disk full, wrong credentials…).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for a usage error (bad flag value, conflicting options).
pub const EXIT_USAGE: u8 = 2;

/// An error in what the user asked for, as opposed to what happened at run time: exits 2.
///
/// Wrap it in `anyhow::Error` (`return Err(UsageError::new("…").into())`) and [`main`] maps it.
#[derive(Debug)]
pub struct UsageError(pub String);

impl UsageError {
    /// A usage error with a message that says what is accepted.
    pub fn new(msg: impl Into<String>) -> Self {
        UsageError(msg.into())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// An error that asks for a specific, documented exit status.
#[derive(Debug)]
pub struct ExitStatusError {
    /// The exit status the process should end with.
    pub status: u8,
    /// The one-line message printed after the tool's name.
    pub message: String,
}

impl std::fmt::Display for ExitStatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitStatusError {}

/// True when the error is, at its root, a write to a closed pipe: the reader left, which for a
/// filter is a normal end rather than a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<nix::errno::Errno>() == Some(&nix::errno::Errno::EPIPE)
    })
}

/// Maps a tool's result to an exit status, printing `tool: message` once on failure.
///
/// Leans towards quiet success for a broken pipe (the downstream reader left) and towards exit 1
/// for anything it does not recognise.
pub fn main(tool: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(err) => {
            if let Some(usage) = err.downcast_ref::<UsageError>() {
                crate::log::line(tool, format_args!("{usage}"));
                return ExitCode::from(EXIT_USAGE);
            }
            if let Some(status) = err.downcast_ref::<ExitStatusError>() {
                crate::log::line(tool, format_args!("{status}"));
                return ExitCode::from(status.status);
            }
            if is_broken_pipe(&err) {
                return ExitCode::from(EXIT_OK);
            }
            crate::log::line(tool, format_args!("{err:#}"));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let err = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("stdout: write");
        assert!(is_broken_pipe(&err));
        let other = anyhow::Error::from(io::Error::from(io::ErrorKind::NotFound)).context("x");
        assert!(!is_broken_pipe(&other));
    }

    #[test]
    fn usage_error_exits_2() {
        let code = main("t", Err(UsageError::new("bad").into()));
        assert_eq!(format!("{code:?}"), format!("{:?}", ExitCode::from(2)));
    }
}
