// Chinese and English: every word the pages show, looked up by key. The choice is kept in
// localStorage; the first visit follows the browser's language.
const STRINGS = {
  en: {
    title: "coalgate — regulator dashboard", cp_title: "coalgate — checkpoint",
    login_title: "Log in", login_hint: "Paste the API token you were given (cg_…). It is sent once; the browser then keeps a session cookie.",
    token: "Token", log_in: "Log in", log_out: "Log out", lang_switch: "中文",
    nav_live: "Live", nav_sites: "Sites", nav_tonnage: "Tonnage", nav_alarms: "Alarms",
    nav_tickets: "Tickets", nav_trucks: "Trucks", nav_devices: "Devices", nav_checkpoint: "Checkpoint",
    live_weighings: "Live weighings", live_alarms: "Live alarms", connected: "live", reconnecting: "reconnecting…",
    time: "Time", site: "Site", device: "Device", plate: "Plate", direction: "Direction", decision: "Decision",
    net: "Net", gross: "Gross", ticket: "Ticket", kind: "Kind", severity: "Severity", detail: "Detail",
    out: "out", in: "in", release: "release", hold: "hold",
    sites: "Sites", enterprise: "Enterprise", status: "Status", last_seen: "Last seen", backlog: "Backlog",
    devices: "Devices", online: "online", offline: "offline", silent: "silent", unknown: "never seen", revoked: "revoked", active: "active", no_device: "no device",
    map: "Map", tonnage: "Tonnage per day", quota: "Quota", daily_quota: "daily share of quota",
    quota_used: "used this period", per_site: "Per site", total: "Total", dispatched: "dispatched", received: "received",
    alarms: "Alarms", unacked_only: "Unacknowledged only", note: "Note", ack: "Acknowledge", acked: "acknowledged",
    raised: "Raised", by: "by",
    tickets: "Tickets", search: "Search", search_hint: "number, plate, site, enterprise", any_state: "any state",
    state: "State", flags: "Flags", seller: "Seller", buyer: "Buyer", from: "From", to: "To", coal: "Coal",
    max_net: "Max net", issued: "issued", loaded: "loaded", arrived: "arrived", closed: "closed", expired: "expired",
    history: "State history", source_weighing: "Source weighing (loading)", dest_weighing: "Destination weighing (arrival)",
    discrepancy: "Reconciliation", diff: "Difference", allowed: "Allowed", exceeded: "exceeded", within: "within tolerance",
    weight_curve: "Weight readings (evidence)", not_visible: "not visible to you", not_stored: "not received yet", none: "none",
    sightings: "Checkpoint sightings", checkpoint: "Checkpoint", seen_at: "Seen at", valid: "valid", invalid: "invalid",
    trucks: "Truck trips", plate_hint: "e.g. 陕K12345", show: "Show", trips: "Trips", other_weighings: "Weighings without a ticket of yours",
    enrolled: "Enrolled", cert_exp: "Certificate until", last_seq: "Last seq", version: "Version",
    record: "Record", signature: "Signature", chain: "Hash chain", transparency: "Transparency log",
    sig_ok: "verifies under the device's enrolled key", sig_bad: "does not verify",
    linked: "linked", missing: "not received", broken: "BROKEN", genesis: "first record",
    backward: "to previous", forward: "to next", equivocation: "equivocation", payload: "Payload",
    included: "included", not_included: "not in the log yet", after_head: "appended after the latest signed head",
    tree_head: "tree head", audit_path: "audit path", nav_figures: "Figures", credit_scores: "Credit scores", mu_efficiency: "Mu-average efficiency",
    loading: "Loading…", no_data: "Nothing yet.", forbidden_role: "Your role cannot see this page.",
    paste: "Paste a ticket (CT1:…) or receipt (CR1:…) QR text", verify: "Verify", upload: "QR image",
    camera: "Scan with camera", stop_camera: "Stop camera", record_sighting: "Record sighting",
    sighting_recorded: "Sighting recorded", keys: "Central's keys", keys_fetched: "fetched",
    offline_checks: "Offline checks (need only central's key set)", online_state: "Online (central now)",
    check_signature: "Signature (central's key; device key for a receipt)", check_loadable: "Loading deadline",
    check_device: "Certified device", passed: "passed", failed: "failed", not_applicable: "—",
    ticket_valid: "VALID", ticket_invalid: "NOT VALID", receipt: "receipt", ticket_kind: "ticket",
    loaded_at_site: "Loaded at", net_loaded: "Net loaded", used: "Already used", seen_here: "Seen at this checkpoint",
    yes: "yes", no: "no", times: "times", deadline: "Loading deadline", no_qr_found: "No QR code found in the image.",
    camera_unavailable: "The camera is not available in this browser.", reason: "Reason",
  },
  zh: {
    title: "coalgate — 监管驾驶舱", cp_title: "coalgate — 检查站",
    login_title: "登录", login_hint: "粘贴发给您的 API 令牌（cg_…）。令牌只发送一次，之后浏览器保存会话 Cookie。",
    token: "令牌", log_in: "登录", log_out: "退出", lang_switch: "English",
    nav_live: "实时", nav_sites: "站点", nav_tonnage: "吨位", nav_alarms: "报警",
    nav_tickets: "电子票", nav_trucks: "车辆", nav_devices: "设备", nav_checkpoint: "检查站",
    live_weighings: "实时过磅", live_alarms: "实时报警", connected: "实时", reconnecting: "重新连接中…",
    time: "时间", site: "站点", device: "设备", plate: "车牌", direction: "方向", decision: "判定",
    net: "净重", gross: "毛重", ticket: "电子票", kind: "类型", severity: "级别", detail: "详情",
    out: "出厂", in: "进厂", release: "放行", hold: "拦截",
    sites: "站点", enterprise: "企业", status: "状态", last_seen: "最后通信", backlog: "待上传",
    devices: "设备", online: "在线", offline: "离线", silent: "无数据", unknown: "从未连接", revoked: "已吊销", active: "有效", no_device: "无设备",
    map: "地图", tonnage: "每日吨位", quota: "配额", daily_quota: "配额日均",
    quota_used: "本期已用", per_site: "各站点", total: "合计", dispatched: "发运", received: "接收",
    alarms: "报警", unacked_only: "仅未确认", note: "备注", ack: "确认", acked: "已确认",
    raised: "发生时间", by: "由",
    tickets: "电子票", search: "查询", search_hint: "票号、车牌、站点、企业", any_state: "全部状态",
    state: "状态", flags: "标记", seller: "卖方", buyer: "买方", from: "起运地", to: "目的地", coal: "煤种",
    max_net: "最大净重", issued: "已开具", loaded: "已装车", arrived: "已到达", closed: "已闭合", expired: "已过期",
    history: "状态历程", source_weighing: "起运过磅（装车）", dest_weighing: "目的地过磅（到达）",
    discrepancy: "对账", diff: "差值", allowed: "允许", exceeded: "超出允差", within: "在允差内",
    weight_curve: "称重读数（证据）", not_visible: "您无权查看", not_stored: "尚未收到", none: "无",
    sightings: "检查站记录", checkpoint: "检查站", seen_at: "检查时间", valid: "有效", invalid: "无效",
    trucks: "车辆行程", plate_hint: "例如 陕K12345", show: "显示", trips: "行程", other_weighings: "无本方电子票的过磅",
    enrolled: "注册时间", cert_exp: "证书有效期至", last_seq: "最新序号", version: "版本",
    record: "记录", signature: "签名", chain: "哈希链", transparency: "透明日志",
    sig_ok: "用设备注册公钥验证通过", sig_bad: "验证失败",
    linked: "已链接", missing: "尚未收到", broken: "断裂", genesis: "首条记录",
    backward: "前一条", forward: "后一条", equivocation: "双重签名", payload: "内容",
    included: "已收录", not_included: "尚未收录", after_head: "在最新签名树头之后追加",
    tree_head: "树头", audit_path: "审计路径", nav_figures: "指标", credit_scores: "信用评分", mu_efficiency: "亩均效益",
    loading: "加载中…", no_data: "暂无数据。", forbidden_role: "您的角色无权查看此页。",
    paste: "粘贴电子票（CT1:…）或回执（CR1:…）二维码文本", verify: "核验", upload: "二维码图片",
    camera: "摄像头扫码", stop_camera: "关闭摄像头", record_sighting: "登记检查",
    sighting_recorded: "已登记", keys: "中心公钥", keys_fetched: "获取于",
    offline_checks: "离线核验（只需中心公钥集）", online_state: "在线状态（中心当前）",
    check_signature: "签名（中心公钥；回执另验设备公钥）", check_loadable: "装车期限",
    check_device: "认证设备", passed: "通过", failed: "未通过", not_applicable: "—",
    ticket_valid: "有效", ticket_invalid: "无效", receipt: "回执", ticket_kind: "电子票",
    loaded_at_site: "装车地点", net_loaded: "装车净重", used: "是否已使用", seen_here: "本站已检查",
    yes: "是", no: "否", times: "次", deadline: "装车期限", no_qr_found: "图片中未找到二维码。",
    camera_unavailable: "此浏览器无法使用摄像头。", reason: "原因",
  },
};

const KEY = "coalgate.lang";

export function lang() {
  const stored = localStorage.getItem(KEY);
  if (stored === "zh" || stored === "en") return stored;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function t(key) {
  return STRINGS[lang()][key] ?? STRINGS.en[key] ?? key;
}

/** Fill every element with data-i18n, and set <html lang> (CJK fonts and line breaking). */
export function applyStatic(root = document) {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}

export function toggleLang() {
  localStorage.setItem(KEY, lang() === "zh" ? "en" : "zh");
  applyStatic();
}
