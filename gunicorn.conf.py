"""gunicorn's settings file, read from the working directory by `gunicorn wsgi:app`.

Every setting can be overridden on the command line (`--bind 0.0.0.0:8000`) or with the
environment variables below. `make bench` serves the app and its hello-world baseline with this file.
"""

import os
import shutil
import tempfile
from pathlib import Path

from flask import Flask
from gunicorn.glogging import Logger

# /metrics under several workers (METRICS_TOKEN set): prometheus_client's multiprocess mode, each
# worker's counts in files of this folder, summed at each scrape. It must be chosen before any worker
# imports prometheus_client, so here, as gunicorn reads this file. Unset: a folder of this run's own.
_METRICS_PREFIX = "microsite-metrics-"
if os.environ.get("METRICS_TOKEN") and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_METRICS_PREFIX)

# Listen on loopback by default: a proxy (deploy/nginx) faces the internet, not gunicorn.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Chosen by measurement (`make bench` with the settings below overridden, docs/operating.md, "Deploy"):
# gthread, one process per CPU plus one, 4 threads each. On this 2-CPU machine it served GET / as fast
# as 5 sync workers and the POST about 1.4x faster: fewer processes queue for SQLite's single write
# lock, and idle keep-alive connections cost a thread, not a process. WEB_CONCURRENCY overrides.
_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
workers = int(os.environ.get("WEB_CONCURRENCY") or _cpus + 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS") or 4)

# A request that runs longer than this is stuck: the worker is killed and replaced.
timeout = 30
# On SIGTERM or SIGHUP (reload), workers finish the requests in hand for up to this long.
graceful_timeout = 30
keepalive = 5
# No periodic recycling (max_requests): each worker's outbox sender may hold a message, and a
# recycled worker would leave it to its lease (minutes) instead of sending it now.
# Heartbeat files in memory rather than on a possibly slow disk (a container's /tmp may be overlayfs).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 -- gunicorn's own heartbeat
# Signals (TERM, HUP, TTIN/TTOU) manage the server; a control socket in $HOME would be shared by
# every gunicorn of the same user on the machine.
control_socket_disable = True

# The access log: method, path WITHOUT the query string, status, size and time. Never the query
# string (search terms, campaign tags), the referrer (it may carry one) or any body.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms pid=%(p)s'


class AccessLogger(Logger):
    """gunicorn's logger, its access log's every field escaped.

    gunicorn writes the decoded path, the headers and the request line as they came: `/x%0aforged`
    would start a second line that looks like ours. Here control and other invisible characters are
    escaped (\\n, \\x1b, \\u202e) first. Defined here rather than in `microsite`: gunicorn's master
    would otherwise import the whole app (a second of CPU) only to write log lines.
    """

    def atoms(self, resp, req, environ, request_time):
        return {
            key: _printable(value[:4096]) if isinstance(value, str) else value
            for key, value in super().atoms(resp, req, environ, request_time).items()
        }


def _printable(text: str) -> str:
    return "".join(
        ch if ch.isprintable() and ch != "\\" else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


logger_class = AccessLogger
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def on_starting(server):
    """Counts start at zero with each start: files left by a previous run's workers would be summed in."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for path in Path(folder).glob("*.db"):
            path.unlink(missing_ok=True)


def child_exit(server, worker):
    """A worker that exited (or was killed) is no longer one whose live figures are summed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Imported here: only with /metrics, after the variable above chose the multiprocess mode.
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """The folder this file made for the counts goes with the server (one the operator named stays)."""
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or "/nonexistent")
    if folder.parent == Path(tempfile.gettempdir()) and folder.name.startswith(_METRICS_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)


def post_worker_init(worker):
    """Start the outbox sender as each worker boots, not at its first request.

    After a crash or a deploy, notifications left pending go out at once, even when no
    visitor comes by to wake the worker up. A worker forks first, so threads start here.
    """
    # Only our app has an outbox (the benchmark's hello-world runs under the same settings).
    if isinstance(worker.wsgi, Flask) and "outbox" in worker.wsgi.extensions:
        # Imported here: the hello-world baseline runs with this file too, and has no microsite to import.
        from microsite.notify import start_inline_sender  # noqa: PLC0415

        start_inline_sender(worker.wsgi)
