//! `vinyl-mqtt`: the listener's events → an MQTT broker, for Home Assistant.
//!
//! Owns the bridge's threads and its loop. The main thread follows the events file with
//! [`crate::listen::tail::Tail`] (it only reads it: the listener never waits for the bridge),
//! turns the events into the state topics ([`model`]) and keeps their latest values in the
//! [`outbox`], which it hands to rumqttc's client whenever the broker is connected; the client's
//! own queue is bounded ([`CLIENT_QUEUE`]) and the outbox holds one value a topic, so a dead or
//! stalled broker cannot grow the memory. The [`link`] thread drives the connection and
//! reconnects forever; the [`switch`] thread starts and stops recordings through vinyl-rec's
//! code. Names and discovery configs are in [`topics`], flags in [`cli`].
//!
//! How it ends: SIGTERM/SIGINT/SIGHUP → `offline` (retained) and a clean DISCONNECT when
//! connected, exit 0; the broker's last will says `offline` when the bridge dies. A broker that
//! refuses the credentials → exit 1, one line naming the broker and the user (as
//! vinyl-mp3-icecast exits 1 on a 401: retrying a wrong password fixes nothing). Usage errors (a
//! bad URL or prefix, a password without a user name) → exit 2. It never prints the password.

pub mod cli;
pub mod link;
pub mod model;
pub mod outbox;
pub mod switch;
pub mod topics;

pub use cli::Opts;

use crate::cli::UsageError;
use crate::notify::Notifier;
use crate::signals;
use crate::vlog;
use link::{Driver, Link, Switch};
use model::Model;
use outbox::Outbox;
use rumqttc::{Client, LastWill, MqttOptions, QoS};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};
use topics::{Broker, Topics};

/// The tool's name at the start of every log line.
pub const TOOL: &str = "vinyl-mqtt";

/// Requests rumqttc's client holds at most before refusing more (they stay in the outbox).
pub const CLIENT_QUEUE: usize = 64;

/// How often the events file is read.
const POLL: Duration = Duration::from_millis(200);
/// How often the recording's state is looked at (besides after each command).
const RECORDING_CHECK: Duration = Duration::from_secs(1);
/// How often the collection's file is looked at for a new health report.
const HEALTH_CHECK: Duration = Duration::from_secs(10);
/// How long a clean stop waits for `offline` and the DISCONNECT to leave.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Everything the run needs, checked.
struct Setup {
    broker: Broker,
    topics: Topics,
    user: Option<String>,
    password: Option<String>,
    events: PathBuf,
    settings: crate::rec::Settings,
}

/// Runs `vinyl-mqtt` until it is told to stop or the broker refuses the credentials.
pub fn run(opts: Opts) -> anyhow::Result<()> {
    let setup = setup(&opts)?;
    signals::install()?;
    let (client, connection) = Client::new(mqtt_options(&setup), CLIENT_QUEUE);
    let link = Arc::new(Link::default());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Switch>(1);
    let changed = Arc::new(AtomicBool::new(true));
    let driver = Driver {
        connection,
        client: client.clone(),
        link: link.clone(),
        broker: setup.broker.to_string(),
        user: setup.user.clone(),
        command_topic: setup.topics.command(),
        commands: tx,
        tool: TOOL,
    };
    signals::spawn_thread("mqtt-link", move || driver.run())?;
    let (settings, flag) = (setup.settings.clone(), changed.clone());
    signals::spawn_thread("mqtt-switch", move || switch::serve(TOOL, &settings, rx, &flag))?;
    let mut bridge = Bridge::new(&setup, &opts);
    bridge.follow(&client, &link, &changed);
    bridge.finish(&client, &link)
}

/// Checks the flags and keys, reads the password.
fn setup(o: &Opts) -> anyhow::Result<Setup> {
    let broker = topics::parse_url(&o.url)?;
    topics::check_prefix("VINYL_MQTT_PREFIX (--prefix)", &o.prefix)?;
    topics::check_prefix("VINYL_MQTT_DISCOVERY_PREFIX (--discovery-prefix)", &o.discovery_prefix)?;
    let user = o.username.clone().filter(|u| !u.is_empty());
    // An empty password file is no password: the unit's credential for an anonymous broker.
    let password = match &o.password_file {
        Some(p) => Some(crate::pcm::read_password_file(TOOL, p)?).filter(|p| !p.is_empty()),
        None => None,
    };
    if password.is_some() && user.is_none() {
        return Err(UsageError::new(
            "VINYL_MQTT_PASSWORD_FILE holds a password but VINYL_MQTT_USERNAME is not set: MQTT sends a password only with a user name",
        )
        .into());
    }
    let cfg = crate::config::Config::discover()?;
    let (settings, events) = crate::rec::Settings::for_controller(&cfg, &o.controller)?;
    Ok(Setup {
        broker,
        topics: Topics::new(&o.prefix, &o.discovery_prefix),
        user,
        password,
        events,
        settings,
    })
}

fn mqtt_options(s: &Setup) -> MqttOptions {
    let mut m = MqttOptions::new(format!("vinyl-mqtt-{}", s.topics.node), &s.broker.host, s.broker.port);
    m.set_keep_alive(Duration::from_secs(30));
    m.set_clean_session(true);
    // rumqttc's default limit is 10 KiB a packet; a long title must not turn into a reconnect loop.
    m.set_max_packet_size(256 * 1024, 256 * 1024);
    m.set_last_will(LastWill::new(s.topics.availability(), "offline", QoS::AtLeastOnce, true));
    if let Some(u) = &s.user {
        m.set_credentials(u, s.password.clone().unwrap_or_default());
    }
    m
}

/// The collection (`VINYL_LIBRARY`, else RECORDINGS/library.db), read when it exists.
struct Library(Option<PathBuf>);

impl Library {
    fn open(&self) -> Option<crate::library::db::Library> {
        let db = self.0.as_ref()?;
        db.exists().then(|| crate::library::db::Library::open(db).ok()).flatten()
    }

    /// The latest stored health score, vinyl-qa's (0–100).
    fn latest_score(&self) -> Option<f64> {
        let stored = self.open()?.reports(None).ok()?;
        stored.reports.iter().rev().find_map(|r| r.figures.health)
    }

    /// When the collection last changed (its file or its write-ahead log).
    fn changed_at(&self) -> Option<SystemTime> {
        let db = self.0.as_ref()?;
        let wal = PathBuf::from(format!("{}-wal", db.display()));
        [db, &wal].iter().filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).max()
    }
}

impl model::Collection for Library {
    fn cover_id(&mut self, artist: &str, album: &str) -> Option<i64> {
        let albums = self.open()?.albums().ok()?;
        albums.into_iter().find(|a| a.artist == artist && a.title == album && a.cover).map(|a| a.id)
    }
}

/// The main loop's state.
struct Bridge {
    topics: Topics,
    broker: String,
    events: PathBuf,
    settings: crate::rec::Settings,
    model: Model,
    library: Library,
    outbox: Outbox,
    notifier: Notifier,
    sessions: u64,
    recording: Option<bool>,
    checked_recording: Instant,
    checked_health: Instant,
    health_seen: Option<Option<SystemTime>>,
}

impl Bridge {
    fn new(s: &Setup, o: &Opts) -> Bridge {
        let mut outbox = Outbox::default();
        for (topic, config) in s.topics.discovery() {
            outbox.set(&topic, &config, true);
        }
        outbox.set(&s.topics.availability(), "online", true);
        // The rule vinyl-snapcast-meta follows too (one base for every cover handed out).
        let listen = std::env::var("VINYL_WEB_LISTEN").ok();
        let web = crate::config::web_url(o.web_url.as_deref(), listen.as_deref());
        let model = Model::new(s.topics.clone(), Some(web), Duration::from_secs(o.level_interval));
        model.publish_turntable(&mut outbox);
        model.publish_health(&mut outbox);
        Bridge {
            topics: s.topics.clone(),
            broker: s.broker.to_string(),
            events: s.events.clone(),
            settings: s.settings.clone(),
            model,
            library: Library(crate::library::default_db().ok()),
            outbox,
            notifier: Notifier::from_env(),
            sessions: 0,
            recording: None,
            checked_recording: Instant::now(),
            checked_health: Instant::now(),
            health_seen: None,
        }
    }

    /// Follows the events until a stop is asked.
    fn follow(&mut self, client: &Client, link: &Link, changed: &AtomicBool) {
        vlog!(
            TOOL,
            "{}: following; publishing to {} under {}/",
            self.events.display(),
            self.broker,
            self.topics.prefix
        );
        let mut tail = crate::listen::tail::Tail::new(&self.events);
        while !signals::stop_requested() {
            // What the file held at the start (up to 1 MiB, once) is the state to begin from.
            let mut history = Vec::new();
            let (model, outbox, library) = (&mut self.model, &mut self.outbox, &mut self.library);
            tail.poll(&mut |l| model.line(l, false, library, outbox), &mut |l| history.push(l.to_string()));
            history.iter().for_each(|l| self.model.line(l, true, &mut self.library, &mut self.outbox));
            self.notifier.ready();
            self.notifier.watchdog();
            self.check_recording(changed);
            self.check_health();
            self.send(client, link);
            std::thread::sleep(POLL);
        }
    }

    fn check_recording(&mut self, changed: &AtomicBool) {
        if !changed.swap(false, Ordering::SeqCst) && self.checked_recording.elapsed() < RECORDING_CHECK {
            return;
        }
        self.checked_recording = Instant::now();
        let now = switch::recording(&self.settings);
        if self.recording != Some(now) {
            self.recording = Some(now);
            self.outbox.set(&self.topics.of("recording"), if now { "ON" } else { "OFF" }, true);
        }
    }

    fn check_health(&mut self) {
        if self.health_seen.is_some() && self.checked_health.elapsed() < HEALTH_CHECK {
            return;
        }
        self.checked_health = Instant::now();
        let at = self.library.changed_at();
        if self.health_seen != Some(at) {
            self.health_seen = Some(at);
            self.model.set_score(self.library.latest_score(), &mut self.outbox);
        }
    }

    /// Hands the outbox to the client when connected; everything again after a new session.
    fn send(&mut self, client: &Client, link: &Link) {
        if !link.connected() {
            self.notifier.status(&format!("{}: disconnected, retrying", self.broker));
            return;
        }
        let sessions = link.sessions();
        if sessions != self.sessions {
            self.sessions = sessions;
            self.outbox.resend_all();
        }
        // A full client queue refuses the rest: they stay in the outbox, latest values only.
        self.outbox.flush(&mut |topic, payload, retain| {
            let qos = if retain { QoS::AtLeastOnce } else { QoS::AtMostOnce };
            client.try_publish(topic, qos, retain, payload.as_bytes().to_vec()).is_ok()
        });
        self.notifier.status(&format!("{}: connected", self.broker));
    }

    /// `offline` and a clean DISCONNECT when connected; the refusal's error when there was one.
    fn finish(&mut self, client: &Client, link: &Link) -> anyhow::Result<()> {
        self.notifier.stopping();
        if let Some(fatal) = link.fatal() {
            return Err(
                crate::cli::ExitStatusError { status: crate::cli::EXIT_FAILURE, message: fatal }.into()
            );
        }
        if link.connected() {
            let _ = client.try_publish(self.topics.availability(), QoS::AtLeastOnce, true, "offline");
            let _ = client.try_disconnect();
            let end = Instant::now() + STOP_GRACE;
            while !link.ended() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let sig = signals::stop_signal_name().unwrap_or("stop");
        vlog!(
            TOOL,
            "{}: {sig}: stopped ({} values sent, {} replaced before they could be sent, {} bad event lines, {} commands ignored)",
            self.broker,
            self.outbox.sent(),
            self.outbox.superseded(),
            self.model.bad_lines,
            link.commands_dropped.load(Ordering::SeqCst)
        );
        Ok(())
    }
}
