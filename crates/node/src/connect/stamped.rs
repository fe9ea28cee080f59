//! Stamped frames kept for republication. Minting a frame's proof-of-work stamp costs tens of
//! milliseconds, and the schedule republishes an unanswered item every minute for days, so an
//! item's stamped frame is kept and the same bytes are sent again whenever that can work:
//!
//! - when the last publication of those bytes is older than gossip's duplicate window
//!   ([`accord_net::GOSSIP_DUPLICATE_WINDOW`], 45 s), so relays forward them again: every
//!   republication at the steady 60 s cadence;
//! - or when the recipient is connected, since the direct hand-over has no duplicate filter.
//!
//! Otherwise (the quick first republications, 2 to 32 s apart, to a recipient out of reach)
//! the same bytes would be dropped as duplicates, so the item is sealed and stamped afresh.
//! Identical copies let relays link them; they could link them anyway by shard and timing.

use std::collections::HashMap;

use accord_net::GOSSIP_DUPLICATE_WINDOW;

use accord_handshake::{FrameError, GossipFrame, Payload};
use accord_identity::AccordId;

use super::delivery::DeliveryKey;
use crate::rng;

/// The most stamped frames kept (about 4 KiB each); beyond it the oldest is forgotten and
/// minted again if it is republished. The weekly invite quota keeps the honest number far
/// below this.
pub(crate) const MAX_STAMPED_FRAMES: usize = 256;

/// Frames last published longer ago than this pass gossip's duplicate filters again: the
/// duplicate window plus a margin for clock and scheduling slack.
pub(crate) const REPUBLISH_SAME_BYTES_AFTER_MS: u64 =
    GOSSIP_DUPLICATE_WINDOW.as_millis() as u64 + 5_000;

// The steady republish cadence must be able to reuse frames, or every republication would
// pay for a new stamp.
const _: () = assert!(REPUBLISH_SAME_BYTES_AFTER_MS < super::delivery::MAX_REPUBLISH_DELAY_MS);

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
    /// can be sent again (see the module documentation; `connected`: the recipient is), marked
    /// as published at `now`.
    pub(crate) fn reuse(
        &mut self,
        key: &DeliveryKey,
        payload: &[u8],
        now: u64,
        connected: bool,
    ) -> Option<Vec<u8>> {
        let stamped = self.frames.get_mut(key)?;
        let passes_filters = connected
            || now.saturating_sub(stamped.published_at_ms) >= REPUBLISH_SAME_BYTES_AFTER_MS;
        if stamped.payload != payload || stamped.expires_at_ms <= now || !passes_filters {
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

/// Seals `payload` to `to` and mints its stamp with `bits` of work on the blocking pool, so
/// that no async worker spends the stamp's time hashing.
pub(crate) async fn seal_and_mint(
    to: AccordId,
    payload: Payload,
    expires_at_ms: u64,
    bits: u32,
) -> Result<Vec<u8>, MintError> {
    let frame = tokio::task::spawn_blocking(move || {
        let mut frame = GossipFrame::seal(&to, &payload, expires_at_ms, &mut rng::os_rng())
            .map_err(accord_handshake::SealFrameError::from)?;
        frame
            .mint(bits)
            .map_err(accord_handshake::SealFrameError::from)?;
        Ok::<_, accord_handshake::SealFrameError>(frame.encode())
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

    const LATER: u64 = REPUBLISH_SAME_BYTES_AFTER_MS;

    #[test]
    fn a_frame_is_reused_only_for_the_same_payload_while_fresh() {
        let mut frames = StampedFrames::default();
        let expiry = 10 * LATER;
        frames.put(key(1), vec![1, 2], expiry, vec![9; 4], 0);
        assert_eq!(frames.reuse(&key(1), &[1, 3], LATER, false), None);
        assert_eq!(frames.reuse(&key(2), &[1, 2], LATER, false), None);
        assert_eq!(frames.reuse(&key(1), &[1, 2], expiry, false), None);
        assert_eq!(
            frames.reuse(&key(1), &[1, 2], LATER, false),
            Some(vec![9; 4])
        );
    }

    #[test]
    fn gossip_reuses_bytes_only_after_the_duplicate_window_direct_always() {
        let mut frames = StampedFrames::default();
        frames.put(key(1), vec![1], u64::MAX, vec![9], 1_000);
        // Two seconds later relays would drop the same bytes as a duplicate.
        assert_eq!(frames.reuse(&key(1), &[1], 3_000, false), None);
        // The recipient is connected: the direct hand-over takes the same bytes.
        assert_eq!(frames.reuse(&key(1), &[1], 3_000, true), Some(vec![9]));
        // That counted as a publication: the window starts again from it.
        assert_eq!(frames.reuse(&key(1), &[1], 1_000 + LATER, false), None);
        assert_eq!(
            frames.reuse(&key(1), &[1], 3_000 + LATER, false),
            Some(vec![9])
        );
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
        assert_eq!(frames.reuse(&numbered(0), &[1], LATER, false), None);
        assert_eq!(
            frames.reuse(&numbered(1), &[1], LATER, false),
            Some(vec![2])
        );
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
        let frame = seal_and_mint(b.id(), Payload::Withdrawal(withdrawal), now + 60_000, 10)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(GossipFrame::check(&frame, now, 10), Ok(()));
        let err = GossipFrame::check(&frame, now, 28).err();
        assert!(err.as_ref().is_some_and(is_stamp_error), "{err:?}");
    }
}
