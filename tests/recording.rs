//! Live to VOD on the real server: a recorded broadcast (with a reconnect inside the offline
//! grace) becomes one video in the catalog, playable like an upload, with a discontinuity where
//! the publisher came back; the broadcast is listed with its recording; a server killed
//! mid-stream finishes the recording from what it had packaged when it starts again.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn api(server: &Server, path: &str) -> Value {
    client().get(server.url(path)).bearer_auth(ADMIN_TOKEN).send().unwrap().json().unwrap()
}

fn broadcasts(server: &Server) -> Vec<Value> {
    api(server, "/api/streams/main/broadcasts")["items"].as_array().unwrap().clone()
}

#[test]
fn a_recorded_broadcast_with_a_reconnect_becomes_one_playable_video() {
    let server = Server::start_with(&[("OXCAST_RECORD", "true"), ("OXCAST_DEFAULT_PROFILE", "passthrough")]);
    let url = format!("{}/{}", server.rtmp, server.default_key);
    let mut first = ffmpeg_push(&url, 6, &[]);
    first.wait_exit(Duration::from_secs(30));
    // Back within the 3 s grace: the same broadcast, the same recording.
    std::thread::sleep(Duration::from_millis(800));
    let mut second = ffmpeg_push(&url, 5, &[]);
    wait_for("the broadcast to be on air", Duration::from_secs(20), || {
        broadcasts(&server).first().is_some_and(|b| b["ended_at"].is_null())
    });
    second.wait_exit(Duration::from_secs(30));
    wait_for("the broadcast to end after the grace", Duration::from_secs(30), || {
        broadcasts(&server).first().is_some_and(|b| !b["ended_at"].is_null())
    });
    let list = broadcasts(&server);
    assert_eq!(list.len(), 1, "one broadcast across the reconnect: {list:?}");
    let id = list[0]["video_id"].as_str().expect("recorded").to_owned();
    wait_for("the recording to be ready", Duration::from_secs(30), || {
        api(&server, &format!("/api/videos/{id}"))["status"] == "ready"
    });
    let v = api(&server, &format!("/api/videos/{id}"));
    assert_eq!((v["title"].as_str(), v["privacy"].as_str()), (Some("main"), Some("public")), "{v}");
    let duration = v["duration_ms"].as_f64().unwrap() / 1000.0;
    assert!((9.0..=12.5).contains(&duration), "about 11 s recorded: {v}");

    let master = parse_master(&get_text(&server.url(&format!("/vod/{id}/index.m3u8"))).1);
    assert_eq!(master.variants.len(), 1, "passthrough: the source only");
    let (status, text) = get_text(&server.url(&format!("/vod/{id}/video/index.m3u8")));
    assert_eq!(status, 200);
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.trim_end().ends_with("#EXT-X-ENDLIST"), "{text}");
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY").count(), 1, "the reconnect: {text}");
    assert!(text.contains("#EXT-X-MAP:URI=\"init-2.mp4\""), "{text}");
    // The first session's segments decode, each from a keyframe.
    let playlist = parse_media(&text);
    let dir = tempfile::tempdir().unwrap();
    let init = get_bytes(&server.url(&format!("/vod/{id}/video/init.mp4")));
    let mut whole = vec![init.clone()];
    for segment in playlist.segments.iter().take_while(|s| !s.discontinuity) {
        whole.push(get_bytes(&server.url(&format!("/vod/{id}/video/{}", segment.uri))));
    }
    let p = probe(&write_file(dir.path(), "first.mp4", &whole));
    assert!(p.first_packet_key && p.frames == p.packets && p.frames >= 120, "{p:?}");
    assert_eq!(p.codec, "h264");
}

#[test]
fn a_server_killed_mid_broadcast_keeps_what_it_had_recorded() {
    let env = [("OXCAST_RECORD", "true"), ("OXCAST_DEFAULT_PROFILE", "passthrough")];
    let server = Server::start_with(&env);
    let _publisher = ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 30, &[]);
    wait_for("a few recorded segments", Duration::from_secs(30), || {
        broadcasts(&server).first().and_then(|b| b["video_id"].as_str().map(str::to_owned)).is_some_and(|id| {
            let (status, text) = get_text(&server.url(&format!("/vod/{id}/video/index.m3u8")));
            status == 200 && text.matches("#EXTINF").count() >= 3
        })
    });
    let id = broadcasts(&server)[0]["video_id"].as_str().unwrap().to_owned();
    let server = server.kill_and_restart(&env);
    let v = api(&server, &format!("/api/videos/{id}"));
    assert_eq!(v["status"], "ready", "{v}\n{}", server.log());
    assert!(v["duration_ms"].as_f64().unwrap() >= 2900.0, "{v}");
    let (_, text) = get_text(&server.url(&format!("/vod/{id}/video/index.m3u8")));
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.trim_end().ends_with("#EXT-X-ENDLIST"), "{text}");
    assert!(!broadcasts(&server)[0]["ended_at"].is_null(), "the cut broadcast is ended");
}
