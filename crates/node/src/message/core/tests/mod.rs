//! The core driven through [`MessageCore::handle`] on a fixed clock: no tokio, no store, no
//! network. Each test plays the actor: it feeds inputs, reads the outputs, and hands back the
//! store results and flushes the outputs ask for.

mod deposits;
mod receiving;
mod sending;

use accord_api::Event;
use accord_identity::{AccordId, Identity};
use accord_store::{Direction, MessageId, MessageRecord, MessageState, OutboxEntry};
use zeroize::Zeroizing;

use super::{
    Fill, FlushId, MessageCore, MessageInput, MessageOutput, Query, Queued, ReplyToken,
    ResponseToken, StoreDone, StoreJob,
};
use crate::message::command::SendCommand;
use crate::message::wire::Status;
use crate::message::{MessageCommand, MessageReply};

/// The clock every test starts at (unix ms).
const T0: u64 = 1_700_000_000_000;

fn peer(n: u8) -> AccordId {
    Identity::from_seed(Zeroizing::new([n; 32])).id()
}

fn id(n: u64) -> MessageId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id
}

fn core() -> MessageCore {
    MessageCore::new(peer(0), true)
}

fn queued(core: &mut MessageCore, items: Vec<Queued>, now: u64) -> Vec<MessageOutput> {
    core.handle(MessageInput::Queued(items), now)
}

fn stored(core: &mut MessageCore, done: StoreDone, now: u64) -> Vec<MessageOutput> {
    core.handle(MessageInput::Stored(done), now)
}

fn flushed(core: &mut MessageCore, id: FlushId, ok: bool) -> Vec<MessageOutput> {
    let result = if ok {
        Ok(())
    } else {
        Err(accord_store::StoreError::Closed)
    };
    core.handle(MessageInput::Flushed { id, result }, T0)
}

fn command(token: u64, command: MessageCommand) -> Queued {
    Queued::Command {
        token: ReplyToken(token),
        command,
    }
}

fn send_to(to: AccordId, body: &str) -> MessageCommand {
    MessageCommand::Send(Box::new(SendCommand {
        peer: to.to_string(),
        id: None,
        body: body.to_owned(),
        reply_to: None,
    }))
}

/// Our message `n` to `to`, as recorded (queued), and its outbox entry due at `due`.
fn outgoing(to: AccordId, n: u64, due: u64) -> (MessageRecord, OutboxEntry) {
    let record = MessageRecord {
        peer: to,
        local_seq: n,
        message_id: id(n),
        direction: Direction::Outgoing,
        sender_seq: n,
        body: format!("message {n}"),
        reply_to: None,
        sent_at_ms: T0,
        received_at_ms: None,
        state: MessageState::Queued,
    };
    let entry = OutboxEntry {
        outbox_seq: n,
        peer: to,
        message_id: id(n),
        local_seq: n,
        envelope: vec![u8::try_from(n % 256).unwrap_or_default()],
        attempts: 0,
        next_attempt_at_ms: due,
    };
    (record, entry)
}

/// Outbox entries `first..first + count` of `to`, due at `due`.
fn head(to: AccordId, first: u64, count: u64, due: u64) -> Vec<OutboxEntry> {
    (first..first + count)
        .map(|n| outgoing(to, n, due).1)
        .collect()
}

/// The only store job in `outputs`.
fn only_job(outputs: Vec<MessageOutput>) -> StoreJob {
    let mut jobs: Vec<StoreJob> = outputs
        .into_iter()
        .filter_map(|o| match o {
            MessageOutput::Store(job) => Some(job),
            _ => None,
        })
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.remove(0)
}

/// The flush wait in `outputs`.
fn flush_id(outputs: &[MessageOutput]) -> FlushId {
    outputs
        .iter()
        .find_map(|o| match o {
            MessageOutput::AwaitFlush(id) => Some(*id),
            _ => None,
        })
        .expect("a flush wait")
}

/// The message ids delivered by `outputs`, in order.
fn delivered(outputs: &[MessageOutput]) -> Vec<MessageId> {
    outputs
        .iter()
        .filter_map(|o| match o {
            MessageOutput::Deliver { message_id, .. } => Some(*message_id),
            _ => None,
        })
        .collect()
}

/// The responses in `outputs`, in order.
fn responses(outputs: &[MessageOutput]) -> Vec<(u64, Status)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            MessageOutput::Respond { token, status } => Some((token.0, *status)),
            _ => None,
        })
        .collect()
}

/// The replies in `outputs`, in order.
fn replies(
    outputs: Vec<MessageOutput>,
) -> Vec<(u64, Result<MessageReply, accord_api::RemoteError>)> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            MessageOutput::Reply { token, reply } => Some((token.0, reply)),
            _ => None,
        })
        .collect()
}

/// The events in `outputs`, in order.
fn events(outputs: &[MessageOutput]) -> Vec<&Event> {
    outputs
        .iter()
        .filter_map(|o| match o {
            MessageOutput::Emit(event) => Some(event),
            _ => None,
        })
        .collect()
}

/// Reads `to`'s outbox head for `core` as the store would, with `head` in it.
fn read_head(
    core: &mut MessageCore,
    job: StoreJob,
    head: Vec<OutboxEntry>,
    now: u64,
) -> Vec<MessageOutput> {
    let StoreJob::OutboxHead { peer, fill } = job else {
        panic!("expected an outbox read, got {job:?}");
    };
    stored(
        core,
        StoreDone::OutboxHead {
            peer,
            fill,
            result: Ok(Some(head)),
        },
        now,
    )
}

/// The `accord stats` counts of `core`.
fn stats(core: &mut MessageCore) -> std::collections::BTreeMap<&'static str, u64> {
    let out = queued(core, vec![command(999, MessageCommand::Stats)], T0);
    match replies(out).pop() {
        Some((999, Ok(MessageReply::Stats(counts)))) => counts,
        other => panic!("no stats: {other:?}"),
    }
}
