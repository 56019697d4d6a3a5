//! Recognising the columns of contact tables: Carnet's own exports, Google Contacts, Outlook
//! and French or English Excel sheets. A column Carnet does not know is kept in `custom` under
//! its header, so nothing imported is dropped.

use carnet_core::text::fold;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What one column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Id,
    FirstName,
    LastName,
    /// "Full name": split into first and last name when neither has its own column.
    FullName,
    JobTitle,
    CompanyId,
    Tags,
    /// Carnet's `custom` column: one JSON object.
    Custom,
    Email(usize),
    EmailLabel(usize),
    /// A phone number with the label its column implies (Outlook's "Mobile Phone", …).
    Phone(usize, &'static str),
    PhoneLabel(usize),
    /// Exported bookkeeping that an import does not write (created_at, owner_id, …).
    Ignored,
    /// Anything else: kept in `custom` under this name.
    Extra(String),
}

/// Letters and digits of the folded header: "E-mail 1 - Value" → "email1value".
fn key(header: &str) -> String {
    fold(header)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The first number in a key (1 when there is none): "email2value" → 2.
fn index(key: &str) -> usize {
    let digits: String = key
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|n| *n > 0).unwrap_or(1)
}

/// Maps a header to its column.
pub fn column_for(header: &str) -> Column {
    let k = key(header);
    let is_label = k.ends_with("label") || k.ends_with("type") || k.ends_with("libelle");
    match k.as_str() {
        "id" => return Column::Id,
        "firstname" | "prenom" | "givenname" | "first" | "prenoms" => return Column::FirstName,
        "lastname" | "nom" | "familyname" | "surname" | "last" | "nomdefamille" | "nomdusage" => {
            return Column::LastName;
        }
        "name" | "fullname" | "nomcomplet" | "displayname" | "contact" => return Column::FullName,
        "jobtitle" | "fonction" | "title" | "titre" | "poste" | "organization1title"
        | "organisation1titre" => {
            return Column::JobTitle;
        }
        "companyid" => return Column::CompanyId,
        "tags" | "etiquettes" | "etiquette" | "labels" | "categories" | "groupmembership"
        | "groupes" => {
            return Column::Tags;
        }
        "custom" => return Column::Custom,
        "createdat" | "updatedat" | "ownerid" | "version" | "deletedat" => return Column::Ignored,
        _ => {}
    }
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| k.starts_with(p));
    if starts(&[
        "email",
        "courriel",
        "adresseemail",
        "adressedemessagerie",
        "mail",
    ]) {
        let n = index(&k);
        return if is_label {
            Column::EmailLabel(n)
        } else {
            Column::Email(n)
        };
    }
    let phone_label = if starts(&["cell"]) || k.contains("mobile") || k.contains("portable") {
        Some("mobile")
    } else if starts(&["business", "bureau", "work", "professionnel"]) && k.contains("phone")
        || k.contains("telephonebureau")
    {
        Some("work")
    } else if starts(&["home", "domicile", "personnel"])
        && (k.contains("phone") || k.contains("tel"))
        || k.contains("telephonedomicile")
    {
        Some("home")
    } else if starts(&["phone", "telephone", "tel"]) {
        Some("work")
    } else {
        None
    };
    if let Some(label) = phone_label {
        let n = index(&k);
        return if is_label {
            Column::PhoneLabel(n)
        } else {
            Column::Phone(n, label)
        };
    }
    Column::Extra(header.trim().to_owned())
}

/// Known labels in French or English (Google writes "* Work") become Carnet's; any other
/// label is kept as written.
fn normalize_label(label: &str) -> String {
    let label = label.trim().trim_start_matches("* ").trim();
    match fold(label).as_str() {
        "work" | "travail" | "professionnel" | "bureau" | "business" => "work".into(),
        "home" | "domicile" | "personnel" | "maison" => "home".into(),
        "mobile" | "portable" | "cell" | "cellulaire" => "mobile".into(),
        "other" | "autre" => "other".into(),
        _ => label.to_owned(),
    }
}

/// The columns of a whole header row. Repeated phone columns of the same kind (Outlook's
/// "Business Phone" and "Business Phone 2") get distinct positions.
pub fn columns_for(headers: &[String]) -> Vec<Column> {
    let mut next_phone = 100;
    let mut seen_phones: Vec<(usize, &'static str)> = Vec::new();
    headers
        .iter()
        .map(|h| match column_for(h) {
            Column::Phone(n, label) => {
                if seen_phones.contains(&(n, label))
                    || seen_phones.iter().any(|(m, l)| *m == n && *l != label)
                {
                    next_phone += 1;
                    Column::Phone(next_phone, label)
                } else {
                    seen_phones.push((n, label));
                    Column::Phone(n, label)
                }
            }
            other => other,
        })
        .collect()
}

/// Phone labels a mapping may give a phone column (`phone:mobile`, …).
const PHONE_LABELS: [&str; 4] = ["work", "home", "mobile", "other"];

/// The targets a mapping may give a column, as users write them.
pub const TARGETS: [&str; 15] = [
    "first_name",
    "last_name",
    "full_name",
    "job_title",
    "email",
    "phone",
    "phone:mobile",
    "phone:home",
    "phone:work",
    "phone:other",
    "tags",
    "company_id",
    "id",
    "custom:<name>",
    "ignore",
];

/// The column a mapping target names; `position` keeps several e-mail or phone columns
/// apart. Errors say what targets exist.
pub fn parse_target(target: &str, position: usize) -> Result<Column, String> {
    let slot = 1000 + position;
    Ok(match target.trim() {
        "first_name" => Column::FirstName,
        "last_name" => Column::LastName,
        "full_name" => Column::FullName,
        "job_title" => Column::JobTitle,
        "company_id" => Column::CompanyId,
        "tags" => Column::Tags,
        "id" => Column::Id,
        "ignore" => Column::Ignored,
        "email" => Column::Email(slot),
        "phone" => Column::Phone(slot, "work"),
        other => {
            if let Some(label) = other.strip_prefix("phone:") {
                match PHONE_LABELS.iter().find(|l| **l == label) {
                    Some(l) => Column::Phone(slot, l),
                    None => {
                        return Err(format!("`{other}`: a phone is work, home, mobile or other"));
                    }
                }
            } else if let Some(name) = other.strip_prefix("custom:") {
                let name = name.trim();
                if name.is_empty() || name.chars().any(char::is_control) {
                    return Err(format!("`{other}`: a custom field needs a name"));
                }
                Column::Extra(name.to_owned())
            } else {
                return Err(format!(
                    "`{other}` is not a field; use one of {}",
                    TARGETS.join(", ")
                ));
            }
        }
    })
}

/// How a column is shown and written in a mapping.
pub fn target_name(column: &Column) -> String {
    match column {
        Column::Id => "id".into(),
        Column::FirstName => "first_name".into(),
        Column::LastName => "last_name".into(),
        Column::FullName => "full_name".into(),
        Column::JobTitle => "job_title".into(),
        Column::CompanyId => "company_id".into(),
        Column::Tags => "tags".into(),
        Column::Custom => "custom".into(),
        Column::Email(_) => "email".into(),
        Column::EmailLabel(_) => "email label".into(),
        Column::Phone(_, label) => format!("phone:{label}"),
        Column::PhoneLabel(_) => "phone label".into(),
        Column::Ignored => "ignore".into(),
        Column::Extra(name) => format!("custom:{name}"),
    }
}

/// The columns of a header row, detected and then overridden by `mapping` (header →
/// target). A mapped header that the file does not have is an error: a typo in a mapping
/// must not silently leave a column to detection.
pub fn columns_with(
    headers: &[String],
    mapping: &BTreeMap<String, String>,
) -> Result<Vec<Column>, String> {
    let mut columns = columns_for(headers);
    for (position, (header, target)) in mapping.iter().enumerate() {
        let Some(i) = headers.iter().position(|h| h.trim() == header.trim()) else {
            return Err(format!(
                "the file has no column `{header}` (its columns: {})",
                headers.join(", ")
            ));
        };
        columns[i] = parse_target(target, position).map_err(|e| format!("{header}: {e}"))?;
    }
    Ok(columns)
}

/// One row turned into the API's contact JSON, and the id column's value if any.
/// Empty cells are left out, so that an import never clears what it has no value for.
pub fn row_to_json(columns: &[Column], cells: &[String]) -> (Value, Option<String>) {
    let mut body = Map::new();
    let mut custom = Map::new();
    let mut emails: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut phones: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut tags: Vec<Value> = Vec::new();
    let mut full_name = None;
    let mut id = None;
    for (column, cell) in columns.iter().zip(cells) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let text = Value::String(cell.to_owned());
        match column {
            Column::Id => id = Some(cell.to_owned()),
            Column::FirstName => drop(body.insert("first_name".into(), text)),
            Column::LastName => drop(body.insert("last_name".into(), text)),
            Column::FullName => full_name = Some(cell.to_owned()),
            Column::JobTitle => drop(body.insert("job_title".into(), text)),
            Column::CompanyId => drop(body.insert("company_id".into(), text)),
            Column::Tags => tags.extend(
                cell.split([',', ';'])
                    .flat_map(|t| t.split(":::"))
                    .map(|t| t.trim().trim_start_matches("* ").trim())
                    .filter(|t| !t.is_empty() && *t != "myContacts" && *t != "* myContacts")
                    .map(|t| json!(t)),
            ),
            Column::Custom => match serde_json::from_str::<Value>(cell) {
                Ok(Value::Object(members)) => custom.extend(members),
                // Not a JSON object: kept as text, the row is not refused for it.
                _ => drop(custom.insert("custom".into(), text)),
            },
            Column::Email(n) => emails.entry(*n).or_default().0 = Some(cell.to_owned()),
            Column::EmailLabel(n) => emails.entry(*n).or_default().1 = Some(cell.to_owned()),
            Column::Phone(n, label) => {
                let entry = phones.entry(*n).or_default();
                entry.0 = Some(cell.to_owned());
                entry.1.get_or_insert_with(|| (*label).to_owned());
            }
            Column::PhoneLabel(n) => phones.entry(*n).or_default().1 = Some(cell.to_owned()),
            Column::Ignored => {}
            Column::Extra(name) => drop(custom.insert(name.clone(), text)),
        }
    }
    if let Some(name) = full_name {
        if body.contains_key("first_name") || body.contains_key("last_name") {
            // Kept only when it says more than the name columns (Google repeats them).
            let parts: Vec<&str> = ["first_name", "last_name"]
                .iter()
                .filter_map(|k| body.get(*k).and_then(Value::as_str))
                .collect();
            if parts.join(" ") != name {
                custom.insert("name".into(), json!(name));
            }
        } else {
            match name.rsplit_once(' ') {
                Some((first, last)) => {
                    body.insert("first_name".into(), json!(first));
                    body.insert("last_name".into(), json!(last));
                }
                None => drop(body.insert("last_name".into(), json!(name))),
            }
        }
    }
    let items =
        |map: BTreeMap<usize, (Option<String>, Option<String>)>, default: &str| -> Vec<Value> {
            map.into_values()
                .filter_map(|(value, label)| {
                    let label = label.as_deref().map(normalize_label);
                    value.map(
                    |v| json!({"label": label.unwrap_or_else(|| default.to_owned()), "value": v}),
                )
                })
                .collect()
        };
    let emails = items(emails, "work");
    if !emails.is_empty() {
        body.insert("emails".into(), Value::Array(emails));
    }
    let phones = items(phones, "work");
    if !phones.is_empty() {
        body.insert("phones".into(), Value::Array(phones));
    }
    if !tags.is_empty() {
        body.insert("tags".into(), Value::Array(tags));
    }
    if !custom.is_empty() {
        body.insert("custom".into(), Value::Object(custom));
    }
    (Value::Object(body), id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(headers: &[&str]) -> Vec<Column> {
        columns_for(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn a_mapping_overrides_detection() {
        let headers: Vec<String> = ["Col A", "Col B", "Courriel", "Tel perso", "Notes"]
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
        let mapping: BTreeMap<String, String> = [
            ("Col A", "last_name"),
            ("Col B", "email"),
            ("Tel perso", "phone:mobile"),
            ("Notes", "ignore"),
        ]
        .iter()
        .map(|(h, t)| ((*h).to_owned(), (*t).to_owned()))
        .collect();
        let columns = columns_with(&headers, &mapping).unwrap();
        let cells: Vec<String> = ["Durand", "a@x.test", "b@x.test", "06 12", "secret"]
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        let (body, _) = row_to_json(&columns, &cells);
        assert_eq!(
            body,
            json!({
                "last_name": "Durand",
                "emails": [{"label": "work", "value": "b@x.test"}, {"label": "work", "value": "a@x.test"}],
                "phones": [{"label": "mobile", "value": "06 12"}]
            })
        );
        let typo: BTreeMap<String, String> = [("Col C".to_owned(), "email".to_owned())].into();
        assert!(
            columns_with(&headers, &typo)
                .unwrap_err()
                .contains("no column `Col C`")
        );
        let bad: BTreeMap<String, String> = [("Col A".to_owned(), "surname".to_owned())].into();
        assert!(
            columns_with(&headers, &bad)
                .unwrap_err()
                .contains("not a field")
        );
        assert!(parse_target("phone:fax", 0).is_err());
        assert!(parse_target("custom: ", 0).is_err());
        assert_eq!(
            parse_target("custom:Budget", 0).unwrap(),
            Column::Extra("Budget".into())
        );
        for target in [
            "first_name",
            "email",
            "phone:home",
            "custom:X",
            "ignore",
            "id",
        ] {
            assert_eq!(target_name(&parse_target(target, 0).unwrap()), target);
        }
    }

    #[test]
    fn knows_french_english_google_and_outlook_headers() {
        assert_eq!(
            cols(&[
                "Prénom",
                "Nom",
                "Société",
                "E-mail",
                "Téléphone portable",
                "Fonction",
                "Étiquettes"
            ]),
            [
                Column::FirstName,
                Column::LastName,
                Column::Extra("Société".into()),
                Column::Email(1),
                Column::Phone(1, "mobile"),
                Column::JobTitle,
                Column::Tags
            ]
        );
        assert_eq!(
            cols(&[
                "Given Name",
                "Family Name",
                "E-mail 1 - Type",
                "E-mail 1 - Value",
                "E-mail 2 - Value",
                "Phone 1 - Value",
                "Group Membership"
            ]),
            [
                Column::FirstName,
                Column::LastName,
                Column::EmailLabel(1),
                Column::Email(1),
                Column::Email(2),
                Column::Phone(1, "work"),
                Column::Tags
            ]
        );
        assert_eq!(
            cols(&[
                "First Name",
                "Last Name",
                "E-mail Address",
                "E-mail 2 Address",
                "Business Phone",
                "Home Phone",
                "Mobile Phone",
                "Job Title"
            ]),
            [
                Column::FirstName,
                Column::LastName,
                Column::Email(1),
                Column::Email(2),
                Column::Phone(1, "work"),
                Column::Phone(101, "home"),
                Column::Phone(102, "mobile"),
                Column::JobTitle
            ]
        );
        assert_eq!(
            cols(&["id", "email_2_label", "phone_3", "created_at", "custom"]),
            [
                Column::Id,
                Column::EmailLabel(2),
                Column::Phone(3, "work"),
                Column::Ignored,
                Column::Custom
            ]
        );
    }

    #[test]
    fn rows_become_contact_json_and_keep_unknown_columns() {
        let headers = [
            "Prénom",
            "Nom",
            "Société",
            "E-mail 1 - Type",
            "E-mail 1 - Value",
            "Mobile Phone",
            "Group Membership",
            "custom",
        ];
        let columns = cols(&headers);
        let cells: Vec<String> = [
            "Éloïse",
            "Lefèvre",
            "Atelier Nord",
            "* Work",
            "e@x.fr",
            "+33 6 1",
            "* myContacts ::: VIP",
            "{\"siren\": \"1\"}",
            "",
        ]
        .map(str::to_owned)
        .to_vec();
        let (body, id) = row_to_json(&columns, &cells);
        assert_eq!(id, None);
        assert_eq!(
            body,
            json!({
                "first_name": "Éloïse", "last_name": "Lefèvre",
                "emails": [{"label": "work", "value": "e@x.fr"}],
                "phones": [{"label": "mobile", "value": "+33 6 1"}],
                "tags": ["VIP"],
                "custom": {"Société": "Atelier Nord", "siren": "1"}
            })
        );
    }

    #[test]
    fn a_full_name_is_split_when_alone() {
        let (body, _) = row_to_json(&cols(&["Name"]), &["Jean-Pierre de La Fontaine".to_owned()]);
        assert_eq!(
            body,
            json!({"first_name": "Jean-Pierre de La", "last_name": "Fontaine"})
        );
    }
}
