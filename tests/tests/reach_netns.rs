//! Hole punching behind two NATs, in network namespaces this test creates (and removes).
//!
//! ```text
//!  acc-a ── acc-nata ──┐            ┌── acc-natb ── acc-b
//! 10.77.1.2  masquerade │  acc-pub   │  masquerade  10.77.2.2
//!            10.77.10.2 └ 10.77.10.1 ┘ 10.77.20.2
//!                         10.77.20.1
//!                         relay R
//! ```
//!
//! A and B each sit behind their own NAT (nftables masquerade: no inbound mapping, so neither
//! can be dialled directly); R, in the "public" namespace between them, is bootstrap and relay.
//! A knows only B's ID. The test shows the invite and messages flowing through R and then the
//! relayed connection upgraded to a direct one by DCUtR. It needs root, `ip` and `nft`: it is
//! `#[ignore]`d, `.ci/run` runs it with `--ignored` as root (after installing nftables and
//! iproute2), and without them it fails with the reason. Nothing leaves the namespaces it made.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use accord_tests::capability::{require, unless_missing};
use accord_tests::{Daemon, TestDir, accord_bin, wait_until};

const NAMESPACES: [&str; 5] = ["acc-a", "acc-nata", "acc-pub", "acc-natb", "acc-b"];
const ARRIVAL: Duration = Duration::from_secs(90);
const CONFIG: &str = "[network]\nmdns = false\nautonat_global_only = false\n";

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ns(name: &str, args: &[&str]) {
    let mut all = vec!["ip", "netns", "exec", name];
    all.extend_from_slice(args);
    assert!(sh(&all), "in {name}: {args:?} failed");
}

/// Why the test cannot run here, if it cannot.
fn unsupported() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root: network namespaces need CAP_SYS_ADMIN".to_owned());
    }
    for tool in ["ip", "nft"] {
        if !sh(&["sh", "-c", &format!("command -v {tool}")]) {
            return Some(format!(
                "`{tool}` is not installed (apt-get install iproute2 nftables)"
            ));
        }
    }
    if !sh(&["ip", "netns", "add", "acc-probe"]) {
        return Some("cannot create a network namespace here".to_owned());
    }
    sh(&["ip", "netns", "del", "acc-probe"]);
    None
}

/// Removes the namespaces when the test ends, however it ends.
struct Topology;

impl Drop for Topology {
    fn drop(&mut self) {
        for name in NAMESPACES {
            sh(&["ip", "netns", "del", name]);
        }
    }
}

fn link(left: &str, left_if: &str, right: &str, right_if: &str) {
    assert!(sh(&[
        "ip", "link", "add", left_if, "netns", left, "type", "veth", "peer", "name", right_if,
        "netns", right,
    ]));
}

fn build() -> Topology {
    let topology = Topology;
    for name in NAMESPACES {
        sh(&["ip", "netns", "del", name]);
        assert!(sh(&["ip", "netns", "add", name]), "ip netns add {name}");
        ns(name, &["ip", "link", "set", "lo", "up"]);
    }
    link("acc-a", "eth0", "acc-nata", "lan");
    link("acc-nata", "wan", "acc-pub", "to-a");
    link("acc-pub", "to-b", "acc-natb", "wan");
    link("acc-natb", "lan", "acc-b", "eth0");
    for (name, ifname, addr) in [
        ("acc-a", "eth0", "10.77.1.2/24"),
        ("acc-nata", "lan", "10.77.1.1/24"),
        ("acc-nata", "wan", "10.77.10.2/24"),
        ("acc-pub", "to-a", "10.77.10.1/24"),
        ("acc-pub", "to-b", "10.77.20.1/24"),
        ("acc-natb", "wan", "10.77.20.2/24"),
        ("acc-natb", "lan", "10.77.2.1/24"),
        ("acc-b", "eth0", "10.77.2.2/24"),
    ] {
        ns(name, &["ip", "addr", "add", addr, "dev", ifname]);
        ns(name, &["ip", "link", "set", ifname, "up"]);
    }
    ns(
        "acc-a",
        &["ip", "route", "add", "default", "via", "10.77.1.1"],
    );
    ns(
        "acc-b",
        &["ip", "route", "add", "default", "via", "10.77.2.1"],
    );
    ns(
        "acc-nata",
        &["ip", "route", "add", "default", "via", "10.77.10.1"],
    );
    ns(
        "acc-natb",
        &["ip", "route", "add", "default", "via", "10.77.20.1"],
    );
    for name in ["acc-nata", "acc-pub", "acc-natb"] {
        ns(name, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    }
    for name in ["acc-nata", "acc-natb"] {
        // A home router: outbound connections are masqueraded behind the WAN address;
        // nothing comes in unless it answers something that went out.
        for rule in [
            "add table ip nat",
            "add chain ip nat post { type nat hook postrouting priority 100 ; }",
            "add rule ip nat post oifname wan masquerade",
            "add table ip filter",
            "add chain ip filter natfw { type filter hook forward priority 0 ; policy drop ; }",
            "add rule ip filter natfw ct state established,related accept",
            "add rule ip filter natfw iifname lan accept",
            // Like most home routers, unsolicited packets to the WAN address are dropped,
            // not answered with a TCP reset: a reset would kill the hole being punched.
            "add chain ip filter natin { type filter hook input priority 0 ; policy accept ; }",
            "add rule ip filter natin iifname wan ct state new drop",
        ] {
            ns(name, &["sh", "-c", &format!("nft '{rule}'")]);
        }
    }
    topology
}

/// Starts `accord daemon` inside namespace `name`.
fn start_in(name: &str, data_dir: &Path, args: &[&str]) -> Daemon {
    std::fs::create_dir_all(data_dir).unwrap_or_else(|err| panic!("{err}"));
    std::fs::write(data_dir.join("config.toml"), CONFIG).unwrap_or_else(|err| panic!("{err}"));
    let log = std::fs::File::create(data_dir.with_extension("log"))
        .unwrap_or_else(|err| panic!("log: {err}"));
    let child = Command::new("ip")
        .args(["netns", "exec", name])
        .arg(accord_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["daemon", "--no-mdns"])
        .args(args)
        .env("RUST_LOG", "info,libp2p_dcutr=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|err| panic!("spawn: {err}"));
    Daemon::wait_ready(data_dir, child)
}

#[test]
#[ignore = "needs root, iproute2 and nftables for network namespaces; .ci/run runs it with --ignored as root"]
fn two_nodes_behind_nats_meet_through_a_relay_and_dcutr_makes_it_direct() {
    require(
        "root, iproute2 (ip) and nftables (nft)",
        unless_missing(unsupported()),
    );
    let _topology = build();
    let dir = TestDir::new();
    let r = start_in(
        "acc-pub",
        &dir.path("r"),
        &["--relay-server", "--listen", "/ip4/0.0.0.0/tcp/4001"],
    );
    let r_from_a = format!("/ip4/10.77.10.1/tcp/4001/p2p/{}", r.id);
    let r_from_b = format!("/ip4/10.77.20.1/tcp/4001/p2p/{}", r.id);
    let b = start_in(
        "acc-b",
        &dir.path("b"),
        &[
            "--listen",
            "/ip4/0.0.0.0/tcp/4001",
            "--bootstrap",
            &r_from_b,
            "--relay",
            &r_from_b,
        ],
    );
    let a = start_in(
        "acc-a",
        &dir.path("a"),
        &[
            "--listen",
            "/ip4/0.0.0.0/tcp/4001",
            "--bootstrap",
            &r_from_a,
            "--relay",
            &r_from_a,
        ],
    );
    // B's reservation on R is its only way in.
    wait_until("B's reservation on R", ARRIVAL, || {
        b.json(&["status"])["relays"][0]["reserved"]
            .as_str()
            .map(str::to_owned)
    });

    let sent = a.json(&["connect", &b.id, "--note", "across two NATs"]);
    wait_until("the invite at B", ARRIVAL, || {
        b.json(&["invites", "--incoming"])
            .as_array()?
            .iter()
            .any(|i| i["invite_id"] == sent["invite_id"])
            .then_some(())
    });
    b.json(&["accept", &a.id]);
    wait_until("A to hold the connection", ARRIVAL, || {
        (a.json(&["connections"]).as_array()?.len() == 1).then_some(())
    });
    a.json(&["send", &b.id, "hello through the relay"]);
    wait_until("the message at B", ARRIVAL, || {
        b.json(&["history", &a.id])
            .as_array()?
            .iter()
            .any(|m| m["body"] == "hello through the relay")
            .then_some(())
    });

    // DCUtR runs on the relayed connection; A lists B as direct once a hole punch worked.
    let upgraded = wait_until("A to list B", ARRIVAL, || {
        a.json(&["peers"])
            .as_array()?
            .iter()
            .find(|p| p["id"] == b.id.as_str())
            .cloned()
    });
    let direct = wait_until_or_none(Duration::from_secs(30), || {
        a.json(&["peers"])
            .as_array()?
            .iter()
            .any(|p| p["id"] == b.id.as_str() && p["via"] == "direct")
            .then_some(())
    });
    let log_a = std::fs::read_to_string(dir.path("a").with_extension("log")).unwrap_or_default();
    let log_b = std::fs::read_to_string(dir.path("b").with_extension("log")).unwrap_or_default();
    let punched = [&log_a, &log_b]
        .iter()
        .any(|log| log.contains("hole punch succeeded"));
    println!("A's entry for B before the upgrade settled: {upgraded}");
    println!(
        "reachability: A {}, B {}",
        a.json(&["status"])["reachability"],
        b.json(&["status"])["reachability"]
    );
    for line in log_a.lines().chain(log_b.lines()) {
        if line.contains("hole punch") || line.contains("Attempting to hole-punch") {
            println!("{line}");
        }
    }
    assert!(
        direct.is_some() && punched,
        "the relayed connection was not upgraded to a direct one"
    );
    // And it carries messages.
    let started = std::time::Instant::now();
    b.json(&["send", &a.id, "now directly", "--wait"]);
    println!(
        "measured: B→A send --wait over the hole-punched connection {:?}",
        started.elapsed()
    );
}

fn wait_until_or_none<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Some(value) = check() {
            return Some(value);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    None
}
