//! API keys: `carnet_<prefix>_<secret>`; the prefix finds the row, only a hash of the secret is kept.

use crate::tx::{Tx, on_conn};
use crate::{Db, Result, StoreError};
use carnet_core::{ApiKeyId, Scope, TenantId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One stored API key (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub tenant_id: TenantId,
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub secret_hash: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: Uuid,
    id: Uuid,
    name: String,
    prefix: String,
    secret_hash: String,
    scopes: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for ApiKey {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let scopes = r
            .scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse().map_err(|e: carnet_core::access::UnknownName| {
                    StoreError::Corrupt(e.to_string())
                })
            })
            .collect::<Result<Vec<Scope>>>()?;
        Ok(ApiKey {
            tenant_id: TenantId(r.tenant_id),
            id: ApiKeyId(r.id),
            name: r.name,
            prefix: r.prefix,
            secret_hash: r.secret_hash,
            scopes,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
    }
}

const COLUMNS: &str =
    "tenant_id, id, name, prefix, secret_hash, scopes, created_at, last_used_at, revoked_at";

pub async fn insert(tx: &mut Tx, key: &ApiKey) -> Result<()> {
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    on_conn!(tx, |c| {
        sqlx::query(
            "INSERT INTO api_keys (tenant_id, id, name, prefix, secret_hash, scopes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.tenant_id.0)
        .bind(key.id.0)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(&key.secret_hash)
        .bind(scopes.join(","))
        .bind(key.created_at)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// The key with this prefix, revoked or not, when its workspace is active. Read on every API
/// request: one statement, outside any transaction (one round trip on PostgreSQL).
pub async fn by_prefix_in_active_tenant(db: &Db, prefix: &str) -> Result<Option<ApiKey>> {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("k.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {cols} FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
         WHERE k.prefix = $1 AND t.status = 'active'"
    );
    let row: Option<Row> = match db {
        Db::Sqlite { readers, .. } => {
            sqlx::query_as(&sql)
                .bind(prefix)
                .fetch_optional(readers)
                .await?
        }
        Db::Postgres { pool, .. } => {
            sqlx::query_as(&sql)
                .bind(prefix)
                .fetch_optional(pool)
                .await?
        }
    };
    row.map(ApiKey::try_from).transpose()
}

pub async fn list(tx: &mut Tx, tenant: TenantId) -> Result<Vec<ApiKey>> {
    let sql =
        format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id");
    let rows: Vec<Row> = on_conn!(tx, |c| sqlx::query_as(&sql)
        .bind(tenant.0)
        .fetch_all(c)
        .await?);
    rows.into_iter().map(ApiKey::try_from).collect()
}

/// Revokes the key; `false` when the tenant has no such active key.
pub async fn revoke(
    tx: &mut Tx,
    tenant: TenantId,
    id: ApiKeyId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = on_conn!(tx, |c| {
        sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(tenant.0)
        .bind(id.0)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(done == 1)
}

/// Records a use, at most once a minute per key so that reads do not turn into writes.
pub async fn touch(tx: &mut Tx, tenant: TenantId, id: ApiKeyId, now: DateTime<Utc>) -> Result<()> {
    let stale = now - chrono::Duration::minutes(1);
    on_conn!(tx, |c| {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1
             WHERE tenant_id = $2 AND id = $3 AND (last_used_at IS NULL OR last_used_at < $4)",
        )
        .bind(now)
        .bind(tenant.0)
        .bind(id.0)
        .bind(stale)
        .execute(c)
        .await?;
    });
    Ok(())
}
