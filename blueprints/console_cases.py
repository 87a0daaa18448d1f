"""Console pages of risk areas (中高风险地区) and appeals (申诉), through core.risk and
core.appeals, as the API's routes do."""
from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, url_for
from werkzeug.wrappers import Response

from blueprints.auth import services
from blueprints.authority import AUDITING, MARKING, appeal_body, area_body, areas_body
from blueprints.authority_schemas import DecisionSchema, RiskAreaRequestSchema
from blueprints.console_forms import Form, load, posted
from blueprints.console_session import me, signed_in
from blueprints.messages import localize
from blueprints.schemas import iso
from core.divisions import area_name, division
from core.errors import DomainError, Msg
from core.risk import RiskLevel

blp = Blueprint("cases", __name__)
LEVEL_NAMES = {RiskLevel.HIGH.value: "高风险", RiskLevel.MEDIUM.value: "中风险", RiskLevel.LOW.value: "低风险"}
AREA_FIELDS = ("code", "level", "note")
DECISION_FIELDS = ("decision", "reason")


def _areas_page(form: Form, status: int = 200) -> tuple[str, int]:
    # The API's `name` stops at the city (as the travel card names cities); an office setting a
    # county's level needs the county's own name as well.
    areas = [{**area, "name": area_name(area["code"])} for area in areas_body(services().risk_areas.current().values())]
    return render_template("console/risk_areas.html", areas=areas, form=form, levels=LEVEL_NAMES,
                           can_set=me().role in MARKING), status


@blp.get("/risk-areas")
@signed_in(MARKING + AUDITING)
def risk_areas() -> tuple[str, int]:
    return _areas_page(Form(values=dict.fromkeys(AREA_FIELDS, "")))


@blp.post("/risk-areas")
@signed_in(MARKING)
def set_risk_area() -> Response | tuple[str, int]:
    values = posted(*AREA_FIELDS)
    form = load(RiskAreaRequestSchema(), values)
    if not values["code"]:
        form.add("code", localize(Msg.REQUIRED))
    if form.ok:
        assert form.data is not None
        try:
            area = area_body(services().risk_areas.set(values["code"], form.data["level"], form.data["note"], me()))
        except DomainError as exc:
            form.refuse(exc, fallback="code")
        else:
            flash(f"已将{area_name(area['code'])}（{area['code']}）设为{LEVEL_NAMES[area['level']]}地区。", "ok")
            return redirect(url_for(".risk_areas"))
    return _areas_page(form, 422)


@blp.get("/divisions/<string:code>")
@signed_in(MARKING + AUDITING)
def division_name(code: str) -> Response | tuple[Response, int]:
    """The name of a GB/T 2260 code, shown next to the code field as it is typed."""
    found = division(code)
    if found is None:
        return jsonify({"code": code, "name": None}), 404
    return jsonify({"code": code, "name": area_name(code), "level": found.level.value})


def _appeals_page(forms: dict[str, Form], status: int = 200) -> tuple[str, int]:
    appeals = [{**appeal_body(appeal), "marker": _contested(appeal.marker_id)}
               for appeal in services().appeals.open_appeals()]
    forms = {a["id"]: forms.get(a["id"]) or Form(values=dict.fromkeys(DECISION_FIELDS, "")) for a in appeals}
    return render_template("console/appeals.html", appeals=appeals, forms=forms), status


def _contested(marker_id: str | None) -> dict[str, str] | None:
    """What the authority decides on: the contested marker's kind, reason and dates."""
    marker = services().marking.marker(marker_id) if marker_id else None
    if marker is None:
        return None
    return {"kind": services().marking.policy.reason_text(marker.kind, "zh"), "reason": marker.reason,
            "since": iso(marker.since) or "", "status": marker.status.value, "note": marker.note or ""}


@blp.get("/appeals")
@signed_in(MARKING)
def appeals() -> tuple[str, int]:
    return _appeals_page({})


@blp.post("/appeals/<string:appeal_id>/decision")
@signed_in(MARKING)
def decide_appeal(appeal_id: str) -> Response | tuple[str, int]:
    form = load(DecisionSchema(), posted(*DECISION_FIELDS))
    if form.ok:
        assert form.data is not None
        upheld = form.data["decision"] == "upheld"
        try:
            services().appeals.decide(appeal_id, upheld, form.data["reason"], me())
        except DomainError as exc:
            if exc.fields:
                form.refuse(exc)
            else:  # decided meanwhile, or no such appeal: it is no longer on the page to show it on
                flash(f"未能处理申诉 {appeal_id}：{localize(exc.message)}", "error")
                return redirect(url_for(".appeals"))
        else:
            outcome = "申诉成立，相关标记已解除。" if upheld else "申诉不成立，维持原标记。"
            flash(f"申诉 {appeal_id} 已处理：{outcome}", "ok")
            return redirect(url_for(".appeals"))
    return _appeals_page({appeal_id: form}, 422)
