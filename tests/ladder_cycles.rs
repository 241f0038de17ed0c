//! Publishing and unpublishing a transcoded stream again and again must not leak threads or
//! memory. In its own test binary so that it runs alone: other heavy tests beside it change how
//! the allocator behaves and make the memory reading meaningless.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

/// Threads and resident memory of a process, from /proc.
fn threads_and_rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap()
    };
    (field("Threads:"), field("VmRSS:") * 1024)
}

#[test]
fn publish_cycles_leave_threads_and_memory_flat() {
    let server = Server::start_with(&[("OXCAST_OFFLINE_GRACE_SECONDS", "1")]);
    let url = format!("{}/{}", server.rtmp, server.default_key);
    let cycle = || {
        // 854x480 -> the 360p rung is encoded: every cycle builds and tears down a ladder.
        let mut p = ffmpeg_push_sized(&url, 2, "854x480", &["-tune", "zerolatency"]);
        assert!(p.wait_exit(Duration::from_secs(20)).is_some());
        wait_for("the stream to go offline", Duration::from_secs(15), || {
            stream_status(&server, "main")["state"] == "offline"
        });
        std::thread::sleep(Duration::from_millis(500));
        threads_and_rss(server.pid())
    };
    // Allocator arenas and GStreamer's caches warm up over the first cycles; after that a leaked
    // pipeline (x264 alone holds several MB) would show as a steady climb.
    let samples: Vec<(u64, u64)> = (0..25).map(|_| cycle()).collect();
    eprintln!("threads/rss per cycle: {samples:?}");
    let peak = |range: std::ops::Range<usize>| samples[range].iter().map(|s| s.1).max().unwrap();
    let (early, late) = (peak(10..15), peak(20..25));
    let threads: Vec<u64> = samples[10..].iter().map(|s| s.0).collect();
    assert!(threads.iter().all(|t| *t == threads[0]), "threads changed: {threads:?}");
    assert!(late < early + 16 * 1024 * 1024, "memory grew: peak {early} in cycles 11-15, {late} in 21-25");
    assert!(!server.log().contains("panicked"));
}
