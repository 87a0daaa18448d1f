/* HealthCode H5 pages: a thin client of the JSON API (token kept in sessionStorage). */
"use strict";
const HC = (() => {
  const TOKEN = "hc.token";
  const $ = (sel) => document.querySelector(sel);
  const token = () => sessionStorage.getItem(TOKEN);
  const COLORS = { green: "绿码", yellow: "黄码", red: "红码" };
  const fmt = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });

  function toast(text) {
    const el = $("#toast");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
  }

  async function api(method, path, body) {
    // The pages are Chinese: so are their error messages, whatever the phone's language.
    const headers = { Accept: "application/json", "Accept-Language": "zh-CN" };
    if (token()) headers.Authorization = "Bearer " + token();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (res.status === 401 && token()) {  // expired or revoked: back to the login, on every page
      sessionStorage.removeItem(TOKEN);
      location.reload();
      return new Promise(() => {});
    }
    if (!res.ok) {
      const err = new Error((data && data.error && data.error.message) || res.statusText);
      err.status = res.status;
      err.code = data && data.error && data.error.code;
      err.fields = (data && data.error && data.error.fields) || {};
      throw err;
    }
    return data;
  }

  function requireLogin(then) {
    if (token()) return then();
    const slot = $("#login-slot");
    const tpl = $("#dev-login-form");
    if (!tpl) { slot.innerHTML = '<p class="card">请从微信、支付宝或国家政务服务平台小程序打开。</p>'; return; }
    slot.appendChild(tpl.content.cloneNode(true));
    $("#dev-login").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const res = await api("POST", "/api/v1/sessions", { platform: "dev", code: $("#dev-code").value });
        sessionStorage.setItem(TOKEN, res.token);
        slot.innerHTML = "";
        then();
      } catch (e) { toast("登录失败：" + e.message); }
    });
  }

  async function home() {
    requireLogin(async () => {
      const { persons } = await api("GET", "/api/v1/persons");
      const list = $("#person-list");
      list.innerHTML = "";
      for (const p of persons) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "/m/code/" + p.id;
        const who = document.createElement("b");
        who.textContent = `${p.name_masked}（${p.relation === "self" ? "本人" : "家人"}）`;
        const idno = document.createElement("small");
        idno.textContent = p.id_number_masked + (p.verified ? "" : "　待人脸识别");
        a.append(who, idno);
        li.appendChild(a);
        list.appendChild(li);
      }
      if (!persons.length) list.innerHTML = "<li>尚未申领健康码</li>";
      $("#persons").hidden = false;
      $("#logout").onclick = async () => {
        try { await api("DELETE", "/api/v1/sessions/current"); } catch (e) { /* expired already */ }
        sessionStorage.removeItem(TOKEN);
        location.reload();
      };
    });
  }

  async function showNotice() {
    // The notice comes from the server with its version: ticking the box agrees to that version.
    const notice = await api("GET", "/api/v1/notice");
    $("#notice-title").textContent = notice.title;
    const list = $("#notice-items");
    list.innerHTML = "";
    for (const item of notice.items) {
      const li = document.createElement("li");
      li.textContent = item;
      list.appendChild(li);
    }
    $("#consent").value = notice.version;
  }

  function applyPage() {
    requireLogin(async () => {
      const form = $("#apply");
      await showNotice();
      form.hidden = false;
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const alertBox = $("#apply-alert");
        alertBox.hidden = true;
        form.querySelectorAll(".err").forEach((p) => { p.textContent = ""; });
        form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
        const data = Object.fromEntries(new FormData(form).entries());
        $("#apply-submit").disabled = true;
        try {
          const person = await api("POST", "/api/v1/persons", data);
          location.href = "/m/code/" + person.id;
        } catch (e) {
          for (const [field, msgs] of Object.entries(e.fields)) {
            const p = form.querySelector(`.err[data-for="${field}"]`);
            if (p) p.textContent = msgs.join("；");
            const input = form.querySelector(`[name="${field}"]`);
            if (input) input.setAttribute("aria-invalid", "true");
          }
          const first = form.querySelector('[aria-invalid="true"]');  // in page order
          if (first) {
            first.focus();  // its error is read out with it (aria-describedby)
            toast("请检查标出的填写内容");
          } else {  // a refusal, not a typo: it stays on screen until the next try
            alertBox.textContent = (e.status === 409 ? "无法申领：" : "提交失败：") + e.message;
            alertBox.hidden = false;
          }
        } finally { $("#apply-submit").disabled = false; }
      });
    });
  }

  function codePage() {
    requireLogin(() => {
      const card = $("#code-card");
      const person = card.dataset.person;
      // All deadlines are on this device's clock, measured from when we asked for the code, so a
      // phone whose clock is off still refreshes in time; issued_at/expires_at are whole seconds.
      let validUntil = 0; // local ms: the shown code is certainly unexpired before this
      let refreshAt = 0;  // local ms: when the next code is fetched
      let skew = 0;       // server minus device clock, used only when the device is clearly off
      let timer = null;
      let inFlight = false;
      let awaitingFaceCheck = false;

      function showReasons(list) {
        const reasons = $("#reasons");
        reasons.innerHTML = "";
        for (const r of list) {
          const li = document.createElement("li");
          li.innerHTML = "<b></b><span></span><small></small>";
          li.querySelector("b").textContent = r.text;
          li.querySelector("span").textContent = "如何转绿：" + r.how_to_clear;
          li.querySelector("small").textContent = r.until ? `预计 ${fmt.format(new Date(r.until))} 解除` : "";
          reasons.appendChild(li);
        }
        reasons.hidden = !list.length;
      }

      async function refresh() {
        clearTimeout(timer);
        if (inFlight) return;
        inFlight = true;
        const asked = Date.now();
        try {
          const code = await api("GET", `/api/v1/persons/${person}/health-code?image=svg`);
          const issued = Date.parse(code.issued_at);
          const lifetime = Date.parse(code.expires_at) - issued;
          validUntil = asked + lifetime - 1000;
          const lead = Math.min(10000, lifetime * 0.25);
          refreshAt = Math.max(Date.now() + 1000, validUntil - lead);
          const offset = issued + 500 - (asked + Date.now()) / 2;
          skew = Math.abs(offset) > 30000 ? offset : 0;
          card.className = "code-card " + code.color;
          card.dataset.color = code.color;
          card.dataset.issuedAt = code.issued_at;
          card.dataset.expiresAt = code.expires_at;
          card.dataset.qr = code.qr;
          $("#person-name").textContent = code.person.name_masked;
          $("#person-id").textContent = code.person.id_number_masked;
          $("#color-label").textContent = COLORS[code.color] || code.color;
          $("#qr").src = code.qr_image;
          $("#meaning").textContent = code.meaning;
          showReasons(code.reasons);
          card.hidden = false;
          tick();
          // Refresh a little before expiry, so a scanned code is never stale.
          timer = setTimeout(refresh, refreshAt - Date.now());
        } catch (e) {
          if (e.code === "verification_required") { validUntil = 0; awaitingFaceCheck = true; askForFaceCheck(); return; }
          if (e.status === 404 || e.status === 403) {  // not this account's person: retrying won't help
            validUntil = 0;
            card.hidden = true;
            $("#login-slot").innerHTML = '<p class="card">未找到该健康码。<a href="/m/">返回我的健康码</a></p>';
            return;
          }
          toast("刷新失败，正在重试：" + e.message);
          refreshAt = Date.now() + 3000;
          timer = setTimeout(refresh, 3000);
        } finally { inFlight = false; }
      }

      // 申领 gives a code once the platform's face check has passed on this link. The mini-program
      // runs the check and opens this page with ?face_ticket=…; the dev platform takes any ticket.
      async function start() {
        const ticket = new URLSearchParams(location.search).get("face_ticket");
        if (ticket) window.history.replaceState(null, "", location.pathname);  // used once, never kept
        const persons = await api("GET", "/api/v1/persons").then((r) => r.persons, () => null);
        const me = persons && persons.find((p) => p.id === person);
        if (me && !me.verified) { awaitingFaceCheck = true; askForFaceCheck(me, ticket); return; }
        refresh();
      }

      async function askForFaceCheck(me, ticket) {
        card.hidden = true;
        if (!me) {
          const persons = await api("GET", "/api/v1/persons").then((r) => r.persons, () => []);
          me = persons.find((p) => p.id === person);
        }
        $("#verify-name").textContent = me ? `「${me.name_masked}」` : "";
        $("#verify-family").hidden = !(me && me.relation === "family");
        const startButton = $("#verify-start");
        if (startButton) startButton.onclick = () => verifyWith("dev-face-check");
        if (ticket) return verifyWith(ticket);
        $("#verify").hidden = false;
      }

      async function verifyWith(ticket) {
        try {
          await api("POST", `/api/v1/persons/${person}/verification`, { ticket });
          $("#verify").hidden = true;
          awaitingFaceCheck = false;
          refresh();
        } catch (e) {
          $("#verify").hidden = false;
          toast((e.code === "forbidden" ? "人脸识别未通过：" : "核验失败：") + e.message);
        }
      }

      function tick() {
        const now = Date.now();
        $("#clock").textContent = fmt.format(new Date(now + skew));
        if (awaitingFaceCheck) return;
        if (!validUntil) { $("#validity").textContent = "正在获取二维码…"; return; }
        const stale = now >= validUntil;
        $("#validity").textContent = stale ? "二维码已过期，正在刷新…"
          : `${Math.max(1, Math.ceil((refreshAt - now) / 1000))} 秒后自动刷新`;
        card.classList.toggle("stale", stale);
        // Timers are held back while a phone sleeps or the web-view is in the background.
        if (now >= refreshAt && !inFlight) refresh();
      }
      document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
      start();
      tick();
      setInterval(tick, 1000);
    });
  }

  const RESULTS = { green: "绿码", yellow: "黄码", red: "红码", expired: "二维码已过期" };

  function historyPage() {
    requireLogin(async () => {
      const section = $("#history");
      const person = section.dataset.person;
      try {
        const h = await api("GET", `/api/v1/persons/${person}/history`);
        const persons = await api("GET", "/api/v1/persons").then((r) => r.persons, () => []);
        const me = persons.find((p) => p.id === person);
        if (me) $("#history-who").textContent = `${me.name_masked}（${me.relation === "self" ? "本人" : "家人"}）${me.id_number_masked}`;
        $("#retention").textContent = `保留最近 ${h.retention_days} 天的记录。`;
        const fill = (list, items, render) => {
          list.innerHTML = "";
          for (const item of items) {
            const li = document.createElement("li");
            li.textContent = render(item);
            list.appendChild(li);
          }
          if (!items.length) list.innerHTML = "<li>暂无记录</li>";
        };
        fill($("#changes"), h.changes, (c) =>
          `${fmt.format(new Date(c.at))}　${c.from ? (COLORS[c.from] || c.from) + " → " : ""}${COLORS[c.to] || c.to}`
          + ((c.reasons || []).length ? `（${c.reasons.join("、")}）` : ""));
        fill($("#scans"), h.scans, (s) => {
          const [color, changed] = s.result.split(" ");
          const shown = (RESULTS[color] || color) + (changed ? "（状态已变更）" : "");
          return `${fmt.format(new Date(s.at))}　${s.place}　${shown}`;
        });
        section.hidden = false;
      } catch (e) {
        $("#login-slot").innerHTML = "";
        const p = document.createElement("p");
        p.className = "card";
        p.textContent = e.status === 403 ? e.message : "未找到记录：" + e.message;
        if (e.code === "verification_required") {  // the face check is on the code page
          const go = document.createElement("a");
          go.className = "button";
          go.href = "/m/code/" + person;
          go.textContent = "去人脸识别";
          p.appendChild(go);
        }
        $("#login-slot").appendChild(p);
      }
    });
  }

  return { home, applyPage, codePage, historyPage, api };
})();

// Each page names its entry point in <body data-page>: no inline script, so the pages' content
// security policy can forbid inline script altogether.
document.addEventListener("DOMContentLoaded", () => {
  const page = HC[document.body.dataset.page];
  if (typeof page === "function") page();
});
