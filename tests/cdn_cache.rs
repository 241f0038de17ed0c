//! oxcast behind the HTTP caches of `examples/cdn/` (Varnish and nginx with
//! `proxy_cache_lock`), run from those files as they are (only ports and the cache directory
//! changed): low-latency viewers through each cache cost the origin about one request per part
//! and per playlist version, video on demand is cached and served in ranges, and what oxcast
//! answers because of who asked (an owner's token) never reaches anyone else from the cache.
//!
//! How much latency each cache adds is measured in `bench/cdn_cache.sh` (BENCHMARKS.md), not
//! asserted here: these machines are shared.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{ADMIN_TOKEN, Server, client, ffmpeg_push, get_text, get_when_ready, test_clip, wait_for};
use oxcast_bench_load::{Kind, RunOptions, Summary, ViewerOptions};
use serde_json::json;

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cdn").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with `from` replaced, which must be there (the example changed otherwise).
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example no longer has {from:?}");
    text.replace(from, to)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn origin_port(server: &Server) -> String {
    server.http.rsplit(':').next().expect("port").to_owned()
}

/// A cache in front of one origin, stopped on drop.
struct Cache {
    name: &'static str,
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Cache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cache {
    fn varnish(server: &Server) -> Cache {
        let dir = tempfile::tempdir().expect("tempdir");
        let vcl =
            replaced(&example("varnish.vcl"), ".port = \"8080\";", &format!(".port = \"{}\";", origin_port(server)));
        let vcl_path = dir.path().join("oxcast.vcl");
        std::fs::write(&vcl_path, vcl).expect("write vcl");
        let port = free_port();
        let child = Command::new("varnishd")
            .args(["-F", "-a", &format!("127.0.0.1:{port}"), "-f"])
            .arg(&vcl_path)
            .arg("-n")
            .arg(dir.path().join("work"))
            .args(["-s", "malloc,256m", "-p", "feature=+http2", "-j", "none"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("varnishd.log")).expect("log")))
            .spawn()
            .expect("varnishd (scripts/setup.sh --test installs it)");
        Cache::started("varnish", child, port, dir)
    }

    fn nginx(server: &Server) -> Cache {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let cache_dir = dir.path().join("cache");
        let conf = example("nginx.conf");
        let conf = replaced(&conf, "server 127.0.0.1:8080;", &format!("server 127.0.0.1:{};", origin_port(server)));
        let conf = replaced(&conf, "listen 8081;", &format!("listen 127.0.0.1:{port};"));
        let conf = replaced(&conf, "/var/cache/nginx/oxcast", &cache_dir.display().to_string());
        let conf = replaced(&conf, "worker_processes auto;", "worker_processes 1;");
        std::fs::create_dir_all(dir.path().join("logs")).expect("logs dir");
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write conf");
        let mut globals = format!("daemon off; pid {};", dir.path().join("nginx.pid").display());
        if running_as_root() {
            // Workers would run as nobody, who cannot write to a private temp directory.
            globals.push_str(" user root;");
        }
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("logs/error.log"))
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", &globals])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (scripts/setup.sh --test installs it)");
        Cache::started("nginx", child, port, dir)
    }

    fn started(name: &'static str, mut child: Child, port: u16, dir: tempfile::TempDir) -> Cache {
        let url = format!("http://127.0.0.1:{port}");
        wait_for(&format!("{name} to listen"), Duration::from_secs(20), || {
            assert!(child.try_wait().expect("wait").is_none(), "{name} exited: {}", logs(dir.path()));
            reqwest::blocking::get(format!("{url}/api/health")).is_ok()
        });
        Cache { name, child, url, dir }
    }

    fn log(&self) -> String {
        logs(self.dir.path())
    }
}

fn logs(dir: &Path) -> String {
    ["varnishd.log", "logs/error.log"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether this process runs as root (nginx then needs `user root;` for its workers).
fn running_as_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Requests the origin has answered so far, over every listener and HTTP version.
fn origin_requests(server: &Server) -> f64 {
    let (status, text) = get_text(&server.url("/metrics"));
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| l.starts_with("oxcast_http_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// GET `url` (with `headers`): status, `Cache-Control`, `X-Cache` and the body.
fn fetch(url: &str, headers: &[(&str, &str)]) -> (u16, String, String, Vec<u8>) {
    let mut request = client().get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().expect("request");
    let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (status, cache, x_cache) = (r.status().as_u16(), header("cache-control"), header("x-cache"));
    (status, cache, x_cache, r.bytes().expect("body").to_vec())
}

/// `viewers` low-latency viewers of the stream's video playlist through `cache` for
/// `seconds` (after a ramp of 3 s), with a probe viewer at the origin.
fn watch_through(cache: &Cache, server: &Server, viewers: usize, seconds: u64) -> (oxcast_bench_load::RunLog, f64) {
    let path = "/live/main/video/index.m3u8";
    let options = RunOptions {
        viewer: ViewerOptions {
            playlist: format!("{}{path}", cache.url).parse().expect("url"),
            fetch_hint: true,
            delta: false,
            timeout: Duration::from_secs(15),
            audio: None,
            switch_every: None,
            levels: Vec::new(),
        },
        viewers,
        ramp: Duration::from_secs(3),
        measure: Duration::from_secs(seconds),
        http2: false,
        probe: Some(server.url(path).parse().expect("url")),
        starts: Vec::new(),
    };
    let before = origin_requests(server);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let log = runtime.block_on(oxcast_bench_load::run(&options)).expect("load run");
    // The probe's requests and the two /metrics reads are the only ones not from the cache.
    let probe = log.probe.as_ref().map_or(0, |p| p.fetches.len());
    let through_cache = origin_requests(server) - before - probe as f64 - 1.0;
    (log, through_cache)
}

#[test]
fn low_latency_viewers_through_each_cache_cost_one_origin_request_per_object() {
    let server = Server::start();
    // OBS's recommended 2 s keyframe interval.
    let mut publisher =
        ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 90, &["-g", "60", "-keyint_min", "60"]);
    get_when_ready(&server.url("/live/main/video/index.m3u8"), Duration::from_secs(30));
    let viewers = 150;
    for cache in [Cache::varnish(&server), Cache::nginx(&server)] {
        let (log, origin) = watch_through(&cache, &server, viewers, 8);
        let summary = Summary::of(&log);
        eprintln!("{}: {origin} origin requests\n{}", cache.name, serde_json::to_string_pretty(&summary).unwrap());
        assert_eq!(log.viewers.len(), viewers);
        // Distinct objects the viewers asked for, over the whole run (the ramp included).
        let distinct: std::collections::HashSet<&str> =
            log.viewers.iter().flat_map(|v| &v.fetches).map(|f| f.key.as_str()).collect();
        let fetched: usize = log.viewers.iter().map(|v| v.fetches.len()).sum();
        assert!(fetched > 20 * distinct.len(), "{}: too few requests per object to tell: {fetched}", cache.name);
        // About one origin request per distinct object, whatever the viewer count (a few more
        // for the live edge's playlist, fresh for one second, and answers that came too late).
        let per_object = origin / distinct.len() as f64;
        assert!(
            origin >= distinct.len() as f64 * 0.9 && per_object <= 1.3,
            "{}: {origin} origin requests for {} objects asked {fetched} times\n{}",
            cache.name,
            distinct.len(),
            cache.log()
        );
        // Every viewer played: parts came at the live edge, and nothing failed.
        assert!(summary.failures.is_empty(), "{}: {:?}\n{}", cache.name, summary.failures, cache.log());
        // A request is sent again when its connection failed under it (a kept-alive one the
        // cache had just closed), as browsers do; that must stay rare.
        assert!(
            summary.retried * 200 <= summary.requests,
            "{}: {} retried of {}",
            cache.name,
            summary.retried,
            summary.requests
        );
        // (8 s of 200 ms parts is 40; a viewer slowed by a busy machine fetches some as missed
        // parts instead of hinted ones, and two tests share the cores.)
        for viewer in &log.viewers {
            let parts = viewer
                .fetches
                .iter()
                .filter(|f| matches!(f.kind, Kind::HintedPart | Kind::Part) && f.status == Some(200))
                .count();
            assert!(parts >= 15, "{}: a viewer got {parts} parts in 8 s of 200 ms parts", cache.name);
        }
        // What the viewers got through the cache is what the origin serves.
        let part =
            log.viewers[0].fetches.iter().rev().find(|f| f.kind == Kind::HintedPart).expect("a part").key.clone();
        let (_, _, x_cache, cached) = fetch(&format!("{}{part}", cache.url), &[]);
        assert_eq!(x_cache, "HIT", "{}: {part}", cache.name);
        assert_eq!(cached, fetch(&server.url(&part), &[]).3, "{}: {part}", cache.name);
    }
    publisher.0.kill().ok();
}

#[test]
fn video_on_demand_is_cached_and_what_one_viewer_may_see_stays_theirs() {
    let server = Server::start();
    let clip = test_clip(6, "640x360", true);
    let id = common::uploads::upload_once(&server, &clip, &[("filename", "c.mp4"), ("privacy", "public")]);
    common::uploads::wait_ready(&server, &id);
    let mut publisher = ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 60, &[]);
    get_when_ready(&server.url("/live/main/video/index.m3u8"), Duration::from_secs(30));
    let api = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        let r = client().request(method, server.url(path)).bearer_auth(ADMIN_TOKEN).json(&body).send().expect("api");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    };
    let owner = [("authorization", &*format!("Bearer {ADMIN_TOKEN}"))];
    let owner: Vec<(&str, &str)> = owner.iter().map(|(k, v)| (*k, *v)).collect();

    for cache in [Cache::varnish(&server), Cache::nginx(&server)] {
        let name = cache.name;
        // A public video: playlists and segments come from the cache the second time, byte
        // for byte what the origin has; a viewer's cookie does not send it past the cache.
        let master = format!("{}/vod/{id}/index.m3u8", cache.url);
        let (status, _, _, text) = fetch(&master, &[]);
        assert_eq!(status, 200, "{name}");
        let text = String::from_utf8(text).expect("utf8");
        let variant = text.lines().find(|l| !l.starts_with('#') && !l.is_empty()).expect("a variant").to_owned();
        let media_url = format!("{}/vod/{id}/{variant}", cache.url);
        let media = String::from_utf8(fetch(&media_url, &[]).3).expect("utf8");
        let dir = variant.rsplit_once('/').map_or("", |(d, _)| d);
        let segments: Vec<String> = media
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|s| format!("/vod/{id}/{dir}/{s}"))
            .collect();
        assert!(segments.len() >= 2, "{name}: {media}");
        let first = &segments[0];
        let origin_bytes = fetch(&server.url(first), &[]).3;
        let (_, _, miss, _) = fetch(&format!("{}{first}", cache.url), &[("cookie", "oxcast_session=someone")]);
        let (status, _, hit, bytes) = fetch(&format!("{}{first}", cache.url), &[("cookie", "oxcast_session=other")]);
        assert_eq!((status, miss.as_str(), hit.as_str()), (200, "MISS", "HIT"), "{name}: {first}");
        assert_eq!(bytes, origin_bytes, "{name}: {first}");
        // A range of it, from the cache.
        let r = client().get(format!("{}{first}", cache.url)).header("range", "bytes=10-109").send().expect("range");
        assert_eq!(r.status().as_u16(), 206, "{name}");
        assert_eq!(r.bytes().expect("body").as_ref(), &origin_bytes[10..110], "{name}");

        // The video turns signed: its owner still plays an object nobody cached yet, without
        // a token, and that answer is private, so the next viewer without a token is refused
        // by the origin rather than served from the cache.
        api(reqwest::Method::PATCH, &format!("/api/videos/{id}"), json!({"playback_policy": "signed"}));
        let second = format!("{}{}", cache.url, segments[1]);
        let (status, cache_control, _, _) = fetch(&second, &owner);
        assert_eq!(status, 200, "{name}");
        assert!(cache_control.starts_with("private"), "{name}: {cache_control}");
        assert_eq!(fetch(&second, &[]).0, 403, "{name}: the owner's answer was shared");
        api(reqwest::Method::PATCH, &format!("/api/videos/{id}"), json!({"playback_policy": "public"}));

        // The same for a live stream turned private: its owner's playlist stays theirs.
        api(reqwest::Method::PATCH, "/api/streams/main", json!({"privacy": "private"}));
        let live = format!("{}/live/main/video/index.m3u8", cache.url);
        let (status, cache_control, _, _) = fetch(&live, &owner);
        assert_eq!(status, 200, "{name}");
        assert!(cache_control.starts_with("private"), "{name}: {cache_control}");
        assert_eq!(fetch(&live, &[]).0, 404, "{name}: the owner's playlist was shared");
        api(reqwest::Method::PATCH, "/api/streams/main", json!({"privacy": "public"}));
        // Public again: anyone plays (the stream's settings are cached at the origin for 2 s).
        wait_for("the stream to open again", Duration::from_secs(10), || fetch(&live, &[]).0 == 200);
    }
    publisher.0.kill().ok();
}

#[test]
fn embedded_players_behind_a_cache_are_still_counted() {
    let server = Server::start();
    let mut publisher = ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 60, &["-tune", "zerolatency"]);
    get_when_ready(&server.url("/live/main/video/index.m3u8"), Duration::from_secs(30));
    let cache = Cache::varnish(&server);
    // Two browsers behind the one cache: the origin sees one address and one user agent, and
    // most playlist requests are answered by the cache, so only the embed page's presence
    // reports (POST, passed through) tell them apart.
    let play = || {
        Command::new("node")
            .args(["tests/browser/play.mjs", "--url", &format!("{}/embed/live/main", cache.url), "--seconds", "14"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node tests/browser/play.mjs")
    };
    let browsers = [play(), play()];
    let mut most = 0.0_f64;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while most < 2.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let status = common::stream_status(&server, "main");
        most = most.max(status["viewers"]["current"].as_f64().unwrap_or_default());
    }
    for browser in browsers {
        let out = browser.wait_with_output().expect("play.mjs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("no report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(report["ok"], true, "the embed did not play through the cache: {report}");
    }
    assert!(most >= 2.0, "two embedded players behind a cache counted as {most}\n{}", server.log());
    publisher.0.kill().ok();
}
