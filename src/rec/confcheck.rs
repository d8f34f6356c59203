//! `vinyl-rec config [--check]`: the whole configuration checked before anything starts, so that
//! `vinyl-up` refuses a bad value at once with exit 2 and one line naming the key, the value,
//! where it came from and what is accepted, instead of starting the capture and finding it dead.
//!
//! Owns the list of the keys vinyl reads ([`KEYS`]) and how each value is checked ([`Rule`]).
//! A key that becomes a tool's flag is checked by that flag's own clap value parser (found in
//! [`crate::docs::commands`]), so a value is refused here exactly when the tool would refuse it;
//! durations and sizes go through the one parser of each ([`DurationArg`], [`crate::size`]).
//! The capture's whole command line, as `vinyl-up` builds it, also goes through the capture's
//! own checks ([`CaptureOpts::validate`]). It adds only the rules that need several keys. It does
//! not read the ring, the devices or any file but the configuration: what only a running tool
//! can know fails there, as a runtime error. How it fails: a [`UsageError`] (exit 2) for the
//! first bad value; a key the file sets that no tool reads is a warning on stderr.

use crate::capture::Opts as CaptureOpts;
use crate::cli::UsageError;
use crate::config::{Config, has_control};
use crate::pcm::DurationArg;
use clap::Parser as _;
use clap::error::{ContextKind, ContextValue};
use std::ffi::{OsStr, OsString};

/// How a key's value is checked.
#[derive(Clone, Copy, Debug)]
pub enum Rule {
    /// The value of a flag, checked by the tool's own parser: (tool, subcommand, long flag).
    Flag(&'static str, Option<&'static str>, &'static str),
    /// `yes` or `no`.
    YesNo,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A duration: `30s`, `1m30s`, `250ms`, `48000f`.
    Duration,
    /// A size: bytes, or a number with K, M, G, T.
    Size,
    /// A whole number of seconds.
    Seconds,
    /// A path, a list of paths, a name or a template: no control characters.
    Text,
    /// An Icecast source URL, `http://HOST:PORT/MOUNT`.
    Url,
}

const CAPTURE: &str = "vinyl-capture";

/// Every key vinyl's tools and scripts read, and its rule (etc/vinyl.conf documents each).
pub const KEYS: &[(&str, Rule)] = &[
    ("VINYL_DEVICE", Rule::Flag(CAPTURE, None, "device")),
    ("VINYL_FORMAT", Rule::Flag(CAPTURE, None, "format")),
    ("VINYL_RATE", Rule::Flag(CAPTURE, None, "rate")),
    ("VINYL_CHANNELS", Rule::Flag(CAPTURE, None, "channels")),
    ("VINYL_REALTIME", Rule::YesNo),
    ("VINYL_CAPTURE_BUFFER", Rule::Flag(CAPTURE, None, "buffer")),
    ("VINYL_RING", Rule::Text),
    ("VINYL_RING_CAPACITY", Rule::Flag(CAPTURE, None, "ring-capacity")),
    ("VINYL_LISTEN", Rule::YesNo),
    ("VINYL_EVENTS_MAX", Rule::Flag("vinyl-listen", None, "max-bytes")),
    ("VINYL_EVENTS", Rule::Text),
    ("VINYL_ICECAST_URL", Rule::Url),
    ("VINYL_ICECAST_PASSWORD_FILE", Rule::Text),
    ("VINYL_BITRATE", Rule::Flag("vinyl-mp3-icecast", None, "bitrate")),
    ("VINYL_STREAM_NAME", Rule::Text),
    // The Ogg mounts (vinyl-ogg-icecast): empty = off.
    ("VINYL_OGG_FLAC_URL", Rule::Url),
    ("VINYL_OPUS_URL", Rule::Url),
    ("VINYL_OPUS_BITRATE", Rule::Flag("vinyl-ogg-icecast", None, "bitrate")),
    ("VINYL_OPUS_COMPLEXITY", Rule::Flag("vinyl-ogg-icecast", None, "complexity")),
    ("VINYL_EXTRA_OUTPUTS", Rule::Text),
    ("VINYL_TEE_QUEUE", Rule::Flag("vinyl-tee", None, "queue")),
    ("VINYL_SNAPCAST", Rule::YesNo),
    ("VINYL_WEB_URL", Rule::Text),
    ("VINYL_PREROLL", Rule::Duration),
    ("VINYL_RECORDINGS", Rule::Text),
    ("VINYL_LIBRARY", Rule::Text),
    ("VINYL_COMPRESSION", Rule::Flag("vinyl-flac-rec", None, "compression")),
    ("VINYL_REC_SYSTEMD", Rule::OneOf(&["0", "1"])),
    ("VINYL_REC_STOP_TIMEOUT", Rule::Seconds),
    ("VINYL_USER", Rule::Text),
    ("VINYL_WEB", Rule::OneOf(&["yes", "no", "1", "0"])),
    ("VINYL_WEB_LISTEN", Rule::Flag("vinyl-web", None, "listen")),
    ("VINYL_WEB_TOKEN_FILE", Rule::Text),
    ("VINYL_WEB_ALLOW_HOSTS", Rule::Text),
    ("VINYL_AUTO_RECORD", Rule::YesNo),
    ("VINYL_AUTO_START_MARGIN", Rule::Duration),
    ("VINYL_AUTO_END_MARGIN", Rule::Duration),
    ("VINYL_AUTO_MAX_SIDE", Rule::Duration),
    ("VINYL_AUTO_MIN_SIDE", Rule::Duration),
    ("VINYL_AUTO_MIN_FREE", Rule::Size),
    ("VINYL_AUTO_HOLD", Rule::Duration),
    ("VINYL_AUTO_HEALTH", Rule::YesNo),
    ("VINYL_TITLE_TEMPLATE", Rule::Text),
    ("VINYL_AUTO_NAME", Rule::Text),
    ("VINYL_ON_EVENT", Rule::Text),
    ("VINYL_ON_EVENT_TIMEOUT", Rule::Duration),
    // Read by the scrobbling recipe, scripts/hooks/vinyl-listenbrainz (a VINYL_ON_EVENT hook).
    ("VINYL_SCROBBLE_URL", Rule::Text),
    ("VINYL_SCROBBLE_TOKEN_FILE", Rule::Text),
    ("VINYL_SCROBBLE_STATE", Rule::Text),
    // vinyl-mqtt (Home Assistant over MQTT); the URL and the prefixes are checked in together().
    ("VINYL_MQTT_URL", Rule::Text),
    ("VINYL_MQTT_USERNAME", Rule::Text),
    ("VINYL_MQTT_PASSWORD_FILE", Rule::Text),
    ("VINYL_MQTT_PREFIX", Rule::Text),
    ("VINYL_MQTT_DISCOVERY_PREFIX", Rule::Text),
    ("VINYL_MQTT_LEVEL_INTERVAL", Rule::Flag("vinyl-mqtt", None, "level-interval")),
    ("VINYL_RUN_DIR", Rule::Text),
];

/// vinyl-mqtt's URL and topic prefixes, by its own rules (a prefix with a wildcard is refused).
fn mqtt_keys<'a>(get: &dyn Fn(&'static str) -> Option<&'a str>) -> Result<(), UsageError> {
    if let Some(url) = get("VINYL_MQTT_URL") {
        crate::mqtt::topics::parse_url(url)?;
    }
    for key in ["VINYL_MQTT_PREFIX", "VINYL_MQTT_DISCOVERY_PREFIX"] {
        if let Some(p) = get(key) {
            crate::mqtt::topics::check_prefix(key, p)?;
        }
    }
    Ok(())
}

/// Runs `vinyl-rec config`: checks, then (without `--check`) prints `KEY=value` for each key set.
pub fn config(check_only: bool) -> anyhow::Result<()> {
    let cfg = Config::discover()?;
    for key in unknown_keys(&cfg) {
        crate::vlog!(super::TOOL, "{key}: not a key vinyl reads (a typo?); it is ignored");
    }
    let values = check(&cfg)?;
    if !check_only {
        for (key, value) in values {
            super::out(&format!("{key}={value}"))?;
        }
    }
    Ok(())
}

/// Checks every key of `cfg` and the rules between keys; returns the keys set, with their values.
pub fn check(cfg: &Config) -> Result<Vec<(&'static str, String)>, UsageError> {
    let mut set = Vec::new();
    for &(key, rule) in KEYS {
        let Some(value) = cfg.get_str(key)? else { continue };
        apply(rule, &value).map_err(|why| bad(cfg, key, &value, &why))?;
        set.push((key, value));
    }
    let values = Values(set);
    together(cfg, &values)?;
    capture_line(cfg, &values)?;
    Ok(values.0)
}

/// The keys that are set, with their values, checked one by one.
struct Values(Vec<(&'static str, String)>);

impl Values {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }
}

/// The usage error for `key=value`: where it came from and why it is refused.
fn bad(cfg: &Config, key: &str, value: &str, why: &str) -> UsageError {
    let from = cfg.origin(key).map_or(String::new(), |o| format!(" (in {o})"));
    UsageError::new(format!("{key}={value}{from}: {why}"))
}

/// Checks one value by its rule; `Err` says why it is refused and what is accepted.
pub fn apply(rule: Rule, value: &str) -> Result<(), String> {
    match rule {
        Rule::Flag(tool, sub, long) => flag(tool, sub, long, value),
        Rule::YesNo => one_of(&["yes", "no"], value),
        Rule::OneOf(words) => one_of(words, value),
        Rule::Duration => value.parse::<DurationArg>().map(drop),
        Rule::Size => crate::size::parse(value).map(drop),
        Rule::Seconds => value
            .parse::<u64>()
            .map(drop)
            .map_err(|_| format!("'{value}' is not a whole number of seconds, e.g. 120")),
        Rule::Text if has_control(OsStr::new(value)) => Err("contains control characters".into()),
        Rule::Text => Ok(()),
        Rule::Url => crate::icecast::Endpoint::parse(value).map(drop),
    }
}

fn one_of(words: &[&str], value: &str) -> Result<(), String> {
    if words.contains(&value) {
        return Ok(());
    }
    Err(format!("give {}", words.join(" or ")))
}

/// Checks `value` with the value parser of `tool [sub] --long`, as the tool's clap would.
fn flag(tool: &'static str, sub: Option<&str>, long: &'static str, value: &str) -> Result<(), String> {
    let mut cmd = crate::docs::commands()
        .into_iter()
        .find(|c| c.get_name() == tool)
        .ok_or_else(|| format!("internal: no tool {tool}"))?;
    cmd.build();
    let cmd = match sub {
        Some(s) => cmd.find_subcommand(s).ok_or_else(|| format!("internal: no {tool} {s}"))?.clone(),
        None => cmd,
    };
    let arg = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .ok_or_else(|| format!("internal: no {tool} --{long}"))?;
    // The flag's own parser, alone in a command of its own (the tool's other flags, required or
    // not, play no part in one value).
    let probe = clap::Command::new(tool)
        .no_binary_name(true)
        .arg(clap::Arg::new("value").long(long).value_parser(arg.get_value_parser().clone()));
    probe.try_get_matches_from([format!("--{long}={value}")]).map(drop).map_err(|e| reason(&e))
}

/// What a clap error says about a value, without clap's `error:` and usage lines: the value
/// parser's own message when there is one, else the accepted values.
fn reason(e: &clap::Error) -> String {
    if let Some(src) = std::error::Error::source(e) {
        return src.to_string();
    }
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        return format!("give {}", valid.join(" or "));
    }
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// The rules between keys: what vinyl-up needs, what one key needs of another.
fn together(cfg: &Config, v: &Values) -> Result<(), UsageError> {
    let get = |k| v.get(k);
    if get("VINYL_DEVICE").is_none() {
        return Err(UsageError::new("VINYL_DEVICE is not set (the ALSA capture device, e.g. hw:1,0)"));
    }
    if get("VINYL_AUTO_RECORD") == Some("yes") && get("VINYL_LISTEN") == Some("no") {
        let why = "needs the listener (VINYL_LISTEN=yes)";
        return Err(bad(cfg, "VINYL_AUTO_RECORD", "yes", why));
    }
    if get("VINYL_ICECAST_PASSWORD_FILE").is_none()
        && let Some(url) = ["VINYL_ICECAST_URL", "VINYL_OGG_FLAC_URL", "VINYL_OPUS_URL"]
            .into_iter()
            .find(|k| get(k).is_some())
    {
        return Err(UsageError::new(format!(
            "VINYL_ICECAST_PASSWORD_FILE is not set (the file holding the Icecast source password), \
             and {url} is"
        )));
    }
    mqtt_keys(&get)?;
    let rate = get("VINYL_RATE").and_then(|r| r.parse::<u32>().ok()).unwrap_or(48_000);
    let capacity = get("VINYL_RING_CAPACITY").unwrap_or("30s");
    let cap_frames = capacity.parse::<DurationArg>().map_or(0, |d| d.frames(rate));
    if cap_frames == 0 {
        let why = "the ring would hold nothing: give the history to keep, e.g. 30s or 30m";
        return Err(bad(cfg, "VINYL_RING_CAPACITY", capacity, why));
    }
    let preroll = get("VINYL_PREROLL").unwrap_or("30s");
    if preroll.parse::<DurationArg>().map_or(0, |d| d.frames(rate)) > cap_frames {
        let why = format!("longer than the ring holds (VINYL_RING_CAPACITY={capacity}): give at most that");
        return Err(bad(cfg, "VINYL_PREROLL", preroll, &why));
    }
    Ok(())
}

/// The capture's command line as vinyl-up builds it, through the capture's own parser and
/// checks (those between flags, such as the buffer against the period).
fn capture_line(cfg: &Config, v: &Values) -> Result<(), UsageError> {
    let get = |k| v.get(k);
    let mut argv: Vec<OsString> = vec![CAPTURE.into()];
    let mut fed = Vec::new();
    for &(key, rule) in KEYS {
        if let (Rule::Flag(CAPTURE, None, long), Some(v)) = (rule, get(key)) {
            argv.push(format!("--{long}={v}").into());
            fed.push((key, long, v));
        }
    }
    argv.push(format!("--ring={}", get("VINYL_RING").unwrap_or(crate::ring::DEFAULT_RING)).into());
    if get("VINYL_REALTIME") == Some("yes") {
        argv.push("--realtime".into());
    }
    let opts = CaptureOpts::try_parse_from(&argv).map_err(|e| UsageError::new(reason(&e)))?;
    opts.validate().map_err(|e| {
        // Name the key behind the first flag the message mentions.
        match fed.iter().find(|(_, long, _)| e.0.contains(&format!("--{long}"))) {
            Some((key, _, v)) => bad(cfg, key, v, &e.0),
            None => UsageError::new(format!("{CAPTURE}: {}", e.0)),
        }
    })
}

/// The keys the file sets that no tool reads (a typo, or a key of another version).
pub fn unknown_keys(cfg: &Config) -> Vec<String> {
    cfg.file_keys()
        .filter(|k| *k != "VINYL_CONFIG" && !KEYS.iter().any(|(key, _)| key == k))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        Config::from_values(crate::config::parse(text.as_bytes(), "t").unwrap())
    }

    /// Checks a configuration of the given lines, with no VINYL_* in the environment of the
    /// keys it names (the tests set none).
    fn refused(text: &str) -> String {
        let base = "VINYL_DEVICE=hw:1,0\n";
        check(&cfg(&format!("{base}{text}"))).unwrap_err().0
    }

    #[test]
    fn every_flag_rule_names_a_real_flag() {
        for &(key, rule) in KEYS {
            if let Rule::Flag(tool, sub, long) = rule {
                let err = flag(tool, sub, long, "").err().unwrap_or_default();
                assert!(!err.starts_with("internal"), "{key}: {err}");
            }
        }
    }

    #[test]
    fn a_good_configuration_passes_and_lists_its_values() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/vinyl.conf")).unwrap();
        let c = cfg(&text);
        let set = check(&c).unwrap();
        assert!(set.contains(&("VINYL_RING_CAPACITY", "30m".to_string())), "{set:?}");
        assert!(unknown_keys(&c).is_empty(), "the example sets keys nothing reads: {:?}", unknown_keys(&c));
    }

    #[test]
    fn each_bad_value_names_its_key_its_value_and_what_is_accepted() {
        for (line, want) in [
            (
                "VINYL_PREROLL=-3s",
                "VINYL_PREROLL=-3s (in the configuration): '-3s' is not a duration (a duration cannot be negative)",
            ),
            (
                "VINYL_RING_CAPACITY=0s",
                "VINYL_RING_CAPACITY=0s (in the configuration): the ring would hold nothing",
            ),
            ("VINYL_RING_CAPACITY=-30s", "a duration cannot be negative"),
            (
                "VINYL_CAPTURE_BUFFER=abc",
                "VINYL_CAPTURE_BUFFER=abc (in the configuration): 'abc' is not a buffer",
            ),
            (
                "VINYL_CAPTURE_BUFFER=1000",
                "VINYL_CAPTURE_BUFFER=1000 (in the configuration): --buffer 1000 is smaller than two periods",
            ),
            ("VINYL_RATE=0", "VINYL_RATE=0"),
            ("VINYL_FORMAT=s32le", "VINYL_FORMAT=s32le (in the configuration): give s16le or s24_3le"),
            (
                "VINYL_EVENTS_MAX=1GB",
                "VINYL_EVENTS_MAX=1GB (in the configuration): '1GB' is not a size (decimal units",
            ),
            (
                "VINYL_AUTO_MIN_FREE=16000000000G",
                "VINYL_AUTO_MIN_FREE=16000000000G (in the configuration): '16000000000G' is not a size (too large",
            ),
            ("VINYL_REALTIME=maybe", "VINYL_REALTIME=maybe (in the configuration): give yes or no"),
            ("VINYL_WEB=true", "give yes or no or 1 or 0"),
            ("VINYL_BITRATE=100", "VINYL_BITRATE=100"),
            (
                "VINYL_ICECAST_URL=https://x/y\nVINYL_ICECAST_PASSWORD_FILE=/p",
                "VINYL_ICECAST_URL=https://x/y",
            ),
            ("VINYL_ICECAST_URL=http://x:8000/y", "VINYL_ICECAST_PASSWORD_FILE is not set"),
            (
                "VINYL_PREROLL=1m\nVINYL_RING_CAPACITY=30s",
                "VINYL_PREROLL=1m (in the configuration): longer than the ring holds",
            ),
            (
                "VINYL_LISTEN=no\nVINYL_AUTO_RECORD=yes",
                "VINYL_AUTO_RECORD=yes (in the configuration): needs the listener",
            ),
            ("VINYL_REC_STOP_TIMEOUT=2m", "not a whole number of seconds"),
            ("VINYL_WEB_LISTEN=localhost", "VINYL_WEB_LISTEN=localhost"),
            ("VINYL_TEE_QUEUE=2", "VINYL_TEE_QUEUE=2 (in the configuration): '2' is not a duration"),
            ("VINYL_MQTT_PREFIX=home/#", "VINYL_MQTT_PREFIX: 'home/#' holds '#'"),
            ("VINYL_MQTT_URL=mqtts://h:8883", "VINYL_MQTT_URL (--url): 'mqtts://h:8883': TLS"),
            ("VINYL_MQTT_LEVEL_INTERVAL=0", "VINYL_MQTT_LEVEL_INTERVAL=0"),
        ] {
            let err = refused(line);
            assert!(err.contains(want), "{line}: {err}");
        }
        assert!(check(&cfg("VINYL_RATE=48000\n")).unwrap_err().0.contains("VINYL_DEVICE is not set"));
    }

    #[test]
    fn a_typo_in_a_key_is_found() {
        let c = cfg("VINYL_DEVICE=hw:1,0\nVINYL_RING_CAPACTY=30m\n");
        assert_eq!(unknown_keys(&c), vec!["VINYL_RING_CAPACTY".to_string()]);
    }
}
