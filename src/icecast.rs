//! Icecast2 source client: connection state machine.
//!
//! Not implemented yet.
