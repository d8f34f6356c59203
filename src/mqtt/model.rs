//! What the events add up to, as the values of the bridge's topics.
//!
//! Owns the mapping from the listener's events to the state topics: the turntable's state, side,
//! track and now playing come from [`Turntable::apply`] (vinyl-web's reading of the same events,
//! reused so both show the same thing); the cover's URL and the health score from the collection
//! (looked up through [`Collection`], which the caller supplies); the levels are the louder
//! channel's RMS and peak, sent at most once per interval and only when they changed. It does not
//! send anything (the [`Outbox`] keeps the values) and never fails: a collection that cannot be
//! read leaves the cover and the score out.

use super::outbox::Outbox;
use super::topics::Topics;
use crate::events::{self, Event, Level, Line, SideReport};
use crate::turntable::Turntable;
use serde_json::json;
use std::time::{Duration, Instant};

/// What the bridge asks of the collection.
pub trait Collection {
    /// The id of the album `artist` – `album` when it has a cover.
    fn cover_id(&mut self, artist: &str, album: &str) -> Option<i64>;
}

/// The state the events add up to.
pub struct Model {
    topics: Topics,
    web_url: Option<String>,
    level_every: Duration,
    turntable: Turntable,
    cover: Option<String>,
    report: Option<SideReport>,
    score: Option<f64>,
    level_sent: Option<(Instant, String)>,
    /// Lines that were not the listener's events or had a bad field.
    pub bad_lines: u64,
}

impl Model {
    /// An empty model: idle, nothing playing.
    pub fn new(topics: Topics, web_url: Option<String>, level_every: Duration) -> Model {
        let web_url = web_url.map(|u| u.trim_end_matches('/').to_string()).filter(|u| !u.is_empty());
        Model {
            topics,
            web_url,
            level_every,
            turntable: Turntable::default(),
            cover: None,
            report: None,
            score: None,
            level_sent: None,
            bad_lines: 0,
        }
    }

    /// Takes one line of the events file; `history` for the lines already there at the start
    /// (their levels are stale and skipped).
    pub fn line(&mut self, line: &str, history: bool, lib: &mut dyn Collection, out: &mut Outbox) {
        match events::parse(line) {
            Ok(Line::Event(e)) => self.event(&e, history, lib, out),
            Ok(Line::Unknown(_)) => {}
            Err(_) => self.bad_lines += 1,
        }
    }

    fn event(&mut self, e: &Event, history: bool, lib: &mut dyn Collection, out: &mut Outbox) {
        match e {
            Event::Level(l) if !history => self.level(l, out),
            Event::Level(_) => {}
            Event::SideReport(r) => {
                self.report = Some(r.clone());
                self.publish_health(out);
            }
            e => {
                let before = self.turntable.now_playing.clone();
                self.turntable.apply(e);
                if self.turntable.now_playing != before {
                    self.cover = self.turntable.now_playing.as_ref().and_then(|n| {
                        let id = lib.cover_id(&n.artist, &n.album)?;
                        Some(format!("{}/cover/{id}", self.web_url.as_deref()?))
                    });
                }
                self.publish_turntable(out);
            }
        }
    }

    /// The state topics of the turntable.
    pub fn publish_turntable(&self, out: &mut Outbox) {
        let t = self.turntable.view();
        out.set(&self.topics.of("state"), &t.state, true);
        out.set(&self.topics.of("side"), &t.side.to_string(), true);
        out.set(&self.topics.of("track"), &t.track.to_string(), true);
        let np = t.now_playing.as_ref();
        let now = json!({
            "title": np.and_then(|n| n.title.clone()),
            "artist": np.map(|n| n.artist.clone()),
            "album": np.map(|n| n.album.clone()),
            "side": np.map(|n| n.side.clone()),
            "cover": self.cover,
        });
        out.set(&self.topics.of("now_playing"), &now.to_string(), true);
        // The image keeps the last cover rather than an empty URL, which it could not load.
        if let Some(url) = &self.cover {
            out.set(&self.topics.of("cover"), url, true);
        }
    }

    fn level(&mut self, l: &Level, out: &mut Outbox) {
        let loudest = |v: &[Option<f64>]| v.iter().flatten().copied().reduce(f64::max);
        let payload = json!({
            "rms_dbfs": loudest(&l.rms_dbfs),
            "peak_dbfs": loudest(&l.peak_dbfs),
            "clipped": l.clipped,
        })
        .to_string();
        let due = self
            .level_sent
            .as_ref()
            .is_none_or(|(at, last)| at.elapsed() >= self.level_every && *last != payload);
        if due {
            out.set(&self.topics.of("level"), &payload, false);
            self.level_sent = Some((Instant::now(), payload));
        }
    }

    /// Takes the collection's latest health score (vinyl-qa's, 0–100).
    pub fn set_score(&mut self, score: Option<f64>, out: &mut Outbox) {
        if score != self.score {
            self.score = score;
            self.publish_health(out);
        }
    }

    /// The health topic: the stored score and the last side report's figures.
    pub fn publish_health(&self, out: &mut Outbox) {
        let r = self.report.as_ref();
        let health = json!({
            "score": self.score,
            "side": r.map(|r| r.side),
            "integrated_lufs": r.and_then(|r| r.integrated_lufs),
            "true_peak_dbtp": r.and_then(|r| r.true_peak_dbtp),
            "noise_floor_dbfs": r.and_then(|r| r.noise_floor_dbfs),
            "clicks_per_min": r.and_then(|r| r.clicks_per_min),
            "clipped": r.map(|r| r.clipped),
        });
        out.set(&self.topics.of("health"), &health.to_string(), true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Lib;
    impl Collection for Lib {
        fn cover_id(&mut self, artist: &str, _: &str) -> Option<i64> {
            (artist == "Nina Simone").then_some(7)
        }
    }

    fn values(out: &mut Outbox) -> Vec<String> {
        let mut v = Vec::new();
        out.flush(&mut |t, p, _| {
            v.push(format!("{t}={p}"));
            true
        });
        v
    }

    #[test]
    fn sides_tracks_and_recognitions_become_state_topics_with_the_cover_url() {
        let mut m =
            Model::new(Topics::new("v", "ha"), Some("http://t.lan:8080/".into()), Duration::from_secs(5));
        let mut out = Outbox::default();
        for line in [
            r#"{"event":"side_start","frame":10,"at":10,"side":1}"#,
            r#"{"event":"recognized","frame":10,"at":20,"artist":"Nina Simone","album":"Pastel Blues","side":"A","track":1,"title":"Be My Husband","confidence":0.9,"speed_ratio":1.0,"offset_s":0.0}"#,
            r#"{"event":"track_start","frame":30,"at":31,"side":1,"track":2,"title":"Nobody"}"#,
        ] {
            m.line(line, false, &mut Lib, &mut out);
        }
        let v = values(&mut out);
        assert!(v.contains(&"v/state=side".to_string()), "{v:?}");
        assert!(v.contains(&"v/track=2".to_string()), "{v:?}");
        assert!(v.contains(&"v/cover=http://t.lan:8080/cover/7".to_string()), "{v:?}");
        let np = v.iter().find(|l| l.starts_with("v/now_playing=")).unwrap();
        assert!(np.contains(r#""title":"Nobody""#) && np.contains(r#""album":"Pastel Blues""#), "{np}");
    }

    #[test]
    fn levels_go_at_most_once_per_interval_and_history_levels_not_at_all() {
        let mut m = Model::new(Topics::new("v", "ha"), None, Duration::from_secs(3600));
        let mut out = Outbox::default();
        let level = |db: i32| {
            format!(
                r#"{{"event":"level","frame":1,"at":1,"rms_dbfs":[{db},-30],"peak_dbfs":[-1,null],"clipped":0}}"#
            )
        };
        m.line(&level(-20), true, &mut Lib, &mut out);
        assert!(values(&mut out).is_empty());
        m.line(&level(-20), false, &mut Lib, &mut out);
        m.line(&level(-10), false, &mut Lib, &mut out);
        assert_eq!(values(&mut out), [r#"v/level={"clipped":0,"peak_dbfs":-1.0,"rms_dbfs":-20.0}"#]);
        m.line("not json", false, &mut Lib, &mut out);
        assert_eq!(m.bad_lines, 1);
    }
}
