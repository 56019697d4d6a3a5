//! Carnet's domain: identifiers, records, validation and permission rules.
//!
//! Pure code: no IO, no async, no database. Everything here can be tested with plain unit tests.

pub mod access;
pub mod activity;
pub mod contact;
pub mod ids;
pub mod merge_patch;
pub mod text;
pub mod validation;

pub use access::{Access, Role, Scope};
pub use activity::{Activity, ActivityInput, ActivityKind};
pub use contact::{Contact, ContactInput, LabeledValue};
pub use ids::{ActivityId, ApiKeyId, ContactId, SessionId, TenantId, UserId};
pub use validation::{FieldError, ValidationErrors};
