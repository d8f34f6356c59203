//! Headless chromium on vinyl-web's page, for scripts/bench (90-web): opens the page (URL may
//! carry `#token=…`), clicks Listen, lets it settle for 3 s, resets vinyl-web's latency reports
//! (with the token), plays for the given seconds while the page reports its position every 500 ms,
//! then prints one JSON line: the page's `window.vinylStats`, the console errors, and vinyl-web's
//! `/status` latency over the measured seconds only; and a second line of the same as words.
//!
//! `web_probe URL SECONDS PROFILE_DIR`

#[path = "../tests/common/cdp.rs"]
mod cdp;
// The tests' HTTP client, which the browser driver reads DevTools' list with.
#[path = "../tests/common/http.rs"]
#[allow(dead_code)]
mod http;

use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: web_probe URL SECONDS PROFILE_DIR");
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
