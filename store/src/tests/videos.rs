//! The video catalog: transitions, details, pages.

#![allow(clippy::unwrap_used)]

use crate::{NewUser, NewVideo, PageRequest, Privacy, Processed, Role, Store, StoreError, VideoDetails, VideoStatus};

use super::owner;

on_both_dialects!(
    videos_move_from_upload_to_ready_or_failed_and_nowhere_else,
    video_details_are_checked,
    videos_page_newest_first_per_owner,
    direct_upload_urls_work_once_and_then_only_for_their_video,
);

async fn direct_upload_urls_work_once_and_then_only_for_their_video(s: Store) {
    let owner = owner(&s).await;
    let details =
        VideoDetails { title: "From the browser".into(), privacy: Privacy::Unlisted, ..VideoDetails::default() };
    let (minted, secret) = s.direct_uploads().create(&owner, details, None, 1000, 3600).await.unwrap();
    assert!(secret.as_str().starts_with("dup_"));
    assert_eq!(minted.details.title, "From the browser");
    assert!(s.direct_uploads().usable(secret.as_str()).await.unwrap().is_some());
    let taken = s.direct_uploads().redeem(secret.as_str()).await.unwrap().expect("first use");
    assert!(s.direct_uploads().usable(secret.as_str()).await.unwrap().is_none());
    assert_eq!((taken.id.as_str(), taken.max_bytes), (minted.id.as_str(), 1000));
    assert!(s.direct_uploads().redeem(secret.as_str()).await.unwrap().is_none(), "works once");
    assert!(s.direct_uploads().redeem("dup_wrong").await.unwrap().is_none());
    let video = s
        .videos()
        .create(NewVideo { owner_id: &owner, details: taken.details.clone(), profile: None, upload_size: Some(10) })
        .await
        .unwrap();
    assert!(!s.direct_uploads().authorizes(secret.as_str(), &video.id).await.unwrap(), "not before it is linked");
    s.direct_uploads().set_video(&taken.id, &video.id).await.unwrap();
    assert!(s.direct_uploads().authorizes(secret.as_str(), &video.id).await.unwrap());
    assert!(!s.direct_uploads().authorizes(secret.as_str(), "v_other").await.unwrap());
    assert_eq!(s.direct_uploads().get(&minted.id).await.unwrap().unwrap().video_id.as_deref(), Some(video.id.as_str()));
    // Expired: never redeemable.
    let (_, old) = s.direct_uploads().create(&owner, VideoDetails::default(), None, 1000, 1).await.unwrap();
    s.direct_uploads().age_for_tests(4000).await.unwrap();
    assert!(s.direct_uploads().redeem(old.as_str()).await.unwrap().is_none());
    assert!(!s.direct_uploads().authorizes(secret.as_str(), &video.id).await.unwrap(), "expired links stop working");
    // Bad details are refused at minting.
    let bad = VideoDetails { title: "a\nb".into(), ..VideoDetails::default() };
    assert!(matches!(s.direct_uploads().create(&owner, bad, None, 1, 1).await, Err(StoreError::Invalid(_))));
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
    assert!(s.videos().set_progress(&v.id, "encoding", 0.5, Some(12)).await.unwrap());
    assert!(s.videos().set_source(&v.id, r#"{"container":"mp4"}"#, Some(59_990)).await.unwrap());
    let p = s.videos().get(&v.id).await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.stage.as_deref(), p.progress, p.bytes_received, p.eta_seconds, p.playable),
        (VideoStatus::Processing, Some("encoding"), 0.5, 400, Some(12), false)
    );
    assert_eq!((p.source.as_deref(), p.duration_ms), (Some(r#"{"container":"mp4"}"#), Some(59_990)));
    assert!(s.videos().set_playable(&v.id).await.unwrap());
    assert!(s.videos().get(&v.id).await.unwrap().unwrap().playable);
    let processed = Processed {
        source: r#"{"container":"mp4"}"#.into(),
        renditions: "[]".into(),
        duration_ms: 60_000,
        poster_key: Some("videos/x/poster.jpg".into()),
        storyboard_key: None,
    };
    assert!(s.videos().set_ready(&v.id, &processed).await.unwrap());
    let ready = s.videos().get(&v.id).await.unwrap().unwrap();
    assert_eq!(
        (ready.status, ready.progress, ready.duration_ms, ready.playable, ready.eta_seconds),
        (VideoStatus::Ready, 1.0, Some(60_000), true, None)
    );
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
    assert!(!s.videos().set_playable(&w.id).await.unwrap(), "only while processing");
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
