//! Two chat nodes sharing a real Redis (`OXCAST_TEST_REDIS_URL`, default redis://127.0.0.1:6379),
//! and a node surviving a restart of its own private redis-server.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use oxcast_chat::{BackendChoice, ChatConfig, ErrorCode, RateSpec, ServerFrame, Viewers};

fn config() -> ChatConfig {
    ChatConfig {
        connection_rate: RateSpec::new(1000, Duration::from_secs(1)),
        viewers_interval: Duration::from_millis(200),
        ..ChatConfig::default()
    }
}

async fn redis_node(url: &str) -> Node {
    Node::start(config(), BackendChoice::Redis { url: url.to_owned() }).await
}

#[tokio::test]
async fn two_nodes_share_messages_history_bans_and_viewers() {
    let url = redis_url();
    let room = unique_room();
    let a = redis_node(&url).await;
    let b = redis_node(&url).await;

    let (mut on_a, _) = Client::joined(&a.url(&room, Some("viewer")), None).await;
    let (mut on_b, _) = Client::joined(&b.url(&room, Some("viewer2")), None).await;
    let (mut moderator, _) = Client::joined(&a.url(&room, Some("mod")), None).await;

    // A message sent on A reaches a client on B, and history is shared.
    on_a.say("hello from a").await;
    let m = on_b.until_text("hello from a").await;
    assert_eq!(m.user.id, "viewer-1");
    on_b.say("hello from b").await;
    on_a.until_text("hello from b").await;
    let (_late, w) = Client::joined(&b.url(&room, None), None).await;
    assert_eq!(history(&w), ["hello from a", "hello from b"]);

    // Viewer counts add up across nodes: viewer-1, viewer-2, mod-1, one guest.
    let expect = Viewers { current: 4, peak: 4 };
    assert_eq!(a.service.viewers(&room).await.unwrap(), expect);
    assert_eq!(b.service.viewers(&room).await.unwrap(), expect);
    on_a.skip_viewers = false;
    on_a.until(|f| *f == ServerFrame::Viewers(expect)).await;

    // A slow mode set on A holds on B.
    moderator.raw(r#"{"type":"slow_mode","seconds":30}"#).await;
    on_b.until(|f| *f == ServerFrame::SlowMode { seconds: 30 }).await;
    on_b.say("one").await;
    on_b.until_text("one").await;
    on_b.say("two").await;
    assert_eq!(error_code(&on_b.until(|f| error_code(f).is_some()).await), Some(ErrorCode::SlowMode));
    moderator.raw(r#"{"type":"slow_mode","seconds":0}"#).await;
    on_b.until(|f| *f == ServerFrame::SlowMode { seconds: 0 }).await;

    // The owner cannot be banned even when they are connected to the other node.
    let (_owner, _) = Client::joined(&b.url(&room, Some("owner")), None).await;
    moderator.raw(r#"{"type":"ban","user":"owner-1"}"#).await;
    assert_eq!(error_code(&moderator.until(|f| error_code(f).is_some()).await), Some(ErrorCode::Forbidden));

    // A ban on A is enforced on B: the socket on B is told and closed, rejoining on B fails.
    moderator.raw(r#"{"type":"ban","user":"viewer-2"}"#).await;
    on_b.until(|f| *f == ServerFrame::UserBanned { user: "viewer-2".into() }).await;
    on_b.expect_closed().await;
    match Client::join(&b.url(&room, Some("viewer2")), None).await {
        Joined::Refused(f) => assert_eq!(error_code(&f), Some(ErrorCode::Banned)),
        Joined::Welcome(..) => panic!("banned user rejoined on the other node"),
    }
    // viewer-2 left: counts drop on both nodes.
    let expect = Viewers { current: 4, peak: 5 }; // owner joined, viewer-2 left
    assert_eq!(a.service.viewers(&room).await.unwrap(), expect);

    a.stop().await;
    b.stop().await;
    purge_redis_room(&url, &room).await;
}

#[tokio::test]
async fn per_user_rate_limit_holds_across_nodes() {
    let url = redis_url();
    let room = unique_room();
    let cfg = ChatConfig { user_rate: RateSpec::new(3, Duration::from_secs(60)), ..config() };
    let a = Node::start(cfg.clone(), BackendChoice::Redis { url: url.clone() }).await;
    let b = Node::start(cfg, BackendChoice::Redis { url: url.clone() }).await;
    let (mut on_a, _) = Client::joined(&a.url(&room, Some("viewer")), None).await;
    let (mut on_b, _) = Client::joined(&b.url(&room, Some("viewer")), None).await;
    for i in 0..2 {
        on_a.say(&format!("a{i}")).await;
        on_a.until_text(&format!("a{i}")).await;
    }
    on_b.say("b0").await;
    on_b.until_text("b0").await;
    on_b.say("b1").await;
    match on_b.until(|f| error_code(f).is_some()).await {
        ServerFrame::Error { code: ErrorCode::RateLimited, retry_after_ms: Some(ms), .. } => {
            assert!(ms > 1000, "{ms}")
        }
        other => panic!("{other:?}"),
    }
    a.stop().await;
    b.stop().await;
    purge_redis_room(&url, &room).await;
}

/// A private redis-server on its own port, killed on drop.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        PrivateRedis { port, child: Some(child) }
    }

    async fn wait_ready(&self) {
        let url = self.url();
        for _ in 0..100 {
            if let Ok(c) = redis::Client::open(url.as_str())
                && let Ok(mut conn) = c.get_multiplexed_async_connection().await
                && redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private redis-server did not start");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn nodes_recover_after_redis_restarts() {
    let port = free_port();
    let mut redis = PrivateRedis::start(port);
    redis.wait_ready().await;
    let url = redis.url();
    let room = unique_room();
    let a = redis_node(&url).await;
    let b = redis_node(&url).await;
    let (mut on_a, _) = Client::joined(&a.url(&room, Some("viewer")), None).await;
    let (mut on_b, _) = Client::joined(&b.url(&room, Some("viewer2")), None).await;
    on_a.say("before").await;
    on_b.until_text("before").await;

    redis.kill();
    // While Redis is down, sends are refused with `unavailable`, and sockets stay open.
    on_a.say("during").await;
    assert_eq!(error_code(&on_a.until(|f| error_code(f).is_some()).await), Some(ErrorCode::Unavailable));

    let redis = PrivateRedis::start(port);
    redis.wait_ready().await;
    // Both nodes reconnect by themselves: commands (ConnectionManager) and pub/sub
    // (re-subscribed by the loop). Keep sending until B sees a message from A.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no recovery after Redis restart");
        i += 1;
        on_a.say(&format!("after {i}")).await;
        let got = tokio::time::timeout(
            Duration::from_millis(500),
            on_b.until(|f| matches!(f, ServerFrame::Message(m) if m.text.starts_with("after"))),
        )
        .await;
        if got.is_ok() {
            break;
        }
    }
    // New joins work too, on both nodes (each node's command connection may come back a moment
    // after its pub/sub connection did).
    let (_c, w) = Client::joined_eventually(&b.url(&room, None), None).await;
    assert!(history(&w).iter().any(|t| t.starts_with("after")));
    let (_d, _) = Client::joined_eventually(&a.url(&room, None), None).await;
    a.stop().await;
    b.stop().await;
    drop(redis);
}

#[tokio::test]
async fn presence_expires_without_refresh() {
    // What a crashed node leaves behind: keys nobody refreshes any more.
    let url = redis_url();
    let room = unique_room();
    let cfg = ChatConfig { presence_ttl: Duration::from_secs(1), ..config() };
    let a = Node::start(cfg, BackendChoice::Redis { url: url.clone() }).await;
    let (_c, _) = Client::joined(&a.url(&room, Some("viewer")), None).await;
    a.service.presence_touch(&room, "hls-session").await.unwrap();
    a.service.presence_touch(&room, "viewer-1").await.unwrap();
    assert_eq!(a.service.viewers(&room).await.unwrap(), Viewers { current: 2, peak: 2 });
    // The socket is refreshed by its node (every ttl/3); the HLS key is not.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(a.service.viewers(&room).await.unwrap(), Viewers { current: 1, peak: 2 });
    a.stop().await;
    purge_redis_room(&url, &room).await;
}
