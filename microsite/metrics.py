"""The operator's figures, in the Prometheus text format, for `GET /metrics` (only with METRICS_TOKEN).

What is counted here, in the process that serves: requests by route group (the endpoint's blueprint,
never the path, which anyone can make up) and status, the time each took, rate-limit refusals, and
leads and readers' questions stored. Counts only: nothing about who sent what. The outbox's figures
are read from the database at each scrape (notify/health.py, added by the view).

Under gunicorn each worker counts for itself; prometheus_client's multiprocess mode keeps those counts
in files of PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets and clears it), summed at each scrape by
whichever worker answers. Without METRICS_TOKEN nothing is counted and no layer is added.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from flask import Flask, current_app, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

# Where the WSGI layers and Flask say which route group answered a request.
GROUP = "microsite.route_group"


class Metrics:
    """This app's counters, in a registry of its own."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "microsite_requests", "Requests answered, by route group (the endpoint's blueprint) and status",
            ["group", "status"], registry=self.registry,
        )  # fmt: skip
        self.seconds = Histogram(
            "microsite_request_seconds", "Time from a request's arrival to its answer, by route group",
            ["group"], registry=self.registry,
        )  # fmt: skip
        self.refused = Counter(
            "microsite_rate_limit_refusals", "Requests refused by a rate limit (429), by route group",
            ["group"], registry=self.registry,
        )  # fmt: skip
        self.created = Counter(
            "microsite_stored", "Consultation requests and readers' questions stored (counts only)",
            ["what"], registry=self.registry,
        )  # fmt: skip


def _metrics() -> Metrics | None:
    return current_app.extensions.get("metrics")


def count_created(what: str) -> None:
    """One more stored "lead" or "question"."""
    if (metrics := _metrics()) is not None:
        metrics.created.labels(what).inc()


def count_refusal() -> None:
    """A request a rate limit refused (Flask-Limiter's on_breach)."""
    if (metrics := _metrics()) is not None:
        metrics.refused.labels(request.blueprint or "none").inc()


class Measured:
    """WSGI middleware: counts each answer by route group and status, and times it.

    The group is what a layer inside said (Flask: the endpoint's blueprint; the page cache: "pages"),
    else "static" for WhiteNoise's files and "none" for the rest.
    """

    def __init__(self, wsgi_app, metrics: Metrics, static_prefix: str = "/static/"):
        self.wsgi_app = wsgi_app
        self.metrics = metrics
        self.static_prefix = static_prefix

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status = "500"

        def start(status_line, headers, exc_info=None):
            nonlocal status
            status = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            default = "static" if environ.get("PATH_INFO", "").startswith(self.static_prefix) else "none"
            group = environ.get(GROUP, default)
            self.metrics.requests.labels(group, status).inc()
            self.metrics.seconds.labels(group).observe(time.perf_counter() - started)


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]):
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def exposition(extra: Iterable[Metric] = ()) -> bytes:
    """The text a scrape gets: this app's counters (every worker's, in multiprocess mode) and `extra`."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = _metrics().registry
    read_now = CollectorRegistry()
    read_now.register(_Families(extra))
    return generate_latest(counted) + generate_latest(read_now)


def _note_group(response):
    """The route group of the request, for `Measured`: its endpoint's blueprint."""
    request.environ[GROUP] = request.blueprint or "none"
    return response


def init_app(app: Flask) -> None:
    """Count only where someone may read the counts: with METRICS_TOKEN."""
    app.extensions["metrics"] = Metrics() if app.config.get("METRICS_TOKEN") else None
    if app.extensions["metrics"] is not None:
        app.after_request(_note_group)


def measured(app: Flask, wsgi_app):
    """`wsgi_app` inside the measuring layer, when the app counts."""
    metrics = app.extensions.get("metrics")
    return wsgi_app if metrics is None else Measured(wsgi_app, metrics, app.static_url_path + "/")
