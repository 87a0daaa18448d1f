"""The console's pages over HTTP: each role sees its own, every action goes through the core as the
console user, and the core's refusals are shown next to their fields."""
import io
import json
import re

import pytest

from tests.conftest import Api
from tests.e2e.console import ConsoleBrowser, add_user, console_app, field_errors, flashes
from tests.ids import id_number

ZHANG = "11010519491231002X"


@pytest.fixture
def app(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    add_user(app, "zhao.lei", "authority")
    add_user(app, "wang.fang", "authority_approver")
    add_user(app, "chen.jing", "auditor")
    return app


def signed_in(app, username: str) -> ConsoleBrowser:
    browser = ConsoleBrowser(app)
    assert browser.login(username).status_code == 302
    return browser


def marker_ids(html: str) -> list[str]:
    return re.findall(r'data-marker="([0-9a-f]{24}\.[0-9a-f]+)"', html)


def nav(html: str) -> list[str]:
    found = re.search(r'<nav aria-label="主导航">(.*?)</nav>', html, re.S)
    return re.findall(r">([^<>]+)</a>", found.group(1)) if found else []


@pytest.mark.parametrize("user, pages", [
    ("li.ming", ["概览", "赋码", "批量赋码", "待审批", "申诉", "风险地区"]),
    ("wang.fang", ["概览", "待审批"]),
    ("chen.jing", ["概览", "风险地区", "审计记录"]),
])
def test_each_role_is_shown_its_own_pages(app, user, pages):
    assert nav(signed_in(app, user).get("/console/").get_data(as_text=True)) == pages


@pytest.mark.parametrize("path", ["/console/markers", "/console/markers/bulk", "/console/appeals",
                                  "/console/markers/pending"])
def test_an_auditor_cannot_open_the_marking_pages(app, path):
    response = signed_in(app, "chen.jing").get(path)
    assert response.status_code == 403 and "无权访问" in response.get_data(as_text=True)


def test_an_auditor_cannot_mark_anyone_and_nothing_changes(app, redis_server):
    auditor = signed_in(app, "chen.jing")
    auditor.get("/console/")
    response = auditor.post("/console/markers", {"id_number": ZHANG, "kind": "confirmed", "reason": "越权"})
    assert response.status_code == 403
    assert not redis_server.keys("hc:p:*") and app.extensions["healthcode"].marking.pending() == []
    assert auditor.post("/console/risk-areas", {"code": "440305", "level": "high"}).status_code == 403
    assert app.extensions["healthcode"].risk_areas.current() == {}


def test_an_approver_cannot_mark_and_an_authority_cannot_read_the_audit_trail(app):
    approver = signed_in(app, "wang.fang")
    approver.get("/console/")
    assert approver.post("/console/markers", {"id_number": ZHANG, "kind": "confirmed", "reason": "x"}).status_code \
        == 403
    assert signed_in(app, "li.ming").get("/console/audit").status_code == 403


def test_a_red_marker_proposed_in_the_console_waits_and_its_proposer_cannot_approve_it(app):
    proposer = signed_in(app, "li.ming")
    proposer.get("/console/markers")
    response = proposer.post("/console/markers", {"id_number": ZHANG.lower(), "kind": "confirmed",
                                                  "reason": "流调判定\r\n同乘 MU5101", "public_note": "请居家等待"})
    assert response.status_code == 302
    [message] = flashes(proposer.get("/console/markers"))
    assert "1101**********002X" in message and "须由另一名工作人员审批" in message
    page = proposer.get("/console/markers/pending").get_data(as_text=True)
    [marker_id] = marker_ids(page)
    assert "这是您本人提出的标记，须由另一名工作人员审批。" in page and "审批通过</button>" not in page
    assert "流调判定\n同乘 MU5101" in page and "console:li.ming" in page
    # The form is not there, but the rule is the core's: a post of one's own approval is refused.
    response = proposer.post(f"/console/markers/{marker_id}/approve")
    assert "赋红码须由另一工作人员凭证审批" in flashes(proposer.get("/console/markers/pending"))[0]
    assert [m.marker.id for m in app.extensions["healthcode"].marking.pending()] == [marker_id]

    approver = signed_in(app, "wang.fang")
    page = approver.get("/console/markers/pending").get_data(as_text=True)
    assert f'action="/console/markers/{marker_id}/approve"' in page and "本人提出" not in page
    assert approver.post(f"/console/markers/{marker_id}/approve").headers["Location"] == "/console/markers/pending"
    assert flashes(approver.get("/console/markers/pending")) == [f"已审批通过标记 {marker_id}，该人员现为红码。"]
    assert app.extensions["healthcode"].marking.pending() == []
    second = approver.post(f"/console/markers/{marker_id}/approve")
    assert second.status_code == 302 and "该标记不在待审批状态" in flashes(approver.get("/console/"))[0]


def test_a_wrong_id_number_or_kind_is_shown_under_its_field_and_what_was_typed_stays(app):
    browser = signed_in(app, "li.ming")
    browser.get("/console/markers")
    response = browser.post("/console/markers", {"id_number": "110105194912310021", "kind": "close_contact",
                                                 "reason": "流调", "since": "2020-13-01T08:00"})
    assert response.status_code == 422 and field_errors(response) == {"since": ["日期时间格式不正确"]}
    response = browser.post("/console/markers", {"id_number": "110105194912310021", "kind": "close_contact",
                                                 "reason": "流调"})
    assert response.status_code == 422
    assert field_errors(response) == {"id_number": ["身份证号码有误，请核对"]}
    html = response.get_data(as_text=True)
    assert 'value="110105194912310021"' in html and 'aria-invalid="true"' in html
    response = browser.post("/console/markers", {"id_number": ZHANG, "person_id": "a" * 24, "kind": "", "reason": ""})
    assert field_errors(response) == {"kind": ["请选择一项"], "reason": ["请填写此项"]}
    response = browser.post("/console/markers", {"id_number": ZHANG, "person_id": "a" * 24, "kind": "confirmed",
                                                 "reason": "x"})
    assert field_errors(response) == {"id_number": ["身份证号与人员编号须且只能填写一项"]}
    response = browser.post("/console/markers", {"person_id": "a" * 24, "kind": "close_contact", "reason": "x"})
    assert field_errors(response) == {"person_id": ["未找到该人员"]}
    assert app.extensions["healthcode"].marking.pending() == []


def test_a_yellow_marker_takes_effect_at_once_and_is_removed_with_a_reason(app):
    browser = signed_in(app, "li.ming")
    browser.get("/console/markers")
    browser.post("/console/markers", {"id_number": ZHANG, "kind": "secondary_contact", "reason": "次密接",
                                      "since": "2026-11-30T09:30"})
    [message] = flashes(browser.get("/console/markers"))
    marker_id = re.search(r"编号 ([0-9a-f.]+)", message).group(1)
    assert "该人员现为黄码" in message
    response = browser.post("/console/markers/remove", {"marker_id": marker_id, "reason": ""})
    assert field_errors(response) == {"reason": ["请填写此项"]}
    response = browser.post("/console/markers/remove", {"marker_id": "b" * 24 + ".00", "reason": "误判"})
    assert field_errors(response) == {"marker_id": ["未找到该标记"]}
    assert browser.post("/console/markers/remove", {"marker_id": marker_id, "reason": "误判"}).status_code == 302
    assert flashes(browser.get("/console/markers")) == [f"已删除标记 {marker_id}。"]
    actions = [(e.actor, e.action) for e in app.extensions["healthcode"].audit.entries()
               if e.action.startswith("marker.")]
    assert actions == [("console:li.ming", "marker.add"), ("console:li.ming", "marker.remove")]


def test_a_bulk_upload_reports_every_row_by_its_line_and_keeps_the_good_ones(app):
    browser = signed_in(app, "li.ming")
    browser.get("/console/markers/bulk")
    pasted = f"{ZHANG}\r\n\r\n110105194912310021\r\n{id_number('19800101', 11)}\r\n"
    response = browser.post("/console/markers/bulk", {"kind": "close_contact", "reason": "同楼栋",
                                                      "id_numbers": pasted})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = re.findall(r"<tr class=\"(\w+)\">\s*<td>(\d+)</td>\s*<td><code class=\"id\">([^<]+)</code></td>"
                      r"\s*<td>([^<]+)</td>", html)
    assert rows == [("accepted", "1", "1101**********002X", "待审批"),
                    ("refused", "3", "110105194912310021", "未受理"),
                    ("accepted", "4", f"1101**********{id_number('19800101', 11)[-4:]}", "待审批")]
    assert "身份证号码有误，请核对" in html and "已受理 2 行（其中 2 行为赋红码" in html
    assert len(app.extensions["healthcode"].marking.pending()) == 2
    # The form comes back with the refused row only, to correct and send again.
    textarea = re.search(r'<textarea id="f-id_numbers"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert textarea == "110105194912310021"


def test_a_bulk_file_in_gbk_with_a_header_row_is_read_by_its_first_column(app):
    browser = signed_in(app, "li.ming")
    browser.get("/console/markers/bulk")
    csv = f"身份证号,姓名\r\n{ZHANG},张三\r\n".encode("gb18030")
    response = browser.post("/console/markers/bulk", {"kind": "secondary_contact", "reason": "同楼栋",
                                                      "file": (io.BytesIO(csv), "名单.csv")},
                            content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert "共 1 行：已受理 1 行" in html and "<td>2</td>" in html


def test_an_empty_bulk_asks_for_the_numbers_next_to_them(app):
    browser = signed_in(app, "li.ming")
    browser.get("/console/markers/bulk")
    response = browser.post("/console/markers/bulk", {"kind": "close_contact", "reason": "x", "id_numbers": " \n"})
    assert response.status_code == 422 and field_errors(response) == {"id_numbers": ["请填写此项"]}


def test_a_risk_area_is_set_by_its_code_and_listed_with_its_name(app):
    browser = signed_in(app, "li.ming")
    browser.get("/console/risk-areas")
    response = browser.post("/console/risk-areas", {"code": "999999", "level": "high", "note": ""})
    assert field_errors(response) == {"code": ["未知的行政区划代码"]}
    response = browser.post("/console/risk-areas", {"code": "", "level": "", "note": ""})
    assert field_errors(response) == {"code": ["请填写此项"], "level": ["请选择一项"]}
    assert browser.post("/console/risk-areas", {"code": "440305", "level": "high", "note": "深卫通〔2022〕1号"}) \
        .status_code == 302
    page = browser.get("/console/risk-areas")
    assert flashes(page) == ["已将广东省深圳市南山区（440305）设为高风险地区。"]
    assert "<td>广东省深圳市南山区</td>" in page.get_data(as_text=True)
    assert browser.get("/console/divisions/440305").json == {"code": "440305", "name": "广东省深圳市南山区",
                                                           "level": "county"}
    assert browser.get("/console/divisions/999999").status_code == 404
    auditor = signed_in(app, "chen.jing").get("/console/risk-areas").get_data(as_text=True)
    assert "广东省深圳市南山区" in auditor and 'id="area-form"' not in auditor  # reads, sets nothing


def test_an_appeal_is_decided_with_a_required_reason_and_upheld_clears_the_marker(app):
    api = Api(app, app.test_client())
    me = api.login("alice")
    person = api.apply(me)
    marked = api.mark({"person_id": person["id"], "kind": "secondary_contact", "reason": "次密接"})
    appeal = api.client.post(f"/api/v1/persons/{person['id']}/appeals", headers=me,
                             json={"reason": "当天不在现场", "marker_id": marked["id"]}).json
    browser = signed_in(app, "li.ming")
    page = browser.get("/console/appeals").get_data(as_text=True)
    assert "当天不在现场" in page and marked["id"] in page
    assert "<strong>次密切接触者</strong>" in page and "次密接" in page  # what is contested, and on what grounds
    response = browser.post(f"/console/appeals/{appeal['id']}/decision", {"decision": "upheld", "reason": ""})
    assert response.status_code == 422 and field_errors(response) == {"reason": ["请填写此项"]}
    response = browser.post(f"/console/appeals/{appeal['id']}/decision", {"decision": "", "reason": "核实"})
    assert field_errors(response) == {"decision": ["请选择一项"]}
    assert app.extensions["healthcode"].appeals.open_appeals() != []
    response = browser.post(f"/console/appeals/{appeal['id']}/decision", {"decision": "upheld", "reason": "行程核实"})
    assert response.status_code == 302
    assert flashes(browser.get("/console/appeals")) == [f"申诉 {appeal['id']} 已处理：申诉成立，相关标记已解除。"]
    code = api.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json
    assert code["color"] == "green"
    again = browser.post(f"/console/appeals/{appeal['id']}/decision", {"decision": "rejected", "reason": "x"})
    assert again.status_code == 302
    assert flashes(browser.get("/console/appeals")) == [f"未能处理申诉 {appeal['id']}：该申诉已处理"]


def test_the_audit_page_lists_the_newest_first_and_its_check_finds_an_edited_entry(app, redis_server):
    authority = signed_in(app, "li.ming")
    authority.get("/console/risk-areas")
    for code in ("440305", "440304"):
        authority.post("/console/risk-areas", {"code": code, "level": "medium", "note": "通告"})
    auditor = signed_in(app, "chen.jing")
    html = auditor.get("/console/audit").get_data(as_text=True)
    seqs = re.findall(r"<tr>\s*<td>(\d+)</td>", html)
    assert seqs == ["6", "5", "4", "3", "2", "1"]  # four users created, two areas set
    assert "console:li.ming" in html and "设置风险等级" in html and "低风险 → 中风险" in html
    verdict = auditor.get("/console/audit?verify=1").get_data(as_text=True)
    assert "校验通过：共 6 条记录，哈希链完整。" in verdict
    raw = json.loads(redis_server.lindex("hc:{audit}:log", 4))
    redis_server.lset("hc:{audit}:log", 4, json.dumps({**raw, "reason": "改过"}))
    verdict = auditor.get("/console/audit?verify=1").get_data(as_text=True)
    assert "校验未通过：第 5 条记录起哈希链断开（记录被修改）" in verdict


def test_the_dashboard_draws_from_the_same_counters_as_the_api(app):
    api = Api(app, app.test_client())
    me = api.login("alice")
    person = api.apply(me)
    api.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me)
    browser = signed_in(app, "wang.fang")
    page = browser.get("/console/").get_data(as_text=True)
    data = json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', page,
                                re.S).group(1))
    assert data["colors"] == {"green": 1} and data["pending_approvals"]["count"] == 0
    assert len(data["scans_by_hour"]) == 7 * 24 and len(data["reasons_by_day"]) == 7
    assert '<span class="num" id="kpi-green">1</span>' in page
    api.mark({"person_id": person["id"], "kind": "close_contact", "reason": "流调"})
    fresh = browser.get("/console/dashboard.json").json
    assert fresh["colors"] == {"green": 0, "red": 1}
    assert fresh["reasons"] == {"close_contact": {"name": "密切接触者", "color": "red"}}
    assert sum(day.get("close_contact", 0) for day in fresh["reasons_by_day"].values()) == 1
    assert ConsoleBrowser(app).get("/console/dashboard.json").status_code == 302
