// registry.js: every page of the UI, in navigation order. Each page is a
// module loaded when first shown (keeping the first load small), whose
// default export is { render(el, ctx, params) }.
export default [
  { id: "login", title: "Sign in", nav: false, route: "login", load: () => import("./login.js") },
  { id: "secrets", title: "Secrets", nav: true, route: "secrets", load: () => import("./secrets.js") },
  { id: "search", title: "Search", nav: true, route: "search", load: () => import("./search.js") },
  { id: "access", title: "Access", nav: true, route: "access", load: () => import("./access.js") },
  { id: "policies", title: "Policies", nav: true, route: "policies", load: () => import("./policies.js") },
  { id: "auth", title: "Auth", nav: true, route: "auth", load: () => import("./auth.js") },
  { id: "leases", title: "Leases", nav: true, route: "leases", load: () => import("./leases.js") },
  { id: "audit", title: "Audit", nav: true, route: "audit", load: () => import("./audit.js") },
  { id: "rotation", title: "Rotation", nav: true, route: "rotation", load: () => import("./rotation.js") },
  { id: "events", title: "Events", nav: true, route: "events", load: () => import("./events.js") },
  { id: "incidents", title: "Incidents", nav: true, route: "incidents", load: () => import("./incidents.js") },
  { id: "metrics", title: "Metrics", nav: true, route: "metrics", load: () => import("./metrics.js") },
  // public: the seal page loads without a token (a sealed server takes none).
  { id: "seal", title: "Seal", nav: true, route: "seal", public: true, load: () => import("./seal.js") },
];
