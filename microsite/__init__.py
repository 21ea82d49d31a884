"""The clinic's microsite: an educational article that turns a consultation request into a lead."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import (
    access,
    assets,
    backup,
    clinictime,
    content,
    counts,
    crisis,
    crossorigin,
    database,
    errors,
    i18n,
    inputs,
    leads,
    logs,
    metrics,
    monitoring,
    notify,
    pages,
    questions,
    readiness,
    reports,
    security,
    staff,
    templating,
)
from . import config as settings
from .config import PROJECT_ROOT
from .extensions import limiter, mail


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, extensions, content, blueprints, error pages, commands."""
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    instance = Path(app.instance_path)
    keep_files_private(instance)
    app.config.update(settings.from_env(instance))
    app.config.update(config or {})
    # Loaded by the `flask` command line (a Click context is active), a SECRET_KEY unsafe to serve with
    # does not stop it: `flask check` must be able to say so, among the rest. Served any other way
    # (gunicorn), the app refuses to start.
    settings.finalize(app.config, instance, serving=click.get_current_context(silent=True) is None)
    logs.init_app(app)

    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    app.wsgi_app = wsgi_stack(app)
    return app


def keep_files_private(instance: Path) -> None:
    """Whatever the app writes (database, mail, counters) is its user's alone: umask 077, instance/ 0700.

    Set before anything writes, as the process's umask, so files made by SQLite and libraries are
    covered too. Static files, which nginx reads, are given 0644 and 0755 by assets.py itself.
    """
    os.umask(0o077)
    try:
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)
        if instance.stat().st_mode & 0o077:
            instance.chmod(0o700)  # made by hand, or by an older copy, with the usual 0755
    except OSError as exc:
        # Not ours to change (a read-only image with PostgreSQL needs no instance/): say so, serve on.
        logging.getLogger(__name__).warning("instance folder not made private: %s", exc.strerror)


def register_extensions(app: Flask) -> None:
    metrics.init_app(app)  # first: the other parts count with it
    security.init_app(app)
    assets.init_app(app)
    database.init_app(app)
    access.init_app(app)  # a staff request's queries held to its role and offices
    backup.init_app(app)  # after database: adds to Flask-Migrate's `flask db` group
    mail.init_app(app)
    limiter.init_app(app)
    crossorigin.init_app(app)  # after the limiter: a refused request still counts
    inputs.init_app(app)  # after crossorigin: a forged request is a 403 whatever it holds
    content.init_app(app)
    clinictime.init_app(app)  # after content: the offices' hours
    i18n.init_app(app)
    templating.init_app(app)
    notify.init_app(app)  # before the blueprints, which register their kinds of notification with it


def register_blueprints(app: Flask) -> None:
    pages.init_app(app)
    leads.init_app(app)
    questions.init_app(app)
    crisis.init_app(app)  # no pages of its own: the crisis alerts questions and requests raise
    counts.init_app(app)  # after pages: it counts views of their paths
    reports.init_app(app)  # no pages of its own: the weekly summary and `flask report`
    staff.init_app(app)  # the staff pages, and the login they need
    monitoring.init_app(app)  # GET /metrics, with METRICS_TOKEN


def register_errorhandlers(app: Flask) -> None:
    errors.init_app(app)
    readiness.init_app(app)  # `flask check`


def wsgi_stack(app: Flask):
    """What wraps Flask, outermost first: ProxyFix, the measuring layer, the host check, WhiteNoise, the
    security headers, the page cache.

    ProxyFix (only when TRUSTED_PROXY_COUNT says proxies set X-Forwarded-*) gives everything inside
    the visitor's address, scheme and host. With METRICS_TOKEN, every answer is counted and timed for
    /metrics, whichever layer gave it. A host the app does not serve goes straight to Flask, which
    refuses it. WhiteNoise answers static files before Flask is reached, with the security headers it
    computed per file. SecurityHeaders adds them to every other answer. The page cache answers the
    public pages from memory once Flask has rendered them.
    """
    wsgi = pages.serve_cached(app, app.wsgi_app)
    wsgi = security.SecurityHeaders(wsgi)
    wsgi = assets.serve_static(app, wsgi)
    refuse = security.SecurityHeaders(app.wsgi_app)
    wsgi = security.OnlyOurHosts(wsgi, refuse, app.config["TRUSTED_HOSTS"])
    wsgi = metrics.measured(app, wsgi)
    unsafe = settings.unsafe_to_serve(app.config)
    if unsafe:  # only ever reached from the command line (`flask run`): see create_app
        return refusing(unsafe)
    proxies = app.config["TRUSTED_PROXY_COUNT"]
    if proxies > 0:
        # Only then is X-Forwarded-For believed; otherwise a client could pick its own address.
        wsgi = ProxyFix(wsgi, x_for=proxies, x_proto=proxies, x_host=proxies)
    return wsgi


def refusing(reasons: list[str]):
    """A WSGI app that serves nothing: settings no site may serve with. The reasons go to the log."""
    log = logging.getLogger(__name__)

    def refuse(environ: dict, start_response):
        for reason in reasons:
            log.error("not served: %s", reason)
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
        start_response("503 Service Unavailable", headers)
        return [b"This site is not set up to serve yet: its log says why.\n"]

    return refuse
