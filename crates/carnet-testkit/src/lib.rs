//! Test helpers: throwaway SQLite and PostgreSQL databases, seeded tenants, and an
//! in-process HTTP client for the router.
//!
//! PostgreSQL: `CARNET_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`) names a
//! superuser connection. Each test gets its own database cloned from a migrated template, and
//! connects as the non-owner `carnet_app` role so that row-level security is exercised.

// Test support code: a failed set-up should stop the test loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod http;

pub use http::{TestApp, TestResponse, multipart};

use carnet_store::{Db, DbLocation};
use sqlx::{Connection, Executor, PgConnection};
use std::path::PathBuf;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDb {
    pub backend: Backend,
    /// How the application connects (PostgreSQL: as `carnet_app`).
    pub app: DbLocation,
    /// How the owner connects (migrations, schema inspection).
    pub owner: DbLocation,
    pub db: Db,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Database { admin_url: String, name: String },
}

/// The superuser URL of the test PostgreSQL server.
pub fn pg_admin_url() -> String {
    std::env::var("CARNET_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `url` with another user and database: `postgres://USER@host:port/DB?params`.
pub fn pg_url_with(url: &str, user: Option<&str>, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let params = tail
        .split_once('?')
        .map(|(_, p)| format!("?{p}"))
        .unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let creds = match (user, authority.rsplit_once('@')) {
        (Some(u), _) => format!("{u}@"),
        (None, Some((c, _))) => format!("{c}@"),
        (None, None) => String::new(),
    };
    format!("{scheme}://{creds}{host}/{database}{params}")
}

/// Lock id serialising template creation across test processes.
const TEMPLATE_LOCK: i64 = 0x00ca_4e70;

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres().await,
        }
    }

    async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("carnet-test-{}", uuid::Uuid::now_v7()));
        let location = DbLocation::DataDir(dir.clone());
        carnet_store::migrate(&location, false)
            .await
            .expect("migrate sqlite");
        let db = Db::connect(&location).await.expect("open sqlite");
        TestDb {
            backend: Backend::Sqlite,
            app: location.clone(),
            owner: location,
            db,
            cleanup: Cleanup::Dir(dir),
        }
    }

    async fn postgres() -> TestDb {
        let admin_url = pg_admin_url();
        let template = format!(
            "carnet_tpl_{}",
            carnet_store::fingerprint(carnet_store::Backend::Postgres)
        );
        let name = format!("carnet_t_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL unreachable at {admin_url} (set CARNET_TEST_PG_URL): {e}")
        });
        admin
            .execute(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})").as_str())
            .await
            .expect("lock");
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&template)
                .fetch_one(&mut admin)
                .await
                .expect("look for template");
        if !exists {
            let building = format!("{template}_building");
            admin
                .execute(format!("DROP DATABASE IF EXISTS {building}").as_str())
                .await
                .expect("drop partial");
            admin
                .execute(format!("CREATE DATABASE {building}").as_str())
                .await
                .expect("create template");
            let owner = DbLocation::Url(pg_url_with(&admin_url, None, &building));
            carnet_store::migrate(&owner, false)
                .await
                .expect("migrate template");
            admin
                .execute("ALTER ROLE carnet_app LOGIN")
                .await
                .expect("carnet_app login");
            admin
                .execute(format!("ALTER DATABASE {building} RENAME TO {template}").as_str())
                .await
                .expect("rename");
        }
        admin
            .execute(format!("CREATE DATABASE {name} TEMPLATE {template}").as_str())
            .await
            .expect("clone");
        admin
            .execute(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})").as_str())
            .await
            .expect("unlock");
        let _ = admin.close().await;
        let app = DbLocation::Url(pg_url_with(&admin_url, Some("carnet_app"), &name));
        let owner = DbLocation::Url(pg_url_with(&admin_url, None, &name));
        let db = Db::connect(&app).await.expect("connect as carnet_app");
        TestDb {
            backend: Backend::Postgres,
            app,
            owner,
            db,
            cleanup: Cleanup::Database { admin_url, name },
        }
    }

    /// Closes the pools and removes the database.
    pub async fn drop_db(self) {
        self.db.close().await;
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                    let _ = admin.close().await;
                }
            }
        }
    }
}

/// Declares one `#[tokio::test]` per backend for each story `async fn name(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::Backend::Postgres).await })*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::pg_url_with;

    #[test]
    fn rewrites_user_and_database() {
        assert_eq!(
            pg_url_with(
                "postgres://postgres@127.0.0.1:5432/test",
                Some("carnet_app"),
                "t1"
            ),
            "postgres://carnet_app@127.0.0.1:5432/t1"
        );
        assert_eq!(
            pg_url_with("postgresql://u:pw@h/test?sslmode=disable", None, "x"),
            "postgresql://u:pw@h/x?sslmode=disable"
        );
    }
}
