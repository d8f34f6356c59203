//! A small HTTP/1.1 server over `std::net`: one thread per connection, a bounded number of
//! connections, one request per connection.
//!
//! Owns the wire: reading a request within a deadline (the whole head and body must arrive within
//! `--request-timeout`, so a client that trickles its headers, slowloris-style, is closed), the
//! size limits ([`MAX_HEAD`], [`MAX_BODY`]: 413 beyond), strict parsing (one way to read every
//! request: no bare LF, one plain Content-Length, one Host), `Expect: 100-continue`, closing
//! without a reset after refusing a request unread, the one check of response header values, and
//! writing responses: whole ones ([`Response`]) and streams (a head without a length, then
//! bytes until either side closes; every response says `Connection: close`). It does not route
//! or authenticate (see [`super::routes`]). How it fails: a malformed request gets 400, an
//! unsupported body encoding 411, and a client that is too slow or gone is closed without a word;
//! nothing here ends the server.
//!
//! Why by hand: tiny_http 0.12 has no per-connection read timeout (a trickling client pins a
//! worker forever) and hyper/axum bring an async runtime that a 2-core Pi serving a handful of
//! clients does not need; this is ~250 lines over the standard library with no new dependency.

use crate::http::{Fields, Strictness};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The largest request head (request line and headers) accepted: 8 KiB.
pub const MAX_HEAD: usize = 8 * 1024;
/// The largest request body accepted: 16 KiB (a start request with tags).
pub const MAX_BODY: usize = 16 * 1024;
/// How long a response write may block before the client is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`…
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// The raw query string (after `?`), empty when none.
    pub query: String,
    /// The header fields.
    pub headers: Fields,
    /// The body (at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

/// Why a request could not be read: the status to answer, or none (closed quietly).
#[derive(Debug, PartialEq, Eq)]
pub enum ReadFail {
    /// Answer with this status and a short text.
    Status(u16, &'static str),
    /// The client was too slow or went away: close without an answer.
    Closed,
}

/// Reads one request from `s`, all of it within `timeout` from now, with the largest body taken
/// chosen from the request's head (a larger one only where it is needed and allowed, before a byte
/// of it is read).
pub fn read_request(
    s: &mut TcpStream,
    timeout: Duration,
    max_body: &dyn Fn(&Request) -> usize,
) -> Result<Request, ReadFail> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() >= MAX_HEAD {
            return Err(ReadFail::Status(413, "request headers too large"));
        }
        let room = MAX_HEAD + 4 - buf.len();
        read_some(s, &mut buf, room, deadline)?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| ReadFail::Status(400, "not text"))?;
    let mut req = parse_head(head)?;
    if req.header("transfer-encoding").is_some() {
        return Err(ReadFail::Status(411, "send a Content-Length"));
    }
    let length = content_length(&req)?;
    if length > max_body(&req) {
        return Err(ReadFail::Status(413, "request body too large"));
    }
    let mut body = buf[head_end + 4..].to_vec();
    match req.header("expect") {
        None => {}
        // The client waits for this before it sends the body (curl does for large bodies).
        Some(e) if e.eq_ignore_ascii_case("100-continue") && length > body.len() => {
            let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(|_| ReadFail::Closed)?;
        }
        Some(e) if e.eq_ignore_ascii_case("100-continue") => {}
        Some(_) => return Err(ReadFail::Status(417, "only Expect: 100-continue is understood")),
    }
    while body.len() < length {
        let want = length - body.len();
        read_some(s, &mut body, want, deadline)?;
    }
    body.truncate(length);
    req.body = body;
    Ok(req)
}

/// The body's length: one `Content-Length` of digits only (`+5`, `5, 5` or two of them are
/// refused: a proxy in front might read another length than ours), none for no body.
fn content_length(req: &Request) -> Result<usize, ReadFail> {
    let bad = ReadFail::Status(400, "bad Content-Length");
    let mut lengths = req.headers.all("content-length");
    let Some(v) = lengths.next() else { return Ok(0) };
    if lengths.next().is_some() || v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    v.parse().map_err(|_| bad)
}

/// Reads at most `max` more bytes into `buf`, waiting no later than `deadline`.
fn read_some(s: &mut TcpStream, buf: &mut Vec<u8>, max: usize, deadline: Instant) -> Result<(), ReadFail> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ReadFail::Closed);
    }
    s.set_read_timeout(Some(left)).map_err(|_| ReadFail::Closed)?;
    let mut chunk = [0u8; 2048];
    let want = max.min(chunk.len());
    match s.read(&mut chunk[..want]) {
        Ok(0) => Err(ReadFail::Closed),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(_) => Err(ReadFail::Closed),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses the request line and headers.
fn parse_head(head: &str) -> Result<Request, ReadFail> {
    let bad = ReadFail::Status(400, "malformed request");
    // A bare LF or CR would end a line for some readers and not for others: a header hidden
    // from one of them.
    if head.split("\r\n").any(|l| l.contains(['\r', '\n'])) {
        return Err(ReadFail::Status(400, "a line ends without CRLF"));
    }
    let mut lines = head.split("\r\n");
    let line = lines.next().ok_or(ReadFail::Status(400, "empty request"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(bad);
    }
    let (raw_path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(raw_path).ok_or(ReadFail::Status(400, "bad percent-encoding"))?;
    let headers = Fields::parse(lines, Strictness::Refuse).map_err(|why| ReadFail::Status(400, why))?;
    let hosts = headers.all("host").count();
    if hosts > 1 || (hosts == 0 && version != "HTTP/1.0") {
        return Err(ReadFail::Status(400, "send one Host header"));
    }
    Ok(Request { method: method.to_string(), path, query: query.to_string(), headers, body: Vec::new() })
}

/// Decodes `%XX` escapes; `None` for a malformed escape, a NUL or bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Exactly two hex digits (from_str_radix alone would take "+2").
            let hex = b.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return None;
    }
    String::from_utf8(out).ok()
}

/// The reason phrase of the statuses vinyl-web answers with.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        403 => "Forbidden",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The Content-Type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response of that status, type and body.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response { status, content_type, headers: Vec::new(), body: body.into() }
    }

    /// A JSON response (a value serde cannot write, which the types here never are, is a 500).
    /// Objects' keys come out sorted, whatever the order of a type's fields: the order every
    /// answer had before the answers became types, which scripts that diff them rely on.
    pub fn json(status: u16, v: &impl serde::Serialize) -> Response {
        match serde_json::to_value(v).and_then(|v| serde_json::to_vec(&v)) {
            Ok(body) => Response::new(status, "application/json", body),
            Err(e) => Response::error(500, &format!("cannot write the answer as JSON: {e}")),
        }
    }

    /// A short text response, for errors: `{"error": TEXT}` as JSON.
    pub fn error(status: u16, text: &str) -> Response {
        Response::json(status, &serde_json::json!({ "error": text }))
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the response and its body.
    pub fn send(&self, s: &mut TcpStream) -> io::Result<()> {
        let mut head = head(self.status, self.content_type, &self.headers);
        head.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        s.set_write_timeout(Some(WRITE_TIMEOUT))?;
        s.write_all(head.as_bytes())?;
        s.write_all(&self.body)?;
        s.flush()
    }
}

/// The status line and the headers every response has, without the blank line.
pub fn head(status: u16, content_type: &str, extra: &[(&'static str, String)]) -> String {
    let mut h = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n",
        reason(status)
    );
    for (k, v) in extra {
        // The one check of every header value: a CR or LF in one (a file name, say) would start
        // a header of the sender's choosing; such a header is left out, never sent.
        if v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)) {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    h
}

/// Reads and drops what the client has already sent, without waiting (the socket must be
/// non-blocking): closing a socket with unread input resets the connection, and the client may
/// then lose the answer written just before.
pub fn discard_pending(s: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match s.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}

/// Closes after an answer sent with the request unread (413, 400…): stops writing, then reads and
/// drops the rest for up to a second (64 KiB at most), so the client reads the answer instead of a
/// reset.
pub fn close_gently(s: &mut TcpStream) {
    let _ = s.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 4096];
    let mut left = 64 * 1024usize;
    while left > 0 {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() || s.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match s.read(&mut sink) {
            Ok(n) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}

/// Starts a streamed response (no length: the body ends when the connection closes), with small
/// socket buffers so a slow reader holds back little audio. Writes block at most
/// [`WRITE_TIMEOUT`].
pub fn start_stream(
    s: &mut TcpStream,
    content_type: &str,
    extra: &[(&'static str, String)],
) -> io::Result<()> {
    let mut h = head(200, content_type, extra);
    h.push_str("\r\n");
    s.set_nodelay(true)?;
    s.set_write_timeout(Some(WRITE_TIMEOUT))?;
    s.write_all(h.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (c, l.accept().unwrap().0)
    }

    /// One request with the default body limit.
    fn read(s: &mut TcpStream, timeout: Duration) -> Result<Request, ReadFail> {
        read_request(s, timeout, &|_| MAX_BODY)
    }

    #[test]
    fn json_answers_have_their_keys_sorted_as_before_they_were_types() {
        #[derive(serde::Serialize)]
        struct Inner {
            zeta: u8,
            alpha: u8,
        }
        #[derive(serde::Serialize)]
        struct Outer {
            turntable: Inner,
            recording: Option<u8>,
        }
        let r = Response::json(200, &Outer { turntable: Inner { zeta: 1, alpha: 2 }, recording: None });
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"recording":null,"turntable":{"alpha":2,"zeta":1}}"#
        );
    }

    #[test]
    fn a_request_with_a_body_is_read_whole() {
        let (mut c, mut s) = pair();
        c.write_all(b"POST /rec/start?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        let r = read(&mut s, Duration::from_secs(5)).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("POST", "/rec/start", "x=1"));
        assert_eq!(r.header("host"), Some("a"));
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn oversized_heads_and_bodies_are_413_and_slow_ones_closed() {
        let (mut c, mut s) = pair();
        c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999\r\n\r\n").unwrap();
        assert_eq!(
            read(&mut s, Duration::from_secs(5)).unwrap_err(),
            ReadFail::Status(413, "request body too large")
        );
        let (mut c, mut s) = pair();
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let _ = c.write_all(big.as_bytes());
        assert!(matches!(read(&mut s, Duration::from_secs(5)), Err(ReadFail::Status(413, _))));
        let (mut c, mut s) = pair();
        c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
        let t = Instant::now();
        assert_eq!(read(&mut s, Duration::from_millis(200)).unwrap_err(), ReadFail::Closed);
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn percent_decoding_refuses_nul_and_broken_escapes() {
        assert_eq!(percent_decode("/a%20b/%2e%2e").as_deref(), Some("/a b/.."));
        assert_eq!(percent_decode("/a%00"), None);
        assert_eq!(percent_decode("/a%2"), None);
        assert_eq!(percent_decode("/a%zz"), None);
        assert_eq!(percent_decode("/a%+2e"), None);
        assert_eq!(percent_decode("/a%-1"), None);
    }

    #[test]
    fn ambiguous_requests_are_refused() {
        for raw in [
            &b"GET / HTTP/1.1\r\nHost: a\nX-Hidden: 1\r\n\r\n"[..],
            b"GET / HTTP/1.1\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        ] {
            let (mut c, mut s) = pair();
            c.write_all(raw).unwrap();
            let got = read(&mut s, Duration::from_secs(5));
            assert!(
                matches!(got, Err(ReadFail::Status(400, _))),
                "{:?}: {got:?}",
                String::from_utf8_lossy(raw)
            );
        }
        let (mut c, mut s) = pair();
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(read(&mut s, Duration::from_secs(5)).is_ok(), "HTTP/1.0 needs no Host");
    }

    #[test]
    fn expect_100_continue_is_answered_before_the_body_is_read() {
        let (mut c, mut s) = pair();
        let server = std::thread::spawn(move || read(&mut s, Duration::from_secs(5)).map(|r| r.body));
        c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            .unwrap();
        let mut got = [0u8; 25];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"HTTP/1.1 100 Continue\r\n\r\n");
        c.write_all(b"ok").unwrap();
        assert_eq!(server.join().unwrap().unwrap(), b"ok");
    }

    #[test]
    fn a_header_value_with_a_line_break_is_never_sent() {
        let h = head(200, "text/plain", &[("X-A", "fine".into()), ("X-B", "bad\r\nSet-Cookie: x".into())]);
        assert!(h.contains("X-A: fine\r\n") && !h.contains("X-B") && !h.contains("Set-Cookie"), "{h}");
    }
}
