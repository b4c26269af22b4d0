// events.js: live events over a WebSocket (sys/events/subscribe/TYPE).
// A browser cannot set X-Vault-Token on a WebSocket and the token must
// stay out of URLs, so it is offered as a subprotocol
// ("coffer.token." + base64url), beside "coffer.events.v1" which the
// server chooses (docs/events.md). Events carry paths, never values.
import { box, when } from "./opskit.js";

const MAX_SHOWN = 200;

/** b64url encodes a string's UTF-8 bytes as unpadded base64url. */
function b64url(s) {
  let bin = "";
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export default {
  render(el, ctx) {
    const { h } = ctx;
    const errs = box(h, "events-errors");
    const type = ctx.field("Event type", { name: "event-type", value: "*", autocomplete: "off", spellcheck: "false", hint: "A glob: *, kv*, kv-v2/data-write, policy/*." });
    const filter = ctx.field("Path filter", { name: "event-filter", autocomplete: "off", spellcheck: "false", hint: "Optional glob on the event's path, e.g. secret/data/app/*." });
    const state = h("p", { id: "events-state", role: "status" }, "Not connected.");
    const connect = h("button", { type: "submit", class: "primary", id: "events-connect" }, "Subscribe");
    const stop = h("button", { type: "button", id: "events-stop", disabled: true, onclick: () => close("Stopped.") }, "Stop");
    const clearBtn = h("button", { type: "button", id: "events-clear", onclick: () => { rows.replaceChildren(); count = 0; } }, "Clear");
    const rows = h("tbody", { id: "events-rows" });
    const list = h("table", {},
      h("caption", { class: "sr-only" }, "Events, newest first"),
      h("thead", {}, h("tr", {}, ["Time", "Type", "Path", "Operation"].map((x) => h("th", { scope: "col" }, x)))),
      rows);
    let ws = null;
    let count = 0;

    function close(msg) {
      if (ws) {
        const w = ws;
        ws = null;
        w.close(1000);
      }
      connect.disabled = false;
      stop.disabled = true;
      if (msg) state.textContent = msg;
    }

    async function open() {
      errs.replaceChildren();
      close();
      const t = type.control.value.trim() || "*";
      const path = `sys/events/subscribe/${t}`;
      // A refused upgrade reaches a browser only as a failed connection,
      // without the server's words: ask first whether the token may.
      const caps = await ctx.caps([path]);
      if (!ctx.can(caps[path], "read")) {
        ctx.error(errs, { errors: [`permission denied: this token may not read ${path}`] });
        return;
      }
      const q = new URLSearchParams({ json: "true" });
      if (filter.control.value.trim()) q.set("filter", filter.control.value.trim());
      const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/sys/events/subscribe/${t.split("/").map(encodeURIComponent).join("/")}?${q}`;
      const protocols = ["coffer.events.v1"];
      if (ctx.token()) protocols.push(`coffer.token.${b64url(ctx.token())}`);
      let sock;
      try {
        sock = new WebSocket(url, protocols);
      } catch (e) {
        ctx.error(errs, e);
        return;
      }
      ws = sock;
      connect.disabled = true;
      stop.disabled = false;
      state.textContent = "Connecting…";
      sock.onopen = () => { if (ws === sock) state.textContent = `Subscribed to ${t}. Waiting for events…`; };
      sock.onmessage = (m) => {
        if (ws !== sock) return;
        let e;
        try {
          e = JSON.parse(m.data);
        } catch {
          return;
        }
        const meta = (e.data && e.data.event && e.data.event.metadata) || {};
        const tr = h("tr", { class: "event" },
          h("td", {}, when(e.time)),
          h("td", {}, h("code", {}, (e.data && e.data.event_type) || e.type || "")),
          h("td", {}, h("code", {}, meta.data_path || meta.path || "")),
          h("td", {}, meta.operation || ""));
        rows.prepend(tr);
        count += 1;
        while (rows.children.length > MAX_SHOWN) rows.lastChild.remove();
        state.textContent = `Subscribed to ${t}: ${count} event${count === 1 ? "" : "s"} received.`;
      };
      sock.onclose = (c) => {
        if (ws !== sock) return;
        ws = null;
        connect.disabled = false;
        stop.disabled = true;
        state.textContent = c.code === 1000 ? `Stream ended${c.reason ? `: ${c.reason}` : ""}.` : "The stream could not be opened or was cut (the server refused it or went away).";
      };
    }

    el.append(h("h1", {}, "Events"),
      h("form", { class: "toolbar", "aria-label": "Subscribe to events", onsubmit: (e) => { e.preventDefault(); open(); } },
        type, filter, connect, stop, clearBtn),
      errs, state, list);
    return () => close();
  },
};
