//! `accord testnet` brings up a local network in one command and tears it down on SIGINT.

use std::io::BufReader;
use std::process::Stdio;
use std::time::Duration;

use accord_tests::{
    TestDir, accord_bin, read_line_with_timeout, run, signal, wait_exit, wait_until,
};

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
    let (line, _rest) = read_line_with_timeout(stdout, Duration::from_secs(90));
    let nodes: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|err| panic!("bad testnet output {line:?}: {err}"));
    let nodes = nodes.as_array().cloned().unwrap_or_default();
    assert_eq!(nodes.len(), 5, "{line}");

    let data_dirs: Vec<std::path::PathBuf> = nodes
        .iter()
        .map(|node| std::path::PathBuf::from(node["data_dir"].as_str().unwrap_or_default()))
        .collect();
    let mut ids: Vec<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "every node has its own identity");

    for data_dir in &data_dirs {
        wait_until(
            &format!("{} to see a peer", data_dir.display()),
            Duration::from_secs(30),
            || {
                let output = run(data_dir, &["--json", "peers"]);
                let peers: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
                (!peers.as_array()?.is_empty()).then_some(())
            },
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
