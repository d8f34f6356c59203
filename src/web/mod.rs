//! `vinyl-web`: the turntable's web page and HTTP API, served from the ring in-process.
//!
//! Parts: [`cli`] (the flags), [`http`] (the wire: requests within a deadline and size limits,
//! responses and streams), [`routes`] (which handler answers, `/status`), [`listen`] (the live
//! audio stream and the latency measure), [`events`] (following the listener's events file; SSE),
//! [`control`] (the token; recordings started and stopped through vinyl-rec's code), [`files`]
//! (the recordings list and downloads), and the page itself (`page.html`, `worklet.js`, and
//! `mount.js`, its player of the Icecast mounts).
//!
//! Threads: the accept loop (main thread, which takes the signals and alone feeds systemd's
//! watchdog), one per connection (their places are [`budget`]'s), one following the events file, one timing the ring's publications, one
//! watching the recording. How it fails: an address that cannot be bound or an unsafe token file
//! end it (exit 1) before it serves; a missing token file leaves the control endpoints answering
//! 401 (said once at the start); everything after that is per connection and never ends the
//! server. SIGTERM/SIGINT/SIGHUP end it with exit 0.

pub mod budget;
pub mod cli;
pub mod collection;
pub mod control;
pub mod events;
pub mod files;
pub mod http;
pub mod listen;
pub mod routes;
pub mod status;

pub use cli::Opts;

use crate::cli::UsageError;
use crate::config::Config;
use crate::pcm::PcmSpec;
use crate::{signals, vlog};
use anyhow::Context as _;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
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
    /// The places of requests being read and of streams.
    pub budget: Arc<budget::Budget>,
    /// `--request-timeout`.
    pub request_timeout: Duration,
    /// The names requests may give as their Host (see [`routes::foreign_host`]).
    pub hosts: routes::Hosts,
    /// The Icecast mounts the Listen menu offers.
    pub mounts: Vec<status::Mount>,
    /// The page's Content-Security-Policy (its media sources are the mounts).
    pub csp: String,
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
    let mounts = mounts(o)?;
    let (settings, events) = crate::rec::Settings::for_controller(&cfg, &o.controller)?;
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
        budget: budget::Budget::new(budget::Limits {
            requests: o.max_clients as usize,
            streams: o.max_streams as usize,
            per_address: o.max_streams_per_address as usize,
        }),
        request_timeout: Duration::from_secs(o.request_timeout),
        hosts: routes::Hosts::new(o.listen.ip(), allowed_hosts(o, &cfg)),
        csp: routes::csp(&mounts),
        mounts,
    })
}

/// The mounts of `--mp3-url`, `--ogg-flac-url` and `--opus-url` that are set, each checked as
/// an Icecast URL (a bad one is a usage error naming the flag).
fn mounts(o: &Opts) -> Result<Vec<status::Mount>, UsageError> {
    let mut out = Vec::new();
    for (name, content_type, flag, url) in [
        ("MP3", "audio/mpeg", "--mp3-url", &o.mp3_url),
        ("Ogg FLAC", "audio/ogg", "--ogg-flac-url", &o.ogg_flac_url),
        ("Opus", "audio/ogg", "--opus-url", &o.opus_url),
    ] {
        let Some(url) = url.as_deref().filter(|u| !u.is_empty()) else { continue };
        let ep = crate::icecast::Endpoint::parse(url).map_err(|e| UsageError::new(format!("{flag}: {e}")))?;
        out.push(status::Mount { name, url: ep.to_string(), content_type });
    }
    Ok(out)
}

/// The Host names allowed on a LAN bind: `--allow-host` and `VINYL_WEB_ALLOW_HOSTS` (blank-separated).
fn allowed_hosts(o: &Opts, cfg: &Config) -> Vec<String> {
    let from_config =
        cfg.get("VINYL_WEB_ALLOW_HOSTS").map(|v| v.to_string_lossy().into_owned()).unwrap_or_default();
    o.allow_host.iter().cloned().chain(from_config.split_whitespace().map(str::to_string)).collect()
}

/// `--make-token`: creates the token file when missing and prints its path.
fn make_token(o: &Opts) -> anyhow::Result<()> {
    use std::io::Write as _;
    let path = match &o.token_file {
        Some(p) => p.clone(),
        None => default_token_file(&Config::discover()?),
    };
    if control::make_token(&path)? {
        vlog!(TOOL, "created the web control token {} (mode 0600)", path.display());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", path.display()).and_then(|()| out.flush()).context("stdout: write")
}

/// Runs the server until SIGTERM, SIGINT or SIGHUP.
pub fn run(o: Opts) -> anyhow::Result<()> {
    if o.make_token {
        return make_token(&o);
    }
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
    crate::input::wait_readable(l.as_fd(), Some(Duration::from_millis(500))).unwrap_or(false)
}

/// Serves a connection on its own thread, or answers 503 when there is no place for it.
fn admit(app: &Arc<App>, mut s: TcpStream) {
    let ticket = match app.budget.admit(&s) {
        Ok(t) => t,
        Err(_) => {
            // The main thread must not wait on this client: what it sent so far is read without
            // waiting, so closing does not reset the connection before the answer is read.
            let _ = s.set_nonblocking(true);
            http::discard_pending(&mut s);
            let _ = s.set_nonblocking(false);
            let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = http::Response::error(503, "too many clients").with("Retry-After", "5").send(&mut s);
            let _ = s.shutdown(std::net::Shutdown::Write);
            return;
        }
    };
    let a = app.clone();
    let _ = signals::spawn_thread("client", move || serve(&a, s, ticket));
}

/// Reads one request and answers it.
fn serve(app: &App, mut s: TcpStream, mut ticket: budget::Ticket) {
    // A cover upload may be large, and only with the token: nobody else makes us hold 10 MB.
    let max_body = |req: &http::Request| {
        let upload = req.method == "POST" && req.path == "/library/name" && app.control.authorized(req);
        if upload { collection::MAX_UPLOAD } else { http::MAX_BODY }
    };
    match http::read_request(&mut s, app.request_timeout, &max_body) {
        Ok(req) => {
            ticket.read();
            routes::handle(app, req, s, &mut ticket);
        }
        Err(http::ReadFail::Status(code, text)) => {
            ticket.read();
            let _ = http::Response::error(code, text).send(&mut s);
            http::close_gently(&mut s);
        }
        Err(http::ReadFail::Closed) => {}
    }
}
