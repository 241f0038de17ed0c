//! The chat as the server runs it: identities from stream keys and chat tokens, viewer counts
//! from players and sockets without double counting, two processes sharing one Redis, and a
//! message typed into the player page in headless Chromium.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::chat::*;
use common::*;

async fn chat_token(server: &Server, name: &str, moderator_of: Option<&str>) -> String {
    let r = reqwest::Client::new()
        .post(server.url("/api/chat/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "name": name, "moderator_of": moderator_of }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

async fn viewers(server: &Server, stream: &str) -> serde_json::Value {
    let url = server.url(&format!("/api/streams/{stream}"));
    let v: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    v["viewers"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_come_from_keys_and_tokens_and_moderation_works_on_sqlite() {
    roles_come_from_keys_and_tokens_and_moderation_works(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_come_from_keys_and_tokens_and_moderation_works_on_postgres() {
    roles_come_from_keys_and_tokens_and_moderation_works(Db::Postgres).await;
}

async fn roles_come_from_keys_and_tokens_and_moderation_works(db: Db) {
    let server =
        tokio::task::spawn_blocking(move || Server::start_on(db, &[("OXCAST_DEFAULT_PROFILE", "passthrough")]))
            .await
            .unwrap();
    let (srv, key) = (&server, server.default_key.clone());
    let moderator = chat_token(srv, "Mo", Some("main")).await;
    let viewer = chat_token(srv, "Vi", None).await;

    let (mut owner, w) = join(&ws_url(srv, "main", &format!("token={key}")), None).await;
    assert_eq!((w["you"]["role"].as_str(), w["you"]["name"].as_str()), (Some("owner"), Some("main")));
    let (mut mo, w) = join(&ws_url(srv, "main", &format!("token={moderator}")), None).await;
    assert_eq!((w["you"]["role"].as_str(), w["you"]["name"].as_str()), (Some("moderator"), Some("Mo")));
    let (_vi, w) = join(&ws_url(srv, "main", &format!("token={viewer}")), None).await;
    assert_eq!(w["you"]["role"], "viewer");
    let (mut guest, w) = join(&ws_url(srv, "main", "viewer=guestbrowser1"), Some("Gus")).await;
    assert_eq!((w["you"]["role"].as_str(), w["you"]["name"].as_str()), (Some("guest"), Some("Gus")));

    // A stream key of another stream, a made-up token, a stream that does not exist.
    let other_key = srv.cli_create_stream("other");
    for (stream, query, status) in [
        ("main", format!("token={other_key}"), 401),
        ("main", "token=ct_nope".to_owned(), 401),
        ("nope", String::new(), 404),
    ] {
        let err = tokio_tungstenite::connect_async(ws_url(srv, stream, &query)).await.unwrap_err();
        assert!(err.to_string().contains(&status.to_string()), "{stream} {query}: {err}");
    }
    // The moderator token is a plain viewer in another stream's room.
    let (_m2, w) = join(&ws_url(srv, "other", &format!("token={moderator}")), None).await;
    assert_eq!(w["you"]["role"], "viewer");

    send(&mut guest, serde_json::json!({ "type": "send", "text": "hello from Gus" })).await;
    let m = next_of(&mut owner, "message").await;
    assert_eq!((m["text"].as_str(), m["user"]["name"].as_str()), (Some("hello from Gus"), Some("Gus")));
    let id = m["id"].as_u64().unwrap();
    send(&mut mo, serde_json::json!({ "type": "delete", "id": id })).await;
    assert_eq!(next_of(&mut owner, "deleted").await["id"], id);
    // Guests cannot moderate.
    send(&mut guest, serde_json::json!({ "type": "ban", "user": w["you"]["id"] })).await;
    assert_eq!(next_of(&mut guest, "error").await["code"], "forbidden");
    // A late joiner sees the history without the deleted message.
    send(&mut owner, serde_json::json!({ "type": "send", "text": "welcome all" })).await;
    next_of(&mut mo, "message").await;
    let (_late, w) = join(&ws_url(srv, "main", ""), None).await;
    let texts: Vec<&str> = w["history"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["welcome all"]);
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn viewer_counts_add_players_and_sockets_without_double_counting() {
    let server =
        tokio::task::spawn_blocking(|| Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough")])).await.unwrap();
    let (http, key, rtmp) = (server.http.clone(), server.default_key.clone(), server.rtmp.clone());
    let _publisher = ffmpeg_push(&format!("{rtmp}/{key}"), 60, &[]);
    let playlist = format!("{http}/live/main/video/index.m3u8");
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Waiting for the stream as browser B (a request without a viewer id counts as one more viewer).
    while !c.get(&playlist).header("X-Oxcast-Viewer", "browser-bbbb").send().await.unwrap().status().is_success() {
        assert!(Instant::now() < deadline, "stream never went live");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Browser A plays and chats (same viewer id); browser B only plays; C only chats.
    let play = |viewer: &'static str| {
        let c = c.clone();
        let playlist = playlist.clone();
        async move {
            let r = c.get(&playlist).header("X-Oxcast-Viewer", viewer).send().await.unwrap();
            assert!(r.status().is_success());
        }
    };
    play("browser-aaaa").await;
    play("browser-bbbb").await;
    let (_a, _) = join(&ws_url(&server, "main", "viewer=browser-aaaa"), Some("A")).await;
    let (mut c_socket, _) = join(&ws_url(&server, "main", "viewer=browser-cccc"), Some("C")).await;
    play("browser-aaaa").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = viewers(&server, "main").await;
        if v["current"] == 3 {
            assert!(v["peak"].as_u64().unwrap() >= 3);
            break;
        }
        assert!(Instant::now() < deadline, "expected 3 viewers, got {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The count is pushed over the socket too (every 5 s when it changed).
    let pushed = next_of(&mut c_socket, "viewers").await;
    assert_eq!(pushed["current"], 3, "{pushed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_share_one_redis() {
    let redis = std::env::var("OXCAST_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let room = format!("room{:x}", std::process::id() as u64 * 7919 + Instant::now().elapsed().as_nanos() as u64);
    let (a, b) = tokio::task::spawn_blocking({
        let redis = redis.clone();
        let room = room.clone();
        move || {
            let env = [("OXCAST_CHAT_REDIS_URL", redis.as_str()), ("OXCAST_DEFAULT_PROFILE", "passthrough")];
            let a = Server::start_with(&env);
            let b = Server::start_with(&env);
            // Each process has its own store: the room must exist in both.
            a.cli_create_stream(&room);
            b.cli_create_stream(&room);
            (a, b)
        }
    })
    .await
    .unwrap();
    let (mut on_a, _) = join(&ws_url(&a, &room, "viewer=node-a-viewer"), Some("Ann")).await;
    let (mut on_b, _) = join(&ws_url(&b, &room, "viewer=node-b-viewer"), Some("Bob")).await;
    send(&mut on_a, serde_json::json!({ "type": "send", "text": "across nodes" })).await;
    let m = next_of(&mut on_b, "message").await;
    assert_eq!((m["text"].as_str(), m["user"]["name"].as_str()), (Some("across nodes"), Some("Ann")));
    send(&mut on_b, serde_json::json!({ "type": "send", "text": "and back" })).await;
    // A sees its own message too; B's arrives (in either order with it).
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(next_of(&mut on_a, "message").await["text"].as_str().unwrap().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["across nodes", "and back"]);
    // Counts add up: each node reports both viewers.
    for server in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while viewers(server, &room).await["current"] != 2 {
            assert!(Instant::now() < deadline, "counts do not add up: {}", viewers(server, &room).await);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[test]
fn a_message_typed_in_the_player_page_arrives() {
    let server = Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough")]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut listener, _) = runtime.block_on(join(&ws_url(&server, "main", ""), Some("Watcher")));
    let out = Command::new("node")
        .args(["tests/browser/chat.mjs", "--url", &server.url("/watch/main"), "--name", "Browsy"])
        .args(["--text", "hi from the browser"])
        .output()
        .expect("run node tests/browser/chat.mjs");
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("browser chat: {report}");
    assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    let m = runtime.block_on(next_of(&mut listener, "message"));
    assert_eq!((m["text"].as_str(), m["user"]["name"].as_str()), (Some("hi from the browser"), Some("Browsy")));
    let r: serde_json::Value = serde_json::from_str(report.lines().last().unwrap()).unwrap();
    assert_eq!(r["echoed"], true, "the page shows its own message: {r}");
}
