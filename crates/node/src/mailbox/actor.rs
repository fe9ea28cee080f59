//! The Mailbox actor: a thin loop. It answers `/accord/mailbox/1` requests (after the flush
//! that holds what they wrote), runs the fetch, registration and announcement rounds the
//! [`Schedule`] and the peer events call for, and answers the mailbox commands. It sleeps
//! until the schedule's next deadline and polls nothing.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr as _;
use std::sync::Arc;

use accord_api::Event;
use accord_identity::AccordId;
use accord_net::{DirectProtocol, NetHandle, PeerId, ResponseChannel};
use accord_store::StoreHandle;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::{broadcast, mpsc};

use super::announce_retry::AnnounceRetries;
use super::schedule::{Fetched, MAX_OWN, Schedule};
use super::{MailboxMessage, owner, serve};
use crate::message::MessageHandle;
use crate::{Config, clock};

/// The most rounds (fetches, registrations, announcements) under way at once; and the most
/// answers waiting for their flush.
const MAX_ROUNDS: usize = 256;

/// How a round ended.
pub(super) enum RoundDone {
    /// A fetch round from one of our mailboxes.
    Fetched(AccordId, Fetched),
    /// A registration with a connection we might choose automatically.
    Tried(AccordId, Fetched),
    /// An announcement to a connection; `true`: not taken, to be sent again.
    Announced(AccordId, bool),
    /// Our tokens were withdrawn from a dropped mailbox (or could not be).
    Withdrawn,
}

pub(super) struct MailboxActor {
    pub(super) me: AccordId,
    pub(super) config: Arc<Config>,
    pub(super) store: StoreHandle,
    pub(super) net: NetHandle,
    events: broadcast::Sender<Event>,
    messages: MessageHandle,
    pub(super) schedule: Schedule,
    /// Requests refused, by reason (`accord stats`).
    dropped: BTreeMap<&'static str, u64>,
    rounds: FuturesUnordered<BoxFuture<'static, RoundDone>>,
    answering: FuturesUnordered<BoxFuture<'static, ()>>,
    /// Connections an announcement is under way to.
    announcing: HashSet<AccordId>,
    /// Connections that answered that they do not serve (not chosen automatically again
    /// until the daemon restarts); at most [`MAX_ROUNDS`].
    pub(super) refusing: Vec<AccordId>,
    /// Whether the automatic choice is on (the user has not chosen or dropped a mailbox).
    pub(super) auto: bool,
    /// Announcements a connection did not take, sent again after a short back-off.
    announce_retries: AnnounceRetries,
}

impl MailboxActor {
    pub(super) fn new(
        me: AccordId,
        config: Arc<Config>,
        store: StoreHandle,
        net: NetHandle,
        events: broadcast::Sender<Event>,
        messages: MessageHandle,
    ) -> Self {
        MailboxActor {
            me,
            config,
            store,
            net,
            events,
            messages,
            schedule: Schedule::default(),
            dropped: BTreeMap::new(),
            rounds: FuturesUnordered::new(),
            answering: FuturesUnordered::new(),
            announcing: HashSet::new(),
            refusing: Vec::new(),
            auto: false,
            announce_retries: AnnounceRetries::default(),
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<MailboxMessage>) {
        let mut events = self.events.subscribe();
        self.start().await;
        loop {
            let due = self.wake_at().map(clock::deadline_from_unix_ms);
            tokio::select! {
                message = rx.recv() => match message {
                    Some(MailboxMessage::Shutdown) | None => break,
                    Some(message) => self.on_message(message).await,
                },
                event = events.recv() => match event {
                    Ok(event) => self.on_event(&event),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Some(done) = self.rounds.next(), if !self.rounds.is_empty() => {
                    self.on_round(done).await;
                }
                Some(()) = self.answering.next(), if !self.answering.is_empty() => {}
                () = clock::sleep_until(due), if due.is_some() => self.on_tick().await,
            }
        }
        // Answers whose writes are already queued still go out once durable.
        while self.answering.next().await.is_some() {}
    }

    /// Loads our mailboxes (fetched from at once) and deletes mail held past its age.
    async fn start(&mut self) {
        let max_age_ms = self.config.mailbox.limits().max_age_ms;
        let now = clock::now_ms();
        let loaded = self
            .store
            .run(move |s| {
                s.expire_all_held(max_age_ms, now)?;
                Ok((s.own_mailboxes()?, s.mailbox_manual()?))
            })
            .await;
        match loaded {
            Ok((mine, manual)) => {
                let ids: Vec<AccordId> = mine.iter().map(|m| m.id).collect();
                self.schedule.set_mailboxes(&ids, now);
                self.auto = !manual;
            }
            Err(err) => tracing::warn!(%err, "cannot load our mailboxes"),
        }
    }

    fn wake_at(&self) -> Option<u64> {
        let fetch = self.schedule.wake_at();
        let auto = self
            .auto
            .then(|| self.schedule.auto_check_at(clock::now_ms()))
            .flatten();
        [fetch, auto, self.announce_retries.wake_at()]
            .into_iter()
            .flatten()
            .min()
    }

    async fn on_message(&mut self, message: MailboxMessage) {
        match message {
            MailboxMessage::Command { request, reply } => {
                let answer = self.on_command(request).await;
                // The user may have gone away meanwhile.
                let _ = reply.send(answer);
            }
            MailboxMessage::Stats { reply } => {
                let _ = reply.send(self.dropped.clone());
            }
            MailboxMessage::Incoming {
                peer,
                data,
                channel,
            } => self.on_incoming(peer, data, channel).await,
            MailboxMessage::Shutdown => {}
        }
    }

    /// Serves one request; the answer leaves once what it wrote is durable.
    async fn on_incoming(
        &mut self,
        peer: PeerId,
        data: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        let Ok(peer) = AccordId::from_peer_id(peer) else {
            self.count("mailbox_not_an_accord_id");
            return;
        };
        if self.answering.len() >= MAX_ROUNDS {
            // Dropping the channel fails the request; the requester tries again.
            self.count("mailbox_busy");
            return;
        }
        let section = self.config.mailbox.clone();
        let now = clock::now_ms();
        let served = self
            .store
            .run_with_ticket(
                move |s| serve::serve(s, &section, &peer, &data, now),
                |served| served.wrote,
            )
            .await;
        let (served, ticket) = match served {
            Ok(done) => done,
            Err(err) => {
                self.count("mailbox_store_failed");
                tracing::warn!(%peer, %err, "cannot serve a mailbox request");
                return;
            }
        };
        if let Some(reason) = served.refused {
            self.count(reason);
            tracing::info!(%peer, reason, "refused a mailbox request");
        }
        let net = self.net.clone();
        self.answering.push(Box::pin(async move {
            if let Err(err) = ticket.wait().await {
                tracing::warn!(%err, "a mailbox write did not reach the disk; not answered");
                return;
            }
            let bytes = served.response.encode();
            if let Err(err) = net
                .respond_direct(DirectProtocol::Mailbox, channel, bytes)
                .await
            {
                tracing::debug!(%err, "could not answer a mailbox request");
            }
        }));
    }

    fn count(&mut self, reason: &'static str) {
        *self.dropped.entry(reason).or_default() += 1;
    }

    fn on_event(&mut self, event: &Event) {
        let now = clock::now_ms();
        match event {
            Event::PeerConnected { peer, .. } => {
                let Ok(id) = AccordId::from_str(peer) else {
                    return;
                };
                // A mailbox of ours is fetched from at once (the next tick is now).
                self.schedule.connected(id, now);
                self.announce_to(id);
            }
            Event::InviteAccepted { peer, .. } => {
                // A new connection: it learns where to leave our mail (its token is
                // registered with our mailboxes at their next fetch round, which this pulls
                // forward).
                if let Ok(id) = AccordId::from_str(peer) {
                    self.announce_to(id);
                    self.schedule.refresh_all(now);
                }
            }
            Event::PeerDisconnected { peer } => {
                if let Ok(id) = AccordId::from_str(peer) {
                    self.schedule.disconnected(&id, now);
                }
            }
            _ => {}
        }
    }

    /// Starts an announcement round to `peer` (it sends nothing if `peer` is not a
    /// connection or already has our current announcement).
    /// Returns whether an announcement to `peer` is under way now.
    pub(super) fn announce_to(&mut self, peer: AccordId) -> bool {
        if self.announcing.contains(&peer) {
            return true;
        }
        if self.rounds.len() >= MAX_ROUNDS {
            return false;
        }
        self.announcing.insert(peer);
        let (net, store) = (self.net.clone(), self.store.clone());
        self.rounds.push(Box::pin(async move {
            let again = owner::announce(net, store, peer).await;
            RoundDone::Announced(peer, again)
        }));
        true
    }

    /// Withdraws our tokens from a mailbox we dropped.
    pub(super) fn withdraw_from(&mut self, mailbox: AccordId) {
        if self.rounds.len() >= MAX_ROUNDS {
            return;
        }
        let (net, store) = (self.net.clone(), self.store.clone());
        self.rounds.push(Box::pin(async move {
            owner::unregister(net, store, mailbox).await;
            RoundDone::Withdrawn
        }));
    }

    /// Announces to every connected peer (after our mailboxes changed).
    pub(super) async fn announce_to_connected(&mut self) {
        let connected = self.net.connected_peers().await.unwrap_or_default();
        for peer in connected {
            if let Ok(id) = AccordId::from_peer_id(peer.peer) {
                self.announce_to(id);
            }
        }
    }

    async fn on_tick(&mut self) {
        let now = clock::now_ms();
        for peer in self.announce_retries.due(now) {
            if !self.announce_to(peer) {
                // No room for the round now: counted as a failed attempt, tried later.
                self.announce_retries.failed(peer, now);
            }
        }
        for mailbox in self.schedule.due(now) {
            let (net, store, messages, me) = (
                self.net.clone(),
                self.store.clone(),
                self.messages.clone(),
                self.me,
            );
            self.rounds.push(Box::pin(async move {
                let fetched = owner::fetch(net, store, messages, me, mailbox).await;
                RoundDone::Fetched(mailbox, fetched)
            }));
        }
        if self.auto {
            self.try_automatic_choice(now).await;
        }
    }

    /// Tries the connection the schedule picks, if any: registering with it tells whether it
    /// serves.
    async fn try_automatic_choice(&mut self, now: u64) {
        let connections: Vec<AccordId> = self
            .store
            .run(|s| s.connections())
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.revoked_at_ms.is_none() && c.peer != self.me)
            .map(|c| c.peer)
            .collect();
        let Some(candidate) = self
            .schedule
            .auto_candidate(&connections, &self.refusing, now)
        else {
            return;
        };
        // Tried once: until the round ends, the candidate counts as refusing, so the next
        // tick does not try it again.
        self.refusing.push(candidate);
        let (net, store) = (self.net.clone(), self.store.clone());
        self.rounds.push(Box::pin(async move {
            RoundDone::Tried(candidate, owner::register(net, store, candidate).await)
        }));
    }

    async fn on_round(&mut self, done: RoundDone) {
        let now = clock::now_ms();
        match done {
            RoundDone::Announced(peer, again) => {
                self.announcing.remove(&peer);
                if again {
                    self.announce_retries.failed(peer, now);
                } else {
                    self.announce_retries.settled(&peer);
                }
            }
            RoundDone::Withdrawn => {}
            RoundDone::Fetched(mailbox, fetched) => {
                self.schedule.fetched(&mailbox, fetched, now);
                if matches!(fetched, Fetched::Reached { .. }) {
                    self.note_reached(mailbox, now).await;
                }
            }
            RoundDone::Tried(candidate, Fetched::Reached { .. }) => {
                self.refusing.retain(|id| *id != candidate);
                if self.auto && self.schedule.mailbox_count() < MAX_OWN {
                    tracing::info!(%candidate, "chose a connection as a mailbox automatically");
                    if let Err(err) = self.adopt(candidate, false).await {
                        tracing::warn!(%err, "cannot record an automatic mailbox");
                    }
                }
            }
            RoundDone::Tried(candidate, _) => {
                // Kept as refusing (bounded): it is not tried again before a restart.
                if self.refusing.len() > MAX_ROUNDS {
                    self.refusing.remove(0);
                }
                tracing::debug!(%candidate, "a connection did not take our registration");
            }
        }
    }

    /// Records when we last reached `mailbox`.
    async fn note_reached(&mut self, mailbox: AccordId, now: u64) {
        let noted = self
            .store
            .run(move |s| {
                let mine = s.own_mailboxes()?;
                if let Some(mut own) = mine.into_iter().find(|m| m.id == mailbox) {
                    own.last_reached_ms = Some(now);
                    s.put_own_mailbox(&own)?;
                }
                Ok(())
            })
            .await;
        if let Err(err) = noted {
            tracing::warn!(%err, "cannot record when a mailbox was reached");
        }
    }
}
