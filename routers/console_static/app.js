// The console's shell: sign-in, navigation and the hash router (#/tasks, #/runs/<id>, ...).
import { api, claims, clearToken, isAuthOff, setAuthOff, setToken, token } from "./api.js";
import { errorBox, h } from "./dom.js";
import * as pages from "./pages.js";

const main = document.getElementById("main");
let cleanups = [];

// `toolbox up` prints a link with the token in the fragment (#token=...): the browser never sends
// a fragment to a server, and the token leaves the address bar (and history) at once.
function takeTokenFromFragment() {
  const match = /^#token=([^&]+)/.exec(location.hash);
  if (!match) return;
  setToken(decodeURIComponent(match[1]));
  history.replaceState(null, "", `${location.pathname}#/tasks`);
}

function showShell(signedIn) {
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  if (!signedIn) return;
  const c = claims();
  document.getElementById("who-name").textContent = isAuthOff() ? "auth is off" : (c && c.sub) || "unknown";
  document.getElementById("who-role").textContent = isAuthOff() ? "admin" : (c && c.role) || "?";
  document.getElementById("sign-out").hidden = isAuthOff();
}

function signInPage(message) {
  showShell(false);
  const area = h("textarea", { id: "token", name: "token", required: true, spellcheck: false, autocomplete: "off",
    "aria-describedby": "token-help token-err", placeholder: "eyJhbGciOi…" });
  const err = h("div.err", { id: "token-err", role: "alert" }, message || "");
  const form = h("form.panel", { "aria-label": "Sign in" },
    h("h1", {}, "Sign in to Toolbox"),
    h("p.muted", {}, "Paste a bearer token. It stays in this browser tab and is sent only in the Authorization header."),
    h("div.field", {}, h("label", { for: "token" }, "Token"), area,
      h("span.help", { id: "token-help" }, "Mint one with ", h("code", {}, "uv run toolbox token --role viewer"), ", or open the link that toolbox up prints.")),
    err, h("div.actions", {}, h("button.btn", { type: "submit" }, "Sign in")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = area.value.trim();
    if (!value) { err.textContent = "Paste a token first."; area.focus(); return; }
    setToken(value);
    let why;
    try { why = await refusal(); } catch (e) { why = `The Toolbox API cannot be reached (${e}).`; clearToken(); }
    if (why === null) {
      if (!location.hash || location.hash === "#/signin") location.hash = "#/tasks"; else route();
    } else { err.textContent = `That token was refused: ${why} Check that it is complete and not expired.`; area.focus(); }
  });
  main.replaceChildren(h("div.signin", {}, form));
  area.focus();
}

// Null when the server accepts the token, else why it refused it (without the global 401 handler).
async function refusal() {
  const response = await fetch("/tasks/available", { headers: { Accept: "application/json", Authorization: `Bearer ${token()}` } });
  if (response.ok) return null;
  let body = {};
  try { body = await response.json(); } catch { /* not JSON */ }
  clearToken();
  return body.message || `HTTP ${response.status}`;
}

async function route() {
  cleanups.forEach((f) => f());
  cleanups = [];
  const [path, search] = location.hash.replace(/^#/, "").split("?");
  const query = new URLSearchParams(search || "");
  const parts = (path || "/tasks").split("/").filter(Boolean).map(decodeURIComponent);
  if (!token() && !isAuthOff()) { signInPage(); return; }
  showShell(true);
  const page = parts[0] || "tasks";
  for (const a of document.querySelectorAll("#nav a")) {
    const active = a.dataset.page === page || (page === "runs" && a.dataset.page === "history");
    a.classList.toggle("active", active);
    if (active) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  main.replaceChildren(h("p.muted", {}, "Loading…"));
  try {
    if (page === "tasks" && parts[1]) await pages.taskPage(main, parts[1]);
    else if (page === "tasks") await pages.tasksPage(main);
    else if (page === "runs" && parts[1]) await pages.runPage(main, parts[1], (f) => cleanups.push(f));
    else if (page === "history") await pages.historyPage(main, query);
    else if (page === "schedules") await pages.schedulesPage(main);
    else if (page === "workers") await pages.workersPage(main);
    else if (page === "etl" && parts[1]) await pages.rejectsPage(main, parts[1], query);
    else if (page === "etl") await pages.etlPage(main);
    else main.replaceChildren(h("div.panel", {}, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/tasks" }, "Go to the tasks"))));
    document.title = `${(main.querySelector("h1") || {}).textContent || "Toolbox"} · Toolbox console`;
  } catch (err) {
    if (err.status === 401) return;  // handled by the unauthorized listener
    main.replaceChildren(h("div.panel", {}, h("h1", {}, err.status === 404 ? "Not found" : "Could not load this page"), errorBox(err)));
  }
}

window.addEventListener("toolbox:unauthorized", (e) => {
  clearToken();
  signInPage((e.detail && e.detail.message) || "Your session ended; sign in again.");
});
window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#token=")) { takeTokenFromFragment(); pages.forgetCatalog(); }
  route();
});
document.getElementById("sign-out").addEventListener("click", () => {
  clearToken();
  pages.forgetCatalog();
  location.hash = "#/signin";
  signInPage("You are signed out.");
});

async function start() {
  takeTokenFromFragment();
  if (!token()) {
    // A server with auth switched off answers without a token.
    try { setAuthOff((await fetch("/tasks/available", { headers: { Accept: "application/json" } })).ok); } catch { setAuthOff(false); }
  }
  route();
}
start();
