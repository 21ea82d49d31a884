"""Settings, read from the environment in one place, with safe defaults for the embedded mode."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .ratelimit import default_storage_uri

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLINIC_FILE = Path(__file__).resolve().parent / "content" / "clinic.toml"
# Werkzeug's scrypt with its default cost (N=2^15, r=8, p=1: about a fifth of a second a check).
PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 (a method name, not a password)


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(value: str | None, default: int) -> int:
    return default if value is None or value.strip() == "" else int(value)


def _float(value: str | None, default: float) -> float:
    return default if value is None or value.strip() == "" else float(value)


def _names(value: str | None) -> list[str]:
    """A comma-separated list, each name stripped and in lower case."""
    return [name.strip().lower() for name in (value or "").split(",") if name.strip()]


def _secret_key(instance_path: Path) -> str:
    """Generate the key once into instance/ so sessions survive restarts of the embedded mode."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: when two workers start at once, the one that loses reads the winner's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def from_env(instance_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config from environment variables (docs/settings.md)."""
    env = dict(os.environ if env is None else env)
    get = env.get
    database_url = get("DATABASE_URL") or f"sqlite:///{instance_path / 'microsite.sqlite3'}"
    mail_server = get("MAIL_SERVER") or None

    config: dict[str, Any] = {
        "SECRET_KEY": get("SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLITE_BUSY_TIMEOUT_MS": _int(get("SQLITE_BUSY_TIMEOUT_MS"), 5000),
        # `flask db backup` writes into BACKUP_DIR (unless --to) and keeps the newest BACKUP_KEEP there.
        "BACKUP_KEEP": _int(get("BACKUP_KEEP"), 14),
        "BACKUP_DIR": get("BACKUP_DIR") or str(instance_path / "backups"),
        # Flask-Mail's own settings.
        "MAIL_SERVER": mail_server,
        "MAIL_PORT": _int(get("MAIL_PORT"), 25),
        "MAIL_USE_TLS": _bool(get("MAIL_USE_TLS"), False),
        "MAIL_USE_SSL": _bool(get("MAIL_USE_SSL"), False),
        "MAIL_USERNAME": get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": get("MAIL_DEFAULT_SENDER") or None,
        # Flask-Mail suppresses sending under TESTING; our tests want the real SMTP exchange.
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_TIMEOUT": _float(get("MAIL_TIMEOUT"), 20.0),
        # TLS to the mail server is verified against the system's CA store, or this file's private CA.
        "MAIL_TLS_CA_FILE": get("MAIL_TLS_CA_FILE") or None,
        # Accept addresses with non-ASCII letters before the @; the mail server must offer SMTPUTF8.
        "MAIL_SMTPUTF8": _bool(get("MAIL_SMTPUTF8"), False),
        "MAIL_FILE_DIR": get("MAIL_FILE_DIR") or str(instance_path / "mail"),
        "LEAD_NOTIFY_BRADENTON": get("LEAD_NOTIFY_BRADENTON") or None,
        "LEAD_NOTIFY_SARASOTA": get("LEAD_NOTIFY_SARASOTA") or None,
        # "minimal": the staff email carries no health information, only a link to /staff/.
        "LEAD_EMAIL_DETAIL": (get("LEAD_EMAIL_DETAIL") or "full").strip().lower(),
        # A staff login lasts a working day (the public site keeps no login).
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_float(get("STAFF_SESSION_HOURS"), 10.0)),
        # Failed staff logins slow down where they come from (staff/throttle.py), never lock an account:
        # free failures per typed email and address, then per address alone, then waits that double.
        "STAFF_THROTTLE_AFTER": _int(get("STAFF_THROTTLE_AFTER"), 5),
        "STAFF_THROTTLE_ADDRESS_AFTER": _int(get("STAFF_THROTTLE_ADDRESS_AFTER"), 20),
        "STAFF_THROTTLE_MAX_SECONDS": _float(get("STAFF_THROTTLE_MAX_SECONDS"), 900.0),
        # "required": a login with the password alone opens only the setting up of a second step
        # (an authenticator app or a passkey); "optional": each staff member chooses.
        "STAFF_SECOND_FACTOR": (get("STAFF_SECOND_FACTOR") or "required").strip().lower(),
        # A staff login unused this long opens nothing (automatic logoff); the absolute limit stays.
        "STAFF_IDLE_MINUTES": _float(get("STAFF_IDLE_MINUTES"), 30.0),
        # Not an environment setting: Werkzeug's scrypt at its own cost. Only a test may lower it.
        "PASSWORD_HASH_METHOD": PASSWORD_HASH_METHOD,
        # Both offices are on Florida's west coast; staff read times on their own clock.
        # Unset: the clinic file's `timezone`, else America/New_York (content.init_app).
        "STAFF_TIMEZONE": get("STAFF_TIMEZONE") or None,
        # A request still new after this many minutes of office hours is emailed about again to its
        # office (a reminder), after the second to the clinic file's `manager`; 0 turns one off.
        "REMIND_AFTER_MINUTES": _int(get("REMIND_AFTER_MINUTES"), 30),
        "ESCALATE_AFTER_MINUTES": _int(get("ESCALATE_AFTER_MINUTES"), 240),
        # Crisis alerts (crisis/alerts.py): an office's first goes at once; the next ones within this many
        # minutes go as one digest when they are up, and at most CRISIS_ALERTS_PER_DAY such emails a day
        # reach an office, so a script cannot drown the one alert that matters.
        "CRISIS_DIGEST_MINUTES": _int(get("CRISIS_DIGEST_MINUTES"), 15),
        "CRISIS_ALERTS_PER_DAY": _int(get("CRISIS_ALERTS_PER_DAY"), 12),
        "CLINIC_FILE": get("CLINIC_FILE") or str(DEFAULT_CLINIC_FILE),
        # Fingerprinted, compressed copies of static/ (microsite/assets.py); nginx may serve them.
        "STATIC_ROOT": get("STATIC_ROOT") or str(instance_path / "static"),
        "SITE_URL": (get("SITE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        # Host names answered besides SITE_URL's (finalize adds it): any other Host gets a 400.
        "TRUSTED_HOSTS": _names(get("TRUSTED_HOSTS")),
        # A form sent sooner after the page was shown (site.js measures it) is kept as suspected spam.
        "FORM_MIN_SECONDS": _float(get("FORM_MIN_SECONDS"), 3.0),
        "RATELIMIT_ENABLED": _bool(get("RATELIMIT_ENABLED"), True),
        # Unset: a SQLite file every worker on this machine shares (finalize, microsite/ratelimit.py).
        "RATELIMIT_STORAGE_URI": get("RATELIMIT_STORAGE_URI") or None,
        # Flask-Limiter's prefix for its keys: sites (or test runs) sharing one Redis count apart.
        "RATELIMIT_KEY_PREFIX": get("RATELIMIT_KEY_PREFIX") or "",
        # Per client address; generous enough for a family sharing one connection.
        "RATELIMIT_CONSULTATION": get("RATELIMIT_CONSULTATION") or "5 per minute; 20 per hour",
        # Per client address on POST /questions, the readers' questions under the article.
        "RATELIMIT_QUESTIONS": get("RATELIMIT_QUESTIONS") or "5 per minute; 20 per hour",
        # How often each process asks the database whether the published questions changed (its public
        # pages are rendered again when they did): a page view costs a clock read in between.
        "PAGE_VERSION_SECONDS": _float(get("PAGE_VERSION_SECONDS"), 1.0),
        # Per client address on POST /v, the page-view beacon: a reader opens a few pages a minute.
        "RATELIMIT_BEACON": get("RATELIMIT_BEACON") or "60 per minute",
        "RATELIMIT_HEADERS_ENABLED": True,
        # If Redis is down, accept the request rather than lose a lead to a counter.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # A few requests per phone or email per hour is a worried person; more is abuse.
        "LEADS_PER_CONTACT_PER_HOUR": _int(get("LEADS_PER_CONTACT_PER_HOUR"), 3),
        # How many proxies in front of the app set X-Forwarded-*; 0 believes none of them.
        "TRUSTED_PROXY_COUNT": _int(get("TRUSTED_PROXY_COUNT"), 0),
        "SPAM_RETENTION_DAYS": _int(get("SPAM_RETENTION_DAYS"), 30),
        # How long the servers' logs are kept: deploy/logrotate rotates nginx's and gunicorn's at this
        # period, and the privacy notice says so.
        "LOG_RETENTION_DAYS": _int(get("LOG_RETENTION_DAYS"), 14),
        # Daily page-view counters (microsite/counts/) are deleted by `flask leads purge` after this.
        "COUNTS_RETENTION_MONTHS": _int(get("COUNTS_RETENTION_MONTHS"), 25),
        # Rows of page-view counters a day at most; further combinations of tags count as "(other)".
        "COUNTS_MAX_KEYS_PER_DAY": _int(get("COUNTS_MAX_KEYS_PER_DAY"), 500),
        "OUTBOX_INLINE": _bool(get("OUTBOX_INLINE"), True),
        "OUTBOX_THREADS": _int(get("OUTBOX_THREADS"), 1),
        # A claim's lease, renewed every third of it while its sender is alive (notify/outbox.py): a
        # sender that died holds a notification at most this long.
        "OUTBOX_LEASE_SECONDS": _float(get("OUTBOX_LEASE_SECONDS"), 30.0),
        "OUTBOX_POLL_SECONDS": _float(get("OUTBOX_POLL_SECONDS"), 15.0),
        "OUTBOX_RETRY_BASE_SECONDS": _float(get("OUTBOX_RETRY_BASE_SECONDS"), 30.0),
        "OUTBOX_RETRY_MAX_SECONDS": _float(get("OUTBOX_RETRY_MAX_SECONDS"), 3600.0),
        "OUTBOX_GIVE_UP_HOURS": _float(get("OUTBOX_GIVE_UP_HOURS"), 48.0),
        # The clinic file's `manager` is emailed once when the oldest notification still to deliver has
        # waited this long (0: never), and once for each that fails for good (notify/health.py).
        "OUTBOX_ALERT_MINUTES": _float(get("OUTBOX_ALERT_MINUTES"), 15.0),
        # GET /metrics answers only `Authorization: Bearer <this>`; unset, there is no /metrics.
        "METRICS_TOKEN": get("METRICS_TOKEN") or None,
        # Endpoints told of each new real lead (notify/webhook.py), signed per Standard Webhooks.
        "WEBHOOK_URLS": [url.strip() for url in (get("WEBHOOK_URLS") or "").split(",") if url.strip()],
        "WEBHOOK_SECRET": get("WEBHOOK_SECRET") or None,
        # "minimal": no name, phone, email or message leaves the site; "full" needs a BAA with the receiver.
        "WEBHOOK_DETAIL": (get("WEBHOOK_DETAIL") or "minimal").strip().lower(),
        # Seconds to connect, and to wait for each read of the answer.
        "WEBHOOK_TIMEOUT": _float(get("WEBHOOK_TIMEOUT"), 10.0),
        # A form never carries more than a few kilobytes; anything larger is refused before parsing.
        "MAX_CONTENT_LENGTH": _int(get("MAX_CONTENT_LENGTH"), 64 * 1024),
        # A token (staff forms, and the public form shown again to a browser without Fetch Metadata)
        # stays valid for a long read before the visitor presses Send.
        "WTF_CSRF_TIME_LIMIT": _int(get("WTF_CSRF_TIME_LIMIT"), 6 * 3600),
        # A staff login's cookie is sent once, at login: refreshed on every response, it would ride on
        # the public pages too, with Vary: Cookie, where a shared cache must never see it.
        "SESSION_REFRESH_EACH_REQUEST": False,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(get("SESSION_COOKIE_SECURE"), False),
    }
    return config


# deploy/env.example's placeholder: a site signing with it signs with a key anyone can read.
EXAMPLE_SECRET_KEY = "change-me-to-64-random-hex-characters"  # noqa: S105 -- the key to refuse
MIN_SECRET_KEY_LENGTH = 32  # characters: 128 bits as hex; `secrets.token_hex(32)` gives 64


def unsafe_to_serve(config: dict[str, Any]) -> list[str]:
    """What no site may serve with: a SECRET_KEY that is the example's, or too short to resist guessing."""
    key = config.get("SECRET_KEY")
    if not key:
        return []  # generated into instance/ by finalize
    if key == EXAMPLE_SECRET_KEY or "change-me" in key.lower():
        return [
            "SECRET_KEY is still the example from deploy/env.example; set it to the output of "
            "`python3 -c 'import secrets; print(secrets.token_hex(32))'`"
        ]
    if len(key) < MIN_SECRET_KEY_LENGTH and not config.get("TESTING"):
        return [
            f"SECRET_KEY is {len(key)} characters; use at least {MIN_SECRET_KEY_LENGTH}, e.g. the output of "
            "`python3 -c 'import secrets; print(secrets.token_hex(32))'`"
        ]
    return []


MIN_WEBHOOK_SECRET_BYTES = 24  # the Standard Webhooks specification's lower bound


def webhook_secret_bytes(secret: str) -> bytes:
    """The key in a `whsec_<base64>` secret; ValueError when it is not one, or too short."""
    if not secret.startswith("whsec_"):
        raise ValueError("it must start with whsec_")
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("after whsec_ it must be base64") from None
    if len(key) < MIN_WEBHOOK_SECRET_BYTES:
        raise ValueError(f"its key is {len(key)} bytes; use at least {MIN_WEBHOOK_SECRET_BYTES}")
    return key


def _check_webhooks(config: dict[str, Any]) -> None:
    """Refuse endpoints without a usable secret, and lead data over plain HTTP to another machine."""
    if config["WEBHOOK_DETAIL"] not in {"minimal", "full"}:
        raise RuntimeError("WEBHOOK_DETAIL must be 'minimal' or 'full'")
    if config["WEBHOOK_TIMEOUT"] <= 0:
        raise RuntimeError("WEBHOOK_TIMEOUT must be a number of seconds above 0")
    urls = config.get("WEBHOOK_URLS") or []
    for url in urls:
        parts = urlsplit(url)
        local = parts.hostname in {"127.0.0.1", "::1", "localhost"}
        if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
            raise RuntimeError(
                "WEBHOOK_URLS: each must be an https:// URL (plain http only to this machine), "
                f"not {parts.scheme}://{parts.hostname or ''}…"
            )
    secret = config.get("WEBHOOK_SECRET")
    if urls and not secret:
        raise RuntimeError(
            'WEBHOOK_URLS is set but WEBHOOK_SECRET is not: set it to the output of `python3 -c "import '
            "base64, secrets; print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\"`"
        )
    if secret:
        try:
            webhook_secret_bytes(secret)
        except ValueError as exc:
            raise RuntimeError(f"WEBHOOK_SECRET is not a Standard Webhooks secret: {exc}") from None


LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def trusted_hosts(site_url: str, extra: list[str]) -> list[str]:
    """The Host names the app answers: SITE_URL's, the extra ones, and on a SITE_URL of this machine
    (the embedded mode) both of its loopback names, as a browser may be pointed at either.

    Anything else is refused with a 400 (Flask's TRUSTED_HOSTS), so no page or cache entry is ever
    made for a name that is not the clinic's.
    """
    site_host = (urlsplit(site_url).hostname or "").lower()
    local = LOOPBACK_NAMES if site_host in LOOPBACK_NAMES else ()
    return list(dict.fromkeys([site_host, *local, *extra]))


MIN_METRICS_TOKEN_LENGTH = 32


def finalize(config: dict[str, Any], instance_path: Path, serving: bool = True) -> None:
    """Fill derived defaults and refuse settings that are unsafe outside the embedded mode.

    `serving` false (the `flask` command line) lets a key that is unsafe only to serve with through:
    `flask check` names it, and the app answers no request with it (microsite.wsgi_stack).
    """
    unsafe = unsafe_to_serve(config)
    if unsafe and serving:
        raise RuntimeError(unsafe[0])
    token = config.get("METRICS_TOKEN")
    if token and (len(token) < MIN_METRICS_TOKEN_LENGTH or not token.isascii() or not token.isprintable()):
        raise RuntimeError(
            f"METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} printable ASCII characters, e.g. "
            "the output of `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    config["TRUSTED_HOSTS"] = trusted_hosts(config["SITE_URL"], config.get("TRUSTED_HOSTS") or [])
    if not config.get("RATELIMIT_STORAGE_URI"):
        database_url = config["SQLALCHEMY_DATABASE_URI"]
        config["RATELIMIT_STORAGE_URI"] = default_storage_uri(database_url, instance_path)
    if not config.get("SECRET_KEY"):
        if not config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            # Several instances on a shared database must sign with one key, so it must be given.
            raise RuntimeError("SECRET_KEY must be set when DATABASE_URL points at a shared database")
        config["SECRET_KEY"] = _secret_key(instance_path)
    if config["LEAD_EMAIL_DETAIL"] not in {"minimal", "full"}:
        raise RuntimeError("LEAD_EMAIL_DETAIL must be 'minimal' or 'full'")
    for name in ("CRISIS_DIGEST_MINUTES", "CRISIS_ALERTS_PER_DAY", "LOG_RETENTION_DAYS"):
        if config[name] < 1:
            raise RuntimeError(f"{name} must be a whole number above 0")
    _check_webhooks(config)
    if config["STAFF_SECOND_FACTOR"] not in {"required", "optional"}:
        raise RuntimeError("STAFF_SECOND_FACTOR must be 'required' or 'optional'")
    if not config["STAFF_IDLE_MINUTES"] > 0:
        raise RuntimeError("STAFF_IDLE_MINUTES must be a number of minutes above 0")
    if config["PASSWORD_HASH_METHOD"] != PASSWORD_HASH_METHOD and not config.get("TESTING"):
        raise RuntimeError(f"PASSWORD_HASH_METHOD is {PASSWORD_HASH_METHOD!r} outside tests")
    if config["SITE_URL"].startswith("https://"):
        config["SESSION_COOKIE_SECURE"] = True
        # A `__Host-` cookie is kept by the browser only if Secure, with Path=/ and no Domain: no
        # subdomain, nor a script on plain HTTP, can set or shadow the staff session cookie.
        config["SESSION_COOKIE_NAME"] = "__Host-session"
        config["SESSION_COOKIE_DOMAIN"] = None
        config["SESSION_COOKIE_PATH"] = "/"
