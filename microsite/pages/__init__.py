"""The pages people and search engines read: landing, locations, thanks, privacy, sitemap, robots, health.

Each public page is the same bytes for every visitor of its URL: rendered once per process, outside
any visitor's request (so no query string, cookie or header can reach it), then answered from memory
by `cache.PageCache` in front of Flask, with a strong ETag and a Cache-Control that lets browsers,
nginx and a CDN keep it. No public page reads the session, so none sets a cookie or varies on one.
"""

from __future__ import annotations

from flask import Flask

from ..extensions import db
from ..questions.service import read_version
from .cache import Freshness, PageCache
from .seo import structured_data
from .views import bp


def serve_cached(app: Flask, wsgi_app):
    """`PageCache` in front of `wsgi_app`, holding this app's public pages, kept fresh by their version."""
    return PageCache(wsgi_app, app.extensions["public_pages"], app.extensions["page_freshness"])


def init_app(app: Flask) -> None:
    def version() -> int:
        # Outside any request, on a connection of its own from the pool: the cache runs before Flask.
        with app.app_context(), db.engine.connect() as connection:
            return read_version(connection)

    app.extensions["public_pages"] = pages = {}
    app.extensions["page_freshness"] = Freshness(pages, version, app.config["PAGE_VERSION_SECONDS"])
    app.register_blueprint(bp)
    app.jinja_env.globals["structured_data"] = structured_data
