//! Following the listener's events file (`vinyl-listen --output FILE`) as it grows: the one home
//! for tailing it, used by `vinyl-rec auto` (and `vinyl-web`).
//!
//! Owns the reading rules: a [`Tail`] starts at the end of the file as it is at the first
//! [`Tail::poll`] (what is already there may be handed to a `history` callback, up to the last
//! [`HISTORY`] bytes, whole lines only), then hands over each complete line appended since, in
//! order. It notices a rotation (the listener renames FILE to FILE.1 and starts a new FILE) by the
//! inode: the rest of the old file is read first, then the new one from its start. A file that
//! shrank was truncated: it is read again from its start. A missing file is waited for (a file that
//! appears after the first poll is new, and read from its start). A line longer than
//! [`MAX_LINE`] is skipped whole. It never fails: what cannot be opened or read now is tried again
//! at the next poll. It does not parse the lines: callers do.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// The longest line handed over, in bytes; longer ones are skipped.
pub const MAX_LINE: usize = 64 * 1024;
/// How much of a file that exists at the first poll is handed to `history`, in bytes.
pub const HISTORY: u64 = 1 << 20;

/// A follower of one events file.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    /// The open file and its inode.
    file: Option<(File, u64)>,
    /// The next byte to read of the open file.
    pos: u64,
    /// The bytes of the line being read.
    partial: Vec<u8>,
    /// The line being read is too long: skipped to its end.
    skipping: bool,
    /// Polled at least once.
    started: bool,
}

impl Tail {
    /// A tail of `path`, which need not exist yet; it starts at the end of the file as the first
    /// [`Tail::poll`] finds it.
    pub fn new(path: &Path) -> Tail {
        Tail {
            path: path.to_path_buf(),
            file: None,
            pos: 0,
            partial: Vec::new(),
            skipping: false,
            started: false,
        }
    }

    /// Hands over what is new: each complete line appended since the last poll, in order, to
    /// `lines` (without its newline). At the first poll of an existing file, its last lines (up
    /// to [`HISTORY`] bytes) go to `history` instead, oldest first.
    pub fn poll(&mut self, lines: &mut dyn FnMut(&str), history: &mut dyn FnMut(&str)) {
        let first = !self.started;
        self.started = true;
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(_) => {
                // Between the listener's rename and its new file: finish the old one.
                self.read_new(lines);
                return;
            }
        };
        match &self.file {
            Some((_, ino)) if *ino != meta.ino() => {
                self.read_new(lines);
                self.reset();
                self.open(&meta, false, history);
            }
            Some(_) if meta.len() < self.pos => self.reset_position(),
            Some(_) => {}
            None => self.open(&meta, first, history),
        }
        self.read_new(lines);
    }

    fn reset(&mut self) {
        self.file = None;
        self.reset_position();
    }

    fn reset_position(&mut self) {
        self.pos = 0;
        self.partial.clear();
        self.skipping = false;
    }

    /// Opens the file; at its end (handing the last lines to `history`) when `at_end`.
    fn open(&mut self, meta: &std::fs::Metadata, at_end: bool, history: &mut dyn FnMut(&str)) {
        let Ok(mut f) = File::open(&self.path) else { return };
        self.pos = 0;
        if at_end {
            let len = meta.len();
            let from = len.saturating_sub(HISTORY);
            let mut old = Vec::new();
            if f.seek(SeekFrom::Start(from)).is_ok()
                && (&mut f).take(len - from).read_to_end(&mut old).is_ok()
            {
                // A cut first line is not a line; a last line without its newline is not yet one.
                let end = old.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let text = String::from_utf8_lossy(&old[..end]);
                text.lines().skip(usize::from(from > 0)).for_each(&mut *history);
            }
            self.pos = len;
        }
        self.file = Some((f, meta.ino()));
    }

    /// Reads the open file from `pos` to its end, handing over complete lines.
    fn read_new(&mut self, lines: &mut dyn FnMut(&str)) {
        let Some((f, _)) = self.file.as_mut() else { return };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return;
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.pos += n as u64;
            for &b in &buf[..n] {
                if b == b'\n' {
                    if !self.skipping {
                        lines(&String::from_utf8_lossy(&self.partial));
                    }
                    self.partial.clear();
                    self.skipping = false;
                } else if self.skipping {
                } else if self.partial.len() < MAX_LINE {
                    self.partial.push(b);
                } else {
                    self.partial.clear();
                    self.skipping = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn collect(t: &mut Tail) -> Vec<String> {
        let mut v = Vec::new();
        t.poll(&mut |l| v.push(l.to_string()), &mut |_| {});
        v
    }

    fn append(p: &Path, s: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap()
            .write_all(s.as_bytes())
            .unwrap();
    }

    #[test]
    fn starts_at_the_end_and_hands_over_complete_lines_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events");
        append(&p, "old 1\nold 2\n");
        let mut t = Tail::new(&p);
        let mut hist = Vec::new();
        t.poll(&mut |_| panic!("nothing new yet"), &mut |l| hist.push(l.to_string()));
        assert_eq!(hist, ["old 1", "old 2"]);
        append(&p, "a\nb");
        assert_eq!(collect(&mut t), ["a"]);
        append(&p, "c\n");
        assert_eq!(collect(&mut t), ["bc"]);
    }

    #[test]
    fn a_missing_file_is_waited_for_and_read_from_its_start() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events");
        let mut t = Tail::new(&p);
        assert!(collect(&mut t).is_empty());
        append(&p, "first\n");
        assert_eq!(collect(&mut t), ["first"]);
    }

    #[test]
    fn a_rotation_reads_the_rest_of_the_old_file_first() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events");
        append(&p, "x\n");
        let mut t = Tail::new(&p);
        assert!(collect(&mut t).is_empty());
        append(&p, "last of old\n");
        std::fs::rename(&p, d.path().join("events.1")).unwrap();
        assert_eq!(collect(&mut t), ["last of old"], "read while the new file is not there yet");
        append(&p, "first of new\n");
        assert_eq!(collect(&mut t), ["first of new"]);
    }

    #[test]
    fn rotation_between_polls_loses_nothing_and_keeps_order() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events");
        append(&p, "");
        let mut t = Tail::new(&p);
        assert!(collect(&mut t).is_empty());
        append(&p, "1\n2\n");
        std::fs::rename(&p, d.path().join("events.1")).unwrap();
        append(&p, "3\n");
        assert_eq!(collect(&mut t), ["1", "2", "3"]);
    }

    #[test]
    fn a_truncated_file_is_read_again_from_its_start() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events");
        append(&p, "a long first line\n");
        let mut t = Tail::new(&p);
        assert!(collect(&mut t).is_empty());
        std::fs::write(&p, "new\n").unwrap();
        assert_eq!(collect(&mut t), ["new"]);
    }

    #[test]
    fn an_overlong_line_is_skipped_whole() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events");
        append(&p, "");
        let mut t = Tail::new(&p);
        assert!(collect(&mut t).is_empty());
        append(&p, &format!("{}\nafter\n", "x".repeat(MAX_LINE + 10)));
        assert_eq!(collect(&mut t), ["after"]);
    }
}
