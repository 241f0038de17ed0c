//! Publishes a synthetic test stream (moving test pattern, a tone, a clock overlay) to an RTMP
//! server, the way OBS would: H.264 with a 1 s keyframe interval and AAC.
//!
//! ```text
//! cargo run --example push_test_stream -- rtmp://localhost:1935/live/STREAM_KEY [SECONDS]
//! ```

use anyhow::{Context, bail};
use gst::prelude::*;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        bail!("usage: push_test_stream rtmp://HOST:PORT/live/STREAM_KEY [SECONDS]");
    };
    let seconds: u32 = args.next().map(|s| s.parse()).transpose().context("SECONDS")?.unwrap_or(3600);
    gst::init()?;
    let frames = seconds * 30;
    let audio_buffers = seconds * 48_000 / 1024;
    let description = format!(
        "videotestsrc is-live=true pattern=smpte num-buffers={frames} \
           ! video/x-raw,format=I420,width=1280,height=720,framerate=30/1 \
           ! clockoverlay time-format=\"%H:%M:%S\" \
           ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=30 bitrate=2500 \
           ! h264parse ! queue ! mux. \
         audiotestsrc is-live=true wave=sine freq=440 num-buffers={audio_buffers} samplesperbuffer=1024 \
           ! audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=128000 ! aacparse ! queue ! mux. \
         flvmux name=mux streamable=true ! rtmp2sink location=\"{url}\""
    );
    let pipeline =
        gst::parse::launch(&description)?.downcast::<gst::Pipeline>().map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    pipeline.set_state(gst::State::Playing)?;
    println!("publishing to {url} for {seconds} s (Ctrl-C to stop)");
    let bus = pipeline.bus().context("pipeline bus")?;
    let result = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::NONE) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(anyhow::anyhow!("{} ({:?})", e.error(), e.debug()));
            }
            _ => {}
        }
    };
    pipeline.set_state(gst::State::Null)?;
    result
}
