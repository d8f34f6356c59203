//! The checks `vinyl-rec` makes before it touches anything: names, tags, folders, durations, and
//! the start-frame arithmetic. All pure, so each rule has its unit test.
//!
//! Owns the wording of every usage error of the tool (`--flag: what is wrong: how to fix it`),
//! each one a [`UsageError`] (exit 2). It does not read the ring or the disk: the callers pass
//! the numbers in. Nothing here can panic on input.

use crate::cli::UsageError;
use crate::config::has_control;
use crate::pcm::DurationArg;
use std::ffi::OsStr;

/// The longest file name the file systems vinyl writes to accept, in bytes (`NAME_MAX` of ext4,
/// xfs, btrfs, tmpfs).
pub const NAME_MAX: usize = 255;

/// What the recorder appends to a name while it writes: `NAME.flac.part`.
pub const PART_SUFFIX: &str = ".flac.part";

/// The recording name from `--name`: a trailing `.flac` dropped, then refused (exit 2) when it is
/// empty, starts with `-` or `.`, holds `/`, `..` or a control character, or makes
/// `NAME.flac.part` longer than [`NAME_MAX`] bytes.
pub fn name(given: &str) -> Result<String, UsageError> {
    let n = given.strip_suffix(".flac").unwrap_or(given);
    let refuse = |why: String| Err(UsageError::new(format!("--name: {why}")));
    if n.is_empty() {
        return refuse("empty name".into());
    }
    if n.starts_with('-') || n.starts_with('.') {
        return refuse(format!("'{n}' starts with '-' or '.': give a plain file name such as side-a"));
    }
    if n.contains('/') || n.contains("..") {
        return refuse(format!("'{n}' contains '/' or '..': names stay inside the recordings folder"));
    }
    if has_control(OsStr::new(n)) {
        return refuse("the name contains control characters".into());
    }
    let longest = NAME_MAX - PART_SUFFIX.len();
    if n.len() > longest {
        return refuse(format!(
            "the name is {} bytes long, but file names are limited to {NAME_MAX} bytes and \
             NAME{PART_SUFFIX} must fit: use at most {longest} bytes",
            n.len()
        ));
    }
    Ok(n.to_string())
}

/// A `--tag KEY=VALUE`, parsed by [`crate::pcm::parse_tag`] (the recorder's own rule) after the
/// checks the recorder leaves to its caller: an empty key and control characters anywhere.
pub fn tag(given: &str) -> Result<(String, String), UsageError> {
    if given.contains('=') && (given.starts_with('=') || has_control(OsStr::new(given))) {
        return Err(UsageError::new(format!("--tag: '{given}' is not KEY=VALUE with printable text")));
    }
    crate::pcm::parse_tag(given).map_err(|e| UsageError::new(format!("--tag: {e}")))
}

/// A folder named by `flag` (`--dir`, `--into`): not empty, no control characters.
pub fn folder(flag: &str, given: &OsStr) -> Result<(), UsageError> {
    if given.is_empty() {
        return Err(UsageError::new(format!("{flag}: empty folder name")));
    }
    if has_control(given) {
        return Err(UsageError::new(format!("{flag}: the folder name contains control characters")));
    }
    Ok(())
}

/// A duration given to `flag` (`--preroll`, `--last`), by vinyl(7)'s rule ([`DurationArg`]).
pub fn duration(flag: &str, given: &str) -> Result<DurationArg, UsageError> {
    given.parse().map_err(|e| UsageError::new(format!("{flag}: {e}")))
}

/// Where a recording of `want` frames back from `head` starts in a ring whose oldest frame is
/// `oldest`, and whether the ring held less than asked (then it starts at `oldest`).
pub fn start_frame(head: u64, oldest: u64, want: u64) -> (u64, bool) {
    match head.checked_sub(want) {
        Some(start) if start >= oldest => (start, false),
        _ => (oldest.min(head), true),
    }
}

/// A track marker as `--set` takes it: a time or an exact sample (frame) number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A time from the file's first sample, in microseconds.
    Micros(u64),
    /// A frame (sample per channel) number from the file's first sample.
    Frames(u64),
}

impl Marker {
    /// The marker in frames at `rate`: a time is rounded to the nearest frame (half up).
    pub fn frames(self, rate: u32) -> u64 {
        match self {
            Marker::Frames(f) => f,
            Marker::Micros(us) => ((us as u128 * rate as u128 + 500_000) / 1_000_000) as u64,
        }
    }
}

const MARKER_HELP: &str = "which should be a time as H:MM:SS.sss, M:SS.sss or seconds (3:12.5, \
1:02:03, 192.5), or a frame number such as 9240000f";

/// One `--set` item: `Nf` (frames), or `[[H:]M:]S[.ffffff]` (minutes and seconds after a colon
/// below 60; at most 6 decimals).
pub fn marker(given: &str) -> Result<Marker, UsageError> {
    let bad = |why: &str| UsageError::new(format!("--set: '{given}' is not a marker ({why}), {MARKER_HELP}"));
    let t = given.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if let Some(n) = t.strip_suffix('f') {
        return if digits(n) {
            n.parse().map(Marker::Frames).map_err(|_| bad("too large"))
        } else {
            Err(bad("a frame number is a whole number"))
        };
    }
    crate::time::parse_clock(t, Some(6)).map(Marker::Micros).map_err(bad)
}

/// The `--set` list: markers separated by commas (spaces around them allowed), at least one.
pub fn markers(given: &str) -> Result<Vec<Marker>, UsageError> {
    if given.trim().is_empty() {
        return Err(UsageError::new(format!("--set: empty list, {MARKER_HELP}")));
    }
    given.split(',').map(marker).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_lose_a_flac_suffix() {
        assert_eq!(name("side-a").unwrap(), "side-a");
        assert_eq!(name("side-a.flac").unwrap(), "side-a");
        assert_eq!(name("Kind of Blue é").unwrap(), "Kind of Blue é");
        assert_eq!(name("a.b").unwrap(), "a.b");
    }

    #[test]
    fn names_that_escape_or_hide_are_refused_saying_why() {
        for (bad, why) in [
            ("", "empty name"),
            (".flac", "empty name"),
            ("-x", "starts with '-' or '.'"),
            (".hidden", "starts with '-' or '.'"),
            ("../escape", "starts with '-' or '.'"),
            ("a/b", "contains '/' or '..'"),
            ("a..b", "contains '/' or '..'"),
            ("tab\there", "control characters"),
        ] {
            let err = name(bad).unwrap_err().to_string();
            assert!(err.starts_with("--name: ") && err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_name_is_refused_when_its_part_file_would_not_fit_the_file_system() {
        assert!(name(&"a".repeat(245)).is_ok());
        let err = name(&"a".repeat(246)).unwrap_err().to_string();
        assert!(
            err.contains("246 bytes") && err.contains("255 bytes") && err.contains("at most 245"),
            "{err}"
        );
        // Bytes, not characters: 123 two-byte letters are 246 bytes.
        assert!(name(&"é".repeat(123)).is_err());
        assert!(name(&format!("{}.flac", "a".repeat(245))).is_ok(), ".flac is not part of the name");
    }

    #[test]
    fn tags_are_key_value_with_printable_text() {
        assert_eq!(tag("TITLE=Side A").unwrap(), ("TITLE".into(), "Side A".into()));
        assert_eq!(tag("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert_eq!(tag("novalue").unwrap_err().to_string(), "--tag: 'novalue' is not KEY=VALUE");
        for bad in ["=x", "A=line\nbreak", "A\tB=x"] {
            assert!(tag(bad).unwrap_err().to_string().contains("with printable text"), "{bad:?}");
        }
        assert!(tag("KÉY=x").unwrap_err().to_string().contains("not a valid tag key"));
    }

    #[test]
    fn folders_must_be_named_without_control_characters() {
        assert!(folder("--dir", OsStr::new("/srv/rec")).is_ok());
        assert_eq!(folder("--into", OsStr::new("")).unwrap_err().to_string(), "--into: empty folder name");
        assert!(folder("--dir", OsStr::new("a\nb")).is_err());
    }

    #[test]
    fn durations_name_the_flag() {
        assert_eq!(duration("--preroll", "1m30s").unwrap().frames(48_000), 90 * 48_000);
        let err = duration("--preroll", "30").unwrap_err().to_string();
        assert!(err.starts_with("--preroll: '30' is not a duration"), "{err}");
        assert!(duration("--last", "1s1m").is_err());
    }

    #[test]
    fn the_start_is_exactly_the_preroll_back_or_the_oldest_frame() {
        assert_eq!(start_frame(40 * 48_000, 0, 30 * 48_000), (10 * 48_000, false));
        assert_eq!(start_frame(100, 40, 60), (40, false), "exactly the ring: no warning");
        assert_eq!(start_frame(100, 41, 60), (41, true));
        assert_eq!(start_frame(10, 0, 30), (0, true), "more than was ever written");
        assert_eq!(start_frame(10, 0, 0), (10, false), "no pre-roll: live");
        assert_eq!(start_frame(0, 0, u64::MAX), (0, true));
    }

    #[test]
    fn markers_are_times_seconds_or_frames() {
        let us = |s: &str| marker(s).unwrap();
        assert_eq!(us("0"), Marker::Micros(0));
        assert_eq!(us("192.5"), Marker::Micros(192_500_000));
        assert_eq!(us("3:12.5"), Marker::Micros(192_500_000));
        assert_eq!(us("7:40"), Marker::Micros(460_000_000));
        assert_eq!(us("1:02:03.045"), Marker::Micros(3_723_045_000));
        assert_eq!(us("75:00"), Marker::Micros(4_500_000_000), "minutes may pass 59 without hours");
        assert_eq!(us(" 9240000f "), Marker::Frames(9_240_000));
        assert_eq!(us("0.000021").frames(48_000), 1, "rounded to the nearest frame");
        assert_eq!(us("3:12.5").frames(48_000), 9_240_000);
        assert_eq!(us("1f").frames(44_100), 1);
        for bad in
            ["", "x", "1:60", "1:60:00", "1:2:3:4", "1.", ".5", "1.1234567", "-1", "1e3", "f", "1.5f", ":30"]
        {
            let err = marker(bad).unwrap_err().to_string();
            assert!(err.starts_with("--set: ") && err.contains("9240000f"), "{bad:?}: {err}");
        }
        assert_eq!(
            markers("0, 3:12.5,7:40").unwrap(),
            [Marker::Micros(0), Marker::Micros(192_500_000), Marker::Micros(460_000_000)]
        );
        assert!(markers(" ").is_err() && markers("0,,1").is_err());
    }
}
