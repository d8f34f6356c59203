//! The connection to the broker: rumqttc's event loop, driven on its own thread.
//!
//! Owns the connection's state as the main loop sees it ([`Link`]: connected or not, a counter of
//! sessions so a new one is noticed and everything is sent again, the fatal refusal), the
//! reconnection policy (forever, with [`Backoff`] from 0.5 s to 30 s between attempts, one log
//! line per change of state, not per attempt), the subscription to the switch's command topic
//! on every session, and passing its commands on. How it fails: a broker that refuses the user
//! name or password (CONNACK 4 or 5) is fatal ([`Link::fatal`]; the tool exits 1 naming the broker
//! and the user, never the password); anything else is retried.

use crate::backoff::{Backoff, RETRY_MIN};
use crate::log::StateLog;
use crate::signals;
use rumqttc::{Client, ConnectReturnCode, Connection, ConnectionError, Event, Outgoing, Packet, QoS};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest delay before a reconnection.
pub const RETRY_MAX: Duration = Duration::from_secs(30);

/// A command for the recording, from the switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// `ON`: start a recording.
    On,
    /// `OFF`: stop it.
    Off,
}

/// The connection's state, shared with the main loop.
#[derive(Debug, Default)]
pub struct Link {
    connected: AtomicBool,
    sessions: AtomicU64,
    ended: AtomicBool,
    fatal: Mutex<Option<String>>,
    /// Commands not passed on because one was still being carried out.
    pub commands_dropped: AtomicU64,
}

impl Link {
    /// True while a session is up.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Sessions so far (each CONNACK accepted).
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::SeqCst)
    }

    /// True once the connection's thread ended.
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// The refusal that ends the tool, if the broker gave one.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What the connection's thread needs.
pub struct Driver {
    /// The event loop.
    pub connection: Connection,
    /// A client, to subscribe on each session.
    pub client: Client,
    /// The shared state.
    pub link: Arc<Link>,
    /// The broker as it is named in messages.
    pub broker: String,
    /// The user name, for the refusal's message.
    pub user: Option<String>,
    /// The switch's command topic.
    pub command_topic: String,
    /// Where the switch's commands go.
    pub commands: SyncSender<Switch>,
    /// The tool's name for its log lines.
    pub tool: &'static str,
}

impl Driver {
    /// Drives the connection until the client disconnects, the broker refuses the credentials,
    /// or a stop is asked while disconnected.
    pub fn run(mut self) {
        let mut log = StateLog::new(self.tool);
        // The first error of an outage is logged; the retries' own errors are not.
        let mut down = false;
        let mut backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
        while let Ok(event) = self.connection.recv() {
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff.reset();
                    down = false;
                    let _ = self.client.try_subscribe(self.command_topic.clone(), QoS::AtLeastOnce);
                    self.link.connected.store(true, Ordering::SeqCst);
                    self.link.sessions.fetch_add(1, Ordering::SeqCst);
                    log.change(&self.broker, "connected");
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == self.command_topic => {
                    self.command(&p.payload)
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(
                    code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
                )) => {
                    self.refused(code);
                    break;
                }
                Err(e) => {
                    self.link.connected.store(false, Ordering::SeqCst);
                    if !down {
                        let max = backoff.max().as_secs();
                        log.change(
                            &self.broker,
                            &format!("unreachable ({e}); retrying every {max} s at most"),
                        );
                        down = true;
                    }
                    if !wait(backoff.next_delay()) {
                        break;
                    }
                }
            }
        }
        self.link.connected.store(false, Ordering::SeqCst);
        self.link.ended.store(true, Ordering::SeqCst);
    }

    fn command(&self, payload: &[u8]) {
        let want = match payload.trim_ascii() {
            b"ON" | b"on" => Switch::On,
            b"OFF" | b"off" => Switch::Off,
            other => {
                let shown = String::from_utf8_lossy(&other[..other.len().min(32)]).escape_debug().to_string();
                crate::vlog!(self.tool, "{}: '{shown}' is neither ON nor OFF: ignored", self.command_topic);
                return;
            }
        };
        if self.commands.try_send(want).is_err() {
            self.link.commands_dropped.fetch_add(1, Ordering::SeqCst);
            crate::vlog!(
                self.tool,
                "{}: {want:?} ignored: the last command is still being carried out",
                self.command_topic
            );
        }
    }

    fn refused(&self, code: ConnectReturnCode) {
        let why = match code {
            ConnectReturnCode::BadUserNamePassword => "bad user name or password",
            _ => "not authorised",
        };
        let user =
            self.user.as_deref().map_or("no user name (anonymous)".to_string(), |u| format!("user '{u}'"));
        let msg = format!(
            "{}: the broker refused {user} ({why}): check VINYL_MQTT_USERNAME, VINYL_MQTT_PASSWORD_FILE and the broker's password file",
            self.broker
        );
        *self.link.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg);
        signals::request_stop();
    }
}

/// Sleeps `d` unless a stop is asked first (then false).
fn wait(d: Duration) -> bool {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if signals::stop_requested() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(end - std::time::Instant::now()));
    }
    !signals::stop_requested()
}
