//! The on-disk encoding of an address-book entry.
//!
//! Version 1 is hand-written, fixed-width and has no failure mode on encode:
//!
//! ```text
//! 0x01 ‖ first_seen_ms: u64 BE ‖ last_seen_ms: u64 BE ‖ count: u8 ‖ count × (len: u16 BE ‖ multiaddr bytes)
//! ```
//!
//! This is the record inside the sealed value: the value stored under the peer's slot is
//! sealed(Accord ID bytes ‖ record) (`at_rest.rs`). Addresses are
//! stored newest first. The decoder is strict: it rejects unknown versions, trailing bytes,
//! oversize input and invalid addresses with a [`RecordError`], so a damaged or foreign record
//! is recognised as such and skipped rather than misread.

use multiaddr::Multiaddr;

/// The version byte of the current peer-record format.
pub(crate) const PEER_RECORD_V1: u8 = 1;

/// The most addresses a stored record may hold, whatever the configuration says. It bounds
/// what the decoder will accept, so a damaged record cannot make it allocate without limit,
/// and it fits the one-byte count.
pub(crate) const MAX_STORED_ADDRS: usize = 64;

/// The longest address, in bytes, the address book keeps. Real multiaddrs (an IP, a port, a
/// transport and a peer id) are well under 100 bytes; longer ones are dropped on insert.
pub(crate) const MAX_ADDR_LEN: usize = 256;

/// The fixed part of a record: version, two timestamps and the address count.
const HEADER_LEN: usize = 1 + 8 + 8 + 1;

/// The largest record this build writes.
pub(crate) const MAX_RECORD_LEN: usize = HEADER_LEN + MAX_STORED_ADDRS * (2 + MAX_ADDR_LEN);

/// Why a stored peer record could not be decoded.
///
/// These never reach callers of the address book API: an undecodable record is logged, counted
/// and skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    /// The record was empty, so not even the version byte was present.
    #[error("empty record")]
    Empty,
    /// The record is larger than any record this build writes.
    #[error("record of {0} bytes exceeds the size limit")]
    TooLarge(usize),
    /// The version byte names a format this build does not know.
    #[error("unknown record version {0}")]
    UnknownVersion(u8),
    /// The record ends in the middle of a field.
    #[error("record is truncated")]
    Truncated,
    /// Bytes remained after the record body.
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    /// The record lists more addresses than any record this build writes.
    #[error("record lists {0} addresses, more than allowed")]
    TooManyAddrs(usize),
    /// One of the addresses is not a valid multiaddr, or is longer than the store keeps.
    #[error("address {0} is not a valid multiaddr")]
    BadAddr(usize),
    /// The first-seen time is after the last-seen time, which the store never writes.
    #[error("first-seen time is after last-seen time")]
    InconsistentTimes,
    /// The Accord ID stored with the record is not a valid one.
    #[error("the record's Accord ID is not a valid one")]
    BadKey,
    /// The sealed value does not open with this store's key in this slot.
    #[error("the sealed entry does not open")]
    Unsealable,
}

/// An address-book entry without its key, as the codec sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredPeer {
    /// Known addresses, newest first.
    pub(crate) addrs: Vec<Multiaddr>,
    /// When the peer was first recorded, in unix milliseconds.
    pub(crate) first_seen_ms: u64,
    /// When the peer was last recorded, in unix milliseconds.
    pub(crate) last_seen_ms: u64,
}

/// Encodes a record for storage.
///
/// The address book only hands over records that respect [`MAX_STORED_ADDRS`] and
/// [`MAX_ADDR_LEN`]; anything beyond those bounds is left out here too, so that whatever is
/// written can always be read back.
pub(crate) fn encode(peer: &StoredPeer) -> Vec<u8> {
    let addrs: Vec<Vec<u8>> = peer
        .addrs
        .iter()
        .map(Multiaddr::to_vec)
        .filter(|raw| raw.len() <= MAX_ADDR_LEN)
        .take(MAX_STORED_ADDRS)
        .collect();
    let body_len: usize = addrs.iter().map(|a| 2 + a.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + body_len);
    out.push(PEER_RECORD_V1);
    out.extend_from_slice(&peer.first_seen_ms.to_be_bytes());
    out.extend_from_slice(&peer.last_seen_ms.to_be_bytes());
    // Both conversions are lossless: the filters above bound the count by 64 and each
    // length by 256, which fit a u8 and a u16.
    out.push(u8::try_from(addrs.len()).unwrap_or(u8::MAX));
    for raw in &addrs {
        out.extend_from_slice(&u16::try_from(raw.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(raw);
    }
    out
}

/// A cursor over a record's bytes that fails with [`RecordError::Truncated`] instead of
/// panicking when the input runs out.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.0.len() < n {
            return Err(RecordError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// Decodes a stored record, rejecting anything this build would not have written.
pub(crate) fn decode(bytes: &[u8]) -> Result<StoredPeer, RecordError> {
    if bytes.len() > MAX_RECORD_LEN {
        return Err(RecordError::TooLarge(bytes.len()));
    }
    let mut r = Reader(bytes);
    let [version] = r.array::<1>().map_err(|_| RecordError::Empty)?;
    if version != PEER_RECORD_V1 {
        return Err(RecordError::UnknownVersion(version));
    }
    let first_seen_ms = u64::from_be_bytes(r.array()?);
    let last_seen_ms = u64::from_be_bytes(r.array()?);
    if first_seen_ms > last_seen_ms {
        return Err(RecordError::InconsistentTimes);
    }
    let [count] = r.array::<1>()?;
    let count = usize::from(count);
    if count > MAX_STORED_ADDRS {
        return Err(RecordError::TooManyAddrs(count));
    }
    let mut addrs = Vec::with_capacity(count);
    for i in 0..count {
        let len = usize::from(u16::from_be_bytes(r.array()?));
        if len > MAX_ADDR_LEN {
            return Err(RecordError::BadAddr(i));
        }
        let raw = r.take(len)?.to_vec();
        addrs.push(Multiaddr::try_from(raw).map_err(|_| RecordError::BadAddr(i))?);
    }
    if !r.0.is_empty() {
        return Err(RecordError::TrailingBytes(r.0.len()));
    }
    Ok(StoredPeer {
        addrs,
        first_seen_ms,
        last_seen_ms,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]
mod tests {
    use super::*;
    use multiaddr::Protocol;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn arb_addr() -> impl Strategy<Value = Multiaddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| {
                Multiaddr::empty()
                    .with(Protocol::Ip4(Ipv4Addr::from(ip)))
                    .with(Protocol::Tcp(port))
            }),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| {
                Multiaddr::empty()
                    .with(Protocol::Ip6(Ipv6Addr::from(ip)))
                    .with(Protocol::Udp(port))
                    .with(Protocol::QuicV1)
            }),
            ("[a-z]{1,20}(\\.[a-z]{1,10}){0,3}", any::<u16>()).prop_map(|(name, port)| {
                Multiaddr::empty()
                    .with(Protocol::Dns4(name.into()))
                    .with(Protocol::Tcp(port))
            }),
        ]
    }

    fn arb_peer() -> impl Strategy<Value = StoredPeer> {
        (
            proptest::collection::vec(arb_addr(), 0..=MAX_STORED_ADDRS),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(addrs, a, b)| StoredPeer {
                addrs,
                first_seen_ms: a.min(b),
                last_seen_ms: a.max(b),
            })
    }

    proptest! {
        #[test]
        fn round_trip(peer in arb_peer()) {
            let bytes = encode(&peer);
            prop_assert!(bytes.len() <= MAX_RECORD_LEN);
            prop_assert_eq!(decode(&bytes), Ok(peer));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_versioned_input(
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut bytes = vec![PEER_RECORD_V1];
            bytes.extend(body);
            let _ = decode(&bytes);
        }

        #[test]
        fn trailing_bytes_are_rejected(peer in arb_peer(), extra in 1usize..8) {
            let mut bytes = encode(&peer);
            bytes.extend(std::iter::repeat_n(0u8, extra));
            prop_assert_eq!(decode(&bytes), Err(RecordError::TrailingBytes(extra)));
        }
    }

    fn raw_record(first: u64, last: u64, addrs: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![PEER_RECORD_V1];
        out.extend_from_slice(&first.to_be_bytes());
        out.extend_from_slice(&last.to_be_bytes());
        out.push(u8::try_from(addrs.len()).unwrap());
        for a in addrs {
            out.extend_from_slice(&u16::try_from(a.len()).unwrap().to_be_bytes());
            out.extend_from_slice(a);
        }
        out
    }

    #[test]
    fn layout_is_as_documented() {
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let peer = StoredPeer {
            addrs: vec![addr.clone()],
            first_seen_ms: 1,
            last_seen_ms: 2,
        };
        assert_eq!(encode(&peer), raw_record(1, 2, &[&addr.to_vec()]));
    }

    #[test]
    fn rejects_bad_envelopes() {
        assert_eq!(decode(&[]), Err(RecordError::Empty));
        assert_eq!(decode(&[2, 0, 0, 0]), Err(RecordError::UnknownVersion(2)));
        assert_eq!(decode(&[PEER_RECORD_V1]), Err(RecordError::Truncated));
        let mut cut = raw_record(1, 2, &[&[4, 127, 0, 0, 1]]);
        cut.pop();
        assert_eq!(decode(&cut), Err(RecordError::Truncated));
        let huge = vec![PEER_RECORD_V1; MAX_RECORD_LEN + 1];
        assert_eq!(
            decode(&huge),
            Err(RecordError::TooLarge(MAX_RECORD_LEN + 1))
        );
    }

    #[test]
    fn rejects_inconsistent_times_and_bad_addrs() {
        assert_eq!(
            decode(&raw_record(5, 4, &[])),
            Err(RecordError::InconsistentTimes)
        );
        assert_eq!(
            decode(&raw_record(1, 2, &[&[0xff, 0xff, 0xff]])),
            Err(RecordError::BadAddr(0))
        );
        let long = vec![0u8; MAX_ADDR_LEN + 1];
        assert_eq!(
            decode(&raw_record(1, 2, &[&long])),
            Err(RecordError::BadAddr(0))
        );
        let many = vec![&[][..]; MAX_STORED_ADDRS + 1];
        assert_eq!(
            decode(&raw_record(1, 2, &many)),
            Err(RecordError::TooManyAddrs(MAX_STORED_ADDRS + 1))
        );
    }

    #[test]
    fn encode_drops_what_decode_would_refuse() {
        let addr: Multiaddr = "/ip4/10.0.0.1/tcp/1".parse().unwrap();
        let peer = StoredPeer {
            addrs: vec![addr; MAX_STORED_ADDRS + 5],
            first_seen_ms: 0,
            last_seen_ms: 0,
        };
        let back = decode(&encode(&peer)).unwrap();
        assert_eq!(back.addrs.len(), MAX_STORED_ADDRS);
    }
}
