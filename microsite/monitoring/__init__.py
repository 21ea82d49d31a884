"""`GET /metrics` for the operator's monitoring (Prometheus text format), only with METRICS_TOKEN."""

from __future__ import annotations

from flask import Flask

from .views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
