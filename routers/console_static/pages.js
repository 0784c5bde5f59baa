// The console's pages. Each takes the <main> element and the route's arguments and fills it.
import { api, can, followRun } from "./api.js";
import { cronInWords } from "./cron.js";
import { ago, append, badge, duration, emptyState, errorBox, h, prose, when } from "./dom.js";
import { buildForm } from "./form.js";
import { confirmAction, toast } from "./ui.js";

const FINAL = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
const STATES = ["PENDING", "STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE", "REVOKED"];
let catalogCache = null;

function setPage(main, ...children) { main.replaceChildren(); append(main, children); }

async function catalog() {
  if (!catalogCache) catalogCache = api("/tasks/available").catch((err) => { catalogCache = null; throw err; });
  return catalogCache;
}
export function forgetCatalog() { catalogCache = null; }

function head(title, subtitle, ...actions) {
  return h("div.page-head", {}, h("div", {}, h("h1", {}, title), subtitle ? h("p.muted", {}, subtitle) : null),
    actions.length ? h("div.actions", {}, actions) : null);
}
const runLink = (id) => h("a.mono", { href: `#/runs/${id}` }, id.slice(0, 8));

// ---- Tasks ------------------------------------------------------------------------------
export async function tasksPage(main) {
  const data = await catalog();
  const entries = Object.entries(data.available_tasks).sort(([, a], [, b]) => a.name.localeCompare(b.name));
  const filter = h("input.search", { type: "search", id: "task-filter", placeholder: "Filter by name or description",
    "aria-label": "Filter tasks" });
  const list = h("div");
  setPage(main, head("Tasks", `${data.total_tasks} tasks discovered from background/tasks/`), h("div.filters", {}, filter), list);
  function render() {
    const q = filter.value.trim().toLowerCase();
    const domains = new Map();
    for (const [key, t] of entries) {
      if (q && !`${t.name} ${t.description}`.toLowerCase().includes(q)) continue;
      const domain = t.name.split(".")[0];
      if (!domains.has(domain)) domains.set(domain, []);
      domains.get(domain).push([key, t]);
    }
    list.replaceChildren();
    if (!domains.size) { list.append(h("div.panel", {}, emptyState("No task matches", `Nothing is called or described “${filter.value}”.`))); return; }
    for (const [domain, tasks] of domains) {
      list.append(h("section.domain", { "aria-label": `Domain ${domain}` }, h("h3", {}, domain),
        h("div.task-list", {}, tasks.map(([key, t]) => taskCard(key, t)))));
    }
  }
  filter.addEventListener("input", render);
  render();
}

function taskCard(key, t) {
  const meta = [h("span.tag", { title: "Queue" }, `queue ${t.queue}`)];
  if (t.single_run) meta.push(h("span.badge.warn", { title: "Never runs twice at the same time" }, "single run"));
  return h("article.task-card", { "data-task": t.name },
    h("h2", {}, h("a", { href: `#/tasks/${encodeURIComponent(key)}` }, t.name)),
    h("p.desc", {}, prose(t.description) || h("span.muted", {}, "No description.")),
    h("div.meta", {}, meta),
    h("div.meta", {}, h("span.label-sm", {}, "Schedule"), t.schedule ? [h("span", {}, cronInWords(t.schedule)), h("code", {}, t.schedule)] : h("span", {}, "Runs on demand only")),
    h("div.actions", {}, h("a.btn.small", { href: `#/tasks/${encodeURIComponent(key)}` }, can("operator") ? "Run…" : "Details")));
}

// ---- Run form ---------------------------------------------------------------------------
export async function taskPage(main, key) {
  const data = await catalog();
  const t = data.available_tasks[key] || Object.values(data.available_tasks).find((x) => x.name === key);
  if (!t) { setPage(main, head("Task not found"), h("div.panel", {}, emptyState("No such task", `“${key}” is not in the catalog.`))); return; }
  const operator = can("operator");
  const side = h("div.panel", {}, h("h2", {}, "About"), h("dl.kv", {},
    h("dt", {}, "Name"), h("dd", {}, h("code", {}, t.name)),
    h("dt", {}, "Queue"), h("dd", {}, t.queue),
    h("dt", {}, "Schedule"), h("dd", {}, t.schedule ? [cronInWords(t.schedule), h("br"), h("code", {}, t.schedule)] : "On demand"),
    h("dt", {}, "Single run"), h("dd", {}, t.single_run ? "Yes: never two at once" : "No"),
    h("dt", {}, "Endpoint"), h("dd", {}, h("code", {}, `POST ${t.endpoint}`)),
    h("dt", {}, "Recent runs"), h("dd", {}, h("a", { href: `#/history?task=${encodeURIComponent(t.name)}` }, "History of this task"))));
  let body;
  if (operator) {
    const { form } = buildForm(t.parameters, {
      onSubmit: async (values) => {
        const accepted = await api(t.endpoint, { method: "POST", body: values });
        toast(`Run ${accepted.task_id.slice(0, 8)} accepted.`);
        location.hash = `#/runs/${accepted.task_id}`;
      },
    });
    body = h("div.panel", {}, h("h2", {}, "Run with parameters"), form);
  } else {
    body = h("div.panel", {}, h("h2", {}, "Parameters"), h("p.notice", {}, "Your role is viewer: you can follow runs but not start them."),
      paramTable(t.parameters));
  }
  setPage(main, h("div.crumbs", {}, h("a", { href: "#/tasks" }, "Tasks"), " / ", t.name.split(".")[0]),
    head(t.name, prose(t.description)), h("div.grid2", {}, body, side));
  const firstInput = main.querySelector("form input, form select, form textarea");
  if (firstInput) firstInput.focus();
}

function paramTable(schema) {
  const rows = Object.entries(schema.properties || {});
  if (!rows.length) return h("p.muted", {}, "This task takes no parameters.");
  const required = new Set(schema.required || []);
  return h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Parameter"), h("th", {}, "Default"), h("th", {}, "Description"))),
    h("tbody", {}, rows.map(([name, p]) => h("tr", {}, h("td", {}, h("code", {}, name), required.has(name) ? " *" : ""),
      h("td", {}, p.default === undefined ? "—" : JSON.stringify(p.default)), h("td", {}, prose(p.description) || "")))));
}

// ---- Run page ---------------------------------------------------------------------------
export async function runPage(main, taskId, cleanup) {
  let view = await api(`/tasks/status/${encodeURIComponent(taskId)}`);
  const operator = can("operator");
  const stateBadge = h("span"); const live = h("span.live", { hidden: true }, "Live");
  const bar = h("div"); const progress = h("div.progress", { role: "progressbar", "aria-label": "Progress",
    "aria-valuemin": "0", "aria-valuemax": "100" }, bar);
  const progressText = h("span"); const progressCount = h("span");
  const details = h("dl.kv"); const result = h("div"); const logs = h("div.logs", { tabindex: "0", "aria-label": "Run log" });
  const logNote = h("span.muted.small");
  const buttons = h("div.actions");
  const seenLog = new Set();
  let logCount = 0;
  let retryRuns = [];  // the runs retried from this one (their parent_id is this run), newest first

  setPage(main, 
    h("div.crumbs", {}, h("a", { href: "#/history" }, "History"), " / ",
      view.task_name ? h("a", { href: `#/history?task=${encodeURIComponent(view.task_name)}` }, view.task_name) : "run"),
    head(view.task_name || "Run", null, buttons),
    h("div.grid2", {},
      h("div", {},
        h("div.panel", {}, h("div.run-state", {}, stateBadge, live, h("span.muted.mono.small", {}, taskId)),
          progress, h("div.progress-line", {}, progressText, progressCount)),
        h("div.panel", {}, h("h2", {}, "Result"), result),
        h("div.panel", {}, h("div.page-head", {}, h("h2", {}, "Log"), logNote), logs)),
      h("div.panel", {}, h("h2", {}, "Details"), details)));

  function addLog(line) {
    const key = `${line.ts}|${line.message}`;
    if (seenLog.has(key)) return;
    seenLog.add(key);
    if (!logCount) logs.replaceChildren();
    logCount += 1;
    const t = new Date(line.ts);
    const stick = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 8;
    logs.append(h("div.line", { title: line.logger }, h("span.ts", {}, Number.isNaN(t.getTime()) ? line.ts : t.toLocaleTimeString()),
      h("span", { class: `lvl-${line.level}` }, line.level), h("span", {}, line.message)));
    if (stick) logs.scrollTop = logs.scrollHeight;
  }
  logs.append(h("div.empty", {}, "No log lines yet."));

  function render() {
    stateBadge.replaceChildren(badge(view.status));
    const p = view.progress;
    let pct = 0;
    if (view.status === "SUCCESS") pct = 100;
    else if (p && p.total) pct = Math.max(0, Math.min(100, (100 * p.current) / p.total));
    bar.style.width = `${pct}%`;
    progress.setAttribute("aria-valuenow", String(Math.round(pct)));
    progress.classList.toggle("done", view.status === "SUCCESS");
    progress.classList.toggle("failed", view.status === "FAILURE" || view.status === "REVOKED");
    progressText.textContent = p && p.message ? p.message : FINAL.has(view.status) ? "Finished" : view.status === "PENDING" ? "Waiting for a worker" : "Running";
    progressCount.textContent = p && p.total ? `${p.current} / ${p.total}` : p && p.current !== undefined && p.current !== null ? String(p.current) : "";
    details.replaceChildren(
      h("dt", {}, "Task"), h("dd", {}, h("code", {}, view.task_name || "—")),
      h("dt", {}, "Submitted"), h("dd", {}, when(view.submitted_at), view.submitted_by ? ` by ${view.submitted_by}` : ""),
      h("dt", {}, "Started"), h("dd", {}, when(view.started_at)),
      h("dt", {}, "Finished"), h("dd", {}, when(view.finished_at)),
      h("dt", {}, "Runtime"), h("dd", {}, duration(view.runtime_s)),
      h("dt", {}, "Worker"), h("dd", {}, view.worker || "—"),
      h("dt", {}, "Retries"), h("dd", {}, String(view.retries || 0)),
      h("dt", {}, "Origin"), h("dd", {}, view.origin || "—"),
      h("dt", {}, "Parent run"), h("dd", {}, view.parent_id ? runLink(view.parent_id) : "—"),
      h("dt", {}, "Retried as"), h("dd", { id: "retry-runs" }, retryRuns.length
        ? h("ul.retry-runs", {}, retryRuns.map((r) => h("li", {}, runLink(r.task_id), " ", badge(r.status), " ",
          h("span.muted.small", { title: when(r.submitted_at) }, ago(r.submitted_at)))))
        : "—"),
      h("dt", {}, "Parameters"), h("dd", {}, h("pre.json", {}, JSON.stringify(view.params || {}, null, 2))));
    if (view.error) result.replaceChildren(h("div.error-box", { role: "alert" }, view.error));
    else if (view.status === "SUCCESS") result.replaceChildren(renderResult(view.result));
    else result.replaceChildren(h("p.muted", {}, FINAL.has(view.status) ? "No result." : "The result appears here when the run finishes."));
    buttons.replaceChildren();
    if (operator && FINAL.has(view.status)) {
      buttons.append(h("button.btn", { type: "button", id: "retry", onclick: retry }, "Retry"));
    }
    if (operator && !FINAL.has(view.status)) {
      buttons.append(h("button.btn.danger", { type: "button", id: "stop", onclick: stop }, "Stop"));
    }
  }

  async function retry() {
    if (!(await confirmAction("Retry this run?", `A new run of ${view.task_name} starts with the same parameters.`, "Retry"))) return;
    try {
      const r = await api(`/tasks/${encodeURIComponent(taskId)}/retry`, { method: "POST" });
      toast(`Retry ${r.task_id.slice(0, 8)} accepted.`);
      location.hash = `#/runs/${r.task_id}`;
    } catch (err) { toast(err.message, true); }
  }
  async function stop() {
    if (!(await confirmAction("Stop this run?", "A queued run never starts; a running one is terminated.", "Stop run"))) return;
    try {
      await api(`/tasks/${encodeURIComponent(taskId)}/revoke`, { method: "POST", body: { terminate: true } });
      toast("Run stopped.");
    } catch (err) { toast(err.message, true); }
  }

  render();
  api("/tasks/runs", { query: { parent: taskId, limit: 50 } })
    .then((page) => { retryRuns = page.runs; render(); }).catch(() => {});
  if (FINAL.has(view.status)) {
    try {
      const l = await api(`/tasks/status/${encodeURIComponent(taskId)}/logs`);
      l.lines.forEach(addLog);
      logNote.textContent = l.truncated ? "Log truncated: the run wrote more than is kept." : "";
    } catch (err) { logNote.textContent = err.message; }
    return;
  }
  const stopFollowing = followRun(taskId, (event, data) => {
    if (event === "log") { addLog(data); return; }
    if (event !== "status") return;
    view = { ...view, ...Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)) };
    if (data.status && data.status !== "PROGRESS" && !("progress" in data) && !FINAL.has(data.status)) view.progress = null;
    render();
    if (FINAL.has(data.status)) {
      // The final event has the state; the status endpoint adds what the registry computed (runtime).
      api(`/tasks/status/${encodeURIComponent(taskId)}`).then((full) => { view = { ...full, progress: full.progress || view.progress }; render(); }).catch(() => {});
      api(`/tasks/status/${encodeURIComponent(taskId)}/logs`).then((l) => {
        l.lines.forEach(addLog);
        logNote.textContent = l.truncated ? "Log truncated: the run wrote more than is kept." : "";
      }).catch(() => {});
    }
  }, (state, err) => {
    live.hidden = state !== "live";
    if (state === "reconnecting") logNote.textContent = "Connection lost; reconnecting…";
    else if (state === "live") logNote.textContent = "";
    else if (state === "error") logNote.textContent = err.message;
  });
  cleanup(stopFollowing);
}

const isRows = (v) => Array.isArray(v) && v.length > 0 && v.every((r) => r && typeof r === "object" && !Array.isArray(r));

function renderResult(value) {
  // An object holding lists of rows (e.g. {schema, tables: [...]}) shows its scalars, then one table per list.
  if (value && typeof value === "object" && !Array.isArray(value) && Object.values(value).some(isRows)) {
    const entries = Object.entries(value);
    const scalars = entries.filter(([, v]) => !isRows(v));
    return h("div", {}, scalars.length ? h("dl.kv", {}, scalars.map(([k, v]) => [h("dt", {}, k),
      h("dd", {}, v !== null && typeof v === "object" ? JSON.stringify(v) : String(v))])) : null,
    entries.filter(([, v]) => isRows(v)).map(([k, v]) => h("div.subtable", {}, h("h3", {}, k), renderResult(v))));
  }
  const rows = isRows(value);
  if (!rows) {
    if (value === null || value === undefined) return h("p.muted", {}, "The task returned nothing.");
    return h("pre.json", {}, JSON.stringify(value, null, 2));
  }
  const columns = [...new Set(value.flatMap((r) => Object.keys(r)))];
  const shown = value.slice(0, 500);
  return h("div", {}, h("div.table-wrap", {}, h("table", { "aria-label": "Result rows" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: typeof value[0][c] === "number" ? "num" : "" }, c)))),
    h("tbody", {}, shown.map((r) => h("tr", {}, columns.map((c) => h("td", { class: typeof r[c] === "number" ? "num" : "" },
      r[c] === null || r[c] === undefined ? "" : typeof r[c] === "object" ? JSON.stringify(r[c]) : String(r[c])))))))),
  h("p.muted.small", {}, `${value.length} rows${value.length > shown.length ? `, first ${shown.length} shown` : ""}.`));
}

// ---- History ----------------------------------------------------------------------------
export async function historyPage(main, query) {
  const data = await catalog();
  const names = Object.values(data.available_tasks).map((t) => t.name).sort();
  const task = h("select", { id: "h-task" }, h("option", { value: "" }, "All tasks"), names.map((n) => h("option", { value: n, selected: n === query.get("task") }, n)));
  const status = h("select", { id: "h-status" }, h("option", { value: "" }, "Any status"), STATES.map((s) => h("option", { value: s, selected: s === query.get("status") }, s)));
  const from = h("input", { id: "h-from", type: "datetime-local", value: query.get("from") || "" });
  const to = h("input", { id: "h-to", type: "datetime-local", value: query.get("to") || "" });
  const tbody = h("tbody"); const more = h("div.more"); const box = h("div");
  const field = (label, id, el) => h("div.field", {}, h("label", { for: id }, label), el);
  const form = h("form.filters", { "aria-label": "History filters" }, field("Task", "h-task", task), field("Status", "h-status", status),
    field("Submitted from", "h-from", from), field("Submitted before", "h-to", to),
    h("button.btn", { type: "submit" }, "Apply"));
  setPage(main, head("History", "Every run, newest first."), form, box);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (task.value) q.set("task", task.value);
    if (status.value) q.set("status", status.value);
    if (from.value) q.set("from", from.value);
    if (to.value) q.set("to", to.value);
    location.hash = `#/history${q.toString() ? `?${q}` : ""}`;
  });
  const iso = (v) => (v ? new Date(v).toISOString() : undefined);
  let cursor = null; let count = 0;
  async function load() {
    more.replaceChildren(h("span.muted", {}, "Loading…"));
    try {
      const page = await api("/tasks/runs", { query: { task: query.get("task"), status: query.get("status"),
        submitted_from: iso(query.get("from")), submitted_to: iso(query.get("to")), cursor, limit: 25 } });
      count += page.runs.length;
      for (const r of page.runs) {
        tbody.append(h("tr", {}, h("td", {}, runLink(r.task_id)), h("td", {}, h("code", {}, r.task_name)), h("td", {}, badge(r.status)),
          h("td.nowrap", { title: r.submitted_at }, when(r.submitted_at)), h("td.num", {}, duration(r.runtime_s)),
          h("td", {}, r.submitted_by || r.origin), h("td.ellipsis", { title: r.error || "" }, r.error || "")));
      }
      cursor = page.next_cursor;
      if (!count) box.replaceChildren(h("div.panel", {}, emptyState("No runs", "No run matches these filters yet.")));
      more.replaceChildren(cursor ? h("button.btn.ghost", { type: "button", id: "load-more", onclick: load }, "Load more") : h("span.muted.small", {}, `${count} ${count === 1 ? "run" : "runs"} shown`));
    } catch (err) { more.replaceChildren(errorBox(err)); }
  }
  box.replaceChildren(h("div.panel.flush", {}, h("div.table-wrap", {}, h("table", { "aria-label": "Runs" },
    h("thead", {}, h("tr", {}, ["Run", "Task", "Status", "Submitted", "Runtime", "By", "Error"].map((c) => h("th", { class: c === "Runtime" ? "num" : "" }, c)))), tbody)), more));
  await load();
}

// ---- Schedules --------------------------------------------------------------------------
export async function schedulesPage(main) {
  const data = await api("/tasks/schedules");
  const operator = can("operator");
  setPage(main, head("Schedules", `Times in ${data.timezone}. ${data.beat_enabled ? "Beat sends these on time." : "Beat is switched off in this environment."}`));
  if (!data.schedules.length) { main.append(h("div.panel", {}, emptyState("No schedules", "No task declares a cron schedule."))); return; }
  const rows = data.schedules.map((s) => {
    const next = s.next_runs || (s.next_run_at ? [s.next_run_at] : []);
    const lastError = s.last_send_error || s.last_error || null;
    const action = operator ? h("button.btn.small", { type: "button", class: s.paused ? "" : "ghost", "data-action": s.paused ? "resume" : "pause",
      "aria-label": `${s.paused ? "Resume" : "Pause"} ${s.name}`,
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          await api(`/tasks/schedules/${encodeURIComponent(s.name)}/${s.paused ? "resume" : "pause"}`, { method: "POST" });
          toast(`Schedule ${s.name} ${s.paused ? "resumed" : "paused"}.`);
          await schedulesPage(main);
        } catch (err) { toast(err.message, true); e.target.disabled = false; }
      } }, s.paused ? "Resume" : "Pause") : null;
    return h("tr", { "data-schedule": s.name },
      h("td", {}, h("code", {}, s.name), h("div.muted.small", {}, `queue ${s.queue}${s.single_run ? " · single run" : ""}`)),
      h("td", {}, s.cron ? [cronInWords(s.cron), h("div", {}, h("code", {}, s.cron))] : h("span.muted", {}, "disabled here"),
        s.source && s.source !== "declared" ? h("div.muted.small", {}, `from ${s.source}`) : null),
      h("td", {}, s.paused ? h("span.badge.warn", {}, "paused") : s.enabled ? h("span.badge.ok", {}, "active") : h("span.badge", {}, "off"),
        s.paused && s.paused_by ? h("div.muted.small", {}, `by ${s.paused_by}`) : null),
      h("td.nowrap", {}, next.length ? next.slice(0, 5).map((n, i) => h("div", { class: i ? "muted small" : "" }, when(n, data.timezone), i ? "" : h("span.muted.small", {}, ` (${ago(n)})`))) : "—"),
      h("td", {}, s.last_run ? [h("div", {}, badge(s.last_run.status), " ", runLink(s.last_run.task_id)), h("div.muted.small", {}, when(s.last_run.submitted_at, data.timezone))] : s.last_run_at ? when(s.last_run_at, data.timezone) : h("span.muted", {}, "never"),
        lastError ? h("div.err.small", {}, `Last send failed: ${typeof lastError === "string" ? lastError : JSON.stringify(lastError)}`) : null),
      operator ? h("td", {}, action) : null);
  });
  main.append(h("div.panel.flush", {}, h("div.table-wrap", {}, h("table", { "aria-label": "Schedules" },
    h("thead", {}, h("tr", {}, ["Task", "When", "State", "Next runs", "Last run", operator ? "" : null].filter((c) => c !== null).map((c) => h("th", {}, c)))),
    h("tbody", {}, rows)))));
}

// ---- Workers and queues -----------------------------------------------------------------
export async function workersPage(main) {
  const s = await api("/tasks/stats");
  const stat = (n, l) => h("div.stat", {}, h("div.n", {}, String(n)), h("div.l", {}, l));
  const counts = Object.entries(s.runs_last_24h || {});
  const queued = Object.values(s.queues).reduce((a, b) => a + (b || 0), 0);
  const workerRows = s.workers.details.map((w) => h("tr", {}, h("td", {}, w.name), h("td.num", {}, String(w.active)),
    h("td.num", {}, String(w.processed)), h("td.num", {}, String(w.concurrency ?? "—")),
    h("td.num", {}, w.uptime_s ? duration(w.uptime_s) : "—")));
  const workers = s.workers.details.length
    ? h("table", { "aria-label": "Workers" }, h("thead", {}, h("tr", {}, h("th", {}, "Worker"), h("th.num", {}, "Active"),
      h("th.num", {}, "Processed"), h("th.num", {}, "Concurrency"), h("th.num", {}, "Up"))), h("tbody", {}, workerRows))
    : emptyState("No worker online", "Start one with celery -A config.celery_config worker.");
  const queues = h("table", { "aria-label": "Queues" }, h("thead", {}, h("tr", {}, h("th", {}, "Queue"), h("th.num", {}, "Waiting"))),
    h("tbody", {}, Object.entries(s.queues).map(([q, n]) => h("tr", {}, h("td", {}, q), h("td.num", {}, n === null ? "?" : String(n))))));
  const states = h("table", { "aria-label": "Runs in the last 24 hours" },
    h("thead", {}, h("tr", {}, h("th", {}, "Last 24 h"), h("th.num", {}, "Runs"))),
    h("tbody", {}, counts.length ? counts.map(([k, n]) => h("tr", {}, h("td", {}, badge(k)), h("td.num", {}, String(n))))
      : h("tr", {}, h("td.muted", { colspan: "2" }, "No runs"))));
  const refresh = h("button.btn.ghost", { type: "button", onclick: () => workersPage(main) }, "Refresh");
  setPage(main, head("Workers and queues", `As of ${when(s.generated_at)}.`, refresh),
    h("div.stat-row", {}, stat(s.workers.online, "workers online"), stat(s.workers.active, "runs active"),
      stat(s.workers.processed, "runs processed"), stat(queued, "messages queued")),
    s.workers.error ? h("p.notice", {}, s.workers.error) : null,
    h("div.grid2", {}, h("div.panel.flush", {}, h("h2.pad", {}, "Workers"), workers),
      h("div", {}, h("div.panel.flush", {}, queues), h("div.panel.flush", {}, states))));
}

// ---- ETL batches and rejects ------------------------------------------------------------
export async function etlPage(main) {
  const tbody = h("tbody"); const more = h("div.more"); const box = h("div");
  setPage(main, head("ETL batches", "Loads of CSV extracts by toolbox.etl, newest first."), box);
  let cursor = null; let count = 0;
  async function load() {
    const page = await api("/toolbox/etl/batches", { query: { cursor, limit: 25 } });
    count += page.batches.length;
    for (const b of page.batches) {
      const counts = Object.entries(b.counts || {}).map(([file, c]) => `${file}: ${typeof c === "object" ? Object.entries(c).map(([k, v]) => `${v} ${k}`).join(", ") : c}`).join(" · ");
      tbody.append(h("tr", { "data-batch": b.name }, h("td", {}, h("a", { href: `#/etl/${encodeURIComponent(b.name)}` }, b.name)),
        h("td", {}, h("span.badge", { class: b.status === "loaded" ? "ok" : "bad" }, b.status)), h("td.nowrap", {}, when(b.loaded_at)),
        h("td.num", {}, b.rejected ? h("a", { href: `#/etl/${encodeURIComponent(b.name)}` }, String(b.rejected)) : "0"),
        h("td.small.muted", {}, b.error ? h("span.err", {}, b.error) : counts)));
    }
    cursor = page.next_cursor;
    if (!count) { box.replaceChildren(h("div.panel", {}, emptyState("No batches loaded yet", "Run toolbox.etl to load the inbox's CSV folders."))); return; }
    more.replaceChildren(cursor ? h("button.btn.ghost", { type: "button", onclick: load }, "Load more") : h("span.muted.small", {}, `${count} batches`));
  }
  box.replaceChildren(h("div.panel.flush", {}, h("div.table-wrap", {}, h("table", { "aria-label": "ETL batches" },
    h("thead", {}, h("tr", {}, h("th", {}, "Batch"), h("th", {}, "Status"), h("th", {}, "Loaded"), h("th.num", {}, "Rejected lines"), h("th", {}, "Counts"))), tbody)), more));
  await load();
}

export async function rejectsPage(main, name, query) {
  const file = query.get("file") || "";
  const tbody = h("tbody"); const more = h("div.more");
  let cursor = null; let count = 0;
  const first = await api(`/toolbox/etl/batches/${encodeURIComponent(name)}/rejects`, { query: { file, limit: 50 } });
  const b = first.batch;
  const files = h("select", { id: "r-file", onchange: (e) => { location.hash = `#/etl/${encodeURIComponent(name)}${e.target.value ? `?file=${encodeURIComponent(e.target.value)}` : ""}`; } },
    h("option", { value: "" }, `All files (${b.rejected})`), Object.entries(first.rejected_by_file).map(([f, n]) => h("option", { value: f, selected: f === file }, `${f} (${n})`)));
  setPage(main, h("div.crumbs", {}, h("a", { href: "#/etl" }, "ETL batches"), " / ", name),
    head(name, `${b.status === "loaded" ? "Loaded" : "Failed"} ${when(b.loaded_at)} · ${b.rejected} rejected lines`),
    b.error ? h("div.error-box", {}, b.error) : null,
    h("div.filters", {}, h("div.field", {}, h("label", { for: "r-file" }, "File"), files)));
  function add(page) {
    count += page.rejects.length;
    for (const r of page.rejects) {
      tbody.append(h("tr", {}, h("td", {}, r.file), h("td.num", {}, String(r.line_number)), h("td", {}, h("code", {}, r.line ?? "")), h("td", {}, r.reason)));
    }
    cursor = page.next_cursor;
    more.replaceChildren(cursor ? h("button.btn.ghost", { type: "button", id: "more-rejects", onclick: async () => add(await api(`/toolbox/etl/batches/${encodeURIComponent(name)}/rejects`, { query: { file, cursor, limit: 50 } })) }, "Load more")
      : h("span.muted.small", {}, `${count} of ${file ? first.rejected_by_file[file] || 0 : b.rejected} lines shown`));
  }
  if (!first.rejects.length) { main.append(h("div.panel", {}, emptyState("No rejected lines", "Every line of this batch loaded."))); return; }
  main.append(h("div.panel.flush", {}, h("div.table-wrap", {}, h("table", { "aria-label": "Rejected lines" },
    h("thead", {}, h("tr", {}, h("th", {}, "File"), h("th.num", {}, "Line"), h("th", {}, "Line as written"), h("th", {}, "Reason"))), tbody)), more));
  add(first);
}
