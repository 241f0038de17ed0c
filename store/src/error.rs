//! The store's one error type: what was refused (with a message a person can act on) or what
//! failed underneath.

use oxcast_media::display_name::DisplayNameError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL {url}: use sqlite://PATH (the default, e.g. sqlite://oxcast-data/oxcast.db) \
         or postgres://USER:PASSWORD@HOST:PORT/DATABASE"
    )]
    UnsupportedUrl { url: String },
    #[error(
        "cannot open the database at {url}: {source}. Check that the server is running and that the URL's \
         host, port, user, password and database are right (or leave database_url unset to use the embedded \
         SQLite file)"
    )]
    Unreachable {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// A value the store refuses to keep, with the reason.
    #[error("{0}")]
    Invalid(String),
    #[error("user {0} already exists")]
    UserTaken(String),
    #[error("invalid SRT passphrase: {0}")]
    InvalidPassphrase(String),
    #[error("invalid display name: {0}")]
    InvalidDisplayName(#[from] DisplayNameError),
    #[error("unknown profile {name:?}; known: {known}")]
    UnknownProfile { name: String, known: String },
    #[error("no stream named {0}")]
    UnknownStream(String),
    #[error("stream {0} already exists")]
    NameTaken(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, refusing connections, or no
    /// pooled connection within the timeout), as opposed to a request it refused: the caller
    /// may retry the same request shortly.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } => true,
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) => true,
                // PostgreSQL's connection exceptions (08...) and operator intervention (57P...:
                // shutting down, crashed, starting up).
                sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
                _ => false,
            },
            _ => false,
        }
    }
}
