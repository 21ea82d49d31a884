"""Flask's signed-cookie session and the CSRF token it carries, signed without itsdangerous' fixed costs.

The cookie and the token keep their formats: Flask-WTF's CSRFProtect validates what
`csrf_token()` makes, and a cookie signed before a deploy still opens (signing.py).
"""

from __future__ import annotations

import hashlib
import os

from flask import Flask, current_app, g, session
from flask.sessions import SecureCookieSessionInterface

from .signing import TimedSerializer

CSRF_FIELD = "csrf_token"  # Flask-WTF's default: the session key, the g attribute and the form field
CSRF_SALT = "wtf-csrf-token"  # Flask-WTF's, so that its validate_csrf reads our tokens


class SessionInterface(SecureCookieSessionInterface):
    """Its serializer is built once, at start-up, instead of twice a request (open and save)."""

    def build_serializer(self, app: Flask) -> TimedSerializer:
        keys = [*(app.config.get("SECRET_KEY_FALLBACKS") or ()), app.secret_key]
        return TimedSerializer(
            keys,
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method},
        )

    def get_signing_serializer(self, app: Flask):
        return app.extensions["session_serializer"]

    def save_session(self, app: Flask, session, response) -> None:
        # A page that used the session carries a form token or staff data: never keep a copy.
        if session.accessed or session.modified:
            response.headers["Cache-Control"] = "no-store"
        super().save_session(app, session, response)


def csrf_token() -> str:
    """flask_wtf.csrf.generate_csrf, with its serializer built once: the same token, cached per request."""
    token = g.get(CSRF_FIELD)
    if token is None:
        if not isinstance(session.get(CSRF_FIELD), str):
            session[CSRF_FIELD] = hashlib.sha1(os.urandom(64)).hexdigest()  # noqa: S324 -- Flask-WTF's own
        token = current_app.extensions["csrf_serializer"].dumps(session[CSRF_FIELD])
        setattr(g, CSRF_FIELD, token)
    return token


def init_app(app: Flask) -> None:
    """The session and the CSRF token's serializers, from the secret key the settings always provide."""
    app.session_interface = interface = SessionInterface()
    app.extensions["session_serializer"] = interface.build_serializer(app)
    csrf_secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    app.extensions["csrf_serializer"] = TimedSerializer(csrf_secret, salt=CSRF_SALT)


def init_templates(app: Flask) -> None:
    """After CSRFProtect.init_app, which registers Flask-WTF's own generate_csrf as `csrf_token()`."""
    app.jinja_env.globals["csrf_token"] = csrf_token
