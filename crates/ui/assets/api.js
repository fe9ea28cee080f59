// The page's only ways to the daemon: control-API requests through POST /api/call, and the
// event stream of GET /api/events. Both go through the web app's server, which checks the
// session cookie and this page's Origin.

/** Thrown when the daemon refused a request; `message` is the daemon's own reason. */
export class CallError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Sends one control-API request (`method`, optional `params`) and returns its result. */
export async function call(method, params) {
  const request = params === undefined ? { method } : { method, params };
  const response = await fetch("/api/call", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
    credentials: "same-origin",
  });
  if (response.status === 401) {
    loggedOut();
    throw new CallError("Your session has ended: run `accord ui` for a new login link.", 401);
  }
  const text = await response.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
    data = null;
  }
  if (!response.ok) {
    const reason = (data && data.error && data.error.message) || text || response.statusText;
    throw new CallError(reason, response.status);
  }
  return data;
}

/** Opens the live event stream; `onEvent` gets each API event object. */
export function subscribe(onEvent, onState) {
  const source = new EventSource("/api/events");
  source.onmessage = (message) => {
    try {
      onEvent(JSON.parse(message.data));
    } catch (err) {
      console.warn("unreadable event", err);
    }
  };
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
  return source;
}

function loggedOut() {
  document.body.classList.add("logged-out");
}
