"""Whatever arrives, the answer is clear, never a 5xx, and a rejected request stores nothing.

The visible fields refuse what does not belong in them (422, nothing stored). The hidden fields and the
Referer are the browser's, not the visitor's: they are cleaned, never refused, and what is stored from
them is printable, short and of the expected shape.
"""

import re
from urllib.parse import quote

import pytest
from conftest import (
    SITE_URL,
    add_staff,
    browser_headers,
    hidden_fields,
    make_config,
    staff_login,
    submit,
    valid_data,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from microsite import create_app
from microsite.database import writing
from microsite.extensions import db
from microsite.models import Lead, LeadNote, LeadStatus, LoginThrottle, Notification, Question

# The checks come before any database; what is stored, and how, is tried on both where it is the point.

VISIBLE_FIELDS = ["full_name", "phone", "email", "location", "contact_method", "best_time", "message"]
HIDDEN_FIELDS = ["referrer", "elapsed", "landing"]
ATTRIBUTION = ["referrer", "landing_path", "utm_source", "utm_medium", "utm_campaign"]
# What must never be stored from a hidden field or header: control characters (line breaks, NUL, ESC),
# DEL and C1 controls, bidirectional overrides and isolates, and U+FFFD (what undecodable bytes become).
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffd]")

BAD_BYTES = [
    (b"Maria%0d%0aBcc:%20evil@example.com", "CRLF and a header"),
    (b"Maria%0aX", "LF"),
    (b"Maria%0dX", "CR"),
    (b"Mar%00ia", "NUL"),
    (b"Maria%e2%80%aeevil", "U+202E right-to-left override"),
    (b"Maria%e2%81%a6evil", "U+2066 left-to-right isolate"),
    (b"Mar%ff%feia", "invalid UTF-8"),
    (b"Maria%1b%5b31m", "terminal escape"),
    (b"Maria%c2%85X", "C1 next line"),
    # Invisible characters: they make one name look like another, or hide text.
    (b"Ma%E2%80%8Bria", "U+200B zero-width space"),
    (b"Ma%E2%80%8Eria", "U+200E left-to-right mark"),
    (b"Ma%E2%80%8Fria", "U+200F right-to-left mark"),
    (b"Ma%D8%9Cria", "U+061C Arabic letter mark"),
    (b"Ma%EF%BB%BFria", "U+FEFF byte-order mark"),
    (b"Ma%E2%80%A8ria", "U+2028 line separator"),
    (b"Ma%F3%A0%81%81ria", "U+E0041 tag latin capital A"),
]


def count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


def stored_lead(app) -> Lead:
    with app.app_context():
        [lead] = db.session.scalars(select(Lead)).all()
        db.session.expunge_all()
        return lead


def raw_post(client, fields: dict[str, str], raw: dict[str, bytes], headers: dict[str, str] | None = None):
    """Post a urlencoded body built by hand, so any byte can be sent, as a browser on our page would."""
    parts = [f"{k}={quote(v)}".encode() for k, v in fields.items() if k not in raw]
    parts += [k.encode() + b"=" + v for k, v in raw.items()]
    return client.post(
        "/consultation",
        data=b"&".join(parts),
        content_type="application/x-www-form-urlencoded",
        headers=headers or browser_headers(),
    )


def form(client, **overrides) -> dict[str, str]:
    return {**hidden_fields(client.get("/").get_data(as_text=True)), **valid_data(**overrides)}


def assert_attribution_is_clean(lead: Lead) -> None:
    for column in ATTRIBUTION:
        value = getattr(lead, column)
        assert value is None or not UNSAFE.search(value), (column, value)
    assert lead.referrer is None or re.fullmatch(r"https?://[^/?#]+", lead.referrer), lead.referrer
    assert lead.landing_path is None or (
        lead.landing_path.startswith("/") and not lead.landing_path.startswith("//")
    ), lead.landing_path


# -- the visible fields: refused, nothing stored ---------------------------------------------


@pytest.mark.parametrize("field", ["full_name", "phone", "email"])
@pytest.mark.parametrize("payload", [b"Maria%0d%0aBcc:%20evil@example.com", b"Maria%0aX", b"Maria%0dX"])
def test_line_breaks_in_single_line_fields_are_refused(client, app, field, payload):
    response = raw_post(client, form(client), {field: payload})
    assert response.status_code == 422
    assert count(app) == 0


# One rule refuses them in every field (microsite/inputs.py): every kind in the name, and two in each of
# the other fields.
NOT_LINE_BREAKS = [p for p in BAD_BYTES if p[1] not in ("CRLF and a header", "LF", "CR")]
REFUSED = [("full_name", payload, why) for payload, why in NOT_LINE_BREAKS] + [
    (field, payload, why)
    for field in ("phone", "email", "message")
    for payload, why in NOT_LINE_BREAKS
    if why in ("NUL", "U+202E right-to-left override")
]


@pytest.mark.parametrize("field,payload,why", REFUSED)
def test_invisible_and_broken_characters_are_refused(client, app, field, payload, why):
    response = raw_post(client, form(client), {field: payload})
    assert response.status_code == 422, why
    assert "special or invisible" in response.get_data(as_text=True), why
    assert count(app) == 0


def test_undecodable_bytes_become_replacement_characters_not_text(client, app):
    """The strict urlencoded parser (microsite/security.py) is in use: Werkzeug's own would turn the
    bytes into "%FF" text, which validation would let through as if the visitor had typed it."""
    response = raw_post(client, form(client), {"message": b"caf%e9%ff"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "caf\ufffd\ufffd" in page  # the message shown again, as the parser read it
    assert "%E9" not in page.upper() and "special or invisible" in page
    assert count(app) == 0


@pytest.mark.both_databases
def test_line_breaks_in_the_message_are_kept_as_text(client, app):
    response = raw_post(client, form(client), {"message": b"first%0d%0asecond%0athird"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Lead.message)) == "first\nsecond\nthird"


@pytest.mark.parametrize("email", ["a@example.com\r\nBcc: b@example.com", "a@example.com,b@example.com",
                                   '"x" <evil@example.com>', "a@example.com b@example.com"])  # fmt: skip
def test_email_header_tricks_are_refused(client, app, email):
    response = client.post("/consultation", data=form(client, email=email), headers=browser_headers())
    assert response.status_code == 422
    assert count(app) == 0


def test_a_forged_page_value_outside_the_choices_is_refused(client, app):
    response = client.post(
        "/consultation", data=form(client, location="bradenton\r\n"), headers=browser_headers()
    )
    assert response.status_code == 422
    assert count(app) == 0


# -- the hidden fields and the Referer: cleaned, never refused -------------------------------


HIDDEN_PLACES = [
    ("referrer", b"https://www.google.com/se", b"arch"),
    ("landing", b"/ketamine-therapy-sarasota?utm_source=goo", b"gle&utm_medium=cpc"),
    ("landing", b"/?utm_campaign=", b"%26utm_source%3D"),
    ("elapsed", b"", b""),
]
# One function cleans every hidden field (inputs.cleaned): every kind in a campaign tag of the landing
# page, and a line break with a header in each of the other places.
CLEANED = [(*HIDDEN_PLACES[1], payload, why) for payload, why in BAD_BYTES] + [
    (*place, *BAD_BYTES[0]) for place in HIDDEN_PLACES if place != HIDDEN_PLACES[1]
]


@pytest.mark.parametrize("field,before,after,payload,why", CLEANED)
def test_bad_characters_in_hidden_fields_are_cleaned_and_never_stored(
    client, app, field, before, after, payload, why
):
    response = raw_post(client, form(client), {field: before + payload + after})
    assert response.status_code == 303, why  # the lead is stored: the visitor typed none of this
    lead = stored_lead(app)
    assert lead.status == LeadStatus.NEW, why
    assert_attribution_is_clean(lead)


def test_a_cleaned_referrer_keeps_only_the_site(client, app):
    response = raw_post(client, form(client), {"referrer": b"https://www.GOO%0d%0agle.com/search?q=ketamine"})
    assert response.status_code == 303
    assert stored_lead(app).referrer == "https://www.google.com"


@pytest.mark.parametrize(
    "referrer",
    ["javascript:alert(1)", "ftp://files.example.com", "data:text/html,hi", "//www.google.com", "google",
     "android-app://com.google.android.gm/"],
)  # fmt: skip
def test_a_referrer_that_is_not_an_http_site_is_dropped(client, app, referrer):
    response = client.post("/consultation", data=form(client, referrer=referrer), headers=browser_headers())
    assert response.status_code == 303
    assert stored_lead(app).referrer is None


@pytest.mark.parametrize(
    "hidden,referer",
    [
        ({"referrer": "https://["}, None),
        ({"referrer": "https://www.google.com]"}, None),
        ({"referrer": "https://www.google\uff03.com"}, None),
        ({}, f"https://[{SITE_URL[8:]}/?utm_source=x"),
    ],
    ids=["referrer-open-bracket", "referrer-close-bracket", "referrer-nfkc", "referer-header-bracket"],
)
def test_a_malformed_url_in_the_referrer_is_dropped_not_a_5xx(client, app, hidden, referer):
    headers = browser_headers() if referer is None else {**browser_headers(), "Referer": referer}
    response = client.post("/consultation", data=form(client, **hidden), headers=headers)
    assert response.status_code == 303  # stored; what cannot be parsed is simply not kept
    lead = stored_lead(app)
    assert_attribution_is_clean(lead)
    assert lead.referrer is None


@pytest.mark.parametrize(
    "referrer,kept",
    [("https://user:secret@www.google.com/search?q=x", "https://www.google.com"),
     ("https://WWW.Bing.com:8443/", "https://www.bing.com:8443"),
     ("https://www.google.com:notaport/", None), ("https://exa mple.com/", None)],
)  # fmt: skip
def test_only_a_plain_origin_of_the_referrer_is_kept(client, app, referrer, kept):
    response = client.post("/consultation", data=form(client, referrer=referrer), headers=browser_headers())
    assert response.status_code == 303
    assert stored_lead(app).referrer == kept


@pytest.mark.parametrize(
    "landing",
    ["//evil.example/?utm_source=x", "https://evil.example/?utm_source=x", "evil?utm_source=x",
     "javascript:alert(1)", "\\\\evil.example/?utm_source=x"],
)  # fmt: skip
def test_a_landing_that_is_not_a_path_of_ours_is_dropped(client, app, landing):
    response = client.post("/consultation", data=form(client, landing=landing), headers=browser_headers())
    assert response.status_code == 303
    lead = stored_lead(app)
    assert lead.landing_path is None
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == (None, None, None)


def test_campaign_tags_are_cleaned_after_they_are_decoded(client, app):
    """Percent-encoded control characters in the landing page's query are decoded, then removed."""
    landing = (
        "/ketamine-therapy-bradenton?utm_source=goo%0D%0Agle&utm_medium=c%E2%80%AEpc&utm_campaign=sp%FFring"
    )
    response = client.post("/consultation", data=form(client, landing=landing), headers=browser_headers())
    assert response.status_code == 303
    lead = stored_lead(app)
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("google", "cpc", "spring")
    assert lead.landing_path == "/ketamine-therapy-bradenton"
    assert_attribution_is_clean(lead)


def test_campaign_tags_in_the_referer_header_are_cleaned_too(client, app):
    headers = {
        **browser_headers(),
        "Referer": f"{SITE_URL}/?utm_source=goo%0d%0agle&utm_medium=%1b%5b31mcpc&utm_campaign=%00x",
    }
    response = client.post("/consultation", data=form(client), headers=headers)
    assert response.status_code == 303
    lead = stored_lead(app)
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("google", "[31mcpc", "x")
    assert lead.landing_path == "/"
    assert_attribution_is_clean(lead)


@pytest.mark.parametrize("elapsed", ["", "soon", "nan", "inf", "-inf", "-5", "1e999", "0x10", "Mar%00ia"])
def test_an_elapsed_time_that_is_not_a_time_is_not_judged(client, app, elapsed):
    """site.js's measure is a signal only: garbage in it neither refuses nor marks the lead as spam."""
    app.config["FORM_MIN_SECONDS"] = 3
    response = client.post("/consultation", data=form(client, elapsed=elapsed), headers=browser_headers())
    assert response.status_code == 303
    lead = stored_lead(app)
    assert lead.status == LeadStatus.NEW and lead.spam_reason is None


# -- generated input -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(make_config(f"sqlite:///{tmp / 'fuzz.sqlite3'}", tmp, LEADS_PER_CONTACT_PER_HOUR=10**6))
    with app.app_context():
        db.create_all()
    return app


def empty(app) -> None:
    """No leads: the same request twice is one lead, so each example starts from nothing."""
    with app.app_context(), writing():
        db.session.execute(delete(Notification))
        db.session.execute(delete(Lead))


# No 5xx from any field is tests/test_fuzz.py's; this one checks what the consultation form does with
# each kind of field: the visible ones refuse or store, the hidden ones are cleaned, never refused.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from([*VISIBLE_FIELDS, *HIDDEN_FIELDS, "website"]), value=st.text(max_size=300))
def test_generated_text_in_any_field_never_gives_a_5xx(fuzz_app, field, value):
    client = fuzz_app.test_client()
    empty(fuzz_app)
    response = client.post("/consultation", data=form(client, **{field: value}), headers=browser_headers())
    assert response.status_code in (303, 422), response.status_code
    assert count(fuzz_app) == (1 if response.status_code == 303 else 0)
    if field in HIDDEN_FIELDS or field == "website":
        assert response.status_code == 303  # hidden fields are cleaned, never refused
    if response.status_code == 303:
        assert_attribution_is_clean(stored_lead(fuzz_app))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=200))
def test_generated_text_in_the_referer_never_gives_a_5xx_nor_reaches_the_lead(fuzz_app, query):
    client = fuzz_app.test_client()
    empty(fuzz_app)
    headers = {**browser_headers(), "Referer": f"{SITE_URL}/?utm_source={quote(query)}"}
    response = client.post("/consultation", data=form(client), headers=headers)
    assert response.status_code == 303
    assert_attribution_is_clean(stored_lead(fuzz_app))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400))
def test_generated_bytes_as_a_body_never_give_a_5xx(fuzz_app, body):
    client = fuzz_app.test_client()
    client.get("/")
    response = client.post(
        "/consultation",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=browser_headers(),
    )
    assert response.status_code < 500


@pytest.mark.both_databases
@pytest.mark.parametrize("name", ["\u0645\u0647\u200c\u0631\u0627\u0646", "Zoë Ångström-Łukasz", "O'Brien"])
def test_names_that_need_a_zero_width_joiner_or_accents_are_kept(client, app, name):
    """Persian names write the zero-width non-joiner (U+200C): it is a letter's shape, not a trick."""
    response = client.post("/consultation", data=form(client, full_name=name), headers=browser_headers())
    assert response.status_code == 303
    assert stored_lead(app).full_name == name


# -- the staff side, query parameters and bodies: the one rule (microsite/inputs.py) -------------

NUL_LOGIN = "staff%00@example.com"


def staff_client(app):
    """A logged-in manager's client, with one lead (#1) and one question (#1) to work on."""
    client = app.test_client()
    with app.app_context():
        add_staff("manager@example.com")
    assert submit(client).status_code == 303
    question = {**hidden_fields(client.get("/").get_data(as_text=True)), "question": "Help?", "consent": "y"}
    assert client.post("/questions", data=question, headers=browser_headers()).status_code == 303
    assert staff_login(client, "manager@example.com").status_code == 303
    return client


def form_of(client, path: str, **fields) -> bytes:
    """The page's token and `fields` as a urlencoded body; values are sent as written (%00 stays a NUL)."""
    token = hidden_fields(client.get(path).get_data(as_text=True))["csrf_token"]
    return "&".join([f"csrf_token={token}", *(f"{k}={v}" for k, v in fields.items())]).encode()


def rows(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.both_databases
def test_a_nul_in_the_staff_login_email_is_a_422_with_the_fields_message(client, app):
    """PostgreSQL refuses a NUL with an error: the form refuses it before any query."""
    body = form_of(client, "/staff/login", email=NUL_LOGIN, password="x")
    response = client.post("/staff/login", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 422
    assert "special or invisible characters" in response.get_data(as_text=True)
    assert rows(app, LoginThrottle) == 0


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "path,fields,model",
    [
        ("/staff/leads/1/notes", {"body": "Called%00back"}, LeadNote),
        ("/staff/questions/1", {"answer": "It%00may", "edited_text": "Does it help?"}, None),
    ],
)
def test_a_nul_in_a_staff_form_is_a_422_and_nothing_is_stored(app, path, fields, model):
    client = staff_client(app)
    page = path.removesuffix("/notes")
    response = client.post(path, data=form_of(client, page, **fields), headers=browser_headers(page),
                           content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert response.status_code == 422
    assert "special or invisible characters" in response.get_data(as_text=True)
    with app.app_context():
        assert model is None or db.session.scalar(select(func.count()).select_from(model)) == 0
        assert db.session.scalar(select(Question.answer)) is None


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "url",
    ["/staff/?q=abc%00", "/staff/leads.csv?q=abc%00", "/staff/?q=" + "x" * 501, "/staff/?page=%ff",
     "/staff/audit?lead=1%00", "/staff/dashboard?since=%00"],
)  # fmt: skip
def test_a_query_parameter_the_rule_refuses_is_a_400(app, url):
    client = staff_client(app)
    response = client.get(url, headers=browser_headers())
    assert response.status_code == 400
    assert "Something in that request did not work" in response.get_data(as_text=True)


@pytest.mark.both_databases
def test_an_id_beyond_the_columns_range_is_a_404(app):
    client = staff_client(app)
    assert client.get("/staff/leads/2147483647").status_code == 404
    assert client.get("/staff/leads/2147483648").status_code == 404
    assert client.get("/staff/?before=1700000000000000-2147483648").status_code == 400


@pytest.mark.parametrize("body", ["[1]", '{"full_name": ["a"]}', "1", '{"full_name": "\\ud800"}'])
def test_a_json_body_to_a_form_is_a_415_and_stores_nothing(client, app, body):
    response = client.post("/consultation", data=body, content_type="application/json",
                           headers=browser_headers())  # fmt: skip
    assert response.status_code == 415
    assert count(app) == 0


def test_a_multipart_part_without_a_name_is_not_a_field(client, app):
    boundary = "x1"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in form(client).items()
    ]
    body = (
        "".join(parts)
        + f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n--{boundary}--\r\n"
    )
    content_type = f"multipart/form-data; boundary={boundary}"
    response = client.post(
        "/consultation", data=body.encode(), content_type=content_type, headers=browser_headers()
    )
    assert response.status_code in (303, 400, 422)
    assert count(app) == (1 if response.status_code == 303 else 0)
