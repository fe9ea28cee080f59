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

/// The page of its outbox the core asks to read for a sweep, if it asks.
fn page_asked(outputs: &[MessageOutput]) -> Option<Option<u64>> {
    outputs.iter().find_map(|o| match o {
        MessageOutput::Store(StoreJob::DepositPage { after, limit, .. }) => {
            assert_eq!(*limit, 64, "a page is bounded");
            Some(*after)
        }
        _ => None,
    })
}

/// Entries `first..=last` of `to`'s outbox, as a sweep reads them.
fn page(core: &mut MessageCore, to: AccordId, first: u64, last: u64) -> Vec<MessageOutput> {
    let entries = (first..=last).map(|n| (n, id(n))).collect();
    let done = StoreDone::DepositPage {
        peer: to,
        result: Ok(entries),
    };
    stored(core, done, T0)
}

fn deposit_answer(
    core: &mut MessageCore,
    to: AccordId,
    n: u64,
    result: Result<(), String>,
) -> Vec<MessageOutput> {
    let answer = MessageInput::Deposited {
        peer: to,
        message_id: id(n),
        result,
    };
    core.handle(answer, T0)
}

#[test]
fn every_queued_message_is_deposited_a_page_at_a_time_not_only_the_window() {
    let (mut core, a) = (core(), peer(1));
    send_head(&mut core, a, 1, T0);
    // The first message fails: it is deposited, and the sweep reads the outbox from its start.
    let out = answered(&mut core, a, 1, Err("dial failed".to_owned()), T0);
    assert_eq!(deposits(&out), vec![id(1)]);
    assert_eq!(page_asked(&out), Some(None));
    // A full page: everything in it not deposited yet, in order, and no more page until
    // those deposits are answered.
    let out = page(&mut core, a, 1, 64);
    assert_eq!(deposits(&out), (2..=64).map(id).collect::<Vec<_>>());
    assert_eq!(page_asked(&out), None);
    // The deposit that is not the sweep's does not hold it up.
    assert_eq!(page_asked(&deposit_answer(&mut core, a, 1, Ok(()))), None);
    for n in 2..64 {
        let out = deposit_answer(&mut core, a, n, Ok(()));
        assert_eq!(page_asked(&out), None, "page answered only in part ({n})");
    }
    let out = deposit_answer(&mut core, a, 64, Ok(()));
    assert_eq!(
        page_asked(&out),
        Some(Some(64)),
        "the next page after the last"
    );
    // The last page (short): deposited, then the sweep would end; but another delivery
    // failed meanwhile, so messages recorded since are looked for once more.
    send_head(&mut core, a, 1, T0);
    let out = answered(&mut core, a, 1, Err("dial failed".to_owned()), T0);
    assert_eq!(page_asked(&out), None, "one sweep at a time");
    let out = page(&mut core, a, 65, 99);
    assert_eq!(deposits(&out), (65..=99).map(id).collect::<Vec<_>>());
    for n in 65..99 {
        assert_eq!(page_asked(&deposit_answer(&mut core, a, n, Ok(()))), None);
    }
    let out = deposit_answer(&mut core, a, 99, Ok(()));
    assert_eq!(
        page_asked(&out),
        Some(Some(99)),
        "read on from where it was"
    );
    let out = page(&mut core, a, 100, 100);
    assert_eq!(deposits(&out), vec![id(100)]);
    assert_eq!(
        page_asked(&deposit_answer(&mut core, a, 100, Ok(()))),
        None,
        "the end"
    );
    // A deposit refused after its sweep ended (the mailbox's share is used up) is tried
    // again by the next sweep, which the next failed delivery starts; pages with nothing
    // new lead straight to the next.
    deposit_answer(&mut core, a, 65, Err("mailbox is full".to_owned()));
    let later = T0 + 10 * FIRST_RETRY_MS;
    send_head(&mut core, a, 1, later);
    let out = answered(&mut core, a, 1, Err("dial failed".to_owned()), later);
    assert!(
        deposits(&out).is_empty(),
        "deposited once while the daemon runs"
    );
    assert_eq!(page_asked(&out), Some(None));
    let out = page(&mut core, a, 1, 64);
    assert!(deposits(&out).is_empty());
    assert_eq!(page_asked(&out), Some(Some(64)));
    let out = page(&mut core, a, 65, 128);
    let fresh: Vec<MessageId> = std::iter::once(65).chain(101..=128).map(id).collect();
    assert_eq!(deposits(&out), fresh);
    // Refused again: the sweep ends with this page, though it was full, so that a full
    // mailbox is not asked for the rest of the outbox.
    let out = deposit_answer(&mut core, a, 65, Err("mailbox is full".to_owned()));
    assert_eq!(page_asked(&out), None);
    for n in 101..=128 {
        assert_eq!(page_asked(&deposit_answer(&mut core, a, n, Ok(()))), None);
    }
    // The recipient answers while a sweep is under way: it ends, its page finds nothing to do.
    let again = later + 10 * FIRST_RETRY_MS;
    send_head(&mut core, a, 1, again);
    let out = answered(&mut core, a, 1, Err("dial failed".to_owned()), again);
    assert_eq!(page_asked(&out), Some(None));
    send_head(&mut core, a, 1, again + 10 * FIRST_RETRY_MS);
    answered(&mut core, a, 1, Ok(Status::Stored), again);
    assert!(deposits(&page(&mut core, a, 65, 128)).is_empty());
}
