//! The resources: streams and their URLs and live state, users, chat tokens, the document and
//! its reference page, pages, health and metrics.

#![allow(clippy::unwrap_used)]

use super::*;

#[tokio::test]
async fn created_streams_carry_every_publish_url_and_belong_to_their_creator() {
    let (app, store) = app().await;
    let ann = creator_token(&store, "ann", &["streams:write", "streams:read"]).await;
    let body = json!({"name": "studio", "title": "Friday jam", "category": "Music"});
    let (status, created) = call(&app, Method::POST, "/api/streams", Some(&ann), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["stream_key"].as_str().unwrap();
    assert!(key.starts_with("sk_"));
    assert_eq!(created["rtmp_url"], "rtmp://example.test:1935/live");
    assert_eq!(created["srt_url"], format!("srt://example.test:8890?streamid=#!::r={key},m=publish"));
    assert_eq!(created["whip_url"], "http://example.test:8080/whip/studio");
    assert_eq!(created["player_url"], "http://example.test:8080/watch/studio");
    let record = store.streams().get("studio").await.unwrap().unwrap();
    assert_eq!(record.owner_id, Some(store.users().by_name("ann").await.unwrap().unwrap().id));
    assert_eq!(record.details.title, "Friday jam");

    let (status, err) = call(&app, Method::POST, "/api/streams", Some(&ann), Some(json!({"name": "studio"}))).await;
    assert_eq!((status, err["detail"].as_str().unwrap()), (StatusCode::CONFLICT, "stream studio already exists"));
    let (status, err) =
        call(&app, Method::POST, "/api/streams", Some(&ann), Some(json!({"name": "x", "owner": "admin"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "creators cannot create for others: {err}");
    let (status, err) =
        call(&app, Method::POST, "/api/streams", Some(&ann), Some(json!({"name": "a", "profile": "4k"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["detail"].as_str().unwrap().contains("passthrough, standard"), "{err}");
    let huge = json!({"name": "x".repeat(20_000)});
    let (status, err) = call(&app, Method::POST, "/api/streams", Some(&ann), Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(err["status"], 413, "even axum's own refusals are problem+json: {err}");
    // The admin may create for someone.
    let (status, _) =
        call(&app, Method::POST, "/api/streams", Some(ADMIN), Some(json!({"name": "for-ann", "owner": "ann"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, mine) = call(&app, Method::GET, "/api/streams?limit=1", Some(&ann), None).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let cursor = mine["next_cursor"].as_str().unwrap();
    let (_, rest) = call(&app, Method::GET, &format!("/api/streams?limit=1&cursor={cursor}"), Some(&ann), None).await;
    assert_eq!(rest["items"][0]["name"], "studio");
    assert!(rest["next_cursor"].is_null());
}

#[tokio::test]
async fn status_joins_the_store_the_live_view_and_the_viewer_counts() {
    let (app, store) = app().await;
    let admin = store.users().first_admin().await.unwrap().unwrap();
    store.streams().create("live-one", &admin.id, None).await.unwrap();
    let (status, live) = call(&app, Method::GET, "/api/streams/live-one", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((live["state"].as_str(), live["protocol"].as_str()), (Some("live"), Some("rtmp")));
    assert_eq!(live["renditions"][0]["height"], 720);
    assert_eq!(live["viewers"], json!({"current": 3, "peak": 7}));
    assert_eq!(live["profile"], "standard");
    assert_eq!(call(&app, Method::GET, "/api/streams/nope", None, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admins_manage_users_and_creators_cannot() {
    let (app, store) = app().await;
    let (status, user) =
        call(&app, Method::POST, "/api/users", Some(ADMIN), Some(json!({"name": "Dee", "password": "long enough"})))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(
        (user["name"].as_str(), user["role"].as_str(), user["has_password"].as_bool()),
        (Some("dee"), Some("creator"), Some(true))
    );
    assert!(!user.to_string().contains("long enough"));
    assert_eq!(
        call(&app, Method::POST, "/api/users", Some(ADMIN), Some(json!({"name": "dee"}))).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        call(&app, Method::POST, "/api/users", Some(ADMIN), Some(json!({"name": "e", "role": "god"}))).await.0,
        StatusCode::BAD_REQUEST
    );
    let creator = creator_token(&store, "ann", &["streams:read", "streams:write", "videos:read"]).await;
    assert_eq!(call(&app, Method::GET, "/api/users", Some(&creator), None).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn chat_token_names_follow_the_product_display_name_rule() {
    let (app, store) = app().await;
    let admin = store.users().first_admin().await.unwrap().unwrap();
    store.streams().create("main", &admin.id, None).await.unwrap();
    let body = json!({"name": "  Bob  ", "moderator_of": "main"});
    let (status, made) = call(&app, Method::POST, "/api/chat/tokens", Some(ADMIN), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!((made["name"].as_str(), made["role"].as_str()), (Some("Bob"), Some("moderator")));
    for bad in ["Ann\u{202e}", "A\u{200b}nn", "", &"x".repeat(33)] {
        let (status, err) = call(&app, Method::POST, "/api/chat/tokens", Some(ADMIN), Some(json!({"name": bad}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {err}");
        assert!(err["detail"].as_str().unwrap().starts_with("name: "), "{err}");
    }
}

#[tokio::test]
async fn the_document_and_its_reference_page_are_served() {
    let (app, _) = app().await;
    let doc = send(&app, Request::get("/api/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc.body["openapi"]);
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
    let page = app.clone().oneshot(Request::get("/api/docs").body(Body::empty()).unwrap()).await.unwrap();
    let html = String::from_utf8(page.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(html.contains("spec-url=\"/api/openapi.json\"") && html.contains("/assets/redoc.standalone.js"));
    let js =
        app.clone().oneshot(Request::get("/assets/redoc.standalone.js").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(js.headers()[header::CONTENT_TYPE], "application/javascript");
    assert!(js.into_body().collect().await.unwrap().to_bytes().len() > 500_000, "the real Redoc bundle");
}

#[tokio::test]
async fn pages_health_and_metrics_are_served_in_process() {
    let (app, _) = app().await;
    let response = app.clone().oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert!(std::str::from_utf8(&text).unwrap().contains("fake_metric 1"));
    let response = app.oneshot(Request::get("/live/none/index.m3u8").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
