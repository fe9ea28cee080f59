//! `accord chat` driven the way a person drives it: in a pseudo-terminal (util-linux
//! `script`), reading the screen and typing keys.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accord_tests::{Daemon, TestDir, accord_bin, wait_until};

const NO_DHT: &str = "[network]\nmdns = false\ndht = false\n";
const ARRIVAL: Duration = Duration::from_secs(60);

/// Removes ANSI escape sequences, so that the screen's text can be searched.
fn strip_ansi(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn chat_shows_history_and_live_messages_and_sends_what_is_typed() {
    let dir = TestDir::new();
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &[]);
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);
    let sent = a.json(&["connect", &b.id]);
    wait_until("B to receive the invite", ARRIVAL, || {
        let invites = b.json(&["invites", "--incoming"]);
        invites
            .as_array()?
            .iter()
            .find(|i| i["invite_id"] == sent["invite_id"])
            .cloned()
    });
    b.json(&["accept", &a.id]);
    wait_until("A to be connected", ARRIVAL, || {
        (a.json(&["connections"]).as_array()?.len() == 1).then_some(())
    });
    a.json(&["alias", &b.id, "bea"]);
    b.json(&["send", &a.id, "an **earlier** message", "--wait"]);

    let command = format!(
        "stty cols 100 rows 30; exec {} --data-dir {} chat bea",
        accord_bin().display(),
        a.data_dir.display()
    );
    let mut chat = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run script: {err}"));
    let screen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = chat.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let sink = Arc::clone(&screen);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            if let Ok(mut screen) = sink.lock() {
                screen.extend_from_slice(&buffer[..n]);
            }
        }
    });
    let shown = |needle: &str| {
        screen
            .lock()
            .map(|s| strip_ansi(&s).contains(needle))
            .unwrap_or(false)
    };

    wait_until("the history to be shown", ARRIVAL, || {
        shown("earlier").then_some(())
    });
    // The terminal is redrawn by difference, so unchanged cells (spaces) between words may
    // be skipped: search for single words.
    b.json(&["send", &a.id, "a live-message", "--wait"]);
    wait_until("the live message to appear", ARRIVAL, || {
        shown("live-message").then_some(())
    });

    let mut stdin = chat.stdin.take().unwrap_or_else(|| panic!("stdin"));
    stdin
        .write_all(b"typed in the chat\r")
        .unwrap_or_else(|err| panic!("{err}"));
    stdin.flush().unwrap_or_default();
    wait_until("B to receive what was typed", ARRIVAL, || {
        let on_b = b.json(&["history", &a.id]);
        on_b.as_array()?
            .iter()
            .any(|m| m["body"] == "typed in the chat")
            .then_some(())
    });

    stdin.write_all(b"\x1b").unwrap_or_default();
    stdin.flush().unwrap_or_default();
    let status = accord_tests::wait_exit(&mut chat, Duration::from_secs(20));
    assert!(status.success(), "chat exited with {status}");
}
