//! Media in S3, end to end on the real server and the real S3-compatible server the test script
//! starts (`OXCAST_TEST_S3_URL`; each test under a bucket prefix of its own): a tus upload in
//! chunks survives a SIGKILL halfway, its bytes and every rendition are objects in the bucket
//! (none on the local disk), playback through oxcast is byte for byte what the bucket holds;
//! with redirects on, media answers a presigned URL only after access was decided, and a CDN
//! base URL only for public, unsigned videos; a bucket that refuses the credentials stops the
//! start with a clear error.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::s3::*;
use common::uploads::{tuspy, upload_once, video, wait_ready};
use common::*;

fn clip(dir: &std::path::Path, seconds: u32) -> Vec<u8> {
    let path = dir.join("clip.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", &format!("testsrc2=duration={seconds}:size=640x360:rate=30")])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency=440:duration={seconds}")])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-c:a", "aac", "-shortest"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(path).unwrap()
}

#[test]
fn uploads_and_renditions_live_in_the_bucket_and_play_through_oxcast() {
    let s3 = settings(&fresh_prefix("upload"));
    let bucket = Bucket::new(&s3);
    let env = s3_env(&s3, &[]);
    let server = Server::start_with(&pairs(&env));
    let dir = tempfile::tempdir().unwrap();
    let bytes = clip(dir.path(), 6);
    let file = dir.path().join("clip.mp4");
    let chunk = (bytes.len() / 3 + 1).to_string();

    // A third of the file, then SIGKILL: the restarted server has exactly that third.
    let file = file.to_str().unwrap();
    let endpoint = server.url("/api/uploads");
    let tus_args = ["--token", ADMIN_TOKEN, "--file", file, "--chunk-size", &chunk];
    let (code, lines) = tuspy(&[&["--endpoint", &endpoint][..], &tus_args, &["--stop-after-chunks", "1"]].concat());
    assert_eq!(code, Some(3), "{lines:?}");
    let url = lines.last().unwrap()["url"].as_str().unwrap().to_owned();
    let id = url.rsplit('/').next().unwrap().to_owned();
    let server = server.kill_and_restart(&pairs(&env));
    assert_eq!(video(&server, &id)["bytes_received"].as_u64(), Some(chunk.parse().unwrap()));
    let resume = server.url(&format!("/api/uploads/{id}"));
    let endpoint = server.url("/api/uploads");
    let (code, lines) = tuspy(&[&["--endpoint", &endpoint][..], &tus_args, &["--resume-url", &resume]].concat());
    assert_eq!(code, Some(0), "{lines:?}");
    let v = wait_ready(&server, &id);

    // The upload's bytes are the file's, as objects in the bucket; nothing went to the disk.
    let parts = bucket.keys(&format!("uploads/{id}/"));
    assert!(!parts.is_empty(), "upload parts in the bucket");
    let stored: Vec<u8> = parts.iter().flat_map(|k| bucket.read(k)).collect();
    assert!(stored == bytes, "the stored upload is the file, byte for byte ({} parts)", parts.len());
    let media = server.data_dir.path().join("media");
    let on_disk = walk(&media);
    assert!(on_disk.is_empty(), "media objects on the local disk: {on_disk:?}");

    // Every rendition is in the bucket, and what oxcast serves is what the bucket holds.
    let objects = bucket.keys(&format!("videos/{id}/"));
    let renditions: Vec<String> =
        v["renditions"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert!(!renditions.is_empty(), "{v}");
    for name in &renditions {
        let prefix = format!("videos/{id}/{name}/");
        let segments: Vec<&String> = objects.iter().filter(|k| k.starts_with(&prefix) && k.ends_with(".m4s")).collect();
        assert!(!segments.is_empty(), "{name}: no segments in {objects:?}");
        let segment = segments[0];
        let path = segment.strip_prefix(&format!("videos/{id}/")).unwrap();
        let served = client().get(server.url(&format!("/vod/{id}/{path}"))).send().unwrap();
        assert_eq!(served.status(), 200);
        let served = served.bytes().unwrap();
        let held = bucket.read(segment);
        assert!(served.as_ref() == held.as_slice(), "{segment}: served bytes differ from the bucket's");
        // A byte range is cut from the object in the bucket.
        let r = client().get(server.url(&format!("/vod/{id}/{path}"))).header("range", "bytes=10-99").send().unwrap();
        assert_eq!(r.status(), 206);
        assert_eq!(r.bytes().unwrap().as_ref(), &held[10..100]);
    }
    let master = client().get(server.url(&format!("/vod/{id}/index.m3u8"))).send().unwrap();
    assert_eq!(master.status(), 200);
    assert!(master.text().unwrap().contains("#EXT-X-STREAM-INF"));

    // Deleting the video removes its objects from the bucket.
    let r = client().delete(server.url(&format!("/api/videos/{id}"))).bearer_auth(ADMIN_TOKEN).send().unwrap();
    assert_eq!(r.status(), 204);
    wait_for("the bucket to be emptied of the video", Duration::from_secs(20), || {
        bucket.keys(&format!("videos/{id}/")).is_empty() && bucket.keys(&format!("uploads/{id}/")).is_empty()
    });
}

/// Files under `dir` (none when it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() { walk(&path) } else { vec![path] }
        })
        .collect()
}

#[test]
fn media_redirects_to_presigned_urls_only_after_access_is_decided() {
    let s3 = settings(&fresh_prefix("redirect"));
    let bucket = Bucket::new(&s3);
    let env = s3_env(&s3, &[("OXCAST_S3_REDIRECT_SECONDS", "120")]);
    let server = Server::start_with(&pairs(&env));
    let dir = tempfile::tempdir().unwrap();
    let bytes = clip(dir.path(), 3);
    let public = upload_once(&server, &bytes, &[("filename", "a.mp4"), ("title", "Open"), ("privacy", "public")]);
    let private = upload_once(&server, &bytes, &[("filename", "b.mp4"), ("title", "Mine"), ("privacy", "private")]);
    wait_ready(&server, &public);
    wait_ready(&server, &private);
    let no_redirects =
        reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let segment = bucket
        .keys(&format!("videos/{public}/"))
        .into_iter()
        .find(|k| k.ends_with(".m4s"))
        .expect("a segment in the bucket");
    let path = segment.strip_prefix(&format!("videos/{public}/")).unwrap().to_owned();
    let r = no_redirects.get(server.url(&format!("/vod/{public}/{path}"))).send().unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&s3.endpoint.clone().unwrap()) && location.contains("X-Amz-Signature="), "{location}");
    let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert_eq!(cache, "public, max-age=60", "the redirect is cached for less than the URL lives");
    let fetched = no_redirects.get(&location).send().unwrap();
    assert_eq!(fetched.status(), 200, "the presigned URL opens the object");
    assert!(fetched.bytes().unwrap().as_ref() == bucket.read(&segment).as_slice());

    // Playlists stay with oxcast (their URIs are relative to it).
    let r = no_redirects.get(server.url(&format!("/vod/{public}/index.m3u8"))).send().unwrap();
    assert_eq!(r.status(), 200);

    // A private video's media: no redirect, no URL, for anyone but its owner.
    let segment = bucket.keys(&format!("videos/{private}/")).into_iter().find(|k| k.ends_with(".m4s")).unwrap();
    let path = segment.strip_prefix(&format!("videos/{private}/")).unwrap().to_owned();
    let r = no_redirects.get(server.url(&format!("/vod/{private}/{path}"))).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("location").is_none());
    let r = no_redirects.get(server.url(&format!("/vod/{private}/{path}"))).bearer_auth(ADMIN_TOKEN).send().unwrap();
    assert_eq!(r.status(), 302, "its owner is redirected");
    assert!(r.headers()["cache-control"].to_str().unwrap().starts_with("private"));
}

#[test]
fn a_bucket_that_refuses_the_credentials_stops_the_start_with_a_clear_error() {
    let mut s3 = settings(&fresh_prefix("refused"));
    s3.secret_access_key = "not-the-secret".into();
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oxcast"))
        .args(["serve", "--http", "127.0.0.1:0", "--rtmp", "127.0.0.1:0", "--srt", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .envs(s3_env(&s3, &[]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("media storage: bucket") && stderr.contains("does not answer"), "{stderr}");
    assert!(!stderr.contains("not-the-secret"), "the secret is never printed: {stderr}");
}

#[test]
fn a_cdn_base_url_serves_public_unsigned_media_only() {
    let s3 = settings(&fresh_prefix("cdn"));
    let bucket = Bucket::new(&s3);
    let env = s3_env(&s3, &[("OXCAST_STORAGE_PUBLIC_BASE_URL", "https://cdn.example.test/media/")]);
    let server = Server::start_with(&pairs(&env));
    let dir = tempfile::tempdir().unwrap();
    let bytes = clip(dir.path(), 2);
    let upload = |title: &str, privacy: &str| {
        upload_once(&server, &bytes, &[("filename", "c.mp4"), ("title", title), ("privacy", privacy)])
    };
    let (public, unlisted, signed) = (upload("Open", "public"), upload("Link", "unlisted"), upload("Paid", "public"));
    for id in [&public, &unlisted, &signed] {
        wait_ready(&server, id);
    }
    let r = client()
        .patch(server.url(&format!("/api/videos/{signed}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"playback_policy": "signed"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let no_redirects =
        reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let segment_of = |id: &str| {
        let key = bucket.keys(&format!("videos/{id}/")).into_iter().find(|k| k.ends_with(".m4s")).unwrap();
        key.strip_prefix(&format!("videos/{id}/")).unwrap().to_owned()
    };

    let path = segment_of(&public);
    let r = no_redirects.get(server.url(&format!("/vod/{public}/{path}"))).send().unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], format!("https://cdn.example.test/media/videos/{public}/{path}").as_str());
    assert_eq!(r.headers()["cache-control"], "public, max-age=86400");
    let r = no_redirects.get(server.url(&format!("/vod/{public}/index.m3u8"))).send().unwrap();
    assert_eq!(r.status(), 200, "playlists stay with oxcast");

    // Unlisted media is served by oxcast itself; signed media needs its token first.
    let r = no_redirects.get(server.url(&format!("/vod/{unlisted}/{}", segment_of(&unlisted)))).send().unwrap();
    assert_eq!(r.status(), 200);
    let r = no_redirects.get(server.url(&format!("/vod/{signed}/{}", segment_of(&signed)))).send().unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("location").is_none());
}
