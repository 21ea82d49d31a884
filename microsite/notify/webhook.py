"""Webhooks: a signed POST to a receiver, per the Standard Webhooks specification.

What a webhook says is built by the package that sends it (leads/notifications.py: `lead.created` to
each of WEBHOOK_URLS) while the outbox reads its notification; the signature is made just before each
try, over `webhook-id.webhook-timestamp.body`, so a retry carries the same id and body with a fresh
timestamp (receivers refuse old ones). Redirects are never followed: the body may hold health
information, and only the configured URL may receive it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app
from standardwebhooks import Webhook

from ..models import Notification, utcnow
from .email import base36
from .transport import PermanentError, TransientError

ANSWER_BYTES = 500  # of the receiver's answer: enough for an error message, never a whole page


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    msg_id: str
    body: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def host_of(url: str) -> str:
    """What logs and the staff page name an endpoint by: its host, never a path that may hold a token."""
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url[:40]


def webhook_id(notification: Notification) -> str:
    """The same for every try of one notification, so receivers can drop repeats; never reused.

    Like the emails' Message-ID: the id, its creation time (a re-created database counts from 1 again)
    and a part of this installation's own, derived from SECRET_KEY without revealing it.
    """
    install = hmac.new(current_app.secret_key.encode(), b"webhook-id", hashlib.sha256).hexdigest()[:10]
    created = base36(int(notification.created_at.timestamp() * 1_000_000))
    return f"msg_{notification.id}_{created}{install}"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def body(event: str, moment: datetime, data: dict) -> str:
    return json.dumps({"type": event, "timestamp": iso(moment), "data": data}, separators=(",", ":"))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx comes back as an HTTPError, and counts as a failure


_opener = urllib.request.build_opener(_NoRedirects)


def post(request: WebhookRequest) -> Answer:
    """Sign and POST `request`; any HTTP answer is returned, no answer is a TransientError."""
    secret = current_app.config["WEBHOOK_SECRET"]
    if not secret:
        raise PermanentError("WEBHOOK_SECRET is not set")
    now = utcnow()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "microsite-webhooks/1",
        "webhook-id": request.msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(request.msg_id, now, request.body),
    }
    data = request.body.encode()
    if urlsplit(request.url).scheme not in {"http", "https"}:
        raise PermanentError(f"not an http(s) URL: {host_of(request.url)}")
    outgoing = urllib.request.Request(request.url, data=data, headers=headers, method="POST")  # noqa: S310 -- checked
    timeout = current_app.config["WEBHOOK_TIMEOUT"]
    try:
        with _opener.open(outgoing, timeout=timeout) as response:
            return Answer(response.status, response.read(ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, exc.read(ANSWER_BYTES))
    except urllib.error.URLError as exc:
        # Refused, unknown host, a certificate not trusted: the receiver, not the webhook.
        raise TransientError(f"no answer from {host_of(request.url)}: {exc.reason}") from exc
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise TransientError(f"no answer from {host_of(request.url)}: {type(exc).__name__}: {exc}") from exc


def deliver(request: WebhookRequest) -> int:
    """POST it; returns the 2xx status. 429 and 5xx are retried, any other answer fails at once."""
    answer = post(request)
    status = answer.status
    if 200 <= status < 300:
        return status
    text = f"{host_of(request.url)} answered HTTP {status}"
    if 300 <= status < 400:
        raise PermanentError(f"{text}, a redirect: not followed; correct the URL", status)
    if status == 429 or status >= 500:
        raise TransientError(text, status)
    raise PermanentError(text, status)


def ping(url: str) -> Answer:
    """A signed `ping` to `url`, for `flask webhooks test`: no lead in it."""
    payload = body("ping", utcnow(), {"site_url": current_app.config["SITE_URL"]})
    return post(WebhookRequest(url, f"msg_ping_{secrets.token_hex(8)}", payload))
