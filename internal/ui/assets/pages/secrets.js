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
import { clear, icon, icons } from "../dom.js";
import { CAS_MISMATCH, crumbs, kvEditor, mountInfo, routeList, routeNew, routeShow } from "./kv.js";
import { renderSecret } from "./secret.js";

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

export default {
  async render(el, ctx, params) {
    const [mount, mode, ...rest] = params;
    if (!mount) return renderMounts(el, ctx);
    if (mode === "show" && rest.length) return renderSecret(el, ctx, mount, rest);
    if (mode === "new") return renderNew(el, ctx, mount, rest);
    return renderFolder(el, ctx, mount, mode === "list" ? rest : []);
  },
};
