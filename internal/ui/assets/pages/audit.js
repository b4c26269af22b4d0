// audit.js: audit devices (sys/audit); for each, its signed chain head
// and checkpoint key, the verification of a file device's log on the
// server (sys/audit/NAME/verify) and a search of it
// (sys/audit/NAME/search: values go in the body and are HMACed by the
// server as the device writes them), and an HMAC helper (sys/audit-hash).
import { box, table, section, dl, when, text, own } from "./opskit.js";

export default {
  async render(el, ctx) {
    el = own(el, ctx);
    const { h } = ctx;
    const errs = box(h, "audit-errors");
    el.append(h("h1", {}, "Audit"), errs);
    let devices;
    try {
      devices = (await ctx.api.get("sys/audit")).data || {};
    } catch (e) {
      ctx.error(errs, e);
      return;
    }
    const names = Object.keys(devices).sort();
    el.append(section(h, "Devices", table(h, "Audit devices", ["Path", "Type", "Description", "Options", "Local"],
      names.map((n) => {
        const d = devices[n];
        const opts = Object.entries(d.options || {}).filter(([k]) => !/key|secret|token|password/i.test(k)).map(([k, v]) => `${k}=${v}`);
        return [n, d.type, d.description, opts, d.local ? "yes" : "no"];
      }), "no audit device is enabled: requests are not audited")));
    for (const n of names) {
      const dev = n.replace(/\/$/, "");
      const caps = await ctx.caps([`sys/audit/${dev}/head`, `sys/audit/${dev}/public-key`, `sys/audit-hash/${dev}`, `sys/audit/${dev}/verify`, `sys/audit/${dev}/search`]);
      const sudo = (p) => ctx.can(caps[p], "sudo");
      const parts = [];
      if (ctx.can(caps[`sys/audit/${dev}/head`], "read") && ctx.can(caps[`sys/audit/${dev}/head`], "sudo")) {
        try {
          const hd = (await ctx.api.get(`sys/audit/${dev}/head`)).data || {};
          parts.push(dl(h, [["Chain", h("code", {}, text(hd.chain_id))], ["Last entry", hd.seq], ["Head hash", h("code", { class: "wrap" }, text(hd.hash))],
            ["Head time", when(hd.time)], ["Signed", hd.signature ? "yes (Ed25519)" : "no"]]));
        } catch (e) {
          const b = box(h);
          ctx.error(b, e);
          parts.push(b);
        }
      }
      if (ctx.can(caps[`sys/audit/${dev}/public-key`], "read")) {
        try {
          const pk = (await ctx.api.get(`sys/audit/${dev}/public-key`)).data || {};
          parts.push(dl(h, [["Checkpoint public key", h("code", { class: "wrap", id: `audit-pubkey-${dev}` }, text(pk.public_key))]]));
        } catch (e) {
          const b = box(h);
          ctx.error(b, e);
          parts.push(b);
        }
      }
      const file = devices[n].type === "file" && !["stdout", "discard", ""].includes((devices[n].options || {}).file_path || "");
      if (file && ctx.can(caps[`sys/audit/${dev}/verify`], "read") && sudo(`sys/audit/${dev}/verify`)) parts.push(verifyPanel(ctx, dev));
      if (file && ctx.can(caps[`sys/audit/${dev}/search`], "update") && sudo(`sys/audit/${dev}/search`)) parts.push(searchForm(ctx, dev));
      if (ctx.can(caps[`sys/audit-hash/${dev}`], "update")) parts.push(hashForm(ctx, dev));
      if (parts.length) el.append(section(h, `Device ${n}`, ...parts));
    }
  },
};

/** verifyPanel verifies the device's log on the server, on request (it
 * reads the whole file). */
function verifyPanel(ctx, dev) {
  const { h } = ctx;
  const out = h("div", { id: `audit-verify-${dev}`, "aria-live": "polite" });
  const btn = h("button", {
    type: "button", class: "primary", "aria-label": `Verify the log of ${dev}`,
    onclick: async () => {
      out.replaceChildren(h("p", { class: "loading" }, "Verifying…"));
      btn.disabled = true;
      try {
        const d = (await ctx.api.get(`sys/audit/${dev}/verify`)).data || {};
        const verdict = d.ok ? "Verified: the chain is whole, every checkpoint signature holds and the file reaches the live head."
          : d.tampering ? "NOT verified: the log shows tampering." : "NOT verified: the log is damaged (a torn or cut-off write).";
        out.replaceChildren(...[
          h("p", { class: d.ok ? "verdict ok" : "alert", role: d.ok ? null : "alert" }, verdict),
          dl(h, [["Lines", d.lines], ["Entries", d.entries], ["Checkpoints", d.checkpoints], ["Seq", `${d.first_seq}–${d.last_seq} (head ${d.head_seq})`],
            ["Starts the chain", d.anchored ? "yes" : "no (continues a rotated file)"], ["Entries after the last checkpoint", d.unchecked],
            ["Torn writes recovered", d.recovered_torn_writes], ["Verified at", when(d.verified_at)]]),
          (d.problems || []).length ? table(h, "Problems", ["Line", "Kind", "Detail"], d.problems.map((p) => [p.line, p.kind, p.detail])) : null,
          d.problem_count > (d.problems || []).length ? h("p", { class: "hint" }, `${d.problem_count} problems in all; the first ${d.problems.length} are listed.`) : null].filter(Boolean));
      } catch (e) {
        ctx.error(out, e);
      } finally {
        btn.disabled = false;
      }
    },
  }, "Verify the log");
  return h("div", {}, h("h3", {}, "Verification"), h("div", { class: "actions" }, btn), out);
}

/** searchForm searches the device's log on the server. */
function searchForm(ctx, dev) {
  const { h } = ctx;
  const path = ctx.field("Path prefix", { name: `audit-search-path-${dev}`, autocomplete: "off", spellcheck: "false" });
  const op = ctx.field("Operation", { tag: "select", name: `audit-search-op-${dev}`, options: ["", "read", "list", "create", "update", "delete", "patch"].map((o) => ({ value: o, label: o || "any" })) });
  const status = ctx.field("Outcome", { tag: "select", name: `audit-search-status-${dev}`, options: [{ value: "", label: "any" }, { value: "ok", label: "succeeded" }, { value: "error", label: "failed" }] });
  const accessor = ctx.field("Token accessor", { name: `audit-search-accessor-${dev}`, autocomplete: "off", spellcheck: "false" });
  const value = ctx.field("Value", { type: "password", name: `audit-search-value-${dev}`, autocomplete: "off", spellcheck: "false", hint: "A value the entries carried: sent in the body, HMACed by the server." });
  const out = h("div", { id: `audit-search-${dev}`, "aria-live": "polite" });
  return h("div", {}, h("h3", {}, "Search"), h("form", {
    class: "toolbar", "aria-label": `Search the log of ${dev}`,
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { path: path.control.value.trim(), operation: op.control.value, status: status.control.value, accessor: accessor.control.value.trim(), limit: 50 };
      if (value.control.value) body.value = value.control.value;
      value.control.value = "";
      out.replaceChildren();
      try {
        const d = (await ctx.api.post(`sys/audit/${dev}/search`, body)).data || {};
        const rows = (d.matches || []).map((m) => {
          const en = m.entry || {};
          const rq = en.request || {};
          return [m.line, when(en.time), en.type, rq.operation, h("code", {}, rq.path || ""), (en.auth && en.auth.display_name) || "", en.error || ""];
        });
        out.append(table(h, "Matching entries", ["Line", "Time", "Type", "Operation", "Path", "Token", "Error"], rows, "no entries match"));
        if (d.truncated) out.append(h("p", { class: "hint" }, "Only the first 50 matches are shown."));
      } catch (err) {
        ctx.error(out, err);
      }
    },
  }, path, op, status, accessor, value, h("button", { type: "submit" }, "Search")), out);
}

/** hashForm HMACs a value as device dev writes it, for a search of its log
 * (`coffer audit search -value`). The value is sent in the body only and
 * the field is emptied once sent. */
function hashForm(ctx, dev) {
  const { h } = ctx;
  const input = ctx.field(`Value to find in ${dev}'s log`, { type: "password", name: `audit-hash-${dev}`, autocomplete: "off", spellcheck: "false", hint: "A token or value: it is HMACed as this device writes it, and the HMAC can be searched for." });
  const out = h("div", { "aria-live": "polite" });
  return h("form", {
    class: "toolbar", "aria-label": `Search helper for ${dev}`,
    onsubmit: async (e) => {
      e.preventDefault();
      const v = input.control.value;
      input.control.value = "";
      out.replaceChildren();
      if (!v) return;
      try {
        const d = (await ctx.api.post(`sys/audit-hash/${dev}`, { input: v })).data || {};
        out.append(h("p", {}, "HMAC: ", h("code", { class: "wrap" }, text(d.hash))),
          h("p", { class: "hint" }, `Entries that carried the value show this HMAC. Or, where the log is kept: coffer audit search -device=${dev} -value=@FILE LOG`));
      } catch (err) {
        ctx.error(out, err);
      }
    },
  }, input, h("button", { type: "submit" }, "HMAC"), out);
}
