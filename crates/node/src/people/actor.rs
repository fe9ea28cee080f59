//! The People actor: it answers the people requests and keeps each connection up to date
//! with our profile, our shared list and the introductions we made, over the end-to-end
//! channel. What is owed is decided by [`super::sync`] from marks in the store; this loop
//! only runs store jobs, sends frames and records acknowledgements.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use accord_api::{Event, RemoteError, Request};
use accord_identity::{AccordId, Identity};
use accord_net::{DirectProtocol, NetHandle};
use accord_store::StoreHandle;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use super::outgoing::{self, OnAcknowledged, Plan};
use super::{PeopleMessage, commands, own};
use crate::Config;
use crate::message::wire::{self, Status};

/// How long after a new connection the first push is tried again, in case its channel was
/// not set up yet when it was first tried (bounded: one try per delay).
const SETTLE_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(10),
];

pub(crate) struct PeopleActor {
    pub(super) identity: Identity,
    pub(super) config: Arc<Config>,
    pub(super) store: StoreHandle,
    pub(super) net: NetHandle,
    pub(super) events: broadcast::Sender<Event>,
    pub(super) tx: mpsc::Sender<PeopleMessage>,
    /// Connections with a round of frames in flight (one at a time each, so they arrive in
    /// order). A change meanwhile is picked up when the round is acknowledged, since every
    /// acknowledgement prepares the next round.
    pub(super) busy: HashSet<AccordId>,
}

impl std::fmt::Debug for PeopleActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeopleActor")
            .field("id", &self.identity.id())
            .field("busy", &self.busy.len())
            .finish_non_exhaustive()
    }
}

impl PeopleActor {
    fn me(&self) -> AccordId {
        self.identity.id()
    }

    fn share(&self) -> bool {
        self.config.profile.share_connections
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<PeopleMessage>) {
        let mut events = self.events.subscribe();
        self.reconcile_and_push().await;
        loop {
            tokio::select! {
                message = rx.recv() => match message {
                    Some(PeopleMessage::Shutdown) | None => break,
                    Some(message) => self.on_message(message).await,
                },
                event = events.recv() => match event {
                    Ok(event) => self.on_event(event).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => self.reconcile_and_push().await,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    }

    async fn on_message(&mut self, message: PeopleMessage) {
        match message {
            PeopleMessage::Command { request, reply } => {
                let answer = self.on_request(request).await;
                let _ = reply.send(answer);
            }
            PeopleMessage::Answered {
                peer,
                outcome,
                then,
            } => self.on_answered(peer, outcome, then).await,
            PeopleMessage::Retry { peer } => self.push(peer).await,
            PeopleMessage::Shutdown => {}
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::InviteAccepted { peer, .. } => {
                self.reconcile_and_push().await;
                if let Ok(peer) = peer.parse::<AccordId>() {
                    self.settle(peer);
                }
            }
            Event::ConnectionRevoked { .. } => self.reconcile_and_push().await,
            Event::PeerConnected { peer, .. } => {
                if let Ok(peer) = peer.parse::<AccordId>() {
                    self.push(peer).await;
                }
            }
            _ => {}
        }
    }

    /// Tries a new connection again after each of [`SETTLE_DELAYS`].
    fn settle(&self, peer: AccordId) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            for delay in SETTLE_DELAYS {
                tokio::time::sleep(delay).await;
                if tx.send(PeopleMessage::Retry { peer }).await.is_err() {
                    return;
                }
            }
        });
    }

    /// Brings our list in step with our connections, then pushes to every connected one.
    pub(super) async fn reconcile_and_push(&mut self) {
        let share = self.share();
        if let Err(err) = self.store.run(move |s| outgoing::reconcile(s, share)).await {
            tracing::warn!(%err, "cannot bring the shared connection list up to date");
        }
        self.push_connected().await;
    }

    /// Pushes what is owed to every connected peer (the others get it when they connect).
    pub(super) async fn push_connected(&mut self) {
        let Ok(peers) = self.net.connected_peers().await else {
            return;
        };
        for connected in peers {
            if let Ok(peer) = AccordId::from_peer_id(connected.peer) {
                self.push(peer).await;
            }
        }
    }

    /// Sends `peer` the next frames owed to it, unless a round is already in flight.
    pub(super) async fn push(&mut self, peer: AccordId) {
        if self.busy.contains(&peer) {
            return;
        }
        let me = self.me();
        let job = self
            .store
            .run_with_ticket(
                move |s| outgoing::prepare(s, me, peer),
                |plan: &Option<Plan>| plan.is_some(),
            )
            .await;
        match job {
            Ok((Some(plan), ticket)) => {
                self.busy.insert(peer);
                let (net, tx) = (self.net.clone(), self.tx.clone());
                tokio::spawn(async move {
                    // A frame leaves only once the ratchet state it was made with is durable.
                    let outcome = match ticket.wait().await {
                        Ok(()) => send_all(&net, peer, plan.frames).await,
                        Err(_) => Round::Failed,
                    };
                    let answered = PeopleMessage::Answered {
                        peer,
                        outcome,
                        then: plan.then,
                    };
                    let _ = tx.send(answered).await;
                });
            }
            Ok((None, _)) => {}
            Err(err) => tracing::warn!(%peer, %err, "cannot prepare what a connection is owed"),
        }
    }

    async fn on_answered(&mut self, peer: AccordId, outcome: Round, then: OnAcknowledged) {
        self.busy.remove(&peer);
        match outcome {
            Round::Stored => {}
            Round::Failed => {
                // Still owed: sent again when the peer next connects or something changes.
                tracing::debug!(%peer, "people frames not acknowledged; kept owed");
                return;
            }
            Round::Refused => {
                // The connection refused a step (its copy of our list is not where we
                // thought): it gets the whole list from scratch next time.
                tracing::debug!(%peer, "people frames refused; the whole list goes next");
                let reset = self
                    .store
                    .run(move |s| {
                        let mut sync = s.people_sync(&peer)?;
                        sync.list_acked = 0;
                        s.put_people_sync(&peer, sync)
                    })
                    .await;
                if let Err(err) = reset {
                    tracing::warn!(%peer, %err, "cannot reset what a connection acknowledged");
                }
                return;
            }
        }
        let recorded = self
            .store
            .run(move |s| {
                if let Some(sync) = then.sync {
                    s.put_people_sync(&peer, sync)?;
                }
                if let Some(slot) = &then.notice_slot {
                    s.remove_owed_notice(slot)?;
                }
                Ok(())
            })
            .await;
        if let Err(err) = recorded {
            tracing::warn!(%peer, %err, "cannot record what a connection acknowledged");
            return;
        }
        self.push(peer).await;
    }

    async fn on_request(&mut self, request: Request) -> Result<Value, RemoteError> {
        let me = self.me();
        match request {
            Request::Profile { peer, with_avatar } => to_value(
                self.on_store(move |s| commands::profile(s, me, peer.as_deref(), with_avatar))
                    .await,
            ),
            Request::ProfileSet {
                name,
                headline,
                avatar_hex,
            } => {
                let change = own::ProfileChange {
                    name,
                    headline,
                    avatar_hex,
                };
                let identity = self.identity.clone();
                let now = crate::clock::now_ms();
                let info = self
                    .on_store(move |s| own::set_profile(s, &identity, change, now))
                    .await;
                if let Ok(info) = &info {
                    self.announce_own(info);
                    self.push_connected().await;
                }
                to_value(info)
            }
            Request::People { peer } => {
                to_value(self.on_store(move |s| commands::person(s, me, &peer)).await)
            }
            Request::Suggestions => {
                to_value(self.on_store(move |s| commands::suggestions(s, me)).await)
            }
            Request::Introduce {
                first,
                second,
                note,
            } => to_value(self.introduce(first, second, note).await),
            Request::Introductions => {
                to_value(self.on_store(move |s| commands::introductions(s, me)).await)
            }
            other => Err(RemoteError::new(
                accord_api::ErrorCode::Internal,
                format!("the people actor cannot answer {}", other.method()),
            )),
        }
    }

    /// Tells subscribers (other tabs of the web app, `accord watch`) that our profile changed.
    fn announce_own(&self, info: &accord_api::ProfileInfo) {
        let event = Event::ProfileUpdated {
            peer: info.id.clone(),
            name: info.name.clone().unwrap_or_default(),
            headline: info.headline.clone().unwrap_or_default(),
            version: info.version,
            avatar_bytes: info.avatar_bytes,
        };
        // No subscribers is fine: the event simply has no audience.
        let _ = self.events.send(event);
    }

    async fn introduce(
        &mut self,
        first: String,
        second: String,
        note: String,
    ) -> Result<accord_api::IntroductionInfo, RemoteError> {
        let identity = self.identity.clone();
        let now = crate::clock::now_ms();
        let (info, peers) = self
            .on_store(move |s| own::introduce(s, &identity, (&first, &second, &note), now))
            .await?;
        for peer in peers {
            self.push(peer).await;
        }
        Ok(info)
    }

    /// Runs a request's store job; a store failure is an internal error.
    async fn on_store<T, F>(&self, job: F) -> Result<T, RemoteError>
    where
        T: Send + 'static,
        F: FnOnce(&accord_store::Store) -> Result<T, RemoteError> + Send + 'static,
    {
        self.store
            .run(move |s| Ok(job(s)))
            .await
            .map_err(commands::store_failed)?
    }
}

/// A typed answer as the API's JSON.
fn to_value<T: serde::Serialize>(answer: Result<T, RemoteError>) -> Result<Value, RemoteError> {
    answer.and_then(|v| serde_json::to_value(v).map_err(crate::remote_error::internal))
}

/// How a round of frames ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    /// Every frame was stored.
    Stored,
    /// The connection refused one (it is not at the step we thought).
    Refused,
    /// One got no answer (unreachable, or our store failed first).
    Failed,
}

/// Sends `frames` to `peer` one after the other, stopping at the first that is not stored.
async fn send_all(net: &NetHandle, peer: AccordId, frames: Vec<Vec<u8>>) -> Round {
    for frame in frames {
        let answer = net
            .send_direct(DirectProtocol::Dm, peer.peer_id(), frame)
            .await;
        match answer
            .ok()
            .and_then(|bytes| wire::decode_status(&bytes).ok())
        {
            Some(Status::Stored) => {}
            Some(Status::Refused) => return Round::Refused,
            _ => return Round::Failed,
        }
    }
    Round::Stored
}
