//! Which handler answers which request, and `GET /status`.
//!
//! Owns the table of endpoints (see `vinyl-web(1)`) and the token check in front of the control
//! endpoints. Reading endpoints need no token; `POST /rec/start`, `POST /rec/stop` and the
//! latency reset do. No endpoint answers a CORS pre-flight (`OPTIONS` is 405), so a page of another
//! origin can never send the token header. The page, its worklet and its mount player are compiled in
//! (`include_str!`), served with a Content-Security-Policy that allows nothing from elsewhere.
//! Only the Host names [`Hosts`] allows are answered (421 else), so a site rebinding its name to
//! this machine cannot read the API either; `/status` names no absolute path and no process.

use super::budget::Ticket;
use super::http::{Request, Response};
use super::status;
use super::{App, events, files, listen};
use crate::ring::RingReader;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::TcpStream;

/// The page (one file: HTML, CSS and script).
const PAGE: &str = include_str!("page.html");
/// The AudioWorklet processor the page loads.
const WORKLET: &str = include_str!("worklet.js");
/// The page's player of the Icecast mounts (a script of its own so that the bench runs it too).
const MOUNT_PLAYER: &str = include_str!("mount.js");

/// The page's Content-Security-Policy: nothing from elsewhere, but for audio from the Icecast
/// mounts of the Listen menu (each origin, `http://HOST:PORT`). An MP3 mount's origin may also be
/// fetched, and media may come from `blob:`: `mount.js` feeds the MP3 to Media Source Extensions.
pub fn csp(mounts: &[super::status::Mount]) -> String {
    let (mut media, mut connect) = (vec!["'self'".to_string()], vec!["'self'".to_string()]);
    for m in mounts {
        let Ok(ep) = crate::icecast::Endpoint::parse(&m.url) else { continue };
        // Each origin once: mounts of one server share it.
        let origin = format!("http://{}", ep.authority());
        if m.content_type == "audio/mpeg" && !connect.contains(&origin) {
            connect.push(origin.clone());
        }
        if !media.contains(&origin) {
            media.push(origin);
        }
    }
    if connect.len() > 1 {
        media.push("blob:".to_string());
    }
    let (media, connect) = (media.join(" "), connect.join(" "));
    format!(
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; \
         media-src {media}; connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
}

/// The Host names a request may give. Bound to loopback: `localhost` and loopback literals, so a
/// site rebinding its name to 127.0.0.1 (DNS rebinding) reads nothing. Bound elsewhere (the LAN):
/// IP literals, `localhost`, this machine's host name and `NAME.local`, and the configured names;
/// any other name is a rebinding page's. IPv4-mapped IPv6 addresses count as the IPv4 address.
#[derive(Clone, Debug)]
pub struct Hosts {
    loopback: bool,
    names: Vec<String>,
}

impl Hosts {
    /// The rule for a server bound to `bound`, with `allowed` names for a LAN bind.
    pub fn new(bound: std::net::IpAddr, allowed: Vec<String>) -> Hosts {
        let mut names: Vec<String> = allowed.into_iter().map(|n| n.to_ascii_lowercase()).collect();
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname")
            && let Some(h) = Some(h.trim()).filter(|h| !h.is_empty())
        {
            names.extend([h.to_ascii_lowercase(), format!("{}.local", h.to_ascii_lowercase())]);
        }
        Hosts { loopback: super::budget::canonical(bound).is_loopback(), names }
    }

    /// True when `host` (a Host header's value) may not be served.
    pub fn foreign(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host, |(n, _)| n),
        };
        let name = name.to_ascii_lowercase();
        if name == "localhost" {
            return false;
        }
        match name.parse::<std::net::IpAddr>() {
            Ok(ip) => self.loopback && !super::budget::canonical(ip).is_loopback(),
            Err(_) => self.loopback || !self.names.contains(&name),
        }
    }
}

/// True when the request's Host may not be served (see [`Hosts`]); a request without one
/// (HTTP/1.0) is served only on a loopback bind.
pub fn foreign_host(app: &App, req: &Request) -> bool {
    match req.header("host") {
        Some(host) => app.hosts.foreign(host),
        None => !app.hosts.loopback,
    }
}

/// Answers one request on `s`; a stream first takes its place from `ticket`.
pub fn handle(app: &App, req: Request, mut s: TcpStream, ticket: &mut Ticket) {
    if foreign_host(app, &req) {
        let _ = Response::error(421, "this server does not answer to that Host name").send(&mut s);
        return;
    }
    let path = req.path.clone();
    let m = req.method.as_str();
    if m == "GET" && (path == "/listen" || path == "/events") {
        if ticket.to_stream().is_err() {
            let _ = Response::error(503, "too many streams").with("Retry-After", "5").send(&mut s);
            return;
        }
        return if path == "/listen" { listen::serve(app, s) } else { events::serve(app, &req, s) };
    }
    let resp = match (m, path.as_str()) {
        ("GET" | "HEAD", p) if p.starts_with("/recordings/") => {
            return files::download(app, &req, &p["/recordings/".len()..], s);
        }
        ("GET", "/") => {
            Response::new(200, "text/html; charset=utf-8", PAGE).with("Content-Security-Policy", &app.csp)
        }
        ("GET", "/worklet.js") => Response::new(200, "text/javascript; charset=utf-8", WORKLET),
        ("GET", "/mount.js") => Response::new(200, "text/javascript; charset=utf-8", MOUNT_PLAYER),
        ("GET", "/status") => Response::json(200, &status(app)),
        ("GET", "/recordings") => files::list(app),
        ("GET", "/library") => super::collection::albums(app),
        ("GET", "/plays") => super::collection::plays(app),
        ("GET", p) if p.starts_with("/cover/") => super::collection::cover(&p["/cover/".len()..]),
        ("GET", p) if p.starts_with("/plot/") => {
            super::collection::plot(app, &p["/plot/".len()..], &req.query)
        }
        ("POST", "/listen/report") => report(app, &req),
        ("POST", "/rec/start" | "/rec/stop" | "/library/name") if !app.control.authorized(&req) => {
            unauthorized()
        }
        ("POST", "/library/name") => super::collection::name(app, &req),
        ("POST", "/rec/start") => app.control.start(&req),
        ("POST", "/rec/stop") => app.control.stop(),
        (
            _,
            "/" | "/worklet.js" | "/mount.js" | "/status" | "/recordings" | "/library" | "/plays" | "/listen"
            | "/events" | "/listen/report" | "/rec/start" | "/rec/stop" | "/library/name",
        ) => Response::error(405, "method not allowed"),
        _ => Response::error(404, "not found"),
    };
    let _ = resp.send(&mut s);
}

fn unauthorized() -> Response {
    Response::error(401, "the control token is missing or wrong (Authorization: Bearer TOKEN)")
        .with("WWW-Authenticate", "Bearer realm=\"vinyl\"")
}

/// `POST /listen/report`: a latency report, or `{"reset": true}` with the token. Only JSON, and
/// only from this origin: a form or `text/plain` post of another site's page (which needs no
/// pre-flight) is refused.
fn report(app: &App, req: &Request) -> Response {
    let json = req.header("content-type").is_some_and(|t| {
        t.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        return Response::error(415, "send application/json");
    }
    if cross_site(req) {
        return Response::error(403, "not from this page");
    }
    if serde_json::from_slice::<Value>(&req.body).is_ok_and(|v| v["reset"] == true) {
        if !app.control.authorized(req) {
            return unauthorized();
        }
        app.latency.reset();
        return Response::json(200, &json!({ "reset": true }));
    }
    app.latency.report(app, req)
}

/// True when the browser says the request comes from another site: `Sec-Fetch-Site`, or an
/// `Origin` whose host is not the request's Host.
fn cross_site(req: &Request) -> bool {
    if req.header("sec-fetch-site").is_some_and(|v| v == "cross-site" || v == "same-site") {
        return true;
    }
    let Some(origin) = req.header("origin") else { return false };
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    req.header("host").is_none_or(|h| !h.eq_ignore_ascii_case(origin_host))
}

/// The components vinyl-up starts, by their PID files in the run folder.
const COMPONENTS: [(&str, &str); 7] = [
    ("capture", "vinyl-capture"),
    ("mp3-icecast", "vinyl-mp3-icecast"),
    ("stream-tap", "vinyl-preroll"),
    ("tee", "vinyl-tee"),
    ("extra-tap", "vinyl-preroll"),
    ("listen", "vinyl-listen"),
    ("web", "vinyl-web"),
];

fn components(app: &App) -> BTreeMap<&'static str, status::Component> {
    let run = &app.control.settings.run_dir;
    let mut out = BTreeMap::new();
    for (name, program) in COMPONENTS {
        let Some(pid) = crate::rec::state::read_trimmed(&run.join(format!("{name}.pid")))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let running = crate::rec::state::alive(pid, program);
        out.insert(name, status::Component { running });
    }
    out
}

/// A file's name without its folder: `/status` answers anyone who can reach it, and the machine's
/// layout is none of their business.
fn name_of(p: &std::path::Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn ring(app: &App) -> status::Ring {
    let absent = || status::Ring::Absent { name: name_of(&app.ring), present: false };
    let Ok(r) = RingReader::open(&app.ring, false) else { return absent() };
    let Ok(snap) = r.snapshot() else { return absent() };
    let cfg = r.config();
    let gaps = r
        .gaps()
        .iter()
        .rev()
        .take(10)
        .map(|g| status::Gap { first: g.first, frames: g.frames, cause: g.cause.name(), exact: g.exact })
        .collect();
    status::Ring::Present(Box::new(status::RingState {
        name: name_of(&app.ring),
        present: true,
        head: snap.head,
        timeline: snap.timeline.to_string(),
        writer_alive: r.writer_alive().unwrap_or(false),
        rate: cfg.spec.rate,
        channels: cfg.spec.channels,
        format: cfg.spec.format.name(),
        capacity_frames: cfg.capacity_frames,
        gap_count: snap.gap_count,
        gap_frames: snap.gap_frames,
        gaps,
    }))
}

/// `GET /status`.
pub fn status(app: &App) -> status::Status {
    let (levels, turntable, lines, bad_lines) = app.hub.state();
    status::Status {
        tool: super::TOOL,
        version: env!("CARGO_PKG_VERSION"),
        components: components(app),
        ring: ring(app),
        recording: app.control.summary(),
        levels,
        turntable: turntable.view(),
        events: status::Events { name: name_of(&app.events), lines, bad_lines },
        listeners: app.listeners.load(std::sync::atomic::Ordering::SeqCst),
        sse_clients: app.hub.clients(),
        latency: app.latency.summary(),
        mounts: app.mounts.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::status::Mount;
    use super::csp;

    fn mount(name: &'static str, url: &str, content_type: &'static str) -> Mount {
        Mount { name, url: url.to_string(), content_type }
    }

    #[test]
    fn csp_lets_the_page_fetch_only_an_mp3_mount_and_play_it_from_a_blob() {
        let ogg = csp(&[mount("Opus", "http://127.0.0.1:8000/vinyl.opus", "audio/ogg")]);
        assert!(ogg.contains("media-src 'self' http://127.0.0.1:8000;"), "{ogg}");
        assert!(ogg.contains("connect-src 'self';"), "{ogg}");
        let both = csp(&[
            mount("MP3", "http://radio.local:8000/vinyl.mp3", "audio/mpeg"),
            mount("Opus", "http://127.0.0.1:8000/vinyl.opus", "audio/ogg"),
        ]);
        assert!(
            both.contains("media-src 'self' http://radio.local:8000 http://127.0.0.1:8000 blob:;"),
            "{both}"
        );
        assert!(both.contains("connect-src 'self' http://radio.local:8000;"), "{both}");
    }

    #[test]
    fn csp_names_each_origin_once_and_tells_ports_apart() {
        let shared = csp(&[
            mount("MP3", "http://127.0.0.1:8000/vinyl.mp3", "audio/mpeg"),
            mount("Ogg FLAC", "http://127.0.0.1:8000/vinyl.flac.ogg", "audio/ogg"),
            mount("Opus", "http://127.0.0.1:8000/vinyl.opus", "audio/ogg"),
        ]);
        assert!(shared.contains("media-src 'self' http://127.0.0.1:8000 blob:;"), "{shared}");
        assert!(shared.contains("connect-src 'self' http://127.0.0.1:8000;"), "{shared}");
        // One origin's text inside another's (port 80 in 8000) is still another origin.
        let ports = csp(&[
            mount("MP3", "http://radio.local:8000/a.mp3", "audio/mpeg"),
            mount("MP3 2", "http://radio.local:80/b.mp3", "audio/mpeg"),
        ]);
        assert!(
            ports.contains("connect-src 'self' http://radio.local:8000 http://radio.local:80;"),
            "{ports}"
        );
        assert!(
            ports.contains("media-src 'self' http://radio.local:8000 http://radio.local:80 blob:;"),
            "{ports}"
        );
    }
}
