// The API client: the bearer token (kept in this tab's sessionStorage), JSON calls and run streams.
const KEY = "toolbox.token";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export function token() { return sessionStorage.getItem(KEY); }
export function setToken(value) { sessionStorage.setItem(KEY, value.trim()); }
export function clearToken() { sessionStorage.removeItem(KEY); }

// The token's own claims (subject, role, expiry): shown to the user; the server verifies them.
export function claims(value = token()) {
  try {
    const part = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = part + "=".repeat((4 - part.length % 4) % 4);
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0))));
  } catch { return null; }
}

const RANK = { viewer: 1, operator: 2, admin: 3 };
// True when the server answers without a token (AUTH_ENABLED=false): everyone acts as admin there.
let authOff = false;
export function setAuthOff(value) { authOff = value; }
export function isAuthOff() { return authOff; }
export function can(role) {
  if (authOff) return true;
  const c = claims();
  return !!c && (RANK[c.role] || 0) >= RANK[role];
}

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

export async function api(path, { method = "GET", body, query } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === "") continue;
      for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, headers: headers(body !== undefined ? { "Content-Type": "application/json" } : {}) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try { response = await fetch(url, init); } catch (err) {
    throw new ApiError(0, { message: "The Toolbox API cannot be reached.", description: String(err) });
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent("toolbox:unauthorized", { detail: data }));
    throw new ApiError(response.status, data);
  }
  return data;
}

const FINAL = ["SUCCESS", "FAILURE", "REVOKED"];

// Follows a run's Server-Sent Events with fetch (the token goes in a header, never in a URL),
// reconnecting with Last-Event-ID after a network drop or a stream cut
// before the run's final state, until the stream ends after it.
export function followRun(taskId, onEvent, onState) {
  const controller = new AbortController();
  let lastId = null;
  let stopped = false;
  let delay = 500;
  let final = false;  // a stream that ends before the final state was cut (Redis lost): reconnect

  async function connect() {
    while (!stopped) {
      try {
        const h = headers({ Accept: "text/event-stream" });
        if (lastId) h["Last-Event-ID"] = lastId;
        const response = await fetch(`/tasks/status/${encodeURIComponent(taskId)}/events`,
          { headers: h, signal: controller.signal, cache: "no-store" });
        if (!response.ok) {
          let data = null; try { data = await response.json(); } catch { /* not JSON */ }
          onState("error", new ApiError(response.status, data));
          return;
        }
        onState("live");
        delay = 500;
        await read(response.body.getReader());
        if (!final) throw new Error("the stream was cut before the run's final state");
        onState("ended");
        return;  // the server ended the stream after the final state
      } catch (err) {
        if (stopped) return;
        onState("reconnecting", err);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 8000);
      }
    }
  }

  async function read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        if (buffer.trim()) dispatch(buffer);
        return;
      }
      buffer += decoder.decode(value, { stream: true });
      const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
      buffer = blocks.pop();
      for (const block of blocks) dispatch(block);
    }
  }

  function dispatch(block) {
    let event = "message"; let id = null; const data = [];
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (!line || line.startsWith(":")) continue;
      const at = line.indexOf(":");
      const name = at < 0 ? line : line.slice(0, at);
      let value = at < 0 ? "" : line.slice(at + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (name === "event") event = value;
      else if (name === "id") id = value;
      else if (name === "data") data.push(value);
    }
    if (!data.length) return;
    if (id) lastId = id;
    let parsed;
    try { parsed = JSON.parse(data.join("\n")); } catch { return; /* a malformed event is skipped */ }
    if (event === "status" && FINAL.includes(parsed.status)) final = true;
    onEvent(event, parsed);
  }

  connect();
  return () => { stopped = true; controller.abort(); };
}
