"""Logging: our own records at INFO (lead and staff ids, never personal data), libraries at WARNING."""

from __future__ import annotations

import logging

from flask import Flask
from gunicorn.glogging import Logger


def printable(text: str, limit: int = 254) -> str:
    """`text` from outside (a typed email, a URL's path) for a log line: control and other invisible
    characters escaped (\\n, \\x1b, \\u202e), so nothing sent can start a fake line or hide what follows."""
    return "".join(
        ch if ch.isprintable() and ch != "\\" else ch.encode("unicode_escape").decode("ascii")
        for ch in text[:limit]
    )


class AccessLogger(Logger):
    """gunicorn's logger (gunicorn.conf.py's `logger_class`), its access log's every field escaped.

    gunicorn writes the decoded path, the headers and the request line as they came: `/x%0aforged`
    would start a second line that looks like ours. Here each field goes through `printable` first.
    """

    def atoms(self, resp, req, environ, request_time):
        return {
            key: printable(value, limit=4096) if isinstance(value, str) else value
            for key, value in super().atoms(resp, req, environ, request_time).items()
        }


def init_app(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("microsite").setLevel(logging.INFO)
