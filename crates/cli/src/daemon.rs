//! `accord init` and `accord daemon`: the commands that own a data dir directly.

use std::path::{Path, PathBuf};

use accord_node::{DataDir, Node, NodeOptions};
use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use crate::passphrase;

/// Arguments of `accord daemon`.
#[derive(Debug, clap::Args)]
pub(crate) struct DaemonArgs {
    /// Listen on this multiaddr instead of `network.listen` (repeatable)
    #[arg(long, value_name = "MULTIADDR", conflicts_with = "no_listen")]
    listen: Vec<String>,
    /// Listen on no direct address at all: reachable only through relays
    #[arg(long)]
    no_listen: bool,
    /// Reserve a slot on this circuit relay (ends in /p2p/<id>; repeatable; adds to
    /// `network.relays`)
    #[arg(long, value_name = "MULTIADDR")]
    relay: Vec<String>,
    /// Serve relay reservations and circuits for others (limits in `[relay]`)
    #[arg(long)]
    relay_server: bool,
    /// Also dial this multiaddr at start and add it to the DHT (repeatable)
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// Turn LAN discovery (mDNS) off
    #[arg(long)]
    no_mdns: bool,
    /// The key file's passphrase is in this file (or set ACCORD_PASSPHRASE)
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

/// `accord init`.
pub(crate) fn init(
    data_dir: &Path,
    passphrase_file: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let passphrase = passphrase::read(passphrase_file)?;
    let dir = DataDir::new(data_dir);
    dir.prepare()?;
    // Holding the lock keeps a daemon from creating its own identity at the same moment.
    let _lock = dir.lock()?;
    let identity = accord_node::create_identity(&dir, passphrase.as_ref())?;
    let id = identity.id();
    if json {
        let doc = serde_json::json!({
            "id": id.to_string(),
            "fingerprint": id.fingerprint().to_string(),
            "key_file": dir.key_file(),
            "encrypted": passphrase.is_some(),
        });
        println!("{doc}");
    } else {
        println!("Created identity {id}");
        println!("Fingerprint: {}", id.fingerprint());
        println!(
            "Key file: {}{}",
            dir.key_file().display(),
            if passphrase.is_some() {
                " (encrypted)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// `accord daemon`: runs until SIGINT or SIGTERM (or `accord stop`).
pub(crate) async fn run(data_dir: &Path, args: DaemonArgs, log_level: &str) -> anyhow::Result<()> {
    init_logging(log_level);
    let mut options = NodeOptions::new(data_dir);
    options.passphrase = passphrase::read(args.passphrase_file.as_deref())?;
    options.listen = args.listen;
    options.bootstrap = args.bootstrap;
    options.no_listen = args.no_listen;
    options.relays = args.relay;
    options.relay_server = args.relay_server;
    if args.no_mdns {
        options.mdns = Some(false);
    }
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let node = Node::start(options).await?;
    eprintln!(
        "accord node {} running; data dir {}",
        node.id(),
        data_dir.display()
    );
    node.run(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
    .await?;
    Ok(())
}

/// Logs go to stderr; `RUST_LOG` wins over `--log-level`.
pub(crate) fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
