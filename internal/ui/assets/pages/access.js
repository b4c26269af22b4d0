// access.js: "who can access this path" (sys/access/who) and "what can
// this token, role, entity or policy set access" (sys/access/what), for
// tokens with read and sudo there; otherwise the signed-in token's own
// access (sys/internal/ui/resultant-acl, its policies, and
// sys/capabilities-self on a path).
import { box, table, section, dl, text, own } from "./opskit.js";

const CAPABILITIES = ["read", "list", "create", "update", "patch", "delete", "sudo"];

export default {
  async render(el, ctx) {
    el = own(el, ctx);
    const { h } = ctx;
    el.append(h("h1", {}, "Access"));
    const caps = await ctx.caps(["sys/access/who", "sys/access/what"]);
    const who = ctx.can(caps["sys/access/who"], "read") && ctx.can(caps["sys/access/who"], "sudo");
    const what = ctx.can(caps["sys/access/what"], "read") && ctx.can(caps["sys/access/what"], "sudo");
    if (who) el.append(whoPanel(ctx));
    if (what) el.append(whatPanel(ctx));
    if (!who || !what) el.append(await selfPanel(ctx, who || what));
  },
};

function whoPanel(ctx) {
  const { h } = ctx;
  const path = ctx.field("Path", { name: "who-path", required: true, autocomplete: "off", spellcheck: "false", hint: "As a client sends it: secret/data/app/db for a KV v2 secret." });
  const cap = ctx.field("Capability", { tag: "select", name: "who-capability", options: CAPABILITIES });
  const errs = box(h, "who-errors");
  const out = h("div", { id: "who-result" });
  const form = h("form", {
    class: "toolbar", "aria-label": "Who can access a path",
    onsubmit: async (e) => {
      e.preventDefault();
      errs.replaceChildren();
      out.replaceChildren();
      try {
        const res = await ctx.api.get("sys/access/who", { path: path.control.value.trim(), capability: cap.control.value });
        out.append(...whoResult(ctx, res.data || {}));
      } catch (err) {
        ctx.error(errs, err);
      }
    },
  }, path, cap, h("button", { type: "submit", class: "primary", id: "who-submit" }, "Who can?"));
  return section(h, "Who can access this?", form, errs, out);
}

function whoResult(ctx, d) {
  const { h } = ctx;
  const rule = (g) => [g.policy, h("code", {}, (g.rule && g.rule.path) || ""), (g.rule && g.rule.capabilities) || [], g.conditional ? "conditional" : "yes"];
  const parts = [
    h("h3", {}, "Policies that grant it"),
    table(h, "Granting policies", ["Policy", "Rule", "Capabilities", "Grants"], (d.grants || []).map(rule)),
  ];
  if ((d.denies || []).length) parts.push(h("h3", {}, "Policies that deny it"), table(h, "Denying policies", ["Policy", "Rule", "Capabilities", "Grants"], d.denies.map(rule)));
  if ((d.shadows || []).length) parts.push(h("h3", {}, "Policies with a more specific rule"), table(h, "Shadowing policies", ["Policy", "Rule", "Capabilities", "Grants"], d.shadows.map(rule)));
  parts.push(
    h("h3", {}, "Auth roles and users"),
    table(h, "Principals", ["Mount", "Kind", "Name", "Policies", "Access"], (d.principals || []).map((p) => [p.mount, p.kind || p.type, p.name, p.policies, p.access])),
    h("h3", {}, "Entities"),
    table(h, "Entities", ["Name", "ID", "Policies", "Access"], (d.entities || []).map((e) => [e.name, h("code", {}, e.id), e.policies, e.access])),
    h("h3", {}, "Groups"),
    table(h, "Groups", ["Name", "Policies", "Access"], (d.groups || []).map((g) => [g.name, g.policies, g.access])),
    h("h3", {}, `Live tokens (${d.token_count || 0}${d.tokens_truncated ? ", list cut short" : ""})`),
    table(h, "Tokens", ["Accessor", "Name", "Policies", "Made by", "Access"], (d.tokens || []).map((t) => [h("code", {}, t.accessor), t.display_name, t.policies, t.path, t.access])),
  );
  return parts;
}

function whatPanel(ctx) {
  const { h } = ctx;
  const kind = ctx.field("Subject", {
    tag: "select", name: "what-kind",
    options: [
      { value: "accessor", label: "Token accessor" },
      { value: "role", label: "Auth role (mount and name, e.g. auth/approle/role/web)" },
      { value: "entity_id", label: "Entity ID" },
      { value: "policy", label: "Policies (comma-separated)" },
    ],
  });
  const value = ctx.field("Value", { name: "what-value", required: true, autocomplete: "off", spellcheck: "false" });
  const errs = box(h, "what-errors");
  const out = h("div", { id: "what-result" });
  const form = h("form", {
    class: "toolbar", "aria-label": "What a principal can access",
    onsubmit: async (e) => {
      e.preventDefault();
      errs.replaceChildren();
      out.replaceChildren();
      try {
        const res = await ctx.api.get("sys/access/what", { [kind.control.value]: value.control.value.trim() });
        out.append(...whatResult(ctx, res.data || {}));
      } catch (err) {
        ctx.error(errs, err);
      }
    },
  }, kind, value, h("button", { type: "submit", class: "primary", id: "what-submit" }, "What can it?"));
  return section(h, "What can it access?", form, errs, out);
}

function whatResult(ctx, d) {
  const { h } = ctx;
  const s = d.subject || {};
  const parts = [dl(h, [["Subject", `${s.kind || ""} ${s.name || ""}`], ["Policies", s.policies], ["Root", d.root ? "yes" : "no"],
    ["Depends on entity", d.depends_on_entity ? "yes: templated rules left out" : "no"]])];
  const acl = d.acl || {};
  const rules = Array.isArray(acl) ? acl.map((r) => [h("code", {}, r.path), r.capabilities]) : Object.keys(acl).sort().map((p) => [h("code", {}, p), acl[p].capabilities || acl[p]]);
  parts.push(h("h3", {}, "Resultant ACL"), table(h, "Resultant ACL", ["Path", "Capabilities"], rules));
  for (const m of d.mounts || []) {
    const paths = m.paths || [];
    parts.push(h("h3", {}, `Mount ${m.path || m.mount}${m.enumerated === false ? " (not enumerated)" : ""}${m.truncated ? " (cut short)" : ""}`),
      table(h, `Paths under ${m.path || m.mount}`, ["Path", "Capabilities"], paths.map((p) => [h("code", {}, p.path), p.capabilities])));
  }
  return parts;
}

/**
 * selfPanel: the signed-in token's own access, for a token without sudo
 * on sys/access/*: its policies, and its capabilities on a path.
 */
async function selfPanel(ctx, partial) {
  const { h } = ctx;
  const parts = [];
  parts.push(h("p", { class: "warn", id: "access-fallback" }, partial
    ? "This token may use only part of sys/access/* (read and sudo are needed)."
    : "This token may not ask who can access a path or what others can access: that needs read and sudo on sys/access/*. Here is what it can access itself."));
  try {
    const r = (await ctx.api.get("sys/internal/ui/resultant-acl")).data || {};
    if (r.root) {
      parts.push(h("p", {}, "This token holds the root policy: it may do everything."));
    } else {
      const rows = [
        ...Object.keys(r.exact_paths || {}).sort().map((p) => [h("code", {}, p), r.exact_paths[p].capabilities]),
        ...Object.keys(r.glob_paths || {}).sort().map((p) => [h("code", {}, `${p}*`), r.glob_paths[p].capabilities]),
      ];
      parts.push(h("h3", {}, "My resultant ACL"), table(h, "My resultant ACL", ["Path", "Capabilities"], rows, "no rules"));
    }
  } catch (e) {
    const b = box(h);
    ctx.error(b, e);
    parts.push(b);
  }
  try {
    const look = (await ctx.api.get("auth/token/lookup-self")).data || {};
    parts.push(dl(h, [["Display name", look.display_name], ["Policies", look.policies], ["Identity policies", look.identity_policies],
      ["Accessor", h("code", {}, text(look.accessor))], ["Expires", look.expire_time || "never"]]));
    const pols = (look.policies || []).concat(look.identity_policies || []).filter((p) => p !== "root");
    if (pols.length) {
      parts.push(h("p", {}, "Policies: ", pols.map((p, i) => [i ? ", " : "", h("a", { href: `#/policies/view/${encodeURIComponent(p)}` }, p)])));
    }
  } catch (e) {
    const b = box(h);
    ctx.error(b, e);
    parts.push(b);
  }
  const path = ctx.field("Path", { name: "self-path", required: true, autocomplete: "off", spellcheck: "false", hint: "What may this token do on this path?" });
  const errs = box(h, "self-errors");
  const out = h("div", { id: "self-result", "aria-live": "polite" });
  parts.push(h("form", {
    class: "toolbar", "aria-label": "My capabilities on a path",
    onsubmit: async (e) => {
      e.preventDefault();
      errs.replaceChildren();
      out.replaceChildren();
      const p = path.control.value.trim();
      try {
        const res = await ctx.api.post("sys/capabilities-self", { paths: [p] });
        const d = res.data || res;
        out.append(h("p", {}, h("code", {}, p), ": ", text(d[p] || d.capabilities)));
      } catch (err) {
        ctx.error(errs, err);
      }
    },
  }, path, h("button", { type: "submit", id: "self-submit" }, "Check")), errs, out);
  return section(h, "My access", ...parts);
}
