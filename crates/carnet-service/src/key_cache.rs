//! API keys read recently, so that a client's stream of requests reads its key from the
//! database about once a second instead of once a request (on PostgreSQL that read, and the
//! check sqlx makes of every connection it takes back, are two of a read's round trips).
//!
//! A key revoked by this process is forgotten at once. One revoked elsewhere (the CLI,
//! another server on the same database), or whose workspace was closed, keeps working here
//! for at most [`KEY_CACHE_TTL`]. Only active keys are kept: an unknown or revoked prefix is
//! read from the database every time. The secret is checked against the stored hash on
//! every request, cached or not.

use carnet_core::ApiKeyId;
use carnet_store::api_keys::ApiKey;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// How long a key read from the database is trusted without reading it again.
pub const KEY_CACHE_TTL: TimeDelta = TimeDelta::seconds(1);

/// At most this many keys are kept; past it, the stale ones are dropped, then all.
const MAX_KEYS: usize = 10_000;

/// Active keys by prefix.
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: Mutex<HashMap<String, Cached>>,
}

/// A key and when it was read from the database (by the service's clock).
struct Cached {
    key: Arc<ApiKey>,
    read_at: DateTime<Utc>,
}

impl KeyCache {
    /// The key with `prefix` if it was read less than [`KEY_CACHE_TTL`] before `now` (a
    /// clock set back since counts as stale).
    pub fn get(&self, prefix: &str, now: DateTime<Utc>) -> Option<Arc<ApiKey>> {
        let keys = self.lock();
        let cached = keys.get(prefix)?;
        fresh(cached.read_at, now).then(|| Arc::clone(&cached.key))
    }

    /// Keeps `key`, read from the database at `now`.
    pub fn put(&self, key: Arc<ApiKey>, now: DateTime<Utc>) {
        let mut keys = self.lock();
        if keys.len() >= MAX_KEYS && !keys.contains_key(&key.prefix) {
            keys.retain(|_, cached| fresh(cached.read_at, now));
            if keys.len() >= MAX_KEYS {
                keys.clear();
            }
        }
        keys.insert(key.prefix.clone(), Cached { key, read_at: now });
    }

    /// Notes that the key with `prefix` was used at `at` (as the database now says), so
    /// that the next requests do not record the use again; when it was read stays as it was.
    pub fn mark_used(&self, prefix: &str, at: DateTime<Utc>) {
        if let Some(cached) = self.lock().get_mut(prefix) {
            cached.key = Arc::new(ApiKey {
                last_used_at: Some(at),
                ..ApiKey::clone(&cached.key)
            });
        }
    }

    /// Forgets the key with this id (it was just revoked).
    pub fn forget(&self, id: ApiKeyId) {
        self.lock().retain(|_, cached| cached.key.id != id);
    }

    /// The map; a panic while it was held cannot leave it half-changed (each change is one
    /// call on the map), so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Cached>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn fresh(read_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let age = now - read_at;
    age >= TimeDelta::zero() && age < KEY_CACHE_TTL
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_core::{Scope, TenantId};
    use uuid::Uuid;

    fn key(prefix: &str) -> Arc<ApiKey> {
        Arc::new(ApiKey {
            tenant_id: TenantId(Uuid::nil()),
            id: ApiKeyId(Uuid::now_v7()),
            name: "k".into(),
            prefix: prefix.into(),
            secret_hash: "h".into(),
            scopes: vec![Scope::Read],
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        })
    }

    #[test]
    fn a_key_is_kept_for_the_ttl_only() {
        let cache = KeyCache::default();
        let t0 = Utc::now();
        cache.put(key("abc"), t0);
        assert!(cache.get("abc", t0).is_some());
        assert!(
            cache
                .get("abc", t0 + KEY_CACHE_TTL - TimeDelta::milliseconds(1))
                .is_some()
        );
        assert!(cache.get("abc", t0 + KEY_CACHE_TTL).is_none());
        assert!(
            cache.get("abc", t0 - TimeDelta::milliseconds(1)).is_none(),
            "clock set back"
        );
        assert!(cache.get("abd", t0).is_none());
    }

    #[test]
    fn a_use_is_noted_without_extending_the_ttl() {
        let cache = KeyCache::default();
        let t0 = Utc::now();
        cache.put(key("abc"), t0);
        let used = t0 + TimeDelta::milliseconds(500);
        cache.mark_used("abc", used);
        assert_eq!(cache.get("abc", used).unwrap().last_used_at, Some(used));
        assert!(cache.get("abc", t0 + KEY_CACHE_TTL).is_none());
        cache.mark_used("unknown", used);
        assert!(cache.get("unknown", used).is_none());
    }

    #[test]
    fn a_forgotten_key_is_gone_and_the_others_stay() {
        let cache = KeyCache::default();
        let t0 = Utc::now();
        let (a, b) = (key("aaa"), key("bbb"));
        cache.put(Arc::clone(&a), t0);
        cache.put(b, t0);
        cache.forget(a.id);
        assert!(cache.get("aaa", t0).is_none());
        assert!(cache.get("bbb", t0).is_some());
    }

    #[test]
    fn a_full_cache_drops_stale_keys_first_then_all() {
        let cache = KeyCache::default();
        let t0 = Utc::now();
        let later = t0 + KEY_CACHE_TTL;
        for i in 0..MAX_KEYS - 1 {
            cache.put(key(&format!("old{i}")), t0);
        }
        cache.put(key("fresh"), later);
        assert_eq!(cache.lock().len(), MAX_KEYS);
        cache.put(key("new"), later);
        assert_eq!(cache.lock().len(), 2, "the stale keys went");
        assert!(cache.get("fresh", later).is_some() && cache.get("new", later).is_some());

        let cache = KeyCache::default();
        for i in 0..MAX_KEYS {
            cache.put(key(&format!("k{i}")), t0);
        }
        cache.put(key("one-more"), t0);
        assert_eq!(cache.lock().len(), 1, "none stale: all went");
        assert!(cache.get("one-more", t0).is_some());
        // Putting a key already kept never empties the cache.
        for i in 0..MAX_KEYS - 1 {
            cache.put(key(&format!("k{i}")), t0);
        }
        cache.put(key("k0"), t0);
        assert_eq!(cache.lock().len(), MAX_KEYS);
    }
}
