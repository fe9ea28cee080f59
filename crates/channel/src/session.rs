//! A channel session: set-up from the handshake, then encryption and decryption.

use std::fmt;

use accord_handshake::{AttestationId, EphemeralSecret, OneTimeSecret};
use accord_identity::{AccordId, Identity};
use rand_core::CryptoRng;
use x25519_dalek::PublicKey;
use zeroize::Zeroizing;

use crate::envelope::{Envelope, MAX_PLAINTEXT_LEN, Parsed, SessionId};
use crate::error::{ChannelError, SessionError};
use crate::limits::SkipLimits;
use crate::message_key::{MessageKey, NONCE_LEN, TAG_LEN};
use crate::ratchet::{RatchetKeyPair, RatchetState};
use crate::root_key::{NonContributory, X3dhInputs, dh, x3dh};

/// The label that starts every message's associated data.
pub(crate) const AD_LABEL: &[u8] = crate::labels::AD.as_bytes();

/// Which side of the handshake a session is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the invite (Signal's "Bob": we answer the peer's first message).
    Inviter,
    /// We accepted the invite (Signal's "Alice": we send the first message).
    Invitee,
}

/// One end of the encrypted channel between two connected identities.
///
/// Build it with [`Session::new_inviter`] or [`Session::new_invitee`] from the handshake, then
/// [`Session::encrypt`] and [`Session::decrypt`]; persist it with [`Session::to_bytes`] after
/// every call that changed it. `Debug` shows only public values.
///
/// A session is deliberately not `Clone`: two live copies would encrypt different messages
/// under the same message keys.
pub struct Session {
    pub(crate) role: Role,
    pub(crate) attestation_id: AttestationId,
    pub(crate) session_id: SessionId,
    pub(crate) us: AccordId,
    pub(crate) peer: AccordId,
    pub(crate) ratchet: RatchetState,
    /// The fixed head of the associated data of the messages we send (§8 of PROTOCOL.md:
    /// label ‖ attestation id ‖ our ID ‖ the peer's ID), computed once per session.
    ad_sending: [u8; AD_HEAD_LEN],
    /// The same for the messages we receive (the IDs the other way round).
    ad_receiving: [u8; AD_HEAD_LEN],
}

/// The length of an Accord ID's binary form.
const ID_LEN: usize = 38;
/// The length of the per-session head of the associated data: label, attestation id and two
/// Accord IDs.
const AD_HEAD_LEN: usize = AD_LABEL.len() + 32 + 2 * ID_LEN;
/// The length of the whole associated data of a message.
const AD_LEN: usize = AD_HEAD_LEN + Envelope::PREFIX_LEN;

impl Session {
    /// Sets up the inviter's side, once the acceptance has been verified.
    ///
    /// `one_time_secret` is the invite's one-time key (it becomes our first ratchet key; the
    /// node deletes its stored copy with the same transaction that saves the attestation),
    /// `invitee` and `invitee_ephemeral` come from the acceptance, `attestation_id` is the
    /// complete attestation's id. Then decrypt the acceptance's first message: the inviter
    /// cannot send until it has ([`ChannelError::CannotSendYet`]).
    ///
    /// # Errors
    ///
    /// [`SessionError::SameIdentity`], [`SessionError::NonContributory`].
    pub fn new_inviter(
        identity: &Identity,
        one_time_secret: &OneTimeSecret,
        invitee: &AccordId,
        invitee_ephemeral: &PublicKey,
        attestation_id: &AttestationId,
    ) -> Result<Self, SessionError> {
        if identity.id() == *invitee {
            return Err(SessionError::SameIdentity);
        }
        let identity_secret = identity.x25519_secret();
        let one_time = one_time_secret.as_x25519();
        let inputs = (|| {
            Ok::<_, NonContributory>(X3dhInputs([
                dh(&identity_secret, invitee_ephemeral)?,
                dh(one_time, &invitee.x25519_public())?,
                dh(one_time, invitee_ephemeral)?,
            ]))
        })()
        .map_err(|_| SessionError::NonContributory)?;
        let root_key = x3dh(attestation_id.as_bytes(), &inputs);
        let ours = RatchetKeyPair::from_secret(one_time.clone());
        Ok(Self::assemble(
            Role::Inviter,
            attestation_id,
            identity.id(),
            *invitee,
            RatchetState::new_receiver(root_key, ours),
        ))
    }

    /// Sets up the invitee's side, right after [`accord_handshake::Acceptance::create`].
    ///
    /// `ephemeral_secret` is the acceptance's ephemeral key (delete it afterwards),
    /// `inviter` and `one_time_key` come from the invite, `attestation_id` is the id of the
    /// attestation the acceptance completes. The new session can send at once: encrypt the
    /// first message (possibly empty) and put it in the acceptance with
    /// [`accord_handshake::Acceptance::set_first_message`]. `rng` makes our first ratchet key.
    ///
    /// # Errors
    ///
    /// [`SessionError::SameIdentity`], [`SessionError::NonContributory`].
    pub fn new_invitee<R: CryptoRng + ?Sized>(
        identity: &Identity,
        ephemeral_secret: &EphemeralSecret,
        inviter: &AccordId,
        one_time_key: &PublicKey,
        attestation_id: &AttestationId,
        rng: &mut R,
    ) -> Result<Self, SessionError> {
        if identity.id() == *inviter {
            return Err(SessionError::SameIdentity);
        }
        let identity_secret = identity.x25519_secret();
        let ephemeral = ephemeral_secret.as_x25519();
        let inputs = (|| {
            Ok::<_, NonContributory>(X3dhInputs([
                dh(ephemeral, &inviter.x25519_public())?,
                dh(&identity_secret, one_time_key)?,
                dh(ephemeral, one_time_key)?,
            ]))
        })()
        .map_err(|_| SessionError::NonContributory)?;
        let root_key = x3dh(attestation_id.as_bytes(), &inputs);
        let ratchet = RatchetState::new_sender(root_key, *one_time_key, rng)
            .map_err(|_| SessionError::NonContributory)?;
        Ok(Self::assemble(
            Role::Invitee,
            attestation_id,
            identity.id(),
            *inviter,
            ratchet,
        ))
    }

    pub(crate) fn assemble(
        role: Role,
        attestation_id: &AttestationId,
        us: AccordId,
        peer: AccordId,
        ratchet: RatchetState,
    ) -> Self {
        Self {
            role,
            attestation_id: *attestation_id,
            session_id: SessionId::derive(attestation_id.as_bytes()),
            us,
            peer,
            ratchet,
            ad_sending: ad_head(attestation_id, &us, &peer),
            ad_receiving: ad_head(attestation_id, &peer, &us),
        }
    }

    /// The session id carried by every envelope of this channel (public).
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The id of the attestation this channel is bound to.
    pub fn attestation_id(&self) -> AttestationId {
        self.attestation_id
    }

    /// Our side of the handshake.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Our identity.
    pub fn our_id(&self) -> AccordId {
        self.us
    }

    /// The peer's identity.
    pub fn peer_id(&self) -> AccordId {
        self.peer
    }

    /// Whether [`Session::encrypt`] can succeed: false only for an inviter that has not yet
    /// decrypted the invitee's first message.
    pub fn can_send(&self) -> bool {
        self.ratchet.can_send()
    }

    /// How many skipped message keys (of messages not yet arrived) the session holds.
    pub fn skipped_key_count(&self) -> usize {
        self.ratchet.skipped.len()
    }

    /// Deletes skipped message keys older than [`crate::SKIPPED_KEY_TTL_MS`] at `now_ms`
    /// ([`Session::decrypt`] also does this). Persist the session afterwards.
    pub fn purge_expired(&mut self, now_ms: u64) {
        self.ratchet.skipped.purge_expired(now_ms);
    }

    /// Encrypts `plaintext` (at most [`MAX_PLAINTEXT_LEN`] bytes) into envelope bytes for the
    /// peer. `rng` supplies the nonce and, after a reply from the peer, a new ratchet key.
    ///
    /// Persist the session (to_bytes) before sending the envelope, together with it: a
    /// session restored from an older state would reuse message keys.
    ///
    /// # Errors
    ///
    /// [`ChannelError::PlaintextTooLarge`], [`ChannelError::CannotSendYet`],
    /// [`ChannelError::ChainExhausted`], [`ChannelError::Encryption`]. On error the session is
    /// unchanged.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, ChannelError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(ChannelError::PlaintextTooLarge {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        // The common case, a sending chain with room left, touches nothing until the message is
        // sealed; a DH ratchet step (a new sending chain) works on a copy of the state instead.
        let mut stepped = None;
        let (header, key, next_chain_key) = match self.ratchet.peek_sending_key() {
            Some((header, key, next)) => (header, key, Some(next)),
            None => {
                let mut ratchet = self.ratchet.clone_for_sending();
                let (header, key) = ratchet.next_sending_key(rng)?;
                stepped = Some(ratchet);
                (header, key, None)
            }
        };
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let prefix = Envelope::prefix(&self.session_id, &header);
        let aad = associated_data(&self.ad_sending, &prefix);
        let start = Envelope::PREFIX_LEN + NONCE_LEN;
        let mut out = Vec::with_capacity(start + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&prefix);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        key.seal(&mut out, start, &nonce, &aad)
            .map_err(|_| ChannelError::Encryption)?;
        match (next_chain_key, stepped) {
            (Some(next), _) => self.ratchet.commit_sending(next),
            (None, Some(mut ratchet)) => {
                ratchet.skipped = std::mem::take(&mut self.ratchet.skipped);
                self.ratchet = ratchet;
            }
            (None, None) => {}
        }
        Ok(out)
    }

    /// Decrypts envelope bytes from the peer, at `now_ms` (Unix ms; used to expire skipped
    /// keys). Messages may arrive out of order (up to [`crate::MAX_SKIP`] ahead per chain).
    ///
    /// The work is done on a copy of the state, kept only if the message authenticates: a
    /// forged, altered, replayed or misdirected envelope leaves the session exactly as it was.
    /// On success, persist the session together with the message before acknowledging it.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Envelope`], [`ChannelError::WrongSession`],
    /// [`ChannelError::TooManySkipped`], [`ChannelError::MessageKeyUnavailable`],
    /// [`ChannelError::NonContributory`], [`ChannelError::Decryption`].
    pub fn decrypt(&mut self, envelope: &[u8], now_ms: u64) -> Result<Vec<u8>, ChannelError> {
        self.decrypt_within(envelope, now_ms, SkipLimits::default())
    }

    /// [`Session::decrypt`] with the node's own, possibly smaller, bounds on skipped keys:
    /// a header skipping more than `limits.max_skip()` keys is refused
    /// ([`ChannelError::TooManySkipped`]) and at most `limits.max_skipped_keys()` are kept.
    ///
    /// # Errors
    ///
    /// As [`Session::decrypt`].
    pub fn decrypt_within(
        &mut self,
        envelope: &[u8],
        now_ms: u64,
        limits: SkipLimits,
    ) -> Result<Vec<u8>, ChannelError> {
        let parsed = Parsed::parse(envelope)?;
        if parsed.session_id != self.session_id {
            return Err(ChannelError::WrongSession {
                expected: self.session_id,
                found: parsed.session_id,
            });
        }
        let aad = associated_data(&self.ad_receiving, parsed.prefix);
        let open = |key: &MessageKey| {
            key.open(parsed.ciphertext, parsed.nonce, &aad)
                .map_err(|_| ChannelError::Decryption)
        };
        // The common case, the next message of the current receiving chain, derives its key
        // without changing anything and commits only if the message authenticates; any other
        // header (a skipped key, skipping, a new ratchet key) works on a copy of the state,
        // kept only if the message authenticates.
        if let Some((key, next)) = self.ratchet.peek_in_order_key(&parsed.header) {
            let plaintext = open(&key)?;
            self.ratchet.commit_receiving(next, now_ms);
            return Ok(plaintext);
        }
        let mut ratchet = self.ratchet.clone();
        let key = ratchet.receiving_key(&parsed.header, now_ms, limits)?;
        let plaintext = open(&key)?;
        self.ratchet = ratchet;
        Ok(plaintext)
    }

    /// The whole session state, to store (see [`crate::state`] for the format).
    ///
    /// **Keep it secret**: it holds the root, chain and skipped message keys and our ratchet
    /// secret, so whoever reads it can decrypt the messages the session can still decrypt and
    /// the ones that follow until the next DH ratchet step. Store it encrypted at rest, and
    /// never restore an older copy and send with it (that would reuse message keys).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        crate::state::encode(self)
    }

    /// Restores a session from [`Session::to_bytes`] (either state version), checking
    /// everything, including that the stored ratchet public key belongs to its secret.
    ///
    /// # Errors
    ///
    /// [`crate::StateError`] for anything but an exact, valid state encoding;
    /// [`crate::StateError::RatchetKeyMismatch`] if the ratchet key pair is not a pair.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::StateError> {
        crate::state::decode(bytes, crate::state::KeyCheck::Verify)
    }

    /// Restores a session from bytes this program encoded itself with [`Session::to_bytes`]
    /// and kept sealed with an authenticated cipher since (the node's store). It checks
    /// everything [`Session::from_bytes`] checks except whether the stored ratchet public key
    /// belongs to its secret: that check costs the X25519 multiplication the stored key is
    /// there to save, and sealed bytes of our own cannot have changed. Use
    /// [`Session::from_bytes`] for bytes of any other origin.
    ///
    /// # Errors
    ///
    /// [`crate::StateError`] for anything but an exact, valid state encoding.
    pub fn from_own_bytes(bytes: &[u8]) -> Result<Self, crate::StateError> {
        crate::state::decode(bytes, crate::state::KeyCheck::Trust)
    }
}

/// `"accord/v1/channel/ad" ‖ attestation id ‖ sender ID ‖ recipient ID`: the part of the
/// associated data fixed for one direction of a session. Accord IDs are always 38 bytes, so the
/// concatenation is unambiguous.
fn ad_head(
    attestation_id: &AttestationId,
    sender: &AccordId,
    recipient: &AccordId,
) -> [u8; AD_HEAD_LEN] {
    let mut head = [0u8; AD_HEAD_LEN];
    let mut at = 0;
    for part in [
        AD_LABEL,
        attestation_id.as_bytes().as_slice(),
        &sender.to_bytes(),
        &recipient.to_bytes(),
    ] {
        // Every Accord ID is 38 bytes (`AccordId` guarantees it), so each part fits exactly.
        if let Some(slot) = head.get_mut(at..at + part.len()) {
            slot.copy_from_slice(part);
        }
        at += part.len();
    }
    debug_assert_eq!(at, AD_HEAD_LEN);
    head
}

/// A message's whole associated data: the session's head for its direction ‖ the envelope's
/// version, session id and header bytes.
fn associated_data(head: &[u8; AD_HEAD_LEN], prefix: &[u8; Envelope::PREFIX_LEN]) -> [u8; AD_LEN] {
    let mut aad = [0u8; AD_LEN];
    aad[..AD_HEAD_LEN].copy_from_slice(head);
    aad[AD_HEAD_LEN..].copy_from_slice(prefix);
    aad
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &self.session_id)
            .field("role", &self.role)
            .field("us", &self.us)
            .field("peer", &self.peer)
            .field("attestation_id", &self.attestation_id)
            .field("ratchet", &self.ratchet)
            .finish()
    }
}

#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod tests;
