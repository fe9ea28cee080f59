// Mailboxes, as `accord mailbox` shows them: which connections hold our mail while this laptop
// is closed (state, when each was last reached, chosen by us or automatically), a way to pick
// or drop one, and what this node holds for its own connections. The daemon decides and checks
// everything; the page only asks.

import { call } from "./api.js";
import { el, fill, nameEl, namesOf, timeEl, busy, toast } from "./dom.js";

/** At most this many mailboxes hold our mail (design §11). */
const MAX_MAILBOXES = 2;

/** What each state means to the person reading it. */
const STATE_TEXT = {
  reachable: "Reachable: it took our registration the last time we asked.",
  unreachable: "Unreachable the last time we tried; mail waits in the senders' outboxes meanwhile.",
  refusing: "It does not serve as a mailbox.",
  unknown: "Not tried since the daemon started.",
};

/** Shows the mailbox status in `view`; returns its live-event handler. */
export async function showMailbox(view) {
  const page = new MailboxPage(view);
  await page.load();
  return (event) => page.onEvent(event);
}

class MailboxPage {
  constructor(view) {
    this.view = view;
  }

  async load() {
    let info;
    let connections;
    try {
      [info, connections] = await Promise.all([call("mailbox"), call("connections")]);
    } catch (err) {
      fill(this.view, el("h2", {}, "Mailboxes"), el("p", { class: "error" }, err.message));
      return;
    }
    this.render(info, connections);
  }

  render(info, connections) {
    const names = namesOf(connections);
    const byPeer = new Map(connections.map((c) => [c.peer, c]));
    const mine = el("ul", { class: "list mailboxes", "aria-label": "Your mailboxes" },
      info.mine.map((mailbox) => this.ownRow(mailbox, byPeer.get(mailbox.id) || { peer: mailbox.id })));
    const intro = el("p", { class: "muted" },
      "When this laptop is closed, your connections leave their already encrypted messages with ",
      "your mailboxes, which are connections of yours. A mailbox never reads them.");
    const parts = [el("h2", {}, "Mailboxes"), intro, el("h3", {}, "Holding your mail")];
    parts.push(info.mine.length > 0 ? mine : el("p", { class: "muted", id: "no-mailbox" },
      "None yet: one is chosen automatically among connections that stay online, or pick one below."));
    parts.push(el("p", { class: "muted small", id: "mailbox-announced" },
      `Connections that know where to leave your mail: ${info.announced} of ${connections.length}.`));
    if (info.mine.length < MAX_MAILBOXES) parts.push(this.picker(info, connections, names));
    parts.push(el("h3", {}, "Held here for your connections"), this.serving(info.serving));
    fill(this.view, parts);
  }

  ownRow(mailbox, connection) {
    const drop = el("button", { type: "button", class: "drop" }, "Stop using");
    drop.addEventListener("click", () => busy(drop, async () => {
      await call("mailbox_drop", { peer: mailbox.id });
      toast("That connection no longer holds your mail.");
      await this.load();
    }));
    const reached = mailbox.last_reached ? el("span", {}, "Last reached ", timeEl(mailbox.last_reached)) : "Never reached";
    return el("li", { class: "mailbox", "data-peer": mailbox.id, "data-state": mailbox.state },
      el("div", { class: "who-row" }, nameEl(connection),
        el("span", { class: `badge state-${mailbox.state}` }, mailbox.state),
        el("span", { class: "muted small" }, mailbox.pinned ? "chosen by you" : "chosen automatically")),
      el("p", { class: "muted small" }, STATE_TEXT[mailbox.state] || mailbox.state),
      el("p", { class: "muted small" }, reached),
      el("div", { class: "actions" }, drop));
  }

  picker(info, connections, names) {
    const taken = new Set(info.mine.map((m) => m.id));
    const choices = connections.filter((c) => !taken.has(c.peer) && c.state !== "awaiting_confirmation");
    if (choices.length === 0) return el("p", { class: "muted" }, "Connect with someone whose node stays online to add a mailbox.");
    const select = el("select", { id: "mailbox-choice", name: "peer" },
      choices.map((c) => el("option", { value: c.peer }, names.get(c.peer))));
    const use = el("button", { type: "submit", class: "primary" }, "Use as a mailbox");
    const form = el("form", { class: "connect mailbox-form" },
      el("label", { for: "mailbox-choice" }, "Add a mailbox (a connection whose node is often online)"),
      select, el("div", { class: "form-foot" }, use));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(use, async () => {
        await call("mailbox_use", { peer: select.value });
        toast("Your connections will be told to leave your mail there.");
        await this.load();
      });
    });
    return form;
  }

  serving(serving) {
    const kib = (serving.bytes / 1024).toFixed(serving.bytes < 10240 ? 1 : 0);
    return el("dl", { class: "facts", id: "mailbox-serving" },
      el("dt", {}, "Connections"), el("dd", { "data-field": "recipients" }, String(serving.recipients)),
      el("dt", {}, "Messages"), el("dd", { "data-field": "messages" }, String(serving.messages)),
      el("dt", {}, "Size"), el("dd", { "data-field": "bytes" }, `${kib} KiB`));
  }

  onEvent(event) {
    // A connection coming or going changes who can be picked; a stored message means a
    // mailbox was just reached.
    if (["invite_accepted", "invite_confirmed", "connection_revoked", "message_stored", "lagged"].includes(event.event)) {
      this.load();
    }
  }
}
