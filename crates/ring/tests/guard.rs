//! The SIGBUS guard is opt-in and chains: a fault outside every ring still reaches the handler the
//! program installed before it. Its own process (an integration test binary), because signal
//! handlers are process-wide.

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::sync::atomic::{AtomicBool, Ordering};

static PREVIOUS_CALLED: AtomicBool = AtomicBool::new(false);

/// The program's own handler: it repairs the faulting page (private zeros in place) and notes it.
extern "C" fn previous(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: a valid siginfo_t for an SA_SIGINFO handler; mmap over the faulting page is
    // async-signal-safe and keeps the rest of the mapping as it was.
    unsafe {
        let page = ((*info).si_addr() as usize) & !4095;
        let flags = libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        libc::mmap(page as *mut libc::c_void, 4096, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0);
    }
    PREVIOUS_CALLED.store(true, Ordering::SeqCst);
}

#[test]
fn a_fault_outside_the_rings_reaches_the_handler_installed_before() {
    let action = SigAction::new(SigHandler::SigAction(previous), SaFlags::SA_SIGINFO, SigSet::empty());
    // SAFETY: `previous` only makes an async-signal-safe system call and stores an atomic.
    unsafe { sigaction(Signal::SIGBUS, &action) }.unwrap();
    vinyl_ring::guard::install().unwrap();

    let file = tempfile::tempfile().unwrap();
    file.set_len(8192).unwrap();
    // SAFETY: the file is ours alone; it is truncated below on purpose.
    let map = unsafe { memmap2::MmapMut::map_mut(&file) }.unwrap();
    file.set_len(0).unwrap();
    // SAFETY: reading a mapped byte; the page beyond the file's end faults with SIGBUS, which the
    // previous handler repairs.
    let byte = unsafe { std::ptr::read_volatile(map.as_ptr().add(4096)) };
    assert_eq!(byte, 0);
    assert!(PREVIOUS_CALLED.load(Ordering::SeqCst), "the earlier handler was not called");
}
