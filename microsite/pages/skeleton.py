"""Pages with the form, rendered once per process; a visit only fills in its form's hidden values.

The landing and location pages are the same for every visitor except the CSRF token, the submission
key, the signed start time and the attribution. Rendering the article, the form and the layout takes
milliseconds; filling eight slots takes microseconds. The pieces are kept as UTF-8 bytes: the page
has a few non-ASCII characters (dashes, quotes), and encoding 21 KB of such text again for every
response cost about 19 µs, more than the fill. `render_full` is the plain render the tests compare
this with.
"""

from __future__ import annotations

import re
import secrets

from flask import current_app, render_template
from markupsafe import escape

from ..leads import hidden_values, new_form
from ..sessions import csrf_token

SLOTS = ("csrf_token", "submission_key", "started", "utm_source", "utm_medium", "utm_campaign",
         "referrer", "landing_path")  # fmt: skip


class Skeleton:
    """A page rendered with a marker in each per-visit slot, split at the markers."""

    def __init__(self, template: str, location: str | None, context: dict):
        token = secrets.token_hex(8)
        marker = f"slot{token}{{}}end"  # letters only: HTML escaping leaves it as it is
        values = {name: marker.format(name) for name in SLOTS}
        # Rendered outside any visitor's request: nothing of theirs can end up in every page.
        with current_app.test_request_context("/"):
            html = render_full(template, location, values, context)
        pieces = re.split(f"slot{token}(\\w+?)end", html)
        self.head = pieces[0].encode()
        self.slots = [(name, text.encode()) for name, text in zip(pieces[1::2], pieces[2::2], strict=True)]
        if sorted({name for name, _ in self.slots}) != sorted(SLOTS):
            raise RuntimeError(f"{template}: the form's hidden fields are not all in the page")

    def fill(self, values: dict[str, str]) -> bytes:
        """The page as UTF-8, with each slot's value escaped."""
        out = [self.head]
        for name, text in self.slots:
            out.append(escape(values[name]).encode())
            out.append(text)
        return b"".join(out)


def render_full(template: str, location: str | None, values: dict[str, str], context: dict) -> str:
    """The page as render_template makes it, with these hidden values."""
    form = new_form(location=location, values={k: v for k, v in values.items() if k != "csrf_token"})
    token = values["csrf_token"]
    return render_template(template, form=form, csrf_token=lambda: token, **context)


def render_form_page(template: str, location: str | None = None, **context) -> bytes:
    """`template` with a fresh form for this visit, from the skeleton built at this page's first view."""
    cache = current_app.extensions.setdefault("page_skeletons", {})
    key = (template, location)
    skeleton = cache.get(key)
    if skeleton is None:
        skeleton = cache[key] = Skeleton(template, location, context)
    # csrf_token() puts the token's secret into the session, as the template's csrf_token() would.
    return skeleton.fill({"csrf_token": csrf_token(), **hidden_values()})
