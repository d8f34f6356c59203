//! `vinyl-listen`: the ears. Levels, loudness, and the needle drops, tracks and run-outs of a
//! turntable, as JSON lines that name timeline frames.
//!
//! Owns the pump from the input (the ring, followed live through
//! [`crate::ring::tap::follow_live`], or stdin) through the analysis to the events:
//! [`features`] turns frames into 10 ms blocks, [`detector`] decides, [`runout`] finds locked
//! grooves, [`loudness`] measures each side over exactly its frames, [`events`] writes, [`meter`]
//! draws, [`status`] summarises an events file, [`tail`] follows one as it grows. It does not record or control anything: `vinyl-rec auto` and `vinyl-web` read its
//! events. Frames it never saw (a live tap skipped a long gap, or was overtaken) are bridged as
//! no information, like a gap's zeros ([`detector::Detector::unknown`]); only a jump back (the
//! ring replaced) starts the analysis over, idle; both are logged. A restart on an events file
//! carries on from it ([`resume`]). Errors: an unreadable input or output (exit 1), bad flags
//! (exit 2); a closed stdout ends it quietly.

pub mod cli;
pub mod detector;
pub mod events;
pub mod features;
pub mod loudness;
pub mod meter;
pub mod r128;
pub mod recognize;
pub mod resume;
pub mod runout;
pub mod status;
pub mod tail;

pub use cli::Opts;

use crate::cli::UsageError;
use crate::input::{PcmInput, Step};
use crate::library::recognize::deck_speed;
use crate::pcm::{PcmSpec, SampleFormat};
use crate::ring::Logged;
use crate::ring::tap::{Follow, follow_live};
use crate::{signals, vlog};
use detector::{Decision, Detector, Phase};
use features::{Analyser, MAX_CHANNELS, Sums};
use loudness::Loudness;
use std::path::Path;
use std::time::Duration;

/// The tool's name in log lines.
pub const TOOL: &str = "vinyl-listen";

/// Seconds between `state` events when nothing changes.
const STATE_EVERY_S: u64 = 5;

/// Runs the listener until the end of input, a stop signal or a closed stdout.
pub fn run(o: Opts) -> anyhow::Result<()> {
    if let Some(file) = &o.status {
        return status::print(file);
    }
    let spec = o.pcm.spec();
    if spec.channels as usize > MAX_CHANNELS {
        return Err(UsageError::new(format!("--channels {}: at most {MAX_CHANNELS}", spec.channels)).into());
    }
    signals::install()?;
    let out = events::Output::open(o.output.clone(), o.max_bytes)?;
    let mut l = Listener::new(spec, o.level_every.frames(spec.rate), out, o.meter);
    l.detector.set_gap_limit(o.gap_limit.frames(spec.rate));
    l.live = start_recognition(o.library.as_deref(), spec, o.ring.as_deref())?;
    let result = match &o.ring {
        Some(ring) => listen_ring(ring, o.output.as_deref(), spec, &mut l),
        None => listen_stdin(o.first_frame, spec, &mut l),
    };
    if let Some(live) = l.live.take() {
        live.finish();
    }
    match result {
        Err(e) if crate::cli::is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(e),
        Ok(()) => {
            let why = signals::stop_signal_name().map_or("end of input".to_string(), |s| s.to_string());
            vlog!(TOOL, "{}: stopped ({why}) after {} sides", l.source, l.detector.state().1);
            Ok(())
        }
    }
}

/// The live recogniser: against `--library`, else the collection's default place (vinyl-library's:
/// `library.db` in the recordings folder). Until the file exists no audio goes to the worker (it
/// is looked for every few seconds), so a collection made after the listener started is used
/// from its next side, and a listener without one pays nothing for recognition. On `ring`, each
/// side's play is noted in the listening history; from stdin each stretch waits for the worker.
fn start_recognition(
    db: Option<&Path>,
    spec: PcmSpec,
    ring: Option<&Path>,
) -> anyhow::Result<Option<recognize::Live>> {
    let db = match db {
        Some(db) => db.to_path_buf(),
        None => match crate::library::default_db() {
            Ok(db) => db,
            Err(e) => {
                vlog!(TOOL, "recognition: off: no collection's place: {e:#}");
                return Ok(None);
            }
        },
    };
    vlog!(TOOL, "recognition: replays are recognised against {} (when it exists)", db.display());
    recognize::Live::start(db, spec.rate, spec.channels, ring.is_none(), ring.map(Path::to_path_buf))
        .map(Some)
}

fn listen_ring(ring: &Path, output: Option<&Path>, spec: PcmSpec, l: &mut Listener) -> anyhow::Result<()> {
    l.source = ring.display().to_string();
    let from = output.and_then(|file| carry_on(ring, file, spec.rate, l));
    let follow = Follow {
        ring,
        spec,
        from,
        // Ten wake-ups a second, one per level event.
        batch: Duration::from_millis(100),
        stop: &signals::stop_requested,
    };
    let shown = ring.display().to_string();
    let mut logged = Logged::new(TOOL, &shown, spec.rate, true);
    follow_live(follow, &mut logged, &mut |first, bytes| l.feed(first, bytes))
}

/// A listener restarted on an events file that holds events carries on from them (see
/// [`resume`]): returns the frame to follow the ring from.
fn carry_on(ring: &Path, file: &Path, rate: u32, l: &mut Listener) -> Option<u64> {
    let past = resume::Past::read(file)?;
    l.deck = past.rpm.and_then(deck_speed).or(l.deck);
    let reader = crate::ring::RingReader::open(ring, false).ok()?;
    let head = reader.snapshot().ok()?.head;
    let Some(start) = resume::plan(&past, reader.oldest(head), head, rate) else {
        vlog!(
            TOOL,
            "{}: the ring is a newer timeline than {}: sides are numbered after its {}",
            l.source,
            file.display(),
            past.sides
        );
        l.detector.continue_count(past.sides);
        return None;
    };
    vlog!(TOOL, "{}: {}", l.source, start.describe(&past));
    // The predecessor may have been killed before its last side was noted: a second note of
    // the same play joins the first.
    if let (Some(live), Some(ended)) = (l.live.as_ref(), past.ended.clone()) {
        live.noted_before(ended);
    }
    l.quiet_until = start.quiet_until;
    l.resume = Some(start);
    l.past = Some(past);
    Some(start.from)
}

fn listen_stdin(first: u64, spec: PcmSpec, l: &mut Listener) -> anyhow::Result<()> {
    let fb = spec.frame_bytes();
    let mut input = PcmInput::stdin(fb)?;
    l.source = "stdin".into();
    let mut pos = first;
    input.pump(TOOL, 4096, Duration::from_millis(500), |step| {
        if let Step::Frames(frames) = step {
            l.feed(pos, frames)?;
            pos += (frames.len() / fb) as u64;
        }
        Ok(())
    })?;
    if signals::stop_requested() {
        input.report_partial(TOOL, "at the stop");
    }
    Ok(())
}

/// The analysis of one input.
struct Listener {
    source: String,
    spec: PcmSpec,
    full_scale: f64,
    analyser: Analyser,
    detector: Detector,
    loudness: Loudness,
    decisions: Vec<Decision>,
    /// The level window being summed, and the frame it began at.
    sums: Sums,
    level_first: u64,
    level_frames: u64,
    /// The frame expected next (`None` before the first).
    next: Option<u64>,
    /// The state last reported, and when.
    shown: ((Phase, u32, u32), u64),
    side_start: u64,
    out: events::Output,
    meter: Option<meter::Meter>,
    /// The frames being fed, decoded to ±1.0.
    xf: Vec<f32>,
    blocks: Vec<features::Block>,
    /// Events decided at or before this frame were written by a predecessor (see [`resume`]).
    quiet_until: u64,
    /// How a restarted listener begins, applied at its first frame.
    resume: Option<resume::Start>,
    /// What the events file said when this listener carried on from it.
    past: Option<resume::Past>,
    /// The live recogniser (`--library`), and the side it recognised.
    live: Option<recognize::Live>,
    heard: Option<recognize::Heard>,
    /// The deck's speed over the nominal that its last run-out measured (a restarted listener's
    /// from its events file): the recogniser searches around it first.
    deck: Option<f64>,
}

impl Listener {
    fn new(spec: PcmSpec, level_frames: u64, out: events::Output, meter: bool) -> Listener {
        let channels = spec.channels as usize;
        let full = (1i64 << (spec.format.bits() - 1)) as f32;
        let analyser = Analyser::new(channels, spec.rate, (full - 1.0) / full);
        let full_scale = (1i64 << (spec.format.bits() - 1)) as f64;
        Listener {
            source: String::new(),
            spec,
            full_scale,
            detector: Detector::new(spec.rate, analyser.block_frames()),
            analyser,
            loudness: Loudness::new(channels, spec.rate, full_scale as i32),
            decisions: Vec::new(),
            sums: Sums::default(),
            level_first: 0,
            level_frames,
            next: None,
            shown: ((Phase::Idle, 0, 0), 0),
            side_start: 0,
            out,
            meter: meter.then(meter::Meter::default),
            xf: Vec::new(),
            blocks: Vec::new(),
            quiet_until: 0,
            resume: None,
            past: None,
            live: None,
            heard: None,
            deck: None,
        }
    }

    /// Analyses whole frames, the first of which is timeline frame `first`: decoded once, kept in
    /// the loudness history, then analysed in pieces that end where a level window does.
    fn feed(&mut self, first: u64, bytes: &[u8]) -> anyhow::Result<()> {
        match self.next {
            Some(expected) if first > expected => self.bridge(expected, first)?,
            Some(expected) if first == expected => {}
            _ => {
                self.jump(first);
                self.state(first, true)?;
            }
        }
        self.decode(bytes);
        self.loudness.push_frames(&self.xf);
        if let Some(live) = self.live.as_mut() {
            live.audio(first, &self.xf);
        }
        let ch = self.spec.channels as usize;
        let mut pos = first;
        let mut at = 0;
        while at < self.xf.len() {
            let room = match self.level_frames {
                0 => u64::MAX,
                n => n - self.sums.frames,
            };
            let n = ((self.xf.len() - at) / ch).min(room as usize);
            let mut blocks = std::mem::take(&mut self.blocks);
            self.analyser.frames(&self.xf[at..at + n * ch], &mut self.sums, &mut blocks);
            for b in blocks.drain(..) {
                self.detector.push(&b, &mut self.decisions);
                self.decide()?;
            }
            self.blocks = blocks;
            (at, pos) = (at + n * ch, pos + n as u64);
            if self.level_frames > 0 && self.sums.frames >= self.level_frames {
                self.level(pos)?;
            }
        }
        if pos >= self.shown.1 + STATE_EVERY_S * self.spec.rate as u64 {
            self.state(pos, true)?;
        }
        self.recognized(pos)?;
        self.next = Some(pos);
        Ok(())
    }

    /// Decodes `bytes` into `xf` (±1.0; exact for 16 and 24 bits).
    fn decode(&mut self, bytes: &[u8]) {
        let scale = 1.0 / self.full_scale as f32;
        self.xf.clear();
        match self.spec.format {
            SampleFormat::S16Le => {
                let s16 = bytes.chunks_exact(2).map(|s| i16::from_le_bytes([s[0], s[1]]) as f32 * scale);
                self.xf.extend(s16);
            }
            format => {
                let any = bytes.chunks_exact(format.bytes()).map(|s| format.decode(s) as f32 * scale);
                self.xf.extend(any);
            }
        }
    }

    /// Frames `expected..first` were never heard (a live tap skipped a long gap, or was
    /// overtaken): no information, bridged like a gap's zeros.
    fn bridge(&mut self, expected: u64, first: u64) -> anyhow::Result<()> {
        let frames = first - expected;
        vlog!(
            TOOL,
            "{}: frames {expected}..{first} ({}) were not heard: bridged as no information",
            self.source,
            self.spec.describe_frames(frames)
        );
        self.detector.unknown(expected, frames, &mut self.decisions);
        self.decide()?;
        self.analyser.restart(first);
        self.loudness.push_silence(frames);
        self.sums = Sums::default();
        self.level_first = first;
        // Consumers learn at once where the analysis stands again.
        self.state(first, true)
    }

    /// The input went back (another timeline): the analysis starts over, idle.
    fn jump(&mut self, first: u64) {
        if let Some(expected) = self.next {
            vlog!(
                TOOL,
                "{}: the input went back from frame {expected} to {first} (another timeline): the analysis starts over, idle",
                self.source
            );
        }
        self.detector.restart();
        self.analyser.restart(first);
        self.loudness.restart(first);
        self.sums = Sums::default();
        self.level_first = first;
        self.shown.1 = first;
        if let Some(start) = self.resume.take() {
            start.apply(&mut self.detector);
            if let Some(drop) = start.resumed_drop() {
                self.resume_side(drop, first);
            }
        }
    }

    /// A side resumed as playing from `first`, its needle drop `drop` no longer in the ring: its
    /// report and recognition belong to that drop, and the recogniser matches from what the ring
    /// still holds (a learned side is found from any place in it).
    fn resume_side(&mut self, drop: u64, first: u64) {
        self.side_start = drop;
        self.heard = None;
        if let Err(e) = self.loudness.start(first) {
            vlog!(TOOL, "{}: the resumed side's loudness: {e:#}", self.source);
        }
        if let Some(live) = self.live.as_mut() {
            live.side_from(drop, first, self.deck);
        }
    }

    /// Writes an event, unless a predecessor wrote it (decided at or before `quiet_until`).
    fn emit(&mut self, v: &serde_json::Value) -> anyhow::Result<()> {
        if v["at"].as_u64().is_some_and(|at| at <= self.quiet_until) {
            return Ok(());
        }
        self.out.emit(v)
    }

    /// Writes the detector's decisions, with a side's report after its end.
    fn decide(&mut self) -> anyhow::Result<()> {
        let decisions = std::mem::take(&mut self.decisions);
        for d in &decisions {
            let mut v = events::decision(d);
            if let (Decision::TrackStart { frame, .. }, Some(h)) = (d, &self.heard) {
                if let Some(title) = h.title_at(*frame, self.spec.rate) {
                    v["title"] = title.into();
                }
            }
            self.emit(&v)?;
            match *d {
                Decision::SideStart { frame, .. } => {
                    self.side_start = frame;
                    self.loudness.start(frame)?;
                    self.heard = None;
                    if let Some(live) = self.live.as_mut() {
                        live.side(frame, self.deck);
                    }
                }
                Decision::SideEnd { frame, at, side, rpm, .. } => {
                    // A restarted listener replays the ring to find its place again; the sides it
                    // decides before its predecessor's last event are not written, and neither
                    // set the deck's speed (the events file's last run-out did) nor are noted.
                    let written = at > self.quiet_until;
                    if written {
                        self.deck = rpm.and_then(deck_speed).or(self.deck);
                    }
                    self.report(frame, at, side)?;
                    self.heard = None;
                    let drop = self.side_start;
                    if let Some(live) = self.live.as_mut() {
                        live.end(drop, frame, written);
                    }
                }
                Decision::TrackStart { .. } | Decision::Lift { .. } => {}
            }
        }
        if let Some(at) = decisions.last().map(at_of) {
            self.state(at, false)?;
        }
        Ok(())
    }

    /// Writes a `recognized` event when the recogniser recognised the side still playing; a
    /// restarted listener only when its events file lacks it ([`resume::Past::says_recognition`]),
    /// and takes it in for the later titles either way.
    fn recognized(&mut self, at: u64) -> anyhow::Result<()> {
        let Some(h) = self.live.as_mut().and_then(recognize::Live::poll) else { return Ok(()) };
        let playing = matches!(self.detector.state().0, Phase::LeadIn | Phase::Music);
        if !playing || h.drop != self.side_start {
            return Ok(());
        }
        if self.heard.as_ref().is_some_and(|told| {
            told.drop == h.drop && (&told.found.album, &told.found.side) == (&h.found.album, &h.found.side)
        }) {
            // The same side, its speed and place fitted over more music: for later titles.
            self.heard = Some(h);
            return Ok(());
        }
        let m = &h.found;
        let side = self.detector.state().1;
        // After a restart the events file decides, not `quiet_until`: when the worker answers
        // says nothing of whether the killed listener wrote it.
        if self.past.as_ref().is_some_and(|p| !p.says_recognition(h.drop, at)) {
            vlog!(
                TOOL,
                "side {side}: recognised {} – {}, side {} again (the events file says so already: not written twice)",
                m.artist,
                m.album,
                m.side
            );
        } else {
            vlog!(
                TOOL,
                "side {side}: recognised {} – {}, side {} (confidence {}, speed {})",
                m.artist,
                m.album,
                m.side,
                m.confidence,
                m.speed_ratio
            );
            self.out.emit(&events::recognized(&h, at, self.spec.rate))?;
        }
        self.heard = Some(h);
        Ok(())
    }

    fn report(&mut self, end: u64, at: u64, side: u32) -> anyhow::Result<()> {
        let Some(r) = self.loudness.finish(end) else { return Ok(()) };
        let stats = self.detector.stats();
        self.emit(&events::report(self.side_start, end, at, side, &r, &stats))?;
        let advice = meter::advice(r.peak_dbfs, r.clipped);
        match self.meter.as_mut() {
            Some(m) => m.say(&format!("side {side}: {advice}")),
            None => vlog!(TOOL, "side {side} ended: {advice}"),
        }
        Ok(())
    }

    /// Writes the level window that ends at `end`.
    fn level(&mut self, end: u64) -> anyhow::Result<()> {
        let s = std::mem::take(&mut self.sums);
        let channels = self.spec.channels as usize;
        let to_db = |v: f64| (v > 0.0).then(|| 10.0 * v.log10());
        let rms: Vec<Option<f64>> = (0..channels).map(|c| to_db(s.squares[c] / s.frames as f64)).collect();
        let peak: Vec<Option<f64>> = (0..channels).map(|c| to_db(s.peak[c] * s.peak[c])).collect();
        if let Some(m) = self.meter.as_mut() {
            m.draw(&rms, &peak, s.clipped);
        }
        self.emit(&events::level(self.level_first, end, &rms, &peak, s.clipped))?;
        self.level_first = end;
        Ok(())
    }

    /// Writes the turntable's state when it changed, or when `beat` and it is due.
    fn state(&mut self, at: u64, beat: bool) -> anyhow::Result<()> {
        let now = self.detector.state();
        if now == self.shown.0 && !beat {
            return Ok(());
        }
        self.shown = (now, at);
        self.emit(&events::state(at, now.0, now.1, now.2))
    }
}

fn at_of(d: &Decision) -> u64 {
    match *d {
        Decision::SideStart { at, .. }
        | Decision::TrackStart { at, .. }
        | Decision::SideEnd { at, .. }
        | Decision::Lift { at, .. } => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use detector::EndReason;

    fn events_in(file: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].to_string())
            .collect()
    }

    #[test]
    fn a_replayed_side_end_is_not_written_and_leaves_the_decks_speed_to_the_events_file() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("events");
        let out = events::Output::open(Some(file.clone()), 1 << 20).unwrap();
        let mut l = Listener::new(PcmSpec::default(), 4800, out, false);
        // A restarted listener: the events file's last run-out measured 33.45 rpm, and its
        // predecessor wrote everything decided up to frame 1,000,000.
        (l.deck, l.quiet_until) = (deck_speed(33.45), 1_000_000);
        let side_end =
            |frame, at, side, rpm| Decision::SideEnd { frame, at, side, reason: EndReason::Runout, rpm };
        l.decisions = vec![
            Decision::SideStart { frame: 100, at: 200, side: 1 },
            side_end(900_000, 950_000, 1, Some(32.9)),
        ];
        l.decide().unwrap();
        assert_eq!(l.deck, deck_speed(33.45), "a replayed run-out set the deck's speed");
        assert!(events_in(&file).is_empty(), "replayed decisions written: {:?}", events_in(&file));
        // Past the predecessor's last event: written, and its run-out is the deck's speed now.
        l.decisions = vec![
            Decision::SideStart { frame: 1_100_000, at: 1_100_100, side: 2 },
            side_end(2_000_000, 2_000_100, 2, Some(33.1)),
        ];
        l.decide().unwrap();
        assert_eq!(l.deck, deck_speed(33.1));
        assert_eq!(events_in(&file)[..2], [r#""side_start""#, r#""side_end""#]);
    }
}
