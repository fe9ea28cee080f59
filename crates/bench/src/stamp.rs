//! `stamp`: the proof-of-work stamp on gossip frames, in process.
//!
//! - minting cost: the time to mint one stamp at the default difficulty
//!   ([`DEFAULT_STAMP_BITS`]) over many distinct frames (mean and p95, since the number of
//!   attempts is geometric), against the ceiling (an honest invite costs well under a
//!   second: 1 s);
//! - relay check rate: frames per second through everything a relay does before forwarding an
//!   inbox frame (the forwarder's rate limit, decoding, the expiry and the stamp), against
//!   SHA-256 of the same frames, the least any check bound to the frame's bytes can cost.
//!
//! Frames are the largest there are (an acceptance carrying the longest first message: 4030
//! bytes), so both figures are for the worst case.

use std::time::Instant;

use accord_handshake::{Acceptance, DEFAULT_STAMP_BITS, GossipFrame, Invite, Note, Payload};
use accord_identity::Identity;
use accord_net::{PeerId, PeerRateLimiter, RateVerdict};
use anyhow::{Context, Result, bail};
use getrandom::SysRng;
use rand_core::UnwrapErr;
use sha2::{Digest, Sha256};

use crate::measure::{Better, Ops, Plan, Row, percentile, rate_pair, report};

/// The ceiling for an honest invite's cost.
const CEILING_MS: f64 = 1000.0;
/// Now, for frame expiries and the relay check (Unix ms).
const NOW: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 86_400_000;

/// Runs the suite: `quick` mints fewer stamps and times shorter batches.
pub(crate) fn run(quick: bool) -> Result<()> {
    let stamps = if quick { 24 } else { 200 };
    println!("minting {stamps} stamps of {DEFAULT_STAMP_BITS} bits on distinct 4 KiB frames");
    let minted = mint_stamps(stamps)?;
    let (check_rate, sha_rate) = relay_check_rates(&Plan::new(quick), &minted.frames)?;

    let rows = [
        Row::key(
            "mint_mean_ms",
            "mint one default stamp, mean",
            minted.mean_ms,
            CEILING_MS,
            "ms",
            Better::Lower,
        ),
        Row::key(
            "mint_p95_ms",
            "mint one default stamp, p95",
            minted.p95_ms,
            CEILING_MS,
            "ms",
            Better::Lower,
        ),
        Row::info(
            "mint_hashes",
            "attempts per second while minting",
            minted.hashes_per_s,
            minted.hashes_per_s,
            "hash/s",
            Better::Higher,
        ),
        Row::key(
            "relay_check",
            "rate+decode+expiry+stamp vs SHA-256",
            check_rate,
            sha_rate,
            "frames/s",
            Better::Higher,
        ),
    ];
    report("stamp", "accord", "ceiling/peer", &rows);
    println!(
        "(mint: baseline = the issue's 1 s ceiling; relay_check: baseline = SHA-256 of the same \
         {}-byte frames; {} stamps, {:.1} M attempts in all)",
        minted.frames.first().map_or(0, Vec::len),
        stamps,
        minted.attempts as f64 / 1e6
    );
    Ok(())
}

/// What minting `count` stamps measured, and the stamped frames.
struct Minted {
    mean_ms: f64,
    p95_ms: f64,
    hashes_per_s: f64,
    attempts: u64,
    frames: Vec<Vec<u8>>,
}

/// Mints a default stamp on each of `count` distinct largest-size frames, timing each.
fn mint_stamps(count: usize) -> Result<Minted> {
    let mut rng = UnwrapErr(SysRng);
    let alice = Identity::generate(&mut rng);
    let bob = Identity::generate(&mut rng);
    let mut mint_ms = Vec::with_capacity(count);
    let mut attempts = 0u64;
    let mut frames = Vec::with_capacity(count);
    for _ in 0..count {
        let mut frame = largest_frame(&alice, &bob, &mut rng)?;
        let start = Instant::now();
        frame.mint(DEFAULT_STAMP_BITS).context("mint")?;
        mint_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        attempts += frame.stamp + 1;
        frames.push(frame.encode());
    }
    let total_ms: f64 = mint_ms.iter().sum();
    Ok(Minted {
        mean_ms: total_ms / mint_ms.len() as f64,
        p95_ms: percentile(&mint_ms, 95.0),
        hashes_per_s: attempts as f64 / (total_ms / 1000.0),
        attempts,
        frames,
    })
}

/// Frames per second through the relay check, and through SHA-256 of the same frames.
fn relay_check_rates(plan: &Plan, frames: &[Vec<u8>]) -> Result<(f64, f64)> {
    // A rate limit high enough that every frame is allowed (its cost is what is measured, not
    // its verdict), from a handful of forwarding peers.
    let peers: Vec<PeerId> = (0..8).map(|_| PeerId::random()).collect();
    let mut limiter = PeerRateLimiter::new(u32::MAX, 1024);
    let mut next = 0usize;
    let mut ours: Ops<'_> = Box::new(|n| {
        let now = Instant::now();
        for i in 0..n {
            next = (next + 1) % frames.len();
            let peer = peers[usize::try_from(i).unwrap_or(0) % peers.len()];
            if limiter.check(peer, now) != RateVerdict::Allow {
                bail!("the rate limiter refused a frame");
            }
            GossipFrame::check(&frames[next], NOW, DEFAULT_STAMP_BITS).context("relay check")?;
        }
        Ok(())
    });
    let mut base_next = 0usize;
    let mut baseline: Ops<'_> = Box::new(|n| {
        for _ in 0..n {
            base_next = (base_next + 1) % frames.len();
            std::hint::black_box(Sha256::digest(&frames[base_next]));
        }
        Ok(())
    });
    rate_pair(plan, &mut ours, &mut baseline)
}

/// An unstamped frame of the largest size: an acceptance with the longest first message,
/// sealed to the inviter.
fn largest_frame(
    alice: &Identity,
    bob: &Identity,
    rng: &mut UnwrapErr<SysRng>,
) -> Result<GossipFrame> {
    let note = Note::new("Hi Bob", 300).context("note")?;
    let (invite, _) =
        Invite::create(alice, bob.id(), note, NOW, 14 * DAY_MS, rng).context("invite")?;
    let first = vec![7; Acceptance::MAX_FIRST_MESSAGE];
    let (acceptance, _) = Acceptance::create(bob, &invite, first, rng).context("acceptance")?;
    let frame = GossipFrame::seal(&alice.id(), &Payload::Acceptance(acceptance), NOW, rng)
        .context("seal")?;
    if frame.encode().len() != GossipFrame::MAX_LEN {
        bail!("the largest frame is not {} bytes", GossipFrame::MAX_LEN);
    }
    Ok(frame)
}
