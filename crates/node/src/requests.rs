//! Answers to control-API requests.
//!
//! A [`NodeContext`] is what a control connection may use: cloneable handles to the network
//! and the store, the node's identity, its configuration, the event broadcaster and the
//! shutdown trigger. It owns no resource itself.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use accord_api::{
    ClockInfo, ErrorCode, Event, IdInfo, LookupInfo, LookupSource, PeerInfo, Reachability,
    RelayInfo, RemoteError, Request, ShutdownInfo, StatsInfo, StatusInfo, Via, format_rfc3339_ms,
};
use accord_handshake::QuotaError;
use accord_identity::AccordId;
use accord_net::{Multiaddr, NetError, NetHandle, with_peer_id};
use accord_store::StoreHandle;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use crate::Config;
use crate::connect::{ConnectCommand, ConnectHandle, ConnectReply};
use crate::mailbox::MailboxHandle;
use crate::message::{MessageCommand, MessageHandle, MessageReply};
use crate::people::PeopleHandle;

/// How long a `dial` request waits for the connection.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// What a control connection can reach.
#[derive(Debug, Clone)]
pub(crate) struct NodeContext {
    pub(crate) id: AccordId,
    pub(crate) net: NetHandle,
    pub(crate) store: StoreHandle,
    pub(crate) config: Arc<Config>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) shutdown: mpsc::Sender<()>,
    pub(crate) connect: ConnectHandle,
    pub(crate) messages: MessageHandle,
    pub(crate) people: PeopleHandle,
    pub(crate) mailbox: MailboxHandle,
    pub(crate) web_app: Arc<crate::ui::WebApp>,
}

type Answer = Result<Value, RemoteError>;

/// The weekly invite quota, as `accord status` shows it.
struct QuotaStatus {
    /// Invites the rolling window still allows.
    left: u32,
    /// When the next slot frees, if none is left (never, for a limit of 0: absent).
    next_slot_at: Option<String>,
    /// The clock and the high-water mark the quota is judged by.
    clock: ClockInfo,
}

impl NodeContext {
    /// A new event subscription.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Serves one request.
    pub(crate) async fn handle(&self, request: Request) -> Answer {
        match request {
            Request::Id => to_value(self.id_info().await?),
            Request::Status => to_value(self.status().await?),
            Request::Peers => to_value(self.peers().await?),
            Request::Lookup { peer } => to_value(self.lookup(&peer).await?),
            Request::Dial { addr } => to_value(self.dial(&addr).await?),
            Request::Stats => to_value(self.stats().await?),
            Request::Connect { peer, note, via } => self.invite(peer, note, via).await,
            Request::Invites { direction } => {
                self.connect_command(ConnectCommand::Invites { direction })
                    .await
            }
            Request::Accept { target } => {
                self.connect_command(ConnectCommand::Accept { target })
                    .await
            }
            Request::Decline { target } => {
                self.connect_command(ConnectCommand::Decline { target })
                    .await
            }
            Request::DeclineStrangers => {
                self.connect_command(ConnectCommand::DeclineStrangers).await
            }
            Request::Withdraw { target } => {
                self.connect_command(ConnectCommand::Withdraw { target })
                    .await
            }
            Request::Block { peer } => {
                self.connect_command(ConnectCommand::Block { peer, block: true })
                    .await
            }
            Request::Unblock { peer } => {
                self.connect_command(ConnectCommand::Block { peer, block: false })
                    .await
            }
            Request::Disconnect { peer } => {
                self.connect_command(ConnectCommand::Disconnect { peer })
                    .await
            }
            Request::Connections => self.connect_command(ConnectCommand::Connections).await,
            Request::Attestation { peer } => {
                self.connect_command(ConnectCommand::Attestation { peer })
                    .await
            }
            Request::Alias { peer, name } => {
                self.connect_command(ConnectCommand::Alias { peer, name })
                    .await
            }
            request @ (Request::Send { .. }
            | Request::History { .. }
            | Request::Inbox
            | Request::Verify { .. }) => {
                self.message_command(MessageCommand::from_request(request)?)
                    .await
            }
            request @ (Request::Profile { .. }
            | Request::ProfileSet { .. }
            | Request::People { .. }
            | Request::Suggestions
            | Request::Introduce { .. }
            | Request::Introductions) => self.people.command(request).await,
            Request::Subscribe => Err(RemoteError::new(
                ErrorCode::InvalidRequest,
                "subscribe is handled by the connection",
            )),
            request @ (Request::Mailbox
            | Request::MailboxUse { .. }
            | Request::MailboxDrop { .. }) => self.mailbox.command(request).await,
            Request::UiOpen => to_value(self.web_app.open().await?),
            Request::UiRevoke => to_value(self.web_app.revoke().await),
            Request::Shutdown => {
                // A full queue means a shutdown is already under way.
                let _ = self.shutdown.try_send(());
                to_value(ShutdownInfo { stopping: true })
            }
        }
    }

    /// Runs a Connect command and turns its typed reply into the API's JSON.
    async fn message_command(&self, command: MessageCommand) -> Answer {
        match self.messages.run(command).await? {
            MessageReply::Sent(info) => to_value(info),
            MessageReply::History(mut list) => {
                let me = self.id;
                let named = self
                    .store
                    .run(move |s| crate::people::names::messages(s, me, &mut list).map(|()| list))
                    .await
                    .map_err(internal)?;
                to_value(named)
            }
            MessageReply::Inbox(mut list) => {
                let named = self
                    .store
                    .run(move |s| crate::people::names::conversations(s, &mut list).map(|()| list))
                    .await
                    .map_err(internal)?;
                to_value(named)
            }
            MessageReply::Verify(info) => to_value(info),
            MessageReply::Status(list) => to_value(list),
            MessageReply::Stats(counts) => to_value(counts),
        }
    }

    async fn connect_command(&self, command: ConnectCommand) -> Answer {
        match self.connect.command(command).await? {
            ConnectReply::Invite(summary) => to_value(summary),
            ConnectReply::Invites(mut list) => {
                let me = self.id;
                let named = self
                    .store
                    .run(move |s| crate::people::names::invites(s, me, &mut list).map(|()| list))
                    .await
                    .map_err(internal)?;
                to_value(named)
            }
            ConnectReply::Declined(info) => to_value(info),
            ConnectReply::Block(info) => to_value(info),
            ConnectReply::Connection(info) => to_value(info),
            ConnectReply::Connections(mut list) => {
                let named = self
                    .store
                    .run(move |s| crate::people::names::connections(s, &mut list).map(|()| list))
                    .await
                    .map_err(internal)?;
                to_value(named)
            }
            ConnectReply::Attestation(text) => to_value(text),
            ConnectReply::Alias(info) => to_value(info),
            ConnectReply::Stats(counts) => to_value(counts),
            ConnectReply::ShardStore {
                bytes,
                frames,
                level,
                network_estimate,
            } => to_value(serde_json::json!({
                "bytes": bytes,
                "frames": frames,
                "level": level,
                "network_estimate": network_estimate,
            })),
        }
    }

    /// `connect`: the invite presents our profile card and the `via` introduction.
    async fn invite(&self, peer: String, note: String, via: Option<String>) -> Answer {
        let presentation = self.presentation(&peer, via).await?;
        self.connect_command(ConnectCommand::Connect {
            peer,
            note,
            presentation: Box::new(presentation),
        })
        .await
    }

    /// What an invite to `peer` presents: our profile card, and the introduction `via` made
    /// (see [`crate::people::own::presentation`]). A `peer` that is not an ID presents
    /// nothing here; the Connect core refuses it with its own message.
    async fn presentation(
        &self,
        peer: &str,
        via: Option<String>,
    ) -> Result<accord_handshake::Presentation, RemoteError> {
        let Ok(invitee) = AccordId::from_str(peer.trim()) else {
            return Ok(accord_handshake::Presentation::default());
        };
        let me = self.id;
        self.store
            .run(move |s| {
                Ok(crate::people::own::presentation(
                    s,
                    me,
                    &invitee,
                    via.as_deref(),
                ))
            })
            .await
            .map_err(internal)?
    }

    async fn id_info(&self) -> Result<IdInfo, RemoteError> {
        let peer = self.id.peer_id();
        let addrs = self.net.listen_addrs().await.map_err(net_error)?;
        Ok(IdInfo {
            id: self.id.to_string(),
            fingerprint: self.id.fingerprint().to_string(),
            addrs: addrs
                .iter()
                .map(|addr| with_peer_id(addr, peer).to_string())
                .collect(),
        })
    }

    async fn status(&self) -> Result<StatusInfo, RemoteError> {
        let peers = self.net.connected_peers().await.map_err(net_error)?;
        let counts = self.store.counts().await.map_err(internal)?;
        let quota = self.quota_status().await?;
        let reach = self.net.reach().await.map_err(net_error)?;
        let MessageReply::Status(queued) = self.messages.run(MessageCommand::Status).await? else {
            return Err(internal(
                "the Message actor answered status with another reply",
            ));
        };
        Ok(StatusInfo {
            id: self.id.to_string(),
            peers: peers.len(),
            connections: counts.attestations,
            pending_incoming: counts.invites_in,
            pending_outgoing: counts.invites_out,
            outbox: counts.outbox,
            invites_left_this_week: quota.left,
            reachability: match reach.reachability {
                accord_net::Reachability::Public => Reachability::Public,
                accord_net::Reachability::Private => Reachability::Private,
                accord_net::Reachability::Unknown => Reachability::Unknown,
            },
            relays: reach
                .relays
                .into_iter()
                .map(|relay| RelayInfo {
                    peer: relay.peer.to_string(),
                    addr: relay.addr.to_string(),
                    connected: relay.connected,
                    reserved: relay.reserved.map(|addr| addr.to_string()),
                })
                .collect(),
            relay_server: reach.relay_server,
            queued,
            clock: Some(quota.clock),
            invites_next_slot_at: quota.next_slot_at,
        })
    }

    /// The weekly invite quota as the Connect actor judges it.
    async fn quota_status(&self) -> Result<QuotaStatus, RemoteError> {
        // The same rule the Connect actor enforces: a rolling window measured from the later
        // of now and the highest time ever seen, so a clock set back frees nothing. The actor
        // raises the mark only to a bounded reading (`accord_handshake::TimeEvidence`), so a
        // clock that ran far ahead and was corrected does not lock the quota for its jump.
        let high_water = self.store.clock_high_water_ms().await.map_err(internal)?;
        let policy = accord_handshake::QuotaPolicy {
            weekly_limit: self.config.invites.weekly_limit,
            ..accord_handshake::QuotaPolicy::default()
        };
        let now = crate::clock::now_ms();
        // Only the rolling window counts, so only the window is read.
        let since = now.max(high_water).saturating_sub(policy.window_ms);
        let sent_at = self.store.quota_sent_at(since).await.map_err(internal)?;
        // Outstanding invites have a limit of their own; only the weekly one frees at a time.
        let next_slot_at = match policy.check(&sent_at, 0, now, high_water) {
            Err(QuotaError::WeeklyLimit {
                next_slot_at_ms, ..
            }) if next_slot_at_ms != u64::MAX => Some(format_rfc3339_ms(next_slot_at_ms)),
            _ => None,
        };
        Ok(QuotaStatus {
            left: policy.remaining(&sent_at, now, high_water),
            next_slot_at,
            clock: ClockInfo {
                now: format_rfc3339_ms(now),
                high_water: format_rfc3339_ms(high_water),
            },
        })
    }

    async fn stats(&self) -> Result<StatsInfo, RemoteError> {
        let net = self.net.stats().await.map_err(net_error)?;
        let mut dropped: std::collections::BTreeMap<String, u64> =
            match self.connect.command(ConnectCommand::Stats).await? {
                ConnectReply::Stats(counts) => counts
                    .into_iter()
                    .map(|(reason, count)| (reason.to_owned(), count))
                    .collect(),
                other => return Err(internal(format!("unexpected Connect reply {other:?}"))),
            };
        let MessageReply::Stats(messages) = self.messages.run(MessageCommand::Stats).await? else {
            return Err(internal(
                "the Message actor answered stats with another reply",
            ));
        };
        for (reason, count) in messages.into_iter().chain(self.mailbox.stats().await?) {
            *dropped.entry(reason.to_owned()).or_default() += count;
        }
        // The network layer's per-peer rate limit drops frames before the relay check does.
        // Like every reason, they are listed once something was dropped for them.
        for (reason, count) in [
            ("relay_rate_limited", net.gossip_rate_limited),
            ("relay_rate_penalised", net.gossip_rate_penalised),
            // The direct protocols' per-peer guards (issue 15 items 2 and 9).
            ("dm_not_connection", net.dm_refused),
            ("direct_rate_limited", net.direct_rate_limited),
            ("direct_bytes_limited", net.direct_bytes_limited),
            ("dht_record_refused", net.dht_records_refused),
        ] {
            if count > 0 {
                dropped.insert(reason.to_owned(), count);
            }
        }
        let ConnectReply::ShardStore {
            bytes: shard_store_bytes,
            frames: shard_store_frames,
            level: shard_level,
            network_estimate,
        } = self.connect.command(ConnectCommand::ShardStore).await?
        else {
            return Err(internal("unexpected Connect reply to ShardStore"));
        };
        Ok(StatsInfo {
            dropped,
            shard_store_bytes,
            shard_store_frames,
            shard_level,
            network_estimate,
            gossip_rejected: net.gossip_rejected,
            gossip_ignored: net.gossip_ignored,
            events_dropped: net.events_dropped,
            net_bytes_in: net.bytes_in,
            net_bytes_out: net.bytes_out,
        })
    }

    async fn peers(&self) -> Result<Vec<PeerInfo>, RemoteError> {
        let peers = self.net.connected_peers().await.map_err(net_error)?;
        Ok(peers
            .into_iter()
            .map(|peer| PeerInfo {
                id: peer.peer.to_string(),
                addrs: peer.addrs.iter().map(ToString::to_string).collect(),
                via: match peer.via {
                    accord_net::Via::Direct => Via::Direct,
                    accord_net::Via::Relayed => Via::Relayed,
                },
            })
            .collect())
    }

    async fn lookup(&self, peer: &str) -> Result<LookupInfo, RemoteError> {
        let id = AccordId::from_str(peer).map_err(|err| {
            RemoteError::new(
                ErrorCode::InvalidParams,
                format!("{peer:?} is not an Accord ID: {err}"),
            )
        })?;
        let found = self.net.lookup(id.peer_id()).await.map_err(net_error)?;
        Ok(LookupInfo {
            id: id.to_string(),
            addrs: found.addrs.iter().map(ToString::to_string).collect(),
            source: match found.source {
                accord_net::LookupSource::Dht => LookupSource::Dht,
                accord_net::LookupSource::Connected => LookupSource::Connected,
            },
        })
    }

    async fn dial(&self, addr: &str) -> Result<PeerInfo, RemoteError> {
        let multiaddr = Multiaddr::from_str(addr).map_err(|err| {
            RemoteError::new(
                ErrorCode::InvalidParams,
                format!("{addr:?} is not a multiaddr: {err}"),
            )
        })?;
        let peer = tokio::time::timeout(DIAL_TIMEOUT, self.net.dial(multiaddr.clone()))
            .await
            .map_err(|_| {
                RemoteError::new(ErrorCode::Timeout, format!("dialling {addr} timed out"))
            })?
            .map_err(net_error)?;
        let via = if multiaddr
            .iter()
            .any(|p| matches!(p, accord_net::Protocol::P2pCircuit))
        {
            Via::Relayed
        } else {
            Via::Direct
        };
        Ok(PeerInfo {
            id: peer.to_string(),
            addrs: vec![accord_net::split_peer_id(&multiaddr).0.to_string()],
            via,
        })
    }
}

fn to_value<T: serde::Serialize>(value: T) -> Answer {
    serde_json::to_value(value).map_err(internal)
}

fn internal(err: impl std::fmt::Display) -> RemoteError {
    RemoteError::new(ErrorCode::Internal, err.to_string())
}

fn net_error(err: NetError) -> RemoteError {
    let code = match err {
        NetError::NotFound(_)
        | NetError::OwnId(_)
        | NetError::Dial { .. }
        | NetError::DhtDisabled => ErrorCode::Refused,
        NetError::Busy => ErrorCode::Refused,
        _ => ErrorCode::Internal,
    };
    RemoteError::new(code, err.to_string())
}
