//! The users aggregate: creators and admins, their login names and argon2id password hashes.
//!
//! Passwords are hashed here (argon2id, the `argon2` crate's default cost: 19 MiB, 2 passes) and
//! never leave the store; verification runs on a blocking thread, and an unknown name costs the
//! same as a wrong password so that names cannot be probed by timing.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use oxcast_media::display_name::validate_display_name;
use rand::RngCore;
use sqlx::{AnyPool, Row};

use crate::page::{Page, PageRequest};
use crate::secret::Secret;
use crate::{StoreError, validate_name};

/// Shortest and longest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// What a user may do beyond their own resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sees and changes everyone's resources, manages users.
    Admin,
    /// Owns streams (and videos); sees only their own.
    Creator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Creator => "creator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "creator" => Some(Role::Creator),
            _ => None,
        }
    }
}

/// A user, without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `u_` + 16 hex: random, used in URLs.
    pub id: String,
    /// Login name, lowercase.
    pub name: String,
    pub display_name: String,
    pub role: Role,
    /// Whether the user can log in on the web.
    pub has_password: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub name: &'a str,
    /// Defaults to the name.
    pub display_name: Option<&'a str>,
    /// `None`: no web login (API tokens only).
    pub password: Option<&'a str>,
    pub role: Role,
}

const COLUMNS: &str = "id, name, display_name, password_hash, role, created_at";

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        display_name: row.try_get("display_name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Invalid(format!("stored role {role:?}")))?,
        has_password: row.try_get::<Option<String>, _>("password_hash")?.is_some(),
        created_at: row.try_get("created_at")?,
    })
}

fn check_password(password: &str) -> Result<(), StoreError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(StoreError::Invalid(format!(
            "password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Password hashes running at once: each takes 19 MiB and a core for tens of milliseconds, so
/// a login flood waits its turn instead of filling memory.
fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
    })
}

/// Hashes on a blocking thread: argon2id takes tens of milliseconds on purpose.
async fn hash_password(password: &str) -> Result<String, StoreError> {
    check_password(password)?;
    let password = password.to_owned();
    let _permit = hashing_permits().acquire().await.map_err(|e| StoreError::Invalid(format!("hashing: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Invalid(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Invalid(format!("password hash: {e}")))
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("password hash task: {e}")))?
}

/// A valid hash of nothing anyone knows: verifying against it costs what a real check costs.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9s6tmDMV4yJ3Y5y3wMZP1e0mSuwZOAhe0y0Q3k6bQc4";

async fn verify(password: &str, stored: Option<String>) -> bool {
    let password = password.to_owned();
    let known = stored.is_some();
    let hash = stored.unwrap_or_else(|| DECOY_HASH.to_owned());
    let Ok(_permit) = hashing_permits().acquire().await else { return false };
    let matches = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false);
    known && matches
}

/// Users (see [`crate::Store::users`]).
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    pool: &'a AnyPool,
    dialect: crate::Dialect,
}

impl<'a> Users<'a> {
    pub(crate) fn new(pool: &'a AnyPool, dialect: crate::Dialect) -> Self {
        Self { pool, dialect }
    }

    /// Creates a user; the name is lowercased and must be free.
    pub async fn create(&self, new: NewUser<'_>) -> Result<User, StoreError> {
        let name = new.name.trim().to_ascii_lowercase();
        validate_name(&name)?;
        let display_name = validate_display_name(new.display_name.unwrap_or(&name))?;
        let hash = match new.password {
            Some(p) => Some(hash_password(p).await?),
            None => None,
        };
        let id = Secret::id("u_");
        let now = oxcast_media::clock::unix_seconds();
        let inserted = sqlx::query(
            "INSERT INTO users (id, name, display_name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(&name)
        .bind(&display_name)
        .bind(hash.as_deref())
        .bind(new.role.as_str())
        .bind(now)
        .execute(self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(User { id, name, display_name, role: new.role, has_password: hash.is_some(), created_at: now }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::UserTaken(name)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name.trim().to_ascii_lowercase())
            .fetch_optional(self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Users by name, a page at a time.
    pub async fn list(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
        let limit = page.limit()?;
        let after = page.after()?.unwrap_or_default();
        let c = self.dialect.bytewise();
        let sql = format!("SELECT {COLUMNS} FROM users WHERE name{c} > $1 ORDER BY name{c} LIMIT $2");
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after).bind(i64::from(limit) + 1).fetch_all(self.pool).await?;
        let users = rows.iter().map(user_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(users, limit, |u| u.name.clone()))
    }

    /// The user whose name and password these are; `None` for a wrong pair (either part).
    pub async fn verify_password(&self, name: &str, password: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name.trim().to_ascii_lowercase())
            .fetch_optional(self.pool)
            .await?;
        let stored = match &row {
            Some(r) => r.try_get::<Option<String>, _>("password_hash")?,
            None => None,
        };
        if !verify(password, stored).await {
            return Ok(None);
        }
        row.as_ref().map(user_from_row).transpose()
    }

    /// Sets (or with `None` removes) a user's password, ending every web session they have (a
    /// reset must lock out whoever knew the old one); false if there is no such user.
    pub async fn set_password(&self, id: &str, password: Option<&str>) -> Result<bool, StoreError> {
        let hash = match password {
            Some(p) => Some(hash_password(p).await?),
            None => None,
        };
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash.as_deref())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The oldest admin, who owns what was made before accounts existed.
    pub async fn first_admin(&self) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE role = 'admin' ORDER BY created_at, id LIMIT 1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_optional(self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The first admin, created as `admin` (no password: the admin token acts for them, and
    /// `oxcast user set-password admin` enables the web login) when there is none yet. Streams
    /// without an owner are given to them.
    pub async fn ensure_first_admin(&self) -> Result<User, StoreError> {
        let admin = match self.first_admin().await? {
            Some(admin) => admin,
            None => match self
                .create(NewUser { name: "admin", display_name: None, password: None, role: Role::Admin })
                .await
            {
                Ok(admin) => admin,
                // Another process made one at the same moment.
                Err(StoreError::UserTaken(_)) => self
                    .first_admin()
                    .await?
                    .ok_or_else(|| StoreError::Invalid("user admin exists but is no admin".into()))?,
                Err(e) => return Err(e),
            },
        };
        sqlx::query("UPDATE streams SET owner_id = $1 WHERE owner_id IS NULL")
            .bind(&admin.id)
            .execute(self.pool)
            .await?;
        Ok(admin)
    }
}
