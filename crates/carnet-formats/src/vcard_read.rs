//! Reading vCard 2.1, 3.0 and 4.0 files (phones, Google, Apple, Outlook) into contact rows:
//! folded lines, quoted-printable values with their charset, escaped characters, several
//! EMAIL/TEL/ADR, groups with Apple's `X-ABLabel`. What has no field of its own (ORG, NOTE,
//! ADR, BDAY, URL, unknown properties) is kept in `custom`, never dropped; binary media
//! (PHOTO, LOGO, SOUND, KEY) are not imported.

use encoding_rs::Encoding;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::io::BufRead;

/// One card: the line its `BEGIN:VCARD` is on, its contact as the API's JSON, and its UID
/// when that is a Carnet contact id.
pub type CardRow = (u64, Value, Option<String>);

/// A card that cannot be read: its first line and why.
pub type BadCard = (u64, String);

/// Properties that describe the card itself, not the contact.
const STRUCTURE: [&str; 6] = ["BEGIN", "END", "VERSION", "PRODID", "REV", "X-ABLABEL"];

/// Binary media, not imported.
const MEDIA: [&str; 4] = ["PHOTO", "LOGO", "SOUND", "KEY"];

/// Decodes one line: UTF-8, else Windows-1252 as old exports are (line by line, so one
/// stray byte does not change how the rest of the file reads).
fn decode_line(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

/// Every card of a text, in order.
pub fn cards(text: &str) -> Vec<Result<CardRow, BadCard>> {
    read_cards(text.as_bytes()).collect()
}

/// The cards of a file, read one at a time: only the card being read is in memory.
pub fn read_cards<R: BufRead>(input: R) -> Cards<R> {
    Cards {
        lines: LogicalLines {
            input,
            number: 0,
            peeked: None,
        },
        current: None,
        ready: VecDeque::new(),
        done: false,
    }
}

/// The cards of a file, as they are read.
pub struct Cards<R: BufRead> {
    lines: LogicalLines<R>,
    /// The card being read: its first line and its properties.
    current: Option<(u64, Vec<Property>)>,
    /// Cards and errors found but not yet returned.
    ready: VecDeque<Result<CardRow, BadCard>>,
    done: bool,
}

impl<R: BufRead> Cards<R> {
    /// Takes one logical line into the card being read.
    fn take_line(&mut self, line: u64, raw: &str) {
        if raw.trim().is_empty() {
            return;
        }
        let Some(prop) = Property::parse(raw) else {
            match self.current.take() {
                Some((start, _)) => self
                    .ready
                    .push_back(Err((start, format!("line {line} is not a vCard property")))),
                None => self.ready.push_back(Err((
                    line,
                    "text outside of a BEGIN:VCARD … END:VCARD".into(),
                ))),
            }
            return;
        };
        match (prop.name.as_str(), &mut self.current) {
            ("BEGIN", None) if prop.value.eq_ignore_ascii_case("VCARD") => {
                self.current = Some((line, Vec::new()));
            }
            ("BEGIN", Some((start, _))) => {
                self.ready
                    .push_back(Err((*start, "BEGIN:VCARD without END:VCARD".into())));
                self.current = Some((line, Vec::new()));
            }
            ("END", Some(_)) => {
                if let Some((start, props)) = self.current.take() {
                    let (body, id) = card_to_json(&props);
                    self.ready.push_back(Ok((start, body, id)));
                }
            }
            (_, Some((_, props))) => props.push(prop),
            (_, None) => self.ready.push_back(Err((
                line,
                "text outside of a BEGIN:VCARD … END:VCARD".into(),
            ))),
        }
    }
}

impl<R: BufRead> Iterator for Cards<R> {
    type Item = Result<CardRow, BadCard>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.lines.next() {
                Some(Ok((line, raw))) => self.take_line(line, &raw),
                Some(Err(e)) => {
                    self.done = true;
                    let line = self.current.take().map_or(self.lines.number, |(s, _)| s);
                    self.ready
                        .push_back(Err((line.max(1), format!("cannot read the file: {e}"))));
                }
                None => {
                    self.done = true;
                    if let Some((start, _)) = self.current.take() {
                        self.ready
                            .push_back(Err((start, "BEGIN:VCARD without END:VCARD".into())));
                    }
                }
            }
        }
    }
}

/// Logical lines with the number of their first physical line: folded lines (a leading
/// space or tab) are joined, and so are vCard 2.1 quoted-printable soft line breaks.
struct LogicalLines<R: BufRead> {
    input: R,
    /// Physical lines read so far.
    number: u64,
    /// The physical line read after the last logical one.
    peeked: Option<(u64, String)>,
}

impl<R: BufRead> LogicalLines<R> {
    fn physical(&mut self) -> std::io::Result<Option<(u64, String)>> {
        let mut bytes = Vec::new();
        if self.input.read_until(b'\n', &mut bytes)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        let mut line = bytes.as_slice();
        if self.number == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Ok(Some((self.number, decode_line(line))))
    }
}

impl<R: BufRead> Iterator for LogicalLines<R> {
    type Item = std::io::Result<(u64, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        let (number, mut line) = match self.peeked.take() {
            Some(p) => p,
            None => match self.physical() {
                Ok(Some(p)) => p,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            },
        };
        loop {
            match self.physical() {
                Ok(Some((_, next))) if next.starts_with([' ', '\t']) => line.push_str(&next[1..]),
                Ok(Some((_, next))) if line.ends_with('=') && is_quoted_printable(&line) => {
                    line.pop();
                    line.push_str(&next);
                }
                Ok(other) => {
                    self.peeked = other;
                    return Some(Ok((number, line)));
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

fn is_quoted_printable(line: &str) -> bool {
    let head = line.split(':').next().unwrap_or_default();
    head.to_ascii_uppercase().contains("QUOTED-PRINTABLE")
}

/// One content line: `[group.]NAME[;PARAM…]:VALUE`, its value already decoded (QP, charset).
#[derive(Debug)]
struct Property {
    group: Option<String>,
    name: String,
    /// Parameter values, upper-cased: `TYPE=WORK,INTERNET` and 2.1's bare `WORK` alike.
    types: Vec<String>,
    value: String,
}

impl Property {
    fn parse(line: &str) -> Option<Property> {
        let colon = colon_outside_quotes(line)?;
        let (head, value) = (&line[..colon], &line[colon + 1..]);
        let mut parts = split_unquoted(head, ';').into_iter();
        let full_name = parts.next()?;
        let (group, name) = match full_name.rsplit_once('.') {
            Some((g, n)) => (Some(g.to_owned()), n),
            None => (None, full_name.as_str()),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return None;
        }
        let mut types = Vec::new();
        let mut quoted_printable = false;
        let mut charset: Option<&'static Encoding> = None;
        for param in parts {
            let (key, val) = match param.split_once('=') {
                Some((k, v)) => (k.to_ascii_uppercase(), v.trim_matches('"').to_owned()),
                None => ("TYPE".to_owned(), param.clone()),
            };
            match key.as_str() {
                "ENCODING" if val.eq_ignore_ascii_case("QUOTED-PRINTABLE") => {
                    quoted_printable = true;
                }
                "CHARSET" => charset = Encoding::for_label(val.as_bytes()),
                _ if val.eq_ignore_ascii_case("QUOTED-PRINTABLE") => quoted_printable = true,
                "TYPE" => types.extend(val.split(',').map(|t| t.trim().to_ascii_uppercase())),
                _ => {}
            }
        }
        let value = if quoted_printable {
            let bytes = decode_quoted_printable(value);
            charset
                .unwrap_or(encoding_rs::UTF_8)
                .decode(&bytes)
                .0
                .into_owned()
        } else {
            value.to_owned()
        };
        Some(Property {
            group,
            name: name.to_ascii_uppercase(),
            types,
            value,
        })
    }
}

fn colon_outside_quotes(line: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn split_unquoted(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in s.chars() {
        if c == sep && !quoted {
            parts.push(std::mem::take(&mut current));
            continue;
        }
        if c == '"' {
            quoted = !quoted;
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

fn decode_quoted_printable(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Splits a structured value on unescaped `sep` (none: the whole value) and unescapes each
/// component.
fn split_escaped(value: &str, sep: Option<char>) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        let Some(part) = parts.last_mut() else { break };
        match c {
            '\\' => match chars.next() {
                Some('n' | 'N') => part.push('\n'),
                Some(other) => part.push(other),
                None => part.push('\\'),
            },
            c if Some(c) == sep => parts.push(String::new()),
            c => part.push(c),
        }
    }
    parts
}

fn components(value: &str, sep: char) -> Vec<String> {
    split_escaped(value, Some(sep))
}

/// The whole value, unescaped (no structure).
fn text(value: &str) -> String {
    split_escaped(value, None).concat()
}

/// A label for an e-mail or phone: Apple's group label, else its standard type.
fn label(prop: &Property, labels: &Map<String, Value>) -> String {
    if let Some(Value::String(l)) = prop.group.as_ref().and_then(|g| labels.get(g)) {
        // Apple's own labels look like `_$!<Mobile>!$_`; a user's label is kept as typed.
        return match l.strip_prefix("_$!<").and_then(|l| l.strip_suffix(">!$_")) {
            Some(system) => system.to_lowercase(),
            None => l.clone(),
        };
    }
    for t in &prop.types {
        match t.as_str() {
            "CELL" | "MOBILE" => return "mobile".into(),
            "WORK" => return "work".into(),
            "HOME" => return "home".into(),
            _ => {}
        }
    }
    "other".into()
}

fn card_to_json(props: &[Property]) -> (Value, Option<String>) {
    let mut labels = Map::new();
    for p in props.iter().filter(|p| p.name == "X-ABLABEL") {
        if let Some(g) = &p.group {
            labels.insert(g.clone(), Value::String(text(&p.value)));
        }
    }
    let mut body = Map::new();
    let mut custom = Map::new();
    let (mut emails, mut phones, mut tags) = (Vec::new(), Vec::new(), Vec::new());
    let mut id = None;
    let mut full_name = None;
    let mut keep = |key: &str, value: String| {
        if value.trim().is_empty() {
            return;
        }
        match custom.get_mut(key) {
            Some(Value::String(s)) => {
                s.push('\n');
                s.push_str(&value);
            }
            _ => {
                custom.insert(key.to_owned(), Value::String(value));
            }
        }
    };
    for p in props {
        match p.name.as_str() {
            name if STRUCTURE.contains(&name) || MEDIA.contains(&name) => {}
            "N" => {
                let parts = components(&p.value, ';');
                let part = |i: usize| {
                    parts
                        .get(i)
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_default()
                };
                for (key, value) in [("last_name", part(0)), ("first_name", part(1))] {
                    if !value.is_empty() {
                        body.insert(key.into(), Value::String(value));
                    }
                }
                keep("middle_name", part(2));
                keep("name_prefix", part(3));
                keep("name_suffix", part(4));
            }
            "FN" => full_name = Some(text(&p.value).trim().to_owned()),
            "TITLE" => {
                body.insert("job_title".into(), Value::String(text(&p.value)));
            }
            "EMAIL" => {
                emails.push(json!({"label": label(p, &labels), "value": text(&p.value).trim()}))
            }
            "TEL" => {
                let value = text(&p.value);
                let value = value.trim().trim_start_matches("tel:");
                phones.push(json!({"label": label(p, &labels), "value": value}));
            }
            "CATEGORIES" => tags.extend(
                components(&p.value, ',')
                    .into_iter()
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty()),
            ),
            "UID" => {
                let uid = text(&p.value);
                id = Some(uid.trim().trim_start_matches("urn:uuid:").to_owned());
            }
            "ORG" => keep("organization", join_components(&p.value, ", ")),
            "ADR" => keep("address", join_components(&p.value, ", ")),
            other => keep(&other.to_lowercase(), text(&p.value)),
        }
    }
    if !body.contains_key("last_name")
        && !body.contains_key("first_name")
        && let Some(name) = full_name.filter(|n| !n.is_empty())
    {
        body.insert("last_name".into(), Value::String(name));
    }
    for (key, list) in [("emails", emails), ("phones", phones)] {
        if !list.is_empty() {
            body.insert(key.into(), Value::Array(list));
        }
    }
    if !tags.is_empty() {
        body.insert("tags".into(), json!(tags));
    }
    if !custom.is_empty() {
        body.insert("custom".into(), Value::Object(custom));
    }
    (Value::Object(body), id)
}

fn join_components(value: &str, sep: &str) -> String {
    components(value, ';')
        .into_iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_folded_escaped_and_quoted_printable_cards() {
        let file = "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Lef=C3=A8vre;=C3=89lo=\r\n=C3=AFse;;;\r\n\
                    TEL;CELL:+33 6 12 34 56 78\r\nEMAIL;INTERNET;WORK:e@exemple.fr\r\nORG:Cabinet\\, Lefèvre;Paris\r\n\
                    NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=ISO-8859-1:Premi=E8re ligne\r\nEND:VCARD\r\n\
                    BEGIN:VCARD\nVERSION:4.0\nFN:李 小龙\nTITLE:Gérant\\, associé\nitem1.EMAIL:li@x.cn\nitem1.X-ABLabel:_$!<Other>!$_\n\
                    CATEGORIES:VIP,a\\,b\nNOTE:long note that was fol\n ded here\nUID:urn:uuid:01a20aca-0000-7000-8000-000000000000\nEND:VCARD\n";
        let cards = cards(file);
        assert_eq!(cards.len(), 2);
        let (line, first, id) = cards[0].clone().unwrap();
        assert_eq!((line, id), (1, None));
        assert_eq!(first["last_name"], "Lefèvre");
        assert_eq!(first["first_name"], "Éloïse");
        assert_eq!(
            first["phones"],
            json!([{"label": "mobile", "value": "+33 6 12 34 56 78"}])
        );
        assert_eq!(
            first["emails"],
            json!([{"label": "work", "value": "e@exemple.fr"}])
        );
        assert_eq!(first["custom"]["organization"], "Cabinet, Lefèvre, Paris");
        assert_eq!(first["custom"]["note"], "Première ligne");
        let (line, second, id) = cards[1].clone().unwrap();
        assert_eq!(line, 10);
        assert_eq!(second["last_name"], "李 小龙");
        assert_eq!(second["job_title"], "Gérant, associé");
        assert_eq!(
            second["emails"],
            json!([{"label": "other", "value": "li@x.cn"}])
        );
        assert_eq!(second["tags"], json!(["VIP", "a,b"]));
        assert_eq!(second["custom"]["note"], "long note that was folded here");
        assert_eq!(id.as_deref(), Some("01a20aca-0000-7000-8000-000000000000"));
    }

    #[test]
    fn control_characters_reach_validation() {
        let cards = cards("BEGIN:VCARD\nFN:a\u{0}b\nEND:VCARD\n");
        assert_eq!(cards[0].as_ref().unwrap().1["last_name"], "a\u{0}b");
    }

    #[test]
    fn broken_cards_are_reported_not_dropped() {
        let cards =
            cards("junk\nBEGIN:VCARD\nFN:A\nBEGIN:VCARD\nFN:B\nEND:VCARD\nBEGIN:VCARD\nFN:C\n");
        let errors: Vec<u64> = cards
            .iter()
            .filter_map(|c| c.as_ref().err().map(|e| e.0))
            .collect();
        assert_eq!(errors, vec![1, 2, 7]);
        assert_eq!(cards.iter().filter(|c| c.is_ok()).count(), 1);
    }
}
