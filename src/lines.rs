//! Lines out of a byte stream that arrives in pieces, bounded: the one splitter for the events
//! file's tail (`listen::tail`) and the stream's title FIFO (`mp3icecast::metadata`).
//!
//! Owns where a line ends (at `\n`; a piece may end mid-line, the rest comes with the next) and
//! what a line longer than the bound becomes: cut at the bound, the rest skipped to its newline
//! ([`Long::Cut`], a title), or skipped whole ([`Long::Drop`], an event that cannot be whole). It
//! does not decode or clean the lines (callers do) and cannot fail; memory is bounded by `max`.

/// What a line longer than the bound becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Long {
    /// Its first `max` bytes are a line; the rest, up to its newline, is skipped.
    Cut,
    /// It is skipped whole.
    Drop,
}

/// A splitter of lines of at most `max` bytes (without the newline).
#[derive(Debug)]
pub struct Lines {
    buf: Vec<u8>,
    skipping: bool,
    max: usize,
    long: Long,
}

impl Lines {
    /// A splitter with nothing pending.
    pub fn new(max: usize, long: Long) -> Lines {
        Lines { buf: Vec::new(), skipping: false, max: max.max(1), long }
    }

    /// Forgets a pending partial line (the stream was replaced).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.skipping = false;
    }

    /// Takes the next piece of the stream and hands over each line it completes, in order.
    pub fn feed(&mut self, bytes: &[u8], line: &mut dyn FnMut(&[u8])) {
        for &b in bytes {
            if b == b'\n' {
                if !self.skipping {
                    line(&self.buf);
                }
                self.reset();
            } else if self.skipping {
            } else if self.buf.len() < self.max {
                self.buf.push(b);
                if self.buf.len() == self.max && self.long == Long::Cut {
                    line(&self.buf);
                    self.buf.clear();
                    self.skipping = true;
                }
            } else {
                self.buf.clear();
                self.skipping = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(l: &mut Lines, pieces: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        for p in pieces {
            l.feed(p, &mut |line| out.push(String::from_utf8_lossy(line).into_owned()));
        }
        out
    }

    #[test]
    fn lines_cross_pieces_and_a_long_one_is_cut_or_dropped() {
        let mut l = Lines::new(4, Long::Drop);
        assert_eq!(split(&mut l, &[b"ab", b"c\nd\n\nabcd\nabcde\nz", b"\n"]), ["abc", "d", "", "abcd", "z"]);
        let mut l = Lines::new(4, Long::Cut);
        assert_eq!(split(&mut l, &[b"abcd\nabcdefg\nz\n"]), ["abcd", "abcd", "z"]);
        let mut l = Lines::new(4, Long::Cut);
        assert_eq!(split(&mut l, &[b"par"]), Vec::<String>::new(), "no newline yet");
        l.reset();
        assert_eq!(split(&mut l, &[b"x\n"]), ["x"], "a reset forgets the partial line");
    }
}
