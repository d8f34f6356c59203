//! The listener's events: following the events file, the state they add up to, and
//! `GET /events` (Server-Sent Events).
//!
//! Owns the state `vinyl-listen`'s JSON lines add up to ([`Hub`]: the last `level`, the
//! turntable's state, the last side reports; the file is followed by
//! [`crate::listen::tail::Tail`], the one home for that) and the fan-out to SSE clients. Every line is passed on as it
//! is, unknown events too; `vinyl-web` adds its own `recording` events. A client whose queue is
//! full (it stopped reading) is dropped, never waited for. How it fails: a missing file is waited
//! for; a line that is not a JSON object is passed on to nobody and counted; overlong lines
//! (over 64 KiB) are skipped.

use super::App;
use super::http;
use crate::signals;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the file is looked at.
const POLL: Duration = Duration::from_millis(50);
/// Events queued for one SSE client before it counts as stalled and is dropped.
const QUEUE: usize = 256;
/// Side reports kept (to fill in the recordings' tracks and loudness).
const REPORTS_KEEP: usize = 200;

/// The turntable's state as the events tell it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Turntable {
    /// `idle`, `side` or `runout`, or the listener's own `state` names (`lead-in`, `playing`).
    pub state: String,
    /// The side number (counted from 1 since vinyl-web started, or as the listener says).
    pub side: u64,
    /// The track on the side (from 1), 0 before the first.
    pub track: u64,
    /// The frame of the last change.
    pub frame: Option<u64>,
}

impl Turntable {
    /// Applies one event.
    pub fn apply(&mut self, v: &Value) {
        let frame = v["frame"].as_u64();
        match v["event"].as_str().unwrap_or_default() {
            "side_start" => {
                self.state = "side".into();
                self.side = v["side"].as_u64().unwrap_or(self.side + 1);
                self.track = 0;
            }
            "track_start" => {
                self.state = "side".into();
                self.side = v["side"].as_u64().unwrap_or(self.side.max(1));
                self.track = v["track"].as_u64().unwrap_or(self.track + 1);
            }
            "lift" => self.state = "idle".into(),
            // After a run-out or a silence the stylus is still in the groove (the listener's
            // `runout` state); after a lift it is not.
            "side_end" if v["reason"] == "lift" => self.state = "idle".into(),
            "side_end" => self.state = "runout".into(),
            "state" => {
                if let Some(s) = v["state"].as_str() {
                    self.state = s.into();
                }
                self.side = v["side"].as_u64().unwrap_or(self.side);
                self.track = v["track"].as_u64().unwrap_or(self.track);
            }
            _ => return,
        }
        self.frame = frame.or(self.frame);
    }

    /// As JSON for `/status`.
    pub fn json(&self) -> Value {
        let state = if self.state.is_empty() { "idle" } else { &self.state };
        json!({ "state": state, "side": self.side, "track": self.track, "frame": self.frame })
    }
}

/// The events' state and the SSE clients.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    subs: Vec<SyncSender<Arc<str>>>,
    level: Option<Value>,
    turntable: Turntable,
    reports: VecDeque<Value>,
    lines: u64,
    bad_lines: u64,
}

impl Hub {
    /// Takes one line of the events file (or one of vinyl-web's own events): updates the state
    /// and passes it to every SSE client.
    pub fn publish(&self, line: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            g.bad_lines += 1;
            return;
        };
        if !v.is_object() {
            g.bad_lines += 1;
            return;
        }
        g.lines += 1;
        match v["event"].as_str() {
            Some("level") => g.level = Some(v.clone()),
            Some("side_report") => g.remember_report(v.clone()),
            _ => g.turntable.apply(&v),
        }
        let msg: Arc<str> = Arc::from(line.trim_end());
        g.subs.retain(|tx| match tx.try_send(msg.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        });
    }

    /// Takes a side report from the file's history (no SSE clients are told).
    fn remember(&self, line: &str) {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && v["event"] == "side_report"
        {
            self.inner.lock().unwrap_or_else(|e| e.into_inner()).remember_report(v);
        }
    }

    /// A new SSE client's queue.
    pub fn subscribe(&self) -> Receiver<Arc<str>> {
        let (tx, rx) = sync_channel(QUEUE);
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).subs.push(tx);
        rx
    }

    /// The last level event, the turntable, the number of lines and of bad lines.
    pub fn state(&self) -> (Option<Value>, Turntable, u64, u64) {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (g.level.clone(), g.turntable.clone(), g.lines, g.bad_lines)
    }

    /// The side reports whose frame lies in `start..end`.
    pub fn reports_in(&self, start: u64, end: u64) -> Vec<Value> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.reports
            .iter()
            .filter(|r| r["frame"].as_u64().is_some_and(|f| f >= start && f < end))
            .cloned()
            .collect()
    }

    /// How many SSE clients are connected.
    pub fn clients(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).subs.len()
    }
}

impl Inner {
    fn remember_report(&mut self, v: Value) {
        if self.reports.len() == REPORTS_KEEP {
            self.reports.pop_front();
        }
        self.reports.push_back(v);
    }
}

/// Follows `path` into the hub until the server stops.
pub fn follow(hub: &Hub, path: &Path) {
    let mut tail = crate::listen::tail::Tail::new(path);
    while !signals::stop_requested() {
        tail.poll(&mut |l| hub.publish(l), &mut |l| hub.remember(l));
        std::thread::sleep(POLL);
    }
}

/// `GET /events`: every event as an SSE `data:` line until the client goes or stalls.
pub fn serve(app: &App, mut s: TcpStream) {
    let rx = app.hub.subscribe();
    if http::start_stream(&mut s, "text/event-stream", &[]).is_err() {
        return;
    }
    // The state now, so a new page need not wait for the next change.
    let hello = json!({ "event": "hello", "turntable": app.hub.state().1.json(), "recording": app.control.summary() });
    if s.write_all(format!("retry: 2000\ndata: {hello}\n\n").as_bytes()).is_err() {
        return;
    }
    while !signals::stop_requested() {
        let out = match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(line) => format!("data: {line}\n\n"),
            Err(RecvTimeoutError::Timeout) => ": keep-alive\n\n".to_string(),
            // Dropped by the hub: its queue was full.
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if s.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_turntable_follows_sides_tracks_and_runout() {
        let mut t = Turntable::default();
        assert_eq!(t.json()["state"], "idle");
        for line in [
            r#"{"event":"side_start","frame":10,"at":0}"#,
            r#"{"event":"track_start","frame":20,"at":0,"track":2}"#,
        ] {
            t.apply(&serde_json::from_str(line).unwrap());
        }
        assert_eq!((t.state.as_str(), t.side, t.track, t.frame), ("side", 1, 2, Some(20)));
        t.apply(&json!({"event":"side_end","frame":30,"reason":"runout","rpm":33.3}));
        assert_eq!(t.state, "runout");
        t.apply(&json!({"event":"side_end","frame":40,"reason":"lift"}));
        assert_eq!(t.state, "idle");
        t.apply(&json!({"event":"mystery","frame":50}));
        assert_eq!(t.frame, Some(40), "unknown events change nothing");
    }

    #[test]
    fn a_stalled_sse_client_is_dropped_not_waited_for() {
        let hub = Hub::default();
        let rx = hub.subscribe();
        for i in 0..QUEUE + 1 {
            hub.publish(&format!(r#"{{"event":"level","frame":{i}}}"#));
        }
        assert_eq!(hub.clients(), 0);
        assert_eq!(rx.iter().count(), QUEUE);
        hub.publish("not json");
        assert_eq!(hub.state().3, 1);
    }
}
