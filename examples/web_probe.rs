//! Headless chromium on vinyl-web's page, for scripts/bench (90-web): opens the page (URL may
//! carry `#token=…`), clicks Listen, lets it settle for 3 s, resets vinyl-web's latency reports
//! (with the token), plays for the given seconds while the page reports its position every 500 ms,
//! then prints one JSON line: the page's `window.vinylStats`, the console errors, and vinyl-web's
//! `/status` latency over the measured seconds only; and a second line of the same as words.
//!
//! `web_probe URL SECONDS PROFILE_DIR`
//!
//! For scripts/bench (82-mount-latency), the latency of an Icecast mount as an <audio> element
//! plays it: `web_probe markers OUT SECONDS` writes the marked input the capture plays, and
//! `web_probe mount URL TYPE SECONDS PROFILE_DIR FRAME0_UNIX_NS` times each marker the page's own
//! mount player (`src/web/mount.js`) plays against when the ring captured it.

#[path = "../tests/common/cdp.rs"]
mod cdp;
// The tests' HTTP client, which the browser driver reads DevTools' list with.
#[path = "../tests/common/http.rs"]
#[allow(dead_code)]
mod http;

use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let run = match args.get(1).map(String::as_str) {
        Some("markers") if args.len() == 4 => Some(markers(&args[2], args[3].parse().unwrap_or(60))),
        Some("mount") if args.len() == 7 => Some(mount(
            &args[2],
            &args[3],
            args[4].parse().unwrap_or(40),
            std::path::Path::new(&args[5]),
            args[6].parse().unwrap_or(0),
        )),
        _ => None,
    };
    if let Some(r) = run {
        if let Err(e) = r {
            eprintln!("web_probe: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() != 4 {
        eprintln!(
            "usage: web_probe URL SECONDS PROFILE_DIR | markers OUT SECONDS | mount URL TYPE SECONDS PROFILE_DIR FRAME0_UNIX_NS"
        );
        std::process::exit(2);
    }
    let (url, secs) = (&args[1], args[2].parse::<u64>().unwrap_or(30));
    if let Err(e) = probe(url, secs, std::path::Path::new(&args[3])) {
        eprintln!("web_probe: {e}");
        std::process::exit(1);
    }
}

fn probe(url: &str, secs: u64, profile: &std::path::Path) -> Result<(), String> {
    let mut b = cdp::Browser::start(profile)?;
    b.open(url)?;
    b.click("listenBtn")?;
    b.wait_for("window.vinylStats.framesPlayed > 0", Duration::from_secs(30))?;
    b.pump(Duration::from_secs(3));
    // The first seconds (the stream filling the buffer) are not what a listener hears later.
    let reset = b.eval(
        "fetch('/listen/report', { method: 'POST', headers: { 'Authorization': 'Bearer ' + \
         localStorage.getItem('vinylToken'), 'Content-Type': 'application/json' }, \
         body: '{\"reset\": true}' }).then(r => r.status)",
    )?;
    if reset.as_u64() != Some(200) {
        return Err(format!("POST /listen/report {{\"reset\": true}}: answered {reset}, not 200"));
    }
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        b.pump(Duration::from_millis(500));
    }
    let stats = b.eval("JSON.stringify(window.vinylStats)")?;
    let status = b.eval("fetch('/status').then(r => r.json()).then(s => JSON.stringify(s.latency))")?;
    let out = serde_json::json!({
        "stats": serde_json::from_str::<serde_json::Value>(stats.as_str().unwrap_or("null")).unwrap_or_default(),
        "latency": serde_json::from_str::<serde_json::Value>(status.as_str().unwrap_or("null")).unwrap_or_default(),
        "errors": b.errors,
    });
    println!("{out}");
    // The same, as words for the shell: reports p50 p95 buffer_p50 frames_played underruns errors.
    let (l, st) = (&out["latency"], &out["stats"]);
    println!(
        "{} {} {} {} {} {} {}",
        l["reports"],
        l["p50_ms"],
        l["p95_ms"],
        l["buffer_p50_ms"],
        st["framesPlayed"],
        st["underruns"],
        b.errors.len()
    );
    Ok(())
}

// --- The mount latency (scripts/bench.d/82-mount-latency) ----------------------------------------
// The input carries a 1 kHz burst every 2 s (from 2 s on) over quiet noise; burst k lasts
// 40 + 20 × (k mod 8) ms, so a burst heard up to 16 s late still names its frame.

const RATE: u64 = 48_000;
const MARK_EVERY: u64 = 2 * RATE;

/// The first frame of burst `k` and its length in milliseconds.
fn mark(k: u64) -> (u64, u64) {
    ((k + 1) * MARK_EVERY, 40 + 20 * (k % 8))
}

/// `web_probe markers OUT SECONDS`: raw s16le 48 kHz stereo with the bursts.
fn markers(out: &str, secs: u64) -> Result<(), String> {
    let frames = secs * RATE;
    let mut pcm = Vec::with_capacity(frames as usize * 4);
    let mut seed: u32 = 1;
    let (mut k, mut next) = (0, mark(0));
    for f in 0..frames {
        if f >= next.0 + next.1 * RATE / 1000 {
            k += 1;
            next = mark(k);
        }
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 16) as i32 % 61 - 30;
        let s = if f >= next.0 {
            let t = (f - next.0) as f64 / RATE as f64;
            (0.8 * 32767.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16
        } else {
            noise as i16
        };
        pcm.extend_from_slice(&s.to_le_bytes());
        pcm.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(out, pcm).map_err(|e| format!("{out}: {e}"))
}

/// The page's player of a mount, which `MOUNT_JS` calls.
const PLAYER_JS: &str = include_str!("../src/web/mount.js");

/// The page script: an <audio> element that the page's player plays the mount in, routed through
/// Web Audio into a worklet that passes the sound on to the output and posts each burst's first
/// frame and length; the main thread turns the frame into the wall-clock time it reaches the
/// output (getOutputTimestamp, or else the context's time plus its output and base latency).
const MOUNT_JS: &str = r#"(async () => {
  const code = `class M extends AudioWorkletProcessor {
    constructor() { super(); this.on = -1; this.last = -1e9; }
    process(inputs, outputs) {
      const inp = inputs[0], out = outputs[0];
      for (let c = 0; c < out.length && inp.length; c++) out[c].set(inp[Math.min(c, inp.length - 1)]);
      const x = inp.length ? inp[0] : null, n = x ? x.length : 128;
      for (let i = 0; i < n; i++) {
        const f = currentFrame + i;
        if (x && Math.abs(x[i]) > 0.3) {
          if (this.on < 0 && f - this.last > sampleRate / 5) this.on = f;
          this.last = f;
        } else if (this.on >= 0 && f - this.last > sampleRate / 500) {
          this.port.postMessage({ on: this.on, dur: this.last - this.on + 1 });
          this.on = -1;
        }
      }
      return true;
    }
  }
  registerProcessor('m', M);`;
  const ctx = new AudioContext({ latencyHint: 'interactive' });
  await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([code], { type: 'application/javascript' })));
  const node = new AudioWorkletNode(ctx, 'm', { outputChannelCount: [2] });
  const audio = new Audio();
  window.errors = [];
  ctx.createMediaElementSource(audio).connect(node);
  node.connect(ctx.destination);
  window.marks = [];
  node.port.onmessage = e => {
    const t = e.data.on / ctx.sampleRate, ts = ctx.getOutputTimestamp();
    const out = ts.contextTime > 0
      ? { perf: ts.performanceTime + (t - ts.contextTime) * 1000, how: 'output timestamp' }
      : { perf: performance.now() + (t - ctx.currentTime + (ctx.outputLatency || 0) + ctx.baseLatency) * 1000, how: 'latency' };
    window.marks.push({ wall: performance.timeOrigin + out.perf, ms: e.data.dur / ctx.sampleRate * 1000, how: out.how });
  };
  await ctx.resume();
  audio.addEventListener('playing', () => { window.started = performance.timeOrigin + performance.now(); }, { once: true });
  if (TYPE === 'src') {
    window.player = { how: 'plain src', jumps: 0 };
    audio.src = MOUNT;
    audio.play().catch((e) => window.errors.push(String(e)));
  } else window.player = playMount(audio, MOUNT, TYPE, (m) => window.errors.push(m));
  window.ctxInfo = { rate: ctx.sampleRate, base: ctx.baseLatency, output: ctx.outputLatency || 0 };
  return true;
})()"#;

/// `web_probe mount URL TYPE SECONDS PROFILE_DIR FRAME0_UNIX_NS`: plays the mount (of content
/// TYPE, e.g. audio/mpeg; `src`: as a plain <audio> src, without the page's player, for a
/// comparison) for SECONDS from a page of the same origin (so Web Audio may read the stream), then prints one JSON line (the latency of each burst heard after 8 s to settle) and
/// the words `n p50 p95 max how player jumps errors`.
fn mount(
    url: &str,
    content_type: &str,
    secs: u64,
    profile: &std::path::Path,
    frame0_ns: u64,
) -> Result<(), String> {
    let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    let mut b = cdp::Browser::start(profile)?;
    b.open(&format!("{origin}/status-json.xsl"))?;
    b.eval(PLAYER_JS)?;
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    b.eval(&MOUNT_JS.replace("MOUNT", &quote(url)).replace("TYPE", &quote(content_type)))?;
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        b.pump(Duration::from_millis(500));
    }
    let page =
        b.eval("JSON.stringify({ marks: window.marks, started: window.started, ctx: window.ctxInfo, how: window.player.how, jumps: window.player.jumps, errors: window.errors })")?;
    let page: serde_json::Value = serde_json::from_str(page.as_str().unwrap_or("null")).unwrap_or_default();
    let settled = page["started"].as_f64().unwrap_or(f64::MAX) + 8000.0;
    let frame0_ms = frame0_ns as f64 / 1e6;
    let mut lat: Vec<f64> = Vec::new();
    let mut unnamed = 0;
    for m in page["marks"].as_array().into_iter().flatten() {
        let (wall, ms) = (m["wall"].as_f64().unwrap_or(0.0), m["ms"].as_f64().unwrap_or(0.0));
        match heard(wall - frame0_ms, ms) {
            Some(l) if wall >= settled => lat.push(l),
            Some(_) => {}
            None => unnamed += 1,
        }
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(f64::NAN)
    };
    let how = page["marks"][0]["how"].as_str().unwrap_or("none").replace(' ', "_");
    // Icecast's status page has no favicon.ico: a 404 that says nothing about the stream.
    let mut errors: Vec<String> = b.errors.iter().filter(|e| !e.contains("/favicon.ico")).cloned().collect();
    errors.extend(page["errors"].as_array().into_iter().flatten().map(|e| e.to_string()));
    let out = serde_json::json!({ "latencies_ms": lat, "unnamed": unnamed, "page": page, "errors": errors });
    println!("{out}");
    let player = page["how"].as_str().unwrap_or("none").replace(' ', "_");
    let jumps = page["jumps"].as_u64().unwrap_or(0);
    println!(
        "{} {:.0} {:.0} {:.0} {how} {player} {jumps} {}",
        lat.len(),
        pct(0.5),
        pct(0.95),
        pct(1.0),
        errors.len()
    );
    Ok(())
}

/// The latency of a burst `ms` long heard `at_ms` after frame 0's time: from the burst whose length
/// matches (within 8 ms) and that was captured last before it, up to 16 s back; None if no length
/// matches.
fn heard(at_ms: f64, ms: f64) -> Option<f64> {
    let code = ((ms - 40.0) / 20.0).round();
    if !(0.0..8.0).contains(&code) || (ms - 40.0 - 20.0 * code).abs() > 8.0 {
        return None;
    }
    let rate_ms = RATE as f64 / 1000.0;
    (0..10_000u64)
        .filter(|k| k % 8 == code as u64)
        .map(|k| at_ms - mark(k).0 as f64 / rate_ms)
        .filter(|l| *l >= 0.0)
        .min_by(f64::total_cmp)
}
