//! Recognition of a replay: which learned side this audio is, where in it, and at what speed.
//!
//! Owns the matcher ([`Recognizer`]): each of the query's pairs ([`super::print::QUERY`]) looks
//! up the keys a learned pair could have stored for it at any speed from −2.5 % to +2.5 %
//! ([`print::query_keys`]), and each stored pair found gives the query's speed over the learned
//! side's (the two anchors' frequencies, [`print::unpack_t`]). It votes for (print, speed,
//! alignment) under the candidate speeds (0.5 % steps) within [`print::TOL`] of that speed, the
//! alignment being the learned frame at the query's first frame. A
//! side is recognised when its best alignment (votes within ±2 frames) has at least
//! [`MIN_VOTES`] votes, [`MARGIN`] times the votes of the best other side and [`LEAD`] votes more:
//! a replay piles its votes on one alignment, while chance (and music that merely resembles)
//! scatters them. The ratio guards against a side that shares music with the winner; the lead
//! against the few votes chance gives every side (an hour of idle deck and sides in no album gave
//! the best side at most 6 votes and a lead of 3; `scripts/bench 95-recognize`).
//! A pair the query repeats more than [`QUERY_REPEATS`] times (hum, a locked groove, a loop) stops
//! voting: learning keeps no key its side repeats more than [`MAX_REPEATS`] times, and a query,
//! which pairs each peak with three times the partners, repeats a key more often than the
//! learned copy of the same music does. A key that more than a fifth of the collection's
//! prints hold (`COMMON_SHARE`, and more than `COMMON_MIN` pairs) is not looked up: it says
//! little about which side plays and, at 1,000 sides, cast a fifth of the votes (all chance's).
//! Music the side holds twice (a chorus) gives two
//! alignments; the recogniser waits until one has 1.25 times the votes of any other place on the
//! side and 4 more (at most `LOOP_WAIT_S`: then the side is certain, and of the places with 3/4 of the
//! leader's votes the one nearest the learned side's start is taken, as a side heard from its
//! needle drop lines up with the learned side's start). Two alignments
//! are one place when their lines (learned frame against heard frame, at their speeds) meet within
//! the audio heard: the same music voting under two candidate speeds is not a repeat.
//! The speed and the place are then fitted to the frames of the pairs that voted (least squares).
//! Scoring is kept up to date vote by vote, so a long query costs time in proportion to it.
//!
//! A query can also be restarted on the same collection, and narrowed to some prints
//! ([`Recognizer::restart`], [`Recognizer::keep_prints`]), and its alignment read unrounded
//! ([`Recognizer::alignment`]): `vinyl-qa` aligns windows of a side with one learned recording of
//! it to measure the deck's drift (`qa::drift`).
//!
//! It does not decode files or print ([`run`] does, for `vinyl-library recognize`). How it fails:
//! a database error is returned naming the step; audio that matches nothing is `None`.

use super::cli::RecognizeOpts;
use super::db::{KnownPrint, Library};
use super::print::{self, Pair, Printer};
use super::votes::Votes;
use crate::cli::ExitStatusError;
use anyhow::Context as _;
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use std::cell::Cell;
use std::time::Duration;

/// Votes the best alignment needs.
pub const MIN_VOTES: u32 = 8;
/// How many times the best other side's votes the winner needs.
pub const MARGIN: u32 = 2;
/// How many votes more than the best other side the winner needs.
pub const LEAD: u32 = 5;
/// Times a learned side may repeat one key and still store it (hum, a locked groove, a loop).
pub const MAX_REPEATS: u32 = 3;
/// Times a query may repeat one pair before it stops voting. Higher than [`MAX_REPEATS`]: the
/// query pairs each peak with 6 partners, learning with 2, so music that repeats a note (a
/// melody on one pitch) repeats the query's keys past 3 while the learned copy stored its own.
/// At 3, scripts/bench 95-recognize's slowest replay of such music took 16.7 s; at 8, 14.5 s
/// (more gave no more), with what chance gives unchanged.
pub const QUERY_REPEATS: u32 = 8;
/// A key holding more stored pairs than this share of the prints compared (and than
/// [`COMMON_MIN`]) is left out of the votes: at 1,000 sides such keys (more than 200 pairs)
/// hold 5 % of the pairs but cast a fifth of the votes (scripts/bench 95-recognize at 1,000
/// sides, before and after: the matching 62 -> 46.6 ms median, the needle drop to recognition
/// 11.86 -> 11.94 s median, every replay still right).
const COMMON_SHARE: usize = 5;
/// The fewest stored pairs a key must hold to be too common (so a small collection loses none).
const COMMON_MIN: usize = 200;
/// Alignments further apart than this (frames) are other places on the side.
const FAR: i32 = 6;
/// Seconds after which a side that is certain is reported even though its music repeats (at the
/// place nearest its start; the listener tells the place again at its refine). A listener's
/// query starts at the needle drop, so a 20 s wait was 20 s of latency on looping music; with
/// [`TRY_S`] it took scripts/bench 95-recognize's median from 13.45 to 11.86 s.
const LOOP_WAIT_S: f64 = 8.0;
/// Seconds of audio between two tries at a match (the CLI's and the listener's): a try a second
/// cost half a second of latency on average.
pub const TRY_S: f64 = 0.25;
/// Places voted for (print, speed, alignment) beyond which those with a single vote are dropped,
/// under the [`Votes`] table's room (786,432 of 2^20). A smaller bound loses, at 1,000 sides, the
/// first votes of a slow replay's place before its second comes.
const MAX_BINS: usize = 500_000;
/// Stored pairs kept in memory once looked up (4 MiB): a replay is recognised long before; a long
/// query past it looks keys up again.
const CACHE_POSTINGS: usize = 500_000;
/// How far from the vote's speed a stored pair's own speed may be to count in the fit (two and a
/// half steps: the vote's step is only where the fit starts).
const FIT_SPEED: f64 = 0.0125;
/// Places of one side kept while they compete.
const PLACES: usize = 4;
/// Votes a place needs over the side's next place (besides 1.25 times its votes).
const PLACE_LEAD: u32 = 4;
/// Candidate speeds (query over learned).
const SPEEDS: [f64; 11] = [0.975, 0.98, 0.985, 0.99, 0.995, 1.0, 1.005, 1.01, 1.015, 1.02, 1.025];
/// The steps' spacing.
const SPEED_STEP: f64 = 0.005;
/// Every candidate speed, as a set (bit i: `SPEEDS[i]`).
const ALL_SPEEDS: u16 = (1 << SPEEDS.len()) - 1;
/// How far from the speed the run-outs give (the deck's now over the learned recording's) the
/// search looks first: three steps, as a deck drifts by a few tenths of a percent between sides,
/// and a run-out measures it to a few hundredths.
const PRIOR_WIDTH: f64 = 0.0075;
/// Seconds of audio after which a search the run-outs narrowed widens to every speed: the deck's
/// speed was changed since its last run-out.
pub const PRIOR_S: f64 = 12.0;
/// The speeds records are cut for (rpm), and how far off them a deck may run.
const NOMINAL_RPM: [f64; 3] = [100.0 / 3.0, 45.0, 78.0];
const DECK_OFF: f64 = 0.04;

/// The deck's speed over the nominal (33⅓, 45 or 78 rpm) from a run-out's `rpm`; None when the
/// rpm is no turntable's (more than 4 % off each).
pub fn deck_speed(rpm: f64) -> Option<f64> {
    speed_within(rpm, DECK_OFF)
}

/// The deck's speed over the nominal from `rpm`, when it is within `off` (a fraction) of one.
pub fn speed_within(rpm: f64, off: f64) -> Option<f64> {
    NOMINAL_RPM.iter().map(|n| rpm / n).find(|r| (r - 1.0).abs() <= off)
}

/// The deck's speed that a recording's `VINYL_RPM` tag (auto's, from the listener's run-out)
/// gives, when it has one.
pub fn tagged_deck_speed(p: &crate::flac::probe::Probe) -> Option<f64> {
    p.tag("VINYL_RPM")?.trim().parse::<f64>().ok().filter(|r| r.is_finite()).and_then(deck_speed)
}

/// The candidate speeds within [`PRIOR_WIDTH`] of `prior`, as a set.
fn speeds_near(prior: f64) -> u16 {
    let near = |r: f64| (r - prior).abs() <= PRIOR_WIDTH + 1e-9;
    SPEEDS.iter().enumerate().filter(|(_, r)| near(**r)).fold(0, |set, (i, _)| set | 1 << i)
}

/// A recognised side, as `recognize` prints it and the events carry it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Match {
    /// The album's artist.
    pub artist: String,
    /// The album's title.
    pub album: String,
    /// The side: A, B…
    pub side: String,
    /// The track playing at the point of recognition, from 1.
    pub track: usize,
    /// The side and track: A2.
    pub position: String,
    /// That track's title, when the collection has it.
    pub title: Option<String>,
    /// Where the query's first frame is in the learned side, in seconds.
    pub offset_s: f64,
    /// The query's speed over the learned side's (1.02: 2 % faster).
    pub speed_ratio: f64,
    /// 0..1: how far the winner stands above the best other side.
    pub confidence: f64,
    /// Seconds of the query heard when it was recognised.
    pub heard_s: f64,
    /// The learned recording's print it was aligned with (its offset and tracks are that one's).
    #[serde(skip)]
    pub print: i64,
}

impl Match {
    /// The track (and its title) at `learned_s` seconds into the learned side.
    fn at(&mut self, p: &KnownPrint, learned_s: f64) {
        self.track = p.track_starts.iter().filter(|&&s| s <= learned_s).count().max(1);
        self.position = format!("{}{}", self.side, self.track);
        self.title = p.titles.get(self.track - 1).cloned();
    }
}

/// The fitted alignment of a query with one learned print, unrounded ([`Recognizer::alignment`]):
/// what measuring a deck's speed against a learned side needs beyond a [`Match`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Alignment {
    /// The learned print (its number in the collection).
    pub print: i64,
    /// The learned print's side (its number in the collection).
    pub side_id: i64,
    /// The query's speed over the learned side's, fitted (1.0032: 0.32 % faster).
    pub speed: f64,
    /// Where the query's first frame is in the learned side (s).
    pub at_first_s: f64,
}

/// The places of one print that lead so far, most votes first: up to [`PLACES`] alignments
/// (speed step, learned frame at the query's first), no two of them the same place.
#[derive(Clone, Debug, Default)]
struct Places(Vec<((u8, i32), u32)>);

impl Places {
    /// Takes `score` votes for the window at `at`, `heard` learned frames into the query.
    fn update(&mut self, at: (u8, i32), score: u32, heard: f64) {
        match self.0.iter().position(|(p, _)| same_place(*p, at, heard)) {
            Some(i) if score <= self.0[i].1 => return,
            Some(i) => self.0[i] = (at, score),
            None if self.0.len() >= PLACES && self.0.last().is_some_and(|p| score <= p.1) => return,
            None => self.0.push((at, score)),
        }
        self.0.sort_by_key(|p| std::cmp::Reverse(p.1));
        // A place that moved may now be one with another: the one with fewer votes goes.
        let mut i = 1;
        while i < self.0.len() {
            let p = self.0[i].0;
            if self.0[..i].iter().any(|(k, _)| same_place(*k, p, heard)) {
                self.0.remove(i);
            } else {
                i += 1;
            }
        }
        self.0.truncate(PLACES);
    }

    /// The leading place and its votes.
    fn lead(&self) -> ((u8, i32), u32) {
        self.0.first().copied().unwrap_or_default()
    }

    /// The votes of the best other place.
    fn elsewhere(&self) -> u32 {
        self.0.get(1).map_or(0, |p| p.1)
    }

    /// The place a loop leaves undecided: of the places with at least 3/4 of the leader's votes,
    /// the one nearest the learned side's start, as a side heard from its needle drop lines up
    /// with the learned side's own start.
    fn nearest_start(&self) -> ((u8, i32), u32) {
        let lead = self.lead().1;
        self.0.iter().copied().filter(|p| 4 * p.1 >= 3 * lead).min_by_key(|p| p.0.1.abs()).unwrap_or_default()
    }
}

/// The streaming matcher of one query against a collection.
pub struct Recognizer {
    lib: Library,
    /// The learned prints; votes name a print by its place here ([`Print`]).
    prints: Vec<KnownPrint>,
    /// A print's place in `prints`, by its number in the collection.
    index: HashMap<i64, Print>,
    printer: Printer,
    /// The query's channels, for a new printer at [`Recognizer::restart`].
    printer_channels: u16,
    hop_q: f64,
    rate: f64,
    /// More stored pairs than a key may hold and still vote ([`COMMON_SHARE`]).
    common: usize,
    /// The stored pairs of the keys looked up, up to [`CACHE_POSTINGS`] of them, and how many.
    postings: HashMap<u32, Postings>,
    cached: usize,
    tally: Tally,
    /// The places one pair votes for ([`place_key`]), kept to reuse its room.
    cast: Vec<u64>,
    /// CPU time spent matching ([`Recognizer::matching_cpu`]).
    matching: Cell<Duration>,
    frames: u64,
    /// The pairs that voted, each with the frames heard when it did (to vote again the same).
    pairs: Vec<(Pair, u64)>,
    seen: HashMap<u32, u32>,
    trace: bool,
    /// The speeds searched for each print the run-outs narrowed ([`Recognizer::expect_deck_speed`]);
    /// a print not in it is searched at every speed.
    narrowed: HashMap<Print, u16>,
    /// Every speed some print is searched at: the union of `narrowed` (and all of them while a
    /// print is not narrowed), kept so that a key no print is searched under is not looked up.
    open: u16,
    /// Whether the search is narrowed and the first feed at [`PRIOR_S`] is still to decide
    /// whether it widens: once decided, never again (deciding looks keys up to fit a match).
    prior_pending: bool,
}

/// A print's place in [`Recognizer::prints`]: a vote's key packs it (20 bits) with the speed step
/// (4) and the alignment (24, signed: ±4 hours of frames) into the 48 bits of a [`Votes`] key.
type Print = u32;

/// Prints a recogniser compares at most (the bits of [`Print`] in a key).
const MAX_PRINTS: usize = 1 << 20;

/// A stored pair a query pair found: (print, learned frame, the query's speed over the learned
/// side's that the two anchors' frequencies give).
type Hit = (Print, u32, f64);

/// The stored pairs of one key: (print, what learning stored with the key: [`Pair::stored_t`]).
type Postings = Vec<(Print, u32)>;

/// A voted place: (print, speed step, alignment).
type Place = (Print, u8, i32);

/// This thread's CPU time so far (zero where the clock cannot be read: then nothing is counted).
fn thread_cpu() -> Duration {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map(Duration::from).unwrap_or_default()
}

/// A place as a number that sorts as the place does (the alignment offset to stay positive):
/// the places one pair votes for are sorted and made unique as numbers.
fn place_key((print, speed, d): Place) -> u64 {
    u64::from(print) << 32 | u64::from(speed) << 24 | u64::from((d + (1 << 23)) as u32 & 0xFF_FFFF)
}

/// The place [`place_key`] made the number of.
fn place_of(key: u64) -> Place {
    ((key >> 32) as Print, (key >> 24) as u8, (key & 0xFF_FFFF) as i32 - (1 << 23))
}

/// The candidate speed steps within [`print::TOL`] of speed `r` (at most two: the steps are
/// 0.5 % apart, the tolerance under that).
fn speeds_within(r: f64) -> impl Iterator<Item = u8> {
    let near = ((r - SPEEDS[0]) / SPEED_STEP).round();
    let first = (near - 1.0).max(0.0) as usize;
    (first..(first + 3).min(SPEEDS.len()))
        .filter(move |&i| (SPEEDS[i] - r).abs() <= print::TOL)
        .map(|i| i as u8)
}

/// A place as its vote's key.
fn pack((print, speed, d): Place) -> u64 {
    u64::from(print) << 28 | u64::from(speed & 15) << 24 | u64::from(d as u32 & 0xFF_FFFF)
}

/// The votes for (print, speed step, alignment), and the places they make lead on each print.
struct Tally {
    votes: Votes,
    leaders: HashMap<Print, Places>,
}

impl Default for Tally {
    /// From 2^14 places (128 KiB) up to 2^20 (8 MiB): [`MAX_BINS`] stays under its room.
    fn default() -> Tally {
        Tally { votes: Votes::new(14, 20), leaders: HashMap::default() }
    }
}

impl Tally {
    /// One vote for `v`; `heard` is the query's length so far in that print's frames.
    fn vote(&mut self, v: Place, heard: f64) {
        self.votes.add(pack(v));
        self.rescore(v, heard);
    }

    /// The votes of place `v`.
    fn count(&self, v: Place) -> u32 {
        self.votes.get(pack(v))
    }

    /// Past `max` voted places, the ones chance gave a single vote go, then (while more than half
    /// of `max` stay) those with two, then three: chance scatters votes one or two to a place, a
    /// replay's pile up, so the table keeps room under a large collection and a long query.
    fn prune(&mut self, max: usize) {
        let mut floor = 1;
        while self.votes.len() > max || (floor > 1 && floor <= 3 && self.votes.len() > max / 2) {
            self.votes.retain(|_, n| n > floor);
            floor += 1;
        }
    }

    /// Updates the leaders after a vote for `(print, speed, d)`: the windows (±2 frames) that
    /// hold it have grown. Keeps the scoring linear in the votes, however long the query.
    fn rescore(&mut self, (print, speed, d): Place, heard: f64) {
        let window = |centre: i32| -> u32 { (-2..=2).map(|e| self.count((print, speed, centre + e))).sum() };
        if window(d) < 2 {
            // A lone vote (most of chance's): no window holding it can lead anything yet.
            return;
        }
        // The five windows' scores first (the places borrow the tally mutably), without an
        // allocation: this runs for most votes under a large collection.
        let scores: [(i32, u32); 5] = std::array::from_fn(|i| (d - 2 + i as i32, window(d - 2 + i as i32)));
        let places = self.leaders.entry(print).or_default();
        for (centre, score) in scores {
            places.update((speed, centre), score, heard);
        }
    }
}

impl Recognizer {
    /// A matcher for audio of `rate` Hz and `channels` channels against the prints of `lib` (read
    /// once, now).
    pub fn new(lib: Library, rate: u32, channels: u16) -> anyhow::Result<Recognizer> {
        let prints = lib.known_prints()?;
        if prints.len() > MAX_PRINTS {
            anyhow::bail!(
                "the collection holds {} learned prints; recognition compares at most {MAX_PRINTS}",
                prints.len()
            );
        }
        let index = prints.iter().zip(0..).map(|(p, i)| (p.id, i)).collect();
        let common = (prints.len() / COMMON_SHARE).max(COMMON_MIN);
        let printer = Printer::new(rate, channels, print::QUERY);
        let hop_q = printer.hop_s();
        Ok(Recognizer {
            lib,
            prints,
            index,
            common,
            printer,
            printer_channels: channels,
            hop_q,
            rate: f64::from(rate),
            postings: HashMap::default(),
            cached: 0,
            tally: Tally::default(),
            cast: Vec::new(),
            matching: Cell::default(),
            frames: 0,
            pairs: Vec::new(),
            seen: HashMap::default(),
            trace: std::env::var_os("VINYL_RECOGNIZE_TRACE").is_some_and(|v| !v.is_empty()),
            narrowed: HashMap::default(),
            open: ALL_SPEEDS,
            prior_pending: false,
        })
    }

    /// Narrows the search by the run-outs, for the first [`PRIOR_S`] seconds: `deck` is the deck's
    /// speed over the nominal now ([`deck_speed`] of its last run-out), and each print learned
    /// with its own deck's speed is searched within `PRIOR_WIDTH` of the ratio of the two.
    /// Prints learned without one are searched at every speed. Call before feeding; returns how
    /// many prints were narrowed.
    pub fn expect_deck_speed(&mut self, deck: f64) -> usize {
        self.narrowed = (self.prints.iter().zip(0..))
            .filter_map(|(p, i)| Some((i, speeds_near(deck / p.deck_speed?))).filter(|(_, set)| *set != 0))
            .collect();
        let unnarrowed = self.prints.len() > self.narrowed.len();
        self.open = self.narrowed.values().fold(if unnarrowed { ALL_SPEEDS } else { 0 }, |a, set| a | set);
        self.prior_pending = !self.narrowed.is_empty();
        self.narrowed.len()
    }

    /// Where the tracks of the print `m` was aligned with start, and the side's titles: two
    /// recordings of one side start at other places, so the offset is only that print's.
    pub fn tracks_of(&self, m: &Match) -> (Vec<f64>, Vec<String>) {
        let known = self.index.get(&m.print).and_then(|&i| self.known(i));
        known.map(|p| (p.track_starts.clone(), p.titles.clone())).unwrap_or_default()
    }

    /// The stored pairs with `key`, of the prints compared (not those of another print version or
    /// of a recording no longer named); none for a key too common to vote ([`COMMON_SHARE`]).
    fn fetch(&self, key: u32) -> anyhow::Result<Postings> {
        let mut found = Vec::new();
        self.lib.postings(key, |id, t| found.extend(self.index.get(&id).map(|&print| (print, t))))?;
        if found.len() > self.common {
            found.clear();
        }
        Ok(found)
    }

    /// Calls `each` with the stored pairs query pair `p`'s keys find ([`print::query_keys`]),
    /// each as (print, learned frame, speed: the query's anchor frequency over the learned
    /// one's); returns the keys it looked up that were not cached, with their pairs, for the
    /// caller to cache. A database error is returned, never taken for a key without pairs.
    fn hits(&self, p: &Pair, mut each: impl FnMut(Hit)) -> anyhow::Result<Vec<(u32, Postings)>> {
        let mut looked_up = Vec::new();
        for key in print::query_keys(p) {
            let fetched = match self.postings.contains_key(&key) {
                true => None,
                false => Some(self.fetch(key).context("look the fingerprint up")?),
            };
            let found = fetched.as_deref().unwrap_or_else(|| &self.postings[&key]);
            for &(print, stored) in found {
                let (t_ref, f_ref) = print::unpack_t(stored);
                each((print, t_ref, f64::from(p.f1) / f_ref));
            }
            looked_up.extend(fetched.map(|found| (key, found)));
        }
        Ok(looked_up)
    }

    /// The print at place `print`.
    fn known(&self, print: Print) -> Option<&KnownPrint> {
        self.prints.get(print as usize)
    }

    /// Compares only the prints `keep` accepts from now on (others are no longer looked up nor
    /// voted for); returns how many are left. Votes cast so far are dropped: call it before a
    /// query, or after [`Recognizer::restart`].
    pub fn keep_prints(&mut self, keep: impl Fn(&KnownPrint) -> bool) -> usize {
        self.index = self.prints.iter().zip(0..).filter(|(p, _)| keep(p)).map(|(p, i)| (p.id, i)).collect();
        // The cached pairs name prints that may be gone.
        self.postings.clear();
        self.cached = 0;
        self.tally = Tally::default();
        self.index.len()
    }

    /// Starts another query on the same collection: what was heard and voted goes; the prints
    /// compared, the cached pairs and the matching time stay (a second query costs no reading
    /// of the prints again, and finds the keys the first looked up in memory).
    pub fn restart(&mut self) {
        self.printer = Printer::new(self.rate as u32, self.printer_channels, print::QUERY);
        self.tally = Tally::default();
        self.frames = 0;
        self.pairs.clear();
        self.seen.clear();
        self.narrowed.clear();
        self.open = ALL_SPEEDS;
        self.prior_pending = false;
    }

    /// Whether the collection holds any learned side at all.
    pub fn has_prints(&self) -> bool {
        !self.prints.is_empty()
    }

    /// Feeds interleaved samples (±1.0) and looks up the pairs they completed.
    pub fn feed(&mut self, interleaved: &[f32], channels: usize) -> anyhow::Result<()> {
        self.frames += (interleaved.len() / channels.max(1)) as u64;
        self.printer.feed(interleaved);
        let pairs = self.printer.take();
        let before = thread_cpu();
        let voted = self.vote(&pairs);
        self.matched_since(before);
        voted
    }

    /// Ends the query: the last pairs are looked up.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        let pairs = self.printer.finish();
        let before = thread_cpu();
        let voted = self.vote(&pairs);
        self.matched_since(before);
        voted
    }

    /// The CPU time this recogniser spent matching (looking pairs up, voting, deciding), apart
    /// from decoding and fingerprinting the query: what a match costs against the collection.
    pub fn matching_cpu(&self) -> Duration {
        self.matching.get()
    }

    /// Adds the CPU time this thread took since `before` to [`Recognizer::matching_cpu`].
    fn matched_since(&self, before: Duration) {
        self.matching.set(self.matching.get() + thread_cpu().saturating_sub(before));
    }

    /// Seconds of audio fed.
    pub fn heard_s(&self) -> f64 {
        self.frames as f64 / self.rate
    }

    /// Looks the pairs up and votes. A search the run-outs narrowed is decided at the first feed
    /// at or past [`PRIOR_S`], once: it widens when no side stands out by then, and otherwise
    /// stays narrowed (its votes as they are).
    fn vote(&mut self, pairs: &[Pair]) -> anyhow::Result<()> {
        self.lib.begin_read()?;
        let voted = self.vote_each(pairs);
        self.lib.end_read();
        voted?;
        if self.prior_pending && self.heard_s() >= PRIOR_S {
            self.prior_pending = false;
            if self.decide()?.is_none() {
                self.widen()?;
            }
        }
        Ok(())
    }

    /// Looks the pairs up and votes, in the read transaction [`Recognizer::vote`] holds.
    fn vote_each(&mut self, pairs: &[Pair]) -> anyhow::Result<()> {
        for p in pairs {
            // A pair heard over and over (hum, a locked groove, a loop) says nothing about where.
            let seen = self.seen.entry(p.key().unwrap_or(u32::MAX)).or_default();
            *seen += 1;
            if *seen > QUERY_REPEATS {
                continue;
            }
            self.pairs.push((*p, self.frames));
            self.cast(p, self.frames, self.open, false)?;
        }
        Ok(())
    }

    /// Whether print `print` is searched at speed step `speed`.
    fn searched(&self, print: Print, speed: u8) -> bool {
        self.narrowed.get(&print).is_none_or(|set| set & 1 << speed != 0)
    }

    /// Widens a search the run-outs narrowed to every speed: the pairs heard so far vote again,
    /// each as heard then, under the speeds each print was not searched at, so the votes are
    /// those of a search at every speed, and none is cast twice.
    fn widen(&mut self) -> anyhow::Result<()> {
        let open = self.narrowed.values().fold(0, |a, set| a | (ALL_SPEEDS & !set));
        for i in 0..self.pairs.len() {
            let (p, frames) = self.pairs[i];
            self.cast(&p, frames, open, true)?;
        }
        self.narrowed.clear();
        self.open = ALL_SPEEDS;
        self.prior_pending = false;
        Ok(())
    }

    /// Casts the votes of query pair `p`, heard when `frames` were, under the speeds in `open`, for
    /// the (print, speed) searched, or (`skipped`, to widen) for those not searched: each stored
    /// pair its keys find votes once for its alignment under each candidate speed within
    /// [`print::TOL`] of the speed it gives.
    fn cast(&mut self, p: &Pair, frames: u64, open: u16, skipped: bool) -> anyhow::Result<()> {
        let mut cast = std::mem::take(&mut self.cast);
        cast.clear();
        let looked_up = self.hits(p, |(print, t_ref, r)| {
            for speed in speeds_within(r) {
                if open & 1 << speed == 0 || self.searched(print, speed) == skipped {
                    continue;
                }
                let Some(known) = self.known(print) else { continue };
                let q = f64::from(p.t) * SPEEDS[usize::from(speed)] * self.hop_q / known.hop_s;
                cast.push(place_key((print, speed, t_ref as i32 - q.round() as i32)));
            }
        })?;
        // Past the cache's bound a key is looked up again each time a pair needs it.
        for (key, found) in looked_up {
            if self.cached + found.len() <= CACHE_POSTINGS {
                self.cached += found.len();
                self.postings.insert(key, found);
            }
        }
        // Each place once, in one order whatever the hashing: the places a vote moves depend on
        // the votes before it.
        cast.sort_unstable();
        cast.dedup();
        for &key in &cast {
            let v = place_of(key);
            let scale = self.known(v.0).map_or(1.0, |k| self.hop_q / k.hop_s);
            self.tally.vote(v, frames as f64 / self.rate / self.hop_q * scale);
        }
        self.cast = cast;
        self.tally.prune(MAX_BINS);
        Ok(())
    }

    /// The side heard so far, when one stands out. Fitting its speed and place looks keys up: a
    /// database error is returned, never taken for a key without pairs.
    pub fn best(&self) -> anyhow::Result<Option<Match>> {
        let before = thread_cpu();
        let found = self.decide();
        self.matched_since(before);
        found
    }

    /// The side heard so far as [`Recognizer::best`] finds it, with its speed and place as
    /// fitted, unrounded; None also when the speed could not be fitted (the search's 0.5 % step
    /// is no measurement).
    pub fn alignment(&self) -> anyhow::Result<Option<Alignment>> {
        let before = thread_cpu();
        let found = self.fitted();
        self.matched_since(before);
        found
    }

    /// [`Recognizer::alignment`], untimed.
    fn fitted(&self) -> anyhow::Result<Option<Alignment>> {
        let Some((winner, ..)) = self.leader() else { return Ok(None) };
        let Some(known) = self.known(winner.0) else { return Ok(None) };
        Ok(self.fit(winner)?.map(|(speed, at_first)| Alignment {
            print: known.id,
            side_id: known.side_id,
            speed,
            at_first_s: at_first * known.hop_s,
        }))
    }

    /// [`Recognizer::best`], untimed (a vote's own decision is timed with it).
    fn decide(&self) -> anyhow::Result<Option<Match>> {
        let Some((winner, votes, second)) = self.leader() else { return Ok(None) };
        let Some(known) = self.known(winner.0) else { return Ok(None) };
        // The speed needs pairs over a few seconds; a side still unplaced after LOOP_WAIT_S takes
        // the search's step.
        let vote = (SPEEDS[usize::from(winner.1)], f64::from(winner.2));
        let (speed_ratio, at_first) = match self.fit(winner)? {
            Some(line) => line,
            None if self.heard_s() >= LOOP_WAIT_S => vote,
            None => return Ok(None),
        };
        let offset_s = at_first * known.hop_s;
        let mut m = Match {
            artist: known.artist.clone(),
            album: known.album.clone(),
            side: known.side.clone(),
            track: 1,
            position: String::new(),
            title: None,
            offset_s: (offset_s * 100.0).round() / 100.0,
            speed_ratio: (speed_ratio * 10_000.0).round() / 10_000.0,
            confidence: (1.0 - f64::from(second + 1) / f64::from(votes + 1)).clamp(0.0, 1.0),
            heard_s: (self.heard_s() * 100.0).round() / 100.0,
            print: known.id,
        };
        m.confidence = (m.confidence * 1000.0).round() / 1000.0;
        m.at(known, offset_s + self.heard_s() * speed_ratio);
        Ok(Some(m))
    }

    /// The place that stands out so far, with its votes and the best other side's: the side
    /// with [`MIN_VOTES`], [`MARGIN`] and [`LEAD`] over the others, at the place that leads it
    /// (or, a loop left undecided past [`LOOP_WAIT_S`], the one nearest its start).
    fn leader(&self) -> Option<(Place, u32, u32)> {
        let mut by_side: HashMap<i64, (Print, &Places)> = HashMap::default();
        for (&print, places) in &self.tally.leaders {
            let side = self.known(print)?.side_id;
            let e = by_side.entry(side).or_insert((print, places));
            if places.lead().1 > e.1.lead().1 {
                *e = (print, places);
            }
        }
        let (&side, &(print, places)) = by_side.iter().max_by_key(|(_, (_, p))| p.lead().1)?;
        let second =
            by_side.iter().filter(|(s, _)| **s != side).map(|(_, (_, p))| p.lead().1).max().unwrap_or(0);
        let ((speed, d), votes) = places.lead();
        if self.trace {
            // For re-deriving the thresholds (scripts/bench.d/95-recognize): what chance gives.
            let known = self.known(print);
            eprintln!(
                "recognize-trace heard_s={:.2} votes={votes} next_side={second} elsewhere={} side={}",
                self.heard_s(),
                places.elsewhere(),
                known.map_or(String::new(), |k| format!("{}/{}/{}", k.artist, k.album, k.side))
            );
        }
        if votes < MIN_VOTES || votes < MARGIN * second || votes < second + LEAD {
            return None;
        }
        // Music the side holds twice (a chorus, a loop): wait until one place leads, but not
        // for long: after LOOP_WAIT_S the side is certain, and the place nearest its start is
        // taken.
        let elsewhere = places.elsewhere();
        let winner = if 4 * votes >= 5 * elsewhere && votes >= elsewhere + PLACE_LEAD {
            (print, speed, d)
        } else if self.heard_s() >= LOOP_WAIT_S {
            let ((speed, d), _) = places.nearest_start();
            (print, speed, d)
        } else {
            return None;
        };
        Some((winner, votes, second))
    }

    /// The winner's speed and alignment (learned frame at the query's first), fitted by least
    /// squares to the frames of the pairs that voted for it: the vote's speed step (0.5 %) is only
    /// where the search starts. None while too few pairs span too little time; a database error
    /// looking a key up is returned.
    fn fit(&self, (print, speed, d): Place) -> anyhow::Result<Option<(f64, f64)>> {
        let r0 = SPEEDS[usize::from(speed)];
        let Some(known) = self.known(print) else { return Ok(None) };
        let scale = self.hop_q / known.hop_s;
        let mut pts: Vec<(u32, u32)> = Vec::new();
        for (p, _) in &self.pairs {
            let tq = f64::from(p.t) * scale;
            // Early on, every speed of the search fits about as well: let the place drift by as
            // much as the search's whole range allows.
            let slack = 3.0 + 0.03 * tq;
            self.hits(p, |(pr, t_ref, r)| {
                let near = (f64::from(t_ref) - (f64::from(d) + tq * r0)).abs() <= slack;
                if pr == print && (r - r0).abs() <= FIT_SPEED && near {
                    pts.push((p.t, t_ref));
                }
            })
            .context("fit the speed and place")?;
        }
        Ok(fit_line(pts, scale))
    }
}

impl Drop for Recognizer {
    /// Under `VINYL_RECOGNIZE_TRACE`, says what the query's matching cost (scripts/bench reads it).
    fn drop(&mut self) {
        if self.trace {
            let ms = self.matching_cpu().as_secs_f64() * 1000.0;
            eprintln!("recognize-trace matching_cpu_ms={ms:.1} heard_s={:.2}", self.heard_s());
        }
    }
}

/// The line (speed, learned frame at the query's first) through the frames `pts` (query's,
/// learned's) of the pairs that voted, the query's scaled by `scale` to the learned print's
/// frames: fitted again without the pairs it leaves out by more than 8, 4, then 2 frames. None
/// when a fit fails ([`least_squares`]) or the speed is more than 3 % off.
fn fit_line(mut pts: Vec<(u32, u32)>, scale: f64) -> Option<(f64, f64)> {
    pts.sort_unstable();
    pts.dedup();
    let pts: Vec<(f64, f64)> = pts.into_iter().map(|(q, r)| (f64::from(q) * scale, f64::from(r))).collect();
    let mut line = least_squares(&pts)?;
    for off in [8.0, 4.0, 2.0] {
        let near: Vec<(f64, f64)> =
            pts.iter().copied().filter(|(q, r)| (r - (line.1 + line.0 * q)).abs() <= off).collect();
        line = least_squares(&near)?;
    }
    ((line.0 - 1.0).abs() <= 0.03).then_some(line)
}

/// Slope and intercept of the least-squares line through `pts`; none for fewer than 8 points or
/// under 60 frames (about 2 s) of spread.
fn least_squares(pts: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = pts.len() as f64;
    let (lo, hi) = pts.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (q, _)| (lo.min(*q), hi.max(*q)));
    if pts.len() < 8 || hi - lo < 60.0 {
        return None;
    }
    let (mq, mr) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = pts.iter().map(|(q, r)| (q - mq) * (r - mr)).sum();
    let var: f64 = pts.iter().map(|(q, _)| (q - mq) * (q - mq)).sum();
    let b = cov / var;
    Some((b, mr - b * mq))
}

/// Whether alignments `a` and `b` (speed step, learned frame at the query's first) put the same
/// learned music under the query somewhere in its first `heard` frames (in learned frames): their
/// lines cross there, or come within [`FAR`] frames of each other at one end.
fn same_place(a: (u8, i32), b: (u8, i32), heard: f64) -> bool {
    let (ra, rb) = (SPEEDS[usize::from(a.0)], SPEEDS[usize::from(b.0)]);
    let start = f64::from(a.1 - b.1);
    let end = start + heard * (ra - rb);
    start.abs() <= f64::from(FAR) || end.abs() <= f64::from(FAR) || start.signum() != end.signum()
}

/// `vinyl-library recognize`: prints `{"match":…}` at the first recognition, `{"match":null}`
/// (exit 1) when the input ends or the time allowed runs out first.
pub fn run(o: &RecognizeOpts, db: &std::path::Path) -> anyhow::Result<()> {
    let lib = Library::open(db)?;
    if let Some(hint) = lib.old_prints_hint()? {
        crate::vlog!(super::TOOL, "{hint}");
    }
    let found = if o.input.as_os_str() == "-" { from_stdin(lib, o)? } else { from_flac(lib, o)? };
    let line = serde_json::json!({ "match": found });
    super::print_text(&format!("{line}\n"))?;
    match found {
        Some(_) => Ok(()),
        None => Err(ExitStatusError {
            status: 1,
            message: format!("{}: no learned side recognised", o.input.display()),
        }
        .into()),
    }
}

/// The try after one at `heard` seconds: the next whole [`TRY_S`] step.
pub fn next_try_after(heard: f64) -> f64 {
    ((heard / TRY_S).floor() + 1.0) * TRY_S
}

/// The match in a FLAC file, trying every [`TRY_S`] of audio.
fn from_flac(lib: Library, o: &RecognizeOpts) -> anyhow::Result<Option<Match>> {
    let probe = crate::flac::probe::probe(&o.input)?;
    let shape = &probe.info;
    let mut rec = Recognizer::new(lib, shape.sample_rate, shape.channels as u16)?;
    if let Some(deck) = o.rpm.and_then(deck_speed).or_else(|| tagged_deck_speed(&probe)) {
        rec.expect_deck_speed(deck);
    }
    let within = o.within.wall_time(shape.sample_rate).as_secs_f64();
    let mut found = None;
    let mut next_try = TRY_S;
    crate::flac::decode::each_block(&o.input, "recognize", |s, pcm| {
        rec.feed(pcm, s.channels as usize)?;
        if rec.heard_s() >= next_try {
            next_try = next_try_after(rec.heard_s());
            found = rec.best()?;
        }
        Ok(found.is_none() && rec.heard_s() < within)
    })?;
    if found.is_none() && rec.heard_s() < within {
        rec.finish()?;
        found = rec.best()?;
    }
    Ok(found)
}

/// The match in raw PCM on stdin (the shared PCM flags), trying every [`TRY_S`] of audio.
fn from_stdin(lib: Library, o: &RecognizeOpts) -> anyhow::Result<Option<Match>> {
    let spec = o.pcm.spec();
    let mut rec = Recognizer::new(lib, spec.rate, spec.channels)?;
    if let Some(deck) = o.rpm.and_then(deck_speed) {
        rec.expect_deck_speed(deck);
    }
    let frame = spec.frame_bytes();
    let mut reader = crate::pcm::FrameReader::new(std::io::stdin().lock(), frame);
    let mut buf = vec![0u8; frame * (f64::from(spec.rate) * TRY_S) as usize];
    let scale = 1.0 / f64::from(1u32 << (spec.format.bits() - 1)) as f32;
    let width = spec.format.bytes();
    let within = o.within.wall_time(spec.rate).as_secs_f64();
    let mut next_try = TRY_S;
    while rec.heard_s() < within {
        let n = match reader.read_frames(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("stdin: read"),
        };
        if n == 0 {
            rec.finish()?;
            return rec.best();
        }
        let pcm: Vec<f32> =
            buf[..n].chunks_exact(width).map(|b| spec.format.decode(b) as f32 * scale).collect();
        rec.feed(&pcm, usize::from(spec.channels))?;
        if rec.heard_s() >= next_try {
            next_try = next_try_after(rec.heard_s());
            if let Some(m) = rec.best()? {
                return Ok(Some(m));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::db::{Learned, Naming};
    use super::*;

    #[test]
    fn a_lone_vote_leads_nothing_and_votes_that_pile_up_lead_their_place() {
        let mut t = Tally::default();
        t.vote((7, 5, 100), 300.0);
        t.vote((7, 5, 200), 300.0);
        assert!(t.leaders.is_empty(), "lone votes made leaders: {:?}", t.leaders);
        // A second vote within ±2 frames: the window holding both leads with 2.
        t.vote((7, 5, 102), 300.0);
        assert_eq!(t.leaders[&7].lead().1, 2);
        assert!((100..=102).contains(&t.leaders[&7].lead().0.1));
        for _ in 0..3 {
            t.vote((7, 5, 101), 300.0);
        }
        // Every window from 100 to 102 holds all five: the first to reach it stands.
        assert_eq!(t.leaders[&7].lead().1, 5);
        assert!((100..=102).contains(&t.leaders[&7].lead().0.1));
        // The lone vote at 200 is not a place of its own.
        assert_eq!(t.leaders[&7].elsewhere(), 0);
    }

    #[test]
    fn past_the_bound_the_places_chance_gave_one_vote_go_and_a_pile_stays() {
        let mut t = Tally::default();
        for d in 0..1000 {
            t.vote((1, 5, d * 10), 300.0);
        }
        t.vote((2, 5, 40), 300.0);
        t.vote((2, 5, 40), 300.0);
        t.prune(2000);
        assert_eq!(t.votes.len(), 1001, "under the bound nothing goes");
        t.prune(1000);
        assert_eq!(t.votes.len(), 1);
        assert_eq!(t.count((2, 5, 40)), 2);
        assert_eq!(t.leaders[&2].lead().1, 2);
    }

    #[test]
    fn a_table_full_of_chances_doubles_is_pruned_to_half_and_keeps_the_piles() {
        let mut t = Tally::default();
        for d in 0..1000 {
            for _ in 0..2 + d % 2 {
                t.vote((1, 5, d * 10), 300.0);
            }
        }
        for _ in 0..4 {
            t.vote((2, 5, 40), 300.0);
        }
        t.prune(1001);
        assert_eq!(t.votes.len(), 1001, "under the bound nothing goes");
        t.prune(800);
        // Singles first (none), then doubles (500 go, 501 stay: over 400), then triples.
        assert_eq!(t.votes.len(), 1);
        assert_eq!(t.count((2, 5, 40)), 4);
    }

    #[test]
    fn places_merge_when_they_are_one_and_keep_the_four_best_apart() {
        let heard = 625.0;
        let mut p = Places::default();
        p.update((5, 100), 10, heard);
        // The same music under the next speed step: one place, the better of the two kept.
        p.update((6, 100), 8, heard);
        assert_eq!(p.0, vec![((5, 100), 10)]);
        p.update((6, 100), 12, heard);
        assert_eq!(p.0, vec![((6, 100), 12)]);
        // Music elsewhere on the side: other places, most votes first, at most PLACES of them.
        for (i, d) in [400, 800, 1200, 1600].into_iter().enumerate() {
            p.update((5, d), 5 + i as u32, heard);
        }
        assert_eq!(p.0.len(), PLACES);
        assert_eq!(p.lead(), ((6, 100), 12));
        assert_eq!(p.elsewhere(), 8);
        assert!(!p.0.iter().any(|(at, _)| *at == (5, 400)), "the weakest went: {:?}", p.0);
        // A place that moves onto another (votes at 1203 grow into 1200's) leaves one of them.
        p.update((5, 1203), 20, heard);
        assert_eq!(p.lead(), ((5, 1203), 20));
        assert_eq!(p.0.iter().filter(|(at, _)| same_place(*at, (5, 1200), heard)).count(), 1, "{:?}", p.0);
    }

    #[test]
    fn a_loop_left_undecided_takes_the_place_nearest_the_learned_start() {
        let mut p = Places(vec![((5, 300), 20), ((5, -200), 19), ((5, 10), 16), ((5, 2), 14)]);
        // Of the places with 3/4 of the leader's votes (15), the nearest to the start.
        assert_eq!(p.nearest_start(), ((5, 10), 16));
        p.0[2].1 = 14;
        assert_eq!(p.nearest_start(), ((5, -200), 19));
        assert_eq!(Places::default().nearest_start(), ((0, 0), 0));
    }

    #[test]
    fn one_music_under_two_speeds_is_one_place_and_a_repeat_is_another() {
        // 20 s heard (625 frames): at 1.0 and at 1.02 the lines meet at the query's start...
        assert!(same_place((5, 100), (9, 100), 625.0));
        // ...or cross within the audio heard (learned frame 100 + 0.99q against 110 + 1.01q)...
        assert!(same_place((3, 110), (7, 100), 625.0));
        // ...but music 30 frames (1 s) later on the side is elsewhere at any of these speeds,
        assert!(!same_place((5, 100), (5, 130), 625.0));
        assert!(!same_place((5, 100), (6, 130), 625.0));
        // and so is an alignment whose line only meets this one after the audio heard so far.
        assert!(!same_place((5, 100), (0, 130), 100.0));
        assert!(same_place((5, 100), (0, 130), 1300.0));
    }

    #[test]
    fn a_run_out_gives_the_decks_speed_and_the_search_the_steps_around_a_prior() {
        let near = |rpm: f64, want: f64| deck_speed(rpm).is_some_and(|s| (s - want).abs() < 1e-9);
        assert!(near(33.5, 1.005) && near(45.0, 1.0) && near(77.22, 0.99) && near(32.1, 0.963));
        // No turntable's speed: between 33⅓ and 45, or past 78 by more than 4 %.
        for rpm in [31.9, 40.0, 46.9, 60.0, 81.2, 0.0, -33.3] {
            assert_eq!(deck_speed(rpm), None, "{rpm}");
        }
        // Three steps around a step, four between two.
        let steps =
            |set: u16| (0..SPEEDS.len()).filter(|i| set & 1 << i != 0).map(|i| SPEEDS[i]).collect::<Vec<_>>();
        assert_eq!(steps(speeds_near(1.0)), [0.995, 1.0, 1.005]);
        assert_eq!(steps(speeds_near(1.0125)), [1.005, 1.01, 1.015, 1.02]);
        assert_eq!(steps(speeds_near(0.97)), [0.975]);
        assert_eq!(speeds_near(0.96), 0, "a prior past the search leaves the print unnarrowed");
    }

    /// Query pairs with distinct keys over 590 frames (19 s), each anchor in a band of its own: a
    /// pair heard at the learned speed finds its stored pair, which gives the speed 1.0.
    fn pairs() -> Vec<Pair> {
        (0..60)
            .map(|i| {
                let f1 = 300.0 * 2f64.powf((10.25 + f64::from(i % 30 * 2)) / print::STEPS);
                let f2 = f1 * 2f64.powf(f64::from(i % 7 * 3 + 2) / print::STEPS);
                Pair { t: 10 * i, f1: f1 as f32, f2: f2 as f32, dt: 2 + 2 * (i / 30) }
            })
            .collect()
    }

    /// A recogniser (48 kHz, stereo) of a collection with one side per entry of `sides`, learned
    /// with that deck speed and, when `holds` says so, with the stored pairs of [`pairs`] 100
    /// frames into it.
    fn recognizer(sides: &[(Option<f64>, bool)]) -> (tempfile::TempDir, Recognizer) {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("library.db");
        let mut lib = Library::open(&path).unwrap();
        let hop_s = Printer::new(48_000, 2, print::QUERY).hop_s();
        let hashes: Vec<(u32, u32)> =
            pairs().iter().map(|p| (p.key().unwrap(), Pair { t: p.t + 100, ..*p }.stored_t())).collect();
        for (i, &(deck_speed, holds)) in sides.iter().enumerate() {
            let file = d.path().join(format!("side-{i}.flac"));
            let naming = Naming {
                artist: "Frozen Bubble".into(),
                album: "Music".into(),
                year: None,
                side: ["A", "B", "C"][i].into(),
                titles: vec![],
                cover: None,
                file: file.clone(),
                start_frame: None,
            };
            lib.name(&naming).unwrap();
            let hashes = if holds { hashes.clone() } else { vec![] };
            let learned = Learned { hop_s, seconds: 60.0, track_starts: vec![], hashes, deck_speed };
            lib.learn(&file, &learned).unwrap();
        }
        let rec = Recognizer::new(lib, 48_000, 2).unwrap();
        assert_eq!(rec.prints.len(), sides.len());
        (d, rec)
    }

    /// The candidate speeds of a set.
    fn steps(set: u16) -> Vec<f64> {
        (0..SPEEDS.len()).filter(|i| set & 1 << i != 0).map(|i| SPEEDS[i]).collect()
    }

    /// Every vote of `t`, place by place, and how many places (the table has no iterator: the
    /// places the tests' pairs can vote for are all within ±2,000 frames).
    fn votes_of(t: &Tally, prints: Print) -> (Vec<(Place, u32)>, usize) {
        let mut out = Vec::new();
        for print in 0..prints {
            for speed in 0..SPEEDS.len() as u8 {
                for d in -2000..2000 {
                    let n = t.count((print, speed, d));
                    if n > 0 {
                        out.push(((print, speed, d), n));
                    }
                }
            }
        }
        (out, t.votes.len())
    }

    #[test]
    fn a_prior_narrows_only_the_prints_learned_with_a_deck_speed_and_the_search_stays_open_for_the_others() {
        let (_d, mut rec) = recognizer(&[(Some(1.0), true), (None, true)]);
        assert_eq!(rec.expect_deck_speed(1.01), 1);
        assert_eq!(rec.narrowed.keys().copied().collect::<Vec<_>>(), [0]);
        assert_eq!(steps(rec.narrowed[&0]), [1.005, 1.01, 1.015]);
        assert_eq!(rec.open, ALL_SPEEDS, "the print learned without a deck speed is searched at every speed");
        assert!(rec.searched(1, 0) && rec.searched(0, 6) && !rec.searched(0, 5) && !rec.searched(0, 9));
        assert!(rec.prior_pending);
    }

    #[test]
    fn with_every_print_narrowed_the_search_looks_only_at_their_speeds() {
        let (_d, mut rec) = recognizer(&[(Some(1.0), true), (Some(0.99), true)]);
        // 1.01 over 1.0, and 1.01 over 0.99 (1.0202).
        assert_eq!(rec.expect_deck_speed(1.01), 2);
        assert_eq!(steps(rec.narrowed[&1]), [1.015, 1.02, 1.025]);
        assert_eq!(steps(rec.open), [1.005, 1.01, 1.015, 1.02, 1.025]);
    }

    #[test]
    fn a_prior_no_candidate_speed_is_near_narrows_nothing() {
        let (_d, mut rec) = recognizer(&[(Some(1.0), true), (Some(0.99), true)]);
        rec.expect_deck_speed(1.01);
        // 1.2 of the learned deck's speed: the run-out measured some other deck.
        assert_eq!(rec.expect_deck_speed(1.2), 0);
        assert!(rec.narrowed.is_empty());
        assert_eq!(rec.open, ALL_SPEEDS);
        assert!(!rec.prior_pending, "nothing to widen");
    }

    #[test]
    fn widening_votes_each_pair_heard_once_under_the_speeds_left_out() {
        let sides = [(Some(1.0), true), (None, true)];
        let (_d, mut every) = recognizer(&sides);
        let (_e, mut narrowed) = recognizer(&sides);
        narrowed.expect_deck_speed(1.01);
        // Fed in two stretches, 6 s apart, as a listener feeds; the second 1.5 % fast (votes
        // under 1.015, searched, where the first's under 1.0 are not).
        let mut pairs = pairs();
        for p in &mut pairs[30..] {
            (p.f1, p.f2) = (p.f1 * 1.015, p.f2 * 1.015);
        }
        for rec in [&mut every, &mut narrowed] {
            rec.vote(&pairs[..30]).unwrap();
            rec.frames = 6 * 48_000;
            rec.vote(&pairs[30..]).unwrap();
        }
        let (all, n) = votes_of(&every.tally, 2);
        let (before, m) = votes_of(&narrowed.tally, 2);
        assert!(m < n && before.iter().all(|((p, s, _), _)| narrowed.searched(*p, *s)), "not narrowed");
        assert!(all.iter().any(|((p, s, _), _)| *p == 0 && *s == 5), "no vote at the speed left out");
        assert!(all.iter().any(|((p, s, _), _)| *p == 0 && *s == 8), "no vote at a speed searched");
        narrowed.widen().unwrap();
        assert_eq!(
            votes_of(&narrowed.tally, 2),
            (all, n),
            "widened votes differ from a search at every speed"
        );
        assert!(narrowed.narrowed.is_empty() && narrowed.open == ALL_SPEEDS && !narrowed.prior_pending);
    }

    #[test]
    fn at_the_priors_time_a_search_that_found_nothing_widens_once() {
        // The pairs are found under 0.99 and up; the prior puts the print at 0.975 and 0.98.
        let (_d, mut rec) = recognizer(&[(Some(1.0), true), (None, false)]);
        assert_eq!(steps(speeds_near(0.975)), [0.975, 0.98]);
        rec.expect_deck_speed(0.975);
        rec.vote(&pairs()).unwrap();
        assert_eq!(rec.tally.votes.len(), 0);
        assert!(rec.prior_pending && !rec.narrowed.is_empty(), "widened before its time");
        rec.frames = (PRIOR_S * 48_000.0) as u64;
        rec.vote(&[]).unwrap();
        assert!(rec.narrowed.is_empty() && rec.open == ALL_SPEEDS && !rec.prior_pending);
        let (_e, mut every) = recognizer(&[(Some(1.0), true), (None, false)]);
        every.vote(&pairs()).unwrap();
        assert_eq!(votes_of(&rec.tally, 2), votes_of(&every.tally, 2));
        assert_eq!(rec.best().unwrap().map(|m| m.side), Some("A".to_string()));
    }

    #[test]
    fn at_the_priors_time_a_search_that_found_its_side_stays_narrowed_and_is_not_decided_again() {
        let (_d, mut rec) = recognizer(&[(Some(1.0), true), (None, false)]);
        rec.expect_deck_speed(1.0);
        rec.vote(&pairs()).unwrap();
        let (before, _) = votes_of(&rec.tally, 2);
        rec.frames = (PRIOR_S * 48_000.0) as u64;
        rec.vote(&[]).unwrap();
        let found = rec.best().unwrap().expect("a match by the prior's speeds");
        assert_eq!((found.side.as_str(), found.speed_ratio), ("A", 1.0));
        assert_eq!(steps(rec.narrowed[&0]), [0.995, 1.0, 1.005], "widened though the side was found");
        assert_eq!(votes_of(&rec.tally, 2).0, before, "votes cast again");
        assert!(!rec.prior_pending, "to be decided again at the next feed");
    }

    #[test]
    fn a_restarted_query_votes_afresh_and_only_the_prints_kept_get_votes_and_an_alignment() {
        // Two sides hold the same pairs: neither stands out, so nothing is aligned.
        let (_d, mut rec) = recognizer(&[(None, true), (None, true)]);
        rec.vote(&pairs()).unwrap();
        rec.frames = 20 * 48_000;
        assert!(!rec.tally.votes.is_empty() && rec.alignment().unwrap().is_none());
        rec.restart();
        assert_eq!((rec.tally.votes.len(), rec.frames, rec.pairs.len(), rec.prints.len()), (0, 0, 0, 2));
        // Side B alone: its votes, and its alignment as fitted (the pairs are 100 frames in).
        assert_eq!(rec.keep_prints(|p| p.side == "B"), 1);
        rec.vote(&pairs()).unwrap();
        rec.frames = 20 * 48_000;
        let (votes, _) = votes_of(&rec.tally, 2);
        assert!(!votes.is_empty() && votes.iter().all(|((p, ..), _)| *p == 1), "{votes:?}");
        let a = rec.alignment().unwrap().expect("an alignment with side B");
        assert_eq!((a.print, a.side_id), (rec.prints[1].id, rec.prints[1].side_id));
        let hop = rec.prints[1].hop_s;
        assert!((a.speed - 1.0).abs() < 1e-9 && (a.at_first_s - 100.0 * hop).abs() < 1e-6, "{a:?}");
    }

    #[test]
    fn a_key_more_prints_hold_than_the_common_share_is_not_looked_up_for_votes() {
        // Two sides hold every pair: each key has two stored pairs.
        let (_d, mut rec) = recognizer(&[(None, true), (None, true)]);
        let key = pairs()[0].key().unwrap();
        assert_eq!(rec.common, COMMON_MIN, "a small collection's keys are never too common");
        assert_eq!(rec.fetch(key).unwrap().len(), 2);
        rec.common = 1;
        assert!(rec.fetch(key).unwrap().is_empty(), "a key held by every print voted");
        rec.vote(&pairs()).unwrap();
        assert_eq!(rec.tally.votes.len(), 0, "votes from keys too common");
    }

    #[test]
    fn a_query_repeating_one_pair_votes_with_it_eight_times_and_no_more() {
        // A melody on one note: the query's pair comes back every 10 frames. Learning stored it
        // once, and each repeat is another place to find it: 8 vote (3 did, which left such
        // music seconds slower), the rest are hum's or a locked groove's.
        let (_d, mut rec) = recognizer(&[(None, true)]);
        let p = pairs()[0];
        let repeats: Vec<Pair> = (0..12).map(|k| Pair { t: p.t + 10 * k, ..p }).collect();
        rec.vote(&repeats).unwrap();
        assert_eq!(rec.pairs.len(), 8, "pairs that voted");
        assert!(rec.tally.votes.len() >= 8, "each repeat votes for its own place: {}", rec.tally.votes.len());
    }

    #[test]
    fn a_database_error_while_fitting_is_returned_not_taken_for_no_pairs() {
        let (d, mut rec) = recognizer(&[(None, true), (None, false)]);
        rec.vote(&pairs()).unwrap();
        rec.frames = (PRIOR_S * 48_000.0) as u64;
        assert!(rec.best().unwrap().is_some());
        // The stored pairs become unreadable, and the fit has to look its keys up again.
        rec.postings.clear();
        let other = rusqlite::Connection::open(d.path().join("library.db")).unwrap();
        other.execute_batch("DROP TABLE postings").unwrap();
        let err = rec.best().expect_err("a fit without its pairs");
        assert!(format!("{err:#}").contains("look the fingerprint up"), "{err:#}");
    }

    #[test]
    fn a_hit_votes_for_the_candidate_speeds_near_its_own_and_only_those() {
        let (_d, mut rec) = recognizer(&[(None, true), (None, false)]);
        // 1.0125 lies between two steps: both get the vote; 1.0 only its own step.
        let heard = |r: f32| pairs().into_iter().map(move |p| Pair { f1: p.f1 * r, f2: p.f2 * r, ..p });
        rec.vote(&heard(1.0125).take(30).collect::<Vec<_>>()).unwrap();
        let (votes, _) = votes_of(&rec.tally, 2);
        let speeds: std::collections::BTreeSet<u8> = votes.iter().map(|((_, s, _), _)| *s).collect();
        assert_eq!(speeds.into_iter().map(|s| SPEEDS[usize::from(s)]).collect::<Vec<_>>(), [1.01, 1.015]);
        let (_e, mut rec) = recognizer(&[(None, true), (None, false)]);
        rec.vote(&heard(1.0).collect::<Vec<_>>()).unwrap();
        let (votes, _) = votes_of(&rec.tally, 2);
        assert!(votes.iter().all(|((p, s, d), _)| (*p, *s, *d) == (0, 5, 100)), "{votes:?}");
        assert_eq!(votes.iter().map(|v| v.1).sum::<u32>(), 60);
    }
}
