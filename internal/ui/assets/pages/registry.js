// registry.js: every page of the UI, in navigation order. Each page is a
// module loaded when first shown (keeping the first load small), whose
// default export is { render(el, ctx, params) }.
export default [
  { id: "login", title: "Sign in", nav: false, route: "login", load: () => import("./login.js") },
  { id: "secrets", title: "Secrets", nav: true, route: "secrets", load: () => import("./secrets.js") },
  { id: "search", title: "Search", nav: true, route: "search", load: () => import("./search.js") },
];
