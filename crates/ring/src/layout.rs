//! The ring file's layout, version 2: a 4096-byte header of atomics (with the gap journal), then
//! the frame slots.
//!
//! Owns the byte offsets of every header field (fixed by `offset_of!` assertions below, and
//! described for humans in `docs/ring-format.md`), the rule that sizes the physical ring
//! ([`slot_frames_for`]), the validation of a mapped header ([`Config::from_header`]) and the
//! futex and clock calls on the header's words. It does not open, lock or map files: the writer
//! and reader modules do. Validation fails with a [`LayoutError`] that says which field differs.

use crate::spec::{PcmSpec, SampleFormat};
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The first 8 bytes of every ring file, read as a little-endian `u64`: the ASCII `VNYLRING`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"VNYLRING");

/// The layout version this code reads and writes. Bumped whenever a field moves or changes
/// meaning; readers refuse any other.
/// Version 2 added the timeline id, the writers count and the gap journal, and made `generation`
/// the timeline's (a restarted writer continues it).
pub const VERSION: u32 = 2;

/// Entries of the gap journal: the last this many gaps are kept.
pub const JOURNAL_SLOTS: usize = 64;

/// Bytes reserved for the header; frame slots start here (one 4 KiB page).
pub const HEADER_BYTES: u64 = 4096;

/// Header `flags` bit: the file was replaced at its path by a ring of another format or
/// capacity; its readers must stop (a new tap opens the new file).
pub const FLAG_RETIRED: u32 = 1;

/// The header at offset 0 of the ring file, in the machine's byte order (little-endian on every
/// machine vinyl supports). Every field is an atomic so the writer and any number of readers in
/// other processes can use it through a shared mapping: the writer stores with `Release`, readers
/// load with `Acquire`.
///
/// The fields up to `slot_frames` are written once, before `magic`, when the ring is created, and
/// never change afterwards; the rest change while a writer runs.
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    /// [`MAGIC`]; written last when a ring is created, so a file whose magic is right is complete.
    pub magic: AtomicU64,
    /// [`VERSION`] of the layout.
    pub version: AtomicU32,
    /// Offset of the first frame slot in bytes: [`HEADER_BYTES`].
    pub header_bytes: AtomicU32,
    /// Sample format code: 1 = `s16le`, 2 = `s24_3le` (see [`format_code`]).
    pub format: AtomicU32,
    /// Frames per second, e.g. 48000.
    pub rate: AtomicU32,
    /// Interleaved channels per frame, e.g. 2.
    pub channels: AtomicU32,
    /// Bytes per frame (sample bytes × channels), e.g. 4.
    pub frame_bytes: AtomicU32,
    /// Frames of history the ring guarantees: the oldest readable frame is
    /// `max(0, head - capacity_frames)`. E.g. 1,440,000 (30 s at 48 kHz).
    pub capacity_frames: AtomicU64,
    /// Frame slots in the file (≥ capacity): the slack beyond the capacity lets a reader that
    /// starts at the oldest guaranteed frame copy it before the writer overwrites it.
    pub slot_frames: AtomicU64,
    /// Timeline generation: 1 for a new ring, +1 when a ring is replaced by one of another
    /// format or capacity. A restarted writer of the same format continues the timeline and
    /// keeps it.
    pub generation: AtomicU64,
    /// Process id of the current (or last) writer, 0 once it finished cleanly.
    pub writer_pid: AtomicU32,
    /// Bit set: [`FLAG_RETIRED`].
    pub flags: AtomicU32,
    /// Frames of the timeline so far: the absolute number of the next frame. The newest frame is
    /// `head - 1`. Stored with `Release` after the frames' bytes.
    pub head: AtomicU64,
    /// The end of the frames being written: set to `head + n` before the writer touches the
    /// slots of `n` new frames. Any frame below `claim - slot_frames` may have been overwritten.
    pub claim: AtomicU64,
    /// Wall-clock time of frame 0 in nanoseconds since the Unix epoch (UTC), estimated when the
    /// first frames arrive; 0 while no frame was written.
    pub frame0_unix_ns: AtomicU64,
    /// `CLOCK_MONOTONIC` time in nanoseconds of the last publication of `head` (for latency
    /// measurement and "last write" displays).
    pub last_write_mono_ns: AtomicU64,
    /// Futex word: incremented after every publication of `head` and every generation change.
    pub wake: AtomicU32,
    /// Readers currently sleeping on `wake`; the writer calls `FUTEX_WAKE` only when it is not 0.
    pub waiters: AtomicU32,
    /// Writers that have written this timeline: 1 for the one that created it, +1 for each
    /// restart that continued it.
    pub writers: AtomicU32,
    /// Sequence word of the gap journal: odd while the writer appends an entry (the entry,
    /// `gap_count` and `gap_frames` change together), even otherwise. Readers that need the totals
    /// and the entries of one moment retry while it is odd or changed (see [`journal_snapshot`]).
    /// Writers before it existed left it 0, which readers take as "never changing".
    pub gap_seq: AtomicU32,
    /// The timeline's id: the wall-clock time of its creation in Unix nanoseconds, unique per
    /// timeline in practice. A tap can pin it (`--timeline`).
    pub timeline: AtomicU64,
    /// Gaps journaled since the timeline began; entry `i` lives in `journal[i % JOURNAL_SLOTS]`.
    /// Stored with `Release` after the entry's fields.
    pub gap_count: AtomicU64,
    /// Frames of silence written for lost audio since the timeline began.
    pub gap_frames: AtomicU64,
    /// The last [`JOURNAL_SLOTS`] gaps.
    pub journal: [GapSlot; JOURNAL_SLOTS],
    /// One past the last frame of the newest gap that left the journal (every older one ends
    /// before it too), 0 while none left it or when the writer predates this field. A reader
    /// that missed entries knows they all lie before it.
    pub evicted_end: AtomicU64,
}

/// One journaled gap, in the header: frames that were lost and are present as digital silence.
#[repr(C)]
#[derive(Debug)]
pub struct GapSlot {
    /// The first silent frame (a timeline frame number).
    pub first: AtomicU64,
    /// Silent frames, e.g. 123,136 for 2.565 s at 48 kHz.
    pub frames: AtomicU64,
    /// Wall-clock time the gap was journaled, Unix nanoseconds.
    pub unix_ns: AtomicU64,
    /// Bits 0–7: the cause code ([`GapCause`]); bit 8: the length is exact (else estimated).
    pub info: AtomicU64,
}

const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(Header, magic) == 0);
    assert!(offset_of!(Header, version) == 8);
    assert!(offset_of!(Header, header_bytes) == 12);
    assert!(offset_of!(Header, format) == 16);
    assert!(offset_of!(Header, rate) == 20);
    assert!(offset_of!(Header, channels) == 24);
    assert!(offset_of!(Header, frame_bytes) == 28);
    assert!(offset_of!(Header, capacity_frames) == 32);
    assert!(offset_of!(Header, slot_frames) == 40);
    assert!(offset_of!(Header, generation) == 48);
    assert!(offset_of!(Header, writer_pid) == 56);
    assert!(offset_of!(Header, flags) == 60);
    assert!(offset_of!(Header, head) == 64);
    assert!(offset_of!(Header, claim) == 72);
    assert!(offset_of!(Header, frame0_unix_ns) == 80);
    assert!(offset_of!(Header, last_write_mono_ns) == 88);
    assert!(offset_of!(Header, wake) == 96);
    assert!(offset_of!(Header, waiters) == 100);
    assert!(offset_of!(Header, writers) == 104);
    assert!(offset_of!(Header, gap_seq) == 108);
    assert!(offset_of!(Header, timeline) == 112);
    assert!(offset_of!(Header, gap_count) == 120);
    assert!(offset_of!(Header, gap_frames) == 128);
    assert!(offset_of!(Header, journal) == 136);
    assert!(offset_of!(GapSlot, first) == 0);
    assert!(offset_of!(GapSlot, frames) == 8);
    assert!(offset_of!(GapSlot, unix_ns) == 16);
    assert!(offset_of!(GapSlot, info) == 24);
    assert!(std::mem::size_of::<GapSlot>() == 32);
    assert!(offset_of!(Header, evicted_end) == 136 + 32 * JOURNAL_SLOTS);
    assert!(std::mem::size_of::<Header>() == 144 + 32 * JOURNAL_SLOTS);
    assert!(std::mem::size_of::<Header>() as u64 <= HEADER_BYTES);
};

/// The code of a sample format in the header's `format` field.
pub fn format_code(format: SampleFormat) -> u32 {
    match format {
        SampleFormat::S16Le => 1,
        SampleFormat::S24_3Le => 2,
    }
}

/// The sample format of a header code, if it is one this version knows.
pub fn format_from_code(code: u32) -> Option<SampleFormat> {
    match code {
        1 => Some(SampleFormat::S16Le),
        2 => Some(SampleFormat::S24_3Le),
        _ => None,
    }
}

/// Frame slots allocated for a guaranteed `capacity` at `rate`: the capacity plus a slack of
/// 10 % of it, but at least 2 seconds. For 30 s that is 33 s; for 30 min, 33 min.
///
/// The slack is time a reader may spend between choosing its first frame and copying it (a
/// `vinyl-rec` that read the head tens of ms before its tap started, a tap asked for the oldest
/// guaranteed frame) without losing anything.
pub fn slot_frames_for(capacity: u64, rate: u32) -> u64 {
    capacity.saturating_add((capacity / 10).max(2 * rate as u64))
}

/// The largest capacity a writer accepts: 24 hours (about 16 GiB of 48 kHz stereo s16le, in
/// memory). A sanity bound, far beyond a side, so every size computation stays in range.
pub const MAX_CAPACITY_SECONDS: u64 = 24 * 3600;

/// Checks a capacity asked for with `flag` (`--ring-capacity`, `--capacity`): more than 0 frames
/// and at most [`MAX_CAPACITY_SECONDS`] at `rate`. The message names the flag, the value and the
/// bound, for a usage error.
pub fn check_capacity(flag: &str, asked: &dyn fmt::Display, frames: u64, rate: u32) -> Result<u64, String> {
    if frames == 0 {
        return Err(format!("{flag} {asked} holds no frame: give a positive duration, e.g. 30s or 30m"));
    }
    if frames > MAX_CAPACITY_SECONDS * rate as u64 {
        return Err(format!(
            "{flag} {asked} is more than the 24h a ring may hold (it must fit in memory): give at most 24h"
        ));
    }
    Ok(frames)
}

/// The immutable part of a ring's header, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Sample format, rate and channels of the frames.
    pub spec: PcmSpec,
    /// Guaranteed history in frames.
    pub capacity_frames: u64,
    /// Physical frame slots (capacity + slack).
    pub slot_frames: u64,
}

impl Config {
    /// The configuration of a new ring holding `capacity_frames` of `spec`.
    pub fn new(spec: PcmSpec, capacity_frames: u64) -> Self {
        Config { spec, capacity_frames, slot_frames: slot_frames_for(capacity_frames, spec.rate) }
    }

    /// Total file size in bytes: header plus slots; `u64::MAX` when that does not fit (a
    /// configuration [`check_capacity`] refuses; creating such a ring fails).
    pub fn file_bytes(&self) -> u64 {
        self.slot_frames
            .checked_mul(self.spec.frame_bytes() as u64)
            .and_then(|b| b.checked_add(HEADER_BYTES))
            .unwrap_or(u64::MAX)
    }

    /// Reads and checks the header of a mapped file of `file_len` bytes: magic, version, a known
    /// format, sane rate/channels, consistent frame size and a file large enough for its slots.
    pub fn from_header(h: &Header, file_len: u64) -> Result<Config, LayoutError> {
        let magic = h.magic.load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(LayoutError::NotARing { magic });
        }
        let version = h.version.load(Ordering::Acquire);
        if version != VERSION {
            return Err(LayoutError::Version { found: version });
        }
        let damaged = |what: String| Err(LayoutError::Damaged(what));
        let header_bytes = h.header_bytes.load(Ordering::Acquire);
        if header_bytes as u64 != HEADER_BYTES {
            return damaged(format!("header size {header_bytes}, expected {HEADER_BYTES}"));
        }
        let code = h.format.load(Ordering::Acquire);
        let Some(format) = format_from_code(code) else {
            return damaged(format!("unknown sample format code {code}"));
        };
        let rate = h.rate.load(Ordering::Acquire);
        let channels = h.channels.load(Ordering::Acquire);
        if !(1..=768_000).contains(&rate) || !(1..=64).contains(&channels) {
            return damaged(format!("{rate} Hz, {channels} channels"));
        }
        let spec = PcmSpec { rate, channels: channels as u16, format };
        let frame_bytes = h.frame_bytes.load(Ordering::Acquire);
        if frame_bytes as usize != spec.frame_bytes() {
            return damaged(format!("{frame_bytes} bytes a frame for {spec}"));
        }
        let capacity_frames = h.capacity_frames.load(Ordering::Acquire);
        let slot_frames = h.slot_frames.load(Ordering::Acquire);
        if capacity_frames == 0 || slot_frames < capacity_frames {
            return damaged(format!("capacity {capacity_frames} frames in {slot_frames} slots"));
        }
        let cfg = Config { spec, capacity_frames, slot_frames };
        let need = slot_frames.checked_mul(frame_bytes as u64).and_then(|b| b.checked_add(HEADER_BYTES));
        if need.is_none_or(|n| n > file_len) {
            return damaged(format!("{slot_frames} slots need more than the file's {file_len} bytes"));
        }
        Ok(cfg)
    }

    /// Writes the immutable fields into a fresh header (not the magic: see [`publish_magic`]).
    pub fn write_to(&self, h: &Header) {
        h.version.store(VERSION, Ordering::Relaxed);
        h.header_bytes.store(HEADER_BYTES as u32, Ordering::Relaxed);
        h.format.store(format_code(self.spec.format), Ordering::Relaxed);
        h.rate.store(self.spec.rate, Ordering::Relaxed);
        h.channels.store(self.spec.channels as u32, Ordering::Relaxed);
        h.frame_bytes.store(self.spec.frame_bytes() as u32, Ordering::Relaxed);
        h.capacity_frames.store(self.capacity_frames, Ordering::Relaxed);
        h.slot_frames.store(self.slot_frames, Ordering::Relaxed);
    }

    /// A human description: `s16le 48000 Hz 2 ch, capacity 30.000s (1440000 frames)`.
    pub fn describe(&self) -> String {
        format!("{}, capacity {}", self.spec, self.spec.describe_frames(self.capacity_frames))
    }
}

/// The largest head a sane ring can have: 2^62 frames (over 190,000 years at 768 kHz). A header
/// beyond it is damaged, not old.
pub const MAX_HEAD: u64 = 1 << 62;

/// Checks the header fields that change while a writer runs, against each other and against the
/// immutable ones: `head ≤ claim ≤ head + slot_frames`, `head` below [`MAX_HEAD`]. A reader calls
/// it on every load it acts on, so a corrupt or hostile header is refused instead of obeyed.
pub fn check_dynamic(h: &Header, cfg: &Config) -> Result<(u64, u64), LayoutError> {
    // A consistent pair: head, claim, then head again unchanged. A writer raises claim by at most
    // the slots before it publishes head, so a consistent pair has head <= claim <= head + slots.
    // A writer so busy that head moves between every pair of loads leaves only the head's bound
    // to check (a static, hostile header always yields a consistent pair).
    let mut pair = None;
    for _ in 0..8 {
        let head = h.head.load(Ordering::Acquire);
        let claim = h.claim.load(Ordering::Acquire);
        if h.head.load(Ordering::Acquire) == head {
            pair = Some((head, claim));
            break;
        }
    }
    let (head, claim) = pair.unwrap_or_else(|| {
        let head = h.head.load(Ordering::Acquire);
        (head, head.max(h.claim.load(Ordering::Acquire)))
    });
    if head >= MAX_HEAD {
        return Err(LayoutError::Damaged(format!("head {head} is beyond any possible timeline")));
    }
    if claim < head || claim - head > cfg.slot_frames {
        return Err(LayoutError::Damaged(format!(
            "claim {claim} is not within head {head} .. head + {} slots",
            cfg.slot_frames
        )));
    }
    Ok((head, claim))
}

/// Why frames are missing from the timeline (and present as silence).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GapCause {
    /// The capture did not read in time and the device discarded audio (an ALSA overrun, or a
    /// `--realtime` device that fell more than its buffer behind).
    Overrun,
    /// No writer ran: the time between one writer's last frame and the next one's first.
    WriterRestart,
    /// The device was suspended, then resumed.
    Suspend,
}

impl GapCause {
    /// The code stored in [`GapSlot::info`].
    pub fn code(self) -> u64 {
        match self {
            GapCause::Overrun => 1,
            GapCause::WriterRestart => 2,
            GapCause::Suspend => 3,
        }
    }

    /// The cause of a stored code.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(GapCause::Overrun),
            2 => Some(GapCause::WriterRestart),
            3 => Some(GapCause::Suspend),
            _ => None,
        }
    }

    /// The name used in logs, `info --json` and the `VINYL_GAPS` tag: `overrun`,
    /// `writer-restart`, `suspend`.
    pub fn name(self) -> &'static str {
        match self {
            GapCause::Overrun => "overrun",
            GapCause::WriterRestart => "writer-restart",
            GapCause::Suspend => "suspend",
        }
    }
}

/// Bit of [`GapSlot::info`]: the gap's length is exact (else estimated from the clock).
const GAP_EXACT: u64 = 1 << 8;

/// One gap of the timeline: `frames` frames from `first` were lost and are digital silence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The first silent frame.
    pub first: u64,
    /// Silent frames.
    pub frames: u64,
    /// Why.
    pub cause: GapCause,
    /// True when the length is exact, false when it was estimated from the monotonic clock.
    pub exact: bool,
    /// Wall-clock time it was journaled, Unix nanoseconds.
    pub unix_ns: u64,
}

impl Gap {
    /// One past the last silent frame.
    pub fn end(&self) -> u64 {
        self.first.saturating_add(self.frames)
    }

    /// `exact` or `estimated`.
    pub fn accuracy(&self) -> &'static str {
        if self.exact { "exact" } else { "estimated" }
    }
}

/// Appends `gap` to the journal (the writer only, before it writes the silence): the entry's
/// fields, `gap_frames`, then `gap_count` with `Release`, all inside one odd phase of `gap_seq`.
pub fn journal_push(h: &Header, gap: &Gap) {
    let seq = h.gap_seq.load(Ordering::Relaxed);
    h.gap_seq.store(seq.wrapping_add(1) | 1, Ordering::Relaxed);
    std::sync::atomic::fence(Ordering::Release);
    let n = h.gap_count.load(Ordering::Relaxed);
    let slot = &h.journal[(n % JOURNAL_SLOTS as u64) as usize];
    if n >= JOURNAL_SLOTS as u64 {
        let evicted = slot.first.load(Ordering::Relaxed).saturating_add(slot.frames.load(Ordering::Relaxed));
        h.evicted_end.store(evicted, Ordering::Relaxed);
    }
    slot.first.store(gap.first, Ordering::Relaxed);
    slot.frames.store(gap.frames, Ordering::Relaxed);
    slot.unix_ns.store(gap.unix_ns, Ordering::Relaxed);
    slot.info.store(gap.cause.code() | if gap.exact { GAP_EXACT } else { 0 }, Ordering::Relaxed);
    h.gap_frames.fetch_add(gap.frames, Ordering::Relaxed);
    h.gap_count.store(n + 1, Ordering::Release);
    h.gap_seq.store((seq.wrapping_add(1) | 1).wrapping_add(1), Ordering::Release);
}

/// The journal's gaps, oldest first: only entries that were complete before and still intact
/// after the copy (the writer may append while this runs). Entries with an unknown cause or
/// past any possible head are damaged and left out.
pub fn journal_read(h: &Header) -> Vec<Gap> {
    journal_entries(h).into_iter().map(|(_, g)| g).collect()
}

/// [`journal_read`] with each entry's index (the `gap_count` it was appended at).
fn journal_entries(h: &Header) -> Vec<(u64, Gap)> {
    let before = h.gap_count.load(Ordering::Acquire);
    let from = before.saturating_sub(JOURNAL_SLOTS as u64);
    let mut gaps: Vec<(u64, Gap)> = (from..before)
        .filter_map(|i| {
            let slot = &h.journal[(i % JOURNAL_SLOTS as u64) as usize];
            let info = slot.info.load(Ordering::Relaxed);
            let gap = Gap {
                first: slot.first.load(Ordering::Relaxed),
                frames: slot.frames.load(Ordering::Relaxed),
                cause: GapCause::from_code(info & 0xff)?,
                exact: info & GAP_EXACT != 0,
                unix_ns: slot.unix_ns.load(Ordering::Relaxed),
            };
            Some((i, gap))
        })
        .collect();
    std::sync::atomic::fence(Ordering::Acquire);
    let after = h.gap_count.load(Ordering::Relaxed);
    let intact_from = after.saturating_sub(JOURNAL_SLOTS as u64);
    gaps.retain(|(i, g)| *i >= intact_from && g.frames > 0 && g.end() < MAX_HEAD);
    gaps
}

/// The gap journal and its totals at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journal {
    /// The head, loaded before everything else: every entry at index `count` or later (appended
    /// after this snapshot) starts at or after it.
    pub head: u64,
    /// Gaps journaled since the timeline began (`gap_count`).
    pub count: u64,
    /// Their frames (`gap_frames`).
    pub frames: u64,
    /// The entries still held, oldest first, each with its index (`count - 64 .. count` when
    /// none is damaged).
    pub entries: Vec<(u64, Gap)>,
    /// `evicted_end`: every gap that left the journal ends at or before it; 0 when unknown.
    pub evicted_end: u64,
}

/// The journal and its totals as they were at one moment, consistent with each other (retried
/// while the writer appends; after many retries, the last copy, which can only be off by the
/// one gap being appended).
pub fn journal_snapshot(h: &Header) -> Journal {
    let mut last = None;
    for _ in 0..1000 {
        let head = h.head.load(Ordering::Acquire);
        let seq = h.gap_seq.load(Ordering::Acquire);
        let count = h.gap_count.load(Ordering::Acquire);
        let frames = h.gap_frames.load(Ordering::Acquire);
        let entries = journal_entries(h);
        let evicted_end = h.evicted_end.load(Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Acquire);
        let j = Journal { head, count, frames, entries, evicted_end };
        if seq % 2 == 0
            && h.gap_seq.load(Ordering::Relaxed) == seq
            && h.gap_count.load(Ordering::Relaxed) == count
        {
            return j;
        }
        last = Some(j);
        std::thread::yield_now();
    }
    last.expect("at least one try")
}

/// Makes a fully written header visible: stores [`MAGIC`] with `Release`.
pub fn publish_magic(h: &Header) {
    h.magic.store(MAGIC, Ordering::Release);
}

/// Why a file is not a ring this code can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The file is smaller than a header.
    TooSmall {
        /// The file's size in bytes.
        len: u64,
    },
    /// The first 8 bytes are not [`MAGIC`].
    NotARing {
        /// What was found instead.
        magic: u64,
    },
    /// A ring of another layout version.
    Version {
        /// The version found.
        found: u32,
    },
    /// Magic and version are right but a field is impossible.
    Damaged(String),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::TooSmall { len } => {
                write!(f, "not a vinyl ring: {len} bytes, smaller than the {HEADER_BYTES}-byte ring header")
            }
            LayoutError::NotARing { magic } => {
                let bytes = magic.to_le_bytes();
                let shown: String =
                    bytes.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '.' }).collect();
                write!(f, "not a vinyl ring: it starts with \"{shown}\", not \"VNYLRING\"")
            }
            LayoutError::Version { found } => write!(
                f,
                "ring layout version {found}, but this vinyl-preroll reads version {VERSION} \
                 (use tools of the same release, or remove the ring when no writer runs)"
            ),
            LayoutError::Damaged(what) => write!(f, "damaged ring header: {what}"),
        }
    }
}

impl std::error::Error for LayoutError {}

/// Sleeps until the futex word `word` no longer holds `expected`, a wake-up arrives, a signal
/// arrives or `timeout` passes, whichever comes first. The word is shared between processes (no
/// `FUTEX_PRIVATE_FLAG`). Returns without error in every one of those cases; the caller re-checks
/// what it waits for.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    use rustix::thread::futex;
    let ts = futex::Timespec::try_from(timeout).unwrap_or(futex::Timespec { tv_sec: i64::MAX, tv_nsec: 0 });
    // EAGAIN (value changed), EINTR and ETIMEDOUT are all normal returns: the caller re-checks.
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&ts));
}

/// Wakes every process sleeping on the futex word `word`.
pub fn futex_wake_all(word: &AtomicU32) {
    use rustix::thread::futex;
    // A failure would only mean no sleeper was woken; sleepers time out and re-check anyway.
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

/// `CLOCK_MONOTONIC` now, in nanoseconds: comparable between processes on one machine.
pub fn monotonic_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64,
        Err(_) => 0,
    }
}

/// The wall-clock time now, in nanoseconds since the Unix epoch.
pub fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_is_ten_percent_but_at_least_two_seconds() {
        assert_eq!(slot_frames_for(1_440_000, 48_000), 1_440_000 + 144_000);
        assert_eq!(slot_frames_for(48_000, 48_000), 48_000 + 96_000);
        assert_eq!(slot_frames_for(86_400_000, 48_000), 86_400_000 + 8_640_000);
    }

    fn header_in(buf: &mut [u64]) -> &Header {
        // SAFETY: the buffer is 8-byte aligned and at least as large as a header; atomics have
        // the same layout as the integers.
        unsafe { &*(buf.as_mut_ptr() as *const Header) }
    }

    #[test]
    fn header_round_trips_and_each_bad_field_is_named() {
        let mut buf = vec![0u64; HEADER_BYTES as usize / 8];
        let h = header_in(&mut buf);
        let cfg = Config::new(PcmSpec::default(), 48_000);
        let len = cfg.file_bytes();
        assert!(matches!(Config::from_header(h, len), Err(LayoutError::NotARing { magic: 0 })));
        cfg.write_to(h);
        publish_magic(h);
        assert_eq!(Config::from_header(h, len), Ok(cfg));
        assert!(matches!(Config::from_header(h, len - 1), Err(LayoutError::Damaged(_))));
        h.format.store(9, Ordering::Relaxed);
        assert!(Config::from_header(h, len).unwrap_err().to_string().contains("format code 9"));
        h.format.store(1, Ordering::Relaxed);
        h.version.store(1, Ordering::Relaxed);
        let err = Config::from_header(h, len).unwrap_err().to_string();
        assert!(err.contains("version 1") && err.contains("version 2"), "{err}");
    }

    #[test]
    fn capacities_of_nothing_or_beyond_memory_are_refused_and_sizes_never_overflow() {
        let e = check_capacity("--ring-capacity", &"0s", 0, 48_000).unwrap_err();
        assert!(e.contains("--ring-capacity 0s holds no frame"), "{e}");
        let e = check_capacity("--capacity", &"25h", 25 * 3600 * 48_000, 48_000).unwrap_err();
        assert!(e.contains("--capacity 25h") && e.contains("at most 24h"), "{e}");
        assert_eq!(check_capacity("--capacity", &"24h", 24 * 3600 * 48_000, 48_000), Ok(24 * 3600 * 48_000));
        let huge = Config::new(PcmSpec::default(), u64::MAX / 2);
        assert_eq!(huge.file_bytes(), u64::MAX);
    }

    #[test]
    fn not_a_ring_shows_what_it_found() {
        let e = LayoutError::NotARing { magic: u64::from_le_bytes(*b"RIFF\x01\x02ab") };
        assert_eq!(e.to_string(), "not a vinyl ring: it starts with \"RIFF..ab\", not \"VNYLRING\"");
    }
}
