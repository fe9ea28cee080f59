// The inbox: conversations, most recent first, with unread counts.

import { call } from "./api.js";
import { el, fill, nameEl, avatar, timeEl } from "./dom.js";

/** Shows the inbox in `view`. */
export async function showInbox(view) {
  fill(view, el("h2", {}, "Inbox"), el("p", { class: "muted" }, "Loading…"));
  let conversations;
  try {
    conversations = await call("inbox");
  } catch (err) {
    fill(view, el("h2", {}, "Inbox"), el("p", { class: "error" }, err.message));
    return null;
  }
  if (conversations.length === 0) {
    fill(view, el("h2", {}, "Inbox"),
      el("p", { class: "muted" }, "No conversations yet. Open one from ",
        el("a", { href: "#/people" }, "People"), ", or ",
        el("a", { href: "#/connect" }, "connect"), " with someone first."));
    return null;
  }
  fill(view, el("h2", {}, "Inbox"), el("ul", { class: "list inbox" }, conversations.map(row)));
  return null;
}

function row(conversation) {
  const unread = conversation.unread > 0;
  return el("li", { class: unread ? "unread" : "" },
    el("a", { class: "row", href: `#/chat/${encodeURIComponent(conversation.peer)}`, "data-peer": conversation.peer },
      avatar(conversation.peer, conversation.alias || conversation.name),
      el("span", { class: "row-main" },
        nameEl(conversation),
        el("span", { class: "preview" }, conversation.preview)),
      el("span", { class: "row-side" },
        timeEl(conversation.last_message_at),
        unread ? el("span", { class: "badge", "aria-label": `${conversation.unread} unread` }, String(conversation.unread)) : null)));
}
