//! `oxcast migrate`, end to end: an embedded install (SQLite and local media) with a processed
//! public video, an upload stopped halfway, a stream and an API token is copied into PostgreSQL
//! and the test S3 server; the copy is cut off by SIGKILL and run again (it goes on and then
//! verifies), a third run copies nothing; a node started on the new database and bucket plays
//! the video byte for byte as the old install stored it, finds it through search, takes the old
//! token and stream, and finishes the upload where it stopped. Refusals are clear: no old
//! database, a target that is not PostgreSQL.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::s3::*;
use common::uploads::{tuspy, upload_once, video, wait_ready};
use common::*;
use serde_json::{Value, json};

/// `oxcast migrate` with `args` and `env` (and nothing of the test servers' own environment).
fn migrate(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxcast"));
    cmd.arg("migrate").args(args).env_remove("OXCAST_DATABASE_URL").env_remove("OXCAST_ADMIN_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn an_embedded_install_moves_to_postgresql_and_s3_and_keeps_everything() {
    // The old install: SQLite and local files.
    let old = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let bytes = test_clip(4, "640x360", true);
    let id =
        upload_once(&old, &bytes, &[("filename", "a.mp4"), ("title", "Migrated marmalade"), ("privacy", "public")]);
    wait_ready(&old, &id);
    let key = old.cli_create_stream("moved");
    let token: Value = client()
        .post(old.url("/api/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "ci", "scopes": ["videos:read"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let half = test_clip(3, "320x240", false);
    let file = write_file(dir.path(), "half.mp4", std::slice::from_ref(&half));
    let chunk = (half.len() / 2).to_string();
    let tus_args = ["--token", ADMIN_TOKEN, "--file", file.to_str().unwrap(), "--chunk-size", &chunk];
    let (code, lines) =
        tuspy(&[&["--endpoint", &old.url("/api/uploads")][..], &tus_args, &["--stop-after-chunks", "1"]].concat());
    assert_eq!(code, Some(3), "{lines:?}");
    let pending = lines.last().unwrap()["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let (status, old_dir) = old.stop_keeping_data();
    assert!(status.success());
    let old_arg = old_dir.path().to_str().unwrap().to_owned();

    // Refusals first: no database there, or a target that is not PostgreSQL.
    let empty = tempfile::tempdir().unwrap();
    let (ok, text) = output(&mut migrate(&["--from-data-dir", empty.path().to_str().unwrap()], &[]));
    assert!(!ok && text.contains("PostgreSQL"), "{text}");
    let database = postgres_test_database();
    let s3 = settings(&fresh_prefix("migrate"));
    let bucket = Bucket::new(&s3);
    let mut env = s3_env(&s3, &[]);
    env.push(("OXCAST_DATABASE_URL".into(), database.url().to_owned()));
    let new_dir = tempfile::tempdir().unwrap();
    let new_arg = new_dir.path().to_str().unwrap().to_owned();
    let (ok, text) = output(&mut migrate(
        &["--from-data-dir", empty.path().to_str().unwrap(), "--data-dir", &new_arg],
        &pairs(&env),
    ));
    assert!(!ok && text.contains("no database at"), "{text}");

    // Cut off by SIGKILL after its first table, then run again: it goes on and checks out.
    let args = ["--from-data-dir", &old_arg, "--data-dir", &new_arg];
    let mut first = migrate(&args, &pairs(&env)).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut out = BufReader::new(first.stdout.take().unwrap()).lines();
    let line = out.find(|l| l.as_ref().is_ok_and(|l| l.starts_with("database: "))).unwrap().unwrap();
    first.kill().unwrap();
    let _ = first.wait();
    eprintln!("killed after: {line}");
    let (ok, text) = output(&mut migrate(&args, &pairs(&env)));
    assert!(ok, "{text}");
    assert!(text.contains("checked: every table's row count and SHA-256 match"), "{text}");
    assert!(text.contains("checked: every object's SHA-256 matches"), "{text}");
    let (ok, again) = output(&mut migrate(&args, &pairs(&env)));
    assert!(ok && again.contains("media: 0 objects copied"), "a third run has nothing left to copy:\n{again}");

    // Every object of the old media directory is in the bucket, byte for byte.
    let old_media = old_dir.path().join("media");
    let mut files = Vec::new();
    walk(&old_media, &mut files);
    assert!(files.len() > 10, "{files:?}");
    for path in &files {
        let key = path.strip_prefix(&old_media).unwrap().to_str().unwrap();
        assert!(bucket.read(key) == std::fs::read(path).unwrap(), "{key} differs in the bucket");
    }

    // A node on the new database and bucket has it all.
    let node = Server::start_node_in(new_dir, database.url(), &pairs(&s3_env(&s3, &[])));
    let v = video(&node, &id);
    assert_eq!((v["status"].as_str(), v["title"].as_str()), (Some("ready"), Some("Migrated marmalade")), "{v}");
    let (status, master) = get_text(&node.url(&format!("/vod/{id}/index.m3u8")));
    assert_eq!(status, 200, "{master}");
    let master = parse_master(&master);
    let uri = &master.variants[0].uri;
    let playlist = node.url(&format!("/vod/{id}/{uri}"));
    let media = parse_media(&get_text(&playlist).1);
    let base = &uri[..uri.rfind('/').map_or(0, |i| i + 1)];
    for segment in &media.segments {
        let served = get_bytes(&node.url(&format!("/vod/{id}/{base}{}", segment.uri)));
        let kept = std::fs::read(old_media.join(format!("videos/{id}/{base}{}", segment.uri))).unwrap();
        assert!(served == kept, "{}: served bytes differ from the old install's", segment.uri);
    }
    wait_for("the new node's index to find the video", Duration::from_secs(30), || {
        let found: Value = client().get(node.url("/api/search?q=marmalade")).send().unwrap().json().unwrap();
        found["videos"]["items"].as_array().is_some_and(|items| items.iter().any(|v| v["id"] == id.as_str()))
    });
    let me = client().get(node.url("/api/me")).bearer_auth(&token).send().unwrap();
    assert_eq!(me.status(), 200, "the old API token works on the new install");
    let stream = client().get(node.url("/api/streams/moved")).bearer_auth(ADMIN_TOKEN).send().unwrap();
    assert_eq!(stream.status(), 200);
    let mut publisher = ffmpeg_push(&format!("{}/{key}", node.rtmp), 4, &[]);
    wait_for("the old stream key to publish on the new install", Duration::from_secs(30), || {
        stream_status(&node, "moved")["state"] == "live"
    });
    let _ = publisher.wait_exit(Duration::from_secs(30));

    // The upload stopped halfway resumes on the new install from where it stopped.
    let r = client()
        .head(node.url(&format!("/api/uploads/{pending}")))
        .bearer_auth(ADMIN_TOKEN)
        .header("tus-resumable", "1.0.0")
        .send()
        .unwrap();
    assert_eq!(r.headers()["upload-offset"].to_str().unwrap(), chunk);
    let resume = node.url(&format!("/api/uploads/{pending}"));
    let (code, lines) =
        tuspy(&[&["--endpoint", &node.url("/api/uploads")][..], &tus_args, &["--resume-url", &resume]].concat());
    assert_eq!(code, Some(0), "{lines:?}");
    let parts = bucket.keys(&format!("uploads/{pending}/"));
    let stored: Vec<u8> = parts.iter().flat_map(|k| bucket.read(k)).collect();
    assert!(stored == half, "the finished upload is the file, byte for byte");
    wait_ready(&node, &pending);
}

fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != ".incoming") {
                walk(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}
