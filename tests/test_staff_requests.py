"""What a staff URL may carry: no side effect from another site's link, no 500 from a hand-made URL."""

from __future__ import annotations

import re

import pytest
from conftest import add_staff, staff_login, submit
from sqlalchemy import func, select

from microsite.extensions import db
from microsite.models import AuditEvent

# On SQLite; on PostgreSQL too where what a query argument becomes in SQL is the point.

EMAIL, PASSWORD = "desk@example.com", "correct horse battery staple"


@pytest.fixture
def staff_client(app, client):
    """A logged-in staff member, with one lead in the inbox."""
    with app.app_context():
        add_staff(EMAIL, PASSWORD)
    assert submit(client).status_code == 303
    assert staff_login(client, EMAIL, PASSWORD).status_code == 303
    return client


def audit_count(app, action: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        )


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
@pytest.mark.parametrize(
    "path,action", [("/staff/leads/1", "lead.view"), ("/staff/leads.csv?office=bradenton", "leads.export")]
)
def test_a_link_from_another_site_runs_nothing_and_offers_the_page_here(
    app, staff_client, site, path, action
):
    response = staff_client.get(path, headers={"Sec-Fetch-Site": site, "Sec-Fetch-Mode": "navigate"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Continue to the staff page" in html
    assert f'href="{path.replace("&", "&amp;")}"' in html
    assert "Maria Example" not in html and "text/csv" not in response.headers["Content-Type"]
    assert response.headers["Cache-Control"] == "no-store"
    assert audit_count(app, action) == 0
    # Followed from here, it opens, and only then is it written down.
    here = staff_client.get(path, headers={"Sec-Fetch-Site": "same-origin"})
    assert here.status_code == 200 and "Continue to the staff page" not in here.get_data(as_text=True)
    assert audit_count(app, action) == 1


@pytest.mark.parametrize("site", [None, "same-origin", "none"])
def test_our_own_links_typed_addresses_and_old_browsers_open_directly(app, staff_client, site):
    headers = {"Sec-Fetch-Site": site} if site else {}
    response = staff_client.get("/staff/leads/1", headers=headers)
    assert "Maria Example" in response.get_data(as_text=True)
    assert audit_count(app, "lead.view") == 1


NONSENSE = [
    "/staff/?until=9999-12-31",
    "/staff/?since=0001-01-01",
    "/staff/?since=yesterday",
    f"/staff/?page={10**20}",
    "/staff/?page=0",
    "/staff/?page=-1",
    "/staff/?status=bogus",
    "/staff/?office=tampa",
    "/staff/?q=" + "x" * 101,
    "/staff/leads.csv?until=9999-12-31",
    f"/staff/audit?page={10**20}",
    f"/staff/audit?lead={10**30}",
    "/staff/audit?lead=abc",
]


@pytest.mark.parametrize("path", NONSENSE)
@pytest.mark.both_databases
def test_nonsense_in_a_known_query_argument_is_a_400(staff_client, path):
    response = staff_client.get(path)
    assert response.status_code == 400
    assert "Something in that request did not work" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query", ["endpoint=x", "_method=POST", "_external=1", "_anchor=x", "utm_source=mail"]
)
def test_unknown_query_arguments_are_ignored_and_never_reach_a_link(staff_client, query):
    response = staff_client.get(f"/staff/?office=bradenton&{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "leads.csv?office=bradenton" in html
    assert query.split("=")[0] not in re.findall(r'href="([^"]*)"', html).__str__()


@pytest.mark.parametrize("path", [f"/staff/leads/{10**30}", f"/staff/leads/{2**63}"])
@pytest.mark.both_databases
def test_an_id_beyond_64_bits_is_a_404_not_an_overflow(staff_client, path):
    assert staff_client.get(path).status_code == 404


@pytest.mark.both_databases
def test_the_filter_survives_into_the_page_links(app, staff_client):
    for n in range(30):
        assert submit(staff_client, phone=f"941-555-01{n:02d}", email=f"p{n}@example.com").status_code == 303
    html = staff_client.get("/staff/?office=bradenton&since=2020-01-01").get_data(as_text=True)
    # The "older" link carries the filter and a cursor (the last lead shown), not an offset.
    older = r'href="/staff/\?page=2&amp;office=bradenton&amp;since=2020-01-01&amp;before=\d+-\d+"'
    assert re.search(older, html), html[:2000]
