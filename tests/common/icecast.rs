//! A private icecast2 server on 127.0.0.1 for end-to-end tests.
//!
//! Each [`Icecast`] runs its own `icecast2` process on a free port, with its own config, logs
//! and passwords in a temp dir, so tests can run in parallel. It can be stopped and started
//! again on the same port, to test reconnection.
//!
//! ```ignore
//! mod common;
//! use common::icecast::{Icecast, Options};
//!
//! let mut ice = Icecast::start();                  // waits until it accepts connections
//! let url = ice.url("/live");                      // "http://127.0.0.1:PORT/live"
//! let pw_file = ice.password_file();               // mode 0600, holds the source password
//! // … start a source with --url url --password-file pw_file …
//! let src = ice.wait_for_mount("/live", Duration::from_secs(10));   // its status-json entry
//! assert_eq!(src["server_name"], "My stream");
//! let mp3 = ice.listen("/live", 64 * 1024, Duration::from_secs(10)); // a listener's first bytes
//! ice.kill();                                      // or ice.stop() (SIGTERM, graceful)
//! ice.restart();                                   // same port, waits until it accepts again
//! ```
//!
//! Functions panic with the server's logs on failure (they are test helpers). Running as root
//! (icecast2 refuses to), the config drops privileges to `icecast2:icecast` and the temp dir is
//! made reachable for that user. Needs the Debian `icecast2` package (webroot and adminroot
//! from `/usr/share/icecast2`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Server settings a test may change; `Default` suits most.
#[derive(Clone, Debug)]
pub struct Options {
    /// `<limits><sources>`: how many sources at once (default 10).
    pub max_sources: u32,
    /// `<limits><source-timeout>` in seconds: a silent source is dropped after it (default 10).
    pub source_timeout: u32,
    /// `<limits><burst-size>` in bytes sent to a new listener at once (default 65536).
    pub burst_size: u32,
    /// A `<relay>`: this server pulls a mount of another one (default none).
    pub relay: Option<Relay>,
    /// Whether the server lets pages of other origins read its streams
    /// (`Access-Control-Allow-Origin: *`, as Debian's icecast.xml does; default yes).
    pub cors: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_sources: 10, source_timeout: 10, burst_size: 65536, relay: None, cors: true }
    }
}

/// A specific-mount relay: the server pulls `mount` from the icecast2 on 127.0.0.1:`port` as a
/// listener would, with its titles (ICY metadata), and serves it on `local_mount`, all the time
/// (not on demand).
#[derive(Clone, Debug)]
pub struct Relay {
    /// The upstream (master) server's port.
    pub port: u16,
    /// The upstream mount, e.g. `/live`.
    pub mount: String,
    /// Where this server serves it, e.g. `/live`.
    pub local_mount: String,
}

/// A running (or stopped) private icecast2.
#[derive(Debug)]
pub struct Icecast {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    source_password: String,
    admin_password: String,
    starts: u32,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().unwrap().port()
}

fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{tag}-{}-{n}-{t:x}", std::process::id())
}

impl Icecast {
    /// Starts a server with default [`Options`] and waits until it accepts connections.
    pub fn start() -> Icecast {
        Icecast::start_with(Options::default())
    }

    /// Starts a server with `options` on a free port and waits until it accepts connections.
    pub fn start_with(options: Options) -> Icecast {
        let dir = tempfile::Builder::new().prefix("vinyl-icecast-").tempdir().expect("temp dir");
        let root = nix::unistd::geteuid().is_root();
        // icecast2 runs as icecast2:icecast when started as root: let it reach the dir and write logs.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let logs = dir.path().join("log");
        std::fs::create_dir(&logs).unwrap();
        std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut ice = Icecast {
            dir,
            port: 0,
            child: None,
            source_password: unique("src"),
            admin_password: unique("adm"),
            starts: 0,
        };
        let pw = ice.password_file();
        std::fs::write(&pw, format!("{}\n", ice.source_password)).unwrap();
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Another process may take the port between our probe and icecast2's bind: try again.
        for attempt in 0.. {
            ice.port = free_port();
            ice.write_config(&options, root);
            match ice.spawn_and_wait() {
                Ok(()) => return ice,
                Err(why) if attempt < 4 => {
                    eprintln!("icecast2 on port {}: {why}; trying another port", ice.port)
                }
                Err(why) => panic!("icecast2 did not start: {why}\n{}", ice.logs()),
            }
        }
        unreachable!()
    }

    fn write_config(&self, o: &Options, root: bool) {
        let d = self.dir.path();
        let owner =
            if root { "<changeowner><user>icecast2</user><group>icecast</group></changeowner>" } else { "" };
        let xml = format!(
            r#"<icecast>
  <location>vinyl tests</location><admin>test@localhost</admin>
  <limits>
    <clients>100</clients><sources>{sources}</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>{source_timeout}</source-timeout>
    <burst-on-connect>1</burst-on-connect><burst-size>{burst}</burst-size>
  </limits>
  <authentication>
    <source-password>{src}</source-password><relay-password>{adm}</relay-password>
    <admin-user>admin</admin-user><admin-password>{adm}</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir><logdir>{logdir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
  <security><chroot>0</chroot>{owner}</security>{relay}{cors}
  <mount type="default"><charset>UTF-8</charset></mount>
</icecast>
"#,
            sources = o.max_sources,
            source_timeout = o.source_timeout,
            burst = o.burst_size,
            src = self.source_password,
            adm = self.admin_password,
            port = self.port,
            logdir = d.join("log").display(),
            cors = if o.cors {
                "\n  <http-headers><header name=\"Access-Control-Allow-Origin\" value=\"*\" /></http-headers>"
            } else {
                ""
            },
            relay = o.relay.as_ref().map_or(String::new(), |r| format!(
                "\n  <relay><server>127.0.0.1</server><port>{}</port><mount>{}</mount>\
                 <local-mount>{}</local-mount><on-demand>0</on-demand>\
                 <relay-shoutcast-metadata>1</relay-shoutcast-metadata></relay>",
                r.port, r.mount, r.local_mount
            )),
        );
        let path = d.join("icecast.xml");
        std::fs::write(&path, xml).unwrap();
        // Read as root before icecast2 drops privileges; holds passwords.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let d = self.dir.path();
        self.starts += 1;
        let out = std::fs::File::create(d.join(format!("stdout-{}.txt", self.starts))).unwrap();
        let child = Command::new("icecast2")
            .arg("-c")
            .arg(d.join("icecast.xml"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .map_err(|e| format!("spawn icecast2: {e} (is the icecast2 package installed?)"))?;
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!("icecast2 exited with {status}"));
            }
            // Ready means the stats are filled in, not just a bound port: icecast2 2.4.4
            // (Debian 12) sometimes crashes (SIGSEGV, a NULL string read in libc) on a request
            // that arrives in its first moments, while `status-json.xsl` still answers invalid
            // JSON without `server_id`; seen in about 1 start in 10 under a burst of requests,
            // never after. A server that died that way is started again by the callers.
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && let Ok((200, body)) = self.get("/status-json.xsl", None)
                && serde_json::from_slice::<serde_json::Value>(&body)
                    .is_ok_and(|v| v["icestats"]["server_id"].is_string())
            {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err("not ready (status-json.xsl with its stats) after 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The TCP port it listens on (stays the same across [`Icecast::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` followed by `mount` (which starts with `/`).
    pub fn url(&self, mount: &str) -> String {
        format!("http://127.0.0.1:{}{mount}", self.port)
    }

    /// The source password (for building a wrong one, or checking it never leaks).
    pub fn source_password(&self) -> &str {
        &self.source_password
    }

    /// The admin password (user `admin`).
    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }

    /// A mode-0600 file holding the source password and a newline.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("source-password")
    }

    /// The temp dir (config, logs, password file); put test files here too.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// Stops the server gracefully (SIGTERM) and waits until it has exited (SIGKILL after 15 s).
    pub fn stop(&mut self) {
        self.end(nix::sys::signal::Signal::SIGTERM);
    }

    /// Kills the server (SIGKILL), as a crash would, and waits for it.
    pub fn kill(&mut self) {
        self.end(nix::sys::signal::Signal::SIGKILL);
    }

    /// Freezes the server (SIGSTOP: every connection stays open, nothing is sent or read) or
    /// thaws it (SIGCONT), as a hung server or a stalled network does to its clients.
    pub fn freeze(&self, frozen: bool) {
        use nix::sys::signal::Signal::{SIGCONT, SIGSTOP};
        let child = self.child.as_ref().expect("icecast2 is running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, if frozen { SIGSTOP } else { SIGCONT }).expect("signal icecast2");
    }

    fn end(&mut self, sig: nix::sys::signal::Signal) {
        let Some(mut child) = self.child.take() else { return };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, sig);
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the server again on the same port (after [`Icecast::stop`] or [`Icecast::kill`])
    /// and returns once it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let start = Instant::now();
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                // The port may linger for a moment after a kill.
                Err(why) if start.elapsed() < Duration::from_secs(10) => {
                    eprintln!("icecast2 restart on port {}: {why}; again", self.port);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(why) => panic!("icecast2 restart on port {}: {why}\n{}", self.port, self.logs()),
            }
        }
    }

    /// The server's error and access logs and its stdout, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        let mut names: Vec<PathBuf> =
            vec![self.dir.path().join("log/error.log"), self.dir.path().join("log/access.log")];
        names.extend((1..=self.starts).map(|i| self.dir.path().join(format!("stdout-{i}.txt"))));
        for p in names {
            if let Ok(text) = std::fs::read_to_string(&p) {
                s.push_str(&format!("--- {} ---\n{text}", p.display()));
            }
        }
        s
    }

    /// GET `path` (with optional Basic credentials) and returns status code and body, within 10 s.
    pub fn get(&self, path: &str, auth: Option<(&str, &str)>) -> Result<(u16, Vec<u8>), String> {
        let auth = auth.map_or_else(String::new, |(u, p)| {
            format!(
                "Authorization: Basic {}\r\n",
                vinyl::icecast::http::base64(format!("{u}:{p}").as_bytes())
            )
        });
        let r = super::http::get(self.port, path, &auth, Duration::from_secs(10))
            .map_err(|e| format!("{path}: {e}"))?;
        if r.status == 0 {
            return Err(format!("{path}: no response head"));
        }
        Ok((r.status, r.body))
    }

    /// `status-json.xsl`'s `icestats` object.
    ///
    /// Icecast 2.4's JSON stylesheet emits invalid JSON for a moment after startup (before its
    /// stats are filled in: `{"icestats":"server_start":…`); such answers, and failed requests,
    /// are fetched again, for up to 10 s.
    pub fn status(&self) -> serde_json::Value {
        let start = Instant::now();
        loop {
            // A loaded machine can see a reset or a short answer too: those are fetched again.
            let (code, body) = match self.get("/status-json.xsl", None) {
                Ok(answer) => answer,
                Err(e) if start.elapsed() > Duration::from_secs(10) => {
                    panic!("status-json.xsl: {e}\n{}", self.logs())
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            assert_eq!(code, 200, "status-json.xsl: HTTP {code}");
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(v) => return v["icestats"].clone(),
                Err(e) if start.elapsed() > Duration::from_secs(10) => {
                    panic!("status-json.xsl: {e}: {}", String::from_utf8_lossy(&body))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// The `source` entries of the status, always as a list (Icecast gives one as an object).
    pub fn sources(&self) -> Vec<serde_json::Value> {
        match &self.status()["source"] {
            serde_json::Value::Array(a) => a.clone(),
            serde_json::Value::Null => Vec::new(),
            one => vec![one.clone()],
        }
    }

    /// The status entry of `mount` (e.g. `/live`), if a source is on it.
    pub fn mount(&self, mount: &str) -> Option<serde_json::Value> {
        let want = self.url(mount);
        self.sources().into_iter().find(|s| s["listenurl"].as_str() == Some(want.as_str()))
    }

    /// Waits until a source is on `mount` and returns its status entry.
    pub fn wait_for_mount(&self, mount: &str, timeout: Duration) -> serde_json::Value {
        let start = Instant::now();
        loop {
            if let Some(m) = self.mount(mount) {
                return m;
            }
            assert!(start.elapsed() < timeout, "no source on {mount} after {timeout:?}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `cond` holds for the status entry of `mount`, and returns that entry.
    pub fn wait_for_mount_where(
        &self,
        mount: &str,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            if let Some(m) = self.mount(mount)
                && cond(&m)
            {
                return m;
            }
            assert!(
                start.elapsed() < timeout,
                "{mount}: {what} not seen after {timeout:?}; last: {:?}\n{}",
                self.mount(mount),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until no source is on `mount` (a mount may stay listed briefly after its source left).
    pub fn wait_until_mount_gone(&self, mount: &str, timeout: Duration) {
        let start = Instant::now();
        while self.mount(mount).is_some() {
            assert!(start.elapsed() < timeout, "{mount} still listed after {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The raw bytes of the first `StreamTitle` a listener asking for ICY metadata reads on
    /// `mount` (as every player gets them: in the mount's charset), waiting up to `timeout`.
    pub fn icy_title(&self, mount: &str, timeout: Duration) -> Vec<u8> {
        self.icy_titles_until(mount, timeout, |_| true).pop().unwrap()
    }

    /// Listens to `mount` with ICY metadata and returns the titles it reads (raw bytes, in the
    /// mount's charset, empty ones skipped), in order, up to the first for which `enough` holds;
    /// panics with those seen after `timeout`. A listener joins at the start of Icecast's burst,
    /// whose metadata is that of its audio: just after a change, the title before it comes first.
    pub fn icy_titles_until(
        &self,
        mount: &str,
        timeout: Duration,
        mut enough: impl FnMut(&[u8]) -> bool,
    ) -> Vec<Vec<u8>> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(timeout)).unwrap();
        write!(s, "GET {mount} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nIcy-MetaData: 1\r\n\r\n", self.port)
            .unwrap();
        let (mut all, mut buf) = (Vec::new(), [0u8; 16384]);
        let (mut seen, mut next_block, mut metaint) = (Vec::<Vec<u8>>::new(), 0usize, 0usize);
        let start = Instant::now();
        loop {
            let show = || seen.iter().map(|t| String::from_utf8_lossy(t).into_owned()).collect::<Vec<_>>();
            assert!(
                start.elapsed() < timeout,
                "{mount}: the ICY title wanted not read within {timeout:?}; read: {:?}",
                show()
            );
            let n = s.read(&mut buf).unwrap_or(0);
            assert!(n > 0, "{mount}: the stream ended before the ICY title wanted; read: {:?}", show());
            all.extend_from_slice(&buf[..n]);
            if metaint == 0 {
                let Some(end) = find(&all, b"\r\n\r\n") else { continue };
                let head = String::from_utf8_lossy(&all[..end]).to_ascii_lowercase();
                metaint = head
                    .lines()
                    .find_map(|l| l.strip_prefix("icy-metaint:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or_else(|| panic!("{mount}: no icy-metaint in {head}"));
                next_block = end + 4 + metaint;
            }
            // Audio, a length byte (x16), the metadata; repeated.
            while all.len() > next_block {
                let meta = next_block + 1;
                let len = all[next_block] as usize * 16;
                if all.len() < meta + len {
                    break;
                }
                let block = &all[meta..meta + len];
                next_block = meta + len + metaint;
                let Some(i) = find(block, b"StreamTitle='") else { continue };
                let rest = &block[i + 13..];
                let title = rest[..find(rest, b"';").unwrap_or(rest.len())].to_vec();
                if title.is_empty() || seen.last() == Some(&title) {
                    continue;
                }
                seen.push(title);
                if enough(seen.last().unwrap()) {
                    return seen;
                }
            }
        }
    }

    /// Connects as a listener to `mount` and returns the first `bytes` bytes of audio (fewer if
    /// the stream ends), reading for at most `timeout`. Panics unless the server answers 200.
    pub fn listen(&self, mount: &str, bytes: usize, timeout: Duration) -> Vec<u8> {
        self.try_listen(mount, bytes, timeout).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Icecast::listen`] that reports a refused connection, an answer other than 200 or a
    /// failed read as an error, for a test that waits until a listener gets through.
    pub fn try_listen(&self, mount: &str, bytes: usize, timeout: Duration) -> Result<Vec<u8>, String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| format!("listener on {mount}: connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        write!(s, "GET {mount} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nIcy-MetaData: 0\r\n\r\n", self.port)
            .map_err(|e| format!("listener on {mount}: write: {e}"))?;
        let start = Instant::now();
        let mut all = Vec::new();
        let mut buf = [0u8; 16384];
        let mut body_at = None;
        while start.elapsed() < timeout {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                // A signal the test process takes (EINTR) interrupts a read; it is not the server's.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(format!("listener on {mount}: read: {e}")),
            }
            if body_at.is_none()
                && let Some(end) = find(&all, b"\r\n\r\n")
            {
                let head = String::from_utf8_lossy(&all[..end]).into_owned();
                if !(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200")) {
                    return Err(format!("listener on {mount}: {head}"));
                }
                body_at = Some(end + 4);
            }
            if let Some(at) = body_at
                && all.len() - at >= bytes
            {
                break;
            }
        }
        let at = body_at.ok_or_else(|| format!("listener on {mount}: no response within {timeout:?}"))?;
        let mut body = all.split_off(at);
        body.truncate(bytes);
        Ok(body)
    }
}

impl Drop for Icecast {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
