/* 赋码与核验记录: the person's colour changes and scans within the retention period, newest first. */
"use strict";
HC.pages.history = async () => {
  const { $, el } = HC;
  const section = $("#history");
  const person = section.dataset.person;
  const RESULTS = { ...HC.COLORS, expired: "二维码已过期" };
  const colorChip = (color) => el("span", "chip " + color, HC.COLORS[color] || color);

  function fill(list, items, render) {
    list.replaceChildren(...items.map((item) => el("li", "", ...render(item))));
    if (!items.length) list.appendChild(el("li", "empty", "暂无记录"));
  }

  try {
    const h = await HC.api("GET", `/api/v1/persons/${person}/history`);
    const persons = await HC.api("GET", "/api/v1/persons").then((r) => r.persons, () => []);
    const me = persons.find((p) => p.id === person);
    if (me) $("#history-who").textContent = `${me.name_masked}（${HC.RELATIONS[me.relation]}）${me.id_number_masked}`;
    $("#retention").textContent = `仅保留最近 ${h.retention_days} 天的记录，更早的已自动删除。`;
    fill($("#changes"), h.changes, (c) => [
      el("time", "", HC.fmt.format(new Date(c.at))),
      el("span", "what", c.from ? colorChip(c.from) : null, c.from ? " → " : null, colorChip(c.to)),
      (c.reasons || []).length ? el("small", "", c.reasons.join("、")) : null,
    ]);
    fill($("#scans"), h.scans, (s) => {
      const [color, changed] = s.result.split(" ");
      const result = RESULTS[color] ? el("span", "chip " + color, RESULTS[color]) : el("span", "", color);
      return [
        el("time", "", HC.fmt.format(new Date(s.at))),
        el("span", "what", s.place, "　", result, changed ? "（状态已变更）" : null),
      ];
    });
    section.hidden = false;
  } catch (e) {
    const p = el("p", "card", e.status === 403 ? e.message : "未找到记录：" + e.message);
    if (e.code === "verification_required") {  // the face check is on the code page
      const go = el("a", "button", "去人脸识别");
      go.href = "/m/code/" + person;
      p.appendChild(go);
    }
    $("#login-slot").replaceChildren(p);
  }
};
