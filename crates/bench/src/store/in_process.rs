//! The in-process figures: `Store::history` pages and `Store::open`, big store against small.

use std::path::Path;
use std::time::{Duration, Instant};

use accord_identity::AccordId;
use accord_store::{Store, StoreConfig};
use anyhow::{Context, Result, ensure};

use super::PAGE;
use super::fill::{peer, store_key};
use crate::measure::Plan;

/// Single-call latencies in µs of `f`, called for `batch` (at least 20 calls).
fn sample(batch: Duration, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < batch || samples.len() < 20 {
        let at = Instant::now();
        f()?;
        samples.push(at.elapsed().as_secs_f64() * 1e6);
    }
    Ok(samples)
}

/// The in-process figures: single-call latencies in µs and store open times in ms.
#[derive(Default)]
pub(super) struct InProcess {
    pub(super) big: Vec<f64>,
    pub(super) small: Vec<f64>,
    pub(super) deep: Vec<f64>,
    pub(super) open_big: Vec<f64>,
    pub(super) open_small: Vec<f64>,
}

/// Opens the store in `db` as the daemon does (default configuration); returns it and the time
/// the open took in ms.
fn open_timed(db: &Path) -> Result<(Store, f64)> {
    // Reading the key file is the daemon's work before the store, not the store's: untimed.
    let key = store_key(db)?;
    let start = Instant::now();
    let store = Store::open(db, &StoreConfig::default(), &key)
        .with_context(|| format!("open {}", db.display()))?;
    Ok((store, start.elapsed().as_secs_f64() * 1e3))
}

/// Reads one page from `store` and checks it is a full one.
fn page(store: &Store, peer: &AccordId, before: Option<u64>) -> Result<()> {
    let records = store.history(peer, PAGE, before).context("history")?;
    ensure!(
        records.len() == PAGE,
        "a page of {} messages",
        records.len()
    );
    Ok(())
}

pub(super) fn in_process(
    plan: &Plan,
    big_db: &Path,
    small_db: &Path,
    messages: u64,
) -> Result<InProcess> {
    let peer = peer();
    let mut figures = InProcess::default();
    // Store opens, alternating (each store is closed before the next open).
    for round in 0..plan.runs.min(5) {
        let order = if round % 2 == 0 {
            [big_db, small_db]
        } else {
            [small_db, big_db]
        };
        for db in order {
            let (store, ms) = open_timed(db)?;
            drop(store);
            if db == big_db {
                figures.open_big.push(ms);
            } else {
                figures.open_small.push(ms);
            }
        }
    }
    let (big, _) = open_timed(big_db)?;
    let (small, _) = open_timed(small_db)?;
    let deep_before = Some(messages / 2);
    // Warm-up: the first pages come from disk, later ones from the page cache.
    sample(plan.batch / 2, || page(&big, &peer, None))?;
    sample(plan.batch / 2, || page(&small, &peer, None))?;
    sample(plan.batch / 2, || page(&big, &peer, deep_before))?;
    for round in 0..plan.runs {
        if round % 2 == 0 {
            figures
                .big
                .extend(sample(plan.batch, || page(&big, &peer, None))?);
            figures
                .small
                .extend(sample(plan.batch, || page(&small, &peer, None))?);
        } else {
            figures
                .small
                .extend(sample(plan.batch, || page(&small, &peer, None))?);
            figures
                .big
                .extend(sample(plan.batch, || page(&big, &peer, None))?);
        }
        figures
            .deep
            .extend(sample(plan.batch / 2, || page(&big, &peer, deep_before))?);
    }
    Ok(figures)
}
