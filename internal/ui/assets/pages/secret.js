// secret.js: one KV secret: its values (hidden until revealed), a new
// version (written with check-and-set), versions with who and when,
// delete, undelete, destroy, roll back, a diff of two versions, metadata.
// KV version 1 secrets get read, edit and delete.
import { clear, fmtTime } from "../dom.js";
import {
  CAS_MISMATCH, crumbs, diffData, diffTable, kvEditor, mountInfo, routeList, routeShow, valueTable, versionState,
} from "./kv.js";

export async function renderSecret(el, ctx, mount, parts) {
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
  let diffOut = null; // the diff shown, which may hold revealed values
  let tab = "secret";
  // A tab put in the background hides every value it shows.
  const onHidden = () => {
    if (!document.hidden) return;
    if (table) table.hideAll();
    if (diffOut) clear(diffOut);
  };
  document.addEventListener("visibilitychange", onHidden);

  async function loadMeta() {
    meta = null;
    if (!can.readMeta) return;
    try {
      meta = (await ctx.api.get(P.meta)).data || null;
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    await nameWriters();
  }

  // names maps a writer's accessor or entity ID to a readable name, when
  // the token may look it up (auth/token/lookup-accessor, identity).
  const names = new Map();
  async function nameWriters() {
    const vs = Object.values((meta && meta.versions) || {});
    const accs = [...new Set(vs.map((v) => v.created_by_accessor).filter((a) => a && !names.has(a)))].slice(0, 20);
    const ents = [...new Set(vs.map((v) => v.created_by_entity_id).filter((e) => e && !names.has(e)))].slice(0, 20);
    if (!accs.length && !ents.length) return;
    const look = "auth/token/lookup-accessor";
    const caps = await ctx.caps([look, ...ents.map((e) => `identity/entity/id/${e}`)]);
    const jobs = [];
    if (ctx.can(caps[look], "update")) {
      for (const a of accs) {
        jobs.push(ctx.api.post(look, { accessor: a }).then((r) => {
          if (r.data && r.data.display_name) names.set(a, r.data.display_name);
        }, () => names.set(a, ""))); // revoked or expired: the accessor is all there is
      }
    }
    for (const e of ents) {
      if (!ctx.can(caps[`identity/entity/id/${e}`], "read")) continue;
      jobs.push(ctx.api.get(`identity/entity/id/${e}`).then((r) => {
        if (r.data && r.data.name) names.set(e, r.data.name);
      }, () => names.set(e, "")));
    }
    await Promise.all(jobs);
  }

  /** writer is who wrote version v: a name when known, else the ID. */
  function writer(v) {
    const id = v.created_by_entity_id || v.created_by_accessor || "";
    const kind = v.created_by_entity_id ? "entity" : "token accessor";
    return { id, kind, name: (v.created_by_entity_id && names.get(v.created_by_entity_id)) || (v.created_by_accessor && names.get(v.created_by_accessor)) || "" };
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
    const w = writer(v);
    return w.id ? ` by ${w.name || w.id}` : "";
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
      const w = writer(v);
      return h("tr", { "data-version": String(n) },
        h("th", { scope: "row" }, String(n), n === meta.current_version ? h("span", { class: "badge current" }, " current") : null),
        h("td", {}, fmtTime(v.created_time)),
        h("td", {}, w.id ? [w.name ? h("span", {}, w.name, " ") : null, h("span", { class: w.name ? "mono hint-inline" : "mono", title: w.kind }, w.name ? `(${w.id.slice(0, 8)}…)` : w.id)] : "—"),
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
    diffOut = out;
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

  const cleanup = () => {
    document.removeEventListener("visibilitychange", onHidden);
    if (table) table.hideAll();
    if (diffOut) clear(diffOut);
    current = null;
  };
  try {
    await loadMeta();
    await loadVersion(0);
  } catch (err) {
    ctx.error(errBox, err);
    return cleanup;
  }
  drawSummary();
  await select("secret");
  return cleanup;
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
  const onHidden = () => {
    if (document.hidden && table) table.hideAll();
  };
  document.addEventListener("visibilitychange", onHidden);
  const cleanup = () => {
    document.removeEventListener("visibilitychange", onHidden);
    if (table) table.hideAll();
    data = null;
  };
  try {
    data = (await ctx.api.get(path)).data || {};
  } catch (err) {
    ctx.error(errBox, err);
    return cleanup;
  }
  await draw(false);
  return cleanup;
}
