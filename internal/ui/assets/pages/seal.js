// seal.js: seal status, unseal (key shares entered by operators, masked
// and cleared as soon as they are sent), reset, and seal. It works while
// the server is sealed and without a token: sys/seal-status and
// sys/unseal need none.
import { dl, box, section, own } from "./opskit.js";

export default {
  async render(el, ctx) {
    el = own(el, ctx);
    const { h } = ctx;
    const statusBox = h("div", {});
    const errs = box(h, "seal-errors");
    const controls = h("div", {});
    el.append(h("h1", {}, "Seal"), errs, statusBox, controls);

    // The unseal form stays while the server is sealed (focus and the
    // field survive each share); only its progress is updated.
    let form = null;
    let progress = null;

    async function draw() {
      let st;
      try {
        st = await ctx.api.get("sys/seal-status");
      } catch (e) {
        ctx.error(errs, e);
        return;
      }
      let maySeal = false;
      if (!st.sealed && ctx.token()) {
        const caps = (await ctx.caps(["sys/seal"]))["sys/seal"];
        maySeal = ctx.can(caps, "update") && ctx.can(caps, "sudo");
      }
      statusBox.replaceChildren(section(h, "Status", dl(h, [
        ["State", h("strong", { id: "seal-state" }, st.sealed ? "Sealed" : "Unsealed")],
        ["Initialized", st.initialized ? "yes" : "no"],
        ["Seal type", st.type + (st.recovery_seal ? " (auto-unseal, recovery keys)" : "")],
        ["Key shares needed", `${st.t} of ${st.n}`],
        ["Unseal progress", h("span", { id: "seal-progress" }, `${st.progress} of ${st.t}`)],
        ["Version", st.version],
        ["Cluster", st.cluster_name || "—"],
        ["Storage", st.storage_type || "—"],
      ])));
      if (st.sealed) {
        if (!form) {
          form = unsealForm(st);
          controls.replaceChildren(form);
        }
        progress.max = st.t;
        progress.value = st.progress;
        return;
      }
      form = null;
      controls.replaceChildren();
      if (maySeal) controls.append(sealControl());
      if (!ctx.token()) {
        controls.append(h("p", {}, "The server is unsealed. ", h("a", { href: "#/login" }, "Sign in"), " to use it."));
      }
    }

    function unsealForm(st) {
      const key = ctx.field("Unseal key share", {
        type: "password", name: "unseal-key", autocomplete: "off", spellcheck: "false", required: true,
        hint: `Each operator enters one share; ${st.t} are needed. Shares are sent in the request body only, never kept.`,
      });
      progress = h("progress", { max: String(st.t), value: String(st.progress), "aria-label": "Unseal progress" });
      const submit = h("button", { type: "submit", class: "primary", id: "unseal-submit" }, "Submit key share");
      const reset = h("button", {
        type: "button", id: "unseal-reset",
        onclick: async () => {
          errs.replaceChildren();
          try {
            await ctx.api.put("sys/unseal", { reset: true });
            ctx.notice("Unseal progress reset: the shares entered so far are forgotten.");
          } catch (e) {
            ctx.error(errs, e);
          }
          await draw();
        },
      }, "Reset progress");
      return h("form", {
        class: "card", "aria-label": "Unseal",
        onsubmit: async (e) => {
          e.preventDefault();
          const value = key.control.value.trim();
          key.control.value = "";
          if (!value) return;
          errs.replaceChildren();
          submit.disabled = true;
          try {
            const res = await ctx.api.put("sys/unseal", { key: value });
            ctx.notice(res.sealed ? `Key share accepted: ${res.progress} of ${res.t}.` : "Unsealed.");
          } catch (err) {
            ctx.error(errs, err);
          } finally {
            submit.disabled = false;
          }
          await draw();
        },
      }, h("h2", {}, "Unseal"), key, progress, h("div", { class: "actions" }, submit, reset));
    }

    function sealControl() {
      return section(h, "Seal the server",
        h("p", { class: "hint" }, "Sealing stops every request until operators unseal it again with their key shares."),
        h("button", {
          type: "button", class: "danger", id: "seal-now",
          onclick: async () => {
            if (!(await ctx.confirm("Seal the server? Every request will be refused until it is unsealed with the key shares.", { ok: "Seal" }))) return;
            errs.replaceChildren();
            try {
              await ctx.api.put("sys/seal", {});
              ctx.notice("Sealed.");
            } catch (e) {
              ctx.error(errs, e);
            }
            await draw();
          },
        }, "Seal"));
    }

    await draw();
  },
};
