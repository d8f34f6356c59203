//! A restarted listener carries on where its predecessor stopped (systemd's `Restart=`, a
//! supervisor, a crash): the events file it appends to says how far the analysis got, and the
//! ring still holds the audio it heard.
//!
//! Owns reading that state from the events file ([`Past::read`]: FILE.1 then FILE, the last side
//! and the last decision frame) and choosing how to start ([`plan`]): replay the ring from before
//! the open side's needle drop, but never from before the side before it ended ([`Past::boundary`],
//! where that side would be found again and numbered as the open one), so the deterministic
//! analysis rebuilds the very state that was lost and nothing is announced twice; or, when the
//! ring no longer holds that start or too little idle before it, resume the side as playing ([`super::detector::Detector::resume_playing`]); never begin idle in the middle
//! of music. The listener writes only what is decided after the file's last event
//! ([`Start::quiet_until`]), but a recognition by what the file says ([`Past::says_recognition`]):
//! the worker answers when it can, so its timing cannot tell whether the predecessor wrote it. It
//! reads files and decides; it cannot fail (an unreadable or foreign events file is a listener
//! without a past).

use super::detector::Detector;
use crate::events::{self as ev, Event, Line};
use crate::library::history::Played;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

/// How much of the end of each events file is read, in bytes.
const READ_MAX: u64 = 8 << 20;
/// Seconds of the ring replayed before a needle drop, so the idle floor is learned again.
const IDLE_S: u64 = 30;
/// A replay needs at least this much of the ring before the needle drop (seconds) to find the
/// drop again (a floor, then two seconds over it); with less the side is resumed as playing.
const MIN_IDLE_S: u64 = 5;

/// What the events file says of the analysis so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Past {
    /// Sides announced (the last side_start's number).
    pub sides: u32,
    /// The last side, when it has not ended: its number, needle drop and last track.
    pub open: Option<(u32, u64, u32)>,
    /// The last frame an event was decided at.
    pub last_at: u64,
    /// The needle drop named by the last `recognized` event.
    pub told: Option<u64>,
    /// Where the last side that ended left off (its `side_end`, or a `lift` after it): a replay
    /// that started before it would find that side again and count it as the open one.
    pub boundary: u64,
    /// The speed (rpm) the last measured run-out gave.
    pub rpm: Option<f64>,
    /// The last side that ended, as the history notes it (the side it was recognised as).
    pub ended: Option<Played>,
    /// The side the last `recognized` event named, with its needle drop.
    recognized: Option<(u64, (String, String, String))>,
}

impl Past {
    /// Reads `FILE.1` and `FILE` (the end of each); `None` when neither holds an event.
    pub fn read(file: &Path) -> Option<Past> {
        let mut past = Past::default();
        let mut any = false;
        for path in [rotated(file), file.to_path_buf()] {
            for line in tail_text(&path).lines() {
                if let Ok(Line::Event(e)) = ev::parse(line) {
                    any |= past.take(&e);
                }
            }
        }
        any.then_some(past)
    }

    /// Takes one of the listener's events in (true: the file holds the listener's events).
    fn take(&mut self, e: &Event) -> bool {
        let at = match e {
            Event::Level(l) => l.at,
            Event::SideStart(s) => s.at,
            Event::TrackStart(t) => t.at,
            Event::SideEnd(s) => s.at,
            Event::Lift(l) => l.at,
            Event::State(s) => s.at,
            Event::SideReport(r) => r.at,
            Event::Recognized(r) => r.at,
        };
        self.last_at = self.last_at.max(at);
        match e {
            Event::SideStart(s) => {
                self.sides = self.sides.max(s.side);
                self.open = Some((s.side, s.frame, 0));
            }
            Event::TrackStart(t) => {
                if let Some(open) = self.open.as_mut().filter(|o| o.0 == t.side) {
                    open.2 = t.track;
                }
            }
            Event::Lift(l) if self.open.is_none() => self.boundary = self.boundary.max(l.frame),
            Event::SideEnd(s) => {
                self.rpm = s.rpm.or(self.rpm);
                if let Some((_, drop, _)) = self.open.filter(|o| o.0 == s.side) {
                    self.boundary = self.boundary.max(s.frame);
                    let side = self.recognized.as_ref().filter(|r| r.0 == drop).map(|r| r.1.clone());
                    self.ended = Some(Played { drop, end: Some(s.frame), recording: None, side, at: None });
                    self.open = None;
                }
            }
            Event::Recognized(r) => {
                self.told = Some(r.frame);
                self.recognized = Some((r.frame, (r.artist.clone(), r.album.clone(), r.side.clone())));
            }
            _ => {}
        }
        true
    }

    /// Whether a restarted listener writes its recognition of the side dropped at `drop`, made
    /// when its analysis stood at `at`. Not when the file names that drop already (the replay
    /// heard the same audio: consumers have it, a hook or the stream's title would get it twice).
    /// Yes for the side open in the file, even before the file's last event: its predecessor was
    /// killed before it said it, and the side would stay unnamed. Any other side (one that
    /// ended during the replay) like any decision: only after the file's last event.
    pub fn says_recognition(&self, drop: u64, at: u64) -> bool {
        if self.told == Some(drop) {
            return false;
        }
        self.open.is_some_and(|o| o.1 == drop) || at > self.last_at
    }
}

fn rotated(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// The last [`READ_MAX`] bytes of `path` as text, from its first whole line; empty when unreadable.
fn tail_text(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(READ_MAX);
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_err() || f.take(READ_MAX).read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let start =
        if from > 0 { bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1) } else { 0 };
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// How a restarted listener starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Replay from the start frame with `sides` sides counted before it.
    Replay {
        /// Sides before the replay.
        sides: u32,
    },
    /// Resume side `side` at track `track` as playing, from the start frame.
    Resumed {
        /// The open side.
        side: u32,
        /// Its needle drop (before the ring's oldest frame, or too near it or the side before it
        /// to be found again).
        drop: u64,
        /// Its last track.
        track: u32,
    },
}

/// The start of a restarted listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    /// The first frame to read.
    pub from: u64,
    /// How the analysis begins there.
    pub mode: Mode,
    /// Events decided at or before this frame were written already.
    pub quiet_until: u64,
}

impl Start {
    /// The needle drop of the side resumed as playing (none for a replay, which finds it again).
    pub fn resumed_drop(&self) -> Option<u64> {
        match self.mode {
            Mode::Resumed { drop, .. } => Some(drop),
            Mode::Replay { .. } => None,
        }
    }

    /// Sets up `d` for this start (after its restart at the first frame).
    pub fn apply(&self, d: &mut Detector) {
        match self.mode {
            Mode::Replay { sides } => d.continue_count(sides),
            Mode::Resumed { side, track, .. } => d.resume_playing(side, track, self.from),
        }
    }

    /// One line for the log.
    pub fn describe(&self, past: &Past) -> String {
        match (self.mode, past.open) {
            (Mode::Replay { .. }, Some((side, frame, _))) => format!(
                "carrying on: side {side} (needle drop at frame {frame}) is open in the events file; \
                 the ring is replayed from frame {}, and only what is decided after frame {} is written",
                self.from, self.quiet_until
            ),
            (Mode::Replay { sides }, None) => format!(
                "carrying on after {sides} sides: the ring is replayed from frame {}, and only what is \
                 decided after frame {} is written",
                self.from, self.quiet_until
            ),
            (Mode::Resumed { side, track, drop }, _) if self.from == drop => format!(
                "carrying on: side {side} is open in the events file, dropped too soon after the side \
                 before it ended to be found again: resumed as playing (track {track}) from its needle \
                 drop at frame {drop}, its noise floor learned anew"
            ),
            (Mode::Resumed { side, track, .. }, _) => format!(
                "carrying on: side {side} is open in the events file but the ring no longer holds its \
                 start: resumed as playing (track {track}) from frame {}, its noise floor learned anew",
                self.from
            ),
        }
    }
}

/// Chooses the start for a listener whose events file says `past`, on a ring holding frames
/// `oldest..head` at `rate`. `None`: the ring is another timeline than the file's (its head is
/// behind the file's last event); start fresh at the head, numbering sides after `past.sides`.
pub fn plan(past: &Past, oldest: u64, head: u64, rate: u32) -> Option<Start> {
    if past.last_at > head {
        return None;
    }
    let s = |secs: u64| secs * u64::from(rate);
    let quiet_until = past.last_at;
    let ended = |drop: u64| oldest.max(past.boundary.min(drop));
    Some(match past.open {
        // Not from before the side that ended before it (a record flipped or a cue dropped
        // again within the idle replayed): that side would be found again, and numbered as the
        // open one.
        Some((side, frame, _)) if frame >= ended(frame) + s(MIN_IDLE_S) => Start {
            from: frame.saturating_sub(s(IDLE_S)).max(ended(frame)),
            mode: Mode::Replay { sides: side.saturating_sub(1) },
            quiet_until,
        },
        Some((side, drop, track)) => {
            Start { from: drop.max(oldest), mode: Mode::Resumed { side, drop, track }, quiet_until }
        }
        None => Start {
            from: past.last_at.saturating_sub(s(IDLE_S)).max(oldest),
            mode: Mode::Replay { sides: past.sides },
            quiet_until,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn past(lines: &[&str]) -> Past {
        let mut p = Past::default();
        for l in lines {
            let Ok(Line::Event(e)) = ev::parse(l) else { panic!("not an event: {l}") };
            p.take(&e);
        }
        p
    }

    #[test]
    fn the_file_tells_the_open_side_its_track_and_the_last_decision() {
        let p = past(&[
            r#"{"event":"side_start","frame":1000,"at":90000,"side":1}"#,
            r#"{"event":"recognized","frame":1000,"at":700000,"artist":"A","album":"B","side":"C","track":1,"confidence":0.9,"speed_ratio":1.0,"offset_s":0.0}"#,
            r#"{"event":"side_end","frame":5000000,"at":5100000,"side":1,"reason":"runout","rpm":33.41}"#,
            r#"{"event":"side_start","frame":6000000,"at":6090000,"side":2}"#,
            // A side that ended without a run-out measures nothing: the last rpm stays.
            r#"{"event":"side_end","frame":6100000,"at":6100000,"side":7,"reason":"lift"}"#,
            r#"{"event":"track_start","frame":6200000,"at":6300000,"side":2,"track":1}"#,
            r#"{"event":"track_start","frame":7200000,"at":7500000,"side":2,"track":2}"#,
            r#"{"event":"level","frame":7600000,"at":7604800,"rms_dbfs":[-20,-20],"peak_dbfs":[-9,-9],"clipped":0}"#,
        ]);
        let open = Some((2, 6_000_000, 2));
        // The last side that ended, as the recognition named it, for the history.
        let side = ("A".to_string(), "B".to_string(), "C".to_string());
        let ended = Some(Played {
            drop: 1000,
            end: Some(5_000_000),
            recording: None,
            side: Some(side.clone()),
            at: None,
        });
        let recognized = Some((1000, side));
        let rpm = Some(33.41);
        let boundary = 5_000_000;
        assert_eq!(
            p,
            Past { sides: 2, open, last_at: 7_604_800, told: Some(1000), boundary, rpm, ended, recognized }
        );
    }

    #[test]
    fn a_recognition_is_written_once_whenever_the_restarted_worker_makes_it() {
        let side = r#"{"event":"side_start","frame":6000000,"at":6090000,"side":2}"#;
        let heard = r#"{"event":"recognized","frame":6000000,"at":6400000,"artist":"A","album":"B","side":"A","track":1,"title":null,"confidence":0.9,"speed_ratio":1.0,"offset_s":0.0,"tracks":[]}"#;
        let level =
            r#"{"event":"level","frame":6500000,"at":6500000,"rms_dbfs":[],"peak_dbfs":[],"clipped":0}"#;
        let told = past(&[side, heard, level]);
        assert_eq!(told.told, Some(6_000_000));
        // Said before the kill: never again, whether the replay recognises it before or after
        // the last event's frame.
        assert!(!told.says_recognition(6_000_000, 6_400_000));
        assert!(!told.says_recognition(6_000_000, 6_600_000));
        // Not said before the kill: the open side's recognition is written even from inside the
        // replay, since no one else will.
        let untold = past(&[side, level]);
        assert!(untold.says_recognition(6_000_000, 6_400_000));
        assert!(untold.says_recognition(6_000_000, 6_600_000));
        // A side that is not the open one: only a decision after the file's last event.
        assert!(!untold.says_recognition(5_000_000, 6_400_000));
        assert!(untold.says_recognition(5_000_000, 6_600_000));
    }

    #[test]
    fn an_open_side_is_replayed_from_before_its_drop_when_the_ring_holds_it() {
        let p = Past {
            sides: 2,
            open: Some((2, 6_000_000, 2)),
            last_at: 7_604_800,
            told: None,
            rpm: None,
            ..Past::default()
        };
        let s = plan(&p, 0, 7_700_000, 48_000).unwrap();
        assert_eq!(
            s,
            Start { from: 6_000_000 - 30 * 48_000, mode: Mode::Replay { sides: 1 }, quiet_until: 7_604_800 }
        );
        // The ring holds the drop but not 30 s before it: from its oldest frame.
        let s = plan(&p, 5_700_000, 7_700_000, 48_000).unwrap();
        assert_eq!(s.from, 5_700_000);
        // Not even 5 s before it: resumed as playing from the drop.
        let s = plan(&p, 5_900_000, 7_700_000, 48_000).unwrap();
        assert_eq!(s.mode, Mode::Resumed { side: 2, drop: 6_000_000, track: 2 });
        assert_eq!(s.from, 6_000_000);
        // The drop gone too: from the ring's oldest frame.
        assert_eq!(plan(&p, 6_100_000, 7_700_000, 48_000).unwrap().from, 6_100_000);
    }

    #[test]
    fn a_replay_never_starts_before_the_side_that_ended_before_the_open_one() {
        let p = past(&[
            r#"{"event":"side_start","frame":200000,"at":290000,"side":1}"#,
            r#"{"event":"side_end","frame":4000000,"at":4100000,"side":1,"reason":"runout","rpm":33.4}"#,
            r#"{"event":"lift","frame":4500000,"at":4520000}"#,
            r#"{"event":"side_start","frame":5000000,"at":5090000,"side":2}"#,
            r#"{"event":"level","frame":5600000,"at":5604800,"rms_dbfs":[],"peak_dbfs":[],"clipped":0}"#,
        ]);
        assert_eq!(p.boundary, 4_500_000, "the lift after the side_end");
        // Flipped in 10 s: the replay starts at the lift, not 30 s before the drop.
        let s = plan(&p, 0, 5_700_000, 48_000).unwrap();
        assert_eq!((s.from, s.mode), (4_500_000, Mode::Replay { sides: 1 }));
        // A quiet gap read as a lift, 2 s before the next drop: too little idle to find the drop
        // again, so the side is resumed as playing from it.
        let quiet = past(&[
            r#"{"event":"side_start","frame":446880,"at":535328,"side":1}"#,
            r#"{"event":"side_end","frame":926400,"at":950528,"side":1,"reason":"lift"}"#,
            r#"{"event":"side_start","frame":1019520,"at":1106048,"side":2}"#,
        ]);
        let s = plan(&quiet, 0, 1_200_000, 48_000).unwrap();
        assert_eq!((s.from, s.mode), (1_019_520, Mode::Resumed { side: 2, drop: 1_019_520, track: 0 }));
        assert!(s.describe(&quiet).contains("too soon after the side before it"), "{}", s.describe(&quiet));
    }

    #[test]
    fn a_closed_side_continues_the_count_and_another_timeline_starts_fresh() {
        let p = Past { sides: 3, open: None, last_at: 10_000_000, told: None, rpm: None, ..Past::default() };
        let s = plan(&p, 0, 10_100_000, 48_000).unwrap();
        assert_eq!(s.mode, Mode::Replay { sides: 3 });
        assert_eq!(s.from, 10_000_000 - 30 * 48_000);
        assert_eq!(plan(&p, 0, 500_000, 48_000), None, "the ring's head is behind the file: a new timeline");
    }

    #[test]
    fn events_files_are_read_rotated_generation_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events");
        std::fs::write(
            dir.path().join("events.1"),
            "{\"event\":\"side_start\",\"frame\":100,\"at\":200,\"side\":4}\n",
        )
        .unwrap();
        let level = r#"{"event":"level","frame":300,"at":400,"rms_dbfs":[],"peak_dbfs":[],"clipped":0}"#;
        std::fs::write(&file, format!("{level}\nnot json\n")).unwrap();
        assert_eq!(
            Past::read(&file),
            Some(Past {
                sides: 4,
                open: Some((4, 100, 0)),
                last_at: 400,
                told: None,
                rpm: None,
                ..Past::default()
            })
        );
        assert_eq!(Past::read(&dir.path().join("none")), None);
    }
}
