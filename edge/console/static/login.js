// The login form: operator id and password are posted once; the edge answers with the cookie.
import { applyStatic, toggleLang } from "./i18n.js";

applyStatic();
document.getElementById("lang").addEventListener("click", toggleLang);
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const response = await fetch("/console/api/session", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({
      operator: document.getElementById("operator").value,
      password: document.getElementById("password").value,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    error.textContent = (body.detail && body.detail.message) || `HTTP ${response.status}`;
    return;
  }
  location.assign("/console/");
});
