// Entry point: restore the session from localStorage, then show the sign-in screen or the app.

import { Api } from "./api.js";
import { renderLogin } from "./views/login.js";
import { App } from "./views/app.js";

const KEY = "mx.session";

function loadSession() {
  try {
    const session = JSON.parse(localStorage.getItem(KEY) || "null");
    return session && typeof session.access_token === "string" ? session : null;
  } catch {
    return null;
  }
}

function showLogin() {
  const root = document.getElementById("app");
  renderLogin(root, new Api(), (result) => {
    const session = { access_token: result.access_token, user_id: result.user_id, device_id: result.device_id };
    localStorage.setItem(KEY, JSON.stringify(session));
    showApp(session);
  });
}

function showApp(session) {
  const api = new Api(session);
  const app = new App(document.getElementById("app"), api, () => {
    localStorage.removeItem(KEY);
    showLogin();
  });
  api.onUnknownToken = () => app.loggedOut();
  app.start();
}

if ("serviceWorker" in navigator && location.protocol !== "file:") {
  navigator.serviceWorker.register("/sw.js").catch(() => {});
}

const session = loadSession();
if (session) showApp(session);
else showLogin();
