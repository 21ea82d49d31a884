"""Whatever arrives, the answer is clear, never a 5xx, and a rejected request stores nothing."""

from urllib.parse import quote

import pytest
from conftest import hidden_fields, make_config, valid_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from microsite import create_app
from microsite.extensions import db
from microsite.models import Lead

VISIBLE_FIELDS = ["full_name", "phone", "email", "location", "contact_method", "best_time", "message"]
HIDDEN_FIELDS = ["utm_source", "utm_medium", "utm_campaign", "referrer", "landing_path"]


def count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


def raw_post(client, fields: dict[str, str], raw: dict[str, bytes]):
    """Post a urlencoded body built by hand, so any byte can be sent."""
    parts = [f"{k}={quote(v)}".encode() for k, v in fields.items() if k not in raw]
    parts += [k.encode() + b"=" + v for k, v in raw.items()]
    return client.post(
        "/consultation", data=b"&".join(parts), content_type="application/x-www-form-urlencoded"
    )


def form(client, **overrides) -> dict[str, str]:
    return {**hidden_fields(client.get("/").get_data(as_text=True)), **valid_data(**overrides)}


@pytest.mark.parametrize("field", ["full_name", "phone", "email", *HIDDEN_FIELDS])
@pytest.mark.parametrize("payload", [b"Maria%0d%0aBcc:%20evil@example.com", b"Maria%0aX", b"Maria%0dX"])
def test_line_breaks_in_single_line_fields_are_refused(client, app, field, payload):
    response = raw_post(client, form(client), {field: payload})
    assert response.status_code == 422
    assert count(app) == 0


@pytest.mark.parametrize("field", ["full_name", "phone", "email", "message", *HIDDEN_FIELDS])
@pytest.mark.parametrize(
    "payload,why",
    [
        (b"Mar%00ia", "NUL"),
        (b"Maria%e2%80%aeevil", "U+202E right-to-left override"),
        (b"Mar%ff%feia", "invalid UTF-8"),
        (b"Maria%1b%5b31m", "terminal escape"),
    ],
)
def test_invisible_and_broken_characters_are_refused(client, app, field, payload, why):
    response = raw_post(client, form(client), {field: payload})
    assert response.status_code == 422, why
    assert "reload the page" in response.get_data(
        as_text=True
    ) or "special or invisible" in response.get_data(as_text=True)
    assert count(app) == 0


def test_line_breaks_in_the_message_are_kept_as_text(client, app):
    response = raw_post(client, form(client), {"message": b"first%0d%0asecond%0athird"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Lead.message)) == "first\nsecond\nthird"


@pytest.mark.parametrize("email", ["a@example.com\r\nBcc: b@example.com", "a@example.com,b@example.com",
                                   '"x" <evil@example.com>', "a@example.com b@example.com"])  # fmt: skip
def test_email_header_tricks_are_refused(client, app, email):
    response = client.post("/consultation", data=form(client, email=email))
    assert response.status_code == 422
    assert count(app) == 0


def test_a_forged_page_value_outside_the_choices_is_refused(client, app):
    response = client.post("/consultation", data=form(client, location="bradenton\r\n"))
    assert response.status_code == 422
    assert count(app) == 0


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(make_config(f"sqlite:///{tmp / 'fuzz.sqlite3'}", tmp, LEADS_PER_CONTACT_PER_HOUR=10**6))
    with app.app_context():
        db.create_all()
    return app


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(VISIBLE_FIELDS + HIDDEN_FIELDS + ["website", "submission_key", "started"]),
    value=st.text(max_size=300),
)
def test_generated_text_in_any_field_never_gives_a_5xx(fuzz_app, field, value):
    client = fuzz_app.test_client()
    before = count(fuzz_app)
    response = client.post("/consultation", data=form(client, **{field: value}))
    assert response.status_code in (303, 422), response.status_code
    after = count(fuzz_app)
    assert after == before + (1 if response.status_code == 303 else 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400))
def test_generated_bytes_as_a_body_never_give_a_5xx(fuzz_app, body):
    client = fuzz_app.test_client()
    client.get("/")
    response = client.post("/consultation", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500
