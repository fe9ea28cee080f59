//! Stamped frames kept for the direct hand-over. Minting a frame's proof-of-work stamp costs
//! tens of milliseconds, so an item's stamped frame is kept and the same bytes are handed
//! again to a *connected* recipient over `/accord/inbox/1`, which has no duplicate filter.
//!
//! Gossip never gets the same bytes twice: relays keep a frame's digest for the frame's whole
//! lifetime (frame version 3), so a repeat would be dropped everywhere, and byte-identical
//! copies would let relays link an item's republications. Every republication on gossip is
//! therefore sealed and stamped afresh; the schedule makes them rare (see `delivery.rs`).

use std::collections::HashMap;

use accord_handshake::{FrameError, GossipFrame, Payload};
use accord_identity::AccordId;

use super::delivery::DeliveryKey;
use crate::rng;

/// The most stamped frames kept (about 4 KiB each); beyond it the oldest is forgotten and
/// minted again if it is republished. The weekly invite quota keeps the honest number far
/// below this.
pub(crate) const MAX_STAMPED_FRAMES: usize = 256;

/// One stamped frame and what it holds.
#[derive(Debug)]
struct Stamped {
    /// The encoded payload inside, so that a changed payload is sealed afresh.
    payload: Vec<u8>,
    /// The frame's expiry: a frame past it is minted afresh.
    expires_at_ms: u64,
    /// The frame's bytes.
    frame: Vec<u8>,
    /// When the frame was last handed to the network (Unix ms).
    published_at_ms: u64,
    /// Insertion order, for eviction.
    seq: u64,
}

/// Stamped frames by delivery, bounded by [`MAX_STAMPED_FRAMES`].
#[derive(Debug, Default)]
pub(crate) struct StampedFrames {
    frames: HashMap<DeliveryKey, Stamped>,
    next_seq: u64,
}

impl StampedFrames {
    /// The frame already stamped for `key`, if it holds `payload`, is still fresh at `now` and
    /// the recipient is `connected` (only the direct hand-over takes the same bytes again),
    /// marked as published at `now`.
    pub(crate) fn reuse(
        &mut self,
        key: &DeliveryKey,
        payload: &[u8],
        now: u64,
        connected: bool,
    ) -> Option<Vec<u8>> {
        let stamped = self.frames.get_mut(key)?;
        if stamped.payload != payload || stamped.expires_at_ms <= now || !connected {
            return None;
        }
        stamped.published_at_ms = now;
        Some(stamped.frame.clone())
    }

    /// Keeps `frame` for `key`, published at `now`, forgetting the oldest frame when full.
    pub(crate) fn put(
        &mut self,
        key: DeliveryKey,
        payload: Vec<u8>,
        expires_at_ms: u64,
        frame: Vec<u8>,
        now: u64,
    ) {
        if !self.frames.contains_key(&key) && self.frames.len() >= MAX_STAMPED_FRAMES {
            let oldest = self
                .frames
                .iter()
                .min_by_key(|(_, stamped)| stamped.seq)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.frames.remove(&oldest);
            }
        }
        self.next_seq += 1;
        self.frames.insert(
            key,
            Stamped {
                payload,
                expires_at_ms,
                frame,
                published_at_ms: now,
                seq: self.next_seq,
            },
        );
    }

    /// How many frames are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }
}

/// Why a frame could not be sealed and stamped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MintError {
    /// Sealing or minting failed.
    #[error(transparent)]
    Frame(#[from] accord_handshake::SealFrameError),
    /// The blocking task did not finish (the runtime is shutting down).
    #[error("the minting task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Seals `payload` to `to` in a frame minted at `now_ms` (its epoch coarse and randomised,
/// see [`GossipFrame::seal`]) and mints its stamp with `bits` of work on the blocking pool, so
/// that no async worker spends the stamp's time hashing. Returns the frame and its expiry.
pub(crate) async fn seal_and_mint(
    to: AccordId,
    payload: Payload,
    now_ms: u64,
    bits: u32,
) -> Result<(Vec<u8>, u64), MintError> {
    let frame = tokio::task::spawn_blocking(move || {
        let mut frame = GossipFrame::seal(&to, &payload, now_ms, &mut rng::os_rng())
            .map_err(accord_handshake::SealFrameError::from)?;
        frame
            .mint(bits)
            .map_err(accord_handshake::SealFrameError::from)?;
        Ok::<_, accord_handshake::SealFrameError>((frame.encode(), frame.expires_at_ms()))
    })
    .await??;
    Ok(frame)
}

/// Whether a frame was refused for its stamp (as opposed to its shape or time).
pub(crate) fn is_stamp_error(err: &FrameError) -> bool {
    matches!(err, FrameError::Work(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> DeliveryKey {
        DeliveryKey::Invite([n; 16])
    }

    const LATER: u64 = 50_000;

    #[test]
    fn a_frame_is_reused_only_for_the_same_payload_while_fresh() {
        let mut frames = StampedFrames::default();
        let expiry = 10 * LATER;
        frames.put(key(1), vec![1, 2], expiry, vec![9; 4], 0);
        assert_eq!(frames.reuse(&key(1), &[1, 3], LATER, true), None);
        assert_eq!(frames.reuse(&key(2), &[1, 2], LATER, true), None);
        assert_eq!(frames.reuse(&key(1), &[1, 2], expiry, true), None);
        assert_eq!(
            frames.reuse(&key(1), &[1, 2], LATER, true),
            Some(vec![9; 4])
        );
    }

    #[test]
    fn gossip_never_gets_the_same_bytes_again_direct_does() {
        let mut frames = StampedFrames::default();
        frames.put(key(1), vec![1], u64::MAX, vec![9], 1_000);
        // However long ago it was published, relays remember its digest until it expires,
        // and identical copies would let them link the republications.
        assert_eq!(frames.reuse(&key(1), &[1], 3_000, false), None);
        assert_eq!(
            frames.reuse(&key(1), &[1], 1_000 + 100 * LATER, false),
            None
        );
        // The recipient is connected: the direct hand-over takes the same bytes.
        assert_eq!(frames.reuse(&key(1), &[1], 3_000, true), Some(vec![9]));
    }

    #[test]
    fn the_oldest_frame_is_forgotten_when_full() {
        let mut frames = StampedFrames::default();
        let numbered = |n: usize| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(n as u64).to_be_bytes());
            DeliveryKey::Acceptance(id)
        };
        for n in 0..=MAX_STAMPED_FRAMES {
            frames.put(numbered(n), vec![1], u64::MAX, vec![2], 0);
        }
        assert_eq!(frames.len(), MAX_STAMPED_FRAMES);
        assert_eq!(frames.reuse(&numbered(0), &[1], LATER, true), None);
        assert_eq!(frames.reuse(&numbered(1), &[1], LATER, true), Some(vec![2]));
    }

    #[tokio::test]
    async fn minted_frames_pass_the_relay_check() {
        let mut rng = rng::os_rng();
        let (a, b) = (
            accord_identity::Identity::generate(&mut rng),
            accord_identity::Identity::generate(&mut rng),
        );
        let withdrawal = accord_handshake::Withdrawal::create(&a, b.id(), [3; 16], 1_000);
        let now = crate::clock::now_ms();
        let (frame, expires_at_ms) =
            seal_and_mint(b.id(), Payload::Withdrawal(withdrawal), now, 10)
                .await
                .unwrap_or_else(|err| panic!("{err}"));
        assert!(expires_at_ms > now);
        assert_eq!(GossipFrame::check(&frame, now, 10), Ok(()));
        let err = GossipFrame::check(&frame, now, 28).err();
        assert!(err.as_ref().is_some_and(is_stamp_error), "{err:?}");
    }
}
