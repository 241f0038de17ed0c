//! The origin's HTTP behaviour, driven through `tower::ServiceExt::oneshot` on a paused clock.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use oxcast_ll_hls::{PackagerConfig, PackagerDirectory, PartIn, RenditionMeta, StreamPackager, TrackKind, router};
use tower::ServiceExt;

struct Dir(HashMap<String, Arc<StreamPackager>>);

impl PackagerDirectory for Dir {
    fn packager(&self, stream: &str) -> Option<Arc<StreamPackager>> {
        self.0.get(stream).cloned()
    }
}

fn setup() -> (axum::Router, Arc<StreamPackager>) {
    let config = PackagerConfig {
        part_target: Duration::from_millis(200),
        segment_target: Duration::from_secs(1),
        window: Duration::from_secs(30),
    };
    let p = Arc::new(StreamPackager::with_first_msn("cam", config, 0));
    p.start_session(vec![
        RenditionMeta {
            id: "video".into(),
            kind: TrackKind::Video,
            codecs: "avc1.64001f".into(),
            bitrate: None,
            resolution: None,
            frame_rate: None,
            channels: None,
        },
        RenditionMeta {
            id: "audio".into(),
            kind: TrackKind::Audio,
            codecs: "mp4a.40.2".into(),
            bitrate: None,
            resolution: None,
            frame_rate: None,
            channels: None,
        },
    ]);
    p.set_init("video", Bytes::from_static(b"VINIT"), Some((640, 360)), Some(30.0), None);
    p.set_init("audio", Bytes::from_static(b"AINIT"), None, None, None);
    let dir = Dir(HashMap::from([("cam".to_owned(), p.clone())]));
    (router(Arc::new(dir)), p)
}

fn push(p: &StreamPackager, index: usize, marker: u8) {
    for id in ["video", "audio"] {
        p.push_part(
            id,
            PartIn {
                data: Bytes::from(vec![marker; 10]),
                duration: Duration::from_millis(200),
                independent: index.is_multiple_of(5),
                segment_start: index.is_multiple_of(5),
                program_date_time: SystemTime::now(),
            },
        );
    }
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, Bytes) {
    let res = app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

#[tokio::test(start_paused = true)]
async fn blocking_reload_returns_when_the_part_appears() {
    let (app, p) = setup();
    for i in 0..7 {
        push(&p, i, i as u8);
    }
    // Segment 0 complete, segment 1 has parts 0 and 1. Ask for part 1.3 (two parts ahead).
    let app2 = app.clone();
    let waiting = tokio::spawn(async move { get(&app2, "/live/cam/video/index.m3u8?_HLS_msn=1&_HLS_part=3").await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!waiting.is_finished(), "must block until part 1.3 exists");
    push(&p, 7, 7);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!waiting.is_finished());
    push(&p, 8, 8);
    let (status, headers, body) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    // Parts are numbered across segments (from 0 here): part 1.3 is the ninth part.
    assert!(text.contains("part-8.m4s"), "{text}");
    assert!(text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-9.m4s\""));
    assert_eq!(headers["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(headers["cache-control"], "public, max-age=6");
}

#[tokio::test(start_paused = true)]
async fn blocking_reload_gives_up_after_three_target_durations() {
    let (app, p) = setup();
    push(&p, 0, 0);
    let started = tokio::time::Instant::now();
    let (status, headers, _) = get(&app, "/live/cam/video/index.m3u8?_HLS_msn=1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn bad_directives_are_400() {
    let (app, p) = setup();
    push(&p, 0, 0);
    for uri in [
        "/live/cam/video/index.m3u8?_HLS_part=1",
        "/live/cam/video/index.m3u8?_HLS_msn=abc",
        "/live/cam/video/index.m3u8?_HLS_msn=9",
        "/live/cam/video/index.m3u8?_HLS_msn=0&_HLS_skip=maybe",
    ] {
        let (status, _, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn preload_hinted_part_blocks_then_arrives() {
    let (app, p) = setup();
    push(&p, 0, 0);
    let app2 = app.clone();
    let waiting = tokio::spawn(async move { get(&app2, "/live/cam/audio/part-1.m4s").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished());
    push(&p, 1, 42);
    let (status, headers, body) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Bytes::from(vec![42u8; 10]));
    assert_eq!(headers["content-type"], "audio/mp4");
    assert!(headers["cache-control"].to_str().unwrap().contains("immutable"));
    // Far-future and unknown objects are 404 at once.
    assert_eq!(get(&app, "/live/cam/audio/part-9.m4s").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/live/cam/audio/part-1-0.m4s").await.0, StatusCode::NOT_FOUND, "the old naming");
    assert_eq!(get(&app, "/live/cam/audio/bogus.txt").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn segments_init_multivariant_cors_and_unknown_streams() {
    let (app, p) = setup();
    for i in 0..6 {
        push(&p, i, i as u8);
    }
    let (status, _, body) = get(&app, "/live/cam/video/seg-0.m4s").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), 50);
    assert_eq!(&body[..10], &[0u8; 10]);
    assert_eq!(&body[40..], &[4u8; 10]);
    let (status, _, body) = get(&app, "/live/cam/video/init-0.mp4").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"VINIT"[..]));
    let (status, headers, body) = get(&app, "/live/cam/index.m3u8").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("RESOLUTION=640x360"), "{text}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/live/cam/index.m3u8")
        .header("origin", "https://example.org")
        .header("access-control-request-method", "GET")
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(preflight).await.unwrap();
    assert!(res.status().is_success());
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert_eq!(get(&app, "/live/nope/index.m3u8").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/live/cam/nope/index.m3u8").await.0, StatusCode::NOT_FOUND);

    // Ending the stream: ENDLIST, and blocking requests answer at once.
    p.end();
    let (status, _, body) = get(&app, "/live/cam/video/index.m3u8?_HLS_msn=2&_HLS_part=0").await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(body.to_vec()).unwrap().ends_with("#EXT-X-ENDLIST\n"));
}
