//! Measurement probes for `scripts/bench` (not installed, not a tool).
//!
//! - `bench_probe arrivals [FRAME_BYTES RATE]`: reads PCM from stdin and reports how regularly it
//!   arrives: for each read, the lateness of its last frame against the pace of the first frame
//!   (`arrival time − frames/rate`), as p50/p99/max of the deviation from the median, in ms. This
//!   is the jitter an encoder behind `vinyl-tee` sees.
//! - `bench_probe tee-latency TEE_BIN SECONDS [TEE_ARGS…]`: runs `TEE_BIN TEE_ARGS… FIFO` fed by a paced writer whose
//!   frames carry the monotonic time they were written, reads the FIFO, and reports the delay of
//!   each frame through the tee (p50/p99/max, in µs).
//! - `bench_probe rusage OUT CMD [ARGS…]`: runs CMD like `/usr/bin/time -f '%U %S %M' -o OUT`
//!   (same stdio, same exit status, forwarding SIGTERM/SIGINT/SIGHUP to it), but writes the user
//!   and system seconds with microsecond resolution instead of 10 ms: the kernel accounts a
//!   child's CPU time to the nanosecond, and the benchmarks compare tenths of a CPU-second.
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn arrivals(frame_bytes: usize, rate: f64) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; 1 << 16];
    let mut frames = 0u64;
    let mut carry = 0usize;
    let mut start: Option<Instant> = None;
    let mut lateness = Vec::new();
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("stdin: {e}"),
        };
        let now = Instant::now();
        let total = carry + n;
        frames += (total / frame_bytes) as u64;
        carry = total % frame_bytes;
        let t0 = *start.get_or_insert(now);
        lateness.push(now.duration_since(t0).as_secs_f64() * 1000.0 - frames as f64 * 1000.0 / rate);
    }
    lateness.sort_by(|a, b| a.total_cmp(b));
    let median = percentile(&lateness, 0.5);
    let mut dev: Vec<f64> = lateness.iter().map(|l| (l - median).abs()).collect();
    dev.sort_by(|a, b| a.total_cmp(b));
    println!(
        "reads {} frames {} jitter_ms p50 {:.2} p99 {:.2} max {:.2}",
        lateness.len(),
        frames,
        percentile(&dev, 0.5),
        percentile(&dev, 0.99),
        dev.last().copied().unwrap_or(f64::NAN)
    );
}

fn tee_latency(tee: &str, seconds: u64, tee_args: &[String]) {
    let dir = std::env::temp_dir().join(format!("vinyl-tee-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("out.fifo");
    let mut child = std::process::Command::new(tee)
        .args(tee_args)
        .arg(&fifo)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn tee");
    let mut stdin = child.stdin.take().unwrap();
    let epoch = Instant::now();
    let period = 1024usize; // frames per write, like vinyl-capture's default period
    let writer = std::thread::spawn(move || {
        let mut frame = vec![0u8; period * 4];
        let writes = seconds * 48_000 / period as u64;
        for i in 0..writes {
            let due = Duration::from_nanos(i * period as u64 * 1_000_000_000 / 48_000);
            if let Some(wait) = due.checked_sub(epoch.elapsed()) {
                std::thread::sleep(wait);
            }
            let stamp = epoch.elapsed().as_nanos() as u64;
            frame[..8].copy_from_slice(&stamp.to_le_bytes());
            stdin.write_all(&frame).unwrap();
        }
    });
    // The tee creates the FIFO; wait until it exists, then read.
    while !fifo.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let mut block = vec![0u8; period * 4];
    let mut delays = Vec::new();
    while reader.read_exact(&mut block).is_ok() {
        let stamp = u64::from_le_bytes(block[..8].try_into().unwrap());
        delays.push((epoch.elapsed().as_nanos() as u64 - stamp) as f64 / 1000.0);
    }
    writer.join().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    delays.sort_by(|a, b| a.total_cmp(b));
    println!(
        "frames {} delay_us p50 {:.0} p99 {:.0} max {:.0}",
        delays.len() * period,
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or(f64::NAN)
    );
}

/// The child `rusage` forwards stop signals to (0: none yet).
static CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(std::sync::atomic::Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

fn rusage(out: &str, cmd: &[String]) -> ! {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::signal::{SigHandler, Signal, signal};
    // Installed before the spawn (exec resets them in the child); a signal that arrives before
    // the child exists is dropped, so callers signal only once the tool has started.
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only calls kill(2).
        unsafe { signal(sig, SigHandler::Handler(forward)) }.expect("signal");
    }
    let mut child = std::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", cmd[0]));
    CHILD.store(child.id() as i32, std::sync::atomic::Ordering::SeqCst);
    let status = loop {
        match child.wait() {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("wait: {e}"),
        }
    };
    let u = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    std::fs::write(out, format!("{:.6} {:.6} {}\n", secs(u.user_time()), secs(u.system_time()), u.max_rss()))
        .unwrap_or_else(|e| panic!("{out}: {e}"));
    use std::os::unix::process::ExitStatusExt;
    std::process::exit(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("arrivals") => {
            let fb = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
            let rate = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(48_000.0);
            arrivals(fb, rate)
        }
        Some("tee-latency") => {
            let tee = args.get(2).expect("tee-latency TEE_BIN SECONDS");
            let secs = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
            tee_latency(tee, secs, args.get(4..).unwrap_or(&[]))
        }
        Some("rusage") if args.len() >= 4 => rusage(&args[2], &args[3..]),
        _ => {
            eprintln!(
                "usage: bench_probe arrivals [FRAME_BYTES RATE] | tee-latency TEE_BIN SECONDS [TEE_ARGS...] \
                 | rusage OUT CMD [ARGS...]"
            );
            std::process::exit(2)
        }
    }
}
