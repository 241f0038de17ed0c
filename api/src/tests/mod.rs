//! The HTTP application driven in-process with `tower::ServiceExt::oneshot`: a real store (SQLite
//! in memory), a fake `LiveView` and fake viewer counts, no sockets. The fixtures are here;
//! `auth` (the matrix that walks the OpenAPI document, tokens, login, limits, errors), `routes`
//! (streams, users, chat tokens, pages) and `uploads` (tus) hold the tests.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use oxcast_ll_hls::{PackagerDirectory, StreamPackager};
use oxcast_store::{KnownProfiles, NewUser, Role, Scopes, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{
    AppState, LimitSettings, LiveStatus, LiveView, Mounts, PublicUrls, RenditionStatus, ViewerCount, ViewerCounts,
};

const ADMIN: &str = "test-admin-token-0123456789";
/// The upload size limit of the test app.
pub(crate) const MAX_UPLOAD: u64 = 1_000_000;

/// Reports `live-one` as live with one rendition, everything else offline.
struct FakeLive;

impl LiveView for FakeLive {
    fn status<'a>(&'a self, stream: &'a str) -> crate::live_view::BoxFuture<'a, LiveStatus> {
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
        Box::pin(async move { status })
    }

    fn render_metrics(&self, out: &mut String) {
        out.push_str("fake_metric 1\n");
    }
}

struct FakeViewers;

impl ViewerCounts for FakeViewers {
    fn viewers<'a>(&'a self, stream: &'a str) -> crate::live_view::BoxFuture<'a, Option<ViewerCount>> {
        Box::pin(async move { (stream == "live-one").then_some(ViewerCount { current: 3, peak: 7 }) })
    }
}

struct NoPackagers;

impl PackagerDirectory for NoPackagers {
    fn packager(&self, _stream: &str) -> Option<Arc<StreamPackager>> {
        None
    }
}

/// The app over a fresh store whose first admin exists (as `serve` makes sure).
async fn app_with(limits: LimitSettings) -> (axum::Router, Store) {
    app_on(limits, Arc::new(oxcast_vod::MemoryStorage::new())).await
}

/// The same over a given media storage.
pub(crate) async fn app_on(limits: LimitSettings, media: Arc<dyn oxcast_vod::Storage>) -> (axum::Router, Store) {
    let store = Store::open("sqlite::memory:").await.unwrap();
    store.users().ensure_first_admin().await.unwrap();
    let state = AppState {
        store: store.clone(),
        profiles: KnownProfiles::new(["passthrough".to_owned(), "standard".to_owned()], "standard").unwrap(),
        live: Arc::new(FakeLive),
        admin_token: ADMIN.into(),
        urls: PublicUrls {
            http: "http://example.test:8080".into(),
            https: None,
            rtmp: "rtmp://example.test:1935/live".into(),
            srt: Some("srt://example.test:8890".into()),
        },
        viewers: Some(Arc::new(FakeViewers)),
        limits: Arc::new(crate::ApiLimits::new(limits)),
        trusted_proxies: Arc::new([]),
        uploads: Some(Arc::new(crate::uploads::Uploads::new(oxcast_vod::UploadParts::new(media), MAX_UPLOAD))),
        playback: Arc::new(crate::playback_access::PlaybackSigning::load(&store, 3600).await.unwrap()),
        webhooks_allow_private: false,
        listeners: Default::default(),
        media_public_base: None,
        media_redirect: None,
        reports: Default::default(),
        search: None,
    };
    let mounts = Mounts { packagers: Arc::new(NoPackagers), whip: None, chat: None };
    (crate::app(state, mounts), store)
}

pub(crate) async fn app() -> (axum::Router, Store) {
    app_with(RELAXED).await
}

pub(crate) const RELAXED: LimitSettings =
    LimitSettings { api_requests_per_minute: 100_000, login_attempts_per_ten_minutes: 1000 };

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: Value,
}

pub(crate) async fn send(app: &axum::Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

pub(crate) fn request(method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(v) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(v.to_string())).unwrap(),
        None => request.body(Body::empty()).unwrap(),
    }
}

async fn call(
    app: &axum::Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let reply = send(app, request(method, path, token, body.as_ref())).await;
    (reply.status, reply.body)
}

/// A creator with a token holding `scopes`.
async fn creator_token(store: &Store, name: &str, scopes: &[&str]) -> String {
    let user = match store.users().by_name(name).await.unwrap() {
        Some(u) => u,
        None => store
            .users()
            .create(NewUser { name, display_name: None, password: None, role: Role::Creator })
            .await
            .unwrap(),
    };
    let (_, secret) =
        store.api_tokens().create(&user, "test", &Scopes::parse(scopes.iter().copied()).unwrap()).await.unwrap();
    secret.as_str().to_owned()
}

fn form(path: &str, fields: &str, cookie: Option<&str>, extra: &[(&str, &str)]) -> Request<Body> {
    let mut r = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    r.body(Body::from(fields.to_owned())).unwrap()
}

fn with_cookie(method: Method, path: &str, cookie: &str, csrf: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(path).header(header::COOKIE, cookie);
    if let Some(csrf) = csrf {
        r = r.header("x-csrf-token", csrf);
    }
    match body {
        Some(v) => r.header(header::CONTENT_TYPE, "application/json").body(Body::from(v.to_string())).unwrap(),
        None => r.body(Body::empty()).unwrap(),
    }
}

mod auth;
mod routes;
mod uploads;
