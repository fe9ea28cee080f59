//! The people contents that travel inside the end-to-end channel (as `/accord/dm/1` content
//! kind 3, see [`crate::message::wire`]), and the node's own encodings of what it keeps.
//!
//! ```text
//! people content = version (1) ‖ kind (1) ‖ message
//!   kind 1 profile:       accord_handshake::Profile
//!   kind 2 list update:   accord_handshake::ListUpdate
//!   kind 3 introduction:  accord_handshake::IntroductionNotice
//! list change (our log) = 1 ‖ attestation (added) | 2 ‖ attestation id (32, removed)
//! shared list (stored)  = accord_handshake::SharedList::encode
//! introduction record   = direction (0 made by us, 1 received) ‖ IntroductionNotice
//! ```

use accord_handshake::codec::DecodeError;
use accord_handshake::{
    Attestation, AttestationId, IntroductionNotice, ListUpdate, Profile, SharedList,
};

/// The version byte of a people content.
const VERSION: u8 = 1;
const KIND_PROFILE: u8 = 1;
const KIND_LIST: u8 = 2;
const KIND_INTRODUCTION: u8 = 3;
/// The longest people content: a version, a kind and the longest profile.
pub(crate) const MAX_LEN: usize = 2 + Profile::MAX_LEN;

/// One people content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PeopleContent {
    /// The sender's whole profile.
    Profile(Profile),
    /// A step of the sender's shared connection list.
    List(ListUpdate),
    /// An introduction by the sender (boxed: it is the largest).
    Introduction(Box<IntroductionNotice>),
}

impl PeopleContent {
    /// version ‖ kind ‖ the message's own encoding.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let (kind, body) = match self {
            Self::Profile(profile) => (KIND_PROFILE, profile.encode()),
            Self::List(update) => (KIND_LIST, update.encode()),
            Self::Introduction(notice) => (KIND_INTRODUCTION, notice.encode()),
        };
        let mut out = Vec::with_capacity(2 + body.len());
        out.extend_from_slice(&[VERSION, kind]);
        out.extend_from_slice(&body);
        out
    }

    /// Parses [`PeopleContent::encode`] (does not verify).
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_LEN {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_LEN,
            });
        }
        match bytes {
            [VERSION, KIND_PROFILE, rest @ ..] => Ok(Self::Profile(Profile::decode(rest)?)),
            [VERSION, KIND_LIST, rest @ ..] => Ok(Self::List(ListUpdate::decode(rest)?)),
            [VERSION, KIND_INTRODUCTION, rest @ ..] => Ok(Self::Introduction(Box::new(
                IntroductionNotice::decode(rest)?,
            ))),
            [VERSION, kind, ..] => Err(DecodeError::UnknownKind(*kind)),
            [version, ..] => Err(DecodeError::UnsupportedVersion(*version)),
            [] => Err(DecodeError::Truncated),
        }
    }
}

/// One change of our own shared list, as kept in our change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListChange {
    /// A connection made (boxed: an attestation is 20 times an id).
    Added(Box<Attestation>),
    /// A connection ended (or no longer shared).
    Removed(AttestationId),
}

impl ListChange {
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Self::Added(attestation) => [&[1u8][..], &attestation.encode()].concat(),
            Self::Removed(id) => [&[2u8][..], id.as_bytes()].concat(),
        }
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes {
            [1, rest @ ..] => Ok(Self::Added(Box::new(Attestation::decode(rest)?))),
            [2, rest @ ..] => {
                let id: [u8; 32] = rest
                    .try_into()
                    .map_err(|_| DecodeError::InvalidField("attestation id"))?;
                Ok(Self::Removed(AttestationId(id)))
            }
            _ => Err(DecodeError::InvalidField("list change")),
        }
    }
}

/// A shared list as we store it ([`SharedList::encode`]).
pub(crate) fn encode_list(list: &SharedList) -> Vec<u8> {
    list.encode()
}

/// Parses [`encode_list`].
pub(crate) fn decode_list(bytes: &[u8]) -> Result<SharedList, DecodeError> {
    SharedList::decode(bytes)
}

/// Whether an introduction record is one we made or one we received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Made,
    Received,
}

/// direction ‖ notice.
pub(crate) fn encode_introduction(direction: Direction, notice: &IntroductionNotice) -> Vec<u8> {
    let flag = match direction {
        Direction::Made => 0u8,
        Direction::Received => 1u8,
    };
    [&[flag][..], &notice.encode()].concat()
}

/// Parses [`encode_introduction`].
pub(crate) fn decode_introduction(
    bytes: &[u8],
) -> Result<(Direction, IntroductionNotice), DecodeError> {
    match bytes {
        [0, rest @ ..] => Ok((Direction::Made, IntroductionNotice::decode(rest)?)),
        [1, rest @ ..] => Ok((Direction::Received, IntroductionNotice::decode(rest)?)),
        _ => Err(DecodeError::InvalidField("introduction record")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use accord_identity::Identity;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn id(n: u8) -> accord_identity::AccordId {
        Identity::from_seed(zeroize::Zeroizing::new([n; 32])).id()
    }

    #[test]
    fn lists_round_trip() {
        let list = SharedList {
            version: 9,
            entries: BTreeMap::from([
                (AttestationId([1; 32]), id(1)),
                (AttestationId([2; 32]), id(2)),
            ]),
        };
        assert_eq!(decode_list(&encode_list(&list)).unwrap(), list);
        assert_eq!(encode_list(&list).len(), 10 + 2 * 70);
        let change = ListChange::Removed(AttestationId([3; 32]));
        assert_eq!(ListChange::decode(&change.encode()).unwrap(), change);
    }

    #[test]
    fn contents_round_trip() {
        let me = Identity::from_seed(zeroize::Zeroizing::new([7; 32]));
        let profile = Profile::create(&me, 1, "Ada", "Hi", None).unwrap();
        let content = PeopleContent::Profile(profile);
        assert_eq!(PeopleContent::decode(&content.encode()).unwrap(), content);
        assert!(matches!(
            PeopleContent::decode(&[VERSION, 9]),
            Err(DecodeError::UnknownKind(9))
        ));
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = PeopleContent::decode(&bytes);
            let _ = ListChange::decode(&bytes);
            if let Ok(list) = decode_list(&bytes) {
                prop_assert_eq!(encode_list(&list), bytes.clone());
            }
            let _ = decode_introduction(&bytes);
        }
    }
}
