//! The invite lifecycle over days, end to end: expiry, the weekly quota and the decline
//! cool-down, with daemons restarted on a clock moved by the `ACCORD_CLOCK_OFFSET_SECS`
//! testing hook (so that "fifteen days later" takes seconds, and the machine's clock is never
//! touched).

use std::path::Path;
use std::process::Stdio;

use accord_tests::conversation::{str_of, wait_incoming_invite};
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, accord, init_identity, stderr, wait_until};
use serde_json::Value;

const DAY_SECS: i64 = 24 * 3600;

/// Starts a daemon on `data_dir` whose clock is shifted by `offset_secs`, as
/// `Daemon::start` would otherwise (its log is appended to, so that one log covers restarts).
fn start_shifted(data_dir: &Path, offset_secs: i64, extra: &[&str]) -> Daemon {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.with_extension("log"))
        .unwrap_or_else(|err| panic!("log file: {err}"));
    let mut args = vec!["daemon", "--no-mdns"];
    if !extra.contains(&"--listen") {
        args.extend_from_slice(&["--listen", "/ip4/127.0.0.1/tcp/0"]);
    }
    args.extend_from_slice(extra);
    let child = accord(data_dir, &args)
        .env("ACCORD_CLOCK_OFFSET_SECS", offset_secs.to_string())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start daemon: {err}"));
    Daemon::wait_ready(data_dir, child)
}

/// Stops `daemon` and starts it again on the same port with its clock shifted by
/// `offset_secs` (from the real clock, not from its previous offset).
fn restart_shifted(daemon: Daemon, offset_secs: i64, extra: &[&str]) -> Daemon {
    let data_dir = daemon.data_dir.clone();
    let listen = daemon.listen_addr();
    assert!(daemon.stop().success(), "daemon did not stop cleanly");
    let mut args = vec!["--listen", listen.as_str()];
    args.extend_from_slice(extra);
    start_shifted(&data_dir, offset_secs, &args)
}

/// A and B, B bootstrapped to A (so directly connected), with `config`.
fn pair(dir: &TestDir, config: &str) -> (Daemon, Daemon) {
    let a = Daemon::start_with_config(&dir.path("a"), config, &[]);
    let b = Daemon::start_with_config(&dir.path("b"), config, &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);
    (a, b)
}

/// Restarts A, then B bootstrapped to it, both with their clocks shifted by `offset_secs`.
fn restart_pair_shifted(a: Daemon, b: Daemon, offset_secs: i64) -> (Daemon, Daemon) {
    // B first, so that A does not see B's republications while it is down.
    let b_dir = b.data_dir.clone();
    let b_listen = b.listen_addr();
    assert!(b.stop().success(), "B did not stop cleanly");
    let a = restart_shifted(a, offset_secs, &[]);
    let b = start_shifted(
        &b_dir,
        offset_secs,
        &["--listen", &b_listen, "--bootstrap", &a.tcp_addr()],
    );
    b.wait_for_peer(&a.id, ARRIVAL);
    (a, b)
}

/// The single invite `node` lists in `direction` with `invite_id`.
fn invite(node: &Daemon, direction: &str, invite_id: &str) -> Value {
    let all = node.invites(direction);
    let found: Vec<&Value> = all.iter().filter(|i| i["invite_id"] == invite_id).collect();
    assert_eq!(found.len(), 1, "{invite_id} in {all:?}");
    found[0].clone()
}

/// A sends B an invite and waits for it to arrive; returns its id.
fn invite_arrives(a: &Daemon, b: &Daemon, note: &str) -> String {
    let sent = a.json(&["connect", &b.id, "--note", note]);
    assert_eq!(sent["state"], "pending", "{sent}");
    let id = str_of(&sent, "invite_id");
    wait_incoming_invite(b, &id);
    id
}

#[test]
fn a_malformed_clock_offset_stops_the_daemon_at_start_up() {
    let dir = TestDir::new();
    for bad in ["15d", "1.5", "", "99999999999999999999"] {
        let output = accord(
            &dir.path("a"),
            &["daemon", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"],
        )
        .env("ACCORD_CLOCK_OFFSET_SECS", bad)
        .output()
        .unwrap_or_else(|err| panic!("cannot run the daemon: {err}"));
        assert_eq!(output.status.code(), Some(1), "{bad:?} was accepted");
        let err = stderr(&output);
        assert!(
            err.contains("ACCORD_CLOCK_OFFSET_SECS") && err.contains("whole number of seconds"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn an_ignored_invite_expires_on_both_sides_fifteen_days_later() {
    let dir = TestDir::new();
    let (a, b) = pair(&dir, NO_DHT);
    let id = invite_arrives(&a, &b, "are you there?");
    let status = a.json(&["status"]);
    assert_eq!(status["pending_outgoing"], 1);
    let left_before = status["invites_left_this_week"]
        .as_u64()
        .unwrap_or_default();

    let (a, b) = restart_pair_shifted(a, b, 15 * DAY_SECS);
    assert_eq!(invite(&a, "--outgoing", &id)["state"], "expired");
    assert_eq!(invite(&b, "--incoming", &id)["state"], "expired");
    let status = a.json(&["status"]);
    assert_eq!(status["pending_outgoing"], 0);
    assert_eq!(b.json(&["status"])["pending_incoming"], 0);
    // A week has passed since the invite was sent: its quota slot is free again.
    assert_eq!(
        status["invites_left_this_week"].as_u64(),
        Some(left_before + 1)
    );
    let accept = b.run(&["accept", &id]);
    assert_eq!(accept.status.code(), Some(1));
    assert!(stderr(&accept).contains("expired"), "{}", stderr(&accept));
    // Nobody declined or withdrew anything, so A may ask again, and the new invite arrives.
    let again = invite_arrives(&a, &b, "second try");
    assert_ne!(again, id);
    assert_eq!(invite(&b, "--incoming", &again)["state"], "pending");
}

#[test]
fn the_weekly_quota_survives_a_clock_moved_back_thirty_days() {
    let dir = TestDir::new();
    let config = format!("{NO_DHT}[invites]\nweekly_limit = 2\n");
    let a = Daemon::start_with_config(&dir.path("a"), &config, &[]);
    let ids: Vec<String> = ["x", "y", "z"]
        .iter()
        .map(|name| init_identity(&dir.path(name)))
        .collect();
    a.json(&["connect", &ids[0]]);
    a.json(&["connect", &ids[1]]);
    let refused = a.run(&["connect", &ids[2]]);
    assert_eq!(refused.status.code(), Some(1));

    let a = restart_shifted(a, -30 * DAY_SECS, &[]);
    let third = a.run(&["connect", &ids[2]]);
    assert_eq!(
        third.status.code(),
        Some(1),
        "a clock moved back must not free the quota"
    );
    assert!(
        stderr(&third).contains("weekly invite limit of 2"),
        "{}",
        stderr(&third)
    );
    assert_eq!(a.json(&["status"])["invites_left_this_week"], 0);
    assert_eq!(a.invites("--outgoing").len(), 2);
}

#[test]
fn an_invite_from_someone_declined_is_dropped_during_the_cool_down() {
    let dir = TestDir::new();
    let (a, b) = pair(&dir, NO_DHT);
    let first = invite_arrives(&a, &b, "first");
    assert_eq!(b.json(&["decline", &a.id])["state"], "declined");

    // Fifteen days on, A's invite has expired; A was never told of the decline, so it may ask
    // again — and B, whose 21-day cool-down runs, drops the new invite without a trace.
    let (a, b) = restart_pair_shifted(a, b, 15 * DAY_SECS);
    assert_eq!(b.dropped("declined_cooldown"), 0);
    let sent = a.json(&["connect", &b.id, "--note", "second"]);
    assert_eq!(sent["state"], "pending", "{sent}");
    wait_until("B to drop the invite in the cool-down", ARRIVAL, || {
        (b.dropped("declined_cooldown") >= 1).then_some(())
    });
    let incoming = b.invites("--incoming");
    assert_eq!(incoming.len(), 1, "B kept a record: {incoming:?}");
    assert_eq!(incoming[0]["invite_id"], first.as_str());
    assert_eq!(incoming[0]["state"], "declined");
    assert_eq!(b.json(&["status"])["pending_incoming"], 0);
    // The inviter cannot tell: its invite looks pending, as any unanswered one does.
    assert_eq!(
        invite(&a, "--outgoing", &str_of(&sent, "invite_id"))["state"],
        "pending"
    );
}

#[test]
fn after_the_decline_cool_down_a_new_invite_arrives() {
    let dir = TestDir::new();
    let (a, b) = pair(&dir, NO_DHT);
    invite_arrives(&a, &b, "first");
    b.json(&["decline", &a.id]);

    // 22 days on: A's invite expired after 14, B's 21-day cool-down is over.
    let (a, b) = restart_pair_shifted(a, b, 22 * DAY_SECS);
    let again = invite_arrives(&a, &b, "one more time");
    assert_eq!(invite(&b, "--incoming", &again)["state"], "pending");
    assert_eq!(b.dropped("declined_cooldown"), 0);
    b.json(&["accept", &again]);
    accord_tests::conversation::wait_connected(&a, &b.id);
}
