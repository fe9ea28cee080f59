//! The Message half's decisions, without I/O: time and inputs in, what to do out.
//!
//! - [`outbox`]: which queued messages go out and when (the window, the back-off, the retry
//!   on connect), what a delivery answer means, when a message is `sent`, and the halt after
//!   a failed flush;
//! - [`admission`]: the rules an incoming message passes before anything is decrypted;
//! - [`receipts`]: when a read receipt may go out.
//!
//! The reorder buffer ([`super::reorder`]) is of the same kind. The actor around them does
//! the I/O (the store, the swarm, the clock) and follows what they say.

pub(crate) mod admission;
pub(crate) mod outbox;
pub(crate) mod receipts;
