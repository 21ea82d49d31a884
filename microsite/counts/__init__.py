"""Counting without cookies: POST /v, sent by static/site.js once per page shown, adds one to a daily counter.

What the clinic learns is how many views each public page had per day, and from which source, medium and
campaign (the page's utm_* tags, or the other site's host name). No cookie is set or read, and no
address, browser, time of day or row per visit is stored (store.py). A browser that sends Global Privacy
Control is not counted, nor is a bot that runs no JavaScript. The staff dashboard divides these views
into the leads (report.py).
"""

from __future__ import annotations

from flask import Flask

from . import store
from .views import bp


def init_app(app: Flask) -> None:
    """After pages: it counts views of their paths."""
    app.register_blueprint(bp)
    app.extensions["counted_paths"] = store.find_counted_paths(app)
    app.extensions["form_paths"] = store.find_pages_with_the_form(app)
    pages = len(app.extensions["counted_paths"])
    if app.config["COUNTS_MAX_KEYS_PER_DAY"] <= pages:
        # Each counted page keeps room for its "(other)" row (store.count_view).
        raise RuntimeError(f"COUNTS_MAX_KEYS_PER_DAY must be more than the {pages} counted pages")
