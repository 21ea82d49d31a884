"""The staff side's defences: throttling instead of a lockout, logins that end on the server, one-time
codes that work once under parallel requests, log lines nobody can forge, the account page's checks,
the TOTP secret kept off the cookie, the `__Host-` cookie, the login's rate limit before the token."""

from __future__ import annotations

import logging
import re
import statistics
import threading
import time
from datetime import timedelta

import pyotp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import SITE_URL, add_staff, hidden_fields, make_config, migrated_to
from flask.sessions import SecureCookieSessionInterface
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select, text, update
from test_staff import EMAIL, PASSWORD, code_step, csrf, enable_totp, goes_to_login, login, password_only

from microsite import create_app
from microsite.config import PASSWORD_HASH_METHOD
from microsite.database import write_connection, writing
from microsite.extensions import db
from microsite.models import LoginThrottle, StaffSession, StaffUser, utcnow
from microsite.staff import accounts, throttle

# On SQLite; on PostgreSQL too where the throttle's upserts, parallel logins, expiry or a migration are
# the point. Cookies, timing and the forms' checks come before SQL.

STRANGER = "203.0.113.9"
OWNER = "198.51.100.7"
NO_MATCH = "That email and password do not match an active staff account."


@pytest.fixture
def staff(app):
    """A manager with an authenticator app set up."""
    with app.app_context():
        add_staff(EMAIL, PASSWORD)
    return EMAIL


@pytest.fixture
def unenrolled(app):
    """A manager with only a password, where a second step is optional: the one being tried here."""
    app.config["STAFF_SECOND_FACTOR"] = "optional"
    with app.app_context():
        add_staff(EMAIL, PASSWORD, second_factor=False)
    return EMAIL


def client_from(app, address: str):
    """A browser of its own, at `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def error_of(response) -> str:
    """The message next to the form's field, as a person reads it."""
    found = re.search(r'<p class="error-message"[^>]*>(.*?)</p>', response.get_data(as_text=True), re.S)
    return re.sub(r"<[^>]+>|\s+", " ", found.group(1)).replace("Error:", "").strip() if found else ""


def throttle_rows(app) -> dict[tuple[str, str], int]:
    with app.app_context():
        rows = db.session.scalars(select(LoginThrottle)).all()
        return {(row.account, row.address): row.failures for row in rows}


def session_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(StaffSession))


def logout(client):
    return client.post("/staff/logout", data={"csrf_token": csrf(client, "/staff/")})


# -- throttling instead of a lockout --------------------------------------------


@pytest.mark.both_databases
def test_a_stranger_is_throttled_while_the_owner_logs_in_from_their_own_address(app, staff):
    stranger, owner = client_from(app, STRANGER), client_from(app, OWNER)
    for _ in range(app.config["STAFF_THROTTLE_AFTER"]):
        assert error_of(login(stranger, password="guess guess guess")) == NO_MATCH
    # Throttled now: even the right password gets the wrong password's answer, nothing that says so.
    response = login(stranger)
    assert response.status_code == 200 and error_of(response) == NO_MATCH
    assert "lock" not in response.get_data(as_text=True).lower()
    assert goes_to_login(stranger.get("/staff/"))
    # The real person, from their own address, is not held up by it.
    assert login(owner).status_code == 303
    assert owner.get("/staff/").status_code == 200


@pytest.mark.both_databases
def test_an_unknown_account_is_throttled_exactly_like_a_real_one(app, staff, caplog):
    caplog.set_level(logging.WARNING, logger="microsite")
    free = app.config["STAFF_THROTTLE_AFTER"]
    answers = {}
    for email in (EMAIL, "nobody@example.com"):
        stranger = client_from(app, STRANGER)
        answers[email] = [error_of(login(stranger, email=email, password="guess")) for _ in range(free + 1)]
    assert answers[EMAIL] == answers["nobody@example.com"] == [NO_MATCH] * (free + 1)
    throttled = [r.getMessage() for r in caplog.records if "throttled" in r.getMessage()]
    assert len(throttled) == 2, throttled
    assert "for staff 1 from 203.0.113.9" in throttled[0]
    assert "for no such account nobody@example.com from 203.0.113.9" in throttled[1]


def test_a_throttled_attempt_takes_as_long_as_a_wrong_password(app, staff):
    """Throttled, the password is still hashed: the answer's time does not tell it apart."""
    app.config["STAFF_THROTTLE_AFTER"] = 3
    # Production's scrypt cost, both for the account's hash and the one a throttled attempt checks.
    app.config["PASSWORD_HASH_METHOD"] = PASSWORD_HASH_METHOD
    with app.app_context(), writing():
        accounts.set_password(accounts.find(EMAIL), PASSWORD)
    stranger = client_from(app, STRANGER)

    def timed() -> float:
        fields = hidden_fields(stranger.get("/staff/login").get_data(as_text=True))
        started = time.perf_counter()
        stranger.post("/staff/login", data={**fields, "email": EMAIL, "password": "guess guess"})
        return time.perf_counter() - started

    wrong = [timed() for _ in range(3)]
    throttled = [timed() for _ in range(3)]
    assert throttle_rows(app)[throttle.account_key(EMAIL), STRANGER] == 3  # the last three were throttled
    ratio = statistics.median(throttled) / statistics.median(wrong)
    assert 0.5 < ratio < 2, (wrong, throttled)


@pytest.mark.both_databases
def test_waits_double_up_to_the_cap_and_run_out(app, staff):
    with app.app_context():
        assert [throttle.delay(n, 5) for n in (0, 4, 5, 6, 7, 10)] == [0, 0, 2, 4, 8, 64]
        assert throttle.delay(40, 5) == app.config["STAFF_THROTTLE_MAX_SECONDS"] == 900
    stranger = client_from(app, STRANGER)
    for _ in range(6):
        login(stranger, password="guess guess guess")  # five counted, then 2 s to wait: the sixth is not
    assert throttle_rows(app)[throttle.account_key(EMAIL), STRANGER] == 5
    assert error_of(login(stranger)) == NO_MATCH
    with app.app_context(), writing():
        # A controlled clock: the last failure was 3 s ago, past the 2 s wait.
        db.session.execute(update(LoginThrottle).values(last_failure_at=utcnow() - timedelta(seconds=3)))
    assert login(stranger).status_code == 303
    # The success forgets this account's failures from this address; the address's own count stays.
    assert throttle_rows(app) == {("", STRANGER): 5}


@pytest.mark.both_databases
def test_an_address_trying_many_accounts_is_throttled_for_every_account(app, staff):
    app.config["STAFF_THROTTLE_ADDRESS_AFTER"] = 4
    stranger = client_from(app, STRANGER)
    for n in range(4):
        login(stranger, email=f"guess{n}@example.com", password="guess guess guess")
    assert error_of(login(stranger)) == NO_MATCH  # an account it never tried
    assert login(client_from(app, OWNER)).status_code == 303


@pytest.mark.both_databases
def test_an_ipv6_client_is_counted_by_its_64_block(app, staff):
    """One household or server gets a whole /64: hopping within it does not escape the count."""
    for _ in range(app.config["STAFF_THROTTLE_AFTER"]):
        login(client_from(app, "2001:db8:0:1::1"), password="guess guess guess")
    assert error_of(login(client_from(app, "2001:db8:0:1::2"))) == NO_MATCH
    assert login(client_from(app, "2001:db8:0:2::1")).status_code == 303


@pytest.mark.both_databases
def test_reset_password_forgets_the_failed_logins(app, runner, staff):
    stranger = client_from(app, STRANGER)
    for _ in range(app.config["STAFF_THROTTLE_AFTER"]):
        login(stranger, password="guess guess guess")
    listed = runner.invoke(args=["staff", "list"])
    assert "failed logins from 1 address being slowed down" in listed.output, listed.output
    result = runner.invoke(args=["staff", "reset-password", EMAIL], input="a brand new password\n" * 2)
    assert result.exit_code == 0, result.output
    assert "slowed down" not in runner.invoke(args=["staff", "list"]).output
    assert login(stranger, password="a brand new password").status_code == 303


# -- a login ends on the server ----------------------------------------------------


def copy_of(app, client):
    """Another browser with a copy of `client`'s session cookie."""
    name = app.config["SESSION_COOKIE_NAME"]
    other = client_from(app, OWNER)
    other.set_cookie(name, client.get_cookie(name).value)
    return other


def test_a_copied_cookie_opens_nothing_after_logout(app, client, staff):
    assert login(client).status_code == 303
    copy = copy_of(app, client)
    assert copy.get("/staff/").status_code == 200  # the copy is a working login until then
    assert session_rows(app) == 1
    assert goes_to_login(logout(client))
    assert session_rows(app) == 0
    assert goes_to_login(copy.get("/staff/"))
    assert goes_to_login(copy.get("/staff/leads/1"))


@pytest.mark.parametrize(
    "command", [["staff", "disable", EMAIL], ["staff", "reset-password", EMAIL]], ids=["disable", "reset"]
)
def test_a_copied_cookie_opens_nothing_after_the_account_is_disabled_or_reset(
    app, client, runner, staff, command
):
    assert login(client).status_code == 303
    copy = copy_of(app, client)
    assert copy.get("/staff/").status_code == 200
    result = runner.invoke(args=command, input="a brand new password\n" * 2)
    assert result.exit_code == 0, result.output
    assert goes_to_login(copy.get("/staff/"))
    assert goes_to_login(client.get("/staff/"))
    assert session_rows(app) == 0


@pytest.mark.both_databases
def test_a_password_change_ends_the_other_logins_but_this_one(app, staff):
    here, elsewhere = client_from(app, OWNER), client_from(app, STRANGER)
    login(here)
    login(elsewhere)
    response = here.post(
        "/staff/account/password",
        data={"csrf_token": csrf(here, "/staff/account"), "current": PASSWORD,
              "new": "a brand new password", "repeat": "a brand new password"},
    )  # fmt: skip
    assert response.status_code == 303
    assert here.get("/staff/").status_code == 200
    assert goes_to_login(elsewhere.get("/staff/"))
    assert session_rows(app) == 1


def test_turning_the_second_step_on_or_off_ends_the_other_logins(app, unenrolled):
    here, elsewhere = client_from(app, OWNER), client_from(app, STRANGER)
    password_only(here)
    password_only(elsewhere)
    secret, recovery, _ = enable_totp(here)
    assert here.get("/staff/").status_code == 200
    assert goes_to_login(elsewhere.get("/staff/"))
    password_only(elsewhere)
    code_step(elsewhere, pyotp.TOTP(secret).at(time.time() + 30))
    assert elsewhere.get("/staff/").status_code == 200
    response = here.post(
        "/staff/account/totp/off",
        data={"csrf_token": csrf(here, "/staff/account"), "password": PASSWORD, "code": recovery[0]},
    )
    assert response.status_code == 303
    assert here.get("/staff/").status_code == 200
    assert goes_to_login(elsewhere.get("/staff/"))


@pytest.mark.both_databases
def test_expired_logins_are_deleted_at_the_next_login(app, client, staff):
    login(client)
    with app.app_context(), writing():
        db.session.execute(update(StaffSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert goes_to_login(client.get("/staff/"))
    login(client_from(app, OWNER))
    assert session_rows(app) == 1


# -- each failure counts and each code works once, with parallel requests --------------


def at_once(clients, send) -> list:
    """`send(client)` for every client in threads released together; their answers."""
    answers: list = [None] * len(clients)
    go = threading.Barrier(len(clients), timeout=30)

    def run(n: int) -> None:
        go.wait()
        try:
            answers[n] = send(clients[n])
        except Exception as exc:
            answers[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


@pytest.mark.both_databases
def test_nine_parallel_wrong_passwords_all_count(app, staff):
    app.config.update(STAFF_THROTTLE_AFTER=10, STAFF_THROTTLE_ADDRESS_AFTER=10)  # none is turned away
    clients = [client_from(app, STRANGER) for _ in range(9)]
    forms = {id(c): hidden_fields(c.get("/staff/login").get_data(as_text=True)) for c in clients}

    def wrong(client):
        return client.post("/staff/login", data={**forms[id(client)], "email": EMAIL, "password": "guess"})

    answers = at_once(clients, wrong)
    assert [getattr(a, "status_code", a) for a in answers] == [200] * 9
    assert throttle_rows(app) == {(throttle.account_key(EMAIL), STRANGER): 9, ("", STRANGER): 9}


def pending_logins(app, count: int) -> list:
    """`count` browsers past the password, each on the code step."""
    clients = [client_from(app, OWNER) for _ in range(count)]
    for client in clients:
        assert client.get("/staff/login/code").status_code in (302, 303)  # nothing pending yet
        assert password_only(client).headers["Location"] == "/staff/login/code"
    return clients


def send_code(code: str):
    def send(client):
        fields = hidden_fields(client.get("/staff/login/code").get_data(as_text=True))
        return client.post("/staff/login/code", data={**fields, "code": code})

    return send


@pytest.mark.both_databases
def test_the_same_codes_work_once_in_parallel(app, staff):
    app.config.update(STAFF_THROTTLE_AFTER=10, STAFF_THROTTLE_ADDRESS_AFTER=10)  # none is turned away
    with app.app_context(), writing():
        user = accounts.find(EMAIL)
        secret = accounts.new_totp_secret()
        recovery = accounts.enable_totp(user, secret, 0)
    code = pyotp.TOTP(secret).now()
    answers = at_once(pending_logins(app, 4), send_code(code))
    assert sorted(getattr(a, "status_code", a) for a in answers) == [200, 200, 200, 303], answers
    answers = at_once(pending_logins(app, 4), send_code(recovery[0]))
    assert sorted(getattr(a, "status_code", a) for a in answers) == [200, 200, 200, 303], answers
    with app.app_context():
        assert accounts.recovery_codes_left(accounts.find(EMAIL)) == 9
    assert throttle_rows(app)["", OWNER] == 6  # each refused code counted


# -- nothing typed makes a log line ---------------------------------------------------


def test_control_characters_in_a_login_email_are_refused_before_any_lookup_or_log_line(
    app, client, staff, caplog
):
    """The rule for text from outside (inputs.py) refuses the field: nothing is looked up or logged, so
    nothing typed can start a fake log line. (What is logged of a login is escaped too: logs.printable.)"""
    caplog.set_level(logging.INFO, logger="microsite")
    forged = (
        "x@example.com\n2026-11-30T12:00:00\tINFO\tmicrosite.staff:\tstaff\tlogin:\tstaff\t1\u2028\x1b[2K"
    )
    fields = hidden_fields(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={**fields, "email": forged, "password": "guess"})
    assert response.status_code == 422
    assert "special or invisible characters" in response.get_data(as_text=True)
    assert [r.getMessage() for r in caplog.records if "staff login" in r.getMessage()] == []


# -- the account page's checks -----------------------------------------------------------


def test_the_account_pages_password_checks_count_in_the_login_throttle(app, staff):
    app.config["STAFF_THROTTLE_AFTER"] = 3
    here = client_from(app, OWNER)
    login(here)

    def change(current: str):
        return here.post(
            "/staff/account/password",
            data={"csrf_token": csrf(here, "/staff/account"), "current": current,
                  "new": "a brand new password", "repeat": "a brand new password"},
        )  # fmt: skip

    for _ in range(3):
        assert error_of(change("guess guess guess")) == "That is not your current password."
    response = change(PASSWORD)  # throttled: the right one is refused the same way
    assert response.status_code == 422 and error_of(response) == "That is not your current password."
    assert "do not match" in login(client_from(app, OWNER)).get_data(as_text=True)  # the same count
    assert login(client_from(app, STRANGER)).status_code == 303  # the password did not change


def test_turning_the_second_step_off_needs_a_code_too(app, unenrolled):
    here = client_from(app, OWNER)
    password_only(here)
    secret, _, _ = enable_totp(here)

    def off(**data):
        return here.post("/staff/account/totp/off", data={"csrf_token": csrf(here, "/staff/account"), **data})

    assert off(password=PASSWORD).status_code == 422  # the password alone
    assert off(password=PASSWORD, code="123456").status_code == 422
    assert off(password="guess guess guess", code=pyotp.TOTP(secret).at(time.time() + 30)).status_code == 422
    with app.app_context():
        assert accounts.find(EMAIL).totp_secret == secret
    assert off(password=PASSWORD, code=pyotp.TOTP(secret).at(time.time() + 30)).status_code == 303
    with app.app_context():
        assert accounts.find(EMAIL).totp_secret is None


# -- the TOTP secret stays on the server, the cookie is `__Host-` over HTTPS --------------


def cookie_contents(app, client) -> str:
    """The session cookie as its holder can read it (signed, not encrypted) and its raw value."""
    value = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    data = SecureCookieSessionInterface().get_signing_serializer(app).loads(value)
    return f"{data!r} {value}"


def test_the_totp_secret_being_set_up_stays_on_the_server(app, client, unenrolled):
    password_only(client)
    page = client.get("/staff/account/totp").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    assert secret not in cookie_contents(app, client)
    assert secret in client.get("/staff/account/totp").get_data(as_text=True)  # shown again, the same
    with app.app_context():
        assert db.session.scalar(select(StaffSession.totp_setup_secret)) == secret
    client.post("/staff/account/totp/cancel", data={"csrf_token": csrf(client, "/staff/account")})
    with app.app_context():
        assert db.session.scalar(select(StaffSession.totp_setup_secret)) is None
    secret, _, _ = enable_totp(client)  # a new one, confirmed
    assert secret not in cookie_contents(app, client)
    with app.app_context():
        assert db.session.scalar(select(StaffSession.totp_setup_secret)) is None
        assert accounts.find(EMAIL).totp_secret == secret


@pytest.mark.parametrize(
    "site_url,cookie",
    [(SITE_URL, "__Host-session"), ("http://127.0.0.1:5000", "session")],
    ids=["https", "http"],
)
def test_the_session_cookie_is_host_prefixed_over_https(database_url, tmp_path, site_url, cookie):
    app = create_app(make_config(database_url, tmp_path, SITE_URL=site_url, STAFF_SECOND_FACTOR="optional"))
    with app.app_context():
        db.create_all()
        with writing():
            accounts.create(EMAIL, PASSWORD)
    try:
        client = app.test_client()
        headers = {"Sec-Fetch-Site": "same-origin"}
        fields = hidden_fields(client.get("/staff/login").get_data(as_text=True))
        response = client.post(
            "/staff/login", data={**fields, "email": EMAIL, "password": PASSWORD}, headers=headers
        )
        assert response.status_code == 303
        [set_cookie] = response.headers.getlist("Set-Cookie")
        attributes = [part.strip().lower() for part in set_cookie.split(";")]
        assert set_cookie.startswith(f"{cookie}=")
        assert "path=/" in attributes and not any(a.startswith("domain=") for a in attributes)
        assert ("secure" in attributes) == site_url.startswith("https://")
        assert client.get("/staff/").status_code == 200
    finally:
        with app.app_context():
            db.drop_all()
            db.engine.dispose()


# -- the rate limit comes before the token check -----------------------


def test_login_posts_without_a_token_are_rate_limited_before_the_token_check(database_url, tmp_path):
    app = create_app(
        make_config(database_url, tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_STAFF_LOGIN="10 per minute")
    )
    with app.app_context():
        db.create_all()
    try:
        client = app.test_client()
        same_origin = {"Sec-Fetch-Site": "same-origin", "Origin": SITE_URL}
        # Other staff POSTs do not use up the login's limit.
        for _ in range(10):
            assert client.post("/staff/leads/1/status", headers=same_origin).status_code == 303
        statuses = [
            client.post(
                "/staff/login", data={"email": EMAIL, "password": "x"}, headers=same_origin
            ).status_code
            for _ in range(12)
        ]
        assert statuses == [303] * 10 + [429] * 2  # the first ten are "that form had expired"
    finally:
        with app.app_context():
            db.drop_all()
            db.engine.dispose()


# -- the migration --------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_migration_0004_upgrades_and_downgrades_with_the_accounts_kept(database_url, tmp_path):
    with migrated_to(database_url, tmp_path, "0003"):
        with write_connection() as conn:
            conn.execute(
                text(
                    "INSERT INTO staff_user (email, password_hash, active, created_at,"
                    " session_token, failed_logins)"
                    " VALUES ('old@example.com', 'x', true, CURRENT_TIMESTAMP, 'old-token', 3)"
                )
            )
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"staff_session", "login_throttle"} <= tables
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
        assert db.session.scalar(select(StaffUser.email)) == "old@example.com"
        db.session.rollback()

        downgrade(revision="0003")
        assert not {"staff_session", "login_throttle"} & set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            email, token, failures = conn.execute(
                text("SELECT email, session_token, failed_logins FROM staff_user")
            ).one()
        assert email == "old@example.com" and len(token) == 32 and failures == 0
        upgrade()


def test_passwords_are_hashed_at_scrypts_own_cost_which_only_tests_may_lower(database_url, tmp_path):
    config = make_config(database_url, tmp_path)
    del config["PASSWORD_HASH_METHOD"]
    with create_app(config).app_context():
        assert accounts.hash_password(PASSWORD).startswith("scrypt:32768:8:1$")
    serving = {**make_config(database_url, tmp_path), "TESTING": False, "SECRET_KEY": "k" * 64}
    with pytest.raises(RuntimeError, match="PASSWORD_HASH_METHOD is 'scrypt' outside tests"):
        create_app(serving)
