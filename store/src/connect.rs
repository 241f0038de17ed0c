//! From a `database_url` to a migrated pool: which dialect, which pool settings, which
//! migrations, and errors that say what to do.
//!
//! Both dialects go through sqlx's `Any` driver, so every aggregate writes its queries once. The
//! migrations differ per dialect (`migrations/sqlite`, `migrations/postgres`: identity columns,
//! BIGINT), and a new table is added to both in the same change. The SQLite files are the ones
//! earlier releases applied, byte for byte: sqlx checks the checksums of applied migrations.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Connection};

use crate::StoreError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long opening waits for a first connection before it gives up and says why.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQL dialect behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect a URL names, or an error naming the URL (without its password).
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        match url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase()).as_deref() {
            Some("sqlite") => Ok(Dialect::Sqlite),
            Some("postgres" | "postgresql") => Ok(Dialect::Postgres),
            _ => Err(StoreError::UnsupportedUrl { url: redact_url(url) }),
        }
    }
}

impl Dialect {
    /// What makes `ORDER BY name` and `name > $1` compare bytes, as SQLite does: PostgreSQL would
    /// use the database's collation (which ignores case and punctuation at first), so lists and
    /// their cursors would order differently on the two.
    pub(crate) fn bytewise(self) -> &'static str {
        match self {
            Dialect::Postgres => " COLLATE \"C\"",
            Dialect::Sqlite => "",
        }
    }
}

/// The URL with its password (in the user part or a `password=` parameter) replaced by `***`,
/// for messages and logs.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _password)) = userinfo.split_once(':')
        {
            out = format!("{scheme}://{user}:***@{host}{tail}");
        }
    }
    if let Some(start) = out.find("password=") {
        let value_start = start + "password=".len();
        let value_end = out[value_start..].find('&').map_or(out.len(), |i| value_start + i);
        out.replace_range(value_start..value_end, "***");
    }
    out
}

/// The URL of the probe connection: for an SQLite file, the same create-if-missing mode the pool
/// uses (an in-memory database is its own per connection, so probing it costs nothing).
fn first_connection_url(url: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => sqlite_url(url),
        Dialect::Postgres => url.to_owned(),
    }
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Create the file on first start unless the URL chose a mode itself.
fn sqlite_url(url: &str) -> String {
    if is_memory(url) || url.contains("mode=") {
        url.to_owned()
    } else {
        format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
    }
}

/// Opens and migrates the database at `url`.
pub(crate) async fn open(url: &str) -> Result<(AnyPool, Dialect), StoreError> {
    sqlx::any::install_default_drivers();
    let dialect = Dialect::of_url(url)?;
    let unreachable = |source| StoreError::Unreachable { url: redact_url(url), source };
    // One plain connection first: a refused or misnamed server fails now, with its own error,
    // instead of after the pool's retries run out.
    sqlx::AnyConnection::connect(&first_connection_url(url, dialect)).await.map_err(unreachable)?.close().await.ok();
    let pool = match dialect {
        Dialect::Sqlite => {
            let memory = is_memory(url);
            let url = sqlite_url(url);
            let options = AnyPoolOptions::new().acquire_timeout(CONNECT_TIMEOUT).after_connect(|conn, _meta| {
                Box::pin(async move {
                    // Readers never block the writer; the setting sticks to the file.
                    sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                    Ok(())
                })
            });
            // Every connection to ":memory:" is its own database: keep exactly one, forever.
            let options = if memory {
                options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
            } else {
                options.max_connections(4)
            };
            options.connect(&url).await.map_err(unreachable)?
        }
        Dialect::Postgres => AnyPoolOptions::new()
            .acquire_timeout(CONNECT_TIMEOUT)
            .max_connections(10)
            .connect(url)
            .await
            .map_err(unreachable)?,
    };
    let migrator = match dialect {
        Dialect::Sqlite => &SQLITE_MIGRATIONS,
        Dialect::Postgres => &POSTGRES_MIGRATIONS,
    };
    migrator.run(&pool).await?;
    tracing::debug!(url = %redact_url(url), ?dialect, "database open");
    Ok((pool, dialect))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact_url("postgres://ann:s3cret@db:5432/ox"), "postgres://ann:***@db:5432/ox");
        assert_eq!(redact_url("postgres://ann@db/ox"), "postgres://ann@db/ox");
        assert_eq!(
            redact_url("postgres://db/ox?user=a&password=pw&sslmode=require"),
            "postgres://db/ox?user=a&password=***&sslmode=require"
        );
        assert_eq!(redact_url("sqlite://data/oxcast.db"), "sqlite://data/oxcast.db");
    }

    #[test]
    fn dialects_come_from_the_scheme() {
        assert_eq!(Dialect::of_url("sqlite://x.db").unwrap(), Dialect::Sqlite);
        assert_eq!(Dialect::of_url("sqlite::memory:").unwrap(), Dialect::Sqlite);
        assert_eq!(Dialect::of_url("postgres://a@b/c").unwrap(), Dialect::Postgres);
        assert_eq!(Dialect::of_url("postgresql://a@b/c").unwrap(), Dialect::Postgres);
        let err = Dialect::of_url("mysql://root:pw@db/ox").unwrap_err().to_string();
        assert!(
            err.contains("mysql://root:***@db/ox") && err.contains("sqlite://") && err.contains("postgres://"),
            "{err}"
        );
        assert!(!err.contains("pw@"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named_with_what_to_do() {
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        let err = crate::Store::open("postgres://ann:hunter2@127.0.0.1:1/ox").await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
        assert!(msg.contains("postgres://ann:***@127.0.0.1:1/ox"), "{msg}");
        assert!(msg.contains("Check that the server is running"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[tokio::test]
    async fn a_missing_sqlite_directory_is_named() {
        let err = crate::Store::open("sqlite:///nonexistent-dir-oxcast/x.db").await.unwrap_err();
        assert!(err.to_string().contains("sqlite:///nonexistent-dir-oxcast/x.db"), "{err}");
    }
}
