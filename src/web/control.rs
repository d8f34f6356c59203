//! The control API: the token, `POST /rec/start`, `POST /rec/stop`, and the recording's state.
//!
//! Owns the token rule (read once from `--token-file`, which must be this user's or root's and
//! not writable by others; compared in constant time; never logged) and the bridge to vinyl-rec's
//! library code ([`crate::rec::start::begin`], [`crate::rec::stop::end`]), so a recording started
//! here is the same as one started by `vinyl-rec start` — the same state folder, lock, names and
//! tags — and either tool can stop it. Start and stop run one at a time. It also watches the
//! recording's state every half second and tells the SSE clients when it changes. How it fails:
//! a bad token is 401, a refused request (a name or tag vinyl-rec refuses) is 400 with vinyl-rec's
//! message, a conflict (already recording, not recording) is 409, anything else 500.

use super::App;
use super::http::{Request, Response};
use super::status::{Recording, Running};
use crate::cli::UsageError;
use crate::rec::cli::{RecordArgs, StartOpts};
use crate::rec::state::State;
use crate::rec::{self, Settings};
use crate::vlog;
use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;

/// The recording's control.
pub struct Control {
    /// vinyl-rec's settings, with vinyl-web's `--ring` and `--recordings` applied.
    pub settings: Settings,
    token: Option<String>,
    /// Background runners started here, reaped once they end.
    runners: Mutex<Vec<Child>>,
    /// One start or stop at a time.
    busy: Mutex<()>,
}

/// Reads the token file: one line of at least 16 characters, in a file this user (or root) owns
/// that no other user can write.
pub fn read_token(path: &Path) -> anyhow::Result<String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).with_context(|| format!("{shown}: cannot read the token file"))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.mode() & 0o077 != 0 {
        bail!(
            "{shown}: other users can read or write the token file (mode {:04o}); run chmod 600 {shown}",
            meta.mode() & 0o7777
        );
    }
    if meta.uid() != me && meta.uid() != 0 {
        bail!(
            "{shown}: the token file is owned by uid {}, neither this user (uid {me}) nor root",
            meta.uid()
        );
    }
    let token = crate::pcm::read_secret_file(path)?.trim().to_string();
    if token.len() < 16 || token.chars().any(|c| c.is_control() || c == ' ') {
        bail!("{shown}: the token must be one line of at least 16 characters without blanks");
    }
    Ok(token)
}

/// Creates the token file at `path` unless it holds something: 32 bytes of the kernel's
/// randomness as hex and a newline, written to `path.new` (mode 0600) and renamed over `path`, the
/// folder created 0700 when missing. Returns whether it made one.
pub fn make_token(path: &Path) -> anyhow::Result<bool> {
    use std::io::{Read as _, Write as _};
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let shown = path.display();
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        return Ok(false);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("{}: cannot create the token's folder", dir.display()))?;
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut r| r.read_exact(&mut bytes))
        .context("/dev/urandom: cannot read randomness for the token")?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let new = path.with_extension("new");
    let _ = std::fs::remove_file(&new);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&new)
        .with_context(|| format!("{}: cannot create the token file", new.display()))?;
    f.write_all(format!("{hex}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("{}: cannot write the token file", new.display()))?;
    std::fs::rename(&new, path).with_context(|| format!("{shown}: cannot put the token file in place"))?;
    Ok(true)
}

/// Compares in time that depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl Control {
    /// The control over `settings`' recordings, with `token` (none: every control request is 401).
    pub fn new(settings: Settings, token: Option<String>) -> Control {
        Control { settings, token, runners: Mutex::new(Vec::new()), busy: Mutex::new(()) }
    }

    /// True when the request carries the token (`Authorization: Bearer T` or `X-Vinyl-Token: T`).
    pub fn authorized(&self, req: &Request) -> bool {
        let Some(token) = &self.token else { return false };
        let given = req
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer ").map(str::trim))
            .or_else(|| req.header("x-vinyl-token"));
        given.is_some_and(|g| same(g.as_bytes(), token.as_bytes()))
    }

    /// `POST /rec/start` with `{"name": "...", "tags": ["KEY=VALUE", ...]}` (both optional).
    pub fn start(&self, req: &Request) -> Response {
        let body: Value = if req.body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(_) => {
                    return Response::error(
                        400,
                        "expected JSON {\"name\": \"...\", \"tags\": [\"KEY=VALUE\"]}",
                    );
                }
            }
        };
        let name = body["name"].as_str().filter(|n| !n.is_empty()).map(str::to_string);
        let tags = match &body["tags"] {
            Value::Null => Vec::new(),
            Value::Array(a) if a.iter().all(Value::is_string) => {
                a.iter().filter_map(Value::as_str).map(str::to_string).collect()
            }
            _ => return Response::error(400, "tags: a list of \"KEY=VALUE\" strings"),
        };
        let o = StartOpts { preroll: None, record: RecordArgs { name, tags, dir: None, ring: None } };
        let _busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if State::new(&self.settings.run_dir).runner_alive() {
            return Response::error(409, "already recording; stop it first");
        }
        match rec::start::begin(&self.settings, &o) {
            Ok((path, runner)) => {
                vlog!(super::TOOL, "/rec/start: recording {}", path.display());
                if let Some(r) = runner {
                    self.runners.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                }
                Response::json(200, &json!({ "path": path.to_string_lossy(), "recording": self.summary() }))
            }
            Err(e) => failure("/rec/start", &e),
        }
    }

    /// `POST /rec/stop`.
    pub fn stop(&self) -> Response {
        let _busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if !State::new(&self.settings.run_dir).runner_alive() {
            return Response::error(409, "not recording");
        }
        let result = rec::stop::end(&self.settings);
        self.reap();
        match result {
            Ok(done) => {
                vlog!(super::TOOL, "/rec/stop: finished {} ({})", done.path.display(), done.duration());
                let json = json!({
                    "path": done.path.to_string_lossy(),
                    "duration": done.duration(),
                    "gaps": done.lines.get(1..).unwrap_or_default(),
                });
                Response::json(200, &json)
            }
            Err(e) => failure("/rec/stop", &e),
        }
    }

    /// Reaps the runners started here that have ended.
    fn reap(&self) {
        self.runners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }

    /// The recording: none, or its path, name, start frame, start time, duration so far (frames
    /// and seconds, from the ring's head) and size so far.
    pub fn summary(&self) -> Recording {
        let st = State::new(&self.settings.run_dir);
        if !(st.dir.is_dir() && st.runner_alive()) {
            return Recording::idle();
        }
        let path = st.read_path("path").unwrap_or_default();
        let start: u64 = st.read("start_frame").and_then(|v| v.parse().ok()).unwrap_or(0);
        let rate: u32 = st.read("rate").and_then(|v| v.parse().ok()).unwrap_or(48_000);
        let head = st.read_path("ring").and_then(|r| rec::plan::ring_head(&r));
        let frames = head.map(|h| h.saturating_sub(start));
        let size = std::fs::metadata(crate::flac::part_path(&path)).map(|m| m.len()).ok();
        // Relative to the recordings folder: /status answers anyone who can reach it.
        let shown = path.strip_prefix(&self.settings.recordings).unwrap_or(Path::new(""));
        Recording::Running(Box::new(Running {
            recording: true,
            path: shown.to_string_lossy().into_owned(),
            name: path.file_stem().map(|s| s.to_string_lossy().into_owned()),
            started: st.read("started"),
            start_frame: start,
            frames,
            seconds: frames.map(|f| f as f64 / rate as f64),
            bytes: size,
        }))
    }

    /// Tells the SSE clients when the recording starts or ends (checked every 500 ms).
    pub fn watch(&self, app: &App) {
        let mut last: Option<(bool, String)> = None;
        while !crate::signals::stop_requested() {
            let s = self.summary();
            let now = (s.path().is_some(), s.path().unwrap_or_default().to_string());
            if last.as_ref() != Some(&now) {
                if last.is_some()
                    && let Ok(mut ev) = serde_json::to_value(&s)
                {
                    ev["event"] = "recording".into();
                    app.hub.publish(&ev.to_string());
                }
                last = Some(now);
                self.reap();
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// A vinyl-rec error as a response: usage errors 400, conflicts 409, the rest 500.
fn failure(what: &str, e: &anyhow::Error) -> Response {
    let text = format!("{e:#}");
    vlog!(super::TOOL, "{what}: {text}");
    if e.downcast_ref::<UsageError>().is_some() {
        return Response::error(400, &text);
    }
    if e.downcast_ref::<rec::Conflict>().is_some() {
        return Response::error(409, &text);
    }
    Response::error(500, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abcdef", b"abcdef"));
        assert!(!same(b"abcdef", b"abcdeg"));
        assert!(!same(b"abc", b"abcdef"));
    }

    #[test]
    fn a_token_file_others_can_write_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t");
        std::fs::write(&p, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_token(&p).unwrap(), "0123456789abcdef0123");
        for mode in [0o622, 0o644, 0o640, 0o604] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = read_token(&p).unwrap_err().to_string();
            assert!(e.contains("other users can read or write") && e.contains("chmod 600"), "{mode:o}: {e}");
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&p, "short\n").unwrap();
        assert!(read_token(&p).is_err());
    }
}
