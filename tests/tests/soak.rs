//! The crash and fault soak: two daemons on 127.0.0.1 (mDNS off), one streaming numbered
//! messages to the other through `accord send`, while one side is killed with SIGKILL at random
//! moments and restarted, again and again. What it checks is what a user relies on:
//!
//! - every restart opens the store cleanly (the daemon becomes ready and `accord status`
//!   answers);
//! - nothing acknowledged is lost: a message the sender saw delivered before the receiver was
//!   killed is in the receiver's history after the restart, and a message whose `accord send`
//!   succeeded before the sender was killed is still queued after it;
//! - nothing is shown twice, the receiver's order is the send order, and once the stream stops
//!   every queued message is delivered (the outbox drains).
//!
//! The kill moments come from a seeded generator; the seed is printed first, and
//! `ACCORD_SOAK_SEED=<seed>` replays the same schedule. `ACCORD_SOAK_CYCLES=<n>` runs longer
//! than the default (for example `ACCORD_SOAK_CYCLES=200 cargo test -p accord-tests --test soak
//! -- --nocapture`). Each test ends with one summary line.
//!
//! The full disk is `soak_disk_full.rs`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use accord_identity::test_rng::TestRng;
use accord_tests::conversation::str_of;
use accord_tests::{Daemon, NO_DHT, TestDir, connected_pair, run, wait_until};
use rand_core::TryRng;
use serde_json::Value;

/// Kill cycles per test unless `ACCORD_SOAK_CYCLES` says otherwise: enough to hit the
/// receiver and the sender in different phases, few enough to keep both tests near a minute.
const DEFAULT_CYCLES: usize = 10;

/// The most messages one test sends: `accord history` returns at most 1000, and the checks
/// need the whole conversation.
const MAX_MESSAGES: usize = 950;

/// One send in this many uses `--wait`, so that acknowledgements are also seen end to end.
const WAIT_EVERY: usize = 7;

/// How long the outbox may take to drain once the stream stops: after many failed attempts a
/// message waits up to a minute before its next retry.
const DRAIN: Duration = Duration::from_secs(180);

/// Which daemon the soak kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    Sender,
    Receiver,
}

/// The number from an environment variable, or `default`.
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|err| panic!("{name}={text:?} is not a number: {err}")),
        Err(_) => default,
    }
}

/// The schedule's seed: `ACCORD_SOAK_SEED`, or one taken from the clock.
fn seed() -> u64 {
    let clock = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    env_number("ACCORD_SOAK_SEED", clock)
}

/// A number in `low..high` from the seeded generator.
fn between(rng: &mut TestRng, low: u64, high: u64) -> u64 {
    let Ok(x) = rng.try_next_u64();
    low + x % (high - low)
}

/// What one `accord send` did.
#[derive(Debug, Clone)]
enum Outcome {
    /// The command succeeded, so the message was queued durably; `acked` when `--wait` saw
    /// the recipient acknowledge it.
    Queued { id: String, acked: bool },
    /// The command failed (the daemon was down, or killed during the call): the message may
    /// or may not exist, but if it does, it must exist once.
    Failed,
}

/// One message the sender tried to send.
#[derive(Debug, Clone)]
struct Attempt {
    body: String,
    outcome: Outcome,
}

/// Runs `accord --json send <peer> <body> [--wait]` against the daemon of `dir`.
fn send_one(dir: &Path, peer: &str, body: &str, wait: bool) -> Outcome {
    let mut args = vec!["--json", "send", peer, body];
    if wait {
        args.push("--wait");
    }
    let output = run(dir, &args);
    let reply: Option<Value> = serde_json::from_slice(&output.stdout).ok();
    match reply {
        // `--wait` that timed out exits 1 but still prints the send result: queued, not acked.
        Some(reply) if !str_of(&reply, "message_id").is_empty() => Outcome::Queued {
            id: str_of(&reply, "message_id"),
            acked: output.status.success() && reply["state"] == "delivered",
        },
        _ => {
            assert!(
                !output.status.success(),
                "accord send succeeded without a message id: {}",
                String::from_utf8_lossy(&output.stdout)
            );
            Outcome::Failed
        }
    }
}

/// The sender's stream: numbered, unique bodies until `done` (or [`MAX_MESSAGES`]), each
/// attempt appended to `log`, which the killer reads while it runs.
fn stream(
    dir: &Path,
    peer: &str,
    tag: u64,
    pace: Duration,
    done: &AtomicBool,
    log: &Mutex<Vec<Attempt>>,
) {
    for n in 0..MAX_MESSAGES {
        if done.load(Ordering::SeqCst) {
            break;
        }
        let body = format!("soak {tag:016x} #{n:04}");
        let outcome = send_one(dir, peer, &body, n % WAIT_EVERY == WAIT_EVERY - 1);
        let failed = matches!(outcome, Outcome::Failed);
        log.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Attempt { body, outcome });
        // A failed send means the daemon is down: give it a moment to come back.
        std::thread::sleep(if failed {
            pace.max(Duration::from_millis(100))
        } else {
            pace
        });
    }
}

/// `(message_id, body, state)` of the messages `from` wrote in `node`'s conversation with `peer`,
/// oldest first.
fn messages_from(node: &Daemon, peer: &str, from: &str) -> Vec<Listed> {
    node.history(peer)
        .iter()
        .filter(|m| m["from"] == from)
        .map(|m| {
            (
                str_of(m, "message_id"),
                str_of(m, "body"),
                str_of(m, "state"),
            )
        })
        .collect()
}

/// The message number in a soak body (`soak <tag> #<n>`).
fn number(body: &str) -> u64 {
    body.rsplit('#')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a soak body: {body:?}"))
}

/// Kills `victim` with SIGKILL and starts it again on the same port, bootstrapped to `other`;
/// checks that it opened its store and answers `accord status`.
fn crash_and_restart(victim: Daemon, other: &Daemon) -> Daemon {
    let restarted = victim.crash_and_restart(&["--bootstrap", &other.tcp_addr()]);
    let status = restarted.json(&["status"]);
    assert!(
        status["outbox"].is_u64(),
        "status after a restart: {status}"
    );
    restarted
}

/// The message ids in `attempts` the sender knows were acknowledged (`--wait` succeeded).
fn acked_ids(attempts: &[Attempt]) -> impl Iterator<Item = &str> {
    attempts.iter().filter_map(|a| match &a.outcome {
        Outcome::Queued { id, acked: true } => Some(id.as_str()),
        _ => None,
    })
}

/// The message ids in `attempts` whose `accord send` succeeded.
fn queued_ids(attempts: &[Attempt]) -> Vec<String> {
    attempts
        .iter()
        .filter_map(|a| match &a.outcome {
            Outcome::Queued { id, .. } => Some(id.clone()),
            Outcome::Failed => None,
        })
        .collect()
}

/// Everything the sender knows was acknowledged: `--wait` successes and the messages its
/// history lists as delivered or read.
fn acknowledged_now(attempts: &[Attempt], sender: &Daemon, receiver_id: &str) -> Vec<String> {
    let mut ids: Vec<String> = acked_ids(attempts).map(str::to_owned).collect();
    ids.extend(
        messages_from(sender, receiver_id, &sender.id)
            .into_iter()
            .filter(|(_, _, state)| state == "delivered" || state == "read")
            .map(|(id, _, _)| id),
    );
    ids
}

/// `(sender, receiver)` out of `(victim, other)`.
fn roles<'a>(side: Victim, victim: &'a Daemon, other: &'a Daemon) -> (&'a Daemon, &'a Daemon) {
    match side {
        Victim::Sender => (victim, other),
        Victim::Receiver => (other, victim),
    }
}

/// After a restart: the receiver still holds everything the sender had seen acknowledged, and
/// the sender still holds everything `accord send` had accepted.
fn check_survivors(
    sender: &Daemon,
    receiver: &Daemon,
    acknowledged: &HashSet<String>,
    queued: &[String],
    seed: u64,
) {
    let ids = |node: &Daemon, peer: &str| -> HashSet<String> {
        messages_from(node, peer, &sender.id)
            .into_iter()
            .map(|(id, _, _)| id)
            .collect()
    };
    let held = ids(receiver, &sender.id);
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !held.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged messages lost: {lost:?} (seed {seed})"
    );
    let kept = ids(sender, &receiver.id);
    let dropped: Vec<&String> = queued.iter().filter(|id| !kept.contains(*id)).collect();
    assert!(
        dropped.is_empty(),
        "queued messages lost by the sender: {dropped:?} (seed {seed})"
    );
}

/// The soak: streams from the sender while `victim` is killed and restarted `cycles` times,
/// checking after each restart that nothing acknowledged (or, for the sender, queued) was
/// lost, then checks the whole conversation once the outbox drained.
fn soak(name: &str, side: Victim) {
    let cycles = env_number("ACCORD_SOAK_CYCLES", DEFAULT_CYCLES as u64) as usize;
    let seed = seed();
    println!("soak {name}: seed {seed} (replay with ACCORD_SOAK_SEED={seed}), {cycles} cycles");
    let mut rng = TestRng::new(seed);
    let dir = TestDir::new();
    let (sender, receiver) = connected_pair(&dir, NO_DHT);
    let (sender_dir, receiver_id) = (sender.data_dir.clone(), receiver.id.clone());
    // Long runs send more slowly, so that the stream lasts about as long as the kills.
    let pace = Duration::from_millis(2 * cycles as u64);
    let done = AtomicBool::new(false);
    let log = Mutex::new(Vec::new());
    // Everything the sender saw acknowledged at some point: it must never disappear.
    let mut acknowledged: HashSet<String> = HashSet::new();

    let (sender, receiver) = std::thread::scope(|scope| {
        let streaming = scope.spawn(|| stream(&sender_dir, &receiver_id, seed, pace, &done, &log));
        let (mut victim, other) = match side {
            Victim::Sender => (sender, receiver),
            Victim::Receiver => (receiver, sender),
        };
        for _ in 0..cycles {
            std::thread::sleep(Duration::from_millis(between(&mut rng, 100, 1500)));
            // What must survive the kill, as known just before it.
            let attempts = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let (sender_now, _) = roles(side, &victim, &other);
            acknowledged.extend(acknowledged_now(&attempts, sender_now, &receiver_id));
            let queued = queued_ids(&attempts);
            victim = crash_and_restart(victim, &other);
            let (sender_now, receiver_now) = roles(side, &victim, &other);
            check_survivors(sender_now, receiver_now, &acknowledged, &queued, seed);
        }
        done.store(true, Ordering::SeqCst);
        if streaming.join().is_err() {
            panic!("the sender's stream failed (seed {seed})");
        }
        match side {
            Victim::Sender => (victim, other),
            Victim::Receiver => (other, victim),
        }
    });

    let attempts = log.into_inner().unwrap_or_else(|e| e.into_inner());
    let run = Run { name, seed, cycles };
    check_end_state(&run, &attempts, &acknowledged, &sender, &receiver);
}

/// What names one soak run in its messages.
struct Run<'a> {
    name: &'a str,
    seed: u64,
    cycles: usize,
}

/// After the stream: waits for the outbox to drain, prints the summary line and checks that
/// the receiver holds every queued message once, in send order, exactly as the sender does.
fn check_end_state(
    run: &Run<'_>,
    attempts: &[Attempt],
    acknowledged: &HashSet<String>,
    sender: &Daemon,
    receiver: &Daemon,
) {
    let Run { name, seed, cycles } = *run;
    wait_until(&format!("{}'s outbox to drain", sender.id), DRAIN, || {
        (sender.json(&["status"])["outbox"] == 0).then_some(())
    });
    let received = messages_from(receiver, &sender.id, &sender.id);
    let on_sender = messages_from(sender, &receiver.id, &sender.id);
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for (id, body, _) in &received {
        *copies.entry(id.as_str()).or_default() += 1;
        *copies.entry(body.as_str()).or_default() += 1;
    }
    let duplicates = copies.values().filter(|&&n| n > 1).count();
    let queued = attempts
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Queued { .. }))
        .count();
    let mut all_acked = acknowledged.clone();
    all_acked.extend(acked_ids(attempts).map(str::to_owned));
    println!(
        "soak {name}: seed={seed} cycles={cycles} sent={queued} failed_sends={} acknowledged={} \
         delivered={} duplicates={duplicates}",
        attempts.len() - queued,
        all_acked.len(),
        received.len()
    );
    assert_eq!(
        duplicates, 0,
        "duplicates on the receiver (seed {seed}): {received:?}"
    );
    assert!(queued > 0, "the sender queued nothing");
    check_delivered_in_order(seed, attempts, &all_acked, &received, &on_sender);
}

/// `(message_id, body, state)`, as [`messages_from`] lists them.
type Listed = (String, String, String);

/// Every queued and every acknowledged message is on the receiver with its body, in send
/// order, the sender lists exactly the same messages, and all of them are delivered.
fn check_delivered_in_order(
    seed: u64,
    attempts: &[Attempt],
    all_acked: &HashSet<String>,
    received: &[Listed],
    on_sender: &[Listed],
) {
    let by_id: HashMap<&str, &str> = received
        .iter()
        .map(|(id, body, _)| (id.as_str(), body.as_str()))
        .collect();
    for attempt in attempts {
        if let Outcome::Queued { id, .. } = &attempt.outcome {
            assert_eq!(
                by_id.get(id.as_str()).copied(),
                Some(attempt.body.as_str()),
                "queued message {id} ({}) lost (seed {seed})",
                attempt.body
            );
        }
    }
    for id in all_acked {
        assert!(
            by_id.contains_key(id.as_str()),
            "acknowledged {id} lost (seed {seed})"
        );
    }
    // The receiver's order is the send order, and both sides list the same messages.
    let numbers: Vec<u64> = received.iter().map(|(_, body, _)| number(body)).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "the receiver's order differs from the send order (seed {seed}): {numbers:?}"
    );
    let ids = |list: &[Listed]| -> Vec<(String, String)> {
        list.iter()
            .map(|(id, body, _)| (id.clone(), body.clone()))
            .collect()
    };
    assert_eq!(
        ids(on_sender),
        ids(received),
        "sender and receiver disagree (seed {seed})"
    );
    let undelivered: Vec<_> = on_sender
        .iter()
        .filter(|(_, _, state)| state != "delivered" && state != "read")
        .collect();
    assert!(
        undelivered.is_empty(),
        "not delivered after the drain: {undelivered:?}"
    );
}

#[test]
fn the_receiver_killed_at_random_moments_loses_repeats_and_reorders_nothing() {
    soak("receiver-killed", Victim::Receiver);
}

#[test]
fn the_sender_killed_at_random_moments_loses_repeats_and_reorders_nothing() {
    soak("sender-killed", Victim::Sender);
}
