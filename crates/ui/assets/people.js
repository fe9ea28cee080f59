// People: connections (with attestation export and the safety number), and the connect form.

import { call } from "./api.js";
import { el, fill, displayName, timeEl, busy, toast, personDetails } from "./dom.js";

/** The longest invite note, in characters (the protocol's ceiling). */
const NOTE_MAX = 300;

/** Shows the connections in `view`. */
export async function showPeople(view) {
  fill(view, el("h2", {}, "People"), el("p", { class: "muted" }, "Loading…"));
  let connections;
  try {
    connections = await call("connections");
  } catch (err) {
    fill(view, el("h2", {}, "People"), el("p", { class: "error" }, err.message));
    return null;
  }
  const live = connections.filter((c) => !c.revoked_at);
  fill(view, el("h2", {}, `People (${live.length})`),
    live.length === 0 ? el("p", { class: "muted" }, "No connections yet. ", el("a", { href: "#/connect" }, "Connect with someone")) :
      el("ul", { class: "list people" }, live.map(personRow)));
  return null;
}

function personRow(connection) {
  const peer = encodeURIComponent(connection.peer);
  return el("li", { class: "person", "data-peer": connection.peer },
    el("div", { class: "who-block" },
      el("span", { class: "who" }, displayName(connection)),
      el("code", { class: "id full-id" }, connection.peer)),
    personDetails(connection),
    el("p", { class: "muted small" }, "Connected since ", timeEl(connection.since)),
    el("div", { class: "actions" },
      el("a", { class: "button primary", href: `#/chat/${peer}` }, "Message"),
      el("a", { class: "button", href: `#/verify/${peer}` }, "Safety number"),
      el("a", { class: "button", href: `/api/attestation?peer=${peer}`, download: `accord-attestation-${connection.peer}.txt` }, "Export attestation")));
}

/** Shows the connect form in `view`. */
export async function showConnect(view) {
  const peer = el("input", { id: "connect-peer", name: "peer", required: true, autocomplete: "off", spellcheck: "false", placeholder: "12D3KooW…" });
  const note = el("textarea", { id: "connect-note", name: "note", rows: "4", maxlength: String(NOTE_MAX) });
  const counter = el("span", { id: "note-counter", class: "muted small", "aria-live": "polite" }, `0 / ${NOTE_MAX}`);
  const left = el("p", { class: "muted small", id: "invites-left" }, "");
  const submit = el("button", { type: "submit", class: "primary" }, "Send invite");
  const form = el("form", { class: "connect" },
    el("label", { for: "connect-peer" }, "Their Accord ID"), peer,
    el("label", { for: "connect-note" }, "A note, so they know who you are"), note,
    el("div", { class: "form-foot" }, counter, submit), left);
  note.addEventListener("input", () => {
    counter.textContent = `${[...note.value].length} / ${NOTE_MAX}`;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, async () => {
      await call("connect", { peer: peer.value.trim(), note: note.value });
      toast("Invite sent.");
      location.hash = "#/invites";
    });
  });
  fill(view, el("h2", {}, "Connect"), form);
  peer.focus();
  try {
    const status = await call("status");
    left.textContent = `${status.invites_left_this_week} invites left this week.`;
  } catch (err) {
    left.textContent = err.message;
  }
  return null;
}

/** Shows the safety number with `peer`, and its QR code, in `view`. */
export async function showSafetyNumber(view, peer) {
  fill(view, el("h2", {}, "Safety number"), el("p", { class: "muted" }, "Loading…"));
  try {
    const [info, connections] = await Promise.all([call("verify", { peer }), call("connections")]);
    const connection = connections.find((c) => c.peer === info.peer) || { peer: info.peer };
    const groups = info.safety_number.split(/\s+/);
    fill(view, el("h2", {}, `Safety number with ${displayName(connection)}`),
      el("p", {}, "Compare these digits with theirs, in person or on a call. If they match, nobody is in the middle."),
      el("p", { class: "safety-number", id: "safety-number" }, groups.map((g) => el("span", {}, g))),
      el("img", { class: "qr", src: `/api/qr?peer=${encodeURIComponent(info.peer)}`, alt: "The safety number as a QR code", width: "240", height: "240" }),
      el("p", {}, el("a", { href: `#/chat/${encodeURIComponent(info.peer)}` }, "Back to the conversation")));
  } catch (err) {
    toast(err.message);
    fill(view, el("h2", {}, "Safety number"), el("p", { class: "error" }, err.message));
  }
  return null;
}
