//! The listener's events as `vinyl-rec auto` uses them, checked: every field auto acts on must be
//! what the listener writes, or the event is not acted on.
//!
//! Owns auto's checks ([`parse`]) on top of the shared definition ([`crate::events`], which
//! already refuses a missing or mistyped field): `side` and `track` at least 1, `reason` one of
//! the listener's names ([`LISTENER_ENDS`]), `rpm` finite and positive when given. Events auto
//! does not act on (`level`, `state`, `lift`, unknown kinds) pass as [`Event::Other`]. It does not
//! decide what an event means for the side being recorded (see [`super`]) and does not log: a bad
//! event comes back as [`Bad`], which the caller counts and logs once per kind.

pub use crate::events::Bad;
use crate::events::{self, Line};

/// The listener's reasons for a side's end that auto accepts. `runout`, `lift` and `silence` are
/// the record's own ends; `gap` is a fault (a journaled gap too long to bridge).
pub const LISTENER_ENDS: [&str; 4] = ["runout", "lift", "silence", "gap"];

/// A checked event. Frames are timeline frames; sides and tracks count from 1.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The needle dropped.
    SideStart {
        /// The needle drop.
        frame: u64,
        /// The listener's side number.
        side: u64,
    },
    /// A track starts.
    TrackStart {
        /// The track's first frame.
        frame: u64,
        /// The listener's side number.
        side: u64,
        /// The track's number on the side.
        track: u64,
        /// The learned side's title here, once the side was recognised.
        title: Option<String>,
    },
    /// The side was recognised as a learned side of the collection.
    Recognized {
        /// Its needle drop.
        frame: u64,
        /// The album's artist.
        artist: String,
        /// The album's title.
        album: String,
        /// The album side: A, B…
        side: String,
        /// The learned side's track playing when it was recognised.
        track: usize,
        /// The title of the track playing, when known.
        title: Option<String>,
        /// The learned tracks on this play's timeline.
        tracks: Vec<crate::events::LearnedTrack>,
    },
    /// A side ended.
    SideEnd {
        /// Where it ended (the run-out's start, the lift).
        frame: u64,
        /// The listener's side number.
        side: u64,
        /// One of [`LISTENER_ENDS`].
        reason: &'static str,
        /// The run-out's speed, when measured.
        rpm: Option<f64>,
    },
    /// The measurements of a side.
    SideReport {
        /// The listener's side number.
        side: u64,
        /// The event.
        report: events::SideReport,
    },
    /// An event auto does not act on (passed to the hook as it is).
    Other,
}

/// Parses and checks one line of the events file.
pub fn parse(line: &str) -> Result<Event, Bad> {
    let e = match events::parse(line)? {
        Line::Event(e) => e,
        Line::Unknown(_) => return Ok(Event::Other),
    };
    let bad = |kind: &str, why: String| Bad { kind: kind.to_string(), why };
    let at_least_1 = |kind: &str, name: &str, n: u32| {
        if n >= 1 {
            Ok(n as u64)
        } else {
            Err(bad(kind, format!("{name} is {n}, not an integer of at least 1")))
        }
    };
    Ok(match e {
        events::Event::SideStart(e) => {
            Event::SideStart { frame: e.frame, side: at_least_1("side_start", "side", e.side)? }
        }
        events::Event::TrackStart(e) => Event::TrackStart {
            frame: e.frame,
            side: at_least_1("track_start", "side", e.side)?,
            track: at_least_1("track_start", "track", e.track)?,
            title: e.title,
        },
        events::Event::Recognized(r) => Event::Recognized {
            frame: r.frame,
            artist: r.artist,
            album: r.album,
            side: r.side,
            track: r.track,
            title: r.title,
            tracks: r.tracks,
        },
        events::Event::SideEnd(e) => {
            let side = at_least_1("side_end", "side", e.side)?;
            let Some(&reason) = LISTENER_ENDS.iter().find(|&&k| k == e.reason) else {
                let why = format!("reason is \"{}\", not one of {}", e.reason, LISTENER_ENDS.join(", "));
                return Err(bad("side_end", why));
            };
            if let Some(r) = e.rpm.filter(|r| !(r.is_finite() && *r > 0.0)) {
                return Err(bad("side_end", format!("rpm is {r}, not a positive number")));
            }
            Event::SideEnd { frame: e.frame, side, reason, rpm: e.rpm }
        }
        events::Event::SideReport(r) => {
            Event::SideReport { side: at_least_1("side_report", "side", r.side)?, report: r }
        }
        _ => Event::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listeners_events_are_taken_as_they_are() {
        assert_eq!(
            parse(r#"{"event":"side_start","frame":480000,"at":500000,"side":1}"#),
            Ok(Event::SideStart { frame: 480_000, side: 1 })
        );
        assert_eq!(
            parse(r#"{"event":"track_start","frame":9,"at":9,"side":2,"track":3}"#),
            Ok(Event::TrackStart { frame: 9, side: 2, track: 3, title: None })
        );
        assert_eq!(
            parse(r#"{"event":"side_end","frame":5,"at":6,"side":1,"reason":"runout","rpm":45.1}"#),
            Ok(Event::SideEnd { frame: 5, side: 1, reason: "runout", rpm: Some(45.1) })
        );
        assert_eq!(
            parse(r#"{"event":"side_end","frame":5,"at":6,"side":1,"reason":"lift"}"#),
            Ok(Event::SideEnd { frame: 5, side: 1, reason: "lift", rpm: None })
        );
        assert!(parse(r#"{"event":"level","frame":"x"}"#).is_err(), "a known event is checked");
        assert_eq!(parse(r#"{"event":"recognised","id":"9007199254740993"}"#), Ok(Event::Other));
    }

    #[test]
    fn a_bad_field_makes_the_event_bad_naming_the_field() {
        for (line, field) in [
            (r#"{"event":"side_start","frame":"NaN","at":0,"side":-1}"#, "invalid type"),
            (r#"{"event":"side_start","frame":1.5,"at":0,"side":1}"#, "invalid type"),
            (r#"{"event":"side_start","frame":-3,"at":0,"side":1}"#, "invalid value"),
            (r#"{"event":"side_start","at":0,"side":1}"#, "frame"),
            (r#"{"event":"side_start","frame":10,"at":0,"side":0}"#, "side"),
            (r#"{"event":"side_start","frame":10,"at":0,"side":"1"}"#, "invalid type"),
            (r#"{"event":"track_start","frame":10,"at":0,"side":1,"track":0}"#, "track"),
            (r#"{"event":"side_end","frame":10,"at":0,"side":1,"reason":"bored"}"#, "reason"),
            (r#"{"event":"side_end","frame":10,"at":0,"side":1}"#, "reason"),
            (r#"{"event":"side_end","frame":10,"at":0,"side":1,"reason":"runout","rpm":-45}"#, "rpm"),
            (
                r#"{"event":"side_end","frame":10,"at":0,"side":1,"reason":"runout","rpm":"45"}"#,
                "invalid type",
            ),
            (r#"{"event":"side_report","side":null}"#, "invalid type"),
        ] {
            let e = parse(line).expect_err(line);
            assert!(e.why.contains(field), "{line}: {}", e.why);
        }
        assert_eq!(parse("{not json").unwrap_err().kind, "not JSON");
    }
}
