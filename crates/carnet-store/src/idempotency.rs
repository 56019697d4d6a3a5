//! Idempotency keys: the first response to a keyed request, replayed for repeats.

use crate::Result;
use crate::tx::{TenantTx, on_conn};
use chrono::{DateTime, Utc};

/// The response stored under one key, with the fingerprint of the request that made it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredResponse {
    pub fingerprint: String,
    pub status: i32,
    pub location: Option<String>,
    pub etag: Option<String>,
    pub body: String,
}

pub async fn find(tx: &mut TenantTx, key: &str) -> Result<Option<StoredResponse>> {
    let tenant = tx.tenant().0;
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(
            "SELECT fingerprint, status, location, etag, body FROM idempotency_keys
             WHERE tenant_id = $1 AND key = $2",
        )
        .bind(tenant)
        .bind(key)
        .fetch_optional(c)
        .await?
    }))
}

/// Stores the response in the same transaction as the change it describes.
pub async fn save(
    tx: &mut TenantTx,
    key: &str,
    response: &StoredResponse,
    now: DateTime<Utc>,
) -> Result<()> {
    let tenant = tx.tenant().0;
    on_conn!(&mut tx.tx, |c| {
        sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status, location, etag, body, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant)
        .bind(key)
        .bind(&response.fingerprint)
        .bind(response.status)
        .bind(&response.location)
        .bind(&response.etag)
        .bind(&response.body)
        .bind(now)
        .execute(c)
        .await?;
    });
    Ok(())
}
