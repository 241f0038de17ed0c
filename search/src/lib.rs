//! Search over the catalog: a tantivy index of videos and live streams on each node, derived from
//! the database and rebuildable from it at any time.
//!
//! Why its own crate: the index is derived data with its own life cycle (it follows the catalog's
//! change log, catches up after a restart, rebuilds when it fell behind or its schema changed),
//! and tantivy is a large dependency that nothing else needs. It reads the catalog through the
//! store's types and knows no HTTP: the API turns a [`SearchRequest`] from query parameters and
//! [`SearchResults`] into JSON.
//!
//! - `schema`: fields and analyzers (words lowercased and accent-folded, no stemming).
//! - `document`: an item (video or stream) as read from the store now, and its document.
//! - `index`: [`SearchIndex`]: open (rebuilt when of another version), apply a batch of changes
//!   and the change-log position in one commit, rebuild everything in one commit.
//! - `follow`: the follower task and `rebuild`.
//! - `text_query`: what a person types → words, phrases, typo tolerance, prefix on the last word,
//!   field weights. `search`: visibility, filters, sorts, paging, streams live first,
//!   suggestions. `highlight`: `<mark>`ed, escaped snippets by the same matching rules.
//! - `recommend`: up next and feeds, blending co-watch (the store's counts), content (this
//!   index's more-like-this) and trending, each item with its reason. It lives here because two
//!   of its three signals and its visibility rule are this index's.

mod document;
mod follow;
mod highlight;
mod index;
mod recommend;
mod schema;
mod search;
mod text_query;

pub use document::Item;
pub use follow::{IDLE_POLL, catch_up_once, follow, rebuild};
pub use index::SearchIndex;
pub use recommend::{Blend, PER_UPLOADER, Reason, Recommendation, Recommender, TRENDING_HALF_LIFE_DAYS};
pub use search::{
    Hit, MAX_DEPTH, MAX_LIMIT, MAX_STREAMS, MAX_SUGGESTIONS, Scope, SearchRequest, SearchResults, Sort, Suggestion,
};

/// What can go wrong in search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index: {0}")]
    Reader(#[from] tantivy::directory::error::OpenReadError),
    #[error("the search index is in use by another oxcast process (one writer per index directory)")]
    InUse,
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error(transparent)]
    Store(#[from] oxcast_store::StoreError),
    #[error("results go at most {0} deep; narrow the search")]
    TooDeep(usize),
    #[error("search task failed: {0}")]
    Task(String),
}

impl SearchError {
    pub(crate) fn task(e: tokio::task::JoinError) -> Self {
        Self::Task(e.to_string())
    }
}
