//! `accord testnet` brings up a local network in one command and tears it down on SIGINT.

use std::io::BufReader;
use std::process::Stdio;
use std::time::Duration;

use accord_tests::{TestDir, accord_bin, read_line_with_timeout, run, signal, wait_exit};

#[test]
fn testnet_of_five_nodes_comes_up_connected_and_stops_on_sigint() {
    let dir = TestDir::new();
    let net_dir = dir.path("net");
    let mut testnet = std::process::Command::new(accord_bin())
        .args(["--json", "testnet", "--nodes", "5", "--dir"])
        .arg(&net_dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start testnet: {err}"));
    let stdout = BufReader::new(testnet.stdout.take().unwrap_or_else(|| panic!("stdout")));
    // One JSON document, the node array, printed once every node has a peer.
    let (line, mut stdout) = read_line_with_timeout(stdout, Duration::from_secs(150));
    let nodes: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|err| panic!("bad testnet output {line:?}: {err}"));
    let nodes = nodes.as_array().cloned().unwrap_or_default();
    assert_eq!(nodes.len(), 5, "{line}");
    for (index, node) in nodes.iter().enumerate() {
        assert_eq!(node["name"], format!("node-{index}"), "{line}");
        assert!(
            node["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("12D3KooW")),
            "{line}"
        );
        assert_eq!(
            node["data_dir"],
            net_dir.join(format!("node-{index}")).display().to_string(),
            "{line}"
        );
        assert!(
            node["addrs"]
                .as_array()
                .is_some_and(|addrs| !addrs.is_empty()),
            "{line}"
        );
    }

    let data_dirs: Vec<std::path::PathBuf> = nodes
        .iter()
        .map(|node| std::path::PathBuf::from(node["data_dir"].as_str().unwrap_or_default()))
        .collect();
    let mut ids: Vec<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "every node has its own identity");

    for data_dir in &data_dirs {
        // The document promised a peer for every node.
        let output = run(data_dir, &["--json", "peers"]);
        let peers: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        assert!(
            peers.as_array().is_some_and(|peers| !peers.is_empty()),
            "{} has no peer after the document was printed: {peers}",
            data_dir.display()
        );
        // Every node listens on loopback only: a test network never leaves the machine.
        let output = run(data_dir, &["--json", "id"]);
        let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        for addr in info["addrs"].as_array().cloned().unwrap_or_default() {
            assert!(
                addr.as_str()
                    .is_some_and(|a| a.starts_with("/ip4/127.0.0.1/")),
                "{addr}"
            );
        }
    }

    signal(testnet.id(), "INT");
    let status = wait_exit(&mut testnet, Duration::from_secs(60));
    assert!(status.success(), "testnet exited with {status}");
    // Nothing followed the one document on stdout: stdout ends once the testnet has exited.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest)
        .unwrap_or_else(|err| panic!("stdout: {err}"));
    assert_eq!(rest, "", "more than one JSON document on stdout");
    for data_dir in &data_dirs {
        assert!(
            !data_dir.join("accord.sock").exists(),
            "{} still has a socket",
            data_dir.display()
        );
        let output = run(data_dir, &["status"]);
        assert_eq!(output.status.code(), Some(1), "a node survived the testnet");
    }
}

#[test]
fn testnet_without_json_lists_its_nodes_then_prints_one_ready_line() {
    let dir = TestDir::new();
    let net_dir = dir.path("net");
    let mut testnet = std::process::Command::new(accord_bin())
        .args(["testnet", "--nodes", "3", "--dir"])
        .arg(&net_dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start testnet: {err}"));
    let mut stdout = BufReader::new(testnet.stdout.take().unwrap_or_else(|| panic!("stdout")));
    let mut lines = Vec::new();
    loop {
        let (line, rest) = read_line_with_timeout(stdout, Duration::from_secs(90));
        stdout = rest;
        assert!(!line.is_empty(), "stdout ended early after {lines:?}");
        let done = line.starts_with("Press Ctrl-C");
        lines.push(line.trim_end().to_owned());
        if done {
            break;
        }
    }
    assert_eq!(
        lines[0],
        format!("3 nodes running under {}:", net_dir.display()),
        "{lines:#?}"
    );
    for (index, line) in lines[1..4].iter().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[0], format!("node-{index}"));
        assert!(fields[1].starts_with("12D3KooW"), "{line}");
        assert_eq!(
            fields[2],
            net_dir.join(format!("node-{index}")).display().to_string()
        );
    }
    let ready: Vec<&String> = lines.iter().filter(|l| l.starts_with("ready:")).collect();
    assert_eq!(ready.len(), 1, "exactly one ready line: {lines:#?}");
    assert!(
        ready[0].starts_with("ready: 3 nodes, every node has at least one peer (took ")
            && ready[0].ends_with(" s)"),
        "{}",
        ready[0]
    );
    assert_eq!(lines[4], *ready[0], "the ready line follows the listing");

    signal(testnet.id(), "INT");
    let status = wait_exit(&mut testnet, Duration::from_secs(60));
    assert!(status.success(), "testnet exited with {status}");
    // Stderr is not a terminal here: no progress bar was drawn on it.
    let mut err = String::new();
    if let Some(mut stderr) = testnet.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
    }
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "progress bar drawn on a non-terminal stderr: {err:?}"
    );
}
