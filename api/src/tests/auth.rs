//! Who may call what: the auth matrix over the served OpenAPI document, tokens, login and CSRF,
//! rate limits, problem+json errors, and that no `/api` route bypasses the document.

#![allow(clippy::unwrap_used)]

use super::*;

/// A body each documented operation accepts; the matrix asks for one when a route is new.
fn sample_body(method: &str, path: &str) -> Option<Value> {
    Some(match (method, path) {
        ("post", "/api/streams") => json!({"name": "matrix-new"}),
        ("patch", "/api/streams/{name}") => json!({"title": "t"}),
        ("put", "/api/streams/{name}/profile") => json!({"profile": null}),
        ("put", "/api/streams/{name}/srt-passphrase") => json!({"passphrase": null}),
        ("put", "/api/streams/{name}/recording") => json!({"record": true}),
        ("post", "/api/chat/tokens") => json!({"name": "Ann"}),
        ("post", "/api/users") => json!({"name": "matrix-user"}),
        ("post", "/api/tokens") => json!({"name": "t", "scopes": ["streams:read"]}),
        // tus routes take no JSON; the auth checks come before the body is read.
        ("post", "/api/uploads") | ("patch", "/api/uploads/{id}") => json!({}),
        ("patch", "/api/videos/{id}") => json!({"title": "t"}),
        ("post", "/api/videos/direct-uploads") => json!({"title": "t"}),
        // Captions are a WebVTT body; the auth checks come before it is read.
        ("put", "/api/videos/{id}/captions/{language}") => json!({}),
        ("post", "/api/signing-keys") => json!({"algorithm": "EdDSA"}),
        ("post", "/api/signing-keys/{id}/rotate") => json!({"grace_seconds": 60}),
        ("post", "/api/videos/{id}/playback-tokens") => json!({"ttl_seconds": 60}),
        ("post", "/api/streams/{name}/playback-tokens") => json!({"ttl_seconds": 60}),
        ("post", "/api/webhooks") => json!({"url": "https://hooks.example.com/oxcast"}),
        ("patch", "/api/webhooks/{id}") => json!({"enabled": false}),
        ("post", "/api/videos/{id}/events") => {
            json!({"viewer": "vw_matrix01", "session": "ps_matrix01", "events": [{"type": "start", "position": 0}]})
        }
        ("put", "/api/videos/{id}/rating") => json!({"rating": "like"}),
        _ => return None,
    })
}

const BODILESS: [(&str, &str); 32] = [
    ("get", "/api/trending"),
    ("get", "/api/continue-watching"),
    ("get", "/api/videos/{id}/up-next"),
    ("get", "/api/feed"),
    ("get", "/api/videos/{id}/rating"),
    ("get", "/api/videos/{id}/stats"),
    ("get", "/api/search"),
    ("get", "/api/search/suggest"),
    ("get", "/api/webhooks"),
    ("get", "/api/webhooks/{id}"),
    ("delete", "/api/webhooks/{id}"),
    ("post", "/api/webhooks/{id}/test"),
    ("get", "/api/webhooks/{id}/deliveries"),
    ("get", "/api/signing-keys"),
    ("delete", "/api/signing-keys/{id}"),
    ("get", "/api/videos/{id}/captions"),
    ("delete", "/api/videos/{id}/captions/{language}"),
    ("get", "/api/streams/{name}/broadcasts"),
    ("get", "/api/videos/direct-uploads/{id}"),
    ("delete", "/api/videos/{id}"),
    ("options", "/api/uploads"),
    ("head", "/api/uploads/{id}"),
    ("delete", "/api/uploads/{id}"),
    ("get", "/api/videos"),
    ("get", "/api/videos/{id}"),
    ("get", "/api/streams"),
    ("get", "/api/streams/{name}"),
    ("post", "/api/streams/{name}/rotate-key"),
    ("get", "/api/users"),
    ("get", "/api/me"),
    ("get", "/api/tokens"),
    ("delete", "/api/tokens/{id}"),
];

#[tokio::test]
async fn every_documented_route_enforces_the_scope_it_states_and_hides_other_users_resources() {
    let (app, store) = app().await;
    let document = serde_json::to_value(crate::openapi_document()).unwrap();
    // Ann owns `ann-cam`; Bob has every creator scope but owns nothing.
    let ann = creator_token(&store, "ann", &["streams:read", "streams:write"]).await;
    let ann_id = store.users().by_name("ann").await.unwrap().unwrap().id;
    store.streams().create("ann-cam", &ann_id, None).await.unwrap();
    let bob = creator_token(
        &store,
        "bob",
        &["streams:read", "streams:write", "videos:read", "videos:write", "webhooks:write"],
    )
    .await;
    // Cy and Dee each hold one scope; each route is tried with the one whose scope it does not ask.
    let cy = creator_token(&store, "cy", &["keys:write"]).await;
    let dee = creator_token(&store, "dee", &["webhooks:write"]).await;

    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let body = sample_body(method, path);
            assert!(
                body.is_some() || BODILESS.contains(&(method.as_str(), path.as_str())),
                "{method} {path} is new: give it a sample body (or list it as bodiless) in api/src/tests/auth.rs"
            );
            let scopes: Vec<String> = op["security"]
                .as_array()
                .map(|reqs| {
                    reqs.iter()
                        .flat_map(|r| r.as_object().unwrap().values())
                        .flat_map(|v| v.as_array().unwrap().clone())
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let public = op.get("security").is_none();
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // A token of Ann's must exist for the token routes; a stream of Ann's for the stream routes.
            let concrete =
                path.replace("{name}", "ann-cam").replace("{id}", "tok_0000000000000000").replace("{language}", "en");

            let (status, err) = call(&app, m.clone(), &concrete, None, body.clone()).await;
            if public {
                assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path} is documented public");
            } else {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without credentials: {err}");
                if method != "head" {
                    assert_eq!(err["status"], 401, "problem+json: {err}");
                }
            }
            if !public {
                let (status, _) = call(&app, m.clone(), &concrete, Some("oxt_not-a-token"), body.clone()).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with a wrong token");
            }
            if let Some(scope) = scopes.first() {
                let lacking = if scope == "keys:write" { &dee } else { &cy };
                let (status, err) = call(&app, m.clone(), &concrete, Some(lacking), body.clone()).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} needs {scope}: {err}");
                if method != "head" {
                    assert!(err["detail"].as_str().unwrap().contains(scope.as_str()), "{err}");
                }
            }
            // Another user's stream is not found, not forbidden.
            if path.contains("{name}") && !public {
                let (status, err) = call(&app, m.clone(), &concrete, Some(&bob), body.clone()).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path} on Ann's stream as Bob: {err}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} operations in the document");

    // The admin (bootstrap token) sees everyone's; the owner sees their own.
    let (status, _) =
        call(&app, Method::PATCH, "/api/streams/ann-cam", Some(ADMIN), Some(json!({"title": "by admin"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, mine) = call(&app, Method::GET, "/api/streams", Some(&ann), None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = mine["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann-cam"]);
    let (_, theirs) = call(&app, Method::GET, "/api/streams", Some(&bob), None).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0, "{theirs}");
    let admin_id = store.users().first_admin().await.unwrap().unwrap().id;
    store.streams().create("admins-own", &admin_id, None).await.unwrap();
    let (_, all) = call(&app, Method::GET, "/api/streams", Some(ADMIN), None).await;
    let names: Vec<&str> = all["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admins-own", "ann-cam"], "the admin sees everyone's");
}

#[tokio::test]
async fn tokens_are_managed_by_people_listed_without_secrets_and_revoked_at_once() {
    let (app, store) = app().await;
    let ann = store
        .users()
        .create(NewUser { name: "ann", display_name: None, password: None, role: Role::Creator })
        .await
        .unwrap();
    let (cookie, session) = store.sessions().create(&ann, std::time::Duration::from_secs(600)).await.unwrap();
    let cookie = format!("oxcast_session={}", cookie.as_str());
    let csrf = session.csrf_token.as_str();
    let mint = |scopes: Value| json!({"name": "ci", "scopes": scopes});

    let made =
        send(&app, with_cookie(Method::POST, "/api/tokens", &cookie, Some(csrf), Some(&mint(json!(["streams:read"])))))
            .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let secret = made.body["token"].as_str().unwrap().to_owned();
    let id = made.body["id"].as_str().unwrap().to_owned();
    let admin =
        send(&app, with_cookie(Method::POST, "/api/tokens", &cookie, Some(csrf), Some(&mint(json!(["admin"]))))).await;
    assert_eq!(admin.status, StatusCode::FORBIDDEN, "a creator cannot grant admin: {}", admin.body);
    let unknown =
        send(&app, with_cookie(Method::POST, "/api/tokens", &cookie, Some(csrf), Some(&mint(json!(["nope"]))))).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    // A token cannot manage tokens: no sibling outliving its revocation, no revoking others.
    let (status, err) =
        call(&app, Method::POST, "/api/tokens", Some(&secret), Some(mint(json!(["streams:read"])))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(call(&app, Method::GET, "/api/tokens", Some(&secret), None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        call(&app, Method::DELETE, &format!("/api/tokens/{id}"), Some(&secret), None).await.0,
        StatusCode::FORBIDDEN
    );

    let list = send(&app, with_cookie(Method::GET, "/api/tokens", &cookie, None, None)).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert!(!list.body.to_string().contains(&secret), "secrets are never listed");
    let (status, me) = call(&app, Method::GET, "/api/me", Some(&secret), None).await;
    assert_eq!(
        (status, me["scopes"].clone(), me["credential"].clone()),
        (StatusCode::OK, json!(["streams:read"]), json!("api_token"))
    );

    let revoke = |csrf: Option<&str>| with_cookie(Method::DELETE, &format!("/api/tokens/{id}"), &cookie, csrf, None);
    assert_eq!(send(&app, revoke(None)).await.status, StatusCode::FORBIDDEN, "CSRF needed");
    assert_eq!(send(&app, revoke(Some(csrf))).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&app, Method::GET, "/api/me", Some(&secret), None).await.0,
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );
    assert_eq!(send(&app, revoke(Some(csrf))).await.status, StatusCode::NOT_FOUND);
    // The scheme name is case-insensitive.
    let lower =
        Request::get("/api/me").header(header::AUTHORIZATION, format!("bearer {ADMIN}")).body(Body::empty()).unwrap();
    assert_eq!(send(&app, lower).await.status, StatusCode::OK);
}

#[tokio::test]
async fn login_sets_a_strict_cookie_and_changes_need_the_csrf_token() {
    let (app, store) = app().await;
    store
        .users()
        .create(NewUser {
            name: "ann",
            display_name: Some("Ann"),
            password: Some("correct horse"),
            role: Role::Creator,
        })
        .await
        .unwrap();

    let wrong = send(&app, form("/login", "name=ann&password=nope", None, &[])).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    let cross = send(
        &app,
        form(
            "/login",
            "name=ann&password=correct+horse",
            None,
            &[("origin", "https://evil.example"), ("host", "tv.example")],
        ),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN, "login CSRF refused");

    let ok = send(
        &app,
        form(
            "/login",
            "name=ann&password=correct+horse&next=/studio",
            None,
            &[("host", "tv.example"), ("origin", "http://tv.example")],
        ),
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.headers[header::LOCATION], "/studio");
    let set_cookie = ok.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http without a trusted proxy: {set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let me = send(&app, with_cookie(Method::GET, "/api/me", &cookie, None, None)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["credential"], "session");
    let csrf = me.body["csrf_token"].as_str().unwrap().to_owned();
    let body = json!({"name": "from-the-page"});
    let no_csrf = send(&app, with_cookie(Method::POST, "/api/streams", &cookie, None, Some(&body))).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN, "{}", no_csrf.body);
    let bad_csrf =
        send(&app, with_cookie(Method::POST, "/api/streams", &cookie, Some("csrf_wrong"), Some(&body))).await;
    assert_eq!(bad_csrf.status, StatusCode::FORBIDDEN);
    let made = send(&app, with_cookie(Method::POST, "/api/streams", &cookie, Some(&csrf), Some(&body))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);

    // The studio page carries the same CSRF token for its scripts.
    let page = app.clone().oneshot(with_cookie(Method::GET, "/studio", &cookie, None, None)).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = String::from_utf8(page.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(html.contains(&format!("<meta name=\"csrf-token\" content=\"{csrf}\">")));
    assert!(html.contains("My streams") && html.contains("<span>Ann</span>"));
    let anonymous = send(&app, Request::get("/studio").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (anonymous.status, anonymous.headers[header::LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/login?next=/studio")
    );

    // Logging out needs the token too, then the cookie is worthless.
    let refused = send(&app, form("/logout", "csrf=wrong", Some(&cookie), &[])).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let out = send(&app, form("/logout", &format!("csrf={csrf}"), Some(&cookie), &[])).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.headers[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(
        send(&app, with_cookie(Method::GET, "/api/me", &cookie, None, None)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn too_many_requests_get_429_with_retry_after() {
    let (app, store) = app_with(LimitSettings { api_requests_per_minute: 5, login_attempts_per_ten_minutes: 3 }).await;
    let ann = creator_token(&store, "ann", &["streams:read"]).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(call(&app, Method::GET, "/api/me", Some(&ann), None).await.0);
    }
    assert_eq!(statuses[..5], [StatusCode::OK; 5]);
    let limited = send(&app, request(Method::GET, "/api/me", Some(&ann), None)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(limited.body["status"], 429);

    // Login attempts are counted per name (and address) on their own, much lower budget.
    let (app, _) = app_with(LimitSettings { api_requests_per_minute: 1000, login_attempts_per_ten_minutes: 3 }).await;
    let mut last = StatusCode::OK;
    for _ in 0..4 {
        last = send(&app, form("/login", "name=ann&password=guess123", None, &[])).await.status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn api_errors_are_problem_json_with_the_request_id() {
    let (app, _) = app().await;
    let unknown = send(&app, Request::get("/api/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.headers[header::CONTENT_TYPE], "application/problem+json");
    let id = unknown.headers["x-request-id"].to_str().unwrap();
    assert_eq!(unknown.body["request_id"], id);
    assert_eq!(
        (unknown.body["type"].as_str(), unknown.body["title"].as_str()),
        (Some("about:blank"), Some("Not Found"))
    );
    let wrong_method = send(&app, Request::delete("/api/me").body(Body::empty()).unwrap()).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.body["status"], 405);
    let bad_query = send(&app, request(Method::GET, "/api/streams?limit=0", Some(ADMIN), None)).await;
    assert_eq!((bad_query.status, bad_query.body["status"].as_u64()), (StatusCode::BAD_REQUEST, Some(400)));
    // Only a trusted proxy may name the id (none is trusted here): clients cannot plant one in the log.
    let planted =
        send(&app, Request::get("/api/me").header("x-request-id", "from-client-42").body(Body::empty()).unwrap()).await;
    assert_ne!(planted.headers["x-request-id"], "from-client-42");
    assert_eq!(planted.headers[header::WWW_AUTHENTICATE], "Bearer");
    // Outside /api errors keep their own shape, but still carry an id.
    let page = app.clone().oneshot(Request::get("/nope").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page.headers().contains_key("x-request-id"));
}

/// Every `/api` route goes through utoipa-axum (so it is in the document): a plain axum
/// `.route("/api...` anywhere in this crate would bypass it.
#[test]
fn no_api_route_bypasses_the_document() {
    let allowed = ["\"/api/openapi.json\"", "\"/api/docs\""];
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        for path in std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()) {
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().filter(|l| l.contains(".route(\"/api") && !l.trim_start().starts_with("//")) {
                assert!(allowed.iter().any(|a| line.contains(a)), "{}: {line}", path.display());
            }
        }
    }
    assert!(files > 20, "read only {files} files");
}
