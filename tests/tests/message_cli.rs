//! The message commands of the CLI end to end, between real daemons on 127.0.0.1: `send` (its
//! input forms, `--wait --timeout`, the local size limit), `inbox`, `watch --json`, read
//! receipts, `verify`, and `send` after a revocation.

use std::io::Write;
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use accord_tests::conversation::{invite_and_accept, str_of};
use accord_tests::{
    ARRIVAL, Daemon, NO_DHT, TestDir, accord, init_identity, json_array, stderr, stdout, wait_until,
};
use serde_json::Value;

/// Two daemons that are connections, each with its own configuration: `b` bootstraps to `a`,
/// `a` invites `b` and `b` accepts.
fn pair_with(dir: &TestDir, config_a: &str, config_b: &str) -> (Daemon, Daemon) {
    let a = Daemon::start_with_config(&dir.path("a"), config_a, &[]);
    let b = Daemon::start_with_config(&dir.path("b"), config_b, &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);
    invite_and_accept(&a, &b, "let's talk");
    (a, b)
}

/// Runs `accord <args…>` on `node` with `input` on standard input.
fn run_with_stdin(node: &Daemon, args: &[&str], input: &str) -> Output {
    let mut child = accord(&node.data_dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run accord {args:?}: {err}"));
    let mut pipe = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
    pipe.write_all(input.as_bytes())
        .unwrap_or_else(|err| panic!("cannot write to accord's stdin: {err}"));
    // Closing standard input is what tells `accord send` the body is complete.
    drop(pipe);
    child
        .wait_with_output()
        .unwrap_or_else(|err| panic!("accord {args:?}: {err}"))
}

/// The message with `id` in a history, if it is there.
fn find<'a>(messages: &'a [Value], id: &str) -> Option<&'a Value> {
    messages.iter().find(|m| m["message_id"] == id)
}

/// Waits until `node`'s history with `peer` lists message `id` in `state`.
fn wait_state(node: &Daemon, peer: &str, id: &str, state: &str) {
    wait_until(
        &format!("{} to list message {id} as {state}", node.id),
        ARRIVAL,
        || (find(&node.history(peer), id)?["state"] == state).then_some(()),
    );
}

/// `node`'s inbox entry for `peer`, if it has one.
fn inbox_entry(node: &Daemon, peer: &str) -> Option<Value> {
    json_array(node.json(&["inbox"]))
        .into_iter()
        .find(|c| c["peer"] == peer)
}

/// A running `accord --json watch`: its events, one JSON object per line, read on a thread.
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
                let event = serde_json::from_str(&line).unwrap_or_else(|err| {
                    panic!("watch printed a line that is not JSON ({err}): {line}")
                });
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

    /// The next event that `matches`, waiting at most `timeout`; every event read is kept.
    fn next(&mut self, timeout: Duration, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let event = self.events.recv_timeout(left).ok()?;
            self.seen.push(event.clone());
            if matches(&event) {
                return Some(event);
            }
        }
    }

    /// The index in `seen` of the first event named `name` about message `id`.
    fn position(&self, name: &str, id: &str) -> Option<usize> {
        self.seen
            .iter()
            .position(|e| e["event"] == name && e["message_id"] == id)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `event` is `name` about message `id`.
fn is(event: &Value, name: &str, id: &str) -> bool {
    event["event"] == name && event["message_id"] == id
}

/// A subscription only sees events after it is registered, and `watch` prints nothing until
/// then. So `a` sends marker messages to `b` until `b`'s watch shows one arriving and `a`'s
/// shows it delivered: from then on both watches see everything.
fn sync_watches(a: &Daemon, b: &Daemon, watch_a: &mut Watch, watch_b: &mut Watch) {
    for round in 0..30 {
        let sent = a.json(&["send", &b.id, &format!("marker {round}"), "--wait"]);
        let id = str_of(&sent, "message_id");
        let received = watch_b.next(Duration::from_secs(5), |e| is(e, "message_received", &id));
        let delivered = watch_a.next(Duration::from_secs(5), |e| is(e, "message_delivered", &id));
        if received.is_some() && delivered.is_some() {
            return;
        }
    }
    panic!("the watches never saw a marker message");
}

#[test]
fn send_wait_with_a_timeout_gives_up_and_the_message_is_delivered_once_later() {
    let dir = TestDir::new();
    let (a, b) = pair_with(&dir, NO_DHT, NO_DHT);
    let (b_dir, b_id, b_listen) = (b.data_dir.clone(), b.id.clone(), b.listen_addr());
    assert!(b.stop().success());

    let output = a.run(&[
        "--json",
        "send",
        &b_id,
        "Are you *there*?",
        "--wait",
        "--timeout",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // The send result is still printed, so that a script can follow the message.
    let sent: Value = serde_json::from_str(stdout(&output).trim())
        .unwrap_or_else(|err| panic!("send printed invalid JSON ({err}): {}", stdout(&output)));
    assert_eq!(sent["state"], "queued", "{sent}");
    let id = str_of(&sent, "message_id");
    assert_eq!(
        stderr(&output),
        format!(
            "error: message {id} was not acknowledged within 2s; it stays queued and will be delivered when the peer is reachable\n"
        )
    );
    let on_a = a.history(&b_id);
    assert_eq!(on_a.len(), 1, "{on_a:?}");
    assert_eq!(on_a[0]["message_id"], id.as_str());
    assert_eq!(on_a[0]["state"], "queued", "{on_a:?}");
    assert_eq!(a.json(&["status"])["outbox"], 1);

    let b = Daemon::start(
        &b_dir,
        &["--listen", &b_listen, "--bootstrap", &a.tcp_addr()],
    );
    wait_state(&a, &b.id, &id, "delivered");
    // A second message, acknowledged after the first, bounds any late duplicate of it.
    let second = a.json(&["send", &b.id, "second", "--wait"]);
    assert_eq!(second["state"], "delivered", "{second}");
    let on_b = b.wait_history(&a.id, 2);
    let ids: Vec<&str> = on_b
        .iter()
        .filter_map(|m| m["message_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [id.as_str(), second["message_id"].as_str().unwrap_or("?")]
    );
    assert_eq!(on_b[0]["body"], "Are you *there*?");
    assert_eq!(a.json(&["status"])["outbox"], 0);
}

/// A multi-line Markdown body with non-ASCII text and a trailing newline, as a file would have.
const MARKDOWN: &str = "# Überschrift — a *note*\n\n- première ligne ✓\n- 第二行 `code`\n\n> quoted 🙂\n\n```sh\necho \"hi\"\n```\n";

#[test]
fn send_takes_the_body_from_a_file_or_standard_input_intact() {
    let dir = TestDir::new();
    let (a, b) = pair_with(&dir, NO_DHT, NO_DHT);

    let file_body = format!("from --file\n{MARKDOWN}");
    let file = dir.path("note.md");
    std::fs::write(&file, &file_body).unwrap_or_else(|err| panic!("{err}"));
    let path = file.to_str().unwrap_or_else(|| panic!("path"));
    let by_file = a.json(&["send", &b.id, "--file", path]);
    let dash_body = format!("from -\n{MARKDOWN}");
    let by_dash = run_with_stdin(&a, &["--json", "send", &b.id, "-"], &dash_body);
    let bare_body = format!("from no TEXT\n{MARKDOWN}");
    let by_bare = run_with_stdin(&a, &["--json", "send", &b.id], &bare_body);
    for output in [&by_dash, &by_bare] {
        assert!(output.status.success(), "{}", stderr(output));
    }
    let parse = |output: &Output| -> Value {
        serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{err}"))
    };
    let expected = [
        (str_of(&by_file, "message_id"), file_body),
        (str_of(&parse(&by_dash), "message_id"), dash_body),
        (str_of(&parse(&by_bare), "message_id"), bare_body),
    ];

    let on_b = b.wait_history(&a.id, 3);
    let got: Vec<(String, String)> = on_b
        .iter()
        .map(|m| (str_of(m, "message_id"), str_of(m, "body")))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn a_body_over_max_bytes_is_refused_locally_and_nothing_is_queued() {
    let dir = TestDir::new();
    let config = format!("{NO_DHT}[messages]\nmax_bytes = 100\n");
    let (a, b) = pair_with(&dir, &config, NO_DHT);

    // 50 two-byte characters: 100 bytes, exactly the limit, even though it is 50 characters.
    let at_limit = "é".repeat(50);
    let sent = a.json(&["send", &b.id, &at_limit, "--wait"]);
    assert_eq!(sent["state"], "delivered", "{sent}");

    let over = format!("{at_limit}!");
    assert_eq!(over.len(), 101);
    let expected = "error: the message is 101 bytes; the limit is 100 (messages.max_bytes)\n";
    let by_text = a.run(&["send", &b.id, &over]);
    let by_stdin = run_with_stdin(&a, &["send", &b.id, "-"], &over);
    for output in [&by_text, &by_stdin] {
        assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
        assert_eq!(stderr(output), expected);
        assert!(stdout(output).is_empty(), "{}", stdout(output));
    }
    let on_a = a.history(&b.id);
    assert_eq!(on_a.len(), 1, "only the message at the limit: {on_a:?}");
    assert_eq!(on_a[0]["body"], at_limit.as_str());
    assert_eq!(a.json(&["status"])["outbox"], 0);
    // B never hears of it: a later message arrives right after the first.
    let later = a.json(&["send", &b.id, "later", "--wait"]);
    let bodies: Vec<String> = b
        .wait_history(&a.id, 2)
        .iter()
        .map(|m| str_of(m, "body"))
        .collect();
    assert_eq!(bodies, [at_limit.as_str(), "later"], "{later}");
}

#[test]
fn inbox_counts_unread_messages_until_history_is_read() {
    let dir = TestDir::new();
    let (a, b) = pair_with(&dir, NO_DHT, NO_DHT);
    let last = "Третье сообщение: a line long enough to run past the sixty-character preview ✓✓✓";
    for body in ["first **one**", "second `two`", last] {
        a.json(&["send", &b.id, body]);
    }

    let entry = wait_until("B's inbox to count 3 unread", ARRIVAL, || {
        inbox_entry(&b, &a.id).filter(|c| c["unread"] == 3)
    });
    let preview: String = last.chars().take(60).collect();
    assert_eq!(entry["preview"], preview.as_str(), "{entry}");
    assert!(entry["alias"].is_null(), "{entry}");
    let on_b = b.history(&a.id);
    assert_eq!(on_b.len(), 3);
    assert_eq!(on_b[2]["body"], last);
    assert_eq!(entry["last_message_at"], on_b[2]["received_at"], "{entry}");

    let after = inbox_entry(&b, &a.id).unwrap_or_else(|| panic!("B's inbox lost A"));
    assert_eq!(after["unread"], 0, "{after}");
    assert_eq!(after["preview"], preview.as_str(), "{after}");
    let on_a = inbox_entry(&a, &b.id).unwrap_or_else(|| panic!("A's inbox has no B"));
    assert_eq!(
        on_a["unread"], 0,
        "A's own messages are never unread: {on_a}"
    );
    assert_eq!(on_a["preview"], preview.as_str(), "{on_a}");
}

#[test]
fn watch_reports_a_message_received_delivered_then_read() {
    let dir = TestDir::new();
    let (a, b) = pair_with(&dir, NO_DHT, NO_DHT);
    let mut watch_a = Watch::start(&a);
    let mut watch_b = Watch::start(&b);
    sync_watches(&a, &b, &mut watch_a, &mut watch_b);

    let body = "Watch **this** — ✓";
    let id = str_of(&a.json(&["send", &b.id, body]), "message_id");
    let received = watch_b
        .next(ARRIVAL, |e| is(e, "message_received", &id))
        .unwrap_or_else(|| panic!("no message_received on B: {:?}", watch_b.seen));
    assert_eq!(received["peer"], a.id.as_str(), "{received}");
    assert_eq!(received["body"], body, "{received}");
    let sent_at = a.history(&b.id).last().map(|m| m["sent_at"].clone());
    assert_eq!(Some(received["sent_at"].clone()), sent_at, "{received}");
    let delivered = watch_a
        .next(ARRIVAL, |e| is(e, "message_delivered", &id))
        .unwrap_or_else(|| panic!("no message_delivered on A: {:?}", watch_a.seen));
    assert_eq!(delivered["peer"], b.id.as_str(), "{delivered}");

    // B opens the conversation, which marks it read and sends the receipts.
    assert!(b.run(&["history", &a.id]).status.success());
    let read = watch_a
        .next(ARRIVAL, |e| is(e, "message_read", &id))
        .unwrap_or_else(|| panic!("no message_read on A: {:?}", watch_a.seen));
    assert_eq!(read["peer"], b.id.as_str(), "{read}");
    assert!(watch_a.position("message_delivered", &id) < watch_a.position("message_read", &id));
    assert_eq!(
        watch_a
            .seen
            .iter()
            .filter(|e| is(e, "message_delivered", &id))
            .count(),
        1
    );
    // The sender's history agrees with the event.
    wait_state(&a, &b.id, &id, "read");
}

#[test]
fn with_read_receipts_off_the_sender_never_learns_of_the_read() {
    let dir = TestDir::new();
    let quiet = format!("{NO_DHT}[messages]\nread_receipts = false\n");
    let (a, b) = pair_with(&dir, NO_DHT, &quiet);

    let first = a.json(&["send", &b.id, "read me", "--wait"]);
    assert_eq!(first["state"], "delivered", "{first}");
    let first = str_of(&first, "message_id");
    assert!(b.run(&["history", &a.id]).status.success());
    // B marked it read locally, but tells no one.
    wait_state(&b, &a.id, &first, "read");

    // Anything B sends to A after the read travels the same channel, in order: once this
    // reply is delivered and read, a receipt B had sent would have arrived before it.
    let reply = b.json(&["send", &a.id, "a reply", "--wait"]);
    assert_eq!(reply["state"], "delivered", "{reply}");
    let reply = str_of(&reply, "message_id");
    // A's receipts are on: B sees its reply read, so receipts themselves do work.
    assert!(a.run(&["history", &b.id]).status.success());
    wait_state(&b, &a.id, &reply, "read");

    let on_a = a.history(&b.id);
    let state = &find(&on_a, &first).unwrap_or_else(|| panic!("A lost {first}"))["state"];
    assert_eq!(state, "delivered", "{on_a:?}");
}

/// A safety number's shape: 12 groups of 5 digits.
fn is_safety_number(text: &str) -> bool {
    let groups: Vec<&str> = text.split(' ').collect();
    groups.len() == 12
        && groups
            .iter()
            .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit()))
}

#[test]
fn verify_shows_the_same_safety_number_on_both_sides_and_a_qr_code() {
    let dir = TestDir::new();
    let (a, b) = pair_with(&dir, NO_DHT, NO_DHT);
    // `verify` needs no connection, so a third identity with no daemon is enough.
    let c = init_identity(&dir.path("c"));

    let on_a = a.json(&["verify", &b.id]);
    let on_b = b.json(&["verify", &a.id]);
    assert_eq!(on_a["peer"], b.id.as_str());
    assert_eq!(on_b["peer"], a.id.as_str());
    let number = str_of(&on_a, "safety_number");
    assert!(is_safety_number(&number), "{number}");
    assert_eq!(on_b["safety_number"], number.as_str());
    a.json(&["alias", &b.id, "bea"]);
    assert_eq!(a.json(&["verify", "bea"]), on_a);

    let a_c = str_of(&a.json(&["verify", &c]), "safety_number");
    let b_c = str_of(&b.json(&["verify", &c]), "safety_number");
    assert!(is_safety_number(&a_c) && is_safety_number(&b_c));
    assert_ne!(a_c, number);
    assert_ne!(b_c, number);
    assert_ne!(a_c, b_c);

    let human = a.run(&["verify", &b.id]);
    assert!(human.status.success(), "{}", stderr(&human));
    let text = stdout(&human);
    assert!(
        text.contains(&format!("Safety number with {}:", b.id)),
        "{text}"
    );
    assert!(text.contains(&format!("  {number}\n")), "{text}");
    let qr: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && l.chars().all(|c| matches!(c, '█' | '▀' | '▄' | ' ')))
        .collect();
    assert!(qr.len() >= 10, "no QR code block in:\n{text}");
    assert!(
        qr.iter()
            .all(|l| l.chars().count() == qr[0].chars().count()),
        "{text}"
    );
}

#[test]
fn after_a_disconnect_the_other_side_cannot_send_and_is_told_how_to_reconnect() {
    let dir = TestDir::new();
    let (a, b) = pair_with(&dir, NO_DHT, NO_DHT);
    let revoked = a.json(&["disconnect", &b.id]);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    // A revoked connection is no longer listed.
    wait_until("B to learn of the revocation", ARRIVAL, || {
        b.connections()
            .iter()
            .all(|c| c["peer"] != a.id.as_str())
            .then_some(())
    });

    let refused = b.run(&["send", &a.id, "still there?"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert_eq!(
        stderr(&refused),
        format!(
            "error: {0} is not a connection; send an invite with: accord connect {0}\n",
            a.id
        )
    );
    assert!(stdout(&refused).is_empty());
    let back = a.run(&["send", &b.id, "and you?"]);
    assert_eq!(back.status.code(), Some(1), "{}", stderr(&back));
    assert!(b.history(&a.id).is_empty());
    assert!(a.history(&b.id).is_empty());
}

#[test]
fn send_timeout_is_a_usage_error_without_wait_or_below_one_second() {
    // Usage is checked before any daemon is contacted, so none is needed.
    let dir = TestDir::new();
    let data = dir.path("none");
    let peer = init_identity(&dir.path("peer"));
    for args in [
        vec!["send", peer.as_str(), "hi", "--timeout", "5"],
        vec!["send", peer.as_str(), "hi", "--wait", "--timeout", "0"],
        vec!["send", peer.as_str(), "hi", "--wait", "--timeout", "soon"],
    ] {
        let output = accord_tests::run(&data, &args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("--timeout"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let help = stdout(&accord_tests::run(&data, &["send", "--help"]));
    assert!(help.contains("--timeout <SECS>"), "{help}");
    assert!(help.contains("[default: 30]"), "{help}");
}

#[test]
fn history_pages_back_with_before_to_the_first_message_once_each() {
    let dir = TestDir::new();
    let (a, b) = pair_with(&dir, NO_DHT, NO_DHT);
    let total = 130;
    for i in 0..total {
        let output = b.run(&["send", &a.id, &format!("page-{i:03}")]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    wait_until("A to hold every message", ARRIVAL, || {
        (a.history(&b.id).len() == total).then_some(())
    });

    // Page back from the newest, as a reader scrolling up does, until a short page.
    let mut bodies = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut args = vec!["history", b.id.as_str(), "--limit", "50"];
        if let Some(id) = &before {
            args.extend_from_slice(&["--before", id.as_str()]);
        }
        let page = json_array(a.json(&args));
        let mut texts: Vec<String> = page.iter().map(|m| str_of(m, "body")).collect();
        texts.append(&mut bodies);
        bodies = texts;
        if page.len() < 50 {
            break;
        }
        before = page.first().map(|m| str_of(m, "message_id"));
    }
    let expected: Vec<String> = (0..total).map(|i| format!("page-{i:03}")).collect();
    assert_eq!(
        bodies, expected,
        "every message once, in order, back to the first"
    );

    // The human form says how to reach the page before a full one.
    let human = stdout(&a.run(&["history", &b.id, "--limit", "10"]));
    assert!(human.contains("--before "), "{human}");

    for (bad, why) in [
        ("not-hex", "is not a message id"),
        (
            "00000000000000000000000000000000",
            "no message with that id",
        ),
    ] {
        let output = a.run(&["history", &b.id, "--before", bad]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(stderr(&output).contains(why), "{bad}: {}", stderr(&output));
    }
}
