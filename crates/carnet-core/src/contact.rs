//! Contacts: a person the tenant works with, and the rules its fields obey.

use crate::ids::{ContactId, UserId};
use crate::text::{digits, fold};
use crate::validation::ValidationErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Longest accepted name, job title or label, in characters.
pub const MAX_TEXT: usize = 200;
/// Longest accepted e-mail address (RFC 5321 path limit).
pub const MAX_EMAIL: usize = 254;
/// Longest accepted phone number as typed.
pub const MAX_PHONE: usize = 50;
/// Most e-mails, phones or tags on one contact.
pub const MAX_ITEMS: usize = 50;
/// Largest `custom` object, serialized, in bytes.
pub const MAX_CUSTOM_BYTES: usize = 16 * 1024;

/// An e-mail address or phone number with its label ("work", "home", "mobile", …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabeledValue {
    pub label: String,
    pub value: String,
}

/// A stored contact, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub emails: Vec<LabeledValue>,
    pub phones: Vec<LabeledValue>,
    pub company_id: Option<Uuid>,
    pub job_title: Option<String>,
    pub tags: Vec<String>,
    pub custom: Map<String, Value>,
    pub owner_id: Option<UserId>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The writable fields of a contact, validated and normalised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub emails: Vec<LabeledValue>,
    pub phones: Vec<LabeledValue>,
    pub company_id: Option<Uuid>,
    pub job_title: Option<String>,
    pub tags: Vec<String>,
    pub custom: Map<String, Value>,
    pub owner_id: Option<UserId>,
}

/// The names of the writable fields, in the order the API documents them.
pub const WRITABLE_FIELDS: [&str; 9] = [
    "first_name",
    "last_name",
    "emails",
    "phones",
    "company_id",
    "job_title",
    "tags",
    "custom",
    "owner_id",
];

impl ContactInput {
    /// The writable fields whose value differs from `other`'s, in [`WRITABLE_FIELDS`] order
    /// (the audit log's list of changes). Compared field by field: no JSON is built.
    pub fn changed_fields(&self, other: &ContactInput) -> Vec<String> {
        let differs = [
            self.first_name != other.first_name,
            self.last_name != other.last_name,
            self.emails != other.emails,
            self.phones != other.phones,
            self.company_id != other.company_id,
            self.job_title != other.job_title,
            self.tags != other.tags,
            self.custom != other.custom,
            self.owner_id != other.owner_id,
        ];
        WRITABLE_FIELDS
            .iter()
            .zip(differs)
            .filter(|(_, d)| *d)
            .map(|(f, _)| (*f).to_owned())
            .collect()
    }

    /// Checks each member of a JSON object (a merge patch) on its own, without requiring the
    /// object to describe a whole contact.
    pub fn check_members(body: &Value) -> Result<(), ValidationErrors> {
        Self::read(body).map(drop)
    }

    /// Reads and validates a JSON object; every problem is reported with the field at fault.
    pub fn from_json(body: &Value) -> Result<Self, ValidationErrors> {
        let input = Self::read(body)?;
        if input.first_name.is_none() && input.last_name.is_none() && input.emails.is_empty() {
            let mut errors = ValidationErrors::default();
            errors.push(
                "last_name",
                "a contact needs a first name, a last name or an e-mail address",
            );
            return Err(errors);
        }
        Ok(input)
    }

    fn read(body: &Value) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let Value::Object(members) = body else {
            errors.push("", "the body must be a JSON object");
            return Err(errors);
        };
        let mut input = ContactInput::default();
        for (key, value) in members {
            if value.is_null() {
                if !WRITABLE_FIELDS.contains(&key.as_str()) {
                    errors.push(key, unknown_field_message(key));
                }
                continue;
            }
            match key.as_str() {
                "first_name" => input.first_name = text(value, key, MAX_TEXT, &mut errors),
                "last_name" => input.last_name = text(value, key, MAX_TEXT, &mut errors),
                "job_title" => input.job_title = text(value, key, MAX_TEXT, &mut errors),
                "emails" => {
                    input.emails = labeled_values(value, key, &mut errors, (email, MAX_EMAIL))
                }
                "phones" => {
                    input.phones = labeled_values(value, key, &mut errors, (phone, MAX_PHONE))
                }
                "company_id" => input.company_id = uuid_field(value, key, &mut errors),
                "owner_id" => input.owner_id = uuid_field(value, key, &mut errors).map(UserId),
                "tags" => input.tags = tags(value, &mut errors),
                "custom" => input.custom = custom(value, &mut errors),
                _ => errors.push(key, unknown_field_message(key)),
            }
        }
        errors.into_result(input)
    }

    /// The writable fields as a JSON object: the base a merge patch applies to.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                m.insert(k.to_owned(), v);
            }
        };
        put("first_name", opt_str(&self.first_name));
        put("last_name", opt_str(&self.last_name));
        put(
            "emails",
            serde_json::to_value(&self.emails).unwrap_or(Value::Null),
        );
        put(
            "phones",
            serde_json::to_value(&self.phones).unwrap_or(Value::Null),
        );
        put(
            "company_id",
            self.company_id
                .map_or(Value::Null, |u| Value::String(u.to_string())),
        );
        put("job_title", opt_str(&self.job_title));
        put("tags", Value::from(self.tags.clone()));
        put("custom", Value::Object(self.custom.clone()));
        put(
            "owner_id",
            self.owner_id
                .map_or(Value::Null, |u| Value::String(u.to_string())),
        );
        Value::Object(m)
    }

    /// Folded text that search matches against: names, job title, e-mails, phones (also as digits).
    pub fn search_text(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.first_name.iter().map(|s| fold(s)));
        parts.extend(self.last_name.iter().map(|s| fold(s)));
        parts.extend(self.job_title.iter().map(|s| fold(s)));
        for e in &self.emails {
            parts.push(fold(&e.value));
        }
        for p in &self.phones {
            parts.push(fold(&p.value));
            parts.push(digits(&p.value));
        }
        parts.join(" ")
    }

    /// Folded sort keys (last name, first name): sorting ignores case and accents.
    pub fn sort_keys(&self) -> (String, String) {
        let f = |o: &Option<String>| o.as_deref().map(fold).unwrap_or_default();
        (f(&self.last_name), f(&self.first_name))
    }

    /// Folded e-mail addresses, for exact-match filters and de-duplication.
    pub fn email_keys(&self) -> Vec<String> {
        email_keys(&self.emails)
    }

    /// Folded tags, for exact-match filters.
    pub fn tag_keys(&self) -> Vec<String> {
        tag_keys(&self.tags)
    }
}

/// Lowercased addresses, sorted, each once: the keys of the e-mail index.
pub fn email_keys(emails: &[LabeledValue]) -> Vec<String> {
    let mut keys: Vec<String> = emails.iter().map(|e| e.value.to_lowercase()).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Folded tags, sorted, each once: the keys of the tag index.
pub fn tag_keys(tags: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = tags.iter().map(|t| fold(t)).collect();
    keys.sort();
    keys.dedup();
    keys
}

impl Contact {
    /// The writable part of this contact.
    pub fn input(&self) -> ContactInput {
        ContactInput {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            emails: self.emails.clone(),
            phones: self.phones.clone(),
            company_id: self.company_id,
            job_title: self.job_title.clone(),
            tags: self.tags.clone(),
            custom: self.custom.clone(),
            owner_id: self.owner_id,
        }
    }

    /// "First Last", or the first e-mail when the contact has no name.
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.emails
                .first()
                .map(|e| e.value.clone())
                .unwrap_or_default()
        } else {
            name
        }
    }
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

fn opt_str(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

/// Checks one line of text: a string, no control characters, at most `max` characters.
/// Blank text means "no value".
fn text(value: &Value, field: &str, max: usize, errors: &mut ValidationErrors) -> Option<String> {
    let Some(s) = value.as_str() else {
        errors.push(field, "must be a string");
        return None;
    };
    // Checked before trimming, so that the limits are exactly the documented ones.
    if s.chars().any(char::is_control) {
        errors.push(field, "must not contain control characters");
        return None;
    }
    if s.chars().count() > max {
        errors.push(field, format!("must be at most {max} characters"));
        return None;
    }
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn uuid_field(value: &Value, field: &str, errors: &mut ValidationErrors) -> Option<Uuid> {
    match value.as_str().map(Uuid::parse_str) {
        Some(Ok(u)) => Some(u),
        _ => {
            errors.push(field, "must be a UUID");
            None
        }
    }
}

type ValueCheck = fn(&str) -> Result<String, &'static str>;

fn labeled_values(
    value: &Value,
    field: &str,
    errors: &mut ValidationErrors,
    (check, max): (ValueCheck, usize),
) -> Vec<LabeledValue> {
    let Some(items) = value.as_array() else {
        errors.push(field, "must be an array of {label, value} objects");
        return Vec::new();
    };
    if items.len() > MAX_ITEMS {
        errors.push(field, format!("must have at most {MAX_ITEMS} items"));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Some(obj) = item.as_object() else {
            errors.push(
                &at,
                "must be an object with `value` and an optional `label`",
            );
            continue;
        };
        for key in obj.keys() {
            if key != "label" && key != "value" {
                errors.push(
                    format!("{at}.{key}"),
                    format!("unknown field `{key}`; expected label, value"),
                );
            }
        }
        let label = match obj.get("label") {
            None | Some(Value::Null) => Some("work".to_owned()),
            Some(l) => {
                text(l, &format!("{at}.label"), 50, errors).or_else(|| Some("work".to_owned()))
            }
        };
        let raw = match obj.get("value") {
            None | Some(Value::Null) => {
                errors.push(format!("{at}.value"), "is required");
                continue;
            }
            Some(v) => text(v, &format!("{at}.value"), max, errors),
        };
        match raw.map(|r| check(&r)) {
            Some(Ok(v)) => out.push(LabeledValue {
                label: label.unwrap_or_default(),
                value: v,
            }),
            Some(Err(message)) => errors.push(format!("{at}.value"), message),
            None => {
                if !errors.0.iter().any(|e| e.field.starts_with(&at)) {
                    errors.push(format!("{at}.value"), "must not be empty");
                }
            }
        }
    }
    out
}

/// An e-mail address: `local@domain`, a dot-atom local part (letters beyond ASCII allowed, as
/// internationalised addresses are real), and a domain of at least two non-empty labels of
/// letters, digits and hyphens.
pub fn email(s: &str) -> Result<String, &'static str> {
    const ATEXT: &str = "!#$%&'*+-/=?^_`{|}~";
    let local_ok = |local: &str| {
        (1..=64).contains(&local.len())
            && local.split('.').all(|atom| {
                !atom.is_empty()
                    && atom
                        .chars()
                        .all(|c| c.is_alphanumeric() || ATEXT.contains(c))
            })
    };
    let domain_ok = |domain: &str| {
        let labels: Vec<&str> = domain.split('.').collect();
        labels.len() >= 2
            && labels.iter().all(|label| {
                (1..=63).contains(&label.len())
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
    };
    let valid = s.len() <= MAX_EMAIL
        && s.rsplit_once('@')
            .is_some_and(|(local, domain)| local_ok(local) && domain_ok(domain));
    if valid {
        Ok(s.to_owned())
    } else {
        Err("is not a valid e-mail address")
    }
}

/// Phone numbers are kept as typed, but must look like one.
fn phone(s: &str) -> Result<String, &'static str> {
    let allowed = |c: char| c.is_ascii_digit() || " +-.()/x".contains(c);
    if s.chars().count() > MAX_PHONE {
        Err("must be at most 50 characters")
    } else if !s.chars().all(allowed) || !s.chars().any(|c| c.is_ascii_digit()) {
        Err("is not a valid phone number (digits, spaces and + - . ( ) / x)")
    } else {
        Ok(s.to_owned())
    }
}

fn tags(value: &Value, errors: &mut ValidationErrors) -> Vec<String> {
    let Some(items) = value.as_array() else {
        errors.push("tags", "must be an array of strings");
        return Vec::new();
    };
    if items.len() > MAX_ITEMS {
        errors.push("tags", format!("must have at most {MAX_ITEMS} items"));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(tag) = text(item, &format!("tags[{i}]"), 100, errors)
            && !out.iter().any(|t| fold(t) == fold(&tag))
        {
            out.push(tag);
        }
    }
    out
}

fn custom(value: &Value, errors: &mut ValidationErrors) -> Map<String, Value> {
    let Some(obj) = value.as_object() else {
        errors.push("custom", "must be an object");
        return Map::new();
    };
    if value.to_string().len() > MAX_CUSTOM_BYTES {
        errors.push(
            "custom",
            format!("must be at most {MAX_CUSTOM_BYTES} bytes"),
        );
        return Map::new();
    }
    if !numbers_in_range(value) {
        // Larger numbers do not survive every store exactly (PostgreSQL keeps them as decimals
        // that no longer fit a double when read back).
        errors.push("custom", "numbers must be between -10^15 and 10^15");
        return Map::new();
    }
    if contains_nul(value) {
        // Text with NUL cannot be stored faithfully (PostgreSQL refuses it in JSON and text).
        errors.push("custom", "must not contain NUL characters (\\u0000)");
        return Map::new();
    }
    obj.clone()
}

/// Largest magnitude of a number in `custom`.
pub const MAX_CUSTOM_NUMBER: f64 = 1e15;

/// Whether every number inside `value` is finite and below [`MAX_CUSTOM_NUMBER`].
fn numbers_in_range(value: &Value) -> bool {
    match value {
        Value::Number(n) => n
            .as_f64()
            .is_some_and(|x| x.is_finite() && x.abs() < MAX_CUSTOM_NUMBER),
        Value::Array(items) => items.iter().all(numbers_in_range),
        Value::Object(members) => members.values().all(numbers_in_range),
        _ => true,
    }
}

/// Whether any key or string inside `value` holds a NUL character.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(members) => members
            .iter()
            .any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_lists_what_differs_in_api_order() {
        let a = ContactInput::from_json(&json!({"last_name": "Durand", "tags": ["a"]})).unwrap();
        let b = ContactInput::from_json(
            &json!({"last_name": "Durand", "first_name": "Léa", "tags": ["a"], "custom": {"k": 1}}),
        )
        .unwrap();
        assert_eq!(a.changed_fields(&b), ["first_name", "custom"]);
        assert!(b.changed_fields(&b).is_empty());
        assert_eq!(
            ContactInput::default().changed_fields(&a),
            ["last_name", "tags"]
        );
    }

    #[test]
    fn accepts_and_normalises_a_full_contact() {
        let input = ContactInput::from_json(&json!({
            "first_name": "  Éloïse ",
            "last_name": "Lefèvre",
            "emails": [{"label": "work", "value": "eloise@example.fr"}, {"value": "e@home.fr"}],
            "phones": [{"label": "mobile", "value": "+33 6 12 34 56 78"}],
            "tags": ["VIP", "vip", "Client"],
            "custom": {"siren": "123456789"},
            "job_title": null
        }))
        .unwrap();
        assert_eq!(input.first_name.as_deref(), Some("Éloïse"));
        assert_eq!(input.emails[1].label, "work");
        assert_eq!(input.tags, vec!["VIP", "Client"]);
        assert!(input.search_text().contains("eloise lefevre"));
        assert!(input.search_text().contains("33612345678"));
        assert_eq!(input.sort_keys().0, "lefevre");
    }

    #[test]
    fn names_every_field_at_fault() {
        let err = ContactInput::from_json(&json!({
            "first_name": 3,
            "emails": [{"value": "not-an-email"}, {"value": "a@b.c", "kind": "x"}],
            "phones": [{"value": "call me"}],
            "company_id": "nope",
            "nickname": "Lou",
            "id": "x"
        }))
        .unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "first_name",
            "emails[0].value",
            "emails[1].kind",
            "phones[0].value",
            "company_id",
            "nickname",
            "id",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        assert_eq!(err.for_field("id"), Some("`id` is read-only"));
    }

    #[test]
    fn e_mail_addresses() {
        for ok in [
            "a@b.fr",
            "first.last+tag@sub.example.co.uk",
            "élodie@exemple.fr",
            "o'brien@x-y.ie",
        ] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.fr",
            "a@.fr",
            "a@b.",
            "a..b@c.fr",
            ".a@b.fr",
            "a b@c.fr",
            "a@b@c.fr",
            "a@-b.fr",
            "a@b_c.fr",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn needs_a_name_or_an_email() {
        let err = ContactInput::from_json(&json!({"job_title": "CEO"})).unwrap_err();
        assert_eq!(err.0[0].field, "last_name");
        assert!(ContactInput::from_json(&json!({"emails": [{"value": "a@b.fr"}]})).is_ok());
        assert!(ContactInput::from_json(&json!([1])).is_err());
    }

    #[test]
    fn rejects_control_characters_and_overlong_text() {
        let err = ContactInput::from_json(&json!({"last_name": "a\u{0}b"})).unwrap_err();
        assert_eq!(err.0[0].field, "last_name");
        let long = "x".repeat(MAX_TEXT + 1);
        let err = ContactInput::from_json(&json!({ "last_name": long })).unwrap_err();
        assert!(err.0[0].message.contains("at most"));
    }

    #[test]
    fn custom_numbers_stay_in_a_safe_range() {
        for n in [
            json!(1.7976931348623157e308),
            json!(-1e15),
            json!(u64::MAX),
            json!([{"a": 1e16}]),
        ] {
            let err = ContactInput::from_json(&json!({"last_name": "A", "custom": {"n": n}}))
                .unwrap_err();
            assert_eq!(err.0[0].field, "custom");
        }
        let ok = json!({"last_name": "A", "custom": {"amount": 1234.56, "count": 999_999_999_999_999_i64, "tiny": 1e-300}});
        assert!(ContactInput::from_json(&ok).is_ok());
    }

    #[test]
    fn custom_values_cannot_hide_nul_characters() {
        for custom in [json!({"a\u{0}": 1}), json!({"a": ["x", {"b": "\u{0}"}]})] {
            let err =
                ContactInput::from_json(&json!({"last_name": "A", "custom": custom})).unwrap_err();
            assert_eq!(err.0[0].field, "custom");
        }
        assert!(
            ContactInput::from_json(&json!({"last_name": "A", "custom": {"é": ["ok", 1.5, null]}}))
                .is_ok()
        );
    }

    #[test]
    fn json_round_trip_of_writable_fields() {
        let input = ContactInput::from_json(&json!({
            "last_name": "Durand", "tags": ["a"], "custom": {"k": 1},
            "owner_id": "0190b7a0-0000-7000-8000-000000000000"
        }))
        .unwrap();
        assert_eq!(ContactInput::from_json(&input.to_json()).unwrap(), input);
    }
}
