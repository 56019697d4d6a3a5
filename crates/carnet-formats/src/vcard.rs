//! vCard writing: 4.0 (RFC 6350) and 3.0 (RFC 2426), escaped and folded at 75 octets.

use carnet_core::contact::{Contact, LabeledValue};
use std::io::{self, Write};

/// Which vCard version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V3,
    V4,
}

/// Escapes a text value: backslash, comma, semicolon and line breaks.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            _ => out.push(c),
        }
    }
    out
}

/// Writes one content line, folded so that no line exceeds 75 octets (never inside a character).
fn line(out: &mut impl Write, text: &str) -> io::Result<()> {
    let mut width = 0;
    for c in text.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.write_all(b"\r\n ")?;
            width = 1;
        }
        let mut buf = [0u8; 4];
        out.write_all(c.encode_utf8(&mut buf).as_bytes())?;
        width += len;
    }
    out.write_all(b"\r\n")
}

/// The standard TYPE for a label, if there is one.
fn standard_type(label: &str, phone: bool, version: Version) -> Option<&'static str> {
    match (label, phone, version) {
        ("work", _, Version::V4) => Some("work"),
        ("home", _, Version::V4) => Some("home"),
        ("mobile", true, Version::V4) => Some("cell"),
        ("work", false, Version::V3) => Some("INTERNET,WORK"),
        ("home", false, Version::V3) => Some("INTERNET,HOME"),
        ("work", true, Version::V3) => Some("WORK,VOICE"),
        ("home", true, Version::V3) => Some("HOME,VOICE"),
        ("mobile", true, Version::V3) => Some("CELL,VOICE"),
        _ => None,
    }
}

/// Writes EMAIL or TEL lines; a label with no standard type is kept with Apple's
/// `itemN.X-ABLabel` grouping, which common address books read.
fn values(
    out: &mut impl Write,
    property: &str,
    items: &[LabeledValue],
    version: Version,
    group: &mut usize,
) -> io::Result<()> {
    for item in items {
        match standard_type(&item.label, property == "TEL", version) {
            Some(t) => line(out, &format!("{property};TYPE={t}:{}", escape(&item.value)))?,
            None => {
                *group += 1;
                line(
                    out,
                    &format!("item{group}.{property}:{}", escape(&item.value)),
                )?;
                line(
                    out,
                    &format!("item{group}.X-ABLabel:{}", escape(&item.label)),
                )?;
            }
        }
    }
    Ok(())
}

/// Writes one contact as a vCard.
pub fn write_contact(out: &mut impl Write, c: &Contact, version: Version) -> io::Result<()> {
    line(out, "BEGIN:VCARD")?;
    line(
        out,
        if version == Version::V4 {
            "VERSION:4.0"
        } else {
            "VERSION:3.0"
        },
    )?;
    let uid = match version {
        Version::V4 => format!("UID:urn:uuid:{}", c.id),
        Version::V3 => format!("UID:{}", c.id),
    };
    line(out, &uid)?;
    line(out, &format!("FN:{}", escape(&c.display_name())))?;
    let part = |s: &Option<String>| s.as_deref().map(escape).unwrap_or_default();
    line(
        out,
        &format!("N:{};{};;;", part(&c.last_name), part(&c.first_name)),
    )?;
    if let Some(title) = &c.job_title {
        line(out, &format!("TITLE:{}", escape(title)))?;
    }
    let mut group = 0;
    values(out, "EMAIL", &c.emails, version, &mut group)?;
    values(out, "TEL", &c.phones, version, &mut group)?;
    if !c.tags.is_empty() {
        let tags: Vec<String> = c.tags.iter().map(|t| escape(t)).collect();
        line(out, &format!("CATEGORIES:{}", tags.join(",")))?;
    }
    line(
        out,
        &format!("REV:{}", c.updated_at.format("%Y%m%dT%H%M%SZ")),
    )?;
    line(out, "END:VCARD")
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_core::ContactInput;
    use serde_json::json;

    fn contact() -> Contact {
        let input = ContactInput::from_json(&json!({
            "first_name": "Éloïse", "last_name": "Lefèvre; Martin", "job_title": "Gérante, associée",
            "emails": [{"label": "work", "value": "eloise@exemple.fr"}, {"label": "Cabinet", "value": "e@cab.fr"}],
            "phones": [{"label": "mobile", "value": "+33 6 12 34 56 78"}],
            "tags": ["VIP", "a,b"]
        }))
        .unwrap();
        let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        Contact {
            id: carnet_core::ContactId(uuid::Uuid::nil()),
            first_name: input.first_name,
            last_name: input.last_name,
            emails: input.emails,
            phones: input.phones,
            company_id: None,
            job_title: input.job_title,
            tags: input.tags,
            custom: input.custom,
            owner_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    #[test]
    fn writes_a_vcard_4() {
        let mut out = Vec::new();
        write_contact(&mut out, &contact(), Version::V4).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(
            "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:00000000-0000-0000-0000-000000000000\r\n"
        ));
        assert!(text.contains("N:Lefèvre\\; Martin;Éloïse;;;\r\n"), "{text}");
        assert!(text.contains("TITLE:Gérante\\, associée\r\n"));
        assert!(text.contains("EMAIL;TYPE=work:eloise@exemple.fr\r\n"));
        assert!(text.contains("item1.EMAIL:e@cab.fr\r\nitem1.X-ABLabel:Cabinet\r\n"));
        assert!(text.contains("TEL;TYPE=cell:+33 6 12 34 56 78\r\n"));
        assert!(text.contains("CATEGORIES:VIP,a\\,b\r\n"));
        assert!(text.ends_with("END:VCARD\r\n"));
    }

    #[test]
    fn writes_a_vcard_3() {
        let mut out = Vec::new();
        write_contact(&mut out, &contact(), Version::V3).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("VERSION:3.0\r\n")
                && text.contains("EMAIL;TYPE=INTERNET,WORK:eloise@exemple.fr")
        );
        assert!(text.contains("TEL;TYPE=CELL,VOICE:"));
    }

    #[test]
    fn folds_long_lines_without_splitting_characters() {
        let mut out = Vec::new();
        line(&mut out, &format!("NOTE:{}", "é".repeat(100))).unwrap();
        let text = String::from_utf8(out).unwrap();
        for physical in text.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75, "{} octets", physical.len());
        }
        assert_eq!(
            text.replace("\r\n ", ""),
            format!("NOTE:{}\r\n", "é".repeat(100))
        );
    }
}
