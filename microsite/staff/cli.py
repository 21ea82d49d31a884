"""`flask staff create|disable|reset-password|list`: manage the staff accounts."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import audit
from ..database import writing
from ..extensions import db
from ..inputs import readable
from ..models import StaffRole, StaffUser
from . import accounts, logins, throttle

staff_cli = AppGroup("staff", help="Manage the staff accounts that log in at /staff/.")


def _prompt_password(email: str) -> str:
    """The password, typed twice, until it is one the browser's forms would take too."""
    while True:
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
        problem = accounts.password_problem(password, email)
        if problem is None:
            return password
        click.echo(problem, err=True)


def _existing(email: str) -> StaffUser:
    user = accounts.find(email)
    if user is None:
        raise click.ClickException(f"no staff account {accounts.normalize_email(email)}")
    return user


def _readable(ctx, param, value: str) -> str:
    if not readable(value):
        raise click.BadParameter("remove the control or invisible characters")
    return value


@staff_cli.command("create")
@click.argument("email", callback=_readable)
@click.option(
    "--role",
    type=click.Choice(list(StaffRole.LABELS)),
    default=StaffRole.STAFF,
    show_default=True,
    help="admin: everything, the team included; manager: every office, exports, dashboard, audit log; "
    "staff: the requests and questions of the offices given, no export.",
)
@click.option(
    "--office",
    "offices",
    multiple=True,
    help="An office a staff account works (bradenton, sarasota); repeat it.",
)
def create(email: str, role: str, offices: tuple[str, ...]) -> None:
    """Create a staff account; asks for its password twice."""
    email = accounts.normalize_email(email)
    if "@" not in email:
        raise click.BadParameter("an email address, please", param_hint="EMAIL")
    offices = tuple(o.strip().lower() for o in offices)
    if problem := accounts.valid_role(role, list(offices)):
        raise click.BadParameter(problem, param_hint="--role/--office")
    if accounts.find(email) is not None:
        raise click.ClickException(f"{email} exists already; use `staff reset-password`")
    password = _prompt_password(email)
    with writing():
        user = accounts.create(email, password, role=role, offices=offices)
        where = f" {' '.join(user.office_list)}" if user.office_list else ""
        audit.record("staff.create", detail=f"{email} {role}{where}", actor="cli")
    click.echo(
        f"Created {email} ({role}{where}). They log in at /staff/login and set up a second step there."
    )


@staff_cli.command("disable")
@click.argument("email", callback=_readable)
def disable(email: str) -> None:
    """Disable an account and end its sessions at once."""
    with writing():
        user = _existing(email)
        user.active = False
        logins.end_all(user)
        audit.record("staff.disable", detail=user.email, actor="cli")
    click.echo(f"Disabled {user.email}; their open sessions have ended.")


@staff_cli.command("reset-password")
@click.argument("email", callback=_readable)
@click.option(
    "--clear-second-factor",
    "--clear-totp",
    "clear_factor",
    is_flag=True,
    help="Also remove their authenticator app, passkeys and recovery codes (a lost phone); they set up "
    "a new second step at their next login.",
)
def reset_password(email: str, clear_factor: bool) -> None:
    """Set a new password (asked twice), re-enable the account, end its sessions and forget its failed
    logins from every address."""
    _existing(email)
    password = _prompt_password(email)
    with writing():
        user = _existing(email)
        accounts.set_password(user, password)
        user.active = True
        if clear_factor:
            accounts.clear_second_factor(user)
        detail = user.email + (" second factor cleared" if clear_factor else "")
        audit.record("staff.reset_password", detail=detail, actor="cli")
    click.echo(f"New password set for {user.email}; their sessions have ended.")


@staff_cli.command("list")
def list_accounts() -> None:
    """The accounts: role and offices, whether each is active, its second steps."""
    for user in db.session.scalars(db.select(StaffUser).order_by(StaffUser.email)).all():
        factors = [f for f, on in (("totp", user.totp_secret), ("passkey", user.passkeys)) if on]
        role = user.role + (f" ({', '.join(user.office_list)})" if user.office_list else "")
        flags = [role, "active" if user.active else "disabled", " + ".join(factors) or "password only"]
        if slowed := throttle.throttled_addresses(user.email):
            flags.append(f"failed logins from {slowed} address{'es' if slowed > 1 else ''} being slowed down")
        click.echo(f"{user.email}\t{', '.join(flags)}")
