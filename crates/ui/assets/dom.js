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

/** What the API may add about a person (profiles, mutual connections, introductions). */
export function personDetails(item) {
  const details = [];
  if (item.headline) details.push(el("p", { class: "headline" }, item.headline));
  const mutual = item.mutual;
  if (Array.isArray(mutual) && mutual.length > 0) {
    const names = mutual.map((m) => (typeof m === "string" ? shortId(m) : displayName(m)));
    details.push(el("p", { class: "mutual" }, `Mutual connections: ${names.join(", ")}`));
  } else if (typeof mutual === "number" && mutual > 0) {
    details.push(el("p", { class: "mutual" }, `${mutual} mutual connection${mutual === 1 ? "" : "s"}`));
  }
  if (item.introduced_by) {
    const by = typeof item.introduced_by === "string" ? shortId(item.introduced_by) : displayName(item.introduced_by);
    details.push(el("p", { class: "mutual" }, `Introduced by ${by}`));
  }
  return details;
}
