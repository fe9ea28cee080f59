//! accord-bench: side-by-side benchmarks of Accord against a peer or a ceiling, both measured
//! in the same run (the machine is shared and noisy: read the ratios, not the absolute times).
//!
//! `cargo run --release -p accord-bench -- <channel|transport|e2e|invite|store|stamp|index|junk|idle|scale|ui|all> [--quick]
//! [--nodes N] [--messages N]`. Each suite prints a table and one
//! `RESULT <suite> <metric> ours=.. baseline=.. ratio=.. unit=..` line per key figure; the ratio
//! is always "bigger is better". See README.md beside this crate.
//!
//! - `channel`: accord-channel vs vodozemac's Olm, in process;
//! - `transport`: accord-net direct requests vs a raw libp2p request-response echo;
//! - `e2e`: two real `accord daemon`s vs that raw echo;
//! - `invite`: an N-node testnet of real daemons vs the target and its own idle figures;
//! - `store`: a data dir holding 1,000,000 messages vs one holding 50 (history page in process
//!   and through the daemon's control socket, daemon cold start, idle RSS). The big data dir is
//!   filled once and cached under `target/accord-bench/`;
//! - `stamp`: the gossip frames' proof-of-work stamp (minting cost vs the 1 s ceiling)
//!   and the relay's check rate vs SHA-256 of the same frames, in process;
//! - `junk`: 100,000 valid invite frames from fresh identities fed to one daemon vs an empty
//!   node: the store's size on disk and the per-frame cost after the flood;
//! - `people`: what shared connection lists cost a node with 500 connections (wire bytes,
//!   incremental updates, apply rate, storage), in process;
//! - `idle`: N real daemons (default 4) doing nothing, a measured node with three connections:
//!   CPU, wake-ups and bytes per second vs N raw libp2p swarms with the same protocols;
//! - `ui`: the local web app in headless Chromium, a conversation of 10,000 messages vs 50
//!   (first render, JS heap). Not in `all`: it needs Chromium and chromedriver.

mod channel;
mod e2e;
mod idle;
mod index;
mod invite;
mod junk;
mod measure;
mod people;
mod scale;
mod stamp;
mod store;
mod transport;
mod ui;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    /// accord-channel vs vodozemac's Olm (in process).
    Channel,
    /// accord-net direct requests vs a raw libp2p request-response echo (127.0.0.1).
    Transport,
    /// Two real `accord daemon`s on 127.0.0.1 vs the raw transport ceiling.
    E2e,
    /// An N-node testnet of real daemons: connect->invite_received latency, CPU and RSS.
    Invite,
    /// 1,000,000 stored messages vs 50: history page, daemon cold start, idle RSS.
    Store,
    /// The proof-of-work stamp: minting cost vs the 1 s ceiling, relay check rate vs SHA-256.
    Stamp,
    /// 100,000 closed invites and 10,000 peers vs an empty store: `status`, store open.
    Index,
    /// 100,000 junk invite frames from fresh identities vs an empty node: store size, frame cost.
    Junk,
    /// N idle daemons, a measured node with 3 connections: CPU, wake-ups, bytes vs raw libp2p.
    Idle,
    /// Shared connection lists of a node with 500 connections: bytes, apply rate, storage.
    People,
    /// The web app in headless Chromium: a 10,000-message conversation vs 50 (not in `all`).
    Ui,
    /// N daemons with 5 pending invites each to offline identities vs none: gossip bytes in
    /// per node, bytes per published frame, the shard store's bytes per node.
    Scale,
    /// Every suite but `ui`, one after the other.
    All,
    /// Not a suite: one raw libp2p node of the `idle` suite's baseline (started by that suite).
    #[value(hide = true)]
    RawIdleNode,
}

/// Benchmarks Accord against vodozemac and the raw libp2p ceiling, in the same run.
#[derive(Debug, Parser)]
#[command(name = "accord-bench", version)]
struct Args {
    /// Which suite to run.
    #[arg(value_enum)]
    suite: Suite,
    /// Shorter batches and fewer runs: each suite finishes in well under 60 s on 2 cores.
    #[arg(long)]
    quick: bool,
    /// Nodes of the `invite` suite's testnet (default 20) and of the `idle` suite's (default 4).
    #[arg(long)]
    nodes: Option<usize>,
    /// Messages in the `store` suite's big data dir (filled once per count, then cached).
    #[arg(long, default_value_t = store::DEFAULT_MESSAGES)]
    messages: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.suite == Suite::RawIdleNode {
        // A child of the `idle` suite: no banner, its stdout is a protocol.
        return tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("start the tokio runtime")?
            .block_on(idle::run_raw_node());
    }
    println!(
        "accord-bench {} ({} mode)",
        env!("CARGO_PKG_VERSION"),
        if args.quick { "quick" } else { "full" }
    );
    println!("machine: {}", machine());
    if cfg!(debug_assertions) {
        println!("WARNING: a debug build; run with --release for meaningful figures");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    let suites: &[Suite] = match args.suite {
        Suite::All => &[
            Suite::Channel,
            Suite::Transport,
            Suite::E2e,
            Suite::Invite,
            Suite::Store,
            Suite::Stamp,
            Suite::Index,
            Suite::Junk,
            Suite::People,
            Suite::Idle,
            Suite::Scale,
        ],
        Suite::Channel => &[Suite::Channel],
        Suite::Transport => &[Suite::Transport],
        Suite::E2e => &[Suite::E2e],
        Suite::Invite => &[Suite::Invite],
        Suite::Store => &[Suite::Store],
        Suite::Stamp => &[Suite::Stamp],
        Suite::Index => &[Suite::Index],
        Suite::Junk => &[Suite::Junk],
        Suite::Idle => &[Suite::Idle],
        Suite::People => &[Suite::People],
        Suite::Ui => &[Suite::Ui],
        Suite::Scale => &[Suite::Scale],
        Suite::RawIdleNode => &[],
    };
    for suite in suites {
        let start = std::time::Instant::now();
        match suite {
            Suite::Channel => channel::run(args.quick).context("channel suite")?,
            Suite::Transport => runtime
                .block_on(transport::run(args.quick))
                .context("transport suite")?,
            Suite::E2e => runtime
                .block_on(e2e::run(args.quick))
                .context("e2e suite")?,
            Suite::Invite => runtime
                .block_on(invite::run(args.quick, args.nodes.unwrap_or(20)))
                .context("invite suite")?,
            Suite::Store => {
                store::run(args.quick, args.messages, &runtime).context("store suite")?
            }
            Suite::Stamp => stamp::run(args.quick).context("stamp suite")?,
            Suite::Index => index::run(args.quick, &runtime).context("index suite")?,
            Suite::Junk => runtime
                .block_on(junk::run(args.quick))
                .context("junk suite")?,
            Suite::Idle => runtime
                .block_on(idle::run(args.quick, args.nodes.unwrap_or(4)))
                .context("idle suite")?,
            Suite::People => people::run(args.quick).context("people suite")?,
            Suite::Ui => ui::run(args.quick, &runtime).context("ui suite")?,
            Suite::Scale => runtime
                .block_on(scale::run(
                    args.quick,
                    args.nodes.unwrap_or(if args.quick { 20 } else { 60 }),
                ))
                .context("scale suite")?,
            Suite::All | Suite::RawIdleNode => {}
        }
        println!("({:?} took {:.1} s)", suite, start.elapsed().as_secs_f64());
    }
    Ok(())
}

/// One line about the machine: CPU model and count (from /proc/cpuinfo where there is one).
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!(
        "{model}, {cpus} CPUs available, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
