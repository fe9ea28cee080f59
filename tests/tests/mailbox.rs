//! Mailboxes among connections (design §11) end to end, with real daemons on 127.0.0.1: mail
//! for an offline recipient waits at one of its connections, arrives once and in order when
//! the recipient comes online, and the sender, offline meanwhile, learns from its own mailbox
//! that it was delivered; a mailbox killed with
//! SIGKILL loses and repeats nothing; a full mailbox refuses and the sender delivers later; a
//! mailbox's data dir shows no message text and no sender, and a deposit with a token nobody
//! registered is refused and counted.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use accord_net::DirectProtocol;
use accord_tests::conversation::{invite_and_accept, send};
use accord_tests::peer::TestPeer;
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, accord, json_array, wait_until};
use serde_json::Value;

/// How long a message may take to be held by a mailbox: its first delivery attempt fails at
/// once, but one whose deposit failed is tried again only after its next delivery attempt,
/// which backs off up to a minute.
const STORED: Duration = Duration::from_secs(180);

/// A running `accord --json watch`, its events read on a thread and kept.
struct Watch {
    child: Child,
    events: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Watch {
    fn start(node: &Daemon) -> Watch {
        let mut child = accord(&node.data_dir, &["--json", "watch"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run accord watch: {err}"));
        let out = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    break;
                };
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// Waits until an `event` has been seen for every id in `ids` (in any order), counting
    /// the events seen by earlier waits.
    fn wait_for_all(&mut self, event: &str, ids: &[String], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut left: Vec<&String> = ids
            .iter()
            .filter(|id| {
                !self
                    .seen
                    .iter()
                    .any(|e| e["event"] == event && e["message_id"] == id.as_str())
            })
            .collect();
        while !left.is_empty() {
            let wait = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no {event} for {left:?} within {timeout:?}"));
            let seen = self
                .events
                .recv_timeout(wait)
                .unwrap_or_else(|_| panic!("no {event} for {left:?} within {timeout:?}"));
            if seen["event"] == event {
                left.retain(|id| seen["message_id"] != id.as_str());
            }
            self.seen.push(seen);
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mailbox `m` (with `m_config` added), a sender `a` and a recipient `b`, all three
/// connections of each other; `a` and `b` use `m` as their mailbox, and their connections
/// know it.
fn trio(dir: &TestDir, m_config: &str) -> (Daemon, Daemon, Daemon) {
    let m = Daemon::start_with_config(&dir.path("m"), &format!("{NO_DHT}{m_config}"), &[]);
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &["--bootstrap", &m.tcp_addr()]);
    let b = Daemon::start_with_config(
        &dir.path("b"),
        NO_DHT,
        &["--bootstrap", &m.tcp_addr(), "--bootstrap", &a.tcp_addr()],
    );
    b.wait_for_peer(&a.id, ARRIVAL);
    b.wait_for_peer(&m.id, ARRIVAL);
    a.wait_for_peer(&m.id, ARRIVAL);
    invite_and_accept(&m, &a, "mailbox and sender");
    invite_and_accept(&m, &b, "mailbox and recipient");
    invite_and_accept(&a, &b, "sender and recipient");
    for node in [&a, &b] {
        let chosen = node.json(&["mailbox", "use", &m.id]);
        assert_eq!(chosen["mine"][0]["id"], m.id.as_str(), "{chosen}");
        assert_eq!(chosen["mine"][0]["pinned"], true, "{chosen}");
        node.wait_json(
            "its connections to acknowledge its mailbox",
            &["mailbox"],
            ARRIVAL,
            |info| (info["announced"] == 2).then_some(()),
        );
    }
    (m, a, b)
}

/// Stops `node` and returns what starts it again on the same port: its data dir and its
/// listen address.
fn stop(node: Daemon) -> (std::path::PathBuf, String) {
    let (dir, listen) = (node.data_dir.clone(), node.listen_addr());
    assert!(node.stop().success(), "the daemon did not stop cleanly");
    (dir, listen)
}

fn start_again(saved: &(std::path::PathBuf, String), bootstrap: &[&Daemon]) -> Daemon {
    let mut args = vec!["--listen".to_owned(), saved.1.clone()];
    for node in bootstrap {
        args.push("--bootstrap".to_owned());
        args.push(node.tcp_addr());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Daemon::start(&saved.0, &args)
}

/// Sends `count` messages from `a` to `to`, returning their ids and bodies.
fn send_many(a: &Daemon, to: &str, count: usize, marker: &str) -> (Vec<String>, Vec<String>) {
    (0..count)
        .map(|i| send(a, to, &format!("{marker} {i}")))
        .unzip()
}

fn column(messages: &[Value], key: &str) -> Vec<String> {
    messages
        .iter()
        .map(|m| m[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until `node` shows every one of its messages to `peer` delivered (or read).
fn wait_all_delivered(node: &Daemon, peer: &str, count: usize) {
    node.wait_json(
        "every message to show delivered",
        &["history", peer, "--limit", "1000"],
        ARRIVAL,
        |history| {
            let states = column(&json_array(history.clone()), "state");
            (states.len() == count && states.iter().all(|s| s == "delivered" || s == "read"))
                .then_some(())
        },
    );
}

#[test]
fn ten_messages_to_an_offline_connection_arrive_once_in_order_through_its_mailbox() {
    let dir = TestDir::new();
    let (m, a, b) = trio(&dir, "");
    let b_id = b.id.clone();
    let a_id = a.id.clone();
    let b_saved = stop(b);

    let mut watch = Watch::start(&a);
    let (ids, bodies) = send_many(&a, &b_id, 10, "while you were away");
    watch.wait_for_all("message_stored", &ids, STORED);
    let on_a = json_array(a.json(&["history", &b_id]));
    assert!(
        column(&on_a, "state").iter().all(|s| s == "stored"),
        "{on_a:?}"
    );
    let held = m.json(&["mailbox"]);
    assert_eq!(held["serving"]["messages"], 10, "{held}");
    assert_eq!(held["serving"]["recipients"], 1, "{held}");
    let a_saved = stop(a);

    // Only the mailbox is online when the recipient comes back. (`inbox` does not mark the
    // conversation read, so the one `history` below makes one read receipt for all ten.)
    let b = start_again(&b_saved, &[&m]);
    b.wait_json("all ten to arrive", &["inbox"], ARRIVAL, |inbox| {
        json_array(inbox.clone())
            .iter()
            .any(|c| c["peer"] == a_id.as_str() && c["unread"] == 10)
            .then_some(())
    });
    let on_b = b.history(&a_id);
    assert_eq!(column(&on_b, "body"), bodies, "all ten, in order");
    assert_eq!(column(&on_b, "message_id"), ids, "each once");
    // What is left at the mailbox is for the sender: the recipient's acknowledgement and its
    // read receipt.
    m.wait_json(
        "the mailbox to hold only the sender's mail",
        &["mailbox"],
        ARRIVAL,
        |info| {
            (info["serving"]["messages"] == 2 && info["serving"]["recipients"] == 1).then_some(())
        },
    );
    let b_saved = stop(b);

    // The sender comes back while the recipient is away again, and learns from its own
    // mailbox that they were delivered, and read.
    let a = start_again(&a_saved, &[&m]);
    wait_all_delivered(&a, &b_id, 10);
    assert_eq!(a.json(&["status"])["outbox"], 0);
    a.wait_json(
        "the read receipt through the mailbox",
        &["history", &b_id],
        ARRIVAL,
        |history| {
            let states = column(&json_array(history.clone()), "state");
            states.iter().all(|s| s == "read").then_some(())
        },
    );
    let b = start_again(&b_saved, &[&m, &a]);
    assert_eq!(b.history(&a_id).len(), 10, "nothing shown twice");
}

#[test]
fn a_hundred_messages_to_an_offline_connection_all_go_to_its_mailbox_not_only_the_window() {
    let dir = TestDir::new();
    let (m, a, b) = trio(&dir, "");
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let b_saved = stop(b);

    // Far more than the send window (32): the ones behind it wait for the back-off of the
    // first, so they reach the mailbox only because the whole outbox is deposited.
    let mut watch = Watch::start(&a);
    let (ids, bodies) = send_many(&a, &b_id, 100, "a long letter, part");
    watch.wait_for_all("message_stored", &ids, STORED);
    m.wait_json(
        "the mailbox to hold all 100",
        &["mailbox"],
        ARRIVAL,
        |info| (info["serving"]["messages"] == 100).then_some(()),
    );
    let a_saved = stop(a);

    // The two are never online together.
    let b = start_again(&b_saved, &[&m]);
    b.wait_json("all 100 to arrive", &["inbox"], ARRIVAL, |inbox| {
        json_array(inbox.clone())
            .iter()
            .any(|c| c["peer"] == a_id.as_str() && c["unread"] == 100)
            .then_some(())
    });
    let on_b = b.history(&a_id);
    assert_eq!(column(&on_b, "body"), bodies, "all 100, in order");
    assert_eq!(column(&on_b, "message_id"), ids, "each once");
    m.wait_json(
        "the mailbox to hold only the sender's mail",
        &["mailbox"],
        ARRIVAL,
        |info| (info["serving"]["recipients"] == 1).then_some(()),
    );
    let b_saved = stop(b);

    let a = start_again(&a_saved, &[&m]);
    wait_all_delivered(&a, &b_id, 100);
    assert_eq!(a.json(&["status"])["outbox"], 0);
    let b = start_again(&b_saved, &[&m, &a]);
    let on_b = b.history(&a_id);
    assert_eq!(on_b.len(), 100, "nothing shown twice");
}

#[test]
fn the_announcement_made_at_acceptance_reaches_the_inviter_without_a_reconnect() {
    let dir = TestDir::new();
    let m = Daemon::start_with_config(&dir.path("m"), NO_DHT, &[]);
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &["--bootstrap", &m.tcp_addr()]);
    b.wait_for_peer(&m.id, ARRIVAL);
    invite_and_accept(&m, &b, "mailbox and recipient");
    b.json(&["mailbox", "use", &m.id]);
    b.wait_json(
        "the mailbox to take the announcement",
        &["mailbox"],
        ARRIVAL,
        |info| (info["announced"] == 1).then_some(()),
    );
    // B has a mailbox when it accepts A's invite: it announces it right away, racing its own
    // acceptance to A, which may not hold the connection yet and then refuses it. The two stay
    // connected, so only a retry brings the announcement to A.
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &["--bootstrap", &b.tcp_addr()]);
    a.wait_for_peer(&b.id, ARRIVAL);
    invite_and_accept(&a, &b, "sender and recipient");
    b.wait_json(
        "the inviter to take the announcement",
        &["mailbox"],
        ARRIVAL,
        |info| (info["announced"] == 2).then_some(()),
    );
}

#[test]
fn a_mailbox_killed_during_deposits_and_fetches_loses_and_repeats_nothing() {
    let dir = TestDir::new();
    let (m, a, b) = trio(&dir, "");
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let b_saved = stop(b);

    let mut watch = Watch::start(&a);
    let (first_ids, mut bodies) = send_many(&a, &b_id, 10, "before the crash");
    // Killed as soon as it holds something, while the rest may still be on their way.
    watch.wait_for_all("message_stored", &first_ids[..1], STORED);
    let m = m.crash_and_restart(&[]);
    let (more_ids, more_bodies) = send_many(&a, &b_id, 10, "after the crash");
    bodies.extend(more_bodies);
    let ids: Vec<String> = first_ids.into_iter().chain(more_ids).collect();
    watch.wait_for_all("message_stored", &ids, STORED);
    let a_saved = stop(a);

    let b = start_again(&b_saved, &[&m]);
    // Killed again once the recipient has started taking its mail in.
    b.wait_history(&a_id, 1);
    let m = m.crash_and_restart(&[]);
    let on_b = b.wait_history(&a_id, 20);
    assert_eq!(column(&on_b, "body"), bodies, "nothing lost, in order");
    assert_eq!(column(&on_b, "message_id"), ids, "nothing repeated");
    assert_eq!(b.history(&a_id).len(), 20);
    let a = start_again(&a_saved, &[&m, &b]);
    wait_all_delivered(&a, &b_id, 20);
}

#[test]
fn a_full_mailbox_refuses_and_the_sender_delivers_later() {
    let dir = TestDir::new();
    // Room for four items of the smallest bucket (1 KiB), all of it for one recipient.
    let (m, a, b) = trio(
        &dir,
        "[mailbox]\nmax_bytes = 4096\nrecipient_share_percent = 100\n",
    );
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let b_saved = stop(b);

    let mut watch = Watch::start(&a);
    let (ids, bodies) = send_many(&a, &b_id, 6, "more than fits");
    watch.wait_for_all("message_stored", &ids[..4], STORED);
    wait_until("the mailbox to refuse a deposit", ARRIVAL, || {
        (m.dropped("mailbox_full") > 0).then_some(())
    });
    let held = m.json(&["mailbox"]);
    assert_eq!(held["serving"]["messages"], 4, "{held}");
    let states = column(&json_array(a.json(&["history", &b_id])), "state");
    assert_eq!(
        &states[4..],
        ["queued", "queued"],
        "kept by the sender: {states:?}"
    );

    let b = start_again(&b_saved, &[&m, &a]);
    let on_b = b.wait_history(&a_id, 6);
    assert_eq!(column(&on_b, "body"), bodies);
    assert_eq!(column(&on_b, "message_id"), ids);
    wait_all_delivered(&a, &b_id, 6);
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).unwrap_or_else(|err| panic!("{err}"));
            stack.extend(entries.filter_map(|entry| entry.ok().map(|e| e.path())));
        } else if std::fs::read(&path)
            .unwrap_or_default()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            found.push(path);
        }
    }
    found
}

/// A deposit request as docs/protocol.md defines it: version 1, op 1, the token, and an
/// item padded to the smallest bucket.
fn deposit_request(token: [u8; 32]) -> Vec<u8> {
    let mut request = vec![1, 1];
    request.extend_from_slice(&token);
    let mut item = vec![1, 0, 0, 0, 5];
    item.extend_from_slice(b"junk!");
    item.resize(1024, 0);
    request.extend_from_slice(&item);
    request
}

#[test]
fn a_mailbox_stores_no_text_or_sender_in_clear_and_refuses_unregistered_tokens() {
    let dir = TestDir::new();
    let (m, a, b) = trio(&dir, "");
    let b_id = b.id.clone();
    let _b_saved = stop(b);
    let mut watch = Watch::start(&a);
    let (ids, _) = send_many(&a, &b_id, 3, "MAILBOX-SECRET-MARKER");
    watch.wait_for_all("message_stored", &ids, STORED);

    let db = m.data_dir.join("db");
    assert!(files_containing(&db, b"MAILBOX-SECRET-MARKER").is_empty());
    let sender = a.accord_id().to_bytes();
    let sender_hex: String = sender.iter().map(|b| format!("{b:02x}")).collect();
    for needle in [
        a.id.as_bytes(),
        sender.as_slice(),
        &sender[6..],
        sender_hex.as_bytes(),
    ] {
        assert!(files_containing(&db, needle).is_empty(), "the sender's ID");
    }

    // A connection of the mailbox deposits with a token nobody registered: a rogue node
    // speaking with the identity of a real connection, whose daemon is stopped.
    let rogue = Daemon::start_with_config(&dir.path("r"), NO_DHT, &["--bootstrap", &m.tcp_addr()]);
    rogue.wait_for_peer(&m.id, ARRIVAL);
    invite_and_accept(&m, &rogue, "a rogue");
    let key = std::fs::read(rogue.data_dir.join("identity.key")).unwrap_or_default();
    let identity = accord_identity::keyfile::decode(&key, None)
        .unwrap_or_else(|err| panic!("the rogue's key file: {err}"));
    assert!(rogue.stop().success());
    let peer = TestPeer::start_as(identity, &[&m.tcp_addr()]);
    m.wait_for_peer(&peer.identity().id().to_string(), ARRIVAL);
    let answer = peer
        .send_direct(DirectProtocol::Mailbox, &m.id, deposit_request([0x5A; 32]))
        .unwrap_or_else(|err| panic!("the mailbox did not answer: {err}"));
    assert_eq!(answer, vec![1, 3], "refused: unknown token");
    assert_eq!(m.dropped("mailbox_unknown_token"), 1);
    assert_eq!(m.json(&["mailbox"])["serving"]["messages"], 3);
}
