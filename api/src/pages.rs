//! Pages served by the binary itself: the player and its script, the creator studio, the API
//! reference, health.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::auth::session_cookie_value;
use crate::layout::{self, PageParts};
use crate::web_assets::{HLS_JS, REDOC_JS, TUS_JS, render_player};

const STUDIO_HTML: &str = include_str!("../web/studio.html");
const DOCS_HTML: &str = include_str!("../web/docs.html");
const UPLOAD_HTML: &str = include_str!("../web/upload.html");
const VIDEOS_HTML: &str = include_str!("../web/videos.html");
const TOKENS_HTML: &str = include_str!("../web/tokens.html");
const KEYS_HTML: &str = include_str!("../web/keys.html");
const WEBHOOKS_HTML: &str = include_str!("../web/webhooks.html");
const STUDIO_JS: &str = include_str!("../web/studio.js");
const SEARCH_HTML: &str = include_str!("../web/search.html");
const SEARCH_JS: &str = include_str!("../web/search.js");
const VIDEO_REPORT_JS: &str = include_str!("../web/video_report.js");
const UP_NEXT_JS: &str = include_str!("../web/up_next.js");
const HOME_HTML: &str = include_str!("../web/home.html");
const HOME_JS: &str = include_str!("../web/home.js");

/// The studio's pages besides streams and upload: (path, title, body).
const STUDIO_PAGES: [(&str, &str, &str); 4] = [
    ("/studio/videos", "Videos", VIDEOS_HTML),
    ("/studio/tokens", "API tokens", TOKENS_HTML),
    ("/studio/keys", "Signing keys", KEYS_HTML),
    ("/studio/webhooks", "Webhooks", WEBHOOKS_HTML),
];

pub(crate) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (path, title, main) in STUDIO_PAGES {
        let page = move |State(state): State<AppState>, headers: HeaderMap| async move {
            account_page(&state, &headers, title, path, main).await
        };
        router = router.route(path, get(page));
    }
    router
        .route("/watch/{name}", get(watch))
        .route("/studio", get(studio))
        .route("/studio/upload", get(upload_page))
        .route("/assets/studio.js", get(|| async { script(STUDIO_JS.as_bytes()) }))
        .route("/", get(home_page))
        .route("/assets/home.js", get(|| async { script(HOME_JS.as_bytes()) }))
        .route("/search", get(search_page))
        .route("/assets/search.js", get(|| async { script(SEARCH_JS.as_bytes()) }))
        .route("/assets/video-report.js", get(|| async { script(VIDEO_REPORT_JS.as_bytes()) }))
        .route("/assets/up-next.js", get(|| async { script(UP_NEXT_JS.as_bytes()) }))
        .route("/api/docs", get(|| async { Html(DOCS_HTML) }))
        .route("/assets/hls.min.js", get(|| async { script(HLS_JS) }))
        .route("/assets/redoc.standalone.js", get(|| async { script(REDOC_JS) }))
        .route("/assets/tus.min.js", get(|| async { script(TUS_JS) }))
        .route("/healthz", get(|| async { "ok\n" }))
}

fn script(body: &'static [u8]) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/javascript"), (header::CACHE_CONTROL, "public, max-age=86400")], body)
}

async fn watch(Path(name): Path<String>) -> Html<String> {
    Html(render_player(&name))
}

/// The creator's dashboard: my streams. Logged-out visitors go to the login first.
async fn studio(State(state): State<AppState>, headers: HeaderMap) -> Response {
    account_page(&state, &headers, "Studio", "/studio", STUDIO_HTML).await
}

/// Uploading videos from the browser, and my videos with their processing state.
async fn upload_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    account_page(&state, &headers, "Upload", "/studio/upload", UPLOAD_HTML).await
}

/// Search, for everyone (a logged-in creator also finds their own hidden videos).
async fn search_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    public_page(&state, &headers, "Search", "/search", SEARCH_HTML).await
}

/// The home page: live now, continue watching, for you, newest.
async fn home_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    public_page(&state, &headers, "Home", "/", HOME_HTML).await
}

/// A page of the account layout for everyone (it names the logged-in user when there is one).
async fn public_page(state: &AppState, headers: &HeaderMap, title: &str, path: &str, main: &str) -> Response {
    let session = match session_cookie_value(headers) {
        Some(value) => state.store.sessions().authenticate(&value).await.ok().flatten(),
        None => None,
    };
    let page = layout::render(&PageParts {
        title,
        current: path,
        user: session.as_ref().map(|(s, u)| (u.display_name.as_str(), s.csrf_token.as_str())),
        main,
    });
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

/// A page of the account layout for the logged-in user, or the login (coming back here after).
async fn account_page(state: &AppState, headers: &HeaderMap, title: &str, path: &str, main: &str) -> Response {
    let session = match session_cookie_value(headers) {
        Some(value) => state.store.sessions().authenticate(&value).await.ok().flatten(),
        None => None,
    };
    let Some((session, user)) = session else {
        let login = format!("/login?next={path}");
        return (StatusCode::SEE_OTHER, [(header::LOCATION, login)]).into_response();
    };
    let page = layout::render(&PageParts {
        title,
        current: path,
        user: Some((&user.display_name, &session.csrf_token)),
        main,
    });
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}
