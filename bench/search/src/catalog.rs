//! A row of catalog.jsonl (what `corpus.py` writes), and reading the file: shared by `load`
//! and `index`.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// One video of the catalog.
#[derive(Deserialize)]
pub struct Row {
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub category: String,
    pub language: String,
    pub duration_s: i64,
    pub published_at: i64,
    pub views: i64,
    /// The uploader's login.
    pub owner: String,
    pub owner_display: String,
}

/// Every row of `path`, in order.
pub fn read(path: &Path) -> anyhow::Result<Vec<Row>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    std::io::BufReader::new(file).lines().map(|line| Ok(serde_json::from_str(&line?)?)).collect()
}
