//! The Icecast source flags the source tools share (`vinyl-mp3-icecast`, `vinyl-ogg-icecast`):
//! one definition ([`SourceArgs`], flattened into each tool's options) and its one resolution
//! into what a connection needs ([`SourceArgs::config`]): server, credentials, timeout and the
//! `ice-*` values the flags give; the title FIFO is opened here too ([`SourceArgs::titles`]).
//!
//! It does not declare `--url`: where the URL comes from when the flag is absent differs per
//! tool (`VINYL_ICECAST_URL` through clap, as the alternative to `--output`, for MP3; a key per
//! codec for Ogg), so each tool declares it and hands the URL it resolved to
//! [`SourceArgs::config`], which parses it. Nor does it own the tools' own flags (codec,
//! bitrate, `--genre`…) or what a title does (each tool's).
//!
//! How it fails: every refusal is a [`UsageError`] (exit 2) naming the flag, or the password's
//! source without quoting the password; an unreadable password file, or a title FIFO that cannot
//! be made or opened, is a runtime error naming it.

use super::titles::TitleReader;
use super::{Credentials, Endpoint, PASSWORD_ENV, Secret, SourceConfig, StreamInfo};
use crate::cli::UsageError;
use crate::pcm::DurationArg;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Kernel send buffer for the source socket: about 1.6 s of MP3 at 320 kbit/s, 0.5 s of Ogg
/// FLAC stereo at 48 kHz.
const SEND_BUFFER: usize = 64 * 1024;

/// The flags every Icecast source tool takes; flatten into a tool's options beside its `--url`.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// Source user name
    #[arg(long, value_name = "NAME", default_value = "source")]
    pub user: String,

    /// File holding the source password, one line (keep it mode 0600) [default: none: the
    /// password comes from the VINYL_ICECAST_PASSWORD environment variable]
    #[arg(long, value_name = "FILE", env = "VINYL_ICECAST_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,

    /// Stream name shown to listeners (ice-name) [default: none]
    #[arg(long, value_name = "TEXT", env = "VINYL_STREAM_NAME")]
    pub name: Option<String>,

    /// Stream description (ice-description) [default: none]
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// Ask the server to list the stream in public directories (ice-public: 1) [default: private]
    #[arg(long)]
    pub public: bool,

    /// FIFO whose lines become the stream title, UTF-8, one title a line; a line repeating the
    /// title is not sent again (created with mode 0600 when missing) [default: none]
    #[arg(long, value_name = "PATH")]
    pub metadata_fifo: Option<PathBuf>,

    /// Bound on each network step: connect, each read, each write (a server that takes no data
    /// for this long is dropped and reconnected)
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub timeout: DurationArg,

    /// Longest wait between reconnection attempts; the wait starts at 0.5s and doubles, with
    /// jitter, up to this
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub retry_max: DurationArg,

    /// Audio held for a server that is slow to take it, beyond which whole MP3 frames or Ogg
    /// pages are dropped and counted
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub queue: DurationArg,
}

impl SourceArgs {
    /// `--timeout` as wall time for input at `rate`; zero is a usage error.
    pub fn timeout(&self, rate: u32) -> anyhow::Result<Duration> {
        let timeout = self.timeout.wall_time(rate);
        if timeout.is_zero() {
            return Err(UsageError::new("--timeout must be longer than 0").into());
        }
        Ok(timeout)
    }

    /// The `--metadata-fifo` reader, the FIFO created when missing; `None` without the flag.
    pub fn titles(&self) -> anyhow::Result<Option<TitleReader>> {
        self.metadata_fifo.as_deref().map(TitleReader::open).transpose()
    }

    /// What `tool`'s connections to `url` need, for input at `rate`: the timeout, the server,
    /// the credentials (`--user`, the password from `--password-file` or [`PASSWORD_ENV`]) and
    /// `info` (the tool's `ice-*` values) with `--name`, `--description` and `--public`, checked
    /// in that order.
    pub fn config(
        &self,
        tool: &'static str,
        url: &str,
        rate: u32,
        content_type: &str,
        info: StreamInfo,
    ) -> anyhow::Result<SourceConfig> {
        let timeout = self.timeout(rate)?;
        // Parsed here rather than by clap, whose error would quote the URL (and any password
        // someone put in it) back.
        let endpoint = Endpoint::parse(url).map_err(|e| UsageError::new(format!("--url: {e}")))?;
        let password = password(tool, self.password_file.as_deref())?;
        let user = &self.user;
        if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
            return Err(UsageError::new("--user must be a non-empty name without ':'").into());
        }
        let info = StreamInfo {
            name: self.name.clone(),
            description: self.description.clone(),
            public: self.public,
            ..info
        };
        info.validate().map_err(UsageError::new)?;
        Ok(SourceConfig {
            endpoint,
            credentials: Credentials { user: user.clone(), password },
            info,
            content_type: content_type.into(),
            agent: tool,
            timeout,
            send_buffer: SEND_BUFFER,
        })
    }
}

/// Reads the password from `--password-file` or the environment; never from argv.
fn password(tool: &str, file: Option<&Path>) -> anyhow::Result<Secret> {
    let (pw, from) = if let Some(path) = file {
        (crate::pcm::read_password_file(tool, path)?, path.display().to_string())
    } else if let Some(v) = std::env::var_os(PASSWORD_ENV) {
        (
            v.into_string().map_err(|_| UsageError::new(format!("{PASSWORD_ENV} is not UTF-8")))?,
            PASSWORD_ENV.into(),
        )
    } else {
        return Err(UsageError::new(format!(
            "no password: give --password-file FILE (mode 0600) or set {PASSWORD_ENV}; it is never taken from \
             the command line"
        ))
        .into());
    };
    if pw.is_empty() {
        return Err(UsageError::new(format!("{from}: the password is empty")).into());
    }
    if pw.chars().any(char::is_control) {
        return Err(UsageError::new(format!(
            "{from}: the password must be one line without control characters"
        ))
        .into());
    }
    Ok(Secret::new(pw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::os::unix::fs::PermissionsExt as _;

    #[derive(Parser, Debug)]
    struct Tool {
        #[command(flatten)]
        source: SourceArgs,
    }

    fn args(extra: &[&str]) -> SourceArgs {
        Tool::try_parse_from(std::iter::once("t").chain(extra.iter().copied())).unwrap().source
    }

    #[test]
    fn config_puts_the_shared_ice_values_over_the_tools_and_checks_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "hunter2\n").unwrap();
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pw = pw.to_str().unwrap();
        let tool_info = StreamInfo { genre: Some("jazz".into()), bitrate: Some(320), ..Default::default() };
        let s = args(&["--password-file", pw, "--name", "Deck", "--public"]);
        let c = s.config("t", "http://h:8001/m", 48_000, "audio/mpeg", tool_info.clone()).unwrap();
        assert_eq!(
            (c.endpoint.port, c.credentials.user.as_str(), c.timeout),
            (8001, "source", Duration::from_secs(5))
        );
        assert_eq!(
            (c.info.name.as_deref(), c.info.genre.as_deref(), c.info.public),
            (Some("Deck"), Some("jazz"), true)
        );
        assert_eq!(c.credentials.password.expose(), "hunter2");
        let refused = |extra: &[&str], url: &str| {
            let s = args(&[&["--password-file", pw], extra].concat());
            s.config("t", url, 48_000, "audio/mpeg", tool_info.clone()).unwrap_err().to_string()
        };
        assert!(refused(&["--timeout", "0s", "--user", "a:b"], "x").contains("--timeout"));
        assert!(refused(&["--user", "a:b"], "x").contains("--url"));
        assert!(refused(&["--user", "a:b"], "http://h/m").contains("--user"));
        assert!(refused(&["--name", "a\nb"], "http://h/m").contains("--name"));
    }

    #[test]
    fn retry_max_and_queue_take_frames_at_the_input_rate() {
        let s = args(&["--retry-max", "24000f", "--queue", "1s"]);
        assert_eq!(s.retry_max.wall_time(48_000), Duration::from_millis(500));
        assert_eq!(s.queue.frames(44_100), 44_100);
        assert!(s.titles().unwrap().is_none());
    }
}
