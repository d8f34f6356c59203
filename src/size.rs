//! Sizes in bytes as the user writes them (`1MiB`, `500M`, `4096`): the one parser behind every
//! flag and configuration key that takes a size (`vinyl-listen --max-bytes`, `VINYL_EVENTS_MAX`,
//! `VINYL_AUTO_MIN_FREE`).
//!
//! Owns the syntax: a whole number, then optionally a unit, all powers of 1024 — `B` (bytes),
//! `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB` — with no blank between. Decimal units (`kB`, `MB`,
//! `GB`) are refused rather than guessed, and so are fractions, signs and anything over
//! [`MAX_BYTES`]. It does not decide what range a given flag accepts: each caller does. How it
//! fails: an `Err` text that quotes the value and says what is accepted, for the caller to
//! prefix with its flag or key.

/// The largest size accepted: 2^53 bytes (8 PiB), far above any disk, and exact in JSON and f64.
pub const MAX_BYTES: u64 = 1 << 53;

const HELP: &str =
    "give bytes, or a whole number with K, M, G or T (KiB, MiB, GiB, TiB; powers of 1024), e.g. 500MiB";

/// Parses a size; see the module's documentation for the syntax. Leans towards refusing: a value
/// that could be read two ways (`1MB`, `1.5G`) is an error, never a guess.
pub fn parse(s: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("'{s}' is not a size ({why}): {HELP}");
    if s.starts_with('-') {
        return Err(bad("a size cannot be negative"));
    }
    let i = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(i);
    if digits.is_empty() {
        return Err(bad("expected a number"));
    }
    let shift = match unit {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        "k" | "kB" | "KB" | "MB" | "GB" | "TB" => return Err(bad("decimal units are ambiguous")),
        _ => return Err(bad("unknown unit")),
    };
    let too_large = || bad("too large: at most 8 PiB");
    let n: u64 = digits.parse().map_err(|_| too_large())?;
    n.checked_mul(1 << shift).filter(|&b| b <= MAX_BYTES).ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binary_unit_is_accepted() {
        assert_eq!(parse("4096"), Ok(4096));
        assert_eq!(parse("7B"), Ok(7));
        assert_eq!(parse("64KiB"), Ok(64 << 10));
        assert_eq!(parse("64K"), Ok(64 << 10));
        assert_eq!(parse("1MiB"), Ok(1 << 20));
        assert_eq!(parse("500M"), Ok(500 << 20));
        assert_eq!(parse("2GiB"), Ok(2 << 30));
        assert_eq!(parse("1T"), Ok(1 << 40));
        assert_eq!(parse("8192TiB"), Ok(MAX_BYTES));
    }

    #[test]
    fn overflow_and_absurd_sizes_are_refused_not_wrapped() {
        for bad in ["16000000000G", "8193TiB", "99999999999999999999", "18446744073709551615"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("too large"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_sizes_say_why_and_what_is_accepted() {
        for (bad, why) in [
            ("", "expected a number"),
            ("MiB", "expected a number"),
            ("-5M", "negative"),
            ("1.5G", "unknown unit"),
            ("5 MiB", "unknown unit"),
            ("1MB", "decimal"),
            ("1kB", "decimal"),
            ("1PiB", "unknown unit"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why) && err.contains("500MiB"), "{bad}: {err}");
        }
    }
}
