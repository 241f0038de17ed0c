//! What a query runs against: oxcast over HTTP, oxcast's index in-process, or PostgreSQL.
//!
//! Each answers the same [`Query`] with the first page (20 results, and whether there are more)
//! ranked by relevance, the way a search page asks. The PostgreSQL side is the approach PeerTube
//! takes: a weighted `tsvector` (title A, tags B, description C, owner D) with a GIN index for
//! words, the last word as a prefix (`:*`) as oxcast matches it while it is typed, and pg_trgm
//! similarity on the title (a trigram GIN index) for typos; see `postgres.sql`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use oxcast_search::{SearchIndex, SearchRequest};
use serde::Deserialize;

/// One query of the mix.
#[derive(Debug, Clone, Deserialize)]
pub struct Query {
    pub kind: String,
    pub q: String,
    pub category: Option<String>,
    pub min_duration_s: Option<i64>,
    pub max_duration_s: Option<i64>,
}

/// The page size every target is asked for (and one more, to know whether a next page exists).
pub const PAGE: usize = 20;

pub enum Target {
    Http { client: reqwest::Client, base: String, server_pid: Option<u32> },
    Index(Arc<SearchIndex>),
    Postgres { clients: Vec<PgClient> },
}

pub struct PgClient {
    client: tokio_postgres::Client,
    plain: tokio_postgres::Statement,
    filtered: tokio_postgres::Statement,
    pub backend_pid: u32,
}

const PG_PLAIN: &str = "SELECT id, title FROM videos, to_tsquery('simple', $1) q \
    WHERE tsv @@ q OR lower(title) % $2 \
    ORDER BY ts_rank(tsv, q) + similarity(lower(title), $2) DESC LIMIT 21";
const PG_FILTERED: &str = "SELECT id, title FROM videos, to_tsquery('simple', $1) q \
    WHERE (tsv @@ q OR lower(title) % $2) AND category = $3 AND duration_s BETWEEN $4 AND $5 \
    ORDER BY ts_rank(tsv, q) + similarity(lower(title), $2) DESC LIMIT 21";

impl Target {
    /// `http://HOST:PORT` (oxcast's API), `index:DIR` (a copy of an oxcast search index) or
    /// `postgres://...` (a database loaded with postgres.sql); `connections` for PostgreSQL.
    pub async fn open(spec: &str, connections: usize, server_pid: Option<u32>) -> anyhow::Result<Self> {
        if let Some(dir) = spec.strip_prefix("index:") {
            let index = SearchIndex::open(Path::new(dir)).with_context(|| format!("index {dir}"))?;
            anyhow::ensure!(!index.is_empty(), "index {dir} is empty");
            return Ok(Self::Index(Arc::new(index)));
        }
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            let mut clients = Vec::new();
            for _ in 0..connections {
                let (client, connection) = tokio_postgres::connect(spec, tokio_postgres::NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        eprintln!("postgres connection: {e}");
                    }
                });
                let plain = client.prepare(PG_PLAIN).await?;
                let filtered = client.prepare(PG_FILTERED).await?;
                let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
                clients.push(PgClient { client, plain, filtered, backend_pid: pid as u32 });
            }
            return Ok(Self::Postgres { clients });
        }
        let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build()?;
        Ok(Self::Http { client, base: spec.trim_end_matches('/').to_owned(), server_pid })
    }

    /// The processes doing this target's work, whose CPU time is counted.
    pub fn server_pids(&self) -> Vec<u32> {
        match self {
            Self::Http { server_pid, .. } => server_pid.iter().copied().collect(),
            Self::Index(_) => vec![std::process::id()],
            Self::Postgres { clients } => clients.iter().map(|c| c.backend_pid).collect(),
        }
    }

    /// Runs `query` as client `worker`; how many results the first page holds.
    pub async fn run(&self, worker: usize, query: &Query) -> anyhow::Result<usize> {
        match self {
            Self::Http { client, base, .. } => {
                let mut params = vec![("q", query.q.clone()), ("limit", PAGE.to_string())];
                if let Some(c) = &query.category {
                    params.push(("category", c.clone()));
                }
                if let (Some(lo), Some(hi)) = (query.min_duration_s, query.max_duration_s) {
                    params.push(("min_duration", lo.to_string()));
                    params.push(("max_duration", hi.to_string()));
                }
                let url = reqwest::Url::parse_with_params(&format!("{base}/api/search"), &params)?;
                let response = client.get(url).send().await?;
                let status = response.status();
                let body: serde_json::Value = response.json().await?;
                anyhow::ensure!(status.is_success(), "{status}: {body}");
                Ok(body["videos"]["items"].as_array().map_or(0, Vec::len))
            }
            Self::Index(index) => {
                let index = index.clone();
                let request = SearchRequest {
                    text: query.q.clone(),
                    category: query.category.clone(),
                    min_duration_ms: query.min_duration_s.map(|s| s as u64 * 1000),
                    max_duration_ms: query.max_duration_s.map(|s| s as u64 * 1000),
                    limit: PAGE,
                    ..SearchRequest::default()
                };
                let results = tokio::task::spawn_blocking(move || index.search(&request)).await??;
                Ok(results.videos.len())
            }
            Self::Postgres { clients } => {
                let pg = &clients[worker % clients.len()];
                let words = words(&query.q);
                let tsquery = match words.split_last() {
                    Some((last, rest)) => {
                        rest.iter().map(|w| format!("{w} & ")).collect::<String>() + &format!("{last}:*")
                    }
                    None => return Ok(0),
                };
                let text = query.q.to_lowercase();
                let rows = match (&query.category, query.min_duration_s, query.max_duration_s) {
                    (Some(category), Some(lo), Some(hi)) => {
                        let (lo, hi) = (lo as i32, hi as i32);
                        pg.client.query(&pg.filtered, &[&tsquery, &text, category, &lo, &hi]).await?
                    }
                    _ => pg.client.query(&pg.plain, &[&tsquery, &text]).await?,
                };
                Ok(rows.len().min(PAGE))
            }
        }
    }
}

/// Words as the query's letters and digits, lowercased: what `to_tsquery` may be given without
/// quoting.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}
