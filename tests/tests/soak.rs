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
//! The last test fills the receiver's disk (a tmpfs it mounts, so only as root).

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use accord_identity::test_rng::TestRng;
use accord_tests::conversation::{
    Sent, invite_and_accept, send, str_of, wait_outbox_drained, written_by,
};
use accord_tests::{
    ARRIVAL, Daemon, NO_DHT, TestDir, accord, json_array, run, wait_exit, wait_until,
};
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
fn stream_into(
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
fn messages_from(node: &Daemon, peer: &str, from: &str) -> Vec<(String, String, String)> {
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

/// Two daemons, connected through invite and accept, with the DHT and mDNS off.
fn pair(dir: &TestDir) -> (Daemon, Daemon) {
    let sender = Daemon::start_with_config(&dir.path("s"), NO_DHT, &[]);
    let receiver =
        Daemon::start_with_config(&dir.path("r"), NO_DHT, &["--bootstrap", &sender.tcp_addr()]);
    receiver.wait_for_peer(&sender.id, ARRIVAL);
    invite_and_accept(&sender, &receiver, "soak");
    (sender, receiver)
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

/// The soak: streams from the sender while `victim` is killed and restarted `cycles` times,
/// checking after each restart that nothing acknowledged (or, for the sender, queued) was
/// lost, then checks the whole conversation once the outbox drained.
fn soak(name: &str, victim_side: Victim) {
    let cycles = env_number("ACCORD_SOAK_CYCLES", DEFAULT_CYCLES as u64) as usize;
    let seed = seed();
    println!("soak {name}: seed {seed} (replay with ACCORD_SOAK_SEED={seed}), {cycles} cycles");
    let mut rng = TestRng::new(seed);
    let dir = TestDir::new();
    let (sender, receiver) = pair(&dir);
    let (sender_dir, sender_id, receiver_id) = (
        sender.data_dir.clone(),
        sender.id.clone(),
        receiver.id.clone(),
    );
    // Long runs send more slowly, so that the stream lasts about as long as the kills.
    let pace = Duration::from_millis(2 * cycles as u64);
    let done = AtomicBool::new(false);
    let log = Mutex::new(Vec::new());
    // Everything the sender saw acknowledged at some point: it must never disappear.
    let mut acknowledged: HashSet<String> = HashSet::new();

    let (sender, receiver) = std::thread::scope(|scope| {
        let streaming = scope.spawn(|| {
            stream_into(&sender_dir, &receiver_id, seed, pace, &done, &log);
        });
        let (mut victim, other) = match victim_side {
            Victim::Sender => (sender, receiver),
            Victim::Receiver => (receiver, sender),
        };
        for _ in 0..cycles {
            std::thread::sleep(Duration::from_millis(between(&mut rng, 100, 1500)));
            let attempts = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let sender_now = match victim_side {
                Victim::Sender => &victim,
                Victim::Receiver => &other,
            };
            // What must survive the kill, as known just before it.
            acknowledged.extend(acked_ids(&attempts).map(str::to_owned));
            acknowledged.extend(
                messages_from(sender_now, &receiver_id, &sender_id)
                    .into_iter()
                    .filter(|(_, _, state)| state == "delivered" || state == "read")
                    .map(|(id, _, _)| id),
            );
            let queued: Vec<String> = attempts
                .iter()
                .filter_map(|a| match &a.outcome {
                    Outcome::Queued { id, .. } => Some(id.clone()),
                    Outcome::Failed => None,
                })
                .collect();
            victim = crash_and_restart(victim, &other);
            let (sender_now, receiver_now) = match victim_side {
                Victim::Sender => (&victim, &other),
                Victim::Receiver => (&other, &victim),
            };
            let held: HashSet<String> = messages_from(receiver_now, &sender_id, &sender_id)
                .into_iter()
                .map(|(id, _, _)| id)
                .collect();
            let lost: Vec<&String> = acknowledged
                .iter()
                .filter(|id| !held.contains(*id))
                .collect();
            assert!(
                lost.is_empty(),
                "acknowledged messages lost: {lost:?} (seed {seed})"
            );
            let kept: HashSet<String> = messages_from(sender_now, &receiver_id, &sender_id)
                .into_iter()
                .map(|(id, _, _)| id)
                .collect();
            let dropped: Vec<&String> = queued.iter().filter(|id| !kept.contains(*id)).collect();
            assert!(
                dropped.is_empty(),
                "queued messages lost by the sender: {dropped:?} (seed {seed})"
            );
        }
        done.store(true, Ordering::SeqCst);
        if streaming.join().is_err() {
            panic!("the sender's stream failed (seed {seed})");
        }
        match victim_side {
            Victim::Sender => (victim, other),
            Victim::Receiver => (other, victim),
        }
    });

    let attempts = log.into_inner().unwrap_or_else(|e| e.into_inner());
    check_end_state(
        name,
        seed,
        cycles,
        &attempts,
        &acknowledged,
        &sender,
        &receiver,
    );
}

/// After the stream: waits for the outbox to drain, prints the summary line and checks that
/// the receiver holds every queued message once, in send order, exactly as the sender does.
fn check_end_state(
    name: &str,
    seed: u64,
    cycles: usize,
    attempts: &[Attempt],
    acknowledged: &HashSet<String>,
    sender: &Daemon,
    receiver: &Daemon,
) {
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

    // Every queued message is there once, with its body; a failed send at most once.
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
    for id in &all_acked {
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
    let ids = |list: &[(String, String, String)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(id, body, _)| (id.clone(), body.clone()))
            .collect()
    };
    assert_eq!(
        ids(&on_sender),
        ids(&received),
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

/// A tmpfs mounted for one test; unmounted when dropped, however the test ends.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) on `path`, private to the
    /// owner (mode 0700, as a data dir must be), or says why it cannot.
    fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not root: mounting a tmpfs needs CAP_SYS_ADMIN".to_owned());
        }
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            path: path.to_owned(),
        })
    }

    /// Fills the filesystem with `filler`: writes until the kernel answers ENOSPC.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap_or_else(|e| panic!("filler: {e}"));
        for chunk in [1 << 20, 4096, 1] {
            let block = vec![0xa5u8; chunk];
            loop {
                match file.write_all(&block) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(ENOSPC) => break,
                    Err(e) => panic!("filling the disk failed otherwise: {e}"),
                }
            }
        }
        // The last write may be buffered nowhere (tmpfs has no cache to flush), but be sure.
        let _ = file.sync_all();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.path).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            // Something still holds it (a daemon being killed): detach it now, freed when
            // the last user goes.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// `ENOSPC` on Linux.
const ENOSPC: i32 = 28;

/// Runs `accord --json <args>` on `data_dir`, failing the test if it does not finish within
/// `timeout` (a hang is a failure too).
fn run_bounded(data_dir: &Path, args: &[&str], timeout: Duration) -> Output {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let mut child = accord(data_dir, &all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run accord: {e}"));
    wait_exit(&mut child, timeout);
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("accord {args:?}: {e}"))
}

/// How many sends may still succeed once the filesystem is full: sled writes into blocks its
/// log already holds until it needs a new one.
const MAX_SENDS_UNTIL_FULL: usize = 200;

/// Bounds every command run against a daemon with a full disk: a hang fails the test.
const COMMAND_BOUND: Duration = Duration::from_secs(60);

/// What the daemon says when a write does not fit.
const DISK_FULL: &str = "the disk holding the Accord store is full";

/// Checks a failed `accord send` on a full disk: exit status 1, the disk-full message with what
/// to do, no panic.
fn assert_disk_full(output: &Output) {
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains(DISK_FULL), "unclear error: {text}");
    assert!(text.contains("restart the daemon"), "no advice: {text}");
    assert!(!text.contains("panic"), "{text}");
}

/// The receiver's data dir lives on a 32 MiB tmpfs that the test fills. Writes must fail with
/// a clear error (not a panic, not a hang), a message that could not be saved must never
/// leave, incoming messages must stay queued at the sender, reads must keep working, and after
/// the space is freed and the daemon restarted (sled refuses writes for good once one failed)
/// everything saved before is there and the queued messages arrive exactly once.
#[test]
fn a_full_disk_fails_writes_clearly_keeps_reads_and_loses_nothing_once_freed() {
    let dir = TestDir::new();
    // Declared first, so dropped last: the daemons are gone by the time it is unmounted.
    let mount = match Tmpfs::mount(&dir.path("r"), "32m") {
        Ok(mount) => mount,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    let (sender, receiver) = pair(&dir);
    let (s_id, r_id, r_dir) = (
        sender.id.clone(),
        receiver.id.clone(),
        receiver.data_dir.clone(),
    );
    let mut to_r: Vec<Sent> = (0..5)
        .map(|n| send(&sender, &r_id, &format!("before the disk filled #{n}")))
        .collect();
    let mut to_s: Vec<Sent> = (0..3)
        .map(|n| send(&receiver, &s_id, &format!("reply before #{n}")))
        .collect();
    wait_outbox_drained(&sender);
    wait_outbox_drained(&receiver);

    let filler = mount.fill();
    // Sends may go on for a while in space the log already holds (they are then durable and
    // must survive); the first that needs more fails, and every later one too.
    let mut unsaved = Vec::new();
    for n in 0..MAX_SENDS_UNTIL_FULL {
        let body = format!("while full #{n}");
        let output = run_bounded(&r_dir, &["send", &s_id, &body], COMMAND_BOUND);
        if output.status.success() {
            let reply: Value = serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|e| panic!("send printed invalid JSON: {e}"));
            to_s.push((str_of(&reply, "message_id"), body));
        } else {
            assert_disk_full(&output);
            unsaved.push(body);
            break;
        }
    }
    assert_eq!(unsaved.len(), 1, "no send failed on a full disk");
    let body = "after the first failure".to_owned();
    assert_disk_full(&run_bounded(&r_dir, &["send", &s_id, &body], COMMAND_BOUND));
    unsaved.push(body);

    // Messages to the full disk are refused, not acknowledged: the sender keeps them queued,
    // across its own restart too. The restart also reconnects it, which makes the receiver
    // try its outbox again: what it could not save must still stay home.
    let queued: Vec<Sent> = (0..3)
        .map(|n| send(&sender, &r_id, &format!("to the full disk #{n}")))
        .collect();
    let refused = |status: &Value| {
        json_array(status["queued"].clone())
            .iter()
            .any(|q| q["peer"] == r_id.as_str())
            .then_some(())
    };
    sender.wait_json("the receiver to refuse", &["status"], ARRIVAL, refused);
    let sender = sender.restart(&[]);
    receiver.wait_for_peer(&s_id, ARRIVAL);
    sender.wait_json(
        "the receiver to refuse again",
        &["status"],
        ARRIVAL,
        refused,
    );
    assert_eq!(
        sender.json(&["status"])["outbox"],
        queued.len(),
        "queued at the sender"
    );

    // Reads keep working, and show everything saved before.
    let held = receiver.history(&s_id);
    assert_eq!(
        written_by(&held, &s_id),
        to_r,
        "the receiver's copy of the sender's messages"
    );
    let own: Vec<Sent> = written_by(&held, &r_id)
        .into_iter()
        .filter(|(_, body)| !unsaved.contains(body))
        .collect();
    assert_eq!(own, to_s, "the receiver's own messages");
    let inbox = receiver.json(&["inbox"]);
    assert_eq!(json_array(inbox)[0]["peer"], s_id.as_str());
    assert!(receiver.json(&["status"])["outbox"].is_u64());
    // What could not be saved never left: the sender has none of it.
    let on_sender = sender.history(&r_id);
    for body in &unsaved {
        assert!(
            !on_sender.iter().any(|m| m["body"] == body.as_str()),
            "{body} left the full disk"
        );
    }

    // Free the space and restart: the engine refuses writes until it is reopened. The final
    // flush of the stop fails, so the daemon exits reporting the full disk.
    std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("removing the filler: {e}"));
    let listen = receiver.listen_addr();
    let stopped = receiver.stop();
    println!("the daemon with the full disk stopped with {stopped}");
    let receiver = Daemon::start(
        &r_dir,
        &["--listen", &listen, "--bootstrap", &sender.tcp_addr()],
    );
    wait_outbox_drained(&sender);
    to_r.extend(queued);
    let mut duplicates = 0;
    for (node, peer) in [(&receiver, &s_id), (&sender, &r_id)] {
        let history = node.history(peer);
        let ids: HashSet<String> = history.iter().map(|m| str_of(m, "message_id")).collect();
        duplicates += history.len() - ids.len();
        assert_eq!(
            written_by(&history, &s_id),
            to_r,
            "on {}: the sender's messages",
            node.id
        );
        assert_eq!(
            written_by(&history, &r_id),
            to_s,
            "on {}: the receiver's messages",
            node.id
        );
    }
    println!(
        "soak disk-full: saved_after_full={} failed_sends={} queued_while_full=3 delivered={} \
         duplicates={duplicates}",
        to_s.len() - 3,
        unsaved.len(),
        to_r.len() + to_s.len(),
    );
    assert_eq!(duplicates, 0);

    // And the conversation goes on, acknowledged end to end.
    let reply = receiver.json(&["send", &s_id, "there is room again", "--wait"]);
    assert_eq!(reply["state"], "delivered", "{reply}");
    let reply = sender.json(&["send", &r_id, "good", "--wait"]);
    assert_eq!(reply["state"], "delivered", "{reply}");
}
