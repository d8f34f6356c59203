//! The turntable's state, decided from [`Block`]s: idle, a side's lead-in, music with its tracks,
//! and the end of the side (a locked run-out groove, a lift, or a long silence).
//!
//! Owns every threshold, and every threshold is relative: to the idle floor measured before the
//! side (the lowest one-second median of the high band over the last 30 s of idle), or to the
//! side's own surface noise, measured band by band in its lead-in, or to the side's music level.
//! No fixed dBFS level decides anything, so the gain of the preamp and the pressing's noise move
//! the thresholds with them. Levels are medians over 150 ms, so crackle never reads as music; a
//! gap between tracks must look like the lead-in's noise in every band, last 0.7–8 s, and have
//! music within 20 dB of the side's level on both sides (which a quiet passage does not).
//!
//! A needle dropped into the music (onto a track, not the lead-in groove) has no lead-in to measure
//! its noise in. A lead-in whose first second moves in level like music (`LEADIN_MUSIC_DB`)
//! starts track 1 at the drop; so does a lead-in that found no music in 30 s while its level moved
//! like music, and a "silence" of 30 s inside a side that did is music under a floor measured on
//! music: no end. Then the side's noise floor is searched for as a resumed side's is (the quietest
//! second, clearly under the music) and lowered whenever a quieter one comes (its first gap, its
//! run-out); until it is found no gap, run-out or lift is decided, so a groove whose noise lies
//! under the converter's own (a quiet pressing at a low gain) is not taken for a lifted stylus.
//!
//! A needle drop is a sustained rise of the high band's smoothed level over the idle floor. When
//! it is heard late (a groove under the converter's noise, music dull in the treble), the side
//! starts where the sound began (the full band over the idle floor, back to the lift before it at
//! most), and the lead-in heard so far is replayed from its quietest tenth, so music heard
//! before the drop is not taken for the groove; a lead-in too short to measure (music within a
//! second and a half) has its floor searched for as a needle dropped onto a track. Music whose
//! treble never rises over the converter's noise (dull music at a low gain, its drop and groove
//! unheard) is a drop too, once the full band has stood well over the idle floor for seconds and
//! moved like music (with its treble unheard, half of the seconds with onsets will do): a motor's
//! rumble is steady and a few dB, a knock short and ringing down from one onset.
//!
//! Blocks of exact digital zeros and frames the input skipped carry no information (a gap): they
//! are bridged, never taken for music, noise floor or a lift, and a stretch of them longer than
//! the gap limit ends a side ([`EndReason::Gap`]).
//!
//! Decisions come late (up to seconds) but name exact frames: the ring keeps the past. It keeps
//! 30 s of block history and bounded statistics, makes no I/O, and cannot fail.

use super::features::{Block, db};
use super::runout::{Click, Runout};
use std::collections::VecDeque;

/// Blocks (of 10 ms) in a second.
const PER_S: usize = 100;
/// Blocks in the median that smooths levels: 150 ms, longer than any click.
const SMOOTH: usize = 15;
/// Blocks by which that median lags a step in level.
const LAG: u64 = 7;
/// Seconds of block history kept.
const HISTORY_S: usize = 30;
/// A needle drop: the high band's smoothed level this far (dB) over the idle floor… (the median
/// of stationary idle noise varies by a tenth of a dB, and a quiet groove at a low gain may rise
/// only 4 dB over a converter's own noise, which raw blocks cross only half the time)
const DROP_RISE_DB: f64 = 3.0;
/// …in this share of the blocks of the last two seconds (smoothed levels: a groove at the rise
/// itself would be over it in only half of its raw blocks).
const DROP_SHARE: f64 = 0.9;
/// Sound before a late-heard drop: the full band this far (dB) over the idle floor (the mid band,
/// a difference of bands, swings by 15 dB in idle under a loud hum)…
const SOUND_RISE_DB: f64 = 6.0;
/// …in this share of the blocks of each half second.
const SOUND_SHARE: f64 = 0.6;
/// Music heard in idle without a drop: the full band this far (dB) over the idle floor (a motor
/// switched on raises it by a few dB; the quietest music heard at a low gain, by 30)…
const IDLE_MUSIC_RISE_DB: f64 = 20.0;
/// …for this long (seconds), moving in level like music.
const IDLE_MUSIC_S: usize = 3;
/// Onsets (a 6 dB rise within 0.3 s) that dull music over the idle floor for only half of
/// [`IDLE_MUSIC_S`] must show.
const IDLE_MUSIC_ONSETS: usize = 3;
/// Music after a side's end (its lift unheard): some band over the side's noise for this long
/// (seconds); a lift's thump on a groove under the converter's noise rang over it for a 1 s side.
const MUSIC_AGAIN_S: usize = 3;
/// A high band below this (dB) is digital silence or a converter's own noise, never a groove.
const GROOVE_MIN_DB: f64 = -105.0;
/// Music: some band this far (dB) over the side's noise, for 0.3 s.
const MUSIC_RISE_DB: f64 = 6.0;
/// How far over the noise each band (full, low, mid, high) may be in a gap.
const GAP_ALLOW_DB: [f64; 4] = [4.0, 7.0, 5.0, 5.0];
/// A gap between tracks lasts this long (seconds)…
const GAP_S: (f64, f64) = (0.7, 8.0);
/// …with music no more than this far (dB) under the side's level within 4 s before it, and for
/// [`LOUD_S`] of the [`CONFIRM_S`] after it; music is also at least [`MUSIC_OVER_NOISE_DB`] over
/// the noise.
const CONTEXT_DB: f64 = 20.0;
/// See [`CONTEXT_DB`].
const MUSIC_OVER_NOISE_DB: f64 = 9.0;
/// See [`CONTEXT_DB`].
const CONFIRM_S: f64 = 5.0;
/// See [`CONTEXT_DB`].
const LOUD_S: f64 = 1.0;
/// A click: a high-band sample this far (dB) over the high band's noise.
const CLICK_DB: f64 = 15.0;
/// A floor not measured yet: under any level, so nothing is taken for noise.
const UNSET: f64 = f64::MIN / 4.0;
/// A lead-in whose smoothed full-band level spreads wider than this (dB, its 10th to 90th
/// percentile, over the first second after the thump, or over all of it when it found no music in
/// 30 s) is music, not a groove's stationary noise: the needle landed on a track. No lead-in of
/// the bench's corpora reaches it (76 sides, crackle up to 300 a minute: the median drops clicks;
/// `scripts/bench 85-listen` scores them as without the rule). Taken for music, a real lead-in
/// costs little: its noise is the quietest second.
const LEADIN_MUSIC_DB: f64 = 4.0;
/// No music, no run-out, no lift for this long (seconds): the side has ended in silence.
const SILENCE_S: usize = 30;
/// The high band at the idle level for this long (seconds): the stylus was lifted.
const LIFT_S: f64 = 0.5;

/// Why a side ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// A locked run-out groove.
    Runout,
    /// The stylus was lifted.
    Lift,
    /// No music for `SILENCE_S` seconds, without a run-out or a lift.
    Silence,
    /// The input had no information (a journaled gap's digital silence, frames never seen) for
    /// longer than the gap limit.
    Gap,
}

impl EndReason {
    /// The name in events.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Runout => "runout",
            EndReason::Lift => "lift",
            EndReason::Silence => "silence",
            EndReason::Gap => "gap",
        }
    }
}

/// A decision, in timeline frames: `frame` is what it names, `at` when it was made (the frame
/// after the block that decided it); `side` counts sides from 1, `track` tracks from 1.
#[derive(Clone, Copy, Debug, PartialEq)]
#[allow(missing_docs)] // the fields are the ones named above, the same in every variant
pub enum Decision {
    /// The needle touched the lead-in of side `side` (counted from 1).
    SideStart { frame: u64, at: u64, side: u32 },
    /// Track `track` begins (for track ≥ 2, in the gap before it or on its first frame).
    TrackStart { frame: u64, at: u64, side: u32, track: u32 },
    /// The side ended; `rpm` is measured for a run-out.
    SideEnd { frame: u64, at: u64, side: u32, reason: EndReason, rpm: Option<f64> },
    /// The stylus left a side that had already ended (a run-out or a silence).
    Lift { frame: u64, at: u64 },
}

/// Where the turntable is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No stylus in a groove.
    Idle,
    /// In the lead-in, before the first music.
    LeadIn,
    /// Music (or a gap between tracks).
    Music,
    /// The side ended (run-out or silence); the stylus is still in the groove.
    Ended,
}

impl Phase {
    /// The name in events.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::LeadIn => "lead-in",
            Phase::Music => "playing",
            Phase::Ended => "runout",
        }
    }
}

/// One block as the detector keeps it: raw and smoothed levels in dB (full, low, mid, high).
#[derive(Clone, Copy, Debug)]
struct Info {
    first: u64,
    raw: [f64; 4],
    s: [f64; 4],
}

const FULL: usize = 0;
const HIGH: usize = 3;

/// The idle floor: the lowest one-second median of the last 30 s of idle, per band.
#[derive(Debug, Default)]
struct IdleFloor {
    second: Vec<[f64; 4]>,
    medians: VecDeque<[f64; 4]>,
}

impl IdleFloor {
    fn add(&mut self, raw: [f64; 4]) {
        self.second.push(raw);
        if self.second.len() < PER_S {
            return;
        }
        let m = std::array::from_fn(|b| percentile(self.second.iter().map(|r| r[b]), 0.5));
        self.second.clear();
        if self.medians.len() == HISTORY_S {
            self.medians.pop_front();
        }
        self.medians.push_back(m);
    }

    fn floor(&self, band: usize) -> Option<f64> {
        self.medians.iter().map(|m| m[band]).min_by(f64::total_cmp)
    }
}

/// A stretch without music inside a side.
#[derive(Clone, Copy, Debug)]
struct Dip {
    start: u64,
    /// Blocks in a row that sound like music again, and the first of them.
    exit: (usize, u64),
}

/// A gap that ended, waiting for the music behind it to prove itself: at least [`LOUD_S`] of the
/// [`CONFIRM_S`] seconds after it at the side's level. A louder stretch of noise (the lead-out
/// spiral) fails it.
#[derive(Clone, Copy, Debug)]
struct Pending {
    frame: u64,
    end: u64,
    loud_blocks: usize,
}

/// What is known of the side being played.
#[derive(Debug, Default)]
struct Side {
    onset: u64,
    /// The surface noise, per band (dB): medians over the lead-in.
    floor: [f64; 4],
    leadin: Vec<[f64; 4]>,
    /// Smoothed full-band levels of music, in half-dB steps from −150 dB.
    music: Vec<u32>,
    music_run: (usize, u64),
    dip: Option<Dip>,
    pending: Option<Pending>,
    runout: Runout,
    lift_run: (usize, u64),
    /// Full-band levels of blocks without music (lead-in and gaps), for the report.
    noise: Vec<f32>,
    clicks: u64,
    noise_blocks: u64,
    /// Smoothed full-band levels of the lead-in's first second after the thump: a groove's?
    leadin_levels: Vec<f64>,
    /// The floor first measured was music (a needle dropped onto a track): it is searched for as
    /// the quietest second clearly under the music, and kept lowered.
    floor_from_music: bool,
}

/// What the detector can tell of the side that just ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SideStats {
    /// Tracks marked.
    pub tracks: u32,
    /// The median level of the surface noise (lead-in and gaps), in RMS dBFS.
    pub noise_floor_dbfs: Option<f64>,
    /// Clicks a minute in the stretches without music.
    pub clicks_per_min: Option<f64>,
}

/// The detector.
pub struct Detector {
    rate: u32,
    block_frames: u64,
    history: VecDeque<Info>,
    idle: IdleFloor,
    phase: Phase,
    sides: u32,
    track: u32,
    side: Side,
    /// Frames of the unknown stretch going on (exact zeros, frames never seen), and its first.
    unknown: (u64, u64),
    /// The longest unknown stretch a side bridges (frames).
    gap_limit: u64,
    /// No idle floor can be learned because the idle so far was digital silence (a converter
    /// with a digital mute): a needle drop is any groove over [`GROOVE_MIN_DB`].
    idle_was_zeros: bool,
    /// The end of the last side, then its lift (the first frame of the idle going on): a needle
    /// drop heard late, or music after a run-out, is never placed before it, in the side before.
    idle_from: u64,
    /// Resumed in the middle of a side: its floor is the quietest second heard since.
    resumed: Option<IdleFloor>,
}

impl Detector {
    /// A detector for blocks of `block_frames` at `rate`, starting idle.
    pub fn new(rate: u32, block_frames: u32) -> Detector {
        Detector {
            rate,
            block_frames: block_frames as u64,
            history: VecDeque::with_capacity(HISTORY_S * PER_S),
            idle: IdleFloor::default(),
            phase: Phase::Idle,
            sides: 0,
            track: 0,
            side: Side::default(),
            unknown: (0, 0),
            gap_limit: u64::MAX,
            idle_was_zeros: false,
            idle_from: 0,
            resumed: None,
        }
    }

    /// Sets the longest stretch without information (frames) that a side bridges; a longer one
    /// ends it with [`EndReason::Gap`].
    pub fn set_gap_limit(&mut self, frames: u64) {
        self.gap_limit = frames;
    }

    /// Continues the side count after `sides` (a restarted listener: the events file has them).
    pub fn continue_count(&mut self, sides: u32) {
        self.sides = sides;
    }

    /// Resumes side `side` at track `track`, in the middle of its music, starting at `frame`
    /// (a restarted listener whose ring no longer holds the side's start): its noise floor is the
    /// quietest second heard from here on, so its gaps, run-out and lift are still found.
    pub fn resume_playing(&mut self, side: u32, track: u32, frame: u64) {
        self.restart();
        self.sides = side;
        self.track = track.max(1);
        self.side = Side { onset: frame, floor: [f64::MIN / 4.0; 4], ..Side::default() };
        self.phase = Phase::Music;
        self.resumed = Some(IdleFloor::default());
    }

    /// `frames` frames starting at `first` carry no information (a journaled gap, frames the
    /// input skipped): bridged, unless a side is on and the stretch grows past the gap limit.
    pub fn unknown(&mut self, first: u64, frames: u64, out: &mut Vec<Decision>) {
        if frames == 0 {
            return;
        }
        if self.unknown.0 == 0 {
            self.unknown.1 = first;
            // Runs of blocks must be contiguous in known audio.
            self.side.music_run = (0, 0);
            self.side.lift_run = (0, 0);
        }
        self.unknown.0 += frames;
        if let Some(d) = self.side.dip.as_mut() {
            // The silence timer counts only what was heard.
            d.start += frames;
        }
        if matches!(self.phase, Phase::LeadIn | Phase::Music) && self.unknown.0 > self.gap_limit {
            let (frame, at) = (self.unknown.1, first + frames);
            self.side.pending = None;
            self.side.dip = None;
            self.phase = Phase::Ended;
            self.resumed = None;
            self.idle_from = frame;
            out.push(Decision::SideEnd { frame, at, side: self.sides, reason: EndReason::Gap, rpm: None });
        }
    }

    /// The turntable's state, the side (counted from 1) and the track (0 before the music).
    pub fn state(&self) -> (Phase, u32, u32) {
        (self.phase, self.sides, self.track)
    }

    /// Forgets everything but the count of sides (the input went back, or another timeline).
    pub fn restart(&mut self) {
        self.history.clear();
        self.idle = IdleFloor::default();
        self.phase = Phase::Idle;
        self.track = 0;
        self.side = Side::default();
        self.unknown = (0, 0);
        self.idle_was_zeros = false;
        self.idle_from = 0;
        self.resumed = None;
    }

    /// The statistics of the current (or last) side.
    pub fn stats(&self) -> SideStats {
        let s = &self.side;
        let minutes = s.noise_blocks as f64 / PER_S as f64 / 60.0;
        SideStats {
            tracks: self.track,
            noise_floor_dbfs: (!s.noise.is_empty())
                .then(|| percentile(s.noise.iter().map(|&v| v as f64), 0.5)),
            clicks_per_min: (minutes >= 1.0 / 60.0).then(|| s.clicks as f64 / minutes),
        }
    }

    /// Takes one block; pushes what it decides. A block of exact digital zeros is no
    /// information: it is bridged (see [`Detector::unknown`]), never music, floor or lift.
    pub fn push(&mut self, b: &Block, out: &mut Vec<Decision>) {
        if b.full == 0.0 {
            if self.phase == Phase::Idle && self.idle.medians.is_empty() {
                self.idle_was_zeros = true;
            }
            self.unknown(b.first, self.block_frames, out);
            return;
        }
        self.unknown = (0, 0);
        let raw = [db(b.full), db(b.low), db(b.mid()), db(b.high)];
        if self.history.len() == HISTORY_S * PER_S {
            self.history.pop_front();
        }
        let s = std::array::from_fn(|band| self.smoothed(raw[band], band));
        let info = Info { first: b.first, raw, s };
        self.history.push_back(info);
        if let Some(heard) = self.resumed.as_mut() {
            heard.add(raw);
            if let Some(floor) = resumed_floor(heard) {
                if !self.side.floor_from_music {
                    // Found: from here the side goes on like any other.
                    self.side.floor = floor;
                    self.resumed = None;
                } else if self.side.floor[FULL] <= UNSET || floor[FULL] < self.side.floor[FULL] {
                    // The quietest second yet (clearly under the music): a gap, the run-out.
                    self.side.floor = floor;
                }
            }
        }
        if self.phase != Phase::Idle && self.lifted(&info, out) {
            return;
        }
        match self.phase {
            Phase::Idle => self.idle_block(&info, out),
            Phase::LeadIn => self.leadin_block(&info, out),
            Phase::Music => self.music_block(b, &info, out),
            Phase::Ended => self.ended_block(&info, out),
        }
    }

    /// The median of `band` over this block (`now`) and the ones before it, [`SMOOTH`] in all:
    /// on the stack, as it runs a hundred times a second per band.
    fn smoothed(&self, now: f64, band: usize) -> f64 {
        let mut w = [now; SMOOTH];
        let mut n = 1;
        for i in self.history.iter().rev().take(SMOOTH - 1) {
            w[n] = i.raw[band];
            n += 1;
        }
        let k = ((n - 1) as f64 * 0.5).round() as usize;
        *w[..n].select_nth_unstable_by(k, f64::total_cmp).1
    }

    fn at(&self, info: &Info) -> u64 {
        info.first + self.block_frames
    }

    fn blocks_to_frames(&self, blocks: u64) -> u64 {
        blocks * self.block_frames
    }

    fn seconds(&self, s: f64) -> u64 {
        (s * self.rate as f64) as u64
    }
}

impl Detector {
    /// Idle: learns the floor; a sustained rise of the high band is a needle drop.
    fn idle_block(&mut self, info: &Info, out: &mut Vec<Decision>) {
        self.idle.add(info.raw);
        // After nothing but digital silence there is no floor to rise over: the first two
        // seconds of sound are a needle drop if they are a groove at all; after that, the floor
        // they taught decides.
        let zeros = self.idle_was_zeros;
        let floor = match self.idle.floor(HIGH) {
            _ if zeros => GROOVE_MIN_DB - DROP_RISE_DB,
            Some(floor) => floor,
            None => return,
        };
        let thr = (floor + DROP_RISE_DB).max(GROOVE_MIN_DB);
        let window = 2 * PER_S;
        // Two seconds of the idle itself: the music or groove of a side just lifted is no drop.
        let idle = self.history.iter().rev().take(window).take_while(|i| i.first >= self.idle_from).count();
        if idle < window {
            return;
        }
        self.idle_was_zeros = false;
        let above = self.history.iter().rev().take(window).filter(|i| i.s[HIGH] > thr).count();
        let onset = if info.s[HIGH] > thr && above as f64 >= DROP_SHARE * window as f64 {
            self.drop_onset(thr)
        } else if let Some(since) = self.music_in_idle(thr) {
            since
        } else {
            return;
        };
        self.sides += 1;
        self.track = 0;
        self.side = Side { onset, ..Side::default() };
        self.phase = Phase::LeadIn;
        let frame = self.sound_since(onset, thr);
        out.push(Decision::SideStart { frame, at: self.at(info), side: self.sides });
        self.replay_leadin(onset, out);
    }

    /// Music heard in idle whose treble stays under the converter's noise (dull music at a low
    /// gain, its drop and groove unheard): the full band [`IDLE_MUSIC_RISE_DB`] over the idle floor
    /// in nine blocks in ten of the last [`IDLE_MUSIC_S`], moving in level like music (a motor's
    /// rumble is steady, a knock on the plinth short); or, while the high band stays under the
    /// drop's threshold `thr`, in half of them with [`IDLE_MUSIC_ONSETS`] onsets (music with quiet
    /// bars; a knock rings down from one). Returns the first loud block.
    fn music_in_idle(&self, thr: f64) -> Option<u64> {
        let floor = self.idle.floor(FULL)?;
        let window = IDLE_MUSIC_S * PER_S;
        let loud_at = floor + IDLE_MUSIC_RISE_DB;
        let recent = || self.history.iter().rev().take(window).take_while(|i| i.first >= self.idle_from);
        // Counted first, without allocating: this runs on every block of idle, where none is loud.
        let (heard, loud) = recent().fold((0, 0), |(n, l), i| (n + 1, l + usize::from(i.s[FULL] > loud_at)));
        let loud = loud as f64 / window as f64;
        if heard < window || loud < 0.5 {
            return None;
        }
        let mut levels: Vec<f64> = recent().map(|i| i.s[FULL]).collect();
        levels.reverse();
        let dull = recent().filter(|i| i.s[HIGH] > thr).count() * 2 < window;
        let music = spreads_like_music(&levels)
            && (loud >= DROP_SHARE || dull && onsets(&levels, loud_at) >= IDLE_MUSIC_ONSETS);
        // The first loud block: half the window may be the idle before the music.
        let first = recent().filter(|i| i.s[FULL] > loud_at).last();
        first.filter(|_| music).map(|i| i.first)
    }

    /// Where the rise began: the earliest block from which nine in ten are over the threshold,
    /// moved back to the needle's thump when one is heard just before it.
    fn drop_onset(&self, thr: f64) -> u64 {
        let (mut above, mut len, mut onset) = (0usize, 0usize, self.history.back().map_or(0, |i| i.first));
        for i in self.history.iter().rev().take(4 * PER_S).take_while(|i| i.first >= self.idle_from) {
            len += 1;
            if i.raw[HIGH] > thr {
                above += 1;
                if above as f64 >= DROP_SHARE * len as f64 {
                    onset = i.first;
                }
            }
            if (above as f64) < 0.5 * len as f64 {
                break;
            }
        }
        let Some(full_floor) = self.idle.floor(FULL) else { return onset };
        let thump = self
            .history
            .iter()
            .filter(|i| i.first < onset && i.first + self.seconds(0.5) >= onset && i.first >= self.idle_from)
            .find(|i| i.raw[FULL] > full_floor + 15.0);
        thump.map_or(onset, |i| i.first)
    }

    /// Where the sound that a needle drop found at `onset` began: earlier than `onset` when the
    /// drop was heard late (music whose treble stayed under the threshold `thr`, a groove under
    /// the converter's noise), back through every half second in which most blocks were over the
    /// idle floor (the full band by [`SOUND_RISE_DB`], or the high band over `thr`), across one quiet
    /// half second but not two. Only the reported start moves: a side that starts early keeps a
    /// little idle, one that starts late loses music.
    fn sound_since(&self, onset: u64, thr: f64) -> u64 {
        let Some(full_floor) = self.idle.floor(FULL) else { return onset };
        self.sound_back(onset, |i: &Info| i.s[FULL] > full_floor + SOUND_RISE_DB || i.s[HIGH] > thr)
    }

    /// The earliest block before `onset`, back to [`Self::idle_from`] at most, reached through
    /// half seconds in which most blocks are `sound`, across one quiet half second but not two.
    fn sound_back(&self, onset: u64, sound: impl Fn(&Info) -> bool) -> u64 {
        let before: Vec<&Info> =
            self.history.iter().filter(|i| i.first < onset && i.first >= self.idle_from).collect();
        let (mut start, mut quiet) = (onset, 0);
        for chunk in before.rchunks(PER_S / 2) {
            let n = chunk.iter().filter(|i| sound(i)).count();
            if (n as f64) < SOUND_SHARE * chunk.len() as f64 {
                // One quiet half second is a soft bar of the music; two are the idle before it.
                quiet += 1;
                if quiet == 2 {
                    break;
                }
                continue;
            }
            quiet = 0;
            start = chunk.iter().find(|i| sound(i)).map_or(start, |i| i.first);
        }
        start
    }

    /// Runs the lead-in logic over the blocks already heard since the needle drop, as if live:
    /// the floor starts at the quietest tenth of them (the groove, even when music followed it
    /// before the drop was heard) and the lead-in's noise refines it.
    fn replay_leadin(&mut self, onset: u64, out: &mut Vec<Decision>) {
        // The thump rings for a few hundred milliseconds: it is neither noise nor music.
        let skip = onset + self.seconds(1.0);
        let heard: Vec<Info> = self.history.iter().filter(|i| i.first >= skip).copied().collect();
        let raws: Vec<[f64; 4]> = heard.iter().map(|i| i.raw).collect();
        self.side.leadin = Vec::new();
        self.side.floor = quantiles(&raws, 0.1);
        let now = self.history.back().map_or(onset, |i| self.at(i));
        let mut decided = Vec::new();
        for info in heard {
            if self.phase == Phase::LeadIn {
                self.leadin_step(&info, &mut decided);
            }
        }
        // Decided now, whatever block they name.
        out.extend(decided.into_iter().map(|d| match d {
            Decision::TrackStart { frame, side, track, .. } => {
                Decision::TrackStart { frame, at: now, side, track }
            }
            other => other,
        }));
    }

    fn leadin_block(&mut self, info: &Info, out: &mut Vec<Decision>) {
        self.leadin_step(info, out);
        if self.phase == Phase::LeadIn && info.first >= self.side.onset + self.seconds(SILENCE_S as f64) {
            if self.moved_like_music(self.side.onset + self.seconds(1.0)) {
                // No music over a floor that was music itself: the needle landed on a track.
                self.start_in_music(info, out);
            } else {
                self.end(self.side.onset, info, EndReason::Silence, None, out);
            }
        }
    }

    /// One lead-in block: noise refines the floor; music for 0.3 s is track 1.
    fn leadin_step(&mut self, info: &Info, out: &mut Vec<Decision>) {
        if self.leadin_is_music(info) {
            self.start_in_music(info, out);
            return;
        }
        let f = self.side.floor;
        let margin = (0..4).map(|b| info.s[b] - f[b]).fold(f64::MIN, f64::max);
        if margin <= MUSIC_RISE_DB / 2.0 {
            self.side.leadin.push(info.raw);
            if self.side.leadin.len() % PER_S == 0 {
                self.side.floor = floors(&self.side.leadin);
            }
        }
        if margin <= MUSIC_RISE_DB {
            self.side.music_run = (0, 0);
            self.noise_block(info, None);
            return;
        }
        let run = &mut self.side.music_run;
        if run.0 == 0 {
            run.1 = info.first;
        }
        run.0 += 1;
        if run.0 >= 3 * PER_S / 10 {
            let run_start = run.1;
            // Music from the first block heard after the thump was playing at the drop.
            let heard_first = self.side.onset + self.seconds(1.0) + self.blocks_to_frames(LAG);
            let frame = if run_start <= heard_first {
                self.side.onset
            } else {
                run_start.saturating_sub(self.blocks_to_frames(LAG)).max(self.side.onset)
            };
            if self.side.leadin.len() >= PER_S / 2 {
                self.side.floor = floors(&self.side.leadin);
            } else {
                // Too little lead-in to measure the groove in (music came within a second and a
                // half of the drop): the floor is searched for as if the needle landed on a track.
                self.search_floor(self.side.onset + self.seconds(1.0));
            }
            self.phase = Phase::Music;
            self.track = 1;
            out.push(Decision::TrackStart { frame, at: self.at(info), side: self.sides, track: 1 });
        }
    }

    /// Notes the lead-in's smoothed level; true when its first second spreads like music.
    fn leadin_is_music(&mut self, info: &Info) -> bool {
        if info.first < self.side.onset + self.seconds(1.0) {
            return false;
        }
        let levels = &mut self.side.leadin_levels;
        if levels.len() >= PER_S {
            return false;
        }
        levels.push(info.s[FULL]);
        // Its first second alone: after it, the music that follows a real lead-in may be rising.
        levels.len() == PER_S && spreads_like_music(levels)
    }

    /// The needle landed in the music: track 1 from the drop, and the floor searched for as a
    /// resumed side's (see the module's charter), over what was heard since the thump too.
    fn start_in_music(&mut self, info: &Info, out: &mut Vec<Decision>) {
        let onset = self.side.onset;
        self.search_floor(onset + self.seconds(1.0));
        self.side.music_run = (0, 0);
        self.phase = Phase::Music;
        self.track = 1;
        out.push(Decision::TrackStart { frame: onset, at: self.at(info), side: self.sides, track: 1 });
    }

    /// Forgets the side's floor and searches for it as the quietest second clearly under the music
    /// (see the module's charter), over what was heard from `since` too; until it is found no gap,
    /// run-out or lift is decided.
    fn search_floor(&mut self, since: u64) {
        let mut heard = IdleFloor::default();
        for i in self.history.iter().filter(|i| i.first >= since) {
            heard.add(i.raw);
        }
        self.side.floor_from_music = true;
        self.side.floor = [UNSET; 4];
        self.resumed = Some(heard);
    }

    /// Whether what was heard from `since` (the history's 30 s at most) spread in level like music:
    /// a stretch without music that did, was music under a floor measured on music.
    fn moved_like_music(&self, since: u64) -> bool {
        let levels: Vec<f64> = self.history.iter().filter(|i| i.first >= since).map(|i| i.s[FULL]).collect();
        levels.len() >= PER_S && spreads_like_music(&levels)
    }

    /// Counts a block without music for the report, and its click (a run-out's too).
    fn noise_block(&mut self, info: &Info, b: Option<&Block>) -> Option<Click> {
        let s = &mut self.side;
        s.noise_blocks += 1;
        if s.noise.len() < 1 << 20 {
            s.noise.push(info.raw[FULL] as f32);
        }
        let b = b?;
        let crest = db(b.impulse) - s.floor[HIGH];
        (crest >= CLICK_DB).then(|| {
            s.clicks += 1;
            Click { frame: b.impulse_frame, db: crest }
        })
    }
}

impl Detector {
    /// Music: gaps become track markers; a run-out, or a long silence, ends the side.
    fn music_block(&mut self, b: &Block, info: &Info, out: &mut Vec<Decision>) {
        let f = self.side.floor;
        let margin = (0..4).map(|k| info.s[k] - f[k] - GAP_ALLOW_DB[k]).fold(f64::MIN, f64::max);
        self.confirm_pending(info, out);
        let Some(mut dip) = self.side.dip else {
            if margin <= 0.0 {
                let start = info.first.saturating_sub(self.blocks_to_frames(LAG));
                self.side.dip = Some(Dip { start, exit: (0, 0) });
                self.side.runout.begin(start);
            } else {
                let bin = ((info.s[FULL] + 150.0) * 2.0).clamp(0.0, 299.0) as usize;
                self.side.music.resize(300, 0);
                self.side.music[bin] += 1;
            }
            return;
        };
        if let Some(click) = self.noise_block(info, Some(b))
            && let Some(train) = self.side.runout.click(click, self.rate)
            // A locked groove is stationary noise: a train over a stretch that moved like music
            // was its beat, heard under a floor measured on music (a needle dropped onto a track).
            && !self.moved_like_music(train.first.max(dip.start))
        {
            let frame = train.first.max(dip.start);
            let rpm = (train.rpm(self.rate) * 100.0).round() / 100.0;
            self.end(frame, info, EndReason::Runout, Some(rpm), out);
            return;
        }
        if margin > 2.0 {
            if dip.exit.0 == 0 {
                dip.exit.1 = info.first;
            }
            dip.exit.0 += 1;
        } else {
            dip.exit.0 = 0;
        }
        self.side.dip = Some(dip);
        if dip.exit.0 >= 5 {
            self.side.dip = None;
            self.gap_ended(dip.start, dip.exit.1.saturating_sub(self.blocks_to_frames(LAG)));
        } else if info.first >= dip.start + self.seconds(SILENCE_S as f64) {
            if self.moved_like_music(dip.start) {
                // Music under a floor that was music itself: the floor is searched for again.
                self.side.dip = None;
                self.side.pending = None;
                self.search_floor(dip.start);
            } else {
                self.end(dip.start, info, EndReason::Silence, None, out);
            }
        }
    }

    /// A stretch without music ended at `end`: a gap between tracks if its length fits and
    /// music at the side's level came just before it (and, to be confirmed, comes just after).
    fn gap_ended(&mut self, start: u64, end: u64) {
        let len = end.saturating_sub(start);
        if len < self.seconds(GAP_S.0) || len > self.seconds(GAP_S.1) {
            return;
        }
        let Some(loud) = self.loud_level() else { return };
        let from = start.saturating_sub(self.seconds(4.0));
        let before = self.history.iter().filter(|i| i.first >= from && i.first < start).map(|i| i.s[FULL]);
        if before.fold(f64::MIN, f64::max) < loud {
            return;
        }
        let frame = end - (len / 2).min(self.seconds(1.0));
        self.side.pending = Some(Pending { frame, end, loud_blocks: 0 });
    }

    /// A pending gap's track is confirmed when the music after it is loud enough for long
    /// enough (short breaks in it do not matter), or dropped.
    fn confirm_pending(&mut self, info: &Info, out: &mut Vec<Decision>) {
        let Some(mut p) = self.side.pending else { return };
        if self.loud_level().is_some_and(|loud| info.s[FULL] >= loud) {
            p.loud_blocks += 1;
        }
        self.side.pending = Some(p);
        if info.first < p.end + self.seconds(CONFIRM_S) {
            return;
        }
        self.side.pending = None;
        if p.loud_blocks as f64 >= LOUD_S * PER_S as f64 {
            self.track += 1;
            out.push(Decision::TrackStart {
                frame: p.frame,
                at: self.at(info),
                side: self.sides,
                track: self.track,
            });
        }
    }

    /// The level music reaches around a gap: within [`CONTEXT_DB`] of the side's level, and
    /// [`MUSIC_OVER_NOISE_DB`] over its noise.
    fn loud_level(&self) -> Option<f64> {
        Some((self.music_level()? - CONTEXT_DB).max(self.side.floor[FULL] + MUSIC_OVER_NOISE_DB))
    }

    /// The side's music level: the 75th percentile of its smoothed full-band level.
    fn music_level(&self) -> Option<f64> {
        let total: u32 = self.side.music.iter().sum();
        if total < PER_S as u32 {
            return None;
        }
        let mut seen = 0;
        let bin = self.side.music.iter().position(|&n| {
            seen += n;
            seen as f64 >= 0.75 * total as f64
        })?;
        Some(bin as f64 / 2.0 - 150.0)
    }

    /// After the end: only a lift (handled in [`Self::lifted`]) or music again (a new side): some
    /// band over the side's noise for [`MUSIC_AGAIN_S`] (a lift's thump on a groove under the
    /// converter's noise rings over it for a second, and the lift itself is not heard).
    fn ended_block(&mut self, info: &Info, out: &mut Vec<Decision>) {
        let f = self.side.floor;
        let margin = (0..4).map(|b| info.s[b] - f[b]).fold(f64::MIN, f64::max);
        let run = &mut self.side.music_run;
        if margin <= MUSIC_RISE_DB {
            *run = (0, 0);
            return;
        }
        if run.0 == 0 {
            run.1 = info.first;
        }
        run.0 += 1;
        if run.0 >= MUSIC_AGAIN_S * PER_S {
            // Back across a soft bar that broke the run, never before the side's end.
            let start = run.1.saturating_sub(self.blocks_to_frames(LAG));
            let sound = |i: &Info| (0..4).any(|b| i.s[b] - f[b] > MUSIC_RISE_DB);
            let frame = self.sound_back(start, sound);
            let floor = self.side.floor;
            self.sides += 1;
            self.side = Side { onset: frame, floor, ..Side::default() };
            self.phase = Phase::Music;
            self.track = 1;
            out.push(Decision::SideStart { frame, at: self.at(info), side: self.sides });
            out.push(Decision::TrackStart { frame, at: self.at(info), side: self.sides, track: 1 });
        }
    }

    /// Ends the side at `frame`.
    fn end(&mut self, frame: u64, info: &Info, reason: EndReason, rpm: Option<f64>, out: &mut Vec<Decision>) {
        self.idle_from = frame;
        self.resumed = None;
        self.side.pending = None;
        self.side.dip = None;
        self.side.music_run = (0, 0);
        self.phase = Phase::Ended;
        out.push(Decision::SideEnd { frame, at: self.at(info), side: self.sides, reason, rpm });
    }

    /// The high band fell to the idle level for [`LIFT_S`]: the stylus left the record.
    fn lifted(&mut self, info: &Info, out: &mut Vec<Decision>) -> bool {
        let side_high = self.side.floor[HIGH];
        let thr = match self.idle.floor(HIGH) {
            Some(idle) if side_high - idle >= DROP_RISE_DB - 1.0 => idle + 0.4 * (side_high - idle),
            _ => side_high - 10.0,
        };
        let run = &mut self.side.lift_run;
        if info.raw[HIGH] > thr {
            *run = (0, 0);
            return false;
        }
        if run.0 == 0 {
            run.1 = info.first;
        }
        run.0 += 1;
        if (run.0 as f64) < LIFT_S * PER_S as f64 {
            return false;
        }
        let (frame, at) = (run.1, self.at(info));
        match self.phase {
            Phase::Ended => out.push(Decision::Lift { frame, at }),
            _ => out.push(Decision::SideEnd {
                frame,
                at,
                side: self.sides,
                reason: EndReason::Lift,
                rpm: None,
            }),
        }
        self.side.pending = None;
        self.side.dip = None;
        self.side.lift_run = (0, 0);
        self.phase = Phase::Idle;
        self.idle_from = frame;
        self.resumed = None;
        true
    }
}

/// How far (dB) the quietest second must lie under the loudest for a resumed side to take it as
/// its noise floor (a gap or the run-out, not a quieter bar of music).
const RESUMED_FLOOR_DB: f64 = 15.0;

/// The floor of a side resumed in its middle: the quietest second heard since, once it is
/// clearly quieter than the music ([`RESUMED_FLOOR_DB`]); until then none (all is music).
fn resumed_floor(heard: &IdleFloor) -> Option<[f64; 4]> {
    let loudest = heard.medians.iter().map(|m| m[FULL]).fold(f64::MIN, f64::max);
    let quiet = heard.medians.iter().min_by(|a, b| a[FULL].total_cmp(&b[FULL]))?;
    (loudest - quiet[FULL] >= RESUMED_FLOOR_DB).then_some(*quiet)
}

/// Whether smoothed levels spread like music rather than a groove's noise ([`LEADIN_MUSIC_DB`]).
fn spreads_like_music(levels: &[f64]) -> bool {
    let (lo, hi) = (percentile(levels.iter().copied(), 0.1), percentile(levels.iter().copied(), 0.9));
    hi - lo > LEADIN_MUSIC_DB
}

/// Onsets in `levels` (smoothed, oldest first): blocks over `loud` that rise 6 dB over the
/// quietest of the 0.3 s before them, counted once per rise. A knock rings down from one onset;
/// music starts note after note.
fn onsets(levels: &[f64], loud: f64) -> usize {
    let back = 3 * PER_S / 10;
    let (mut n, mut rising) = (0, false);
    for k in back..levels.len() {
        let low = levels[k - back..k].iter().copied().fold(f64::MAX, f64::min);
        let up = levels[k] > loud && levels[k] - low >= 6.0;
        n += usize::from(up && !rising);
        rising = up;
    }
    n
}

/// The median of each band over `blocks`.
fn floors(blocks: &[[f64; 4]]) -> [f64; 4] {
    quantiles(blocks, 0.5)
}

/// The `q` quantile of each band over `blocks` (under every level when there are none).
fn quantiles(blocks: &[[f64; 4]], q: f64) -> [f64; 4] {
    if blocks.is_empty() {
        return [f64::MIN / 4.0; 4];
    }
    std::array::from_fn(|b| percentile(blocks.iter().map(|r| r[b]), q))
}

/// The `q` quantile of `values` (nearest rank).
pub fn percentile(values: impl Iterator<Item = f64>, q: f64) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return f64::NAN;
    }
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    *v.select_nth_unstable_by(k, f64::total_cmp).1
}
