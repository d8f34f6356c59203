//! Logging to stderr as `tool: object: message`, one line per state change.
//!
//! Owns the line format and the "say it once" rule: [`StateLog::change`] prints only when the
//! state of an object differs from the last one printed, so a FIFO without a reader or a server
//! that is down produces one line, not one per buffer or per retry. It does not decide what is
//! worth logging, and it never fails: a stderr that cannot be written is ignored.

use std::collections::HashMap;
use std::io::Write;

/// Prints `tool: message` on stderr.
pub fn line(tool: &str, message: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{tool}: {message}");
}

/// Logs `tool: …` on stderr with `format!` syntax: `vlog!("vinyl-tee", "{}: reader gone", path)`.
#[macro_export]
macro_rules! vlog {
    ($tool:expr, $($arg:tt)*) => {
        $crate::log::line($tool, format_args!($($arg)*))
    };
}

/// Remembers the last state printed for each object, so a repeated state is not printed again.
#[derive(Debug, Default)]
pub struct StateLog {
    tool: &'static str,
    last: HashMap<String, String>,
}

impl StateLog {
    /// A state log for `tool` (its name as it appears at the start of every line).
    pub fn new(tool: &'static str) -> Self {
        StateLog { tool, last: HashMap::new() }
    }

    /// Prints `tool: object: state` unless `state` is what was printed last for `object`.
    /// Returns whether it printed.
    pub fn change(&mut self, object: &str, state: &str) -> bool {
        if self.last.get(object).is_some_and(|s| s == state) {
            return false;
        }
        self.last.insert(object.to_string(), state.to_string());
        line(self.tool, format_args!("{object}: {state}"));
        true
    }

    /// The tool name lines start with.
    pub fn tool(&self) -> &'static str {
        self.tool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_state_is_printed_once() {
        let mut log = StateLog::new("t");
        assert!(log.change("a", "down"));
        assert!(!log.change("a", "down"));
        assert!(log.change("b", "down"));
        assert!(log.change("a", "up"));
        assert!(log.change("a", "down"));
    }
}
