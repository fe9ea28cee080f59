//! Finding a route to a connection before a direct message.
//!
//! A message goes over `/accord/dm/1` to a peer we may not be connected to. In order:
//!
//! 1. connected already: send;
//! 2. the address book in the store has addresses (identify reported them when we last met,
//!    so a restart needs no lookup): hand them to the swarm and send;
//! 3. otherwise, or when those addresses fail to dial: ask Kademlia for the peer's addresses
//!    (which include `/p2p-circuit` addresses through its relays), then send.
//!
//! A lookup that finds nothing fails the attempt with [`PEER_NOT_FOUND`]; the message stays
//! queued with that reason.

use std::time::Instant;

use accord_identity::AccordId;
use accord_net::{DirectProtocol, NetError, NetHandle};
use accord_store::StoreHandle;

/// The reason a queued message shows when the peer could not be found.
pub(crate) const PEER_NOT_FOUND: &str = "peer not found";

/// How a route was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Already connected.
    Connected,
    /// Addresses from the store's address book.
    Cached,
    /// Addresses from a Kademlia lookup.
    Lookup,
    /// Nothing known and no DHT to ask: let the swarm try what it has.
    Unknown,
}

/// Sends a direct message to `peer`, finding a route first. Errors are the reason shown on
/// the queued message.
pub(crate) async fn send_dm(
    net: &NetHandle,
    store: &StoreHandle,
    peer: AccordId,
    frame: Vec<u8>,
) -> Result<Vec<u8>, String> {
    send_routed(net, store, DirectProtocol::Dm, peer, frame).await
}

/// Sends a request on a direct `protocol` to `peer`, finding a route first (as [`send_dm`]).
pub(crate) async fn send_routed(
    net: &NetHandle,
    store: &StoreHandle,
    protocol: DirectProtocol,
    peer: AccordId,
    frame: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let route = route(net, store, peer).await?;
    match net
        .send_direct(protocol, peer.peer_id(), frame.clone())
        .await
    {
        Ok(answer) => Ok(answer),
        Err(NetError::Dial { .. }) if route == Route::Cached => {
            // The cached addresses are stale (the peer moved): ask the DHT and try once more.
            tracing::info!(%peer, "cached addresses failed; looking the peer up");
            lookup(net, peer).await?;
            net.send_direct(protocol, peer.peer_id(), frame)
                .await
                .map_err(|err| err.to_string())
        }
        Err(err) => Err(err.to_string()),
    }
}

async fn route(net: &NetHandle, store: &StoreHandle, peer: AccordId) -> Result<Route, String> {
    let connected = net.connected_peers().await.map_err(|err| err.to_string())?;
    if connected.iter().any(|p| p.peer == peer.peer_id()) {
        return Ok(Route::Connected);
    }
    if let Ok(Some(record)) = store.peer(&peer).await
        && !record.addrs.is_empty()
    {
        tracing::debug!(%peer, addrs = ?record.addrs, "dialling the peer at its cached addresses");
        for addr in record.addrs {
            net.add_address(peer.peer_id(), addr)
                .await
                .map_err(|err| err.to_string())?;
        }
        return Ok(Route::Cached);
    }
    match lookup(net, peer).await {
        Ok(()) => Ok(Route::Lookup),
        Err(reason) if reason == PEER_NOT_FOUND => Err(reason),
        Err(reason) => {
            tracing::debug!(%peer, %reason, "no lookup possible; trying what the swarm knows");
            Ok(Route::Unknown)
        }
    }
}

/// Asks Kademlia for `peer`'s addresses and hands them to the swarm.
async fn lookup(net: &NetHandle, peer: AccordId) -> Result<(), String> {
    let started = Instant::now();
    match net.lookup(peer.peer_id()).await {
        Ok(found) => {
            tracing::info!(
                %peer,
                addrs = ?found.addrs,
                source = ?found.source,
                elapsed_ms = started.elapsed().as_millis(),
                "found the peer's addresses by a Kademlia lookup"
            );
            for addr in found.addrs {
                net.add_address(peer.peer_id(), addr)
                    .await
                    .map_err(|err| err.to_string())?;
            }
            Ok(())
        }
        Err(NetError::NotFound(_)) => {
            tracing::info!(
                %peer,
                elapsed_ms = started.elapsed().as_millis(),
                "Kademlia lookup found nothing; the message stays queued"
            );
            Err(PEER_NOT_FOUND.to_owned())
        }
        Err(err) => Err(err.to_string()),
    }
}
