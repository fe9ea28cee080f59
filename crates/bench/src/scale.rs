//! `scale`: what pending invites cost every node of a network under the shard layout, from the
//! shard store's frame version on. Two networks of N real `accord daemon`s on 127.0.0.1 (mDNS
//! and the DHT off, every node bootstrapped to node 0), one after the other in the same run:
//!
//! - **one shard** (the baseline): the default configuration. N daemons estimate a network of
//!   N nodes, which is level 0 at the default 128 users per shard: every node relays and
//!   stores every frame, as every node did before the layout grew with the network.
//! - **16 shards** (ours): level 4, the level the rule gives a network of 2,048–4,095 users,
//!   fixed with `gossip.shards = 16` because N daemons on one machine are far too few to reach
//!   it by estimate. Node 0, the bootstrap node every other node connects through, relays
//!   every shard (`gossip.relay_all_shards`), as a bootstrap node of a star must; every other
//!   node subscribes to its own shard only.
//!
//! In each network the gossip bytes each node receives (libp2p substream bytes, `accord
//! stats`'s `net_bytes_in`) are measured over a window while it idles, then over a window in
//! which each node sends 5 invites to identities that are never online (so they stay
//! pending), covering the first send and the two quick republications (2 s and 32 s after it;
//! the next refresh is a day later); then the shard store's bytes. Per-node figures are over
//! nodes 1..N (node 0 is the hub in both).
//!
//! - `gossip_in`: bytes/s received per node with the pending invites, 16 shards vs one;
//! - `bytes_per_frame`: bytes received per node for each frame published anywhere with one
//!   shard, vs the frame's own size (the relay fan-out factor `c` of the scale model);
//! - `shard_share`: the same with 16 shards vs with one (the share of the network's frames a
//!   node carries: ideally 1/16);
//! - `store_bytes`: the shard store's bytes per node, 16 shards vs one.

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
const NETWORK: &str = "[network]\nmdns = false\ndht = false\n";
/// The fixed layout of the sharded network: 16 shards (level 4).
const SHARDED_LEAF: &str = "[gossip]\nshards = 16\n";
/// Its hub relays every shard.
const SHARDED_HUB: &str = "[gossip]\nshards = 16\nrelay_all_shards = true\n";
/// Pending invites per node, to identities that never come online.
const INVITES_PER_NODE: usize = 5;
/// Publications of each invite within the window: the send and two quick republications.
const PUBLICATIONS: usize = 3;
/// The window with the pending invites: past the second republication (32 s after the send).
const PENDING_WINDOW: Duration = Duration::from_secs(40);
/// The size of one invite frame with the bench's short note: a 512-byte bucket, its 49 bytes
/// of box overhead and the 13-byte frame header.
const INVITE_FRAME_BYTES: f64 = 574.0;

/// What one network measured, per node (nodes 1..N).
#[derive(Debug, Clone, Copy)]
struct Figures {
    /// Bytes/s received while idle.
    idle_rate: f64,
    /// Bytes/s received while every node's invites were published.
    pending_rate: f64,
    /// Bytes received per frame published anywhere, above the idle rate.
    per_frame: f64,
    /// Shard store bytes.
    stored: f64,
}

/// Runs the suite on `nodes` daemons.
pub(crate) async fn run(quick: bool, nodes: usize) -> Result<()> {
    if nodes < 2 {
        bail!("--nodes must be at least 2, not {nodes}");
    }
    let accord = accord_binary()?;
    println!(
        "== scale: {nodes} accord daemons on 127.0.0.1 (DHT and mDNS off), {INVITES_PER_NODE} \
         pending invites each to offline identities; 16 shards vs one shard, same run"
    );
    let one = network(&accord, nodes, quick, ("", "")).await?;
    let sharded = network(&accord, nodes, quick, (SHARDED_HUB, SHARDED_LEAF)).await?;
    println!(
        "   one shard: idle {:.0} B/s; 16 shards: idle {:.0} B/s",
        one.idle_rate, sharded.idle_rate
    );
    report("scale", "16 shards", "one shard", &rows(&one, &sharded));
    Ok(())
}

fn rows(one: &Figures, sharded: &Figures) -> Vec<Row> {
    vec![
        Row::key(
            "gossip_in",
            "bytes/s received per node, 5 pending each",
            sharded.pending_rate,
            one.pending_rate,
            "B/s",
            Better::Lower,
        ),
        Row::key(
            "bytes_per_frame",
            "one shard: bytes per node per published frame vs its size",
            one.per_frame,
            INVITE_FRAME_BYTES,
            "B",
            Better::Lower,
        ),
        Row::key(
            "shard_share",
            "bytes per node per published frame",
            sharded.per_frame,
            one.per_frame,
            "B",
            Better::Lower,
        ),
        Row::key(
            "store_bytes",
            "shard store bytes per node",
            sharded.stored,
            one.stored,
            "B",
            Better::Lower,
        ),
    ]
}

/// Starts a network whose hub and other nodes get `configs` (added to [`NETWORK`]), measures
/// it and stops it.
async fn network(
    accord: &Path,
    nodes: usize,
    quick: bool,
    configs: (&str, &str),
) -> Result<Figures> {
    let root = tempfile::tempdir().context("temp dir")?;
    let mut started = Vec::new();
    let result = async {
        start_network(accord, root.path(), nodes, configs, &mut started).await?;
        measure(&started, quick).await
    }
    .await;
    futures::future::join_all(started.into_iter().map(Daemon::stop)).await;
    result
}

/// Measures a started network (see the module documentation).
async fn measure(started: &[Daemon], quick: bool) -> Result<Figures> {
    let mut clients = Vec::new();
    for daemon in started.iter().skip(1) {
        clients.push(daemon.client().await?);
    }
    // Let the meshes form before anything is measured.
    tokio::time::sleep(Duration::from_secs(if quick { 5 } else { 15 })).await;
    let idle_window = Duration::from_secs(if quick { 10 } else { 30 });
    let idle = bytes_in(&mut clients).await?;
    tokio::time::sleep(idle_window).await;
    let idle_rate = per_node_rate(&idle, &bytes_in(&mut clients).await?, idle_window);

    let mut hub = started
        .first()
        .context("no hub")?
        .client()
        .await
        .context("hub")?;
    let before = bytes_in(&mut clients).await?;
    invite_offline_identities(std::slice::from_mut(&mut hub)).await?;
    invite_offline_identities(&mut clients).await?;
    tokio::time::sleep(PENDING_WINDOW).await;
    let pending_rate = per_node_rate(&before, &bytes_in(&mut clients).await?, PENDING_WINDOW);

    let mut stored = 0.0;
    for client in &mut clients {
        stored += client.stats().await.context("stats")?.shard_store_bytes as f64;
    }
    let frames = (started.len() * INVITES_PER_NODE * PUBLICATIONS) as f64;
    let extra_bytes = (pending_rate - idle_rate).max(0.0) * PENDING_WINDOW.as_secs_f64();
    Ok(Figures {
        idle_rate,
        pending_rate,
        per_frame: extra_bytes / frames,
        stored: stored / clients.len().max(1) as f64,
    })
}

/// Starts node 0 (the hub), then the others one by one bootstrapped to it, into `started` (so
/// that the caller stops whatever started, even after a failure).
async fn start_network(
    accord: &Path,
    root: &Path,
    nodes: usize,
    (hub, leaf): (&str, &str),
    started: &mut Vec<Daemon>,
) -> Result<()> {
    let first = Daemon::start_with(
        accord,
        root.join("node-0"),
        None,
        &format!("{NETWORK}{hub}"),
    )
    .await
    .context("node 0")?;
    let bootstrap = first.tcp_addr.clone();
    started.push(first);
    let leaf = format!("{NETWORK}{leaf}");
    for index in 1..nodes {
        let daemon = Daemon::start_with(
            accord,
            root.join(format!("node-{index}")),
            Some(&bootstrap),
            &leaf,
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
