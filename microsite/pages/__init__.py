"""The pages people and search engines read: landing, locations, thanks, privacy, sitemap, robots, health."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, current_app, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..database import READ_ONLY
from ..extensions import db
from .skeleton import render_form_page

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)


@bp.get("/")
def index():
    return render_form_page("index.html", office=None)


@bp.get("/ketamine-therapy-<slug>")
def location(slug: str):
    office = current_app.extensions["clinic"].office(slug)
    if office is None:
        abort(404)
    return render_form_page("location.html", location=slug, office=office)


@bp.get("/thanks")
def thanks():
    return render_template("thanks.html")


@bp.get("/privacy")
def privacy():
    return render_template("privacy.html")


@bp.get("/healthz")
def healthz():
    try:
        with db.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.warning("healthz: database unreachable")
        return {"status": "unavailable"}, 503
    return {"status": "ok"}


@bp.get("/sitemap.xml")
def sitemap():
    body = render_template("sitemap.xml")
    return body, 200, {"Content-Type": "application/xml; charset=utf-8"}


@bp.get("/robots.txt")
def robots():
    # Nothing disallowed: /thanks and /staff/ say noindex themselves, which a crawler must be let in to read.
    body = f"User-agent: *\nAllow: /\nSitemap: {current_app.config['SITE_URL']}/sitemap.xml\n"
    return body, 200, {"Content-Type": "text/plain; charset=utf-8"}


def init_app(app: Flask) -> None:
    from .seo import structured_data

    app.register_blueprint(bp)
    app.jinja_env.globals["structured_data"] = structured_data
