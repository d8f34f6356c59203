//! The clap definitions of every binary, in one list, so man pages and shell completions are
//! generated from the same definitions as `--help`.
//!
//! Not implemented yet.
