//! Activities: a call, meeting, task or e-mail on the tenant's calendar, usually about one
//! contact, and the rules its fields obey.

use crate::contact::MAX_TEXT;
use crate::ids::{ActivityId, ContactId, UserId};
use crate::validation::ValidationErrors;
use chrono::{DateTime, Datelike, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Longest accepted description, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;
/// The years an activity may fall in: four digits, as iCalendar writes them.
pub const YEARS: std::ops::RangeInclusive<i32> = 1000..=9999;

/// What sort of activity it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivityKind {
    Call,
    Meeting,
    Task,
    Email,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 4] = [Self::Call, Self::Meeting, Self::Task, Self::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Meeting => "meeting",
            Self::Task => "task",
            Self::Email => "email",
        }
    }
}

impl fmt::Display for ActivityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of: call, meeting, task, email")]
pub struct UnknownKind;

impl FromStr for ActivityKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(UnknownKind)
    }
}

/// A stored activity, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: ActivityId,
    /// Its iCalendar UID: the id for an activity made in Carnet, the source calendar's UID
    /// for one imported from elsewhere (importing that calendar again updates it).
    pub uid: String,
    pub kind: ActivityKind,
    pub subject: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub done: bool,
    pub contact_id: Option<ContactId>,
    pub owner_id: Option<UserId>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Activity {
    /// The UID of the calendar it was imported from, if it came from one.
    pub fn source_uid(&self) -> Option<&str> {
        Some(self.uid.as_str()).filter(|uid| *uid != self.id.to_string())
    }

    /// Its writable fields, the base of a merge patch.
    pub fn input(&self) -> ActivityInput {
        ActivityInput {
            kind: self.kind,
            subject: self.subject.clone(),
            description: self.description.clone(),
            location: self.location.clone(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            done: self.done,
            contact_id: self.contact_id,
            owner_id: self.owner_id,
        }
    }
}

/// The writable fields of an activity, validated and normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityInput {
    pub kind: ActivityKind,
    pub subject: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub done: bool,
    pub contact_id: Option<ContactId>,
    pub owner_id: Option<UserId>,
}

/// The names of the writable fields, in the order the API documents them.
pub const WRITABLE_FIELDS: [&str; 9] = [
    "kind",
    "subject",
    "description",
    "location",
    "starts_at",
    "ends_at",
    "done",
    "contact_id",
    "owner_id",
];

/// The members read from a JSON object, each still optional.
#[derive(Default)]
struct Members {
    kind: Option<ActivityKind>,
    subject: Option<String>,
    description: Option<String>,
    location: Option<String>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    done: Option<bool>,
    contact_id: Option<ContactId>,
    owner_id: Option<UserId>,
}

impl ActivityInput {
    /// Checks each member of a JSON object (a merge patch) on its own, without requiring the
    /// object to describe a whole activity.
    pub fn check_members(body: &Value) -> Result<(), ValidationErrors> {
        let (_, errors) = read(body);
        errors.into_result(())
    }

    /// Reads and validates a JSON object; every problem is reported with the field at fault.
    pub fn from_json(body: &Value) -> Result<Self, ValidationErrors> {
        let (m, mut errors) = read(body);
        let mut require = |missing: bool, field: &str, message: &str| {
            // A member present but invalid was reported already.
            if missing && errors.for_field(field).is_none() {
                errors.push(field, message);
            }
        };
        require(
            m.kind.is_none(),
            "kind",
            "is required: call, meeting, task or email",
        );
        require(m.subject.is_none(), "subject", "is required");
        require(
            m.starts_at.is_none(),
            "starts_at",
            "is required (RFC 3339, e.g. 2026-11-26T14:00:00Z)",
        );
        if let (Some(start), Some(end)) = (m.starts_at, m.ends_at)
            && end < start
        {
            errors.push("ends_at", "must not be before starts_at");
        }
        match (m.kind, m.subject, m.starts_at) {
            (Some(kind), Some(subject), Some(starts_at)) if errors.is_empty() => {
                Ok(ActivityInput {
                    kind,
                    subject,
                    description: m.description,
                    location: m.location,
                    starts_at,
                    ends_at: m.ends_at,
                    done: m.done.unwrap_or(false),
                    contact_id: m.contact_id,
                    owner_id: m.owner_id,
                })
            }
            _ => Err(errors),
        }
    }

    /// The writable fields as a JSON object: the base a merge patch applies to.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), Value::from(self.kind.as_str()));
        m.insert("subject".into(), Value::from(self.subject.clone()));
        if let Some(d) = &self.description {
            m.insert("description".into(), Value::from(d.clone()));
        }
        if let Some(l) = &self.location {
            m.insert("location".into(), Value::from(l.clone()));
        }
        m.insert("starts_at".into(), Value::from(self.starts_at.to_rfc3339()));
        if let Some(e) = self.ends_at {
            m.insert("ends_at".into(), Value::from(e.to_rfc3339()));
        }
        m.insert("done".into(), Value::from(self.done));
        if let Some(c) = self.contact_id {
            m.insert("contact_id".into(), Value::from(c.to_string()));
        }
        if let Some(o) = self.owner_id {
            m.insert("owner_id".into(), Value::from(o.to_string()));
        }
        Value::Object(m)
    }

    /// The writable fields whose value differs from `other`'s, in [`WRITABLE_FIELDS`] order.
    pub fn changed_fields(&self, other: &ActivityInput) -> Vec<String> {
        let differs = [
            self.kind != other.kind,
            self.subject != other.subject,
            self.description != other.description,
            self.location != other.location,
            self.starts_at != other.starts_at,
            self.ends_at != other.ends_at,
            self.done != other.done,
            self.contact_id != other.contact_id,
            self.owner_id != other.owner_id,
        ];
        WRITABLE_FIELDS
            .iter()
            .zip(differs)
            .filter(|(_, d)| *d)
            .map(|(f, _)| (*f).to_owned())
            .collect()
    }

    /// Every writable field, as the audit log of a creation lists them.
    pub fn set_fields(&self) -> Vec<String> {
        let set = [
            true,
            true,
            self.description.is_some(),
            self.location.is_some(),
            true,
            self.ends_at.is_some(),
            self.done,
            self.contact_id.is_some(),
            self.owner_id.is_some(),
        ];
        WRITABLE_FIELDS
            .iter()
            .zip(set)
            .filter(|(_, s)| *s)
            .map(|(f, _)| (*f).to_owned())
            .collect()
    }
}

/// The members of a JSON object, and the problems with those that are present.
fn read(body: &Value) -> (Members, ValidationErrors) {
    let mut errors = ValidationErrors::default();
    let Value::Object(members) = body else {
        errors.push("", "the body must be a JSON object");
        return (Members::default(), errors);
    };
    let mut m = Members::default();
    for (key, value) in members {
        if value.is_null() {
            if !WRITABLE_FIELDS.contains(&key.as_str()) {
                errors.push(key, unknown_field_message(key));
            }
            continue;
        }
        match key.as_str() {
            "kind" => match value.as_str().map(str::parse::<ActivityKind>) {
                Some(Ok(k)) => m.kind = Some(k),
                _ => errors.push(key, UnknownKind.to_string()),
            },
            "subject" => m.subject = line(value, key, MAX_TEXT, &mut errors),
            "location" => m.location = line(value, key, MAX_TEXT, &mut errors),
            "description" => m.description = paragraph(value, key, &mut errors),
            "starts_at" => m.starts_at = time(value, key, &mut errors),
            "ends_at" => m.ends_at = time(value, key, &mut errors),
            "done" => match value.as_bool() {
                Some(b) => m.done = Some(b),
                None => errors.push(key, "must be true or false"),
            },
            "contact_id" => m.contact_id = uuid(value, key, &mut errors).map(ContactId),
            "owner_id" => m.owner_id = uuid(value, key, &mut errors).map(UserId),
            _ => errors.push(key, unknown_field_message(key)),
        }
    }
    (m, errors)
}

fn unknown_field_message(key: &str) -> String {
    match key {
        "id" | "version" | "created_at" | "updated_at" | "deleted_at" => {
            format!("`{key}` is read-only")
        }
        _ => format!(
            "unknown field `{key}`; expected one of: {}",
            WRITABLE_FIELDS.join(", ")
        ),
    }
}

/// One line of text, not blank, without control characters, at most `max` characters.
fn line(value: &Value, field: &str, max: usize, errors: &mut ValidationErrors) -> Option<String> {
    let Some(s) = value.as_str() else {
        errors.push(field, "must be a string");
        return None;
    };
    if s.chars().any(char::is_control) {
        errors.push(field, "must not contain control characters");
        return None;
    }
    checked_length(s, field, max, errors)
}

/// Text over several lines: line breaks and tabs are kept, other control characters refused.
fn paragraph(value: &Value, field: &str, errors: &mut ValidationErrors) -> Option<String> {
    let Some(s) = value.as_str() else {
        errors.push(field, "must be a string");
        return None;
    };
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(
            field,
            "must not contain control characters other than line breaks and tabs",
        );
        return None;
    }
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    checked_length(&s, field, MAX_DESCRIPTION, errors)
}

fn checked_length(
    s: &str,
    field: &str,
    max: usize,
    errors: &mut ValidationErrors,
) -> Option<String> {
    if s.chars().count() > max {
        errors.push(field, format!("must be at most {max} characters"));
        return None;
    }
    let s = s.trim();
    if s.is_empty() {
        errors.push(field, "must not be blank");
        return None;
    }
    Some(s.to_owned())
}

/// An RFC 3339 time with its offset, kept to the microsecond (what both databases store).
fn time(value: &Value, field: &str, errors: &mut ValidationErrors) -> Option<DateTime<Utc>> {
    let parsed = value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    match parsed {
        Some(t) => {
            let t = t.with_timezone(&Utc).trunc_subsecs(6);
            if YEARS.contains(&t.year()) {
                Some(t)
            } else {
                errors.push(field, "must fall between the years 1000 and 9999");
                None
            }
        }
        None => {
            errors.push(
                field,
                "must be an RFC 3339 date and time with its offset, e.g. 2026-11-26T14:00:00+01:00",
            );
            None
        }
    }
}

fn uuid(value: &Value, field: &str, errors: &mut ValidationErrors) -> Option<Uuid> {
    match value.as_str().map(Uuid::parse_str) {
        Some(Ok(u)) => Some(u),
        _ => {
            errors.push(field, "must be a UUID");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: ValidationErrors) -> Vec<String> {
        e.0.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn accepts_and_normalises_a_full_activity() {
        let input = ActivityInput::from_json(&json!({
            "kind": "meeting", "subject": "  Bilan annuel ", "description": "Ordre du jour :\r\n- comptes\r\n",
            "location": "Lyon", "starts_at": "2026-11-26T14:00:00.1234567+01:00",
            "ends_at": "2026-11-26T15:00:00+01:00", "done": true,
            "contact_id": "0193a1c2-0000-7000-8000-000000000001"
        }))
        .unwrap();
        assert_eq!(input.kind, ActivityKind::Meeting);
        assert_eq!(input.subject, "Bilan annuel");
        assert_eq!(
            input.description.as_deref(),
            Some("Ordre du jour :\n- comptes")
        );
        assert_eq!(
            input.starts_at.to_rfc3339(),
            "2026-11-26T13:00:00.123456+00:00"
        );
        assert!(input.done);
        let again = ActivityInput::from_json(&input.to_json()).unwrap();
        assert_eq!(again, input);
    }

    #[test]
    fn names_every_field_at_fault() {
        let e = ActivityInput::from_json(&json!({
            "kind": "lunch", "subject": "", "starts_at": "tomorrow", "ends_at": "2026-01-01T00:00:00",
            "done": "yes", "contact_id": "x", "colour": "red", "id": "y"
        }))
        .unwrap_err();
        let mut got = fields(e);
        got.sort();
        assert_eq!(
            got,
            [
                "colour",
                "contact_id",
                "done",
                "ends_at",
                "id",
                "kind",
                "starts_at",
                "subject"
            ]
        );
    }

    #[test]
    fn requires_kind_subject_and_start_and_an_end_after_it() {
        assert_eq!(
            fields(ActivityInput::from_json(&json!({})).unwrap_err()),
            ["kind", "subject", "starts_at"]
        );
        let e = ActivityInput::from_json(&json!({
            "kind": "call", "subject": "Relance", "starts_at": "2026-11-26T10:00:00Z",
            "ends_at": "2026-11-26T09:59:59Z"
        }))
        .unwrap_err();
        assert_eq!(fields(e), ["ends_at"]);
    }

    #[test]
    fn refuses_control_characters_and_far_years() {
        let e = ActivityInput::from_json(&json!({
            "kind": "task", "subject": "a\u{7}b", "description": "ok\u{0}",
            "starts_at": "0999-12-31T23:00:00Z"
        }))
        .unwrap_err();
        assert_eq!(fields(e), ["description", "starts_at", "subject"]);
    }

    #[test]
    fn changed_and_set_fields_follow_the_api_order() {
        let a = ActivityInput::from_json(&json!({
            "kind": "call", "subject": "A", "starts_at": "2026-11-26T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(a.set_fields(), ["kind", "subject", "starts_at"]);
        let mut b = a.clone();
        b.done = true;
        b.subject = "B".into();
        assert_eq!(a.changed_fields(&b), ["subject", "done"]);
    }
}
