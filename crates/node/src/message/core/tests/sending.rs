//! The sending side: `accord send` answered only once durable, the window, the back-off, the
//! retry on connect, `sent` only on a live connection, the halt after a failed flush, and why
//! deliveries failed.

use std::collections::HashMap;

use accord_api::Event;

use super::*;
use crate::message::core::DeliveriesWritten;
use crate::message::core::outbox::{FIRST_RETRY_MS, WINDOW};

/// Sends one message to `to` and records it: returns the flush the answer waits for.
fn send_and_record(core: &mut MessageCore, to: AccordId, n: u64) -> FlushId {
    let job = only_job(queued(core, vec![command(n, send_to(to, "hi"))], T0));
    let StoreJob::RecordSends { replies, sends, .. } = job else {
        panic!("expected a send job, got {job:?}");
    };
    assert_eq!(sends[0].id, Some(to), "the ID is parsed before the job");
    let result = Ok((vec![Ok(outgoing(to, n, T0))], HashMap::from([(to, 1)])));
    let out = stored(core, StoreDone::SendsRecorded { replies, result }, T0);
    assert!(replies_of(&out).is_empty(), "no answer before the flush");
    assert!(delivered(&out).is_empty(), "no envelope before the flush");
    flush_id(&out)
}

fn replies_of(outputs: &[MessageOutput]) -> Vec<u64> {
    outputs
        .iter()
        .filter_map(|o| match o {
            MessageOutput::Reply { token, .. } => Some(token.0),
            _ => None,
        })
        .collect()
}

fn sent_state(outputs: Vec<MessageOutput>) -> String {
    match replies(outputs).pop() {
        Some((_, Ok(MessageReply::Sent(info)))) => info.state,
        other => panic!("no send answer: {other:?}"),
    }
}

#[test]
fn a_send_is_answered_and_delivered_only_after_its_flush() {
    let (mut core, a) = (core(), peer(1));
    let flush = send_and_record(&mut core, a, 1);
    let job = only_job(flushed(&mut core, flush, true));
    assert!(matches!(
        job,
        StoreJob::OutboxHead {
            fill: Fill::AfterSend(_),
            ..
        }
    ));
    let out = read_head(&mut core, job, head(a, 1, 1, T0), T0);
    assert_eq!(delivered(&out), vec![id(1)]);
    // Not connected: handed to the swarm, but `queued` until a connection carries it.
    assert_eq!(sent_state(out), "queued");
}

#[test]
fn a_send_on_a_live_connection_says_sent_once_the_swarm_confirms_it() {
    let (mut core, a) = (core(), peer(1));
    let out = queued(&mut core, vec![Queued::PeerConnected(a.peer_id())], T0);
    let job = out
        .into_iter()
        .find_map(|o| match o {
            MessageOutput::Store(job @ StoreJob::OutboxHead { .. }) => Some(job),
            _ => None,
        })
        .expect("a connecting peer's outbox is read");
    assert!(delivered(&read_head(&mut core, job, Vec::new(), T0)).is_empty());
    // The read found the outbox empty, so the send's entry leaves from what the core holds.
    let flush = send_and_record(&mut core, a, 1);
    let out = flushed(&mut core, flush, true);
    assert_eq!(delivered(&out), vec![id(1)]);
    let Some(MessageOutput::CheckConnected { batch, peers }) = out.last() else {
        panic!("the swarm is asked before the answer says sent: {out:?}");
    };
    assert_eq!(peers, &vec![a]);
    let (batch, live) = (*batch, vec![a]);
    let out = core.handle(MessageInput::ConnectedChecked { batch, live }, T0);
    assert_eq!(sent_state(out), "sent");
}

#[test]
fn a_connection_the_swarm_no_longer_has_is_not_sent() {
    let (mut core, a) = (core(), peer(1));
    queued(&mut core, vec![Queued::PeerConnected(a.peer_id())], T0);
    let flush = send_and_record(&mut core, a, 1);
    let job = only_job(flushed(&mut core, flush, true));
    let out = read_head(&mut core, job, head(a, 1, 1, T0), T0);
    let Some(MessageOutput::CheckConnected { batch, .. }) = out.last() else {
        panic!("expected a connection check");
    };
    let batch = *batch;
    let out = core.handle(
        MessageInput::ConnectedChecked {
            batch,
            live: vec![],
        },
        T0,
    );
    assert_eq!(sent_state(out), "queued");
}

#[test]
fn a_failed_flush_refuses_the_send_and_halts_delivery() {
    let (mut core, a) = (core(), peer(1));
    let flush = send_and_record(&mut core, a, 1);
    let out = flushed(&mut core, flush, false);
    assert!(delivered(&out).is_empty());
    assert!(matches!(replies(out).pop(), Some((1, Err(_)))));
    // Nothing more is delivered until a restart: not even the peers' outbox heads are read.
    let job = only_job(core.handle(MessageInput::Tick, T0));
    let out = stored(&mut core, StoreDone::OutboxPeers(Ok(vec![a])), T0);
    assert!(matches!(job, StoreJob::OutboxPeers));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn the_window_caps_what_is_in_flight_and_an_answer_refills_it_in_order() {
    let (mut core, a) = (core(), peer(1));
    assert!(matches!(
        only_job(core.handle(MessageInput::Tick, T0)),
        StoreJob::OutboxPeers
    ));
    let job = only_job(stored(&mut core, StoreDone::OutboxPeers(Ok(vec![a])), T0));
    let window = WINDOW as u64;
    let out = read_head(&mut core, job, head(a, 1, window + 5, T0), T0);
    assert_eq!(delivered(&out), (1..=window).map(id).collect::<Vec<_>>());
    // A full window reads nothing more.
    let answers = vec![(a, id(1), Ok(Status::Stored))];
    let out = core.handle(MessageInput::Answered(answers), T0);
    // Announced from the answer, ahead of the write of the completion; then the refill.
    assert!(matches!(
        events(&out).as_slice(),
        [Event::MessageDelivered { message_id, .. }] if *message_id == crate::hex::encode(&id(1))
    ));
    let MessageOutput::Store(StoreJob::WriteDeliveries {
        completed,
        rescheduled,
        refill,
    }) = &out[1]
    else {
        panic!("expected the completion: {out:?}");
    };
    assert_eq!(completed.as_slice(), &[(a, id(1))]);
    assert_eq!((rescheduled.len(), refill.as_slice()), (0, &[a][..]));
    // The head read behind the write refills the window.
    let written = DeliveriesWritten {
        completed: vec![Ok(None)],
        rescheduled: Vec::new(),
        heads: vec![(a, Ok(Some(head(a, 2, window + 4, T0))))],
    };
    let result = Ok(written);
    let out = stored(&mut core, StoreDone::DeliveriesWritten { result }, T0);
    assert_eq!(delivered(&out), vec![id(window + 1)]);
}

#[test]
fn a_failure_backs_off_and_says_why_until_a_delivery_succeeds() {
    let (mut core, a) = (core(), peer(1));
    core.handle(MessageInput::Tick, T0);
    let job = only_job(stored(&mut core, StoreDone::OutboxPeers(Ok(vec![a])), T0));
    read_head(&mut core, job, head(a, 1, 2, T0), T0);
    let answers = vec![(a, id(1), Err("dial failed".to_owned()))];
    // Unreachable, so its outbox is also read for the mailboxes (the deposits tests' concern).
    let out = core.handle(MessageInput::Answered(answers), T0);
    let out = out
        .into_iter()
        .filter(|o| !matches!(o, MessageOutput::Store(StoreJob::DepositPage { .. })))
        .collect();
    let job = only_job(out);
    let StoreJob::WriteDeliveries { rescheduled, .. } = job else {
        panic!("expected a new schedule, got {job:?}");
    };
    assert_eq!(
        (rescheduled[0].attempts, rescheduled[0].next_attempt_at_ms),
        (1, T0 + FIRST_RETRY_MS)
    );
    assert_eq!(core.wake_at(), Some(T0 + FIRST_RETRY_MS));
    let status = queued(&mut core, vec![command(7, MessageCommand::Status)], T0);
    match replies(status).pop() {
        Some((7, Ok(MessageReply::Status(list)))) => {
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].reason, "dial failed");
        }
        other => panic!("no status: {other:?}"),
    }
    // Before it is due, neither it nor the one behind it leaves, and the timer is kept.
    let mut waiting = head(a, 1, 2, T0);
    waiting[0].attempts = 1;
    waiting[0].next_attempt_at_ms = T0 + FIRST_RETRY_MS;
    core.handle(
        MessageInput::Answered(vec![(a, id(2), Ok(Status::Early))]),
        T0,
    );
    core.handle(MessageInput::Tick, T0 + 500);
    let job = only_job(stored(
        &mut core,
        StoreDone::OutboxPeers(Ok(vec![a])),
        T0 + 500,
    ));
    let out = read_head(&mut core, job, waiting.clone(), T0 + 500);
    assert!(delivered(&out).is_empty());
    assert_eq!(core.wake_at(), Some(T0 + FIRST_RETRY_MS));
    // Once due, both leave in order; a success clears the reason.
    core.handle(MessageInput::Tick, T0 + FIRST_RETRY_MS);
    let now = T0 + FIRST_RETRY_MS;
    let job = only_job(stored(&mut core, StoreDone::OutboxPeers(Ok(vec![a])), now));
    assert_eq!(
        delivered(&read_head(&mut core, job, waiting, now)),
        vec![id(1), id(2)]
    );
    core.handle(
        MessageInput::Answered(vec![(a, id(1), Ok(Status::Stored))]),
        now,
    );
    let status = queued(&mut core, vec![command(8, MessageCommand::Status)], now);
    assert!(
        matches!(replies(status).pop(), Some((8, Ok(MessageReply::Status(list)))) if list.is_empty())
    );
}

#[test]
fn a_peer_that_connects_is_retried_at_once_whatever_its_back_off() {
    let (mut core, a) = (core(), peer(1));
    let mut waiting = head(a, 1, 2, T0 + 60_000);
    waiting[0].attempts = 9;
    core.handle(MessageInput::Tick, T0);
    let job = only_job(stored(&mut core, StoreDone::OutboxPeers(Ok(vec![a])), T0));
    assert!(delivered(&read_head(&mut core, job, waiting.clone(), T0)).is_empty());
    let out = queued(&mut core, vec![Queued::PeerConnected(a.peer_id())], T0);
    let job = out
        .into_iter()
        .find_map(|o| match o {
            MessageOutput::Store(
                job @ StoreJob::OutboxHead {
                    fill: Fill::Connected,
                    ..
                },
            ) => Some(job),
            _ => None,
        })
        .expect("a connecting peer's outbox is read with the back-off cut short");
    assert_eq!(
        delivered(&read_head(&mut core, job, waiting, T0)),
        vec![id(1), id(2)]
    );
}

#[test]
fn nothing_leaves_for_a_peer_that_is_blocked_or_no_longer_a_connection() {
    let (mut core, a) = (core(), peer(1));
    core.handle(MessageInput::Tick, T0);
    let job = only_job(stored(&mut core, StoreDone::OutboxPeers(Ok(vec![a])), T0));
    let StoreJob::OutboxHead { peer, fill } = job else {
        panic!("expected an outbox read");
    };
    let out = stored(
        &mut core,
        StoreDone::OutboxHead {
            peer,
            fill,
            result: Ok(None),
        },
        T0,
    );
    assert!(out.is_empty(), "{out:?}");
    // Unblocking (a channel change) reads it again at once.
    let out = queued(&mut core, vec![Queued::ChannelChanged(a)], T0);
    assert!(out.iter().any(|o| matches!(
        o,
        MessageOutput::Store(StoreJob::OutboxHead {
            fill: Fill::Now,
            ..
        })
    )));
}

#[test]
fn a_failed_outbox_read_is_counted_and_retried() {
    let mut core = core();
    core.handle(MessageInput::Tick, T0);
    let failed = Err(accord_store::StoreError::Closed);
    assert!(stored(&mut core, StoreDone::OutboxPeers(failed), T0).is_empty());
    assert_eq!(core.wake_at(), Some(T0 + FIRST_RETRY_MS));
    assert_eq!(stats(&mut core).get("store_failed_outbox_read"), Some(&1));
}

#[test]
fn once_the_whole_outbox_is_known_a_durable_send_leaves_without_reading_it_back() {
    let (mut core, a) = (core(), peer(1));
    let flush = send_and_record(&mut core, a, 1);
    let job = only_job(flushed(&mut core, flush, true));
    // The read sees the whole outbox (less than a window): from now on the core knows it.
    let out = read_head(&mut core, job, head(a, 1, 1, T0), T0);
    assert_eq!(delivered(&out), vec![id(1)]);
    let flush = send_and_record(&mut core, a, 2);
    let out = flushed(&mut core, flush, true);
    assert!(
        !out.iter().any(|o| matches!(o, MessageOutput::Store(_))),
        "{out:?}"
    );
    assert_eq!(delivered(&out), vec![id(2)]);
    assert_eq!(sent_state(out), "queued");
    // A failure puts an entry back on disk alone: the next send reads the outbox again, and
    // the failed one goes first.
    core.handle(
        MessageInput::Answered(vec![(a, id(1), Err("reset".into()))]),
        T0,
    );
    let flush = send_and_record(&mut core, a, 3);
    let job = only_job(flushed(&mut core, flush, true));
    let mut waiting = head(a, 1, 3, T0);
    waiting[0].next_attempt_at_ms = T0 + FIRST_RETRY_MS;
    waiting[0].attempts = 1;
    let out = read_head(&mut core, job, waiting, T0);
    assert_eq!(delivered(&out), vec![id(1), id(3)], "2 is still in flight");
}
