//! The fixed world the checks run in: two identities, a complete handshake between them and
//! a live channel, all built deterministically so that the committed seed corpus (written by
//! `examples/write_seeds.rs`) keeps matching it.

use std::fmt::Debug;
use std::sync::LazyLock;

use accord_channel::Session;
use accord_handshake::{Acceptance, Attestation, DAY_MS, Invite, Note, Revocation, Withdrawal};
use accord_identity::Identity;
use accord_node::wire::Content;
use zeroize::Zeroizing;

use accord_identity::test_rng::TestRng;

/// "Now" for every check that reads a clock (Unix ms): fixed, so a run is reproducible.
pub const NOW_MS: u64 = 1_700_000_000_000;

/// The proof-of-work difficulty the checks require of gossip frames, and the seeds are minted
/// with: low, so that seeds are made in microseconds and valid frames are reachable by
/// mutation; the check of the work itself does not depend on the difficulty.
pub const WORK_BITS: u32 = 8;

/// The associated data the `sealed_box` target seals and opens with.
pub const SEAL_AD: &[u8] = b"accord/fuzz/sealed-box";

/// The passphrase of the encrypted key file in the seed corpus, which the `key_file` target
/// also tries (with cheap Argon2 parameters only), so the fuzzer reaches the decryption path.
pub const KEY_FILE_PASSPHRASE: &str = "accord fuzz passphrase";

/// The seed of [`World`]'s RNG.
const WORLD_SEED: u64 = 6;

/// Everything the checks need to open, verify and decrypt what they are given.
pub struct World {
    /// The inviter.
    pub alice: Identity,
    /// The invitee, and the recipient every gossip frame and sealed box is opened as.
    pub bob: Identity,
    /// Alice's invite to Bob, valid at [`NOW_MS`].
    pub invite: Invite,
    /// Bob's acceptance of it, carrying his first channel message.
    pub acceptance: Acceptance,
    /// The attestation of their connection.
    pub attestation: Attestation,
    /// Alice withdrawing the invite (valid for [`World::invite`]).
    pub withdrawal: Withdrawal,
    /// Bob revoking the connection (valid for [`World::attestation`]).
    pub revocation: Revocation,
    /// Alice's session state right after she read Bob's first message: the fixed session
    /// envelopes are decrypted with (from a fresh copy every time).
    pub alice_state: Zeroizing<Vec<u8>>,
    /// Bob's session state after he sent [`World::envelopes`].
    pub bob_state: Zeroizing<Vec<u8>>,
    /// Alice's state after reading the last of [`World::envelopes`] first: it keeps skipped
    /// message keys.
    pub alice_skipped_state: Zeroizing<Vec<u8>>,
    /// Three messages from Bob that Alice's fixed session has not read yet, in order.
    pub envelopes: Vec<Vec<u8>>,
    /// A message from Alice to Bob (which her own session cannot decrypt).
    pub reply: Vec<u8>,
}

impl World {
    /// A fresh copy of Alice's fixed session.
    pub fn alice_session(&self) -> Session {
        built(Session::from_bytes(&self.alice_state), "Alice's session")
    }
}

/// The world, built once per process.
pub fn world() -> &'static World {
    static WORLD: LazyLock<World> = LazyLock::new(build);
    &WORLD
}

/// The fixtures are built from fixed inputs by the crates' own constructors, so a failure is a
/// bug in this crate (or a changed API) and must stop everything at once.
fn built<T, E: Debug>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|err| panic!("cannot build the fixture {what}: {err:?}"))
}

fn build() -> World {
    let mut rng = TestRng::new(WORLD_SEED);
    let alice = Identity::generate(&mut rng);
    let bob = Identity::generate(&mut rng);
    let handshake = handshake(&alice, &bob, &mut rng);
    let conversation = conversation(&handshake.alice_state, handshake.bob_session, &mut rng);
    let withdrawal = Withdrawal::create(&alice, bob.id(), handshake.invite.invite_id, NOW_MS);
    let revocation = built(
        Revocation::create(&bob, &handshake.attestation, NOW_MS),
        "revocation",
    );
    World {
        alice,
        bob,
        invite: handshake.invite,
        acceptance: handshake.acceptance,
        attestation: handshake.attestation,
        withdrawal,
        revocation,
        alice_state: handshake.alice_state,
        bob_state: conversation.bob_state,
        alice_skipped_state: conversation.alice_skipped_state,
        envelopes: conversation.envelopes,
        reply: conversation.reply,
    }
}

/// What the handshake leaves behind.
struct Handshake {
    invite: Invite,
    acceptance: Acceptance,
    attestation: Attestation,
    /// Alice's state once she has read Bob's first message.
    alice_state: Zeroizing<Vec<u8>>,
    bob_session: Session,
}

/// Alice invites Bob, Bob accepts with his first channel message, Alice reads it.
fn handshake(alice: &Identity, bob: &Identity, rng: &mut TestRng) -> Handshake {
    let note = built(
        Note::new("Hi Bob, it's Alice from the fuzz lab", 300),
        "note",
    );
    let (invite, one_time) = built(
        Invite::create(alice, bob.id(), note, NOW_MS - DAY_MS, 14 * DAY_MS, rng),
        "invite",
    );
    let (mut acceptance, ephemeral) = built(
        Acceptance::create(bob, &invite, Vec::new(), rng),
        "acceptance",
    );
    let attestation_id = invite.statement().id();
    let mut bob_session = built(
        Session::new_invitee(
            bob,
            &ephemeral,
            &invite.inviter,
            &invite.one_time_key,
            &attestation_id,
            rng,
        ),
        "Bob's session",
    );
    let first = built(
        bob_session.encrypt(&Content::Hello.encode(), rng),
        "first message",
    );
    built(acceptance.set_first_message(first), "first message");
    let attestation = built(acceptance.verify(&invite), "attestation");
    let mut alice_session = built(
        Session::new_inviter(
            alice,
            &one_time,
            &acceptance.invitee,
            &acceptance.ephemeral_key,
            &attestation.id(),
        ),
        "Alice's session",
    );
    built(
        alice_session.decrypt(acceptance.first_message(), NOW_MS),
        "the first message",
    );
    Handshake {
        invite,
        acceptance,
        attestation,
        alice_state: alice_session.to_bytes(),
        bob_session,
    }
}

/// What the conversation after the handshake leaves behind.
struct Conversation {
    envelopes: Vec<Vec<u8>>,
    bob_state: Zeroizing<Vec<u8>>,
    alice_skipped_state: Zeroizing<Vec<u8>>,
    reply: Vec<u8>,
}

/// Bob sends three messages; a copy of Alice's session reads the last one first (keeping
/// skipped keys) and answers.
fn conversation(alice_state: &[u8], mut bob_session: Session, rng: &mut TestRng) -> Conversation {
    let envelopes: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            let content = Content::Text {
                message_id: [i; 16],
                sent_at_ms: NOW_MS + u64::from(i),
                sender_seq: u64::from(i) + 1,
                reply_to: i.checked_sub(1).map(|previous| [previous; 16]),
                body: format!("message {i} from Bob"),
            };
            built(bob_session.encrypt(&content.encode(), rng), "envelope")
        })
        .collect();
    let mut skipping = built(Session::from_bytes(alice_state), "Alice's session");
    let last = envelopes.last().map(Vec::as_slice).unwrap_or_default();
    built(skipping.decrypt(last, NOW_MS), "the last envelope");
    let alice_skipped_state = skipping.to_bytes();
    let read = Content::Read { ids: vec![[2; 16]] };
    let reply = built(skipping.encrypt(&read.encode(), rng), "reply");
    Conversation {
        bob_state: bob_session.to_bytes(),
        alice_skipped_state,
        envelopes,
        reply,
    }
}
