/* 我的健康码: the persons on this account (self and family), each a link to its code. */
"use strict";
HC.pages.home = async () => {
  const { $, el } = HC;
  const list = $("#person-list");
  try {
    const { persons } = await HC.api("GET", "/api/v1/persons");
    list.replaceChildren();
    persons.sort((a, b) => (a.relation === "self" ? 0 : 1) - (b.relation === "self" ? 0 : 1));  // 本人 first
    for (const p of persons) {
      const who = el("b", "", `${p.name_masked}（${HC.RELATIONS[p.relation] || p.relation}）`);
      const doc = el("small", "", `${HC.documentName(p.document)} ${p.id_number_masked}`);
      const state = p.verified ? null : el("span", "badge", "待人脸识别");
      const a = el("a", "", who, doc, state);
      a.href = "/m/code/" + p.id;
      list.appendChild(el("li", "", a));
    }
    if (!persons.length) list.appendChild(el("li", "empty", "尚未申领健康码，请点击下方按钮申领。"));
  } catch (e) {
    list.replaceChildren(el("li", "empty", `加载失败：${e.message}。请稍后刷新本页。`));
  }
  $("#persons").hidden = false;
  $("#logout").onclick = async () => {
    try { await HC.api("DELETE", "/api/v1/sessions/current"); } catch (e) { /* expired already */ }
    HC.forget();
    location.reload();
  };
};
