//! File names from the collection's names: a template such as
//! `{month}/{artist} - {album} - {side} - {stamp}` made into a path inside a folder.
//!
//! Owns the fields a template may use, the check of a template (done once, where a key is read)
//! and the making of each field's value into one safe file-name part. It does not create or move
//! files. How it fails: a template that names an unknown field, is absolute, climbs out with
//! `..` or leaves a part empty is refused with a message that shows a good one; a value (an
//! artist, an album) never fails: what a file name cannot hold is replaced, so a name from the
//! collection can never escape the folder or hide as a dot file.

use std::path::PathBuf;

/// The fields a template may name, with what they stand for.
pub const FIELDS: [(&str, &str); 6] = [
    ("artist", "the album's artist"),
    ("album", "the album's title"),
    ("year", "the release year (empty when unknown)"),
    ("side", "the album side: A, B…"),
    ("month", "the recording's month folder, YYYY-MM"),
    ("stamp", "the recording's time, YYYYMMDD-HHMMSS"),
];

/// The most bytes one field's value keeps (a file name holds 255).
const MAX_FIELD: usize = 120;

/// The values of one naming.
#[derive(Clone, Debug, Default)]
pub struct Fields {
    /// The album's artist.
    pub artist: String,
    /// The album's title.
    pub album: String,
    /// The release year.
    pub year: Option<i32>,
    /// The album side.
    pub side: String,
    /// YYYY-MM.
    pub month: String,
    /// YYYYMMDD-HHMMSS (with the recording's own suffix, e.g. `-2`).
    pub stamp: String,
}

impl Fields {
    fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "artist" => self.artist.clone(),
            "album" => self.album.clone(),
            "year" => self.year.map(|y| y.to_string()).unwrap_or_default(),
            "side" => self.side.clone(),
            "month" => self.month.clone(),
            "stamp" => self.stamp.clone(),
            _ => return None,
        })
    }
}

/// Checks a template: its fields are known, it is relative, no part is `..`, `.` or empty.
pub fn check(template: &str) -> Result<(), String> {
    let good = "e.g. '{month}/{artist} - {album} - {side} - {stamp}'";
    if template.starts_with('/') {
        return Err(format!("'{template}' is absolute: give a path inside the recordings folder, {good}"));
    }
    for part in template.split('/') {
        let bare = strip_fields(part)?;
        if part.is_empty() || matches!(part, "." | "..") {
            return Err(format!("'{template}' has an empty, '.' or '..' part: {good}"));
        }
        if bare.chars().any(char::is_control) {
            return Err(format!("'{template}' holds a control character: {good}"));
        }
    }
    Ok(())
}

/// The part's text outside its fields; an unknown or unclosed field is an error.
fn strip_fields(part: &str) -> Result<String, String> {
    let mut bare = String::new();
    let mut rest = part;
    while let Some(open) = rest.find('{') {
        bare.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("'{part}': a '{{' without its '}}'"));
        };
        let name = &rest[open + 1..open + close];
        if !FIELDS.iter().any(|(f, _)| *f == name) {
            let known: Vec<String> = FIELDS.iter().map(|(f, _)| format!("{{{f}}}")).collect();
            return Err(format!("'{{{name}}}' is not a field; the fields are {}", known.join(", ")));
        }
        rest = &rest[open + close + 1..];
    }
    bare.push_str(rest);
    Ok(bare)
}

/// The template (checked with [`check`]) filled with `f`: a relative path whose every part is a
/// plain file name.
pub fn expand(template: &str, f: &Fields) -> PathBuf {
    let mut path = PathBuf::new();
    for part in template.split('/') {
        let mut out = String::new();
        let mut rest = part;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
            let name = rest.get(open + 1..close).unwrap_or("");
            out.push_str(&safe(&f.get(name).unwrap_or_default()));
            rest = rest.get(close + 1..).unwrap_or("");
        }
        out.push_str(rest);
        path.push(part_name(&out));
    }
    path
}

/// One value made safe inside a file name: no `/`, no control characters, at most
/// `MAX_FIELD` bytes (cut on a character boundary), spaces at the ends trimmed.
pub fn safe(v: &str) -> String {
    let mut s = String::new();
    for c in v.trim().chars() {
        let c = if c == '/' || c == '\\' || c.is_control() { '_' } else { c };
        if s.len() + c.len_utf8() > MAX_FIELD {
            break;
        }
        s.push(c);
    }
    s.trim().to_string()
}

/// A value as a whole file name: [`safe`], and neither empty, hidden, `.` nor `..`.
pub fn file_name(v: &str) -> String {
    part_name(&safe(v))
}

/// A whole part: not empty, not hidden, not `.` or `..` (a value such as `..` or `.hidden`).
fn part_name(p: &str) -> String {
    let p = p.trim();
    match p.strip_prefix('.') {
        _ if p.is_empty() => "_".to_string(),
        Some(rest) => format!("_{rest}"),
        None => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            artist: "AC/DC".into(),
            album: "Back in Black".into(),
            year: Some(1980),
            side: "A".into(),
            month: "2026-12".into(),
            stamp: "20261205-215037".into(),
        }
    }

    #[test]
    fn a_template_is_filled_and_slashes_in_values_stay_inside_one_part() {
        let t = "{month}/{artist} - {album} ({year}) - {side} - {stamp}";
        check(t).unwrap();
        assert_eq!(
            expand(t, &fields()),
            PathBuf::from("2026-12/AC_DC - Back in Black (1980) - A - 20261205-215037")
        );
    }

    #[test]
    fn values_cannot_climb_out_hide_or_break_a_line() {
        let f = Fields { artist: "..".into(), album: ".hidden\nx".into(), ..fields() };
        assert_eq!(expand("{artist}/{album}", &f), PathBuf::from("_./_hidden_x"));
        let f = Fields { artist: "   ".into(), ..fields() };
        assert_eq!(expand("{artist}", &f), PathBuf::from("_"));
        let long = "é".repeat(200);
        let out = expand("{album}", &Fields { album: long, ..fields() });
        assert_eq!(out.as_os_str().len(), 120);
    }

    #[test]
    fn bad_templates_are_refused() {
        for t in ["/abs/{artist}", "../{artist}", "{artist}//{album}", "{nope}", "{artist", "a/./b", ""] {
            assert!(check(t).is_err(), "{t:?} must be refused");
        }
        assert!(check("{artist}/{album} ({year})/{side}").is_ok());
    }
}
