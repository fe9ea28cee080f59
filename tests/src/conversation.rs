//! Helpers for tests of one conversation between daemons: inviting and accepting through the
//! CLI, sending, and reading back what each side holds.

use serde_json::Value;

use crate::{ARRIVAL, Daemon, json_array, wait_until};

/// The string member `key` of a JSON object (empty if missing).
pub fn str_of(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

/// Waits until `node` lists an incoming invite with `invite_id`, and returns it.
pub fn wait_incoming_invite(node: &Daemon, invite_id: &str) -> Value {
    wait_until(
        &format!("{} to receive invite {invite_id}", node.id),
        ARRIVAL,
        || {
            json_array(node.json(&["invites", "--incoming"]))
                .into_iter()
                .find(|invite| invite["invite_id"] == invite_id)
        },
    )
}

/// Waits until `node` lists `peer` as an active connection that is complete: on the invitee's
/// side, once the inviter confirmed it (until then its state is `awaiting_confirmation`).
pub fn wait_connected(node: &Daemon, peer: &str) -> Value {
    wait_until(
        &format!("{} to list {peer} as a connection", node.id),
        ARRIVAL,
        || {
            json_array(node.json(&["connections"]))
                .into_iter()
                .find(|c| {
                    c["peer"] == peer && c["revoked_at"].is_null() && c["state"] == "connected"
                })
        },
    )
}

/// `inviter` invites `invitee` with `note`; once it arrives, `invitee` accepts it and both
/// sides are waited for. Returns the attestation id both agree on.
pub fn invite_and_accept(inviter: &Daemon, invitee: &Daemon, note: &str) -> String {
    let sent = inviter.json(&["connect", &invitee.id, "--note", note]);
    assert_eq!(sent["state"], "pending", "{sent}");
    let invite_id = str_of(&sent, "invite_id");
    let received = wait_incoming_invite(invitee, &invite_id);
    assert_eq!(received["peer"], inviter.id.as_str());
    assert_eq!(received["note"], note);
    let accepted = invitee.json(&["accept", &invite_id]);
    assert_eq!(accepted["state"], "accepted", "{accepted}");
    let on_inviter = wait_connected(inviter, &invitee.id);
    let on_invitee = wait_connected(invitee, &inviter.id);
    assert_eq!(on_inviter["attestation_id"], on_invitee["attestation_id"]);
    str_of(&on_inviter, "attestation_id")
}

/// One message as the sender's daemon acknowledged it: `(message_id, body)`.
pub type Sent = (String, String);

/// Sends `body` from `from` to `to`; the daemon answers once the message is durable: `queued`,
/// or `sent` when it is already on a live connection to the peer (not yet acknowledged either way).
pub fn send(from: &Daemon, to: &str, body: &str) -> Sent {
    let reply = from.json(&["send", to, body]);
    assert!(
        reply["state"] == "queued" || reply["state"] == "sent",
        "{reply}"
    );
    let id = str_of(&reply, "message_id");
    assert_eq!(id.len(), 32, "{reply}");
    (id, body.to_owned())
}

/// The messages of a history written by `from`, in the order listed.
pub fn written_by(messages: &[Value], from: &str) -> Vec<Sent> {
    messages
        .iter()
        .filter(|m| m["from"] == from)
        .map(|m| (str_of(m, "message_id"), str_of(m, "body")))
        .collect()
}

/// Waits until every message `node` sent is acknowledged and its outbox is empty.
pub fn wait_outbox_drained(node: &Daemon) {
    wait_until(&format!("{}'s outbox to drain", node.id), ARRIVAL, || {
        (node.json(&["status"])["outbox"] == 0).then_some(())
    });
}
