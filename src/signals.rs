//! SIGTERM, SIGINT, SIGHUP and SIGUSR1 turned into flags that loops poll.
//!
//! Owns the process's handlers for those four signals. SIGHUP (a closed terminal, an SSH session
//! that dropped) is a stop like SIGTERM: its default action would kill a tool mid-write, leaving a
//! recorder's `FILE.part` unfinished. The process's other dispositions are here too: the signals a tool ignores ([`ignore`]).
//! The handlers only store to atomics and
//! are installed without `SA_RESTART`, so a blocking `read`/`write`/`poll` returns `EINTR` and the
//! loop around it notices [`stop_requested`] within one call. It does not decide what "stop"
//! means for a tool (flush, finalise…), and does not touch SIGPIPE: Rust's runtime already
//! ignores it, so writes to a closed pipe return `BrokenPipe` and tools handle that.

use anyhow::Context as _;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask, sigaction,
};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);
static USR1: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(sig: libc::c_int) {
    STOP_SIGNAL.store(sig, Ordering::SeqCst);
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_usr1(_: libc::c_int) {
    USR1.store(true, Ordering::SeqCst);
}

/// The signals this module handles.
const HANDLED: [Signal; 4] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1];

/// Installs the SIGTERM/SIGINT/SIGHUP (stop) and SIGUSR1 (report) handlers. Call once, early in
/// `run`.
pub fn install() -> anyhow::Result<()> {
    let stop = SigAction::new(SigHandler::Handler(on_stop), SaFlags::empty(), SigSet::empty());
    let usr1 = SigAction::new(SigHandler::Handler(on_usr1), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handlers only store to atomics, which is async-signal-safe.
    unsafe {
        sigaction(Signal::SIGTERM, &stop)?;
        sigaction(Signal::SIGINT, &stop)?;
        sigaction(Signal::SIGHUP, &stop)?;
        sigaction(Signal::SIGUSR1, &usr1)?;
    }
    // A ring truncated under a tool is an error naming it, never a death by SIGBUS.
    crate::ring::guard::install().context("install the ring's SIGBUS guard")?;
    Ok(())
}

/// Ignores `sig` for the whole process (e.g. SIGXFSZ, so that a file grown past its limit gives
/// `EFBIG` on the write instead of killing the tool).
pub fn ignore(sig: Signal) -> anyhow::Result<()> {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_IGN runs no code in signal context.
    unsafe { sigaction(sig, &ignore) }.with_context(|| format!("ignore {sig}"))?;
    Ok(())
}

/// True once SIGTERM, SIGINT or SIGHUP has arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks the loops to stop as if a signal had arrived (used when a tool ends itself).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// The name of the signal that asked for the stop, if one did (`"SIGTERM"`, `"SIGINT"`,
/// `"SIGHUP"`).
pub fn stop_signal_name() -> Option<&'static str> {
    match STOP_SIGNAL.load(Ordering::SeqCst) {
        libc::SIGTERM => Some("SIGTERM"),
        libc::SIGINT => Some("SIGINT"),
        libc::SIGHUP => Some("SIGHUP"),
        _ => None,
    }
}

/// True once per SIGUSR1 received (the flag is cleared by reading it).
pub fn take_report_request() -> bool {
    USR1.swap(false, Ordering::SeqCst)
}

/// Spawns a named thread with SIGTERM, SIGINT, SIGHUP and SIGUSR1 blocked, so they are delivered to the
/// main thread: its blocking call is the one they interrupt (`EINTR`), and it is the loop that
/// checks [`stop_requested`]. Every extra thread of a tool should be started this way.
pub fn spawn_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let mut set = SigSet::empty();
            for sig in HANDLED {
                set.add(sig);
            }
            let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
            f()
        })
        .with_context(|| format!("{name} thread: spawn"))
}
