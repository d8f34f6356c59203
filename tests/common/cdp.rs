//! Debian's headless chromium driven over the DevTools protocol: a small synchronous WebSocket
//! client (client frames masked, text messages, fragments joined, pings answered) and the few CDP
//! calls the web tests and the bench need. Shared by `tests/web.rs` and `examples/web_probe.rs`
//! (which includes this file by path), so it uses only the standard library and serde_json.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The browser binary.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A running headless chromium and one page of it.
pub struct Browser {
    child: Child,
    ws: TcpStream,
    next_id: u64,
    /// Console errors and exceptions seen so far (one line each).
    pub errors: Vec<String>,
    /// Every console message seen so far.
    pub console: Vec<String>,
}

impl Browser {
    /// Starts chromium headless with a fresh profile in `profile` (created), and attaches to its
    /// first page with Runtime, Log and Page enabled.
    pub fn start(profile: &Path) -> Result<Browser, String> {
        std::fs::create_dir_all(profile).map_err(|e| format!("{}: {e}", profile.display()))?;
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--autoplay-policy=no-user-gesture-required",
                "--remote-debugging-port=0",
                "--window-size=390,844",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{CHROMIUM}: {e}"))?;
        let mut child = Kill(Some(child));
        let port = devtools_port(child.0.as_mut().unwrap(), profile)?;
        let ws = ws_connect(port, &page_ws(port)?)?;
        let child = child.0.take().unwrap();
        let mut b = Browser { child, ws, next_id: 0, errors: Vec::new(), console: Vec::new() };
        for m in ["Runtime.enable", "Log.enable", "Page.enable"] {
            b.call(m, json!({}))?;
        }
        Ok(b)
    }
}

/// Kills the browser when the start fails half-way.
struct Kill(Option<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The port chromium chose, from the DevToolsActivePort file of its profile.
fn devtools_port(child: &mut Child, profile: &Path) -> Result<u16, String> {
    {
        let file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok())
            {
                return Ok(port);
            }
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!("chromium exited at start: {st}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("chromium wrote no DevToolsActivePort within 60 s".into())
    }
}

impl Browser {
    /// Calls a CDP method and returns its result; events that arrive meanwhile are recorded.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        ws_send(&mut self.ws, &json!({ "id": id, "method": method, "params": params }).to_string())
            .map_err(|e| format!("{method}: send: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if Instant::now() > deadline {
                return Err(format!("{method}: no answer within 60 s"));
            }
            let msg = self.recv(Duration::from_secs(60))?;
            if msg["id"].as_u64() == Some(id) {
                if let Some(e) = msg.get("error") {
                    return Err(format!("{method}: {e}"));
                }
                return Ok(msg["result"].clone());
            }
            self.note(&msg);
        }
    }

    fn recv(&mut self, timeout: Duration) -> Result<Value, String> {
        self.ws.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        let text = ws_recv(&mut self.ws).map_err(|e| format!("devtools: receive: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("devtools: {e}: {text}"))
    }

    /// Takes in the events that have arrived (waits at most `wait`).
    pub fn pump(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            match self.recv(Duration::from_millis(50)) {
                Ok(m) => self.note(&m),
                Err(_) => break,
            }
        }
    }

    fn note(&mut self, msg: &Value) {
        let p = &msg["params"];
        match msg["method"].as_str() {
            Some("Runtime.consoleAPICalled") => {
                let text: Vec<String> = p["args"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| x["value"].as_str().map_or_else(|| x.to_string(), str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let line = format!("console.{}: {}", p["type"].as_str().unwrap_or("?"), text.join(" "));
                if p["type"] == "error" || p["type"] == "assert" {
                    self.errors.push(line.clone());
                }
                self.console.push(line);
            }
            Some("Runtime.exceptionThrown") => {
                let d = &p["exceptionDetails"];
                self.errors.push(format!(
                    "exception: {} {}",
                    d["text"].as_str().unwrap_or(""),
                    d["exception"]["description"].as_str().unwrap_or("")
                ));
            }
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => {
                let e = &p["entry"];
                self.errors.push(format!(
                    "log: {} ({})",
                    e["text"].as_str().unwrap_or(""),
                    e["url"].as_str().unwrap_or("")
                ));
            }
            _ => {}
        }
    }

    /// Opens `url` and waits for its load event.
    pub fn open(&mut self, url: &str) -> Result<(), String> {
        self.call("Page.navigate", json!({ "url": url }))?;
        self.wait_for("document.readyState === 'complete'", Duration::from_secs(30))
    }

    /// Evaluates `expr` in the page (promises awaited) and returns its value.
    pub fn eval(&mut self, expr: &str) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!("{expr}: {e}"));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Waits until `expr` is true in the page.
    pub fn wait_for(&mut self, expr: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.eval(expr)? == Value::Bool(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{expr}: not true within {timeout:?}"));
            }
            self.pump(Duration::from_millis(100));
        }
    }

    /// Clicks the middle of the element with this id, as a user's mouse would.
    pub fn click(&mut self, id: &str) -> Result<(), String> {
        let r = self.eval(&format!(
            "(() => {{ const e = document.getElementById('{id}'); e.scrollIntoView(); const r = e.getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ))?;
        let (x, y) = (r[0].as_f64().unwrap_or(0.0), r[1].as_f64().unwrap_or(0.0));
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )?;
        }
        Ok(())
    }

    /// A PNG of the page at `width`×`height` CSS pixels (a phone: 390×844), at twice the density.
    pub fn screenshot(&mut self, width: u32, height: u32) -> Result<Vec<u8>, String> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 2, "mobile": true }),
        )?;
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }))?;
        base64_decode(r["data"].as_str().unwrap_or_default())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The WebSocket path of the browser's first page target.
fn page_ws(port: u16) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = http_get(port, "/json/list").unwrap_or_default();
        if let Ok(Value::Array(targets)) = serde_json::from_str::<Value>(&list)
            && let Some(url) =
                targets.iter().find(|t| t["type"] == "page").and_then(|t| t["webSocketDebuggerUrl"].as_str())
        {
            let path = url.splitn(4, '/').nth(3).unwrap_or_default();
            return Ok(format!("/{path}"));
        }
        if Instant::now() > deadline {
            return Err(format!("no page target in /json/list: {list}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let r = super::http::get(port, path, "Connection: close\r\n", Duration::from_secs(10))?;
    Ok(String::from_utf8_lossy(&r.body).into_owned())
}

fn ws_connect(port: u16, path: &str) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).map_err(|e| format!("websocket handshake: {e}"))?;
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    if !head.starts_with("HTTP/1.1 101") {
        return Err(format!("websocket handshake refused: {head}"));
    }
    Ok(s)
}

fn ws_send(s: &mut TcpStream, text: &str) -> std::io::Result<()> {
    ws_frame(s, 0x1, text.as_bytes())
}

fn ws_frame(s: &mut TcpStream, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
    let mask = [0x5a, 0xc3, 0x17, 0x88];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65_536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&f)
}

fn ws_recv(s: &mut TcpStream) -> std::io::Result<String> {
    let mut message = Vec::new();
    loop {
        let mut h = [0u8; 2];
        s.read_exact(&mut h)?;
        let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
        let mut len = (h[1] & 0x7f) as u64;
        if len == 126 {
            let mut b = [0u8; 2];
            s.read_exact(&mut b)?;
            len = u16::from_be_bytes(b) as u64;
        } else if len == 127 {
            let mut b = [0u8; 8];
            s.read_exact(&mut b)?;
            len = u64::from_be_bytes(b);
        }
        let mut mask = [0u8; 4];
        if h[1] & 0x80 != 0 {
            s.read_exact(&mut mask)?;
        }
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload)?;
        if h[1] & 0x80 != 0 {
            payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= mask[i % 4]);
        }
        match opcode {
            0x9 => ws_frame(s, 0xA, &payload)?,
            0x8 => return Err(std::io::Error::other("devtools closed the connection")),
            0x0..=0x2 => {
                message.extend_from_slice(&payload);
                if fin {
                    return Ok(String::from_utf8_lossy(&message).into_owned());
                }
            }
            _ => {}
        }
    }
}

fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s.as_bytes().iter().filter(|&&c| c != b'=' && !c.is_ascii_whitespace()) {
        acc = (acc << 6) | val(c).ok_or("screenshot: not base64")?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}
