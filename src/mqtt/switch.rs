//! The recording switch: `ON` and `OFF` carried out through vinyl-rec's own code.
//!
//! Owns the thread that starts and stops recordings for the bridge, one command at a time, with
//! [`crate::rec::start::begin`] and [`crate::rec::stop::end`] (what `vinyl-rec start`/`stop` and
//! vinyl-web's control run), so a recording switched on here is the same as any other and any of
//! them can stop it; and the switch's state, read from vinyl-rec's state folder whoever started
//! the recording. The broker's ACL decides who may send a command; nothing here second-guesses
//! it. How it fails: a command that cannot be carried out (already recording, not recording, no
//! ring) is logged with vinyl-rec's message and changes nothing; the switch shows the truth.

use super::link::Switch;
use crate::rec::cli::{RecordArgs, StartOpts};
use crate::rec::state::State;
use crate::rec::{self, Settings};
use crate::vlog;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;

/// True while a recording runs (started by anyone).
pub fn recording(s: &Settings) -> bool {
    let st = State::new(&s.run_dir);
    st.dir.is_dir() && st.runner_alive()
}

/// Carries out the commands until their sender goes; sets `changed` after each.
pub fn serve(tool: &'static str, s: &Settings, commands: Receiver<Switch>, changed: &Arc<AtomicBool>) {
    let mut runners: Vec<Child> = Vec::new();
    for want in commands {
        match want {
            Switch::On if recording(s) => vlog!(tool, "recording: ON: already recording"),
            Switch::On => {
                let o = StartOpts {
                    preroll: None,
                    record: RecordArgs { name: None, tags: Vec::new(), dir: None, ring: None },
                };
                match rec::start::begin(s, &o) {
                    Ok((path, runner)) => {
                        vlog!(tool, "recording: ON: recording {}", path.display());
                        runners.extend(runner);
                    }
                    Err(e) => vlog!(tool, "recording: ON: {e:#}"),
                }
            }
            Switch::Off if !recording(s) => vlog!(tool, "recording: OFF: not recording"),
            Switch::Off => match rec::stop::end(s) {
                Ok(done) => {
                    vlog!(tool, "recording: OFF: finished {} ({})", done.path.display(), done.duration())
                }
                Err(e) => vlog!(tool, "recording: OFF: {e:#}"),
            },
        }
        runners.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        changed.store(true, Ordering::SeqCst);
    }
}
