//! What one catalog item looks like in the index, read from the store as it is now.
//!
//! Reading the item rather than carrying its fields in the change log keeps the log small and
//! makes applying a change idempotent: whatever the order and however often a change is applied,
//! the document ends up as the row is.

use oxcast_store::{CatalogKind, PageRequest, Privacy, Store, StoreError, Video, VideoStatus};
use tantivy::TantivyDocument;
use tantivy::schema::Value;

use crate::schema::Fields;

/// A catalog item ready to index.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: CatalogKind,
    /// The video's id or the stream's name.
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    pub description: String,
    /// The owner's display name and login name, as searched.
    pub owner: String,
    /// The owner's display name, as shown.
    pub owner_name: String,
    pub owner_id: String,
    pub category: String,
    pub language: String,
    pub public: bool,
    pub duration_ms: u64,
    pub published: i64,
    pub views: u64,
    pub live: bool,
    pub has_poster: bool,
    pub signed: bool,
}

/// The key a document is replaced by.
pub fn key(kind: CatalogKind, id: &str) -> String {
    format!("{}:{id}", kind.as_str())
}

impl Item {
    /// The item as it is in `store` now; `None` when it no longer exists.
    pub async fn load(store: &Store, kind: CatalogKind, id: &str) -> Result<Option<Item>, StoreError> {
        match kind {
            CatalogKind::Video => Self::video(store, id).await,
            CatalogKind::Stream => Self::stream(store, id).await,
        }
    }

    async fn video(store: &Store, id: &str) -> Result<Option<Item>, StoreError> {
        let Some(v) = store.videos().get(id).await? else { return Ok(None) };
        let owner = owner_names(store, &v.owner_id).await?;
        Ok(Some(Self::of_video(v, owner)))
    }

    /// The item of a video already read, with its owner's (search text, display name): a
    /// rebuild reads videos a page at a time and each owner once.
    pub fn of_video(v: Video, (owner, owner_name): (String, String)) -> Item {
        let ready = v.status == VideoStatus::Ready;
        Item {
            kind: CatalogKind::Video,
            id: v.id,
            title: v.details.title,
            tags: v.details.tags,
            description: v.details.description,
            owner,
            owner_name,
            owner_id: v.owner_id,
            category: v.details.category,
            language: v.details.language,
            public: ready && v.details.privacy == Privacy::Public,
            duration_ms: v.duration_ms.unwrap_or(0).max(0) as u64,
            published: v.published_at.unwrap_or(v.created_at),
            views: v.view_count.max(0) as u64,
            live: false,
            has_poster: v.poster_key.is_some(),
            signed: v.details.playback == oxcast_store::PlaybackPolicy::Signed,
        }
    }

    async fn stream(store: &Store, name: &str) -> Result<Option<Item>, StoreError> {
        let Some(s) = store.streams().get(name).await? else { return Ok(None) };
        let owner_id = s.owner_id.unwrap_or_default();
        let (owner, owner_name) = owner_names(store, &owner_id).await?;
        let newest = store.broadcasts().page(name, &PageRequest { limit: Some(1), cursor: None }).await?;
        let live = newest.items.first().is_some_and(|b| b.ended_at.is_none());
        Ok(Some(Item {
            kind: CatalogKind::Stream,
            // The name is the stream's handle (`/watch/NAME`): searchable like a tag.
            tags: vec![s.name.clone()],
            id: s.name,
            title: s.details.title,
            description: s.details.description,
            owner,
            owner_name,
            owner_id,
            category: s.details.category,
            language: String::new(),
            public: s.privacy == Privacy::Public,
            duration_ms: 0,
            published: s.created_at,
            views: 0,
            live,
            has_poster: false,
            signed: s.playback == oxcast_store::PlaybackPolicy::Signed,
        }))
    }

    /// The item a stored document holds (every field is stored except the owner's search text,
    /// which comes back empty).
    pub fn from_document(doc: &TantivyDocument, f: &Fields) -> Item {
        let text = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let number = |field| doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0);
        Item {
            kind: if text(f.kind) == "stream" { CatalogKind::Stream } else { CatalogKind::Video },
            id: text(f.id),
            title: text(f.title),
            tags: text(f.tags).lines().filter(|t| !t.is_empty()).map(str::to_owned).collect(),
            description: text(f.description),
            owner: String::new(),
            owner_name: text(f.owner_name),
            owner_id: text(f.owner_id),
            category: text(f.category),
            language: text(f.language),
            public: number(f.public) == 1,
            duration_ms: number(f.duration_ms),
            published: doc.get_first(f.published).and_then(|v| v.as_i64()).unwrap_or(0),
            views: number(f.views),
            live: number(f.live) == 1,
            has_poster: number(f.has_poster) == 1,
            signed: number(f.signed) == 1,
        }
    }

    /// The tantivy document.
    pub fn document(&self, f: &Fields) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(f.key, key(self.kind, &self.id));
        doc.add_text(f.kind, self.kind.as_str());
        doc.add_text(f.id, &self.id);
        doc.add_text(f.title, &self.title);
        let tags = self.tags.join("\n");
        doc.add_text(f.tags, &tags);
        doc.add_text(f.description, &self.description);
        doc.add_text(f.owner, &self.owner);
        // The combined fields typo and prefix matching run on (one automaton per word: schema).
        for text in [&self.title, &tags, &self.owner] {
            doc.add_text(f.typo_words, text);
            doc.add_text(f.all_words, text);
        }
        doc.add_text(f.all_words, &self.description);
        doc.add_text(f.owner_name, &self.owner_name);
        doc.add_text(f.owner_id, &self.owner_id);
        doc.add_text(f.category, &self.category);
        doc.add_text(f.language, &self.language);
        doc.add_u64(f.public, u64::from(self.public));
        doc.add_u64(f.duration_ms, self.duration_ms);
        doc.add_i64(f.published, self.published);
        doc.add_u64(f.views, self.views);
        doc.add_u64(f.live, u64::from(self.live));
        doc.add_u64(f.stream, u64::from(self.kind == CatalogKind::Stream));
        doc.add_u64(f.has_poster, u64::from(self.has_poster));
        doc.add_u64(f.signed, u64::from(self.signed));
        doc
    }
}

/// A user's names as searched ("Display Name login") and as shown (empty if the user is gone).
pub(crate) async fn owner_names(store: &Store, owner_id: &str) -> Result<(String, String), StoreError> {
    Ok(match store.users().by_id(owner_id).await? {
        Some(u) if u.display_name.eq_ignore_ascii_case(&u.name) => (u.display_name.clone(), u.display_name),
        Some(u) => (format!("{} {}", u.display_name, u.name), u.display_name),
        None => (String::new(), String::new()),
    })
}
