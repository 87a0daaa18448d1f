/* HealthCode H5 pages, the shared part: the JSON API client, the login step, and what every page
 * shows (colours, document kinds, dates). Each page's own script is static/m/<page>.js, named by
 * <body data-page>; this file loads it (the pages' content policy allows only our own scripts, and
 * no inline script, so there is one script tag per page and no inline bootstrap). */
"use strict";
window.HC = (() => {
  const TOKEN = "hc.token";
  const PLATFORM = "hc.platform";
  const $ = (sel) => document.querySelector(sel);
  const COLORS = { green: "绿码", yellow: "黄码", red: "红码" };
  const DOCUMENTS = {
    resident_id: "居民身份证",
    hmt_residence_permit: "港澳台居民居住证",
    foreign_permanent_residence: "外国人永久居留身份证",
  };
  const RELATIONS = { self: "本人", family: "家人" };
  const fmt = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });

  const token = () => sessionStorage.getItem(TOKEN);
  /** The platform this tab logged in with (wechat, alipay, gov, dev): it decides the face check. */
  const platform = () => sessionStorage.getItem(PLATFORM) || "";

  function forget() {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(PLATFORM);
  }

  /** An element with text children only: never innerHTML of anything the server sent. */
  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) if (child !== null && child !== undefined && child !== "") node.append(child);
    return node;
  }

  function toast(text) {
    const box = $("#toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  /** "2026-12-15" (a day in China, from the API's until_day) as 2026年12月15日. */
  function day(iso) {
    const [y, m, d] = iso.split("-").map(Number);
    return `${y}年${m}月${d}日`;
  }

  function documentName(kind) { return DOCUMENTS[kind] || "证件"; }

  /**
   * A JSON API call; a non-2xx answer throws an Error with status, code, fields and retryAfter.
   * `bearer` replaces this tab's login token (the travel card's own token; null: none), and then
   * a 401 is the caller's to handle rather than a reason to log in again.
   */
  async function api(method, path, body, { bearer } = {}) {
    // The pages are Chinese: so are their error messages, whatever the phone's language.
    const headers = { Accept: "application/json", "Accept-Language": "zh-CN" };
    const auth = bearer === undefined ? token() : bearer;
    if (auth) headers.Authorization = "Bearer " + auth;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      const err = new Error("网络连接失败，请检查网络");
      err.status = 0;
      err.fields = {};
      throw err;
    }
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (res.status === 401 && bearer === undefined && token()) {  // expired or revoked: back to the login, on every page
      forget();
      location.reload();
      return new Promise(() => {});
    }
    if (!res.ok) {
      const err = new Error((data && data.error && data.error.message) || "服务暂时不可用，请稍后再试");
      err.status = res.status;
      err.code = data && data.error && data.error.code;
      err.fields = (data && data.error && data.error.fields) || {};
      err.retryAfter = Number(res.headers.get("Retry-After")) || 0;  // seconds, on 429 and 503
      throw err;
    }
    // A kept answer (the health code's) is as old as its Age header says: a code's refresh is
    // timed from the life it has left. Not enumerable: it is not part of the answer.
    if (data && typeof data === "object") {
      Object.defineProperty(data, "ageSeconds", { value: Number(res.headers.get("Age")) || 0 });
    }
    return data;
  }

  function show(slot, templateId) {
    const tpl = document.getElementById(templateId);
    slot.replaceChildren(tpl.content.cloneNode(true));
  }

  /** The dev platform's form (only in pages rendered with dev login on), else the way in. */
  function askToLogIn(slot, then) {
    if (!document.getElementById("dev-login-form")) { show(slot, "open-from-app"); return; }
    slot.appendChild(document.getElementById("dev-login-form").content.cloneNode(true));
    $("#dev-login").addEventListener("submit", (ev) => {
      ev.preventDefault();
      logIn(slot, { platform: "dev", code: $("#dev-code").value }, then);
    });
  }

  async function logIn(slot, request, then) {
    try {
      const res = await api("POST", "/api/v1/sessions", request);
      sessionStorage.setItem(TOKEN, res.token);
      sessionStorage.setItem(PLATFORM, res.account.platform);
      slot.replaceChildren();
      then();
    } catch (e) {
      if (request.platform === "dev") { toast("登录失败：" + e.message); return; }
      show(slot, "login-failed");
      $("#login-failed-text").textContent = "登录失败：" + e.message;
      // A platform that did not answer, or too many tries: the same code may still work.
      const retry = $("#login-retry");
      const again = e.status === 0 || e.status === 429 || e.status >= 500;
      retry.hidden = !again;
      retry.onclick = () => logIn(slot, request, then);
      if (!again) $("#login-failed-hint").hidden = false;
    }
  }

  /**
   * Run `then` once this tab has a session. The mini-program opens a page with its platform's
   * login code (?platform=wechat&code=<wx.login code>&app_id=…): it logs in once with it and the
   * code leaves the address bar at once (single-use, and never kept: not in history, not stored).
   */
  function withLogin(then) {
    const slot = $("#login-slot");
    const params = new URLSearchParams(location.search);
    const code = params.get("code");
    const from = params.get("platform");
    if (code !== null || from !== null) {
      const request = { platform: from || "", code: code || "" };
      if (params.get("app_id")) request.app_id = params.get("app_id");
      for (const name of ["platform", "code", "app_id"]) params.delete(name);
      const rest = params.toString();
      history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
      if (request.platform && request.code) { forget(); logIn(slot, request, then); return; }
    }
    if (token()) { then(); return; }
    askToLogIn(slot, then);
  }

  /** The page's own script, static/m/<page>.js next to this one, then its entry point. */
  const pages = {};
  const here = document.currentScript.src;
  document.addEventListener("DOMContentLoaded", () => {
    const page = document.body.dataset.page;
    if (!page) return;
    const script = document.createElement("script");
    script.src = here.replace(/m\.js(\?.*)?$/, `m/${page}.js`);
    // <body data-login="none">: a page for anyone (the travel card proves a phone, not an account).
    const open = document.body.dataset.login === "none";
    script.onload = () => { if (pages[page]) (open ? pages[page]() : withLogin(pages[page])); };
    script.onerror = () => toast("页面加载失败，请检查网络后刷新");
    document.body.appendChild(script);
  });

  return { $, el, api, toast, day, fmt, COLORS, RELATIONS, documentName, platform, forget, pages };
})();
