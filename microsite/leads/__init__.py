"""Consultation requests: the form (forms.py), its capture into a lead and its notifications in one
transaction (service.py), what the outbox sends about a lead (notifications.py, reminders.py), POST
/consultation (views.py), and `flask leads` (cli.py)."""

from __future__ import annotations

from flask import Flask

from .. import notify
from ..models import NotificationKind
from . import notifications, reminders
from .cli import leads_cli
from .views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(leads_cli)
    notify.register(app, NotificationKind.LEAD, notifications.build_staff_message)
    notify.register(app, NotificationKind.WEBHOOK, notifications.build_webhook)
    notify.register(app, NotificationKind.REMINDER, reminders.build_message)
    notify.register(app, NotificationKind.ESCALATION, reminders.build_message)
    notify.register_due(app, reminders.due)
