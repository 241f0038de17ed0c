//! The studio's upload page in headless Chromium: a creator uploads a file with the page's tus
//! client (through a one-time direct-upload URL the page mints with its session), the page is
//! reloaded halfway and the upload resumes when the same file is chosen again; the list shows
//! the video ready without a reload; its page plays it, seeks, and previews the storyboard.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::uploads::stored_upload;
use common::*;

#[test]
fn a_creator_uploads_through_the_page_resumes_after_a_reload_and_plays_the_video() {
    let server = Server::start();
    let mut cli = Command::new(env!("CARGO_BIN_EXE_oxcast"))
        .args(["user", "create", "cam", "--password-stdin", "--data-dir"])
        .arg(server.data_dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cli.stdin.take().unwrap().write_all(b"correct horse battery\n").unwrap();
    assert!(cli.wait_with_output().unwrap().status.success());

    // About 18 MB: three 8 MiB PATCHes, so the reload falls between two of them.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("holiday.mp4");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=duration=12:size=1280x720:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=500:duration=12", "-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-b:v", "12M", "-g", "60", "-c:a", "aac", "-shortest", "-y"])
        .arg(&file)
        .status()
        .unwrap();
    assert!(made.success());
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size > 16 * 1024 * 1024 + 1, "{size}");

    let shots = std::env::temp_dir().join(format!("oxcast-upload-{}", std::process::id()));
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .args([
            "tests/browser/upload.mjs",
            "--url",
            &server.http,
            "--name",
            "cam",
            "--password",
            "correct horse battery",
        ])
        .args(["--file", file.to_str().unwrap(), "--title", "Holiday", "--screenshots", shots.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("node tests/browser/upload.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["error"], serde_json::Value::Null, "{report}\n{}", server.log());
    assert_eq!((report["interrupted"].as_bool(), report["resumed"].as_bool()), (Some(true), Some(true)), "{report}");
    assert_eq!(report["navigationsAfterReload"], 0, "uploading must not load a page: {report}");
    assert!(report["progressSeen"].as_array().unwrap().len() >= 2, "the bar moved: {report}");
    assert_eq!(report["status"], "ready", "{report}");
    assert!(report["played"].as_bool().unwrap() && report["afterSeek"].as_f64().unwrap() >= 7.2, "{report}");
    assert_eq!(report["preview"]["hidden"], false, "{report}");
    assert!(report["preview"]["image"].as_str().unwrap().contains("storyboard.jpg"), "{report}");
    assert_eq!(report["unlabelled"], serde_json::json!([]), "{report}");
    eprintln!("screenshots: {}", shots.display());

    // The server has the whole file once (the resume did not resend or lose a byte), as the
    // video the page named, with the page's details.
    let id = report["videoId"].as_str().unwrap();
    let v: serde_json::Value =
        client().get(server.url(&format!("/api/videos/{id}"))).bearer_auth(ADMIN_TOKEN).send().unwrap().json().unwrap();
    assert_eq!((v["title"].as_str(), v["privacy"].as_str()), (Some("Holiday"), Some("unlisted")), "{v}");
    assert_eq!(v["bytes_received"].as_u64(), Some(size));
    assert!(stored_upload(&server, id) == std::fs::read(&file).unwrap(), "stored bytes differ from the file");
}
