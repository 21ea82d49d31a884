"""The weekly summary: its numbers by hand, no personal data, once a week however many senders, --print."""

from __future__ import annotations

import dataclasses
import re
import threading
from datetime import date, datetime, timedelta

import pytest
from conftest import make_config
from sqlalchemy import func, select
from test_reminders import MANAGER, REPORT_TO, clinic_file, ny

from microsite import create_app
from microsite.database import writing
from microsite.extensions import db
from microsite.models import Lead, LeadStatus, Notification, NotificationStatus, PageViewCount
from microsite.notify.outbox import run_once
from microsite.notify.schedule import schedule_due
from microsite.reports.weekly import render_text, report_week_due, summarize

pytestmark = pytest.mark.both_databases

WEEK = "2026-W46"  # Monday 9 to Sunday 15 November 2026, Eastern Standard Time
AS_OF = ny(2026, 11, 16, 12, 0)  # the next Monday at noon

# Every person seeded below, as the report must never show them (and the pieces of each).
PEOPLE = [
    (
        "Theodora Blackwood-Finch",
        "+19415550177",
        "theodora.finch@example.net",
        "I feel hopeless most mornings",
    ),
    ("Ignatius Pemberton", "+19415550178", "ignatius.p@example.org", "My doctor suggested ketamine"),
    ("Philippa Okonkwo-Hale", "+19415550179", "philippa@example.com", "Please call after 3 pm"),
    ("Barnaby Quist", "+19415550180", "bquist@example.net", "Does insurance cover this?"),
    ("Marguerite Villanueva", "+19415550181", "mvillanueva@example.org", "Second opinion wanted"),
    ("Cornelius Abernathy", "+19415550182", "cabernathy@example.com", "Anxiety and depression"),
    ("Euphemia Starling", "+19415550183", "euphemia@example.net", "spam spam spam"),
    ("Octavia Thistlewood", "+19415550184", "othistle@example.org", "buy cheap pills"),
    ("Leopold Farraday", "+19415550185", "lfarraday@example.com", "Last week's request"),
    ("Rosamund Achterberg", "+19415550186", "rosamund@example.net", "Next week's request"),
    ("Wilhelmina Grace", "+19415550187", "wgrace@example.org", "An old request"),
    ("Augustin Mercer", "+19415550188", "amercer@example.com", "Just now"),
]


@pytest.fixture
def app_config(database_url, tmp_path, smtp):
    return make_config(database_url, tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port,
                       CLINIC_FILE=str(clinic_file(tmp_path)))  # fmt: skip


def lead(n: int, created_at: datetime, location: str, contacted: datetime | None = None, status: str = "new",
         utm_source: str | None = None, referrer: str | None = None) -> Lead:  # fmt: skip
    name, phone, email, message = PEOPLE[n]
    if contacted is not None and status == LeadStatus.NEW:
        status = LeadStatus.CONTACTED
    return Lead(
        created_at=created_at, status=status, full_name=name, phone=phone, email=email, location=location,
        contact_method="phone", message=message, consent_text="I agree.", consent_version="1",
        consent_at=created_at, first_contact_at=contacted, utm_source=utm_source, referrer=referrer,
        landing_path="/",
    )  # fmt: skip


def views(day: date, path: str, source: str, n: int) -> PageViewCount:
    return PageViewCount(day=day, path=path, source=source, medium="", campaign="", views=n)


def seed_week() -> dict[str, int]:
    """Week 46's requests, views and one failed email; the numbers the tests expect are worked out by hand."""
    nov = lambda d, h, m=0: ny(2026, 11, d, h, m)  # noqa: E731
    rows = [
        # Bradenton (Monday to Friday 9–5).
        lead(0, nov(9, 10), "bradenton", contacted=nov(9, 10, 20), utm_source="google"),  # 20 min
        lead(
            1, nov(9, 16, 50), "bradenton", contacted=nov(10, 9, 40), referrer="https://www.bing.com"
        ),  # 10 + 40
        lead(2, nov(14, 11), "bradenton", contacted=nov(16, 9, 5), utm_source="google"),  # Saturday: 5 min
        lead(
            3, nov(11, 10), "bradenton"
        ),  # never contacted: Wed 7 h + Thu 8 h + Fri 8 h + Mon 3 h = 1,560 min
        # Sarasota (Monday to Thursday 9–5, Friday 9–1).
        lead(4, nov(13, 12, 30), "sarasota", contacted=nov(16, 10), utm_source="facebook"),  # 30 + 60
        lead(5, nov(10, 9), "sarasota", contacted=nov(10, 13), utm_source="google"),  # 240 min
        # Suspected spam: counted apart, in nothing else.
        lead(6, nov(10, 11), "bradenton", status=LeadStatus.SPAM, utm_source="google"),
        lead(7, nov(12, 3), "sarasota", status=LeadStatus.SPAM),
        # Other weeks, just across the boundaries in clinic time (UTC would count them in week 46).
        lead(8, nov(8, 23, 30), "bradenton", contacted=nov(9, 9, 1)),
        lead(9, nov(16, 0, 30), "sarasota"),
        # Still new from long ago, and one that just came in.
        lead(10, ny(2026, 10, 20, 10), "bradenton"),
        lead(11, AS_OF - timedelta(minutes=5), "bradenton"),
    ]
    form, office = "/", "/ketamine-therapy-bradenton"
    counters = [
        views(date(2026, 11, 9), form, "google", 100),
        views(date(2026, 11, 15), office, "google", 50),
        views(date(2026, 11, 10), form, "bing.com", 40),
        views(date(2026, 11, 13), "/ketamine-therapy-sarasota", "facebook", 25),
        views(date(2026, 11, 11), form, "", 200),
        views(date(2026, 11, 12), "/privacy", "google", 30),  # no form on it: not a view that converts
        views(date(2026, 11, 8), form, "google", 999),  # other weeks
        views(date(2026, 11, 16), form, "google", 999),
    ]
    with writing() as session:
        session.add_all(rows + counters)
        session.flush()
        session.add(Notification(lead_id=rows[0].id, status=NotificationStatus.FAILED, attempts=3))
        return {p[0]: r.id for p, r in zip(PEOPLE, rows, strict=True)}


def test_the_numbers_match_a_hand_computation(app):
    with app.app_context():
        seed_week()
        s = summarize(WEEK, now=AS_OF)
        text = render_text(s)
    assert (s.first_day, s.last_day) == (date(2026, 11, 9), date(2026, 11, 15))
    assert s.per_office == [("Bradenton", 4), ("Sarasota", 2)] and s.requests == 6 and s.spam == 2
    # Leads by source over views of the pages with the form: ordered by requests, then views.
    assert [(r.label, r.views, r.leads) for r in s.sources] == [
        ("google", 150, 3), ("direct", 200, 1), ("bing.com", 40, 1), ("facebook", 25, 1)
    ]  # fmt: skip
    assert s.views == 415
    # Contacted after 5, 20, 50, 90 and 240 minutes of office hours: median 50, 90th percentile (nearest
    # rank, the 5th of 5) 240; over 30 minutes: 50, 90, 240 and the one still waiting (1,560).
    speed = s.speed
    assert (speed.requests, speed.contacted, speed.median, speed.p90, speed.slow, speed.waiting) == (
        6, 5, 50, 240, 4, 1
    )  # fmt: skip
    # Still new now, from every week: week 46's, the one from next week's first minutes (30 min of a
    # Monday morning: Monday 9 to 12 is 180), October's and the one 5 minutes old; 3 are overdue.
    assert (s.waiting, s.overdue) == (4, 3)
    assert dict(s.delivery)["Failed"] == 1

    lines = [line.rstrip() for line in text.splitlines()]
    for expected in (
        "Weekly summary 2026-W46: Monday November 9 to Sunday November 15, 2026.",
        "  Bradenton                4",
        "  Sarasota                 2",
        "  All offices              6",
        "  Suspected spam, not counted: 2",
        "  google                      150 views    3 requests  2.0 %",
        "  direct                      200 views    1 requests  0.5 %",
        "  bing.com                     40 views    1 requests  2.5 %",
        "  facebook                     25 views    1 requests  4.0 %",
        "  All sources: 415 views, 6 requests, 1.4 %",
        "  Contacted:                5 of 6",
        "  Median:                   50 min",
        "  90th percentile:          4 h 00 min",
        "  Waited over 30 min:       4",
        "  4 requests, 3 of them past 30 min of office hours",
        "  Failed                   1",
    ):
        assert expected in lines, (expected, text)


def personal_pieces() -> list[str]:
    """Each seeded name, phone (as stored and as shown), email, its local part, and message."""
    pieces = []
    for name, phone, email, message in PEOPLE:
        digits = phone[2:]
        shown = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        pieces += [name, *name.replace("-", " ").split(), phone, digits, shown, digits[3:], email,
                   email.split("@")[0], message]  # fmt: skip
    return pieces


def test_the_report_goes_through_the_outbox_once_and_holds_no_personal_data(app, smtp):
    with app.app_context():
        seed_week()
        # Monday 8:00 is when week 46's report is due; a minute before, it is week 45's turn.
        assert report_week_due(ny(2026, 11, 16, 7, 59), ny(2026, 11, 16).tzinfo) == "2026-W45"
        assert report_week_due(AS_OF, AS_OF.tzinfo) == WEEK
        made = schedule_due(AS_OF)
        schedule_due(AS_OF + timedelta(hours=1))  # later sweeps that week (reminders may still come due)
        schedule_due(ny(2026, 11, 23, 7, 59))
        weekly = db.session.scalars(select(Notification).where(Notification.kind == "weekly")).all()
        assert [(n.once_key, n.lead_id) for n in weekly] == [(f"weekly:{WEEK}", None)] and weekly[
            0
        ].id in made
        db.session.rollback()
        run_once()
    reports = [m for m, e in zip(smtp.messages, smtp.envelopes, strict=True) if e.rcpt_tos == [REPORT_TO]]
    assert len(reports) == 1
    [report] = reports
    assert report["Subject"] == f"Weekly summary {WEEK} – Anti Aging and Ketamine Center"
    assert report["Reply-To"] is None and report["X-Lead-Id"] is None
    assert re.fullmatch(
        r"<weekly-notification-\d+\.[0-9a-z]+\.[0-9a-f]{10}@clinic\.example\.com>", report["Message-ID"]
    )
    text = report.get_body(("plain",)).get_content()
    html = report.get_body(("html",)).get_content()
    assert "All offices              6" in text and '<td align="right"><strong>6</strong></td>' in html
    for piece in personal_pieces():
        assert piece.lower() not in text.lower(), piece
        assert piece.lower() not in html.lower(), piece
    assert "555" not in text and "555" not in html and "@" not in text.replace(REPORT_TO, "")
    # The reminders the same sweep made went to the staff and the manager, never to the report's readers.
    assert all(e.rcpt_tos in (["bradenton-staff@example.com"], ["sarasota-staff@example.com"], [MANAGER],
                              [REPORT_TO]) for e in smtp.envelopes)  # fmt: skip


def test_print_writes_the_report_and_sends_nothing(app, runner, smtp):
    with app.app_context():
        seed_week()
        before = db.session.scalar(select(func.count()).select_from(Notification))
        db.session.rollback()
    result = runner.invoke(args=["report", "weekly", "--week", WEEK, "--print"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Weekly summary 2026-W46: Monday November 9")
    assert "  All offices              6\n" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification)) == before  # no row
    assert smtp.messages == []  # and no mail
    bad = runner.invoke(args=["report", "weekly", "--week", "2026-48", "--print"])
    assert bad.exit_code == 2 and "2026-W48" in bad.output


def test_on_demand_it_is_sent_now_and_the_monday_sweep_sends_no_second_copy(app, runner, smtp):
    with app.app_context():
        seed_week()
    result = runner.invoke(args=["report", "weekly", "--week", WEEK])
    assert result.exit_code == 0, result.output
    assert re.search(r"weekly summary 2026-W46: notification \d+ sent", result.output)
    assert [e.rcpt_tos for e in smtp.envelopes] == [[REPORT_TO]]
    with app.app_context():
        made = schedule_due(AS_OF)  # reminders for the seeded requests, but week 46's report is done
        kinds = db.session.scalars(select(Notification.kind).where(Notification.id.in_(made))).all()
        assert "weekly" not in kinds
        db.session.rollback()
    again = runner.invoke(args=["report", "weekly", "--week", WEEK])  # asked for again: sent again
    assert again.exit_code == 0 and "sent" in again.output
    assert [e.rcpt_tos for e in smtp.envelopes] == [[REPORT_TO], [REPORT_TO]]


def test_without_report_to_nothing_is_scheduled_or_sent(app, runner, smtp, tmp_path):
    app.extensions["clinic"] = dataclasses.replace(app.extensions["clinic"], report_to=())
    with app.app_context():
        assert schedule_due(AS_OF) == []
    result = runner.invoke(args=["report", "weekly", "--week", WEEK])
    assert result.exit_code == 1 and "report_to" in result.output
    assert smtp.messages == []


@pytest.mark.postgres
def test_once_a_week_with_two_instances_racing(postgres_url, tmp_path, smtp):
    config = make_config(postgres_url, tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port,
                         CLINIC_FILE=str(clinic_file(tmp_path)))  # fmt: skip
    apps = [create_app(config), create_app(config)]
    with apps[0].app_context():
        db.drop_all()
        db.create_all()
    # Before Monday 8:00 (week 45 due), at 8:00 and later that week (46), the next Monday (47).
    moments = [ny(2026, 11, 16, 7, 59), ny(2026, 11, 16, 8), ny(2026, 11, 18, 15), ny(2026, 11, 23, 8),
               ny(2026, 11, 23, 8, 0, 1)]  # fmt: skip
    go = threading.Barrier(4, timeout=30)
    errors: list[BaseException] = []

    def sender(app, name: str):
        try:
            with app.app_context():
                for now in moments:
                    go.wait()  # all four at the same moment
                    schedule_due(now)
                    run_once(name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(apps[i % 2], f"sender-{i}")) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        with apps[0].app_context():
            rows = db.session.execute(select(Notification.once_key, Notification.status)).all()
        assert sorted(rows) == [
            ("weekly:2026-W45", "sent"),
            ("weekly:2026-W46", "sent"),
            ("weekly:2026-W47", "sent"),
        ]
        subjects = sorted(m["Subject"] for m in smtp.messages)
        assert [s.split()[2] for s in subjects] == ["2026-W45", "2026-W46", "2026-W47"]
    finally:
        for app in apps:
            with app.app_context():
                db.session.remove()
                if app is apps[0]:
                    db.drop_all()
                db.engine.dispose()
