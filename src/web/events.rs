//! The listener's events: following the events file, the state they add up to, and
//! `GET /events` (Server-Sent Events).
//!
//! Owns the state `vinyl-listen`'s JSON lines add up to ([`Hub`]: the last `level`, the
//! turntable's state as [`crate::turntable`] reads it, the last side reports; the file is followed by
//! [`crate::listen::tail::Tail`], the one home for that) and the fan-out to SSE clients. Every line is passed on as it
//! is, unknown events too; `vinyl-web` adds its own `recording` events. Each SSE message names its
//! event (`event:`, the JSON's `event` when it is a plain word) and carries an id (`id:
//! BOOT.N`, N counting from 1 since this vinyl-web started at BOOT), so a client that reconnects
//! with `Last-Event-ID` is sent again what it missed of the last [`REPLAY`] events other than
//! `level` (an id from an earlier vinyl-web gets all of them). A client whose queue is full (it
//! stopped reading) is dropped, never waited for; one that hangs up is noticed within
//! [`HANGUP_CHECK`], and its queue goes with it. How it fails: a missing file is waited for; a line
//! that is not a JSON object is passed on to nobody and counted; overlong lines (over 64 KiB) are
//! skipped.

use super::App;
use super::http;
use crate::events::{self, Event, Line, SideReport};
use crate::signals;
use crate::turntable::Turntable;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::Write as _;
use std::net::TcpStream;
use std::os::fd::AsFd as _;
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
/// Events kept for clients that reconnect (levels are not: they are stale at once).
pub const REPLAY: usize = 256;
/// How often an idle SSE connection is checked for a client that hung up.
pub const HANGUP_CHECK: Duration = Duration::from_millis(250);
/// How often an idle SSE connection gets a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The events' state and the SSE clients.
pub struct Hub {
    inner: Mutex<Inner>,
    /// This vinyl-web's start (Unix ms): the first part of every event id.
    boot: u64,
}

impl Default for Hub {
    fn default() -> Hub {
        let boot =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Hub { inner: Mutex::default(), boot: boot as u64 }
    }
}

#[derive(Default)]
struct Inner {
    /// Each client's queue, by its number.
    subs: Vec<(u64, SyncSender<Arc<str>>)>,
    next_sub: u64,
    /// The last event id given.
    last_id: u64,
    /// The last events but levels, as SSE messages with their id's N.
    replay: VecDeque<(u64, Arc<str>)>,
    level: Option<Value>,
    turntable: Turntable,
    reports: VecDeque<SideReport>,
    lines: u64,
    bad_lines: u64,
}

impl Hub {
    /// Takes one line of the events file (or one of vinyl-web's own events): updates the state
    /// and passes it to every SSE client.
    pub fn publish(&self, line: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // A listener's event with a field that is not what its definition says is passed on to
        // nobody and counted, like a line that is not JSON; other kinds are passed on as they are.
        let kind = match events::parse(line) {
            Err(_) => {
                g.bad_lines += 1;
                return;
            }
            Ok(Line::Unknown(kind)) => kind,
            Ok(Line::Event(e)) => {
                match &e {
                    Event::Level(_) => g.level = Some(e.to_json()),
                    Event::SideReport(r) => g.remember_report(r.clone()),
                    e => g.turntable.apply(e),
                }
                e.kind().to_string()
            }
        };
        g.lines += 1;
        let kind = if plain_word(&kind) { kind.as_str() } else { "message" };
        g.last_id += 1;
        let id = g.last_id;
        let msg: Arc<str> =
            Arc::from(format!("id: {}.{id}\nevent: {kind}\ndata: {}\n\n", self.boot, line.trim()));
        if kind != "level" {
            if g.replay.len() == REPLAY {
                g.replay.pop_front();
            }
            g.replay.push_back((id, msg.clone()));
        }
        g.subs.retain(|(_, tx)| match tx.try_send(msg.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        });
    }

    /// Takes a side report from the file's history (no SSE clients are told).
    fn remember(&self, line: &str) {
        if let Ok(Line::Event(Event::SideReport(r))) = events::parse(line) {
            self.inner.lock().unwrap_or_else(|e| e.into_inner()).remember_report(r);
        }
    }

    /// A new SSE client's queue, and what it missed since `last_event_id` (its `Last-Event-ID`),
    /// as SSE messages. The queue leaves the hub when the [`Subscription`] is dropped.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> (Subscription<'_>, Vec<Arc<str>>) {
        let (tx, rx) = sync_channel(QUEUE);
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.next_sub += 1;
        let n = g.next_sub;
        g.subs.push((n, tx));
        let missed = last_event_id.map(|last| match last.split_once('.') {
            Some((boot, id)) if boot == self.boot.to_string() => id.parse::<u64>().unwrap_or(0),
            _ => 0,
        });
        let replay = match missed {
            Some(after) => g.replay.iter().filter(|(id, _)| *id > after).map(|(_, m)| m.clone()).collect(),
            None => Vec::new(),
        };
        (Subscription { hub: self, n, rx }, replay)
    }

    /// The last level event, the turntable, the number of lines and of bad lines.
    pub fn state(&self) -> (Option<Value>, Turntable, u64, u64) {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (g.level.clone(), g.turntable.clone(), g.lines, g.bad_lines)
    }

    /// The side reports whose frame lies in `start..end`.
    pub fn reports_in(&self, start: u64, end: u64) -> Vec<SideReport> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.reports.iter().filter(|r| r.frame >= start && r.frame < end).cloned().collect()
    }

    /// How many SSE clients are connected.
    pub fn clients(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).subs.len()
    }
}

/// A client's queue of SSE messages; leaves the hub when dropped, whatever ended the client.
pub struct Subscription<'a> {
    hub: &'a Hub,
    n: u64,
    /// The messages.
    pub rx: Receiver<Arc<str>>,
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        self.hub.inner.lock().unwrap_or_else(|e| e.into_inner()).subs.retain(|(n, _)| *n != self.n);
    }
}

/// True for an event name that can go on an SSE `event:` line as it is.
fn plain_word(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Inner {
    fn remember_report(&mut self, v: SideReport) {
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

/// `GET /events`: every event as an SSE message until the client goes or stalls; first the state
/// now (`hello`), then what a reconnecting client missed.
pub fn serve(app: &App, req: &http::Request, mut s: TcpStream) {
    let (sub, missed) = app.hub.subscribe(req.header("last-event-id"));
    if http::start_stream(&mut s, "text/event-stream", &[]).is_err() {
        return;
    }
    // The state now, so a new page need not wait for the next change.
    let hello = json!({ "event": "hello", "turntable": app.hub.state().1.view(), "recording": app.control.summary() });
    let mut out = format!("retry: 2000\nevent: hello\ndata: {hello}\n\n");
    missed.iter().for_each(|m| out.push_str(m));
    if s.write_all(out.as_bytes()).is_err() {
        return;
    }
    let mut quiet = std::time::Instant::now();
    while !signals::stop_requested() {
        let out = match sub.rx.recv_timeout(HANGUP_CHECK) {
            Ok(msg) => msg,
            Err(RecvTimeoutError::Timeout) if hung_up(&s) => return,
            Err(RecvTimeoutError::Timeout) if quiet.elapsed() >= KEEP_ALIVE => Arc::from(": keep-alive\n\n"),
            Err(RecvTimeoutError::Timeout) => continue,
            // Dropped by the hub: its queue was full.
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if s.write_all(out.as_bytes()).is_err() {
            return;
        }
        quiet = std::time::Instant::now();
    }
}

/// True when the client closed its end (its socket reads as at its end), or sent something, which
/// an SSE client never does.
fn hung_up(s: &TcpStream) -> bool {
    crate::input::wait_readable(s.as_fd(), Some(Duration::ZERO)).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_turntable_follows_sides_tracks_and_runout() {
        let hub = Hub::default();
        assert_eq!(hub.state().1.view().state, "idle");
        for line in [
            r#"{"event":"side_start","frame":10,"at":0,"side":1}"#,
            r#"{"event":"track_start","frame":20,"at":0,"side":1,"track":2}"#,
        ] {
            hub.publish(line);
        }
        let t = hub.state().1;
        assert_eq!((t.state.as_str(), t.side, t.track, t.frame), ("side", 1, 2, Some(20)));
        hub.publish(r#"{"event":"side_end","frame":30,"at":31,"side":1,"reason":"runout","rpm":33.3}"#);
        assert_eq!(hub.state().1.state, "runout");
        hub.publish(r#"{"event":"side_end","frame":40,"at":41,"side":1,"reason":"lift"}"#);
        assert_eq!(hub.state().1.state, "idle");
        hub.publish(r#"{"event":"mystery","frame":50}"#);
        assert_eq!(hub.state().1.frame, Some(40), "unknown events change nothing");
        // A listener's event without a field it must have is counted as bad, not read as side 0.
        hub.publish(r#"{"event":"side_start","frame":60,"at":60}"#);
        assert_eq!((hub.state().1.frame, hub.state().3), (Some(40), 1));
    }

    #[test]
    fn a_stalled_sse_client_is_dropped_not_waited_for() {
        let hub = Hub::default();
        let (sub, _) = hub.subscribe(None);
        for i in 0..QUEUE + 1 {
            hub.publish(&format!(
                r#"{{"event":"level","frame":{i},"at":{i},"rms_dbfs":[],"peak_dbfs":[],"clipped":0}}"#
            ));
        }
        assert_eq!(hub.clients(), 0);
        assert_eq!(sub.rx.try_iter().count(), QUEUE);
        hub.publish("not json");
        assert_eq!(hub.state().3, 1);
    }

    #[test]
    fn a_client_that_goes_leaves_the_hub_and_one_that_comes_back_gets_what_it_missed() {
        let hub = Hub::default();
        let (sub, missed) = hub.subscribe(None);
        assert!(missed.is_empty());
        assert_eq!(hub.clients(), 1);
        drop(sub);
        assert_eq!(hub.clients(), 0, "no event needed to forget it");
        for line in [
            r#"{"event":"side_start","frame":1,"at":1,"side":1}"#,
            r#"{"event":"level","frame":2,"at":2,"rms_dbfs":[],"peak_dbfs":[],"clipped":0}"#,
            r#"{"event":"track_start","frame":3,"at":3,"side":1,"track":2}"#,
            r#"{"event":"bad name\nid: 9","frame":4}"#,
        ] {
            hub.publish(line);
        }
        let boot = hub.boot;
        let (_sub, missed) = hub.subscribe(Some(&format!("{boot}.1")));
        assert_eq!(missed.len(), 2, "{missed:?}");
        assert!(missed[0].starts_with(&format!("id: {boot}.3\nevent: track_start\ndata: {{")));
        assert!(missed[1].starts_with(&format!("id: {boot}.4\nevent: message\n")), "{}", missed[1]);
        let (_sub, missed) = hub.subscribe(Some("1.1"));
        assert_eq!(missed.len(), 3, "an id from another run gets all that is held");
    }
}
