"""The extension objects, created unbound; `create_app` binds them."""

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

from . import ratelimit  # noqa: F401 -- registers the microsite-sqlite:// storage with `limits`
from .metrics import count_refusal
from .security import client_address


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
# Flask-WTF's tokens, checked only where crossorigin.py asks for them (WTF_CSRF_CHECK_DEFAULT is off):
# on every staff form, and on the public form when a browser sent neither Sec-Fetch-Site nor Origin.
csrf = CSRFProtect()
mail = Mail()
# No default limits: only the routes that write say how often they may be called. The counters are in
# RATELIMIT_STORAGE_URI; `ratelimit` registers the SQLite file every worker shares, its default. Keyed
# by the client's address, an IPv6 client by its /64, as the staff login throttle counts it.
limiter = Limiter(key_func=client_address, default_limits=[], on_breach=lambda limit: count_refusal())
login_manager = LoginManager()
# The Spanish pages' catalogue (microsite/i18n.py chooses the language from the URL).
babel = Babel()


@limiter.request_filter
def _reads_are_not_limited() -> bool:
    """Every limit is on a POST; skipping the others spares each page view the limiter's lookups."""
    return request.method in ("GET", "HEAD", "OPTIONS")
