//! View analytics: credit bounded by wall time, views counted once per viewer and a few times per
//! address, short videos, retention, daily aggregates, ratings.

#![allow(clippy::unwrap_used)]

use crate::{
    Analytics, NewUser, NewVideo, PlayerEvent, PlayerReport, Privacy, Processed, Rating, Role, Store, VideoDetails,
};

use super::owner;

on_both_dialects!(
    watching_is_credited_by_the_clock_and_counts_once_per_viewer,
    one_address_cannot_make_views_without_end,
    a_short_video_counts_when_watched_through_and_retention_follows_positions,
    ratings_are_one_per_user_and_changeable,
    views_pair_up_as_they_come_and_the_pairs_stay_bounded,
    unfinished_videos_are_listed_until_watched_through,
);

const T: i64 = 1_800_000_000_000;

async fn ready_video(s: &Store, seconds: i64) -> String {
    let owner = owner(s).await;
    let details = VideoDetails { title: "Watched".into(), privacy: Privacy::Public, ..VideoDetails::default() };
    let id = s
        .videos()
        .create(NewVideo { owner_id: &owner, details, profile: None, upload_size: Some(1) })
        .await
        .unwrap()
        .id;
    s.videos().start_processing(&id).await.unwrap();
    s.videos().set_ready(&id, &Processed { duration_ms: seconds * 1000, ..Processed::default() }).await.unwrap();
    id
}

fn report<'a>(
    video: &'a str,
    duration_ms: i64,
    session: &'a str,
    viewer: &'a str,
    address: &'a str,
    events: &'a [PlayerEvent],
    now_ms: i64,
) -> PlayerReport<'a> {
    PlayerReport { video_id: video, duration_ms, session_id: session, viewer, address, events, now_ms }
}

fn beat(position_s: i64, watched_s: i64) -> PlayerEvent {
    PlayerEvent::Heartbeat { position_ms: position_s * 1000, watched_ms: watched_s * 1000 }
}

async fn watching_is_credited_by_the_clock_and_counts_once_per_viewer(s: Store) {
    let video = ready_video(&s, 600).await;
    let a: Analytics<'_> = s.analytics();
    let start = [PlayerEvent::Start { position_ms: 0 }];
    a.record(&report(&video, 600_000, "ps_1", "vw_a", "1.2.3.4", &start, T)).await.unwrap();
    // An hour claimed one second later: only the second (and the slack) is credited.
    let liar = [beat(3600, 3600)];
    let r = a.record(&report(&video, 600_000, "ps_1", "vw_a", "1.2.3.4", &liar, T + 1_000)).await.unwrap();
    assert_eq!((r.credited_ms, r.counted), (6_000, false));
    // Honest heartbeats every 5 s: counted once past 10 s, never again.
    let r = a.record(&report(&video, 600_000, "ps_1", "vw_a", "1.2.3.4", &[beat(11, 5)], T + 6_000)).await.unwrap();
    assert!(r.counted_now, "{r:?}");
    let r = a.record(&report(&video, 600_000, "ps_1", "vw_a", "1.2.3.4", &[beat(16, 5)], T + 11_000)).await.unwrap();
    assert!(r.counted && !r.counted_now);
    // The same viewer in a new session the same day: watched, not counted again.
    a.record(&report(&video, 600_000, "ps_2", "vw_a", "1.2.3.4", &start, T + 20_000)).await.unwrap();
    let r = a.record(&report(&video, 600_000, "ps_2", "vw_a", "1.2.3.4", &[beat(20, 20)], T + 40_000)).await.unwrap();
    assert!(!r.counted && r.credited_ms == 20_000, "{r:?}");
    // A session id is tied to its video and viewer.
    assert!(a.record(&report(&video, 600_000, "ps_2", "vw_b", "1.2.3.4", &start, T + 41_000)).await.is_err());
    let stats = a.stats(&video, 30, (T / 1000) / 86_400).await.unwrap();
    assert_eq!(stats.views, 1);
    assert_eq!(stats.watch_ms, 6_000 + 5_000 + 5_000 + 20_000);
    assert_eq!(stats.daily, [((T / 1000) / 86_400, 1, 36_000)]);
    assert_eq!(s.videos().get(&video).await.unwrap().unwrap().view_count, 1);
}

async fn one_address_cannot_make_views_without_end(s: Store) {
    let video = ready_video(&s, 600).await;
    let a = s.analytics();
    let mut counted = 0;
    for i in 0..8 {
        let (session, viewer) = (format!("ps_{i}"), format!("vw_{i}"));
        let t = T + i * 60_000;
        a.record(&report(&video, 600_000, &session, &viewer, "5.6.7.8", &[PlayerEvent::Start { position_ms: 0 }], t))
            .await
            .unwrap();
        let r = a
            .record(&report(&video, 600_000, &session, &viewer, "5.6.7.8", &[beat(15, 15)], t + 15_000))
            .await
            .unwrap();
        counted += i64::from(r.counted_now);
    }
    assert_eq!(counted, crate::analytics::VIEWS_PER_ADDRESS, "new viewer ids from one address");
    // Another address still counts.
    a.record(&report(&video, 600_000, "ps_x", "vw_x", "9.9.9.9", &[PlayerEvent::Start { position_ms: 0 }], T))
        .await
        .unwrap();
    assert!(
        a.record(&report(&video, 600_000, "ps_x", "vw_x", "9.9.9.9", &[beat(12, 12)], T + 12_000))
            .await
            .unwrap()
            .counted_now
    );
}

async fn a_short_video_counts_when_watched_through_and_retention_follows_positions(s: Store) {
    let video = ready_video(&s, 6).await;
    let a = s.analytics();
    a.record(&report(&video, 6_000, "ps_s", "vw_s", "1.1.1.1", &[PlayerEvent::Start { position_ms: 0 }], T))
        .await
        .unwrap();
    let r = a.record(&report(&video, 6_000, "ps_s", "vw_s", "1.1.1.1", &[beat(3, 3)], T + 3_000)).await.unwrap();
    assert!(!r.counted, "half of a 6 s video");
    let end = [PlayerEvent::End { position_ms: 6_000, watched_ms: 3_000 }];
    assert!(a.record(&report(&video, 6_000, "ps_s", "vw_s", "1.1.1.1", &end, T + 6_000)).await.unwrap().counted_now);
    // A second viewer watches only the first half.
    a.record(&report(&video, 6_000, "ps_t", "vw_t", "2.2.2.2", &[PlayerEvent::Start { position_ms: 0 }], T))
        .await
        .unwrap();
    a.record(&report(&video, 6_000, "ps_t", "vw_t", "2.2.2.2", &[beat(3, 3)], T + 3_000)).await.unwrap();
    let stats = a.stats(&video, 30, (T / 1000) / 86_400).await.unwrap();
    assert_eq!(stats.views, 1, "the half-watcher is no view");
    assert_eq!(stats.retention, [1; 20], "the one view watched everything");
    // Once the second counts (watching on to the end), the second half has one view of two.
    let end = [PlayerEvent::End { position_ms: 6_000, watched_ms: 3_000 }];
    a.record(&report(&video, 6_000, "ps_t", "vw_t", "2.2.2.2", &end, T + 6_000)).await.unwrap();
    let stats = a.stats(&video, 30, (T / 1000) / 86_400).await.unwrap();
    assert_eq!(stats.views, 2);
    assert_eq!(stats.retention, [2; 20]);
}

async fn ratings_are_one_per_user_and_changeable(s: Store) {
    let video = ready_video(&s, 60).await;
    let a = s.analytics();
    let ann = s
        .users()
        .create(NewUser { name: "ann", display_name: None, password: None, role: Role::Creator })
        .await
        .unwrap();
    let bob = s
        .users()
        .create(NewUser { name: "bob", display_name: None, password: None, role: Role::Creator })
        .await
        .unwrap();
    assert_eq!(a.rate(&video, &ann.id, Some(Rating::Like)).await.unwrap(), (1, 0));
    assert_eq!(a.rate(&video, &ann.id, Some(Rating::Like)).await.unwrap(), (1, 0), "idempotent");
    assert_eq!(a.rate(&video, &bob.id, Some(Rating::Dislike)).await.unwrap(), (1, 1));
    assert_eq!(a.rate(&video, &ann.id, Some(Rating::Dislike)).await.unwrap(), (0, 2), "changed");
    assert_eq!(a.rating_of(&video, &ann.id).await.unwrap(), Some(Rating::Dislike));
    assert_eq!(a.rate(&video, &bob.id, None).await.unwrap(), (0, 1), "taken back");
    assert_eq!(a.rating_of(&video, &bob.id).await.unwrap(), None);
    let v = s.videos().get(&video).await.unwrap().unwrap();
    let stats = a.stats(&v.id, 30, 0).await.unwrap();
    assert_eq!((stats.likes, stats.dislikes), (0, 1));
}

/// A counted view of `video` by `viewer` at `at` (a start, then 12 s of watching).
async fn counted_view(s: &Store, video: &str, viewer: &str, at: i64) {
    let session = format!("ps_{viewer}_{video}");
    let address = format!("a-{viewer}");
    let start = [PlayerEvent::Start { position_ms: 0 }];
    s.analytics().record(&report(video, 600_000, &session, viewer, &address, &start, at)).await.unwrap();
    let r =
        s.analytics().record(&report(video, 600_000, &session, viewer, &address, &[beat(12, 12)], at + 12_000)).await;
    assert!(r.unwrap().counted_now);
}

async fn views_pair_up_as_they_come_and_the_pairs_stay_bounded(s: Store) {
    let (a, b, c) = (ready_video(&s, 600).await, ready_video(&s, 600).await, ready_video(&s, 600).await);
    counted_view(&s, &a, "vw_p1", T).await;
    counted_view(&s, &b, "vw_p1", T + 60_000).await;
    counted_view(&s, &c, "vw_p1", T + 120_000).await;
    counted_view(&s, &a, "vw_p2", T).await;
    counted_view(&s, &b, "vw_p2", T + 60_000).await;
    let r = s.recommendations();
    let of_a = r.cowatched(&a, 10).await.unwrap();
    assert_eq!(of_a, [(b.clone(), 2, 2), (c.clone(), 1, 1)], "both directions, strongest first, with views");
    assert_eq!(r.cowatched(&c, 10).await.unwrap().len(), 2);
    assert_eq!(r.history("vw_p1", 10).await.unwrap(), [c.clone(), b.clone(), a.clone()], "newest first");
    // A video watched with more others than are kept: trimmed to the strongest.
    let keep = crate::recommendations::COWATCH_KEEP as usize;
    for i in 0..keep + 5 {
        let other = ready_video(&s, 600).await;
        let viewer = format!("vw_many{i:03}");
        counted_view(&s, &a, &viewer, T + 1_000_000).await;
        counted_view(&s, &other, &viewer, T + 1_060_000).await;
    }
    assert!(r.trim().await.unwrap() >= 5);
    let kept = r.cowatched(&a, 1000).await.unwrap();
    assert_eq!(kept.len(), keep);
    assert_eq!(kept[0], (b.clone(), 2, 2), "the strongest pair stays");
}

async fn unfinished_videos_are_listed_until_watched_through(s: Store) {
    let (long, short) = (ready_video(&s, 600).await, ready_video(&s, 600).await);
    let a = s.analytics();
    let start = [PlayerEvent::Start { position_ms: 0 }];
    a.record(&report(&long, 600_000, "ps_u1", "vw_u", "1.1.1.1", &start, T)).await.unwrap();
    a.record(&report(&long, 600_000, "ps_u1", "vw_u", "1.1.1.1", &[beat(40, 40)], T + 40_000)).await.unwrap();
    a.record(&report(&short, 600_000, "ps_u2", "vw_u", "1.1.1.1", &start, T + 50_000)).await.unwrap();
    a.record(&report(&short, 600_000, "ps_u2", "vw_u", "1.1.1.1", &[beat(3, 3)], T + 53_000)).await.unwrap();
    assert_eq!(a.unfinished("vw_u", 10).await.unwrap(), [(long.clone(), 40_000)], "3 s in is not started");
    // Watched to the end in a later session: no longer unfinished.
    let end = [PlayerEvent::End { position_ms: 600_000, watched_ms: 50_000 }];
    a.record(&report(&long, 600_000, "ps_u3", "vw_u", "1.1.1.1", &start, T + 100_000)).await.unwrap();
    a.record(&report(&long, 600_000, "ps_u3", "vw_u", "1.1.1.1", &end, T + 160_000)).await.unwrap();
    assert!(a.unfinished("vw_u", 10).await.unwrap().is_empty());
    assert!(a.unfinished("vw_other", 10).await.unwrap().is_empty());
}
