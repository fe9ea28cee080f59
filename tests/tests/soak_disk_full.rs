//! The full-disk part of the fault soak: the receiver's data dir is a tmpfs the test mounts
//! (as root: the test is `#[ignore]`d, `.ci/run` runs it with `--ignored` as root, and without
//! root it fails with the reason) and fills. What it shows, and the
//! behaviour it pins down, is described in docs/architecture.md, "Crashes and full disks".

use std::collections::HashSet;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use accord_tests::capability::require;
use accord_tests::conversation::{Sent, send, str_of, wait_outbox_drained, written_by};
use accord_tests::tmpfs::Tmpfs;
use accord_tests::{
    ARRIVAL, Daemon, NO_DHT, TestDir, accord, connected_pair, json_array, wait_exit,
};
use serde_json::Value;

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

/// Sends from the receiver on its full disk until a send fails (the first ones may still fit
/// in blocks the log holds: they are then durable and added to `saved`), then once more.
/// Returns the bodies that could not be saved.
fn send_until_full(r_dir: &Path, s_id: &str, saved: &mut Vec<Sent>) -> Vec<String> {
    let mut unsaved = Vec::new();
    for n in 0..MAX_SENDS_UNTIL_FULL {
        let body = format!("while full #{n}");
        let output = run_bounded(r_dir, &["send", s_id, &body], COMMAND_BOUND);
        if output.status.success() {
            let reply: Value = serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|e| panic!("send printed invalid JSON: {e}"));
            saved.push((str_of(&reply, "message_id"), body));
        } else {
            assert_disk_full(&output);
            unsaved.push(body);
            break;
        }
    }
    assert_eq!(unsaved.len(), 1, "no send failed on a full disk");
    // Every later write fails too, at once.
    let body = "after the first failure".to_owned();
    assert_disk_full(&run_bounded(r_dir, &["send", s_id, &body], COMMAND_BOUND));
    unsaved.push(body);
    unsaved
}

/// Sends three messages to the full disk and checks they stay queued at the sender, across
/// its own restart too. The restart also reconnects it, which makes the receiver try its own
/// outbox again, so the caller can check that what it could not save still stays home.
fn queue_to_the_full_disk(sender: Daemon, receiver: &Daemon) -> (Daemon, Vec<Sent>) {
    let queued: Vec<Sent> = (0..3)
        .map(|n| send(&sender, &receiver.id, &format!("to the full disk #{n}")))
        .collect();
    let refused = |status: &Value| {
        json_array(status["queued"].clone())
            .iter()
            .any(|q| q["peer"] == receiver.id.as_str())
            .then_some(())
    };
    sender.wait_json("the receiver to refuse", &["status"], ARRIVAL, refused);
    let sender = sender.restart(&[]);
    receiver.wait_for_peer(&sender.id, ARRIVAL);
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
    (sender, queued)
}

/// While the disk is full: reads answer and show everything saved before, and what could
/// not be saved never reached the sender.
fn check_reads_while_full(
    receiver: &Daemon,
    sender: &Daemon,
    to_r: &[Sent],
    to_s: &[Sent],
    unsaved: &[String],
) {
    let held = receiver.history(&sender.id);
    assert_eq!(
        written_by(&held, &sender.id),
        to_r,
        "the receiver's copy of the sender's messages"
    );
    // Until the restart, the history may also list the message whose save failed.
    let own: Vec<Sent> = written_by(&held, &receiver.id)
        .into_iter()
        .filter(|(_, body)| !unsaved.contains(body))
        .collect();
    assert_eq!(own, to_s, "the receiver's own messages");
    let inbox = json_array(receiver.json(&["inbox"]));
    assert_eq!(inbox[0]["peer"], sender.id.as_str());
    assert!(receiver.json(&["status"])["outbox"].is_u64());
    let on_sender = sender.history(&receiver.id);
    for body in unsaved {
        assert!(
            !on_sender.iter().any(|m| m["body"] == body.as_str()),
            "{body} left the full disk"
        );
    }
}

/// Removes the filler and restarts the receiver. The engine refuses writes until it is
/// reopened, and the stop's final flush fails, so the daemon exits with status 1 and says
/// the disk is full.
fn free_and_restart(receiver: Daemon, sender: &Daemon, filler: &Path) -> Daemon {
    std::fs::remove_file(filler).unwrap_or_else(|e| panic!("removing the filler: {e}"));
    let (r_dir, listen) = (receiver.data_dir.clone(), receiver.listen_addr());
    let stopped = receiver.stop();
    let log = std::fs::read_to_string(r_dir.with_extension("log")).unwrap_or_default();
    assert_eq!(
        stopped.code(),
        Some(1),
        "the stop of a daemon whose disk filled"
    );
    assert!(
        log.contains(DISK_FULL),
        "the daemon's last words do not say the disk is full"
    );
    Daemon::start(
        &r_dir,
        &["--listen", &listen, "--bootstrap", &sender.tcp_addr()],
    )
}

/// Both sides hold exactly `to_r` from the sender and `to_s` from the receiver, in order;
/// returns how many messages were listed twice.
fn check_both_sides(sender: &Daemon, receiver: &Daemon, to_r: &[Sent], to_s: &[Sent]) -> usize {
    let mut duplicates = 0;
    for (node, peer) in [(receiver, &sender.id), (sender, &receiver.id)] {
        let history = node.history(peer);
        let ids: HashSet<String> = history.iter().map(|m| str_of(m, "message_id")).collect();
        duplicates += history.len() - ids.len();
        assert_eq!(
            written_by(&history, &sender.id),
            to_r,
            "on {}: the sender's messages",
            node.id
        );
        assert_eq!(
            written_by(&history, &receiver.id),
            to_s,
            "on {}: the receiver's messages",
            node.id
        );
    }
    duplicates
}

/// The receiver's data dir lives on a 32 MiB tmpfs that the test fills. Writes must fail with
/// a clear error (not a panic, not a hang), a message that could not be saved must never
/// leave, incoming messages must stay queued at the sender, reads must keep working, and after
/// the space is freed and the daemon restarted (sled refuses writes for good once one failed)
/// everything saved before is there and the queued messages arrive exactly once.
#[test]
#[ignore = "needs root to mount a tmpfs; .ci/run runs it with --ignored as root"]
fn a_full_disk_fails_writes_clearly_keeps_reads_and_loses_nothing_once_freed() {
    let dir = TestDir::new();
    // Declared first, so dropped last: the daemons are gone by the time it is unmounted.
    let mount = require(
        "root (to mount a tmpfs)",
        Tmpfs::mount(&dir.path("b"), "32m"),
    );
    let (sender, receiver) = connected_pair(&dir, NO_DHT);
    let (s_id, r_id) = (sender.id.clone(), receiver.id.clone());
    let mut to_r: Vec<Sent> = (0..5)
        .map(|n| send(&sender, &r_id, &format!("before the disk filled #{n}")))
        .collect();
    let mut to_s: Vec<Sent> = (0..3)
        .map(|n| send(&receiver, &s_id, &format!("reply before #{n}")))
        .collect();
    wait_outbox_drained(&sender);
    wait_outbox_drained(&receiver);

    let filler = mount.fill();
    let saved_before = to_s.len();
    let unsaved = send_until_full(&receiver.data_dir, &s_id, &mut to_s);
    let (sender, queued) = queue_to_the_full_disk(sender, &receiver);
    check_reads_while_full(&receiver, &sender, &to_r, &to_s, &unsaved);

    let receiver = free_and_restart(receiver, &sender, &filler);
    wait_outbox_drained(&sender);
    to_r.extend(queued);
    let duplicates = check_both_sides(&sender, &receiver, &to_r, &to_s);
    println!(
        "soak disk-full: saved_while_full={} failed_sends={} queued_while_full=3 delivered={} \
         duplicates={duplicates}",
        to_s.len() - saved_before,
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
