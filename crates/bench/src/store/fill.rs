//! Making the suite's data dirs: the reproducible fill through accord-store's public API, and
//! the cache of the big data dir under `target/accord-bench/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use accord_identity::{AccordId, Identity};
use accord_store::{
    CURRENT_SCHEMA, MessageId, MessageState, Store, StoreConfig, StoreKey, Zeroizing,
};
use anyhow::{Context, Result, bail};

use super::CONFIG;

/// Bump whenever the fill changes, so that a cached data dir of an older fill is rebuilt.
const FILL_VERSION: u32 = 1;
/// The seed of the conversation's peer: fixed, so a cached data dir's peer needs no state.
const PEER_SEED: [u8; 32] = [0x5a; 32];
/// The fill marks the conversation read every this many messages, which keeps each
/// `mark_read` transaction small.
const MARK_READ_EVERY: u64 = 10_000;
/// The page cache of the store while filling (the measurements use the daemon's default).
const FILL_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// The stored ratchet state, rewritten with every message as the node does.
const SESSION_BYTES: usize = 200;
/// What encryption adds to a body in the outbox envelope (roughly).
const ENVELOPE_OVERHEAD: usize = 120;
/// The first message's time (Unix ms); one message a second after it.
const START_MS: u64 = 1_600_000_000_000;
/// The file that marks a cached data dir as completely filled; it holds the fill's figures.
const FILLED_MARKER: &str = "accord-bench-filled";
/// Message bodies are prefixes of this text.
const TEXT: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
    incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
    exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor \
    in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.";

/// The conversation's peer in every data dir of the suite.
pub(crate) fn peer() -> AccordId {
    Identity::from_seed(Zeroizing::new(PEER_SEED)).id()
}

/// A fixed pseudo-random mix of `x` (splitmix64), so the fill is reproducible.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Message `i`'s id: random-looking, as real ids are (16 random bytes).
pub(super) fn message_id(i: u64) -> MessageId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&mix(i ^ 0x1d).to_be_bytes());
    id[8..].copy_from_slice(&mix(i ^ 0x2e).to_be_bytes());
    id
}

/// Fills the store in `db` with `count` messages with `peer`: about half outgoing (then
/// acknowledged, so they leave the outbox), half incoming (marked read as the fill goes).
/// Flushes once, at the end.
fn fill_store(db: &Path, peer: &AccordId, count: u64, progress: bool) -> Result<()> {
    let config = StoreConfig {
        cache_capacity: FILL_CACHE_BYTES,
        ..StoreConfig::default()
    };
    let store = Store::open(db, &config, &store_key(db)?).context("open the store to fill")?;
    let session = vec![0x42u8; SESSION_BYTES];
    let start = Instant::now();
    let mut incoming_seq = 0u64;
    for i in 0..count {
        record_message(&store, peer, &session, i, &mut incoming_seq)?;
        if (i + 1).is_multiple_of(MARK_READ_EVERY) {
            store.mark_read(peer, u64::MAX).context("mark_read")?;
        }
        if progress && (i + 1).is_multiple_of(100_000) {
            println!(
                "  filled {}/{count} messages ({:.1} s)",
                i + 1,
                start.elapsed().as_secs_f64()
            );
        }
    }
    store.mark_read(peer, u64::MAX).context("mark_read")?;
    store.flush().context("flush")?;
    Ok(())
}

/// Records message `i` of the fill: outgoing (then acknowledged) or incoming, as `mix(i)`
/// decides; `incoming_seq` counts the incoming ones, as the peer's sequence numbers would.
fn record_message(
    store: &Store,
    peer: &AccordId,
    session: &[u8],
    i: u64,
    incoming_seq: &mut u64,
) -> Result<()> {
    let bits = mix(i);
    let id = message_id(i);
    let len = 16 + (bits >> 8) as usize % (TEXT.len() - 16);
    let body = &TEXT[..len];
    // One message in ten answers the one before it.
    let reply_to = (i > 0 && (bits >> 40).is_multiple_of(10)).then(|| message_id(i - 1));
    let at = START_MS + i * 1_000;
    if bits & 1 == 0 {
        let envelope = vec![0xe7u8; len + ENVELOPE_OVERHEAD];
        store
            .record_outgoing(peer, session, id, body, reply_to, at, &envelope, at)
            .context("record_outgoing")?;
        let state = if bits & 2 == 0 {
            MessageState::Delivered
        } else {
            MessageState::Read
        };
        store
            .complete_outbox(peer, &id, state)
            .context("complete_outbox")?;
    } else {
        *incoming_seq += 1;
        // What the store did with it does not matter here; only that it succeeded.
        let _recorded = store
            .record_incoming(
                peer,
                session,
                id,
                *incoming_seq,
                body,
                reply_to,
                at - 300,
                at,
            )
            .context("record_incoming")?;
    }
    Ok(())
}

/// The key the store in `db` is encrypted with: derived, as the daemon does, from the data
/// dir's key file (written by `accord init` without a passphrase).
pub(crate) fn store_key(db: &Path) -> Result<StoreKey> {
    let key_file = db
        .parent()
        .context("the store has no data dir")?
        .join("identity.key");
    let bytes = Zeroizing::new(
        std::fs::read(&key_file).with_context(|| format!("read {}", key_file.display()))?,
    );
    let identity = accord_identity::keyfile::decode(&bytes, None)
        .with_context(|| format!("open {}", key_file.display()))?;
    Ok(identity.store_key())
}

/// Makes a data dir at `dir` with the real binary and fills its store with `count` messages.
pub(crate) fn make_data_dir(accord: &Path, dir: &Path, count: u64, progress: bool) -> Result<()> {
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
    std::fs::write(dir.join("config.toml"), CONFIG).context("write config.toml")?;
    fill_store(&dir.join("db"), &peer(), count, progress)
}

/// The cached big data dir: filled on first use (into a `.partial` dir renamed when complete,
/// so an interrupted fill is never reused); older fills beside it are removed.
pub(super) fn cached_data_dir(accord: &Path, messages: u64) -> Result<PathBuf> {
    // The binaries live in <target>/<profile>/; the cache goes to <target>/accord-bench/.
    let root = accord
        .parent()
        .and_then(Path::parent)
        .context("the accord binary has no target dir")?
        .join("accord-bench");
    let prefix = format!("store-v{FILL_VERSION}-schema{CURRENT_SCHEMA}-");
    let name = format!("{prefix}{messages}");
    let dir = root.join(&name);
    if dir.join(FILLED_MARKER).is_file() {
        println!("using the cached data dir {}", dir.display());
        return Ok(dir);
    }
    std::fs::create_dir_all(&root).with_context(|| format!("create {}", root.display()))?;
    for entry in std::fs::read_dir(&root).context("list the bench cache")? {
        let entry = entry.context("list the bench cache")?;
        // Fills of other counts are kept; fills of another version or schema are stale.
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let stale = file_name.starts_with("store-") && !file_name.starts_with(&prefix);
        if stale && entry.path().is_dir() {
            println!(
                "removing the stale cached data dir {}",
                entry.path().display()
            );
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("remove {}", entry.path().display()))?;
        }
    }
    let partial = root.join(format!("{name}.partial"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("remove {}", partial.display()))?;
    }
    println!(
        "filling a data dir with {messages} messages (once; cached in {} for later runs)",
        dir.display()
    );
    let start = Instant::now();
    make_data_dir(accord, &partial, messages, true)?;
    let took = start.elapsed().as_secs_f64();
    let bytes = dir_size(&partial.join("db"));
    println!(
        "filled {messages} messages in {took:.1} s ({:.0} msg/s); db/ is {:.0} MiB on disk",
        messages as f64 / took,
        bytes as f64 / MIB
    );
    std::fs::write(
        partial.join(FILLED_MARKER),
        format!("messages={messages}\nfill_seconds={took:.1}\ndb_bytes={bytes}\n"),
    )
    .context("write the fill marker")?;
    std::fs::rename(&partial, &dir).with_context(|| format!("rename to {}", dir.display()))?;
    Ok(dir)
}

const MIB: f64 = 1024.0 * 1024.0;

/// The total size of the files under `dir`.
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
