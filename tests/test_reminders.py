"""Speed to lead: office-hours arithmetic, first contact, reminders and escalations through the outbox.

The clock is controlled: `schedule_due(now)` and `change_status(now=…)` take the time as an argument,
so a Friday evening, a weekend, a holiday or a change of daylight saving time is a date in a test.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import add_staff, hidden_fields, make_config, staff_login, submit
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from microsite import create_app
from microsite.clinictime import schedule_for
from microsite.content.clinic import Hours
from microsite.database import writing
from microsite.extensions import db
from microsite.models import Lead, LeadStatus, Notification, NotificationStatus
from microsite.notify.outbox import run_once
from microsite.notify.schedule import schedule_due
from microsite.officehours import Schedule, format_minutes
from microsite.staff import inbox

pytestmark = pytest.mark.both_databases

NY = ZoneInfo("America/New_York")
EXAMPLE_CLINIC = Path(__file__).resolve().parent.parent / "microsite" / "content" / "clinic.toml"
THANKSGIVING = date(2026, 11, 26)
MANAGER = "manager@example.com"
REPORT_TO = "owner@example.com"

# The example clinic's hours: Bradenton Monday to Friday 9–5; Sarasota Monday to Thursday 9–5, Friday 9–1.
BRADENTON = Schedule.from_hours([Hours(("Mo", "Tu", "We", "Th", "Fr"), "09:00", "17:00")], NY)
SARASOTA_HOURS = [Hours(("Mo", "Tu", "We", "Th"), "09:00", "17:00"), Hours(("Fr",), "09:00", "13:00")]
SARASOTA = Schedule.from_hours(SARASOTA_HOURS, NY, [THANKSGIVING])


def ny(*parts: int) -> datetime:
    """A wall-clock time at the clinic (America/New_York)."""
    return datetime(*parts, tzinfo=NY)


# -- office hours, no app ------------------------------------------------------------------


@pytest.mark.parametrize(
    "start,minutes,expected",
    [
        (ny(2026, 11, 17, 10, 0), 30, ny(2026, 11, 17, 10, 30)),  # inside hours
        (ny(2026, 11, 17, 7, 0), 30, ny(2026, 11, 17, 9, 30)),  # before opening
        (ny(2026, 11, 17, 16, 50), 30, ny(2026, 11, 18, 9, 20)),  # across the night
        (ny(2026, 11, 20, 16, 50), 30, ny(2026, 11, 23, 9, 30)),  # Friday after the 1 pm close: Monday
        (ny(2026, 11, 20, 12, 50), 30, ny(2026, 11, 23, 9, 20)),  # 10 min on Friday, 20 on Monday
        (ny(2026, 11, 21, 11, 0), 30, ny(2026, 11, 23, 9, 30)),  # Saturday
        (ny(2026, 11, 25, 16, 45), 30, ny(2026, 11, 27, 9, 15)),  # Thanksgiving closed: on to Friday
        (ny(2026, 11, 17, 10, 0), 240, ny(2026, 11, 17, 14, 0)),
        (ny(2026, 11, 20, 10, 0), 240, ny(2026, 11, 23, 10, 0)),  # 3 h on Friday, 1 on Monday
        (ny(2026, 11, 17, 7, 0), 0, ny(2026, 11, 17, 9, 0)),  # no minutes: the next opening
    ],
)
def test_adding_office_minutes(start, minutes, expected):
    assert SARASOTA.add(start, minutes) == expected
    assert SARASOTA.minutes_between(start, expected) == pytest.approx(minutes)


def by_walking_each_day(schedule: Schedule, start: datetime, end: datetime) -> float:
    """The plain definition: each day's open spans, clipped to [start, end], added up."""
    total, day = timedelta(), start.astimezone(schedule.zone).date()
    while day <= end.astimezone(schedule.zone).date():
        for opens, closes in schedule.spans(day):
            total += max(timedelta(), min(closes, end) - max(opens, start))
        day += timedelta(days=1)
    return total.total_seconds() / 60


YEAR_2026 = st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 31), timezones=st.just(NY))
SHARED = Schedule.from_hours(SARASOTA_HOURS, NY, [THANKSGIVING])  # its running totals grow both ways


@settings(max_examples=300, deadline=None)
@given(YEAR_2026, YEAR_2026, st.booleans())
def test_minutes_between_is_the_sum_of_each_days_open_time(a, b, fresh):
    """Across weekends, a holiday and both changes of daylight saving time, in any order of asking."""
    schedule = Schedule.from_hours(SARASOTA_HOURS, NY, [THANKSGIVING]) if fresh else SHARED
    start, end = min(a, b), max(a, b)
    assert schedule.minutes_between(start, end) == pytest.approx(by_walking_each_day(schedule, start, end))


def test_open_minutes_between_two_times():
    assert SARASOTA.minutes_between(ny(2026, 11, 20, 16, 50), ny(2026, 11, 23, 9, 30)) == 30
    assert SARASOTA.minutes_between(ny(2026, 11, 16, 0, 0), ny(2026, 11, 23, 0, 0)) == 4 * 480 + 240
    assert SARASOTA.minutes_between(ny(2026, 11, 23, 0, 0), ny(2026, 11, 30, 0, 0)) == 3 * 480 + 240
    assert BRADENTON.minutes_between(ny(2026, 11, 23, 0, 0), ny(2026, 11, 30, 0, 0)) == 5 * 480
    assert SARASOTA.minutes_between(ny(2026, 11, 17, 12, 0), ny(2026, 11, 17, 11, 0)) == 0
    # A time given in another zone is the same instant.
    assert SARASOTA.minutes_between(datetime(2026, 11, 17, 14, 0, tzinfo=UTC), ny(2026, 11, 17, 10, 0)) == 60


def test_daylight_saving_changes_keep_the_wall_clock_hours():
    # Spring forward on Sunday 2026-03-08: Friday 4:50 pm EST + 30 min is Monday 9:30 am EDT (13:30 UTC).
    monday = SARASOTA.add(ny(2026, 3, 6, 16, 50), 30)
    assert monday == ny(2026, 3, 9, 9, 30) and monday.astimezone(UTC).hour == 13
    # Fall back on Sunday 2026-11-01: Monday 9:30 am EST is 14:30 UTC.
    assert SARASOTA.add(ny(2026, 10, 30, 16, 50), 30).astimezone(UTC) == datetime(
        2026, 11, 2, 14, 30, tzinfo=UTC
    )
    # A night shift across the change: 00:00–04:00 is 3 real hours in March and 5 in November.
    night = Schedule.from_hours([Hours(("Su",), "00:00", "04:00")], NY)
    assert night.minutes_between(ny(2026, 3, 8, 0, 0), ny(2026, 3, 8, 12, 0)) == 180
    assert night.minutes_between(ny(2026, 11, 1, 0, 0), ny(2026, 11, 1, 12, 0)) == 300
    assert night.add(ny(2026, 3, 8, 0, 0), 180) == ny(2026, 3, 8, 4, 0)


def test_holidays_and_overlapping_lines():
    closed = Schedule.from_hours([Hours(("Mo",), "09:00", "17:00")], "America/New_York", [date(2026, 11, 23)])
    assert closed.add(ny(2026, 11, 20, 12, 0), 30) == ny(2026, 11, 30, 9, 30)
    split = Schedule.from_hours(
        [
            Hours(("Mo",), "09:00", "12:00"),
            Hours(("Mo",), "11:00", "13:00"),
            Hours(("Mo",), "14:00", "17:00"),
        ],
        NY,
    )
    assert split.minutes_between(ny(2026, 11, 23, 0, 0), ny(2026, 11, 24, 0, 0)) == 7 * 60
    assert split.add(ny(2026, 11, 23, 12, 50), 30) == ny(2026, 11, 23, 14, 20)  # lunch is not counted


@pytest.mark.parametrize(
    "hours",
    [[Hours(("Mo",), "17:00", "09:00")], [Hours(("Monday",), "09:00", "17:00")], [Hours(("Mo",), "9", "x")]],
)
def test_hours_that_cannot_be_counted_are_refused(hours):
    with pytest.raises(ValueError):
        Schedule.from_hours(hours, NY)


def test_a_schedule_never_open_has_no_due_time():
    with pytest.raises(ValueError):
        Schedule.from_hours([], NY).add(ny(2026, 11, 17, 10, 0), 30)


def test_minutes_read_as_staff_read_them():
    shown = [format_minutes(m) for m in (0, 25.9, 60, 125, 1440)]
    assert shown == ["0 min", "25 min", "1 h 00 min", "2 h 05 min", "24 h 00 min"]


# -- the app --------------------------------------------------------------------------------


def clinic_file(folder: Path, report_to: bool = True) -> Path:
    """The example clinic file with a holiday on Thanksgiving and, if asked, a weekly summary's reader."""
    text = EXAMPLE_CLINIC.read_text(encoding="utf-8")
    text, n = re.subn(r"(?m)^holidays = .*$", f"holidays = [{THANKSGIVING}]", text)
    assert n == 1
    if report_to:
        text, n = re.subn(r"(?m)^# report_to = .*$", f'report_to = ["{REPORT_TO}"]', text)
        assert n == 1
    path = folder / "clinic.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def app_config(database_url, tmp_path, smtp):
    return make_config(database_url, tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port,
                       CLINIC_FILE=str(clinic_file(tmp_path, report_to=False)))  # fmt: skip


def add_lead(
    created_at: datetime, location: str = "bradenton", status: str = LeadStatus.NEW, n: int = 0
) -> int:
    """A request received at `created_at` (inside an app context)."""
    with writing() as session:
        lead = Lead(
            created_at=created_at, status=status, full_name=f"Rosalind Quillfeather{n}",
            phone=f"+1941555{n:04d}", email=f"rosalind{n}@example.org", location=location,
            contact_method="phone", message=f"Secret message number {n}", consent_text="I agree.",
            consent_version="1", consent_at=created_at,
        )  # fmt: skip
        session.add(lead)
        session.flush()
        return lead.id


def keys() -> list[str]:
    keys = db.session.scalars(select(Notification.once_key).order_by(Notification.id)).all()
    db.session.rollback()
    return list(keys)


def test_a_request_inside_hours_is_reminded_after_30_minutes_then_escalated(app, smtp):
    with app.app_context():
        lead_id = add_lead(ny(2026, 11, 17, 10, 0))
        assert schedule_due(ny(2026, 11, 17, 10, 29)) == []
        assert len(schedule_due(ny(2026, 11, 17, 10, 30))) == 1
        assert schedule_due(ny(2026, 11, 17, 10, 31)) == []  # once
        assert keys() == [f"reminder:{lead_id}"]
        run_once()
        [reminder] = smtp.messages
        assert smtp.envelopes[0].rcpt_tos == ["bradenton-staff@example.com"]
        assert reminder["Subject"] == f"Reminder: request #{lead_id} – Bradenton office is still new"
        assert reminder["Reply-To"] is None and reminder["X-Lead-Id"] == str(lead_id)
        assert re.fullmatch(r"<reminder-notification-\d+\.[0-9a-z]+\.[0-9a-f]{10}@clinic\.example\.com>",
                            reminder["Message-ID"])  # fmt: skip

        assert schedule_due(ny(2026, 11, 17, 13, 59)) == []
        assert len(schedule_due(ny(2026, 11, 17, 14, 0))) == 1
        run_once()
        escalation = smtp.messages[1]
        assert smtp.envelopes[1].rcpt_tos == [MANAGER]
        assert escalation["Subject"] == f"Not contacted yet: request #{lead_id} – Bradenton office"
        assert keys() == [f"reminder:{lead_id}", f"escalation:{lead_id}"]
        assert schedule_due(ny(2026, 11, 20, 10, 0)) == []
        statuses = db.session.scalars(select(Notification.status)).all()
        assert set(statuses) == {NotificationStatus.SENT}

    for message in smtp.messages:
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        for part in (text, html):
            assert f"#{lead_id}" in part and f"https://clinic.example.com/staff/leads/{lead_id}" in part
            # Less than even the minimal staff email: no name at all, no contact details, no message.
            for personal in ("Rosalind", "Quillfeather", "555", "rosalind0@example.org", "Secret message"):
                assert personal not in part
    assert "still new after 30 min of office hours" in smtp.messages[0].get_body(("plain",)).get_content()
    assert "still new after 4 h 00 min of office hours" in smtp.messages[1].get_body(("plain",)).get_content()


def test_a_friday_evening_request_is_reminded_on_monday_morning(app, smtp):
    with app.app_context():
        lead_id = add_lead(ny(2026, 11, 20, 16, 50), location="sarasota")  # Friday hours end at 1 pm
        for now in (ny(2026, 11, 20, 17, 30), ny(2026, 11, 21, 12, 0), ny(2026, 11, 22, 23, 0),
                    ny(2026, 11, 23, 9, 29)):  # fmt: skip
            assert schedule_due(now) == [], now
        assert len(schedule_due(ny(2026, 11, 23, 9, 30))) == 1
        assert schedule_due(ny(2026, 11, 23, 12, 59)) == []
        assert len(schedule_due(ny(2026, 11, 23, 13, 0))) == 1  # 4 hours of Monday: the manager
        assert keys() == [f"reminder:{lead_id}", f"escalation:{lead_id}"]
        run_once()
    assert [e.rcpt_tos for e in smtp.envelopes] == [["sarasota-staff@example.com"], [MANAGER]]


def test_a_holiday_is_not_counted(app, smtp):
    with app.app_context():
        lead_id = add_lead(ny(2026, 11, 25, 16, 45))  # Wednesday before Thanksgiving, 15 min before closing
        assert schedule_due(ny(2026, 11, 26, 16, 0)) == []  # Thanksgiving: closed
        assert schedule_due(ny(2026, 11, 27, 9, 14)) == []
        assert len(schedule_due(ny(2026, 11, 27, 9, 15))) == 1
        assert keys() == [f"reminder:{lead_id}"]


def test_none_when_contacted_in_time_and_the_first_contact_is_kept(app, smtp):
    with app.app_context():
        lead_id = add_lead(ny(2026, 11, 17, 10, 0))
        inbox.change_status(lead_id, LeadStatus.CONTACTED, now=ny(2026, 11, 17, 10, 20))
        inbox.change_status(lead_id, LeadStatus.NEW, now=ny(2026, 11, 17, 10, 25))  # a slip, set back
        inbox.change_status(lead_id, LeadStatus.SCHEDULED, now=ny(2026, 11, 18, 9, 0))
        lead = db.session.get(Lead, lead_id)
        assert lead.first_contact_at == ny(2026, 11, 17, 10, 20)
        db.session.rollback()
        for now in (ny(2026, 11, 17, 10, 30), ny(2026, 11, 17, 17, 0), ny(2026, 11, 20, 10, 0)):
            assert schedule_due(now) == []
        run_once()
    assert keys_of(app) == [] and smtp.messages == []


def keys_of(app) -> list[str]:
    with app.app_context():
        return keys()


@pytest.mark.parametrize("moved_to", [LeadStatus.SPAM, None])
def test_none_for_suspected_spam(app, smtp, moved_to):
    with app.app_context():
        if moved_to is None:  # stored as spam by the form's checks
            add_lead(ny(2026, 11, 17, 10, 0), status=LeadStatus.SPAM)
        else:  # marked as spam by staff: no first contact either
            lead_id = add_lead(ny(2026, 11, 17, 10, 0))
            inbox.change_status(lead_id, moved_to, now=ny(2026, 11, 17, 10, 5))
            assert db.session.get(Lead, lead_id).first_contact_at is None
            db.session.rollback()
        for now in (ny(2026, 11, 17, 10, 30), ny(2026, 11, 17, 14, 0), ny(2026, 11, 20, 10, 0)):
            assert schedule_due(now) == []
    assert keys_of(app) == []


def test_a_request_missed_long_ago_is_not_emailed_about_now(app):
    with app.app_context():
        add_lead(ny(2026, 10, 1, 10, 0))
        assert schedule_due(ny(2026, 11, 17, 10, 0)) == []  # 14 days' look-back


def test_without_a_manager_there_is_no_escalation(app, tmp_path):
    text = clinic_file(tmp_path, report_to=False).read_text()
    path = tmp_path / "no-manager.toml"
    path.write_text(re.sub(r"(?m)^manager = .*$", "", text))
    other = create_app({**app.config, "CLINIC_FILE": str(path)})
    with other.app_context():
        lead_id = add_lead(ny(2026, 11, 17, 10, 0))
        assert len(schedule_due(ny(2026, 11, 18, 10, 0))) == 1
        assert keys() == [f"reminder:{lead_id}"]
        db.engine.dispose()


def test_zero_minutes_turns_the_reminder_off(app, smtp):
    app.config["REMIND_AFTER_MINUTES"] = 0
    with app.app_context():
        lead_id = add_lead(ny(2026, 11, 17, 10, 0))
        assert schedule_due(ny(2026, 11, 17, 13, 59)) == []
        assert len(schedule_due(ny(2026, 11, 17, 14, 0))) == 1
        run_once()
    assert keys_of(app) == [f"escalation:{lead_id}"]
    [message] = smtp.messages
    assert "still new after 4 h 00 min" in message.get_body(("plain",)).get_content()
    assert "reminded" not in message.get_body(("plain",)).get_content()


def test_the_outbox_sweeps_schedule_what_is_due(app, runner, smtp):
    """No cron: `flask outbox run` and the web process's background sender notice what is due."""
    now = datetime.now(UTC)
    with app.app_context():
        first = add_lead(now - timedelta(days=10), n=1)
        second = add_lead(now - timedelta(days=11), n=2)
    result = runner.invoke(args=["outbox", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert sorted(keys_of(app)) == sorted([f"escalation:{first}", f"escalation:{second}",
                                           f"reminder:{first}", f"reminder:{second}"])  # fmt: skip
    assert len(smtp.messages) == 4

    with app.app_context():
        third = add_lead(now - timedelta(days=12), n=3)
    dispatcher = app.extensions["outbox"]
    dispatcher.ensure_started()  # its first sweep is at once
    try:
        deadline = time.monotonic() + 20
        while len(smtp.messages) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        dispatcher.stop()
    assert len(smtp.messages) == 6
    assert f"reminder:{third}" in keys_of(app) and f"escalation:{third}" in keys_of(app)


def test_a_fault_in_scheduling_never_stops_the_leads_emails(app, client, smtp, caplog):
    app.config["REMIND_AFTER_MINUTES"] = "thirty"  # a broken setting: scheduling raises
    assert submit(client).status_code == 303
    with app.app_context():
        from microsite.notify.outbox import sweep

        assert sweep() == 1
    assert len(smtp.messages) == 1
    assert "could not be scheduled" in caplog.text


# -- two instances and two workers on PostgreSQL -----------------------------------------------


@pytest.mark.postgres
def test_each_reminder_goes_once_with_two_instances_and_two_workers(postgres_url, tmp_path, smtp):
    config = make_config(postgres_url, tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port,
                         CLINIC_FILE=str(clinic_file(tmp_path)))  # fmt: skip
    apps = [create_app(config), create_app(config)]
    with apps[0].app_context():
        db.drop_all()
        db.create_all()
        leads = [add_lead(ny(2026, 11, 17, 9, 0) + timedelta(minutes=n), n=n) for n in range(6)]
    now = ny(2026, 11, 23, 10, 0)  # every reminder and escalation due, and the summary of week 47
    go = threading.Barrier(4, timeout=30)
    errors: list[BaseException] = []

    def instance_or_worker(app, name: str):
        try:
            with app.app_context():
                go.wait()
                schedule_due(now)
                run_once(name)
                schedule_due(now)  # a later sweep finds it all done
                run_once(name)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=instance_or_worker, args=(apps[i % 2], f"sender-{i}")) for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    try:
        with apps[0].app_context():
            rows = db.session.execute(select(Notification.once_key, Notification.status)).all()
            expected = {f"{kind}:{lead}" for lead in leads for kind in ("reminder", "escalation")} | {
                "weekly:2026-W47"
            }
            assert sorted(key for key, _ in rows) == sorted(expected)  # each key once
            assert {status for _, status in rows} == {NotificationStatus.SENT}
        ids = [str(m["Message-ID"]) for m in smtp.messages]
        assert len(ids) == len(expected) and len(set(ids)) == len(ids)
        recipients = sorted(tuple(e.rcpt_tos) for e in smtp.envelopes)
        assert recipients.count(("bradenton-staff@example.com",)) == 6
        assert recipients.count((MANAGER,)) == 6 and recipients.count((REPORT_TO,)) == 1
    finally:
        for app in apps:
            with app.app_context():
                db.session.remove()
                if app is apps[0]:
                    db.drop_all()
                db.engine.dispose()


# -- what staff see ---------------------------------------------------------------------------

EMAIL, PASSWORD = "staff@example.com", "correct horse battery"


@pytest.fixture
def staff_client(app, client):
    with app.app_context():
        add_staff(EMAIL, PASSWORD)
    assert staff_login(client, EMAIL, PASSWORD).status_code == 303
    return client


def test_the_inbox_marks_overdue_requests_in_words_and_the_lead_page_shows_the_first_contact(
    app, staff_client
):
    now = datetime.now(UTC)
    with app.app_context():
        late = add_lead(now - timedelta(days=10), n=1)
        fresh = add_lead(now, n=2)
        answered = add_lead(now - timedelta(days=10), n=3)
        inbox.change_status(answered, LeadStatus.CONTACTED)
    page = staff_client.get("/staff/").get_data(as_text=True)
    rows = {
        int(m[1]): m[0]
        for m in re.finditer(r'<tr[^>]*>\s*<td><a href="/staff/leads/(\d+)">.*?</tr>', page, re.S)
    }
    assert '<strong class="overdue">Overdue:</strong> waiting ' in rows[late]
    assert 'class="overdue-row"' in rows[late]
    assert "Overdue" not in rows[fresh] and "waiting 0 min" in rows[fresh]
    assert "answered after" in rows[answered] and "Overdue" not in rows[answered]

    lead_page = staff_client.get(f"/staff/leads/{late}").get_data(as_text=True)
    assert "Overdue:" in lead_page and "not contacted yet" in lead_page
    csrf = hidden_fields(lead_page)["csrf_token"]
    # The one-click "contacted" button records the first contact.
    response = staff_client.post(
        f"/staff/leads/{late}/status", data={"csrf_token": csrf, "status": "contacted"}
    )
    assert response.status_code == 303
    lead_page = staff_client.get(f"/staff/leads/{late}").get_data(as_text=True)
    assert "First contact" in lead_page and "of office hours" in lead_page and "Overdue" not in lead_page
    with app.app_context():
        assert db.session.get(Lead, late).first_contact_at is not None


def test_the_dashboard_shows_time_to_first_contact_per_office_and_week(app, staff_client):
    now = datetime.now(UTC)
    monday = (now.astimezone(NY) - timedelta(days=now.astimezone(NY).weekday() + 7)).date()
    start = datetime(monday.year, monday.month, monday.day, 9, 0, tzinfo=NY)  # last week's Monday, 9 am
    with app.app_context():
        for n, minutes in enumerate([10, 20, 30, 40, 200]):
            lead_id = add_lead(start, n=n)
            inbox.change_status(lead_id, LeadStatus.CONTACTED, now=start + timedelta(minutes=minutes))
        add_lead(start, location="sarasota", n=9)  # still new, long overdue
        count = db.session.scalar(select(func.count()).select_from(Lead))
        assert count == 6
    page = staff_client.get("/staff/dashboard").get_data(as_text=True)
    section = page[page.index('id="speed-h"') :]
    rows = re.findall(r"<tr><th scope=\"row\" class=\"nowrap\">(.*?)</th>(.*?)</tr>", section)
    cells = {(week, re.findall(r"<td[^>]*>(.*?)</td>", rest)[0]): re.findall(r"<td[^>]*>(.*?)</td>", rest)[1:]
             for week, rest in rows}  # fmt: skip
    # Median of 10, 20, 30, 40, 200 is 30; the 90th percentile (nearest rank) is 200; 2 waited over 30 min.
    assert cells[monday.isoformat(), "Bradenton"] == ["5", "5", "30 min", "3 h 20 min", "2"]
    assert cells[monday.isoformat(), "Sarasota"] == ["1", "0", "–", "–", "1"]


def test_the_wait_is_kept_at_first_contact_and_the_dashboard_reads_it(app, staff_client):
    """Friday 4:50 pm to Monday 9:30 am at Bradenton (40 minutes of office hours) is kept on the lead; the
    dashboard then reads the kept figure rather than working the hours out again (thousands of requests)."""
    now = datetime.now(UTC)
    monday = (now.astimezone(NY) - timedelta(days=now.astimezone(NY).weekday() + 7)).date()
    friday_before = datetime(monday.year, monday.month, monday.day, 16, 50, tzinfo=NY) - timedelta(days=3)
    with app.app_context():
        lead_id = add_lead(friday_before, n=1)
        contacted = friday_before + timedelta(days=2, hours=16, minutes=40)
        inbox.change_status(lead_id, LeadStatus.CONTACTED, now=contacted)
        # 40 minutes, unless the clinic file makes one of those days a holiday.
        expected = schedule_for("bradenton").minutes_between(friday_before, contacted)
        assert expected > 0 and db.session.get(Lead, lead_id).first_contact_minutes == pytest.approx(expected)
        db.session.rollback()
        with writing() as session:  # as if the hours had been counted differently when it was kept
            session.get(Lead, lead_id).first_contact_minutes = 125
    page = staff_client.get("/staff/dashboard").get_data(as_text=True)
    section = page[page.index('id="speed-h"') :]
    [row] = re.findall(r"<tr><th scope=\"row\" class=\"nowrap\">(.*?)</th>(.*?)</tr>", section)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row[1])
    assert row[0] == (monday - timedelta(weeks=1)).isoformat() and cells == [
        "Bradenton", "1", "1", "2 h 05 min", "2 h 05 min", "1"
    ]  # fmt: skip
