//! Recommendations on the real server: up next from what viewers watched together (never the
//! video itself or a private one), a viewer's feed from their history, a newcomer's trending,
//! continue watching, parameters checked; the video page's "Up next" list and the home page in
//! Chromium.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};

fn get(server: &Server, path: &str) -> (u16, Value) {
    let r = client().get(server.url(path)).send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// A view of `video` by `viewer` (the 2 s clips count after 1.5 s of watching).
fn view(server: &Server, video: &str, viewer: &str, token: Option<&str>) {
    for (i, events) in
        [json!([{"type": "start", "position": 0}]), json!([{"type": "heartbeat", "position": 2, "watched": 2}])]
            .into_iter()
            .enumerate()
    {
        let body = json!({"viewer": viewer, "session": format!("ps_{viewer}_{video}"), "events": events});
        let mut request = client().post(server.url(&format!("/api/videos/{video}/events"))).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().unwrap();
        assert_eq!(response.status(), 202, "report {i} of {viewer} on {video}");
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn up_next_and_feeds_come_from_what_viewers_watched_together() {
    let server = Server::start();
    let clip = test_clip(2, "160x120", false);
    let upload = |title: &str, privacy: &str| {
        let id = common::uploads::upload_once(&server, &clip, &[("title", title), ("privacy", privacy)]);
        common::uploads::wait_ready(&server, &id);
        id
    };
    let (alpha, beta, gamma) = (upload("Alpha", "public"), upload("Beta", "public"), upload("Gamma", "public"));
    let hidden = upload("Delta", "private");
    let long_clip = test_clip(12, "160x120", false);
    let epsilon = common::uploads::upload_once(&server, &long_clip, &[("title", "Epsilon"), ("privacy", "public")]);
    common::uploads::wait_ready(&server, &epsilon);

    // Two viewers watch alpha and beta, one alpha and gamma; the owner watches alpha and the
    // private one.
    for viewer in ["vw_viewer_one", "vw_viewer_two"] {
        view(&server, &alpha, viewer, None);
        view(&server, &beta, viewer, None);
    }
    view(&server, &alpha, "vw_viewer_three", None);
    view(&server, &gamma, "vw_viewer_three", None);
    view(&server, &alpha, "vw_owner_self", Some(ADMIN_TOKEN));
    view(&server, &hidden, "vw_owner_self", Some(ADMIN_TOKEN));

    // Up next of alpha: beta first (watched with it by two), never alpha or the private one.
    let (status, next) = get(&server, &format!("/api/videos/{alpha}/up-next"));
    assert_eq!(status, 200, "{next}");
    let next_ids = ids(&next);
    assert_eq!(next_ids.first(), Some(&beta), "{next}");
    assert_eq!(next["items"][0]["reason"], "watched_together", "{next}");
    assert!(next_ids.contains(&gamma));
    assert!(!next_ids.contains(&alpha) && !next_ids.contains(&hidden), "{next}");
    assert!(next["items"].as_array().unwrap().iter().all(|i| i["reason"].is_string() && i["url"].is_string()));

    // Viewer three's feed: beta (watched with alpha by others), not what they watched.
    let (_, feed) = get(&server, "/api/feed?viewer=vw_viewer_three");
    let feed_ids = ids(&feed);
    assert_eq!(feed_ids.first(), Some(&beta), "{feed}");
    assert_eq!(feed["items"][0]["reason"], "watched_together");
    assert!(!feed_ids.contains(&alpha) && !feed_ids.contains(&gamma) && !feed_ids.contains(&hidden), "{feed}");
    // A newcomer: trending, alpha (most watched) first.
    let (_, fresh) = get(&server, "/api/feed");
    assert_eq!(ids(&fresh).first(), Some(&alpha), "{fresh}");
    assert_eq!(fresh["items"][0]["reason"], "trending");
    assert!(!ids(&fresh).contains(&hidden));
    // Trending for everyone, whoever asks.
    let (status, trending) = get(&server, "/api/trending?limit=3");
    assert_eq!(status, 200, "{trending}");
    assert_eq!(ids(&trending).first(), Some(&alpha), "{trending}");
    assert!(trending["items"].as_array().unwrap().iter().all(|i| i["reason"] == "trending"), "{trending}");
    assert!(ids(&trending).len() <= 3 && !ids(&trending).contains(&hidden), "{trending}");

    // Viewer three started epsilon and left at 6 s: continue watching, from there.
    for events in
        [json!([{"type": "start", "position": 0}]), json!([{"type": "heartbeat", "position": 6, "watched": 5}])]
    {
        let body = json!({"viewer": "vw_viewer_three", "session": "ps_three_epsilon", "events": events});
        let r = client().post(server.url(&format!("/api/videos/{epsilon}/events"))).json(&body).send().unwrap();
        assert_eq!(r.status(), 202);
    }
    let (_, left) = get(&server, "/api/continue-watching?viewer=vw_viewer_three");
    assert_eq!(ids(&left), std::slice::from_ref(&epsilon), "{left}");
    assert_eq!(left["items"][0]["url"], format!("/v/{epsilon}?t=6"));
    assert_eq!(ids(&get(&server, "/api/continue-watching?viewer=vw_viewer_one").1), Vec::<String>::new());

    // Parameters and access.
    assert_eq!(get(&server, &format!("/api/videos/{alpha}/up-next?limit=0")).0, 400);
    assert_eq!(get(&server, "/api/feed?viewer=not%20an%20id").0, 400);
    assert_eq!(get(&server, "/api/videos/v_00000000000000000000000000000000/up-next").0, 404);
    assert_eq!(get(&server, &format!("/api/videos/{hidden}/up-next")).0, 404, "private to others");

    // The video page shows the list, each item with its reason.
    let shot = std::env::temp_dir().join(format!("oxcast-up-next-{}.png", std::process::id()));
    let out = Command::new("node")
        .args(["tests/browser/page_items.mjs", "--url", &server.url(&format!("/v/{alpha}"))])
        .args(["--selector", "#up-next a", "--shot", shot.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("node tests/browser/page_items.mjs");
    let report: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["error"], Value::Null, "{report}");
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    let first = &report["items"][0];
    assert_eq!(first["href"], format!("/v/{beta}"), "{report}");
    assert_eq!(first["data"]["reason"], "watched_together");
    assert!(
        first["text"].as_str().unwrap().contains("Beta")
            && first["text"].as_str().unwrap().contains("Watched together")
    );
    eprintln!("up next screenshot: {}", shot.display());

    // The home page of viewer three: continue watching epsilon, beta for them, the newest.
    let shot = std::env::temp_dir().join(format!("oxcast-home-{}.png", std::process::id()));
    let out = Command::new("node")
        .args(["tests/browser/page_items.mjs", "--url", &server.url("/")])
        .args(["--selector", "main section:not([hidden]) a", "--shot", shot.to_str().unwrap()])
        .args(["--local", "oxcast_viewer=vw_viewer_three"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("node tests/browser/page_items.mjs");
    let report: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!((report["error"].clone(), report["pageErrors"].clone()), (Value::Null, json!([])), "{report}");
    let hrefs: Vec<&str> = report["items"].as_array().unwrap().iter().map(|i| i["href"].as_str().unwrap()).collect();
    let shelf = |name: &str| -> Vec<&str> {
        let items = report["items"].as_array().unwrap().iter();
        items.filter(|i| i["data"]["shelf"] == name).map(|i| i["href"].as_str().unwrap()).collect()
    };
    assert_eq!(shelf("continue"), [format!("/v/{epsilon}?t=6")], "continue watching: {report}");
    assert_eq!(shelf("foryou").first(), Some(&format!("/v/{beta}").as_str()), "for you: {report}");
    assert_eq!(shelf("trending").first(), Some(&format!("/v/{alpha}").as_str()), "trending: {report}");
    assert!(!hrefs.iter().any(|h| h.contains(&hidden)), "{report}");
    eprintln!("home page screenshot: {}", shot.display());
}
