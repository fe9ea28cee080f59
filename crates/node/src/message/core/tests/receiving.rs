//! The receiving side: acknowledgements only after the flush, the reorder buffer, drops counted
//! by reason, read receipts one at a time, and the bound on answers waiting for the disk.

use accord_api::Event;
use accord_net::PeerId;

use super::*;
use crate::message::core::input::{Dropped, Outcome, ReceiptPlan};
use crate::message::core::reorder::HOLD_MS;

/// Queues request `token` from `from` and returns the receive job it makes.
fn incoming(core: &mut MessageCore, token: u64, from: AccordId, now: u64) -> StoreJob {
    let item = Queued::Incoming {
        token: ResponseToken(token),
        peer: from.peer_id(),
        data: vec![u8::try_from(token).unwrap_or_default()],
    };
    only_job(queued(core, vec![item], now))
}

/// Hands back what the store made of a receive job, outcome for outcome.
fn take_in(
    core: &mut MessageCore,
    job: StoreJob,
    outcomes: Vec<Outcome>,
    now: u64,
) -> Vec<MessageOutput> {
    let StoreJob::Receive {
        tokens, requests, ..
    } = job
    else {
        panic!("expected a receive job, got {job:?}");
    };
    let result = Ok((requests, outcomes));
    stored(core, StoreDone::Received { tokens, result }, now)
}

fn text(from: AccordId, sender_seq: u64) -> Outcome {
    Outcome::Stored {
        sender_seq,
        event: Box::new(Event::MessageReceived {
            peer: from.to_string(),
            name: None,
            message_id: crate::hex::encode(&id(sender_seq)),
            body: "hi".to_owned(),
            sent_at: "2023-11-14T22:13:20.000Z".to_owned(),
        }),
    }
}

#[test]
fn a_message_is_acknowledged_and_announced_only_after_its_flush() {
    let (mut core, a) = (core(), peer(1));
    let job = incoming(&mut core, 1, a, T0);
    let out = take_in(&mut core, job, vec![text(a, 1)], T0);
    assert!(responses(&out).is_empty() && events(&out).is_empty());
    let flush = flush_id(&out);
    let out = flushed(&mut core, flush, true);
    assert_eq!(events(&out).len(), 1);
    assert_eq!(responses(&out), vec![(1, Status::Stored)]);
}

#[test]
fn a_failed_flush_refuses_what_it_held() {
    let (mut core, a) = (core(), peer(1));
    let job = incoming(&mut core, 1, a, T0);
    let out = take_in(&mut core, job, vec![Outcome::Duplicate], T0);
    let out = flushed(&mut core, flush_id(&out), false);
    assert!(events(&out).is_empty());
    assert_eq!(responses(&out), vec![(1, Status::Refused)]);
}

#[test]
fn an_early_message_is_held_until_the_one_before_it_is_stored() {
    let (mut core, a) = (core(), peer(1));
    let job = incoming(&mut core, 2, a, T0);
    let out = take_in(&mut core, job, vec![Outcome::Early { sender_seq: 2 }], T0);
    assert!(out.is_empty(), "held, not answered: {out:?}");
    assert_eq!(core.wake_at(), Some(T0 + HOLD_MS));
    // The gap fills: the held one goes into the next job, behind the flush of the first.
    let job = incoming(&mut core, 1, a, T0 + 10);
    let mut out = take_in(&mut core, job, vec![text(a, 1)], T0 + 10);
    let first = flush_id(&out);
    let MessageOutput::Store(StoreJob::Receive {
        tokens, requests, ..
    }) = out.remove(1)
    else {
        panic!("expected the held request in a new job: {out:?}");
    };
    assert_eq!(tokens, vec![ResponseToken(2)]);
    assert_eq!((requests[0].peer, requests[0].data.clone()), (a, vec![2]));
    assert_eq!(core.wake_at(), None);
    let job = StoreJob::Receive {
        tokens,
        requests,
        now_ms: T0 + 10,
    };
    let out = take_in(&mut core, job, vec![text(a, 2)], T0 + 10);
    let second = flush_id(&out);
    // Acknowledged in order, each after its own flush.
    assert_eq!(
        responses(&flushed(&mut core, first, true)),
        vec![(1, Status::Stored)]
    );
    assert_eq!(
        responses(&flushed(&mut core, second, true)),
        vec![(2, Status::Stored)]
    );
}

#[test]
fn a_held_message_that_waits_too_long_is_answered_early() {
    let (mut core, a) = (core(), peer(1));
    let job = incoming(&mut core, 5, a, T0);
    take_in(&mut core, job, vec![Outcome::Early { sender_seq: 5 }], T0);
    let out = core.handle(MessageInput::Tick, T0 + HOLD_MS - 1);
    assert!(responses(&out).is_empty());
    let out = core.handle(MessageInput::Tick, T0 + HOLD_MS);
    assert_eq!(responses(&out), vec![(5, Status::Early)]);
}

#[test]
fn a_retransmission_of_a_held_message_replaces_it_and_the_old_copy_is_answered() {
    let (mut core, a) = (core(), peer(1));
    let job = incoming(&mut core, 1, a, T0);
    take_in(&mut core, job, vec![Outcome::Early { sender_seq: 4 }], T0);
    let job = incoming(&mut core, 2, a, T0);
    let out = take_in(&mut core, job, vec![Outcome::Early { sender_seq: 4 }], T0);
    assert_eq!(responses(&out), vec![(1, Status::Early)]);
}

#[test]
fn refusals_are_answered_at_once_and_counted_by_reason() {
    let (mut core, a) = (core(), peer(1));
    let job = incoming(&mut core, 1, a, T0);
    let blocked = Outcome::Refused(Some(Dropped {
        reason: "blocked",
        detail: a.to_string(),
    }));
    let out = take_in(&mut core, job, vec![blocked], T0);
    assert_eq!(responses(&out), vec![(1, Status::Refused)]);
    // A libp2p peer whose key is not an Accord ID never reaches the store.
    let stranger = Queued::Incoming {
        token: ResponseToken(2),
        peer: PeerId::random(),
        data: vec![1],
    };
    let out = queued(&mut core, vec![stranger], T0);
    assert_eq!(responses(&out), vec![(2, Status::Refused)]);
    assert!(!out.iter().any(|o| matches!(o, MessageOutput::Store(_))));
    let counts = stats(&mut core);
    assert_eq!(counts.get("blocked"), Some(&1));
    assert_eq!(counts.get("not_an_accord_id"), Some(&1));
}

#[test]
fn a_store_that_fails_refuses_the_batch_so_the_senders_try_again() {
    let (mut core, a) = (core(), peer(1));
    let StoreJob::Receive { tokens, .. } = incoming(&mut core, 1, a, T0) else {
        panic!("expected a receive job");
    };
    let result = Err(accord_store::StoreError::Closed);
    let out = stored(&mut core, StoreDone::Received { tokens, result }, T0);
    assert_eq!(responses(&out), vec![(1, Status::Refused)]);
    assert_eq!(stats(&mut core).get("store_failed_receive"), Some(&1));
}

#[test]
fn reading_a_conversation_owes_a_receipt_that_goes_out_one_at_a_time() {
    let (mut core, a) = (core(), peer(1));
    let job = only_job(queued(
        &mut core,
        vec![command(
            1,
            MessageCommand::History {
                peer: a.to_string(),
                limit: None,
                before: None,
            },
        )],
        T0,
    ));
    assert!(matches!(
        job,
        StoreJob::Query(Query::History { limit: 50, .. })
    ));
    let mut record = outgoing(a, 3, T0).0;
    record.direction = Direction::Incoming;
    let done = StoreDone::History {
        reply: ReplyToken(1),
        result: Ok((a, vec![record])),
        newest: true,
    };
    let out = stored(&mut core, done, T0);
    // The read mark goes to the store before the answer.
    assert!(matches!(
        out[0],
        MessageOutput::Store(StoreJob::MarkRead { local_seq: 3, .. })
    ));
    assert!(
        matches!(&out[1], MessageOutput::Reply { reply: Ok(MessageReply::History(list)), .. } if list.len() == 1)
    );
    let marked = StoreDone::ReadMarked {
        peer: a,
        result: Ok(true),
    };
    let flush = flush_id(&stored(&mut core, marked, T0));
    let job = only_job(flushed(&mut core, flush, true));
    assert!(matches!(
        job,
        StoreJob::MakeReceipt {
            receipts_on: true,
            ..
        }
    ));
    let plan = ReceiptPlan::Send {
        frame: vec![9],
        up_to: 3,
    };
    let made = StoreDone::ReceiptMade {
        peer: a,
        result: Ok(plan),
    };
    let flush = flush_id(&stored(&mut core, made, T0));
    // One on its way: a connection does not make a second.
    let out = queued(&mut core, vec![Queued::PeerConnected(a.peer_id())], T0);
    assert!(
        !out.iter()
            .any(|o| matches!(o, MessageOutput::Store(StoreJob::MakeReceipt { .. })))
    );
    // It leaves only once the ratchet state it was made with is durable.
    let out = flushed(&mut core, flush, true);
    assert!(matches!(
        out.as_slice(),
        [MessageOutput::SendReceipt {
            up_to_local_seq: 3,
            ..
        }]
    ));
    // Unanswered: it stays owed, and nothing more goes until the next occasion.
    let answered = MessageInput::ReceiptAnswered {
        peer: a,
        up_to_local_seq: 3,
        acknowledged: false,
    };
    assert!(core.handle(answered, T0).is_empty());
    let answered = MessageInput::ReceiptAnswered {
        peer: a,
        up_to_local_seq: 3,
        acknowledged: true,
    };
    let out = core.handle(answered, T0);
    assert!(matches!(
        out.as_slice(),
        [
            MessageOutput::Store(StoreJob::AcknowledgeReceipts {
                up_to_local_seq: 3,
                ..
            }),
            MessageOutput::Store(StoreJob::MakeReceipt { .. }),
        ]
    ));
}

#[test]
fn the_actor_stops_taking_work_while_too_many_answers_wait_for_the_disk() {
    let (mut core, a) = (core(), peer(1));
    let room = core.intake_room();
    let job = incoming(&mut core, 1, a, T0);
    let out = take_in(&mut core, job, vec![text(a, 1)], T0);
    assert_eq!(core.intake_room(), room - 1);
    flushed(&mut core, flush_id(&out), true);
    assert_eq!(core.intake_room(), room);
}
