"""Console pages of marking (赋码): mark one person, the approval queue of the two-person rule,
remove a marker, and bulk marking; each through core.marking, as the API's routes do."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from blueprints.auth import services
from blueprints.authority import APPROVING, MARKING, bulk_body, bulk_requests, marker_body, marker_request
from blueprints.authority_schemas import BulkMarkersSchema, MarkerRemovalSchema, MarkerRequestSchema
from blueprints.console_forms import Form, aware, decode_upload, id_numbers_from_upload, load, posted
from blueprints.console_session import COLOR_NAMES, me, signed_in
from blueprints.messages import localize
from core.errors import DomainError, Msg
from core.identity import mask_id_number
from core.model import Color, MarkerStatus

blp = Blueprint("marking", __name__, url_prefix="/markers")
MARKER_FIELDS = ("id_number", "person_id", "kind", "reason", "public_note", "since")
BULK_FIELDS = ("kind", "reason", "public_note", "id_numbers")
REMOVAL_FIELDS = ("marker_id", "reason")
STATUS_NAMES = {MarkerStatus.PENDING: "待审批", MarkerStatus.ACTIVE: "已生效", MarkerStatus.REMOVED: "已删除",
                MarkerStatus.LAPSED: "已失效", "refused": "未受理"}


def kind_choices() -> list[dict[str, Any]]:
    """The policy's kinds an authority sets (self-declared ones are the person's own), red first."""
    policy = services().marking.policy
    rules = [rule for rule in policy.markers.values() if not rule.self_declared]
    rules.sort(key=lambda rule: (-rule.color.severity, rule.code))
    kinds = []
    for rule in rules:
        label = f"{rule.text.zh} · {COLOR_NAMES[rule.color.value]}" + ("（需审批）" if rule.color is Color.RED else "")
        kinds.append({"code": rule.code, "name": rule.text.zh, "color": rule.color.value, "option": (rule.code, label)})
    return kinds


def _page(form: Form, removal: Form, status: int = 200) -> tuple[str, int]:
    return render_template("console/markers.html", form=form, removal=removal, kinds=kind_choices(),
                           approval_hours=services().marking.policy.approval_hours), status


def _who(values: dict[str, str]) -> str:
    number = values.get("id_number", "").upper()
    return f"身份证号 {mask_id_number(number)}" if number else f"人员编号 {values.get('person_id', '')}"


@blp.get("")
@signed_in(MARKING)
def markers() -> tuple[str, int]:
    removal = Form(values={"marker_id": request.args.get("remove", ""), "reason": ""})
    return _page(Form(values=dict.fromkeys(MARKER_FIELDS, "")), removal)


@blp.post("")
@signed_in(MARKING)
def add_marker() -> Response | tuple[str, int]:
    values = posted(*MARKER_FIELDS)
    form = load(MarkerRequestSchema(), values, extra={"since": aware(values["since"])} if values["since"] else None)
    if form.ok:
        assert form.data is not None
        try:
            body = marker_body(services().marking.add_marker(marker_request(form.data), me()))
        except DomainError as exc:
            form.refuse(exc, fallback="person_id" if exc.message == Msg.NO_SUCH_PERSON else "_form")
        else:
            kind = services().marking.policy.reason_text(body["kind"], "zh")
            if body["status"] == MarkerStatus.PENDING:
                flash(f"已为{_who(values)} 提出「{kind}」标记（编号 {body['id']}），须由另一名工作人员审批后生效；"
                      f"未审批的将于 {body['lapses_at'][:16].replace('T', ' ')} 失效。", "ok")
            else:
                flash(f"已为{_who(values)} 赋码「{kind}」（编号 {body['id']}），该人员现为"
                      f"{COLOR_NAMES[body['color_after']]}。", "ok")
            return redirect(url_for(".markers"))
    return _page(form, Form(values=dict.fromkeys(REMOVAL_FIELDS, "")), 422)


@blp.post("/remove")
@signed_in(MARKING)
def remove_marker() -> Response | tuple[str, int]:
    values = posted(*REMOVAL_FIELDS)
    removal = load(MarkerRemovalSchema(), values)
    if not values["marker_id"]:
        removal.add("marker_id", localize(Msg.REQUIRED))
    if removal.ok:
        try:
            body = marker_body(services().marking.remove_marker(values["marker_id"], values["reason"], me()))
        except DomainError as exc:
            removal.refuse(exc, fallback="marker_id")
        else:
            flash(f"已删除标记 {body['id']}。", "ok")
            return redirect(url_for(".markers"))
    return _page(Form(values=dict.fromkeys(MARKER_FIELDS, "")), removal, 422)


@blp.get("/pending")
@signed_in(APPROVING)
def pending() -> str:
    queue = [marker_body(outcome) for outcome in services().marking.pending()]
    return render_template("console/pending.html", queue=queue, kinds={k["code"]: k for k in kind_choices()},
                           can_remove=me().role in MARKING)


@blp.post("/<string:marker_id>/approve")
@signed_in(APPROVING)
def approve(marker_id: str) -> Response:
    try:
        body = marker_body(services().marking.approve(marker_id, me()))
    except DomainError as exc:
        flash(f"未能审批标记 {marker_id}：{localize(exc.message)}", "error")
    else:
        flash(f"已审批通过标记 {body['id']}，该人员现为红码。", "ok")
    return redirect(url_for(".pending"))


@blp.route("/bulk", methods=["GET", "POST"])
@signed_in(MARKING)
def bulk() -> tuple[str, int]:
    if request.method == "GET":
        return render_template("console/bulk.html", form=Form(values=dict.fromkeys(BULK_FIELDS, "")),
                               kinds=kind_choices(), result=None), 200
    values = posted(*BULK_FIELDS)
    upload = request.files.get("file")
    text = decode_upload(upload.read()) if upload is not None and upload.filename else values["id_numbers"]
    lines = id_numbers_from_upload(text)
    form = load(BulkMarkersSchema(), values, extra={"id_numbers": [n for _, n in lines]} if lines else None)
    result = None
    if form.ok:
        assert form.data is not None
        result = bulk_body(services().marking.add_markers(bulk_requests(form.data), me()))
        for row in result["rows"]:
            line, typed = lines[row["line"] - 1]
            refused = row["status"] == "refused"
            row.update(line=line, id_number=typed if refused else mask_id_number(typed.upper()),
                       status_name=STATUS_NAMES[row["status"]])
        result["pending"] = sum(1 for row in result["rows"] if row["status"] == MarkerStatus.PENDING)
        # The next batch: the refused rows, to be corrected and sent again (the accepted ones are done).
        refused_rows = "\n".join(row["id_number"] for row in result["rows"] if row["status"] == "refused")
        form = Form(values={**values, "id_numbers": refused_rows})
    return render_template("console/bulk.html", form=form, kinds=kind_choices(), result=result), \
        200 if result is not None else 422
