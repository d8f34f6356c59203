//! The names the bridge publishes under: the broker's address, the topic prefixes, and Home
//! Assistant's discovery configs.
//!
//! Owns the rules a prefix must follow ([`check_prefix`]: no wildcard, no NUL or control
//! character, not a `$` system topic, not empty) and the shape of every discovery config
//! ([`Topics::discovery`]): one retained JSON object per entity under
//! `DISCOVERY/COMPONENT/NODE/OBJECT/config`, each with a `unique_id`, its entity id
//! (`COMPONENT.NODE_OBJECT`), the availability topic and the one shared `device` block. Pure: it sends nothing and cannot fail but on bad input.

use crate::cli::UsageError;
use serde_json::{Value, json};

/// The broker's address from `mqtt://HOST[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broker {
    /// Host name or IP literal (without the brackets of an IPv6 literal).
    pub host: String,
    /// TCP port, 1883 unless given.
    pub port: u16,
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "mqtt://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "mqtt://{}:{}", self.host, self.port)
        }
    }
}

/// Reads `VINYL_MQTT_URL`: `mqtt://HOST[:PORT][/]`; credentials in it, TLS and a path are refused.
pub fn parse_url(url: &str) -> Result<Broker, UsageError> {
    // A URL with credentials in it is not echoed: the password would reach the log.
    let shown = if url.contains('@') { "(not shown: it holds credentials)" } else { url };
    let bad = |why: &str| UsageError::new(format!("VINYL_MQTT_URL (--url): '{shown}': {why}"));
    let rest = match url.split_once("://") {
        Some(("mqtt" | "tcp", rest)) => rest,
        Some(("mqtts" | "ssl", _)) => return Err(bad("TLS is not supported: use mqtt://HOST:PORT")),
        _ => return Err(bad("give mqtt://HOST[:PORT], e.g. mqtt://127.0.0.1:1883")),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('@') {
        return Err(bad("no credentials in the URL: use --username and --password-file"));
    }
    if rest.contains('/') {
        return Err(bad("no path after the port: give mqtt://HOST[:PORT]"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && (!h.starts_with('[') || h.ends_with(']')) => {
            (h, p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| bad("the port is not 1-65535"))?)
        }
        _ => (rest, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(Broker { host: host.to_string(), port })
}

/// Checks a topic prefix given by `key`: refused (naming the key) when it is empty, holds the
/// wildcards `+` or `#`, NUL or another control character, starts with `$` (the broker's own
/// topics) or is longer than 200 bytes.
pub fn check_prefix(key: &str, prefix: &str) -> Result<(), UsageError> {
    let bad = |why: &str| UsageError::new(format!("{key}: '{}' {why}", prefix.escape_debug()));
    if prefix.is_empty() {
        return Err(bad("is empty: give a topic such as vinyl"));
    }
    if let Some(c) = prefix.chars().find(|c| matches!(c, '+' | '#')) {
        return Err(bad(&format!("holds '{c}', an MQTT wildcard, which no topic may hold")));
    }
    if prefix.contains('\0') {
        return Err(bad("holds NUL, which no topic may hold"));
    }
    if prefix.chars().any(char::is_control) {
        return Err(bad("holds a control character"));
    }
    if prefix.starts_with('$') {
        return Err(bad("starts with '$', the broker's own topics"));
    }
    if prefix.len() > 200 {
        return Err(bad("is longer than 200 bytes"));
    }
    Ok(())
}

/// The discovery topics' node id for `prefix`: its letters, digits, `_` and `-`, others as `_`.
pub fn node_id(prefix: &str) -> String {
    prefix.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// The topics of one bridge.
#[derive(Clone, Debug)]
pub struct Topics {
    /// `VINYL_MQTT_PREFIX`.
    pub prefix: String,
    /// `VINYL_MQTT_DISCOVERY_PREFIX`.
    pub discovery: String,
    /// The node id in the discovery topics and the unique ids.
    pub node: String,
}

impl Topics {
    /// The topics under `prefix`, announced under `discovery`.
    pub fn new(prefix: &str, discovery: &str) -> Topics {
        Topics { prefix: prefix.into(), discovery: discovery.into(), node: node_id(prefix) }
    }

    /// `PREFIX/NAME`.
    pub fn of(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    /// `PREFIX/availability`.
    pub fn availability(&self) -> String {
        self.of("availability")
    }

    /// `PREFIX/recording/set`: the switch's command topic.
    pub fn command(&self) -> String {
        self.of("recording/set")
    }

    /// Every discovery config: (topic, JSON), in the order they are sent.
    pub fn discovery(&self) -> Vec<(String, String)> {
        let device = json!({
            "identifiers": [format!("vinyl_{}", self.node)],
            "name": "Turntable",
            "manufacturer": "vinyl",
            "model": "vinyl-mqtt",
            "sw_version": env!("CARGO_PKG_VERSION"),
        });
        let entities = [
            (
                "sensor",
                "state",
                json!({"name": "State", "state_topic": self.of("state"), "icon": "mdi:record-player"}),
            ),
            ("sensor", "side", json!({"name": "Side", "state_topic": self.of("side"), "icon": "mdi:album"})),
            (
                "sensor",
                "track",
                json!({"name": "Track", "state_topic": self.of("track"), "icon": "mdi:music-note"}),
            ),
            ("sensor", "now_playing", self.now_playing()),
            ("image", "cover", json!({"name": "Cover", "url_topic": self.of("cover")})),
            ("sensor", "level_rms", self.level("Level RMS", "rms_dbfs")),
            ("sensor", "level_peak", self.level("Level peak", "peak_dbfs")),
            ("sensor", "health", self.health()),
            ("switch", "recording", self.switch()),
        ];
        entities
            .into_iter()
            .map(|(component, object, mut config)| {
                config["unique_id"] = format!("{}_{object}", self.node).into();
                // The entity id (sensor.vinyl_state): `default_entity_id` since Home Assistant
                // 2025.10, which stopped reading `object_id` in 2026.4; `object_id` for the
                // releases before. Discovery drops a key a release does not know.
                config["default_entity_id"] = format!("{component}.{}_{object}", self.node).into();
                config["object_id"] = format!("{}_{object}", self.node).into();
                config["availability_topic"] = self.availability().into();
                config["device"] = device.clone();
                (format!("{}/{component}/{}/{object}/config", self.discovery, self.node), config.to_string())
            })
            .collect()
    }

    fn now_playing(&self) -> Value {
        json!({
            "name": "Now playing",
            "state_topic": self.of("now_playing"),
            "value_template": "{{ value_json.title or value_json.album or 'nothing recognised' }}",
            "json_attributes_topic": self.of("now_playing"),
            "icon": "mdi:music",
        })
    }

    fn level(&self, name: &str, field: &str) -> Value {
        json!({
            "name": name,
            "state_topic": self.of("level"),
            "value_template": format!("{{{{ value_json.{field} }}}}"),
            "unit_of_measurement": "dBFS",
            "state_class": "measurement",
            "icon": "mdi:volume-high",
        })
    }

    fn health(&self) -> Value {
        json!({
            "name": "Last side's health",
            "state_topic": self.of("health"),
            "value_template": "{{ value_json.score }}",
            "json_attributes_topic": self.of("health"),
            "unit_of_measurement": "%",
            "state_class": "measurement",
            "icon": "mdi:heart-pulse",
        })
    }

    fn switch(&self) -> Value {
        json!({
            "name": "Recording",
            "state_topic": self.of("recording"),
            "command_topic": self.command(),
            "payload_on": "ON",
            "payload_off": "OFF",
            "state_on": "ON",
            "state_off": "OFF",
            "icon": "mdi:record-rec",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_with_wildcards_nul_or_dollar_are_refused_naming_the_key() {
        for bad in ["a+b", "vinyl/#", "+", "a\0b", "$SYS/x", "", "a\nb"] {
            let e = check_prefix("VINYL_MQTT_PREFIX", bad).expect_err(bad).to_string();
            assert!(e.starts_with("VINYL_MQTT_PREFIX: "), "{e}");
            assert!(!e.contains('\n') && !e.contains('\0'), "one printable line: {e:?}");
        }
        for good in ["vinyl", "home/living-room/turntable", "vinyl 2"] {
            check_prefix("VINYL_MQTT_PREFIX", good).unwrap();
        }
        assert_eq!(node_id("home/living room"), "home_living_room");
    }

    #[test]
    fn urls_give_host_and_port_and_refuse_credentials_and_tls() {
        assert_eq!(parse_url("mqtt://127.0.0.1").unwrap(), Broker { host: "127.0.0.1".into(), port: 1883 });
        assert_eq!(parse_url("mqtt://broker.lan:1884/").unwrap().port, 1884);
        assert_eq!(parse_url("mqtt://[::1]:1885").unwrap(), Broker { host: "::1".into(), port: 1885 });
        assert_eq!(parse_url("mqtt://[::1]:1885").unwrap().to_string(), "mqtt://[::1]:1885");
        for bad in ["mqtt://u:p@h:1883", "mqtts://h:8883", "http://h", "mqtt://h:0", "mqtt://h/x", "mqtt://"]
        {
            let e = parse_url(bad).expect_err(bad).to_string();
            assert!(e.starts_with("VINYL_MQTT_URL") && !e.contains("u:p@"), "{e}");
        }
    }

    #[test]
    fn every_discovery_config_has_what_home_assistant_needs() {
        let t = Topics::new("vinyl", "homeassistant");
        let all = t.discovery();
        assert_eq!(all.len(), 9);
        let mut ids = std::collections::HashSet::new();
        for (topic, config) in &all {
            let v: Value = serde_json::from_str(config).unwrap();
            assert!(topic.starts_with("homeassistant/") && topic.ends_with("/config"), "{topic}");
            assert_eq!(topic.split('/').nth(2), Some("vinyl"));
            assert!(ids.insert(v["unique_id"].as_str().unwrap().to_string()), "unique: {topic}");
            let (component, object) = (topic.split('/').nth(1).unwrap(), topic.split('/').nth(3).unwrap());
            assert_eq!(v["default_entity_id"], format!("{component}.vinyl_{object}"), "{topic}");
            assert_eq!(v["object_id"], format!("vinyl_{object}"), "{topic}: Home Assistant before 2025.10");
            assert_eq!(v["availability_topic"], "vinyl/availability");
            assert_eq!(v["device"]["identifiers"][0], "vinyl_vinyl");
            assert!(v["state_topic"].is_string() || v["url_topic"].is_string(), "{topic}");
        }
        let switch: Value = serde_json::from_str(&all[8].1).unwrap();
        assert_eq!(switch["command_topic"], "vinyl/recording/set");
        assert_eq!(switch["default_entity_id"], "switch.vinyl_recording", "the README's entity ids");
    }
}
