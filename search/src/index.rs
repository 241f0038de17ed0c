//! The index on disk (or in memory for tests), its writer, and its position in the change log.
//!
//! The position is stored *in* the index, as the payload of each commit, so the documents and the
//! position they reflect are committed together: a crash at any point leaves the last commit,
//! with the position that matches it, and the follower re-applies what came after (applying is
//! idempotent). tantivy commits atomically (a new `meta.json` replaces the old one), so a
//! half-written commit is never what opens.

use std::path::Path;
use std::sync::Mutex;

use oxcast_store::CatalogKind;
use tantivy::directory::MmapDirectory;
use tantivy::schema::Schema;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use crate::SearchError;
use crate::document::{Item, key};
use crate::schema::{Fields, SCHEMA_VERSION, register_analyzers, schema};

/// Heap of the one indexing thread (tantivy's minimum is 15 MB).
const WRITER_HEAP_BYTES: usize = 32 * 1024 * 1024;

/// A search index and the one writer this process holds on it.
pub struct SearchIndex {
    pub(crate) index: Index,
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    writer: Mutex<IndexWriter>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("position", &self.position()).finish()
    }
}

/// What the commit payload holds: `v1 42` (schema version, position).
fn payload(position: i64) -> String {
    format!("v{SCHEMA_VERSION} {position}")
}

fn parse_payload(text: &str) -> Option<i64> {
    let (version, position) = text.split_once(' ')?;
    if version != format!("v{SCHEMA_VERSION}") {
        return None;
    }
    position.parse().ok()
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it if needed. An index of another schema version (or
    /// one that does not open) is wiped and started empty, at position 0: the follower then
    /// rebuilds it. Fails if another process holds the index's writer.
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| SearchError::Io(dir.display().to_string(), e))?;
        let (schema, fields) = schema();
        let index = match open_matching(dir, &schema) {
            Some(index) => index,
            None => {
                tracing::warn!(dir = %dir.display(), "search index missing or of another version; starting it anew");
                wipe(dir)?;
                Index::create_in_dir(dir, schema.clone())?
            }
        };
        Self::with_index(index, fields)
    }

    /// An index in memory (tests, and a node without a data directory for it).
    pub fn in_memory() -> Result<Self, SearchError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<Self, SearchError> {
        register_analyzers(&index);
        let writer = index.writer_with_num_threads(1, WRITER_HEAP_BYTES).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => SearchError::InUse,
            other => other.into(),
        })?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Self { index, reader, fields, writer: Mutex::new(writer) })
    }

    /// The change-log position the committed documents reflect (0: none applied).
    pub fn position(&self) -> i64 {
        self.index.load_metas().ok().and_then(|m| m.payload).and_then(|p| parse_payload(&p)).unwrap_or(0)
    }

    /// Replaces each item's document (`None`: removes it), then commits at `position` and makes
    /// the result visible to searches.
    pub fn apply(&self, changes: &[(CatalogKind, String, Option<Item>)], position: i64) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for (kind, id, item) in changes {
            writer.delete_term(Term::from_field_text(self.fields.key, &key(*kind, id)));
            if let Some(item) = item {
                writer.add_document(item.document(&self.fields))?;
            }
        }
        commit(&mut writer, position)?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// Replaces everything with `items`, at `position`, in one commit (a search during the
    /// rebuild sees the old index until the new one is committed).
    pub fn replace_all(&self, items: &[Item], position: i64) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer.delete_all_documents()?;
        for item in items {
            writer.add_document(item.document(&self.fields))?;
        }
        commit(&mut writer, position)?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// How many documents searches see now.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn commit(writer: &mut IndexWriter, position: i64) -> Result<(), SearchError> {
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&payload(position));
    prepared.commit()?;
    Ok(())
}

/// The index in `dir` if it opens with this schema and version.
fn open_matching(dir: &Path, schema: &Schema) -> Option<Index> {
    let directory = MmapDirectory::open(dir).ok()?;
    if !Index::exists(&directory).ok()? {
        return None;
    }
    let index = Index::open(directory).ok()?;
    if index.schema() != *schema {
        return None;
    }
    let metas = index.load_metas().ok()?;
    // A fresh index has no payload yet; one of another version does not parse.
    match metas.payload {
        Some(p) if parse_payload(&p).is_none() => None,
        _ => Some(index),
    }
}

/// Removes every file of an old index (the directory itself stays).
fn wipe(dir: &Path) -> Result<(), SearchError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SearchError::Io(dir.display().to_string(), e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.map_err(|e| SearchError::Io(path.display().to_string(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, title: &str) -> Item {
        Item {
            kind: CatalogKind::Video,
            id: id.into(),
            title: title.into(),
            tags: vec![],
            description: String::new(),
            owner: "Ann ann".into(),
            owner_name: "Ann".into(),
            owner_id: "u_1".into(),
            category: String::new(),
            language: String::new(),
            public: true,
            duration_ms: 1000,
            published: 1,
            views: 0,
            live: false,
            has_poster: false,
            signed: false,
        }
    }

    #[test]
    fn the_position_is_committed_with_the_documents_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = SearchIndex::open(dir.path()).unwrap();
            assert_eq!((index.position(), index.len()), (0, 0));
            index.apply(&[(CatalogKind::Video, "v_1".into(), Some(item("v_1", "one")))], 7).unwrap();
            index.apply(&[(CatalogKind::Video, "v_1".into(), Some(item("v_1", "one again")))], 8).unwrap();
            assert_eq!((index.position(), index.len()), (8, 1), "a change replaces the document");
            assert!(matches!(SearchIndex::open(dir.path()), Err(SearchError::InUse)), "one writer per index");
        }
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!((index.position(), index.len()), (8, 1));
        index.apply(&[(CatalogKind::Video, "v_1".into(), None)], 9).unwrap();
        assert_eq!((index.position(), index.len()), (9, 0), "a deletion removes it");
    }

    #[test]
    fn an_index_of_another_version_is_started_anew() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = SearchIndex::open(dir.path()).unwrap();
            index.apply(&[(CatalogKind::Video, "v_1".into(), Some(item("v_1", "one")))], 5).unwrap();
            let mut writer = index.writer.lock().unwrap();
            let mut prepared = writer.prepare_commit().unwrap();
            prepared.set_payload("v0 5");
            prepared.commit().unwrap();
        }
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!((index.position(), index.len()), (0, 0));
    }
}
