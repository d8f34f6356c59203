//! The clap definitions of every binary, in one list, so man pages and shell completions are
//! generated from the same definitions as `--help`.
//!
//! Owns the list of binaries ([`commands`]) and the fixed fields of their manual pages
//! ([`MANUAL`], [`MAN_DATE`]). It does not render anything itself: `tests/docs.rs` renders each
//! command with `clap_mangen` and `clap_complete` (dev-dependencies) and compares the result with
//! the committed `man/*.1` and `completions/*`, or rewrites them when `VINYL_BLESS=1` is set. So a
//! flag changed without regenerating the pages fails the test suite instead of shipping a stale
//! page. It cannot fail: building a clap command only panics on a malformed definition, which
//! clap's own debug assertions catch in any test.
//!
//! The hand-written pages (`vinyl-up(1)` for the shell scripts, `vinyl(7)`) live beside the
//! generated ones in `man/` and are only linted, not generated.

use clap::CommandFactory;

/// The name of the manual the pages belong to (the centre of the page footer/header).
pub const MANUAL: &str = "vinyl manual";

/// The date printed on the generated pages, `YYYY-MM-DD`. Fixed (not today's date) so the pages
/// are reproducible; bump it when the flags change in a way worth dating.
pub const MAN_DATE: &str = "2026-11-24";

/// The clap command of every binary, in topology order: capture, tee, preroll, flac-rec,
/// mp3-icecast, ogg-icecast, rec, listen, web, library, qa, mqtt, snapcast-meta. Each is exactly what the binary's `--help` prints from.
pub fn commands() -> Vec<clap::Command> {
    vec![
        crate::capture::Opts::command(),
        crate::tee::Opts::command(),
        crate::preroll::Opts::command(),
        crate::flacrec::Opts::command(),
        crate::mp3icecast::Opts::command(),
        crate::oggicecast::Opts::command(),
        crate::rec::Opts::command(),
        crate::listen::Opts::command(),
        crate::web::Opts::command(),
        crate::library::Opts::command(),
        crate::qa::Opts::command(),
        crate::mqtt::Opts::command(),
        crate::snapcast::Opts::command(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binary_is_listed_once_with_its_real_name() {
        let names: Vec<String> = commands().iter().map(|c| c.get_name().to_string()).collect();
        assert_eq!(
            names,
            [
                "vinyl-capture",
                "vinyl-tee",
                "vinyl-preroll",
                "vinyl-flac-rec",
                "vinyl-mp3-icecast",
                "vinyl-ogg-icecast",
                "vinyl-rec",
                "vinyl-listen",
                "vinyl-web",
                "vinyl-library",
                "vinyl-qa",
                "vinyl-mqtt",
                "vinyl-snapcast-meta"
            ]
        );
        for name in &names {
            let bin =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin").join(format!("{name}.rs"));
            assert!(bin.exists(), "{}: no such binary source", bin.display());
        }
    }

    #[test]
    fn definitions_are_valid() {
        for cmd in commands() {
            cmd.debug_assert();
        }
    }
}
