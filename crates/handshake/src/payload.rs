//! What travels over gossip: a [`GossipFrame`] (a coarse minting epoch and a proof-of-work stamp,
//! both of which relays can check) around a sealed box holding a [`Payload`].

use accord_identity::{AccordId, Identity};
use rand_core::CryptoRng;

use crate::MAX_CLOCK_SKEW_MS;
use crate::acceptance::Acceptance;
use crate::codec::{self, DecodeError, Reader, Writer};
use crate::invite::Invite;
use crate::revocation::Revocation;
use crate::seal::{self, MAX_SEALED_LEN, SealError};
use crate::settlement::Settlement;
use crate::stamp::{self, DEFAULT_STAMP_BITS, DIGEST_LEN, StampError};
use crate::withdrawal::Withdrawal;

// Every payload fits the largest bucket, and every frame the 4 KiB gossip limit.
const _: () = assert!(Payload::MAX_LEN <= seal::MAX_PLAINTEXT_LEN);
const _: () = assert!(GossipFrame::MAX_LEN <= 4096);

/// A handshake message, as sealed inside a gossip frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Kind 1.
    Invite(Invite),
    /// Kind 2.
    Acceptance(Acceptance),
    /// Kind 3.
    Withdrawal(Withdrawal),
    /// Kind 4.
    Revocation(Revocation),
    /// Kind 5.
    Settlement(Settlement),
}

impl Payload {
    /// The kind byte of an invite.
    pub const KIND_INVITE: u8 = 1;
    /// The kind byte of an acceptance.
    pub const KIND_ACCEPTANCE: u8 = 2;
    /// The kind byte of a withdrawal.
    pub const KIND_WITHDRAWAL: u8 = 3;
    /// The kind byte of a revocation.
    pub const KIND_REVOCATION: u8 = 4;
    /// The kind byte of a settlement (the inviter's answer to an acceptance).
    pub const KIND_SETTLEMENT: u8 = 5;
    /// The longest encoded payload: a kind byte and the longest message (an invite with a
    /// profile card and an introduction, or an acceptance).
    pub const MAX_LEN: usize = 1 + if Invite::MAX_LEN > Acceptance::MAX_LEN {
        Invite::MAX_LEN
    } else {
        Acceptance::MAX_LEN
    };

    /// kind ‖ the message's own encoding.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, body) = match self {
            Self::Invite(m) => (Self::KIND_INVITE, m.encode()),
            Self::Acceptance(m) => (Self::KIND_ACCEPTANCE, m.encode()),
            Self::Withdrawal(m) => (Self::KIND_WITHDRAWAL, m.encode()),
            Self::Revocation(m) => (Self::KIND_REVOCATION, m.encode()),
            Self::Settlement(m) => (Self::KIND_SETTLEMENT, m.encode()),
        };
        let mut out = Vec::with_capacity(1 + body.len());
        out.push(kind);
        out.extend_from_slice(&body);
        out
    }

    /// Parses [`Payload::encode`] (does not verify the message).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`]; [`DecodeError::UnknownKind`] for an unknown kind byte.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let (&kind, body) = bytes.split_first().ok_or(DecodeError::Truncated)?;
        match kind {
            Self::KIND_INVITE => Ok(Self::Invite(Invite::decode(body)?)),
            Self::KIND_ACCEPTANCE => Ok(Self::Acceptance(Acceptance::decode(body)?)),
            Self::KIND_WITHDRAWAL => Ok(Self::Withdrawal(Withdrawal::decode(body)?)),
            Self::KIND_REVOCATION => Ok(Self::Revocation(Revocation::decode(body)?)),
            Self::KIND_SETTLEMENT => Ok(Self::Settlement(Settlement::decode(body)?)),
            other => Err(DecodeError::UnknownKind(other)),
        }
    }
}

/// Why a relay or recipient refuses a gossip frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame is malformed: bad version, oversize, or a sealed box of impossible length.
    #[error("malformed gossip frame: {0}")]
    Malformed(#[from] DecodeError),
    /// The frame's stamp says it has expired.
    #[error("the gossip frame expired at {expires_at_ms} (Unix ms)")]
    Expired {
        /// Its expiry.
        expires_at_ms: u64,
    },
    /// The minting epoch is ahead of the relay's clock: no honest sender mints in the future.
    #[error("the gossip frame's epoch (expiring at {expires_at_ms}) is in the future")]
    BadStamp {
        /// The expiry its epoch gives.
        expires_at_ms: u64,
    },
    /// The proof-of-work stamp has too little work for this relay (or is not bound to these
    /// bytes: a stamp copied from another frame has, in practice, no work at all).
    #[error(transparent)]
    Work(#[from] StampError),
}

/// Why a payload could not be sealed and stamped into a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealFrameError {
    /// Sealing failed (see [`SealError`]).
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Minting the stamp failed (see [`StampError`]).
    #[error(transparent)]
    Stamp(#[from] StampError),
}

/// One hour in milliseconds: the unit of a frame's minting epoch.
pub const HOUR_MS: u64 = 3_600_000;

/// How long a frame lives in the network after the hour it names as its minting epoch: 7 days.
/// Relays, shard stores and recipients drop it afterwards, so one stamp buys at most this long
/// of circulation, and a relay needs to remember a frame's digest only this long to refuse
/// every replay of it. A sender refreshes what is still pending well before (daily).
pub const FRAME_LIFETIME_HOURS: u64 = 7 * 24;

/// A sender names a minting epoch up to this many hours before the real hour, drawn at random
/// for each frame, so that the epoch (and with it the expiry, the only clear time in a frame)
/// is coarse and cannot pair two frames minted close together.
pub const MINT_JITTER_HOURS: u64 = 3;

/// A gossip frame (version 3):
/// `version ‖ minted_hour (u32 BE) ‖ stamp nonce (u64 BE) ‖ sealed box`.
///
/// `minted_hour` is the coarse, randomised minting epoch, in hours since the Unix epoch. It is
/// the only clear time in the frame: the frame expires [`FRAME_LIFETIME_HOURS`] after it. The
/// first 5 bytes (version and epoch) are the associated data of the sealed box, so a relay can
/// read the epoch but not change it, and the proof-of-work stamp hashes every byte but the
/// nonce, so the epoch is bound into the stamp ([`crate::stamp`]): a stamp is worth one
/// week of circulation, never more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipFrame {
    /// The minting epoch, in whole hours since the Unix epoch.
    pub minted_hour: u32,
    /// The proof-of-work nonce (see [`crate::stamp`]); 0 before [`GossipFrame::mint`].
    pub stamp: u64,
    /// The sealed box (see [`crate::seal`]).
    pub sealed: Vec<u8>,
}

/// The minting epoch a sender names for a frame minted at `now_ms`: the current hour minus a
/// random 0 to [`MINT_JITTER_HOURS`] hours.
pub fn mint_hour<R: CryptoRng + ?Sized>(now_ms: u64, rng: &mut R) -> u32 {
    let mut byte = [0u8; 1];
    rng.fill_bytes(&mut byte);
    let back = u64::from(byte[0]) % (MINT_JITTER_HOURS + 1);
    u32::try_from((now_ms / HOUR_MS).saturating_sub(back)).unwrap_or(u32::MAX)
}

impl GossipFrame {
    /// The frame format version. Versions 1 (no stamp) and 2 (a sender-chosen expiry to the
    /// millisecond, no minting epoch) are refused like any unknown version.
    pub const VERSION: u8 = 3;
    /// The part of the header that is the sealed box's associated data: version and epoch.
    pub const AD_LEN: usize = 1 + 4;
    /// The header: version, epoch and stamp nonce.
    pub const HEADER_LEN: usize = Self::AD_LEN + 8;
    /// The longest frame: 4030 bytes, within the 4 KiB gossip limit.
    pub const MAX_LEN: usize = Self::HEADER_LEN + MAX_SEALED_LEN;

    /// The associated data of the sealed box: version and minting epoch.
    fn associated_data(minted_hour: u32) -> [u8; Self::AD_LEN] {
        let mut header = [0u8; Self::AD_LEN];
        header[0] = Self::VERSION;
        header[1..].copy_from_slice(&minted_hour.to_be_bytes());
        header
    }

    /// When relays, shard stores and the recipient drop the frame (Unix ms).
    pub fn expires_at_ms(&self) -> u64 {
        (u64::from(self.minted_hour) + FRAME_LIFETIME_HOURS) * HOUR_MS
    }

    /// Seals `payload` to `recipient` in a frame minted at `now_ms` (its epoch drawn by
    /// [`mint_hour`]), not yet stamped: call [`GossipFrame::mint`] before sending it.
    ///
    /// # Errors
    ///
    /// As [`seal::seal`] (every [`Payload`] fits the largest bucket, so not in practice).
    pub fn seal<R: CryptoRng + ?Sized>(
        recipient: &AccordId,
        payload: &Payload,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Self, SealError> {
        let minted_hour = mint_hour(now_ms, rng);
        Self::seal_at_hour(recipient, payload, minted_hour, rng)
    }

    /// Seals `payload` to `recipient` in a frame naming `minted_hour` as its epoch, not yet
    /// stamped.
    ///
    /// # Errors
    ///
    /// As [`seal::seal`].
    pub fn seal_at_hour<R: CryptoRng + ?Sized>(
        recipient: &AccordId,
        payload: &Payload,
        minted_hour: u32,
        rng: &mut R,
    ) -> Result<Self, SealError> {
        let ad = Self::associated_data(minted_hour);
        let sealed = seal::seal(recipient, &payload.encode(), &ad, rng)?;
        Ok(GossipFrame {
            minted_hour,
            stamp: 0,
            sealed,
        })
    }

    /// The digest the stamp is bound to: every byte of the frame but the nonce (the minting
    /// epoch included).
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        stamp::frame_digest(&Self::associated_data(self.minted_hour), &self.sealed)
    }

    /// Finds a stamp with `bits` bits of work and puts it in the frame. This takes about
    /// 2^`bits` small hashes: run it off any async runtime.
    ///
    /// # Errors
    ///
    /// See [`stamp::mint`].
    pub fn mint(&mut self, bits: u32) -> Result<(), StampError> {
        self.stamp = stamp::mint(&self.digest(), bits)?;
        Ok(())
    }

    /// How many bits of work the frame's stamp has.
    pub fn work_bits(&self) -> u32 {
        stamp::work_bits(&self.digest(), self.stamp)
    }

    /// The relay's work check: the stamp has at least `required` bits of work for these bytes.
    ///
    /// # Errors
    ///
    /// [`FrameError::Work`].
    pub fn check_work(&self, required: u32) -> Result<(), FrameError> {
        Ok(stamp::verify(&self.digest(), self.stamp, required)?)
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::HEADER_LEN + self.sealed.len());
        w.bytes(&Self::associated_data(self.minted_hour))
            .bytes(&self.stamp.to_be_bytes())
            .bytes(&self.sealed);
        w.into_bytes()
    }

    /// Parses a frame, checking its structure (version, size, a sealed box of a bucket
    /// size with a known version) but neither its epoch nor its stamp.
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let minted_hour = r.u32()?;
        let stamp = r.u64()?;
        let sealed = r.bytes(r.remaining())?;
        r.finish()?;
        if !seal::is_sealed_len(sealed.len()) {
            return Err(DecodeError::InvalidField(
                "sealed box length is not a bucket size",
            ));
        }
        if sealed[0] != seal::SEAL_VERSION {
            return Err(DecodeError::UnsupportedVersion(sealed[0]));
        }
        Ok(Self {
            minted_hour,
            stamp,
            sealed: sealed.to_vec(),
        })
    }

    /// The relay's time check at `now_ms`: the frame was minted recently (its epoch is less
    /// than [`FRAME_LIFETIME_HOURS`] old, so it has not expired) and not ahead of `now_ms` by
    /// more than [`MAX_CLOCK_SKEW_MS`].
    ///
    /// # Errors
    ///
    /// [`FrameError::Expired`], [`FrameError::BadStamp`].
    pub fn check_stamp(&self, now_ms: u64) -> Result<(), FrameError> {
        let expires_at_ms = self.expires_at_ms();
        if now_ms >= expires_at_ms {
            return Err(FrameError::Expired { expires_at_ms });
        }
        if u64::from(self.minted_hour) * HOUR_MS > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(FrameError::BadStamp { expires_at_ms });
        }
        Ok(())
    }

    /// Everything a relay checks before forwarding a frame, cheapest first: its structure
    /// ([`GossipFrame::decode`]), its epoch ([`GossipFrame::check_stamp`]) and its
    /// proof of work ([`GossipFrame::check_work`], two hashes). A relay cannot check more:
    /// the content is sealed to someone else.
    ///
    /// # Errors
    ///
    /// See [`FrameError`].
    pub fn check(bytes: &[u8], now_ms: u64, work_bits: u32) -> Result<(), FrameError> {
        Self::validate(bytes, now_ms, work_bits).map(drop)
    }

    /// [`GossipFrame::check`], returning the decoded frame.
    ///
    /// # Errors
    ///
    /// See [`FrameError`].
    pub fn validate(bytes: &[u8], now_ms: u64, work_bits: u32) -> Result<Self, FrameError> {
        let frame = Self::decode(bytes)?;
        frame.check_stamp(now_ms)?;
        frame.check_work(work_bits)?;
        Ok(frame)
    }
}

/// Why a gossip frame could not be opened into a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The frame is malformed or its stamp is refused.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The sealed box is not for this identity: the normal outcome of trial decryption of
    /// someone else's frame (or of a frame altered in transit).
    #[error("the frame is not for this identity")]
    NotForMe,
    /// The sealed box is malformed (any [`SealError`] but [`SealError::NotForMe`]).
    #[error(transparent)]
    Seal(SealError),
    /// The box opened but does not hold a valid payload.
    #[error("malformed payload: {0}")]
    Payload(#[from] DecodeError),
}

/// Seals `payload` to `recipient` in a gossip frame minted at `now_ms`, stamps it
/// with [`DEFAULT_STAMP_BITS`] of work, and returns the frame's bytes. This takes the stamp's
/// time (tens of milliseconds): a node that must not stall uses [`GossipFrame::seal`] and runs
/// [`GossipFrame::mint`] off its runtime, with its configured difficulty.
///
/// # Errors
///
/// See [`SealFrameError`] (neither happens in practice).
pub fn seal_payload<R: CryptoRng + ?Sized>(
    recipient: &AccordId,
    payload: &Payload,
    now_ms: u64,
    rng: &mut R,
) -> Result<Vec<u8>, SealFrameError> {
    let mut frame = GossipFrame::seal(recipient, payload, now_ms, rng)?;
    frame.mint(DEFAULT_STAMP_BITS)?;
    Ok(frame.encode())
}

/// Opens a gossip frame as `identity` at `now_ms` and decodes the payload, checking the
/// frame's structure and expiry but not its stamp: that is the relay check's job
/// ([`GossipFrame::check`]), which a recipient runs first, before any trial decryption, on
/// frames that did not come through it. The payload's message still has to be verified.
///
/// # Errors
///
/// See [`OpenError`]; [`OpenError::NotForMe`] is the normal outcome of trial decryption of
/// someone else's frame.
pub fn open_payload(identity: &Identity, frame: &[u8], now_ms: u64) -> Result<Payload, OpenError> {
    let frame = GossipFrame::decode(frame).map_err(FrameError::from)?;
    frame.check_stamp(now_ms)?;
    let ad = GossipFrame::associated_data(frame.minted_hour);
    let plaintext = seal::open(identity, &frame.sealed, &ad).map_err(|err| match err {
        SealError::NotForMe => OpenError::NotForMe,
        other => OpenError::Seal(other),
    })?;
    Ok(Payload::decode(&plaintext)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests;
