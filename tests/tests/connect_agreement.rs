//! Issue 15 finding 5: the two sides of an invite agree about being connected.
//!
//! The invitee's signature completes an attestation on its side at once, but the inviter may
//! have withdrawn the invite, or seen it expire, before the acceptance reached it. The invitee
//! therefore holds its connection as `awaiting_confirmation` until the inviter settles it:
//! confirmed (both connected) or refused (neither). These tests drive real daemons through the
//! races: a withdrawal crossing an acceptance, while the two are apart and while they are
//! connected, in both orders; an acceptance that reaches the inviter after the invite expired;
//! and messages written while the connection awaits confirmation.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use accord_tests::conversation::{str_of, wait_incoming_invite};
use accord_tests::peer::TestPeer;
use accord_tests::{ARRIVAL, Daemon, Launch, TestDir, accord, json_array, wait_until};
use serde_json::Value;

/// No mDNS, no DHT, cheap stamps, and no re-invite cool-down, so that one pair can go through
/// several invites in a row.
const CONFIG: &str = "[network]\nmdns = false\ndht = false\n\
                      [invites]\nstamp_bits = 8\nreinvite_cooldown_days = 0\n";

/// As [`CONFIG`], with invites that expire after one day.
const ONE_DAY_INVITES: &str = "[network]\nmdns = false\ndht = false\n\
                               [invites]\nstamp_bits = 8\nexpiry_days = 1\n";

const DAY_SECS: i64 = 24 * 3600;

/// `accord --json watch` on a daemon, its event lines read by a thread.
struct Watch {
    child: Child,
    events: Receiver<Value>,
    /// Events read while waiting for another one, kept for the next wait.
    backlog: Vec<Value>,
    /// The peer whose arrival showed the subscription in place, kept connected.
    _probe: TestPeer,
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
        let (tx, events) = channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|err| panic!("watch printed invalid JSON ({err}): {line}"));
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        // Nothing on the stream says the subscription is in place, and it sees only what
        // happens after it is: a fresh peer connects until the watch reports one.
        let mut backlog = Vec::new();
        for _ in 0..10 {
            let probe = TestPeer::start(&[&node.tcp_addr()]);
            let id = probe.identity().id().to_string();
            let deadline = Instant::now() + Duration::from_secs(5);
            while let Ok(event) =
                events.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                if event["event"] == "peer_connected" && event["peer"] == id.as_str() {
                    return Watch {
                        child,
                        events,
                        backlog,
                        _probe: probe,
                    };
                }
                backlog.push(event);
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the watch never reported a peer connecting; saw {backlog:?}");
    }

    /// Waits for the first event named one of `names` for which `check` holds; every other
    /// event stays in the backlog for later waits.
    fn wait(&mut self, names: &[&str], check: impl Fn(&Value) -> bool) -> Value {
        let matches =
            |value: &Value| names.iter().any(|name| value["event"] == *name) && check(value);
        if let Some(at) = self.backlog.iter().position(matches) {
            return self.backlog.remove(at);
        }
        let deadline = Instant::now() + ARRIVAL;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(value) if matches(&value) => return value,
                Ok(value) => self.backlog.push(value),
                Err(_) => panic!(
                    "no {names:?} event within {ARRIVAL:?}; saw {:?}",
                    self.backlog
                ),
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

/// Starts a daemon on `data_dir` with its clock shifted by `offset_secs` (appending to its log).
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

/// A stopped daemon: its data dir and the address it listened on, to start it again there.
struct Stopped {
    data_dir: std::path::PathBuf,
    listen: String,
}

fn stop(daemon: Daemon) -> Stopped {
    let stopped = Stopped {
        data_dir: daemon.data_dir.clone(),
        listen: daemon.listen_addr(),
    };
    assert!(daemon.stop().success(), "a daemon did not stop cleanly");
    stopped
}

impl Stopped {
    /// Starts it again on its address, its clock shifted by `offset_secs`, with `extra`.
    fn start(&self, offset_secs: i64, extra: &[&str]) -> Daemon {
        let mut args = vec!["--listen", self.listen.as_str()];
        args.extend_from_slice(extra);
        start_shifted(&self.data_dir, offset_secs, &args)
    }
}

/// `node`'s unrevoked connection with `peer`, if any.
fn connection(node: &Daemon, peer: &str) -> Option<Value> {
    json_array(node.json(&["connections"]))
        .into_iter()
        .find(|c| c["peer"] == peer && c["revoked_at"].is_null())
}

/// The state `node` shows for the invite `invite_id` (`--incoming` or `--outgoing`).
fn invite_state(node: &Daemon, direction: &str, invite_id: &str) -> String {
    node.invites(direction)
        .into_iter()
        .find(|i| i["invite_id"] == invite_id)
        .map(|i| str_of(&i, "state"))
        .unwrap_or_default()
}

/// A invites B and waits for the invite to arrive; returns its id.
fn invite_arrives(a: &Daemon, b: &Daemon) -> String {
    let sent = a.json(&["connect", &b.id, "--note", "shall we?"]);
    assert_eq!(sent["state"], "pending", "{sent}");
    let id = str_of(&sent, "invite_id");
    wait_incoming_invite(b, &id);
    id
}

/// Asserts that A and B agree: both list each other as a complete connection, or neither
/// lists the other at all.
fn assert_agree(a: &Daemon, b: &Daemon, round: &str) -> bool {
    let on_a = connection(a, &b.id);
    let on_b = connection(b, &a.id);
    assert_eq!(
        on_a.is_some(),
        on_b.is_some(),
        "{round}: A lists {on_a:?} and B lists {on_b:?}"
    );
    if let (Some(on_a), Some(on_b)) = (&on_a, &on_b) {
        assert_eq!(on_a["attestation_id"], on_b["attestation_id"], "{round}");
        assert_eq!(on_a["state"], "connected", "{round}: {on_a}");
        assert_eq!(on_b["state"], "connected", "{round}: {on_b}");
    }
    on_a.is_some()
}

/// Waits until B has dropped its connection with A and shows the invite as `state`.
fn wait_refused(b: &Daemon, a: &Daemon, invite_id: &str, state: &str) {
    wait_until(
        &format!("B to drop the connection and show the invite {state}"),
        ARRIVAL,
        || {
            (connection(b, &a.id).is_none() && invite_state(b, "--incoming", invite_id) == state)
                .then_some(())
        },
    );
}

#[test]
fn a_withdrawal_crossing_an_acceptance_ends_with_both_sides_agreeing() {
    let dir = TestDir::new();
    let mut a = Daemon::start_with_config(&dir.path("a"), CONFIG, &[]);
    let mut b = Daemon::start_with_config(&dir.path("b"), CONFIG, &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);

    // Apart, the acceptance first: B accepts while A is down; then A, back while B is down,
    // withdraws. Each learns of the other's move only when they meet again.
    let a_id = a.id.clone();
    let id = invite_arrives(&a, &b);
    let a_down = stop(a);
    let accepted = b.json(&["accept", &id]);
    assert_eq!(accepted["state"], "accepted", "{accepted}");
    let awaiting = connection(&b, &a_id).unwrap_or_default();
    assert_eq!(awaiting["state"], "awaiting_confirmation", "{awaiting}");
    let b_down = stop(b);
    a = a_down.start(0, &[]);
    let withdrawn = a.json(&["withdraw", &id]);
    assert_eq!(withdrawn["state"], "withdrawn", "{withdrawn}");
    b = b_down.start(0, &["--bootstrap", &a.tcp_addr()]);
    wait_refused(&b, &a, &id, "withdrawn");
    assert_eq!(invite_state(&a, "--outgoing", &id), "withdrawn");
    assert!(!assert_agree(&a, &b, "apart, acceptance first"));

    // Apart, the withdrawal first: A withdraws while B is down; B, back while A is down,
    // accepts the invite it still holds as pending.
    let id = invite_arrives(&a, &b);
    let b_down = stop(b);
    let withdrawn = a.json(&["withdraw", &id]);
    assert_eq!(withdrawn["state"], "withdrawn", "{withdrawn}");
    let a_down = stop(a);
    b = b_down.start(0, &[]);
    let accepted = b.json(&["accept", &id]);
    assert_eq!(accepted["state"], "accepted", "{accepted}");
    a = a_down.start(0, &["--bootstrap", &b.tcp_addr()]);
    wait_refused(&b, &a, &id, "withdrawn");
    assert!(!assert_agree(&a, &b, "apart, withdrawal first"));

    // Connected, the two commands race, in three orders in turn: both started together
    // (withdraw first, then accept first), and the acceptance settled before the withdrawal is
    // tried. However each ends, both sides agree once B hears the inviter's word (or B's
    // accept was already refused because the withdrawal reached it first).
    b.wait_for_peer(&a.id, ARRIVAL);
    let mut watch = Watch::start(&b);
    let mut endings = Vec::new();
    for round in 0..6 {
        let id = invite_arrives(&a, &b);
        watch.wait(&["invite_received"], |e| e["invite_id"] == id.as_str());
        let (withdraw, accept, settled) = match round % 3 {
            2 => {
                let accept = b.json(&["accept", &id]);
                let settled = watch.wait(&["invite_confirmed", "invite_refused"], |e| {
                    e["invite_id"] == id.as_str()
                });
                let withdraw = outcome(&a.run(&["--json", "withdraw", &id]));
                (withdraw, accept, Some(settled))
            }
            order => {
                let (withdraw, accept) = race(&a, &b, &id, order == 0);
                let accepted = accept.get("state").is_some_and(|s| s == "accepted");
                let settled = accepted.then(|| {
                    watch.wait(&["invite_confirmed", "invite_refused"], |e| {
                        e["invite_id"] == id.as_str()
                    })
                });
                (withdraw, accept, settled)
            }
        };
        endings.push(match &settled {
            Some(event) => str_of(event, "event"),
            None => "accept refused".to_owned(),
        });
        let label = format!("race {round} (withdraw {withdraw}, accept {accept})");
        if assert_agree(&a, &b, &label) {
            assert_eq!(endings.last().map(String::as_str), Some("invite_confirmed"));
            // Connected: start the next round apart again.
            let gone = a.json(&["disconnect", &b.id]);
            assert_eq!(gone["peer"], b.id.as_str(), "{gone}");
            watch.wait(&["connection_revoked"], |e| e["peer"] == a.id.as_str());
        }
    }
    // Both endings happened: the rounds where the acceptance was settled first end connected.
    assert!(
        endings.iter().any(|e| e == "invite_confirmed"),
        "{endings:?}"
    );
    assert!(
        endings.iter().any(|e| e != "invite_confirmed"),
        "{endings:?}"
    );
    eprintln!("race endings: {endings:?}");
}

/// A command's JSON answer, or `{"error": …}` with what it said on stderr.
fn outcome(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| serde_json::json!({ "error": String::from_utf8_lossy(&output.stderr) }))
}

/// Runs `accord withdraw` on A and `accord accept` on B at the same moment (`withdraw_first`
/// says which is started first) and returns both answers (an error as `{"error": …}`).
fn race(a: &Daemon, b: &Daemon, id: &str, withdraw_first: bool) -> (Value, Value) {
    let run = |node: &Daemon, verb: &'static str| {
        let child = accord(&node.data_dir, &["--json", verb, id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run accord {verb}: {err}"));
        move || {
            let output = child
                .wait_with_output()
                .unwrap_or_else(|err| panic!("accord {verb}: {err}"));
            outcome(&output)
        }
    };
    let (withdraw, accept) = if withdraw_first {
        let withdraw = run(a, "withdraw");
        (withdraw, run(b, "accept"))
    } else {
        let accept = run(b, "accept");
        (run(a, "withdraw"), accept)
    };
    (withdraw(), accept())
}

#[test]
fn an_acceptance_that_reaches_the_inviter_after_expiry_is_refused_and_the_invitee_ends_not_connected()
 {
    let dir = TestDir::new();
    let a = Daemon::start_with_config(&dir.path("a"), ONE_DAY_INVITES, &[]);
    let b = Daemon::start_with_config(
        &dir.path("b"),
        ONE_DAY_INVITES,
        &["--bootstrap", &a.tcp_addr()],
    );
    b.wait_for_peer(&a.id, ARRIVAL);
    let a_id = a.id.clone();
    let id = invite_arrives(&a, &b);

    // B accepts in time, but A is away and hears of it only two days later.
    let a_down = stop(a);
    let accepted = b.json(&["accept", &id]);
    assert_eq!(accepted["state"], "accepted", "{accepted}");
    let awaiting = connection(&b, &a_id).unwrap_or_default();
    assert_eq!(awaiting["state"], "awaiting_confirmation", "{awaiting}");
    let b_down = stop(b);
    let a = a_down.start(2 * DAY_SECS, &[]);
    let b = b_down.start(2 * DAY_SECS, &["--bootstrap", &a.tcp_addr()]);

    wait_refused(&b, &a, &id, "expired");
    assert_eq!(invite_state(&a, "--outgoing", &id), "expired");
    assert!(connection(&a, &b.id).is_none(), "A connected to B");
    assert!(a.dropped("late_acceptance") >= 1);
    assert_eq!(json_array(b.json(&["connections"])), Vec::<Value>::new());
}

#[test]
fn messages_written_while_awaiting_confirmation_flow_once_confirmed() {
    let dir = TestDir::new();
    let a = Daemon::start_with_config(&dir.path("a"), CONFIG, &[]);
    let b = Daemon::start_with_config(&dir.path("b"), CONFIG, &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);
    let a_id = a.id.clone();
    let id = invite_arrives(&a, &b);

    // B accepts while A is away, and writes at once: the message is queued, not sent.
    let mut watch = Watch::start(&b);
    let a_down = stop(a);
    let accepted = b.json(&["accept", &id]);
    assert_eq!(accepted["state"], "accepted", "{accepted}");
    let sent = b.json(&["send", &a_id, "written before A confirmed"]);
    assert_eq!(sent["state"], "queued", "{sent}");
    assert_eq!(
        connection(&b, &a_id).unwrap_or_default()["state"],
        "awaiting_confirmation"
    );

    // A comes back, completes the attestation and confirms it; the message then flows.
    let a = a_down.start(0, &["--bootstrap", &b.tcp_addr()]);
    let confirmed = watch.wait(&["invite_confirmed", "invite_refused"], |e| {
        e["invite_id"] == id.as_str()
    });
    assert_eq!(confirmed["event"], "invite_confirmed", "{confirmed}");
    assert_eq!(
        connection(&b, &a_id).unwrap_or_default()["state"],
        "connected"
    );
    let history = a.wait_history(&b.id, 1);
    assert_eq!(history[0]["body"], "written before A confirmed");
    assert!(assert_agree(&a, &b, "after the confirmation"));
}
