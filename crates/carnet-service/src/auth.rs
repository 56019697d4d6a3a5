//! Authentication: passwords (argon2id), UI sessions, API keys.

use crate::context::{Actor, TenantContext};
use crate::secrets::{constant_time_eq, random_token, sha256_hex};
use crate::{Carnet, ServiceError, ServiceResult};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use carnet_core::{Role, Scope, SessionId, TenantId};
use carnet_store::sessions::Session;
use carnet_store::tenants::Tenant;
use carnet_store::users::User;
use carnet_store::{api_keys, sessions, tenants, users};
use chrono::Duration;
use std::sync::Arc;

/// How long a UI session lasts.
pub const SESSION_LIFETIME_DAYS: i64 = 7;

/// argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's recommended minimum).
fn argon2() -> ServiceResult<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|_| ServiceError::Internal("invalid argon2 parameters".into()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password into a PHC string.
pub fn hash_password(password: &str) -> ServiceResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ServiceError::Internal("password could not be hashed".into()))
}

fn verify_password(password: &str, phc: &str) -> bool {
    match (PasswordHash::new(phc), argon2()) {
        (Ok(hash), Ok(a)) => a.verify_password(password.as_bytes(), &hash).is_ok(),
        _ => false,
    }
}

/// A freshly opened session and the cookie token that proves it (shown once, never stored).
#[derive(Debug)]
pub struct NewSession {
    pub session: Session,
    pub token: String,
}

/// A signed-in user, in the tenant the session works in.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub session: Session,
    pub user: User,
    /// The tenants this user belongs to, with the role there (for the switcher).
    pub tenants: Vec<(Tenant, Role)>,
    /// The current tenant and role, if the user belongs to any.
    pub current: Option<(Tenant, Role)>,
}

impl SessionUser {
    /// The context for acting in the current tenant.
    pub fn context(
        &self,
        ip: Option<String>,
        request_id: Option<String>,
    ) -> ServiceResult<TenantContext> {
        let (tenant, role) = self
            .current
            .as_ref()
            .ok_or(ServiceError::Forbidden("working without a workspace"))?;
        Ok(TenantContext {
            tenant: tenant.id,
            actor: Actor::User(self.user.id),
            access: role.access(),
            ip,
            request_id,
        })
    }
}

impl Carnet {
    /// Checks e-mail and password and opens a session in the user's first tenant.
    /// Unknown e-mail and wrong password fail alike, in the same time.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> ServiceResult<NewSession> {
        let mut tx = self.db.begin().await?;
        let user = users::by_email(&mut tx, email).await?;
        let verified = match &user {
            Some(u) => verify_password(password, &u.password_hash),
            None => {
                // Same work as a real check, so timing does not reveal unknown addresses.
                let _ = verify_password(password, DUMMY_HASH);
                false
            }
        };
        let Some(user) = user.filter(|_| verified) else {
            return Err(ServiceError::Unauthenticated);
        };
        let tenant = users::tenants_of(&mut tx, user.id)
            .await?
            .into_iter()
            .next()
            .map(|(t, _)| t.id);
        let now = self.now();
        let token = random_token(32);
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            tenant_id: tenant,
            csrf_token: random_token(24),
            created_at: now,
            expires_at: now + Duration::days(SESSION_LIFETIME_DAYS),
            last_seen_at: now,
            revoked_at: None,
            ip,
            user_agent: user_agent.map(|ua| ua.chars().take(300).collect()),
        };
        sessions::insert(&mut tx, &session, &sha256_hex(&token)).await?;
        tx.commit().await?;
        Ok(NewSession { session, token })
    }

    /// The live session behind a cookie token, with its user and tenants.
    pub async fn session(&self, token: &str) -> ServiceResult<SessionUser> {
        let mut tx = self.db.begin_read().await?;
        let session = sessions::live_by_token_hash(&mut tx, &sha256_hex(token), self.now())
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        let user = users::by_id(&mut tx, session.user_id)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        let tenants = users::tenants_of(&mut tx, user.id).await?;
        let current = session
            .tenant_id
            .and_then(|id| tenants.iter().find(|(t, _)| t.id == id).cloned())
            .or_else(|| tenants.first().cloned());
        Ok(SessionUser {
            session,
            user,
            tenants,
            current,
        })
    }

    /// Switches the session to another tenant the user belongs to.
    pub async fn switch_tenant(&self, who: &SessionUser, slug: &str) -> ServiceResult<()> {
        let (tenant, _) = who
            .tenants
            .iter()
            .find(|(t, _)| t.slug == slug)
            .ok_or(ServiceError::NotFound("workspace"))?;
        let mut tx = self.db.begin().await?;
        sessions::set_tenant(&mut tx, who.session.id, tenant.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remembers the user's interface language.
    pub async fn set_locale(&self, who: &SessionUser, locale: &str) -> ServiceResult<()> {
        let mut tx = self.db.begin().await?;
        users::set_locale(&mut tx, who.user.id, locale, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn logout(&self, session: SessionId) -> ServiceResult<()> {
        let mut tx = self.db.begin().await?;
        sessions::revoke(&mut tx, session, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Authenticates `carnet_<prefix>_<secret>` and returns the context it acts in.
    pub async fn authenticate_api_key(
        &self,
        key: &str,
        ip: Option<String>,
        request_id: Option<String>,
    ) -> ServiceResult<TenantContext> {
        let (prefix, secret) = key
            .strip_prefix("carnet_")
            .and_then(|rest| rest.split_once('_'))
            .ok_or(ServiceError::Unauthenticated)?;
        let now = self.now();
        let stored = match self.api_keys.get(prefix, now) {
            Some(key) => key,
            None => {
                let key = api_keys::by_prefix_in_active_tenant(&self.db, prefix)
                    .await?
                    .ok_or(ServiceError::Unauthenticated)?;
                let key = Arc::new(key);
                if key.revoked_at.is_none() {
                    self.api_keys.put(Arc::clone(&key), now);
                }
                key
            }
        };
        if stored.revoked_at.is_some()
            || !constant_time_eq(&stored.secret_hash, &sha256_hex(secret))
        {
            return Err(ServiceError::Unauthenticated);
        }
        if stored
            .last_used_at
            .is_none_or(|t| now - t > Duration::minutes(1))
        {
            let mut tx = self.db.begin().await?;
            api_keys::touch(&mut tx, stored.tenant_id, stored.id, now).await?;
            tx.commit().await?;
            self.api_keys.mark_used(prefix, now);
        }
        Ok(TenantContext {
            tenant: stored.tenant_id,
            actor: Actor::ApiKey(stored.id),
            access: Scope::access_of(&stored.scopes),
            ip,
            request_id,
        })
    }

    /// The tenant with this id (to show its name).
    pub async fn tenant(&self, id: TenantId) -> ServiceResult<Tenant> {
        let mut tx = self.db.begin_read().await?;
        tenants::by_id(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound("workspace"))
    }
}

/// Checked when the e-mail is unknown, so that response times do not tell which addresses
/// have an account.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2YpF6XH5dq9yj6o1JcS0n2HRnHKm2ePQgR1kS4o7cvA";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_19mib_t2_p1() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong horse", &phc));
        assert!(!verify_password("x", "not a phc string"));
    }
}
