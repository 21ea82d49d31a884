"""Flask's signed-cookie session, with its serializer built once rather than twice a request.

itsdangerous builds a serializer by test-serialising an empty dict; on the landing page
that was a tenth of the request's own time.
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface


class SessionInterface(SecureCookieSessionInterface):
    def get_signing_serializer(self, app: Flask):
        serializer = app.extensions.get("session_serializer")
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            app.extensions["session_serializer"] = serializer
        return serializer


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
