//! The listener's events: the one definition of the JSON lines `vinyl-listen` writes and
//! `vinyl-rec auto`, `vinyl-web` and `vinyl-listen --status` read.
//!
//! Owns each event's name and fields, as types that serde reads and writes (`event` names the
//! kind; every other key is a field below), so a field renamed here is renamed for the writer and
//! every reader at once, and a reader never meets a missing field as a silent 0. Owns reading one
//! line ([`parse`]): a line that is not a JSON object, or a known event with a missing or
//! mistyped field, is [`Bad`], naming the field; an event of another kind (a newer listener's,
//! vinyl-web's own `recording`) is [`Line::Unknown`], for the reader to pass on or skip and
//! count. It does not decide what an event means (each reader does) and writes nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event of the listener. Frames are timeline frames; `at` is the frame at which it was
/// decided; sides and tracks count from 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Levels of the last stretch (ten a second by default).
    Level(Level),
    /// The needle dropped.
    SideStart(SideStart),
    /// A track starts.
    TrackStart(TrackStart),
    /// A side ended.
    SideEnd(SideEnd),
    /// The stylus was lifted (outside a side).
    Lift(Lift),
    /// What the listener thinks is happening, on every change and now and then.
    State(State),
    /// A side's measurements, after its end.
    SideReport(SideReport),
    /// The side playing is a learned side of the collection.
    Recognized(Recognized),
}

/// A `level` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// The stretch's first frame.
    pub frame: u64,
    /// When it was decided.
    pub at: u64,
    /// RMS per channel, dBFS to 0.1; `null` in digital silence.
    pub rms_dbfs: Vec<Option<f64>>,
    /// Sample peak per channel, dBFS to 0.1; `null` in digital silence.
    pub peak_dbfs: Vec<Option<f64>>,
    /// Samples at full scale in the stretch.
    pub clipped: u64,
}

/// A `side_start` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideStart {
    /// The needle drop.
    pub frame: u64,
    /// When it was decided.
    pub at: u64,
    /// The side's number.
    pub side: u32,
}

/// A `track_start` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackStart {
    /// The track's first frame.
    pub frame: u64,
    /// When it was decided.
    pub at: u64,
    /// The side's number.
    pub side: u32,
    /// The track's number on the side.
    pub track: u32,
    /// The learned side's title at this point, once the side was recognised (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A `recognized` event: the side playing since the needle drop at `frame` is a learned side of
/// the collection (`vinyl-listen --library`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recognized {
    /// The needle drop of the side recognised.
    pub frame: u64,
    /// When it was recognised.
    pub at: u64,
    /// The album's artist.
    pub artist: String,
    /// The album's title.
    pub album: String,
    /// The album side: A, B…
    pub side: String,
    /// The learned side's track playing when it was recognised.
    pub track: usize,
    /// That track's title, when the collection has it.
    pub title: Option<String>,
    /// 0..1: how far the side stood above the best other.
    pub confidence: f64,
    /// This play's speed over the learned one's.
    pub speed_ratio: f64,
    /// Where the needle drop is in the learned side, in seconds.
    pub offset_s: f64,
    /// Where the learned side's tracks fall on this play's timeline: the one playing at the
    /// needle drop (at the drop's frame), then each later one (absent in older events).
    #[serde(default)]
    pub tracks: Vec<LearnedTrack>,
}

/// A learned track placed on a play's timeline by a recognition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnedTrack {
    /// Its number on the learned side, from 1.
    pub track: usize,
    /// Where it starts in this play (the learned start mapped through the fitted speed and place).
    pub frame: u64,
    /// Its title, when the collection has it.
    pub title: Option<String>,
}

/// A `side_end` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SideEnd {
    /// Where the side ended (the run-out's start, the lift).
    pub frame: u64,
    /// When it was decided.
    pub at: u64,
    /// The side's number.
    pub side: u32,
    /// `runout`, `lift`, `silence` or `gap`.
    pub reason: String,
    /// The run-out's speed (rpm), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<f64>,
}

/// A `lift` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lift {
    /// Where the stylus left.
    pub frame: u64,
    /// When it was decided.
    pub at: u64,
}

/// A `state` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The frame of the state.
    pub frame: u64,
    /// When it was decided.
    pub at: u64,
    /// `idle`, `lead-in`, `playing`, `runout`, `unknown`…
    pub state: String,
    /// The side's number (0 outside a side).
    pub side: u32,
    /// The track's number (0 before the first).
    pub track: u32,
}

/// A `side_report` event: the side `start_frame..frame`. Measurements are `null` when there was
/// nothing to measure (a side under the loudness gates).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SideReport {
    /// The side's end.
    pub frame: u64,
    /// When it was decided.
    pub at: u64,
    /// The side's number.
    pub side: u32,
    /// The side's first frame.
    pub start_frame: u64,
    /// Tracks marked on it.
    pub tracks: u32,
    /// Integrated loudness, LUFS.
    pub integrated_lufs: Option<f64>,
    /// Loudness range, LU.
    pub loudness_range_lu: Option<f64>,
    /// True peak, dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// Sample peak, dBFS.
    pub peak_dbfs: Option<f64>,
    /// Samples at full scale.
    pub clipped: u64,
    /// Surface noise, dBFS RMS.
    pub noise_floor_dbfs: Option<f64>,
    /// Clicks a minute where no music played.
    pub clicks_per_min: Option<f64>,
    /// Headroom left by the peak, dB.
    pub headroom_db: Option<f64>,
}

/// The kinds [`Event`] knows, as their `event` names.
pub const KINDS: [&str; 8] =
    ["level", "side_start", "track_start", "side_end", "lift", "state", "side_report", "recognized"];

/// One line read.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// A listener's event, every field as its type says.
    Event(Event),
    /// An object of another kind (its `event`, empty when it has none): not the listener's.
    Unknown(String),
}

/// A line that cannot be taken: its kind (for logging once per kind) and why, naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bad {
    /// The `event` field, or `not JSON`.
    pub kind: String,
    /// What is wrong.
    pub why: String,
}

/// Reads one line of the events file.
pub fn parse(line: &str) -> Result<Line, Bad> {
    let not_json = |why: String| Bad { kind: "not JSON".into(), why };
    let v: Value = serde_json::from_str(line).map_err(|e| not_json(e.to_string()))?;
    if !v.is_object() {
        return Err(not_json("not a JSON object".into()));
    }
    let kind = v["event"].as_str().unwrap_or_default().to_string();
    if !KINDS.contains(&kind.as_str()) {
        return Ok(Line::Unknown(kind));
    }
    serde_json::from_value(v).map(Line::Event).map_err(|e| Bad { kind, why: e.to_string() })
}

impl Event {
    /// Its `event` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Level(_) => "level",
            Event::SideStart(_) => "side_start",
            Event::TrackStart(_) => "track_start",
            Event::SideEnd(_) => "side_end",
            Event::Lift(_) => "lift",
            Event::State(_) => "state",
            Event::SideReport(_) => "side_report",
            Event::Recognized(_) => "recognized",
        }
    }

    /// When it was decided (the timeline frame the listener had read).
    pub fn at(&self) -> u64 {
        match self {
            Event::Level(e) => e.at,
            Event::SideStart(e) => e.at,
            Event::TrackStart(e) => e.at,
            Event::SideEnd(e) => e.at,
            Event::Lift(e) => e.at,
            Event::State(e) => e.at,
            Event::SideReport(e) => e.at,
            Event::Recognized(e) => e.at,
        }
    }

    /// The event as the JSON object the listener writes.
    pub fn to_json(&self) -> Value {
        // Every field is a number, a string, a list or null: serialising cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_is_read_back_as_it_was() {
        let events = [
            Event::SideStart(SideStart { frame: 480_000, at: 500_000, side: 1 }),
            Event::SideEnd(SideEnd { frame: 9, at: 10, side: 2, reason: "runout".into(), rpm: Some(33.4) }),
            Event::SideEnd(SideEnd { frame: 9, at: 10, side: 2, reason: "lift".into(), rpm: None }),
            Event::Level(Level {
                frame: 1,
                at: 2,
                rms_dbfs: vec![Some(-20.5), None],
                peak_dbfs: vec![None, None],
                clipped: 0,
            }),
        ];
        for e in events {
            let line = e.to_json().to_string();
            assert_eq!(e.to_json()["event"], e.kind());
            assert_eq!(parse(&line), Ok(Line::Event(e)), "{line}");
        }
        let line = Event::Lift(Lift { frame: 3, at: 4 }).to_json().to_string();
        assert_eq!(line, r#"{"at":4,"event":"lift","frame":3}"#);
    }

    #[test]
    fn a_missing_or_mistyped_field_is_named_and_other_kinds_pass() {
        for (line, field) in [
            (r#"{"event":"side_start","side":1,"at":0}"#, "frame"),
            (r#"{"event":"side_start","frame":"NaN","side":-1,"at":0}"#, "invalid type"),
            (r#"{"event":"track_start","frame":1,"at":1,"side":1}"#, "track"),
            (r#"{"event":"side_report","side":null}"#, "invalid type"),
        ] {
            let e = parse(line).expect_err(line);
            assert!(e.why.contains(field), "{line}: {}", e.why);
        }
        assert_eq!(parse(r#"{"event":"recording","recording":true}"#), Ok(Line::Unknown("recording".into())));
        assert_eq!(parse("[1]").unwrap_err().kind, "not JSON");
    }
}
