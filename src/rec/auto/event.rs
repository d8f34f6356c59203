//! The listener's events as `vinyl-rec auto` uses them, checked: every field auto acts on must be
//! what the listener writes, or the event is not acted on.
//!
//! Owns the checks ([`parse`]): `frame` a non-negative integer, `side` and `track` at least 1,
//! `reason` one of the listener's names ([`LISTENER_ENDS`]), `rpm` finite and positive when given.
//! Events auto does not act on (`level`, `state`, unknown kinds) pass as [`Event::Other`]. It does
//! not decide what an event means for the side being recorded (see [`super`]) and does not log:
//! a bad event comes back as [`Bad`], which the caller counts and logs once per kind.

use serde_json::Value;

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
        /// The event as it came.
        report: Value,
    },
    /// An event auto does not act on (passed to the hook as it is).
    Other,
}

/// An event with a bad field: its kind (for logging once per kind) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bad {
    /// The `event` field, or `not JSON`.
    pub kind: String,
    /// What is wrong, naming the field.
    pub why: String,
}

/// Parses and checks one line of the events file.
pub fn parse(line: &str) -> Result<Event, Bad> {
    let bad = |kind: &str, why: String| Bad { kind: kind.to_string(), why };
    let v: Value = serde_json::from_str(line).map_err(|e| bad("not JSON", e.to_string()))?;
    let kind = v["event"].as_str().unwrap_or_default().to_string();
    let field = |name: &str, min: u64| -> Result<u64, Bad> {
        v[name].as_u64().filter(|&n| n >= min).ok_or_else(|| {
            let want = if min == 0 { "a non-negative integer" } else { "an integer of at least 1" };
            bad(&kind, format!("{name} is {}, not {want}", v[name]))
        })
    };
    Ok(match kind.as_str() {
        "side_start" => Event::SideStart { frame: field("frame", 0)?, side: field("side", 1)? },
        "track_start" => Event::TrackStart {
            frame: field("frame", 0)?,
            side: field("side", 1)?,
            track: field("track", 1)?,
        },
        "side_end" => {
            let (frame, side) = (field("frame", 0)?, field("side", 1)?);
            let reason = v["reason"].as_str().and_then(|r| LISTENER_ENDS.iter().find(|&&k| k == r));
            let Some(&reason) = reason else {
                return Err(bad(
                    &kind,
                    format!("reason is {}, not one of {}", v["reason"], LISTENER_ENDS.join(", ")),
                ));
            };
            let rpm = match &v["rpm"] {
                Value::Null => None,
                r => Some(
                    r.as_f64()
                        .filter(|x| x.is_finite() && *x > 0.0)
                        .ok_or_else(|| bad(&kind, format!("rpm is {r}, not a positive number")))?,
                ),
            };
            Event::SideEnd { frame, side, reason, rpm }
        }
        "side_report" => Event::SideReport { side: field("side", 1)?, report: v },
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
            Ok(Event::TrackStart { frame: 9, side: 2, track: 3 })
        );
        assert_eq!(
            parse(r#"{"event":"side_end","frame":5,"side":1,"reason":"runout","rpm":45.1}"#),
            Ok(Event::SideEnd { frame: 5, side: 1, reason: "runout", rpm: Some(45.1) })
        );
        assert_eq!(
            parse(r#"{"event":"side_end","frame":5,"side":1,"reason":"lift"}"#),
            Ok(Event::SideEnd { frame: 5, side: 1, reason: "lift", rpm: None })
        );
        assert_eq!(parse(r#"{"event":"level","frame":"x"}"#), Ok(Event::Other));
        assert_eq!(parse(r#"{"event":"recognised","id":"9007199254740993"}"#), Ok(Event::Other));
    }

    #[test]
    fn a_bad_field_makes_the_event_bad_naming_the_field() {
        for (line, field) in [
            (r#"{"event":"side_start","frame":"NaN","side":-1}"#, "frame"),
            (r#"{"event":"side_start","frame":1.5,"side":1}"#, "frame"),
            (r#"{"event":"side_start","frame":-3,"side":1}"#, "frame"),
            (r#"{"event":"side_start","side":1}"#, "frame"),
            (r#"{"event":"side_start","frame":10,"side":0}"#, "side"),
            (r#"{"event":"side_start","frame":10,"side":"1"}"#, "side"),
            (r#"{"event":"track_start","frame":10,"side":1,"track":0}"#, "track"),
            (r#"{"event":"side_end","frame":10,"side":1,"reason":"bored"}"#, "reason"),
            (r#"{"event":"side_end","frame":10,"side":1}"#, "reason"),
            (r#"{"event":"side_end","frame":10,"side":1,"reason":"runout","rpm":-45}"#, "rpm"),
            (r#"{"event":"side_end","frame":10,"side":1,"reason":"runout","rpm":"45"}"#, "rpm"),
            (r#"{"event":"side_report","side":null}"#, "side"),
        ] {
            let e = parse(line).expect_err(line);
            assert!(e.why.starts_with(field), "{line}: {}", e.why);
        }
        assert_eq!(parse("{not json").unwrap_err().kind, "not JSON");
    }
}
