//! The gaps of a stretch of the timeline, as taps report them and recordings carry them.
//!
//! Owns following the ring's gap journal while frames are copied ([`GapWatch`]: a few atomic
//! loads per call while nothing changes, so it can sit on the per-buffer path), the accounting of
//! gaps that left the 64-entry journal before the watcher could list them ([`Unlisted`]: their
//! number and length are exact, from the header's totals), and the recording's tags ([`tags`]):
//!
//! - `VINYL_GAPS`: comma-separated `OFFSET+FRAMES:CAUSE:ACCURACY` items, offsets in frames from
//!   the file's first sample, e.g. `480000+123136:overrun:estimated,960000+48000:writer-restart:estimated`.
//!   At most [`TAG_MAX_ITEMS`] items and [`TAG_MAX_BYTES`] bytes: past that, the largest gaps, in
//!   timeline order. Bounded so that it never eats the padding that track markers and loudness
//!   tags need later.
//! - `VINYL_GAPS_TOTAL`: `COUNT+FRAMES:exact` (or `:at-most`), every gap of the recording and
//!   their frames, listed or not; present only when `VINYL_GAPS` does not list them all. `at-most`
//!   when gaps left the journal before the recording's first look and may lie before its start.
//!
//! It does not log or write files.

use super::layout::{Gap, GapCause};
use super::reader::RingReader;

/// Most items in `VINYL_GAPS`: 32, about 1.3 KiB, a sixth of the 8 KiB padding.
pub const TAG_MAX_ITEMS: usize = 32;

/// Most bytes of the `VINYL_GAPS` value (with 32 items of realistic length it is the item count
/// that binds; this bounds absurd offsets too).
pub const TAG_MAX_BYTES: usize = 1536;

/// Gaps that left the ring's journal before a watcher could list them (more than 64 gaps between
/// two looks): how many and how long, exact from the header's totals, and the stretch of the
/// timeline that holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unlisted {
    /// Gaps.
    pub count: u64,
    /// Their silent frames.
    pub frames: u64,
    /// They start at or after this frame (the head at the watcher's previous look; 0 at its
    /// first).
    pub after: u64,
    /// They end at or before this frame (the end of the newest gap that left the journal, or the
    /// first gap listed after them, or the head).
    pub before: u64,
    /// False when `count` and `frames` are only upper bounds: at a watcher's first look, gaps
    /// that left the journal may lie before the frame it watches from. They are then bounded by
    /// the frames between that start and `before` (and `after` is that start).
    pub exact: bool,
}

impl Unlisted {
    /// `6 gaps (0.003s of silence) between frames 100 and 5000`, with `up to` when not exact.
    pub fn describe(&self, rate: u32) -> String {
        let up_to = if self.exact { "" } else { "up to " };
        format!(
            "{up_to}{} gaps ({up_to}{} of silence) between frames {} and {}",
            self.count,
            crate::spec::format_frames(self.frames, rate),
            self.after,
            self.before
        )
    }
}

/// What the watcher knew at its last look.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    count: u64,
    frames: u64,
    head: u64,
}

/// The journaled gaps seen so far from one point of the timeline on.
#[derive(Debug, Default, Clone)]
pub struct GapWatch {
    seen: Option<Seen>,
    /// The first frame of the newest gap taken in: the journal is in timeline order, so only
    /// later gaps are new (a gap taken out by [`GapWatch::take_reached`] never comes back).
    newest: Option<u64>,
    gaps: Vec<Gap>,
    unlisted: Vec<Unlisted>,
}

impl GapWatch {
    /// Adds the journal's gaps that end after frame `from` and are not known yet, and accounts
    /// for those that left the journal unseen. Cheap when the journal did not change since the
    /// last call.
    pub fn poll(&mut self, ring: &RingReader, from: u64) {
        let count = ring.snapshot().map(|s| s.gap_count).unwrap_or(0);
        if self.seen.is_some_and(|s| s.count == count) {
            return;
        }
        let j = ring.journal();
        let (first_look, prev) = (self.seen.is_none(), self.seen.unwrap_or_default());
        if j.count < prev.count {
            return; // not this watcher's timeline any more; the tap resets it
        }
        self.seen = Some(Seen { count: j.count, frames: j.frames, head: j.head });
        let new: Vec<Gap> = j.entries.iter().filter(|(i, _)| *i >= prev.count).map(|(_, g)| *g).collect();
        let missed = (j.count - prev.count).saturating_sub(new.len() as u64);
        if missed > 0 {
            let listed: u64 = new.iter().map(|g| g.frames).sum();
            let next = new.first().map_or(j.head, |g| g.first);
            let mut run = Unlisted {
                count: missed,
                frames: (j.frames.saturating_sub(prev.frames)).saturating_sub(listed),
                after: prev.head,
                // The newest gap that left the journal is among the missed ones: they all end
                // by its end.
                before: if j.evicted_end > 0 { j.evicted_end.min(next) } else { next },
                exact: true,
            };
            // Missed between two looks, they lie after the previous look's head: inside what the
            // watcher follows. At the first look they may lie anywhere before `before`: none
            // matters when that is before `from`, or when a listed gap ends before `from` (every
            // older one does too).
            let older_than_from = j.entries.first().is_some_and(|(_, g)| g.end() <= from);
            if !first_look || (run.before > from && !older_than_from) {
                if first_look && run.after < from {
                    // Which of them lie after `from` is unknown: at most those that fit.
                    let room = run.before - from;
                    run = Unlisted {
                        count: run.count.min(room),
                        frames: run.frames.min(room),
                        after: from,
                        exact: false,
                        ..run
                    };
                }
                self.unlisted.push(run);
            }
        }
        for g in new {
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

    /// Removes and returns the unlisted runs that may start before `upto`.
    pub fn take_unlisted(&mut self, upto: u64) -> Vec<Unlisted> {
        let split = self.unlisted.partition_point(|u| u.after < upto);
        self.unlisted.drain(..split).collect()
    }

    /// Every gap known, in timeline order.
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// Every run of gaps that left the journal unseen, in timeline order.
    pub fn unlisted(&self) -> &[Unlisted] {
        &self.unlisted
    }

    /// Forgets everything (the tap moved to another timeline).
    pub fn reset(&mut self) {
        *self = GapWatch::default();
    }
}

/// The unlisted gaps of frames `first..end`: their count and frames, and whether that is exact
/// (every run is exact and lies inside) or an upper bound (a run is a bound, or straddles an
/// edge: its gaps may lie outside).
pub fn unlisted_in(runs: &[Unlisted], first: u64, end: u64) -> (u64, u64, bool) {
    let mut sum = (0, 0, true);
    for u in runs.iter().filter(|u| u.after < end && u.before > first) {
        sum = (sum.0 + u.count, sum.1 + u.frames, sum.2 && u.exact && u.after >= first && u.before <= end);
    }
    sum
}

/// The items of `gaps` inside `first..end`: offset, frames, text.
fn items(gaps: &[Gap], first: u64, end: u64) -> Vec<(u64, u64, String)> {
    gaps.iter()
        .filter_map(|g| {
            let a = g.first.max(first);
            let b = g.end().min(end);
            (a < b).then(|| {
                (a - first, b - a, format!("{}+{}:{}:{}", a - first, b - a, g.cause.name(), g.accuracy()))
            })
        })
        .collect()
}

/// The gap tags of a file holding timeline frames `first..end` (see the module documentation):
/// `VINYL_GAPS` with at most [`TAG_MAX_ITEMS`] items and [`TAG_MAX_BYTES`] bytes (the largest
/// gaps, ties to the earlier, in timeline order), and `VINYL_GAPS_TOTAL` when it does not list
/// every gap of `gaps` and `unlisted` inside the file. Nothing when there is no gap.
pub fn tags(gaps: &[Gap], unlisted: &[Unlisted], first: u64, end: u64) -> Vec<(String, String)> {
    let all = items(gaps, first, end);
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(all[i].1));
    let (mut chosen, mut bytes) = (Vec::new(), 0usize);
    for i in order {
        let len = all[i].2.len() + usize::from(!chosen.is_empty());
        if chosen.len() == TAG_MAX_ITEMS || bytes + len > TAG_MAX_BYTES {
            break;
        }
        bytes += len;
        chosen.push(i);
    }
    chosen.sort_unstable();
    let mut out = Vec::new();
    if !chosen.is_empty() {
        let v: Vec<&str> = chosen.iter().map(|&i| all[i].2.as_str()).collect();
        out.push(("VINYL_GAPS".to_string(), v.join(",")));
    }
    let (u_count, u_frames, exact) = unlisted_in(unlisted, first, end);
    if chosen.len() < all.len() || u_count > 0 {
        let count = all.len() as u64 + u_count;
        let frames = all.iter().map(|(_, f, _)| f).sum::<u64>() + u_frames;
        let accuracy = if exact { "exact" } else { "at-most" };
        out.push(("VINYL_GAPS_TOTAL".to_string(), format!("{count}+{frames}:{accuracy}")));
    }
    out
}

/// A `VINYL_GAPS_TOTAL` value: gaps, their frames, and whether that is exact (`exact`) or an
/// upper bound (`at-most`); `None` when it is malformed.
pub fn parse_total(value: &str) -> Option<(u64, u64, bool)> {
    let (count, rest) = value.split_once('+')?;
    let (frames, accuracy) = rest.split_once(':')?;
    let exact = match accuracy {
        "exact" => true,
        "at-most" => false,
        _ => return None,
    };
    Some((count.parse().ok()?, frames.parse().ok()?, exact))
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
        let v = "0+30:overrun:exact,880+200:writer-restart:estimated".to_string();
        let parsed = parse_tag(&v).unwrap();
        assert_eq!(
            parsed,
            [
                TaggedGap { offset: 0, frames: 30, cause: GapCause::Overrun, exact: true },
                TaggedGap { offset: 880, frames: 200, cause: GapCause::WriterRestart, exact: false },
            ]
        );
        assert_eq!(tags(&gaps, &[], 2000, 3000), []);
        assert_eq!(
            tags(&gaps, &[], 120, 1200),
            [("VINYL_GAPS".to_string(), v.clone())],
            "no total when all listed"
        );
        assert_eq!(parse_tag("").unwrap(), []);
        for bad in ["1+2", "1+2:boom:exact", "x+2:overrun:exact", "1+2:overrun:maybe", "1:overrun:exact"] {
            assert!(parse_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_tags_keep_the_largest_gaps_in_order_and_total_every_one() {
        let many: Vec<Gap> =
            (0..100u64).map(|i| gap(i * 1000, 1 + (i * 37) % 100, GapCause::Overrun, true)).collect();
        let t = tags(&many, &[], 0, u64::MAX);
        let listed = parse_tag(&t[0].1).unwrap();
        assert_eq!(listed.len(), TAG_MAX_ITEMS);
        let mut sizes: Vec<u64> = many.iter().map(|g| g.frames).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        assert!(listed.iter().all(|g| g.frames >= sizes[TAG_MAX_ITEMS - 1]), "the largest");
        assert!(listed.windows(2).all(|w| w[0].offset < w[1].offset), "in timeline order");
        let total: u64 = many.iter().map(|g| g.frames).sum();
        assert_eq!(t[1], ("VINYL_GAPS_TOTAL".to_string(), format!("100+{total}:exact")));
        // Long offsets: the byte budget binds before the item count.
        let far: Vec<Gap> = (0..40u64)
            .map(|i| gap(u64::MAX / 4 + i * 10u64.pow(13), 10u64.pow(12) + i, GapCause::WriterRestart, false))
            .collect();
        let t = tags(&far, &[], 0, u64::MAX);
        assert!(
            t[0].1.len() <= TAG_MAX_BYTES && parse_tag(&t[0].1).unwrap().len() < TAG_MAX_ITEMS,
            "{}",
            t[0].1
        );
        // Unlisted runs: exact inside the file, at most when one straddles its start.
        let runs = [Unlisted { count: 6, frames: 600, after: 500, before: 900, exact: true }];
        assert_eq!(tags(&[], &runs, 0, 1000), [("VINYL_GAPS_TOTAL".to_string(), "6+600:exact".to_string())]);
        assert_eq!(tags(&[], &runs, 700, 1000)[0].1, "6+600:at-most");
        assert_eq!(tags(&[], &runs, 900, 1000), []);
        let bound = [Unlisted { exact: false, ..runs[0] }];
        assert_eq!(tags(&[], &bound, 0, 1000)[0].1, "6+600:at-most");
        assert_eq!(parse_total("6+600:at-most"), Some((6, 600, false)));
        assert_eq!(parse_total("70+7000:exact"), Some((70, 7000, true)));
        assert_eq!(parse_total("70+7000"), None);
    }
}
