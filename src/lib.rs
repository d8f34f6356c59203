//! vinyl: small Unix filters that turn a turntable into a live stream and a lossless archive.
//!
//! One ALSA capture feeds two paths that never hurt each other: PCM → MP3 → Icecast2 for
//! listeners, and PCM → a shared-memory pre-roll ring → FLAC files for the archive. Every tool is
//! a thin binary in `src/bin/` over one module here; they talk to each other only through raw PCM
//! on pipes and through the ring's documented layout, so each can be run, restarted and tested
//! alone.
//!
//! Shared vocabulary: [`pcm`] (sample formats, `--rate/--channels/--format`, durations, whole-frame
//! reading), [`input`] (waiting for, batching and reading PCM input), [`signals`] (SIGTERM/SIGINT/SIGHUP/SIGUSR1 as flags), [`notify`] (systemd notify protocol),
//! [`log`] (one line per state change on stderr), [`backoff`] (the delays between reconnections), [`time`] (RFC 3339 times), [`size`] (sizes in
//! bytes), [`config`] (the configuration file), [`args`] (flags and the `VINYL_*` keys behind
//! them), [`http`] (header fields and percent-encoding, for both HTTP ends), [`lines`] (bounded
//! lines out of a byte stream) and [`cli`] (error → exit status) and [`turntable`] (the state the events add up to).
//!
//! Documentation generated from the flag definitions: [`docs`].
//!
//! Tools: [`capture`], [`tee`], [`ring`] + [`preroll`], [`flac`] + [`flacrec`], [`mp3`] +
//! [`icecast`] + [`mp3icecast`], [`web`] (the page, the control API and live listening),
//! [`library`] (the collection), [`qa`] (the turntable's health: speed, wow and flutter, separation,
//! noise and clicks).
#![deny(missing_docs)]

pub mod args;
pub mod backoff;
pub mod capture;
pub mod cli;
pub mod config;
pub mod docs;
pub mod events;
pub mod fifo;
pub mod flac;
pub mod flacrec;
pub mod http;
pub mod icecast;
pub mod input;
pub mod library;
pub mod lines;
pub mod listen;
pub mod log;
pub mod mp3;
pub mod mp3icecast;
pub mod mqtt;
pub mod notify;
pub mod ogg;
pub mod oggicecast;
pub mod opus;
pub mod pcm;
pub mod preroll;
pub mod qa;
pub mod rec;
pub mod ring;
pub mod signals;
pub mod size;
pub mod snapcast;
pub mod tee;
pub mod time;
pub mod turntable;
pub mod web;
