//! The chat scenarios end to end through real websockets, each on both backends: in-process and
//! Redis (`OXCAST_TEST_REDIS_URL`, default redis://127.0.0.1:6379). The Redis backend decides
//! posts in Lua (`backend/redis/post.lua`) by the rules `moderation::RoomRules` implements for the
//! in-process one; running every scenario on both is what keeps the two from drifting apart.
//!
//! Every scenario is an `async fn(BackendChoice)`; [`scenarios!`] makes the two tests
//! `in_process::NAME` and `on_redis::NAME` of it (or only the first, for a scenario that cannot
//! hold on Redis: each says why). Each scenario uses its own random room, so they run in parallel
//! against one Redis, and deletes the room's keys when it passes.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use oxcast_chat::{BackendChoice, ChatConfig, ErrorCode, RateSpec, Role, ServerFrame, Viewers};

/// Two `#[tokio::test]`s per scenario of `both`: `in_process::NAME` and `on_redis::NAME`; one,
/// `in_process::NAME`, per scenario of `in_process_only`.
macro_rules! scenarios {
    (both: [$($both:ident),* $(,)?], in_process_only: [$($local:ident),* $(,)?] $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $both() {
                    super::$both(oxcast_chat::BackendChoice::InProcess).await;
                }
            )*
            $(
                #[tokio::test]
                async fn $local() {
                    super::$local(oxcast_chat::BackendChoice::InProcess).await;
                }
            )*
        }
        mod on_redis {
            $(
                #[tokio::test]
                async fn $both() {
                    super::$both(oxcast_chat::BackendChoice::Redis { url: super::redis_url() }).await;
                }
            )*
        }
    };
}

scenarios! {
    both: [
        join_replays_history_and_messages_reach_everyone,
        history_is_capped,
        guest_names_default_and_are_validated,
        unknown_rooms_404_and_bad_tokens_401,
        rate_limits_per_connection_and_per_user,
        too_long_messages_and_garbage_frames_get_errors,
        wrong_version_and_commands_before_hello,
        moderation_delete_timeout_ban_unban_and_forbidden,
        slow_mode_limits_viewers_not_moderators,
        slow_mode_changes_count_from_the_last_post,
        viewers_are_counted_once_per_key_and_pushed,
        shutdown_closes_sockets_and_returns,
    ],
    in_process_only: [
        // Lagging is the node-local hub's doing, the same for both backends; what makes a client
        // lag is events arriving faster than its socket drains. On Redis every post waits for
        // two round trips, which paces 3000 posts (1.5 MB) slowly enough for the kernel's socket
        // buffers (autotuned up to `tcp_wmem`'s maximum, 4 MB on Linux by default) to take them
        // all: the client never falls 16 events behind. Only sending more than those buffers
        // hold would make it lag, and how much that is depends on the machine.
        slow_client_gets_lagged_and_stays_connected,
    ],
}

fn relaxed() -> ChatConfig {
    ChatConfig {
        connection_rate: RateSpec::new(1_000_000, Duration::from_secs(1)),
        user_rate: RateSpec::new(1_000_000, Duration::from_secs(1)),
        ..ChatConfig::default()
    }
}

async fn node(backend: &BackendChoice, config: ChatConfig) -> Node {
    Node::start(config, backend.clone()).await
}

/// Stops the node, then deletes what the scenario left in Redis.
async fn finish(n: Node, backend: &BackendChoice, room: &str) {
    n.stop().await;
    purge_room(backend, room).await;
}

async fn join_replays_history_and_messages_reach_everyone(backend: BackendChoice) {
    let n = node(&backend, relaxed()).await;
    let room = unique_room();
    let (mut a, welcome) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    match &welcome {
        ServerFrame::Welcome { v, you, history, slow_mode, viewers } => {
            assert_eq!(*v, 1);
            assert_eq!((you.id.as_str(), you.name.as_str(), you.role), ("viewer-1", "Vi", Role::Viewer));
            assert!(history.is_empty());
            assert_eq!(*slow_mode, 0);
            assert_eq!(viewers.current, 1);
        }
        other => panic!("{other:?}"),
    }
    for t in ["one", "two", "three"] {
        a.say(t).await;
        a.until_text(t).await;
    }
    let (mut b, welcome) = Client::joined(&n.url(&room, None), Some("Bea")).await;
    assert_eq!(history(&welcome), ["one", "two", "three"]);
    let ServerFrame::Welcome { you, viewers, .. } = welcome else { unreachable!() };
    assert!(you.id.starts_with("guest-"));
    assert_eq!((you.name.as_str(), you.role), ("Bea", Role::Guest));
    assert_eq!(viewers.current, 2);

    b.say("hi from bea").await;
    let m = a.until_text("hi from bea").await;
    assert_eq!(m.user.name, "Bea");
    assert_eq!(m.user.role, Role::Guest);
    assert!(m.at > 1_600_000_000_000);
    let echo = b.until_text("hi from bea").await;
    assert_eq!(echo.id, m.id);
    a.say("four").await;
    assert!(b.until_text("four").await.id > m.id);
    finish(n, &backend, &room).await;
}

async fn history_is_capped(backend: BackendChoice) {
    let n = node(&backend, ChatConfig { history_len: 3, ..relaxed() }).await;
    let room = unique_room();
    let (mut a, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    for i in 0..5 {
        a.say(&format!("m{i}")).await;
    }
    a.until_text("m4").await;
    let (_b, w) = Client::joined(&n.url(&room, None), None).await;
    assert_eq!(history(&w), ["m2", "m3", "m4"]);
    finish(n, &backend, &room).await;
}

async fn guest_names_default_and_are_validated(backend: BackendChoice) {
    let n = node(&backend, relaxed()).await;
    let room = unique_room();
    let (_g, w) = Client::joined(&n.url(&room, None), None).await;
    let ServerFrame::Welcome { you, .. } = w else { unreachable!() };
    assert!(you.name.starts_with("guest-") && you.name.len() == 10, "{}", you.name);

    let mut c = Client::open(&n.url(&room, None)).await.unwrap();
    c.hello(Some(&"x".repeat(40))).await;
    assert_eq!(error_code(&c.next().await), Some(ErrorCode::BadRequest));
    c.hello(Some("  Zed ")).await;
    let ServerFrame::Welcome { you, .. } = c.next().await else { panic!() };
    assert_eq!(you.name, "Zed");
    finish(n, &backend, &room).await;
}

async fn unknown_rooms_404_and_bad_tokens_401(backend: BackendChoice) {
    let n = node(&backend, relaxed()).await;
    let status = |e: tokio_tungstenite::tungstenite::Error| match e {
        tokio_tungstenite::tungstenite::Error::Http(r) => r.status().as_u16(),
        other => panic!("{other:?}"),
    };
    let e = Client::open(&n.url("missing-stream", None)).await.err().unwrap();
    assert_eq!(status(e), 404);
    let e = Client::open(&n.url("bad:name", None)).await.err().unwrap();
    assert_eq!(status(e), 404);
    let e = Client::open(&n.url(&unique_room(), Some("wrong"))).await.err().unwrap();
    assert_eq!(status(e), 401);
    n.stop().await;
}

async fn rate_limits_per_connection_and_per_user(backend: BackendChoice) {
    let n = node(
        &backend,
        ChatConfig {
            connection_rate: RateSpec::new(3, Duration::from_secs(60)),
            user_rate: RateSpec::new(4, Duration::from_secs(60)),
            ..ChatConfig::default()
        },
    )
    .await;
    let room = unique_room();
    let (mut a, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    for i in 0..3 {
        a.say(&format!("a{i}")).await;
        a.until_text(&format!("a{i}")).await;
    }
    a.say("a3").await;
    match a.next().await {
        ServerFrame::Error { code: ErrorCode::RateLimited, message, retry_after_ms } => {
            assert!(message.contains("connection"), "{message}");
            assert!(retry_after_ms.unwrap() > 1000);
        }
        other => panic!("{other:?}"),
    }
    // Same user, second connection: its own connection budget is fresh, the user's is not.
    let (mut a2, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    a2.say("b0").await;
    a2.until_text("b0").await;
    a2.say("b1").await;
    match a2.next().await {
        ServerFrame::Error { code: ErrorCode::RateLimited, message, .. } => {
            assert!(!message.contains("connection"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Another user is not affected.
    let (mut v2, _) = Client::joined(&n.url(&room, Some("viewer2")), None).await;
    v2.say("c0").await;
    v2.until_text("c0").await;
    finish(n, &backend, &room).await;
}

async fn too_long_messages_and_garbage_frames_get_errors(backend: BackendChoice) {
    let n = node(&backend, relaxed()).await;
    let room = unique_room();
    let (mut a, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    a.say(&"é".repeat(501)).await;
    assert_eq!(error_code(&a.next().await), Some(ErrorCode::TooLong));
    a.say(&"é".repeat(500)).await;
    assert!(matches!(a.next().await, ServerFrame::Message(_)));
    for garbage in ["not json", "{}", r#"{"type":"launch_missiles"}"#, r#"{"type":"send","text":7}"#] {
        a.raw(garbage).await;
        assert_eq!(error_code(&a.next().await), Some(ErrorCode::BadRequest), "{garbage}");
    }
    a.ws.send(tokio_tungstenite::tungstenite::Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(error_code(&a.next().await), Some(ErrorCode::BadRequest));
    // Still alive.
    a.raw(r#"{"type":"ping"}"#).await;
    assert_eq!(a.next().await, ServerFrame::Pong);
    // Oversized frame: error, then close.
    a.say(&"x".repeat(5000)).await;
    assert_eq!(error_code(&a.next().await), Some(ErrorCode::TooLong));
    a.expect_closed().await;
    finish(n, &backend, &room).await;
}

use futures_util::SinkExt;

async fn wrong_version_and_commands_before_hello(backend: BackendChoice) {
    let n = node(&backend, relaxed()).await;
    let room = unique_room();
    let mut c = Client::open(&n.url(&room, Some("viewer"))).await.unwrap();
    c.say("too early").await;
    assert_eq!(error_code(&c.next().await), Some(ErrorCode::BadRequest));
    c.raw(r#"{"type":"hello","v":99}"#).await;
    assert_eq!(error_code(&c.next().await), Some(ErrorCode::BadRequest));
    c.expect_closed().await;
    finish(n, &backend, &room).await;
}

async fn moderation_delete_timeout_ban_unban_and_forbidden(backend: BackendChoice) {
    let n = node(&backend, relaxed()).await;
    let room = unique_room();
    let (mut owner, _) = Client::joined(&n.url(&room, Some("owner")), None).await;
    let (mut m, _) = Client::joined(&n.url(&room, Some("mod")), None).await;
    let (mut v, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;

    // Viewers cannot moderate.
    for f in [
        r#"{"type":"delete","id":1}"#,
        r#"{"type":"timeout","user":"mod-1","seconds":10}"#,
        r#"{"type":"ban","user":"mod-1"}"#,
        r#"{"type":"unban","user":"mod-1"}"#,
        r#"{"type":"slow_mode","seconds":10}"#,
    ] {
        v.raw(f).await;
        assert_eq!(error_code(&v.next().await), Some(ErrorCode::Forbidden), "{f}");
    }
    // Nobody times out or bans the owner.
    m.raw(r#"{"type":"ban","user":"owner-1"}"#).await;
    assert_eq!(error_code(&m.next().await), Some(ErrorCode::Forbidden));
    m.raw(r#"{"type":"timeout","user":"owner-1","seconds":10}"#).await;
    assert_eq!(error_code(&m.next().await), Some(ErrorCode::Forbidden));

    // Delete: broadcast, and gone from history.
    v.say("spam").await;
    let spam = m.until_text("spam").await;
    m.raw(&format!(r#"{{"type":"delete","id":{}}}"#, spam.id)).await;
    for c in [&mut owner, &mut m, &mut v] {
        c.until(|f| *f == ServerFrame::Deleted { id: spam.id }).await;
    }
    let (_late, w) = Client::joined(&n.url(&room, Some("viewer2")), None).await;
    assert!(!history(&w).contains(&"spam".to_owned()));

    // Timeout: announced, sends refused, lifted with 0.
    m.raw(r#"{"type":"timeout","user":"viewer-1","seconds":60}"#).await;
    let until = match v.until(|f| matches!(f, ServerFrame::UserTimedOut { .. })).await {
        ServerFrame::UserTimedOut { user, until } => {
            assert_eq!(user, "viewer-1");
            until
        }
        _ => unreachable!(),
    };
    assert!(until > 1_600_000_000_000);
    v.say("let me talk").await;
    match v.next().await {
        ServerFrame::Error { code: ErrorCode::TimedOut, retry_after_ms: Some(ms), .. } => {
            assert!(ms > 50_000 && ms <= 60_000, "{ms}")
        }
        other => panic!("{other:?}"),
    }
    m.raw(r#"{"type":"timeout","user":"viewer-1","seconds":0}"#).await;
    v.until(|f| matches!(f, ServerFrame::UserTimedOut { until: 0, .. })).await;
    v.say("free again").await;
    v.until_text("free again").await;

    // Ban: the user's sockets get the event and are closed; rejoining is refused.
    m.raw(r#"{"type":"ban","user":"viewer-1"}"#).await;
    owner.until(|f| *f == ServerFrame::UserBanned { user: "viewer-1".into() }).await;
    v.until(|f| *f == ServerFrame::UserBanned { user: "viewer-1".into() }).await;
    v.expect_closed().await;
    match Client::join(&n.url(&room, Some("viewer")), None).await {
        Joined::Refused(f) => assert_eq!(error_code(&f), Some(ErrorCode::Banned)),
        Joined::Welcome(..) => panic!("banned user rejoined"),
    }
    m.raw(r#"{"type":"unban","user":"viewer-1"}"#).await;
    owner.until(|f| *f == ServerFrame::UserUnbanned { user: "viewer-1".into() }).await;
    let (mut v, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    v.say("back").await;
    owner.until_text("back").await;
    finish(n, &backend, &room).await;
}

async fn slow_mode_limits_viewers_not_moderators(backend: BackendChoice) {
    let n = node(&backend, relaxed()).await;
    let room = unique_room();
    let (mut m, _) = Client::joined(&n.url(&room, Some("mod")), None).await;
    let (mut v, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    m.raw(r#"{"type":"slow_mode","seconds":30}"#).await;
    v.until(|f| *f == ServerFrame::SlowMode { seconds: 30 }).await;
    let (_late, w) = Client::joined(&n.url(&room, None), None).await;
    assert!(matches!(w, ServerFrame::Welcome { slow_mode: 30, .. }));
    v.say("first").await;
    v.until_text("first").await;
    v.say("second").await;
    match v.next().await {
        ServerFrame::Error { code: ErrorCode::SlowMode, retry_after_ms: Some(ms), .. } => {
            assert!(ms > 25_000, "{ms}")
        }
        other => panic!("{other:?}"),
    }
    m.say("mod 1").await;
    m.until_text("mod 1").await;
    m.say("mod 2").await;
    m.until_text("mod 2").await;
    m.raw(r#"{"type":"slow_mode","seconds":0}"#).await;
    v.until(|f| *f == ServerFrame::SlowMode { seconds: 0 }).await;
    v.say("third").await;
    v.until_text("third").await;
    finish(n, &backend, &room).await;
}

/// Sends `text` and waits for it to come back; fails at once if an error comes back instead.
async fn posted(c: &mut Client, text: &str) {
    c.say(text).await;
    match c.until(|f| matches!(f, ServerFrame::Message(m) if m.text == text) || error_code(f).is_some()).await {
        ServerFrame::Message(_) => {}
        refused => panic!("{text:?} refused: {refused:?}"),
    }
}

async fn slow_mode_changes_count_from_the_last_post(backend: BackendChoice) {
    let n = node(&backend, relaxed()).await;
    let room = unique_room();
    let (mut m, _) = Client::joined(&n.url(&room, Some("mod")), None).await;
    let (mut v, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    let set_slow_mode = |seconds: u32| serde_json::json!({"type": "slow_mode", "seconds": seconds}).to_string();

    // Turned off and on again: nobody's earlier post counts any more.
    m.raw(&set_slow_mode(30)).await;
    v.until(|f| *f == ServerFrame::SlowMode { seconds: 30 }).await;
    posted(&mut v, "before off").await;
    m.raw(&set_slow_mode(0)).await;
    v.until(|f| *f == ServerFrame::SlowMode { seconds: 0 }).await;
    m.raw(&set_slow_mode(30)).await;
    v.until(|f| *f == ServerFrame::SlowMode { seconds: 30 }).await;
    posted(&mut v, "after on").await;

    // Shortened: the new interval counts from the last post.
    m.raw(&set_slow_mode(1)).await;
    v.until(|f| *f == ServerFrame::SlowMode { seconds: 1 }).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    posted(&mut v, "after a second").await;

    // Lengthened: likewise.
    m.raw(&set_slow_mode(60)).await;
    v.until(|f| *f == ServerFrame::SlowMode { seconds: 60 }).await;
    v.say("too soon").await;
    match v.next().await {
        ServerFrame::Error { code: ErrorCode::SlowMode, message, retry_after_ms: Some(ms) } => {
            assert!(ms > 55_000 && ms <= 60_000, "{ms}");
            assert_eq!(message, "slow mode: one message every 60 s");
        }
        other => panic!("{other:?}"),
    }
    finish(n, &backend, &room).await;
}

async fn slow_client_gets_lagged_and_stays_connected(backend: BackendChoice) {
    let n = node(&backend, ChatConfig { room_buffer: 16, ..relaxed() }).await;
    let room = unique_room();
    let mut slow = Client::open_small_buffer(n.addr, &n.url(&room, Some("viewer2"))).await;
    slow.hello(None).await;
    assert!(matches!(slow.next().await, ServerFrame::Welcome { .. }));

    let (fast, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    // The sender reads its echoes concurrently so only `slow` is slow.
    let (mut tx, mut rx) = fast.ws.split();
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    let filler = "z".repeat(450);
    for i in 0..3000 {
        let frame = serde_json::json!({"type": "send", "text": format!("{i} {filler}")});
        tx.send(tokio_tungstenite::tungstenite::Message::text(frame.to_string())).await.unwrap();
    }
    tx.send(tokio_tungstenite::tungstenite::Message::text(r#"{"type":"send","text":"the end"}"#)).await.unwrap();

    // Now read: somewhere there is a `lagged`, and the stream continues up to the last message.
    let mut skipped = 0;
    loop {
        match slow.next().await {
            ServerFrame::Lagged { skipped: s } => skipped += s,
            ServerFrame::Message(m) if m.text == "the end" => break,
            ServerFrame::Message(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(skipped > 0, "the slow client never lagged");
    // Still a member of the room.
    slow.say("still here").await;
    slow.until_text("still here").await;
    drain.abort();
    finish(n, &backend, &room).await;
}

async fn viewers_are_counted_once_per_key_and_pushed(backend: BackendChoice) {
    let n = node(&backend, ChatConfig { viewers_interval: Duration::from_millis(100), ..relaxed() }).await;
    let room = unique_room();
    let (mut a, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    // Two tabs of the same user count once.
    let (_a2, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    let (b, _) = Client::joined(&n.url(&room, Some("viewer2")), None).await;
    assert_eq!(n.service.viewers(&room).await.unwrap(), Viewers { current: 2, peak: 2 });
    // An HLS session of a chatting user counts once; another viewer's adds one.
    n.service.presence_touch(&room, "viewer-1").await.unwrap();
    n.service.presence_touch(&room, "hls-only").await.unwrap();
    assert_eq!(n.service.viewers(&room).await.unwrap(), Viewers { current: 3, peak: 3 });

    a.skip_viewers = false;
    a.until(|f| *f == ServerFrame::Viewers(Viewers { current: 3, peak: 3 })).await;
    drop(b);
    a.until(|f| *f == ServerFrame::Viewers(Viewers { current: 2, peak: 3 })).await;
    finish(n, &backend, &room).await;
}

async fn shutdown_closes_sockets_and_returns(backend: BackendChoice) {
    let n = node(&backend, relaxed()).await;
    let room = unique_room();
    let (mut a, _) = Client::joined(&n.url(&room, Some("viewer")), None).await;
    let service = n.service.clone();
    tokio::time::timeout(WAIT, service.shutdown()).await.unwrap();
    a.expect_closed().await;
    finish(n, &backend, &room).await;
}
