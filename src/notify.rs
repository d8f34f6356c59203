//! The systemd notify protocol (`READY=1`, `STATUS=…`, `WATCHDOG=1`), when `NOTIFY_SOCKET` is set.
//!
//! Owns the datagram socket to the service manager and the watchdog interval (half of
//! `WATCHDOG_USEC`, as sd_notify(3) advises). Without `NOTIFY_SOCKET` every call is a no-op, so
//! tools behave the same under systemd and from a shell. A failure to send is ignored after
//! being reported once: the service manager's absence must never stop the audio.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// A connection to the service manager's notify socket, or nothing when there is none.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    watchdog_every: Option<Duration>,
    last_watchdog: Instant,
    ready_sent: bool,
    last_status: String,
    warned: bool,
}

impl Notifier {
    /// A notifier that tells nobody anything: for threads that are not the service's main loop
    /// (a watchdog fed by them would keep a hung main loop alive).
    pub fn silent() -> Self {
        Notifier {
            socket: None,
            watchdog_every: None,
            last_watchdog: Instant::now(),
            ready_sent: false,
            last_status: String::new(),
            warned: false,
        }
    }

    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` from the environment (both optional).
    pub fn from_env() -> Self {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let path = path.to_string_lossy().into_owned();
            let addr = if let Some(name) = path.strip_prefix('@') {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?
            } else {
                std::os::unix::net::SocketAddr::from_pathname(&path).ok()?
            };
            let sock = UnixDatagram::unbound().ok()?;
            // A manager that stops reading must never stall the audio: drop the message instead.
            sock.set_nonblocking(true).ok()?;
            Some((sock, addr))
        });
        let watchdog_every = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&us| us > 0)
            .map(|us| Duration::from_micros(us / 2));
        Notifier { socket, watchdog_every, ..Notifier::silent() }
    }

    /// How often [`Notifier::watchdog`] sends `WATCHDOG=1` (half of `WATCHDOG_USEC`), when the
    /// service manager asks for it: a loop must call `watchdog` at least this often.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog_every
    }

    /// True when a service manager is listening.
    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    fn send(&mut self, msg: &str) {
        if let Some((sock, addr)) = &self.socket
            && let Err(e) = sock.send_to_addr(msg.as_bytes(), addr)
            && !self.warned
        {
            self.warned = true;
            crate::vlog!("vinyl", "NOTIFY_SOCKET: send failed ({e}), continuing without systemd notify");
        }
    }

    /// Sends `READY=1` the first time it is called; later calls do nothing.
    pub fn ready(&mut self) {
        if !self.ready_sent {
            self.ready_sent = true;
            self.send("READY=1");
        }
    }

    /// Sends `STATUS=…` when it differs from the last status sent.
    pub fn status(&mut self, status: &str) {
        if status != self.last_status {
            self.last_status = status.to_string();
            self.send(&format!("STATUS={status}"));
        }
    }

    /// Sends `STOPPING=1`.
    pub fn stopping(&mut self) {
        self.send("STOPPING=1");
    }

    /// Sends `WATCHDOG=1` when the watchdog interval asks for it; cheap to call once per buffer.
    pub fn watchdog(&mut self) {
        if let Some(every) = self.watchdog_every
            && self.last_watchdog.elapsed() >= every
        {
            self.last_watchdog = Instant::now();
            self.send("WATCHDOG=1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_a_real_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let addr = std::os::unix::net::SocketAddr::from_pathname(&path).unwrap();
        let mut n = Notifier {
            socket: Some((UnixDatagram::unbound().unwrap(), addr)),
            watchdog_every: Some(Duration::ZERO),
            last_watchdog: Instant::now(),
            ready_sent: false,
            last_status: String::new(),
            warned: false,
        };
        n.ready();
        n.ready();
        n.status("streaming");
        n.status("streaming");
        n.watchdog();
        let mut got = Vec::new();
        server.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 256];
        while let Ok(len) = server.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        assert_eq!(got, ["READY=1", "STATUS=streaming", "WATCHDOG=1"]);
    }
}
