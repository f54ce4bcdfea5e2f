// The gate console: one card per lane (live weight, state, plate, ticket, lights, barrier, why
// the barrier is held, what the lane says, the operator's inputs, the last decisions, open
// alarms), the shift's weighings, the uplink and the clock. The edge pushes the lanes' state as
// Server-Sent Events; every action is a POST with the session's CSRF secret, and the answer says
// what the lane did with it (a refusal is shown as such).
import { applyStatic, kind, lang, reason, setReasons, t, toggleLang } from "./i18n.js";
import { api, badge, h, kg, loadSession, logout, number, when } from "./common.js";
import qrcode from "./vendor/qrcode.mjs";

const $ = (id) => document.getElementById(id);
const cards = new Map();  // lane id -> { root, parts }
const TONE = {
  idle: "", arriving: "info", positioning: "info", settling: "info", deciding: "info",
  releasing: "ok", exiting: "ok", held: "bad", fault: "bad",
  alarm: "bad", warning: "warn", info: "info", release: "ok", hold: "bad",
};
let state = null;      // the last state the edge sent
let shift = null;      // the last shift list
let lastSeq = null;    // the newest decision seen (the shift list is fetched again when it moves)
let site = "";         // this edge's site id (from the session)

function setBadge(el, text, tone) {
  el.textContent = text;
  el.className = `badge ${tone || ""}`;
}

function reasonsText(codes) { return codes.map(reason).join(lang() === "zh" ? "；" : "; "); }

// --- one lane ---------------------------------------------------------------------------------

function laneCard(lane) {
  const id = lane.lane;
  const parts = {};
  const part = (name, tag, attrs = {}, ...children) =>
    (parts[name] = h(tag, { ...attrs, "data-testid": name }, ...children));
  const block = (label, ...children) => h("div", { class: "action" }, h("h4", { "data-i18n": label }), ...children);
  const form = (name, submit, ...children) => h("form", {
    class: "row", "data-testid": name, onsubmit: (event) => { event.preventDefault(); submit(); },
  }, ...children);
  const root = h("section", { class: "card lane", "data-lane": id },
    h("header", { class: "lane-head" }, h("h2", {}, part("lane-title", "span")), part("state", "span", { class: "badge" })),
    h("div", { class: "lane-grid" },
      h("div", { class: "weight-box" },
        part("weight", "div", { class: "weight" }),
        h("div", { class: "row" }, h("span", { class: "unit" }, "kg"), part("stable", "span", { class: "badge" }))),
      h("dl", { class: "kv" },
        h("dt", { "data-i18n": "plate" }), part("plate", "dd"),
        h("dt", { "data-i18n": "ticket" }), part("ticket", "dd", { class: "mono" }),
        h("dt", { "data-i18n": "lights" }), h("dd", {},
          part("lamp-red", "span", { class: "lamp red" }), part("lamp-green", "span", { class: "lamp green" })),
        h("dt", { "data-i18n": "barrier" }), part("barrier", "dd")),
      h("div", {},
        h("h3", { "data-i18n": "held_because" }), part("held", "ul", { class: "held" }),
        h("h3", { "data-i18n": "said" }), part("said", "p", { class: "said" }))),
    h("div", { class: "actions" },
      block("enter_plate", form("plate-form", () => submitPlate(id),
        part("plate-input", "input", { "data-i18n-placeholder": "plate_hint", maxlength: 16, required: true, autocomplete: "off" }),
        h("button", { type: "submit", "data-i18n": "enter_plate_button", "data-testid": "plate-submit" }))),
      block("choose_ticket", form("ticket-form", () => submitTicket(id),
        part("ticket-select", "select", { onfocus: () => loadTickets(id) }, h("option", { value: "" }, t("pick"))),
        part("ticket-qr", "input", { "data-i18n-placeholder": "ticket_qr", autocomplete: "off" }),
        h("button", { type: "submit", "data-i18n": "choose_ticket_button", "data-testid": "ticket-submit" }))),
      block("override", form("override-form", () => submitOverride(id),
        part("override-reason", "input", { "data-i18n-placeholder": "override_reason", required: true, minlength: 4, maxlength: 200, autocomplete: "off" }),
        h("button", { type: "submit", class: "danger", "data-i18n": "override_button", "data-testid": "override-submit" })),
        h("p", { class: "small muted", "data-i18n": "override_hint" })),
      block("io_checked", form("io-checked-form", () => submitIoChecked(id),
        part("io-checked-reason", "input", { "data-i18n-placeholder": "io_checked_reason", required: true, minlength: 4, maxlength: 200, autocomplete: "off" }),
        h("button", { type: "submit", class: "plain", "data-i18n": "io_checked_button", "data-testid": "io-checked-submit" })),
        h("p", { class: "small muted", "data-i18n": "io_checked_hint" })),
      block("zero", h("div", { class: "row" },
        h("button", { type: "button", class: "plain", "data-i18n": "zero_button", "data-testid": "zero", onclick: () => act(id, "zero", {}) }),
        h("span", { class: "small muted", "data-i18n": "zero_hint" })))),
    part("answer", "p", { class: "answer", role: "status" }),
    h("div", { class: "grid two" },
      h("div", {}, h("h3", { "data-i18n": "decisions" }), h("div", { class: "scroll" }, part("decisions", "table"))),
      h("div", {}, h("h3", { "data-i18n": "alarms" }), part("alarms", "ul", { class: "alarms" }))));
  applyStatic(root);
  return { root, parts };
}

function renderLane(lane) {
  let card = cards.get(lane.lane);
  if (!card) {
    card = laneCard(lane);
    cards.set(lane.lane, card);
    $("lanes").append(card.root);
  }
  const p = card.parts;
  p["lane-title"].textContent = `${t("lane")} ${lane.lane} · ${t(lane.direction)}`;
  setBadge(p.state, t(lane.state), TONE[lane.state]);
  p.state.dataset.state = lane.state;
  p.weight.textContent = lane.weight_kg === null ? "—" : number(lane.weight_kg);
  p.weight.dataset.kg = lane.weight_kg === null ? "" : String(lane.weight_kg);
  if (lane.stable === null) setBadge(p.stable, lane.weight_kg === null ? t("no_reading") : "", "");
  else setBadge(p.stable, lane.stable ? t("stable") : t("moving"), lane.stable ? "ok" : "warn");
  p.stable.hidden = lane.stable === null && lane.weight_kg !== null;
  const plate = lane.plate;
  p.plate.replaceChildren(...(plate ? [
    h("span", { class: "plate" }, plate.plate), " ",
    plate.source === "manual" ? badge(t("manual_src"), "warn") : h("span", { class: "muted" }, `${plate.confidence}% · ${t("camera_src")}`),
  ] : [t("none")]));
  p.plate.dataset.plate = plate ? plate.plate : "";
  if (p.plate.dataset.plate !== card.plate) {  // a new plate: offer its tickets at once
    card.plate = p.plate.dataset.plate;
    loadTickets(lane.lane);
  }
  p.ticket.textContent = lane.ticket ? lane.ticket.slice(0, 12) + "…" : t("none");
  p.ticket.title = lane.ticket || "";
  for (const color of ["red", "green"]) {
    const lamp = p[`lamp-${color}`], on = lane.lights[color];
    lamp.className = `lamp ${color} ${on === null ? "unknown" : on ? "on" : "off"}`;
    lamp.dataset.on = String(on);
  }
  const barrier = lane.barrier;
  p.barrier.replaceChildren(
    badge(barrier.up ? t("barrier_up") : t("barrier_down"), barrier.up ? "ok" : "bad"),
    barrier.seen_up === null ? "" : h("span", { class: "muted small" },
      ` ${t("confirmed")}: ${barrier.seen_up ? t("barrier_up") : t("barrier_down")}`));
  p.barrier.dataset.up = String(barrier.up);
  const faults = Object.entries(lane.faults).map(([source, why]) => h("li", { class: "muted small" }, `${source}: ${why}`));
  p.held.replaceChildren(...(lane.held_because.length
    ? lane.held_because.map((code) => h("li", { "data-code": code }, reason(code)))
    : [h("li", { class: "muted" }, t("nothing_held"))]), ...faults);
  const said = lane.said[0];
  p.said.textContent = said ? (lang() === "zh" ? said.zh : said.en) : t("none");
  p.decisions.replaceChildren(decisionHead(), ...lane.decisions.slice(0, 8).map(decisionRow));
  p.alarms.replaceChildren(...(lane.alarms.length
    ? lane.alarms.map((alarm) => alarmItem(lane.lane, alarm))
    : [h("li", { class: "muted" }, t("no_alarms"))]));
}

function decisionHead() {
  return h("tr", {}, ["time", "plate", "decision", "reasons", "net", "by", "receipt"].map((k) =>
    h("th", { class: k === "net" ? "num" : "" }, t(k))));
}

function receiptButton(d) {
  return d.receipt ? h("button", {
    type: "button", class: "plain small", "data-testid": "receipt-button", onclick: () => showReceipt(d.seq),
  }, t("show_receipt")) : "";
}

function decisionRow(d) {
  return h("tr", { "data-seq": d.seq, "data-decision": d.decision },
    h("td", { class: "t" }, when(d.at_ms)),
    h("td", {}, h("span", { class: "plate" }, d.plate), d.plate_source === "manual" ? [" ", badge(t("manual_src"), "warn")] : ""),
    h("td", {}, badge(t(d.decision), TONE[d.decision])),
    h("td", { class: "reasons", "data-testid": "reasons" }, reasonsText(d.reasons)),
    h("td", { class: "num" }, kg(d.net_kg)),
    h("td", {}, d.operator || ""),
    h("td", {}, receiptButton(d)));
}

function alarmItem(lane, alarm) {
  const detail = Object.entries(alarm.detail || {})
    .filter(([, v]) => v !== null && typeof v !== "object").map(([k, v]) => `${k}: ${v}`).join(", ");
  return h("li", { "data-kind": alarm.kind, "data-ref": alarm.ref },
    badge(t(alarm.severity), TONE[alarm.severity]), " ",
    h("strong", {}, kind(alarm.kind)), " ", h("span", { class: "muted small" }, when(alarm.at_ms)),
    detail ? h("div", { class: "small muted" }, detail) : "",
    h("button", {
      type: "button", class: "plain small", "data-testid": "ack",
      onclick: () => act(lane, "ack", { kind: alarm.kind, ref: alarm.ref }),
    }, t("ack")));
}

// --- the operator's inputs --------------------------------------------------------------------

async function act(lane, what, body) {
  const answer = cards.get(lane).parts.answer;
  answer.className = "answer";
  answer.textContent = "…";
  delete answer.dataset.refused;
  try {
    const result = await api(`/console/api/lanes/${encodeURIComponent(lane)}/${what}`, { method: "POST", body });
    const said = result.said.map((s) => (lang() === "zh" ? s.zh : s.en)).join(" · ");
    answer.textContent = result.refused ? `${t("refused")}: ${said}` : said || t("done");
    answer.classList.add(result.refused ? "bad" : "ok");
    answer.dataset.refused = String(result.refused);
    return result;
  } catch (error) {
    answer.textContent = error.message;
    answer.classList.add("bad");
    answer.dataset.refused = "error";
    return null;
  }
}

async function submitPlate(lane) {
  const input = cards.get(lane).parts["plate-input"];
  if (await act(lane, "plate", { plate: input.value.trim() })) input.value = "";
}

async function loadTickets(lane) {
  const p = cards.get(lane).parts;
  const view = state && state.lanes.find((l) => l.lane === lane);
  const plate = view && view.plate ? view.plate.plate : "";
  const query = new URLSearchParams({ lane });
  if (plate) query.set("plate", plate);
  const answer = await api(`/console/api/tickets?${query}`).catch(() => ({ tickets: [] }));
  const chosen = p["ticket-select"].value;
  p["ticket-select"].replaceChildren(
    h("option", { value: "" }, answer.tickets.length ? t("pick") : t("no_tickets")),
    ...answer.tickets.map((tk) => h("option", { value: tk.ticket, selected: tk.ticket === chosen },
      `${tk.no} · ${tk.plate} · ${tk.coal} · ≤ ${kg(tk.max_net_kg)}`)));
}

async function submitTicket(lane) {
  const p = cards.get(lane).parts;
  const qr = p["ticket-qr"].value.trim();
  const body = qr ? { qr } : { ticket: p["ticket-select"].value };
  if (!qr && !body.ticket) return;
  if (await act(lane, "ticket", body)) p["ticket-qr"].value = "";
}

async function submitOverride(lane) {
  const input = cards.get(lane).parts["override-reason"];
  const result = await act(lane, "override", { reason: input.value });
  if (result && !result.refused) input.value = "";
}

async function submitIoChecked(lane) {
  const input = cards.get(lane).parts["io-checked-reason"];
  const result = await act(lane, "io-checked", { reason: input.value });
  if (result && !result.refused) input.value = "";
}

// --- the receipt ------------------------------------------------------------------------------

function drawQr(canvas, text) {
  const qr = qrcode(0, "M");
  qr.addData(text, "Alphanumeric");
  qr.make();
  const n = qr.getModuleCount(), cell = 4, margin = 4 * cell;
  canvas.width = canvas.height = n * cell + 2 * margin;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = "#000";
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) if (qr.isDark(r, c)) g.fillRect(margin + c * cell, margin + r * cell, cell, cell);
  }
  canvas.dataset.modules = String(n);
}

async function showReceipt(seq) {
  $("receipt-error").textContent = "";
  let answer;
  try {
    answer = await api(`/console/api/receipt/${seq}`);
  } catch (error) {
    $("receipt-error").textContent = error.message;
    return;
  }
  const w = answer.weighing;
  drawQr($("qr"), answer.text);
  $("receipt-text").textContent = answer.text;  // Base45 has spaces: shown pre-wrapped
  $("receipt-text").dataset.text = answer.text;
  $("receipt-facts").replaceChildren(
    h("dt", {}, t("site")), h("dd", {}, `${site} · ${t("lane")} ${w.lane}`),
    h("dt", {}, t("plate")), h("dd", { class: "plate" }, w.plate),
    h("dt", {}, t("time")), h("dd", {}, when(w.at_ms, true)),
    h("dt", {}, t("gross")), h("dd", {}, kg(w.gross_kg)),
    h("dt", {}, t("tare")), h("dd", {}, kg(w.tare_kg)),
    h("dt", {}, t("net")), h("dd", { "data-testid": "receipt-net" }, kg(w.net_kg)),
    h("dt", {}, t("ticket")), h("dd", { class: "mono" }, w.ticket));
  $("receipt").dataset.seq = String(seq);
  $("receipt").hidden = false;
}

// --- the shift, the uplink, the clock ---------------------------------------------------------

async function loadShift() {
  shift = await api("/console/api/weighings").catch(() => shift);
  renderShift();
}

function renderShift() {
  if (!shift) return;
  $("shift-since").textContent = `${t("since")} ${when(shift.since_ms, true)}`;
  const released = shift.weighings.filter((w) => w.decision === "release" && w.net_kg !== null);
  $("shift-total").textContent = `${released.length} × ${t("release")} · ${t("total_net")} ${kg(released.reduce((s, w) => s + w.net_kg, 0))}`;
  $("weighings").replaceChildren(
    h("tr", {}, ["time", "lane", "plate", "pass", "gross", "tare", "net", "decision", "reasons", "by", "receipt"]
      .map((k) => h("th", { class: ["gross", "tare", "net"].includes(k) ? "num" : "" }, t(k)))),
    ...shift.weighings.map((w) => h("tr", { "data-seq": w.seq },
      h("td", { class: "t" }, when(w.at_ms)), h("td", {}, w.lane),
      h("td", {}, h("span", { class: "plate" }, w.plate), w.plate_source === "manual" ? [" ", badge(t("manual_src"), "warn")] : ""),
      h("td", {}, t(w.pass)), h("td", { class: "num" }, kg(w.gross_kg)), h("td", { class: "num" }, kg(w.tare_kg)),
      h("td", { class: "num" }, kg(w.net_kg)), h("td", {}, badge(t(w.decision), TONE[w.decision])),
      h("td", { class: "reasons" }, reasonsText(w.reasons)), h("td", {}, w.operator || ""),
      h("td", {}, receiptButton(w)))));
}

function renderLink(link) {
  const offset = Math.round((link.now_ms - Date.now()) / 1000);
  const clockNote = Math.abs(offset) < 5 ? t("clock_ok") : `${t("clock_off")} ${offset} ${t("seconds")}`;
  $("clock").textContent = when(link.now_ms, true);
  $("clock").title = clockNote;
  setBadge($("uplink"), `${t("uplink")}: ${link.rejected ? t("rejected") : link.connected ? t("connected") : t("offline")}`,
    link.rejected ? "bad" : link.connected ? "ok" : "warn");
  $("uplink").dataset.connected = String(link.connected);
  $("link").replaceChildren(
    h("dt", {}, t("uplink")), h("dd", { "data-testid": "link-connected" }, link.rejected ? `${t("rejected")} (${link.rejected})` : link.connected ? t("connected") : t("offline")),
    h("dt", {}, t("backlog")), h("dd", { "data-testid": "link-backlog" }, number(link.backlog)),
    h("dt", {}, t("last_ack")), h("dd", { "data-testid": "link-last-ack" }, link.last_ack_ms ? when(link.last_ack_ms, true) : t("none")),
    h("dt", {}, t("bundle")), h("dd", {}, link.bundle_version === null ? t("none") : `${t("version")} ${link.bundle_version}`),
    h("dt", {}, t("clock")), h("dd", { "data-testid": "link-clock" }, `${when(link.now_ms, true)} · ${clockNote}`));
}

function render(next) {
  state = next;
  for (const lane of state.lanes) renderLane(lane);
  renderLink(state.link);
  const seqs = state.lanes.flatMap((l) => l.decisions.map((d) => d.seq));
  const newest = seqs.length ? Math.max(...seqs) : 0;
  if (newest !== lastSeq) {
    lastSeq = newest;
    loadShift();
  }
  document.body.dataset.ready = "";
}

function setLive(on) { setBadge($("live"), on ? t("live") : t("reconnecting"), on ? "ok" : "warn"); $("live").dataset.on = String(on); }

function connect() {
  const source = new EventSource("/console/api/live");
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("state", (event) => render(JSON.parse(event.data)));
  source.addEventListener("error", async () => {
    setLive(false);
    const answer = await fetch("/console/api/session", { credentials: "same-origin" }).catch(() => null);
    if (answer && answer.status === 401) { source.close(); location.assign("/console/login"); }
  });
}

async function main() {
  applyStatic();
  const session = await loadSession();
  $("who").textContent = `${session.name} (${session.operator})`;
  site = session.site;
  $("site").textContent = `${session.site} · ${session.device}`;
  $("lang").addEventListener("click", () => {
    toggleLang();
    for (const [id, card] of cards) {
      applyStatic(card.root);
      loadTickets(id);  // the list's words
    }
    if (state) render(state);
    renderShift();
    setLive($("live").dataset.on === "true");
  });
  $("logout").addEventListener("click", logout);
  $("print").addEventListener("click", () => window.print());
  $("close").addEventListener("click", () => { $("receipt").hidden = true; });
  setReasons((await api("/console/api/reasons")).reasons);
  render(await api("/console/api/state"));
  connect();
}

main();
