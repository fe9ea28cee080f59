//! People end to end (design §12): profiles, degrees and mutual connections, introductions
//! and `share_connections`, between real daemons over real libp2p on 127.0.0.1.

use std::path::Path;

use accord_channel::Session;
use accord_handshake::{Invite, Note, Payload, Profile, open_payload, seal_payload};
use accord_identity::AccordId;
use accord_net::DirectProtocol;
use accord_tests::conversation::{invite_and_accept, str_of, wait_incoming_invite};
use accord_tests::peer::TestPeer;
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, json_array, stderr};
use accord_tests::{now_ms, os_rng, wait_until};
use event_watch::EventWatch;
use serde_json::Value;

mod event_watch;

/// Daemons with this configuration share nothing of their connections.
const NO_SHARING: &str =
    "[network]\nmdns = false\ndht = false\n[profile]\nshare_connections = false\n";

fn ids(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.as_str().map_or_else(|| str_of(v, "id"), str::to_owned))
        .collect()
}

/// Waits until `node` says `target` is at `degree` with exactly the mutual connections
/// `mutual`, and returns the answer.
fn wait_degree(node: &Daemon, target: &str, degree: u64, mutual: &[&str]) -> Value {
    let want: Vec<String> = mutual.iter().map(|s| (*s).to_owned()).collect();
    node.wait_json(
        &format!(
            "{} to see {target} at degree {degree} with mutual {want:?}",
            node.id
        ),
        &["people", target],
        ARRIVAL,
        |person| {
            let got = ids(person["mutual"].as_array().map_or(&[][..], Vec::as_slice));
            (person["degree"] == degree && got == want).then(|| person.clone())
        },
    )
}

/// Waits for the `profile_updated` event that brings `peer`'s profile under `name` to the
/// node `watch` watches, and returns what that node's `profile <peer>` then says.
fn wait_profile_name(node: &Daemon, watch: &mut EventWatch, peer: &str, name: &str) -> Value {
    let event = watch.wait("profile_updated", ARRIVAL, |e| {
        e["peer"] == peer && e["name"] == name
    });
    let profile = node.json(&["profile", peer]);
    assert_eq!(profile["name"], name, "{profile}");
    assert_eq!(
        profile["version"], event["version"],
        "{profile} after {event}"
    );
    assert_eq!(
        profile["headline"], event["headline"],
        "{profile} after {event}"
    );
    assert_eq!(
        profile["avatar_bytes"], event["avatar_bytes"],
        "{profile} after {event}"
    );
    profile
}

/// A chain a–b–c of daemons (b bootstraps to a, c to b) with the given configurations, where
/// a–b and b–c are connections.
fn triangle_without_a_c(dir: &TestDir, b_config: &str) -> (Daemon, Daemon, Daemon) {
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &[]);
    let b = Daemon::start_with_config(&dir.path("b"), b_config, &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);
    let c = Daemon::start_with_config(&dir.path("c"), NO_DHT, &["--bootstrap", &b.tcp_addr()]);
    c.wait_for_peer(&b.id, ARRIVAL);
    invite_and_accept(&a, &b, "a and b");
    invite_and_accept(&b, &c, "b and c");
    (a, b, c)
}

#[test]
fn an_invite_shows_the_inviters_name_and_proven_mutual_connections_until_one_is_revoked() {
    let dir = TestDir::new();
    let (a, b, c) = triangle_without_a_c(&dir, NO_DHT);
    assert!(!a.peer_ids().contains(&c.id), "a and c must not be linked");
    let set = c.json(&[
        "profile",
        "set",
        "--name",
        "Carol Ω",
        "--headline",
        "Climbs rocks",
    ]);
    assert_eq!(set["name"], "Carol Ω");
    assert!(set["version"].as_u64().unwrap_or(0) > 0);

    // B shares its list with A: C is second degree, through B.
    let person = wait_degree(&a, &c.id, 2, &[&b.id]);
    assert!(
        person["profile"].is_null(),
        "A has no profile of C yet: {person}"
    );

    // C invites A: the invite carries C's name and headline, sealed, and A sees B as mutual.
    let sent = c.json(&["connect", &a.id, "--note", "hi A"]);
    let invite = wait_incoming_invite(&a, &str_of(&sent, "invite_id"));
    assert_eq!(invite["name"], "Carol Ω", "{invite}");
    assert_eq!(invite["headline"], "Climbs rocks", "{invite}");
    assert_eq!(
        ids(invite["mutual"].as_array().map_or(&[][..], Vec::as_slice)),
        vec![b.id.clone()]
    );
    assert!(invite["introduced_by"].is_null());
    let person = wait_degree(&a, &c.id, 2, &[&b.id]);
    assert_eq!(person["profile"]["name"], "Carol Ω");
    assert_eq!(person["mutual"][0]["id"], b.id.as_str());
    let suggestions = json_array(a.json(&["suggestions"]));
    assert_eq!(suggestions[0]["id"], c.id.as_str(), "{suggestions:?}");
    assert_eq!(suggestions[0]["mutual"], 1);
    let human = a.run(&["invites", "--incoming"]);
    assert!(accord_tests::stdout(&human).contains("Carol Ω"));

    // B disconnects from C: B's list drops the entry, and A stops counting it at once.
    b.json(&["disconnect", &c.id]);
    wait_degree(&a, &c.id, 3, &[]);
    let invites = a.invites("--incoming");
    assert_eq!(invites[0]["mutual"], serde_json::json!([]), "{invites:?}");
}

#[test]
fn a_profile_change_reaches_connections_and_names_every_view() {
    let dir = TestDir::new();
    let (a, b) = accord_tests::connected_pair(&dir, NO_DHT);
    let mut watch_a = EventWatch::start(&a.data_dir);
    let mut watch_b = EventWatch::start(&b.data_dir);
    let avatar = dir.path("avatar.png");
    write_png(&avatar, 24, 24);
    a.json(&[
        "profile",
        "set",
        "--name",
        "Ada",
        "--avatar",
        &avatar.to_string_lossy(),
    ]);
    // A's own watch hears of the change at once; B's when it has stored A's profile.
    let own = watch_a.wait("profile_updated", ARRIVAL, |e| e["peer"] == a.id.as_str());
    assert_eq!(own["name"], "Ada", "{own}");
    let first = wait_profile_name(&b, &mut watch_b, &a.id, "Ada");
    assert!(first["avatar_bytes"].as_u64().unwrap_or(0) > 0, "{first}");
    a.json(&[
        "profile",
        "set",
        "--name",
        "Ada Lovelace",
        "--headline",
        "Analyst",
    ]);
    let second = wait_profile_name(&b, &mut watch_b, &a.id, "Ada Lovelace");
    assert!(second["version"].as_u64() > first["version"].as_u64());
    // Each version was announced once on B, in order.
    let versions: Vec<&Value> = watch_b
        .seen_named("profile_updated")
        .iter()
        .map(|e| &e["version"])
        .collect();
    assert_eq!(versions, [&first["version"], &second["version"]]);
    assert_eq!(second["headline"], "Analyst");
    // The avatar was kept, and what B writes out is a PNG of the same picture.
    let out = dir.path("out.png");
    b.json(&["profile", &a.id, "--avatar-out", &out.to_string_lossy()]);
    let picture = image::open(&out).unwrap_or_else(|err| panic!("the avatar written: {err}"));
    assert_eq!((picture.width(), picture.height()), (24, 24));

    // Every view names A on B.
    let connections = b.connections();
    assert_eq!(connections[0]["name"], "Ada Lovelace");
    accord_tests::conversation::send(&a, &b.id, "hello");
    let history = b.wait_history(&a.id, 1);
    assert_eq!(history[0]["name"], "Ada Lovelace");
    let inbox = json_array(b.json(&["inbox"]));
    assert_eq!(inbox[0]["name"], "Ada Lovelace");
    // A local alias overrides the name, on B only.
    b.json(&["alias", &a.id, "ada"]);
    assert_eq!(b.connections()[0]["name"], "ada");
    assert_eq!(a.json(&["profile"])["name"], "Ada Lovelace");
}

#[test]
fn an_introduction_between_strangers_leads_to_an_invite_introduced_by_the_introducer() {
    let dir = TestDir::new();
    let (a, b, c) = triangle_without_a_c(&dir, NO_DHT);
    let mut watch_a = EventWatch::start(&a.data_dir);
    let mut watch_b = EventWatch::start(&b.data_dir);
    b.json(&["profile", "set", "--name", "Bea"]);
    c.json(&["profile", "set", "--name", "Cy"]);
    // B introduces with C's card, so it waits until it holds it.
    wait_profile_name(&b, &mut watch_b, &c.id, "Cy");
    let made = b.json(&["introduce", &a.id, &c.id, "--note", "you two should talk"]);
    assert_eq!(made["introducer"], b.id.as_str());
    // A receives it, with C's card, and says so on its event stream.
    let event = watch_a.wait("introduction_received", ARRIVAL, |e| {
        e["introducer"] == b.id.as_str()
    });
    assert_eq!(event["peer"], c.id.as_str(), "{event}");
    assert_eq!(event["name"], "Cy", "{event}");
    assert_eq!(event["note"], "you two should talk", "{event}");
    let received = json_array(a.json(&["introductions"]))
        .into_iter()
        .find(|i| i["introducer"] == b.id.as_str() && i["peer"] == c.id.as_str())
        .unwrap_or_else(|| panic!("the introduction is not listed after {event}"));
    assert_eq!(received["note"], "you two should talk");
    wait_profile_name(&a, &mut watch_a, &b.id, "Bea");
    // A invites C with it; C sees "introduced by B", verified against its own connection.
    let sent = a.json(&["connect", &c.id, "--via", &b.id, "--note", "B says hi"]);
    let invite = wait_incoming_invite(&c, &str_of(&sent, "invite_id"));
    assert_eq!(invite["introduced_by"], b.id.as_str(), "{invite}");
    assert_eq!(
        ids(invite["mutual"].as_array().map_or(&[][..], Vec::as_slice)),
        vec![b.id.clone()]
    );
    let human = accord_tests::stdout(&c.run(&["invites", "--incoming"]));
    assert!(human.contains("introduced by"), "{human}");
}

#[test]
fn share_connections_false_keeps_second_degree_people_hidden() {
    let dir = TestDir::new();
    let (a, b, c) = triangle_without_a_c(&dir, NO_SHARING);
    let mut watch_a = EventWatch::start(&a.data_dir);
    // Rounds to one connection go one after the other, profile before list; so once A has
    // B's second profile, any list B would have shared after the first has arrived too.
    b.json(&["profile", "set", "--name", "Bea"]);
    wait_profile_name(&a, &mut watch_a, &b.id, "Bea");
    b.json(&["profile", "set", "--name", "Bea B."]);
    wait_profile_name(&a, &mut watch_a, &b.id, "Bea B.");
    assert!(
        watch_a.seen_named("shared_list_updated").is_empty(),
        "B shares nothing: {:?}",
        watch_a.seen
    );
    let person = a.json(&["people", &c.id]);
    assert_eq!(person["degree"], 3, "{person}");
    assert_eq!(person["mutual"], serde_json::json!([]));
    assert_eq!(a.json(&["suggestions"]), serde_json::json!([]));
    // B itself still sees both sides.
    assert_eq!(b.json(&["people", &c.id])["degree"], 1);
}

fn write_png(path: &Path, width: u32, height: u32) {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([x as u8 * 9, y as u8 * 9, 80])
    });
    picture
        .save(path)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

/// Runs a command that must fail with exit status 1 and an error naming `reason`.
fn refused(node: &Daemon, args: &[&str], reason: &str) {
    let output = node.run(args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "accord {args:?}: {err}");
    assert!(err.starts_with("error:"), "accord {args:?}: {err}");
    assert!(
        err.contains(reason),
        "accord {args:?} should say {reason:?}: {err}"
    );
}

#[test]
fn bad_input_to_every_people_command_gets_a_clear_error() {
    let dir = TestDir::new();
    let (a, b) = accord_tests::connected_pair(&dir, NO_DHT);
    let long_name = "n".repeat(65);
    let long_headline = "h".repeat(121);
    refused(&a, &["profile", "set", "--name", ""], "name is empty");
    refused(&a, &["profile", "set", "--name", &long_name], "at most 64");
    refused(
        &a,
        &["profile", "set", "--name", "x\u{202E}y"],
        "bidirectional",
    );
    refused(
        &a,
        &["profile", "set", "--name", "x\u{1b}[2J"],
        "control character",
    );
    refused(
        &a,
        &[
            "profile",
            "set",
            "--name",
            "ok",
            "--headline",
            &long_headline,
        ],
        "at most 120",
    );
    let gif = dir.path("a.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap_or_default();
    refused(
        &a,
        &[
            "profile",
            "set",
            "--name",
            "ok",
            "--avatar",
            &gif.to_string_lossy(),
        ],
        "PNG or JPEG",
    );
    let big = dir.path("big.png");
    std::fs::write(&big, vec![0u8; 70_000]).unwrap_or_default();
    refused(
        &a,
        &[
            "profile",
            "set",
            "--name",
            "ok",
            "--avatar",
            &big.to_string_lossy(),
        ],
        "at most 65536",
    );
    refused(
        &a,
        &[
            "profile",
            "set",
            "--name",
            "ok",
            "--avatar",
            "/nonexistent/x.png",
        ],
        "cannot read the avatar file",
    );
    refused(
        &a,
        &["profile", "nobody"],
        "neither an Accord ID nor the alias",
    );
    let out = dir.path("none.png");
    refused(
        &a,
        &["profile", &b.id, "--avatar-out", &out.to_string_lossy()],
        "no avatar is known",
    );
    refused(
        &a,
        &["people", "nobody"],
        "neither an Accord ID nor the alias",
    );
    refused(&a, &["people", &a.id], "that is you");
    let stranger = accord_tests::init_identity(&dir.path("stranger"));
    refused(
        &a,
        &["introduce", &b.id, &stranger],
        "is not one of your connections",
    );
    refused(
        &a,
        &["introduce", &b.id, &b.id],
        "two different connections",
    );
    refused(
        &a,
        &["introduce", &b.id, &a.id],
        "cannot introduce yourself",
    );
    refused(
        &a,
        &["introduce", &b.id, "nobody", "--note", "hi"],
        "neither an Accord ID",
    );
    refused(
        &a,
        &["connect", &stranger, "--via", &b.id],
        "has not introduced you",
    );
    let usage = a.run(&["people"]);
    assert_eq!(
        usage.status.code(),
        Some(2),
        "a missing argument is a usage error"
    );
    // Nothing was changed by any of it.
    assert!(a.json(&["profile"])["name"].is_null());
    assert_eq!(json_array(a.json(&["introductions"])), Vec::<Value>::new());
}

/// A profile's (or a `profile_updated` event's) name and version.
fn name_and_version(value: &Value) -> (&str, u64) {
    (
        value["name"].as_str().unwrap_or_default(),
        value["version"].as_u64().unwrap_or_default(),
    )
}

/// The answer `/accord/dm/1` gives to a content it took: version 1, status 0 (stored).
const STORED: [u8; 2] = [1, 0];

/// An in-process libp2p node that became a genuine connection of `b` (it invited B, B
/// accepted, and it built the channel from B's acceptance), with its end of the channel. It
/// speaks the protocol from its definition (docs/protocol.md), so it can send what a real node
/// could send but ours never would.
fn genuine_connection(b: &Daemon) -> (TestPeer, Session) {
    let peer = TestPeer::start(&[&b.tcp_addr()]);
    b.wait_for_peer(&peer.identity().id().to_string(), ARRIVAL);
    let b_id: AccordId = b.accord_id();
    let now = now_ms();
    let note = Note::new("hello", 300).unwrap_or_else(|err| panic!("{err}"));
    let (invite, one_time) =
        Invite::create(peer.identity(), b_id, note, now, 86_400_000, &mut os_rng())
            .unwrap_or_else(|err| panic!("{err}"));
    let sealed = seal_payload(&b_id, &Payload::Invite(invite.clone()), now, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(peer.send_inbox(&b.id, sealed).ok(), Some(b"ok".to_vec()));
    b.json(&["accept", &peer.identity().id().to_string()]);
    let acceptance = wait_until("B's acceptance to arrive", ARRIVAL, || {
        peer.direct_received()
            .into_iter()
            .filter(|(protocol, _)| *protocol == DirectProtocol::Inbox)
            .find_map(
                |(_, data)| match open_payload(peer.identity(), &data, now_ms()) {
                    Ok(Payload::Acceptance(acceptance)) => Some(acceptance),
                    _ => None,
                },
            )
    });
    let attestation = acceptance
        .verify(&invite)
        .unwrap_or_else(|err| panic!("{err}"));
    let mut session = Session::new_inviter(
        peer.identity(),
        &one_time,
        &b_id,
        &acceptance.ephemeral_key,
        &attestation.id(),
    )
    .unwrap_or_else(|err| panic!("{err:?}"));
    session
        .decrypt(acceptance.first_message(), now_ms())
        .unwrap_or_else(|err| panic!("{err:?}"));
    (peer, session)
}

/// Sends `profile` to `b` as a people content over the channel, in a request with message id
/// `id`, and returns B's answer.
fn send_profile(
    peer: &TestPeer,
    b: &Daemon,
    session: &mut Session,
    id: [u8; 16],
    profile: &Profile,
) -> Vec<u8> {
    // content: version 1, kind 3 (people); people content: version 1, kind 1 (profile).
    let mut content = vec![1, 3, 1, 1];
    content.extend_from_slice(&profile.encode());
    let envelope = session
        .encrypt(&content, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err:?}"));
    // request: version 1, message id, envelope.
    let mut request = vec![1];
    request.extend_from_slice(&id);
    request.extend_from_slice(&envelope);
    peer.send_direct(DirectProtocol::Dm, &b.id, request)
        .unwrap_or_else(|err| panic!("B did not answer: {err}"))
}

/// The paths by which an older signed profile of a connection reaches a daemon: the
/// connection's node restored from a backup (or an old copy of its identity on another
/// machine) sends the profile it had then, after B holds a newer one; and the same after B
/// itself crashed and restarted. Each is acknowledged (so the sender stops resending) and
/// never applied nor announced; a newer one still is.
#[test]
fn an_older_signed_profile_never_overwrites_a_newer_one_on_a_daemon() {
    let dir = TestDir::new();
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &[]);
    let (hal, mut session) = genuine_connection(&b);
    let hal_id = hal.identity().id().to_string();
    let signed = |version: u64, name: &str| {
        Profile::create(hal.identity(), version, name, "signed by Hal", None)
            .unwrap_or_else(|err| panic!("{err}"))
    };
    let mut watch = EventWatch::start(&b.data_dir);
    let newer = signed(20, "Hal (new)");
    assert_eq!(
        send_profile(&hal, &b, &mut session, [1; 16], &newer),
        STORED
    );
    let event = watch.wait("profile_updated", ARRIVAL, |e| e["peer"] == hal_id.as_str());
    assert_eq!(name_and_version(&event), ("Hal (new)", 20));

    // An older version, then another profile under the same version: both genuine, both
    // acknowledged, neither taken.
    for (id, stale) in [
        (2, signed(10, "Hal (old)")),
        (3, signed(20, "Hal (same version)")),
    ] {
        assert_eq!(
            send_profile(&hal, &b, &mut session, [id; 16], &stale),
            STORED
        );
        let shown = b.json(&["profile", &hal_id]);
        assert_eq!(name_and_version(&shown), ("Hal (new)", 20));
    }

    // B crashes and comes back: what it acknowledged was durable, and the old profile sent
    // again after the restart still does not replace it. The crash ends the first watch's
    // stream, so everything B announced before it has been read.
    let b = b.crash_and_restart(&[]);
    watch.read_to_end(ARRIVAL);
    hal.dial(&b.tcp_addr());
    b.wait_for_peer(&hal_id, ARRIVAL);
    let mut watch_after = EventWatch::start(&b.data_dir);
    let stale = signed(10, "Hal (old)");
    assert_eq!(
        send_profile(&hal, &b, &mut session, [4; 16], &stale),
        STORED
    );
    let shown = b.json(&["profile", &hal_id]);
    assert_eq!(name_and_version(&shown), ("Hal (new)", 20));

    // A newer one is taken and announced; nothing older was announced before it.
    let newest = signed(30, "Hal (newest)");
    assert_eq!(
        send_profile(&hal, &b, &mut session, [5; 16], &newest),
        STORED
    );
    watch_after.wait("profile_updated", ARRIVAL, |e| e["version"] == 30);
    let announced: Vec<&Value> = watch
        .seen_named("profile_updated")
        .into_iter()
        .chain(watch_after.seen_named("profile_updated"))
        .map(|e| &e["version"])
        .collect();
    assert_eq!(announced, [&Value::from(20), &Value::from(30)]);
    assert_eq!(b.json(&["profile", &hal_id])["name"], "Hal (newest)");
    assert_eq!(
        b.dropped("undecryptable"),
        0,
        "every frame was a genuine one"
    );
}
