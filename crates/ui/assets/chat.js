// A conversation: the newest page first, earlier pages loaded as you scroll up (back to the
// first message), live message states, and the composer (Enter sends, Shift+Enter is a new
// line). Only the pages scrolled to are ever in the page, so a long conversation opens as
// fast as a short one.

import { call } from "./api.js";
import { el, fill, displayName, avatar, shortId, timeEl, busy, toast } from "./dom.js";

/** Messages per page, the API's `history` limit. */
const PAGE = 50;
/** Earlier messages are fetched when the view is this close (px) to the top. */
const NEAR_TOP = 300;
/** How far each state is along the way, so a late event never moves a message back. */
const STATE_ORDER = ["queued", "sent", "stored", "delivered", "read"];
/** States of messages not yet on the page are remembered for at most this many messages. */
const EARLY_STATES = 64;

/** Shows the conversation with `peer` in `view`; returns its live-event handler. */
export async function showChat(view, peer) {
  const chat = new Chat(peer);
  fill(view, chat.root);
  chat.nameFrom();
  await chat.loadNewest();
  // For the `ui` benchmark (accord-bench): when the first page of messages was on screen.
  performance.mark("accord-chat-rendered");
  chat.composer.focus();
  return (event) => chat.onEvent(event);
}

class Chat {
  constructor(peer) {
    this.peer = peer;
    this.byId = new Map();
    // A state event can overtake the `history` read that puts its message on the page.
    this.early = new Map();
    this.oldest = null;
    this.complete = false;
    this.loading = false;
    this.staleTail = false;
    this.build();
  }

  build() {
    this.title = el("h2", { class: "chat-title" }, shortId(this.peer));
    this.start = el("p", { class: "start muted", hidden: true }, "This is the start of the conversation.");
    this.list = el("ol", { class: "messages", "aria-label": "Messages" });
    this.scroller = el("div", { class: "scroller", tabindex: "0", "aria-label": "Conversation" }, this.start, this.list);
    this.scroller.addEventListener("scroll", () => this.onScroll());
    this.composer = el("textarea", {
      id: "compose", rows: "2", "aria-label": "Message",
      placeholder: "Message (Markdown)",
      title: "Enter sends, Shift+Enter starts a new line",
    });
    this.composer.addEventListener("keydown", (event) => this.onKey(event));
    this.sendButton = el("button", { type: "submit" }, "Send");
    const form = el("form", { class: "compose" }, this.composer, this.sendButton);
    form.addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    const header = el("div", { class: "chat-header" }, el("a", { href: "#/inbox", class: "back", "aria-label": "Back to the inbox" }, "←"),
      this.face = avatar(this.peer, ""), this.title, el("a", { href: `#/verify/${encodeURIComponent(this.peer)}`, class: "quiet-link" }, "Safety number"));
    this.root = el("section", { class: "chat", "aria-label": "Conversation" }, header, this.scroller, form);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && this.staleTail && this.root.isConnected) this.syncTail();
    });
  }

  /** Puts the connection's name in the header when it has one. */
  async nameFrom() {
    try {
      const connections = await call("connections");
      const connection = connections.find((c) => c.peer === this.peer);
      if (connection) {
        this.title.textContent = displayName(connection);
        const face = avatar(this.peer, connection.alias || connection.name);
        this.face.replaceWith(face);
        this.face = face;
        // A profile change renames the conversation live, unless an alias names it.
        this.title.dataset.nameOf = this.peer;
        if (connection.alias) this.title.dataset.alias = "1";
      }
    } catch (err) {
      console.warn("cannot read connections", err);
    }
  }

  async loadNewest() {
    let messages;
    try {
      messages = await call("history", { peer: this.peer, limit: PAGE });
    } catch (err) {
      fill(this.list, el("li", { class: "error" }, err.message));
      return;
    }
    this.list.replaceChildren(...messages.map((m) => this.messageEl(m)));
    this.oldest = messages.length > 0 ? messages[0].message_id : null;
    this.setComplete(messages.length < PAGE);
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.fillViewport();
  }

  /** Loads the page before the oldest loaded message, keeping the view where it was. */
  async loadEarlier() {
    if (this.loading || this.complete || !this.oldest) return;
    this.loading = true;
    try {
      const messages = await call("history", { peer: this.peer, limit: PAGE, before: this.oldest });
      const fresh = messages.filter((m) => !this.byId.has(m.message_id));
      const height = this.scroller.scrollHeight;
      this.list.prepend(...fresh.map((m) => this.messageEl(m)));
      this.scroller.scrollTop += this.scroller.scrollHeight - height;
      if (messages.length > 0) this.oldest = messages[0].message_id;
      this.setComplete(messages.length < PAGE);
    } catch (err) {
      toast(err.message);
    } finally {
      this.loading = false;
    }
    this.fillViewport();
  }

  /** Keeps loading while the loaded messages do not fill the view. */
  fillViewport() {
    if (!this.complete && this.scroller.scrollHeight <= this.scroller.clientHeight + NEAR_TOP) this.loadEarlier();
  }

  setComplete(complete) {
    this.complete = complete;
    this.start.hidden = !complete;
  }

  onScroll() {
    if (this.scroller.scrollTop < NEAR_TOP) this.loadEarlier();
  }

  /** Reads the newest page again: appends what is new, brings states up to date. */
  async syncTail() {
    this.staleTail = false;
    const atBottom = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 40;
    const messages = await call("history", { peer: this.peer, limit: PAGE });
    for (const message of messages) {
      if (this.byId.has(message.message_id)) this.setState(message.message_id, message.state, message.reason);
      else this.list.append(this.messageEl(message));
    }
    if (this.oldest === null && messages.length > 0) this.oldest = messages[0].message_id;
    if (atBottom) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  messageEl(message) {
    const outgoing = message.from !== this.peer;
    const body = el("div", { class: "body" });
    // `html` is the server's rendering of the Markdown, with raw HTML escaped.
    if (typeof message.html === "string") body.innerHTML = message.html;
    else body.textContent = message.body;
    const meta = el("div", { class: "meta" }, timeEl(message.sent_at));
    const item = el("li", { class: outgoing ? "msg out" : "msg in", "data-id": message.message_id }, body, meta);
    if (outgoing) {
      const state = el("span", { class: "state", "data-state": message.state, title: message.reason || "" }, message.state);
      meta.append(" · ", state);
    }
    this.byId.set(message.message_id, item);
    const early = this.early.get(message.message_id);
    if (early) {
      this.early.delete(message.message_id);
      this.setState(message.message_id, early);
    }
    return item;
  }

  setState(id, state, reason) {
    if (!this.byId.has(id)) {
      if (this.early.size >= EARLY_STATES) this.early.delete(this.early.keys().next().value);
      this.early.set(id, state);
      return;
    }
    const label = this.byId.get(id).querySelector(".state");
    if (!label) return;
    const from = STATE_ORDER.indexOf(label.dataset.state);
    if (STATE_ORDER.indexOf(state) < from) return;
    label.dataset.state = state;
    label.textContent = state;
    label.title = reason || "";
  }

  onEvent(event) {
    if (event.peer !== this.peer || !this.root.isConnected) return;
    if (event.event === "message_received") {
      if (document.hidden) {
        // Reading the newest page would mark it read while nobody looks.
        this.staleTail = true;
        this.list.append(this.messageEl({ ...event, from: this.peer, state: "delivered" }));
      } else {
        this.syncTail().catch((err) => toast(err.message));
      }
    } else if (event.message_id && event.event.startsWith("message_")) {
      // message_delivered, message_read, and any later state (message_stored).
      this.setState(event.message_id, event.event.slice("message_".length));
    }
  }

  onKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.send();
    }
  }

  send() {
    const body = this.composer.value;
    if (body.trim() === "") return;
    busy(this.sendButton, async () => {
      await call("send", { peer: this.peer, body });
      this.composer.value = "";
      this.scroller.scrollTop = this.scroller.scrollHeight;
      await this.syncTail();
      this.scroller.scrollTop = this.scroller.scrollHeight;
    });
  }
}
