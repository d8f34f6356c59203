//! Capped, jittered exponential backoff between reconnection attempts, for every tool that
//! reconnects forever (the Icecast sources' sender, vinyl-mqtt's link).
//!
//! Owns the delay sequence only: `min`, doubling up to `max`, each delay drawn uniformly from
//! its upper half ("equal jitter") so that several sources restarting together do not hammer a
//! server in lockstep, and never longer than `max`. It does not sleep; the caller waits (so it
//! can keep draining its input and watch for a stop request while it does).

use std::time::Duration;

/// The first delay before a reconnection, in every tool that reconnects; it doubles, with
/// jitter, up to the tool's own maximum.
pub const RETRY_MIN: Duration = Duration::from_millis(500);

/// A delay sequence for retries: `min`, `2·min`, `4·min`… capped at `max`, with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
    rng: u64,
}

impl Backoff {
    /// Starts at `min` (e.g. 500 ms) and doubles up to `max` (e.g. 2 s). `max` below `min` is
    /// raised to `min`.
    pub fn new(min: Duration, max: Duration) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ ((std::process::id() as u64) << 32);
        Backoff { min, max: max.max(min), step: Duration::ZERO, rng: seed | 1 }
    }

    /// The delay before the next attempt: within `[d/2, d]` where `d` doubles per call from
    /// `min` and stays at `max` once there.
    pub fn next_delay(&mut self) -> Duration {
        self.step = if self.step.is_zero() { self.min } else { (self.step * 2).min(self.max) };
        let half = self.step / 2;
        let frac = (self.random() >> 11) as f64 / (1u64 << 53) as f64;
        half + half.mul_f64(frac)
    }

    /// Starts over from `min` (after a connection that worked).
    pub fn reset(&mut self) {
        self.step = Duration::ZERO;
    }

    /// The cap, e.g. 2 s.
    pub fn max(&self) -> Duration {
        self.max
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: plenty for jitter.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_and_stays_under_the_cap() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(10));
        let mut b = Backoff::new(min, max);
        let mut upper = min;
        for i in 0..20 {
            let d = b.next_delay();
            assert!(d >= upper / 2 && d <= upper, "attempt {i}: {d:?} not in [{:?}, {upper:?}]", upper / 2);
            upper = (upper * 2).min(max);
        }
        b.reset();
        assert!(b.next_delay() <= min);
    }

    #[test]
    fn jitter_varies() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(2));
        let delays: std::collections::HashSet<_> = (0..10).map(|_| b.next_delay()).collect();
        assert!(delays.len() > 5);
    }
}
