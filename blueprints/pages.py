"""H5 pages for the mini-programs' web-view: apply (申领), show the code (亮码), the travel card.

The pages are static shells; they call the same JSON API with the session's bearer token,
so there is one way to authenticate and no business rule here.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, redirect, render_template, url_for
from werkzeug.wrappers import Response

from blueprints.auth import services

blp = Blueprint("pages", __name__, url_prefix="/m")


def _page(template: str, **context: Any) -> str:
    return render_template(
        template, dev_login=services().sessions.enabled("dev"), **context
    )


@blp.get("/")
def home() -> str:
    return _page("home.html")


@blp.get("/apply")
def apply() -> str:
    return _page("apply.html")


@blp.get("/travel")
def travel() -> str:
    """通信行程卡: anyone proves a phone here (no mini-program login); retired, it says so."""
    card = services().travel
    return _page("travel.html", retired=card.retired, window_days=card.policy.window_days)


@blp.get("/code/<string(length=24):person_id>")
def code(person_id: str) -> str:
    return _page("code.html", person_id=person_id)


@blp.get("/history/<string(length=24):person_id>")
def history(person_id: str) -> str:
    return _page("history.html", person_id=person_id)


PAGE_ERRORS = {
    404: ("页面不存在", "您访问的页面不存在或已失效。"),
    405: ("无法访问", "该页面不支持此操作。"),
}


def error_page(status: int) -> tuple[str, int]:
    """An HTTP error under /m/ as a Chinese page of the H5 shell, not Werkzeug's English one."""
    title, text = PAGE_ERRORS.get(status, ("出错了", "请稍后再试。"))
    return render_template("error.html", dev_login=False, title=title, text=text), status


def register_root(app: Flask) -> None:
    @app.get("/")
    def root() -> Response:
        return redirect(url_for("pages.home"))
