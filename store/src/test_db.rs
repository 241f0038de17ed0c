//! A fresh PostgreSQL database per test (feature `test-support`), so tests that touch the
//! database run in parallel against one server without seeing each other's rows.
//!
//! The server comes from `OXCAST_TEST_DATABASE_URL` (`.ci/run` and `scripts/test.sh` set it;
//! the default is the local server with trust auth). Each [`TestDatabase`] creates
//! `oxcast_test_<random>` there (with an ICU `en-US` collation when the server has ICU) and drops it (`WITH (FORCE)`, closing leftover connections) when
//! it goes out of scope.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::redact_url;

/// Where the tests' PostgreSQL server is when the environment does not say.
const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    server_url: String,
    name: String,
}

impl TestDatabase {
    /// The test server's URL (`OXCAST_TEST_DATABASE_URL` or the local default).
    pub fn server_url() -> String {
        std::env::var("OXCAST_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
    }

    /// Creates an empty database on the test server. Panics (with the URL and what to do) when the
    /// server cannot be reached: a test that needs PostgreSQL must not pass without it.
    pub async fn postgres() -> Self {
        let server_url = Self::server_url();
        let name = format!("oxcast_test_{:016x}", rand::random::<u64>());
        let mut conn = PgConnection::connect(&server_url).await.unwrap_or_else(|e| {
            panic!(
                "cannot reach the test PostgreSQL at {}: {e}; start it or set OXCAST_TEST_DATABASE_URL",
                redact_url(&server_url)
            )
        });
        // A language-aware collation, as production databases usually have (en_US and the like), so
        // the tests see what byte-order assumptions would break; plain C where ICU is missing.
        let icu = format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        );
        if sqlx::raw_sql(sqlx::AssertSqlSafe(icu)).execute(&mut conn).await.is_err() {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        }
        let _ = conn.close().await;
        Self { url: with_database(&server_url, &name), server_url, name }
    }

    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        // Its own thread and runtime: drop may run inside (or outside) any runtime.
        let dropped = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&server_url).await {
                    let _ =
                        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                            .execute(&mut conn)
                            .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropped.join();
    }
}

/// `postgres://user@host:port/db?query` with `db` replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_part_of_the_url_is_replaced() {
        assert_eq!(with_database("postgres://p@h:5432/test", "x"), "postgres://p@h:5432/x");
        assert_eq!(with_database("postgres://p@h:5432", "x"), "postgres://p@h:5432/x");
        assert_eq!(with_database("postgres://p:w@h/test?sslmode=disable", "x"), "postgres://p:w@h/x?sslmode=disable");
    }
}
