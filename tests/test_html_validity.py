"""Every page a visitor or a staff member sees, and the staff email's HTML part, is valid HTML.

The Nu Html Checker (npm `vnu-jar`, run with Debian's Java) reads every document in one JVM start:
the public pages, the form shown again with errors, an error page, each staff page with a staff user
logged in (TOTP set-up, recovery codes and the code step included) and both kinds of staff email.
Locally a missing Java or vnu.jar skips; under CI=true it fails. The cheaper checks below it (one id
per page, a figure's caption first or last) run without Java.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from conftest import SITE_URL, add_staff, hidden_fields, make_config, staff_login, submit, unavailable
from sqlalchemy import select

from microsite import create_app
from microsite.crisis import alerts
from microsite.database import writing
from microsite.extensions import db
from microsite.leads.notifications import build_staff_message
from microsite.models import Lead, Notification, Question, QuestionStatus, StaffInvite, utcnow
from microsite.notify.kinds import build as build_message
from microsite.staff import accounts, invites

pytestmark = pytest.mark.one_worker  # the checker's JVM reads every document once

ROOT = Path(__file__).resolve().parent.parent
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
EMAIL = "validator@example.com"
PASSWORD = "correct horse battery staple"
PUBLIC = [
    "/",
    "/ketamine-therapy-bradenton",
    "/ketamine-therapy-sarasota",
    "/thanks",
    "/thanks/support",
    "/privacy",
    "/no-such-page",
    # The same pages in Spanish.
    "/es/",
    "/es/terapia-con-ketamina-bradenton",
    "/es/terapia-con-ketamina-sarasota",
    "/es/gracias",
    "/es/gracias/apoyo",
    "/es/privacidad",
    "/es/no-existe",
    # The self-check.
    "/phq-9",
    "/es/phq-9",
    # Readers' questions: the thank-you pages.
    "/questions/thanks",
    "/es/preguntas/gracias",
]
NOT_FOUND = {"/no-such-page", "/es/no-existe"}


def _login(client) -> None:
    fields = hidden_fields(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={**fields, "email": EMAIL, "password": PASSWORD})
    assert response.status_code == 303, response.status_code


def _page(client, path: str, expect: int = 200) -> str:
    response = client.get(path, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == expect, (path, response.status_code)
    return response.get_data(as_text=True)


def _staff_pages(app, client, lead_id: int, spam_id: int) -> dict[str, str]:
    """Each staff page as a logged-in admin sees it: the second step set up first (as every new account
    must), then every page, the team included; and the pages of an invitation and a refused role."""
    _login(client)
    pages = {"staff-enrol": _page(client, "/staff/enrol")}
    setup = _page(client, "/staff/account/totp")
    pages["staff-totp-setup"] = setup
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', setup).group(1)
    codes = client.post(
        "/staff/account/totp",
        data={**hidden_fields(setup), "code": pyotp.TOTP(secret).now()},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert codes.status_code == 200
    pages["staff-recovery-codes"] = codes.get_data(as_text=True)
    pages |= {
        "staff-inbox": _page(client, "/staff/"),
        "staff-inbox-filtered": _page(client, "/staff/?office=bradenton&status=new"),
        "staff-lead": _page(client, f"/staff/leads/{lead_id}"),
        "staff-lead-spam": _page(client, f"/staff/leads/{spam_id}"),
        "staff-dashboard": _page(client, "/staff/dashboard"),
        "staff-audit": _page(client, "/staff/audit"),
        "staff-account-totp-on": _page(client, "/staff/account"),
        "staff-team": _page(client, "/staff/team"),
        "staff-member": _page(client, "/staff/team/1"),
        "staff-reauth": _page(client, "/staff/reauth?next=/staff/leads.csv"),
    }
    # A link followed from another site gets the "continue" page instead of the lead.
    continued = client.get(f"/staff/leads/{lead_id}", headers={"Sec-Fetch-Site": "cross-site"})
    pages["staff-continue"] = continued.get_data(as_text=True)
    with app.app_context():
        add_staff("front-desk@example.com", role="staff", offices=("sarasota",))
        _, _ = invites.create("new@example.com", "staff", ["sarasota"], accounts.find(EMAIL))
        link = invites.link(db.session.scalars(select(StaffInvite)).one())
        invitation = db.session.scalar(select(Notification).where(Notification.kind == "staff_invite"))
        pages["email-staff-invite"] = build_message(invitation).html
    pages["staff-invite"] = _page(client, link.removeprefix(SITE_URL))
    pages["staff-invite-gone"] = _page(client, "/staff/invite/" + "x" * 43, 410)
    desk = app.test_client()
    assert staff_login(desk, "front-desk@example.com").status_code == 303
    pages["staff-forbidden"] = _page(desk, "/staff/dashboard", 403)
    client.post(
        "/staff/logout", data=hidden_fields(pages["staff-inbox"]), headers={"Sec-Fetch-Site": "same-origin"}
    )
    pages["staff-login"] = _page(client, "/staff/login")
    fields = hidden_fields(pages["staff-login"])
    step = client.post("/staff/login", data={**fields, "email": EMAIL, "password": PASSWORD})
    assert step.status_code in (302, 303) and "/staff/login/code" in step.headers["Location"]
    pages["staff-login-code"] = _page(client, "/staff/login/code")
    return pages


def _emails(app, lead_id: int) -> dict[str, str]:
    """The HTML part of the staff email in both LEAD_EMAIL_DETAIL modes."""
    emails = {}
    with app.app_context():
        notification = db.session.scalar(select(Notification).where(Notification.lead_id == lead_id))
        for mode in ("full", "minimal"):
            app.config["LEAD_EMAIL_DETAIL"] = mode
            emails[f"email-{mode}"] = build_staff_message(notification).html
        app.config["LEAD_EMAIL_DETAIL"] = "full"
    return emails


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> dict[str, str]:
    """Every document to check, by name, from one app with a staff user, a request and a spam request."""
    tmp = tmp_path_factory.mktemp("html")
    app = create_app(make_config(f"sqlite:///{tmp / 'html.sqlite3'}", tmp))
    with app.app_context():
        db.create_all()
        with writing():
            accounts.create(EMAIL, PASSWORD, role="admin")  # as `flask staff create` makes it: no second step
    client = app.test_client()
    docs = {path: _page(client, path, 404 if path in NOT_FOUND else 200) for path in PUBLIC}
    # With a self-check whose item 9 is above 0: the lead's page and emails show it.
    assert submit(client, phq9="0123012321").status_code == 303
    assert (
        submit(
            client, phone="(941) 555-0188", email="bot@example.com", website="http://spam.test"
        ).status_code
        == 303
    )
    with app.app_context():
        lead_id, spam_id = db.session.scalars(select(Lead.id).order_by(Lead.id)).all()
    shown_again = client.post(
        "/consultation", data={"email": "nope"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert shown_again.status_code == 422
    docs["form-with-errors"] = shown_again.get_data(as_text=True)
    shown_again_es = client.post(
        "/consultation", data={"email": "nope", "language": "es"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert shown_again_es.status_code == 422
    docs["form-with-errors-es"] = shown_again_es.get_data(as_text=True)
    docs.update(_phq9_documents(client))
    docs.update(_question_documents(app, client))
    docs.update(_staff_pages(app, app.test_client(), lead_id, spam_id))
    docs.update(_emails(app, lead_id))
    return docs


def _phq9_documents(client) -> dict[str, str]:
    """The self-check without JavaScript: the result with the form carrying the answers (item 9 above 0,
    so the crisis notice first), questions left out in Spanish, and a form whose answers were unreadable."""
    headers = {"Sec-Fetch-Site": "same-origin"}
    answers = {f"q{n}": str(n % 4) for n in range(1, 10)}
    result = client.post("/phq-9", data={**answers, "difficulty": "2"}, headers=headers)
    missing = client.post("/es/phq-9", data={"q9": "2"}, headers=headers)
    unreadable = client.post("/consultation", data={"phq9": "9999"}, headers=headers)
    assert (result.status_code, missing.status_code, unreadable.status_code) == (200, 422, 422)
    return {"phq9-result": result.get_data(as_text=True), "phq9-missing-es": missing.get_data(as_text=True),
            "form-with-unreadable-phq9": unreadable.get_data(as_text=True)}  # fmt: skip


def _question_documents(app, client) -> dict[str, str]:
    """Readers' questions: the pages with a published one, the form shown again, the staff queue and
    question page, and the two emails."""
    docs = {}
    headers = {"Sec-Fetch-Site": "same-origin"}
    shown_again = client.post("/questions", data={"question": "x" * 501, "email": "nope"}, headers=headers)
    assert shown_again.status_code == 422
    docs["question-form-with-errors"] = shown_again.get_data(as_text=True)
    for lang, text in (("en", "I want to end my life. Would ketamine help?"), ("es", "¿Duele la infusión?"),
                       ("en", "Some days I want to die.")):  # fmt: skip
        data = {"question": text, "email": "reader@example.com", "consent": "y", "language": lang}
        assert client.post("/questions", data=data, headers=headers).status_code == 303
    with app.app_context():
        first_id = db.session.scalar(select(Question.id).order_by(Question.id))
        with writing():
            questions = db.session.scalars(select(Question).order_by(Question.id)).all()
            for question in questions:
                question.answer, question.reviewer = "Often, yes.\n\nAsk your clinician.", "Jane Example, MD"
                question.status, question.published_at = QuestionStatus.PUBLISHED, utcnow()
        app.extensions["page_freshness"].forget()
        crisis = db.session.scalar(select(Notification).where(Notification.kind == "crisis"))
        # The answer email and the crisis digest as the outbox would build them (not stored: nothing is
        # to be sent here).
        key = f"answer:{first_id}"
        answer = Notification(id=999, kind="answer", once_key=key, created_at=utcnow())
        [due, *_] = alerts.due(utcnow() + timedelta(hours=1))
        digest = Notification(id=998, kind="digest", once_key=due["once_key"], created_at=utcnow())
        docs["email-question-crisis"] = build_message(crisis).html
        docs["email-crisis-digest"] = build_message(digest).html
        docs["email-question-answered"] = build_message(answer).html
        db.session.rollback()
    docs["landing-with-a-question"] = _page(client, "/")
    docs["es-landing-with-a-question"] = _page(client, "/es/")
    assert "Readers asked" in docs["landing-with-a-question"]
    staff = app.test_client()
    with app.app_context():
        add_staff("manager@example.com")
    assert staff_login(staff, "manager@example.com").status_code == 303
    docs["staff-questions"] = _page(staff, "/staff/questions")
    docs["staff-question"] = _page(staff, f"/staff/questions/{first_id}")
    return docs


@pytest.fixture(scope="module")
def vnu_errors(documents, tmp_path_factory) -> dict[str, list[str]]:
    """The checker's errors per document, from one JVM start for all of them."""
    java = shutil.which("java")
    if java is None:
        unavailable("no `java` on PATH (Debian: apt-get install default-jre-headless)")
    if not VNU.exists():
        unavailable(f"{VNU.relative_to(ROOT)} is missing: run `make node_modules`")
    folder = tmp_path_factory.mktemp("vnu")
    files = {}
    for name, html in documents.items():
        path = folder / (re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "index")
        path = path.with_suffix(".html")
        path.write_text(html, encoding="utf-8")
        files[path.resolve().as_uri()] = name
    run = subprocess.run(
        [
            java,
            # A short run: the quick compiler only and one GC thread take half the CPU of the JVM's
            # defaults; the schema's deep recursion needs a larger stack with them.
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xss4m",
            "-jar",
            str(VNU),
            "--format",
            "json",
            "--errors-only",
            "--stdout",
            *sorted(str(f) for f in folder.iterdir()),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # errors are in the report; a bad run fails at json.loads
    )
    report = json.loads(run.stdout)
    errors: dict[str, list[str]] = {name: [] for name in documents}
    for message in report["messages"]:
        name = files.get(message.get("url", "").replace("file:///", "file:/").replace("file:/", "file:///"))
        where = f"line {message.get('lastLine')}: " if message.get("lastLine") else ""
        errors.setdefault(name or message.get("url", "?"), []).append(where + message["message"])
    return errors


DOCUMENT_NAMES = [
    *PUBLIC,
    "form-with-errors",
    "form-with-errors-es",
    "phq9-result",
    "phq9-missing-es",
    "form-with-unreadable-phq9",
    "staff-inbox",
    "staff-inbox-filtered",
    "staff-lead",
    "staff-lead-spam",
    "staff-dashboard",
    "staff-audit",
    "staff-enrol",
    "staff-account-totp-on",
    "staff-team",
    "staff-member",
    "staff-reauth",
    "staff-invite",
    "staff-invite-gone",
    "staff-forbidden",
    "email-staff-invite",
    "staff-continue",
    "staff-totp-setup",
    "staff-recovery-codes",
    "staff-login",
    "staff-login-code",
    "email-full",
    "email-minimal",
    "question-form-with-errors",
    "landing-with-a-question",
    "es-landing-with-a-question",
    "staff-questions",
    "staff-question",
    "email-question-crisis",
    "email-crisis-digest",
    "email-question-answered",
]


@pytest.mark.parametrize("name", DOCUMENT_NAMES)
def test_the_nu_html_checker_finds_no_errors(vnu_errors, name):
    assert vnu_errors[name] == [], "\n".join(vnu_errors[name])


def test_the_checker_read_every_document(vnu_errors, documents):
    assert set(documents) == set(DOCUMENT_NAMES)
    assert set(vnu_errors) == set(DOCUMENT_NAMES), "a message the test could not attribute to a document"


# -- without Java: what the checker found once, checked on every run ------------------------------


def _ids(html: str) -> Counter:
    return Counter(re.findall(r'\sid="([^"]+)"', html))


def test_no_page_repeats_an_id(documents):
    """No page repeats an id: each form's token among them, on a page with several forms."""
    for name in DOCUMENT_NAMES:
        repeated = [i for i, n in _ids(documents[name]).items() if n > 1]
        assert repeated == [], (name, repeated)


def test_a_chart_figure_has_its_caption_first_or_last(documents):
    """A <figcaption> between the chart and its table made the dashboard's <figure> invalid."""
    figures = re.findall(r"<figure\b[^>]*>(.*?)</figure>", documents["staff-dashboard"], re.S)
    assert figures
    for figure in figures:
        children = re.findall(r"<(svg|table|figcaption)\b", figure)
        if "figcaption" in children:
            assert children.index("figcaption") in (0, len(children) - 1), children
