"""No input makes a 500: every route and method of the URL map, fuzzed, on SQLite and on PostgreSQL.

Each example is one request to one of the app's routes, as an anonymous visitor or as a logged-in
manager: path arguments out of range, query parameters and form fields (repeated, missing, or
holding NUL and other control characters, lone surrogates, invalid UTF-8, 10,000 characters, dates in
year 0 and 99999, numbers beyond 64 bits), as a form or as JSON. Whatever it is:
- the answer is not a 5xx, and nothing was logged at ERROR (a traceback);
- a refused request (4xx) stored nothing;
- no text column holds a character the app refuses (NUL, control and invisible characters).

A failing example is kept in hypothesis's database (.hypothesis/) and tried first on the next run.
CI tries FUZZ_EXAMPLES per database and visitor; `make fuzz` many more.
"""

from __future__ import annotations

import json
import logging
import os
import re
from urllib.parse import quote, urlencode

import pytest
from conftest import STAFF_PASSWORD, add_staff, browser_headers, hidden_fields, staff_login, submit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import String, Text, func, select
from wtforms.fields.core import UnboundField

from microsite.extensions import db
from microsite.inputs import Form

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))

STAFF_EMAIL = "fuzz.manager@example.com"
# Every query parameter a view reads (request.args and the filter forms).
PARAMETERS = ["q", "page", "before", "after", "office", "status", "language", "since", "until", "days",
              "next", "lead", "staff"]  # fmt: skip
# Tables that record a refused request by design: a failed login is counted to throttle the next.
RECORDS_REFUSALS = {"login_throttle"}
# What no stored text may hold (the one rule for text from outside, microsite/inputs.py, says why).
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\ufffd]")

# The worst of text: hypothesis's own (any code point but surrogates), control characters, lone
# surrogates, and the shapes that break parsers: huge, negative and non-numbers, impossible dates.
# fmt: off
SHAPES = ["\x00", "abc\x00", "\ud800", "a\udfffb", "x" * 10_000, "\r\n", "\x1b[31m", "\ufffd", "0000-01-01",
          "0001-01-01", "99999-12-31", "2026-02-30", "1e309", "NaN", "-1", "0", str(2**63), str(2**64),
          "9" * 40, "%00", "../../etc/passwd", "<script>", "'\"", ""]
# fmt: on
TEXT = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(codec=None, categories=["Cc", "Cf", "Cs", "Zl", "Zp", "Co"]), max_size=8),
    st.sampled_from(SHAPES),
    st.integers().map(str),
)
CREDENTIAL = st.fixed_dictionaries({
    "id": TEXT, "rawId": TEXT, "type": st.sampled_from(["public-key", "\x00"]),
    "response": st.dictionaries(st.sampled_from(["clientDataJSON", "authenticatorData", "signature",
                                                 "userHandle", "attestationObject"]), TEXT),
})  # fmt: skip
FORM = "application/x-www-form-urlencoded"
# Ids that exist (the test makes a lead, a question and two staff members), the edges of the INTEGER
# columns, and anything up to the URL converter's 64 bits.
IDS = st.one_of(st.integers(0, 4), st.sampled_from([2**31 - 1, 2**31, 2**63 - 1]), st.integers(0, 2**63 - 1))


def form_field_names() -> set[str]:
    """The name of every field of every form the app defines (the app is imported: they all exist)."""
    names, todo = {"csrf_token"}, [Form]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        names |= {name for name in dir(cls) if isinstance(getattr(cls, name, None), UnboundField)}
    return names


def routes(app, staff: bool) -> list[tuple[str, str, list[tuple[str, bool]]]]:
    """(method, rule, [(argument, is_int)]) for every route; a logged-in manager does not log out."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or (staff and rule.endpoint == "staff.logout"):
            continue
        arguments = [(name, converter == "int") for converter, name in ARGUMENT.findall(rule.rule)]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, arguments))
    return found


ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")  # <int(max=9):lead_id>: ("int", "lead_id")


def url_of(rule: str, values: list[str]) -> str:
    parts = iter(values)
    return re.sub(r"<[^>]*>", lambda _: quote(next(parts).encode("utf-8", "surrogatepass"), safe=""), rule)


def encoded(pairs) -> str:
    """Pairs as a query string or form body, UTF-8 but with lone surrogates kept: invalid UTF-8."""
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass")


@st.composite
def requests(draw, app_routes, base: dict[str, str], fields: list[str]):
    method, rule, arguments = draw(st.sampled_from(app_routes))
    values = [str(draw(IDS)) if is_int else draw(TEXT) for _, is_int in arguments]
    query = draw(st.lists(st.tuples(st.sampled_from(PARAMETERS), TEXT), max_size=4))
    url = url_of(rule, values) + (f"?{encoded(query)}" if query else "")
    pairs = list(base.items()) if draw(st.booleans()) else []
    pairs += draw(st.lists(st.tuples(st.sampled_from(fields), TEXT), max_size=4))
    if draw(st.booleans()):
        return method, url, encoded(pairs), FORM
    # JSON: the fields, a passkey's answer (static/staff-passkeys.js sends one), or not an object at all.
    body = draw(st.one_of(st.just(dict(pairs)), st.builds(lambda p, c: {**dict(p), "credential": c},
        st.just(pairs), CREDENTIAL), st.lists(TEXT, max_size=2), st.integers(), st.none()))  # fmt: skip
    # json.dumps writes a lone surrogate as \ud800, which Python's JSON reader gives back as one.
    return method, url, json.dumps(body), "application/json"


def stored_text(engine) -> list[tuple[str, str, str]]:
    """Every text value in the database that holds a refused character: (table, column, value)."""
    bad = []
    with engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
            if not columns:
                continue
            for row in conn.execute(select(*columns)):
                values = zip(columns, row, strict=True)
                bad += [(table.name, c.name, v) for c, v in values if v and UNSAFE.search(v)]
    return bad


def row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.scalar(select(func.count()).select_from(t))
            for t in db.metadata.sorted_tables
            if t.name not in RECORDS_REFUSALS
        }


@pytest.mark.both_databases
@pytest.mark.parametrize("visitor", ["anonymous", "manager"])
def test_no_input_makes_a_server_error_or_stores_what_was_refused(app, client, visitor, caplog):
    with app.app_context():
        add_staff(STAFF_EMAIL)
        add_staff("fuzz.staff@example.com", role="staff")
        engine = db.engine
    # Something for the ids to find: a lead with a note and a notification, a question.
    assert submit(client).status_code == 303
    staff = visitor == "manager"
    if staff:
        assert staff_login(client, STAFF_EMAIL).status_code == 303
        assert client.post("/staff/leads/1/notes", data={
            **hidden_fields(client.get("/staff/leads/1").get_data(as_text=True)), "body": "Called back."
        }).status_code == 303  # fmt: skip
    base = {
        **hidden_fields(client.get("/").get_data(as_text=True)),
        **hidden_fields(client.get("/staff/account" if staff else "/staff/login").get_data(as_text=True)),
        "full_name": "Maria Example", "phone": "(941) 555-0123", "email": "maria@example.com",
        "location": "bradenton", "contact_method": "phone", "best_time": "morning", "consent": "y",
        "message": "A message.", "body": "A note.", "question": "Does it help?", "answer": "It may.",
        "password": "not the password", "current": STAFF_PASSWORD + "!", "code": "000000",
        "status": "contacted", "role": "staff", "since": "2026-01-01", "until": "2026-02-01",
    }  # fmt: skip
    app_routes = routes(app, staff)
    fields = sorted(form_field_names() | set(base))
    headers = browser_headers()
    caplog.set_level(logging.ERROR)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(requests(app_routes, base, fields))
    def one_request(request):
        method, url, body, content_type = request
        caplog.clear()
        before = row_counts(engine)
        if method == "GET":
            response = client.get(url, headers=headers)
        else:
            response = client.post(url, data=body, content_type=content_type, headers=headers)
        assert response.status_code < 500, (method, url, response.status_code)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
        if 400 <= response.status_code < 500:
            assert row_counts(engine) == before, (method, url, response.status_code)
        assert stored_text(engine) == [], (method, url)

    one_request()
