//! Encryption at rest, end to end: what two real daemons leave on disk after exchanging an
//! invite and messages, with a plain and a passphrase-protected key file, and a data dir whose
//! key file was swapped for another identity's.
//!
//! Threats covered: a thief with a copy of the data dir's `db/` but not the key file (or not
//! its passphrase) reads no message text and no invite note; a key file replaced by another
//! identity's does not silently start a node on a store it cannot read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use accord_tests::conversation::invite_and_accept;
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, run, stderr, stdout, wait_exit};

/// Every file under `dir` whose raw bytes contain `marker`.
fn files_containing(dir: &Path, marker: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).unwrap_or_else(|err| panic!("{err}"));
            stack.extend(entries.filter_map(|entry| entry.ok().map(|e| e.path())));
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

/// A config that keeps the node on loopback and, as the control case of the disk scans,
/// carries `marker` in a comment: a file in the data dir that the scan must find.
fn config_with(marker: &str) -> String {
    format!("# control case of the at-rest scan: {marker}\n{NO_DHT}")
}

#[test]
fn copied_stores_reveal_no_message_text_or_invite_note_plain_or_passphrase_protected_key() {
    let dir = TestDir::new();
    let note_marker = "NOTE-3f9c1e-marker";
    let body_marker = "BODY-8a27d4-marker";
    let a_data = dir.path("a");
    let b_data = dir.path("b");
    // B's key file is passphrase-protected: its store key comes from the key file, so the
    // passphrase protects the store too.
    let passphrase = dir.path("pass");
    std::fs::write(&passphrase, "correct horse battery staple\n").unwrap_or_default();
    let pass_arg = passphrase.to_str().unwrap_or_default();
    let init = run(&b_data, &["init", "--passphrase-file", pass_arg]);
    assert!(init.status.success(), "init: {}", stderr(&init));

    let a = Daemon::start_with_config(&a_data, &config_with(body_marker), &[]);
    std::fs::write(b_data.join("config.toml"), config_with(body_marker)).unwrap_or_default();
    let b = Daemon::start(
        &b_data,
        &["--passphrase-file", pass_arg, "--bootstrap", &a.tcp_addr()],
    );
    b.wait_for_peer(&a.id, ARRIVAL);
    let note = format!("hi, it is me {note_marker}");
    invite_and_accept(&a, &b, &note);
    for i in 0..3 {
        a.json(&[
            "send",
            &b.id,
            &format!("from A {body_marker} {i}"),
            "--wait",
        ]);
        b.json(&[
            "send",
            &a.id,
            &format!("from B {body_marker} {i}"),
            "--wait",
        ]);
    }
    let on_a = a.wait_history(&b.id, 6);
    let on_b = b.wait_history(&a.id, 6);
    // The control: the markers really are what the users sent and read back.
    assert!(stdout(&a.run(&["history", &b.id])).contains(body_marker));
    for history in [&on_a, &on_b] {
        assert!(
            history
                .iter()
                .all(|m| m["body"].as_str().unwrap_or("").contains(body_marker)),
            "{history:?}"
        );
    }
    let a_id = a.id.clone();
    let outgoing = a.invites("--outgoing");
    assert!(
        outgoing.iter().any(|i| i["note"] == note.as_str()),
        "{outgoing:?}"
    );
    assert!(a.stop().success());
    assert!(b.stop().success());

    for data in [&a_data, &b_data] {
        // The scan works: it finds the marker in the one file that holds it in clear.
        assert_eq!(
            files_containing(data, body_marker),
            vec![data.join("config.toml")],
            "the message text is on disk in clear under {}",
            data.display()
        );
        assert_eq!(
            files_containing(&data.join("db"), note_marker),
            Vec::<PathBuf>::new(),
            "the invite note is on disk in clear under {}",
            data.display()
        );
    }

    // The passphrase-protected node's store opens again only with the passphrase; the node
    // without it does not start.
    let mut child = Daemon::spawn(&b_data, &[]);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(1)
    );
    let b = Daemon::start(&b_data, &["--passphrase-file", pass_arg]);
    assert_eq!(b.wait_history(&a_id, 6).len(), 6);
}

#[test]
fn a_data_dir_whose_key_file_belongs_to_another_identity_refuses_to_start() {
    let dir = TestDir::new();
    let data = dir.path("a");
    let a = Daemon::start_with_config(&data, NO_DHT, &[]);
    let id = a.id.clone();
    assert!(a.stop().success());
    let other = dir.path("other");
    let init = run(&other, &["init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let original = std::fs::read(data.join("identity.key")).unwrap_or_default();
    std::fs::copy(other.join("identity.key"), data.join("identity.key"))
        .unwrap_or_else(|err| panic!("{err}"));

    let output = run(
        &data,
        &["daemon", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("this data dir's store was written with another identity key"),
        "{err}"
    );

    // Nothing was changed: with its own key file back, the node starts as before.
    std::fs::write(data.join("identity.key"), &original).unwrap_or_else(|err| panic!("{err}"));
    let a = Daemon::start(&data, &[]);
    assert_eq!(a.id, id);
}
