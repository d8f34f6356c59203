//! The collection's database: one SQLite file (`$VINYL_RECORDINGS/library.db`, or `VINYL_LIBRARY`)
//! holding albums, their sides and tracks, the recordings linked to a side, the plays, and each
//! recording's health report ([`super::reports`]).
//!
//! Owns the schema and its versions (`PRAGMA user_version`; `MIGRATIONS` run in order, each in
//! one transaction), the connection's settings (WAL, foreign keys, a busy timeout so a second
//! writer waits instead of failing at once) and every query. It does not touch FLAC files or
//! decide what a name means ([`super::name`]). How it fails: a file that is not SQLite, a SQLite
//! file of another program, and one from a newer vinyl-library are refused at open, naming the
//! file and what it is, before anything is written; a statement that fails rolls its
//! transaction back, so a row already committed is never lost.

use super::{postings, reports};
use anyhow::{Context as _, bail};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema, one migration per version (index + 1), applied in order; [`postings::from_rows`]
/// follows the fourth's SQL in its transaction.
const MIGRATIONS: [&str; 6] = [
    r#"
CREATE TABLE vinyl_library (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE albums (
    id INTEGER PRIMARY KEY,
    artist TEXT NOT NULL,
    title TEXT NOT NULL,
    year INTEGER,
    label TEXT,
    catalogue TEXT,
    format TEXT,
    condition TEXT,
    notes TEXT,
    cover BLOB,
    cover_mime TEXT,
    UNIQUE (artist, title)
);
CREATE TABLE sides (
    id INTEGER PRIMARY KEY,
    album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (album_id, name)
);
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    side_id INTEGER NOT NULL REFERENCES sides(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    title TEXT NOT NULL,
    duration_ms INTEGER,
    UNIQUE (side_id, number)
);
CREATE TABLE recordings (
    id INTEGER PRIMARY KEY,
    side_id INTEGER REFERENCES sides(id) ON DELETE SET NULL,
    path TEXT NOT NULL UNIQUE,
    start_frame INTEGER,
    named_at TEXT NOT NULL
);
CREATE TABLE plays (
    id INTEGER PRIMARY KEY,
    side_id INTEGER REFERENCES sides(id) ON DELETE SET NULL,
    recording_id INTEGER REFERENCES recordings(id) ON DELETE SET NULL,
    side_start INTEGER,
    side_end INTEGER,
    started_at TEXT,
    recognized INTEGER NOT NULL DEFAULT 0
);
INSERT INTO vinyl_library (key, value) VALUES ('application', 'vinyl-library');
"#,
    r#"
CREATE TABLE prints (
    id INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL UNIQUE REFERENCES recordings(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    hop_s REAL NOT NULL,
    seconds REAL NOT NULL,
    track_starts TEXT NOT NULL
);
CREATE TABLE hashes (
    key INTEGER NOT NULL,
    print_id INTEGER NOT NULL REFERENCES prints(id) ON DELETE CASCADE,
    t INTEGER NOT NULL,
    PRIMARY KEY (key, print_id, t)
) WITHOUT ROWID;
"#,
    // The deck's speed over the nominal when the print's recording was made (its run-out's rpm,
    // VINYL_RPM), when known: recognition searches around it first.
    "ALTER TABLE prints ADD COLUMN deck_speed REAL;",
    // The stored pairs, one blob a key ([`postings`]), from schema 3's one row a pair.
    "CREATE TABLE postings (key INTEGER PRIMARY KEY, pairs BLOB NOT NULL);",
    // The turntable's health: one vinyl-qa report a recording ([`reports`]).
    reports::MIGRATION,
    // Which plots each report can draw ([`reports::PLOTS_MIGRATION`]).
    reports::PLOTS_MIGRATION,
];

/// The schema version this build writes and reads.
pub const SCHEMA: i64 = MIGRATIONS.len() as i64;

/// An open collection.
pub struct Library {
    conn: Connection,
    path: PathBuf,
    /// While a batch defers its sweeps ([`Library::defer_sweeps`]): whether a replaced print's
    /// pairs wait in the index for the batch's one sweep.
    deferred: Option<bool>,
}

/// What `name` links: an album side with its titles, and the recording of it.
#[derive(Clone, Debug)]
pub struct Naming {
    /// The album's artist.
    pub artist: String,
    /// The album's title.
    pub album: String,
    /// The release year.
    pub year: Option<i32>,
    /// The side: A, B, C…
    pub side: String,
    /// The tracks' titles, in order (none: the side's tracks are left as they are).
    pub titles: Vec<String>,
    /// The cover's bytes and MIME type.
    pub cover: Option<(Vec<u8>, &'static str)>,
    /// The recording's file, absolute.
    pub file: PathBuf,
    /// The recording's first frame on the ring's timeline, when its tags say.
    pub start_frame: Option<u64>,
}

/// A recording's fingerprint as learning made it ([`super::print`]).
#[derive(Clone, Debug)]
pub struct Learned {
    /// Seconds per analysis frame.
    pub hop_s: f64,
    /// The recording's length in seconds.
    pub seconds: f64,
    /// Where each track starts, in seconds of the recording (its markers; empty: one track).
    pub track_starts: Vec<f64>,
    /// The pairs' keys and anchor frames.
    pub hashes: Vec<(u32, u32)>,
    /// The deck's speed over the nominal when it was recorded (its run-out's), when known.
    pub deck_speed: Option<f64>,
}

/// A learned side as recognition compares against it: one print of one named recording.
#[derive(Clone, Debug)]
pub struct KnownPrint {
    /// The print's number (the hashes' `print_id`).
    pub id: i64,
    /// The side's number: two recordings of one side are one side.
    pub side_id: i64,
    /// Seconds per analysis frame of the print.
    pub hop_s: f64,
    /// Where each track starts, in seconds of the learned recording.
    pub track_starts: Vec<f64>,
    /// The album's artist.
    pub artist: String,
    /// The album's title.
    pub album: String,
    /// The side's name.
    pub side: String,
    /// The side's titles, in order.
    pub titles: Vec<String>,
    /// The deck's speed over the nominal when the learned recording was made, when known.
    pub deck_speed: Option<f64>,
}

/// One play: what was on the turntable, from the needle drop to the side's end.
#[derive(Clone, Debug, Serialize)]
pub struct Play {
    /// When the needle dropped (RFC 3339 UTC, from the ring's clock), when known.
    pub started_at: Option<String>,
    /// The needle drop's frame on the ring's timeline.
    pub side_start: Option<i64>,
    /// The side's end frame.
    pub side_end: Option<i64>,
    /// The recording, when one was kept.
    pub recording: Option<String>,
    /// The album side it was, when named: `Artist – Album, side A`.
    pub side: Option<String>,
    /// The listener recognised it (rather than a later `name`).
    pub recognized: bool,
}

/// A play as `vinyl-rec auto` and `vinyl-listen` note it: what was on the turntable from a needle
/// drop to the side's end, recorded or not.
#[derive(Clone, Debug, Default)]
pub struct PlayNote<'a> {
    /// The needle drop's frame on the ring's timeline: the play's key.
    pub side_start: u64,
    /// The side's end frame (exclusive), when known.
    pub side_end: Option<u64>,
    /// When the needle dropped ([`crate::time::frame_time`] of the drop on the ring's timeline):
    /// with `side_start`, the play's key, so the same frame on another timeline is another play.
    pub started_at: Option<&'a str>,
    /// The file kept of it; `None` when the side was not recorded or not kept.
    pub recording: Option<&'a Path>,
    /// The album side the listener recognised it as (artist, album, side), for a play without
    /// a named recording; one the collection does not hold is left out.
    pub side: Option<(&'a str, &'a str, &'a str)>,
    /// The listener recognised it.
    pub recognized: bool,
}

/// One album as `list`, `show` and `export` give it.
#[derive(Clone, Debug, Serialize)]
pub struct Album {
    /// Its number in the collection.
    pub id: i64,
    /// Artist.
    pub artist: String,
    /// Title.
    pub title: String,
    /// Release year.
    pub year: Option<i64>,
    /// Label, catalogue number and format, when known (an imported release).
    pub label: Option<String>,
    /// The catalogue number.
    pub catalogue: Option<String>,
    /// The format (`12" Vinyl`…).
    pub format: Option<String>,
    /// Whether a cover is stored.
    pub cover: bool,
    /// Its sides, by name.
    pub sides: Vec<Side>,
}

/// One side of an album.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// A, B…
    pub name: String,
    /// Its tracks' titles, in order.
    pub tracks: Vec<String>,
    /// The recordings of it (paths).
    pub recordings: Vec<String>,
}

/// Whether `e` is SQLite saying another connection holds the database (past the busy timeout):
/// a writer that may wait and try again ([`super::history`], `vinyl-qa --store-wait`).
pub fn is_busy(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<rusqlite::Error>().is_some_and(|e| {
            matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            )
        })
    })
}

impl Library {
    /// Opens (creating when missing) the collection at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Library> {
        let shown = path.display();
        // A new database is the user's alone (SQLite gives its -wal and -shm files the same mode).
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("{shown}: cannot create the library"))?;
        }
        let conn = Connection::open(path).with_context(|| format!("{shown}: cannot open the library"))?;
        conn.busy_timeout(Duration::from_secs(10)).with_context(|| format!("{shown}: busy timeout"))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .with_context(|| format!("{shown}: not an SQLite database (is it the library?)"))?;
        if version > SCHEMA {
            bail!(
                "{shown}: made by a newer vinyl-library (schema {version}; this one knows up to {SCHEMA}): \
                 upgrade vinyl, the file is left as it is"
            );
        }
        let mut lib = Library { conn, path: path.to_path_buf(), deferred: None };
        lib.check_ours(version)?;
        lib.conn
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .with_context(|| format!("{shown}: cannot set WAL mode"))?;
        lib.migrate(version)?;
        Ok(lib)
    }

    /// Refuses an SQLite file of another program: one with tables but not ours.
    fn check_ours(&self, version: i64) -> anyhow::Result<()> {
        let shown = self.path.display();
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table'", [], |r| r.get(0))
            .with_context(|| format!("{shown}: not an SQLite database (is it the library?)"))?;
        let ours = version > 0
            && self
                .conn
                .query_row("SELECT value FROM vinyl_library WHERE key = 'application'", [], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
                .ok()
                .flatten()
                .is_some_and(|v| v == "vinyl-library");
        if tables > 0 && !ours {
            bail!("{shown}: an SQLite database of another program, not a vinyl library: left as it is");
        }
        Ok(())
    }

    /// Runs the migrations after `from`, each with the version it brings in one transaction.
    fn migrate(&mut self, from: i64) -> anyhow::Result<()> {
        let mut converted = false;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            let to = i as i64 + 1;
            // Immediate, and the version read again under the lock: a listener and a
            // vinyl-library that opened an old library together migrate it once, the second
            // finding it done when the first commits (a migration can take seconds).
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? >= to {
                continue;
            }
            converted |= to == 4 && from > 0;
            tx.execute_batch(sql)
                .and_then(|()| if to == 4 { postings::from_rows(&tx) } else { Ok(()) })
                .with_context(|| format!("{}: migrating to schema {to}", self.path.display()))?;
            tx.pragma_update(None, "user_version", to)?;
            tx.commit()
                .with_context(|| format!("{}: migrating to schema {to}: commit", self.path.display()))?;
        }
        if converted {
            // Schema 3's rows left their pages free: give them back to the disk, once. A VACUUM
            // that fails (another connection reading, a full disk) changes nothing; the pages are
            // then reused by later learning.
            let _ = self.conn.execute_batch("VACUUM");
        }
        Ok(())
    }

    /// Links a recording to an album side (creating either when missing), in one transaction.
    pub fn name(&mut self, n: &Naming) -> anyhow::Result<()> {
        let path = n.file.to_string_lossy().into_owned();
        let tx = self.conn.transaction()?;
        let album = upsert_album(&tx, &n.artist, &n.album, n.year, [None, None, None])?;
        if let Some((bytes, mime)) = &n.cover {
            tx.execute(
                "UPDATE albums SET cover = ?1, cover_mime = ?2 WHERE id = ?3",
                params![bytes, mime, album],
            )?;
        }
        let side = side_id(&tx, album, &n.side)?;
        if !n.titles.is_empty() {
            let tracks: Vec<(String, Option<u64>)> = n.titles.iter().map(|t| (t.clone(), None)).collect();
            set_tracks(&tx, side, &tracks)?;
        }
        tx.execute(
            "INSERT INTO recordings (side_id, path, start_frame, named_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (path) DO UPDATE SET side_id = excluded.side_id, named_at = excluded.named_at",
            params![
                side,
                path,
                n.start_frame.map(|f| f as i64),
                crate::time::rfc3339_local(std::time::SystemTime::now())
            ],
        )?;
        tx.commit().with_context(|| format!("{}: commit", self.path.display()))?;
        Ok(())
    }

    /// Stores a release's album (its label, catalogue number and format too) and its sides
    /// tracklists, replacing the tracks of sides it names, in one transaction. Returns the album.
    pub fn import(&mut self, r: &super::release::Release) -> anyhow::Result<i64> {
        let tx = self.conn.transaction()?;
        let more = [r.label.as_deref(), r.catalogue.as_deref(), r.format.as_deref()];
        let album = upsert_album(&tx, &r.artist, &r.title, r.year, more)?;
        for (name, tracks) in &r.sides {
            let side = side_id(&tx, album, name)?;
            set_tracks(&tx, side, tracks)?;
        }
        tx.commit().with_context(|| format!("{}: commit", self.path.display()))?;
        Ok(album)
    }

    /// Notes a play ([`PlayNote`]): a later note of the same needle drop (a later part of the
    /// side, a side noted again, by auto or the listener) extends that play instead of adding
    /// one: its end moves later, and a recording, an album side or a time it lacked is filled in.
    pub fn note_play(&mut self, n: &PlayNote<'_>) -> anyhow::Result<()> {
        let path = n.recording.map(|r| r.to_string_lossy().into_owned());
        // Immediate: auto and the listener note one drop at about the same time, and each reads
        // before it writes; a deferred pair could both insert it, or fail to upgrade.
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Some(p) = &path {
            known_recording(&tx, p)?;
        }
        let side: Option<i64> = match n.side {
            Some((artist, album, name)) => tx
                .query_row(
                    "SELECT s.id FROM sides s JOIN albums a ON s.album_id = a.id
                     WHERE a.artist = ?1 AND a.title = ?2 AND s.name = ?3",
                    params![artist, album, name],
                    |r| r.get(0),
                )
                .optional()?,
            None => None,
        };
        let (start, end) = (n.side_start as i64, n.side_end.map(|e| e as i64));
        let extended = tx.execute(
            "UPDATE plays SET side_end = CASE WHEN ?2 IS NULL THEN side_end ELSE max(coalesce(side_end, 0), ?2) END,
                recognized = max(recognized, ?3),
                recording_id = coalesce(recording_id, (SELECT id FROM recordings WHERE path = ?4)),
                side_id = coalesce(side_id, ?5),
                started_at = coalesce(started_at, ?6)
             WHERE id = (SELECT max(id) FROM plays WHERE side_start = ?1
                         AND (?6 IS NULL OR started_at IS NULL OR started_at = ?6))",
            params![start, end, n.recognized, path, side, n.started_at],
        )?;
        if extended == 0 {
            tx.execute(
                "INSERT INTO plays (side_id, recording_id, side_start, side_end, started_at, recognized)
                 VALUES (coalesce((SELECT side_id FROM recordings WHERE path = ?1), ?2),
                         (SELECT id FROM recordings WHERE path = ?1), ?3, ?4, ?5, ?6)",
                params![path, side, start, end, n.started_at, n.recognized],
            )?;
        }
        tx.commit().with_context(|| format!("{}: commit", self.path.display()))?;
        Ok(())
    }

    /// The plays that began at or after `since` (an RFC 3339 time or date prefix), oldest first.
    pub fn plays(&self, since: Option<&str>) -> anyhow::Result<Vec<Play>> {
        let mut st = self.conn.prepare(
            "SELECT p.started_at, p.side_start, p.side_end, r.path,
                    CASE WHEN s.id IS NULL THEN NULL ELSE a.artist || ' – ' || a.title || ', side ' || s.name END,
                    p.recognized
             FROM plays p LEFT JOIN recordings r ON p.recording_id = r.id
             LEFT JOIN sides s ON s.id = coalesce(r.side_id, p.side_id) LEFT JOIN albums a ON s.album_id = a.id
             WHERE ?1 IS NULL OR p.started_at >= ?1 ORDER BY p.started_at, p.id",
        )?;
        let rows = st.query_map([since], |r| {
            Ok(Play {
                started_at: r.get(0)?,
                side_start: r.get(1)?,
                side_end: r.get(2)?,
                recording: r.get(3)?,
                side: r.get(4)?,
                recognized: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// An album's cover, by its number (`None`: no such album, or no cover).
    pub fn cover(&self, album: i64) -> anyhow::Result<Option<Vec<u8>>> {
        let row = self
            .conn
            .query_row("SELECT cover FROM albums WHERE id = ?1", [album], |r| r.get::<_, Option<Vec<u8>>>(0))
            .optional()?;
        Ok(row.flatten())
    }

    /// An album's year and cover, by its artist and title (both `None` when it is not known).
    pub fn album_details(&self, artist: &str, album: &str) -> anyhow::Result<(Option<i32>, Option<Vec<u8>>)> {
        let row = self
            .conn
            .query_row(
                "SELECT year, cover FROM albums WHERE artist = ?1 AND title = ?2 ORDER BY id LIMIT 1",
                params![artist, album],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.unwrap_or((None, None)))
    }

    /// The titles the collection holds for a side, in order (none when it does not know it).
    pub fn titles(&self, artist: &str, album: &str, side: &str) -> anyhow::Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT t.title FROM tracks t JOIN sides s ON t.side_id = s.id JOIN albums a ON s.album_id = a.id
             WHERE a.artist = ?1 AND a.title = ?2 AND s.name = ?3 ORDER BY t.number",
        )?;
        let rows = st.query_map(params![artist, album, side], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every album with its sides, tracks and recordings, by artist and title.
    pub fn albums(&self) -> anyhow::Result<Vec<Album>> {
        let mut st = self.conn.prepare(
            "SELECT id, artist, title, year, cover IS NOT NULL, label, catalogue, format FROM albums
             ORDER BY artist, title, id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(Album {
                id: r.get(0)?,
                artist: r.get(1)?,
                title: r.get(2)?,
                year: r.get(3)?,
                cover: r.get(4)?,
                label: r.get(5)?,
                catalogue: r.get(6)?,
                format: r.get(7)?,
                sides: Vec::new(),
            })
        })?;
        let mut albums = rows.collect::<Result<Vec<_>, _>>()?;
        for a in &mut albums {
            a.sides = self.sides(a.id)?;
        }
        Ok(albums)
    }

    fn sides(&self, album: i64) -> anyhow::Result<Vec<Side>> {
        let mut st = self.conn.prepare("SELECT id, name FROM sides WHERE album_id = ?1 ORDER BY name")?;
        let ids = st.query_map([album], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in ids {
            let (id, name) = row?;
            let tracks = self.strings("SELECT title FROM tracks WHERE side_id = ?1 ORDER BY number", id)?;
            let recordings =
                self.strings("SELECT path FROM recordings WHERE side_id = ?1 ORDER BY path", id)?;
            out.push(Side { name, tracks, recordings });
        }
        Ok(out)
    }

    fn strings(&self, sql: &str, id: i64) -> anyhow::Result<Vec<String>> {
        // Cached: known_prints asks once a print, a thousand times under a large collection.
        let mut st = self.conn.prepare_cached(sql)?;
        let rows = st.query_map([id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Waits at most `d` for another writer's lock from now on (10 s after [`Library::open`]), so
    /// that a tool with a deadline gives up by it.
    pub fn wait_at_most(&self, d: Duration) -> anyhow::Result<()> {
        self.conn.busy_timeout(d).with_context(|| format!("{}: busy timeout", self.path.display()))
    }

    /// Stores the fingerprint of the recording `file` (already linked by [`Library::name`]),
    /// replacing an earlier one, in one transaction. The replaced print's pairs are swept from the
    /// index at once, or, while sweeps are deferred, left for the batch's sweep: recognition
    /// ignores them, as their print is gone.
    pub fn learn(&mut self, file: &Path, print: &Learned) -> anyhow::Result<()> {
        let shown = self.path.display();
        let tx = self.conn.transaction()?;
        let recording: i64 = tx
            .query_row("SELECT id FROM recordings WHERE path = ?1", [file.to_string_lossy()], |r| r.get(0))
            .with_context(|| format!("{shown}: {}: not a recording of the collection", file.display()))?;
        // A number past every print's, the replaced one's too: SQLite would give the highest
        // number again once its print is gone, and that print's pairs, still in the index while a
        // sweep is deferred, would then count for the new one.
        let id: i64 = tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM prints", [], |r| r.get(0))?;
        if id > postings::MAX_PRINT_ID {
            bail!("{shown}: print number {id} is past the index's {}", postings::MAX_PRINT_ID);
        }
        let replaced = tx.execute("DELETE FROM prints WHERE recording_id = ?1", [recording])? > 0;
        let starts = serde_json::to_string(&print.track_starts)?;
        tx.execute(
            "INSERT INTO prints (id, recording_id, version, hop_s, seconds, track_starts, deck_speed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                recording,
                super::print::VERSION,
                print.hop_s,
                print.seconds,
                starts,
                print.deck_speed
            ],
        )?;
        match &mut self.deferred {
            Some(pending) => *pending |= replaced,
            None if replaced => {
                postings::sweep(&tx).with_context(|| format!("{shown}: remove the replaced fingerprint"))?;
            }
            None => {}
        }
        postings::append(&tx, id, &print.hashes)
            .with_context(|| format!("{shown}: store the fingerprint"))?;
        tx.commit().with_context(|| format!("{shown}: commit the fingerprint"))?;
        Ok(())
    }

    /// The prints of named recordings, with what recognition reports for each.
    pub fn known_prints(&self) -> anyhow::Result<Vec<KnownPrint>> {
        let mut st = self.conn.prepare(
            "SELECT p.id, s.id, p.hop_s, p.track_starts, a.artist, a.title, s.name, p.deck_speed
             FROM prints p JOIN recordings r ON p.recording_id = r.id JOIN sides s ON r.side_id = s.id
             JOIN albums a ON s.album_id = a.id WHERE p.version = ?1 ORDER BY p.id",
        )?;
        let rows = st.query_map([super::print::VERSION], |r| {
            let row =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get(4)?, r.get(5)?, r.get(6)?);
            Ok((row, r.get::<_, Option<f64>>(7)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let ((id, side_id, hop_s, starts, artist, album, side), deck_speed) = row?;
            let titles =
                self.strings("SELECT title FROM tracks WHERE side_id = ?1 ORDER BY number", side_id)?;
            let track_starts = serde_json::from_str(&starts).unwrap_or_default();
            out.push(KnownPrint {
                id,
                side_id,
                hop_s,
                track_starts,
                artist,
                album,
                side,
                titles,
                deck_speed,
            });
        }
        Ok(out)
    }

    /// The side the recording `file` is linked to and its learned print (their numbers), each
    /// when it has one; None when the collection does not hold the recording.
    pub fn recording_print(&self, file: &Path) -> anyhow::Result<Option<(Option<i64>, Option<i64>)>> {
        self.conn
            .query_row(
                "SELECT r.side_id, p.id FROM recordings r LEFT JOIN prints p ON p.recording_id = r.id
                 WHERE r.path = ?1",
                [file.to_string_lossy()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .with_context(|| format!("{}: {}: look the recording up", self.path.display(), file.display()))
    }

    /// Starts a read transaction: the lookups of a batch of pairs then share one snapshot and
    /// SQLite's locks are taken once, not once a key. End it with [`Library::end_read`].
    pub fn begin_read(&self) -> anyhow::Result<()> {
        self.conn.execute_batch("BEGIN").with_context(|| format!("{}: begin a read", self.path.display()))
    }

    /// Ends the read transaction [`Library::begin_read`] started (a read has nothing to commit:
    /// an error here loses nothing, and the connection rolls back whatever is left).
    pub fn end_read(&self) {
        if self.conn.execute_batch("COMMIT").is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// Calls `each` with every stored pair with `key`: (print, what learning stored).
    pub fn postings(&self, key: u32, mut each: impl FnMut(i64, u32)) -> anyhow::Result<()> {
        let mut st = self.conn.prepare_cached("SELECT pairs FROM postings WHERE key = ?1")?;
        let mut rows = st.query([key])?;
        if let Some(row) = rows.next()? {
            postings::decode(row.get_ref(0)?.as_blob()?).for_each(|(print, stored)| each(print, stored));
        }
        Ok(())
    }

    /// Removes a recording, with its fingerprint, from the collection (not its file); false when
    /// it was not there.
    pub fn forget(&mut self, file: &Path) -> anyhow::Result<bool> {
        let tx = self.conn.transaction()?;
        let n = tx.execute("DELETE FROM recordings WHERE path = ?1", [file.to_string_lossy()])?;
        if n > 0 {
            postings::sweep(&tx)?;
        }
        tx.commit().with_context(|| format!("{}: commit the removal", self.path.display()))?;
        Ok(n > 0)
    }

    /// The problems `check` finds: SQLite's own integrity and foreign-key checks, recordings
    /// whose file is gone (reported, never removed: the disk may be unmounted), and recordings
    /// whose fingerprint is of an older print version ([`Library::old_prints`]).
    pub fn problems(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut st = self.conn.prepare("PRAGMA integrity_check")?;
        for row in st.query_map([], |r| r.get::<_, String>(0))? {
            let line = row?;
            if line != "ok" {
                out.push(format!("integrity: {line}"));
            }
        }
        let fk: i64 =
            self.conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if fk > 0 {
            out.push(format!("{fk} rows point at rows that are gone"));
        }
        let torn = postings::damaged(&self.conn)?;
        if torn > 0 {
            out.push(format!(
                "{torn} fingerprint index rows are cut short (a damaged file): relearn the sides"
            ));
        }
        let stale = postings::stale(&self.conn)?;
        if stale > 0 {
            out.push(format!(
                "{stale} fingerprint index rows hold the pairs of fingerprints that are gone (a relearn \
                 that was interrupted): check --repair removes them"
            ));
        }
        let mut st = self.conn.prepare("SELECT path FROM recordings ORDER BY path")?;
        for row in st.query_map([], |r| r.get::<_, String>(0))? {
            let path = row?;
            if !Path::new(&path).exists() {
                out.push(format!("{path}: the recording's file is missing"));
            }
        }
        for (path, version) in self.old_prints()? {
            out.push(format!(
                "{path}: its fingerprint is of print version {version}, which recognition no longer \
                 compares (now {}): relearn it (check --repair, or learn FILE)",
                super::print::VERSION
            ));
        }
        Ok(out)
    }

    /// The recordings whose fingerprint is of an older print version, which recognition does not
    /// compare: (file, version), by file.
    pub fn old_prints(&self) -> anyhow::Result<Vec<(String, i64)>> {
        let mut st = self.conn.prepare(
            "SELECT r.path, p.version FROM prints p JOIN recordings r ON p.recording_id = r.id
             WHERE p.version < ?1 ORDER BY r.path",
        )?;
        let rows = st.query_map([super::print::VERSION], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// What to say when recordings have fingerprints of an older print version (an upgrade):
    /// recognition does not compare them until `check --repair` relearns them.
    pub fn old_prints_hint(&self) -> anyhow::Result<Option<String>> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM prints WHERE version < ?1",
            [super::print::VERSION],
            |r| r.get(0),
        )?;
        Ok((n > 0).then(|| {
            format!(
                "{}: {n} recordings have fingerprints of an older version, which recognition does not compare: \
                 relearn them with vinyl-library check --repair",
                self.path.display()
            )
        }))
    }

    /// Stores `report` (vinyl-qa's JSON) as the health report of the recording `file` (made in the
    /// collection when missing), replacing the one it had.
    pub fn store_report(&mut self, file: &Path, report: &str) -> anyhow::Result<()> {
        let shown = file.display();
        let tx = self.conn.transaction()?;
        reports::store(&tx, &file.to_string_lossy(), report)
            .with_context(|| format!("{shown}: store its report"))?;
        tx.commit().with_context(|| format!("{shown}: commit its report"))?;
        Ok(())
    }

    /// The report stored for the recording `path` (vinyl-qa's JSON, with its plots' data), if any.
    pub fn report_of(&self, path: &str) -> anyhow::Result<Option<String>> {
        reports::of_recording(&self.conn, path)
            .with_context(|| format!("{}: read the report of {path}", self.path.display()))
    }

    /// The plots each reported recording can draw, by its path.
    pub fn report_plots(&self) -> anyhow::Result<std::collections::HashMap<String, Vec<String>>> {
        reports::plots(&self.conn)
            .with_context(|| format!("{}: read the reports' plots", self.path.display()))
    }

    /// The health reports of the album numbered `album`, or of every recording, oldest first.
    pub fn reports(&self, album: Option<i64>) -> anyhow::Result<reports::Stored> {
        reports::read(&self.conn, album).with_context(|| format!("{}: read the reports", self.path.display()))
    }

    /// Defers the sweep of replaced prints' pairs ([`Library::learn`]) to one sweep at the end
    /// of a batch ([`Library::end_deferred_sweeps`] or [`Library::tidy`]): a sweep reads and
    /// rewrites the whole index, so a relearned collection would otherwise be read once a print.
    pub fn defer_sweeps(&mut self) {
        self.deferred.get_or_insert(false);
    }

    /// Ends a batch [`Library::defer_sweeps`] began: sweeps once if a print was replaced, and
    /// returns how many index rows changed.
    pub fn end_deferred_sweeps(&mut self) -> anyhow::Result<usize> {
        if self.deferred.take() != Some(true) {
            return Ok(0);
        }
        let tx = self.conn.transaction()?;
        let swept = postings::sweep(&tx)
            .with_context(|| format!("{}: remove the replaced fingerprints", self.path.display()))?;
        tx.commit().with_context(|| format!("{}: commit the removal", self.path.display()))?;
        Ok(swept)
    }

    /// Repairs what is safe: sides without a recording or a track and albums without a side (how
    /// many went), and the fingerprint pairs of prints that are gone, a deferred sweep's among
    /// them (how many index rows changed).
    pub fn tidy(&mut self) -> anyhow::Result<(usize, usize)> {
        self.deferred = None;
        let tx = self.conn.transaction()?;
        let mut n = tx.execute(
            "DELETE FROM sides WHERE id NOT IN (SELECT side_id FROM recordings WHERE side_id IS NOT NULL)
             AND id NOT IN (SELECT side_id FROM tracks)",
            [],
        )?;
        n += tx.execute("DELETE FROM albums WHERE id NOT IN (SELECT album_id FROM sides)", [])?;
        let swept = postings::sweep(&tx)?;
        tx.commit()?;
        Ok((n, swept))
    }
}

/// The album `artist`/`title`, created when missing; the year and `[label, catalogue, format]`
/// given replace those stored, the others are kept.
fn upsert_album(
    tx: &rusqlite::Transaction,
    artist: &str,
    title: &str,
    year: Option<i32>,
    [label, catalogue, format]: [Option<&str>; 3],
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO albums (artist, title, year, label, catalogue, format) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (artist, title) DO UPDATE SET year = coalesce(excluded.year, year),
         label = coalesce(excluded.label, label), catalogue = coalesce(excluded.catalogue, catalogue),
         format = coalesce(excluded.format, format)",
        params![artist, title, year, label, catalogue, format],
    )?;
    tx.query_row("SELECT id FROM albums WHERE artist = ?1 AND title = ?2", params![artist, title], |r| {
        r.get(0)
    })
}

/// The recording at `path` in the collection, added (unnamed, linked to no side) when missing: a
/// play or a health report may come before, or without, a name.
pub(super) fn known_recording(tx: &rusqlite::Transaction, path: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO recordings (path, start_frame, named_at) VALUES (?1, NULL, ?2)",
        params![path, crate::time::rfc3339_local(std::time::SystemTime::now())],
    )?;
    Ok(())
}

/// The side `name` of `album`, created when missing.
fn side_id(tx: &rusqlite::Transaction, album: i64, name: &str) -> rusqlite::Result<i64> {
    tx.execute("INSERT OR IGNORE INTO sides (album_id, name) VALUES (?1, ?2)", params![album, name])?;
    tx.query_row("SELECT id FROM sides WHERE album_id = ?1 AND name = ?2", params![album, name], |r| r.get(0))
}

/// Replaces the tracks of `side` with `tracks` (title and length in ms), numbered from 1.
fn set_tracks(
    tx: &rusqlite::Transaction,
    side: i64,
    tracks: &[(String, Option<u64>)],
) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM tracks WHERE side_id = ?1", params![side])?;
    for (i, (title, ms)) in tracks.iter().enumerate() {
        tx.execute(
            "INSERT INTO tracks (side_id, number, title, duration_ms) VALUES (?1, ?2, ?3, ?4)",
            params![side, i + 1, title, ms.map(|m| m as i64)],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming(file: &Path) -> Naming {
        Naming {
            artist: "Frozen Bubble".into(),
            album: "Music".into(),
            year: None,
            side: "B".into(),
            titles: vec!["Intro".into()],
            cover: None,
            file: file.to_path_buf(),
            start_frame: None,
        }
    }

    fn pairs_of(lib: &Library, key: u32) -> Vec<(i64, u32)> {
        let mut out = Vec::new();
        lib.postings(key, |print, stored| out.push((print, stored))).unwrap();
        out
    }

    fn learned(hashes: Vec<(u32, u32)>) -> Learned {
        Learned { hop_s: 0.032, seconds: 60.0, track_starts: vec![], hashes, deck_speed: None }
    }

    #[test]
    fn schema_three_pairs_move_into_blobs_and_replaced_or_forgotten_prints_leave_none() {
        let d = tempfile::tempdir().unwrap();
        let (path, file) = (d.path().join("library.db"), d.path().join("side.flac"));
        // A library of schema 3 (one row a pair), as a user upgrading has it.
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!(
            "PRAGMA user_version = 3;
             INSERT INTO recordings (id, path, named_at) VALUES (1, '{}', 'now');
             INSERT INTO prints (id, recording_id, version, hop_s, seconds, track_starts) VALUES (5, 1, 2, 0.032, 60, '[]');
             INSERT INTO hashes (key, print_id, t) VALUES (10, 5, 100), (10, 5, 200), (11, 5, 300);",
            file.display()
        ))
        .unwrap();
        drop(conn);
        let mut lib = Library::open(&path).unwrap();
        assert_eq!(
            (pairs_of(&lib, 10), pairs_of(&lib, 11), pairs_of(&lib, 12)),
            (vec![(5, 100), (5, 200)], vec![(5, 300)], vec![])
        );
        let tables: i64 = lib
            .conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'hashes'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0, "the rows stayed beside the blobs");
        let free: i64 = lib.conn.query_row("PRAGMA freelist_count", [], |r| r.get(0)).unwrap();
        assert_eq!(free, 0, "the rows' pages were not given back");
        // Another process that opened it at schema 3 too finds the migration done once it gets
        // the lock.
        lib.migrate(3).expect("a migration already done is not done again");
        // Learned again: the old print's pairs go, from every key; a pair twice is kept once.
        lib.learn(&file, &learned(vec![(10, 7), (10, 7), (13, 9)])).unwrap();
        let id: i64 = lib.conn.query_row("SELECT id FROM prints", [], |r| r.get(0)).unwrap();
        assert_eq!(
            (pairs_of(&lib, 10), pairs_of(&lib, 11), pairs_of(&lib, 13)),
            (vec![(id, 7)], vec![], vec![(id, 9)])
        );
        assert!(lib.problems().unwrap().iter().all(|p| p.contains("missing")), "{:?}", lib.problems());
        // Forgotten: nothing of it is left in the index.
        assert!(lib.forget(&file).unwrap());
        let rows: i64 = lib.conn.query_row("SELECT count(*) FROM postings", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn a_recordings_report_is_stored_once_read_by_album_and_goes_with_the_recording() {
        let d = tempfile::tempdir().unwrap();
        let mut lib = Library::open(&d.path().join("library.db")).unwrap();
        let (named, loose) = (d.path().join("side.flac"), d.path().join("loose.flac"));
        lib.name(&naming(&named)).unwrap();
        lib.note_play(&PlayNote {
            side_start: 100,
            started_at: Some("2026-03-02T20:00:00Z"),
            recording: Some(&named),
            ..PlayNote::default()
        })
        .unwrap();
        lib.store_report(&named, r#"{"health":70,"clicks_per_min":3.5,"other":{"kept":true}}"#).unwrap();
        lib.store_report(&named, r#"{"health":80,"clicks_per_min":2.5}"#).unwrap();
        lib.store_report(&loose, r#"{"health":90}"#).unwrap();
        lib.store_report(&d.path().join("torn.flac"), "{not json").unwrap();
        let all = lib.reports(None).unwrap();
        assert_eq!((all.reports.len(), all.unreadable), (2, 1), "{all:?}");
        // A report without a play is dated when it was stored, in UTC as the plays are (the
        // reports sort by that text).
        assert!(all.reports.iter().all(|r| r.when.ends_with('Z')), "{all:?}");
        let album = lib.albums().unwrap()[0].id;
        let mine = lib.reports(Some(album)).unwrap().reports;
        assert_eq!(mine.len(), 1, "the later report replaced the first: {mine:?}");
        let r = &mine[0];
        assert_eq!(
            (r.when.as_str(), r.side.as_deref()),
            ("2026-03-02T20:00:00Z", Some("B")),
            "the play's time"
        );
        assert_eq!((r.figures.health, r.figures.clicks_per_min), (Some(80.0), Some(2.5)));
        assert_eq!(r.album.as_deref(), Some("Frozen Bubble – Music"));
        assert!(lib.forget(&named).unwrap());
        assert_eq!(lib.reports(None).unwrap().reports.len(), 1, "a forgotten recording's report stayed");
    }

    #[test]
    fn a_batch_sweeps_its_replaced_prints_once_and_no_new_print_takes_a_gone_ones_number() {
        let d = tempfile::tempdir().unwrap();
        let mut lib = Library::open(&d.path().join("library.db")).unwrap();
        let file = d.path().join("side.flac");
        lib.name(&naming(&file)).unwrap();
        let id =
            |lib: &Library| -> i64 { lib.conn.query_row("SELECT id FROM prints", [], |r| r.get(0)).unwrap() };
        lib.learn(&file, &learned(vec![(10, 7)])).unwrap();
        let first = id(&lib);
        lib.defer_sweeps();
        lib.learn(&file, &learned(vec![(11, 8)])).unwrap();
        let second = id(&lib);
        lib.learn(&file, &learned(vec![(12, 9)])).unwrap();
        let third = id(&lib);
        // The gone prints' pairs wait for the sweep (in the keys the new prints do not touch),
        // under numbers no live print has.
        assert!(first < second && second < third, "{first} {second} {third}");
        assert_eq!((pairs_of(&lib, 10), pairs_of(&lib, 11)), (vec![(first, 7)], vec![(second, 8)]));
        // A batch cut off here leaves them: check says so (and --repair's tidy sweeps them).
        let stale =
            |lib: &Library| lib.problems().unwrap().into_iter().filter(|p| p.contains("gone")).count();
        assert_eq!(stale(&lib), 1, "{:?}", lib.problems());
        assert!(lib.problems().unwrap().iter().any(|p| p.starts_with("2 fingerprint index rows")));
        assert_eq!(lib.end_deferred_sweeps().unwrap(), 2);
        assert_eq!(stale(&lib), 0);
        assert_eq!(
            (pairs_of(&lib, 10), pairs_of(&lib, 11), pairs_of(&lib, 12)),
            (vec![], vec![], vec![(third, 9)])
        );
        // Past the batch, a replacement is swept at once again.
        lib.learn(&file, &learned(vec![(13, 1)])).unwrap();
        assert_eq!((pairs_of(&lib, 12), pairs_of(&lib, 13)), (vec![], vec![(id(&lib), 1)]));
    }

    #[test]
    fn one_needle_drop_is_one_play_whatever_was_kept_of_it() {
        let d = tempfile::tempdir().unwrap();
        let mut lib = Library::open(&d.path().join("library.db")).unwrap();
        let (one, two) = (d.path().join("side-1.flac"), d.path().join("side-1-2.flac"));
        lib.name(&naming(&two)).unwrap();
        let side = Some(("Frozen Bubble", "Music", "B"));
        // A first part that left no file, then the second part, named: one play, with its file.
        lib.note_play(&PlayNote { side_start: 100, side_end: Some(200), ..Default::default() }).unwrap();
        let later = PlayNote {
            side_start: 100,
            side_end: Some(300),
            recording: Some(&two),
            side,
            recognized: true,
            ..Default::default()
        };
        lib.note_play(&later).unwrap();
        // A side not recorded at all, recognised, and noted again without an end.
        let unrecorded =
            PlayNote { side_start: 900, side_end: Some(1000), side, recognized: true, ..Default::default() };
        lib.note_play(&unrecorded).unwrap();
        lib.note_play(&PlayNote { side_start: 900, ..Default::default() }).unwrap();
        // A side the collection does not hold: noted, not linked.
        let unknown = PlayNote {
            side_start: 2000,
            recording: Some(&one),
            side: Some(("X", "Y", "A")),
            recognized: true,
            ..Default::default()
        };
        lib.note_play(&unknown).unwrap();
        let plays = lib.plays(None).unwrap();
        let got: Vec<_> = plays
            .iter()
            .map(|p| (p.side_start, p.side_end, p.recording.clone(), p.side.clone(), p.recognized))
            .collect();
        let b = Some("Frozen Bubble – Music, side B".to_string());
        assert_eq!(
            got,
            [
                (Some(100), Some(300), Some(two.to_string_lossy().into_owned()), b.clone(), true),
                (Some(900), Some(1000), None, b, true),
                (Some(2000), None, Some(one.to_string_lossy().into_owned()), None, true),
            ]
        );
    }

    #[test]
    fn the_same_frame_dropped_at_another_time_is_another_play_and_a_note_without_a_time_joins() {
        let d = tempfile::tempdir().unwrap();
        let mut lib = Library::open(&d.path().join("library.db")).unwrap();
        let (monday, tuesday) = ("2026-12-07T20:00:00.000Z", "2026-12-08T20:00:00.000Z");
        let at =
            |started_at, side_end| PlayNote { side_start: 480, side_end, started_at, ..Default::default() };
        // The listener's note, then auto's of the same drop: one play.
        lib.note_play(&at(Some(monday), Some(1000))).unwrap();
        lib.note_play(&at(Some(monday), Some(2000))).unwrap();
        // Frame 480 of the next timeline (a new ring): another play.
        lib.note_play(&at(Some(tuesday), Some(1500))).unwrap();
        // A note that could not time its drop (the ring was unreadable) joins the last of them.
        lib.note_play(&at(None, Some(1600))).unwrap();
        let got: Vec<_> = lib.plays(None).unwrap().into_iter().map(|p| (p.started_at, p.side_end)).collect();
        assert_eq!(got, [(Some(monday.into()), Some(2000)), (Some(tuesday.into()), Some(1600))]);
    }
}
