//! The Accord IDs of the libp2p peer IDs and the texts the core has parsed lately.

use std::collections::HashMap;
use std::str::FromStr;

use accord_identity::AccordId;
use accord_net::PeerId;

/// The most IDs [`KnownIds`] remembers of each kind; it forgets them all when full.
const MAX_KNOWN_IDS: usize = 1024;

/// The Accord IDs of the libp2p peer IDs and the texts parsed lately. Parsing either
/// decompresses a public key (tens of microseconds), which every incoming message and every
/// `send` would otherwise pay again for the same few peers.
#[derive(Debug, Default)]
pub(super) struct KnownIds {
    peers: HashMap<PeerId, AccordId>,
    texts: HashMap<String, AccordId>,
}

impl KnownIds {
    /// The Accord ID of a libp2p peer, or `None` if its key is not one.
    pub(super) fn of_peer(&mut self, peer: PeerId) -> Option<AccordId> {
        if let Some(id) = self.peers.get(&peer) {
            return Some(*id);
        }
        let id = AccordId::from_peer_id(peer).ok()?;
        if self.peers.len() >= MAX_KNOWN_IDS {
            self.peers.clear();
        }
        self.peers.insert(peer, id);
        Some(id)
    }

    /// `text` parsed as an Accord ID, or `None` if it is not one (an alias, say).
    pub(super) fn parse(&mut self, text: &str) -> Option<AccordId> {
        let text = text.trim();
        if let Some(id) = self.texts.get(text) {
            return Some(*id);
        }
        let id = AccordId::from_str(text).ok()?;
        if self.texts.len() >= MAX_KNOWN_IDS {
            self.texts.clear();
        }
        self.texts.insert(text.to_owned(), id);
        Some(id)
    }
}
