"""The pages with the form are rendered once per process; a visit fills in its own hidden values.

Each page must come out exactly as a plain render_template would make it with the same values.
"""

from __future__ import annotations

import pytest

from microsite.pages.skeleton import SLOTS, render_form_page, render_full

VALUES = {
    "csrf_token": "token-1",
    "submission_key": "0123456789abcdef0123456789abcdef",
    "started": "signed.start",
    "utm_source": "news<letter>",
    "utm_medium": 'e"mail',
    "utm_campaign": "fall & winter – Zoë",
    "referrer": "https://www.example.org/?q=ketamine&x='1'",
    "landing_path": "/",
}


@pytest.mark.parametrize(
    "template,location", [("index.html", None), ("location.html", "bradenton"), ("location.html", "sarasota")]
)
def test_skeleton_page_is_the_plain_render(app, monkeypatch, template, location):
    from microsite.pages import skeleton

    office = app.extensions["clinic"].office(location) if location else None
    monkeypatch.setattr(skeleton, "csrf_token", lambda: VALUES["csrf_token"])
    hidden = {k: v for k, v in VALUES.items() if k != "csrf_token"}
    monkeypatch.setattr(skeleton, "hidden_values", lambda: hidden)
    with app.test_request_context("/"):
        fast = render_form_page(template, location=location, office=office)
        plain = render_full(template, location, VALUES, {"office": office})
    assert fast == plain.encode()


def test_each_visit_gets_its_own_token_key_and_time(client):
    from tests.conftest import hidden_fields

    first = hidden_fields(client.get("/").get_data(as_text=True))
    second = hidden_fields(client.get("/").get_data(as_text=True))
    assert first["submission_key"] != second["submission_key"]
    assert first["csrf_token"] and second["csrf_token"]
    assert set(SLOTS) <= set(first)
