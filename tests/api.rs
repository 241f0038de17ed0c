//! REST API and CLI against a real server: admin auth, validation, limits, and that a key created
//! through either path really publishes.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn post(server: &Server, path: &str, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    let mut req = client().post(server.url(path)).header("content-type", "application/json").body(body.to_owned());
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().expect("request");
    let status = res.status().as_u16();
    (status, res.json().unwrap_or(serde_json::Value::Null))
}

#[test]
fn stream_creation_is_admin_only_validated_and_keys_publish_on_sqlite() {
    stream_creation_is_admin_only_validated_and_keys_publish(Db::Sqlite);
}

#[test]
fn stream_creation_is_admin_only_validated_and_keys_publish_on_postgres() {
    stream_creation_is_admin_only_validated_and_keys_publish(Db::Postgres);
}

fn stream_creation_is_admin_only_validated_and_keys_publish(db: Db) {
    let server = Server::start_on(db, &[]);
    let body = json!({"name": "studio"}).to_string();

    assert_eq!(post(&server, "/api/streams", None, &body).0, 401);
    assert_eq!(post(&server, "/api/streams", Some("wrong-token-wrong-token"), &body).0, 401);
    let (status, created) = post(&server, "/api/streams", Some(ADMIN_TOKEN), &body);
    assert_eq!(status, 201, "{created}");
    let key = created["stream_key"].as_str().expect("stream_key").to_owned();
    assert!(created["player_url"].as_str().unwrap().ends_with("/watch/studio"));
    assert!(created["rtmp_url"].as_str().unwrap().starts_with("rtmp://"));

    let (status, err) = post(&server, "/api/streams", Some(ADMIN_TOKEN), &body);
    assert_eq!(status, 409, "{err}");
    assert!(err["detail"].as_str().unwrap().contains("already exists"));
    assert_eq!(post(&server, "/api/streams", Some(ADMIN_TOKEN), &json!({"name": "../etc"}).to_string()).0, 400);
    assert_eq!(post(&server, "/api/streams", Some(ADMIN_TOKEN), "{not json").0, 400);
    assert_eq!(post(&server, "/api/streams", Some(ADMIN_TOKEN), &json!({"name": "a", "extra": 1}).to_string()).0, 400);
    let huge = json!({"name": "x".repeat(100_000)}).to_string();
    assert_eq!(post(&server, "/api/streams", Some(ADMIN_TOKEN), &huge).0, 413);

    let (status, text) = get_text(&server.url("/api/streams/nope"));
    assert_eq!(status, 404, "{text}");
    let status: serde_json::Value = stream_status(&server, "studio");
    assert_eq!(status["state"], "offline");

    // The CLI writes to the same database while the server runs; its key is the last line.
    let cli_key = server.cli_create_stream("cli-made");
    assert!(cli_key.starts_with("sk_"), "{cli_key}");

    // Both keys publish; each lands on its own stream.
    let _a = ffmpeg_push(&format!("{}/{key}", server.rtmp), 15, &[]);
    let _b = ffmpeg_push(&format!("{}/{cli_key}", server.rtmp), 15, &[]);
    for name in ["studio", "cli-made"] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s: serde_json::Value = stream_status(&server, name);
            if s["state"] == "live" && s["renditions"].as_array().is_some_and(|r| r.len() == 2) {
                assert_eq!(s["video_codec"].as_str().map(|c| c.starts_with("avc1.")), Some(true));
                assert_eq!(s["audio_codec"], "mp4a.40.2");
                break;
            }
            assert!(Instant::now() < deadline, "{name} never went live: {s}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let list: serde_json::Value =
        client().get(server.url("/api/streams")).bearer_auth(ADMIN_TOKEN).send().unwrap().json().unwrap();
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cli-made", "main", "studio"]);

    // Rotating a key: the old one stops working for new publishers.
    let (status, rotated) = post(&server, "/api/streams/studio/rotate-key", Some(ADMIN_TOKEN), "");
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["stream_key"].as_str().unwrap(), key);
    let mut stale = ffmpeg_push(&format!("{}/{key}", server.rtmp), 5, &[]);
    assert!(stale.wait_exit(Duration::from_secs(8)).is_some_and(|s| !s.success()));
}

#[test]
fn pages_assets_and_health() {
    let server = Server::start();
    let (status, page) = get_text(&server.url("/watch/main"));
    assert_eq!(status, 200);
    assert!(page.contains("const STREAM = \"main\";"), "player page names its stream");
    assert!(page.contains("/assets/hls.min.js"));
    let res = client().get(server.url("/assets/hls.min.js")).send().unwrap();
    assert_eq!(res.headers()["content-type"], "application/javascript");
    assert!(res.bytes().unwrap().len() > 100_000, "the real hls.js is embedded");
    assert_eq!(get_text(&server.url("/healthz")), (200, "ok\n".to_owned()));
    let (status, metrics) = get_text(&server.url("/metrics"));
    assert_eq!(status, 200);
    assert!(metrics.contains("process_resident_memory_bytes"));
    assert!(metrics.contains("oxcast_live_streams 0"));
}

#[test]
fn the_request_id_a_response_carries_is_in_the_servers_log() {
    let server = Server::start();
    let res = client()
        .post(server.url("/api/streams"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "traced"}))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(server.wait_for_log(&format!("id={id}"), Duration::from_secs(5)), "{id} not in:\n{}", server.log());
    let line = server.log().lines().find(|l| l.contains(&id)).unwrap().to_owned();
    assert!(line.contains("stream created"), "{line}");
}
