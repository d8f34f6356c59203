//! `vinyl-library import-release FILE.json`: a tracklist from a release as MusicBrainz (`ws/2`,
//! `inc=recordings`) or Discogs give it as JSON, so `name` needs no titles typed by hand.
//!
//! Owns reading the two shapes (told apart by their keys: `media` or `tracklist`) into one
//! [`Release`], and vinyl's reading of track positions: `A1`, `B12`, `C` (letters for the side,
//! digits for the track, a subtrack letter such as `A1a` ignored). A position without a side
//! letter (a CD's `1`, `2`) takes the side from the medium's place (A, B…). It does not fetch
//! anything: the file is the user's download. How it fails: a file that is not JSON, or JSON of
//! neither shape, or a release without a title, an artist or a track, is a usage error naming the
//! file and what is missing.

use crate::cli::UsageError;
use serde::Deserialize;
use std::path::Path;

/// A side's tracks in order: title and length in milliseconds.
pub type Tracks = Vec<(String, Option<u64>)>;

/// A release's tracklist as vinyl stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    /// The credited artist(s), as one name.
    pub artist: String,
    /// The title.
    pub title: String,
    /// The year.
    pub year: Option<i32>,
    /// The first label's name.
    pub label: Option<String>,
    /// The first catalogue number.
    pub catalogue: Option<String>,
    /// The first medium's format (`12" Vinyl`, `Vinyl LP`…).
    pub format: Option<String>,
    /// The sides in order, each with its tracks (title and length in ms) in order.
    pub sides: Vec<(String, Tracks)>,
}

#[derive(Deserialize)]
struct MbRelease {
    title: String,
    date: Option<String>,
    #[serde(rename = "artist-credit", default)]
    artist_credit: Vec<MbCredit>,
    #[serde(rename = "label-info", default)]
    label_info: Vec<MbLabelInfo>,
    media: Vec<MbMedium>,
}

#[derive(Deserialize)]
struct MbCredit {
    name: String,
    #[serde(default)]
    joinphrase: String,
}

#[derive(Deserialize)]
struct MbLabelInfo {
    #[serde(rename = "catalog-number")]
    catalog_number: Option<String>,
    label: Option<MbLabel>,
}

#[derive(Deserialize)]
struct MbLabel {
    name: String,
}

#[derive(Deserialize)]
struct MbMedium {
    format: Option<String>,
    #[serde(default)]
    tracks: Vec<MbTrack>,
}

#[derive(Deserialize)]
struct MbTrack {
    number: Option<String>,
    title: String,
    length: Option<u64>,
}

#[derive(Deserialize)]
struct DiscogsRelease {
    title: String,
    year: Option<i32>,
    #[serde(default)]
    artists: Vec<DiscogsArtist>,
    #[serde(default)]
    labels: Vec<DiscogsLabel>,
    #[serde(default)]
    formats: Vec<DiscogsFormat>,
    tracklist: Vec<DiscogsTrack>,
}

#[derive(Deserialize)]
struct DiscogsArtist {
    name: String,
    #[serde(default)]
    join: String,
}

#[derive(Deserialize)]
struct DiscogsLabel {
    name: String,
    catno: Option<String>,
}

#[derive(Deserialize)]
struct DiscogsFormat {
    name: String,
}

#[derive(Deserialize)]
struct DiscogsTrack {
    #[serde(default)]
    position: String,
    title: String,
    #[serde(default)]
    duration: String,
    #[serde(default, rename = "type_")]
    kind: Option<String>,
}

/// Reads the release in `path`.
pub fn load(path: &Path) -> Result<Release, UsageError> {
    let shown = path.display();
    let text = std::fs::read(path).map_err(|e| UsageError::new(format!("{shown}: cannot read: {e}")))?;
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| UsageError::new(format!("{shown}: not JSON: {e}")))?;
    let release = if v.get("media").is_some() {
        let r: MbRelease = serde_json::from_value(v)
            .map_err(|e| UsageError::new(format!("{shown}: not a MusicBrainz release: {e}")))?;
        from_musicbrainz(r)
    } else if v.get("tracklist").is_some() {
        let r: DiscogsRelease = serde_json::from_value(v)
            .map_err(|e| UsageError::new(format!("{shown}: not a Discogs release: {e}")))?;
        from_discogs(r)
    } else {
        return Err(UsageError::new(format!(
            "{shown}: neither a MusicBrainz release (media) nor a Discogs one (tracklist)"
        )));
    };
    if release.artist.trim().is_empty() || release.title.trim().is_empty() || release.sides.is_empty() {
        return Err(UsageError::new(format!("{shown}: the release has no artist, title or track")));
    }
    Ok(release)
}

fn from_musicbrainz(r: MbRelease) -> Release {
    let artist = r.artist_credit.iter().map(|c| format!("{}{}", c.name, c.joinphrase)).collect::<String>();
    let mut sides = Vec::new();
    for (m, medium) in r.media.iter().enumerate() {
        for t in &medium.tracks {
            let pos = t.number.clone().unwrap_or_default();
            push_track(&mut sides, &pos, m, t.title.clone(), t.length);
        }
    }
    let first_label = r.label_info.first();
    Release {
        artist: artist.trim().to_string(),
        title: r.title,
        year: r.date.as_deref().and_then(|d| d.get(..4)?.parse().ok()),
        label: first_label.and_then(|l| l.label.as_ref()).map(|l| l.name.clone()),
        catalogue: first_label.and_then(|l| l.catalog_number.clone()),
        format: r.media.first().and_then(|m| m.format.clone()),
        sides,
    }
}

fn from_discogs(r: DiscogsRelease) -> Release {
    let artist = r
        .artists
        .iter()
        .map(|a| {
            let join = match a.join.trim() {
                "" => String::new(),
                "," => ", ".to_string(),
                j => format!(" {j} "),
            };
            format!("{}{join}", discogs_name(&a.name))
        })
        .collect::<String>();
    let mut sides = Vec::new();
    for t in r.tracklist.iter().filter(|t| t.kind.as_deref().is_none_or(|k| k == "track")) {
        push_track(&mut sides, &t.position, 0, t.title.clone(), duration_ms(&t.duration));
    }
    Release {
        artist: artist.trim().to_string(),
        title: r.title,
        year: r.year.filter(|&y| y > 0),
        label: r.labels.first().map(|l| l.name.clone()),
        catalogue: r.labels.first().and_then(|l| l.catno.clone()),
        format: r.formats.first().map(|f| f.name.clone()),
        sides,
    }
}

/// Adds a track at `position` (`A1`; digits only: the side of medium `medium`) to `sides`.
fn push_track(
    sides: &mut Vec<(String, Tracks)>,
    position: &str,
    medium: usize,
    title: String,
    ms: Option<u64>,
) {
    let letters: String = position.trim().chars().take_while(char::is_ascii_alphabetic).collect();
    let side = if letters.is_empty() {
        char::from(b'A' + (medium % 26) as u8).to_string()
    } else {
        letters.to_ascii_uppercase()
    };
    match sides.iter_mut().find(|(s, _)| *s == side) {
        Some((_, tracks)) => tracks.push((title, ms)),
        None => sides.push((side, vec![(title, ms)])),
    }
}

/// An artist's name without the number Discogs adds to tell namesakes apart (`Nirvana (2)`).
fn discogs_name(name: &str) -> &str {
    match name.trim_end().strip_suffix(')').and_then(|s| s.rsplit_once(" (")) {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name.trim(),
    }
}

/// Discogs' `M:SS` or `H:MM:SS` in milliseconds; `None` when empty or malformed.
fn duration_ms(d: &str) -> Option<u64> {
    crate::time::parse_clock(d.trim(), Some(3)).ok().filter(|_| !d.trim().is_empty()).map(|us| us / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_give_sides_and_a_cd_style_number_takes_the_mediums_side() {
        let mut sides = Vec::new();
        push_track(&mut sides, "A1", 0, "a".into(), None);
        push_track(&mut sides, "a2", 0, "b".into(), None);
        push_track(&mut sides, "B1a", 0, "c".into(), None);
        push_track(&mut sides, "1", 2, "d".into(), None);
        let names: Vec<(&str, usize)> = sides.iter().map(|(s, t)| (s.as_str(), t.len())).collect();
        assert_eq!(names, [("A", 2), ("B", 1), ("C", 1)]);
        assert_eq!(duration_ms("9:22"), Some(562_000));
        assert_eq!(discogs_name("Nirvana (2)"), "Nirvana");
        assert_eq!(
            discogs_name("The (International) Noise Conspiracy"),
            "The (International) Noise Conspiracy"
        );
        assert_eq!(duration_ms(""), None);
    }
}
