//! Keeping the index in step with the catalog: the follower reads the change log past the
//! index's position, loads each changed item as it is now and commits the batch with its new
//! position; a rebuild reads every video and stream.
//!
//! A follower behind the oldest row the log still keeps (it was off longer than the log is kept,
//! or the index is new) rebuilds first. A restarted node therefore catches up by itself, and a
//! second node with its own index follows the same log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use oxcast_store::{CatalogKind, MAX_PAGE_SIZE, PageRequest, Store, safe_position};
use tokio_util::sync::CancellationToken;

use crate::SearchError;
use crate::document::{Item, owner_names};
use crate::index::SearchIndex;

/// Rows read per batch.
const BATCH: i64 = 500;
/// How long the follower sleeps when the log has nothing new.
pub const IDLE_POLL: Duration = Duration::from_millis(500);

/// Rebuilds the whole index from the tables; returns how many items it holds. The position is
/// taken before reading, so a change made during the rebuild is applied again afterwards.
pub async fn rebuild(index: &Arc<SearchIndex>, store: &Store) -> Result<usize, SearchError> {
    let position = store.catalog_changes().newest().await?;
    let mut items = Vec::new();
    for stream in store.streams().list().await? {
        if let Some(item) = Item::load(store, CatalogKind::Stream, &stream.name).await? {
            items.push(item);
        }
    }
    let mut cursor = None;
    let mut owners: HashMap<String, (String, String)> = HashMap::new();
    loop {
        let page = store.videos().page(None, &PageRequest { limit: Some(MAX_PAGE_SIZE), cursor }).await?;
        for video in page.items {
            let owner = match owners.get(&video.owner_id) {
                Some(names) => names.clone(),
                None => {
                    let names = owner_names(store, &video.owner_id).await?;
                    owners.insert(video.owner_id.clone(), names.clone());
                    names
                }
            };
            items.push(Item::of_video(video, owner));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let count = items.len();
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.replace_all(&items, position)).await.map_err(SearchError::task)??;
    Ok(count)
}

/// Applies what the log holds past the index's position, one batch; returns how many rows it
/// read (0: caught up).
pub async fn catch_up_once(index: &Arc<SearchIndex>, store: &Store) -> Result<usize, SearchError> {
    let position = index.position();
    if position > 0 || !index.is_empty() {
        // Rows between the position and the oldest kept one were pruned: they cannot be replayed.
        if let Some(oldest) = store.catalog_changes().oldest().await?
            && oldest > position + 1
        {
            tracing::info!(position, oldest, "search index is behind the change log's oldest row; rebuilding");
            rebuild(index, store).await?;
            return Ok(1);
        }
    }
    let rows = store.catalog_changes().after(position, BATCH).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut seen = HashSet::new();
    let mut changes = Vec::new();
    // Newest first, so each item is loaded once; the order of documents does not matter.
    for row in rows.iter().rev() {
        if seen.insert((row.kind, row.item.clone())) {
            let item = Item::load(store, row.kind, &row.item).await?;
            changes.push((row.kind, row.item.clone(), item));
        }
    }
    let next = safe_position(position, &rows, oxcast_media::clock::unix_seconds());
    let writer = index.clone();
    tokio::task::spawn_blocking(move || writer.apply(&changes, next)).await.map_err(SearchError::task)??;
    Ok(if next == position { 0 } else { rows.len() })
}

/// Follows the log until `shutdown`: a fresh index (position 0, empty) is rebuilt first, then
/// each batch is applied as it comes; errors (the database away) are logged and retried.
pub async fn follow(index: Arc<SearchIndex>, store: Store, shutdown: CancellationToken) {
    if index.position() == 0 && index.is_empty() {
        match rebuild(&index, &store).await {
            Ok(count) => tracing::info!(count, "search index built from the catalog"),
            Err(e) => tracing::error!(error = %e, "building the search index failed; retrying as changes come"),
        }
    }
    let mut failing = false;
    loop {
        let read = match catch_up_once(&index, &store).await {
            Ok(read) => {
                if failing {
                    tracing::info!(position = index.position(), "search index following the catalog again");
                    failing = false;
                }
                read
            }
            Err(e) => {
                if !failing {
                    tracing::error!(error = %e, "search index cannot follow the catalog; retrying");
                    failing = true;
                }
                0
            }
        };
        if read == 0 {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        } else if shutdown.is_cancelled() {
            return;
        }
    }
}
