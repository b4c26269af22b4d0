// metrics.js: a few figures at a glance from sys/metrics (JSON format):
// requests by status class, live tokens and leases, seal state, and the
// process's memory and goroutines.
import { box, table, section, own } from "./opskit.js";

function gauge(m, name) {
  const g = (m.Gauges || []).find((x) => x.Name === name);
  return g ? g.Value : null;
}

function counters(m, name) {
  return (m.Counters || []).filter((x) => x.Name === name);
}

const fmt = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString());

export default {
  async render(el, ctx) {
    el = own(el, ctx);
    const { h } = ctx;
    const errs = box(h, "metrics-errors");
    const out = h("div", { id: "metrics" });
    const refresh = h("button", { type: "button", id: "metrics-refresh", onclick: () => draw() }, "Refresh");
    el.append(h("h1", {}, "Metrics"), h("div", { class: "actions" }, refresh), errs, out);

    async function draw() {
      errs.replaceChildren();
      let m;
      try {
        m = await ctx.api.get("sys/metrics", { format: "json" });
      } catch (e) {
        ctx.error(errs, e);
        return;
      }
      const reqs = counters(m, "coffer_requests_total");
      const byStatus = {};
      let total = 0;
      for (const c of reqs) {
        const s = (c.Labels && c.Labels.status) || "other";
        byStatus[s] = (byStatus[s] || 0) + (c.Count || 0);
        total += c.Count || 0;
      }
      const byMount = {};
      for (const c of reqs) {
        const k = `${(c.Labels && c.Labels.mount_type) || "none"} ${(c.Labels && c.Labels.operation) || ""}`.trim();
        byMount[k] = (byMount[k] || 0) + (c.Count || 0);
      }
      const sealed = gauge(m, "coffer_sealed");
      const tiles = [
        ["Requests", fmt(total)],
        ["Live tokens", fmt(gauge(m, "coffer_tokens"))],
        ["Leases", fmt(gauge(m, "coffer_leases"))],
        ["Seal", sealed === null ? "—" : sealed ? "sealed" : "unsealed"],
        ["Locked-out logins", fmt(gauge(m, "coffer_lockout_entries"))],
        ["Goroutines", fmt(gauge(m, "go_goroutines"))],
        ["Heap in use", gauge(m, "go_memstats_heap_inuse_bytes") === null ? "—" : `${(gauge(m, "go_memstats_heap_inuse_bytes") / 1048576).toFixed(1)} MiB`],
      ];
      out.replaceChildren(
        h("ul", { class: "tiles", "aria-label": "At a glance" }, tiles.map(([k, v]) => h("li", { class: "card tile" }, h("span", { class: "tile-label" }, k), h("strong", { class: "tile-value" }, v)))),
        section(h, "Requests by status", table(h, "Requests by status", ["Status", "Requests"], Object.keys(byStatus).sort().map((s) => [s, fmt(byStatus[s])]))),
        section(h, "Requests by mount type and operation", table(h, "Requests by mount type and operation", ["Mount type and operation", "Requests"],
          Object.entries(byMount).sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => [k, fmt(v)]))),
        h("p", { class: "hint" }, `As of ${m.Timestamp || "now"}. Prometheus format: GET /v1/sys/metrics?format=prometheus.`),
      );
    }
    await draw();
  },
};
