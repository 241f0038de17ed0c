//! The SQLite → PostgreSQL copy behind `oxcast migrate`: every table arrives with the same
//! rows, ids made afterwards do not collide, a second run converges on the source, and a
//! destination that differs is reported.

use std::time::Duration;

use crate::tests::{LEASE, owner};
use crate::{NewEndpoint, NewUser, NewVideo, Role, Store, TestDatabase, VideoDetails};

/// A little of every aggregate, with text that needs care (quotes, accents, emoji) and NULLs.
async fn populate(s: &Store) {
    let owner = owner(s).await;
    s.users()
        .create(NewUser {
            name: "zoe",
            display_name: Some("Zoë \"Z\" 🎬"),
            password: Some("pw-for-zoe"),
            role: Role::Admin,
        })
        .await
        .unwrap();
    for name in ["alpha", "beta", "gamma"] {
        s.streams().create(name, &owner, None).await.unwrap();
    }
    let details =
        VideoDetails { title: "L'été à Paris 🎥".into(), tags: vec!["travel".into()], ..Default::default() };
    let video = s
        .videos()
        .create(NewVideo { owner_id: &owner, details, profile: None, upload_size: Some(1234) })
        .await
        .unwrap();
    s.videos().set_received(&video.id, 1234, Some(1234)).await.unwrap();
    s.webhooks()
        .create(NewEndpoint { owner_id: &owner, url: "https://hooks.example/in", events: None, description: "ci" })
        .await
        .unwrap();
    let job = s.jobs().enqueue("process_video", r#"{"video":"v"}"#, 3).await.unwrap();
    let claimed = s.jobs().claim("process_video", "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    s.jobs().heartbeat(&job.id, "w1", LEASE, 0.375).await.unwrap();
    s.leases().try_acquire("upload:x", "node-a", None, Duration::from_secs(5)).await.unwrap();
    s.server_secrets().get_or_create("relay", || "s3cr3t".into()).await.unwrap();
    s.chat_tokens().create("mod", Some("alpha")).await.unwrap();
}

#[tokio::test]
async fn an_sqlite_database_is_copied_to_postgresql_table_by_table_and_checked() {
    let dir = std::env::temp_dir().join(format!("oxcast-copy-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = Store::open(&format!("sqlite://{}", dir.join("oxcast.db").display())).await.unwrap();
    populate(&source).await;
    let db = TestDatabase::postgres().await;
    let target = Store::open(db.url()).await.unwrap();
    let copy = source.copy_into(&target).unwrap();
    assert!(target.copy_into(&source).is_err(), "only SQLite to PostgreSQL");

    let tables = copy.tables().await.unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let position = |n: &str| names.iter().position(|t| *t == n).unwrap_or_else(|| panic!("no table {n} in {names:?}"));
    assert!(
        position("users") < position("streams")
            && position("videos") < position("playback_sessions").min(position("cowatch"))
    );
    let mut copied = 0;
    for table in &tables {
        copied += copy.copy_table(table).await.unwrap();
    }
    assert!(copied >= 12, "rows copied: {copied}");
    for table in &tables {
        let check = copy.verify_table(table).await.unwrap();
        assert!(check.matches(), "{check:?}");
    }
    // The copy reads back through the ordinary code on the new database.
    let zoe = target.users().by_name("zoe").await.unwrap().unwrap();
    assert_eq!(zoe.display_name, "Zoë \"Z\" 🎬");
    assert!(target.users().verify_password("zoe", "pw-for-zoe").await.unwrap().is_some());
    assert_eq!(target.streams().count().await.unwrap(), 3);
    assert_eq!(target.server_secrets().get_or_create("relay", || "other".into()).await.unwrap(), "s3cr3t");
    // A stream made after the copy gets an id past the copied ones (the identity moved on; if
    // it had not, the insert would collide with copied stream 1), and so does its change-log row.
    let owner = owner(&target).await;
    target.streams().create("delta", &owner, None).await.unwrap();
    assert_eq!(target.streams().count().await.unwrap(), 4);

    // A second run, after the source changed, brings the change across.
    let ok = source.users().set_password(&zoe.id, Some("new-password")).await.unwrap();
    assert!(ok);
    let streams = tables.iter().find(|t| t.name == "streams").unwrap();
    let users = tables.iter().find(|t| t.name == "users").unwrap();
    assert!(!copy.verify_table(streams).await.unwrap().matches(), "delta exists only in the destination");
    copy.copy_table(users).await.unwrap();
    assert!(copy.verify_table(users).await.unwrap().matches());
    assert!(target.users().verify_password("zoe", "new-password").await.unwrap().is_some());
    source.close().await;
    target.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
