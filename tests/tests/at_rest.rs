//! Encryption at rest, end to end: what two real daemons leave on disk after exchanging an
//! invite and messages, with a plain and a passphrase-protected key file, and a data dir whose
//! key file was swapped for another identity's.
//!
//! Threats covered: a thief with a copy of the data dir's `db/` but not the key file (or not
//! its passphrase) reads no message text and no invite note, and learns nothing of the
//! social graph: no other peer's ID (raw public key, binary ID, base58, base64 or hex), no
//! alias and no address of a peer appears in any file of `db/`; a key file replaced by another
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

/// Every form in which `peer` could be named in a file: its raw ed25519 public key and its
/// binary Accord ID (the libp2p `PeerId` bytes), each in hex and in base64 (standard and
/// URL-safe alphabets, at each of the three byte alignments a base64 run can start at), and
/// its base58 text (the Accord ID and the `PeerId` print the same).
fn id_needles(peer: &Daemon) -> Vec<(String, Vec<u8>)> {
    let id_bytes = peer.accord_id().to_bytes();
    assert_eq!(id_bytes.len(), 38, "an ed25519 PeerId is 38 bytes");
    let key = id_bytes[6..].to_vec();
    let mut needles = vec![
        ("base58 ID".to_owned(), peer.id.clone().into_bytes()),
        (
            "base58 PeerId".to_owned(),
            peer.accord_id().peer_id().to_base58().into_bytes(),
        ),
    ];
    for (what, bytes) in [("public key", key), ("ID bytes", id_bytes)] {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        needles.push((format!("hex {what}"), hex.into_bytes()));
        for (n, run) in base64_runs(&bytes).into_iter().enumerate() {
            needles.push((format!("base64 {what} ({n})"), run.into_bytes()));
        }
        needles.push((format!("raw {what}"), bytes));
    }
    needles
}

/// The base64 characters that depend on `bytes` alone, wherever the encoded run starts
/// (byte offset 0, 1 or 2 modulo 3), in the standard and URL-safe alphabets.
fn base64_runs(bytes: &[u8]) -> Vec<String> {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut runs = Vec::new();
    for shift in 0..3usize {
        let mut padded = vec![0u8; shift];
        padded.extend_from_slice(bytes);
        let bits: Vec<bool> = padded
            .iter()
            .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 == 1))
            .collect();
        // Character i covers bits 6i..6i+6: keep those inside the needle's bits.
        let first = (8 * shift).div_ceil(6);
        let last = bits.len() / 6;
        let run: String = (first..last)
            .map(|i| {
                let v = bits[6 * i..6 * i + 6]
                    .iter()
                    .fold(0usize, |acc, &bit| acc << 1 | usize::from(bit));
                char::from(STD[v])
            })
            .collect();
        runs.push(run.replace('+', "-").replace('/', "_"));
        runs.push(run);
    }
    runs
}

/// Everything that names one peer on disk: its ID in every form, its alias, its IP and port.
struct PeerNames {
    needles: Vec<(String, Vec<u8>)>,
}

impl PeerNames {
    /// The names of `peer`, whom the other side calls `alias`.
    fn of(peer: &Daemon, alias: &str) -> PeerNames {
        let port = peer
            .tcp_addr()
            .split('/')
            .nth(4)
            .and_then(|port| port.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no port in {}", peer.tcp_addr()));
        let mut needles = id_needles(peer);
        needles.push(("alias".to_owned(), alias.as_bytes().to_vec()));
        needles.push(("IP text".to_owned(), b"127.0.0.1".to_vec()));
        // `/ip4/127.0.0.1` in a binary multiaddr, whatever follows it.
        needles.push(("IP multiaddr".to_owned(), vec![4, 127, 0, 0, 1]));
        needles.push(("port text".to_owned(), format!("/tcp/{port}").into_bytes()));
        PeerNames { needles }
    }

    /// The names that appear in some file under `dir`.
    fn found_in(&self, dir: &Path) -> Vec<String> {
        let files = file_contents(dir);
        self.needles
            .iter()
            .filter(|(_, needle)| {
                files
                    .iter()
                    .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_slice()))
            })
            .map(|(what, _)| what.clone())
            .collect()
    }

    /// The control of [`PeerNames::found_in`]: a file holding every name of `peer` amid other
    /// bytes is found to name it in every way, so the scan can fail.
    fn check_the_scan_can_fail(&self, dir: &TestDir, peer: &Daemon) {
        let control = dir.path("control");
        std::fs::create_dir_all(&control).unwrap_or_else(|err| panic!("{err}"));
        let mut bytes = b"prefix ".to_vec();
        for (_, needle) in &self.needles {
            bytes.extend_from_slice(needle);
            bytes.push(b' ');
        }
        std::fs::write(control.join("all"), &bytes).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(self.found_in(&control).len(), self.needles.len());
        // The encodings are the real ones: the base64 runs are found inside the base64 text
        // of the ID with text before it, and the multiaddr inside the binary listen address.
        let binary: libp2p::Multiaddr = peer
            .tcp_addr()
            .parse()
            .unwrap_or_else(|err| panic!("{err}"));
        let id_bytes = peer.accord_id().to_bytes();
        let mut record = b"ab".to_vec();
        record.extend_from_slice(&id_bytes);
        let text = base64_standard(&record);
        std::fs::write(
            control.join("all"),
            [text.as_bytes(), &binary.to_vec()].concat(),
        )
        .unwrap_or_else(|err| panic!("{err}"));
        let found = self.found_in(&control);
        for what in ["base64 ID bytes (5)", "IP multiaddr"] {
            assert!(
                found.iter().any(|f| f == what),
                "{what} not found: {found:?}"
            );
        }
    }
}

/// Plain standard base64 with padding, written out here so the check does not share code
/// with the needles it checks.
fn base64_standard(bytes: &[u8]) -> String {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(STD[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The contents of every file under `dir`.
fn file_contents(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).unwrap_or_else(|err| panic!("{err}"));
            stack.extend(entries.filter_map(|entry| entry.ok().map(|e| e.path())));
        } else {
            out.push(std::fs::read(&path).unwrap_or_default());
        }
    }
    out
}

/// A config that keeps the node on loopback and, as the control case of the disk scans,
/// carries `marker` in a comment: a file in the data dir that the scan must find.
fn config_with(marker: &str) -> String {
    format!("# control case of the at-rest scan: {marker}\n{NO_DHT}")
}

/// `a` and `b` send each other three messages carrying `marker`, and both histories show
/// them: the control that the markers the disk scans look for were really stored.
fn exchange_three_messages_each(a: &Daemon, b: &Daemon, marker: &str) {
    for i in 0..3 {
        a.json(&["send", &b.id, &format!("from A {marker} {i}"), "--wait"]);
        b.json(&["send", &a.id, &format!("from B {marker} {i}"), "--wait"]);
    }
    let on_a = a.wait_history(&b.id, 6);
    let on_b = b.wait_history(&a.id, 6);
    assert!(stdout(&a.run(&["history", &b.id])).contains(marker));
    for history in [&on_a, &on_b] {
        assert!(
            history
                .iter()
                .all(|m| m["body"].as_str().unwrap_or("").contains(marker)),
            "{history:?}"
        );
    }
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
    // Each side names the other: an alias is personal data the copy must not show.
    let (alias_of_b, alias_of_a) = ("Bea4f19alias", "Ada7c2ealias");
    a.json(&["alias", &b.id, alias_of_b]);
    b.json(&["alias", &a.id, alias_of_a]);
    exchange_three_messages_each(&a, &b, body_marker);
    let a_id = a.id.clone();
    let outgoing = a.invites("--outgoing");
    assert!(
        outgoing.iter().any(|i| i["note"] == note.as_str()),
        "{outgoing:?}"
    );
    let connections = a.connections();
    assert!(
        connections.iter().any(|c| c["alias"] == alias_of_b),
        "{connections:?}"
    );
    // Each store names the other node (its address book, connection, session, conversation,
    // messages and outbox are all about it): none of that may show in the copy.
    let (names_of_a, names_of_b) = (PeerNames::of(&a, alias_of_a), PeerNames::of(&b, alias_of_b));
    names_of_b.check_the_scan_can_fail(&dir, &b);
    assert!(a.stop().success());
    assert!(b.stop().success());
    // The node's own ID is not there either (its own alias is not known to it, and its IP is
    // the other's on loopback), so a copy does not even say whose store it is.
    for data in [&a_data, &b_data] {
        for (whom, names) in [("A", &names_of_a), ("B", &names_of_b)] {
            let found = names.found_in(&data.join("db"));
            assert!(
                found.is_empty(),
                "{}/db names {whom}: {found:?}",
                data.display()
            );
        }
    }

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
