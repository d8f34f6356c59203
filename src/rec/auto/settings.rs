//! The settings of `vinyl-rec auto`: the guards, the margins, the title template and the hook,
//! from the configuration and the environment, checked once at the start.
//!
//! Owns the keys' names and defaults (`VINYL_AUTO_*`, `VINYL_AUTO_NAME`'s template checked by
//! [`crate::library::template`], `VINYL_TITLE_TEMPLATE`, `VINYL_ON_EVENT`,
//! `VINYL_ON_EVENT_TIMEOUT`) and the checks of the keys against each other and against the ring's
//! capacity ([`AutoSettings::check`]); sizes are [`crate::size`]'s. How it fails: a value that
//! does not parse or does not fit is a usage error naming the key and showing a good value (exit
//! 2), before anything starts (`vinyl-rec auto --check` runs only this).

use crate::cli::UsageError;
use crate::config::Config;
use crate::pcm::{DurationArg, format_frames};
use crate::rec::check;
use std::path::PathBuf;
use std::time::Duration;

/// The default stream title: the side counted since `vinyl-rec auto` started, the track on it.
pub const DEFAULT_TEMPLATE: &str = "Side {side} · Track {track}";

/// Where a recognised side's file goes by default: its month folder, named after the album side.
pub const DEFAULT_NAME: &str = "{month}/{artist} - {album} - {side} - {stamp}";

/// What `vinyl-rec auto` is told by the configuration.
#[derive(Clone, Debug)]
pub struct AutoSettings {
    /// `VINYL_AUTO_START_MARGIN` (1s): recorded before the needle drop.
    pub start_margin: DurationArg,
    /// `VINYL_AUTO_END_MARGIN` (2s): recorded after the side's end, a lift's too.
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
    /// `VINYL_AUTO_NAME`: where a recognised side's file goes, a template in the recordings
    /// folder ([`crate::library::template`]); `keep` (`None`): it keeps its `side-STAMP` name.
    pub name: Option<String>,
    /// `VINYL_AUTO_HOLD` (45s): how far the side's tap stays behind the ring's head while the
    /// side's end is not known, so an end the listener decides up to this late is exact (a
    /// silence end is decided 30 s after the silence began).
    pub hold: DurationArg,
    /// `VINYL_AUTO_HEALTH` (yes): each kept side gets a health report in the collection
    /// (`vinyl-qa --store`, [`super::health`]).
    pub health: bool,
}

/// The largest `VINYL_AUTO_MIN_FREE` taken: 1 PiB; more is a typing error, not a file system.
const MAX_MIN_FREE: u64 = 1 << 50;

fn duration(cfg: &Config, key: &str, default: &str) -> Result<DurationArg, UsageError> {
    let text = cfg.get_str(key)?.unwrap_or_else(|| default.into());
    check::duration(key, &text)
}

impl AutoSettings {
    /// Reads and checks every key.
    pub fn load(cfg: &Config) -> Result<AutoSettings, UsageError> {
        let min_free = cfg.get_str("VINYL_AUTO_MIN_FREE")?.unwrap_or_else(|| "500MiB".into());
        let min_free = crate::size::parse(min_free.trim()).map_err(|_| {
            UsageError::new(format!(
                "VINYL_AUTO_MIN_FREE: '{min_free}' is not a size: give bytes, or a number with KiB, MiB or GiB, e.g. 500MiB"
            ))
        })?;
        if min_free > MAX_MIN_FREE {
            return Err(UsageError::new(format!(
                "VINYL_AUTO_MIN_FREE: '{}' is more than any file system holds (at most 1048576GiB); give e.g. 500MiB",
                cfg.get_str("VINYL_AUTO_MIN_FREE")?.unwrap_or_default()
            )));
        }
        let timeout = duration(cfg, "VINYL_ON_EVENT_TIMEOUT", "5s")?;
        let name = match cfg.get_str("VINYL_AUTO_NAME")?.unwrap_or_else(|| DEFAULT_NAME.into()) {
            keep if keep == "keep" => None,
            t => Some(t),
        };
        if let Some(t) = &name {
            crate::library::template::check(t)
                .map_err(|e| UsageError::new(format!("VINYL_AUTO_NAME: {e}")))?;
        }
        let a = AutoSettings {
            start_margin: duration(cfg, "VINYL_AUTO_START_MARGIN", "1s")?,
            end_margin: duration(cfg, "VINYL_AUTO_END_MARGIN", "2s")?,
            max_side: duration(cfg, "VINYL_AUTO_MAX_SIDE", "40m")?,
            min_side: duration(cfg, "VINYL_AUTO_MIN_SIDE", "60s")?,
            min_free,
            template: cfg.get_str("VINYL_TITLE_TEMPLATE")?.unwrap_or_else(|| DEFAULT_TEMPLATE.into()),
            hook: cfg.get("VINYL_ON_EVENT").map(PathBuf::from),
            hook_timeout: Duration::from_millis(timeout.frames(1000)),
            name,
            hold: duration(cfg, "VINYL_AUTO_HOLD", "45s")?,
            health: match cfg.get_str("VINYL_AUTO_HEALTH")?.as_deref().map(str::trim) {
                None | Some("yes") => true,
                Some("no") => false,
                Some(other) => {
                    return Err(UsageError::new(format!(
                        "VINYL_AUTO_HEALTH: '{other}' is neither yes nor no"
                    )));
                }
            },
        };
        let rate = cfg.get_str("VINYL_RATE")?.and_then(|r| r.parse().ok()).unwrap_or(48_000);
        let capacity = match cfg.get_str("VINYL_RING_CAPACITY")? {
            Some(c) => Some(check::duration("VINYL_RING_CAPACITY", &c)?.frames(rate)),
            None => None,
        };
        a.check(capacity, rate)?;
        Ok(a)
    }

    /// Checks the keys against each other, and against the ring's capacity in frames at `rate`
    /// when it is known: a side must be able to end and to be kept, the hook must have time to
    /// run, and the ring must hold the start margin and the hold.
    pub fn check(&self, capacity: Option<u64>, rate: u32) -> Result<(), UsageError> {
        let bad = |m: String| Err(UsageError::new(m));
        let (max, min) = (self.max_side.frames(rate), self.min_side.frames(rate));
        if max == 0 {
            return bad(
                "VINYL_AUTO_MAX_SIDE: 0 would end every side at once; give a side's longest length, e.g. 40m"
                    .into(),
            );
        }
        if max < min {
            return bad(format!(
                "VINYL_AUTO_MAX_SIDE ({}) is shorter than VINYL_AUTO_MIN_SIDE ({}): every side would be removed; raise it or lower VINYL_AUTO_MIN_SIDE",
                format_frames(max, rate),
                format_frames(min, rate)
            ));
        }
        if self.hook_timeout.is_zero() {
            return bad("VINYL_ON_EVENT_TIMEOUT: 0 kills the hook before it runs; give e.g. 5s".into());
        }
        let Some(cap) = capacity else { return Ok(()) };
        let (margin, hold) = (self.start_margin.frames(rate), self.hold.frames(rate));
        if margin >= cap {
            return bad(format!(
                "VINYL_AUTO_START_MARGIN ({}) is not shorter than the ring (VINYL_RING_CAPACITY, {}); lower it, e.g. 1s",
                format_frames(margin, rate),
                format_frames(cap, rate)
            ));
        }
        if hold >= cap - margin {
            return bad(format!(
                "VINYL_AUTO_HOLD ({}) must be shorter than the ring (VINYL_RING_CAPACITY, {}) less VINYL_AUTO_START_MARGIN ({}); lower it or raise VINYL_RING_CAPACITY",
                format_frames(hold, rate),
                format_frames(cap, rate),
                format_frames(margin, rate)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(a.hold.frames(1), 45);
        assert_eq!(a.name.as_deref(), Some(DEFAULT_NAME));
        assert_eq!(load(&[("VINYL_AUTO_NAME", "keep")]).unwrap().name, None);
        assert!(a.health);
        assert!(!load(&[("VINYL_AUTO_HEALTH", "no")]).unwrap().health);
    }

    fn load(pairs: &[(&str, &str)]) -> Result<AutoSettings, UsageError> {
        let v = pairs.iter().map(|(k, v)| (k.to_string(), std::ffi::OsString::from(v))).collect();
        AutoSettings::load(&Config::from_values(v))
    }

    fn refused(pairs: &[(&str, &str)], key: &str) {
        let e = load(pairs).expect_err(&format!("{pairs:?} must be refused"));
        assert!(e.to_string().contains(key), "{pairs:?}: {e}");
    }

    #[test]
    fn keys_that_cannot_work_are_refused_naming_the_key() {
        refused(&[("VINYL_AUTO_MAX_SIDE", "0s")], "VINYL_AUTO_MAX_SIDE");
        refused(&[("VINYL_AUTO_MAX_SIDE", "30s"), ("VINYL_AUTO_MIN_SIDE", "60s")], "VINYL_AUTO_MIN_SIDE");
        refused(&[("VINYL_ON_EVENT_TIMEOUT", "0s")], "VINYL_ON_EVENT_TIMEOUT");
        refused(&[("VINYL_AUTO_MIN_FREE", "16000000000G")], "VINYL_AUTO_MIN_FREE");
        refused(&[("VINYL_AUTO_MIN_FREE", "99999999999999999999G")], "VINYL_AUTO_MIN_FREE");
        refused(
            &[("VINYL_RING_CAPACITY", "30s"), ("VINYL_AUTO_START_MARGIN", "31s")],
            "VINYL_AUTO_START_MARGIN",
        );
        refused(&[("VINYL_RING_CAPACITY", "30s")], "VINYL_AUTO_HOLD");
        refused(&[("VINYL_RING_CAPACITY", "2m"), ("VINYL_AUTO_HOLD", "119s")], "VINYL_AUTO_HOLD");
        refused(&[("VINYL_AUTO_HOLD", "-3s")], "VINYL_AUTO_HOLD");
        refused(&[("VINYL_AUTO_HEALTH", "maybe")], "VINYL_AUTO_HEALTH");
        refused(&[("VINYL_AUTO_NAME", "../{artist}")], "VINYL_AUTO_NAME");
        refused(&[("VINYL_AUTO_NAME", "{artist}/{title}")], "VINYL_AUTO_NAME");
        assert!(load(&[("VINYL_RING_CAPACITY", "2m"), ("VINYL_AUTO_HOLD", "45s")]).is_ok());
        assert!(load(&[("VINYL_RING_CAPACITY", "30s"), ("VINYL_AUTO_HOLD", "20s")]).is_ok());
        assert!(load(&[("VINYL_AUTO_MAX_SIDE", "60s"), ("VINYL_AUTO_MIN_SIDE", "60s")]).is_ok());
    }
}
