//! Recommendations: "up next" for a video and a home feed for a viewer, from three signals.
//!
//! - **Co-watch** (the store's counts): viewers who watched this also watched that, normalized
//!   by both videos' views (cosine: `both / sqrt(views_a * views_b)`), so a video does not win by
//!   being popular alone.
//! - **Content** (this index): more like this over title, tags and description.
//! - **Trending** (the store's daily views): views decayed by a half-life of
//!   [`TRENDING_HALF_LIFE_DAYS`], and likes, over the last two weeks.
//!
//! Each signal is scaled to 0..1 by its best candidate and blended ([`Blend`]); an item's
//! `reason` is the signal that gave it most. Only public, ready videos are candidates (looked up
//! in the index with the same visibility rule as search), never the video itself or what the
//! viewer already watched, and no uploader takes more than [`PER_UPLOADER`] of the first places
//! while others are left.

use std::collections::{HashMap, HashSet};

use oxcast_store::{CatalogKind, Store};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, MoreLikeThisQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, OwnedValue};
use tantivy::{TantivyDocument, Term};

use crate::SearchError;
use crate::document::{Item, key};
use crate::index::SearchIndex;

/// Trending views lose half their weight every this many days.
pub const TRENDING_HALF_LIFE_DAYS: f64 = 3.0;
/// At most this many items of one uploader in a list, while others are left.
pub const PER_UPLOADER: usize = 2;
/// Candidates taken from each signal.
const CANDIDATES: usize = 50;

/// Why an item is recommended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// People who watched this (or what you watched) also watched it.
    WatchedTogether,
    /// It is like this (or what you watched).
    Similar,
    /// Many are watching it these days.
    Trending,
    /// On air now (feeds only).
    LiveNow,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WatchedTogether => "watched_together",
            Self::Similar => "similar",
            Self::Trending => "trending",
            Self::LiveNow => "live_now",
        }
    }
}

/// How much each signal counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blend {
    pub cowatch: f64,
    pub content: f64,
    pub trending: f64,
}

impl Default for Blend {
    fn default() -> Self {
        Self { cowatch: 0.5, content: 0.3, trending: 0.2 }
    }
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub item: Item,
    pub reason: Reason,
    pub score: f64,
}

/// The recommender over one node's index and the shared store.
#[derive(Debug, Clone)]
pub struct Recommender {
    index: std::sync::Arc<SearchIndex>,
    store: Store,
    blend: Blend,
}

/// Candidate scores per signal, by video id.
#[derive(Debug, Default)]
struct Signals {
    cowatch: HashMap<String, f64>,
    content: HashMap<String, f64>,
    trending: HashMap<String, f64>,
}

/// Scales a signal so its best candidate is 1.
fn scaled(mut scores: HashMap<String, f64>) -> HashMap<String, f64> {
    let best = scores.values().copied().fold(0.0, f64::max);
    if best > 0.0 {
        scores.values_mut().for_each(|s| *s /= best);
    }
    scores
}

impl Recommender {
    pub fn new(index: std::sync::Arc<SearchIndex>, store: Store) -> Self {
        Self { index, store, blend: Blend::default() }
    }

    /// The same with other weights (tests compare signals alone).
    pub fn with_blend(mut self, blend: Blend) -> Self {
        self.blend = blend;
        self
    }

    /// Up to `limit` videos to play after `video_id`.
    pub async fn up_next(&self, video_id: &str, limit: usize) -> Result<Vec<Recommendation>, SearchError> {
        let mut signals = Signals::default();
        if self.blend.cowatch > 0.0 {
            signals.cowatch = scaled(self.cowatch(video_id).await?);
        }
        if self.blend.content > 0.0 {
            signals.content = scaled(self.index.similar(&[video_id.to_owned()], CANDIDATES)?);
        }
        if self.blend.trending > 0.0 {
            signals.trending = scaled(self.trending().await?);
        }
        let exclude: HashSet<String> = [video_id.to_owned()].into();
        self.rank(signals, &exclude, limit)
    }

    /// A viewer's feed: streams on air first, then videos from their recent history (what was
    /// watched with it and what is like it), then trending; a newcomer gets trending.
    /// `viewer` is the player's viewer id or `user:ID`.
    pub async fn feed(&self, viewer: &str, limit: usize) -> Result<Vec<Recommendation>, SearchError> {
        let mut out: Vec<Recommendation> = self
            .index
            .live_streams(limit)?
            .into_iter()
            .map(|item| Recommendation { item, reason: Reason::LiveNow, score: 1.0 })
            .collect();
        let history = self.store.recommendations().history(viewer, 20).await?;
        let mut signals = Signals::default();
        if self.blend.cowatch > 0.0 {
            // The newest watches count most.
            for (i, watched) in history.iter().take(5).enumerate() {
                let weight = 1.0 / (1.0 + i as f64);
                for (id, score) in scaled(self.cowatch(watched).await?) {
                    *signals.cowatch.entry(id).or_default() += weight * score;
                }
            }
            signals.cowatch = scaled(signals.cowatch);
        }
        if self.blend.content > 0.0 && !history.is_empty() {
            let recent: Vec<String> = history.iter().take(5).cloned().collect();
            signals.content = scaled(self.index.similar(&recent, CANDIDATES)?);
        }
        if self.blend.trending > 0.0 {
            signals.trending = scaled(self.trending().await?);
        }
        let exclude: HashSet<String> = history.into_iter().collect();
        out.extend(self.rank(signals, &exclude, limit.saturating_sub(out.len()))?);
        Ok(out)
    }

    /// What is trending now, for everyone (the home page's shelf): time-decayed views and likes
    /// of the last two weeks, no uploader more than twice while others are left.
    pub async fn trending_now(&self, limit: usize) -> Result<Vec<Recommendation>, SearchError> {
        let signals = Signals { trending: scaled(self.trending().await?), ..Signals::default() };
        let only_trending = Blend { cowatch: 0.0, content: 0.0, trending: 1.0 };
        Recommender { blend: only_trending, index: self.index.clone(), store: self.store.clone() }.rank(
            signals,
            &HashSet::new(),
            limit,
        )
    }

    /// Co-watch cosine scores of the videos watched with `video_id`.
    async fn cowatch(&self, video_id: &str) -> Result<HashMap<String, f64>, SearchError> {
        let views_of_this = self.store.videos().get(video_id).await?.map_or(0, |v| v.view_count).max(1) as f64;
        let pairs = self.store.recommendations().cowatched(video_id, CANDIDATES as i64).await?;
        Ok(pairs
            .into_iter()
            .map(|(other, both, views)| (other, both as f64 / (views_of_this * views.max(1) as f64).sqrt()))
            .collect())
    }

    /// Time-decayed views and likes of the last two weeks.
    async fn trending(&self) -> Result<HashMap<String, f64>, SearchError> {
        let today = oxcast_media::clock::unix_seconds().div_euclid(86_400);
        let rows = self.store.recommendations().recent_views(today - 13, 5_000).await?;
        let mut scores: HashMap<String, f64> = HashMap::new();
        let mut likes: HashMap<String, i64> = HashMap::new();
        for (id, day, views, video_likes) in rows {
            let age = (today - day).max(0) as f64;
            *scores.entry(id.clone()).or_default() += views as f64 * 0.5f64.powf(age / TRENDING_HALF_LIFE_DAYS);
            likes.insert(id, video_likes);
        }
        for (id, l) in likes {
            *scores.entry(id).or_default() += 2.0 * l.max(0) as f64;
        }
        Ok(scores)
    }

    /// Blends the signals, drops what is excluded or not public, and orders with the
    /// per-uploader cap.
    fn rank(&self, s: Signals, exclude: &HashSet<String>, limit: usize) -> Result<Vec<Recommendation>, SearchError> {
        let b = self.blend;
        let mut ids: HashSet<&String> = s.cowatch.keys().chain(s.content.keys()).chain(s.trending.keys()).collect();
        ids.retain(|id| !exclude.contains(*id));
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        let items = self.index.public_videos(&ids)?;
        let mut scored: Vec<Recommendation> = items
            .into_values()
            .map(|item| {
                let get = |m: &HashMap<String, f64>| m.get(&item.id).copied().unwrap_or(0.0);
                let parts = [
                    (Reason::WatchedTogether, b.cowatch * get(&s.cowatch)),
                    (Reason::Similar, b.content * get(&s.content)),
                    (Reason::Trending, b.trending * get(&s.trending)),
                ];
                let score = parts.iter().map(|(_, p)| p).sum();
                let reason = parts.iter().fold(parts[0], |best, p| if p.1 > best.1 { *p } else { best }).0;
                Recommendation { item, reason, score }
            })
            .filter(|r| r.score > 0.0)
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.item.id.cmp(&b.item.id)));
        Ok(diversified(scored, limit))
    }
}

/// The best `limit`, no uploader more than [`PER_UPLOADER`] times while others are left.
fn diversified(ranked: Vec<Recommendation>, limit: usize) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let mut held = Vec::new();
    let mut per: HashMap<String, usize> = HashMap::new();
    for r in ranked {
        if out.len() == limit {
            break;
        }
        let n = per.entry(r.item.owner_id.clone()).or_default();
        if *n < PER_UPLOADER {
            *n += 1;
            out.push(r);
        } else {
            held.push(r);
        }
    }
    out.extend(held.into_iter().take(limit.saturating_sub(out.len())));
    out
}

impl SearchIndex {
    /// Public, ready videos among `ids`, by id.
    pub fn public_videos(&self, ids: &[String]) -> Result<HashMap<String, Item>, SearchError> {
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let searcher = self.reader.searcher();
        let f = &self.fields;
        for chunk in ids.chunks(200) {
            let any_of: Vec<(Occur, Box<dyn Query>)> = chunk
                .iter()
                .map(|id| {
                    let q: Box<dyn Query> = Box::new(TermQuery::new(
                        Term::from_field_text(f.key, &key(CatalogKind::Video, id)),
                        IndexRecordOption::Basic,
                    ));
                    (Occur::Should, q)
                })
                .collect();
            let query = BooleanQuery::new(vec![
                (Occur::Must, Box::new(BooleanQuery::new(any_of))),
                (Occur::Must, self.public()),
            ]);
            for (_, address) in searcher.search(&query, &TopDocs::with_limit(chunk.len()).order_by_score())? {
                let item = Item::from_document(&searcher.doc::<TantivyDocument>(address)?, f);
                found.insert(item.id.clone(), item);
            }
        }
        Ok(found)
    }

    /// Public videos like the videos `ids` (their title, tags and description), not those
    /// themselves: (video id, score).
    pub fn similar(&self, ids: &[String], limit: usize) -> Result<HashMap<String, f64>, SearchError> {
        let searcher = self.reader.searcher();
        let f = &self.fields;
        let mut values: Vec<(tantivy::schema::Field, Vec<OwnedValue>)> =
            vec![(f.title, vec![]), (f.tags, vec![]), (f.description, vec![])];
        let mut not: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for id in ids {
            let term = Term::from_field_text(f.key, &key(CatalogKind::Video, id));
            let top = searcher.search(
                &TermQuery::new(term.clone(), IndexRecordOption::Basic),
                &TopDocs::with_limit(1).order_by_score(),
            )?;
            if let Some((_, address)) = top.first() {
                let item = Item::from_document(&searcher.doc::<TantivyDocument>(*address)?, f);
                values[0].1.push(OwnedValue::Str(item.title));
                values[1].1.push(OwnedValue::Str(item.tags.join("\n")));
                values[2].1.push(OwnedValue::Str(item.description));
            }
            not.push((Occur::MustNot, Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
        }
        if values.iter().all(|(_, v)| v.is_empty()) {
            return Ok(HashMap::new());
        }
        // A word in half the catalog or more ("video", "the", a channel's name on every title)
        // says nothing about what a video is like.
        let common = (searcher.num_docs() / 2).max(2);
        let like = MoreLikeThisQuery::builder()
            .with_min_doc_frequency(1)
            .with_max_doc_frequency(common)
            .with_min_term_frequency(1)
            .with_min_word_length(3)
            .with_max_query_terms(25)
            .with_document_fields(values);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, Box::new(like)),
            (Occur::Must, self.public()),
            (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(f.kind, "video"), IndexRecordOption::Basic))),
        ];
        clauses.extend(not);
        let top = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit).order_by_score())?;
        let mut out = HashMap::new();
        for (score, address) in top {
            let item = Item::from_document(&searcher.doc::<TantivyDocument>(address)?, f);
            out.insert(item.id, f64::from(score));
        }
        Ok(out)
    }

    /// Public streams on air now, up to `limit`.
    pub fn live_streams(&self, limit: usize) -> Result<Vec<Item>, SearchError> {
        let searcher = self.reader.searcher();
        let f = &self.fields;
        let query = BooleanQuery::new(vec![
            (Occur::Must, self.public()),
            (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(f.kind, "stream"), IndexRecordOption::Basic))),
            (Occur::Must, Box::new(TermQuery::new(Term::from_field_u64(f.live, 1), IndexRecordOption::Basic))),
        ]);
        let top = searcher.search(
            &query,
            &TopDocs::with_limit(limit.max(1)).order_by_fast_field::<i64>("published", tantivy::Order::Desc),
        )?;
        top.into_iter().map(|(_, a)| Ok(Item::from_document(&searcher.doc::<TantivyDocument>(a)?, f))).collect()
    }

    fn public(&self) -> Box<dyn Query> {
        Box::new(TermQuery::new(Term::from_field_u64(self.fields.public, 1), IndexRecordOption::Basic))
    }
}
