//! The Accord node daemon.
//!
//! A [`Node`] wires the parts together: it takes the data dir's lock, reads the configuration,
//! opens the identity and the store, starts the libp2p event loop and serves the control API
//! on `<data-dir>/accord.sock`. Its own loop `select!`s over network events, control clients
//! and the shutdown signal; the swarm and the database each stay with their single owner
//! (`accord-net`'s event loop and `accord-store`'s thread), reached through handles.
//!
//! ```no_run
//! # async fn demo() -> Result<(), accord_node::NodeError> {
//! use accord_node::{Node, NodeOptions};
//! let mut options = NodeOptions::new("/tmp/accord-demo");
//! options.listen = vec!["/ip4/127.0.0.1/tcp/0".to_owned()];
//! options.mdns = Some(false);
//! let node = Node::start(options).await?;
//! println!("node {} is up", node.id());
//! node.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod clock;
mod config;
mod connect;
mod control;
mod data_dir;
mod error;
mod hex;
mod identity_file;
mod mailbox;
mod message;
mod node;
mod people;
mod reach;
mod remote_error;
mod requests;
mod rng;
mod ui;

pub use clock::{ClockOffsetError, now_ms};
pub use config::{
    Config, ConfigError, GossipConfig, InvitesConfig, LimitsSection, MailboxSection,
    MessagesConfig, NetworkConfig, ProfileSection, RelaySection, StoreSection, UiSection,
};
pub use data_dir::{DataDir, DataDirLock, write_atomically};
pub use error::NodeError;
pub use identity_file::{create_identity, load_identity, load_or_create_identity};
/// The bytes of `/accord/mailbox/1`, of a held item and of a mailbox announcement, public for
/// the same reason.
pub use mailbox::wire as mailbox_wire;
/// The bytes of `/accord/dm/1` (request, response, encrypted content), public so that the
/// fuzz targets and the decoder tests can drive the decoders a peer's bytes reach.
pub use message::wire;
pub use node::{Node, NodeOptions};
pub use rng::os_rng;

/// Re-exported so that callers can build a passphrase without naming the identity crate.
pub use accord_identity::keyfile::Passphrase;
