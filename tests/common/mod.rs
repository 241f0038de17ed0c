//! Shared harness for end-to-end tests: a real `oxcast serve` process on loopback ports, real
//! ffmpeg/GStreamer publishers, and helpers to read what it serves.
#![allow(dead_code)]

pub mod chat;
pub mod fmp4;
pub mod rtmp_client;
pub mod s3;
pub mod services;
pub mod uploads;
pub mod webhooks;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    pub http: String,
    /// `127.0.0.1:PORT` of the HTTPS listener, when the server was started with one.
    pub https: Option<String>,
    pub rtmp: String,
    /// `srt://127.0.0.1:PORT`.
    pub srt: String,
    pub default_key: String,
    pub data_dir: tempfile::TempDir,
    pub log: Arc<Mutex<String>>,
    /// `OXCAST_DATABASE_URL` of this server (and of the CLI run beside it); `None`: SQLite in
    /// `data_dir`.
    pub database_url: Option<String>,
    /// Keeps a PostgreSQL test database alive as long as the server.
    _database: Option<oxcast_store::TestDatabase>,
}

/// The database an end-to-end test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// The embedded default: an SQLite file in the data directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server (`OXCAST_TEST_DATABASE_URL`).
    Postgres,
}

/// A fresh PostgreSQL database, made on a thread of its own so that sync and async tests alike
/// can ask for one.
pub fn postgres_test_database() -> oxcast_store::TestDatabase {
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(oxcast_store::TestDatabase::postgres())
    })
    .join()
    .expect("creating a test database")
}

impl Server {
    /// Starts `oxcast serve` on ephemeral ports with short timings suited to tests.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Server {
        Self::start_on(Db::Sqlite, env)
    }

    /// Starts `oxcast serve` on the given database.
    pub fn start_on(db: Db, env: &[(&str, &str)]) -> Server {
        let database = (db == Db::Postgres).then(postgres_test_database);
        Self::launch(tempfile::tempdir().expect("tempdir"), database, None, env)
    }

    /// Starts one node of several sharing the database at `database_url` (each node has a data
    /// directory of its own).
    pub fn start_node(database_url: &str, env: &[(&str, &str)]) -> Server {
        Self::launch(tempfile::tempdir().expect("tempdir"), None, Some(database_url.to_owned()), env)
    }

    /// Starts a node on `data_dir` (already filled, say by `oxcast migrate`) and the database at
    /// `database_url`.
    pub fn start_node_in(data_dir: tempfile::TempDir, database_url: &str, env: &[(&str, &str)]) -> Server {
        Self::launch(data_dir, None, Some(database_url.to_owned()), env)
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and starts a new one on the same
    /// data directory and database, with `env`. Its ports are new.
    pub fn kill_and_restart(self, env: &[(&str, &str)]) -> Server {
        self.kill_and_restart_after(env, |_| {})
    }

    /// The same, running `while_down` (given the data directory) between the kill and the start.
    pub fn kill_and_restart_after(mut self, env: &[(&str, &str)], while_down: impl FnOnce(&Path)) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().expect("tempdir"));
        let database = self._database.take();
        let shared = if database.is_none() { self.database_url.take() } else { None };
        drop(self);
        while_down(data_dir.path());
        Self::launch(data_dir, database, shared, env)
    }

    fn launch(
        data_dir: tempfile::TempDir,
        database: Option<oxcast_store::TestDatabase>,
        shared_database_url: Option<String>,
        env: &[(&str, &str)],
    ) -> Server {
        let database_url = database.as_ref().map(|d| d.url().to_owned()).or(shared_database_url);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxcast"));
        cmd.args(["serve", "--http", "127.0.0.1:0", "--rtmp", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .args(["--srt", "127.0.0.1:0"])
            .env("OXCAST_WEBRTC_ICE_ADDRESSES", "127.0.0.1")
            .env("OXCAST_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("OXCAST_SEGMENT_DURATION_MS", "1000")
            .env("OXCAST_OFFLINE_GRACE_SECONDS", "3")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = &database_url {
            cmd.env("OXCAST_DATABASE_URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn oxcast");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("OXCAST_TEST_VERBOSE").is_some() {
                    eprintln!("[server] {line}");
                }
                if let Ok(mut l) = log_writer.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut http, mut https, mut rtmp, mut srt, mut key) = (None, None, None, None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.is_none() || key.is_none() {
            assert!(Instant::now() < deadline, "server did not print its banner");
            let Some(Ok(line)) = lines.next() else { panic!("server exited early:\n{}", log.lock().unwrap()) };
            if let Some(rest) = line.strip_prefix("oxcast is running (HTTP ") {
                let mut parts = rest.split(", RTMP ");
                http = parts.next().map(str::to_owned);
                rtmp = parts.next().and_then(|r| r.split(',').next()).map(str::to_owned);
                https = rest.split(", HTTPS ").nth(1).and_then(|r| r.split(',').next()).map(str::to_owned);
                srt = rest.split(", SRT ").nth(1).and_then(|r| r.split("/udp").next()).map(str::to_owned);
            }
            if let Some(k) = line.trim().strip_prefix("Stream Key:") {
                key = Some(k.trim().to_owned());
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            http: format!("http://{}", http.unwrap()),
            https,
            rtmp: format!("rtmp://{}/live", rtmp.unwrap()),
            srt: format!("srt://{}", srt.expect("the banner names the SRT listener")),
            default_key: key.unwrap(),
            data_dir,
            log,
            database_url,
            _database: database,
        }
    }

    /// Creates a stream through the CLI, on this server's database while it runs; returns its
    /// key (the last line of output).
    pub fn cli_create_stream(&self, name: &str) -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxcast"));
        cmd.args(["stream", "create", name, "--data-dir"]).arg(self.data_dir.path());
        if let Some(url) = &self.database_url {
            cmd.env("OXCAST_DATABASE_URL", url);
        }
        let out = cmd.output().expect("run oxcast stream create");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8").lines().last().expect("a line").trim().to_owned()
    }

    /// ffmpeg's SRT URL publishing to the stream with `key` (latency in microseconds there).
    pub fn srt_url(&self, key: &str, extra_query: &str) -> String {
        format!("{}&latency=120000{extra_query}", oxcast_ingest::srt::publish_url(&self.srt, key))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    /// Stops the server as [`Server::stop`] does and hands over its data directory.
    pub fn stop_keeping_data(mut self) -> (std::process::ExitStatus, tempfile::TempDir) {
        let status = self.terminate();
        (status, std::mem::replace(&mut self.data_dir, tempfile::tempdir().expect("tempdir")))
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A publisher process, killed on drop.
pub struct Publisher(pub Child);

impl Publisher {
    /// Waits up to `timeout` for the process to exit; its status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ffmpeg pushing `seconds` of 640x360@30 test video (1 s GOP) and 48 kHz AAC in real time.
pub fn ffmpeg_push(url: &str, seconds: u32, extra_video_args: &[&str]) -> Publisher {
    ffmpeg_push_sized(url, seconds, "640x360", extra_video_args)
}

/// Like [`ffmpeg_push`] with another picture size (`WxH`). `srt://` URLs get MPEG-TS, others FLV.
pub fn ffmpeg_push_sized(url: &str, seconds: u32, size: &str, extra_video_args: &[&str]) -> Publisher {
    let format = if url.starts_with("srt://") { "mpegts" } else { "flv" };
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=30:duration={seconds}")])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency=440:sample_rate=48000:duration={seconds}")])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
        .args(["-pix_fmt", "yuv420p", "-b:v", "1500k"])
        .args(extra_video_args)
        .args(["-c:a", "aac", "-b:a", "128k", "-f", format, url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Publisher(cmd.spawn().expect("spawn ffmpeg"))
}

/// ffmpeg reading the lavfi source `input` in real time and writing with `output_args` (the
/// last of which is the destination): for publishers the other helpers do not cover.
pub fn ffmpeg_lavfi(input: &str, output_args: &[&str]) -> Publisher {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", input])
        .args(output_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Publisher(cmd.spawn().expect("spawn ffmpeg"))
}

/// GStreamer's rtmp2sink pushing test video + AAC (flvmux repeats onMetaData).
pub fn gst_push(url: &str, seconds: u32) -> Publisher {
    let frames = seconds * 30;
    let buffers = seconds * 48000 / 1024;
    let pipeline = format!(
        "videotestsrc is-live=true num-buffers={frames} pattern=ball ! video/x-raw,format=I420,width=480,height=270,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=30 bitrate=800 ! h264parse ! queue ! mux. \
         audiotestsrc is-live=true num-buffers={buffers} samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 \
         ! avenc_aac ! aacparse ! queue ! mux. \
         flvmux name=mux streamable=true ! rtmp2sink location={url}"
    );
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-q").args(pipeline.split_whitespace()).stdout(Stdio::null()).stderr(Stdio::null()).stdin(Stdio::null());
    Publisher(cmd.spawn().expect("spawn gst-launch-1.0"))
}

/// Polls `done` until it holds, failing the test after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A server with an ffmpeg publisher on its default stream, once the stream is playable.
pub fn live_server(seconds: u32, extra_video_args: &[&str]) -> (Server, Publisher) {
    let server = Server::start();
    let publisher = ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), seconds, extra_video_args);
    get_when_ready(&server.url("/live/main/index.m3u8"), Duration::from_secs(20));
    (server, publisher)
}

/// Downloads init + the newest complete segment of `rendition` and decodes it with ffprobe.
pub fn decode_latest_segment(server: &Server, stream: &str, rendition: &str, dir: &Path) -> Probe {
    let base = format!("/live/{stream}/{rendition}");
    let text = get_text(&server.url(&format!("{base}/index.m3u8"))).1;
    let playlist = parse_media(&text);
    assert!(playlist.segments.len() >= 2, "{rendition}: too few segments\n{text}");
    let index = playlist.segments.len() - 2;
    let segment = &playlist.segments[index];
    // The map in force is the last one at or before the segment (a discontinuity brings a new one).
    let map = playlist.segments[..=index].iter().rev().find_map(|s| s.map.as_ref()).expect("EXT-X-MAP").uri.clone();
    let init = get_bytes(&server.url(&format!("{base}/{map}")));
    let media = get_bytes(&server.url(&format!("{base}/{}", segment.uri)));
    probe(&write_file(dir, &format!("{stream}-{rendition}.mp4"), &[init, media]))
}

/// `GET /api/streams/NAME` as JSON.
pub fn stream_status(server: &Server, name: &str) -> serde_json::Value {
    client().get(server.url(&format!("/api/streams/{name}"))).send().expect("request").json().expect("json")
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().expect("client")
}

/// GETs `url` until it answers 200 or `timeout` passes.
pub fn get_when_ready(url: &str, timeout: Duration) -> reqwest::blocking::Response {
    let c = client();
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = c.get(url).send()
            && r.status().is_success()
        {
            return r;
        }
        assert!(Instant::now() < deadline, "{url} never became available");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn get_text(url: &str) -> (u16, String) {
    let r = client().get(url).send().expect("request");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

pub fn get_bytes(url: &str) -> Vec<u8> {
    let r = client().get(url).send().expect("request");
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.bytes().expect("body").to_vec()
}

/// Attribute lists of every `#EXT-X-PART` (in order) and the other LL-HLS tags of a playlist.
#[derive(Debug, Default)]
pub struct LowLatencyTags {
    pub parts: Vec<Part>,
    pub preload_hint: Option<String>,
    pub rendition_reports: Vec<String>,
    pub server_control: Option<String>,
    pub part_target: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Part {
    pub uri: String,
    pub duration: f64,
    pub independent: bool,
}

pub fn attr<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    list.split(',').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')).map(|v| v.trim_matches('"'))
}

/// Reads the LL-HLS tags that m3u8-rs keeps as unknown tags (it also drops the ones after the
/// last complete segment, so this reads the text).
pub fn low_latency_tags(text: &str) -> LowLatencyTags {
    let mut out = LowLatencyTags::default();
    for line in text.lines() {
        if let Some(a) = line.strip_prefix("#EXT-X-PART:") {
            out.parts.push(Part {
                uri: attr(a, "URI").expect("part URI").to_owned(),
                duration: attr(a, "DURATION").expect("part DURATION").parse().expect("number"),
                independent: attr(a, "INDEPENDENT") == Some("YES"),
            });
        } else if let Some(a) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
            out.preload_hint = attr(a, "URI").map(str::to_owned);
        } else if let Some(a) = line.strip_prefix("#EXT-X-RENDITION-REPORT:") {
            out.rendition_reports.push(a.to_owned());
        } else if let Some(a) = line.strip_prefix("#EXT-X-SERVER-CONTROL:") {
            out.server_control = Some(a.to_owned());
        } else if let Some(a) = line.strip_prefix("#EXT-X-PART-INF:") {
            out.part_target = attr(a, "PART-TARGET").and_then(|v| v.parse().ok());
        }
    }
    out
}

/// Each segment of a media playlist with the URIs of its parts (segments whose parts are no
/// longer listed have none), and then the parts of the open segment under `None`.
pub fn segment_parts(text: &str) -> Vec<(Option<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut parts = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(a) = line.strip_prefix("#EXT-X-PART:") {
            parts.push(attr(a, "URI").expect("part URI").to_owned());
        } else if line.starts_with("#EXTINF:") {
            let uri = lines.next().expect("segment URI").to_owned();
            out.push((Some(uri), std::mem::take(&mut parts)));
        }
    }
    out.push((None, parts));
    out
}

/// (`_HLS_msn`, `_HLS_part`) of the part after the newest one a media playlist lists.
pub fn next_part_position(text: &str) -> (u64, usize) {
    let sequence: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .expect("MEDIA-SEQUENCE")
        .parse()
        .expect("number");
    let segments = segment_parts(text);
    let complete = (segments.len() - 1) as u64;
    let open = segments.last().map_or(0, |(_, parts)| parts.len());
    (sequence + complete, open)
}

pub fn parse_media(text: &str) -> m3u8_rs::MediaPlaylist {
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
        other => panic!("not a media playlist: {other:?}\n{text}"),
    }
}

pub fn parse_master(text: &str) -> m3u8_rs::MasterPlaylist {
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(p)) => p,
        other => panic!("not a multivariant playlist: {other:?}\n{text}"),
    }
}

/// What ffprobe says about one stream of a file.
#[derive(Debug)]
pub struct Probe {
    pub codec: String,
    pub width: Option<u64>,
    pub height: Option<u64>,
    /// Samples in the file (what the packager wrote).
    pub packets: u64,
    /// Samples flagged as sync samples.
    pub key_packets: u64,
    pub first_packet_key: bool,
    /// Frames the decoder produced (a B-frame stream cut at a segment boundary withholds up to
    /// its reorder depth).
    pub frames: u64,
    pub duration: f64,
}

/// Decodes every frame of `path` with ffprobe.
pub fn probe(path: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_packets", "-show_frames", "-show_streams", "-of", "json"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(out.status.success(), "ffprobe failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let stream = &v["streams"][0];
    // Asked for both, ffprobe interleaves them in one array tagged by "type".
    let both = v["packets_and_frames"].as_array().cloned().unwrap_or_default();
    let of_type = |t: &str| both.iter().filter(|e| e["type"] == t).cloned().collect::<Vec<_>>();
    let (packets, frames) = (of_type("packet"), of_type("frame"));
    let key = |p: &serde_json::Value| p["flags"].as_str().is_some_and(|f| f.starts_with('K'));
    let times: Vec<f64> = packets.iter().filter_map(|p| p["pts_time"].as_str()?.parse().ok()).collect();
    let duration = match (times.iter().cloned().reduce(f64::min), times.iter().cloned().reduce(f64::max)) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    Probe {
        codec: stream["codec_name"].as_str().unwrap_or_default().to_owned(),
        width: stream["width"].as_u64(),
        height: stream["height"].as_u64(),
        packets: packets.len() as u64,
        key_packets: packets.iter().filter(|p| key(p)).count() as u64,
        first_packet_key: packets.first().is_some_and(key),
        frames: frames.len() as u64,
        duration,
    }
}

/// Writes `chunks` into one file under `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, chunks: &[Vec<u8>]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, chunks.concat()).expect("write");
    path
}

/// The bytes of an MP4 ffmpeg makes from a test pattern: H.264 at `size` (`WxH`), 30 fps,
/// `seconds` long, with a 440 Hz AAC tone when `audio`.
pub fn test_clip(seconds: u32, size: &str, audio: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("clip.mp4");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
        .args(["-i", &format!("testsrc2=size={size}:rate=30:duration={seconds}")]);
    if audio {
        cmd.args(["-f", "lavfi", "-i", &format!("sine=frequency=440:duration={seconds}"), "-c:a", "aac", "-shortest"]);
    }
    let ok = cmd
        .args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"])
        .arg(&file)
        .status()
        .expect("ffmpeg")
        .success();
    assert!(ok, "ffmpeg could not make the test clip");
    std::fs::read(&file).expect("clip")
}

/// Runs `tests/browser/play.mjs` with `args` (`--url ... --seconds ...`); returns its report.
pub fn play_report(args: &[&str]) -> serde_json::Value {
    let out = Command::new("node")
        .arg("tests/browser/play.mjs")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("node tests/browser/play.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}
