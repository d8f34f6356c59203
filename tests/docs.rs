//! The generated manual pages and shell completions match the clap definitions, and every page in
//! `man/` (generated or hand-written) passes `mandoc -T lint -W warning`.
//!
//! Run with `VINYL_BLESS=1` to rewrite `man/` and `completions/` from the current definitions
//! instead of comparing (then commit the result).

mod common;

use clap_complete::Shell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Pages in `man/` written by hand: linted, never generated.
const HAND_WRITTEN: &[&str] = &["vinyl-up.1", "vinyl.7"];

/// Completions in `completions/` written by hand (for the shell scripts, which have no clap
/// definition): checked by bash, never generated.
const HAND_WRITTEN_COMPLETIONS: &[&str] = &["bash/vinyl-up"];

fn bless() -> bool {
    std::env::var_os("VINYL_BLESS").is_some_and(|v| v == "1")
}

/// Every manual page generated from the clap definitions: each binary, and each subcommand of it
/// (`vinyl-preroll-tap.1`), file name → page text.
fn generated_pages() -> BTreeMap<String, Vec<u8>> {
    fn add(cmd: clap::Command, out: &mut BTreeMap<String, Vec<u8>>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            add(sub.clone(), out);
        }
        let name = man_name(&cmd);
        out.insert(format!("{name}.1"), render_page(&cmd));
    }
    let mut out = BTreeMap::new();
    for mut cmd in vinyl::docs::commands() {
        cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        add(cmd, &mut out);
    }
    out
}

/// The page name of a built command: `vinyl-tee`, or `vinyl-preroll-tap` for a subcommand.
fn man_name(cmd: &clap::Command) -> String {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name()).to_string()
}

/// One page: clap_mangen's title, NAME, SYNOPSIS, DESCRIPTION, OPTIONS and SUBCOMMANDS sections,
/// then the command's `after_help` turned into real sections (see [`after_help_sections`]), the
/// VERSION and a SEE ALSO section.
fn render_page(cmd: &clap::Command) -> Vec<u8> {
    let man = clap_mangen::Man::new(cmd.clone())
        .date(vinyl::docs::MAN_DATE)
        .manual(vinyl::docs::MANUAL)
        .source(format!("vinyl {}", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    man.render_title(&mut page).unwrap();
    man.render_name_section(&mut page).unwrap();
    man.render_synopsis_section(&mut page).unwrap();
    man.render_description_section(&mut page).unwrap();
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page).unwrap();
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut page).unwrap();
    }
    if let Some(text) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        page.extend_from_slice(after_help_sections(&text.to_string()).as_bytes());
    }
    if cmd.get_version().is_some() || cmd.get_long_version().is_some() {
        man.render_version_section(&mut page).unwrap();
    }
    page.extend_from_slice(see_also(&man_name(cmd)).as_bytes());
    // clap_mangen separates an option's help from its list of possible values with
    // `.br`, an empty line and `.br`; mandoc warns about each `.br` next to the implied `.sp`.
    // `.sp` alone renders the same.
    String::from_utf8(page).unwrap().replace("\n.br\n\n.br\n", "\n.sp\n").into_bytes()
}

/// Escapes text for roff: backslashes, hyphens (as `\-`, so they copy-paste as ASCII minus),
/// and a leading `.` or `'` that would otherwise read as a request.
fn roff_escape(line: &str) -> String {
    let s = line.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') { format!("\\&{s}") } else { s }
}

/// A non-indented line like `EXIT STATUS:` or `Examples:` (a few words of letters, then a colon).
fn heading(line: &str) -> Option<String> {
    let title = line.strip_suffix(':')?;
    let ok = !title.is_empty()
        && !line.starts_with(char::is_whitespace)
        && title.split(' ').count() <= 4
        && title.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
        && title.starts_with(|c: char| c.is_ascii_uppercase());
    ok.then(|| title.to_ascii_uppercase())
}

/// Turns an `after_help` text into man sections: `HEADING:` lines become `.SH HEADING`, runs of
/// indented lines (examples, tables) are kept verbatim in a no-fill block, other lines are filled
/// text, blank lines separate paragraphs. Text before any heading goes under NOTES.
fn after_help_sections(text: &str) -> String {
    let mut out = String::new();
    let mut in_block = false;
    let mut indent = 0;
    let mut at_section_start = true;
    let mut pending_para = false;
    let close_block = |out: &mut String, in_block: &mut bool| {
        if *in_block {
            out.push_str(".fi\n.RE\n");
            *in_block = false;
        }
    };
    for (i, line) in text.lines().enumerate() {
        if let Some(h) = heading(line) {
            close_block(&mut out, &mut in_block);
            out.push_str(&format!(".SH \"{h}\"\n"));
            at_section_start = true;
            pending_para = false;
            continue;
        }
        if i == 0 {
            out.push_str(".SH NOTES\n");
        }
        if line.trim().is_empty() {
            close_block(&mut out, &mut in_block);
            pending_para = !at_section_start;
            continue;
        }
        if pending_para {
            out.push_str(".PP\n");
            pending_para = false;
        }
        at_section_start = false;
        if line.starts_with(char::is_whitespace) {
            if !in_block {
                out.push_str(".RS 4\n.nf\n");
                in_block = true;
                indent = line.len() - line.trim_start().len();
            }
            // Keep indentation relative to the block's first line.
            let cut = (line.len() - line.trim_start().len()).min(indent);
            out.push_str(&roff_escape(&line[cut..]));
        } else {
            close_block(&mut out, &mut in_block);
            out.push_str(&roff_escape(line));
        }
        out.push('\n');
    }
    close_block(&mut out, &mut in_block);
    out
}

/// The SEE ALSO section of a generated page: the shared conventions and the other tools.
fn see_also(own: &str) -> String {
    let pages = [
        "vinyl(7)",
        "vinyl-rec(1)",
        "vinyl-up(1)",
        "vinyl-capture(1)",
        "vinyl-tee(1)",
        "vinyl-preroll(1)",
        "vinyl-flac-rec(1)",
        "vinyl-mp3-icecast(1)",
    ];
    let refs: Vec<String> = pages
        .iter()
        .filter(|p| !p.starts_with(&format!("{own}(")))
        .map(|p| {
            let (name, sec) = p.trim_end_matches(')').split_once('(').unwrap();
            format!(".BR {} ({sec})", roff_escape(name))
        })
        .collect();
    format!(".SH \"SEE ALSO\"\n{}\n", refs.join(",\n"))
}

/// Every completion script, path under `completions/` → script text.
fn generated_completions() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for cmd in vinyl::docs::commands() {
        let name = cmd.get_name().to_string();
        for (shell, path) in [
            (Shell::Bash, format!("bash/{name}")),
            (Shell::Zsh, format!("zsh/_{name}")),
            (Shell::Fish, format!("fish/{name}.fish")),
        ] {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut text);
            if shell == Shell::Bash {
                text = fix_bash_case_labels(&name, text);
            }
            out.insert(path, text);
        }
    }
    out
}

/// clap_complete 4.6 spells a hyphenated command's subcommand states two ways in its bash script:
/// the word loop sets `vinyl__rec__subcmd__start` but the `case` that completes the options
/// tests `vinyl__subcmd__rec__subcmd__start`, so no subcommand's option ever completed. The
/// labels are rewritten to the spelling the loop sets.
fn fix_bash_case_labels(name: &str, text: Vec<u8>) -> Vec<u8> {
    let wrong = format!("{}__subcmd__", name.replace('-', "__subcmd__"));
    let right = format!("{}__subcmd__", name.replace('-', "__"));
    String::from_utf8(text).unwrap().replace(&wrong, &right).into_bytes()
}

/// Compares `files` with what is committed under `dir` (or writes them when blessing). Returns the
/// names of the files that differ or are missing.
fn check_or_bless(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut stale = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        if bless() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: write: {e}", path.display()));
        } else if std::fs::read(&path).ok().as_deref() != Some(text.as_slice()) {
            stale.push(path.display().to_string());
        }
    }
    stale
}

/// Files under `dir`, relative, recursively.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

const REGEN: &str =
    "regenerate with: VINYL_BLESS=1 cargo test --test docs, then commit man/ and completions/";

#[test]
fn man_pages_match_the_flag_definitions() {
    let dir = common::repo_root().join("man");
    let pages = generated_pages();
    let stale = check_or_bless(&dir, &pages);
    assert!(stale.is_empty(), "stale or missing manual pages: {stale:?}\n{REGEN}");
    let unknown: Vec<String> = files_under(&dir)
        .into_iter()
        .filter(|f| !pages.contains_key(f) && !HAND_WRITTEN.contains(&f.as_str()))
        .collect();
    assert!(unknown.is_empty(), "pages in man/ that no definition generates (remove them): {unknown:?}");
}

#[test]
fn completions_match_the_flag_definitions() {
    let dir = common::repo_root().join("completions");
    let files = generated_completions();
    let stale = check_or_bless(&dir, &files);
    assert!(stale.is_empty(), "stale or missing completions: {stale:?}\n{REGEN}");
    let unknown: Vec<String> = files_under(&dir)
        .into_iter()
        .filter(|f| !files.contains_key(f) && !HAND_WRITTEN_COMPLETIONS.contains(&f.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "files in completions/ that no definition generates (remove them): {unknown:?}"
    );
}

#[test]
fn bash_completions_parse() {
    let mut scripts: Vec<(String, Vec<u8>)> =
        generated_completions().into_iter().filter(|(n, _)| n.starts_with("bash/")).collect();
    for hand in HAND_WRITTEN_COMPLETIONS {
        let path = common::repo_root().join("completions").join(hand);
        scripts.push((
            hand.to_string(),
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        ));
    }
    for (name, text) in scripts {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bash");
        std::fs::write(&path, text).unwrap();
        let out = common::run(Command::new("bash").arg("-n").arg(&path), Duration::from_secs(20));
        common::assert_success(&format!("bash -n completions/{name}"), &out);
    }
}

/// The bash completions complete, called as bash calls them (command, word, previous word):
/// subcommands and their options of vinyl-rec (generated), options of vinyl-up (hand-written).
#[test]
fn hand_written_bash_completions_complete() {
    let root = common::repo_root().join("completions/bash");
    for (file, func, words, want) in [
        ("vinyl-rec", "_vinyl__rec", "vinyl-rec sn", "snapshot"),
        ("vinyl-rec", "_vinyl__rec", "vinyl-rec start --pre", "--preroll"),
        ("vinyl-up", "_vinyl_up", "vinyl-up --st", "--status"),
    ] {
        let script = format!(
            ". '{}'; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); {func} \"${{COMP_WORDS[0]}}\" \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            root.join(file).display()
        );
        let out = common::run(Command::new("bash").arg("-c").arg(&script), Duration::from_secs(20));
        common::assert_success(&script, &out);
        let got = String::from_utf8_lossy(&out.stdout);
        assert!(got.lines().any(|l| l == want), "{words}: expected {want}, got {got:?}");
    }
}

/// Every page in `man/`, generated or hand-written, is free of mandoc warnings (the pages are also
/// rendered, which catches macros mandoc does not know).
#[test]
fn every_man_page_passes_mandoc_lint() {
    assert!(common::have("mandoc"), "mandoc is not installed (scripts/test installs it)");
    let dir = common::repo_root().join("man");
    let mut pages: Vec<PathBuf> = files_under(&dir).into_iter().map(|f| dir.join(f)).collect();
    for hand in HAND_WRITTEN {
        assert!(pages.contains(&dir.join(hand)), "man/{hand}: missing");
    }
    pages.sort();
    let reports: Vec<String> = pages.iter().map(|p| mandoc_lint(p)).filter(|r| !r.is_empty()).collect();
    assert!(reports.is_empty(), "{}", reports.join("\n"));
}

/// Runs `mandoc -T lint -W warning` on `page` and returns what it reported (empty when clean).
fn mandoc_lint(page: &Path) -> String {
    let mut cmd = Command::new("mandoc");
    cmd.args(["-T", "lint", "-W", "warning"]).arg(page);
    let what = common::describe(&cmd);
    let out = common::run(&mut cmd, Duration::from_secs(20));
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() && report.trim().is_empty() {
        String::new()
    } else {
        format!("{what}: status {}\n{report}", out.status)
    }
}

/// The page renderer on a definition with everything the tools use (multi-paragraph long_about,
/// possible values, subcommands, an after_help with headings, indented examples and a leading
/// dot), checked by mandoc: a tool's future flags cannot make a page that fails lint because of
/// the renderer.
#[test]
fn renderer_output_is_lint_clean_for_a_rich_definition() {
    use clap::{Arg, Command as C};
    let mut cmd = C::new("vinyl-demo")
        .version("1.0")
        .about("Demo tool")
        .long_about("First paragraph - with a dash.\n\nSecond paragraph\\with a backslash.")
        .after_help(
            "A note before any heading.\n\nEXIT STATUS:\n  0  success\n  1  runtime failure\n\n\
             Examples:\n  vinyl-demo --mode fast | vinyl-tee out.fifo\n  .hidden --x\n\n.dot at start\n'quote too",
        )
        .arg(Arg::new("mode").long("mode").value_parser(["fast", "slow"]).help("The mode (default fast)"))
        .subcommand(C::new("tap").about("Tap it").after_help("Examples:\n  vinyl-demo tap"));
    cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let dir = tempfile::tempdir().unwrap();
    for (name, page) in
        [("vinyl-demo.1", render_page(&cmd)), ("tap.1", render_page(cmd.find_subcommand("tap").unwrap()))]
    {
        let path = dir.path().join(name);
        std::fs::write(&path, &page).unwrap();
        let text = String::from_utf8(page).unwrap();
        assert!(text.contains(".SH \"EXIT STATUS\"") || name == "tap.1", "{text}");
        assert!(text.contains(".SH \"EXAMPLES\""), "{text}");
        let report = mandoc_lint(&path);
        assert!(report.is_empty(), "{report}\n{text}");
    }
}
