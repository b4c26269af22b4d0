// leases.js: leases by prefix (sys/leases/lookup), one lease's details,
// revoke one, and revoke every lease under a prefix after a confirmation
// that names the prefix.
import { box, table, section, dl, listKeys, when, own } from "./opskit.js";

export default {
  async render(el, ctx) {
    el = own(el, ctx);
    const { h } = ctx;
    const errs = box(h, "leases-errors");
    el.append(h("h1", {}, "Leases"), errs);
    const counts = h("div", {});
    el.append(counts);
    try {
      const d = (await ctx.api.get("sys/leases")).data || {};
      counts.append(dl(h, [["Leases", d.lease_count], ["Failing revocations", (d.failing_revocations || []).length]]));
    } catch {
      // sys/leases needs its own permission; the lookup below may still work.
    }
    const prefix = ctx.field("Prefix", { name: "lease-prefix", autocomplete: "off", spellcheck: "false", hint: "A lease ID prefix such as database/creds/app/ (empty: the top level)." });
    const list = h("div", { id: "lease-list" });
    const detail = h("div", { id: "lease-detail", "aria-live": "polite" });
    const form = h("form", {
      class: "toolbar", "aria-label": "Look up leases",
      onsubmit: (e) => { e.preventDefault(); show(prefix.control.value.trim()); },
    }, prefix, h("button", { type: "submit", class: "primary", id: "lease-lookup" }, "Look up"));
    el.append(form, list, detail);

    async function show(p) {
      if (p && !p.endsWith("/")) p += "/";
      prefix.control.value = p;
      errs.replaceChildren();
      list.replaceChildren();
      detail.replaceChildren();
      let keys;
      try {
        ({ keys } = await listKeys(ctx, `sys/leases/lookup/${p}`));
      } catch (e) {
        ctx.error(errs, e);
        return;
      }
      const revokePath = `sys/leases/revoke-prefix/${p}`;
      const caps = await ctx.caps(["sys/leases/revoke", "sys/leases/lookup", revokePath]);
      const mayRevoke = ctx.can(caps["sys/leases/revoke"], "update");
      const rows = keys.map((k) => {
        if (k.endsWith("/")) return [h("button", { type: "button", class: "ghost", onclick: () => show(p + k) }, p + k), "folder", ""];
        const id = p + k;
        const acts = h("div", { class: "actions" });
        if (ctx.can(caps["sys/leases/lookup"], "update")) acts.append(h("button", { type: "button", class: "small", "aria-label": `Details of ${id}`, onclick: () => lookup(id) }, "Details"));
        if (mayRevoke) acts.append(h("button", { type: "button", class: "small danger", "aria-label": `Revoke ${id}`, onclick: () => revoke(id) }, "Revoke"));
        return [h("code", {}, id), "lease", acts];
      });
      const parts = [table(h, `Leases under ${p || "the top level"}`, ["Lease", "Kind", "Actions"], rows, "no leases")];
      if (p && ctx.can(caps[revokePath], "update") && ctx.can(caps[revokePath], "sudo")) {
        parts.push(h("div", { class: "actions" }, h("button", {
          type: "button", class: "danger", id: "lease-revoke-prefix",
          onclick: async () => {
            if (!(await ctx.confirm(`Revoke every lease under the prefix ${p}? The credentials they cover stop working.`, { ok: `Revoke all under ${p}` }))) return;
            errs.replaceChildren();
            try {
              await ctx.api.put(revokePath, {});
              ctx.notice(`Leases under ${p} revoked.`);
            } catch (e) {
              ctx.error(errs, e);
            }
            show(p);
          },
        }, `Revoke prefix ${p}`)));
      }
      list.append(section(h, `Leases under ${p || "/"}`, ...parts));
    }

    async function lookup(id) {
      detail.replaceChildren();
      try {
        const d = (await ctx.api.post("sys/leases/lookup", { lease_id: id })).data || {};
        detail.append(section(h, "Lease", dl(h, [["ID", h("code", {}, d.id)], ["Issued", when(d.issue_time)], ["Expires", when(d.expire_time)],
          ["Last renewal", when(d.last_renewal)], ["TTL (s)", d.ttl], ["Renewable", d.renewable ? "yes" : "no"]])));
      } catch (e) {
        ctx.error(detail, e);
      }
    }

    async function revoke(id) {
      if (!(await ctx.confirm(`Revoke lease ${id}?`, { ok: "Revoke" }))) return;
      errs.replaceChildren();
      try {
        await ctx.api.put("sys/leases/revoke", { lease_id: id });
        ctx.notice(`Lease ${id} revoked.`);
      } catch (e) {
        ctx.error(errs, e);
      }
      show(prefix.control.value.trim());
    }

    await show("");
  },
};
