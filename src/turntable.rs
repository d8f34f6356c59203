//! The turntable's state as the listener's events tell it: idle, a side (its number and track),
//! the run-out, and what the collection recognised as playing.
//!
//! Owns one reading of the events ([`Turntable::apply`]) for every tool that shows the state:
//! vinyl-web's `/status` and `hello`, vinyl-mqtt's entities and vinyl-snapcast-meta's now-playing,
//! so the three never disagree on what a lift or a late recognition means. It does not read the
//! events file (that is [`crate::listen::tail::Tail`]) or parse a line (that is
//! [`crate::events`]), and it cannot fail: an event it has no use for changes nothing.

use crate::events::Event;
use serde::Serialize;

/// What is playing, as the listener recognised it (`vinyl-listen --library`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NowPlaying {
    /// The album's artist.
    pub artist: String,
    /// The album's title.
    pub album: String,
    /// The album side.
    pub side: String,
    /// The track playing, when the collection titles it.
    pub title: Option<String>,
}

/// The turntable's state as the events tell it, and as `/status` and `hello` show it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Turntable {
    /// `idle`, `side` or `runout`, or the listener's own `state` names (`lead-in`, `playing`).
    pub state: String,
    /// The side number (counted from 1 since vinyl-web started, or as the listener says).
    pub side: u64,
    /// The track on the side (from 1), 0 before the first.
    pub track: u64,
    /// The frame of the last change.
    pub frame: Option<u64>,
    /// The needle drop of the side playing (not shown).
    #[serde(skip)]
    pub side_start: Option<u64>,
    /// The learned side the listener recognised the one playing as (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now_playing: Option<NowPlaying>,
}

impl Turntable {
    /// Applies one event.
    pub fn apply(&mut self, e: &Event) {
        let frame = match e {
            Event::SideStart(e) => {
                (self.state, self.side, self.track) = ("side".into(), e.side as u64, 0);
                (self.side_start, self.now_playing) = (Some(e.frame), None);
                e.frame
            }
            Event::TrackStart(e) => {
                (self.state, self.side, self.track) = ("side".into(), e.side as u64, e.track as u64);
                if let (Some(now), Some(title)) = (self.now_playing.as_mut(), &e.title) {
                    now.title = Some(title.clone());
                }
                e.frame
            }
            Event::Lift(e) => {
                self.state = "idle".into();
                self.now_playing = None;
                e.frame
            }
            // The side playing now, when it is the one recognised (not an earlier side's late word).
            Event::Recognized(r) => {
                if self.side_start.is_none_or(|s| s == r.frame) {
                    self.now_playing = Some(NowPlaying {
                        artist: r.artist.clone(),
                        album: r.album.clone(),
                        side: r.side.clone(),
                        title: r.title.clone(),
                    });
                }
                return;
            }
            // After a run-out or a silence the stylus is still in the groove (the listener's
            // `runout` state); after a lift it is not.
            Event::SideEnd(e) => {
                self.state = if e.reason == "lift" { "idle" } else { "runout" }.into();
                e.frame
            }
            Event::State(e) => {
                (self.state, self.side, self.track) = (e.state.clone(), e.side as u64, e.track as u64);
                e.frame
            }
            Event::Level(_) | Event::SideReport(_) => return,
        };
        self.frame = Some(frame);
    }

    /// As `/status` shows it: `idle` before the first event.
    pub fn view(&self) -> Turntable {
        let state = if self.state.is_empty() { "idle" } else { &self.state };
        Turntable { state: state.to_string(), ..self.clone() }
    }
}
