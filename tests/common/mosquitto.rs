//! A private mosquitto broker on 127.0.0.1 for end-to-end tests, and subscribers to it.
//!
//! Each [`Mosquitto`] runs Debian's `mosquitto` on a free port with its own config, password file
//! (made by `mosquitto_passwd`) and ACL in a temp dir, without persistence (a restart forgets
//! every retained message, so what arrives after one was published again). Users: [`BRIDGE`]
//! (reads and writes `vinyl/#` and `homeassistant/#`), [`HA`] (reads both, may write the switch's
//! command topic) and [`GUEST`] (reads only). A [`Sub`] is a `mosquitto_sub` whose lines (`RETAIN
//! TOPIC PAYLOAD`) the test waits on.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bridge's user and password.
pub const BRIDGE: (&str, &str) = ("vinyl", "bridge-secret-7f3a");
/// Home Assistant's.
pub const HA: (&str, &str) = ("ha", "ha-secret-91c2");
/// A user who may only read.
pub const GUEST: (&str, &str) = ("guest", "guest-secret-44d0");

/// The ACL the README documents, with these users.
pub const ACL: &str = "\
user vinyl
topic readwrite vinyl/#
topic readwrite homeassistant/#

user ha
topic read vinyl/#
topic read homeassistant/#
topic write vinyl/recording/set

user guest
topic read vinyl/#
topic read homeassistant/#
";

/// A running broker.
pub struct Mosquitto {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker on a free port and waits until it accepts connections.
    pub fn start() -> Mosquitto {
        let dir = tempfile::Builder::new().prefix("vinyl-mosquitto-").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pw = dir.path().join("passwd");
        for (i, (user, pass)) in [BRIDGE, HA, GUEST].iter().enumerate() {
            let mut c = Command::new("mosquitto_passwd");
            if i == 0 {
                c.arg("-c");
            }
            c.args(["-b"]).arg(&pw).args([user, pass]);
            super::run_ok(&mut c, Duration::from_secs(30));
        }
        std::fs::write(dir.path().join("acl"), ACL).unwrap();
        for f in ["passwd", "acl"] {
            std::fs::set_permissions(dir.path().join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let mut m = Mosquitto { dir, port: 0, child: None };
        for attempt in 0.. {
            m.port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            match m.spawn_and_wait() {
                Ok(()) => return m,
                Err(why) if attempt < 4 => eprintln!("mosquitto on {}: {why}; another port", m.port),
                Err(why) => panic!("mosquitto did not start: {why}\n{}", m.log()),
            }
        }
        unreachable!()
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let d = self.dir.path();
        let user = if nix::unistd::geteuid().is_root() { "user root\n" } else { "" };
        let conf = format!(
            "{user}listener {} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\npersistence false\n\
             log_dest file {}\nlog_type all\n",
            self.port,
            d.join("passwd").display(),
            d.join("acl").display(),
            d.join("log").display()
        );
        std::fs::write(d.join("mosquitto.conf"), conf).unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(d.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("stderr")).unwrap())
            .spawn()
            .map_err(|e| format!("spawn mosquitto: {e}"))?;
        self.child = Some(child);
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("exited with {st}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("not listening after 20 s".into())
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// A password file (mode 0600) holding `pass`.
    pub fn password_file(&self, name: &str, pass: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("{pass}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    /// Sends it `sig` (SIGSTOP: a broker that stalls with its connections open; SIGCONT).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = self.child.as_ref().expect("running").id() as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
    }

    /// SIGKILL, and waits for the exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (waits until it accepts).
    pub fn restart(&mut self) {
        self.kill();
        let t0 = std::time::Instant::now();
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(why) if t0.elapsed() < Duration::from_secs(30) => {
                    eprintln!("mosquitto restart: {why}");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(why) => panic!("mosquitto did not restart on {}: {why}\n{}", self.port, self.log()),
            }
        }
    }

    /// The broker's log and stderr.
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!("{}{}", read("log"), read("stderr"))
    }

    /// `mosquitto_pub` as `who`: publishes `payload` to `topic` once; returns its status.
    pub fn publish(&self, who: (&str, &str), topic: &str, payload: &str) -> std::process::Output {
        let mut c = Command::new("mosquitto_pub");
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-u", who.0, "-P", who.1, "-q", "1"])
            .args(["-t", topic, "-m", payload]);
        super::run(&mut c, Duration::from_secs(30))
    }

    /// A subscriber as `who` to `topics`.
    pub fn subscribe(&self, who: (&str, &str), topics: &[&str]) -> Sub {
        let mut c = Command::new("mosquitto_sub");
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-u", who.0, "-P", who.1])
            .args(["-F", "%r %t %p"]);
        for t in topics {
            c.args(["-t", t]);
        }
        let mut child = c.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn mosquitto_sub");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Sub { child, lines }
    }

    /// The broker's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("mosquitto log:\n{}", self.log());
        }
        if self.child.is_some() {
            self.signal(nix::sys::signal::Signal::SIGCONT);
        }
        self.kill();
    }
}

/// A running `mosquitto_sub`: its lines as `RETAIN TOPIC PAYLOAD` (RETAIN 1 or 0).
pub struct Sub {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Sub {
    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The last payload on `topic` so far, with its retain flag.
    pub fn last(&self, topic: &str) -> Option<(bool, String)> {
        self.lines().iter().rev().find_map(|l| {
            let (retain, rest) = l.split_once(' ')?;
            let (t, payload) = rest.split_once(' ').unwrap_or((rest, ""));
            (t == topic).then(|| (retain == "1", payload.to_string()))
        })
    }

    /// Waits until the last payload on `topic` is `payload`.
    pub fn wait_for(&self, topic: &str, payload: &str) {
        self.wait_until(&format!("{topic} = {payload}"), |s| {
            s.last(topic).is_some_and(|(_, p)| p == payload)
        });
    }

    /// Waits until `cond` holds, within 60 s; panics with the lines seen.
    pub fn wait_until(&self, what: &str, cond: impl Fn(&Sub) -> bool) {
        let t0 = std::time::Instant::now();
        while !cond(self) {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "subscriber: no {what} within 60 s; got:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
