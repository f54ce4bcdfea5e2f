// What the console's pages share: the session, JSON requests with the CSRF header, a small DOM
// builder (text is always set as text, never parsed as HTML), number and time formats.
import { lang } from "./i18n.js";

let session = null;

export async function loadSession() {
  const response = await fetch("/console/api/session", { credentials: "same-origin" });
  if (response.status === 401) {
    location.assign("/console/login");
    return new Promise(() => {});  // the page is leaving
  }
  session = await response.json();
  return session;
}

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && body.detail;
    const message = detail && typeof detail === "object" && !Array.isArray(detail)
      ? detail.message
      : Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : null;
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = detail && detail.code;
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
    location.assign("/console/login");
    throw new ApiError(401, null);
  }
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export async function logout() {
  await api("/console/api/session", { method: "DELETE" }).catch(() => {});
  location.assign("/console/login");
}

/** h("td", {class: "num"}, "12") — attributes, then children (strings become text nodes). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function number(value) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(lang() === "zh" ? "zh-CN" : "en").format(value);
}

export function kg(value) {
  return value === null || value === undefined ? "—" : number(value) + " kg";
}

/** A time on the gate's clock, China Standard Time (ms since the epoch). */
export function when(ms, withDate = false) {
  if (ms === null || ms === undefined) return "—";
  const options = { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  if (withDate) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat(lang() === "zh" ? "zh-CN" : "en-GB", options).format(new Date(ms));
}

export function badge(text, tone) { return h("span", { class: `badge ${tone || ""}` }, text); }
