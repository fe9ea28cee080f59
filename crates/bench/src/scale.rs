//! `scale`: what pending invites cost every node of a network, from the shard store's frame
//! version on. N real `accord daemon`s on 127.0.0.1 (mDNS and the DHT off, every node
//! bootstrapped to node 0, every node relaying every shard, as by default). The gossip bytes
//! each node receives (libp2p substream bytes, `accord stats`'s `net_bytes_in`) are measured
//! over a window while the network idles, then over a window in which each node sends 5 invites
//! to identities that are never online (so they stay pending), covering the first send and the
//! two quick republications (2 s and 32 s after it; the next refresh is a day later). Then the
//! shard store's bytes per node.
//!
//! - `gossip_in`: bytes/s received per node with the pending invites vs without (same run);
//! - `bytes_per_frame`: bytes received per node for each frame published anywhere, vs the
//!   frame's own size (the relay fan-out factor, the constant of the scale model);
//! - `store_bytes`: the shard store's bytes per node vs the bytes of every frame published.

use std::path::Path;
use std::time::Duration;

use accord_api::Client;
use accord_identity::Identity;
use anyhow::{Context, Result, bail};
use getrandom::SysRng;
use rand_core::UnwrapErr;

use crate::e2e::{Daemon, accord_binary};
use crate::measure::{Better, Row, report};

/// mDNS and the DHT off: gossip is the only traffic to measure.
const CONFIG: &str = "[network]\nmdns = false\ndht = false\n";
/// Pending invites per node, to identities that never come online.
const INVITES_PER_NODE: usize = 5;
/// Publications of each invite within the window: the send and two quick republications.
const PUBLICATIONS: usize = 3;
/// The window with the pending invites: past the second republication (32 s after the send).
const PENDING_WINDOW: Duration = Duration::from_secs(40);
/// The size of one invite frame with the bench's short note: a 512-byte bucket, its 49 bytes
/// of box overhead and the 13-byte frame header.
const INVITE_FRAME_BYTES: f64 = 574.0;

/// Runs the suite on `nodes` daemons.
pub(crate) async fn run(quick: bool, nodes: usize) -> Result<()> {
    if nodes < 2 {
        bail!("--nodes must be at least 2, not {nodes}");
    }
    let accord = accord_binary()?;
    println!(
        "== scale: {nodes} accord daemons on 127.0.0.1 (DHT and mDNS off), {INVITES_PER_NODE} \
         pending invites each to offline identities vs none, same run"
    );
    let root = tempfile::tempdir().context("temp dir")?;
    let mut started = Vec::new();
    let result = measure(&accord, root.path(), nodes, quick, &mut started).await;
    futures::future::join_all(started.into_iter().map(Daemon::stop)).await;
    let rows = result?;
    report("scale", "5 pending", "none", &rows);
    Ok(())
}

/// Starts the network into `started`, measures, and returns the rows.
async fn measure(
    accord: &Path,
    root: &Path,
    nodes: usize,
    quick: bool,
    started: &mut Vec<Daemon>,
) -> Result<Vec<Row>> {
    start_network(accord, root, nodes, started).await?;
    let mut clients = Vec::new();
    for daemon in started.iter() {
        clients.push(daemon.client().await?);
    }
    // Let the meshes form before anything is measured.
    tokio::time::sleep(Duration::from_secs(if quick { 5 } else { 15 })).await;
    let idle_window = Duration::from_secs(if quick { 10 } else { 30 });
    let idle = bytes_in(&mut clients).await?;
    tokio::time::sleep(idle_window).await;
    let idle_rate = per_node_rate(&idle, &bytes_in(&mut clients).await?, idle_window);

    let before = bytes_in(&mut clients).await?;
    invite_offline_identities(&mut clients).await?;
    tokio::time::sleep(PENDING_WINDOW).await;
    let pending_rate = per_node_rate(&before, &bytes_in(&mut clients).await?, PENDING_WINDOW);

    let mut stored = 0.0;
    for client in &mut clients {
        stored += client.stats().await.context("stats")?.shard_store_bytes as f64;
    }
    let stored_per_node = stored / nodes as f64;
    let frames = (nodes * INVITES_PER_NODE * PUBLICATIONS) as f64;
    let extra_bytes = (pending_rate - idle_rate).max(0.0) * PENDING_WINDOW.as_secs_f64();
    Ok(vec![
        Row::key(
            "gossip_in",
            "bytes/s received per node, 5 pending each vs none",
            pending_rate,
            idle_rate,
            "B/s",
            Better::Lower,
        ),
        Row::key(
            "bytes_per_frame",
            "bytes received per node per published frame vs its size",
            extra_bytes / frames,
            INVITE_FRAME_BYTES,
            "B",
            Better::Lower,
        ),
        Row::key(
            "store_bytes",
            "shard store bytes per node vs all frames published",
            stored_per_node,
            frames * INVITE_FRAME_BYTES,
            "B",
            Better::Lower,
        ),
    ])
}

/// Starts node 0, then the others one by one bootstrapped to it, into `started` (so that the
/// caller stops whatever started, even after a failure).
async fn start_network(
    accord: &Path,
    root: &Path,
    nodes: usize,
    started: &mut Vec<Daemon>,
) -> Result<()> {
    let first = Daemon::start_with(accord, root.join("node-0"), None, CONFIG)
        .await
        .context("node 0")?;
    let bootstrap = first.tcp_addr.clone();
    started.push(first);
    for index in 1..nodes {
        let daemon = Daemon::start_with(
            accord,
            root.join(format!("node-{index}")),
            Some(&bootstrap),
            CONFIG,
        )
        .await
        .with_context(|| format!("node {index}"))?;
        started.push(daemon);
    }
    Ok(())
}

/// Each node invites [`INVITES_PER_NODE`] fresh identities that never come online.
async fn invite_offline_identities(clients: &mut [Client]) -> Result<()> {
    let mut rng = UnwrapErr(SysRng);
    for client in clients {
        for _ in 0..INVITES_PER_NODE {
            let offline = Identity::generate(&mut rng).id().to_string();
            client
                .connect_peer(&offline, "scale")
                .await
                .context("connect")?;
        }
    }
    Ok(())
}

/// Every node's `net_bytes_in`, in node order.
async fn bytes_in(clients: &mut [Client]) -> Result<Vec<u64>> {
    let mut out = Vec::with_capacity(clients.len());
    for client in clients {
        out.push(client.stats().await.context("stats")?.net_bytes_in);
    }
    Ok(out)
}

/// The mean over nodes of the bytes received between `before` and `after`, per second.
fn per_node_rate(before: &[u64], after: &[u64], window: Duration) -> f64 {
    let total: u64 = before
        .iter()
        .zip(after)
        .map(|(b, a)| a.saturating_sub(*b))
        .sum();
    total as f64 / before.len().max(1) as f64 / window.as_secs_f64()
}
