//! `search-bench`: the tools behind `bench/search.sh` (issue 14's search benchmark).
//!
//! - `load`: a catalog made by `corpus.py` into an oxcast store, through the store's own API
//!   (users, videos made ready, publication times and view counts), so `oxcast index rebuild`
//!   and the server index exactly what they would index for real uploads.
//! - `index`: the same catalog straight into an index, no store (the engine's build time, and
//!   an index to profile queries on).
//! - `query`: a fixed query mix, closed loop with N concurrent clients, against oxcast's
//!   `GET /api/search` over HTTP, oxcast's index in-process (the engine without HTTP), and
//!   PostgreSQL full-text search over the same rows (`postgres.sql`); latency percentiles
//!   overall and per kind of query, and how many results each returned.
//!
//! A separate program from the server so that the load it makes is not the server's own work;
//! `bench/search.sh` pins it to another core.

mod catalog;
mod index;
mod load;
mod query;
mod stats;
mod targets;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "oxcast's search benchmark: load a catalog, run a query mix")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Loads catalog.jsonl into an oxcast store.
    Load(load::Args),
    /// Builds a search index from catalog.jsonl directly (no store).
    Index(index::Args),
    /// Runs the query mix against each target.
    Query(query::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Load(args) => load::run(args).await,
        Command::Index(args) => index::run(args),
        Command::Query(args) => query::run(args).await,
    }
}
