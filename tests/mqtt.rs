//! `vinyl-mqtt` against Debian's real mosquitto (its own config, password file and ACL on a free
//! port, tests/common/mosquitto.rs), subscribed to with mosquitto_sub: the discovery configs and
//! state topics, the recording switch (a real ring fed at the real rate, recordings through
//! vinyl-rec's code, as tests/web.rs), a broker restart, the last will, a wrong password, a bad
//! prefix, and a dead broker.

mod common;

use common::mosquitto::{BRIDGE, GUEST, HA, Mosquitto, Sub};
use common::proc::Proc;
use common::web::{RATE, Rig, TOKEN};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn have_mosquitto() -> bool {
    common::tier(&["mosquitto", "mosquitto_sub", "mosquitto_pub", "mosquitto_passwd"])
}

/// vinyl-mqtt with a clean environment: its run folder and recordings in `dir`, `events` followed.
fn bridge_cmd(dir: &Path, events: &Path, url: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vinyl-mqtt"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
        cmd.env_remove(k);
    }
    for d in ["run", "rec"] {
        let _ = std::fs::create_dir(dir.join(d));
    }
    cmd.arg("--events")
        .arg(events)
        .env("PATH", format!("{}:{}", common::bin_dir().display(), std::env::var("PATH").unwrap_or_default()))
        .env("VINYL_CONFIG", "/dev/null")
        .env("VINYL_RUN_DIR", dir.join("run"))
        .env("VINYL_RECORDINGS", dir.join("rec"))
        .env("VINYL_MQTT_URL", url)
        .envs(env.iter().copied());
    cmd
}

/// The bridge logged in as [`BRIDGE`] to `m`.
fn bridge(m: &Mosquitto, dir: &Path, events: &Path, extra: &[&str]) -> Proc {
    let pw = m.password_file("bridge.pw", BRIDGE.1);
    let mut cmd = bridge_cmd(dir, events, &m.url(), &[("VINYL_MQTT_USERNAME", BRIDGE.0)]);
    cmd.arg("--password-file").arg(pw).args(extra);
    let p = Proc::spawn(cmd, false);
    p.wait_line("connected");
    p
}

fn append(events: &Path, lines: &[Value]) {
    let mut f = std::fs::File::options().create(true).append(true).open(events).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// A subscriber to `topics` that joined once `topic` was `payload` (seen by a first one): what it
/// got first came from the broker's retained store.
fn late_subscriber(m: &Mosquitto, topics: &[&str], topic: &str, payload: &str) -> Sub {
    m.subscribe(HA, topics).wait_for(topic, payload);
    let sub = m.subscribe(HA, topics);
    sub.wait_for(topic, payload);
    sub
}

fn json_of(sub: &Sub, topic: &str) -> Value {
    let (_, payload) = sub.last(topic).unwrap_or_else(|| panic!("no {topic}: {:?}", sub.lines()));
    serde_json::from_str(&payload).unwrap_or_else(|e| panic!("{topic}: {e}: {payload}"))
}

#[test]
fn discovery_configs_availability_and_the_state_follow_the_events() {
    if !have_mosquitto() {
        return;
    }
    let m = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    let notify = common::Notify::bind();
    let pw = m.password_file("bridge.pw", BRIDGE.1);
    let mut cmd = bridge_cmd(dir.path(), &events, &m.url(), &[("VINYL_MQTT_USERNAME", BRIDGE.0)]);
    cmd.arg("--password-file").arg(pw).args(["--web-url", "http://turntable.lan:8080"]);
    cmd.env("NOTIFY_SOCKET", &notify.path).env("WATCHDOG_USEC", "400000");
    let b = Proc::spawn(cmd, false);
    notify.wait_for("READY=1 then WATCHDOG=1", T, |m| {
        m.iter().position(|x| x == "READY=1") < m.iter().rposition(|x| x == "WATCHDOG=1")
    });
    let sub = late_subscriber(&m, &["homeassistant/#", "vinyl/#"], "vinyl/recording", "OFF");
    sub.wait_until("9 configs", |s| s.lines().iter().filter(|l| l.contains(" homeassistant/")).count() == 9);
    let configs: Vec<String> = sub.lines().into_iter().filter(|l| l.contains("homeassistant/")).collect();
    assert_eq!(configs.len(), 9, "{configs:?}");
    for line in &configs {
        let (retain, rest) = line.split_once(' ').unwrap();
        let (topic, payload) = rest.split_once(' ').unwrap();
        assert_eq!(retain, "1", "{topic} is retained");
        let v: Value = serde_json::from_str(payload).unwrap_or_else(|e| panic!("{topic}: {e}"));
        assert!(v["unique_id"].is_string() && v["name"].is_string(), "{topic}: {v}");
        assert_eq!(v["availability_topic"], "vinyl/availability");
        assert_eq!(v["device"]["identifiers"][0], "vinyl_vinyl", "{topic}");
        assert!(v["state_topic"].is_string() || v["url_topic"].is_string(), "{topic}: {v}");
        // The entity id Home Assistant gives it (sensor.vinyl_state), under both keys it has read.
        let parts: Vec<&str> = topic.split('/').collect();
        let (component, object) = (parts[1], parts[3]);
        assert_eq!(v["default_entity_id"], format!("{component}.vinyl_{object}"), "{topic}: {v}");
        assert_eq!(v["object_id"], format!("vinyl_{object}"), "{topic}: {v}");
    }
    let switch = json_of(&sub, "homeassistant/switch/vinyl/recording/config");
    assert_eq!(switch["command_topic"], "vinyl/recording/set");
    assert_eq!(sub.last("vinyl/availability"), Some((true, "online".into())));
    append(
        &events,
        &[
            json!({"event": "side_start", "frame": 480_000, "at": 490_000, "side": 1}),
            json!({"event": "state", "frame": 500_000, "at": 500_000, "state": "playing", "side": 1, "track": 1}),
            json!({"event": "recognized", "frame": 480_000, "at": 600_000, "artist": "Nina Simone", "album": "Pastel Blues",
               "side": "A", "track": 1, "title": "Be My Husband", "confidence": 0.9, "speed_ratio": 1.0, "offset_s": 1.5}),
            json!({"event": "track_start", "frame": 700_000, "at": 701_000, "side": 1, "track": 2, "title": "Nobody Knows You"}),
            json!({"event": "level", "frame": 700_000, "at": 701_000, "rms_dbfs": [-18.5, -17.0], "peak_dbfs": [-3.0, null], "clipped": 0}),
        ],
    );
    sub.wait_for("vinyl/track", "2");
    sub.wait_until("now playing", |s| {
        s.last("vinyl/now_playing").is_some_and(|(_, p)| p.contains("Nobody Knows You"))
    });
    assert_eq!(sub.last("vinyl/state").unwrap().1, "side");
    assert_eq!(sub.last("vinyl/side").unwrap().1, "1");
    let np = json_of(&sub, "vinyl/now_playing");
    assert_eq!(
        (np["artist"].as_str(), np["album"].as_str()),
        (Some("Nina Simone"), Some("Pastel Blues")),
        "{np}"
    );
    sub.wait_until("a level", |s| s.last("vinyl/level").is_some());
    assert_eq!(json_of(&sub, "vinyl/level")["rms_dbfs"], -17.0);
    append(
        &events,
        &[json!({"event": "side_end", "frame": 900_000, "at": 901_000, "side": 1, "reason": "lift"})],
    );
    sub.wait_for("vinyl/state", "idle");
    b.signal(Signal::SIGTERM);
    sub.wait_for("vinyl/availability", "offline");
    let (status, report) = b.exit_report(T);
    assert_eq!(status.code(), Some(0), "{report}");
    assert!(!report.contains(BRIDGE.1), "the password is never printed:\n{report}");
}

/// The collection behind the entities: an album named with a cover (vinyl-library name) gives
/// the cover's URL on vinyl-web when the listener recognises it, and the latest health report
/// stored for a side gives the health score.
#[test]
fn the_collection_gives_the_cover_url_and_the_health_score() {
    if !have_mosquitto() || !common::tier(&["ffmpeg", "flac"]) {
        return;
    }
    let m = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (d, events) = (dir.path(), dir.path().join("events"));
    let flac = d.join("side.flac");
    let raw = d.join("side.raw");
    std::fs::write(&raw, vinyl::pcm::unique_frames(&vinyl::pcm::PcmSpec::default(), 0, RATE)).unwrap();
    let mut enc = Command::new("flac");
    enc.args(["-s", "-f", "--force-raw-format", "--endian=little", "--sign=signed", "--channels=2"]);
    enc.args(["--bps=16", "--sample-rate=48000", "-o"]).arg(&flac).arg(&raw);
    common::assert_success("flac", &common::run(&mut enc, T));
    let png = d.join("cover.png");
    let mut ff = Command::new("ffmpeg");
    ff.args(["-v", "error", "-f", "lavfi", "-i", "testsrc=s=64x64", "-frames:v", "1"]).arg(&png);
    common::assert_success("ffmpeg (a cover)", &common::run(&mut ff, T));
    let db = d.join("library.db");
    let mut name = Command::new(common::bin_dir().join("vinyl-library"));
    name.arg("--db").arg(&db).arg("name").arg(&flac);
    name.args(["--artist", "Frozen Bubble", "--album", "Music", "--side", "A", "--cover"]).arg(&png);
    common::assert_success("vinyl-library name", &common::run(&mut name, T));
    let mut lib = vinyl::library::db::Library::open(&db).unwrap();
    lib.store_report(&flac, r#"{"health": 87, "clicks_per_min": 1.5}"#).unwrap();
    let id = lib.albums().unwrap()[0].id;
    drop(lib);
    let pw = m.password_file("bridge.pw", BRIDGE.1);
    let db_text = db.display().to_string();
    let env = [("VINYL_MQTT_USERNAME", BRIDGE.0), ("VINYL_LIBRARY", db_text.as_str())];
    let mut cmd = bridge_cmd(d, &events, &m.url(), &env);
    cmd.arg("--password-file").arg(pw).args(["--web-url", "http://turntable.lan:8080/"]);
    let b = Proc::spawn(cmd, false);
    b.wait_line("connected");
    let sub = m.subscribe(HA, &["vinyl/#"]);
    sub.wait_until("the stored score", |s| {
        s.last("vinyl/health").is_some_and(|(_, p)| p.contains(r#""score":87"#))
    });
    append(
        &events,
        &[
            json!({"event": "side_start", "frame": 100, "at": 100, "side": 1}),
            json!({"event": "recognized", "frame": 100, "at": 200, "artist": "Frozen Bubble", "album": "Music",
               "side": "A", "track": 1, "title": "One", "confidence": 0.9, "speed_ratio": 1.0, "offset_s": 0.0}),
        ],
    );
    let url = format!("http://turntable.lan:8080/cover/{id}");
    sub.wait_for("vinyl/cover", &url);
    assert_eq!(json_of(&sub, "vinyl/now_playing")["cover"], url.as_str());
    append(
        &events,
        &[json!({"event": "side_report", "frame": 900, "at": 901, "side": 1, "start_frame": 100,
        "tracks": 1, "integrated_lufs": -14.2, "loudness_range_lu": 6.0, "true_peak_dbtp": -0.8, "peak_dbfs": -1.0,
        "clipped": 0, "noise_floor_dbfs": -61.0, "clicks_per_min": 2.5, "headroom_db": 1.0})],
    );
    sub.wait_until("the side report", |s| s.last("vinyl/health").is_some_and(|(_, p)| p.contains("-14.2")));
    assert_eq!(json_of(&sub, "vinyl/health")["score"], 87.0);
}

#[test]
fn the_switch_records_through_vinyl_rec_and_only_for_users_the_acl_lets_write() {
    if !have_mosquitto() {
        return;
    }
    let m = Mosquitto::start();
    let rig = Rig::start("mqtt-switch", &[]);
    let dir = rig.dir.path();
    let pw = m.password_file("bridge.pw", BRIDGE.1);
    let mut cmd = bridge_cmd(dir, &rig.events(), &m.url(), &[("VINYL_MQTT_USERNAME", BRIDGE.0)]);
    cmd.arg("--password-file").arg(pw).args(["--ring", rig.fill.ring.arg()]);
    let b = Proc::spawn(cmd, false);
    b.wait_line("connected");
    let sub = m.subscribe(HA, &["vinyl/recording"]);
    sub.wait_for("vinyl/recording", "OFF");
    rig.wait_frames(RATE / 2);
    // The guest may read but not write the command topic: the broker drops its ON. The OFF that
    // follows from Home Assistant's user is carried out after it, so once it is, the guest's ON
    // was not.
    assert!(m.publish(GUEST, "vinyl/recording/set", "ON").status.success());
    assert!(m.publish(HA, "vinyl/recording/set", "OFF").status.success());
    b.wait_line("recording: OFF: not recording");
    assert_eq!(rig.status()["recording"]["recording"], false, "the guest started nothing");
    assert!(m.publish(HA, "vinyl/recording/set", "ON").status.success());
    sub.wait_for("vinyl/recording", "ON");
    assert_eq!(rig.status()["recording"]["recording"], true, "vinyl-web sees vinyl-rec's recording");
    rig.wait_frames(RATE);
    assert!(m.publish(HA, "vinyl/recording/set", "OFF").status.success());
    sub.wait_for("vinyl/recording", "OFF");
    b.wait_line("recording: OFF: finished");
    let flac = flacs(&rig.recordings());
    assert_eq!(flac.len(), 1, "{flac:?}");
    let start = common::flac_tag(&flac[0], "VINYL_START_FRAME").parse::<u64>().unwrap();
    assert!(common::assert_one_timeline(&flac[0], start).is_empty(), "every frame, no gap");
    let out = common::run_ok(Command::new("flac").args(["-t", "-s"]).arg(&flac[0]), T);
    common::assert_success("flac -t", &out);
}

fn flacs(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(flacs(&p));
        } else if p.extension().is_some_and(|x| x == "flac") {
            v.push(p);
        }
    }
    v
}

#[test]
fn a_broker_restart_is_followed_by_everything_again_and_sigkill_leaves_the_last_will() {
    if !have_mosquitto() {
        return;
    }
    let mut m = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    let b = bridge(&m, dir.path(), &events, &[]);
    append(&events, &[json!({"event": "side_start", "frame": 1, "at": 2, "side": 1})]);
    let sub = m.subscribe(HA, &["vinyl/#"]);
    sub.wait_for("vinyl/side", "1");
    m.kill();
    b.wait_line("unreachable");
    // Events go on while the broker is away; many changes, one value a topic when it is back.
    for side in 2..=40 {
        append(&events, &[json!({"event": "side_start", "frame": side * 10, "at": side * 10, "side": side})]);
    }
    append(&events, &[json!({"event": "track_start", "frame": 500, "at": 501, "side": 40, "track": 3})]);
    std::thread::sleep(Duration::from_millis(500));
    m.restart();
    b.wait_lines("connected", 2);
    // The restarted broker kept nothing: all of this was published again.
    let sub = late_subscriber(&m, &["vinyl/#", "homeassistant/#"], "vinyl/track", "3");
    assert_eq!(sub.last("vinyl/side"), Some((true, "40".into())));
    assert_eq!(sub.last("vinyl/availability"), Some((true, "online".into())));
    sub.wait_until("9 discovery configs", |s| {
        s.lines().iter().filter(|l| l.starts_with("1 homeassistant/")).count() == 9
    });
    let unreachable = b.stderr().lines().filter(|l| l.contains("unreachable")).count();
    assert_eq!(unreachable, 1, "one line for the outage, not one a retry:\n{}", b.stderr());
    b.signal(Signal::SIGKILL);
    sub.wait_for("vinyl/availability", "offline");
    assert_eq!(sub.last("vinyl/availability"), Some((false, "offline".into())), "the will, as it happened");
}

#[test]
fn a_wrong_password_exits_1_naming_the_broker_and_the_user_never_the_password() {
    if !have_mosquitto() {
        return;
    }
    let m = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let wrong = "not-the-password-5e1";
    let pw = m.password_file("wrong.pw", wrong);
    let mut cmd =
        bridge_cmd(dir.path(), &dir.path().join("events"), &m.url(), &[("VINYL_MQTT_USERNAME", BRIDGE.0)]);
    cmd.arg("--password-file").arg(pw);
    let (status, report) = Proc::spawn(cmd, false).exit_report(T);
    assert_eq!(status.code(), Some(1), "{report}");
    let err = report.split("stderr:\n").nth(1).unwrap();
    let line = err.lines().last().unwrap();
    assert!(line.contains(&m.url()) && line.contains("user 'vinyl'") && line.contains("refused"), "{report}");
    assert!(!err.contains(wrong), "the password is never printed:\n{report}");
}

#[test]
fn a_prefix_with_a_wildcard_is_refused_with_status_2_naming_the_key() {
    for (prefix, what) in [("vinyl/+", "'+'"), ("home/#", "'#'"), ("$SYS/vinyl", "'$'")] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = bridge_cmd(
            dir.path(),
            &dir.path().join("events"),
            "mqtt://127.0.0.1:9",
            &[("VINYL_MQTT_PREFIX", prefix)],
        );
        let out = common::run(&mut cmd, T);
        common::assert_status(prefix, &out, 2);
        let err = common::stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("VINYL_MQTT_PREFIX") && err.contains(what), "{err}");
    }
    // NUL cannot travel in argv or the environment: the rule's own test is in src/mqtt/topics.rs.
}

/// `VmRSS` of `pid`, KiB.
fn rss_kib(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// `rounds` × 5,000 events (levels, states, side starts) appended to `events`, `each` called after
/// each round with its number.
fn pour(events: &Path, rounds: u64, mut each: impl FnMut(u64)) {
    for round in 0..rounds {
        let mut lines = Vec::new();
        for i in 0..5_000u64 {
            let n = round * 5_000 + i;
            lines.push(match n % 3 {
                0 => json!({"event": "level", "frame": n, "at": n, "rms_dbfs": [-((n % 60) as f64), -20.0], "peak_dbfs": [-1.0, -2.0], "clipped": 0}),
                1 => json!({"event": "state", "frame": n, "at": n, "state": "playing", "side": n % 7, "track": n % 11}),
                _ => json!({"event": "side_start", "frame": n, "at": n, "side": n % 5}),
            });
        }
        append(events, &lines);
        each(round);
    }
}

#[test]
fn a_stalled_broker_grows_nothing_and_gets_the_latest_state_when_it_wakes() {
    if !have_mosquitto() {
        return;
    }
    let m = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    let b = bridge(&m, dir.path(), &events, &["--level-interval", "1"]);
    let sub = m.subscribe(HA, &["vinyl/#"]);
    sub.wait_for("vinyl/recording", "OFF");
    // The broker stops reading with every connection open: the bridge's socket and queue fill.
    m.signal(Signal::SIGSTOP);
    let mut first = 0;
    pour(&events, 20, |round| {
        if round == 4 {
            std::thread::sleep(Duration::from_millis(600));
            first = rss_kib(b.pid());
        }
    });
    append(&events, &[json!({"event": "track_start", "frame": 1, "at": 1, "side": 3, "track": 9})]);
    std::thread::sleep(Duration::from_millis(1000));
    let last = rss_kib(b.pid());
    assert!(
        last < first + 4 * 1024,
        "the bridge grew from {first} KiB to {last} KiB with the broker stalled"
    );
    m.signal(Signal::SIGCONT);
    sub.wait_for("vinyl/track", "9");
    sub.wait_for("vinyl/side", "3");
    b.signal(Signal::SIGINT);
    let (status, report) = b.exit_report(T);
    assert_eq!(status.code(), Some(0), "{report}");
    assert!(report.contains("replaced before they could be sent"), "{report}");
}

#[test]
fn a_dead_broker_costs_the_ring_and_a_recording_nothing_and_the_bridge_memory_stays_bounded() {
    let rig = Rig::start("mqtt-dead", &[]);
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let mut cmd = bridge_cmd(rig.dir.path(), &rig.events(), &url, &[]);
    cmd.args(["--ring", rig.fill.ring.arg(), "--level-interval", "1"]);
    let b = Proc::spawn(cmd, false);
    b.wait_line("unreachable");
    let head0 = rig.status()["ring"]["head"].as_u64().unwrap();
    // A recording runs through it all (started as vinyl-web's page would: vinyl-rec's code).
    let started = rig.post("/rec/start", &json!({ "name": "dead-broker" }), Some(TOKEN));
    let path = PathBuf::from(started.expect(200).json()["path"].as_str().unwrap());
    let mut first = 0;
    // 20 rounds of 5,000 events (levels, states, sides): 100,000 events while nothing is sent.
    pour(&rig.events(), 20, |round| {
        if round == 4 {
            std::thread::sleep(Duration::from_millis(600));
            first = rss_kib(b.pid());
        }
    });
    std::thread::sleep(Duration::from_millis(1000));
    let last = rss_kib(b.pid());
    assert!(last < first + 4 * 1024, "the bridge grew from {first} KiB to {last} KiB with the broker dead");
    rig.wait_frames(RATE / 2);
    let s = rig.status();
    assert_eq!(s["ring"]["gap_count"], 0, "the ring's writer lost nothing: {s}");
    assert!(s["ring"]["head"].as_u64().unwrap() > head0);
    rig.post("/rec/stop", &json!({}), Some(TOKEN)).expect(200);
    let start = common::flac_tag(&path, "VINYL_START_FRAME").parse::<u64>().unwrap();
    assert!(common::assert_one_timeline(&path, start).is_empty(), "the recording has every frame");
    b.signal(Signal::SIGTERM);
    let (status, report) = b.exit_report(T);
    assert_eq!(status.code(), Some(0), "{report}");
    assert_eq!(report.matches("unreachable").count(), 1, "{report}");
}
