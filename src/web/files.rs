//! `GET /recordings` (the list) and `GET /recordings/PATH` (a download, with HTTP Range).
//!
//! Owns the rule that no request leaves the recordings folder: a path is resolved only when each
//! of its parts is a plain name (no `..`, no `.`, no empty part, no hidden file) and it names a
//! `.flac` file; it is then resolved with symbolic links followed and must still lie inside the
//! folder as resolved. Anything else is 404, the same answer as a missing file, so nothing about
//! the rest of the disk can be learnt. The list is vinyl-rec's (every finished `*.flac` under the
//! folder), newest first, at most [`LIST_MAX`], with each file's duration and title, its track
//! count (its CUESHEET) and loudness (`VINYL_LUFS`), or else those of the listener's side reports
//! that overlap it. How it fails: an
//! unreadable file is listed without a duration; a folder that does not exist is an empty list.

use super::App;
use super::http::{self, Request, Response};
use crate::flac::probe::probe;
use crate::http::percent_encode;
use serde_json::{Value, json};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

/// The most recordings listed.
pub const LIST_MAX: usize = 50;

/// `GET /recordings`.
pub fn list(app: &App) -> Response {
    let dir = &app.control.settings.recordings;
    let mut files = Vec::new();
    crate::rec::list::flac_files(dir, &mut files);
    let mut dated: Vec<(std::time::SystemTime, PathBuf)> = files
        .into_iter()
        .map(|f| (std::fs::metadata(&f).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), f))
        .collect();
    dated.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let rows: Vec<Value> = dated.iter().take(LIST_MAX).filter_map(|(t, f)| row(app, dir, f, *t)).collect();
    Response::json(200, &json!({ "recordings": rows }))
}

fn row(app: &App, dir: &Path, f: &Path, modified: std::time::SystemTime) -> Option<Value> {
    let rel = f.strip_prefix(dir).ok()?.to_str()?.to_string();
    // Not made by vinyl-rec, and not downloadable (see `resolve`): not listed either.
    if rel.chars().any(char::is_control) {
        return None;
    }
    let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    let mut v = json!({
        "path": rel,
        "url": format!("/recordings/{}", encode_path(&rel)),
        "bytes": size,
        "modified": crate::rec::stamp::Stamp::of(modified).minutes(),
    });
    let Ok(p) = probe(f) else { return Some(v) };
    let rate = p.info.sample_rate.max(1);
    v["frames"] = p.info.total_samples.into();
    v["seconds"] = (p.info.total_samples as f64 / rate as f64).into();
    v["title"] = p.tag("TITLE").map(str::to_string).into();
    // The file's own markers and loudness tags (vinyl-rec tracks, the listener's measurements).
    if let Ok(m) = crate::flac::cuesheet::read(f)
        && !m.offsets.is_empty()
    {
        v["tracks"] = m.offsets.len().into();
    }
    if let Some(l) = p.tag("VINYL_LUFS").and_then(|l| l.trim().parse::<f64>().ok()) {
        v["integrated_lufs"] = l.into();
    }
    let Some(start) = p.tag("VINYL_START_FRAME").and_then(|s| s.parse::<u64>().ok()) else { return Some(v) };
    v["start_frame"] = start.into();
    // Else the listener's side reports that overlap it.
    let reports = app.hub.reports_in(start, start + p.info.total_samples);
    if let Some(last) = reports.last() {
        if v["tracks"].is_null() {
            v["tracks"] = reports.iter().map(|r| r.tracks as u64).sum::<u64>().into();
        }
        if v["integrated_lufs"].is_null() {
            v["integrated_lufs"] = last.integrated_lufs.into();
        }
    }
    Some(v)
}

/// Percent-encodes a relative path for a URL (slashes kept).
pub(super) fn encode_path(p: &str) -> String {
    percent_encode(p, b"-._~/")
}

/// The file a download path names, when it is a `.flac` file inside `dir`.
pub fn resolve(dir: &Path, rel: &str) -> Option<PathBuf> {
    let odd = |part: &str| part.is_empty() || part.starts_with('.') || part.chars().any(char::is_control);
    if !rel.ends_with(".flac") || rel.split('/').any(odd) {
        return None;
    }
    let root = dir.canonicalize().ok()?;
    let full = root.join(rel).canonicalize().ok()?;
    (full.starts_with(&root) && full.is_file()).then_some(full)
}

/// `GET /recordings/PATH`: the file, whole or the one byte range asked for.
pub fn download(app: &App, req: &Request, rel: &str, mut s: TcpStream) {
    let Some(path) = resolve(&app.control.settings.recordings, rel) else {
        let _ = Response::error(404, "no such recording").send(&mut s);
        return;
    };
    let Ok(mut f) = File::open(&path) else {
        let _ = Response::error(404, "no such recording").send(&mut s);
        return;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut extra =
        vec![("Accept-Ranges", "bytes".to_string()), ("Content-Disposition", content_disposition(&name))];
    let asked = req.header("range").filter(|_| req.method == "GET");
    let (status, start, end) = match asked.map_or(Range::Whole, |r| range(r, len)) {
        Range::Whole => (200, 0, len),
        Range::Part(a, b) => {
            extra.push(("Content-Range", format!("bytes {a}-{}/{len}", b - 1)));
            (206, a, b)
        }
        Range::Unsatisfiable => {
            let _ = Response::error(416, "unsatisfiable range")
                .with("Content-Range", format!("bytes */{len}"))
                .send(&mut s);
            return;
        }
    };
    let mut head = http::head(status, "audio/flac", &extra);
    head.push_str(&format!("Content-Length: {}\r\n\r\n", end - start));
    let _ = s.set_write_timeout(Some(http::WRITE_TIMEOUT));
    if s.write_all(head.as_bytes()).is_err()
        || req.method == "HEAD"
        || f.seek(SeekFrom::Start(start)).is_err()
    {
        return;
    }
    let mut left = end - start;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 && !crate::signals::stop_requested() {
        let want = (left as usize).min(buf.len());
        let n = match f.read(&mut buf[..want]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if s.write_all(&buf[..n]).is_err() {
            return;
        }
        left -= n as u64;
    }
}

/// `attachment` with the file's name twice (RFC 6266): `filename*` exact, percent-encoded UTF-8
/// (RFC 8187), and `filename` in plain ASCII for old clients, every other character `_`.
pub fn content_disposition(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    // RFC 8187's attr-char: what may stay as it is.
    let exact = percent_encode(name, b"!#$&+-.^_`|~");
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{exact}")
}

/// What a `Range` header asks of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// The whole file (no range, or one the server ignores).
    Whole,
    /// Bytes `start..end`.
    Part(u64, u64),
    /// A well-formed range that lies past the end: 416.
    Unsatisfiable,
}

/// One `bytes=A-B`, `bytes=A-` or `bytes=-N` range over a file of `len` bytes. Anything else
/// (several ranges, another unit, `BYTES=`, bad syntax) is ignored and the whole file sent, as
/// RFC 9110 section 14.2 allows; only a well-formed range past the end is unsatisfiable.
pub fn range(h: &str, len: u64) -> Range {
    let Some(spec) = h.trim().strip_prefix("bytes=") else { return Range::Whole };
    let Some((a, b)) = spec.split_once('-').filter(|_| !spec.contains(',')) else { return Range::Whole };
    let digits = |v: &str| v.bytes().all(|c| c.is_ascii_digit());
    let (a, b) = (a.trim(), b.trim());
    if !digits(a) || !digits(b) || (a.is_empty() && b.is_empty()) {
        return Range::Whole;
    }
    let number = |v: &str| v.parse::<u64>().unwrap_or(u64::MAX);
    let (start, end) = if a.is_empty() {
        (len.saturating_sub(number(b)), len)
    } else if b.is_empty() {
        (number(a), len)
    } else if number(b) < number(a) {
        return Range::Whole;
    } else {
        (number(a), number(b).saturating_add(1).min(len))
    };
    if start < end && start < len { Range::Part(start, end) } else { Range::Unsatisfiable }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        assert_eq!(range("bytes=0-99", 1000), Range::Part(0, 100));
        assert_eq!(range("bytes=900-", 1000), Range::Part(900, 1000));
        assert_eq!(range("bytes=-100", 1000), Range::Part(900, 1000));
        assert_eq!(range("bytes=990-2000", 1000), Range::Part(990, 1000));
        assert_eq!(range("bytes=1000-", 1000), Range::Unsatisfiable);
        assert_eq!(range("bytes=-0", 1000), Range::Unsatisfiable);
        // Not understood: ignored, the whole file is sent.
        for ignored in
            ["bytes=5-1", "bytes=0-1,5-6", "items=0-1", "BYTES=0-1", "bytes=+1-2", "bytes=-", "bytes=x"]
        {
            assert_eq!(range(ignored, 1000), Range::Whole, "{ignored}");
        }
    }

    #[test]
    fn a_file_name_cannot_add_a_header_and_reaches_the_client_whole() {
        let cd = content_disposition("side\r\nSet-Cookie: a=b \"é\".flac");
        assert!(!cd.contains(['\r', '\n']), "{cd}");
        assert!(cd.contains("filename*=UTF-8''side%0D%0ASet-Cookie%3A%20a%3Db%20%22%C3%A9%22.flac"), "{cd}");
        assert!(cd.contains("filename=\"side__Set-Cookie: a=b _\u{5f}_.flac\""), "{cd}");
    }

    #[test]
    fn no_path_leaves_the_folder() {
        let d = tempfile::tempdir().unwrap();
        let rec = d.path().join("rec");
        std::fs::create_dir_all(rec.join("2026-11")).unwrap();
        std::fs::write(rec.join("2026-11/a.flac"), b"x").unwrap();
        std::fs::write(d.path().join("secret.flac"), b"x").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret.flac"), rec.join("link.flac")).unwrap();
        assert!(resolve(&rec, "2026-11/a.flac").is_some());
        for bad in [
            "../secret.flac",
            "2026-11/../../secret.flac",
            "/etc/passwd",
            "link.flac",
            "2026-11",
            ".x.flac",
            "",
            "2026-11/./a.flac",
            "a\r\nSet-Cookie: x.flac",
        ] {
            assert_eq!(resolve(&rec, bad), None, "{bad}");
        }
    }
}
