//! A flood of long-lived invites cannot push out an honest one (issue 15 item 1), a replayed
//! frame costs nothing and changes nothing (item 2), and a user under a flood declines every
//! stranger's invite at once.
//!
//! A raw peer hands invites from many fresh identities straight to the recipient over
//! `/accord/inbox/1`, each with a valid stamp, so the recipient's own rules are all that
//! stands between the flood and its store.

use accord_handshake::{GossipFrame, Invite, Note, Payload};
use accord_identity::{AccordId, Identity};
use accord_tests::peer::TestPeer;
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, now_ms, os_rng};

const DAY_MS: u64 = 24 * 3600 * 1000;

/// The recipient's bound on pending invites in this test (the default is 500).
const MAX_PENDING: usize = 10;

/// A cheap difficulty, which the recipient is configured to ask for.
const CHEAP_BITS: u32 = 6;

/// A stamped invite to `to` from a fresh identity, living `lifetime_ms`, and its invite id.
fn invite_frame(to: &AccordId, lifetime_ms: u64, note: &str) -> (Vec<u8>, String) {
    let sender = Identity::generate(&mut os_rng());
    let note = Note::new(note, 300).unwrap_or_else(|err| panic!("{err}"));
    let now = now_ms();
    let (invite, _) = Invite::create(&sender, *to, note, now, lifetime_ms, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    let invite_id: String = invite
        .invite_id
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let mut frame = GossipFrame::seal(to, &Payload::Invite(invite.clone()), now, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    frame.mint(CHEAP_BITS).unwrap_or_else(|err| panic!("{err}"));
    (frame.encode(), invite_id)
}

/// Hands `frame` to `r` directly and returns its answer (`ok` or `no`).
fn hand_over(s: &TestPeer, r: &Daemon, frame: Vec<u8>) -> String {
    let answer = s
        .send_inbox(&r.id, frame)
        .unwrap_or_else(|err| panic!("the inbox request failed: {err}"));
    String::from_utf8_lossy(&answer).into_owned()
}

/// The ids of the pending incoming invites of `r`.
fn pending_ids(r: &Daemon) -> Vec<String> {
    r.invites("--incoming")
        .iter()
        .filter(|invite| invite["state"] == "pending")
        .filter_map(|invite| invite["invite_id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn an_honest_invite_survives_a_flood_of_long_lived_invites_and_replays_cost_nothing() {
    let config = format!(
        "{NO_DHT}[invites]\nstamp_bits = {CHEAP_BITS}\n[limits]\npending_invites = {MAX_PENDING}\n"
    );
    let dir = TestDir::new();
    let r = Daemon::start_with_config(&dir.path("r"), &config, &[]);
    let s = TestPeer::start(&[&r.tcp_addr()]);
    r.wait_for_peer(&s.identity().id().to_string(), ARRIVAL);
    let r_id = r.accord_id();

    // The flood fills the store with 90-day invites from throw-away identities.
    let mut flood = Vec::new();
    for n in 0..MAX_PENDING {
        let (frame, id) = invite_frame(&r_id, 90 * DAY_MS, &format!("flood {n}"));
        assert_eq!(hand_over(&s, &r, frame.clone()), "ok");
        flood.push((frame, id));
    }
    assert_eq!(pending_ids(&r).len(), MAX_PENDING);

    // An honest 14-day invite arrives: ranked by expiry alone it would be refused as
    // `incoming_full`, since it expires first; it is admitted, and the oldest flood invite goes.
    let (honest_frame, honest) = invite_frame(&r_id, 14 * DAY_MS, "a real invite");
    assert_eq!(hand_over(&s, &r, honest_frame), "ok");
    assert_eq!(r.dropped("incoming_full"), 0);
    let pending = pending_ids(&r);
    assert!(pending.contains(&honest), "the honest invite was refused");
    assert!(
        !pending.contains(&flood[0].1),
        "the oldest flood invite stayed"
    );

    // The flood goes on, one fewer than the store holds: each new invite pushes out an older
    // flood invite, never the honest one.
    for n in 0..MAX_PENDING - 1 {
        let (frame, id) = invite_frame(&r_id, 90 * DAY_MS, &format!("more flood {n}"));
        assert_eq!(hand_over(&s, &r, frame.clone()), "ok");
        flood.push((frame, id));
    }
    let pending = pending_ids(&r);
    assert_eq!(pending.len(), MAX_PENDING);
    assert!(
        pending.contains(&honest),
        "the flood pushed out the honest invite"
    );
    assert_eq!(r.dropped("evicted_invite"), MAX_PENDING as u64);

    // Replaying a stored invite's frame is answered as before, counted, and changes nothing.
    let (stored_frame, stored_id) = flood.last().cloned().unwrap_or_else(|| unreachable!());
    assert!(pending.contains(&stored_id));
    let before = r.invites("--incoming");
    let replays_before = r.dropped("replayed_frame");
    for _ in 0..3 {
        assert_eq!(hand_over(&s, &r, stored_frame.clone()), "ok");
    }
    assert_eq!(r.dropped("replayed_frame"), replays_before + 3);
    assert_eq!(
        r.invites("--incoming"),
        before,
        "a replay changed the store"
    );

    // Under the flood, the user declines every stranger's invite at once.
    let declined = r.json(&["decline", "--all-from-strangers"]);
    assert_eq!(declined["declined"], MAX_PENDING as u64, "{declined}");
    assert!(pending_ids(&r).is_empty());
    let human = r.run(&["decline", "--all-from-strangers"]);
    assert!(human.status.success());
    assert_eq!(
        String::from_utf8_lossy(&human.stdout).trim(),
        "Declined 0 pending invites"
    );
    // A target and the flag together are refused by the CLI itself.
    assert!(
        !r.run(&["decline", &honest, "--all-from-strangers"])
            .status
            .success()
    );
}
