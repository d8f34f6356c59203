//! Streaming FLAC writer over flacenc.
//!
//! Not implemented yet.
