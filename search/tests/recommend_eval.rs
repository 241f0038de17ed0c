//! Recommendations against a simulated viewing log, through the real store and index:
//! co-watch beats plain popularity on hit rate at 10 for each viewer's held-out last watch; up
//! next never offers the video itself or a hidden one and spreads uploaders; a newcomer's feed
//! is trending, with streams on air first; every item says why.
//!
//! The log's model is fixed here and not tuned to the recommender: 6 topics of 20 videos, 240
//! viewers with one or two favourite topics, 8 watches each (85 % in a favourite topic, the rest
//! anywhere), Zipf popularity within a topic (and over the whole catalog for the stray watches).
//! Titles carry no topic words, so content similarity cannot see the topics; the test measures
//! co-watch alone against popularity.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;

use oxcast_search::{Blend, Reason, Recommender, SearchIndex, rebuild};
use oxcast_store::{
    NewUser, NewVideo, PlaybackPolicy, PlayerEvent, PlayerReport, Privacy, Processed, Role, Store, VideoDetails,
};

const TOPICS: usize = 6;
const PER_TOPIC: usize = 20;
const VIEWERS: usize = 240;
const WATCHES: usize = 8;

/// A small seeded generator (xorshift64*), so the log is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A rank 0..n with probability proportional to 1 / (rank + 1).
    fn zipf(&mut self, n: usize) -> usize {
        let total: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
        let mut x = self.unit() * total;
        for k in 0..n {
            x -= 1.0 / (k + 1) as f64;
            if x <= 0.0 {
                return k;
            }
        }
        n - 1
    }
}

async fn ready(store: &Store, owner: &str, title: String, privacy: Privacy) -> String {
    let details = VideoDetails { title, privacy, playback: PlaybackPolicy::Public, ..VideoDetails::default() };
    let id = store
        .videos()
        .create(NewVideo { owner_id: owner, details, profile: None, upload_size: Some(1) })
        .await
        .unwrap()
        .id;
    store.videos().start_processing(&id).await.unwrap();
    store.videos().set_ready(&id, &Processed { duration_ms: 60_000, ..Processed::default() }).await.unwrap();
    id
}

/// One counted view: a start, then 15 s of watching 15 s later.
async fn view(store: &Store, video: &str, viewer: &str, session: &str, now_ms: i64) {
    let address = format!("addr-{viewer}");
    for (events, at) in [
        (vec![PlayerEvent::Start { position_ms: 0 }], now_ms),
        (vec![PlayerEvent::Heartbeat { position_ms: 15_000, watched_ms: 15_000 }], now_ms + 15_000),
    ] {
        let report = PlayerReport {
            video_id: video,
            duration_ms: 60_000,
            session_id: session,
            viewer,
            address: &address,
            events: &events,
            now_ms: at,
        };
        store.analytics().record(&report).await.unwrap();
    }
}

#[tokio::test]
async fn cowatch_beats_popularity_and_lists_are_clean() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let user = |name| NewUser { name, display_name: None, password: None, role: Role::Creator };
    let owners = [
        store.users().create(user("ann")).await.unwrap().id,
        store.users().create(user("bob")).await.unwrap().id,
        store.users().create(user("cy")).await.unwrap().id,
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Videos: topic t, rank r (0 the most popular); titles say nothing of the topic.
    let mut videos = vec![vec![String::new(); PER_TOPIC]; TOPICS];
    for (t, topic) in videos.iter_mut().enumerate() {
        for (r, slot) in topic.iter_mut().enumerate() {
            let owner = &owners[rng.below(owners.len())];
            *slot = ready(&store, owner, format!("Clip {}", t * PER_TOPIC + r), Privacy::Public).await;
        }
    }
    let hidden = ready(&store, &owners[0], "Clip hidden".into(), Privacy::Private).await;

    // The log; each viewer's last watch is held out (never recorded).
    // Three weeks ago: past the two weeks trending looks at, within co-watch's 30 days.
    let now = oxcast_media::clock::unix_millis() as i64 - 21 * 86_400_000;
    let mut held_out = Vec::new();
    for v in 0..VIEWERS {
        let viewer = format!("vw_sim{v:04}");
        let mut favourites = vec![rng.below(TOPICS)];
        if rng.unit() < 0.5 {
            favourites.push(rng.below(TOPICS));
        }
        let mut watched: Vec<String> = Vec::new();
        while watched.len() < WATCHES {
            let pick = if rng.unit() < 0.85 {
                let topic = favourites[rng.below(favourites.len())];
                videos[topic][rng.zipf(PER_TOPIC)].clone()
            } else {
                let global = rng.zipf(TOPICS * PER_TOPIC);
                videos[global % TOPICS][global / TOPICS].clone()
            };
            if !watched.contains(&pick) {
                watched.push(pick);
            }
        }
        for (i, video) in watched[..WATCHES - 1].iter().enumerate() {
            let at = now + (v * WATCHES + i) as i64 * 60_000;
            view(&store, video, &viewer, &format!("ps_sim{v:04}_{i}"), at).await;
        }
        held_out.push((viewer, watched[WATCHES - 1].clone(), watched[..WATCHES - 1].to_vec()));
    }
    // A private video watched by everyone in the first topic: never recommended.
    for v in 0..20 {
        view(&store, &hidden, &format!("vw_sim{v:04}"), &format!("ps_hidden{v}"), now + 9 * 86_400_000).await;
    }
    store.recommendations().trim().await.unwrap();
    // A stream on air: first in every feed.
    store.streams().create("on-air", &owners[1], None).await.unwrap();
    store.streams().set_access("on-air", Privacy::Public, PlaybackPolicy::Public).await.unwrap();
    store.broadcasts().start("on-air", Some(&owners[1]), None).await.unwrap();

    let index = Arc::new(SearchIndex::in_memory().unwrap());
    rebuild(&index, &store).await.unwrap();
    let cowatch =
        Recommender::new(index.clone(), store.clone()).with_blend(Blend { cowatch: 1.0, content: 0.0, trending: 0.0 });
    let popular = store.recommendations().most_viewed(200).await.unwrap();

    let (mut cowatch_hits, mut popular_hits) = (0, 0);
    for (viewer, target, history) in &held_out {
        let mut feed = cowatch.feed(viewer, 11).await.unwrap();
        assert_eq!((feed[0].item.id.as_str(), feed[0].reason), ("on-air", Reason::LiveNow), "live first");
        feed.remove(0);
        assert!(feed.iter().all(|r| r.item.id != hidden), "a private video in a feed");
        assert!(feed.iter().all(|r| !history.contains(&r.item.id)), "something already watched");
        cowatch_hits += usize::from(feed.iter().any(|r| &r.item.id == target));
        let top: Vec<&String> = popular.iter().map(|(id, _)| id).filter(|id| !history.contains(id)).take(10).collect();
        popular_hits += usize::from(top.contains(&target));
    }
    let (c, p) = (cowatch_hits as f64 / VIEWERS as f64, popular_hits as f64 / VIEWERS as f64);
    eprintln!("hit rate at 10: co-watch {c:.3}, popularity {p:.3} ({VIEWERS} viewers)");
    assert!(c > p, "co-watch {c:.3} must beat popularity {p:.3}");

    // Up next with the default blend: not itself, not hidden, at most two per uploader while
    // others are left, every item with a reason.
    let hybrid = Recommender::new(index.clone(), store.clone());
    let source = &videos[0][0];
    let next = hybrid.up_next(source, 10).await.unwrap();
    assert_eq!(next.len(), 10);
    assert!(next.iter().all(|r| &r.item.id != source && r.item.id != hidden));
    let mut per_owner = std::collections::HashMap::new();
    for r in &next {
        *per_owner.entry(r.item.owner_id.clone()).or_insert(0) += 1;
    }
    assert!(per_owner.values().all(|n| *n <= 4), "{per_owner:?}");
    let reasons: HashSet<Reason> = next.iter().map(|r| r.reason).collect();
    assert!(reasons.contains(&Reason::WatchedTogether), "{reasons:?}");
    let same_topic = next.iter().filter(|r| videos[0].contains(&r.item.id)).count();
    assert!(same_topic >= 5, "up next of a topic-0 video mostly stays in topic 0: {same_topic} of 10");

    // A newcomer has no history: the feed is what was watched most of late.
    let fresh = oxcast_media::clock::unix_millis() as i64 - 60_000;
    for (i, video) in videos[3][..3].iter().enumerate() {
        for v in 0..(3 - i) {
            view(&store, video, &format!("vw_fresh{i}{v}"), &format!("ps_fresh{i}{v}"), fresh - 30_000).await;
        }
    }
    let feed = hybrid.feed("vw_newcomer", 5).await.unwrap();
    assert_eq!(feed[0].reason, Reason::LiveNow);
    assert_eq!(feed.get(1).map(|r| r.reason), Some(Reason::Trending), "{feed:?}");
    assert_eq!(feed[1].item.id, videos[3][0], "the most watched of late first");
}
