// People: connections (1st degree, with attestation export and the safety number), people
// you may know (2nd degree, by mutual connections), introductions, looking someone up by ID
// (their degree, the mutual connections that prove it, and their profile), and the connect
// form.

import { call } from "./api.js";
import { el, fill, displayName, nameEl, avatar, shortId, timeEl, busy, toast, personDetails, namesOf } from "./dom.js";

/** The longest invite note, in characters (the protocol's ceiling). */
const NOTE_MAX = 300;

/** A degree as people say it. */
function degreeLabel(degree) {
  return degree === 1 ? "1st" : degree === 2 ? "2nd" : "3rd+";
}

function degreeBadge(degree) {
  return el("span", { class: "degree", "data-degree": String(degree), title: `${degreeLabel(degree)}-degree connection` }, degreeLabel(degree));
}

/** Shows the people view in `view`: connections, suggestions, introductions, look-up. */
export async function showPeople(view) {
  fill(view, el("h2", {}, "People"), el("p", { class: "muted" }, "Loading…"));
  let connections;
  let suggestions;
  let introductions;
  try {
    [connections, suggestions, introductions] = await Promise.all([
      call("connections"), call("suggestions"), call("introductions"),
    ]);
  } catch (err) {
    fill(view, el("h2", {}, "People"), el("p", { class: "error" }, err.message));
    return null;
  }
  const live = connections.filter((c) => !c.revoked_at);
  const names = namesOf(live);
  const received = introductions.filter((i) => !i.other);
  // Someone we were introduced to may be known only by the card the introduction carried.
  const introduced = new Map(received.filter((i) => i.name).map((i) => [i.peer, i.name]));
  const named = (suggestion) => ({ ...suggestion, name: suggestion.name || introduced.get(suggestion.id) || null });
  fill(view, el("h2", {}, "People"),
    lookUpForm(names),
    el("h3", {}, `Connections (${live.length})`),
    live.length === 0 ? el("p", { class: "muted" }, "No connections yet. ", el("a", { href: "#/connect" }, "Connect with someone")) :
      el("ul", { class: "list people" }, live.map(personRow)),
    suggestions.length === 0 ? null : [
      el("h3", {}, "People you may know"),
      el("ul", { class: "list people suggestions" }, suggestions.map((s) => suggestionRow(named(s)))),
    ],
    received.length === 0 ? null : [
      el("h3", {}, "Introductions"),
      el("ul", { class: "list people introductions" }, received.map((i) => introductionRow(i, names))),
    ]);
  return null;
}

function personRow(connection) {
  const peer = encodeURIComponent(connection.peer);
  return el("li", { class: "person", "data-peer": connection.peer },
    el("div", { class: "who-row" },
      avatar(connection.peer, connection.alias || connection.name, "large"),
      el("div", { class: "who-block" },
        el("span", {}, nameEl(connection), " ", degreeBadge(1)),
        el("code", { class: "id full-id" }, connection.peer))),
    personDetails(connection),
    el("p", { class: "muted small" }, "Connected since ", timeEl(connection.since)),
    el("div", { class: "actions" },
      el("a", { class: "button primary", href: `#/chat/${peer}` }, "Message"),
      el("a", { class: "button", href: `#/verify/${peer}` }, "Safety number"),
      el("a", { class: "button", href: `/api/attestation?peer=${peer}`, download: `accord-attestation-${connection.peer}.txt` }, "Export attestation")));
}

function suggestionRow(suggestion) {
  return el("li", { class: "person", "data-peer": suggestion.id },
    el("div", { class: "who-row" },
      avatar(suggestion.id, suggestion.name, "large"),
      el("div", { class: "who-block" },
        el("span", {}, nameEl(suggestion), " ", degreeBadge(2)),
        el("code", { class: "id full-id" }, suggestion.id))),
    personDetails(suggestion),
    el("div", { class: "actions" },
      el("a", { class: "button", href: `#/connect/${encodeURIComponent(suggestion.id)}` }, "Connect")));
}

function introductionRow(introduction, names) {
  const by = introduction.introducer_name || names.get(introduction.introducer) || shortId(introduction.introducer);
  const via = encodeURIComponent(introduction.introducer);
  return el("li", { class: "person", "data-peer": introduction.peer },
    el("div", { class: "who-row" },
      avatar(introduction.peer, introduction.name, "large"),
      el("div", { class: "who-block" },
        nameEl(introduction),
        el("code", { class: "id full-id" }, introduction.peer))),
    personDetails(introduction),
    el("p", { class: "introduced" }, `Introduced by ${by}`),
    introduction.note ? el("blockquote", { class: "note" }, introduction.note) : null,
    el("div", { class: "actions" },
      names.has(introduction.peer) ? null :
        el("a", { class: "button", href: `#/connect/${encodeURIComponent(introduction.peer)}/${via}` }, "Connect")));
}

/** Looks someone up by Accord ID or alias: degree, proven mutual connections, profile. */
function lookUpForm(names) {
  const input = el("input", { id: "lookup-peer", name: "peer", required: true, autocomplete: "off", spellcheck: "false", placeholder: "Accord ID or alias" });
  const submit = el("button", { type: "submit" }, "Look up");
  const result = el("div", { id: "lookup-result", "aria-live": "polite" });
  const form = el("form", { class: "lookup" },
    el("label", { for: "lookup-peer" }, "Look someone up"), el("div", { class: "inline-form" }, input, submit), result);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, async () => {
      try {
        const person = await call("people", { peer: input.value.trim() });
        fill(result, personCard(person, names));
      } catch (err) {
        fill(result, el("p", { class: "error", role: "alert" }, err.message));
      }
    });
  });
  return form;
}

function personCard(person, names) {
  const profile = person.profile;
  const shown = { id: person.id, alias: null, name: profile ? profile.name : null };
  return el("div", { class: "person lookup-card", "data-peer": person.id },
    el("div", { class: "who-row" },
      avatar(person.id, shown.name, "large"),
      el("div", { class: "who-block" },
        el("span", {}, nameEl(shown), " ", degreeBadge(person.degree)),
        el("code", { class: "id full-id" }, person.id))),
    profile && profile.headline ? el("p", { class: "headline" }, profile.headline) : null,
    person.mutual.length === 0 ? el("p", { class: "mutual" }, "No mutual connections.") :
      personDetails({ mutual: person.mutual.map((m) => ({ id: m.id, name: m.name || names.get(m.id) })) }),
    person.degree === 1 ? null : el("div", { class: "actions" },
      el("a", { class: "button", href: `#/connect/${encodeURIComponent(person.id)}` }, "Connect")));
}

/**
 * Shows the connect form in `view`, for `invitee` if given; `via` attaches the introduction
 * that connection made of us and the invitee.
 */
export async function showConnect(view, invitee = "", via = "") {
  const peer = el("input", { id: "connect-peer", name: "peer", required: true, autocomplete: "off", spellcheck: "false", placeholder: "12D3KooW…", value: invitee || null });
  const note = el("textarea", { id: "connect-note", name: "note", rows: "4", maxlength: String(NOTE_MAX) });
  const counter = el("span", { id: "note-counter", class: "muted small", "aria-live": "polite" }, `0 / ${NOTE_MAX}`);
  const left = el("p", { class: "muted small", id: "invites-left" }, "");
  const submit = el("button", { type: "submit", class: "primary" }, "Send invite");
  const form = el("form", { class: "connect" },
    el("label", { for: "connect-peer" }, "Their Accord ID"), peer,
    el("label", { for: "connect-note" }, "A note, so they know who you are"), note,
    el("div", { class: "form-foot" }, counter, submit), left,
    via ? el("p", { class: "introduced" }, "The introduction goes with the invite, so they see who introduced you.") : null);
  note.addEventListener("input", () => {
    counter.textContent = `${[...note.value].length} / ${NOTE_MAX}`;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, async () => {
      const request = { peer: peer.value.trim(), note: note.value };
      if (via && peer.value.trim() === invitee) request.via = via;
      await call("connect", request);
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
