//! The activity form: on a contact's page it logs an activity with that contact, on an
//! activity's edit page it changes one. What was typed is given back with each field's error
//! when it is refused; it becomes the API body of a create, or a merge patch of what changed.

use carnet_core::activity::{Activity, ActivityKind};
use carnet_core::{ContactId, ValidationErrors};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Timelike, Utc};
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

    /// The form showing `activity` as it is. Times keep their seconds when they have some;
    /// finer parts are not shown (an unchanged time is not sent back: see [`Self::patch`]).
    pub fn of(activity: &Activity) -> Self {
        Self {
            kind: activity.kind.as_str().into(),
            subject: activity.subject.clone(),
            starts_at: local(activity.starts_at),
            ends_at: activity.ends_at.map(local).unwrap_or_default(),
            location: activity.location.clone().unwrap_or_default(),
            description: activity.description.clone().unwrap_or_default(),
            done: activity.done,
            errors: ValidationErrors::default(),
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

    /// The merge patch (`PATCH /api/v1/activities/{id}`) of what this form changes in
    /// `shown`, the form of the activity as it was: only the fields whose text differs, so
    /// that a time shown without its fractions of a second is not rewritten; an emptied
    /// optional field becomes `null`.
    pub fn patch(&self, shown: &ActivityForm) -> Value {
        let mut m = Map::new();
        for (name, now, was) in [
            ("kind", &self.kind, &shown.kind),
            ("subject", &self.subject, &shown.subject),
        ] {
            if now != was {
                m.insert(name.into(), Value::from(now.clone()));
            }
        }
        for (name, now, was) in [
            ("starts_at", &self.starts_at, &shown.starts_at),
            ("ends_at", &self.ends_at, &shown.ends_at),
        ] {
            if now.trim() != was.trim() {
                m.insert(name.into(), utc(now).map_or(Value::Null, Value::from));
            }
        }
        for (name, now, was) in [
            ("location", &self.location, &shown.location),
            ("description", &self.description, &shown.description),
        ] {
            if now != was {
                let value = Some(now.clone()).filter(|t| !t.trim().is_empty());
                m.insert(name.into(), value.map_or(Value::Null, Value::from));
            }
        }
        if self.done != shown.done {
            m.insert("done".into(), Value::from(self.done));
        }
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

/// A time as a `datetime-local` value, in UTC, with seconds only when it has some.
fn local(at: DateTime<Utc>) -> String {
    if at.second() == 0 {
        at.format("%Y-%m-%dT%H:%M").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S").to_string()
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

    fn activity() -> Activity {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Activity {
            id: carnet_core::ActivityId::new(),
            uid: "uid".into(),
            kind: ActivityKind::Meeting,
            subject: "Bilan".into(),
            description: Some("Ordre du jour".into()),
            location: Some("Salle B".into()),
            starts_at: at("2026-12-01T09:30:15.123456Z"),
            ends_at: Some(at("2026-12-01T10:00:00Z")),
            done: false,
            contact_id: None,
            owner_id: None,
            version: 3,
            created_at: at("2026-11-01T00:00:00Z"),
            updated_at: at("2026-11-01T00:00:00Z"),
            deleted_at: None,
        }
    }

    #[test]
    fn an_activity_is_shown_as_it_is() {
        let form = ActivityForm::of(&activity());
        assert_eq!(form.kind, "meeting");
        assert_eq!(form.starts_at, "2026-12-01T09:30:15");
        assert_eq!(form.ends_at, "2026-12-01T10:00");
        assert_eq!(form.location, "Salle B");
        assert!(!form.done);
    }

    #[test]
    fn an_edit_patches_only_what_changed() {
        let shown = ActivityForm::of(&activity());
        let same = ActivityForm::read(&fields(&[
            ("kind", "meeting"),
            ("subject", "Bilan"),
            ("starts_at", "2026-12-01T09:30:15"),
            ("ends_at", "2026-12-01T10:00"),
            ("location", "Salle B"),
            ("description", "Ordre du jour"),
        ]));
        assert_eq!(
            same.patch(&shown),
            json!({}),
            "nothing changed, nothing sent"
        );
        let changed = ActivityForm::read(&fields(&[
            ("kind", "call"),
            ("subject", "Bilan"),
            ("starts_at", "2026-12-01T09:30:15"),
            ("ends_at", ""),
            ("location", " "),
            ("description", "Ordre du jour"),
            ("done", "on"),
        ]));
        assert_eq!(
            changed.patch(&shown),
            json!({"kind": "call", "ends_at": null, "location": null, "done": true})
        );
        let moved = ActivityForm::read(&fields(&[
            ("kind", "meeting"),
            ("subject", ""),
            ("starts_at", "2026-12-02T08:00"),
            ("ends_at", "2026-12-01T10:00"),
            ("location", "Salle B"),
            ("description", "Ordre du jour"),
        ]));
        assert_eq!(
            moved.patch(&shown),
            json!({"subject": "", "starts_at": "2026-12-02T08:00:00Z"})
        );
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
