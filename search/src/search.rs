//! Running a search: the typed query, the viewer's visibility, the filters and the sort, over
//! one searcher; videos a page at a time, streams (live ones first) beside them; suggestions for
//! search as you type.
//!
//! Visibility is part of every query, not a filter applied afterwards: a document that is not
//! public (private, unlisted, not ready, failed) matches only for its owner, so no count, page or
//! suggestion can reveal it to anyone else.

use std::ops::Bound;

use oxcast_store::CatalogKind;
use tantivy::collector::TopDocs;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

use crate::SearchError;
use crate::document::Item;
use crate::highlight::{Matcher, SNIPPET_CHARS};
use crate::index::SearchIndex;
use crate::schema::{Fields, exact};
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
        if request.scope != Scope::Streams {
            let query = self.query(&parsed, request, CatalogKind::Video, true);
            let addresses = top(&searcher, &query, request.sort, parsed.is_empty(), limit + 1, request.offset)?;
            results.next_offset = (addresses.len() > limit).then_some(request.offset + limit);
            results.videos = hits(&searcher, f, &addresses[..addresses.len().min(limit)], &parsed)?;
        }
        // Streams have no duration or language: those filters leave them out, as does paging on.
        let stream_filters =
            request.language.is_none() && request.min_duration_ms.is_none() && request.max_duration_ms.is_none();
        if request.scope != Scope::Videos && request.offset == 0 && stream_filters {
            let query = self.query(&parsed, request, CatalogKind::Stream, false);
            let addresses = top(&searcher, &query, request.sort, parsed.is_empty(), MAX_STREAMS * 3, 0)?;
            let mut streams = hits(&searcher, f, &addresses, &parsed)?;
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

    /// The whole query of one kind: the words, visibility, kind and the filters that apply.
    fn query(&self, parsed: &Parsed, r: &SearchRequest, kind: CatalogKind, video_filters: bool) -> BooleanQuery {
        let f = &self.fields;
        let mut must: Vec<Box<dyn Query>> = parsed.clauses(f);
        if must.is_empty() {
            must.push(Box::new(AllQuery));
        }
        must.push(self.visible_to(r));
        must.push(term(f.kind, kind.as_str()));
        if let Some(category) = r.category.as_deref().filter(|c| !c.trim().is_empty()) {
            must.push(term(f.category, &exact(category)));
        }
        if video_filters {
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

/// The addresses of the best `limit` documents after `offset`, in the requested order.
fn top(
    searcher: &Searcher,
    query: &dyn Query,
    sort: Sort,
    no_words: bool,
    limit: usize,
    offset: usize,
) -> Result<Vec<DocAddress>, SearchError> {
    let collector = TopDocs::with_limit(limit).and_offset(offset);
    Ok(match (sort, no_words) {
        (Sort::Relevance, false) => {
            searcher.search(query, &collector.order_by_score())?.into_iter().map(|(_, a)| a).collect()
        }
        (Sort::Newest, _) | (Sort::Relevance, true) => searcher
            .search(query, &collector.order_by_fast_field::<i64>("published", Order::Desc))?
            .into_iter()
            .map(|(_, a)| a)
            .collect(),
        (Sort::MostViewed, _) => searcher
            .search(query, &collector.order_by_fast_field::<u64>("views", Order::Desc))?
            .into_iter()
            .map(|(_, a)| a)
            .collect(),
    })
}

fn hits(searcher: &Searcher, f: &Fields, addresses: &[DocAddress], parsed: &Parsed) -> Result<Vec<Hit>, SearchError> {
    let matcher = Matcher::new(parsed);
    addresses
        .iter()
        .map(|address| {
            let item = Item::from_document(&searcher.doc(*address)?, f);
            Ok(Hit {
                title_html: matcher.highlight(&item.title, None),
                description_html: matcher.highlight(&item.description, Some(SNIPPET_CHARS)),
                item,
            })
        })
        .collect()
}

fn text_of(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
}
