//! Following the listener's events file (`vinyl-listen --output FILE`) as it grows: the one home
//! for tailing it, used by `vinyl-rec auto` (and `vinyl-web`).
//!
//! Owns the reading rules: a [`Tail`] starts at the end of the file as it is at the first
//! [`Tail::poll`] (what is already there may be handed to a `history` callback, up to the last
//! [`HISTORY`] bytes, whole lines only), then hands over each complete line appended since, in
//! order. It notices a rotation (the listener renames FILE to FILE.1 and starts a new FILE) by the
//! inode: the rest of the old file is read first, then FILE.1 whole when it is a generation not
//! read yet (two rotations between polls), then the new FILE from its start. The open file is
//! held until then, so its inode cannot be reused by the new ones and the comparison is exact.
//! Limit: the listener keeps one old generation, so of three or more rotations between two polls
//! only the first, the last and FILE.1 are read; the ones between are gone from the disk.
//!
//! Truncation in place (same inode) is noticed two ways: the file is shorter than what was read,
//! or its first bytes ([`HEAD`] of them, remembered at each poll) changed, which catches a file
//! truncated and grown again past the old position between two polls. Either way it is read
//! again from its start. Limit: a file truncated and rewritten with the very same first bytes
//! and grown past the old position is not noticed (event lines begin with their frame numbers,
//! so two generations do not share their first [`HEAD`] bytes in practice).
//!
//! A missing file is waited for (a file that appears after the first poll is new, and read from
//! its start); a file deleted and created again is a new inode, read from its start like a
//! rotation. A line longer than [`MAX_LINE`] is skipped whole. It never fails: what cannot be
//! opened or read now is tried again at the next poll. It does not parse the lines: callers do.

use crate::lines::{Lines, Long};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// The longest line handed over, in bytes; longer ones are skipped.
pub const MAX_LINE: usize = 64 * 1024;
/// How much of a file that exists at the first poll is handed to `history`, in bytes.
pub const HISTORY: u64 = 1 << 20;
/// How many of a file's first bytes are remembered to notice it was rewritten in place.
pub const HEAD: usize = 256;

/// A follower of one events file.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    /// The open file and its inode.
    file: Option<(File, u64)>,
    /// The next byte to read of the open file.
    pos: u64,
    /// The line being read (one longer than [`MAX_LINE`] is skipped whole).
    lines: Lines,
    /// Polled at least once.
    started: bool,
    /// The open file's first bytes (up to [`HEAD`]) as the last poll saw them.
    head: Vec<u8>,
    /// The inodes of the last generations read to their end, so a FILE.1 read already (before a
    /// deletion, say) is not read again.
    done: Vec<u64>,
}

impl Tail {
    /// A tail of `path`, which need not exist yet; it starts at the end of the file as the first
    /// [`Tail::poll`] finds it.
    pub fn new(path: &Path) -> Tail {
        Tail {
            path: path.to_path_buf(),
            file: None,
            pos: 0,
            lines: Lines::new(MAX_LINE, Long::Drop),
            started: false,
            head: Vec::new(),
            done: Vec::new(),
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
        match self.file.as_ref().map(|(_, ino)| *ino) {
            Some(old) if old != meta.ino() => {
                self.read_new(lines);
                self.finished(old);
                self.read_skipped_generation(old, meta.ino(), lines);
                self.reset();
                self.open(&meta, false, history);
            }
            Some(_) if meta.len() < self.pos => self.reset_position(),
            Some(_) if !self.same_head() => self.reset_position(),
            Some(_) => {}
            None => self.open(&meta, first, history),
        }
        self.read_new(lines);
        self.remember_head();
    }

    /// After a rotation from the generation `old` (still open) to `new`: FILE.1 is a generation
    /// between them when it is neither, so it came and went between two polls: read it whole.
    fn read_skipped_generation(&mut self, old: u64, new: u64, lines: &mut dyn FnMut(&str)) {
        let rotated = PathBuf::from(format!("{}.1", self.path.display()));
        let Ok(f) = File::open(&rotated) else { return };
        let Ok(meta) = f.metadata() else { return };
        if meta.ino() == old || meta.ino() == new || self.done.contains(&meta.ino()) {
            return;
        }
        self.finished(meta.ino());
        // The old file's cut last line (if any) is not completed by another file.
        self.lines.reset();
        let held = self.file.replace((f, meta.ino()));
        self.pos = 0;
        self.read_new(lines);
        self.lines.reset();
        self.file = held;
    }

    /// Remembers that the generation `ino` was read to its end (the last few only).
    fn finished(&mut self, ino: u64) {
        if self.done.len() == 8 {
            self.done.remove(0);
        }
        self.done.push(ino);
    }

    /// True when the open file still begins with the bytes the last poll saw.
    fn same_head(&mut self) -> bool {
        let now = self.read_head();
        now.len() >= self.head.len() && now[..self.head.len()] == self.head[..]
    }

    fn remember_head(&mut self) {
        self.head = self.read_head();
    }

    /// The open file's first bytes, up to [`HEAD`] (fewer when it is shorter or unreadable).
    fn read_head(&mut self) -> Vec<u8> {
        let Some((f, _)) = self.file.as_mut() else { return Vec::new() };
        let mut buf = Vec::with_capacity(HEAD);
        if f.seek(SeekFrom::Start(0)).is_err() || (&mut *f).take(HEAD as u64).read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        buf
    }

    fn reset(&mut self) {
        self.file = None;
        self.reset_position();
    }

    fn reset_position(&mut self) {
        self.pos = 0;
        self.lines.reset();
        self.head.clear();
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
            self.lines.feed(&buf[..n], &mut |line| lines(&String::from_utf8_lossy(line)));
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
    fn two_rotations_between_polls_read_the_generation_between() {
        let d = tempfile::tempdir().unwrap();
        let (p, p1) = (d.path().join("events"), d.path().join("events.1"));
        append(&p, "0\n");
        let mut t = Tail::new(&p);
        assert!(collect(&mut t).is_empty());
        append(&p, "1\n");
        std::fs::rename(&p, &p1).unwrap();
        append(&p, "2 side_start\n2 side_end\n");
        std::fs::rename(&p, &p1).unwrap();
        append(&p, "3\n");
        assert_eq!(collect(&mut t), ["1", "2 side_start", "2 side_end", "3"]);
        // One rotation later, FILE.1 is the file just read: nothing is read twice.
        append(&p, "4\n");
        std::fs::rename(&p, &p1).unwrap();
        append(&p, "5\n");
        assert_eq!(collect(&mut t), ["4", "5"]);
    }

    #[test]
    fn a_file_truncated_and_grown_past_the_old_position_is_read_from_its_start() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events");
        append(&p, "{\"frame\":1}\n");
        let mut t = Tail::new(&p);
        assert!(collect(&mut t).is_empty());
        append(&p, "{\"frame\":2}\n");
        assert_eq!(collect(&mut t), ["{\"frame\":2}"]);
        // Truncated in place (same inode) and written again, longer than before, between polls.
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(0).unwrap();
        drop(f);
        append(&p, "{\"frame\":900}\n{\"frame\":901}\n{\"frame\":902}\n");
        assert_eq!(collect(&mut t), ["{\"frame\":900}", "{\"frame\":901}", "{\"frame\":902}"]);
        append(&p, "{\"frame\":903}\n");
        assert_eq!(collect(&mut t), ["{\"frame\":903}"]);
    }

    #[test]
    fn a_deleted_file_created_again_is_followed_without_reading_the_old_generation_twice() {
        let d = tempfile::tempdir().unwrap();
        let (p, p1) = (d.path().join("events"), d.path().join("events.1"));
        append(&p, "");
        let mut t = Tail::new(&p);
        assert!(collect(&mut t).is_empty());
        append(&p, "a\n");
        std::fs::rename(&p, &p1).unwrap();
        append(&p, "b\n");
        assert_eq!(collect(&mut t), ["a", "b"]);
        append(&p, "c\n");
        std::fs::remove_file(&p).unwrap();
        assert_eq!(collect(&mut t), ["c"], "the deleted file's last lines");
        append(&p, "d\n");
        assert_eq!(collect(&mut t), ["d"], "events.1 (a) was read already");
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
