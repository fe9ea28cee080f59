//! The invite lifecycle over days, end to end: expiry, the weekly quota and the decline
//! cool-down, with daemons restarted on a clock moved by the `ACCORD_CLOCK_OFFSET_SECS`
//! testing hook (so that "fifteen days later" takes seconds, and the machine's clock is never
//! touched).

use std::path::Path;
use std::process::Stdio;

use accord_tests::conversation::{str_of, wait_incoming_invite};
use accord_tests::peer::TestPeer;
use accord_tests::{
    ARRIVAL, Daemon, Launch, NO_DHT, TestDir, accord, init_identity, stderr, wait_until,
};
use serde_json::Value;

const DAY_SECS: i64 = 24 * 3600;

/// Starts a daemon on `data_dir` whose clock is shifted by `offset_secs`, as
/// `Daemon::start` would otherwise (its log is appended to, so that one log covers restarts).
fn start_shifted(data_dir: &Path, offset_secs: i64, extra: &[&str]) -> Daemon {
    let offset = offset_secs.to_string();
    let env = [("ACCORD_CLOCK_OFFSET_SECS", offset.as_str())];
    let launch = Launch {
        env: &env,
        log_filter: Some("info"),
        append_log: true,
    };
    Daemon::wait_ready(data_dir, Daemon::spawn_with(data_dir, extra, &launch))
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
    // The dropped invite left no record. The declined one expired on day 14 and was
    // compacted a day later to what the cool-down still needs, so B lists nothing at all.
    let sent_id = str_of(&sent, "invite_id");
    wait_until("B to compact the expired, declined invite", ARRIVAL, || {
        let incoming = b.invites("--incoming");
        assert!(
            incoming
                .iter()
                .all(|i| i["invite_id"] == first.as_str() && i["state"] == "declined"),
            "B kept a record of the dropped invite {sent_id}: {incoming:?}"
        );
        incoming.is_empty().then_some(())
    });
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

/// `accord --json watch` on a daemon, its event lines read by a thread.
struct Watch {
    child: std::process::Child,
    events: std::sync::mpsc::Receiver<Value>,
}

impl Watch {
    fn start(node: &Daemon) -> Watch {
        let mut child = accord(&node.data_dir, &["--json", "watch"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run accord watch: {err}"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("watch has no stdout"));
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event = serde_json::from_str(&line)
                    .unwrap_or_else(|err| panic!("watch printed invalid JSON ({err}): {line}"));
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        // The subscription is registered when the client connects; give it a moment, since
        // nothing on the stream says it is in place (the events waited for come seconds later).
        std::thread::sleep(std::time::Duration::from_secs(1));
        Watch { child, events }
    }

    /// Waits for the first `event` for which `check` holds, skipping the others.
    fn wait(&self, event: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + ARRIVAL;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(value) if value["event"] == event && check(&value) => return value,
                Ok(value) => seen.push(value),
                Err(_) => panic!("no {event} event within {ARRIVAL:?}; saw {seen:?}"),
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The object's keys, sorted.
fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[test]
fn watch_reports_every_lifecycle_event_with_its_fields() {
    let dir = TestDir::new();
    let (a, b) = pair(&dir, NO_DHT);
    let c = Daemon::start_with_config(&dir.path("c"), NO_DHT, &["--bootstrap", &a.tcp_addr()]);
    c.wait_for_peer(&a.id, ARRIVAL);
    let (watch_a, watch_b, watch_c) = (Watch::start(&a), Watch::start(&b), Watch::start(&c));

    let sent = a.json(&["connect", &b.id, "--note", "hello B"]);
    let id = str_of(&sent, "invite_id");
    let received = watch_b.wait("invite_received", |e| e["invite_id"] == id.as_str());
    assert_eq!(
        keys(&received),
        ["event", "invite_id", "name", "note", "peer"]
    );
    assert_eq!(received["peer"], a.id.as_str());
    assert_eq!(received["note"], "hello B");

    b.json(&["accept", &id]);
    let accepted = watch_a.wait("invite_accepted", |e| e["invite_id"] == id.as_str());
    assert_eq!(
        keys(&accepted),
        ["attestation_id", "event", "invite_id", "peer"]
    );
    assert_eq!(accepted["peer"], b.id.as_str());
    let connection = accord_tests::conversation::wait_connected(&a, &b.id);
    assert_eq!(accepted["attestation_id"], connection["attestation_id"]);
    let on_b = watch_b.wait("invite_accepted", |e| e["invite_id"] == id.as_str());
    assert_eq!(on_b["peer"], a.id.as_str());
    assert_eq!(on_b["attestation_id"], connection["attestation_id"]);

    // Inviting a connection is refused, and stores nothing.
    let again = a.run(&["connect", &b.id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains(&format!("{} is already a connection", b.id)),
        "{}",
        stderr(&again)
    );
    assert_eq!(a.invites("--outgoing").len(), 1);

    let to_c = invite_arrives(&a, &c, "hello C");
    a.json(&["withdraw", &to_c]);
    let withdrawn = watch_c.wait("invite_withdrawn", |e| e["invite_id"] == to_c.as_str());
    assert_eq!(keys(&withdrawn), ["event", "invite_id", "peer"]);
    assert_eq!(withdrawn["peer"], a.id.as_str());

    a.json(&["disconnect", &b.id]);
    let revoked = watch_b.wait("connection_revoked", |e| e["peer"] == a.id.as_str());
    assert_eq!(keys(&revoked), ["attestation_id", "event", "peer"]);
    assert_eq!(revoked["attestation_id"], connection["attestation_id"]);
    let own = watch_a.wait("connection_revoked", |e| e["peer"] == b.id.as_str());
    assert_eq!(own["attestation_id"], connection["attestation_id"]);
}

/// A and B, both bootstrapped to `relay` only, so that what A sends B travels by gossip: a
/// direct hand-over that B answers stops A's republication, gossip gets no answer.
fn relayed_pair(dir: &TestDir, relay: &TestPeer) -> (Daemon, Daemon) {
    let boot = ["--bootstrap", &relay.addr()].map(str::to_owned);
    let boot: Vec<&str> = boot.iter().map(String::as_str).collect();
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &boot);
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &boot);
    assert!(!a.peer_ids().contains(&b.id), "A and B must not be linked");
    (a, b)
}

#[test]
fn a_block_declines_and_silences_the_inviter_until_unblocked() {
    let dir = TestDir::new();
    let relay = TestPeer::start(&[]);
    let boot = ["--bootstrap", &relay.addr()].map(str::to_owned);
    let boot: Vec<&str> = boot.iter().map(String::as_str).collect();
    let (a, b) = relayed_pair(&dir, &relay);
    let first = invite_arrives(&a, &b, "let me in");
    b.json(&["block", &a.id]);
    assert_eq!(invite(&b, "--incoming", &first)["state"], "declined");

    // A does not know: it keeps republishing, and B drops every copy, also after A restarts.
    wait_until("B to drop a republication", ARRIVAL, || {
        (b.dropped("blocked") >= 1).then_some(())
    });
    let before_restart = b.dropped("blocked");
    let a = a.restart(&boot);
    wait_until(
        "B to drop a republication from the restarted A",
        ARRIVAL,
        || (b.dropped("blocked") > before_restart).then_some(()),
    );
    assert_eq!(b.invites("--incoming").len(), 1);
    assert_eq!(invite(&a, "--outgoing", &first)["state"], "pending");

    // Fifteen days on, A's invite has expired and A asks again: still silenced while blocked.
    let b_listen = b.listen_addr();
    let b_dir = b.data_dir.clone();
    assert!(b.stop().success(), "B did not stop cleanly");
    let a = restart_shifted(a, 15 * DAY_SECS, &boot);
    let mut b_args = vec!["--listen", b_listen.as_str()];
    b_args.extend_from_slice(&boot);
    let b = start_shifted(&b_dir, 15 * DAY_SECS, &b_args);
    let blocked_before = b.dropped("blocked");
    let second = a.json(&["connect", &b.id, "--note", "please"]);
    wait_until("B to drop the new invite", ARRIVAL, || {
        (b.dropped("blocked") > blocked_before).then_some(())
    });
    // The first invite, declined by the block, expired on day 14 and has been compacted since;
    // the new one left no record.
    assert!(
        b.invites("--incoming")
            .iter()
            .all(|i| i["invite_id"] != str_of(&second, "invite_id").as_str()),
        "B kept a record of a blocked sender's invite"
    );

    // Unblocking lets A's invites in again (the decline by blocking no longer holds A back in
    // a cool-down): the pending one arrives when it is next republished.
    b.json(&["unblock", &a.id]);
    let second = str_of(&second, "invite_id");
    let arrived = wait_until(
        "B to receive A's invite after the unblock",
        2 * ARRIVAL,
        || {
            b.invites("--incoming")
                .into_iter()
                .find(|i| i["invite_id"] == second.as_str())
        },
    );
    assert_eq!(arrived["state"], "pending");
    assert_eq!(arrived["note"], "please");
    assert_eq!(b.dropped("declined_cooldown"), 0);
}

#[test]
fn a_decline_holds_while_the_inviter_restarts_and_republishes() {
    let dir = TestDir::new();
    // A relay between them, so that A's copies travel by gossip and can be counted on the way.
    let relay = TestPeer::start(&[]);
    let boot = ["--bootstrap", &relay.addr()].map(str::to_owned);
    let boot: Vec<&str> = boot.iter().map(String::as_str).collect();
    let (a, b) = relayed_pair(&dir, &relay);
    let id = invite_arrives(&a, &b, "decline me");
    assert_eq!(b.json(&["decline", &id])["state"], "declined");

    let b_topic = accord_tests::peer::inbox_topic(&b.accord_id());
    let copies = || {
        relay
            .received()
            .iter()
            .filter(|m| m.topic == b_topic)
            .count()
    };
    let before = copies();
    let a = a.restart(&boot);
    assert!(!a.peer_ids().contains(&b.id), "A and B must not be linked");
    // Two copies after the restart: B, one hop behind the relay, has had the first.
    wait_until("A to republish after its restart", ARRIVAL, || {
        (copies() >= before + 2).then_some(())
    });
    let incoming = b.invites("--incoming");
    assert_eq!(incoming.len(), 1, "{incoming:?}");
    assert_eq!(incoming[0]["state"], "declined");
    assert_eq!(b.json(&["status"])["pending_incoming"], 0);
    assert_eq!(invite(&a, "--outgoing", &id)["state"], "pending");
}

#[test]
fn invites_arrive_when_both_ends_subscribe_to_their_own_shard_only() {
    let dir = TestDir::new();
    let own_shard = format!("{NO_DHT}[gossip]\nrelay_all_shards = false\n");
    let r1 = Daemon::start_with_config(&dir.path("r1"), NO_DHT, &[]);
    let r2 = Daemon::start_with_config(&dir.path("r2"), NO_DHT, &["--bootstrap", &r1.tcp_addr()]);
    r2.wait_for_peer(&r1.id, ARRIVAL);
    let a = Daemon::start_with_config(&dir.path("a"), &own_shard, &["--bootstrap", &r1.tcp_addr()]);
    let b = Daemon::start_with_config(&dir.path("b"), &own_shard, &["--bootstrap", &r2.tcp_addr()]);
    a.wait_for_peer(&r1.id, ARRIVAL);
    b.wait_for_peer(&r2.id, ARRIVAL);
    assert!(!a.peer_ids().contains(&b.id), "A and B must not be linked");

    let id = invite_arrives(&a, &b, "one shard each");
    b.json(&["accept", &id]);
    let on_a = accord_tests::conversation::wait_connected(&a, &b.id);
    let on_b = accord_tests::conversation::wait_connected(&b, &a.id);
    assert_eq!(on_a["attestation_id"], on_b["attestation_id"]);
    assert!(
        !a.peer_ids().contains(&b.id),
        "the invite must have travelled by gossip"
    );
}
