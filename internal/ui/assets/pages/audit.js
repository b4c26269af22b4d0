// audit.js: audit devices (sys/audit), each one's signed chain head and
// checkpoint key (the trail's verification anchors), and an HMAC helper
// (sys/audit-hash) for searching a log for a value the device wrote
// HMACed. The log itself is verified and searched where it is kept, with
// `coffer audit verify` and `coffer audit search` (docs/operations.md).
import { box, table, section, dl, when, text } from "./opskit.js";

export default {
  async render(el, ctx) {
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
      const caps = await ctx.caps([`sys/audit/${dev}/head`, `sys/audit/${dev}/public-key`, `sys/audit-hash/${dev}`]);
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
      if (devices[n].type === "file") {
        parts.push(h("p", { class: "hint" }, "Verify the file against this head and key where it is kept:"),
          h("pre", {}, `coffer audit verify -server=${location.origin} -public-key=@${dev}.pub ${(devices[n].options || {}).file_path || "audit.log"}`));
      }
      if (ctx.can(caps[`sys/audit-hash/${dev}`], "update")) parts.push(hashForm(ctx, dev));
      if (parts.length) el.append(section(h, `Device ${n}`, ...parts));
    }
  },
};

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
