"""GET /metrics: this app's counts and the outbox's state, for a bearer of METRICS_TOKEN; a 404 for anyone
else, as for a page that does not exist. Never cached, no cookie."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily

from ..metrics import exposition
from ..notify.health import outbox_state

bp = Blueprint("monitoring", __name__)


def _bearer_of_the_token() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        return False
    sent = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(sent, f"Bearer {token}".encode())  # in constant time


def outbox_families() -> list[GaugeMetricFamily]:
    """The outbox as the database has it now: notifications by state, the oldest one's wait."""
    state = outbox_state()
    by_state = GaugeMetricFamily(
        "microsite_notifications", "Notifications (emails, webhooks) by state", labels=["state"]
    )
    for name, count in state.by_state.items():
        by_state.add_metric([name], count)
    oldest = GaugeMetricFamily(
        "microsite_outbox_oldest_pending_seconds",
        "How long the oldest notification still to deliver (pending or being sent) has waited; 0: none",
        value=state.oldest_waiting_seconds,
    )
    return [by_state, oldest]


@bp.get("/metrics")
def metrics():
    if not _bearer_of_the_token():
        abort(404)
    return Response(
        exposition(outbox_families()),
        headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
    )
