//! `idle`: what a daemon with three connected peers and nothing to do costs the machine.
//!
//! N real `accord daemon` processes on 127.0.0.1 (mDNS off, the DHT on, every node
//! bootstrapped to node 0, as `accord testnet` runs them). The measured nodes (node 1 and, on
//! bigger networks, nodes 5, 9 and 13) each get three Accord connections, by invite and
//! acceptance through the control API and one message each way, with the three nodes after
//! them. After a settling pause nobody does anything for the measuring window, and each
//! process is measured from /proc: CPU time (utime+stime of /proc/<pid>/stat, in % of one
//! core), wake-ups (the context switches of all its threads, /proc/<pid>/task/*/status) and
//! loopback bytes (accord-net's substream byte counters, through the `stats` API).
//!
//! The baseline, in the same run and the same window: N processes of a raw libp2p swarm with
//! the same protocols (identify, ping, Kademlia, gossipsub on the inbox topics of a small network and the
//! transport suite's request-response echo) and libp2p's default timers, bootstrapped alike,
//! the measured ones dialling the same three partners (see [`raw`]).

mod raw;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use accord_api::{Client, Event, EventStream};
use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::e2e::{Daemon, STEP_TIMEOUT, accord_binary};
use crate::measure::{Better, ProcessCost, ProcessSample, Row, mean, report};

pub(crate) use raw::run_node as run_raw_node;

/// The node configuration: mDNS off, the DHT on (its default), as `accord testnet` runs nodes.
const CONFIG: &str = "[network]\nmdns = false\n";
/// The name prefix of sled's IO threads. sled 0.34 keeps seven of them for the life of the
/// process, each waking once a second to look for work (`sled::threadpool::perform_work`), so
/// their wake-ups are also reported apart.
const SLED_THREADS: &str = "sled-io";
/// The most measured nodes; each brings three partners.
const MAX_MEASURED: usize = 4;

/// The measured nodes and their three partners: node 1 and every fourth node after it (as many
/// as fit, at most [`MAX_MEASURED`]), each with the three nodes after it (node 0 last in a
/// network of four).
fn groups(nodes: usize) -> Vec<(usize, [usize; 3])> {
    let count = (nodes / 4).clamp(1, MAX_MEASURED);
    (0..count)
        .map(|group| {
            let measured = 4 * group + 1;
            let partner = |k: usize| (measured + k) % nodes;
            (measured, [partner(1), partner(2), partner(3)])
        })
        .collect()
}

/// One raw libp2p node: a child `accord-bench raw-idle-node` process.
struct RawNode {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Its address, ending in `/p2p/<id>`.
    addr: String,
}

impl RawNode {
    async fn start(dial: &[&str]) -> Result<RawNode> {
        let exe = std::env::current_exe().context("find this executable")?;
        let mut child = Command::new(exe)
            .arg("raw-idle-node")
            .env(raw::DIAL_ENV, dial.join(" "))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("start a raw idle node")?;
        let stdin = child.stdin.take().context("raw node stdin")?;
        let stdout = child.stdout.take().context("raw node stdout")?;
        let mut stdout = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(STEP_TIMEOUT, stdout.next_line())
            .await
            .context("the raw node did not start in time")??
            .context("the raw node exited")?;
        let mut words = line.split_whitespace();
        let (Some("ready"), Some(peer), Some(addr)) = (words.next(), words.next(), words.next())
        else {
            bail!("unexpected line from a raw node: {line}");
        };
        Ok(RawNode {
            child,
            stdin,
            stdout,
            addr: format!("{addr}/p2p/{peer}"),
        })
    }

    /// Bytes in + out so far, and the number of connected peers.
    async fn traffic(&mut self) -> Result<(u64, usize)> {
        self.stdin.write_all(b"bytes\n").await?;
        self.stdin.flush().await?;
        let line = tokio::time::timeout(STEP_TIMEOUT, self.stdout.next_line())
            .await
            .context("the raw node did not answer")??
            .context("the raw node exited")?;
        let figures: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|word| word.parse().ok())
            .collect();
        let [bytes_in, bytes_out, peers] = figures[..] else {
            bail!("unexpected line from a raw node: {line}");
        };
        Ok((bytes_in + bytes_out, usize::try_from(peers)?))
    }
}

/// Both networks, with the measured nodes of each in the same order.
struct Networks {
    daemons: Vec<Daemon>,
    raw: Vec<RawNode>,
    groups: Vec<(usize, [usize; 3])>,
}

impl Networks {
    async fn stop(self) {
        futures::future::join_all(self.daemons.into_iter().map(Daemon::stop)).await;
        for mut node in self.raw {
            // Closing stdin ends the node; kill what is left.
            drop(node.stdin);
            if tokio::time::timeout(Duration::from_secs(5), node.child.wait())
                .await
                .is_err()
            {
                let _ = node.child.kill().await;
            }
        }
    }
}

/// Starts node 0 and then the others (bootstrapped to node 0) into `daemons`.
async fn start_daemons(
    accord: &Path,
    root: &Path,
    count: usize,
    daemons: &mut Vec<Daemon>,
) -> Result<()> {
    let first = Daemon::start_with(accord, root.join("node-0"), None, CONFIG)
        .await
        .context("node 0")?;
    let bootstrap = first.tcp_addr.clone();
    daemons.push(first);
    let rest = futures::future::join_all((1..count).map(|index| {
        let bootstrap = bootstrap.clone();
        async move {
            Daemon::start_with(
                accord,
                root.join(format!("node-{index}")),
                Some(&bootstrap),
                CONFIG,
            )
            .await
            .with_context(|| format!("node {index}"))
        }
    }))
    .await;
    let mut first_err = None;
    for daemon in rest {
        match daemon {
            Ok(daemon) => daemons.push(daemon),
            Err(err) => {
                first_err.get_or_insert(err);
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Starts the raw nodes into `raw`: node 0, then the partners (bootstrapped to node 0), then
/// the measured nodes, which also dial their partners.
async fn start_raw(
    count: usize,
    groups: &[(usize, [usize; 3])],
    raw: &mut Vec<Option<RawNode>>,
) -> Result<()> {
    raw.resize_with(count, || None);
    raw[0] = Some(RawNode::start(&[]).await.context("raw node 0")?);
    let bootstrap = raw[0]
        .as_ref()
        .map(|node| node.addr.clone())
        .unwrap_or_default();
    let measured: Vec<usize> = groups.iter().map(|(m, _)| *m).collect();
    for index in (1..count).filter(|i| !measured.contains(i)) {
        raw[index] = Some(
            RawNode::start(&[&bootstrap])
                .await
                .with_context(|| format!("raw node {index}"))?,
        );
    }
    for (m, partners) in groups {
        let mut dial = vec![bootstrap.clone()];
        for partner in partners.iter().filter(|p| **p != 0) {
            let addr = raw[*partner]
                .as_ref()
                .map(|node| node.addr.clone())
                .context("a partner")?;
            dial.push(addr);
        }
        let dial: Vec<&str> = dial.iter().map(String::as_str).collect();
        raw[*m] = Some(
            RawNode::start(&dial)
                .await
                .with_context(|| format!("raw node {m}"))?,
        );
    }
    Ok(())
}

async fn start(accord: &Path, root: &Path, count: usize) -> Result<Networks> {
    let groups = groups(count);
    let mut daemons = Vec::new();
    let started = start_daemons(accord, root, count, &mut daemons).await;
    let mut raw = Vec::new();
    let started = match started {
        Ok(()) => start_raw(count, &groups, &mut raw).await,
        Err(err) => Err(err),
    };
    let networks = Networks {
        daemons,
        raw: raw.into_iter().flatten().collect(),
        groups,
    };
    match started {
        Ok(()) if networks.raw.len() == count => Ok(networks),
        Ok(()) => {
            networks.stop().await;
            bail!("not every raw node started")
        }
        Err(err) => {
            networks.stop().await;
            Err(err)
        }
    }
}

/// Waits for the first event of `stream` that `check` accepts.
async fn wait_event(
    stream: &mut EventStream,
    what: &str,
    mut check: impl FnMut(&Event) -> bool,
) -> Result<()> {
    tokio::time::timeout(STEP_TIMEOUT, async {
        while let Some(event) = stream.next().await.context("event stream")? {
            if check(&event) {
                return Ok(());
            }
        }
        bail!("the daemon closed the event stream")
    })
    .await
    .with_context(|| format!("waiting for {what}"))?
}

/// Makes `a` and `b` an Accord connection (invite, acceptance) and sends one message each way.
async fn connect_pair(a: &Daemon, b: &Daemon) -> Result<()> {
    let mut a_events = a.client().await?.subscribe().await.context("subscribe")?;
    let mut b_events = b.client().await?.subscribe().await.context("subscribe")?;
    a.client()
        .await?
        .connect_peer(&b.id, "idle")
        .await
        .context("connect")?;
    let a_id = a.id.clone();
    wait_event(
        &mut b_events,
        "the invite",
        |e| matches!(e, Event::InviteReceived { peer, .. } if *peer == a_id),
    )
    .await?;
    b.client().await?.accept(&a.id).await.context("accept")?;
    let b_id = b.id.clone();
    wait_event(
        &mut a_events,
        "the acceptance",
        |e| matches!(e, Event::InviteAccepted { peer, .. } if *peer == b_id),
    )
    .await?;
    for (from, to, events) in [(a, b, &mut a_events), (b, a, &mut b_events)] {
        let sent = from
            .client()
            .await?
            .send(&to.id, "hello", None)
            .await
            .context("send")?;
        wait_event(events, "the delivery", |e| matches!(e, Event::MessageDelivered { message_id, .. } if *message_id == sent.message_id)).await?;
    }
    Ok(())
}

/// Per-node figures of one side over the window.
#[derive(Debug, Default)]
struct Figures {
    cpu_pct: f64,
    wakeups_per_s: f64,
    wakeups_per_s_not_sled: f64,
    bytes_per_s: f64,
    peers: f64,
    cpu_pct_all: f64,
}

/// The measured processes of one side: CPU samples of every node, traffic of the measured.
async fn daemon_traffic(daemons: &[Daemon], measured: &[usize]) -> Result<(Vec<u64>, Vec<usize>)> {
    let mut bytes = Vec::new();
    let mut peers = Vec::new();
    for &m in measured {
        let mut client: Client = daemons[m].client().await?;
        let stats = client.stats().await.context("stats")?;
        bytes.push(stats.net_bytes_in + stats.net_bytes_out);
        peers.push(client.peers().await.context("peers")?.len());
    }
    Ok((bytes, peers))
}

async fn raw_traffic(raw: &mut [RawNode], measured: &[usize]) -> Result<(Vec<u64>, Vec<usize>)> {
    let mut bytes = Vec::new();
    let mut peers = Vec::new();
    for &m in measured {
        let (b, p) = raw[m].traffic().await?;
        bytes.push(b);
        peers.push(p);
    }
    Ok((bytes, peers))
}

fn samples(pids: &[Option<u32>]) -> Vec<Option<ProcessSample>> {
    pids.iter()
        .map(|pid| pid.and_then(ProcessSample::take))
        .collect()
}

/// Combines the samples and traffic taken at both ends of the window into per-node figures.
fn figures(
    before: &[Option<ProcessSample>],
    after: &[Option<ProcessSample>],
    measured: &[usize],
    bytes: (&[u64], &[u64]),
    peers: &[usize],
    wall: f64,
) -> Figures {
    let costs: Vec<_> = before
        .iter()
        .zip(after)
        .map(|(b, a)| match (b, a) {
            (Some(b), Some(a)) => Some(b.cost_until(a, SLED_THREADS)),
            _ => None,
        })
        .collect();
    let of_measured: Vec<_> = measured.iter().filter_map(|m| costs[*m]).collect();
    let bytes_per_s: Vec<f64> = bytes
        .0
        .iter()
        .zip(bytes.1)
        .map(|(b, a)| a.saturating_sub(*b) as f64 / wall)
        .collect();
    let mean_of = |costs: &[ProcessCost], f: fn(&ProcessCost) -> f64| {
        mean(&costs.iter().map(f).collect::<Vec<_>>())
    };
    let every: Vec<ProcessCost> = costs.iter().flatten().copied().collect();
    Figures {
        cpu_pct: mean_of(&of_measured, |c| c.cpu_pct),
        wakeups_per_s: mean_of(&of_measured, |c| c.wakeups_per_s),
        wakeups_per_s_not_sled: mean_of(&of_measured, |c| c.wakeups_per_s_other),
        bytes_per_s: mean(&bytes_per_s),
        peers: mean(&peers.iter().map(|p| *p as f64).collect::<Vec<_>>()),
        cpu_pct_all: mean_of(&every, |c| c.cpu_pct),
    }
}

async fn measure(
    networks: &mut Networks,
    settle: Duration,
    window: Duration,
) -> Result<(Figures, Figures)> {
    for (m, partners) in networks.groups.clone() {
        for p in partners {
            connect_pair(&networks.daemons[m], &networks.daemons[p])
                .await
                .with_context(|| format!("connect node {m} and node {p}"))?;
        }
    }
    tokio::time::sleep(settle).await;
    let measured: Vec<usize> = networks.groups.iter().map(|(m, _)| *m).collect();
    let ours_pids: Vec<Option<u32>> = networks.daemons.iter().map(Daemon::pid).collect();
    let raw_pids: Vec<Option<u32>> = networks.raw.iter().map(|node| node.child.id()).collect();
    let (ours_bytes_0, _) = daemon_traffic(&networks.daemons, &measured).await?;
    let (raw_bytes_0, _) = raw_traffic(&mut networks.raw, &measured).await?;
    let start = Instant::now();
    let ours_0 = samples(&ours_pids);
    let raw_0 = samples(&raw_pids);
    tokio::time::sleep(window).await;
    let ours_1 = samples(&ours_pids);
    let raw_1 = samples(&raw_pids);
    let wall = start.elapsed().as_secs_f64();
    let (ours_bytes_1, ours_peers) = daemon_traffic(&networks.daemons, &measured).await?;
    let (raw_bytes_1, raw_peers) = raw_traffic(&mut networks.raw, &measured).await?;
    let ours = figures(
        &ours_0,
        &ours_1,
        &measured,
        (&ours_bytes_0, &ours_bytes_1),
        &ours_peers,
        wall,
    );
    let raw = figures(
        &raw_0,
        &raw_1,
        &measured,
        (&raw_bytes_0, &raw_bytes_1),
        &raw_peers,
        wall,
    );
    Ok((ours, raw))
}

/// The table: the key figures, then the two shown for context.
fn rows(ours: &Figures, raw: &Figures) -> Vec<Row> {
    vec![
        Row::key(
            "cpu_pct",
            "measured node CPU, % of one core",
            ours.cpu_pct,
            raw.cpu_pct,
            "%",
            Better::Lower,
        ),
        Row::key(
            "wakeups_per_s",
            "measured node context switches/s",
            ours.wakeups_per_s,
            raw.wakeups_per_s,
            "/s",
            Better::Lower,
        ),
        Row::info(
            "wakeups_not_sled",
            "the same without sled's 7 IO threads",
            ours.wakeups_per_s_not_sled,
            raw.wakeups_per_s_not_sled,
            "/s",
            Better::Lower,
        ),
        Row::key(
            "bytes_per_s",
            "measured node substream bytes/s, in+out",
            ours.bytes_per_s,
            raw.bytes_per_s,
            "B/s",
            Better::Lower,
        ),
        Row::info(
            "peers",
            "measured node connected peers at the end",
            ours.peers,
            raw.peers,
            "peers",
            Better::Lower,
        ),
        Row::info(
            "cpu_pct_all",
            "every node's CPU, mean",
            ours.cpu_pct_all,
            raw.cpu_pct_all,
            "%",
            Better::Lower,
        ),
    ]
}

/// Runs the suite and prints its table and RESULT lines.
pub(crate) async fn run(quick: bool, nodes: usize) -> Result<()> {
    if nodes < 4 {
        bail!(
            "--nodes must be at least 4 (a measured node and its three connections), not {nodes}"
        );
    }
    let (settle, window) = if quick {
        (Duration::from_secs(3), Duration::from_secs(10))
    } else {
        (Duration::from_secs(10), Duration::from_secs(60))
    };
    let accord = accord_binary()?;
    let measured = groups(nodes).len();
    println!(
        "== idle: {nodes} accord daemons on 127.0.0.1 ({}, DHT on, mDNS off) vs {nodes} raw libp2p \
         swarms, {measured} measured node(s) with 3 connections each, {} s settle, {} s idle window",
        accord.display(),
        settle.as_secs(),
        window.as_secs()
    );
    let root = tempfile::tempdir().context("temp dir")?;
    let mut networks = start(&accord, root.path(), nodes).await?;
    let result = measure(&mut networks, settle, window).await;
    networks.stop().await;
    let (ours, raw) = result?;
    let rows = rows(&ours, &raw);
    report("idle", "accord daemon", "raw libp2p", &rows);
    println!(
        "(targets: <= 0.2 % of one core and <= 5 wake-ups/s per daemon; baseline: raw libp2p swarms \
         with the same protocols and libp2p's default timers, same run, same window)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_disjoint_and_in_range() {
        assert_eq!(groups(4), vec![(1, [2, 3, 0])]);
        assert_eq!(groups(5), vec![(1, [2, 3, 4])]);
        for nodes in 4..70 {
            let groups = groups(nodes);
            assert!(!groups.is_empty() && groups.len() <= MAX_MEASURED);
            let mut seen = std::collections::HashSet::new();
            for (m, partners) in groups {
                assert!(seen.insert(m));
                for p in partners {
                    assert!(p < nodes && seen.insert(p), "{nodes}: {p}");
                }
            }
        }
    }
}
