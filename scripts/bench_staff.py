"""`make bench-staff`: the staff side with years of leads, on SQLite and PostgreSQL.

Seeds 10k, 100k and 1M leads (about three years, both offices, every status, some suspected spam, a
notification each, daily page-view counters) with bulk inserts, then times the staff pages through the
real app (a test client of create_app with a logged-in staff member): the inbox (first page, filtered,
searched by phone, by name, with no match, a deep page), a lead page, the dashboard, the CSV export
(time and the peak RSS of a process of its own) and `flask leads purge`. Prints a table and writes
reports/bench-staff.json.

    BENCH_STAFF_SIZES=10000,100000 BENCH_STAFF_DATABASES=sqlite,postgresql \
        .venv/bin/python scripts/bench_staff.py

PostgreSQL is TEST_DATABASE_URL, in a schema of its own (dropped at the end). Targets at 100k leads:
every staff page under 200 ms, the export under 256 MB peak RSS.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from microsite import create_app  # noqa: E402
from microsite.clinictime import schedule_for  # noqa: E402
from microsite.database import writing  # noqa: E402
from microsite.extensions import db  # noqa: E402
from microsite.models import Lead, LeadStatus, Notification, PageViewCount  # noqa: E402
from microsite.staff import accounts, inbox  # noqa: E402

EMAIL, PASSWORD = "bench@example.com", "a long bench password 17"
SIZES = [int(n) for n in os.environ.get("BENCH_STAFF_SIZES", "10000,100000,1000000").split(",") if n]
DATABASES = os.environ.get("BENCH_STAFF_DATABASES", "sqlite,postgresql").split(",")
REPEAT = int(os.environ.get("BENCH_STAFF_REPEAT", "5"))
PAGE_TARGET_MS, EXPORT_TARGET_MB = 200, 256
YEARS_DAYS = 3 * 365
FIRST = [
    "Maria",
    "James",
    "Ana",
    "Robert",
    "Linda",
    "Carlos",
    "Susan",
    "David",
    "Karen",
    "Jose",
    "Emily",
    "Michael",
    "Patricia",
    "Luis",
    "Sarah",
    "Thomas",
    "Nancy",
    "Daniel",
    "Lisa",
    "Mark",
]
LAST = [
    "Smith",
    "Garcia",
    "Johnson",
    "Martinez",
    "Brown",
    "Lopez",
    "Davis",
    "Miller",
    "Wilson",
    "Moore",
    "Taylor",
    "Anderson",
    "Thomas",
    "Hernandez",
    "White",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
]
# How a lead ends up, by weight; suspected spam is about 5 %.
STATUSES = [
    (LeadStatus.CLOSED, 40),
    (LeadStatus.SCHEDULED, 15),
    (LeadStatus.CONTACTED, 20),
    (LeadStatus.NOT_FIT, 15),
    (LeadStatus.NEW, 5),
    (LeadStatus.SPAM, 5),
]
PATHS = ["/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota", "/es/", "/privacy"]
SOURCES = [
    ("", "", ""),
    ("google", "cpc", "spring"),
    ("facebook", "social", "brand"),
    ("newsletter", "email", ""),
]


def config(url: str, tmp: Path) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "bench-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "MAIL_SERVER": None,
        "MAIL_FILE_DIR": str(tmp / "mail"),
        "OUTBOX_INLINE": False,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "SITE_URL": "https://clinic.example.com",
        "TRUSTED_HOSTS": ["localhost"],  # the test client's host name, besides SITE_URL's
        # What is timed is the pages, not the login's second step.
        "STAFF_SECOND_FACTOR": "optional",
    }


def phone_digits_of(e164: str) -> str | None:
    """The digits column, when this checkout has one (so the bench runs before and after it)."""
    try:
        from microsite.leads.service import phone_digits  # noqa: PLC0415 -- absent from older checkouts
    except ImportError:
        return None
    return phone_digits(e164)


def lead_rows(n: int, now: datetime, rng: random.Random):
    """n leads, oldest first, spread over three years (a little more each year), as column dicts."""
    has_digits = "phone_digits" in Lead.__table__.c
    # Kept at first contact by the app (staff/inbox.py), so kept here too when this checkout has it.
    has_minutes = "first_contact_minutes" in Lead.__table__.c
    has_phq9 = "phq9_band" in Lead.__table__.c  # a self-check sent with one request in four
    schedules = {office: schedule_for(office) for office in ("bradenton", "sarasota")}
    statuses, weights = zip(*STATUSES, strict=True)
    span = YEARS_DAYS * 86400
    for i in range(n):
        # Growth: later leads are denser (sqrt spreads more of them into the recent part).
        age = span * (1 - ((i + rng.random()) / n) ** 0.5)
        created = now - timedelta(seconds=age)
        status = rng.choices(statuses, weights)[0]
        if age < 3 * 86400:
            status = LeadStatus.NEW if rng.random() < 0.7 else status
        first, last = rng.choice(FIRST), rng.choice(LAST)
        phone = f"+1941{rng.randrange(2000000, 9999999):07d}"
        source, medium, campaign = rng.choice(SOURCES)
        contacted = None
        if status not in (LeadStatus.NEW, LeadStatus.SPAM):
            contacted = created + timedelta(minutes=rng.randrange(5, 3000))
        row = {
            "created_at": created,
            "status": status,
            "spam_reason": "too_fast" if status == LeadStatus.SPAM else None,
            "fingerprint": f"{i:064x}",
            "full_name": f"{first} {last}",
            "phone": phone,
            "email": f"{first.lower()}.{last.lower()}{i}@example.com",
            "location": "bradenton" if rng.random() < 0.55 else "sarasota",
            "contact_method": rng.choice(["phone", "email", "text"]),
            "best_time": rng.choice(["morning", "afternoon", None]),
            "message": "I have tried two antidepressants and would like to know more." if i % 3 else None,
            "consent_text": "I agree that the clinic may contact me about my request.",
            "consent_version": "2026-11-29",
            "consent_at": created,
            "utm_source": source or None,
            "utm_medium": medium or None,
            "utm_campaign": campaign or None,
            "referrer": "https://www.google.com" if not source and i % 2 else None,
            "landing_path": rng.choice(PATHS[:4]),
            "first_contact_at": contacted,
            "language": "es" if i % 7 == 0 else "en",
        }
        if has_digits:
            row["phone_digits"] = phone_digits_of(phone)
        if has_minutes:
            row["first_contact_minutes"] = (
                schedules[row["location"]].minutes_between(created, contacted) if contacted else None
            )
        if has_phq9:
            from microsite.content.phq9 import parse  # noqa: PLC0415 -- absent from older checkouts

            # Every row has the keys (one bulk insert), one in four a self-check.
            answers = parse("".join(str(rng.randrange(4)) for _ in range(10))) if i % 4 == 0 else None
            row.update(phq9_items=answers and answers.code[:9], phq9_total=answers and answers.total,
                       phq9_band=answers and answers.band,
                       phq9_difficulty=answers and answers.difficulty)  # fmt: skip
        yield row


def seed(app, n: int) -> dict:
    """Bulk-insert n leads with a notification each, and the counters; returns what the timings need."""
    rng = random.Random(17)  # noqa: S311 - made-up data, the same every run
    now = datetime.now(UTC)
    lead_table, note_table = Lead.__table__, Notification.__table__
    batch: list[dict] = []
    started = time.perf_counter()
    with app.app_context(), db.engine.begin() as conn:
        next_id = 1

        def flush():
            nonlocal next_id
            conn.execute(insert(lead_table), batch)
            notes = []
            for offset, row in enumerate(batch):
                held = row["status"] == LeadStatus.SPAM
                notes.append(
                    {
                        "lead_id": next_id + offset,
                        "kind": "lead",
                        "created_at": row["created_at"],
                        "status": "held" if held else "sent",
                        "attempts": 0 if held else 1,
                        "next_attempt_at": row["created_at"],
                        "sent_at": None if held else row["created_at"] + timedelta(seconds=3),
                    }
                )
            conn.execute(insert(note_table), notes)
            next_id += len(batch)
            batch.clear()

        for row in lead_rows(n, now, rng):
            batch.append(row)
            if len(batch) == 5000:
                flush()
        if batch:
            flush()
        counters = []
        today = now.date()
        for d in range(YEARS_DAYS):
            for path in PATHS:
                for source, medium, campaign in SOURCES:
                    counters.append(
                        {
                            "day": today - timedelta(days=d),
                            "path": path,
                            "source": source,
                            "medium": medium,
                            "campaign": campaign,
                            "views": rng.randrange(1, 60),
                        }
                    )
        conn.execute(insert(PageViewCount.__table__), counters)
    seconds = time.perf_counter() - started
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        else:
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        ids = list(db.session.scalars(select(Lead.id).order_by(Lead.id)))
        middle = db.session.get(Lead, ids[len(ids) // 2])
        probe = {
            "id": middle.id,
            "phone": middle.phone,
            "name": middle.full_name,
            "created_at": middle.created_at,
        }
        db.session.remove()
    return {"seed_s": round(seconds, 1), "probe": probe}


def login(app):
    with app.app_context(), writing():
        accounts.create(EMAIL, PASSWORD, role="manager")  # every office, and the export
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/staff/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    return client


def timed(client, path: str) -> float:
    """The median of REPEAT timed GETs (after one untimed), in ms; each must be a 200."""
    times = []
    for i in range(REPEAT + 1):
        started = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (path, response.status_code)
        if i:
            times.append(elapsed)
    return round(statistics.median(times), 1)


def deep_page_path(app, n: int, probe: dict) -> str:
    """The inbox page holding the middle lead: a cursor link when the inbox has them, else ?page=N."""
    per_page = app.config["STAFF_PAGE_SIZE"]
    page = max(2, n // 2 // per_page)
    with app.app_context():
        cursor = getattr(inbox, "cursor_of", None)
        if cursor is None:
            return f"/staff/?page={page}"
        return f"/staff/?page={page}&before={cursor(probe['created_at'], probe['id'])}"


def export_child(url: str, tmp: str) -> None:
    """In a process of its own: log in, download the CSV, print time, bytes and peak RSS as JSON."""
    app = create_app(config(url, Path(tmp)))
    client = login_existing(app)
    before = vm_hwm_mb()
    started = time.perf_counter()
    response = client.get("/staff/leads.csv?status=any", buffered=False)
    size = 0
    for chunk in response.response:
        size += len(chunk)
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {"ms": round(elapsed * 1000), "bytes": size, "rss_before_mb": before, "peak_rss_mb": vm_hwm_mb()}
        )
    )


def login_existing(app):
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/staff/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    return client


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run_one(database: str, n: int, tmp: Path) -> dict:
    if database == "sqlite":
        url = f"sqlite:///{tmp / f'bench-{n}.sqlite3'}"
    else:
        base = os.environ["TEST_DATABASE_URL"]
        schema = "bench_staff"
        engine = create_engine(base)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    app = create_app(config(url, tmp))
    with app.app_context():
        db.drop_all()
        db.create_all()
    seeded = seed(app, n)
    probe = seeded["probe"]
    client = login(app)
    today = datetime.now(UTC).date()
    national = probe["phone"][2:]
    typed_phone = f"({national[:3]}) {national[3:6]}-{national[6:]}"
    results = {"seed_s": seeded["seed_s"]}
    pages = {
        "inbox first page": "/staff/",
        "inbox filtered": f"/staff/?office=sarasota&status=closed&since={today - timedelta(days=400)}"
        f"&until={today - timedelta(days=200)}",
        "search phone": f"/staff/?q={typed_phone}",
        "search name": f"/staff/?q={probe['name']}",
        "search no match": "/staff/?q=Zzyzx",
        "inbox deep page": deep_page_path(app, n, probe),
        "lead page": f"/staff/leads/{probe['id']}",
        "dashboard": "/staff/dashboard",
    }
    for name, path in pages.items():
        results[name] = timed(client, path)
        print(f"  {database} {n:>8} {name:<18} {results[name]:>9.1f} ms", flush=True)
    child = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, __file__, "--export-child", url, str(tmp)],
        capture_output=True,
        text=True,
        check=True,
    )
    exported = json.loads(child.stdout.strip().splitlines()[-1])
    results["export"] = exported["ms"]
    results["export peak RSS MB"] = exported["peak_rss_mb"]
    results["export RSS before MB"] = exported["rss_before_mb"]
    print(f"  {database} {n:>8} export {exported}", flush=True)
    runner = app.test_cli_runner()
    started = time.perf_counter()
    outcome = runner.invoke(args=["leads", "purge"])
    results["leads purge"] = round((time.perf_counter() - started) * 1000)
    assert outcome.exit_code == 0, outcome.output
    results["purge output"] = outcome.output.strip().splitlines()[0]
    print(f"  {database} {n:>8} leads purge {results['leads purge']} ms: {results['purge output']}")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if database != "sqlite":
        engine = create_engine(os.environ["TEST_DATABASE_URL"])
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS bench_staff CASCADE"))
        engine.dispose()
    return results


OPERATIONS = [
    "inbox first page",
    "inbox filtered",
    "search phone",
    "search name",
    "search no match",
    "inbox deep page",
    "lead page",
    "dashboard",
    "export",
    "export peak RSS MB",
    "leads purge",
]


def table(results: dict) -> str:
    columns = [(db_, n) for n in SIZES for db_ in DATABASES if f"{db_} {n}" in results]
    head = f"{'operation (ms)':<22}" + "".join(f"{f'{d[:6]} {n:,}':>18}" for d, n in columns)
    lines = [head, "-" * len(head)]
    for op in ["seed_s", *OPERATIONS]:
        cells = "".join(f"{results[f'{d} {n}'].get(op, ''):>18}" for d, n in columns)
        lines.append(f"{op:<22}{cells}")
    return "\n".join(lines)


def main() -> int:
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-staff-") as tmp:
        for n in SIZES:
            for database in DATABASES:
                print(f"{database}, {n:,} leads", flush=True)
                results[f"{database} {n}"] = run_one(database, n, Path(tmp))
                (Path(tmp) / f"bench-{n}.sqlite3").unlink(missing_ok=True)
    print()
    print(table(results))
    missed = []
    for key, figures in results.items():
        if not key.endswith(" 100000"):
            continue
        for op in OPERATIONS[:8]:
            if figures[op] > PAGE_TARGET_MS:
                missed.append(f"{key} {op}: {figures[op]} ms")
        if figures["export peak RSS MB"] > EXPORT_TARGET_MB:
            missed.append(f"{key} export: {figures['export peak RSS MB']} MB")
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "bench-staff.json").write_text(
        json.dumps(
            {"when": date.today().isoformat(), "results": results, "missed": missed}, indent=2, default=str
        )
    )
    print("\ntargets at 100k: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--export-child":
        export_child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
