//! The locked groove: finds a train of clicks, one per revolution, among the crackle of a
//! run-out, and measures its speed.
//!
//! Owns the click list of the current stretch without music and the search for a train in it.
//! A train is accepted only when its period is a turntable's (33⅓, 45 or 78 rpm, with room for
//! decks ±4 % off), its clicks land within a few milliseconds of where the period puts them, their
//! strengths agree, and there are enough of them that random crackle at the measured rate would
//! line up like that less than once in hours: heavy crackle asks for more revolutions, never for a
//! guess. It makes no other decision and cannot fail.

/// Periods a locked groove can have, in seconds: 78 rpm at +4 % to 33⅓ rpm at −4 %.
const PERIOD_S: (f64, f64) = (0.70, 1.95);
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

/// The clicks since music last stopped, and the search.
#[derive(Debug, Default)]
pub struct Runout {
    clicks: Vec<Click>,
    /// When the stretch without music began (the clicks' rate is counted from there).
    since: u64,
}

impl Runout {
    /// Starts listening to a new stretch without music, at `frame`.
    pub fn begin(&mut self, frame: u64) {
        self.clicks.clear();
        self.since = frame;
    }

    /// Clicks heard in this stretch.
    pub fn clicks(&self) -> usize {
        self.clicks.len()
    }

    /// Adds a click (the newest 20,000 are kept; older ones cannot start a train that is still
    /// being heard) and looks for a train ending with it.
    pub fn click(&mut self, c: Click, rate: u32) -> Option<Train> {
        if self.clicks.len() >= 20_000 {
            self.clicks.drain(..10_000);
            self.since = self.clicks[0].frame;
        }
        self.clicks.push(c);
        let r = rate as f64;
        let (lo, hi) = ((PERIOD_S.0 * r) as u64, (PERIOD_S.1 * r) as u64);
        let n = self.clicks.len();
        for j in (0..n - 1).rev() {
            let gap = c.frame - self.clicks[j].frame;
            if gap > hi {
                break;
            }
            if gap < lo {
                continue;
            }
            if let Some(t) = self.walk_back(j, gap as f64, r)
                && t.clicks >= self.teeth_needed(&t, c.frame, r)
            {
                return Some(t);
            }
        }
        None
    }

    /// How many clicks `t` needs to be more than chance: from the rate of clicks of its strength
    /// (within [`STRENGTH_DB`] of its median) heard in this stretch, so a train that stands out of
    /// the crackle is believed after fewer revolutions than one that does not.
    fn teeth_needed(&self, t: &Train, now: u64, rate: f64) -> usize {
        let elapsed = (now.saturating_sub(self.since) as f64 / rate).max(10.0);
        let alike = self.clicks.iter().filter(|c| (c.db - t.median_db).abs() <= STRENGTH_DB).count();
        let others = alike.saturating_sub(t.clicks).max(1);
        teeth_needed(others as f64 / elapsed)
    }

    /// Follows the period back from the last click through click `j`: the longest train whose
    /// clicks each land within the tolerance of where the period (refined as it goes) puts them,
    /// with strengths that agree; `None` if it is shorter than [`MIN_SPAN_S`].
    fn walk_back(&self, j: usize, period: f64, rate: f64) -> Option<Train> {
        let last = self.clicks[self.clicks.len() - 1];
        let mut strengths = vec![last.db, self.clicks[j].db];
        if (last.db - self.clicks[j].db).abs() > STRENGTH_DB {
            return None;
        }
        let (mut first, mut count, mut p, mut k) = (self.clicks[j].frame, 2usize, period, j);
        let tol = TOLERANCE_S * rate;
        loop {
            let want = first as f64 - p;
            let mut best: Option<usize> = None;
            for i in (0..k).rev() {
                let f = self.clicks[i].frame as f64;
                if f < want - tol {
                    break;
                }
                if (f - want).abs() <= tol && best.is_none_or(|b| self.clicks[i].db > self.clicks[b].db) {
                    best = Some(i);
                }
            }
            let Some(i) = best else { break };
            if (self.clicks[i].db - median_of(&mut strengths.clone())).abs() > STRENGTH_DB {
                break;
            }
            strengths.push(self.clicks[i].db);
            (first, k, count) = (self.clicks[i].frame, i, count + 1);
            p = (last.frame - first) as f64 / (count - 1) as f64;
        }
        let long_enough = (last.frame - first) as f64 >= MIN_SPAN_S * rate;
        long_enough.then(|| Train { first, period: p, clicks: count, median_db: median_of(&mut strengths) })
    }
}

/// How many clicks a train needs so that crackle with `per_s` clicks a second of the train's
/// strength lines up by chance less often than [`CHANCE_PER_S`]: any two such clicks a period
/// apart start a candidate, and each further click must fall in a window of twice the tolerance.
fn teeth_needed(per_s: f64) -> usize {
    let pairs_per_s = per_s * per_s * (PERIOD_S.1 - PERIOD_S.0);
    let p = (per_s * 2.0 * TOLERANCE_S).clamp(1e-9, 0.5);
    let extra = ((CHANCE_PER_S / pairs_per_s.max(1e-12)).ln() / p.ln()).ceil().max(0.0);
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
    fn crackle_alone_never_makes_a_train() {
        for (seed, per_s) in [(1, 0.5), (2, 2.0), (3, 5.0), (4, 10.0)] {
            let mut rng = Lcg(seed);
            let mut clicks = crackle(&mut rng, per_s, 600.0);
            assert_eq!(run(&mut clicks), None, "{per_s} clicks/s");
        }
    }

    #[test]
    fn heavier_crackle_needs_more_clicks() {
        assert_eq!(teeth_needed(0.2), 4);
        assert!(teeth_needed(5.0) > teeth_needed(0.5));
    }
}
