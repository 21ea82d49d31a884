"""The kinds of notification the outbox sends, each registered by the package that owns it.

The outbox knows how to claim, send, retry and record a notification, not what one is about. A
package that sends one (a lead's staff email, a webhook, a reminder, a reader's answer) registers
its kind in its `init_app`: the builder that turns the stored row into an email or a webhook, and
what must happen once it is sent. It may also register a finder of what time has made due (a
reminder, the weekly summary), which the outbox's sweeps call. So the dependency points from the
features to the outbox, as Flask's signals or Celery's task registry have it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from flask_babel import force_locale
from flask_mail import Message

from ..models import Notification
from .transport import PermanentError
from .webhook import WebhookRequest


@dataclass(frozen=True)
class Sent:
    """A notification just sent, as its after-sent hook is told of it."""

    id: int
    kind: str
    once_key: str | None
    lead_id: int | None


Builder = Callable[[Notification], Message | WebhookRequest]
AfterSent = Callable[[Sent], None]
# (now) -> rows for `schedule.insert_once`: {"kind", "once_key", "lead_id"}, each key made once ever.
DueFinder = Callable[[datetime], list[dict]]


@dataclass(frozen=True)
class Kind:
    build: Builder
    after_sent: AfterSent | None = None


@dataclass
class Registry:
    kinds: dict[str, Kind] = field(default_factory=dict)
    due_finders: list[DueFinder] = field(default_factory=list)

    def add(self, kind: str, build: Builder, after_sent: AfterSent | None = None) -> None:
        if kind in self.kinds:
            raise ValueError(f"notification kind {kind!r} is registered twice")
        self.kinds[kind] = Kind(build, after_sent)


def registry() -> Registry:
    """This app's kinds of notification."""
    return current_app.extensions["notification_kinds"]


def build(notification: Notification) -> Message | WebhookRequest:
    """The notification's email or webhook, by its kind's builder."""
    kind = registry().kinds.get(notification.kind)
    if kind is None:
        raise PermanentError(f"unknown kind of notification {notification.kind!r}")
    # Staff read English; a builder for a reader's email forces the reader's language itself.
    with force_locale("en"):
        return kind.build(notification)


def after_sent(sent: Sent) -> None:
    """What the kind does once its notification is out (a reader's address forgotten, say)."""
    kind = registry().kinds.get(sent.kind)
    if kind is not None and kind.after_sent is not None:
        kind.after_sent(sent)
