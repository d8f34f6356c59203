//! Stream titles from a FIFO, for the source tools: each line written to `--metadata-fifo` is
//! the newest title.
//!
//! Owns the FIFO (created with mode 0600 when missing, and opened read-write so that writers may
//! come and go without an end of file), cutting its bytes into titles ([`LineSplitter`]: UTF-8
//! with invalid bytes replaced, control characters as spaces, cut at [`MAX_TITLE`] bytes) and
//! deciding what is news ([`newest`]: a line repeating the title is not, since `vinyl-rec auto`
//! writes its title again every few seconds for an encoder that started after it). How a title
//! reaches listeners is each tool's: ICY metadata through `/admin/metadata` for MP3
//! (`mp3icecast::metadata`), a chained Ogg stream for Ogg (`oggicecast`).
//!
//! How it fails: a path that exists and is not a FIFO is an error at start; a failed read ends
//! the titles, never the audio.

use crate::lines::{Lines, Long};
use anyhow::Context as _;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd as _, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Longest title sent, in bytes; longer lines are cut at a character boundary.
pub const MAX_TITLE: usize = 1024;

/// Longest line kept while waiting for its newline; beyond this the line is cut.
const MAX_LINE: usize = 64 * 1024;

/// Opens (creating when missing, mode 0600) the title FIFO for reading without blocking and
/// without ever seeing end of file. Fails when the path exists and is not a FIFO.
pub fn open_fifo(path: &Path) -> anyhow::Result<File> {
    let show = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_fifo() => {
            anyhow::bail!("{show}: not a FIFO (remove it, or give a path where a FIFO can be created)")
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::fifo::create(path, 0o600).with_context(|| format!("{show}: mkfifo"))?;
        }
        Err(e) => return Err(e).with_context(|| format!("{show}: stat")),
    }
    // Read-write: Linux lets a FIFO be opened so without a writer, and then it never reports
    // end of file when writers leave (fifo(7)).
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("{show}: open"))
}

/// Cuts a byte stream into titles (a line longer than `MAX_LINE` is cut there).
#[derive(Debug)]
pub struct LineSplitter(Lines);

impl Default for LineSplitter {
    fn default() -> Self {
        LineSplitter(Lines::new(MAX_LINE, Long::Cut))
    }
}

impl LineSplitter {
    /// Adds bytes and returns the complete titles among them (empty lines skipped).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        self.0.feed(bytes, &mut |line| out.extend(clean_title(line)));
        out
    }
}

/// UTF-8 (lossy), control characters to spaces, trimmed, cut at [`MAX_TITLE`] bytes; `None`
/// when nothing is left.
pub fn clean_title(line: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(line);
    let mut t: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    t = t.trim().to_string();
    if t.len() > MAX_TITLE {
        let mut end = MAX_TITLE;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
    }
    (!t.is_empty()).then_some(t)
}

/// Takes the last of `lines` as the title when it differs from `title`; returns whether it did.
pub fn newest(title: &mut Option<String>, lines: Vec<String>) -> bool {
    match lines.into_iter().next_back() {
        Some(t) if title.as_ref() != Some(&t) => {
            *title = Some(t);
            true
        }
        _ => false,
    }
}

/// A title FIFO read without blocking: [`TitleReader::poll`] returns the newest title when it
/// changed.
#[derive(Debug)]
pub struct TitleReader {
    fifo: File,
    path: PathBuf,
    lines: LineSplitter,
    title: Option<String>,
}

impl TitleReader {
    /// Opens (creating when missing) the FIFO at `path`.
    pub fn open(path: &Path) -> anyhow::Result<TitleReader> {
        Ok(TitleReader {
            fifo: open_fifo(path)?,
            path: path.to_path_buf(),
            lines: LineSplitter::default(),
            title: None,
        })
    }

    /// The FIFO's descriptor, to wait on before [`TitleReader::poll`].
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fifo.as_fd()
    }

    /// The newest title so far.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// Reads what the FIFO holds now (never waits); `Ok(true)` when the title changed.
    pub fn poll(&mut self) -> anyhow::Result<bool> {
        let mut buf = [0u8; 4096];
        let mut changed = false;
        loop {
            match self.fifo.read(&mut buf) {
                Ok(0) => return Ok(changed),
                Ok(n) => changed |= newest(&mut self.title, self.lines.feed(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(changed),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).with_context(|| format!("{}: read", self.path.display())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_clean_titles() {
        let mut s = LineSplitter::default();
        assert!(s.feed(b"Artist - Ti").is_empty());
        assert_eq!(s.feed(b"tle\r\n\n  \nCaf\xc3\xa9\tOl\xc3\xa9\n"), ["Artist - Title", "Café Olé"]);
        assert_eq!(s.feed(b"bad \xff byte\n"), ["bad \u{fffd} byte"]);
    }

    #[test]
    fn a_line_repeating_the_title_is_not_news() {
        let mut t = None;
        assert!(!newest(&mut t, vec![]));
        assert!(newest(&mut t, vec!["A".into(), "B".into()]));
        assert_eq!(t.as_deref(), Some("B"));
        assert!(!newest(&mut t, vec!["B".into()]), "the same title again");
        assert!(!newest(&mut t, vec!["A".into(), "B".into()]), "the last line is the title now");
        assert!(newest(&mut t, vec!["A".into()]));
    }

    #[test]
    fn long_titles_are_cut_on_a_char_boundary() {
        let line = "é".repeat(MAX_TITLE);
        let t = clean_title(line.as_bytes()).unwrap();
        assert!(t.len() <= MAX_TITLE && t.len() >= MAX_TITLE - 1);
        let mut s = LineSplitter::default();
        let mut big = vec![b'a'; MAX_LINE + 10];
        big.extend_from_slice(b"\nnext\n");
        let got = s.feed(&big);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_TITLE);
        assert_eq!(got[1], "next");
    }

    #[test]
    fn fifo_is_created_0600_and_other_files_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("title");
        let f = open_fifo(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(f);
        open_fifo(&p).unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        assert!(open_fifo(&plain).unwrap_err().to_string().contains("not a FIFO"));
    }
}
