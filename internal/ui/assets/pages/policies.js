// policies.js: ACL policies: list, view, edit and save (the server's
// validation errors shown next to the editor), create, delete (after a
// confirmation), and "test this path" (sys/policies/test) on the text in
// the editor or on stored policies.
import { box, table, section, listKeys, own } from "./opskit.js";

const PROTECTED = new Set(["root", "default"]);

export default {
  async render(el, ctx, params) {
    el = own(el, ctx);
    const [mode, name] = params;
    if (mode === "view" && name) return viewPolicy(el, ctx, name);
    if (mode === "new") return editPolicy(el, ctx, "", "");
    return listPolicies(el, ctx);
  },
};

const policyPath = (name) => `sys/policies/acl/${name}`;

async function listPolicies(el, ctx) {
  const { h } = ctx;
  const errs = box(h, "policies-errors");
  el.append(h("h1", {}, "Policies"), errs);
  // Whether the token may create policies depends on the name; a typical
  // name stands for any (a rule on sys/policies/acl/* covers it). The
  // server decides on the real name when the form is saved.
  const caps = await ctx.caps(["sys/policies/acl", "sys/policies/acl/new-policy", "sys/policies/test"]);
  if (ctx.can(caps["sys/policies/acl/new-policy"], "create") || ctx.can(caps["sys/policies/acl/new-policy"], "update")) {
    el.append(h("div", { class: "actions" }, h("a", { class: "button", href: "#/policies/new", id: "policy-new" }, "New policy")));
  }
  let keys = [];
  try {
    keys = (await listKeys(ctx, "sys/policies/acl")).keys;
  } catch (e) {
    ctx.error(errs, e);
    return;
  }
  el.append(section(h, "ACL policies", keys.length
    ? h("ul", { class: "tree", id: "policy-list" }, keys.map((k) => h("li", {}, h("a", { href: `#/policies/view/${encodeURIComponent(k)}` }, k))))
    : h("p", { class: "hint" }, "No policies you may list.")));
  if (ctx.can(caps["sys/policies/test"], "update")) el.append(testPanel(ctx, () => ({ names: "" })));
}

async function viewPolicy(el, ctx, name) {
  const { h } = ctx;
  const errs = box(h, "policy-errors");
  el.append(h("p", {}, h("a", { href: "#/policies" }, "← Policies")), h("h1", {}, `Policy ${name}`), errs);
  let text = "";
  try {
    const res = await ctx.api.get(policyPath(name));
    text = (res.data && res.data.policy) || "";
  } catch (e) {
    ctx.error(errs, e);
    return;
  }
  return editPolicy(el, ctx, name, text, true);
}

async function editPolicy(el, ctx, name, text, existing = false) {
  const { h } = ctx;
  if (!existing) el.append(h("p", {}, h("a", { href: "#/policies" }, "← Policies")), h("h1", {}, "New policy"));
  const probe = policyPath(name || "new-policy");
  const caps = await ctx.caps([probe, "sys/policies/test"]);
  const mayWrite = name !== "root" && (existing ? ctx.can(caps[probe], "update") : ctx.can(caps[probe], "create") || ctx.can(caps[probe], "update"));
  const mayDelete = existing && !PROTECTED.has(name) && ctx.can(caps[probe], "delete");

  const nameField = existing ? null : ctx.field("Name", { name: "policy-name", autocomplete: "off", spellcheck: "false", required: true, hint: "Lowercase letters, digits, - and _." });
  const editorErr = h("div", { class: "errors", id: "policy-editor-error" });
  const editor = ctx.field("Policy (HCL or JSON)", {
    tag: "textarea", name: "policy-text", rows: "16", spellcheck: "false", value: text,
    readonly: mayWrite ? null : true, "aria-describedby": "policy-editor-error",
  });
  editor.control.value = text;
  editor.control.classList.add("policy-editor");
  const buttons = [];
  if (mayWrite) {
    buttons.push(h("button", { type: "submit", class: "primary", id: "policy-save" }, "Save"));
  }
  if (mayDelete) {
    buttons.push(h("button", {
      type: "button", class: "danger", id: "policy-delete",
      onclick: async () => {
        if (!(await ctx.confirm(`Delete policy ${name}? Tokens holding it lose what it grants at once.`, { ok: "Delete" }))) return;
        editorErr.replaceChildren();
        try {
          await ctx.api.del(policyPath(name));
          ctx.notice(`Policy ${name} deleted.`);
          ctx.navigate("policies");
        } catch (e) {
          ctx.error(editorErr, e);
        }
      },
    }, "Delete"));
  }
  const form = h("form", {
    class: "card", "aria-label": existing ? `Edit policy ${name}` : "New policy",
    onsubmit: async (e) => {
      e.preventDefault();
      if (!mayWrite) return;
      editorErr.replaceChildren();
      editor.control.removeAttribute("aria-invalid");
      const target = existing ? name : nameField.control.value.trim().toLowerCase();
      try {
        await ctx.api.put(policyPath(target), { policy: editor.control.value });
        ctx.notice(`Policy ${target} saved.`);
        if (!existing) ctx.navigate(`policies/view/${encodeURIComponent(target)}`);
      } catch (err) {
        editor.control.setAttribute("aria-invalid", "true");
        ctx.error(editorErr, err);
      }
    },
  }, nameField, editor, editorErr, buttons.length ? h("div", { class: "actions" }, buttons) : h("p", { class: "hint" }, "Read only: this token may not change this policy."));
  el.append(form);
  if (ctx.can(caps["sys/policies/test"], "update")) {
    el.append(testPanel(ctx, () => ({ policy: editor.control.value, names: existing ? name : "" })));
  }
}

/**
 * testPanel is the "test this path" evaluator: paths (one a line) against
 * the editor's text, or against stored policies named in a field.
 */
function testPanel(ctx, source) {
  const { h } = ctx;
  const src = source();
  const hasText = src.policy !== undefined;
  const which = hasText ? ctx.field("Evaluate", {
    tag: "select", name: "test-source",
    options: [{ value: "text", label: "The text in the editor (unsaved)" }, { value: "names", label: "Stored policies" }],
  }) : null;
  const names = ctx.field("Stored policies", { name: "test-names", value: src.names || "", autocomplete: "off", spellcheck: "false", hint: "Names separated by commas." });
  const paths = ctx.field("Paths", { tag: "textarea", name: "test-paths", rows: "3", spellcheck: "false", hint: "One request path a line, e.g. secret/data/app/db (a trailing / asks about a list)." });
  if (which) {
    const sync = () => { names.hidden = which.control.value === "text"; };
    which.control.addEventListener("change", sync);
    sync();
  }
  const errs = h("div", { class: "errors", id: "policy-test-error" });
  const out = h("div", { id: "policy-test-result", "aria-live": "polite" });
  const form = h("form", {
    "aria-label": "Test a path",
    onsubmit: async (e) => {
      e.preventDefault();
      errs.replaceChildren();
      out.replaceChildren();
      const list = paths.control.value.split("\n").map((p) => p.trim()).filter(Boolean);
      const body = { paths: list };
      if (which && which.control.value === "text") body.policy = source().policy;
      else body.names = names.control.value;
      try {
        const res = await ctx.api.post("sys/policies/test", body);
        const d = res.data || {};
        out.append(table(h, "Capabilities by path", ["Path", "Capabilities"],
          list.map((p) => [h("code", {}, p), (d.capabilities && d.capabilities[p] || []).join(", ")])));
        if (d.templated_skipped) out.append(h("p", { class: "hint" }, "Templated rules were left out: they depend on the entity of the token."));
      } catch (err) {
        ctx.error(errs, err);
      }
    },
  }, which, names, paths, h("div", { class: "actions" }, h("button", { type: "submit", id: "policy-test" }, "Test")), errs, out);
  return section(h, "Test this path", form);
}
