//! `search-bench load`: catalog.jsonl → an oxcast store, through `oxcast_store`'s API.
//!
//! Each video goes the way an upload does in the store (created, processing, ready), then gets
//! the catalog's publication time and view count. The uploaders are the catalog's owners.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use oxcast_store::{NewUser, NewVideo, Privacy, Processed, Role, Store, VideoDetails};

use crate::catalog::Row;

#[derive(clap::Args)]
pub struct Args {
    /// catalog.jsonl from corpus.py.
    #[arg(long)]
    catalog: std::path::PathBuf,
    /// The store's URL, as in oxcast's config (`sqlite://DIR/oxcast.db?mode=rwc`, `postgres://...`).
    #[arg(long)]
    store: String,
    /// Videos written at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let rows = crate::catalog::read(&args.catalog)?;
    let store = Arc::new(Store::open(&args.store).await?);

    let mut owners: HashMap<String, String> = HashMap::new();
    for row in &rows {
        if owners.contains_key(&row.owner) {
            continue;
        }
        let new = |display| NewUser { name: &row.owner, display_name: display, password: None, role: Role::Creator };
        let user = match store.users().create(new(Some(&row.owner_display))).await {
            Ok(user) => user,
            // A maintainer's name the display-name rules refuse: the login stands in.
            Err(_) => store.users().create(new(None)).await?,
        };
        owners.insert(row.owner.clone(), user.id);
    }

    let owners = Arc::new(owners);
    let mut done = 0usize;
    let mut writes = futures_util::stream::iter(rows.into_iter().map(|row| {
        let store = store.clone();
        let owners = owners.clone();
        async move { add(&store, &owners[&row.owner], row).await }
    }))
    .buffer_unordered(args.concurrency.max(1));
    while let Some(result) = writes.next().await {
        result?;
        done += 1;
        if done.is_multiple_of(10_000) {
            eprintln!("load: {done} videos, {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    println!(
        "{}",
        serde_json::json!({"videos": done, "owners": owners.len(), "seconds": started.elapsed().as_secs_f64()})
    );
    Ok(())
}

async fn add(store: &Store, owner_id: &str, row: Row) -> anyhow::Result<()> {
    let details = VideoDetails {
        title: row.title,
        description: row.description,
        tags: row.tags,
        category: row.category,
        language: row.language,
        privacy: Privacy::Public,
        ..VideoDetails::default()
    };
    let videos = store.videos();
    let video = videos.create(NewVideo { owner_id, details, profile: None, upload_size: None }).await?;
    anyhow::ensure!(videos.start_processing(&video.id).await?, "{}: not processing", video.id);
    let processed = Processed {
        source: "{}".into(),
        renditions: "[]".into(),
        duration_ms: row.duration_s * 1000,
        poster_key: None,
        storyboard_key: None,
    };
    anyhow::ensure!(videos.set_ready(&video.id, &processed).await?, "{}: not ready", video.id);
    videos.set_published_and_views_for_tests(&video.id, row.published_at, row.views).await?;
    Ok(())
}
