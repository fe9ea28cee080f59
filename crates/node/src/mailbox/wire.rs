//! The bytes of `/accord/mailbox/1`, of a held item, and of the announcement a node sends its
//! connections over the end-to-end channel (`/accord/dm/1` content kind 4).
//!
//! ```text
//! request  = version (1) ‖ op (1) ‖ fields
//!   op 0 register: replace (1: 0 or 1) ‖ count (u16, ≤ 2000) ‖ count × token hash (32)
//!   op 1 deposit:  token (32) ‖ item (the rest, one of the size buckets)
//!   op 2 fetch:    after (u64): the items after this sequence
//!   op 3 delete:   count (u16, 1–1000) ‖ count × sequence (u64)
//! response = version (1) ‖ status (1) ‖ fields
//!   0 ok; 1 items: count (u16) ‖ count × (sequence (u64) ‖ token hash (32) ‖ length (u32) ‖ item);
//!   2 full; 3 unknown token; 4 not serving; 5 malformed
//! item     = version (1) ‖ frame length (u32) ‖ the `/accord/dm/1` request frame ‖ zeros,
//!            to the smallest of ITEM_BUCKETS that holds it
//! announce = version (1) ‖ announcement version (u64) ‖ token (32) ‖ count (1, ≤ 2) ‖
//!            count × (length (1) ‖ Accord ID bytes)
//! ```
//!
//! All integers are big-endian. Every decoder refuses unknown versions, unknown codes, short
//! input and trailing bytes.

use accord_identity::AccordId;
use accord_store::HeldItem;

use crate::message::wire::{MAX_REQUEST, WireError};

/// The version byte of every structure here.
pub const VERSION: u8 = 1;

/// The sizes a held item is padded to: a mailbox (and anyone watching its traffic) learns
/// only which bucket an envelope falls in.
pub const ITEM_BUCKETS: [usize; 5] = [1024, 4096, 16 * 1024, 64 * 1024, 80 * 1024];

/// The most token hashes in one registration request.
pub const MAX_REGISTER: usize = 2000;

/// The most sequences in one deletion request.
pub const MAX_DELETE: usize = 1000;

/// The most bytes of items in one fetch answer (the protocol's response limit leaves room
/// for the framing).
pub const MAX_FETCH_BYTES: usize = 192 * 1024;

/// The most mailboxes a node announces.
pub const MAX_MAILBOXES: usize = 2;

/// A request on `/accord/mailbox/1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxRequest {
    /// The owner registers the hashes of the tokens it gave its connections.
    Register {
        /// Replace what was registered before (the first request of a set).
        replace: bool,
        /// The token hashes.
        hashes: Vec<[u8; 32]>,
    },
    /// A connection of the owner leaves an item for it.
    Deposit {
        /// The token the owner gave the depositor.
        token: [u8; 32],
        /// The padded item.
        item: Vec<u8>,
    },
    /// The owner asks for its items after a sequence.
    Fetch {
        /// The last sequence already seen (0: from the start).
        after: u64,
    },
    /// The owner took these items.
    Delete {
        /// Their sequences.
        seqs: Vec<u64>,
    },
}

/// An answer on `/accord/mailbox/1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxResponse {
    /// Done (and durable).
    Ok,
    /// The items asked for, oldest first.
    Items(Vec<HeldItem>),
    /// The mailbox's budget or the owner's share of it is used up.
    Full,
    /// The token was not registered by any owner.
    UnknownToken,
    /// This node does not serve as a mailbox.
    NotServing,
    /// The request could not be read.
    Malformed,
}

impl MailboxRequest {
    /// The request's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        match self {
            MailboxRequest::Register { replace, hashes } => {
                out.push(0);
                out.push(u8::from(*replace));
                put_count(&mut out, hashes.len());
                hashes.iter().for_each(|h| out.extend_from_slice(h));
            }
            MailboxRequest::Deposit { token, item } => {
                out.push(1);
                out.extend_from_slice(token);
                out.extend_from_slice(item);
            }
            MailboxRequest::Fetch { after } => {
                out.push(2);
                out.extend_from_slice(&after.to_be_bytes());
            }
            MailboxRequest::Delete { seqs } => {
                out.push(3);
                put_count(&mut out, seqs.len());
                seqs.iter()
                    .for_each(|s| out.extend_from_slice(&s.to_be_bytes()));
            }
        }
        out
    }

    /// Parses [`MailboxRequest::encode`].
    ///
    /// # Errors
    ///
    /// Any [`WireError`].
    pub fn decode(bytes: &[u8]) -> Result<MailboxRequest, WireError> {
        let mut r = Reader(bytes);
        r.version()?;
        let request = match r.u8()? {
            0 => {
                let replace = match r.u8()? {
                    0 => false,
                    1 => true,
                    other => return Err(WireError::Kind(other)),
                };
                let count = r.count(MAX_REGISTER, true)?;
                let hashes = (0..count).map(|_| r.array()).collect::<Result<_, _>>()?;
                MailboxRequest::Register { replace, hashes }
            }
            1 => {
                let token = r.array()?;
                let item = r.rest();
                if !ITEM_BUCKETS.contains(&item.len()) {
                    return Err(WireError::TooLarge);
                }
                MailboxRequest::Deposit {
                    token,
                    item: item.to_vec(),
                }
            }
            2 => MailboxRequest::Fetch { after: r.u64()? },
            3 => {
                let count = r.count(MAX_DELETE, false)?;
                let seqs = (0..count).map(|_| r.u64()).collect::<Result<_, _>>()?;
                MailboxRequest::Delete { seqs }
            }
            other => return Err(WireError::Kind(other)),
        };
        r.end()?;
        Ok(request)
    }
}

impl MailboxResponse {
    /// The answer's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        match self {
            MailboxResponse::Ok => out.push(0),
            MailboxResponse::Items(items) => {
                out.push(1);
                put_count(&mut out, items.len());
                for item in items {
                    out.extend_from_slice(&item.seq.to_be_bytes());
                    out.extend_from_slice(&item.token_hash);
                    let len = u32::try_from(item.item.len()).unwrap_or(u32::MAX);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&item.item);
                }
            }
            MailboxResponse::Full => out.push(2),
            MailboxResponse::UnknownToken => out.push(3),
            MailboxResponse::NotServing => out.push(4),
            MailboxResponse::Malformed => out.push(5),
        }
        out
    }

    /// A short name of the answer, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            MailboxResponse::Ok => "ok",
            MailboxResponse::Items(_) => "items",
            MailboxResponse::Full => "full",
            MailboxResponse::UnknownToken => "unknown token",
            MailboxResponse::NotServing => "not serving",
            MailboxResponse::Malformed => "malformed",
        }
    }

    /// Parses [`MailboxResponse::encode`].
    ///
    /// # Errors
    ///
    /// Any [`WireError`].
    pub fn decode(bytes: &[u8]) -> Result<MailboxResponse, WireError> {
        let mut r = Reader(bytes);
        r.version()?;
        let response = match r.u8()? {
            0 => MailboxResponse::Ok,
            1 => {
                let count = r.count(usize::from(u16::MAX), true)?;
                let mut items = Vec::with_capacity(count.min(64));
                for _ in 0..count {
                    let seq = r.u64()?;
                    let token_hash = r.array()?;
                    let len = usize::try_from(r.u32()?).map_err(|_| WireError::TooLarge)?;
                    if !ITEM_BUCKETS.contains(&len) {
                        return Err(WireError::TooLarge);
                    }
                    let item = r.take(len)?.to_vec();
                    items.push(HeldItem {
                        seq,
                        token_hash,
                        item,
                    });
                }
                MailboxResponse::Items(items)
            }
            2 => MailboxResponse::Full,
            3 => MailboxResponse::UnknownToken,
            4 => MailboxResponse::NotServing,
            5 => MailboxResponse::Malformed,
            other => return Err(WireError::Kind(other)),
        };
        r.end()?;
        Ok(response)
    }
}

/// A `/accord/dm/1` request frame padded into a held item.
///
/// # Errors
///
/// [`WireError::TooLarge`] for a frame above [`MAX_REQUEST`].
pub fn pad_item(frame: &[u8]) -> Result<Vec<u8>, WireError> {
    if frame.len() > MAX_REQUEST {
        return Err(WireError::TooLarge);
    }
    let wanted = frame.len() + 5;
    let bucket = ITEM_BUCKETS
        .iter()
        .copied()
        .find(|b| *b >= wanted)
        .ok_or(WireError::TooLarge)?;
    let mut out = Vec::with_capacity(bucket);
    out.push(VERSION);
    let len = u32::try_from(frame.len()).map_err(|_| WireError::TooLarge)?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(frame);
    out.resize(bucket, 0);
    Ok(out)
}

/// The frame inside a held item.
///
/// # Errors
///
/// Any [`WireError`]; padding that is not all zeros is [`WireError::TrailingBytes`].
pub fn unpad_item(item: &[u8]) -> Result<&[u8], WireError> {
    if !ITEM_BUCKETS.contains(&item.len()) {
        return Err(WireError::TooLarge);
    }
    let mut r = Reader(item);
    r.version()?;
    let len = usize::try_from(r.u32()?).map_err(|_| WireError::TooLarge)?;
    let frame = r.take(len)?;
    if r.rest().iter().any(|b| *b != 0) {
        return Err(WireError::TrailingBytes);
    }
    // Only the smallest bucket that holds the frame: every item has one encoding.
    if ITEM_BUCKETS.iter().find(|b| **b >= len + 5) != Some(&item.len()) {
        return Err(WireError::TrailingBytes);
    }
    Ok(frame)
}

/// What a node tells a connection of its mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// Its version: a newer one replaces an older one.
    pub version: u64,
    /// The token this connection deposits with.
    pub token: [u8; 32],
    /// The mailboxes, at most [`MAX_MAILBOXES`].
    pub mailboxes: Vec<AccordId>,
}

impl Announce {
    /// The content's bytes (encrypted as `/accord/dm/1` content kind 4).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.token);
        let mailboxes = &self.mailboxes[..self.mailboxes.len().min(MAX_MAILBOXES)];
        out.push(u8::try_from(mailboxes.len()).unwrap_or(0));
        for id in mailboxes {
            let bytes = id.to_bytes();
            out.push(u8::try_from(bytes.len()).unwrap_or(0));
            out.extend_from_slice(&bytes);
        }
        out
    }

    /// Parses [`Announce::encode`].
    ///
    /// # Errors
    ///
    /// Any [`WireError`]; an ID that does not parse is [`WireError::Kind`].
    pub fn decode(bytes: &[u8]) -> Result<Announce, WireError> {
        let mut r = Reader(bytes);
        r.version()?;
        let version = r.u64()?;
        let token = r.array()?;
        let count = usize::from(r.u8()?);
        if count > MAX_MAILBOXES {
            return Err(WireError::TooLarge);
        }
        let mut mailboxes = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(r.u8()?);
            let id = AccordId::from_bytes(r.take(len)?).map_err(|_| WireError::Kind(0))?;
            mailboxes.push(id);
        }
        r.end()?;
        Ok(Announce {
            version,
            token,
            mailboxes,
        })
    }
}

fn put_count(out: &mut Vec<u8>, count: usize) {
    out.extend_from_slice(&u16::try_from(count).unwrap_or(u16::MAX).to_be_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let (head, tail) = self.0.split_at_checked(n).ok_or(WireError::Truncated)?;
        self.0 = tail;
        Ok(head)
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
    fn end(&self) -> Result<(), WireError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
    fn version(&mut self) -> Result<(), WireError> {
        match self.u8()? {
            VERSION => Ok(()),
            other => Err(WireError::Version(other)),
        }
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    /// A `u16` count, at most `max`, zero allowed only with `empty_ok`.
    fn count(&mut self, max: usize, empty_ok: bool) -> Result<usize, WireError> {
        let count = usize::from(u16::from_be_bytes(self.array()?));
        if count > max || (count == 0 && !empty_ok) {
            return Err(WireError::TooLarge);
        }
        Ok(count)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use accord_identity::Identity;
    use proptest::prelude::*;
    use zeroize::Zeroizing;

    #[test]
    fn requests_and_responses_round_trip() {
        let requests = [
            MailboxRequest::Register {
                replace: true,
                hashes: vec![[7; 32], [8; 32]],
            },
            MailboxRequest::Deposit {
                token: [1; 32],
                item: pad_item(b"frame").unwrap(),
            },
            MailboxRequest::Fetch { after: 41 },
            MailboxRequest::Delete {
                seqs: vec![1, 2, 9],
            },
        ];
        for request in requests {
            assert_eq!(MailboxRequest::decode(&request.encode()), Ok(request));
        }
        let items = MailboxResponse::Items(vec![HeldItem {
            seq: 3,
            token_hash: [2; 32],
            item: pad_item(&[9; 2000]).unwrap(),
        }]);
        for response in [items, MailboxResponse::Ok, MailboxResponse::Full] {
            assert_eq!(MailboxResponse::decode(&response.encode()), Ok(response));
        }
    }

    #[test]
    fn items_are_padded_to_buckets_and_read_back() {
        for len in [0, 1, 1019, 1020, 5000, MAX_REQUEST] {
            let frame = vec![0xAB; len];
            let item = pad_item(&frame).unwrap();
            assert!(ITEM_BUCKETS.contains(&item.len()), "{len} → {}", item.len());
            assert_eq!(unpad_item(&item).unwrap(), &frame[..]);
        }
        assert!(pad_item(&vec![0; MAX_REQUEST + 1]).is_err());
        let mut item = pad_item(b"x").unwrap();
        item[1023] = 1;
        assert_eq!(unpad_item(&item), Err(WireError::TrailingBytes));
        // A deposit whose item is not a bucket's size is refused.
        let mut odd = MailboxRequest::Deposit {
            token: [1; 32],
            item: vec![0; 1000],
        }
        .encode();
        assert_eq!(MailboxRequest::decode(&odd), Err(WireError::TooLarge));
        odd[0] = 9;
        assert_eq!(MailboxRequest::decode(&odd), Err(WireError::Version(9)));
    }

    #[test]
    fn announcements_round_trip_and_hold_at_most_two_mailboxes() {
        let id = |n| Identity::from_seed(Zeroizing::new([n; 32])).id();
        let announce = Announce {
            version: 3,
            token: [5; 32],
            mailboxes: vec![id(1), id(2)],
        };
        let bytes = announce.encode();
        assert_eq!(Announce::decode(&bytes), Ok(announce));
        let mut three = bytes.clone();
        three[41] = 3;
        assert_eq!(Announce::decode(&three), Err(WireError::TooLarge));
        let mut longer = bytes;
        longer.push(0);
        assert_eq!(Announce::decode(&longer), Err(WireError::TrailingBytes));
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = MailboxRequest::decode(&bytes);
            let _ = MailboxResponse::decode(&bytes);
            let _ = unpad_item(&bytes);
            let _ = Announce::decode(&bytes);
        }
    }
}
