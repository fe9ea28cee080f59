//! `channel`: accord-channel against vodozemac's Olm, both in this process, interleaved.
//!
//! - one-way: the same sender encrypts and the receiver decrypts many messages in a row (a
//!   symmetric-key ratchet step per message, no DH);
//! - ping-pong: directions alternate, so every message starts a new sending chain (a DH ratchet
//!   step per message, on both sides);
//! - set-up: our full handshake from real accord-handshake objects against vodozemac's outbound
//!   plus inbound session creation with the first (pre-key) message.
//!
//! Both sides pay for turning a message into bytes and back: ours produces and parses envelope
//! bytes; for Olm we serialise with `OlmMessage::to_parts` and parse with `from_parts`, as a
//! transport would.

use accord_channel::Session as OurSession;
use accord_handshake::{Acceptance, GossipFrame, Invite, Note, Payload, open_payload};
use accord_identity::Identity;
use anyhow::{Context, Result, bail};
use getrandom::SysRng;
use rand_core::UnwrapErr;
use vodozemac::olm::{Account, OlmMessage, Session as OlmSession, SessionConfig};

use crate::measure::{Better, Ops, Plan, Row, rate_pair, report};

/// The invite's creation time (Unix ms); sessions decrypt at this time too.
const NOW: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 86_400_000;

type Rng = UnwrapErr<SysRng>;

/// Two connected accord-channel sessions, the inviter able to send (it has read the first
/// message).
struct OurPair {
    inviter: OurSession,
    invitee: OurSession,
}

/// The parts of our handshake both parties keep between runs of the set-up benchmark.
struct Parties {
    alice: Identity,
    bob: Identity,
}

impl Parties {
    fn new(rng: &mut Rng) -> Self {
        Parties {
            alice: Identity::generate(rng),
            bob: Identity::generate(rng),
        }
    }

    /// The whole handshake as two nodes run it: Alice invites Bob (signed, sealed to Bob),
    /// Bob opens and verifies it, accepts and puts his first channel message in the acceptance,
    /// Alice opens and verifies the acceptance (both signatures), builds her session and reads
    /// the first message.
    fn handshake(&self, rng: &mut Rng) -> Result<OurPair> {
        let (alice, bob) = (&self.alice, &self.bob);
        let note = Note::new("Hi Bob", 300).context("note")?;
        let (invite, one_time) = Invite::create(alice, bob.id(), note, NOW, 14 * DAY_MS, rng)
            .context("Invite::create")?;
        // Sealed without minting a proof-of-work stamp: Olm has no such cost, and the `stamp`
        // suite measures it on its own.
        let frame = GossipFrame::seal(&bob.id(), &Payload::Invite(invite.clone()), NOW, rng)
            .context("seal invite")?
            .encode();

        let Payload::Invite(received) =
            open_payload(bob, &frame, NOW + 1).context("open invite")?
        else {
            bail!("the sealed invite opened as something else");
        };
        received
            .verify(&bob.id(), NOW + 1, 60_000)
            .context("Invite::verify")?;
        let (mut acceptance, ephemeral) =
            Acceptance::create(bob, &received, Vec::new(), rng).context("Acceptance::create")?;
        let attestation_id = received.statement().id();
        let mut invitee = OurSession::new_invitee(
            bob,
            &ephemeral,
            &received.inviter,
            &received.one_time_key,
            &attestation_id,
            rng,
        )
        .context("Session::new_invitee")?;
        drop(ephemeral);
        let first = invitee
            .encrypt(b"Hello Alice!", rng)
            .context("first message")?;
        acceptance
            .set_first_message(first)
            .context("set_first_message")?;
        let frame = GossipFrame::seal(&alice.id(), &Payload::Acceptance(acceptance), NOW + 1, rng)
            .context("seal acceptance")?
            .encode();

        let Payload::Acceptance(acceptance) =
            open_payload(alice, &frame, NOW + 2).context("open acceptance")?
        else {
            bail!("the sealed acceptance opened as something else");
        };
        let attestation = acceptance.verify(&invite).context("Acceptance::verify")?;
        let mut inviter = OurSession::new_inviter(
            alice,
            &one_time,
            &acceptance.invitee,
            &acceptance.ephemeral_key,
            &attestation.id(),
        )
        .context("Session::new_inviter")?;
        drop(one_time);
        let plaintext = inviter
            .decrypt(acceptance.first_message(), NOW + 2)
            .context("decrypt first message")?;
        if plaintext != b"Hello Alice!" {
            bail!("first message garbled");
        }
        Ok(OurPair { inviter, invitee })
    }
}

/// Two Olm accounts; Bob publishes one-time keys.
struct OlmParties {
    alice: Account,
    bob: Account,
}

/// Two connected Olm sessions, past the pre-key stage in both directions.
struct OlmPair {
    alice: OlmSession,
    bob: OlmSession,
}

impl OlmParties {
    fn new() -> Self {
        OlmParties {
            alice: Account::new(),
            bob: Account::new(),
        }
    }

    /// Alice claims one of Bob's one-time keys (generated here, as a server would have handed
    /// out a fresh one), creates her outbound session and encrypts the first (pre-key) message;
    /// Bob creates his inbound session from it.
    fn handshake(&mut self) -> Result<OlmPair> {
        let generated = self.bob.generate_one_time_keys(1);
        let otk = *generated
            .created
            .first()
            .context("vodozemac created no one-time key")?;
        self.bob.mark_keys_as_published();
        let mut alice = self
            .alice
            .create_outbound_session(SessionConfig::version_1(), self.bob.curve25519_key(), otk)
            .context("create_outbound_session")?;
        let first = alice.encrypt(b"Hello Bob!").context("olm first message")?;
        let (kind, bytes) = first.to_parts();
        let OlmMessage::PreKey(pre_key) =
            OlmMessage::from_parts(kind, &bytes).context("parse pre-key message")?
        else {
            bail!("the first Olm message is not a pre-key message");
        };
        let inbound = self
            .bob
            .create_inbound_session(
                SessionConfig::version_1(),
                self.alice.curve25519_key(),
                &pre_key,
            )
            .context("create_inbound_session")?;
        if inbound.plaintext != b"Hello Bob!" {
            bail!("olm first message garbled");
        }
        Ok(OlmPair {
            alice,
            bob: inbound.session,
        })
    }
}

/// Encrypts on `from`, serialises, parses and decrypts on `to`.
fn olm_send(from: &mut OlmSession, to: &mut OlmSession, plaintext: &[u8]) -> Result<()> {
    let message = from.encrypt(plaintext).context("olm encrypt")?;
    let (kind, bytes) = message.to_parts();
    let parsed = OlmMessage::from_parts(kind, &bytes).context("olm parse")?;
    let out = to.decrypt(&parsed).context("olm decrypt")?;
    if out.len() != plaintext.len() {
        bail!("olm round trip changed the length");
    }
    Ok(())
}

fn our_send(
    from: &mut OurSession,
    to: &mut OurSession,
    plaintext: &[u8],
    rng: &mut Rng,
) -> Result<()> {
    let envelope = from.encrypt(plaintext, rng).context("encrypt")?;
    let out = to.decrypt(&envelope, NOW + 3).context("decrypt")?;
    if out.len() != plaintext.len() {
        bail!("round trip changed the length");
    }
    Ok(())
}

/// Runs the suite and prints its table and RESULT lines.
pub(crate) fn run(quick: bool) -> Result<()> {
    let plan = Plan::new(quick);
    let mut rng = UnwrapErr(SysRng);
    let parties = Parties::new(&mut rng);
    let mut olm_parties = OlmParties::new();

    println!(
        "== channel: accord-channel vs vodozemac {} (Olm v1), {} runs of ~{} ms each, median",
        vodozemac_version(),
        plan.runs,
        plan.batch.as_millis()
    );
    let mut rows = Vec::new();

    for (size, label) in [(64usize, "64"), (1024, "1k")] {
        let plaintext = vec![0x5au8; size];

        // One-way: the inviter sends, the invitee receives.
        let mut ours = parties.handshake(&mut rng)?;
        let mut olm = olm_parties.handshake()?;
        // Bring Olm past the pre-key stage: Bob answers once, so Alice sends normal messages.
        olm_send(&mut olm.bob, &mut olm.alice, b"ack")?;
        let (o, b) = {
            let rng_cell = &mut rng;
            let mut ours_ops: Ops<'_> = Box::new(|n| {
                for _ in 0..n {
                    our_send(&mut ours.inviter, &mut ours.invitee, &plaintext, rng_cell)?;
                }
                Ok(())
            });
            let mut olm_ops: Ops<'_> = Box::new(|n| {
                for _ in 0..n {
                    olm_send(&mut olm.alice, &mut olm.bob, &plaintext)?;
                }
                Ok(())
            });
            rate_pair(&plan, &mut ours_ops, &mut olm_ops)?
        };
        rows.push(Row::key(
            &format!("oneway_{label}"),
            &format!("one-way {size} B, encrypt+decrypt"),
            o,
            b,
            "msg/s",
            Better::Higher,
        ));

        // Ping-pong: alternate directions, a DH ratchet step per message.
        let mut ours = parties.handshake(&mut rng)?;
        let mut olm = olm_parties.handshake()?;
        olm_send(&mut olm.bob, &mut olm.alice, b"ack")?;
        let (o, b) = {
            let rng_cell = &mut rng;
            // The direction flips after every message, across calls too.
            let mut our_turn = false;
            let mut ours_ops: Ops<'_> = Box::new(|n| {
                for _ in 0..n {
                    if our_turn {
                        our_send(&mut ours.invitee, &mut ours.inviter, &plaintext, rng_cell)?;
                    } else {
                        our_send(&mut ours.inviter, &mut ours.invitee, &plaintext, rng_cell)?;
                    }
                    our_turn = !our_turn;
                }
                Ok(())
            });
            let mut olm_turn = false;
            let mut olm_ops: Ops<'_> = Box::new(|n| {
                for _ in 0..n {
                    if olm_turn {
                        olm_send(&mut olm.bob, &mut olm.alice, &plaintext)?;
                    } else {
                        olm_send(&mut olm.alice, &mut olm.bob, &plaintext)?;
                    }
                    olm_turn = !olm_turn;
                }
                Ok(())
            });
            rate_pair(&plan, &mut ours_ops, &mut olm_ops)?
        };
        rows.push(Row::key(
            &format!("pingpong_{label}"),
            &format!("ping-pong {size} B (DH step per msg)"),
            o,
            b,
            "msg/s",
            Better::Higher,
        ));
    }

    // Session set-up.
    let (o, b) = {
        let rng_cell = &mut rng;
        let parties = &parties;
        let mut ours_ops: Ops<'_> = Box::new(|n| {
            for _ in 0..n {
                parties.handshake(rng_cell)?;
            }
            Ok(())
        });
        let olm_parties = &mut olm_parties;
        let mut olm_ops: Ops<'_> = Box::new(|n| {
            for _ in 0..n {
                olm_parties.handshake()?;
            }
            Ok(())
        });
        rate_pair(&plan, &mut ours_ops, &mut olm_ops)?
    };
    rows.push(Row::key(
        "setup",
        "session set-up incl. first message",
        o,
        b,
        "sessions/s",
        Better::Higher,
    ));

    report("channel", "accord", "vodozemac", &rows);
    println!(
        "(setup: ours = invite create+seal+open+verify, acceptance create+seal+open+verify (both \
         signatures), both sessions, first message; vodozemac = one-time key generation, \
         outbound + inbound session, first pre-key message. Olm signs nothing here: in Matrix \
         the one-time key's signature is checked by the claimer, outside vodozemac.)"
    );
    Ok(())
}

fn vodozemac_version() -> &'static str {
    // Kept in step with the workspace's pin by hand; only shown in the table header.
    "0.11"
}
