"""Roles and offices: every /staff route tried as an admin, a manager and a staff member of each office.

What a role may see, it sees; everything else is a 403 (a page its role does not open) or a 404 (another
office's request or question), and another office's request is never in a list, a count or a CSV.
The reach is one query filter (microsite/access.py) that every query of a staff request goes through,
so the last test here runs queries no view wrote and finds them held to it too.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from conftest import add_staff, hidden_fields
from sqlalchemy import func, select, update

from microsite import access
from microsite.database import writing
from microsite.extensions import db
from microsite.models import (
    AuditEvent,
    Lead,
    LeadNote,
    Notification,
    NotificationStatus,
    Question,
    StaffRole,
    StaffUser,
    utcnow,
)
from microsite.staff import PUBLIC_ENDPOINTS, accounts, invites, logins

pytestmark = pytest.mark.both_databases

ROLES = {
    "admin": {"role": StaffRole.ADMIN},
    "manager": {"role": StaffRole.MANAGER},
    "staff-bradenton": {"role": StaffRole.STAFF, "offices": ("bradenton",)},
    "staff-sarasota": {"role": StaffRole.STAFF, "offices": ("sarasota",)},
}
NAMES = {"bradenton": "Bea Bradenton", "sarasota": "Sam Sarasota"}
QUESTIONS = {"bradenton": "Does Bradenton take walk-ins?", "sarasota": "Is Sarasota open Fridays?",
             None: "How long does a session last?"}  # fmt: skip

# Who each route is for. Adding a staff route without saying so here fails the walk below.
EVERYONE, EXPORT, REPORTS, TEAM = "everyone", access.EXPORT, access.REPORTS, access.TEAM
LEAD, QUESTION = "the lead's office", "the question's office"
ROUTES = {
    "staff.inbox": EVERYONE,
    "staff.questions": EVERYONE,
    "staff.account": EVERYONE,
    "staff.change_password": EVERYONE,
    "staff.enrol": EVERYONE,
    "staff.reauth": EVERYONE,
    "staff.reauth_passkey_options": EVERYONE,
    "staff.reauth_passkey": EVERYONE,
    "staff.totp_setup": EVERYONE,
    "staff.totp_setup_cancel": EVERYONE,
    "staff.totp_off": EVERYONE,
    "staff.new_recovery_codes": EVERYONE,
    "staff.passkey_add_options": EVERYONE,
    "staff.passkey_add": EVERYONE,
    "staff.passkey_remove": EVERYONE,
    "staff.logout": EVERYONE,
    "staff.lead": LEAD,
    "staff.change_status": LEAD,
    "staff.not_spam": LEAD,
    "staff.add_note": LEAD,
    "staff.send_again": LEAD,
    "staff.question": QUESTION,
    "staff.save_question": QUESTION,
    "staff.publish_question": QUESTION,
    "staff.unpublish_question": QUESTION,
    "staff.reject_question": QUESTION,
    "staff.export_csv": EXPORT,
    "staff.conversion_csv": EXPORT,
    "staff.dashboard_page": REPORTS,
    "staff.audit_log": REPORTS,
    "staff.team_page": TEAM,
    "staff.invite": TEAM,
    "staff.member": TEAM,
    "staff.change_role": TEAM,
    "staff.disable": TEAM,
    "staff.enable": TEAM,
    "staff.reset_second_factor": TEAM,
    "staff.revoke_invite": TEAM,
}


def add_lead(office: str) -> int:
    now = utcnow()
    lead = Lead(
        full_name=NAMES[office], phone="+19415550100" if office == "bradenton" else "+19415550199",
        email=f"{office}@example.com", location=office, contact_method="phone", consent_text="I agree.",
        consent_version="test", consent_at=now, created_at=now, utm_source=f"{office}-campaign",
    )  # fmt: skip
    lead.notifications.append(
        Notification(status=NotificationStatus.SENT, sent_at=now, attempts=1, created_at=now)
    )
    db.session.add(lead)
    db.session.flush()
    db.session.add(LeadNote(lead_id=lead.id, author="x", body=f"Called {NAMES[office]}", created_at=now))
    db.session.add(AuditEvent(actor="x", action="lead.view", lead_id=lead.id, detail=f"{office} event"))
    return lead.id


def add_question(office: str | None) -> int:
    question = Question(language="en", office=office, text=QUESTIONS[office], consent_text="ok")
    db.session.add(question)
    db.session.flush()
    return question.id


@pytest.fixture
def world(app):
    """A request and a question at each office (and one under the main article), an account per role,
    a team member to act on, and an open invitation."""
    with app.app_context():
        ids = {"staff": {name: add_staff(f"{name}@example.com", **kind) for name, kind in ROLES.items()}}
        ids["member"] = add_staff("member@example.com", role=StaffRole.STAFF, offices=("sarasota",))
        with writing():
            ids["lead"] = {office: add_lead(office) for office in NAMES}
            ids["question"] = {office: add_question(office) for office in QUESTIONS}
        ids["notification"] = {
            office: db.session.scalar(select(Notification.id).where(Notification.lead_id == lead_id))
            for office, lead_id in ids["lead"].items()
        }
        ids["invite"], _ = invites.create(
            "new@example.com", StaffRole.MANAGER, [], db.session.get(StaffUser, 1)
        )
        db.session.remove()
    return ids


def client_as(app, name: str):
    """A browser logged in as the account `name` (a login row of its own, as after password and code)."""
    with app.app_context(), writing():
        token = logins.start(accounts.find(f"{name}@example.com"))
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = token
        session.permanent = True
    return client


def token_of(client) -> str:
    return hidden_fields(client.get("/staff/account").get_data(as_text=True))["csrf_token"]


def office_of(role: str) -> str | None:
    return ROLES[role].get("offices", (None,))[0]


def targets(rule, world) -> list[tuple[str, str | None]]:
    """(url, office of what it names) for each thing the rule can name: each office's lead or question."""
    if "lead_id" in rule.arguments:
        return [
            (rule.build({"lead_id": world["lead"][o], "notification_id": world["notification"][o]})[1], o)
            for o in NAMES
        ]
    if "question_id" in rule.arguments:
        return [(rule.build({"question_id": world["question"][o]})[1], o) for o in QUESTIONS]
    values = {"staff_id": world["member"], "invite_id": world["invite"], "passkey_id": 1}
    return [(rule.build({a: values[a] for a in rule.arguments})[1], None)]


def expected_ok(role: str, kind: str, office: str | None) -> bool:
    scope = access.Scope(
        ROLES[role]["role"], None if "offices" not in ROLES[role] else frozenset(ROLES[role]["offices"])
    )
    if kind in (LEAD, QUESTION):
        return office is None or scope.sees_office(office)
    return kind == EVERYONE or scope.allows(kind)


@pytest.mark.parametrize("role", ROLES)
def test_every_staff_route_as_each_role_and_office(app, world, role):
    rules = [
        r
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/staff") and r.endpoint not in PUBLIC_ENDPOINTS
    ]
    assert {r.endpoint for r in rules} == set(ROUTES), "a staff route this test does not know who is for"
    client = client_as(app, role)
    token = token_of(client)
    tried = []
    # Reads first, then changes; logging out last of all.
    calls = [(rule, method) for rule in rules for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    calls.sort(key=lambda call: (call[0].endpoint == "staff.logout", call[1] != "GET"))
    for rule, method in calls:
        for url, office in targets(rule, world):
            response = client.open(url, method=method, data={"csrf_token": token})
            body = response.get_data(as_text=True)  # a CSV streams: read it, so its request ends
            status = response.status_code
            where = (role, method, url, status)
            if rule.endpoint != "staff.logout":  # the one route whose answer is the login page
                assert not (status in (302, 303) and "/staff/login" in response.headers["Location"]), where
            if expected_ok(role, ROUTES[rule.endpoint], office):
                assert status not in (403, 404) and status < 500, where
            elif ROUTES[rule.endpoint] in (LEAD, QUESTION):
                assert status == 404, where  # another office's: as if it did not exist
            else:
                assert status == 403 and "Not part of your role" in body, where
            tried.append(where)
    assert len(tried) >= 50


def lead_names(html: str) -> list[str]:
    return re.findall(r'<td class="name"><a href="/staff/leads/\d+">([^<]+)</a>', html)


@pytest.mark.parametrize("role", ROLES)
def test_another_office_is_in_no_list_count_or_csv(app, world, role):
    client = client_as(app, role)
    office = office_of(role)
    seen = [NAMES[office]] if office else sorted(NAMES.values(), reverse=True)
    hidden = [name for name in NAMES.values() if name not in seen]

    inbox = client.get("/staff/").get_data(as_text=True)
    assert sorted(lead_names(inbox), reverse=True) == seen
    assert f"{len(seen)} request{'s' if len(seen) > 1 else ''}." in inbox
    for query in ("q=Bea", "q=Sam", "q=941-555-01", "office=bradenton", "office=sarasota", "status=any"):
        page = client.get(f"/staff/?{query}").get_data(as_text=True)
        assert not set(lead_names(page)) & set(hidden), (role, query)
        assert not any(name in page for name in hidden), (role, query)

    queue = client.get("/staff/questions").get_data(as_text=True)
    for where, text in QUESTIONS.items():
        assert (text in queue) == (where is None or office is None or where == office), (role, text)

    for path in ("/staff/leads.csv?status=any", "/staff/conversion.csv", "/staff/dashboard", "/staff/audit"):
        response = client.get(path)
        if office is not None:
            assert response.status_code == 403, (role, path)
            continue
        assert response.status_code == 200, (role, path)
        if path.startswith("/staff/leads.csv"):
            rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
            assert sorted(r["full_name"] for r in rows) == sorted(NAMES.values())

    nav = client.get("/staff/account").get_data(as_text=True)
    assert ("Download these as CSV" in inbox) == (office is None)
    assert ('href="/staff/dashboard"' in nav) == (office is None)
    assert ('href="/staff/team"' in nav) == (role == "admin")


def test_a_new_role_or_office_holds_from_the_next_request(app, world):
    client = client_as(app, "member")
    assert lead_names(client.get("/staff/").get_data(as_text=True)) == [NAMES["sarasota"]]
    with app.app_context(), writing():
        db.session.execute(
            update(StaffUser).where(StaffUser.id == world["member"]).values(offices="bradenton")
        )
    assert lead_names(client.get("/staff/").get_data(as_text=True)) == [NAMES["bradenton"]]
    assert client.get(f"/staff/leads/{world['lead']['sarasota']}").status_code == 404
    with app.app_context(), writing():
        db.session.execute(update(StaffUser).where(StaffUser.id == world["member"]).values(role="nobody"))
    assert lead_names(client.get("/staff/").get_data(as_text=True)) == []  # an unknown role sees nothing


def test_queries_no_view_wrote_are_held_to_the_office_too(app, world):
    """What a view written tomorrow would run, read, count or change: only its own office's rows."""
    sarasota = world["lead"]["sarasota"]
    bradenton = world["lead"]["bradenton"]
    with app.test_request_context("/staff/"):
        access.enter(access.Scope(StaffRole.STAFF, frozenset({"sarasota"})))
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
        assert db.session.scalars(select(Lead.full_name)).all() == [NAMES["sarasota"]]
        assert db.session.get(Lead, bradenton) is None
        assert db.session.scalars(select(LeadNote.body)).all() == [f"Called {NAMES['sarasota']}"]
        assert db.session.scalars(select(Notification.lead_id)).all() == [sarasota]
        assert db.session.scalars(select(AuditEvent.detail).where(AuditEvent.lead_id.is_not(None))).all() == [
            "sarasota event"
        ]
        assert sorted(db.session.scalars(select(Question.office)), key=str) == [None, "sarasota"]
        with writing():
            changed = db.session.execute(update(Lead).values(status="closed"))
        assert changed.rowcount == 1
    with app.app_context():
        statuses = dict(db.session.execute(select(Lead.location, Lead.status)).all())
        assert statuses == {"bradenton": "new", "sarasota": "closed"}  # outside a staff request: every office
