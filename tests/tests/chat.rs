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

    let mut chat = ChatScreen::open(&a, "bea");
    let shown = |needle: &str| chat.shown(needle);
    wait_until("the history to be shown", ARRIVAL, || {
        shown("earlier").then_some(())
    });
    // The terminal is redrawn by difference, so unchanged cells (spaces) between words may
    // be skipped: search for single words.
    b.json(&["send", &a.id, "a live-message", "--wait"]);
    wait_until("the live message to appear", ARRIVAL, || {
        shown("live-message").then_some(())
    });

    chat.type_keys(b"typed in the chat\r");
    wait_until("B to receive what was typed", ARRIVAL, || {
        let on_b = b.json(&["history", &a.id]);
        on_b.as_array()?
            .iter()
            .any(|m| m["body"] == "typed in the chat")
            .then_some(())
    });

    chat.quit();
}

/// `accord chat` in a pseudo-terminal of 100×30, with everything it drew kept for searching.
struct ChatScreen {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl ChatScreen {
    fn open(node: &Daemon, peer: &str) -> ChatScreen {
        let command = format!(
            "stty cols 100 rows 30; exec {} --data-dir {} chat {peer}",
            accord_bin().display(),
            node.data_dir.display()
        );
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .env("TERM", "xterm-256color")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run script: {err}"));
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
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
        ChatScreen {
            child,
            stdin,
            screen,
        }
    }

    /// Whether `needle` was drawn at any time.
    fn shown(&self, needle: &str) -> bool {
        self.screen
            .lock()
            .map(|s| strip_ansi(&s).contains(needle))
            .unwrap_or(false)
    }

    /// How many bytes the chat has drawn so far.
    fn drawn(&self) -> usize {
        self.screen.lock().map(|s| s.len()).unwrap_or(0)
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.stdin
            .write_all(keys)
            .unwrap_or_else(|err| panic!("{err}"));
        self.stdin.flush().unwrap_or_default();
    }

    /// Leaves with Esc and checks that the chat exits cleanly.
    fn quit(mut self) {
        self.type_keys(b"\x1b");
        let status = accord_tests::wait_exit(&mut self.child, Duration::from_secs(20));
        assert!(status.success(), "chat exited with {status}");
    }
}

#[test]
fn chat_scrolls_back_through_the_whole_conversation() {
    let dir = TestDir::new();
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &[]);
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);
    accord_tests::conversation::invite_and_accept(&a, &b, "scroll");
    // More than the chat's first page (200), so the oldest must be fetched while scrolling.
    let total = 260;
    // The screen is redrawn by difference, so a needle must differ from whatever was drawn
    // in its cells before: the first message is the only text with a Q in it.
    const FIRST: &str = "QQQQQQQQ";
    for i in 0..total {
        let body = if i == 0 {
            FIRST.to_owned()
        } else {
            format!("scroll-{i:03}")
        };
        let output = b.run(&["send", &a.id, &body]);
        assert!(output.status.success());
    }
    wait_until("A to hold every message", ARRIVAL, || {
        (a.history(&b.id).len() == total).then_some(())
    });

    let mut chat = ChatScreen::open(&a, &b.id);
    wait_until("the newest message", ARRIVAL, || {
        chat.shown("scroll-259").then_some(())
    });
    assert!(
        !chat.shown(FIRST),
        "the first message is not on the first page"
    );
    // PageUp until the first message is drawn; each press waits for the redraw it causes.
    let mut presses = 0;
    while !chat.shown(FIRST) {
        presses += 1;
        assert!(presses < 400, "the first message never came into view");
        let before = chat.drawn();
        chat.type_keys(b"\x1b[5~");
        wait_until("the chat to redraw", ARRIVAL, || {
            (chat.drawn() > before).then_some(())
        });
    }
    chat.quit();
}
