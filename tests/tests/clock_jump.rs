//! A forward clock jump does not lock the invite quota or void the re-invite cool-downs for
//! the length of the jump (issue 15 item 11).
//!
//! A daemon runs once at the real time, so that it has a clock high-water mark; it restarts
//! with its clock 60 days ahead (`ACCORD_CLOCK_OFFSET_SECS`, the hook that reproduces a user's
//! clock bug), a peer reports the real time (a verified invite created now), and it is used;
//! then it restarts with the clock corrected. The mark must not have followed the clock: the
//! cool-down after a decline holds, where a mark 60 days ahead would judge it over at once;
//! and the invites sent during the jump free their quota slots a week after the real time of
//! the sends, not 67 days later.
//!
//! `accord status` shows the clock, the mark and when the next invite slot frees.

use accord_api::format_rfc3339_ms;
use accord_handshake::{GossipFrame, Invite, Note, Payload};
use accord_identity::{AccordId, Identity};
use accord_tests::peer::TestPeer;
use accord_tests::{ARRIVAL, Daemon, Launch, NO_DHT, TestDir, now_ms, os_rng, stderr};

const DAY_MS: u64 = 24 * 3600 * 1000;

/// How far the clock jumps.
const JUMP_DAYS: u64 = 60;

/// The weekly quota in this test (the default is 100).
const WEEKLY_LIMIT: u32 = 3;

/// A cheap difficulty, which the daemon is configured to ask for.
const CHEAP_BITS: u32 = 6;

/// The configuration: loopback only, a small quota, cheap stamps.
fn config() -> String {
    format!("{NO_DHT}[invites]\nstamp_bits = {CHEAP_BITS}\nweekly_limit = {WEEKLY_LIMIT}\n")
}

/// A stamped invite from `from` to `to`, created at the real time and living `lifetime_ms`,
/// and its invite id.
fn invite_frame(from: &Identity, to: &AccordId, lifetime_ms: u64) -> (Vec<u8>, String) {
    let note = Note::new("hello", 300).unwrap_or_else(|err| panic!("{err}"));
    let (invite, _) = Invite::create(from, *to, note, now_ms(), lifetime_ms, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    let invite_id: String = invite
        .invite_id
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let mut frame = GossipFrame::seal(
        to,
        &Payload::Invite(invite.clone()),
        invite.expires_at_ms,
        &mut os_rng(),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    frame.mint(CHEAP_BITS).unwrap_or_else(|err| panic!("{err}"));
    (frame.encode(), invite_id)
}

/// Starts the daemon on `data_dir` with its clock moved by `offset_secs`, appending to its log.
fn start(data_dir: &std::path::Path, offset_secs: u64) -> Daemon {
    let offset = offset_secs.to_string();
    let env = [("ACCORD_CLOCK_OFFSET_SECS", offset.as_str())];
    let launch = Launch {
        env: &env,
        append_log: true,
        ..Launch::default()
    };
    Daemon::wait_ready(data_dir, Daemon::spawn_with(data_dir, &[], &launch))
}

/// A raw peer connected to `a`, to hand it frames directly.
fn peer_of(a: &Daemon) -> TestPeer {
    let peer = TestPeer::start(&[&a.tcp_addr()]);
    a.wait_for_peer(&peer.identity().id().to_string(), ARRIVAL);
    peer
}

/// Hands `frame` to `a` over the inbox protocol; the daemon answers every invite `ok`.
fn hand_over(peer: &TestPeer, a: &Daemon, frame: Vec<u8>) {
    let answer = peer
        .send_inbox(&a.id, frame)
        .unwrap_or_else(|err| panic!("the inbox request failed: {err}"));
    assert_eq!(answer, b"ok");
}

/// Whether `a` lists the incoming invite `invite_id` as pending.
fn is_pending(a: &Daemon, invite_id: &str) -> bool {
    a.invites("--incoming")
        .iter()
        .any(|invite| invite["invite_id"] == invite_id && invite["state"] == "pending")
}

/// The string member of `status` at `path` (empty if missing).
fn text<'a>(status: &'a serde_json::Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(status, |value, key| &value[*key])
        .as_str()
        .unwrap_or_default()
}

/// The daemon's first run at the real time: any command records the mark.
fn first_run(data_dir: &std::path::Path) {
    let a = Daemon::start_with_config(data_dir, &config(), &[]);
    assert!(a.invites("--incoming").is_empty());
    let status = a.json(&["status"]);
    let high_water = text(&status, &["clock", "high_water"]);
    assert!(
        high_water > format_rfc3339_ms(now_ms() - 60_000).as_str()
            && high_water <= format_rfc3339_ms(now_ms()).as_str(),
        "{status}"
    );
    assert!(a.stop().success());
}

/// The run with the clock 60 days ahead: a stranger's invite reports the real time (it stays
/// pending), the daemon sends `sends` invites, and the mark must not follow the clock.
/// Returns the stranger and its invite's id.
fn jumped_run(data_dir: &std::path::Path, sends: u32) -> (Identity, String) {
    let a = start(data_dir, JUMP_DAYS * DAY_MS / 1000);
    let s = peer_of(&a);
    let stranger = Identity::generate(&mut os_rng());
    // Ninety days, so that it has not expired by the jumped clock.
    let (frame, invite_id) = invite_frame(&stranger, &a.accord_id(), 90 * DAY_MS);
    hand_over(&s, &a, frame);
    assert!(is_pending(&a, &invite_id));
    for n in 0..sends {
        let invitee = Identity::generate(&mut os_rng()).id().to_string();
        let sent = a.json(&["connect", &invitee, "--note", &format!("invite {n}")]);
        assert_eq!(sent["state"], "pending", "{sent}");
    }
    let status = a.json(&["status"]);
    let real_now = now_ms();
    let jumped = format_rfc3339_ms(real_now + (JUMP_DAYS - 1) * DAY_MS);
    assert!(
        text(&status, &["clock", "now"]) >= jumped.as_str(),
        "the clock offset did not apply: {status}"
    );
    assert!(
        text(&status, &["clock", "high_water"]) < format_rfc3339_ms(real_now + 2 * DAY_MS).as_str(),
        "the high-water mark followed the clock: {status}"
    );
    drop(s);
    assert!(a.stop().success());
    (stranger, invite_id)
}

#[test]
fn a_corrected_forward_clock_jump_does_not_void_cool_downs() {
    let dir = TestDir::new();
    let data_dir = dir.path("a");
    first_run(&data_dir);
    let (stranger, first_invite) = jumped_run(&data_dir, 0);

    // The clock is right again. The cool-down after a decline holds: the stranger's next
    // invite is dropped unseen (a mark 60 days ahead would have judged the 21 days over).
    let a = start(&data_dir, 0);
    let status = a.json(&["status"]);
    assert_eq!(status["invites_left_this_week"], WEEKLY_LIMIT, "{status}");
    assert!(status["invites_next_slot_at"].is_null(), "{status}");
    let declined = a.json(&["decline", &first_invite]);
    assert_eq!(declined["state"], "declined", "{declined}");
    let s = peer_of(&a);
    let (frame, second_invite) = invite_frame(&stranger, &a.accord_id(), 14 * DAY_MS);
    hand_over(&s, &a, frame);
    assert_eq!(a.dropped("declined_cooldown"), 1);
    assert!(
        !is_pending(&a, &second_invite),
        "a re-invite during the cool-down was admitted"
    );
}

#[test]
fn invites_sent_during_a_forward_clock_jump_free_their_slots_a_week_after_the_real_time() {
    let dir = TestDir::new();
    let data_dir = dir.path("a");
    first_run(&data_dir);
    jumped_run(&data_dir, WEEKLY_LIMIT);

    // The clock is right again: the invites sent this week count, and free their slots a week
    // after the sends (recorded at most a day ahead), not a week after the jumped clock.
    let a = start(&data_dir, 0);
    let status = a.json(&["status"]);
    let real_now = now_ms();
    assert_eq!(status["invites_left_this_week"], 0, "{status}");
    let next_slot = text(&status, &["invites_next_slot_at"]);
    assert!(
        next_slot > format_rfc3339_ms(real_now + 6 * DAY_MS).as_str()
            && next_slot < format_rfc3339_ms(real_now + 9 * DAY_MS).as_str(),
        "the quota frees at {next_slot:?}: {status}"
    );
    let refused = a.run(&[
        "connect",
        &Identity::generate(&mut os_rng()).id().to_string(),
    ]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("weekly invite limit"),
        "{}",
        stderr(&refused)
    );
    let human = String::from_utf8_lossy(&a.run(&["status"]).stdout).into_owned();
    assert!(
        human.contains(&format!("Next invite slot:       {next_slot}")),
        "{human}"
    );
}
