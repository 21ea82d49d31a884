"""Cross-site forgery is refused by what the browser says (Fetch Metadata), with no token in any page."""

import pytest
from conftest import SITE_URL, browser_headers, hidden_fields, valid_data
from sqlalchemy import func, select

from microsite.extensions import db
from microsite.models import Lead
from microsite.notify.outbox import run_once


def lead_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


REFUSED = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another origin
    {"Sec-Fetch-Site": "cross-site", "Origin": SITE_URL},  # the browser's word wins over a forged Origin
    {"Origin": "https://evil.example"},
    {"Origin": "http://clinic.example.com"},  # the right host over plain HTTP is another origin
    {"Origin": "null"},  # a sandboxed frame or a privacy-sensitive redirect
]


@pytest.mark.parametrize("headers", REFUSED)
def test_a_cross_origin_post_is_a_branded_403_that_stores_and_sends_nothing(app, client, smtp, headers):
    response = client.post("/consultation", data=valid_data(), headers=headers)
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "only accepts requests sent from our own pages" in html
    for office in app.extensions["clinic"].offices:
        assert office.phone_display in html
    assert response.headers["Cache-Control"] == "no-store"
    assert lead_count(app) == 0
    with app.app_context():
        run_once()
    assert smtp.messages == []


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {"Origin": SITE_URL},
     {"Origin": SITE_URL.upper()}],
)  # fmt: skip
def test_a_post_from_our_own_pages_needs_no_token(app, client, headers):
    response = client.post("/consultation", data=valid_data(), headers=headers)
    assert response.status_code == 303
    assert not response.headers.getlist("Set-Cookie")
    assert lead_count(app) == 1


def test_without_fetch_metadata_or_origin_the_form_comes_back_with_a_token(app, client):
    """A very old browser, or a script: 400, the values kept, and Send works the second time."""
    response = client.post("/consultation", data=valid_data(full_name="José Example"))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "press <strong>Send my request</strong> again" in html
    assert 'value="José Example"' in html and 'value="maria@example.com"' in html
    assert response.headers["Cache-Control"] == "no-store"
    fields = hidden_fields(html)
    assert fields["csrf_token"]
    assert lead_count(app) == 0
    # The token lives in the session: the 400 page sets the only cookie a visitor can ever get.
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Secure" in set_cookie
    again = client.post("/consultation", data={**fields, **valid_data(full_name="José Example")})
    assert again.status_code == 303
    assert lead_count(app) == 1


def test_a_forged_or_stale_token_is_still_refused(app, client):
    response = client.post("/consultation", data={**valid_data(), "csrf_token": "forged"})
    assert response.status_code == 400
    assert lead_count(app) == 0


def test_an_expired_token_asks_once_more_with_the_values_kept(app, client):
    fields = hidden_fields(client.post("/consultation", data=valid_data()).get_data(as_text=True))
    # A limit the token is already past, instead of a wait: itsdangerous refuses a signature whose
    # age is over it, as it does for one older than the real six hours.
    app.config["WTF_CSRF_TIME_LIMIT"] = -1
    response = client.post("/consultation", data={**fields, **valid_data()})
    assert response.status_code == 400
    assert 'value="Maria Example"' in response.get_data(as_text=True)
    assert lead_count(app) == 0


def test_a_re_shown_form_has_no_token_or_cookie_for_a_current_browser(client):
    response = client.post("/consultation", data=valid_data(phone="12"), headers=browser_headers())
    assert response.status_code == 422
    assert "csrf_token" not in hidden_fields(response.get_data(as_text=True))
    assert not response.headers.getlist("Set-Cookie")
    assert response.headers["Cache-Control"] == "no-store"


def test_a_re_shown_form_for_an_old_browser_carries_a_token(client, app):
    response = client.post("/consultation", data=valid_data(phone="12"))
    # No Fetch Metadata and no token: asked to send again first, then the field's message.
    assert response.status_code == 400
    fields = hidden_fields(response.get_data(as_text=True))
    invalid = client.post("/consultation", data={**fields, **valid_data(phone="12")})
    assert invalid.status_code == 422
    fixed = client.post(
        "/consultation", data={**hidden_fields(invalid.get_data(as_text=True)), **valid_data()}
    )
    assert fixed.status_code == 303
    assert lead_count(app) == 1


def test_a_refused_post_still_counts_against_the_rate_limit(tmp_path):
    """The limiter runs before the origin check: a flood of forged requests ends in 429s."""
    from conftest import make_config

    from microsite import create_app

    app = create_app(
        make_config(f"sqlite:///{tmp_path / 'rl.sqlite3'}", tmp_path, RATELIMIT_ENABLED=True,
                    RATELIMIT_STORAGE_URI="memory://", RATELIMIT_CONSULTATION="3 per minute")
    )  # fmt: skip
    client = app.test_client()
    statuses = [
        client.post("/consultation", data=valid_data(), headers={"Sec-Fetch-Site": "cross-site"}).status_code
        for _ in range(5)
    ]
    assert statuses == [403, 403, 403, 429, 429]
    for status in (403, 429):
        assert status in statuses
