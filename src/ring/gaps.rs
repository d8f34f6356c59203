//! The gaps of a stretch of the timeline, as taps report them and recordings carry them.
//!
//! Owns following the ring's gap journal while frames are copied ([`GapWatch`]: one atomic
//! load per call while nothing changes, so it can sit on the per-buffer path) and the
//! `VINYL_GAPS` tag format ([`tag_value`], [`parse_tag`]): comma-separated
//! `OFFSET+FRAMES:CAUSE:ACCURACY` items, offsets in frames from the file's first sample, e.g.
//! `480000+123136:overrun:estimated,960000+48000:writer-restart:estimated`. The journal keeps the
//! last 64 gaps; a watcher polled at least once per 64 gaps misses none. It does not log or
//! write files.

use super::layout::{Gap, GapCause};
use super::reader::RingReader;

/// The journaled gaps seen so far from one point of the timeline on.
#[derive(Debug, Default, Clone)]
pub struct GapWatch {
    seen_count: Option<u64>,
    /// The first frame of the newest gap taken in: the journal is in timeline order, so only
    /// later gaps are new (a gap taken out by [`GapWatch::take_reached`] never comes back).
    newest: Option<u64>,
    gaps: Vec<Gap>,
}

impl GapWatch {
    /// Adds the journal's gaps that end after frame `from` and are not known yet. Costs one
    /// atomic load when the journal did not change since the last call.
    pub fn poll(&mut self, ring: &RingReader, from: u64) {
        let count = ring.snapshot().map(|s| s.gap_count).unwrap_or(0);
        if self.seen_count == Some(count) {
            return;
        }
        self.seen_count = Some(count);
        for g in ring.gaps() {
            if g.end() > from && self.newest.is_none_or(|n| g.first > n) {
                self.newest = Some(g.first);
                self.gaps.push(g);
            }
        }
    }

    /// Removes and returns the known gaps that start before `upto` (a tap logs them as it
    /// writes past them).
    pub fn take_reached(&mut self, upto: u64) -> Vec<Gap> {
        let split = self.gaps.partition_point(|g| g.first < upto);
        self.gaps.drain(..split).collect()
    }

    /// Every gap known, in timeline order.
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// Forgets everything (the tap moved to another timeline).
    pub fn reset(&mut self) {
        *self = GapWatch::default();
    }
}

/// The `VINYL_GAPS` value for a file holding timeline frames `first..end`: the parts of `gaps`
/// inside it, offsets relative to `first`. Empty when none falls inside.
pub fn tag_value(gaps: &[Gap], first: u64, end: u64) -> String {
    gaps.iter()
        .filter_map(|g| {
            let a = g.first.max(first);
            let b = g.end().min(end);
            (a < b).then(|| format!("{}+{}:{}:{}", a - first, b - a, g.cause.name(), g.accuracy()))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// One item of a `VINYL_GAPS` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaggedGap {
    /// Frames from the file's first sample.
    pub offset: u64,
    /// Silent frames.
    pub frames: u64,
    /// Why.
    pub cause: GapCause,
    /// Exact, or estimated from the clock.
    pub exact: bool,
}

/// Parses a `VINYL_GAPS` value (the empty string is no gap).
pub fn parse_tag(value: &str) -> Result<Vec<TaggedGap>, String> {
    let bad = |item: &str| format!("'{item}' is not OFFSET+FRAMES:CAUSE:exact|estimated");
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let mut parts = item.split(':');
            let (span, cause, acc) = (parts.next(), parts.next(), parts.next());
            let (Some(span), Some(cause), Some(acc), None) = (span, cause, acc, parts.next()) else {
                return Err(bad(item));
            };
            let (o, f) = span.split_once('+').ok_or_else(|| bad(item))?;
            let cause = [GapCause::Overrun, GapCause::WriterRestart, GapCause::Suspend]
                .into_iter()
                .find(|c| c.name() == cause)
                .ok_or_else(|| bad(item))?;
            let exact = match acc {
                "exact" => true,
                "estimated" => false,
                _ => return Err(bad(item)),
            };
            Ok(TaggedGap {
                offset: o.parse().map_err(|_| bad(item))?,
                frames: f.parse().map_err(|_| bad(item))?,
                cause,
                exact,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(first: u64, frames: u64, cause: GapCause, exact: bool) -> Gap {
        Gap { first, frames, cause, exact, unix_ns: 0 }
    }

    #[test]
    fn the_tag_clips_gaps_to_the_file_and_parses_back() {
        let gaps = [
            gap(100, 50, GapCause::Overrun, true),
            gap(1000, 500, GapCause::WriterRestart, false),
            gap(5000, 10, GapCause::Suspend, false),
        ];
        let v = tag_value(&gaps, 120, 1200);
        assert_eq!(v, "0+30:overrun:exact,880+200:writer-restart:estimated");
        let parsed = parse_tag(&v).unwrap();
        assert_eq!(
            parsed,
            [
                TaggedGap { offset: 0, frames: 30, cause: GapCause::Overrun, exact: true },
                TaggedGap { offset: 880, frames: 200, cause: GapCause::WriterRestart, exact: false },
            ]
        );
        assert_eq!(tag_value(&gaps, 2000, 3000), "");
        assert_eq!(parse_tag("").unwrap(), []);
        for bad in ["1+2", "1+2:boom:exact", "x+2:overrun:exact", "1+2:overrun:maybe", "1:overrun:exact"] {
            assert!(parse_tag(bad).is_err(), "{bad}");
        }
    }
}
