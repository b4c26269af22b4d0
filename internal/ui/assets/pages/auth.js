// auth.js: auth methods (sys/auth) and, for each, its roles, users or
// keys (approle, userpass, jwt/oidc, kubernetes, awskeys), listed and
// read. Credentials (secret IDs, role IDs, passwords, secret keys) are
// never shown.
import { box, table, section, dataList, listKeys, text, own } from "./opskit.js";

/** What each method type lists, under its mount. */
const COLLECTIONS = {
  approle: { path: "role", noun: "Roles" },
  userpass: { path: "users", noun: "Users" },
  jwt: { path: "role", noun: "Roles" },
  oidc: { path: "role", noun: "Roles" },
  kubernetes: { path: "role", noun: "Roles" },
  awskeys: { path: "keys", noun: "Access keys" },
  cert: { path: "certs", noun: "Certificates" },
};

export default {
  async render(el, ctx, params) {
    el = own(el, ctx);
    const { h } = ctx;
    const errs = box(h, "auth-errors");
    const [mount, name] = params;
    if (!mount) {
      el.append(h("h1", {}, "Auth methods"), errs);
      let res;
      try {
        res = await ctx.api.get("sys/auth");
      } catch (e) {
        ctx.error(errs, e);
        return;
      }
      const d = res.data || {};
      const rows = Object.keys(d).sort().map((p) => [
        COLLECTIONS[d[p].type] ? h("a", { href: `#/auth/${encodeURIComponent(p.replace(/\/$/, ""))}` }, p) : p,
        d[p].type, d[p].description, h("code", {}, text(d[p].accessor)),
      ]);
      el.append(table(h, "Auth methods", ["Path", "Type", "Description", "Accessor"], rows));
      return;
    }
    el.append(h("p", {}, h("a", { href: "#/auth" }, "← Auth methods")), h("h1", {}, `auth/${mount}/`), errs);
    let type = "";
    try {
      const res = await ctx.api.get(`sys/auth/${mount}`);
      type = (res.data || res).type || "";
    } catch {
      // Reading one mount's configuration may be refused while the list
      // was allowed: fall back to the list.
      try {
        const all = (await ctx.api.get("sys/auth")).data || {};
        type = (all[`${mount}/`] || {}).type || "";
      } catch (e) {
        ctx.error(errs, e);
        return;
      }
    }
    const coll = COLLECTIONS[type];
    if (!coll) {
      el.append(h("p", {}, `The ${type || "unknown"} method has no roles to list here.`));
      return;
    }
    const base = `auth/${mount}/${coll.path}`;
    if (name) {
      el.append(h("h2", {}, `${coll.noun.replace(/s$/, "")} ${name}`));
      try {
        const res = await ctx.api.get(`${base}/${name}`);
        el.append(dataList(h, res.data || {}));
      } catch (e) {
        ctx.error(errs, e);
      }
      return;
    }
    try {
      const { keys } = await listKeys(ctx, base);
      el.append(section(h, coll.noun, keys.length
        ? h("ul", { class: "tree", id: "auth-roles" }, keys.map((k) => h("li", {}, h("a", { href: `#/auth/${encodeURIComponent(mount)}/${encodeURIComponent(k)}` }, k))))
        : h("p", { class: "hint" }, `No ${coll.noun.toLowerCase()}.`)));
    } catch (e) {
      ctx.error(errs, e);
    }
  },
};
