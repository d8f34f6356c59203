//! MP3 encoding with LAME for a stream.
//!
//! Not implemented yet.
