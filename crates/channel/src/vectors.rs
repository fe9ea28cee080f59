//! Known-answer vectors for the key schedule, computed independently (Python's `hashlib`,
//! `hmac` and pyca/cryptography's X25519) from the definitions in PROTOCOL.md, so a change to
//! any label or construction shows up here. PROTOCOL.md lists the same vectors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.

use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::envelope::SessionId;
use crate::message_key::{MESSAGE_INFO, MessageKey};
use crate::root_key::{X3dhInputs, hkdf_sha256, x3dh};
use crate::test_support::hex;

fn attestation_id() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

#[test]
fn key_schedule_vectors() {
    // Set-up: attestation id 00 01 … 1f; DH1 = 11…, DH2 = 22…, DH3 = 33….
    let inputs = X3dhInputs([
        Zeroizing::new([0x11; 32]),
        Zeroizing::new([0x22; 32]),
        Zeroizing::new([0x33; 32]),
    ]);
    let root = x3dh(&attestation_id(), &inputs);
    assert_eq!(
        hex(root.as_bytes()),
        "9cbb96c21eee9ea1854b9518763ea29160b2955a695b37ab4639003adc3f091c"
    );

    // Root step: our secret 01×32, their public key that of the secret 02×32.
    let ours = StaticSecret::from([1; 32]);
    let theirs = PublicKey::from(&StaticSecret::from([2; 32]));
    assert_eq!(
        hex(theirs.as_bytes()),
        "ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d59"
    );
    let (root, mut chain) = root.step(&ours, &theirs).unwrap();
    assert_eq!(
        hex(root.as_bytes()),
        "50a405344ae8bdcd0017b7f19bbcd415a8c352b535003587dff16510c07fe31a"
    );
    assert_eq!(
        hex(chain.as_bytes()),
        "aff15b68b5ee2f31828ee6460d72562df3f412200839a1c8d424ee33d5da713b"
    );

    // Chain step.
    let message_key: MessageKey = chain.advance();
    assert_eq!(
        hex(message_key.as_bytes()),
        "b245085f79df84cbbce5250728cc754edc7bfbd542f89b8f23690f7acd9aada6"
    );
    assert_eq!(
        hex(chain.as_bytes()),
        "be72601ef7e13e1339bf0a2452cd25e9a62cec0a91e12afb21911b8ce14ac5af"
    );

    // The AEAD key of that message key.
    let aead_key = hkdf_sha256::<32>(&[], message_key.as_bytes(), MESSAGE_INFO);
    assert_eq!(
        hex(aead_key.as_slice()),
        "7d0817be52d0c29348976b8726dafd395073eceb5955342bd0c45b2a609e7d93"
    );

    // The session id.
    assert_eq!(
        SessionId::derive(&attestation_id()).to_string(),
        "b3f945df8ebdb0c4f49a20b7f95855cb"
    );
}
