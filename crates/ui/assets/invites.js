// Invites: incoming ones with their note (and the inviter's name, headline and mutual
// connections when the API gives them) to accept, decline or block; outgoing ones to
// withdraw.

import { call } from "./api.js";
import { el, fill, displayName, nameEl, avatar, shortId, timeEl, busy, toast, personDetails, namesOf } from "./dom.js";

/** Shows the pending invites in `view`; `changed` is called after every action. */
export async function showInvites(view, changed) {
  fill(view, el("h2", {}, "Invites"), el("p", { class: "muted" }, "Loading…"));
  let invites;
  let names;
  try {
    const [all, connections] = await Promise.all([call("invites", {}), call("connections")]);
    invites = all;
    names = namesOf(connections);
  } catch (err) {
    fill(view, el("h2", {}, "Invites"), el("p", { class: "error" }, err.message));
    return null;
  }
  const pending = invites.filter((invite) => invite.state === "pending");
  const incoming = pending.filter((invite) => invite.direction === "incoming");
  const outgoing = pending.filter((invite) => invite.direction === "outgoing");
  const redraw = () => { changed(); showInvites(view, changed); };
  fill(view,
    el("h2", {}, "Invites"),
    el("h3", {}, `Received (${incoming.length})`),
    incoming.length === 0 ? el("p", { class: "muted" }, "No invites waiting.") :
      el("ul", { class: "list invites" }, incoming.map((invite) => incomingRow(invite, names, redraw))),
    el("h3", {}, `Sent (${outgoing.length})`),
    outgoing.length === 0 ? el("p", { class: "muted" }, "No invites of yours are waiting. ", el("a", { href: "#/connect" }, "Connect with someone")) :
      el("ul", { class: "list invites" }, outgoing.map((invite) => outgoingRow(invite, names, redraw))));
  return null;
}

function who(invite) {
  return el("div", { class: "who-row" },
    avatar(invite.peer, invite.alias || invite.name, "large"),
    el("div", { class: "who-block" },
      nameEl(invite),
      invite.name || invite.alias ? el("span", { class: "id muted" }, shortId(invite.peer)) : null,
      el("code", { class: "id full-id" }, invite.peer)));
}

function incomingRow(invite, names, redraw) {
  const act = (label, className, run) => {
    const button = el("button", { type: "button", class: className }, label);
    button.addEventListener("click", () => busy(button, async () => {
      await run();
      redraw();
    }));
    return button;
  };
  return el("li", { class: "invite", "data-invite-id": invite.invite_id, "data-peer": invite.peer },
    who(invite),
    personDetails(invite, names),
    invite.note ? el("blockquote", { class: "note" }, invite.note) : el("p", { class: "note muted" }, "(no note)"),
    el("p", { class: "muted small" }, "Received ", timeEl(invite.created_at), " · expires ", timeEl(invite.expires_at)),
    el("div", { class: "actions" },
      act("Accept", "accept primary", async () => {
        await call("accept", { target: invite.invite_id });
        toast(`You are now connected with ${displayName(invite)}.`);
      }),
      act("Decline", "decline", () => call("decline", { target: invite.invite_id })),
      act("Block", "block danger", async () => {
        await call("block", { peer: invite.peer });
        await call("decline", { target: invite.invite_id }).catch(() => null);
      })));
}

function outgoingRow(invite, names, redraw) {
  const withdraw = el("button", { type: "button", class: "withdraw" }, "Withdraw");
  withdraw.addEventListener("click", () => busy(withdraw, async () => {
    await call("withdraw", { target: invite.invite_id });
    redraw();
  }));
  return el("li", { class: "invite", "data-invite-id": invite.invite_id, "data-peer": invite.peer },
    who(invite),
    personDetails(invite, names),
    invite.note ? el("blockquote", { class: "note" }, invite.note) : null,
    el("p", { class: "muted small" }, "Sent ", timeEl(invite.created_at), " · expires ", timeEl(invite.expires_at)),
    el("div", { class: "actions" }, withdraw));
}
