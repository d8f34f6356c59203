//! The collection on the page: `GET /library` (the albums, their sides, tracks, cover and the
//! recordings to play or download), `GET /plays` (the listening history, newest first),
//! `GET /cover/ID` (an album's front cover), `GET /plot/…` (the health reports' plots, SVG) and `POST /library/name` (the page's form: a recording
//! named as `vinyl-library name` names it, its cover uploaded as the request's body).
//!
//! Owns these answers' shapes and the links into the recordings folder. It owns nothing of the
//! collection: vinyl-library's database is read at each request (its place as vinyl-library
//! finds it: `VINYL_LIBRARY`, else `library.db` in the recordings folder) and only a naming
//! creates it, through vinyl-library's own code ([`crate::library::name::run_with_cover`]).
//! How it fails: no database yet gives empty lists; one that cannot be read is a 500 naming it
//! and the step; an album without a cover, or a stored cover that is no longer a PNG or JPEG, a 404.
//! A naming's bad field or cover is a 400 with vinyl-library's message, a recording outside the
//! folder a 404, a cover over [`MAX_UPLOAD`] a 413 (before it is read).

use super::App;
use super::http::Response;
use crate::library::db::Library;
use serde::Serialize;
use std::path::Path;

/// The largest body of `POST /library/name`: a cover of vinyl-library's largest size.
pub const MAX_UPLOAD: usize = crate::library::cover::MAX_COVER as usize;

/// The most plays `/plays` lists.
pub const PLAYS_MAX: usize = 50;

/// A recording of a side: its path in the recordings folder and its download link (none when it
/// lies outside the folder), and the links of its health report's plots.
#[derive(Serialize)]
struct Link {
    path: String,
    url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    plots: Vec<String>,
}

#[derive(Serialize)]
struct Side {
    name: String,
    tracks: Vec<String>,
    recordings: Vec<Link>,
}

#[derive(Serialize)]
struct Album {
    id: i64,
    artist: String,
    title: String,
    year: Option<i64>,
    cover: Option<String>,
    /// The link of the album's health trend, when one of its recordings has a report.
    health_plot: Option<String>,
    sides: Vec<Side>,
}

#[derive(Serialize)]
struct Play {
    started_at: Option<String>,
    side: Option<String>,
    recognized: bool,
    recording: Option<Link>,
}

/// The collection's database when it exists (`Ok(None)` before the first side is named).
fn open() -> anyhow::Result<Option<Library>> {
    let db = crate::library::default_db()?;
    if !db.exists() {
        return Ok(None);
    }
    Ok(Some(Library::open(&db)?))
}

fn failed(e: &anyhow::Error) -> Response {
    Response::error(500, &format!("the collection cannot be read: {e:#}"))
}

/// A recording's path as the page shows it, with its `/recordings/` link.
fn link(app: &App, path: &str) -> Link {
    let rel = Path::new(path).strip_prefix(&app.control.settings.recordings).ok().and_then(Path::to_str);
    match rel {
        Some(rel) if !rel.chars().any(char::is_control) => Link {
            path: rel.to_string(),
            url: Some(format!("/recordings/{}", super::files::encode_path(rel))),
            plots: Vec::new(),
        },
        _ => Link { path: path.to_string(), url: None, plots: Vec::new() },
    }
}

/// `link` with its report's plots (`plots`: the kinds the report can draw), served only for a
/// recording in the folder.
fn link_with_plots(app: &App, path: &str, plots: Option<&Vec<String>>) -> Link {
    let mut l = link(app, path);
    if l.url.is_some() {
        let file = super::files::encode_path(&l.path);
        l.plots = plots.into_iter().flatten().map(|k| format!("/plot/{k}?file={file}")).collect();
    }
    l
}

/// `GET /library`.
pub fn albums(app: &App) -> Response {
    let read = open().and_then(|l| l.map(|l| Ok((l.albums()?, l.report_plots()?))).transpose());
    let (albums, plots) = match read {
        Ok(a) => a.unwrap_or_default(),
        Err(e) => return failed(&e),
    };
    let albums: Vec<Album> = albums
        .into_iter()
        .map(|a| Album {
            id: a.id,
            cover: a.cover.then(|| format!("/cover/{}", a.id)),
            health_plot: a
                .sides
                .iter()
                .any(|s| s.recordings.iter().any(|r| plots.contains_key(r)))
                .then(|| format!("/plot/health?album={}", a.id)),
            artist: a.artist,
            title: a.title,
            year: a.year,
            sides: a
                .sides
                .into_iter()
                .map(|s| Side {
                    recordings: s.recordings.iter().map(|r| link_with_plots(app, r, plots.get(r))).collect(),
                    name: s.name,
                    tracks: s.tracks,
                })
                .collect(),
        })
        .collect();
    Response::json(200, &serde_json::json!({ "albums": albums }))
}

/// `GET /plays`: the last [`PLAYS_MAX`], newest first.
pub fn plays(app: &App) -> Response {
    let plays = match open().and_then(|l| l.map(|l| l.plays(None)).transpose()) {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => return failed(&e),
    };
    let plays: Vec<Play> = plays
        .into_iter()
        .rev()
        .take(PLAYS_MAX)
        .map(|p| Play {
            recording: p.recording.as_deref().map(|r| link(app, r)),
            started_at: p.started_at,
            side: p.side,
            recognized: p.recognized,
        })
        .collect();
    Response::json(200, &serde_json::json!({ "plays": plays }))
}

/// `GET /plot/KIND?file=PATH` (a recording's plot, `PATH` in the recordings folder, KIND `level`,
/// `noise` or `wow`) or `GET /plot/health?album=ID` (the album's health trend): SVG, drawn from
/// the stored report (`vinyl-qa`'s plots), 404 when there is no such recording, album or data.
pub fn plot(app: &App, kind: &str, query: &str) -> Response {
    let field = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            .and_then(super::http::percent_decode)
    };
    let drawn = match kind {
        "health" => match field("album").and_then(|a| a.parse::<i64>().ok()) {
            Some(id) => health_plot(id),
            None => return Response::error(404, "no such album"),
        },
        _ if crate::qa::plot::KINDS.contains(&kind) => match field("file") {
            Some(rel) => recording_plot(app, kind, &rel),
            None => return Response::error(404, "no such recording"),
        },
        _ => return Response::error(404, "no such plot: give level, noise, wow or health"),
    };
    match drawn {
        Ok(Some(svg)) => Response::new(200, "image/svg+xml", svg.into_bytes())
            // The SVG is ours, its text escaped; opened on its own it may still run nothing.
            .with("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
            .with("Cache-Control", "no-cache"),
        Ok(None) => Response::error(404, "no such plot: nothing measured for it"),
        Err(e) => failed(&e),
    }
}

/// The plot `kind` of the recording `rel` (in the recordings folder), from its stored report.
fn recording_plot(app: &App, kind: &str, rel: &str) -> anyhow::Result<Option<String>> {
    let folder = &app.control.settings.recordings;
    let Some(full) = super::files::resolve(folder, rel) else { return Ok(None) };
    let Some(lib) = open()? else { return Ok(None) };
    // The collection keeps the path it was given: the folder as configured, or resolved.
    let stored = match lib.report_of(&folder.join(rel).to_string_lossy())? {
        Some(r) => Some(r),
        None => lib.report_of(&full.to_string_lossy())?,
    };
    #[derive(serde::Deserialize)]
    struct Stored {
        #[serde(default)]
        series: crate::qa::series::Series,
    }
    let Some(series) = stored.and_then(|r| serde_json::from_str::<Stored>(&r).ok()).map(|s| s.series) else {
        return Ok(None);
    };
    let name = full.file_stem().map_or_else(|| rel.to_string(), |s| s.to_string_lossy().into_owned());
    crate::qa::plot::of_series(kind, &series, &crate::qa::plot::title(kind, &name))
}

/// The health trend of the album numbered `id`.
fn health_plot(id: i64) -> anyhow::Result<Option<String>> {
    let Some(lib) = open()? else { return Ok(None) };
    let Some(a) = lib.albums()?.into_iter().find(|a| a.id == id) else { return Ok(None) };
    let stored = lib.reports(Some(id))?;
    crate::qa::history::health_plot(&format!("{} – {}", a.artist, a.title), &stored.reports)
}

/// `GET /cover/ID`.
pub fn cover(id: &str) -> Response {
    let Ok(id) = id.parse::<i64>() else { return Response::error(404, "no such cover") };
    let stored = match open().and_then(|l| l.map(|l| l.cover(id)).transpose()) {
        Ok(c) => c.flatten(),
        Err(e) => return failed(&e),
    };
    // The type is the image's own, read again from its header, not what the database says.
    match stored.and_then(crate::library::cover::from_bytes) {
        Some(c) => Response::new(200, c.mime, c.bytes),
        None => Response::error(404, "no such cover"),
    }
}

/// `POST /library/name?file=PATH&artist=A&album=T[&year=Y][&side=S][&title=T1&title=T2…]` (the
/// fields percent-encoded, `PATH` in the recordings folder), the cover as the body (empty: none):
/// the token was checked by the caller.
pub fn name(app: &App, req: &super::http::Request) -> Response {
    let mut o = crate::library::cli::NameOpts {
        file: Default::default(),
        artist: String::new(),
        album: String::new(),
        year: None,
        side: "A".into(),
        title: Vec::new(),
        cover: None,
    };
    let mut rel = String::new();
    for pair in req.query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(v) = super::http::percent_decode(v) else {
            return Response::error(400, "a field's %-escape is malformed");
        };
        match k {
            "file" => match super::files::resolve(&app.control.settings.recordings, &v) {
                Some(p) => (o.file, rel) = (p, v),
                None => return Response::error(404, "no such recording"),
            },
            "artist" => o.artist = v,
            "album" => o.album = v,
            "side" => o.side = v,
            "title" => o.title.push(v),
            "year" => match v.parse::<i32>() {
                Ok(y) if (1877..=9999).contains(&y) => o.year = Some(y),
                _ => return Response::error(400, "year: give a year such as 1980"),
            },
            _ => return Response::error(400, "unknown field: give file, artist, album, year, side, title"),
        }
    }
    if o.file.as_os_str().is_empty() {
        return Response::error(400, "file: give the recording's path in the recordings folder");
    }
    let upload = (!req.body.is_empty()).then(|| req.body.clone());
    let named =
        crate::library::default_db().and_then(|db| crate::library::name::run_with_cover(&o, &db, upload));
    match named {
        Ok(()) => Response::json(200, &serde_json::json!({ "named": rel })),
        Err(e) if e.downcast_ref::<crate::cli::UsageError>().is_some() => {
            Response::error(400, &format!("{e:#}"))
        }
        Err(e) => Response::error(500, &format!("not named: {e:#}")),
    }
}
