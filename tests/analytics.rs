//! View analytics on the real server: a video played in Chromium counts as a view with its
//! watch time and retention, a second browser counts again, a replayed report does not;
//! reports that are malformed, too frequent, for signed videos without a token, for private or
//! unready videos are refused; ratings by signed-in users, changeable.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn post_report(server: &Server, video: &str, body: &Value, query: &str) -> (u16, Value) {
    let r = client().post(server.url(&format!("/api/videos/{video}/events{query}"))).json(body).send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn stats(server: &Server, video: &str) -> Value {
    client()
        .get(server.url(&format!("/api/videos/{video}/stats")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Plays the video page in a fresh headless Chromium (a new viewer) for `seconds`, with a
/// screenshot at the end.
fn watch(server: &Server, video: &str, seconds: u32) -> Value {
    let shot = std::env::temp_dir().join(format!("oxcast-video-page-{}.png", std::process::id()));
    eprintln!("video page screenshot: {}", shot.display());
    let url = server.url(&format!("/v/{video}"));
    let seconds = seconds.to_string();
    play_report(&["--url", &url, "--seconds", &seconds, "--click", "#play", "--screenshot", shot.to_str().unwrap()])
}

#[test]
fn views_watch_time_and_retention_come_from_real_playback_and_cannot_be_inflated() {
    let server = Server::start();
    let clip = test_clip(12, "160x120", true);
    let video = common::uploads::upload_once(&server, &clip, &[("title", "Watched clip"), ("privacy", "public")]);
    common::uploads::wait_ready(&server, &video);

    // A viewer in Chromium: the page reports by itself, and the view counts.
    let played = watch(&server, &video, 16);
    assert!(played["advanced"].as_f64().unwrap() >= 8.0, "{played}");
    wait_for("the view to count", Duration::from_secs(10), || stats(&server, &video)["views"] == 1);
    let s = stats(&server, &video);
    let watched = s["watch_seconds"].as_f64().unwrap();
    assert!((8.0..=12.5).contains(&watched), "watch time is what was played, at most the 12 s clip: {s}");
    assert_eq!(s["daily"].as_array().unwrap().len(), 1, "{s}");
    let retention: Vec<f64> = s["retention"].as_array().unwrap().iter().map(|p| p["share"].as_f64().unwrap()).collect();
    assert_eq!(retention.len(), 20);
    assert_eq!(retention[0], 1.0, "every view saw the start: {s}");
    assert!(retention.windows(2).all(|w| w[0] >= w[1] - 1e-9) || retention.iter().all(|r| *r > 0.0), "{s}");
    // Another browser is another viewer.
    let again = watch(&server, &video, 16);
    let counted = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        stats(&server, &video)["views"] == 2
    });
    assert!(counted, "the second view: {again}\n{}", stats(&server, &video));

    // A script: one session replaying reports gets no more than the clock allows, and no view
    // twice; too many reports from one viewer id are refused.
    let start =
        json!({"viewer": "vw_scripted1", "session": "ps_scripted1", "events": [{"type": "start", "position": 0}]});
    assert_eq!(post_report(&server, &video, &start, "").0, 202);
    let lie = json!({"viewer": "vw_scripted1", "session": "ps_scripted1",
        "events": [{"type": "heartbeat", "position": 600, "watched": 600}]});
    let (status, answer) = post_report(&server, &video, &lie, "");
    assert_eq!(status, 202);
    assert!(answer["credited_seconds"].as_f64().unwrap() <= 6.0 && answer["counted"] == false, "{answer}");
    let mut refused = 0;
    for _ in 0..40 {
        if post_report(&server, &video, &lie, "").0 == 429 {
            refused += 1;
        }
    }
    assert!(refused > 0, "one viewer id cannot report without end");
    assert_eq!(stats(&server, &video)["views"], 2, "still two");

    // Malformed reports: a problem each.
    for (body, says) in [
        (
            json!({"viewer": "x", "session": "ps_scripted2", "events": [{"type": "start", "position": 0}]}),
            "viewer and session",
        ),
        (json!({"viewer": "vw_scripted2", "session": "ps_scripted2", "events": []}), "1 to 20 events"),
        (
            json!({"viewer": "vw_scripted2", "session": "ps_scripted2", "events": [{"type": "rewind", "position": 0}]}),
            "event type",
        ),
        (
            json!({"viewer": "vw_scripted2", "session": "ps_scripted2", "events": [{"type": "heartbeat", "position": -1}]}),
            "position",
        ),
        (
            json!({"viewer": "vw_scripted2", "session": "ps_scripted1", "events": [{"type": "start", "position": 0}]}),
            "another video or viewer",
        ),
    ] {
        let (status, problem) = post_report(&server, &video, &body, "");
        assert_eq!(status, 400, "{body}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(says), "{body}: {problem}");
    }
    let any =
        json!({"viewer": "vw_scripted3", "session": "ps_scripted3", "events": [{"type": "start", "position": 0}]});
    assert_eq!(post_report(&server, "v_00000000000000000000000000000000", &any, "").0, 404);

    // Private: 404 to others. Signed: 403 without a token.
    let private = common::uploads::upload_once(&server, &clip, &[("title", "Private clip"), ("privacy", "private")]);
    let signed = common::uploads::upload_once(
        &server,
        &clip,
        &[("title", "Signed clip"), ("privacy", "public"), ("playback_policy", "signed")],
    );
    let (status, problem) = post_report(&server, &private, &any, "");
    assert!(status == 404 || status == 409, "{problem}");
    common::uploads::wait_ready(&server, &private);
    common::uploads::wait_ready(&server, &signed);
    assert_eq!(post_report(&server, &private, &any, "").0, 404);
    assert_eq!(post_report(&server, &signed, &any, "").0, 403);

    // Ratings: signed-in users only, one each, changeable.
    let rate = |rating: Value, token: Option<&str>| {
        let mut r = client().put(server.url(&format!("/api/videos/{video}/rating"))).json(&json!({"rating": rating}));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap_or(Value::Null))
    };
    assert_eq!(rate(json!("like"), None).0, 401);
    let (status, counts) = rate(json!("like"), Some(ADMIN_TOKEN));
    assert_eq!((status, counts["likes"].clone(), counts["mine"].clone()), (200, json!(1), json!("like")));
    assert_eq!(rate(json!("like"), Some(ADMIN_TOKEN)).1["likes"], 1, "idempotent");
    let (_, counts) = rate(json!("dislike"), Some(ADMIN_TOKEN));
    assert_eq!((counts["likes"].clone(), counts["dislikes"].clone()), (json!(0), json!(1)));
    assert_eq!(rate(json!("meh"), Some(ADMIN_TOKEN)).0, 400);
    let public: Value =
        client().get(server.url(&format!("/api/videos/{video}/rating"))).send().unwrap().json().unwrap();
    assert_eq!(public, json!({"likes": 0, "dislikes": 1, "mine": null}));
    assert_eq!(stats(&server, &video)["dislikes"], 1);
    // The stats are the owner's: nobody else sees them.
    let anonymous = client().get(server.url(&format!("/api/videos/{video}/stats"))).send().unwrap();
    assert_eq!(anonymous.status(), 401);
}
