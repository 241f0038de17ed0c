//! `oxcast`: the command line. See `oxcast --help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use oxcast::config::{Config, Overrides};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(name = "oxcast", version, about = "Live-streaming server: RTMP, SRT and WHIP in, Low-Latency HLS out")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Common {
    /// TOML configuration file (see oxcast.example.toml).
    #[arg(long, env = "OXCAST_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, generated admin token).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        common: Common,
        /// HTTP listen address (API, player, LL-HLS).
        #[arg(long)]
        http: Option<SocketAddr>,
        /// RTMP listen address.
        #[arg(long)]
        rtmp: Option<SocketAddr>,
        /// SRT listen address (UDP; needs a fixed port).
        #[arg(long)]
        srt: Option<SocketAddr>,
    },
    /// Manage streams.
    Stream {
        #[command(subcommand)]
        command: StreamCommand,
    },
}

#[derive(Debug, Subcommand)]
enum StreamCommand {
    /// Create a stream; its key is the last line of output.
    Create {
        name: String,
        /// Transcoding profile (default: the server's live.default_profile).
        #[arg(long)]
        profile: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Replace a stream's key; the new key is the last line of output.
    RotateKey {
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// Set a stream's transcoding profile (omit PROFILE for the server default).
    SetProfile {
        name: String,
        profile: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Require SRT publishers of a stream to encrypt with PASSPHRASE (10-79 characters); omit it
    /// to allow unencrypted SRT again.
    SetSrtPassphrase {
        name: String,
        passphrase: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List streams.
    List {
        #[command(flatten)]
        common: Common,
    },
}

fn load(common: &Common, overrides: Overrides) -> anyhow::Result<Config> {
    Config::load(common.config.as_deref(), &Overrides { data_dir: common.data_dir.clone(), ..overrides })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,mpeg2ts_reader=error,srt_protocol=warn,srt_protocol::listener=error".into()),
        )
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; plain text for log files and collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Serve { common, http, rtmp, srt } => {
            let config = load(&common, Overrides { http, rtmp, srt, data_dir: None })?;
            let shutdown = CancellationToken::new();
            let on_signal = shutdown.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                on_signal.cancel();
            });
            #[cfg(unix)]
            {
                let on_term = shutdown.clone();
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                tokio::spawn(async move {
                    term.recv().await;
                    on_term.cancel();
                });
            }
            let listeners = oxcast::serve::Listeners::bind(&config).await?;
            let report = oxcast::serve::run(config, listeners, shutdown).await?;
            anyhow::ensure!(!report.timed_out, "shutdown left tasks running after {:?}", report.took);
            Ok(())
        }
        Command::Stream { command } => match command {
            StreamCommand::Create { name, profile, common } => {
                let config = load(&common, Overrides::default())?;
                let profile = config.known_profiles()?.check_optional(profile.as_deref())?;
                let store = oxcast::serve::open_store(&config).await?;
                let created = store.streams().create(&name, profile.as_ref()).await.context("creating the stream")?;
                println!("Created stream {}. Publish to it with this stream key:", created.name);
                println!("{}", created.key.as_str());
                Ok(())
            }
            StreamCommand::SetProfile { name, profile, common } => {
                let config = load(&common, Overrides::default())?;
                let known = config.known_profiles()?;
                let checked = known.check_optional(profile.as_deref())?;
                let store = oxcast::serve::open_store(&config).await?;
                anyhow::ensure!(store.streams().set_profile(&name, checked.as_ref()).await?, "no stream named {name}");
                let effective = known.effective(profile.as_deref());
                println!("Stream {name} uses profile {effective} from its next publish.");
                Ok(())
            }
            StreamCommand::RotateKey { name, common } => {
                let store = oxcast::serve::open_store(&load(&common, Overrides::default())?).await?;
                let key =
                    store.streams().rotate_key(&name).await?.with_context(|| format!("no stream named {name}"))?;
                println!("New stream key for {name} (the old one no longer works):");
                println!("{}", key.as_str());
                Ok(())
            }
            StreamCommand::SetSrtPassphrase { name, passphrase, common } => {
                let store = oxcast::serve::open_store(&load(&common, Overrides::default())?).await?;
                let found = store.streams().set_srt_passphrase(&name, passphrase.as_deref()).await?;
                anyhow::ensure!(found, "no stream named {name}");
                match passphrase {
                    Some(_) => println!("SRT publishers of {name} must now encrypt with that passphrase."),
                    None => println!("SRT publishers of {name} now connect unencrypted."),
                }
                Ok(())
            }
            StreamCommand::List { common } => {
                let store = oxcast::serve::open_store(&load(&common, Overrides::default())?).await?;
                for stream in store.streams().list().await? {
                    println!("{}", stream.name);
                }
                Ok(())
            }
        },
    }
}
