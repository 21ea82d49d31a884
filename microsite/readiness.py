"""`flask --app wsgi check`: what still stands between this configuration and going live, one line each.

The site runs with its shipped example data and embedded defaults, which is right for trying it and
wrong for a clinic's visitors: fictional 555-01xx phones and example.com / .test addresses in the
clinic file, an article no clinician has signed, no Notice of Privacy Practices to point patients to,
plain HTTP, staff emails that only land in instance/mail/, or deploy/env.example's SECRET_KEY. The
command lists each that remains and exits 1; with none, it says so and exits 0.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import config as settings
from .content import current_clinic
from .content.clinic import strings_in

# The numbers reserved for fiction (555-0100 to 555-0199), written any way: +19415550101, (941) 555-0101.
PLACEHOLDER_PHONE = re.compile(r"(?<!\d)(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?555[\s.-]?01\d\d(?!\d)")
# Names reserved for examples and tests (RFC 2606, RFC 6761): an address there reaches nobody.
RESERVED_SUFFIXES = (
    ".example",
    ".test",
    ".invalid",
    ".localhost",
    ".example.com",
    ".example.net",
    ".example.org",
)
RESERVED_NAMES = {"example.com", "example.net", "example.org", "localhost"}
EMAIL = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")
URL = re.compile(r"https?://([^/\s:\"'>]+)")
# The shipped file's made-up streets, names and firm ("100 Example Street", "Jane Example, MD").
EXAMPLE_WORD = re.compile(r"\b(?:Example|Ejemplo)\b")
# Settings whose values name hosts or addresses (and every LEAD_NOTIFY_<OFFICE>).
ADDRESS_SETTINGS = ("SITE_URL", "MAIL_SERVER", "MAIL_DEFAULT_SENDER")


def reserved(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in RESERVED_NAMES or host.endswith(RESERVED_SUFFIXES)


def placeholders_in(text: str) -> list[str]:
    """What in `text` is an example: a 555-01xx phone, an address or link at a reserved name, the word
    "Example"."""
    found = [f"the fictional number {m.group(0).strip()}" for m in PLACEHOLDER_PHONE.finditer(text)]
    found += [f"the example address {m.group(0)}" for m in EMAIL.finditer(text) if reserved(m.group(1))]
    found += [f"the example link {m.group(0)}" for m in URL.finditer(text) if reserved(m.group(1))]
    if not found and EXAMPLE_WORD.search(text):
        found.append(f'the placeholder "{text}"')
    return found


def clinic_file_problems(path: Path) -> list[str]:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return [
        f"clinic file: {where} has {placeholder}"
        for where, text in strings_in(data)
        for placeholder in placeholders_in(text)
    ]


def problems(config: dict[str, Any]) -> list[str]:
    """What stands between `config` (and its clinic file) and going live, one sentence each."""
    clinic = current_clinic()
    found = clinic_file_problems(Path(config["CLINIC_FILE"]))
    if not (clinic.reviewer and clinic.reviewed):
        found.append(
            "clinic file: no [review] reviewer and reviewed date: the article shows no medical review"
        )
    if not clinic.privacy.notice_url:
        found.append(
            "clinic file: no [privacy] notice_url: the privacy notice cannot link the clinic's HIPAA "
            "Notice of Privacy Practices"
        )
    site_url = config["SITE_URL"]
    if urlsplit(site_url).scheme != "https":
        found.append(f"SITE_URL is {site_url}: it must be the site's https:// address")
    if not config.get("MAIL_SERVER"):
        found.append("MAIL_SERVER is not set: staff emails are only written to files under instance/mail/")
    for name in (*ADDRESS_SETTINGS, *sorted(k for k in config if k.startswith("LEAD_NOTIFY_"))):
        value = config.get(name) or ""
        hosts = [m.group(1) for m in EMAIL.finditer(value)] + [m.group(1) for m in URL.finditer(value)]
        if name == "MAIL_SERVER" and value:
            hosts.append(value)
        if any(reserved(host) for host in hosts):
            found.append(f"{name} is {value}: an example address")
    found += settings.unsafe_to_serve(config)
    return found


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Say what still stands between this configuration and going live; exit 1 while anything does."""
    found = problems(current_app.config)
    for line in found:
        click.echo(line)
    if found:
        click.echo(
            f"{len(found)} thing(s) to settle before going live (docs/operating.md, 'Before going live')."
        )
        raise SystemExit(1)
    click.echo("Nothing left to settle: this configuration is ready to go live.")


def init_app(app: Flask) -> None:
    app.cli.add_command(check_command)
