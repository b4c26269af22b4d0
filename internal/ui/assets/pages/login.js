// login.js: sign in with a token, a username and password (userpass), an
// AppRole role ID and secret ID, or a JWT (jwt auth method, role and token).
// Credentials go only in request bodies and headers, and the fields are
// emptied as soon as the request is sent.

const methods = [
  { value: "token", label: "Token" },
  { value: "userpass", label: "Username and password" },
  { value: "approle", label: "AppRole" },
  { value: "jwt", label: "JWT" },
];

export default {
  render(el, ctx) {
    const { h, field } = ctx;
    const errBox = h("div", { class: "errors" });
    const method = field("Method", { tag: "select", name: "method", options: methods });
    const mount = field("Mount path", { name: "mount", autocomplete: "off", spellcheck: "false", hint: "Where the auth method is enabled, without auth/ (defaults to its type)." });
    const fields = h("div", { class: "method-fields" });
    const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
    let inputs = {};

    function drawFields() {
      const m = method.control.value;
      mount.hidden = m === "token";
      mount.control.placeholder = m;
      inputs = {};
      const add = (key, label, attrs) => {
        const f = field(label, { name: key, required: true, spellcheck: "false", ...attrs });
        inputs[key] = f.control;
        fields.append(f);
      };
      fields.replaceChildren();
      if (m === "token") add("token", "Token", { type: "password", autocomplete: "off" });
      if (m === "userpass") {
        add("username", "Username", { autocomplete: "username" });
        add("password", "Password", { type: "password", autocomplete: "current-password" });
      }
      if (m === "approle") {
        add("role_id", "Role ID", { autocomplete: "off" });
        add("secret_id", "Secret ID", { type: "password", autocomplete: "off" });
      }
      if (m === "jwt") {
        add("role", "Role", { autocomplete: "off" });
        add("jwt", "JWT", { type: "password", autocomplete: "off" });
      }
    }
    method.control.addEventListener("change", drawFields);
    drawFields();

    async function onSubmit(e) {
      e.preventDefault();
      errBox.replaceChildren();
      const m = method.control.value;
      const mp = (mount.control.value.trim() || m).replace(/^auth\//, "").replace(/^\/+|\/+$/g, "");
      const v = Object.fromEntries(Object.entries(inputs).map(([k, c]) => [k, c.value]));
      for (const c of Object.values(inputs)) if (c.type === "password") c.value = "";
      submit.disabled = true;
      try {
        let token = "";
        if (m === "token") {
          token = v.token.trim();
        } else {
          let res;
          if (m === "userpass") res = await ctx.api.post(`auth/${mp}/login/${v.username}`, { password: v.password });
          if (m === "approle") res = await ctx.api.post(`auth/${mp}/login`, { role_id: v.role_id, secret_id: v.secret_id });
          if (m === "jwt") res = await ctx.api.post(`auth/${mp}/login`, { role: v.role, jwt: v.jwt });
          token = res && res.auth ? res.auth.client_token : "";
          if (!token) throw new Error("the server answered without a token");
        }
        await ctx.signIn(token);
        ctx.notice("Signed in.");
        ctx.resume();
      } catch (err) {
        ctx.error(errBox, err);
        const first = Object.values(inputs).find((c) => c.type === "password") || Object.values(inputs)[0];
        if (first) first.focus();
      } finally {
        submit.disabled = false;
      }
    }

    const form = h("form", { class: "card login", "aria-labelledby": "login-title", onsubmit: onSubmit },
      h("h1", { id: "login-title" }, "Sign in to Coffer"),
      errBox, method, mount, fields,
      h("div", { class: "actions" }, submit));
    el.append(form);
    method.control.focus();
  },
};
