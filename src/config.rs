//! The configuration file (`/etc/vinyl/vinyl.conf` or `$VINYL_CONFIG`) and the run folder: one
//! home for the rules that `vinyl-rec` applies here and `scripts/lib/config.sh` applies for
//! `vinyl-up` and `vinyl-down`.
//!
//! Owns the file's syntax and the precedence (see [`parse`] and [`Config::get`]) and the choice of
//! the run folder ([`run_dir_rule`]). The file is parsed, never run as shell code: `KEY=value`
//! lines, values literal, one pair of surrounding quotes stripped, `#` comments, and a variable
//! already set in the environment wins over the file. It does not decide what a key means or
//! what its default is: each tool does. How it fails: a file named by `$VINYL_CONFIG` that cannot
//! be read and a malformed line are usage errors ([`UsageError`], exit 2) naming the file (and the
//! line); so is a run folder that no rule can choose.

use crate::cli::UsageError;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Path, PathBuf};

/// The system-wide configuration file, read when it exists and `$VINYL_CONFIG` is not set.
pub const SYSTEM_CONFIG: &str = "/etc/vinyl/vinyl.conf";

/// The run folder of root and of the systemd units (`RuntimeDirectory=vinyl`).
pub const SYSTEM_RUN_DIR: &str = "/run/vinyl";

/// The `VINYL_*` values of a configuration file, with the environment in front of them.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The file the values came from, `None` when no file was read.
    pub source: Option<PathBuf>,
    file: BTreeMap<String, OsString>,
}

/// Parses a configuration file's text. `origin` names it in errors (`FILE:LINE: …`).
///
/// Lines are trimmed of leading blanks; empty lines and `#` comments are skipped. Every other
/// line must be `KEY=value` with a key of `A-Z`, `0-9` and `_` that starts with `V`; keys that do
/// not start with `VINYL_` are skipped (so a shell-style file may hold other settings). A value
/// wrapped in one pair of `"…"` or `'…'` loses them; nothing else is interpreted (no `$`, no
/// escapes, trailing blanks kept). A later line for the same key wins.
pub fn parse(text: &[u8], origin: &str) -> Result<BTreeMap<String, OsString>, UsageError> {
    let mut out = BTreeMap::new();
    let lines = text.split(|&b| b == b'\n');
    for (i, raw) in lines.enumerate() {
        let line = trim_leading_blanks(raw);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            return Err(malformed(origin, i + 1, line));
        };
        let key = &line[..eq];
        let key_ok = key.first() == Some(&b'V')
            && key.iter().all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            return Err(malformed(origin, i + 1, line));
        }
        if !key.starts_with(b"VINYL_") {
            continue;
        }
        let value = strip_quotes(&line[eq + 1..]);
        out.insert(String::from_utf8_lossy(key).into_owned(), OsString::from_vec(value.to_vec()));
    }
    Ok(out)
}

fn trim_leading_blanks(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(line.len());
    &line[start..]
}

fn strip_quotes(value: &[u8]) -> &[u8] {
    for q in [b'"', b'\''] {
        if value.len() >= 2 && value[0] == q && value[value.len() - 1] == q {
            return &value[1..value.len() - 1];
        }
    }
    value
}

fn malformed(origin: &str, line_no: usize, line: &[u8]) -> UsageError {
    UsageError::new(format!("{origin}:{line_no}: expected KEY=value, got: {}", String::from_utf8_lossy(line)))
}

impl Config {
    /// Reads and parses `path`. A file that cannot be read is a usage error naming it; `why`
    /// says where the name came from (e.g. "from $VINYL_CONFIG").
    pub fn load(path: &Path, why: &str) -> Result<Config, UsageError> {
        let shown = path.display();
        let text = std::fs::read(path).map_err(|e| {
            UsageError::new(format!("{shown}: cannot read the configuration file ({why}): {e}"))
        })?;
        let file = parse(&text, &shown.to_string())?;
        Ok(Config { source: Some(path.to_path_buf()), file })
    }

    /// The configuration `vinyl-rec` uses: the file `$VINYL_CONFIG` names (which must be
    /// readable), or else [`SYSTEM_CONFIG`] when it can be read, or else none (only the
    /// environment and the defaults).
    pub fn discover() -> Result<Config, UsageError> {
        match std::env::var_os("VINYL_CONFIG").filter(|v| !v.is_empty()) {
            Some(path) => Config::load(Path::new(&path), "from $VINYL_CONFIG"),
            None if std::fs::File::open(SYSTEM_CONFIG).is_ok() => {
                Config::load(Path::new(SYSTEM_CONFIG), "the system configuration")
            }
            None => Ok(Config::default()),
        }
    }

    /// A configuration of just these file values (for tests and callers that build one).
    pub fn from_values(file: BTreeMap<String, OsString>) -> Config {
        Config { source: None, file }
    }

    /// The value of `key`: the environment's when the variable is set (even to the empty string,
    /// as in the shell), else the file's. An empty value counts as unset (`None`), so the caller's
    /// default applies, as `${KEY:-default}` does in the scripts.
    pub fn get(&self, key: &str) -> Option<OsString> {
        self.get_with(key, |k| std::env::var_os(k))
    }

    /// [`Config::get`] with the environment given as a function (for tests).
    pub fn get_with(&self, key: &str, env: impl Fn(&str) -> Option<OsString>) -> Option<OsString> {
        env(key).or_else(|| self.file.get(key).cloned()).filter(|v| !v.is_empty())
    }

    /// Where the value of `key` comes from, for messages: `the environment`, the file's path, or
    /// `None` when it is unset (empty counts as unset, as in [`Config::get`]).
    pub fn origin(&self, key: &str) -> Option<String> {
        match std::env::var_os(key) {
            Some(v) if v.is_empty() => None,
            Some(_) => Some("the environment".into()),
            None => self.file.get(key).filter(|v| !v.is_empty()).map(|_| match &self.source {
                Some(p) => p.display().to_string(),
                None => "the configuration".into(),
            }),
        }
    }

    /// The `VINYL_*` keys the file sets (not the environment's), sorted.
    pub fn file_keys(&self) -> impl Iterator<Item = &str> {
        self.file.keys().map(String::as_str)
    }

    /// [`Config::get`] as text; a value that is not UTF-8 is a usage error naming the key.
    pub fn get_str(&self, key: &str) -> Result<Option<String>, UsageError> {
        self.get(key)
            .map(|v| {
                v.into_string().map_err(|_| UsageError::new(format!("{key}: the value is not UTF-8 text")))
            })
            .transpose()
    }
}

/// What the run-folder rule looks at, so it can be tested without the real process and disk.
#[derive(Clone, Debug, Default)]
pub struct RunDirInputs {
    /// `$VINYL_RUN_DIR` (environment or configuration), non-empty.
    pub vinyl_run_dir: Option<OsString>,
    /// The effective user is root.
    pub is_root: bool,
    /// `$XDG_RUNTIME_DIR`, non-empty.
    pub xdg_runtime_dir: Option<OsString>,
    /// `/run/vinyl` is a folder owned by the effective user (the systemd units' user).
    pub system_run_dir_is_mine: bool,
}

/// The run folder, by one rule for every tool and script (`scripts/lib/config.sh` has its twin):
///
/// 1. `$VINYL_RUN_DIR` when set;
/// 2. `/run/vinyl` for root;
/// 3. `$XDG_RUNTIME_DIR/vinyl` for a user with a session;
/// 4. `/run/vinyl` when it is a folder the user owns (the `vinyl` service user under systemd,
///    which has no `XDG_RUNTIME_DIR`);
///
/// otherwise a usage error that says what to set.
pub fn run_dir_rule(i: &RunDirInputs) -> Result<PathBuf, UsageError> {
    if let Some(d) = &i.vinyl_run_dir {
        return Ok(PathBuf::from(d));
    }
    if i.is_root {
        return Ok(PathBuf::from(SYSTEM_RUN_DIR));
    }
    if let Some(x) = &i.xdg_runtime_dir {
        return Ok(Path::new(x).join("vinyl"));
    }
    if i.system_run_dir_is_mine {
        return Ok(PathBuf::from(SYSTEM_RUN_DIR));
    }
    Err(UsageError::new("no run folder: set VINYL_RUN_DIR (or XDG_RUNTIME_DIR)"))
}

/// The run folder of this process, by [`run_dir_rule`] on `config`, the environment and the disk.
pub fn run_dir(config: &Config) -> Result<PathBuf, UsageError> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = nix::unistd::geteuid();
    let inputs = RunDirInputs {
        vinyl_run_dir: config.get("VINYL_RUN_DIR"),
        is_root: uid.is_root(),
        xdg_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()),
        system_run_dir_is_mine: std::fs::metadata(SYSTEM_RUN_DIR)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid.as_raw()),
    };
    run_dir_rule(&inputs)
}

/// True when `s` holds a control character (bytes 0–31 and 127), which no file or folder name
/// passed between the tools may hold.
pub fn has_control(s: &OsStr) -> bool {
    s.as_bytes().iter().any(|&b| b < 0x20 || b == 0x7f)
}

/// The base of the cover URLs that other machines are given (Snapcast's metadata, Home
/// Assistant's image): `VINYL_WEB_URL` when set, else vinyl-web's own address
/// (`http://VINYL_WEB_LISTEN`, default `127.0.0.1:8080`), without a trailing `/`. One rule for
/// every tool that hands covers out.
pub fn web_url(url: Option<&str>, listen: Option<&str>) -> String {
    match url.map(|u| u.trim_end_matches('/')).filter(|u| !u.is_empty()) {
        Some(u) => u.to_string(),
        None => format!("http://{}", listen.filter(|l| !l.is_empty()).unwrap_or("127.0.0.1:8080")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    #[test]
    fn values_are_literal_with_one_pair_of_quotes_stripped() {
        let text = b"# comment\n\n  VINYL_A=\"x y\"\n\tVINYL_B='a; touch z'\nVINYL_C=$(touch z)\nVINYL_D=\"\nVINYL_E=''\n";
        let v = parse(text, "f").unwrap();
        assert_eq!(v["VINYL_A"], os("x y"));
        assert_eq!(v["VINYL_B"], os("a; touch z"));
        assert_eq!(v["VINYL_C"], os("$(touch z)"));
        assert_eq!(v["VINYL_D"], os("\""), "a lone quote is kept");
        assert_eq!(v["VINYL_E"], os(""));
    }

    #[test]
    fn other_v_keys_are_skipped_and_a_later_line_wins() {
        let v = parse(b"VERBOSE=1\nVINYL_A=1\nVINYL_A=2\nVINYL_LAST=no newline", "f").unwrap();
        assert!(!v.contains_key("VERBOSE"));
        assert_eq!(v["VINYL_A"], os("2"));
        assert_eq!(v["VINYL_LAST"], os("no newline"));
    }

    #[test]
    fn malformed_lines_name_the_file_and_line() {
        for bad in ["VINYL_DEVICE hw:1,0", "=x", "vinyl_a=1", "FOO=1", "VINYL-A=1", "export VINYL_A=1"] {
            let text = format!("# ok\n{bad}\n");
            let err = parse(text.as_bytes(), "/etc/v.conf").unwrap_err().to_string();
            assert_eq!(err, format!("/etc/v.conf:2: expected KEY=value, got: {bad}"));
        }
    }

    #[test]
    fn the_environment_wins_and_empty_means_unset() {
        let cfg = Config::from_values(parse(b"VINYL_A=file\nVINYL_B=file\nVINYL_C=\n", "f").unwrap());
        let env = |k: &str| match k {
            "VINYL_A" => Some(os("env")),
            "VINYL_B" => Some(os("")),
            _ => None,
        };
        assert_eq!(cfg.get_with("VINYL_A", env), Some(os("env")));
        assert_eq!(cfg.get_with("VINYL_B", env), None, "set but empty in the environment: the default");
        assert_eq!(cfg.get_with("VINYL_C", env), None);
        assert_eq!(cfg.get_with("VINYL_D", env), None);
    }

    #[test]
    fn a_value_says_where_it_came_from() {
        let mut cfg =
            Config::from_values(parse(b"VINYL_ORIGIN_TEST_A=1\nVINYL_ORIGIN_TEST_B=\n", "f").unwrap());
        assert_eq!(cfg.origin("VINYL_ORIGIN_TEST_A").as_deref(), Some("the configuration"));
        cfg.source = Some(PathBuf::from("/etc/vinyl/vinyl.conf"));
        assert_eq!(cfg.origin("VINYL_ORIGIN_TEST_A").as_deref(), Some("/etc/vinyl/vinyl.conf"));
        assert_eq!(cfg.origin("VINYL_ORIGIN_TEST_B"), None, "empty is unset");
        assert_eq!(cfg.origin("VINYL_ORIGIN_TEST_C"), None);
        assert_eq!(cfg.file_keys().collect::<Vec<_>>(), ["VINYL_ORIGIN_TEST_A", "VINYL_ORIGIN_TEST_B"]);
    }

    #[test]
    fn run_folder_rule_in_order() {
        let all = RunDirInputs {
            vinyl_run_dir: Some(os("/tmp/r")),
            is_root: true,
            xdg_runtime_dir: Some(os("/run/user/1000")),
            system_run_dir_is_mine: true,
        };
        assert_eq!(run_dir_rule(&all).unwrap(), Path::new("/tmp/r"));
        let root = RunDirInputs { vinyl_run_dir: None, ..all.clone() };
        assert_eq!(run_dir_rule(&root).unwrap(), Path::new("/run/vinyl"));
        let user = RunDirInputs { is_root: false, ..root.clone() };
        assert_eq!(run_dir_rule(&user).unwrap(), Path::new("/run/user/1000/vinyl"));
        let service = RunDirInputs { xdg_runtime_dir: None, ..user.clone() };
        assert_eq!(run_dir_rule(&service).unwrap(), Path::new("/run/vinyl"));
        let none = RunDirInputs { system_run_dir_is_mine: false, ..service };
        assert!(run_dir_rule(&none).unwrap_err().to_string().contains("set VINYL_RUN_DIR"));
    }

    #[test]
    fn control_characters_are_found_in_bytes() {
        assert!(has_control(OsStr::new("a\tb")));
        assert!(has_control(OsStr::new("a\u{7f}")));
        assert!(!has_control(OsStr::new("Kind of Blue é")));
    }
}
