// Cron expressions (`m h dom mon dow`, and `@every 5m` / `@daily` forms) in plain words.
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["", "January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December"];
const MACROS = { "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *" };

function list(items) {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function part(field, name) {
  return field.split(",").map((piece) => {
    const [range, step] = piece.split("/");
    const [a, b] = range.split("-");
    const label = (v) => name(Number(v) % (name === dayName ? 7 : 1000));
    if (range === "*") return step ? `every ${step}` : "every";
    if (b !== undefined) return `${label(a)} through ${label(b)}${step ? ` every ${step}` : ""}`;
    return label(a);
  });
}
const dayName = (v) => DAYS[v] || String(v);
const monthName = (v) => MONTHS[v] || String(v);

function pad(n) { return String(n).padStart(2, "0"); }

export function cronInWords(expression) {
  if (!expression) return "Not scheduled";
  let text = expression.trim();
  const every = /^@every\s+(\d+)\s*([smhd])$/i.exec(text);
  if (every) {
    const unit = { s: "second", m: "minute", h: "hour", d: "day" }[every[2].toLowerCase()];
    return Number(every[1]) === 1 ? `Every ${unit}` : `Every ${every[1]} ${unit}s`;
  }
  text = MACROS[text.toLowerCase()] || text;
  const fields = text.split(/\s+/);
  if (fields.length !== 5) return expression;
  const [min, hour, dom, mon, dow] = fields;
  let when;
  const simple = (v) => /^\d+$/.test(v);
  if (simple(min) && simple(hour)) when = `At ${pad(hour)}:${pad(min)}`;
  else if (simple(min) && hour === "*") when = min === "0" ? "Every hour" : `At minute ${min} of every hour`;
  else if (/^\*\/\d+$/.test(min) && hour === "*") when = `Every ${min.split("/")[1]} minutes`;
  else if (min === "*" && hour === "*") when = "Every minute";
  else if (simple(min)) {
    const hours = hour.split(",").map((piece) => {
      const [range, step] = piece.split("/");
      const [a, b] = range.split("-");
      if (range === "*") return `every ${step} hours`;
      if (b !== undefined) return `every ${step ? `${step} hours` : "hour"} from ${pad(a)}:${pad(min)} to ${pad(b)}:${pad(min)}`;
      return `${pad(a)}:${pad(min)}`;
    });
    when = `At ${list(hours)}`.replace("At every", "Every");
  } else when = `At minute ${min}, hour ${hour}`;
  const parts = [when];
  if (dom !== "*") parts.push(`on day ${list(part(dom, (v) => String(v)))} of the month`);
  if (mon !== "*") parts.push(`in ${list(part(mon, monthName))}`);
  if (dow !== "*") {
    const days = dow === "1-5" ? ["weekdays"] : part(dow, dayName);
    parts.push(`on ${list(days)}`);
  } else if (dom === "*" && mon === "*" && simple(hour)) parts.push("every day");
  return parts.join(", ");
}
