//! Streams: keys, names, profiles, passphrases, details, order and pages; chat tokens.

#![allow(clippy::unwrap_used)]

use crate::{ChatRole, NewUser, PageRequest, Role, Scopes, Store, StoreError, StreamDetails};

use super::{owner, profiles};

on_both_dialects!(
    keys_resolve_to_their_stream_and_are_not_stored_in_clear,
    duplicate_and_bad_names_are_refused,
    rotation_invalidates_the_old_key,
    profiles_are_stored_per_stream,
    chat_tokens_name_a_viewer_or_a_moderator,
    chat_token_names_follow_the_display_name_rule,
    srt_passphrases_are_validated_and_stored,
    streams_list_in_name_order_with_their_settings,
    pages_walk_every_row_once_with_cursors,
    stream_details_are_checked_and_stored,
    recording_settings_and_broadcasts_are_kept,
);

async fn recording_settings_and_broadcasts_are_kept(s: Store) {
    let owner = owner(&s).await;
    let made = s.streams().create("show", &owner, None).await.unwrap();
    let keyed = s.streams().by_key(made.key.as_str()).await.unwrap().unwrap();
    assert_eq!((keyed.record, keyed.owner_id.as_deref()), (None, Some(owner.as_str())), "the server's default");
    assert!(s.streams().set_record("show", Some(true)).await.unwrap());
    assert_eq!(s.streams().get("show").await.unwrap().unwrap().record, Some(true));
    assert!(s.streams().set_record("show", None).await.unwrap());
    assert_eq!(s.streams().by_key(made.key.as_str()).await.unwrap().unwrap().record, None);
    assert!(!s.streams().set_record("nope", Some(false)).await.unwrap());

    let first = s.broadcasts().start("show", Some(&owner), Some("v_rec")).await.unwrap();
    for n in [3, 9, 6] {
        s.broadcasts().sample_viewers(&first.id, n).await.unwrap();
    }
    assert_eq!(s.broadcasts().unfinished().await.unwrap().len(), 1);
    assert!(s.broadcasts().end(&first.id).await.unwrap());
    assert!(!s.broadcasts().end(&first.id).await.unwrap(), "ends once");
    s.broadcasts().sample_viewers(&first.id, 100).await.unwrap();
    let ended = s.broadcasts().get(&first.id).await.unwrap().unwrap();
    assert_eq!((ended.peak_viewers, ended.average_viewers), (9, 6.0), "no samples after the end");
    assert!(ended.ended_at.is_some() && s.broadcasts().unfinished().await.unwrap().is_empty());
    let second = s.broadcasts().start("show", Some(&owner), None).await.unwrap();
    let page = s.broadcasts().page("show", &PageRequest { limit: Some(1), cursor: None }).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let rest = s.broadcasts().page("show", &PageRequest { limit: Some(1), cursor: page.next_cursor }).await.unwrap();
    let mut ids = vec![page.items[0].id.clone(), rest.items[0].id.clone()];
    ids.sort();
    let mut want = vec![first.id, second.id];
    want.sort();
    assert_eq!(ids, want, "both, once each, newest first");
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
