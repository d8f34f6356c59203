//! `vinyl-ring`, the shared-memory pre-roll ring: one file (default `/dev/shm/vinyl-ring`) holding the last
//! minutes of PCM, written by one process and read by any number of others.
//!
//! Parts: [`layout`] (the versioned header of atomics and the sizing rule, documented byte by
//! byte in `docs/ring-format.md`), [`writer`] (creating, taking over and filling a ring) and
//! [`reader`] (validating, following and copying out of a ring with exact overrun detection).
//! Frames are numbered absolutely from the start of the writer's generation; frame `n` lives in
//! slot `n % slot_frames`. The ring guarantees `capacity_frames` of history and keeps a slack of
//! extra slots so readers that start at the oldest guaranteed frame have time to copy it.
//!
//! One writer at a time: the writer holds an open-file-description (OFD) write lock over the
//! whole file for as long as it runs; "writer alive" means that lock is held (readers query it
//! with `F_OFD_GETLK`, which never takes the lock and so never gets in a starting writer's way).
//! The writer never waits for readers: it publishes `head` with `Release` and wakes sleeping
//! readers with `FUTEX_WAKE` only when the header says some are waiting. (A gap longer than the
//! slots pauses it 50 ms before its silence overwrites them all: see [`RingWriter::gap`].)
//!
//! This crate does not parse flags, print or notify anyone: it returns errors that name the ring's
//! path and the step that failed, and the tools decide what to log and how to exit. It needs no
//! audio device, codec or CLI library, so any program can follow a ring (see
//! `examples/follow.rs`). [`spec`] is the PCM vocabulary the ring's header records; [`guard`]
//! is the opt-in SIGBUS handler for a ring truncated under its readers.

pub mod gaps;
pub mod guard;
pub mod layout;
pub mod reader;
pub mod spec;
pub mod tap;
pub mod writer;

pub use gaps::GapWatch;
pub use layout::{Config, Gap, GapCause, Header, LayoutError};
pub use reader::{ReadError, RingReader, Snapshot};
pub use writer::{Opened, RingWriter, describe_gap, describe_opened};

use memmap2::{MmapOptions, MmapRaw};
use std::fs::File;
use std::os::fd::AsFd;

/// The default ring path.
pub const DEFAULT_RING: &str = "/dev/shm/vinyl-ring";

/// A ring file mapped into this process, protected against SIGBUS by a [`guard::Guard`]
/// (declared first, so it unregisters before the mapping is unmapped).
#[derive(Debug)]
struct Mapping {
    guard: guard::Guard,
    file: File,
    map: MmapRaw,
}

impl Mapping {
    /// Maps all of `file` (which must be at least [`layout::HEADER_BYTES`] long), shared, and
    /// writable unless `read_only`.
    fn new(file: File, read_only: bool) -> std::io::Result<Mapping> {
        let len = file.metadata()?.len();
        if len < layout::HEADER_BYTES {
            return Err(std::io::Error::other(LayoutError::TooSmall { len }));
        }
        let len = usize::try_from(len).map_err(|_| std::io::Error::other("file too large to map"))?;
        let opts = MmapOptions::new().len(len).clone();
        let map = if read_only { opts.map_raw_read_only(&file)? } else { opts.map_raw(&file)? };
        let guard = guard::Guard::register(map.as_mut_ptr(), map.len());
        Ok(Mapping { guard, file, map })
    }

    /// True once the file was truncated under the mapping (see [`guard`]): nothing in the
    /// mapping can be trusted any more.
    fn truncated(&self) -> bool {
        self.guard.truncated()
    }

    /// The header at offset 0.
    fn header(&self) -> &Header {
        // SAFETY: the mapping is at least HEADER_BYTES long (checked in `new`), page-aligned,
        // and lives as long as `self`; `Header` is a repr(C) struct of atomics, valid for any
        // bit pattern, and all access to it is atomic.
        unsafe { &*(self.map.as_ptr() as *const Header) }
    }

    /// Bytes mapped.
    fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Pointer to the first frame slot.
    fn slots(&self) -> *mut u8 {
        // SAFETY: HEADER_BYTES is within the mapping (checked in `new`).
        unsafe { self.map.as_mut_ptr().add(layout::HEADER_BYTES as usize) }
    }
}

/// A lock request over the whole file (`l_pid` must be 0 for OFD locks).
fn writer_lock(kind: libc::c_short) -> libc::flock {
    libc::flock { l_type: kind, l_whence: libc::SEEK_SET as libc::c_short, l_start: 0, l_len: 0, l_pid: 0 }
}

/// Takes the writer lock (an OFD write lock on the whole file) without waiting. `Ok(false)`
/// when another open file description holds it.
fn try_lock_writer(file: &File) -> nix::Result<bool> {
    let fl = writer_lock(libc::F_WRLCK as libc::c_short);
    match nix::fcntl::fcntl(file.as_fd(), nix::fcntl::FcntlArg::F_OFD_SETLK(&fl)) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => Ok(false),
        Err(e) => Err(e),
    }
}

/// True when some process holds the writer lock on `file`. Does not take any lock.
fn writer_lock_held(file: &File) -> nix::Result<bool> {
    let mut fl = writer_lock(libc::F_WRLCK as libc::c_short);
    nix::fcntl::fcntl(file.as_fd(), nix::fcntl::FcntlArg::F_OFD_GETLK(&mut fl))?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{PcmSpec, unique_frame_number, unique_frames};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A writer racing readers that start at the edge of the ring: every copy either holds
    /// exactly the frames asked for or is reported lost; never silently torn or stale data.
    #[test]
    fn readers_racing_the_writer_get_exact_frames_or_an_exact_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let spec = PcmSpec::default();
        let cfg = Config { spec, capacity_frames: 1000, slot_frames: 1500 };
        let (mut w, opened) = RingWriter::open(&path, cfg).unwrap();
        assert_eq!(opened, Opened::Created);
        let r = RingReader::open(&path, true).unwrap();
        let generation = r.snapshot().unwrap().generation;
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let writer = std::thread::spawn(move || {
            let mut next = 0u64;
            while !stop.load(Ordering::Relaxed) {
                w.write(&unique_frames(&spec, next, 97)).unwrap();
                next += 97;
            }
            next
        });
        let (mut ok, mut lost) = (0u32, 0u32);
        let mut buf = vec![0u8; 400 * 4];
        let start = std::time::Instant::now();
        // Race for a while, and longer until a loss was seen too; on a loaded machine the writer
        // may never overtake a copy, which is no failure (tests/preroll.rs forces one instead).
        while start.elapsed() < std::time::Duration::from_millis(400)
            || ok == 0
            || (lost == 0 && start.elapsed() < std::time::Duration::from_secs(5))
        {
            assert!(start.elapsed() < std::time::Duration::from_secs(60), "ok {ok}, lost {lost}");
            let head = r.head().unwrap();
            let first = r.first_intact();
            // Two loads: the writer may have moved on between them, so `first` can pass `head`.
            let count = head.saturating_sub(first).min(400);
            if count == 0 {
                continue;
            }
            match r.read(generation, first, count, &mut buf[..count as usize * 4]) {
                Ok(()) => {
                    for (i, f) in buf[..count as usize * 4].chunks(4).enumerate() {
                        assert_eq!(unique_frame_number(f), first + i as u64, "torn copy at {first}+{i}");
                    }
                    ok += 1;
                }
                Err(ReadError::Lost { first: a, end }) => {
                    assert_eq!(a, first);
                    assert!(end > first && end <= r.head().unwrap(), "lost {a}..{end}");
                    lost += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        done.store(true, Ordering::Relaxed);
        let written = writer.join().unwrap();
        assert_eq!(r.head().unwrap(), written);
    }

    /// A new ring of `capacity` frames at 48 kHz in a temporary folder, its writer holding frames
    /// `0..frames`, and a reader.
    fn ring_with(
        capacity: u64,
        frames: u64,
    ) -> (tempfile::TempDir, std::path::PathBuf, RingWriter, RingReader) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let cfg = Config::new(PcmSpec::default(), capacity);
        let (mut w, opened) = RingWriter::open(&path, cfg).unwrap();
        assert_eq!(opened, Opened::Created);
        w.write(&unique_frames(&cfg.spec, 0, frames)).unwrap();
        let r = RingReader::open(&path, true).unwrap();
        (dir, path, w, r)
    }

    /// The frames of a ring as numbers (0 for silence), `first..end`.
    fn numbers(r: &RingReader, first: u64, end: u64) -> Vec<u64> {
        let g = r.snapshot().unwrap().generation;
        let mut buf = vec![0u8; (end - first) as usize * 4];
        r.read(g, first, end - first, &mut buf).unwrap();
        buf.chunks(4).map(unique_frame_number).collect()
    }

    #[test]
    fn a_restarted_writer_continues_the_timeline_after_a_journaled_gap() {
        let (_dir, path, w, r) = ring_with(48_000, 100);
        let cfg = w.config();
        let before = r.snapshot().unwrap();
        drop(w);
        assert!(!r.writer_alive().unwrap());
        // The downtime: at least 50 ms, 2400 frames at 48 kHz.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (mut w2, opened) = RingWriter::open(&path, cfg).unwrap();
        assert_eq!(opened, Opened::Continued { head: 100, writers: 2 });
        assert!(r.writer_alive().unwrap());
        let gap = w2.write(&unique_frames(&cfg.spec, 100_000, 10)).unwrap().expect("a downtime gap");
        assert!(gap.first == 100 && gap.frames >= 2400 && !gap.exact, "{gap:?}");
        assert_eq!(gap.cause, GapCause::WriterRestart);
        let after = r.snapshot().unwrap();
        assert_eq!((after.generation, after.timeline), (before.generation, before.timeline));
        assert_eq!(after.head, 100 + gap.frames + 10);
        assert_eq!(r.gaps(), vec![gap]);
        // The old reader goes on reading the same timeline: frames, silence, frames.
        let n = numbers(&r, 98, after.head);
        assert_eq!(n[..2], [98, 99]);
        assert!(n[2..2 + gap.frames as usize].iter().all(|&x| x == 0));
        assert_eq!(n[n.len() - 10..], (100_000..100_010).collect::<Vec<_>>());
    }

    #[test]
    fn a_gap_longer_than_the_ring_skips_exactly_and_the_journal_keeps_the_last_64() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let cfg = Config { spec: PcmSpec::default(), capacity_frames: 1000, slot_frames: 1500 };
        let (mut w, _) = RingWriter::open(&path, cfg).unwrap();
        w.write(&unique_frames(&cfg.spec, 0, 10)).unwrap();
        let r = RingReader::open(&path, true).unwrap();
        let g = w.gap(10_000, GapCause::Overrun, true).unwrap();
        assert_eq!((g.first, g.frames, g.end()), (10, 10_000, 10_010));
        assert_eq!(r.head().unwrap(), 10_010);
        let generation = r.snapshot().unwrap().generation;
        let mut buf = vec![0u8; 40];
        assert!(matches!(r.read(generation, 5, 10, &mut buf), Err(ReadError::Lost { first: 5, .. })));
        assert!(numbers(&r, 9000, 10_010).iter().all(|&x| x == 0));
        for i in 0..70u64 {
            w.gap(i + 1, GapCause::Suspend, false).unwrap();
        }
        let gaps = r.gaps();
        assert_eq!(gaps.len(), layout::JOURNAL_SLOTS);
        assert_eq!(gaps.first().unwrap().frames, 7, "the oldest six were overwritten");
        assert_eq!(gaps.last().unwrap().frames, 70);
        let s = r.snapshot().unwrap();
        assert_eq!((s.gap_count, s.gap_frames), (71, 10_000 + (1..=70).sum::<u64>()));
    }

    #[test]
    fn a_gap_watch_hands_out_each_gap_once_in_timeline_order() {
        let (_dir, _path, mut w, r) = ring_with(48_000, 100);
        let mut watch = GapWatch::default();
        let first = w.gap(50, GapCause::Overrun, true).unwrap();
        w.write(&unique_frames(&w.config().spec, 0, 10)).unwrap();
        watch.poll(&r, 0);
        assert_eq!(watch.take_reached(first.first + 1), vec![first], "reached as soon as it starts");
        // The journal changes (a second gap); the first, taken and still ending after the
        // reader's position, is not handed out again.
        let second = w.gap(20, GapCause::Suspend, false).unwrap();
        watch.poll(&r, first.first + 1);
        assert_eq!(watch.take_reached(u64::MAX), vec![second]);
        watch.poll(&r, 0);
        assert_eq!(watch.gaps(), &[] as &[Gap], "an unchanged journal adds nothing");
    }

    #[test]
    fn gaps_that_left_the_journal_unseen_are_counted_exactly_from_the_headers_totals() {
        let (_dir, _path, mut w, r) = ring_with(48_000, 100);
        let mut watch = GapWatch::default();
        watch.poll(&r, 50);
        let spec = w.config().spec;
        let gaps: Vec<Gap> = (0..70u64)
            .map(|i| {
                let g = w.gap(10 + i, GapCause::Overrun, true).unwrap();
                w.write(&unique_frames(&spec, 0, 5)).unwrap();
                g
            })
            .collect();
        watch.poll(&r, 50);
        assert_eq!(watch.gaps(), &gaps[6..], "the journal's 64");
        let six = gaps[..6].iter().map(|g| g.frames).sum();
        // They end by the end of the newest of them (the header keeps it).
        let run = gaps::Unlisted { count: 6, frames: six, after: 100, before: gaps[5].end(), exact: true };
        assert_eq!(watch.unlisted(), &[run]);
        assert_eq!(gaps::unlisted_in(watch.unlisted(), 50, u64::MAX), (6, six, true));
        assert_eq!(gaps::unlisted_in(watch.unlisted(), gaps[5].end(), u64::MAX), (0, 0, true));
        // A first look at a journal that does not reach back to the start: at most that many.
        let mut late = GapWatch::default();
        late.poll(&r, 50);
        assert_eq!(late.unlisted(), &[gaps::Unlisted { after: 50, exact: false, ..run }]);
        assert_eq!(gaps::unlisted_in(late.unlisted(), 50, u64::MAX), (6, six, false));
        // The bound is what fits between the start and the newest that left.
        let mut tight = GapWatch::default();
        tight.poll(&r, gaps[5].end() - 3);
        let u = tight.unlisted()[0];
        assert_eq!((u.count, u.frames, u.exact), (3, 3, false));
        assert!(
            u.describe(48_000).starts_with("up to 3 gaps (up to 0.000s of silence)"),
            "{}",
            u.describe(48_000)
        );
        // ... unless the start lies after the newest gap that left it (a snapshot of the last
        // minutes), or a listed gap ends before the start: every older one does too.
        for (from, listed) in [(gaps[5].end() + 2, 64), (gaps[7].first, 63)] {
            let mut after = GapWatch::default();
            after.poll(&r, from);
            assert_eq!((after.unlisted(), after.gaps().len()), (&[] as &[gaps::Unlisted], listed), "{from}");
        }
        // A tap that looks again from further on (it wrote those frames meanwhile) still gets
        // them: missed between two looks, they lie in what it follows.
        let mut tap = GapWatch::default();
        tap.poll(&r, 0);
        w.write(&unique_frames(&spec, 0, 10)).unwrap();
        let more: Vec<Gap> = (0..65u64).map(|i| w.gap(1 + i, GapCause::Suspend, false).unwrap()).collect();
        tap.poll(&r, more[10].first);
        let u = *tap.unlisted().last().unwrap();
        assert_eq!((u.count, u.frames, u.exact, u.before), (1, 1, true, more[0].end()), "{u:?}");
    }

    #[test]
    fn a_ring_other_users_could_write_is_refused_by_readers_and_recreated_by_writers() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let cfg = Config::new(PcmSpec::default(), 4800);
        let (w, _) = RingWriter::open(&path, cfg).unwrap();
        let timeline = w.timeline();
        drop(w);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = RingReader::open(&path, false).unwrap_err().to_string();
        assert!(err.contains("mode 0666") && err.contains("refusing"), "{err}");
        let (w, opened) = RingWriter::open(&path, cfg).unwrap();
        assert_eq!(opened, Opened::Recreated { mode: 0o666 });
        assert_ne!(w.timeline(), timeline, "a new timeline");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        RingReader::open(&path, false).unwrap();
    }

    #[test]
    fn a_ring_truncated_under_its_readers_and_writer_is_an_error_not_a_sigbus() {
        guard::install().expect("install the SIGBUS guard");
        let (_dir, path, mut w, r) = ring_with(48_000, 48_000);
        let cfg = w.config();
        let g = r.snapshot().unwrap().generation;
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(4096).unwrap();
        let mut buf = vec![0u8; 4000 * 4];
        assert_eq!(r.read(g, 40_000, 4000, &mut buf), Err(ReadError::Truncated));
        assert_eq!(r.snapshot(), Err(ReadError::Truncated));
        let err = w.write(&unique_frames(&cfg.spec, 48_000, 48_000)).unwrap_err().to_string();
        assert!(err.contains("truncated while mapped"), "{err}");
    }

    #[test]
    fn every_corrupt_head_or_claim_is_refused_not_obeyed() {
        let (_dir, _path, w, r) = ring_with(4800, 100);
        let cfg = w.config();
        let h = r.map.header();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let specials =
            [0, 1, 99, 100, 101, cfg.slot_frames, layout::MAX_HEAD - 1, layout::MAX_HEAD, u64::MAX];
        for i in 0..2000 {
            let pick = |n: u64| if n % 3 == 0 { specials[(n / 3) as usize % specials.len()] } else { n };
            let (head, claim) = (pick(next()), pick(next()));
            h.head.store(head, std::sync::atomic::Ordering::SeqCst);
            h.claim.store(claim, std::sync::atomic::Ordering::SeqCst);
            let sane = head < layout::MAX_HEAD && claim >= head && claim - head <= cfg.slot_frames;
            match r.snapshot() {
                Ok(s) => assert!(sane && s.head == head, "#{i}: accepted head {head} claim {claim}"),
                Err(ReadError::Damaged(_)) => assert!(!sane, "#{i}: refused head {head} claim {claim}"),
                Err(e) => panic!("#{i}: {e}"),
            }
        }
    }

    #[test]
    fn a_replaced_ring_is_seen_by_old_readers() {
        let (_dir, path, w, r) = ring_with(4800, 100);
        let cfg = w.config();
        let s = r.snapshot().unwrap();
        drop(w);
        let other = Config::new(PcmSpec::default(), 9600);
        let (w2, opened) = RingWriter::open(&path, other).unwrap();
        assert_eq!(opened, Opened::Replaced { previous: cfg });
        assert_eq!(w2.head(), 0);
        assert_eq!(w2.generation(), s.generation + 1);
        let mut buf = vec![0u8; 40];
        assert_eq!(r.read(s.generation, 0, 10, &mut buf), Err(ReadError::Retired));
        let r2 = RingReader::open(&path, true).unwrap();
        assert_ne!(r2.check_timeline(s.timeline), Ok(()));
    }
}
