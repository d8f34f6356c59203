//! Survival of a ring file truncated while mapped: SIGBUS becomes an error, never a death.
//!
//! Owns the process's SIGBUS handler and the table of ring mappings it protects. Touching a page
//! of a shared mapping beyond the end of its file (someone ran `truncate -s 4096 RING` while a
//! tap copies or a writer writes) raises SIGBUS, whose default action kills the process. The
//! handler looks up the faulting address: inside a registered mapping, it replaces the whole
//! mapping in place with private zero pages (`mmap(MAP_FIXED | MAP_ANONYMOUS)`, one system call,
//! safe in a signal handler), marks it truncated and returns, so the interrupted copy completes
//! on zeros; the reader or writer then checks [`Guard::truncated`] and fails with one line naming
//! the ring. A fault outside every registered mapping is not ours: it goes to the handler that was
//! installed before (called as it would have been), or, with none, to the default action, so the
//! fault repeats and kills the process as it would have.
//!
//! The handler is the process's business, so it is opt-in: [`install`] puts it in place (every
//! vinyl tool calls it at start). A program that never calls it keeps its own SIGBUS handling, and a
//! truncated ring kills it as any truncated mapped file would. It does not decide what a truncated
//! ring means for a tool; the ring modules return errors.

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

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
/// The SIGBUS action in place before [`install`]: faults outside the rings go to it.
static PREVIOUS: OnceLock<SigAction> = OnceLock::new();

/// Installs the SIGBUS handler that turns a ring truncated under its mapping into an error. Call it
/// once, early (later calls do nothing); a handler installed before it still gets every fault
/// outside a ring. Fails only if the kernel refuses `sigaction`.
pub fn install() -> nix::Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| {
        let action = SigAction::new(SigHandler::SigAction(on_sigbus), SaFlags::SA_SIGINFO, SigSet::empty());
        // SAFETY: on_sigbus only loads and stores atomics, makes the mmap and signal system calls
        // (async-signal-safe) and calls the handler that was installed before it, which the
        // process had already accepted for this signal.
        match unsafe { sigaction(Signal::SIGBUS, &action) } {
            Ok(old) => {
                let _ = PREVIOUS.set(old);
            }
            Err(e) => result = Err(e),
        }
    });
    result
}

/// A registered mapping; unregisters it when dropped (before the mapping is unmapped).
#[derive(Debug)]
pub struct Guard {
    slot: Option<usize>,
}

impl Guard {
    /// Protects `len` bytes at `start`. Without a free slot the mapping is unprotected (and a
    /// truncation kills the process as before); 16 rings in one process is not a real use.
    pub fn register(start: *mut u8, len: usize) -> Guard {
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

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
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
    // Not one of our mappings (or the remap failed): the handler before ours, or the default
    // action, which lets the fault kill the process as usual.
    match PREVIOUS.get().map(|a| a.handler()) {
        Some(SigHandler::SigAction(previous)) => previous(sig, info, ctx),
        Some(SigHandler::Handler(previous)) => previous(sig),
        // SAFETY: restoring the default action is async-signal-safe.
        _ => unsafe {
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
        },
    }
}
