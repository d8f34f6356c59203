//! The flags of `vinyl-mqtt`: the single source of its `--help` and man page.

use crate::rec::cli::ControllerArgs;
use clap::Parser;
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Follows the listener's events file (the JSON lines vinyl-listen writes) and publishes the \
turntable to an MQTT broker for Home Assistant: its state (idle, lead-in, playing, runout…), the \
side and track, now playing (artist, title, album, and the cover's URL on vinyl-web), the levels \
(at most once per --level-interval, and only when they changed), the last side's health score, \
and recording on or off as a switch. Home Assistant finds them by MQTT discovery: one retained \
config per entity under DISCOVERY/COMPONENT/NODE/OBJECT/config, sharing one device.

TOPICS (PREFIX is --prefix; all retained but the levels):
  PREFIX/availability   online on connect; offline (the last will, and a clean stop)
  PREFIX/state          the turntable's state (idle, side, lead-in, playing, runout…)
  PREFIX/side           the side's number (0: none)
  PREFIX/track          the track's number on the side (0: none yet)
  PREFIX/now_playing    JSON: title, artist, album, side, cover (URL or null)
  PREFIX/cover          the cover's URL (the image entity), when there is one
  PREFIX/level          JSON: rms_dbfs, peak_dbfs (the louder channel), clipped
  PREFIX/health         JSON: score (vinyl-qa's 0-100), the last side report's figures
  PREFIX/recording      ON or OFF, whoever started the recording
  PREFIX/recording/set  ON or OFF: start or stop a recording (vinyl-rec's own code)

Only the broker's ACL decides who may switch the recording: give the command topic write access \
to Home Assistant's user alone (see the README for mosquitto's ACL lines).

It only reads the events file, so it can neither block nor slow the listener. It reconnects \
forever, with a jittered backoff from 0.5 s up to 30 s, and logs each change of the connection \
once. While the broker is away nothing queues up: every topic holds only its latest value, \
sent (with the discovery configs) when the broker is back; values replaced before they could be \
sent are counted and logged at the end. The password comes from --password-file (systemd's \
LoadCredential=), never from the command line, and is never printed.";

const AFTER_HELP: &str = "\
EXIT STATUS:
  0  stopped by SIGTERM/SIGINT/SIGHUP (offline published when connected)
  1  runtime failure: the broker refused the user name or password (CONNACK 4 or 5), an unreadable \
password file
  2  usage error: a bad URL (credentials in it, mqtts://), a prefix holding +, #, NUL or \
starting with $

EXAMPLES:
  VINYL_MQTT_URL=mqtt://127.0.0.1:1883 vinyl-mqtt --events /run/vinyl/events
  vinyl-mqtt --url mqtt://broker.lan:1883 --username vinyl --password-file /etc/vinyl/mqtt.password \\
      --web-url http://turntable.lan:8080";

/// Options of `vinyl-mqtt`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-mqtt",
    version,
    about = "Publish the turntable to MQTT for Home Assistant (discovery, state, now playing, a record switch)",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    args_override_self = true
)]
pub struct Opts {
    /// The broker, mqtt://HOST:PORT (without a port, 1883; no TLS, no credentials in it)
    #[arg(long, value_name = "URL", env = "VINYL_MQTT_URL", default_value = "mqtt://127.0.0.1:1883")]
    pub url: String,
    /// The user name to log in with [default: none: an anonymous login]
    #[arg(long, value_name = "NAME", env = "VINYL_MQTT_USERNAME")]
    pub username: Option<String>,
    /// The file holding the password, one line (keep it mode 0600) [default: none]
    #[arg(long, value_name = "PATH", env = "VINYL_MQTT_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// The topics' prefix; refused when it holds +, #, NUL or a control character, or starts with $
    #[arg(long, value_name = "TOPIC", env = "VINYL_MQTT_PREFIX", default_value = "vinyl")]
    pub prefix: String,
    /// Home Assistant's discovery prefix
    #[arg(long, value_name = "TOPIC", env = "VINYL_MQTT_DISCOVERY_PREFIX", default_value = "homeassistant")]
    pub discovery_prefix: String,
    /// vinyl-web's address as Home Assistant reaches it, for the covers' URLs (URL/cover/ID)
    /// [default: http://VINYL_WEB_LISTEN, vinyl-web's own address]
    #[arg(long, value_name = "URL", env = "VINYL_WEB_URL")]
    pub web_url: Option<String>,
    /// Seconds between two level messages at least
    #[arg(long, value_name = "SECONDS", env = "VINYL_MQTT_LEVEL_INTERVAL", default_value = "5",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub level_interval: u64,
    /// The shared --events, --ring and --recordings flags.
    #[command(flatten)]
    pub controller: ControllerArgs,
}
