// The checkpoint page: paste, upload or scan a ticket (CT1:) or receipt (CR1:) QR; central
// verifies it with wire's own verifiers and says which checks need only its key set (offline)
// and what it knows now (online); the officer records the sighting.
import { applyStatic, t, toggleLang } from "./i18n.js";
import { api, badge, h, kg, loadSession, logout, stateBadge, when } from "./common.js";

const $ = (id) => document.getElementById(id);
let last = null;  // the QR text last verified
let session = null;
let result = null;  // the last answer, redrawn when the language changes

function mark(value) {
  if (value === null || value === undefined) return badge(t("not_applicable"), "");
  return value ? badge(t("passed"), "ok") : badge(t("failed"), "bad");
}

function item(label, value, testid) {
  return h("li", { "data-testid": testid }, h("span", {}, label), h("span", {}, value));
}

function render(answer) {
  result = answer;
  const v = answer.verification, c = answer.central, ticket = v.ticket || {};
  const kind = v.kind === "receipt" ? t("receipt") : t("ticket_kind");
  const blocks = [
    h("div", { class: `verdict ${v.valid ? "ok" : "bad"}`, "data-testid": "verdict", "data-valid": String(v.valid) },
      `${kind}: ${v.valid ? t("ticket_valid") : t("ticket_invalid")}`),
  ];
  if (!v.valid) blocks.push(h("p", { class: "error", "data-testid": "reason" }, `${t("reason")}: ${v.reason} — ${v.message || ""}`));
  blocks.push(h("section", { class: "card" }, h("h2", {}, t("offline_checks")), h("ul", { class: "checks" },
    item(t("check_signature"), mark(v.checks.signature), "check-signature"),
    item(t("check_loadable"), mark(v.checks.loadable), "check-loadable"),
    item(t("check_device"), mark(v.checks.certified_device), "check-device"))));
  if (ticket.cti) {
    blocks.push(h("section", { class: "card" }, h("h2", {}, `${t("ticket")} ${ticket.no || ""}`), h("dl", { class: "kv", "data-testid": "claims" },
      h("dt", {}, t("plate")), h("dd", { class: "plate", "data-testid": "plate" }, ticket.plate),
      h("dt", {}, t("from")), h("dd", {}, c && c.seller_site_name ? `${c.seller_site_name} (${ticket.seller_site})` : ticket.seller_site),
      h("dt", {}, t("to")), h("dd", {}, c && c.dest_site_name ? `${c.dest_site_name} (${ticket.dest_site})` : ticket.dest_site),
      h("dt", {}, t("coal")), h("dd", {}, ticket.coal),
      h("dt", {}, t("max_net")), h("dd", {}, kg(ticket.max_net_kg)),
      h("dt", {}, t("deadline")), h("dd", {}, when(ticket.exp * 1000)),
      v.kind === "receipt" ? [h("dt", {}, t("net_loaded")), h("dd", { "data-testid": "receipt-net" }, kg(v.net_kg))] : null)));
  }
  const online = v.online;
  blocks.push(h("section", { class: "card" }, h("h2", {}, t("online_state")), c ? h("ul", { class: "checks", "data-testid": "online" },
    item(t("state"), [stateBadge(c.state), ...c.flags.map((f) => badge(f, "bad"))], "online-state"),
    item(t("loaded_at_site"), c.loaded_site ? `${c.seller_site_name || c.loaded_site} · ${when(c.loaded_at)}` : "—", "online-loaded"),
    item(t("net_loaded"), kg(c.source_net_kg), "online-net"),
    item(t("used"), c.used ? badge(t("yes"), "bad") : badge(t("no"), "ok"), "online-used"),
    item(t("seen_here"), `${c.seen_here.length} ${t("times")}`, "online-seen")) :
    h("p", { class: "muted" }, online.ticket_known ? "" : t("none"))));
  $("result").replaceChildren(...blocks);
  $("sighting").disabled = !(session && session.role === "checkpoint");
}

async function verify(text) {
  $("error").textContent = "";
  const qr = text.trim();
  if (!qr) return;
  last = qr;
  try {
    render(await api("/dashboard/api/checkpoint/verify", { method: "POST", body: { qr } }));
  } catch (error) {
    $("result").replaceChildren();
    $("error").textContent = error.message;
  }
}

function decodeImage(source, width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(source, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height);
  return window.jsQR(pixels.data, width, height, { inversionAttempts: "attemptBoth" });
}

async function fromImage(file) {
  $("error").textContent = "";
  const bitmap = await createImageBitmap(file);
  const found = decodeImage(bitmap, bitmap.width, bitmap.height);
  if (!found) { $("error").textContent = t("no_qr_found"); return; }
  $("qr").value = found.data;
  await verify(found.data);
}

let stream = null;
async function camera() {
  if (stream) { stopCamera(); return; }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { $("error").textContent = t("camera_unavailable"); return; }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (error) {
    $("error").textContent = `${t("camera_unavailable")} (${error.name})`;
    return;
  }
  const video = $("video");
  video.srcObject = stream; video.hidden = false;
  $("camera").textContent = t("stop_camera");
  await video.play();
  const scan = () => {
    if (!stream) return;
    if (video.readyState >= 2 && video.videoWidth) {
      const found = decodeImage(video, video.videoWidth, video.videoHeight);
      if (found) { $("qr").value = found.data; stopCamera(); verify(found.data); return; }
    }
    requestAnimationFrame(scan);
  };
  requestAnimationFrame(scan);
}
function stopCamera() {
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = null;
  $("video").hidden = true;
  $("camera").textContent = t("camera");
}

async function recordSighting() {
  if (!last) return;
  $("sighting").disabled = true;
  try {
    const done = await api("/api/v1/sightings", { method: "POST", body: { qr: last } });
    $("result").prepend(h("p", { class: "badge ok", "data-testid": "sighting-recorded", "data-sighting": done.sighting.id },
      `${t("sighting_recorded")} #${done.sighting.id} · ${when(done.sighting.recorded_at)}`));
  } catch (error) {
    $("error").textContent = error.message;
    $("sighting").disabled = false;
  }
}

/** Central's key set, fetched once and kept: shown so the officer knows which keys verify. */
async function keys() {
  let cached = JSON.parse(localStorage.getItem("coalgate.keys") || "null");
  if (!cached) {
    const jwks = await fetch("/api/v1/keys").then((r) => r.json());
    cached = { kids: jwks.keys.map((k) => k.kid), fetched_at: Date.now(), jwks };
    localStorage.setItem("coalgate.keys", JSON.stringify(cached));
  }
  $("keys").textContent = `${t("keys")}: ${cached.kids.join(", ")} · ${t("keys_fetched")} ${when(cached.fetched_at)}`;
}

async function start() {
  applyStatic();
  session = await loadSession();
  if (!["checkpoint", "regulator"].includes(session.role)) { location.assign(session.home); return; }
  $("who").textContent = [session.role, session.name || session.checkpoint].filter(Boolean).join(" · ");
  $("lang").addEventListener("click", () => { toggleLang(); stopCamera(); if (result) render(result); keys(); });
  $("logout").addEventListener("click", logout);
  $("verify").addEventListener("click", () => verify($("qr").value));
  $("image").addEventListener("change", (e) => { if (e.target.files[0]) fromImage(e.target.files[0]); e.target.value = ""; });
  $("camera").addEventListener("click", camera);
  $("sighting").addEventListener("click", recordSighting);
  await keys();
  document.body.dataset.ready = "1";
}

start();
