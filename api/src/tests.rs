//! The REST routes driven in-process with `tower::ServiceExt::oneshot`: a real store (SQLite in
//! memory), a fake `LiveView` and fake viewer counts, no sockets.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use oxcast_ll_hls::{PackagerDirectory, StreamPackager};
use oxcast_store::{KnownProfiles, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{AppState, LiveStatus, LiveView, Mounts, PublicUrls, RenditionStatus, ViewerCount, ViewerCounts};

const ADMIN: &str = "test-admin-token-0123456789";

/// Reports `live-one` as live with one rendition, everything else offline.
struct FakeLive;

impl LiveView for FakeLive {
    fn status(&self, stream: &str) -> LiveStatus {
        let mut status = LiveStatus::offline();
        if stream == "live-one" {
            status.state = "live";
            status.protocol = Some("rtmp".into());
            status.renditions.push(RenditionStatus {
                id: "source".into(),
                kind: "video",
                codecs: "avc1.64001f".into(),
                width: Some(1280),
                height: Some(720),
                frame_rate: Some(30.0),
                bitrate_bps: Some(2_500_000),
            });
        }
        status
    }

    fn render_metrics(&self, out: &mut String) {
        out.push_str("fake_metric 1\n");
    }
}

struct FakeViewers;

impl ViewerCounts for FakeViewers {
    fn viewers<'a>(
        &'a self,
        stream: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<ViewerCount>> + Send + 'a>> {
        Box::pin(async move { (stream == "live-one").then_some(ViewerCount { current: 3, peak: 7 }) })
    }
}

struct NoPackagers;

impl PackagerDirectory for NoPackagers {
    fn packager(&self, _stream: &str) -> Option<Arc<StreamPackager>> {
        None
    }
}

async fn app() -> (axum::Router, Store) {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let state = AppState {
        store: store.clone(),
        profiles: KnownProfiles::new(["passthrough".to_owned(), "standard".to_owned()], "standard").unwrap(),
        live: Arc::new(FakeLive),
        admin_token: ADMIN.into(),
        urls: PublicUrls {
            http: "http://example.test:8080".into(),
            rtmp: "rtmp://example.test:1935/live".into(),
            srt: Some("srt://example.test:8890".into()),
        },
        viewers: Some(Arc::new(FakeViewers)),
    };
    let mounts = Mounts { packagers: Arc::new(NoPackagers), whip: None, chat: None };
    (crate::app(state, mounts), store)
}

async fn call(
    app: &axum::Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(v) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Every admin route, with a body it would accept.
fn admin_calls() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::POST, "/api/streams", Some(json!({"name": "x"}))),
        (Method::GET, "/api/streams", None),
        (Method::POST, "/api/streams/main/rotate-key", None),
        (Method::PUT, "/api/streams/main/profile", Some(json!({"profile": null}))),
        (Method::PUT, "/api/streams/main/srt-passphrase", Some(json!({"passphrase": null}))),
        (Method::POST, "/api/chat/tokens", Some(json!({"name": "Ann"}))),
    ]
}

#[tokio::test]
async fn every_admin_route_refuses_missing_and_wrong_tokens_and_admits_the_admin() {
    let (app, store) = app().await;
    store.streams().create("main", None).await.unwrap();
    for (method, path, body) in admin_calls() {
        for token in [None, Some("wrong-token-wrong-token"), Some(&ADMIN[..ADMIN.len() - 1])] {
            let (status, err) = call(&app, method.clone(), path, token, body.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}: {err}");
            assert_eq!(err["error"], "missing or invalid admin token");
        }
        let (status, body) = call(&app, method.clone(), path, Some(ADMIN), body).await;
        assert!(status.is_success(), "{method} {path} as admin: {status} {body}");
    }
    // Refused calls changed nothing: only the admin's "x" was created.
    let names: Vec<String> = store.streams().list().await.unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["main", "x"]);
}

#[tokio::test]
async fn created_streams_carry_every_publish_url_and_conflicts_are_named() {
    let (app, _store) = app().await;
    let (status, created) =
        call(&app, Method::POST, "/api/streams", Some(ADMIN), Some(json!({"name": "studio"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["stream_key"].as_str().unwrap();
    assert!(key.starts_with("sk_"));
    assert_eq!(created["rtmp_url"], "rtmp://example.test:1935/live");
    assert_eq!(created["srt_url"], format!("srt://example.test:8890?streamid=#!::r={key},m=publish"));
    assert_eq!(created["whip_url"], "http://example.test:8080/whip/studio");
    assert_eq!(created["player_url"], "http://example.test:8080/watch/studio");
    assert_eq!(created["playlist_url"], "http://example.test:8080/live/studio/index.m3u8");

    let (status, err) = call(&app, Method::POST, "/api/streams", Some(ADMIN), Some(json!({"name": "studio"}))).await;
    assert_eq!((status, err["error"].as_str().unwrap()), (StatusCode::CONFLICT, "stream studio already exists"));
    let (status, _) = call(&app, Method::POST, "/api/streams", Some(ADMIN), Some(json!({"name": "../etc"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, err) =
        call(&app, Method::POST, "/api/streams", Some(ADMIN), Some(json!({"name": "a", "profile": "4k"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["error"].as_str().unwrap().contains("passthrough, standard"), "{err}");
    let huge = json!({"name": "x".repeat(20_000)});
    assert_eq!(
        call(&app, Method::POST, "/api/streams", Some(ADMIN), Some(huge)).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn status_joins_the_store_the_live_view_and_the_viewer_counts() {
    let (app, store) = app().await;
    store.streams().create("live-one", None).await.unwrap();
    store.streams().create("quiet", None).await.unwrap();

    let (status, live) = call(&app, Method::GET, "/api/streams/live-one", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((live["state"].as_str(), live["protocol"].as_str()), (Some("live"), Some("rtmp")));
    assert_eq!(live["renditions"][0]["height"], 720);
    assert_eq!(live["viewers"], json!({"current": 3, "peak": 7}));
    assert_eq!(live["profile"], "standard");
    assert_eq!(live["srt_encrypted"], false);

    let (_, quiet) = call(&app, Method::GET, "/api/streams/quiet", None, None).await;
    assert_eq!(quiet["state"], "offline");
    assert!(quiet.get("viewers").is_none(), "{quiet}");
    assert_eq!(call(&app, Method::GET, "/api/streams/nope", None, None).await.0, StatusCode::NOT_FOUND);

    let (_, list) = call(&app, Method::GET, "/api/streams", Some(ADMIN), None).await;
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["live-one", "quiet"]);
}

#[tokio::test]
async fn profile_passphrase_and_key_changes_reach_the_store() {
    let (app, store) = app().await;
    let old_key = store.streams().create("cam", None).await.unwrap().key;

    let (status, set) =
        call(&app, Method::PUT, "/api/streams/cam/profile", Some(ADMIN), Some(json!({"profile": "passthrough"}))).await;
    assert_eq!((status, set["profile"].as_str()), (StatusCode::OK, Some("passthrough")));
    assert_eq!(store.streams().get("cam").await.unwrap().unwrap().profile.as_deref(), Some("passthrough"));
    let (_, back) =
        call(&app, Method::PUT, "/api/streams/cam/profile", Some(ADMIN), Some(json!({"profile": null}))).await;
    assert_eq!(back["profile"], "standard");
    let (status, _) =
        call(&app, Method::PUT, "/api/streams/cam/profile", Some(ADMIN), Some(json!({"profile": "nope"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        call(&app, Method::PUT, "/api/streams/gone/profile", Some(ADMIN), Some(json!({"profile": null}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) =
        call(&app, Method::PUT, "/api/streams/cam/srt-passphrase", Some(ADMIN), Some(json!({"passphrase": "short"})))
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &app,
        Method::PUT,
        "/api/streams/cam/srt-passphrase",
        Some(ADMIN),
        Some(json!({"passphrase": "long-enough-1"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(store.streams().get("cam").await.unwrap().unwrap().srt_encrypted);

    let (status, rotated) = call(&app, Method::POST, "/api/streams/cam/rotate-key", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);
    let new_key = rotated["stream_key"].as_str().unwrap();
    assert!(store.streams().by_key(old_key.as_str()).await.unwrap().is_none());
    assert_eq!(store.streams().by_key(new_key).await.unwrap().unwrap().name, "cam");
    assert_eq!(
        call(&app, Method::POST, "/api/streams/gone/rotate-key", Some(ADMIN), None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn chat_token_names_follow_the_product_display_name_rule() {
    let (app, store) = app().await;
    store.streams().create("main", None).await.unwrap();
    let (status, made) = call(
        &app,
        Method::POST,
        "/api/chat/tokens",
        Some(ADMIN),
        Some(json!({"name": "  Bob  ", "moderator_of": "main"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!((made["name"].as_str(), made["role"].as_str()), (Some("Bob"), Some("moderator")));
    let holder = store.chat_tokens().holder(made["token"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(holder.stream.as_deref(), Some("main"));

    // The weaker rule this route used to apply let bidi overrides and zero-width spaces through.
    for bad in ["Ann\u{202e}", "A\u{200b}nn", "", &"x".repeat(33)] {
        let (status, err) = call(&app, Method::POST, "/api/chat/tokens", Some(ADMIN), Some(json!({"name": bad}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {err}");
        assert!(err["error"].as_str().unwrap().starts_with("name: "), "{err}");
    }
    let (status, err) =
        call(&app, Method::POST, "/api/chat/tokens", Some(ADMIN), Some(json!({"name": "Cy", "moderator_of": "nope"})))
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["error"].as_str().unwrap().contains("no stream named nope"), "{err}");
}

#[tokio::test]
async fn pages_health_and_metrics_are_served_in_process() {
    let (app, _) = app().await;
    let response = app.clone().oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert!(std::str::from_utf8(&text).unwrap().contains("fake_metric 1"));
    // The LL-HLS origin is mounted: an unknown stream is its 404, not a missing route's.
    let response = app.oneshot(Request::get("/live/none/index.m3u8").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
