//! The locked groove: finds a train of clicks, one per revolution, among the crackle of a
//! run-out, and measures its speed.
//!
//! Owns the click list of the current stretch without music and the search for a train in it. A
//! train is accepted only when its period is a turntable's (33⅓, 45 or 78 rpm, within 5 %: decks
//! are within 4 %; a quiet passage's steady beat lines up too, at 40 or 60 a minute), its clicks
//! land within a few milliseconds of where the period puts them, their strengths agree, and there
//! are enough of them that random crackle at the measured rate would line up like that less than
//! once in hours: heavy crackle asks for more revolutions, never for a guess. A train that keeps
//! time to half a millisecond, or whose clicks agree to 2 dB, is rarer by chance than one that only
//! keeps to the loose bounds, so it is believed after fewer revolutions (each such `Fit` spends its
//! own share of the accepted chance). It makes no other decision and cannot fail.

use crate::library::recognize::speed_within;

/// The periods searched, in seconds: 78 rpm at +4 % to 33⅓ rpm at −4 %, with room for the
/// first pair's error; a train is then kept only within [`SPEED_OFF`] of 33⅓, 45 or 78 rpm.
const PERIOD_S: (f64, f64) = (0.70, 1.95);
/// How far off its nominal speed a locked groove may turn: decks are within 4 %, and the train's
/// period is measured to a fraction of that.
const SPEED_OFF: f64 = 0.05;
/// How far a click may sit from where the period puts it: decks wander by a millisecond or two a
/// revolution; the click's peak moves a little with the noise under it.
const TOLERANCE_S: f64 = 0.006;
/// How far (dB) a click's strength may stray from the train's median.
const STRENGTH_DB: f64 = 6.0;
/// The shortest train, in seconds from its first click to its last: 3 revolutions at 33⅓ rpm,
/// 4 at 45, 6 at 78; the run-out is then decided within about 7.5 s of the groove locking.
const MIN_SPAN_S: f64 = 4.5;
/// Accepted chance of a random train, per second of run-out.
const CHANCE_PER_S: f64 = 1e-5;

/// One way a train can fit: its clicks within `time_s` of the line through its first and last
/// click and within `db` of its median strength. Random crackle fits a tight one far more rarely,
/// so it needs fewer clicks; `share` is the part of [`CHANCE_PER_S`] it may spend (the shares sum
/// to 1, so the chance of any false train stays within the budget).
#[derive(Clone, Copy, Debug)]
struct Fit {
    time_s: f64,
    db: f64,
    share: f64,
}

/// The loose fit (decks that wander, clicks that vary) keeps most of the budget; a locked groove
/// replays the same click each turn, so on most decks it also meets a tight one. The 0.5 ms
/// bound is well above how far noise moves a click's peak (a few samples at 15 dB over it).
const FITS: [Fit; 4] = [
    Fit { time_s: TOLERANCE_S, db: STRENGTH_DB, share: 0.7 },
    Fit { time_s: 0.0005, db: STRENGTH_DB, share: 0.1 },
    Fit { time_s: TOLERANCE_S, db: 2.0, share: 0.1 },
    Fit { time_s: 0.0005, db: 2.0, share: 0.1 },
];

/// One click: the frame of its peak and its strength in dB over the noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Click {
    /// Frame of the click's peak.
    pub frame: u64,
    /// Strength in dB over the high-band noise floor.
    pub db: f64,
}

/// A train found: where it began, its period and how many clicks it has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Train {
    /// The first click of the train.
    pub first: u64,
    /// The period in frames (fractional).
    pub period: f64,
    /// Clicks in the train.
    pub clicks: usize,
    /// The median strength of its clicks (dB over the noise).
    pub median_db: f64,
}

impl Train {
    /// Revolutions per minute at `rate`.
    pub fn rpm(&self, rate: u32) -> f64 {
        60.0 * rate as f64 / self.period
    }
}

/// Bins (of [`BIN_DB`]) of the clicks' strengths, so the clicks alike in strength to a train are
/// counted without walking every click of a long, crackly stretch.
const BINS: usize = 512;
/// See [`BINS`].
const BIN_DB: f64 = 0.25;

/// The clicks since music last stopped, and the search.
#[derive(Debug)]
pub struct Runout {
    clicks: Vec<Click>,
    /// How many of `clicks` fall in each strength bin.
    strengths: Vec<u32>,
    /// When the stretch without music began (the clicks' rate is counted from there).
    since: u64,
}

impl Default for Runout {
    fn default() -> Self {
        Runout { clicks: Vec::new(), strengths: vec![0; BINS], since: 0 }
    }
}

/// A chain of clicks a period apart, from the newest back: the candidate train and its prefixes.
struct Chain {
    frames: Vec<u64>,
    dbs: Vec<f64>,
}

impl Runout {
    /// Starts listening to a new stretch without music, at `frame`.
    pub fn begin(&mut self, frame: u64) {
        self.clicks.clear();
        self.strengths.fill(0);
        self.since = frame;
    }

    /// Adds a click (the newest 20,000 are kept; older ones cannot start a train that is still
    /// being heard) and looks for a train ending with it.
    pub fn click(&mut self, c: Click, rate: u32) -> Option<Train> {
        if self.clicks.len() >= 20_000 {
            self.clicks.drain(..10_000);
            self.since = self.clicks[0].frame;
            self.strengths.fill(0);
            self.clicks.iter().for_each(|c| self.strengths[bin(c.db)] += 1);
        }
        self.clicks.push(c);
        self.strengths[bin(c.db)] += 1;
        let r = rate as f64;
        let (lo, hi) = ((PERIOD_S.0 * r) as u64, (PERIOD_S.1 * r) as u64);
        let n = self.clicks.len();
        for j in (0..n - 1).rev() {
            let gap = c.frame - self.clicks[j].frame;
            if gap > hi {
                break;
            }
            if gap >= lo
                && let Some(t) = self.judge(&self.walk_back(j, gap as f64, r), c.frame, r)
            {
                return Some(t);
            }
        }
        None
    }

    /// The train `chain` is, if one of its prefixes (from the newest click back) spans
    /// [`MIN_SPAN_S`] and has as many clicks as a [`Fit`] it meets needs: a crackle click that
    /// happens to sit a period before the groove's first click must not make the groove wait for
    /// the loose fit. The train reported is the whole chain.
    fn judge(&self, chain: &Chain, now: u64, rate: f64) -> Option<Train> {
        let (f, m) = (&chain.frames, chain.frames.len());
        let decided = (3..=m).filter(|&n| (f[0] - f[n - 1]) as f64 >= MIN_SPAN_S * rate).any(|n| {
            let mut dbs = chain.dbs[..n].to_vec();
            let median_db = median_of(&mut dbs);
            let spread_db = dbs.iter().map(|d| (d - median_db).abs()).fold(0.0, f64::max);
            let p = (f[0] - f[n - 1]) as f64 / (n - 1) as f64;
            let off_line = |(k, &x): (usize, &u64)| (f[0] as f64 - k as f64 * p - x as f64).abs();
            let spread_s = f[..n].iter().enumerate().map(off_line).fold(0.0, f64::max) / rate;
            n >= self.teeth_needed(n, median_db, (spread_s, spread_db), now, rate)
        });
        let period = (f[0] - f[m - 1]) as f64 / (m - 1) as f64;
        let median_db = median_of(&mut chain.dbs.clone());
        let train = Train { first: f[m - 1], period, clicks: m, median_db };
        // A steady beat in a quiet passage makes a train too; at a speed no deck runs, it is music.
        (decided && speed_within(train.rpm(rate as u32), SPEED_OFF).is_some()).then_some(train)
    }

    /// How many clicks a train of `clicks` at `median_db` with `spread` (seconds off its line,
    /// dB off its median) needs to be more than chance: for each [`Fit`] it meets, from the rate
    /// of clicks of its strength (within the fit's dB of its median) heard in this stretch, so a
    /// train that stands out of the crackle is believed after fewer revolutions than one that does
    /// not; the fewest over the fits it meets.
    fn teeth_needed(&self, clicks: usize, median_db: f64, spread: (f64, f64), now: u64, rate: f64) -> usize {
        let elapsed = (now.saturating_sub(self.since) as f64 / rate).max(10.0);
        let met = FITS.iter().filter(|f| spread.0 <= f.time_s && spread.1 <= f.db);
        met.map(|f| {
            let alike = self.alike(median_db, f.db);
            let others = alike.saturating_sub(clicks).max(1);
            teeth_needed(others as f64 / elapsed, f.time_s, CHANCE_PER_S * f.share)
        })
        .min()
        .unwrap_or(usize::MAX)
    }

    /// Clicks within `width` dB of `db`, counted by whole bins (so never fewer than there are).
    fn alike(&self, db: f64, width: f64) -> usize {
        let bins = bin(db - width)..=bin(db + width);
        self.strengths[bins].iter().map(|&n| n as usize).sum()
    }

    /// Follows the period back from the last click through click `j`: the longest chain whose
    /// clicks each land within the tolerance of where the period (refined as it goes) puts them,
    /// with strengths that agree.
    fn walk_back(&self, j: usize, period: f64, rate: f64) -> Chain {
        let last = self.clicks[self.clicks.len() - 1];
        let mut chain = Chain { frames: vec![last.frame], dbs: vec![last.db] };
        if (last.db - self.clicks[j].db).abs() > STRENGTH_DB {
            return chain;
        }
        chain.frames.push(self.clicks[j].frame);
        chain.dbs.push(self.clicks[j].db);
        let (mut p, mut k) = (period, j);
        let tol = TOLERANCE_S * rate;
        let first = |c: &Chain| c.frames[c.frames.len() - 1] as f64;
        while let Some(i) = self.nearest(k, first(&chain) - p, tol, median_of(&mut chain.dbs.clone())) {
            chain.frames.push(self.clicks[i].frame);
            chain.dbs.push(self.clicks[i].db);
            k = i;
            p = (last.frame as f64 - first(&chain)) / (chain.frames.len() - 1) as f64;
        }
        chain
    }

    /// The click before click `k` nearest to frame `want` and strength `db` together, among those
    /// within `tol` frames and [`STRENGTH_DB`]: in crackle, the loudest click near the place is
    /// often not the groove's, and taking it would break the train.
    fn nearest(&self, k: usize, want: f64, tol: f64, db: f64) -> Option<usize> {
        let before = self.clicks[..k].iter().enumerate().rev();
        let near = before.take_while(|(_, c)| c.frame as f64 >= want - tol);
        let fits =
            near.filter(|(_, c)| (c.frame as f64 - want).abs() <= tol && (c.db - db).abs() <= STRENGTH_DB);
        let distance =
            |c: &Click| ((c.frame as f64 - want) / tol).powi(2) + ((c.db - db) / STRENGTH_DB).powi(2);
        fits.min_by(|(_, a), (_, b)| distance(a).total_cmp(&distance(b))).map(|(i, _)| i)
    }
}

/// The strength bin of `db`.
fn bin(db: f64) -> usize {
    ((db / BIN_DB).max(0.0) as usize).min(BINS - 1)
}

/// How many clicks a train needs so that crackle with `per_s` clicks a second of the train's
/// strength lines up by chance less often than `chance` a second: any two such clicks a period
/// apart start a candidate, and each further click must fall in a window of `time_s` either side.
fn teeth_needed(per_s: f64, time_s: f64, chance: f64) -> usize {
    let pairs_per_s = per_s * per_s * (PERIOD_S.1 - PERIOD_S.0);
    let p = (per_s * 2.0 * time_s).clamp(1e-9, 0.5);
    let extra = ((chance / pairs_per_s.max(1e-12)).ln() / p.ln()).ceil().max(0.0);
    2 + extra as usize
}

fn median_of(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pseudo-random sequence, so the crackle is the same each run.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn run(clicks: &mut [Click]) -> Option<(Train, u64)> {
        clicks.sort_by_key(|c| c.frame);
        let mut r = Runout::default();
        r.begin(0);
        clicks.iter().find_map(|&c| r.click(c, 48_000).map(|t| (t, c.frame)))
    }

    fn crackle(rng: &mut Lcg, per_s: f64, secs: f64) -> Vec<Click> {
        let n = (per_s * secs) as usize;
        (0..n)
            .map(|_| Click { frame: (rng.next() * secs * 48_000.0) as u64, db: 15.0 + rng.next() * 25.0 })
            .collect()
    }

    #[test]
    fn a_train_at_each_speed_is_found_among_crackle_and_its_speed_measured() {
        for (rpm, lock_s) in [(33.333, 20.0), (45.0, 31.3), (78.0, 12.7)] {
            let mut rng = Lcg(rpm as u64);
            let mut clicks = crackle(&mut rng, 1.0, 60.0);
            let period = 60.0 / (rpm * 1.015) * 48_000.0;
            let lock = (lock_s * 48_000.0) as u64;
            for k in 0..20 {
                clicks.push(Click { frame: lock + (k as f64 * period) as u64, db: 25.0 + rng.next() * 3.0 });
            }
            let (t, at) = run(&mut clicks).expect("train");
            assert!(t.first >= lock && t.first < lock + period as u64, "{rpm}: {t:?}");
            assert!(at - lock < 8 * 48_000, "{rpm}: decided {} s after the lock", (at - lock) / 48_000);
            assert!((t.rpm(48_000) / (rpm * 1.015) - 1.0).abs() < 0.002, "{rpm}: {}", t.rpm(48_000));
        }
    }

    #[test]
    fn a_steady_beat_at_a_speed_no_deck_runs_is_no_train_and_one_at_4_percent_off_is() {
        // A quiet passage's beat, as strong and as steady as a locked groove: 40 and 60 a
        // minute lie between 33⅓ and 45 and between 45 and 78, more than 4 % from each.
        for (rpm, found) in [(40.0, false), (60.0, false), (100.0 / 3.0 * 0.96, true), (78.0 * 1.04, true)] {
            let period = 60.0 / rpm * 48_000.0;
            let mut clicks: Vec<Click> =
                (0..30).map(|k| Click { frame: (k as f64 * period) as u64, db: 30.0 }).collect();
            assert_eq!(run(&mut clicks).is_some(), found, "{rpm} rpm");
        }
    }

    #[test]
    fn crackle_alone_never_makes_a_train() {
        let rates = [0.5, 1.0, 2.0, 3.0, 5.0, 10.0];
        for (seed, per_s) in (1..).zip(rates.iter().chain(&rates).copied()) {
            let mut rng = Lcg(seed);
            let mut clicks = crackle(&mut rng, per_s, 600.0);
            assert_eq!(run(&mut clicks), None, "{per_s} clicks/s");
        }
    }

    #[test]
    fn heavier_crackle_needs_more_clicks() {
        let loose = |per_s| teeth_needed(per_s, TOLERANCE_S, CHANCE_PER_S);
        assert_eq!(loose(0.2), 4);
        assert!(loose(5.0) > loose(0.5));
        assert!(teeth_needed(2.0, 0.0005, CHANCE_PER_S * 0.1) < loose(2.0));
    }

    #[test]
    fn a_groove_that_replays_its_click_is_decided_within_8_s_in_heavy_crackle() {
        // 33⅓ rpm on a deck 4 % slow, the slowest groove there is, under 3 crackles a second of
        // every strength: the click's own exact period and steady strength decide it after four.
        let period = 60.0 / (33.333 * 0.96) * 48_000.0;
        for seed in 1..=20 {
            let mut rng = Lcg(seed);
            let mut clicks = crackle(&mut rng, 3.0, 60.0);
            let lock = (20.0 * 48_000.0) as u64;
            let first = lock + (rng.next() * period) as u64;
            for k in 0..20 {
                clicks.push(Click { frame: first + (k as f64 * period) as u64, db: 27.0 + rng.next() * 0.5 });
            }
            let (_, at) = run(&mut clicks).expect("train");
            let late = (at - lock) as f64 / 48_000.0;
            assert!(at >= first && late <= 7.6, "seed {seed}: decided {late:.2} s after the lock");
        }
    }
}
