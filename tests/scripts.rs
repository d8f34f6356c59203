//! The shell scripts and systemd units ship clean: `shellcheck` on every script under `scripts/`
//! (including `scripts/bench.d/*`, `scripts/lib/*`) and `.ci/run`; `systemd-analyze verify` on the
//! units; `scripts/install` into a temporary root; the configuration parser of `vinyl-up` (literal
//! values, never run as shell code); `vinyl-rec`'s usage errors (exit 2); every bad configuration
//! value refused by `vinyl-up` with exit 2 before anything starts, and a capture that ends at
//! start-up noticed at once.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// True for a file that is a shell script: a `sh`/`bash`/`dash` shebang or a `shellcheck shell=`
/// directive on its first line.
fn is_shell_script(path: &Path) -> bool {
    let Ok(text) = std::fs::read(path) else { return false };
    let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    (first.starts_with("#!")
        && ["/sh", "/bash", "/dash", "env sh", "env bash"].iter().any(|s| first.contains(s)))
        || first.starts_with("# shellcheck shell=")
}

/// Every shell script of the project: scripts/ (recursively, but not the systemd units) and .ci/run.
fn shell_scripts() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if is_shell_script(&p) {
                out.push(p);
            }
        }
    }
    let root = common::repo_root();
    let mut out = Vec::new();
    walk(&root.join("scripts"), &mut out);
    out.push(root.join(".ci/run"));
    out.sort();
    out
}

#[test]
fn every_script_passes_shellcheck() {
    assert!(common::have("shellcheck"), "shellcheck is not installed (scripts/test installs it)");
    let scripts = shell_scripts();
    for must in
        ["scripts/lib/config.sh", "scripts/vinyl-up", "scripts/vinyl-down", "scripts/install", "scripts/test"]
    {
        assert!(scripts.contains(&common::repo_root().join(must)), "{must}: not found as a shell script");
    }
    // The hand-written bash completion of the scripts, too (vinyl-rec's is generated from its clap
    // definition, like the other tools', and checked by tests/docs.rs).
    let root = common::repo_root();
    let mut cmd = Command::new("shellcheck");
    cmd.args(["-s", "bash"]).arg(root.join("completions/bash/vinyl-up"));
    let what = common::describe(&cmd);
    let out = common::run(&mut cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{what}\n{}", String::from_utf8_lossy(&out.stdout));
    // Executable scripts on their own; -x follows `. FILE` into sourced files, looked up from the
    // script's folder.
    let (libs, programs): (Vec<PathBuf>, Vec<PathBuf>) =
        scripts.into_iter().partition(|p| p.extension().is_some_and(|e| e == "sh"));
    let mut cmd = Command::new("shellcheck");
    cmd.arg("-x").arg("-P").arg("SCRIPTDIR").args(&programs);
    check(cmd);
    // Sourced libraries (*.sh) too, except SC2034: a variable a library sets for the script that
    // sources it is not unused.
    let mut cmd = Command::new("shellcheck");
    cmd.arg("-x").arg("-P").arg("SCRIPTDIR").arg("-e").arg("SC2034").args(&libs);
    check(cmd);
}

fn check(mut cmd: Command) {
    let what = common::describe(&cmd);
    let out = common::run(&mut cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{what}\nstatus: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_script_is_executable() {
    use std::os::unix::fs::PermissionsExt;
    for script in shell_scripts() {
        if script.extension().is_some_and(|e| e == "sh") {
            continue; // sourced libraries
        }
        let mode = std::fs::metadata(&script).unwrap().permissions().mode();
        assert!(mode & 0o111 == 0o111, "{}: not executable (mode {mode:o})", script.display());
    }
}

/// The unit files, each copied with its `ExecStart=` paths pointing at the binaries this test
/// built (verify checks that executables exist).
fn units_pointing_at_built_binaries(dir: &Path) -> Vec<PathBuf> {
    let root = common::repo_root();
    let bin_dir = common::bin_dir();
    let mut units = Vec::new();
    for e in std::fs::read_dir(root.join("scripts/systemd")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".service") || name.ends_with(".target")) {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        let text = text.replace("/usr/local/bin/", &format!("{}/", bin_dir.display()));
        let copy = dir.join(&name);
        std::fs::write(&copy, text).unwrap();
        units.push(copy);
    }
    units.sort();
    units
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    assert!(
        common::have("systemd-analyze"),
        "systemd-analyze is not installed (scripts/test installs systemd)"
    );
    let dir = tempfile::tempdir().unwrap();
    let units = units_pointing_at_built_binaries(dir.path());
    let names: Vec<String> =
        units.iter().map(|u| u.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for must in [
        "vinyl.target",
        "vinyl-capture.service",
        "vinyl-stream.service",
        "vinyl-tee.service",
        "vinyl-extra.service",
        "vinyl-snapcast.service",
        "vinyl-mp3-icecast.service",
        "vinyl-ogg-flac.service",
        "vinyl-ogg-flac-tap.service",
        "vinyl-opus.service",
        "vinyl-opus-tap.service",
        "vinyl-flac-rec@.service",
        "vinyl-web.service",
        "vinyl-mqtt.service",
    ] {
        assert!(names.iter().any(|n| n == must), "scripts/systemd/{must}: missing");
    }
    let mut cmd = Command::new("systemd-analyze");
    // --man=no: the pages are checked by tests/docs.rs; here they are not installed.
    cmd.args(["verify", "--man=no"]).args(&units);
    let what = common::describe(&cmd);
    let out = common::run(&mut cmd, Duration::from_secs(60));
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && report.trim().is_empty(), "{what}\nstatus: {}\n{report}", out.status);
}

/// Every long-running unit speaks the notify protocol with a watchdog, restarts, reads the one
/// configuration file and runs unprivileged.
/// The lines every long-running unit carries: notify, restarted, the configuration, hardened.
const HARDENING: [&str; 9] = [
    "Type=notify",
    "Restart=always",
    "EnvironmentFile=/etc/vinyl/vinyl.conf",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "PrivateTmp=yes",
    "ProtectHome=read-only",
    "RuntimeDirectory=vinyl",
    "User=vinyl",
];

#[test]
fn units_follow_the_common_policy() {
    let dir = common::repo_root().join("scripts/systemd");
    for (unit, name) in [
        ("vinyl-capture", "vinyl-capture"),
        ("vinyl-stream", "vinyl-preroll"),
        ("vinyl-tee", "vinyl-tee"),
        ("vinyl-extra", "vinyl-preroll"),
        ("vinyl-snapcast", "vinyl-preroll"),
        ("vinyl-mp3-icecast", "vinyl-mp3-icecast"),
        ("vinyl-ogg-flac", "vinyl-ogg-icecast"),
        ("vinyl-ogg-flac-tap", "vinyl-preroll"),
        ("vinyl-opus", "vinyl-ogg-icecast"),
        ("vinyl-opus-tap", "vinyl-preroll"),
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{unit}.service"))).unwrap();
        let target = std::fs::read_to_string(dir.join("vinyl.target")).unwrap();
        assert!(target.contains(&format!("{unit}.service")), "vinyl.target does not pull {unit}.service");
        // The Ogg mounts are skipped while their key is empty.
        for (prefix, key) in [("vinyl-ogg-flac", "VINYL_OGG_FLAC_URL"), ("vinyl-opus", "VINYL_OPUS_URL")] {
            if unit.starts_with(prefix) {
                let cond = format!("ExecCondition=/usr/bin/test -n ${{{key}}}");
                assert!(text.lines().any(|l| l == cond), "{unit}.service: no '{cond}'");
            }
        }
        for line in HARDENING {
            assert!(text.lines().any(|l| l == line), "{unit}.service: no '{line}'");
        }
        assert!(text.lines().any(|l| l.starts_with("WatchdogSec=")), "{unit}.service: no WatchdogSec=");
        assert!(text.contains(&format!("/usr/local/bin/{name} ")), "{unit}.service: does not run {name}");
    }
    // The web page: the same hardening, off unless enabled, its token a credential.
    let web = std::fs::read_to_string(dir.join("vinyl-web.service")).unwrap();
    for line in
        HARDENING.iter().chain(&["CapabilityBoundingSet=", "LoadCredential=web-token:/etc/vinyl/web-token"])
    {
        assert!(web.lines().any(|l| l == *line), "vinyl-web.service: no '{line}'");
    }
    assert!(web.contains("--token-file=%d/web-token"), "vinyl-web.service: the token is not the credential");
    // Home Assistant over MQTT: the same hardening, off unless enabled, its password a credential.
    let mqtt = std::fs::read_to_string(dir.join("vinyl-mqtt.service")).unwrap();
    for line in HARDENING
        .iter()
        .chain(&["CapabilityBoundingSet=", "LoadCredential=mqtt.password:/etc/vinyl/mqtt.password"])
    {
        assert!(mqtt.lines().any(|l| l == *line), "vinyl-mqtt.service: no '{line}'");
    }
    assert!(
        mqtt.contains("--password-file=%d/mqtt.password"),
        "vinyl-mqtt.service: the password is not the credential"
    );
    let capture = std::fs::read_to_string(dir.join("vinyl-capture.service")).unwrap();
    assert!(capture.contains("SupplementaryGroups=audio"));
    assert!(capture.contains("vinyl-capture --ring=${VINYL_RING}"), "the capture writes the ring itself");
    // The configuration is checked before the first process of the topology starts, and every
    // value goes as --flag=value: one starting with '-' is a bad value, never a stray flag.
    assert!(capture.lines().any(|l| l == "ExecStartPre=/usr/local/bin/vinyl-rec config --check"));
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        // The tools read their keys themselves: no shell composes a command line.
        assert!(!text.contains("/bin/sh"), "{}: runs a shell", e.path().display());
        for exec in text.lines().filter(|l| l.starts_with("ExecStart=")) {
            let words: Vec<&str> = exec.split(' ').collect();
            for w in words.windows(2) {
                let separate = w[0].starts_with("--") && w[0].len() > 2 && w[1].starts_with("\"$");
                assert!(
                    !separate,
                    "{}: '{} {}': pass values as --flag=value",
                    e.path().display(),
                    w[0],
                    w[1]
                );
            }
        }
    }
    // The taps read the ring the capture creates.
    for unit in ["vinyl-stream.service", "vinyl-extra.service", "vinyl-snapcast.service"] {
        let text = std::fs::read_to_string(dir.join(unit)).unwrap();
        assert!(text.contains("After=vinyl-capture.service") && text.contains("tap --live"), "{unit}");
    }
    // The stream reports ready only once Icecast answers: nothing may wait for it.
    for unit in ["vinyl-tee.service", "vinyl-extra.service", "vinyl-capture.service", "vinyl-stream.service"]
    {
        let text = std::fs::read_to_string(dir.join(unit)).unwrap();
        assert!(
            !text.lines().any(|l| l.starts_with("After=") && l.contains("vinyl-mp3-icecast")),
            "{unit} waits for the stream"
        );
    }
}

#[test]
fn install_puts_everything_in_place_without_overwriting_the_config() {
    let dest = tempfile::tempdir().unwrap();
    let root = common::repo_root();
    let bin_dir = common::bin_dir();
    let install = |extra: &[&str]| {
        let mut cmd = Command::new(root.join("scripts/install"));
        cmd.args(["--prefix", "/usr/local", "--destdir"])
            .arg(dest.path())
            .arg("--bin-dir")
            .arg(&bin_dir)
            .args(extra);
        let what = common::describe(&cmd);
        let out = common::run(&mut cmd, Duration::from_secs(120));
        common::assert_success(&what, &out);
        out
    };
    install(&[]);
    let d = dest.path();
    for f in [
        "usr/local/bin/vinyl-capture",
        "usr/local/bin/vinyl-tee",
        "usr/local/bin/vinyl-preroll",
        "usr/local/bin/vinyl-flac-rec",
        "usr/local/bin/vinyl-mp3-icecast",
        "usr/local/bin/vinyl-ogg-icecast",
        "usr/local/bin/vinyl-rec",
        "usr/local/bin/vinyl-up",
        "usr/local/bin/vinyl-down",
        "usr/local/lib/vinyl/config.sh",
        "usr/local/lib/vinyl/hooks/vinyl-listenbrainz",
        "usr/local/lib/systemd/system/vinyl.target",
        "usr/local/lib/systemd/system/vinyl-flac-rec@.service",
        "usr/local/lib/systemd/system/vinyl-opus.service",
        "usr/local/lib/sysusers.d/vinyl.conf",
        "usr/local/share/man/man1/vinyl-capture.1",
        "usr/local/share/man/man1/vinyl-rec.1",
        "usr/local/share/man/man1/vinyl-down.1",
        "usr/local/share/man/man7/vinyl.7",
        "usr/local/share/bash-completion/completions/vinyl-tee",
        "usr/local/share/bash-completion/completions/vinyl-rec",
        "usr/local/share/bash-completion/completions/vinyl-down",
        "usr/local/share/zsh/vendor-completions/_vinyl-tee",
        "usr/local/share/fish/vendor_completions.d/vinyl-tee.fish",
        "etc/vinyl/vinyl.conf",
    ] {
        assert!(d.join(f).exists(), "{f}: not installed");
    }
    let unit = std::fs::read_to_string(d.join("usr/local/lib/systemd/system/vinyl-capture.service")).unwrap();
    assert!(unit.contains("/usr/local/bin/vinyl-capture"));
    // A second install keeps the edited configuration.
    let conf = d.join("etc/vinyl/vinyl.conf");
    std::fs::write(&conf, "VINYL_DEVICE=hw:9,9\n").unwrap();
    install(&[]);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "VINYL_DEVICE=hw:9,9\n");
    // The first root goes before the second is written: each holds every test binary.
    drop(dest);
    // Another prefix is written into the units.
    let other = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(root.join("scripts/install"));
    cmd.args(["--prefix", "/opt/vinyl", "--destdir"]).arg(other.path()).arg("--bin-dir").arg(bin_dir);
    let out = common::run(&mut cmd, Duration::from_secs(120));
    common::assert_success("scripts/install --prefix /opt/vinyl", &out);
    let unit =
        std::fs::read_to_string(other.path().join("opt/vinyl/lib/systemd/system/vinyl-tee.service")).unwrap();
    assert!(unit.contains("/opt/vinyl/bin/vinyl-tee") && !unit.contains("/usr/local"), "{unit}");
}

/// Runs a script with a clean VINYL_* environment, the given variables, and no system config.
fn script(name: &str, args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    program(&common::repo_root().join("scripts").join(name), args, env)
}

/// Runs `path` with a clean VINYL_* environment and the given variables.
fn program(path: &Path, args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut cmd = Command::new(path);
    cmd.args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run(&mut cmd, Duration::from_secs(30))
}

#[test]
fn vinyl_rec_refuses_bad_arguments_with_exit_2() {
    let run = tempfile::tempdir().unwrap();
    let env = [("VINYL_RUN_DIR", run.path()), ("VINYL_CONFIG", Path::new("/dev/null"))];
    for args in [
        &["start", "--name", "../escape"][..],
        &["start", "--name", "a/b"],
        &["start", "--name", "a..b"],
        &["start", "--name", ""],
        &["start", "--name", "-x"],
        &["start", "--name", ".hidden"],
        &["start", "--name", "tab\there"],
        &["start", "--preroll", "30"],
        &["start", "--preroll", "1s1m"],
        &["start", "--tag", "novalue"],
        &["start", "--tag", "=x"],
        &["start", "--bogus"],
        &["snapshot"],
        &["snapshot", "--last", "5x"],
        &["stop", "extra"],
        &["frobnicate"],
        &[],
    ] {
        let out = program(Path::new(env!("CARGO_BIN_EXE_vinyl-rec")), args, &env);
        common::assert_status(&format!("vinyl-rec {args:?}"), &out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("vinyl-rec"), "vinyl-rec {args:?}: message does not name the tool: {err}");
    }
    // Nothing was left behind by the refused commands.
    assert!(!run.path().join("rec").exists());
}

#[test]
fn configuration_is_parsed_not_executed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("executed");
    let conf = dir.path().join("vinyl.conf");
    std::fs::write(
        &conf,
        format!(
            "# comment\n\nVINYL_DEVICE=\"hw:1,0\"\nVINYL_RUN_DIR=$(touch {m})\nVINYL_STREAM_NAME='a; touch {m}'\n",
            m = marker.display()
        ),
    )
    .unwrap();
    let out = script("vinyl-up", &["--status"], &[("VINYL_CONFIG", &conf)]);
    assert!(!marker.exists(), "a configuration value was run as shell code");
    // The literal value became the run folder name: status reports from there.
    let _ = out;
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "VINYL_DEVICE hw:1,0\n").unwrap();
    let out = script("vinyl-up", &[], &[("VINYL_CONFIG", &bad)]);
    common::assert_status("vinyl-up with a malformed configuration", &out, 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.conf:1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = script("vinyl-up", &[], &[("VINYL_CONFIG", &dir.path().join("missing.conf"))]);
    common::assert_status("vinyl-up with a missing configuration", &out, 2);
}

#[test]
fn the_example_configuration_is_complete() {
    // Every key the units and scripts read is set in the example configuration (systemd would
    // otherwise pass empty arguments).
    let conf = std::fs::read_to_string(common::repo_root().join("etc/vinyl.conf")).unwrap();
    let keys: Vec<&str> = conf
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .collect();
    let dir = common::repo_root().join("scripts/systemd");
    let mut used = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let text: String = text.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
        let mut rest = text.as_str();
        while let Some(i) = rest.find("VINYL_") {
            let key: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            used.push(key);
            rest = &rest[i + 6..];
        }
    }
    used.sort();
    used.dedup();
    for key in used.iter().filter(|k| *k != "VINYL_RUN_DIR") {
        assert!(keys.contains(&key.as_str()), "{key} is used by the units but not set in etc/vinyl.conf");
    }
}

/// `vinyl-up` on the ALSA `file` device at real-time pace (frame-numbered audio), streaming to a
/// private icecast2: the mount appears with the configured name and a listener decodes MP3; a
/// second `vinyl-up` starts nothing; `--status` shows each component and the ring; ten
/// recordings and a snapshot each start exactly at the frame their VINYL_START_FRAME names (the
/// first decoded frame carries that number: the ring's timeline is the capture's); `vinyl-down`
/// finalises a running recording, stops the capture first, and every process is gone.
#[test]
fn vinyl_up_starts_reports_and_vinyl_down_stops_everything() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let up = common::up::Up::start("up", 60);
    let (ice, run) = (&up.ice, &up.run);
    let sh = |args: &[&str]| up.sh(args);

    let out = sh(&["vinyl-up"]);
    common::assert_success("vinyl-up", &out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("vinyl is up") && said.contains(&ice.url("/vinyl.mp3")), "{out:?}");
    let mount = ice.wait_for_mount("/vinyl.mp3", Duration::from_secs(30));
    assert_eq!(mount["server_name"], common::up::STREAM_NAME, "{mount}");
    let mp3 = up.dir.path().join("listen.mp3");
    std::fs::write(&mp3, ice.listen("/vinyl.mp3", 32 * 1024, Duration::from_secs(20))).unwrap();
    let decoded = common::run(Command::new("mpg123").args(["-q", "-t"]).arg(&mp3), Duration::from_secs(30));
    common::assert_success("mpg123 -t on what a listener received", &decoded);
    let components = ["capture", "mp3-icecast", "stream-tap"];
    let pids: Vec<i32> = components
        .iter()
        .map(|c| std::fs::read_to_string(run.join(format!("{c}.pid"))).unwrap().trim().parse().unwrap())
        .collect();

    let again = sh(&["vinyl-up"]);
    common::assert_success("second vinyl-up", &again);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already up"), "{again:?}");
    let pids_again: Vec<i32> = components
        .iter()
        .map(|c| std::fs::read_to_string(run.join(format!("{c}.pid"))).unwrap().trim().parse().unwrap())
        .collect();
    assert_eq!(pids, pids_again, "a second vinyl-up started another set");

    let status = sh(&["vinyl-up", "--status"]);
    common::assert_success("vinyl-up --status", &status);
    let text = String::from_utf8_lossy(&status.stdout);
    for c in ["vinyl-capture", "vinyl-preroll tap (stream)", "vinyl-mp3-icecast"] {
        assert!(text.lines().any(|l| l.starts_with(c) && l.contains("running")), "{c} not running:\n{text}");
    }
    assert!(text.contains("disabled (no VINYL_EXTRA_OUTPUTS)") && text.contains("timeline:"), "{text}");
    // The listener's view: the state at once, the levels from the first 100 ms on.
    common::wait_until("vinyl-up --status shows the turntable", Duration::from_secs(30), || {
        let s = String::from_utf8_lossy(&sh(&["vinyl-up", "--status"]).stdout).into_owned();
        s.lines().any(|l| l.starts_with("vinyl-listen") && l.contains("running"))
            && s.contains("state:     idle")
            && s.contains("levels:")
    });

    // One timeline: every recording's first frame is the frame its tag names.
    let mut flacs = Vec::new();
    for i in 0..10 {
        let preroll = format!("{}ms", 100 * (i + 1));
        let rec = sh(&["vinyl-rec", "start", "--preroll", &preroll, "--name", &format!("take-{i}")]);
        common::assert_success("vinyl-rec start", &rec);
        let stop = sh(&["vinyl-rec", "stop"]);
        common::assert_success("vinyl-rec stop", &stop);
        flacs.push(PathBuf::from(String::from_utf8_lossy(&rec.stdout).trim()));
    }
    let snap = sh(&["vinyl-rec", "snapshot", "--last", "2s", "--name", "snap"]);
    common::assert_success("vinyl-rec snapshot", &snap);
    flacs.push(PathBuf::from(String::from_utf8_lossy(&snap.stdout).lines().next().unwrap().trim()));
    for f in &flacs {
        let start: u64 = common::flac_tag(f, "VINYL_START_FRAME").parse().unwrap();
        common::assert_one_timeline(f, start);
    }

    let rec = sh(&["vinyl-rec", "start", "--preroll", "0s", "--name", "during-up"]);
    common::assert_success("vinyl-rec start", &rec);
    let flac = PathBuf::from(String::from_utf8_lossy(&rec.stdout).trim());
    // Wait until some audio has gone into the recording.
    common::wait_until("the recording grows", Duration::from_secs(30), || {
        std::fs::metadata(flac.with_extension("flac.part")).map(|m| m.len() > 20_000).unwrap_or(false)
    });

    let out = sh(&["vinyl-down"]);
    common::assert_success("vinyl-down", &out);
    let said = String::from_utf8_lossy(&out.stdout);
    let order: Vec<usize> =
        ["stopped vinyl-capture", "stopped vinyl-preroll tap (stream)", "stopped vinyl-mp3-icecast"]
            .iter()
            .map(|s| said.find(s).unwrap_or_else(|| panic!("vinyl-down did not say '{s}':\n{said}")))
            .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "not stopped capture first:\n{said}");
    assert!(flac.exists(), "vinyl-down did not finalise the recording {}", flac.display());
    let t = common::run(Command::new("flac").args(["-t", "-s"]).arg(&flac), Duration::from_secs(30));
    common::assert_success("flac -t", &t);
    for pid in pids {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z "),
            "pid {pid} still running after vinyl-down: {state}"
        );
    }
    for f in ["stream.fifo", "extra.fifo", "capture.pid", "listen.pid", "stream-tap.pid", "mp3-icecast.pid"] {
        assert!(!run.join(f).exists(), "{f} left behind");
    }
}

/// `scripts/lib/config.sh` (vinyl-up, vinyl-down) and `vinyl::config` (vinyl-rec) read the same
/// file to the same values, let the environment win alike, and choose the same run folder.
#[test]
fn shell_and_rust_agree_on_the_configuration_and_the_run_folder() {
    use std::collections::BTreeMap;
    use std::ffi::OsString;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("vinyl.conf");
    let text = "# comment\n\n  VINYL_A=\"spaced value\"\n\tVINYL_B='a; $(x)'\nVERBOSE=1\nVINYL_C=\"\nVINYL_D=x=y\n\
                VINYL_E=first\nVINYL_E=second\nVINYL_ENV=from file\nVINYL_LAST=no newline";
    std::fs::write(&conf, text).unwrap();
    let lib = common::repo_root().join("scripts/lib/config.sh");
    // Sources the library and prints every VINYL_* variable it set, NUL-separated.
    let shell = |script: &str, env: &[(&str, &str)]| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("die() {{ echo \"$2\" >&2; exit \"$1\"; }}; . '{}'; {script}", lib.display()))
            .arg("sh")
            .arg(&conf);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_") || k == "XDG_RUNTIME_DIR") {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        let out = common::run(&mut cmd, Duration::from_secs(20));
        common::assert_success(script, &out);
        String::from_utf8(out.stdout).unwrap()
    };
    let dump = "load_config \"$1\"; for k in A B C D E ENV LAST; do eval \"printf '%s=%s\\0' VINYL_$k \\\"\\$VINYL_$k\\\"\"; done";
    let from_shell: BTreeMap<String, OsString> = shell(dump, &[("VINYL_ENV", "from env")])
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    let cfg = vinyl::config::Config::from_values(vinyl::config::parse(text.as_bytes(), "f").unwrap());
    let env = |k: &str| (k == "VINYL_ENV").then(|| OsString::from("from env"));
    for (k, v) in &from_shell {
        assert_eq!(cfg.get_with(k, env).unwrap_or_default(), *v, "{k}: the shell and vinyl::config differ");
    }
    assert_eq!(from_shell["VINYL_ENV"], "from env");
    assert_eq!(from_shell["VINYL_B"], "a; $(x)");

    // The run folder, as root and (with a stand-in `id`) as a user with a session.
    let fake_bin = dir.path().join("bin");
    std::fs::create_dir(&fake_bin).unwrap();
    std::fs::write(fake_bin.join("id"), "#!/bin/sh\necho 1000\n").unwrap();
    std::fs::set_permissions(fake_bin.join("id"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let user_path = format!("{}:{}", fake_bin.display(), std::env::var("PATH").unwrap_or_default());
    let is_root = nix::unistd::geteuid().is_root();
    let path = std::env::var("PATH").unwrap_or_default();
    for (env, inputs) in [
        (
            vec![("VINYL_RUN_DIR", "/tmp/x"), ("XDG_RUNTIME_DIR", "/run/user/7"), ("PATH", path.as_str())],
            vinyl::config::RunDirInputs {
                vinyl_run_dir: Some("/tmp/x".into()),
                is_root,
                xdg_runtime_dir: Some("/run/user/7".into()),
                ..Default::default()
            },
        ),
        (
            vec![("XDG_RUNTIME_DIR", "/run/user/7"), ("PATH", path.as_str())],
            vinyl::config::RunDirInputs {
                is_root,
                xdg_runtime_dir: Some("/run/user/7".into()),
                ..Default::default()
            },
        ),
        (
            vec![("XDG_RUNTIME_DIR", "/run/user/7"), ("PATH", user_path.as_str())],
            vinyl::config::RunDirInputs { xdg_runtime_dir: Some("/run/user/7".into()), ..Default::default() },
        ),
    ] {
        let got = shell("run_folder && printf '%s' \"$run_dir\"", &env);
        let want = vinyl::config::run_dir_rule(&inputs).unwrap();
        assert_eq!(Path::new(&got), want, "run folder with {env:?}");
    }
}

#[test]
fn scripts_test_runs_every_test_binary_and_the_readme_shows_the_busy_machine_run() {
    let root = common::repo_root();
    let script = std::fs::read_to_string(root.join("scripts/test")).unwrap();
    assert!(
        script.lines().any(|l| l.trim_start().starts_with("cargo test --workspace --no-fail-fast ")),
        "scripts/test must run `cargo test --workspace --no-fail-fast`: every crate, and one failure does not hide the rest"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let testing = readme.split("\n## Testing\n").nth(1).expect("README: no Testing section");
    let testing = testing.split("\n## ").next().unwrap();
    assert!(
        testing.contains("stress-ng --cpu 2 &") && testing.contains("for run in 1 2 3; do scripts/test"),
        "README's Testing section must show the three runs of scripts/test under stress-ng --cpu 2"
    );
}

#[test]
fn scripts_test_fails_on_a_doc_warning() {
    let script = std::fs::read_to_string(common::repo_root().join("scripts/test")).unwrap();
    assert!(
        script.lines().any(
            |l| l.trim_start() == r#"RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --quiet"#
        ),
        "scripts/test must run `cargo doc` with warnings denied: a doc link to a private or missing item renders as plain text"
    );
}

/// The lines of one `[section]` of Cargo.toml, without comments.
fn cargo_toml_section(name: &str) -> Vec<String> {
    let toml = std::fs::read_to_string(common::repo_root().join("Cargo.toml")).unwrap();
    let header = format!("[{name}]");
    toml.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(|l| l.split('#').next().unwrap().replace(' ', ""))
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn release_binaries_carry_no_debug_info_and_a_profile_keeps_it() {
    // Building release binaries here would take minutes, so this checks the profile that makes
    // them small; scripts/install refuses to install a build of its own over 4 MiB.
    let release = cargo_toml_section("profile.release");
    assert!(
        release.iter().any(|l| l == "strip=\"debuginfo\"" || l == "strip=\"symbols\"" || l == "strip=true"),
        "[profile.release] must strip debug info (installed binaries < 4 MiB): {release:?}"
    );
    assert!(
        !release.iter().any(|l| l.starts_with("debug=") && l != "debug=false" && l != "debug=0"),
        "[profile.release] asks for debug info: {release:?}"
    );
    let debug = cargo_toml_section("profile.release-debug");
    assert!(
        debug.contains(&"inherits=\"release\"".to_string())
            && debug.iter().any(|l| l == "debug=true" || l == "debug=2" || l == "debug=1")
            && debug.contains(&"strip=\"none\"".to_string()),
        "[profile.release-debug] must be the release build with its debug info: {debug:?}"
    );
}

#[test]
fn install_warns_about_a_given_binary_over_4_mib() {
    let bins = tempfile::tempdir().unwrap();
    // Every binary, from the one list of them (vinyl::docs::commands).
    let names: Vec<String> = vinyl::docs::commands().iter().map(|c| c.get_name().to_string()).collect();
    for t in names.iter().map(String::as_str) {
        let size = if t == "vinyl-tee" { 4_194_304 } else { 3_600_000 };
        let f = bins.path().join(t);
        std::fs::write(&f, vec![0u8; size]).unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let dest = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(common::repo_root().join("scripts/install"));
    cmd.arg("--destdir").arg(dest.path()).arg("--bin-dir").arg(bins.path());
    let what = common::describe(&cmd);
    let out = common::run(&mut cmd, Duration::from_secs(120));
    common::assert_success(&what, &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("vinyl-tee: 4194304 bytes, over 4 MiB") && !stderr.contains("vinyl-capture:"),
        "{what}: no warning for the one binary over 4 MiB:\n{stderr}"
    );
}

/// Each bad value makes `vinyl-up` exit 2 at once, before anything starts, with one line naming
/// the key and the value: a negative duration (once a stray argument), a ring of 0 s, a unit no
/// size takes, a size that overflows, bad capture keys (once found only when the capture died,
/// 16.5 s later, with exit 1). Nothing is left behind: no PID file, no ring, no log.
#[test]
fn vinyl_up_refuses_each_bad_value_with_exit_2_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.raw");
    std::fs::write(&input, vec![0u8; 4 * 48_000]).unwrap();
    let ring = PathBuf::from(format!("/dev/shm/vinyl-test-{}-badconf", std::process::id()));
    let run = dir.path().join("run");
    let path = format!(
        "{}:{}:{}",
        common::bin_dir().display(),
        common::repo_root().join("scripts").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let base = format!(
        "VINYL_DEVICE={}\nVINYL_REALTIME=yes\nVINYL_RING={}\nVINYL_RUN_DIR={}\nVINYL_ICECAST_URL=\n",
        common::file_device(&input),
        ring.display(),
        run.display()
    );
    let up = |extra: &str, env: &[(&str, &str)]| {
        let conf = dir.path().join("vinyl.conf");
        std::fs::write(&conf, format!("{base}{extra}\n")).unwrap();
        let mut cmd = Command::new(common::repo_root().join("scripts/vinyl-up"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
            cmd.env_remove(k);
        }
        cmd.env("VINYL_CONFIG", &conf).env("PATH", &path).env("ALSA_CONFIG_PATH", common::alsa_config_path());
        cmd.envs(env.iter().copied());
        let t = std::time::Instant::now();
        let out = common::run(&mut cmd, Duration::from_secs(60));
        (out, t.elapsed())
    };
    for (extra, env, want) in [
        ("VINYL_PREROLL=-3s", &[][..], "VINYL_PREROLL=-3s (in "),
        (
            "",
            &[("VINYL_PREROLL", "-3s")][..],
            "VINYL_PREROLL=-3s (in the environment): '-3s' is not a duration (a duration cannot be negative)",
        ),
        ("VINYL_TEE_QUEUE=-2s\nVINYL_EXTRA_OUTPUTS=/tmp/x", &[], "VINYL_TEE_QUEUE=-2s"),
        ("VINYL_RING_CAPACITY=-30s", &[], "VINYL_RING_CAPACITY=-30s"),
        ("VINYL_RING_CAPACITY=0s", &[], "VINYL_RING_CAPACITY=0s"),
        ("VINYL_EVENTS_MAX=1MB", &[], "VINYL_EVENTS_MAX=1MB"),
        ("VINYL_AUTO_MIN_FREE=16000000000G", &[], "VINYL_AUTO_MIN_FREE=16000000000G"),
        ("VINYL_CAPTURE_BUFFER=abc", &[], "VINYL_CAPTURE_BUFFER=abc"),
        ("VINYL_CAPTURE_BUFFER=100", &[], "VINYL_CAPTURE_BUFFER=100"),
        ("VINYL_RATE=0", &[], "VINYL_RATE=0"),
        ("VINYL_FORMAT=s32le", &[], "VINYL_FORMAT=s32le"),
        ("VINYL_REALTIME=sometimes", &[], "VINYL_REALTIME=sometimes"),
        ("VINYL_DEVICE=", &[], "VINYL_DEVICE is not set"),
    ] {
        let (out, took) = up(extra, env);
        let what = format!("vinyl-up with {extra:?} {env:?}");
        common::assert_status(&what, &out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().find(|l| l.contains(want));
        assert!(line.is_some_and(|l| l.starts_with("vinyl-up: ")), "{what}: no line with {want:?}:\n{err}");
        assert!(took < Duration::from_secs(10), "{what}: took {took:?}");
        assert!(!ring.exists(), "{what}: the ring was created");
        let left: Vec<_> =
            std::fs::read_dir(&run).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        assert!(left.is_empty(), "{what}: left in the run folder: {left:?}");
    }
}

/// A capture that ends at start-up is noticed at once, not after the 15 s wait for its ring: one
/// that refused its flags (exit 2: a check only the running tool can make) makes vinyl-up exit
/// 2, one that failed otherwise (no such device) exit 1, both with its last log lines, and
/// nothing is left running.
#[test]
fn vinyl_up_stops_at_once_when_the_capture_ends_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake");
    std::fs::create_dir(&fake).unwrap();
    let ring = PathBuf::from(format!("/dev/shm/vinyl-test-{}-capdead", std::process::id()));
    let run = dir.path().join("run");
    for (device, first_on_path, code, want) in [
        ("hw:97,0", None, 1, "the capture exited (status 1)"),
        ("hw:1,0", Some(&fake), 2, "vinyl-capture: --ring-capacity: refused by the tool"),
    ] {
        std::fs::write(
            fake.join("vinyl-capture"),
            "#!/bin/sh\necho 'vinyl-capture: --ring-capacity: refused by the tool' >&2\nexit 2\n",
        )
        .unwrap();
        std::fs::set_permissions(
            fake.join("vinyl-capture"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let conf = dir.path().join("vinyl.conf");
        std::fs::write(
            &conf,
            format!(
                "VINYL_DEVICE={device}\nVINYL_RING={}\nVINYL_RUN_DIR={}\nVINYL_ICECAST_URL=\n",
                ring.display(),
                run.display()
            ),
        )
        .unwrap();
        let mut path = format!(
            "{}:{}:{}",
            common::bin_dir().display(),
            common::repo_root().join("scripts").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        if let Some(f) = first_on_path {
            path = format!("{}:{path}", f.display());
        }
        let mut cmd = Command::new(common::repo_root().join("scripts/vinyl-up"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VINYL_")) {
            cmd.env_remove(k);
        }
        cmd.env("VINYL_CONFIG", &conf).env("PATH", &path).env("ALSA_CONFIG_PATH", common::alsa_config_path());
        let t = std::time::Instant::now();
        let out = common::run(&mut cmd, Duration::from_secs(60));
        let took = t.elapsed();
        let what = format!("vinyl-up with VINYL_DEVICE={device}");
        common::assert_status(&what, &out, code);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{what}: {err}");
        assert!(took < Duration::from_secs(10), "{what}: took {took:?}");
        let pids: Vec<_> = std::fs::read_dir(&run)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".pid"))
            .map(|e| e.file_name())
            .collect();
        assert!(pids.is_empty(), "{what}: PID files left: {pids:?}");
        assert!(!ring.exists(), "{what}: a ring was left");
    }
}

/// The components vinyl-up starts and the units that run the same programs.
const UNIT_OF: [(&str, &str); 14] = [
    ("capture", "vinyl-capture"),
    ("listen", "vinyl-listen"),
    ("auto", "vinyl-rec-auto"),
    ("mp3-icecast", "vinyl-mp3-icecast"),
    ("stream-tap", "vinyl-stream"),
    ("ogg-flac", "vinyl-ogg-flac"),
    ("ogg-flac-tap", "vinyl-ogg-flac-tap"),
    ("opus", "vinyl-opus"),
    ("opus-tap", "vinyl-opus-tap"),
    ("tee", "vinyl-tee"),
    ("extra-tap", "vinyl-extra"),
    ("snapcast-tap", "vinyl-snapcast"),
    ("web", "vinyl-web"),
    ("mqtt", "vinyl-mqtt"),
];

/// How a process is started: its arguments (the program's file name first) and the FIFOs its
/// stdin and stdout are, with "rw" when one descriptor opens the FIFO for both.
#[derive(Debug, PartialEq)]
struct Launch {
    argv: Vec<String>,
    fifos: Vec<String>,
}

/// `value` of a unit's `KEY=value` lines, all of them.
fn unit_values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines().filter_map(|l| l.strip_prefix(key)?.strip_prefix('=')).collect()
}

/// What systemd runs for `unit` under `conf` (the EnvironmentFile's keys, over the unit's
/// Environment= defaults): `${KEY}` is one word, `$KEY` is split at blanks, `%d/NAME` is the
/// credential's file as vinyl-up names it (`creds`).
fn unit_launch(unit: &str, conf: &BTreeMap<String, String>, creds: &[(&str, String)]) -> Launch {
    let text =
        std::fs::read_to_string(common::repo_root().join(format!("scripts/systemd/{unit}.service"))).unwrap();
    let mut env = BTreeMap::new();
    for e in unit_values(&text, "Environment") {
        let (k, v) = e.split_once('=').unwrap();
        env.insert(k.to_string(), v.to_string());
    }
    env.extend(conf.clone());
    let exec = unit_values(&text, "ExecStart");
    assert_eq!(exec.len(), 1, "{unit}.service: one ExecStart= line");
    let mut argv = Vec::new();
    for word in exec[0].split(' ') {
        if let Some(key) = word.strip_prefix('$').filter(|k| !k.starts_with('{')) {
            argv.extend(
                env.get(key).map(String::as_str).unwrap_or("").split_whitespace().map(str::to_string),
            );
            continue;
        }
        let mut w = word.to_string();
        for (k, v) in &env {
            w = w.replace(&format!("${{{k}}}"), v);
        }
        for (name, file) in creds {
            w = w.replace(&format!("%d/{name}"), file);
        }
        argv.push(w);
    }
    argv[0] = argv[0].rsplit('/').next().unwrap().to_string();
    let input =
        unit_values(&text, "StandardInput").first().and_then(|v| v.strip_prefix("file:")).map(str::to_string);
    let output = unit_values(&text, "StandardOutput")
        .first()
        .and_then(|v| v.strip_prefix("file:"))
        .map(str::to_string);
    let fifos = match (input, output) {
        (Some(i), Some(o)) if i == o => vec![format!("rw {i}")],
        (i, o) => i.map(|i| format!("in {i}")).into_iter().chain(o.map(|o| format!("out {o}"))).collect(),
    };
    Launch { argv, fifos }
}

/// What vinyl-up ran as `pid`, with its run folder written as the units' /run/vinyl.
fn running_launch(pid: i32, run: &Path) -> Launch {
    let as_units = |s: &str| s.replace(&run.display().to_string(), "/run/vinyl");
    let argv: Vec<String> = common::up::cmdline(pid).iter().map(|a| as_units(a)).collect();
    let mut fifos = Vec::new();
    let mut fds = Vec::new();
    for fd in [0, 1] {
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap_or_default();
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
        let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).map(|f| f.trim().to_string());
        let rw = flags.and_then(|f| u32::from_str_radix(&f, 8).ok()).is_some_and(|f| f & 3 == 2);
        fds.push((target.display().to_string(), rw));
    }
    for (i, (path, rw)) in fds.iter().enumerate() {
        if !path.ends_with(".fifo") {
            continue;
        }
        let dir = if *rw {
            "rw"
        } else if i == 0 {
            "in"
        } else {
            "out"
        };
        if !(i == 1 && *rw && fds[0].0 == *path) {
            fifos.push(format!("{dir} {}", as_units(path)));
        }
    }
    Launch { argv, fifos }
}

/// The topology is defined once: for one configuration with every component on, each process
/// vinyl-up starts runs the program, the flags and the FIFOs of its systemd unit (the units' paths
/// under /run/vinyl being vinyl-up's run folder, their credentials the files the keys name). The
/// tools read their own keys, so neither passes a value of the configuration as a flag.
#[test]
fn vinyl_up_and_the_units_run_the_same_commands() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let up = common::up::Up::start("same", 60);
    let token = up.dir.path().join("web-token");
    let extra = up.dir.path().join("extra-out.fifo");
    let mqtt_pw = up.dir.path().join("mqtt.password");
    std::fs::write(&mqtt_pw, "x\n").unwrap();
    std::fs::set_permissions(&mqtt_pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    // No broker there: the bridge runs all the same, retrying.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut text = std::fs::read_to_string(&up.conf).unwrap();
    text += &format!(
        "VINYL_MQTT_URL=mqtt://127.0.0.1:{dead}\nVINYL_MQTT_USERNAME=vinyl\nVINYL_MQTT_PASSWORD_FILE={}\n",
        mqtt_pw.display()
    );
    text += &format!(
        "VINYL_WEB=yes\nVINYL_WEB_LISTEN=127.0.0.1:0\nVINYL_WEB_TOKEN_FILE={}\nVINYL_EXTRA_OUTPUTS={}\n\
         VINYL_AUTO_RECORD=yes\nVINYL_AUTO_HOLD=10s\nVINYL_SNAPCAST=yes\nVINYL_OGG_FLAC_URL={}\nVINYL_OPUS_URL={}\n",
        token.display(),
        extra.display(),
        up.ice.url("/vinyl.flac.ogg"),
        up.ice.url("/vinyl.opus"),
    );
    std::fs::write(&up.conf, &text).unwrap();
    let conf: BTreeMap<String, String> = vinyl::config::parse(text.as_bytes(), "conf")
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.to_string_lossy().into_owned()))
        .collect();
    let out = up.sh(&["vinyl-up"]);
    common::assert_success("vinyl-up", &out);
    let creds = [
        ("icecast.password", conf["VINYL_ICECAST_PASSWORD_FILE"].clone()),
        ("web-token", token.display().to_string()),
        ("mqtt.password", mqtt_pw.display().to_string()),
    ];
    let mut differ = Vec::new();
    for (component, unit) in UNIT_OF {
        let want = unit_launch(unit, &conf, &creds);
        let got = running_launch(up.pid(component), &up.run);
        if want != got {
            differ.push(format!("{component}: vinyl-up ran {got:?}\n  {unit}.service runs {want:?}"));
        }
    }
    // The Ogg mounts are up at the server and listed by --status.
    for mount in ["/vinyl.flac.ogg", "/vinyl.opus"] {
        up.ice.wait_for_mount(mount, Duration::from_secs(30));
    }
    let status = String::from_utf8_lossy(&up.sh(&["vinyl-up", "--status"]).stdout).into_owned();
    for label in [
        "vinyl-ogg-icecast (flac)",
        "vinyl-ogg-icecast (opus)",
        "vinyl-preroll tap (ogg-flac)",
        "vinyl-preroll tap (opus)",
    ] {
        assert!(
            status.lines().any(|l| l.starts_with(label) && l.contains("running (pid")),
            "{label}:\n{status}"
        );
    }
    let down = up.sh(&["vinyl-down"]);
    common::assert_success("vinyl-down", &down);
    let said = String::from_utf8_lossy(&down.stdout);
    assert!(
        said.contains("stopped vinyl-ogg-icecast (opus)")
            && said.contains("stopped vinyl-preroll tap (ogg-flac)"),
        "{said}"
    );
    assert!(differ.is_empty(), "vinyl-up and the units differ:\n{}", differ.join("\n"));
    let mode = std::fs::metadata(&token).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o600), "vinyl-web --make-token made {}", token.display());
}

/// The keys behind the flags (vinyl::args): a key is the flag's default, an empty key is unset,
/// a bad key is a usage error naming it, and a flag given beats the key of a flag it conflicts
/// with; `--help` names each key.
#[test]
fn each_tool_reads_its_own_keys_and_a_flag_beats_a_key() {
    let bin = |name: &str| common::bin_dir().join(name);
    let p = |s: &'static str| Path::new(s);
    // A key is the flag's default: info reads the ring VINYL_RING names.
    let out = program(&bin("vinyl-preroll"), &["info"], &[("VINYL_RING", p("/nonexistent/key-ring"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("/nonexistent/key-ring"), "{out:?}");
    // ... and the flag wins over it.
    let out = program(
        &bin("vinyl-preroll"),
        &["info", "--ring", "/nonexistent/flag-ring"],
        &[("VINYL_RING", p("/nonexistent/key-ring"))],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/flag-ring"), "{out:?}");
    // An empty key counts as unset (the default 2s queue), a bad one exits 2 naming the flag.
    let out = program(&bin("vinyl-tee"), &["--stdout"], &[("VINYL_TEE_QUEUE", p(""))]);
    common::assert_success("vinyl-tee --stdout with VINYL_TEE_QUEUE empty", &out);
    let out = program(&bin("vinyl-tee"), &["--stdout"], &[("VINYL_TEE_QUEUE", p("soon"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains("soon") && err.contains("--queue"), "{out:?}");
    // A flag given beats a conflicting key: --output with VINYL_ICECAST_URL set encodes to the file.
    let dir = tempfile::tempdir().unwrap();
    let mp3 = dir.path().join("x.mp3");
    let out = program(
        &bin("vinyl-mp3-icecast"),
        &["--output", mp3.to_str().unwrap()],
        &[("VINYL_ICECAST_URL", p("http://127.0.0.1:9/never.mp3"))],
    );
    common::assert_success("vinyl-mp3-icecast --output with VINYL_ICECAST_URL set", &out);
    let help = program(&bin("vinyl-capture"), &["--help"], &[]);
    let text = String::from_utf8_lossy(&help.stdout);
    for key in ["VINYL_DEVICE", "VINYL_RING", "VINYL_RATE", "VINYL_REALTIME", "VINYL_CAPTURE_BUFFER"] {
        assert!(text.contains(&format!("[env: {key}")), "vinyl-capture --help does not name {key}:\n{text}");
    }
    // VINYL_REALTIME takes yes or no, as the configuration says.
    let out = program(&bin("vinyl-capture"), &["--list-devices"], &[("VINYL_REALTIME", p("maybe"))]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
