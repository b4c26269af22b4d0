// incidents.js: incidents (sys/incident, docs/incident-response.md):
// the list, one record, contain a leaked credential and release an
// incident (each after a confirmation), and the path lockdowns.
import { box, table, section, dl, listKeys, when, text, own } from "./opskit.js";

const CRITERIA = [
  ["accessor", "Token accessors"],
  ["entity_id", "Entity IDs"],
  ["role", "Auth roles (e.g. auth/approle/role/web)"],
  ["secret_id_accessor", "AppRole secret ID accessors"],
  ["cert_serial", "Certificate serials"],
  ["source_cidr", "Source CIDRs"],
];

export default {
  async render(el, ctx, params) {
    el = own(el, ctx);
    const { h } = ctx;
    const errs = box(h, "incident-errors");
    const caps = await ctx.caps(["sys/incident/contain", "sys/incident/release", "sys/incident/lockdown"]);
    const may = (p) => ctx.can(caps[p], "update") && ctx.can(caps[p], "sudo");
    const [id] = params;
    if (id) return showIncident(el, ctx, errs, id, may("sys/incident/release"));
    el.append(h("h1", {}, "Incidents"), errs);
    try {
      const { keys, info } = await listKeys(ctx, "sys/incident");
      el.append(section(h, "Incidents", table(h, "Incidents", ["Incident", "Status", "Opened", "Reason", "Tokens revoked", "Failed steps"],
        keys.map((k) => {
          const i = info[k] || {};
          return [h("a", { href: `#/incidents/${encodeURIComponent(k)}` }, k), i.status, when(i.opened_at), i.reason, i.revoked, i.failed_steps];
        }), "none")));
    } catch (e) {
      ctx.error(errs, e);
    }
    if (ctx.can(caps["sys/incident/lockdown"], "read") && ctx.can(caps["sys/incident/lockdown"], "sudo")) {
      try {
        const d = (await ctx.api.get("sys/incident/lockdown")).data || {};
        el.append(section(h, "Lockdowns", table(h, "Lockdowns", ["Prefix", "Mode", "Reason"],
          (d.lockdowns || []).map((l) => [h("code", {}, l.prefix), l.mode, l.reason]), "none")));
      } catch (e) {
        const b = box(h);
        ctx.error(b, e);
        el.append(b);
      }
    }
    if (may("sys/incident/contain")) el.append(containForm(ctx));
  },
};

function containForm(ctx) {
  const { h } = ctx;
  const fields = CRITERIA.map(([k, label]) => [k, ctx.field(label, { name: `contain-${k}`, autocomplete: "off", spellcheck: "false" })]);
  const since = ctx.field("Since", { name: "contain-since", autocomplete: "off", hint: "Only tokens made since: an RFC 3339 time or a duration back from now (24h)." });
  const reason = ctx.field("Reason", { name: "contain-reason", autocomplete: "off", required: true });
  const errs = box(h, "contain-errors");
  const form = h("form", {
    class: "card", "aria-label": "Contain a leaked credential",
    onsubmit: async (e) => {
      e.preventDefault();
      errs.replaceChildren();
      const body = { reason: reason.control.value.trim() };
      const named = [];
      for (const [k, f] of fields) {
        const v = f.control.value.trim();
        if (v) {
          body[k] = v;
          named.push(`${k} ${v}`);
        }
      }
      if (since.control.value.trim()) body.since = since.control.value.trim();
      if (!named.length) {
        ctx.error(errs, { errors: ["Name at least one credential to contain."] });
        return;
      }
      if (!(await ctx.confirm(`Contain ${named.join("; ")}? Its tokens, leases and children are revoked and new logins blocked.`, { ok: "Contain" }))) return;
      try {
        const d = (await ctx.api.post("sys/incident/contain", body)).data || {};
        ctx.notice(`Incident ${d.id} opened.`);
        ctx.navigate(`incidents/${encodeURIComponent(d.id)}`);
      } catch (err) {
        ctx.error(errs, err);
      }
    },
  }, h("p", { class: "hint" }, "Give one or more; values separated by commas."), fields.map(([, f]) => f), since, reason, errs,
  h("div", { class: "actions" }, h("button", { type: "submit", class: "danger", id: "contain-submit" }, "Contain")));
  return section(h, "Contain a leaked credential", form);
}

async function showIncident(el, ctx, errs, id, mayRelease) {
  const { h } = ctx;
  el.append(h("p", {}, h("a", { href: "#/incidents" }, "← Incidents")), h("h1", {}, `Incident ${id}`), errs);
  let d;
  try {
    d = (await ctx.api.get(`sys/incident/${id}`)).data || {};
  } catch (e) {
    ctx.error(errs, e);
    return;
  }
  el.append(dl(h, [["Status", d.status], ["Reason", d.reason], ["Opened", when(d.opened_at)], ["Opened by", text(d.opened_by && (d.opened_by.accessor || d.opened_by.entity_id))],
    ["Updated", when(d.updated_at)], ["Released", when(d.released_at)], ["Criteria", text(d.criteria)], ["Blocks", text(d.blocks)]]));
  el.append(section(h, "Steps", table(h, "Containment steps", ["Step", "Target", "Outcome", "Detail"],
    (d.steps || []).map((s) => [s.action, s.target, s.outcome, s.error || s.detail]), "none")));
  el.append(section(h, "Revoked tokens", table(h, "Revoked tokens", ["Accessor", "Created by", "Via", "Leases"],
    (d.revoked || []).map((r) => [h("code", {}, r.accessor), r.path, r.via, (r.leases || []).length]), "none")));
  if ((d.rotations || []).length) {
    el.append(section(h, "Rotations", table(h, "Recorded rotations", ["Action", "Target", "Outcome", "Detail"], d.rotations.map((r) => [r.action, r.target, r.outcome, r.error || r.detail]))));
  }
  if (mayRelease && d.status === "open") {
    el.append(h("div", { class: "actions" }, h("button", {
      type: "button", class: "danger", id: "incident-release",
      onclick: async () => {
        if (!(await ctx.confirm(`Release incident ${id}? Its login blocks are lifted (revoked tokens stay revoked).`, { ok: "Release" }))) return;
        errs.replaceChildren();
        try {
          await ctx.api.post("sys/incident/release", { id });
          ctx.notice(`Incident ${id} released.`);
          ctx.navigate(`incidents/${encodeURIComponent(id)}`);
        } catch (e) {
          ctx.error(errs, e);
        }
      },
    }, "Release")));
  }
}
