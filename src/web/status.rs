//! `GET /status` as types: the one definition of what vinyl-web answers there (and of its parts
//! that the SSE stream repeats: the turntable, the recording).
//!
//! Owns the keys and their shapes; serde writes them. It does not gather the values (the routes,
//! the hub, the control and the latency reports do) and cannot fail. Paths are shown as names
//! relative to their folders: `/status` answers anyone who can reach it.

use crate::turntable::Turntable;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The whole answer of `/status`.
#[derive(Debug, Serialize)]
pub struct Status {
    /// `vinyl-web`.
    pub tool: &'static str,
    /// The package's version.
    pub version: &'static str,
    /// The components vinyl-up started, by name, with whether each runs.
    pub components: BTreeMap<&'static str, Component>,
    /// The ring.
    pub ring: Ring,
    /// The recording.
    pub recording: Recording,
    /// The last level event, as the listener wrote it (`null` before the first).
    pub levels: Option<Value>,
    /// The turntable.
    pub turntable: Turntable,
    /// The events file.
    pub events: Events,
    /// Listening clients now.
    pub listeners: usize,
    /// SSE clients now.
    pub sse_clients: usize,
    /// The page's latency reports.
    pub latency: Latency,
    /// The Icecast mounts the page's Listen menu offers (those whose key is set).
    pub mounts: Vec<Mount>,
}

/// One Icecast mount a listener may open.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Mount {
    /// What the menu calls it: `MP3`, `Ogg FLAC`, `Opus`.
    pub name: &'static str,
    /// The listener URL, `http://HOST:PORT/MOUNT`.
    pub url: String,
    /// What the mount serves: `audio/mpeg` (which the page plays through Media Source
    /// Extensions, `mount.js`) or `audio/ogg`.
    pub content_type: &'static str,
}

/// One component.
#[derive(Debug, Serialize)]
pub struct Component {
    /// Whether its PID runs its program.
    pub running: bool,
}

/// The ring: absent, or its format and state.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Ring {
    /// No ring could be read at the path.
    Absent {
        /// The file's name.
        name: String,
        /// Always false.
        present: bool,
    },
    /// The ring's header and its newest gaps.
    Present(Box<RingState>),
}

/// A ring that is there.
#[derive(Debug, Serialize)]
pub struct RingState {
    /// The file's name.
    pub name: String,
    /// Always true.
    pub present: bool,
    /// The next frame to be written.
    pub head: u64,
    /// The timeline's id, as a string: it is above 2^53, where JSON readers that use doubles
    /// change digits.
    pub timeline: String,
    /// Whether a writer holds the ring.
    pub writer_alive: bool,
    /// Frames a second.
    pub rate: u32,
    /// Channels.
    pub channels: u16,
    /// The sample format's name.
    pub format: &'static str,
    /// The history the ring guarantees, in frames.
    pub capacity_frames: u64,
    /// Gaps since the timeline began.
    pub gap_count: u64,
    /// Their silent frames.
    pub gap_frames: u64,
    /// The newest ten gaps, newest first.
    pub gaps: Vec<Gap>,
}

/// One gap of the ring's journal.
#[derive(Debug, Serialize)]
pub struct Gap {
    /// Its first frame.
    pub first: u64,
    /// Its length in frames.
    pub frames: u64,
    /// Why it happened.
    pub cause: &'static str,
    /// Whether its length is exact.
    pub exact: bool,
}

/// The recording: none, or the one running.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Recording {
    /// Nothing records.
    Idle {
        /// Always false.
        recording: bool,
    },
    /// A recording runs.
    Running(Box<Running>),
}

impl Recording {
    /// No recording.
    pub fn idle() -> Recording {
        Recording::Idle { recording: false }
    }

    /// The file being written, relative to the recordings folder (`None` when idle).
    pub fn path(&self) -> Option<&str> {
        match self {
            Recording::Idle { .. } => None,
            Recording::Running(r) => Some(&r.path),
        }
    }
}

/// A running recording.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Running {
    /// Always true.
    pub recording: bool,
    /// The file, relative to the recordings folder.
    pub path: String,
    /// Its name without the extension.
    pub name: Option<String>,
    /// When it started (RFC 3339).
    pub started: Option<String>,
    /// Its first frame on the ring's timeline.
    pub start_frame: u64,
    /// Frames so far, from the ring's head.
    pub frames: Option<u64>,
    /// The same in seconds.
    pub seconds: Option<f64>,
    /// The file's size so far.
    pub bytes: Option<u64>,
}

/// The events file.
#[derive(Debug, Serialize)]
pub struct Events {
    /// Its name.
    pub name: String,
    /// Lines read.
    pub lines: u64,
    /// Lines that were not whole events.
    pub bad_lines: u64,
}

/// The page's latency reports (`null`s before the first).
#[derive(Debug, Serialize)]
pub struct Latency {
    /// How many reports.
    pub reports: usize,
    /// Median latency, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// Largest, ms.
    pub max_ms: Option<f64>,
    /// Median buffered audio, ms.
    pub buffer_p50_ms: Option<f64>,
    /// The last report's output latency, ms.
    pub output_latency_ms: Option<f64>,
}
