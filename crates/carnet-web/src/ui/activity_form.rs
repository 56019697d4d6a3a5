//! The form on a contact's page that logs an activity with that contact: what was typed,
//! given back with each field's error when it is refused, and the API body it becomes.

use carnet_core::activity::ActivityKind;
use carnet_core::{ContactId, ValidationErrors};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// The fields the form shows, in the API's names.
const FIELDS: [&str; 7] = [
    "kind",
    "subject",
    "starts_at",
    "ends_at",
    "location",
    "description",
    "done",
];

/// What the form holds.
pub struct ActivityForm {
    pub kind: String,
    pub subject: String,
    /// `datetime-local` values, read as UTC like every time the interface shows.
    pub starts_at: String,
    pub ends_at: String,
    pub location: String,
    pub description: String,
    pub done: bool,
    errors: ValidationErrors,
}

impl ActivityForm {
    fn empty() -> Self {
        Self {
            kind: ActivityKind::Call.as_str().into(),
            subject: String::new(),
            starts_at: String::new(),
            ends_at: String::new(),
            location: String::new(),
            description: String::new(),
            done: false,
            errors: ValidationErrors::default(),
        }
    }

    /// A form to fill in: a call, starting now.
    pub fn blank(now: DateTime<Utc>) -> Self {
        Self {
            starts_at: now.format("%Y-%m-%dT%H:%M").to_string(),
            ..Self::empty()
        }
    }

    /// The form as submitted; a field sent twice keeps its last value.
    pub fn read(fields: &[(String, String)]) -> Self {
        let mut form = Self::empty();
        for (key, value) in fields {
            let value = value.clone();
            match key.as_str() {
                "kind" => form.kind = value,
                "subject" => form.subject = value,
                "starts_at" => form.starts_at = value,
                "ends_at" => form.ends_at = value,
                "location" => form.location = value,
                "description" => form.description = value,
                "done" => form.done = true,
                _ => {}
            }
        }
        form
    }

    /// The body of `POST /api/v1/activities` for an activity with `contact`: empty optional
    /// fields are left out; a time the form cannot read is passed on as typed, so that the
    /// validation names its field.
    pub fn body(&self, contact: ContactId) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), Value::from(self.kind.clone()));
        m.insert("subject".into(), Value::from(self.subject.clone()));
        for (name, local) in [("starts_at", &self.starts_at), ("ends_at", &self.ends_at)] {
            if let Some(at) = utc(local) {
                m.insert(name.into(), Value::from(at));
            }
        }
        for (name, text) in [
            ("location", &self.location),
            ("description", &self.description),
        ] {
            if !text.trim().is_empty() {
                m.insert(name.into(), Value::from(text.clone()));
            }
        }
        m.insert("done".into(), Value::from(self.done));
        m.insert("contact_id".into(), Value::from(contact.to_string()));
        Value::Object(m)
    }

    /// The same form, showing why it was refused.
    pub fn refused(mut self, errors: ValidationErrors) -> Self {
        self.errors = errors;
        self
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The error about `field`, if any.
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.for_field(field)
    }

    /// Errors about no field the form shows (`field: message`), listed above it.
    pub fn other_errors(&self) -> Vec<String> {
        self.errors
            .0
            .iter()
            .filter(|e| !FIELDS.contains(&e.field.as_str()))
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }
}

/// A `datetime-local` value (`2026-12-01T09:30`, seconds optional) as RFC 3339 in UTC;
/// anything else as typed; `None` when empty.
fn utc(local: &str) -> Option<String> {
    let local = local.trim();
    if local.is_empty() {
        return None;
    }
    let parsed = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S"));
    Some(match parsed {
        Ok(at) => at.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true),
        Err(_) => local.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_submitted_form_becomes_the_api_body() {
        let contact = ContactId::new();
        let form = ActivityForm::read(&fields(&[
            ("_csrf", "x"),
            ("kind", "meeting"),
            ("subject", "Bilan"),
            ("starts_at", "2026-12-01T09:30"),
            ("ends_at", "2026-12-01T10:15:30"),
            ("location", "  "),
            ("description", "Ordre du jour"),
            ("done", "on"),
        ]));
        assert_eq!(
            form.body(contact),
            json!({
                "kind": "meeting", "subject": "Bilan",
                "starts_at": "2026-12-01T09:30:00Z", "ends_at": "2026-12-01T10:15:30Z",
                "description": "Ordre du jour", "done": true, "contact_id": contact.to_string()
            })
        );
    }

    #[test]
    fn unreadable_or_missing_times_are_left_to_the_validation() {
        let form = ActivityForm::read(&fields(&[("starts_at", "demain"), ("ends_at", "")]));
        let body = form.body(ContactId::new());
        assert_eq!(body["starts_at"], "demain");
        assert!(body.get("ends_at").is_none());
        assert_eq!(body["done"], false);
        let empty = ActivityForm::read(&[]).body(ContactId::new());
        assert!(empty.get("starts_at").is_none());
    }

    #[test]
    fn refusals_are_shown_by_field_and_the_rest_above() {
        let mut errors = ValidationErrors::default();
        errors.push("subject", "is required");
        errors.push("owner_id", "is not a member of this workspace");
        let form = ActivityForm::read(&[]).refused(errors);
        assert!(form.has_errors());
        assert_eq!(form.error("subject"), Some("is required"));
        assert_eq!(form.error("starts_at"), None);
        assert_eq!(
            form.other_errors(),
            ["owner_id: is not a member of this workspace"]
        );
    }
}
