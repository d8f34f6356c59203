//! Stream titles from a FIFO: each line written to `--metadata-fifo` becomes the mount's title.
//!
//! Owns a thread that reads lines from the FIFO ([`crate::icecast::titles`]) and sends the newest
//! one through [`crate::icecast::update_metadata`] whenever it changes or a new connection comes
//! up (Icecast forgets the title when a source reconnects). A line that repeats the title is not
//! news and is not sent again: `vinyl-rec auto` writes its title again every few seconds, for an
//! encoder that started after it.
//!
//! A refused or failed update is logged once and retried every [`RETRY`] while it stays
//! unsent; it never affects the audio.

use super::TOOL;
use crate::icecast::sender::Link;
use crate::icecast::titles::{LineSplitter, newest};
use crate::icecast::{Credentials, Endpoint, update_metadata};
use crate::log::StateLog;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::icecast::titles::open_fifo;

/// Wait before retrying a title the server did not take.
pub const RETRY: Duration = Duration::from_secs(2);

/// How long one wait for a title lasts before the connection state is looked at again.
const WAIT: Duration = Duration::from_millis(250);

/// The title updater: reads the FIFO and sends titles while connected.
#[derive(Debug)]
pub struct TitleFeed {
    /// The FIFO, from [`open_fifo`].
    pub fifo: File,
    /// Its path, for messages.
    pub path: PathBuf,
    /// Server and mount.
    pub endpoint: Endpoint,
    /// Source credentials (Icecast accepts them for the mount's metadata).
    pub credentials: Credentials,
    /// Network timeout per step.
    pub timeout: Duration,
    /// Whether (and which) connection is up.
    pub link: Arc<Link>,
}

impl TitleFeed {
    /// Runs forever (the thread ends with the process).
    pub fn run(mut self) {
        let mut log = StateLog::new(TOOL);
        let object = format!("{}: title", self.endpoint);
        let fifo_object = self.path.display().to_string();
        let mut lines = LineSplitter::default();
        let mut title: Option<String> = None;
        let mut sent_for: Option<u64> = None;
        let mut retry_at = Instant::now();
        let mut buf = [0u8; 4096];
        loop {
            // Errors and timeouts alike lead to the non-blocking read below.
            let _ = crate::input::wait_readable(self.fifo.as_fd(), Some(WAIT));
            loop {
                match self.fifo.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if newest(&mut title, lines.feed(&buf[..n])) {
                            sent_for = None;
                            retry_at = Instant::now();
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log.change(&fifo_object, &format!("read: {e}; titles stop here"));
                        return;
                    }
                }
            }
            let (Some(t), Some(generation)) = (&title, self.link.current()) else { continue };
            if sent_for == Some(generation) || Instant::now() < retry_at {
                continue;
            }
            match update_metadata(&self.endpoint, &self.credentials, t, self.timeout) {
                Ok(()) => {
                    sent_for = Some(generation);
                    log.change(&object, &format!("set to {t:?}"));
                }
                Err(m) => {
                    log.change(&object, &format!("{m}; retrying every {}", crate::icecast::secs(RETRY)));
                    retry_at = Instant::now() + RETRY;
                }
            }
        }
    }
}
