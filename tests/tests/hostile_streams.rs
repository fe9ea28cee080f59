//! Hostile raw libp2p peers against a real daemon: garbage, oversize frames, endless streams
//! and floods of substreams on every protocol the daemon speaks (and one it does not), and a
//! full outbox. After each attack the daemon is still up, its memory stayed bounded, two real
//! daemons still exchange messages, and the attacker was cut off (connection closed) or its
//! streams were reset — observed from the attacker's side.
//!
//! The attacker is [`RawPeer`]: TCP, Noise and Yamux only, writing bytes built from the wire
//! spec (docs/protocol.md: a `u32` big-endian length, then the frame), not from node code.

use std::time::Duration;

use accord_tests::raw::{RawPeer, StreamOutcome};
use accord_tests::{ARRIVAL, Daemon, TestDir, connected_pair, stderr, wait_until};

const CONFIG: &str = "[network]\nmdns = false\ndht = false\n";
const INBOX: &str = "/accord/inbox/1";
const DM: &str = "/accord/dm/1";
/// The frame limit of `/accord/dm/1` by default (`[limits]`, 128 KiB).
const DM_LIMIT: u32 = 128 * 1024;
/// The frame limit of `/accord/inbox/1` by default (`[limits]`): one gossip frame fits.
const INBOX_LIMIT: u32 = 4096;

/// The default frame limit of `protocol`.
fn limit(protocol: &str) -> u32 {
    if protocol == DM {
        DM_LIMIT
    } else {
        INBOX_LIMIT
    }
}
/// How much a daemon's resident memory may grow across one test's attacks. Generous on
/// purpose (a debug build, allocator slack, libp2p's buffers): an unbounded daemon would hold
/// 5,000 × 128 KiB = 625 MiB for the flood alone.
const RSS_GROWTH_BOUND_KIB: u64 = 128 * 1024;

/// A frame as the wire spec has it: the length, then the bytes.
fn framed(len: u32, body: &[u8]) -> Vec<u8> {
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Deterministic junk: a length prefix of 0xDEADBEEF (far above any limit) and more junk.
fn garbage(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| [0xDE, 0xAD, 0xBE, 0xEF][i % 4] ^ u8::try_from(i / 4 % 251).unwrap_or(0))
        .collect()
}

/// The daemon's process is alive and its control socket answers.
fn assert_up(daemon: &Daemon, after: &str) {
    assert!(
        std::path::Path::new(&format!("/proc/{}", daemon.pid())).exists(),
        "the daemon died after {after}: {}",
        daemon.log()
    );
    let status = daemon.run(&["--json", "status"]);
    assert!(
        status.status.success(),
        "`accord status` failed after {after}: {}",
        stderr(&status)
    );
}

/// One message each way between the victim and its friend, each delivered.
fn honest_traffic_flows(victim: &Daemon, friend: &Daemon, tag: &str) {
    let before = victim.history(&friend.id).len();
    let to_friend = format!("{tag}: from the victim");
    let to_victim = format!("{tag}: from the friend");
    victim.json(&["send", &friend.id, &to_friend, "--wait"]);
    friend.json(&["send", &victim.id, &to_victim, "--wait"]);
    let history = victim.wait_history(&friend.id, before + 2);
    let bodies: Vec<&str> = history.iter().filter_map(|m| m["body"].as_str()).collect();
    assert!(bodies.contains(&to_friend.as_str()), "{bodies:?}");
    assert!(bodies.contains(&to_victim.as_str()), "{bodies:?}");
}

/// Connects a fresh raw peer, runs `attack` with it, and waits until the daemon has closed
/// the raw peer's connection.
fn attack_expecting_disconnect(victim: &Daemon, what: &str, attack: impl FnOnce(&RawPeer)) {
    let raw = RawPeer::connect(&victim.tcp_addr());
    attack(&raw);
    let deadline = std::time::Instant::now() + ARRIVAL;
    while raw.is_connected() || raw.connections_closed() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not disconnect {what}; its log:\n{}",
            victim.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_refused(outcome: &StreamOutcome, what: &str) {
    assert!(
        outcome.is_refused(),
        "{what}: expected a reset or refused stream, got {outcome:?}"
    );
}

#[test]
fn garbage_and_oversize_frames_cost_the_sender_its_connection() {
    let dir = TestDir::new();
    let (victim, friend) = connected_pair(&dir, CONFIG);
    let rss_before = victim.rss_kib();

    // Only `/accord/inbox/1` reads a stranger's frames; a stranger's dm streams are refused
    // unread (see `dm_streams_from_a_stranger_are_refused_unread`).
    {
        let protocol = INBOX;
        attack_expecting_disconnect(&victim, &format!("garbage on {protocol}"), |raw| {
            assert_refused(&raw.send(protocol, garbage(4096)), "garbage");
        });
        attack_expecting_disconnect(&victim, &format!("a huge length on {protocol}"), |raw| {
            assert_refused(&raw.send(protocol, framed(u32::MAX, b"x")), "u32::MAX");
        });
        attack_expecting_disconnect(&victim, &format!("limit + 1 on {protocol}"), |raw| {
            let over = limit(protocol) + 1;
            assert_refused(&raw.send(protocol, framed(over, &[])), "limit + 1");
        });
        attack_expecting_disconnect(
            &victim,
            &format!("a real oversize body on {protocol}"),
            |raw| {
                let body = vec![0x42; 200 * 1024];
                let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
                assert_refused(&raw.send(protocol, framed(len, &body)), "200 KiB body");
            },
        );
        // A well-framed request whose stream ends early is only dropped, like a flaky link.
        let raw = RawPeer::connect(&victim.tcp_addr());
        assert_refused(&raw.send(protocol, framed(100, b"short")), "truncated");
        assert_up(&victim, &format!("attacks on {protocol}"));
    }

    // A protocol nobody speaks: negotiation fails, the stream never reaches any handler.
    let raw = RawPeer::connect(&victim.tcp_addr());
    match raw.send("/nobody/speaks/this/1", garbage(1024)) {
        StreamOutcome::Failed(_) => {}
        other => panic!("an unknown protocol was accepted: {other:?}"),
    }
    drop(raw);

    assert_up(&victim, "garbage and oversize frames");
    let growth = victim.rss_kib().saturating_sub(rss_before);
    assert!(
        growth < RSS_GROWTH_BOUND_KIB,
        "VmRSS grew by {growth} KiB (bound {RSS_GROWTH_BOUND_KIB} KiB)"
    );
    honest_traffic_flows(&victim, &friend, "after garbage");
    let log = victim.log();
    assert!(log.contains("disconnecting peer"), "no disconnect logged");
}

/// A stranger's `/accord/dm/1` streams are refused before a byte of them is read: garbage,
/// huge lengths and a well-framed 100 KiB request alike are reset, counted as
/// `dm_not_connection`, and cost the stranger nothing else (it is not one of the node's
/// connections, so nothing it says on dm is worth reading, but an honest peer racing a
/// revocation must not lose its connection for it).
#[test]
fn dm_streams_from_a_stranger_are_refused_unread() {
    let dir = TestDir::new();
    let (victim, friend) = connected_pair(&dir, CONFIG);
    let rss_before = victim.rss_kib();
    let raw = RawPeer::connect(&victim.tcp_addr());
    let body = vec![0x42; 100 * 1024];
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let attacks = [
        ("garbage", garbage(4096)),
        ("u32::MAX", framed(u32::MAX, b"x")),
        ("limit + 1", framed(DM_LIMIT + 1, &[])),
        ("a well-framed 100 KiB request", framed(len, &body)),
    ];
    let count = u64::try_from(attacks.len()).unwrap_or(u64::MAX);
    for (what, bytes) in attacks {
        assert_refused(&raw.send(DM, bytes), what);
    }
    // 1,000 more at once: each is refused as soon as it is negotiated.
    let flood = raw.flood(DM, 1000, &framed(len, &body));
    assert!(
        flood.iter().all(StreamOutcome::is_refused),
        "a stranger's dm stream was not refused"
    );
    wait_until("the refusals are counted", ARRIVAL, || {
        (victim.dropped("dm_not_connection") >= count).then_some(())
    });
    assert!(
        raw.is_connected() && raw.connections_closed() == 0,
        "a refused dm stream cost the stranger its connection"
    );
    assert_up(&victim, "dm streams from a stranger");
    let growth = victim.rss_kib().saturating_sub(rss_before);
    assert!(
        growth < RSS_GROWTH_BOUND_KIB,
        "VmRSS grew by {growth} KiB (bound {RSS_GROWTH_BOUND_KIB} KiB)"
    );
    // The friend, a connection, still gets through on dm.
    honest_traffic_flows(&victim, &friend, "after the stranger's dm streams");
}

/// `/accord/inbox/1` has a per-peer request rate (120 a minute by default): a stranger
/// sending well-framed requests as fast as it can has the excess dropped and counted as
/// `direct_rate_limited`, while honest traffic still flows.
#[test]
fn inbox_requests_beyond_a_peers_rate_are_dropped_and_counted() {
    let dir = TestDir::new();
    let (victim, friend) = connected_pair(&dir, CONFIG);
    let raw = RawPeer::connect(&victim.tcp_addr());
    // Well-framed junk: within the frame limit, so it costs no disconnect, and the node's
    // frame check throws it away if it gets that far.
    let junk = framed(1000, &[0x17; 1000]);
    let outcomes: Vec<StreamOutcome> = (0..300).map(|_| raw.send(INBOX, junk.clone())).collect();
    assert!(
        outcomes
            .iter()
            .all(|o| !matches!(o, StreamOutcome::Hanging)),
        "an inbox stream was left hanging"
    );
    wait_until("requests over the rate are counted", ARRIVAL, || {
        (victim.dropped("direct_rate_limited") > 0).then_some(())
    });
    let limited = victim.dropped("direct_rate_limited");
    // At most 120 pass at once, plus what refills (2 a second) while the 300 are sent.
    println!("300 inbox requests from one stranger: {limited} dropped over its rate");
    assert!(
        limited <= 180,
        "{limited} dropped, more than the rate allows"
    );
    assert_up(&victim, "an inbox request flood");
    honest_traffic_flows(&victim, &friend, "after the inbox request flood");
}

#[test]
fn endless_streams_are_reset_and_floods_of_substreams_are_refused() {
    let dir = TestDir::new();
    let config = format!("{CONFIG}[limits]\nstreams_per_connection = 64\n");
    let (victim, friend) = connected_pair(&dir, &config);
    let rss_before = victim.rss_kib();

    // An endless stream: a length exactly at the limit, then a byte at a time, never
    // finishing. The daemon resets it when its request timeout runs out. (A stranger's dm
    // stream is refused before its length is read: see
    // `dm_streams_from_a_stranger_are_refused_unread`.)
    {
        let protocol = INBOX;
        let raw = RawPeer::connect(&victim.tcp_addr());
        let outcome = raw.trickle(
            protocol,
            limit(protocol).to_be_bytes().to_vec(),
            vec![0x55],
            Duration::from_millis(50),
        );
        assert_refused(&outcome, &format!("endless stream on {protocol}"));
    }
    assert_up(&victim, "endless streams");

    // 5,000 substreams at once on each protocol, each holding an unfinished request, while
    // the two honest daemons talk. With the default 512 streams per connection the daemon
    // resets every stream beyond its 100 per protocol; with `streams_per_connection = 64`
    // the flood also costs the attacker its connection.
    for protocol in [DM, INBOX] {
        let addr = victim.tcp_addr();
        let flood = std::thread::spawn(move || {
            let raw = RawPeer::connect(&addr);
            let outcomes = raw.flood(protocol, 5000, &framed(1000, b"never finished"));
            (outcomes, raw.connections_closed())
        });
        honest_traffic_flows(&victim, &friend, &format!("during the {protocol} flood"));
        let (outcomes, closed) = flood
            .join()
            .unwrap_or_else(|_| panic!("the {protocol} flood panicked"));
        let answered = outcomes
            .iter()
            .filter(|o| matches!(o, StreamOutcome::Answered(_)))
            .count();
        let hanging = outcomes
            .iter()
            .filter(|o| matches!(o, StreamOutcome::Hanging))
            .count();
        assert_eq!(
            answered, 0,
            "unfinished requests were answered on {protocol}"
        );
        assert_eq!(hanging, 0, "streams left hanging on {protocol}");
        // On the inbox the attacker holds up to 256 unacknowledged streams (Yamux's
        // backlog), far above the victim's 64: Yamux closes its connection, and every stream
        // fails with it. On dm a stranger's streams are refused as fast as they open, before
        // a byte is read, so they may never pile up that far.
        assert!(
            protocol == DM || closed >= 1,
            "the {protocol} flood did not cost its connection"
        );
        let ended = outcomes
            .iter()
            .filter(|o| matches!(o, StreamOutcome::Ended))
            .count();
        let mut failures: Vec<&str> = outcomes
            .iter()
            .filter_map(|o| match o {
                StreamOutcome::Failed(kind) => Some(kind.as_str()),
                _ => None,
            })
            .collect();
        failures.sort_unstable();
        failures.dedup();
        println!(
            "{protocol}: 5000 streams: {ended} ended unanswered, {} failed ({failures:?}); \
             connection closed {closed} time(s)",
            5000 - ended
        );
        assert_up(&victim, &format!("the {protocol} flood"));
    }

    let growth = victim.rss_kib().saturating_sub(rss_before);
    println!("VmRSS growth across the attacks: {growth} KiB");
    assert!(
        growth < RSS_GROWTH_BOUND_KIB,
        "VmRSS grew by {growth} KiB (bound {RSS_GROWTH_BOUND_KIB} KiB)"
    );
    honest_traffic_flows(&victim, &friend, "after the floods");
}

#[test]
fn a_full_outbox_refuses_send_and_keeps_what_it_queued_across_a_restart() {
    let dir = TestDir::new();
    let config = format!("{CONFIG}[limits]\noutbox_per_peer = 3\n");
    let (sender, friend) = connected_pair(&dir, &config);
    let friend_dir = friend.data_dir.clone();
    let friend_id = friend.id.clone();
    assert!(friend.stop().success(), "the friend did not stop cleanly");

    let queued = ["one", "two", "three"];
    for body in queued {
        let sent = sender.json(&["send", &friend_id, body]);
        assert_eq!(sent["state"], "queued", "{sent}");
    }
    let refused = sender.run(&["send", &friend_id, "four"]);
    assert_eq!(refused.status.code(), Some(1), "a full outbox must exit 1");
    let message = stderr(&refused);
    assert!(
        message.starts_with("error:")
            && message.contains("outbox")
            && message.contains("full")
            && message.contains("limits.outbox_per_peer"),
        "unclear refusal: {message}"
    );

    // Nothing queued was lost, through a restart; the refused message was never recorded.
    let sender = sender.restart(&[]);
    let history = sender.history(&friend_id);
    let bodies: Vec<&str> = history.iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(bodies, queued);

    // The friend comes back: everything queued arrives, in order, and the outbox has room.
    let friend =
        Daemon::start_with_config(&friend_dir, &config, &["--bootstrap", &sender.tcp_addr()]);
    let arrived = friend.wait_history(&sender.id, queued.len());
    let bodies: Vec<&str> = arrived.iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(bodies, queued);
    wait_until("the outbox to drain", ARRIVAL, || {
        (sender.json(&["status"])["outbox"].as_u64() == Some(0)).then_some(())
    });
    sender.json(&["send", &friend_id, "four", "--wait"]);
    friend.wait_history(&sender.id, queued.len() + 1);
}
