//! The bounded hand-over between the encoder (which must never wait) and the network sender
//! (which may).
//!
//! Owns the encoded audio waiting to be sent and the counters of what was not: [`Queue::push`]
//! never blocks; it queues a chunk (whole MP3 frames, whole Ogg pages) when a connection is up and there is room,
//! discards it while disconnected, and drops it when the server is too slow to keep the queue
//! under its capacity. Closing the queue (connection lost) discards what it holds, so a new
//! connection starts with live audio on a frame boundary; a chunk says whether a stream may
//! begin with it (an Ogg stream must begin with its header pages). Its capacity is in samples
//! per channel of the encoded stream; its counters are in input frames (the audio each chunk carries, without
//! the encoder's delay and padding), so that what was sent, discarded and dropped adds up to
//! what came in. It does no I/O and cannot fail.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Whole MP3 frames or Ogg pages, the samples they decode to and the input frames they carry.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The frames' bytes.
    pub data: Vec<u8>,
    /// Samples per channel (at the MP3 rate) in `data`, e.g. 1152 per MP3 frame.
    pub samples: u64,
    /// Input frames (at the input rate) whose audio `data` carries.
    pub frames: u64,
    /// `Some(n)` when a stream may begin here, made after the encoder had seen `n` requests for
    /// a fresh stream ([`super::sender::Restarts`]); MP3 may begin anywhere (`Some(0)`), Ogg only
    /// where a logical stream begins.
    pub start: Option<u64>,
}

/// What happened to a pushed chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for sending.
    Queued,
    /// Discarded: no connection.
    Discarded,
    /// Dropped: the queue was full because the server takes data too slowly.
    Dropped,
}

/// What [`Queue::pop`] found.
#[derive(Debug)]
pub enum Popped {
    /// A chunk to send.
    Chunk(Chunk),
    /// Nothing within the timeout.
    Empty,
    /// The input has ended and everything queued was handed out.
    Finished,
}

/// Totals since the start, in input frames: `sent + discarded + dropped = produced` once the
/// queue is drained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Produced by the encoder.
    pub produced: u64,
    /// Written to a server.
    pub sent: u64,
    /// Discarded while disconnected (including what was queued when a connection was lost).
    pub discarded: u64,
    /// Dropped because the server was too slow.
    pub dropped: u64,
}

impl Counters {
    /// The counters as a log line's words, in input frames at `rate`: what the sources' progress
    /// and end lines say, in one wording.
    pub fn describe(&self, rate: u32) -> String {
        use crate::pcm::format_frames;
        format!(
            "{} encoded, {} sent, {} discarded while disconnected, {} dropped while the server stalled",
            format_frames(self.produced, rate),
            format_frames(self.sent, rate),
            format_frames(self.discarded, rate),
            format_frames(self.dropped, rate)
        )
    }
}

#[derive(Debug)]
struct State {
    chunks: VecDeque<Chunk>,
    queued: u64,
    capacity: u64,
    accepting: bool,
    input_done: bool,
    counters: Counters,
    spare: Vec<Vec<u8>>,
}

/// A bounded queue of MP3 chunks shared by one producer and one consumer.
#[derive(Debug)]
pub struct Queue {
    state: Mutex<State>,
    cond: Condvar,
}

impl Queue {
    /// A closed (not accepting) queue holding at most `capacity` samples per channel.
    pub fn new(capacity: u64) -> Self {
        Queue {
            state: Mutex::new(State {
                chunks: VecDeque::new(),
                queued: 0,
                capacity,
                accepting: false,
                input_done: false,
                counters: Counters::default(),
                spare: Vec::new(),
            }),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking holder cannot leave the state inconsistent (every update is a few
        // assignments), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands over `data` (whole MP3 frames decoding to `samples`, carrying `frames` input
    /// frames). Never blocks beyond the lock.
    pub fn push(&self, data: &[u8], samples: u64, frames: u64) -> Pushed {
        self.push_chunk(data, samples, frames, Some(0))
    }

    /// [`Queue::push`] of a chunk that may begin a stream only when `start` (see [`Chunk::start`]).
    pub fn push_chunk(&self, data: &[u8], samples: u64, frames: u64, start: Option<u64>) -> Pushed {
        if data.is_empty() {
            return Pushed::Queued;
        }
        let mut s = self.lock();
        s.counters.produced += frames;
        if !s.accepting {
            s.counters.discarded += frames;
            return Pushed::Discarded;
        }
        // A chunk is always taken when the queue is empty, so a capacity smaller than one chunk
        // still lets audio through.
        if s.queued > 0 && s.queued + samples > s.capacity {
            s.counters.dropped += frames;
            return Pushed::Dropped;
        }
        let mut buf = s.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        s.chunks.push_back(Chunk { data: buf, samples, frames, start });
        s.queued += samples;
        drop(s);
        self.cond.notify_all();
        Pushed::Queued
    }

    /// Takes the oldest chunk, waiting up to `timeout` for one.
    pub fn pop(&self, timeout: Duration) -> Popped {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if let Some(c) = s.chunks.pop_front() {
                s.queued -= c.samples;
                return Popped::Chunk(c);
            }
            if s.input_done {
                return Popped::Finished;
            }
            let now = Instant::now();
            if now >= deadline {
                return Popped::Empty;
            }
            s = self.cond.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Returns a sent chunk: counts it and keeps its buffer for reuse.
    pub fn sent(&self, chunk: Chunk) {
        let mut s = self.lock();
        s.counters.sent += chunk.frames;
        if s.spare.len() < 8 {
            s.spare.push(chunk.data);
        }
    }

    /// Returns a chunk that was not sent because a stream cannot begin with it: counts it as
    /// discarded.
    pub fn skipped(&self, chunk: Chunk) {
        let mut s = self.lock();
        s.counters.discarded += chunk.frames;
        if s.spare.len() < 8 {
            s.spare.push(chunk.data);
        }
    }

    /// Starts accepting chunks (a connection is up).
    pub fn open(&self) {
        self.lock().accepting = true;
    }

    /// Stops accepting and discards what is queued, plus `unsent` (a chunk that failed to send);
    /// returns the input frames discarded by this call.
    pub fn close(&self, unsent: Option<Chunk>) -> u64 {
        let mut s = self.lock();
        s.accepting = false;
        let n = s.chunks.iter().map(|c| c.frames).sum::<u64>() + unsent.map_or(0, |c| c.frames);
        s.chunks.clear();
        s.queued = 0;
        s.counters.discarded += n;
        n
    }

    /// Marks the end of input: the consumer drains the queue, then sees [`Popped::Finished`].
    pub fn finish_input(&self) {
        self.lock().input_done = true;
        self.cond.notify_all();
    }

    /// True once [`Queue::finish_input`] was called.
    pub fn input_done(&self) -> bool {
        self.lock().input_done
    }

    /// Waits up to `timeout` for the end of input; true when it has come.
    pub fn wait_input_done(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        while !s.input_done {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            s = self.cond.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }

    /// The totals so far.
    pub fn counters(&self) -> Counters {
        self.lock().counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discards_while_closed_queues_while_open_drops_when_full() {
        // Capacity in MP3 samples, counters in input frames (the first chunk carries 576 of
        // them after the encoder's 576-sample delay).
        let q = Queue::new(3000);
        assert_eq!(q.push(&[1; 10], 1152, 576), Pushed::Discarded);
        q.open();
        assert_eq!(q.push(&[2; 10], 1152, 1152), Pushed::Queued);
        assert_eq!(q.push(&[3; 10], 1152, 1152), Pushed::Queued);
        assert_eq!(q.push(&[4; 10], 1152, 1152), Pushed::Dropped);
        let Popped::Chunk(c) = q.pop(Duration::ZERO) else { panic!("a chunk") };
        assert_eq!(c.data, [2; 10]);
        q.sent(c);
        assert_eq!(q.close(None), 1152);
        let c = q.counters();
        assert_eq!(c, Counters { produced: 4032, sent: 1152, discarded: 1728, dropped: 1152 });
        assert_eq!(c.sent + c.discarded + c.dropped, c.produced);
        assert!(matches!(q.pop(Duration::from_millis(1)), Popped::Empty));
    }

    #[test]
    fn an_empty_queue_takes_a_chunk_larger_than_its_capacity() {
        let q = Queue::new(100);
        q.open();
        assert_eq!(q.push(&[0; 4], 1152, 1152), Pushed::Queued);
        assert_eq!(q.push(&[0; 4], 1152, 1152), Pushed::Dropped);
    }

    #[test]
    fn finish_drains_then_reports_finished() {
        let q = std::sync::Arc::new(Queue::new(10_000));
        q.open();
        q.push(&[9; 3], 1152, 1000);
        let q2 = q.clone();
        let t = std::thread::spawn(move || {
            let mut got = 0;
            loop {
                match q2.pop(Duration::from_secs(5)) {
                    Popped::Chunk(c) => got += c.frames,
                    Popped::Finished => return got,
                    Popped::Empty => panic!("no chunk within 5 s"),
                }
            }
        });
        q.finish_input();
        assert_eq!(t.join().unwrap(), 1000);
        assert!(q.wait_input_done(Duration::ZERO));
    }
}
