"""The authority console (/console/): server-rendered pages for health authorities behind a
password login (core.console), a server-side session (blueprints/console_session.py) and
Flask-WTF's CSRF protection of every form, the login form's included.

Every action calls the same core service as the JSON API (blueprints/authority.py), as the
console user's own Credential, and shows the API's bodies; the rules stay in the core. This
module holds the login, the dashboard and the audit trail; console_marking.py and
console_cases.py the rest.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from blueprints import console_cases, console_marking
from blueprints.auth import services
from blueprints.authority import APPROVING, AUDITING, MARKING, dashboard_body, entry_body
from blueprints.console_cases import LEVEL_NAMES
from blueprints.console_forms import Form, local_target
from blueprints.console_session import COLOR_NAMES, ROLE_NAMES, ConsoleSessionInterface, acting, signed_in
from blueprints.errors import status_of
from blueprints.limits import retry_after_for
from blueprints.messages import localize
from blueprints.schemas import CN_TZ
from core.console import CONSOLE_ROLES
from core.errors import DomainError, Unauthorized
from core.model import Role

if TYPE_CHECKING:
    from bootstrap import Runtime

blp = Blueprint("console", __name__, url_prefix="/console")
blp.register_blueprint(console_marking.blp)
blp.register_blueprint(console_cases.blp)
csrf = CSRFProtect()
AUDIT_PAGE = 50
NAV = (
    ("console.dashboard", "概览", CONSOLE_ROLES),
    ("console.marking.markers", "赋码", MARKING),
    ("console.marking.bulk", "批量赋码", MARKING),
    ("console.marking.pending", "待审批", APPROVING),
    ("console.cases.appeals", "申诉", MARKING),
    ("console.cases.risk_areas", "风险地区", MARKING + AUDITING),
    ("console.audit", "审计记录", AUDITING),
)
AUDIT_ACTIONS = {
    "marker.propose": "提出赋红码（待审批）", "marker.add": "赋码", "marker.approve": "审批通过",
    "marker.remove": "删除标记", "marker.lapse": "超时未审批，失效", "lab.positive": "核酸阳性",
    "lab.negative": "核酸阴性", "risk_area.set": "设置风险等级", "appeal.upheld": "申诉成立",
    "appeal.rejected": "申诉不成立", "policy.publish": "发布赋码政策", "feed.create": "新建数据接口",
    "console_user.create": "新建工作台用户", "console_user.disable": "停用工作台用户",
}
AUDIT_ROLES = {**ROLE_NAMES, Role.CHECKPOINT.value: "扫码核验", "operator": "运维人员", "system": "系统",
               "feed": "数据接口"}


@blp.before_request
def open_console() -> str | None:
    failure = getattr(session, "unavailable", None)
    if failure is not None:
        raise failure  # the store is down: the one 503 of blueprints/errors.py
    if cross_site_arrival():
        return render_template("console/arrive.html", target=request.full_path.rstrip("?"))
    csrf.protect()  # every POST, PUT, PATCH, DELETE under /console/, the login form's too
    user = session.get("user")
    g.console_credential = services().console.acting(user) if isinstance(user, str) else None
    return None


def cross_site_arrival() -> bool:
    """A link from another site (an e-mail, a chat) was followed: the browser sent no SameSite=Strict
    cookie, and the login page would replace the session the browser holds. Such a visit gets a page
    that goes on to the same address from here, and that request carries the cookie."""
    return (request.method == "GET" and getattr(session, "token", None) is None
            and request.headers.get("Sec-Fetch-Site") == "cross-site"
            and request.headers.get("Sec-Fetch-Mode") == "navigate")


@blp.context_processor
def chrome() -> dict[str, Any]:
    me = acting()
    allowed = [endpoint for endpoint, _, roles in NAV if me is not None and me.role in roles]
    nav = [{"url": url_for(endpoint), "label": label, "current": request.endpoint == endpoint}
           for endpoint, label, _ in NAV if endpoint in allowed]
    return {"me": me, "nav": nav, "allowed": allowed, "role_names": ROLE_NAMES, "color_names": COLOR_NAMES}


@blp.app_template_filter("shanghai")
def shanghai(value: str | int | None) -> str:
    """An ISO 8601 time (the API's bodies) or epoch seconds, as the office reads it."""
    if value is None or value == "":
        return "—"
    moment = dt.datetime.fromtimestamp(value, CN_TZ) if isinstance(value, int) \
        else dt.datetime.fromisoformat(value).astimezone(CN_TZ)
    return moment.strftime("%Y-%m-%d %H:%M")


@blp.app_template_filter("waited")
def waited(value: str | None) -> str:
    """How long ago an ISO 8601 time was: 3 天 2 小时, 5 小时 10 分, 12 分钟."""
    if not value:
        return "—"
    minutes = max(0, int((dt.datetime.now(CN_TZ) - dt.datetime.fromisoformat(value)).total_seconds() // 60))
    days, hours = divmod(minutes // 60, 24)
    if days:
        return f"{days} 天 {hours} 小时"
    if hours:
        return f"{hours} 小时 {minutes % 60} 分"
    return f"{minutes} 分钟" if minutes else "不到 1 分钟"


# -- login -----------------------------------------------------------------------------------


@blp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    target = local_target(request.values.get("next"), url_for("console.dashboard"))
    form = Form(values={"username": ""})
    if request.method == "GET" and acting() is not None:
        return redirect(target)
    if request.method == "POST":
        form.values["username"] = request.form.get("username", "").strip()
        try:
            user = services().console.login(form.values["username"], request.form.get("password", ""))
        except Unauthorized as exc:
            g.console_login_failed = True  # counted by the login limits (blueprints/limits.py)
            form.refuse(exc)
        else:
            session.clear()
            session.rotate()  # type: ignore[attr-defined]
            session["user"] = user.username
            return redirect(target)
    return render_template("console/login.html", form=form, next=target), 200


@blp.post("/logout")
def logout() -> Response:
    session.clear()
    session.rotate()  # type: ignore[attr-defined]
    flash("您已退出登录。", "ok")
    return redirect(url_for("console.login"))


# -- dashboard -------------------------------------------------------------------------------


def dashboard_data() -> dict[str, Any]:
    """The API's dashboard body, with what the charts name: reasons in Chinese, their colour."""
    body = dashboard_body(services().dashboard.snapshot())
    policy = services().marking.policy
    codes = sorted({code for day in body["reasons_by_day"].values() for code in day})
    rules = {code: policy.rule(code) for code in codes}
    body["reasons"] = {code: {"name": policy.reason_text(code, "zh"),
                              "color": rule.color.value if rule else "yellow"} for code, rule in rules.items()}
    body["approval_hours"] = policy.approval_hours
    return body


@blp.get("/")
@signed_in(CONSOLE_ROLES)
def dashboard() -> str:
    return render_template("console/dashboard.html", data=dashboard_data())


@blp.get("/dashboard.json")
@signed_in(CONSOLE_ROLES)
def dashboard_json() -> Response:
    """The same data, for the page's refresh every minute."""
    return jsonify(dashboard_data())


# -- audit -----------------------------------------------------------------------------------


@blp.get("/audit")
@signed_in(AUDITING)
def audit() -> str:
    before = request.args.get("before", type=int)
    entries = services().audit.latest(AUDIT_PAGE, before)
    verification = services().audit.verify() if request.args.get("verify") else None
    older = entries[0].seq if entries and entries[0].seq > 1 else None
    return render_template("console/audit.html", entries=[entry_body(e) for e in reversed(entries)],
                           verification=verification, older=older, actions=AUDIT_ACTIONS, newest=before is None,
                           actors=AUDIT_ROLES, changes={**COLOR_NAMES, **LEVEL_NAMES})


# -- errors ----------------------------------------------------------------------------------


@blp.errorhandler(CSRFError)
def csrf_refused(error: CSRFError) -> tuple[str, int]:
    return render_template("console/error.html", title="页面已过期",
                           text="页面已过期，或请求不是从本工作台发出的，未做任何更改。请返回上一页，刷新后重试。"), 400


@blp.errorhandler(TooManyRequests)
def too_many(error: TooManyRequests) -> tuple[str, int, dict[str, str]]:
    retry = {"Retry-After": str(retry_after_for(error))} if isinstance(error, RateLimitExceeded) else {}
    if request.endpoint == "console.login":
        form = Form(values={"username": request.form.get("username", "").strip()})
        form.add("_form", "登录尝试次数过多，请稍后再试。")
        return render_template("console/login.html", form=form, next=url_for("console.dashboard")), 429, retry
    return render_template("console/error.html", title="操作过于频繁", text="请稍后再试。"), 429, retry


@blp.errorhandler(DomainError)
def refused(exc: DomainError) -> tuple[str, int]:
    return render_template("console/error.html", title="无法完成操作", text=localize(exc.message)), status_of(exc)


def install(app: Flask) -> None:
    """The console on the app: its session, CSRF protection (only under /console/), its pages."""
    runtime: Runtime = app.extensions["healthcode.runtime"]
    app.session_interface = ConsoleSessionInterface(bool(runtime.settings.console_cookie_secure))
    app.config.update(
        WTF_CSRF_SECRET_KEY=runtime.form_key,
        WTF_CSRF_CHECK_DEFAULT=False,  # the API, feeds and webhooks authenticate by header, not cookie
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as the session that holds its secret
    )
    csrf.init_app(app)
    app.register_blueprint(blp)
