//! `vinyl-library`: the collection of the user's records, in SQLite ([`db`]), and the naming of
//! recorded sides ([`name`], with covers from [`cover`]), and the recognition of replays of learned
//! sides ([`mod@print`] makes the fingerprints, [`recognize`] matches them; `vinyl-listen` runs the
//! same matcher live). `vinyl-rec auto` names a recognised side through [`name::recognised`], its
//! file's place from a [`template`].
//!
//! Owns the tool's commands: `name` (which learns the fingerprint too), `learn` (from tags),
//! `recognize`, `import-release` (a tracklist from MusicBrainz or Discogs JSON), `list`, `show`,
//! `export`, `plays` (the history `vinyl-rec auto` and `vinyl-listen` write through [`history`]), `forget` and
//! `check` (which relearns, with `--repair`, the recordings whose fingerprint is of an older
//! print version). How it fails: usage errors exit 2, the rest 1 (and `recognize` without a
//! match), each one line naming the file or the database and the step.

pub mod cli;
pub mod cover;
pub mod db;
pub mod history;
pub mod learn;
pub mod name;
pub mod postings;
pub mod print;
pub mod recognize;
pub mod release;
pub mod reports;
pub mod template;
pub mod votes;

pub use cli::Opts;
use cli::{Command, ExportOpts};
use db::Library;
use std::io::Write as _;
use std::path::PathBuf;

/// The tool's name in log lines.
pub const TOOL: &str = "vinyl-library";

/// Runs one command.
pub fn run(o: Opts) -> anyhow::Result<()> {
    let db = match &o.db {
        Some(p) => p.clone(),
        None => default_db()?,
    };
    match &o.command {
        Command::Name(n) => name::run(n, &db),
        Command::Learn { files } => learn::run(files, &db),
        Command::Recognize(r) => recognize::run(r, &db),
        Command::ImportRelease { file } => import_release(&db, file),
        Command::Plays { since, json } => plays(&db, since.as_deref(), *json),
        Command::Show { album } => show(&Library::open(&db)?.albums()?, album),
        Command::List => print_text(&list(&Library::open(&db)?.albums()?)),
        Command::Export(e) => print_text(&export(&Library::open(&db)?.albums()?, e)?),
        Command::Forget { file } => forget(&db, file),
        Command::Check { repair } => check(&db, *repair),
    }
}

/// The configuration file's `VINYL_LIBRARY`, else `library.db` in the recordings folder
/// (`VINYL_RECORDINGS`).
pub fn default_db() -> anyhow::Result<PathBuf> {
    if let Some(p) = crate::config::Config::discover()?.get("VINYL_LIBRARY") {
        return Ok(p.into());
    }
    Ok(crate::rec::Settings::load()?.recordings.join("library.db"))
}

pub(crate) fn print_text(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| anyhow::anyhow!("stdout: write: {e}"))
}

/// One line an album, then one a side with its tracks and recordings.
fn list(albums: &[db::Album]) -> String {
    let mut s = String::new();
    for a in albums {
        let year = a.year.map(|y| format!(" ({y})")).unwrap_or_default();
        s += &format!(
            "{}  {} – {}{year}{}\n",
            a.id,
            a.artist,
            a.title,
            if a.cover { "  [cover]" } else { "" }
        );
        for side in &a.sides {
            s += &format!("    side {}: {} tracks", side.name, side.tracks.len());
            for r in &side.recordings {
                s += &format!("\n        {r}");
            }
            s += "\n";
            for (i, t) in side.tracks.iter().enumerate() {
                s += &format!("        {}{}  {t}\n", side.name, i + 1);
            }
        }
    }
    s
}

/// `export`: JSON (the albums as `list` holds them) or CSV (a row a track).
fn export(albums: &[db::Album], e: &ExportOpts) -> anyhow::Result<String> {
    if !e.csv {
        return Ok(serde_json::to_string_pretty(albums)? + "\n");
    }
    let mut s = String::from("artist,album,year,side,track,title\n");
    for a in albums {
        for side in &a.sides {
            for (i, t) in side.tracks.iter().enumerate() {
                let year = a.year.map(|y| y.to_string()).unwrap_or_default();
                let row = [csv(&a.artist), csv(&a.title), year, csv(&side.name), (i + 1).to_string(), csv(t)];
                s += &(row.join(",") + "\n");
            }
        }
    }
    Ok(s)
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
fn csv(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v.to_string() }
}

fn import_release(db: &std::path::Path, file: &std::path::Path) -> anyhow::Result<()> {
    let r = release::load(file)?;
    let id = Library::open(db)?.import(&r)?;
    let sides: Vec<String> = r.sides.iter().map(|(s, t)| format!("{s} ({} tracks)", t.len())).collect();
    crate::vlog!(
        TOOL,
        "{}: album {id}, {} – {}: sides {}",
        file.display(),
        r.artist,
        r.title,
        sides.join(", ")
    );
    Ok(())
}

fn plays(db: &std::path::Path, since: Option<&str>, json: bool) -> anyhow::Result<()> {
    let plays = Library::open(db)?.plays(since)?;
    let mut s = String::new();
    for p in &plays {
        if json {
            s += &(serde_json::to_string(p)? + "\n");
            continue;
        }
        // The stored UTC time, as the user reads a clock (--json keeps it as stored).
        let at = p.started_at.as_deref().map_or("?".into(), crate::time::shown_local);
        let what = p.side.as_deref().unwrap_or("(not named)");
        let how = if p.recognized { "  (recognised)" } else { "" };
        s += &format!("{at}  {what}{how}  {}\n", p.recording.as_deref().unwrap_or(""));
    }
    print_text(&s)
}

/// The albums whose number is `which`, or whose artist and title hold its words (any case); none
/// is a usage error (`show`, `vinyl-qa history`).
pub fn find_albums(albums: &[db::Album], which: &str) -> anyhow::Result<Vec<db::Album>> {
    let words: Vec<String> = which.split_whitespace().map(str::to_lowercase).collect();
    let found: Vec<db::Album> = albums
        .iter()
        .filter(|a| {
            let text = format!("{} {}", a.artist, a.title).to_lowercase();
            a.id.to_string() == which
                || (!words.is_empty() && words.iter().all(|w| text.contains(w.as_str())))
        })
        .cloned()
        .collect();
    if found.is_empty() {
        return Err(
            crate::cli::UsageError::new(format!("{which:?}: no album of the collection matches")).into()
        );
    }
    Ok(found)
}

/// `show`: the albums [`find_albums`] finds.
fn show(albums: &[db::Album], which: &str) -> anyhow::Result<()> {
    let found = find_albums(albums, which)?;
    let mut s = String::new();
    for a in &found {
        s += &list(std::slice::from_ref(a));
        let more: Vec<String> = [&a.label, &a.catalogue, &a.format].into_iter().flatten().cloned().collect();
        if !more.is_empty() {
            s += &format!("    release: {}\n", more.join(" · "));
        }
    }
    print_text(&s)
}

fn forget(db: &std::path::Path, file: &std::path::Path) -> anyhow::Result<()> {
    let path = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    if !Library::open(db)?.forget(&path)? {
        anyhow::bail!("{}: not in the collection {}", path.display(), db.display());
    }
    crate::vlog!(TOOL, "{}: taken out of the collection (the file is left alone)", path.display());
    Ok(())
}

fn check(db: &std::path::Path, repair: bool) -> anyhow::Result<()> {
    let mut lib = Library::open(db)?;
    if repair {
        relearn_old_prints(&mut lib)?;
        let (n, swept) = lib.tidy()?;
        crate::vlog!(TOOL, "{}: removed {n} empty sides and albums", db.display());
        if swept > 0 {
            crate::vlog!(
                TOOL,
                "{}: removed the pairs of gone fingerprints from {swept} index rows",
                db.display()
            );
        }
    }
    let problems = lib.problems()?;
    for p in &problems {
        crate::vlog!(TOOL, "{}: {p}", db.display());
    }
    if !problems.is_empty() {
        anyhow::bail!("{}: {} problems", db.display(), problems.len());
    }
    crate::vlog!(TOOL, "{}: no problems", db.display());
    Ok(())
}

/// Relearns, from its file's tags as `learn` does, each recording whose fingerprint is of an older
/// print version. A file that cannot be learned (missing, no longer named, unreadable) is said and
/// left as it is, for `check` to report; the others are relearned. The old prints' pairs are left
/// for [`Library::tidy`]'s sweep, which follows.
fn relearn_old_prints(lib: &mut Library) -> anyhow::Result<()> {
    lib.defer_sweeps();
    for (path, version) in lib.old_prints()? {
        match learn::learn_file(lib, std::path::Path::new(&path)) {
            Ok((_, pairs)) => crate::vlog!(
                TOOL,
                "{path}: relearned (print version {version} → {}, {pairs} fingerprint pairs)",
                print::VERSION
            ),
            Err(e) => crate::vlog!(TOOL, "{path}: not relearned: {e:#}"),
        }
    }
    Ok(())
}
