//! The aggregates' behaviour, each test run once on SQLite (in memory) and once on a fresh
//! PostgreSQL database (`OXCAST_TEST_DATABASE_URL`), so both dialects keep the same contract.
//! One file per aggregate; `on_both_dialects!` and the fixtures are here.

#![allow(clippy::unwrap_used)]

use crate::{KnownProfiles, NewUser, Role, Store, TestDatabase};

/// A store on each dialect; the PostgreSQL one keeps its database alive while the test runs.
pub(crate) async fn open(dialect: &str) -> (Store, Option<TestDatabase>) {
    match dialect {
        "sqlite" => (Store::open("sqlite::memory:").await.unwrap(), None),
        _ => {
            let db = TestDatabase::postgres().await;
            (Store::open(db.url()).await.unwrap(), Some(db))
        }
    }
}

/// `on_both_dialects!(name, ...)` turns each `async fn name(store: Store)` of the calling module
/// into two tests.
macro_rules! on_both_dialects {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let (store, _db) = crate::tests::open("sqlite").await;
                super::$name(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let (store, _db) = crate::tests::open("postgres").await;
                super::$name(store.clone()).await;
                store.close().await;
            })*
        }
    };
}

/// A lease long enough for any test.
pub(crate) const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// The id of a creator to own test streams (one per store, made on first use).
pub(crate) async fn owner(s: &Store) -> String {
    match s.users().by_name("owner").await.unwrap() {
        Some(u) => u.id,
        None => {
            s.users()
                .create(NewUser { name: "owner", display_name: None, password: None, role: Role::Creator })
                .await
                .unwrap()
                .id
        }
    }
}

pub(crate) fn profiles() -> KnownProfiles {
    KnownProfiles::new(["passthrough".to_owned(), "standard".to_owned(), "mobile".to_owned()], "standard").unwrap()
}

mod accounts;
mod analytics;
mod copy;
mod jobs;
mod leases;
mod playback;
mod streams;
mod videos;
mod webhooks;

#[tokio::test]
async fn reopening_a_migrated_database_keeps_its_rows() {
    let dir = std::env::temp_dir().join(format!("oxcast-store-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("oxcast.db").display());
    let first = Store::open(&url).await.unwrap();
    first.streams().create("kept", &owner(&first).await, None).await.unwrap();
    let job = first.jobs().enqueue("process_video", "{}", 1).await.unwrap();
    first.close().await;
    let again = Store::open(&url).await.unwrap();
    assert!(again.streams().exists("kept").await.unwrap());
    assert_eq!(again.jobs().claim("process_video", "w", LEASE).await.unwrap().map(|j| j.id), Some(job.id));
    again.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    let db = TestDatabase::postgres().await;
    let first = Store::open(db.url()).await.unwrap();
    first.streams().create("kept", &owner(&first).await, None).await.unwrap();
    let job = first.jobs().enqueue("process_video", "{}", 1).await.unwrap();
    first.close().await;
    let again = Store::open(db.url()).await.unwrap();
    assert!(again.streams().exists("kept").await.unwrap());
    // A job queued before a restart is still there to run.
    assert_eq!(again.jobs().claim("process_video", "w", LEASE).await.unwrap().map(|j| j.id), Some(job.id));
    assert_eq!(again.dialect(), crate::Dialect::Postgres);
    again.close().await;
}
