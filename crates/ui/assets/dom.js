// Building the page from data. Everything a peer wrote enters the page as text nodes; the only
// HTML inserted is a message's `html`, which the server rendered from Markdown with every raw
// tag escaped and only http(s)/mailto links kept.

/**
 * A new element: `attrs` sets attributes (`class`, `data-*`, `aria-*`, …) and `on*`
 * functions become listeners; children are nodes or strings (as text).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces the children of `node`. */
export function fill(node, ...children) {
  node.replaceChildren();
  for (const child of children.flat()) {
    if (child) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A peer's name for people: alias, then profile name, then the short Accord ID. */
export function displayName(item) {
  return item.alias || item.name || shortId(item.peer || item.id || "");
}

/**
 * A person's shown name as an element that live profile updates can rename: an alias is
 * the owner's own choice and stays.
 */
export function nameEl(item, tag = "span", className = "who") {
  const peer = item.peer || item.id || "";
  return el(tag, { class: className, "data-name-of": peer, "data-alias": item.alias ? "1" : null }, displayName(item));
}

/** The first and last characters of an Accord ID. */
export function shortId(id) {
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id;
}

/** A timestamp as local time, with the date unless it is today. */
export function when(rfc3339) {
  if (!rfc3339) return "";
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return rfc3339;
  const today = new Date().toDateString() === date.toDateString();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return today ? time : `${date.toLocaleDateString()} ${time}`;
}

/** A `<time>` element for a timestamp. */
export function timeEl(rfc3339) {
  return el("time", { datetime: rfc3339 }, when(rfc3339));
}

/** Shows a short message at the bottom of the page. */
export function toast(text) {
  const node = document.getElementById("toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 5000);
}

/** Runs `action` for a button, disabling it meanwhile and showing any failure. */
export async function busy(button, action) {
  button.disabled = true;
  try {
    await action();
  } catch (err) {
    toast(err.message);
  } finally {
    button.disabled = false;
  }
}

/**
 * What the API may add about a person (profiles, mutual connections, introductions). Where
 * the API gives only IDs (an invite's `mutual` and `introduced_by`, always our connections),
 * `names` (ID → shown name, from `connections`) names them.
 */
export function personDetails(item, names = new Map()) {
  const details = [];
  if (item.headline) details.push(el("p", { class: "headline" }, item.headline));
  const nameOf = (m) => (typeof m === "string" ? names.get(m) || shortId(m) : displayName(m));
  const mutual = item.mutual;
  if (Array.isArray(mutual) && mutual.length > 0) {
    details.push(el("p", { class: "mutual" }, `Mutual connections: ${mutual.map(nameOf).join(", ")}`));
  } else if (typeof mutual === "number" && mutual > 0) {
    details.push(el("p", { class: "mutual" }, `${mutual} mutual connection${mutual === 1 ? "" : "s"}`));
  }
  if (item.introduced_by) {
    details.push(el("p", { class: "introduced" }, `Introduced by ${nameOf(item.introduced_by)}`));
  }
  return details;
}

/** ID → shown name of every connection, for naming the IDs other answers hold. */
export function namesOf(connections) {
  return new Map(connections.map((c) => [c.peer, displayName(c)]));
}

/** Initials for a name, shown where there is no avatar ("?" for someone with no name). */
function initials(name) {
  const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return letters.map((word) => [...word][0] || "").join("").toUpperCase() || "?";
}

/**
 * A person's avatar: their picture from `/api/avatar` once it loads, their initials until then
 * or when there is none. `peer` is an Accord ID, or "" for our own. Live updates find it by
 * `data-avatar` and load it again (see `refreshAvatars`).
 */
export function avatar(peer, name, size = "") {
  const picture = el("img", { class: "avatar-img", alt: "", "data-avatar": peer, src: avatarUrl(peer) });
  const holder = el("span", { class: `avatar ${size}`.trim(), "aria-hidden": "true" },
    el("span", { class: "initials" }, initials(name)), picture);
  picture.addEventListener("load", () => holder.classList.add("has-picture"));
  picture.addEventListener("error", () => holder.classList.remove("has-picture"));
  return holder;
}

/** The address of a person's avatar; `version` makes the browser fetch a changed one. */
function avatarUrl(peer, version) {
  const params = new URLSearchParams();
  if (peer) params.set("peer", peer);
  if (version !== undefined) params.set("v", String(version));
  const query = params.toString();
  return query ? `/api/avatar?${query}` : "/api/avatar";
}

/** Loads the avatars of `peer` on the page again (their profile changed to `version`). */
export function refreshAvatars(peer, version, own = false) {
  for (const picture of document.querySelectorAll("img[data-avatar]")) {
    const shown = picture.dataset.avatar;
    if (shown === peer || (own && shown === "")) picture.src = avatarUrl(shown, version);
  }
}

/** Puts a new profile name on every place that shows `peer` by name (unless an alias wins). */
export function refreshNames(peer, name) {
  for (const node of document.querySelectorAll("[data-name-of]")) {
    if (node.dataset.nameOf === peer && !node.dataset.alias) node.textContent = name;
  }
}
