// kv.js: what the KV pages share: routes, the mount lookup, breadcrumbs,
// the key/value editor, the table of hidden values, diffs. Secret values
// live only in these closures while shown: a hidden value is not in the
// DOM (its cell holds a mask).
import { clear, icon, icons, nextId } from "../dom.js";

export const MASK = "••••••••";
export const CAS_MISMATCH = /check-and-set parameter did not match/i;

const enc = encodeURIComponent;
const segs = (p) => p.split("/").filter(Boolean).map(enc).join("/");
export const routeList = (mount, folder = "") => `secrets/${enc(mount)}/list/${segs(folder)}`.replace(/\/$/, "");
export const routeShow = (mount, key) => `secrets/${enc(mount)}/show/${segs(key)}`;
export const routeNew = (mount, folder = "") => `secrets/${enc(mount)}/new/${segs(folder)}`.replace(/\/$/, "");

/** asText renders a value of a secret as text (JSON for non-strings). */
export function asText(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** mountInfo asks which engine serves mount and its KV version. */
export async function mountInfo(ctx, mount) {
  const res = await ctx.api.get(`sys/internal/ui/mounts/${mount}`);
  const d = res.data || {};
  const opts = d.options || {};
  return { type: d.type || "", version: d.type === "kv" ? (opts.version === "2" ? 2 : 1) : 0, path: d.path || `${mount}/` };
}

/** crumbs is the breadcrumb trail of a KV folder or secret (last: the
 * final part is the page itself, not a link). */
export function crumbs(ctx, mount, parts, last) {
  const { h } = ctx;
  const items = [h("li", {}, h("a", { href: "#/secrets" }, "Secrets")), h("li", {}, h("a", { href: `#/${routeList(mount)}` }, mount))];
  let acc = "";
  parts.forEach((p, i) => {
    acc += `${p}/`;
    if (i === parts.length - 1 && last) items.push(h("li", { "aria-current": "page" }, p));
    else items.push(h("li", {}, h("a", { href: `#/${routeList(mount, acc)}` }, p)));
  });
  return h("nav", { "aria-label": "Breadcrumb" }, h("ol", { class: "crumbs" }, items));
}

/** kvEditor is the rows of key/value inputs of a new secret or version.
 * Values are password inputs; existing keys start empty ("unchanged") so
 * that no stored value enters the DOM unless the user reveals it. */
export function kvEditor(ctx, existing) {
  const { h } = ctx;
  const rowsBox = h("div", {});
  const rows = [];
  const addRow = (key = "", isOld = false) => {
    const keyF = ctx.field("Key", { name: "key", value: key, autocomplete: "off", spellcheck: "false", required: true });
    const valF = ctx.field(key ? `Value of ${key}` : "Value", {
      name: "value", type: "password", autocomplete: "new-password", spellcheck: "false",
      placeholder: isOld ? "unchanged" : "",
    });
    keyF.control.addEventListener("input", () => {
      valF.querySelector("label").textContent = keyF.control.value ? `Value of ${keyF.control.value}` : "Value";
    });
    const show = h("button", { type: "button", class: "small", "aria-pressed": "false", "aria-label": "Show value" }, icon(icons.eye));
    show.addEventListener("click", () => {
      const on = valF.control.type === "password";
      valF.control.type = on ? "text" : "password";
      show.setAttribute("aria-pressed", on ? "true" : "false");
    });
    const row = { keyF, valF, isOld, origKey: key, el: null };
    const remove = h("button", { type: "button", class: "small", "aria-label": "Remove this key", onclick: () => {
      rows.splice(rows.indexOf(row), 1);
      row.el.remove();
    } }, "Remove");
    row.el = h("div", { class: "kvrow" }, keyF, valF, h("div", { class: "actions" }, show, remove));
    rows.push(row);
    rowsBox.append(row.el);
    return row;
  };
  for (const k of Object.keys(existing || {})) addRow(k, true);
  if (!rows.length) addRow();
  const addBtn = h("button", { type: "button", onclick: () => addRow().keyF.control.focus() }, "Add key");
  return {
    el: h("div", {}, rowsBox, h("div", { class: "actions" }, addBtn)),
    /** data builds the secret: typed values, or the old value of an
     * existing key left empty. It throws on a duplicate or empty key. */
    data() {
      const out = {};
      for (const r of rows) {
        const k = r.keyF.control.value.trim();
        if (!k) throw new Error("Every key needs a name.");
        if (Object.hasOwn(out, k)) throw new Error(`The key ${k} is there twice.`);
        const typed = r.valF.control.value;
        out[k] = typed === "" && r.isOld && Object.hasOwn(existing, r.origKey) ? existing[r.origKey] : typed;
      }
      return out;
    },
    clear() {
      for (const r of rows) r.valF.control.value = "";
    },
  };
}

/** valueTable shows keys with hidden values: reveal puts a value in the
 * DOM, hide takes it out again; copy writes it to the clipboard without
 * showing it. */
export function valueTable(ctx, data, { canRead = true } = {}) {
  const { h } = ctx;
  const cells = [];
  const setShown = (c, on) => {
    c.shown = on;
    clear(c.td);
    if (on) c.td.append(asText(data[c.key]));
    else c.td.append(h("span", { class: "masked", "aria-label": "hidden value" }, MASK));
    c.btn.setAttribute("aria-pressed", on ? "true" : "false");
    clear(c.btn).append(icon(on ? icons.eyeOff : icons.eye), on ? "Hide" : "Reveal");
  };
  const keys = Object.keys(data).sort();
  const body = h("tbody", {}, keys.map((key) => {
    const td = h("td", { class: "value" });
    const btn = h("button", { type: "button", class: "small", "aria-label": `Reveal value of ${key}` });
    const c = { key, td, btn, shown: false };
    btn.addEventListener("click", () => {
      setShown(c, !c.shown);
      btn.setAttribute("aria-label", `${c.shown ? "Hide" : "Reveal"} value of ${key}`);
    });
    const copy = h("button", { type: "button", class: "small", "aria-label": `Copy value of ${key}`, onclick: async () => {
      try {
        await navigator.clipboard.writeText(asText(data[key]));
        ctx.notice(`Copied the value of ${key}.`);
      } catch (err) {
        ctx.notice(`Could not copy: ${err.message}`);
      }
    } }, icon(icons.copy), "Copy");
    setShown(c, false);
    cells.push(c);
    return h("tr", { "data-key": key }, h("th", { scope: "row", class: "mono" }, key), td,
      h("td", {}, canRead ? h("div", { class: "actions" }, btn, copy) : null));
  }));
  const all = h("button", { type: "button", "aria-pressed": "false" }, "Reveal all");
  all.addEventListener("click", () => {
    const on = !cells.every((c) => c.shown);
    cells.forEach((c) => setShown(c, on));
    all.textContent = on ? "Hide all" : "Reveal all";
    all.setAttribute("aria-pressed", on ? "true" : "false");
  });
  const table = h("table", { class: "values" },
    h("caption", { class: "sr-only" }, "Keys and values"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
    body);
  return {
    el: h("div", {}, keys.length ? h("div", { class: "actions" }, all) : null, keys.length ? table : h("p", { class: "hint" }, "This version has no keys.")),
    hideAll: () => cells.forEach((c) => setShown(c, false)),
  };
}

/** diffVersions compares two versions' data: added, removed, changed and
 * unchanged keys. */
export function diffData(from, to) {
  const keys = [...new Set([...Object.keys(from || {}), ...Object.keys(to || {})])].sort();
  return keys.map((k) => {
    const inA = Object.hasOwn(from || {}, k);
    const inB = Object.hasOwn(to || {}, k);
    let kind = "unchanged";
    if (!inA) kind = "added";
    else if (!inB) kind = "removed";
    else if (asText(from[k]) !== asText(to[k])) kind = "changed";
    return { key: k, kind, from: inA ? from[k] : undefined, to: inB ? to[k] : undefined };
  });
}

export function versionState(v) {
  if (!v) return "";
  if (v.destroyed) return "destroyed";
  if (v.deletion_time && !v.deletion_time.startsWith("0001-") && new Date(v.deletion_time) <= new Date()) return "deleted";
  return "";
}

/** diffTable shows a diff with values hidden until a row is revealed. */
export function diffTable(ctx, a, b, rows) {
  const { h } = ctx;
  const counts = { added: 0, removed: 0, changed: 0, unchanged: 0 };
  rows.forEach((r) => { counts[r.kind] += 1; });
  const label = { added: "added", removed: "removed", changed: "changed", unchanged: "unchanged" };
  const cell = (present) => h("td", { class: "value" }, present ? h("span", { class: "masked", "aria-label": "hidden value" }, MASK) : "—");
  const body = h("tbody", {}, rows.map((r) => {
    const fromTd = cell(r.kind !== "added");
    const toTd = cell(r.kind !== "removed");
    const btn = h("button", { type: "button", class: "small", "aria-pressed": "false", "aria-label": `Reveal values of ${r.key}` }, "Reveal");
    let shown = false;
    btn.addEventListener("click", () => {
      shown = !shown;
      for (const [td, v, present] of [[fromTd, r.from, r.kind !== "added"], [toTd, r.to, r.kind !== "removed"]]) {
        clear(td);
        if (!present) td.append("—");
        else if (shown) td.append(asText(v));
        else td.append(h("span", { class: "masked", "aria-label": "hidden value" }, MASK));
      }
      btn.textContent = shown ? "Hide" : "Reveal";
      btn.setAttribute("aria-pressed", shown ? "true" : "false");
      btn.setAttribute("aria-label", `${shown ? "Hide" : "Reveal"} values of ${r.key}`);
    });
    return h("tr", { class: r.kind, "data-key": r.key },
      h("th", { scope: "row", class: "mono" }, r.key),
      h("td", {}, h("span", { class: "badge" }, label[r.kind])),
      fromTd, toTd, h("td", {}, btn));
  }));
  const id = nextId("diff");
  return h("div", {},
    h("p", { id }, `Version ${a} → version ${b}: ${counts.added} added, ${counts.removed} removed, ${counts.changed} changed, ${counts.unchanged} unchanged.`),
    h("table", { class: "diff", "aria-describedby": id },
      h("caption", { class: "sr-only" }, `Differences between version ${a} and version ${b}`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Change"),
        h("th", { scope: "col" }, `Version ${a}`), h("th", { scope: "col" }, `Version ${b}`), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      body));
}
