//! The creator studio in headless Chromium: a user made with the CLI logs in (a wrong password
//! is told on the page), creates a stream and sees its key and row, all without a page load; the
//! key the page showed really publishes.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_creator_logs_in_and_creates_a_stream_in_the_studio() {
    let server = Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough")]);
    let mut cli = Command::new(env!("CARGO_BIN_EXE_oxcast"))
        .args(["user", "create", "ann", "--display-name", "Ann B.", "--password-stdin", "--data-dir"])
        .arg(server.data_dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cli.stdin.take().unwrap().write_all(b"correct horse battery\n").unwrap();
    let made = cli.wait_with_output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stdout));

    let screenshot = std::env::temp_dir().join(format!("oxcast-studio-{}.png", std::process::id()));
    let out = Command::new("node")
        .args([
            "tests/browser/studio.mjs",
            "--url",
            &server.http,
            "--name",
            "ann",
            "--password",
            "correct horse battery",
        ])
        .args(["--stream", "anns-show", "--title", "Ann's first show", "--screenshot", screenshot.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("node tests/browser/studio.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["error"], serde_json::Value::Null, "{report}");
    assert_eq!(report["wrongPasswordMessage"], "wrong name or password", "{report}");
    assert_eq!(report["navigations"], 0, "creating a stream must not reload the page: {report}");
    assert_eq!(report["unlabelled"], serde_json::json!([]), "{report}");
    let row = &report["rows"][0];
    assert_eq!(
        (row[0].as_str(), row[1].as_str(), row[2].as_str()),
        (Some("anns-show"), Some("Ann's first show"), Some("offline"))
    );
    eprintln!("studio screenshot: {}", screenshot.display());

    // The stream belongs to Ann, and the key the page showed publishes to it.
    let key = report["key"].as_str().unwrap();
    let _publisher = ffmpeg_push(&format!("{}/{key}", server.rtmp), 15, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while stream_status(&server, "anns-show")["state"] != "live" {
        assert!(Instant::now() < deadline, "the key from the studio did not publish");
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = stream_status(&server, "anns-show");
    assert_eq!(status["title"], "Ann's first show");
}

/// Sets `user`'s password with the CLI, on the server's database.
fn set_password(server: &Server, user: &str, password: &str) {
    let mut cli = Command::new(env!("CARGO_BIN_EXE_oxcast"))
        .args(["user", "set-password", user, "--data-dir"])
        .arg(server.data_dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cli.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    assert!(cli.wait_with_output().unwrap().status.success());
}

fn admin_get(server: &Server, path: &str) -> (u16, serde_json::Value) {
    let r = client().get(server.url(path)).bearer_auth(ADMIN_TOKEN).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or_default())
}

#[test]
fn the_studio_runs_streams_videos_tokens_keys_and_webhooks_without_reloads() {
    let server =
        Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough"), ("OXCAST_WEBHOOKS_ALLOW_PRIVATE", "true")]);
    set_password(&server, "admin", "studio walk password");
    let dir = tempfile::tempdir().unwrap();
    let video = common::uploads::upload_once(&server, &test_clip(4, "320x240", false), &[("title", "Studio clip")]);
    let captions = dir.path().join("clip.en.srt");
    std::fs::write(&captions, "1\n00:00:00,500 --> 00:00:02,000\nHello from the studio\n").unwrap();
    let mut receiver = common::webhooks::Receiver::start(&[]);
    let hook = receiver.url("/studio-hook");
    let shots = std::env::temp_dir().join(format!("oxcast-studio-shots-{}", std::process::id()));
    std::fs::create_dir_all(&shots).unwrap();

    let out = Command::new("node")
        .args(["tests/browser/studio_flows.mjs", "--url", &server.http, "--name", "admin"])
        .args(["--password", "studio walk password", "--stream", "friday", "--video", &video])
        .args(["--captions", captions.to_str().unwrap(), "--hook", &hook, "--shots", shots.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("node tests/browser/studio_flows.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["error"], serde_json::Value::Null, "{report}");
    assert_eq!(report["done"], true, "{report}");
    for (page, count) in report["navigations"].as_object().unwrap() {
        assert_eq!(count, 0, "{page} reloaded after an action: {report}");
    }
    for (page, missing) in report["unlabelled"].as_object().unwrap() {
        assert_eq!(missing, &serde_json::json!([]), "{page} has controls without an accessible name");
    }
    eprintln!("studio screenshots: {}", shots.display());

    // Streams: the settings saved from the page are the stream's.
    let (_, stream) = admin_get(&server, "/api/streams/friday");
    assert_eq!(
        (
            stream["title"].as_str(),
            stream["privacy"].as_str(),
            stream["playback_policy"].as_str(),
            stream["record"].as_bool()
        ),
        (Some("Friday show"), Some("unlisted"), Some("signed"), Some(true)),
        "{stream}"
    );
    assert!(report["streams"]["row"][2].as_str().unwrap().contains("signed"), "{report}");
    assert_eq!(report["streams"]["broadcasts"], "No broadcasts yet.");
    assert!(report["streams"]["obs"].as_str().unwrap().starts_with("rtmp://"), "{report}");
    // Videos: edited, captioned, then deleted from the page.
    assert_eq!(report["videos"]["row"][0], "Edited in the studio", "{report}");
    assert!(report["videos"]["captions"].as_str().unwrap().contains("en (English)"), "{report}");
    assert_eq!(admin_get(&server, &format!("/api/videos/{video}")).0, 404, "deleted from the page");
    // Tokens, made with the keyboard only.
    assert!(report["tokens"]["secret"].as_str().unwrap().starts_with("oxt_"), "{report}");
    assert_eq!(report["tokens"]["rows"][0], "ci uploads streams:read", "{report}");
    // Keys: made, rotated (the old one expiring), the new one revoked.
    assert_eq!(report["keys"]["privateKey"], "-----BEGIN PRIVATE KEY-----");
    let mut states: Vec<&str> =
        report["keys"]["states"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    states.sort_unstable();
    assert_eq!(states, ["expiring", "revoked"], "{report}");
    // Webhooks: the test event reached the receiver, verified, and the log shows it.
    let log = report["webhooks"]["log"].to_string();
    assert!(log.contains("webhook.test") && log.contains("delivered (200)"), "{report}");
    let seen =
        receiver.collect_until(Duration::from_secs(10), |s| common::webhooks::Receiver::delivered(s, "webhook.test"));
    assert!(seen.iter().all(|l| l["ok"] == true), "{seen:?}");
}
