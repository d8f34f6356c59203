//! Icecast2 source client: the server address, the source request, its answers, and title
//! updates.
//!
//! Owns one connection attempt ([`connect`]): TCP connect, `PUT /mount HTTP/1.1` with Basic
//! credentials, the caller's `Content-Type` (`audio/mpeg`, `application/ogg`), `Expect: 100-continue` and the `ice-*` headers, or the
//! legacy `SOURCE` method for servers that refuse PUT; then the streaming connection
//! ([`SourceConnection`]) that only writes whole buffers; and the admin request that sets a
//! stream title ([`update_metadata`]). Every network step has a timeout (connect, each read,
//! each write), so a stuck server is an error within a known time. No chunked encoding is ever
//! used (Icecast cannot play it); the body is the raw MP3 until the connection closes.
//!
//! How it fails: each refusal is a [`ConnectError`] whose [`FailureKind`] says what to do (401
//! is a configuration error; 403, refused and timed-out connections are worth retrying; 404 means
//! the server has no such mount, as Liquidsoap's harbor answers for a mistyped one; 400, 405 and
//! 501 mean the server does not speak this method) and whose message tells the user what to
//! check. Messages name the user and the mount, never the password: the [`Secret`] that holds
//! it does not print.
//!
//! The source tools (`vinyl-mp3-icecast`, `vinyl-ogg-icecast`) share what sits on top: the
//! bounded hand-over from encoder to network ([`queue`]), the sender thread that reconnects
//! forever ([`sender`], with [`crate::backoff::Backoff`]), the title FIFO ([`titles`]) and the flags with
//! their resolution: server, password, timeout ([`cli::SourceArgs`]). [`connect`] itself does not
//! retry, sleep or count anything.

pub mod cli;
pub mod http;
pub mod queue;
pub mod sender;
pub mod titles;

use crate::http::{UNRESERVED, percent_encode};
use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Where the stream goes: `http://HOST:PORT/MOUNT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address as written (IPv6 without brackets), e.g. `127.0.0.1`.
    pub host: String,
    /// TCP port, 8000 when the URL gives none.
    pub port: u16,
    /// Mount point, starting with `/`, e.g. `/live.mp3`.
    pub mount: String,
}

impl Endpoint {
    /// Parses `http://HOST[:PORT]/MOUNT`. Refuses (with the reason) credentials in the URL,
    /// schemes other than `http`, a missing mount, and characters that do not belong in a path.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "'{scheme}' URLs are not supported: give http://HOST:PORT/MOUNT (for TLS, run a local \
                     relay or stunnel)"
                ));
            }
            None => {
                return Err(
                    "give the server as http://HOST:PORT/MOUNT, e.g. http://localhost:8000/live".into()
                );
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("the URL must not contain credentials: anything on the command line is visible to \
                 every user in ps and /proc/PID/cmdline; give the user with --user and the password with \
                 --password-file or VINYL_ICECAST_PASSWORD"
                .into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("unclosed '[' in the URL's host")?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b)) {
            return Err(format!("'{}' is not a host name or address", http::printable(host, 80)));
        }
        let port = match port {
            None => 8000,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("'{}' is not a port: give 1..65535", http::printable(p, 20)))?,
        };
        if path.len() < 2 {
            return Err("the URL has no mount point: give http://HOST:PORT/MOUNT, e.g. /live".into());
        }
        if path.contains(['?', '#']) {
            return Err("the mount point must not contain '?' or '#'".into());
        }
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the mount point must be printable ASCII without spaces (percent-encode the rest)".into()
            );
        }
        Ok(Endpoint { host: host.to_string(), port, mount: path.to_string() })
    }

    /// `host:port` as the `Host` header wants it (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.mount)
    }
}

/// A password that never prints: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The password itself, for the one place that needs it (the Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// User and password for the source (the same ones work for `/admin/metadata`).
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The source user, `source` for a stock Icecast.
    pub user: String,
    /// The source password.
    pub password: Secret,
}

impl Credentials {
    /// `Basic …` for the Authorization header.
    fn authorization(&self) -> String {
        format!("Basic {}", http::base64(format!("{}:{}", self.user, self.password.expose()).as_bytes()))
    }
}

/// What listeners and directories see about the stream: the `ice-*` headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamInfo {
    /// `ice-name`, e.g. `Living room turntable`.
    pub name: Option<String>,
    /// `ice-description`.
    pub description: Option<String>,
    /// `ice-genre`.
    pub genre: Option<String>,
    /// `ice-url`: a web page about the stream.
    pub url: Option<String>,
    /// `ice-public`: list the stream in public directories.
    pub public: bool,
    /// `ice-bitrate` in kbit/s (CBR), none for VBR.
    pub bitrate: Option<u16>,
    /// `ice-audio-info`, e.g. `ice-samplerate=48000;ice-bitrate=320;ice-channels=2`.
    pub audio_info: String,
}

impl StreamInfo {
    /// Checks that no value could break the request (line breaks or other control characters).
    pub fn validate(&self) -> Result<(), String> {
        for (flag, v) in [
            ("--name", &self.name),
            ("--description", &self.description),
            ("--genre", &self.genre),
            ("--homepage", &self.url),
        ] {
            if let Some(v) = v
                && v.chars().any(char::is_control)
            {
                return Err(format!("{flag} must not contain line breaks or other control characters"));
            }
        }
        Ok(())
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![("ice-public", if self.public { "1" } else { "0" }.to_string())];
        for (k, v) in [
            ("ice-name", &self.name),
            ("ice-description", &self.description),
            ("ice-genre", &self.genre),
            ("ice-url", &self.url),
        ] {
            if let Some(v) = v {
                h.push((k, v.clone()));
            }
        }
        if let Some(b) = self.bitrate {
            h.push(("ice-bitrate", b.to_string()));
        }
        if !self.audio_info.is_empty() {
            h.push(("ice-audio-info", self.audio_info.clone()));
        }
        h
    }
}

/// How the source announces itself: HTTP `PUT` (Icecast ≥ 2.4) or the legacy `SOURCE` method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `PUT /mount HTTP/1.1` with `Expect: 100-continue`.
    Put,
    /// `SOURCE /mount HTTP/1.0`, for servers older than Icecast 2.4.
    Source,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Put => "PUT",
            Method::Source => "SOURCE",
        })
    }
}

/// Everything a connection attempt needs.
#[derive(Clone, Debug)]
pub struct SourceConfig {
    /// The server and mount.
    pub endpoint: Endpoint,
    /// Source user and password.
    pub credentials: Credentials,
    /// The `ice-*` values.
    pub info: StreamInfo,
    /// `Content-Type` of the body, `audio/mpeg` for MP3, `application/ogg` for Ogg.
    pub content_type: String,
    /// The tool named in `User-Agent`, e.g. `vinyl-mp3-icecast`.
    pub agent: &'static str,
    /// Bound on connect and on each read and write, e.g. 5 s.
    pub timeout: Duration,
    /// Socket send buffer in bytes (bounds how much audio sits in the kernel, and so how soon a
    /// stalled server is noticed), e.g. 64 KiB ≈ 1.6 s at 320 kbit/s.
    pub send_buffer: usize,
}

/// What kind of refusal a [`ConnectError`] is, which decides what to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// 401: wrong user or password. Retrying cannot help.
    Unauthorized,
    /// 403: the mount is in use by another source, or the server's source limit is reached.
    Forbidden,
    /// 404: the server has no such mount (Liquidsoap's harbor only takes the mounts its script
    /// declares; Icecast takes any). Another method would not help.
    MountNotFound,
    /// 400, 405, 501 to a source request: the server does not support this method.
    MethodNotSupported,
    /// Nothing listens on the port (the server is down or restarting).
    Refused,
    /// A connect, read or write took longer than the timeout.
    Timeout,
    /// Any other status (5xx, unexpected codes) or a malformed answer.
    Server,
    /// Name resolution or another network error.
    Network,
}

/// A failed connection attempt: its kind and a message that says what to check.
#[derive(Debug)]
pub struct ConnectError {
    /// What kind of failure it is.
    pub kind: FailureKind,
    /// One line, e.g. `PUT /live: 403 Forbidden (Mountpoint in use): another source is on the
    /// mount or the server's source limit is reached`. Stable across identical failures, so a
    /// state log prints it once.
    pub message: String,
}

impl ConnectError {
    /// True when retrying cannot help (wrong credentials).
    pub fn is_fatal(&self) -> bool {
        self.kind == FailureKind::Unauthorized
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

fn io_failure(step: &str, e: &io::Error, timeout: Duration) -> (FailureKind, String) {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => {
            (FailureKind::Refused, format!("{step}: connection refused (is the server running?)"))
        }
        K::TimedOut | K::WouldBlock => {
            (FailureKind::Timeout, format!("{step}: no answer within {}", crate::icecast::secs(timeout)))
        }
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
            (FailureKind::Server, format!("{step}: the server closed the connection ({e})"))
        }
        K::InvalidData => (FailureKind::Server, format!("{step}: {e}")),
        _ => (FailureKind::Network, format!("{step}: {e}")),
    }
}

/// Environment variable that may hold the source password.
pub const PASSWORD_ENV: &str = "VINYL_ICECAST_PASSWORD";

/// A duration for messages: `5s`, `0.5s`.
pub fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 { format!("{}s", ms / 1000) } else { format!("{}s", ms as f64 / 1000.0) }
}

/// Opens a TCP connection to the endpoint with the configured timeouts, trying each address.
fn open(endpoint: &Endpoint, timeout: Duration) -> Result<TcpStream, (FailureKind, String)> {
    let addrs: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| (FailureKind::Network, format!("resolve {}: {e}", endpoint.host)))?
        .collect();
    let mut last = (FailureKind::Network, format!("resolve {}: no addresses", endpoint.host));
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                let set =
                    |r: io::Result<()>| r.map_err(|e| (FailureKind::Network, format!("socket options: {e}")));
                set(s.set_read_timeout(Some(timeout)))?;
                set(s.set_write_timeout(Some(timeout)))?;
                set(s.set_nodelay(true))?;
                return Ok(s);
            }
            Err(e) => last = io_failure(&format!("connect to {}", endpoint.authority()), &e, timeout),
        }
    }
    Err(last)
}

/// Sets the socket's send buffer (the kernel doubles the value it is given).
fn set_send_buffer(s: &TcpStream, bytes: usize) {
    // Best effort: a kernel that refuses keeps its default, which only delays stall detection.
    let _ = rustix::net::sockopt::set_socket_send_buffer_size(s, (bytes / 2).max(4096));
}

/// Connects to the server and asks to stream to the mount with `method`. On success the
/// connection is ready for MP3 bytes.
///
/// Accepts `100 Continue` followed by `200 OK` (Icecast 2.4) as well as a direct 2xx. After
/// `100 Continue` it waits at most one second for the final status; a server that sends none
/// is taken to accept, since HTTP lets it answer only after the body.
pub fn connect(cfg: &SourceConfig, method: Method) -> Result<SourceConnection, ConnectError> {
    let ep = &cfg.endpoint;
    let step = format!("{method} {}", ep.mount);
    let fail = |(kind, message): (FailureKind, String)| ConnectError { kind, message };
    let mut stream = open(ep, cfg.timeout).map_err(fail)?;
    set_send_buffer(&stream, cfg.send_buffer);
    let mut req = match method {
        Method::Put => format!("PUT {} HTTP/1.1\r\n", ep.mount),
        Method::Source => format!("SOURCE {} HTTP/1.0\r\n", ep.mount),
    };
    req.push_str(&format!("Host: {}\r\n", ep.authority()));
    req.push_str(&format!("Authorization: {}\r\n", cfg.credentials.authorization()));
    req.push_str(&format!("User-Agent: {}/{}\r\n", cfg.agent, env!("CARGO_PKG_VERSION")));
    req.push_str(&format!("Content-Type: {}\r\n", cfg.content_type));
    if method == Method::Put {
        req.push_str("Expect: 100-continue\r\n");
    }
    for (k, v) in cfg.info.headers() {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).map_err(|e| fail(io_failure(&step, &e, cfg.timeout)))?;
    drop(req);
    let mut buf = Vec::new();
    let mut head =
        http::read_head(&mut stream, &mut buf).map_err(|e| fail(io_failure(&step, &e, cfg.timeout)))?;
    if head.code == 100 {
        let wait = cfg.timeout.min(Duration::from_secs(1));
        let _ = stream.set_read_timeout(Some(wait));
        match http::read_head(&mut stream, &mut buf) {
            Ok(h) => head = h,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                head.code = 200; // no final status yet: the server waits for the body
            }
            Err(e) => return Err(fail(io_failure(&step, &e, cfg.timeout))),
        }
        let _ = stream.set_read_timeout(Some(cfg.timeout));
    }
    if (200..300).contains(&head.code) {
        return Ok(SourceConnection { stream, method, since: Instant::now() });
    }
    let mut body = std::mem::take(&mut buf);
    if head.header("content-type").is_some_and(|t| t.starts_with("text/plain")) {
        let _ = stream.set_read_timeout(Some(cfg.timeout.min(Duration::from_millis(500))));
        http::read_short_body(&mut stream, &mut body, 200);
    } else {
        body.clear();
    }
    Err(status_error(cfg, method, head.code, &head.reason, &String::from_utf8_lossy(&body)))
}

fn status_error(cfg: &SourceConfig, method: Method, code: u16, reason: &str, body: &str) -> ConnectError {
    let ep = &cfg.endpoint;
    let said = http::printable(body.lines().next().unwrap_or_default(), 100);
    let status = if said.is_empty() {
        format!("{code} {}", http::printable(reason, 60))
    } else {
        format!("{code} {} ({said})", http::printable(reason, 60))
    };
    let (kind, advice) = match code {
        401 => (
            FailureKind::Unauthorized,
            format!(
                "the server refused user '{}' with the configured password for {}: check --user and the \
                 password file or VINYL_ICECAST_PASSWORD against the server's source password",
                cfg.credentials.user, ep.mount
            ),
        ),
        403 => (
            FailureKind::Forbidden,
            format!("another source is streaming to {} or the server's source limit is reached", ep.mount),
        ),
        404 => (
            FailureKind::MountNotFound,
            format!("the server has no mount {}: check the mount point in the URL", ep.mount),
        ),
        400 | 405 | 501 => {
            (FailureKind::MethodNotSupported, format!("the server does not accept {method} for a source"))
        }
        // What to do (retry, give up) is the caller's to say, not this message's.
        500..=599 => (FailureKind::Server, "the server failed".to_string()),
        _ => (FailureKind::Server, "an answer a source client does not expect".to_string()),
    };
    ConnectError { kind, message: format!("{method} {}: {status}: {advice}", ep.mount) }
}

/// A source connection the server accepted: write MP3 bytes into it until it fails.
#[derive(Debug)]
pub struct SourceConnection {
    stream: TcpStream,
    method: Method,
    since: Instant,
}

impl SourceConnection {
    /// Writes all of `data`, within the write timeout per write call. An error means the
    /// connection is lost (closed, reset, or stalled longer than the timeout).
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            match self.stream.write(rest) {
                Ok(0) => {
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "the server accepts no more data"));
                }
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The method the server accepted.
    pub fn method(&self) -> Method {
        self.method
    }

    /// When the server accepted the source.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// Ends the stream: no more data, then close.
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Sets the stream title of the mount (`GET /admin/metadata?mode=updinfo&mount=…&song=…`, UTF-8,
/// percent-encoded) with the source credentials. Returns a message that says what to check when
/// the server refuses.
///
/// Icecast 2.4 keeps MP3 titles in the mount's charset (Latin-1 unless the mount sets
/// `<charset>UTF-8</charset>`); characters outside it appear as `&#NNNN;` entities.
pub fn update_metadata(
    endpoint: &Endpoint,
    credentials: &Credentials,
    title: &str,
    timeout: Duration,
) -> Result<(), String> {
    let step = "GET /admin/metadata";
    let mut stream = open(endpoint, timeout).map_err(|(_, m)| format!("{step}: {m}"))?;
    let req = format!(
        "GET /admin/metadata?mode=updinfo&mount={}&song={}&charset=UTF-8 HTTP/1.0\r\nHost: {}\r\n\
         Authorization: {}\r\nUser-Agent: vinyl-mp3-icecast/{}\r\n\r\n",
        percent_encode(&endpoint.mount, UNRESERVED),
        percent_encode(title, UNRESERVED),
        endpoint.authority(),
        credentials.authorization(),
        env!("CARGO_PKG_VERSION"),
    );
    stream.write_all(req.as_bytes()).map_err(|e| format!("{step}: {}", io_failure(step, &e, timeout).1))?;
    let head = http::read_head(&mut stream, &mut Vec::new()).map_err(|e| io_failure(step, &e, timeout).1)?;
    let _ = stream.shutdown(Shutdown::Both);
    match head.code {
        200..=299 => Ok(()),
        401 => Err(format!(
            "{step}: 401 {}: the server refused user '{}' for metadata updates of {}",
            http::printable(&head.reason, 60),
            credentials.user,
            endpoint.mount
        )),
        code => Err(format!(
            "{step}: {code} {}: the server did not take the title for {} (is the source connected?)",
            http::printable(&head.reason, 60),
            endpoint.mount
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let e = Endpoint::parse("http://localhost:8000/live").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.mount.as_str()), ("localhost", 8000, "/live"));
        let e = Endpoint::parse("HTTP://10.0.0.2/a/b.mp3").unwrap();
        assert_eq!((e.port, e.mount.as_str()), (8000, "/a/b.mp3"));
        let e = Endpoint::parse("http://[::1]:9000/x").unwrap();
        assert_eq!((e.host.as_str(), e.authority().as_str()), ("::1", "[::1]:9000"));
        assert_eq!(e.to_string(), "http://[::1]:9000/x");
    }

    #[test]
    fn urls_with_credentials_are_refused_saying_why_without_echoing() {
        let err = Endpoint::parse("http://source:hunter2@localhost:8000/live").unwrap_err();
        assert!(err.contains("--password-file") && err.contains("cmdline"), "{err}");
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn bad_urls_say_what_is_expected() {
        for (url, want) in [
            ("localhost:8000/live", "http://HOST:PORT/MOUNT"),
            ("https://x/live", "not supported"),
            ("http://x:8000", "no mount"),
            ("http://x:8000/", "no mount"),
            ("http://x:0/a", "not a port"),
            ("http://x:99999/a", "not a port"),
            ("http://x y/a", "not a host"),
            ("http://x/a b", "printable"),
            ("http://x/a?b", "'?'"),
        ] {
            let err = Endpoint::parse(url).unwrap_err();
            assert!(err.contains(want), "{url}: {err}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Credentials { user: "source".into(), password: Secret::new("hunter2") };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.authorization(), format!("Basic {}", http::base64(b"source:hunter2")));
    }

    #[test]
    fn stream_info_rejects_header_injection() {
        let info = StreamInfo { name: Some("a\r\nX-Evil: 1".into()), ..Default::default() };
        assert!(info.validate().unwrap_err().contains("--name"));
    }

    fn cfg() -> SourceConfig {
        SourceConfig {
            endpoint: Endpoint::parse("http://127.0.0.1:1/live").unwrap(),
            credentials: Credentials { user: "source".into(), password: Secret::new("pw") },
            info: StreamInfo::default(),
            content_type: "audio/mpeg".into(),
            agent: "vinyl-mp3-icecast",
            timeout: Duration::from_secs(1),
            send_buffer: 65536,
        }
    }

    #[test]
    fn statuses_map_to_kinds_and_advice() {
        let c = cfg();
        let e = status_error(&c, Method::Put, 401, "Authentication Required", "You need to authenticate");
        assert!(e.is_fatal());
        assert!(e.message.contains("401") && e.message.contains("/live") && e.message.contains("--user"));
        assert!(!e.message.contains("pw"));
        let e = status_error(&c, Method::Put, 403, "Forbidden", "Mountpoint in use");
        assert_eq!(e.kind, FailureKind::Forbidden);
        assert!(e.message.contains("(Mountpoint in use)"), "{}", e.message);
        for code in [400, 405, 501] {
            assert_eq!(status_error(&c, Method::Put, code, "x", "").kind, FailureKind::MethodNotSupported);
        }
        for method in [Method::Put, Method::Source] {
            let e = status_error(&c, method, 404, "Not found", "");
            assert_eq!(e.kind, FailureKind::MountNotFound);
            assert_eq!(
                e.message,
                format!(
                    "{method} /live: 404 Not found: the server has no mount /live: check the mount point in the URL"
                )
            );
        }
        assert_eq!(status_error(&c, Method::Put, 503, "x", "").kind, FailureKind::Server);
        for code in [302, 403, 500, 503] {
            let e = status_error(&c, Method::Put, code, "x", "");
            assert!(!e.message.contains("retry"), "the caller says whether it retries: {}", e.message);
        }
    }
}
