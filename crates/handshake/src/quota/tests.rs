use super::*;
use crate::test_rng::{DAY, NOW, parties};
use proptest::prelude::*;

const WEEK: u64 = 7 * DAY;

fn policy(limit: u32) -> QuotaPolicy {
    QuotaPolicy {
        weekly_limit: limit,
        ..QuotaPolicy::default()
    }
}

#[test]
fn defaults() {
    let p = QuotaPolicy::default();
    assert_eq!(
        (p.weekly_limit, p.max_outstanding, p.window_ms),
        (100, 200, WEEK)
    );
    assert_eq!(IncomingPolicy::default().max_incoming, 500);
}

#[test]
fn weekly_limit_and_next_slot() {
    let p = policy(3);
    let sent = [NOW, NOW + 10, NOW + 20];
    assert_eq!(p.check(&sent[..2], 0, NOW + 30, 0), Ok(()));
    assert_eq!(p.remaining(&sent[..2], NOW + 30, 0), 1);
    let full = Err(QuotaError::WeeklyLimit {
        limit: 3,
        next_slot_at_ms: NOW + WEEK,
    });
    assert_eq!(p.check(&sent, 0, NOW + 30, 0), full);
    assert_eq!(p.remaining(&sent, NOW + 30, 0), 0);
    // The oldest leaves the window exactly a week after it was sent.
    assert_eq!(p.check(&sent, 0, NOW + WEEK - 1, 0), full);
    assert_eq!(p.check(&sent, 0, NOW + WEEK, 0), Ok(()));
    assert_eq!(p.remaining(&sent, NOW + WEEK + 20, 0), 3);
    // A lowered limit: two have to leave before a slot frees.
    assert_eq!(
        policy(2).check(&sent, 0, NOW + 30, 0),
        Err(QuotaError::WeeklyLimit {
            limit: 2,
            next_slot_at_ms: NOW + 10 + WEEK
        })
    );
    assert_eq!(
        policy(0).check(&[], 0, NOW, 0),
        Err(QuotaError::WeeklyLimit {
            limit: 0,
            next_slot_at_ms: u64::MAX
        })
    );
}

#[test]
fn clock_moved_backwards_reopens_nothing() {
    let p = policy(1);
    let sent = [NOW];
    // The clock jumps back two weeks; last_seen remembers NOW.
    assert!(p.check(&sent, 0, NOW - 2 * WEEK, NOW).is_err());
    assert_eq!(p.remaining(&sent, NOW - 2 * WEEK, NOW), 0);
    assert!(p.check(&sent, 0, NOW - 2 * WEEK, NOW + WEEK).is_ok());
    assert_eq!(effective_now(5, 7), 7);
}

#[test]
fn a_forward_clock_jump_moves_the_mark_at_most_a_day_past_the_evidence() {
    // The daemon restarts with its clock 30 days ahead; the mark it had is the real time.
    let evidence = TimeEvidence::at_start(NOW, NOW + 30 * DAY);
    let hour = DAY / 24;
    let reading = evidence.mark_reading(NOW + 30 * DAY + hour, hour);
    assert_eq!(reading.at_ms, NOW + hour + MAX_MARK_LEAD_MS);
    assert!(reading.clock_ahead);
    // So after the clock is corrected, the quota recorded during the jump frees within a day
    // of its real time, and a cool-down is judged at most a day ahead.
    let p = policy(1);
    let corrected = NOW + 2 * hour;
    assert!(
        p.check(&[reading.at_ms], 0, corrected, reading.at_ms)
            .is_err()
    );
    assert!(
        p.check(&[reading.at_ms], 0, reading.at_ms + WEEK, reading.at_ms)
            .is_ok()
    );
    assert!(effective_now(corrected, reading.at_ms) <= corrected + MAX_MARK_LEAD_MS);
    // A clock within the bound is recorded as it is.
    let honest = evidence.mark_reading(NOW + hour, hour);
    assert_eq!(
        honest,
        MarkReading {
            at_ms: NOW + hour,
            clock_ahead: false
        }
    );
}

#[test]
fn peers_and_elapsed_time_raise_the_bound_and_a_first_start_trusts_the_clock() {
    let mut evidence = TimeEvidence::at_start(NOW, NOW);
    assert_eq!(evidence.ceiling(0), NOW + MAX_MARK_LEAD_MS);
    // A month offline: the clock is right, but only a peer's word can show it.
    let month = 30 * DAY;
    assert!(evidence.mark_reading(NOW + month, 0).clock_ahead);
    evidence.note_peer_time(NOW + month);
    evidence.note_peer_time(NOW);
    assert_eq!(evidence.latest_peer_time_ms, NOW + month);
    assert!(!evidence.mark_reading(NOW + month, 0).clock_ahead);
    // Time that passed on the monotonic clock counts as well.
    assert_eq!(
        TimeEvidence::at_start(NOW, NOW).ceiling(DAY),
        NOW + DAY + MAX_MARK_LEAD_MS
    );
    // No mark yet: the clock at start is all there is.
    assert_eq!(TimeEvidence::at_start(0, NOW).mark_at_start_ms, NOW);
}

#[test]
fn outstanding() {
    let p = QuotaPolicy {
        max_outstanding: 2,
        ..QuotaPolicy::default()
    };
    assert_eq!(p.check(&[], 1, NOW, 0), Ok(()));
    assert_eq!(
        p.check(&[], 2, NOW, 0),
        Err(QuotaError::TooManyOutstanding { max: 2 })
    );
}

#[test]
fn cooldown() {
    assert_eq!(cooldown_ends_at(NOW, 21), NOW + 21 * DAY);
    assert_eq!(cooldown_ends_at(u64::MAX - 1, 21), u64::MAX);
    let until_ms = NOW + 21 * DAY;
    assert_eq!(
        check_cooldown(NOW, 21, NOW + DAY, 0),
        Err(QuotaError::CoolDown { until_ms })
    );
    assert_eq!(check_cooldown(NOW, 21, until_ms, 0), Ok(()));
    // Moving the clock forward works; moving it back after having seen the future does not
    // matter either way: last_seen only ever helps the cool-down end.
    assert_eq!(check_cooldown(NOW, 21, NOW, until_ms), Ok(()));
    assert_eq!(check_cooldown(NOW, 0, NOW, 0), Ok(()));
}

fn incoming(seed: u64, id: u8, created: u64, expires: u64) -> IncomingInvite {
    IncomingInvite {
        invite_id: [id; 16],
        inviter: parties(seed).0.id(),
        created_at_ms: created,
        expires_at_ms: expires,
    }
}

#[test]
fn one_invite_per_sender() {
    let p = IncomingPolicy::default();
    let old = incoming(1, 1, NOW, NOW + DAY);
    let newer = incoming(1, 2, NOW + 1, NOW + DAY);
    assert_eq!(
        p.admit(&[old], &newer),
        Admission::Admit {
            evict: vec![old.invite_id]
        }
    );
    assert_eq!(p.admit(&[newer], &old), Admission::Stale);
    assert_eq!(p.admit(&[old], &old), Admission::Duplicate);
    let other = incoming(2, 3, NOW, NOW + DAY);
    assert_eq!(p.admit(&[old], &other), Admission::Admit { evict: vec![] });
}

#[test]
fn a_flood_of_long_lived_invites_cannot_push_out_an_honest_one() {
    // Three throw-away senders fill the store with 90-day invites; an honest 14-day invite
    // arrives an hour later. Ranked by expiry alone it would be refused as `Full` (it expires
    // first) for as long as the flood lives; with the lifetime capped, it outranks them.
    let p = IncomingPolicy { max_incoming: 3 };
    let flood: Vec<IncomingInvite> = (0..3u8)
        .map(|n| incoming(10 + u64::from(n), n, NOW + u64::from(n), NOW + 90 * DAY))
        .collect();
    let hour = DAY / 24;
    let honest = incoming(1, 50, NOW + hour, NOW + hour + 14 * DAY);
    assert_eq!(
        p.admit(&flood, &honest),
        Admission::Admit {
            evict: vec![flood[0].invite_id]
        }
    );
    // The flood goes on: each later throw-away invite pushes out an older flood invite, and
    // the honest one goes only once every invite that arrived before it has gone.
    let mut store = vec![flood[1], flood[2], honest];
    for n in 0..3u8 {
        let later = incoming(
            20 + u64::from(n),
            100 + n,
            NOW + 2 * hour + u64::from(n),
            NOW + 90 * DAY,
        );
        let Admission::Admit { evict } = p.admit(&store, &later) else {
            panic!("a newer invite is admitted");
        };
        let expect_honest_gone = n == 2;
        assert_eq!(
            evict.contains(&honest.invite_id),
            expect_honest_gone,
            "round {n}"
        );
        store.retain(|e| !evict.contains(&e.invite_id));
        store.push(later);
    }
    // The lifetime that counts is capped at 14 days, and an earlier expiry still counts.
    assert_eq!(eviction_deadline(&flood[0]), NOW + COUNTED_LIFETIME_MS);
    let short = incoming(2, 60, NOW, NOW + DAY);
    assert_eq!(eviction_deadline(&short), NOW + DAY);
}

#[test]
fn full_store_drops_the_earliest_to_expire() {
    let p = IncomingPolicy { max_incoming: 2 };
    let a = incoming(1, 1, NOW, NOW + 5 * DAY);
    let b = incoming(2, 2, NOW, NOW + 3 * DAY);
    let c = incoming(3, 3, NOW, NOW + 4 * DAY);
    assert_eq!(
        p.admit(&[a, b], &c),
        Admission::Admit {
            evict: vec![b.invite_id]
        }
    );
    let d = incoming(4, 4, NOW, NOW + DAY);
    assert_eq!(p.admit(&[a, b], &d), Admission::Full);
    // A replacement from the same sender does not need room.
    let a2 = incoming(1, 5, NOW + 1, NOW + DAY);
    assert_eq!(
        p.admit(&[a, b], &a2),
        Admission::Admit {
            evict: vec![a.invite_id]
        }
    );
    assert_eq!(
        IncomingPolicy { max_incoming: 0 }.admit(&[], &a),
        Admission::Full
    );
}

proptest! {
    #[test]
    fn never_more_than_the_limit_in_any_window(
        limit in 0u32..6,
        steps in proptest::collection::vec(-3 * DAY as i64..3 * DAY as i64, 0..80),
    ) {
        let p = policy(limit);
        let (mut clock, mut last_seen, mut ledger) = (NOW, 0u64, Vec::new());
        for step in steps {
            clock = clock.saturating_add_signed(step);
            if p.check(&ledger, 0, clock, last_seen).is_ok() {
                ledger.push(effective_now(clock, last_seen));
            }
            last_seen = effective_now(clock, last_seen);
        }
        prop_assert!(ledger.is_sorted());
        for (i, &start) in ledger.iter().enumerate() {
            let in_window = ledger[i..].iter().take_while(|&&t| t < start + WEEK).count();
            prop_assert!(in_window <= limit as usize, "{} in the window from {}", in_window, start);
        }
    }

    #[test]
    fn clock_going_backwards_never_increases_remaining(
        mut sent in proptest::collection::vec(NOW - 2 * WEEK..NOW + 2 * WEEK, 0..20),
        now1 in NOW - WEEK..NOW + 3 * WEEK,
        back in 0..3 * WEEK,
        last_seen in 0..NOW + 3 * WEEK,
    ) {
        sent.sort_unstable();
        let p = policy(10);
        let before = p.remaining(&sent, now1, last_seen);
        // The node persisted what it saw at now1; then the clock goes back.
        let persisted = effective_now(now1, last_seen);
        let after = p.remaining(&sent, now1 - back, persisted);
        prop_assert!(after <= before);
        prop_assert_eq!(
            p.check(&sent, 0, now1 - back, persisted).is_ok(),
            p.check(&sent, 0, now1, last_seen).is_ok()
        );
    }

    #[test]
    fn incoming_bound_holds(
        arrivals in proptest::collection::vec((0u64..6, any::<u8>(), 0u64..50, 1u64..50), 0..60),
        max in 0usize..8,
    ) {
        let p = IncomingPolicy { max_incoming: max };
        let mut store: Vec<IncomingInvite> = Vec::new();
        for (sender, id, created, life) in arrivals {
            let new = incoming(sender, id, NOW + created, NOW + created + life);
            if let Admission::Admit { evict } = p.admit(&store, &new) {
                store.retain(|e| !evict.contains(&e.invite_id));
                store.push(new);
            }
            prop_assert!(store.len() <= max);
            let mut senders: Vec<_> = store.iter().map(|e| e.inviter).collect();
            senders.sort();
            senders.dedup();
            prop_assert_eq!(senders.len(), store.len(), "one invite per sender");
        }
    }
}
