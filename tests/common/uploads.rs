//! Helpers of the upload tests: the Python tus client (tuspy) in its own process, and the bytes
//! a server stored for an upload.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::Server;

fn python() -> String {
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
