// Tiny DOM helpers: h("tag.class", {attrs}, ...children). Text is always set as text, never as HTML.
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className += (el.className ? " " : "") + value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function badge(status) { return h("span.badge", { class: status || "" }, status || "—"); }

// A date and time in the browser's time zone, or in `timeZone` (an IANA name such as America/Lima).
export function when(iso, timeZone) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const options = { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" };
  try {
    return d.toLocaleString(undefined, timeZone ? { ...options, timeZone } : options);
  } catch {  // a zone this browser does not know: its own time, rather than nothing
    return d.toLocaleString(undefined, options);
  }
}

export function ago(iso) {
  if (!iso) return "";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  const future = s < 0; const a = Math.abs(s);
  const text = a < 60 ? `${a}s` : a < 3600 ? `${Math.round(a / 60)} min` : a < 86400 ? `${Math.round(a / 3600)} h`
    : `${Math.round(a / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

export function emptyState(title, text) { return h("div.empty-state", {}, h("strong", {}, title), text || ""); }

export function errorBox(err) {
  const body = err && err.body ? err.body : {};
  return h("div.error-box", { role: "alert" }, h("strong", {}, body.message || err.message || "Something went wrong."),
    body.description ? `\n${body.description}` : "");
}

// Docstrings write names as `code`: shown as <code>, still as text (never parsed as HTML).
export function prose(text) {
  if (!text) return text;
  return String(text).split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part));
}
