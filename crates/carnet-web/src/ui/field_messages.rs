//! The core's validation messages, English sentences as the API gives them, in the
//! interface's language: forms show each beside its field, import reports beside its row.
//! A message without a translation here is shown as the API gives it.

use super::i18n::{Lang, Tr};
use carnet_core::{FieldError, ValidationErrors};
use std::borrow::Cow;

/// Whole messages and their French.
const FRENCH: &[(&str, &str)] = &[
    ("is required", "est obligatoire"),
    ("must not be empty", "ne doit pas être vide"),
    ("must not be blank", "ne doit pas être vide"),
    ("must be a string", "doit être un texte"),
    ("must be true or false", "doit valoir vrai ou faux"),
    ("must be a UUID", "doit être un identifiant (UUID)"),
    (
        "must not contain control characters",
        "ne doit pas contenir de caractères de contrôle",
    ),
    (
        "must not contain control characters other than line breaks and tabs",
        "ne doit pas contenir de caractères de contrôle autres que les retours à la ligne et les tabulations",
    ),
    (
        "is not a valid e-mail address",
        "n’est pas une adresse e-mail valide",
    ),
    (
        "is not a valid phone number (digits, spaces and + - . ( ) / x)",
        "n’est pas un numéro de téléphone valide (chiffres, espaces et + - . ( ) / x)",
    ),
    (
        "is required: call, meeting, task or email",
        "est obligatoire : appel, rendez-vous, tâche ou e-mail",
    ),
    (
        "must be one of: call, meeting, task, email",
        "doit être un appel, un rendez-vous, une tâche ou un e-mail",
    ),
    (
        "is required (RFC 3339, e.g. 2026-11-26T14:00:00Z)",
        "est obligatoire",
    ),
    (
        "must be an RFC 3339 date and time with its offset, e.g. 2026-11-26T14:00:00+01:00",
        "doit être une date et une heure valides",
    ),
    (
        "must fall between the years 1000 and 9999",
        "doit tomber entre les années 1000 et 9999",
    ),
    (
        "must not be before starts_at",
        "ne doit pas précéder le début",
    ),
    (
        "is not a member of this workspace",
        "n’est pas membre de cet espace de travail",
    ),
    (
        "is not a contact of this workspace",
        "n’est pas un contact de cet espace de travail",
    ),
    (
        "a contact with this e-mail or id already exists (mode create)",
        "un contact avec cet e-mail ou cet identifiant existe déjà (mode création)",
    ),
    (
        "matches no contact of this workspace",
        "ne correspond à aucun contact de cet espace de travail",
    ),
    (
        "the contact changed during the import",
        "le contact a été modifié pendant l’import",
    ),
    (
        "is not a contact id (a UUID)",
        "n’est pas un identifiant de contact (UUID)",
    ),
];

/// Messages around a number: (English before it, after it, French before it, after it).
const FRENCH_COUNTS: &[(&str, &str, &str, &str)] = &[
    (
        "must be at most ",
        " characters",
        "doit faire au plus ",
        " caractères",
    ),
    (
        "must be at most ",
        " bytes",
        "doit faire au plus ",
        " octets",
    ),
    (
        "must have at most ",
        " items",
        "doit compter au plus ",
        " éléments",
    ),
];

/// `english` in the language of `t`.
pub fn message(t: Tr, english: &str) -> Cow<'_, str> {
    match t.lang {
        Lang::En => Cow::Borrowed(english),
        Lang::Fr => french(english).map_or(Cow::Borrowed(english), Cow::Owned),
    }
}

/// Every message of `errors` in the language of `t`, each still about its field.
pub fn localized(t: Tr, errors: ValidationErrors) -> ValidationErrors {
    ValidationErrors(
        errors
            .0
            .into_iter()
            .map(|e| FieldError {
                message: message(t, &e.message).into_owned(),
                field: e.field,
            })
            .collect(),
    )
}

fn french(english: &str) -> Option<String> {
    if let Some((_, fr)) = FRENCH.iter().find(|(en, _)| *en == english) {
        return Some((*fr).to_owned());
    }
    FRENCH_COUNTS
        .iter()
        .find_map(|(before, after, fr_before, fr_after)| {
            let n = english.strip_prefix(before)?.strip_suffix(after)?;
            n.parse::<u64>().ok()?;
            Some(format!("{fr_before}{n}{fr_after}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_core::ContactInput;
    use carnet_core::activity::ActivityInput;
    use serde_json::json;

    const FR: Tr = Tr { lang: Lang::Fr };
    const EN: Tr = Tr { lang: Lang::En };

    /// Every message the contact and activity forms and the import report can bring back
    /// from the core, for the fields they show: a new message there without its French
    /// fails here (the service's own are listed by hand).
    #[test]
    fn every_message_a_form_can_meet_has_its_french() {
        let long = "x".repeat(300);
        let contacts = [
            json!({"first_name": long, "last_name": "a\u{1}b", "job_title": long}),
            json!({"emails": [{"value": "nope"}, {"value": ""}], "phones": [{"value": "abc"}]}),
            json!({"phones": [{"value": "1".repeat(60)}], "tags": vec!["t"; 300]}),
        ];
        let activities = [
            json!({}),
            json!({"kind": "party", "subject": " ", "starts_at": "demain",
                   "location": long, "description": "a\u{1}"}),
            json!({"kind": "call", "subject": "a", "starts_at": "0999-01-01T00:00:00Z"}),
            json!({"kind": "call", "subject": "a", "starts_at": "2026-01-02T00:00:00Z",
                   "ends_at": "2026-01-01T00:00:00Z", "done": "yes", "contact_id": "x"}),
        ];
        let mut seen: Vec<FieldError> = Vec::new();
        for body in &contacts {
            seen.extend(ContactInput::from_json(body).unwrap_err().0);
        }
        for body in &activities {
            seen.extend(ActivityInput::from_json(body).unwrap_err().0);
        }
        assert!(seen.len() >= 15, "{seen:?}");
        // Those the service adds (references, import rows).
        for service in [
            "is not a member of this workspace",
            "is not a contact of this workspace",
            "a contact with this e-mail or id already exists (mode create)",
            "matches no contact of this workspace",
            "the contact changed during the import",
            "is not a contact id (a UUID)",
        ] {
            seen.push(FieldError::new("x", service));
        }
        for e in &seen {
            assert!(french(&e.message).is_some(), "no French for {e:?}");
        }
    }

    #[test]
    fn numbers_are_kept_and_unknown_messages_pass_through() {
        assert_eq!(
            message(FR, "must be at most 200 characters"),
            "doit faire au plus 200 caractères"
        );
        assert_eq!(
            message(FR, "must have at most 50 items"),
            "doit compter au plus 50 éléments"
        );
        assert_eq!(
            message(FR, "must be at most many characters"),
            "must be at most many characters"
        );
        assert_eq!(message(FR, "something new"), "something new");
        assert_eq!(message(EN, "is required"), "is required");
        let mut errors = ValidationErrors::default();
        errors.push("subject", "is required");
        assert_eq!(
            localized(FR, errors).for_field("subject"),
            Some("est obligatoire")
        );
    }
}
