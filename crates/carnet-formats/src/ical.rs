//! iCalendar (RFC 5545): activities written as events and to-dos, one at a time, and calendar
//! files read back into activity fields.
//!
//! Carnet writes a task as a `VTODO` (its end as `DUE`, `STATUS:COMPLETED` when done) and
//! every other kind as a `VEVENT`; `X-CARNET-KIND` and `X-CARNET-DONE` keep what iCalendar has
//! no word for, so that an export imported again gives the same activities. The linked
//! contact is an `ATTENDEE` with its e-mail address, and `X-CARNET-CONTACT` with its id (the
//! same workspace finds it by id even when it has no e-mail address). Times are written in
//! UTC; times read in a named zone are converted with the file's own `VTIMEZONE`
//! (`ical_zones`).

use crate::ical_zones::{ZoneReader, Zones};
use carnet_core::activity::Activity;
use carnet_core::validation::FieldError;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};
use std::io::{self, Write};

/// The contact an activity is about, as its attendee.
#[derive(Debug, Clone, Copy)]
pub struct Attendee<'a> {
    pub name: &'a str,
    pub email: &'a str,
}

/// Writes a `VCALENDAR` one activity at a time; [`CalendarWriter::finish`] closes it.
pub struct CalendarWriter<W: Write> {
    out: W,
}

impl<W: Write> CalendarWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        for line in [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Carnet//Carnet CRM//EN",
            "CALSCALE:GREGORIAN",
        ] {
            write!(out, "{line}\r\n")?;
        }
        Ok(Self { out })
    }

    /// One activity, with the contact it is about when it has an e-mail address.
    pub fn write(&mut self, a: &Activity, attendee: Option<Attendee<'_>>) -> io::Result<()> {
        let task = a.kind == carnet_core::ActivityKind::Task;
        let component = if task { "VTODO" } else { "VEVENT" };
        let mut lines = vec![
            format!("BEGIN:{component}"),
            format!("UID:{}", escape(&a.uid)),
            format!("DTSTAMP:{}", utc(a.updated_at)),
            format!("CREATED:{}", utc(a.created_at)),
            format!("LAST-MODIFIED:{}", utc(a.updated_at)),
            format!("SEQUENCE:{}", a.version.saturating_sub(1)),
            format!("DTSTART:{}", utc(a.starts_at)),
        ];
        if let Some(end) = a.ends_at {
            lines.push(format!(
                "{}:{}",
                if task { "DUE" } else { "DTEND" },
                utc(end)
            ));
        }
        lines.push(format!("SUMMARY:{}", escape(&a.subject)));
        if let Some(d) = &a.description {
            lines.push(format!("DESCRIPTION:{}", escape(d)));
        }
        if let Some(l) = &a.location {
            lines.push(format!("LOCATION:{}", escape(l)));
        }
        if task {
            let status = if a.done { "COMPLETED" } else { "NEEDS-ACTION" };
            lines.push(format!("STATUS:{status}"));
        } else if a.done {
            lines.push("X-CARNET-DONE:TRUE".into());
        }
        lines.push(format!("X-CARNET-KIND:{}", a.kind));
        if let Some(contact) = a.contact_id {
            lines.push(format!("X-CARNET-CONTACT:{contact}"));
        }
        if let Some(at) = attendee {
            lines.push(format!(
                "ATTENDEE;CN={}:mailto:{}",
                param_value(at.name),
                at.email
            ));
        }
        lines.push(format!("END:{component}"));
        for line in lines {
            write_folded(&mut self.out, &line)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"END:VCALENDAR\r\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaping: backslash, semicolon, comma and line breaks.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value: quoted when it holds `:`, `;` or `,`; a double quote cannot be written
/// in one at all (RFC 5545 §3.1), so it becomes a single quote.
fn param_value(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' { '\'' } else { c })
        .collect();
    if clean.contains([':', ';', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

/// Lines longer than 75 octets are folded: CRLF and a space, never inside a character.
fn write_folded(out: &mut impl Write, line: &str) -> io::Result<()> {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.write_all(b"\r\n ")?;
            width = 1;
        }
        let mut buf = [0; 4];
        out.write_all(c.encode_utf8(&mut buf).as_bytes())?;
        width += len;
    }
    out.write_all(b"\r\n")
}

/// The deepest nesting of components read (a calendar, an event, an alarm, …).
const MAX_DEPTH: usize = 8;

/// A calendar file that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for CalendarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for CalendarError {}

/// One event or to-do of a calendar file, as activity fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CalendarEntry {
    /// The line its `BEGIN` is on.
    pub line: usize,
    /// A `VTODO` (its end is `DUE`), not a `VEVENT`.
    pub todo: bool,
    pub uid: Option<String>,
    /// Activity members (`kind`, `subject`, `starts_at`, …) as the API takes them.
    pub fields: Map<String, Value>,
    /// The e-mail addresses of its attendees, lower-cased.
    pub attendees: Vec<String>,
    /// The id of the contact it was about, in the workspace it was exported from.
    pub contact_id: Option<String>,
    /// What was read differently from how the file said it (floating times, repeats).
    pub notes: Vec<String>,
    /// Properties that could not be read, named as in the file (`DTSTART`).
    pub errors: Vec<FieldError>,
}

/// The iCalendar property an activity field of `entry` comes from, to name it in import
/// reports.
pub fn property_of<'a>(entry: &CalendarEntry, field: &'a str) -> &'a str {
    match field {
        "ends_at" if entry.todo => "DUE",
        "subject" => "SUMMARY",
        "description" => "DESCRIPTION",
        "location" => "LOCATION",
        "starts_at" => "DTSTART",
        "ends_at" => "DTEND",
        "kind" => "X-CARNET-KIND",
        "done" => "STATUS",
        other => other,
    }
}

/// One content line: `NAME;PARAM=value:value`.
struct ContentLine {
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

impl ContentLine {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads every `VEVENT` and `VTODO` of a calendar file (UTF-8, folded lines, CRLF or LF).
pub fn read_calendar(bytes: &[u8]) -> Result<Vec<CalendarEntry>, CalendarError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        CalendarError {
            line,
            message: "is not UTF-8 text (iCalendar files are UTF-8)".into(),
        }
    })?;
    let mut read: Vec<Open> = Vec::new();
    let mut zones = Zones::default();
    let mut zone: Option<ZoneReader> = None;
    let mut stack: Vec<String> = Vec::new();
    let mut current: Option<Open> = None;
    let mut seen_calendar = false;
    for (line_no, raw) in unfold(text) {
        if raw.trim().is_empty() {
            continue;
        }
        let line = parse_line(&raw).ok_or_else(|| CalendarError {
            line: line_no,
            message: "is not an iCalendar content line (NAME:value)".into(),
        })?;
        let error = |message: String| CalendarError {
            line: line_no,
            message,
        };
        match line.name.as_str() {
            "BEGIN" => {
                let component = line.value.trim().to_ascii_uppercase();
                if stack.is_empty() && component != "VCALENDAR" {
                    return Err(error("a calendar file starts with BEGIN:VCALENDAR".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(error(format!(
                        "components are nested more than {MAX_DEPTH} deep"
                    )));
                }
                seen_calendar = true;
                if stack.len() == 1 && matches!(component.as_str(), "VEVENT" | "VTODO") {
                    current = Some(Open {
                        entry: CalendarEntry {
                            line: line_no,
                            todo: component == "VTODO",
                            ..CalendarEntry::default()
                        },
                        duration: None,
                        zoned: Vec::new(),
                    });
                }
                if stack.len() == 1 && component == "VTIMEZONE" {
                    zone = Some(ZoneReader::default());
                }
                if stack.len() == 2
                    && matches!(component.as_str(), "STANDARD" | "DAYLIGHT")
                    && let Some(z) = zone.as_mut()
                {
                    z.begin_observance();
                }
                stack.push(component);
            }
            "END" => {
                let component = line.value.trim().to_ascii_uppercase();
                if stack.last() != Some(&component) {
                    return Err(error(format!(
                        "END:{component} closes {}",
                        stack
                            .last()
                            .map_or("nothing".to_owned(), |open| format!("BEGIN:{open}"))
                    )));
                }
                stack.pop();
                if stack.len() == 1
                    && let Some(open) = current.take()
                {
                    read.push(open);
                }
                if stack.len() == 2
                    && let Some(z) = zone.as_mut()
                {
                    z.end_observance();
                }
                if stack.len() == 1
                    && let Some(z) = zone.take()
                {
                    z.finish(&mut zones);
                }
            }
            _ if stack.is_empty() => {
                return Err(error("a calendar file starts with BEGIN:VCALENDAR".into()));
            }
            _ => {
                // Properties of the event itself; those of its alarms are not its own.
                if stack.len() == 2
                    && let Some(open) = current.as_mut()
                {
                    open.read_property(&line);
                }
                if (2..=3).contains(&stack.len())
                    && let Some(z) = zone.as_mut()
                {
                    z.property(&line.name, &line.value);
                }
            }
        }
    }
    if !seen_calendar {
        return Err(CalendarError {
            line: 1,
            message: "the file holds no BEGIN:VCALENDAR".into(),
        });
    }
    if let Some(open) = stack.last() {
        return Err(CalendarError {
            line: text.lines().count(),
            message: format!("the file ends inside BEGIN:{open}"),
        });
    }
    // Times in a named zone are read once every zone of the file is known (a VTIMEZONE may
    // come after the events that use it).
    Ok(read.into_iter().map(|open| open.finish(&zones)).collect())
}

/// Logical lines with the number of their first physical line: a line starting with a
/// space or tab continues the previous one.
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match (line.strip_prefix([' ', '\t']), out.last_mut()) {
            (Some(rest), Some((_, last))) => last.push_str(rest),
            _ => out.push((i + 1, line.to_owned())),
        }
    }
    out
}

/// `NAME *(";" param) ":" value`, with quoted parameter values that may hold `:` and `;`.
fn parse_line(line: &str) -> Option<ContentLine> {
    let name_end = line.find([';', ':'])?;
    let name = line[..name_end].trim().to_ascii_uppercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let mut params = Vec::new();
    let mut rest = &line[name_end..];
    while let Some(after) = rest.strip_prefix(';') {
        let eq = after.find('=')?;
        let pname = after[..eq].trim().to_ascii_uppercase();
        let mut value_part = &after[eq + 1..];
        let mut value = String::new();
        loop {
            if let Some(quoted) = value_part.strip_prefix('"') {
                let close = quoted.find('"')?;
                value.push_str(&quoted[..close]);
                value_part = &quoted[close + 1..];
            } else {
                let end = value_part.find([',', ';', ':'])?;
                value.push_str(&value_part[..end]);
                value_part = &value_part[end..];
            }
            match value_part.strip_prefix(',') {
                Some(more) => {
                    value.push(',');
                    value_part = more;
                }
                None => break,
            }
        }
        params.push((pname, value));
        rest = value_part;
    }
    let value = rest.strip_prefix(':')?.to_owned();
    Some(ContentLine {
        name,
        params,
        value,
    })
}

/// TEXT unescaping: `\n`, `\N`, `\\`, `\;`, `\,`; a lone backslash is kept.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other @ ('\\' | ';' | ',')) => out.push(other),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// An event or to-do being read.
struct Open {
    entry: CalendarEntry,
    duration: Option<Duration>,
    /// Times in a zone the file describes, read as UTC at the end of the file.
    zoned: Vec<Zoned>,
}

/// A local time in a named zone: (field, property, local time, TZID).
struct Zoned {
    field: &'static str,
    property: String,
    local: NaiveDateTime,
    tzid: String,
}

impl Open {
    fn read_property(&mut self, line: &ContentLine) {
        let todo = self.entry.todo;
        let entry = &mut self.entry;
        let text = || Value::String(unescape(&line.value));
        match line.name.as_str() {
            "UID" => entry.uid = Some(unescape(&line.value).trim().to_owned()),
            "SUMMARY" => {
                entry.fields.insert("subject".into(), text());
            }
            "DESCRIPTION" => {
                entry.fields.insert("description".into(), text());
            }
            "LOCATION" => {
                entry.fields.insert("location".into(), text());
            }
            "DTSTART" => self.put_time("starts_at", line),
            "DTEND" if !todo => self.put_time("ends_at", line),
            "DUE" if todo => self.put_time("ends_at", line),
            "DURATION" => match parse_duration(&line.value) {
                Some(d) => self.duration = Some(d),
                None => entry
                    .errors
                    .push(FieldError::new("DURATION", "is not an iCalendar duration")),
            },
            "STATUS" if todo => {
                let done = line.value.trim().eq_ignore_ascii_case("COMPLETED");
                entry.fields.insert("done".into(), Value::Bool(done));
            }
            "COMPLETED" if todo => {
                entry.fields.insert("done".into(), Value::Bool(true));
            }
            "X-CARNET-DONE" => {
                let done = line.value.trim().eq_ignore_ascii_case("TRUE");
                entry.fields.insert("done".into(), Value::Bool(done));
            }
            "X-CARNET-CONTACT" => entry.contact_id = Some(line.value.trim().to_owned()),
            "X-CARNET-KIND" => {
                entry
                    .fields
                    .insert("kind".into(), Value::String(line.value.trim().to_owned()));
            }
            "ATTENDEE" => {
                let value = line.value.trim();
                let address = value
                    .get(..7)
                    .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
                    .map(|_| value[7..].trim().to_lowercase());
                match address {
                    Some(a) if !a.is_empty() => entry.attendees.push(a),
                    _ => entry.notes.push(format!(
                        "attendee {value} has no e-mail address; not linked"
                    )),
                }
            }
            "RRULE" | "RDATE" if !entry.notes.iter().any(|n| n.starts_with("repeats")) => {
                entry
                    .notes
                    .push("repeats (RRULE): only its first occurrence was imported".into());
            }
            _ => {}
        }
    }
}

/// A time as the file gives it: in UTC already (with a remark, for a floating time read as
/// UTC), or local to a zone the file describes.
enum When {
    Utc(DateTime<Utc>, Option<String>),
    Zoned(NaiveDateTime, String),
}

impl Open {
    /// Reads a DATE-TIME or DATE into `field`. A date alone is midnight UTC; as an end it is
    /// already exclusive (the day after an all-day event), as RFC 5545 writes it.
    fn put_time(&mut self, field: &'static str, line: &ContentLine) {
        let entry = &mut self.entry;
        match parse_time(line) {
            Ok(When::Utc(t, note)) => {
                entry
                    .fields
                    .insert(field.into(), Value::String(t.to_rfc3339()));
                entry.notes.extend(note);
            }
            Ok(When::Zoned(local, tzid)) => self.zoned.push(Zoned {
                field,
                property: line.name.clone(),
                local,
                tzid,
            }),
            Err(message) => entry
                .errors
                .push(FieldError::new(line.name.clone(), message)),
        }
    }
}

fn parse_time(line: &ContentLine) -> Result<When, String> {
    let value = line.value.trim();
    let date_only = line
        .param("VALUE")
        .is_some_and(|v| v.eq_ignore_ascii_case("DATE"))
        || (value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit()));
    if date_only {
        let date = NaiveDate::parse_from_str(value, "%Y%m%d")
            .map_err(|_| format!("`{value}` is not a date (YYYYMMDD)"))?;
        let midnight = Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN));
        return Ok(When::Utc(midnight, None));
    }
    let (local, zulu) = match value.strip_suffix(['Z', 'z']) {
        Some(v) => (v, true),
        None => (value, false),
    };
    let naive = NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S")
        .map_err(|_| format!("`{value}` is not a date and time (YYYYMMDDTHHMMSS[Z])"))?;
    if zulu {
        return Ok(When::Utc(Utc.from_utc_datetime(&naive), None));
    }
    match line.param("TZID") {
        Some(tz) if is_utc_zone(tz) => Ok(When::Utc(Utc.from_utc_datetime(&naive), None)),
        Some(tz) => Ok(When::Zoned(naive, tz.trim().to_owned())),
        None => Ok(When::Utc(
            Utc.from_utc_datetime(&naive),
            Some(format!(
                "{} `{value}` has no time zone; read as UTC",
                line.name
            )),
        )),
    }
}

fn is_utc_zone(tz: &str) -> bool {
    let tz = tz.trim().trim_start_matches('/');
    ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "Zulu", "Universal"]
        .iter()
        .any(|u| u.eq_ignore_ascii_case(tz))
}

/// `[+]P nW` or `[+]P [nD] [T [nH] [nM] [nS]]` (RFC 5545 §3.3.6); negative durations are
/// refused, an end comes after its start.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let mut rest = s.strip_prefix(['P', 'p'])?;
    let mut total = Duration::zero();
    let mut in_time = false;
    let mut any = false;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix(['T', 't']) {
            if in_time {
                return None;
            }
            in_time = true;
            rest = r;
            continue;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?.to_ascii_uppercase();
        let part = match (unit, in_time) {
            ('W', false) => Duration::weeks(n),
            ('D', false) => Duration::days(n),
            ('H', true) => Duration::hours(n),
            ('M', true) => Duration::minutes(n),
            ('S', true) => Duration::seconds(n),
            _ => return None,
        };
        total = total.checked_add(&part)?;
        any = true;
        rest = &rest[digits + 1..];
    }
    any.then_some(total)
}

impl Open {
    /// The entry, its zoned times read as UTC with the file's `zones`, with its kind by
    /// default (a to-do is a task, an event a meeting) and its end from `DURATION` when it
    /// gave no end of its own.
    fn finish(self, zones: &Zones) -> CalendarEntry {
        let mut entry = self.entry;
        for z in self.zoned {
            match zones.to_utc(&z.tzid, z.local) {
                Ok(t) => {
                    entry
                        .fields
                        .insert(z.field.into(), Value::String(t.to_rfc3339()));
                }
                Err(message) => entry.errors.push(FieldError::new(z.property, message)),
            }
        }
        if !entry.fields.contains_key("kind") {
            let kind = if entry.todo { "task" } else { "meeting" };
            entry
                .fields
                .insert("kind".into(), Value::String(kind.into()));
        }
        let start = entry
            .fields
            .get("starts_at")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        if let (Some(d), Some(start)) = (self.duration, start)
            && !entry.fields.contains_key("ends_at")
            && let Some(end) = start.checked_add_signed(d)
        {
            entry
                .fields
                .insert("ends_at".into(), Value::String(end.to_rfc3339()));
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_core::activity::ActivityInput;
    use carnet_core::{ActivityId, ActivityKind, ContactId};
    use serde_json::json;

    fn activity(kind: ActivityKind, done: bool) -> Activity {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Activity {
            id: ActivityId::new(),
            uid: "abc-123@example.com".into(),
            kind,
            subject: "Bilan, annuel; « été »".into(),
            description: Some("Ligne 1\nLigne 2 \\ fin".into()),
            location: Some("Salle Ève".into()),
            starts_at: t("2026-11-26T14:00:00Z"),
            ends_at: Some(t("2026-11-26T15:30:00Z")),
            done,
            contact_id: Some(ContactId::new()),
            owner_id: None,
            version: 3,
            created_at: t("2026-11-01T08:00:00Z"),
            updated_at: t("2026-11-02T08:00:00Z"),
            deleted_at: None,
        }
    }

    fn write(items: &[Activity]) -> Vec<u8> {
        let mut w = CalendarWriter::new(Vec::new()).unwrap();
        for a in items {
            let at = Attendee {
                name: "Zoé \"Z\" Dupont; RH",
                email: "zoe@exemple.fr",
            };
            w.write(a, Some(at)).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn what_it_writes_reads_back_the_same() {
        let items = [
            activity(ActivityKind::Meeting, true),
            activity(ActivityKind::Task, true),
            activity(ActivityKind::Call, false),
        ];
        let bytes = write(&items);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.lines().all(|l| l.len() <= 76), "folded at 75 octets");
        assert!(text.contains("BEGIN:VTODO") && text.contains("STATUS:COMPLETED"));
        assert!(text.contains("ATTENDEE;CN=\"Zoé 'Z' Dupont; RH\":mailto:zoe@exemple.fr"));
        let entries = read_calendar(&bytes).unwrap();
        assert_eq!(entries.len(), 3);
        for (entry, a) in entries.iter().zip(&items) {
            assert_eq!(entry.uid.as_deref(), Some("abc-123@example.com"));
            assert_eq!(entry.attendees, ["zoe@exemple.fr"]);
            let contact = a.contact_id.map(|c| c.to_string());
            assert_eq!(entry.contact_id, contact);
            assert!(
                entry.errors.is_empty() && entry.notes.is_empty(),
                "{entry:?}"
            );
            let mut input = ActivityInput::from_json(&Value::Object(entry.fields.clone())).unwrap();
            input.contact_id = a.contact_id;
            assert_eq!(input, a.input());
        }
    }

    #[test]
    fn reads_other_calendars_events() {
        let ics = "\u{feff}BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VTIMEZONE\nTZID:Europe/Paris\nEND:VTIMEZONE\n\
            BEGIN:VEVENT\nUID:g1@google.com\nDTSTART;VALUE=DATE:20261224\nDTEND;VALUE=DATE:20261226\n\
            SUMMARY:Fermeture\\, Noël\nRRULE:FREQ=YEARLY\nBEGIN:VALARM\nDESCRIPTION:Rappel\nEND:VALARM\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:o2\nDTSTART:20261126T090000\nDURATION:PT1H30M\nSUMMARY:Appel\n long\n\
            ATTENDEE;ROLE=REQ-PARTICIPANT;CN=\"A: B\":MAILTO:Ana@Exemple.FR\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:o3\nDTSTART;TZID=Europe/Paris:20261126T090000\nSUMMARY:Zoned\nEND:VEVENT\n\
            END:VCALENDAR\n";
        let e = read_calendar(ics.as_bytes()).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].fields["subject"], "Fermeture, Noël");
        assert_eq!(e[0].fields["starts_at"], "2026-12-24T00:00:00+00:00");
        assert_eq!(e[0].fields["ends_at"], "2026-12-26T00:00:00+00:00");
        assert!(
            !e[0].fields.contains_key("description"),
            "the alarm's text is not the event's"
        );
        assert_eq!(e[0].notes.len(), 1, "{:?}", e[0].notes);
        assert_eq!(e[1].line, 16);
        assert_eq!(e[1].fields["subject"], "Appellong");
        assert_eq!(e[1].fields["ends_at"], "2026-11-26T10:30:00+00:00");
        assert_eq!(e[1].attendees, ["ana@exemple.fr"]);
        assert!(e[1].notes[0].contains("no time zone"));
        assert_eq!(e[2].errors[0].field, "DTSTART");
        assert_eq!(e[2].fields["kind"], json!("meeting"));
    }

    #[test]
    fn refuses_what_is_not_a_calendar() {
        for (bytes, line) in [
            (&b"hello"[..], 1),
            (b"BEGIN:VCARD\r\nEND:VCARD\r\n", 1),
            (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", 2),
            (b"BEGIN:VCALENDAR\r\nEND:VEVENT\r\n", 2),
            (b"BEGIN:VCALENDAR\r\nSUMMARY\xff\r\n", 2),
            (b"", 1),
        ] {
            let e = read_calendar(bytes).unwrap_err();
            assert_eq!(e.line, line, "{e}");
        }
    }

    #[test]
    fn reads_zoned_times_with_the_file_s_own_zones() {
        // As Outlook writes it: the zone after the event, under its Windows name.
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:w1\r\nSUMMARY:Hiver\r\n\
            DTSTART;TZID=\"Romance Standard Time\":20261201T090000\r\n\
            DTEND;TZID=\"Romance Standard Time\":20261201T100000\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:s1\r\nSUMMARY:Été\r\nDTSTART;TZID=Romance Standard Time:20260701T090000\r\nEND:VEVENT\r\n\
            BEGIN:VTIMEZONE\r\nTZID:Romance Standard Time\r\n\
            BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n\
            RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n\
            BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n\
            RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n";
        let e = read_calendar(ics.as_bytes()).unwrap();
        assert!(e[0].errors.is_empty(), "{:?}", e[0].errors);
        assert_eq!(e[0].fields["starts_at"], "2026-12-01T08:00:00+00:00");
        assert_eq!(e[0].fields["ends_at"], "2026-12-01T09:00:00+00:00");
        assert_eq!(e[1].fields["starts_at"], "2026-07-01T07:00:00+00:00");
        assert!(e[1].notes.is_empty(), "a zoned time is no floating time");
    }

    #[test]
    fn refuses_components_nested_too_deep() {
        let mut ics = String::from("BEGIN:VCALENDAR\n");
        for _ in 0..MAX_DEPTH {
            ics.push_str("BEGIN:X\n");
        }
        let e = read_calendar(ics.as_bytes()).unwrap_err();
        assert_eq!(e.line, MAX_DEPTH + 1);
        assert!(e.message.contains("nested"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("P1W"), Some(Duration::weeks(1)));
        assert_eq!(parse_duration("+P1DT2S"), Some(Duration::seconds(86_402)));
        for bad in [
            "",
            "P",
            "-PT1H",
            "PT",
            "P1H",
            "PT1D",
            "P9999999999D",
            "PTT1H",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
