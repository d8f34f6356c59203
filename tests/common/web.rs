//! vinyl-web under test: a ring written by `vinyl-preroll fill` from numbered frames fed at the real
//! rate, the built `vinyl-web` on a free port, and raw-TCP requests with their answers (shared by
//! tests/web.rs and tests/web_attack.rs).

use super::proc::{Proc, Ring};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vinyl::pcm::{PcmSpec, unique_frames};

pub const RATE: u64 = 48_000;
pub const T: Duration = Duration::from_secs(60);
pub const TOKEN: &str = "5f0c1e2d3b4a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Reads the SSE stream `s` into `got` until `needle` has arrived, within [`T`].
pub fn read_sse_until(s: &mut TcpStream, got: &mut String, needle: &str) {
    let t0 = Instant::now();
    while !got.contains(needle) {
        assert!(t0.elapsed() < T, "SSE: no {needle:?} in:\n{got}");
        let mut b = [0u8; 4096];
        let n = s.read(&mut b).unwrap_or_else(|e| panic!("SSE: read: {e}; got:\n{got}"));
        assert!(n > 0, "SSE closed; got:\n{got}");
        got.push_str(&String::from_utf8_lossy(&b[..n]));
    }
}

/// A ring fed at the real rate with numbered frames, and vinyl-web serving it.
pub struct Rig {
    pub web: Proc,
    /// The ring and its writer.
    pub fill: Fill,
    pub port: u16,
    web_args: Vec<String>,
    env: Vec<(String, String)>,
    pub dir: tempfile::TempDir,
}

impl Rig {
    pub fn start(test: &str, web_args: &[&str]) -> Rig {
        Rig::start_with(test, web_args, &[])
    }

    /// As [`Rig::start`], with `env` added to vinyl-web's environment; a `--listen` in
    /// `web_args` replaces the default 127.0.0.1:0 (the requests still go to 127.0.0.1).
    pub fn start_with(test: &str, web_args: &[&str], env: &[(&str, &str)]) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        for d in ["rec", "run"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let fill = Fill::start(test, PcmSpec::default(), dir.path());
        let token = dir.path().join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let web_args: Vec<String> = web_args.iter().map(|a| a.to_string()).collect();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (web, port) = spawn_web(dir.path(), fill.ring.arg(), &web_args, &env, None);
        Rig { web, fill, port, web_args, env, dir }
    }

    /// Stops vinyl-web (SIGTERM, as systemd does) and starts it again on the same port, as a
    /// restarted service: what a page that was open meanwhile sees.
    pub fn restart_web(&mut self) {
        let ring = self.fill.ring.arg().to_string();
        self.restart_web_on(&ring, &[]);
    }

    /// [`Rig::restart_web`] on another ring (`--ring RING`) with `args` added: the configuration
    /// changed meanwhile.
    pub fn restart_web_on(&mut self, ring: &str, args: &[&str]) {
        self.web.signal(nix::sys::signal::Signal::SIGTERM);
        let status = self.web.wait_exit(T);
        assert!(status.success(), "vinyl-web on SIGTERM: {status}\n{}", self.web.stderr());
        self.web_args.extend(args.iter().map(|a| a.to_string()));
        let (web, port) = spawn_web(self.dir.path(), ring, &self.web_args, &self.env, Some(self.port));
        assert_eq!(port, self.port);
        self.web = web;
    }

    pub fn recordings(&self) -> PathBuf {
        self.dir.path().join("rec")
    }

    pub fn events(&self) -> PathBuf {
        self.dir.path().join("events")
    }

    /// Appends JSON lines to the events file, as vinyl-listen does.
    pub fn event(&self, lines: &[Value]) {
        let mut f = std::fs::File::options().create(true).append(true).open(self.events()).unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
    }

    /// Sends `raw` as it is and reads the answer.
    pub fn raw(&self, raw: &[u8]) -> Resp {
        let what = String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
        let r = super::http::exchange(self.port, raw, T).unwrap_or_else(|e| panic!("{what}: {e}"));
        let what = if r.status == 0 { format!("{what}\nvinyl-web:\n{}", self.web.stderr()) } else { what };
        Resp { status: r.status, head: r.head, body: r.body, what }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.raw(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
    }

    pub fn post(&self, path: &str, body: &Value, auth: Option<&str>) -> Resp {
        let body = body.to_string();
        let auth = auth.map(|a| format!("Authorization: Bearer {a}\r\n")).unwrap_or_default();
        self.raw(
            format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    /// vinyl-web's resident memory (KiB) and open file descriptors now.
    pub fn footprint(&self) -> (u64, usize) {
        let pid = self.web.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
        (rss, fds)
    }

    pub fn status(&self) -> Value {
        self.get("/status").json()
    }

    /// Waits until the ring's head is past `frames` more than now.
    pub fn wait_frames(&self, frames: u64) {
        let until = self.status()["ring"]["head"].as_u64().unwrap() + frames;
        super::wait_until(&format!("ring head {until}"), T, || {
            self.status()["ring"]["head"].as_u64() >= Some(until)
        });
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if self.dir.path().join("run/rec").exists() {
            let _ = self.post("/rec/stop", &json!({}), Some(TOKEN));
        }
        self.fill.stop();
        if std::thread::panicking() {
            eprintln!("vinyl-web stderr:\n{}", self.web.stderr());
            eprintln!("fill log:\n{}", std::fs::read_to_string(&self.fill.log).unwrap_or_default());
        }
    }
}

/// A ring written by `vinyl-preroll fill` from numbered frames at the real rate until dropped: a
/// rig's, or a second one beside it in another shape.
pub struct Fill {
    pub ring: Ring,
    /// Frames written so far.
    pub written: Arc<AtomicU64>,
    /// The fill's stderr.
    pub log: PathBuf,
    child: Child,
    stop: Arc<AtomicBool>,
    feeder: Option<std::thread::JoinHandle<()>>,
}

impl Fill {
    /// The ring named after `test`, of `spec`, its fill's stderr in `dir`; once the ring exists.
    pub fn start(test: &str, spec: PcmSpec, dir: &std::path::Path) -> Fill {
        let ring = Ring::new(test);
        let stop = Arc::new(AtomicBool::new(false));
        let log = dir.join(format!("{test}.fill.log"));
        let (child, feeder, written) = spawn_fill(&ring, spec, &log, stop.clone());
        super::wait_until("the ring exists", T, || ring.0.exists());
        Fill { ring, written, log, child, stop, feeder: Some(feeder) }
    }

    /// Freezes the ring's writer (SIGSTOP: the capture stops, the ring stays) or thaws it.
    pub fn freeze(&self, frozen: bool) {
        use nix::sys::signal::Signal::{SIGCONT, SIGSTOP};
        nix::sys::signal::kill(self.pid(), if frozen { SIGSTOP } else { SIGCONT })
            .expect("signal vinyl-preroll fill");
    }

    fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// Stops feeding and waits for the writer to exit (again: a no-op).
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A frozen writer would leave the feeder blocked on its pipe for ever.
        let _ = nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGCONT);
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `vinyl-preroll fill` on `ring` (its stderr to `log`), fed numbered frames of `spec` at the real
/// rate until `stop`: the process, the feeding thread and the frames written so far.
fn spawn_fill(
    ring: &Ring,
    spec: PcmSpec,
    log: &std::path::Path,
    stop: Arc<AtomicBool>,
) -> (Child, std::thread::JoinHandle<()>, Arc<AtomicU64>) {
    let mut fill = Command::new(env!("CARGO_BIN_EXE_vinyl-preroll"))
        .args(["fill", "--batch", "0s", "--ring", ring.arg(), "--format", spec.format.name()])
        .args(["--rate", &spec.rate.to_string(), "--channels", &spec.channels.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn vinyl-preroll fill");
    let written = Arc::new(AtomicU64::new(0));
    let feeder = feed(fill.stdin.take().unwrap(), spec, stop, written.clone());
    (fill, feeder, written)
}

/// vinyl-web on the rig's ring and folders, on `port` (a free one when None, or the `--listen` in
/// `web_args`), once it serves; and its port.
fn spawn_web(
    dir: &std::path::Path,
    ring: &str,
    web_args: &[String],
    env: &[(String, String)],
    port: Option<u16>,
) -> (Proc, u16) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vinyl-web"));
    if !web_args.iter().any(|a| a == "--listen") {
        cmd.args(["--listen", &format!("127.0.0.1:{}", port.unwrap_or(0))]);
    }
    cmd.args(["--ring", ring])
        .arg("--token-file")
        .arg(dir.join("token"))
        .arg("--events")
        .arg(dir.join("events"))
        .args(web_args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
        cmd.env_remove(k);
    }
    cmd.env("PATH", format!("{}:{}", super::bin_dir().display(), std::env::var("PATH").unwrap_or_default()))
        .env("VINYL_CONFIG", "/dev/null")
        .env("VINYL_RUN_DIR", dir.join("run"))
        .env("VINYL_RECORDINGS", dir.join("rec"))
        .envs(env.iter().map(|(k, v)| (k, v)));
    let web = Proc::spawn(cmd, false);
    web.wait_line("serving http://");
    let port = web
        .stderr()
        .lines()
        .find_map(|l| l.split("serving http://").nth(1))
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in: {}", web.stderr()));
    (web, port)
}

/// Writes numbered frames at the real rate, 10 ms at a time, until told to stop.
fn feed(
    mut to: std::process::ChildStdin,
    spec: PcmSpec,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut n = 0u64;
        while !stop.load(Ordering::SeqCst) {
            if to.write_all(&unique_frames(&spec, n, RATE / 100)).is_err() {
                return;
            }
            n += RATE / 100;
            written.store(n, Ordering::SeqCst);
            let due = t0 + Duration::from_micros(n * 1_000_000 / RATE);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    })
}

/// An HTTP answer.
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    pub what: String,
}

impl Resp {
    pub fn expect(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status,
            status,
            "{}\n-> {}\n{}",
            self.what,
            self.head,
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{}: not JSON ({e}): {}", self.what, String::from_utf8_lossy(&self.body))
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}
