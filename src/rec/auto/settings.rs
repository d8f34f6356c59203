//! The settings of `vinyl-rec auto`: the guards, the margins, the title template and the hook,
//! from the configuration and the environment, checked once at the start.
//!
//! Owns the keys' names and defaults (`VINYL_AUTO_*`, `VINYL_TITLE_TEMPLATE`, `VINYL_ON_EVENT`,
//! `VINYL_ON_EVENT_TIMEOUT`) and the parsing of sizes ([`bytes`]). How it fails: a value that
//! does not parse is a usage error naming the key and showing a good value (exit 2).

use crate::cli::UsageError;
use crate::config::Config;
use crate::pcm::DurationArg;
use crate::rec::check;
use std::path::PathBuf;
use std::time::Duration;

/// The default stream title: the side counted since `vinyl-rec auto` started, the track on it.
pub const DEFAULT_TEMPLATE: &str = "Side {side} · Track {track}";

/// What `vinyl-rec auto` is told by the configuration.
#[derive(Clone, Debug)]
pub struct AutoSettings {
    /// `VINYL_AUTO_START_MARGIN` (1s): recorded before the needle drop.
    pub start_margin: DurationArg,
    /// `VINYL_AUTO_END_MARGIN` (2s): recorded after the side's end (not after a lift).
    pub end_margin: DurationArg,
    /// `VINYL_AUTO_MAX_SIDE` (40m): a side is ended this long after its start.
    pub max_side: DurationArg,
    /// `VINYL_AUTO_MIN_SIDE` (60s): a shorter side's file is removed.
    pub min_side: DurationArg,
    /// `VINYL_AUTO_MIN_FREE` (500MiB), bytes: below it a side is not started, or is ended.
    pub min_free: u64,
    /// `VINYL_TITLE_TEMPLATE`: `{side}` and `{track}` are replaced.
    pub template: String,
    /// `VINYL_ON_EVENT`: a program given each event as JSON on stdin.
    pub hook: Option<PathBuf>,
    /// `VINYL_ON_EVENT_TIMEOUT` (5s): the hook is killed after this long.
    pub hook_timeout: Duration,
}

fn duration(cfg: &Config, key: &str, default: &str) -> Result<DurationArg, UsageError> {
    let text = cfg.get_str(key)?.unwrap_or_else(|| default.into());
    check::duration(key, &text)
}

impl AutoSettings {
    /// Reads and checks every key.
    pub fn load(cfg: &Config) -> Result<AutoSettings, UsageError> {
        let min_free = cfg.get_str("VINYL_AUTO_MIN_FREE")?.unwrap_or_else(|| "500MiB".into());
        let min_free = bytes(&min_free).ok_or_else(|| {
            UsageError::new(format!(
                "VINYL_AUTO_MIN_FREE: '{min_free}' is not a size: give bytes, or a number with KiB, MiB or GiB, e.g. 500MiB"
            ))
        })?;
        let timeout = duration(cfg, "VINYL_ON_EVENT_TIMEOUT", "5s")?;
        Ok(AutoSettings {
            start_margin: duration(cfg, "VINYL_AUTO_START_MARGIN", "1s")?,
            end_margin: duration(cfg, "VINYL_AUTO_END_MARGIN", "2s")?,
            max_side: duration(cfg, "VINYL_AUTO_MAX_SIDE", "40m")?,
            min_side: duration(cfg, "VINYL_AUTO_MIN_SIDE", "60s")?,
            min_free,
            template: cfg.get_str("VINYL_TITLE_TEMPLATE")?.unwrap_or_else(|| DEFAULT_TEMPLATE.into()),
            hook: cfg.get("VINYL_ON_EVENT").map(PathBuf::from),
            hook_timeout: Duration::from_millis(timeout.frames(1000)),
        })
    }
}

/// A size by the one size syntax ([`crate::size`]). `None` when it does not parse or is too
/// large.
pub fn bytes(s: &str) -> Option<u64> {
    crate::size::parse(s.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(bytes("500MiB"), Some(500 << 20));
        assert_eq!(bytes("2G"), Some(2 << 30));
        assert_eq!(bytes("4096"), Some(4096));
        assert_eq!(bytes("1.5G"), None);
        assert_eq!(bytes("MiB"), None);
        assert_eq!(bytes("5 TB"), None);
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let a = AutoSettings::load(&Config::default()).unwrap();
        assert_eq!(a.start_margin.frames(48_000), 48_000);
        assert_eq!(a.end_margin.frames(48_000), 96_000);
        assert_eq!(a.max_side.frames(1), 2400);
        assert_eq!(a.min_side.frames(1), 60);
        assert_eq!(a.min_free, 500 << 20);
        assert_eq!(a.template, DEFAULT_TEMPLATE);
        assert_eq!(a.hook_timeout, Duration::from_secs(5));
    }
}
