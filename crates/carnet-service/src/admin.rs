//! Control-plane use cases: tenants, users, memberships, API keys (CLI and admin screens).

use crate::auth::hash_password;
use crate::secrets::{random_alnum, random_lower_alnum, sha256_hex};
use crate::{Carnet, ServiceError, ServiceResult};
use carnet_core::{ApiKeyId, Role, Scope, TenantId, UserId, ValidationErrors};
use carnet_store::api_keys::{self, ApiKey};
use carnet_store::tenants::{self, Tenant};
use carnet_store::users::{self, User};

/// Shortest accepted password.
pub const MIN_PASSWORD: usize = 10;

/// Checks a tenant slug: 2–63 of `a-z`, `0-9`, `-`, not starting or ending with `-`.
pub fn check_slug(slug: &str) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let ok_chars = slug
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !(2..=63).contains(&slug.len()) || !ok_chars || slug.starts_with('-') || slug.ends_with('-')
    {
        errors.push(
            "slug",
            "must be 2 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
        );
    }
    errors.into_result(())
}

/// A new user's details.
pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: Option<&'a str>,
    pub password: &'a str,
    pub tenant_slug: &'a str,
    pub role: Role,
}

impl Carnet {
    pub async fn create_tenant(&self, slug: &str, name: &str) -> ServiceResult<Tenant> {
        check_slug(slug)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            let mut e = ValidationErrors::default();
            e.push("name", "must be 1 to 200 characters");
            return Err(e.into());
        }
        let now = self.now();
        let tenant = Tenant {
            id: TenantId::new(),
            slug: slug.to_owned(),
            name: name.to_owned(),
            status: "active".into(),
            placement: "main".into(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        tenants::insert(&mut tx, &tenant)
            .await
            .map_err(|e| match e {
                carnet_store::StoreError::Conflict(_) => {
                    ServiceError::Conflict(format!("a workspace with slug `{slug}` already exists"))
                }
                other => other.into(),
            })?;
        tx.commit().await?;
        Ok(tenant)
    }

    pub async fn list_tenants(&self) -> ServiceResult<Vec<Tenant>> {
        let mut tx = self.db.begin_read().await?;
        Ok(tenants::list(&mut tx).await?)
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> ServiceResult<Tenant> {
        let mut tx = self.db.begin_read().await?;
        tenants::by_slug(&mut tx, slug)
            .await?
            .ok_or_else(|| ServiceError::BadParameter {
                field: "tenant".into(),
                message: format!("no workspace with slug `{slug}`"),
            })
    }

    /// Creates the user if the e-mail is new, and gives it `role` in the tenant.
    /// An existing user keeps its password and gains (or changes) the membership.
    pub async fn create_user(&self, new: NewUser<'_>) -> ServiceResult<(User, bool)> {
        let mut errors = ValidationErrors::default();
        let email = new.email.trim();
        if let Err(message) = carnet_core::contact::email(email) {
            errors.push("email", message);
        }
        let length = new.password.chars().count();
        if !(MIN_PASSWORD..=1024).contains(&length) {
            errors.push(
                "password",
                format!("must be {MIN_PASSWORD} to 1024 characters"),
            );
        }
        errors.into_result(())?;
        let tenant = self.tenant_by_slug(new.tenant_slug).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let (user, created) = match users::by_email(&mut tx, email).await? {
            Some(existing) => (existing, false),
            None => {
                let user = User {
                    id: UserId::new(),
                    email: email.to_owned(),
                    display_name: new
                        .display_name
                        .map(str::to_owned)
                        .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned()),
                    password_hash: hash_password(new.password)?,
                    locale: None,
                    created_at: now,
                    updated_at: now,
                };
                users::insert(&mut tx, &user).await?;
                (user, true)
            }
        };
        users::set_membership(&mut tx, tenant.id, user.id, new.role, now).await?;
        tx.commit().await?;
        Ok((user, created))
    }

    /// Creates an API key and returns it with its plain text, which is never stored.
    pub async fn create_api_key(
        &self,
        tenant_slug: &str,
        name: &str,
        scopes: &[Scope],
    ) -> ServiceResult<(ApiKey, String)> {
        let mut errors = ValidationErrors::default();
        if name.trim().is_empty() || name.chars().count() > 100 {
            errors.push("name", "must be 1 to 100 characters");
        }
        if scopes.is_empty() {
            errors.push("scope", "give at least one scope: read, write or admin");
        }
        errors.into_result(())?;
        let tenant = self.tenant_by_slug(tenant_slug).await?;
        let mut scopes = scopes.to_vec();
        scopes.sort_by_key(|s| s.as_str());
        scopes.dedup();
        let prefix = random_lower_alnum(10);
        let secret = random_alnum(40);
        let key = ApiKey {
            tenant_id: tenant.id,
            id: ApiKeyId::new(),
            name: name.trim().to_owned(),
            prefix: prefix.clone(),
            secret_hash: sha256_hex(&secret),
            scopes,
            created_at: self.now(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.db.begin().await?;
        api_keys::insert(&mut tx, &key).await?;
        tx.commit().await?;
        Ok((key, format!("carnet_{prefix}_{secret}")))
    }

    pub async fn list_api_keys(&self, tenant_slug: &str) -> ServiceResult<Vec<ApiKey>> {
        let tenant = self.tenant_by_slug(tenant_slug).await?;
        let mut tx = self.db.begin_read().await?;
        Ok(api_keys::list(&mut tx, tenant.id).await?)
    }

    pub async fn revoke_api_key(&self, tenant_slug: &str, id: ApiKeyId) -> ServiceResult<()> {
        let tenant = self.tenant_by_slug(tenant_slug).await?;
        let mut tx = self.db.begin().await?;
        if !api_keys::revoke(&mut tx, tenant.id, id, self.now()).await? {
            return Err(ServiceError::NotFound("active API key"));
        }
        tx.commit().await?;
        self.api_keys.forget(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_slug;

    #[test]
    fn slugs() {
        assert!(check_slug("acme").is_ok());
        assert!(check_slug("acme-2").is_ok());
        for bad in ["a", "-acme", "acme-", "Acme", "ac me", "é"] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
