//! `invite`: an N-node testnet of real `accord daemon` processes on 127.0.0.1 (mDNS off, the DHT
//! on, as `accord testnet` runs them; every node bootstrapped to node 0). Every node's control
//! socket is subscribed to; then, one at a time over distinct (inviter, invitee) pairs, node i's
//! control socket sends `connect` to node j, timed from just before the request to the
//! `invite_received` event at node j.
//!
//! - latency p50/p99 over the invites, against the target (p99 ≤ 250 ms on 20 nodes);
//! - per-node CPU % and RSS while the invites run, against the same figures measured while the
//!   testnet idles just before (utime+stime from /proc/<pid>/stat, VmRSS from /proc/<pid>/status).

use std::path::Path;
use std::time::{Duration, Instant};

use accord_api::{Client, Event};
use anyhow::{Context, Result, bail};
use tokio::sync::mpsc;

use crate::e2e::{Daemon, STEP_TIMEOUT, accord_binary};
use crate::measure::{Better, Row, median, percentile, report};

/// The node configuration: mDNS off, the DHT on (its default), as `accord testnet` runs nodes.
const CONFIG: &str = "[network]\nmdns = false\n";
/// The target for the invite latency (p99 on 20 nodes), the baseline of the latencies.
const TARGET_MS: f64 = 250.0;
/// How often RSS is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// The most `invite_received` events held unread. The run sends at most 190 invites, one at a
/// time, each received once, so even a channel nobody read could not fill: the forwarders never
/// wait on it (a wait would stamp later invites late). Tokio allocates the buffer in blocks as
/// it fills, so the bound costs no memory up front.
const RECEIVED_BOUND: usize = 4096;

/// An `invite_received` event: the invitee's index, the inviter's ID, when it arrived.
type Received = (usize, String, Instant);

/// The testnet: the daemons, a client per node and a task per node forwarding its invites.
struct Testnet {
    nodes: Vec<Daemon>,
    clients: Vec<Client>,
    received: mpsc::Receiver<Received>,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
}

impl Testnet {
    /// Starts node 0, then the others at once (bootstrapped to node 0), subscribes to all.
    /// Daemons started before a failure are pushed to `started` so that the caller stops them.
    async fn start(
        accord: &Path,
        root: &Path,
        count: usize,
        started: &mut Vec<Daemon>,
    ) -> Result<()> {
        let first = Daemon::start_with(accord, root.join("node-0"), None, CONFIG)
            .await
            .context("node 0")?;
        let bootstrap = first.tcp_addr.clone();
        started.push(first);
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
                Ok(daemon) => started.push(daemon),
                Err(err) => {
                    first_err.get_or_insert(err);
                }
            }
        }
        match first_err {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    async fn connect(nodes: Vec<Daemon>) -> Result<Testnet> {
        let (tx, received) = mpsc::channel(RECEIVED_BOUND);
        let mut forwarders = Vec::with_capacity(nodes.len());
        let mut clients = Vec::with_capacity(nodes.len());
        for (index, node) in nodes.iter().enumerate() {
            let mut events = node
                .client()
                .await?
                .subscribe()
                .await
                .with_context(|| format!("subscribe node {index}"))?;
            let tx = tx.clone();
            forwarders.push(tokio::spawn(async move {
                while let Ok(Some(event)) = events.next().await {
                    if let Event::InviteReceived { peer, .. } = event
                        && let Err(err) = tx.try_send((index, peer, Instant::now()))
                    {
                        // Ending the stream fails the run: a stamp taken after a wait would be
                        // wrong.
                        if matches!(err, mpsc::error::TrySendError::Full(_)) {
                            eprintln!("more than {RECEIVED_BOUND} invites unread; the run is void");
                        }
                        break;
                    }
                }
            }));
            clients.push(node.client().await?);
        }
        Ok(Testnet {
            nodes,
            clients,
            received,
            forwarders,
        })
    }

    /// Waits until every node has at least one connected peer.
    async fn wait_meshed(&mut self) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        for (index, client) in self.clients.iter_mut().enumerate() {
            while client.peers().await?.is_empty() {
                if Instant::now() > deadline {
                    bail!("node {index} had no peer within {STEP_TIMEOUT:?}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Node `from` invites node `to`: ms from just before the request to `invite_received` at `to`.
    async fn invite(&mut self, from: usize, to: usize) -> Result<f64> {
        let inviter = self.nodes[from].id.clone();
        let invitee = self.nodes[to].id.clone();
        let sent = Instant::now();
        self.clients[from]
            .connect_peer(&invitee, "bench")
            .await
            .with_context(|| format!("node {from} connect node {to}"))?;
        let deadline = sent + STEP_TIMEOUT;
        loop {
            let (index, peer, at) = tokio::time::timeout_at(deadline.into(), self.received.recv())
                .await
                .with_context(|| format!("waiting for node {to} to receive node {from}'s invite"))?
                .context("the event streams ended")?;
            if index == to && peer == inviter {
                return Ok(at.saturating_duration_since(sent).as_secs_f64() * 1e3);
            }
        }
    }

    async fn stop(self) {
        for forwarder in &self.forwarders {
            forwarder.abort();
        }
        drop(self.clients);
        futures::future::join_all(self.nodes.into_iter().map(Daemon::stop)).await;
    }
}

/// Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`; 100 if that fails).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis,
    // where field 3 (state) comes first, so utime (14) and stime (15) are the 12th and 13th.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS of `pid`, in MiB.
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Per-node CPU and memory over one phase.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    /// Mean over the nodes of CPU time / wall time, in % of one core.
    cpu_pct: f64,
    /// Mean RSS over every sample of every node, MiB.
    rss_mean: f64,
    /// The largest RSS sampled, MiB.
    rss_max: f64,
}

/// Samples the daemons' CPU time and RSS from when it is started until [`Sampler::finish`].
struct Sampler {
    pids: Vec<u32>,
    start: Instant,
    ticks: Vec<Option<u64>>,
    task: tokio::task::JoinHandle<Vec<f64>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Sampler {
    fn start(pids: Vec<u32>) -> Sampler {
        let ticks = pids.iter().map(|pid| cpu_ticks(*pid)).collect();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let sampled = pids.clone();
        let task = tokio::spawn(async move {
            let mut rss = Vec::new();
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => rss.extend(sampled.iter().filter_map(|pid| rss_mib(*pid))),
                }
            }
            rss
        });
        Sampler {
            pids,
            start: Instant::now(),
            ticks,
            task,
            stop,
        }
    }

    async fn finish(self, ticks_per_s: f64) -> Result<Usage> {
        let wall = self.start.elapsed().as_secs_f64();
        let cpu: Vec<f64> = self
            .pids
            .iter()
            .zip(&self.ticks)
            .filter_map(|(pid, before)| {
                let used = cpu_ticks(*pid)?.saturating_sub((*before)?);
                Some(used as f64 / ticks_per_s / wall * 100.0)
            })
            .collect();
        let _ = self.stop.send(());
        let rss = self.task.await.context("the RSS sampler")?;
        Ok(Usage {
            cpu_pct: mean(&cpu),
            rss_mean: mean(&rss),
            rss_max: rss.iter().copied().fold(0.0, f64::max),
        })
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Up to `count` (inviter, invitee) pairs of `n` nodes, no two of the same two nodes in either
/// order (an invite to someone who has a pending invite to us is not a fresh invite): by growing
/// distance round the ring, so that every node invites and is invited about equally often.
fn pairs(n: usize, count: usize) -> Vec<(usize, usize)> {
    let mut seen = std::collections::HashSet::new();
    let mut pairs = Vec::new();
    for distance in 1..n {
        for from in 0..n {
            let to = (from + distance) % n;
            if pairs.len() < count && seen.insert((from.min(to), from.max(to))) {
                pairs.push((from, to));
            }
        }
    }
    pairs
}

/// Runs the suite and prints its table and RESULT lines.
pub(crate) async fn run(quick: bool, nodes: usize) -> Result<()> {
    if nodes < 2 {
        bail!("--nodes must be at least 2, not {nodes}");
    }
    let invites = pairs(nodes, if quick { 100 } else { 190 });
    let idle_for = if quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(5)
    };
    let accord = accord_binary()?;
    println!(
        "== invite: {nodes} accord daemons on 127.0.0.1 ({}, DHT on, mDNS off), {} \
         invites over distinct pairs, one at a time, vs the {TARGET_MS} ms target",
        accord.display(),
        invites.len()
    );
    let root = tempfile::tempdir().context("temp dir")?;
    let mut started = Vec::new();
    let spawned = Testnet::start(&accord, root.path(), nodes, &mut started).await;
    let testnet = match spawned {
        Ok(()) => Testnet::connect(std::mem::take(&mut started)).await,
        Err(err) => Err(err),
    };
    let mut testnet = match testnet {
        Ok(testnet) => testnet,
        Err(err) => {
            futures::future::join_all(started.into_iter().map(Daemon::stop)).await;
            return Err(err);
        }
    };
    let result = measure(&mut testnet, &invites, idle_for).await;
    testnet.stop().await;
    let (latencies, idle, busy) = result?;
    let rows = vec![
        Row::key(
            "latency_p50",
            "connect->invite_received p50 vs target",
            median(&latencies),
            TARGET_MS,
            "ms",
            Better::Lower,
        ),
        Row::key(
            "latency_p99",
            "connect->invite_received p99 vs target",
            percentile(&latencies, 99.0),
            TARGET_MS,
            "ms",
            Better::Lower,
        ),
        Row::info(
            "latency_max",
            "connect->invite_received max vs target",
            percentile(&latencies, 100.0),
            TARGET_MS,
            "ms",
            Better::Lower,
        ),
        Row::key(
            "cpu_pct",
            "per-node mean CPU, invites vs idle",
            busy.cpu_pct,
            idle.cpu_pct,
            "%",
            Better::Lower,
        ),
        Row::key(
            "rss_mean",
            "per-node mean RSS, invites vs idle",
            busy.rss_mean,
            idle.rss_mean,
            "MiB",
            Better::Lower,
        ),
        Row::key(
            "rss_max",
            "largest node RSS, invites vs idle",
            busy.rss_max,
            idle.rss_max,
            "MiB",
            Better::Lower,
        ),
    ];
    report("invite", "accord invite", "target / idle", &rows);
    println!(
        "(latencies: baseline = the issue's {TARGET_MS} ms target; CPU/RSS: baseline = the same \
         {nodes} nodes idling for {:.0} s just before the invites; CPU in % of one core)",
        idle_for.as_secs_f64()
    );
    Ok(())
}

type Measured = (Vec<f64>, Usage, Usage);

async fn measure(
    testnet: &mut Testnet,
    invites: &[(usize, usize)],
    idle: Duration,
) -> Result<Measured> {
    testnet.wait_meshed().await?;
    let pids: Vec<u32> = testnet.nodes.iter().filter_map(Daemon::pid).collect();
    let ticks_per_s = clock_ticks();
    let sampler = Sampler::start(pids.clone());
    tokio::time::sleep(idle).await;
    let idle = sampler.finish(ticks_per_s).await?;
    let sampler = Sampler::start(pids);
    let mut latencies = Vec::with_capacity(invites.len());
    for &(from, to) in invites {
        latencies.push(testnet.invite(from, to).await?);
    }
    let busy = sampler.finish(ticks_per_s).await?;
    Ok((latencies, idle, busy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_distinct() {
        for n in 2..8 {
            let all = pairs(n, usize::MAX);
            assert_eq!(all.len(), n * (n - 1) / 2);
            let mut seen = std::collections::HashSet::new();
            for (from, to) in all {
                assert_ne!(from, to);
                assert!(seen.insert((from.min(to), from.max(to))));
            }
        }
        assert_eq!(pairs(20, 100).len(), 100);
    }
}
