// The regulator dashboard: one page, views chosen by the URL's hash (#/live, #/ticket/<id>…).
// Every figure comes from central through the session; what a role may not see, the server
// refuses (403) and the view says so.
import { applyStatic, lang, t, toggleLang } from "./i18n.js";
import { ApiError, api, badge, currentSession, h, kg, loadSession, logout, shortId, stateBadge, TONE, tonnes, when } from "./common.js";
import { dailyBars, meter, siteMap, weightCurve } from "./charts.js";

const ROLE_VIEWS = {
  regulator: ["live", "sites", "tonnage", "alarms", "tickets", "trucks", "devices"],
  enterprise: ["live", "sites", "tonnage", "tickets", "trucks", "devices"],
  admin: ["live", "sites", "alarms", "devices"],
  checkpoint: [],
};
const main = () => document.getElementById("main");
let live = null;  // the EventSource of the live view, closed when leaving it

function card(title, ...children) { return h("section", { class: "card" }, h("h2", {}, title), ...children); }
function table(headers, rows, attrs = {}) {
  return h("div", { class: "scroll" }, h("table", attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => (Array.isArray(x) ? h("th", { class: x[1] }, x[0]) : h("th", {}, x))))),
    h("tbody", {}, rows)));
}
function failure(error) {
  const text = error instanceof ApiError && error.status === 403 ? t("forbidden_role") : error.message;
  return h("p", { class: "error", "data-testid": "error" }, text);
}
function siteLink(id, name) { return h("span", { title: id }, name || id); }
function ticketLink(id, text) { return id ? h("a", { href: `#/ticket/${id}`, class: "mono" }, text || shortId(id)) : "—"; }
function plateLink(plate) { return plate ? h("a", { href: `#/truck/${encodeURIComponent(plate)}`, class: "plate" }, plate) : "—"; }
function recordLink(id) { return id ? h("a", { href: `#/record/${id}`, class: "mono" }, shortId(id)) : "—"; }

// --- live ------------------------------------------------------------------------------------

function weighingRow(w, fresh) {
  return h("tr", { class: fresh ? "new" : "", "data-record": w.id },
    h("td", { class: "t" }, h("a", { href: `#/record/${w.id}`, title: w.id }, when(w.ts))), h("td", { class: "t" }, siteLink(w.site)), h("td", {}, plateLink(w.plate)),
    h("td", {}, t(w.direction)), h("td", {}, badge(t(w.decision), TONE[w.decision])),
    h("td", { class: "num" }, kg(w.net_kg)), h("td", {}, ticketLink(w.ticket)));
}
function alarmRow(a, fresh) {
  return h("tr", { class: fresh ? "new" : "", "data-alarm": a.id },
    h("td", { class: "t" }, when(a.raised_at)), h("td", {}, badge(a.kind, TONE[a.severity])), h("td", {}, a.site || "—"),
    h("td", {}, a.device || "—"), h("td", {}, a.ack ? t("acked") : ""));
}

function viewLive(role) {
  const canRecords = role !== "admin", canAlarms = role !== "enterprise";
  const status = h("span", { class: "badge", "data-testid": "live-status" }, t("reconnecting"));
  const weighings = h("tbody", { "data-testid": "live-weighings" });
  const alarms = h("tbody", { "data-testid": "live-alarms" });
  const cards = [];
  if (canRecords) cards.push(card(t("live_weighings"), h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, [t("time"), t("site"), t("plate"), t("direction"), t("decision"), t("net"), t("ticket")].map((x) => h("th", {}, x)))),
    weighings))));
  if (canAlarms) cards.push(card(t("live_alarms"), h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, [t("raised"), t("kind"), t("site"), t("device"), ""].map((x) => h("th", {}, x)))),
    alarms))));
  main().replaceChildren(h("div", { class: "row" }, status), h("div", { class: cards.length > 1 ? "grid live" : "grid" }, cards));
  const source = new EventSource("/dashboard/api/live");
  live = source;
  let since = Infinity;  // the first stream's backfill is shown without flashing
  const keep = (body, row) => { body.prepend(row); while (body.children.length > 100) body.lastChild.remove(); };
  const fresh = () => Date.now() - since > 1500;
  source.onopen = () => { since = Math.min(since, Date.now()); status.textContent = t("connected"); status.className = "badge ok"; };
  source.onerror = () => { status.textContent = t("reconnecting"); status.className = "badge warn"; };
  source.addEventListener("weighing", (e) => keep(weighings, weighingRow(JSON.parse(e.data), fresh())));
  source.addEventListener("alarm", (e) => keep(alarms, alarmRow(JSON.parse(e.data), fresh())));
}

// --- sites and devices --------------------------------------------------------------------------

async function viewSites() {
  const data = await api("/dashboard/api/sites");
  const rows = data.sites.map((s) => h("tr", { "data-site": s.id },
    h("td", {}, h("strong", {}, s.name), h("div", { class: "small muted" }, s.id)),
    h("td", {}, s.enterprise_name), h("td", {}, s.kind),
    h("td", { "data-testid": "site-health" }, stateBadge(s.health)),
    h("td", {}, when(s.last_seen)), h("td", { class: "num" }, s.backlog),
    h("td", {}, s.devices.map((d) => h("div", { class: "small" }, d.id, " ", stateBadge(d.health))))));
  main().replaceChildren(
    card(t("sites"), table([t("site"), t("enterprise"), t("kind"), t("status"), t("last_seen"), [t("backlog"), "num"], t("devices")], rows, { "data-testid": "sites" })),
    card(t("map"), siteMap(data.sites)));
}

async function viewDevices() {
  const data = await api("/dashboard/api/sites");
  const rows = data.sites.flatMap((s) => s.devices.map((d) => h("tr", { "data-device": d.id },
    h("td", { class: "mono" }, d.id), h("td", {}, siteLink(s.id, s.name)), h("td", {}, stateBadge(d.state)),
    h("td", {}, when(d.enrolled_at)), h("td", {}, d.certificate_exp ? when(d.certificate_exp * 1000) : "—"),
    h("td", {}, stateBadge(d.health)), h("td", {}, when(d.last_seen)), h("td", { class: "num" }, d.last_seq ?? "—"),
    h("td", { class: "num" }, d.backlog ?? "—"), h("td", {}, d.version || "—"))));
  main().replaceChildren(card(t("devices"), table(
    [t("device"), t("site"), t("state"), t("enrolled"), t("cert_exp"), t("status"), t("last_seen"), [t("last_seq"), "num"], [t("backlog"), "num"], t("version")],
    rows, { "data-testid": "devices" })));
}

// --- tonnage ---------------------------------------------------------------------------------------

async function viewTonnage() {
  const data = await api("/dashboard/api/tonnage?days=14");
  const cards = data.enterprises.map((e) => card(e.name,
    h("p", { class: "small muted" }, `${t("quota")} ${e.period}: ${tonnes(e.quota_used_kg)} / ${tonnes(e.quota_limit_kg)} ${t("quota_used")}; ${t("daily_quota")} ${tonnes(e.daily_quota_kg)}`),
    meter(e.quota_used_kg, e.quota_limit_kg),
    h("p", { class: "small muted legend" }, h("span", { class: "key out" }), t("dispatched"), " ",
      h("span", { class: "key in" }), t("received"), " ", h("span", { class: "key quota" }), t("daily_quota")),
    dailyBars({ days: data.days, quota: e.daily_quota_kg, label: e.name,
      series: [{ name: t("dispatched"), values: e.out }, { name: t("received"), values: e.in, cls: "in" }] })));
  const rows = data.sites.map((s) => h("tr", {}, h("td", {}, s.name), h("td", {}, s.enterprise),
    h("td", { class: "num" }, tonnes(s.out.reduce((a, b) => a + b, 0))), h("td", { class: "num" }, tonnes(s.in.reduce((a, b) => a + b, 0)))));
  main().replaceChildren(h("div", { class: "grid wide" }, cards),
    card(t("per_site"), table([t("site"), t("enterprise"), [t("dispatched"), "num"], [t("received"), "num"]], rows)));
}

// --- alarms ------------------------------------------------------------------------------------------

async function viewAlarms() {
  const data = await api("/dashboard/api/alarms?tail=200");
  const onlyOpen = h("input", { type: "checkbox", id: "only-open" });
  const body = h("tbody", { "data-testid": "alarms" });
  const draw = () => body.replaceChildren(...data.items.filter((a) => !(onlyOpen.checked && a.ack)).map(alarmQueueRow));
  onlyOpen.addEventListener("change", draw);
  draw();
  main().replaceChildren(card(t("alarms"), h("label", { class: "row small" }, onlyOpen, t("unacked_only")),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {},
      [t("raised"), t("kind"), t("severity"), t("site"), t("device"), t("detail"), t("ack")].map((x) => h("th", {}, x)))), body))));
}

function alarmQueueRow(a) {
  const cell = h("td", {});
  const row = h("tr", { "data-alarm": a.id }, h("td", {}, when(a.raised_at)), h("td", {}, a.kind),
    h("td", {}, badge(a.severity, TONE[a.severity])), h("td", {}, a.site || "—"), h("td", {}, a.device || "—"),
    h("td", { class: "small mono" }, JSON.stringify(a.detail), a.ref ? [" ", recordLink(a.ref)] : null), cell);
  const showAck = (ack) => cell.replaceChildren(badge(t("acked"), "ok"),
    h("div", { class: "small", "data-testid": "ack-note" }, ack.note), h("div", { class: "small muted" }, `${when(ack.at)} ${t("by")} ${ack.actor}`));
  if (a.ack) { showAck(a.ack); return row; }
  const note = h("input", { type: "text", placeholder: t("note"), maxlength: 1000, "data-testid": "ack-input" });
  const button = h("button", { type: "button", "data-testid": "ack-button" }, t("ack"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const done = await api(`/api/v1/alarms/${a.id}/ack`, { method: "POST", body: { note: note.value } });
      a.ack = done.ack;
      showAck(done.ack);
    } catch (error) { cell.append(failure(error)); button.disabled = false; }
  });
  cell.replaceChildren(h("div", { class: "row" }, note, button));
  return row;
}

// --- tickets ---------------------------------------------------------------------------------------

async function viewTickets(query) {
  const params = new URLSearchParams(query);
  const q = h("input", { type: "search", value: params.get("q") || "", placeholder: t("search_hint"), "data-testid": "ticket-search" });
  const state = h("select", {}, h("option", { value: "" }, t("any_state")),
    ["issued", "loaded", "arrived", "closed", "revoked", "expired"].map((s) => h("option", { value: s, selected: params.get("state") === s }, t(s))));
  const form = h("form", { class: "row" }, q, state, h("button", { type: "submit" }, t("search")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = new URLSearchParams({ q: q.value, state: state.value });
    location.hash = `#/tickets?${next}`;
  });
  const out = h("div", {}, t("loading"));
  main().replaceChildren(card(t("tickets"), form, out));
  const search = new URLSearchParams({ q: params.get("q") || "" });
  if (params.get("state")) search.set("state", params.get("state"));
  const data = await api(`/dashboard/api/tickets?${search}`);
  out.replaceChildren(data.items.length ? table(
    [t("ticket"), t("state"), t("plate"), t("from"), t("to"), [t("max_net"), "num"], [t("net"), "num"], t("flags")],
    data.items.map((x) => h("tr", { "data-ticket": x.id }, h("td", {}, ticketLink(x.id, x.no)), h("td", {}, stateBadge(x.state)),
      h("td", {}, plateLink(x.plate)), h("td", {}, x.seller_site), h("td", {}, x.dest_site), h("td", { class: "num" }, kg(x.max_net_kg)),
      h("td", { class: "num" }, kg(x.source_net_kg)), h("td", {}, x.flags.map((f) => badge(f, "bad"))))),
    { "data-testid": "tickets" }) : h("p", { class: "muted" }, t("no_data")));
}

function weighingCard(title, w) {
  if (!w) return card(title, h("p", { class: "muted" }, t("none")));
  if (!w.visible) return card(title, h("p", { class: "muted" }, t(w.reason === "not_stored" ? "not_stored" : "not_visible")), h("p", { class: "mono small" }, w.id));
  const p = w.payload || {}, body = p.body || {};
  const curve = w.evidence && w.evidence.readings
    ? [h("h3", {}, t("weight_curve")), weightCurve(w.evidence.readings, w.evidence.stability, t("weight_curve")),
       h("p", { class: "small muted" }, t("record"), " ", recordLink(w.evidence.id))]
    : [];
  return card(title, h("dl", { class: "kv" },
    h("dt", {}, t("site")), h("dd", {}, w.site), h("dt", {}, t("device")), h("dd", { class: "mono" }, w.device),
    h("dt", {}, t("time")), h("dd", {}, when(w.ts)), h("dt", {}, t("plate")), h("dd", { class: "plate" }, body.plate || "—"),
    h("dt", {}, t("gross")), h("dd", {}, kg(body.gross_kg)), h("dt", {}, t("net")), h("dd", {}, kg(body.net_kg)),
    h("dt", {}, t("decision")), h("dd", {}, body.decision ? t(body.decision) : "—", " ", (body.reasons || []).join(", ")),
    h("dt", {}, t("record")), h("dd", {}, recordLink(w.id))), curve);
}

async function viewTicket(cti) {
  const d = await api(`/dashboard/api/tickets/${cti}`);
  const x = d.ticket, names = d.site_names;
  const summary = card(`${t("ticket")} ${x.no}`, h("dl", { class: "kv", "data-testid": "ticket-summary" },
    h("dt", {}, t("state")), h("dd", {}, stateBadge(x.state), " ", x.flags.map((f) => badge(f, "bad"))),
    h("dt", {}, t("plate")), h("dd", {}, plateLink(x.plate)),
    h("dt", {}, t("seller")), h("dd", {}, x.seller), h("dt", {}, t("buyer")), h("dd", {}, x.buyer),
    h("dt", {}, t("from")), h("dd", {}, names[x.seller_site] || x.seller_site), h("dt", {}, t("to")), h("dd", {}, names[x.dest_site] || x.dest_site),
    h("dt", {}, t("coal")), h("dd", {}, x.coal), h("dt", {}, t("max_net")), h("dd", {}, kg(x.max_net_kg)),
    h("dt", {}, t("deadline")), h("dd", {}, when(x.exp * 1000)), h("dt", {}, "id"), h("dd", { class: "mono" }, x.id)));
  const history = card(t("history"), h("ol", { "data-testid": "history" }, d.history.map((s) => h("li", {}, stateBadge(s.state), " ", when(s.at)))));
  const c = d.discrepancy;
  const recon = card(t("discrepancy"), c ? h("dl", { class: "kv" },
    h("dt", {}, t("source_weighing")), h("dd", {}, kg(c.source_net_kg)), h("dt", {}, t("dest_weighing")), h("dd", {}, kg(c.dest_net_kg)),
    h("dt", {}, t("diff")), h("dd", {}, kg(c.diff_kg)), h("dt", {}, t("allowed")), h("dd", {}, kg(c.allowed_kg)),
    h("dt", {}, ""), h("dd", {}, c.exceeded ? badge(t("exceeded"), "bad") : badge(t("within"), "ok"))) : h("p", { class: "muted" }, t("none")));
  const seen = d.sightings === null ? [] : [card(t("sightings"), d.sightings.length ? table([t("checkpoint"), t("seen_at"), t("kind"), t("valid")],
    d.sightings.map((s) => h("tr", {}, h("td", {}, s.checkpoint), h("td", {}, when(s.seen_at)), h("td", {}, s.kind),
      h("td", {}, s.valid ? badge(t("valid"), "ok") : badge(t("invalid"), "bad"))))) : h("p", { class: "muted" }, t("none")))];
  main().replaceChildren(h("div", { class: "grid" }, summary, history),
    h("div", { class: "grid" }, weighingCard(t("source_weighing"), d.source), weighingCard(t("dest_weighing"), d.destination)),
    h("div", { class: "grid" }, recon, seen));
}

// --- trucks ------------------------------------------------------------------------------------------

async function viewTruck(plate) {
  const input = h("input", { type: "search", value: plate || "", placeholder: t("plate_hint"), "data-testid": "plate-input" });
  const form = h("form", { class: "row" }, input, h("button", { type: "submit" }, t("show")));
  form.addEventListener("submit", (e) => { e.preventDefault(); location.hash = `#/truck/${encodeURIComponent(input.value.trim())}`; });
  const out = h("div", {});
  main().replaceChildren(card(t("trucks"), form, out));
  if (!plate) return;
  out.textContent = t("loading");
  const d = await api(`/dashboard/api/trucks/${encodeURIComponent(plate)}`);
  const trips = d.trips.map((trip) => h("section", { class: "card", "data-trip": trip.ticket.id },
    h("h3", {}, ticketLink(trip.ticket.id, trip.ticket.no), " ", stateBadge(trip.ticket.state), " ",
      `${trip.from_name || trip.from} → ${trip.to_name || trip.to}`),
    h("ol", {}, [
      h("li", {}, `${t("issued")}: ${when(trip.ticket.issued_at)}`),
      ...trip.weighings.map((w) => h("li", {}, `${t(w.direction)} ${w.site} ${when(w.ts)} ${kg(w.net_kg)} `, recordLink(w.record))),
      ...trip.sightings.map((s) => h("li", {}, `${t("checkpoint")} ${s.checkpoint} ${when(s.seen_at)} `, s.valid ? badge(t("valid"), "ok") : badge(t("invalid"), "bad"))),
    ])));
  const others = d.other_weighings.length ? card(t("other_weighings"), table([t("time"), t("site"), t("direction"), [t("net"), "num"], t("record")],
    d.other_weighings.map((w) => h("tr", {}, h("td", {}, when(w.ts)), h("td", {}, w.site), h("td", {}, t(w.direction)), h("td", { class: "num" }, kg(w.net_kg)), h("td", {}, recordLink(w.record)))))) : null;
  out.replaceChildren(h("div", {}, h("h3", { class: "plate", "data-testid": "truck-plate" }, d.plate),
    trips.length ? trips : h("p", { class: "muted" }, t("no_data")), others));
}

// --- records -------------------------------------------------------------------------------------------

async function viewRecord(id) {
  const d = await api(`/dashboard/api/records/${id}`);
  const r = d.record, sig = d.signature, chain = d.chain;
  const link = (state, neighbour) => [badge(t(state), state === "broken" ? "bad" : state === "missing" ? "warn" : "ok"), " ", recordLink(neighbour)];
  const transparency = h("dd", { "data-testid": "transparency" }, "—");
  main().replaceChildren(card(`${t("record")} ${r.device} #${r.seq}`, h("dl", { class: "kv", "data-testid": "record-status" },
    h("dt", {}, "id"), h("dd", { class: "mono" }, r.id), h("dt", {}, t("kind")), h("dd", {}, r.type),
    h("dt", {}, t("site")), h("dd", {}, r.site), h("dt", {}, t("time")), h("dd", {}, when(r.ts)),
    h("dt", {}, t("signature")), h("dd", { "data-testid": "signature" }, sig.ok ? badge(t("sig_ok"), "ok") : badge(`${t("sig_bad")}: ${sig.reason}`, "bad")),
    h("dt", {}, t("chain")), h("dd", { "data-testid": "chain" }, chain ? [
      h("div", {}, `${t("backward")}: `, link(chain.backward, d.neighbours.before)),
      h("div", {}, `${t("forward")}: `, link(chain.forward, d.neighbours.after)),
      chain.equivocation ? badge(t("equivocation"), "bad") : null] : "—"),
    h("dt", {}, t("transparency")), transparency)),
  card(t("payload"), h("pre", { class: "mono small" }, JSON.stringify(r.payload, null, 2))));
  if (currentSession().features.transparency) transparencyStatus(r.id, transparency);
}

/** The record's inclusion in central's transparency log (docs/transparency.md). */
async function transparencyStatus(id, cell) {
  try {
    const proof = await api(`/api/v1/transparency/inclusion/${id}`);
    cell.replaceChildren(badge(t("included"), "ok"), h("span", { class: "small muted" },
      ` #${proof.leaf_index} / ${proof.tree_size} · ${t("tree_head")} ${when(proof.sth.ts)} · ${t("audit_path")} ${proof.audit_path.length}`));
  } catch (error) {
    if (error.status === 404) cell.replaceChildren(badge(t("not_included"), "warn"));
    else if (error.status === 409) cell.replaceChildren(badge(t("after_head"), "info"));
    else cell.replaceChildren(failure(error));
  }
}

// --- feeds' latest figures -----------------------------------------------------------------------

async function viewFigures() {
  const scores = card(t("credit_scores"), h("p", { class: "muted" }, t("loading")));
  const efficiency = card(t("mu_efficiency"), h("p", { class: "muted" }, t("loading")));
  main().replaceChildren(h("div", { class: "grid wide" }, scores, efficiency));
  try {
    const list = await api("/api/v1/feeds/credit/scores");
    scores.replaceChildren(h("h2", {}, t("credit_scores")), table([t("enterprise"), ["score", "num"], t("detail")],
      list.map((x) => h("tr", { "data-score": x.enterprise }, h("td", {}, x.enterprise), h("td", { class: "num" }, x.score),
        h("td", { class: "small" }, x.lines.filter((l) => l.count).map((l) => `${l.kind} ×${l.count} (${l.points})`).join(", ") || "—"))),
      { "data-testid": "credit-scores" }));
  } catch (error) { scores.append(failure(error)); }
  try {
    let page = await api("/api/v1/feeds/mu-efficiency?period=month&limit=366");
    const items = [...page.items];
    while (page.more && page.cursor) {
      page = await api(`/api/v1/feeds/mu-efficiency?period=month&limit=366&after=${encodeURIComponent(page.cursor)}`);
      items.push(...page.items);
    }
    const latest = items.reduce((m, x) => (x.period > m ? x.period : m), "");
    const rows = items.filter((x) => x.period === latest).sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9));
    efficiency.replaceChildren(h("h2", {}, `${t("mu_efficiency")} ${latest}`), rows.length ? table(
      [t("enterprise"), [t("dispatched"), "num"], ["t/亩", "num"], ["¥/亩", "num"], ["rank", "num"], t("grade")],
      rows.map((x) => h("tr", {}, h("td", {}, x.enterprise), h("td", { class: "num" }, tonnes(x.sold_kg)),
        h("td", { class: "num" }, x.sold_t_per_mu === null ? "—" : x.sold_t_per_mu.toFixed(2)),
        h("td", { class: "num" }, x.value_yuan_per_mu === null ? "—" : Math.round(x.value_yuan_per_mu)),
        h("td", { class: "num" }, x.rank ?? "—"), h("td", {}, x.grade ? badge(x.grade, "info") : "—"))),
      { "data-testid": "mu-efficiency" }) : h("p", { class: "muted" }, t("no_data")));
  } catch (error) { efficiency.append(failure(error)); }
}

// --- the frame -------------------------------------------------------------------------------------------

const VIEWS = {
  live: (role) => viewLive(role), sites: () => viewSites(), tonnage: () => viewTonnage(), alarms: () => viewAlarms(),
  tickets: (role, arg, query) => viewTickets(query), ticket: (role, arg) => viewTicket(arg), trucks: () => viewTruck(""),
  truck: (role, arg) => viewTruck(decodeURIComponent(arg)), devices: () => viewDevices(), record: (role, arg) => viewRecord(arg),
  figures: () => viewFigures(),
};

async function route() {
  if (live) { live.close(); live = null; }
  const session = currentSession();
  const [path, query = ""] = (location.hash.replace(/^#\/?/, "") || "live").split("?");
  const [name, arg] = path.split("/");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === name || a.dataset.view === name + "s");
  const view = VIEWS[name] || VIEWS.live;
  main().replaceChildren(h("p", { class: "muted" }, t("loading")));
  try { await view(session.role, arg, query); } catch (error) { main().replaceChildren(failure(error)); }
}

function frame(session) {
  const nav = document.getElementById("nav");
  const views = ROLE_VIEWS[session.role].concat(session.features.feeds && session.role !== "checkpoint" ? ["figures"] : []);
  nav.replaceChildren(...views.map((v) => h("a", { href: `#/${v}`, "data-view": v, "data-i18n": `nav_${v}` }, t(`nav_${v}`))));
  const who = [session.role, session.name || session.enterprise].filter(Boolean).join(" · ");
  document.getElementById("who").textContent = who;
}

async function start() {
  applyStatic();
  const session = await loadSession();
  if (session.role === "checkpoint") { location.assign("/checkpoint/"); return; }
  frame(session);
  document.getElementById("lang").addEventListener("click", () => { toggleLang(); frame(session); route(); });
  document.getElementById("logout").addEventListener("click", logout);
  window.addEventListener("hashchange", route);
  await route();
  document.body.dataset.ready = lang();
}

start();
