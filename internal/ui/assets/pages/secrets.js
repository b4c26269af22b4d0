// secrets.js: secrets engines (mounts) and, for KV, the tree and secrets.
export default {
  async render(el, ctx) {
    const { h } = ctx;
    el.append(h("h1", {}, "Secrets engines"));
    const box = h("div", {});
    el.append(box);
    try {
      const res = await ctx.api.get("sys/mounts");
      const mounts = res.data || res;
      const rows = Object.entries(mounts).filter(([, m]) => m && m.type).sort(([a], [b]) => a.localeCompare(b));
      box.append(h("ul", { class: "tree" }, rows.map(([path, m]) =>
        h("li", {}, h("a", { href: `#/secrets/${encodeURIComponent(path.replace(/\/$/, ""))}` }, path, h("span", { class: "badge" }, m.type))))));
    } catch (e) {
      ctx.error(box, e);
    }
  },
};
