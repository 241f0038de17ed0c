//! The whole server in the test's own process: `serve::run` on listeners bound to port 0, a
//! real ffmpeg publisher and a chat socket, then a shutdown through the token that must end the
//! playlist, close the socket and finish every task within the timeout. Run on SQLite and on
//! PostgreSQL.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Db, ffmpeg_push, postgres_test_database};
use futures_util::StreamExt;
use oxcast::config::Config;
use oxcast::serve::{Listeners, SHUTDOWN_TIMEOUT};
use tokio_util::sync::CancellationToken;

async fn serve_publish_and_shut_down(db: Db) {
    let data_dir = tempfile::tempdir().unwrap();
    let database = (db == Db::Postgres).then(postgres_test_database);
    let mut config = Config {
        http: "127.0.0.1:0".parse().unwrap(),
        rtmp: "127.0.0.1:0".parse().unwrap(),
        srt_enabled: false,
        data_dir: data_dir.path().to_owned(),
        admin_token: Some(common::ADMIN_TOKEN.into()),
        database_url: database.as_ref().map(|d| d.url().to_owned()),
        ..Config::default()
    };
    config.webrtc.ice_addresses = vec!["127.0.0.1".parse().unwrap()];
    config.live.segment_duration_ms = 1000;
    config.live.default_profile = "passthrough".into();
    config.validate().unwrap();

    // The stream exists before the server starts, so the test holds its key.
    let store = oxcast::serve::open_store(&config).await.unwrap();
    let owner = store.users().ensure_first_admin().await.unwrap();
    let key = store.streams().create("cam", &owner.id, None).await.unwrap().key;
    store.close().await;

    let listeners = Listeners::bind(&config).await.unwrap();
    let bound = listeners.addresses().unwrap();
    assert_ne!(bound.http.port(), 0);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(oxcast::serve::run(config, listeners, shutdown.clone()));

    let http = format!("http://{}", bound.http);
    let client = reqwest::Client::new();
    let status: serde_json::Value =
        client.get(format!("{http}/api/streams/cam")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["state"], "offline", "{status}");

    let _publisher = ffmpeg_push(&format!("rtmp://{}/live/{}", bound.rtmp, key.as_str()), 30, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = client.get(format!("{http}/live/cam/index.m3u8")).send().await.unwrap();
        if r.status().is_success() {
            break;
        }
        assert!(Instant::now() < deadline, "the stream never became playable");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (mut chat, _) = tokio_tungstenite::connect_async(format!("ws://{}/live/cam/chat", bound.http)).await.unwrap();

    shutdown.cancel();
    let report =
        tokio::time::timeout(SHUTDOWN_TIMEOUT + Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
    assert_eq!(report.ended_streams, ["cam"], "{report:?}");
    assert!(!report.timed_out && report.took < SHUTDOWN_TIMEOUT, "{report:?}");

    // The chat socket was closed by the server (1001 going away), not left hanging.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(frame) = chat.next().await {
            match frame {
                Ok(tokio_tungstenite::tungstenite::Message::Close(close)) => return close.map(|c| u16::from(c.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the chat socket must be closed at shutdown");
    assert_eq!(closed, Some(1001));
    // Nothing listens any more.
    assert!(client.get(format!("{http}/healthz")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_runs_in_process_and_shuts_down_cleanly_on_sqlite() {
    serve_publish_and_shut_down(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_runs_in_process_and_shuts_down_cleanly_on_postgres() {
    serve_publish_and_shut_down(Db::Postgres).await;
}
