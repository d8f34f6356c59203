//! The tests' one HTTP client: raw request bytes over a fresh connection to 127.0.0.1, the
//! response read whole (to its Content-Length, or to the close) and split into status, head and
//! body. Streams (SSE, /listen, Icecast listeners) are read by their tests from the socket.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

/// A response.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code (0 when no head came).
    pub status: u16,
    /// The status line and headers, without the blank line.
    pub head: String,
    /// The body as far as it was read.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// Splits what a server sent; a response without a complete head has status 0.
    pub fn parse(raw: &[u8]) -> Response {
        let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Response { status: 0, head: String::from_utf8_lossy(raw).into_owned(), body: Vec::new() };
        };
        let head = String::from_utf8_lossy(&raw[..i]).into_owned();
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        Response { status, head, body: raw[i + 4..].to_vec() }
    }
}

/// Sends `request` as it is to `port` and reads the response, each read waiting at most
/// `timeout`: to the end of its Content-Length (a server that keeps the connection open, such as
/// Chromium's DevTools), else to the close.
pub fn exchange(port: u16, request: &[u8], timeout: Duration) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    // A server may answer and close before reading all of a request it refuses.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if out.is_empty() => return Err(e),
            Err(_) => 0,
        };
        if n == 0 {
            return Ok(Response::parse(&out));
        }
        out.extend_from_slice(&buf[..n]);
        let r = Response::parse(&out);
        if r.status != 0
            && r.header("content-length")
                .and_then(|l| l.parse::<usize>().ok())
                .is_some_and(|l| r.body.len() >= l)
        {
            return Ok(r);
        }
    }
}

/// `GET path` (HTTP/1.1, `Host: 127.0.0.1`, with `extra` header lines) on `port`.
pub fn get(port: u16, path: &str, extra: &str, timeout: Duration) -> std::io::Result<Response> {
    exchange(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n").as_bytes(),
        timeout,
    )
}
