//! Many nodes, one platform: three `oxcast serve` nodes, and `oxcast worker` processes, on one
//! PostgreSQL database (`OXCAST_TEST_DATABASE_URL`), one Redis (`OXCAST_TEST_REDIS_URL`) and one
//! S3 bucket (`OXCAST_TEST_S3_URL`, under a key prefix of the test's own), as an operator runs
//! them on one machine.
//!
//! - Video on demand: a tus upload one node is receiving is locked on the others (423); started
//!   on A, it resumes on B. The serving nodes process nothing (`vod.workers = 0`): an
//!   `oxcast worker` claims the job and is killed with SIGKILL halfway through; a second worker
//!   finishes it once the job's lease has run out. C serves every rendition, C's search index
//!   (which follows the shared change log) finds the video once it is public, and each webhook
//!   event reached the receiver once although every node delivers.
//! - Live: a stream published to A plays from B and C, which relay A's LL-HLS with about one
//!   upstream request per distinct URL however many viewers ask; their viewers count on A
//!   (presence in Redis). The publisher reconnecting to B takes the stream over: A closes its
//!   connection and lets the stream go, B packages it, and A's viewers are relayed from B. A
//!   node starting meanwhile leaves B's broadcast alone; B killed, another node ends it.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use common::s3::*;
use common::uploads::{tuspy, video, wait_ready};
use common::webhooks::Receiver;
use common::*;
use serde_json::{Value, json};

/// Nodes on one database, one Redis and one bucket prefix.
struct Cluster {
    nodes: Vec<Server>,
    env: Vec<(String, String)>,
    bucket: Bucket,
    database: oxcast_store::TestDatabase,
}

impl Cluster {
    fn start(nodes: usize, extra: &[(&str, &str)]) -> Cluster {
        let database = postgres_test_database();
        let s3 = settings(&fresh_prefix("cluster"));
        let bucket = Bucket::new(&s3);
        let redis = std::env::var("OXCAST_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let mut env = s3_env(&s3, extra);
        env.push(("OXCAST_CHAT_REDIS_URL".into(), redis));
        // One after another, as an operator brings nodes up (concurrent first starts are the
        // store's business and tested there).
        let nodes = (0..nodes).map(|_| Server::start_node(database.url(), &pairs(&env))).collect();
        Cluster { nodes, env, bucket, database }
    }

    fn worker(&self, extra: &[(&str, &str)]) -> Worker {
        let mut env = pairs(&self.env);
        env.extend_from_slice(extra);
        Worker::start(self.database.url(), &env)
    }
}

/// An `oxcast worker` process (processing only, no listeners), killed on drop.
struct Worker {
    child: Child,
    log: Arc<Mutex<String>>,
    _data_dir: tempfile::TempDir,
}

impl Worker {
    fn start(database_url: &str, env: &[(&str, &str)]) -> Worker {
        let data_dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_oxcast"))
            .args(["worker", "--data-dir"])
            .arg(data_dir.path())
            .env("OXCAST_DATABASE_URL", database_url)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                writer.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = stdout.next().and_then(Result::ok).unwrap_or_default();
        assert!(first.contains("waiting for jobs"), "the worker did not start: {first}\n{}", log.lock().unwrap());
        std::thread::spawn(move || for _ in stdout {});
        Worker { child, log, _data_dir: data_dir }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn api(server: &Server, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = client().request(method, server.url(path)).bearer_auth(ADMIN_TOKEN).json(&body).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// A request body that hands out `bytes` slowly, and says when it started.
struct SlowBody {
    bytes: Vec<u8>,
    at: usize,
    started: Option<std::sync::mpsc::Sender<()>>,
}

impl Read for SlowBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(started) = self.started.take() {
            let _ = started.send(());
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
        let n = buf.len().min(32 * 1024).min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn patch(server: &Server, id: &str, offset: usize, body: reqwest::blocking::Body) -> reqwest::blocking::Response {
    client()
        .patch(server.url(&format!("/api/uploads/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(body)
        .send()
        .unwrap()
}

fn upload_offset(server: &Server, id: &str) -> u64 {
    let r = client()
        .head(server.url(&format!("/api/uploads/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .header("tus-resumable", "1.0.0")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
}

#[test]
fn an_upload_moves_between_nodes_and_a_job_whose_worker_was_killed_is_finished_by_another() {
    let mut receiver = Receiver::start(&[]);
    let cluster = Cluster::start(
        3,
        &[
            ("OXCAST_VOD_WORKERS", "0"),
            ("OXCAST_VOD_LEASE_SECONDS", "5"),
            ("OXCAST_WEBHOOKS_ALLOW_PRIVATE", "true"),
            ("OXCAST_WEBHOOKS_FIRST_RETRY_SECONDS", "1"),
        ],
    );
    let [a, b, c] = &cluster.nodes[..] else { unreachable!() };
    let (status, endpoint) = api(
        a,
        reqwest::Method::POST,
        "/api/webhooks",
        json!({"url": receiver.url("/hook"), "events": ["video.created", "video.ready"]}),
    );
    assert_eq!(status, 201, "{endpoint}");
    receiver.set_secret(endpoint["secret"].as_str().unwrap());

    // 20 s of 640x360 with sound: long enough for the standard ladder to take a while.
    let bytes = test_clip(20, "640x360", true);
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "clip.mp4", std::slice::from_ref(&bytes));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let created = client()
        .post(a.url("/api/uploads"))
        .bearer_auth(ADMIN_TOKEN)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", bytes.len().to_string())
        .header("upload-metadata", format!("filename {},title {}", b64("clip.mp4"), b64("Cluster marmalade")))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.headers()["oxcast-video-id"].to_str().unwrap().to_owned();

    // While A receives the first third (slowly), B and C refuse a second writer.
    let third = bytes.len() / 3;
    let (started, has_started) = std::sync::mpsc::channel();
    let slow = SlowBody { bytes: bytes[..third].to_vec(), at: 0, started: Some(started) };
    let sending = std::thread::scope(|scope| {
        let sending = scope.spawn(|| patch(a, &id, 0, reqwest::blocking::Body::new(slow)));
        has_started.recv_timeout(Duration::from_secs(10)).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        for other in [b, c] {
            let r = patch(other, &id, 0, reqwest::blocking::Body::from(bytes[..1000].to_vec()));
            assert_eq!(r.status(), 423, "a second writer on another node: {:?}", r.text());
        }
        sending.join().unwrap()
    });
    assert_eq!(sending.status(), 204, "{:?}", sending.text());
    assert_eq!(upload_offset(c, &id), third as u64, "C knows the offset A stored");

    // The tus client resumes on B from there.
    let chunk = (third + 1).to_string();
    let (code, lines) = tuspy(&[
        "--endpoint",
        &b.url("/api/uploads"),
        "--resume-url",
        &b.url(&format!("/api/uploads/{id}")),
        "--token",
        ADMIN_TOKEN,
        "--file",
        file.to_str().unwrap(),
        "--chunk-size",
        &chunk,
    ]);
    assert_eq!(code, Some(0), "{lines:?}");
    let parts = cluster.bucket.keys(&format!("uploads/{id}/"));
    let stored: Vec<u8> = parts.iter().flat_map(|k| cluster.bucket.read(k)).collect();
    assert!(stored == bytes, "the bucket holds the file byte for byte ({} parts)", parts.len());

    // No serving node processes; the first worker claims the job and is killed halfway.
    std::thread::sleep(Duration::from_secs(2));
    let waiting = video(c, &id);
    assert_eq!(
        (waiting["status"].as_str(), waiting["progress"].as_f64()),
        (Some("processing"), Some(0.0)),
        "{waiting}"
    );
    let first = cluster.worker(&[]);
    wait_for("the first worker to get going", Duration::from_secs(120), || {
        let v = video(c, &id);
        assert_eq!(v["status"], "processing", "{v}\n{}", first.log());
        v["progress"].as_f64().unwrap() > 0.05
    });
    let killed_at = video(c, &id);
    drop(first); // SIGKILL
    assert!(killed_at["progress"].as_f64().unwrap() < 1.0, "{killed_at}");
    let second = cluster.worker(&[]);
    let done = Instant::now();
    let ready = wait_ready(c, &id);
    let log = second.log();
    assert!(log.contains(&format!("video={id}")) && log.contains("attempt=2"), "the second attempt:\n{log}");
    eprintln!("the second worker finished in {:.1} s", done.elapsed().as_secs_f64());
    assert!(ready["duration_ms"].as_i64().unwrap() > 19_000, "{ready}");

    // Made public through B, C serves every rendition, whole, to anyone.
    let (status, _) = api(b, reqwest::Method::PATCH, &format!("/api/videos/{id}"), json!({"privacy": "public"}));
    assert_eq!(status, 200);
    let (status, master) = get_text(&c.url(&format!("/vod/{id}/index.m3u8")));
    assert_eq!(status, 200, "{master}");
    let master = parse_master(&master);
    let renditions: Vec<&String> = master
        .variants
        .iter()
        .map(|v| &v.uri)
        .chain(master.alternatives.iter().filter_map(|a| a.uri.as_ref()))
        .collect();
    assert!(renditions.len() >= 2, "video and sound: {master:?}");
    for uri in renditions {
        let url = c.url(&format!("/vod/{id}/{uri}"));
        let (status, text) = get_text(&url);
        assert_eq!(status, 200, "{url}");
        let media = parse_media(&text);
        let total: f32 = media.segments.iter().map(|s| s.duration).sum();
        assert!((total - 20.0).abs() < 1.0, "{url}: {total} s");
        let base = &url[..url.rfind('/').unwrap() + 1];
        for segment in &media.segments {
            let r = client().get(format!("{base}{}", segment.uri)).send().unwrap();
            assert_eq!(r.status(), 200, "{base}{}", segment.uri);
        }
    }

    // Found through C's index.
    wait_for("C's index to have the video", Duration::from_secs(20), || {
        let found: Value = client().get(c.url("/api/search?q=marmelade")).send().unwrap().json().unwrap();
        found["videos"]["items"].as_array().is_some_and(|items| items.iter().any(|v| v["id"] == id.as_str()))
    });

    // Each event was delivered once, by whichever node claimed it.
    receiver.collect_until(Duration::from_secs(30), |seen| {
        Receiver::delivered(seen, "video.created") && Receiver::delivered(seen, "video.ready")
    });
    std::thread::sleep(Duration::from_secs(3));
    while let Ok(v) = receiver.lines.try_recv() {
        receiver.seen.push(v);
    }
    for kind in ["video.created", "video.ready"] {
        let got: Vec<&Value> = receiver.seen.iter().filter(|l| l["type"] == kind && l["status"] == 200).collect();
        assert_eq!(got.len(), 1, "{kind} once: {:#?}", receiver.seen);
        assert_eq!(got[0]["body"]["data"]["id"], id.as_str());
    }
}

/// The value of the unlabelled metric `name` in `server`'s /metrics.
fn metric(server: &Server, name: &str) -> f64 {
    let (status, text) = get_text(&server.url("/metrics"));
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// `viewers` players of `stream` on `server`, each asking for the next part `rounds` times
/// (blocking playlist request, then the part). Returns the distinct URLs they asked for.
fn watch(server: &Server, stream: &str, viewers: usize, rounds: usize, first_viewer: usize) -> HashSet<String> {
    let urls = Mutex::new(HashSet::new());
    let playlist = server.url(&format!("/live/{stream}/video/index.m3u8"));
    std::thread::scope(|scope| {
        for i in 0..viewers {
            let (urls, playlist) = (&urls, &playlist);
            scope.spawn(move || {
                let viewer = format!("viewer-{}", first_viewer + i);
                let get = |url: &str| {
                    let r = client().get(url).header("x-oxcast-viewer", &viewer).send().unwrap();
                    assert_eq!(r.status(), 200, "{url}");
                    urls.lock().unwrap().insert(url.strip_prefix(&server.http).unwrap().to_owned());
                    r.bytes().unwrap()
                };
                let mut text = String::from_utf8_lossy(&get(playlist)).into_owned();
                for _ in 0..rounds {
                    let (msn, part) = next_part_position(&text);
                    text = String::from_utf8_lossy(&get(&format!("{playlist}?_HLS_msn={msn}&_HLS_part={part}")))
                        .into_owned();
                    let tags = low_latency_tags(&text);
                    let last = tags.parts.last().expect("parts in a live playlist");
                    let part = get(&format!("{}{}", &playlist[..playlist.rfind('/').unwrap() + 1], last.uri));
                    assert!(!part.is_empty());
                }
            });
        }
    });
    urls.into_inner().unwrap()
}

#[test]
fn a_stream_published_to_one_node_plays_from_the_others_and_moves_with_its_publisher() {
    let mut cluster = Cluster::start(3, &[("OXCAST_DEFAULT_PROFILE", "passthrough")]);
    let [a, b, c] = &cluster.nodes[..] else { unreachable!() };
    let name = format!("cluster{}x{}", std::process::id(), Instant::now().elapsed().subsec_nanos());
    let key = a.cli_create_stream(&name);
    // OBS's recommended keyframe interval: 2 s.
    let mut on_a = ffmpeg_push(&format!("{}/{key}", a.rtmp), 120, &["-g", "60"]);
    for node in [a, b, c] {
        let url = node.url(&format!("/live/{name}/video/index.m3u8"));
        wait_for("a segment in the playlist", Duration::from_secs(30), || get_text(&url).1.contains("#EXTINF"));
    }
    assert_eq!(metric(a, "oxcast_live_streams"), 1.0);
    assert_eq!(metric(b, "oxcast_live_streams"), 0.0, "B does not package the stream: it relays it");
    // B's API (which the player page polls) says the stream is live, as A does.
    let on_b: Value = client().get(b.url(&format!("/api/streams/{name}"))).send().unwrap().json().unwrap();
    assert_eq!(on_b["state"], "live", "{on_b}");
    assert_eq!(on_b["protocol"], "rtmp", "{on_b}");
    assert!(!on_b["renditions"].as_array().unwrap().is_empty(), "{on_b}");

    // 20 viewers on B and 10 on C: about one upstream request per distinct URL, not per viewer.
    let before = (metric(b, "oxcast_relay_upstream_requests_total"), metric(b, "oxcast_relay_responses_total"));
    let counted = Arc::new(Mutex::new(0.0_f64));
    let urls = std::thread::scope(|scope| {
        let on_c = scope.spawn(|| watch(c, &name, 10, 8, 100));
        let counting = scope.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(8);
            while Instant::now() < deadline {
                let s: Value = client().get(a.url(&format!("/api/streams/{name}"))).send().unwrap().json().unwrap();
                let now = s["viewers"]["current"].as_f64().unwrap_or(0.0);
                let mut max = counted.lock().unwrap();
                *max = max.max(now);
                drop(max);
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        let urls = watch(b, &name, 20, 8, 0);
        on_c.join().unwrap();
        counting.join().unwrap();
        urls
    });
    let upstream = metric(b, "oxcast_relay_upstream_requests_total") - before.0;
    let answered = metric(b, "oxcast_relay_responses_total") - before.1;
    eprintln!("B: {answered} answers, {upstream} upstream requests, {} distinct URLs", urls.len());
    assert!(answered >= 20.0 * 17.0, "every viewer request was answered by the relay: {answered}");
    assert!(upstream <= urls.len() as f64 + 3.0, "{upstream} upstream requests for {} distinct URLs", urls.len());
    assert_eq!(metric(b, "oxcast_relay_upstream_errors_total"), 0.0);
    // Viewers on B and C count where the stream is (presence is shared through Redis).
    let counted = *counted.lock().unwrap();
    assert!(counted >= 30.0, "A counted {counted} of the 30 viewers on B and C");

    // The publisher reconnects to B: B takes the stream over, A lets go and relays it from B.
    let _on_b = ffmpeg_push(&format!("{}/{key}", b.rtmp), 120, &["-g", "60"]);
    assert!(on_a.wait_exit(Duration::from_secs(20)).is_some(), "A closed its publisher\n{}", a.log());
    assert!(a.wait_for_log("another node took the stream over", Duration::from_secs(5)), "{}", a.log());
    wait_for("B to package the stream", Duration::from_secs(20), || metric(b, "oxcast_live_streams") == 1.0);
    assert_eq!(metric(a, "oxcast_live_streams"), 0.0, "one node at a time");
    let relayed = metric(a, "oxcast_relay_upstream_requests_total");
    let url = a.url(&format!("/live/{name}/video/index.m3u8"));
    wait_for("A to serve the stream from B", Duration::from_secs(20), || {
        let (status, text) = get_text(&url);
        status == 200 && text.contains("#EXTINF")
    });
    assert!(metric(a, "oxcast_relay_upstream_requests_total") > relayed, "A relays from B");
    let urls = watch(a, &name, 3, 3, 200);
    assert!(!urls.is_empty());

    // A's broadcast ended when it let go; B's is on the air, and a node that starts now (and
    // ends the broadcasts a stop cut short) leaves it alone.
    let broadcasts = |node: &Server| -> Vec<Value> {
        let (status, page) = api(node, reqwest::Method::GET, &format!("/api/streams/{name}/broadcasts"), Value::Null);
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    };
    let list = broadcasts(c);
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list[0]["ended_at"].is_null() && !list[1]["ended_at"].is_null(), "newest first: {list:?}");
    let on_b = list[0]["id"].clone();
    let d = Server::start_node(cluster.database.url(), &pairs(&cluster.env));
    assert!(broadcasts(&d)[0]["ended_at"].is_null(), "a starting node ended a broadcast on the air elsewhere");

    // B dies with the stream on the air: once its lease has run out, another node ends the
    // broadcast it cannot end any more.
    drop(cluster.nodes.remove(1)); // SIGKILL
    wait_for("another node to end the dead node's broadcast", Duration::from_secs(90), || {
        broadcasts(&d).iter().any(|b| b["id"] == on_b && !b["ended_at"].is_null())
    });
}
