"""Staff accounts as a covered clinic needs them: a second factor before anything opens, logins that end
when left unused, the password again before a change that matters, passwords nobody guesses first,
and the team managed in the browser (invitations by email, roles, disabling, resetting a factor).

Time is the app's own clock for logins (`app.extensions["staff_clock"]`), moved by hand: no sleeps.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import STAFF_PASSWORD, add_staff, hidden_fields, migrated_to, staff_login
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select, text
from test_staff_roles import client_as

from microsite.database import write_connection, writing
from microsite.extensions import db
from microsite.models import AuditEvent, StaffInvite, StaffPasskey, StaffRole, StaffUser, utcnow
from microsite.notify.outbox import run_once
from microsite.staff import accounts

ADMIN = "admin@example.com"
PASSWORD = STAFF_PASSWORD


class Clock:
    """The app's clock for logins, moved by hand."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(app):
    app.extensions["staff_clock"] = clock = Clock()
    return clock


def goes_to(response, path: str) -> bool:
    return response.status_code in (302, 303) and response.headers["Location"].startswith(path)


def form_of(client, path: str) -> dict[str, str]:
    return hidden_fields(client.get(path).get_data(as_text=True))


def post(client, path: str, form_page: str = "/staff/account", **data):
    return client.post(path, data={**form_of(client, form_page), **data})


def audit(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        db.session.expunge_all()
        return rows


# -- a second factor before anything opens ---------------------------------------------


def enrol_with_the_app(client) -> str:
    page = client.get("/staff/account/totp").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    answer = client.post(
        "/staff/account/totp", data={**hidden_fields(page), "code": pyotp.TOTP(secret).now()}
    )
    assert "Your recovery codes" in answer.get_data(as_text=True)
    return secret


def test_with_the_default_settings_a_new_account_opens_nothing_before_enrolling(app, client, runner):
    assert app.config["STAFF_SECOND_FACTOR"] == "required"
    made = runner.invoke(
        args=["staff", "create", "new@example.com", "--role", "manager"], input=f"{PASSWORD}\n" * 2
    )
    assert made.exit_code == 0, made.output
    response = staff_login(client, "new@example.com")
    assert goes_to(response, "/staff/")  # the password is right...
    for path in ("/staff/", "/staff/dashboard", "/staff/questions", "/staff/leads/1", "/staff/leads.csv",
                 "/staff/audit", "/staff/account"):  # fmt: skip
        assert goes_to(client.get(path), "/staff/enrol"), path  # ...and opens only the enrolment
    assert goes_to(post(client, "/staff/leads/1/status", "/staff/enrol", status="closed"), "/staff/enrol")
    page = client.get("/staff/enrol").get_data(as_text=True)
    assert "Add a passkey" in page and "Set up an authenticator app" in page
    assert 'href="/staff/"' not in page.replace('class="brand" href="/staff/"', "")  # no way round it
    enrol_with_the_app(client)
    assert client.get("/staff/").status_code == 200


def test_optional_second_factor_leaves_the_choice(app, client):
    app.config["STAFF_SECOND_FACTOR"] = "optional"
    with app.app_context():
        add_staff("new@example.com", second_factor=False)
    assert goes_to(staff_login(client, "new@example.com"), "/staff/")
    assert client.get("/staff/").status_code == 200
    assert "Not now: go to the inbox" in client.get("/staff/enrol").get_data(as_text=True)


def test_the_last_factor_stays_while_one_is_required(app, client):
    with app.app_context():
        add_staff("new@example.com", second_factor=False)
    staff_login(client, "new@example.com")
    secret = enrol_with_the_app(client)
    answer = post(client, "/staff/account/totp/off", password=PASSWORD, code=pyotp.TOTP(secret).now())
    assert answer.status_code == 422 and "add a passkey" in answer.get_data(as_text=True)
    with app.app_context():
        assert accounts.find("new@example.com").totp_secret == secret


# -- sessions that end ---------------------------------------------------------------------


def test_idle_65_seconds_with_a_one_minute_limit_goes_to_the_login(app, client, clock):
    app.config["STAFF_IDLE_MINUTES"] = 1
    with app.app_context():
        add_staff(ADMIN)
    assert goes_to(staff_login(client, ADMIN), "/staff/")
    clock.advance(seconds=55)
    assert client.get("/staff/").status_code == 200  # used within the minute: it goes on, from now
    clock.advance(seconds=55)
    assert client.get("/staff/").status_code == 200
    clock.advance(seconds=65)
    assert goes_to(client.get("/staff/"), "/staff/login")
    clock.advance(seconds=1)
    assert goes_to(client.get("/staff/"), "/staff/login")  # and it does not come back


def test_the_absolute_limit_stays_however_busy(app, client, clock):
    with app.app_context():
        add_staff(ADMIN)
    staff_login(client, ADMIN)
    for _ in range(20):  # ten hours of work, a request every half hour less a minute
        clock.advance(minutes=29)
        assert client.get("/staff/").status_code == 200
    clock.advance(minutes=29)
    assert goes_to(client.get("/staff/"), "/staff/login")


def test_exports_and_factor_changes_ask_for_the_password_again_after_five_minutes(app, client, clock):
    with app.app_context():
        add_staff(ADMIN, role=StaffRole.ADMIN)
    staff_login(client, ADMIN)
    assert client.get("/staff/leads.csv").status_code == 200  # just logged in
    clock.advance(minutes=6)
    answer = client.get("/staff/leads.csv?status=any")
    assert goes_to(answer, "/staff/reauth?next=/staff/leads.csv?status%3Dany")
    for path in ("/staff/conversion.csv", "/staff/account/totp"):
        assert goes_to(client.get(path), "/staff/reauth"), path
    for path in ("/staff/account/recovery-codes", "/staff/account/passkeys/options", "/staff/team/invite"):
        answer = client.post(
            path,
            data=form_of(client, "/staff/account"),
            headers={"Referer": "http://localhost/staff/account"},
        )
        assert goes_to(answer, "/staff/reauth?next=/staff/account"), path
    page = client.get("/staff/reauth?next=/staff/leads.csv?status%3Dany")
    wrong = client.post(
        "/staff/reauth", data={**hidden_fields(page.get_data(as_text=True)), "password": "not it at all"}
    )
    assert wrong.status_code == 422 and "not your password" in wrong.get_data(as_text=True)
    right = client.post(
        "/staff/reauth", data={**hidden_fields(page.get_data(as_text=True)), "password": PASSWORD}
    )
    assert goes_to(right, "/staff/leads.csv?status=any")
    assert client.get("/staff/leads.csv?status=any").status_code == 200
    assert [e.detail for e in audit(app, "staff.reauth")] == ["password"]
    clock.advance(minutes=6)
    assert goes_to(client.get("/staff/leads.csv"), "/staff/reauth")


# -- passwords -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password,why",
    [
        ("short pass", "at least 12 characters"),
        ("password12345", "similar to a commonly used password"),
        ("qwertyuiop123", "very common password"),
        ("aaaaaaaaaaaaaa", "Repeats"),
    ],
)
def test_a_common_password_is_refused_in_the_browser_and_the_command_alike(
    app, client, runner, password, why
):
    with app.app_context():
        add_staff(ADMIN)
    staff_login(client, ADMIN)
    answer = post(client, "/staff/account/password", current=PASSWORD, new=password, repeat=password)
    assert answer.status_code == 422 and why in answer.get_data(as_text=True)
    typed = f"{password}\n{password}\n"
    made = runner.invoke(args=["staff", "create", "new@example.com", "--role", "admin"], input=typed)
    assert why in made.output and made.exit_code != 0  # asked again; no more input
    with app.app_context():
        assert accounts.find("new@example.com") is None


@pytest.mark.parametrize("command", ["create", "disable", "reset-password"])
def test_a_staff_command_refuses_an_email_with_a_control_character(app, runner, command):
    answer = runner.invoke(args=["staff", command, "a\x00@example.com"], input=f"{PASSWORD}\n" * 2)
    assert answer.exit_code == 2 and "control or invisible characters" in answer.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffUser)) == 0


def test_staff_create_takes_a_role_and_offices(app, runner):
    def create(*args):
        return runner.invoke(args=["staff", "create", *args], input=f"{PASSWORD}\n" * 2)

    assert "needs at least one office" in create("a@example.com").output
    assert "needs at least one office" in create("a@example.com", "--role", "staff").output
    assert create("a@example.com", "--role", "staff", "--office", "tampa").exit_code != 0
    assert (
        create("a@example.com", "--role", "staff", "--office", "sarasota", "--office", "bradenton").exit_code
        == 0
    )
    assert create("b@example.com", "--role", "admin").exit_code == 0
    with app.app_context():
        made = {u.email: (u.role, u.offices) for u in db.session.scalars(select(StaffUser))}
    assert made == {"a@example.com": ("staff", "bradenton sarasota"), "b@example.com": ("admin", "")}
    listed = runner.invoke(args=["staff", "list"]).output
    assert "a@example.com\tstaff (bradenton, sarasota), active, password only" in listed


# -- the team --------------------------------------------------------------------------------


@pytest.fixture
def admin_client(app, client):
    with app.app_context():
        add_staff(ADMIN, role=StaffRole.ADMIN)
    assert goes_to(staff_login(client, ADMIN), "/staff/")
    return client


def invite(client, email: str, role: str = "staff", offices=("sarasota",)):
    data = {**form_of(client, "/staff/team"), "email": email, "role": role, "offices": list(offices)}
    return client.post("/staff/team/invite", data=data)


def link_in(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return re.search(r"https://clinic\.example\.com(/staff/invite/\S+)", body).group(1)


def set_password(client, path: str, password: str = "a new colleague's long password"):
    """The invitation's form, sent with a valid token (from the login page once the link shows none)."""
    page = client.get(path)
    fields = (
        hidden_fields(page.get_data(as_text=True))
        if page.status_code == 200
        else form_of(client, "/staff/login")
    )
    return client.post(path, data={**fields, "new": password, "repeat": password})


def test_an_invited_person_sets_up_their_account_from_the_emailed_link_once(app, admin_client, smtp, clock):
    answer = invite(admin_client, "Carla@Example.com")
    assert goes_to(answer, "/staff/team")
    with app.app_context():
        run_once()
    [message] = smtp.messages
    assert message["To"] == "carla@example.com" and "72 hours" in message.get_body(("plain",)).get_content()
    path = link_in(message)
    with app.app_context():
        [row] = db.session.scalars(select(StaffInvite)).all()
        token = path.rsplit("/", 1)[1]
        assert token not in (row.token_hash, row.nonce)  # only its hash is kept
    newcomer = app.test_client()
    page = newcomer.get(path)
    assert page.status_code == 200 and "carla@example.com" in page.get_data(as_text=True)
    weak = set_password(newcomer, path, "password12345")
    assert weak.status_code == 422 and "commonly used" in weak.get_data(as_text=True)
    assert goes_to(set_password(newcomer, path), "/staff/enrol")
    assert goes_to(newcomer.get("/staff/"), "/staff/enrol")  # a second step first
    enrol_with_the_app(newcomer)
    assert newcomer.get("/staff/").status_code == 200
    with app.app_context():
        user = accounts.find("carla@example.com")
        assert (user.role, user.offices, user.active) == ("staff", "sarasota", True)
    # The link works once.
    assert app.test_client().get(path).status_code == 410
    assert set_password(app.test_client(), path).status_code == 410
    [joined] = audit(app, "team.joined")
    [invited] = audit(app, "team.invite")
    assert invited.actor == ADMIN and "carla@example.com as staff sarasota" in invited.detail
    assert joined.actor == "carla@example.com"


def test_an_invitation_expires_after_72_hours(app, admin_client, smtp, clock):
    invite(admin_client, "late@example.com")
    with app.app_context():
        run_once()
    path = link_in(smtp.messages[0])
    clock.advance(hours=71, minutes=59)
    assert app.test_client().get(path).status_code == 200
    clock.advance(minutes=2)
    assert app.test_client().get(path).status_code == 410
    assert set_password(app.test_client(), path).status_code == 410
    with app.app_context():
        assert accounts.find("late@example.com") is None


def test_an_admin_changes_a_role_disables_and_resets_a_factor_each_audited(app, admin_client):
    with app.app_context():
        member_id = add_staff("member@example.com", role=StaffRole.STAFF, offices=("sarasota",))
    member = app.test_client()
    assert goes_to(staff_login(member, "member@example.com"), "/staff/")
    team = admin_client.get("/staff/team").get_data(as_text=True)
    assert (
        "member@example.com" in team and "Never" not in team.split("member@example.com")[1].split("</tr>")[0]
    )

    answer = post(admin_client, f"/staff/team/{member_id}/role", f"/staff/team/{member_id}", role="manager")
    assert goes_to(answer, f"/staff/team/{member_id}")
    assert member.get("/staff/dashboard").status_code == 200  # the new reach, from the next request
    answer = post(admin_client, f"/staff/team/{member_id}/role", f"/staff/team/{member_id}", role="staff")
    assert answer.status_code == 422 and "needs at least one office" in answer.get_data(as_text=True)

    post(admin_client, f"/staff/team/{member_id}/reset-second-factor", f"/staff/team/{member_id}")
    assert goes_to(member.get("/staff/"), "/staff/login")  # their sessions ended
    with app.app_context():
        assert accounts.find("member@example.com").has_second_factor is False
    assert goes_to(staff_login(member, "member@example.com"), "/staff/")
    assert goes_to(member.get("/staff/"), "/staff/enrol")

    post(admin_client, f"/staff/team/{member_id}/disable", f"/staff/team/{member_id}")
    assert goes_to(member.get("/staff/enrol"), "/staff/login")  # at once
    assert staff_login(member, "member@example.com").status_code == 200  # and no more
    post(admin_client, f"/staff/team/{member_id}/enable", f"/staff/team/{member_id}")
    assert goes_to(staff_login(member, "member@example.com"), "/staff/")

    events = [(e.action, e.actor, e.detail) for e in audit(app, "team.role")]
    assert events == [
        ("team.role", ADMIN, f"staff {member_id} member@example.com: staff sarasota -> manager")
    ]
    for action in ("team.reset_factor", "team.disable", "team.enable"):
        [event] = audit(app, action)
        assert (event.actor, event.detail) == (ADMIN, f"staff {member_id} member@example.com"), action


def test_the_clinic_keeps_an_active_admin(app, admin_client):
    with app.app_context():
        admin_id = accounts.find(ADMIN).id
    answer = post(admin_client, f"/staff/team/{admin_id}/role", f"/staff/team/{admin_id}", role="manager")
    assert answer.status_code == 422 and "at least one active admin" in answer.get_data(as_text=True)
    post(admin_client, f"/staff/team/{admin_id}/disable", f"/staff/team/{admin_id}")
    assert admin_client.get("/staff/team").status_code == 200
    with app.app_context():
        assert accounts.find(ADMIN).role == "admin" and accounts.find(ADMIN).active


# -- the migration ---------------------------------------------------------------------------


@pytest.mark.both_databases
def test_accounts_made_before_roles_become_managers_in_the_migration(database_url, tmp_path):
    with migrated_to(database_url, tmp_path, "0009"):
        with write_connection() as conn:
            conn.execute(
                text(
                    "INSERT INTO staff_user (email, password_hash, active, created_at)"
                    " VALUES ('old@example.com', 'x', true, CURRENT_TIMESTAMP)"
                )
            )
        upgrade()
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
        user = db.session.scalars(select(StaffUser)).one()
        assert (user.email, user.role, user.offices, user.has_second_factor) == (
            "old@example.com", "manager", "", False,
        )  # fmt: skip
        db.session.rollback()
        downgrade(revision="0009")
        assert "staff_passkey" not in inspect(db.engine).get_table_names()
        upgrade()


def test_a_passkey_is_removed_from_the_account_page_but_not_the_last_second_step(app):
    with app.app_context():
        user_id = add_staff("new@example.com", second_factor=False)
        with writing():
            for n in (1, 2):
                db.session.add(
                    StaffPasskey(staff_id=user_id, credential_id=f"id{n}", public_key=b"k", name=f"Key {n}")
                )
    client, other = client_as(app, "new"), client_as(app, "new")  # logged in with a passkey, twice
    assert "Key 1" in client.get("/staff/account").get_data(as_text=True)
    assert goes_to(post(client, "/staff/account/passkeys/1/remove"), "/staff/account")
    assert goes_to(other.get("/staff/"), "/staff/login")  # a second step changed: other logins end
    answer = client.get(post(client, "/staff/account/passkeys/2/remove").headers["Location"])
    assert "add another passkey or an authenticator app first" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(StaffPasskey.name)).all() == ["Key 2"]
    [removed] = audit(app, "staff.passkey_remove")
    assert (removed.actor, removed.detail) == ("new@example.com", "passkey 1")
