"""The clinic staff's side at /staff/: login, the lead inbox, lead pages, export, dashboard, readers'
questions, audit log, account (views/); the accounts, logins and inbox behind them; `flask staff`."""

from __future__ import annotations

from flask import Flask

from .. import notify
from ..extensions import login_manager
from ..leads import wording
from ..models import LeadStatus, NotificationKind, StaffRole, utcnow
from ..notify.webhook import host_of
from . import invites, logins
from .cli import staff_cli
from .views import PUBLIC_ENDPOINTS, account, bp, leads, login, overview, passkeys, questions, team  # noqa: F401 -- each adds its routes to bp

__all__ = ["PUBLIC_ENDPOINTS", "bp", "init_app"]


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STAFF_LOGIN", "10 per minute; 100 per hour")
    app.config.setdefault("STAFF_PAGE_SIZE", 25)
    # The clock logins, idleness, re-authentication and invitations are measured by; a test may replace it.
    app.extensions.setdefault("staff_clock", utcnow)
    _init_login(app)
    notify.register(app, NotificationKind.INVITE, invites.build_message)
    app.register_blueprint(bp)
    app.cli.add_command(staff_cli)
    app.jinja_env.filters["status_label"] = LeadStatus.label_of
    app.jinja_env.filters["role_label"] = lambda role: StaffRole.LABELS.get(role, role)
    # A lead in words (leads/wording.py): "Phone call", "Google, paid ad, campaign 'winter'".
    for name in ("contact_label", "best_time_label", "came_from", "landing_label"):
        app.jinja_env.globals[name] = getattr(wording, name)
    # A webhook's endpoint by its host only: the path may hold the receiver's token.
    app.jinja_env.filters["host_of"] = host_of


def _init_login(app: Flask) -> None:
    login_manager.login_view = "staff.login"
    login_manager.login_message = "Please log in to see the staff pages."
    login_manager.login_message_category = "info"
    # For a permanent session Flask-Login's check only marks it not fresh when the address or browser
    # changes; what ends a login, whoever holds a copy of the cookie, is deleting its row (logins.py).
    login_manager.session_protection = "strong"
    # The staff member whose login this is, while its row lasts.
    login_manager.user_loader(logins.user_of)
    # Not login_manager.init_app(app): it also adds an after_request hook that reads the session on every
    # response (for "remember me", which staff never get), and Flask then marks public pages Vary: Cookie.
    app.login_manager = login_manager
