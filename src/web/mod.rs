//! `vinyl-web`: the turntable's web page and HTTP API, served from the ring in-process.
//!
//! Parts: [`cli`] (the flags), [`http`] (the wire: requests within a deadline and size limits,
//! responses and streams), [`routes`] (which handler answers, `/status`), [`listen`] (the live
//! audio stream and the latency measure), [`events`] (following the listener's events file; SSE),
//! [`control`] (the token; recordings started and stopped through vinyl-rec's code), [`files`]
//! (the recordings list and downloads), and the page itself (`page.html`, `worklet.js`).
//!
//! Threads: the accept loop (main thread, which takes the signals), one per connection (at most
//! `--max-clients`), one following the events file, one timing the ring's publications, one
//! watching the recording. How it fails: an address that cannot be bound or an unsafe token file
//! end it (exit 1) before it serves; a missing token file leaves the control endpoints answering
//! 401 (said once at the start); everything after that is per connection and never ends the
//! server. SIGTERM/SIGINT/SIGHUP end it with exit 0.

pub mod cli;
pub mod control;
pub mod events;
pub mod files;
pub mod http;
pub mod listen;
pub mod routes;

pub use cli::Opts;

use crate::config::Config;
use crate::pcm::PcmSpec;
use crate::{signals, vlog};
use anyhow::Context as _;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The tool's name as it starts every message.
pub const TOOL: &str = "vinyl-web";

/// What every handler shares.
pub struct App {
    /// The ring tapped.
    pub ring: PathBuf,
    /// Its format (from the flags; a ring of another is refused per listener).
    pub spec: PcmSpec,
    /// The events file followed.
    pub events: PathBuf,
    /// The events' state and the SSE clients.
    pub hub: events::Hub,
    /// Recording control.
    pub control: control::Control,
    /// The ring's publication times.
    pub clock: listen::Clock,
    /// The page's latency reports.
    pub latency: listen::Latency,
    /// Listening clients now.
    pub listeners: AtomicUsize,
    /// Connections open now.
    pub connections: AtomicUsize,
    /// `--max-clients`.
    pub max_clients: usize,
    /// `--request-timeout`.
    pub request_timeout: Duration,
    /// Bound to a loopback address: requests must name a loopback host.
    pub loopback: bool,
}

/// The token file when none is given: `$VINYL_WEB_TOKEN_FILE`, else `/etc/vinyl/web-token` for
/// root, else `~/.config/vinyl/web-token` (the rule vinyl-up uses when it creates the file).
pub fn default_token_file(cfg: &Config) -> PathBuf {
    if let Some(p) = cfg.get("VINYL_WEB_TOKEN_FILE") {
        return p.into();
    }
    if nix::unistd::geteuid().is_root() {
        return "/etc/vinyl/web-token".into();
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).unwrap_or_else(|| "/nonexistent".into());
    Path::new(&home).join(".config/vinyl/web-token")
}

/// Builds the shared state from the flags, the configuration and the environment.
fn app(o: &Opts) -> anyhow::Result<App> {
    let cfg = Config::discover()?;
    let mut settings = crate::rec::Settings::load()?;
    if let Some(r) = &o.ring {
        settings.ring = r.clone();
    }
    if let Some(d) = &o.recordings {
        settings.recordings = d.clone();
    }
    let events = match (&o.events, cfg.get("VINYL_EVENTS")) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p.into(),
        (None, None) => settings.run_dir.join("events"),
    };
    let token_file = o.token_file.clone().unwrap_or_else(|| default_token_file(&cfg));
    let token = if token_file.exists() {
        Some(control::read_token(&token_file)?)
    } else {
        vlog!(
            TOOL,
            "{}: no token file: the control endpoints answer 401 (vinyl-up creates it)",
            token_file.display()
        );
        None
    };
    Ok(App {
        ring: settings.ring.clone(),
        spec: o.pcm.spec(),
        events,
        hub: events::Hub::default(),
        control: control::Control::new(settings, token),
        clock: listen::Clock::default(),
        latency: listen::Latency::default(),
        listeners: AtomicUsize::new(0),
        connections: AtomicUsize::new(0),
        max_clients: o.max_clients as usize,
        request_timeout: Duration::from_secs(o.request_timeout),
        loopback: o.listen.ip().is_loopback(),
    })
}

/// Runs the server until SIGTERM, SIGINT or SIGHUP.
pub fn run(o: Opts) -> anyhow::Result<()> {
    signals::install()?;
    let app = Arc::new(app(&o)?);
    let listener = TcpListener::bind(o.listen).with_context(|| format!("{}: cannot listen", o.listen))?;
    let addr = listener.local_addr().context("listening address")?;
    let a = app.clone();
    signals::spawn_thread("events", move || events::follow(&a.hub, &a.events))?;
    let a = app.clone();
    signals::spawn_thread("clock", move || a.clock.run(a.ring.clone(), a.spec))?;
    let a = app.clone();
    signals::spawn_thread("recording", move || a.control.watch(&a))?;
    vlog!(
        TOOL,
        "serving http://{addr}/ (ring {}, events {}, recordings {})",
        app.ring.display(),
        app.events.display(),
        app.control.settings.recordings.display()
    );
    let mut notifier = crate::notify::Notifier::from_env();
    notifier.ready();
    notifier.status(&format!("serving http://{addr}/"));
    while !signals::stop_requested() {
        notifier.watchdog();
        if !readable(&listener) {
            continue;
        }
        match listener.accept() {
            Ok((s, _)) => admit(&app, s),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                vlog!(TOOL, "{addr}: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    notifier.stopping();
    vlog!(TOOL, "stopping on {}", signals::stop_signal_name().unwrap_or("a stop request"));
    Ok(())
}

/// Waits up to 500 ms for a connection (a signal interrupts it).
fn readable(l: &TcpListener) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let fd = l.as_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let t = Timespec { tv_sec: 0, tv_nsec: 500_000_000 };
    matches!(poll(&mut fds, Some(&t)), Ok(n) if n > 0)
}

/// Serves a connection on its own thread, or answers 503 when there are too many.
fn admit(app: &Arc<App>, mut s: TcpStream) {
    let open = app.connections.fetch_add(1, Ordering::SeqCst) + 1;
    if open > app.max_clients {
        app.connections.fetch_sub(1, Ordering::SeqCst);
        let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
        let _ = http::Response::error(503, "too many clients").with("Retry-After", "5").send(&mut s);
        return;
    }
    let a = app.clone();
    let spawned = signals::spawn_thread("client", move || {
        serve(&a, s);
        a.connections.fetch_sub(1, Ordering::SeqCst);
    });
    if spawned.is_err() {
        app.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads one request and answers it.
fn serve(app: &App, mut s: TcpStream) {
    match http::read_request(&mut s, app.request_timeout) {
        Ok(req) => routes::handle(app, req, s),
        Err(http::ReadFail::Status(code, text)) => {
            let _ = http::Response::error(code, text).send(&mut s);
        }
        Err(http::ReadFail::Closed) => {}
    }
}
