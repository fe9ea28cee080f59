//! One daemon's life: identity, passphrases, locking, the control socket, bad files, signals.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use accord_tests::{Daemon, TestDir, run, stderr, stdout, wait_exit};

#[test]
fn a_restarted_daemon_keeps_its_id() {
    let dir = TestDir::new();
    let data = dir.path("a");
    let first = Daemon::start(&data, &[]);
    let id = first.id.clone();
    assert!(id.starts_with("12D3KooW"), "{id}");
    assert!(first.stop().success());

    let second = Daemon::start(&data, &[]);
    assert_eq!(second.id, id);
}

#[test]
fn a_passphrase_protected_identity_opens_only_with_the_right_passphrase() {
    let dir = TestDir::new();
    let data = dir.path("a");
    let right = dir.path("right");
    let wrong = dir.path("wrong");
    std::fs::write(&right, "correct horse battery staple\n").unwrap_or_default();
    std::fs::write(&wrong, "incorrect horse\n").unwrap_or_default();

    let init = run(
        &data,
        &[
            "--json",
            "init",
            "--passphrase-file",
            right.to_str().unwrap_or(""),
        ],
    );
    assert!(init.status.success(), "init failed: {}", stderr(&init));
    let created: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap_or_default();
    assert_eq!(created["encrypted"], true);

    // The key file must not hold the identity in the clear.
    let key_file = std::fs::read(data.join("identity.key")).unwrap_or_default();
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    assert_key_file_is_encrypted(&key_file, "correct horse battery staple", &id);

    let again = run(
        &data,
        &["init", "--passphrase-file", right.to_str().unwrap_or("")],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    let daemon = Daemon::start(&data, &["--passphrase-file", right.to_str().unwrap_or("")]);
    assert_eq!(daemon.id, created["id"].as_str().unwrap_or_default());
    assert!(daemon.stop().success());

    let mut child = Daemon::spawn(&data, &["--passphrase-file", wrong.to_str().unwrap_or("")]);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(1)
    );
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
    assert!(
        log.contains("error: ") && log.contains("passphrase"),
        "{log}"
    );
    assert!(log.contains("identity.key"), "{log}");

    let mut child = Daemon::spawn(&data, &[]);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(1)
    );
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
    assert!(log.contains("encrypted"), "{log}");

    // Nothing was silently replaced: the right passphrase still opens the same identity.
    assert_eq!(
        std::fs::read(data.join("identity.key")).unwrap_or_default(),
        key_file
    );
}

/// Checks that `key_file` is the encrypted key-file format (crates/identity/src/keyfile.rs:
/// `ACCORDKEY`, version 1, kind 1, 111 bytes), that it opens with `passphrase` as the identity
/// `id`, and that neither that identity's secret seed nor its public key appears in it.
fn assert_key_file_is_encrypted(key_file: &[u8], passphrase: &str, id: &str) {
    use accord_identity::keyfile;

    assert_eq!(key_file.get(..9), Some(&b"ACCORDKEY"[..]), "{key_file:?}");
    assert_eq!(key_file.get(9), Some(&1), "format version");
    assert_eq!(
        key_file.get(10),
        Some(&1),
        "kind: 1 is Argon2id + XChaCha20-Poly1305"
    );
    assert_eq!(key_file.len(), 111, "the encrypted format's length");
    assert_eq!(keyfile::is_encrypted(key_file), Ok(true));
    assert!(
        keyfile::decode(key_file, None).is_err(),
        "an encrypted key file opened without a passphrase"
    );

    // Opening it with the passphrase yields the identity `init` reported; its seed (the
    // secret) and its public key are the 32-byte strings a plain file would hold.
    let passphrase = keyfile::Passphrase::new(passphrase.to_owned())
        .unwrap_or_else(|err| panic!("passphrase: {err}"));
    let identity = keyfile::decode(key_file, Some(&passphrase))
        .unwrap_or_else(|err| panic!("the right passphrase does not open the key file: {err}"));
    assert_eq!(identity.id().to_string(), id);
    let keypair = identity
        .to_libp2p_keypair()
        .try_into_ed25519()
        .unwrap_or_else(|err| panic!("not an ed25519 key: {err}"));
    let seed = keypair.secret();
    let public = id
        .parse::<accord_identity::AccordId>()
        .unwrap_or_else(|err| panic!("bad id {id}: {err:?}"))
        .public_key_bytes();
    for (what, secret) in [("secret seed", seed.as_ref()), ("public key", &public[..])] {
        assert_eq!(secret.len(), 32, "{what}");
        assert!(
            !key_file
                .windows(secret.len())
                .any(|window| window == secret),
            "the key file holds the {what} in the clear"
        );
    }
}

#[test]
fn accord_id_without_json_shows_the_id_the_fingerprint_and_a_qr_code_of_the_id() {
    let dir = TestDir::new();
    let daemon = Daemon::start(&dir.path("a"), &[]);
    let info = daemon.json(&["id"]);

    let output = daemon.run(&["id"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("ID:          {}", daemon.id).as_str()),
        "{text}"
    );
    let fingerprint = daemon.accord_id().fingerprint().to_string();
    assert_eq!(info["fingerprint"], fingerprint.as_str());
    assert_eq!(
        lines.next(),
        Some(format!("Fingerprint: {fingerprint}").as_str()),
        "{text}"
    );
    assert_eq!(lines.next(), Some("Addresses:"), "{text}");
    for addr in &daemon.addrs {
        assert_eq!(lines.next(), Some(format!("  {addr}").as_str()), "{text}");
    }
    assert_eq!(
        lines.next(),
        Some(""),
        "a blank line before the QR code: {text}"
    );
    let block: Vec<&str> = lines.collect();
    assert_eq!(
        qr_modules(&block),
        expected_qr_modules(&daemon.id),
        "{text}"
    );
}

/// The QR modules drawn in `block` (true = a dark module), read back from the half-block
/// characters: each character is two modules stacked, and the code is drawn inverted (for
/// dark terminals), so a filled half is a light module. The quiet zone is included.
fn qr_modules(block: &[&str]) -> Vec<Vec<bool>> {
    let mut rows = Vec::new();
    for line in block {
        let (top, bottom): (Vec<bool>, Vec<bool>) = line
            .chars()
            .map(|c| match c {
                '█' => (false, false),
                '▀' => (false, true),
                '▄' => (true, false),
                ' ' => (true, true),
                other => panic!("{other:?} is not part of a QR block: {line:?}"),
            })
            .unzip();
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

/// The modules of the standard QR code of `text`, with the 4-module quiet zone, padded to an
/// even number of rows the way the half-block rendering pads its last line (light).
fn expected_qr_modules(text: &str) -> Vec<Vec<bool>> {
    let code = qrcode::QrCode::new(text.as_bytes()).unwrap_or_else(|err| panic!("{err}"));
    let width = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let side = width + 2 * quiet;
    let mut rows = vec![vec![false; side]; side];
    for (index, color) in colors.iter().enumerate() {
        rows[index / width + quiet][index % width + quiet] = *color == qrcode::Color::Dark;
    }
    if side % 2 == 1 {
        rows.push(vec![true; side]);
    }
    rows
}

#[test]
fn the_passphrase_can_come_from_the_environment() {
    let dir = TestDir::new();
    let data = dir.path("a");
    let init = accord_tests::accord(&data, &["--json", "init"])
        .env("ACCORD_PASSPHRASE", "from the environment")
        .output()
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(init.status.success(), "{}", stderr(&init));
    let mut child = Daemon::spawn(&data, &[]);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)).code(),
        Some(1)
    );
}

#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused() {
    let dir = TestDir::new();
    let data = dir.path("a");
    let first = Daemon::start(&data, &[]);

    let second = run(
        &data,
        &["daemon", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"],
    );
    assert_eq!(second.status.code(), Some(1));
    let err = stderr(&second);
    assert!(
        err.contains("error: another Accord node is already running for"),
        "{err}"
    );
    assert!(err.contains(&format!("pid {}", first.pid())), "{err}");

    // The first daemon is unharmed.
    assert_eq!(first.json(&["id"])["id"], first.id.as_str());
}

#[test]
fn a_client_without_a_daemon_says_how_to_start_one() {
    let dir = TestDir::new();
    let data = dir.path("nobody");
    for command in [["status"], ["id"], ["peers"]] {
        let output = run(&data, &command);
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(
            stderr(&output).trim_end(),
            format!(
                "error: no Accord node is running for {}; start one with: accord daemon",
                data.display()
            )
        );
        assert!(stdout(&output).is_empty());
    }
}

#[test]
fn a_corrupt_key_file_is_a_clear_error_naming_the_file() {
    let dir = TestDir::new();
    let data = dir.path("a");
    let init = run(&data, &["init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let key_path = data.join("identity.key");
    let mut bytes = std::fs::read(&key_path).unwrap_or_default();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&key_path, &bytes).unwrap_or_default();

    let output = run(
        &data,
        &["daemon", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("error: cannot open the key file"), "{err}");
    assert!(err.contains(&key_path.display().to_string()), "{err}");
    // The damaged file is left as it was, for the user to restore from a backup.
    assert_eq!(std::fs::read(&key_path).unwrap_or_default(), bytes);

    std::fs::write(&key_path, b"garbage").unwrap_or_default();
    let output = run(&data, &["daemon", "--no-mdns"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains(&key_path.display().to_string()));
}

#[test]
fn a_garbage_or_misspelt_config_file_is_a_clear_error_naming_the_file() {
    let dir = TestDir::new();
    let data = dir.path("a");
    std::fs::create_dir_all(&data).unwrap_or_default();
    let config = data.join("config.toml");

    std::fs::write(&config, "this is = = not toml\u{1}").unwrap_or_default();
    let output = run(&data, &["daemon", "--no-mdns"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("error: invalid config file"), "{err}");
    assert!(err.contains(&config.display().to_string()), "{err}");

    std::fs::write(&config, "[network]\nmdns = false\nlisten_on = []\n").unwrap_or_default();
    let output = run(&data, &["daemon", "--no-mdns"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("listen_on"), "{err}");

    // A valid file is used: the listen address from the config is where the node listens.
    std::fs::write(
        &config,
        "[network]\nmdns = false\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n",
    )
    .unwrap_or_default();
    let child = accord_tests::accord(&data, &["daemon"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("{err}"));
    let daemon = Daemon::wait_ready(&data, child);
    assert!(
        daemon
            .addrs
            .iter()
            .all(|a| a.starts_with("/ip4/127.0.0.1/tcp/")),
        "{:?}",
        daemon.addrs
    );
}

#[test]
fn the_socket_is_private_to_its_owner() {
    let dir = TestDir::new();
    let data = dir.path("a");
    let _daemon = Daemon::start(&data, &[]);
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .map(|meta| meta.permissions().mode() & 0o777)
            .unwrap_or_default()
    };
    assert_eq!(mode(&data.join("accord.sock")), 0o600);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("identity.key")), 0o600);
}

#[test]
fn sigterm_and_sigint_shut_down_cleanly_and_remove_the_socket() {
    let dir = TestDir::new();
    for signal in ["TERM", "INT"] {
        let data = dir.path(signal);
        let daemon = Daemon::start(&data, &[]);
        let status = daemon.signal_and_wait(signal);
        assert!(status.success(), "SIG{signal} gave {status}");
        assert!(
            !data.join("accord.sock").exists(),
            "socket left after SIG{signal}"
        );
        let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
        assert!(log.contains("stopped"), "{log}");
    }
}

#[test]
fn a_stale_socket_left_by_a_crash_is_replaced() {
    let dir = TestDir::new();
    let data = dir.path("a");
    let daemon = Daemon::start(&data, &[]);
    let id = daemon.id.clone();
    daemon.crash();
    assert!(
        data.join("accord.sock").exists(),
        "SIGKILL should leave the socket behind"
    );

    let status = run(&data, &["status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(stderr(&status).contains("no Accord node is running"));

    let restarted = Daemon::start(&data, &[]);
    assert_eq!(restarted.id, id);
}

#[test]
fn watch_streams_peer_events_as_json_lines() {
    let dir = TestDir::new();
    let a = Daemon::start(&dir.path("a"), &[]);
    let mut watch = accord_tests::accord(&a.data_dir, &["--json", "watch"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{err}"));
    let stdout = std::io::BufReader::new(watch.stdout.take().unwrap_or_else(|| panic!("stdout")));
    // Give the subscription a moment to be registered before the event happens.
    std::thread::sleep(Duration::from_millis(300));
    let b = Daemon::start(&dir.path("b"), &["--bootstrap", &a.tcp_addr()]);

    let mut reader = stdout;
    let mut seen = Vec::new();
    let found = loop {
        let (line, next) = accord_tests::read_line_with_timeout(reader, Duration::from_secs(20));
        reader = next;
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        seen.push(line);
        if event["event"] == "peer_connected" && event["peer"] == b.id.as_str() {
            break true;
        }
        if seen.len() > 50 {
            break false;
        }
    };
    assert!(found, "no peer_connected event for B in {seen:?}");
    let _ = watch.kill();
    let _ = watch.wait();
}

/// A user id with no passwd entry, as in a container run under an arbitrary uid.
const UID_WITHOUT_A_HOME: &str = "54321";

/// Runs `accord <args…>` with `stdin` on standard input, where no data dir can be found: no
/// `--data-dir`, no `ACCORD_DATA_DIR`, no `HOME` (nor `XDG_DATA_HOME`), and, through a user
/// namespace (`unshare`, util-linux), a uid without a passwd entry, so that the home directory
/// cannot be looked up either (without `HOME`, the platform lookup falls back to passwd).
fn run_without_any_data_dir(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("unshare")
        .args(["--user", "--map-user", UID_WITHOUT_A_HOME])
        .args(["--map-group", UID_WITHOUT_A_HOME])
        .arg(accord_tests::accord_bin())
        .env_remove("ACCORD_DATA_DIR")
        .env_remove("HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("RUST_LOG")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run accord {args:?}: {err}"));
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .unwrap_or_else(|err| panic!("stdin: {err}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|err| panic!("accord {args:?}: {err}"))
}

/// Why this machine cannot run a command as a user without a passwd entry (no `unshare`, or
/// user namespaces switched off), or `None` when it can.
fn cannot_run_without_a_home() -> Option<String> {
    let probe = std::process::Command::new("unshare")
        .args(["--user", "--map-user", UID_WITHOUT_A_HOME])
        .args(["--map-group", UID_WITHOUT_A_HOME, "true"])
        .output();
    match probe {
        Err(err) => Some(format!("cannot run unshare (util-linux): {err}")),
        Ok(out) if !out.status.success() => Some(format!(
            "user namespaces are not available here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

#[test]
#[ignore = "needs unshare and user namespaces to run without a passwd entry; .ci/run runs it with --ignored"]
fn verify_attestation_needs_no_data_dir_not_even_a_default_one() {
    use accord_handshake::{Attestation, OfferTerms, Statement, domain};
    use accord_tests::capability::{require, unless_missing};

    require(
        "unshare (util-linux) and user namespaces",
        unless_missing(cannot_run_without_a_home()),
    );

    // A command that needs a data dir says it has none: the environment really has none.
    let status = run_without_any_data_dir(&["status"], "");
    assert_eq!(status.status.code(), Some(1));
    assert!(
        stderr(&status).contains("cannot determine a default data dir"),
        "{}",
        stderr(&status)
    );

    // A genuine attestation, signed by two fresh identities, read from standard input.
    let mut rng = accord_tests::os_rng();
    let inviter = accord_identity::Identity::generate(&mut rng);
    let invitee = accord_identity::Identity::generate(&mut rng);
    let statement = Statement {
        inviter: inviter.id(),
        invitee: invitee.id(),
        invite_id: [9; 16],
        issued_at_ms: 1_767_225_600_000,
        terms: Some(OfferTerms {
            expires_at_ms: 1_767_225_600_000 + 14 * 86_400_000,
            one_time_key: [5; 32],
        }),
    };
    let bytes = statement.to_bytes();
    let attestation = Attestation {
        statement,
        inviter_signature: inviter.sign(domain::ATTEST, &bytes),
        invitee_signature: invitee.sign(domain::ATTEST, &bytes),
    };
    let text = attestation.to_text();

    let check = run_without_any_data_dir(&["--json", "verify-attestation", "-"], &text);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    let verdict: serde_json::Value = serde_json::from_slice(&check.stdout)
        .unwrap_or_else(|err| panic!("bad JSON ({err}): {}", stdout(&check)));
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["inviter"], inviter.id().to_string());
    assert_eq!(verdict["invitee"], invitee.id().to_string());
    assert_eq!(verdict["issued_at"], "2026-01-01T00:00:00.000Z");
    assert_eq!(verdict["offer_expires_at"], "2026-01-15T00:00:00.000Z");
    assert_eq!(verdict["attestation_id"], attestation.id().to_string());

    // Garbage is refused with exit 1 and a reason, still without any data dir.
    let check = run_without_any_data_dir(&["verify-attestation", "-"], "not an attestation\n");
    assert_eq!(check.status.code(), Some(1));
    let err = stderr(&check);
    assert!(
        err.starts_with("error: invalid attestation: ") && err.contains("BEGIN ACCORD ATTESTATION"),
        "{err}"
    );
}
