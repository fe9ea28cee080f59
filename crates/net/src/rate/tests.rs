use std::time::Duration;

use super::*;
use proptest::prelude::*;

fn peer(n: u8) -> PeerId {
    let key = libp2p::identity::ed25519::SecretKey::try_from_bytes([n.max(1); 32]).unwrap();
    let keypair = libp2p::identity::ed25519::Keypair::from(key);
    libp2p::identity::Keypair::from(keypair)
        .public()
        .to_peer_id()
}

#[test]
fn a_burst_of_one_minute_then_limited_then_penalised() {
    let start = Instant::now();
    let mut limiter = PeerRateLimiter::new(10, 16);
    let p = peer(1);
    let verdicts: Vec<RateVerdict> = (0..25).map(|_| limiter.check(p, start)).collect();
    assert!(verdicts[..10].iter().all(|v| *v == RateVerdict::Allow));
    assert!(verdicts[10..20].iter().all(|v| *v == RateVerdict::Limited));
    assert!(verdicts[20..].iter().all(|v| *v == RateVerdict::Penalise));
}

#[test]
fn the_bucket_refills_at_the_rate_and_debt_must_be_paid_back() {
    let start = Instant::now();
    let mut limiter = PeerRateLimiter::new(60, 16); // One frame a second.
    let p = peer(2);
    for _ in 0..60 {
        assert_eq!(limiter.check(p, start), RateVerdict::Allow);
    }
    // Ten frames into debt.
    for _ in 0..10 {
        assert_eq!(limiter.check(p, start), RateVerdict::Limited);
    }
    // After 10 s the debt is paid back but no whole frame is available yet.
    let later = start + Duration::from_secs(10);
    assert_eq!(limiter.check(p, later), RateVerdict::Limited);
    // That frame went into debt again (one frame): two seconds later one frame is available.
    let later = later + Duration::from_secs(2);
    assert_eq!(limiter.check(p, later), RateVerdict::Allow);
    assert_eq!(limiter.check(p, later), RateVerdict::Limited);
    // A long quiet spell refills the bucket to one minute's allowance, not more.
    let much_later = later + Duration::from_secs(3600);
    let allowed = (0..200)
        .filter(|_| limiter.check(p, much_later) == RateVerdict::Allow)
        .count();
    assert_eq!(allowed, 60);
}

#[test]
fn peers_are_independent_and_the_map_is_bounded() {
    let start = Instant::now();
    let mut limiter = PeerRateLimiter::new(1, 3);
    let (a, b) = (peer(1), peer(2));
    assert_eq!(limiter.check(a, start), RateVerdict::Allow);
    assert_eq!(limiter.check(a, start), RateVerdict::Limited);
    assert_eq!(limiter.check(b, start), RateVerdict::Allow);
    for (n, at) in (3..10).zip(1u64..) {
        limiter.check(peer(n), start + Duration::from_millis(at));
        assert!(limiter.tracked_peers() <= 3);
    }
    // `a` was the oldest and was forgotten: it starts again with a full bucket.
    assert_eq!(
        limiter.check(a, start + Duration::from_secs(1)),
        RateVerdict::Allow
    );
}

#[test]
fn the_least_recently_heard_peer_is_evicted() {
    let start = Instant::now();
    let mut limiter = PeerRateLimiter::new(1, 2);
    let (a, b, c) = (peer(1), peer(2), peer(3));
    limiter.check(a, start);
    limiter.check(b, start + Duration::from_millis(1));
    // `a` is heard from again, so `b` is now the oldest and makes room for `c`.
    assert_eq!(
        limiter.check(a, start + Duration::from_millis(2)),
        RateVerdict::Limited
    );
    limiter.check(c, start + Duration::from_millis(3));
    assert_eq!(limiter.tracked_peers(), 2);
    // `a` is remembered, deep in debt.
    assert_eq!(
        limiter.check(a, start + Duration::from_millis(4)),
        RateVerdict::Penalise
    );
    assert_eq!(
        limiter.check(b, start + Duration::from_millis(5)),
        RateVerdict::Allow
    );
}

proptest! {
    #[test]
    fn never_more_than_the_burst_plus_the_rate_is_allowed(
        per_minute in 1u32..600,
        gaps in proptest::collection::vec(0u64..5_000, 1..400),
    ) {
        let start = Instant::now();
        let mut limiter = PeerRateLimiter::new(per_minute, 4);
        let p = peer(7);
        let mut now = start;
        let mut allowed = 0u64;
        for gap in gaps {
            now += Duration::from_millis(gap);
            if limiter.check(p, now) == RateVerdict::Allow {
                allowed += 1;
            }
        }
        let elapsed_ms = u64::try_from((now - start).as_millis()).unwrap();
        // Allowed frames never exceed the burst plus what the elapsed time refilled.
        let bound = u64::from(per_minute) + elapsed_ms * u64::from(per_minute) / 60_000;
        prop_assert!(allowed <= bound, "{allowed} > {bound}");
    }

    #[test]
    fn a_peer_within_its_rate_is_never_dropped(per_minute in 1u32..600, count in 1usize..200) {
        let start = Instant::now();
        let mut limiter = PeerRateLimiter::new(per_minute, 4);
        let p = peer(8);
        // Exactly one frame per refill period.
        let period = 60_000 / u64::from(per_minute) + 1;
        for i in 0..count as u64 {
            let at = start + Duration::from_millis(i * period);
            prop_assert_eq!(limiter.check(p, at), RateVerdict::Allow);
        }
    }
}

#[test]
fn a_cost_draws_that_many_frames_from_the_bucket() {
    let start = Instant::now();
    // A byte budget: 1,000 bytes a minute.
    let mut limiter = PeerRateLimiter::new(1000, 16);
    let p = peer(9);
    assert_eq!(limiter.check_cost(p, start, 600), RateVerdict::Allow);
    assert_eq!(limiter.check_cost(p, start, 400), RateVerdict::Allow);
    assert_eq!(limiter.check_cost(p, start, 1), RateVerdict::Limited);
    // Another peer has its own budget.
    assert_eq!(
        limiter.check_cost(peer(10), start, 1000),
        RateVerdict::Allow
    );
    // Six seconds refill 100 bytes, which pays back the debt of one and leaves 99.
    let later = start + Duration::from_secs(6);
    assert_eq!(limiter.check_cost(p, later, 99), RateVerdict::Allow);
    assert_eq!(limiter.check_cost(p, later, 1), RateVerdict::Limited);
    // More than a whole minute's budget at once is never allowed.
    assert_eq!(
        limiter.check_cost(peer(11), start, 1001),
        RateVerdict::Limited
    );
}

#[test]
fn many_peers_from_one_prefix_share_its_bucket() {
    let start = Instant::now();
    // 10 frames a minute per peer, 15 per prefix.
    let mut rate = ForwardingRate::new(10, 15, 64);
    let prefix = crate::prefix::ip_prefix(&"/ip4/198.51.100.4/tcp/1".parse().unwrap());
    // The first peer uses its whole allowance.
    for _ in 0..10 {
        assert_eq!(rate.check(peer(1), prefix, start), RateVerdict::Allow);
    }
    // A second identity on the same network gets only what the prefix has left, although
    // its own bucket is full: without the prefix bucket it would forward 10 more.
    let allowed = (0..10)
        .filter(|_| rate.check(peer(2), prefix, start) == RateVerdict::Allow)
        .count();
    assert_eq!(allowed, 5);
    // A peer elsewhere (or on loopback) is not held back by that network.
    let elsewhere = crate::prefix::ip_prefix(&"/ip4/192.0.2.4/tcp/1".parse().unwrap());
    assert_eq!(rate.check(peer(3), elsewhere, start), RateVerdict::Allow);
    assert_eq!(rate.check(peer(4), None, start), RateVerdict::Allow);
}
