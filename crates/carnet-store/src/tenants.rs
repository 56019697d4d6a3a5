//! Tenants: the client companies Carnet hosts (control plane, no row-level security).

use crate::Result;
use crate::tx::{Tx, on_conn};
use carnet_core::TenantId;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One hosted client company.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Tenant {
    #[sqlx(try_from = "Uuid")]
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub status: String,
    /// The database that holds this tenant's data (`main` unless moved).
    pub placement: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, slug, name, status, placement, created_at, updated_at";

pub async fn insert(tx: &mut Tx, tenant: &Tenant) -> Result<()> {
    on_conn!(tx, |c| {
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, status, placement, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant.id.0)
        .bind(&tenant.slug)
        .bind(&tenant.name)
        .bind(&tenant.status)
        .bind(&tenant.placement)
        .bind(tenant.created_at)
        .bind(tenant.updated_at)
        .execute(c)
        .await?;
    });
    Ok(())
}

pub async fn by_slug(tx: &mut Tx, slug: &str) -> Result<Option<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1");
    Ok(on_conn!(tx, |c| sqlx::query_as(&sql)
        .bind(slug)
        .fetch_optional(c)
        .await?))
}

pub async fn by_id(tx: &mut Tx, id: TenantId) -> Result<Option<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
    Ok(on_conn!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await?))
}

pub async fn list(tx: &mut Tx) -> Result<Vec<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants ORDER BY slug");
    Ok(on_conn!(tx, |c| sqlx::query_as(&sql).fetch_all(c).await?))
}
