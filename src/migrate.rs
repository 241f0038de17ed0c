//! `oxcast migrate`: moves an embedded install (SQLite and local media files) onto the engines a
//! bigger one runs on (PostgreSQL, and S3 when `[storage]` says so), so a user who started small
//! keeps every account, stream, video, view and upload in progress.
//!
//! The work is the store's table copy and the vod crate's object copy, both resumable (run it
//! again after an interruption: it goes on, and repairs what changed since) and both checked
//! afterwards: every table's row count and SHA-256 and every object's SHA-256 must match, or the
//! command fails and says which ones differ. The old install's admin token comes along when the
//! new one has none of its own, so the old credentials keep working.
//!
//! The old server must be stopped first: a copy of a database that is being written does not
//! verify (a second run once it is stopped does).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use oxcast_store::Store;

use crate::config::{Config, StorageBackend};
use crate::serve::{open_media, open_store};

/// Where the old install is.
#[derive(Debug, Clone)]
pub struct Source {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

/// Copies the install `source` describes into the one `target` describes, then checks it.
pub async fn run(source: &Source, target: &Config) -> anyhow::Result<()> {
    let from = Config::load_other(source.config.as_deref(), source.data_dir.as_deref())
        .context("the old install's configuration")?;
    let from_url = from.database_url();
    let to_url = target.database_url();
    anyhow::ensure!(
        oxcast_store::Dialect::of_url(&from_url)? == oxcast_store::Dialect::Sqlite,
        "the old install's database is {}; oxcast migrate moves an SQLite database (the embedded default)",
        oxcast_store::redact_url(&from_url)
    );
    anyhow::ensure!(
        oxcast_store::Dialect::of_url(&to_url)? == oxcast_store::Dialect::Postgres,
        "the new install's database is {}; set database_url (or OXCAST_DATABASE_URL) to a PostgreSQL URL",
        oxcast_store::redact_url(&to_url)
    );
    let file = sqlite_file(&from_url);
    anyhow::ensure!(
        file.as_deref().is_none_or(Path::exists),
        "no database at {} (is --from-data-dir the old install's data directory?)",
        file.unwrap_or_default().display()
    );
    println!("oxcast migrate: {} -> {}", oxcast_store::redact_url(&from_url), oxcast_store::redact_url(&to_url));
    let started = Instant::now();
    let old = open_store(&from).await.context("the old install's database")?;
    let new = open_store(target).await.context("the new install's database")?;
    let copied = copy_database(&old, &new).await;
    old.close().await;
    new.close().await;
    let (tables, rows) = copied?;
    println!("checked: every table's row count and SHA-256 match ({tables} tables, {rows} rows)");

    if same_media(&from, target) {
        println!("media: the new install uses the same media storage; nothing to copy");
    } else {
        copy_media(&from, target).await?;
    }
    copy_admin_token(&from, target)?;
    println!(
        "done in {:.0?}. Start the new install with its configuration (oxcast serve --config ...); keep the old \
         data directory until you have checked it.",
        started.elapsed()
    );
    Ok(())
}

/// The file an `sqlite://` URL names (none for an in-memory database).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

/// Copies every table, then verifies every table; the tables and rows checked.
async fn copy_database(old: &Store, new: &Store) -> anyhow::Result<(usize, u64)> {
    let copy = old.copy_into(new)?;
    let tables = copy.tables().await?;
    for table in &tables {
        let rows = copy.copy_table(table).await.with_context(|| format!("copying table {}", table.name))?;
        println!("database: {} ({rows} rows)", table.name);
    }
    let mut different = Vec::new();
    let mut rows = 0;
    for table in &tables {
        let check = copy.verify_table(table).await.with_context(|| format!("checking table {}", table.name))?;
        rows += check.source_rows;
        if !check.matches() {
            different.push(format!(
                "{} ({} rows in the old database, {} in the new{})",
                check.table,
                check.source_rows,
                check.target_rows,
                if check.source_rows == check.target_rows { ", other values" } else { "" }
            ));
        }
    }
    anyhow::ensure!(
        different.is_empty(),
        "the copy differs from the old database in {}. Was the old server still running, or did the new database \
         already hold other data? Stop the old server and run oxcast migrate again: it goes on from where it is.",
        different.join("; ")
    );
    Ok((tables.len(), rows))
}

/// Whether both installs name the same media storage (then there is nothing to move).
fn same_media(from: &Config, to: &Config) -> bool {
    match (from.storage.backend, to.storage.backend) {
        (StorageBackend::Local, StorageBackend::Local) => {
            let (a, b) = (from.media_dir(), to.media_dir());
            a == b || a.canonicalize().ok().is_some_and(|a| b.canonicalize().ok() == Some(a))
        }
        (StorageBackend::S3, StorageBackend::S3) => {
            from.s3_settings().map(|s| (s.endpoint, s.bucket, s.prefix))
                == to.s3_settings().map(|s| (s.endpoint, s.bucket, s.prefix))
        }
        _ => false,
    }
}

/// Copies every media object, then reads both sides of each to compare digests.
async fn copy_media(from: &Config, to: &Config) -> anyhow::Result<()> {
    let old = open_media(from).await.context("the old install's media")?;
    let new = open_media(to).await.context("the new install's media")?;
    let mut done = 0u64;
    let report = oxcast_vod::storage::copy_objects(old.as_ref(), new.as_ref(), |_, _| {
        done += 1;
        if done.is_multiple_of(500) {
            println!("media: {done} objects so far");
        }
    })
    .await
    .context("copying media")?;
    println!("media: {} objects copied ({}), {} already there", report.copied, mebibytes(report.bytes), report.skipped);
    let check = oxcast_vod::storage::verify_objects(old.as_ref(), new.as_ref()).await.context("checking media")?;
    anyhow::ensure!(
        check.matches(),
        "the copied media differ from the old: missing {:?}, other bytes in {:?}. Stop the old server and run oxcast \
         migrate again.",
        check.missing,
        check.different
    );
    println!("checked: every object's SHA-256 matches ({} objects, {})", check.objects, mebibytes(check.bytes));
    Ok(())
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The old install's generated admin token, into the new data directory when the new install
/// has no token of its own yet.
fn copy_admin_token(from: &Config, to: &Config) -> anyhow::Result<()> {
    let old = from.data_dir.join("admin-token");
    let new = to.data_dir.join("admin-token");
    if from.admin_token.is_some() || to.admin_token.is_some() || !old.exists() {
        return Ok(());
    }
    if new.exists() {
        let same = std::fs::read_to_string(&old).ok() == std::fs::read_to_string(&new).ok();
        if !same {
            println!("admin token: {} has one of its own; the old one is not copied", new.display());
        }
        return Ok(());
    }
    std::fs::create_dir_all(&to.data_dir).with_context(|| format!("creating {}", to.data_dir.display()))?;
    std::fs::copy(&old, &new).with_context(|| format!("copying {} to {}", old.display(), new.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o600))?;
    }
    println!("admin token: the old one is now the new install's ({})", new.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sqlite_url_names_its_file_and_memory_names_none() {
        assert_eq!(sqlite_file("sqlite:///var/oxcast/oxcast.db"), Some(PathBuf::from("/var/oxcast/oxcast.db")));
        assert_eq!(sqlite_file("sqlite://data/oxcast.db?mode=rwc"), Some(PathBuf::from("data/oxcast.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }

    #[test]
    fn the_old_admin_token_comes_along_only_when_the_new_install_has_none() {
        let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let from = Config { data_dir: old.path().to_owned(), ..Config::default() };
        let to = Config { data_dir: new.path().join("data"), ..Config::default() };
        copy_admin_token(&from, &to).unwrap();
        assert!(!to.data_dir.join("admin-token").exists(), "nothing to copy yet");
        std::fs::write(old.path().join("admin-token"), "old-token\n").unwrap();
        copy_admin_token(&from, &to).unwrap();
        let copied = to.data_dir.join("admin-token");
        assert_eq!(std::fs::read_to_string(&copied).unwrap(), "old-token\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&copied).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // A token of the new install's own is kept, in its file or in its configuration.
        std::fs::write(&copied, "new-token").unwrap();
        copy_admin_token(&from, &to).unwrap();
        assert_eq!(std::fs::read_to_string(&copied).unwrap(), "new-token");
        let configured =
            Config { data_dir: new.path().join("other"), admin_token: Some("set".into()), ..Config::default() };
        copy_admin_token(&from, &configured).unwrap();
        assert!(!configured.data_dir.join("admin-token").exists());
    }
}
