//! Files made by ffmpeg on the fly, probed and encoded through `oxcast_transcode::file` into a
//! collecting sink: the plan, the segment grid, stills, and the reasons bad files get.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use oxcast_transcode::file::{self, FileError, FilePlan, FileSource, VodSink};
use oxcast_transcode::{Ladder, VideoDetails};

struct InMemory(Bytes);

impl FileSource for InMemory {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        let from = (offset as usize).min(self.0.len());
        Ok(self.0.slice(from..(from + len).min(self.0.len())))
    }
}

#[derive(Default)]
struct Collected {
    inits: Vec<(String, Option<String>, Option<VideoDetails>)>,
    segments: Vec<(String, usize, Duration, Duration)>,
}

#[derive(Default)]
struct Collector(Mutex<Collected>);

impl VodSink for Collector {
    fn init_segment(&self, rendition: &str, _data: Bytes, codecs: Option<String>, video: Option<VideoDetails>) {
        self.0.lock().unwrap().inits.push((rendition.into(), codecs, video));
    }
    fn segment(&self, rendition: &str, data: Bytes, start: Duration, duration: Duration) {
        self.0.lock().unwrap().segments.push((rendition.into(), data.len(), start, duration));
    }
}

/// An ffmpeg-made file: `input` are lavfi/encoder arguments, `ext` the container.
fn make_file(args: &str, ext: &str) -> Bytes {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("in.{ext}"));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"]).args(args.split_whitespace()).arg(&path);
    let status = cmd.status().expect("ffmpeg");
    assert!(status.success(), "ffmpeg {args}");
    std::fs::read(&path).unwrap().into()
}

fn plan_for(info: &file::SourceInfo) -> FilePlan {
    let v = info.video.as_ref().unwrap();
    FilePlan {
        rungs: Ladder::vod().plan_file(v.display_width, v.display_height),
        preset: "ultrafast".into(),
        segment: Duration::from_secs(2),
        audio_bitrate_kbps: 96,
    }
}

#[test]
fn an_mp4_becomes_aligned_renditions_with_a_poster_and_a_storyboard() {
    oxcast_transcode::init().unwrap();
    let data = make_file(
        "-f lavfi -i testsrc2=size=854x480:rate=30:duration=5 -f lavfi -i sine=frequency=440:duration=5 \
         -c:v libx264 -preset ultrafast -g 60 -pix_fmt yuv420p -c:a aac -shortest",
        "mp4",
    );
    let info = file::probe(Box::new(InMemory(data.clone()))).unwrap();
    let video = info.video.clone().unwrap();
    assert_eq!((video.width, video.height, video.rotation), (854, 480, 0));
    assert_eq!(video.frame_rate, Some(30.0));
    assert!(info.duration_ms.unwrap().abs_diff(5000) < 100, "{info:?}");
    assert_eq!(info.audio.as_ref().map(|a| a.sample_rate), Some(44_100));
    assert!(info.container.as_deref().unwrap_or_default().contains("MP4"), "{info:?}");

    let plan = plan_for(&info);
    assert_eq!(plan.rungs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["480p", "360p"]);
    let sink = Arc::new(Collector::default());
    let progress = Arc::new(AtomicU64::new(0));
    let done = file::transcode_file(
        Box::new(InMemory(data)),
        &info,
        &plan,
        sink.clone(),
        progress.clone(),
        &AtomicBool::new(false),
    )
    .unwrap();
    let got = sink.0.lock().unwrap();
    let mut names: Vec<&str> = got.inits.iter().map(|(r, ..)| r.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["360p", "480p", "audio"]);
    for (rendition, codecs, details) in &got.inits {
        let codecs = codecs.as_deref().unwrap_or_default();
        match rendition.as_str() {
            "audio" => assert_eq!(codecs, "mp4a.40.2"),
            _ => {
                assert!(codecs.starts_with("avc1."), "{codecs}");
                let d = details.as_ref().unwrap();
                assert_eq!(d.height, if rendition == "480p" { 480 } else { 360 });
            }
        }
    }
    // The same grid on every video rendition: 2 s, 2 s, 1 s.
    let starts = |r: &str| -> Vec<u128> {
        got.segments.iter().filter(|(n, ..)| n == r).map(|(_, _, s, _)| s.as_millis()).collect()
    };
    assert_eq!(starts("480p"), starts("360p"));
    assert_eq!(starts("480p").len(), 3, "{:?}", got.segments);
    let total: Duration = got.segments.iter().filter(|(n, ..)| n == "480p").map(|s| s.3).sum();
    assert!(total.as_millis().abs_diff(5000) <= 34, "{total:?}");
    assert!(done.encoded.as_millis().abs_diff(5000) <= 34, "{:?}", done.encoded);
    let poster = done.poster.unwrap();
    assert_eq!(&poster[..2], &[0xff, 0xd8], "a JPEG");
    let board = done.storyboard.unwrap();
    assert_eq!((board.tile_width, board.tile_height), (160, 88), "854x480 scaled to 160 wide, even");
    assert_eq!(board.tiles.len(), 3, "one every 2 s of 5 s");
    assert_eq!(&board.jpeg[..2], &[0xff, 0xd8]);
}

#[test]
fn a_rotated_phone_file_is_planned_upright() {
    oxcast_transcode::init().unwrap();
    // ffmpeg 5 writes the rotation only when copying the stream.
    let plain = make_file("-f lavfi -i testsrc2=size=640x360:rate=30:duration=2 -c:v libx264 -preset ultrafast", "mp4");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.mp4"), &plain).unwrap();
    let input = dir.path().join("plain.mp4");
    let data = make_file(&format!("-i {} -c copy -metadata:s:v:0 rotate=90", input.display()), "mp4");
    let info = file::probe(Box::new(InMemory(data))).unwrap();
    let video = info.video.unwrap();
    // ffmpeg's `rotate=90` tag is a display matrix turning the picture 90° counterclockwise
    // (ffprobe says rotation=90), which is 270° clockwise; GStreamer's videoflip then shows it
    // the way ffmpeg's autorotate does (checked by eye against ffmpeg's first frame).
    assert_eq!(video.rotation, 270, "{video:?}");
    assert_eq!((video.display_width, video.display_height), (360, 640));
    assert!(info.audio.is_none());
}

#[test]
fn bad_files_get_reasons_a_person_understands() {
    oxcast_transcode::init().unwrap();
    let garbage: Bytes =
        (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>().into();
    assert_eq!(file::probe(Box::new(InMemory(garbage))).unwrap_err(), FileError::NotMedia);
    assert_eq!(file::probe(Box::new(InMemory(Bytes::new()))).unwrap_err(), FileError::NotMedia);
    // An MP4 cut in half with its index at the end has no index at all.
    let whole = make_file("-f lavfi -i testsrc2=size=320x240:rate=30:duration=2 -c:v libx264 -preset ultrafast", "mp4");
    let cut = whole.slice(..whole.len() / 2);
    let err = file::probe(Box::new(InMemory(cut))).unwrap_err();
    assert!(matches!(err, FileError::Damaged(_) | FileError::NotMedia), "{err:?}");
    assert!(!err.to_string().is_empty());
}
