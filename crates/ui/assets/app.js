// The web app: routes between the views, keeps the counts in the title and the navigation
// current, and hands each live event to the view that shows it.

import { call, subscribe } from "./api.js";
import { showCounts, notify, setUpNotifications } from "./notify.js";
import { showInbox } from "./inbox.js";
import { showChat } from "./chat.js";
import { showInvites } from "./invites.js";
import { showPeople, showConnect, showSafetyNumber } from "./people.js";
import { showProfile } from "./profile.js";
import { showMailbox } from "./mailbox.js";
import { shortId, refreshAvatars, refreshNames } from "./dom.js";

const view = () => document.getElementById("view");

/** The open view: its name and, for a conversation, its event handler. */
const current = { name: "", onEvent: null };

const routes = {
  inbox: (shown) => showInbox(shown),
  chat: (shown, peer) => showChat(shown, peer),
  invites: (shown) => showInvites(shown, refreshCounts),
  people: (shown) => showPeople(shown),
  connect: (shown, peer, via) => showConnect(shown, peer, via),
  verify: (shown, peer) => showSafetyNumber(shown, peer),
  profile: (shown) => showProfile(shown),
  mailbox: (shown) => showMailbox(shown),
};

/** Counts routes, so a slow view that finishes after a newer one was opened is dropped. */
let routeGeneration = 0;

/**
 * Swaps in an empty view element and returns it. A view still loading for an earlier route
 * keeps filling the old, detached element, so it can never overwrite the newer view (an
 * accepted invite re-renders the invites while you already opened the conversation).
 */
function freshView() {
  const old = view();
  const fresh = old.cloneNode(false);
  delete fresh.dataset.shown;
  old.replaceWith(fresh);
  return fresh;
}

async function route() {
  const generation = ++routeGeneration;
  const [, name = "inbox", arg = "", second = ""] = location.hash.split("/");
  const show = routes[name] || routes.inbox;
  current.name = routes[name] ? name : "inbox";
  for (const link of document.querySelectorAll("[data-nav]")) {
    const here = link.dataset.nav === current.name || (current.name === "chat" && link.dataset.nav === "inbox");
    if (here) {
      link.setAttribute("aria-current", "page");
      // On a narrow screen the navigation scrolls sideways: keep the current section in sight.
      link.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
    else link.removeAttribute("aria-current");
  }
  const shown = freshView();
  current.onEvent = null;
  const handler = await show(shown, decodeURIComponent(arg), decodeURIComponent(second));
  if (generation !== routeGeneration) return;
  current.onEvent = handler;
  // The view is complete (tests and screenshots wait for this).
  shown.dataset.shown = current.name;
  // Opening a conversation marks it read.
  if (current.name === "chat") refreshCounts();
}

/** Re-reads the unread and pending-invite counts. */
async function refreshCounts() {
  try {
    const [inbox, status] = await Promise.all([call("inbox"), call("status")]);
    const unread = inbox.reduce((sum, conversation) => sum + conversation.unread, 0);
    showCounts(unread, status.pending_incoming);
  } catch (err) {
    console.warn("cannot read the counts", err);
  }
}

function onEvent(event) {
  if (current.onEvent) current.onEvent(event);
  switch (event.event) {
    case "message_received":
      notify(`Message from ${event.name || shortId(event.peer)}`, event.body, () => { location.hash = `#/chat/${event.peer}`; });
      refreshCounts();
      if (current.name === "inbox") route();
      break;
    case "invite_received":
      notify(`Invite from ${event.name || shortId(event.peer)}`, event.note || "", () => { location.hash = "#/invites"; });
      refreshCounts();
      if (current.name === "invites") route();
      break;
    case "invite_accepted":
    case "invite_withdrawn":
    case "connection_revoked":
      refreshCounts();
      if (["invites", "people", "inbox"].includes(current.name)) route();
      break;
    case "profile_updated":
      // Names and pictures change where they are; the lists that sort or group by them
      // are read again.
      refreshNames(event.peer, event.name);
      refreshAvatars(event.peer, event.version);
      if (current.name === "invites") route();
      break;
    case "introduction_received":
      notify(`${event.introducer_name || shortId(event.introducer)} introduced you`,
        `to ${event.name || shortId(event.peer)}${event.note ? `: ${event.note}` : ""}`,
        () => { location.hash = "#/people"; });
      if (current.name === "people") route();
      break;
    case "shared_list_updated":
      // Degrees, suggestions and an invite's mutual connections may have changed.
      if (["invites", "people"].includes(current.name)) route();
      break;
    case "lagged":
      refreshCounts();
      route();
      break;
    default:
      break;
  }
}

function onStreamState(open) {
  document.getElementById("live-state").hidden = open;
  // Whatever happened while the stream was down is read again.
  if (open) refreshCounts();
}

window.addEventListener("hashchange", route);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refreshCounts();
});
setUpNotifications();
subscribe(onEvent, onStreamState);
route();
refreshCounts();
