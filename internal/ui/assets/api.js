// api.js: the Vault HTTP API on this origin. The token goes only in the
// X-Vault-Token header; paths never carry secrets (values go in bodies).

/** ApiError is a refused or failed API call: the HTTP status and the
 * server's own messages, as it worded them. body is the parsed answer
 * (a KV read of a deleted version still carries its metadata). */
export class ApiError extends Error {
  constructor(status, errors, body) {
    super(errors.length ? errors.join("; ") : `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.errors = errors;
    this.body = body || {};
  }
}

/** encodePath escapes each segment of an API path, keeping the slashes. */
export function encodePath(path) {
  return String(path).split("/").map(encodeURIComponent).join("/");
}

/**
 * createApi returns the ctx.api object. token() gives the current token
 * ("" for none); onDenied(status) hears a 401/403 answer that looks like a
 * dead token (so the shell can send the user to sign in again).
 */
export function createApi(token, onDenied) {
  async function call(method, path, { query, body, contentType } = {}) {
    let url = `/v1/${encodePath(path)}`;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null || v === "") continue;
        if (Array.isArray(v)) v.forEach((x) => q.append(k, String(x)));
        else q.set(k, String(v));
      }
      const qs = q.toString();
      if (qs) url += `?${qs}`;
    }
    const headers = { "X-Vault-Request": "true" };
    const t = token();
    if (t) headers["X-Vault-Token"] = t;
    const init = { method, headers, credentials: "omit", cache: "no-store", redirect: "error", referrerPolicy: "no-referrer" };
    if (body !== undefined) {
      headers["Content-Type"] = contentType || "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url, init);
    } catch (e) {
      throw new ApiError(0, [`cannot reach the server: ${e.message}`]);
    }
    if (res.status === 204) return {};
    let parsed = {};
    const text = await res.text();
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = {};
      }
    }
    if (!res.ok) {
      const errors = Array.isArray(parsed.errors) ? parsed.errors.map(String) : [];
      if (!errors.length) errors.push(`${res.status} ${res.statusText}`.trim());
      const err = new ApiError(res.status, errors, parsed);
      if (onDenied && (res.status === 401 || res.status === 403) && errors.some((m) => /invalid token|token expired|bad token/i.test(m))) {
        onDenied(err);
      }
      throw err;
    }
    return parsed;
  }
  return {
    get: (path, query) => call("GET", path, { query }),
    list: (path, query) => call("GET", path, { query: { ...(query || {}), list: "true" } }),
    put: (path, body) => call("PUT", path, { body: body || {} }),
    post: (path, body) => call("POST", path, { body: body || {} }),
    patch: (path, body) => call("PATCH", path, { body: body || {}, contentType: "application/merge-patch+json" }),
    del: (path, query) => call("DELETE", path, { query }),
  };
}
