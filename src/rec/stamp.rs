//! Local wall-clock stamps in the forms `vinyl-rec` names and shows things with: the month
//! folder (`2026-11`), default names (`rec-20261124-201500`), the start time of a recording
//! (`2026-11-24 20:15:00`) and the date column of `list` (`2026-11-24 20:15`).
//!
//! Owns only these layouts. The local time itself comes from
//! [`crate::time::rfc3339_local`], the one place that asks the C library for it, so the
//! recordings' `DATE` tags and these stamps always agree. It cannot fail: a time the C library
//! cannot place reads in UTC, and one before 1970 as the Unix epoch.

use std::time::SystemTime;

/// A local time, to the second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// `YYYY-MM-DDTHH:MM:SS`.
    iso: String,
}

impl Stamp {
    /// The local time of `t`.
    pub fn of(t: SystemTime) -> Stamp {
        Stamp::from_rfc3339(&crate::time::rfc3339_local(t))
    }

    /// Now.
    pub fn now() -> Stamp {
        Stamp::of(SystemTime::now())
    }

    /// From an RFC 3339 time (its first 19 characters; anything shorter reads as the epoch).
    fn from_rfc3339(s: &str) -> Stamp {
        let iso = s.get(..19).filter(|p| p.is_ascii()).unwrap_or("1970-01-01T00:00:00");
        Stamp { iso: iso.to_string() }
    }

    /// `2026-11`, the month folder of a recording.
    pub fn month(&self) -> &str {
        &self.iso[..7]
    }

    /// `20261124-201500`, for default names.
    pub fn compact(&self) -> String {
        let digits = |r: std::ops::Range<usize>| self.iso[r].replace(['-', ':'], "");
        format!("{}-{}", digits(0..10), digits(11..19))
    }

    /// `2026-11-24 20:15:00`.
    pub fn seconds(&self) -> String {
        self.iso.replacen('T', " ", 1)
    }

    /// `2026-11-24 20:15`.
    pub fn minutes(&self) -> String {
        self.seconds()[..16].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_from_one_time() {
        let s = Stamp::from_rfc3339("2026-11-24T20:15:07+01:00");
        assert_eq!(s.month(), "2026-11");
        assert_eq!(s.compact(), "20261124-201507");
        assert_eq!(s.seconds(), "2026-11-24 20:15:07");
        assert_eq!(s.minutes(), "2026-11-24 20:15");
        assert_eq!(Stamp::from_rfc3339("garbage").month(), "1970-01");
    }

    #[test]
    fn now_is_well_formed() {
        let s = Stamp::now();
        assert_eq!(s.compact().len(), 15);
        assert_eq!(s.month().as_bytes()[4], b'-');
    }
}
