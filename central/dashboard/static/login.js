// The login form: the token is posted once; central answers with the session cookie.
import { applyStatic, toggleLang } from "./i18n.js";

applyStatic();
document.getElementById("lang").addEventListener("click", toggleLang);
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const response = await fetch("/dashboard/api/session", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ token: document.getElementById("token").value }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) { error.textContent = body.message || `HTTP ${response.status}`; return; }
  const next = new URLSearchParams(location.search).get("next");
  const home = body.home;
  location.assign(next && next.startsWith(home) ? next : home);
});
