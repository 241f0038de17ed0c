//! Real H.264/AAC from GStreamer encoders through a live session into a collecting sink.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use gst::prelude::*;
use oxcast_media::{AudioConfig, Codec, Frame, Timestamp, TrackConfig, VideoConfig, hub};
use oxcast_transcode::{CmafPart, CmafSink, Ladder, LiveSessionConfig, RenditionInfo, SegmenterConfig, VideoDetails};

#[derive(Default)]
struct Collected {
    sessions: Vec<Vec<RenditionInfo>>,
    inits: Vec<(String, usize, Option<VideoDetails>)>,
    parts: Vec<(String, CmafPart)>,
    ended: usize,
    failures: Vec<String>,
}

#[derive(Default)]
struct Collector(Mutex<Collected>);

impl CmafSink for Collector {
    fn session_started(&self, renditions: &[RenditionInfo]) {
        self.0.lock().unwrap().sessions.push(renditions.to_vec());
    }
    fn init_segment(&self, rendition: &str, data: Bytes, video: Option<VideoDetails>) {
        self.0.lock().unwrap().inits.push((rendition.into(), data.len(), video));
    }
    fn part(&self, rendition: &str, part: CmafPart) {
        self.0.lock().unwrap().parts.push((rendition.into(), part));
    }
    fn session_ended(&self) {
        self.0.lock().unwrap().ended += 1;
    }
    fn pipeline_failed(&self, error: &str) {
        self.0.lock().unwrap().failures.push(error.into());
    }
}

/// Encodes `seconds` of test video (30 fps, keyframe every 30 frames) and AAC audio.
fn encode(seconds: u32, bframes: u32) -> (VideoConfig, AudioConfig, Vec<Frame>) {
    oxcast_transcode::init().unwrap();
    let v = format!(
        "videotestsrc num-buffers={} ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! x264enc key-int-max=30 tune=zerolatency speed-preset=ultrafast bframes={bframes} ! video/x-h264,profile=main ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false",
        seconds * 30,
    );
    let a = format!(
        "audiotestsrc num-buffers={} samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! audio/mpeg,stream-format=raw ! appsink name=sink sync=false",
        seconds * 47
    );
    let (vcaps, mut frames) = run_encoder(&v, Codec::H264);
    let (acaps, audio) = run_encoder(&a, Codec::Aac);
    frames.extend(audio);
    frames.sort_by_key(|f| f.dts);
    let codec_data = |caps: &gst::Caps| {
        let buf = caps.structure(0).unwrap().get::<gst::Buffer>("codec_data").unwrap();
        Bytes::copy_from_slice(buf.map_readable().unwrap().as_slice())
    };
    let video = VideoConfig { codec: Codec::H264, avcc: codec_data(&vcaps) };
    let audio = AudioConfig::from_aac_asc(codec_data(&acaps)).unwrap();
    (video, audio, frames)
}

fn run_encoder(desc: &str, codec: Codec) -> (gst::Caps, Vec<Frame>) {
    let pipeline = gst::parse::launch(desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    let mut caps = None;
    // Encoders start their clocks anywhere (x264enc at 1000 h): rebase on the first PTS.
    let mut origin = None;
    while let Ok(sample) = sink.pull_sample() {
        caps.get_or_insert_with(|| sample.caps().unwrap().to_owned());
        let b = sample.buffer().unwrap();
        let raw_pts = b.pts().unwrap().nseconds() as i64;
        let origin = *origin.get_or_insert(raw_pts);
        let pts = raw_pts - origin;
        let dts = b.dts().map(|d| d.nseconds() as i64 - origin).unwrap_or(pts);
        frames.push(Frame {
            codec,
            dts: Timestamp::from_nanos(dts),
            pts: Timestamp::from_nanos(pts),
            keyframe: !b.flags().contains(gst::BufferFlags::DELTA_UNIT),
            payload: Bytes::copy_from_slice(b.map_readable().unwrap().as_slice()),
            received_at: SystemTime::now(),
        });
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (caps.unwrap(), frames)
}

/// Runs one live session over `frames` to the end and returns what the sink collected.
fn run_session(
    segmenter: SegmenterConfig,
    video: VideoConfig,
    audio: AudioConfig,
    frames: Vec<Frame>,
) -> Arc<Collector> {
    let publisher = hub(4096);
    let sub = publisher.subscribe();
    let sink = Arc::new(Collector::default());
    let config = LiveSessionConfig { stream: "t".into(), segmenter, ladder: Ladder::passthrough() };
    let session = oxcast_transcode::spawn_live_session(config, sub, sink.clone(), None).unwrap();
    publisher.send_config(TrackConfig::Video(video));
    publisher.send_config(TrackConfig::Audio(audio));
    for f in frames {
        publisher.send_frame(f);
    }
    drop(publisher);
    session.join();
    sink
}

#[test]
fn passthrough_session_cuts_aligned_parts_and_segments() {
    let (video, audio, frames) = encode(5, 2);
    let segmenter = SegmenterConfig { part_target: Duration::from_millis(200), segment_target: Duration::from_secs(1) };
    let sink = run_session(segmenter, video, audio, frames);

    let c = sink.0.lock().unwrap();
    assert!(c.failures.is_empty(), "{:?}", c.failures);
    assert_eq!(c.sessions.len(), 1);
    assert_eq!(c.ended, 1);
    let renditions: Vec<&str> = c.sessions[0].iter().map(|r| r.id.as_str()).collect();
    assert_eq!(renditions, ["video", "audio"]);
    assert!(c.sessions[0][0].codecs.starts_with("avc1.4d"), "{}", c.sessions[0][0].codecs);
    assert_eq!(c.sessions[0][1].codecs, "mp4a.40.2");
    println!("inits {:?}", c.inits);
    for (r, p) in c.parts.iter().take(12) {
        println!(
            "{r} start={:?} dur={:?} seg={} ind={} len={}",
            p.start,
            p.duration,
            p.segment_start,
            p.independent,
            p.data.len()
        );
    }
    assert_eq!(c.inits.len(), 2);
    let vinit = c.inits.iter().find(|i| i.0 == "video").unwrap();
    let details = vinit.2.as_ref().expect("video details");
    assert!(details.codecs.as_deref().is_some_and(|c| c.starts_with("avc1.4d")), "{details:?}");
    assert_eq!((details.width, details.height), (320, 240));

    for rendition in ["video", "audio"] {
        let parts: Vec<&CmafPart> = c.parts.iter().filter(|p| p.0 == rendition).map(|p| &p.1).collect();
        let total: Duration = parts.iter().map(|p| p.duration).sum();
        assert!(total > Duration::from_millis(4800), "{rendition}: {total:?}");
        // B-frames (reorder delay of 2 frames here) stretch the last part of a GOP by up to a frame.
        let reorder_slack = if rendition == "video" { Duration::from_millis(34) } else { Duration::ZERO };
        for p in &parts {
            assert!(p.duration <= Duration::from_millis(201) + reorder_slack, "{rendition} part {:?}", p.duration);
            assert!(p.last_frame_received.is_some());
        }
        let segment_starts: Vec<Duration> = parts.iter().filter(|p| p.segment_start).map(|p| p.start).collect();
        println!("{rendition}: {} parts, segments at {segment_starts:?}", parts.len());
        assert_eq!(segment_starts.len(), 5, "{rendition}: {segment_starts:?}");
        // Every segment's first part is independent and starts within an audio frame of the video
        // keyframe's presentation time (keyframes every second, PTS = DTS + 66.7 ms).
        for (i, s) in segment_starts.iter().enumerate() {
            let expected = Duration::from_secs(i as u64) + Duration::from_nanos(66_666_666);
            let diff = s.abs_diff(expected);
            assert!(diff < Duration::from_millis(22), "{rendition} segment {i} at {s:?}");
        }
        assert!(parts.iter().filter(|p| p.segment_start).all(|p| p.independent));
        if rendition == "video" {
            assert!(parts.iter().filter(|p| !p.segment_start).all(|p| !p.independent));
        }
    }
}

/// Some publishers repeat a timestamp under load; h264parse then emits a buffer without PTS and
/// cmafmux refuses it. The session must keep going with every frame.
#[test]
fn repeated_publisher_timestamps_do_not_break_the_pipeline() {
    let (video, audio, mut frames) = encode(3, 0);
    let video_indices: Vec<usize> =
        frames.iter().enumerate().filter(|(_, f)| f.codec == Codec::H264).map(|(i, _)| i).collect();
    for pair in video_indices.windows(2).skip(10).step_by(7) {
        let (prev_dts, prev_pts) = (frames[pair[0]].dts, frames[pair[0]].pts);
        if !frames[pair[1]].keyframe {
            frames[pair[1]].dts = prev_dts;
            frames[pair[1]].pts = prev_pts;
        }
    }
    let sink = run_session(SegmenterConfig::default(), video, audio, frames);
    let c = sink.0.lock().unwrap();
    assert!(c.failures.is_empty(), "{:?}", c.failures);
    assert_eq!(c.sessions.len(), 1, "no restart");
    let video_time: Duration = c.parts.iter().filter(|p| p.0 == "video").map(|p| p.1.duration).sum();
    assert!(video_time > Duration::from_millis(2900), "{video_time:?}");
}
