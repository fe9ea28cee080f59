//! Accord's connect handshake, sans-IO.
//!
//! To connect, one identity (the inviter) sends another (the invitee) an [`Invite`]; the
//! invitee answers with an [`Acceptance`]; together they make an [`Attestation`]: one
//! canonical [`Statement`] signed by both, which anyone can check offline and which
//! authorises messaging. The inviter answers the acceptance with a [`Settlement`] (confirmed,
//! or refused because the invite was withdrawn or expired first), so that both sides agree on
//! being connected. The inviter can take a pending invite back with a [`Withdrawal`];
//! either party can end the connection with a [`Revocation`].
//!
//! This crate holds the handshake's types, wire formats, checks and rules:
//!
//! - the messages, each with `encode`/`decode` (version byte first, trailing bytes, unknown
//!   versions and oversize input refused; see [`codec`]) and `create`/`verify`;
//! - [`seal`]: anonymous, padded public-key encryption to an Accord ID, and the
//!   [`GossipFrame`] around it, with [`seal_payload`]/[`open_payload`] for the gossip inbox;
//! - [`stamp`]: the proof-of-work stamp every gossip frame carries, minted by the sender and
//!   checked by every relay before forwarding;
//! - the lifecycle: [`InviteState`], [`ConnectionState`], the crossed-invite rule
//!   ([`crossed_resolution`]);
//! - the limits: [`QuotaPolicy`] (weekly quota, outstanding invites), the re-invite
//!   cool-down ([`check_cooldown`]) and the bound on incoming invites ([`IncomingPolicy`]).
//!
//! Signatures are always over a domain label ([`domain`]) and the exact encoded bytes. The
//! crate does no I/O and reads no clock: times are `u64` Unix milliseconds passed in, and
//! randomness comes from the caller's RNG. `PROTOCOL.md` beside this crate is the wire
//! specification.
//!
//! # Example
//!
//! ```
//! use accord_handshake::{Acceptance, Invite, Note, Payload, open_payload, seal_payload};
//! use accord_identity::Identity;
//! use getrandom::SysRng;
//! use rand_core::UnwrapErr;
//!
//! const DAY_MS: u64 = 86_400_000;
//! let mut rng = UnwrapErr(SysRng);
//! let alice = Identity::generate(&mut rng);
//! let bob = Identity::generate(&mut rng);
//! let now = 1_700_000_000_000;
//!
//! // Alice invites Bob; she keeps the one-time secret for the channel.
//! let note = Note::new("Hi Bob, it's Alice from the climbing club", 300)?;
//! let (invite, _one_time_secret) = Invite::create(&alice, bob.id(), note, now, 14 * DAY_MS, &mut rng)?;
//! let frame = seal_payload(&bob.id(), &Payload::Invite(invite.clone()), now, &mut rng)?;
//!
//! // Bob's node trial-decrypts the frame, checks the invite, and Bob accepts.
//! // Relays (and Bob's node, first) check the frame's minting epoch and proof-of-work stamp.
//! accord_handshake::GossipFrame::check(&frame, now + 1000, accord_handshake::DEFAULT_STAMP_BITS)?;
//! let Payload::Invite(received) = open_payload(&bob, &frame, now + 1000)? else { unreachable!() };
//! received.verify(&bob.id(), now + 1000, 5 * 60 * 1000)?;
//! assert_eq!(received.note.as_str(), "Hi Bob, it's Alice from the climbing club");
//! let (acceptance, _ephemeral_secret) = Acceptance::create(&bob, &received, Vec::new(), &mut rng)?;
//! let frame = seal_payload(&alice.id(), &Payload::Acceptance(acceptance), now + 1000, &mut rng)?;
//!
//! // Alice's node opens the acceptance and gets the complete attestation.
//! let Payload::Acceptance(acceptance) = open_payload(&alice, &frame, now + 2000)? else { unreachable!() };
//! let attestation = acceptance.verify(&invite)?;
//!
//! // Anyone can check it offline, e.g. from its text form.
//! let text = attestation.to_text();
//! let parsed = accord_handshake::Attestation::from_text(&text)?;
//! parsed.verify()?;
//! assert_eq!(parsed.statement.inviter, alice.id());
//! assert_eq!(parsed.statement.invitee, bob.id());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod acceptance;
mod attestation;
pub mod codec;
mod connection_list;
mod introduction;
mod invite;
mod lifecycle;
mod note;
mod payload;
mod people;
pub mod profile;
mod quota;
mod revocation;
pub mod seal;
mod secret;
mod settlement;
pub mod stamp;
#[cfg(test)]
mod test_rng;
mod withdrawal;

pub use acceptance::{Acceptance, AcceptanceError};
pub use attestation::{
    Attestation, AttestationError, AttestationId, AttestationIdError, OfferTerms, Statement,
    TEXT_BEGIN, TEXT_END, TextError,
};
pub use codec::DecodeError;
pub use connection_list::{
    ListError, ListUpdate, MAX_LIST_ENTRIES, MAX_UPDATE_CHANGES, SharedList,
};
pub use introduction::{Introduction, IntroductionError, IntroductionNotice};
pub use invite::{Invite, InviteError, Presentation};
pub use lifecycle::{
    ConnectionEvent, ConnectionState, Crossed, InviteEvent, InviteState, ParseStateError,
    TransitionError, crossed_resolution,
};
pub use note::{Note, NoteError, is_directional_formatting};
pub use payload::{
    FRAME_LIFETIME_HOURS, FrameError, GossipFrame, HOUR_MS, MINT_JITTER_HOURS, OpenError, Payload,
    SealFrameError, mint_hour, open_payload, seal_payload,
};
pub use people::{Degree, KnownNetwork, Standing};
pub use profile::{AvatarError, Profile, ProfileCard, ProfileError, ProfileTextError};
pub use quota::{
    Admission, COUNTED_LIFETIME_MS, IncomingInvite, IncomingPolicy, MAX_MARK_LEAD_MS, MarkReading,
    QuotaError, QuotaPolicy, TimeEvidence, check_cooldown, cooldown_ends_at, effective_now,
    eviction_deadline,
};
pub use revocation::{Revocation, RevocationError};
pub use seal::SealError;
pub use secret::{EphemeralSecret, OneTimeSecret};
pub use settlement::{Outcome, Settlement, SettlementError};
pub use stamp::{DEFAULT_STAMP_BITS, MAX_STAMP_BITS, StampError};
pub use withdrawal::{Withdrawal, WithdrawalError};

/// One day in milliseconds.
pub const DAY_MS: u64 = 86_400_000;
/// The longest an invite (and so any handshake frame) may live: 90 days.
pub const MAX_LIFETIME_MS: u64 = 90 * DAY_MS;
/// The shortest an invite may live: 1 day. Every stored invite costs a record until it is
/// compacted, and an invite that expires within seconds would let each stamp buy a record
/// the bound on pending invites never holds (it is gone before anything evicts it); a day is
/// long enough for compaction to keep pace and short enough for any honest use.
pub const MIN_LIFETIME_MS: u64 = DAY_MS;
/// The default invite lifetime: 14 days.
pub const DEFAULT_INVITE_TTL_MS: u64 = 14 * DAY_MS;
/// How far ahead of ours another node's clock may be: 10 minutes. Relays allow this much
/// beyond [`MAX_LIFETIME_MS`] in a frame's stamp; nodes pass it to [`Invite::verify`].
pub const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// The signature domains: every signature is over one of these labels and the exact bytes.
pub mod domain {
    use accord_identity::SignatureDomain;

    /// Both parties' signatures over the attestation [`crate::Statement`].
    pub const ATTEST: SignatureDomain = SignatureDomain::new("accord/v1/attest");
    /// The inviter's signature over an [`crate::Invite`].
    pub const INVITE: SignatureDomain = SignatureDomain::new("accord/v1/invite");
    /// The invitee's signature binding its ephemeral key to an invite.
    pub const ACCEPT: SignatureDomain = SignatureDomain::new("accord/v1/accept");
    /// The inviter's signature over a [`crate::Withdrawal`].
    pub const WITHDRAW: SignatureDomain = SignatureDomain::new("accord/v1/withdraw");
    /// A party's signature over a [`crate::Revocation`].
    pub const REVOKE: SignatureDomain = SignatureDomain::new("accord/v1/revoke");
    /// The inviter's signature over a [`crate::Settlement`] of an acceptance.
    pub const SETTLE: SignatureDomain = SignatureDomain::new("accord/v1/settle");
    /// An identity's signature over its [`crate::ProfileCard`].
    pub const PROFILE: SignatureDomain = SignatureDomain::new("accord/v1/profile");
    /// An introducer's signature over an [`crate::Introduction`].
    pub const INTRODUCE: SignatureDomain = SignatureDomain::new("accord/v1/introduce");
}
