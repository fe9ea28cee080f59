//! Deposits at the recipient's mailboxes: only for a recipient that could not be reached,
//! once per message until a deposit fails, and `stored` once a mailbox took it.

use super::*;
use crate::message::core::outbox::FIRST_RETRY_MS;

fn deposits(outputs: &[MessageOutput]) -> Vec<MessageId> {
    outputs
        .iter()
        .filter_map(|o| match o {
            MessageOutput::Deposit { message_id, .. } => Some(*message_id),
            _ => None,
        })
        .collect()
}

fn answered(
    core: &mut MessageCore,
    to: AccordId,
    n: u64,
    result: Result<Status, String>,
    now: u64,
) -> Vec<MessageOutput> {
    core.handle(MessageInput::Answered(vec![(to, id(n), result)]), now)
}

/// Sends the head of `to`'s outbox (entries `1..=count`) at `now`.
fn send_head(core: &mut MessageCore, to: AccordId, count: u64, now: u64) {
    core.handle(MessageInput::Tick, now);
    let job = only_job(stored(core, StoreDone::OutboxPeers(Ok(vec![to])), now));
    let mut entries = head(to, 1, count, now);
    for entry in &mut entries {
        entry.next_attempt_at_ms = now;
    }
    read_head(core, job, entries, now);
}

#[test]
fn an_unreachable_recipients_message_is_deposited_once_and_becomes_stored() {
    let (mut core, a) = (core(), peer(1));
    send_head(&mut core, a, 2, T0);
    // A refusal is the recipient answering: nothing for a mailbox.
    let out = answered(&mut core, a, 2, Ok(Status::Refused), T0);
    assert!(deposits(&out).is_empty());
    // Unreachable: deposited.
    let out = answered(&mut core, a, 1, Err("dial failed".to_owned()), T0);
    assert_eq!(deposits(&out), vec![id(1)]);
    // While that deposit stands, failing again deposits nothing more.
    let later = T0 + 10 * FIRST_RETRY_MS;
    send_head(&mut core, a, 1, later);
    let out = answered(&mut core, a, 1, Err("dial failed".to_owned()), later);
    assert!(deposits(&out).is_empty(), "once");
    // No mailbox took it: the next failure tries again.
    let failed = MessageInput::Deposited {
        peer: a,
        message_id: id(1),
        result: Err("the recipient announced no mailbox".to_owned()),
    };
    assert!(core.handle(failed, later).is_empty());
    let again = later + 10 * FIRST_RETRY_MS;
    send_head(&mut core, a, 1, again);
    let out = answered(&mut core, a, 1, Err("dial failed".to_owned()), again);
    assert_eq!(deposits(&out), vec![id(1)]);
    // A mailbox took it: the message is marked stored, then announced.
    let took = MessageInput::Deposited {
        peer: a,
        message_id: id(1),
        result: Ok(()),
    };
    let job = only_job(core.handle(took, again));
    assert!(
        matches!(job, StoreJob::MarkStored { peer, message_id } if peer == a && message_id == id(1)),
        "{job:?}"
    );
    let marked = StoreDone::MarkedStored {
        peer: a,
        message_id: id(1),
        result: Ok(true),
    };
    let out = stored(&mut core, marked, again);
    assert!(
        matches!(events(&out)[..], [Event::MessageStored { message_id, .. }] if *message_id == crate::hex::encode(&id(1))),
        "{out:?}"
    );
    // Already further along (delivered meanwhile): nothing to announce.
    let late = StoreDone::MarkedStored {
        peer: a,
        message_id: id(1),
        result: Ok(false),
    };
    assert!(events(&stored(&mut core, late, again)).is_empty());
}
