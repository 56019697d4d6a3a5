//! Server-side UI sessions: the cookie holds a random token, the table only its hash.

use crate::Result;
use crate::tx::{Tx, on_conn};
use carnet_core::{SessionId, TenantId, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One signed-in browser.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// The tenant the user is working in; switched with the tenant switcher.
    pub tenant_id: Option<TenantId>,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    user_id: Uuid,
    tenant_id: Option<Uuid>,
    csrf_token: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl From<Row> for Session {
    fn from(r: Row) -> Self {
        Session {
            id: SessionId(r.id),
            user_id: UserId(r.user_id),
            tenant_id: r.tenant_id.map(TenantId),
            csrf_token: r.csrf_token,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_seen_at: r.last_seen_at,
            revoked_at: r.revoked_at,
            ip: r.ip,
            user_agent: r.user_agent,
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("tenant_id", &self.tenant_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, user_id, tenant_id, csrf_token, created_at, expires_at, last_seen_at, revoked_at, ip, user_agent";

pub async fn insert(tx: &mut Tx, session: &Session, token_hash: &str) -> Result<()> {
    on_conn!(tx, |c| {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, tenant_id, csrf_token, created_at, expires_at, last_seen_at, ip, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(session.id.0)
        .bind(token_hash)
        .bind(session.user_id.0)
        .bind(session.tenant_id.map(|t| t.0))
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.last_seen_at)
        .bind(&session.ip)
        .bind(&session.user_agent)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// The live (not revoked, not expired) session with this token hash.
pub async fn live_by_token_hash(
    tx: &mut Tx,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2"
    );
    let row: Option<Row> = on_conn!(tx, |c| sqlx::query_as(&sql)
        .bind(token_hash)
        .bind(now)
        .fetch_optional(c)
        .await?);
    Ok(row.map(Session::from))
}

pub async fn set_tenant(tx: &mut Tx, id: SessionId, tenant: TenantId) -> Result<()> {
    on_conn!(tx, |c| {
        sqlx::query("UPDATE sessions SET tenant_id = $1 WHERE id = $2")
            .bind(tenant.0)
            .bind(id.0)
            .execute(c)
            .await?;
    });
    Ok(())
}

pub async fn revoke(tx: &mut Tx, id: SessionId, now: DateTime<Utc>) -> Result<()> {
    on_conn!(tx, |c| {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id.0)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Every live session of a user, newest first (to list and revoke them).
pub async fn live_of_user(tx: &mut Tx, user: UserId, now: DateTime<Utc>) -> Result<Vec<Session>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
         ORDER BY created_at DESC"
    );
    let rows: Vec<Row> = on_conn!(tx, |c| sqlx::query_as(&sql)
        .bind(user.0)
        .bind(now)
        .fetch_all(c)
        .await?);
    Ok(rows.into_iter().map(Session::from).collect())
}
