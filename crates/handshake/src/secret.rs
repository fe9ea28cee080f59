//! The x25519 secrets the handshake mints: the inviter's one-time key and the invitee's
//! ephemeral key. Both are kept by their owner for the channel set-up.

use std::fmt;

use accord_identity::x25519_dalek::{PublicKey, StaticSecret};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

macro_rules! x25519_secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// The key is wiped from memory when the value is dropped, and `Debug` prints only
        /// the public half.
        #[derive(Clone)]
        pub struct $name(StaticSecret);

        impl $name {
            /// Mints a fresh key from the caller's RNG.
            pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
                Self(StaticSecret::random_from_rng(rng))
            }

            /// The public half.
            pub fn public_key(&self) -> PublicKey {
                PublicKey::from(&self.0)
            }

            /// The x25519 secret, for the Diffie-Hellman steps of the channel set-up.
            pub fn as_x25519(&self) -> &StaticSecret {
                &self.0
            }

            /// The raw 32 secret bytes, to persist the key (wiped when dropped).
            pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
                Zeroizing::new(self.0.to_bytes())
            }

            /// Rebuilds the key from [`Self::to_bytes`]; every 32-byte value is a key.
            pub fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
                Self(StaticSecret::from(*bytes))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("public", &crate::codec::hex(self.public_key().as_bytes()))
                    .finish_non_exhaustive()
            }
        }
    };
}

x25519_secret!(
    /// The private half of an invite's one-time x25519 key, kept by the inviter.
    ///
    /// The node must store it encrypted at rest alongside the outgoing invite, and delete it
    /// in the same store transaction that saves the attestation when the invite is accepted
    /// (or when the invite is withdrawn, declined or expires): once it is gone, a replayed
    /// acceptance cannot set up a channel again.
    OneTimeSecret
);

x25519_secret!(
    /// The private half of the invitee's ephemeral x25519 key, minted with an
    /// [`crate::Acceptance`] and kept by the invitee for the channel set-up (then deleted).
    EphemeralSecret
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::codec::hex;
    use crate::test_rng::TestRng;

    #[test]
    fn bytes_round_trip_and_debug_is_redacted() {
        let secret = OneTimeSecret::generate(&mut TestRng::new(1));
        let again = OneTimeSecret::from_bytes(secret.to_bytes());
        assert_eq!(again.public_key(), secret.public_key());
        let shown = format!("{secret:?} {secret:#?}");
        assert!(shown.starts_with("OneTimeSecret"), "{shown}");
        assert!(!shown.contains(&hex(secret.to_bytes().as_slice())));
        assert!(!shown.contains(&format!("{:?}", &secret.to_bytes()[..4])));
        let eph = EphemeralSecret::generate(&mut TestRng::new(2));
        assert!(!format!("{eph:?}").contains(&format!("{:?}", &eph.to_bytes()[..4])));
    }
}
