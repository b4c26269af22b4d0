// secrets.js: secrets engines and KV secrets.
//
// Routes:
//   #/secrets                          the mounts, and "open a path"
//   #/secrets/<mount>/list/<folder...> a KV folder (filter, recursive list)
//   #/secrets/<mount>/show/<key...>    a secret: values, versions, diff, metadata
//   #/secrets/<mount>/new/<folder...>  a new secret in a folder
// <mount> is one URI-encoded segment ("team%2Fkv" for team/kv/).
//
// Secret values live in this module's closures only while shown: a hidden
// value is not in the DOM (its cell holds a mask), and nothing of a value
// reaches the URL, the title or the history.
import { clear, fmtTime, icon, icons, nextId } from "../dom.js";

const MASK = "••••••••";
const CAS_MISMATCH = /check-and-set parameter did not match/i;

const enc = encodeURIComponent;
const segs = (p) => p.split("/").filter(Boolean).map(enc).join("/");
export const routeList = (mount, folder = "") => `secrets/${enc(mount)}/list/${segs(folder)}`.replace(/\/$/, "");
export const routeShow = (mount, key) => `secrets/${enc(mount)}/show/${segs(key)}`;
const routeNew = (mount, folder = "") => `secrets/${enc(mount)}/new/${segs(folder)}`.replace(/\/$/, "");

/** show renders a value of a secret as text (JSON for non-strings). */
function asText(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** mountInfo asks which engine serves mount and its KV version. */
async function mountInfo(ctx, mount) {
  const res = await ctx.api.get(`sys/internal/ui/mounts/${mount}`);
  const d = res.data || {};
  const opts = d.options || {};
  return { type: d.type || "", version: d.type === "kv" ? (opts.version === "2" ? 2 : 1) : 0, path: d.path || `${mount}/` };
}

function crumbs(ctx, mount, parts, last) {
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

// ---------------------------------------------------------------- mounts

async function renderMounts(el, ctx) {
  const { h } = ctx;
  el.append(h("h1", {}, "Secrets engines"));
  const errBox = h("div", {});
  const list = h("div", {});
  const goErr = h("div", {});
  const pathField = ctx.field("Path", { name: "path", placeholder: "secret/app/db", autocomplete: "off", spellcheck: "false", hint: "A mount, folder or secret: opens it directly, even when your token may not list the engines." });
  const go = h("form", { class: "toolbar", "aria-label": "Open a path", onsubmit: async (e) => {
    e.preventDefault();
    clear(goErr);
    const raw = pathField.control.value.trim().replace(/^\/+/, "");
    if (!raw) return;
    try {
      const info = await mountInfo(ctx, raw);
      const mount = info.path.replace(/\/$/, "");
      let rest = raw.slice(info.path.length);
      if (info.version === 2) rest = rest.replace(/^(data|metadata)\//, "");
      if (!rest || raw.endsWith("/")) ctx.navigate(routeList(mount, rest));
      else ctx.navigate(routeShow(mount, rest));
    } catch (err) {
      ctx.error(goErr, err);
    }
  } }, pathField, h("button", { type: "submit" }, "Open"));
  el.append(errBox, list, h("h2", {}, "Open a path"), go, goErr);

  let mounts = null;
  for (const p of ["sys/internal/ui/mounts", "sys/mounts"]) {
    try {
      const res = await ctx.api.get(p);
      const d = res.data || res;
      mounts = d.secret || d;
      break;
    } catch (err) {
      if (err.status !== 403) {
        ctx.error(errBox, err);
        return;
      }
    }
  }
  if (!mounts) {
    list.append(h("p", { class: "hint" }, "Your token may not list the secrets engines. Open a path you know below."));
    pathField.control.focus();
    return;
  }
  const rows = Object.entries(mounts).filter(([, m]) => m && m.type).sort(([a], [b]) => a.localeCompare(b));
  list.append(h("table", {},
    h("caption", { class: "sr-only" }, "Secrets engines"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Path"), h("th", { scope: "col" }, "Type"), h("th", { scope: "col" }, "Description"))),
    h("tbody", {}, rows.map(([path, m]) => {
      const kv = m.type === "kv";
      const v = kv ? ((m.options || {}).version === "2" ? "kv v2" : "kv v1") : m.type;
      const name = path.replace(/\/$/, "");
      return h("tr", {},
        h("td", {}, kv ? h("a", { href: `#/${routeList(name)}` }, path) : h("span", { class: "mono" }, path)),
        h("td", {}, h("span", { class: "badge" }, v)),
        h("td", {}, m.description || ""));
    }))));
}

// ---------------------------------------------------------------- folder

async function renderFolder(el, ctx, mount, parts) {
  const { h } = ctx;
  const folder = parts.length ? `${parts.join("/")}/` : "";
  el.append(crumbs(ctx, mount, parts, false), h("h1", {}, folder ? `${mount}/${folder}` : `${mount}/`));
  const errBox = h("div", {});
  el.append(errBox);
  let info;
  try {
    info = await mountInfo(ctx, mount);
  } catch (err) {
    ctx.error(errBox, err);
    return;
  }
  if (info.type !== "kv") {
    el.append(h("p", {}, `${mount}/ is a ${info.type} engine; the UI browses KV engines only.`));
    return;
  }
  const v2 = info.version === 2;
  const listPath = v2 ? `${mount}/metadata/${folder}` : `${mount}/${folder}`;
  const writePath = v2 ? `${mount}/data/${folder}` : `${mount}/${folder}`;
  const caps = await ctx.caps([writePath, listPath]);

  const filter = ctx.field("Filter", { type: "search", name: "filter", autocomplete: "off", spellcheck: "false", placeholder: "name contains…" });
  const recursive = ctx.field("Every key below this folder", { type: "checkbox", name: "recursive" });
  const tools = h("div", { class: "toolbar", role: "search" }, filter, recursive);
  if (ctx.can(caps[writePath], "create") || ctx.can(caps[writePath], "update")) {
    tools.append(h("a", { class: "button", href: `#/${routeNew(mount, folder)}` }, "New secret"));
  }
  const listBox = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  el.append(tools, listBox, h("div", { class: "actions" }, more));

  let keys = [];
  let nextAfter = "";
  let recursiveMode = false;

  const draw = () => {
    clear(listBox);
    const q = filter.control.value.trim().toLowerCase();
    const shown = keys.filter((k) => !q || k.toLowerCase().includes(q));
    if (!shown.length) {
      listBox.append(h("p", { class: "hint" }, keys.length ? "No key matches the filter." : "No secrets here."));
      return;
    }
    listBox.append(h("p", { class: "hint" }, `${shown.length} ${shown.length === 1 ? "entry" : "entries"}${nextAfter ? " (more below)" : ""}`));
    listBox.append(h("ul", { class: "tree", "aria-label": `Keys in ${mount}/${folder}` }, shown.map((k) => {
      const isDir = k.endsWith("/");
      const href = isDir ? `#/${routeList(mount, folder + k)}` : `#/${routeShow(mount, folder + k)}`;
      return h("li", {}, h("a", { href }, icon(isDir ? icons.folder : icons.key), k));
    })));
  };

  const load = async (append) => {
    clear(errBox);
    try {
      const query = recursiveMode ? { recursive: "true", limit: 1000, after: append ? nextAfter : "" } : undefined;
      const res = await ctx.api.list(listPath, query);
      const d = res.data || {};
      keys = append ? keys.concat(d.keys || []) : (d.keys || []);
      nextAfter = recursiveMode ? d.next_after || "" : "";
    } catch (err) {
      if (err.status === 404) {
        if (!append) keys = [];
        nextAfter = "";
      } else {
        ctx.error(errBox, err);
      }
    }
    more.hidden = !nextAfter;
    draw();
  };
  filter.control.addEventListener("input", draw);
  recursive.control.addEventListener("change", () => {
    recursiveMode = recursive.control.checked;
    load(false);
  });
  more.addEventListener("click", () => load(true));
  await load(false);
}

// ---------------------------------------------------------------- new secret

/** kvEditor is the rows of key/value inputs of a new secret or version.
 * Values are password inputs; existing keys start empty ("unchanged") so
 * that no stored value enters the DOM unless the user reveals it. */
function kvEditor(ctx, existing) {
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

async function renderNew(el, ctx, mount, parts) {
  const { h } = ctx;
  const folder = parts.length ? `${parts.join("/")}/` : "";
  el.append(crumbs(ctx, mount, parts, false), h("h1", {}, "New secret"));
  const errBox = h("div", {});
  el.append(errBox);
  let info;
  try {
    info = await mountInfo(ctx, mount);
  } catch (err) {
    ctx.error(errBox, err);
    return;
  }
  const pathF = ctx.field("Path", { name: "path", required: true, autocomplete: "off", spellcheck: "false", hint: `Below ${mount}/${folder}` });
  const editor = kvEditor(ctx, null);
  const form = h("form", { class: "card", "aria-label": "New secret", onsubmit: async (e) => {
    e.preventDefault();
    clear(errBox);
    const rel = pathF.control.value.trim().replace(/^\/+|\/+$/g, "");
    if (!rel) {
      ctx.error(errBox, new Error("The secret needs a path."));
      return;
    }
    const key = folder + rel;
    try {
      const data = editor.data();
      if (info.version === 2) {
        await ctx.api.post(`${mount}/data/${key}`, { data, options: { cas: 0 } });
      } else {
        await ctx.api.put(`${mount}/${key}`, data);
      }
      editor.clear();
      ctx.notice(`Saved ${mount}/${key}.`);
      ctx.navigate(routeShow(mount, key));
    } catch (err) {
      if (CAS_MISMATCH.test((err.errors || []).join(" "))) {
        ctx.error(errBox, { errors: [`${mount}/${key} already exists: open it to write a new version.`] });
      } else {
        ctx.error(errBox, err);
      }
    }
  } }, pathF, h("h2", {}, "Keys and values"), editor.el,
  h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save"),
    h("a", { class: "button", href: `#/${routeList(mount, folder)}` }, "Cancel")));
  el.append(form);
  pathF.control.focus();
}

// ---------------------------------------------------------------- secret

/** valueTable shows keys with hidden values: reveal puts a value in the
 * DOM, hide takes it out again; copy writes it to the clipboard without
 * showing it. */
function valueTable(ctx, data, { canRead = true } = {}) {
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

function versionState(v) {
  if (!v) return "";
  if (v.destroyed) return "destroyed";
  if (v.deletion_time && !v.deletion_time.startsWith("0001-") && new Date(v.deletion_time) <= new Date()) return "deleted";
  return "";
}

async function renderSecret(el, ctx, mount, parts) {
  const { h } = ctx;
  const key = parts.join("/");
  el.append(crumbs(ctx, mount, parts, true));
  const title = h("h1", {}, key);
  const errBox = h("div", {});
  el.append(title, errBox);
  let info;
  try {
    info = await mountInfo(ctx, mount);
  } catch (err) {
    ctx.error(errBox, err);
    return;
  }
  if (info.version !== 2) return renderSecretV1(el, ctx, mount, key, errBox);

  const P = {
    data: `${mount}/data/${key}`, meta: `${mount}/metadata/${key}`, del: `${mount}/delete/${key}`,
    undel: `${mount}/undelete/${key}`, destroy: `${mount}/destroy/${key}`,
  };
  const caps = await ctx.caps(Object.values(P));
  const can = {
    read: ctx.can(caps[P.data], "read"),
    write: ctx.can(caps[P.data], "update") || ctx.can(caps[P.data], "create"),
    delLatest: ctx.can(caps[P.data], "delete"),
    delVersions: ctx.can(caps[P.del], "update"),
    undelete: ctx.can(caps[P.undel], "update"),
    destroy: ctx.can(caps[P.destroy], "update"),
    readMeta: ctx.can(caps[P.meta], "read"),
    writeMeta: ctx.can(caps[P.meta], "update") || ctx.can(caps[P.meta], "create"),
    delAll: ctx.can(caps[P.meta], "delete"),
  };

  const summary = h("p", { class: "hint" });
  const tabsBox = h("div", { class: "tabs", role: "tablist", "aria-label": "Secret views" });
  const panel = h("div", { role: "tabpanel", tabindex: "-1" });
  el.append(summary, tabsBox, panel);

  let meta = null; // the metadata read, or null when not allowed
  let viewing = 0; // the version shown in the Secret tab; 0 = current
  let current = null; // { data, metadata } of the shown version
  let table = null;
  let tab = "secret";

  async function loadMeta() {
    meta = null;
    if (!can.readMeta) return;
    try {
      meta = (await ctx.api.get(P.meta)).data || null;
    } catch (err) {
      if (err.status !== 404) throw err;
    }
  }

  async function loadVersion(n) {
    current = null;
    if (!can.read) return;
    try {
      const res = await ctx.api.get(P.data, n ? { version: n } : undefined);
      current = res.data || null;
    } catch (err) {
      // A deleted or destroyed version answers 404 with its metadata.
      if (err.status === 404 && err.body && err.body.data && err.body.data.metadata) current = err.body.data;
      else if (err.status !== 404) throw err;
    }
  }

  function drawSummary() {
    clear(summary);
    const m = current && current.metadata;
    const cv = meta ? meta.current_version : m ? m.version : 0;
    if (!cv && !m) {
      summary.append("This secret does not exist (or your token may not see it).");
      return;
    }
    const parts2 = [`Current version ${cv}`];
    if (meta && meta.updated_time) parts2.push(`updated ${fmtTime(meta.updated_time)}`);
    if (meta && meta.cas_required) parts2.push("check-and-set required");
    summary.append(parts2.join(" · "));
  }

  function drawTabs() {
    clear(tabsBox);
    const tabs = [["secret", "Secret"]];
    if (meta) tabs.push(["versions", "Versions"], ["metadata", "Metadata"]);
    tabs.forEach(([id, label], i) => {
      const b = h("button", {
        type: "button", role: "tab", id: `tab-${id}`, "aria-selected": tab === id ? "true" : "false",
        "aria-controls": "secret-panel", tabindex: tab === id ? "0" : "-1",
        onclick: () => select(id),
        onkeydown: (e) => {
          const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
          if (!d) return;
          e.preventDefault();
          const next = tabs[(i + d + tabs.length) % tabs.length][0];
          select(next).then(() => document.getElementById(`tab-${next}`)?.focus());
        },
      }, label);
      tabsBox.append(b);
    });
    panel.id = "secret-panel";
    panel.setAttribute("aria-labelledby", `tab-${tab}`);
  }

  async function select(id) {
    if (table) table.hideAll();
    tab = id;
    drawTabs();
    clear(panel);
    clear(errBox);
    try {
      if (id === "secret") await drawSecret();
      if (id === "versions") drawVersions();
      if (id === "metadata") drawMetadata();
    } catch (err) {
      ctx.error(errBox, err);
    }
  }

  async function reload(n = 0) {
    viewing = n;
    await loadMeta();
    await loadVersion(n);
    drawSummary();
    await select(tab);
  }

  // ---- Secret tab
  async function drawSecret(editing = false) {
    clear(panel);
    table = null;
    if (!can.read) {
      panel.append(h("p", {}, "Your token may not read this secret's values."));
      return;
    }
    const m = current && current.metadata;
    if (!m) {
      panel.append(h("p", {}, "No such secret."));
      return;
    }
    const latest = meta ? meta.current_version : m.version;
    const state = versionState(m);
    const head = h("div", { class: "toolbar" },
      h("h2", {}, `Version ${m.version}`),
      m.version === latest ? h("span", { class: "badge current" }, "current") : h("span", { class: "badge" }, "older version"),
      state ? h("span", { class: `badge ${state}` }, state) : null);
    panel.append(head, h("p", { class: "hint" }, `Created ${fmtTime(m.created_time)}${createdBy(m.version)}`));
    if (viewing && viewing !== latest) {
      panel.append(h("p", {}, h("a", { href: `#/${routeShow(mount, key)}`, onclick: (e) => { e.preventDefault(); reload(0); } }, "Show the current version")));
    }
    if (state) {
      const box = h("div", { class: "warn" }, h("p", {}, state === "destroyed"
        ? "This version was destroyed: its data is gone for good."
        : "This version is deleted. Undelete it to read its data again."));
      if (state === "deleted" && can.undelete) {
        box.append(h("button", { type: "button", onclick: () => versionAction("undelete", m.version) }, "Undelete"));
      }
      panel.append(box);
      return;
    }
    if (editing) {
      drawEditor(m);
      return;
    }
    table = valueTable(ctx, current.data || {}, { canRead: true });
    panel.append(table.el);
    const acts = h("div", { class: "actions" });
    if (can.write && m.version === latest) acts.append(h("button", { type: "button", class: "primary", onclick: () => drawSecret(true) }, "New version"));
    if (can.write && m.version !== latest) acts.append(h("button", { type: "button", onclick: () => rollback(m.version) }, `Roll back to version ${m.version}`));
    if (m.version === latest ? can.delLatest || can.delVersions : can.delVersions) {
      acts.append(h("button", { type: "button", onclick: () => versionAction("delete", m.version) }, "Delete this version"));
    }
    if (can.destroy) acts.append(h("button", { type: "button", class: "danger", onclick: () => versionAction("destroy", m.version) }, "Destroy this version"));
    if (can.delAll) acts.append(h("button", { type: "button", class: "danger", onclick: deleteAll }, "Delete secret and all versions"));
    panel.append(acts);
  }

  function createdBy(n) {
    const v = meta && meta.versions ? meta.versions[String(n)] : null;
    if (!v) return "";
    const who = v.created_by_entity_id || v.created_by_accessor;
    return who ? ` by ${who}` : "";
  }

  function drawEditor(m) {
    const editBox = h("div", {});
    const editor = kvEditor(ctx, current.data || {});
    const form = h("form", { class: "card", "aria-label": "New version", onsubmit: async (e) => {
      e.preventDefault();
      clear(editBox);
      let data;
      try {
        data = editor.data();
      } catch (err) {
        ctx.error(editBox, err);
        return;
      }
      try {
        const res = await ctx.api.post(P.data, { data, options: { cas: m.version } });
        editor.clear();
        ctx.notice(`Saved version ${res.data ? res.data.version : ""}.`);
        await reload(0);
      } catch (err) {
        if (CAS_MISMATCH.test((err.errors || []).join(" "))) {
          await casConflict(editBox, m.version);
        } else {
          ctx.error(editBox, err);
        }
      }
    } },
    h("h3", {}, `New version (based on version ${m.version})`),
    h("p", { class: "hint" }, "Leave a value empty to keep it as it is."),
    editBox, editor.el,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Save new version"),
      h("button", { type: "button", onclick: () => drawSecret(false) }, "Cancel")));
    panel.append(form);
    const first = form.querySelector("input");
    if (first) first.focus();
  }

  /** casConflict explains a check-and-set refusal: someone else wrote a
   * version after this one was read. The form keeps what was typed. */
  async function casConflict(box, based) {
    let now = "";
    try {
      const md = (await ctx.api.get(P.meta)).data;
      now = md ? ` (now version ${md.current_version})` : "";
    } catch {
      // the explanation works without the number
    }
    const reloadBtn = h("button", { type: "button", onclick: () => reload(0) }, "Load the latest version");
    clear(box).append(h("div", { class: "alert", role: "alert" },
      h("p", {}, h("strong", {}, "Not saved: this secret changed while you were editing. ")),
      h("p", {}, `You started from version ${based}, but someone saved a newer version${now}. Saving now would overwrite their change, so the server refused it (check-and-set).`),
      h("p", {}, "Load the latest version, then make your change again."),
      h("div", { class: "actions" }, reloadBtn)));
    reloadBtn.focus();
  }

  async function rollback(n) {
    const latest = meta ? meta.current_version : n;
    if (!(await ctx.confirm(`Roll back to version ${n}? Its data is written as a new version (${latest + 1}); the versions in between stay.`, { ok: "Roll back", danger: false }))) return;
    clear(errBox);
    try {
      const old = (await ctx.api.get(P.data, { version: n })).data;
      await ctx.api.post(P.data, { data: old.data, options: { cas: latest } });
      ctx.notice(`Rolled back: version ${latest + 1} holds version ${n}'s data.`);
      tab = "secret";
      await reload(0);
    } catch (err) {
      if (CAS_MISMATCH.test((err.errors || []).join(" "))) await casConflict(errBox, latest);
      else ctx.error(errBox, err);
    }
  }

  async function versionAction(kind, n) {
    const latest = meta ? meta.current_version : n;
    const q = {
      delete: `Delete version ${n}? It can be undeleted later.`,
      undelete: `Undelete version ${n}?`,
      destroy: `Destroy version ${n}? Its data is erased for good and cannot be recovered.`,
    }[kind];
    if (!(await ctx.confirm(q, { ok: kind[0].toUpperCase() + kind.slice(1), danger: kind !== "undelete" }))) return;
    clear(errBox);
    try {
      if (kind === "delete" && !can.delVersions && n === latest) await ctx.api.del(P.data);
      else if (kind === "delete") await ctx.api.post(P.del, { versions: [n] });
      else if (kind === "undelete") await ctx.api.post(P.undel, { versions: [n] });
      else await ctx.api.put(P.destroy, { versions: [n] });
      ctx.notice(`Version ${n}: ${kind === "undelete" ? "undeleted" : kind === "delete" ? "deleted" : "destroyed"}.`);
      await reload(viewing);
    } catch (err) {
      ctx.error(errBox, err);
    }
  }

  async function deleteAll() {
    if (!(await ctx.confirm(`Delete ${mount}/${key} with every version and its metadata? This cannot be undone.`, { ok: "Delete everything" }))) return;
    try {
      await ctx.api.del(P.meta);
      ctx.notice(`Deleted ${mount}/${key}.`);
      ctx.navigate(routeList(mount, parts.slice(0, -1).join("/")));
    } catch (err) {
      ctx.error(errBox, err);
    }
  }

  // ---- Versions tab
  function drawVersions() {
    const nums = Object.keys(meta.versions || {}).map(Number).sort((a, b) => b - a);
    const rows = nums.map((n) => {
      const v = meta.versions[String(n)];
      const st = versionState(v);
      const acts = h("div", { class: "actions" });
      if (can.read && st === "") acts.append(h("button", { type: "button", class: "small", "aria-label": `View version ${n}`, onclick: async () => { tab = "secret"; await reload(n); } }, "View"));
      if (can.write && can.read && st === "" && n !== meta.current_version) acts.append(h("button", { type: "button", class: "small", "aria-label": `Roll back to version ${n}`, onclick: () => rollback(n) }, "Roll back"));
      if (st === "" && can.delVersions) acts.append(h("button", { type: "button", class: "small", "aria-label": `Delete version ${n}`, onclick: () => versionAction("delete", n) }, "Delete"));
      if (st === "deleted" && can.undelete) acts.append(h("button", { type: "button", class: "small", "aria-label": `Undelete version ${n}`, onclick: () => versionAction("undelete", n) }, "Undelete"));
      if (st !== "destroyed" && can.destroy) acts.append(h("button", { type: "button", class: "small danger", "aria-label": `Destroy version ${n}`, onclick: () => versionAction("destroy", n) }, "Destroy"));
      const who = v.created_by_entity_id || v.created_by_accessor || "";
      return h("tr", { "data-version": String(n) },
        h("th", { scope: "row" }, String(n), n === meta.current_version ? h("span", { class: "badge current" }, " current") : null),
        h("td", {}, fmtTime(v.created_time)),
        h("td", { class: "mono" }, who ? h("span", { title: v.created_by_entity_id ? "entity ID" : "token accessor" }, who) : "—"),
        h("td", {}, st ? h("span", { class: `badge ${st}` }, st) : "active"),
        h("td", {}, acts));
    });
    panel.append(h("table", {},
      h("caption", { class: "sr-only" }, "Versions"),
      h("thead", {}, h("tr", {}, ["Version", "Created", "Created by", "State", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)));
    if (can.read && nums.length > 1) drawDiffForm(nums);
  }

  function drawDiffForm(nums) {
    const live = nums.filter((n) => versionState(meta.versions[String(n)]) === "");
    if (live.length < 2) return;
    const opts = (sel) => live.map((n) => ({ value: String(n), label: `Version ${n}`, selected: n === sel }));
    const fromF = ctx.field("From version", { tag: "select", name: "from", options: opts(live[1]) });
    const toF = ctx.field("To version", { tag: "select", name: "to", options: opts(live[0]) });
    const out = h("div", { "aria-live": "polite" });
    const form = h("form", { class: "toolbar", "aria-label": "Compare versions", onsubmit: async (e) => {
      e.preventDefault();
      clear(out);
      try {
        const a = Number(fromF.control.value);
        const b = Number(toF.control.value);
        const [ra, rb] = await Promise.all([ctx.api.get(P.data, { version: a }), ctx.api.get(P.data, { version: b })]);
        out.append(diffTable(ctx, a, b, diffData(ra.data.data, rb.data.data)));
      } catch (err) {
        ctx.error(out, err);
      }
    } }, fromF, toF, h("button", { type: "submit" }, "Compare"));
    panel.append(h("h2", {}, "Compare two versions"), form, out);
  }

  // ---- Metadata tab
  function drawMetadata() {
    const ro = !can.writeMeta;
    const dl = h("dl", { class: "meta" },
      h("dt", {}, "Created"), h("dd", {}, fmtTime(meta.created_time)),
      h("dt", {}, "Updated"), h("dd", {}, fmtTime(meta.updated_time)),
      h("dt", {}, "Last read"), h("dd", {}, fmtTime(meta.last_read_time) || "never, or not tracked"),
      h("dt", {}, "Current version"), h("dd", {}, String(meta.current_version)),
      h("dt", {}, "Oldest version"), h("dd", {}, String(meta.oldest_version)));
    panel.append(dl);
    const maxF = ctx.field("Versions kept", { type: "number", min: 0, name: "max_versions", value: String(meta.max_versions || 0), disabled: ro, hint: "0 keeps the mount's default." });
    const casF = ctx.field("Require check-and-set on every write", { type: "checkbox", name: "cas_required", checked: meta.cas_required, disabled: ro });
    const dvaF = ctx.field("Delete versions after", { name: "delete_version_after", value: meta.delete_version_after && meta.delete_version_after !== "0s" ? String(meta.delete_version_after) : "", placeholder: "e.g. 720h; empty for never", disabled: ro });
    const cmBox = h("div", {});
    const cmRows = [];
    const addCM = (k = "", v = "") => {
      const kf = ctx.field("Metadata key", { name: "cm_key", value: k, disabled: ro, autocomplete: "off" });
      const vf = ctx.field("Metadata value", { name: "cm_value", value: v, disabled: ro, autocomplete: "off" });
      const row = { kf, vf, el: null };
      const rm = ro ? null : h("button", { type: "button", class: "small", "aria-label": `Remove metadata ${k || "row"}`, onclick: () => { cmRows.splice(cmRows.indexOf(row), 1); row.el.remove(); } }, "Remove");
      row.el = h("div", { class: "kvrow" }, kf, vf, h("div", { class: "actions" }, rm));
      cmRows.push(row);
      cmBox.append(row.el);
      return row;
    };
    for (const [k, v] of Object.entries(meta.custom_metadata || {}).sort()) addCM(k, v);
    const box = h("div", {});
    const form = h("form", { class: "card", "aria-label": "Metadata", onsubmit: async (e) => {
      e.preventDefault();
      clear(box);
      const cm = {};
      for (const r of cmRows) {
        const k = r.kf.control.value.trim();
        if (k) cm[k] = r.vf.control.value;
      }
      const body = {
        max_versions: Number(maxF.control.value || 0),
        cas_required: casF.control.checked,
        delete_version_after: dvaF.control.value.trim() || "0s",
        custom_metadata: cm,
      };
      try {
        await ctx.api.post(P.meta, body);
        ctx.notice("Metadata saved.");
        await reload(viewing);
      } catch (err) {
        ctx.error(box, err);
      }
    } }, h("h2", {}, "Settings"), box, maxF, casF, dvaF, h("h3", {}, "Custom metadata"), cmBox,
    ro ? h("p", { class: "hint" }, "Your token may not change this secret's metadata.") : h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => addCM().kf.control.focus() }, "Add metadata"),
      h("button", { type: "submit", class: "primary" }, "Save metadata")));
    panel.append(form);
  }

  try {
    await loadMeta();
    await loadVersion(0);
  } catch (err) {
    ctx.error(errBox, err);
    return;
  }
  drawSummary();
  await select("secret");
  return () => {
    if (table) table.hideAll();
    current = null;
  };
}

/** diffTable shows a diff with values hidden until a row is revealed. */
function diffTable(ctx, a, b, rows) {
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

async function renderSecretV1(el, ctx, mount, key, errBox) {
  const { h } = ctx;
  const path = `${mount}/${key}`;
  const caps = await ctx.caps([path]);
  const panel = h("div", {});
  el.append(panel);
  let data = null;
  let table = null;
  const draw = async (editing) => {
    clear(panel);
    clear(errBox);
    if (!ctx.can(caps[path], "read")) {
      panel.append(h("p", {}, "Your token may not read this secret."));
      return;
    }
    if (editing) {
      const box = h("div", {});
      const editor = kvEditor(ctx, data);
      panel.append(h("form", { class: "card", "aria-label": "Edit secret", onsubmit: async (e) => {
        e.preventDefault();
        try {
          await ctx.api.put(path, editor.data());
          editor.clear();
          ctx.notice("Saved.");
          data = (await ctx.api.get(path)).data;
          draw(false);
        } catch (err) {
          ctx.error(box, err);
        }
      } }, box, editor.el, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save"),
        h("button", { type: "button", onclick: () => draw(false) }, "Cancel"))));
      return;
    }
    table = valueTable(ctx, data || {});
    panel.append(h("p", { class: "hint" }, "KV version 1: no versions are kept; a save replaces the secret."), table.el);
    const acts = h("div", { class: "actions" });
    if (ctx.can(caps[path], "update")) acts.append(h("button", { type: "button", class: "primary", onclick: () => draw(true) }, "Edit"));
    if (ctx.can(caps[path], "delete")) acts.append(h("button", { type: "button", class: "danger", onclick: async () => {
      if (!(await ctx.confirm(`Delete ${path}? KV version 1 keeps no copy.`, { ok: "Delete" }))) return;
      try {
        await ctx.api.del(path);
        ctx.notice(`Deleted ${path}.`);
        ctx.navigate(routeList(mount, key.split("/").slice(0, -1).join("/")));
      } catch (err) {
        ctx.error(errBox, err);
      }
    } }, "Delete"));
    panel.append(acts);
  };
  try {
    data = (await ctx.api.get(path)).data || {};
  } catch (err) {
    ctx.error(errBox, err);
    return;
  }
  await draw(false);
  return () => {
    if (table) table.hideAll();
    data = null;
  };
}

export default {
  async render(el, ctx, params) {
    const [mount, mode, ...rest] = params;
    if (!mount) return renderMounts(el, ctx);
    if (mode === "show" && rest.length) return renderSecret(el, ctx, mount, rest);
    if (mode === "new") return renderNew(el, ctx, mount, rest);
    return renderFolder(el, ctx, mount, mode === "list" ? rest : []);
  },
};
