//! Faults of the shared services (issue 15 part 5): PostgreSQL, Redis and the S3 server are
//! each stopped and started again under a node that has a stream live, a chat room open, an
//! upload halfway and a webhook endpoint. The node reconnects by itself; the stream stays live;
//! API calls during an outage answer 503 with `Retry-After`, not 500; nothing accepted before
//! an outage is lost (chat history, upload bytes), the upload finishes and is processed after
//! the storage is back and its `video.ready` event is delivered; `/metrics` counts each outage
//! and the log says when each service went away and came back. The services are private to
//! this test (`common/services.rs`), so stopping them disturbs no other test.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::chat::{Socket, join, next_of, send};
use common::services::{Postgres, Redis, S3};
use common::uploads::{tuspy, wait_ready};
use common::webhooks::Receiver;
use common::*;
use serde_json::{Value, json};

fn metric(server: &Server, line_start: &str) -> Option<f64> {
    let text = client().get(server.url("/metrics")).send().ok()?.text().ok()?;
    text.lines().find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
}

fn service_metric(server: &Server, name: &str, service: &str) -> Option<f64> {
    metric(server, &format!("{name}{{service=\"{service}\"}} "))
}

fn api_status(server: &Server, path: &str) -> (u16, Option<String>) {
    match client().get(server.url(path)).bearer_auth(ADMIN_TOKEN).timeout(Duration::from_secs(15)).send() {
        Ok(r) => (r.status().as_u16(), r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned())),
        Err(_) => (0, None),
    }
}

/// The live playlist's media sequence number plus its segment count: it grows while the
/// stream is packaged.
fn live_position(server: &Server) -> Option<u64> {
    let (status, text) = get_text(&server.url("/live/faults/video/index.m3u8"));
    (status == 200).then(|| {
        let media = parse_media(&text);
        media.media_sequence + media.segments.len() as u64
    })
}

/// Sends `text` and returns once the other socket received it (the sender is told either way).
async fn say(from: &mut Socket, to: &mut Socket, text: &str) -> Value {
    send(from, json!({"type": "send", "text": text})).await;
    let mut got = next_of(to, "message").await;
    while got["text"] != text {
        got = next_of(to, "message").await;
    }
    got
}

#[test]
fn postgres_redis_and_s3_restart_under_a_live_stream_a_chat_and_an_upload_and_nothing_is_lost() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pg = Postgres::start();
    let mut redis = Redis::start();
    let mut s3 = S3::start();
    let mut env = s3.env();
    env.push(("OXCAST_CHAT_REDIS_URL".into(), redis.url()));
    for (k, v) in [
        ("OXCAST_DEFAULT_PROFILE", "passthrough"),
        ("OXCAST_WEBHOOKS_ALLOW_PRIVATE", "true"),
        ("OXCAST_WEBHOOKS_FIRST_RETRY_SECONDS", "1"),
    ] {
        env.push((k.into(), v.into()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_node(&pg.url(), &env);

    // A webhook endpoint, a live stream, two chat sockets, an upload halfway.
    let mut receiver = Receiver::start(&[]);
    let r = client()
        .post(server.url("/api/webhooks"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"url": receiver.url("/hook"), "events": ["video.ready"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let endpoint: Value = r.json().unwrap();
    receiver.set_secret(endpoint["secret"].as_str().unwrap());
    let created: Value = client()
        .post(server.url("/api/streams"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "faults"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let key = created["stream_key"].as_str().unwrap().to_owned();
    let mut publisher = ffmpeg_push(&format!("{}/{key}", server.rtmp), 120, &[]);
    wait_for("the stream to go live", Duration::from_secs(30), || stream_status(&server, "faults")["state"] == "live");
    let ws = format!("{}/live/faults/chat", server.http.replacen("http://", "ws://", 1));
    let (mut ann, mut bob) = rt.block_on(async { (join(&ws, Some("Ann")).await.0, join(&ws, Some("Bob")).await.0) });
    rt.block_on(say(&mut ann, &mut bob, "before any outage"));
    let dir = tempfile::tempdir().unwrap();
    let clip = test_clip(3, "320x240", false);
    let file = write_file(dir.path(), "clip.mp4", std::slice::from_ref(&clip));
    let chunk = (clip.len() / 2).to_string();
    let tus_args = ["--token", ADMIN_TOKEN, "--file", file.to_str().unwrap(), "--chunk-size", &chunk];
    let (code, lines) =
        tuspy(&[&["--endpoint", &server.url("/api/uploads")][..], &tus_args, &["--stop-after-chunks", "1"]].concat());
    assert_eq!(code, Some(3), "{lines:?}");
    let upload_url = lines.last().unwrap()["url"].as_str().unwrap().to_owned();
    let video_id = upload_url.rsplit('/').next().unwrap().to_owned();
    wait_for("every service to be seen up", Duration::from_secs(10), || {
        ["database", "redis", "storage"].iter().all(|s| service_metric(&server, "oxcast_service_up", s) == Some(1.0))
    });

    // PostgreSQL restarts (down for a few seconds) while a viewer watches.
    let before = live_position(&server);
    assert!(before.is_some(), "the stream plays");
    pg.down();
    wait_for("the node to notice the database is away", Duration::from_secs(15), || {
        service_metric(&server, "oxcast_service_up", "database") == Some(0.0)
    });
    let (status, retry_after) = api_status(&server, "/api/streams");
    assert_eq!((status, retry_after.as_deref()), (503, Some("2")), "an API call while the database is away");
    let position = live_position(&server);
    std::thread::sleep(Duration::from_secs(3));
    pg.up();
    wait_for("API calls to work again", Duration::from_secs(30), || api_status(&server, "/api/streams").0 == 200);
    assert!(publisher.0.try_wait().unwrap().is_none(), "the publisher was not dropped");
    assert_eq!(stream_status(&server, "faults")["state"], "live");
    let later = live_position(&server);
    assert!(
        position >= before && later > position,
        "the stream kept playing through the outage: {before:?}, {position:?} during it, then {later:?}"
    );
    assert_eq!(service_metric(&server, "oxcast_service_outages_total", "database"), Some(1.0));
    assert!(service_metric(&server, "oxcast_service_down_seconds_total", "database").unwrap() >= 2.0);

    // Redis restarts; what it accepted before (the history) is there after, and chat goes on.
    redis.down();
    wait_for("the node to notice Redis is away", Duration::from_secs(15), || {
        service_metric(&server, "oxcast_service_up", "redis") == Some(0.0)
    });
    std::thread::sleep(Duration::from_secs(2));
    redis.up();
    wait_for("Redis to be seen again", Duration::from_secs(30), || {
        service_metric(&server, "oxcast_service_up", "redis") == Some(1.0)
    });
    rt.block_on(async {
        // The pub/sub connection comes back on its own backoff: the first message after the
        // restart may be refused to its sender (never accepted and then lost); retry until Bob has it.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            send(&mut ann, json!({"type": "send", "text": "after redis"})).await;
            let got = tokio::time::timeout(Duration::from_secs(2), next_of(&mut bob, "message")).await;
            if got.is_ok_and(|m| m["text"] == "after redis") {
                break;
            }
            assert!(Instant::now() < deadline, "chat did not recover after Redis restarted");
        }
        let (_carol, welcome) = join(&ws, Some("Carol")).await;
        let history: Vec<&str> =
            welcome["history"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
        assert!(history.contains(&"before any outage") && history.contains(&"after redis"), "{welcome}");
    });
    assert_eq!(service_metric(&server, "oxcast_service_outages_total", "redis"), Some(1.0));

    // The S3 server restarts: the upload cannot go on meanwhile, and loses nothing.
    s3.down();
    wait_for("the node to notice the storage is away", Duration::from_secs(15), || {
        service_metric(&server, "oxcast_service_up", "storage") == Some(0.0)
    });
    let (code, lines) =
        tuspy(&[&["--endpoint", &server.url("/api/uploads")][..], &tus_args, &["--resume-url", &upload_url]].concat());
    assert_ne!(code, Some(0), "an upload cannot finish while its storage is away: {lines:?}");
    s3.up();
    wait_for("the storage to be seen again", Duration::from_secs(30), || {
        service_metric(&server, "oxcast_service_up", "storage") == Some(1.0)
    });
    let r = client().head(&upload_url).bearer_auth(ADMIN_TOKEN).header("tus-resumable", "1.0.0").send().unwrap();
    assert_eq!(r.headers()["upload-offset"].to_str().unwrap(), chunk, "the bytes stored before the outage are kept");
    let (code, lines) =
        tuspy(&[&["--endpoint", &server.url("/api/uploads")][..], &tus_args, &["--resume-url", &upload_url]].concat());
    assert_eq!(code, Some(0), "{lines:?}");
    wait_ready(&server, &video_id);
    receiver.collect_until(Duration::from_secs(60), |seen| Receiver::delivered(seen, "video.ready"));
    assert_eq!(service_metric(&server, "oxcast_service_outages_total", "storage"), Some(1.0));

    let log = server.log();
    for service in ["database", "redis", "storage"] {
        assert!(
            log.lines().any(|l| l.contains("service unreachable") && l.contains(service)),
            "the log says {service} went away"
        );
        assert!(
            log.lines().any(|l| l.contains("service reachable again") && l.contains(service)),
            "the log says {service} came back"
        );
    }
    drop(publisher);
}
