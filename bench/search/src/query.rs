//! `search-bench query`: the query mix, closed loop with N clients, against each target in turn.
//!
//! Each client sends its next query as soon as the last one answered (the highest load N
//! clients can make); client `w` starts at query `w × len / N` so they do not move in lockstep.
//! One warm-up pass of the mix is not counted; then `passes` passes are.

use std::io::BufRead;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::stats::{Sample, cpu_seconds, report};
use crate::targets::{Query, Target};

#[derive(clap::Args)]
pub struct Args {
    /// queries.jsonl from corpus.py.
    #[arg(long)]
    queries: std::path::PathBuf,
    /// NAME=SPEC, in order: `oxcast=http://127.0.0.1:8080`, `index=index:DIR`,
    /// `postgres=postgres://...`.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Counted passes over the mix.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// The oxcast server's pid, to count its CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Pin PostgreSQL's backends for this run to these CPUs (`taskset -cp`), as the server is.
    #[arg(long)]
    pin_postgres: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let file = std::fs::File::open(&args.queries).with_context(|| format!("{}", args.queries.display()))?;
    let queries: Vec<Query> = std::io::BufReader::new(file)
        .lines()
        .map(|line| Ok(serde_json::from_str(&line?)?))
        .collect::<anyhow::Result<_>>()?;
    let queries = Arc::new(queries);
    let mut results = serde_json::Map::new();
    for spec in &args.targets {
        let (name, spec) = spec.split_once('=').context("--target NAME=SPEC")?;
        let target = Arc::new(Target::open(spec, args.concurrency, args.server_pid).await?);
        if let (Target::Postgres { .. }, Some(cpus)) = (&*target, &args.pin_postgres) {
            for pid in target.server_pids() {
                let status = std::process::Command::new("taskset")
                    .args(["-cp", cpus, &pid.to_string()])
                    .stdout(std::process::Stdio::null())
                    .status()?;
                anyhow::ensure!(status.success(), "taskset -cp {cpus} {pid} failed");
            }
        }
        run_passes(&target, &queries, args.concurrency, 1).await?;
        let pids = target.server_pids();
        let cpu_before: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
        let started = Instant::now();
        let samples = run_passes(&target, &queries, args.concurrency, args.passes).await?;
        let seconds = started.elapsed().as_secs_f64();
        let cpu = pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - cpu_before;
        let mut summary = report(&samples);
        summary["seconds"] = json!(seconds);
        summary["queries_per_second"] = json!(samples.len() as f64 / seconds);
        summary["server_cpu_seconds"] = json!(cpu);
        summary["server_cpu_ms_per_query"] = json!(cpu * 1000.0 / samples.len() as f64);
        eprintln!("{name}: {}", summary["all"]);
        results.insert(name.to_owned(), summary);
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({"concurrency": args.concurrency, "passes": args.passes,
        "queries_in_mix": queries.len(), "targets": results}))?
    );
    Ok(())
}

async fn run_passes(
    target: &Arc<Target>,
    queries: &Arc<Vec<Query>>,
    concurrency: usize,
    passes: usize,
) -> anyhow::Result<Vec<Sample>> {
    let concurrency = concurrency.max(1);
    let per_client = queries.len() * passes / concurrency;
    let mut clients = Vec::new();
    for worker in 0..concurrency {
        let (target, queries) = (target.clone(), queries.clone());
        clients.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_client);
            let first = worker * queries.len() / concurrency;
            for i in 0..per_client {
                let query = &queries[(first + i) % queries.len()];
                let started = Instant::now();
                let hits = target.run(worker, query).await.with_context(|| format!("query {:?}", query.q))?;
                samples.push(Sample { kind: query.kind.clone(), micros: started.elapsed().as_micros() as u64, hits });
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::new();
    for client in clients {
        all.extend(client.await??);
    }
    Ok(all)
}
