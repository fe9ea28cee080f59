//! What the store knows of our network, read in one store job: our active connections (with
//! their aliases), the lists they shared, and the names we can show. Degrees and mutual
//! connections are then computed by [`accord_handshake::KnownNetwork`], a pure function.

use std::collections::{BTreeMap, BTreeSet};

use accord_handshake::{AttestationId, KnownNetwork, ProfileCard, SharedList, Standing};
use accord_identity::AccordId;
use accord_store::{Connection, Store, StoreError};

use super::content;

/// A snapshot of the people data, taken on the store thread.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Our active connections.
    pub(crate) connections: BTreeSet<AccordId>,
    /// Their aliases.
    pub(crate) aliases: BTreeMap<AccordId, String>,
    /// The lists our connections shared.
    pub(crate) lists: BTreeMap<AccordId, SharedList>,
    /// Attestations we know to be revoked: our own revoked connections'.
    pub(crate) revoked: BTreeSet<AttestationId>,
}

impl Snapshot {
    /// Reads the snapshot.
    pub(crate) fn read(store: &Store) -> Result<Self, StoreError> {
        let mut snapshot = Snapshot::default();
        for connection in store.connections()? {
            snapshot.add_connection(&connection);
        }
        for (owner, bytes) in store.shared_lists()? {
            // A list we cannot read proves nothing; the next update from its owner replaces it.
            if let Ok(list) = content::decode_list(&bytes) {
                snapshot.lists.insert(owner, list);
            }
        }
        Ok(snapshot)
    }

    fn add_connection(&mut self, connection: &Connection) {
        if connection.revoked_at_ms.is_some() {
            self.revoked
                .insert(AttestationId(connection.attestation_id));
            return;
        }
        self.connections.insert(connection.peer);
        if let Some(alias) = &connection.alias {
            self.aliases.insert(connection.peer, alias.clone());
        }
    }

    /// The degree computation over this snapshot.
    pub(crate) fn network(&self, me: AccordId) -> KnownNetwork<'_> {
        KnownNetwork {
            me,
            connections: &self.connections,
            lists: &self.lists,
            revoked: &self.revoked,
        }
    }

    /// `target`'s standing from `me`.
    pub(crate) fn standing(&self, me: AccordId, target: &AccordId) -> Standing {
        self.network(me).standing(target)
    }
}

/// The name to show for `peer`: the local alias first, then the name in their profile.
pub(crate) fn shown_name(store: &Store, peer: &AccordId) -> Result<Option<String>, StoreError> {
    if let Some(alias) = store.connection(peer)?.and_then(|c| c.alias) {
        return Ok(Some(alias));
    }
    Ok(known_card(store, peer)?.map(|card| card.name))
}

/// The profile card we hold for `peer`, if any.
pub(crate) fn known_card(
    store: &Store,
    peer: &AccordId,
) -> Result<Option<ProfileCard>, StoreError> {
    Ok(store
        .peer_profile(peer)?
        .and_then(|record| ProfileCard::decode(&record.card).ok()))
}
