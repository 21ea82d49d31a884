"""The extension objects, created unbound; `create_app` binds them."""

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import csrf as flask_wtf_csrf
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


class CSRFProtect(flask_wtf_csrf.CSRFProtect):
    """Flask-WTF's, with the method checked before the exemptions: a page view skips their lookups."""

    def protect(self, apply_exemptions: bool = False) -> None:
        if request.method not in current_app.config["WTF_CSRF_METHODS"]:
            return
        super().protect(apply_exemptions)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
mail = Mail()
# No default limits: only the routes that write say how often they may be called.
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@limiter.request_filter
def _reads_are_not_limited() -> bool:
    """Every limit is on a POST; skipping the others spares each page view the limiter's lookups."""
    return request.method in ("GET", "HEAD", "OPTIONS")
