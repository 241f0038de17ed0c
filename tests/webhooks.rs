//! Webhooks end to end, on the real server, to real receivers (`tests/clients/
//! webhook_receiver.py`, which verifies every request with the Standard Webhooks reference
//! library): the events of an upload and of a recorded broadcast arrive signed; a receiver that
//! fails gets the same event again (same `webhook-id`) after a backoff, also across a server
//! killed in the middle of the retries; a receiver that hangs never delays another one; every
//! attempt is in the delivery log with its status code and duration; the address rule refuses
//! loopback destinations, by literal address and by a name that resolves there.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::time::Duration;

use common::webhooks::Receiver;
use common::*;
use serde_json::{Value, json};

fn api(server: &Server, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = client().request(method, server.url(path)).bearer_auth(ADMIN_TOKEN).json(&body).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn register(server: &Server, url: &str, events: Option<&[&str]>) -> (String, String) {
    let mut body = json!({"url": url, "description": "test receiver"});
    if let Some(list) = events {
        body["events"] = json!(list);
    }
    let (status, endpoint) = api(server, reqwest::Method::POST, "/api/webhooks", body);
    assert_eq!(status, 201, "{endpoint}");
    assert!(endpoint["secret"].as_str().unwrap().starts_with("whsec_"), "{endpoint}");
    (endpoint["id"].as_str().unwrap().to_owned(), endpoint["secret"].as_str().unwrap().to_owned())
}

fn upload(server: &Server, seconds: u32) -> String {
    let bytes = test_clip(seconds, "320x240", false);
    common::uploads::upload_once(server, &bytes, &[("filename", "clip.mp4"), ("title", "Webhook clip")])
}

fn deliveries(server: &Server, endpoint: &str) -> Vec<Value> {
    let (status, page) =
        api(server, reqwest::Method::GET, &format!("/api/webhooks/{endpoint}/deliveries?limit=100"), Value::Null);
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

const ENV: [(&str, &str); 4] = [
    ("OXCAST_WEBHOOKS_ALLOW_PRIVATE", "true"),
    ("OXCAST_WEBHOOKS_FIRST_RETRY_SECONDS", "1"),
    ("OXCAST_WEBHOOKS_TIMEOUT_SECONDS", "3"),
    ("OXCAST_DEFAULT_PROFILE", "passthrough"),
];

#[test]
fn events_reach_real_receivers_signed_retried_across_a_restart_and_isolated_from_a_dead_one() {
    let server = Server::start_with(&ENV);
    // A: everything, fails its first three requests. B: videos only, healthy. C: hangs.
    let mut a = Receiver::start(&["--fail-first", "3"]);
    let mut b = Receiver::start(&[]);
    let c = Receiver::start(&["--hang"]);
    let (a_id, a_secret) = register(&server, &a.url("/a"), None);
    a.set_secret(&a_secret);
    let (b_id, b_secret) = register(&server, &b.url("/b"), Some(&["video.created", "video.ready"]));
    b.set_secret(&b_secret);
    let (c_id, _) = register(&server, &c.url("/c"), Some(&["video.created"]));

    let video = upload(&server, 3);
    // B gets both video events, verified, once each (by webhook-id).
    let seen = b.collect_until(Duration::from_secs(90), |s| {
        Receiver::delivered(s, "video.created") && Receiver::delivered(s, "video.ready")
    });
    assert!(seen.iter().all(|l| l["ok"] == true), "every request verifies: {seen:#?}");
    let ready = seen.iter().find(|l| l["type"] == "video.ready").unwrap();
    assert_eq!(ready["body"]["data"]["id"], video.as_str(), "{ready}");
    assert_eq!(ready["path"], "/b");

    // A's first request failed (503): kill the server at once, in the middle of A's retries (A
    // fails its first three requests, so nothing reached it yet), and start it again.
    let seen = a.collect_until(Duration::from_secs(30), |s| s.iter().any(|l| l["status"] == 503));
    assert!(!seen.iter().any(|l| l["status"] == 200), "A must still be failing: {seen:#?}");
    let key = server.default_key.clone(); // printed only at the first start
    let server = server.kill_and_restart(&ENV);
    let seen = a.collect_until(Duration::from_secs(90), |s| {
        Receiver::delivered(s, "video.created") && Receiver::delivered(s, "video.ready")
    });
    assert!(seen.iter().all(|l| l["ok"] == true), "{seen:#?}");
    let failed_ids: Vec<&Value> = seen.iter().filter(|l| l["status"] == 503).map(|l| &l["id"]).collect();
    for id in &failed_ids {
        assert!(
            seen.iter().any(|l| &&l["id"] == id && l["status"] == 200),
            "a failed event comes again with the same webhook-id: {seen:#?}"
        );
    }
    // The log has every attempt of A, with status codes and durations.
    let log = deliveries(&server, &a_id);
    let codes: Vec<i64> = log.iter().filter_map(|d| d["status_code"].as_i64()).collect();
    // (Attempts the kill interrupted may be missing from the log: one is logged after its answer.)
    assert!(codes.contains(&503) && codes.contains(&200), "{log:#?}");
    assert!(log.iter().all(|d| d["duration_ms"].as_i64().is_some()), "{log:#?}");
    let retried = log.iter().find(|d| d["attempt"].as_i64() >= Some(2) && d["delivered"] == true);
    assert!(retried.is_some(), "a later attempt delivered: {log:#?}");

    // A recorded broadcast: stream.started, then after the grace stream.ended, broadcast.ended,
    // and its recording's video.created, video.ready and recording.ready.
    let (status, _) = api(&server, reqwest::Method::PUT, "/api/streams/main/recording", json!({"record": true}));
    assert_eq!(status, 200);
    let mut publisher = ffmpeg_push(&format!("{}/{key}", server.rtmp), 4, &[]);
    publisher.wait_exit(Duration::from_secs(30));
    let seen = a.collect_until(Duration::from_secs(60), |s| {
        ["stream.started", "stream.ended", "broadcast.ended", "recording.ready"]
            .iter()
            .all(|k| Receiver::delivered(s, k))
    });
    let ended = seen.iter().find(|l| l["type"] == "broadcast.ended" && l["status"] == 200).unwrap();
    let recording = ended["body"]["data"]["recording_video_id"].as_str().unwrap().to_owned();
    let ready = seen.iter().find(|l| l["type"] == "recording.ready" && l["status"] == 200).unwrap();
    assert_eq!(ready["body"]["data"]["id"], recording.as_str(), "{ready}");
    assert_eq!(ready["body"]["data"]["stream"], "main");
    assert!(b.seen.iter().all(|l| l["type"].as_str().is_some_and(|t| t.starts_with("video."))), "B only gets videos");

    // C hangs: its attempt at the recording's video.created ran into the timeout, and B's
    // delivery of the same event did not wait for it.
    let seen = b.collect_until(Duration::from_secs(30), |s| {
        s.iter().any(|l| l["type"] == "video.created" && l["body"]["data"]["id"] == recording.as_str())
    });
    let event = seen.iter().find(|l| l["body"]["data"]["id"] == recording.as_str()).unwrap()["id"].clone();
    let mut c_first = Value::Null;
    wait_for("C's attempt to time out", Duration::from_secs(30), || {
        let log = deliveries(&server, &c_id);
        c_first = log.into_iter().find(|d| d["event_id"] == event && d["attempt"] == 1).unwrap_or(Value::Null);
        !c_first.is_null()
    });
    assert!(c_first["status_code"].is_null() && c_first["duration_ms"].as_i64().unwrap() >= 2900, "{c_first}");
    assert!(c_first["error"].as_str().unwrap().contains("in time"), "{c_first}");
    let b_log = deliveries(&server, &b_id);
    let b_first = b_log.iter().find(|d| d["event_id"] == event && d["delivered"] == true).unwrap();
    let end = |d: &Value| d["started_at"].as_i64().unwrap() + d["duration_ms"].as_i64().unwrap();
    assert!(end(b_first) < end(&c_first), "B was delivered while C still hung: B {b_first}, C {c_first}");

    // "Send test event" reaches that endpoint only.
    let (status, sent) = api(&server, reqwest::Method::POST, &format!("/api/webhooks/{a_id}/test"), Value::Null);
    assert_eq!(status, 202, "{sent}");
    let seen = a.collect_until(Duration::from_secs(20), |s| Receiver::delivered(s, "webhook.test"));
    let test = seen.iter().find(|l| l["type"] == "webhook.test").unwrap();
    assert_eq!(test["id"], sent["event_id"]);
    std::thread::sleep(Duration::from_secs(1));
    while let Ok(v) = b.lines.try_recv() {
        b.seen.push(v);
    }
    assert!(!b.seen.iter().any(|l| l["type"] == "webhook.test"), "the test went to A only");

    // Each change was recorded as one event: whatever was delivered twice (at least once: the
    // kill can cut a delivery between the receiver's answer and its bookkeeping) came with the
    // same webhook-id, one id per event type and subject.
    let mut ids = std::collections::HashMap::new();
    for l in b.seen.iter().filter(|l| l["status"] == 200) {
        let key = (l["type"].as_str().unwrap().to_owned(), l["body"]["data"]["id"].as_str().unwrap().to_owned());
        let id = l["id"].as_str().unwrap().to_owned();
        assert_eq!(ids.entry(key).or_insert_with(|| id.clone()), &id, "one webhook-id per event: {:#?}", b.seen);
    }
    assert_eq!(ids.len(), 4, "B: two videos, created and ready: {ids:?}");
    let _ = std::io::stdout().flush();
}

#[test]
fn the_address_rule_refuses_loopback_by_address_and_by_name() {
    let server = Server::start();
    let mut receiver = Receiver::start(&[]);
    for url in ["http://127.0.0.1:9/x", "http://[::1]:9/", "http://[::ffff:127.0.0.1]:9/", "http://10.0.0.1/"] {
        let (status, problem) = api(&server, reqwest::Method::POST, "/api/webhooks", json!({"url": url}));
        assert_eq!(status, 400, "{url}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("not a public address"), "{problem}");
    }
    let (status, problem) = api(&server, reqwest::Method::POST, "/api/webhooks", json!({"url": "ftp://example.com/"}));
    assert_eq!(status, 400, "{problem}");
    // A name that resolves to loopback passes registration, but no delivery connects there.
    let (id, secret) = register(&server, &format!("http://localhost:{}/sneaky", receiver.port), None);
    receiver.set_secret(&secret);
    let (status, _) = api(&server, reqwest::Method::POST, &format!("/api/webhooks/{id}/test"), Value::Null);
    assert_eq!(status, 202);
    wait_for("a refused attempt in the log", Duration::from_secs(20), || !deliveries(&server, &id).is_empty());
    let attempt = &deliveries(&server, &id)[0];
    assert_eq!(attempt["delivered"], false, "{attempt}");
    assert!(attempt["error"].as_str().unwrap().contains("not a public address"), "{attempt}");
    assert!(attempt["status_code"].is_null(), "{attempt}");
    std::thread::sleep(Duration::from_millis(500));
    while let Ok(v) = receiver.lines.try_recv() {
        receiver.seen.push(v);
    }
    assert!(receiver.seen.is_empty(), "nothing reached the loopback receiver: {:?}", receiver.seen);
}
