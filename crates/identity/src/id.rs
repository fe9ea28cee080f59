//! Accord IDs (the public half of an identity) and their fingerprints.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use libp2p_identity::PeerId;
use sha2::{Digest, Sha256};

/// The multihash code of the "identity" hash, which libp2p uses to inline short keys
/// (every ed25519 key) in a `PeerId` instead of hashing them.
const MULTIHASH_IDENTITY: u64 = 0;

/// The first bytes of the binary form of every ed25519 peer ID, as libp2p encodes it: the
/// identity multihash (code 0x00, length 36), then the protobuf `PublicKey` message with
/// `Type = Ed25519` (field 1, value 1) and `Data` (field 2, 32 bytes), the key following.
const ED25519_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// Domain separation for [`Fingerprint`]s, so a fingerprint can never collide with a
/// hash of the same key computed for any other purpose.
const FINGERPRINT_DOMAIN: &[u8] = b"accord/v1/fingerprint";

/// Why a string, byte string or `PeerId` is not an Accord ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The input does not parse as a libp2p peer ID at all.
    #[error("not an Accord ID: expected a peer ID such as 12D3KooW…")]
    Malformed,
    /// The input is a valid peer ID, but of a key that is not ed25519 (for example an RSA or
    /// secp256k1 key, or a hashed peer ID), so it cannot be an Accord identity.
    #[error(
        "not an Accord ID: the peer ID is not of an ed25519 key (Accord IDs start with 12D3KooW)"
    )]
    NotEd25519,
    /// The peer ID names an ed25519 key, but those 32 bytes are not a usable public key
    /// (not a curve point, or a weak point of small order).
    #[error("not an Accord ID: the embedded ed25519 public key is invalid")]
    InvalidKey,
    /// The peer ID names a valid key but is not encoded the way libp2p encodes it, so two
    /// different strings would name the same identity. Accepting it would break equality.
    #[error("not an Accord ID: the peer ID is not in canonical form")]
    NonCanonical,
}

/// An Accord ID: the libp2p [`PeerId`] of an ed25519 identity key (prints as `12D3KooW…`).
///
/// Because the ID *is* the `PeerId`, the DHT can find a node by the ID a user typed, and the
/// ID *contains* the public key, so signatures can be checked without any lookup. Every
/// `AccordId` holds a public key that has been checked to be a valid, non-weak curve point,
/// so [`AccordId::verifying_key`] and [`AccordId::x25519_public`] cannot fail.
///
/// `Debug` and `Display` both print the base58 string; serde (de)serializes it as that
/// string; [`FromStr`] parses it strictly (no surrounding whitespace).
#[derive(Clone, Copy)]
pub struct AccordId {
    peer: PeerId,
    key: VerifyingKey,
}

impl AccordId {
    /// Turns a libp2p `PeerId` into an Accord ID.
    ///
    /// # Errors
    ///
    /// Refuses peer IDs of other key types and hashed peer IDs ([`IdError::NotEd25519`]),
    /// invalid or weak keys ([`IdError::InvalidKey`]) and non-canonical encodings
    /// ([`IdError::NonCanonical`]).
    pub fn from_peer_id(peer: PeerId) -> Result<Self, IdError> {
        let multihash = peer.as_ref();
        if multihash.code() != MULTIHASH_IDENTITY {
            // A hashed peer ID hides the key; ed25519 peer IDs are always inlined.
            return Err(IdError::NotEd25519);
        }
        let public = libp2p_identity::PublicKey::try_decode_protobuf(multihash.digest())
            .map_err(|_| IdError::InvalidKey)?;
        let ed25519 = public
            .clone()
            .try_into_ed25519()
            .map_err(|_| IdError::NotEd25519)?;
        let key = VerifyingKey::from_bytes(&ed25519.to_bytes()).map_err(|_| IdError::InvalidKey)?;
        if key.is_weak() {
            return Err(IdError::InvalidKey);
        }
        // Protobuf decoding tolerates variants (field order, unknown fields), so re-encode and
        // compare: only the one canonical peer ID of each key is an Accord ID.
        if PeerId::from_public_key(&public) != peer {
            return Err(IdError::NonCanonical);
        }
        Ok(Self { peer, key })
    }

    /// Builds the Accord ID of an ed25519 public key.
    ///
    /// # Errors
    ///
    /// [`IdError::InvalidKey`] if the key is weak (of small order); no honest key is.
    pub fn from_verifying_key(key: &VerifyingKey) -> Result<Self, IdError> {
        if key.is_weak() {
            return Err(IdError::InvalidKey);
        }
        let public = libp2p_identity::ed25519::PublicKey::try_from_bytes(key.as_bytes())
            .map_err(|_| IdError::InvalidKey)?;
        let peer = libp2p_identity::PublicKey::from(public).to_peer_id();
        Ok(Self { peer, key: *key })
    }

    /// Pairs a key with the `PeerId` libp2p computed for it. Only [`crate::Identity`] uses
    /// this, for its own freshly derived key, which is valid and not weak by construction.
    pub(crate) fn from_parts(peer: PeerId, key: VerifyingKey) -> Self {
        Self { peer, key }
    }

    /// The libp2p `PeerId` (what the swarm and the DHT use).
    pub fn peer_id(&self) -> PeerId {
        self.peer
    }

    /// The binary form: the `PeerId`'s multihash bytes (38 bytes for ed25519).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.peer.to_bytes()
    }

    /// Parses the binary form written by [`AccordId::to_bytes`].
    ///
    /// # Errors
    ///
    /// [`IdError::Malformed`] if the bytes are not exactly one peer ID, otherwise as
    /// [`AccordId::from_peer_id`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        // The canonical form of an ed25519 peer ID is fixed, so it is recognised directly and
        // its key decoded (a point decompression) once; libp2p's general route below decodes
        // it twice (once inside libp2p, once here) and re-encodes it. Anything else takes the
        // general route, which gives the precise error (a test checks both agree).
        if let Some(key) = bytes
            .strip_prefix(ED25519_ID_PREFIX.as_slice())
            .and_then(|key| <&[u8; 32]>::try_from(key).ok())
        {
            let key = VerifyingKey::from_bytes(key).map_err(|_| IdError::InvalidKey)?;
            if key.is_weak() {
                return Err(IdError::InvalidKey);
            }
            let peer = PeerId::from_bytes(bytes).map_err(|_| IdError::Malformed)?;
            return Ok(Self { peer, key });
        }
        Self::from_bytes_general(bytes)
    }

    /// [`AccordId::from_bytes`] through libp2p's general peer-ID decoding.
    fn from_bytes_general(bytes: &[u8]) -> Result<Self, IdError> {
        let peer = PeerId::from_bytes(bytes).map_err(|_| IdError::Malformed)?;
        if peer.to_bytes() != bytes {
            return Err(IdError::NonCanonical);
        }
        Self::from_peer_id(peer)
    }

    /// The ed25519 public key, for checking signatures (already decoded and validated).
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key
    }

    /// The raw 32-byte ed25519 public key, e.g. to bind an identity into a transcript hash.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The x25519 (Montgomery) form of the public key, by the birational map from Edwards
    /// form. This is what libsodium's `crypto_sign_ed25519_pk_to_curve25519` and age compute;
    /// its secret counterpart is [`crate::Identity::x25519_secret`]. Domain-separate every use.
    pub fn x25519_public(&self) -> x25519_dalek::PublicKey {
        x25519_dalek::PublicKey::from(self.key.to_montgomery().to_bytes())
    }

    /// A short, human-comparable fingerprint of this one identity.
    pub fn fingerprint(&self) -> Fingerprint {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_DOMAIN)
            .chain_update(self.key.as_bytes())
            .finalize();
        let mut bytes = [0u8; Fingerprint::LEN];
        bytes.copy_from_slice(&digest[..Fingerprint::LEN]);
        Fingerprint(bytes)
    }
}

// Equality, hashing and ordering follow the `PeerId`: the key is a function of it.
impl PartialEq for AccordId {
    fn eq(&self, other: &Self) -> bool {
        self.peer == other.peer
    }
}

impl Eq for AccordId {}

impl Hash for AccordId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.peer.hash(state);
    }
}

impl PartialOrd for AccordId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AccordId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.peer.cmp(&other.peer)
    }
}

impl fmt::Display for AccordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.peer.to_base58(), f)
    }
}

impl fmt::Debug for AccordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.peer.to_base58())
    }
}

impl FromStr for AccordId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let peer = PeerId::from_str(s).map_err(|_| IdError::Malformed)?;
        Self::from_peer_id(peer)
    }
}

impl TryFrom<PeerId> for AccordId {
    type Error = IdError;

    fn try_from(peer: PeerId) -> Result<Self, Self::Error> {
        Self::from_peer_id(peer)
    }
}

impl From<AccordId> for PeerId {
    fn from(id: AccordId) -> Self {
        id.peer
    }
}

impl serde::Serialize for AccordId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for AccordId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = AccordId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an Accord ID string (12D3KooW…)")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AccordId, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(Visitor)
    }
}

/// A short fingerprint of one identity: the first 128 bits of
/// SHA-256(`"accord/v1/fingerprint"` ‖ ed25519 public key), shown as 8 groups of 4 lowercase
/// hex digits (`"3f2a 9c01 …"`).
///
/// It is for recognising a key at a glance (e.g. in `accord id`). To check that nobody sits
/// between two people, compare the pair's [`crate::SafetyNumber`] instead.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; Fingerprint::LEN]);

impl Fingerprint {
    /// The length of a fingerprint in bytes.
    pub const LEN: usize = 16;

    /// The raw fingerprint bytes.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            for byte in pair {
                write!(f, "{byte:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::Identity;
    use crate::test_rng::TestRng;
    use proptest::prelude::*;

    fn some_id(seed: u64) -> AccordId {
        Identity::generate(&mut TestRng::new(seed)).id()
    }

    #[test]
    fn string_round_trip() {
        let id = some_id(1);
        let s = id.to_string();
        assert!(s.starts_with("12D3KooW"), "{s}");
        assert_eq!(s.parse::<AccordId>(), Ok(id));
        assert_eq!(format!("{id:?}"), s);
    }

    #[test]
    fn bytes_round_trip() {
        let id = some_id(2);
        let bytes = id.to_bytes();
        assert_eq!(bytes.len(), 38);
        assert_eq!(AccordId::from_bytes(&bytes), Ok(id));
        assert_eq!(AccordId::from_peer_id(id.peer_id()), Ok(id));
        assert_eq!(AccordId::from_verifying_key(&id.verifying_key()), Ok(id));
    }

    #[test]
    fn serde_as_string() {
        let id = some_id(3);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<AccordId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AccordId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<AccordId>("17").is_err());
    }

    #[test]
    fn rejects_garbage_and_trailing_bytes() {
        assert_eq!("".parse::<AccordId>(), Err(IdError::Malformed));
        assert_eq!("hello".parse::<AccordId>(), Err(IdError::Malformed));
        let id = some_id(4);
        assert!(format!(" {id}").parse::<AccordId>().is_err());
        let mut bytes = id.to_bytes();
        bytes.push(0);
        assert!(AccordId::from_bytes(&bytes).is_err());
        bytes.truncate(37);
        assert!(AccordId::from_bytes(&bytes).is_err());
    }

    #[test]
    fn rejects_hashed_peer_id() {
        // A sha2-256 multihash of 32 bytes: a syntactically valid, hashed peer ID.
        let mut bytes = vec![0x12, 0x20];
        bytes.extend_from_slice(&[7u8; 32]);
        let peer = PeerId::from_bytes(&bytes).unwrap();
        assert_eq!(AccordId::from_peer_id(peer), Err(IdError::NotEd25519));
    }

    #[test]
    fn rejects_weak_key() {
        // The identity point (y = 1) has small order; no honest key is ever this.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let key = VerifyingKey::from_bytes(&weak).unwrap();
        assert_eq!(AccordId::from_verifying_key(&key), Err(IdError::InvalidKey));
        let mut bytes = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
        bytes.extend_from_slice(&weak);
        assert_eq!(AccordId::from_bytes(&bytes), Err(IdError::InvalidKey));
    }

    #[test]
    fn rejects_non_canonical_encoding() {
        // The same key with the protobuf fields in the other order: protobuf accepts it, but
        // it is a second spelling of the same identity, so it must be refused.
        let id = some_id(9);
        let mut bytes = vec![0x00, 0x24, 0x12, 0x20];
        bytes.extend_from_slice(&id.public_key_bytes());
        bytes.extend_from_slice(&[0x08, 0x01]);
        assert_eq!(AccordId::from_bytes(&bytes), Err(IdError::NonCanonical));
    }

    #[test]
    fn fingerprint_is_stable_and_distinct() {
        let (a, b) = (some_id(5), some_id(6));
        assert_eq!(a.fingerprint(), a.fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        let shown = a.fingerprint().to_string();
        assert_eq!(shown.len(), 8 * 4 + 7);
        assert!(shown.split(' ').all(|g| {
            g.len() == 4
                && g.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        }));
    }

    #[test]
    fn ordering_matches_peer_id() {
        let (a, b) = (some_id(7), some_id(8));
        assert_eq!(a.cmp(&b), a.peer_id().cmp(&b.peer_id()));
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), s in ".{0,60}") {
            let _ = AccordId::from_bytes(&bytes);
            let _ = s.parse::<AccordId>();
        }

        #[test]
        fn the_canonical_fast_path_agrees_with_libp2p(
            key in any::<[u8; 32]>(),
            seed in any::<u64>(),
            tail in proptest::collection::vec(any::<u8>(), 0..3),
        ) {
            // Random keys (most are not curve points), real keys, and wrong lengths.
            let real = some_id(seed).to_bytes();
            let mut framed = ED25519_ID_PREFIX.to_vec();
            framed.extend_from_slice(&key);
            let mut longer = real.clone();
            longer.extend_from_slice(&tail);
            for bytes in [framed, real.clone(), longer, real[..real.len() - 1].to_vec()] {
                let fast = AccordId::from_bytes(&bytes);
                let general = AccordId::from_bytes_general(&bytes);
                prop_assert_eq!(&fast, &general);
                if let (Ok(fast), Ok(general)) = (fast, general) {
                    prop_assert_eq!(fast.public_key_bytes(), general.public_key_bytes());
                }
            }
            prop_assert!(real.starts_with(&ED25519_ID_PREFIX));
        }

        #[test]
        fn round_trips_for_any_seed(seed in any::<u64>()) {
            let id = some_id(seed);
            prop_assert_eq!(AccordId::from_bytes(&id.to_bytes()), Ok(id));
            prop_assert_eq!(id.to_string().parse::<AccordId>(), Ok(id));
        }
    }
}
