"""Logging: our own records at INFO (lead and staff ids, never personal data), libraries at WARNING."""

from __future__ import annotations

import logging

from flask import Flask


def printable(text: str, limit: int = 254) -> str:
    """`text` from outside (a typed email, a URL's path) for a log line: control and other invisible
    characters escaped (\\n, \\x1b, \\u202e), so nothing sent can start a fake line or hide what follows."""
    return "".join(
        ch if ch.isprintable() and ch != "\\" else ch.encode("unicode_escape").decode("ascii")
        for ch in text[:limit]
    )


def init_app(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("microsite").setLevel(logging.INFO)
