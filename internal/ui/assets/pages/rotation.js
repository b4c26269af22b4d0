// rotation.js: scheduled rotation of KV v2 secrets (docs/rotation.md):
// for each KV v2 mount the secrets with a rotation policy
// (LIST MOUNT/rotation/FOLDER), each one's policy and state
// (GET MOUNT/rotation/PATH), and "rotate now" (POST MOUNT/rotate/PATH)
// after a confirmation. Generated values are never shown.
import { box, table, section, dl, listKeys, when, text, own } from "./opskit.js";

export default {
  async render(el, ctx, params) {
    el = own(el, ctx);
    const { h } = ctx;
    const errs = box(h, "rotation-errors");
    // The path within the mount is one route parameter (its slashes
    // escaped), so that a folder keeps its trailing "/".
    const [mount, ...rest] = params;
    const path = rest.join("/");
    el.append(h("h1", {}, "Rotation"), errs);
    if (mount && path && !path.endsWith("/")) return showPolicy(el, ctx, errs, mount, path);
    let mounts;
    try {
      const d = (await ctx.api.get("sys/mounts")).data || {};
      mounts = Object.keys(d).filter((m) => d[m].type === "kv" && d[m].options && String(d[m].options.version) === "2").sort();
    } catch (e) {
      ctx.error(errs, e);
      return;
    }
    if (mount) mounts = mounts.filter((m) => m === `${mount}/`);
    if (!mounts.length) {
      el.append(h("p", {}, "No KV version 2 mounts you may see."));
      return;
    }
    for (const m of mounts) {
      const name = m.replace(/\/$/, "");
      const folder = mount === name ? path : "";
      const out = h("div", {});
      el.append(section(h, `${m}${folder}`, out));
      try {
        const { keys } = await listKeys(ctx, `${name}/rotation/${folder}`);
        out.append(keys.length
          ? h("ul", { class: "tree" }, keys.map((k) => h("li", {}, h("a", { href: `#/rotation/${encodeURIComponent(name)}/${encodeURIComponent(folder + k)}` }, folder + k))))
          : h("p", { class: "hint" }, "No secrets with a rotation policy here."));
      } catch (e) {
        ctx.error(out, e);
      }
    }
  },
};

async function showPolicy(el, ctx, errs, mount, path) {
  const { h } = ctx;
  el.append(h("p", {}, h("a", { href: `#/rotation/${encodeURIComponent(mount)}` }, `← ${mount}/`)), h("h2", {}, `${mount}/${path}`));
  let d;
  try {
    d = (await ctx.api.get(`${mount}/rotation/${path}`)).data || {};
  } catch (e) {
    ctx.error(errs, e);
    return;
  }
  const keys = d.keys || {};
  el.append(dl(h, [
    ["Schedule", d.schedule || (d.period ? `every ${d.period}` : "—")],
    ["Window", d.window], ["Grace period", d.grace_period],
    ["Next rotation", when(d.next_rotation)], ["Last rotation", when(d.last_rotation)],
    ["Pending version", d.pending_version || "none"], ["Previous version", d.previous_version],
    ["Consecutive failures", d.failures || 0], ["Last error", d.last_error], ["Last failure", when(d.last_failure_time)],
    ["Rotator", d.rotator ? `${d.rotator.type}${d.rotator.url ? ` → ${d.rotator.url}` : ""}` : "none"],
  ]));
  el.append(section(h, "Keys", table(h, "Generated keys", ["Key", "Generator", "Options"], Object.keys(keys).sort().map((k) => {
    const { generator, ...opts } = keys[k] || {};
    return [k, generator, text(opts)];
  }))));
  const caps = await ctx.caps([`${mount}/rotate/${path}`]);
  if (ctx.can(caps[`${mount}/rotate/${path}`], "update") || ctx.can(caps[`${mount}/rotate/${path}`], "create")) {
    el.append(h("div", { class: "actions" }, h("button", {
      type: "button", class: "danger", id: "rotate-now",
      onclick: async () => {
        if (!(await ctx.confirm(`Rotate ${mount}/${path} now? New values are made and handed to its rotator.`, { ok: "Rotate now" }))) return;
        errs.replaceChildren();
        try {
          const r = (await ctx.api.post(`${mount}/rotate/${path}`, {})).data || {};
          ctx.notice(`Rotated: version ${r.version} is current (previous ${r.previous_version}).`);
          ctx.navigate(`rotation/${encodeURIComponent(mount)}/${encodeURIComponent(path)}`);
        } catch (e) {
          ctx.error(errs, e);
        }
      },
    }, "Rotate now")));
  }
}
