// What every page shares: the session, JSON requests with the CSRF header, a small DOM
// builder (text is always set as text, never parsed as HTML), and number/time formats.
import { lang, t } from "./i18n.js";

let session = null;

export async function loadSession() {
  const response = await fetch("/dashboard/api/session", { credentials: "same-origin" });
  if (response.status === 401) {
    location.assign("/dashboard/login?next=" + encodeURIComponent(location.pathname + location.hash));
    return new Promise(() => {});  // the page is leaving
  }
  session = await response.json();
  return session;
}

export function currentSession() { return session; }

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (session) headers["X-CSRF-Token"] = session.csrf;
  }
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    location.assign("/dashboard/login");
    throw new ApiError(401, null);
  }
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export async function logout() {
  await api("/dashboard/api/session", { method: "DELETE" }).catch(() => {});
  location.assign("/dashboard/login");
}

/** h("td", {class: "num"}, "12") — attributes, then children (strings become text nodes). */
export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "g", "rect", "line", "polyline", "path", "text", "circle", "title"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function kg(value) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(lang() === "zh" ? "zh-CN" : "en").format(value) + " kg";
}

export function tonnes(valueKg) {
  return new Intl.NumberFormat(lang() === "zh" ? "zh-CN" : "en", { maximumFractionDigits: 1 }).format(valueKg / 1000) + " t";
}

/** A time in China Standard Time, the regulators' clock (ms since the epoch). */
export function when(ms) {
  if (ms === null || ms === undefined) return "—";
  return new Intl.DateTimeFormat(lang() === "zh" ? "zh-CN" : "en-GB", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  }).format(new Date(ms));
}

export function badge(text, tone) { return h("span", { class: `badge ${tone || ""}` }, text); }

export const TONE = {
  online: "ok", offline: "bad", silent: "warn", unknown: "", revoked: "bad", no_device: "",
  issued: "info", loaded: "warn", arrived: "info", closed: "ok", expired: "", active: "ok",
  alarm: "bad", warning: "warn", info: "info", release: "ok", hold: "bad",
};

export function stateBadge(state) { return badge(t(state), TONE[state]); }

export function shortId(hex) { return hex ? hex.slice(0, 8) + "…" : "—"; }
