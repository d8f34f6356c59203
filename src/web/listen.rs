//! `GET /listen`: the live capture for the page's player, and the latency measure it reports.
//!
//! Owns the stream's format and the measure. Each client gets one [`follow_live`] reader of the
//! ring on its own thread (`batch` zero: frames leave as soon as the writer publishes them). Each
//! ring delivery becomes one message on the response body: a 16-byte header — the magic `VNL1`,
//! the payload's length in bytes (u32 LE), the timeline number of its first frame (u64 LE) —
//! then whole frames of the ring's raw PCM. The format, rate and channels are in the response
//! headers `X-Vinyl-Format`, `X-Vinyl-Rate`, `X-Vinyl-Channels`. While no frame comes (the capture
//! stopped), an empty message (length 0, the next frame's number) goes every [`KEEPALIVE`]: the
//! page tells that from a stall, and a client that left is found out. A client's write blocks only its
//! own thread; one blocked for [`super::http::WRITE_TIMEOUT`] is dropped; one that falls a ring
//! behind is skipped to live by the tap; the socket's send buffer is kept small so the kernel
//! holds at most a fraction of a second for a slow reader, and the page drops what it cannot play
//! in time.
//!
//! The measure: [`Clock`] notes the `CLOCK_MONOTONIC` time at which each of the writer's
//! publications became visible in the ring (a thread waiting on the ring's futex, exact to the
//! wake-up), and the page reports (`POST /listen/report`) the timeline frame it is handing to the
//! audio output at that moment. Latency = now − publication time of that frame: the ring, the
//! HTTP stream, the browser's jitter buffer and the worklet, up to the output queue. The browser's
//! own output latency after that (`outputLatency`) is reported beside it, not added.

use super::App;
use super::http::{self, Request, Response};
use crate::pcm::PcmSpec;
use crate::ring::Logged;
use crate::ring::tap::{Follow, Note, Observer, follow_live};
use crate::ring::{RingReader, layout};
use crate::signals;
use crate::vlog;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The magic that opens each message of the stream.
pub const MAGIC: &[u8; 4] = b"VNL1";

/// How many publications the clock keeps (at 100 writes a second, 20 s).
const CLOCK_KEEP: usize = 2000;
/// How many latency reports are kept for the percentiles.
const REPORTS_KEEP: usize = 600;

/// How long a /listen stream goes without a message before it gets an empty one. The page then
/// tells a server that runs with no audio to send (the capture stopped) from one that stalled, and
/// a client that left while nothing played is found out, so its thread ends.
pub const KEEPALIVE: Duration = Duration::from_secs(2);

/// Streams the ring to one client until it goes, stalls, or the server stops.
pub fn serve(app: &App, mut s: TcpStream) {
    let spec = app.spec;
    let extra = [
        ("X-Vinyl-Format", spec.format.name().to_string()),
        ("X-Vinyl-Rate", spec.rate.to_string()),
        ("X-Vinyl-Channels", spec.channels.to_string()),
    ];
    // About 100 ms of audio in the kernel's send buffer at most (it doubles what it is given).
    let _ = rustix::net::sockopt::set_socket_send_buffer_size(&s, (spec.bytes_per_second() / 20) as usize);
    if http::start_stream(&mut s, "application/octet-stream", &extra).is_err() {
        return;
    }
    let n = app.listeners.fetch_add(1, Ordering::SeqCst) + 1;
    let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    vlog!(super::TOOL, "/listen: {peer}: listening ({n} listeners)");
    let out = RefCell::new(Out {
        s,
        msg: Vec::with_capacity(64 * 1024),
        sent: 0,
        next: 0,
        last: Instant::now(),
        failed: None,
    });
    let stop = || signals::stop_requested() || out.borrow().failed.is_some();
    let follow = Follow { ring: &app.ring, spec, from: None, batch: Duration::ZERO, stop: &stop };
    let shown = app.ring.display().to_string();
    // A client thread: the service manager hears from the server's main loop, not from here.
    let mut watch = Keepalive { logged: Logged::new(super::TOOL, &shown, spec.rate, false), out: &out };
    let result = follow_live(follow, &mut watch, &mut |first, frames| {
        let mut o = out.borrow_mut();
        o.send(first, frames)?;
        o.sent += (frames.len() / spec.frame_bytes()) as u64;
        o.next = first + (frames.len() / spec.frame_bytes()) as u64;
        Ok(())
    });
    let n = app.listeners.fetch_sub(1, Ordering::SeqCst) - 1;
    let out = out.into_inner();
    let why = match result {
        Ok(()) if out.failed.is_some_and(stalled) => {
            format!("stalled for {}s: dropped (at an empty message)", http::WRITE_TIMEOUT.as_secs())
        }
        Ok(()) if out.failed.is_some() => "gone (an empty message found it out)".to_string(),
        Ok(()) => "server stopping".to_string(),
        Err(e) if is_gone(&e) => "gone".to_string(),
        Err(e) if is_stalled(&e) => format!("stalled for {}s: dropped", http::WRITE_TIMEOUT.as_secs()),
        Err(e) => format!("{e:#}"),
    };
    vlog!(super::TOOL, "/listen: {peer}: {why} after {} ({n} listeners)", spec.describe_frames(out.sent));
}

/// One client's end of the stream: its socket, and what went to it.
struct Out {
    s: TcpStream,
    msg: Vec<u8>,
    /// Frames sent.
    sent: u64,
    /// The timeline frame after the last one sent (an empty message carries it).
    next: u64,
    /// When the last message went.
    last: Instant,
    /// Why an empty message could not be written (the client left, or stalled).
    failed: Option<std::io::ErrorKind>,
}

impl Out {
    /// Sends one message: the whole `frames` (none for an empty one) from timeline frame `first`.
    fn send(&mut self, first: u64, frames: &[u8]) -> std::io::Result<()> {
        self.msg.clear();
        self.msg.extend_from_slice(MAGIC);
        self.msg.extend_from_slice(&(frames.len() as u32).to_le_bytes());
        self.msg.extend_from_slice(&first.to_le_bytes());
        self.msg.extend_from_slice(frames);
        self.s.write_all(&self.msg)?;
        self.last = Instant::now();
        Ok(())
    }
}

/// A client's observer of its tap: logs as [`Logged`] does and, as the tap's loop turns while no
/// frame comes, sends an empty message every [`KEEPALIVE`]; one that fails ends the follow.
struct Keepalive<'a, 'o> {
    logged: Logged<'a>,
    out: &'o RefCell<Out>,
}

impl Observer for Keepalive<'_, '_> {
    fn note(&mut self, note: Note) {
        if let Note::Following { from, .. } | Note::NewTimeline { from, .. } = note {
            // Where the stream begins again: an empty message before the first frame names it.
            self.out.borrow_mut().next = from;
        }
        self.logged.note(note);
    }

    fn turn(&mut self) {
        self.logged.turn();
        let mut o = self.out.borrow_mut();
        if o.failed.is_none() && o.last.elapsed() >= KEEPALIVE {
            let next = o.next;
            o.failed = o.send(next, &[]).err().map(|e| e.kind());
        }
    }
}

fn io_kind(e: &anyhow::Error) -> Option<std::io::ErrorKind> {
    e.chain().find_map(|c| c.downcast_ref::<std::io::Error>()).map(|e| e.kind())
}

fn is_gone(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(io_kind(e), Some(BrokenPipe | ConnectionReset | ConnectionAborted))
}

fn is_stalled(e: &anyhow::Error) -> bool {
    io_kind(e).is_some_and(stalled)
}

/// A write that timed out: the client is there but reads nothing.
fn stalled(kind: std::io::ErrorKind) -> bool {
    matches!(kind, std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// When each publication of the ring's writer became visible: `(head after it, monotonic ns)`.
#[derive(Default)]
pub struct Clock {
    marks: Mutex<VecDeque<(u64, u64)>>,
}

impl Clock {
    /// Notes that frames before `head` were visible at `t_ns`.
    fn note(&self, head: u64, t_ns: u64) {
        let mut m = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        if m.back().is_some_and(|&(h, _)| h >= head) {
            // A new timeline (the numbers went back): start again.
            if m.back().is_some_and(|&(h, _)| h > head) {
                m.clear();
            } else {
                return;
            }
        }
        if m.len() == CLOCK_KEEP {
            m.pop_front();
        }
        m.push_back((head, t_ns));
    }

    /// The time `frame` became visible: that of the first publication that included it. `None`
    /// when it is older than the clock remembers or not yet published.
    pub fn published(&self, frame: u64) -> Option<u64> {
        let m = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        let i = m.partition_point(|&(h, _)| h <= frame);
        if i == 0 || i == m.len() {
            // Before the first mark we do not know which publication held it.
            return None;
        }
        Some(m[i].1)
    }

    /// Follows the ring's head for as long as the server runs, noting each publication.
    pub fn run(&self, ring: PathBuf, spec: PcmSpec) {
        while !signals::stop_requested() {
            let Ok(r) = RingReader::open(&ring, true) else {
                std::thread::sleep(Duration::from_millis(500));
                continue;
            };
            if r.config().spec != spec {
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
            self.watch(&r);
        }
    }

    fn watch(&self, r: &RingReader) {
        let Ok(snap) = r.snapshot() else { return };
        let (generation, mut seen) = (snap.generation, snap.head);
        while !signals::stop_requested() {
            r.wait_beyond(seen, generation, Duration::from_millis(500));
            let Ok(head) = r.head() else { return };
            if r.check_generation(generation).is_err() {
                return;
            }
            if head != seen {
                let t = r.publish_time_of(head).unwrap_or_else(layout::monotonic_ns);
                self.note(head, t);
                seen = head;
            }
        }
    }
}

/// The page's reports, as latencies in milliseconds.
#[derive(Default)]
pub struct Latency {
    reports: Mutex<VecDeque<Report>>,
}

/// One report, as measured on arrival.
#[derive(Clone, Copy, Debug)]
struct Report {
    /// Ring publication to the output queue, ms.
    latency_ms: f64,
    /// The page's jitter buffer at that moment, ms.
    buffer_ms: f64,
    /// The browser's `outputLatency` (after the output queue), ms.
    output_ms: f64,
}

impl Latency {
    /// Takes `{"frame": N, "age": SECONDS, "buffered": FRAMES, "output_latency": SECONDS}` from the
    /// page: frame N was handed to the audio output AGE seconds before the report was sent.
    pub fn report(&self, app: &App, req: &Request) -> Response {
        let now = layout::monotonic_ns();
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&req.body) else {
            return Response::error(
                400,
                "expected JSON {\"frame\": N, \"age\": SECONDS, \"buffered\": FRAMES}",
            );
        };
        let Some(frame) = v["frame"].as_u64() else { return Response::error(400, "frame: a number") };
        let Some(published) = app.clock.published(frame) else {
            return Response::json(200, &serde_json::json!({ "latency_ms": null }));
        };
        let rate = app.spec.rate as f64;
        let age_ns = (v["age"].as_f64().unwrap_or(0.0).clamp(0.0, 10.0) * 1e9) as u64;
        let r = Report {
            latency_ms: now.saturating_sub(age_ns).saturating_sub(published) as f64 / 1e6,
            buffer_ms: v["buffered"].as_f64().unwrap_or(0.0) * 1000.0 / rate,
            output_ms: v["output_latency"].as_f64().unwrap_or(0.0) * 1000.0,
        };
        let mut q = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() == REPORTS_KEEP {
            q.pop_front();
        }
        q.push_back(r);
        Response::json(200, &serde_json::json!({ "latency_ms": r.latency_ms }))
    }

    /// `{"reports": N, "p50_ms": x, "p95_ms": x, "max_ms": x, "buffer_p50_ms": x, "output_latency_ms": x}`.
    pub fn summary(&self) -> super::status::Latency {
        let q = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        let mut l: Vec<f64> = q.iter().map(|r| r.latency_ms).collect();
        let mut b: Vec<f64> = q.iter().map(|r| r.buffer_ms).collect();
        let out = q.back().map(|r| r.output_ms);
        super::status::Latency {
            reports: l.len(),
            p50_ms: percentile(&mut l, 0.5),
            p95_ms: percentile(&mut l, 0.95),
            max_ms: percentile(&mut l, 1.0),
            buffer_p50_ms: percentile(&mut b, 0.5),
            output_latency_ms: out,
        }
    }

    /// Forgets the reports (`POST /listen/report` with `{"reset": true}`, for the bench).
    pub fn reset(&self) {
        self.reports.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The `q` quantile (nearest rank) of `v`, rounded to 0.1 ms; `None` when empty.
fn percentile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    Some((v[i] * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_timed_by_the_publication_that_included_it() {
        let c = Clock::default();
        c.note(100, 1_000);
        c.note(200, 2_000);
        c.note(300, 3_000);
        assert_eq!(c.published(99), None, "before the first mark: unknown");
        assert_eq!(c.published(100), Some(2_000));
        assert_eq!(c.published(199), Some(2_000));
        assert_eq!(c.published(250), Some(3_000));
        assert_eq!(c.published(300), None, "not yet published");
        c.note(50, 4_000);
        assert_eq!(c.published(49), None, "a new timeline starts the clock again");
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.5), Some(50.0));
        assert_eq!(percentile(&mut v, 0.95), Some(95.0));
        assert_eq!(percentile(&mut [], 0.5), None);
    }
}
