"""`flask --app wsgi check`: one line per thing between this configuration and going live; exit 1 while
any remains, 0 when ready. The shipped example names each of its placeholders; a completed clinic file
with production settings passes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import make_config

from microsite import config as settings
from microsite import create_app
from microsite.config import DEFAULT_CLINIC_FILE

ROOT = Path(__file__).resolve().parent.parent
READY = {
    "SITE_URL": "https://www.aakc-clinic.org",
    "MAIL_SERVER": "smtp.aakc-clinic.org",
    "MAIL_DEFAULT_SENDER": "Anti Aging and Ketamine Center <no-reply@aakc-clinic.org>",
    "SECRET_KEY": "0123456789abcdef" * 4,
}


def completed_clinic_file() -> str:
    """The shipped file as a clinic fills it in: its own phones, addresses, reviewer and notice."""
    text = DEFAULT_CLINIC_FILE.read_text(encoding="utf-8")
    for old, new in [
        ("+19415550101", "+19417462100"), ("+19415550102", "+19413662200"),
        ("@example.com", "@aakc-clinic.org"), ("100 Example Street, Suite 1", "1201 Manatee Avenue West"),
        ("200 Example Avenue, Suite 2", "1800 Main Street"),
        ('# [review]\n# reviewer = "Jane Example, MD"\n# reviewed = 2026-11-01',
         '[review]\nreviewer = "Ana Ruiz, MD"\nreviewed = 2026-11-01'),
        ('# notice_url = "https://clinic.example.com/notice-of-privacy-practices.pdf"',
         'notice_url = "https://www.aakc-clinic.org/notice-of-privacy-practices.pdf"'),
    ]:  # fmt: skip
        assert old in text, old
        text = text.replace(old, new)
    return text


def check(tmp_path, clinic_text: str, **overrides):
    clinic_file = tmp_path / "clinic.toml"
    clinic_file.write_text(clinic_text, encoding="utf-8")
    config = make_config(f"sqlite:///{tmp_path / 'check.sqlite3'}", tmp_path, CLINIC_FILE=str(clinic_file))
    config.update(READY, **overrides)
    result = create_app(config).test_cli_runner().invoke(args=["check"])
    return result.exit_code, result.output.splitlines()


def env_example() -> dict[str, str]:
    """deploy/env.example's settings, as an operator copies them."""
    lines = (ROOT / "deploy" / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_shipped_example_names_each_placeholder_and_exits_1(tmp_path):
    """As an operator runs it: `flask --app wsgi check` with deploy/env.example and the shipped clinic
    file, whose example SECRET_KEY would stop the server from starting."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "SITE_", "LEAD_", "DATABASE"))},
        **env_example(),
        "CLINIC_FILE": str(DEFAULT_CLINIC_FILE),
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "check"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    expected = [
        "clinic file: sender has the example address no-reply@example.com",
        "clinic file: manager[0] has the example address manager@example.com",
        "clinic file: privacy.contact_email has the example address privacy@example.com",
        'clinic file: offices[bradenton].street has the placeholder "100 Example Street, Suite 1"',
        "clinic file: offices[bradenton].phone has the fictional number +19415550101",
        "clinic file: offices[bradenton].notify[0] has the example address bradenton-staff@example.com",
        'clinic file: offices[sarasota].street has the placeholder "200 Example Avenue, Suite 2"',
        "clinic file: offices[sarasota].phone has the fictional number +19415550102",
        "clinic file: offices[sarasota].notify[0] has the example address sarasota-staff@example.com",
        "clinic file: no [review] reviewer and reviewed date: the article shows no medical review",
        "clinic file: no [privacy] notice_url: the privacy notice cannot link the clinic's HIPAA Notice of "
        "Privacy Practices",
        "SITE_URL is https://clinic.example.com: an example address",
        "MAIL_SERVER is smtp.example.com: an example address",
        "MAIL_DEFAULT_SENDER is Anti Aging and Ketamine Center <no-reply@clinic.example.com>: an example "
        "address",
        "LEAD_NOTIFY_BRADENTON is bradenton-staff@clinic.example.com: an example address",
        "LEAD_NOTIFY_SARASOTA is sarasota-staff@clinic.example.com: an example address",
    ]
    assert lines[: len(expected)] == expected
    assert lines[len(expected)].startswith("SECRET_KEY is still the example from deploy/env.example")
    assert lines[-1].startswith(f"{len(expected) + 1} thing(s) to settle before going live")


def test_a_completed_clinic_file_with_production_settings_is_ready(tmp_path):
    code, lines = check(tmp_path, completed_clinic_file())
    assert (code, lines) == (0, ["Nothing left to settle: this configuration is ready to go live."])


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"SITE_URL": "http://www.aakc-clinic.org"}, "SITE_URL is http://www.aakc-clinic.org: it must be the "
         "site's https:// address"),
        ({"MAIL_SERVER": None}, "MAIL_SERVER is not set: staff emails are only written to files under "
         "instance/mail/"),
        ({"LEAD_NOTIFY_SARASOTA": "front-desk@clinic.test"},
         "LEAD_NOTIFY_SARASOTA is front-desk@clinic.test: an example address"),
        ({"clinic": ("[review]\nreviewer", "[review]\n# reviewer")},
         "clinic file: no [review] reviewer and reviewed date: the article shows no medical review"),
        ({"clinic": ("notice_url = ", "# notice_url = ")},
         "clinic file: no [privacy] notice_url: the privacy notice cannot link the clinic's HIPAA Notice of "
         "Privacy Practices"),
        ({"clinic": ("+19413662200", "(941) 555-0142")}, "clinic file: offices[sarasota].phone has the "
         "fictional number (941) 555-0142"),
    ],
)  # fmt: skip
def test_each_thing_left_is_one_line_and_exit_1(tmp_path, change, line):
    text = completed_clinic_file()
    if "clinic" in change:
        old, new = change.pop("clinic")
        text = text.replace(old, new, 1)
    code, lines = check(tmp_path, text, **change)
    assert code == 1
    assert lines[:-1] == [line]


def test_the_command_line_builds_the_app_with_the_example_key_but_serves_nothing(tmp_path):
    """`flask check` must be able to name the example SECRET_KEY; `flask run` must not serve with it."""
    config = make_config(
        f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path, SECRET_KEY=settings.EXAMPLE_SECRET_KEY
    )
    with click.Context(click.Command("run")):
        app = create_app(config)
    response = app.test_client().get("/")
    assert response.status_code == 503 and response.headers["Cache-Control"] == "no-store"
    assert not re.search("SECRET_KEY|change-me", response.get_data(as_text=True))
    with pytest.raises(RuntimeError, match=r"deploy/env\.example"):
        create_app(config)  # any other way: refused at start-up
