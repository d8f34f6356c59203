//! Which handler answers which request, and `GET /status`.
//!
//! Owns the table of endpoints (see `vinyl-web(1)`) and the token check in front of the control
//! endpoints. Reading endpoints need no token; `POST /rec/start`, `POST /rec/stop` and the
//! latency reset do. No endpoint answers a CORS pre-flight (`OPTIONS` is 405), so a page of another
//! origin can never send the token header. The page and its worklet are compiled in
//! (`include_str!`), served with a Content-Security-Policy that allows nothing from elsewhere.
//! Bound to a loopback address, it answers only requests whose Host is loopback's (421 else), so a
//! site rebinding its name to 127.0.0.1 cannot read the API either.

use super::http::{Request, Response};
use super::{App, events, files, listen};
use crate::ring::RingReader;
use serde_json::{Value, json};
use std::net::TcpStream;

/// The page (one file: HTML, CSS and script).
const PAGE: &str = include_str!("page.html");
/// The AudioWorklet processor the page loads.
const WORKLET: &str = include_str!("worklet.js");

const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; \
                   img-src 'self' data:; media-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'none'";

/// True when a server bound to loopback is asked under a name that is not loopback's: a page of
/// another site whose name was rebound to 127.0.0.1 (DNS rebinding) must not read the API.
pub fn foreign_host(app: &App, req: &Request) -> bool {
    let Some(host) = req.header("host") else { return false };
    if !app.loopback {
        return false;
    }
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    !(name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

/// Answers one request on `s`.
pub fn handle(app: &App, req: Request, mut s: TcpStream) {
    if foreign_host(app, &req) {
        let _ =
            Response::error(421, "this server answers only to localhost or a loopback address").send(&mut s);
        return;
    }
    let path = req.path.clone();
    let m = req.method.as_str();
    let resp = match (m, path.as_str()) {
        ("GET", "/listen") => return listen::serve(app, s),
        ("GET", "/events") => return events::serve(app, s),
        ("GET" | "HEAD", p) if p.starts_with("/recordings/") => {
            return files::download(app, &req, &p["/recordings/".len()..], s);
        }
        ("GET", "/") => {
            Response::new(200, "text/html; charset=utf-8", PAGE).with("Content-Security-Policy", CSP)
        }
        ("GET", "/worklet.js") => Response::new(200, "text/javascript; charset=utf-8", WORKLET),
        ("GET", "/status") => Response::json(200, &status(app)),
        ("GET", "/recordings") => files::list(app),
        ("POST", "/listen/report") => report(app, &req),
        ("POST", "/rec/start" | "/rec/stop") if !app.control.authorized(&req) => unauthorized(),
        ("POST", "/rec/start") => app.control.start(&req),
        ("POST", "/rec/stop") => app.control.stop(),
        (
            _,
            "/" | "/worklet.js" | "/status" | "/recordings" | "/listen" | "/events" | "/listen/report"
            | "/rec/start" | "/rec/stop",
        ) => Response::error(405, "method not allowed"),
        _ => Response::error(404, "not found"),
    };
    let _ = resp.send(&mut s);
}

fn unauthorized() -> Response {
    Response::error(401, "the control token is missing or wrong (Authorization: Bearer TOKEN)")
        .with("WWW-Authenticate", "Bearer realm=\"vinyl\"")
}

/// `POST /listen/report`: a latency report, or `{"reset": true}` with the token.
fn report(app: &App, req: &Request) -> Response {
    if serde_json::from_slice::<Value>(&req.body).is_ok_and(|v| v["reset"] == true) {
        if !app.control.authorized(req) {
            return unauthorized();
        }
        app.latency.reset();
        return Response::json(200, &json!({ "reset": true }));
    }
    app.latency.report(app, req)
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

fn components(app: &App) -> Value {
    let run = &app.control.settings.run_dir;
    let mut out = serde_json::Map::new();
    for (name, program) in COMPONENTS {
        let Some(pid) = crate::rec::state::read_trimmed(&run.join(format!("{name}.pid")))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let running = crate::rec::state::alive(pid, program);
        out.insert(name.into(), json!({ "pid": pid, "running": running }));
    }
    out.into()
}

fn ring(app: &App) -> Value {
    let Ok(r) = RingReader::open(&app.ring, false) else {
        return json!({ "path": app.ring.to_string_lossy(), "present": false });
    };
    let Ok(snap) = r.snapshot() else {
        return json!({ "path": app.ring.to_string_lossy(), "present": false });
    };
    let cfg = r.config();
    let gaps: Vec<Value> = r
        .gaps()
        .iter()
        .rev()
        .take(10)
        .map(|g| json!({ "first": g.first, "frames": g.frames, "cause": g.cause.name(), "exact": g.exact }))
        .collect();
    json!({
        "path": app.ring.to_string_lossy(),
        "present": true,
        "head": snap.head,
        "timeline": snap.timeline,
        "writer_alive": r.writer_alive().unwrap_or(false),
        "rate": cfg.spec.rate,
        "channels": cfg.spec.channels,
        "format": cfg.spec.format.name(),
        "capacity_frames": cfg.capacity_frames,
        "gap_count": snap.gap_count,
        "gap_frames": snap.gap_frames,
        "gaps": gaps,
    })
}

/// `GET /status`.
pub fn status(app: &App) -> Value {
    let (level, turntable, lines, bad) = app.hub.state();
    json!({
        "tool": super::TOOL,
        "version": env!("CARGO_PKG_VERSION"),
        "components": components(app),
        "ring": ring(app),
        "recording": app.control.summary(),
        "levels": level,
        "turntable": turntable.json(),
        "events": { "path": app.events.to_string_lossy(), "lines": lines, "bad_lines": bad },
        "listeners": app.listeners.load(std::sync::atomic::Ordering::SeqCst),
        "sse_clients": app.hub.clients(),
        "latency": app.latency.summary(),
    })
}
