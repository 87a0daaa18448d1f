/* 亮码: the live code (colour, QR in that colour, clock), what to do when yellow or red, and the face
 * check (人脸识别) a link needs before its first code. */
"use strict";
HC.pages.code = () => {
  const { $, el } = HC;
  const card = $("#code-card");
  const person = card.dataset.person;
  const POLL_MS = 3000;       // the status check: a colour change shows within seconds
  const POLL_MAX_MS = 60000;  // backed off this far on errors
  // All deadlines are on this device's clock, measured from when we asked for the code, so a
  // phone whose clock is off still refreshes in time; issued_at/expires_at are whole seconds.
  let validUntil = 0; // local ms: the shown code is certainly unexpired before this
  let refreshAt = 0;  // local ms: when the next code is fetched
  let skew = 0;       // server minus device clock, used only when the device is clearly off
  let timer = null;
  let inFlight = false;
  let awaitingFaceCheck = false;
  let shown = null;   // {color, policy_version} of the code on screen
  let pollTimer = null;
  let pollDelay = POLL_MS;

  function reasonItem(r) {
    const until = r.until_day ? `预计 ${HC.day(r.until_day)} 解除`
      : r.until ? `预计 ${HC.fmt.format(new Date(r.until))} 解除` : "";
    return el("li", "",
      el("b", "", r.text),
      until ? el("strong", "until", until) : null,
      el("span", "", "如何转绿：" + r.how_to_clear),
      r.note ? el("span", "note", "防疫部门说明：" + r.note) : null);
  }

  function showWhatToDo(code) {
    $("#reasons").replaceChildren(...code.reasons.map(reasonItem));
    $("#reasons").hidden = !code.reasons.length;
    const help = code.help;
    if (help) {
      const hotline = $("#help-hotline");
      hotline.textContent = help.hotline;
      hotline.href = "tel:" + help.hotline.replace(/[^0-9+]/g, "");
      $("#help-office").textContent = help.office;
    }
    $("#todo").hidden = !code.reasons.length && !help;
  }

  function showCode(code) {
    card.className = "code-card " + code.color;
    card.dataset.color = code.color;
    card.dataset.issuedAt = code.issued_at;
    card.dataset.expiresAt = code.expires_at;
    card.dataset.qr = code.qr;
    $("#person-name").textContent = code.person.name_masked;
    $("#person-doc").textContent = HC.documentName(code.person.document);
    $("#person-id").textContent = code.person.id_number_masked;
    $("#color-label").textContent = HC.COLORS[code.color] || code.color;
    $("#qr").src = code.qr_image;
    $("#qr").alt = `${HC.COLORS[code.color] || ""}二维码`;
    $("#meaning").textContent = code.meaning;
    showWhatToDo(code);
    card.hidden = false;
  }

  async function refresh() {
    clearTimeout(timer);
    if (inFlight) return;
    inFlight = true;
    const asked = Date.now();
    try {
      const code = await HC.api("GET", `/api/v1/persons/${person}/health-code?image=svg`);
      const issued = Date.parse(code.issued_at);
      const lifetime = Date.parse(code.expires_at) - issued;
      const age = (code.ageSeconds || 0) * 1000;  // a code served again has less life left
      validUntil = asked + lifetime - age - 1000;
      const lead = Math.min(10000, lifetime * 0.25);
      refreshAt = Math.max(Date.now() + 1000, validUntil - lead);
      const offset = issued + age + 500 - (asked + Date.now()) / 2;
      skew = Math.abs(offset) > 30000 ? offset : 0;
      shown = { color: code.color, policy_version: code.policy_version };
      showCode(code);
      tick();
      // Refresh a little before expiry, so a scanned code is never stale.
      timer = setTimeout(refresh, refreshAt - Date.now());
      if (!pollTimer) schedulePoll(POLL_MS);
    } catch (e) {
      if (e.code === "verification_required") { validUntil = 0; shown = null; askForFaceCheck(); return; }
      if (e.status === 404 || e.status === 403) {  // not this account's person: retrying won't help
        validUntil = 0;
        shown = null;
        card.hidden = true;
        $("#login-slot").replaceChildren(document.getElementById("code-not-found").content.cloneNode(true));
        return;
      }
      const wait = Math.max(3000, e.retryAfter * 1000);
      HC.toast("刷新失败，正在重试：" + e.message);
      refreshAt = Date.now() + wait;
      timer = setTimeout(refresh, wait);
    } finally { inFlight = false; }
  }

  // The colour now, cheaply (no signature): a marker set while the page is open shows within
  // seconds, not at the next refresh. Paused while the page is hidden; backs off on errors.
  function schedulePoll(ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, ms);
  }

  async function poll() {
    if (document.hidden || !shown) { pollTimer = null; return; }  // resumed when shown again
    try {
      const now = await HC.api("GET", `/api/v1/persons/${person}/health-code/status`);
      pollDelay = POLL_MS;
      if (shown && (now.color !== shown.color || now.policy_version !== shown.policy_version)) refresh();
    } catch (e) {
      if (e.status === 403 || e.status === 404) { refresh(); pollTimer = null; return; }  // it says what now
      pollDelay = Math.max(e.retryAfter * 1000, Math.min(POLL_MAX_MS, pollDelay * 2));
    }
    schedulePoll(pollDelay);
  }

  // 申领 gives a code once the platform's face check has passed on this link. The mini-program
  // may run it and open this page with ?face_ticket=…; Alipay's page is opened from here and its
  // ticket kept in this tab until the check is read back.
  const PENDING = "hc.face." + person;
  const pending = () => {
    const kept = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    return kept && kept.until > Date.now() ? kept : null;
  };

  async function start() {
    const params = new URLSearchParams(location.search);
    const ticket = params.get("face_ticket");
    if (ticket) {  // used once, never kept
      params.delete("face_ticket");
      const rest = params.toString();
      window.history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
    }
    const me = await findMe();
    if (me && !me.verified) {
      askForFaceCheck(me);
      const kept = pending();
      if (ticket || kept) verifyWith(ticket || kept.ticket, !ticket);
      return;
    }
    refresh();
  }

  async function findMe() {
    const persons = await HC.api("GET", "/api/v1/persons").then((r) => r.persons, () => []);
    return persons.find((p) => p.id === person) || null;
  }

  async function askForFaceCheck(me) {
    awaitingFaceCheck = true;
    card.hidden = true;
    if (!me) me = await findMe();
    $("#verify-name").textContent = me ? `「${me.name_masked}」` : "";
    $("#verify-family").hidden = !(me && me.relation === "family");
    // Which platform runs the check decides what the user does here.
    const flow = HC.platform() === "wechat" ? "wechat" : HC.platform() === "dev" ? "dev" : "start";
    document.querySelectorAll("#verify [data-flow]").forEach((part) => {
      part.hidden = !part.dataset.flow.split(" ").includes(flow);
    });
    const kept = pending();
    if (kept && kept.url) offerPlatformPage(kept.url);
    $("#verify-start").onclick = beginFaceCheck;
    $("#verify").hidden = false;
  }

  async function beginFaceCheck() {
    const button = $("#verify-start");
    button.disabled = true;
    try {
      const check = await HC.api("POST", `/api/v1/persons/${person}/verification/start`);
      if (!check.url) { await verifyWith(check.ticket, false); return; }  // dev, gov: nothing to open
      sessionStorage.setItem(PENDING, JSON.stringify({
        ticket: check.ticket, url: check.url, until: Date.now() + check.expires_in * 1000 }));
      offerPlatformPage(check.url);
    } catch (e) {
      HC.toast("无法开始人脸识别：" + e.message);
    } finally { button.disabled = false; }
  }

  function offerPlatformPage(url) {  // Alipay: its own face-check page, then back here
    $("#verify-open").href = url;
    $("#verify-opened").hidden = false;
    $("#verify-start").hidden = true;
    $("#verify-done").onclick = () => { const kept = pending(); if (kept) verifyWith(kept.ticket, true); };
  }

  async function verifyWith(ticket, fromPlatformPage) {
    try {
      await HC.api("POST", `/api/v1/persons/${person}/verification`, { ticket });
      sessionStorage.removeItem(PENDING);
      $("#verify").hidden = true;
      awaitingFaceCheck = false;
      refresh();
    } catch (e) {
      $("#verify").hidden = false;
      if (e.code !== "forbidden") HC.toast("核验失败：" + e.message);
      else HC.toast(fromPlatformPage ? "尚未完成或未通过人脸识别，请在打开的页面中完成后再试" : "人脸识别未通过：" + e.message);
    }
  }

  function tick() {
    const now = Date.now();
    $("#clock").textContent = HC.fmt.format(new Date(now + skew));
    if (awaitingFaceCheck) return;
    if (!validUntil) { $("#validity").textContent = "正在获取二维码…"; return; }
    const stale = now >= validUntil;
    $("#validity").textContent = stale ? "二维码已过期，正在刷新…"
      : `${Math.max(1, Math.ceil((refreshAt - now) / 1000))} 秒后自动刷新`;
    card.classList.toggle("stale", stale);
    // Timers are held back while a phone sleeps or the web-view is in the background.
    if (now >= refreshAt && !inFlight) refresh();
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) { clearTimeout(pollTimer); pollTimer = null; return; }
    tick();
    if (shown) schedulePoll(0);  // back from the background: the colour may have changed meanwhile
  });
  start();
  tick();
  setInterval(tick, 1000);
};
