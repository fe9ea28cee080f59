//! Names of the sled trees, with the layout of each tree's keys and values.
//!
//! Every tree is created when the store is opened, so later work only fills them and never has
//! to think about whether a tree exists. All integers in keys are big-endian so that the
//! engine's byte-wise key order is also numeric order, which is what makes history pages,
//! the outbox and the quota ledger simple range scans. Every value that is a structured record
//! starts with a format version byte, so a record written by a newer build is recognised and
//! refused instead of being misread. No key holds a peer's Accord ID: records about a peer
//! are keyed by its *slot*, HMAC-SHA256 of its Accord ID bytes (the 38-byte binary `PeerId`
//! form of an ed25519 key) under a key derived from the store key (`peer_slot.rs`), always 32
//! bytes, so a `slot ‖ sequence` key has exactly one reading. "id ‖ …" inside a sealed value
//! below is the peer's Accord ID bytes, which the listings need and a slot cannot give back.
//!
//! # Encryption at rest
//!
//! The values of [`MESSAGES`], [`INVITES_OUT`], [`INVITES_IN`], [`SESSIONS`], [`PEERS`],
//! [`ATTESTATIONS`], [`CONVERSATIONS`], [`BLOCKED`], [`OUTBOX`] and [`SEEN`], and the `meta`
//! entries set through [`Store::set_meta`](crate::Store::set_meta), are *sealed*:
//! what is stored is `0xA1 ‖ nonce (24 bytes) ‖ XChaCha20-Poly1305(plain value) ‖ tag (16 bytes)`
//! where the plain value is the record described below and the associated data is
//! `"accord/v1/store-record" ‖ 0x00 ‖ tree name ‖ 0x00 ‖ record key`, under the
//! [`StoreKey`](accord_identity::StoreKey) the store was opened with (HKDF-SHA256 of the
//! identity seed, label `accord/v1/store-key`). A value moved to another key or tree does
//! not open and is skipped as damaged. `meta/store_key_check` holds a sealed constant that
//! is verified on open, so another key is refused at once. Keys are never sealed; what they
//! and the other plain bytes still show is listed in `at_rest.rs`. Schema 1 stores held the
//! same records unsealed, schema 2 stores sealed only messages, invites and sessions and keyed
//! records by Accord ID; opening either rewrites it into a fresh directory that replaces it,
//! so no old value is left in the engine's files.
//!
//! # Records
//!
//! Invites and connections are encoded with [postcard](https://docs.rs/postcard) (integers as
//! varints, options as a `0`/`1` tag, byte strings and strings as a varint length and the
//! bytes) of a private versioned mirror struct whose field order is the format. The key is not
//! repeated in the value. Invite state codes: 0 pending, 1 accepted, 2 declined, 3 withdrawn,
//! 4 expired. Messages, outbox entries and conversations are encoded the same way. Message
//! direction codes: 0 outgoing, 1 incoming; message state codes: 0 queued, 1 sent,
//! 2 delivered, 3 read, 4 stored (held by a mailbox of the recipient; between sent and
//! delivered).
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | printable ASCII name, 1–64 bytes (the store's own); `0x00` ‖ HMAC(slot key, label ‖ name) for a name set through [`Store::set_meta`](crate::Store::set_meta) | `schema_version`: `u32` BE; `clock_high_water_ms`: `u64` BE; `store_key_check`: the sealed key check; counts and markers; a `set_meta` name: sealed(opaque bytes) |
//! | `peers` | peer slot | sealed(id ‖ `0x01` ‖ first_seen_ms `u64` BE ‖ last_seen_ms `u64` BE ‖ count `u8` ‖ count × (len `u16` BE ‖ multiaddr bytes)), newest address first |
//! | `invites_out` | invite id (16 bytes) | sealed(`0x01` ‖ postcard(outgoing invite v1: peer id bytes, invite bytes, one-time secret (deleted on close), state code, note, created/expires/closed/next-publish times, publish count)) |
//! | `invites_in` | invite id (16 bytes) | sealed(`0x01` ‖ postcard(incoming invite v1: peer id bytes, invite bytes, note, state code, created/expires/received/closed times, acceptance bytes, ephemeral secret, next-publish time, publish count)) |
//! | `attestations` | peer slot | sealed(id ‖ `0x01` ‖ postcard(connection v1: attestation bytes, attestation id, since, alias, revoked-at, revocation bytes, next-publish time, publish count)) |
//! | `sessions` | peer slot | sealed(`0x01` ‖ the ratchet session state (opaque to the store, secret)) |
//! | `messages` | conversation peer slot ‖ local sequence `u64` BE | sealed(`0x01` ‖ postcard(message v1: direction code, message id, sender sequence, body, reply-to, sent/received times, state code, outbox sequence while queued)) |
//! | `outbox` | outbox sequence `u64` BE | recipient's peer slot ‖ sealed(`0x01` ‖ postcard(outbox entry v1: peer id bytes, message id, local sequence, envelope, attempts, next attempt time)) |
//! | `quota` | created_at_ms `u64` BE ‖ invite id (16 bytes) | empty (the key is the entry); the clock high-water mark is `meta/clock_high_water_ms` |
//! | `seen` | peer slot ‖ message id (16 bytes) | sealed(local sequence `u64` BE) (the message-id index, both directions) |
//! | `conversations` | peer slot | sealed(id ‖ `0x01` ‖ postcard(conversation v1: next local sequence, next sender sequence, unread, last message time, last read local sequence, then two fields added later, each absent in older records: option of the highest sender sequence received, option of the local sequence up to which read receipts were acknowledged)) |
//! | `blocked` | peer slot | sealed(id ‖ `0x01` ‖ blocked_at_ms `u64` BE) |
//! | `connect_index` | `L` ‖ kind (`o`/`i`/`c`) ‖ invite id or peer slot; `K` ‖ kind (`O`/`I`) ‖ invite id; `D` ‖ deadline `u64` BE ‖ kind ‖ invite id; `N` ‖ counter (`i`/`o`/`c`) | live entry: pending flag ‖ sealed(`0x01` ‖ postcard(peer, state, created, expires, next publish)); cool-down: sealed(`0x01` ‖ postcard(peer, declined, closed-at)); deadline: empty; counter: `u64` BE (see `invite_index.rs`) |
//! | `peers_seen` | last_seen_ms `u64` BE ‖ peer slot | empty: the address book in last-seen order, for eviction |
//!
//! Schema 2 stores written before `connect_index` and `peers_seen` existed are indexed once
//! when opened (a marker in `meta` records it). Schema 2 also had a `revocations` tree that
//! nothing ever wrote (revocations live in the connection record); it is no longer created,
//! and an empty one left by an older build is dropped on open.

/// Store metadata. Key: a printable ASCII name of 1–64 bytes. Value: for `schema_version`, the schema
/// version as a `u32` big-endian; for `clock_high_water_ms`, the highest clock reading seen
/// (unix milliseconds) as a `u64` big-endian; for `store_key_check`, a sealed constant that
/// proves the store key (see the module docs); all three are reserved and managed by the
/// store. For other keys, opaque bytes chosen by the writer.
pub const META: &str = "meta";

/// The address book. Key: the peer's slot. Value (sealed): the peer's Accord ID bytes
/// ([`AccordId::to_bytes`]), then the version byte `0x01`, first-seen and last-seen times as `u64` big-endian unix milliseconds, a `u8`
/// address count, then each address as a `u16` big-endian length and the multiaddr's binary
/// form, newest first. At most 64 addresses of at most 256 bytes each.
///
/// [`AccordId::to_bytes`]: accord_identity::AccordId::to_bytes
pub const PEERS: &str = "peers";

/// Invites we sent. Key: the 16-byte invite id. Value (sealed, see the module docs): the
/// version byte `0x01`, then the
/// postcard encoding of, in order: the invitee's Accord ID bytes, the encoded invite (bytes),
/// the one-time x25519 secret (`Option<[u8; 32]>`, deleted when the invite closes), the state
/// code (`u8`), the note (string), created_at_ms, expires_at_ms (`u64`), closed_at_ms,
/// next_publish_at_ms (`Option<u64>`) and publish_count (`u32`).
pub const INVITES_OUT: &str = "invites_out";

/// Invites we received. Key: the 16-byte invite id. Value (sealed, see the module docs): the
/// version byte `0x01`, then the
/// postcard encoding of, in order: the inviter's Accord ID bytes, the encoded invite (bytes),
/// the note (string), the state code (`u8`), created_at_ms, expires_at_ms, received_at_ms
/// (`u64`), closed_at_ms (`Option<u64>`), our encoded acceptance (`Option<bytes>`), our
/// ephemeral x25519 secret (`Option<[u8; 32]>`), next_publish_at_ms (`Option<u64>`) and
/// publish_count (`u32`).
pub const INVITES_IN: &str = "invites_in";

/// Connections (signed mutual attestations). Key: the peer's slot. Value (sealed): the peer's
/// Accord ID bytes, the version byte `0x01`, then the postcard encoding of, in order: the encoded attestation
/// (bytes), the attestation id (`[u8; 32]`), since_ms (`u64`), the alias (`Option<string>`),
/// revoked_at_ms (`Option<u64>`), the encoded revocation, ours or theirs (`Option<bytes>`),
/// next_publish_at_ms (`Option<u64>`) and publish_count (`u32`).
pub const ATTESTATIONS: &str = "attestations";

/// The Connect index: live invites, cool-downs, deletion deadlines and counters, written in
/// the same transactions as the records they describe (see the table in the module docs).
pub const CONNECT_INDEX: &str = "connect_index";

/// The address book in last-seen order. Key: last_seen_ms `u64` BE ‖ the peer's slot. Value:
/// empty. Written in the same transaction as the `peers` entry.
pub const PEERS_SEEN: &str = "peers_seen";

/// People: profiles, shared connection lists, our list's change log, acknowledgement marks
/// and introductions, under a one-byte kind prefix (see `people.rs` for the key layout).
/// Opened on first use, so a store written before it existed needs no migration.
pub const PEOPLE: &str = "people";

/// Mailboxes: the mail held for connections, the tokens they registered, our own mailboxes
/// and what connections announced of theirs, under a one-byte kind prefix (see `mailbox.rs`
/// for the key layout). Opened on first use, so a store written before it existed needs no
/// migration.
pub const MAILBOX: &str = "mailbox";

/// The tree of schema 2 that nothing wrote; dropped on open when empty.
pub(crate) const RETIRED_REVOCATIONS: &str = "revocations";

/// Ratchet sessions. Key: the peer's slot. Value (sealed, see the module docs): the
/// version byte `0x01` followed
/// by the session state exactly as the node serialized it (secret; read back into a buffer
/// that is wiped when dropped). At most 1 MiB.
pub const SESSIONS: &str = "sessions";

/// Message history. Key: the conversation peer's slot followed by the message's
/// local sequence as a `u64` big-endian (assigned by the store per conversation from 1, shared
/// by both directions), so one conversation's history is a contiguous range in display order.
/// Value (sealed, see the module docs): the version byte `0x01`, then the postcard encoding
/// of, in order: the direction code
/// (`u8`: 0 outgoing, 1 incoming), the message id (`[u8; 16]`), the sender's sequence number
/// (`u64`), the body (string), reply_to (`Option<[u8; 16]>`), sent_at_ms (`u64`),
/// received_at_ms (`Option<u64>`), the state code (`u8`: 0 queued, 1 sent, 2 delivered,
/// 3 read) and the outbox sequence of the message's outbox entry while it waits for delivery
/// (`Option<u64>`). At most 256 KiB.
pub const MESSAGES: &str = "messages";

/// Messages waiting for delivery. Key: a `u64` big-endian enqueue sequence, so the outbox
/// drains in order (numbering may restart once the outbox is empty). Value: the recipient's
/// slot, then sealed: the version byte `0x01`, then the postcard encoding of, in order: the recipient's Accord ID bytes, the
/// message id (`[u8; 16]`), the message's local sequence (`u64`), the encrypted envelope
/// (bytes), attempts (`u32`) and next_attempt_at_ms (`u64`). At most 256 KiB.
pub const OUTBOX: &str = "outbox";

/// The invite-quota ledger. Key: the invite's created_at_ms as a `u64` big-endian followed by
/// the 16-byte invite id, so the entries inside a quota window are a range. Value: empty. An
/// entry is written in the same transaction as the invite it counts and as the clock
/// high-water mark in `meta`.
pub const QUOTA: &str = "quota";

/// The message-id index, for de-duplication and lookups by id. Key: the conversation peer's
/// slot followed by the 16-byte message id. Value (sealed): the message's local sequence as
/// a `u64` big-endian (the `messages` key is slot ‖ that sequence). Written for messages in
/// both directions, in the same transaction as the message, so a message id is unique within
/// a conversation.
pub const SEEN: &str = "seen";

/// Conversations. Key: the peer's slot. Value (sealed): the peer's Accord ID bytes, the
/// version byte `0x01`, then the
/// postcard encoding of, in order: next_local_seq, next_sender_seq, unread,
/// last_message_at_ms and last_read_local_seq (all `u64`). Rewritten in the same transaction as
/// every message recorded in the conversation.
pub const CONVERSATIONS: &str = "conversations";

/// Blocked peers. Key: the peer's slot. Value (sealed): the peer's Accord ID bytes, the
/// version byte `0x01` followed by
/// the time the peer was blocked, unix milliseconds as a `u64` big-endian.
pub const BLOCKED: &str = "blocked";

/// Every tree, in the order they are created when the store is opened.
pub const ALL: [&str; 14] = [
    META,
    PEERS,
    INVITES_OUT,
    INVITES_IN,
    ATTESTATIONS,
    SESSIONS,
    MESSAGES,
    OUTBOX,
    QUOTA,
    SEEN,
    BLOCKED,
    CONVERSATIONS,
    CONNECT_INDEX,
    PEERS_SEEN,
];
