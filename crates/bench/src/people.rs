//! `people`: what shared connection lists cost a node with 500 connections, each sharing a
//! list of 500 (design §12; docs/protocol.md "People").
//!
//! - `list_wire`: the bytes that send one 500-entry list (every update from scratch, with its
//!   framing) vs the 500 bare attestations it carries, the least any list whose entries can
//!   be checked offline can cost;
//! - `one_change`: the bytes of an incremental update adding one connection vs sending the
//!   whole list again;
//! - `apply_rate`: entries per second through everything a receiver does with a list
//!   (decode, verify each attestation, apply to its copy) vs verifying the same attestations
//!   alone;
//! - `storage`: the bytes on disk (sled, sealed) after a node stored 500 such lists the way
//!   it keeps them (70 bytes an entry) vs the same store holding the 500 lists' attestations
//!   in full, written and measured in the same run.
//!
//! The traffic of a node with 500 connections follows: it receives 500 lists once (then only
//! changes) and sends its own to each of its 500 connections once.

use std::path::Path;
use std::time::Instant;

use accord_handshake::{Acceptance, Attestation, Invite, ListUpdate, Note, SharedList};
use accord_identity::{Identity, StoreKey};
use accord_store::{Store, StoreConfig, Zeroizing};
use anyhow::{Context, Result};
use getrandom::SysRng;
use rand_core::UnwrapErr;

use crate::measure::{Better, Row, report};

/// Connections of the measured node, and entries in each of their lists.
const CONNECTIONS: usize = 500;
const NOW: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 86_400_000;

/// Runs the suite (`quick` measures the apply rate over fewer rounds).
pub(crate) fn run(quick: bool) -> Result<()> {
    println!("making {CONNECTIONS} real attestations of one owner");
    let owner = Identity::generate(&mut UnwrapErr(SysRng));
    let attestations = attestations_of(&owner, CONNECTIONS)?;
    let updates = ListUpdate::full(owner.id(), &attestations, 1);
    let list_wire: usize = updates.iter().map(|u| u.encode().len()).sum();
    let bare: usize = attestations.iter().map(|a| a.encode().len()).sum();
    let one_change = ListUpdate {
        owner: owner.id(),
        base: updates.last().map_or(0, |u| u.version),
        version: updates.last().map_or(0, |u| u.version) + 1,
        added: attestations[..1].to_vec(),
        removed: Vec::new(),
    }
    .encode()
    .len();
    let rounds = if quick { 2 } else { 10 };
    let (apply_rate, verify_rate, copy) = apply_rates(&updates, &attestations, rounds)?;
    let dir = tempfile::tempdir().context("a temporary dir")?;
    let (ours_disk, full_disk) = storage(dir.path(), &copy, &attestations)?;
    let figures = Figures {
        list_wire,
        bare,
        one_change,
        apply_rate,
        verify_rate,
        ours_disk,
        full_disk,
    };
    report("people", "accord", "baseline", &figures.rows());
    println!(
        "(list_wire: baseline = the bare attestations; one_change: baseline = the whole list \
         again; apply_rate: baseline = Attestation::verify alone; storage: baseline = the same \
         store keeping every attestation in full; {} entries a list, {CONNECTIONS} lists)",
        copy.entries.len()
    );
    Ok(())
}

/// What the suite measured.
struct Figures {
    list_wire: usize,
    bare: usize,
    one_change: usize,
    apply_rate: f64,
    verify_rate: f64,
    ours_disk: u64,
    full_disk: u64,
}

impl Figures {
    fn rows(&self) -> Vec<Row> {
        let Figures {
            list_wire,
            bare,
            one_change,
            apply_rate,
            verify_rate,
            ours_disk,
            full_disk,
        } = *self;
        let traffic_mb = (CONNECTIONS * list_wire) as f64 / 1e6;
        vec![
            Row::key(
                "list_wire",
                "one 500-entry list, sent from scratch",
                list_wire as f64,
                bare as f64,
                "bytes",
                Better::Lower,
            ),
            Row::key(
                "one_change",
                "one more connection vs the whole list",
                one_change as f64,
                list_wire as f64,
                "bytes",
                Better::Lower,
            ),
            Row::key(
                "apply_rate",
                "decode+verify+apply vs verify alone",
                apply_rate,
                verify_rate,
                "entries/s",
                Better::Higher,
            ),
            Row::key(
                "storage",
                "500 lists of 500 as kept vs in full",
                ours_disk as f64 / 1e6,
                full_disk as f64 / 1e6,
                "MB",
                Better::Lower,
            ),
            Row::info(
                "received_once",
                "500 lists received once (then changes)",
                traffic_mb,
                traffic_mb,
                "MB",
                Better::Lower,
            ),
            Row::info(
                "sent_once",
                "own list sent once to 500 connections",
                traffic_mb,
                traffic_mb,
                "MB",
                Better::Lower,
            ),
        ]
    }
}

/// `n` attestations between `owner` (the inviter) and fresh identities.
fn attestations_of(owner: &Identity, n: usize) -> Result<Vec<Attestation>> {
    let mut rng = UnwrapErr(SysRng);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let other = Identity::generate(&mut rng);
        let (invite, _) =
            Invite::create(owner, other.id(), Note::empty(), NOW, 14 * DAY_MS, &mut rng)?;
        let (acceptance, _) = Acceptance::create(&other, &invite, Vec::new(), &mut rng)?;
        out.push(acceptance.verify(&invite)?);
    }
    Ok(out)
}

/// Entries per second through decode+verify+apply of `updates`, and through verifying the
/// attestations alone; and the receiver's copy.
fn apply_rates(
    updates: &[ListUpdate],
    attestations: &[Attestation],
    rounds: usize,
) -> Result<(f64, f64, SharedList)> {
    let encoded: Vec<Vec<u8>> = updates.iter().map(ListUpdate::encode).collect();
    let mut copy = SharedList::default();
    let start = Instant::now();
    for _ in 0..rounds {
        copy = SharedList::default();
        for bytes in &encoded {
            let update = ListUpdate::decode(bytes)?;
            update.verify()?;
            copy.apply(&update)?;
        }
    }
    let ours = (rounds * attestations.len()) as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for _ in 0..rounds {
        for attestation in attestations {
            attestation.verify()?;
        }
    }
    let baseline = (rounds * attestations.len()) as f64 / start.elapsed().as_secs_f64();
    Ok((ours, baseline, copy))
}

/// The bytes on disk of a store holding 500 lists as the node keeps them, and of one holding
/// the same lists' attestations in full.
fn storage(dir: &Path, copy: &SharedList, attestations: &[Attestation]) -> Result<(u64, u64)> {
    let kept = copy.encode();
    let full: Vec<u8> = attestations.iter().flat_map(Attestation::encode).collect();
    let ours = fill(&dir.join("kept"), &kept)?;
    let baseline = fill(&dir.join("full"), &full)?;
    Ok((ours, baseline))
}

/// Stores `value` as the shared list of each of 500 owners, flushes, and measures the dir.
fn fill(db: &Path, value: &[u8]) -> Result<u64> {
    let key = StoreKey::from_bytes(Zeroizing::new([7; 32]));
    let store = Store::open(db, &StoreConfig::default(), &key)?;
    for n in 0..CONNECTIONS {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(n as u64).to_be_bytes());
        let owner = Identity::from_seed(Zeroizing::new(seed)).id();
        store.put_shared_list(&owner, value)?;
    }
    store.flush()?;
    drop(store);
    Ok(dir_size(db))
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
