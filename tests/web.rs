//! `vinyl-web` against the real tools: a ring written by `vinyl-preroll fill` from numbered frames
//! fed at the real rate, the built `vinyl-web` on a free port, recordings made through its API by
//! vinyl-rec's code (`vinyl-preroll tap | vinyl-flac-rec`), every endpoint spoken to over raw TCP,
//! and the page itself in Debian's headless chromium over the DevTools protocol.

mod common;

use common::cdp::Browser;
use common::proc::Proc;
use common::web::{RATE, Rig, T, TOKEN, read_sse_until};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vinyl::pcm::{PcmSpec, SampleFormat};

#[test]
fn every_reading_endpoint_answers_and_others_are_404_or_405() {
    let rig = Rig::start("web-endpoints", &[]);
    let page = rig.get("/");
    page.expect(200);
    assert!(String::from_utf8_lossy(&page.body).contains("<title>vinyl</title>"));
    assert!(page.header("content-security-policy").is_some_and(|c| c.contains("default-src 'self'")));
    assert!(page.header("content-type").is_some_and(|c| c.starts_with("text/html")));
    rig.get("/worklet.js").expect(200);
    rig.get("/mount.js").expect(200);
    let s = rig.status();
    assert_eq!(s["ring"]["present"], true, "{s}");
    assert_eq!(s["ring"]["rate"], 48_000);
    assert_eq!(s["recording"]["recording"], false);
    assert_eq!(s["turntable"]["state"], "idle");
    assert_eq!(rig.get("/recordings").expect(200).json()["recordings"], json!([]));
    // No collection yet: empty lists, and none is created by reading.
    assert_eq!(rig.get("/library").expect(200).json()["albums"], json!([]));
    assert_eq!(rig.get("/plays").expect(200).json()["plays"], json!([]));
    rig.get("/cover/1").expect(404);
    assert!(!rig.recordings().join("library.db").exists());
    rig.get("/nothing-here").expect(404);
    rig.raw(b"OPTIONS /rec/start HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n")
        .expect(405);
    rig.get("/rec/start").expect(405);
    rig.raw(b"GARBAGE\r\n\r\n").expect(400);
    // DNS rebinding: another site's name pointed at 127.0.0.1 reads nothing.
    rig.raw(b"GET /status HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n").expect(421);
    rig.raw(b"GET /status HTTP/1.1\r\nHost: localhost:8080\r\n\r\n").expect(200);
    rig.raw(b"GET /status HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").expect(200);
    let r = rig.post("/listen/report", &json!({ "frame": 1, "age": 0.0, "buffered": 0 }), None);
    r.expect(200);
}

#[test]
fn control_without_the_right_token_is_401_and_starts_nothing() {
    let rig = Rig::start("web-token", &[]);
    rig.post("/rec/start", &json!({}), None).expect(401);
    rig.post("/rec/start", &json!({}), Some("0123456789abcdef")).expect(401);
    rig.post("/rec/start", &json!({}), Some(&TOKEN[..TOKEN.len() - 1])).expect(401);
    rig.raw(
        format!(
            "POST /rec/start HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Vinyl-Token: {}x\r\nContent-Length: 0\r\n\r\n",
            TOKEN
        )
        .as_bytes(),
    )
    .expect(401);
    rig.post("/rec/stop", &json!({}), Some("wrong-token-wrong-token")).expect(401);
    rig.post("/listen/report", &json!({ "reset": true }), None).expect(401);
    assert_eq!(rig.status()["recording"]["recording"], false);
    assert!(!rig.web.stderr().contains(TOKEN), "the token is never logged");
    // With the token, what vinyl-rec refuses is refused the same way (400), before anything starts.
    for bad in [
        json!({"name": "../x"}),
        json!({"name": ".hidden"}),
        json!({"tags": ["no-equals-sign"]}),
        json!({"tags": "A=1"}),
    ] {
        let r = rig.post("/rec/start", &bad, Some(TOKEN));
        r.expect(400);
    }
    rig.raw(
        format!("POST /rec/start HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 3\r\n\r\n{{x:")
            .as_bytes(),
    )
    .expect(400);
    assert_eq!(rig.status()["recording"]["recording"], false);
    // The right token in either header works (here: nothing to stop, 409).
    rig.raw(
        format!("POST /rec/stop HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Vinyl-Token: {TOKEN}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    )
    .expect(409);
}

#[test]
fn record_then_stop_over_http_makes_a_valid_flac_that_downloads_with_ranges() {
    let rig = Rig::start("web-record", &[]);
    rig.wait_frames(RATE / 2);
    let started =
        rig.post("/rec/start", &json!({ "name": "side-a", "tags": ["TITLE=Kind of Blue"] }), Some(TOKEN));
    started.expect(200);
    let path = PathBuf::from(started.json()["path"].as_str().unwrap());
    rig.post("/rec/start", &json!({ "name": "other" }), Some(TOKEN)).expect(409);
    rig.post("/rec/start", &json!({ "name": "../x" }), Some(TOKEN)).expect(409);
    let s = rig.status();
    assert_eq!(s["recording"]["recording"], true, "{s}");
    assert_eq!(s["recording"]["name"], "side-a");
    rig.wait_frames(RATE);
    let stopped = rig.post("/rec/stop", &json!({}), Some(TOKEN));
    stopped.expect(200);
    assert!(path.is_file(), "{}", path.display());
    let start = common::flac_tag(&path, "VINYL_START_FRAME").parse::<u64>().unwrap();
    assert!(common::assert_one_timeline(&path, start).is_empty(), "no gaps");
    assert_eq!(common::flac_tag(&path, "TITLE"), "Kind of Blue");

    let list = rig.get("/recordings").expect(200).json();
    let row = &list["recordings"][0];
    assert_eq!(row["title"], "Kind of Blue", "{list}");
    let url = row["url"].as_str().unwrap().to_string();
    let file = std::fs::read(&path).unwrap();
    let whole = rig.get(&url);
    whole.expect(200);
    assert_eq!(whole.body, file);
    assert_eq!(whole.header("accept-ranges").as_deref(), Some("bytes"));
    let part =
        rig.raw(format!("GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=100-199\r\n\r\n").as_bytes());
    part.expect(206);
    assert_eq!(part.body, &file[100..200]);
    assert_eq!(part.header("content-range"), Some(format!("bytes 100-199/{}", file.len())));
    let tail =
        rig.raw(format!("GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=-10\r\n\r\n").as_bytes());
    assert_eq!(tail.expect(206).body, &file[file.len() - 10..]);
    rig.raw(
        format!("GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={}-\r\n\r\n", file.len()).as_bytes(),
    )
    .expect(416);
}

#[test]
fn downloads_never_leave_the_recordings_folder() {
    let rig = Rig::start("web-traversal", &[]);
    let secret = b"SECRET-OUTSIDE-THE-FOLDER";
    std::fs::write(rig.dir.path().join("secret.flac"), secret).unwrap();
    std::fs::create_dir(rig.recordings().join("2026-11")).unwrap();
    std::os::unix::fs::symlink(rig.dir.path().join("secret.flac"), rig.recordings().join("link.flac"))
        .unwrap();
    std::os::unix::fs::symlink("/etc", rig.recordings().join("etc")).unwrap();
    for bad in [
        "/recordings/../secret.flac",
        "/recordings/2026-11/../../secret.flac",
        "/recordings/%2e%2e/secret.flac",
        "/recordings/%2E%2E%2Fsecret.flac",
        "/recordings/..%2fsecret.flac",
        "/recordings/link.flac",
        "/recordings//etc/passwd",
        "/recordings/etc/passwd",
        "/recordings/../../../../etc/passwd",
        "/recordings/%00.flac",
        "/recordings/2026-11",
    ] {
        let r = rig.get(bad);
        assert!(r.status == 404 || r.status == 400, "{bad}: {} {}", r.status, r.head);
        assert!(!r.body.windows(secret.len()).any(|w| w == secret), "{bad} served the secret");
        assert!(!String::from_utf8_lossy(&r.body).contains("root:"), "{bad} served /etc/passwd");
    }
}

#[test]
fn oversized_requests_are_413() {
    let rig = Rig::start("web-413", &[]);
    let body = "x".repeat(1 << 20);
    let r = rig.raw(
        format!(
            "POST /rec/start HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    r.expect(413);
    rig.raw(
        format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: {}\r\n\r\n", "a".repeat(20_000)).as_bytes(),
    )
    .expect(413);
    assert_eq!(rig.status()["recording"]["recording"], false);
}

#[test]
fn a_client_that_sends_its_headers_slowly_is_closed_after_the_timeout() {
    let rig = Rig::start("web-slowloris", &["--request-timeout", "2"]);
    let mut s = TcpStream::connect(("127.0.0.1", rig.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let t0 = Instant::now();
    let closed = loop {
        // One header byte every 100 ms, never the blank line.
        if s.write_all(b"X").is_err() {
            break t0.elapsed();
        }
        let mut b = [0u8; 64];
        match s.read(&mut b) {
            Ok(0) => break t0.elapsed(),
            Ok(_) => panic!("the server answered a request it never received whole"),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            }
            Err(_) => break t0.elapsed(),
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "still open after 30 s");
    };
    assert!(closed >= Duration::from_millis(1900), "closed after {closed:?}, before the 2 s timeout");
    // Meanwhile and after, others are served.
    rig.get("/status").expect(200);
}

#[test]
fn a_full_request_budget_makes_room_by_closing_the_slowest_request() {
    // Two idle connections take both request places; past their first second, a newcomer is
    // served and the oldest idle one is closed for it, long before its request timeout.
    let rig = Rig::start("web-budget", &["--max-clients", "2", "--request-timeout", "60"]);
    let mut idle: Vec<TcpStream> =
        (0..2).map(|_| TcpStream::connect(("127.0.0.1", rig.port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(1100));
    rig.get("/status").expect(200);
    idle[0].set_read_timeout(Some(T)).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(idle[0].read(&mut b).unwrap(), 0, "the oldest idle connection was not closed");
    rig.get("/status").expect(200);
}

#[test]
fn events_feed_status_and_sse_through_appends_and_rotation() {
    let rig = Rig::start("web-events", &[]);
    rig.event(&[json!({"event":"level","frame":1,"at":1,"rms_dbfs":[-30.0,-31.0],"peak_dbfs":[-12.0,-13.0],"clipped":0})]);
    let mut sse = TcpStream::connect(("127.0.0.1", rig.port)).unwrap();
    sse.set_read_timeout(Some(T)).unwrap();
    sse.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut got = String::new();
    let mut read_until = |s: &mut TcpStream, needle: &str| read_sse_until(s, &mut got, needle);
    read_until(&mut sse, "\"event\":\"hello\"");
    rig.event(&[
        json!({"event":"side_start","frame":100,"at":2,"side":1}),
        json!({"event":"track_start","frame":200,"at":3,"side":1,"track":2}),
        json!({"event":"level","frame":300,"at":4,"rms_dbfs":[null,null],"peak_dbfs":[null,null],"clipped":0}),
        json!({"event":"mystery","frame":301,"x":[1,2]}),
    ]);
    read_until(&mut sse, "\"event\":\"mystery\"");
    read_until(&mut sse, "\"track\":2");
    let s = rig.status();
    assert_eq!(s["turntable"], json!({"state":"side","side":1,"track":2,"frame":200}), "{s}");
    assert_eq!(s["levels"]["rms_dbfs"], json!([null, null]));
    // Rotation: vinyl-up renames the file to events.1 and a new one begins.
    std::fs::rename(rig.events(), rig.dir.path().join("events.1")).unwrap();
    rig.event(&[json!({"event":"side_end","frame":400,"at":5,"side":1,"reason":"runout","rpm":33.3})]);
    read_until(&mut sse, "\"reason\":\"runout\"");
    assert_eq!(rig.status()["turntable"]["state"], "runout");
}

/// One /listen client that checks the framing and the frame numbers of what it reads.
fn listener(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.write_all(b"GET /listen HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let mut b = vec![0u8; 65536];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut b).unwrap();
            buf.extend_from_slice(&b[..n]);
        }
        let i = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        buf.drain(..i + 4);
        let (mut frames, mut skips, mut next) = (0u64, 0u64, None);
        while !stop.load(Ordering::SeqCst) {
            while buf.len() >= 16 {
                assert_eq!(&buf[..4], b"VNL1", "framing");
                let len = u32::from_le_bytes(buf[4..8].try_into().unwrap()) as usize;
                let first = u64::from_le_bytes(buf[8..16].try_into().unwrap());
                if buf.len() < 16 + len {
                    break;
                }
                if len == 0 {
                    // An empty message (no frame for 2 s: a loaded machine): it names the next.
                    assert!(next.is_none_or(|n| n == first), "an empty message at {first}, after {next:?}");
                    buf.drain(..16);
                    continue;
                }
                let payload = &buf[16..16 + len];
                assert_eq!(
                    vinyl::pcm::unique_frame_number(&payload[..4]),
                    first & 0xffff_ffff,
                    "payload of frame {first}"
                );
                if next.is_some_and(|n| n != first) {
                    skips += 1;
                }
                next = Some(first + (len / 4) as u64);
                frames += (len / 4) as u64;
                buf.drain(..16 + len);
            }
            let n = s.read(&mut b).unwrap();
            assert!(n > 0, "the stream ended");
            buf.extend_from_slice(&b[..n]);
        }
        (frames, skips)
    })
}

#[test]
fn twenty_listeners_one_stalled_cost_the_recording_and_the_ring_nothing() {
    let rig = Rig::start("web-isolation", &["--max-clients", "64"]);
    rig.wait_frames(RATE / 4);
    // The stream's live tap, as vinyl-up runs it (its output read as the encoder would).
    let mut stream = Command::new(env!("CARGO_BIN_EXE_vinyl-preroll"));
    stream.args(["tap", "--live", "--ring", rig.fill.ring.arg()]);
    let stream = Proc::spawn(stream, true);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..19).map(|_| listener(rig.port, stop.clone())).collect();
    // The stalled client: asks for the stream and never reads it.
    let mut stalled = TcpStream::connect(("127.0.0.1", rig.port)).unwrap();
    stalled.write_all(b"GET /listen HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    common::wait_until("20 listeners", T, || rig.status()["listeners"] == 20);
    let started = rig.post("/rec/start", &json!({ "name": "isolation" }), Some(TOKEN));
    let path = PathBuf::from(started.expect(200).json()["path"].as_str().unwrap());
    rig.web.wait_line("stalled for 2s: dropped");
    rig.wait_frames(RATE);
    rig.post("/rec/stop", &json!({}), Some(TOKEN)).expect(200);
    assert_eq!(rig.status()["listeners"], 19, "only the stalled client was dropped");
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        let (frames, skips) = r.join().expect("a listener failed");
        assert!(frames > RATE, "a listener got only {frames} frames");
        assert_eq!(skips, 0, "a listener skipped frames");
    }
    let start = common::flac_tag(&path, "VINYL_START_FRAME").parse::<u64>().unwrap();
    assert!(common::assert_one_timeline(&path, start).is_empty(), "the recording has every frame");
    let s = rig.status();
    assert_eq!(s["ring"]["gap_count"], 0, "the ring's writer lost nothing: {s}");
    assert!(stream.out_len() as u64 > 4 * RATE, "the stream's tap got {} bytes", stream.out_len());
    assert!(!stream.stderr().contains("skipped"), "the stream's tap skipped:\n{}", stream.stderr());
    drop(stalled);
}

/// While the capture is stopped (its writer frozen), /listen sends an empty message every 2 s
/// naming the next frame, so a client tells a running server with no audio from a stalled one;
/// a client that left meanwhile is found out by the next one and its thread ends, instead of
/// waiting for audio that may not come for hours.
#[test]
fn listen_sends_empty_messages_while_no_audio_comes_and_finds_out_a_client_that_left() {
    let rig = Rig::start("web-idle", &[]);
    let mut s = TcpStream::connect(("127.0.0.1", rig.port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"GET /listen HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut b = vec![0u8; 65536];
    let mut read = |s: &mut TcpStream, buf: &mut Vec<u8>| {
        let n = s.read(&mut b).unwrap();
        assert!(n > 0, "the stream ended");
        buf.extend_from_slice(&b[..n]);
    };
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        read(&mut s, &mut buf);
    }
    let i = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    buf.drain(..i + 4);
    common::wait_until("a listener", T, || rig.status()["listeners"] == 1);
    // Frozen once audio came: what follows is the writer's silence. An empty message before
    // (a loaded machine) is checked but not counted.
    let (mut next, mut empties, mut frozen) = (None, 0, false);
    while empties < 2 {
        if next.is_some() && !frozen {
            rig.fill.freeze(true);
            frozen = true;
        }
        while buf.len() < 16 || buf.len() < 16 + u32::from_le_bytes(buf[4..8].try_into().unwrap()) as usize {
            read(&mut s, &mut buf);
        }
        assert_eq!(&buf[..4], b"VNL1", "framing");
        let len = u32::from_le_bytes(buf[4..8].try_into().unwrap()) as usize;
        let first = u64::from_le_bytes(buf[8..16].try_into().unwrap());
        if len == 0 {
            assert!(next.is_none_or(|n| n == first), "the empty message names frame {first}, not {next:?}");
            empties += usize::from(frozen);
        } else {
            assert_eq!(empties, 0, "audio came after an empty message while the writer was frozen");
            next = Some(first + (len / 4) as u64);
        }
        buf.drain(..16 + len);
    }
    drop(s);
    common::wait_until("the client that left is found out", T, || rig.status()["listeners"] == 0);
    rig.fill.freeze(false);
    // The count drops before the thread logs why: wait for the line, do not read it at once.
    rig.web.wait_line("gone (an empty message found it out)");
}

/// The page in a real browser. Needs Debian's chromium (scripts/test installs it).
#[test]
fn the_page_in_chromium_meters_records_listens_and_logs_no_errors() {
    if !common::tier(&["chromium"]) {
        return;
    }
    assert!(
        Path::new(common::cdp::CHROMIUM).exists(),
        "{} is missing: apt-get install chromium",
        common::cdp::CHROMIUM
    );
    let rig = Rig::start("web-browser", &[]);
    // Events at 10 Hz, as vinyl-listen writes them, with levels that move.
    let stop = Arc::new(AtomicBool::new(false));
    let events = rig.events();
    let (s2, written) = (stop.clone(), rig.fill.written.clone());
    let levels = std::thread::spawn(move || {
        let mut i = 0u64;
        while !s2.load(Ordering::SeqCst) {
            let rms = -30.0 + 12.0 * ((i as f64) / 5.0).sin();
            let line = json!({"event":"level","frame":written.load(Ordering::SeqCst),"at":i,
                "rms_dbfs":[rms, rms - 2.0],"peak_dbfs":[rms + 10.0, rms + 8.0],"clipped": u64::from(i % 40 == 0)});
            let mut f = std::fs::File::options().create(true).append(true).open(&events).unwrap();
            writeln!(f, "{line}").unwrap();
            i += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let profile = rig.dir.path().join("chromium");
    let mut b = Browser::start(&profile).expect("headless chromium");
    b.open(&format!("http://127.0.0.1:{}/#token={TOKEN}", rig.port)).unwrap();
    assert_eq!(b.eval("location.hash").unwrap(), "", "the token leaves the address bar");
    assert_eq!(b.eval("localStorage.getItem('vinylToken')").unwrap(), TOKEN);

    // The meter moves with the level events.
    b.wait_for("window.vinylStats.levelEvents > 5", T).unwrap();
    let first = b.eval("document.getElementById('fill0').style.width").unwrap();
    b.wait_for(&format!("document.getElementById('fill0').style.width !== {first}"), T).unwrap();

    // The turntable's state.
    rig.event(&[
        json!({"event":"side_start","frame":1,"at":1,"side":1}),
        json!({"event":"track_start","frame":2,"at":2,"side":1,"track":3}),
    ]);
    b.wait_for("document.getElementById('turntable').textContent === 'side 1, track 3'", T).unwrap();

    // Record, then Stop: a valid recording, listed on the page.
    b.eval("document.getElementById('recName').value = 'from-the-page'").unwrap();
    b.click("recBtn").unwrap();
    b.wait_for("window.vinylStats.recording === true", T).unwrap();
    rig.wait_frames(RATE);
    b.wait_for("document.getElementById('recBtn').textContent === 'Stop'", T).unwrap();
    b.click("recBtn").unwrap();
    b.wait_for("document.getElementById('msg').textContent.startsWith('saved ')", T).unwrap();
    let mut files = Vec::new();
    vinyl::rec::list::flac_files(&rig.recordings(), &mut files);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("from-the-page.flac"));
    let start = common::flac_tag(&files[0], "VINYL_START_FRAME").parse::<u64>().unwrap();
    common::assert_one_timeline(&files[0], start);
    b.wait_for("document.querySelector('#recordings a') !== null", T).unwrap();

    // Listen: the worklet plays the live frames and the page reports its position.
    b.click("listenBtn").unwrap();
    b.wait_for("window.vinylStats.framesPlayed > 48000 && window.vinylStats.reports >= 3", T).unwrap();
    let stats = b.eval("JSON.stringify(window.vinylStats)").unwrap();
    let latency = rig.status()["latency"].clone();
    assert!(latency["p95_ms"].as_f64().is_some_and(|l| l > 0.0 && l < 2000.0), "{latency} {stats}");

    let png = b.screenshot(390, 844).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let out = common::repo_root().join("target/web-screenshot.png");
    std::fs::write(&out, &png).unwrap();
    b.pump(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    levels.join().unwrap();
    assert!(b.errors.is_empty(), "console errors: {:#?}\nstats: {stats}", b.errors);
    eprintln!("page stats: {stats}\nlatency: {latency}\nscreenshot: {}", out.display());
}

/// A page that listens while vinyl-web restarts (systemd restarting it, an upgrade) says the
/// stream ended, tries again while nothing answers, and plays on by itself once vinyl-web is back
/// on its port; Stop then stops it for good.
#[test]
fn the_page_joins_the_live_stream_again_when_vinyl_web_restarts_or_freezes() {
    if !common::tier(&["chromium"]) {
        return;
    }
    let mut rig = Rig::start("web-rejoin", &[]);
    let profile = rig.dir.path().join("chromium");
    let mut b = Browser::start(&profile).expect("headless chromium");
    b.open(&format!("http://127.0.0.1:{}/", rig.port)).unwrap();
    b.wait_for("window.vinylStats.levelEvents >= 0 && document.getElementById('listenBtn') !== null", T)
        .unwrap();
    b.click("listenBtn").unwrap();
    b.wait_for("window.vinylStats.framesPlayed > 24000", T).unwrap();
    let state = "JSON.stringify({ played: window.vinylStats.framesPlayed, ends: window.vinylStats.listenEnds, \
                 rejoins: window.vinylStats.listenRejoins, sub: document.getElementById('listenSub').textContent, \
                 e: window.vinylStats.errors })";
    rig.restart_web();
    b.wait_for("window.vinylStats.listenEnds >= 1", T).unwrap_or_else(|e| panic!("{e}: {:?}", b.eval(state)));
    let played = b.eval("window.vinylStats.framesPlayed").unwrap().as_u64().unwrap();
    b.wait_for(
        &format!(
            "window.vinylStats.listenRejoins === 1 && window.vinylStats.framesPlayed > {played} + 48000 \
             && document.getElementById('listenSub').textContent.includes('joined again')"
        ),
        T,
    )
    .unwrap_or_else(|e| panic!("{e}: {:?}\nvinyl-web:\n{}", b.eval(state), rig.web.stderr()));
    // vinyl-web freezes (SIGSTOP) with the stream open: nothing comes; after 10 s the page says
    // so and tries again, and plays on once vinyl-web runs again.
    rig.web.signal(nix::sys::signal::Signal::SIGSTOP);
    let stalled = b.wait_for(
        "window.vinylStats.listenEnds >= 2 && document.getElementById('listenSub').textContent.includes('nothing came')",
        T,
    );
    rig.web.signal(nix::sys::signal::Signal::SIGCONT);
    stalled.unwrap_or_else(|e| panic!("a frozen vinyl-web is not noticed: {e}: {:?}", b.eval(state)));
    let played = b.eval("window.vinylStats.framesPlayed").unwrap().as_u64().unwrap();
    b.wait_for(
        &format!(
            "window.vinylStats.listenRejoins === 2 && window.vinylStats.framesPlayed > {played} + 48000"
        ),
        T,
    )
    .unwrap_or_else(|e| panic!("{e}: {:?}\nvinyl-web:\n{}", b.eval(state), rig.web.stderr()));
    // The capture stops (the ring's writer frozen) while vinyl-web runs: its empty messages keep
    // the stream, the page says no audio comes rather than taking it for a stall, and plays on
    // when the capture does.
    let ends = b.eval("window.vinylStats.listenEnds").unwrap();
    rig.fill.freeze(true);
    let idle = b.wait_for(
        "window.vinylStats.listenKeepalives >= 6 && document.getElementById('listenSub').textContent.includes('no audio comes')",
        T,
    );
    rig.fill.freeze(false);
    idle.unwrap_or_else(|e| panic!("{e}: {:?}", b.eval(state)));
    assert_eq!(b.eval("window.vinylStats.listenEnds").unwrap(), ends, "no stall was taken for an end");
    let played = b.eval("window.vinylStats.framesPlayed").unwrap().as_u64().unwrap();
    b.wait_for(
        &format!(
            "window.vinylStats.framesPlayed > {played} + 48000 && !window.vinylStats.listenIdle \
             && document.getElementById('listenSub').textContent === '48000 Hz'"
        ),
        T,
    )
    .unwrap_or_else(|e| panic!("{e}: {:?}", b.eval(state)));
    // The configuration changed while vinyl-web was down: it comes back on a 24-bit ring. The
    // page does not play its frames as 16-bit ones (noise): it stops and says so, and Listen
    // plays the new stream.
    let spec24 = PcmSpec { format: SampleFormat::S24_3Le, ..PcmSpec::default() };
    let fill24 = common::web::Fill::start("web-rejoin-24", spec24, rig.dir.path());
    rig.restart_web_on(fill24.ring.arg(), &["--format", "s24_3le"]);
    let sub = "document.getElementById('listenSub').textContent";
    b.wait_for(&format!("window.vinylStats.listening === false && {sub}.includes('press Listen')"), T)
        .unwrap_or_else(|e| {
            let log = std::fs::read_to_string(rig.dir.path().join("web-rejoin-24.log")).unwrap_or_default();
            panic!("{e}: {:?}\nvinyl-web:\n{}\nfill:\n{log}", b.eval(state), rig.web.stderr())
        });
    let said = b.eval(sub).unwrap();
    let want = "the stream is now 48000 Hz s24_3le 2 ch, not 48000 Hz s16le 2 ch: press Listen to play it";
    assert_eq!(said, json!(want));
    b.eval("window.vinylStats.framesPlayed = 0; true").unwrap();
    b.click("listenBtn").unwrap();
    b.wait_for("window.vinylStats.listening === true && window.vinylStats.framesPlayed > 24000", T)
        .unwrap_or_else(|e| panic!("{e}: {:?}", b.eval(state)));
    assert_eq!(b.eval("JSON.stringify(window.vinylStats.errors)").unwrap(), "[]");
    b.click("listenBtn").unwrap();
    b.wait_for("window.vinylStats.listening === false", T).unwrap();
    // Stopped for good: vinyl-web going again costs this page no new try.
    let ends = b.eval("window.vinylStats.listenEnds").unwrap();
    rig.restart_web_on(fill24.ring.arg(), &[]);
    b.pump(Duration::from_millis(1500));
    assert_eq!(b.eval("window.vinylStats.listenEnds").unwrap(), ends);
    assert_eq!(b.eval("window.vinylStats.listening").unwrap(), json!(false));
}

/// `vinyl-up` with `VINYL_WEB=yes`: the token is created once (0600, never printed), vinyl-web serves
/// on the configured address with the components in /status, and `vinyl-down` stops it.
#[test]
fn vinyl_up_starts_vinyl_web_with_a_new_token_and_vinyl_down_stops_it() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let up = common::up::Up::start("web-up", 60);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let token_file = up.dir.path().join("cfg/web-token");
    let mut conf = std::fs::read_to_string(&up.conf).unwrap();
    conf += &format!(
        "VINYL_WEB=yes\nVINYL_WEB_LISTEN=127.0.0.1:{port}\nVINYL_WEB_TOKEN_FILE={}\n",
        token_file.display()
    );
    std::fs::write(&up.conf, conf).unwrap();
    let said = up.sh_ok(&["vinyl-up"]);
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "32 bytes as hex: {token:?}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(said.contains(&format!("http://127.0.0.1:{port}/")) && !said.contains(&token), "{said}");
    // vinyl-up checks that vinyl-web runs; it listens a moment later.
    common::wait_until("vinyl-web listening", T, || TcpStream::connect(("127.0.0.1", port)).is_ok());
    let status = common::http::get(port, "/status", "", T).unwrap();
    let status: Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(status["components"]["capture"]["running"], true, "{status}");
    assert_eq!(status["components"]["web"]["running"], true, "{status}");
    assert_eq!(status["ring"]["writer_alive"], true, "{status}");
    assert!(up.sh_ok(&["vinyl-up", "--status"]).contains("vinyl-web"));
    // A second start keeps the token.
    let pid = up.pid("web");
    up.sh_ok(&["vinyl-down"]);
    common::wait_until("vinyl-web gone", T, || !Path::new(&format!("/proc/{pid}")).exists());
    up.sh_ok(&["vinyl-up"]);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), token, "the token is created once");
    up.sh_ok(&["vinyl-down"]);
}

/// The real listener on the same ring: `vinyl-listen --output` writes the events file, and its
/// level events reach vinyl-web's /status and /events (the interface is the file of JSON lines).
#[test]
fn levels_from_the_real_vinyl_listen_reach_status_and_sse() {
    let rig = Rig::start("web-listen", &[]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vinyl-listen"));
    cmd.args(["--ring", rig.fill.ring.arg(), "--output"]).arg(rig.events());
    let listen = Proc::spawn(cmd, false);
    let mut sse = TcpStream::connect(("127.0.0.1", rig.port)).unwrap();
    sse.set_read_timeout(Some(T)).unwrap();
    sse.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut got = String::new();
    let t0 = Instant::now();
    while !got.contains("\"event\":\"level\"") {
        assert!(t0.elapsed() < T, "no level event over SSE; got:\n{got}\nvinyl-listen:\n{}", listen.stderr());
        let mut b = [0u8; 4096];
        let n = sse.read(&mut b).unwrap();
        assert!(n > 0, "SSE closed");
        got.push_str(&String::from_utf8_lossy(&b[..n]));
    }
    common::wait_until("levels in /status", T, || rig.status()["levels"]["rms_dbfs"][0].is_number());
    let s = rig.status();
    assert!(s["events"]["lines"].as_u64() > Some(0) && s["events"]["bad_lines"] == 0, "{s}");
}

#[test]
fn a_page_whose_audio_output_never_starts_says_so() {
    if !common::tier(&["chromium"]) {
        return;
    }
    let rig = Rig::start("web-no-audio", &[]);
    let profile = rig.dir.path().join("chromium");
    let mut b = Browser::start(&profile).expect("headless chromium");
    b.open(&format!("http://127.0.0.1:{}/", rig.port)).unwrap();
    // A device without an audio output: resume() never settles.
    b.eval("AudioContext.prototype.resume = function () { return new Promise(() => {}); }; true").unwrap();
    b.click("listenBtn").unwrap();
    b.wait_for("document.getElementById('listenSub').textContent.includes('no audio output')", T).unwrap();
}

/// Encodes `frames` numbered frames (frame n carries n) as the FLAC file `flac` (its folder made),
/// by way of a raw file in `scratch`.
fn numbered_flac(scratch: &Path, flac: &Path, frames: u64) {
    std::fs::create_dir_all(flac.parent().unwrap()).unwrap();
    let raw = scratch.join("side.raw");
    std::fs::write(&raw, vinyl::pcm::unique_frames(&vinyl::pcm::PcmSpec::default(), 0, frames)).unwrap();
    let mut enc = Command::new("flac");
    enc.args(["-s", "-f", "--force-raw-format", "--endian=little", "--sign=signed", "--channels=2"]);
    enc.args(["--bps=16", "--sample-rate=48000", "-o"]).arg(flac).arg(&raw);
    common::assert_success("flac", &common::run(&mut enc, T));
}

/// The collection on the page, in chromium: a side named with its cover (vinyl-library name) and
/// its play in the history; when the listener recognises the side playing, the page shows it as
/// now playing with the cover and follows its titles; a lift clears it. `/library`, `/plays` and
/// `/cover/ID` answer the same over HTTP.
#[test]
fn the_page_shows_now_playing_with_the_cover_the_collection_and_the_history() {
    if !common::tier(&["chromium", "ffmpeg", "flac"]) {
        return;
    }
    let rig = Rig::start("web-collection", &[]);
    let (rec, d) = (rig.recordings(), rig.dir.path().to_path_buf());
    // A recorded side: 3 s of numbered frames as FLAC, named with a cover.
    let month = rec.join("2026-12");
    let flac = month.join("side-20261205-100000.flac");
    numbered_flac(&d, &flac, 3 * RATE);
    let second = month.join("side-20261205-110000.flac");
    std::fs::copy(&flac, &second).unwrap();
    let png = d.join("cover.png");
    let mut ff = Command::new("ffmpeg");
    ff.args(["-v", "error", "-f", "lavfi", "-i", "testsrc=s=320x320", "-frames:v", "1"]).arg(&png);
    common::assert_success("ffmpeg (a cover)", &common::run(&mut ff, T));
    let db = rec.join("library.db");
    let mut name = Command::new(common::bin_dir().join("vinyl-library"));
    name.arg("--db").arg(&db).arg("name").arg(&flac);
    name.args(["--artist", "Frozen Bubble", "--album", "Music", "--year", "2002", "--side", "A"]);
    name.args(["--title", "One", "--title", "Two", "--cover"]).arg(&png);
    common::assert_success("vinyl-library name", &common::run(&mut name, T));
    vinyl::library::db::Library::open(&db)
        .unwrap()
        .note_play(&vinyl::library::db::PlayNote {
            side_start: 100,
            side_end: Some(200),
            started_at: Some("2026-12-05T10:00:00.000Z"),
            recording: Some(&flac),
            side: None,
            recognized: true,
        })
        .unwrap();

    let albums = rig.get("/library").expect(200).json();
    let album = &albums["albums"][0];
    assert_eq!((&album["artist"], &album["title"]), (&json!("Frozen Bubble"), &json!("Music")), "{albums}");
    let cover = album["cover"].as_str().unwrap_or_else(|| panic!("no cover: {albums}")).to_string();
    let url = &album["sides"][0]["recordings"][0]["url"];
    assert_eq!(url, "/recordings/2026-12/side-20261205-100000.flac", "{albums}");
    let img = rig.get(&cover);
    img.expect(200);
    assert!(img.body.starts_with(b"\x89PNG") && img.header("content-type").as_deref() == Some("image/png"));
    rig.get("/cover/999").expect(404);
    rig.get("/cover/../status").expect(404);
    let plays = rig.get("/plays").expect(200).json();
    assert_eq!(plays["plays"][0]["recognized"], true, "{plays}");
    assert_eq!(plays["plays"][0]["side"], "Frozen Bubble – Music, side A", "{plays}");

    // The naming form's endpoint: the token, a recording inside the folder, good fields, a cover
    // no larger than 10 MB (refused before it is read).
    let form =
        "/library/name?file=2026-12%2Fside-20261205-110000.flac&artist=Frozen%20Bubble&album=Music&side=B";
    rig.raw(format!("POST {form} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").as_bytes())
        .expect(401);
    let post = |query: &str, body: &[u8], length: usize| {
        let head = format!(
            "POST {query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {length}\r\n\r\n"
        );
        rig.raw(&[head.as_bytes(), body].concat())
    };
    post("/library/name?file=..%2F..%2Fetc%2Fpasswd&artist=A&album=B", b"", 0).expect(404);
    post("/library/name?file=2026-12%2Fside-20261205-110000.flac&artist=A&album=B&side=..%2F", b"", 0)
        .expect(400);
    post(form, b"not an image", 12).expect(400);
    post(form, b"", 10_000_001).expect(413);
    assert!(common::flac_tag(&second, "ARTIST").is_empty(), "refused namings leave the file alone");

    let profile = rig.dir.path().join("chromium");
    let mut b = Browser::start(&profile).expect("headless chromium");
    // A listener 5 h 30 ahead of UTC (no summer time) sees the play's time in its own zone.
    b.call("Emulation.setTimezoneOverride", json!({"timezoneId": "Asia/Kolkata"})).unwrap();
    b.open(&format!("http://127.0.0.1:{}/#token={TOKEN}", rig.port)).unwrap();
    let text = |id: &str| format!("document.getElementById('{id}').textContent");
    b.wait_for(&format!("{}.includes('Frozen Bubble – Music (2002)')", text("collection")), T).unwrap();
    b.wait_for(&format!("{}.includes('2026-12-05 15:30')", text("history")), T).unwrap();

    // Name side B through the form, with a cover the page uploads (a PNG drawn in the page).
    b.wait_for(
        "[...document.getElementById('nameFile').options].some(o => o.value.endsWith('110000.flac'))",
        T,
    )
    .unwrap();
    b.eval(
        "(async () => { const c = document.createElement('canvas'); c.width = 200; c.height = 100; \
         c.getContext('2d').fillRect(0, 0, 50, 50); \
         const blob = await new Promise((r) => c.toBlob(r, 'image/png')); const dt = new DataTransfer(); \
         dt.items.add(new File([blob], 'cover.png', { type: 'image/png' })); \
         document.getElementById('nameCover').files = dt.files; window.coverReady = true; })(), true",
    )
    .unwrap();
    b.wait_for("window.coverReady === true", T).unwrap();
    for (id, v) in [
        ("nameFile", "2026-12/side-20261205-110000.flac"),
        ("nameArtist", "Frozen Bubble"),
        ("nameAlbum", "Music"),
        ("nameSide", "B"),
        ("nameTitles", "Three\\nFour"),
    ] {
        b.eval(&format!("document.getElementById('{id}').value = '{v}'")).unwrap();
    }
    b.click("nameBtn").unwrap();
    b.wait_for(&format!("{}.startsWith('named ')", text("nameMsg")), T).unwrap();
    assert_eq!(common::flac_tag(&second, "VINYL_SIDE"), "B");
    assert_eq!(common::flac_tag(&second, "CHAPTER001NAME"), "Three");
    let picture =
        common::run(Command::new("metaflac").args(["--list", "--block-type=PICTURE"]).arg(&second), T);
    let picture = String::from_utf8_lossy(&picture.stdout);
    assert!(picture.contains("width: 200") && picture.contains("image/png"), "{picture}");
    let albums = rig.get("/library").expect(200).json();
    assert_eq!(albums["albums"][0]["sides"][1]["tracks"], json!(["Three", "Four"]), "{albums}");
    b.wait_for(&format!("{}.includes('recognised')", text("history")), T).unwrap();
    assert_eq!(b.eval("document.getElementById('now').hidden").unwrap(), true);
    rig.event(&[
        json!({"event":"side_start","frame":1000,"at":1000,"side":1}),
        json!({"event":"track_start","frame":1000,"at":1000,"side":1,"track":1}),
        json!({"event":"recognized","frame":1000,"at":9000,"artist":"Frozen Bubble","album":"Music","side":"A",
            "track":1,"title":"One","confidence":0.9,"speed_ratio":1.01,"offset_s":-1.0}),
    ]);
    b.wait_for(&format!("{} === 'One'", text("nowTitle")), T).unwrap();
    assert_eq!(b.eval(&text("nowSub")).unwrap(), "Frozen Bubble – Music, side A");
    b.wait_for("(() => { const i = document.getElementById('nowCover'); return !i.hidden && i.complete && i.naturalWidth === 320; })()", T)
        .unwrap();
    let status = rig.status();
    assert_eq!(status["turntable"]["now_playing"]["album"], "Music", "{status}");
    rig.event(&[json!({"event":"track_start","frame":5000,"at":5000,"side":1,"track":2,"title":"Two"})]);
    b.wait_for(&format!("{} === 'Two'", text("nowTitle")), T).unwrap();
    rig.event(&[json!({"event":"lift","frame":9000,"at":9000})]);
    b.wait_for("document.getElementById('now').hidden === true", T).unwrap();
    assert_eq!(rig.status()["turntable"]["now_playing"], Value::Null);
    b.pump(Duration::from_millis(200));
    assert!(b.errors.is_empty(), "console errors: {:#?}", b.errors);
}

/// A recording in the collection plays in the page, in chromium: its player (no fetch before Play)
/// takes the FLAC from its `/recordings/` link, its clock moves past 0.5 s with no media error, a
/// seek lands, and the collection drawn again while it plays keeps the same player playing.
#[test]
fn a_recording_in_the_collection_plays_in_the_page() {
    if !common::tier(&["chromium", "flac"]) {
        return;
    }
    let rig = Rig::start("web-player", &[]);
    let flac = rig.recordings().join("2026-12/side-20261205-100000.flac");
    numbered_flac(rig.dir.path(), &flac, 20 * RATE);
    let mut name = Command::new(common::bin_dir().join("vinyl-library"));
    name.arg("--db").arg(rig.recordings().join("library.db")).arg("name").arg(&flac);
    name.args(["--artist", "Björk", "--album", "Début", "--side", "A"]);
    common::assert_success("vinyl-library name", &common::run(&mut name, T));

    let mut b = Browser::start(&rig.dir.path().join("chromium")).expect("headless chromium");
    b.open(&format!("http://127.0.0.1:{}/", rig.port)).unwrap();
    let audio =
        "document.querySelector('#collection audio[src=\"/recordings/2026-12/side-20261205-100000.flac\"]')";
    b.wait_for(&format!("{audio} !== null"), T).unwrap();
    assert_eq!(b.eval(&format!("{audio}.preload")).unwrap(), "none");
    let state = format!(
        "JSON.stringify({{ t: {audio}.currentTime, paused: {audio}.paused, error: {audio}.error && \
         ({audio}.error.code + ' ' + {audio}.error.message), network: {audio}.networkState }})"
    );
    // play() settles once playback starts, or rejects (eval then fails with its reason).
    if let Err(e) = b.eval(&format!("{audio}.play().then(() => true)")) {
        panic!("play refused: {e}\n{}", b.eval(&state).unwrap_or_default());
    }
    let playing = |b: &mut Browser, past: f64, what: &str| {
        let cond = format!("{audio}.currentTime > {past} || {audio}.error !== null");
        b.wait_for(&cond, T)
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", b.eval(&state).unwrap_or_default()));
        let s = b.eval(&state).unwrap();
        assert!(!s.as_str().unwrap_or_default().contains("\"error\":\""), "{what}: a media error: {s}");
    };
    playing(&mut b, 0.5, "the first half second");
    // A seek (chromium asks for the bytes it needs with a Range request when they are not loaded).
    b.eval(&format!("{audio}.currentTime = 10; true")).unwrap();
    playing(&mut b, 10.3, "after a seek to 10 s");
    // The list is drawn again (as on an event): the same element, still playing.
    b.eval(&format!("window.player = {audio}; loadLibrary().then(() => true)")).unwrap();
    assert_eq!(b.eval(&format!("{audio} === window.player")).unwrap(), true);
    let t = b.eval(&format!("{audio}.currentTime")).unwrap().as_f64().unwrap();
    playing(&mut b, t + 0.3, "after the collection was drawn again");
    assert_eq!(b.eval(&format!("{audio}.paused")).unwrap(), false, "{}", b.eval(&state).unwrap());
    // For a human's look: the collection with its player, on a phone (the page laid out at the
    // phone's size first, then scrolled to the collection).
    let phone = json!({ "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true });
    b.call("Emulation.setDeviceMetricsOverride", phone).unwrap();
    b.eval("document.getElementById('collection').scrollIntoView(); true").unwrap();
    let png = b.screenshot(390, 844).unwrap();
    std::fs::write(common::repo_root().join("target/web-player.png"), png).unwrap();
    b.pump(Duration::from_millis(200));
    assert!(b.errors.is_empty(), "console errors: {:#?}", b.errors);
}

/// The health plots on the page, in chromium: a named side with a stored report (`vinyl-qa
/// --store`) offers its level and noise plots, and its album the health trend; nothing is
/// fetched before a box is opened, and opened, each renders as an image (an SVG with a size). The
/// routes answer SVG, and 404 for a plot without data, a path outside the folder or an unknown
/// plot; an open box stays open when the list is drawn again.
#[test]
fn the_health_plots_render_in_chromium() {
    if !common::tier(&["chromium"]) {
        return;
    }
    let rig = Rig::start("web-plots", &[]);
    // A name with a space and an ampersand: the plots' links escape them.
    let rel = "2026-12/side A & B.flac";
    let flac = rig.recordings().join(rel);
    std::fs::create_dir_all(flac.parent().unwrap()).unwrap();
    common::audio::play_with_clicks(&flac, 6, 0.0);
    let db = rig.recordings().join("library.db");
    let mut name = Command::new(common::bin_dir().join("vinyl-library"));
    name.arg("--db").arg(&db).arg("name").arg(&flac);
    name.args(["--artist", "Worn <&>", "--album", "Record", "--side", "A"]);
    common::assert_success("vinyl-library name", &common::run(&mut name, T));
    let mut qa = Command::new(common::bin_dir().join("vinyl-qa"));
    qa.arg("--db").arg(&db).arg("--store").arg(&flac);
    common::assert_success("vinyl-qa --store", &common::run(&mut qa, T));

    let library = common::http::get(rig.port, "/library", "", T).unwrap();
    let library: Value = serde_json::from_slice(&library.body).unwrap();
    let album = &library["albums"][0];
    let file = "2026-12/side%20A%20%26%20B.flac";
    let want = [format!("/plot/level?file={file}"), format!("/plot/noise?file={file}")];
    assert_eq!(album["sides"][0]["recordings"][0]["plots"], json!(want), "{library}");
    let health = album["health_plot"].as_str().unwrap_or_else(|| panic!("no health plot: {library}"));
    for url in want.iter().map(String::as_str).chain([health]) {
        let r = common::http::get(rig.port, url, "", T).unwrap();
        assert_eq!(
            (r.status, r.header("content-type").as_deref()),
            (200, Some("image/svg+xml")),
            "{url}: {}",
            r.head
        );
        assert!(r.body.starts_with(b"<svg"), "{url}");
    }
    for bad in [
        format!("/plot/wow?file={file}"),
        "/plot/level?file=..%2F..%2Fetc%2Fpasswd".to_string(),
        "/plot/level".to_string(),
        format!("/plot/bogus?file={file}"),
        "/plot/health?album=99".to_string(),
    ] {
        assert_eq!(common::http::get(rig.port, &bad, "", T).unwrap().status, 404, "{bad}");
    }

    let mut b = Browser::start(&rig.dir.path().join("chromium")).expect("headless chromium");
    b.open(&format!("http://127.0.0.1:{}/", rig.port)).unwrap();
    b.wait_for("document.querySelectorAll('#collection details.plots').length === 2", T).unwrap();
    assert_eq!(b.eval("document.querySelectorAll('#collection details.plots img').length").unwrap(), 0);
    b.eval("document.querySelectorAll('#collection details.plots').forEach((d) => { d.open = true; }); true")
        .unwrap();
    let rendered = "(() => { const i = [...document.querySelectorAll('#collection details.plots img')]; \
                    return i.length === 3 && i.every((x) => x.complete && x.naturalWidth > 300); })()";
    b.wait_for(rendered, T).unwrap();
    // Drawn again (as on an event): the boxes are new, still open, their plots loaded again.
    b.eval("loadLibrary().then(() => true)").unwrap();
    b.wait_for(rendered, T).unwrap();
    b.eval("document.querySelector('#collection details.plots').scrollIntoView(); true").unwrap();
    let png = b.screenshot(760, 1200).unwrap();
    std::fs::write(common::repo_root().join("target/web-plots.png"), png).unwrap();
    b.pump(Duration::from_millis(200));
    assert!(b.errors.is_empty(), "console errors: {:#?}", b.errors);
}
