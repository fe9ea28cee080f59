//! `junk`: 100,000 junk invite frames from many identities fed to one daemon (issue 15 item 2),
//! against the same daemon on an empty store, both measured in the same run.
//!
//! The junk is the most expensive kind a stranger can send without a connection: each frame is
//! a valid invite addressed to the flooded daemon, from a fresh identity, living the minimum
//! lifetime (1 day), sealed and stamped at the daemon's configured difficulty. Both daemons
//! are configured with 8 stamp bits instead of the default: the stamp is not what is measured
//! here (the `stamp` suite measures it), and minting 100,000 frames at the default difficulty
//! would take the bench hours. Every frame so passes the relay check and the trial decryption
//! and reaches the Connect actor's store path: verified, written as a pending invite, and, once
//! the bound on pending invites is reached, evicting the oldest.
//!
//! The frames travel on `/accord/inbox/1` from many forwarding identities (one libp2p
//! connection each, 100 frames each: within the daemon's per-peer rate of 120 a minute), so
//! that the per-peer rate limit does not hide the store's behaviour.
//!
//! - `store_bytes`: bytes of `db/` after a clean stop, flooded vs empty;
//! - `frame_p50`: round trip of one fresh valid invite frame handed to the daemon after the
//!   flood, p50 (p99 in the table): the per-frame cost, flooded (each sample evicts the oldest
//!   pending invite) vs empty;
//! - in the table only: the flooded daemon's resident memory, and its pending invites (at the
//!   bound) against the frames it was fed.

use std::path::Path;
use std::time::Instant;

use accord_handshake::{GossipFrame, Invite, MIN_LIFETIME_MS, Note, Payload};
use accord_identity::{AccordId, Identity};
use accord_net::{DirectProtocol, Multiaddr, NetConfig, NetHandle, PeerId};
use anyhow::{Context, Result, bail};

use crate::e2e::{Daemon, accord_binary};
use crate::invite::rss_mib;
use crate::measure::{Better, Row, median, percentile, report};

/// Junk frames in a full run.
const FRAMES: usize = 100_000;
/// Junk frames with `--quick`: ten times the bound on pending invites, so that the smoke run
/// still evicts, and about 40 s in the dev profile that CI's smoke run uses (10,000 took 84 s).
const QUICK_FRAMES: usize = 5_000;
/// Frames each forwarding identity hands over: under its bucket of 120 inbox requests.
const FRAMES_PER_FORWARDER: usize = 100;
/// Forwarders flooding at once.
const PARALLEL_FORWARDERS: usize = 4;
/// Requests one forwarder keeps in flight: well inside the daemon's Connect queue.
const IN_FLIGHT: usize = 4;
/// Timed frames per daemon after the flood: one forwarder's worth, within its bucket.
const SAMPLES: usize = 100;
/// The stamp difficulty both daemons ask for (see the module docs).
const STAMP_BITS: u32 = 8;
/// The node configuration: loopback only, cheap stamps.
const CONFIG: &str = "[network]\nmdns = false\ndht = false\n[invites]\nstamp_bits = 8\n";

/// The wall clock in Unix milliseconds, as the daemons read it.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One junk frame: a valid invite to `to` from a fresh identity, sealed and stamped.
fn junk_frame(to: &AccordId) -> Result<Vec<u8>> {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let sender = Identity::generate(&mut rng);
    let note = Note::new("junk", 300).context("note")?;
    let (invite, _) = Invite::create(&sender, *to, note, now_ms(), MIN_LIFETIME_MS, &mut rng)
        .context("create an invite")?;
    let expires_at_ms = invite.expires_at_ms;
    let mut frame = GossipFrame::seal(to, &Payload::Invite(invite), expires_at_ms, &mut rng)
        .context("seal a frame")?;
    frame.mint(STAMP_BITS).context("mint a stamp")?;
    Ok(frame.encode())
}

/// `count` junk frames to `to`, made on a blocking thread (they are CPU work).
async fn junk_frames(to: AccordId, count: usize) -> Result<Vec<Vec<u8>>> {
    tokio::task::spawn_blocking(move || (0..count).map(|_| junk_frame(&to)).collect())
        .await
        .context("the frame maker panicked")?
}

/// A connection to one daemon under a fresh identity.
struct Forwarder {
    net: NetHandle,
    daemon: PeerId,
}

impl Forwarder {
    /// Connects to the daemon at `addr` (ending in `/p2p/<id>`) under a new identity.
    async fn connect(addr: &Multiaddr) -> Result<Forwarder> {
        let identity = Identity::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
        let config = NetConfig::default()
            .with_listen(vec!["/ip4/127.0.0.1/tcp/0".parse()?])
            .with_mdns(false)
            .with_dht(false);
        let (net, mut events, _task) =
            NetHandle::spawn(identity.to_libp2p_keypair(), config).context("start a forwarder")?;
        // Nobody reads the forwarder's events; draining them keeps its loop from counting drops.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let daemon = net.dial(addr.clone()).await.context("dial the daemon")?;
        Ok(Forwarder { net, daemon })
    }

    /// Hands `frame` over and returns the round trip in µs, or `None` if it was refused.
    async fn hand_over(&self, frame: Vec<u8>) -> Option<f64> {
        let at = Instant::now();
        let answer = self
            .net
            .send_direct(DirectProtocol::Inbox, self.daemon, frame)
            .await;
        matches!(answer.as_deref(), Ok(b"ok")).then(|| at.elapsed().as_secs_f64() * 1e6)
    }

    /// Hands every frame over, [`IN_FLIGHT`] at a time; returns how many the daemon took.
    async fn flood(&self, frames: Vec<Vec<u8>>) -> Result<usize> {
        let mut taken = 0;
        let mut pending = Vec::with_capacity(IN_FLIGHT);
        for frame in frames {
            pending.push(
                self.net
                    .start_direct(DirectProtocol::Inbox, self.daemon, frame)
                    .await?,
            );
            if pending.len() == IN_FLIGHT {
                taken += settle(&mut pending).await;
            }
        }
        taken += settle(&mut pending).await;
        let _ = self.net.shutdown().await;
        Ok(taken)
    }
}

/// Waits for every pending request; returns how many the daemon answered `ok`.
async fn settle(pending: &mut Vec<accord_net::DirectResponse>) -> usize {
    let mut taken = 0;
    for response in pending.drain(..) {
        if matches!(response.wait().await.as_deref(), Ok(b"ok")) {
            taken += 1;
        }
    }
    taken
}

/// Feeds `frames` junk frames to `daemon`, [`FRAMES_PER_FORWARDER`] per fresh forwarder and
/// [`PARALLEL_FORWARDERS`] forwarders at a time; returns how many it took.
async fn flood(daemon: &Daemon, frames: usize) -> Result<usize> {
    let addr: Multiaddr = daemon.tcp_addr.parse()?;
    let to: AccordId = daemon.id.parse().context("the daemon's id")?;
    let forwarders = frames.div_ceil(FRAMES_PER_FORWARDER);
    let mut taken = 0;
    let mut started = 0;
    while started < forwarders {
        let wave = PARALLEL_FORWARDERS.min(forwarders - started);
        let mut tasks = Vec::with_capacity(wave);
        for _ in 0..wave {
            let addr = addr.clone();
            let count = FRAMES_PER_FORWARDER.min(frames - started * FRAMES_PER_FORWARDER);
            started += 1;
            tasks.push(tokio::spawn(async move {
                let batch = junk_frames(to, count).await?;
                Forwarder::connect(&addr).await?.flood(batch).await
            }));
        }
        for task in tasks {
            taken += task.await.context("a forwarder panicked")??;
        }
    }
    Ok(taken)
}

/// Round trips (µs) of [`SAMPLES`] fresh valid invite frames handed to each daemon, in
/// alternating halves so that neither profits from a quieter machine.
async fn frame_samples(flooded: &Daemon, empty: &Daemon) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut samples = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
    let mut sides = Vec::new();
    for daemon in [flooded, empty] {
        let forwarder = Forwarder::connect(&daemon.tcp_addr.parse()?).await?;
        let frames = junk_frames(daemon.id.parse()?, SAMPLES).await?;
        sides.push((forwarder, frames));
    }
    for half in 0..2 {
        for (side, (forwarder, frames)) in sides.iter_mut().enumerate() {
            let out = if side == 0 {
                &mut samples.0
            } else {
                &mut samples.1
            };
            for frame in frames.drain(..SAMPLES / 2) {
                match forwarder.hand_over(frame).await {
                    Some(us) => out.push(us),
                    None => bail!("a timed frame was refused (half {half})"),
                }
            }
        }
    }
    Ok(samples)
}

/// The total size of the files under `dir`, in bytes.
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// What the run measured.
struct Figures {
    fed: usize,
    taken: usize,
    pending: usize,
    frame: (Vec<f64>, Vec<f64>),
    rss_mib: (f64, f64),
}

/// Starts both daemons, floods one, times frames on both, stops both; the data dirs stay.
async fn measure(accord: &Path, root: &Path, frames: usize) -> Result<Figures> {
    let flooded = Daemon::start_with(accord, root.join("flooded"), None, CONFIG).await?;
    let empty = Daemon::start_with(accord, root.join("empty"), None, CONFIG).await?;
    let start = Instant::now();
    let taken = flood(&flooded, frames).await?;
    let flood_secs = start.elapsed().as_secs_f64();
    println!(
        "fed {frames} junk frames in {flood_secs:.1} s; the daemon took {taken} ({:.0} frames/s)",
        frames as f64 / flood_secs
    );
    let frame = frame_samples(&flooded, &empty).await?;
    let pending = flooded.client().await?.status().await?.pending_incoming;
    let rss = |daemon: &Daemon| daemon.pid().and_then(rss_mib).unwrap_or(0.0);
    let rss_mib = (rss(&flooded), rss(&empty));
    flooded.stop().await;
    empty.stop().await;
    Ok(Figures {
        fed: frames,
        taken,
        pending,
        frame,
        rss_mib,
    })
}

/// Runs the suite and prints its table and RESULT lines.
pub(crate) async fn run(quick: bool) -> Result<()> {
    let accord = accord_binary()?;
    let frames = if quick { QUICK_FRAMES } else { FRAMES };
    println!(
        "== junk: {frames} valid invite frames from fresh identities vs an empty node ({})",
        accord.display()
    );
    let temp = tempfile::tempdir().context("temp dir")?;
    let figures = measure(&accord, temp.path(), frames).await?;
    let flooded_bytes = dir_bytes(&temp.path().join("flooded").join("db"))?;
    let empty_bytes = dir_bytes(&temp.path().join("empty").join("db"))?;
    let (flooded, empty) = &figures.frame;
    let description = format!("after {} junk frames vs an empty node", figures.fed);
    let rows = [
        Row::key(
            "store_bytes",
            &format!("bytes of db/ after a clean stop, {description}"),
            flooded_bytes as f64,
            empty_bytes as f64,
            "B",
            Better::Lower,
        ),
        Row::key(
            "frame_p50",
            &format!("round trip of one valid invite frame, p50, {description}"),
            median(flooded),
            median(empty),
            "us",
            Better::Lower,
        ),
        Row::info(
            "frame_p99",
            &format!("round trip of one valid invite frame, p99, {description}"),
            percentile(flooded, 99.0),
            percentile(empty, 99.0),
            "us",
            Better::Lower,
        ),
        Row::info(
            "rss",
            &format!("daemon resident memory, {description}"),
            figures.rss_mib.0,
            figures.rss_mib.1,
            "MiB",
            Better::Lower,
        ),
        Row::info(
            "pending_invites",
            "pending invites kept (bound 500) vs the junk frames the daemon took",
            figures.pending as f64,
            figures.taken as f64,
            "invites",
            Better::Lower,
        ),
    ];
    report("junk", "flooded node", "empty node", &rows);
    Ok(())
}
