"""H5 pages for the mini-programs' web-view: apply (申领) and show the code (亮码).

The pages are static shells; they call the same JSON API with the session's bearer token,
so there is one way to authenticate and no business rule here.
"""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for

blp = Blueprint("pages", __name__, url_prefix="/m")


def _page(template: str, **context):
    return render_template(
        template, dev_login=current_app.config["HEALTHCODE_DEV_LOGIN"], **context
    )


@blp.get("/")
def home():
    return _page("home.html")


@blp.get("/apply")
def apply():
    return _page("apply.html")


@blp.get("/code/<string(length=24):person_id>")
def code(person_id: str):
    return _page("code.html", person_id=person_id)


@blp.get("/history/<string(length=24):person_id>")
def history(person_id: str):
    return _page("history.html", person_id=person_id)


def register_root(app) -> None:
    @app.get("/")
    def root():
        return redirect(url_for("pages.home"))
