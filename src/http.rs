//! HTTP/1.x header fields: the part of a head that both of vinyl's HTTP ends parse
//! (vinyl-mp3-icecast reads Icecast's responses, vinyl-web reads browsers' requests); and
//! percent-encoding, which both write ([`percent_encode`]: a query string, a download's path and
//! file name).
//!
//! Owns splitting header lines into fields and finding a field by name, case-insensitively as RFC
//! 9110 says. The ends differ only in what a line that is not a field means, so that is the
//! caller's choice: a server refuses it ([`Strictness::Refuse`]: one way to read every request),
//! a client skips it ([`Strictness::Skip`]: a server's quirk is not worth a dropped stream). It
//! does not read sockets, parse start lines or decide what a status means (`icecast::http`,
//! `web::http`). How it fails: a refused line is an error naming what was wrong; never a panic.

/// What a header line without a colon means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// The head is malformed.
    Refuse,
    /// The line is ignored.
    Skip,
}

/// A head's header fields in order: names as written, values trimmed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Reads `Name: value` lines (the lines after the start line, up to the blank one).
    pub fn parse<'a>(
        lines: impl IntoIterator<Item = &'a str>,
        strict: Strictness,
    ) -> Result<Fields, &'static str> {
        let mut out = Vec::new();
        for line in lines {
            if line.is_empty() {
                break;
            }
            match line.split_once(':') {
                Some((n, v)) => out.push((n.trim().to_string(), v.trim().to_string())),
                None if strict == Strictness::Refuse => return Err("malformed header"),
                None => {}
            }
        }
        Ok(Fields(out))
    }

    /// The value of the first field called `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The values of every field called `name` (any case), in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// RFC 3986's unreserved characters besides letters and digits: what a query-string value keeps.
pub const UNRESERVED: &[u8] = b"-._~";

/// `s` with every byte of its UTF-8 but ASCII letters, digits and `keep` as `%XX`
/// (`song=Caf%C3%A9%20Ol%C3%A9` with [`UNRESERVED`]).
pub fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_in_any_case_and_a_line_without_a_colon_is_the_callers_choice() {
        let lines = ["Content-Type: audio/mpeg", "icy-name:  A  ", "", "After: blank"];
        let f = Fields::parse(lines, Strictness::Refuse).unwrap();
        assert_eq!(f.get("content-type"), Some("audio/mpeg"));
        assert_eq!(f.get("ICY-NAME"), Some("A"));
        assert_eq!(f.get("after"), None, "the blank line ends the head");
        let twice = Fields::parse(["Host: a", "host: b"], Strictness::Refuse).unwrap();
        assert_eq!(twice.all("HOST").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(Fields::parse(["no colon"], Strictness::Refuse), Err("malformed header"));
        assert_eq!(Fields::parse(["no colon", "A: 1"], Strictness::Skip).unwrap().get("a"), Some("1"));
    }

    #[test]
    fn percent_encoding_keeps_only_letters_digits_and_the_bytes_named() {
        assert_eq!(percent_encode("Café Olé/a&b=c", UNRESERVED), "Caf%C3%A9%20Ol%C3%A9%2Fa%26b%3Dc");
        assert_eq!(percent_encode("a-b_c.d~e", UNRESERVED), "a-b_c.d~e");
        assert_eq!(percent_encode("a b/c", b"/"), "a%20b/c");
    }
}
