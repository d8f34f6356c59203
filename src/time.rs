//! Wall-clock times as RFC 3339 text, and clock times of a recording (`H:MM:SS.sss`): the one
//! place that formats, reads and checks them.
//!
//! Owns the civil-date arithmetic (days since 1970 to a Gregorian date and back), the two
//! renderings the tools print (UTC with milliseconds for the ring's frame 0 and a frame's time,
//! local time with its UTC offset for a recording's `DATE` tag), the shape check of an RFC 3339
//! time given on the command line, and the reading of a local date or time to select from.
//! It does not read clocks other than the local time zone's offset (`localtime_r`), and it never
//! fails: an instant the C library cannot place is shown in UTC.

use std::time::SystemTime;

/// A civil date and time of day: year, month (1-12), day (1-31), hour, minute, second.
type Civil = (i64, i64, i64, i64, i64, i64);

/// The civil date and time of `secs` seconds after 1970-01-01T00:00:00 (Howard Hinnant's
/// algorithm, proleptic Gregorian).
fn civil(secs: i64) -> Civil {
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, sod / 3600, sod % 3600 / 60, sod % 60)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (the inverse of [`civil`]'s date).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let (era, yoe) = (y.div_euclid(400), y.rem_euclid(400));
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// A date, or a date and a time of day, as written: `YYYY-MM-DD`, then `T`, `t` or a space and
/// `HH:MM`, `:SS` (60: a leap second), `.fff…`; then `Z`, `z` or `±HH:MM`, or nothing (local).
/// The fields' ranges are checked, not the calendar (the 31st of any month is taken).
struct Written {
    /// Seconds from 1970-01-01T00:00 to it, on its own clock.
    naive: i64,
    /// Milliseconds past the second (further decimals are dropped).
    millis: i64,
    /// Whether the seconds were written.
    seconds: bool,
    /// Seconds east of UTC, when a zone was written.
    zone: Option<i64>,
}

fn read_written(s: &str) -> Option<Written> {
    let b = s.as_bytes();
    let digits = |at: usize, len: usize| b.get(at..at + len).filter(|t| t.iter().all(u8::is_ascii_digit));
    let num = |at: usize, len: usize, max: i64| {
        let n = digits(at, len)?.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0'));
        (n <= max).then_some(n)
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let (y, mo, d) = (num(0, 4, 9999)?, num(5, 2, 12)?, num(8, 2, 31)?);
    if !(at(4, b'-') && at(7, b'-')) || mo == 0 || d == 0 {
        return None;
    }
    let mut w = Written { naive: days_from_civil(y, mo, d) * 86_400, millis: 0, seconds: false, zone: None };
    let mut i = 10;
    if matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        w.naive += num(11, 2, 23)? * 3600 + num(14, 2, 59)? * 60;
        i = if at(13, b':') { 16 } else { return None };
        if at(16, b':') {
            (w.naive, w.seconds, i) = (w.naive + num(17, 2, 60)?, true, 19);
        }
        if w.seconds && at(19, b'.') {
            let n = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
            let ms = num(20, n.clamp(1, 3), 999)?;
            (w.millis, i) = (ms * 10i64.pow(3 - n.min(3) as u32), 20 + n);
        }
    }
    w.zone = match &b[i..] {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let east = num(i + 1, 2, 23)? * 3600 + num(i + 4, 2, 59)? * 60;
            Some(if *sign == b'-' { -east } else { east })
        }
        _ => return None,
    };
    Some(w)
}

/// A time to select from, as a user writes it: a date (`2026-12-01`: its midnight), or a date and
/// a time of day (`2026-12-01T20:00`, `2026-12-01 20:00:30.5`), in the local time zone unless `Z`
/// or `±HH:MM` follows. Returned as [`rfc3339_utc`] text, which the stored times compare with as
/// text. An instant the C library cannot place is taken as UTC.
pub fn parse_since(s: &str) -> Result<String, String> {
    let w = read_written(s.trim())
        .ok_or_else(|| format!("{s:?} is not a date (2026-12-01) or a date and time (2026-12-01T20:00)"))?;
    let utc = match w.zone {
        Some(east) => w.naive - east,
        None => {
            let first = w.naive - local_offset_seconds(w.naive).unwrap_or(0);
            w.naive - local_offset_seconds(first).unwrap_or(0)
        }
    };
    let secs = u64::try_from(utc).map_err(|_| format!("{s:?} is before 1970"))?;
    Ok(rfc3339_utc(secs * 1_000_000_000 + w.millis as u64 * 1_000_000))
}

/// `YYYY-MM-DDTHH:MM:SS`, then `.mmm` when `millis` is given, then `Z` or `±HH:MM` for an offset
/// of `offset_min` minutes east of UTC; `local_secs` is the time already shifted by the offset.
fn format(local_secs: i64, millis: Option<u64>, offset_min: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(local_secs);
    let frac = millis.map_or(String::new(), |ms| format!(".{ms:03}"));
    let zone = match offset_min {
        0 => "Z".to_string(),
        off => format!("{}{:02}:{:02}", if off < 0 { '-' } else { '+' }, off.abs() / 60, off.abs() % 60),
    };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{zone}")
}

/// A Unix time in nanoseconds as RFC 3339 UTC with milliseconds (truncated):
/// `2026-11-24T09:00:00.123Z`.
pub fn rfc3339_utc(unix_ns: u64) -> String {
    let ms = unix_ns / 1_000_000;
    format((ms / 1000) as i64, Some(ms % 1000), 0)
}

/// When timeline frame `frame` was captured, from when frame 0 was (`frame0_unix_ns`), at `rate`
/// Hz, as [`rfc3339_utc`]: frame 0's time is taken to the millisecond first, so that every tool
/// that times a frame of one timeline gives the same text.
pub fn frame_time(frame0_unix_ns: u64, frame: u64, rate: u32) -> String {
    let frame0_ms = u128::from(frame0_unix_ns / 1_000_000) * 1_000_000;
    let ns = frame0_ms + u128::from(frame) * 1_000_000_000 / u128::from(rate.max(1));
    rfc3339_utc(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// Local time as RFC 3339 with the UTC offset, to the second: `2026-11-24T20:15:00+01:00`.
/// A time before 1970 is shown as the epoch.
pub fn rfc3339_local(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let offset_min = local_offset_seconds(secs).unwrap_or(0) / 60;
    format(secs + offset_min * 60, None, offset_min)
}

/// A stored time (RFC 3339, any zone) as the local time, to the second, with its offset
/// ([`rfc3339_local`]); text that is not one is given back as it is.
pub fn shown_local(stored: &str) -> String {
    match read_written(stored)
        .filter(|w| w.zone.is_some())
        .and_then(|w| u64::try_from(w.naive - w.zone?).ok())
    {
        Some(secs) => rfc3339_local(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)),
        None => stored.to_string(),
    }
}

/// The local time zone's offset from UTC at `secs` after the epoch, in seconds east of UTC.
fn local_offset_seconds(secs: i64) -> Option<i64> {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which we own, and a zeroed tm is a valid value;
    // it reads only `t`. Its result is checked before `tm` is used.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&t, &mut tm).is_null()).then_some(tm)
    }?;
    Some(tm.tm_gmtoff as i64)
}

/// Checks that `s` looks like an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
/// Leans towards accepting: it checks the shape and the ranges of the fields, not the calendar.
pub fn is_rfc3339(s: &str) -> bool {
    read_written(s).is_some_and(|w| w.seconds && w.zone.is_some())
}

/// A clock time `[[H:]M:]S[.fff…]` in microseconds: minutes and seconds after a colon below 60.
/// Decimals beyond the sixth are refused when `max_decimals` is given and fewer than they,
/// dropped otherwise. `Err` says why, for the caller's message.
pub fn parse_clock(t: &str, max_decimals: Option<usize>) -> Result<u64, &'static str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let mut fields: Vec<&str> = t.trim().split(':').collect();
    if fields.len() > 3 {
        return Err("more than H:MM:SS");
    }
    let last = fields.pop().unwrap_or_default();
    let (whole, frac) = last.split_once('.').unwrap_or((last, ""));
    if !digits(whole) || !(frac.is_empty() || digits(frac)) || last.ends_with('.') {
        return Err("expected digits");
    }
    if max_decimals.is_some_and(|n| frac.len() > n) {
        return Err("more than 6 decimals: give frames instead");
    }
    let mut secs: u64 = whole.parse().map_err(|_| "too large")?;
    if !fields.is_empty() && secs >= 60 {
        return Err("seconds after a colon must be below 60");
    }
    for (i, f) in fields.iter().rev().enumerate() {
        if !digits(f) {
            return Err("expected digits");
        }
        let v: u64 = f.parse().map_err(|_| "too large")?;
        if i == 0 && fields.len() == 2 && v >= 60 {
            return Err("minutes after hours must be below 60");
        }
        let scale = if i == 0 { 60 } else { 3600 };
        secs = v.checked_mul(scale).and_then(|x| x.checked_add(secs)).ok_or("too large")?;
    }
    let micros = format!("{:0<6}", &frac[..frac.len().min(6)]).parse::<u64>().map_err(|_| "too large")?;
    secs.checked_mul(1_000_000).and_then(|x| x.checked_add(micros)).ok_or("too large")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_utc(1_795_510_800_123_456_789), "2026-11-24T09:00:00.123Z");
    }

    #[test]
    fn a_frame_is_timed_from_frame_zero_taken_to_the_millisecond() {
        let frame0 = 1_795_547_700_123_999_999;
        assert_eq!(frame_time(frame0, 0, 48_000), "2026-11-24T19:15:00.123Z");
        assert_eq!(frame_time(frame0, 90 * 48_000 + 24_000, 48_000), "2026-11-24T19:16:30.623Z");
        // The same frame of the same timeline whatever frame 0's nanoseconds past its millisecond.
        assert_eq!(frame_time(frame0 - 999_999, 4_410, 44_100), frame_time(frame0, 4_410, 44_100));
    }

    #[test]
    fn a_time_to_select_from_is_read_in_its_zone_and_anything_else_is_refused() {
        assert_eq!(parse_since("2026-12-01T20:00Z").unwrap(), "2026-12-01T20:00:00.000Z");
        assert_eq!(parse_since(" 2026-12-01 20:00:30+05:30").unwrap(), "2026-12-01T14:30:30.000Z");
        assert_eq!(parse_since("2024-03-01T00:00-01:00").unwrap(), "2024-03-01T01:00:00.000Z");
        assert_eq!(parse_since("2000-02-29T23:59:59Z").unwrap(), "2000-02-29T23:59:59.000Z");
        assert_eq!(parse_since("2026-12-01T20:00:00.5Z").unwrap(), "2026-12-01T20:00:00.500Z");
        assert_eq!(parse_since("2026-12-01t20:00:00.123456z").unwrap(), "2026-12-01T20:00:00.123Z");
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2026-12-00",
            "2026-12-01T24:00",
            "2026-12-01T20",
            "2026-12-01T20:00:6",
            "2026-12-01T20:00+5",
            "2026-12-01T20:00X",
            "12/01/2026",
            "2026-12-01T20:00:00.Z",
            "2026-12-01T20:00.5Z",
            "1969-12-31Z",
            "2026-12-0é",
            "2026-12-01T2é:00",
        ] {
            assert!(parse_since(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn offsets_are_written_east_positive() {
        assert_eq!(format(3600, None, 60), "1970-01-01T01:00:00+01:00");
        assert_eq!(format(-16_200, None, -270), "1969-12-31T19:30:00-04:30");
    }

    #[test]
    fn local_dates_are_rfc3339() {
        assert!(is_rfc3339(&rfc3339_local(SystemTime::now())));
        assert!(is_rfc3339(&rfc3339_local(SystemTime::UNIX_EPOCH)));
    }

    #[test]
    fn rfc3339_shapes() {
        for ok in ["2026-11-24T20:15:00Z", "2026-11-24T20:15:00.125+01:00", "2026-01-01 00:00:60-12:30"] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2026-11-24",
            "2026-11-24T20:15:00",
            "2026-13-24T20:15:00Z",
            "2026-11-24T20:15:00.Z",
            "yesterday",
            "2026-11-24T20:15:00+1:00",
            "2026-11-24T25:15:00Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
