//! `accord testnet`: N real daemons on 127.0.0.1 in one command.
//!
//! Each node is a child `accord daemon` process with its own data dir under the testnet dir,
//! listening on a random loopback TCP port with mDNS off, so that nothing leaves the machine.
//! Node 0 starts first; every other node bootstraps to it. Once every node answers, the
//! listing (names, IDs, data dirs) is printed; once every node has at least one peer, one ready
//! line follows. With `--json` stdout carries one JSON document, the array of nodes, printed
//! only once every node has a peer (so that a script reading it knows the network is ready),
//! and nothing else. While nodes start and mesh, a progress bar is drawn on stderr, only when
//! stderr is a terminal and never with `--json`. On SIGINT or SIGTERM every node is asked to shut down through its control socket,
//! and killed if it has not exited in time.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use accord_api::{Client, ClientError, Event, IdInfo, SOCKET_FILE_NAME};
use anyhow::{Context, bail};
use futures::stream::{FuturesUnordered, StreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::process::{Child, Command};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::output::print_json;

/// The most nodes one testnet may run: each is a full daemon.
const MAX_NODES: usize = 64;
/// How long a node may take to open its control socket.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node may take to exit after being asked to.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the nodes may take, all together, until each has at least one peer.
const MESH_TIMEOUT: Duration = Duration::from_secs(60);

/// Arguments of `accord testnet`.
#[derive(Debug, clap::Args)]
pub(crate) struct TestnetArgs {
    /// How many nodes to run (1–64)
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Where the nodes' data dirs go [default: a new directory under the system temp dir]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// One running node.
#[derive(Debug)]
struct TestNode {
    name: String,
    data_dir: PathBuf,
    child: Child,
    info: Option<IdInfo>,
}

#[derive(Debug, Serialize)]
struct NodeSummary<'a> {
    name: &'a str,
    id: &'a str,
    data_dir: &'a Path,
    addrs: &'a [String],
}

/// Runs the testnet until interrupted.
pub(crate) async fn run(
    args: TestnetArgs,
    json: bool,
    log_level: &str,
) -> anyhow::Result<ExitCode> {
    if args.nodes == 0 || args.nodes > MAX_NODES {
        bail!(
            "--nodes must be between 1 and {MAX_NODES}, not {}",
            args.nodes
        );
    }
    let dir = match args.dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("accord-testnet-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let began = Instant::now();

    let mut nodes: Vec<TestNode> = Vec::with_capacity(args.nodes);
    let bar = progress_bar(args.nodes, "starting nodes", json);
    let started = interruptible(
        start_all(&dir, args.nodes, log_level, &mut nodes, &bar),
        &bar,
        &mut interrupt,
        &mut terminate,
    )
    .await;
    if !matches!(started, Ok(Phase::Done)) {
        stop_all(&mut nodes).await;
        return started.map(|_| ExitCode::SUCCESS);
    }
    // With `--json` the listing waits for the mesh: one document, printed when it is ready.
    if !json {
        report(&nodes, &dir, false)?;
    }

    let bar = progress_bar(nodes.len(), "meshing", json);
    let meshed = interruptible(
        wait_meshed(&nodes, &bar),
        &bar,
        &mut interrupt,
        &mut terminate,
    )
    .await;
    if !matches!(meshed, Ok(Phase::Done)) {
        stop_all(&mut nodes).await;
        return meshed.map(|_| ExitCode::SUCCESS);
    }
    if json {
        report(&nodes, &dir, true)?;
    } else {
        report_ready(nodes.len(), began.elapsed());
    }

    stopped(&mut interrupt, &mut terminate).await;
    if !json {
        eprintln!("stopping {} nodes…", nodes.len());
    }
    stop_all(&mut nodes).await;
    Ok(ExitCode::SUCCESS)
}

/// Returns when SIGINT or SIGTERM arrives.
/// How a start-up phase ended, when it did not fail.
enum Phase {
    /// It finished.
    Done,
    /// SIGINT or SIGTERM came first: the caller stops the nodes and exits successfully.
    Interrupted,
}

/// Runs one start-up phase under its progress bar until it ends or a signal comes.
async fn interruptible(
    phase: impl Future<Output = anyhow::Result<()>>,
    bar: &ProgressBar,
    interrupt: &mut Signal,
    terminate: &mut Signal,
) -> anyhow::Result<Phase> {
    let outcome = tokio::select! {
        outcome = phase => outcome.map(|()| Phase::Done),
        _ = stopped(interrupt, terminate) => Ok(Phase::Interrupted),
    };
    bar.finish_and_clear();
    outcome
}

async fn stopped(interrupt: &mut Signal, terminate: &mut Signal) {
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// A progress bar of `len` steps on stderr, or a hidden one with `--json` or when stderr is
/// not a terminal (so that scripts and logs see only the lines printed on stdout).
fn progress_bar(len: usize, message: &'static str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(len).unwrap_or(u64::MAX)),
        ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

async fn start_all(
    dir: &Path,
    count: usize,
    log_level: &str,
    nodes: &mut Vec<TestNode>,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let first = spawn_node(dir, 0, None, log_level)?;
    nodes.push(first);
    let info = wait_ready(&mut nodes[0]).await?;
    bar.inc(1);
    let bootstrap = info
        .addrs
        .iter()
        .find(|addr| addr.starts_with("/ip4/127.0.0.1/tcp/"))
        .cloned()
        .context("node-0 does not listen on 127.0.0.1 over TCP")?;
    nodes[0].info = Some(info);
    for index in 1..count {
        nodes.push(spawn_node(dir, index, Some(&bootstrap), log_level)?);
    }
    for node in nodes.iter_mut().skip(1) {
        node.info = Some(wait_ready(node).await?);
        bar.inc(1);
    }
    Ok(())
}

/// Waits, at most [`MESH_TIMEOUT`] in all, until every node has at least one peer, advancing
/// `bar` as each one gets there. A lone node has nobody to peer with and counts as meshed.
async fn wait_meshed(nodes: &[TestNode], bar: &ProgressBar) -> anyhow::Result<()> {
    if nodes.len() < 2 {
        bar.inc(u64::try_from(nodes.len()).unwrap_or(0));
        return Ok(());
    }
    let mut waiting: FuturesUnordered<_> = nodes
        .iter()
        .map(|node| async move { (node, wait_for_a_peer(&node.data_dir).await) })
        .collect();
    let mut left: Vec<&str> = nodes.iter().map(|node| node.name.as_str()).collect();
    let all = async {
        while let Some((node, result)) = waiting.next().await {
            result.with_context(|| format!("cannot watch {}'s peers", node.name))?;
            left.retain(|name| *name != node.name);
            bar.inc(1);
        }
        Ok::<(), anyhow::Error>(())
    };
    match tokio::time::timeout(MESH_TIMEOUT, all).await {
        Ok(result) => result,
        Err(_) => bail!(
            "not every node had a peer after {}s; still alone: {} (see their daemon.log)",
            MESH_TIMEOUT.as_secs(),
            left.join(", ")
        ),
    }
}

/// Returns once the daemon at `data_dir` has at least one peer: at once if `peers` lists one,
/// otherwise at its next `peer_connected` event. It subscribes first, so that a peer arriving
/// between the two requests cannot be missed.
async fn wait_for_a_peer(data_dir: &Path) -> anyhow::Result<()> {
    let socket = data_dir.join(SOCKET_FILE_NAME);
    let mut events = Client::connect(&socket).await?.subscribe().await?;
    let mut client = Client::connect(&socket).await?;
    if !client.peers().await?.is_empty() {
        return Ok(());
    }
    loop {
        match events.next().await? {
            Some(Event::PeerConnected { .. }) => return Ok(()),
            // Events were dropped for us: one of them may have been the peer we wait for.
            Some(Event::Lagged { .. }) => {
                if !client.peers().await?.is_empty() {
                    return Ok(());
                }
            }
            Some(_) => {}
            None => bail!("the daemon stopped"),
        }
    }
}

fn spawn_node(
    dir: &Path,
    index: usize,
    bootstrap: Option<&str>,
    log_level: &str,
) -> anyhow::Result<TestNode> {
    let name = format!("node-{index}");
    let data_dir = dir.join(&name);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let log_path = data_dir.join("daemon.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let exe = std::env::current_exe().context("cannot find the accord binary")?;
    let mut command = Command::new(exe);
    command
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--log-level")
        .arg(log_level)
        .args(["daemon", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("cannot share the log file")?)
        .stderr(log)
        .kill_on_drop(true);
    if let Some(addr) = bootstrap {
        command.args(["--bootstrap", addr]);
    }
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    Ok(TestNode {
        name,
        data_dir,
        child,
        info: None,
    })
}

/// Waits until the node answers on its control socket (or exits, or times out).
async fn wait_ready(node: &mut TestNode) -> anyhow::Result<IdInfo> {
    let socket = node.data_dir.join(SOCKET_FILE_NAME);
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(status) = node.child.try_wait()? {
            bail!(
                "{} exited ({status}) before it was ready; see {}",
                node.name,
                node.data_dir.join("daemon.log").display()
            );
        }
        match Client::connect(&socket).await {
            Ok(mut client) => {
                let info = client.id().await?;
                if !info.addrs.is_empty() {
                    return Ok(info);
                }
            }
            Err(ClientError::NotRunning { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{} was not ready after {READY_TIMEOUT:?}", node.name);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

fn report(nodes: &[TestNode], dir: &Path, json: bool) -> anyhow::Result<()> {
    let summaries: Vec<NodeSummary<'_>> = nodes
        .iter()
        .filter_map(|node| {
            node.info.as_ref().map(|info| NodeSummary {
                name: &node.name,
                id: &info.id,
                data_dir: &node.data_dir,
                addrs: &info.addrs,
            })
        })
        .collect();
    if json {
        return print_json(&summaries);
    }
    println!("{} nodes running under {}:", summaries.len(), dir.display());
    for summary in &summaries {
        println!(
            "  {}  {}  {}",
            summary.name,
            summary.id,
            summary.data_dir.display()
        );
    }
    Ok(())
}

/// Prints the one ready line, then how to use the network (only without `--json`).
fn report_ready(count: usize, took: Duration) {
    let took = format!("took {:.1} s", took.as_secs_f64());
    if count == 1 {
        println!("ready: 1 node, with no other node to peer with ({took})");
    } else {
        println!("ready: {count} nodes, every node has at least one peer ({took})");
    }
    println!("Use one with: accord --data-dir <data dir> status");
    println!("Press Ctrl-C to stop them all.");
}

async fn stop_all(nodes: &mut [TestNode]) {
    for node in nodes.iter() {
        let socket = node.data_dir.join(SOCKET_FILE_NAME);
        if let Ok(mut client) = Client::connect(&socket).await {
            let _ = client.shutdown().await;
        }
    }
    for node in nodes.iter_mut() {
        match tokio::time::timeout(STOP_TIMEOUT, node.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                eprintln!("{} did not stop in time; killing it", node.name);
                let _ = node.child.kill().await;
            }
        }
    }
}
