//! The index's schema and its analyzers.
//!
//! One document per video and per stream. Text fields go through the `oxcast` analyzer (words,
//! lowercased, accents folded: "Café" finds "cafe"), without stemming: typo tolerance and prefix
//! matching cover what stemming would, and stay predictable. Category and language are exact
//! (lowercased) terms for filters. Visibility is a field (`public`) plus the owner's id, so one
//! index serves every viewer: a query always says "public, or mine".
//!
//! Typo-tolerant and prefix matching walk a field's term dictionary with an automaton, once per
//! field and word: that is what a query spends most of its time on. So they run on two combined
//! fields instead of one per field: `typo_words` (title, tags, owner) and `all_words` (those and
//! the description), indexed only. Exact words are still scored per field, with its weight.
//!
//! [`SCHEMA_VERSION`] is part of the stored position: an index written by another version is
//! rebuilt on open.

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};

/// Bumped whenever fields or analyzers change (the index is then rebuilt from the catalog).
pub const SCHEMA_VERSION: u32 = 2;

/// The name of the fast field that tells streams (1) from videos (0).
pub const STREAM_FIELD: &str = "stream";

/// The analyzer of the text fields.
pub const TEXT_ANALYZER: &str = "oxcast";
/// The analyzer of exact, case-insensitive fields (category, language).
const EXACT_ANALYZER: &str = "oxcast_exact";

/// The fields, resolved once.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// `video:ID` or `stream:NAME`: what an update replaces.
    pub key: Field,
    /// `video` or `stream`.
    pub kind: Field,
    /// The video's id or the stream's name.
    pub id: Field,
    pub title: Field,
    /// One tag per line.
    pub tags: Field,
    pub description: Field,
    /// The owner's display name and login name.
    pub owner: Field,
    /// The owner's display name, as results show it.
    pub owner_name: Field,
    /// Title, tags and owner together (not stored): where typos are forgiven.
    pub typo_words: Field,
    /// Every text field together (not stored): where the word being typed matches as a prefix.
    pub all_words: Field,
    pub owner_id: Field,
    pub category: Field,
    pub language: Field,
    /// 1: anyone may find it (public, and for a video ready); 0: only its owner. (Stored, so a
    /// document reads back as the item it was made from.)
    pub public: Field,
    pub duration_ms: Field,
    /// Unix seconds: when a video was published (a stream: created).
    pub published: Field,
    pub views: Field,
    /// 1 while a stream is on air.
    pub live: Field,
    /// 1 for a stream, 0 for a video (a fast field: one search collects both kinds apart).
    pub stream: Field,
    /// 1 when the video has a poster image.
    pub has_poster: Field,
    /// 1 when playback needs a signed token.
    pub signed: Field,
}

/// Builds the schema and its fields.
pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TEXT_ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let combined = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(TEXT_ANALYZER).set_index_option(IndexRecordOption::Basic),
    );
    let exact = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(EXACT_ANALYZER).set_index_option(IndexRecordOption::Basic),
        )
        .set_stored();
    let number = || INDEXED | FAST | STORED;
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        kind: b.add_text_field("kind", STRING | STORED),
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", text.clone()),
        tags: b.add_text_field("tags", text.clone()),
        description: b.add_text_field("description", text.clone()),
        owner: b.add_text_field("owner", text),
        owner_name: b.add_text_field("owner_name", STORED),
        typo_words: b.add_text_field("typo_words", combined.clone()),
        all_words: b.add_text_field("all_words", combined),
        owner_id: b.add_text_field("owner_id", STRING | STORED),
        category: b.add_text_field("category", exact.clone()),
        language: b.add_text_field("language", exact),
        public: b.add_u64_field("public", INDEXED | FAST | STORED),
        duration_ms: b.add_u64_field("duration_ms", number()),
        published: b.add_i64_field("published", number()),
        views: b.add_u64_field("views", number()),
        live: b.add_u64_field("live", number()),
        stream: b.add_u64_field(STREAM_FIELD, FAST),
        has_poster: b.add_u64_field("has_poster", STORED),
        signed: b.add_u64_field("signed", STORED),
    };
    (b.build(), fields)
}

/// The text analyzer (also what queries are cut into words with).
pub fn text_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Registers the analyzers on an index.
pub fn register_analyzers(index: &tantivy::Index) {
    index.tokenizers().register(TEXT_ANALYZER, text_analyzer());
    index.tokenizers().register(EXACT_ANALYZER, exact_analyzer());
}

fn exact_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default()).filter(LowerCaser).build()
}

/// The words of `text` as the index sees them.
pub fn words(text: &str) -> Vec<String> {
    let mut analyzer = text_analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// `s` as the exact fields index it.
pub fn exact(s: &str) -> String {
    s.trim().to_lowercase()
}
