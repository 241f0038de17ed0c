//! Helpers of the upload tests: the Python tus client (tuspy) in its own process, and the bytes
//! a server stored for an upload.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::Server;

/// The Python of the test venv (`scripts/setup.sh --test`).
pub fn python() -> String {
    let venv = std::env::var("OXCAST_PY_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/oxcast-py", std::env::var("HOME").unwrap_or_default()));
    format!("{venv}/bin/python")
}

/// Runs `tests/clients/tus_upload.py` with `args`; returns its exit code (3: stopped on purpose
/// by `--stop-after-chunks`) and the JSON lines it printed.
pub fn tuspy(args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let out = Command::new(python())
        .arg("tests/clients/tus_upload.py")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("tuspy (scripts/setup.sh --test installs it)");
    let lines = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    if out.status.code() != Some(0) && out.status.code() != Some(3) {
        eprintln!("tuspy failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    (out.status.code(), lines)
}

/// The upload's bytes as the server stored them (its part objects, in order).
pub fn stored_upload(server: &Server, video: &str) -> Vec<u8> {
    let dir = server.data_dir.path().join("media/uploads").join(video);
    let mut parts: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("upload parts").map(|e| e.expect("entry").path()).collect();
    parts.sort();
    parts.iter().flat_map(|p| std::fs::read(p).expect("part")).collect()
}

/// Uploads `bytes` as the admin in one tus creation-with-upload request, with `metadata`
/// (key, value) pairs; returns the video id.
pub fn upload_once(server: &Server, bytes: &[u8], metadata: &[(&str, &str)]) -> String {
    use base64::Engine;
    let meta: Vec<String> =
        metadata.iter().map(|(k, v)| format!("{k} {}", base64::engine::general_purpose::STANDARD.encode(v))).collect();
    let r = super::client()
        .post(server.url("/api/uploads"))
        .bearer_auth(super::ADMIN_TOKEN)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", bytes.len().to_string())
        .header("upload-metadata", meta.join(","))
        .header("content-type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .expect("upload");
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text());
    r.headers()["oxcast-video-id"].to_str().expect("video id").to_owned()
}

/// The video as its owner (the admin) sees it in the API.
pub fn video(server: &Server, id: &str) -> Value {
    super::client()
        .get(server.url(&format!("/api/videos/{id}")))
        .bearer_auth(super::ADMIN_TOKEN)
        .send()
        .expect("get video")
        .json()
        .expect("video json")
}

/// Polls the video until it is `ready` and returns it (panics if it fails or takes longer than
/// 240 s: processing shares two cores with the other tests).
pub fn wait_ready(server: &Server, id: &str) -> Value {
    let mut last = Value::Null;
    super::wait_for(&format!("video {id} ready"), std::time::Duration::from_secs(240), || {
        last = video(server, id);
        assert_ne!(last["status"], "failed", "{last}\n{}", server.log());
        last["status"] == "ready"
    });
    last
}
