// opskit.js: small helpers shared by the access, policies and operations
// pages (ui2): tables with captions, definition lists, error boxes and
// the fields that are never shown. Everything goes through ctx.h, so data
// from the server only ever becomes text.

// The pages' own styles, linked once (a stylesheet from this origin, as
// the Content-Security-Policy allows).
if (!document.querySelector("link[data-ops-css]")) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./ops.css", import.meta.url).href;
  link.dataset.opsCss = "";
  document.head.appendChild(link);
}

/** Field names whose values are credentials: never drawn, whatever an
 * endpoint answers. */
export const HIDDEN_FIELDS = new Set([
  "secret_id", "role_id", "password", "secret_access_key", "previous_secret_access_key",
  "hmac_key", "client_key", "token", "client_token", "jwt", "private_key", "key",
]);

/**
 * own gives a page its own container inside the shell's el: what a page
 * still draws after its await once the user has moved on goes into a
 * container already removed, never into the next page.
 */
export function own(el, ctx) {
  const div = ctx.h("div", { class: "page" });
  el.append(div);
  return div;
}

/** text turns a value from the API into display text. */
export function text(v) {
  if (v === null || v === undefined || v === "") return "—";
  if (Array.isArray(v)) return v.length ? v.map(text).join(", ") : "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** when shows an RFC 3339 time (or Unix seconds) as local time. */
export function when(v) {
  if (v === null || v === undefined || v === "" || v === 0) return "—";
  if (typeof v === "string" && v.startsWith("0001-")) return "—";
  const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/**
 * table draws rows (arrays of cells: strings or elements) under headers,
 * with a caption naming it for screen readers.
 */
export function table(h, caption, headers, rows, empty = "None.") {
  if (!rows.length) return h("p", { class: "hint" }, `${caption}: ${empty}`);
  return h("table", {},
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c instanceof Node ? c : text(c)))))));
}

/** dl draws [term, value] pairs, leaving out credential fields. */
export function dl(h, pairs) {
  return h("dl", { class: "meta" }, pairs.filter(([k]) => !HIDDEN_FIELDS.has(k)).map(([k, v]) =>
    [h("dt", {}, k), h("dd", {}, v instanceof Node ? v : text(v))]));
}

/** dataList is dl over an object's members, sorted by name. */
export function dataList(h, obj) {
  return dl(h, Object.keys(obj || {}).sort().map((k) => [k, obj[k]]));
}

/** box returns an empty element for ctx.error to fill (it replaces what
 * is inside), so each form shows its own refusals next to it. */
export function box(h, id) {
  return h("div", { class: "errors", id });
}

/** can reports whether caps (one path's list) allows every one of need. */
export function canAll(ctx, caps, ...need) {
  return need.every((c) => ctx.can(caps, c));
}

/** section is a heading and its content, labelled by the heading. */
let seq = 0;
export function section(h, title, ...children) {
  seq += 1;
  const id = `sec-${seq}`;
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

/** isMissing reports an ApiError that means "nothing there" (a LIST of an
 * empty folder answers 404). */
export function isMissing(e) {
  return e && e.status === 404;
}

/** listKeys LISTs path and returns its keys ([] for a 404). */
export async function listKeys(ctx, path, query) {
  try {
    const res = await ctx.api.list(path, query);
    return { keys: (res.data && res.data.keys) || [], info: (res.data && res.data.key_info) || {} };
  } catch (e) {
    if (isMissing(e)) return { keys: [], info: {} };
    throw e;
  }
}
