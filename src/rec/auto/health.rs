//! The health report of each side auto keeps (`vinyl-qa --store FILE`, the turntable's health over
//! time): run once the file is final (cut, tagged, named and moved), as a process of its own, so
//! that neither auto's loop nor the next side's recording waits for it, and an analysis that
//! fails costs the side nothing. `VINYL_AUTO_HEALTH=no` turns it off.
//!
//! Owns the spawning and the wait: a thread a report waits for its vinyl-qa and says once how it
//! ended (the side's health, or why there is none). It does not analyse (vinyl-qa does) nor
//! write the collection (vinyl-qa `--store` stores the report with the recording's play). How it
//! fails: a vinyl-qa that cannot be started or that fails is said in one line naming the side
//! and the file, which is left as it is; a report still running when auto exits finishes on its
//! own (it is not auto's child to wait for any more).

use super::super::TOOL;
use crate::vlog;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How long a report waits for a collection another writer holds (`vinyl-qa --store-wait`): a
/// side's analysis is not lost to a long learn or repair.
const STORE_WAIT: &str = "10m";

/// Starts the report of side `side`'s file `path` in the background.
pub fn report(side: u64, path: &Path) {
    let path = path.to_path_buf();
    let started = std::thread::Builder::new().name("health".into()).spawn(move || run(side, &path));
    if let Err(e) = started {
        vlog!(TOOL, "side {side}: no health report: start its thread: {e}");
    }
}

/// Runs `vinyl-qa --store PATH` and says how it ended.
fn run(side: u64, path: &PathBuf) {
    let qa = super::super::runner::tool("vinyl-qa");
    let out = Command::new(&qa)
        .args(["--store", "--store-wait", STORE_WAIT])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let shown = path.display();
    match out {
        Ok(o) if o.status.success() => {
            let health = serde_json::from_slice::<serde_json::Value>(&o.stdout)
                .ok()
                .and_then(|v| v.get("health").and_then(serde_json::Value::as_f64));
            match health {
                Some(h) => vlog!(TOOL, "side {side}: {shown}: health {h:.0} (report stored)"),
                None => vlog!(TOOL, "side {side}: {shown}: health report stored"),
            }
        }
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let why = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            vlog!(TOOL, "side {side}: {shown}: no health report ({}, {}): {why}", qa.display(), o.status);
        }
        Err(e) => vlog!(TOOL, "side {side}: {shown}: no health report: start {}: {e}", qa.display()),
    }
}
