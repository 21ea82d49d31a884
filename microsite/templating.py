"""Small helpers the templates share."""

from __future__ import annotations

from flask import Flask


def aria(field, hint: bool = False, describe: bool = True, extra: dict | None = None) -> dict:
    """`extra` plus the ARIA attributes a control needs: only those that apply (WTForms prints None)."""
    attrs: dict = dict(extra or {})
    ids = ([f"{field.id}-hint"] if hint else []) + ([f"{field.id}-error"] if field.errors else [])
    if describe and ids:
        attrs["aria-describedby"] = " ".join(ids)
    if field.errors:
        attrs["aria-invalid"] = "true"
    return attrs


def init_app(app: Flask) -> None:
    app.jinja_env.globals["aria"] = aria
