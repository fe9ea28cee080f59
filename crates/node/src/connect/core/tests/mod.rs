//! Unit tests of the Connect core on a seeded clock: no runtime, no store, no network. A
//! [`Harness`] drives [`ConnectCore::handle`] and answers its store operations from a map in
//! memory ([`FakeStore`]), recording every output in order.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

mod commands;
mod inbound;
mod schedule;
mod settlement;
mod shards;

use std::collections::HashMap;
use std::sync::Arc;

use accord_api::RemoteError;
use accord_channel::Session;
use accord_handshake::{Acceptance, GossipFrame, Invite, InviteState, Note, Payload};
use accord_identity::{AccordId, Identity};
use accord_net::PeerId;
use accord_store::{Connection, IncomingInvite, InviteId, OutgoingInvite, StoreError, Zeroizing};

use super::super::IdentifyDrops;
use super::super::command::{ConnectCommand, ConnectReply};
use super::super::delivery::RelayDrops;
use super::super::shard_layout::Shard;
use super::ConnectCore;
use super::io::{
    ConnectInput, ConnectOutput, Delivery, FrameToken, Now, ReplyToken, StoreAnswer, StoreOp,
};
use super::memory::Loaded;
use crate::Config;
use crate::message::wire::Content;
use crate::rng::os_rng;

/// The seeded clock's start.
pub(super) const NOW: u64 = 1_700_000_000_000;
pub(super) const DAY: u64 = 24 * 3600 * 1000;
/// Few bits of work, so that the tests mint stamps at once.
const STAMP_BITS: u32 = 4;

pub(super) fn identity(n: u8) -> Identity {
    Identity::from_seed(Zeroizing::new([n; 32]))
}

pub(super) fn config() -> Config {
    let mut config = Config::default();
    config.invites.stamp_bits = STAMP_BITS;
    config
}

/// The store, as a map: it applies what the core asks and answers as the real one does.
#[derive(Debug, Default)]
pub(super) struct FakeStore {
    pub(super) outgoing: HashMap<InviteId, OutgoingInvite>,
    pub(super) incoming: HashMap<InviteId, IncomingInvite>,
    pub(super) connections: HashMap<AccordId, Connection>,
    /// Every write fails while set.
    pub(super) failing: bool,
}

impl FakeStore {
    fn run(&mut self, op: &StoreOp) -> Result<StoreAnswer, StoreError> {
        let is_read = matches!(
            op,
            StoreOp::ReadOutgoing(_) | StoreOp::ReadIncoming(_) | StoreOp::ReadInvites
        );
        if self.failing && !is_read {
            return Err(StoreError::Closed);
        }
        Ok(match op {
            StoreOp::PutOutgoing(r) | StoreOp::RecordSentInvite { record: r, .. } => {
                self.outgoing.insert(r.invite_id, r.clone());
                StoreAnswer::Done
            }
            StoreOp::PutIncoming(r) => {
                self.incoming.insert(r.invite_id, r.clone());
                StoreAnswer::Done
            }
            StoreOp::RemoveIncoming(id) => {
                self.incoming.remove(id);
                StoreAnswer::Done
            }
            StoreOp::AcceptIncoming {
                record, connection, ..
            } => {
                self.incoming.insert(record.invite_id, record.clone());
                self.connections.insert(connection.peer, connection.clone());
                StoreAnswer::Done
            }
            StoreOp::CompleteOutgoing {
                invite_id,
                connection,
                closed_at_ms,
                ..
            } => {
                let Some(ours) = self.outgoing.get_mut(invite_id) else {
                    return Ok(StoreAnswer::Completed(false));
                };
                if ours.state != InviteState::Pending {
                    return Ok(StoreAnswer::Completed(false));
                }
                ours.state = InviteState::Accepted;
                ours.closed_at_ms = Some(*closed_at_ms);
                ours.next_publish_at_ms = None;
                self.connections.insert(connection.peer, connection.clone());
                StoreAnswer::Completed(true)
            }
            StoreOp::PutConnection(c) | StoreOp::RevokeConnection(c) => {
                self.connections.insert(c.peer, c.clone());
                StoreAnswer::Done
            }
            StoreOp::Block { .. }
            | StoreOp::Unblock { .. }
            | StoreOp::NoteClock(_)
            | StoreOp::RecordPeer { .. } => StoreAnswer::Done,
            StoreOp::Purge(_) => StoreAnswer::NextPurge(None),
            StoreOp::ReadOutgoing(id) => StoreAnswer::Outgoing(self.outgoing.get(id).cloned()),
            StoreOp::ReadIncoming(id) => StoreAnswer::Incoming(self.incoming.get(id).cloned()),
            StoreOp::ReadInvites => StoreAnswer::Invites {
                incoming: self.incoming.values().cloned().collect(),
                outgoing: self.outgoing.values().cloned().collect(),
            },
        })
    }
}

/// A core, its store and a clock that only moves when a test moves it.
pub(super) struct Harness {
    pub(super) core: ConnectCore,
    pub(super) store: FakeStore,
    pub(super) me: Identity,
    pub(super) now: u64,
    /// The wake-up asked at start, if one was.
    pub(super) started: Option<Option<u64>>,
    next_token: u64,
}

impl Harness {
    /// A core for identity 1 with the default configuration (but cheap stamps).
    pub(super) fn new() -> Self {
        Self::with(config())
    }

    pub(super) fn with(config: Config) -> Self {
        Self::loaded(config, Loaded::default())
    }

    /// A core started on what a store held.
    pub(super) fn loaded(config: Config, loaded: Loaded) -> Self {
        let me = identity(1);
        let core = ConnectCore::new(
            me.clone(),
            Box::new(os_rng()),
            Arc::new(config),
            loaded,
            Arc::new(RelayDrops::default()),
            IdentifyDrops::default(),
            NOW,
        );
        let mut harness = Harness {
            core,
            store: FakeStore::default(),
            me,
            now: NOW,
            started: None,
            next_token: 0,
        };
        let start = harness.core.start();
        harness.started = start.iter().find_map(|o| match o {
            ConnectOutput::WakeAt(at) => Some(*at),
            _ => None,
        });
        assert!(
            start.iter().all(|o| !matches!(o, ConnectOutput::Store(_))),
            "start asked the store: {start:?}"
        );
        harness
    }

    pub(super) fn me_id(&self) -> AccordId {
        self.me.id()
    }

    fn at(&self) -> Now {
        Now {
            unix_ms: self.now,
            elapsed_ms: self.now - NOW,
        }
    }

    /// Feeds one input and answers every store operation it leads to; every output, in order.
    pub(super) fn feed(&mut self, input: ConnectInput) -> Vec<ConnectOutput> {
        let mut all = Vec::new();
        let mut outputs = self.core.handle(input, self.at());
        loop {
            let answer = match outputs.last() {
                Some(ConnectOutput::Store(op)) => Some(self.store.run(op)),
                _ => None,
            };
            all.append(&mut outputs);
            let Some(answer) = answer else {
                return all;
            };
            outputs = self.core.handle(ConnectInput::Stored(answer), self.at());
        }
    }

    /// Runs a command; its answer and every output.
    pub(super) fn command(
        &mut self,
        command: ConnectCommand,
    ) -> (Result<ConnectReply, RemoteError>, Vec<ConnectOutput>) {
        self.next_token += 1;
        let token = ReplyToken(self.next_token);
        let outputs = self.feed(ConnectInput::Command { token, command });
        let replies: Vec<_> = outputs
            .iter()
            .filter_map(|o| match o {
                ConnectOutput::Reply { token: t, result } if *t == token => Some(result.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(replies.len(), 1, "one reply expected: {outputs:?}");
        (replies.into_iter().next().unwrap(), outputs)
    }

    /// Hands a frame over directly; the answer given and every output.
    pub(super) fn direct(
        &mut self,
        frame: &[u8],
        from: &Identity,
    ) -> (Option<bool>, Vec<ConnectOutput>) {
        self.next_token += 1;
        let token = FrameToken(self.next_token);
        let outputs = self.feed(ConnectInput::Frame {
            data: frame.to_vec(),
            from: from.id().peer_id(),
            direct: Some(token),
            topic: None,
        });
        let answer = outputs.iter().find_map(|o| match o {
            ConnectOutput::AnswerDirect { token: t, accepted } if *t == token => Some(*accepted),
            _ => None,
        });
        (answer, outputs)
    }

    /// A frame arriving by gossip on our own shard's topic; every output.
    pub(super) fn gossip(&mut self, frame: &[u8], via: PeerId) -> Vec<ConnectOutput> {
        let topic = Shard::of_id(&self.me_id(), self.core.network_size.level()).topic();
        self.gossip_on(frame, via, &topic)
    }

    /// A frame arriving by gossip on `topic`; every output.
    pub(super) fn gossip_on(
        &mut self,
        frame: &[u8],
        via: PeerId,
        topic: &str,
    ) -> Vec<ConnectOutput> {
        self.feed(ConnectInput::Frame {
            data: frame.to_vec(),
            from: via,
            direct: None,
            topic: Some(topic.to_owned()),
        })
    }

    /// The timer fires at `at`.
    pub(super) fn tick(&mut self, at: u64) -> Vec<ConnectOutput> {
        self.now = at;
        self.feed(ConnectInput::Timer)
    }

    /// How often `reason` was counted.
    pub(super) fn count(&self, reason: &str) -> u64 {
        self.core.stats().get(reason).copied().unwrap_or(0)
    }

    /// Sends an invite to `peer` and returns it as stored.
    pub(super) fn invite(&mut self, peer: &AccordId) -> OutgoingInvite {
        let (reply, outputs) = self.command(ConnectCommand::Connect {
            peer: peer.to_string(),
            note: "hello".into(),
            presentation: Box::default(),
        });
        reply.unwrap();
        outputs
            .iter()
            .find_map(|o| match o {
                ConnectOutput::Store(StoreOp::RecordSentInvite { record, .. }) => {
                    Some(record.clone())
                }
                _ => None,
            })
            .expect("the invite was stored")
    }
}

/// A stamped frame sealed to `to`.
/// (minted at `now_ms`)
pub(super) fn frame(to: &AccordId, payload: &Payload, now_ms: u64) -> Vec<u8> {
    let mut frame = GossipFrame::seal(to, payload, now_ms, &mut os_rng()).unwrap();
    frame.mint(STAMP_BITS).unwrap();
    frame.encode()
}

/// An invite from `from` to `to`, made at `now`, valid for `ttl`.
pub(super) fn invite_from(from: &Identity, to: AccordId, now: u64, ttl: u64) -> Invite {
    let note = Note::new("hi", 200).unwrap();
    Invite::create(from, to, note, now, ttl, &mut os_rng())
        .unwrap()
        .0
}

/// The frame of an invite from `from` to `to`, made at `now`.
pub(super) fn invite_frame(from: &Identity, to: AccordId, now: u64) -> (Invite, Vec<u8>) {
    let invite = invite_from(from, to, now, 7 * DAY);
    let frame = frame(&to, &Payload::Invite(invite.clone()), now);
    (invite, frame)
}

/// `invitee`'s acceptance of `invite`, with the first channel message it carries.
pub(super) fn acceptance_of(invitee: &Identity, invite: &Invite) -> Acceptance {
    let mut rng = os_rng();
    let (mut acceptance, ephemeral) =
        Acceptance::create(invitee, invite, Vec::new(), &mut rng).unwrap();
    let attestation = acceptance.verify(invite).unwrap();
    let mut session = Session::new_invitee(
        invitee,
        &ephemeral,
        &invite.inviter,
        &invite.one_time_key,
        &attestation.id(),
        &mut rng,
    )
    .unwrap();
    let hello = session.encrypt(&Content::Hello.encode(), &mut rng).unwrap();
    acceptance.set_first_message(hello).unwrap();
    acceptance
}

/// The store operations among `outputs`.
pub(super) fn stores(outputs: &[ConnectOutput]) -> Vec<&StoreOp> {
    outputs
        .iter()
        .filter_map(|o| match o {
            ConnectOutput::Store(op) => Some(op),
            _ => None,
        })
        .collect()
}

/// The store writes among `outputs` (the clock mark and reads left out).
pub(super) fn writes(outputs: &[ConnectOutput]) -> Vec<&StoreOp> {
    stores(outputs)
        .into_iter()
        .filter(|op| {
            !matches!(
                op,
                StoreOp::NoteClock(_)
                    | StoreOp::ReadIncoming(_)
                    | StoreOp::ReadOutgoing(_)
                    | StoreOp::ReadInvites
            )
        })
        .collect()
}

/// The deliveries among `outputs`.
pub(super) fn deliveries(outputs: &[ConnectOutput]) -> Vec<&Delivery> {
    outputs
        .iter()
        .filter_map(|o| match o {
            ConnectOutput::Deliver(d) => Some(d),
            _ => None,
        })
        .collect()
}

/// The events among `outputs`.
pub(super) fn events(outputs: &[ConnectOutput]) -> Vec<&accord_api::Event> {
    outputs
        .iter()
        .filter_map(|o| match o {
            ConnectOutput::Emit(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// The last wake-up asked among `outputs`, if any was.
pub(super) fn wake(outputs: &[ConnectOutput]) -> Option<Option<u64>> {
    outputs.iter().rev().find_map(|o| match o {
        ConnectOutput::WakeAt(at) => Some(*at),
        _ => None,
    })
}

/// Where in `outputs` the first output matching `is` is.
pub(super) fn position(outputs: &[ConnectOutput], is: impl Fn(&ConnectOutput) -> bool) -> usize {
    outputs.iter().position(is).expect("the output is there")
}
