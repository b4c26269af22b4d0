// search.js: find KV version 2 secrets across mounts (sys/access/search):
// by path glob, mount, custom metadata, times and creator. Hits are paths
// and metadata, never values; each is filtered by the token's ACL.
import { clear, fmtTime } from "../dom.js";
import { routeShow } from "./kv.js";

/** toRFC3339 turns a date input's value (yyyy-mm-dd) into a UTC time. */
function toRFC3339(d) {
  return d ? `${d}T00:00:00Z` : "";
}

export default {
  async render(el, ctx) {
    const { h } = ctx;
    el.append(h("h1", {}, "Search secrets"));
    const caps = await ctx.caps(["sys/access/search"]);
    if (!ctx.can(caps["sys/access/search"], "read")) {
      el.append(h("p", {}, "Searching needs read and sudo on sys/access/search, which your token lacks. Browse a KV engine's folders from Secrets instead: its filter and \"every key below this folder\" list what you may see."));
      return;
    }
    const glob = ctx.field("Path glob", { name: "glob", placeholder: "secret/**/db", autocomplete: "off", spellcheck: "false", hint: "* matches within a segment, ** across segments." });
    const mount = ctx.field("Mount", { name: "mount", placeholder: "secret", autocomplete: "off", spellcheck: "false" });
    const meta = ctx.field("Custom metadata", { name: "meta", placeholder: "owner=payments, env", autocomplete: "off", hint: "key=value or key; several separated by commas." });
    const createdBy = ctx.field("Created by", { name: "created_by", placeholder: "accessor or entity ID", autocomplete: "off", spellcheck: "false" });
    const notRead = ctx.field("Not read since", { name: "not_read_since", type: "date" });
    const updatedBefore = ctx.field("Updated before", { name: "updated_before", type: "date" });
    const errBox = h("div", {});
    const out = h("div", { "aria-live": "polite" });
    const more = h("button", { type: "button", hidden: true }, "Load more");
    let hits = [];
    let nextAfter = "";

    const draw = () => {
      clear(out);
      if (!hits.length) {
        out.append(h("p", { class: "hint" }, "No secrets match."));
        return;
      }
      out.append(h("p", { class: "hint" }, `${hits.length} ${hits.length === 1 ? "secret" : "secrets"}${nextAfter ? " (more below)" : ""}`));
      out.append(h("table", {},
        h("caption", { class: "sr-only" }, "Search results"),
        h("thead", {}, h("tr", {}, ["Secret", "Version", "Updated", "Last read", "Created by", "Custom metadata"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, hits.map((s) => h("tr", {},
          h("td", {}, h("a", { href: `#/${routeShow(s.mount.replace(/\/$/, ""), s.path)}` }, `${s.mount}${s.path}`)),
          h("td", {}, s.current_version ? String(s.current_version) : ""),
          h("td", {}, fmtTime(s.updated_time)),
          h("td", {}, fmtTime(s.last_read_time)),
          h("td", { class: "mono" }, s.created_by_entity_id || s.created_by_accessor || ""),
          h("td", {}, Object.entries(s.custom_metadata || {}).map(([k, v]) => `${k}=${v}`).join(", ")))))));
    };

    const run = async (append) => {
      clear(errBox);
      const q = {
        glob: glob.control.value.trim(),
        mount: mount.control.value.trim(),
        meta: meta.control.value.split(",").map((s) => s.trim()).filter(Boolean),
        created_by: createdBy.control.value.trim(),
        not_read_since: toRFC3339(notRead.control.value),
        updated_before: toRFC3339(updatedBefore.control.value),
        after: append ? nextAfter : "",
      };
      try {
        const res = await ctx.api.get("sys/access/search", q);
        const d = res.data || {};
        hits = append ? hits.concat(d.secrets || []) : d.secrets || [];
        nextAfter = d.next_after || "";
      } catch (err) {
        if (err.status === 404) {
          if (!append) hits = [];
          nextAfter = "";
        } else {
          ctx.error(errBox, err);
          return;
        }
      }
      more.hidden = !nextAfter;
      draw();
    };
    more.addEventListener("click", () => run(true));
    el.append(h("form", { class: "card search-form", role: "search", "aria-label": "Search secrets", onsubmit: (e) => { e.preventDefault(); run(false); } },
      glob, mount, meta, createdBy, notRead, updatedBefore,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Search"))),
    errBox, out, h("div", { class: "actions" }, more));
    glob.control.focus();
  },
};
