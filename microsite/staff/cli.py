"""`flask staff create|disable|reset-password|list`: manage the staff accounts."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import audit
from ..database import writing
from ..extensions import db
from ..models import StaffUser
from . import accounts, logins, throttle

staff_cli = AppGroup("staff", help="Manage the staff accounts that log in at /staff/.")


def _prompt_password() -> str:
    while True:
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
        problem = accounts.password_problem(password)
        if problem is None:
            return password
        click.echo(problem, err=True)


def _existing(email: str) -> StaffUser:
    user = accounts.find(email)
    if user is None:
        raise click.ClickException(f"no staff account {accounts.normalize_email(email)}")
    return user


@staff_cli.command("create")
@click.argument("email")
def create(email: str) -> None:
    """Create a staff account; asks for its password twice."""
    email = accounts.normalize_email(email)
    if "@" not in email:
        raise click.BadParameter("an email address, please", param_hint="EMAIL")
    if accounts.find(email) is not None:
        raise click.ClickException(f"{email} exists already; use `staff reset-password`")
    password = _prompt_password()
    with writing():
        accounts.create(email, password)
        audit.record("staff.create", detail=email, actor="cli")
    click.echo(f"Created {email}. They can log in at /staff/login.")


@staff_cli.command("disable")
@click.argument("email")
def disable(email: str) -> None:
    """Disable an account and end its sessions at once."""
    with writing():
        user = _existing(email)
        user.active = False
        logins.end_all(user)
        audit.record("staff.disable", detail=user.email, actor="cli")
    click.echo(f"Disabled {user.email}; their open sessions have ended.")


@staff_cli.command("reset-password")
@click.argument("email")
@click.option("--clear-totp", is_flag=True, help="Also turn off their second step (a lost phone).")
def reset_password(email: str, clear_totp: bool) -> None:
    """Set a new password (asked twice), re-enable the account, end its sessions and forget its failed
    logins from every address."""
    _existing(email)
    password = _prompt_password()
    with writing():
        user = _existing(email)
        accounts.set_password(user, password)
        user.active = True
        if clear_totp:
            accounts.disable_totp(user)
        audit.record(
            "staff.reset_password", detail=user.email + (" totp cleared" if clear_totp else ""), actor="cli"
        )
    click.echo(f"New password set for {user.email}; their sessions have ended.")


@staff_cli.command("list")
def list_accounts() -> None:
    """The accounts, whether each is active and has a second step."""
    for user in db.session.scalars(db.select(StaffUser).order_by(StaffUser.email)).all():
        flags = ["active" if user.active else "disabled", "totp" if user.totp_secret else "password only"]
        if slowed := throttle.throttled_addresses(user.email):
            flags.append(f"failed logins from {slowed} address{'es' if slowed > 1 else ''} being slowed down")
        click.echo(f"{user.email}\t{', '.join(flags)}")
