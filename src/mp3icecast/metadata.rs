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
use crate::icecast::titles::TitleReader;
use crate::icecast::{SourceConfig, update_metadata};
use crate::log::StateLog;
use crate::vlog;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Wait before retrying a title the server did not take.
pub const RETRY: Duration = Duration::from_secs(2);

/// How long one wait for a title lasts before the connection state is looked at again.
const WAIT: Duration = Duration::from_millis(250);

/// The title updater: reads the FIFO and sends titles while connected.
#[derive(Debug)]
pub struct TitleFeed {
    /// The FIFO.
    pub titles: TitleReader,
    /// Server, mount, credentials (Icecast accepts the source's for the mount's metadata) and
    /// the network timeout per step.
    pub source: SourceConfig,
    /// Whether (and which) connection is up.
    pub link: Arc<Link>,
}

impl TitleFeed {
    /// Runs forever (the thread ends with the process).
    pub fn run(mut self) {
        let mut log = StateLog::new(TOOL);
        let object = format!("{}: title", self.source.endpoint);
        let mut sent_for: Option<u64> = None;
        let mut retry_at = Instant::now();
        loop {
            // Errors and timeouts alike lead to the non-blocking read below.
            let _ = crate::input::wait_readable(self.titles.fd(), Some(WAIT));
            match self.titles.poll() {
                Ok(true) => {
                    sent_for = None;
                    retry_at = Instant::now();
                }
                Ok(false) => {}
                Err(e) => {
                    vlog!(TOOL, "{e:#}; titles stop here");
                    return;
                }
            }
            let (Some(t), Some(generation)) = (self.titles.title(), self.link.current()) else { continue };
            if sent_for == Some(generation) || Instant::now() < retry_at {
                continue;
            }
            let SourceConfig { endpoint, credentials, timeout, .. } = &self.source;
            match update_metadata(endpoint, credentials, t, *timeout) {
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
