//! The network side of the source tools (`vinyl-mp3-icecast`, `vinyl-ogg-icecast`): one thread
//! running the source connection's state machine.
//!
//! States: *down* (waiting for the next attempt), *connecting* (one [`crate::icecast::connect`]
//! under the timeout), *streaming* (taking chunks from the [`Queue`] and writing them). A failure
//! while connecting or streaming leads back to *down* with a capped, jittered backoff, forever;
//! only a 401 ends the thread with an error (and asks the process to stop). A server that
//! refuses PUT as a method gets the legacy SOURCE request instead. Each state change is logged
//! once ([`StateLog`]) and mirrored to systemd's STATUS; READY=1 goes out on the first
//! connection. The thread also sends the watchdog keep-alive, since it wakes at least every
//! [`TICK`] whatever the input does.
//!
//! It never touches the input: the encoder thread keeps pushing into the queue, which discards
//! while this side is down. A container whose stream must begin with headers (Ogg) gives it
//! [`Restarts`]: on each connection the sender asks the encoder for a fresh stream and skips
//! (counted as discarded) every chunk before one that may begin a stream ([`Chunk::start`]).

use super::queue::{Chunk, Popped, Queue};
use crate::backoff::{Backoff, RETRY_MIN};
use crate::icecast::{FailureKind, Method, SourceConfig, SourceConnection, connect, secs};
use crate::log::StateLog;
use crate::notify::Notifier;
use crate::pcm::format_frames;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest the sender sleeps before looking at the queue, the stop flag and the watchdog again.
pub const TICK: Duration = Duration::from_millis(250);

/// A connection that lasted this long resets the backoff, so the next loss retries at once.
const STABLE: Duration = Duration::from_secs(10);

/// The connection state other threads may look at (the title updater).
#[derive(Debug, Default)]
pub struct Link {
    generation: AtomicU64,
    up: AtomicU64,
}

impl Link {
    /// The number of the current connection (1 for the first), or `None` while down.
    pub fn current(&self) -> Option<u64> {
        match self.up.load(Ordering::SeqCst) {
            0 => None,
            g => Some(g),
        }
    }

    fn set_up(&self) {
        let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.up.store(g, Ordering::SeqCst);
    }

    fn set_down(&self) {
        self.up.store(0, Ordering::SeqCst);
    }
}

/// The sender's requests for a fresh stream (one per connection), read by the encoder thread.
#[derive(Debug, Default)]
pub struct Restarts(AtomicU64);

impl Restarts {
    /// How many fresh streams were asked for so far; a change means "begin a new stream".
    pub fn asked(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn ask(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Everything the sender thread needs.
#[derive(Debug)]
pub struct Sender {
    /// The tool's name for log lines.
    pub tool: &'static str,
    /// Server, credentials, headers, timeouts.
    pub source: SourceConfig,
    /// Longest retry delay, e.g. 2 s (a shorter one counts as [`RETRY_MIN`]).
    pub retry_max: Duration,
    /// Sample rate of the input, for reporting discarded input frames as time.
    pub rate: u32,
    /// Chunks from the encoder.
    pub queue: Arc<Queue>,
    /// Connection state published to other threads.
    pub link: Arc<Link>,
    /// systemd notify.
    pub notifier: Arc<Mutex<Notifier>>,
    /// `Some` when a stream may begin only at a [`Chunk::start`] chunk, which each connection
    /// asks for here.
    pub restarts: Option<Arc<Restarts>>,
}

fn describe_send_error(e: &io::Error, timeout: Duration) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("the server took no data for {}", secs(timeout))
        }
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            "the server closed the connection".to_string()
        }
        _ => e.to_string(),
    }
}

/// Where the sender stands between connections.
#[derive(Debug)]
struct Attempts {
    backoff: Backoff,
    /// The method to try next: PUT, or the legacy SOURCE after a 405.
    method: Method,
    /// No connection attempt before this.
    retry_at: Instant,
    /// Audio discarded while disconnected that the log already reported.
    discarded_reported: u64,
    /// The fallback is announced once: a server that refuses both methods must not make the
    /// log alternate between two lines forever.
    fallback_logged: bool,
}

impl Sender {
    fn notify(&self, f: impl FnOnce(&mut Notifier)) {
        f(&mut self.notifier.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Runs until the input has ended and the queue is drained (or immediately once the input
    /// has ended while down). Returns an error only for a fatal refusal (401), after asking the
    /// process to stop.
    pub fn run(self) -> anyhow::Result<()> {
        let url = self.source.endpoint.to_string();
        let mut log = StateLog::new(self.tool);
        let mut at = Attempts {
            backoff: Backoff::new(RETRY_MIN, self.retry_max),
            method: Method::Put,
            retry_at: Instant::now(),
            discarded_reported: 0,
            fallback_logged: false,
        };
        loop {
            self.notify(Notifier::watchdog);
            if self.queue.input_done() {
                return Ok(());
            }
            let now = Instant::now();
            if now < at.retry_at {
                if self.queue.wait_input_done((at.retry_at - now).min(TICK)) {
                    return Ok(());
                }
                continue;
            }
            let Some(conn) = self.connect(&url, &mut at, &mut log)? else { continue };
            let wanted = self.up(&url, &conn, &mut at, &mut log);
            let since = conn.since();
            let Err((reason, unsent)) = self.stream(conn, wanted) else { return Ok(()) };
            self.queue.close(unsent);
            self.link.set_down();
            log.change(&url, &format!("connection lost ({reason}); reconnecting"));
            self.notify(|n| n.status(&format!("disconnected: {reason}")));
            if since.elapsed() >= STABLE {
                at.backoff.reset();
                at.retry_at = Instant::now();
            } else {
                at.retry_at = Instant::now() + at.backoff.next_delay();
            }
        }
    }

    /// One connection attempt. `None` when it failed and will be retried (the next attempt's
    /// method and time set in `at`); `Err` for a refusal not worth retrying, after asking the
    /// process to stop.
    fn connect(
        &self,
        url: &str,
        at: &mut Attempts,
        log: &mut StateLog,
    ) -> anyhow::Result<Option<SourceConnection>> {
        match connect(&self.source, at.method) {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.is_fatal() => {
                self.notify(|n| n.status(&format!("stopped: {}", e.message)));
                crate::signals::request_stop();
                Err(anyhow::Error::new(e).context(format!("{url}: not retrying, wrong credentials")))
            }
            Err(e) if e.kind == FailureKind::MethodNotSupported && at.method == Method::Put => {
                if !at.fallback_logged {
                    log.change(url, &format!("{}; trying the legacy SOURCE method", e.message));
                    at.fallback_logged = true;
                }
                at.method = Method::Source;
                Ok(None)
            }
            Err(e) => {
                if e.kind == FailureKind::MethodNotSupported {
                    at.method = Method::Put;
                }
                let state = format!("{}; retrying every {} at most", e.message, secs(at.backoff.max()));
                log.change(url, &state);
                self.notify(|n| n.status(&format!("disconnected: {}", e.message)));
                at.retry_at = Instant::now() + at.backoff.next_delay();
                Ok(None)
            }
        }
    }

    /// A connection is up: opens the queue, tells the other threads and systemd, and logs what
    /// was discarded while down.
    fn up(&self, url: &str, conn: &SourceConnection, at: &mut Attempts, log: &mut StateLog) -> u64 {
        let wanted = self.restarts.as_ref().map_or(0, |r| r.ask());
        self.queue.open();
        self.link.set_up();
        let discarded = self.queue.counters().discarded;
        let mut state = format!("streaming ({})", conn.method());
        if discarded > at.discarded_reported {
            state.push_str(&format!(
                "; {} of audio discarded while disconnected",
                format_frames(discarded - at.discarded_reported, self.rate)
            ));
        }
        at.discarded_reported = discarded;
        log.change(url, &state);
        self.notify(|n| {
            n.ready();
            n.status(&format!("streaming to {url}"));
        });
        wanted
    }

    /// Sends queued chunks until the input is finished (Ok) or the connection fails (the reason
    /// and the chunk that could not be sent).
    /// Before the first chunk sent, skips those that cannot begin a stream made for request
    /// `wanted`.
    fn stream(&self, mut conn: SourceConnection, wanted: u64) -> Result<(), (String, Option<Chunk>)> {
        let mut begun = self.restarts.is_none();
        loop {
            self.notify(Notifier::watchdog);
            match self.queue.pop(TICK) {
                Popped::Chunk(c) if !begun && c.start.is_none_or(|n| n < wanted) => self.queue.skipped(c),
                Popped::Chunk(c) => match conn.send(&c.data) {
                    Ok(()) => {
                        begun = true;
                        self.queue.sent(c);
                    }
                    Err(e) => return Err((describe_send_error(&e, self.source.timeout), Some(c))),
                },
                Popped::Empty => {}
                Popped::Finished => {
                    conn.close();
                    return Ok(());
                }
            }
        }
    }
}
