//! The little HTTP an Icecast source client needs: reading a response head under a timeout and
//! Basic credentials (percent-encoding is [`crate::http::percent_encode`]).
//!
//! Owns byte-level parsing only; it does not open connections or decide what a status means
//! (that is [`super`]). A malformed or oversized response head is an `InvalidData` error naming
//! what was wrong, never a panic.

use crate::http::{Fields, Strictness};
use std::io::{self, Read};

/// Longest response head accepted, in bytes (Icecast's are about 300).
pub const MAX_HEAD: usize = 16 * 1024;

/// A parsed HTTP response status line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code, e.g. 200, 100, 401.
    pub code: u16,
    /// Reason phrase as the server wrote it, e.g. `Authentication Required`.
    pub reason: String,
    /// Header fields in order, names as written.
    pub headers: Fields,
}

impl ResponseHead {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Reads one response head from `r`, using `buf` for bytes already received and leaving in it
/// whatever followed the head (the start of a body, or a second response after `100 Continue`).
/// The reader's own timeout bounds each read; end of input before a complete head is
/// `UnexpectedEof`.
pub fn read_head(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<ResponseHead> {
    loop {
        if let Some(end) = find_head_end(buf) {
            let head = parse_head(&buf[..end])?;
            buf.drain(..end);
            return Ok(head);
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid(format!("response head longer than {MAX_HEAD} bytes")));
        }
        let mut chunk = [0u8; 2048];
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                if buf.is_empty() {
                    "connection closed without a response".to_string()
                } else {
                    "connection closed in the middle of the response".to_string()
                },
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Index just past the blank line that ends a head (`\r\n\r\n`, or a bare `\n\n`).
fn find_head_end(buf: &[u8]) -> Option<usize> {
    for i in 0..buf.len() {
        if buf[i..].starts_with(b"\r\n\r\n") {
            return Some(i + 4);
        }
        if buf[i..].starts_with(b"\n\n") {
            return Some(i + 2);
        }
    }
    None
}

/// Parses `HTTP/1.x NNN Reason` and the header lines of a complete head.
pub fn parse_head(head: &[u8]) -> io::Result<ResponseHead> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let status = lines.next().unwrap_or_default();
    let mut parts = status.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") && !version.starts_with("ICY") {
        return Err(invalid(format!("not an HTTP response: {:?}", printable(status, 60))));
    }
    let code = parts
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (100..600).contains(c))
        .ok_or_else(|| invalid(format!("no status code in {:?}", printable(status, 60))))?;
    let reason = parts.next().unwrap_or_default().trim().to_string();
    // A server's odd line is skipped, not a reason to drop the stream.
    let headers = Fields::parse(lines, Strictness::Skip).map_err(invalid)?;
    Ok(ResponseHead { code, reason, headers })
}

/// `s` cut to at most `max` characters, with control characters replaced: for putting text a
/// server sent into a log line.
pub fn printable(s: &str, max: usize) -> String {
    s.chars().take(max).map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// Standard base64 with padding (RFC 4648), for `Authorization: Basic`.
pub fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    out
}

/// Reads up to `max` bytes of a response body (until end of input or the reader's timeout), for
/// quoting a server's one-line explanation (`Mountpoint in use`). Errors end the body quietly.
pub fn read_short_body(r: &mut impl Read, buf: &mut Vec<u8>, max: usize) {
    let mut chunk = [0u8; 512];
    while buf.len() < max {
        match r.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf.truncate(max);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcm::tests::Dribble;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(b"source:hackme"), "c291cmNlOmhhY2ttZQ==");
    }

    #[test]
    fn continue_then_ok_in_one_read_or_many() {
        let wire = b"HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\n\r\n";
        for step in [1, 7, 4096] {
            let mut r = Dribble(wire, step);
            let mut buf = Vec::new();
            let h = read_head(&mut r, &mut buf).unwrap();
            assert_eq!((h.code, h.reason.as_str()), (100, "Continue"));
            assert_eq!(h.header("content-length"), Some("0"));
            let h = read_head(&mut r, &mut buf).unwrap();
            assert_eq!(h.code, 200);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn bad_heads_are_errors_not_panics() {
        for wire in [&b"garbage\r\n\r\n"[..], b"HTTP/1.0 abc\r\n\r\n", b"HTTP/1.0 99 x\r\n\r\n"] {
            let err = read_head(&mut Dribble(wire, 3), &mut Vec::new()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{wire:?}");
        }
        let err = read_head(&mut Dribble(b"HTTP/1.0 200", 3), &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let big = vec![b'a'; MAX_HEAD * 2];
        let err = read_head(&mut Dribble(&big, 4096), &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn printable_strips_controls() {
        assert_eq!(printable("Mountpoint in use\r\n\x1b[31m", 100), "Mountpoint in use   [31m");
        assert_eq!(printable("abcdef", 3), "abc");
    }
}
