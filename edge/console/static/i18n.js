// Chinese and English: every word the console shows, looked up by key. Reason codes come from
// the edge (/console/api/reasons: the same texts the lane's display says). The choice is kept
// in localStorage; the first visit follows the browser's language.
const STRINGS = {
  en: {
    title: "coalgate — gate console", login_title: "Operator login",
    login_hint: "Log in with your operator account. Every action you take is signed with your id.",
    operator: "Operator", password: "Password", log_in: "Log in", log_out: "Log out", lang_switch: "中文",
    site: "Site", lane: "Lane", out: "dispatch", in: "arrival", weight: "Weight", stable: "stable", moving: "in motion",
    no_reading: "no reading", state: "State", plate: "Plate", ticket: "Ticket", lights: "Lights",
    barrier: "Barrier", barrier_up: "up", barrier_down: "down", barrier_moving: "moving",
    confirmed: "limit switch", camera_src: "camera", manual_src: "typed by operator", none: "—",
    held_because: "Barrier held because", nothing_held: "Nothing holds the barrier.",
    said: "The lane says", enter_plate: "Type the plate (camera failed or unsure)", enter_plate_button: "Enter plate",
    choose_ticket: "Choose a ticket", choose_ticket_button: "Choose ticket", ticket_qr: "or paste the ticket QR (CT1:…)",
    pick: "— pick a ticket —", no_tickets: "no ticket in the bundle for this plate",
    override: "Manual override", override_reason: "Reason (required)", override_button: "Release (override)",
    override_hint: "Only a hold for tare deviation or zero may be overridden; never an overload or a ticket fault.",
    io_checked: "IO checked", io_checked_reason: "What was checked or fixed (required)",
    io_checked_button: "Clear the IO command fault",
    io_checked_hint: "Only after the barrier or its relay was fixed. A module that does not answer clears its own fault. A released truck still waiting gets its barrier raised again.",
    zero: "Zero the empty scale", zero_button: "Zero now", zero_hint: "Only with the deck empty and steady.",
    plate_hint: "e.g. 陕K12345", refused: "Refused", done: "Sent to the lane",
    decisions: "Last decisions", alarms: "Alarms", ack: "Acknowledge", no_alarms: "No open alarms.",
    time: "Time", decision: "Decision", reasons: "Reasons", gross: "Gross", tare: "Tare", net: "Net",
    pass: "Pass", by: "Operator", receipt: "Receipt", show_receipt: "Receipt QR", release: "release", hold: "hold",
    shift: "This shift's weighings", since: "since", total_net: "net released",
    uplink: "Uplink", connected: "connected", offline: "offline", backlog: "not yet sent/acked",
    last_ack: "last ack", bundle: "site bundle", version: "version", clock: "Edge clock",
    clock_ok: "agrees with this PC", clock_off: "differs from this PC by", rejected: "REJECTED by central",
    live: "live", reconnecting: "reconnecting…", print: "Print", close: "Close",
    receipt_title: "Driver's receipt", receipt_hint: "Checkpoints verify this code offline.",
    first: "first", second: "second", single: "single", seconds: "s",
    idle: "idle", arriving: "arriving", positioning: "positioning", settling: "settling",
    deciding: "deciding", releasing: "releasing", exiting: "exiting", held: "held", fault: "fault",
    alarm: "alarm", warning: "warning", info: "info",
    k_escape: "Truck left without release", k_exit_without_session: "Exit without a session",
    k_barrier_forced: "Barrier forced", k_tamper_step: "Weight jumped (tamper)",
    k_tamper_zero_drift: "Zero drift (tamper)", k_tamper_beams: "Beams and weight disagree (tamper)",
    k_calibration_changed: "Calibration changed", k_scale_fault: "Scale fault", k_io_fault: "Gate IO fault",
    k_camera_fault: "Camera fault", k_journal_fault: "Journal fault", k_override: "Manual override",
    k_release_retry: "Barrier raised again for a released truck",
  },
  zh: {
    title: "coalgate — 磅房操作台", login_title: "操作员登录",
    login_hint: "请使用操作员账号登录。您的每个操作都以您的工号签名记录。",
    operator: "工号", password: "密码", log_in: "登录", log_out: "退出", lang_switch: "English",
    site: "站点", lane: "车道", out: "出厂", in: "进厂", weight: "重量", stable: "稳定", moving: "波动中",
    no_reading: "无读数", state: "状态", plate: "车牌", ticket: "电子煤票", lights: "信号灯",
    barrier: "道闸", barrier_up: "抬起", barrier_down: "落下", barrier_moving: "动作中",
    confirmed: "限位开关", camera_src: "相机识别", manual_src: "人工录入", none: "—",
    held_because: "道闸未抬起的原因", nothing_held: "没有拦截原因。",
    said: "车道提示", enter_plate: "人工录入车牌（相机故障或识别不清）", enter_plate_button: "录入车牌",
    choose_ticket: "选择电子煤票", choose_ticket_button: "选择煤票", ticket_qr: "或粘贴煤票二维码（CT1:…）",
    pick: "— 请选择 —", no_tickets: "站点数据包中没有该车的煤票",
    override: "人工放行", override_reason: "放行原因（必填）", override_button: "人工放行",
    override_hint: "只有皮重异常或未回零可以人工放行；超限或煤票问题一律不能放行。",
    io_checked: "道闸设备已检查", io_checked_reason: "检查或维修说明（必填）",
    io_checked_button: "解除道闸指令故障",
    io_checked_hint: "仅在道闸或继电器修好后使用。IO模块通讯故障恢复后自动解除。已放行仍在磅上的车辆将再次抬杆。",
    zero: "空秤置零", zero_button: "置零", zero_hint: "仅在秤台空载且稳定时可置零。",
    plate_hint: "例如 陕K12345", refused: "被拒绝", done: "已送达车道",
    decisions: "最近判定", alarms: "报警", ack: "确认", no_alarms: "没有未确认的报警。",
    time: "时间", decision: "判定", reasons: "原因", gross: "毛重", tare: "皮重", net: "净重",
    pass: "过磅", by: "操作员", receipt: "回执", show_receipt: "回执二维码", release: "放行", hold: "拦截",
    shift: "本班过磅记录", since: "自", total_net: "放行净重合计",
    uplink: "上传链路", connected: "已连接", offline: "离线", backlog: "待上传/待确认",
    last_ack: "最近确认", bundle: "站点数据包", version: "版本", clock: "边缘时钟",
    clock_ok: "与本机一致", clock_off: "与本机相差", rejected: "已被中心拒绝",
    live: "实时", reconnecting: "重新连接中…", print: "打印", close: "关闭",
    receipt_title: "司机回执", receipt_hint: "检查站可离线核验此二维码。",
    first: "第一次", second: "第二次", single: "单次", seconds: "秒",
    idle: "空闲", arriving: "车辆驶近", positioning: "上磅中", settling: "等待稳定",
    deciding: "判定中", releasing: "放行中", exiting: "驶离中", held: "拦截", fault: "故障",
    alarm: "报警", warning: "警告", info: "信息",
    k_escape: "车辆未放行即离开", k_exit_without_session: "无过磅记录出场",
    k_barrier_forced: "道闸被强行通过", k_tamper_step: "重量突变（疑似作弊）",
    k_tamper_zero_drift: "零点漂移（疑似作弊）", k_tamper_beams: "光栅与重量不符（疑似作弊）",
    k_calibration_changed: "标定参数被修改", k_scale_fault: "地磅故障", k_io_fault: "道闸设备故障",
    k_camera_fault: "相机故障", k_journal_fault: "记录存储故障", k_override: "人工放行",
    k_release_retry: "已放行车辆再次抬杆",
  },
};

const KEY = "coalgate.console.lang";
let reasonTexts = {};

export function lang() {
  const stored = localStorage.getItem(KEY);
  if (stored === "zh" || stored === "en") return stored;
  return (navigator.language || "zh").toLowerCase().startsWith("en") ? "en" : "zh";
}

export function t(key) {
  return STRINGS[lang()][key] ?? STRINGS.en[key] ?? key;
}

export function setReasons(texts) { reasonTexts = texts || {}; }

/** A reason code in plain words (the code itself if the edge does not know it). */
export function reason(code) {
  const text = reasonTexts[code];
  return text ? text[lang()] : code;
}

export function kind(code) {
  const key = "k_" + code;
  const text = t(key);
  return text === key ? code : text;
}

export function applyStatic(root = document) {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}

export function toggleLang() {
  localStorage.setItem(KEY, lang() === "zh" ? "en" : "zh");
  applyStatic();
}
