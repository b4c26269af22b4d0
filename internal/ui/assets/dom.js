// dom.js: the one way the UI builds DOM. Text always goes in as text
// nodes (never innerHTML), so data from the server cannot become markup.

let uid = 0;

/** nextId returns an element id unique in this page. */
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * h builds an element. attrs: class, id, for, type, value, checked,
 * disabled, aria-*, data-*, role... as attributes; on* functions as event
 * listeners; a null, undefined or false value is left out. No "style"
 * attribute: the Content-Security-Policy refuses inline styles (a browser
 * test fails on the violation); use a class from style.css. Children:
 * strings and numbers become text nodes, null/false are skipped, arrays
 * are flattened.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === "value") {
      el.value = v;
    } else if (k === "checked" || k === "selected") {
      el[k] = Boolean(v);
    } else if (k === "for") {
      el.htmlFor = v;
    } else if (k === "class") {
      el.className = v;
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** clear removes every child of el. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/**
 * field returns a labelled control: a div holding a label and an input
 * (or a select or textarea, with attrs.tag). attrs.hint adds a
 * description linked by aria-describedby. The control is field.control.
 */
export function field(label, attrs = {}) {
  const { tag = "input", hint, options, ...rest } = attrs;
  const id = rest.id || nextId("fld");
  rest.id = id;
  let control;
  if (tag === "select") {
    control = h("select", rest, (options || []).map((o) =>
      typeof o === "string" ? h("option", { value: o }, o) : h("option", { value: o.value, selected: o.selected }, o.label)));
  } else {
    control = h(tag, rest);
  }
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    const hid = `${id}-hint`;
    control.setAttribute("aria-describedby", hid);
    parts.push(h("p", { class: "hint", id: hid }, hint));
  }
  const wrap = h("div", { class: rest.type === "checkbox" ? "field check" : "field" }, ...(rest.type === "checkbox" ? [control, parts[0], ...parts.slice(2)] : parts));
  wrap.control = control;
  return wrap;
}

/** icon returns an inline SVG icon from a path string (decorative). */
export function icon(d) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", d);
  svg.appendChild(p);
  return svg;
}

/** Icon paths (24x24, stroked). */
export const icons = {
  eye: "M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12zm10-3a3 3 0 100 6 3 3 0 000-6z",
  eyeOff: "M3 3l18 18M10.6 5.1A10 10 0 0112 5c6 0 10 7 10 7a17 17 0 01-3.2 3.9M6.6 6.6C3.8 8.4 2 12 2 12s4 7 10 7a9.7 9.7 0 005.4-1.6M9.9 9.9a3 3 0 004.2 4.2",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  folder: "M3 6h6l2 2h10v11H3z",
  key: "M14 10a4 4 0 11-3-3.9L21 6v4h-3v3h-3",
  moon: "M20 14.5A8 8 0 019.5 4 8 8 0 1020 14.5z",
};

/** showError renders err (an ApiError or any Error) into el as an alert. */
export function showError(el, err) {
  const msgs = err && Array.isArray(err.errors) && err.errors.length ? err.errors
    : [err && err.message ? err.message : String(err)];
  const box = h("div", { class: "alert", role: "alert" },
    msgs.length === 1 ? h("p", {}, msgs[0]) : h("ul", {}, msgs.map((m) => h("li", {}, m))));
  clear(el).appendChild(box);
  return box;
}

/**
 * notice shows text in the page's live region (role="status"): screen
 * readers announce it and it fades after a while.
 */
export function notice(text) {
  const region = document.getElementById("notices");
  if (!region) return;
  const item = h("p", { class: "notice" }, text);
  region.appendChild(item);
  while (region.children.length > 3) region.firstElementChild.remove();
  setTimeout(() => item.remove(), 6000);
}

/**
 * confirmDialog asks a yes/no question in a modal <dialog> (focus moves
 * into it, Escape cancels, focus returns where it was) and resolves to
 * true for the confirming button.
 */
export function confirmDialog(text, { ok = "Confirm", danger = true } = {}) {
  return new Promise((resolve) => {
    const before = document.activeElement;
    const titleId = nextId("dlg");
    const done = (v) => {
      dlg.close();
      dlg.remove();
      if (before && before.focus) before.focus();
      resolve(v);
    };
    const cancel = h("button", { type: "button", onclick: () => done(false) }, "Cancel");
    const yes = h("button", { type: "button", class: danger ? "danger" : "primary", onclick: () => done(true) }, ok);
    const dlg = h("dialog", { "aria-labelledby": titleId, class: "dialog" },
      h("p", { id: titleId }, text),
      h("div", { class: "actions" }, cancel, yes));
    dlg.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.appendChild(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

/** fmtTime shows an RFC 3339 time as local date and time ("" for none). */
export function fmtTime(s) {
  if (!s || s.startsWith("0001-")) return "";
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}
