//! The proof-of-work stamp on every gossip frame: a hashcash-style nonce that makes each frame
//! cost its sender some CPU time and costs a relay two hashes to check.
//!
//! A relay cannot tell an invite from an acceptance, a withdrawal or a revocation: they are
//! all sealed boxes of the same bucket sizes. So the stamp is required on every frame, not
//! only on invites. That is cheap for honest senders: acceptances, withdrawals and revocations
//! are rare (at most one per invite or connection), and a republished frame reuses the stamp it
//! was minted with, so each item is paid for once.
//!
//! The work is defined over a digest of the frame, so that the frame (up to 4 KiB) is hashed
//! once and each attempt hashes one 64-byte block:
//!
//! ```text
//! digest = SHA-256(version ‖ expires_at_ms ‖ sealed box)
//! work   = SHA-256("accord/v1/stamp" ‖ digest ‖ nonce (u64 BE))
//! ```
//!
//! A stamp has `bits` of work when `work` starts with at least `bits` zero bits. Because the
//! digest covers every byte of the frame but the nonce, a stamp cannot be moved to another
//! frame, and changing any byte of a frame (the nonce included) invalidates its stamp except
//! with probability 2^-bits.

use sha2::{Digest, Sha256};

/// The domain label hashed in front of every stamp attempt.
pub const STAMP_DOMAIN: &[u8] = b"accord/v1/stamp";

/// The default difficulty, in leading zero bits: about 2^18 (a quarter of a million) hashes on
/// average, chosen by measurement (`accord-bench stamp` and `invite`, see docs/benchmarks.md):
/// the most work that keeps an invite's p99 latency under its 250 ms target on the reference
/// machine, and so well under a second even on a laptop several times slower.
pub const DEFAULT_STAMP_BITS: u32 = 18;

/// The highest difficulty a node may be configured with: 2^28 hashes on average, already
/// minutes of work on a slow laptop.
pub const MAX_STAMP_BITS: u32 = 28;

/// The length of a frame digest.
pub const DIGEST_LEN: usize = 32;

/// Why a stamp was not minted or not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StampError {
    /// The stamp has less work than required (a missing stamp has, in practice, none).
    #[error("the frame's stamp has {bits} bits of work; {required} are required")]
    Insufficient {
        /// The leading zero bits the stamp has.
        bits: u32,
        /// The leading zero bits required.
        required: u32,
    },
    /// The requested difficulty is above [`MAX_STAMP_BITS`].
    #[error("a stamp of {bits} bits is above the maximum of {max}")]
    TooHard {
        /// The requested difficulty.
        bits: u32,
        /// [`MAX_STAMP_BITS`].
        max: u32,
    },
    /// No nonce in the whole `u64` range has the work (for at most [`MAX_STAMP_BITS`] this
    /// happens with probability below 2^-(2^36): never, in practice).
    #[error("no nonce has {bits} bits of work")]
    Exhausted {
        /// The requested difficulty.
        bits: u32,
    },
}

/// The digest a stamp is bound to: SHA-256 of the frame without its nonce.
pub fn frame_digest(header_without_nonce: &[u8], sealed: &[u8]) -> [u8; DIGEST_LEN] {
    Sha256::new()
        .chain_update(header_without_nonce)
        .chain_update(sealed)
        .finalize()
        .into()
}

/// The number of leading zero bits of `SHA-256(STAMP_DOMAIN ‖ digest ‖ nonce)`.
pub fn work_bits(digest: &[u8; DIGEST_LEN], nonce: u64) -> u32 {
    leading_zero_bits(&work_hash(digest, nonce))
}

/// `SHA-256(STAMP_DOMAIN ‖ digest ‖ nonce)`.
fn work_hash(digest: &[u8; DIGEST_LEN], nonce: u64) -> [u8; 32] {
    Sha256::new()
        .chain_update(STAMP_DOMAIN)
        .chain_update(digest)
        .chain_update(nonce.to_be_bytes())
        .finalize()
        .into()
}

/// Leading zero bits of a byte string, most significant bit of the first byte first.
fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in bytes {
        bits += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    bits
}

/// Checks that `nonce` gives `digest` at least `required` bits of work.
///
/// # Errors
///
/// [`StampError::Insufficient`].
pub fn verify(digest: &[u8; DIGEST_LEN], nonce: u64, required: u32) -> Result<(), StampError> {
    let bits = work_bits(digest, nonce);
    if bits >= required {
        Ok(())
    } else {
        Err(StampError::Insufficient { bits, required })
    }
}

/// Finds the smallest nonce that gives `digest` at least `bits` bits of work. This takes about
/// 2^`bits` hashes: run it off any async runtime.
///
/// # Errors
///
/// [`StampError::TooHard`] above [`MAX_STAMP_BITS`]; [`StampError::Exhausted`] in theory.
pub fn mint(digest: &[u8; DIGEST_LEN], bits: u32) -> Result<u64, StampError> {
    if bits > MAX_STAMP_BITS {
        return Err(StampError::TooHard {
            bits,
            max: MAX_STAMP_BITS,
        });
    }
    // The domain and digest are the same for every attempt: hash them once and clone the state.
    let prefix = Sha256::new()
        .chain_update(STAMP_DOMAIN)
        .chain_update(digest);
    (0..=u64::MAX)
        .find(|nonce| {
            let hash = prefix.clone().chain_update(nonce.to_be_bytes()).finalize();
            leading_zero_bits(&hash) >= bits
        })
        .ok_or(StampError::Exhausted { bits })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests;
