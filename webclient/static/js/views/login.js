// The sign-in / create-account screen.

import { h, clear } from "../dom.js";

export function renderLogin(root, api, onSession) {
  clear(root);
  const serverName = document.body.dataset.serverName || location.host;
  let mode = "login";
  const error = h("p", { class: "error", role: "alert" });
  const username = h("input", { id: "login-username", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const token = h("input", { id: "login-token", name: "token", autocomplete: "off" });
  const tokenRow = h("p", { hidden: true }, h("label", { for: "login-token" }, "Registration token (if the server asks for one)"), token);
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const toggle = h("button", { type: "button", class: "link" }, "Create an account");
  const heading = h("h1", {}, `Sign in to ${serverName}`);

  toggle.addEventListener("click", () => {
    mode = mode === "login" ? "register" : "login";
    heading.textContent = mode === "login" ? `Sign in to ${serverName}` : `Create an account on ${serverName}`;
    submit.textContent = mode === "login" ? "Sign in" : "Create account";
    toggle.textContent = mode === "login" ? "Create an account" : "I already have an account";
    password.autocomplete = mode === "login" ? "current-password" : "new-password";
    tokenRow.hidden = mode === "login";
    error.textContent = "";
  });

  const form = h("form", { class: "login", "aria-label": "Sign in" },
    heading,
    h("p", {}, h("label", { for: "login-username" }, "Username"), username),
    h("p", {}, h("label", { for: "login-password" }, "Password"), password),
    tokenRow, error, h("p", { class: "actions" }, submit, toggle));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    const user = username.value.trim().replace(/^@/, "").replace(/:.*$/, "");
    try {
      const result = mode === "login"
        ? await api.login(user, password.value)
        : await api.register(user, password.value, token.value.trim());
      onSession(result);
    } catch (err) {
      error.textContent = err.message || "Something went wrong.";
      if (mode === "register" && /token/i.test(error.textContent)) tokenRow.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  root.append(h("main", { class: "login-screen" }, form));
  username.focus();
}
