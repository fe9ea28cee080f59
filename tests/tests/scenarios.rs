//! Multi-node scenarios: several things happening at once on one network, as users would do
//! them. Each test drives real daemons on 127.0.0.1 with mDNS off through the CLI, and checks
//! the end state through `accord --json history/inbox/connections/invites` only.
//!
//! - a 10-node network where five disjoint pairs invite, accept and chat concurrently;
//! - a node with three conversations restarted gracefully, then killed, mid-stream;
//! - a node that joins late and finds invites sent to it before it had ever run.
//!
//! connect.rs and messages.rs cover each mechanism on its own (one invite across a chain, one
//! pair across a crash); these tests combine them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use accord_tests::conversation::{
    Sent, invite_and_accept, send, str_of, wait_connected, wait_incoming_invite,
    wait_outbox_drained, written_by,
};
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, chain, init_identity, json_array};

/// With the DHT on. Messages travel only by direct request-response to the recipient (there is
/// no relay), so two nodes that are not neighbours in the bootstrap topology can only message
/// each other once they know each other's addresses, which is what the DHT provides. Invites
/// would cross a DHT-less network by gossip, but the conversation after them would not.
const WITH_DHT: &str = "[network]\nmdns = false\ndht = true\n";

/// Checks one conversation on both sides: each side holds exactly the messages `a` sent and
/// the messages `b` sent, each exactly once and in the order they were sent, and nothing else.
fn check_conversation(a: &Daemon, a_sent: &[Sent], b: &Daemon, b_sent: &[Sent]) {
    let total = a_sent.len() + b_sent.len();
    for (node, other) in [(a, b), (b, a)] {
        let messages = node.wait_history(&other.id, total);
        assert_eq!(
            messages.len(),
            total,
            "{} holds extra messages with {}",
            node.id,
            other.id
        );
        let ids: HashSet<&str> = messages
            .iter()
            .filter_map(|m| m["message_id"].as_str())
            .collect();
        assert_eq!(ids.len(), total, "a message is listed twice on {}", node.id);
        assert_eq!(
            written_by(&messages, &a.id),
            a_sent,
            "on {}: messages from {} lost, duplicated or reordered",
            node.id,
            a.id
        );
        assert_eq!(
            written_by(&messages, &b.id),
            b_sent,
            "on {}: messages from {} lost, duplicated or reordered",
            node.id,
            b.id
        );
        for message in &messages {
            let (from, to) = (message["from"].as_str(), message["to"].as_str());
            assert!(
                (from == Some(&a.id) && to == Some(&b.id))
                    || (from == Some(&b.id) && to == Some(&a.id)),
                "a message of another conversation on {}: {message}",
                node.id
            );
        }
    }
}

/// The peers `node` has conversations with, from `accord inbox`.
fn inbox_peers(node: &Daemon) -> Vec<String> {
    json_array(node.json(&["inbox"]))
        .iter()
        .map(|c| str_of(c, "peer"))
        .collect()
}

#[test]
fn ten_nodes_five_pairs_invite_accept_and_chat_at_once_without_crosstalk() {
    const NODES: usize = 10;
    const PAIRS: usize = NODES / 2;
    const PER_SIDE: usize = 8;
    let dir = TestDir::new();
    let nodes = chain(&dir, "n", NODES, WITH_DHT);
    // Pair node i with node i + 5: never neighbours in the chain.
    let pairs: Vec<(&Daemon, &Daemon)> =
        (0..PAIRS).map(|i| (&nodes[i], &nodes[i + PAIRS])).collect();

    // Every pair's invite, arrival and acceptance at once.
    let attestations: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .iter()
            .enumerate()
            .map(|(p, (inviter, invitee))| {
                scope.spawn(move || invite_and_accept(inviter, invitee, &format!("pair {p}: hi!")))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| panic!("an invite failed")))
            .collect()
    });
    let unique: HashSet<&String> = attestations.iter().collect();
    assert_eq!(unique.len(), PAIRS, "two pairs share an attestation");

    // Then both sides of every pair write at once: 2 × PAIRS concurrent senders.
    let sent: Vec<(Vec<Sent>, Vec<Sent>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .iter()
            .enumerate()
            .map(|(p, (a, b))| {
                let one_way = move |from: &'static str, x: &Daemon, y: &Daemon| {
                    (0..PER_SIDE)
                        .map(|n| send(x, &y.id, &format!("pair {p} {from} #{n}: **hello** ✓")))
                        .collect::<Vec<Sent>>()
                };
                let forth = scope.spawn(move || one_way("a→b", a, b));
                let back = scope.spawn(move || one_way("b→a", b, a));
                (forth, back)
            })
            .collect();
        handles
            .into_iter()
            .map(|(forth, back)| {
                let forth = forth.join().unwrap_or_else(|_| panic!("a sender failed"));
                let back = back.join().unwrap_or_else(|_| panic!("a sender failed"));
                (forth, back)
            })
            .collect()
    });

    for ((a, b), (a_sent, b_sent)) in pairs.iter().zip(&sent) {
        check_conversation(a, a_sent, b, b_sent);
    }
    for node in &nodes {
        wait_outbox_drained(node);
    }
    // Nothing crossed between pairs: each node has one connection and one conversation, both
    // with its partner.
    for (a, b) in &pairs {
        for (node, partner) in [(a, b), (b, a)] {
            let connections = json_array(node.json(&["connections"]));
            assert_eq!(connections.len(), 1, "{}: {connections:?}", node.id);
            assert_eq!(connections[0]["peer"], partner.id.as_str());
            assert_eq!(inbox_peers(node), vec![partner.id.clone()]);
        }
    }
}

/// M's side of the conversation test: a few messages to each peer, one after another.
fn burst(m: &Daemon, peers: &[Daemon], round: &str, m_sent: &mut [Vec<Sent>]) {
    for n in 0..3 {
        for (i, peer) in peers.iter().enumerate() {
            m_sent[i].push(send(m, &peer.id, &format!("m→p{i} {round} #{n}")));
        }
    }
}

#[test]
fn a_node_restarted_and_then_killed_mid_conversations_loses_and_repeats_nothing() {
    const PEERS: usize = 3;
    /// A bound on each peer's sender, in case M's side stalls.
    const MAX_PER_PEER: usize = 300;
    let dir = TestDir::new();
    let m = Daemon::start_with_config(&dir.path("m"), NO_DHT, &[]);
    let m_id = m.id.clone();
    let boot = m.tcp_addr();
    // A star around M: each peer bootstraps to M and redials it whenever it is down.
    let peers: Vec<Daemon> = (0..PEERS)
        .map(|i| {
            let peer = Daemon::start_with_config(
                &dir.path(&format!("p{i}")),
                NO_DHT,
                &["--bootstrap", &boot],
            );
            peer.wait_for_peer(&m_id, ARRIVAL);
            peer
        })
        .collect();
    std::thread::scope(|scope| {
        for (i, peer) in peers.iter().enumerate() {
            let m = &m;
            scope.spawn(move || invite_and_accept(m, peer, &format!("M and p{i}")));
        }
    });

    // Each peer writes to M without pause for the whole test, while M writes bursts, is
    // restarted gracefully, writes, is killed with SIGKILL right after queueing a burst, comes
    // back and writes again.
    let done = AtomicBool::new(false);
    let mut m_sent: Vec<Vec<Sent>> = vec![Vec::new(); PEERS];
    let (m, peers_sent) = std::thread::scope(|scope| {
        let senders: Vec<_> = peers
            .iter()
            .enumerate()
            .map(|(i, peer)| {
                let (done, m_id) = (&done, &m_id);
                scope.spawn(move || {
                    let mut sent = Vec::new();
                    while !done.load(Ordering::SeqCst) && sent.len() < MAX_PER_PEER {
                        sent.push(send(peer, m_id, &format!("p{i}→m #{:03}", sent.len())));
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    sent
                })
            })
            .collect();

        burst(&m, &peers, "before", &mut m_sent);
        let m = m.restart(&[]);
        burst(&m, &peers, "after the restart", &mut m_sent);
        let m = m.crash_and_restart(&[]);
        burst(&m, &peers, "after the crash", &mut m_sent);
        // Let the peers' streams run into the recovered node for a moment.
        std::thread::sleep(Duration::from_secs(1));
        done.store(true, Ordering::SeqCst);
        let peers_sent: Vec<Vec<Sent>> = senders
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("a peer's sender failed"))
            })
            .collect();
        (m, peers_sent)
    });

    for (i, peer) in peers.iter().enumerate() {
        assert!(!peers_sent[i].is_empty());
        check_conversation(&m, &m_sent[i], peer, &peers_sent[i]);
    }
    wait_outbox_drained(&m);
    for peer in &peers {
        wait_outbox_drained(peer);
    }

    // The conversations go on, acknowledged end to end.
    for (i, peer) in peers.iter().enumerate() {
        let reply = m.json(&["send", &peer.id, "still there?", "--wait"]);
        assert_eq!(reply["state"], "delivered", "{reply}");
        m_sent[i].push((str_of(&reply, "message_id"), "still there?".to_owned()));
        let reply = peer.json(&["send", &m.id, "yes", "--wait"]);
        assert_eq!(reply["state"], "delivered", "{reply}");
        let mut from_peer = peers_sent[i].clone();
        from_peer.push((str_of(&reply, "message_id"), "yes".to_owned()));
        check_conversation(&m, &m_sent[i], peer, &from_peer);
    }
}

#[test]
fn a_node_joining_late_gets_invites_sent_before_it_ever_ran_and_chats_with_both_inviters() {
    let dir = TestDir::new();
    let net = chain(&dir, "n", 4, WITH_DHT);
    let (a, c) = (&net[0], &net[3]);

    // B has an identity, so its ID is known, but its daemon has never run.
    let b_dir = dir.path("late");
    let b_id = init_identity(&b_dir);
    let note_a = "From A, sent while you were not on the network yet";
    let note_c = "From C — also from before you joined ✓";
    let from_a = a.json(&["connect", &b_id, "--note", note_a]);
    let from_c = c.json(&["connect", &b_id, "--note", note_c]);
    assert_eq!(from_a["state"], "pending");
    assert_eq!(from_c["state"], "pending");
    let (invite_a, invite_c) = (str_of(&from_a, "invite_id"), str_of(&from_c, "invite_id"));

    // B joins through a node in the middle of the chain, a neighbour of neither inviter.
    let b = Daemon::start_with_config(&b_dir, WITH_DHT, &["--bootstrap", &net[1].tcp_addr()]);
    assert_eq!(b.id, b_id);
    let got_a = wait_incoming_invite(&b, &invite_a);
    let got_c = wait_incoming_invite(&b, &invite_c);
    assert_eq!(got_a["peer"], a.id.as_str());
    assert_eq!(got_a["note"], note_a);
    assert_eq!(got_a["state"], "pending");
    assert_eq!(got_c["peer"], c.id.as_str());
    assert_eq!(got_c["note"], note_c);
    assert_eq!(json_array(b.json(&["invites", "--incoming"])).len(), 2);

    assert_eq!(b.json(&["accept", &invite_a])["state"], "accepted");
    assert_eq!(b.json(&["accept", &invite_c])["state"], "accepted");
    for inviter in [a, c] {
        let on_inviter = wait_connected(inviter, &b.id);
        let on_b = wait_connected(&b, &inviter.id);
        assert_eq!(on_inviter["attestation_id"], on_b["attestation_id"]);
        let outgoing = json_array(inviter.json(&["invites", "--outgoing"]));
        assert_eq!(outgoing.len(), 1);
        assert_eq!(outgoing[0]["state"], "accepted");
    }

    // B talks with both at once; each answers.
    let sent: Vec<(Vec<Sent>, Vec<Sent>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = [a, c]
            .into_iter()
            .map(|inviter| {
                let b = &b;
                let out = scope.spawn(move || {
                    (0..5)
                        .map(|n| send(b, &inviter.id, &format!("B to {} #{n}", inviter.id)))
                        .collect::<Vec<Sent>>()
                });
                let back = scope.spawn(move || {
                    (0..5)
                        .map(|n| send(inviter, &b.id, &format!("reply #{n} to the newcomer")))
                        .collect::<Vec<Sent>>()
                });
                (out, back)
            })
            .collect();
        handles
            .into_iter()
            .map(|(out, back)| {
                let out = out.join().unwrap_or_else(|_| panic!("B's sender failed"));
                let back = back.join().unwrap_or_else(|_| panic!("a reply failed"));
                (out, back)
            })
            .collect()
    });
    check_conversation(&b, &sent[0].0, a, &sent[0].1);
    check_conversation(&b, &sent[1].0, c, &sent[1].1);
    let mut with = inbox_peers(&b);
    with.sort();
    let mut expected = vec![a.id.clone(), c.id.clone()];
    expected.sort();
    assert_eq!(with, expected);
}
