//! The aggregates' behaviour, each test run once on SQLite (in memory) and once on a fresh
//! PostgreSQL database (`OXCAST_TEST_DATABASE_URL`), so both dialects keep the same contract.

#![allow(clippy::unwrap_used)]

use crate::{ChatRole, KnownProfiles, Store, StoreError, TestDatabase};

/// A store on each dialect; the PostgreSQL one keeps its database alive while the test runs.
async fn open(dialect: &str) -> (Store, Option<TestDatabase>) {
    match dialect {
        "sqlite" => (Store::open("sqlite::memory:").await.unwrap(), None),
        _ => {
            let db = TestDatabase::postgres().await;
            (Store::open(db.url()).await.unwrap(), Some(db))
        }
    }
}

/// `on_both_dialects!(name)` turns `async fn name(store: Store)` into two tests.
macro_rules! on_both_dialects {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let (store, _db) = super::open("sqlite").await;
                super::$name(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let (store, _db) = super::open("postgres").await;
                super::$name(store.clone()).await;
                store.close().await;
            })*
        }
    };
}

on_both_dialects!(
    keys_resolve_to_their_stream_and_are_not_stored_in_clear,
    duplicate_and_bad_names_are_refused,
    rotation_invalidates_the_old_key,
    profiles_are_stored_per_stream,
    chat_tokens_name_a_viewer_or_a_moderator,
    chat_token_names_follow_the_display_name_rule,
    srt_passphrases_are_validated_and_stored,
    streams_list_in_name_order_with_their_settings,
);

fn profiles() -> KnownProfiles {
    KnownProfiles::new(["passthrough".to_owned(), "standard".to_owned(), "mobile".to_owned()], "standard").unwrap()
}

async fn keys_resolve_to_their_stream_and_are_not_stored_in_clear(s: Store) {
    let created = s.streams().create("cam-1", None).await.unwrap();
    assert!(created.key.as_str().starts_with("sk_") && created.key.as_str().len() == 43);
    let found = s.streams().by_key(created.key.as_str()).await.unwrap().unwrap();
    assert_eq!(found.name, "cam-1");
    assert_eq!(s.streams().by_key("sk_wrong").await.unwrap(), None);
    let stored = s.streams().key_hash("cam-1").await.unwrap();
    assert_ne!(stored, created.key.as_str());
    assert_eq!(stored.len(), 64);
    assert_eq!(s.streams().count().await.unwrap(), 1);
}

async fn duplicate_and_bad_names_are_refused(s: Store) {
    s.streams().create("a", None).await.unwrap();
    assert!(matches!(s.streams().create("a", None).await, Err(StoreError::NameTaken(_))));
    for bad in ["", "a/b", "../x", "white space", &"x".repeat(65)] {
        assert!(matches!(s.streams().create(bad, None).await, Err(StoreError::InvalidName(_))), "{bad:?}");
    }
    assert_eq!(s.streams().count().await.unwrap(), 1);
}

async fn rotation_invalidates_the_old_key(s: Store) {
    let old = s.streams().create("a", None).await.unwrap().key;
    let new = s.streams().rotate_key("a").await.unwrap().unwrap();
    assert_eq!(s.streams().by_key(old.as_str()).await.unwrap(), None);
    assert_eq!(s.streams().by_key(new.as_str()).await.unwrap().unwrap().name, "a");
    assert!(s.streams().rotate_key("missing").await.unwrap().is_none());
}

async fn profiles_are_stored_per_stream(s: Store) {
    let known = profiles();
    let mobile = known.check("mobile").unwrap();
    let key = s.streams().create("a", Some(&mobile)).await.unwrap().key;
    let found = s.streams().by_key(key.as_str()).await.unwrap().unwrap();
    assert_eq!((found.name.as_str(), found.profile.as_deref()), ("a", Some("mobile")));
    assert!(s.streams().set_profile("a", None).await.unwrap());
    assert_eq!(s.streams().get("a").await.unwrap().unwrap().profile, None);
    assert!(!s.streams().set_profile("nope", Some(&mobile)).await.unwrap());
    assert_eq!(s.streams().get("nope").await.unwrap(), None);
}

async fn chat_tokens_name_a_viewer_or_a_moderator(s: Store) {
    s.streams().create("main", None).await.unwrap();
    let viewer = s.chat_tokens().create("Ann", None).await.unwrap();
    let moderator = s.chat_tokens().create("Bob", Some("main")).await.unwrap();
    assert_eq!((moderator.role, moderator.moderator_of.as_deref()), (ChatRole::Moderator, Some("main")));
    assert!(matches!(s.chat_tokens().create("Cy", Some("nope")).await, Err(StoreError::UnknownStream(_))));
    let a = s.chat_tokens().holder(viewer.token.as_str()).await.unwrap().unwrap();
    assert_eq!((a.name.as_str(), a.role, a.stream), ("Ann", ChatRole::Viewer, None));
    let b = s.chat_tokens().holder(moderator.token.as_str()).await.unwrap().unwrap();
    assert_eq!((b.role, b.stream.as_deref()), (ChatRole::Moderator, Some("main")));
    assert_ne!(a.id, b.id);
    assert!(s.chat_tokens().holder("ct_nope").await.unwrap().is_none());
}

async fn chat_token_names_follow_the_display_name_rule(s: Store) {
    let made = s.chat_tokens().create("  Zoë 🎮  ", None).await.unwrap();
    assert_eq!(made.name, "Zoë 🎮");
    assert_eq!(s.chat_tokens().holder(made.token.as_str()).await.unwrap().unwrap().name, "Zoë 🎮");
    // Bidi overrides and zero-width characters let one name pose as another: refused, as in chat.
    for bad in ["", "   ", "Ann\u{202e}", "A\u{200b}nn", "a\u{7}", &"x".repeat(33)] {
        assert!(matches!(s.chat_tokens().create(bad, None).await, Err(StoreError::InvalidDisplayName(_))), "{bad:?}");
    }
}

async fn srt_passphrases_are_validated_and_stored(s: Store) {
    let streams = s.streams();
    let key = streams.create("a", None).await.unwrap().key;
    assert_eq!(streams.by_key(key.as_str()).await.unwrap().unwrap().srt_passphrase, None);
    assert!(matches!(streams.set_srt_passphrase("a", Some("too-short")).await, Err(StoreError::InvalidPassphrase(_))));
    assert!(matches!(
        streams.set_srt_passphrase("a", Some(&"x".repeat(80))).await,
        Err(StoreError::InvalidPassphrase(_))
    ));
    assert!(streams.set_srt_passphrase("a", Some("ten-chars!")).await.unwrap());
    let found = streams.by_key(key.as_str()).await.unwrap().unwrap();
    assert_eq!(found.srt_passphrase.as_deref(), Some("ten-chars!"));
    assert!(!format!("{found:?}").contains("ten-chars"), "Debug hides the passphrase");
    assert!(streams.get("a").await.unwrap().unwrap().srt_encrypted);
    assert!(streams.set_srt_passphrase("a", None).await.unwrap());
    assert!(!streams.get("a").await.unwrap().unwrap().srt_encrypted);
    assert!(!streams.set_srt_passphrase("nope", None).await.unwrap());
}

async fn streams_list_in_name_order_with_their_settings(s: Store) {
    let passthrough = profiles().check("passthrough").unwrap();
    for name in ["zeta", "alpha", "mid"] {
        s.streams().create(name, None).await.unwrap();
    }
    s.streams().set_profile("mid", Some(&passthrough)).await.unwrap();
    s.streams().set_srt_passphrase("zeta", Some("0123456789")).await.unwrap();
    let listed = s.streams().list().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
    assert_eq!(listed[1].profile.as_deref(), Some("passthrough"));
    assert!(listed[2].srt_encrypted && !listed[0].srt_encrypted);
    let now = oxcast_media::clock::unix_seconds();
    assert!(listed.iter().all(|r| (now - r.created_at).abs() < 60));
}

/// A database migrated by this crate can be opened again (migrations are recorded, not rerun).
#[tokio::test]
async fn reopening_a_migrated_database_keeps_its_rows() {
    let dir = std::env::temp_dir().join(format!("oxcast-store-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("oxcast.db").display());
    let first = Store::open(&url).await.unwrap();
    first.streams().create("kept", None).await.unwrap();
    first.close().await;
    let again = Store::open(&url).await.unwrap();
    assert!(again.streams().exists("kept").await.unwrap());
    again.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    let db = TestDatabase::postgres().await;
    let first = Store::open(db.url()).await.unwrap();
    first.streams().create("kept", None).await.unwrap();
    first.close().await;
    let again = Store::open(db.url()).await.unwrap();
    assert!(again.streams().exists("kept").await.unwrap());
    assert_eq!(again.dialect(), crate::Dialect::Postgres);
    again.close().await;
}
