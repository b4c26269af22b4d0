// search.js: find KV v2 secrets across mounts with sys/access/search.
export default {
  render(el, ctx) {
    el.append(ctx.h("h1", {}, "Search"));
  },
};
