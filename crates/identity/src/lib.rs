//! Accord identities.
//!
//! An Accord identity is an ed25519 key pair. Its public half, the [`AccordId`], is the
//! libp2p [`PeerId`] of that key (`12D3KooW…`), so the DHT finds a node by the ID a user
//! typed and anyone can check the identity's signatures from the ID alone. This crate
//! provides:
//!
//! - [`Identity`]: the secret key, with its libp2p form (for the swarm) and its x25519 form
//!   (for sealing and key agreement, by the same birational map libsodium and age use);
//! - domain-separated signatures: [`Identity::sign`] and [`verify`] over
//!   `len(domain) ‖ domain ‖ exact bytes` (see [`SignatureDomain`]);
//! - what people compare: a per-identity [`Fingerprint`] and a per-pair [`SafetyNumber`];
//! - [`keyfile`]: the on-disk key format, plain or Argon2id + XChaCha20-Poly1305 encrypted;
//! - [`StoreKey`]: the key that encrypts the local store at rest, derived from the identity
//!   with HKDF-SHA256 and the label [`STORE_KEY_LABEL`] ([`Identity::store_key`]).
//!
//! The crate is sans-IO: it reads no files, sockets or clocks. Randomness comes from an RNG
//! the caller passes in (any `rand_core` 0.10 [`CryptoRng`](rand_core::CryptoRng)), which
//! keeps every function deterministic under test. Secrets are zeroized on drop and no
//! `Debug` output shows them.
//!
//! # Example
//!
//! In production, use the operating system's RNG: getrandom's `SysRng` (feature `sys_rng`)
//! wrapped in rand_core's `UnwrapErr`, which turns its fallible interface into the
//! infallible `CryptoRng` this crate takes (it panics only if the OS cannot supply
//! randomness at all, when no key could safely be made anyway).
//!
//! ```
//! use accord_identity::keyfile::{self, KdfParams, Passphrase};
//! use accord_identity::{Identity, SignatureDomain, safety_number, verify};
//! use getrandom::SysRng;
//! use rand_core::UnwrapErr;
//!
//! const GREETING: SignatureDomain = SignatureDomain::new("accord/v1/example");
//!
//! let mut rng = UnwrapErr(SysRng);
//! let alice = Identity::generate(&mut rng);
//! let bob = Identity::generate(&mut rng);
//! assert!(alice.id().to_string().starts_with("12D3KooW"));
//!
//! // Signatures are bound to a purpose.
//! let signature = alice.sign(GREETING, b"hello");
//! assert!(verify(&alice.id(), GREETING, b"hello", &signature).is_ok());
//!
//! // Both sides see the same safety number.
//! assert_eq!(safety_number(&alice.id(), &bob.id()), safety_number(&bob.id(), &alice.id()));
//!
//! // Both sides agree on an x25519 secret (always hash it with a purpose label before use).
//! let ab = alice.x25519_secret().diffie_hellman(&bob.id().x25519_public());
//! let ba = bob.x25519_secret().diffie_hellman(&alice.id().x25519_public());
//! assert_eq!(ab.as_bytes(), ba.as_bytes());
//!
//! // Store the key encrypted (cheap parameters here only to keep the example fast).
//! let passphrase = Passphrase::new("correct horse battery staple".to_owned())?;
//! let cheap = KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 };
//! let file = keyfile::encode(&alice, Some((&passphrase, cheap)), &mut rng)?;
//! assert!(keyfile::is_encrypted(&file)?);
//! let reopened = keyfile::decode(&file, Some(&passphrase))?;
//! assert_eq!(reopened.id(), alice.id());
//! # Ok::<(), accord_identity::keyfile::KeyFileError>(())
//! ```

mod id;
mod identity;
pub mod keyfile;
mod safety_number;
mod signature;
mod store_key;
#[cfg(any(test, feature = "test-support"))]
pub mod test_rng;

pub use ed25519_dalek;
pub use ed25519_dalek::Signature;
pub use id::{AccordId, Fingerprint, IdError};
pub use identity::Identity;
pub use libp2p_identity;
pub use libp2p_identity::PeerId;
pub use safety_number::{SafetyNumber, safety_number};
pub use signature::{SignatureDomain, SignatureError, signature_from_bytes, verify};
pub use store_key::{STORE_KEY_LABEL, StoreKey};
pub use x25519_dalek;
