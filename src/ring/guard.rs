//! Survival of a ring file truncated while mapped: SIGBUS becomes an error, never a death.
//!
//! Owns the process's SIGBUS handler and the table of ring mappings it protects. Touching a page
//! of a shared mapping beyond the end of its file (someone ran `truncate -s 4096 RING` while a
//! tap copies or a writer writes) raises SIGBUS, whose default action kills the process. The
//! handler looks up the faulting address: inside a registered mapping, it replaces the whole
//! mapping in place with private zero pages (`mmap(MAP_FIXED | MAP_ANONYMOUS)`, one system call,
//! safe in a signal handler), marks it truncated and returns, so the interrupted copy completes
//! on zeros; the reader or writer then checks [`Guard::truncated`] and fails with one line naming
//! the ring. A fault outside every registered mapping is not ours: the handler restores the
//! default action and returns, so the fault repeats and kills the process as it would have.
//! It does not decide what a truncated ring means for a tool; the ring modules return errors.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Mappings protected at once (a tool maps one ring; tests map a few).
const SLOTS: usize = 16;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    truncated: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot =
    Slot { start: AtomicUsize::new(0), len: AtomicUsize::new(0), truncated: AtomicBool::new(false) };
static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
static INSTALL: Once = Once::new();

/// A registered mapping; unregisters it when dropped (before the mapping is unmapped).
#[derive(Debug)]
pub struct Guard {
    slot: Option<usize>,
}

impl Guard {
    /// Protects `len` bytes at `start`. Without a free slot the mapping is unprotected (and a
    /// truncation kills the process as before); 16 rings in one process is not a real use.
    pub fn register(start: *mut u8, len: usize) -> Guard {
        INSTALL.call_once(install);
        for (i, s) in TABLE.iter().enumerate() {
            if s.len.compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                s.truncated.store(false, Ordering::Relaxed);
                s.start.store(start as usize, Ordering::Relaxed);
                s.len.store(len, Ordering::Release);
                return Guard { slot: Some(i) };
            }
        }
        Guard { slot: None }
    }

    /// True once a SIGBUS hit the mapping: its file was truncated, and the mapping now holds
    /// zeros that say nothing about the ring.
    pub fn truncated(&self) -> bool {
        self.slot.is_some_and(|i| TABLE[i].truncated.load(Ordering::Acquire))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            TABLE[i].len.store(0, Ordering::Release);
        }
    }
}

fn install() {
    // SAFETY: the handler only loads and stores atomics and makes the mmap/signal system calls,
    // all async-signal-safe; it replaces no handler another part of vinyl installs. Without it
    // (an error here) a truncation kills the process as before: nothing else changes.
    let _ = unsafe { crate::signals::install_siginfo(nix::sys::signal::Signal::SIGBUS, on_sigbus) };
}

extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for a SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    for s in &TABLE {
        let len = s.len.load(Ordering::Acquire);
        let start = s.start.load(Ordering::Relaxed);
        if len == 0 || len == usize::MAX || addr < start || addr - start >= len {
            continue;
        }
        // SAFETY: [start, start + len) is a live mapping of ours (registered until the Guard is
        // dropped, which happens before the unmap); replacing it in place with anonymous pages
        // keeps every pointer into it valid.
        let p = unsafe {
            libc::mmap(
                start as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            s.truncated.store(true, Ordering::Release);
            return;
        }
    }
    // Not one of our mappings (or the remap failed): let the fault kill the process as usual.
    // SAFETY: restoring the default action is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}
