//! `rtmp-replay`: publishes one FLV file over many RTMP connections in real time, then prints
//! the run's summary (and with `--each`, every publisher's outcome) as JSON.
//!
//! ```sh
//! rtmp-replay --file clip.flv --address 127.0.0.1:1935 --keys keys.txt --ramp 30 --seconds 60
//! rtmp-replay --file clip.flv --address 127.0.0.1:1935 --publishers 300 --key-prefix s
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use oxcast_bench_publish::{RunOptions, Summary, flv};

#[derive(Parser, Debug)]
#[command(about = "Replays one FLV file over many RTMP publishing connections in real time")]
struct Args {
    /// The FLV file (H.264 + AAC) every publisher sends.
    #[arg(long)]
    file: PathBuf,
    /// The server's RTMP `host:port`.
    #[arg(long)]
    address: String,
    #[arg(long, default_value = "live")]
    app: String,
    /// Stream keys, one per line: one publisher each.
    #[arg(long, conflicts_with = "publishers")]
    keys: Option<PathBuf>,
    /// Or this many publishers with keys PREFIX0, PREFIX1, ...
    #[arg(long, requires = "key_prefix")]
    publishers: Option<usize>,
    #[arg(long)]
    key_prefix: Option<String>,
    /// Seconds over which publishers join.
    #[arg(long, default_value_t = 10)]
    ramp: u64,
    /// Seconds of publishing once every publisher joined.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Also print every publisher's outcome.
    #[arg(long)]
    each: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let data = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let tags = flv::read(&data).with_context(|| args.file.display().to_string())?;
    let keys: Vec<String> = match (&args.keys, args.publishers, &args.key_prefix) {
        (Some(path), _, _) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        (None, Some(n), Some(prefix)) => (0..n).map(|i| format!("{prefix}{i}")).collect(),
        _ => bail!("name the stream keys: --keys FILE, or --publishers N --key-prefix P"),
    };
    let options = RunOptions {
        address: args.address.clone(),
        app: args.app.clone(),
        keys,
        ramp: Duration::from_secs(args.ramp),
        seconds: Duration::from_secs(args.seconds),
    };
    eprintln!(
        "rtmp-replay: {} publishers of {} ({} tags) to {}",
        options.keys.len(),
        args.file.display(),
        tags.len(),
        args.address
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let start = Instant::now();
    let outcomes = runtime.block_on(oxcast_bench_publish::run(tags, &options));
    let summary = Summary::of(&outcomes, start.elapsed());
    let out = if args.each {
        serde_json::json!({ "summary": summary, "publishers": outcomes })
    } else {
        serde_json::to_value(&summary)?
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
