//! Running a search: the typed query, the viewer's visibility, the filters and the sort, over
//! one searcher; videos a page at a time, streams (live ones first) beside them; suggestions for
//! search as you type.
//!
//! Visibility is part of every query, not a filter applied afterwards: a document that is not
//! public (private, unlisted, not ready, failed) matches only for its owner, so no count, page or
//! suggestion can reveal it to anyone else.

use std::ops::Bound;

use oxcast_store::CatalogKind;
use tantivy::collector::{Collector, FilterCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

use crate::SearchError;
use crate::document::Item;
use crate::highlight::{Matcher, SNIPPET_CHARS};
use crate::index::SearchIndex;
use crate::schema::{Fields, STREAM_FIELD, exact};
use crate::text_query::Parsed;

/// The most results one page may ask for.
pub const MAX_LIMIT: usize = 50;
/// How deep paging may go (offset + limit).
pub const MAX_DEPTH: usize = 1000;
/// Streams returned beside the first page of videos.
pub const MAX_STREAMS: usize = 10;
/// Suggestions returned.
pub const MAX_SUGGESTIONS: usize = 8;

/// How results are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Best match first (newest first when there are no words).
    #[default]
    Relevance,
    Newest,
    MostViewed,
}

/// Which kinds of results a search returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    All,
    /// Videos on demand only.
    Videos,
    /// Live streams only.
    Streams,
}

/// One search.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub text: String,
    pub scope: Scope,
    pub category: Option<String>,
    pub language: Option<String>,
    pub min_duration_ms: Option<u64>,
    pub max_duration_ms: Option<u64>,
    /// Unix seconds, inclusive.
    pub published_after: Option<i64>,
    pub published_before: Option<i64>,
    pub sort: Sort,
    pub limit: usize,
    pub offset: usize,
    /// The user searching: their own private and unlisted items match too.
    pub viewer: Option<String>,
}

/// A matching video or stream, with its highlighted title and description (HTML).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub item: Item,
    pub title_html: String,
    pub description_html: String,
}

/// A page of videos, the streams beside them, and where the next page starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchResults {
    pub videos: Vec<Hit>,
    pub streams: Vec<Hit>,
    /// The offset of the next page of videos; `None` on the last page.
    pub next_offset: Option<usize>,
}

/// A suggestion for search as you type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub kind: CatalogKind,
    pub id: String,
    pub title: String,
}

impl SearchIndex {
    /// Runs `request`.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let limit = request.limit.clamp(1, MAX_LIMIT);
        if request.offset + limit > MAX_DEPTH {
            return Err(SearchError::TooDeep(MAX_DEPTH));
        }
        let parsed = Parsed::new(&request.text);
        let searcher = self.reader.searcher();
        let f = &self.fields;
        let mut results = SearchResults::default();
        // Streams have no duration or language: those filters leave them out, as does paging on.
        let stream_filters =
            request.language.is_none() && request.min_duration_ms.is_none() && request.max_duration_ms.is_none();
        let want_videos = request.scope != Scope::Streams;
        let want_streams = request.scope != Scope::Videos && request.offset == 0 && stream_filters;
        let kind = match (want_videos, want_streams) {
            (true, true) => None,
            (true, false) => Some(CatalogKind::Video),
            (false, true) => Some(CatalogKind::Stream),
            (false, false) => return Ok(results),
        };
        // Videos and streams come from one pass of one query: its typo and prefix automata run
        // once, and the documents are told apart as they are collected.
        let query = self.query(&parsed, request, kind);
        let wanted = Wanted {
            videos: want_videos.then_some((limit + 1, request.offset)),
            streams: want_streams.then_some(MAX_STREAMS * 3),
        };
        let (videos, streams) = top(&searcher, &query, request.sort, parsed.is_empty(), wanted)?;
        if want_videos {
            results.next_offset = (videos.len() > limit).then_some(request.offset + limit);
            results.videos = hits(&searcher, f, &videos[..videos.len().min(limit)], &parsed)?;
        }
        if want_streams {
            let mut streams = hits(&searcher, f, &streams, &parsed)?;
            // Live now first; the order within each group is the query's (a stable sort).
            streams.sort_by_key(|s| !s.item.live);
            streams.truncate(if request.scope == Scope::Streams { limit } else { MAX_STREAMS });
            results.streams = streams;
        }
        Ok(results)
    }

    /// Titles to complete what is being typed (the last word as a prefix, typos allowed in the
    /// others), videos and streams alike, each title once.
    pub fn suggest(&self, text: &str, viewer: Option<&str>) -> Result<Vec<Suggestion>, SearchError> {
        let mut parsed = Parsed::new(text);
        if parsed.is_empty() {
            return Ok(Vec::new());
        }
        parsed.last_is_prefix = !parsed.words.is_empty();
        let request = SearchRequest { viewer: viewer.map(str::to_owned), ..SearchRequest::default() };
        let searcher = self.reader.searcher();
        let mut clauses = parsed.clauses(&self.fields);
        clauses.push(self.visible_to(&request));
        let query = BooleanQuery::new(clauses.into_iter().map(|q| (Occur::Must, q)).collect());
        let top_docs = searcher.search(&query, &TopDocs::with_limit(MAX_SUGGESTIONS * 4).order_by_score())?;
        let mut out: Vec<Suggestion> = Vec::new();
        for (_, address) in top_docs {
            let doc: TantivyDocument = searcher.doc(address)?;
            let title = text_of(&doc, self.fields.title);
            if title.is_empty() || out.iter().any(|s| s.title.eq_ignore_ascii_case(&title)) {
                continue;
            }
            let kind =
                if text_of(&doc, self.fields.kind) == "stream" { CatalogKind::Stream } else { CatalogKind::Video };
            out.push(Suggestion { kind, id: text_of(&doc, self.fields.id), title });
            if out.len() == MAX_SUGGESTIONS {
                break;
            }
        }
        Ok(out)
    }

    /// The whole query: the words, visibility, the kind (`None`: videos and streams) and the
    /// filters. Duration and language filters only come with a search of videos alone.
    fn query(&self, parsed: &Parsed, r: &SearchRequest, kind: Option<CatalogKind>) -> BooleanQuery {
        let f = &self.fields;
        let mut must: Vec<Box<dyn Query>> = parsed.clauses(f);
        if must.is_empty() {
            must.push(Box::new(AllQuery));
        }
        must.push(self.visible_to(r));
        if let Some(kind) = kind {
            must.push(term(f.kind, kind.as_str()));
        }
        if let Some(category) = r.category.as_deref().filter(|c| !c.trim().is_empty()) {
            must.push(term(f.category, &exact(category)));
        }
        if kind != Some(CatalogKind::Stream) {
            if let Some(language) = r.language.as_deref().filter(|l| !l.trim().is_empty()) {
                must.push(term(f.language, &exact(language)));
            }
            if r.min_duration_ms.is_some() || r.max_duration_ms.is_some() {
                let low = r
                    .min_duration_ms
                    .map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_u64(f.duration_ms, v)));
                let high = r
                    .max_duration_ms
                    .map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_u64(f.duration_ms, v)));
                must.push(Box::new(RangeQuery::new(low, high)));
            }
        }
        if r.published_after.is_some() || r.published_before.is_some() {
            let low =
                r.published_after.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_i64(f.published, v)));
            let high =
                r.published_before.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_i64(f.published, v)));
            must.push(Box::new(RangeQuery::new(low, high)));
        }
        BooleanQuery::new(must.into_iter().map(|q| (Occur::Must, q)).collect())
    }

    /// Public documents, and the viewer's own.
    fn visible_to(&self, r: &SearchRequest) -> Box<dyn Query> {
        let public: Box<dyn Query> =
            Box::new(TermQuery::new(Term::from_field_u64(self.fields.public, 1), IndexRecordOption::Basic));
        match &r.viewer {
            Some(owner) => Box::new(BooleanQuery::new(vec![
                (Occur::Should, public),
                (Occur::Should, term(self.fields.owner_id, owner)),
            ])),
            None => public,
        }
    }
}

fn term(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic))
}

/// How many of each kind a search collects: videos (limit, offset), streams (limit).
struct Wanted {
    videos: Option<(usize, usize)>,
    streams: Option<usize>,
}

/// The addresses of the best videos and streams, in the requested order.
fn top(
    searcher: &Searcher,
    query: &dyn Query,
    sort: Sort,
    no_words: bool,
    wanted: Wanted,
) -> Result<(Vec<DocAddress>, Vec<DocAddress>), SearchError> {
    let collector = |limit: usize, offset: usize| TopDocs::with_limit(limit.max(1)).and_offset(offset);
    let videos = wanted.videos.map(|(limit, offset)| collector(limit, offset));
    let streams = wanted.streams.map(|limit| collector(limit, 0));
    match (sort, no_words) {
        (Sort::Relevance, false) => {
            split(searcher, query, videos.map(|c| c.order_by_score()), streams.map(|c| c.order_by_score()))
        }
        (Sort::Newest, _) | (Sort::Relevance, true) => {
            let newest = |c: TopDocs| c.order_by_fast_field::<i64>("published", Order::Desc);
            split(searcher, query, videos.map(newest), streams.map(newest))
        }
        (Sort::MostViewed, _) => {
            let most_viewed = |c: TopDocs| c.order_by_fast_field::<u64>("views", Order::Desc);
            split(searcher, query, videos.map(most_viewed), streams.map(most_viewed))
        }
    }
}

/// Runs `query` once with the collectors asked for; when both are, each sees only its kind
/// (the `stream` fast field).
fn split<C, S>(
    searcher: &Searcher,
    query: &dyn Query,
    videos: Option<C>,
    streams: Option<C>,
) -> Result<(Vec<DocAddress>, Vec<DocAddress>), SearchError>
where
    C: Collector<Fruit = Vec<(S, DocAddress)>>,
{
    let addresses = |found: Vec<(S, DocAddress)>| found.into_iter().map(|(_, a)| a).collect::<Vec<_>>();
    Ok(match (videos, streams) {
        (Some(v), Some(s)) => {
            let of_kind = |stream: u64| move |value: u64| value == stream;
            let both = (
                FilterCollector::new(STREAM_FIELD.to_owned(), of_kind(0), v),
                FilterCollector::new(STREAM_FIELD.to_owned(), of_kind(1), s),
            );
            let (v, s) = searcher.search(query, &both)?;
            (addresses(v), addresses(s))
        }
        (Some(v), None) => (addresses(searcher.search(query, &v)?), Vec::new()),
        (None, Some(s)) => (Vec::new(), addresses(searcher.search(query, &s)?)),
        (None, None) => (Vec::new(), Vec::new()),
    })
}

fn hits(searcher: &Searcher, f: &Fields, addresses: &[DocAddress], parsed: &Parsed) -> Result<Vec<Hit>, SearchError> {
    let matcher = Matcher::new(parsed);
    addresses
        .iter()
        .map(|address| {
            let item = Item::from_document(&searcher.doc(*address)?, f);
            Ok(Hit {
                title_html: matcher.highlight(&item.title, None, true),
                // Descriptions are matched without typos (text_query): marked the same way.
                description_html: matcher.highlight(&item.description, Some(SNIPPET_CHARS), false),
                item,
            })
        })
        .collect()
}

fn text_of(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
}
