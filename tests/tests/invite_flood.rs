//! Invite spam through relays: frames without enough proof of work never get past a relay, and
//! the relay penalises whoever sent them; a flood of valid, stamped invites from one raw peer is
//! held to the relay's per-peer rate, the recipient keeps at most its bound of pending invites,
//! stays up with bounded memory, and an honest invite still arrives and can be accepted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use accord_handshake::{GossipFrame, Invite, Note, Payload};
use accord_identity::{AccordId, Identity};
use accord_tests::conversation::wait_connected;
use accord_tests::peer::{TestPeer, inbox_topic};
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, now_ms, os_rng, wait_until};

const DAY_MS: u64 = 24 * 3600 * 1000;

/// The default difficulty, as the daemons of the first test run it.
const DEFAULT_BITS: u32 = accord_handshake::DEFAULT_STAMP_BITS;

/// The pending invites a recipient keeps (the node's `MAX_INCOMING`).
const MAX_PENDING: usize = 500;

/// A generous bound on a daemon's resident memory after a flood: an idle debug daemon uses
/// a few tens of MiB, and nothing in a flood may accumulate without bound.
const MAX_RSS_KIB: u64 = 512 * 1024;

/// A valid invite from a fresh identity (a Sybil) to `to`, sealed but not yet stamped.
fn sybil_invite(to: &AccordId) -> GossipFrame {
    let sybil = Identity::generate(&mut os_rng());
    let note = Note::new("hello from a stranger", 300).unwrap_or_else(|err| panic!("{err}"));
    let now = now_ms();
    let (invite, _) = Invite::create(&sybil, *to, note, now, 14 * DAY_MS, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    GossipFrame::seal(to, &Payload::Invite(invite), now, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"))
}

/// A Sybil invite stamped with `bits` of work.
fn stamped_invite(to: &AccordId, bits: u32) -> Vec<u8> {
    let mut frame = sybil_invite(to);
    frame.mint(bits).unwrap_or_else(|err| panic!("{err}"));
    frame.encode()
}

/// A Sybil invite whose stamp has fewer than `required` bits: none at all, a cheaper one, or a
/// valid stamp copied from another frame (which is worthless on these bytes).
fn badly_stamped_invite(to: &AccordId, kind: usize, required: u32) -> Vec<u8> {
    loop {
        let mut frame = sybil_invite(to);
        match kind % 3 {
            0 => frame.stamp = 0,
            1 => frame.mint(8).unwrap_or_else(|err| panic!("{err}")),
            _ => {
                let mut other = sybil_invite(to);
                other.mint(required).unwrap_or_else(|err| panic!("{err}"));
                frame.stamp = other.stamp;
            }
        }
        // A bad stamp has enough work by chance once in 2^(required - 8) tries at worst.
        if frame.work_bits() < required {
            return frame.encode();
        }
    }
}

/// A frame of the unstamped version 1 layout (`1 ‖ expiry ‖ sealed box`), which nothing
/// accepts any more.
fn version_one_invite(to: &AccordId) -> Vec<u8> {
    let frame = sybil_invite(to).encode();
    let mut old = vec![1];
    old.extend_from_slice(&frame[1..GossipFrame::AD_LEN]);
    old.extend_from_slice(&frame[GossipFrame::HEADER_LEN..]);
    old
}

/// A raw peer connected to the relay `x` only, once `x` also has both honest `nodes` and the
/// gossip meshes have had time to form.
fn raw_peer_behind(x: &Daemon, nodes: [&Daemon; 2]) -> TestPeer {
    let raw = TestPeer::start(&[&x.tcp_addr()]);
    for peer in [&nodes[0].id, &nodes[1].id, &raw.identity().id().to_string()] {
        x.wait_for_peer(peer, ARRIVAL);
    }
    std::thread::sleep(Duration::from_secs(2));
    raw
}

/// The pending incoming invites of a daemon.
fn pending(daemon: &Daemon) -> usize {
    daemon
        .invites("--incoming")
        .iter()
        .filter(|invite| invite["state"] == "pending")
        .count()
}

fn stat(daemon: &Daemon, key: &str) -> u64 {
    daemon.json(&["stats"])[key].as_u64().unwrap_or(0)
}

/// Publishes, from S, frames with no stamp, a cheap stamp, a stamp copied from another frame
/// and the old unstamped layout, in turn, until `stop` is set.
fn send_bad_frames_until(s: &TestPeer, to: &AccordId, stop: &AtomicBool) {
    let topic = inbox_topic(to);
    for n in 0usize.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let frame = if n % 4 == 3 {
            version_one_invite(to)
        } else {
            badly_stamped_invite(to, n, DEFAULT_BITS)
        };
        s.publish(&topic, frame);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// While S attacks: X refuses every kind of bad frame, and R's acceptance of C's invite
/// reaches C through X but not S, whom X has cut off.
fn honest_traffic_crosses_while_the_sender_is_cut_off(
    x: &Daemon,
    r: &Daemon,
    c: &Daemon,
    s: &TestPeer,
) {
    wait_until("X to refuse bad stamps and the old layout", ARRIVAL, || {
        (x.dropped("relay_stamp") >= 3 && x.dropped("relay_malformed") >= 1).then_some(())
    });
    // X's scoring now ignores S and, from its next heartbeat (each second), no longer sends S
    // anything: record what S has seen once a few heartbeats have passed.
    std::thread::sleep(Duration::from_secs(4));
    let seen_by_s = s.received().len();

    // Honest traffic still flows through X during the attack: R accepts and C learns of it,
    // by gossip only (R and C are not connected to each other).
    r.json(&["accept", &c.id]);
    wait_connected(c, &r.id);

    // The acceptance went from X to C, but not to S: X cut S off.
    let c_topic = inbox_topic(&c.accord_id());
    let after: Vec<_> = s.received().into_iter().skip(seen_by_s).collect();
    assert!(
        after.iter().all(|m| m.topic != c_topic),
        "the penalised peer still received gossip from the relay: {} frames on {c_topic}",
        after.iter().filter(|m| m.topic == c_topic).count()
    );
}

/// The two tests run one after the other: each drives a relay's gossip scoring, whose
/// heartbeat a flood minting stamps on the other core can delay, and the first asserts what a
/// heartbeat has done.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn frames_without_enough_work_never_pass_a_relay_and_their_sender_is_cut_off() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    // A raw peer S and two honest nodes C and R, all linked only through the relay X; every
    // daemon runs the default difficulty.
    let dir = TestDir::new();
    let x = Daemon::start_with_config(&dir.path("x"), NO_DHT, &[]);
    let r = Daemon::start_with_config(&dir.path("r"), NO_DHT, &["--bootstrap", &x.tcp_addr()]);
    let c = Daemon::start_with_config(&dir.path("c"), NO_DHT, &["--bootstrap", &x.tcp_addr()]);
    let s = raw_peer_behind(&x, [&r, &c]);
    let r_id = r.accord_id();
    let topic = inbox_topic(&r_id);

    // Before any attack, S is an ordinary mesh member: C's invite reaches R through X, and S
    // receives a copy as well.
    let invite = c.json(&["connect", &r.id, "--note", "hi R"]);
    wait_until("R to receive C's invite", ARRIVAL, || {
        r.invites("--incoming")
            .iter()
            .any(|i| i["invite_id"] == invite["invite_id"])
            .then_some(())
    });
    wait_until("S to see C's invite go by", ARRIVAL, || {
        s.received().iter().any(|m| m.topic == topic).then_some(())
    });

    // S keeps sending badly stamped frames until the test is done; meanwhile honest traffic
    // crosses X and S is cut off.
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| send_bad_frames_until(&s, &r_id, &stop));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            honest_traffic_crosses_while_the_sender_is_cut_off(&x, &r, &c, &s)
        }));
        stop.store(true, Ordering::Relaxed);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });

    // Not one bad frame reached R: X refused them all before forwarding.
    assert_eq!(
        stat(&r, "gossip_rejected"),
        0,
        "a bad frame got past the relay"
    );
    for reason in ["relay_stamp", "relay_malformed", "stamp", "malformed"] {
        assert_eq!(r.dropped(reason), 0, "R dropped a {reason} frame");
    }
    assert_eq!(pending(&r), 0, "R holds an invite from the attacker");
    assert!(stat(&x, "gossip_rejected") >= 4);
}

/// The relay X's per-peer rate in the flood test, frames a minute.
const RATE: u64 = 60;

/// The flood test's cheap difficulty, which every node of its network uses.
const CHEAP_BITS: u32 = 6;

#[test]
fn an_invite_flood_is_held_to_the_relay_rate_and_the_recipient_stays_bounded() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    // A cheap difficulty keeps minting hundreds of valid frames fast; the relay X allows each
    // peer RATE frames a minute. R allows more (it is only a relay for S2, below).
    let cheap = format!("[invites]\nstamp_bits = {CHEAP_BITS}\n");
    let relay_config =
        format!("{NO_DHT}{cheap}[gossip]\nmax_frames_per_peer_per_minute = {RATE}\n");
    let recipient_config =
        format!("{NO_DHT}{cheap}[gossip]\nmax_frames_per_peer_per_minute = 5000\n");
    let dir = TestDir::new();
    let x = Daemon::start_with_config(&dir.path("x"), &relay_config, &[]);
    let r = Daemon::start_with_config(
        &dir.path("r"),
        &recipient_config,
        &["--bootstrap", &x.tcp_addr()],
    );
    let c = Daemon::start_with_config(
        &dir.path("c"),
        &format!("{NO_DHT}{cheap}"),
        &["--bootstrap", &x.tcp_addr()],
    );

    flood_through_the_relay(&x, &r, &c);
    flood_the_recipient_directly(&r);

    // Both daemons are up, within a generous memory bound, and the connection made during the
    // flood is intact.
    for (name, daemon) in [("relay", &x), ("recipient", &r)] {
        assert_eq!(
            daemon.json(&["id"])["id"],
            daemon.id.as_str(),
            "{name} must keep running"
        );
        let rss = daemon.rss_kib();
        assert!(
            rss < MAX_RSS_KIB,
            "the {name} uses {rss} KiB after the flood"
        );
    }
    assert!(
        r.connections()
            .iter()
            .any(|conn| conn["peer"] == c.id.as_str())
    );
}

/// A raw peer S1 behind the relay X floods the recipient R with 400 valid invites from 400
/// fresh identities; an honest invite from C follows at once. X forwards at most its rate and
/// penalises the rest; C's invite arrives and R accepts it.
fn flood_through_the_relay(x: &Daemon, r: &Daemon, c: &Daemon) {
    let s1 = raw_peer_behind(x, [r, c]);
    let r_id = r.accord_id();
    let topic = inbox_topic(&r_id);

    let frames: Vec<Vec<u8>> = (0..400)
        .map(|_| stamped_invite(&r_id, CHEAP_BITS))
        .collect();
    let flood_started = Instant::now();
    for frame in frames {
        s1.publish(&topic, frame);
    }
    let invite = c.json(&["connect", &r.id, "--note", "a real invite"]);
    wait_until("R to receive C's invite", ARRIVAL, || {
        r.invites("--incoming")
            .iter()
            .any(|i| i["invite_id"] == invite["invite_id"])
            .then_some(())
    });
    wait_until("X to penalise the flood", ARRIVAL, || {
        (x.dropped("relay_rate_limited") >= 1 && x.dropped("relay_rate_penalised") >= 1)
            .then_some(())
    });
    // X forwarded at most its per-peer rate: a minute's burst plus what the time since the
    // flood began refilled (C's own invite is on C's own allowance).
    let minutes = flood_started.elapsed().as_secs() / 60 + 1;
    let from_flood = pending(r) - 1;
    assert!(from_flood >= 1, "nothing of the flood got through");
    assert!(
        from_flood as u64 <= RATE + RATE * minutes,
        "{from_flood} flood invites passed a relay allowing {RATE} a minute"
    );
    assert_eq!(stat(r, "gossip_rejected"), 0);

    // The honest invite can be accepted during the flood.
    r.json(&["accept", &c.id]);
    wait_connected(c, &r.id);
}

/// A raw peer S2, connected to R directly (R is its relay), sends 600 more valid invites, in
/// batches R can take in: R keeps at most its bound of pending invites, evicting the oldest.
fn flood_the_recipient_directly(r: &Daemon) {
    let s2 = TestPeer::start(&[&r.tcp_addr()]);
    r.wait_for_peer(&s2.identity().id().to_string(), ARRIVAL);
    std::thread::sleep(Duration::from_secs(2));
    let r_id = r.accord_id();
    let topic = inbox_topic(&r_id);
    let mut expected = pending(r);
    for _ in 0..6 {
        let batch: Vec<Vec<u8>> = (0..100)
            .map(|_| stamped_invite(&r_id, CHEAP_BITS))
            .collect();
        for frame in batch {
            s2.publish(&topic, frame);
        }
        expected = (expected + 100).min(MAX_PENDING);
        wait_until(
            &format!("R to hold {expected} pending invites"),
            ARRIVAL,
            || (pending(r) == expected).then_some(()),
        );
    }
    assert_eq!(pending(r), MAX_PENDING);
    assert!(r.dropped("evicted_invite") >= 1);
}
