//! The deck's speed over a side: `speed_drift_pct`, how its speed changed from the side's start
//! to its end, measured against another recording of the same side that the collection learned;
//! and `runout_speed_pct`, its speed error at the run-out, from the `VINYL_RPM` tag.
//!
//! The drift: [`WINDOWS`] windows of [`WINDOW_S`] seconds, spread evenly from the side's first
//! second to its last, are each fingerprinted and aligned with the learned side by the
//! collection's recogniser ([`crate::library::recognize`], the one matcher), which fits a line
//! of learned frame against heard frame through the pairs that voted. The first window that
//! aligns picks the learned print; the others are aligned with that one only. A window whose
//! place on the learned side is more than [`PLACE_SLACK_S`] off the others' (a chorus found
//! elsewhere) is left out. A parabola through the windows' places on the learned side against
//! time gives the speed (its slope) at the side's start and at its end; the drift is the end's
//! over the start's, less 1, in percent (positive: the deck sped up).
//!
//! Why places and not each window's own slope: a pair's place is its anchor's 32 ms frame in
//! both prints, so a 20 s window's slope is only good to about ±0.05 % (measured on a 20-minute
//! side replayed 0.3 % fast: the six windows' slopes spread from +0.22 to +0.38 %), while its
//! place, the fit's middle, is good to a few milliseconds, which over minutes between windows is
//! a few thousandths of a percent (that replay: a drift of +0.002 %; a side whose speed rose by
//! 0.4 % in 40 steps: +0.40 %; the unit test's 3-minute side: within ±0.01 %, held to ±0.05 %).
//! The parabola assumes the speed changed steadily; a learned recording that itself drifted
//! shows here with the opposite sign.
//!
//! Owns the windows' plan, the choice of the learned print and the figures. It does not decode
//! (the caller feeds it the samples it reads once) nor decide what a match is. How it fails: it
//! does not; the drift is `None` with a [`NoDrift`] saying why, and a collection that exists but
//! cannot be read is kept ([`Drift::take_error`]) for the caller to say in one line.

use super::input::Shape;
use crate::flac::probe::Probe;
use crate::library::db::Library;
use crate::library::recognize::{self, Recognizer};
use anyhow::Context as _;
use std::path::Path;

/// Seconds a window lasts: enough pairs to fit a speed (the recogniser needs 2 s of them), few
/// enough that the side's fingerprinting and look-ups stay a small part of the report's cost.
pub const WINDOW_S: f64 = 20.0;
/// Windows at most (fewer on a side under 2 minutes: they never overlap).
pub const WINDOWS: usize = 6;
/// How far a window's place on the learned side may be from the line the others give (s): a
/// drift of 1 % bends that line by 1.5 s over 20 minutes; a chorus found elsewhere is further.
pub const PLACE_SLACK_S: f64 = 2.0;

/// Why a side has no drift figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoDrift {
    /// No collection at the path (vinyl-qa does not make one).
    NoCollection,
    /// The collection could not be read (the caller says why: [`Drift::take_error`]).
    Unreadable,
    /// Stdin, or a FLAC file whose STREAMINFO does not give its length: the windows need it.
    UnknownLength,
    /// Under two windows of audio.
    TooShort,
    /// The collection learned no other recording of this side.
    NoOtherRecording,
    /// No window was recognised as a learned side.
    NotRecognised,
    /// Windows were recognised, but under three agree on their places, or those span under half
    /// the side.
    NoAlignment,
}

impl NoDrift {
    /// What the text summary says instead of the figure.
    pub fn says(self) -> &'static str {
        match self {
            NoDrift::NoCollection => "no collection",
            NoDrift::Unreadable => "the collection could not be read",
            NoDrift::UnknownLength => "the side's length is not known (stdin)",
            NoDrift::TooShort => "under 40 s of audio",
            NoDrift::NoOtherRecording => "the collection learned no other recording of this side",
            NoDrift::NotRecognised => "not a side the collection learned",
            NoDrift::NoAlignment => "the windows did not align with the learned side",
        }
    }
}

/// `runout_speed_pct`: the deck's speed error at the run-out (%) from a FLAC file's `VINYL_RPM`
/// tag (`probe`: its metadata; None for stdin) against 33⅓, 45 or 78 rpm
/// ([`recognize::deck_speed`]); None without the tag or for an rpm no turntable's.
pub fn runout_speed_pct(probe: Option<&Probe>) -> Option<f64> {
    recognize::tagged_deck_speed(probe?).map(|s| (s - 1.0) * 100.0)
}

/// One window's measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Window {
    /// Its middle, in the side heard (s).
    mid_s: f64,
    /// Its speed over the learned recording's.
    speed: f64,
    /// The learned side's place at its middle (s).
    learned_s: f64,
}

/// The windows' (start, end) frames of a side of `total` frames at `rate` Hz: up to [`WINDOWS`]
/// of [`WINDOW_S`], the first at the start, the last at the end, the rest evenly between.
fn plan(total: u64, rate: u32) -> Vec<(u64, u64)> {
    let w = (WINDOW_S * f64::from(rate)) as u64;
    let n = (total / w.max(1)).min(WINDOWS as u64);
    if n < 2 {
        return Vec::new();
    }
    let step = (total - w) / (n - 1);
    (0..n).map(|i| (i * step, i * step + w)).collect()
}

/// The drift being measured: the samples of the windows go to the recogniser as they are read.
pub struct Drift {
    state: Result<Active, NoDrift>,
    /// Why the collection could not be read ([`NoDrift::Unreadable`]), for the caller to say
    /// once: with `--store`, the store's own failure names the same collection.
    error: Option<anyhow::Error>,
}

/// A measurement under way.
struct Active {
    rec: Recognizer,
    channels: usize,
    rate: f64,
    windows: Vec<(u64, u64)>,
    /// The window being fed (or next).
    next: usize,
    /// Frames read so far.
    at: u64,
    /// The learned print the windows are aligned with, once one was.
    print: Option<i64>,
    found: Vec<Window>,
    /// The side's length (s).
    seconds: f64,
    /// The collection, for the line saying it could not be read.
    db: String,
}

impl Drift {
    /// A measurement of `input` (of `shape`; `probe`: its FLAC metadata, None for stdin)
    /// against the collection at `db`, when there is one.
    pub fn new(input: &Path, probe: Option<&Probe>, shape: Shape, db: Option<&Path>) -> Drift {
        match start(input, probe, shape, db) {
            Ok(a) => Drift { state: Ok(a), error: None },
            Err(Unread::Not(why)) => Drift { state: Err(why), error: None },
            Err(Unread::Failed(e)) => Drift { state: Err(NoDrift::Unreadable), error: Some(e) },
        }
    }

    /// Why the collection could not be read, once (then None).
    pub fn take_error(&mut self) -> Option<anyhow::Error> {
        self.error.take()
    }

    /// Takes interleaved whole frames, in order, as the analysis reads them.
    pub fn feed(&mut self, pcm: &[f32]) {
        let Ok(a) = &mut self.state else { return };
        if let Err(e) = a.feed(pcm) {
            self.error = Some(e.context(format!("{}: align the side with its learned print", a.db)));
            self.state = Err(NoDrift::Unreadable);
        }
    }

    /// `speed_drift_pct` once every frame was fed, or why there is none.
    pub fn finish(self) -> Result<f64, NoDrift> {
        self.state?.finish()
    }
}

/// Why a measurement does not start: a [`NoDrift`], or a collection that failed to be read.
enum Unread {
    Not(NoDrift),
    Failed(anyhow::Error),
}

impl From<NoDrift> for Unread {
    fn from(why: NoDrift) -> Unread {
        Unread::Not(why)
    }
}

/// The measurement's start: the windows, the collection and the prints to compare.
fn start(input: &Path, probe: Option<&Probe>, shape: Shape, db: Option<&Path>) -> Result<Active, Unread> {
    let total = probe.map_or(0, |p| p.info.total_samples);
    if total == 0 {
        return Err(NoDrift::UnknownLength.into());
    }
    let windows = plan(total, shape.rate);
    if windows.is_empty() {
        return Err(NoDrift::TooShort.into());
    }
    let db = db.filter(|d| d.exists()).ok_or(NoDrift::NoCollection)?;
    let shown = db.display().to_string();
    let rec = compared(input, shape, db).map_err(Unread::Failed)?;
    Ok(Active::new(rec.ok_or(NoDrift::NoOtherRecording)?, shape, windows, shown))
}

/// A recogniser of the collection at `db` that compares the prints `input` may be aligned with:
/// when the collection links `input` to a side, that side's other recordings; else every learned
/// side but `input`'s own print. None when that leaves none.
fn compared(input: &Path, shape: Shape, db: &Path) -> anyhow::Result<Option<Recognizer>> {
    let lib = Library::open(db)?;
    // The collection knows a recording by its absolute path (as vinyl-library name links it).
    let file = std::path::absolute(input).unwrap_or_else(|_| input.to_path_buf());
    let (side, own) = lib.recording_print(&file)?.unwrap_or_default();
    let mut rec = Recognizer::new(lib, shape.rate, shape.channels as u16)
        .with_context(|| format!("{}: read the learned prints", db.display()))?;
    let left = rec.keep_prints(|p| Some(p.id) != own && side.is_none_or(|s| p.side_id == s));
    Ok((left > 0).then_some(rec))
}

impl Active {
    /// A measurement by `rec` of a side of `shape` in `windows`, against the collection `db`.
    fn new(rec: Recognizer, shape: Shape, windows: Vec<(u64, u64)>, db: String) -> Active {
        let rate = f64::from(shape.rate);
        let seconds = windows.last().map_or(0.0, |w| w.1 as f64 / rate);
        let (channels, next, at, print, found) = (shape.channels, 0, 0, None, Vec::new());
        Active { rec, channels, rate, windows, next, at, print, found, seconds, db }
    }

    /// The drift once every frame was fed, or why there is none.
    fn finish(self) -> Result<f64, NoDrift> {
        if self.print.is_none() {
            return Err(NoDrift::NotRecognised);
        }
        drift_pct(&self.found, self.seconds).ok_or(NoDrift::NoAlignment)
    }

    /// Feeds the frames of `pcm` that fall in windows, closing each window it completes.
    fn feed(&mut self, pcm: &[f32]) -> anyhow::Result<()> {
        let ch = self.channels.max(1);
        let (start, end) = (self.at, self.at + (pcm.len() / ch) as u64);
        while let Some(&(w0, w1)) = self.windows.get(self.next) {
            let (lo, hi) = (w0.max(start), w1.min(end));
            if lo < hi {
                self.rec.feed(&pcm[(lo - start) as usize * ch..(hi - start) as usize * ch], ch)?;
            }
            if w1 > end {
                break;
            }
            self.close(w0, w1)?;
            self.next += 1;
        }
        self.at = end;
        Ok(())
    }

    /// Ends the window from frame `w0` to `w1`: its alignment, when it has one, is kept, and the
    /// first one picks the learned print the others are aligned with.
    fn close(&mut self, w0: u64, w1: u64) -> anyhow::Result<()> {
        self.rec.finish()?;
        let mut chosen = None;
        if let Some(a) = self.rec.alignment()? {
            if self.print.is_none() {
                (self.print, chosen) = (Some(a.print), Some(a.print));
            }
            if self.print == Some(a.print) {
                let half = (w1 - w0) as f64 / self.rate / 2.0;
                self.found.push(Window {
                    mid_s: w0 as f64 / self.rate + half,
                    speed: a.speed,
                    learned_s: a.at_first_s + a.speed * half,
                });
            }
        }
        self.rec.restart();
        // Once: narrowing drops the pairs the recogniser cached.
        if let Some(print) = chosen {
            self.rec.keep_prints(|p| p.id == print);
        }
        Ok(())
    }
}

/// The drift (%) of a side of `seconds` from its windows whose places agree: a parabola through
/// their places on the learned side against time (learned place = a + b·u + c·u², u the time
/// over the side's length, from −½ to ½), whose slope is the speed, at the side's start
/// ((b − c)/T) and end ((b + c)/T). None under three such windows, or when they span under half
/// the side.
fn drift_pct(found: &[Window], seconds: f64) -> Option<f64> {
    let kept = agreeing(found);
    let (lo, hi) = kept.iter().fold((f64::MAX, f64::MIN), |(lo, hi), w| (lo.min(w.mid_s), hi.max(w.mid_s)));
    if kept.len() < 3 || hi - lo < seconds / 2.0 {
        return None;
    }
    let pts: Vec<(f64, f64)> = kept.iter().map(|w| (w.mid_s / seconds - 0.5, w.learned_s)).collect();
    let [_, b, c] = parabola(&pts)?;
    let pct = 2.0 * c / (b - c) * 100.0;
    pct.is_finite().then_some(pct)
}

/// The least-squares parabola [a, b, c] (y = a + b·x + c·x²) through `pts`, by the normal
/// equations (Cramer's rule); None when they are singular (under three distinct x).
fn parabola(pts: &[(f64, f64)]) -> Option<[f64; 3]> {
    // Sums of x^k (k = 0..4) and of y·x^k (k = 0..2).
    let mut sx = [0.0f64; 5];
    let mut sy = [0.0f64; 3];
    for &(x, y) in pts {
        for (k, s) in sx.iter_mut().enumerate() {
            *s += x.powi(k as i32);
        }
        for (k, s) in sy.iter_mut().enumerate() {
            *s += y * x.powi(k as i32);
        }
    }
    let m = [[sx[0], sx[1], sx[2]], [sx[1], sx[2], sx[3]], [sx[2], sx[3], sx[4]]];
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    if d.abs() < 1e-12 {
        return None;
    }
    let column = |j: usize| {
        let mut mj = m;
        for (row, y) in mj.iter_mut().zip(sy) {
            row[j] = y;
        }
        det(mj) / d
    };
    Some([column(0), column(1), column(2)])
}

/// The windows whose places on the learned side agree: each window's place, carried back to the
/// side's start at the speed the places give (the median of the speeds between each two
/// windows), within [`PLACE_SLACK_S`] of the median of those.
fn agreeing(found: &[Window]) -> Vec<Window> {
    let median = |mut v: Vec<f64>| -> Option<f64> {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let between = found.iter().enumerate().flat_map(|(i, a)| {
        found[i + 1..].iter().map(move |b| (b.learned_s - a.learned_s) / (b.mid_s - a.mid_s))
    });
    let Some(speed) = median(between.collect()) else { return Vec::new() };
    let origin = |w: &Window| w.learned_s - speed * w.mid_s;
    let Some(o) = median(found.iter().map(origin).collect()) else { return Vec::new() };
    found.iter().copied().filter(|w| (origin(w) - o).abs() <= PLACE_SLACK_S).collect()
}

#[cfg(test)]
mod tests {
    use super::super::testsig;
    use super::*;
    use crate::library::db::Naming;
    use std::path::PathBuf;

    const RATE: u32 = 22_050;
    const SHAPE: Shape = Shape { rate: RATE, channels: 1, bits: 16 };

    /// Mono `audio` at [`RATE`] as a 16-bit FLAC file at `path`.
    fn flac(path: &Path, audio: &[f32]) -> PathBuf {
        use crate::flac::{FlacWriter, WriterOptions};
        use crate::pcm::{PcmSpec, SampleFormat};
        let spec = PcmSpec { rate: RATE, channels: 1, format: SampleFormat::S16Le };
        let mut w =
            FlacWriter::new(std::fs::File::create(path).unwrap(), spec, &WriterOptions::default()).unwrap();
        let pcm: Vec<u8> = audio.iter().flat_map(|s| ((s * 32_767.0).round() as i16).to_le_bytes()).collect();
        w.write_pcm(&pcm).unwrap();
        w.finalize().unwrap();
        path.to_path_buf()
    }

    /// The metadata of the FLAC file at `path`.
    fn probe(path: &Path) -> Probe {
        crate::flac::probe::probe(path).unwrap()
    }

    /// A collection in `dir` that learned `learned` as side A (named and fingerprinted as
    /// vinyl-library name does); its path and the learned file's.
    fn collection(dir: &Path, learned: &[f32]) -> (PathBuf, PathBuf) {
        let file = flac(&dir.join("learned.flac"), learned);
        let db = dir.join("library.db");
        let mut lib = Library::open(&db).unwrap();
        let naming = Naming {
            artist: "Artist".into(),
            album: "Album".into(),
            year: None,
            side: "A".into(),
            titles: vec![],
            cover: None,
            file: file.clone(),
            start_frame: None,
        };
        lib.name(&naming).unwrap();
        crate::library::learn::fingerprint(&mut lib, &file).unwrap();
        (db, file)
    }

    /// The drift of `audio`, written as `name` in `dir`, against the collection `db`.
    fn measure(dir: &Path, db: &Path, name: &str, audio: &[f32]) -> Result<f64, NoDrift> {
        let file = flac(&dir.join(name), audio);
        let mut d = Drift::new(&file, Some(&probe(&file)), SHAPE, Some(db));
        for block in audio.chunks(4096) {
            d.feed(block);
        }
        d.finish()
    }

    #[test]
    fn a_side_whose_speed_rises_from_1_to_1_004_drifts_0_4_percent_within_0_05() {
        let d = tempfile::tempdir().unwrap();
        let seconds = 180.0;
        let (db, _) = collection(d.path(), &testsig::melody(seconds, RATE, 1.0, 1.0, 7));
        let drift = measure(d.path(), &db, "drifting.flac", &testsig::melody(seconds, RATE, 1.0, 1.004, 7));
        println!("speed 1.000 -> 1.004: drift {drift:?} % (want 0.4 +- 0.05)");
        assert!(drift.is_ok_and(|p| (p - 0.4).abs() <= 0.05), "{drift:?}");
        // A steady deck 1 % fast: no drift, whatever the speed.
        let steady = measure(d.path(), &db, "steady.flac", &testsig::melody(seconds, RATE, 1.01, 1.01, 7));
        println!("speed 1.01 steady: drift {steady:?} % (want 0 +- 0.05)");
        assert!(steady.is_ok_and(|p| p.abs() <= 0.05), "{steady:?}");
    }

    #[test]
    fn no_drift_without_a_collection_another_recording_or_a_known_length() {
        let d = tempfile::tempdir().unwrap();
        let music = testsig::melody(50.0, RATE, 1.0, 1.0, 3);
        let (db, learned) = collection(d.path(), &music);
        // The learned recording itself: its own print is no comparison.
        assert_eq!(
            Drift::new(&learned, Some(&probe(&learned)), SHAPE, Some(&db)).finish(),
            Err(NoDrift::NoOtherRecording)
        );
        let gone = d.path().join("none.db");
        assert_eq!(
            Drift::new(&learned, Some(&probe(&learned)), SHAPE, Some(&gone)).finish(),
            Err(NoDrift::NoCollection)
        );
        assert!(!gone.exists(), "a collection was made");
        assert_eq!(
            Drift::new(&learned, Some(&probe(&learned)), SHAPE, None).finish(),
            Err(NoDrift::NoCollection)
        );
        assert_eq!(Drift::new(Path::new("-"), None, SHAPE, Some(&db)).finish(), Err(NoDrift::UnknownLength));
        let short = flac(&d.path().join("short.flac"), &music[..RATE as usize * 39]);
        assert_eq!(
            Drift::new(&short, Some(&probe(&short)), SHAPE, Some(&db)).finish(),
            Err(NoDrift::TooShort)
        );
        // A collection that is not one: null, and the error kept to be said, naming it.
        std::fs::write(d.path().join("bad.db"), b"not a database").unwrap();
        let mut bad = Drift::new(&learned, Some(&probe(&learned)), SHAPE, Some(&d.path().join("bad.db")));
        let said = format!("{:#}", bad.take_error().expect("an error to say"));
        assert!(said.contains("bad.db") && said.contains("not an SQLite database"), "{said}");
        assert_eq!(bad.finish(), Err(NoDrift::Unreadable));
    }

    #[test]
    fn the_windows_run_from_the_first_second_to_the_last_and_never_overlap() {
        let w = (WINDOW_S * 48_000.0) as u64;
        let side = 20 * 60 * 48_000;
        let p = plan(side, 48_000);
        assert_eq!((p.len(), p[0].0, p[5].1 > side - 6), (WINDOWS, 0, true), "{p:?}");
        assert!(p.windows(2).all(|x| x[0].1 <= x[1].0) && p.iter().all(|x| x.1 - x.0 == w), "{p:?}");
        // Shorter sides: as many windows as fit, two at least.
        assert_eq!(plan(3 * w + 5, 48_000).len(), 3);
        assert!(plan(2 * w - 1, 48_000).is_empty() && plan(0, 48_000).is_empty());
    }

    /// Windows of a side of 1,000 s played at speed 1 + k t against a learned side (from its
    /// start), their places exact.
    fn windows(k: f64) -> Vec<Window> {
        (0..6)
            .map(|i| {
                let t = 10.0 + 196.0 * f64::from(i);
                Window { mid_s: t, speed: 1.0 + k * t, learned_s: t + 0.5 * k * t * t }
            })
            .collect()
    }

    #[test]
    fn the_parabola_through_the_places_gives_the_speed_at_the_start_and_the_end() {
        let k = 0.003 / 1000.0;
        let pct = drift_pct(&windows(k), 1000.0).unwrap();
        assert!((pct - 0.3).abs() < 1e-9, "{pct}");
        // Slowing down is negative.
        assert!((drift_pct(&windows(-k), 1000.0).unwrap() + 0.3).abs() < 1e-9);
        assert_eq!(parabola(&[(0.0, 1.0), (0.0, 2.0), (0.0, 3.0)]), None, "one x");
    }

    #[test]
    fn a_window_found_elsewhere_on_the_side_is_left_out_and_too_few_give_none() {
        let k = 0.002 / 1000.0;
        let mut w = windows(k);
        // A chorus 30 s further on the learned side.
        w[3].learned_s += 30.0;
        assert_eq!(agreeing(&w).len(), 5);
        let pct = drift_pct(&w, 1000.0).unwrap();
        assert!((pct - 0.2).abs() < 1e-9, "{pct}");
        // Two windows agree: no parabola; three within the first third: too short a span.
        assert_eq!(drift_pct(&w[..2], 1000.0), None);
        assert_eq!(drift_pct(&w[..3], 1000.0), None);
        assert_eq!(drift_pct(&[], 1000.0), None);
    }
}
