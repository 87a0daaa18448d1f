/* 申领健康码: the notice (申领须知) first, then name, ID number, phone, for whom, and the consent box.
 * Nothing personal leaves the phone before the box is ticked: the notice says what the data is for. */
"use strict";
HC.pages.apply = async () => {
  const { $ } = HC;
  const form = $("#apply");
  const box = $("#consent");
  const alertBox = $("#apply-alert");

  // The notice comes from the server with its version: ticking the box agrees to that version.
  async function loadNotice() {
    const notice = await HC.api("GET", "/api/v1/notice");
    $("#notice-title").textContent = notice.title;
    $("#consent-title").textContent = `《${notice.title}》`;
    $("#notice-items").replaceChildren(...notice.items.map((item) => HC.el("li", "", item)));
    if (box.value !== notice.version) box.checked = false;  // a new version is agreed to anew
    box.value = notice.version;
    return notice;
  }

  function clearErrors() {
    alertBox.hidden = true;
    form.querySelectorAll(".err").forEach((p) => { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  }

  function fieldError(field, text) {
    const p = form.querySelector(`.err[data-for="${field}"]`);
    if (p) p.textContent = text;
    const input = form.querySelector(`[name="${field}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
  }

  function focusFirstError() {
    const first = form.querySelector('[aria-invalid="true"]');  // in page order
    if (!first) return false;
    first.focus();  // its error is read out with it (aria-describedby)
    first.scrollIntoView({ block: "center" });
    return true;
  }

  function refuse(text) {  // a refusal, not a typo: it stays on screen until the next try
    alertBox.textContent = text;
    alertBox.hidden = false;
    alertBox.scrollIntoView({ block: "center" });
  }

  try {
    await loadNotice();
  } catch (e) {
    refuse("申领须知加载失败，请稍后刷新本页：" + e.message);
    $("#apply-submit").disabled = true;
  }
  form.hidden = false;
  box.addEventListener("change", () => {
    if (box.checked) { fieldError("consent_notice", ""); box.removeAttribute("aria-invalid"); }
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    if (!box.checked) {
      fieldError("consent_notice", "请先阅读并勾选同意《申领须知》，再提交申领");
      focusFirstError();
      return;
    }
    const data = Object.fromEntries(new FormData(form).entries());
    const submit = $("#apply-submit");
    submit.disabled = true;
    submit.textContent = "正在提交…";
    try {
      const person = await HC.api("POST", "/api/v1/persons", data);
      location.href = "/m/code/" + person.id;
      return;
    } catch (e) {
      for (const [field, msgs] of Object.entries(e.fields)) fieldError(field, msgs.join("；"));
      if (e.fields.consent_notice) await loadNotice().catch(() => null);  // the notice changed meanwhile
      if (focusFirstError()) HC.toast("请检查标出的填写内容");
      else if (e.status === 409) refuse("无法申领：" + e.message);
      else if (e.status === 429) refuse(`提交过于频繁，请${e.retryAfter ? Math.ceil(e.retryAfter / 60) + " 分钟" : "稍"}后再试。`);
      else refuse("提交失败：" + e.message);
    }
    submit.disabled = false;
    submit.textContent = "提交申领";
  });
};
