//! `index`: a daemon whose store holds 100,000 closed invite records and 10,000 address-book
//! entries against the same daemon on an empty store, both measured in the same run. With the
//! Connect index nothing on a hot path reads those trees, so every ratio should be about 1.
//!
//! - `status` round trip through the control socket (it counts pending invites,
//!   connections and peers: from kept counters, not scans);
//! - the store work of one incoming invite frame addressed to us, in process: the one point
//!   read the Connect core asks for (is this invite id already known, closed?); connections,
//!   blocks, cool-downs, the quota window and the clock mark it keeps in memory, loaded at
//!   start;
//! - for comparison, in the table only: reading every incoming invite, which is what the
//!   actor did for each such frame before the index (`reschedule`, `declined_recently`,
//!   `make_room_for`);
//! - `Store::open` in process, in the table only: a restart reads the index and rebuilds
//!   nothing (checked); what grows is sled's own recovery of a larger database.
//!
//! A frame for someone else costs the node one trial decryption and no store access at all,
//! with or without the index, so it has no row.
//!
//! Both data dirs are made with the real binary (`accord init`) and filled through
//! accord-store's public API before the daemon starts.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use accord_identity::Identity;
use accord_store::{IncomingInvite, InviteState, Multiaddr, Store, StoreConfig, Zeroizing};
use anyhow::{Context, Result, bail};

use crate::e2e::accord_binary;
use crate::measure::{Better, Row, median, percentile, report};
use crate::store::{Daemon, store_key};

/// Closed invite records in the big store.
const CLOSED_INVITES: u32 = 100_000;
/// Address-book entries in the big store.
const PEERS: u32 = 10_000;
/// The node configuration: nothing leaves the loopback interface.
const CONFIG: &str = "[network]\nmdns = false\ndht = false\n";

/// Makes a data dir with `accord init`.
fn init(accord: &Path, dir: &Path) -> Result<()> {
    let output = std::process::Command::new(accord)
        .arg("--data-dir")
        .arg(dir)
        .arg("init")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {} init", accord.display()))?;
    if !output.status.success() {
        bail!(
            "accord init failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Fills the store of `dir` with declined invites (kept for their whole retention, so the
/// daemon deletes none of them while it is measured) and address-book entries.
fn fill(dir: &Path, invites: u32, peers: u32) -> Result<()> {
    let db = dir.join("db");
    let store = Store::open(&db, &StoreConfig::default(), &store_key(&db)?)?;
    let now = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_millis(),
    )
    .context("the clock is past the year 500 million")?;
    let inviter = Identity::from_seed(Zeroizing::new([0x42; 32])).id();
    for n in 0..invites {
        let mut invite_id = [0; 16];
        invite_id[..4].copy_from_slice(&n.to_be_bytes());
        store.put_incoming(&IncomingInvite {
            invite_id,
            peer: inviter,
            invite: vec![0; 300],
            note: "hello".into(),
            state: InviteState::Declined,
            created_at_ms: now,
            expires_at_ms: now + 14 * 24 * 3600 * 1000,
            received_at_ms: now,
            closed_at_ms: Some(now),
            acceptance: None,
            ephemeral_secret: None,
            next_publish_at_ms: None,
            publish_count: 0,
        })?;
    }
    let addr: Multiaddr = "/ip4/10.0.0.1/tcp/4001".parse()?;
    for n in 0..peers {
        let mut seed = [0; 32];
        seed[..4].copy_from_slice(&n.to_be_bytes());
        seed[31] = 1;
        let id = Identity::from_seed(Zeroizing::new(seed)).id();
        store.record_peer(id, std::slice::from_ref(&addr), now + u64::from(n))?;
    }
    store.flush()?;
    Ok(())
}

/// `status` round trips for `batch`, in µs.
async fn status_samples(daemon: &Daemon, batch: Duration) -> Result<Vec<f64>> {
    let mut client = daemon.client().await?;
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < batch || samples.len() < 50 {
        let at = Instant::now();
        client.status().await.context("status")?;
        samples.push(at.elapsed().as_secs_f64() * 1e6);
    }
    Ok(samples)
}

/// `Store::open` of a closed store, median of `runs`, in ms; fails if an open rebuilt the
/// index.
fn open_ms(dir: &Path, runs: usize) -> Result<f64> {
    let db = dir.join("db");
    let key = store_key(&db)?;
    let mut samples = Vec::new();
    for _ in 0..runs {
        let at = Instant::now();
        let store = Store::open(&db, &StoreConfig::default(), &key)?;
        samples.push(at.elapsed().as_secs_f64() * 1e3);
        if store.index_built_at_open() {
            bail!("opening {} rebuilt the Connect index", db.display());
        }
        drop(store);
    }
    Ok(median(&samples))
}

/// Samples of `f` (µs) for `batch`, at least `min`.
fn sample(batch: Duration, min: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < batch || samples.len() < min {
        let at = Instant::now();
        f()?;
        samples.push(at.elapsed().as_secs_f64() * 1e6);
    }
    Ok(samples)
}

/// The store read of one incoming invite frame (see the module docs), for a new invite id.
fn frame_store_work(store: &Store, n: u32) -> Result<()> {
    let mut invite_id = [0xEE; 16];
    invite_id[..4].copy_from_slice(&n.to_be_bytes());
    store.incoming(&invite_id)?;
    Ok(())
}

/// In-process figures: (frame work big, small, full read big, small), µs samples.
fn in_process(big: &Path, small: &Path, batch: Duration) -> Result<[Vec<f64>; 4]> {
    let open = |dir: &Path| -> Result<Store> {
        let db = dir.join("db");
        Ok(Store::open(&db, &StoreConfig::default(), &store_key(&db)?)?)
    };
    let (big, small) = (open(big)?, open(small)?);
    let mut n = 0;
    let mut work = |store: &Store| {
        n += 1;
        frame_store_work(store, n)
    };
    let frame_big = sample(batch, 50, || work(&big))?;
    let frame_small = sample(batch, 50, || work(&small))?;
    let scan = |store: &Store| {
        store
            .incoming_invites()
            .map(drop)
            .map_err(anyhow::Error::from)
    };
    // The full read is the slow side by far: a few samples show it.
    let scan_big = sample(Duration::ZERO, 5, || scan(&big))?;
    let scan_small = sample(batch, 50, || scan(&small))?;
    Ok([frame_big, frame_small, scan_big, scan_small])
}

/// Runs the suite and prints its table and RESULT lines.
pub(crate) fn run(quick: bool, runtime: &tokio::runtime::Runtime) -> Result<()> {
    let accord = accord_binary()?;
    let temp = tempfile::tempdir().context("temp dir")?;
    let (big, small) = (temp.path().join("big"), temp.path().join("small"));
    init(&accord, &big)?;
    init(&accord, &small)?;
    let (invites, peers) = if quick {
        (CLOSED_INVITES / 10, PEERS / 10)
    } else {
        (CLOSED_INVITES, PEERS)
    };
    let filling = Instant::now();
    fill(&big, invites, peers)?;
    println!(
        "filled {invites} closed invites and {peers} peers in {:.1} s",
        filling.elapsed().as_secs_f64()
    );
    let batch = Duration::from_secs(if quick { 2 } else { 5 });
    let [frame_big, frame_small, scan_big, scan_small] = in_process(&big, &small, batch)?;
    let runs = if quick { 3 } else { 7 };
    let open_big = open_ms(&big, runs)?;
    let open_small = open_ms(&small, runs)?;
    let (big_status, small_status) = runtime.block_on(async {
        let logs = temp.path();
        let (big_daemon, _) = Daemon::start(&accord, &big, CONFIG, &logs.join("big.log")).await?;
        let (small_daemon, _) =
            Daemon::start(&accord, &small, CONFIG, &logs.join("small.log")).await?;
        // Alternate so that neither daemon profits from a warmer machine.
        let mut big_samples = status_samples(&big_daemon, batch / 2).await?;
        let small_samples = status_samples(&small_daemon, batch).await?;
        big_samples.extend(status_samples(&big_daemon, batch / 2).await?);
        big_daemon.stop().await?;
        small_daemon.stop().await?;
        anyhow::Ok((big_samples, small_samples))
    })?;
    let description = format!("{invites} closed invites + {peers} peers vs an empty store");
    let rows = [
        Row::key(
            "status_p50",
            &format!("`accord status` round trip, p50: {description}"),
            median(&big_status),
            median(&small_status),
            "us",
            Better::Lower,
        ),
        Row::info(
            "status_p99",
            &format!("`accord status` round trip, p99: {description}"),
            percentile(&big_status, 99.0),
            percentile(&small_status, 99.0),
            "us",
            Better::Lower,
        ),
        Row::key(
            "frame_store_p50",
            &format!("store work of one incoming invite frame, p50: {description}"),
            median(&frame_big),
            median(&frame_small),
            "us",
            Better::Lower,
        ),
        Row::info(
            "frame_before_index",
            &format!("reading every incoming invite (each frame, before the index): {description}"),
            median(&scan_big),
            median(&scan_small),
            "us",
            Better::Lower,
        ),
        Row::info(
            "store_open",
            &format!("Store::open (no index rebuild), median: {description}"),
            open_big,
            open_small,
            "ms",
            Better::Lower,
        ),
    ];
    report("index", "filled store", "empty store", &rows);
    Ok(())
}
