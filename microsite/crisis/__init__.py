"""Crisis alerts: a reader's question or a consultation request with crisis words, told to the office's
staff at once, the ones that follow within minutes in one digest, a few a day at most (alerts.py)."""

from __future__ import annotations

from flask import Flask

from .. import notify
from ..models import NotificationKind
from . import alerts


def init_app(app: Flask) -> None:
    notify.register(app, NotificationKind.CRISIS, alerts.build_alert)
    notify.register(app, NotificationKind.DIGEST, alerts.build_digest)
    notify.register_due(app, alerts.due)
