//! The Double Ratchet state ([`RatchetState`]) and its steps, per the Signal specification
//! with one change of timing: the *sending* half of a DH ratchet step happens when we next
//! encrypt, not when we receive (as libolm/vodozemac do). Receiving a new ratchet key runs
//!
//! ```text
//! PN = Ns (if we had a sending chain); sending chain = none; DHr = header.dh
//! RK, CKr = KDF_RK(RK, DH(DHs, DHr)); Nr = 0
//! ```
//!
//! and the next encryption, finding no sending chain, runs
//!
//! ```text
//! DHs = new key pair (from the caller's RNG); RK, CKs = KDF_RK(RK, DH(DHs, DHr)); Ns = 0
//! ```
//!
//! which is the same sequence of root-key updates as Signal's, with the fresh key drawn later.
//! It lets decryption need no RNG, and the new key pair is as fresh as it can be.

use std::fmt;

use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::chain_key::ChainKey;
use crate::error::ChannelError;
use crate::header::Header;
use crate::limits::SkipLimits;
use crate::message_key::MessageKey;
use crate::root_key::RootKey;
use crate::skipped::SkippedKeys;

/// The most message keys one header may make us skip in one chain.
pub const MAX_SKIP: u32 = 1000;

/// Our current ratchet key pair. The public half is needed only in the headers we send, so it
/// is computed when first needed (an X25519 base-point multiplication) and then cached: the
/// inviter's first key pair (the invite's one-time key) and a restored state that has no
/// sending chain never need it.
#[derive(Clone)]
pub(crate) struct RatchetKeyPair {
    pub(crate) secret: StaticSecret,
    public: Option<PublicKey>,
}

impl RatchetKeyPair {
    /// A fresh key pair; its public half is computed at once (it goes into the next header).
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let secret = StaticSecret::random_from_rng(rng);
        let public = PublicKey::from(&secret);
        Self {
            secret,
            public: Some(public),
        }
    }

    /// A key pair from its secret; the public half is computed only if it is needed.
    pub(crate) fn from_secret(secret: StaticSecret) -> Self {
        Self {
            secret,
            public: None,
        }
    }

    /// A key pair restored with both halves (a stored state that kept its public key). The
    /// caller vouches that `public` belongs to `secret`; see [`crate::state`] for when that is
    /// checked.
    pub(crate) fn from_parts(secret: StaticSecret, public: PublicKey) -> Self {
        Self {
            secret,
            public: Some(public),
        }
    }

    /// The public half, computed and cached on first use.
    pub(crate) fn public(&mut self) -> PublicKey {
        let secret = &self.secret;
        *self.public.get_or_insert_with(|| PublicKey::from(secret))
    }

    /// The public half if it is known without computing it.
    #[cfg(test)]
    pub(crate) fn public_if_cached(&self) -> Option<PublicKey> {
        self.public
    }

    /// The public half without caching it (for `Debug` and for encoding a shared state).
    pub(crate) fn public_uncached(&self) -> PublicKey {
        self.public.unwrap_or_else(|| PublicKey::from(&self.secret))
    }
}

/// A chain and the number of the next message in it (`Ns` or `Nr`).
#[derive(Clone)]
pub(crate) struct Chain {
    pub(crate) key: ChainKey,
    pub(crate) next: u32,
}

/// Everything the Double Ratchet remembers. Secrets wipe themselves on drop; `Debug` shows
/// only public values and counters.
#[derive(Clone)]
pub(crate) struct RatchetState {
    pub(crate) root_key: RootKey,
    /// `DHs`.
    pub(crate) ours: RatchetKeyPair,
    /// `DHr`: the peer's current ratchet key, once known.
    pub(crate) theirs: Option<PublicKey>,
    /// `CKs` and `Ns`; none until the next encryption after a DH ratchet step.
    pub(crate) sending: Option<Chain>,
    /// `CKr` and `Nr` of the chain of `theirs`; none until the peer's first message.
    pub(crate) receiving: Option<Chain>,
    /// `PN`: the length of our previous sending chain.
    pub(crate) previous_sending_length: u32,
    pub(crate) skipped: SkippedKeys,
}

impl RatchetState {
    /// The inviter (Signal's Bob): its one-time key pair is its first ratchet key pair; it
    /// waits for the invitee's first message before it can send.
    pub(crate) fn new_receiver(root_key: RootKey, ours: RatchetKeyPair) -> Self {
        Self {
            root_key,
            ours,
            theirs: None,
            sending: None,
            receiving: None,
            previous_sending_length: 0,
            skipped: SkippedKeys::default(),
        }
    }

    /// The invitee (Signal's Alice): takes the inviter's one-time key as the peer's first
    /// ratchet key and, as Signal's initialisation does, makes its first ratchet key pair and
    /// sending chain at once (`DHs` = fresh, `RK, CKs = KDF_RK(SK, DH(DHs, DHr))`), so it can
    /// encrypt straight away.
    pub(crate) fn new_sender<R: CryptoRng + ?Sized>(
        root_key: RootKey,
        theirs: PublicKey,
        rng: &mut R,
    ) -> Result<Self, ChannelError> {
        let mut state = Self {
            theirs: Some(theirs),
            ..Self::new_receiver(root_key, RatchetKeyPair::generate(rng))
        };
        let (root_key, chain_key) = state
            .root_key
            .step(&state.ours.secret, &theirs)
            .map_err(|_| ChannelError::NonContributory)?;
        state.root_key = root_key;
        state.sending = Some(Chain {
            key: chain_key,
            next: 0,
        });
        Ok(state)
    }

    /// A copy without the skipped keys, for encryption, which never touches them (so
    /// encrypting does not copy up to [`crate::MAX_SKIPPED_KEYS`] keys each time).
    pub(crate) fn clone_for_sending(&self) -> Self {
        Self {
            root_key: self.root_key.clone(),
            ours: self.ours.clone(),
            theirs: self.theirs,
            sending: self.sending.clone(),
            receiving: self.receiving.clone(),
            previous_sending_length: self.previous_sending_length,
            skipped: SkippedKeys::default(),
        }
    }

    /// Whether [`RatchetState::next_sending_key`] can succeed.
    pub(crate) fn can_send(&self) -> bool {
        self.sending.is_some() || self.theirs.is_some()
    }

    /// The header and key of the next message we send, advancing the sending chain (after a
    /// DH ratchet step if there is no sending chain). On error nothing changed.
    pub(crate) fn next_sending_key<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<(Header, MessageKey), ChannelError> {
        if self.sending.is_none() {
            let theirs = self.theirs.ok_or(ChannelError::CannotSendYet)?;
            let ours = RatchetKeyPair::generate(rng);
            let (root_key, chain_key) = self
                .root_key
                .step(&ours.secret, &theirs)
                .map_err(|_| ChannelError::NonContributory)?;
            self.root_key = root_key;
            self.ours = ours;
            self.sending = Some(Chain {
                key: chain_key,
                next: 0,
            });
        }
        let chain = self.sending.as_mut().ok_or(ChannelError::CannotSendYet)?;
        if chain.next == u32::MAX {
            return Err(ChannelError::ChainExhausted);
        }
        let header = Header {
            ratchet_key: self.ours.public(),
            previous_chain_length: self.previous_sending_length,
            message_number: chain.next,
        };
        let key = chain.key.advance();
        chain.next += 1;
        Ok((header, key))
    }

    /// The common case of [`RatchetState::next_sending_key`], computed without changing
    /// anything: if there is a sending chain with room left, its next header, message key and
    /// the chain key that follows. Commit with [`RatchetState::commit_sending`] once the
    /// message is sealed.
    pub(crate) fn peek_sending_key(&mut self) -> Option<(Header, MessageKey, ChainKey)> {
        let chain = self.sending.as_ref()?;
        if chain.next == u32::MAX {
            return None;
        }
        let ratchet_key = self.ours.public();
        let header = Header {
            ratchet_key,
            previous_chain_length: self.previous_sending_length,
            message_number: chain.next,
        };
        let (key, next) = chain.key.step();
        Some((header, key, next))
    }

    /// Makes `next` the sending chain key after the message of [`Self::peek_sending_key`].
    pub(crate) fn commit_sending(&mut self, next: ChainKey) {
        if let Some(chain) = self.sending.as_mut() {
            chain.key = next;
            chain.next += 1;
        }
    }

    /// The common case of [`RatchetState::receiving_key`], computed without changing
    /// anything: the header continues the current receiving chain with exactly the next
    /// message number, and no skipped key is stored under (its ratchet key, its number).
    /// Returns the message key and the chain key that follows; commit with
    /// [`Self::commit_receiving`] once the message authenticates. For any other header this
    /// returns `None` and the general path (on a copy of the state) applies; both give the same
    /// result.
    pub(crate) fn peek_in_order_key(&self, header: &Header) -> Option<(MessageKey, ChainKey)> {
        let chain = self.receiving.as_ref()?;
        if self.theirs != Some(header.ratchet_key) || header.message_number != chain.next {
            return None;
        }
        if self
            .skipped
            .contains(header.ratchet_key.as_bytes(), header.message_number)
        {
            return None;
        }
        Some(chain.key.step())
    }

    /// Commits [`Self::peek_in_order_key`]'s chain key, and deletes the expired skipped keys
    /// as the general path does.
    pub(crate) fn commit_receiving(&mut self, next: ChainKey, now_ms: u64) {
        if let Some(chain) = self.receiving.as_mut() {
            chain.key = next;
            chain.next = chain.next.saturating_add(1);
        }
        self.skipped.purge_expired(now_ms);
    }

    /// The key of the received message with `header`, doing whatever skipping and DH ratchet
    /// step the header calls for. Call it on a copy of the state and keep the copy only if the
    /// message then authenticates: a forged header would otherwise corrupt the state.
    ///
    /// Every bound (`limits.max_skip()`, at most [`MAX_SKIP`]) is checked before any key is
    /// derived.
    pub(crate) fn receiving_key(
        &mut self,
        header: &Header,
        now_ms: u64,
        limits: SkipLimits,
    ) -> Result<MessageKey, ChannelError> {
        self.skipped.purge_expired(now_ms);
        let dh = header.ratchet_key.to_bytes();
        if let Some(key) = self.skipped.take(&dh, header.message_number) {
            return Ok(key);
        }
        let is_current = self.receiving.is_some() && self.theirs == Some(header.ratchet_key);
        if is_current {
            let next = self.receiving.as_ref().map_or(0, |c| c.next);
            if header.message_number < next {
                return Err(ChannelError::MessageKeyUnavailable);
            }
            check_skip(next, header.message_number, limits)?;
        } else {
            if let Some(chain) = &self.receiving {
                check_skip(chain.next, header.previous_chain_length, limits)?;
            }
            check_skip(0, header.message_number, limits)?;
            self.skip_until(header.previous_chain_length, now_ms, limits);
            self.dh_ratchet(header.ratchet_key)?;
        }
        self.skip_until(header.message_number, now_ms, limits);
        let chain = self.receiving.as_mut().ok_or(ChannelError::Decryption)?;
        let key = chain.key.advance();
        chain.next = header.message_number.saturating_add(1);
        Ok(key)
    }

    /// Stores the keys of the current receiving chain's messages up to (not including) `until`.
    fn skip_until(&mut self, until: u32, now_ms: u64, limits: SkipLimits) {
        let (Some(chain), Some(theirs)) = (self.receiving.as_mut(), self.theirs) else {
            return;
        };
        while chain.next < until {
            let key = chain.key.advance();
            self.skipped.insert(
                theirs.to_bytes(),
                chain.next,
                key,
                now_ms,
                limits.max_skipped_keys(),
            );
            chain.next += 1;
        }
    }

    /// The receiving half of a DH ratchet step, to the peer's new ratchet key `theirs`.
    fn dh_ratchet(&mut self, theirs: PublicKey) -> Result<(), ChannelError> {
        let (root_key, chain_key) = self
            .root_key
            .step(&self.ours.secret, &theirs)
            .map_err(|_| ChannelError::NonContributory)?;
        if let Some(sending) = self.sending.take() {
            self.previous_sending_length = sending.next;
        }
        self.root_key = root_key;
        self.theirs = Some(theirs);
        self.receiving = Some(Chain {
            key: chain_key,
            next: 0,
        });
        Ok(())
    }
}

/// Refuses to skip from message `next` to `until` if that is more than `limits.max_skip()`
/// keys.
fn check_skip(next: u32, until: u32, limits: SkipLimits) -> Result<(), ChannelError> {
    let skip = u64::from(until.saturating_sub(next));
    if skip > u64::from(limits.max_skip()) {
        return Err(ChannelError::TooManySkipped {
            skip,
            max: limits.max_skip(),
        });
    }
    Ok(())
}

impl fmt::Debug for RatchetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatchetState")
            .field(
                "our_ratchet_key",
                &hex(self.ours.public_uncached().as_bytes()),
            )
            .field("their_ratchet_key", &self.theirs.map(|k| hex(k.as_bytes())))
            .field("sent_in_chain", &self.sending.as_ref().map(|c| c.next))
            .field(
                "received_in_chain",
                &self.receiving.as_ref().map(|c| c.next),
            )
            .field("previous_sending_length", &self.previous_sending_length)
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

/// Lowercase hex, for showing public keys.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
