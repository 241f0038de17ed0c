//! The aggregates' behaviour, each test run once on SQLite (in memory) and once on a fresh
//! PostgreSQL database (`OXCAST_TEST_DATABASE_URL`), so both dialects keep the same contract.

#![allow(clippy::unwrap_used)]

use crate::{
    ChatRole, FailOutcome, JobState, KnownProfiles, NewUser, NewVideo, PageRequest, Privacy, Processed, Role, Scope,
    Scopes, Store, StoreError, StreamDetails, TestDatabase, VideoDetails, VideoStatus,
};

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
    users_log_in_with_argon2id_passwords_and_names_are_unique,
    the_first_admin_adopts_streams_without_an_owner,
    api_tokens_are_scoped_hashed_listed_and_revoked_at_once,
    sessions_carry_a_csrf_token_and_end_on_logout_or_expiry,
    pages_walk_every_row_once_with_cursors,
    stream_details_are_checked_and_stored,
    jobs_are_leased_heartbeaten_and_completed,
    a_dead_workers_job_is_taken_again_and_reaped_when_out_of_attempts,
    failed_attempts_back_off_then_fail_for_good_with_the_reason,
    progress_is_timed_for_stall_detection,
    videos_move_from_upload_to_ready_or_failed_and_nowhere_else,
    video_details_are_checked,
    videos_page_newest_first_per_owner,
);

/// The id of a creator to own test streams (one per store, made on first use).
async fn owner(s: &Store) -> String {
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

fn profiles() -> KnownProfiles {
    KnownProfiles::new(["passthrough".to_owned(), "standard".to_owned(), "mobile".to_owned()], "standard").unwrap()
}

async fn keys_resolve_to_their_stream_and_are_not_stored_in_clear(s: Store) {
    let created = s.streams().create("cam-1", &owner(&s).await, None).await.unwrap();
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
    s.streams().create("a", &owner(&s).await, None).await.unwrap();
    assert!(matches!(s.streams().create("a", &owner(&s).await, None).await, Err(StoreError::NameTaken(_))));
    for bad in ["", "a/b", "../x", "white space", &"x".repeat(65)] {
        assert!(
            matches!(s.streams().create(bad, &owner(&s).await, None).await, Err(StoreError::InvalidName(_))),
            "{bad:?}"
        );
    }
    assert_eq!(s.streams().count().await.unwrap(), 1);
}

async fn rotation_invalidates_the_old_key(s: Store) {
    let old = s.streams().create("a", &owner(&s).await, None).await.unwrap().key;
    let new = s.streams().rotate_key("a").await.unwrap().unwrap();
    assert_eq!(s.streams().by_key(old.as_str()).await.unwrap(), None);
    assert_eq!(s.streams().by_key(new.as_str()).await.unwrap().unwrap().name, "a");
    assert!(s.streams().rotate_key("missing").await.unwrap().is_none());
}

async fn profiles_are_stored_per_stream(s: Store) {
    let known = profiles();
    let mobile = known.check("mobile").unwrap();
    let key = s.streams().create("a", &owner(&s).await, Some(&mobile)).await.unwrap().key;
    let found = s.streams().by_key(key.as_str()).await.unwrap().unwrap();
    assert_eq!((found.name.as_str(), found.profile.as_deref()), ("a", Some("mobile")));
    assert!(s.streams().set_profile("a", None).await.unwrap());
    assert_eq!(s.streams().get("a").await.unwrap().unwrap().profile, None);
    assert!(!s.streams().set_profile("nope", Some(&mobile)).await.unwrap());
    assert_eq!(s.streams().get("nope").await.unwrap(), None);
}

async fn chat_tokens_name_a_viewer_or_a_moderator(s: Store) {
    s.streams().create("main", &owner(&s).await, None).await.unwrap();
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
    let owner = owner(&s).await;
    let streams = s.streams();
    let key = streams.create("a", &owner, None).await.unwrap().key;
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
        s.streams().create(name, &owner(&s).await, None).await.unwrap();
    }
    s.streams().set_profile("mid", Some(&passthrough)).await.unwrap();
    s.streams().set_srt_passphrase("zeta", Some("0123456789")).await.unwrap();
    let listed = s.streams().list().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
    // Byte order on both dialects (PostgreSQL's locale collation would put these differently).
    for name in ["a-b", "B", "_z", "-y"] {
        s.streams().create(name, &owner(&s).await, None).await.unwrap();
    }
    let all: Vec<String> =
        s.streams().page(None, &PageRequest::default()).await.unwrap().items.into_iter().map(|r| r.name).collect();
    assert_eq!(all, ["-y", "B", "_z", "a-b", "alpha", "mid", "zeta"]);
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

async fn users_log_in_with_argon2id_passwords_and_names_are_unique(s: Store) {
    let ann = s
        .users()
        .create(NewUser {
            name: " Ann ",
            display_name: Some("Ann B."),
            password: Some("correct horse"),
            role: Role::Creator,
        })
        .await
        .unwrap();
    assert_eq!((ann.name.as_str(), ann.display_name.as_str(), ann.has_password), ("ann", "Ann B.", true));
    assert!(ann.id.starts_with("u_") && ann.id.len() == 18);
    let taken = s.users().create(NewUser { name: "ANN", display_name: None, password: None, role: Role::Admin }).await;
    assert!(matches!(taken, Err(StoreError::UserTaken(_))), "{taken:?}");
    let short = s
        .users()
        .create(NewUser { name: "bob", display_name: None, password: Some("short"), role: Role::Creator })
        .await;
    assert!(matches!(short, Err(StoreError::Invalid(_))), "{short:?}");
    let spoof = s
        .users()
        .create(NewUser { name: "cy", display_name: Some("C\u{202e}y"), password: None, role: Role::Creator })
        .await;
    assert!(matches!(spoof, Err(StoreError::InvalidDisplayName(_))), "{spoof:?}");

    assert_eq!(s.users().verify_password("Ann", "correct horse").await.unwrap().map(|u| u.id), Some(ann.id.clone()));
    assert_eq!(s.users().verify_password("ann", "wrong horse!").await.unwrap(), None);
    assert_eq!(s.users().verify_password("nobody", "correct horse").await.unwrap(), None);
    // The stored hash is argon2id, never the password.
    let stored: String = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(&ann.id)
        .fetch_one(&s.pool)
        .await
        .map(|r| sqlx::Row::get(&r, 0))
        .unwrap();
    assert!(stored.starts_with("$argon2id$") && !stored.contains("correct horse"), "{stored}");

    assert!(s.users().set_password(&ann.id, None).await.unwrap());
    assert_eq!(s.users().verify_password("ann", "correct horse").await.unwrap(), None);
    assert!(!s.users().by_id(&ann.id).await.unwrap().unwrap().has_password);
}

async fn the_first_admin_adopts_streams_without_an_owner(s: Store) {
    // A stream from before accounts existed has no owner.
    sqlx::query("INSERT INTO streams (name, key_hash, created_at) VALUES ('old', 'h', 1)")
        .execute(&s.pool)
        .await
        .unwrap();
    assert_eq!(s.users().first_admin().await.unwrap(), None);
    let admin = s.users().ensure_first_admin().await.unwrap();
    assert_eq!((admin.name.as_str(), admin.role), ("admin", Role::Admin));
    assert_eq!(s.streams().get("old").await.unwrap().unwrap().owner_id.as_deref(), Some(admin.id.as_str()));
    // Idempotent: a second start finds the same admin.
    assert_eq!(s.users().ensure_first_admin().await.unwrap().id, admin.id);
}

async fn api_tokens_are_scoped_hashed_listed_and_revoked_at_once(s: Store) {
    let ann = s
        .users()
        .create(NewUser { name: "ann", display_name: None, password: None, role: Role::Creator })
        .await
        .unwrap();
    let scopes = Scopes::parse(["streams:read", "streams:write"]).unwrap();
    let (token, secret) = s.api_tokens().create(&ann, "ci", &scopes).await.unwrap();
    assert!(secret.as_str().starts_with("oxt_") && token.id.starts_with("tok_"));
    assert_eq!(token.last_used_at, None);
    let (found, user) = s.api_tokens().authenticate(secret.as_str()).await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), user.id.as_str()), (token.id.as_str(), ann.id.as_str()));
    assert!(found.scopes.contains(Scope::StreamsWrite) && !found.scopes.contains(Scope::VideosWrite));
    assert!(found.last_used_at.is_some(), "use is recorded");
    let listed = s.api_tokens().list(&ann.id, &PageRequest::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].last_used_at, found.last_used_at);
    let stored: i64 = sqlx::query("SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1")
        .bind(secret.as_str())
        .fetch_one(&s.pool)
        .await
        .map(|r| sqlx::Row::get(&r, 0))
        .unwrap();
    assert_eq!(stored, 0, "stored hashed, not in clear");

    // Creators cannot hold admin; tokens need a scope and a sane name.
    let admin_scope = Scopes::parse(["admin"]).unwrap();
    assert!(matches!(s.api_tokens().create(&ann, "x", &admin_scope).await, Err(StoreError::Invalid(_))));
    assert!(matches!(s.api_tokens().create(&ann, "x", &Scopes::default()).await, Err(StoreError::Invalid(_))));
    assert!(matches!(s.api_tokens().create(&ann, " ", &scopes).await, Err(StoreError::Invalid(_))));

    // Only the owner revokes, and it works at once.
    let bob = s
        .users()
        .create(NewUser { name: "bob", display_name: None, password: None, role: Role::Creator })
        .await
        .unwrap();
    assert!(!s.api_tokens().revoke(&bob.id, &token.id).await.unwrap());
    assert!(s.api_tokens().revoke(&ann.id, &token.id).await.unwrap());
    assert!(s.api_tokens().authenticate(secret.as_str()).await.unwrap().is_none());
}

async fn sessions_carry_a_csrf_token_and_end_on_logout_or_expiry(s: Store) {
    let ann = s
        .users()
        .create(NewUser { name: "ann", display_name: None, password: Some("password1"), role: Role::Creator })
        .await
        .unwrap();
    let (cookie, session) = s.sessions().create(&ann, std::time::Duration::from_secs(3600)).await.unwrap();
    assert!(cookie.as_str().starts_with("ses_") && session.csrf_token.starts_with("csrf_"));
    let (found, user) = s.sessions().authenticate(cookie.as_str()).await.unwrap().unwrap();
    assert_eq!((found.csrf_token.as_str(), user.id.as_str()), (session.csrf_token.as_str(), ann.id.as_str()));
    s.sessions().end(cookie.as_str()).await.unwrap();
    assert!(s.sessions().authenticate(cookie.as_str()).await.unwrap().is_none());
    let (expired, _) = s.sessions().create(&ann, std::time::Duration::ZERO).await.unwrap();
    assert!(s.sessions().authenticate(expired.as_str()).await.unwrap().is_none());
    // A password reset ends every session of the user.
    let (other, _) = s.sessions().create(&ann, std::time::Duration::from_secs(3600)).await.unwrap();
    assert!(s.users().set_password(&ann.id, Some("a new password")).await.unwrap());
    assert!(s.sessions().authenticate(other.as_str()).await.unwrap().is_none());
}

async fn pages_walk_every_row_once_with_cursors(s: Store) {
    let owner = owner(&s).await;
    let other = s
        .users()
        .create(NewUser { name: "other", display_name: None, password: None, role: Role::Creator })
        .await
        .unwrap();
    for i in 0..7 {
        s.streams().create(&format!("s{i}"), &owner, None).await.unwrap();
    }
    s.streams().create("theirs", &other.id, None).await.unwrap();
    let mut seen = Vec::new();
    let mut request = PageRequest { limit: Some(3), cursor: None };
    loop {
        let page = s.streams().page(Some(&owner), &request).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|r| r.name));
        match page.next_cursor {
            Some(c) => request.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ["s0", "s1", "s2", "s3", "s4", "s5", "s6"]);
    assert_eq!(s.streams().page(None, &PageRequest::default()).await.unwrap().items.len(), 8);
    for bad in [
        PageRequest { limit: Some(0), cursor: None },
        PageRequest { limit: Some(10_000), cursor: None },
        PageRequest { limit: None, cursor: Some("zz".into()) },
    ] {
        assert!(matches!(s.streams().page(None, &bad).await, Err(StoreError::Invalid(_))), "{bad:?}");
    }
    // Tokens page the same way.
    let user = s.users().by_id(&owner).await.unwrap().unwrap();
    let scopes = Scopes::parse(["videos:read"]).unwrap();
    for i in 0..5 {
        s.api_tokens().create(&user, &format!("t{i}"), &scopes).await.unwrap();
    }
    let first = s.api_tokens().list(&owner, &PageRequest { limit: Some(2), cursor: None }).await.unwrap();
    let rest =
        s.api_tokens().list(&owner, &PageRequest { limit: Some(10), cursor: first.next_cursor.clone() }).await.unwrap();
    assert_eq!(first.items.len() + rest.items.len(), 5);
    assert!(rest.next_cursor.is_none());
    let mut names: Vec<String> = first.items.iter().chain(&rest.items).map(|t| t.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["t0", "t1", "t2", "t3", "t4"]);
}

async fn stream_details_are_checked_and_stored(s: Store) {
    let owner = owner(&s).await;
    s.streams().create("cam", &owner, None).await.unwrap();
    let details = StreamDetails {
        title: "  Friday jam ".into(),
        description: "Live from the studio.\nAll welcome.".into(),
        category: "Music".into(),
    };
    assert!(s.streams().set_details("cam", details).await.unwrap());
    let got = s.streams().get("cam").await.unwrap().unwrap().details;
    assert_eq!((got.title.as_str(), got.category.as_str()), ("Friday jam", "Music"));
    assert!(got.description.contains('\n'));
    let long = StreamDetails { title: "x".repeat(141), ..StreamDetails::default() };
    assert!(matches!(s.streams().set_details("cam", long).await, Err(StoreError::Invalid(_))));
    let newline = StreamDetails { title: "a\nb".into(), ..StreamDetails::default() };
    assert!(matches!(s.streams().set_details("cam", newline).await, Err(StoreError::Invalid(_))));
    assert!(!s.streams().set_details("nope", StreamDetails::default()).await.unwrap());
}

const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

async fn jobs_are_leased_heartbeaten_and_completed(s: Store) {
    let job = s.jobs().enqueue("process_video", r#"{"video":"v1"}"#, 3).await.unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Queued, 0));
    assert!(s.jobs().claim("webhook", "w1", LEASE).await.unwrap().is_none(), "kinds are separate");
    let claimed = s.jobs().claim("process_video", "w1", LEASE).await.unwrap().unwrap();
    assert_eq!((claimed.id.as_str(), claimed.state, claimed.attempts), (job.id.as_str(), JobState::Running, 1));
    assert_eq!(claimed.payload, r#"{"video":"v1"}"#);
    assert!(s.jobs().claim("process_video", "w2", LEASE).await.unwrap().is_none(), "leased: nobody else gets it");
    assert!(s.jobs().heartbeat(&job.id, "w1", LEASE, 0.4).await.unwrap());
    assert!(s.jobs().heartbeat(&job.id, "w1", LEASE, 0.2).await.unwrap());
    assert_eq!(s.jobs().get(&job.id).await.unwrap().unwrap().progress, 0.4, "progress only moves forward");
    assert!(!s.jobs().heartbeat(&job.id, "w2", LEASE, 0.9).await.unwrap(), "not w2's lease");
    assert!(s.jobs().complete(&job.id, "w1").await.unwrap());
    let done = s.jobs().get(&job.id).await.unwrap().unwrap();
    assert_eq!((done.state, done.progress), (JobState::Done, 1.0));
    assert!(!s.jobs().complete(&job.id, "w1").await.unwrap(), "only once");
}

async fn a_dead_workers_job_is_taken_again_and_reaped_when_out_of_attempts(s: Store) {
    let job = s.jobs().enqueue("process_video", "{}", 2).await.unwrap();
    // w1 claims with a lease that is over at once: it "died".
    s.jobs().claim("process_video", "w1", std::time::Duration::ZERO).await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let again = s.jobs().claim("process_video", "w2", std::time::Duration::ZERO).await.unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts), (job.id.as_str(), 2));
    assert!(!s.jobs().heartbeat(&job.id, "w1", LEASE, 0.5).await.unwrap(), "w1 lost it to w2");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // w2 died too: no attempts left, so nobody claims it and the reaper fails it with a reason.
    assert!(s.jobs().claim("process_video", "w3", LEASE).await.unwrap().is_none());
    let reaped = s.jobs().reap("process_video").await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(
        (reaped[0].state, reaped[0].last_error.as_deref()),
        (JobState::Failed, Some("the worker stopped responding"))
    );
    assert!(s.jobs().reap("process_video").await.unwrap().is_empty());
}

async fn failed_attempts_back_off_then_fail_for_good_with_the_reason(s: Store) {
    let job = s.jobs().enqueue("process_video", "{}", 2).await.unwrap();
    s.jobs().claim("process_video", "w1", LEASE).await.unwrap().unwrap();
    let before = oxcast_media::clock::unix_millis() as i64;
    let outcome = s.jobs().fail(&job.id, "w1", "decoder crashed", true).await.unwrap();
    let FailOutcome::RetryAt(at) = outcome else { panic!("{outcome:?}") };
    assert!(at >= before + 4_900, "backs off about 5 s: {}", at - before);
    let queued = s.jobs().get(&job.id).await.unwrap().unwrap();
    assert_eq!((queued.state, queued.last_error.as_deref()), (JobState::Queued, Some("decoder crashed")));
    assert!(s.jobs().claim("process_video", "w1", LEASE).await.unwrap().is_none(), "not before its time");
    // Time passes (the test moves the job's time instead of sleeping 5 s).
    sqlx::query("UPDATE jobs SET run_at = 0 WHERE id = $1").bind(&job.id).execute(&s.pool).await.unwrap();
    s.jobs().claim("process_video", "w1", LEASE).await.unwrap().unwrap();
    let outcome = s.jobs().fail(&job.id, "w1", "no video or audio stream", true).await.unwrap();
    assert_eq!(outcome, FailOutcome::Failed, "two attempts used");
    let failed = s.jobs().get(&job.id).await.unwrap().unwrap();
    assert_eq!((failed.state, failed.last_error.as_deref()), (JobState::Failed, Some("no video or audio stream")));
    assert_eq!(s.jobs().fail(&job.id, "w1", "again", true).await.unwrap(), FailOutcome::LeaseLost);
    assert_eq!(crate::backoff(1), std::time::Duration::from_secs(5));
    assert_eq!(crate::backoff(3), std::time::Duration::from_secs(20));
    assert_eq!(crate::backoff(40), crate::jobs::MAX_BACKOFF);
}

async fn progress_is_timed_for_stall_detection(s: Store) {
    let job = s.jobs().enqueue("process_video", "{}", 1).await.unwrap();
    let claimed = s.jobs().claim("process_video", "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    assert!(s.jobs().heartbeat(&job.id, "w1", LEASE, 0.1).await.unwrap());
    assert!(s.jobs().progress_at(&job.id).await.unwrap().is_some());
}

/// Many workers at once on PostgreSQL: every job is taken exactly once.
#[tokio::test]
async fn concurrent_claims_on_postgres_take_each_job_once() {
    let db = TestDatabase::postgres().await;
    let store = Store::open(db.url()).await.unwrap();
    for _ in 0..30 {
        store.jobs().enqueue("process_video", "{}", 1).await.unwrap();
    }
    let mut workers = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = store.jobs().claim("process_video", &format!("w{w}"), LEASE).await.unwrap() {
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (30, 30));
    store.close().await;
}

async fn videos_move_from_upload_to_ready_or_failed_and_nowhere_else(s: Store) {
    let owner = owner(&s).await;
    let details = VideoDetails {
        title: " Holiday ".into(),
        tags: vec!["Beach".into(), "beach".into(), "sun".into()],
        ..VideoDetails::default()
    };
    let v = s
        .videos()
        .create(NewVideo { owner_id: &owner, details, profile: None, upload_size: Some(1000) })
        .await
        .unwrap();
    assert!(v.id.starts_with("v_") && v.id.len() == 34, "{}", v.id);
    assert_eq!(
        (v.status, v.details.title.as_str(), v.details.privacy),
        (VideoStatus::Uploading, "Holiday", Privacy::Private)
    );
    assert_eq!(v.details.tags, ["Beach", "sun"], "tags deduplicated ignoring case, order kept");
    assert!(s.videos().set_received(&v.id, 400, None).await.unwrap());
    assert!(!s.videos().set_ready(&v.id, &Processed::default()).await.unwrap(), "not before processing");
    assert!(s.videos().start_processing(&v.id).await.unwrap());
    assert!(!s.videos().set_received(&v.id, 500, None).await.unwrap(), "the upload is over");
    assert!(s.videos().set_progress(&v.id, "encoding", 0.5).await.unwrap());
    let p = s.videos().get(&v.id).await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.stage.as_deref(), p.progress, p.bytes_received),
        (VideoStatus::Processing, Some("encoding"), 0.5, 400)
    );
    let processed = Processed {
        source: r#"{"container":"mp4"}"#.into(),
        renditions: "[]".into(),
        duration_ms: 60_000,
        poster_key: Some("videos/x/poster.jpg".into()),
        storyboard_key: None,
    };
    assert!(s.videos().set_ready(&v.id, &processed).await.unwrap());
    let ready = s.videos().get(&v.id).await.unwrap().unwrap();
    assert_eq!((ready.status, ready.progress, ready.duration_ms), (VideoStatus::Ready, 1.0, Some(60_000)));
    assert!(ready.published_at.is_some());
    assert!(!s.videos().set_failed(&v.id, "late").await.unwrap(), "a ready video does not fail");

    let w = s
        .videos()
        .create(NewVideo { owner_id: &owner, details: VideoDetails::default(), profile: None, upload_size: None })
        .await
        .unwrap();
    s.videos().start_processing(&w.id).await.unwrap();
    assert!(s.videos().set_failed(&w.id, "no video or audio stream").await.unwrap());
    let failed = s.videos().get(&w.id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.error.as_deref()), (VideoStatus::Failed, Some("no video or audio stream")));
    assert!(s.videos().start_processing(&w.id).await.unwrap(), "a failed video may be tried again");
    assert_eq!(s.videos().get(&w.id).await.unwrap().unwrap().error, None);
    assert!(s.videos().delete(&w.id).await.unwrap());
    assert!(s.videos().get(&w.id).await.unwrap().is_none());
}

async fn video_details_are_checked(s: Store) {
    let owner = owner(&s).await;
    let bad = [
        VideoDetails { title: "x".repeat(141), ..VideoDetails::default() },
        VideoDetails { title: "a\nb".into(), ..VideoDetails::default() },
        VideoDetails { tags: vec!["ok".into(), "bad\u{202e}".into()], ..VideoDetails::default() },
        VideoDetails { tags: (0..31).map(|i| format!("t{i}")).collect(), ..VideoDetails::default() },
        VideoDetails { language: "english".into(), ..VideoDetails::default() },
        VideoDetails { description: "x".repeat(5001), ..VideoDetails::default() },
    ];
    for details in bad {
        let made = s
            .videos()
            .create(NewVideo { owner_id: &owner, details: details.clone(), profile: None, upload_size: None })
            .await;
        assert!(matches!(made, Err(StoreError::Invalid(_))), "{details:?}");
    }
    let ok = VideoDetails {
        language: "pt-BR".into(),
        description: "Line one\nLine two".into(),
        privacy: Privacy::Unlisted,
        ..VideoDetails::default()
    };
    let v =
        s.videos().create(NewVideo { owner_id: &owner, details: ok, profile: None, upload_size: None }).await.unwrap();
    assert_eq!((v.details.language.as_str(), v.details.privacy), ("pt-BR", Privacy::Unlisted));
    assert!(Privacy::parse("secret").is_err());
}

async fn videos_page_newest_first_per_owner(s: Store) {
    let owner = owner(&s).await;
    let other = s
        .users()
        .create(NewUser { name: "other", display_name: None, password: None, role: Role::Creator })
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let details = VideoDetails { title: format!("v{i}"), ..VideoDetails::default() };
        ids.push(
            s.videos()
                .create(NewVideo { owner_id: &owner, details, profile: None, upload_size: None })
                .await
                .unwrap()
                .id,
        );
    }
    s.videos()
        .create(NewVideo { owner_id: &other.id, details: VideoDetails::default(), profile: None, upload_size: None })
        .await
        .unwrap();
    // Same second for all: the id breaks the tie, and a walk sees each once.
    let mut seen = Vec::new();
    let mut request = PageRequest { limit: Some(2), cursor: None };
    loop {
        let page = s.videos().page(Some(&owner), &request).await.unwrap();
        seen.extend(page.items.into_iter().map(|v| v.id));
        match page.next_cursor {
            Some(c) => request.cursor = Some(c),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(s.videos().page(None, &PageRequest::default()).await.unwrap().items.len(), 6);
}
