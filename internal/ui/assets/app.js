// app.js: the shell. It keeps the token (memory and sessionStorage, never
// a cookie or URL), draws the layout, routes #/<route>/<params...> to the
// page modules in pages/registry.js, and gives each page its ctx.
import { createApi, ApiError } from "./api.js";
import { h, clear, field, showError, notice, confirmDialog, icon, icons } from "./dom.js";
import pages from "./pages/registry.js";

const TOKEN_KEY = "coffer.token";
const WHO_KEY = "coffer.who";
const THEME_KEY = "coffer.theme";

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  who: readWho(),
  cleanup: null,
  resume: "", // the route asked for before signing in, shown after
  expiry: 0, // the timer that forgets the token when its TTL runs out
  view: 0, // counts page views, so a late render of a left page is dropped
};

function readWho() {
  try {
    return JSON.parse(sessionStorage.getItem(WHO_KEY) || "null");
  } catch {
    return null;
  }
}

const api = createApi(() => state.token, () => {
  forget();
  navigate("login");
});

/** forget drops the token and everything kept with it. */
function forget() {
  clearTimeout(state.expiry);
  state.token = "";
  state.who = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(WHO_KEY);
}

/** watchExpiry sends the user back to sign in when the token's TTL (in
 * seconds; 0 for none) runs out, instead of letting every page fail. */
function watchExpiry(ttl) {
  clearTimeout(state.expiry);
  const ms = Number(ttl) * 1000;
  if (!(ms > 0) || ms > 2 ** 31 - 1) return; // no TTL, or beyond a timer's reach
  state.expiry = setTimeout(() => {
    forget();
    drawChrome();
    notice("Your token expired: sign in again.");
    navigate("login");
  }, ms);
}

/** signIn keeps a token the server accepted, with who it belongs to. */
async function signIn(token) {
  state.token = token;
  let look;
  try {
    look = await api.get("auth/token/lookup-self");
  } catch (e) {
    state.token = "";
    throw e;
  }
  const d = look.data || {};
  state.who = { name: d.display_name || "token", policies: d.policies || [] };
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(WHO_KEY, JSON.stringify(state.who));
  watchExpiry(d.ttl);
  drawChrome();
}

/** signOut revokes the token on the server, then forgets it. */
async function signOut() {
  if (state.token) {
    try {
      await api.post("auth/token/revoke-self", {});
    } catch (e) {
      // An expired or already revoked token cannot be revoked again:
      // forgetting it is all that is left to do.
      if (!(e instanceof ApiError)) throw e;
    }
  }
  forget();
  drawChrome();
  notice("Signed out.");
  navigate("login");
}

function navigate(route) {
  const target = `#/${route}`;
  if (location.hash === target) route_();
  else location.hash = target;
}

/** parseHash splits #/route/a/b into {route, params} (URI-decoded). */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const parts = raw.split("/");
  const route = parts.shift() || "";
  const params = parts.filter((p, i) => p !== "" || i < parts.length - 1).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { route, params };
}

// ---- theme ----
function applyTheme(t) {
  if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
}
function currentTheme() {
  const t = localStorage.getItem(THEME_KEY);
  if (t === "light" || t === "dark") return t;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}
applyTheme(localStorage.getItem(THEME_KEY));

// ---- layout ----
const root = document.getElementById("app");
const header = h("header", { class: "top" });
const main = h("main", { id: "main", tabindex: "-1" });
const notices = h("div", { id: "notices", class: "notices", role: "status", "aria-live": "polite" });
clear(root).append(header, main, notices);

document.querySelector(".skip")?.addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});

function drawChrome() {
  clear(header);
  const { route } = parseHash();
  const brand = h("a", { class: "brand", href: "#/" }, h("img", { src: "icons/logo.svg", alt: "", width: 24, height: 24 }), "Coffer");
  const themeBtn = h("button", {
    type: "button", class: "ghost", "aria-pressed": currentTheme() === "dark" ? "true" : "false",
    onclick: () => {
      const next = currentTheme() === "dark" ? "light" : "dark";
      localStorage.setItem(THEME_KEY, next);
      applyTheme(next);
      themeBtn.setAttribute("aria-pressed", next === "dark" ? "true" : "false");
    },
  }, icon(icons.moon), "Dark theme");
  const right = [themeBtn];
  let nav = null;
  if (state.token) {
    nav = h("nav", { "aria-label": "Main" }, h("ul", {}, pages.filter((p) => p.nav).map((p) =>
      h("li", {}, h("a", { href: `#/${p.route}`, "aria-current": p.route === route ? "page" : null }, p.title)))));
    right.push(h("span", { class: "who", title: state.who ? `policies: ${state.who.policies.join(", ")}` : null }, state.who ? state.who.name : ""));
    right.push(h("button", { type: "button", id: "sign-out", onclick: () => signOut().catch((e) => showError(main, e)) }, "Sign out"));
  }
  header.append(brand, nav || h("span", { class: "spacer" }), h("div", { class: "tools" }, right));
}

// ---- routing ----
function pageFor(route) {
  return pages.find((p) => p.route === route);
}

function makeCtx(view) {
  const capsCache = new Map();
  return {
    api,
    h,
    field,
    error: showError,
    notice,
    confirm: (text, opts) => confirmDialog(text, opts),
    navigate,
    token: () => state.token,
    who: () => state.who,
    signIn,
    signOut,
    /** resume shows the page asked for before signing in, or the first. */
    resume() {
      const r = state.resume;
      state.resume = "";
      navigate(r || (pages.find((p) => p.nav) || {}).route || "");
    },
    /** caps asks sys/capabilities-self once for the paths not yet known. */
    async caps(paths) {
      const missing = paths.filter((p) => !capsCache.has(p));
      if (missing.length) {
        let data = {};
        try {
          const res = await api.post("sys/capabilities-self", { paths: missing });
          data = res.data || res;
        } catch (e) {
          if (!(e instanceof ApiError)) throw e;
        }
        for (const p of missing) {
          let c = data[p];
          if (!Array.isArray(c)) c = missing.length === 1 && Array.isArray(data.capabilities) ? data.capabilities : ["deny"];
          capsCache.set(p, c);
        }
      }
      const out = {};
      for (const p of paths) out[p] = capsCache.get(p);
      return out;
    },
    can(list, cap) {
      if (!Array.isArray(list) || list.includes("deny")) return false;
      if (list.includes("root")) return true;
      return list.includes(cap);
    },
    get current() {
      return view === state.view;
    },
  };
}

async function route_() {
  const { route, params } = parseHash();
  if (state.cleanup) {
    try {
      state.cleanup();
    } catch {
      // a page's cleanup failing must not stop the next page
    }
    state.cleanup = null;
  }
  state.view += 1;
  const view = state.view;
  let page = pageFor(route);
  if (!state.token && route !== "login" && !(page && page.public)) {
    if (route) state.resume = location.hash.replace(/^#\/?/, "");
    page = pageFor("login");
  } else if (!page) {
    page = pages.find((p) => p.nav) || pageFor("login");
  }
  drawChrome();
  document.title = `${page.title} · Coffer`;
  clear(main);
  main.append(h("p", { class: "loading" }, "Loading…"));
  try {
    const mod = await page.load();
    if (view !== state.view) return;
    clear(main);
    const cleanup = await mod.default.render(main, makeCtx(view), params);
    if (view !== state.view) {
      if (typeof cleanup === "function") cleanup();
      return;
    }
    state.cleanup = typeof cleanup === "function" ? cleanup : null;
    // A new page takes the focus (for keyboard and screen reader users)
    // unless it placed it itself, e.g. on its first field.
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  } catch (e) {
    if (view === state.view) showError(main, e);
  }
}

window.addEventListener("hashchange", route_);

// A kept token may have expired while the tab was closed: ask once.
async function start() {
  if (state.token) {
    try {
      watchExpiry(((await api.get("auth/token/lookup-self")).data || {}).ttl);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 403 || e.status === 401)) forget();
    }
  }
  // A sealed server answers nothing but its seal status and unseal: show
  // the seal page (it needs no token) so operators can enter their shares.
  try {
    const st = await api.get("sys/seal-status");
    if (st.sealed) history.replaceState(null, "", "#/seal");
  } catch {
    // no answer: the page shown tells what went wrong
  }
  if (!location.hash.startsWith("#/")) {
    history.replaceState(null, "", `#/${state.token ? (pages.find((p) => p.nav) || {}).route || "" : "login"}`);
  }
  route_();
}
start();
