//! Names of the sled trees, with the layout of each tree's keys and values.
//!
//! Every tree is created when the store is opened, so later work only fills them and never has
//! to think about whether a tree exists. All integers in keys are big-endian so that the
//! engine's byte-wise key order is also numeric order, which is what makes history pages,
//! the outbox and the quota ledger simple range scans. Every value that is a structured record
//! starts with a format version byte, so a record written by a newer build is recognised and
//! refused instead of being misread. Accord ID bytes are the 38-byte binary `PeerId` form of
//! an ed25519 key, always the same length, so an `id ‖ sequence` key has exactly one reading.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | printable ASCII name, 1–64 bytes | `schema_version`: `u32` BE; other keys: opaque bytes set through [`Store::set_meta`](crate::Store::set_meta) |
//! | `peers` | Accord ID bytes | `0x01` ‖ first_seen_ms `u64` BE ‖ last_seen_ms `u64` BE ‖ count `u8` ‖ count × (len `u16` BE ‖ multiaddr bytes), newest address first |
//! | `invites_out` | invite id (16 bytes) | an invite we sent, with its state (filled by later work) |
//! | `invites_in` | invite id (16 bytes) | an invite we received, with its state (filled by later work) |
//! | `attestations` | peer Accord ID bytes | the signed mutual attestation with that peer (filled by later work) |
//! | `revocations` | peer Accord ID bytes | the signed revocation of the connection with that peer (filled by later work) |
//! | `sessions` | peer Accord ID bytes | the Double Ratchet session state with that peer (filled by later work) |
//! | `messages` | conversation peer Accord ID bytes ‖ `u64` BE sequence | one stored message (filled by later work) |
//! | `outbox` | `u64` BE enqueue sequence | one message waiting for delivery (filled by later work) |
//! | `quota` | `u64` BE unix-ms timestamp ‖ invite id (16 bytes) | the invite-quota ledger entry (filled by later work) |
//! | `seen` | message id | the de-duplication entry (filled by later work) |

/// Store metadata. Key: a printable ASCII name of 1–64 bytes. Value: for `schema_version`, the schema
/// version as a `u32` big-endian; for other keys, opaque bytes chosen by the writer.
pub const META: &str = "meta";

/// The address book. Key: the peer's Accord ID bytes ([`AccordId::to_bytes`]). Value: the version
/// byte `0x01`, first-seen and last-seen times as `u64` big-endian unix milliseconds, a `u8`
/// address count, then each address as a `u16` big-endian length and the multiaddr's binary
/// form, newest first. At most 64 addresses of at most 256 bytes each.
///
/// [`AccordId::to_bytes`]: accord_identity::AccordId::to_bytes
pub const PEERS: &str = "peers";

/// Invites we sent. Key: the 16-byte invite id. Value: the invite and its state.
pub const INVITES_OUT: &str = "invites_out";

/// Invites we received. Key: the 16-byte invite id. Value: the invite and its state.
pub const INVITES_IN: &str = "invites_in";

/// Signed mutual attestations. Key: the peer's Accord ID bytes. Value: the attestation.
pub const ATTESTATIONS: &str = "attestations";

/// Revocations of connections. Key: the peer's Accord ID bytes. Value: the signed revocation.
pub const REVOCATIONS: &str = "revocations";

/// Ratchet sessions. Key: the peer's Accord ID bytes. Value: the session state.
pub const SESSIONS: &str = "sessions";

/// Message history. Key: the conversation peer's Accord ID bytes followed by a `u64`
/// big-endian sequence number, so one conversation's history is a contiguous range.
/// Value: the stored message.
pub const MESSAGES: &str = "messages";

/// Messages waiting for delivery. Key: a `u64` big-endian enqueue sequence, so the outbox
/// drains in order. Value: the queued message.
pub const OUTBOX: &str = "outbox";

/// The invite-quota ledger. Key: a `u64` big-endian unix-millisecond timestamp followed by the
/// 16-byte invite id, so the entries inside a quota window are a range. Value: the ledger entry.
pub const QUOTA: &str = "quota";

/// Message ids already processed, for de-duplication. Key: the message id. Value: the entry.
pub const SEEN: &str = "seen";

/// Every tree, in the order they are created when the store is opened.
pub const ALL: [&str; 11] = [
    META,
    PEERS,
    INVITES_OUT,
    INVITES_IN,
    ATTESTATIONS,
    REVOCATIONS,
    SESSIONS,
    MESSAGES,
    OUTBOX,
    QUOTA,
    SEEN,
];
