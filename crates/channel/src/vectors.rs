//! Known-answer vectors for the key schedule, computed independently (Python's `hashlib`,
//! `hmac` and pyca/cryptography's X25519) from the definitions in PROTOCOL.md, so a change to
//! any label or construction shows up here. PROTOCOL.md lists the same vectors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.

use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::envelope::SessionId;
use crate::message_key::MessageKey;
use crate::root_key::{X3dhInputs, x3dh};
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

    // That message key is the AEAD key: XChaCha20-Poly1305 of "hello, channel" under nonce
    // 24×24 with associated data "accord/v1/channel/ad" ‖ 00 01 … 1f (ciphertext ‖ tag; computed
    // with pyca/cryptography's ChaCha20Poly1305 after a Python HChaCha20).
    let mut sealed = b"hello, channel".to_vec();
    let mut aad = crate::labels::AD.as_bytes().to_vec();
    aad.extend_from_slice(&attestation_id());
    message_key.seal(&mut sealed, 0, &[0x24; 24], &aad).unwrap();
    assert_eq!(
        hex(&sealed),
        "cce5336508837924e0d94aab272031ebc39cb8bf56a6ffb8ea034133b779"
    );
    assert_eq!(
        message_key.open(&sealed, &[0x24; 24], &aad).unwrap(),
        b"hello, channel"
    );

    // The session id.
    assert_eq!(
        SessionId::derive(&attestation_id()).to_string(),
        "b3f945df8ebdb0c4f49a20b7f95855cb"
    );
}
