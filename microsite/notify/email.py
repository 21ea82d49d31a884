"""The staff email for a lead, rendered from templates/email/."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import Message

from ..leads.forms import BEST_TIMES, CONTACT_METHODS
from ..models import Notification


def _label(choices, value: str) -> str:
    """The words the visitor saw for the option they picked."""
    return next((c.label for c in choices if c.value == value), value)


def staff_recipients(slug: str) -> list[str]:
    """LEAD_NOTIFY_<OFFICE> when set, else the clinic data file's addresses."""
    configured = current_app.config.get(f"LEAD_NOTIFY_{slug.upper()}")
    if configured:
        return [a.strip() for a in configured.split(",") if a.strip()]
    return list(current_app.extensions["clinic"].office(slug).notify)


def message_id(notification_id: int) -> str:
    """Stable across retries, so a mail client folds a rare duplicate into one."""
    host = urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"
    return f"<lead-notification-{notification_id}@{host}>"


def build_staff_message(notification: Notification) -> Message:
    """Subject and From never carry visitor text; the visitor is only the Reply-To."""
    clinic = current_app.extensions["clinic"]
    lead = notification.lead
    office = clinic.office(lead.location)
    site_url = current_app.config["SITE_URL"]
    context = {
        "lead": lead,
        "office": office,
        "contact_method": _label(CONTACT_METHODS, lead.contact_method),
        "best_time": _label(BEST_TIMES, lead.best_time or "") or "No preference",
        "site_url": site_url,
        "lead_url": f"{site_url}/staff/leads/{lead.id}",
    }
    # "minimal" keeps health information out of mailboxes: staff read the request at /staff/.
    template = (
        "lead_staff_minimal" if current_app.config.get("LEAD_EMAIL_DETAIL") == "minimal" else "lead_staff"
    )
    message = Message(
        subject=f"Consultation request #{lead.id} – {office.city} office",
        recipients=staff_recipients(lead.location),
        sender=current_app.config["MAIL_DEFAULT_SENDER"] or clinic.sender,
        reply_to=lead.email,
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        extra_headers={"X-Lead-Id": str(lead.id), "Auto-Submitted": "auto-generated"},
    )
    message.msgId = message_id(notification.id)
    return message
