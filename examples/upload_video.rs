//! Uploads a video file to oxcast with the tus protocol, spoken directly (no client library), and
//! resumes by itself when the connection breaks: the file is sent in 8 MiB PATCHes, read from disk
//! as it goes; after an error it asks the server where it stands (`HEAD` → `Upload-Offset`) and
//! carries on from there. Then it follows processing (`GET /api/videos/ID`: stage, progress,
//! playable) until the video is ready and prints where to watch it.
//!
//! ```text
//! cargo run --example upload_video -- http://localhost:8080 TOKEN clip.mp4 ["Title"]
//! ```
//!
//! `TOKEN` is an API token with `videos:write` (`POST /api/tokens` from a login session, or the
//! admin token).

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use anyhow::{Context, bail};

const CHUNK: u64 = 8 * 1024 * 1024;
const TRIES: u32 = 5;

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, token, path, rest @ ..] = args.as_slice() else {
        bail!("usage: upload_video SERVER_URL TOKEN FILE [TITLE]");
    };
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let size = file.metadata()?.len();
    let filename = std::path::Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or("video");
    let title = rest.first().map_or(filename, String::as_str);
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build()?;

    let created = http
        .post(format!("{}/api/uploads", server.trim_end_matches('/')))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", size)
        .header("Upload-Metadata", format!("filename {},title {}", b64(filename), b64(title)))
        .send()?;
    if created.status().as_u16() != 201 {
        bail!("creating the upload: {} {}", created.status(), created.text().unwrap_or_default());
    }
    let location = created.headers().get("location").and_then(|v| v.to_str().ok()).context("no Location")?.to_owned();
    let video = created.headers().get("oxcast-video-id").and_then(|v| v.to_str().ok()).unwrap_or("?").to_owned();
    println!("upload {location} (video {video}), {size} bytes");

    let mut offset = 0u64;
    let mut failures = 0;
    while offset < size {
        let length = CHUNK.min(size - offset);
        let mut chunk = Vec::with_capacity(usize::try_from(length)?);
        file.seek(SeekFrom::Start(offset))?;
        (&mut file).take(length).read_to_end(&mut chunk)?;
        let sent = http
            .patch(&location)
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset)
            .header("Content-Type", "application/offset+octet-stream")
            .body(chunk)
            .send();
        match sent {
            Ok(r) if r.status().as_u16() == 204 => {
                offset = r
                    .headers()
                    .get("upload-offset")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .context("no Upload-Offset")?;
                failures = 0;
                println!("{offset}/{size} bytes ({:.0} %)", offset as f64 * 100.0 / size as f64);
            }
            other => {
                failures += 1;
                if failures > TRIES {
                    bail!("giving up after {TRIES} tries: {other:?}");
                }
                eprintln!("send failed ({other:?}); asking the server where to resume");
                std::thread::sleep(Duration::from_secs(u64::from(failures)));
                let head = http.head(&location).bearer_auth(token).header("Tus-Resumable", "1.0.0").send()?;
                offset = head
                    .headers()
                    .get("upload-offset")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .context("no Upload-Offset")?;
            }
        }
    }
    println!("uploaded: video {video}; processing");
    // Then follow processing until the video is ready (or failed), as a creator's backend would.
    let base = server.trim_end_matches('/');
    let mut last_stage = String::new();
    loop {
        let v: serde_json::Value = http.get(format!("{base}/api/videos/{video}")).bearer_auth(token).send()?.json()?;
        match v["status"].as_str() {
            Some("ready") => {
                println!(
                    "ready: {base}{} (page {base}{})",
                    v["playback_url"].as_str().unwrap_or(""),
                    v["page_url"].as_str().unwrap_or("")
                );
                break;
            }
            Some("failed") => bail!("processing failed: {}", v["error"].as_str().unwrap_or("no reason given")),
            _ => {}
        }
        let stage = format!(
            "{} {:.0} %",
            v["stage"].as_str().unwrap_or("queued"),
            v["progress"].as_f64().unwrap_or(0.0) * 100.0
        );
        if stage != last_stage {
            println!("{stage}{}", if v["playable"] == true { " (playable)" } else { "" });
            last_stage = stage;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}
