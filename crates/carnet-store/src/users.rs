//! Users (global identities) and their memberships in tenants.

use crate::Result;
use crate::tenants::Tenant;
use crate::tx::{Tx, on_conn};
use carnet_core::{Role, TenantId, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One person who can sign in.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    #[sqlx(try_from = "Uuid")]
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    /// PHC string (argon2id); never logged.
    pub password_hash: String,
    pub locale: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"***")
            .finish_non_exhaustive()
    }
}

/// The key users are unique by: the e-mail, lower-cased.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

const COLUMNS: &str = "id, email, display_name, password_hash, locale, created_at, updated_at";

pub async fn insert(tx: &mut Tx, user: &User) -> Result<()> {
    on_conn!(tx, |c| {
        sqlx::query(
            "INSERT INTO users (id, email, email_key, display_name, password_hash, locale, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.id.0)
        .bind(&user.email)
        .bind(email_key(&user.email))
        .bind(&user.display_name)
        .bind(&user.password_hash)
        .bind(&user.locale)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(c)
        .await?;
    });
    Ok(())
}

pub async fn by_email(tx: &mut Tx, email: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email_key = $1");
    Ok(on_conn!(tx, |c| sqlx::query_as(&sql)
        .bind(email_key(email))
        .fetch_optional(c)
        .await?))
}

pub async fn by_id(tx: &mut Tx, id: UserId) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    Ok(on_conn!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await?))
}

pub async fn set_locale(tx: &mut Tx, id: UserId, locale: &str, now: DateTime<Utc>) -> Result<()> {
    on_conn!(tx, |c| {
        sqlx::query("UPDATE users SET locale = $1, updated_at = $2 WHERE id = $3")
            .bind(locale)
            .bind(now)
            .bind(id.0)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Adds `user` to `tenant` with `role`, or changes the role of an existing membership.
pub async fn set_membership(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    role: Role,
    now: DateTime<Utc>,
) -> Result<()> {
    on_conn!(tx, |c| {
        sqlx::query(
            "INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(tenant.0)
        .bind(user.0)
        .bind(role.as_str())
        .bind(now)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// The role of `user` in `tenant`, if a member.
pub async fn role_in(tx: &mut Tx, tenant: TenantId, user: UserId) -> Result<Option<Role>> {
    let role: Option<String> = on_conn!(tx, |c| {
        sqlx::query_scalar("SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.0)
            .bind(user.0)
            .fetch_optional(c)
            .await?
    });
    role.map(|r| {
        r.parse().map_err(|e: carnet_core::access::UnknownName| {
            crate::StoreError::Corrupt(e.to_string())
        })
    })
    .transpose()
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    #[sqlx(flatten)]
    tenant: Tenant,
    role: String,
}

/// Every active tenant `user` belongs to, with the role there, by tenant name.
pub async fn tenants_of(tx: &mut Tx, user: UserId) -> Result<Vec<(Tenant, Role)>> {
    let sql =
        "SELECT t.id, t.slug, t.name, t.status, t.placement, t.created_at, t.updated_at, m.role
               FROM memberships m JOIN tenants t ON t.id = m.tenant_id
               WHERE m.user_id = $1 AND t.status = 'active' ORDER BY t.name, t.slug";
    let rows: Vec<MembershipRow> = on_conn!(tx, |c| sqlx::query_as(sql)
        .bind(user.0)
        .fetch_all(c)
        .await?);
    rows.into_iter()
        .map(|r| {
            let role = r
                .role
                .parse()
                .map_err(|e: carnet_core::access::UnknownName| {
                    crate::StoreError::Corrupt(e.to_string())
                })?;
            Ok((r.tenant, role))
        })
        .collect()
}
