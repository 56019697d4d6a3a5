//! Field-level validation errors, collected so that a form or API client sees all of them at once.

use serde::Serialize;
use std::fmt;

/// One problem with one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field at fault, as named in the API (`emails[1].value`, `first_name`).
    pub field: String,
    /// A sentence for humans.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every field error found in one input.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when no error was collected.
    pub fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// The first message for `field` or any part of it (`emails` also matches
    /// `emails[0].value`), if any: forms show it beside the field.
    pub fn for_field(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| {
                e.field.strip_prefix(field).is_some_and(|rest| {
                    rest.is_empty() || rest.starts_with('[') || rest.starts_with('.')
                })
            })
            .map(|e| e.message.as_str())
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_field_matches_the_field_and_its_parts_only() {
        let mut e = ValidationErrors::default();
        e.push("emails[0].value", "bad");
        e.push("first_name", "long");
        assert_eq!(e.for_field("emails[0]"), Some("bad"));
        assert_eq!(e.for_field("emails"), Some("bad"));
        assert_eq!(e.for_field("emails[1]"), None);
        assert_eq!(e.for_field("first"), None);
        assert_eq!(e.for_field("first_name"), Some("long"));
    }
}
