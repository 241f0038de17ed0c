//! `search-bench index`: catalog.jsonl straight into an oxcast search index, without a store:
//! the engine's own build time, and an index to profile queries on in seconds instead of the
//! minutes a store load takes.

use std::time::Instant;

use oxcast_search::{Item, SearchIndex};
use oxcast_store::CatalogKind;

#[derive(clap::Args)]
pub struct Args {
    /// catalog.jsonl from corpus.py.
    #[arg(long)]
    catalog: std::path::PathBuf,
    /// The index directory (made empty first).
    #[arg(long)]
    dir: std::path::PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut items = Vec::new();
    for (i, row) in crate::catalog::read(&args.catalog)?.into_iter().enumerate() {
        items.push(Item {
            kind: CatalogKind::Video,
            id: format!("v_{i:032x}"),
            title: row.title,
            tags: row.tags,
            description: row.description,
            owner: format!("{} {}", row.owner_display, row.owner),
            owner_name: row.owner_display,
            owner_id: row.owner,
            category: row.category,
            language: row.language,
            public: true,
            duration_ms: row.duration_s.max(0) as u64 * 1000,
            published: row.published_at,
            views: row.views.max(0) as u64,
            live: false,
            has_poster: false,
            signed: false,
        });
    }
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)?;
    }
    let started = Instant::now();
    let index = SearchIndex::open(&args.dir)?;
    index.replace_all(&items, 1)?;
    println!("{}", serde_json::json!({"documents": index.len(), "seconds": started.elapsed().as_secs_f64()}));
    Ok(())
}
