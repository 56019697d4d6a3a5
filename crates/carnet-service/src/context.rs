//! Who is acting, in which tenant, with which rights.

use carnet_core::{Access, ApiKeyId, TenantId, UserId};
use uuid::Uuid;

/// The author of a change, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    ApiKey(ApiKeyId),
    System,
}

impl Actor {
    pub fn kind(self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::ApiKey(_) => "api_key",
            Actor::System => "system",
        }
    }

    pub fn id(self) -> Option<Uuid> {
        match self {
            Actor::User(u) => Some(u.0),
            Actor::ApiKey(k) => Some(k.0),
            Actor::System => None,
        }
    }
}

/// One request's identity: acting in `tenant` as `actor`, allowed `access`.
#[derive(Debug, Clone)]
pub struct TenantContext {
    pub tenant: TenantId,
    pub actor: Actor,
    pub access: Access,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl TenantContext {
    /// The system acting with full rights (CLI, demo seeding).
    pub fn system(tenant: TenantId) -> Self {
        Self {
            tenant,
            actor: Actor::System,
            access: Access::ADMIN,
            ip: None,
            request_id: None,
        }
    }

    pub fn require_read(&self) -> crate::ServiceResult<()> {
        if self.access.read {
            Ok(())
        } else {
            Err(crate::ServiceError::Forbidden("reading records"))
        }
    }

    pub fn require_write(&self) -> crate::ServiceResult<()> {
        if self.access.write {
            Ok(())
        } else {
            Err(crate::ServiceError::Forbidden("changing records"))
        }
    }
}
