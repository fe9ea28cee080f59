use super::*;
use crate::test_rng::{TestRng, invite, parties};
use crate::{Acceptance, AttestationError};
use accord_identity::Identity;
use proptest::prelude::*;

fn attest(a: &Identity, b: &Identity, seed: u64) -> Attestation {
    let (inv, _) = invite(a, b, seed);
    let (acceptance, _) = Acceptance::create(b, &inv, Vec::new(), &mut TestRng::new(seed)).unwrap();
    acceptance.verify(&inv).unwrap()
}

#[test]
fn full_then_incremental() {
    let (owner, x, y) = parties(1);
    let ox = attest(&owner, &x, 1);
    let yo = attest(&y, &owner, 2);
    let updates = ListUpdate::full(owner.id(), &[ox.clone(), yo.clone()], 1);
    assert_eq!(updates.len(), 1);
    let mut copy = SharedList::default();
    for update in &updates {
        update.verify().unwrap();
        let back = ListUpdate::decode(&update.encode()).unwrap();
        assert_eq!(&back, update);
        copy.apply(&back).unwrap();
    }
    assert_eq!(copy.version, 1);
    assert_eq!(copy.entries.get(&ox.id()), Some(&x.id()));
    assert_eq!(copy.entries.get(&yo.id()), Some(&y.id()));

    // Owner disconnects from x: an incremental update removes just that entry.
    let removal = ListUpdate {
        owner: owner.id(),
        base: 1,
        version: 2,
        added: vec![],
        removed: vec![ox.id()],
    };
    removal.verify().unwrap();
    copy.apply(&removal).unwrap();
    assert!(!copy.entries.contains_key(&ox.id()));
    assert_eq!(copy.version, 2);

    // A stale or replayed update does not apply, and changes nothing.
    let before = copy.clone();
    assert_eq!(
        copy.apply(&removal),
        Err(ListError::WrongBase { base: 1, have: 2 })
    );
    assert_eq!(copy, before);
}

#[test]
fn large_lists_are_chunked_within_bounds() {
    let (owner, x, _) = parties(2);
    let one = attest(&owner, &x, 3);
    let entries = vec![one; MAX_UPDATE_CHANGES * 2 + 1];
    let updates = ListUpdate::full(owner.id(), &entries, 7);
    assert_eq!(updates.len(), 3);
    assert_eq!((updates[0].base, updates[0].version), (0, 7));
    assert_eq!((updates[2].base, updates[2].version), (8, 9));
    for update in &updates {
        assert!(update.encode().len() <= ListUpdate::MAX_LEN);
    }
    assert_eq!(ListUpdate::full(owner.id(), &[], 1).len(), 1);
}

#[test]
fn forged_and_foreign_entries_are_refused() {
    let (owner, x, y) = parties(3);
    // An attestation between two others is not the owner's to share.
    let foreign = ListUpdate {
        owner: owner.id(),
        base: 0,
        version: 1,
        added: vec![attest(&x, &y, 4)],
        removed: vec![],
    };
    assert_eq!(foreign.verify(), Err(ListError::NotOwners));
    // A claimed connection x never signed.
    let mut forged = attest(&owner, &x, 5);
    forged.invitee_signature = forged.inviter_signature;
    assert_eq!(forged.verify(), Err(AttestationError::BadInviteeSignature));
    let forged = ListUpdate {
        owner: owner.id(),
        base: 0,
        version: 1,
        added: vec![forged],
        removed: vec![],
    };
    assert_eq!(forged.verify(), Err(ListError::BadAttestation));
    let backwards = ListUpdate {
        owner: owner.id(),
        base: 3,
        version: 3,
        added: vec![],
        removed: vec![],
    };
    assert_eq!(backwards.verify(), Err(ListError::VersionNotForward));
    let flood = ListUpdate {
        owner: owner.id(),
        base: 0,
        version: 1,
        added: vec![],
        removed: vec![AttestationId([0; 32]); MAX_UPDATE_CHANGES + 1],
    };
    assert_eq!(flood.verify(), Err(ListError::TooManyChanges));
    assert!(ListUpdate::decode(&flood.encode()).is_err());
}

#[test]
fn a_list_never_grows_past_its_bound() {
    let (owner, _, _) = parties(4);
    let mut copy = SharedList::default();
    for n in 0..MAX_LIST_ENTRIES {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(n as u64).to_be_bytes());
        copy.entries.insert(AttestationId(id), owner.id());
    }
    copy.version = 1;
    let (_, x, _) = parties(5);
    let more = ListUpdate {
        owner: owner.id(),
        base: 1,
        version: 2,
        added: vec![attest(&owner, &x, 6)],
        removed: vec![],
    };
    assert_eq!(copy.apply(&more), Err(ListError::TooManyEntries));
    assert_eq!(copy.version, 1);
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
        if let Ok(update) = ListUpdate::decode(&bytes) {
            prop_assert_eq!(update.encode(), bytes);
        }
    }

    #[test]
    fn round_trip(seed in 0u64..8, base in 0u64..100, step in 1u64..100, removed in proptest::collection::vec(any::<[u8; 32]>(), 0..10)) {
        let (owner, x, _) = parties(seed);
        let update = ListUpdate {
            owner: owner.id(),
            base,
            version: base + step,
            added: vec![attest(&owner, &x, seed)],
            removed: removed.into_iter().map(AttestationId).collect(),
        };
        let bytes = update.encode();
        prop_assert_eq!(ListUpdate::decode(&bytes).unwrap(), update);
    }
}
