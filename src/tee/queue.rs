//! One output's bounded backlog: whole frames waiting for a reader, plus the tail of a frame that a
//! non-blocking write cut in two.
//!
//! Owns the byte arithmetic of never-split frames: what a partial write leaves of a frame goes to a
//! small `pending` buffer that must reach the output before anything else, so the reader stays
//! frame-aligned; everything behind it is a ring of whole frames. When the ring is full the
//! OLDEST whole frames are dropped (never the pending tail), so a reader that stalled resumes as
//! close to live as the queue allows. It does not know what it writes to (the caller passes the
//! write as a closure) and never blocks; it only reports errors the write returned.

use nix::errno::Errno;
use std::io::IoSlice;

/// A bounded FIFO of whole PCM frames for one output.
#[derive(Debug)]
pub(crate) struct FrameQueue {
    /// Bytes per frame (4 for s16le stereo).
    frame_bytes: usize,
    /// Capacity of the ring in bytes, a multiple of `frame_bytes` (0: no queue at all).
    cap: usize,
    /// The ring; allocated at first use (`vec![0; cap]` is lazily backed by the kernel).
    buf: Vec<u8>,
    /// Offset of the oldest queued byte in `buf`.
    head: usize,
    /// Queued bytes in the ring, a multiple of `frame_bytes`.
    len: usize,
    /// The rest of a frame whose beginning has been written: goes out before anything else.
    pending: Vec<u8>,
    /// Bytes written to the output so far (through this queue or directly).
    delivered: u64,
}

/// What a write reports: bytes taken, or an errno. `EAGAIN` and `EINTR` count as "took nothing".
fn attempt(result: nix::Result<usize>) -> Result<usize, Errno> {
    match result {
        Ok(n) => Ok(n),
        Err(Errno::EAGAIN | Errno::EINTR) => Ok(0),
        Err(e) => Err(e),
    }
}

impl FrameQueue {
    /// An empty queue holding at most `cap_frames` frames of `frame_bytes` bytes.
    pub(crate) fn new(frame_bytes: usize, cap_frames: usize) -> Self {
        assert!(frame_bytes > 0);
        FrameQueue {
            frame_bytes,
            cap: cap_frames * frame_bytes,
            buf: Vec::new(),
            head: 0,
            len: 0,
            pending: Vec::with_capacity(frame_bytes),
            delivered: 0,
        }
    }

    /// True when nothing waits for the output (no queued frame, no frame tail).
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0 && self.pending.is_empty()
    }

    /// Whole frames waiting in the ring (the pending tail is not counted).
    pub(crate) fn queued_frames(&self) -> u64 {
        (self.len / self.frame_bytes) as u64
    }

    /// True when the output has received only part of its last frame.
    pub(crate) fn has_partial(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Bytes of the cut frame that did reach the output (0 when no frame is cut).
    pub(crate) fn partial_written(&self) -> usize {
        if self.pending.is_empty() { 0 } else { self.frame_bytes - self.pending.len() }
    }

    /// Bytes the output has taken so far.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Empties the queue (the output is gone) and returns the whole frames thrown away. A pending
    /// frame tail is thrown away too: its output, which holds the head of that frame, is gone.
    pub(crate) fn discard(&mut self) -> u64 {
        let frames = self.queued_frames();
        self.head = 0;
        self.len = 0;
        self.pending.clear();
        frames
    }

    /// Releases the ring's memory (the output is closed for good).
    pub(crate) fn release(&mut self) {
        self.discard();
        self.buf = Vec::new();
    }

    fn advance(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        self.len -= n;
        self.head = if self.len == 0 { 0 } else { (self.head + n) % self.cap };
    }

    /// Appends whole frames, dropping the oldest queued frames when the ring would overflow.
    /// Returns the number of frames dropped (0 when everything fit).
    pub(crate) fn push(&mut self, data: &[u8]) -> u64 {
        let fb = self.frame_bytes;
        debug_assert_eq!(data.len() % fb, 0);
        if data.is_empty() {
            return 0;
        }
        if self.cap == 0 {
            return (data.len() / fb) as u64;
        }
        if self.buf.len() != self.cap {
            self.buf = vec![0; self.cap];
        }
        let mut dropped = 0;
        let data = if data.len() > self.cap {
            dropped += (data.len() - self.cap) / fb;
            &data[data.len() - self.cap..]
        } else {
            data
        };
        let n = data.len();
        if self.len + n > self.cap {
            let excess = self.len + n - self.cap;
            dropped += excess / fb;
            self.advance(excess);
        }
        let tail = (self.head + self.len) % self.cap;
        let first = n.min(self.cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..]);
        self.len += n;
        dropped as u64
    }

    /// Accounts for `n` bytes of the ring written: a frame cut by the write has its rest moved to
    /// `pending`, and the ring then starts at the next whole frame.
    fn consume(&mut self, n: usize) {
        let fb = self.frame_bytes;
        let whole = n / fb * fb;
        let cut = n % fb;
        if cut == 0 {
            self.advance(whole);
            return;
        }
        for i in whole + cut..whole + fb {
            self.pending.push(self.buf[(self.head + i) % self.cap]);
        }
        self.advance(whole + fb);
    }

    /// Writes as much of the backlog as `write` takes now (one attempt for the frame tail, one for
    /// the ring). Returns the bytes written; `EAGAIN`/`EINTR` are "nothing taken", any other
    /// errno is returned with the queue left consistent.
    pub(crate) fn flush(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> nix::Result<usize>,
    ) -> Result<usize, Errno> {
        let mut written = 0;
        if !self.pending.is_empty() {
            let n = attempt(write(&[IoSlice::new(&self.pending)]))?;
            self.pending.drain(..n);
            self.delivered += n as u64;
            written += n;
            if !self.pending.is_empty() {
                return Ok(written);
            }
        }
        if self.len > 0 {
            let end = self.head + self.len;
            let n = if end <= self.cap {
                attempt(write(&[IoSlice::new(&self.buf[self.head..end])]))?
            } else {
                let iov = [IoSlice::new(&self.buf[self.head..]), IoSlice::new(&self.buf[..end - self.cap])];
                attempt(write(&iov))?
            };
            self.consume(n);
            self.delivered += n as u64;
            written += n;
        }
        Ok(written)
    }

    /// Passes fresh whole frames on: written straight from `data` when nothing is queued (the fast
    /// path, no copy), queued behind the backlog otherwise. Whatever the output cannot take now is
    /// queued, the oldest frames dropped if it does not fit. Returns the frames dropped.
    pub(crate) fn offer(
        &mut self,
        data: &[u8],
        mut write: impl FnMut(&[IoSlice<'_>]) -> nix::Result<usize>,
    ) -> Result<u64, Errno> {
        if !self.is_empty() {
            return Ok(self.push(data));
        }
        let n = attempt(write(&[IoSlice::new(data)]))?;
        Ok(self.accept(data, n))
    }

    /// Accounts for `len` bytes the output took whole without a copy. Returns 0 (frames dropped).
    pub(crate) fn took(&mut self, len: usize) -> u64 {
        self.delivered += len as u64;
        0
    }

    /// Accounts for fresh whole frames `data` of which the output already took the first `taken`
    /// bytes (by a write, or by `tee(2)`/`splice(2)` without a copy): the rest of a cut frame
    /// goes to `pending`, the remaining frames to the ring. Call only when the queue was empty
    /// before those bytes went out. Returns the frames dropped.
    pub(crate) fn accept(&mut self, data: &[u8], taken: usize) -> u64 {
        debug_assert!(self.is_empty() && taken <= data.len());
        self.delivered += taken as u64;
        let mut rest = &data[taken..];
        let cut = taken % self.frame_bytes;
        if cut != 0 {
            let need = self.frame_bytes - cut;
            self.pending.extend_from_slice(&rest[..need]);
            rest = &rest[need..];
        }
        self.push(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcm::{PcmSpec, SampleFormat, unique_frame_number, unique_frames};

    /// A writer that takes at most `room` bytes per call, like a pipe with `room` bytes free.
    struct Sink {
        got: Vec<u8>,
        room: usize,
    }

    impl Sink {
        fn write(&mut self, iov: &[IoSlice<'_>]) -> nix::Result<usize> {
            if self.room == 0 {
                return Err(Errno::EAGAIN);
            }
            let mut n = 0;
            for s in iov {
                let take = s.len().min(self.room - n);
                self.got.extend_from_slice(&s[..take]);
                n += take;
            }
            Ok(n)
        }
    }

    fn numbers(data: &[u8], fb: usize) -> Vec<u64> {
        assert_eq!(data.len() % fb, 0, "output not frame-aligned");
        data.chunks(fb).map(unique_frame_number).collect()
    }

    #[test]
    fn partial_writes_are_completed_before_anything_else() {
        let spec = PcmSpec { format: SampleFormat::S24_3Le, ..PcmSpec::default() };
        let fb = spec.frame_bytes();
        let mut q = FrameQueue::new(fb, 1000);
        let mut sink = Sink { got: Vec::new(), room: 7 };
        let data = unique_frames(&spec, 0, 100);
        assert_eq!(q.offer(&data[..60], |iov| sink.write(iov)).unwrap(), 0);
        assert!(q.has_partial());
        // Rooms of odd sizes cut frames again and again.
        for room in [5, 1, 13, 0, 29, 2] {
            sink.room = room;
            q.flush(|iov| sink.write(iov)).unwrap();
        }
        q.offer(&data[60..], |iov| sink.write(iov)).unwrap();
        sink.room = usize::MAX / 2;
        while !q.is_empty() {
            q.flush(|iov| sink.write(iov)).unwrap();
        }
        assert_eq!(sink.got, data);
        assert_eq!(q.delivered(), data.len() as u64);
    }

    #[test]
    fn a_full_queue_drops_the_oldest_whole_frames() {
        let spec = PcmSpec::default();
        let fb = spec.frame_bytes();
        let mut q = FrameQueue::new(fb, 10);
        let mut sink = Sink { got: Vec::new(), room: 6 };
        let data = unique_frames(&spec, 0, 40);
        // 6 bytes go out (frame 0 and half of frame 1); of frames 2..14 the oldest 3 are dropped.
        assert_eq!(q.offer(&data[..15 * fb], |iov| sink.write(iov)).unwrap(), 3);
        // 10 more frames push the 10 queued out; the tail of frame 1 stays first.
        assert_eq!(q.offer(&data[15 * fb..25 * fb], |iov| sink.write(iov)).unwrap(), 10);
        sink.room = 1 << 20;
        while !q.is_empty() {
            q.flush(|iov| sink.write(iov)).unwrap();
        }
        let nums = numbers(&sink.got, fb);
        let want: Vec<u64> = [0, 1].into_iter().chain(15..25).collect();
        assert_eq!(nums, want);
    }

    #[test]
    fn the_ring_wraps_and_writes_both_halves() {
        let spec = PcmSpec::default();
        let fb = spec.frame_bytes();
        let mut q = FrameQueue::new(fb, 8);
        let mut sink = Sink { got: Vec::new(), room: 0 };
        let data = unique_frames(&spec, 100, 1000);
        let mut fed = 0;
        let mut dropped = 0;
        for (i, chunk) in data.chunks(3 * fb).enumerate() {
            dropped += q.offer(chunk, |iov| sink.write(iov)).unwrap();
            fed += chunk.len() / fb;
            sink.room = [0, 5, 12, 3, 40][i % 5];
            q.flush(|iov| sink.write(iov)).unwrap();
        }
        sink.room = 1 << 20;
        q.flush(|iov| sink.write(iov)).unwrap();
        assert!(q.is_empty());
        let nums = numbers(&sink.got, fb);
        assert!(nums.windows(2).all(|w| w[0] < w[1]), "frames out of order");
        assert_eq!(nums.len() as u64 + dropped, fed as u64);
        assert_eq!(*nums.last().unwrap(), 1099);
    }

    #[test]
    fn zero_capacity_keeps_only_the_frame_tail() {
        let spec = PcmSpec::default();
        let fb = spec.frame_bytes();
        let mut q = FrameQueue::new(fb, 0);
        let mut sink = Sink { got: Vec::new(), room: 9 };
        let data = unique_frames(&spec, 0, 10);
        assert_eq!(q.offer(&data, |iov| sink.write(iov)).unwrap(), 7);
        sink.room = 100;
        q.flush(|iov| sink.write(iov)).unwrap();
        assert_eq!(numbers(&sink.got, fb), [0, 1, 2]);
    }

    #[test]
    fn errors_leave_the_queue_consistent() {
        let spec = PcmSpec::default();
        let fb = spec.frame_bytes();
        let mut q = FrameQueue::new(fb, 10);
        let data = unique_frames(&spec, 0, 4);
        let err = q.offer(&data, |_| Err(Errno::ENOSPC)).unwrap_err();
        assert_eq!(err, Errno::ENOSPC);
        assert!(q.is_empty());
        q.push(&data);
        assert_eq!(q.flush(|_| Err(Errno::EPIPE)), Err(Errno::EPIPE));
        assert_eq!(q.discard(), 4);
        assert!(q.is_empty());
    }
}
