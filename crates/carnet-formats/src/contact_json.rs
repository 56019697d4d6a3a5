//! Reading Carnet's own JSON export back: an array of contacts as the API shows them.

use serde_json::{Map, Value};

/// Members of an exported contact that an import does not write: identity, bookkeeping, and
/// the owner (ownership goes to whoever imports, as owners belong to one workspace).
const NOT_IMPORTED: [&str; 6] = [
    "id",
    "version",
    "created_at",
    "updated_at",
    "deleted_at",
    "owner_id",
];

/// One contact of the file: its position (1-based), its writable members, its id.
pub type JsonRow = (u64, Value, Option<String>);

/// An item that is not a contact: its position and why.
pub type BadItem = (u64, String);

/// Splits a JSON export into rows. Anything but an array of objects is refused; an item that
/// is not an object is returned as an error with its position, not dropped.
pub fn rows(document: Value) -> Result<Vec<Result<JsonRow, BadItem>>, String> {
    let Value::Array(items) = document else {
        return Err("a Carnet JSON export is an array of contacts".into());
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let n = i as u64 + 1;
            match item {
                Value::Object(members) => {
                    let id = members.get("id").and_then(Value::as_str).map(str::to_owned);
                    let body: Map<String, Value> = members
                        .into_iter()
                        .filter(|(k, _)| !NOT_IMPORTED.contains(&k.as_str()))
                        .collect();
                    Ok((n, Value::Object(body), id))
                }
                _ => Err((n, "is not a JSON object".to_owned())),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_writable_members_and_the_id() {
        let doc =
            json!([{"id": "x", "last_name": "A", "version": 3, "owner_id": "u", "tags": ["t"]}, 5]);
        let rows = rows(doc).unwrap();
        assert_eq!(
            rows[0],
            Ok((
                1,
                json!({"last_name": "A", "tags": ["t"]}),
                Some("x".into())
            ))
        );
        assert_eq!(rows[1], Err((2, "is not a JSON object".into())));
        assert!(super::rows(json!({"a": 1})).is_err());
    }
}
