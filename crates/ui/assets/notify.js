// Browser notifications (only once the user allowed them, only while the tab is in the
// background) and the unread count in the tab's title.

const button = () => document.getElementById("notify-button");

/** Offers the "Notify me" button while the browser has not been asked yet. */
export function setUpNotifications() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  const offer = button();
  offer.hidden = false;
  offer.addEventListener("click", async () => {
    await Notification.requestPermission();
    offer.hidden = true;
  });
}

/** Raises a notification when the tab is hidden and the user allowed them. */
export function notify(title, body, onClick) {
  if (!document.hidden || !("Notification" in window)) return;
  if (Notification.permission !== "granted") return;
  const note = new Notification(title, { body: body.slice(0, 140), tag: title });
  note.onclick = () => {
    window.focus();
    if (onClick) onClick();
    note.close();
  };
}

/** Shows the unread count in the tab's title and on the Inbox and Invites links. */
export function showCounts(unread, invites) {
  document.title = unread > 0 ? `(${unread}) Accord` : "Accord";
  setBadge("unread-badge", unread);
  setBadge("invite-badge", invites);
}

function setBadge(id, count) {
  const badge = document.getElementById(id);
  badge.textContent = String(count);
  badge.hidden = !(count > 0);
}
