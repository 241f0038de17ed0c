//! The tus server in-process: creation (with and without a body), HEAD, PATCH with offsets,
//! checksums, limits, locking, termination, expiry, and the video it makes. The real clients
//! (tus-js-client, tuspy) run against the real server in `tests/uploads.rs`.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use sha1::Digest;
use tower::ServiceExt;

use super::{Reply, app, creator_token, send};

fn tus(method: Method, uri: &str, token: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("tus-resumable", "1.0.0")
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn create(app: &axum::Router, token: &str, length: u64) -> Reply {
    let meta = format!("filename {},title {},privacy {}", b64("clip.mp4"), b64("My clip"), b64("unlisted"));
    send(
        app,
        tus(Method::POST, "/api/uploads", token)
            .header("upload-length", length)
            .header("upload-metadata", meta)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

fn patch(id: &str, token: &str, offset: u64, body: &[u8]) -> Request<Body> {
    tus(Method::PATCH, &format!("/api/uploads/{id}"), token)
        .header("upload-offset", offset)
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .body(Body::from(body.to_vec()))
        .unwrap()
}

async fn offset(app: &axum::Router, id: &str, token: &str) -> u64 {
    let r = send(app, tus(Method::HEAD, &format!("/api/uploads/{id}"), token).body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["cache-control"], "no-store");
    r.headers["upload-offset"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_upload_in_two_patches_becomes_a_video_in_processing_with_a_job() {
    let (app, store) = app().await;
    let t = creator_token(&store, "uploader", &["videos:write", "videos:read"]).await;
    let discovery = app.clone().oneshot(Request::options("/api/uploads").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(discovery.status(), StatusCode::NO_CONTENT);
    assert_eq!(discovery.headers()["tus-version"], "1.0.0");
    assert!(discovery.headers()["tus-extension"].to_str().unwrap().contains("checksum"));
    assert_eq!(discovery.headers()["tus-max-size"], "1000000");

    let created = create(&app, &t, 10).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.headers["oxcast-video-id"].to_str().unwrap().to_owned();
    assert_eq!(created.headers[header::LOCATION], format!("http://example.test:8080/api/uploads/{id}"));
    assert!(created.headers["upload-expires"].to_str().unwrap().ends_with(" GMT"));
    let video = send(&app, super::request(Method::GET, &format!("/api/videos/{id}"), Some(&t), None)).await;
    assert_eq!((video.body["status"].as_str(), video.body["title"].as_str()), (Some("uploading"), Some("My clip")));
    assert_eq!(video.body["privacy"], "unlisted");

    let first = send(&app, patch(&id, &t, 0, b"hello")).await;
    assert_eq!((first.status, first.headers["upload-offset"].to_str().unwrap()), (StatusCode::NO_CONTENT, "5"));
    assert_eq!(offset(&app, &id, &t).await, 5);
    let wrong = send(&app, patch(&id, &t, 3, b"xx")).await;
    assert_eq!(wrong.status, StatusCode::CONFLICT, "wrong offset");
    let progress = send(&app, super::request(Method::GET, &format!("/api/videos/{id}"), Some(&t), None)).await;
    assert_eq!((progress.body["bytes_received"].as_u64(), progress.body["progress"].as_f64()), (Some(5), Some(0.5)));

    let last = send(&app, patch(&id, &t, 5, b"world")).await;
    assert_eq!(last.status, StatusCode::NO_CONTENT);
    let done = send(&app, super::request(Method::GET, &format!("/api/videos/{id}"), Some(&t), None)).await;
    assert_eq!(done.body["status"], "processing");
    let job = store
        .jobs()
        .claim(crate::uploads::PROCESS_VIDEO, "test", std::time::Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert!(job.payload.contains(&id));
    assert_eq!(send(&app, patch(&id, &t, 10, b"!")).await.status, StatusCode::CONFLICT, "complete");
}

#[tokio::test]
async fn protocol_errors_are_the_ones_tus_names() {
    let (app, store) = app().await;
    let t = creator_token(&store, "uploader", &["videos:write"]).await;
    let no_version = send(
        &app,
        Request::post("/api/uploads")
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .header("upload-length", 5)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(no_version.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(no_version.headers["tus-version"], "1.0.0");
    let too_big = create(&app, &t, super::MAX_UPLOAD + 1).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    let no_length = send(&app, tus(Method::POST, "/api/uploads", &t).body(Body::empty()).unwrap()).await;
    assert_eq!(no_length.status, StatusCode::BAD_REQUEST);
    let reader = creator_token(&store, "uploader", &["videos:read"]).await;
    assert_eq!(create(&app, &reader, 5).await.status, StatusCode::FORBIDDEN, "uploading needs videos:write");

    let id = create(&app, &t, 8).await.headers["oxcast-video-id"].to_str().unwrap().to_owned();
    // Checksum: a wrong digest drops the bytes (460); the right one keeps them.
    let body = b"abcd";
    let wrong = tus(Method::PATCH, &format!("/api/uploads/{id}"), &t)
        .header("upload-offset", 0)
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .header("upload-checksum", format!("sha1 {}", base64::engine::general_purpose::STANDARD.encode([0u8; 20])))
        .body(Body::from(body.to_vec()))
        .unwrap();
    assert_eq!(send(&app, wrong).await.status.as_u16(), 460);
    let right = tus(Method::PATCH, &format!("/api/uploads/{id}"), &t)
        .header("upload-offset", 0)
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .header(
            "upload-checksum",
            format!("sha1 {}", base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(body))),
        )
        .body(Body::from(body.to_vec()))
        .unwrap();
    assert_eq!(send(&app, right).await.status, StatusCode::NO_CONTENT);
    let md5 = tus(Method::PATCH, &format!("/api/uploads/{id}"), &t)
        .header("upload-offset", 4)
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .header("upload-checksum", "md5 AAAA")
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(send(&app, md5).await.status, StatusCode::BAD_REQUEST);
    let wrong_type = tus(Method::PATCH, &format!("/api/uploads/{id}"), &t)
        .header("upload-offset", 4)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(send(&app, wrong_type).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // More than the announced length: the bytes that fit are kept, the rest refused.
    let over = send(&app, patch(&id, &t, 4, b"efghij")).await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(offset(&app, &id, &t).await, 8);

    // Another user's upload does not exist for me; termination removes it all.
    let other = creator_token(&store, "other", &["videos:write"]).await;
    let id2 = create(&app, &t, 100).await.headers["oxcast-video-id"].to_str().unwrap().to_owned();
    let theirs =
        send(&app, tus(Method::HEAD, &format!("/api/uploads/{id2}"), &other).body(Body::empty()).unwrap()).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    send(&app, patch(&id2, &t, 0, b"some bytes")).await;
    let gone = send(&app, tus(Method::DELETE, &format!("/api/uploads/{id2}"), &t).body(Body::empty()).unwrap()).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert!(store.videos().get(&id2).await.unwrap().is_none());
    assert_eq!(
        send(&app, tus(Method::HEAD, &format!("/api/uploads/{id2}"), &t).body(Body::empty()).unwrap()).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn creation_with_upload_and_expired_uploads() {
    let (app, store) = app().await;
    let t = creator_token(&store, "uploader", &["videos:write"]).await;
    let with_body = tus(Method::POST, "/api/uploads", &t)
        .header("upload-length", 6)
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .body(Body::from("abc"))
        .unwrap();
    let created = send(&app, with_body).await;
    assert_eq!((created.status, created.headers["upload-offset"].to_str().unwrap()), (StatusCode::CREATED, "3"));
    let id = created.headers["oxcast-video-id"].to_str().unwrap().to_owned();
    // An upload nobody touched for a day is gone, bytes and all.
    sqlx_free_age(&store, &id).await;
    assert_eq!(
        send(&app, tus(Method::HEAD, &format!("/api/uploads/{id}"), &t).body(Body::empty()).unwrap()).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(store.videos().get(&id).await.unwrap().is_none());
}

/// Makes an upload look untouched for two days.
async fn sqlx_free_age(store: &oxcast_store::Store, id: &str) {
    store.videos().age_for_tests(id, 2 * 24 * 3600).await.unwrap();
}

#[tokio::test]
async fn owners_change_and_delete_their_videos_with_every_stored_object() {
    let (app, store) = app().await;
    let t = creator_token(&store, "uploader", &["videos:write", "videos:read"]).await;
    let id = create(&app, &t, 20).await.headers["oxcast-video-id"].to_str().unwrap().to_owned();
    send(&app, patch(&id, &t, 0, b"0123456789")).await;
    let changed = send(
        &app,
        super::request(
            Method::PATCH,
            &format!("/api/videos/{id}"),
            Some(&t),
            Some(&serde_json::json!({"title": "Renamed", "privacy": "public", "tags": ["a", "b"]})),
        ),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!((changed.body["title"].as_str(), changed.body["privacy"].as_str()), (Some("Renamed"), Some("public")));
    assert_eq!(changed.body["description"], "", "fields left out stay");
    let bad = send(
        &app,
        super::request(
            Method::PATCH,
            &format!("/api/videos/{id}"),
            Some(&t),
            Some(&serde_json::json!({"privacy": "secret"})),
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let other = creator_token(&store, "other", &["videos:write", "videos:read"]).await;
    for method in [Method::GET, Method::DELETE] {
        assert_eq!(
            send(&app, super::request(method, &format!("/api/videos/{id}"), Some(&other), None)).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let deleted = send(&app, super::request(Method::DELETE, &format!("/api/videos/{id}"), Some(&t), None)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(store.videos().get(&id).await.unwrap().is_none());
    assert_eq!(
        send(&app, super::request(Method::GET, &format!("/api/videos/{id}"), Some(&t), None)).await.status,
        StatusCode::NOT_FOUND
    );
    let listed = send(&app, super::request(Method::GET, "/api/videos", Some(&t), None)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 0);
}

/// Memory storage that says it has `free` bytes left, like a nearly full disk.
#[derive(Debug)]
struct NearlyFull(oxcast_vod::MemoryStorage, u64);

#[async_trait::async_trait]
impl oxcast_vod::Storage for NearlyFull {
    async fn put(
        &self,
        key: &oxcast_vod::ObjectKey,
        body: oxcast_vod::ByteStream,
    ) -> Result<u64, oxcast_vod::StorageError> {
        self.0.put(key, body).await
    }
    async fn get(&self, key: &oxcast_vod::ObjectKey) -> Result<oxcast_vod::ByteStream, oxcast_vod::StorageError> {
        self.0.get(key).await
    }
    async fn get_range(
        &self,
        key: &oxcast_vod::ObjectKey,
        range: std::ops::Range<u64>,
    ) -> Result<oxcast_vod::ByteStream, oxcast_vod::StorageError> {
        self.0.get_range(key, range).await
    }
    async fn head(
        &self,
        key: &oxcast_vod::ObjectKey,
    ) -> Result<Option<oxcast_vod::ObjectMeta>, oxcast_vod::StorageError> {
        self.0.head(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<oxcast_vod::ObjectMeta>, oxcast_vod::StorageError> {
        self.0.list(prefix).await
    }
    async fn delete(&self, key: &oxcast_vod::ObjectKey) -> Result<(), oxcast_vod::StorageError> {
        self.0.delete(key).await
    }
    async fn available_bytes(&self) -> Result<Option<u64>, oxcast_vod::StorageError> {
        Ok(Some(self.1))
    }
}

#[tokio::test]
async fn a_full_disk_is_507_at_creation_and_before_writing() {
    let reserve = crate::uploads::FREE_SPACE_RESERVE;
    let storage = std::sync::Arc::new(NearlyFull(oxcast_vod::MemoryStorage::new(), reserve + 100));
    let (app, store) = super::app_on(super::RELAXED, storage).await;
    let t = creator_token(&store, "uploader", &["videos:write"]).await;
    let refused = create(&app, &t, 101).await;
    assert_eq!(refused.status, StatusCode::INSUFFICIENT_STORAGE, "{}", refused.body);
    assert!(refused.body["detail"].as_str().unwrap().contains("room for 100"), "{}", refused.body);
    let fits = create(&app, &t, 100).await;
    assert_eq!(fits.status, StatusCode::CREATED);
}

/// A tus request without credentials (what a browser with a direct-upload URL sends).
fn anonymous(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri).header("tus-resumable", "1.0.0")
}

#[tokio::test]
async fn a_direct_upload_url_creates_one_upload_without_a_token_and_reaches_only_it() {
    let (app, store) = app().await;
    let t = creator_token(&store, "backend", &["videos:write", "videos:read"]).await;
    let minted = send(
        &app,
        super::request(
            Method::POST,
            "/api/videos/direct-uploads",
            Some(&t),
            Some(&serde_json::json!({"title": "From a browser", "privacy": "unlisted", "tags": ["web"], "max_size_bytes": 10})),
        ),
    )
    .await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.body);
    assert_eq!(minted.body["status"], "waiting");
    let url = minted.body["upload_url"].as_str().unwrap().to_owned();
    let endpoint = url.split_once("/api/").map(|(_, rest)| format!("/api/{rest}")).unwrap();
    assert!(endpoint.starts_with("/api/uploads?direct=dup_"), "{endpoint}");

    // Too large for this URL: refused before the URL is used up.
    let big =
        send(&app, anonymous(Method::POST, &endpoint).header("upload-length", 11).body(Body::empty()).unwrap()).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    let meta = format!("filename {},title {}", b64("x.mp4"), b64("the browser's own title"));
    let created = send(
        &app,
        anonymous(Method::POST, &endpoint)
            .header("upload-length", 10)
            .header("upload-metadata", meta)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.headers["oxcast-video-id"].to_str().unwrap().to_owned();
    let location = created.headers["location"].to_str().unwrap().to_owned();
    let upload_path = location.split_once("/api/").map(|(_, rest)| format!("/api/{rest}")).unwrap();
    assert!(upload_path.starts_with(&format!("/api/uploads/{id}?direct=dup_")), "{upload_path}");
    // The URL works once.
    let again =
        send(&app, anonymous(Method::POST, &endpoint).header("upload-length", 10).body(Body::empty()).unwrap()).await;
    assert_eq!(again.status, StatusCode::GONE);

    // A page on another site may send them: preflights pass, responses are readable.
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri(&upload_path)
        .header(header::ORIGIN, "https://creator.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PATCH")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "tus-resumable, upload-offset, content-type")
        .body(Body::empty())
        .unwrap();
    let preflight = send(&app, preflight).await;
    assert!(preflight.status.is_success(), "{}", preflight.status);
    assert_eq!(preflight.headers["access-control-allow-origin"], "*");
    assert!(preflight.headers["access-control-allow-methods"].to_str().unwrap().contains("PATCH"));

    // Its bytes go in without a token, through the Location.
    let body = |offset: u64, bytes: &[u8]| {
        anonymous(Method::PATCH, &upload_path)
            .header("upload-offset", offset)
            .header(header::CONTENT_TYPE, "application/offset+octet-stream")
            .body(Body::from(bytes.to_vec()))
            .unwrap()
    };
    assert_eq!(send(&app, body(0, b"hello")).await.status, StatusCode::NO_CONTENT);
    let head = anonymous(Method::HEAD, &upload_path).header(header::ORIGIN, "https://creator.example");
    let head = send(&app, head.body(Body::empty()).unwrap()).await;
    assert_eq!(head.headers["upload-offset"], "5");
    assert_eq!(head.headers["access-control-allow-origin"], "*");
    assert!(head.headers["access-control-expose-headers"].to_str().unwrap().contains("Upload-Offset"));
    assert_eq!(send(&app, body(5, b"world")).await.status, StatusCode::NO_CONTENT);

    // The details are the minter's, the owner the minter; the browser's title does not win.
    let v = send(&app, super::request(Method::GET, &format!("/api/videos/{id}"), Some(&t), None)).await;
    assert_eq!((v.body["title"].as_str(), v.body["privacy"].as_str()), (Some("From a browser"), Some("unlisted")));
    assert_eq!((v.body["status"].as_str(), v.body["tags"].clone()), (Some("processing"), serde_json::json!(["web"])));
    let d = minted.body["id"].as_str().unwrap();
    let status =
        send(&app, super::request(Method::GET, &format!("/api/videos/direct-uploads/{d}"), Some(&t), None)).await;
    assert_eq!((status.body["status"].as_str(), status.body["video_id"].as_str()), (Some("used"), Some(id.as_str())));
    assert!(status.body.get("upload_url").is_none(), "the secret is shown once");

    // Without the secret, or with it on another upload: nothing.
    let bare = send(&app, anonymous(Method::HEAD, &format!("/api/uploads/{id}")).body(Body::empty()).unwrap()).await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    let other = create(&app, &t, 4).await;
    let other_id = other.headers["oxcast-video-id"].to_str().unwrap().to_owned();
    let secret = upload_path.split("direct=").nth(1).unwrap();
    let stray =
        anonymous(Method::HEAD, &format!("/api/uploads/{other_id}?direct={secret}")).body(Body::empty()).unwrap();
    assert_eq!(send(&app, stray).await.status, StatusCode::NOT_FOUND);
    let wrong =
        anonymous(Method::POST, "/api/uploads?direct=dup_nope").header("upload-length", 1).body(Body::empty()).unwrap();
    assert_eq!(send(&app, wrong).await.status, StatusCode::GONE);
}
