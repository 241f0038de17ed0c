//! Preload hints always come true, on the real server: a client that does what a low-latency
//! player does (blocking playlist reload at the next part, then a GET of the hinted part ahead of
//! time) never gets a 404 for a hint, across many segment boundaries, and the hinted URI is
//! the part that comes next, including when that part opens a new segment. Once with a
//! zerolatency source (no B-frames), once with x264's defaults (B-frames, irregular parts).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Follows `url`'s hints until `boundaries` of them opened a new segment; returns how many
/// hints were followed. Panics on a hint that is not served or not the next part.
fn follow_hints(url: &str, boundaries: usize) -> usize {
    get_when_ready(url, Duration::from_secs(20));
    let mut text = String::new();
    wait_for("the first part", Duration::from_secs(20), || {
        text = get_text(url).1;
        text.contains("#EXT-X-PRELOAD-HINT")
    });
    let (mut followed, mut crossed) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while crossed < boundaries {
        assert!(Instant::now() < deadline, "only {crossed} boundaries in 60 s ({followed} hints)");
        let hint = low_latency_tags(&text).preload_hint.expect("a live playlist has a preload hint");
        let part_url = format!("{}/{hint}", url.rsplit_once('/').unwrap().0);
        // Asked ahead of time, like hls.js: the server holds it until the part exists.
        let response = client().get(&part_url).send().unwrap();
        assert_eq!(response.status().as_u16(), 200, "hint {hint} after {followed} hints, {crossed} boundaries");
        assert!(!response.bytes().unwrap().is_empty());
        // The next playlist lists the hinted part as the part after the previous newest one.
        let (msn, part) = next_part_position(&text);
        let next = get_text(&format!("{url}?_HLS_msn={msn}&_HLS_part={part}"));
        assert_eq!(next.0, 200);
        text = next.1;
        let segments = segment_parts(&text);
        let (index, position) = segments
            .iter()
            .enumerate()
            .find_map(|(i, (_, parts))| parts.iter().position(|p| *p == hint).map(|at| (i, at)))
            .unwrap_or_else(|| panic!("hinted {hint} is not in the next playlist:\n{text}"));
        if position == 0 && index > 0 {
            crossed += 1; // the hinted part turned out to open a segment
        }
        followed += 1;
    }
    followed
}

#[test]
fn preload_hints_come_true_across_segment_boundaries() {
    for (source, args) in [("zerolatency", vec!["-tune", "zerolatency"]), ("B-frames", vec!["-bf", "3"])] {
        let server = Server::start_with(&[("OXCAST_DEFAULT_PROFILE", "passthrough")]);
        let _publisher = ffmpeg_push(&format!("{}/{}", server.rtmp, server.default_key), 40, &args);
        let followed = follow_hints(&server.url("/live/main/video/index.m3u8"), 8);
        eprintln!("{source}: followed {followed} hints over 8 segment boundaries, none refused");
        assert!(followed >= 8 * 3, "{source}: {followed} hints for 8 one-second segments");
    }
}
