//! What the use cases of every kind of record share: entity tags and `If-Match`, idempotent
//! creates, owners.

use crate::{ServiceError, ServiceResult};
use carnet_core::{UserId, ValidationErrors};
use carnet_store::idempotency::{self, StoredResponse};
use carnet_store::{TenantTx, users};

/// The entity tag of a record version: strong, so `If-Match` can compare it exactly.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// An `Idempotency-Key` and the fingerprint of the request that carried it.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

/// The result of a create: new, or the first response replayed.
#[derive(Debug)]
pub enum Created<T> {
    New(T),
    Replayed(StoredResponse),
}

/// The first response to this idempotency key, if the key was used already; the same key
/// with another request is refused.
pub(crate) async fn replayed(
    tx: &mut TenantTx,
    idem: Option<&Idempotency>,
) -> ServiceResult<Option<StoredResponse>> {
    let Some(idem) = idem else {
        return Ok(None);
    };
    match idempotency::find(tx, &idem.key).await? {
        Some(stored) if stored.fingerprint == idem.fingerprint => Ok(Some(stored)),
        Some(_) => Err(ServiceError::IdempotencyMismatch),
        None => Ok(None),
    }
}

/// Keeps the response to a create (201, its location, version and body) for repeats of its
/// idempotency key, in the create's transaction.
pub(crate) async fn remember_created(
    tx: &mut TenantTx,
    idem: Option<&Idempotency>,
    location: String,
    version: i64,
    record: &impl serde::Serialize,
    now: chrono::DateTime<chrono::Utc>,
) -> ServiceResult<()> {
    let Some(idem) = idem else {
        return Ok(());
    };
    let stored = StoredResponse {
        fingerprint: idem.fingerprint.clone(),
        status: 201,
        location: Some(location),
        etag: Some(etag(version)),
        body: serde_json::to_string(record).map_err(|e| ServiceError::Internal(e.to_string()))?,
    };
    idempotency::save(tx, &idem.key, &stored, now).await?;
    Ok(())
}

/// An `If-Match` header must name something: `*` or at least one entity tag.
pub(crate) fn parse_if_match(header: &str) -> ServiceResult<&str> {
    if header.split(',').all(|tag| tag.trim().is_empty()) {
        return Err(ServiceError::BadParameter {
            field: "If-Match".into(),
            message: "must be `*` or the ETag of the version you last saw".into(),
        });
    }
    Ok(header)
}

/// `If-Match: *` or a list of ETags; the current version must be among them.
pub(crate) fn check_if_match(if_match: Option<&str>, version: i64) -> ServiceResult<()> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = etag(version);
    let matches = header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current);
    if matches {
        Ok(())
    } else {
        Err(ServiceError::PreconditionFailed {
            expected: header.to_owned(),
            current: version,
        })
    }
}

/// A record's owner must be a member of the tenant.
pub(crate) async fn check_owner(tx: &mut TenantTx, owner: Option<UserId>) -> ServiceResult<()> {
    let Some(owner) = owner else {
        return Ok(());
    };
    let tenant = tx.tenant();
    if users::role_in(tx.control(), tenant, owner).await?.is_none() {
        return Err(owner_not_member());
    }
    Ok(())
}

/// The error of a record whose owner is not a member of the tenant.
pub(crate) fn owner_not_member() -> ServiceError {
    let mut e = ValidationErrors::default();
    e.push("owner_id", "is not a member of this workspace");
    e.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_current_star_and_lists() {
        assert!(check_if_match(None, 3).is_ok());
        assert!(check_if_match(Some("\"3\""), 3).is_ok());
        assert!(check_if_match(Some("*"), 3).is_ok());
        assert!(check_if_match(Some("\"1\", \"3\""), 3).is_ok());
        assert!(matches!(
            check_if_match(Some("\"2\""), 3),
            Err(ServiceError::PreconditionFailed { current: 3, .. })
        ));
    }
}
