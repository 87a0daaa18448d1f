/* 通信行程卡: prove the phone with an SMS code (the button counts down to the next send), then the
 * card: its colour, the masked phone, when it was read, the cities (a * on those that now hold a
 * medium/high-risk area), the note on the star and the data's lag, and why it is empty when it is.
 * The travel token is kept in this tab's sessionStorage only: never in the address, never on disk. */
"use strict";
HC.pages.travel = () => {
  const { $, el } = HC;
  const TOKEN = "hc.travel";
  const STALE_MS = 60000;  // back on a card older than this: read it again, so 更新于 stays true
  const COLORS = { green: "绿色", yellow: "黄色", orange: "橙色", red: "红色" };
  const form = $("#prove");
  const card = $("#card");
  const send = $("#send-code");
  const submit = $("#query");
  const alertBox = $("#prove-alert");
  const stampFormat = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  let resendAt = 0;  // local ms: the send button is off until then
  let countdown = null;
  let sentOnce = false;
  let sentTo = "";   // the number the countdown is for: the limit is per phone
  let sending = false;
  let readAt = 0;

  /** 2022.06.01 10:00:00 in China, as the real card wrote its update time. */
  function stamp(iso) {
    const p = Object.fromEntries(stampFormat.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
    return `${p.year}.${p.month}.${p.day} ${p.hour}:${p.minute}:${p.second}`;
  }

  const digits = (phone) => phone.replace(/\D/g, "").replace(/^86(?=1\d{10}$)/, "");
  // Only the obvious typo is caught here (the API checks the number): all unreadable numbers share
  // one rate-limit key on the server, so sending them would answer 429 to the next person's typo.
  const phoneTypo = (phone) => (!phone ? "请输入手机号" : /^1\d{10}$/.test(digits(phone)) ? "" : "请输入 11 位手机号");
  const waitText = (seconds) => (seconds > 99 ? `${Math.ceil(seconds / 60)}分钟` : `${seconds}秒`);

  function savedToken() {
    try {
      const kept = JSON.parse(sessionStorage.getItem(TOKEN) || "null");
      return kept && kept.until > Date.now() ? kept.token : null;
    } catch (e) { return null; }
  }

  function only(section) {  // one of the page's states at a time
    for (const part of [form, card, $("#retired"), $("#card-failed")]) part.hidden = part !== section;
  }

  function showRetired() {
    sessionStorage.removeItem(TOKEN);
    clearInterval(countdown);
    only($("#retired"));
  }

  // -- the form --------------------------------------------------------------------------

  function clearErrors() {
    alertBox.hidden = true;
    form.querySelectorAll(".err").forEach((p) => { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  }

  function fieldError(field, text) {
    const p = form.querySelector(`.err[data-for="${field}"]`);
    const input = form.querySelector(`[name="${field}"]`);
    if (!p || !input) return false;
    p.textContent = text;
    input.setAttribute("aria-invalid", "true");
    return true;
  }

  /** The API's field errors beside their fields; false when none of them has a field here. */
  function fieldErrors(fields) {
    let placed = false;
    for (const [field, messages] of Object.entries(fields || {})) placed = fieldError(field, messages.join("；")) || placed;
    return placed;
  }

  function focusFirstError() {
    const first = form.querySelector('[aria-invalid="true"]');
    if (!first) return false;
    first.focus();
    first.scrollIntoView({ block: "center" });
    return true;
  }

  function refuse(text) {
    alertBox.textContent = text;
    alertBox.hidden = false;
  }

  /** The send button: counting down while the number in the field is the one just sent to. */
  function tick() {
    if (sending) return;
    const left = digits(form.phone.value) === sentTo ? Math.ceil((resendAt - Date.now()) / 1000) : 0;
    if (left > 0) {
      send.disabled = true;
      send.textContent = `${waitText(left)}后重新获取`;
      return;
    }
    if (resendAt <= Date.now()) { clearInterval(countdown); countdown = null; }
    send.disabled = false;
    send.textContent = sentOnce ? "重新获取" : "获取验证码";
  }

  function countDown(seconds) {
    resendAt = Date.now() + seconds * 1000;
    clearInterval(countdown);
    countdown = setInterval(tick, 250);  // from the deadline: a throttled timer cannot drift it
    tick();
  }

  async function sendCode() {
    clearErrors();
    const phone = form.phone.value.trim();
    if (phoneTypo(phone)) { fieldError("phone", phoneTypo(phone)); focusFirstError(); return; }
    send.disabled = true;
    send.textContent = "正在发送…";
    sending = true;
    try {
      const sent = await HC.api("POST", "/api/v1/travel/sms", { phone }, { bearer: null }).finally(() => {
        sending = false;
      });
      sentOnce = true;
      sentTo = digits(phone);
      countDown(sent.resend_after || 60);
      $("#hint-sms_code").textContent =
        `验证码已发送，${Math.round((sent.expires_in || 300) / 60)} 分钟内有效；未收到可在倒计时结束后重新获取。`;
      form.sms_code.focus();
    } catch (e) {
      if (e.status === 410) { showRetired(); return; }
      if (e.status === 429) {  // the server says how long: one code a minute, a few an hour and a day
        const seconds = e.retryAfter || 60;
        sentTo = digits(phone);
        countDown(seconds);
        fieldError("phone", `获取验证码过于频繁，请${waitText(seconds)}后再试`);
        return;
      }
      tick();
      if (!fieldErrors(e.fields)) refuse("验证码发送失败：" + e.message);
      focusFirstError();
    }
  }

  async function prove(ev) {
    ev.preventDefault();
    clearErrors();
    const phone = form.phone.value.trim();
    const code = form.sms_code.value.trim();
    if (phoneTypo(phone)) fieldError("phone", phoneTypo(phone));
    if (!/^\d{6}$/.test(code)) fieldError("sms_code", code ? "验证码为 6 位数字" : "请输入短信验证码");
    if (!$("#consent").checked) fieldError("consent", "请先阅读并勾选同意授权，再查询");
    if (focusFirstError()) return;
    submit.disabled = true;
    submit.textContent = "正在查询…";
    try {
      const session = await HC.api("POST", "/api/v1/travel/sessions", { phone, sms_code: code }, { bearer: null });
      sessionStorage.setItem(TOKEN, JSON.stringify({ token: session.token, until: Date.now() + session.expires_in * 1000 }));
      form.sms_code.value = "";
      await showCard();
    } catch (e) {
      if (e.status === 410) { showRetired(); return; }
      if (!fieldErrors(e.fields)) {
        if (e.status === 429) refuse(`尝试过于频繁，请${e.retryAfter ? waitText(e.retryAfter) : "稍"}后再试`);
        else refuse("查询失败：" + e.message);
      }
      focusFirstError();
    } finally {
      submit.disabled = false;
      submit.textContent = "查询";
    }
  }

  function showForm(message) {
    only(form);
    clearErrors();
    if (message) refuse(message);
  }

  // -- the card --------------------------------------------------------------------------

  function cityItem(city) {
    if (!city.starred) return el("li", "", city.name);
    return el("li", "starred", city.name, el("span", "star", "*"), el("span", "sr-only", "（当前有中高风险地区）"));
  }

  function fill(c) {
    card.className = "travel-card " + c.color;
    card.dataset.color = c.color;
    card.dataset.emptyReason = c.empty_reason || "";
    $("#tc-phone").textContent = c.phone_masked;
    const updated = $("#tc-updated");
    updated.textContent = stamp(c.updated_at);
    updated.dateTime = c.updated_at;
    $("#tc-live").setAttribute("aria-label", `${COLORS[c.color] || ""}行程卡`);
    $("#tc-reason").textContent = c.reason;
    $("#tc-days").textContent = c.window_days;
    $("#tc-cities").replaceChildren(...c.cities.map(cityItem));
    $("#tc-cities").hidden = !c.cities.length;
    // An empty card says why: the API puts its reason (no data for the number yet, or no stay long
    // enough) first in the note, as one sentence; it goes in the place of the cities, the rest below.
    let note = c.note;
    let why = c.empty_reason === "none_in_window" ? `前${c.window_days}天内未在任何城市停留4小时以上` : "暂无该号码的行程数据";
    const cut = note.indexOf("。");
    if (c.empty_reason && cut > 0) { why = note.slice(0, cut); note = note.slice(cut + 1); }
    const empty = $("#tc-empty");
    empty.hidden = c.cities.length > 0;
    empty.textContent = why;
    $("#tc-note").textContent = note;
  }

  async function showCard() {
    const token = savedToken();
    if (!token) { sessionStorage.removeItem(TOKEN); showForm(); return; }
    try {
      fill(await HC.api("GET", "/api/v1/travel/card", undefined, { bearer: token }));
      readAt = Date.now();
      only(card);
      window.scrollTo(0, 0);
    } catch (e) {
      if (e.status === 410) { showRetired(); return; }
      if (e.status === 401) { sessionStorage.removeItem(TOKEN); showForm("查询已过期，请重新验证手机号"); return; }
      $("#card-failed-text").textContent = e.message;
      only($("#card-failed"));
    }
  }

  function leave() {
    sessionStorage.removeItem(TOKEN);
    form.sms_code.value = "";
    showForm();
    form.phone.focus();
  }

  if (document.body.dataset.retired) { showRetired(); return; }
  send.addEventListener("click", sendCode);
  form.phone.addEventListener("input", tick);  // the wait is per phone: another number need not wait
  form.addEventListener("submit", prove);
  $("#consent").addEventListener("change", (ev) => {
    if (ev.target.checked) { fieldError("consent", ""); ev.target.removeAttribute("aria-invalid"); }
  });
  $("#tc-leave").addEventListener("click", leave);
  $("#card-retry").addEventListener("click", showCard);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !card.hidden && Date.now() - readAt > STALE_MS) showCard();
  });
  if (savedToken()) showCard(); else showForm();
};
