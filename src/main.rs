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
        /// HTTPS listen address (needs [tls] cert_file and key_file).
        #[arg(long)]
        https: Option<SocketAddr>,
        /// RTMP listen address.
        #[arg(long)]
        rtmp: Option<SocketAddr>,
        /// SRT listen address (UDP).
        #[arg(long)]
        srt: Option<SocketAddr>,
    },
    /// Run a node that only processes uploads (no listeners): it claims jobs from the shared
    /// database, so several workers split the queue.
    Worker {
        #[command(flatten)]
        common: Common,
        /// Jobs processed at once (default: [vod] workers, at least 1).
        #[arg(long)]
        workers: Option<u32>,
    },
    /// Manage streams.
    Stream {
        #[command(subcommand)]
        command: StreamCommand,
    },
    /// Manage user accounts (creators and admins).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage this node's search index.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Copy an embedded install (SQLite and local media) into the database and storage of this
    /// configuration (PostgreSQL, and S3 if [storage] says so), then check every row and object.
    /// Stop the old server first; run it again after an interruption and it goes on.
    Migrate {
        /// The new install (its database_url must be PostgreSQL).
        #[command(flatten)]
        common: Common,
        /// The old install's configuration file, if it had one (the environment is not read
        /// for it: it describes the new install).
        #[arg(long)]
        from_config: Option<PathBuf>,
        /// The old install's data directory (its oxcast.db and media).
        #[arg(long)]
        from_data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum IndexCommand {
    /// Rebuild the search index from the database (stop the server of this data directory first:
    /// an index has one writer). A running server rebuilds by itself when it needs to.
    Rebuild {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from standard input (one line) with
    /// --password-stdin; without it the user has no web login (API tokens only).
    Create {
        name: String,
        /// Make the user an admin (sees and manages everything).
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Set a user's password (read from standard input, one line); empty removes it.
    SetPassword {
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// List users.
    List {
        #[command(flatten)]
        common: Common,
    },
}

/// One line from standard input, without its line end.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[derive(Debug, Subcommand)]
enum StreamCommand {
    /// Create a stream; its key is the last line of output.
    Create {
        name: String,
        /// Transcoding profile (default: the server's live.default_profile).
        #[arg(long)]
        profile: Option<String>,
        /// The user who owns it (default: the first admin).
        #[arg(long)]
        owner: Option<String>,
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
    /// Record a stream's broadcasts into the video catalog: `on`, `off`, or `default` (the
    /// server's `[live] record`). Applies from the next broadcast.
    SetRecording {
        name: String,
        #[arg(value_parser = ["on", "off", "default"])]
        mode: String,
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

/// A token cancelled by Ctrl-C or SIGTERM.
fn cancelled_by_signals() -> anyhow::Result<CancellationToken> {
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
    Ok(shutdown)
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
        Command::Serve { common, http, https, rtmp, srt } => {
            let config = load(&common, Overrides { http, https, rtmp, srt, data_dir: None })?;
            let shutdown = cancelled_by_signals()?;
            let listeners = oxcast::serve::Listeners::bind(&config).await?;
            let report = oxcast::serve::run(config, listeners, shutdown).await?;
            anyhow::ensure!(!report.timed_out, "shutdown left tasks running after {:?}", report.took);
            Ok(())
        }
        Command::Worker { common, workers } => {
            let mut config = load(&common, Overrides::default())?;
            if let Some(workers) = workers {
                config.vod.workers = workers;
            }
            oxcast::worker::run(config, cancelled_by_signals()?).await
        }
        Command::Index { command: IndexCommand::Rebuild { common } } => {
            let config = load(&common, Overrides::default())?;
            let store = oxcast::serve::open_store(&config).await?;
            let dir = config.search_index_dir();
            let index = oxcast_search::SearchIndex::open(&dir)
                .with_context(|| format!("opening the search index in {}", dir.display()))?;
            let index = std::sync::Arc::new(index);
            let count = oxcast_search::rebuild(&index, &store).await?;
            println!("Search index in {} rebuilt: {count} videos and streams.", dir.display());
            Ok(())
        }
        Command::Migrate { common, from_config, from_data_dir } => {
            anyhow::ensure!(
                from_config.is_some() || from_data_dir.is_some(),
                "name the old install with --from-data-dir DIR (and --from-config FILE if it had one)"
            );
            let target = load(&common, Overrides::default())?;
            let source = oxcast::migrate::Source { config: from_config, data_dir: from_data_dir };
            oxcast::migrate::run(&source, &target).await
        }
        Command::User { command } => match command {
            UserCommand::Create { name, admin, display_name, password_stdin, common } => {
                let store = oxcast::serve::open_store(&load(&common, Overrides::default())?).await?;
                let password = if password_stdin { Some(read_password()?) } else { None };
                let role = if admin { oxcast_store::Role::Admin } else { oxcast_store::Role::Creator };
                let user = store
                    .users()
                    .create(oxcast_store::NewUser {
                        name: &name,
                        display_name: display_name.as_deref(),
                        password: password.as_deref(),
                        role,
                    })
                    .await
                    .context("creating the user")?;
                println!("Created {} {} ({}).", role.as_str(), user.name, user.id);
                if !user.has_password {
                    println!("No password: set one with `oxcast user set-password {}` for the web login.", user.name);
                }
                Ok(())
            }
            UserCommand::SetPassword { name, common } => {
                let store = oxcast::serve::open_store(&load(&common, Overrides::default())?).await?;
                let user = store.users().by_name(&name).await?.with_context(|| format!("no user named {name}"))?;
                let password = read_password()?;
                let password = (!password.is_empty()).then_some(password);
                store.users().set_password(&user.id, password.as_deref()).await.context("setting the password")?;
                match password {
                    Some(_) => println!("Password of {} set.", user.name),
                    None => println!("Password of {} removed: no web login.", user.name),
                }
                Ok(())
            }
            UserCommand::List { common } => {
                let store = oxcast::serve::open_store(&load(&common, Overrides::default())?).await?;
                let mut page = oxcast_store::PageRequest { limit: Some(oxcast_store::MAX_PAGE_SIZE), cursor: None };
                loop {
                    let users = store.users().list(&page).await?;
                    for u in &users.items {
                        println!("{}\t{}\t{}", u.name, u.role.as_str(), u.display_name);
                    }
                    match users.next_cursor {
                        Some(c) => page.cursor = Some(c),
                        None => break,
                    }
                }
                Ok(())
            }
        },
        Command::Stream { command } => match command {
            StreamCommand::Create { name, profile, owner, common } => {
                let config = load(&common, Overrides::default())?;
                let profile = config.known_profiles()?.check_optional(profile.as_deref())?;
                let store = oxcast::serve::open_store(&config).await?;
                let owner = match owner {
                    Some(owner) => {
                        store.users().by_name(&owner).await?.with_context(|| format!("no user named {owner}"))?
                    }
                    None => store.users().ensure_first_admin().await?,
                };
                let created =
                    store.streams().create(&name, &owner.id, profile.as_ref()).await.context("creating the stream")?;
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
            StreamCommand::SetRecording { name, mode, common } => {
                let store = oxcast::serve::open_store(&load(&common, Overrides::default())?).await?;
                let record = match mode.as_str() {
                    "on" => Some(true),
                    "off" => Some(false),
                    _ => None,
                };
                let found = store.streams().set_record(&name, record).await?;
                anyhow::ensure!(found, "no stream named {name}");
                println!("Broadcasts of {name}: recording {mode} (from the next broadcast).");
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
