"""The clinic's microsite: an educational article that turns a consultation request into a lead."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from . import config as settings
from .config import PROJECT_ROOT


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, extensions, content, blueprints, error pages, commands."""
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    instance = Path(app.instance_path)
    app.config.update(settings.from_env(instance))
    app.config.update(config or {})
    settings.finalize(app.config, instance)
    configure_logging(app)

    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    return app


def configure_logging(app: Flask) -> None:
    """Our own records at INFO (lead ids, never personal data); libraries at WARNING."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("microsite").setLevel(logging.INFO)


def register_extensions(app: Flask) -> None:
    from . import assets, content, database, notify, security, sessions, templating
    from .extensions import csrf, limiter, mail
    from .staff.auth import login_manager

    security.init_app(app)
    sessions.init_app(app)
    assets.init_app(app)
    database.init_app(app)
    csrf.init_app(app)
    sessions.init_templates(app)
    mail.init_app(app)
    limiter.init_app(app)
    content.init_app(app)
    templating.init_app(app)
    notify.init_app(app)
    login_manager.init_app(app)


def register_blueprints(app: Flask) -> None:
    from . import leads, pages, staff

    pages.init_app(app)
    leads.init_app(app)
    staff.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    from . import errors

    errors.init_app(app)
