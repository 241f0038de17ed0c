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
