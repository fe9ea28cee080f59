//! Accord's end-to-end encrypted channel, sans-IO: the session set-up from the connect
//! handshake and the Double Ratchet that encrypts every message between two connections.
//!
//! - **Set-up** ([`Session::new_invitee`], [`Session::new_inviter`]): an X3DH-style
//!   combination of three X25519 results — the inviter's identity key with the invitee's
//!   ephemeral key, the invite's one-time key with the invitee's identity key, and the one-time
//!   key with the ephemeral key — hashed with the attestation id as salt into the first root
//!   key. Either identity key alone, or the one-time and ephemeral keys alone, do not suffice.
//! - **Double Ratchet** (Signal's specification): an HKDF-SHA256 root step at every change of
//!   speaker, an HMAC-SHA256 chain step per message (`0x01` message key, `0x02` next chain
//!   key), and XChaCha20-Poly1305 per message keyed with the message key itself, with
//!   a random nonce (so a message key reused after a state rollback still does not repeat a
//!   nonce). The associated data binds the attestation, both identities (in the direction of
//!   the message) and the envelope header.
//! - **Bounds**: at most [`MAX_SKIP`] skipped message keys per header, [`MAX_SKIPPED_KEYS`] in
//!   all over [`MAX_SKIPPED_CHAINS`] chains, each kept at most [`SKIPPED_KEY_TTL_MS`].
//! - **Failure leaves no trace**: [`Session::decrypt`] works on a copy of the state and keeps
//!   it only if the message authenticates.
//!
//! The invitee speaks first (it is Signal's "Alice"): it can encrypt right after set-up, and
//! its first envelope (possibly of an empty plaintext) travels in the
//! [`Acceptance`](accord_handshake::Acceptance). The inviter ("Bob") can send once it has
//! decrypted that message. The crate reads no clock (times are Unix milliseconds passed in),
//! does no I/O and takes randomness from the caller. `PROTOCOL.md` beside this crate is the
//! normative specification.
//!
//! # Example
//!
//! ```
//! use accord_channel::Session;
//! use accord_handshake::{Acceptance, Invite, Note};
//! use accord_identity::Identity;
//! use getrandom::SysRng;
//! use rand_core::UnwrapErr;
//!
//! let mut rng = UnwrapErr(SysRng);
//! let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
//! let now = 1_700_000_000_000;
//!
//! // Alice invites Bob and keeps the one-time secret.
//! let note = Note::new("hi", 300)?;
//! let (invite, one_time) = Invite::create(&alice, bob.id(), note, now, 86_400_000, &mut rng)?;
//!
//! // Bob accepts, sets up his session and puts his first message into the acceptance.
//! let (mut acceptance, ephemeral) = Acceptance::create(&bob, &invite, Vec::new(), &mut rng)?;
//! let attestation_id = invite.statement().id();
//! let mut bob_session = Session::new_invitee(
//!     &bob, &ephemeral, &invite.inviter, &invite.one_time_key, &attestation_id, &mut rng,
//! )?;
//! let first = bob_session.encrypt(b"hello Alice", &mut rng)?;
//! acceptance.set_first_message(first)?;
//!
//! // Alice checks the acceptance, sets up her session and reads the first message.
//! let attestation = acceptance.verify(&invite)?;
//! let mut alice_session = Session::new_inviter(
//!     &alice, &one_time, &acceptance.invitee, &acceptance.ephemeral_key, &attestation.id(),
//! )?;
//! assert_eq!(alice_session.decrypt(acceptance.first_message(), now)?, b"hello Alice");
//!
//! // And she answers.
//! let reply = alice_session.encrypt(b"hi Bob", &mut rng)?;
//! assert_eq!(bob_session.decrypt(&reply, now)?, b"hi Bob");
//!
//! // Each side persists its state (secret!) after every call.
//! let stored = alice_session.to_bytes();
//! let restored = Session::from_bytes(&stored)?;
//! assert_eq!(restored.session_id(), bob_session.session_id());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aead;
mod chain_key;
mod envelope;
mod error;
mod header;
mod limits;
mod message_key;
mod ratchet;
mod root_key;
mod session;
mod skipped;
pub mod state;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod vectors;

pub use envelope::{
    ENVELOPE_OVERHEAD, Envelope, EnvelopeError, MAX_ENVELOPE_LEN, MAX_PLAINTEXT_LEN, SessionId,
};
pub use error::{ChannelError, SessionError};
pub use header::{Header, HeaderError};
pub use limits::{SkipLimitError, SkipLimits};
pub use ratchet::MAX_SKIP;
pub use session::{Role, Session};
pub use skipped::{MAX_SKIPPED_CHAINS, MAX_SKIPPED_KEYS, SKIPPED_KEY_TTL_MS};
pub use state::{MAX_STATE_LEN, STATE_VERSION, STATE_VERSION_1, StateError};

/// The HKDF and AD labels of the protocol, for reference and for other implementations.
pub mod labels {
    /// HKDF `info` of the set-up secret.
    pub const X3DH: &str = "accord/v1/channel/x3dh";
    /// HKDF `info` of the root step (`KDF_RK`).
    pub const ROOT: &str = "accord/v1/channel/root";
    /// The prefix of every message's associated data.
    pub const AD: &str = "accord/v1/channel/ad";
    /// Domain separation of the session id.
    pub const SESSION: &str = "accord/v1/channel/session";
}
