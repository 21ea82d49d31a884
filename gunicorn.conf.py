"""gunicorn's settings file, read from the working directory by `gunicorn wsgi:app`."""

from flask import Flask


def post_worker_init(worker):
    """Start the outbox sender as each worker boots, not at its first request.

    After a crash or a deploy, notifications left pending go out at once, even when no
    visitor comes by to wake the worker up. A worker forks first, so threads start here.
    """
    from microsite.notify import start_inline_sender

    if isinstance(worker.wsgi, Flask):
        start_inline_sender(worker.wsgi)
