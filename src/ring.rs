//! The shared-memory ring, from the `vinyl-ring` crate: every tool reaches it as `vinyl::ring`.
//!
//! Owns nothing: the layout, writer, reader, gap journal and SIGBUS guard live in
//! `crates/ring`, which needs no audio device, codec or CLI library.

pub use vinyl_ring::*;
