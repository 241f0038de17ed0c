//! Video on demand end to end, on the real server: ffmpeg-made files uploaded over tus become
//! HLS renditions that ffprobe decodes whole, with aligned segments that start on keyframes,
//! durations within a frame of the source, nothing upscaled; playback with ranges, CORS and
//! privacy; the page, the embed and oEmbed; bad files end as `failed` with their reason; a
//! matrix of inputs each gives the ladder it should.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::uploads::{stored_upload, tuspy};
use common::*;
use serde_json::Value;

/// Uploads `bytes` in one tus creation-with-upload request; returns the video id.
fn upload(server: &Server, bytes: &[u8], title: &str, privacy: &str) -> String {
    common::uploads::upload_once(server, bytes, &[("filename", "in.bin"), ("title", title), ("privacy", privacy)])
}

fn video(server: &Server, id: &str) -> Value {
    client().get(server.url(&format!("/api/videos/{id}"))).bearer_auth(ADMIN_TOKEN).send().unwrap().json().unwrap()
}

/// Polls until the video is `ready` or `failed`; returns it and whether it was ever playable
/// while still processing.
fn processed(server: &Server, id: &str, timeout: Duration) -> (Value, bool) {
    let mut early = false;
    let mut last = Value::Null;
    wait_for(&format!("video {id} to be processed"), timeout, || {
        last = video(server, id);
        early |= last["status"] == "processing" && last["playable"] == true;
        last["status"] == "ready" || last["status"] == "failed"
    });
    (last, early)
}

/// An ffmpeg-made file in `dir`.
fn make(dir: &Path, name: &str, args: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args.split_whitespace())
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {args}");
    path
}

fn get(server: &Server, path: &str) -> reqwest::blocking::Response {
    client().get(server.url(path)).bearer_auth(ADMIN_TOKEN).send().unwrap()
}

/// A rendition's media playlist and its bytes (init + every segment), checking each segment
/// starts on a keyframe; returns (segment durations, whole-rendition probe).
fn rendition(server: &Server, id: &str, name: &str, dir: &Path) -> (Vec<f64>, Probe) {
    let text = get(server, &format!("/vod/{id}/{name}/index.m3u8")).text().unwrap();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{text}");
    assert!(text.contains("#EXT-X-INDEPENDENT-SEGMENTS") && text.contains("#EXT-X-MAP:URI=\"init.mp4\""), "{text}");
    assert!(text.trim_end().ends_with("#EXT-X-ENDLIST"), "{text}");
    let playlist = parse_media(&text);
    let init = get(server, &format!("/vod/{id}/{name}/init.mp4")).bytes().unwrap().to_vec();
    let mut whole = vec![init.clone()];
    let mut durations = Vec::new();
    for (i, segment) in playlist.segments.iter().enumerate() {
        let bytes = get(server, &format!("/vod/{id}/{name}/{}", segment.uri)).bytes().unwrap().to_vec();
        if name != "audio" {
            let one = write_file(dir, &format!("{name}-{i}.mp4"), &[init.clone(), bytes.clone()]);
            assert!(probe(&one).first_packet_key, "{name} segment {i} starts on a keyframe");
        }
        durations.push(f64::from(segment.duration));
        whole.push(bytes);
    }
    let path = write_file(dir, &format!("{name}.mp4"), &whole);
    (durations, probe(&path))
}

#[test]
fn an_upload_becomes_hls_that_decodes_whole_with_aligned_keyframe_segments() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    // OBS-like: 2 s keyframe interval, 30 fps, AAC.
    let file = make(
        dir.path(),
        "clip.mp4",
        "-f lavfi -i testsrc2=duration=9:size=1280x720:rate=30 -f lavfi -i sine=frequency=440:duration=9 \
         -c:v libx264 -preset veryfast -g 60 -c:a aac -shortest",
    );
    let id = upload(&server, &std::fs::read(&file).unwrap(), "A test clip", "unlisted");
    let (v, _) = processed(&server, &id, Duration::from_secs(180));
    assert_eq!(v["status"], "ready", "{v}");
    assert_eq!((v["playable"].as_bool(), v["progress"].as_f64()), (Some(true), Some(1.0)));
    assert_eq!(v["source"]["video"]["width"], 1280, "{v}");
    assert_eq!(v["source"]["video"]["frame_rate"], 30.0);
    assert_eq!(v["source"]["audio"]["channels"], 1);
    assert!(v["source"]["duration_ms"].as_u64().unwrap().abs_diff(9000) < 50, "{v}");
    assert!(v["duration_ms"].as_u64().unwrap().abs_diff(9000) <= 34, "{v}");

    let master = parse_master(&get(&server, v["playback_url"].as_str().unwrap()).text().unwrap());
    let heights: Vec<u64> = master.variants.iter().map(|x| x.resolution.unwrap().height).collect();
    assert_eq!(heights, [720, 480, 360], "nothing above the source, the profile's rungs below");
    for variant in &master.variants {
        let codecs = variant.codecs.as_deref().unwrap();
        assert!(codecs.starts_with("avc1.64") && codecs.ends_with(",mp4a.40.2"), "{codecs}");
        let average = variant.average_bandwidth.unwrap();
        assert!(average > 100_000 && average <= variant.bandwidth, "{variant:?}");
        assert_eq!(variant.frame_rate, Some(30.0));
        assert_eq!(variant.audio.as_deref(), Some("audio"));
    }
    assert!(master.variants[0].bandwidth > master.variants[2].bandwidth);
    assert_eq!(master.alternatives.len(), 1, "one audio rendition");

    let mut grids = Vec::new();
    for (name, width, height) in [("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)] {
        let (durations, p) = rendition(&server, &id, name, dir.path());
        assert_eq!((p.codec.as_str(), p.width, p.height), ("h264", Some(width), Some(height)), "{name}");
        assert_eq!(p.frames, p.packets, "{name}: every frame decodes");
        assert_eq!(p.packets, 270, "{name}: 9 s at 30 fps");
        let total: f64 = durations.iter().sum();
        assert!((total - 9.0).abs() <= 1.0 / 30.0, "{name}: {total} s");
        assert!((p.duration + 1.0 / 30.0 - 9.0).abs() <= 1.0 / 30.0, "{name}: {} s", p.duration);
        grids.push(durations);
    }
    assert!(grids.windows(2).all(|w| w[0] == w[1]), "segments align across renditions: {grids:?}");
    assert_eq!(grids[0], [4.0, 4.0, 1.0]);
    let (_, audio) = rendition(&server, &id, "audio", dir.path());
    assert_eq!(audio.codec, "aac");
    assert!((audio.duration - 9.0).abs() < 0.1, "{}", audio.duration);

    // Stills.
    let poster = get(&server, v["poster_url"].as_str().unwrap());
    assert_eq!(poster.headers()["content-type"], "image/jpeg");
    assert_eq!(&poster.bytes().unwrap()[..2], &[0xff, 0xd8]);
    let vtt = get(&server, v["storyboard_url"].as_str().unwrap()).text().unwrap();
    assert!(vtt.starts_with("WEBVTT\n") && vtt.matches("storyboard.jpg#xywh=").count() == 5, "{vtt}");
    assert_eq!(&get(&server, &format!("/vod/{id}/storyboard.jpg")).bytes().unwrap()[..2], &[0xff, 0xd8]);

    // Byte ranges, caching, CORS; anyone with the link may watch an unlisted video.
    let seg = format!("/vod/{id}/720p/seg-00001.m4s");
    let r = client().get(server.url(&seg)).header("range", "bytes=0-99").send().unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert!(r.headers()["content-range"].to_str().unwrap().starts_with("bytes 0-99/"));
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(r.bytes().unwrap().len(), 100);
    let r = client().get(server.url(&seg)).header("range", "bytes=99999999-").send().unwrap();
    assert_eq!(r.status().as_u16(), 416);
    let head = client().head(server.url(&seg)).send().unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert!(head.headers()["content-length"].to_str().unwrap().parse::<u64>().unwrap() > 1000);
    assert_eq!(client().get(server.url(&format!("/vod/{id}/../../oxcast.db"))).send().unwrap().status().as_u16(), 404);

    // The page, the embed, oEmbed.
    let (status, page) = get_text(&server.url(&format!("/v/{id}")));
    assert_eq!(status, 200);
    assert!(page.contains("<title>A test clip · oxcast</title>") && page.contains("application/json+oembed"));
    assert_eq!(get_text(&server.url(&format!("/embed/v/{id}"))).0, 200);
    let page_url = format!("{}/v/{id}", server.http).replace(':', "%3A").replace('/', "%2F");
    let oembed: Value =
        client().get(server.url(&format!("/oembed?format=json&url={page_url}"))).send().unwrap().json().unwrap();
    assert_eq!((oembed["type"].as_str(), oembed["title"].as_str()), (Some("video"), Some("A test clip")));
    assert!(oembed["html"].as_str().unwrap().contains(&format!("/embed/v/{id}")), "{oembed}");

    // Captions: SRT and WebVTT become subtitle renditions of the multivariant.
    let put_captions = |lang: &str, label: &str, content_type: &str, body: &str| {
        client()
            .put(server.url(&format!("/api/videos/{id}/captions/{lang}?label={label}")))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .unwrap()
    };
    let r = put_captions("en", "English", "application/x-subrip", "1\n00:00:01,000 --> 00:00:03,000\nHello\n");
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text());
    let r = put_captions("fr", "Francais", "text/vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nBonjour\n");
    assert_eq!(r.status().as_u16(), 200);
    let r = put_captions("de", "Deutsch", "text/vtt", "no cues at all");
    assert_eq!(r.status().as_u16(), 400, "{:?}", r.text());
    let with_subs = parse_master(&get(&server, &format!("/vod/{id}/index.m3u8")).text().unwrap());
    let subs: Vec<&str> = with_subs
        .alternatives
        .iter()
        .filter(|a| a.media_type == m3u8_rs::AlternativeMediaType::Subtitles)
        .map(|a| a.language.as_deref().unwrap())
        .collect();
    assert_eq!(subs, ["en", "fr"]);
    assert!(with_subs.variants.iter().all(|v| v.subtitles.as_deref() == Some("subs")));
    let vtt = get(&server, &format!("/vod/{id}/captions/en.vtt"));
    assert!(vtt.headers()["content-type"].to_str().unwrap().starts_with("text/vtt"));
    assert_eq!(vtt.text().unwrap(), "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello\n");
    let sub_playlist = parse_media(&get(&server, &format!("/vod/{id}/captions/en.m3u8")).text().unwrap());
    assert!((f64::from(sub_playlist.segments[0].duration) - 9.0).abs() < 0.1, "spans the video");
    let r =
        client().delete(server.url(&format!("/api/videos/{id}/captions/fr"))).bearer_auth(ADMIN_TOKEN).send().unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let listed: Value = get(&server, &format!("/api/videos/{id}/captions")).json().unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(get(&server, &format!("/vod/{id}/index.m3u8")).text().unwrap().matches("TYPE=SUBTITLES").count(), 1);

    // Private: only the owner.
    let r = client()
        .patch(server.url(&format!("/api/videos/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"privacy": "private"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for path in [format!("/vod/{id}/index.m3u8"), format!("/v/{id}"), seg.clone(), format!("/v/{id}/events")] {
        assert_eq!(client().get(server.url(&path)).send().unwrap().status().as_u16(), 404, "{path}");
    }
    assert_eq!(get(&server, &format!("/vod/{id}/index.m3u8")).status().as_u16(), 200, "the owner may");
    let oembed = client().get(server.url(&format!("/oembed?url=%2Fv%2F{id}"))).send().unwrap();
    assert_eq!(oembed.status().as_u16(), 404);

    // Deleting removes every rendition.
    let r = client().delete(server.url(&format!("/api/videos/{id}"))).bearer_auth(ADMIN_TOKEN).send().unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(!server.data_dir.path().join("media/videos").join(&id).exists());
}

#[test]
fn garbage_and_truncated_uploads_fail_with_their_reason() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let junk = upload(&server, &garbage, "junk", "private");
    let file = make(dir.path(), "whole.mp4", "-f lavfi -i testsrc2=duration=3:size=320x240:rate=30 -c:v libx264");
    let bytes = std::fs::read(&file).unwrap();
    let cut = upload(&server, &bytes[..bytes.len() / 2], "cut", "private");
    let (v, _) = processed(&server, &junk, Duration::from_secs(60));
    assert_eq!(
        (v["status"].as_str(), v["error"].as_str()),
        (Some("failed"), Some("the file is not a video or audio format oxcast can read"))
    );
    let (v, _) = processed(&server, &cut, Duration::from_secs(60));
    assert_eq!(v["status"], "failed", "{v}");
    let reason = v["error"].as_str().unwrap();
    assert!(reason.contains("damaged") || reason.contains("not a video"), "{reason}");
    assert_eq!(get(&server, &format!("/vod/{cut}/index.m3u8")).status().as_u16(), 404);
    // The server is fine: it still answers.
    assert_eq!(get_text(&server.url("/healthz")).0, 200);
}

/// The video renditions an input should give: (name, width, height).
type Ladder = Vec<(&'static str, u64, u64)>;

/// Each input and the ladder it should give: (file, ffmpeg args, video renditions, audio expected).
#[test]
fn a_matrix_of_inputs_each_gives_its_ladder() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let src = |size: &str, secs: u32| format!("-f lavfi -i testsrc2=duration={secs}:size={size}:rate=30");
    let tone = |secs: u32| format!("-f lavfi -i sine=frequency=330:duration={secs}");
    let plain = make(dir.path(), "plain.mp4", &format!("{} -c:v libx264 -preset ultrafast", src("640x360", 2)));
    let cases: Vec<(&str, String, Ladder, bool)> = vec![
        (
            "vp9-opus.mkv",
            format!(
                "{} {} -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus -shortest",
                src("640x360", 2),
                tone(2)
            ),
            vec![("360p", 640, 360)],
            true,
        ),
        (
            "hevc.mov",
            format!("{} -c:v libx265 -preset ultrafast -x265-params log-level=error -tag:v hvc1", src("640x360", 2)),
            vec![("360p", 640, 360)],
            false,
        ),
        (
            "av1-opus.webm",
            format!("{} {} -c:v libsvtav1 -preset 12 -c:a libopus -shortest", src("320x240", 1), tone(1)),
            vec![("240p", 320, 240)],
            true,
        ),
        (
            "1080p60.mp4",
            "-f lavfi -i testsrc2=duration=2:size=1920x1080:rate=60 -c:v libx264 -preset ultrafast -g 120".into(),
            vec![("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)],
            false,
        ),
        ("audio-only.m4a", format!("{} -c:a aac", tone(3)), vec![], true),
        ("odd.mp4", format!("{} -c:v libx264 -preset ultrafast", src("853x479", 2)), vec![("360p", 642, 360)], false),
        (
            "portrait.mp4",
            format!("{} -c:v libx264 -preset ultrafast", src("1080x1920", 1)),
            vec![("1080p", 1080, 1920), ("720p", 720, 1280), ("480p", 480, 854), ("360p", 360, 640)],
            false,
        ),
        (
            "rotated.mp4",
            format!("-i {} -c copy -metadata:s:v:0 rotate=90", plain.display()),
            vec![("360p", 360, 640)],
            false,
        ),
        (
            "small.flv",
            format!("{} {} -c:v libx264 -c:a aac -shortest", src("320x240", 2), tone(2)),
            vec![("240p", 320, 240)],
            true,
        ),
    ];
    let mut ids = Vec::new();
    for (name, args, ..) in &cases {
        let file = make(dir.path(), name, args);
        ids.push(upload(&server, &std::fs::read(&file).unwrap(), name, "public"));
    }
    for ((name, _, ladder, audio), id) in cases.iter().zip(&ids) {
        let (v, _) = processed(&server, id, Duration::from_secs(240));
        assert_eq!(v["status"], "ready", "{name}: {v}");
        let renditions = v["renditions"].as_array().unwrap();
        let videos: Vec<(&str, u64, u64)> = renditions
            .iter()
            .filter(|r| r["kind"] == "video")
            .map(|r| (r["id"].as_str().unwrap(), r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap()))
            .collect();
        assert_eq!(&videos, ladder, "{name}");
        if *name == "1080p60.mp4" {
            let rates: Vec<f64> =
                renditions.iter().filter(|r| r["kind"] == "video").map(|r| r["frame_rate"].as_f64().unwrap()).collect();
            assert_eq!(rates, [60.0, 60.0, 30.0, 30.0], "60 fps kept up to 720p, capped below");
        }
        assert_eq!(renditions.iter().any(|r| r["kind"] == "audio"), *audio, "{name}");
        let master = get(&server, &format!("/vod/{id}/index.m3u8")).text().unwrap();
        assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), ladder.len().max(1), "{name}: {master}");
        let first = ladder.first().map_or("audio", |r| r.0);
        let (_, p) = rendition(&server, id, first, dir.path());
        assert_eq!(p.frames, p.packets, "{name}: everything decodes");
        if let Some((_, w, h)) = ladder.first() {
            assert_eq!((p.width, p.height), (Some(*w), Some(*h)), "{name}");
        }
    }
}

#[test]
fn a_server_killed_mid_upload_and_mid_processing_loses_nothing() {
    let env = [("OXCAST_VOD_LEASE_SECONDS", "5")];
    let server = Server::start_with(&env);
    let dir = tempfile::tempdir().unwrap();
    // Long enough that processing is caught in the middle.
    let file = make(
        dir.path(),
        "long.mp4",
        "-f lavfi -i testsrc2=duration=40:size=1280x720:rate=30 -f lavfi -i sine=frequency=440:duration=40 \
         -c:v libx264 -preset ultrafast -g 60 -c:a aac -shortest",
    );
    let bytes = std::fs::read(&file).unwrap();
    let chunk = (bytes.len() / 4 + 1).to_string();
    let path = file.to_str().unwrap();
    let (code, lines) = tuspy(&[
        "--endpoint",
        &server.url("/api/uploads"),
        "--token",
        ADMIN_TOKEN,
        "--file",
        path,
        "--chunk-size",
        &chunk,
        "--stop-after-chunks",
        "2",
    ]);
    assert_eq!(code, Some(3), "{lines:?}");
    let url = lines.last().unwrap()["url"].as_str().unwrap().to_owned();
    let id = url.rsplit('/').next().unwrap().to_owned();

    // SIGKILL with half the file in: the new server has every byte that arrived.
    let server = server.kill_and_restart(&env);
    let url = server.url(&format!("/api/uploads/{id}"));
    let v = video(&server, &id);
    assert_eq!(
        (v["status"].as_str(), v["bytes_received"].as_u64()),
        (Some("uploading"), Some(2 * chunk.parse::<u64>().unwrap()))
    );
    let (code, lines) = tuspy(&[
        "--endpoint",
        &server.url("/api/uploads"),
        "--token",
        ADMIN_TOKEN,
        "--file",
        path,
        "--chunk-size",
        &chunk,
        "--resume-url",
        &url,
    ]);
    assert_eq!(code, Some(0), "{lines:?}");

    // SIGKILL while encoding: the restarted server takes the job again once its lease ran out.
    wait_for("encoding to be under way", Duration::from_secs(120), || {
        let v = video(&server, &id);
        v["stage"] == "encoding" && v["progress"].as_f64().unwrap_or(0.0) > 0.1
    });
    let server = server.kill_and_restart(&env);
    let (v, _) = processed(&server, &id, Duration::from_secs(240));
    assert_eq!(v["status"], "ready", "{v}\n{}", server.log());
    assert!(server.log().contains(&format!("processing video={id}")), "the new server processed it");
    let (durations, p) = rendition(&server, &id, "360p", dir.path());
    assert_eq!(p.frames, 1200, "40 s at 30 fps, once: nothing lost, nothing doubled");
    assert!((durations.iter().sum::<f64>() - 40.0).abs() <= 1.0 / 30.0, "{durations:?}");
    assert!(stored_upload(&server, &id) == bytes, "the upload is the file, byte for byte");
}

#[test]
fn a_video_deleted_while_processing_stops_and_leaves_nothing_behind() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let file = make(
        dir.path(),
        "long.mp4",
        "-f lavfi -i testsrc2=duration=40:size=1280x720:rate=30 -c:v libx264 -preset ultrafast -g 60",
    );
    let id = upload(&server, &std::fs::read(&file).unwrap(), "short-lived", "private");
    wait_for("encoding", Duration::from_secs(60), || {
        let v = video(&server, &id);
        v["stage"] == "encoding" && v["progress"].as_f64().unwrap_or(0.0) > 0.05
    });
    let r = client().delete(server.url(&format!("/api/videos/{id}"))).bearer_auth(ADMIN_TOKEN).send().unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(
        server.wait_for_log("video deleted while processing; stopped", Duration::from_secs(30)),
        "{}",
        server.log()
    );
    assert!(!server.data_dir.path().join("media/videos").join(&id).exists(), "no renditions left behind");
    assert!(!server.data_dir.path().join("media/uploads").join(&id).exists(), "no upload left behind");
}
