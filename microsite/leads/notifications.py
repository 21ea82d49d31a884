"""What the outbox sends about a new lead: the staff email to its office, and a `lead.created` webhook to
each of WEBHOOK_URLS (registered in leads.init_app)."""

from __future__ import annotations

from flask import current_app, render_template
from flask_mail import Message

from ..content import current_clinic
from ..models import Lead, Notification
from ..notify import webhook
from ..notify.email import StaffMessage, message_id, reply_to_address, sender, staff_recipients
from ..notify.transport import PermanentError
from .forms import CONTACT_METHODS, best_times


def _label(choices, value: str) -> str:
    """The words the visitor saw for the option they picked."""
    return next((c.label for c in choices if c.value == value), value)


def build_staff_message(notification: Notification) -> Message:
    """Subject and From never carry visitor text; the visitor is only the Reply-To (when usable)."""
    clinic = current_clinic()
    lead = notification.lead
    office = clinic.office(lead.location)
    site_url = current_app.config["SITE_URL"]
    context = {
        "lead": lead,
        "office": office,
        "contact_method": _label(CONTACT_METHODS, lead.contact_method),
        "best_time": _label(best_times(clinic.offices), lead.best_time or "") or "No preference",
        "site_url": site_url,
        "lead_url": f"{site_url}/staff/leads/{lead.id}",
        "prefers_spanish": lead.language == "es",
    }
    # "minimal" keeps health information out of mailboxes: staff read the request at /staff/.
    template = (
        "lead_staff_minimal" if current_app.config.get("LEAD_EMAIL_DETAIL") == "minimal" else "lead_staff"
    )
    reply_to = reply_to_address(lead.email)
    message = StaffMessage(
        # Staff read English; a visitor who wrote from the Spanish pages is to be answered in Spanish.
        # URGENT first, where every mail client shows it: the visitor may be in crisis.
        subject=("URGENT: " if lead.urgent else "")
        + ("Prefers Spanish: " if lead.language == "es" else "")
        + f"Consultation request #{lead.id} – {office.city} office",
        recipients=staff_recipients(lead.location),
        sender=sender(),
        reply_to=reply_to,
        mail_options=[] if reply_to is None or reply_to.isascii() else ["SMTPUTF8"],
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        extra_headers={"X-Lead-Id": str(lead.id), "Auto-Submitted": "auto-generated"},
    )
    message.msgId = message_id(notification)
    return message


def lead_data(lead: Lead) -> dict:
    """The lead as the receiver sees it: no name, contact details or message unless WEBHOOK_DETAIL=full."""
    data = {
        "id": lead.id,
        "office": lead.location,
        "created_at": webhook.iso(lead.created_at),
        "contact_method": lead.contact_method,
        "language": lead.language,
        "staff_url": f"{current_app.config['SITE_URL']}/staff/leads/{lead.id}",
    }
    if current_app.config["WEBHOOK_DETAIL"] == "full":
        data.update(
            full_name=lead.full_name,
            phone=lead.phone,
            email=lead.email,
            best_time=lead.best_time,
            message=lead.message,
            # The self-check's total and band only; its answers stay in the staff inbox.
            phq9_total=lead.phq9_total,
            phq9_band=lead.phq9_band,
        )
    return data


def build_webhook(notification: Notification) -> webhook.WebhookRequest:
    """The `lead.created` webhook of a notification of kind "webhook"."""
    if notification.lead is None:
        raise PermanentError("the webhook's lead is gone")
    if notification.target not in current_app.config["WEBHOOK_URLS"]:
        # Taken out of WEBHOOK_URLS since (say, its business associate agreement ended): send nothing.
        raise PermanentError(f"{webhook.host_of(notification.target or '')} is no longer in WEBHOOK_URLS")
    payload = webhook.body("lead.created", notification.created_at, lead_data(notification.lead))
    return webhook.WebhookRequest(notification.target, webhook.webhook_id(notification), payload)
