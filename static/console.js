/* The authority console's script: the dashboard's charts (Chart.js, static/vendor/), the name of
   a division code as it is typed, and a confirmation before an approval turns a code red.
   The pages work without it: every action is a plain form post. */
"use strict";
(() => {
  const $ = (sel) => document.querySelector(sel);
  const COLORS = { green: "#0a7d2c", yellow: "#f0b400", red: "#c62828" };
  const COLOR_NAMES = { green: "绿码", yellow: "黄码", red: "红码" };
  // Several reasons of one colour side by side: shades of it.
  const SHADES = { red: ["#c62828", "#e57373", "#8e1b1b", "#ef9a9a"], yellow: ["#f0b400", "#c77800", "#ffd54f", "#8d6e00"] };
  const BUCKETS = [[3600, "1 小时内"], [4 * 3600, "1–4 小时"], [12 * 3600, "4–12 小时"], [24 * 3600, "12–24 小时"],
    [Infinity, "24 小时以上"]];

  function duration(seconds) {
    const minutes = Math.floor(seconds / 60);
    const hours = Math.floor(minutes / 60);
    if (hours >= 24) return `${Math.floor(hours / 24)} 天 ${hours % 24} 小时`;
    if (hours) return `${hours} 小时 ${minutes % 60} 分`;
    return minutes ? `${minutes} 分钟` : "不到 1 分钟";
  }

  // -- the dashboard --------------------------------------------------------------------------

  function buckets(ages) {
    const counts = BUCKETS.map(() => 0);
    for (const age of ages) counts[BUCKETS.findIndex(([limit]) => age < limit)] += 1;
    return counts;
  }

  function figures(data) {
    for (const color of ["green", "yellow", "red"]) $(`#kpi-${color}`).textContent = data.colors[color] || 0;
    for (const [id, waiting] of [["pending", data.pending_approvals], ["appeals", data.open_appeals]]) {
      $(`#kpi-${id}`).textContent = waiting.count;
      $(`#kpi-${id}-oldest`).textContent = waiting.oldest_seconds == null ? "" : `最久已等 ${duration(waiting.oldest_seconds)}`;
    }
  }

  function chartData(data) {
    const colors = ["green", "yellow", "red"].map((c) => data.colors[c] || 0);
    const days = Object.keys(data.reasons_by_day);
    const codes = Object.keys(data.reasons);
    const used = { red: 0, yellow: 0, green: 0 };
    const reasons = codes.map((code) => {
      const { name, color } = data.reasons[code];
      const shades = SHADES[color] || SHADES.yellow;
      return { label: name, data: days.map((d) => data.reasons_by_day[d][code] || 0),
        backgroundColor: shades[used[color]++ % shades.length] };
    });
    const hours = Object.keys(data.scans_by_hour);
    return {
      colors: { labels: ["绿码", "黄码", "红码"].map((n, i) => `${n} ${colors[i]} 人`),
        datasets: [{ data: colors, backgroundColor: [COLORS.green, COLORS.yellow, COLORS.red] }] },
      colorsText: "各色码人数：" + ["green", "yellow", "red"].map((c, i) => `${COLOR_NAMES[c]} ${colors[i]} 人`).join("，"),
      reasons: { labels: days.map((d) => d.slice(5)), datasets: reasons },
      reasonsText: "近 7 天新增赋码原因：" + (reasons.map((r) => `${r.label}共 ${r.data.reduce((a, b) => a + b, 0)} 人次`)
        .join("，") || "无"),
      reasonsEmpty: reasons.every((r) => r.data.every((n) => n === 0)),
      colorsEmpty: colors.every((n) => n === 0),
      waitingEmpty: data.pending_approvals.count + data.open_appeals.count === 0,
      scans: { labels: hours.map((h) => `${h.slice(5, 10)} ${h.slice(11)}时`),  // "12-01 14时", shown at midnights
        datasets: [{ label: "扫码次数", data: hours.map((h) => data.scans_by_hour[h]), borderColor: "#1d4f91",
          backgroundColor: "rgba(29,79,145,.15)", fill: true, pointRadius: 0, tension: 0.25 }] },
      scansText: `近 7 天共扫码 ${hours.reduce((a, h) => a + data.scans_by_hour[h], 0)} 次，最近一小时 ${data.scans_by_hour[hours[hours.length - 1]] || 0} 次`,
      waiting: { labels: BUCKETS.map(([, label]) => label), datasets: [
        { label: "待审批赋红码", data: buckets(data.pending_approvals.ages), backgroundColor: COLORS.red },
        { label: "待处理申诉", data: buckets(data.open_appeals.ages), backgroundColor: "#1d4f91" }] },
      waitingText: `待审批赋红码 ${data.pending_approvals.count} 项，待处理申诉 ${data.open_appeals.count} 件`,
    };
  }

  function dashboard(initial) {
    const Chart = window.Chart;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 13;
    Chart.defaults.color = "#1f2328";
    Chart.defaults.animation = false;  // a refresh redraws in place, nothing moves on a wall screen
    Chart.defaults.maintainAspectRatio = false;
    const count = { beginAtZero: true, ticks: { precision: 0 } };
    const d = chartData(initial);
    const charts = {
      colors: new Chart($("#chart-colors"), { type: "doughnut", data: d.colors,
        options: { plugins: { legend: { position: "right" } } } }),
      reasons: new Chart($("#chart-reasons"), { type: "bar", data: d.reasons,
        options: { scales: { x: { stacked: true }, y: { ...count, stacked: true, title: { display: true, text: "人次" } } } } }),
      scans: new Chart($("#chart-scans"), { type: "line", data: d.scans,
        options: { plugins: { legend: { display: false } }, interaction: { mode: "index", intersect: false },
          scales: { x: { ticks: { autoSkip: false, maxRotation: 0,
            callback(value) { const label = this.getLabelForValue(value); return label.endsWith(" 00时") ? label.slice(0, 5) : null; } } },
          y: { ...count, title: { display: true, text: "次/小时" } } } } }),
      waiting: new Chart($("#chart-waiting"), { type: "bar", data: d.waiting,
        options: { indexAxis: "y", scales: { x: { ...count, title: { display: true, text: "项" } } } } }),
    };
    const show = (data) => {
      const next = chartData(data);
      for (const name of Object.keys(charts)) {
        charts[name].data = next[name];
        charts[name].update();
        charts[name].canvas.setAttribute("aria-label", next[name + "Text"]);
      }
      for (const name of ["reasons", "colors", "waiting"]) $(`#${name}-empty`).hidden = !next[name + "Empty"];
      figures(data);
      $("#updated").textContent = "更新于 " + new Date().toLocaleTimeString("zh-CN", { hour12: false }) + "，每分钟自动刷新";
    };
    show(initial);
    const timer = setInterval(async () => {
      try {
        const res = await fetch("dashboard.json", { headers: { Accept: "application/json" }, cache: "no-store" });
        if (res.redirected || !res.ok) throw new Error(res.status);
        show(await res.json());
      } catch (e) {
        clearInterval(timer);
        $("#updated").textContent = "已停止自动刷新（登录已过期或网络中断），请刷新页面。";
      }
    }, 60000);
  }

  const data = $("#dashboard-data");
  if (data && window.Chart) dashboard(JSON.parse(data.textContent));

  // -- the division's name next to its code ---------------------------------------------------

  const code = $("#f-code");
  const name = $("#code-name");
  if (code && name && code.dataset.division) {
    const lookup = async () => {
      const value = code.value.trim();
      if (!/^\d{6}$/.test(value)) { name.textContent = ""; return; }
      const res = await fetch(code.dataset.division + value, { headers: { Accept: "application/json" } });
      const body = await res.json().catch(() => ({}));
      if (code.value.trim() !== value) return;  // typed on meanwhile
      name.textContent = body.name ? `→ ${body.name}` : "未找到该行政区划代码";
    };
    code.addEventListener("input", lookup);
    lookup();
  }

  // -- a second look before a code turns red --------------------------------------------------

  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (ev) => { if (!confirm(form.dataset.confirm)) ev.preventDefault(); });
  }
})();
