//! `vinyl-snapcast-meta`: now-playing as a Snapcast stream's metadata, through snapserver 0.26's
//! stream control interface (the pipe source's `controlscript=`), and the `source =` line that
//! makes that stream.
//!
//! Owns the JSON-RPC conversation with snapserver on stdin and stdout: `Plugin.Stream.Ready` once
//! started, an answer to each request (`Plugin.Stream.Player.GetProperties` with the properties;
//! anything else refused as not controllable), and a `Plugin.Stream.Player.Properties`
//! notification whenever what is playing changes. What is playing is the web page's reading of
//! the events ([`crate::turntable::Turntable`], fed through [`crate::listen::tail::Tail`]), so
//! the page and the speakers never disagree; the cover is a vinyl-web URL found in the collection
//! by artist and album. It does not feed audio (vinyl-preroll tap --fifo does) and does not
//! start snapserver. How it fails: never because of input (a bad event line or request is
//! skipped or refused); it ends (exit 0) when snapserver closes its stdin or stdout or on a stop
//! signal; a collection it cannot read costs only the cover, logged once.

pub mod cli;

pub use cli::Opts;

use crate::config::Config;
use crate::events::Line;
use crate::listen::tail::Tail;
use crate::log::StateLog;
use crate::turntable::{NowPlaying, Turntable};
use crate::{signals, vlog};
use serde_json::{Value, json};
use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// The tool's name in log lines.
pub const TOOL: &str = "vinyl-snapcast-meta";

/// How often the events file is read.
const POLL: Duration = Duration::from_millis(200);

/// Runs the control script, or prints the source line.
pub fn run(o: Opts) -> anyhow::Result<()> {
    let cfg = Config::discover()?;
    let settings = crate::rec::Settings::load()?;
    if o.source_line {
        println!("{}", source_line(&o.name, &settings.ring, &settings.run_dir.join("snapcast.fifo"))?);
        return Ok(());
    }
    signals::install()?;
    let events = match (&o.events, cfg.get("VINYL_EVENTS")) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p.into(),
        (None, None) => settings.run_dir.join("events"),
    };
    let web = web_url(&cfg);
    let stream = o.stream.clone().unwrap_or_else(|| o.name.clone());
    vlog!(TOOL, "stream {stream}: following {}, covers from {web}", events.display());
    let mut script = Script {
        stream,
        web,
        tail: Tail::new(&events),
        turntable: Turntable::default(),
        sent: None,
        cover: None,
        log: StateLog::new(TOOL),
    };
    let requests = read_stdin()?;
    if !send(&json!({"jsonrpc": "2.0", "method": "Plugin.Stream.Ready"})) {
        return Ok(());
    }
    script.serve(&requests);
    Ok(())
}

/// The `source =` line for snapserver.conf: the ring's own format, so they match by construction.
pub fn source_line(name: &str, ring: &std::path::Path, fifo: &std::path::Path) -> anyhow::Result<String> {
    let spec = crate::ring::RingReader::open(ring, false)?.config().spec;
    let script = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(TOOL));
    Ok(format!(
        "source = pipe://{}?name={name}&sampleformat={}:{}:{}&mode=read&controlscript={}",
        fifo.display(),
        spec.rate,
        spec.format.bits(),
        spec.channels,
        script.display()
    ))
}

/// The base of the cover URLs ([`crate::config::web_url`]).
fn web_url(cfg: &Config) -> String {
    let key = |k: &str| cfg.get(k).and_then(|u| u.into_string().ok());
    crate::config::web_url(key("VINYL_WEB_URL").as_deref(), key("VINYL_WEB_LISTEN").as_deref())
}

/// snapserver's requests, one line each, from a thread; `None` once stdin is closed.
fn read_stdin() -> anyhow::Result<Receiver<Option<String>>> {
    let (tx, rx) = channel();
    signals::spawn_thread("stdin", move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(l) = line else { break };
            if tx.send(Some(l)).is_err() {
                break;
            }
        }
        let _ = tx.send(None);
    })?;
    Ok(rx)
}

/// Writes one JSON-RPC message to snapserver; false when it is gone.
fn send(msg: &Value) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{msg}").and_then(|_| out.flush()).is_ok()
}

/// The conversation's state.
struct Script {
    stream: String,
    web: String,
    tail: Tail,
    turntable: Turntable,
    /// The properties last sent (or answered).
    sent: Option<Value>,
    /// The last album looked up (artist, album) and its cover's album number.
    cover: Option<((String, String), Option<i64>)>,
    log: StateLog,
}

impl Script {
    /// Until snapserver leaves or a stop signal: requests answered, events followed.
    fn serve(&mut self, requests: &Receiver<Option<String>>) {
        while !signals::stop_requested() {
            match requests.recv_timeout(POLL) {
                Ok(Some(line)) => {
                    if !self.answer(&line) {
                        return;
                    }
                }
                Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                    vlog!(TOOL, "stream {}: snapserver closed the control channel", self.stream);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.follow();
            let props = self.properties();
            if self.sent.as_ref() != Some(&props) {
                self.say(&props);
                let note =
                    json!({"jsonrpc": "2.0", "method": "Plugin.Stream.Player.Properties", "params": props});
                self.sent = Some(props);
                if !send(&note) {
                    return;
                }
            }
        }
    }

    /// Reads what the listener appended; the file's recent past too at the first read, so a
    /// script restarted by snapserver knows at once what is playing.
    fn follow(&mut self) {
        let tt = std::cell::RefCell::new(&mut self.turntable);
        let apply = |l: &str| {
            if let Ok(Line::Event(e)) = crate::events::parse(l) {
                tt.borrow_mut().apply(&e);
            }
        };
        self.tail.poll(&mut { apply }, &mut { apply });
    }

    /// Answers one line of snapserver's: false when the answer cannot be sent.
    fn answer(&mut self, line: &str) -> bool {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            self.log.change("request", "a line that is not JSON: skipped");
            return true;
        };
        let (Some(id), Some(method)) = (msg.get("id"), msg.get("method").and_then(Value::as_str)) else {
            return true;
        };
        let reply = match method {
            "Plugin.Stream.Player.GetProperties" => {
                self.follow();
                let props = self.properties();
                self.sent = Some(props.clone());
                json!({"jsonrpc": "2.0", "id": id, "result": props})
            }
            _ => json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "Method not found", "data": "a turntable is not remote-controlled"}}),
        };
        send(&reply)
    }

    /// The stream's properties as Snapcast reads them: nothing is controllable; the metadata is
    /// the recognised side's, empty when none.
    fn properties(&mut self) -> Value {
        let playing = matches!(self.turntable.state.as_str(), "side" | "playing" | "lead-in");
        let metadata = match self.turntable.now_playing.clone() {
            Some(now) => self.metadata(&now),
            None => json!({}),
        };
        json!({
            "playbackStatus": if playing { "playing" } else { "stopped" },
            "loopStatus": "none", "shuffle": false, "volume": 100, "rate": 1.0,
            "canGoNext": false, "canGoPrevious": false, "canPlay": false, "canPause": false,
            "canSeek": false, "canControl": false,
            "metadata": metadata,
        })
    }

    /// Snapcast's metadata keys (MPRIS's): `artist` is a list.
    fn metadata(&mut self, now: &NowPlaying) -> Value {
        let mut m = json!({"artist": [now.artist], "album": now.album});
        if let Some(t) = &now.title {
            m["title"] = json!(t);
        }
        if let Some(id) = self.cover(now) {
            m["artUrl"] = json!(format!("{}/cover/{id}", self.web));
        }
        m
    }

    /// The album's number in the collection, when it has a cover.
    fn cover(&mut self, now: &NowPlaying) -> Option<i64> {
        let key = (now.artist.clone(), now.album.clone());
        if let Some((k, id)) = &self.cover
            && *k == key
        {
            return *id;
        }
        let found = (|| -> anyhow::Result<Option<i64>> {
            let db = crate::library::default_db()?;
            if !db.exists() {
                return Ok(None);
            }
            let albums = crate::library::db::Library::open(&db)?.albums()?;
            Ok(albums
                .into_iter()
                .find(|a| a.cover && a.artist == now.artist && a.title == now.album)
                .map(|a| a.id))
        })();
        let id = found.unwrap_or_else(|e| {
            self.log.change("collection", &format!("cannot be read, so no cover: {e:#}"));
            None
        });
        self.cover = Some((key, id));
        id
    }

    /// One line per change of what is playing.
    fn say(&mut self, props: &Value) {
        let m = &props["metadata"];
        let what = match (m["artist"][0].as_str(), m["album"].as_str()) {
            (Some(artist), Some(album)) => {
                let title = m["title"].as_str().map(|t| format!(": {t}")).unwrap_or_default();
                let cover = if m["artUrl"].is_string() { ", with its cover" } else { "" };
                format!("now playing {artist} – {album}{title}{cover}")
            }
            _ => "nothing recognised playing".to_string(),
        };
        let state = format!("{} ({})", what, props["playbackStatus"].as_str().unwrap_or("?"));
        self.log.change(&format!("stream {}", self.stream), &state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> Script {
        Script {
            stream: "vinyl".into(),
            web: "http://w:8080".into(),
            tail: Tail::new(std::path::Path::new("/nonexistent/events")),
            turntable: Turntable::default(),
            sent: None,
            cover: Some((("Miles Davis".into(), "Kind of Blue".into()), Some(3))),
            log: StateLog::new(TOOL),
        }
    }

    fn event(s: &mut Script, line: &str) {
        let Ok(Line::Event(e)) = crate::events::parse(line) else { panic!("{line}") };
        s.turntable.apply(&e);
    }

    #[test]
    fn a_recognised_side_is_the_metadata_and_a_lift_clears_it() {
        let mut s = script();
        assert_eq!(s.properties()["metadata"], json!({}));
        event(&mut s, r#"{"event":"side_start","frame":100,"at":100,"side":1}"#);
        event(
            &mut s,
            r#"{"event":"recognized","frame":100,"at":200,"artist":"Miles Davis","album":"Kind of Blue","side":"A","track":1,"title":"So What","confidence":0.9,"speed_ratio":1.0,"offset_s":0.0}"#,
        );
        let p = s.properties();
        assert_eq!(
            p["metadata"],
            json!({"artist": ["Miles Davis"], "album": "Kind of Blue", "title": "So What", "artUrl": "http://w:8080/cover/3"})
        );
        assert_eq!((p["playbackStatus"].as_str(), p["canControl"].as_bool()), (Some("playing"), Some(false)));
        // The next learned track's title follows.
        event(
            &mut s,
            r#"{"event":"track_start","frame":900,"at":950,"side":1,"track":2,"title":"Freddie Freeloader"}"#,
        );
        assert_eq!(s.properties()["metadata"]["title"], json!("Freddie Freeloader"));
        event(&mut s, r#"{"event":"lift","frame":5000,"at":5000}"#);
        let p = s.properties();
        assert_eq!((p["metadata"].clone(), p["playbackStatus"].as_str()), (json!({}), Some("stopped")));
    }
}
