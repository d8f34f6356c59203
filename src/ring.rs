//! The shared-memory pre-roll ring: layout, writer and readers.
//!
//! Not implemented yet.
