//! `oxcast worker`: a node that only processes uploads. It shares the database and the media
//! storage of the serving nodes (PostgreSQL and S3 for several machines), claims
//! `process_video` jobs from the durable queue as its workers come free (so any number of
//! worker processes split the queue, and a job a killed node held is taken again once its
//! lease runs out), and listens on nothing.

use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::serve::{open_media, open_store, processor};

/// How long a stopping worker gives its running jobs to wind down (their leases let another
/// node take them again either way).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Processes jobs with `config.vod.workers` workers (at least one) until `shutdown`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    oxcast_transcode::init().context("GStreamer")?;
    let store = open_store(&config).await?;
    let media = open_media(&config).await?;
    let processor = processor(&config, &store, &media);
    let workers = config.vod.workers.max(1);
    let tracker = TaskTracker::new();
    for _ in 0..workers {
        tracker.spawn(processor.clone().run(shutdown.clone()));
    }
    // No /metrics here: the log says when the database or storage goes away and comes back.
    tracker.spawn(crate::health::watch(crate::health::ServiceHealth::new(&store, &media, None), shutdown.clone()));
    tracker.close();
    println!(
        "oxcast worker: {workers} processing worker(s) on {} with {} storage; waiting for jobs.",
        oxcast_store::redact_url(&config.database_url()),
        match config.storage.backend {
            crate::config::StorageBackend::Local => "local",
            crate::config::StorageBackend::S3 => "S3",
        }
    );
    shutdown.cancelled().await;
    tracing::info!("worker stopping");
    if tokio::time::timeout(STOP_TIMEOUT, tracker.wait()).await.is_err() {
        anyhow::bail!("processing workers still running after {} s", STOP_TIMEOUT.as_secs());
    }
    Ok(())
}
