//! Signed playback's storage: access settings on streams and videos (and direct uploads),
//! signing keys (create, page, rotate out, revoke) and shared server secrets.

use crate::tests::owner;
use crate::{NewVideo, PageRequest, PlaybackPolicy, Privacy, Store, VideoDetails};

on_both_dialects!(access_settings_are_stored, signing_keys_live_and_die, server_secrets_are_made_once);

async fn access_settings_are_stored(s: Store) {
    let owner = owner(&s).await;
    s.streams().create("show", &owner, None).await.unwrap();
    let fresh = s.streams().get("show").await.unwrap().unwrap();
    assert_eq!((fresh.privacy, fresh.playback), (Privacy::Public, PlaybackPolicy::Public), "defaults");
    assert!(s.streams().set_access("show", Privacy::Unlisted, PlaybackPolicy::Signed).await.unwrap());
    let changed = s.streams().get("show").await.unwrap().unwrap();
    assert_eq!((changed.privacy, changed.playback), (Privacy::Unlisted, PlaybackPolicy::Signed));
    assert!(!s.streams().set_access("nope", Privacy::Public, PlaybackPolicy::Public).await.unwrap());

    let details =
        VideoDetails { playback: PlaybackPolicy::Signed, privacy: Privacy::Public, ..VideoDetails::default() };
    let video =
        s.videos().create(NewVideo { owner_id: &owner, details, profile: None, upload_size: None }).await.unwrap();
    assert_eq!(video.details.playback, PlaybackPolicy::Signed);
    let mut back = video.details.clone();
    back.playback = PlaybackPolicy::Public;
    assert!(s.videos().set_details(&video.id, back).await.unwrap());
    assert_eq!(s.videos().get(&video.id).await.unwrap().unwrap().details.playback, PlaybackPolicy::Public);

    let signed = VideoDetails { playback: PlaybackPolicy::Signed, ..VideoDetails::default() };
    let (upload, _) = s.direct_uploads().create(&owner, signed, None, 1 << 20, 3600).await.unwrap();
    let stored = s.direct_uploads().get(&upload.id).await.unwrap().unwrap();
    assert_eq!(stored.details.playback, PlaybackPolicy::Signed, "a direct upload keeps the policy it was minted with");
    assert!(PlaybackPolicy::parse("secret").is_err());
}

async fn signing_keys_live_and_die(s: Store) {
    let owner = owner(&s).await;
    let keys = s.signing_keys();
    let a = keys.create(&owner, "EdDSA", "backend", "-----BEGIN PUBLIC KEY-----\n").await.unwrap();
    assert!(a.id.starts_with("key_"), "{}", a.id);
    assert!(keys.create(&owner, "EdDSA", "bad\nname", "pem").await.is_err(), "names are one line");
    let b = keys.create(&owner, "RS256", "", "pem").await.unwrap();
    let now = oxcast_media::clock::unix_seconds();
    assert!(keys.get(&a.id).await.unwrap().unwrap().usable_at(now));

    // Rotating out: usable until the expiry, and an earlier expiry wins.
    assert!(keys.expire_at(&a.id, now + 100).await.unwrap());
    assert!(keys.expire_at(&a.id, now + 1000).await.unwrap());
    let rotated = keys.get(&a.id).await.unwrap().unwrap();
    assert_eq!(rotated.expires_at, Some(now + 100));
    assert!(rotated.usable_at(now + 99) && !rotated.usable_at(now + 100));

    assert!(keys.revoke(&b.id).await.unwrap());
    let revoked = keys.get(&b.id).await.unwrap().unwrap();
    assert!(!revoked.usable_at(now));
    let first_revocation = revoked.revoked_at;
    assert!(keys.revoke(&b.id).await.unwrap(), "revoking again is fine");
    assert_eq!(keys.get(&b.id).await.unwrap().unwrap().revoked_at, first_revocation, "and keeps the first time");
    assert!(!keys.expire_at(&b.id, now + 5).await.unwrap(), "a revoked key cannot be rotated");
    assert!(!keys.revoke("key_missing").await.unwrap());

    let mut seen = Vec::new();
    let mut request = PageRequest { limit: Some(1), cursor: None };
    loop {
        let page = keys.page(Some(&owner), &request).await.unwrap();
        seen.extend(page.items.into_iter().map(|k| k.id));
        match page.next_cursor {
            Some(c) => request.cursor = Some(c),
            None => break,
        }
    }
    seen.sort();
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(seen, expected);
    assert!(keys.page(Some("u_other"), &PageRequest::default()).await.unwrap().items.is_empty());
}

async fn server_secrets_are_made_once(s: Store) {
    let first = s.server_secrets().get_or_create("media", || "one".into()).await.unwrap();
    let second = s.server_secrets().get_or_create("media", || "two".into()).await.unwrap();
    assert_eq!((first.as_str(), second.as_str()), ("one", "one"));
    assert_eq!(s.server_secrets().get_or_create("other", || "x".into()).await.unwrap(), "x");
}
