//! A recognised side's markers fitted to its tracklist: when the listener recognised the side,
//! its file gets one marker for each learned track it holds, whatever the listener's gap
//! detector found.
//!
//! Owns the choice of each marker: the listener's `track_start` nearest the learned boundary
//! (mapped onto this play by the recognition's speed and place) when one lies within
//! [`tolerance`] of it, so a real gap keeps its exact frame; otherwise the mapped boundary itself,
//! flagged as estimated (a medley, or a gap too quiet to hear). A marker the listener put where
//! the tracklist has no boundary (a pause inside a track) is dropped. It does not read files or
//! the collection. It cannot fail: without learned tracks the listener's markers stand.

use crate::events::LearnedTrack;

/// One marker of the file: its frame on the timeline, its title, and whether it was estimated
/// from the tracklist rather than heard.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// Where the track starts (the file's first frame for the file's first track).
    pub frame: u64,
    /// Its number on the learned side, from 1 (a file that starts mid-side opens with a later one).
    pub track: usize,
    /// The learned title.
    pub title: Option<String>,
    /// Placed at the learned time: no gap was heard near it.
    pub estimated: bool,
}

/// How far a heard gap may lie from the mapped boundary at `distance` frames from the needle
/// drop, at `rate` Hz: 4 s, plus 0.3 % of the distance for the speed's remaining error.
pub fn tolerance(distance: u64, rate: u32) -> u64 {
    4 * u64::from(rate) + distance * 3 / 1000
}

/// The markers of a file holding frames `first..end` of a side dropped at `drop`: `heard` are
/// the listener's `track_start` frames (the first one is the drop itself), `learned` the
/// recognition's tracks. Empty when `learned` is: the caller keeps the listener's markers.
pub fn fit(
    heard: &[u64],
    learned: &[LearnedTrack],
    drop: u64,
    first: u64,
    end: u64,
    rate: u32,
) -> Vec<Marker> {
    let grace = u64::from(rate);
    // The track playing at the file's start (plus a second: a boundary right at it is the next).
    let Some(opening) = learned.iter().rev().find(|t| t.frame <= first + grace).or(learned.first()) else {
        return Vec::new();
    };
    let mut out =
        vec![Marker { frame: first, track: opening.track, title: opening.title.clone(), estimated: false }];
    let mut used = Vec::new();
    for t in learned.iter().filter(|t| t.track > opening.track && t.frame > first + grace && t.frame < end) {
        let tol = tolerance(t.frame.saturating_sub(drop), rate);
        let near = heard
            .iter()
            .skip(1)
            .copied()
            .filter(|h| {
                !used.contains(h) && h.abs_diff(t.frame) <= tol && *h > out.last().map_or(0, |m| m.frame)
            })
            .min_by_key(|h| h.abs_diff(t.frame));
        if let Some(h) = near {
            used.push(h);
        }
        out.push(Marker {
            frame: near.unwrap_or(t.frame),
            track: t.track,
            title: t.title.clone(),
            estimated: near.is_none(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: u32 = 48_000;

    fn learned(starts_s: &[u64], drop: u64) -> Vec<LearnedTrack> {
        starts_s
            .iter()
            .enumerate()
            .map(|(i, s)| LearnedTrack {
                track: i + 1,
                frame: drop + s * u64::from(R),
                title: Some(format!("T{}", i + 1)),
            })
            .collect()
    }

    #[test]
    fn heard_gaps_near_the_boundaries_keep_their_frames_and_a_missing_one_is_estimated() {
        let drop = 100 * u64::from(R);
        let l = learned(&[0, 180, 400, 650], drop);
        // Heard: a gap 1.5 s after boundary 2, a pause inside track 2 (no boundary), none near 3,
        // boundary 4 exactly.
        let heard =
            [drop, drop + 181 * u64::from(R) + 24_000, drop + 300 * u64::from(R), drop + 650 * u64::from(R)];
        let first = drop - u64::from(R);
        let m = fit(&heard, &l, drop, first, drop + 900 * u64::from(R), R);
        assert_eq!(m.len(), 4, "{m:?}");
        assert_eq!((m[0].frame, m[0].title.as_deref(), m[0].estimated), (first, Some("T1"), false));
        assert_eq!((m[1].frame, m[1].estimated), (heard[1], false));
        assert_eq!((m[2].frame, m[2].title.as_deref(), m[2].estimated), (l[2].frame, Some("T3"), true));
        assert_eq!((m[3].frame, m[3].estimated), (heard[3], false));
    }

    #[test]
    fn a_file_that_starts_mid_side_opens_with_the_track_playing_and_ends_with_the_last_it_holds() {
        let drop = 0;
        let l = learned(&[0, 180, 400, 650], drop);
        let first = 200 * u64::from(R);
        let m = fit(&[drop], &l, drop, first, 500 * u64::from(R), R);
        let titles: Vec<_> = m.iter().map(|m| m.title.as_deref().unwrap()).collect();
        assert_eq!(titles, ["T2", "T3"]);
        assert_eq!((m[0].frame, m[0].track, m[1].track), (first, 2, 3));
    }

    #[test]
    fn without_learned_tracks_nothing_is_fitted() {
        assert!(fit(&[0, 10], &[], 0, 0, 100, R).is_empty());
    }
}
