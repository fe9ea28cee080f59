//! Tests of the statement, the attestation and its text form.

use super::*;
use crate::test_rng::TestRng;
use accord_identity::Identity;
use proptest::prelude::*;

fn sample(seed: u64) -> (Attestation, Identity, Identity) {
    let mut rng = TestRng::new(seed);
    let a = Identity::generate(&mut rng);
    let b = Identity::generate(&mut rng);
    let statement = Statement {
        inviter: a.id(),
        invitee: b.id(),
        invite_id: [7; 16],
        issued_at_ms: 1_700_000_000_000,
        terms: Some(OfferTerms {
            expires_at_ms: 1_700_000_000_000 + 14 * crate::DAY_MS,
            one_time_key: [3; 32],
        }),
    };
    let bytes = statement.to_bytes();
    let attestation = Attestation {
        statement,
        inviter_signature: a.sign(domain::ATTEST, &bytes),
        invitee_signature: b.sign(domain::ATTEST, &bytes),
    };
    (attestation, a, b)
}

#[test]
fn encode_decode_verify() {
    let (att, _, _) = sample(1);
    let bytes = att.encode();
    assert_eq!(bytes.len(), Attestation::MAX_LEN);
    let back = Attestation::decode(&bytes).unwrap();
    assert_eq!(back, att);
    back.verify().unwrap();
    assert_eq!(back.id(), att.id());
}

#[test]
fn a_legacy_attestation_still_decodes_and_verifies() {
    let (att, a, b) = sample(8);
    let mut statement = att.statement;
    statement.terms = None;
    let bytes = statement.to_bytes();
    assert_eq!(bytes.len(), Statement::LEN_LEGACY);
    let legacy = Attestation {
        statement,
        inviter_signature: a.sign(domain::ATTEST, &bytes),
        invitee_signature: b.sign(domain::ATTEST, &bytes),
    };
    let encoded = legacy.encode();
    assert_eq!(encoded.len(), Attestation::LEN_LEGACY);
    assert_eq!(encoded[0], Attestation::VERSION_LEGACY);
    let back = Attestation::decode(&encoded).unwrap();
    assert_eq!(back, legacy);
    back.verify().unwrap();
    assert_eq!(
        Attestation::from_text(&legacy.to_text()),
        Ok(legacy.clone())
    );
    // The two versions never share an id, so a legacy signature says nothing of v2 terms.
    assert_ne!(legacy.id(), att.id());
    // An attestation whose version byte is not its statement's is refused.
    let mut mixed = att.encode();
    mixed[0] = Attestation::VERSION_LEGACY;
    assert!(Attestation::decode(&mixed).is_err());
}

#[test]
fn the_offer_terms_are_signed() {
    let (att, _, _) = sample(9);
    assert_eq!(att.encode().len(), Attestation::MAX_LEN);
    let terms = att.statement.terms.unwrap();
    let mut later = att.clone();
    later.statement.terms = Some(OfferTerms {
        expires_at_ms: terms.expires_at_ms + 1,
        ..terms
    });
    assert_eq!(later.verify(), Err(AttestationError::BadInviterSignature));
    let mut other_key = att.clone();
    other_key.statement.terms = Some(OfferTerms {
        one_time_key: [4; 32],
        ..terms
    });
    assert_eq!(
        other_key.verify(),
        Err(AttestationError::BadInviterSignature)
    );
    let mut stripped = att;
    stripped.statement.terms = None;
    assert_eq!(
        stripped.verify(),
        Err(AttestationError::BadInviterSignature)
    );
}

#[test]
fn signatures_must_match_their_signer() {
    let (att, a, _) = sample(2);
    let swapped = Attestation {
        inviter_signature: att.invitee_signature,
        invitee_signature: att.inviter_signature,
        ..att.clone()
    };
    assert_eq!(swapped.verify(), Err(AttestationError::BadInviterSignature));
    let one_sided = Attestation {
        invitee_signature: a.sign(domain::ATTEST, &att.statement.to_bytes()),
        ..att.clone()
    };
    assert_eq!(
        one_sided.verify(),
        Err(AttestationError::BadInviteeSignature)
    );
    let mut later = att.clone();
    later.statement.issued_at_ms += 1;
    assert!(later.verify().is_err());
}

#[test]
fn self_attestation_refused() {
    let (mut att, a, _) = sample(3);
    att.statement.invitee = a.id();
    let bytes = att.statement.to_bytes();
    att.inviter_signature = a.sign(domain::ATTEST, &bytes);
    att.invitee_signature = att.inviter_signature;
    assert_eq!(att.verify(), Err(AttestationError::SelfAttestation));
}

#[test]
fn id_display_and_parse() {
    let (att, _, _) = sample(4);
    let id = att.id();
    let s = id.to_string();
    assert_eq!(s.len(), 64);
    assert_eq!(s, s.to_lowercase());
    assert_eq!(s.parse::<AttestationId>(), Ok(id));
    assert_eq!(s.to_uppercase().parse::<AttestationId>(), Ok(id));
    assert_eq!(
        "ab".parse::<AttestationId>(),
        Err(AttestationIdError::WrongLength(2))
    );
    let bad = format!("g{}", &s[1..]);
    assert_eq!(
        bad.parse::<AttestationId>(),
        Err(AttestationIdError::InvalidHex)
    );
    let multibyte = format!("é{}", &s[2..]);
    assert!(multibyte.parse::<AttestationId>().is_err());
}

#[test]
fn text_round_trip_and_tolerance() {
    let (att, _, _) = sample(5);
    let text = att.to_text();
    assert!(text.starts_with("-----BEGIN ACCORD ATTESTATION-----\n"));
    assert!(text.ends_with("\n-----END ACCORD ATTESTATION-----\n"));
    assert!(
        text.lines()
            .all(|l| l.len() <= 64 || l.starts_with("-----"))
    );
    assert_eq!(Attestation::from_text(&text), Ok(att.clone()));
    let crlf = format!(
        "Here it is:\r\n\r\n  {}  \r\n\n",
        text.replace('\n', "\r\n")
    );
    assert_eq!(Attestation::from_text(&crlf), Ok(att.clone()));
    // Hex is accepted in either case (the markers are upper case anyway).
    assert_eq!(Attestation::from_text(&text.to_uppercase()), Ok(att));
}

#[test]
fn text_refusals() {
    let (att, _, _) = sample(6);
    let text = att.to_text();
    assert_eq!(Attestation::from_text(""), Err(TextError::MissingBegin));
    assert_eq!(
        Attestation::from_text(TEXT_BEGIN),
        Err(TextError::MissingEnd)
    );
    let trailing = format!("{text}PS: hi");
    assert_eq!(
        Attestation::from_text(&trailing),
        Err(TextError::TrailingText)
    );
    let junk = text.replacen('\n', "\nzz", 2);
    assert_eq!(Attestation::from_text(&junk), Err(TextError::InvalidHex));
    let short = text.replacen("\n", "\n00", 2);
    assert!(matches!(
        Attestation::from_text(&short),
        Err(TextError::Decode(_))
    ));
    let empty = format!("{TEXT_BEGIN}\n{TEXT_END}\n");
    assert_eq!(
        Attestation::from_text(&empty),
        Err(TextError::Decode(DecodeError::Truncated))
    );
}

#[test]
fn every_hex_character_matters() {
    let (att, _, _) = sample(7);
    let text = att.to_text();
    let body_start = TEXT_BEGIN.len() + 1;
    let body_end = text.len() - TEXT_END.len() - 2;
    for i in body_start..=body_end {
        let c = text.as_bytes()[i];
        if c == b'\n' {
            continue;
        }
        for replacement in [b'0', b'7', b'f'] {
            if replacement == c {
                continue;
            }
            let mut changed = text.clone().into_bytes();
            changed[i] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            let ok = Attestation::from_text(&changed).is_ok_and(|a| a.verify().is_ok());
            assert!(
                !ok,
                "changing byte {i} to {} went unnoticed",
                char::from(replacement)
            );
        }
    }
}

proptest! {
    #[test]
    fn from_text_never_panics(text in ".{0,600}") {
        let _ = Attestation::from_text(&text);
        let wrapped = format!("{TEXT_BEGIN}\n{text}\n{TEXT_END}");
        let _ = Attestation::from_text(&wrapped);
    }

    #[test]
    fn from_text_hex_bodies_never_panic(body in "[0-9a-f\r\n ]{0,600}") {
        let wrapped = format!("{TEXT_BEGIN}\n{body}\n{TEXT_END}");
        let _ = Attestation::from_text(&wrapped);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(statement) = Statement::decode(&bytes) {
            prop_assert_eq!(statement.to_bytes(), bytes.clone());
        }
        if let Ok(att) = Attestation::decode(&bytes) {
            prop_assert_eq!(att.encode(), bytes);
        }
    }

    #[test]
    fn round_trip_any_fields(seed in any::<u64>(), id in any::<[u8; 16]>(), at in any::<u64>(),
                             s1 in any::<[u8; 64]>(), s2 in any::<[u8; 64]>()) {
        let (mut att, _, _) = sample(seed);
        att.statement.invite_id = id;
        att.statement.issued_at_ms = at;
        att.inviter_signature = Signature::from_bytes(&s1);
        att.invitee_signature = Signature::from_bytes(&s2);
        prop_assert_eq!(Attestation::decode(&att.encode()), Ok(att.clone()));
        prop_assert_eq!(Attestation::from_text(&att.to_text()), Ok(att));
    }
}
