//! Headless Chromium plays the player page with hls.js and its clock advances.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::*;

#[test]
fn chromium_plays_the_watch_page() {
    let (server, _pusher) = live_server(40, &["-tune", "zerolatency"]);
    let out = Command::new("node")
        .args(["tests/browser/play.mjs", "--url", &server.url("/watch/main"), "--seconds", "12"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run node tests/browser/play.mjs (npm ci --prefix api/web installs playwright-core)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let report: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["ok"], true, "{report}");
    let advanced = report["advanced"].as_f64().unwrap_or_default();
    assert!(advanced >= 8.0, "currentTime advanced only {advanced} s: {report}");
    let p50 = report["latencyMs"]["p50"].as_f64().unwrap_or(f64::MAX);
    assert!(p50 < 5000.0, "live latency p50 {p50} ms: {report}");
    eprintln!("browser playback: {report}");
}
