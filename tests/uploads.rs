//! Resumable uploads with the real tus clients against the real server: tus-js-client (Node)
//! and tuspy upload an ffmpeg-made file as a creator; a tuspy process that stops halfway is
//! resumed by a new process from the server's offset. The bytes in storage are the file's.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::uploads::{stored_upload, tuspy};
use common::*;
use serde_json::{Value, json};

/// A creator's `videos:write` token, made the way a person makes one: log in, then ask.
fn creator_token(server: &Server) -> String {
    let c = reqwest::blocking::Client::builder().cookie_store(true).build().unwrap();
    let r = c
        .post(server.url("/api/users"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "maker", "password": "correct horse battery"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = c
        .post(server.url("/login"))
        .header("accept", "application/json")
        .form(&[("name", "maker"), ("password", "correct horse battery")])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let me: Value = c.get(server.url("/api/me")).send().unwrap().json().unwrap();
    let made: Value = c
        .post(server.url("/api/tokens"))
        .header("x-csrf-token", me["csrf_token"].as_str().unwrap())
        .json(&json!({"name": "uploads", "scopes": ["videos:write", "videos:read"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    made["token"].as_str().unwrap().to_owned()
}

/// A few seconds of H.264/AAC in MP4, made with ffmpeg.
fn media_file(dir: &Path) -> PathBuf {
    let path = dir.join("clip.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=duration=4:size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=4", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-b:v", "1500k", "-c:a", "aac", "-shortest", "-y"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

fn video(server: &Server, token: &str, id: &str) -> Value {
    client().get(server.url(&format!("/api/videos/{id}"))).bearer_auth(token).send().unwrap().json().unwrap()
}

/// A complete upload is processing, or (the worker is quick with a short clip) already ready.
fn done_uploading(v: &Value) -> bool {
    v["status"] == "processing" || v["status"] == "ready"
}

fn id_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

#[test]
fn tus_js_client_and_tuspy_upload_a_file_that_arrives_whole() {
    let server = Server::start();
    let token = creator_token(&server);
    let dir = tempfile::tempdir().unwrap();
    let file = media_file(dir.path());
    let bytes = std::fs::read(&file).unwrap();
    let endpoint = server.url("/api/uploads");

    let out = Command::new("node")
        .args(["tests/clients/tus_upload.mjs", "--endpoint", &endpoint, "--token", &token])
        .args(["--file", file.to_str().unwrap(), "--chunk-size", "65536"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let report: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("{}")).unwrap();
    assert_eq!(report["ok"], true, "{report} {}", String::from_utf8_lossy(&out.stderr));
    let js_id = report["videoId"].as_str().unwrap().to_owned();
    assert_eq!(id_of(report["url"].as_str().unwrap()), js_id, "Location names the video");
    assert!(report["progressEvents"].as_u64().unwrap() > 1);
    assert_eq!(stored_upload(&server, &js_id), bytes);
    let v = video(&server, &token, &js_id);
    assert!(done_uploading(&v), "{v}");
    assert_eq!(v["title"], "from tus-js-client");
    assert_eq!(v["bytes_received"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(v["tags"], json!(["test", "js"]));

    let (status, lines) = tuspy(&[
        "--endpoint",
        &endpoint,
        "--token",
        &token,
        "--file",
        file.to_str().unwrap(),
        "--chunk-size",
        "100000",
    ]);
    assert_eq!(status, Some(0), "{lines:?}");
    let py_id = id_of(lines.last().unwrap()["url"].as_str().unwrap());
    assert_eq!(stored_upload(&server, &py_id), bytes);
    let v = video(&server, &token, &py_id);
    assert!(done_uploading(&v), "{v}");
    assert_eq!(v["privacy"], "unlisted");

    // Deleting a video removes its bytes from storage.
    let r = client().delete(server.url(&format!("/api/videos/{js_id}"))).bearer_auth(&token).send().unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(!server.data_dir.path().join("media/uploads").join(&js_id).exists());
    assert_eq!(video(&server, &token, &js_id)["status"], 404);
}

#[test]
fn a_client_that_stopped_halfway_is_resumed_by_a_new_process() {
    let server = Server::start();
    let token = creator_token(&server);
    let dir = tempfile::tempdir().unwrap();
    let file = media_file(dir.path());
    let bytes = std::fs::read(&file).unwrap();
    let endpoint = server.url("/api/uploads");
    let chunk = (bytes.len() / 5).max(1).to_string();

    let (status, lines) = tuspy(&[
        "--endpoint",
        &endpoint,
        "--token",
        &token,
        "--file",
        file.to_str().unwrap(),
        "--chunk-size",
        &chunk,
        "--stop-after-chunks",
        "2",
    ]);
    assert_eq!(status, Some(3), "{lines:?}");
    let url = lines.last().unwrap()["url"].as_str().unwrap().to_owned();
    let id = id_of(&url);
    let half = video(&server, &token, &id);
    assert_eq!(half["status"], "uploading");
    let received = half["bytes_received"].as_u64().unwrap();
    assert_eq!(received, 2 * chunk.parse::<u64>().unwrap());
    let head = client().head(&url).bearer_auth(&token).header("tus-resumable", "1.0.0").send().unwrap();
    assert_eq!(head.headers()["upload-offset"].to_str().unwrap(), received.to_string());

    let (status, lines) = tuspy(&[
        "--endpoint",
        &endpoint,
        "--token",
        &token,
        "--file",
        file.to_str().unwrap(),
        "--chunk-size",
        &chunk,
        "--resume-url",
        &url,
    ]);
    assert_eq!(status, Some(0), "{lines:?}");
    assert_eq!(id_of(lines.last().unwrap()["url"].as_str().unwrap()), id, "the same upload, resumed");
    assert_eq!(stored_upload(&server, &id), bytes);
    assert!(done_uploading(&video(&server, &token, &id)));
}

/// The example in `examples/upload_video.rs` (the protocol spoken by hand) uploads a file whole.
#[test]
fn the_upload_example_uploads_a_file() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let file = media_file(dir.path());
    let example = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("examples/upload_video");
    let out = Command::new(&example)
        .args([server.http.as_str(), ADMIN_TOKEN, file.to_str().unwrap(), "By the example"])
        .output()
        .unwrap_or_else(|e| {
            panic!("{}: {e} (cargo test builds examples; alone: cargo build --examples)", example.display())
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let id =
        stdout.lines().find_map(|l| l.split("(video ").nth(1)).and_then(|r| r.split(')').next()).unwrap().to_owned();
    assert_eq!(stored_upload(&server, &id), std::fs::read(&file).unwrap());
    assert!(stdout.contains(&format!("ready: {}/vod/{id}/index.m3u8", server.http)), "{stdout}");
}
