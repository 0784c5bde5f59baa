// A run form generated from a task's JSON Schema (the `parameters` of GET /tasks/available).
import { h, prose } from "./dom.js";

function resolve(schema, root) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return { ...((root.$defs || {})[name] || {}), ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "$ref")) };
  }
  return schema || {};
}

// One field's kind and constraints, whatever form pydantic gave it (anyOf with null for optionals).
export function describe(name, raw, root, required) {
  let schema = resolve(raw, root);
  let nullable = false;
  if (Array.isArray(schema.anyOf)) {
    const options = schema.anyOf.map((s) => resolve(s, root));
    nullable = options.some((s) => s.type === "null");
    const rest = options.filter((s) => s.type !== "null");
    if (rest.length === 1) schema = { ...rest[0], ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "anyOf")) };
  }
  let kind = "json";
  if (schema.enum || schema.const !== undefined) kind = "enum";
  else if (schema.type === "boolean") kind = nullable ? "enum" : "boolean";
  else if (schema.type === "integer") kind = "integer";
  else if (schema.type === "number") kind = "number";
  else if (schema.type === "string" && schema.format === "date") kind = "date";
  else if (schema.type === "string" && schema.format === "date-time") kind = "datetime";
  else if (schema.type === "string") kind = "text";
  else if (schema.type === "array" && schema.items && ["string", "integer", "number"].includes(resolve(schema.items, root).type)) kind = "list";
  let options = schema.enum || (schema.const !== undefined ? [schema.const] : null);
  if (schema.type === "boolean" && nullable) options = [true, false];
  return { name, schema, kind, nullable, required, options,
    label: schema.title || name, help: schema.description || raw.description || "",
    default: "default" in schema ? schema.default : raw.default,
    itemType: schema.items ? resolve(schema.items, root).type : null };
}

function boundsText(f) {
  const s = f.schema; const parts = [];
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  if (s.minLength !== undefined) parts.push(`at least ${s.minLength} characters`);
  if (s.maxLength !== undefined) parts.push(`at most ${s.maxLength} characters`);
  if (f.kind === "list") parts.push("comma-separated");
  return parts.join(", ");
}

function input(f, id, describedBy) {
  const s = f.schema; const common = { id, name: f.name, "aria-describedby": describedBy };
  const dflt = f.default === null || f.default === undefined ? "" : f.default;
  switch (f.kind) {
    case "boolean": return h("input", { ...common, type: "checkbox", checked: !!f.default });
    case "enum": {
      const select = h("select", common);
      if (!f.required || f.nullable) select.append(h("option", { value: "" }, f.nullable ? "— none —" : "— default —"));
      for (const option of f.options) {
        const o = h("option", { value: JSON.stringify(option) }, String(option));
        if (option === f.default) o.selected = true;
        select.append(o);
      }
      return select;
    }
    case "integer": case "number": {
      const el = h("input", { ...common, type: "number", inputmode: f.kind === "integer" ? "numeric" : "decimal",
        step: f.kind === "integer" ? "1" : "any" });
      if (s.minimum !== undefined) el.min = s.minimum;
      if (s.maximum !== undefined) el.max = s.maximum;
      el.value = dflt;
      return el;
    }
    case "date": return h("input", { ...common, type: "date", value: dflt });
    case "datetime": return h("input", { ...common, type: "datetime-local", step: "1", value: String(dflt).slice(0, 19) });
    case "text": {
      const el = h("input", { ...common, type: "text", value: dflt, autocomplete: "off" });
      if (s.maxLength !== undefined) el.maxLength = s.maxLength;
      return el;
    }
    case "list": return h("input", { ...common, type: "text", value: Array.isArray(dflt) ? dflt.join(", ") : "" });
    default: return h("textarea", { ...common, spellcheck: false }, dflt === "" ? "" : JSON.stringify(dflt, null, 2));
  }
}

// The value to send, or undefined to leave the parameter out (the task's default applies);
// throws a message when the input cannot be that type or breaks a constraint.
function read(f, el) {
  const s = f.schema;
  if (f.kind === "boolean") return el.checked;
  const raw = el.value.trim();
  if (raw === "") {
    if (f.required) throw "This field is required.";
    return f.nullable && f.kind !== "enum" ? undefined : undefined;
  }
  let value;
  switch (f.kind) {
    case "enum": value = JSON.parse(raw); break;
    case "integer":
      if (!/^-?\d+$/.test(raw)) throw "Enter a whole number.";
      value = Number(raw); break;
    case "number":
      value = Number(raw);
      if (!Number.isFinite(value)) throw "Enter a number."; break;
    case "date": value = raw; break;
    case "datetime": value = raw.length === 16 ? `${raw}:00` : raw; break;
    case "text": value = el.value; break;
    case "list":
      value = raw.split(",").map((x) => x.trim()).filter(Boolean);
      if (f.itemType === "integer" || f.itemType === "number") {
        value = value.map(Number);
        if (value.some((x) => !Number.isFinite(x))) throw "Enter numbers separated by commas.";
      }
      break;
    default:
      try { value = JSON.parse(raw); } catch { throw "Enter valid JSON."; }
  }
  if (typeof value === "number") {
    if (s.minimum !== undefined && value < s.minimum) throw `Must be at least ${s.minimum}.`;
    if (s.maximum !== undefined && value > s.maximum) throw `Must be at most ${s.maximum}.`;
    if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) throw `Must be greater than ${s.exclusiveMinimum}.`;
    if (s.exclusiveMaximum !== undefined && value >= s.exclusiveMaximum) throw `Must be less than ${s.exclusiveMaximum}.`;
  }
  if (typeof value === "string" && f.kind === "text") {
    if (s.minLength !== undefined && value.length < s.minLength) throw `Must be at least ${s.minLength} characters.`;
    if (s.maxLength !== undefined && value.length > s.maxLength) throw `Must be at most ${s.maxLength} characters.`;
    if (s.pattern && !new RegExp(s.pattern, "u").test(value)) throw `Must match the pattern ${s.pattern}.`;
  }
  return value;
}

export function buildForm(schema, { onSubmit, disabled }) {
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([name, raw]) => describe(name, raw, schema, required.has(name)));
  const rows = new Map();
  const form = h("form", { novalidate: true, "aria-label": "Run parameters" });
  if (!fields.length) form.append(h("p.muted", {}, "This task takes no parameters."));
  else if (required.size) form.append(h("p.muted.small", {}, h("span.req", {}, "*"), " marks a required field."));
  for (const f of fields) {
    const id = `f-${f.name}`;
    const helpId = `${id}-help`; const errId = `${id}-err`;
    const el = input(f, id, `${helpId} ${errId}`);
    if (f.required) el.setAttribute("aria-required", "true");
    const shownDefault = f.default !== undefined && f.default !== null && f.kind !== "boolean"
      ? `Default: ${Array.isArray(f.default) ? f.default.join(", ") : String(f.default)}` : null;
    const help = [f.help.replace(/\.$/, ""), boundsText(f), shownDefault, f.required || f.kind === "boolean" || (f.default !== null && f.default !== undefined) ? null : "optional: leave empty for none"].filter(Boolean).join(" · ");
    const labelText = [f.label.replace(/_/g, " "), f.required ? h("span.req", { title: "required" }, "*") : null];
    const row = f.kind === "boolean"
      ? h("div.field", {}, h("label.check", { for: id }, el, ...labelText))
      : h("div.field", {}, h("label", { for: id }, ...labelText), el);
    row.append(h("span.help", { id: helpId }, prose(help)), h("span.err", { id: errId, role: "alert" }));
    rows.set(f.name, { f, el, row, err: row.querySelector(".err") });
    form.append(row);
  }
  const button = h("button.btn", { type: "submit", disabled: !!disabled }, "Run task");
  const general = h("div.err", { role: "alert" });
  form.append(h("div.actions", {}, button, general));

  function setError(name, message) {
    const r = rows.get(name);
    if (!r) { general.textContent = message; return; }
    r.row.classList.toggle("invalid", !!message);
    r.err.textContent = message || "";
    r.el.setAttribute("aria-invalid", message ? "true" : "false");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    general.textContent = "";
    const values = {}; let first = null;
    for (const [name, r] of rows) {
      try {
        const v = read(r.f, r.el);
        setError(name, "");
        if (v !== undefined) values[name] = v;
      } catch (message) {
        setError(name, String(message));
        first = first || r.el;
      }
    }
    if (first) { first.focus(); return; }
    button.disabled = true;
    try {
      await onSubmit(values);
    } catch (err) {
      const errors = (err.body && err.body.errors) || [];
      let focused = false;
      for (const item of errors) {
        const name = (item.field || "").split(".")[0];
        if (rows.has(name)) {
          setError(name, item.message);
          if (!focused) { rows.get(name).el.focus(); focused = true; }
        } else general.textContent = item.message;
      }
      if (!errors.length) general.textContent = (err.body && err.body.message) || err.message;
    } finally { button.disabled = !!disabled; }
  });
  return { form, setError };
}
